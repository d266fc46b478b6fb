/*
 * uplink.c - registration, heartbeats and metric samples to nubod over
 * libcurl's multi interface, inside the agent's loop; see uplink.h.
 *
 * Two channels, each with at most one request in flight: the control
 * channel (registration, then heartbeats) and the metrics channel (batches
 * of sample rounds), so a large batch never delays a heartbeat.  curl
 * tells us which sockets to watch (socket callback) and when to call it
 * back without input (timer callback); the loop polls those sockets with
 * everything else and calls uplink_run().
 *
 * Metrics: rounds wait in a queue of at most UPLINK_METRICS_MAX_ROUNDS
 * (the oldest are dropped beyond it, with a log line); a batch takes the
 * oldest rounds up to UPLINK_METRICS_MAX_BODY bytes (at least one round)
 * and UPLINK_METRICS_BATCH_ROUNDS rounds.  They leave the queue once nubod
 * answers 200, or 400/413 (nubod will never take them); otherwise they are
 * sent again after a back-off (1 s doubling to 30 s).  Each round carries
 * its seq (per agent run) and its age at sending time (monotonic clock):
 * nubod stores a round only once and dates it by its own clock.
 *
 * Both control requests carry "protocol" (lib/hostproto.h); an answer from
 * a controller that does not speak this agent's version is not used
 * (protocol_refused()).
 *
 * controller.json: {"controller": URL, "name": NAME, "host_id": ID,
 * "host_token": TOKEN}, written atomically with mode 0600.  It is used only
 * when URL and NAME match the command line; otherwise the agent registers
 * anew.
 */
#include "host/uplink.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/curlx.h"
#include "lib/fsutil.h"
#include "lib/hostproto.h"
#include "lib/log.h"
#include "lib/util.h"

#define UPLINK_MAX_SOCKS 8
#define UPLINK_MAX_RESPONSE (512 * 1024) /* a heartbeat answer lists the VMs */
/* A heartbeat waits for a busy controller rather than give up: its
 * timeout is several heartbeat intervals (nubod declares a host down after
 * 15 s of silence by default), and one that failed is retried after
 * UPLINK_RETRY_MS, not a whole interval later.  The connect timeout
 * covers a SYN retransmitted once (a full accept queue drops it). */
#define UPLINK_TIMEOUT_MS 10000L
#define UPLINK_CONNECT_TIMEOUT_MS 5000L
#define UPLINK_RETRY_MS 1000
#define UPLINK_REFUSED_RETRY_MS 10000 /* after the join token was refused */
#define UPLINK_METRICS_TIMEOUT_MS 5000L
#define UPLINK_METRICS_MAX_ROUNDS 360
#define UPLINK_METRICS_BATCH_ROUNDS 100 /* nubod takes up to 120 */
#define UPLINK_METRICS_MAX_BODY (512 * 1024)
#define UPLINK_METRICS_RETRY_MAX_MS 30000

enum req_kind { REQ_NONE = 0, REQ_REGISTER, REQ_HEARTBEAT, REQ_METRICS };

/* A request in flight on one channel. */
struct req {
    CURL *easy; /* NULL when idle */
    enum req_kind kind;
    struct curl_slist *headers;
    struct dynbuf resp; /* capped at UPLINK_MAX_RESPONSE */
};

/* A sample round waiting to be sent. */
struct round {
    long long seq;
    int64_t taken_ms; /* monotonic */
    json_t *obj;      /* {host, vms} */
    size_t size;      /* its JSON's length */
    struct round *next;
};

struct uplink {
    char *controller, *controller_ca, *controller_pin, *join_token_file, *advertise, *name,
        *agent_token, *state_file;
    int interval_ms;
    json_t *(*report)(void *ctx);
    void (*answer)(void *ctx, const json_t *answer, int64_t sent_at);
    void *ctx;
    int64_t ctl_sent_at; /* when the request in flight on ctl started (monotonic) */

    CURLM *multi;
    struct req ctl; /* registration / heartbeat */
    struct req met; /* metrics */
    struct {
        curl_socket_t fd;
        short events;
    } socks[UPLINK_MAX_SOCKS];
    int nsocks;
    int64_t curl_timer_at; /* monotonic ms, -1 = none */
    int64_t next_at;       /* when the next request starts */

    char host_id[37];
    char host_token[128];
    int failures; /* in a row, to keep the log quiet while nubod is away */

    char run_id[37]; /* this run of the agent, for the metrics' seq */
    long long next_seq;
    struct round *rounds, *rounds_tail;
    int nrounds;
    long long sent_upto; /* seq of the last round of the batch in flight */
    int64_t met_next_at; /* earliest start of the next batch (monotonic) */
    int met_backoff_ms;
    int met_failures;
    long long dropped; /* rounds dropped since the last log line */
};

/* ------------------------------------------------------------- state */

static void state_load(struct uplink *u)
{
    json_error_t je;
    json_t *o = json_load_file(u->state_file, 0, &je);
    if (o == NULL)
        return;
    const char *ctl = json_string_value(json_object_get(o, "controller"));
    const char *name = json_string_value(json_object_get(o, "name"));
    const char *id = json_string_value(json_object_get(o, "host_id"));
    const char *tok = json_string_value(json_object_get(o, "host_token"));
    if (ctl && name && id && tok && strcmp(ctl, u->controller) == 0 && strcmp(name, u->name) == 0 &&
        strlen(id) < sizeof(u->host_id) && strlen(tok) < sizeof(u->host_token)) {
        str_copy(u->host_id, sizeof(u->host_id), id);
        str_copy(u->host_token, sizeof(u->host_token), tok);
        log_info("controller link: host %s (%s) at %s, from %s", u->name, u->host_id, u->controller,
                 u->state_file);
    }
    json_decref(o);
}

static void state_save(struct uplink *u)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "controller", u->controller, "name", u->name,
                          "host_id", u->host_id, "host_token", u->host_token);
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(o);
    struct nubo_err err;
    if (text == NULL || fs_write_atomic(u->state_file, text, strlen(text), 0600, &err) < 0)
        log_error("controller link: cannot save %s: %s", u->state_file,
                  text ? err.msg : "out of memory");
    if (text) {
        explicit_bzero(text, strlen(text));
        free(text);
    }
}

/* ------------------------------------------------------- curl callbacks */

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct uplink *u = userp;
    (void)e;
    (void)socketp;
    int i = 0;
    while (i < u->nsocks && u->socks[i].fd != s)
        i++;
    if (what == CURL_POLL_REMOVE) {
        if (i < u->nsocks)
            u->socks[i] = u->socks[--u->nsocks];
        return 0;
    }
    if (i == u->nsocks) {
        if (u->nsocks == UPLINK_MAX_SOCKS)
            return -1;
        u->nsocks++;
        u->socks[i].fd = s;
    }
    u->socks[i].events =
        (short)(((what & CURL_POLL_IN) ? POLLIN : 0) | ((what & CURL_POLL_OUT) ? POLLOUT : 0));
    return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
    struct uplink *u = userp;
    (void)m;
    u->curl_timer_at = timeout_ms < 0 ? -1 : clock_mono_ms() + timeout_ms;
    return 0;
}

/* ------------------------------------------------------------- requests */

/* Builds the body of a registration (new reference), or NULL when the
 * join token cannot be read. */
static json_t *register_body(struct uplink *u)
{
    struct nubo_err err;
    char *tok = fs_read_file(u->join_token_file, 4096, NULL, &err);
    if (tok == NULL) {
        log_error("controller link: cannot read the join token: %s", err.msg);
        return NULL;
    }
    tok[strcspn(tok, "\r\n")] = '\0';
    json_t *b = u->report(u->ctx);
    json_object_del(b, "vms");
    /* a registration makes a new host of the controller's: no fence epoch
     * of an old one (the heartbeats' answers give the new one) */
    json_object_del(b, "epoch");
    json_object_set_new(b, "join_token", json_string(tok));
    json_object_set_new(b, "name", json_string(u->name));
    json_object_set_new(b, "address", json_string(u->advertise));
    if (u->agent_token[0])
        json_object_set_new(b, "agent_token", json_string(u->agent_token));
    /* A known name needs its own credential, not just the join token. */
    if (u->host_token[0])
        json_object_set_new(b, "host_token", json_string(u->host_token));
    explicit_bzero(tok, strlen(tok));
    free(tok);
    return b;
}

static void request_end(struct uplink *u, struct req *r)
{
    if (r->easy) {
        curl_multi_remove_handle(u->multi, r->easy);
        curl_easy_cleanup(r->easy);
    }
    r->easy = NULL;
    r->kind = REQ_NONE;
    curl_slist_free_all(r->headers);
    r->headers = NULL;
    dynbuf_free(&r->resp);
}

/* Starts a POST of text (wiped and freed here) to path on channel r.
 * Returns 0, or -1 when it could not start. */
static int post_start(struct uplink *u, struct req *r, enum req_kind kind, const char *path,
                      char *text, long timeout_ms)
{
    char url[1024];
    r->easy = curl_easy_init();
    if (r->easy == NULL) {
        explicit_bzero(text, strlen(text));
        free(text);
        return -1;
    }
    if (strncmp(u->controller, "unix:", 5) == 0) {
        curl_easy_setopt(r->easy, CURLOPT_UNIX_SOCKET_PATH, u->controller + 5);
        snprintf(url, sizeof(url), "http://localhost%s", path);
    } else {
        snprintf(url, sizeof(url), "%s%s", u->controller, path);
    }
    r->kind = kind;
    r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
    r->headers = curl_slist_append(r->headers, "Expect:");
    if (kind != REQ_REGISTER) {
        char auth[192];
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", u->host_token);
        r->headers = curl_slist_append(r->headers, auth);
        explicit_bzero(auth, sizeof(auth));
    }
    curl_easy_setopt(r->easy, CURLOPT_URL, url);
    /* https: the controller's certificate must chain to --controller-ca
     * (pinned: the system's CAs are not asked) */
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    if (u->controller_ca[0]) {
        curl_easy_setopt(r->easy, CURLOPT_CAINFO, u->controller_ca);
        curl_easy_setopt(r->easy, CURLOPT_CAPATH, NULL);
    }
    /* or pinned by its public key (nubo host join-command): the pin is the
     * trust, whoever signed the certificate */
    if (u->controller_pin[0]) {
        curl_easy_setopt(r->easy, CURLOPT_PINNEDPUBLICKEY, u->controller_pin);
        if (!u->controller_ca[0]) {
            curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 0L);
        }
    }
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, text);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, UPLINK_CONNECT_TIMEOUT_MS);
    dynbuf_init(&r->resp, UPLINK_MAX_RESPONSE);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, curlx_write_cb);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, &r->resp);
    explicit_bzero(text, strlen(text)); /* a registration holds the join token */
    free(text);
    if (curl_multi_add_handle(u->multi, r->easy) != CURLM_OK) {
        request_end(u, r);
        return -1;
    }
    return 0;
}

static void request_start(struct uplink *u)
{
    enum req_kind kind = u->host_token[0] ? REQ_HEARTBEAT : REQ_REGISTER;
    json_t *body = kind == REQ_REGISTER ? register_body(u) : u->report(u->ctx);
    if (body == NULL) {
        u->next_at = clock_mono_ms() + UPLINK_REFUSED_RETRY_MS;
        return;
    }
    json_object_set_new(body, "protocol", json_integer(HOSTPROTO_VERSION));
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL) {
        u->next_at = clock_mono_ms() + u->interval_ms;
        return;
    }
    char path[128];
    if (kind == REQ_REGISTER)
        snprintf(path, sizeof(path), "/v1/hosts/register");
    else
        snprintf(path, sizeof(path), "/v1/hosts/%s/heartbeat", u->host_id);
    u->ctl_sent_at = clock_mono_ms();
    if (post_start(u, &u->ctl, kind, path, text, UPLINK_TIMEOUT_MS) < 0)
        u->next_at = clock_mono_ms() + u->interval_ms;
}

/* Logs a failure: the first one and then every 20th, so a controller that
 * is away for an hour does not flood the log. */
static void failed(struct uplink *u, const char *what, const char *why)
{
    if (u->failures++ % 20 == 0)
        log_warn("controller link: %s to %s failed: %s", what, u->controller, why);
}

/* Whether the controller's answer (status, parsed body o, its detail) says
 * it does not speak this agent's host protocol (lib/hostproto.h): a
 * controller older than this agent, which answers without "protocol" or
 * rejects the field, or one that refuses this agent's version.  Then the
 * answer is not used, the refusal is logged (the first time and every 20th)
 * and the request is tried again later: the operator upgrades the
 * controller first (docs/internals/upgrades.md). */
static bool protocol_refused(struct uplink *u, long status, const json_t *o, const char *detail)
{
    char why[512];
    if (status == 200 || status == 201) {
        json_t *p = json_object_get(o, "protocol");
        if (json_is_integer(p) && json_integer_value(p) >= HOSTPROTO_VERSION)
            return false;
        snprintf(why, sizeof(why),
                 "it speaks host protocol %lld, older than this agent's %d (nubo-hostd %s): "
                 "upgrade the controller first, then the hosts one by one",
                 json_is_integer(p) ? (long long)json_integer_value(p) : 1LL, HOSTPROTO_VERSION,
                 NUBO_VERSION);
    } else if (status == 400 && detail && strstr(detail, "unknown field 'protocol'")) {
        snprintf(why, sizeof(why),
                 "it predates host protocol versions (\"%s\"): it is older than this agent "
                 "(nubo-hostd %s, host protocol %d); upgrade the controller first, then the hosts "
                 "one by one",
                 detail, NUBO_VERSION, HOSTPROTO_VERSION);
    } else if (status == 400 && detail && strstr(detail, "host protocol")) {
        snprintf(why, sizeof(why), "%s", detail);
    } else {
        return false;
    }
    if (u->failures++ % 20 == 0)
        log_error("controller link: %s does not speak this agent's host protocol: %s; trying "
                  "again every %d s",
                  u->controller, why, UPLINK_REFUSED_RETRY_MS / 1000);
    u->next_at = clock_mono_ms() + UPLINK_REFUSED_RETRY_MS;
    return true;
}

static void request_done(struct uplink *u, CURLcode cc)
{
    long status = 0;
    enum req_kind kind = u->ctl.kind;
    int64_t now = clock_mono_ms();
    u->next_at = now + u->interval_ms;
    if (cc != CURLE_OK) {
        failed(u, kind == REQ_REGISTER ? "registration" : "heartbeat", curl_easy_strerror(cc));
        if (u->interval_ms > UPLINK_RETRY_MS)
            u->next_at = now + UPLINK_RETRY_MS;
        request_end(u, &u->ctl);
        return;
    }
    curl_easy_getinfo(u->ctl.easy, CURLINFO_RESPONSE_CODE, &status);
    json_error_t je;
    json_t *o = dynbuf_ptr(&u->ctl.resp)
                    ? json_loadb(dynbuf_str(&u->ctl.resp), dynbuf_len(&u->ctl.resp), 0, &je)
                    : NULL;
    const char *detail = json_string_value(json_object_get(o, "detail"));
    if (protocol_refused(u, status, o, detail)) {
        /* nothing of the answer is used */
    } else if (kind == REQ_REGISTER) {
        const char *id = json_string_value(json_object_get(o, "host_id"));
        const char *tok = json_string_value(json_object_get(o, "host_token"));
        if (status == 201 && id && tok && strlen(id) < sizeof(u->host_id) &&
            strlen(tok) < sizeof(u->host_token)) {
            str_copy(u->host_id, sizeof(u->host_id), id);
            str_copy(u->host_token, sizeof(u->host_token), tok);
            state_save(u);
            log_info("controller link: registered with %s as host %s (%s)", u->controller, u->name,
                     u->host_id);
            u->failures = 0;
            u->next_at = now; /* the first heartbeat brings the VM list at once */
        } else if (status == 401 || status == 403) {
            log_error("controller link: %s refused the join token in %s: %s", u->controller,
                      u->join_token_file, detail ? detail : "unauthorized");
            u->next_at = now + UPLINK_REFUSED_RETRY_MS;
        } else if (status == 409) {
            /* The name is another host's, or this one lost its token: an
             * admin must reset the host's credential (nubod says how). */
            log_error("controller link: %s refused to register this agent as host %s: %s",
                      u->controller, u->name, detail ? detail : "conflict");
            u->next_at = now + UPLINK_REFUSED_RETRY_MS;
        } else {
            failed(u, "registration", detail ? detail : "unexpected answer");
        }
    } else if (status == 200) {
        if (u->failures > 0)
            log_info("controller link: %s answers again", u->controller);
        u->failures = 0;
        if (u->answer && json_is_object(o))
            u->answer(u->ctx, o, u->ctl_sent_at);
    } else if (status == 401 || status == 403) {
        log_warn("controller link: %s does not know this host's token any more (%s); "
                 "registering again",
                 u->controller, detail ? detail : "unauthorized");
        explicit_bzero(u->host_token, sizeof(u->host_token));
        u->host_id[0] = '\0';
        u->next_at = now;
    } else {
        failed(u, "heartbeat", detail ? detail : "unexpected answer");
        if (status >= 500 && u->interval_ms > UPLINK_RETRY_MS)
            u->next_at = now + UPLINK_RETRY_MS; /* busy or full: try again soon */
    }
    json_decref(o);
    request_end(u, &u->ctl);
}

/* ------------------------------------------------------------- metrics */

static void round_free(struct round *r)
{
    json_decref(r->obj);
    free(r);
}

/* Drops the rounds up to seq (included) from the queue. */
static void rounds_drop_upto(struct uplink *u, long long seq)
{
    while (u->rounds && u->rounds->seq <= seq) {
        struct round *r = u->rounds;
        u->rounds = r->next;
        u->nrounds--;
        round_free(r);
    }
    if (u->rounds == NULL)
        u->rounds_tail = NULL;
}

void uplink_metrics_push(struct uplink *u, json_t *round)
{
    struct round *r = xcalloc(1, sizeof(*r));
    r->seq = ++u->next_seq;
    r->taken_ms = clock_mono_ms();
    r->obj = round;
    char *text = json_dumps(round, JSON_COMPACT);
    r->size = text ? strlen(text) + 40 : 0;
    free(text);
    if (u->rounds_tail)
        u->rounds_tail->next = r;
    else
        u->rounds = r;
    u->rounds_tail = r;
    u->nrounds++;
    /* Full: the oldest go, but never one of the batch in flight. */
    while (u->nrounds > UPLINK_METRICS_MAX_ROUNDS && u->rounds->seq > u->sent_upto) {
        rounds_drop_upto(u, u->rounds->seq);
        if (u->dropped++ == 0)
            log_warn("controller link: %d sample rounds are waiting; dropping the oldest",
                     UPLINK_METRICS_MAX_ROUNDS);
    }
}

static void metrics_start(struct uplink *u)
{
    int64_t now = clock_mono_ms();
    json_t *list = json_array();
    size_t size = 0;
    long long last = 0;
    for (struct round *r = u->rounds; r; r = r->next) {
        if (json_array_size(list) > 0 && (size + r->size > UPLINK_METRICS_MAX_BODY ||
                                          json_array_size(list) >= UPLINK_METRICS_BATCH_ROUNDS))
            break;
        json_t *o = json_copy(r->obj); /* shallow: host and vms are shared */
        json_object_set_new(o, "seq", json_integer(r->seq));
        json_object_set_new(o, "age_ms", json_integer(now - r->taken_ms));
        json_array_append_new(list, o);
        size += r->size;
        last = r->seq;
    }
    json_t *body = json_pack("{s:s, s:o}", "agent_run", u->run_id, "rounds", list);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    char path[128];
    snprintf(path, sizeof(path), "/v1/hosts/%s/metrics", u->host_id);
    if (text == NULL ||
        post_start(u, &u->met, REQ_METRICS, path, text, UPLINK_METRICS_TIMEOUT_MS) < 0) {
        u->met_next_at = now + 1000;
        return;
    }
    u->sent_upto = last;
}

static void metrics_done(struct uplink *u, CURLcode cc)
{
    long status = 0;
    int64_t now = clock_mono_ms();
    if (cc == CURLE_OK)
        curl_easy_getinfo(u->met.easy, CURLINFO_RESPONSE_CODE, &status);
    if (status == 200 || status == 400 || status == 413) {
        if (status != 200) {
            json_error_t je;
            json_t *o = dynbuf_ptr(&u->met.resp)
                            ? json_loadb(dynbuf_str(&u->met.resp), dynbuf_len(&u->met.resp), 0, &je)
                            : NULL;
            const char *detail = json_string_value(json_object_get(o, "detail"));
            log_error("controller link: %s refused a batch of samples (HTTP %ld: %s); "
                      "dropping it",
                      u->controller, status, detail ? detail : "no detail");
            json_decref(o);
        } else if (u->met_failures > 0) {
            log_info("controller link: samples are accepted again");
        }
        rounds_drop_upto(u, u->sent_upto);
        u->met_failures = 0;
        u->met_backoff_ms = 0;
        if (u->dropped > 1)
            log_warn("controller link: %lld sample rounds were dropped while the queue was full",
                     u->dropped);
        u->dropped = 0;
        u->met_next_at = now;
    } else {
        if (u->met_failures++ % 20 == 0)
            log_warn("controller link: sending samples to %s failed: %s", u->controller,
                     cc != CURLE_OK ? curl_easy_strerror(cc) : "unexpected answer");
        u->met_backoff_ms = u->met_backoff_ms ? u->met_backoff_ms * 2 : 1000;
        if (u->met_backoff_ms > UPLINK_METRICS_RETRY_MAX_MS)
            u->met_backoff_ms = UPLINK_METRICS_RETRY_MAX_MS;
        u->met_next_at = now + u->met_backoff_ms;
    }
    u->sent_upto = 0;
    request_end(u, &u->met);
}

/* ------------------------------------------------------------- public */

struct uplink *uplink_new(const struct uplink_cfg *cfg, struct nubo_err *err)
{
    if (strncmp(cfg->controller, "http://", 7) != 0 && strncmp(cfg->controller, "https://", 8) &&
        strncmp(cfg->controller, "unix:/", 6) != 0) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "--controller wants the URL of nubod, http[s]://ADDR:PORT");
        return NULL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot initialize libcurl");
        return NULL;
    }
    struct uplink *u = xcalloc(1, sizeof(*u));
    u->controller = xstrdup(cfg->controller);
    u->controller_ca = xstrdup(cfg->controller_ca ? cfg->controller_ca : "");
    u->controller_pin = xstrdup(cfg->controller_pin ? cfg->controller_pin : "");
    size_t l = strlen(u->controller);
    while (l > 7 && u->controller[l - 1] == '/')
        u->controller[--l] = '\0';
    u->join_token_file = xstrdup(cfg->join_token_file);
    u->advertise = xstrdup(cfg->advertise);
    u->name = xstrdup(cfg->name);
    u->agent_token = xstrdup(cfg->agent_token ? cfg->agent_token : "");
    u->state_file = xstrdup(cfg->state_file);
    u->interval_ms = cfg->interval_ms > 0 ? cfg->interval_ms : 3000;
    u->report = cfg->report;
    u->answer = cfg->answer;
    u->ctx = cfg->ctx;
    u->curl_timer_at = -1;
    u->next_at = clock_mono_ms();
    u->met_next_at = u->next_at;
    id_new(u->run_id);
    u->multi = curl_multi_init();
    if (u->multi == NULL) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot initialize libcurl");
        uplink_free(u);
        return NULL;
    }
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
    state_load(u);
    log_info("controller link: %s as host %s, reachable at %s%s", u->controller, u->name,
             u->advertise, u->host_token[0] ? "" : " (registering with the join token)");
    return u;
}

int uplink_pollfds(struct uplink *u, struct pollfd *fds, int max)
{
    int n = 0;
    for (int i = 0; i < u->nsocks && n < max; i++)
        fds[n++] = (struct pollfd){.fd = u->socks[i].fd, .events = u->socks[i].events};
    return n;
}

/* True when a batch of samples may start now. */
static bool metrics_due(const struct uplink *u, int64_t now)
{
    return u->met.easy == NULL && u->rounds && u->host_token[0] && u->host_id[0] &&
           now >= u->met_next_at;
}

int64_t uplink_timeout_ms(const struct uplink *u)
{
    int64_t now = clock_mono_ms();
    int64_t at = u->ctl.easy ? -1 : u->next_at;
    if (u->met.easy == NULL && u->rounds && u->host_token[0] && (at < 0 || u->met_next_at < at))
        at = u->met_next_at;
    if (u->curl_timer_at >= 0 && (at < 0 || u->curl_timer_at < at))
        at = u->curl_timer_at;
    if (at < 0)
        return 1000;
    return at > now ? at - now : 0;
}

void uplink_run(struct uplink *u, const struct pollfd *fds, int n)
{
    int running;
    for (int i = 0; i < n; i++) {
        if (fds[i].revents == 0)
            continue;
        int flags = 0;
        if (fds[i].revents & POLLIN)
            flags |= CURL_CSELECT_IN;
        if (fds[i].revents & POLLOUT)
            flags |= CURL_CSELECT_OUT;
        if (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL))
            flags |= CURL_CSELECT_ERR;
        curl_multi_socket_action(u->multi, fds[i].fd, flags, &running);
    }
    if (u->curl_timer_at >= 0 && clock_mono_ms() >= u->curl_timer_at) {
        u->curl_timer_at = -1;
        curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(u->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        if (msg->easy_handle == u->ctl.easy)
            request_done(u, msg->data.result);
        else if (msg->easy_handle == u->met.easy)
            metrics_done(u, msg->data.result);
    }
    if (u->ctl.easy == NULL && clock_mono_ms() >= u->next_at)
        request_start(u);
    if (metrics_due(u, clock_mono_ms()))
        metrics_start(u);
}

void uplink_free(struct uplink *u)
{
    if (u == NULL)
        return;
    request_end(u, &u->ctl);
    request_end(u, &u->met);
    rounds_drop_upto(u, u->next_seq);
    if (u->multi)
        curl_multi_cleanup(u->multi);
    free(u->controller);
    free(u->controller_ca);
    free(u->controller_pin);
    free(u->join_token_file);
    free(u->advertise);
    free(u->name);
    free(u->agent_token);
    free(u->state_file);
    explicit_bzero(u->host_token, sizeof(u->host_token));
    free(u);
    curl_global_cleanup();
}
