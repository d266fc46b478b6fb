/*
 * uplink.c - registration and heartbeats to nubod over libcurl's multi
 * interface, inside the agent's loop; see uplink.h.
 *
 * One request at a time.  curl tells us which sockets to watch (socket
 * callback) and when to call it back without input (timer callback); the
 * loop polls those sockets with everything else and calls uplink_run().
 *
 * controller.json: {"controller": URL, "name": NAME, "host_id": ID,
 * "host_token": TOKEN}, written atomically with mode 0600.  It is used only
 * when URL and NAME match the command line; otherwise the agent registers
 * anew.
 */
#include "host/uplink.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#define UPLINK_MAX_SOCKS 8
#define UPLINK_MAX_RESPONSE (64 * 1024)
#define UPLINK_TIMEOUT_MS 2000L
#define UPLINK_CONNECT_TIMEOUT_MS 1000L
#define UPLINK_REFUSED_RETRY_MS 10000 /* after the join token was refused */

enum req_kind { REQ_NONE = 0, REQ_REGISTER, REQ_HEARTBEAT };

struct uplink {
    char *controller, *join_token_file, *advertise, *name, *agent_token, *state_file;
    int interval_ms;
    json_t *(*report)(void *ctx);
    void *ctx;

    CURLM *multi;
    CURL *easy; /* the request in flight, or NULL */
    enum req_kind kind;
    struct curl_slist *headers;
    char *resp;
    size_t resp_len;
    int resp_too_large;
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

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct uplink *u = userdata;
    size_t len = size * nmemb;
    if (len > UPLINK_MAX_RESPONSE - u->resp_len) {
        u->resp_too_large = 1;
        return 0;
    }
    char *p = realloc(u->resp, u->resp_len + len + 1);
    if (p == NULL)
        return 0;
    u->resp = p;
    memcpy(u->resp + u->resp_len, data, len);
    u->resp_len += len;
    u->resp[u->resp_len] = '\0';
    return len;
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
    json_object_set_new(b, "join_token", json_string(tok));
    json_object_set_new(b, "name", json_string(u->name));
    json_object_set_new(b, "address", json_string(u->advertise));
    if (u->agent_token[0])
        json_object_set_new(b, "agent_token", json_string(u->agent_token));
    explicit_bzero(tok, strlen(tok));
    free(tok);
    return b;
}

static void request_end(struct uplink *u)
{
    if (u->easy) {
        curl_multi_remove_handle(u->multi, u->easy);
        curl_easy_cleanup(u->easy);
    }
    u->easy = NULL;
    u->kind = REQ_NONE;
    curl_slist_free_all(u->headers);
    u->headers = NULL;
    free(u->resp);
    u->resp = NULL;
    u->resp_len = 0;
    u->resp_too_large = 0;
}

static void request_start(struct uplink *u)
{
    enum req_kind kind = u->host_token[0] ? REQ_HEARTBEAT : REQ_REGISTER;
    json_t *body = kind == REQ_REGISTER ? register_body(u) : u->report(u->ctx);
    if (body == NULL) {
        u->next_at = clock_mono_ms() + UPLINK_REFUSED_RETRY_MS;
        return;
    }
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (text == NULL) {
        u->next_at = clock_mono_ms() + u->interval_ms;
        return;
    }
    char url[1024], path[128];
    if (kind == REQ_REGISTER)
        snprintf(path, sizeof(path), "/v1/hosts/register");
    else
        snprintf(path, sizeof(path), "/v1/hosts/%s/heartbeat", u->host_id);
    u->easy = curl_easy_init();
    if (u->easy == NULL) {
        free(text);
        u->next_at = clock_mono_ms() + u->interval_ms;
        return;
    }
    if (strncmp(u->controller, "unix:", 5) == 0) {
        curl_easy_setopt(u->easy, CURLOPT_UNIX_SOCKET_PATH, u->controller + 5);
        snprintf(url, sizeof(url), "http://localhost%s", path);
    } else {
        snprintf(url, sizeof(url), "%s%s", u->controller, path);
    }
    u->kind = kind;
    u->headers = curl_slist_append(u->headers, "Content-Type: application/json");
    u->headers = curl_slist_append(u->headers, "Expect:");
    if (kind == REQ_HEARTBEAT) {
        char auth[192];
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", u->host_token);
        u->headers = curl_slist_append(u->headers, auth);
        explicit_bzero(auth, sizeof(auth));
    }
    curl_easy_setopt(u->easy, CURLOPT_URL, url);
    curl_easy_setopt(u->easy, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(u->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(u->easy, CURLOPT_HTTPHEADER, u->headers);
    curl_easy_setopt(u->easy, CURLOPT_COPYPOSTFIELDS, text);
    curl_easy_setopt(u->easy, CURLOPT_TIMEOUT_MS, UPLINK_TIMEOUT_MS);
    curl_easy_setopt(u->easy, CURLOPT_CONNECTTIMEOUT_MS, UPLINK_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(u->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(u->easy, CURLOPT_WRITEDATA, u);
    explicit_bzero(text, strlen(text)); /* a registration holds the join token */
    free(text);
    if (curl_multi_add_handle(u->multi, u->easy) != CURLM_OK) {
        request_end(u);
        u->next_at = clock_mono_ms() + u->interval_ms;
    }
}

/* Logs a failure: the first one and then every 20th, so a controller that
 * is away for an hour does not flood the log. */
static void failed(struct uplink *u, const char *what, const char *why)
{
    if (u->failures++ % 20 == 0)
        log_warn("controller link: %s to %s failed: %s", what, u->controller, why);
}

static void request_done(struct uplink *u, CURLcode cc)
{
    long status = 0;
    enum req_kind kind = u->kind;
    int64_t now = clock_mono_ms();
    u->next_at = now + u->interval_ms;
    if (cc != CURLE_OK) {
        failed(u, kind == REQ_REGISTER ? "registration" : "heartbeat", curl_easy_strerror(cc));
        request_end(u);
        return;
    }
    curl_easy_getinfo(u->easy, CURLINFO_RESPONSE_CODE, &status);
    json_error_t je;
    json_t *o = u->resp ? json_loadb(u->resp, u->resp_len, 0, &je) : NULL;
    const char *detail = json_string_value(json_object_get(o, "detail"));
    if (kind == REQ_REGISTER) {
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
        } else {
            failed(u, "registration", detail ? detail : "unexpected answer");
        }
    } else if (status == 200) {
        if (u->failures > 0)
            log_info("controller link: %s answers again", u->controller);
        u->failures = 0;
    } else if (status == 401 || status == 403) {
        log_warn("controller link: %s does not know this host's token any more (%s); "
                 "registering again",
                 u->controller, detail ? detail : "unauthorized");
        explicit_bzero(u->host_token, sizeof(u->host_token));
        u->host_id[0] = '\0';
        u->next_at = now;
    } else {
        failed(u, "heartbeat", detail ? detail : "unexpected answer");
    }
    json_decref(o);
    request_end(u);
}

/* ------------------------------------------------------------- public */

struct uplink *uplink_new(const struct uplink_cfg *cfg, struct nubo_err *err)
{
    if (strncmp(cfg->controller, "http://", 7) != 0 && strncmp(cfg->controller, "unix:/", 6) != 0) {
        nubo_err_set(err, NUBO_E_INVALID, "--controller wants the URL of nubod, http://ADDR:PORT");
        return NULL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot initialize libcurl");
        return NULL;
    }
    struct uplink *u = xcalloc(1, sizeof(*u));
    u->controller = xstrdup(cfg->controller);
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
    u->ctx = cfg->ctx;
    u->curl_timer_at = -1;
    u->next_at = clock_mono_ms();
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

int64_t uplink_timeout_ms(const struct uplink *u)
{
    int64_t now = clock_mono_ms();
    int64_t at = u->easy ? -1 : u->next_at;
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
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == u->easy)
            request_done(u, msg->data.result);
    }
    if (u->easy == NULL && clock_mono_ms() >= u->next_at)
        request_start(u);
}

void uplink_free(struct uplink *u)
{
    if (u == NULL)
        return;
    request_end(u);
    if (u->multi)
        curl_multi_cleanup(u->multi);
    free(u->controller);
    free(u->join_token_file);
    free(u->advertise);
    free(u->name);
    free(u->agent_token);
    free(u->state_file);
    explicit_bzero(u->host_token, sizeof(u->host_token));
    free(u);
    curl_global_cleanup();
}
