/*
 * runtime.c - what compute gets from the controller at start: the
 * scheduler's configuration for the creates of the API, and the hook it
 * calls after every committed change the reconciler must act on (the
 * controller wakes the reconciler with it, as src/network's hook does).
 * Both are set once by the controller before its threads start.
 */
#include "compute/compute.h"
#include "compute/compute_int.h"

static struct sched_cfg sched_configured = {
    .policy = SCHED_SPREAD, .cpu_ratio = 4.0, .ram_ratio = 1.0, .disk_ratio = 1.0};
static void (*hook_fn)(void *);
static void *hook_arg;

void compute_configure(const struct sched_cfg *sched)
{
    sched_configured = *sched;
}

const struct sched_cfg *compute_sched_cfg(void)
{
    return &sched_configured;
}

void compute_set_change_hook(void (*fn)(void *), void *arg)
{
    hook_fn = fn;
    hook_arg = arg;
}

void compute_changed(void)
{
    if (hook_fn)
        hook_fn(hook_arg);
}
