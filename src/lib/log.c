/*
 * log.c - see log.h.
 */
#include "lib/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum log_level log_min = LOG_INFO;
static enum log_format log_fmt = LOG_TEXT;
static FILE *log_out;
static _Thread_local char log_rid[80];

void log_set_format(enum log_format f)
{
    log_fmt = f;
}

int log_format_parse(const char *s, enum log_format *out)
{
    if (strcmp(s, "text") == 0 || strcmp(s, "json") == 0) {
        *out = s[0] == 't' ? LOG_TEXT : LOG_JSON;
        return 0;
    }
    return -1;
}

void log_set_request_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n >= sizeof(log_rid))
        n = sizeof(log_rid) - 1;
    if (n > 0)
        memcpy(log_rid, id, n);
    log_rid[n] = '\0';
}

const char *log_request_id(void)
{
    return log_rid;
}

void log_init(enum log_level min, FILE *out)
{
    log_min = min;
    log_out = out;
}

int log_level_parse(const char *s, enum log_level *out)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    static const char *tags[] = {"debug", "info ", "warn ", "error"};
    if (lvl < log_min)
        return;
    FILE *out = log_out ? log_out : stderr;
    struct timespec ts;
    struct tm tm;
    char stamp[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (log_fmt == LOG_JSON) {
        static const char *names[] = {"debug", "info", "warn", "error"};
        char when[48];
        snprintf(when, sizeof(when), "%s.%03ldZ", stamp, ts.tv_nsec / 1000000);
        /* jansson escapes; invalid UTF-8 in a message is replaced */
        json_t *o = json_pack("{s:s, s:s}", "ts", when, "level", names[lvl]);
        if (log_rid[0])
            json_object_set_new(o, "request_id", json_string(log_rid));
        json_t *m = json_string(line);
        json_object_set_new(o, "msg", m ? m : json_string("(message not UTF-8)"));
        char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(o);
        if (text) {
            fprintf(out, "%s\n", text);
            free(text);
        }
    } else
        fprintf(out, "%s.%03ldZ %s %s\n", stamp, ts.tv_nsec / 1000000, tags[lvl], line);
    fflush(out);
}
