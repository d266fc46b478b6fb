/*
 * monitor_int.h - what the files of src/monitor share; not for other
 * modules (their interface is monitor.h).
 *
 *   monitor.c   the runtime: threads, kicks, the scrape token, hooks
 *   metrics.c   the metric catalog, time parsing, series queries
 *   ingest.c    POST /v1/hosts/{id}/metrics -> rows
 *   rollup.c    5-minute rollups and retention
 *   expo.c      the Prometheus text exposition
 *   alarm.c     alarm CRUD and evaluation
 *   webhook.c   webhook delivery (its own thread, libcurl)
 */
#ifndef NUBO_MONITOR_INT_H
#define NUBO_MONITOR_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "lib/addrguard.h"
#include "lib/crypto.h"
#include "monitor/monitor.h"
#include "lib/jsonx.h" /* jsonx_str(): a row's string or "" */

#define MONITOR_ROLLUP_MS (5 * 60 * 1000LL)
/* A 5-minute bucket is rolled up once it ended this long ago, so samples
 * that arrive a little late (an agent's queue after a network blip) are
 * still in it. */
#define MONITOR_ROLLUP_GRACE_MS (2 * 60 * 1000LL)
/* /metrics shows an instance's last sample while it is younger than this. */
#define MONITOR_STALE_MS (5 * 60 * 1000LL)

/* ------------------------------------------------------------ catalog */

struct metric_def {
    const char *name; /* API name, also the column of the samples table */
    const char *unit; /* "percent", "bytes", "bytes/s", "ops/s", "packets/s" */
    const char *prom; /* Prometheus gauge name, or NULL */
    const char *help; /* one line for # HELP and the docs */
    double max;       /* largest valid value */
    double prom_div;  /* value / prom_div is what Prometheus gets */
};

extern const struct metric_def monitor_instance_metrics[];
extern const size_t monitor_instance_nmetrics;
extern const struct metric_def monitor_host_metrics[];
extern const size_t monitor_host_nmetrics;

/* The metric called name for kind (projects have the instances' metrics),
 * or NULL. */
const struct metric_def *monitor_metric_find(enum monitor_kind kind, const char *name);

/* Parses an RFC 3339 UTC time, "now" or "-<N>s|m|h|d" (relative to now).
 * Returns 0 and *out (Unix ms), or -1. */
int monitor_time_parse(const char *s, int64_t now_ms, int64_t *out);

/* ------------------------------------------------------------ runtime */

struct webhook_job;

struct monitor {
    struct monitor_cfg cfg;
    struct store *st;
    struct addrguard guard;              /* where webhooks may connect (cfg.webhook_allow) */
    char scrape_hash[CRYPTO_SHA256_HEX]; /* "" = no scrape token */

    pthread_mutex_t mu;
    pthread_cond_t cv; /* evaluator wake-ups */
    bool stopping, kicked;
    pthread_t eval_thread;
    bool eval_started;

    /* webhook queue, oldest first (webhook.c); guarded by mu */
    pthread_cond_t wh_cv;
    struct webhook_job *wh_head, *wh_tail;
    int wh_len;
    pthread_t wh_thread;
    bool wh_started;

    /* self-metrics for /metrics */
    atomic_llong rounds_ingested, samples_ingested, batches_duplicate;
    atomic_llong webhooks_delivered, webhooks_failed, evaluations;
};

/* Rolls complete 5-minute buckets up and drops what is past retention
 * (rollup.c).  Returns 0 or -1 with err (nothing half done). */
int monitor_housekeep(struct monitor *m, int64_t now_ms, struct nubo_err *err);

/* Evaluates every alarm at now_ms (alarm.c). */
void monitor_alarms_evaluate(struct monitor *m, int64_t now_ms);

/* Runs the hook called name for ev (monitor.c).  -1 with err when it is
 * not registered or fails. */
int monitor_hook_run(const char *name, const struct monitor_alarm_event *ev, struct nubo_err *err);

/* Validates a webhook URL: http:// or https://, a host name or address, an
 * optional port, a printable path; no credentials; at most 2048 bytes; a
 * literal address must be one m's guard allows (lib/addrguard.h). */
int monitor_webhook_url_valid(const struct monitor *m, const char *url, struct nubo_err *err);

/* Queues a delivery of history row history_id (webhook.c); attempts is how
 * many were made before (a resumed delivery). */
void monitor_webhook_enqueue(struct monitor *m, const char *history_id, const char *alarm_id,
                             const char *url, const char *payload, int attempts);

/* Queues the deliveries the store holds as pending (at start). */
void monitor_webhook_resume(struct monitor *m);

/* The webhook thread (webhook.c). */
void *monitor_webhook_thread(void *arg);

/* Frees the queue (after the thread ended). */
void monitor_webhook_queue_free(struct monitor *m);

/* Appends a history row to an alarm inside the caller's transaction (or
 * alone), with the next seq.  id receives the row's id.  Returns 0 or -1. */
int monitor_history_add(struct store *st, const char *alarm_id, const char *kind,
                        const char *old_state, const char *new_state, const double *value,
                        const char *detail, const char *webhook_status, const char *payload,
                        char id[37], struct nubo_err *err);

/* JSON helpers. */
long long monitor_jint(const json_t *o, const char *key); /* 0 when absent */

#endif
