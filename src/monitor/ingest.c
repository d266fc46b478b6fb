/*
 * ingest.c - samples from host agents into the store (POST
 * /v1/hosts/{id}/metrics); see monitor.h and docs/internals/monitoring.md
 * for the wire format.
 *
 * The whole batch is validated before anything is written, then stored in
 * one write transaction: raw rows of every round, the latest values (and
 * counters) of every instance, and the host's cursor (agent run, last
 * seq).  A batch the agent sends again because it lost the answer repeats
 * rounds at or below the cursor: those are skipped, so nothing is stored
 * twice.
 *
 * A sample's time is the controller's clock minus the round's age_ms: the
 * agent measures how long a round waited in its queue with its monotonic
 * clock, so host clocks need not agree with the controller's.
 *
 * Nullable numbers are bound as -1 and turned into NULL by NULLIF(?, -1)
 * in SQL (valid values are never negative): store.h binds doubles and
 * integers by value only.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/agent_client.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/valid.h"
#include "monitor/monitor_int.h"

#define INGEST_MAX_ROUNDS 120
#define INGEST_MAX_VMS 4096
#define INGEST_MAX_SAMPLES 20000
#define INGEST_MAX_AGE_MS 86400000LL
#define INGEST_MAX_SEQ 9007199254740992LL /* 2^53: exact in every JSON reader */

/* The cumulative counters a VM sample may carry, in the column order of
 * instance_metrics_latest (<name>_total). */
static const char *const counter_names[] = {
    "cpu_ns",       "disk_read_bytes", "disk_write_bytes", "disk_read_ops",  "disk_write_ops",
    "net_rx_bytes", "net_tx_bytes",    "net_rx_packets",   "net_tx_packets",
};
#define NCOUNTERS (sizeof(counter_names) / sizeof(counter_names[0]))

/* ----------------------------------------------------------- validation */

/* A metric value: absent or null (-1), or a finite number in [0, max]. */
static int value_get(const json_t *o, const struct metric_def *def, const char *where, double *out,
                     struct nubo_err *err)
{
    json_t *v = json_object_get(o, def->name);
    *out = -1;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return nubo_err_set(err, NUBO_E_INVALID, "'%s.%s' must be a number or null", where,
                            def->name);
    double d = json_number_value(v);
    if (!isfinite(d) || d < 0 || d > def->max)
        return nubo_err_set(err, NUBO_E_INVALID, "'%s.%s' must be from 0 to %g (%s)", where,
                            def->name, def->max, def->unit);
    *out = d;
    return 0;
}

/* Checks that every key of o is name_key or a metric of defs (or
 * "counters" when allowed). */
static int keys_known(const json_t *o, const struct metric_def *defs, size_t n,
                      const char *name_key, bool counters, const char *where, struct nubo_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)o, key, v) {
        bool ok =
            (name_key && strcmp(key, name_key) == 0) || (counters && strcmp(key, "counters") == 0);
        for (size_t i = 0; i < n && !ok; i++)
            ok = strcmp(defs[i].name, key) == 0;
        if (!ok)
            return nubo_err_set(err, NUBO_E_INVALID, "unknown field '%s.%.40s'", where, key);
    }
    return 0;
}

static int counters_check(const json_t *c, const char *where, struct nubo_err *err)
{
    if (c == NULL || json_is_null(c))
        return 0;
    if (!json_is_object(c))
        return nubo_err_set(err, NUBO_E_INVALID, "'%s.counters' must be an object", where);
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)c, key, v) {
        bool ok = false;
        for (size_t i = 0; i < NCOUNTERS && !ok; i++)
            ok = strcmp(counter_names[i], key) == 0;
        if (!ok)
            return nubo_err_set(err, NUBO_E_INVALID, "unknown field '%s.counters.%.40s'", where,
                                key);
        if (!json_is_null(v) && (!json_is_integer(v) || json_integer_value(v) < 0))
            return nubo_err_set(err, NUBO_E_INVALID,
                                "'%s.counters.%s' must be a whole number from 0, or null", where,
                                key);
    }
    return 0;
}

static int int_field(const json_t *o, const char *key, long long min, long long max,
                     const char *where, long long *out, struct nubo_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return nubo_err_set(err, NUBO_E_INVALID, "'%s.%s' must be a whole number from %lld to %lld",
                            where, key, min, max);
    *out = json_integer_value(v);
    return 0;
}

/* Validates the whole batch; counts its VM samples. */
static int batch_check(json_t *body, const char **run, size_t *nsamples, struct nubo_err *err)
{
    *run = json_string_value(json_object_get(body, "agent_run"));
    if (*run == NULL || !valid_token(*run, strlen(*run), 64))
        return nubo_err_set(err, NUBO_E_INVALID,
                            "'agent_run' must be 1 to 64 characters of [A-Za-z0-9._-] that name "
                            "this run of the agent");
    json_t *rounds = json_object_get(body, "rounds");
    if (!json_is_array(rounds) || json_array_size(rounds) > INGEST_MAX_ROUNDS)
        return nubo_err_set(err, NUBO_E_INVALID, "'rounds' must be a list of up to %d rounds",
                            INGEST_MAX_ROUNDS);
    *nsamples = 0;
    long long prev_seq = 0;
    size_t i;
    json_t *r;
    json_array_foreach (rounds, i, r) {
        char where[48];
        snprintf(where, sizeof(where), "rounds[%zu]", i);
        if (!json_is_object(r))
            return nubo_err_set(err, NUBO_E_INVALID, "'%s' must be an object", where);
        const char *key;
        json_t *v;
        json_object_foreach (r, key, v) {
            if (strcmp(key, "seq") != 0 && strcmp(key, "age_ms") != 0 && strcmp(key, "host") != 0 &&
                strcmp(key, "vms") != 0)
                return nubo_err_set(err, NUBO_E_INVALID, "unknown field '%s.%.40s'", where, key);
        }
        long long seq = 0, age = 0;
        if (int_field(r, "seq", 1, INGEST_MAX_SEQ, where, &seq, err) < 0 ||
            int_field(r, "age_ms", 0, INGEST_MAX_AGE_MS, where, &age, err) < 0)
            return -1;
        if (seq <= prev_seq)
            return nubo_err_set(err, NUBO_E_INVALID, "'%s.seq' must grow from round to round",
                                where);
        prev_seq = seq;
        json_t *host = json_object_get(r, "host");
        if (host && !json_is_null(host)) {
            char hw[64];
            snprintf(hw, sizeof(hw), "%s.host", where);
            if (!json_is_object(host))
                return nubo_err_set(err, NUBO_E_INVALID, "'%s' must be an object", hw);
            if (keys_known(host, monitor_host_metrics, monitor_host_nmetrics, NULL, false, hw,
                           err) < 0)
                return -1;
            for (size_t k = 0; k < monitor_host_nmetrics; k++) {
                double d;
                if (value_get(host, &monitor_host_metrics[k], hw, &d, err) < 0)
                    return -1;
            }
        }
        json_t *vms = json_object_get(r, "vms");
        if (!json_is_array(vms) || json_array_size(vms) > INGEST_MAX_VMS)
            return nubo_err_set(err, NUBO_E_INVALID, "'%s.vms' must be a list of up to %d VMs",
                                where, INGEST_MAX_VMS);
        *nsamples += json_array_size(vms);
        if (*nsamples > INGEST_MAX_SAMPLES)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "a batch holds at most %d VM samples: send fewer rounds at once",
                                INGEST_MAX_SAMPLES);
        size_t j;
        json_t *vm;
        json_array_foreach (vms, j, vm) {
            char vw[80];
            snprintf(vw, sizeof(vw), "%s.vms[%zu]", where, j);
            if (!json_is_object(vm))
                return nubo_err_set(err, NUBO_E_INVALID, "'%s' must be an object", vw);
            const char *name = json_string_value(json_object_get(vm, "name"));
            if (name == NULL || strlen(name) > 64)
                return nubo_err_set(err, NUBO_E_INVALID, "'%s.name' must be the VM's name", vw);
            if (keys_known(vm, monitor_instance_metrics, monitor_instance_nmetrics, "name", true,
                           vw, err) < 0 ||
                counters_check(json_object_get(vm, "counters"), vw, err) < 0)
                return -1;
            for (size_t k = 0; k < monitor_instance_nmetrics; k++) {
                double d;
                if (value_get(vm, &monitor_instance_metrics[k], vw, &d, err) < 0)
                    return -1;
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------- storing */

struct placed {
    char id[37];
    char project[37];
};

static int placed_cmp(const void *a, const void *b)
{
    return strcmp(((const struct placed *)a)->id, ((const struct placed *)b)->id);
}

/* The instances placed on the host, sorted by id. */
static struct placed *placed_load(struct store *st, const char *host_id, size_t *n,
                                  struct nubo_err *err)
{
    json_t *rows = store_query(st, err,
                               "SELECT id, project_id FROM instances WHERE host_id = ? AND"
                               " status != 'deleted'",
                               "s", host_id);
    if (rows == NULL)
        return NULL;
    *n = json_array_size(rows);
    struct placed *p = xcalloc(*n + 1, sizeof(*p));
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        str_copy(p[i].id, sizeof(p[i].id), jsonx_str(r, "id"));
        str_copy(p[i].project, sizeof(p[i].project), jsonx_str(r, "project_id"));
    }
    json_decref(rows);
    qsort(p, *n, sizeof(*p), placed_cmp);
    return p;
}

static const struct placed *placed_find(const struct placed *p, size_t n, const char *vm_name)
{
    size_t pl = strlen(AGENT_VM_PREFIX);
    if (strncmp(vm_name, AGENT_VM_PREFIX, pl) != 0 || !valid_is_uuid(vm_name + pl))
        return NULL;
    struct placed key;
    str_copy(key.id, sizeof(key.id), vm_name + pl);
    return bsearch(&key, p, n, sizeof(*p), placed_cmp);
}

static int store_host_sample(struct store *st, const char *host_id, int64_t ts, json_t *host,
                             struct nubo_err *err)
{
    double v[5];
    for (size_t k = 0; k < monitor_host_nmetrics && k < 5; k++)
        value_get(host, &monitor_host_metrics[k], "host", &v[k], NULL);
    return store_exec(st, err,
                      "INSERT INTO host_samples (host_id, ts_ms, cpu, memory_used, memory_total,"
                      " disk_used, disk_total) VALUES (?, ?, NULLIF(?, -1), NULLIF(?, -1),"
                      " NULLIF(?, -1), NULLIF(?, -1), NULLIF(?, -1))"
                      " ON CONFLICT (host_id, ts_ms) DO NOTHING",
                      "siddddd", host_id, (long long)ts, v[0], v[1], v[2], v[3], v[4]) < 0
               ? -1
               : 0;
}

static int store_vm_sample(struct store *st, const struct placed *p, const char *host_id,
                           int64_t ts, json_t *vm, struct nubo_err *err)
{
    double v[10];
    for (size_t k = 0; k < monitor_instance_nmetrics && k < 10; k++)
        value_get(vm, &monitor_instance_metrics[k], "vm", &v[k], NULL);
    if (store_exec(st, err,
                   "INSERT INTO instance_samples (instance_id, project_id, host_id, ts_ms, cpu,"
                   " memory, disk_read_bytes, disk_write_bytes, disk_read_ops, disk_write_ops,"
                   " net_rx_bytes, net_tx_bytes, net_rx_packets, net_tx_packets) VALUES"
                   " (?, ?, ?, ?, NULLIF(?, -1), NULLIF(?, -1), NULLIF(?, -1), NULLIF(?, -1),"
                   " NULLIF(?, -1), NULLIF(?, -1), NULLIF(?, -1), NULLIF(?, -1), NULLIF(?, -1),"
                   " NULLIF(?, -1)) ON CONFLICT (instance_id, ts_ms) DO NOTHING",
                   "sssidddddddddd", p->id, p->project, host_id, (long long)ts, v[0], v[1], v[2],
                   v[3], v[4], v[5], v[6], v[7], v[8], v[9]) < 0)
        return -1;
    long long c[NCOUNTERS];
    json_t *cj = json_object_get(vm, "counters");
    for (size_t k = 0; k < NCOUNTERS; k++) {
        json_t *x = json_object_get(cj, counter_names[k]);
        c[k] = json_is_integer(x) ? json_integer_value(x) : -1;
    }
    return store_exec(st, err,
                      "INSERT INTO instance_metrics_latest (instance_id, project_id, host_id,"
                      " ts_ms, cpu, memory, cpu_ns_total, disk_read_bytes_total,"
                      " disk_write_bytes_total, disk_read_ops_total, disk_write_ops_total,"
                      " net_rx_bytes_total, net_tx_bytes_total, net_rx_packets_total,"
                      " net_tx_packets_total) VALUES (?, ?, ?, ?, NULLIF(?, -1), NULLIF(?, -1),"
                      " NULLIF(?, -1), NULLIF(?, -1), NULLIF(?, -1), NULLIF(?, -1), NULLIF(?, -1),"
                      " NULLIF(?, -1), NULLIF(?, -1), NULLIF(?, -1), NULLIF(?, -1))"
                      " ON CONFLICT (instance_id) DO UPDATE SET project_id = excluded.project_id,"
                      " host_id = excluded.host_id, ts_ms = excluded.ts_ms, cpu = excluded.cpu,"
                      " memory = excluded.memory, cpu_ns_total = excluded.cpu_ns_total,"
                      " disk_read_bytes_total = excluded.disk_read_bytes_total,"
                      " disk_write_bytes_total = excluded.disk_write_bytes_total,"
                      " disk_read_ops_total = excluded.disk_read_ops_total,"
                      " disk_write_ops_total = excluded.disk_write_ops_total,"
                      " net_rx_bytes_total = excluded.net_rx_bytes_total,"
                      " net_tx_bytes_total = excluded.net_tx_bytes_total,"
                      " net_rx_packets_total = excluded.net_rx_packets_total,"
                      " net_tx_packets_total = excluded.net_tx_packets_total"
                      " WHERE excluded.ts_ms >= instance_metrics_latest.ts_ms",
                      "sssiddiiiiiiiii", p->id, p->project, host_id, (long long)ts, v[0], v[1],
                      c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]) < 0
               ? -1
               : 0;
}

json_t *monitor_ingest(struct monitor *m, const char *host_id, json_t *body, struct nubo_err *err)
{
    struct store *st = m->st;
    const char *run;
    size_t nsamples;
    if (batch_check(body, &run, &nsamples, err) < 0)
        return NULL;
    json_t *rounds = json_object_get(body, "rounds");
    struct placed *placed = NULL;
    size_t nplaced = 0;
    long long stored_rounds = 0, stored = 0, skipped = 0, ignored = 0;
    struct nubo_err qerr;
    int64_t now = clock_now_ms();
    if (store_begin(st, true, err) < 0)
        return NULL;
    json_t *cur = store_query_one(
        st, &qerr, "SELECT agent_run, seq FROM host_metric_cursors WHERE host_id = ?", "s",
        host_id);
    if (cur == NULL && qerr.code != NUBO_E_NOTFOUND) {
        *err = qerr;
        goto fail;
    }
    long long last_seq =
        cur && strcmp(jsonx_str(cur, "agent_run"), run) == 0 ? monitor_jint(cur, "seq") : 0;
    json_decref(cur);
    placed = placed_load(st, host_id, &nplaced, err);
    if (placed == NULL)
        goto fail;
    long long max_seq = last_seq;
    size_t i;
    json_t *r;
    json_array_foreach (rounds, i, r) {
        long long seq = monitor_jint(r, "seq");
        long long age = monitor_jint(r, "age_ms");
        if (seq <= last_seq || age >= m->cfg.raw_retention_ms) {
            skipped++;
            continue;
        }
        max_seq = seq;
        int64_t ts = now - age;
        json_t *host = json_object_get(r, "host");
        if (json_is_object(host) && store_host_sample(st, host_id, ts, host, err) < 0)
            goto fail;
        size_t j;
        json_t *vm;
        json_array_foreach (json_object_get(r, "vms"), j, vm) {
            const struct placed *p =
                placed_find(placed, nplaced, json_string_value(json_object_get(vm, "name")));
            if (p == NULL) {
                ignored++;
                continue;
            }
            if (store_vm_sample(st, p, host_id, ts, vm, err) < 0)
                goto fail;
            stored++;
        }
        stored_rounds++;
    }
    if (max_seq != last_seq || stored_rounds > 0) {
        if (store_exec(st, err,
                       "INSERT INTO host_metric_cursors (host_id, agent_run, seq) VALUES (?, ?, ?)"
                       " ON CONFLICT (host_id) DO UPDATE SET agent_run = excluded.agent_run,"
                       " seq = excluded.seq",
                       "ssi", host_id, run, max_seq) < 0)
            goto fail;
    }
    if (store_commit(st, err) < 0)
        goto done_fail;
    free(placed);
    atomic_fetch_add(&m->rounds_ingested, stored_rounds);
    atomic_fetch_add(&m->samples_ingested, stored);
    if (stored_rounds == 0 && skipped > 0)
        atomic_fetch_add(&m->batches_duplicate, 1);
    if (stored_rounds > 0)
        monitor_kick(m);
    return json_pack("{s:I, s:I, s:I, s:I}", "rounds", (json_int_t)stored_rounds, "samples",
                     (json_int_t)stored, "skipped_rounds", (json_int_t)skipped, "ignored_vms",
                     (json_int_t)ignored);
fail:
    store_rollback(st);
done_fail:
    free(placed);
    return NULL;
}
