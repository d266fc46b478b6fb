/*
 * metrics.c - the metric catalog, time parsing and the series queries of
 * the API (per instance, per host, per project).
 *
 * A series query buckets samples by step on a grid aligned to the epoch
 * (bucket = ts_ms / step_ms), so the same point has the same time in every
 * query.  Where the range is older than the raw retention, data comes from
 * the 5-minute rollups instead: both sources give (sum, count, min, max)
 * per bucket and one UNION ALL merges them, split at a boundary B aligned
 * to 5 minutes (rollups before B, raw samples from B on).
 *
 * Column names in SQL come only from the constant catalog below; values
 * are always bound.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/util.h"
#include "lib/valid.h"
#include "monitor/monitor_int.h"

/* ------------------------------------------------------------ catalog */

const struct metric_def monitor_instance_metrics[] = {
    {"cpu", "percent", "nubo_instance_cpu_utilization_ratio",
     "CPU time used over wall time, per vCPU (0..1)", 100.0, 100.0},
    {"memory", "bytes", "nubo_instance_memory_bytes",
     "Memory used by the instance's QEMU process (its cgroup)", 1e18, 1.0},
    {"disk_read_bytes", "bytes/s", NULL, "Bytes read from the instance's disks per second", 1e15,
     1.0},
    {"disk_write_bytes", "bytes/s", NULL, "Bytes written to the instance's disks per second", 1e15,
     1.0},
    {"disk_read_ops", "ops/s", NULL, "Read operations on the instance's disks per second", 1e12,
     1.0},
    {"disk_write_ops", "ops/s", NULL, "Write operations on the instance's disks per second", 1e12,
     1.0},
    {"net_rx_bytes", "bytes/s", NULL, "Bytes the instance received per second", 1e15, 1.0},
    {"net_tx_bytes", "bytes/s", NULL, "Bytes the instance sent per second", 1e15, 1.0},
    {"net_rx_packets", "packets/s", NULL, "Packets the instance received per second", 1e12, 1.0},
    {"net_tx_packets", "packets/s", NULL, "Packets the instance sent per second", 1e12, 1.0},
};
const size_t monitor_instance_nmetrics = ARRAY_LEN(monitor_instance_metrics);

const struct metric_def monitor_host_metrics[] = {
    {"cpu", "percent", "nubo_host_cpu_utilization_ratio",
     "CPU time used over wall time, over all the host's CPUs (0..1)", 100.0, 100.0},
    {"memory_used", "bytes", "nubo_host_memory_used_bytes",
     "Memory in use on the host (total - available)", 1e18, 1.0},
    {"memory_total", "bytes", "nubo_host_memory_total_bytes", "Memory of the host", 1e18, 1.0},
    {"disk_used", "bytes", "nubo_host_disk_used_bytes",
     "Bytes used on the filesystem of the agent's state directory", 1e18, 1.0},
    {"disk_total", "bytes", "nubo_host_disk_total_bytes",
     "Size of the filesystem of the agent's state directory", 1e18, 1.0},
};
const size_t monitor_host_nmetrics = ARRAY_LEN(monitor_host_metrics);

const struct metric_def *monitor_metric_find(enum monitor_kind kind, const char *name)
{
    const struct metric_def *defs =
        kind == MONITOR_HOST ? monitor_host_metrics : monitor_instance_metrics;
    size_t n = kind == MONITOR_HOST ? monitor_host_nmetrics : monitor_instance_nmetrics;
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(defs[i].name, name) == 0)
            return &defs[i];
    return NULL;
}

long long monitor_jint(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* --------------------------------------------------------------- times */

/* Reads exactly n digits at *p into *out; advances *p. */
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

/* "2026-11-26T15:04:05Z", "2026-11-26T15:04:05.123Z", "...+00:00". */
static int rfc3339_parse(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec, ms = 0;
    const char *p = s;
    if (digits(&p, 4, &y) < 0 || *p++ != '-' || digits(&p, 2, &mo) < 0 || *p++ != '-' ||
        digits(&p, 2, &d) < 0 || (*p != 'T' && *p != 't') || !*p++ || digits(&p, 2, &h) < 0 ||
        *p++ != ':' || digits(&p, 2, &mi) < 0 || *p++ != ':' || digits(&p, 2, &sec) < 0)
        return -1;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 3)
                ms = ms * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0 || nd > 9)
            return -1;
        for (; nd < 3; nd++)
            ms *= 10;
    }
    if (strcmp(p, "Z") != 0 && strcmp(p, "z") != 0 && strcmp(p, "+00:00") != 0)
        return -1;
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec > 59)
        return -1;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != d) /* 31 February... */
        return -1;
    *out = (int64_t)t * 1000 + ms;
    return 0;
}

int monitor_time_parse(const char *s, int64_t now_ms, int64_t *out)
{
    if (s == NULL || *s == '\0' || strlen(s) > 40)
        return -1;
    if (strcmp(s, "now") == 0) {
        *out = now_ms;
        return 0;
    }
    if (s[0] == '-') {
        size_t n = strlen(s);
        char unit = s[n - 1];
        int64_t mult = unit == 's'   ? 1000
                       : unit == 'm' ? 60000
                       : unit == 'h' ? 3600000
                       : unit == 'd' ? 86400000
                                     : 0;
        if (mult == 0 || n < 3 || n > 12)
            return -1;
        char num[16];
        snprintf(num, sizeof(num), "%.*s", (int)(n - 2), s + 1);
        long long v;
        if (valid_int(num, 0, 100000000LL, "ago", &v, NULL) < 0)
            return -1;
        *out = now_ms - (int64_t)v * mult;
        return 0;
    }
    return rfc3339_parse(s, out);
}

/* ------------------------------------------------------------- queries */

int monitor_query_parse(enum monitor_kind kind, const char *metric, const char *start,
                        const char *end, const char *step, int64_t now_ms, struct monitor_query *q,
                        struct nubo_err *err)
{
    memset(q, 0, sizeof(*q));
    const struct metric_def *def = monitor_metric_find(kind, metric ? metric : "cpu");
    if (def == NULL) {
        char names[512] = "";
        const struct metric_def *defs =
            kind == MONITOR_HOST ? monitor_host_metrics : monitor_instance_metrics;
        size_t n = kind == MONITOR_HOST ? monitor_host_nmetrics : monitor_instance_nmetrics;
        for (size_t i = 0; i < n; i++) {
            size_t l = strlen(names);
            snprintf(names + l, sizeof(names) - l, "%s%s", i ? ", " : "", defs[i].name);
        }
        return nubo_err_set(err, NUBO_E_INVALID, "'metric' must be one of: %s", names);
    }
    str_copy(q->metric, sizeof(q->metric), def->name);
    static const char hint[] = "an RFC 3339 UTC time (2026-11-26T15:04:05Z), \"now\", or a time "
                               "ago like -90s, -15m, -2h, -7d";
    int64_t s = now_ms - 3600000, e = now_ms;
    if (start && monitor_time_parse(start, now_ms, &s) < 0)
        return nubo_err_set(err, NUBO_E_INVALID, "'start' must be %s", hint);
    if (end && monitor_time_parse(end, now_ms, &e) < 0)
        return nubo_err_set(err, NUBO_E_INVALID, "'end' must be %s", hint);
    if (e <= s)
        return nubo_err_set(err, NUBO_E_INVALID, "'end' must come after 'start'");
    if (e - s > 400LL * 86400000)
        return nubo_err_set(err, NUBO_E_INVALID, "the range may be at most 400 days");
    long long st;
    if (step) {
        if (valid_int(step, 1, 86400, "'step' (seconds)", &st, err) < 0)
            return -1;
    } else {
        st = (e - s + 119999) / 120000;
        if (st < 1)
            st = 1;
        if (st > 86400)
            st = 86400;
    }
    q->step_ms = (int64_t)st * 1000;
    q->start_ms = s - ((s % q->step_ms) + q->step_ms) % q->step_ms;
    q->end_ms = e;
    int64_t points = (q->end_ms - q->start_ms + q->step_ms - 1) / q->step_ms;
    if (points > MONITOR_MAX_POINTS)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "%lld points of %lld s: at most %d per query; raise 'step' or "
                            "shorten the range",
                            (long long)points, st, MONITOR_MAX_POINTS);
    return 0;
}

/* Where raw data begins to be kept: rollups serve what is older. */
static int64_t raw_boundary(const struct monitor_query *q, int64_t now_ms, int64_t raw_retention)
{
    int64_t b = now_ms - raw_retention;
    b = (b + MONITOR_ROLLUP_MS - 1) / MONITOR_ROLLUP_MS * MONITOR_ROLLUP_MS;
    if (b < q->start_ms)
        b = q->start_ms;
    if (b > q->end_ms)
        b = q->end_ms;
    return b;
}

static const char *resolution(const struct monitor_query *q, int64_t boundary)
{
    if (boundary <= q->start_ms)
        return "raw";
    return boundary >= q->end_ms ? "5m" : "mixed";
}

static json_t *point_time(int64_t b, int64_t step_ms)
{
    char at[32];
    clock_format_ms(b * step_ms, at);
    return json_string(at);
}

/* The samples table, its id column and the rollups' kind for a kind. */
struct source {
    const char *table, *id_col, *kind;
};

static const struct source sources[] = {
    [MONITOR_INSTANCE] = {"instance_samples", "instance_id", "instance"},
    [MONITOR_HOST] = {"host_samples", "host_id", "host"},
    [MONITOR_PROJECT] = {"instance_samples", "project_id", "instance"},
};

/* Points of one resource (an instance or a host): samples whose id column
 * is id, and whose project is project (instances) or any (hosts). */
static json_t *points_one(struct store *st, enum monitor_kind kind, const char *id,
                          const char *project, const struct monitor_query *q, int64_t boundary,
                          struct nubo_err *err)
{
    const struct source *src = &sources[kind];
    const char *col = q->metric;
    char sql[2048];
    /* The project condition is "project_id = ?" for instances; for hosts
     * "? = ?" binds '' twice, so both shapes take the same parameters. */
    const char *pcond = kind == MONITOR_HOST ? "? = ''" : "project_id = ?";
    snprintf(sql, sizeof(sql),
             "SELECT b, SUM(s) AS s, SUM(c) AS c, MIN(mn) AS mn, MAX(mx) AS mx FROM ("
             " SELECT ts_ms / ? AS b, SUM(%s) AS s, COUNT(%s) AS c, MIN(%s) AS mn, MAX(%s) AS mx"
             " FROM %s WHERE %s = ? AND %s AND ts_ms >= ? AND ts_ms < ? AND %s IS NOT NULL"
             " GROUP BY b"
             " UNION ALL"
             " SELECT bucket_ms / ? AS b, SUM(v_sum) AS s, SUM(v_count) AS c, MIN(v_min) AS mn,"
             " MAX(v_max) AS mx FROM metric_rollups WHERE kind = ? AND resource_id = ? AND %s"
             " AND metric = ? AND bucket_ms >= ? AND bucket_ms < ? GROUP BY b"
             ") AS u GROUP BY b ORDER BY b",
             col, col, col, col, src->table, src->id_col, pcond, col, pcond);
    const char *pv = kind == MONITOR_HOST ? "" : project;
    json_t *rows =
        store_query(st, err, sql, "issiiissssii", (long long)q->step_ms, id, pv,
                    (long long)boundary, (long long)q->end_ms, (long long)q->step_ms, src->kind, id,
                    pv, q->metric, (long long)q->start_ms, (long long)boundary);
    if (rows == NULL)
        return NULL;
    json_t *points = json_array();
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        long long c = monitor_jint(r, "c");
        if (c <= 0)
            continue;
        double s = json_number_value(json_object_get(r, "s"));
        json_array_append_new(
            points, json_pack("{s:o, s:f, s:f, s:f, s:I}", "t",
                              point_time(monitor_jint(r, "b"), q->step_ms), "avg", s / (double)c,
                              "min", json_number_value(json_object_get(r, "mn")), "max",
                              json_number_value(json_object_get(r, "mx")), "count", (json_int_t)c));
    }
    json_decref(rows);
    return points;
}

/* Points of a project: per step, each instance's average in the step,
 * then their sum, mean, min and max across instances. */
static json_t *points_project(struct store *st, const char *project, const struct monitor_query *q,
                              int64_t boundary, struct nubo_err *err)
{
    const char *col = q->metric;
    char sql[2048];
    snprintf(sql, sizeof(sql),
             "SELECT b, SUM(a) AS s, MIN(a) AS mn, MAX(a) AS mx, COUNT(*) AS n FROM ("
             " SELECT rid, b, SUM(s) / SUM(c) AS a FROM ("
             "  SELECT instance_id AS rid, ts_ms / ? AS b, SUM(%s) AS s, COUNT(%s) AS c"
             "  FROM instance_samples WHERE project_id = ? AND ts_ms >= ? AND ts_ms < ?"
             "  AND %s IS NOT NULL GROUP BY rid, b"
             "  UNION ALL"
             "  SELECT resource_id AS rid, bucket_ms / ? AS b, SUM(v_sum) AS s,"
             "  SUM(v_count) AS c FROM metric_rollups WHERE kind = 'instance' AND"
             "  project_id = ? AND metric = ? AND bucket_ms >= ? AND bucket_ms < ?"
             "  GROUP BY rid, b"
             " ) AS u GROUP BY rid, b"
             ") AS per GROUP BY b ORDER BY b",
             col, col, col);
    json_t *rows = store_query(st, err, sql, "isiiissii", (long long)q->step_ms, project,
                               (long long)boundary, (long long)q->end_ms, (long long)q->step_ms,
                               project, q->metric, (long long)q->start_ms, (long long)boundary);
    if (rows == NULL)
        return NULL;
    json_t *points = json_array();
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        long long n = monitor_jint(r, "n");
        if (n <= 0)
            continue;
        double s = json_number_value(json_object_get(r, "s"));
        json_array_append_new(points, json_pack("{s:o, s:f, s:f, s:f, s:f, s:I}", "t",
                                                point_time(monitor_jint(r, "b"), q->step_ms), "sum",
                                                s, "avg", s / (double)n, "min",
                                                json_number_value(json_object_get(r, "mn")), "max",
                                                json_number_value(json_object_get(r, "mx")),
                                                "instances", (json_int_t)n));
    }
    json_decref(rows);
    return points;
}

static json_t *series_wrap(const char *id_key, const char *id, const struct monitor_query *q,
                           int64_t boundary, enum monitor_kind kind, json_t *points)
{
    const struct metric_def *def = monitor_metric_find(kind, q->metric);
    return json_pack("{s:s, s:s, s:s, s:I, s:s, s:o}", id_key, id, "metric", q->metric, "unit",
                     def ? def->unit : "", "step", (json_int_t)(q->step_ms / 1000), "resolution",
                     resolution(q, boundary), "points", points);
}

json_t *monitor_instance_series(struct monitor *m, const struct ctx *ctx, const char *instance_id,
                                const struct monitor_query *q, struct nubo_err *err)
{
    struct store *st = m->st;
    struct nubo_err qerr;
    json_t *inst = store_query_one(st, &qerr,
                                   "SELECT id, project_id FROM instances WHERE id = ? AND"
                                   " (project_id = ? OR ? = 1)",
                                   "ssi", instance_id, ctx->project_id, (long long)ctx->is_admin);
    if (inst == NULL) {
        if (qerr.code == NUBO_E_NOTFOUND)
            nubo_err_set(err, NUBO_E_NOTFOUND, "no instance with id '%.64s'", instance_id);
        else
            *err = qerr;
        return NULL;
    }
    char id[37], project[37];
    str_copy(id, sizeof(id), jsonx_str(inst, "id"));
    str_copy(project, sizeof(project), jsonx_str(inst, "project_id"));
    json_decref(inst);
    int64_t boundary = raw_boundary(q, clock_now_ms(), m->cfg.raw_retention_ms);
    json_t *points = points_one(st, MONITOR_INSTANCE, id, project, q, boundary, err);
    if (points == NULL)
        return NULL;
    return series_wrap("instance_id", id, q, boundary, MONITOR_INSTANCE, points);
}

json_t *monitor_host_series(struct monitor *m, const struct ctx *ctx, const char *host_ref,
                            const struct monitor_query *q, struct nubo_err *err)
{
    struct store *st = m->st;
    if (authz_require(ctx, AUTHZ_ADMIN, err) < 0)
        return NULL;
    struct nubo_err qerr;
    json_t *h = store_query_one(st, &qerr, "SELECT id FROM hosts WHERE id = ? OR name = ?", "ss",
                                host_ref, host_ref);
    if (h == NULL) {
        if (qerr.code == NUBO_E_NOTFOUND)
            nubo_err_set(err, NUBO_E_NOTFOUND, "no host with id or name '%.64s'", host_ref);
        else
            *err = qerr;
        return NULL;
    }
    char id[37];
    str_copy(id, sizeof(id), jsonx_str(h, "id"));
    json_decref(h);
    int64_t boundary = raw_boundary(q, clock_now_ms(), m->cfg.raw_retention_ms);
    json_t *points = points_one(st, MONITOR_HOST, id, NULL, q, boundary, err);
    if (points == NULL)
        return NULL;
    return series_wrap("host_id", id, q, boundary, MONITOR_HOST, points);
}

json_t *monitor_project_series(struct monitor *m, const struct ctx *ctx,
                               const struct monitor_query *q, struct nubo_err *err)
{
    struct store *st = m->st;
    int64_t boundary = raw_boundary(q, clock_now_ms(), m->cfg.raw_retention_ms);
    json_t *points = points_project(st, ctx->project_id, q, boundary, err);
    if (points == NULL)
        return NULL;
    return series_wrap("project_id", ctx->project_id, q, boundary, MONITOR_PROJECT, points);
}
