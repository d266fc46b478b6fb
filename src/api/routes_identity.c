/*
 * routes_identity.c - /v1/auth, /v1/projects, /v1/users, /v1/audit.
 *
 * Each handler checks the JSON shape of the request (which fields, of
 * which JSON type), calls one identity service (identity.h) and turns its
 * answer or its nubo_err into HTTP.  Values are validated by the services;
 * what a caller may see is decided there from the ctx, on top of the
 * route's authz.  call->target names the affected resource for the audit
 * log: what the caller named, replaced by the id once it is known.
 *
 * POST /v1/auth/apikeys and POST /v1/users are not ROUTE_IDEMPOTENT on
 * purpose: the idempotency store keeps the answer (the API key's secret)
 * and a SHA-256 of the body (a fast hash of the password) in the database.
 */
#include <jansson.h>
#include <string.h>

#include "api/api.h"
#include "compute/compute.h"
#include "lib/util.h"
#include "monitor/monitor.h"
#include "network/network.h"
#include "scale/scale.h"
#include "stack/stack.h"
#include "storage/storage.h"

/* ------------------------------------------------------------ helpers */

/* Answers 400 about field `name`, which must be `what`. */
static void bad_field(struct api_call *call, const char *name, const char *what)
{
    struct nubo_err err;
    nubo_err_set(&err, NUBO_E_INVALID, "'%s' must be %s", name, what);
    api_fail(call, &err);
}

/* The string field name of body b: *out = its value, or NULL when absent
 * and !required.  Answers 400 itself and returns -1 otherwise. */
static int field_str(struct api_call *call, json_t *b, const char *name, int required,
                     const char **out)
{
    json_t *v = json_object_get(b, name);
    *out = json_string_value(v);
    if ((v == NULL && !required) || json_is_string(v))
        return 0;
    bad_field(call, name, v == NULL ? "given (a string)" : "a string");
    return -1;
}

/* ------------------------------------------------------------- tokens */

static void post_token(struct api_call *call)
{
    static const char *const fields[] = {"user", "password", "project", NULL};
    struct nubo_err err;
    json_t *b = api_body(call, fields);
    if (b == NULL)
        return;
    const char *user = json_string_value(json_object_get(b, "user"));
    const char *pw = json_string_value(json_object_get(b, "password"));
    json_t *pj = json_object_get(b, "project");
    if (user == NULL || pw == NULL || (pj && !json_is_string(pj))) {
        nubo_err_set(&err, NUBO_E_INVALID,
                     "send {\"user\": NAME, \"password\": PASSWORD, \"project\": NAME (optional)}");
        api_fail(call, &err);
        return;
    }
    str_copy(call->target, sizeof(call->target), user);
    char client[64], retry[16];
    int retry_s = 0;
    http_req_client_addr(call->req, client, sizeof(client));
    json_t *tok =
        identity_login(call->api->st, user, pw, json_string_value(pj), client, &retry_s, &err);
    if (tok == NULL) {
        /* 429 (back-off) and 503 (every hashing slot busy) say when to
         * come back. */
        if (retry_s > 0 && (err.code == NUBO_E_TOOMANY || err.code == NUBO_E_UNAVAILABLE)) {
            snprintf(retry, sizeof(retry), "%d", retry_s);
            http_resp_header(call->resp, "Retry-After", retry);
        }
        api_fail(call, &err);
        return;
    }
    api_reply(call, 201, tok);
}

static void get_whoami(struct api_call *call)
{
    const struct ctx *c = &call->ctx;
    api_reply(call, 200,
              json_pack("{s:{s:s, s:s}, s:{s:s, s:s}, s:s, s:b, s:b, s:s}", "user", "id",
                        c->user_id, "name", c->user_name, "project", "id", c->project_id, "name",
                        c->project_name, "role", role_name(c->role), "cloud_admin", c->is_admin,
                        "is_admin", c->is_admin, "token_id", c->token_id));
}

static void delete_token(struct api_call *call)
{
    struct nubo_err err;
    const char *id = call->params[0];
    if (strcmp(id, "current") == 0)
        id = call->ctx.token_id;
    str_copy(call->target, sizeof(call->target), id);
    if (identity_token_revoke(call->api->st, &call->ctx, id, &err) < 0) {
        api_fail(call, &err);
        return;
    }
    api_no_content(call);
}

/* ----------------------------------------------------------- API keys */

static void get_apikeys(struct api_call *call)
{
    struct nubo_err err = {0};
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(call, "apikeys",
                           identity_apikey_list(call->api->st, &call->ctx, limit, marker, &err),
                           limit, &err);
}

static void post_apikey(struct api_call *call)
{
    static const char *const fields[] = {"name", "expires_in_days", NULL};
    struct nubo_err err = {0};
    const char *name;
    json_t *b = api_body(call, fields);
    if (b == NULL || field_str(call, b, "name", 1, &name) < 0)
        return;
    json_t *days = json_object_get(b, "expires_in_days");
    if (days && !json_is_integer(days)) {
        bad_field(call, "expires_in_days", "a whole number of days from 1 to 3650");
        return;
    }
    str_copy(call->target, sizeof(call->target), name);
    json_t *key = identity_apikey_create(call->api->st, &call->ctx, name,
                                         days ? (long long)json_integer_value(days) : 365, &err);
    if (key)
        str_copy(call->target, sizeof(call->target), json_string_value(json_object_get(key, "id")));
    api_reply_or_fail(call, 201, key, &err);
}

static void delete_apikey(struct api_call *call)
{
    struct nubo_err err = {0};
    if (identity_apikey_delete(call->api->st, &call->ctx, call->params[0], &err) < 0)
        api_fail(call, &err);
    else
        api_no_content(call);
}

/* ----------------------------------------------------------- projects */

static void get_projects(struct api_call *call)
{
    struct nubo_err err = {0};
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(call, "projects",
                           identity_project_list(call->api->st, &call->ctx, limit, marker, &err),
                           limit, &err);
}

static void post_project(struct api_call *call)
{
    static const char *const fields[] = {"name", "description", NULL};
    struct nubo_err err = {0};
    const char *name, *desc;
    json_t *b = api_body(call, fields);
    if (b == NULL || field_str(call, b, "name", 1, &name) < 0 ||
        field_str(call, b, "description", 0, &desc) < 0)
        return;
    str_copy(call->target, sizeof(call->target), name);
    json_t *p = identity_project_create(call->api->st, &call->ctx, name, desc, &err);
    if (p)
        str_copy(call->target, sizeof(call->target), json_string_value(json_object_get(p, "id")));
    api_reply_or_fail(call, 201, p, &err);
}

static void get_project(struct api_call *call)
{
    struct nubo_err err = {0};
    api_reply_or_fail(call, 200,
                      identity_project_get(call->api->st, &call->ctx, call->params[0], &err), &err);
}

static void delete_project(struct api_call *call)
{
    struct nubo_err err = {0};
    if (identity_project_delete(call->api->st, &call->ctx, call->params[0], &err) < 0)
        api_fail(call, &err);
    else
        api_no_content(call);
}

/* A project's usage of every quota dimension, each counted by the module
 * that owns the rows (identity adds the API keys). */
static int quota_usage_all(struct store *st, const char *project_id, long long used[QUOTA_DIMS],
                           struct nubo_err *err)
{
    if (compute_quota_usage(st, project_id, used, err) < 0 ||
        network_quota_usage(st, project_id, used, err) < 0 ||
        monitor_quota_usage(st, project_id, used, err) < 0 ||
        scale_quota_usage(st, project_id, used, err) < 0 ||
        stack_quota_usage(st, project_id, used, err) < 0 ||
        storage_quota_usage(st, project_id, used, err) < 0)
        return -1;
    return 0;
}

static void get_quota(struct api_call *call)
{
    struct nubo_err err = {0};
    api_reply_or_fail(
        call, 200,
        identity_quota_get(call->api->st, &call->ctx, call->params[0], quota_usage_all, &err),
        &err);
}

static void put_quota(struct api_call *call)
{
    const char *fields[QUOTA_DIMS + 1];
    for (int d = 0; d < QUOTA_DIMS; d++)
        fields[d] = quota_dim_name((enum quota_dim)d);
    fields[QUOTA_DIMS] = NULL;
    struct nubo_err err = {0};
    struct quota_change ch;
    memset(&ch, 0, sizeof(ch));
    json_t *b = api_body(call, fields);
    if (b == NULL)
        return;
    for (int d = 0; d < QUOTA_DIMS; d++) {
        const char *name = quota_dim_name((enum quota_dim)d);
        json_t *v = json_object_get(b, name);
        if (v == NULL)
            continue;
        if (!json_is_integer(v)) {
            bad_field(call, name, "a whole number from 0 to 1000000000");
            return;
        }
        ch.set[d] = true;
        ch.value[d] = (long long)json_integer_value(v);
    }
    api_reply_or_fail(
        call, 200,
        identity_quota_set(call->api->st, &call->ctx, call->params[0], &ch, quota_usage_all, &err),
        &err);
}

/* ------------------------------------------------------------ members */

static void get_members(struct api_call *call)
{
    struct nubo_err err = {0};
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    json_t *rows =
        identity_member_list(call->api->st, &call->ctx, call->params[0], limit, marker, &err);
    api_reply_or_fail(call, 200, rows ? store_page_wrap("members", rows, limit, "user_id") : NULL,
                      &err);
}

/* The audit target of a membership: "<project>/<user>" as named. */
static void member_target(struct api_call *call)
{
    snprintf(call->target, sizeof(call->target), "%s/%s", call->params[0], call->params[1]);
}

static void put_member(struct api_call *call)
{
    static const char *const fields[] = {"role", NULL};
    struct nubo_err err = {0};
    const char *role;
    member_target(call);
    json_t *b = api_body(call, fields);
    if (b == NULL || field_str(call, b, "role", 1, &role) < 0)
        return;
    api_reply_or_fail(call, 200,
                      identity_member_set(call->api->st, &call->ctx, call->params[0],
                                          call->params[1], role, &err),
                      &err);
}

static void delete_member(struct api_call *call)
{
    struct nubo_err err = {0};
    member_target(call);
    if (identity_member_remove(call->api->st, &call->ctx, call->params[0], call->params[1], &err) <
        0)
        api_fail(call, &err);
    else
        api_no_content(call);
}

/* -------------------------------------------------------------- users */

static void get_users(struct api_call *call)
{
    struct nubo_err err = {0};
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(call, "users",
                           identity_user_list(call->api->st, &call->ctx, limit, marker, &err),
                           limit, &err);
}

static void post_user(struct api_call *call)
{
    static const char *const fields[] = {"name", "password", "email", NULL};
    struct nubo_err err = {0};
    const char *name, *pw, *email;
    json_t *b = api_body(call, fields);
    if (b == NULL || field_str(call, b, "name", 1, &name) < 0 ||
        field_str(call, b, "password", 1, &pw) < 0 || field_str(call, b, "email", 0, &email) < 0)
        return;
    str_copy(call->target, sizeof(call->target), name);
    json_t *u = identity_user_create(call->api->st, &call->ctx, name, pw, email, &err);
    if (u)
        str_copy(call->target, sizeof(call->target), json_string_value(json_object_get(u, "id")));
    api_reply_or_fail(call, 201, u, &err);
}

static void get_user(struct api_call *call)
{
    struct nubo_err err = {0};
    api_reply_or_fail(call, 200,
                      identity_user_get(call->api->st, &call->ctx, call->params[0], &err), &err);
}

static void patch_user(struct api_call *call)
{
    static const char *const fields[] = {"password", "current_password", "email",
                                         "disabled", "cloud_admin",      NULL};
    struct nubo_err err = {0};
    struct user_patch patch = {.disabled = -1, .cloud_admin = -1};
    json_t *b = api_body(call, fields);
    if (b == NULL || field_str(call, b, "password", 0, &patch.password) < 0 ||
        field_str(call, b, "current_password", 0, &patch.current_password) < 0 ||
        field_str(call, b, "email", 0, &patch.email) < 0)
        return;
    json_t *dis = json_object_get(b, "disabled");
    if (dis && !json_is_boolean(dis)) {
        bad_field(call, "disabled", "true or false");
        return;
    }
    if (dis)
        patch.disabled = json_is_true(dis);
    json_t *cloud = json_object_get(b, "cloud_admin");
    if (cloud && !json_is_boolean(cloud)) {
        bad_field(call, "cloud_admin", "true or false");
        return;
    }
    if (cloud)
        patch.cloud_admin = json_is_true(cloud);
    api_reply_or_fail(
        call, 200, identity_user_update(call->api->st, &call->ctx, call->params[0], &patch, &err),
        &err);
}

static void delete_user(struct api_call *call)
{
    struct nubo_err err = {0};
    if (identity_user_delete(call->api->st, &call->ctx, call->params[0], &err) < 0)
        api_fail(call, &err);
    else
        api_no_content(call);
}

/* -------------------------------------------------------------- audit */

static void get_audit(struct api_call *call)
{
    struct nubo_err err = {0};
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    struct audit_filter f = {.user = api_query(call, "user"),
                             .project = api_query(call, "project"),
                             .action = api_query(call, "action"),
                             .result = api_query(call, "result"),
                             .since = api_query(call, "since"),
                             .order = api_query(call, "order")};
    api_reply_page_or_fail(call, "audit",
                           identity_audit_list(call->api->st, &call->ctx, &f, limit, marker, &err),
                           limit, &err);
}

const struct route identity_routes[] = {
    {"POST", "/v1/auth/tokens", AUTHZ_PUBLIC, "auth.login", post_token, 0},
    {"DELETE", "/v1/auth/tokens/{id}", AUTHZ_AUTHENTICATED, "auth.revoke", delete_token, 0},
    {"GET", "/v1/auth/whoami", AUTHZ_AUTHENTICATED, NULL, get_whoami, 0},
    {"GET", "/v1/auth/apikeys", AUTHZ_AUTHENTICATED, NULL, get_apikeys, 0},
    {"POST", "/v1/auth/apikeys", AUTHZ_AUTHENTICATED, "apikey.create", post_apikey, 0},
    {"DELETE", "/v1/auth/apikeys/{id}", AUTHZ_AUTHENTICATED, "apikey.delete", delete_apikey, 0},
    {"GET", "/v1/projects", AUTHZ_AUTHENTICATED, NULL, get_projects, 0},
    {"POST", "/v1/projects", AUTHZ_ADMIN, "project.create", post_project, ROUTE_IDEMPOTENT},
    {"GET", "/v1/projects/{id}", AUTHZ_AUTHENTICATED, NULL, get_project, 0},
    {"DELETE", "/v1/projects/{id}", AUTHZ_ADMIN, "project.delete", delete_project, 0},
    {"GET", "/v1/projects/{id}/quota", AUTHZ_AUTHENTICATED, NULL, get_quota, 0},
    {"PUT", "/v1/projects/{id}/quota", AUTHZ_ADMIN, "quota.update", put_quota, 0},
    {"GET", "/v1/projects/{id}/members", AUTHZ_AUTHENTICATED, NULL, get_members, 0},
    {"PUT", "/v1/projects/{id}/members/{user}", AUTHZ_PROJECT_ADMIN, "member.set", put_member, 0},
    {"DELETE", "/v1/projects/{id}/members/{user}", AUTHZ_PROJECT_ADMIN, "member.remove",
     delete_member, 0},
    {"GET", "/v1/users", AUTHZ_ADMIN, NULL, get_users, 0},
    {"POST", "/v1/users", AUTHZ_ADMIN, "user.create", post_user, 0},
    {"GET", "/v1/users/{id}", AUTHZ_AUTHENTICATED, NULL, get_user, 0},
    {"PATCH", "/v1/users/{id}", AUTHZ_AUTHENTICATED, "user.update", patch_user, 0},
    {"DELETE", "/v1/users/{id}", AUTHZ_ADMIN, "user.delete", delete_user, 0},
    {"GET", "/v1/audit", AUTHZ_ADMIN, NULL, get_audit, 0},
    {NULL, NULL, 0, NULL, NULL, 0},
};
