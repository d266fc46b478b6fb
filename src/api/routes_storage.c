/*
 * routes_storage.c - /v1/volumes, /v1/snapshots and /v1/volume-types: HTTP <-> the
 * storage service (src/storage, docs/internals/storage.md).
 *
 * Handlers type-check the body's members here; the service validates
 * values, scopes by project and does the work.
 */
#include <jansson.h>
#include <string.h>

#include "api/api.h"
#include "storage/storage.h"

/* A required integer member; answers 400 itself and returns -1 when it is
 * absent or not an integer (a fraction, a string). */
static int field_int_req(struct api_call *call, json_t *b, const char *key, const char *what,
                         long long *out)
{
    json_t *v = json_object_get(b, key);
    if (v == NULL || json_is_null(v) || !json_is_integer(v))
        return api_bad_field(call, key, what);
    *out = json_integer_value(v);
    return 0;
}

/* 201 with a created object, recording it as the audit target. */
static void created(struct api_call *call, json_t *obj, const struct nubo_err *err)
{
    if (obj)
        api_target_from(call, obj);
    api_reply_or_fail(call, 201, obj, err);
}

/* --------------------------------------------------------- volume types */

static void get_types(struct api_call *call)
{
    struct nubo_err err;
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(call, "volume_types",
                           storage_type_list(call->api->st, &call->ctx, limit, marker, &err), limit,
                           &err);
}

static void post_type(struct api_call *call)
{
    static const char *const fields[] = {"name", "backend", "description", NULL};
    struct nubo_err err;
    const char *name, *backend = NULL, *description = NULL;
    json_t *b = api_body(call, fields);
    if (b == NULL || api_field_str_req(call, b, "name", "the volume type's name", &name) < 0 ||
        api_field_str(call, b, "backend", &backend) < 0 ||
        api_field_str(call, b, "description", &description) < 0)
        return;
    created(call, storage_type_create(call->api->st, &call->ctx, name, backend, description, &err),
            &err);
}

static void delete_type(struct api_call *call)
{
    struct nubo_err err;
    api_no_content_or_fail(
        call, storage_type_delete(call->api->st, &call->ctx, call->params[0], &err), &err);
}

/* -------------------------------------------------------------- volumes */

static void get_volumes(struct api_call *call)
{
    struct nubo_err err;
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(call, "volumes",
                           storage_volume_list(call->api->st, &call->ctx, limit, marker, &err),
                           limit, &err);
}

#define SOURCE_WHAT "{\"snapshot\": a snapshot's id or name} or {\"volume\": a volume's}"

/* source: {snapshot: id or name} or {volume: id or name}; answers 400
 * itself and returns -1 when it is malformed (an image is not built yet). */
static int source_of(struct api_call *call, json_t *b, const char **snapshot, const char **volume)
{
    json_t *src = json_object_get(b, "source");
    *snapshot = NULL;
    *volume = NULL;
    if (src == NULL || json_is_null(src))
        return 0;
    const char *k;
    json_t *v;
    if (!json_is_object(src) || json_object_size(src) != 1)
        return api_bad_field(call, "source", SOURCE_WHAT);
    json_object_foreach (src, k, v) {
        bool snap = strcmp(k, "snapshot") == 0, vol = strcmp(k, "volume") == 0;
        if (!snap && !vol)
            return api_bad_field(call, "source",
                                 SOURCE_WHAT "; volumes from images are not built yet");
        if (!json_is_string(v))
            return api_bad_field(call, "source", SOURCE_WHAT);
        *(snap ? snapshot : volume) = json_string_value(v);
    }
    return 0;
}

static void post_volume(struct api_call *call)
{
    static const char *const fields[] = {"name", "size_gib", "type", "source", NULL};
    struct nubo_err err;
    struct storage_volume_spec s = {0};
    json_t *b = api_body(call, fields);
    if (b == NULL || api_field_str_req(call, b, "name", "the volume's name", &s.name) < 0 ||
        source_of(call, b, &s.source_snapshot, &s.source_volume) < 0)
        return;
    /* From a snapshot or a volume the size may be left out (the source's). */
    if (((s.source_snapshot == NULL && s.source_volume == NULL) ||
         json_object_get(b, "size_gib") != NULL) &&
        field_int_req(call, b, "size_gib", "a whole number of GiB (1 .. 16384)", &s.size_gib) < 0)
        return;
    if (api_field_str(call, b, "type", &s.type) < 0)
        return;
    created(call, storage_volume_create(call->api->st, &call->ctx, &s, &err), &err);
}

static void get_volume(struct api_call *call)
{
    struct nubo_err err;
    api_reply_or_fail(call, 200,
                      storage_volume_get(call->api->st, &call->ctx, call->params[0], &err), &err);
}

static void patch_volume(struct api_call *call)
{
    static const char *const fields[] = {"name", NULL};
    struct nubo_err err;
    const char *name;
    json_t *b = api_body(call, fields);
    if (b == NULL || api_field_str_req(call, b, "name", "the volume's new name", &name) < 0)
        return;
    api_reply_or_fail(call, 200,
                      storage_volume_rename(call->api->st, &call->ctx, call->params[0], name, &err),
                      &err);
}

static void delete_volume(struct api_call *call)
{
    struct nubo_err err;
    api_no_content_or_fail(
        call, storage_volume_delete(call->api->st, &call->ctx, call->params[0], &err), &err);
}

static void post_volume_action(struct api_call *call)
{
    static const char *const fields[] = {"action", "size_gib", "instance", NULL};
    struct nubo_err err;
    const char *action, *instance;
    long long size = 0;
    json_t *b = api_body(call, fields);
    if (b == NULL || api_field_str_req(call, b, "action", "extend, attach or detach", &action) < 0)
        return;
    bool attach = strcmp(action, "attach") == 0, extend = strcmp(action, "extend") == 0;
    /* Each action takes its own members only. */
    if (json_object_get(b, "instance") != NULL && !attach) {
        api_bad_field(call, "instance", "only with action attach");
        return;
    }
    if (json_object_get(b, "size_gib") != NULL && !extend) {
        api_bad_field(call, "size_gib", "only with action extend");
        return;
    }
    if (attach) {
        if (api_field_str_req(call, b, "instance", "the instance's id or name", &instance) < 0)
            return;
        api_reply_or_fail(
            call, 200,
            storage_volume_attach(call->api->st, &call->ctx, call->params[0], instance, &err),
            &err);
        return;
    }
    if (strcmp(action, "detach") == 0) {
        api_reply_or_fail(call, 200,
                          storage_volume_detach(call->api->st, &call->ctx, call->params[0], &err),
                          &err);
        return;
    }
    if (!extend) {
        api_bad_field(call, "action", "extend, attach or detach");
        return;
    }
    if (field_int_req(call, b, "size_gib", "the new size, a whole number of GiB", &size) < 0)
        return;
    api_reply_or_fail(call, 200,
                      storage_volume_extend(call->api->st, &call->ctx, call->params[0], size, &err),
                      &err);
}

/* ------------------------------------------------------------ snapshots */

static void get_snapshots(struct api_call *call)
{
    struct nubo_err err;
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(call, "snapshots",
                           storage_snapshot_list(call->api->st, &call->ctx, limit, marker, &err),
                           limit, &err);
}

static void post_snapshot(struct api_call *call)
{
    static const char *const fields[] = {"volume_id", "name", NULL};
    struct nubo_err err;
    const char *volume, *name;
    json_t *b = api_body(call, fields);
    if (b == NULL ||
        api_field_str_req(call, b, "volume_id", "the volume's id or name", &volume) < 0 ||
        api_field_str_req(call, b, "name", "the snapshot's name", &name) < 0)
        return;
    created(call, storage_snapshot_create(call->api->st, &call->ctx, volume, name, &err), &err);
}

static void get_snapshot(struct api_call *call)
{
    struct nubo_err err;
    api_reply_or_fail(call, 200,
                      storage_snapshot_get(call->api->st, &call->ctx, call->params[0], &err), &err);
}

static void patch_snapshot(struct api_call *call)
{
    static const char *const fields[] = {"name", NULL};
    struct nubo_err err;
    const char *name;
    json_t *b = api_body(call, fields);
    if (b == NULL || api_field_str_req(call, b, "name", "the snapshot's new name", &name) < 0)
        return;
    api_reply_or_fail(
        call, 200, storage_snapshot_rename(call->api->st, &call->ctx, call->params[0], name, &err),
        &err);
}

static void delete_snapshot(struct api_call *call)
{
    struct nubo_err err;
    api_no_content_or_fail(
        call, storage_snapshot_delete(call->api->st, &call->ctx, call->params[0], &err), &err);
}

const struct route storage_routes[] = {
    {"GET", "/v1/volume-types", AUTHZ_READ, NULL, get_types, 0},
    {"POST", "/v1/volume-types", AUTHZ_ADMIN, "volume_type.create", post_type, ROUTE_IDEMPOTENT},
    {"DELETE", "/v1/volume-types/{id}", AUTHZ_ADMIN, "volume_type.delete", delete_type, 0},

    {"GET", "/v1/volumes", AUTHZ_READ, NULL, get_volumes, 0},
    {"POST", "/v1/volumes", AUTHZ_WRITE, "volume.create", post_volume, ROUTE_IDEMPOTENT},
    {"GET", "/v1/volumes/{id}", AUTHZ_READ, NULL, get_volume, 0},
    {"PATCH", "/v1/volumes/{id}", AUTHZ_WRITE, "volume.update", patch_volume, 0},
    {"DELETE", "/v1/volumes/{id}", AUTHZ_WRITE, "volume.delete", delete_volume, 0},
    {"POST", "/v1/volumes/{id}/actions", AUTHZ_WRITE, "volume.action", post_volume_action, 0},

    {"GET", "/v1/snapshots", AUTHZ_READ, NULL, get_snapshots, 0},
    {"POST", "/v1/snapshots", AUTHZ_WRITE, "snapshot.create", post_snapshot, ROUTE_IDEMPOTENT},
    {"GET", "/v1/snapshots/{id}", AUTHZ_READ, NULL, get_snapshot, 0},
    {"PATCH", "/v1/snapshots/{id}", AUTHZ_WRITE, "snapshot.update", patch_snapshot, 0},
    {"DELETE", "/v1/snapshots/{id}", AUTHZ_WRITE, "snapshot.delete", delete_snapshot, 0},
    {NULL, NULL, 0, NULL, NULL, 0},
};
