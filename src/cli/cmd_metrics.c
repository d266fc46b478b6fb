/*
 * cmd_metrics.c - `nubo metrics INSTANCE`: an instance's recent metric as
 * a one-line chart (a sparkline of the average per step) with min, avg,
 * max and the last value.
 *
 *   GET /v1/instances/{id}/metrics?metric=&start=-<since>&step=
 *
 * The range is cut into about SPARK_WIDTH steps; a step without samples is
 * a blank in the chart.  Percentages are drawn on a 0..100 scale, other
 * units between the range's own minimum and maximum.  -o json prints the
 * API's answer.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cloud.h"
#include "cli/cmd.h"
#include "lib/util.h"
#include "lib/valid.h"

#define SPARK_WIDTH 60
#define SINCE_MAX_S (31LL * 86400)

static const char metrics_usage[] =
    "usage: nubo metrics INSTANCE [--metric NAME] [--since DURATION] [--step SECONDS]\n"
    "\n"
    "Shows an instance's metric over the last DURATION as a small chart, with its\n"
    "minimum, average, maximum and last value.\n"
    "\n"
    "  --metric NAME      cpu (default, percent of the instance's vCPUs), memory\n"
    "                     (bytes), disk_read_bytes, disk_write_bytes (bytes/s),\n"
    "                     disk_read_ops, disk_write_ops (ops/s), net_rx_bytes,\n"
    "                     net_tx_bytes, net_rx_packets, net_tx_packets\n"
    "  --since DURATION   how far back: 90s, 15m, 1h (default), 2d; at most 31d\n"
    "  --step SECONDS     seconds per point (default: DURATION / 60)\n"
    "\n"
    "INSTANCE is an instance's name or id.  Samples arrive every few seconds from\n"
    "the instance's host; older ones are kept as 5-minute averages.\n"
    "\n" CLOUD_COMMON_HELP;

/* "90s", "15m", "1h", "2d" (a bare number is seconds) into seconds. */
static int since_parse(const char *s, long long *out)
{
    char num[24];
    size_t n = strlen(s);
    long long mult = 1;
    if (n == 0 || n >= sizeof(num))
        return -1;
    switch (s[n - 1]) {
    case 's':
        n--;
        break;
    case 'm':
        mult = 60;
        n--;
        break;
    case 'h':
        mult = 3600;
        n--;
        break;
    case 'd':
        mult = 86400;
        n--;
        break;
    default:
        break;
    }
    snprintf(num, sizeof(num), "%.*s", (int)n, s);
    long long v;
    if (valid_int(num, 1, SINCE_MAX_S, "--since", &v, NULL) < 0 || v * mult > SINCE_MAX_S)
        return -1;
    *out = v * mult;
    return 0;
}

/* Seconds since the epoch of an RFC 3339 UTC time as the API writes them
 * ("2026-11-26T15:04:05.123Z"), or -1. */
static long long time_parse(const char *s)
{
    int f[6] = {0};
    static const int len[6] = {4, 2, 2, 2, 2, 2};
    static const char sep[6] = {'-', '-', 'T', ':', ':', '.'};
    const char *p = s;
    for (int i = 0; i < 6; i++) {
        for (int k = 0; k < len[i]; k++, p++) {
            if (*p < '0' || *p > '9')
                return -1;
            f[i] = f[i] * 10 + (*p - '0');
        }
        if (*p != sep[i] && !(i == 5 && *p == 'Z'))
            return -1;
        p++;
    }
    struct tm tm = {.tm_year = f[0] - 1900,
                    .tm_mon = f[1] - 1,
                    .tm_mday = f[2],
                    .tm_hour = f[3],
                    .tm_min = f[4],
                    .tm_sec = f[5]};
    time_t t = timegm(&tm);
    return t == (time_t)-1 ? -1 : (long long)t;
}

/* A value in the metric's unit, for people. */
static void value_format(double v, const char *unit, char *out, size_t n)
{
    char size[32];
    if (strcmp(unit, "percent") == 0) {
        snprintf(out, n, "%.1f%%", v);
    } else if (strcmp(unit, "bytes") == 0 || strcmp(unit, "bytes/s") == 0) {
        if (v < 1024)
            snprintf(size, sizeof(size), "%.0fB", v);
        else
            output_size((uint64_t)v, size, sizeof(size));
        snprintf(out, n, "%s%s", size, unit[5] ? "/s" : "");
    } else {
        snprintf(out, n, "%.1f%s", v, strchr(unit, '/') ? "/s" : "");
    }
}

/* Prints the series as a sparkline and its figures. */
static void series_print(const char *ref, const char *since, const json_t *s)
{
    static const char *const bars[] = {"\u2581", "\u2582", "\u2583", "\u2584",
                                       "\u2585", "\u2586", "\u2587", "\u2588"};
    const json_t *points = json_object_get(s, "points");
    const char *metric = cli_json_str_or(s, "metric", "?");
    const char *unit = cli_json_str_or(s, "unit", "");
    long long step = cli_json_int(s, "step");
    char name[128];
    output_text(ref, 60, name, sizeof(name));
    printf("%s  %s (%s), last %s, %lld s per point\n", name, metric, unit, since, step);
    size_t n = json_array_size(points);
    if (n == 0 || step <= 0) {
        printf("no samples in this range\n");
        return;
    }
    double lo = 0, hi = 0, sum = 0, last = 0;
    long long count = 0;
    long long t0 = time_parse(cli_json_str_or(json_array_get(points, 0), "t", ""));
    long long t1 = time_parse(cli_json_str_or(json_array_get(points, n - 1), "t", ""));
    size_t i;
    const json_t *p;
    json_array_foreach (points, i, p) {
        double avg = json_number_value(json_object_get(p, "avg"));
        double mn = json_number_value(json_object_get(p, "min"));
        double mx = json_number_value(json_object_get(p, "max"));
        long long c = cli_json_int(p, "count");
        if (i == 0 || mn < lo)
            lo = mn;
        if (i == 0 || mx > hi)
            hi = mx;
        sum += avg * (double)c;
        count += c;
        last = avg;
    }
    /* The chart: one cell per step from the first point to the last. */
    long long cells = t0 >= 0 && t1 >= t0 ? (t1 - t0) / step + 1 : (long long)n;
    if (cells > 4 * SPARK_WIDTH)
        cells = 4 * SPARK_WIDTH;
    double scale_lo = strcmp(unit, "percent") == 0 ? 0 : lo;
    double scale_hi = strcmp(unit, "percent") == 0 ? 100 : hi;
    char line[4 * SPARK_WIDTH * 4 + 1];
    size_t used = 0;
    for (long long k = 0; k < cells; k++) {
        const char *cell = " ";
        json_array_foreach (points, i, p) {
            long long t = time_parse(cli_json_str_or(p, "t", ""));
            long long idx = t0 >= 0 && t >= 0 ? (t - t0) / step : (long long)i;
            if (idx != k)
                continue;
            double avg = json_number_value(json_object_get(p, "avg"));
            double f = scale_hi > scale_lo ? (avg - scale_lo) / (scale_hi - scale_lo) : 0.5;
            int level = (int)(f * 7.999);
            cell = bars[level < 0 ? 0 : level > 7 ? 7 : level];
            break;
        }
        size_t l = strlen(cell);
        if (used + l < sizeof(line)) {
            memcpy(line + used, cell, l);
            used += l;
        }
    }
    line[used] = '\0';
    printf("%s\n", line);
    char a[32], b[32], c[32], d[32];
    value_format(lo, unit, a, sizeof(a));
    value_format(count ? sum / (double)count : 0, unit, b, sizeof(b));
    value_format(hi, unit, c, sizeof(c));
    value_format(last, unit, d, sizeof(d));
    printf("min %s   avg %s   max %s   last %s   (%lld samples)\n", a, b, c, d, count);
}

int cmd_metrics(struct cli *cli, int argc, char **argv)
{
    enum { OPT_METRIC = CLI_OPT_FIRST_FREE, OPT_SINCE, OPT_STEP };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"metric", required_argument, NULL, OPT_METRIC},
        {"since", required_argument, NULL, OPT_SINCE},
        {"step", required_argument, NULL, OPT_STEP},
        {NULL, 0, NULL, 0},
    };
    int c, rc;
    const char *metric = "cpu", *since = "1h";
    long long since_s = 3600, step = 0;
    struct nubo_err err;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(metrics_usage, stdout);
            return CLI_EXIT_OK;
        } else if (c == OPT_METRIC) {
            if (valid_name(optarg, "--metric", &err) < 0)
                return cli_usage_error(cli, "%s", err.msg);
            metric = optarg;
        } else if (c == OPT_SINCE) {
            if (since_parse(optarg, &since_s) < 0)
                return cli_usage_error(cli, "--since wants a duration such as 90s, 15m, 1h or "
                                            "2d, at most 31d");
            since = optarg;
        } else if (c == OPT_STEP) {
            if ((rc = cloud_int_parse(cli, optarg, 1, 86400, "--step", &step)) != 0)
                return rc;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "an instance's name or id")) != 0 ||
        (rc = cloud_ref_check(cli, argv[optind], "an instance's name or id")) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    if (step == 0)
        step = since_s / SPARK_WIDTH > 0 ? since_s / SPARK_WIDTH : 1;
    char id[37], path[CLOUD_PATH_MAX], ago[32], stepstr[24];
    if (cloud_resolve(cli, "/v1/instances", "instances", true, argv[optind], "instance", id, &err) <
        0)
        return cli_fail(cli, &err);
    snprintf(path, sizeof(path), "/v1/instances/%s/metrics", id);
    snprintf(ago, sizeof(ago), "-%llds", since_s);
    snprintf(stepstr, sizeof(stepstr), "%lld", step);
    if (cloud_query_add(path, sizeof(path), "metric", metric, &err) < 0 ||
        cloud_query_add(path, sizeof(path), "start", ago, &err) < 0 ||
        cloud_query_add(path, sizeof(path), "step", stepstr, &err) < 0)
        return cli_fail(cli, &err);
    json_t *s = NULL;
    if (cli_call(cli, "GET", path, NULL, &s, &err) < 0)
        return cli_fail(cli, &err);
    if (!cli_print_json(cli, s))
        series_print(argv[optind], since, s);
    json_decref(s);
    return CLI_EXIT_OK;
}
