/*
 * billing.h - metering, prices, invoices, budgets.
 */
#ifndef NUBO_BILLING_H
#define NUBO_BILLING_H

#include "store/store.h"

#endif
