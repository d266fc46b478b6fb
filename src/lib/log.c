/*
 * log.c - see log.h.
 */
#include "lib/log.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

static enum log_level log_min = LOG_INFO;
static FILE *log_out;

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
    fprintf(out, "%s.%03ldZ %s %s\n", stamp, ts.tv_nsec / 1000000, tags[lvl], line);
    fflush(out);
}
