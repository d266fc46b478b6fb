/*
 * routes_misc.c - routes that belong to no service: the OpenAPI document
 * and a health check (degraded while the store's disk is full).
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

static void get_health(struct api_call *call)
{
    struct nubo_err err;
    long long hosts; /* counting them proves the store answers */
    if (fleet_host_count(call->api->st, &hosts, &err) < 0) {
        api_fail(call, &err);
        return;
    }
    /* A full disk degrades the controller: reads work, writes answer 507
     * until an operator frees space (store.h). */
    static const char *const stores[] = {
        [STORE_OK] = "ok", [STORE_FULL] = "full", [STORE_READ_ONLY] = "read-only"};
    enum store_state s = store_state(call->api->st);
    api_reply(call, 200,
              json_pack("{s:s, s:s, s:i, s:s}", "status", s == STORE_OK ? "ok" : "degraded",
                        "version", NUBO_VERSION, "schema_version",
                        store_schema_version(call->api->st), "store", stores[s]));
}

const struct route misc_routes[] = {
    {"GET", "/v1/openapi.json", AUTHZ_PUBLIC, NULL, get_openapi, 0},
    {"GET", "/v1/health", AUTHZ_PUBLIC, NULL, get_health, 0},
    {NULL, NULL, 0, NULL, NULL, 0},
};
