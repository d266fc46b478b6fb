/*
 * client.c - see client.h.
 *
 * One curl easy handle per client: curl_easy_reset() before each request
 * clears the options but keeps the connection cache, so a command that polls
 * (vm stop, vm console --follow) reuses one connection to the server.
 * Answers are collected into a dynbuf capped at CLIENT_MAX_RESPONSE; the
 * headers read are X-Console-Offset and X-Request-Id.  Uploads are streamed
 * from the caller's FILE through CURLOPT_READFUNCTION, never held in memory.
 * The callbacks are lib/curlx.c's, shared with the controller's agent
 * client.
 */
#include "cli/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/curlx.h"
#include "lib/util.h"

#define CLIENT_CONNECT_TIMEOUT_MS 5000L
/* The servers answer every request promptly (the agent bounds QEMU and
 * tool calls itself and says 504); this only guards against a wedged one. */
#define CLIENT_TIMEOUT_MS 300000L
#define CLIENT_EXTRA_HEADERS_MAX 8

struct client {
    CURL *curl;
    char *socket_path; /* NULL over TCP */
    char *base_url;    /* "http://localhost" over the Unix socket */
    char *auth_header; /* "Authorization: Bearer ..." or NULL */
    char *peer;        /* "nubod", for messages */
    char *hint;        /* appended to "cannot reach" messages, or NULL */
    char *ca_file;     /* CURLOPT_CAINFO, or NULL */
    const volatile sig_atomic_t *cancel;
    bool unreachable;
};

/* State of one transfer, for the curl callbacks. */
struct transfer {
    const struct client *c;
    const struct client_req *req;
    struct curlx_resp got;      /* body and headers */
    struct curlx_upload upload; /* the upload's progress */
};

struct client *client_new(const struct client_cfg *cfg, struct nubo_err *err)
{
    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot initialize libcurl");
        return NULL;
    }
    struct client *c = xcalloc(1, sizeof(*c));
    c->curl = curl;
    if (cfg->socket_path) {
        c->socket_path = xstrdup(cfg->socket_path);
        c->base_url = xstrdup("http://localhost");
    } else {
        c->base_url = xstrdup(cfg->base_url);
    }
    if (cfg->token) {
        size_t n = strlen(cfg->token) + sizeof("Authorization: Bearer ");
        c->auth_header = xmalloc(n);
        snprintf(c->auth_header, n, "Authorization: Bearer %s", cfg->token);
    }
    c->peer = xstrdup(cfg->peer ? cfg->peer : "the server");
    c->hint = cfg->unreachable_hint ? xstrdup(cfg->unreachable_hint) : NULL;
    c->ca_file = cfg->ca_file ? xstrdup(cfg->ca_file) : NULL;
    c->cancel = cfg->cancel;
    return c;
}

const char *client_base_url(const struct client *c)
{
    return c->base_url;
}

void client_free(struct client *c)
{
    if (c == NULL)
        return;
    curl_easy_cleanup(c->curl);
    free(c->socket_path);
    free(c->base_url);
    free(c->peer);
    free(c->hint);
    free(c->ca_file);
    if (c->auth_header) {
        /* The token is a secret: do not leave it in freed memory. */
        explicit_bzero(c->auth_header, strlen(c->auth_header));
        free(c->auth_header);
    }
    free(c);
}

const char *client_target(const struct client *c)
{
    return c->socket_path ? c->socket_path : c->base_url;
}

bool client_unreachable(const struct client *c)
{
    return c->unreachable;
}

void client_resp_clear(struct client_resp *resp)
{
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
    resp->console_offset = -1;
}

/* ------------------------------------------------------ curl callbacks */

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    const struct transfer *t = userdata;
    (void)dltotal, (void)dlnow, (void)ultotal;
    if (t->c->cancel && *t->c->cancel)
        return 1; /* non-zero aborts the transfer */
    if (t->req->upload && t->req->progress)
        t->req->progress(t->req->progress_arg, (long long)ulnow, t->req->upload_size);
    return 0;
}

/* ------------------------------------------------------------- requests */

/* Fills err for a transfer that ended without an HTTP answer and decides
 * whether that means "unreachable". */
static void transfer_error(struct client *c, CURLcode cc, const struct transfer *t,
                           const char *errbuf, struct nubo_err *err)
{
    long os_errno = 0;
    curl_off_t connect_us = 0;
    curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
    curl_easy_getinfo(c->curl, CURLINFO_CONNECT_TIME_T, &connect_us);
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cc);
    if (os_errno != 0)
        why = strerror((int)os_errno);

    if (cc == CURLE_ABORTED_BY_CALLBACK && t->c->cancel && *t->c->cancel) {
        nubo_err_set(err, NUBO_E_INTERNAL, "interrupted");
    } else if (t->upload.failed) {
        nubo_err_set(err, NUBO_E_INTERNAL,
                     "cannot read the file to upload (%lld of %lld bytes sent): %s", t->upload.sent,
                     t->req->upload_size,
                     t->upload.errnum ? strerror(t->upload.errnum) : "it shrank");
    } else if (dynbuf_error(&t->got.body) == E2BIG) {
        nubo_err_set(err, NUBO_E_TOOLARGE, "the answer of %s is larger than %u MiB", c->peer,
                     CLIENT_MAX_RESPONSE >> 20);
    } else if (dynbuf_error(&t->got.body) == ENOMEM) {
        nubo_err_set(err, NUBO_E_INTERNAL, "out of memory reading the answer of %s", c->peer);
    } else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
               (cc == CURLE_OPERATION_TIMEDOUT && connect_us == 0)) {
        c->unreachable = true;
        if (os_errno == EACCES && c->socket_path)
            nubo_err_set(err, NUBO_E_UNAVAILABLE,
                         "cannot reach %s at %s: %s \xe2\x80\x94 only root and the "
                         "socket's group may use it",
                         c->peer, client_target(c), why);
        else
            nubo_err_set(err, NUBO_E_UNAVAILABLE, "cannot reach %s at %s: %s%s%s", c->peer,
                         client_target(c), why, c->hint ? " \xe2\x80\x94 " : "",
                         c->hint ? c->hint : "");
    } else if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE) {
        nubo_err_set(err, NUBO_E_UNAVAILABLE,
                     "%s at %s: its TLS certificate is not one to trust: %s \xe2\x80\x94 give the"
                     " CA that signed it with --ca-file FILE (nubod --tls-auto's is its"
                     " <state-dir>/tls/ca.pem), e.g. nubo login URL --ca-file FILE",
                     c->peer, client_target(c), errbuf[0] ? errbuf : curl_easy_strerror(cc));
    } else if (cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_RECV_ERROR || cc == CURLE_GOT_NOTHING) {
        nubo_err_set(err, NUBO_E_UNAVAILABLE, "request to %s at %s failed: %s%s", c->peer,
                     client_target(c), why,
                     strncmp(c->base_url, "http://", 7) == 0
                         ? " (does it serve https? then use https:// in the URL)"
                         : "");
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        nubo_err_set(err, NUBO_E_TIMEOUT, "%s at %s did not answer within %ld s", c->peer,
                     client_target(c), CLIENT_TIMEOUT_MS / 1000);
    } else {
        nubo_err_set(err, NUBO_E_UNAVAILABLE, "request to %s at %s failed: %s", c->peer,
                     client_target(c), why);
    }
}

int client_send(struct client *c, const struct client_req *req, struct client_resp *resp,
                struct nubo_err *err)
{
    int rc = -1;
    char *payload = NULL;
    struct curl_slist *headers = NULL;
    char url[2048];
    char errbuf[CURL_ERROR_SIZE] = "";
    struct transfer t = {.c = c, .req = req};
    const char *method = req->method;

    curlx_resp_init(&t.got, CLIENT_MAX_RESPONSE);
    memset(resp, 0, sizeof(*resp));
    resp->console_offset = -1;
    c->unreachable = false;
    if (snprintf(url, sizeof(url), "%s%s", c->base_url, req->path) >= (int)sizeof(url)) {
        nubo_err_set(err, NUBO_E_INVALID, "request path too long");
        goto cleanup;
    }
    if (req->body) {
        payload = json_dumps(req->body, JSON_COMPACT);
        if (payload == NULL) {
            nubo_err_set(err, NUBO_E_INTERNAL, "cannot encode the request as JSON");
            goto cleanup;
        }
    }

    CURL *h = c->curl;
    curl_easy_reset(h);
    curlx_setup(h, &(struct curlx_cfg){.url = url,
                                       .unix_socket = c->socket_path,
                                       .connect_timeout_ms = CLIENT_CONNECT_TIMEOUT_MS,
                                       .timeout_ms = req->upload ? 0L : CLIENT_TIMEOUT_MS,
                                       .resp = &t.got,
                                       .errbuf = errbuf});
    curl_easy_setopt(h, CURLOPT_USERAGENT, "nubo/" NUBO_VERSION);
    if (c->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);

    headers = curl_slist_append(headers, "Accept: application/json");
    /* JSON bodies are small: no "Expect: 100-continue" round trip.  An
     * upload keeps it, so a refusal (401, 413) comes before the bytes. */
    if (!req->upload)
        headers = curl_slist_append(headers, "Expect:");
    if (c->auth_header)
        headers = curl_slist_append(headers, c->auth_header);
    if (payload)
        headers = curl_slist_append(headers, "Content-Type: application/json");
    else if (req->upload)
        headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
    for (size_t i = 0; req->headers && req->headers[i] && i < CLIENT_EXTRA_HEADERS_MAX; i++)
        headers = curl_slist_append(headers, req->headers[i]);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

    if (req->upload) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        t.upload = (struct curlx_upload){.f = req->upload, .size = req->upload_size};
        curl_easy_setopt(h, CURLOPT_READFUNCTION, curlx_read_cb);
        curl_easy_setopt(h, CURLOPT_READDATA, &t.upload);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->upload_size);
        if (strcmp(method, "PUT") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload ? payload : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, payload ? (long)strlen(payload) : 0L);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        if (payload) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
        }
    }

    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        transfer_error(c, cc, &t, errbuf, err);
        goto cleanup;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->console_offset = t.got.console_offset;
    str_copy(resp->request_id, sizeof(resp->request_id), t.got.request_id);
    resp->body = dynbuf_take(&t.got.body, &resp->len);
    rc = 0;

cleanup:
    /* The handle keeps pointers to these until the next reset. */
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(headers);
    dynbuf_free(&t.got.body);
    if (payload) {
        explicit_bzero(payload, strlen(payload)); /* it may hold a password */
        free(payload);
    }
    if (rc < 0)
        client_resp_clear(resp);
    return rc;
}

int client_request(struct client *c, const char *method, const char *path, const json_t *body,
                   struct client_resp *resp, struct nubo_err *err)
{
    struct client_req req = {.method = method, .path = path, .body = body};
    return client_send(c, &req, resp, err);
}

/* The nubo error code for an HTTP status (the inverse of
 * nubo_err_http_status()). */
static enum nubo_errcode code_of_status(long status)
{
    switch (status) {
    case 400:
        return NUBO_E_INVALID;
    case 401:
        return NUBO_E_UNAUTHORIZED;
    case 403:
        return NUBO_E_FORBIDDEN;
    case 404:
        return NUBO_E_NOTFOUND;
    case 405:
        return NUBO_E_METHOD;
    case 409:
        return NUBO_E_CONFLICT;
    case 413:
        return NUBO_E_TOOLARGE;
    case 415:
        return NUBO_E_UNSUPPORTED;
    case 429:
        return NUBO_E_TOOMANY;
    case 502:
    case 503:
        return NUBO_E_UNAVAILABLE;
    case 504:
        return NUBO_E_TIMEOUT;
    case 507:
        return NUBO_E_CAPACITY;
    default:
        return NUBO_E_INTERNAL;
    }
}

void client_resp_error(const struct client *c, const struct client_resp *resp, struct nubo_err *err)
{
    enum nubo_errcode code = code_of_status(resp->status);
    char status[128];
    if (resp->status >= 500 && resp->request_id[0])
        snprintf(status, sizeof(status), "HTTP %ld, request %s", resp->status, resp->request_id);
    else
        snprintf(status, sizeof(status), "HTTP %ld", resp->status);
    json_t *problem = resp->len ? json_loadb(resp->body, resp->len, 0, NULL) : NULL;
    const char *detail = json_string_value(json_object_get(problem, "detail"));
    if (detail == NULL || *detail == '\0')
        detail = json_string_value(json_object_get(problem, "title"));
    if (detail && *detail)
        nubo_err_set(err, code, "%.400s (%s)", detail, status);
    else if (resp->len && problem == NULL)
        /* Not JSON: show the start of whatever came (a proxy's page...). */
        nubo_err_set(err, code, "%s from %s: %.200s", status, c->peer, resp->body);
    else
        nubo_err_set(err, code, "%s from %s", status, c->peer);
    json_decref(problem);
}

int client_call_req(struct client *c, const struct client_req *req, json_t **out,
                    struct nubo_err *err)
{
    int rc = -1;
    struct client_resp resp;
    json_t *v = NULL;
    if (out)
        *out = NULL;
    if (client_send(c, req, &resp, err) < 0)
        return -1;
    if (resp.status < 200 || resp.status > 299) {
        client_resp_error(c, &resp, err);
        goto cleanup;
    }
    if (resp.len > 0) {
        json_error_t jerr;
        v = json_loadb(resp.body, resp.len, 0, &jerr);
        if (v == NULL) {
            nubo_err_set(err, NUBO_E_INTERNAL, "%s sent an answer that is not JSON (%s at byte %d)",
                         c->peer, jerr.text, jerr.position);
            goto cleanup;
        }
    }
    if (out) {
        *out = v;
        v = NULL;
    }
    rc = 0;
cleanup:
    json_decref(v);
    client_resp_clear(&resp);
    return rc;
}

int client_call(struct client *c, const char *method, const char *path, const json_t *body,
                json_t **out, struct nubo_err *err)
{
    struct client_req req = {.method = method, .path = path, .body = body};
    return client_call_req(c, &req, out, err);
}
