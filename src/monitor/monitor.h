/*
 * monitor.h - metrics (time series), Prometheus exposition, alarms.
 */
#ifndef NUBO_MONITOR_H
#define NUBO_MONITOR_H

#include "store/store.h"

#endif
