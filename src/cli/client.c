/*
 * client.c - see client.h.
 *
 * One curl easy handle per client: curl_easy_reset() before each request
 * clears the options but keeps the connection cache, so a command that polls
 * (vm stop, vm console --follow) reuses one connection to the server.
 * Answers are collected into a buffer capped at CLIENT_MAX_RESPONSE; the
 * headers read are X-Console-Offset and X-Request-Id.  Uploads are streamed
 * from the caller's FILE through CURLOPT_READFUNCTION, never held in memory.
 */
#include "cli/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
    const volatile sig_atomic_t *cancel;
    bool unreachable;
};

/* State of one transfer, for the curl callbacks. */
struct transfer {
    const struct client *c;
    const struct client_req *req;
    struct client_resp *resp;
    size_t alloc;
    long long sent; /* upload bytes handed to curl */
    bool too_large;
    bool out_of_memory;
    bool read_failed; /* the upload file could not be read to its size */
    int read_errno;   /* why, or 0 when the file ended early */
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
    c->cancel = cfg->cancel;
    return c;
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

/* The value of header `name` ("X-Request-Id:") in one header line, without
 * blanks and the line end, copied into out; false when the line is another
 * header or the value does not fit. */
static bool header_value(const char *data, size_t len, const char *name, char *out, size_t n)
{
    size_t nlen = strlen(name);
    if (len <= nlen || strncasecmp(data, name, nlen) != 0)
        return false;
    const char *v = data + nlen;
    size_t vlen = len - nlen;
    while (vlen > 0 && (*v == ' ' || *v == '\t'))
        v++, vlen--;
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    if (vlen >= n)
        return false;
    memcpy(out, v, vlen);
    out[vlen] = '\0';
    return true;
}

/* ------------------------------------------------------ curl callbacks */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct transfer *t = userdata;
    struct client_resp *r = t->resp;
    size_t len = size * nmemb;
    if (len > CLIENT_MAX_RESPONSE - r->len) {
        t->too_large = true;
        return 0; /* makes curl fail the transfer */
    }
    if (r->len + len + 1 > t->alloc) {
        size_t alloc = t->alloc ? t->alloc : 4096;
        while (alloc < r->len + len + 1)
            alloc *= 2;
        char *p = realloc(r->body, alloc);
        if (p == NULL) {
            t->out_of_memory = true;
            return 0;
        }
        r->body = p;
        t->alloc = alloc;
    }
    memcpy(r->body + r->len, data, len);
    r->len += len;
    r->body[r->len] = '\0';
    return len;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct transfer *t = userdata;
    size_t len = size * nmemb;
    char value[128];
    if (header_value(data, len, "X-Console-Offset:", value, sizeof(value))) {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno == 0 && end != value && *end == '\0' && v >= 0)
            t->resp->console_offset = v;
    } else if (header_value(data, len, "X-Request-Id:", value, sizeof(value))) {
        /* Shown in messages: keep it printable. */
        for (char *p = value; *p; p++)
            if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7E)
                *p = '?';
        str_copy(t->resp->request_id, sizeof(t->resp->request_id), value);
    }
    return len;
}

/* Hands curl the next piece of the upload. */
static size_t on_read(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct transfer *t = userdata;
    size_t want = size * nitems;
    long long left = t->req->upload_size - t->sent;
    if (left <= 0)
        return 0;
    if ((long long)want > left)
        want = (size_t)left;
    size_t got = fread(buf, 1, want, t->req->upload);
    if (got == 0) {
        /* The file shrank or cannot be read: a short body must not pass
         * for a whole one. */
        t->read_failed = true;
        t->read_errno = ferror(t->req->upload) ? errno : 0;
        return CURL_READFUNC_ABORT;
    }
    t->sent += (long long)got;
    return got;
}

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
    } else if (t->read_failed) {
        nubo_err_set(err, NUBO_E_INTERNAL,
                     "cannot read the file to upload (%lld of %lld bytes sent): %s", t->sent,
                     t->req->upload_size, t->read_errno ? strerror(t->read_errno) : "it shrank");
    } else if (t->too_large) {
        nubo_err_set(err, NUBO_E_TOOLARGE, "the answer of %s is larger than %u MiB", c->peer,
                     CLIENT_MAX_RESPONSE >> 20);
    } else if (t->out_of_memory) {
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
    struct transfer t = {.c = c, .req = req, .resp = resp};
    const char *method = req->method;

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
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (c->socket_path)
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket_path);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CLIENT_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->upload ? 0L : CLIENT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "nubo/" NUBO_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
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
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &t);
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
    if (resp->body == NULL)
        resp->body = xstrdup("");
    rc = 0;

cleanup:
    /* The handle keeps pointers to these until the next reset. */
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(headers);
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
