/*
 * rollup.c - downsampling and retention of the time series.
 *
 * The rollup watermark W (monitor_kv 'rollup_watermark_ms') says that
 * every 5-minute bucket before W is in metric_rollups.  A pass moves W to
 * the start of the last bucket that ended at least MONITOR_ROLLUP_GRACE_MS
 * ago, rolling up [W, new W) of both sample tables with one INSERT ...
 * SELECT per metric, in the same transaction as the new W: a crash leaves
 * either both or neither.  Only then is raw data past the raw retention
 * deleted, so nothing is deleted before it is rolled up.  When there is no
 * W yet, it starts at the bucket of the oldest raw sample.
 *
 * Everything is driven by clock_now_ms(): a test that moves the fake clock
 * by a day sees a day of rollups and deletions on the next pass.
 */
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "monitor/monitor_int.h"

static int64_t floor_bucket(int64_t ms)
{
    return ms / MONITOR_ROLLUP_MS * MONITOR_ROLLUP_MS;
}

/* The current watermark, or -1 when there is none (and no data), 0 on
 * error. */
static int64_t watermark_get(struct store *st, struct nubo_err *err)
{
    struct nubo_err qerr;
    json_t *r = store_query_one(
        st, &qerr, "SELECT int_value FROM monitor_kv WHERE key = 'rollup_watermark_ms'", "");
    if (r) {
        int64_t w = (int64_t)monitor_jint(r, "int_value");
        json_decref(r);
        return w;
    }
    if (qerr.code != NUBO_E_NOTFOUND) {
        *err = qerr;
        return 0;
    }
    r = store_query_one(st, err,
                        "SELECT MIN(m) AS m FROM (SELECT MIN(ts_ms) AS m FROM instance_samples"
                        " UNION ALL SELECT MIN(ts_ms) AS m FROM host_samples) AS u",
                        "");
    if (r == NULL)
        return 0;
    json_t *m = json_object_get(r, "m");
    int64_t w = json_is_integer(m) ? floor_bucket((int64_t)json_integer_value(m)) : -1;
    json_decref(r);
    return w;
}

static int rollup_range(struct store *st, int64_t from, int64_t to, struct nubo_err *err)
{
    char sql[1024];
    for (size_t i = 0; i < monitor_instance_nmetrics; i++) {
        const char *c = monitor_instance_metrics[i].name;
        snprintf(sql, sizeof(sql),
                 "INSERT INTO metric_rollups (kind, resource_id, project_id, metric, bucket_ms,"
                 " v_sum, v_count, v_min, v_max) SELECT 'instance', instance_id, project_id, ?,"
                 " ts_ms / %lld * %lld AS b, SUM(%s), COUNT(%s), MIN(%s), MAX(%s)"
                 " FROM instance_samples WHERE ts_ms >= ? AND ts_ms < ? AND %s IS NOT NULL"
                 " GROUP BY instance_id, project_id, b"
                 " ON CONFLICT (kind, resource_id, metric, bucket_ms) DO NOTHING",
                 MONITOR_ROLLUP_MS, MONITOR_ROLLUP_MS, c, c, c, c, c);
        if (store_exec(st, err, sql, "sii", c, (long long)from, (long long)to) < 0)
            return -1;
    }
    for (size_t i = 0; i < monitor_host_nmetrics; i++) {
        const char *c = monitor_host_metrics[i].name;
        snprintf(sql, sizeof(sql),
                 "INSERT INTO metric_rollups (kind, resource_id, project_id, metric, bucket_ms,"
                 " v_sum, v_count, v_min, v_max) SELECT 'host', host_id, '', ?,"
                 " ts_ms / %lld * %lld AS b, SUM(%s), COUNT(%s), MIN(%s), MAX(%s)"
                 " FROM host_samples WHERE ts_ms >= ? AND ts_ms < ? AND %s IS NOT NULL"
                 " GROUP BY host_id, b"
                 " ON CONFLICT (kind, resource_id, metric, bucket_ms) DO NOTHING",
                 MONITOR_ROLLUP_MS, MONITOR_ROLLUP_MS, c, c, c, c, c);
        if (store_exec(st, err, sql, "sii", c, (long long)from, (long long)to) < 0)
            return -1;
    }
    return 0;
}

int monitor_housekeep(struct monitor *m, int64_t now_ms, struct nubo_err *err)
{
    struct store *st = m->st;
    int64_t target = floor_bucket(now_ms - MONITOR_ROLLUP_GRACE_MS);
    /* Most passes have nothing to roll up: find out without taking the
     * write lock that ingestion needs. */
    nubo_err_clear(err);
    int64_t w = watermark_get(st, err);
    if (w == 0 && err->code != NUBO_OK)
        return -1;
    if (w < 0 || w >= target)
        return 0; /* no data yet, or nothing new to roll up */
    if (store_begin(st, true, err) < 0)
        return -1;
    w = watermark_get(st, err); /* another controller may have done it */
    if (w == 0 && err->code != NUBO_OK)
        goto fail;
    if (w < 0 || w >= target) {
        store_rollback(st);
        return 0;
    }
    if (rollup_range(st, w, target, err) < 0 ||
        store_exec(st, err,
                   "INSERT INTO monitor_kv (key, int_value) VALUES ('rollup_watermark_ms', ?)"
                   " ON CONFLICT (key) DO UPDATE SET int_value = excluded.int_value",
                   "i", (long long)target) < 0)
        goto fail;
    /* Past retention; raw data only where it is rolled up already. */
    int64_t raw_cut = now_ms - m->cfg.raw_retention_ms;
    if (raw_cut > target)
        raw_cut = target;
    int64_t roll_cut = now_ms - m->cfg.rollup_retention_ms;
    long long a, b, c, d;
    if ((a = store_exec(st, err, "DELETE FROM instance_samples WHERE ts_ms < ?", "i",
                        (long long)raw_cut)) < 0 ||
        (b = store_exec(st, err, "DELETE FROM host_samples WHERE ts_ms < ?", "i",
                        (long long)raw_cut)) < 0 ||
        (c = store_exec(st, err, "DELETE FROM metric_rollups WHERE bucket_ms < ?", "i",
                        (long long)roll_cut)) < 0 ||
        (d = store_exec(st, err, "DELETE FROM instance_metrics_latest WHERE ts_ms < ?", "i",
                        (long long)raw_cut)) < 0)
        goto fail;
    if (store_commit(st, err) < 0)
        return -1;
    log_debug("monitor: rolled up %lld min of samples; dropped %lld raw instance samples, %lld "
              "host samples, %lld rollups, %lld stale latest values",
              (long long)((target - w) / 60000), a, b, c, d);
    return 0;
fail:
    store_rollback(st);
    return -1;
}
