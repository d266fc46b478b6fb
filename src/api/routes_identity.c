/*
 * routes_identity.c - /v1/auth, /v1/projects, /v1/users, /v1/audit.
 */
#include <jansson.h>
#include <string.h>

#include "api/api.h"
#include "lib/util.h"

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
    json_t *tok = identity_login(call->api->st, user, pw, json_string_value(pj), &err);
    if (tok == NULL) {
        api_fail(call, &err);
        return;
    }
    api_reply(call, 201, tok);
}

static void get_whoami(struct api_call *call)
{
    const struct ctx *c = &call->ctx;
    api_reply(call, 200,
              json_pack("{s:{s:s, s:s}, s:{s:s, s:s}, s:s, s:b, s:s}", "user", "id", c->user_id,
                        "name", c->user_name, "project", "id", c->project_id, "name",
                        c->project_name, "role", role_name(c->role), "is_admin", c->is_admin,
                        "token_id", c->token_id));
}

static void delete_token(struct api_call *call)
{
    struct nubo_err err;
    const char *id = call->params[0];
    if (strcmp(id, "current") == 0)
        id = call->ctx.token_id;
    if (identity_token_revoke(call->api->st, &call->ctx, id, &err) < 0) {
        api_fail(call, &err);
        return;
    }
    api_no_content(call);
}

const struct route identity_routes[] = {
    {"POST", "/v1/auth/tokens", AUTHZ_PUBLIC, "auth.login", post_token, 0},
    {"DELETE", "/v1/auth/tokens/{id}", AUTHZ_AUTHENTICATED, "auth.revoke", delete_token, 0},
    {"GET", "/v1/auth/whoami", AUTHZ_AUTHENTICATED, NULL, get_whoami, 0},
    {NULL, NULL, 0, NULL, NULL, 0},
};
