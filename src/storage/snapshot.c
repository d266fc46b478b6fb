/*
 * snapshot.c - the storage service: volume snapshots
 * (docs/internals/storage.md, Snapshots; the table is migration 22,
 * src/store/schema_storage.c).
 *
 * A snapshot is a row first, like a volume: its create checks the quotas
 * (snapshots, volume_gib), inserts it and opens its usage record (meter
 * "snapshot", GiB) in one write transaction.  On the local backend its
 * data is an internal qcow2 snapshot in the volume's file, taken by the
 * volume's host: a placed volume's snapshot is 'creating' until the
 * reconciler had the agent take it ('available'), or 'error' with a
 * fault when the agent refused.  A volume that was never placed has no
 * data: its snapshot is empty, has no host and is available at once.
 * Every tenant query is scoped by the caller's project.
 */
#include <string.h>

#include "billing/billing.h"
#include "lib/clock.h"
#include "lib/fault.h"
#include "lib/jsonx.h"
#include "lib/util.h"
#include "lib/valid.h"
#include "storage/storage_int.h"

#define SNAP_SELECT                                                                                \
    "SELECT s.id, s.project_id, s.name, s.volume_id, v.name AS volume, s.size_gib, s.status,"      \
    " s.host_id, s.fault, s.created_at, s.updated_at FROM volume_snapshots s"                      \
    " LEFT JOIN volumes v ON v.id = s.volume_id"

json_t *storage_snapshot_find(struct store *st, const struct ctx *ctx, const char *ref,
                              struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *row = NULL;
    if (ref == NULL || valid_name(ref, "snapshot", NULL) < 0) {
        storage_notfound(err, &(struct nubo_err){.code = NUBO_E_NOTFOUND}, "snapshot", ref);
        return NULL;
    }
    if (valid_is_uuid(ref))
        row = store_query_one(st, &qerr, SNAP_SELECT " WHERE s.id = ? AND s.project_id = ?", "ss",
                              ref, ctx->project_id);
    if (row == NULL && (qerr.code == 0 || qerr.code == NUBO_E_NOTFOUND))
        row = store_query_one(st, &qerr, SNAP_SELECT " WHERE s.name = ? AND s.project_id = ?", "ss",
                              ref, ctx->project_id);
    if (row == NULL)
        storage_notfound(err, &qerr, "snapshot", ref);
    return row;
}

static int name_check(const char *name, struct nubo_err *err)
{
    if (valid_name(name, "name", err) < 0)
        return -1;
    if (valid_is_uuid(name))
        return nubo_err_set(err, NUBO_E_INVALID, "name must not look like an id");
    return 0;
}

json_t *storage_snapshot_list(struct store *st, const struct ctx *ctx, int limit,
                              const char *marker, struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    if (store_page_start(st, &pg, err,
                         "SELECT created_at FROM volume_snapshots WHERE id = ? AND project_id = ?",
                         "ss", marker, ctx->project_id) < 0)
        return NULL;
    return store_page_query(st, &pg, "s.created_at, s.id", err,
                            SNAP_SELECT " WHERE s.project_id = ?", "s", ctx->project_id);
}

json_t *storage_snapshot_get(struct store *st, const struct ctx *ctx, const char *ref,
                             struct nubo_err *err)
{
    return storage_snapshot_find(st, ctx, ref, err);
}

json_t *storage_snapshot_create(struct store *st, const struct ctx *ctx, const char *volume,
                                const char *name, struct nubo_err *err)
{
    char id[37], now[32];
    struct storage_usage u;
    json_t *row = NULL, *v = NULL;
    if (name_check(name, err) < 0)
        return NULL;
    if (store_begin(st, true, err) < 0)
        return NULL;
    struct nubo_err qerr = {0};
    if (volume != NULL && valid_name(volume, "volume", NULL) == 0)
        v = store_query_one(st, &qerr,
                            "SELECT id, name, size_gib, status, host_id FROM volumes WHERE"
                            " project_id = ? AND (id = ? OR name = ?)",
                            "sss", ctx->project_id, volume, volume);
    else
        qerr.code = NUBO_E_NOTFOUND;
    if (v == NULL) {
        storage_notfound(err, &qerr, "volume", volume);
        goto cleanup;
    }
    const char *vs = jsonx_str(v, "status");
    if (strcmp(vs, "available") != 0 && strcmp(vs, "in-use") != 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "volume '%s' is %s; snapshots are taken of available or in-use volumes",
                     jsonx_str(v, "name"), vs);
        goto cleanup;
    }
    long long size = json_integer_value(json_object_get(v, "size_gib"));
    if (storage_usage_read(st, ctx->project_id, &u, err) < 0 ||
        quota_check_count(st, ctx->project_id, QUOTA_SNAPSHOTS, 1, u.snapshots, err) < 0 ||
        quota_check_count(st, ctx->project_id, QUOTA_VOLUME_GIB, size, u.gib, err) < 0)
        goto cleanup;
    bool placed = !json_is_null(json_object_get(v, "host_id"));
    id_new(id);
    clock_stamp(now);
    if (store_exec(st, err,
                   "INSERT INTO volume_snapshots (id, project_id, name, volume_id, size_gib,"
                   " status, host_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   "ssssissss", id, ctx->project_id, name, jsonx_str(v, "id"), size,
                   placed ? "creating" : "available", placed ? jsonx_str(v, "host_id") : NULL, now,
                   now) < 0) {
        if (err->code == NUBO_E_CONFLICT)
            nubo_err_set(err, NUBO_E_CONFLICT,
                         "the project has a snapshot named '%s' already; choose another name",
                         name);
        goto cleanup;
    }
    row = storage_snapshot_find(st, ctx, id, err);
    struct billing_usage bu = {
        .meter = "snapshot",
        .project_id = ctx->project_id,
        .resource_id = id,
        .resource_name = name,
        .price_key = "",
        .price_key_name = "",
        .size = size,
    };
    /* The answer, recorded with the effect for an Idempotency-Key retry
     * (nothing unless the API's POST runs). */
    if (row != NULL && (billing_meter_open(st, &bu, err) < 0 ||
                        identity_idem_answer(st, "POST", "/v1/snapshots", 201, row, err) < 0)) {
        json_decref(row);
        row = NULL;
    }
cleanup:
    json_decref(v);
    if (row == NULL) {
        store_rollback(st);
        return NULL;
    }
    row = storage_finish(st, row, err);
    if (row)
        fault_point("snapshot.create.committed"); /* lib/fault.h */
    return row;
}

json_t *storage_snapshot_rename(struct store *st, const struct ctx *ctx, const char *ref,
                                const char *name, struct nubo_err *err)
{
    char now[32], id[37];
    if (name_check(name, err) < 0 || store_begin(st, true, err) < 0)
        return NULL;
    json_t *row = storage_snapshot_find(st, ctx, ref, err);
    if (row == NULL)
        goto fail;
    snprintf(id, sizeof(id), "%s", jsonx_str(row, "id"));
    clock_now_str(now);
    if (store_exec(st, err, "UPDATE volume_snapshots SET name = ?, updated_at = ? WHERE id = ?",
                   "sss", name, now, id) < 0) {
        if (err->code == NUBO_E_CONFLICT)
            nubo_err_set(err, NUBO_E_CONFLICT,
                         "the project has a snapshot named '%s' already; choose another name",
                         name);
        goto fail;
    }
    json_decref(row);
    return storage_finish(st, storage_snapshot_find(st, ctx, id, err), err);
fail:
    json_decref(row);
    store_rollback(st);
    return NULL;
}

int storage_snapshot_delete(struct store *st, const struct ctx *ctx, const char *ref,
                            struct nubo_err *err)
{
    char now[32];
    json_t *dep = NULL;
    if (store_begin(st, true, err) < 0)
        return -1;
    json_t *row = storage_snapshot_find(st, ctx, ref, err);
    if (row == NULL)
        goto fail;
    const char *status = jsonx_str(row, "status"), *id = jsonx_str(row, "id");
    if (strcmp(status, "available") != 0 && strcmp(status, "error") != 0) {
        nubo_err_set(err, NUBO_E_CONFLICT, "snapshot '%s' is %s; wait until it is available",
                     jsonx_str(row, "name"), status);
        goto fail;
    }
    dep = store_query_one(st, err,
                          "SELECT COUNT(*) AS n, MIN(name) AS one FROM volumes WHERE"
                          " source_snapshot_id = ? AND status = 'creating'",
                          "s", id);
    if (dep == NULL)
        goto fail;
    if (json_integer_value(json_object_get(dep, "n")) > 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "volume '%s' is being made from snapshot '%s'; delete the snapshot once"
                     " the volume is available",
                     jsonx_str(dep, "one"), jsonx_str(row, "name"));
        goto fail;
    }
    bool placed = !json_is_null(json_object_get(row, "host_id"));
    clock_now_str(now);
    if ((placed ? store_exec(st, err,
                             "UPDATE volume_snapshots SET status = 'deleting', updated_at = ?"
                             " WHERE id = ?",
                             "ss", now, id)
                : store_exec(st, err, "DELETE FROM volume_snapshots WHERE id = ?", "s", id)) < 0 ||
        billing_meter_close(st, "snapshot", id, err) < 0 || store_commit(st, err) < 0)
        goto fail;
    json_decref(dep);
    json_decref(row);
    return 0;
fail:
    json_decref(dep);
    json_decref(row);
    store_rollback(st);
    return -1;
}

/* ------------------------------------------------------ the reconciler */

json_t *storage_host_snapshots(struct store *st, const char *host_id, struct nubo_err *err)
{
    return store_query(st, err,
                       "SELECT id, volume_id, status FROM volume_snapshots WHERE host_id = ?"
                       " ORDER BY created_at, id",
                       "s", host_id);
}

/* Runs a one-statement compare-and-set in its own transaction: 1 done,
 * 0 changed meanwhile, -1 with err. */
static int cas(struct store *st,
               long long (*run)(struct store *, const char *, const char *, const char *,
                                struct nubo_err *),
               const char *id, const char *fault, struct nubo_err *err)
{
    char now[32];
    clock_now_str(now);
    if (store_begin(st, true, err) < 0)
        return -1;
    long long n = run(st, id, fault, now, err);
    if (n < 0 || store_commit(st, err) < 0) {
        store_rollback(st);
        return -1;
    }
    return n == 1;
}

static long long run_created(struct store *st, const char *id, const char *fault, const char *now,
                             struct nubo_err *err)
{
    (void)fault;
    return store_exec(st, err,
                      "UPDATE volume_snapshots SET status = 'available', updated_at = ? WHERE"
                      " id = ? AND status = 'creating'",
                      "ss", now, id);
}

static long long run_failed(struct store *st, const char *id, const char *fault, const char *now,
                            struct nubo_err *err)
{
    return store_exec(st, err,
                      "UPDATE volume_snapshots SET status = 'error', fault = ?, updated_at = ?"
                      " WHERE id = ? AND status = 'creating'",
                      "sss", fault, now, id);
}

static long long run_removed(struct store *st, const char *id, const char *fault, const char *now,
                             struct nubo_err *err)
{
    (void)fault;
    (void)now;
    return store_exec(st, err, "DELETE FROM volume_snapshots WHERE id = ? AND status = 'deleting'",
                      "s", id);
}

int storage_snapshot_created(struct store *st, const char *id, struct nubo_err *err)
{
    return cas(st, run_created, id, NULL, err);
}

int storage_snapshot_failed(struct store *st, const char *id, const char *fault,
                            struct nubo_err *err)
{
    return cas(st, run_failed, id, fault, err);
}

int storage_snapshot_removed(struct store *st, const char *id, struct nubo_err *err)
{
    return cas(st, run_removed, id, NULL, err);
}
