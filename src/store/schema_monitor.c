/*
 * schema_monitor.c - migration 3: metrics and alarms (src/monitor).
 */
const char store_schema_v3_monitor[] = "SELECT 1;";
