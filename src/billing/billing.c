/*
 * billing.c - what the billing services share: the meters, money
 * arithmetic and its rounding, periods and times, the caller's scope, the
 * catalog's currency.  See billing_int.h.
 *
 * Money is integer micro-units; amounts are computed in 128-bit integers
 * (GCC and Clang's __int128) because size * milliseconds * price overflows
 * 64 bits for images (bytes) long before anything is wrong, and are
 * rounded half up exactly once, per line item.
 */
#include "billing/billing_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/util.h"
#include "lib/valid.h"

const struct billing_meter billing_meters[] = {
    {"instance", "instance", "hour", "instance", BILLING_HOUR_MS, 1, true},
    {"disk", "instance", "GiB-month", "GiB", BILLING_MONTH_MS, 1, false},
    {"volume", "volume", "GiB-month", "GiB", BILLING_MONTH_MS, 1, false},
    {"snapshot", "volume", "GiB-month", "GiB", BILLING_MONTH_MS, 1, false},
    {"image", "image", "GiB-month", "byte", BILLING_MONTH_MS, BILLING_GIB, false},
    {"floating_ip", "floating_ip", "hour", "address", BILLING_HOUR_MS, 1, false},
    {NULL, NULL, NULL, NULL, 0, 0, false},
};

const char *const billing_resource_types[] = {"instance", "volume", "image", "floating_ip", NULL};

const struct billing_meter *billing_meter_find(const char *name)
{
    for (const struct billing_meter *m = billing_meters; name && m->name; m++)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

/* ----------------------------------------------------------------- money */

typedef __int128 wide;

/* n / d rounded half up, for n >= 0 and d > 0. */
static wide div_half_up(wide n, wide d)
{
    return (n + d / 2) / d;
}

int billing_amount(const struct billing_meter *m, long long size, long long ms, long long price,
                   long long *out, struct nubo_err *err)
{
    if (size < 0 || ms < 0 || price < 0)
        return nubo_err_set(err, NUBO_E_INTERNAL, "billing: negative quantity or price");
    /* size < 2^63, ms < 2^44 (five centuries), price <= 10^12 < 2^40: the
     * product stays below 2^127 only while size is sane; check. */
    wide n = (wide)size * ms;
    if (n != 0 && price > 0 && n > ((wide)1 << 120) / price)
        return nubo_err_set(err, NUBO_E_INVALID, "an amount is too large to bill");
    wide a = div_half_up(n * price, (wide)m->unit_ms * m->size_per_unit);
    if (a > (wide)INT64_MAX)
        return nubo_err_set(err, NUBO_E_INVALID, "an amount is too large to bill");
    *out = (long long)a;
    return 0;
}

void billing_quantity(const struct billing_meter *m, long long size, long long ms, char out[48])
{
    wide q = div_half_up((wide)size * ms * 1000000, (wide)m->unit_ms * m->size_per_unit);
    long long whole = (long long)(q / 1000000), frac = (long long)(q % 1000000);
    snprintf(out, 48, "%lld.%06lld", whole, frac);
}

void billing_money_str(long long micros, char out[32])
{
    const char *sign = micros < 0 ? "-" : "";
    unsigned long long v =
        micros < 0 ? 0ULL - (unsigned long long)micros : (unsigned long long)micros;
    snprintf(out, 32, "%s%llu.%06llu", sign, v / 1000000, v % 1000000);
}

bool billing_currency_valid(const char *s)
{
    if (s == NULL || strlen(s) != 3)
        return false;
    for (int i = 0; i < 3; i++)
        if (s[i] < 'A' || s[i] > 'Z')
            return false;
    return true;
}

int billing_currency(struct store *st, char out[4], struct nubo_err *err)
{
    /* The prices' currency; before the first price, the budgets'. */
    json_t *rows = store_query(st, err,
                               "SELECT currency FROM (SELECT currency, 0 AS k, created_at AS t"
                               " FROM prices UNION ALL SELECT currency, 1, updated_at FROM"
                               " budgets) c ORDER BY k, t DESC LIMIT 1",
                               "");
    if (rows == NULL)
        return -1;
    str_copy(out, 4, jsonx_str(json_array_get(rows, 0), "currency"));
    json_decref(rows);
    return 0;
}

/* ----------------------------------------------------------------- times */

/* Reads exactly n digits at *p into *out and advances *p. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

int billing_time_parse(const char *s, const char *what, int64_t *out, struct nubo_err *err)
{
    const char *p = s;
    int year, month, day = 1, hour = 0, min = 0, sec = 0, ms = 0;
    if (s == NULL || strlen(s) > 40 || digits(&p, 4, &year) < 0 || *p++ != '-' ||
        digits(&p, 2, &month) < 0)
        goto bad;
    if (*p == '-') {
        p++;
        if (digits(&p, 2, &day) < 0)
            goto bad;
        if (*p == 'T') {
            p++;
            if (digits(&p, 2, &hour) < 0 || *p++ != ':' || digits(&p, 2, &min) < 0 || *p++ != ':' ||
                digits(&p, 2, &sec) < 0)
                goto bad;
            if (*p == '.') {
                p++;
                if (digits(&p, 3, &ms) < 0)
                    goto bad;
            }
            if (*p++ != 'Z')
                goto bad;
        }
    }
    if (*p != '\0' || year < 1970 || month < 1 || month > 12 || day < 1 ||
        day > days_in_month(year, month) || hour > 23 || min > 59 || sec > 59)
        goto bad;
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = month - 1,
                    .tm_mday = day,
                    .tm_hour = hour,
                    .tm_min = min,
                    .tm_sec = sec};
    *out = (int64_t)timegm(&tm) * 1000 + ms;
    return 0;
bad:
    return nubo_err_set(err, NUBO_E_INVALID,
                        "%s must be a UTC time like 2026-11-26T15:04:51Z (milliseconds "
                        "optional), a day 2026-11-26 or a month 2026-11",
                        what);
}

int64_t billing_month_start(int64_t ms)
{
    time_t secs = (time_t)(ms >= 0 ? ms / 1000 : 0);
    struct tm tm;
    gmtime_r(&secs, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    return (int64_t)timegm(&tm) * 1000;
}

int64_t billing_month_next(int64_t month_ms)
{
    time_t secs = (time_t)(month_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    tm.tm_mon += 1; /* timegm normalizes December + 1 */
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    return (int64_t)timegm(&tm) * 1000;
}

json_t *billing_time_json(int64_t ms)
{
    char s[32];
    clock_format_ms(ms, s);
    return json_string(s);
}

int billing_period_parse(const struct billing_query *q, struct billing_period *p,
                         struct nubo_err *err)
{
    int64_t start = 0, end = 0;
    if (q->start && billing_time_parse(q->start, "start", &start, err) < 0)
        return -1;
    if (q->end && billing_time_parse(q->end, "end", &end, err) < 0)
        return -1;
    if (q->start == NULL && q->end == NULL) {
        start = billing_month_start(clock_now_ms());
        end = billing_month_next(start);
    } else if (q->end == NULL) {
        end = billing_month_next(billing_month_start(start));
    } else if (q->start == NULL) {
        start = billing_month_start(end - 1);
    }
    if (end <= start)
        return nubo_err_set(err, NUBO_E_INVALID, "end must be after start");
    if (end - start > BILLING_PERIOD_MAX_MS)
        return nubo_err_set(err, NUBO_E_INVALID, "a period is at most 3660 days long");
    p->start = start;
    p->end = end;
    return 0;
}

/* ----------------------------------------------------------------- scope */

int billing_scope(struct store *st, const struct ctx *ctx, const char *project,
                  struct billing_scope *out, struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    const char *ref = project ? project : ctx->project_id;
    if (valid_name(ref, "project", NULL) < 0) /* then it names no project */
        return nubo_err_set(err, NUBO_E_NOTFOUND, "no such project");
    json_t *row = store_query_one(st, &qerr,
                                  "SELECT id, name FROM projects WHERE (id = ? OR name = ?)"
                                  " AND (id = ? OR ? = 1)",
                                  "sssi", ref, ref, ctx->project_id, (long long)ctx->is_admin);
    if (row == NULL) {
        if (qerr.code == NUBO_E_NOTFOUND)
            return nubo_err_set(err, NUBO_E_NOTFOUND, "no project '%s'", ref);
        *err = qerr;
        return -1;
    }
    str_copy(out->project_id, sizeof(out->project_id), jsonx_str(row, "id"));
    str_copy(out->project_name, sizeof(out->project_name), jsonx_str(row, "name"));
    json_decref(row);
    return 0;
}

long long billing_int(const json_t *row, const char *key)
{
    return json_integer_value(json_object_get(row, key));
}
