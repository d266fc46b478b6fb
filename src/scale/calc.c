/*
 * calc.c - the pure decisions of autoscaling: the cron parser and its next
 * firing time, target-tracking capacity, step-band selection, cooldowns,
 * back-off.  No store, no clock: tests/unit/test_scale.c drives them.
 */
#include "scale/scale.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- cron */

static const struct {
    const char *name;
    int lo, hi;
} cron_fields[5] = {
    {"minute", 0, 59}, {"hour", 0, 23},       {"day of month", 1, 31},
    {"month", 1, 12},  {"day of week", 0, 7},
};

/* A number in [lo, hi] from s[0..n); -1 when not one. */
static int cron_num(const char *s, size_t n, int lo, int hi)
{
    if (n == 0 || n > 2)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= lo && v <= hi ? v : -1;
}

/* Parses one field (s[0..n)) into bits; -1 when malformed. */
static int cron_field(const char *s, size_t n, int lo, int hi, uint64_t *bits, bool *any)
{
    *bits = 0;
    *any = n == 1 && s[0] == '*';
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && s[j] != ',')
            j++;
        const char *p = s + i;
        size_t len = j - i;
        if (len == 0)
            return -1;
        const char *slash = memchr(p, '/', len);
        size_t rlen = slash ? (size_t)(slash - p) : len;
        int a, b, step = 1;
        if (slash) {
            step = cron_num(slash + 1, len - rlen - 1, 1, hi);
            if (step < 0)
                return -1;
        }
        if (rlen == 1 && p[0] == '*') {
            a = lo;
            b = hi;
        } else {
            const char *dash = memchr(p, '-', rlen);
            if (dash) {
                a = cron_num(p, (size_t)(dash - p), lo, hi);
                b = cron_num(dash + 1, rlen - (size_t)(dash - p) - 1, lo, hi);
                if (a < 0 || b < 0 || a > b)
                    return -1;
            } else {
                a = cron_num(p, rlen, lo, hi);
                if (a < 0)
                    return -1;
                b = slash ? hi : a; /* "5/15": from 5 every 15 */
            }
        }
        for (int v = a; v <= b; v += step)
            *bits |= 1ULL << v;
        i = j + 1;
    }
    return 0;
}

int scale_cron_parse(const char *expr, struct scale_cron *out, struct nubo_err *err)
{
    memset(out, 0, sizeof(*out));
    if (expr == NULL || strlen(expr) > 200)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "'cron' must be 5 fields \"MIN HOUR DOM MONTH DOW\" (UTC)");
    const char *p = expr;
    uint64_t bits[5];
    bool any[5];
    int k = 0;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0')
            break;
        const char *e = p;
        while (*e && *e != ' ' && *e != '\t')
            e++;
        if (k == 5)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "'cron' has more than 5 fields; write \"MIN HOUR DOM MONTH DOW\"");
        if (cron_field(p, (size_t)(e - p), cron_fields[k].lo, cron_fields[k].hi, &bits[k],
                       &any[k]) < 0)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "'cron': the %s field is not valid: use *, a number from %d to "
                                "%d, a range a-b, a step */n or a-b/n, or a comma list",
                                cron_fields[k].name, cron_fields[k].lo, cron_fields[k].hi);
        k++;
        p = e;
    }
    if (k != 5)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "'cron' must have 5 fields \"MIN HOUR DOM MONTH DOW\" (UTC), not %d",
                            k);
    out->minute = bits[0];
    out->hour = (uint32_t)bits[1];
    out->dom = (uint32_t)bits[2];
    out->month = (uint16_t)bits[3];
    uint64_t dow = bits[4];
    if (dow & (1ULL << 7))
        dow = (dow | 1) & ~(1ULL << 7);
    out->dow = (uint8_t)dow;
    out->dom_any = any[2];
    out->dow_any = any[4];
    return 0;
}

static bool cron_day_ok(const struct scale_cron *c, const struct tm *tm)
{
    bool dom = c->dom & (1U << tm->tm_mday), dow = c->dow & (1U << tm->tm_wday);
    if (c->dom_any && c->dow_any)
        return true;
    if (c->dom_any)
        return dow;
    if (c->dow_any)
        return dom;
    return dom || dow;
}

int64_t scale_cron_next(const struct scale_cron *c, int64_t after_ms)
{
    /* Start at the next whole minute; skip months, days and hours that
     * cannot match, so the loop takes at most a few thousand steps. */
    time_t t = (time_t)(after_ms / 60000 + 1) * 60;
    time_t limit = t + (time_t)5 * 366 * 86400;
    struct tm tm;
    while (t < limit) {
        gmtime_r(&t, &tm);
        if (!(c->month & (1U << (tm.tm_mon + 1)))) {
            tm.tm_mon++;
            tm.tm_mday = 1;
            tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
            t = timegm(&tm);
            continue;
        }
        if (!cron_day_ok(c, &tm)) {
            tm.tm_mday++;
            tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
            t = timegm(&tm);
            continue;
        }
        if (!(c->hour & (1U << tm.tm_hour))) {
            tm.tm_hour++;
            tm.tm_min = tm.tm_sec = 0;
            t = timegm(&tm);
            continue;
        }
        if (!(c->minute & (1ULL << tm.tm_min))) {
            t += 60;
            continue;
        }
        return (int64_t)t * 1000;
    }
    return -1;
}

/* ------------------------------------------------------------ policies */

static long long clamp(long long v, long long min, long long max)
{
    return v < min ? min : v > max ? max : v;
}

long long scale_target_capacity(long long current, long long metric_n, long long warming,
                                double avg, double target, long long min, long long max)
{
    if (metric_n <= 0 || target <= 0 || !isfinite(avg) || avg < 0)
        return clamp(current, min, max);
    /* The load the measured instances carry, spread so that each is at
     * target: ceil, so that the result is never above target.  A tiny
     * epsilon keeps exact fits (avg == target) from rounding up. */
    double need = (double)metric_n * avg / target - 1e-9;
    long long want = (long long)ceil(need < 0 ? 0 : need);
    if (want > current)
        return clamp(want, min, max);
    if (want < current && warming == 0)
        return clamp(current - 1, min, max);
    return clamp(current, min, max);
}

int scale_step_select(const struct scale_step *steps, size_t n, double delta)
{
    for (size_t i = 0; i < n; i++) {
        const struct scale_step *s = &steps[i];
        if ((!s->has_lower || delta >= s->lower) && (!s->has_upper || delta < s->upper))
            return (int)i;
    }
    return -1;
}

long long scale_step_apply(long long current, long long adj, bool percent, long long min,
                           long long max)
{
    long long change = adj;
    if (percent) {
        double d = (double)current * (double)adj / 100.0;
        change = (long long)(d < 0 ? floor(d) : ceil(d));
        if (adj > 0 && change < 1)
            change = 1;
        if (adj < 0 && change > -1)
            change = -1;
    }
    return clamp(current + change, min, max);
}

bool scale_cooldown_ok(int64_t now_ms, int64_t last_ms, int64_t cooldown_ms)
{
    return last_ms <= 0 || now_ms - last_ms >= cooldown_ms;
}

int64_t scale_backoff_ms(int failures)
{
    if (failures <= 0)
        return 0;
    int64_t ms = 10000;
    for (int i = 1; i < failures && ms < 300000; i++)
        ms *= 2;
    return ms > 300000 ? 300000 : ms;
}
