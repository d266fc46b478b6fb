/*
 * routes_scale.c - autoscaling: launch templates, scaling groups, their
 * activities and instance protection, scaling policies, scheduled actions.
 * HTTP <-> src/scale/scale.h only.
 *
 *   /v1/launch-templates[/{id}[/versions]]
 *   /v1/scaling-groups[/{id}[/activities | /instances/{iid}/protection]]
 *   /v1/scaling-policies[/{id}]
 *   /v1/scheduled-actions[/{id}]
 *
 * A change to a template, group, policy or schedule calls scale's change
 * hook (the controller's wake-up), so the scale pass acts at once.
 */
#include <jansson.h>
#include <string.h>

#include "api/api.h"
#include "lib/util.h"
#include "scale/scale.h"

/* Answers 201/200 with obj, naming its id in the audit log. */
static void reply_target(struct api_call *call, int status, json_t *obj, const struct nubo_err *err)
{
    if (obj) {
        const char *id = json_string_value(json_object_get(obj, "id"));
        if (id)
            str_copy(call->target, sizeof(call->target), id);
    }
    api_reply_or_fail(call, status, obj, err);
}

typedef json_t *(*list_fn)(struct store *, const struct ctx *, int, const char *,
                           struct nubo_err *);

static void list(struct api_call *call, const char *key, list_fn fn)
{
    struct nubo_err err = {0};
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(call, key, fn(call->api->st, &call->ctx, limit, marker, &err), limit,
                           &err);
}

/* --------------------------------------------------- launch templates */

static const char *const version_fields[] = {
    "description",  "flavor",   "image",           "keypair",     "user_data",
    "server_group", "networks", "security_groups", "set_default", NULL};

static void get_templates(struct api_call *call)
{
    list(call, "launch_templates", scale_template_list);
}

static void post_template(struct api_call *call)
{
    static const char *const fields[] = {
        "name",      "description", "flavor",       "image",           "keypair",
        "user_data", "networks",    "server_group", "security_groups", NULL};
    struct nubo_err err = {0};
    json_t *b = api_body(call, fields);
    if (b == NULL)
        return;
    reply_target(call, 201, scale_template_create(call->api->st, &call->ctx, b, &err), &err);
}

static void get_template(struct api_call *call)
{
    struct nubo_err err = {0};
    api_reply_or_fail(call, 200,
                      scale_template_get(call->api->st, &call->ctx, call->params[0], &err), &err);
}

static void patch_template(struct api_call *call)
{
    static const char *const fields[] = {"default_version", "description", NULL};
    struct nubo_err err = {0};
    json_t *b = api_body(call, fields);
    if (b == NULL)
        return;
    reply_target(call, 200,
                 scale_template_update(call->api->st, &call->ctx, call->params[0], b, &err), &err);
}

static void delete_template(struct api_call *call)
{
    struct nubo_err err = {0};
    api_no_content_or_fail(
        call, scale_template_delete(call->api->st, &call->ctx, call->params[0], &err), &err);
}

static void get_template_versions(struct api_call *call)
{
    struct nubo_err err = {0};
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(
        call, "versions",
        scale_template_versions(call->api->st, &call->ctx, call->params[0], limit, marker, &err),
        limit, &err);
}

static void post_template_version(struct api_call *call)
{
    struct nubo_err err = {0};
    json_t *b = api_body(call, version_fields);
    if (b == NULL)
        return;
    str_copy(call->target, sizeof(call->target), call->params[0]);
    json_t *v = scale_template_version_create(call->api->st, &call->ctx, call->params[0], b, &err);
    api_reply_or_fail(call, 201, v, &err);
}

/* ----------------------------------------------------- scaling groups */

static void get_groups(struct api_call *call)
{
    list(call, "scaling_groups", scale_group_list);
}

static void post_group(struct api_call *call)
{
    static const char *const fields[] = {"name",           "template",   "template_version",
                                         "min_size",       "max_size",   "desired",
                                         "health_grace_s", "cooldown_s", "termination_policy",
                                         "rolling_batch",  NULL};
    struct nubo_err err = {0};
    json_t *b = api_body(call, fields);
    if (b == NULL)
        return;
    reply_target(call, 201, scale_group_create(call->api->st, &call->ctx, b, &err), &err);
}

static void get_group(struct api_call *call)
{
    struct nubo_err err = {0};
    api_reply_or_fail(call, 200, scale_group_get(call->api->st, &call->ctx, call->params[0], &err),
                      &err);
}

static void patch_group(struct api_call *call)
{
    static const char *const fields[] = {"min_size",           "max_size",       "desired",
                                         "template_version",   "health_grace_s", "cooldown_s",
                                         "termination_policy", "rolling_batch",  NULL};
    struct nubo_err err = {0};
    json_t *b = api_body(call, fields);
    if (b == NULL)
        return;
    str_copy(call->target, sizeof(call->target), call->params[0]);
    reply_target(call, 200, scale_group_update(call->api->st, &call->ctx, call->params[0], b, &err),
                 &err);
}

static void delete_group(struct api_call *call)
{
    struct nubo_err err = {0};
    int rc = scale_group_delete(call->api->st, &call->ctx, call->params[0], &err);
    api_no_content_or_fail(call, rc, &err);
}

static void get_group_activities(struct api_call *call)
{
    struct nubo_err err = {0};
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(
        call, "activities",
        scale_group_activities(call->api->st, &call->ctx, call->params[0], limit, marker, &err),
        limit, &err);
}

static void put_protection(struct api_call *call)
{
    static const char *const fields[] = {"protected", NULL};
    struct nubo_err err = {0};
    json_t *b = api_body(call, fields);
    if (b == NULL)
        return;
    str_copy(call->target, sizeof(call->target), call->params[1]);
    reply_target(
        call, 200,
        scale_group_protect(call->api->st, &call->ctx, call->params[0], call->params[1], b, &err),
        &err);
}

/* ---------------------------------------------------------- policies */

static void get_policies(struct api_call *call)
{
    list(call, "scaling_policies", scale_policy_list);
}

static void post_policy(struct api_call *call)
{
    static const char *const fields[] = {"name",
                                         "group",
                                         "kind",
                                         "metric",
                                         "target_value",
                                         "warmup_s",
                                         "window_s",
                                         "scale_out_cooldown_s",
                                         "scale_in_cooldown_s",
                                         "alarm",
                                         "adjustment_type",
                                         "steps",
                                         "cooldown_s",
                                         NULL};
    struct nubo_err err = {0};
    json_t *b = api_body(call, fields);
    if (b == NULL)
        return;
    reply_target(call, 201, scale_policy_create(call->api->st, &call->ctx, b, &err), &err);
}

static void get_policy(struct api_call *call)
{
    struct nubo_err err = {0};
    api_reply_or_fail(call, 200, scale_policy_get(call->api->st, &call->ctx, call->params[0], &err),
                      &err);
}

static void delete_policy(struct api_call *call)
{
    struct nubo_err err = {0};
    api_no_content_or_fail(
        call, scale_policy_delete(call->api->st, &call->ctx, call->params[0], &err), &err);
}

/* --------------------------------------------------- scheduled actions */

static void get_schedules(struct api_call *call)
{
    list(call, "scheduled_actions", scale_schedule_list);
}

static void post_schedule(struct api_call *call)
{
    static const char *const fields[] = {"name",     "group",   "cron", "min_size",
                                         "max_size", "desired", NULL};
    struct nubo_err err = {0};
    json_t *b = api_body(call, fields);
    if (b == NULL)
        return;
    reply_target(call, 201, scale_schedule_create(call->api->st, &call->ctx, b, &err), &err);
}

static void get_schedule(struct api_call *call)
{
    struct nubo_err err = {0};
    api_reply_or_fail(call, 200,
                      scale_schedule_get(call->api->st, &call->ctx, call->params[0], &err), &err);
}

static void delete_schedule(struct api_call *call)
{
    struct nubo_err err = {0};
    api_no_content_or_fail(
        call, scale_schedule_delete(call->api->st, &call->ctx, call->params[0], &err), &err);
}

const struct route scale_routes[] = {
    {"GET", "/v1/launch-templates", AUTHZ_READ, NULL, get_templates, 0},
    {"POST", "/v1/launch-templates", AUTHZ_WRITE, "launch_template.create", post_template,
     ROUTE_IDEMPOTENT},
    {"GET", "/v1/launch-templates/{id}", AUTHZ_READ, NULL, get_template, 0},
    {"PATCH", "/v1/launch-templates/{id}", AUTHZ_WRITE, "launch_template.update", patch_template,
     0},
    {"DELETE", "/v1/launch-templates/{id}", AUTHZ_WRITE, "launch_template.delete", delete_template,
     0},
    {"GET", "/v1/launch-templates/{id}/versions", AUTHZ_READ, NULL, get_template_versions, 0},
    {"POST", "/v1/launch-templates/{id}/versions", AUTHZ_WRITE, "launch_template.version",
     post_template_version, 0},
    {"GET", "/v1/scaling-groups", AUTHZ_READ, NULL, get_groups, 0},
    {"POST", "/v1/scaling-groups", AUTHZ_WRITE, "scaling_group.create", post_group,
     ROUTE_IDEMPOTENT},
    {"GET", "/v1/scaling-groups/{id}", AUTHZ_READ, NULL, get_group, 0},
    {"PATCH", "/v1/scaling-groups/{id}", AUTHZ_WRITE, "scaling_group.update", patch_group, 0},
    {"DELETE", "/v1/scaling-groups/{id}", AUTHZ_WRITE, "scaling_group.delete", delete_group, 0},
    {"GET", "/v1/scaling-groups/{id}/activities", AUTHZ_READ, NULL, get_group_activities, 0},
    {"PUT", "/v1/scaling-groups/{id}/instances/{iid}/protection", AUTHZ_WRITE,
     "scaling_group.protect", put_protection, 0},
    {"GET", "/v1/scaling-policies", AUTHZ_READ, NULL, get_policies, 0},
    {"POST", "/v1/scaling-policies", AUTHZ_WRITE, "scaling_policy.create", post_policy,
     ROUTE_IDEMPOTENT},
    {"GET", "/v1/scaling-policies/{id}", AUTHZ_READ, NULL, get_policy, 0},
    {"DELETE", "/v1/scaling-policies/{id}", AUTHZ_WRITE, "scaling_policy.delete", delete_policy, 0},
    {"GET", "/v1/scheduled-actions", AUTHZ_READ, NULL, get_schedules, 0},
    {"POST", "/v1/scheduled-actions", AUTHZ_WRITE, "scheduled_action.create", post_schedule,
     ROUTE_IDEMPOTENT},
    {"GET", "/v1/scheduled-actions/{id}", AUTHZ_READ, NULL, get_schedule, 0},
    {"DELETE", "/v1/scheduled-actions/{id}", AUTHZ_WRITE, "scheduled_action.delete",
     delete_schedule, 0},
    {NULL, NULL, 0, NULL, NULL, 0},
};
