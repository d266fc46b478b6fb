/*
 * billing_opts.c - money and period options of the billing commands; see
 * billing_opts.h.
 */
#include "cli/billing_opts.h"

#include <stdio.h>
#include <string.h>

#include "cli/cloud.h"
#include "lib/valid.h"

#define MICROS 1000000LL

int billing_opt_money(const struct cli *cli, const char *s, long long max, const char *what,
                      long long *out)
{
    long long whole = 0, frac = 0;
    int digits = 0, decimals = -1;
    const char *p = s;
    for (; *p; p++) {
        if (*p == '.' && decimals < 0) {
            decimals = 0;
            continue;
        }
        if (*p < '0' || *p > '9' || digits >= 15)
            goto bad;
        if (decimals < 0) {
            whole = whole * 10 + (*p - '0');
            digits++;
        } else if (++decimals > 6) {
            return cli_usage_error(cli, "%s: at most 6 decimals (a micro-unit)", what);
        } else {
            frac = frac * 10 + (*p - '0');
        }
    }
    if (digits == 0 && decimals <= 0)
        goto bad;
    for (int k = decimals < 0 ? 0 : decimals; k < 6; k++)
        frac *= 10;
    if (whole > max / MICROS || whole * MICROS + frac > max)
        return cli_usage_error(cli, "%s: at most %lld.%06lld", what, max / MICROS, max % MICROS);
    *out = whole * MICROS + frac;
    return 0;
bad:
    return cli_usage_error(cli, "%s wants an amount like 12.50 (a dot, up to 6 decimals)", what);
}

void billing_money_text(long long micros, char out[32])
{
    snprintf(out, 32, "%s%lld.%06lld", micros < 0 ? "-" : "",
             (micros < 0 ? -micros : micros) / MICROS, (micros < 0 ? -micros : micros) % MICROS);
}

/* A time as the API takes it: digits and "-:.TZ" only (nubod checks the
 * rest). */
static int time_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 7 || n > 30)
        return 0;
    return strspn(s, "0123456789-:.TZ") == n;
}

int billing_opt_period(const struct cli *cli, int c, const char *value,
                       struct billing_period_opts *o, bool *taken)
{
    struct nubo_err err;
    *taken = true;
    switch (c) {
    case BILLING_OPT_MONTH:
        if (strlen(value) != 7 || strspn(value, "0123456789") != 4 || value[4] != '-' ||
            strspn(value + 5, "0123456789") != 2 || strncmp(value + 5, "01", 2) < 0 ||
            strncmp(value + 5, "12", 2) > 0)
            return cli_usage_error(cli, "--month wants a month like 2026-11");
        o->month = value;
        return 0;
    case BILLING_OPT_START:
    case BILLING_OPT_END:
        if (!time_ok(value))
            return cli_usage_error(cli,
                                   "--%s wants a UTC time like 2026-11-26T15:04:51Z, a day "
                                   "2026-11-26 or a month 2026-11",
                                   c == BILLING_OPT_START ? "start" : "end");
        if (c == BILLING_OPT_START)
            o->start = value;
        else
            o->end = value;
        return 0;
    case BILLING_OPT_PROJECT:
        if (valid_name(value, "--project", &err) < 0)
            return cli_usage_error(cli, "%s", err.msg);
        o->project = value;
        return 0;
    default:
        *taken = false;
        return 0;
    }
}

int billing_period_query(const struct cli *cli, const struct billing_period_opts *o,
                         bool with_project, char *path, size_t n)
{
    struct nubo_err err;
    if (o->month && (o->start || o->end))
        return cli_usage_error(cli, "--month goes without --start and --end");
    const char *start = o->month ? o->month : o->start;
    if ((start && cloud_query_add(path, n, "start", start, &err) < 0) ||
        (o->end && cloud_query_add(path, n, "end", o->end, &err) < 0) ||
        (with_project && o->project && cloud_query_add(path, n, "project", o->project, &err) < 0))
        return cli_usage_error(cli, "%s", err.msg);
    return 0;
}
