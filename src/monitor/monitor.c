/*
 * monitor.c - the monitor's runtime: its threads and their wake-ups, the
 * scrape token, and the registry of internal alarm hooks; see monitor.h.
 *
 * The evaluator thread runs a pass (housekeeping, then alarms) every
 * cfg.eval_ms, and sooner when kicked after new samples or an alarm
 * change, but never more often than once per MONITOR_MIN_PASS_MS.
 *
 * The scrape token is a secret like the join token: nubod writes it to
 * <state-dir>/metrics-token (0600) the first time and keeps only its
 * SHA-256 (monitor_kv 'scrape_token_hash').  Deleting the file and
 * restarting nubod makes a new one.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/valid.h"
#include "monitor/monitor_int.h"

#define MONITOR_MIN_PASS_MS 1000
#define MONITOR_MAX_HOOKS 32
#define SCRAPE_TOKEN_PREFIX "nubometrics_"

void monitor_cfg_defaults(struct monitor_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->raw_retention_ms = 86400000LL;
    cfg->rollup_retention_ms = 30LL * 86400000LL;
    cfg->eval_ms = 5000;
}

/* --------------------------------------------------------------- hooks */

struct hook {
    char name[64];
    monitor_alarm_hook_fn fn;
    void *ctx;
};

static pthread_mutex_t hooks_mu = PTHREAD_MUTEX_INITIALIZER;
static struct hook hooks[MONITOR_MAX_HOOKS];

static int log_hook(void *ctx, const struct monitor_alarm_event *ev, struct nubo_err *err)
{
    (void)ctx;
    (void)err;
    log_info("alarm hook log: alarm %s (%s) of project %s: %s -> %s (%s)", ev->alarm_name,
             ev->alarm_id, ev->project_id, ev->old_state, ev->new_state, ev->reason);
    return 0;
}

/* The slot of name, or of the built-in "log". Called with hooks_mu held. */
static struct hook *hook_slot(const char *name)
{
    if (hooks[0].fn == NULL) {
        str_copy(hooks[0].name, sizeof(hooks[0].name), "log");
        hooks[0].fn = log_hook;
    }
    for (size_t i = 0; i < MONITOR_MAX_HOOKS; i++)
        if (hooks[i].fn && strcmp(hooks[i].name, name) == 0)
            return &hooks[i];
    return NULL;
}

int monitor_alarm_hook_register(const char *name, monitor_alarm_hook_fn fn, void *ctx,
                                struct nubo_err *err)
{
    if (valid_name(name, "hook name", err) < 0)
        return -1;
    if (fn == NULL)
        return nubo_err_set(err, NUBO_E_INVALID, "a hook needs a function");
    pthread_mutex_lock(&hooks_mu);
    struct hook *h = hook_slot(name);
    for (size_t i = 0; h == NULL && i < MONITOR_MAX_HOOKS; i++)
        if (hooks[i].fn == NULL)
            h = &hooks[i];
    if (h) {
        str_copy(h->name, sizeof(h->name), name);
        h->fn = fn;
        h->ctx = ctx;
    }
    pthread_mutex_unlock(&hooks_mu);
    if (h == NULL)
        return nubo_err_set(err, NUBO_E_CAPACITY, "at most %d alarm hooks", MONITOR_MAX_HOOKS);
    return 0;
}

void monitor_alarm_hook_unregister(const char *name)
{
    pthread_mutex_lock(&hooks_mu);
    struct hook *h = hook_slot(name);
    if (h)
        memset(h, 0, sizeof(*h));
    pthread_mutex_unlock(&hooks_mu);
}

bool monitor_alarm_hook_exists(const char *name)
{
    pthread_mutex_lock(&hooks_mu);
    bool found = hook_slot(name) != NULL;
    pthread_mutex_unlock(&hooks_mu);
    return found;
}

int monitor_hook_run(const char *name, const struct monitor_alarm_event *ev, struct nubo_err *err)
{
    pthread_mutex_lock(&hooks_mu);
    struct hook *h = hook_slot(name);
    struct hook copy = h ? *h : (struct hook){0};
    pthread_mutex_unlock(&hooks_mu);
    if (copy.fn == NULL)
        return nubo_err_set(err, NUBO_E_NOTFOUND, "no hook '%s' is registered", name);
    nubo_err_clear(err);
    if (copy.fn(copy.ctx, ev, err) < 0) {
        if (err->msg[0] == '\0')
            nubo_err_set(err, NUBO_E_INTERNAL, "it failed");
        return -1;
    }
    return 0;
}

/* --------------------------------------------------------- scrape token */

static int scrape_token_setup(struct monitor *m, struct nubo_err *err)
{
    if (m->cfg.state_dir[0] == '\0')
        return 0;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/metrics-token", m->cfg.state_dir);
    struct nubo_err rerr;
    char *tok = fs_read_file(path, 4096, NULL, &rerr);
    char fresh[CRYPTO_SECRET_LEN];
    if (tok == NULL) {
        crypto_secret_new(SCRAPE_TOKEN_PREFIX, fresh, sizeof(fresh));
        char line[CRYPTO_SECRET_LEN + 2];
        snprintf(line, sizeof(line), "%s\n", fresh);
        int r = fs_write_atomic(path, line, strlen(line), 0600, err);
        explicit_bzero(line, sizeof(line));
        if (r < 0) {
            explicit_bzero(fresh, sizeof(fresh));
            return -1;
        }
        tok = xstrdup(fresh);
        explicit_bzero(fresh, sizeof(fresh));
        log_info("metrics scrape token written to %s", path);
    }
    tok[strcspn(tok, "\r\n")] = '\0';
    crypto_sha256_hex(tok, strlen(tok), m->scrape_hash);
    bool ok = strncmp(tok, SCRAPE_TOKEN_PREFIX, strlen(SCRAPE_TOKEN_PREFIX)) == 0;
    explicit_bzero(tok, strlen(tok));
    free(tok);
    if (!ok) {
        m->scrape_hash[0] = '\0';
        log_warn("%s does not hold a nubo scrape token: /metrics takes user tokens only", path);
        return 0;
    }
    /* The token works from memory; the row only records it.  A full disk
     * (a read-only store) must not keep nubod from starting. */
    if (store_exec(m->st, err,
                   "INSERT INTO monitor_kv (key, text_value) VALUES ('scrape_token_hash', ?)"
                   " ON CONFLICT (key) DO UPDATE SET text_value = excluded.text_value",
                   "s", m->scrape_hash) < 0) {
        if (err->code != NUBO_E_STORAGE_FULL)
            return -1;
        log_warn("the disk is full: the scrape token's hash is not recorded in the store");
        nubo_err_clear(err);
    }
    return 0;
}

/* -------------------------------------------------------------- threads */

void monitor_run_once(struct monitor *m)
{
    struct nubo_err err;
    int64_t now = clock_now_ms();
    if (monitor_housekeep(m, now, &err) < 0)
        log_warn("monitor: housekeeping failed: %s", err.msg);
    monitor_alarms_evaluate(m, now);
}

static void *eval_loop(void *arg)
{
    struct monitor *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->stopping) {
        m->kicked = false;
        pthread_mutex_unlock(&m->mu);
        int64_t started = clock_mono_ms();
        monitor_run_once(m);
        pthread_mutex_lock(&m->mu);
        /* Kicks that came during the pass wait for the minimum gap. */
        struct timespec ts;
        int64_t gap = MONITOR_MIN_PASS_MS - (clock_mono_ms() - started);
        if (gap > 0) {
            clock_mono_deadline(&ts, gap);
            while (!m->stopping)
                if (pthread_cond_timedwait(&m->cv, &m->mu, &ts) == ETIMEDOUT)
                    break;
        }
        if (m->kicked || m->stopping)
            continue;
        clock_mono_deadline(&ts, m->cfg.eval_ms - MONITOR_MIN_PASS_MS > 0
                                     ? m->cfg.eval_ms - MONITOR_MIN_PASS_MS
                                     : 0);
        while (!m->kicked && !m->stopping)
            if (pthread_cond_timedwait(&m->cv, &m->mu, &ts) == ETIMEDOUT)
                break;
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

struct monitor *monitor_start(const struct monitor_cfg *cfg, struct store *st, struct nubo_err *err)
{
    struct monitor *m = xcalloc(1, sizeof(*m));
    m->cfg = *cfg;
    if (m->cfg.raw_retention_ms <= 0)
        m->cfg.raw_retention_ms = 86400000LL;
    if (m->cfg.rollup_retention_ms < m->cfg.raw_retention_ms)
        m->cfg.rollup_retention_ms = m->cfg.raw_retention_ms;
    if (m->cfg.eval_ms < MONITOR_MIN_PASS_MS)
        m->cfg.eval_ms = MONITOR_MIN_PASS_MS;
    m->st = st;
    if (addrguard_parse(&m->guard, m->cfg.webhook_allow, err) < 0) {
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* waits ignore wall-clock jumps */
    pthread_cond_init(&m->cv, &ca);
    pthread_cond_init(&m->wh_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot initialize libcurl");
        goto fail_curl;
    }
    monitor_alarm_hook_exists("log"); /* installs the built-in hook */
    if (scrape_token_setup(m, err) < 0)
        goto fail;
    monitor_webhook_resume(m);
    if (pthread_create(&m->wh_thread, NULL, monitor_webhook_thread, m) != 0) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot start the webhook thread");
        goto fail;
    }
    m->wh_started = true;
    if (pthread_create(&m->eval_thread, NULL, eval_loop, m) != 0) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot start the alarm evaluator thread");
        goto fail;
    }
    m->eval_started = true;
    log_info("monitor: raw samples kept %lld h, 5-minute rollups %lld days; alarms evaluated "
             "every %d ms",
             (long long)(m->cfg.raw_retention_ms / 3600000),
             (long long)(m->cfg.rollup_retention_ms / 86400000), m->cfg.eval_ms);
    return m;
fail:
    monitor_stop(m);
    return NULL;
fail_curl:
    pthread_cond_destroy(&m->wh_cv);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m);
    return NULL;
}

void monitor_kick(struct monitor *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    m->kicked = true;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

void monitor_stop(struct monitor *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mu);
    m->stopping = true;
    pthread_cond_broadcast(&m->cv);
    pthread_cond_broadcast(&m->wh_cv);
    pthread_mutex_unlock(&m->mu);
    if (m->eval_started)
        pthread_join(m->eval_thread, NULL);
    if (m->wh_started)
        pthread_join(m->wh_thread, NULL);
    monitor_webhook_queue_free(m);
    pthread_cond_destroy(&m->wh_cv);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    curl_global_cleanup();
    free(m);
}

int monitor_project_purge(struct store *st, const char *project_id, const char *name,
                          struct strv *files, void *arg, struct nubo_err *err)
{
    (void)name;
    (void)files;
    (void)arg;
    if (store_exec(st, err, "DELETE FROM instance_samples WHERE project_id = ?", "s", project_id) <
            0 ||
        store_exec(st, err, "DELETE FROM metric_rollups WHERE kind = 'instance' AND project_id = ?",
                   "s", project_id) < 0 ||
        store_exec(st, err, "DELETE FROM instance_metrics_latest WHERE project_id = ?", "s",
                   project_id) < 0)
        return -1;
    return 0;
}
