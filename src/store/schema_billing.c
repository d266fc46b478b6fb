/*
 * schema_billing.c - migration 2: metering, prices, budgets (src/billing).
 */
const char store_schema_v2_billing[] = "SELECT 1;";
