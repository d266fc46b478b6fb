/*
 * webhook.c - delivery of alarm webhooks, on a thread of its own so that a
 * slow receiver never delays alarm evaluation.
 *
 * A delivery is an HTTP POST of the state change's JSON (the payload kept
 * in its history row) with Content-Type application/json, User-Agent
 * nubo/VERSION and X-Nubo-Alarm-Id.  Any 2xx answer is success.  Otherwise
 * it is tried again after 1, 2, 4 and 8 s (WEBHOOK_ATTEMPTS in all), then
 * given up.  The outcome goes to the history row (webhook_status,
 * attempts) and to a "webhook" history entry.  Deliveries of one alarm
 * leave in the order of its state changes: a later one waits while an
 * earlier one is being retried.
 *
 * Retries wait on the monotonic clock (a fake wall clock does not stall
 * them).  The queue lives in memory; the history rows are the record, and
 * monitor_webhook_resume() re-queues rows still pending at start, so a
 * restart of nubod delivers them (at least once).
 *
 * Receivers: redirects are not followed, answers are read up to 64 KiB and
 * dropped, a delivery takes at most 5 s.  Only public addresses are
 * connected to, unless the operator allow-lists ranges (lib/addrguard.h:
 * loopback, private, link-local, multicast... are refused when connecting,
 * whatever name resolved to them, and literal ones already when the URL
 * is given).  Every failure to get an HTTP answer is recorded with the
 * same words, so the history cannot serve as a port scanner.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "lib/log.h"
#include "lib/util.h"
#include "monitor/monitor_int.h"

#define WEBHOOK_ATTEMPTS 5
#define WEBHOOK_QUEUE_MAX 1000
#define WEBHOOK_TIMEOUT_MS 5000L
#define WEBHOOK_URL_MAX 2048
#define WEBHOOK_MAX_ANSWER (64 * 1024)

struct webhook_job {
    char history_id[37];
    char alarm_id[37];
    char *url, *payload;
    int attempts;
    int64_t due_mono; /* when the next attempt may start */
    struct webhook_job *next;
};

/* -------------------------------------------------------------- URLs */

int monitor_webhook_url_valid(const struct monitor *m, const char *url, struct nubo_err *err)
{
    static const char hint[] = "'webhook_url' must be an http:// or https:// URL such as "
                               "http://hooks.example.com:8080/alarm";
    size_t n = strlen(url);
    if (n > WEBHOOK_URL_MAX)
        return nubo_err_set(err, NUBO_E_INVALID, "'webhook_url' is longer than %d bytes",
                            WEBHOOK_URL_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= ' ' || (unsigned char)url[i] >= 0x7f)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "'webhook_url' must not hold spaces, control or non-ASCII "
                                "characters (percent-encode them)");
    const char *h;
    if (strncmp(url, "http://", 7) == 0)
        h = url + 7;
    else if (strncmp(url, "https://", 8) == 0)
        h = url + 8;
    else
        return nubo_err_set(err, NUBO_E_INVALID, "%s", hint);
    size_t hl = strcspn(h, "/?#");
    if (hl == 0)
        return nubo_err_set(err, NUBO_E_INVALID, "%s", hint);
    if (memchr(h, '@', hl))
        return nubo_err_set(err, NUBO_E_INVALID,
                            "'webhook_url' must not carry credentials (user:password@)");
    /* host: a name, an IPv4 address or [IPv6]; then an optional :port */
    const char *p = h, *end = h + hl;
    if (*p == '[') {
        const char *close = memchr(p, ']', hl);
        if (close == NULL || close == p + 1)
            return nubo_err_set(err, NUBO_E_INVALID, "%s", hint);
        for (const char *q = p + 1; q < close; q++)
            if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') ||
                  (*q >= 'A' && *q <= 'F') || *q == ':' || *q == '.'))
                return nubo_err_set(err, NUBO_E_INVALID, "%s", hint);
        p = close + 1;
    } else {
        const char *q = p;
        while (q < end && *q != ':') {
            char c = *q;
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-'))
                return nubo_err_set(err, NUBO_E_INVALID, "%s", hint);
            q++;
        }
        if (q == p || *p == '.' || *p == '-')
            return nubo_err_set(err, NUBO_E_INVALID, "%s", hint);
        p = q;
    }
    if (p < end) {
        if (*p != ':' || p + 1 == end || end - p > 6)
            return nubo_err_set(err, NUBO_E_INVALID, "%s", hint);
        long port = 0;
        for (const char *q = p + 1; q < end; q++) {
            if (*q < '0' || *q > '9')
                return nubo_err_set(err, NUBO_E_INVALID, "%s", hint);
            port = port * 10 + (*q - '0');
        }
        if (port < 1 || port > 65535)
            return nubo_err_set(err, NUBO_E_INVALID, "'webhook_url': the port must be 1 to 65535");
    }
    size_t host_len =
        (*h == '[') ? (size_t)((const char *)memchr(h, ']', hl) - h) + 1 : strcspn(h, ":/?#");
    char host[256];
    if (host_len >= sizeof(host))
        return 0; /* a long name: judged where it is connected to */
    memcpy(host, h, host_len);
    host[host_len] = 0;
    return addrguard_check_literal(m ? &m->guard : NULL, host, "'webhook_url'", err);
}

/* Connects only where the guard allows (addrguard.h), judged on the
 * address libcurl is about to connect to: every address a name resolves
 * to passes here, so a name cannot smuggle a private address in. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    const struct addrguard *g = clientp;
    (void)purpose;
    if (!addrguard_allows(g, &a->addr))
        return CURL_SOCKET_BAD;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t on_answer(char *data, size_t size, size_t nmemb, void *userdata)
{
    size_t *got = userdata;
    size_t len = size * nmemb;
    (void)data;
    if (*got + len > WEBHOOK_MAX_ANSWER)
        return 0;
    *got += len;
    return len;
}

/* One attempt.  Returns the HTTP status (2xx = delivered), or 0 with why
 * in msg. */
static long deliver(const struct monitor *m, const struct webhook_job *j, char *msg, size_t n)
{
    CURL *c = curl_easy_init();
    if (c == NULL) {
        snprintf(msg, n, "cannot initialize libcurl");
        return 0;
    }
    struct curl_slist *h = NULL;
    char idh[80];
    snprintf(idh, sizeof(idh), "X-Nubo-Alarm-Id: %s", j->alarm_id);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    h = curl_slist_append(h, idh);
    size_t got = 0;
    curl_easy_setopt(c, CURLOPT_URL, j->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "nubo/" NUBO_VERSION);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, j->payload);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, WEBHOOK_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, WEBHOOK_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, (void *)&m->guard);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &got);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status < 200 || status > 299)
            snprintf(msg, n, "HTTP %ld", status);
    } else {
        /* One answer for every failure to get an HTTP answer (refused by the
         * guard, connection refused, timeout, TLS...): the history a tenant
         * reads must not tell open ports from closed ones. */
        log_debug("alarm %s: webhook to %s: %s", j->alarm_id, j->url, curl_easy_strerror(cc));
        snprintf(msg, n, "no HTTP answer from the receiver");
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return cc == CURLE_OK ? status : 0;
}

/* ------------------------------------------------------------- queue */

static void job_free(struct webhook_job *j)
{
    if (j == NULL)
        return;
    free(j->url);
    free(j->payload);
    free(j);
}

/* Records the final outcome of a job in the store. */
static void job_record(struct monitor *m, const struct webhook_job *j, bool ok, long status,
                       const char *why)
{
    struct nubo_err err;
    char detail[WEBHOOK_URL_MAX + 400], hid[37];
    if (store_exec(m->st, &err,
                   "UPDATE alarm_history SET webhook_status = ?, attempts = ? WHERE id = ?", "sis",
                   ok ? "delivered" : "failed", (long long)j->attempts, j->history_id) < 0)
        log_warn("alarm %s: cannot record its webhook: %s", j->alarm_id, err.msg);
    if (ok)
        snprintf(detail, sizeof(detail), "delivered to %s: HTTP %ld after %d attempt(s)", j->url,
                 status, j->attempts);
    else
        snprintf(detail, sizeof(detail), "gave up on %s after %d attempt(s): %s", j->url,
                 j->attempts, why);
    /* The alarm may be gone meanwhile: then there is nothing to record. */
    if (monitor_history_add(m->st, j->alarm_id, "webhook", NULL, NULL, NULL, detail, NULL, NULL,
                            hid, &err) < 0)
        log_debug("alarm %s: webhook outcome not recorded: %s", j->alarm_id, err.msg);
}

void monitor_webhook_enqueue(struct monitor *m, const char *history_id, const char *alarm_id,
                             const char *url, const char *payload, int attempts)
{
    struct webhook_job *j = xcalloc(1, sizeof(*j));
    str_copy(j->history_id, sizeof(j->history_id), history_id);
    str_copy(j->alarm_id, sizeof(j->alarm_id), alarm_id);
    j->url = xstrdup(url);
    j->payload = xstrdup(payload);
    j->attempts = attempts;
    j->due_mono = clock_mono_ms();
    pthread_mutex_lock(&m->mu);
    bool full = m->wh_len >= WEBHOOK_QUEUE_MAX;
    if (!full) {
        if (m->wh_tail)
            m->wh_tail->next = j;
        else
            m->wh_head = j;
        m->wh_tail = j;
        m->wh_len++;
        pthread_cond_signal(&m->wh_cv);
    }
    pthread_mutex_unlock(&m->mu);
    if (full) {
        log_warn("alarm %s: %d webhooks are waiting already; this one is dropped", alarm_id,
                 WEBHOOK_QUEUE_MAX);
        job_record(m, j, false, 0, "too many webhooks waiting");
        atomic_fetch_add(&m->webhooks_failed, 1);
        job_free(j);
    }
}

void monitor_webhook_resume(struct monitor *m)
{
    struct nubo_err err;
    json_t *rows = store_query(m->st, &err,
                               "SELECT h.id, h.alarm_id, h.attempts, h.payload, a.webhook_url"
                               " FROM alarm_history h JOIN alarms a ON a.id = h.alarm_id"
                               " WHERE h.webhook_status = 'pending' ORDER BY h.alarm_id, h.seq",
                               "");
    if (rows == NULL) {
        log_warn("monitor: cannot read pending webhooks: %s", err.msg);
        return;
    }
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        const char *url = json_string_value(json_object_get(r, "webhook_url"));
        const char *payload = json_string_value(json_object_get(r, "payload"));
        if (url && payload)
            monitor_webhook_enqueue(m, jsonx_str(r, "id"), jsonx_str(r, "alarm_id"), url, payload,
                                    (int)monitor_jint(r, "attempts"));
    }
    if (json_array_size(rows) > 0)
        log_info("monitor: resuming %zu pending webhook(s)", json_array_size(rows));
    json_decref(rows);
}

/* The first job that is due and has no earlier job of its alarm before
 * it; *wait_ms says how long until one is due.  Called with m->mu held. */
static struct webhook_job *job_pick(struct monitor *m, int64_t now, int64_t *wait_ms)
{
    *wait_ms = -1;
    for (struct webhook_job *j = m->wh_head; j; j = j->next) {
        bool blocked = false;
        for (struct webhook_job *e = m->wh_head; e != j && !blocked; e = e->next)
            blocked = strcmp(e->alarm_id, j->alarm_id) == 0;
        if (blocked)
            continue;
        if (j->due_mono <= now)
            return j;
        int64_t w = j->due_mono - now;
        if (*wait_ms < 0 || w < *wait_ms)
            *wait_ms = w;
    }
    return NULL;
}

static void job_unlink(struct monitor *m, struct webhook_job *j)
{
    struct webhook_job *prev = NULL;
    for (struct webhook_job *e = m->wh_head; e; prev = e, e = e->next) {
        if (e != j)
            continue;
        if (prev)
            prev->next = j->next;
        else
            m->wh_head = j->next;
        if (m->wh_tail == j)
            m->wh_tail = prev;
        m->wh_len--;
        j->next = NULL;
        return;
    }
}

void *monitor_webhook_thread(void *arg)
{
    struct monitor *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->stopping) {
        int64_t wait_ms;
        struct webhook_job *j = job_pick(m, clock_mono_ms(), &wait_ms);
        if (j == NULL) {
            if (wait_ms < 0) {
                pthread_cond_wait(&m->wh_cv, &m->mu);
            } else {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                ts.tv_sec += wait_ms / 1000;
                ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&m->wh_cv, &m->mu, &ts);
            }
            continue;
        }
        /* The job stays queued (and blocks later ones of its alarm) while
         * it is delivered without the lock. */
        j->due_mono = INT64_MAX;
        pthread_mutex_unlock(&m->mu);
        char why[256] = "";
        j->attempts++;
        long status = deliver(m, j, why, sizeof(why));
        bool ok = status >= 200 && status <= 299;
        bool done = ok || j->attempts >= WEBHOOK_ATTEMPTS;
        if (done) {
            job_record(m, j, ok, status, why);
            atomic_fetch_add(ok ? &m->webhooks_delivered : &m->webhooks_failed, 1);
            if (!ok)
                log_warn("alarm %s: webhook to %s failed %d times (%s); giving up", j->alarm_id,
                         j->url, j->attempts, why);
        } else {
            struct nubo_err err;
            if (store_exec(m->st, &err, "UPDATE alarm_history SET attempts = ? WHERE id = ?", "is",
                           (long long)j->attempts, j->history_id) < 0)
                log_debug("alarm %s: %s", j->alarm_id, err.msg);
            log_debug("alarm %s: webhook to %s: %s; retrying", j->alarm_id, j->url, why);
        }
        pthread_mutex_lock(&m->mu);
        if (done) {
            job_unlink(m, j);
            job_free(j);
        } else {
            j->due_mono = clock_mono_ms() + (1000LL << (j->attempts - 1));
        }
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

void monitor_webhook_queue_free(struct monitor *m)
{
    while (m->wh_head) {
        struct webhook_job *j = m->wh_head;
        m->wh_head = j->next;
        job_free(j);
    }
    m->wh_tail = NULL;
    m->wh_len = 0;
}
