/*
 * routes_billing.c - /v1/prices, /v1/usage, /v1/invoices, /v1/budgets.
 */
#include "api/api.h"

const struct route billing_routes[] = {
    {NULL, NULL, 0, NULL, NULL, 0},
};
