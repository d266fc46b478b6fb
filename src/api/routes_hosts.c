/*
 * routes_hosts.c - /v1/hosts: registration, heartbeats and metric samples
 * of host agents, and the admin's view of hosts; /v1/join-tokens, the
 * admin's tokens for new hosts.  HTTP <->
 * src/fleet/fleet.h and (samples) src/monitor/monitor.h only.
 */
#include <jansson.h>
#include <string.h>

#include "api/api.h"
#include "fleet/fleet.h"
#include "lib/util.h"
#include "monitor/monitor.h"

static void post_register(struct api_call *call)
{
    static const char *const fields[] = {"join_token",  "name",     "address", "agent_token",
                                         "host_token",  "capacity", "accel",   "driver",
                                         "underlay_ip", "protocol", NULL};
    struct nubo_err err;
    json_t *b = api_body(call, fields);
    if (b == NULL)
        return;
    const char *name = json_string_value(json_object_get(b, "name"));
    if (name)
        str_copy(call->target, sizeof(call->target), name);
    json_t *out = fleet_host_register(call->api->st, b, &err);
    if (out == NULL) {
        api_fail(call, &err);
        return;
    }
    api_reply(call, 201, out);
}

static void post_heartbeat(struct api_call *call)
{
    static const char *const fields[] = {"capacity", "accel", "driver",   "vms", "underlay_ip",
                                         "problems", "epoch", "protocol", NULL};
    struct nubo_err err;
    if (strcmp(call->params[0], call->ctx.host_id) != 0) {
        nubo_err_set(&err, NUBO_E_FORBIDDEN, "a host may only heartbeat for itself");
        api_fail(call, &err);
        return;
    }
    json_t *b = api_body(call, fields);
    if (b == NULL)
        return;
    int changed = 0;
    json_t *out = fleet_host_heartbeat(call->api->st, call->ctx.host_id, b, &changed, &err);
    if (out == NULL) {
        api_fail(call, &err);
        return;
    }
    api_reply(call, 200, out);
}

static void post_metrics(struct api_call *call)
{
    static const char *const fields[] = {"agent_run", "rounds", NULL};
    struct nubo_err err = {0};
    if (strcmp(call->params[0], call->ctx.host_id) != 0) {
        nubo_err_set(&err, NUBO_E_FORBIDDEN, "a host may only send its own samples");
        api_fail(call, &err);
        return;
    }
    json_t *b = api_body(call, fields);
    if (b == NULL)
        return;
    json_t *out = monitor_ingest(call->api->monitor, call->ctx.host_id, b, &err);
    if (out == NULL) {
        if (err.code == NUBO_OK)
            nubo_err_set(&err, NUBO_E_INTERNAL, "the samples could not be stored; retry");
        api_fail(call, &err);
        return;
    }
    api_reply(call, 200, out);
}

static void get_hosts(struct api_call *call)
{
    struct nubo_err err;
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    json_t *rows = fleet_host_list(call->api->st, limit, marker, &err);
    if (rows == NULL) {
        api_fail(call, &err);
        return;
    }
    api_reply(call, 200, store_page_wrap("hosts", rows, limit, "id"));
}

static void get_host(struct api_call *call)
{
    struct nubo_err err;
    json_t *h = fleet_host_get(call->api->st, call->params[0], &err);
    if (h == NULL) {
        api_fail(call, &err);
        return;
    }
    api_reply(call, 200, h);
}

static void delete_host(struct api_call *call)
{
    struct nubo_err err;
    if (fleet_host_delete(call->api->st, call->params[0], &err) < 0) {
        api_fail(call, &err);
        return;
    }
    api_no_content(call);
}

static void post_host_action(struct api_call *call)
{
    static const char *const fields[] = {"action", NULL};
    struct nubo_err err;
    const char *action;
    json_t *b = api_body(call, fields);
    if (b == NULL ||
        api_field_str_req(call, b, "action", "drain, undrain, reset-credential or force-remove",
                          &action) < 0)
        return;
    json_t *out;
    /* drain answers at once with the host draining: the reconciler
     * moves the instances. */
    if (strcmp(action, "drain") == 0)
        out = fleet_host_drain(call->api->st, call->params[0], &call->ctx, &err);
    else if (strcmp(action, "undrain") == 0)
        out = fleet_host_undrain(call->api->st, call->params[0], &call->ctx, &err);
    else if (strcmp(action, "reset-credential") == 0)
        out = fleet_host_reset_credential(call->api->st, call->params[0], &err);
    else if (strcmp(action, "force-remove") == 0)
        out = fleet_host_force_remove(call->api->st, call->params[0], &err);
    else {
        nubo_err_set(&err, NUBO_E_INVALID,
                     "unknown action '%.32s': host actions are drain, undrain, "
                     "reset-credential and force-remove",
                     action);
        api_fail(call, &err);
        return;
    }
    api_reply_or_fail(call, 200, out, &err);
}

static void post_join_token(struct api_call *call)
{
    static const char *const fields[] = {"ttl_seconds", "uses", "note", NULL};
    struct nubo_err err;
    long long ttl = 3600, uses = 1;
    const char *note = NULL;
    json_t *b = api_body(call, fields);
    if (b == NULL || api_field_int(call, b, "ttl_seconds", &ttl) < 0 ||
        api_field_int(call, b, "uses", &uses) < 0 || api_field_str(call, b, "note", &note) < 0)
        return;
    json_t *out = fleet_join_token_create(call->api->st, ttl, uses, note, call->ctx.user_id, &err);
    if (out)
        api_target_from(call, out);
    /* what a new host pins the controller by (nubo host join-command) */
    if (out && call->api->controller_pin)
        json_object_set_new(out, "controller_pin", json_string(call->api->controller_pin));
    api_reply_or_fail(call, 201, out, &err);
}

static void get_join_tokens(struct api_call *call)
{
    struct nubo_err err;
    json_t *out = fleet_join_token_list(call->api->st, &err);
    api_reply_or_fail(call, 200, out, &err);
}

static void delete_join_token(struct api_call *call)
{
    struct nubo_err err;
    api_no_content_or_fail(call, fleet_join_token_delete(call->api->st, call->params[0], &err),
                           &err);
}

/* GET /v1/recovery: whether the cloud is recovering from a backup, and
 * the VMs quarantined meanwhile (fleet.h, "recovery"). */
static void get_recovery(struct api_call *call)
{
    api_reply(call, 200, fleet_recovery_report());
}

static void post_recovery_action(struct api_call *call)
{
    static const char *const fields[] = {"action", NULL};
    struct nubo_err err;
    const char *action;
    json_t *b = api_body(call, fields);
    if (b == NULL || api_field_str_req(call, b, "action", "finish", &action) < 0)
        return;
    if (strcmp(action, "finish") != 0) {
        nubo_err_set(&err, NUBO_E_INVALID,
                     "unknown action '%.32s': the recovery's one action is finish", action);
        api_fail(call, &err);
        return;
    }
    json_t *before = fleet_recovery_report();
    if (fleet_recovery_finish(&err) < 0) {
        json_decref(before);
        api_fail(call, &err);
        return;
    }
    json_object_set_new(before, "recovering", json_false());
    api_reply(call, 200, before);
}

const struct route host_routes[] = {
    {"POST", "/v1/hosts/register", AUTHZ_PUBLIC, "host.register", post_register, 0},
    {"POST", "/v1/hosts/{id}/heartbeat", AUTHZ_HOST, "host.heartbeat", post_heartbeat,
     ROUTE_NO_AUDIT},
    {"POST", "/v1/hosts/{id}/metrics", AUTHZ_HOST, "host.metrics", post_metrics, ROUTE_NO_AUDIT},
    {"GET", "/v1/hosts", AUTHZ_ADMIN, NULL, get_hosts, 0},
    {"GET", "/v1/hosts/{id}", AUTHZ_ADMIN, NULL, get_host, 0},
    {"DELETE", "/v1/hosts/{id}", AUTHZ_ADMIN, "host.delete", delete_host, 0},
    {"POST", "/v1/hosts/{id}/actions", AUTHZ_ADMIN, "host.action", post_host_action, 0},
    {"POST", "/v1/join-tokens", AUTHZ_ADMIN, "join-token.create", post_join_token, 0},
    {"GET", "/v1/join-tokens", AUTHZ_ADMIN, NULL, get_join_tokens, 0},
    {"DELETE", "/v1/join-tokens/{id}", AUTHZ_ADMIN, "join-token.delete", delete_join_token, 0},
    {"GET", "/v1/recovery", AUTHZ_ADMIN, NULL, get_recovery, 0},
    {"POST", "/v1/recovery/actions", AUTHZ_ADMIN, "recovery.action", post_recovery_action, 0},
    {NULL, NULL, 0, NULL, NULL, 0},
};
