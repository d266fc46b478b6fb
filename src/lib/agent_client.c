/*
 * agent_client.c - the controller's client of host protocol v1, over
 * libcurl; see agent_client.h.
 *
 * Every call creates its own easy handle, so any thread (the reconciler,
 * API threads proxying a console) may call at any time without locks.  A
 * host's address is "unix:/path" (the URL is then http://localhost/...) or
 * "http://addr:port".  Answers are collected into a dynbuf capped at
 * AGENT_MAX_RESPONSE by lib/curlx.c's callbacks, shared with the CLI.  An agent that answers with
 * an HTTP error is still "an answer" for agent_call (the caller reads the status); the other calls
 * turn problem+json answers into a struct nubo_err carrying the agent's
 * own detail.
 */
#include "lib/agent_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/curlx.h"
#include "lib/log.h"
#include "lib/util.h"

#define AGENT_MAX_RESPONSE (4u << 20)
#define AGENT_CONNECT_TIMEOUT_MS 2000L
/* An upload fails when fewer than this many bytes per second move for
 * AGENT_UPLOAD_STALL_S seconds (instead of a fixed total timeout, which
 * a big image on a slow link would exceed). */
#define AGENT_UPLOAD_MIN_BPS 1024L
#define AGENT_UPLOAD_STALL_S 30L

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* A prepared request: the handle, its header list and its answer. */
struct req {
    CURL *curl;
    struct curl_slist *headers;
    struct curlx_resp resp;
    struct curlx_upload upload;
    char errbuf[CURL_ERROR_SIZE];
};

static void req_free(struct req *r)
{
    if (r->curl)
        curl_easy_cleanup(r->curl);
    curl_slist_free_all(r->headers);
    dynbuf_free(&r->resp.body);
}

/* Sets up a handle for method + path on t.  timeout_ms 0 = no total
 * timeout (uploads use a low-speed limit instead). */
static int req_init(struct req *r, const struct agent_target *t, const char *method,
                    const char *path, long timeout_ms, struct nubo_err *err)
{
    pthread_once(&curl_once, curl_init_once);
    memset(r, 0, sizeof(*r));
    curlx_resp_init(&r->resp, AGENT_MAX_RESPONSE);
    r->curl = curl_easy_init();
    if (r->curl == NULL)
        return nubo_err_set(err, NUBO_E_INTERNAL, "cannot initialize libcurl");
    char url[1024];
    const char *addr = t->address ? t->address : "";
    struct curlx_cfg cfg = {.url = url,
                            .protocols = "http",
                            .connect_timeout_ms = AGENT_CONNECT_TIMEOUT_MS,
                            .timeout_ms = timeout_ms,
                            .resp = &r->resp,
                            .errbuf = r->errbuf};
    if (curlx_url(addr, path, url, sizeof(url), &cfg.unix_socket) < 0)
        return nubo_err_set(err, NUBO_E_UNAVAILABLE,
                            "host %s has an unusable address '%.100s' (want unix:/path or "
                            "http://addr:port)",
                            t->name, addr);
    curlx_setup(r->curl, &cfg);
    curl_easy_setopt(r->curl, CURLOPT_CUSTOMREQUEST, method);
    /* libmicrohttpd answers 100-continue, but waiting for it costs a
     * round trip on every upload. */
    r->headers = curl_slist_append(r->headers, "Expect:");
    /* the operation's id follows it into the agent's log */
    if (log_request_id()[0]) {
        char rid[128];
        snprintf(rid, sizeof(rid), "X-Request-Id: %s", log_request_id());
        r->headers = curl_slist_append(r->headers, rid);
    }
    if (t->token && t->token[0]) {
        char auth[256];
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", t->token);
        r->headers = curl_slist_append(r->headers, auth);
        explicit_bzero(auth, sizeof(auth));
    }
    return 0;
}

/* Runs the request; returns 0 with the HTTP status, or -1 with err when
 * there was no answer. */
static int req_perform(struct req *r, const struct agent_target *t, long *status,
                       struct nubo_err *err)
{
    curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, r->headers);
    CURLcode cc = curl_easy_perform(r->curl);
    if (cc != CURLE_OK) {
        log_debug("host %s: %s", t->name, r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc));
        if (r->upload.failed)
            return nubo_err_set(err, NUBO_E_INTERNAL,
                                "host %s: the file to upload ended after %lld of %lld bytes%s%s",
                                t->name, r->upload.sent, r->upload.size,
                                r->upload.errnum ? ": " : "",
                                r->upload.errnum ? strerror(r->upload.errnum) : "");
        if (dynbuf_error(&r->resp.body) == E2BIG)
            return nubo_err_set(err, NUBO_E_UNAVAILABLE,
                                "host %s: the agent's answer is larger than %u MiB", t->name,
                                AGENT_MAX_RESPONSE >> 20);
        if (cc == CURLE_OPERATION_TIMEDOUT)
            return nubo_err_set(err, NUBO_E_UNAVAILABLE,
                                "host %s: the agent did not answer in time", t->name);
        return nubo_err_set(err, NUBO_E_UNAVAILABLE, "host %s: cannot reach the agent at %s: %s",
                            t->name, t->address, curl_easy_strerror(cc));
    }
    curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

/* Fills err for an agent's error answer: the status's code and the
 * problem+json detail when there is one.  Returns -1. */
static int status_error(const struct agent_target *t, long status, const char *detail,
                        struct nubo_err *err)
{
    enum nubo_errcode code;
    switch (status) {
    case 400:
        code = NUBO_E_INVALID;
        break;
    case 404:
        code = NUBO_E_NOTFOUND;
        break;
    case 409:
        code = NUBO_E_CONFLICT;
        break;
    case 413:
        code = NUBO_E_TOOLARGE;
        break;
    case 504:
        code = NUBO_E_TIMEOUT;
        break;
    case 507:
        code = NUBO_E_CAPACITY;
        break;
    default:
        code = NUBO_E_UNAVAILABLE;
        break; /* 401 too: our credentials, not the user's */
    }
    return nubo_err_set(err, code, "host %s: %s", t->name,
                        detail ? detail : "the agent answered with an error");
}

static int answer_error(const struct agent_target *t, long status, const struct dynbuf *b,
                        struct nubo_err *err)
{
    json_error_t je;
    json_t *o = dynbuf_len(b) ? json_loadb(dynbuf_str(b), dynbuf_len(b), 0, &je) : NULL;
    status_error(t, status, json_string_value(json_object_get(o, "detail")), err);
    json_decref(o);
    return -1;
}

int agent_call(const struct agent_target *t, const char *method, const char *path,
               const json_t *body, int timeout_ms, long *status, json_t **out, struct nubo_err *err)
{
    struct req r;
    *out = NULL;
    *status = 0;
    if (req_init(&r, t, method, path, timeout_ms > 0 ? timeout_ms : 10000, err) < 0) {
        req_free(&r);
        return -1;
    }
    char *text = NULL;
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        if (text == NULL) {
            req_free(&r);
            return nubo_err_set(err, NUBO_E_INTERNAL, "cannot encode a request to host %s",
                                t->name);
        }
        r.headers = curl_slist_append(r.headers, "Content-Type: application/json");
        curl_easy_setopt(r.curl, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(r.curl, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
    }
    int rc = req_perform(&r, t, status, err);
    if (rc == 0 && dynbuf_len(&r.resp.body) > 0) {
        json_error_t je;
        *out = json_loadb(dynbuf_str(&r.resp.body), dynbuf_len(&r.resp.body), 0, &je);
    }
    free(text);
    req_free(&r);
    return rc;
}

char *agent_console(const struct agent_target *t, const char *vm, long long offset, int limit,
                    size_t *len, long long *next, struct nubo_err *err)
{
    struct req r;
    char path[256];
    snprintf(path, sizeof(path), "/v1/vms/%s/console?offset=%lld&limit=%d", vm, offset, limit);
    if (req_init(&r, t, "GET", path, 10000, err) < 0) {
        req_free(&r);
        return NULL;
    }
    long status = 0;
    char *out = NULL;
    if (req_perform(&r, t, &status, err) == 0) {
        if (status != 200) {
            answer_error(t, status, &r.resp.body, err);
        } else {
            out = dynbuf_take(&r.resp.body, len);
            *next = r.resp.console_offset >= 0 ? r.resp.console_offset
                                               : (offset >= 0 ? offset : 0) + (long long)*len;
        }
    }
    req_free(&r);
    return out;
}

/* Runs an upload of `size` bytes read by curl from `src` (a FILE *). */
static int put_stream(const struct agent_target *t, const char *image, const char *part, FILE *src,
                      long long size, const char *sha256, struct nubo_err *err)
{
    struct req r;
    char path[256];
    snprintf(path, sizeof(path), "/v1/images/%s/%s", image, part);
    if (req_init(&r, t, "PUT", path, 0, err) < 0) {
        req_free(&r);
        return -1;
    }
    char hdr[128];
    snprintf(hdr, sizeof(hdr), "X-Checksum-Sha256: %s", sha256);
    r.headers = curl_slist_append(r.headers, hdr);
    r.headers = curl_slist_append(r.headers, "Content-Type: application/octet-stream");
    r.upload = (struct curlx_upload){.f = src, .size = size};
    curl_easy_setopt(r.curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(r.curl, CURLOPT_READFUNCTION, curlx_read_cb);
    curl_easy_setopt(r.curl, CURLOPT_READDATA, &r.upload);
    curl_easy_setopt(r.curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
    curl_easy_setopt(r.curl, CURLOPT_LOW_SPEED_LIMIT, AGENT_UPLOAD_MIN_BPS);
    curl_easy_setopt(r.curl, CURLOPT_LOW_SPEED_TIME, AGENT_UPLOAD_STALL_S);
    long status = 0;
    int rc = req_perform(&r, t, &status, err);
    if (rc == 0 && (status < 200 || status > 299))
        rc = answer_error(t, status, &r.resp.body, err);
    req_free(&r);
    return rc;
}

int agent_put_file(const struct agent_target *t, const char *image, const char *part,
                   const char *path, const char *sha256, struct nubo_err *err)
{
    FILE *f = fopen(path, "rbe");
    if (f == NULL)
        return nubo_err_set(err, errno == ENOENT ? NUBO_E_NOTFOUND : NUBO_E_INTERNAL,
                            "cannot read image file %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) < 0) {
        fclose(f);
        return nubo_err_set(err, NUBO_E_INTERNAL, "cannot stat %s: %s", path, strerror(errno));
    }
    int rc = put_stream(t, image, part, f, (long long)st.st_size, sha256, err);
    fclose(f);
    return rc;
}

int agent_put_data(const struct agent_target *t, const char *image, const char *part,
                   const void *data, size_t len, const char *sha256, struct nubo_err *err)
{
    /* fmemopen() of an empty buffer is an error; a one-byte view read
     * zero times works for empty data. */
    FILE *f = fmemopen((void *)(len ? data : ""), len ? len : 1, "rb");
    if (f == NULL)
        return nubo_err_set(err, NUBO_E_INTERNAL, "cannot read memory: %s", strerror(errno));
    int rc = put_stream(t, image, part, f, (long long)len, sha256, err);
    fclose(f);
    return rc;
}

int agent_answer_error(const struct agent_target *t, long status, const json_t *body,
                       struct nubo_err *err)
{
    return status_error(t, status, json_string_value(json_object_get(body, "detail")), err);
}
