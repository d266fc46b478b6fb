/*
 * routes_monitor.c - metrics, /metrics exposition, alarms.
 */
#include "api/api.h"

const struct route monitor_routes[] = {
    {NULL, NULL, 0, NULL, NULL, 0},
};
