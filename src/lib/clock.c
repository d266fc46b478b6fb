/*
 * clock.c - see clock.h.
 *
 * NUBO_FAKE_CLOCK_FILE: when set, the clock reads Unix milliseconds from
 * the first line of that file on every call (a test writes the file to move
 * time).  Read failures fall back to the real clock.
 */
#include "lib/clock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int64_t (*clock_source)(void);

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t file_ms(void)
{
    const char *path = getenv("NUBO_FAKE_CLOCK_FILE");
    FILE *f = path ? fopen(path, "re") : NULL;
    if (f == NULL)
        return real_ms();
    long long v = 0;
    int ok = fscanf(f, "%lld", &v) == 1;
    fclose(f);
    return ok ? (int64_t)v : real_ms();
}

int64_t clock_now_ms(void)
{
    if (clock_source)
        return clock_source();
    if (getenv("NUBO_FAKE_CLOCK_FILE"))
        return file_ms();
    return real_ms();
}

void clock_set_source(int64_t (*source)(void))
{
    clock_source = source;
}

void clock_format_ms(int64_t ms, char out[32])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[24];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%03dZ", base, (int)(ms % 1000));
}

void clock_now_str(char out[32])
{
    clock_format_ms(clock_now_ms(), out);
}

/* The last stamp handed out, in Unix milliseconds. */
static _Atomic long long stamp_last;

void clock_stamp(char out[32])
{
    long long now = (long long)clock_now_ms();
    long long prev = atomic_load(&stamp_last);
    long long next;
    do {
        next = (now > prev || now < prev - 1000) ? now : prev + 1;
    } while (!atomic_compare_exchange_weak(&stamp_last, &prev, next));
    clock_format_ms(next, out);
}
