/*
 * billing.c - metering, prices, invoices, budgets; see billing.h.
 */
#include "billing/billing.h"
