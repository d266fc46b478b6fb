/*
 * log.h - leveled logging to stderr (or a file), one line per event:
 *   2026-11-26T15:04:51.123Z info  hostd: message
 * or, with log_set_format(LOG_JSON) (the daemons' --log-format json), one
 * JSON object per line for log shippers:
 *   {"ts":"2026-11-26T15:04:51.123Z","level":"info","msg":"hostd: message",
 *    "request_id":"req-..."}
 * request_id is the request the logging thread works for
 * (log_set_request_id(): the HTTP server sets it for each request, the
 * reconciler for each host it converges); agent_client sends it on to the
 * agents as X-Request-Id, so one id follows an operation from the
 * controller's log into the agents'.
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

enum log_format { LOG_TEXT = 0, LOG_JSON };

/* Sets the line format (before threads start). */
void log_set_format(enum log_format f);

/* Parses "text", "json"; returns -1 on anything else. */
int log_format_parse(const char *s, enum log_format *out);

/* The request the calling thread now works for (at most 79 bytes kept);
 * NULL or "" clears it. */
void log_set_request_id(const char *id);

/* The calling thread's request id, "" when none. */
const char *log_request_id(void);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
