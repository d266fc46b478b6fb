/*
 * monitor.c - metrics, exposition, alarms; see monitor.h.
 */
#include "monitor/monitor.h"
