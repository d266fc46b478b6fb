/*
 * billing_int.h - what the files of src/billing share: the meters, money
 * arithmetic, periods, the caller's scope, the rating engine.  Not part of
 * the module's interface (that is billing.h); nothing outside src/billing
 * includes this.
 */
#ifndef NUBO_BILLING_INT_H
#define NUBO_BILLING_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "billing/billing.h"
#include "lib/jsonx.h" /* jsonx_str(): a row's string or "" */

#define BILLING_HOUR_MS 3600000LL
/* The month of "per GB-month" prices: 730 hours (8,760 h / 12), whatever
 * the calendar month's length, as most clouds define it. */
#define BILLING_MONTH_MS (730LL * BILLING_HOUR_MS)
#define BILLING_GIB (1LL << 30)
#define BILLING_PRICE_MAX 1000000000000LL /* a million currency units per unit */
#define BILLING_PERIOD_MAX_MS (3660LL * 24 * BILLING_HOUR_MS)
#define BILLING_MONTHS_MAX 120

/* A meter: what is measured, its units, how its price applies.  The
 * amount of a quantity is
 *     size * duration_ms * unit_price / (unit_ms * size_per_unit)
 * rounded half up to a whole micro-unit. */
struct billing_meter {
    const char *name;          /* "instance", "disk", "image", "volume", "floating_ip" */
    const char *resource_type; /* what is billed: "instance", "image", ... */
    const char *unit;          /* what a unit price is for: "hour", "GiB-month" */
    const char *size_unit;     /* what a record's size counts: "instance", "GiB", "byte" */
    long long unit_ms;         /* the time of one unit */
    long long size_per_unit;   /* sizes in one unit of quantity (2^30 bytes per GiB) */
    bool keyed;                /* priced per key (meter instance: per flavor) */
};

/* The meters, in the order invoices show them; the last has name NULL. */
extern const struct billing_meter billing_meters[];

/* The meter called name, or NULL. */
const struct billing_meter *billing_meter_find(const char *name);

/* The resource types in invoice order ("instance", "volume", "image",
 * "floating_ip"); the last is NULL. */
extern const char *const billing_resource_types[];

/* The amount of size * ms at price (micro-units per unit) for meter m,
 * rounded half up.  NUBO_E_INVALID when it does not fit in 63 bits. */
int billing_amount(const struct billing_meter *m, long long size, long long ms, long long price,
                   long long *out, struct nubo_err *err);

/* The quantity size * ms in the meter's unit as a decimal with 6 places,
 * rounded half up ("1.500000"), into out. */
void billing_quantity(const struct billing_meter *m, long long size, long long ms, char out[48]);

/* micro-units as an exact decimal: 1234567 -> "1.234567". */
void billing_money_str(long long micros, char out[32]);

/* Parses a time of the API: RFC 3339 UTC ("2026-11-26T15:04:51Z", with
 * optional milliseconds ".123"), "YYYY-MM-DD" or "YYYY-MM" (their first
 * instant), into Unix ms.  NUBO_E_INVALID naming what. */
int billing_time_parse(const char *s, const char *what, int64_t *out, struct nubo_err *err);

/* The first instant of the calendar month (UTC) that holds ms, and of the
 * month after the one starting at month_ms. */
int64_t billing_month_start(int64_t ms);
int64_t billing_month_next(int64_t month_ms);

/* RFC 3339 with milliseconds (clock_format_ms()) as a new JSON string. */
json_t *billing_time_json(int64_t ms);

/* The project a call is about (see billing.h, Tenancy). */
struct billing_scope {
    char project_id[37];
    char project_name[64];
};
int billing_scope(struct store *st, const struct ctx *ctx, const char *project,
                  struct billing_scope *out, struct nubo_err *err);

/* [start, end) in Unix ms. */
struct billing_period {
    int64_t start, end;
};

/* The period of a query (see billing.h). */
int billing_period_parse(const struct billing_query *q, struct billing_period *p,
                         struct nubo_err *err);

/* The catalog's currency into out: the prices', or before the first price
 * the budgets' ("" when there is neither). */
int billing_currency(struct store *st, char out[4], struct nubo_err *err);

/* True for an ISO 4217-shaped code: three capital letters. */
bool billing_currency_valid(const char *s);

/* ---- the rating engine (rate.c) ----------------------------------------- */

/* The ledger rated for [start, end) as it stood at as_of (open records end
 * there; as_of <= end): rows {project_id, resource_type, resource_id,
 * resource_name, meter, price_key, price_key_name, size, price_id, price,
 * ms, first_ms, last_ms, unsure}, one per line item (resource, meter, key,
 * size, price segment), ordered by project, resource type, resource name,
 * resource id, meter, first_ms.  project_id NULL rates every project. */
json_t *billing_rate(struct store *st, const char *project_id, int64_t start, int64_t end,
                     int64_t as_of, struct nubo_err *err);

/* The total of rated rows (each line rounded on its own), into *total. */
int billing_rows_total(const json_t *rows, long long *total, struct nubo_err *err);

/* The total of one project for [start, end) as of as_of. */
int billing_project_total(struct store *st, const char *project_id, int64_t start, int64_t end,
                          int64_t as_of, long long *total, struct nubo_err *err);

/* A row's integer member, or 0. */
long long billing_int(const json_t *row, const char *key);

#endif
