/*
 * routes_stack.c - /v1/stacks: infrastructure as code (src/stack).
 *
 * Creating, updating and destroying answer 202 at once with the plan; the
 * controller's stack engine does the work and records events, which
 * clients follow at /v1/stacks/{id}/events?after=N.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "lib/util.h"
#include "lib/valid.h"
#include "stack/stack.h"

static struct stack_engine *engine(struct api_call *call)
{
    return call->api->stacks;
}

/* A parameter value as docs/openapi.json's StackParameters has it: a
 * string, number or boolean, or a list (at most 1000) of them. */
static bool param_value_ok(const json_t *v, bool in_list)
{
    if (json_is_string(v) || json_is_number(v) || json_is_boolean(v))
        return true;
    if (in_list || !json_is_array(v) || json_array_size(v) > 1000)
        return false;
    size_t i;
    json_t *x;
    json_array_foreach (v, i, x)
        if (!param_value_ok(x, true))
            return false;
    return true;
}

static bool params_ok(const json_t *p)
{
    const char *k;
    json_t *v;
    json_object_foreach ((json_t *)p, k, v)
        if (!param_value_ok(v, false))
            return false;
    return true;
}

/* Reads {template, parameters, on_failure, name?}; answers 400 itself. */
static int read_body(struct api_call *call, json_t *b, const char **tmpl, json_t **params,
                     const char **on_failure)
{
    struct nubo_err err;
    json_t *t = json_object_get(b, "template");
    json_t *p = json_object_get(b, "parameters");
    json_t *o = json_object_get(b, "on_failure");
    *tmpl = json_string_value(t);
    *params = json_is_null(p) ? NULL : p;
    *on_failure = json_string_value(o);
    if (t && !json_is_null(t) && !json_is_string(t))
        nubo_err_set(&err, NUBO_E_INVALID, "'template' must be a string (YAML or JSON text)");
    else if (p && !json_is_null(p) && !json_is_object(p))
        nubo_err_set(&err, NUBO_E_INVALID, "'parameters' must be an object of name: value");
    else if (p && !json_is_null(p) && !params_ok(p))
        nubo_err_set(&err, NUBO_E_INVALID,
                     "a parameter's value must be a string, number or boolean, or a list "
                     "(at most 1000) of them");
    else if (o && !json_is_null(o) && !json_is_string(o))
        nubo_err_set(&err, NUBO_E_INVALID, "'on_failure' must be rollback or stop");
    else
        return 0;
    api_fail(call, &err);
    return -1;
}

static void post_plan(struct api_call *call)
{
    static const char *const fields[] = {"template", "parameters", "stack", NULL};
    struct nubo_err err = {0};
    const char *tmpl, *onf;
    json_t *params;
    json_t *b = api_body(call, fields);
    if (b == NULL || read_body(call, b, &tmpl, &params, &onf) < 0)
        return;
    json_t *s = json_object_get(b, "stack");
    if (s && !json_is_null(s) && !json_is_string(s)) {
        nubo_err_set(&err, NUBO_E_INVALID, "'stack' must be a stack's id or name");
        api_fail(call, &err);
        return;
    }
    api_reply_or_fail(
        call, 200, stack_plan(engine(call), &call->ctx, json_string_value(s), tmpl, params, &err),
        &err);
}

static void post_stacks(struct api_call *call)
{
    static const char *const fields[] = {"name", "template", "parameters", "on_failure", NULL};
    struct nubo_err err = {0};
    const char *tmpl, *onf;
    json_t *params;
    json_t *b = api_body(call, fields);
    if (b == NULL || read_body(call, b, &tmpl, &params, &onf) < 0)
        return;
    json_t *n = json_object_get(b, "name");
    if (n && !json_is_string(n)) {
        nubo_err_set(&err, NUBO_E_INVALID, "'name' must be a string");
        api_fail(call, &err);
        return;
    }
    json_t *out =
        stack_create(engine(call), &call->ctx, json_string_value(n), tmpl, params, onf, &err);
    if (out)
        str_copy(call->target, sizeof(call->target),
                 json_string_value(json_object_get(json_object_get(out, "stack"), "id")));
    api_reply_or_fail(call, 202, out, &err);
}

static void get_stacks(struct api_call *call)
{
    struct nubo_err err = {0};
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(call, "stacks",
                           stack_list(engine(call), &call->ctx, limit, marker, &err), limit, &err);
}

static void get_stack(struct api_call *call)
{
    struct nubo_err err = {0};
    api_reply_or_fail(call, 200, stack_get(engine(call), &call->ctx, call->params[0], &err), &err);
}

static void put_stack(struct api_call *call)
{
    static const char *const fields[] = {"template", "parameters", "on_failure", NULL};
    struct nubo_err err = {0};
    const char *tmpl, *onf;
    json_t *params;
    json_t *b = api_body(call, fields);
    if (b == NULL || read_body(call, b, &tmpl, &params, &onf) < 0)
        return;
    str_copy(call->target, sizeof(call->target), call->params[0]);
    api_reply_or_fail(
        call, 202, stack_update(engine(call), &call->ctx, call->params[0], tmpl, params, onf, &err),
        &err);
}

static void delete_stack(struct api_call *call)
{
    struct nubo_err err = {0};
    str_copy(call->target, sizeof(call->target), call->params[0]);
    api_reply_or_fail(call, 202, stack_destroy(engine(call), &call->ctx, call->params[0], &err),
                      &err);
}

static void get_events(struct api_call *call)
{
    struct nubo_err err = {0};
    long long after = 0, limit = 500;
    const char *a = api_query(call, "after"), *l = api_query(call, "limit");
    if ((a && valid_int(a, 0, 1LL << 62, "after", &after, &err) < 0) ||
        (l && valid_int(l, 1, 1000, "limit", &limit, &err) < 0)) {
        api_fail(call, &err);
        return;
    }
    json_t *ev = stack_events(engine(call), &call->ctx, call->params[0], (int)limit, after, &err);
    api_reply_or_fail(call, 200, ev ? json_pack("{s:o}", "events", ev) : NULL, &err);
}

static void get_resources(struct api_call *call)
{
    struct nubo_err err = {0};
    json_t *r = stack_resources(engine(call), &call->ctx, call->params[0], &err);
    api_reply_or_fail(call, 200, r ? json_pack("{s:o}", "resources", r) : NULL, &err);
}

static void get_revisions(struct api_call *call)
{
    struct nubo_err err = {0};
    json_t *r = stack_revisions(engine(call), &call->ctx, call->params[0], &err);
    api_reply_or_fail(call, 200, r ? json_pack("{s:o}", "revisions", r) : NULL, &err);
}

static void get_outputs(struct api_call *call)
{
    struct nubo_err err = {0};
    api_reply_or_fail(call, 200, stack_outputs(engine(call), &call->ctx, call->params[0], &err),
                      &err);
}

static void get_drift(struct api_call *call)
{
    struct nubo_err err = {0};
    api_reply_or_fail(call, 200, stack_drift(engine(call), &call->ctx, call->params[0], &err),
                      &err);
}

const struct route stack_routes[] = {
    {"GET", "/v1/stacks", AUTHZ_READ, NULL, get_stacks, 0},
    {"POST", "/v1/stacks", AUTHZ_WRITE, "stack.create", post_stacks, ROUTE_IDEMPOTENT},
    {"POST", "/v1/stacks/plan", AUTHZ_READ, NULL, post_plan, ROUTE_NO_AUDIT},
    {"GET", "/v1/stacks/{id}", AUTHZ_READ, NULL, get_stack, 0},
    {"PUT", "/v1/stacks/{id}", AUTHZ_WRITE, "stack.update", put_stack, 0},
    {"DELETE", "/v1/stacks/{id}", AUTHZ_WRITE, "stack.destroy", delete_stack, 0},
    {"GET", "/v1/stacks/{id}/events", AUTHZ_READ, NULL, get_events, 0},
    {"GET", "/v1/stacks/{id}/resources", AUTHZ_READ, NULL, get_resources, 0},
    {"GET", "/v1/stacks/{id}/revisions", AUTHZ_READ, NULL, get_revisions, 0},
    {"GET", "/v1/stacks/{id}/outputs", AUTHZ_READ, NULL, get_outputs, 0},
    {"GET", "/v1/stacks/{id}/drift", AUTHZ_READ, NULL, get_drift, 0},
    {NULL, NULL, 0, NULL, NULL, 0},
};
