/*
 * log.h - leveled logging to stderr (or a file), one line per event:
 *   2026-11-26T15:04:51.123Z info  hostd: message
 * Debug lines are dropped unless the level is LOG_DEBUG.
 */
#ifndef NUBO_LOG_H
#define NUBO_LOG_H

#include <stdio.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Sets the minimum level and the destination (NULL = stderr).  The FILE is
 * not owned by the logger. */
void log_init(enum log_level min, FILE *out);

/* Parses "debug", "info", "warn", "error"; returns -1 on anything else. */
int log_level_parse(const char *s, enum log_level *out);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
