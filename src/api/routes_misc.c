/*
 * routes_misc.c - routes that belong to no service: the OpenAPI document
 * and a health check with each component's state.
 */
#include <jansson.h>
#include <string.h>

#include "api/api.h"
#include "fleet/fleet.h"
#include "lib/util.h"

extern const char openapi_json[];
extern const size_t openapi_json_len;

static void get_openapi(struct api_call *call)
{
    http_resp_text(call->resp, 200, openapi_json, openapi_json_len);
    call->resp->content_type = "application/json";
}

/* The reconciler is stalled when it has not begun a pass for this long
 * (the systemd watchdog of nubod.service allows twice as much). */
#define RECONCILER_STALLED_MS 60000

/* GET /v1/health: public, for load balancers and monitoring.  200 while
 * nubod serves (status "degraded" when a component is: the store full or
 * read-only, or the reconciler stalled), with each component's state; 503
 * when the store does not answer. */
static void get_health(struct api_call *call)
{
    struct nubo_err err;
    int64_t t0 = clock_mono_ms();
    json_t *hosts = fleet_host_summary(call->api->st, &err); /* proves the store answers */
    if (hosts == NULL) {
        api_fail(call, &err);
        return;
    }
    long long store_ms = (long long)(clock_mono_ms() - t0);
    /* A full disk degrades the controller: reads work, writes answer 507
     * until an operator frees space (store.h). */
    static const char *const stores[] = {
        [STORE_OK] = "ok", [STORE_FULL] = "full", [STORE_READ_ONLY] = "read-only"};
    enum store_state s = store_state(call->api->st);
    bool degraded = s != STORE_OK;
    json_t *comp = json_object();
    json_object_set_new(comp, "store",
                        json_pack("{s:s, s:s, s:I}", "status", stores[s], "backend",
                                  store_backend_name(call->api->st), "latency_ms",
                                  (json_int_t)store_ms));
    if (call->api->reconciler_idle_ms) {
        long long idle = call->api->reconciler_idle_ms(call->api->reconciler_ctx);
        bool stalled = idle > RECONCILER_STALLED_MS;
        degraded = degraded || stalled;
        json_object_set_new(comp, "reconciler",
                            json_pack("{s:s, s:I}", "status", stalled ? "stalled" : "ok",
                                      "last_pass_ms_ago", (json_int_t)idle));
    }
    json_object_set_new(
        hosts, "status",
        json_string(json_integer_value(json_object_get(hosts, "down")) > 0 ? "some-down" : "ok"));
    json_object_set_new(comp, "hosts", hosts);
    json_object_set_new(
        comp, "recovery",
        json_pack("{s:s}", "status", fleet_recovery_active() ? "recovering" : "ok"));
    api_reply(call, 200,
              json_pack("{s:s, s:s, s:i, s:s, s:o}", "status", degraded ? "degraded" : "ok",
                        "version", NUBO_VERSION, "schema_version",
                        store_schema_version(call->api->st), "store", stores[s], "components",
                        comp));
}

const struct route misc_routes[] = {
    {"GET", "/v1/openapi.json", AUTHZ_PUBLIC, NULL, get_openapi, 0},
    {"GET", "/v1/health", AUTHZ_PUBLIC, NULL, get_health, 0},
    {NULL, NULL, 0, NULL, NULL, 0},
};
