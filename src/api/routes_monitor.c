/*
 * routes_monitor.c - metrics, /metrics exposition, alarms.  HTTP <->
 * src/monitor/monitor.h only.
 *
 *   GET /v1/instances/{id}/metrics   an instance's series (reader+, its project)
 *   GET /v1/hosts/{id}/metrics       a host's series (admin)
 *   GET /v1/metrics/project          the caller's project, aggregated
 *   GET /metrics                     Prometheus text format (see below)
 *   /v1/alarms[/{id}[/history]]      alarm CRUD and history
 *
 * (Agents post samples to POST /v1/hosts/{id}/metrics, in routes_hosts.c.)
 *
 * /metrics is outside /v1 because Prometheus expects it there.  It takes
 * the scrape token of <state-dir>/metrics-token (read-only, the whole
 * cloud: give it to Prometheus as a credentials file) or any user token:
 * a cloud admin's shows the whole cloud, anyone else's their project's
 * instances only.  So the route is public for the dispatcher and the
 * handler authenticates itself, deciding with authz_require() like the
 * dispatcher would.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "lib/clock.h"
#include "lib/util.h"
#include "monitor/monitor.h"

static struct monitor *mon(struct api_call *call)
{
    return call->api->monitor;
}

/* Reads ?metric=&start=&end=&step= for kind; answers 400 itself. */
static int query(struct api_call *call, enum monitor_kind kind, struct monitor_query *q)
{
    struct nubo_err err;
    if (monitor_query_parse(kind, api_query(call, "metric"), api_query(call, "start"),
                            api_query(call, "end"), api_query(call, "step"), clock_now_ms(), q,
                            &err) < 0) {
        api_fail(call, &err);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- series */

static void get_instance_metrics(struct api_call *call)
{
    struct nubo_err err = {0};
    struct monitor_query q;
    if (query(call, MONITOR_INSTANCE, &q) < 0)
        return;
    api_reply_or_fail(
        call, 200, monitor_instance_series(mon(call), &call->ctx, call->params[0], &q, &err), &err);
}

static void get_host_metrics(struct api_call *call)
{
    struct nubo_err err = {0};
    struct monitor_query q;
    if (query(call, MONITOR_HOST, &q) < 0)
        return;
    api_reply_or_fail(call, 200,
                      monitor_host_series(mon(call), &call->ctx, call->params[0], &q, &err), &err);
}

static void get_project_metrics(struct api_call *call)
{
    struct nubo_err err = {0};
    struct monitor_query q;
    if (query(call, MONITOR_PROJECT, &q) < 0)
        return;
    api_reply_or_fail(call, 200, monitor_project_series(mon(call), &call->ctx, &q, &err), &err);
}

/* --------------------------------------------------------- exposition */

static void get_exposition(struct api_call *call)
{
    struct nubo_err err = {0};
    const char *auth = http_req_header(call->req, "Authorization");
    const struct ctx *ctx = NULL;
    if (!monitor_scrape_token_ok(mon(call), auth)) {
        if (identity_authenticate(call->api->st, auth, &call->ctx, &err) < 0 ||
            authz_require(&call->ctx, AUTHZ_READ, &err) < 0) {
            api_fail(call, &err);
            return;
        }
        ctx = &call->ctx;
    }
    size_t len = 0;
    char *text = monitor_exposition(mon(call), ctx, &len, &err);
    if (text == NULL) {
        api_reply_or_fail(call, 500, NULL, &err);
        return;
    }
    http_resp_text(call->resp, 200, text, len);
    call->resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    free(text);
}

/* ------------------------------------------------------------- alarms */

static void get_alarms(struct api_call *call)
{
    struct nubo_err err = {0};
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    json_t *rows = monitor_alarm_list(call->api->st, &call->ctx, limit, marker, &err);
    api_reply_or_fail(call, 200, rows ? store_page_wrap("alarms", rows, limit, "id") : NULL, &err);
}

static void post_alarm(struct api_call *call)
{
    static const char *const fields[] = {"name",        "description", "metric",
                                         "instance",    "statistic",   "comparison",
                                         "threshold",   "window_s",    "evaluation_periods",
                                         "webhook_url", "hook",        NULL};
    struct nubo_err err = {0};
    json_t *b = api_body(call, fields);
    if (b == NULL)
        return;
    const char *name = json_string_value(json_object_get(b, "name"));
    if (name)
        str_copy(call->target, sizeof(call->target), name);
    json_t *a = monitor_alarm_create(mon(call), &call->ctx, b, &err);
    if (a)
        str_copy(call->target, sizeof(call->target), json_string_value(json_object_get(a, "id")));
    api_reply_or_fail(call, 201, a, &err);
}

static void get_alarm(struct api_call *call)
{
    struct nubo_err err = {0};
    api_reply_or_fail(call, 200,
                      monitor_alarm_get(call->api->st, &call->ctx, call->params[0], &err), &err);
}

static void patch_alarm(struct api_call *call)
{
    static const char *const fields[] = {
        "description",        "metric",      "statistic", "comparison", "threshold", "window_s",
        "evaluation_periods", "webhook_url", "hook",      NULL};
    struct nubo_err err = {0};
    json_t *b = api_body(call, fields);
    if (b == NULL)
        return;
    api_reply_or_fail(call, 200,
                      monitor_alarm_update(mon(call), &call->ctx, call->params[0], b, &err), &err);
}

static void delete_alarm(struct api_call *call)
{
    struct nubo_err err = {0};
    if (monitor_alarm_delete(call->api->st, &call->ctx, call->params[0], &err) < 0) {
        api_fail(call, &err);
        return;
    }
    api_no_content(call);
}

static void get_alarm_history(struct api_call *call)
{
    struct nubo_err err = {0};
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    json_t *rows =
        monitor_alarm_history(call->api->st, &call->ctx, call->params[0], limit, marker, &err);
    api_reply_or_fail(call, 200, rows ? store_page_wrap("history", rows, limit, "id") : NULL, &err);
}

const struct route monitor_routes[] = {
    {"GET", "/v1/instances/{id}/metrics", AUTHZ_READ, NULL, get_instance_metrics, 0},
    {"GET", "/v1/hosts/{id}/metrics", AUTHZ_ADMIN, NULL, get_host_metrics, 0},
    {"GET", "/v1/metrics/project", AUTHZ_READ, NULL, get_project_metrics, 0},
    /* authenticated by the handler: the scrape token or a user's token */
    {"GET", "/metrics", AUTHZ_PUBLIC, NULL, get_exposition, 0},
    {"GET", "/v1/alarms", AUTHZ_READ, NULL, get_alarms, 0},
    {"POST", "/v1/alarms", AUTHZ_WRITE, "alarm.create", post_alarm, ROUTE_IDEMPOTENT},
    {"GET", "/v1/alarms/{id}", AUTHZ_READ, NULL, get_alarm, 0},
    {"PATCH", "/v1/alarms/{id}", AUTHZ_WRITE, "alarm.update", patch_alarm, 0},
    {"DELETE", "/v1/alarms/{id}", AUTHZ_WRITE, "alarm.delete", delete_alarm, 0},
    {"GET", "/v1/alarms/{id}/history", AUTHZ_READ, NULL, get_alarm_history, 0},
    {NULL, NULL, 0, NULL, NULL, 0},
};
