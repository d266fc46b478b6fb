/*
 * api.h - nubod's REST API layer: routing, authentication, errors,
 * pagination, idempotency keys, audit.
 *
 * A route is a row in a const table: method, path pattern with {params},
 * the access it needs (enum authz), the audit action name for mutating
 * calls, and a handler.  The dispatcher (api.c) matches the route,
 * validates path parameters, authenticates the caller into a struct ctx,
 * asks authz_require() - the one place where access is decided - and, for
 * POSTs carrying an Idempotency-Key, replays the stored answer of an
 * earlier identical request instead of running the handler twice.  Every
 * mutating call is written to the audit log with its result.
 *
 * Handlers turn HTTP into service calls and back; they never touch SQL
 * (services do, through store.h).  Errors become RFC 7807 problem+json.
 *
 * Lists take ?limit= (1..1000, default 100) and ?marker= (the id of the
 * last item of the previous page) and answer {"<things>": [...],
 * "next_marker": id or null}.
 */
#ifndef NUBO_API_H
#define NUBO_API_H

#include <jansson.h>
#include <stdio.h>

#include "identity/identity.h"
#include "lib/httpd.h"
#include "store/store.h"

struct monitor;
struct stack_engine;

/* What the handlers use, filled by nubod's main: the services that keep
 * state of their own besides the store.  The API reaches nothing else of
 * the controller; services wake the reconciler through their change hooks
 * (registered by src/ctrl). */
struct api {
    struct store *st;
    struct monitor *monitor;     /* metrics and alarms */
    struct stack_engine *stacks; /* infrastructure as code */
    const char *image_dir;       /* where image files live */
    /* ms since the reconciler last began a pass (GET /v1/health); NULL in
     * tests that run no reconciler */
    long long (*reconciler_idle_ms)(const void *ctx);
    /* the public key pin of nubod's TLS certificate ("sha256//..."), for
     * the commands that join hosts; NULL without TLS */
    const char *controller_pin;
    const void *reconciler_ctx;
};

#define API_MAX_PARAMS 3

struct api_call {
    struct api *api;
    const struct http_req *req;
    struct http_resp *resp;
    struct ctx ctx;
    char params[API_MAX_PARAMS][80]; /* path parameters, in pattern order */
    char target[80];                 /* the resource acted on, for the audit log */
    json_t *body;                    /* parsed by api_body(); freed by the dispatcher */
    long long started_ms;            /* clock_mono_ms() when the call came in */
};

typedef void (*api_handler_fn)(struct api_call *call);

enum route_flags {
    ROUTE_IDEMPOTENT = 1, /* POST that creates: honours Idempotency-Key */
    ROUTE_NO_AUDIT = 2,   /* mutating but too frequent to audit (heartbeats) */
    ROUTE_STREAM = 4,     /* the body is an upload streamed to a file */
};

struct route {
    const char *method;
    const char *pattern; /* "/v1/instances/{id}/actions" */
    enum authz authz;
    const char *action; /* audit name, e.g. "instance.create"; NULL for reads */
    api_handler_fn handler;
    int flags;
};

/* The route tables of the modules, each ending with {NULL}. */
extern const struct route identity_routes[];
extern const struct route compute_routes[];
extern const struct route host_routes[];
extern const struct route misc_routes[];
extern const struct route billing_routes[];
extern const struct route monitor_routes[];
extern const struct route network_routes[];
extern const struct route scale_routes[];
extern const struct route stack_routes[];
extern const struct route storage_routes[];

/* The http_handler_fn and http_stream_fn of nubod; ctx is the struct api. */
void api_handle(void *ctx, const struct http_req *req, struct http_resp *resp);
int api_stream(void *ctx, const struct http_req *req);

/* Prints "METHOD PATTERN" for every route, one per line (nubod
 * --print-routes; the OpenAPI coverage test compares it with docs/). */
void api_routes_print(FILE *out);

/* ---- helpers for handlers --------------------------------------------- */

/* Answers with a JSON value (stolen). */
void api_reply(struct api_call *call, int status, json_t *body);

/* Answers with problem+json from err. */
void api_fail(struct api_call *call, const struct nubo_err *err);

/* The answer to a service call: status with obj (stolen) when obj is not
 * NULL, else the service's error (500 when the service set none). */
void api_reply_or_fail(struct api_call *call, int status, json_t *obj, const struct nubo_err *err);

/* The same for a list fetched with limit + 1 rows (see store_page_wrap). */
void api_reply_page_or_fail(struct api_call *call, const char *key, json_t *rows, int limit,
                            const struct nubo_err *err);

/* 204 when rc is 0, else the service's error. */
void api_no_content_or_fail(struct api_call *call, int rc, const struct nubo_err *err);

/* 204 No Content. */
void api_no_content(struct api_call *call);

/* Parses the body as a JSON object whose keys are all in allowed
 * (NULL-terminated).  Returns a borrowed reference (owned by the call) or
 * NULL after answering 4xx itself. */
json_t *api_body(struct api_call *call, const char *const allowed[]);

/* Members of a parsed body.  Each answers 400 itself ("'key' must be
 * what") and returns -1 when the member has the wrong type; an absent or
 * null member is 0 and leaves *out as it was (api_field_str: NULL). */
int api_bad_field(struct api_call *call, const char *key, const char *what);
int api_field_str(struct api_call *call, json_t *b, const char *key, const char **out);
/* A required string: absent or null is 400 "'key' is required: what". */
int api_field_str_req(struct api_call *call, json_t *b, const char *key, const char *what,
                      const char **out);
int api_field_bool(struct api_call *call, json_t *b, const char *key, bool *out);
int api_field_int(struct api_call *call, json_t *b, const char *key, long long *out);
/* An array (borrowed), described by what in the error. */
int api_field_array(struct api_call *call, json_t *b, const char *key, const char *what,
                    const json_t **out);

/* Records the id of obj (a service's answer) as the call's audit target. */
void api_target_from(struct api_call *call, const json_t *obj);

/* Query-string value or NULL. */
const char *api_query(struct api_call *call, const char *key);

/* Reads ?limit= and ?marker=; answers 400 itself and returns -1 when bad. */
int api_page(struct api_call *call, int *limit, const char **marker);

/* Reads an optional boolean query flag ("1", "true"); answers 400 itself
 * and returns -1 when malformed. */
int api_query_bool(struct api_call *call, const char *key, int *out);

#endif
