/*
 * monitor.h - metrics (time series), Prometheus exposition, alarms.
 *
 * Host agents sample their VMs and themselves every few seconds and send
 * the samples in batches ("rounds") to POST /v1/hosts/{id}/metrics;
 * monitor_ingest() stores them as time series in the store.  A background
 * thread of the controller (started by ctrl_start()) then, every pass:
 *   - rolls raw samples up into 5-minute buckets once a bucket is complete,
 *   - drops raw samples past the raw retention and buckets past the rollup
 *     retention,
 *   - evaluates every alarm and, on a state change, records it in the
 *     alarm's history, runs its internal hook and queues its webhook,
 * and a second thread delivers webhooks (HTTP POST, retried with back-off).
 *
 * Everything that compares wall-clock time asks clock_now_ms() (lib/clock.h),
 * so tests move time with NUBO_FAKE_CLOCK_FILE; the threads themselves wake
 * on the monotonic clock.  The metric names, units, the wire format of
 * rounds, retention and alarm semantics are in docs/internals/monitoring.md.
 *
 * Services take the caller's ctx and scope tenant data by ctx->project_id in
 * their queries (an instance or alarm of another project is
 * NUBO_E_NOTFOUND, like a missing one); host series are admin-only.
 * Returned JSON values are new references owned by the caller.
 */
#ifndef NUBO_MONITOR_H
#define NUBO_MONITOR_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "identity/identity.h"
#include "lib/err.h"
#include "store/store.h"

/* ------------------------------------------------------------- runtime */

struct monitor_cfg {
    char state_dir[PATH_MAX];    /* holds metrics-token, the scrape token (0600) */
    int64_t raw_retention_ms;    /* raw samples kept this long (default 1 day) */
    int64_t rollup_retention_ms; /* 5-minute buckets kept this long (default 30 days) */
    int eval_ms;                 /* alarm evaluation / housekeeping pass (default 5000) */
    /* Non-public address ranges webhooks may reach anyway (CIDRs, comma-
     * separated; lib/addrguard.h); "" = public addresses only. */
    char webhook_allow[512];
};

/* Fills cfg with the defaults above (state_dir empty: no scrape token). */
void monitor_cfg_defaults(struct monitor_cfg *cfg);

struct monitor;

/* Creates the scrape token file if it is missing, resumes webhook
 * deliveries left pending by an earlier run, and starts the evaluator and
 * webhook threads.  Returns NULL with err on failure. */
struct monitor *monitor_start(const struct monitor_cfg *cfg, struct store *st,
                              struct nubo_err *err);

/* Asks for an evaluation pass soon (after new samples); passes are at
 * least a second apart.  NULL is fine. */
void monitor_kick(struct monitor *m);

/* One housekeeping + evaluation pass on the calling thread (tests). */
void monitor_run_once(struct monitor *m);

/* Stops the threads (webhooks in flight are abandoned; pending ones resume
 * at the next start) and frees m.  NULL is fine. */
void monitor_stop(struct monitor *m);

/* ----------------------------------------------------------- ingestion */

/* Stores a batch of samples sent by host host_id (the authenticated host):
 * {agent_run, rounds:[{seq, age_ms, host:{...}, vms:[{name, ...}]}]}
 * (borrowed; docs/internals/monitoring.md).  Rounds at or below the host's
 * last stored seq of the same agent run are skipped (a resent batch), VMs
 * that are not instances placed on this host are ignored.  All or nothing:
 * an invalid batch is NUBO_E_INVALID and stores nothing.  Returns
 * {rounds, samples, skipped_rounds, ignored_vms} or NULL with err. */
json_t *monitor_ingest(struct monitor *m, const char *host_id, json_t *body, struct nubo_err *err);

/* ------------------------------------------------------------- queries */

enum monitor_kind { MONITOR_INSTANCE, MONITOR_HOST, MONITOR_PROJECT };

struct monitor_query {
    char metric[32];
    int64_t start_ms, end_ms; /* [start, end); start aligned down to step */
    int64_t step_ms;
};

/* Reads the query of a series request (each string may be NULL: default).
 * metric: a metric of `kind` (default "cpu").  start, end: RFC 3339 UTC
 * ("2026-11-26T15:04:05Z", optional fraction), "now", or a time ago such as
 * "-90s", "-15m", "-2h", "-7d" (defaults: -1h and now).  step: whole
 * seconds 1..86400 (default: the range / 120, at least 1 s).  At most
 * MONITOR_MAX_POINTS steps per range.  NUBO_E_INVALID says what is wrong. */
#define MONITOR_MAX_POINTS 10000
int monitor_query_parse(enum monitor_kind kind, const char *metric, const char *start,
                        const char *end, const char *step, int64_t now_ms, struct monitor_query *q,
                        struct nubo_err *err);

/* A series: {<instance_id|host_id|project_id>, metric, unit, step, resolution,
 * points:[{t, avg, min, max, count}]} with one point per step that has data
 * (t is the step's start).  Project points are aggregates across the
 * project's instances of each instance's average in the step: {t, sum, avg,
 * min, max, instances}.  resolution says where data came from: "raw",
 * "5m" (rollups, for ranges older than the raw retention) or "mixed". */
json_t *monitor_instance_series(struct monitor *m, const struct ctx *ctx, const char *instance_id,
                                const struct monitor_query *q, struct nubo_err *err);
json_t *monitor_host_series(struct monitor *m, const struct ctx *ctx, const char *host_ref,
                            const struct monitor_query *q, struct nubo_err *err);
json_t *monitor_project_series(struct monitor *m, const struct ctx *ctx,
                               const struct monitor_query *q, struct nubo_err *err);

/* --------------------------------------------------------- exposition */

/* True when auth ("Bearer ...") carries the scrape token of
 * <state_dir>/metrics-token, which may read /metrics and nothing else. */
bool monitor_scrape_token_ok(struct monitor *m, const char *auth);

/* The Prometheus text exposition (format 0.0.4) of the cloud (ctx NULL or a
 * cloud admin) or of ctx's project (its instances only).  Returns a
 * malloc'd text and its length, or NULL with err. */
char *monitor_exposition(struct monitor *m, const struct ctx *ctx, size_t *len,
                         struct nubo_err *err);

/* -------------------------------------------------------------- alarms */

/* Fills used[QUOTA_ALARMS] with project_id's alarms (the quota routes'
 * usage).  monitor_alarm_create() checks the quota in its transaction.
 * 0, or -1 with err. */
int monitor_quota_usage(struct store *st, const char *project_id, long long used[QUOTA_DIMS],
                        struct nubo_err *err);

/* Alarm bodies (validated here; unknown fields are the API layer's):
 *   {name, description?, metric, instance? (id; absent or null: the
 *    project's aggregate), statistic: avg|max|min, comparison: gt|ge|lt|le,
 *    threshold, window_s 1..86400, evaluation_periods? 1..100 (default 1;
 *    window_s * periods <= raw retention), webhook_url? (http:// or
 *    https://), hook? (a registered internal hook)}
 * A new alarm is INSUFFICIENT_DATA until evaluated.  Updates take any
 * subset but name and instance. */
json_t *monitor_alarm_create(struct monitor *m, const struct ctx *ctx, json_t *body,
                             struct nubo_err *err);
json_t *monitor_alarm_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                           struct nubo_err *err);
json_t *monitor_alarm_get(struct store *st, const struct ctx *ctx, const char *id,
                          struct nubo_err *err);
json_t *monitor_alarm_update(struct monitor *m, const struct ctx *ctx, const char *id, json_t *body,
                             struct nubo_err *err);
int monitor_alarm_delete(struct store *st, const struct ctx *ctx, const char *id,
                         struct nubo_err *err);

/* The alarm's history, oldest first: [{id, at, kind: state|webhook|hook,
 * old_state, new_state, value, detail, webhook_status, attempts}]. */
json_t *monitor_alarm_history(struct store *st, const struct ctx *ctx, const char *id, int limit,
                              const char *marker, struct nubo_err *err);

/* ------------------------------------------------------ internal hooks */

/* What a hook is told when an alarm changes state. */
struct monitor_alarm_event {
    const char *alarm_id, *alarm_name, *project_id;
    const char *metric;
    const char *instance_id; /* NULL: the project's aggregate */
    const char *old_state, *new_state;
    const char *reason;
    bool has_value;
    double value; /* the statistic of the latest period, when has_value */
    int64_t at_ms;
};

/* A hook returns 0, or -1 with a message in err (recorded in the alarm's
 * history).  It runs on the evaluator thread after the state change is
 * committed, outside any transaction: it must be quick and must not wait
 * for the network (queue the work instead). */
typedef int (*monitor_alarm_hook_fn)(void *ctx, const struct monitor_alarm_event *ev,
                                     struct nubo_err *err);

/* Registers an internal hook under name (a valid_name()); alarms name it in
 * their "hook".  The built-in hook "log" logs the change.  Registering a
 * name again replaces it.  Returns -1 with err for a bad name or when the
 * registry (32 hooks) is full.  Thread-safe. */
int monitor_alarm_hook_register(const char *name, monitor_alarm_hook_fn fn, void *ctx,
                                struct nubo_err *err);

/* Removes a hook; alarms naming it then record "hook not registered". */
void monitor_alarm_hook_unregister(const char *name);

/* True when a hook of that name is registered. */
bool monitor_alarm_hook_exists(const char *name);

/* Project project_id is being deleted (an identity_project_delete_fn, in
 * the caller's transaction): its instances' samples, roll-ups and latest
 * values go (they carry project_id without a foreign key: host rows have
 * none; alarms cascade).  0 or -1 with err. */
struct strv;
int monitor_project_purge(struct store *st, const char *project_id, const char *name,
                          struct strv *files, void *arg, struct nubo_err *err);

#endif
