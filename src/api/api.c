/*
 * api.c - the dispatcher and the handler helpers; see api.h.
 */
#include "api/api.h"
#include "api/web.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/fault.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/valid.h"

/* web_routes (the portal's files) stays last: its /{page} must not shadow
 * an API route. */
static const struct route *const route_tables[] = {
    identity_routes, compute_routes, host_routes,  misc_routes,    billing_routes, monitor_routes,
    network_routes,  scale_routes,   stack_routes, storage_routes, web_routes};

/* ------------------------------------------------------------- matching */

/* A path parameter: an id, a name, or a name-like token. */
static int param_ok(const char *s, size_t n)
{
    return valid_token(s, n, 79);
}

/* Matches path against pattern, capturing {params}.  Returns 1 on a match,
 * 0 when the shape differs, -1 when the shape matches but a parameter is
 * malformed (then the resource cannot exist: 404). */
static int match(const char *pattern, const char *path, char params[][80], int *np)
{
    const char *p = pattern, *s = path;
    int n = 0, bad = 0;
    while (*p && *s) {
        if (*p == '{') {
            const char *pe = strchr(p, '}');
            size_t len = strcspn(s, "/");
            if (pe == NULL || n >= API_MAX_PARAMS)
                return 0;
            if (!param_ok(s, len))
                bad = 1;
            else
                snprintf(params[n], 80, "%.*s", (int)len, s);
            n++;
            p = pe + 1;
            s += len;
            continue;
        }
        if (*p != *s)
            return 0;
        p++;
        s++;
    }
    if (*p || *s)
        return 0;
    *np = n;
    return bad ? -1 : 1;
}

/* Finds the route for method + path.  *path_known tells whether some route
 * has this path (for 405 vs 404); allow lists its methods. */
static const struct route *route_find(const char *method, const char *path, char params[][80],
                                      int *bad_param, int *path_known, char *allow, size_t n)
{
    const struct route *found = NULL;
    *bad_param = 0;
    *path_known = 0;
    allow[0] = '\0';
    for (size_t t = 0; t < ARRAY_LEN(route_tables); t++) {
        for (const struct route *r = route_tables[t]; r->method; r++) {
            char tmp[API_MAX_PARAMS][80];
            int np = 0;
            int m = match(r->pattern, path, tmp, &np);
            if (m == 0)
                continue;
            *path_known = 1;
            size_t l = strlen(allow);
            snprintf(allow + l, n - l, "%s%s", l ? ", " : "", r->method);
            if (strcmp(r->method, method) != 0 || found)
                continue;
            if (m < 0) {
                *bad_param = 1;
                continue;
            }
            memcpy(params, tmp, sizeof(tmp));
            found = r;
        }
    }
    return found;
}

void api_routes_print(FILE *out)
{
    for (size_t t = 0; t < ARRAY_LEN(route_tables); t++) {
        if (route_tables[t] == web_routes) /* the portal's files, not the API */
            continue;
        for (const struct route *r = route_tables[t]; r->method; r++)
            fprintf(out, "%s %s\n", r->method, r->pattern);
    }
}

/* ------------------------------------------------------------- helpers */

void api_reply(struct api_call *call, int status, json_t *body)
{
    http_resp_json(call->resp, status, body);
}

void api_fail(struct api_call *call, const struct nubo_err *err)
{
    struct nubo_err full;
    if (err->code == NUBO_E_INTERNAL && call->api &&
        store_full_at_ms(call->api->st) >= call->started_ms) {
        /* The store refused a write for lack of space during this call,
         * and a service answered with a generic error: say what it was. */
        nubo_err_set(&full, NUBO_E_STORAGE_FULL,
                     "the controller's store is full: its disk has no space left, so the change "
                     "was not made (reads still work); an operator must free space on the disk "
                     "of nubod's state directory, then retry: nubod recovers by itself");
        err = &full;
    }
    http_resp_problem(call->resp, err, call->req->path);
}

void api_no_content(struct api_call *call)
{
    http_resp_text(call->resp, 204, "", 0);
}

void api_reply_or_fail(struct api_call *call, int status, json_t *obj, const struct nubo_err *err)
{
    if (obj != NULL) {
        api_reply(call, status, obj);
        return;
    }
    struct nubo_err e = *err;
    if (e.code == NUBO_OK)
        nubo_err_set(&e, NUBO_E_INTERNAL, "the answer could not be built; retry");
    api_fail(call, &e);
}

void api_reply_page_or_fail(struct api_call *call, const char *key, json_t *rows, int limit,
                            const struct nubo_err *err)
{
    api_reply_or_fail(call, 200, rows ? store_page_wrap(key, rows, limit, "id") : NULL, err);
}

void api_no_content_or_fail(struct api_call *call, int rc, const struct nubo_err *err)
{
    if (rc < 0)
        api_reply_or_fail(call, 0, NULL, err);
    else
        api_no_content(call);
}

json_t *api_body(struct api_call *call, const char *const allowed[])
{
    struct nubo_err err;
    if (call->body == NULL) {
        call->body = http_req_json(call->req, &err);
        if (call->body == NULL) {
            api_fail(call, &err);
            return NULL;
        }
    }
    const char *key;
    json_t *v;
    json_object_foreach (call->body, key, v) {
        int ok = 0;
        for (const char *const *a = allowed; a && *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok) {
            nubo_err_set(&err, NUBO_E_INVALID, "unknown field '%.40s'", key);
            api_fail(call, &err);
            return NULL;
        }
    }
    return call->body;
}

const char *api_query(struct api_call *call, const char *key)
{
    return http_req_query(call->req, key);
}

int api_page(struct api_call *call, int *limit, const char **marker)
{
    struct nubo_err err;
    long long l = 100;
    const char *ls = api_query(call, "limit");
    if (ls && valid_int(ls, 1, 1000, "limit", &l, &err) < 0) {
        api_fail(call, &err);
        return -1;
    }
    *limit = (int)l;
    *marker = api_query(call, "marker");
    if (*marker && !param_ok(*marker, strlen(*marker))) {
        nubo_err_set(&err, NUBO_E_INVALID, "marker must be the id of the last item of a page");
        api_fail(call, &err);
        return -1;
    }
    return 0;
}

int api_query_bool(struct api_call *call, const char *key, int *out)
{
    const char *v = api_query(call, key);
    *out = 0;
    if (v == NULL)
        return 0;
    if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0) {
        *out = 1;
        return 0;
    }
    if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
        return 0;
    struct nubo_err err;
    nubo_err_set(&err, NUBO_E_INVALID, "'%s' must be true or false", key);
    api_fail(call, &err);
    return -1;
}

/* ---------------------------------------------------------- idempotency */

static int idem_key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return 0;
    }
    return 1;
}

/* Before the handler: claims the key, or answers from an earlier request.
 * Returns 1 when the call is answered already, 0 to go on, -1 on error
 * (answered). */
static int idem_begin(struct api_call *call, const char *key, char hash[CRYPTO_SHA256_HEX])
{
    struct nubo_err err;
    size_t n = strlen(call->req->method) + strlen(call->req->path) + call->req->body_len + 2;
    char *buf = xmalloc(n + 1);
    snprintf(buf, n + 1, "%s %s ", call->req->method, call->req->path);
    size_t off = strlen(buf);
    memcpy(buf + off, call->req->body, call->req->body_len);
    crypto_sha256_hex(buf, off + call->req->body_len, hash);
    free(buf);
    const char *who = call->ctx.user_id[0] ? call->ctx.user_id : call->ctx.host_id;
    int status;
    json_t *earlier;
    int rc = identity_idem_claim(call->api->st, who, key, call->req->method, call->req->path, hash,
                                 &status, &earlier, &err);
    if (rc < 0) {
        api_fail(call, &err);
        return -1;
    }
    if (rc == 1) {
        api_reply(call, status, earlier);
        str_copy(call->resp->extra_name, sizeof(call->resp->extra_name), "Idempotent-Replayed");
        str_copy(call->resp->extra_value, sizeof(call->resp->extra_value), "true");
    }
    return rc;
}

static void idem_end(struct api_call *call, const char *key)
{
    const char *who = call->ctx.user_id[0] ? call->ctx.user_id : call->ctx.host_id;
    identity_idem_unbind();
    fault_point("idem.handled");
    identity_idem_finish(call->api->st, who, key, call->resp->status, call->resp->body);
    fault_point("idem.finished");
}

/* ------------------------------------------------------------ dispatch */

static void not_found(struct http_resp *resp, const struct http_req *req)
{
    struct nubo_err err;
    nubo_err_set(&err, NUBO_E_NOTFOUND, "no such resource: %.200s", req->path);
    http_resp_problem(resp, &err, req->path);
}

void api_handle(void *ctx, const struct http_req *req, struct http_resp *resp)
{
    struct api *api = ctx;
    struct api_call call = {
        .api = api, .req = req, .resp = resp, .started_ms = (long long)clock_mono_ms()};
    struct nubo_err err;
    int bad_param, known;
    char allow[64];
    str_copy(call.ctx.request_id, sizeof(call.ctx.request_id), req->request_id);
    const struct route *r =
        route_find(req->method, req->path, call.params, &bad_param, &known, allow, sizeof(allow));
    if (r == NULL) {
        if (bad_param || !known) {
            not_found(resp, req);
        } else {
            nubo_err_set(&err, NUBO_E_METHOD, "%s is not allowed on %s (allowed: %s)", req->method,
                         req->path, allow);
            http_resp_problem(resp, &err, req->path);
            str_copy(resp->extra_name, sizeof(resp->extra_name), "Allow");
            str_copy(resp->extra_value, sizeof(resp->extra_value), allow);
        }
        return;
    }
    if (r->authz != AUTHZ_PUBLIC) {
        if (identity_authenticate(api->st, http_req_header(req, "Authorization"), &call.ctx, &err) <
                0 ||
            authz_require(&call.ctx, r->authz, &err) < 0) {
            api_fail(&call, &err);
            if (r->action && call.ctx.user_id[0])
                identity_audit(api->st, &call.ctx, req->method, req->path, r->action, NULL,
                               resp->status, "denied");
            return;
        }
    }
    const char *key = http_req_header(req, "Idempotency-Key");
    char hash[CRYPTO_SHA256_HEX];
    int idem = 0;
    if (key && (r->flags & ROUTE_IDEMPOTENT)) {
        if (!idem_key_ok(key)) {
            nubo_err_set(&err, NUBO_E_INVALID,
                         "Idempotency-Key must be 1 to 64 characters of [A-Za-z0-9._:-]");
            api_fail(&call, &err);
            goto audit;
        }
        int ir = idem_begin(&call, key, hash);
        if (ir > 0) /* replayed: audited when it ran */
            return;
        if (ir < 0) /* refused (a full store, a key in use): audited as a failure */
            goto audit;
        idem = 1;
        /* The service may record its answer with its effect. */
        identity_idem_bind(call.ctx.user_id[0] ? call.ctx.user_id : call.ctx.host_id, key,
                           req->method, req->path);
    }
    r->handler(&call);
    if (resp->body == NULL) {
        nubo_err_set(&err, NUBO_E_INTERNAL, "the handler gave no answer");
        api_fail(&call, &err);
    }
    if (idem)
        idem_end(&call, key);
audit:
    if (r->action && !(r->flags & ROUTE_NO_AUDIT)) {
        const char *result = resp->status < 400 ? "success" : "failure";
        identity_audit(api->st, &call.ctx, req->method, req->path, r->action,
                       call.target[0] ? call.target : (call.params[0][0] ? call.params[0] : NULL),
                       resp->status, result);
    }
    json_decref(call.body);
}

int api_stream(void *ctx, const struct http_req *req)
{
    struct api *api = ctx;
    int bad_param, known;
    char allow[64], params[API_MAX_PARAMS][80];
    const struct route *r =
        route_find(req->method, req->path, params, &bad_param, &known, allow, sizeof(allow));
    if (r == NULL || !(r->flags & ROUTE_STREAM))
        return -1;
    /* Authenticate before accepting gigabytes: a refused caller's body is
     * thrown away, and the dispatcher then answers 401/403. */
    struct ctx c;
    memset(&c, 0, sizeof(c));
    struct nubo_err err;
    if (identity_authenticate(api->st, http_req_header(req, "Authorization"), &c, &err) < 0 ||
        authz_require(&c, r->authz, &err) < 0)
        return open("/dev/null", O_WRONLY | O_CLOEXEC);
    return open(api->image_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}

/* ------------------------------------------------------- body members */

int api_bad_field(struct api_call *call, const char *key, const char *what)
{
    struct nubo_err err;
    nubo_err_set(&err, NUBO_E_INVALID, "'%s' must be %s", key, what);
    api_fail(call, &err);
    return -1;
}

int api_field_str(struct api_call *call, json_t *b, const char *key, const char **out)
{
    json_t *v = json_object_get(b, key);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return api_bad_field(call, key, "a string");
    *out = json_string_value(v);
    return 0;
}

int api_field_str_req(struct api_call *call, json_t *b, const char *key, const char *what,
                      const char **out)
{
    if (api_field_str(call, b, key, out) < 0)
        return -1;
    if (*out == NULL) {
        struct nubo_err err;
        nubo_err_set(&err, NUBO_E_INVALID, "'%s' is required: %s", key, what);
        api_fail(call, &err);
        return -1;
    }
    return 0;
}

int api_field_bool(struct api_call *call, json_t *b, const char *key, bool *out)
{
    json_t *v = json_object_get(b, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return api_bad_field(call, key, "true or false");
    *out = json_is_true(v);
    return 0;
}

int api_field_int(struct api_call *call, json_t *b, const char *key, long long *out)
{
    json_t *v = json_object_get(b, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return api_bad_field(call, key, "an integer");
    *out = json_integer_value(v);
    return 0;
}

int api_field_array(struct api_call *call, json_t *b, const char *key, const char *what,
                    const json_t **out)
{
    json_t *v = json_object_get(b, key);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return api_bad_field(call, key, what);
    *out = v;
    return 0;
}

void api_target_from(struct api_call *call, const json_t *obj)
{
    const char *id = json_string_value(json_object_get(obj, "id"));
    if (id)
        str_copy(call->target, sizeof(call->target), id);
}
