/*
 * test_billing.c - unit tests of src/billing's arithmetic: amounts rounded
 * half up once, exactly, in 128 bits; quantities and money as decimals;
 * times and periods of the API (the parts that need no database).
 */
#include <stdint.h>
#include <string.h>

#include "billing/billing_int.h"
#include "check.h"
#include "lib/clock.h"

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

CHECK_MAIN(TEST(test_meters), TEST(test_amounts_round_half_up_once), TEST(test_amount_limits),
           TEST(test_quantities_and_money), TEST(test_time_parse), TEST(test_months),
           TEST(test_periods))
