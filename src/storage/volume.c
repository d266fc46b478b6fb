/*
 * volume.c - the storage service: volume types and volumes
 * (docs/internals/storage.md; the tables are migration 19,
 * src/store/schema_storage.c).
 *
 * A volume is a row first: creating one checks the quotas, inserts it as
 * 'available' and opens its usage record, in one write transaction.  A
 * local volume has no host until it is placed (storage.md: placement), so
 * no file exists for it yet and it can grow, be renamed and be deleted by
 * this service alone.  Every tenant query is scoped by the caller's
 * project in its WHERE clause.
 */
#include "storage/storage_int.h"

#include <string.h>

#include "billing/billing.h"
#include "lib/clock.h"
#include "lib/jsonx.h"
#include "lib/util.h"
#include "lib/valid.h"

#define VOL_SELECT                                                                                 \
    "SELECT v.id, v.project_id, v.name, v.size_gib, v.type_id, t.name AS type, t.backend,"         \
    " v.status, v.host_id, v.fault, a.instance_id AS attached_to,"                                 \
    " v.source_snapshot_id AS source_snapshot, v.source_volume_id AS source_volume,"               \
    " v.created_at, v.updated_at"                                                                  \
    " FROM volumes v JOIN volume_types t ON t.id = v.type_id"                                      \
    " LEFT JOIN volume_attachments a ON a.volume_id = v.id"

#define TYPE_SELECT "SELECT id, name, backend, description, created_at FROM volume_types"

/* ------------------------------------------------------------ helpers */

/* err from a lookup: "no <what> '<ref>'" when it found nothing, the
 * lookup's own error otherwise.  Returns -1. */
int storage_notfound(struct nubo_err *err, const struct nubo_err *qerr, const char *what,
                     const char *ref)
{
    if (qerr->code != NUBO_E_NOTFOUND)
        return nubo_err_set(err, qerr->code, "%s", qerr->msg);
    return nubo_err_set(err, NUBO_E_NOTFOUND, "no %s '%.64s'", what, ref ? ref : "");
}

/* The volume ref (id or name) of ctx's project, or NULL with err. */
static json_t *vol_find(struct store *st, const struct ctx *ctx, const char *ref,
                        struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *row = NULL;
    if (ref == NULL || valid_name(ref, "volume", NULL) < 0) {
        storage_notfound(err, &(struct nubo_err){.code = NUBO_E_NOTFOUND}, "volume", ref);
        return NULL;
    }
    if (valid_is_uuid(ref))
        row = store_query_one(st, &qerr, VOL_SELECT " WHERE v.id = ? AND v.project_id = ?", "ss",
                              ref, ctx->project_id);
    if (row == NULL && (qerr.code == 0 || qerr.code == NUBO_E_NOTFOUND))
        row = store_query_one(st, &qerr, VOL_SELECT " WHERE v.name = ? AND v.project_id = ?", "ss",
                              ref, ctx->project_id);
    if (row == NULL)
        storage_notfound(err, &qerr, "volume", ref);
    return row;
}

/* The type ref (id or name), or NULL with err (NUBO_E_INVALID when
 * invalid is set: a create naming an unknown type is bad input). */
static json_t *type_find(struct store *st, const char *ref, bool invalid, struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *row = NULL;
    if (ref != NULL && valid_name(ref, "type", NULL) == 0)
        row = store_query_one(st, &qerr, TYPE_SELECT " WHERE id = ? OR name = ?", "ss", ref, ref);
    else
        qerr.code = NUBO_E_NOTFOUND;
    if (row == NULL) {
        storage_notfound(err, &qerr, "volume type", ref);
        if (invalid && err->code == NUBO_E_NOTFOUND)
            nubo_err_set(err, NUBO_E_INVALID,
                         "type must be the id or the name of a volume type (nubo volume"
                         " type list)");
    }
    return row;
}

int storage_size_check(long long size_gib, struct nubo_err *err)
{
    if (size_gib < 1 || size_gib > STORAGE_VOLUME_MAX_GIB)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "size_gib must be a whole number of GiB from 1 to %d",
                            STORAGE_VOLUME_MAX_GIB);
    return 0;
}

int storage_usage_read(struct store *st, const char *project_id, struct storage_usage *u,
                       struct nubo_err *err)
{
    json_t *row = store_query_one(st, err,
                                  "SELECT (SELECT COUNT(*) FROM volumes WHERE project_id = ?) AS n,"
                                  " (SELECT COALESCE(SUM(size_gib), 0) FROM volumes WHERE"
                                  " project_id = ?) AS gib,"
                                  " (SELECT COUNT(*) FROM volume_snapshots WHERE project_id = ?)"
                                  " AS sn, (SELECT COALESCE(SUM(size_gib), 0) FROM"
                                  " volume_snapshots WHERE project_id = ?) AS sgib",
                                  "ssss", project_id, project_id, project_id, project_id);
    if (row == NULL)
        return -1;
    u->volumes = json_integer_value(json_object_get(row, "n"));
    u->snapshots = json_integer_value(json_object_get(row, "sn"));
    u->gib = json_integer_value(json_object_get(row, "gib")) +
             json_integer_value(json_object_get(row, "sgib"));
    json_decref(row);
    return 0;
}

/* Opens (or re-opens at its new size) the volume's usage record. */
static int meter(struct store *st, const json_t *vol, struct nubo_err *err)
{
    struct billing_usage u = {
        .meter = "volume",
        .project_id = jsonx_str(vol, "project_id"),
        .resource_id = jsonx_str(vol, "id"),
        .resource_name = jsonx_str(vol, "name"),
        .price_key = "",
        .price_key_name = "",
        .size = json_integer_value(json_object_get(vol, "size_gib")),
    };
    return billing_meter_open(st, &u, err);
}

/* Commits and returns row, or rolls back, frees row and returns NULL. */
json_t *storage_finish(struct store *st, json_t *row, struct nubo_err *err)
{
    if (row != NULL && store_commit(st, err) == 0)
        return row;
    store_rollback(st);
    json_decref(row);
    return NULL;
}

/* --------------------------------------------------------- volume types */

json_t *storage_type_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                          struct nubo_err *err)
{
    (void)ctx;
    struct store_page pg = {.marker = marker, .limit = limit};
    if (store_page_start(st, &pg, err, "SELECT created_at FROM volume_types WHERE id = ?", "s",
                         marker) < 0)
        return NULL;
    return store_page_query(st, &pg, NULL, err, TYPE_SELECT " WHERE 1 = 1", "");
}

json_t *storage_type_create(struct store *st, const struct ctx *ctx, const char *name,
                            const char *backend, const char *description, struct nubo_err *err)
{
    char id[37], now[32];
    if (authz_require(ctx, AUTHZ_ADMIN, err) < 0 || valid_name(name, "name", err) < 0)
        return NULL;
    if (valid_is_uuid(name)) {
        nubo_err_set(err, NUBO_E_INVALID, "name must not look like an id");
        return NULL;
    }
    if (backend == NULL)
        backend = "local";
    if (strcmp(backend, "local") != 0) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "backend must be 'local' (the only storage backend built so far)");
        return NULL;
    }
    if (description == NULL)
        description = "";
    if (strlen(description) > 255) {
        nubo_err_set(err, NUBO_E_INVALID, "description must be at most 255 characters");
        return NULL;
    }
    id_new(id);
    clock_stamp(now);
    if (store_exec(st, err,
                   "INSERT INTO volume_types (id, name, backend, description, created_at)"
                   " VALUES (?, ?, ?, ?, ?)",
                   "sssss", id, name, backend, description, now) < 0) {
        if (err->code == NUBO_E_CONFLICT)
            nubo_err_set(err, NUBO_E_CONFLICT, "a volume type '%s' exists already", name);
        return NULL;
    }
    return store_query_one(st, err, TYPE_SELECT " WHERE id = ?", "s", id);
}

int storage_type_delete(struct store *st, const struct ctx *ctx, const char *ref,
                        struct nubo_err *err)
{
    if (authz_require(ctx, AUTHZ_ADMIN, err) < 0 || store_begin(st, true, err) < 0)
        return -1;
    json_t *t = type_find(st, ref, false, err);
    json_t *n = NULL;
    int rc = -1;
    if (t == NULL)
        goto cleanup;
    if (strcmp(jsonx_str(t, "name"), "local") == 0) {
        nubo_err_set(err, NUBO_E_CONFLICT, "'local' is the default volume type; it stays");
        goto cleanup;
    }
    n = store_query_one(st, err, "SELECT COUNT(*) AS n FROM volumes WHERE type_id = ?", "s",
                        jsonx_str(t, "id"));
    if (n == NULL)
        goto cleanup;
    if (json_integer_value(json_object_get(n, "n")) > 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "volume type '%s' is used by %lld volume(s); delete them first",
                     jsonx_str(t, "name"), json_integer_value(json_object_get(n, "n")));
        goto cleanup;
    }
    if (store_exec(st, err, "DELETE FROM volume_types WHERE id = ?", "s", jsonx_str(t, "id")) < 0)
        goto cleanup;
    rc = store_commit(st, err);
cleanup:
    if (rc < 0)
        store_rollback(st);
    json_decref(n);
    json_decref(t);
    return rc;
}

/* ------------------------------------------------------------- volumes */

json_t *storage_volume_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                            struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    if (store_page_start(st, &pg, err,
                         "SELECT created_at FROM volumes WHERE id = ? AND project_id = ?", "ss",
                         marker, ctx->project_id) < 0)
        return NULL;
    return store_page_query(st, &pg, "v.created_at, v.id", err,
                            VOL_SELECT " WHERE v.project_id = ?", "s", ctx->project_id);
}

json_t *storage_volume_get(struct store *st, const struct ctx *ctx, const char *ref,
                           struct nubo_err *err)
{
    return vol_find(st, ctx, ref, err);
}

json_t *storage_volume_create(struct store *st, const struct ctx *ctx,
                              const struct storage_volume_spec *spec, struct nubo_err *err)
{
    char id[37], now[32];
    struct storage_usage u;
    json_t *type = NULL, *row = NULL, *snap = NULL, *src = NULL;
    long long size = spec->size_gib;
    if (valid_name(spec->name, "name", err) < 0 ||
        ((spec->source_snapshot == NULL && spec->source_volume == NULL) || size != 0
             ? storage_size_check(size, err) < 0
             : 0))
        return NULL;
    if (valid_is_uuid(spec->name)) {
        nubo_err_set(err, NUBO_E_INVALID, "name must not look like an id");
        return NULL;
    }
    if (store_begin(st, true, err) < 0)
        return NULL;
    /* From a snapshot: a copy of its data, at least its size.  A placed
     * snapshot's copy is made on its host (the reconciler: 'creating'
     * until then); an empty one (of a volume that had no data) makes an
     * empty volume, available at once like a blank one. */
    const char *status = "available", *host = NULL, *source = NULL, *source_vol = NULL;
    if (spec->source_snapshot) {
        snap = storage_snapshot_find(st, ctx, spec->source_snapshot, err);
        if (snap == NULL)
            goto cleanup;
        long long ssize = json_integer_value(json_object_get(snap, "size_gib"));
        if (strcmp(jsonx_str(snap, "status"), "available") != 0) {
            nubo_err_set(err, NUBO_E_CONFLICT, "snapshot '%s' is %s; wait until it is available",
                         jsonx_str(snap, "name"), jsonx_str(snap, "status"));
            goto cleanup;
        }
        if (size == 0)
            size = ssize;
        if (size < ssize) {
            nubo_err_set(err, NUBO_E_INVALID,
                         "size_gib must be at least the snapshot's %lld GiB (or left out)", ssize);
            goto cleanup;
        }
        if (!json_is_null(json_object_get(snap, "host_id"))) {
            status = "creating";
            host = jsonx_str(snap, "host_id");
            source = jsonx_str(snap, "id");
        }
    } else if (spec->source_volume) {
        /* From a volume: a copy of its data now (crash-consistent when a
         * guest runs with it), made on its host like a snapshot's. */
        src = vol_find(st, ctx, spec->source_volume, err);
        if (src == NULL)
            goto cleanup;
        const char *ss = jsonx_str(src, "status");
        long long ssize = json_integer_value(json_object_get(src, "size_gib"));
        if (strcmp(ss, "available") != 0 && strcmp(ss, "in-use") != 0) {
            nubo_err_set(err, NUBO_E_CONFLICT,
                         "volume '%s' is %s; copies are made of available or in-use volumes",
                         jsonx_str(src, "name"), ss);
            goto cleanup;
        }
        if (size == 0)
            size = ssize;
        if (size < ssize) {
            nubo_err_set(err, NUBO_E_INVALID,
                         "size_gib must be at least the source volume's %lld GiB (or left out)",
                         ssize);
            goto cleanup;
        }
        if (!json_is_null(json_object_get(src, "host_id"))) {
            status = "creating";
            host = jsonx_str(src, "host_id");
            source_vol = jsonx_str(src, "id");
        }
    }
    type = type_find(st, spec->type ? spec->type : "local", true, err);
    if (type == NULL || storage_usage_read(st, ctx->project_id, &u, err) < 0 ||
        quota_check_count(st, ctx->project_id, QUOTA_VOLUMES, 1, u.volumes, err) < 0 ||
        quota_check_count(st, ctx->project_id, QUOTA_VOLUME_GIB, size, u.gib, err) < 0)
        goto cleanup;
    id_new(id);
    clock_stamp(now);
    if (store_exec(st, err,
                   "INSERT INTO volumes (id, project_id, name, size_gib, type_id, status,"
                   " host_id, source_snapshot_id, source_volume_id, created_at, updated_at)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   "sssisssssss", id, ctx->project_id, spec->name, size, jsonx_str(type, "id"),
                   status, host, source, source_vol, now, now) < 0) {
        if (err->code == NUBO_E_CONFLICT)
            nubo_err_set(err, NUBO_E_CONFLICT,
                         "the project has a volume named '%s' already; choose another name",
                         spec->name);
        goto cleanup;
    }
    row = vol_find(st, ctx, id, err);
    if (row != NULL && (meter(st, row, err) < 0 ||
                        identity_idem_answer(st, "POST", "/v1/volumes", 201, row, err) < 0)) {
        json_decref(row);
        row = NULL;
    }
cleanup:
    json_decref(type);
    json_decref(snap);
    json_decref(src);
    if (row == NULL) {
        store_rollback(st);
        return NULL;
    }
    return storage_finish(st, row, err);
}

json_t *storage_volume_rename(struct store *st, const struct ctx *ctx, const char *ref,
                              const char *name, struct nubo_err *err)
{
    if (valid_name(name, "name", err) < 0)
        return NULL;
    if (valid_is_uuid(name)) {
        nubo_err_set(err, NUBO_E_INVALID, "name must not look like an id");
        return NULL;
    }
    if (store_begin(st, true, err) < 0)
        return NULL;
    char now[32];
    json_t *row = vol_find(st, ctx, ref, err);
    if (row == NULL)
        goto fail;
    clock_now_str(now);
    if (store_exec(st, err, "UPDATE volumes SET name = ?, updated_at = ? WHERE id = ?", "sss", name,
                   now, jsonx_str(row, "id")) < 0) {
        if (err->code == NUBO_E_CONFLICT)
            nubo_err_set(err, NUBO_E_CONFLICT,
                         "the project has a volume named '%s' already; choose another name", name);
        goto fail;
    }
    char id[37];
    snprintf(id, sizeof(id), "%s", jsonx_str(row, "id"));
    json_decref(row);
    row = vol_find(st, ctx, id, err);
    /* The usage record keeps the name it was opened with; the next size
     * change opens one under the new name. */
    return storage_finish(st, row, err);
fail:
    json_decref(row);
    store_rollback(st);
    return NULL;
}

json_t *storage_volume_extend(struct store *st, const struct ctx *ctx, const char *ref,
                              long long size_gib, struct nubo_err *err)
{
    struct storage_usage u;
    char now[32], id[37];
    if (storage_size_check(size_gib, err) < 0 || store_begin(st, true, err) < 0)
        return NULL;
    json_t *row = vol_find(st, ctx, ref, err);
    if (row == NULL)
        goto fail;
    long long cur = json_integer_value(json_object_get(row, "size_gib"));
    const char *status = jsonx_str(row, "status");
    if (size_gib <= cur) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "size_gib must be larger than the volume's %lld GiB (volumes only grow)", cur);
        goto fail;
    }
    if (strcmp(status, "available") != 0 || !json_is_null(json_object_get(row, "host_id"))) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "volume '%s' is %s; only an available volume that is not on a host yet can"
                     " grow in this version (docs/internals/storage.md)",
                     jsonx_str(row, "name"), status);
        goto fail;
    }
    if (storage_usage_read(st, ctx->project_id, &u, err) < 0 ||
        quota_check_count(st, ctx->project_id, QUOTA_VOLUME_GIB, size_gib - cur, u.gib, err) < 0)
        goto fail;
    snprintf(id, sizeof(id), "%s", jsonx_str(row, "id"));
    clock_now_str(now);
    if (store_exec(st, err,
                   "UPDATE volumes SET size_gib = ?, updated_at = ? WHERE id = ? AND status ="
                   " 'available'",
                   "iss", size_gib, now, id) < 0)
        goto fail;
    json_decref(row);
    row = vol_find(st, ctx, id, err);
    if (row == NULL || meter(st, row, err) < 0)
        goto fail;
    return storage_finish(st, row, err);
fail:
    json_decref(row);
    store_rollback(st);
    return NULL;
}

int storage_volume_delete(struct store *st, const struct ctx *ctx, const char *ref,
                          struct nubo_err *err)
{
    if (store_begin(st, true, err) < 0)
        return -1;
    json_t *row = vol_find(st, ctx, ref, err);
    if (row == NULL)
        goto fail;
    const char *status = jsonx_str(row, "status");
    if (!json_is_null(json_object_get(row, "attached_to"))) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "volume '%s' is attached to instance %s; detach it first",
                     jsonx_str(row, "name"), jsonx_str(row, "attached_to"));
        goto fail;
    }
    if (strcmp(status, "available") != 0 && strcmp(status, "error") != 0) {
        nubo_err_set(err, NUBO_E_CONFLICT, "volume '%s' is %s; wait until it is available",
                     jsonx_str(row, "name"), status);
        goto fail;
    }
    /* Local snapshots live in the volume's file (storage.md). */
    json_t *sn = store_query_one(st, err,
                                 "SELECT COUNT(*) AS n, MIN(name) AS one FROM volume_snapshots"
                                 " WHERE volume_id = ?",
                                 "s", jsonx_str(row, "id"));
    if (sn == NULL)
        goto fail;
    long long nsnap = json_integer_value(json_object_get(sn, "n"));
    if (nsnap > 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "volume '%s' has %lld snapshot%s (e.g. '%s'); delete them first (nubo"
                     " snapshot delete), or keep their data in a new volume made from one",
                     jsonx_str(row, "name"), nsnap, nsnap == 1 ? "" : "s", jsonx_str(sn, "one"));
        json_decref(sn);
        goto fail;
    }
    json_decref(sn);
    sn = store_query_one(st, err,
                         "SELECT COUNT(*) AS n, MIN(name) AS one FROM volumes WHERE"
                         " source_volume_id = ? AND status = 'creating'",
                         "s", jsonx_str(row, "id"));
    if (sn == NULL)
        goto fail;
    if (json_integer_value(json_object_get(sn, "n")) > 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "volume '%s' is being made from volume '%s'; delete it once the copy is"
                     " available",
                     jsonx_str(sn, "one"), jsonx_str(row, "name"));
        json_decref(sn);
        goto fail;
    }
    json_decref(sn);
    /* A placed volume's file is on its host: the reconciler deletes it
     * there, then the row (storage_volume_removed). */
    bool placed = !json_is_null(json_object_get(row, "host_id"));
    char now[32];
    clock_now_str(now);
    if ((placed ? store_exec(st, err,
                             "UPDATE volumes SET status = 'deleting', updated_at = ? WHERE id = ?"
                             " AND project_id = ?",
                             "sss", now, jsonx_str(row, "id"), ctx->project_id)
                : store_exec(st, err, "DELETE FROM volumes WHERE id = ? AND project_id = ?", "ss",
                             jsonx_str(row, "id"), ctx->project_id)) < 0 ||
        billing_meter_close(st, "volume", jsonx_str(row, "id"), err) < 0 ||
        store_commit(st, err) < 0)
        goto fail;
    json_decref(row);
    return 0;
fail:
    json_decref(row);
    store_rollback(st);
    return -1;
}

/* ------------------------------------------------- attach and detach */

/* The instance ref (id or name; a live one before a deleted one) of ctx's project, or NULL with err
 * (NUBO_E_NOTFOUND for another project's like a missing one).  Read only:
 * instance rows are compute's. */
static json_t *instance_find(struct store *st, const struct ctx *ctx, const char *ref,
                             struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *row = NULL;
    if (ref != NULL && valid_name(ref, "instance", NULL) == 0)
        row = store_query_one(st, &qerr,
                              "SELECT id, name, host_id, status, desired FROM instances WHERE"
                              " project_id = ? AND (id = ? OR name = ?) ORDER BY CASE WHEN status ="
                              " 'deleted' THEN 1 ELSE 0 END, created_at DESC, id LIMIT 1",
                              "sss", ctx->project_id, ref, ref);
    else
        qerr.code = NUBO_E_NOTFOUND;
    if (row == NULL)
        storage_notfound(err, &qerr, "instance", ref);
    return row;
}

json_t *storage_volume_attach(struct store *st, const struct ctx *ctx, const char *ref,
                              const char *instance, struct nubo_err *err)
{
    char now[32], id[37];
    json_t *inst = NULL;
    if (store_begin(st, true, err) < 0)
        return NULL;
    json_t *row = vol_find(st, ctx, ref, err);
    if (row == NULL || (inst = instance_find(st, ctx, instance, err)) == NULL)
        goto fail;
    const char *vname = jsonx_str(row, "name"), *iname = jsonx_str(inst, "name");
    const char *istatus = jsonx_str(inst, "status");
    if (!json_is_null(json_object_get(row, "attached_to"))) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "volume '%s' is attached to instance %s already; detach it first", vname,
                     jsonx_str(row, "attached_to"));
        goto fail;
    }
    if (strcmp(jsonx_str(row, "status"), "available") != 0) {
        nubo_err_set(err, NUBO_E_CONFLICT, "volume '%s' is %s; wait until it is available", vname,
                     jsonx_str(row, "status"));
        goto fail;
    }
    if (strcmp(istatus, "error") == 0 || strcmp(istatus, "deleting") == 0 ||
        strcmp(istatus, "deleted") == 0 || strcmp(jsonx_str(inst, "desired"), "deleted") == 0) {
        nubo_err_set(err, NUBO_E_CONFLICT, "instance '%s' is %s; volumes attach to live instances",
                     iname,
                     strcmp(istatus, "error") == 0     ? "in error"
                     : strcmp(istatus, "deleted") == 0 ? "deleted"
                                                       : "being deleted");
        goto fail;
    }
    const char *ihost = jsonx_str(inst, "host_id"), *vhost = jsonx_str(row, "host_id");
    if (json_is_null(json_object_get(inst, "host_id"))) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "instance '%s' has no host yet; attach when it is placed (building)", iname);
        goto fail;
    }
    if (!json_is_null(json_object_get(row, "host_id")) && strcmp(vhost, ihost) != 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "volume '%s' lives on host %s and instance '%s' runs on another; attaching"
                     " across hosts is not built yet (docs/internals/storage.md)",
                     vname, vhost, iname);
        goto fail;
    }
    snprintf(id, sizeof(id), "%s", jsonx_str(row, "id"));
    clock_now_str(now);
    if (store_exec(st, err,
                   "UPDATE volumes SET status = 'attaching', host_id = ?, fault = NULL,"
                   " updated_at = ? WHERE id = ? AND status = 'available'",
                   "sss", ihost, now, id) != 1 ||
        store_exec(st, err,
                   "INSERT INTO volume_attachments (volume_id, project_id, instance_id,"
                   " created_at) VALUES (?, ?, ?, ?)",
                   "ssss", id, ctx->project_id, jsonx_str(inst, "id"), now) < 0) {
        if (err->code == 0)
            nubo_err_set(err, NUBO_E_CONFLICT, "volume '%s' changed meanwhile; try again", vname);
        goto fail;
    }
    json_decref(row);
    json_decref(inst);
    return storage_finish(st, vol_find(st, ctx, id, err), err);
fail:
    json_decref(row);
    json_decref(inst);
    store_rollback(st);
    return NULL;
}

json_t *storage_volume_detach(struct store *st, const struct ctx *ctx, const char *ref,
                              struct nubo_err *err)
{
    char now[32], id[37];
    if (store_begin(st, true, err) < 0)
        return NULL;
    json_t *row = vol_find(st, ctx, ref, err);
    if (row == NULL)
        goto fail;
    const char *status = jsonx_str(row, "status");
    if (json_is_null(json_object_get(row, "attached_to")) ||
        (strcmp(status, "in-use") != 0 && strcmp(status, "attaching") != 0)) {
        nubo_err_set(err, NUBO_E_CONFLICT, "volume '%s' is %s, not attached; nothing to detach",
                     jsonx_str(row, "name"), status);
        goto fail;
    }
    snprintf(id, sizeof(id), "%s", jsonx_str(row, "id"));
    clock_now_str(now);
    if (store_exec(st, err,
                   "UPDATE volumes SET status = 'detaching', updated_at = ? WHERE id = ? AND"
                   " status = ?",
                   "sss", now, id, status) != 1) {
        if (err->code == 0)
            nubo_err_set(err, NUBO_E_CONFLICT, "volume '%s' changed meanwhile; try again",
                         jsonx_str(row, "name"));
        goto fail;
    }
    json_decref(row);
    return storage_finish(st, vol_find(st, ctx, id, err), err);
fail:
    json_decref(row);
    store_rollback(st);
    return NULL;
}

/* ------------------------------------------------------ the reconciler */

json_t *storage_host_volumes(struct store *st, const char *host_id, struct nubo_err *err)
{
    json_t *rows = store_query(
        st, err,
        "SELECT v.id, v.name, v.size_gib, v.status, v.source_snapshot_id,"
        " COALESCE(s.volume_id, v.source_volume_id) AS source_volume_id, a.instance_id AS"
        " attached_to, i.status AS instance_status, i.desired AS"
        " instance_desired FROM volumes v"
        " LEFT JOIN volume_attachments a ON a.volume_id = v.id"
        " LEFT JOIN instances i ON i.id = a.instance_id"
        " LEFT JOIN volume_snapshots s ON s.id = v.source_snapshot_id"
        " WHERE v.host_id = ? ORDER BY v.created_at, v.id",
        "s", host_id);
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        const char *s = jsonx_str(r, "status"), *is = jsonx_str(r, "instance_status");
        bool wanted = (strcmp(s, "attaching") == 0 || strcmp(s, "in-use") == 0) &&
                      !json_is_null(json_object_get(r, "attached_to")) &&
                      strcmp(is, "deleted") != 0 && strcmp(is, "deleting") != 0 &&
                      strcmp(jsonx_str(r, "instance_desired"), "deleted") != 0;
        json_object_set_new(r, "wanted", json_boolean(wanted));
    }
    return rows;
}

/* Ends a compare-and-set that store_exec answered n for (removing the
 * attachment too when drop): 1 done, 0 changed meanwhile, -1 with err. */
static int cas_end(struct store *st, long long n, bool drop, const char *id, struct nubo_err *err)
{
    if (n == 1 && drop &&
        store_exec(st, err, "DELETE FROM volume_attachments WHERE volume_id = ?", "s", id) < 0)
        n = -1;
    if (n < 0 || store_commit(st, err) < 0) {
        store_rollback(st);
        return -1;
    }
    return n == 1;
}

int storage_volume_attached(struct store *st, const char *id, struct nubo_err *err)
{
    char now[32];
    clock_now_str(now);
    if (store_begin(st, true, err) < 0)
        return -1;
    return cas_end(st,
                   store_exec(st, err,
                              "UPDATE volumes SET status = 'in-use', updated_at = ? WHERE id = ?"
                              " AND status = 'attaching'",
                              "ss", now, id),
                   false, id, err);
}

int storage_volume_detached(struct store *st, const char *id, const char *seen_status,
                            struct nubo_err *err)
{
    char now[32];
    clock_now_str(now);
    if (store_begin(st, true, err) < 0)
        return -1;
    return cas_end(st,
                   store_exec(st, err,
                              "UPDATE volumes SET status = 'available', updated_at = ? WHERE"
                              " id = ? AND status = ?",
                              "sss", now, id, seen_status),
                   true, id, err);
}

int storage_volume_failed(struct store *st, const char *id, const char *seen_status,
                          const char *fault, struct nubo_err *err)
{
    char now[32];
    clock_now_str(now);
    if (store_begin(st, true, err) < 0)
        return -1;
    return cas_end(st,
                   store_exec(st, err,
                              "UPDATE volumes SET status = 'error', fault = ?, updated_at = ?"
                              " WHERE id = ? AND status = ?",
                              "ssss", fault, now, id, seen_status),
                   true, id, err);
}

int storage_volume_created(struct store *st, const char *id, struct nubo_err *err)
{
    char now[32];
    clock_now_str(now);
    if (store_begin(st, true, err) < 0)
        return -1;
    return cas_end(st,
                   store_exec(st, err,
                              "UPDATE volumes SET status = 'available', updated_at = ? WHERE"
                              " id = ? AND status = 'creating'",
                              "ss", now, id),
                   false, id, err);
}

int storage_volume_removed(struct store *st, const char *id, struct nubo_err *err)
{
    if (store_begin(st, true, err) < 0)
        return -1;
    return cas_end(
        st,
        store_exec(st, err, "DELETE FROM volumes WHERE id = ? AND status = 'deleting'", "s", id),
        false, id, err);
}

/* ------------------------------------------------------- other modules */

int storage_quota_usage(struct store *st, const char *project_id, long long used[QUOTA_DIMS],
                        struct nubo_err *err)
{
    struct storage_usage u;
    if (storage_usage_read(st, project_id, &u, err) < 0)
        return -1;
    used[QUOTA_VOLUMES] = u.volumes;
    used[QUOTA_VOLUME_GIB] = u.gib;
    used[QUOTA_SNAPSHOTS] = u.snapshots;
    return 0;
}

int storage_project_purge(struct store *st, const char *project_id, const char *name,
                          struct strv *files, void *arg, struct nubo_err *err)
{
    (void)files;
    (void)arg;
    json_t *v = store_query(st, err,
                            "SELECT name, (SELECT COUNT(*) FROM volumes w WHERE w.project_id = ?)"
                            " AS n FROM volumes WHERE project_id = ? ORDER BY created_at, id"
                            " LIMIT 1",
                            "ss", project_id, project_id);
    if (v == NULL)
        return -1;
    int rc = 0;
    if (json_array_size(v) > 0) {
        json_t *row = json_array_get(v, 0);
        long long n = json_integer_value(json_object_get(row, "n"));
        rc = nubo_err_set(err, NUBO_E_CONFLICT,
                          "project '%s' still has %lld volume%s (e.g. '%s'); delete them first",
                          name, n, n == 1 ? "" : "s", jsonx_str(row, "name"));
    }
    json_decref(v);
    return rc;
}
