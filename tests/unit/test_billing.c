/*
 * test_billing.c - unit tests of src/billing's arithmetic: amounts rounded
 * half up once, exactly, in 128 bits; quantities and money as decimals;
 * times and periods of the API; and, on a scratch store, the ledger's
 * record boundaries when the wall clock jumps and when a project goes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing_int.h"
#include "check.h"
#include "lib/clock.h"
#include "lib/fsutil.h"

#define H 3600000LL
#define MARCH_2031 1930089600000LL /* 2031-03-01T00:00:00Z */
#define APRIL_2031 1932768000000LL

static const struct billing_meter *meter(const char *name)
{
    const struct billing_meter *m = billing_meter_find(name);
    CHECK(m != NULL);
    return m;
}

static long long amount(const char *m, long long size, long long ms, long long price)
{
    long long out = -1;
    struct nubo_err err;
    CHECK_INT_EQ(billing_amount(meter(m), size, ms, price, &out, &err), 0);
    return out;
}

static void test_meters(void)
{
    CHECK(billing_meter_find("cpu") == NULL);
    CHECK(billing_meter_find(NULL) == NULL);
    CHECK_STR_EQ(meter("instance")->unit, "hour");
    CHECK(meter("instance")->keyed);
    CHECK_STR_EQ(meter("disk")->resource_type, "instance");
    CHECK_INT_EQ(meter("disk")->unit_ms, 730 * H);
    CHECK_INT_EQ(meter("image")->size_per_unit, 1LL << 30);
    CHECK_STR_EQ(meter("floating_ip")->unit, "hour");
    CHECK_STR_EQ(meter("volume")->unit, "GiB-month");
}

static void test_amounts_round_half_up_once(void)
{
    CHECK_INT_EQ(amount("instance", 1, 10 * H, 12000), 120000);
    /* 1 ms at 1 micro-unit per hour is 1/3,600,000: rounds to 0 ... */
    CHECK_INT_EQ(amount("instance", 1, 1, 1), 0);
    /* ... exactly half rounds up, just below half down */
    CHECK_INT_EQ(amount("instance", 1, H / 2, 1), 1);
    CHECK_INT_EQ(amount("instance", 1, H / 2 - 1, 1), 0);
    /* 2 GiB x 336 h at 0.05 per GiB-month: 46027.39... */
    CHECK_INT_EQ(amount("disk", 2, 336 * H, 50000), 46027);
    /* 5 GiB x 408 h at 0.06: 167671.23... */
    CHECK_INT_EQ(amount("disk", 5, 408 * H, 60000), 167671);
    /* 64 MiB for 10 h at 0.73 per GiB-month is 625 micro-units exactly */
    CHECK_INT_EQ(amount("image", 64LL << 20, 10 * H, 730000), 625);
    /* large: 10 TiB of images for a year at a million per GiB-month
     * overflows 64 bits in the product, not in the result */
    long long year = 8760 * H;
    CHECK_INT_EQ(amount("image", 10LL << 40, year, 1000000000000LL),
                 10240LL * 12 * 1000000000000LL);
    CHECK_INT_EQ(amount("instance", 0, year, 5), 0);
    CHECK_INT_EQ(amount("instance", 7, 0, 5), 0);
}

static void test_amount_limits(void)
{
    long long out = 0;
    struct nubo_err err;
    CHECK_INT_EQ(billing_amount(meter("image"), INT64_MAX, INT64_MAX, 1000000000000LL, &out, &err),
                 -1);
    CHECK_INT_EQ(err.code, NUBO_E_INVALID);
    CHECK_INT_EQ(billing_amount(meter("disk"), -1, 1, 1, &out, &err), -1);
}

static void test_quantities_and_money(void)
{
    char q[48], m[32];
    billing_quantity(meter("disk"), 5, 336 * H, q);
    CHECK_STR_EQ(q, "2.301370");
    billing_quantity(meter("instance"), 1, 254 * H, q);
    CHECK_STR_EQ(q, "254.000000");
    billing_quantity(meter("instance"), 1, 1, q);
    CHECK_STR_EQ(q, "0.000000");
    billing_quantity(meter("image"), 1LL << 29, 730 * H, q);
    CHECK_STR_EQ(q, "0.500000");
    billing_money_str(0, m);
    CHECK_STR_EQ(m, "0.000000");
    billing_money_str(1234567, m);
    CHECK_STR_EQ(m, "1.234567");
    billing_money_str(-5, m);
    CHECK_STR_EQ(m, "-0.000005");
    billing_money_str(INT64_MAX, m);
    CHECK_STR_EQ(m, "9223372036854.775807");
    CHECK(billing_currency_valid("EUR"));
    CHECK(!billing_currency_valid("eur"));
    CHECK(!billing_currency_valid("EURO"));
    CHECK(!billing_currency_valid(NULL));
}

static int64_t parse(const char *s)
{
    int64_t v = -1;
    struct nubo_err err;
    if (billing_time_parse(s, "start", &v, &err) < 0) {
        CHECK_STR_HAS(err.msg, "start");
        return -1;
    }
    return v;
}

static void test_time_parse(void)
{
    CHECK_INT_EQ(parse("2031-03"), MARCH_2031);
    CHECK_INT_EQ(parse("2031-03-01"), MARCH_2031);
    CHECK_INT_EQ(parse("2031-03-01T00:00:00Z"), MARCH_2031);
    CHECK_INT_EQ(parse("2031-03-01T01:00:00.250Z"), MARCH_2031 + H + 250);
    CHECK_INT_EQ(parse("2032-02-29"), 1961625600000LL); /* a leap day */
    static const char *const bad[] = {
        "",
        "2031",
        "2031-3",
        "2031-13",
        "2031-00",
        "2031-02-29",
        "2031-04-31",
        "1969-12-31",
        "2031-03-01T24:00:00Z",
        "2031-03-01T00:00:00",
        "2031-03-01T00:00Z",
        "2031-03-01T00:00:00.5Z",
        "2031-03-01 00:00:00Z",
        "2031-03-01T00:00:00+01:00",
        " 2031-03",
        "2031-03x",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (!CHECK_INT_EQ(parse(bad[i]), -1))
            fprintf(stderr, "    accepted: \"%s\"\n", bad[i]);
}

static void test_months(void)
{
    CHECK_INT_EQ(billing_month_start(MARCH_2031 + 15 * 24 * H + 7), MARCH_2031);
    CHECK_INT_EQ(billing_month_start(APRIL_2031 - 1), MARCH_2031);
    CHECK_INT_EQ(billing_month_start(APRIL_2031), APRIL_2031);
    CHECK_INT_EQ(billing_month_next(MARCH_2031), APRIL_2031);
    /* December -> January of the next year */
    CHECK_INT_EQ(billing_month_next(parse("2030-12")), parse("2031-01"));
}

static int64_t fake_now(void)
{
    return MARCH_2031 + 10 * 24 * H;
}

static void test_periods(void)
{
    struct billing_period p;
    struct nubo_err err;
    clock_set_source(fake_now);
    struct billing_query q = {0};
    CHECK_INT_EQ(billing_period_parse(&q, &p, &err), 0);
    CHECK_INT_EQ(p.start, MARCH_2031);
    CHECK_INT_EQ(p.end, APRIL_2031);
    q.start = "2031-03-15";
    CHECK_INT_EQ(billing_period_parse(&q, &p, &err), 0);
    CHECK_INT_EQ(p.start, MARCH_2031 + 14 * 24 * H);
    CHECK_INT_EQ(p.end, APRIL_2031);
    q.start = NULL;
    q.end = "2031-04";
    CHECK_INT_EQ(billing_period_parse(&q, &p, &err), 0);
    CHECK_INT_EQ(p.start, MARCH_2031);
    q.start = "2031-04";
    CHECK_INT_EQ(billing_period_parse(&q, &p, &err), -1);
    CHECK_STR_HAS(err.msg, "after");
    q.start = "2000-01";
    q.end = "2031-01";
    CHECK_INT_EQ(billing_period_parse(&q, &p, &err), -1);
    clock_set_source(NULL);
}

/* ------------------------------------------------- the ledger, clamped */

static int64_t jump_now;

static int64_t jump_clock(void)
{
    return jump_now;
}

/* Opens (size > 0) or closes (size 0) the instance record of resource r at
 * wall-clock time t. */
static int meter_at(struct store *st, const char *r, int64_t t, long long size)
{
    struct nubo_err err;
    jump_now = t;
    if (size == 0)
        return billing_meter_close(st, "instance", r, &err);
    struct billing_usage u = {.meter = "instance",
                              .project_id = "p1",
                              .resource_id = r,
                              .resource_name = r,
                              .price_key = "f1",
                              .price_key_name = "f1",
                              .size = size};
    return billing_meter_open(st, &u, &err);
}

/* The records of resource r as "start-end,start-end" (end "open"). */
static void records_of(struct store *st, const char *r, char *out, size_t n)
{
    struct nubo_err err;
    json_t *rows = store_query(st, &err,
                               "SELECT start_ms, end_ms FROM usage_records WHERE resource_id = ?"
                               " ORDER BY seq",
                               "s", r);
    size_t used = 0;
    out[0] = '\0';
    size_t i;
    json_t *row;
    json_array_foreach (rows, i, row) {
        json_t *end = json_object_get(row, "end_ms");
        int k = json_is_integer(end)
                    ? snprintf(out + used, n - used, "%s%lld-%lld", i ? "," : "",
                               billing_int(row, "start_ms"), (long long)json_integer_value(end))
                    : snprintf(out + used, n - used, "%s%lld-open", i ? "," : "",
                               billing_int(row, "start_ms"));
        if (k < 0 || (size_t)k >= n - used)
            break;
        used += (size_t)k;
    }
    json_decref(rows);
}

static void test_ledger_clamped_on_clock_jumps(void)
{
    char dir[] = "/tmp/nubo-test-billing-XXXXXX", path[64], got[256];
    struct nubo_err err;
    if (!CHECK(mkdtemp(dir) != NULL))
        return;
    snprintf(path, sizeof(path), "%s/nubo.db", dir);
    struct store *st = store_open(path, &err);
    if (!CHECK(st != NULL))
        return;
    clock_set_source(jump_clock);
    /* Ran 10-20 s; the clock goes back 5 s and it starts again: the new
     * record starts where the last ended, not in the time already billed. */
    CHECK_INT_EQ(meter_at(st, "a", 10000, 1), 0);
    CHECK_INT_EQ(meter_at(st, "a", 20000, 0), 0);
    CHECK_INT_EQ(meter_at(st, "a", 15000, 1), 0);
    CHECK_INT_EQ(meter_at(st, "a", 25000, 0), 0);
    /* Still behind the last end when it stops: empty, not negative. */
    CHECK_INT_EQ(meter_at(st, "a", 12000, 1), 0);
    CHECK_INT_EQ(meter_at(st, "a", 13000, 0), 0);
    records_of(st, "a", got, sizeof(got));
    CHECK_STR_EQ(got, "10000-20000,20000-25000,25000-25000");
    /* Forward a day, then back (a correction): the record of the jump is
     * billed as the clock said, the next one starts after it. */
    CHECK_INT_EQ(meter_at(st, "b", 10000, 1), 0);
    CHECK_INT_EQ(meter_at(st, "b", 10000 + 24 * H, 0), 0);
    CHECK_INT_EQ(meter_at(st, "b", 11000, 1), 0);
    CHECK_INT_EQ(meter_at(st, "b", 10000 + 25 * H, 0), 0);
    records_of(st, "b", got, sizeof(got));
    CHECK_STR_EQ(got, "10000-86410000,86410000-90010000");
    /* A resize while the clock is behind the open record's start: the old
     * record ends at its start, the new one starts there. */
    CHECK_INT_EQ(meter_at(st, "c", 50000, 1), 0);
    CHECK_INT_EQ(meter_at(st, "c", 40000, 2), 0);
    CHECK_INT_EQ(meter_at(st, "c", 60000, 0), 0);
    records_of(st, "c", got, sizeof(got));
    CHECK_STR_EQ(got, "50000-50000,50000-60000");
    /* Nothing anywhere overlaps or ends before it starts. */
    json_t *bad = store_query(st, &err,
                              "SELECT x.seq FROM usage_records x JOIN usage_records y"
                              " ON x.meter = y.meter AND x.resource_id = y.resource_id"
                              " AND x.seq < y.seq WHERE x.end_ms IS NULL OR x.end_ms > y.start_ms"
                              " OR y.end_ms < y.start_ms",
                              "");
    CHECK(bad != NULL && json_array_size(bad) == 0);
    json_decref(bad);
    /* A project that goes closes what it had open, and keeps its records. */
    CHECK_INT_EQ(meter_at(st, "d", 70000, 1), 0);
    jump_now = 80000;
    CHECK_INT_EQ(billing_project_close(st, "p1", "p1", NULL, NULL, &err), 0);
    records_of(st, "d", got, sizeof(got));
    CHECK_STR_EQ(got, "70000-80000");
    json_t *n = store_query_one(st, &err, "SELECT COUNT(*) AS n FROM usage_records", "");
    CHECK(n != NULL && billing_int(n, "n") == 8);
    json_decref(n);
    clock_set_source(NULL);
    store_close(st);
    fs_rm_rf(dir, NULL);
}

CHECK_MAIN(TEST(test_meters), TEST(test_amounts_round_half_up_once), TEST(test_amount_limits),
           TEST(test_quantities_and_money), TEST(test_time_parse), TEST(test_months),
           TEST(test_periods), TEST(test_ledger_clamped_on_clock_jumps))
