/*
 * test_scale.c - unit tests of src/scale's pure decisions (calc.c): the
 * cron parser and its next firing time, target-tracking capacity (out
 * fast, in one step at a time, warm-up, bounds, convergence without
 * oscillation over a simulated load), step band selection and adjustment,
 * cooldowns and the launch back-off.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "scale/scale.h"

/* Unix ms of a UTC date. */
static int64_t utc(int y, int mon, int d, int h, int min)
{
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = mon - 1, .tm_mday = d, .tm_hour = h, .tm_min = min};
    return (int64_t)timegm(&tm) * 1000;
}

static int64_t next(const char *expr, int64_t after)
{
    struct scale_cron c;
    struct nubo_err err;
    if (!CHECK(scale_cron_parse(expr, &c, &err) == 0))
        return -2;
    return scale_cron_next(&c, after);
}

/* ----------------------------------------------------------------- cron */

static void test_cron_rejects(void)
{
    static const char *const bad[] = {
        "",
        "* * * *",
        "* * * * * *",
        "60 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * 32 * *",
        "* * * 0 *",
        "* * * 13 *",
        "* * * * 8",
        "*/0 * * * *",
        "5-1 * * * *",
        "1,,2 * * * *",
        ",1 * * * *",
        "a * * * *",
        "1- * * * *",
        "-1 * * * *",
        "*/ * * * *",
        "1/2/3 * * * *",
        "100 * * * *",
        "* * * * MON",
        NULL,
    };
    struct scale_cron c;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct nubo_err err = {0};
        if (!CHECK(scale_cron_parse(bad[i], &c, &err) == -1))
            fprintf(stderr, "    accepted: \"%s\"\n", bad[i] ? bad[i] : "(null)");
        else
            CHECK(err.code == NUBO_E_INVALID && strstr(err.msg, "cron"));
    }
    struct nubo_err err;
    CHECK(scale_cron_parse("61 * * * *", &c, &err) == -1);
    CHECK_STR_HAS(err.msg, "minute");
    CHECK(scale_cron_parse("* * * * 9", &c, &err) == -1);
    CHECK_STR_HAS(err.msg, "day of week");
}

static void test_cron_fields(void)
{
    struct scale_cron c;
    struct nubo_err err;
    CHECK(scale_cron_parse("*/15 8-18/2 1,15 * 7", &c, &err) == 0);
    CHECK(c.minute == ((1ULL << 0) | (1ULL << 15) | (1ULL << 30) | (1ULL << 45)));
    CHECK(c.hour == ((1U << 8) | (1U << 10) | (1U << 12) | (1U << 14) | (1U << 16) | (1U << 18)));
    CHECK(c.dom == ((1U << 1) | (1U << 15)));
    CHECK(c.dow == 1); /* 7 is Sunday, 0 */
    CHECK(!c.dom_any && !c.dow_any);
    CHECK(scale_cron_parse("  5/20  *\t* * *", &c, &err) == 0); /* from 5 every 20 */
    CHECK(c.minute == ((1ULL << 5) | (1ULL << 25) | (1ULL << 45)));
    CHECK(c.dom_any && c.dow_any);
}

static void test_cron_next(void)
{
    int64_t t0 = utc(2026, 11, 26, 12, 0);           /* a Thursday */
    CHECK_INT_EQ(next("* * * * *", t0), t0 + 60000); /* strictly after */
    CHECK_INT_EQ(next("* * * * *", t0 + 59999), t0 + 60000);
    CHECK_INT_EQ(next("30 12 * * *", t0), utc(2026, 11, 26, 12, 30));
    CHECK_INT_EQ(next("30 12 * * *", utc(2026, 11, 26, 12, 30)), utc(2026, 11, 27, 12, 30));
    CHECK_INT_EQ(next("0 9 * * 1-5", utc(2026, 11, 27, 10, 0)), utc(2026, 11, 30, 9, 0));
    CHECK_INT_EQ(next("0 0 1 1 *", t0), utc(2027, 1, 1, 0, 0));   /* year rolls */
    CHECK_INT_EQ(next("0 0 29 2 *", t0), utc(2028, 2, 29, 0, 0)); /* leap day */
    CHECK_INT_EQ(next("0 0 31 * *", t0), utc(2026, 12, 31, 0, 0));
    CHECK_INT_EQ(next("0 0 31 2 *", t0), -1); /* never */
    /* both day fields restricted: either matches (the 1st, or a Monday) */
    CHECK_INT_EQ(next("0 0 1 * 1", t0), utc(2026, 11, 30, 0, 0));
    CHECK_INT_EQ(next("0 0 1 * 1", utc(2026, 11, 30, 0, 0)), utc(2026, 12, 1, 0, 0));
    CHECK_INT_EQ(next("*/20 * * * *", utc(2026, 11, 26, 23, 41)), utc(2026, 11, 27, 0, 0));
}

/* ------------------------------------------------------ target tracking */

static void test_target_out_fast_in_slow(void)
{
    /* 2 instances at 90 % against 50: 3.6 -> 4 at once */
    CHECK_INT_EQ(scale_target_capacity(2, 2, 0, 90, 50, 1, 10), 4);
    /* exactly at target: no change */
    CHECK_INT_EQ(scale_target_capacity(4, 4, 0, 50, 50, 1, 10), 4);
    /* far below target: one step in */
    CHECK_INT_EQ(scale_target_capacity(8, 8, 0, 5, 50, 1, 10), 7);
    /* not while an instance is warming up */
    CHECK_INT_EQ(scale_target_capacity(8, 7, 1, 5, 50, 1, 10), 8);
    /* warming instances are in current already: the spike that launched
     * them is not answered again while they boot */
    CHECK_INT_EQ(scale_target_capacity(2, 1, 1, 100, 50, 1, 10), 2);
    CHECK_INT_EQ(scale_target_capacity(3, 2, 1, 100, 50, 1, 10), 4);
    /* bounds */
    CHECK_INT_EQ(scale_target_capacity(2, 2, 0, 100, 10, 1, 6), 6);
    CHECK_INT_EQ(scale_target_capacity(1, 1, 0, 0, 50, 1, 6), 1);
    /* no measurement: nothing to decide */
    CHECK_INT_EQ(scale_target_capacity(3, 0, 3, 0, 50, 1, 6), 3);
    CHECK_INT_EQ(scale_target_capacity(3, 3, 0, NAN, 50, 1, 6), 3);
    /* a removal that would put the rest above target is not made */
    CHECK_INT_EQ(scale_target_capacity(2, 2, 0, 30, 50, 1, 6), 2);
}

/* A constant load L (percent-instances) spread over n instances capped at
 * 100 %: the capacity converges to ceil(L / target) and stays there. */
static void test_target_converges_without_oscillation(void)
{
    static const double loads[] = {50, 130, 250, 333, 480};
    for (size_t k = 0; k < sizeof(loads) / sizeof(loads[0]); k++) {
        long long n = 1, changes_after_settle = 0, settled_at = -1;
        long long want = (long long)ceil(loads[k] / 50.0);
        for (int step = 0; step < 50; step++) {
            double avg = fmin(100.0, loads[k] / (double)n);
            long long m = scale_target_capacity(n, n, 0, avg, 50, 1, 20);
            if (settled_at >= 0 && m != n)
                changes_after_settle++;
            n = m;
            if (n == want && settled_at < 0)
                settled_at = step;
        }
        CHECK_INT_EQ(n, want);
        CHECK(settled_at >= 0 && settled_at < 6);
        CHECK_INT_EQ(changes_after_settle, 0);
    }
}

/* -------------------------------------------------------- step policies */

static void test_step_bands(void)
{
    struct scale_step s[] = {
        {.has_lower = false, .has_upper = true, .upper = -20, .adjustment = -2},
        {.has_lower = true, .lower = -20, .has_upper = true, .upper = 0, .adjustment = -1},
        {.has_lower = true, .lower = 0, .has_upper = true, .upper = 20, .adjustment = 1},
        {.has_lower = true, .lower = 20, .has_upper = false, .adjustment = 3},
    };
    CHECK_INT_EQ(scale_step_select(s, 4, -50), 0);
    CHECK_INT_EQ(scale_step_select(s, 4, -20), 1); /* lower bound included */
    CHECK_INT_EQ(scale_step_select(s, 4, -0.1), 1);
    CHECK_INT_EQ(scale_step_select(s, 4, 0), 2);
    CHECK_INT_EQ(scale_step_select(s, 4, 19.99), 2);
    CHECK_INT_EQ(scale_step_select(s, 4, 20), 3); /* upper bound excluded */
    CHECK_INT_EQ(scale_step_select(s, 4, 1e9), 3);
    CHECK_INT_EQ(scale_step_select(s + 2, 1, -1), -1); /* no band */
}

static void test_step_apply(void)
{
    CHECK_INT_EQ(scale_step_apply(3, 2, false, 1, 10), 5);
    CHECK_INT_EQ(scale_step_apply(3, -5, false, 1, 10), 1);  /* never below min */
    CHECK_INT_EQ(scale_step_apply(9, 3, false, 1, 10), 10);  /* nor above max */
    CHECK_INT_EQ(scale_step_apply(10, 25, true, 1, 20), 13); /* 2.5 -> 3 */
    CHECK_INT_EQ(scale_step_apply(10, -25, true, 1, 20), 7);
    CHECK_INT_EQ(scale_step_apply(2, 10, true, 1, 20), 3); /* at least one */
    CHECK_INT_EQ(scale_step_apply(2, -10, true, 1, 20), 1);
    CHECK_INT_EQ(scale_step_apply(0, 50, true, 0, 20), 1);
}

static void test_cooldown_and_backoff(void)
{
    CHECK(scale_cooldown_ok(1000, 0, 60000)); /* never acted */
    CHECK(!scale_cooldown_ok(60999, 1000, 60000));
    CHECK(scale_cooldown_ok(61000, 1000, 60000));
    CHECK(scale_cooldown_ok(5, 5, 0));
    CHECK_INT_EQ(scale_backoff_ms(0), 0);
    CHECK_INT_EQ(scale_backoff_ms(1), 10000);
    CHECK_INT_EQ(scale_backoff_ms(2), 20000);
    CHECK_INT_EQ(scale_backoff_ms(5), 160000);
    CHECK_INT_EQ(scale_backoff_ms(6), 300000); /* capped */
    CHECK_INT_EQ(scale_backoff_ms(1000), 300000);
}

CHECK_MAIN(TEST(test_cron_rejects), TEST(test_cron_fields), TEST(test_cron_next),
           TEST(test_target_out_fast_in_slow), TEST(test_target_converges_without_oscillation),
           TEST(test_step_bands), TEST(test_step_apply), TEST(test_cooldown_and_backoff))
