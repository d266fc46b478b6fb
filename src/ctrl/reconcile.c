/*
 * reconcile.c - one reconcile pass: converge hosts to the desired state.
 */
#include "ctrl/ctrl.h"

void ctrl_reconcile(struct ctrl *c)
{
    (void)c;
}
