/*
 * resize.c - cold migration and resize of stopped instances, as the API
 * asks for them (docs/internals/mobility.md, "Cold migration and
 * resize"): the checks, the target host and, in one write transaction,
 * the compare-and-set stopped -> resizing with a migrations row (kind
 * 'cold' or 'resize'), the task and the event.  The reconciler carries
 * it out (src/ctrl/resize.c) through compute_cold_prepared() and
 * compute_cold_finish() below.
 *
 * Cold migration is a cloud admin's (hosts are the cloud's business);
 * resize is the instance owner's (member role), checked against the
 * project's quota for the new flavor.  The instance's flavor columns
 * carry the new flavor from the request on (quota, claims and billing
 * see it at once); a revert puts the old ones back.
 */
#include "compute/compute.h"
#include "compute/compute_int.h"

#include <stdio.h>
#include <string.h>

#include "billing/billing.h"
#include "lib/clock.h"
#include "lib/fault.h"
#include "lib/log.h"
#include "lib/util.h"
#include "network/network.h"

#define COLD_COLUMNS                                                                               \
    "m.id, m.kind, m.instance_id, m.source_host_id, hs.name AS source_host, m.target_host_id,"     \
    " ht.name AS target_host, m.state, m.error, m.task_id, m.old_flavor_id, m.new_flavor_id,"      \
    " m.old_vcpus, m.old_ram_mib, m.old_disk_gib, m.start_after, m.created_at, m.updated_at,"      \
    " m.finished_at"
#define COLD_FROM                                                                                  \
    " FROM migrations m LEFT JOIN hosts hs ON hs.id = m.source_host_id"                            \
    " LEFT JOIN hosts ht ON ht.id = m.target_host_id"

static int is(const char *a, const char *b)
{
    return a && strcmp(a, b) == 0;
}

/* The cold migration or resize of an instance not yet ended, or NULL. */
static json_t *cold_of(struct store *st, const char *instance_id)
{
    struct nubo_err qerr = {0};
    return store_query_one(st, &qerr,
                           "SELECT " COLD_COLUMNS COLD_FROM
                           " WHERE m.instance_id = ? AND m.kind <> 'live' AND m.state IN"
                           " " COMPUTE_MIGRATION_ACTIVE,
                           "s", instance_id);
}

static json_t *instance_row(struct store *st, const struct ctx *ctx, const char *id,
                            struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *row = store_query_one(st, &qerr,
                                  "SELECT i.id, i.name, i.project_id, i.status, i.desired,"
                                  " i.host_id, i.flavor_id, i.vcpus, i.ram_mib, i.disk_gib,"
                                  " i.server_group_id, COALESCE(f.required_accel, '') AS"
                                  " required_accel FROM instances i LEFT JOIN flavors f ON"
                                  " f.id = i.flavor_id WHERE i.id = ? AND (i.project_id = ?"
                                  " OR ? = 1) AND i.status <> 'deleted'",
                                  "ssi", id, ctx->project_id, (long long)ctx->is_admin);
    if (row == NULL)
        compute_notfound(err, &qerr, "instance", id, NULL);
    return row;
}

/* Checks the instance can leave its host stopped: stopped (and meant to
 * be), no volumes attached. */
static int check_stopped(struct store *st, const json_t *row, const char *what,
                         struct nubo_err *err)
{
    const char *name = jsonx_str(row, "name"), *status = jsonx_str(row, "status");
    if (!is(status, "stopped") || !is(jsonx_str(row, "desired"), "stopped"))
        return nubo_err_set(err, NUBO_E_CONFLICT,
                            "cannot %s instance '%s': it is %s; stop it first (only a stopped "
                            "instance is %s)",
                            what, name, status, is(what, "resize") ? "resized" : "cold-migrated");
    if (json_is_null(json_object_get(row, "host_id")))
        return nubo_err_set(err, NUBO_E_CONFLICT, "cannot %s instance '%s': it has no host", what,
                            name);
    struct nubo_err qerr = {0};
    json_t *vols = store_query_one(st, &qerr,
                                   "SELECT COUNT(*) AS n FROM volume_attachments WHERE"
                                   " instance_id = ?",
                                   "s", jsonx_str(row, "id"));
    long long nvol = vols ? json_integer_value(json_object_get(vols, "n")) : 0;
    json_decref(vols);
    if (nvol > 0)
        return nubo_err_set(err, NUBO_E_CONFLICT,
                            "cannot %s instance '%s': it has %lld volume(s) attached, and local "
                            "volumes stay on their host; detach them first",
                            what, name, nvol);
    return 0;
}

/* Loads the snapshot and the request for the instance at the given size,
 * its own claim taken off its host (it leaves it, or is resized there). */
static int snapshot_for(struct store *st, const json_t *row, long long vcpus, long long ram,
                        long long disk, const char *accel, struct compute_snapshot *snap,
                        struct sched_request *req, long *src, struct nubo_err *err)
{
    const char *gid = json_string_value(json_object_get(row, "server_group_id"));
    json_t *group = NULL;
    struct nubo_err qerr = {0};
    if (gid && *gid)
        group = store_query_one(st, &qerr, "SELECT id, policy FROM server_groups WHERE id = ?", "s",
                                gid);
    if (compute_snapshot_load(st, gid, snap, err) < 0) {
        json_decref(group);
        return -1;
    }
    memset(req, 0, sizeof(*req));
    req->vcpus = vcpus;
    req->ram_mib = ram;
    req->disk_gib = disk;
    req->need_accel = accel;
    req->group_size = snap->group_size;
    if (group)
        req->group = is(jsonx_str(group, "policy"), "affinity") ? SCHED_GROUP_AFFINITY
                                                                : SCHED_GROUP_ANTI_AFFINITY;
    json_decref(group);
    const char *source = jsonx_str(row, "host_id");
    *src = -1;
    for (size_t i = 0; i < snap->n; i++) {
        if (!is(snap->hosts[i].id, source))
            continue;
        *src = (long)i;
        struct sched_host *h = &snap->hosts[i];
        h->used_vcpus -= json_integer_value(json_object_get(row, "vcpus"));
        h->used_ram_mib -= json_integer_value(json_object_get(row, "ram_mib"));
        h->used_disk_gib -= json_integer_value(json_object_get(row, "disk_gib"));
        if (req->group && h->group_members > 0) {
            h->group_members--;
            snap->group_size--;
            req->group_size--;
        }
    }
    return 0;
}

/* The one transaction of both requests, once the target is known. */
static json_t *begin_cold(struct store *st, const struct ctx *ctx, const json_t *row,
                          const char *kind, const char *target, const char *target_name,
                          const json_t *flavor, bool start_after, struct nubo_err *err)
{
    const char *id = jsonx_str(row, "id"), *project = jsonx_str(row, "project_id");
    char now[32], mid[37], task[37], detail[300];
    clock_stamp(now);
    id_new(mid);
    if (compute_task_create(st, project, id, kind, ctx->request_id, task, err) < 0)
        return NULL;
    long long n;
    if (flavor)
        n = store_exec(st, err,
                       "UPDATE instances SET status = 'resizing', flavor_id = ?, vcpus = ?,"
                       " ram_mib = ?, disk_gib = ?, updated_at = ? WHERE id = ? AND"
                       " status = 'stopped' AND desired = 'stopped'",
                       "siiiss", jsonx_str(flavor, "id"),
                       json_integer_value(json_object_get(flavor, "vcpus")),
                       json_integer_value(json_object_get(flavor, "ram_mib")),
                       json_integer_value(json_object_get(flavor, "disk_gib")), now, id);
    else
        n = store_exec(st, err,
                       "UPDATE instances SET status = 'resizing', updated_at = ? WHERE id = ?"
                       " AND status = 'stopped' AND desired = 'stopped'",
                       "ss", now, id);
    if (n == 0)
        nubo_err_set(err, NUBO_E_CONFLICT, "instance '%s' changed meanwhile; try again",
                     jsonx_str(row, "name"));
    if (n <= 0 || billing_instance_meter(st, id, err) < 0 ||
        store_exec(st, err,
                   "INSERT INTO migrations (id, kind, instance_id, source_host_id, target_host_id,"
                   " state, task_id, created_by, created_at, updated_at, old_flavor_id,"
                   " new_flavor_id, old_vcpus, old_ram_mib, old_disk_gib, start_after)"
                   " VALUES (?, ?, ?, ?, ?, 'preparing', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   "sssssssssssiiii", mid, kind, id, jsonx_str(row, "host_id"), target, task,
                   ctx->user_id, now, now, jsonx_str(row, "flavor_id"),
                   flavor ? jsonx_str(flavor, "id") : jsonx_str(row, "flavor_id"),
                   json_integer_value(json_object_get(row, "vcpus")),
                   json_integer_value(json_object_get(row, "ram_mib")),
                   json_integer_value(json_object_get(row, "disk_gib")),
                   (long long)start_after) < 0)
        return NULL;
    if (flavor)
        snprintf(detail, sizeof(detail), "to flavor %s%s%s", jsonx_str(flavor, "name"),
                 is(target, jsonx_str(row, "host_id")) ? " on its host" : " on host ",
                 is(target, jsonx_str(row, "host_id")) ? "" : target_name);
    else
        snprintf(detail, sizeof(detail), "to host %s", target_name);
    compute_event_add(st, id, flavor ? "resize requested" : "cold migration requested", detail,
                      ctx->request_id);
    json_t *m = cold_of(st, id);
    if (m == NULL) {
        nubo_err_set(err, NUBO_E_INTERNAL, "the migration could not be read back; retry");
        return NULL;
    }
    fault_point(flavor ? "resize.request" : "cold.request");
    if (store_commit(st, err) < 0) {
        json_decref(m);
        return NULL;
    }
    compute_changed();
    json_t *inst = compute_instance_get(st, ctx, id, err);
    return json_pack("{s:o, s:s, s:o}", "instance", inst ? inst : json_null(), "task_id", task,
                     "migration", m);
}

json_t *compute_instance_cold_migrate(struct store *st, const struct ctx *ctx, const char *id,
                                      const char *host_ref, bool start_after, struct nubo_err *err)
{
    if (!ctx->is_admin) {
        nubo_err_set(err, NUBO_E_FORBIDDEN,
                     "only a cloud admin can migrate instances (hosts are the cloud's); ask "
                     "your cloud's operator");
        return NULL;
    }
    if (host_ref && compute_ref_check(host_ref, "host", "a host", err) < 0)
        return NULL;
    struct compute_snapshot snap = {0};
    json_t *out = NULL, *row = NULL;
    if (store_begin(st, true, err) < 0)
        return NULL;
    row = instance_row(st, ctx, id, err);
    if (row == NULL || check_stopped(st, row, "cold-migrate", err) < 0)
        goto done;
    struct sched_request req;
    long src;
    if (snapshot_for(st, row, json_integer_value(json_object_get(row, "vcpus")),
                     json_integer_value(json_object_get(row, "ram_mib")),
                     json_integer_value(json_object_get(row, "disk_gib")),
                     jsonx_str(row, "required_accel"), &snap, &req, &src, err) < 0)
        goto done;
    if (src >= 0 && !snap.hosts[src].up) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "cannot migrate instance '%s': its host is down; its disk cannot leave it",
                     jsonx_str(row, "name"));
        goto done;
    }
    long t = compute_migration_target(&snap, &req, jsonx_str(row, "host_id"), host_ref, err);
    if (t < 0)
        goto done;
    out =
        begin_cold(st, ctx, row, "cold", snap.hosts[t].id,
                   jsonx_str(json_array_get(snap.rows, (size_t)t), "name"), NULL, start_after, err);
done:
    if (out == NULL)
        store_rollback(st);
    compute_snapshot_free(&snap);
    json_decref(row);
    return out;
}

json_t *compute_instance_resize(struct store *st, const struct ctx *ctx, const char *id,
                                const char *flavor_ref, struct nubo_err *err)
{
    if (flavor_ref == NULL || compute_ref_check(flavor_ref, "flavor", "a flavor", err) < 0) {
        if (flavor_ref == NULL)
            nubo_err_set(err, NUBO_E_INVALID, "resize needs 'flavor': the new flavor's id or name");
        return NULL;
    }
    struct compute_snapshot snap = {0};
    json_t *out = NULL, *row = NULL, *flavor = NULL;
    if (store_begin(st, true, err) < 0)
        return NULL;
    row = instance_row(st, ctx, id, err);
    if (row == NULL)
        goto done;
    flavor = compute_flavor_resolve(st, ctx, flavor_ref, err);
    if (flavor == NULL)
        goto done;
    const char *name = jsonx_str(row, "name");
    long long ov = json_integer_value(json_object_get(row, "vcpus"));
    long long oram = json_integer_value(json_object_get(row, "ram_mib"));
    long long odisk = json_integer_value(json_object_get(row, "disk_gib"));
    long long nv = json_integer_value(json_object_get(flavor, "vcpus"));
    long long nram = json_integer_value(json_object_get(flavor, "ram_mib"));
    long long ndisk = json_integer_value(json_object_get(flavor, "disk_gib"));
    if (is(jsonx_str(flavor, "id"), jsonx_str(row, "flavor_id"))) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "instance '%s' has flavor '%s' already; name another flavor", name,
                     jsonx_str(flavor, "name"));
        goto done;
    }
    if (ndisk < odisk) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "flavor '%s' has a %lld GiB disk and instance '%s' a %lld GiB one: a disk "
                     "only grows; pick a flavor with a disk of %lld GiB or more",
                     jsonx_str(flavor, "name"), ndisk, name, odisk, odisk);
        goto done;
    }
    if (check_stopped(st, row, "resize", err) < 0)
        goto done;
    /* The quota counts the instance at its old size now: only the growth
     * is asked for. */
    struct quota_ask ask = {0, nv > ov ? nv - ov : 0, nram > oram ? nram - oram : 0, ndisk - odisk};
    struct quota_usage used;
    if (compute_usage(st, jsonx_str(row, "project_id"), &used, err) < 0 ||
        quota_check(st, jsonx_str(row, "project_id"), &used, &ask, err) < 0)
        goto done;
    const char *accel = json_string_value(json_object_get(flavor, "required_accel"));
    struct sched_request req;
    long src;
    if (snapshot_for(st, row, nv, nram, ndisk, accel, &snap, &req, &src, err) < 0)
        goto done;
    if (src < 0 || !snap.hosts[src].up) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "cannot resize instance '%s': its host is down; its disk cannot be reached",
                     name);
        goto done;
    }
    /* Its own host when it has room (and the flavor's acceleration): the
     * disk stays; else the scheduler's best other host. */
    long t = src;
    if (!sched_fits(compute_sched_cfg(), &snap.hosts[src], &req)) {
        t = compute_migration_target(&snap, &req, jsonx_str(row, "host_id"), NULL, err);
        if (t < 0) {
            nubo_err_set(err, NUBO_E_CONFLICT, "cannot resize instance '%s': %s", name, err->msg);
            goto done;
        }
    }
    out = begin_cold(st, ctx, row, "resize", snap.hosts[t].id,
                     jsonx_str(json_array_get(snap.rows, (size_t)t), "name"), flavor, false, err);
done:
    if (out == NULL)
        store_rollback(st);
    compute_snapshot_free(&snap);
    json_decref(flavor);
    json_decref(row);
    return out;
}

json_t *compute_instance_resize_end(struct store *st, const struct ctx *ctx, const char *id,
                                    bool confirm, struct nubo_err *err)
{
    json_t *row = NULL, *m = NULL, *out = NULL;
    const char *what = confirm ? "confirm-resize" : "revert-resize";
    if (store_begin(st, true, err) < 0)
        return NULL;
    row = instance_row(st, ctx, id, err);
    if (row == NULL)
        goto done;
    m = cold_of(st, id);
    if (m == NULL || !is(jsonx_str(m, "state"), "verifying") ||
        !is(jsonx_str(row, "status"), "verify_resize")) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "cannot %s instance '%s': it is %s, not verify_resize (a resize waits there "
                     "once its new copy is ready)",
                     what, jsonx_str(row, "name"), jsonx_str(row, "status"));
        goto done;
    }
    char now[32], task[37];
    clock_stamp(now);
    const char *project = jsonx_str(row, "project_id");
    if (compute_task_create(st, project, id, what, ctx->request_id, task, err) < 0)
        goto done;
    long long n = store_exec(st, err,
                             "UPDATE migrations SET state = ?, updated_at = ? WHERE id = ? AND"
                             " state = 'verifying'",
                             "sss", confirm ? "confirming" : "reverting", now, jsonx_str(m, "id"));
    if (n > 0 && confirm)
        n = store_exec(st, err,
                       "UPDATE instances SET status = 'resizing', updated_at = ? WHERE id = ? AND"
                       " status = 'verify_resize'",
                       "ss", now, id);
    else if (n > 0)
        /* Back to the old flavor from now on: quota, claims and billing. */
        n = store_exec(st, err,
                       "UPDATE instances SET status = 'resizing', flavor_id = ?, vcpus = ?,"
                       " ram_mib = ?, disk_gib = ?, updated_at = ? WHERE id = ? AND"
                       " status = 'verify_resize'",
                       "siiiss", jsonx_str(m, "old_flavor_id"),
                       json_integer_value(json_object_get(m, "old_vcpus")),
                       json_integer_value(json_object_get(m, "old_ram_mib")),
                       json_integer_value(json_object_get(m, "old_disk_gib")), now, id);
    if (n == 0)
        nubo_err_set(err, NUBO_E_CONFLICT, "instance '%s' changed meanwhile; try again",
                     jsonx_str(row, "name"));
    if (n <= 0 || billing_instance_meter(st, id, err) < 0)
        goto done;
    compute_event_add(st, id, confirm ? "resize confirm requested" : "resize revert requested",
                      ctx->user_name, ctx->request_id);
    fault_point(confirm ? "resize.confirm" : "resize.revert");
    if (store_commit(st, err) < 0)
        goto done;
    compute_changed();
    json_t *inst = compute_instance_get(st, ctx, id, err);
    json_t *now_m = cold_of(st, id);
    out = json_pack("{s:o, s:s, s:o}", "instance", inst ? inst : json_null(), "task_id", task,
                    "migration", now_m ? now_m : json_null());
    json_decref(m);
    json_decref(row);
    return out;
done:
    store_rollback(st);
    json_decref(m);
    json_decref(row);
    return NULL;
}

/* ------------------------------------------------- the reconciler's side */

json_t *compute_cold_active(struct store *st, struct nubo_err *err)
{
    return store_query(st, err,
                       "SELECT " COLD_COLUMNS ", i.status AS instance_status,"
                       " i.host_id AS instance_host_id, i.name AS instance_name" COLD_FROM
                       " JOIN instances i ON i.id = m.instance_id"
                       " WHERE m.kind <> 'live' AND m.state IN " COMPUTE_MIGRATION_ACTIVE
                       " ORDER BY m.created_at, m.id",
                       "");
}

/* Ends the task of the migration's kind (cold, resize) or its confirm or
 * revert. */
static void task_end(struct store *st, const json_t *m, const char *kinds, const char *error)
{
    compute_task_finish(st, jsonx_str(m, "instance_id"), kinds, error);
}

int compute_cold_prepared(struct store *st, const json_t *m, struct nubo_err *err)
{
    const char *id = jsonx_str(m, "instance_id"), *mid = jsonx_str(m, "id");
    const char *target = jsonx_str(m, "target_host_id");
    bool resize = is(jsonx_str(m, "kind"), "resize");
    char now[32], detail[300];
    clock_stamp(now);
    if (store_begin(st, true, err) < 0)
        return -1;
    long long n =
        store_exec(st, err,
                   "UPDATE migrations SET state = ?, updated_at = ?, finished_at = ?"
                   " WHERE id = ? AND state = 'preparing'",
                   "ssss", resize ? "verifying" : "completed", now, resize ? NULL : now, mid);
    long long moved = 0;
    if (n > 0)
        moved =
            store_exec(st, err,
                       "UPDATE instances SET status = ?, desired = ?, host_id = ?,"
                       " updated_at = ? WHERE id = ? AND status = 'resizing'",
                       "sssss", resize ? "verify_resize" : "stopped",
                       !resize && json_integer_value(json_object_get(m, "start_after")) ? "running"
                                                                                        : "stopped",
                       target, now, id);
    if (moved < 0)
        n = -1;
    if (n > 0 && moved > 0 && network_instance_ports_move(st, id, target, err) < 0)
        n = -1;
    if (n > 0 && moved > 0 && billing_instance_meter(st, id, err) < 0)
        n = -1;
    if (n > 0 && moved > 0) {
        snprintf(detail, sizeof(detail), "on host %s", jsonx_str(m, "target_host"));
        compute_event_add(st, id, resize ? "resized; confirm or revert it" : "cold-migrated",
                          detail, NULL);
        task_end(st, m, jsonx_str(m, "kind"), NULL);
    }
    int rc =
        tx_end_at(st, n, "transition.cold_prepared", "transition.cold_prepared.committed", err);
    if (rc > 0)
        log_info("instance %s: %s %s %s on host %s", id, resize ? "resize" : "cold migration", mid,
                 resize ? "waits for its confirmation" : "completed", jsonx_str(m, "target_host"));
    return rc;
}

int compute_cold_finish(struct store *st, const json_t *m, const char *outcome, const char *error,
                        struct nubo_err *err)
{
    const char *id = jsonx_str(m, "instance_id"), *mid = jsonx_str(m, "id");
    const char *state = jsonx_str(m, "state");
    bool back = is(outcome, "reverted") || is(outcome, "failed");
    char now[32], detail[400];
    clock_stamp(now);
    if (store_begin(st, true, err) < 0)
        return -1;
    long long n = store_exec(st, err,
                             "UPDATE migrations SET state = ?, error = ?, updated_at = ?,"
                             " finished_at = ? WHERE id = ? AND state = ?",
                             "ssssss", outcome, error, now, now, mid, state);
    long long moved = 0;
    const char *host = back ? jsonx_str(m, "source_host_id") : jsonx_str(m, "target_host_id");
    if (n > 0 && back && is(state, "preparing") && json_object_get(m, "old_flavor_id") &&
        is(jsonx_str(m, "kind"), "resize"))
        /* A resize that failed before its copy was ready: the old flavor
         * again. */
        moved = store_exec(st, err,
                           "UPDATE instances SET status = 'stopped', host_id = ?, flavor_id = ?,"
                           " vcpus = ?, ram_mib = ?, disk_gib = ?, updated_at = ? WHERE id = ?"
                           " AND status = 'resizing'",
                           "ssiiiss", host, jsonx_str(m, "old_flavor_id"),
                           json_integer_value(json_object_get(m, "old_vcpus")),
                           json_integer_value(json_object_get(m, "old_ram_mib")),
                           json_integer_value(json_object_get(m, "old_disk_gib")), now, id);
    else if (n > 0)
        moved = store_exec(st, err,
                           "UPDATE instances SET status = 'stopped', host_id = ?, updated_at = ?"
                           " WHERE id = ? AND status = 'resizing'",
                           "sss", host, now, id);
    if (moved < 0)
        n = -1;
    if (n > 0 && moved > 0 && network_instance_ports_move(st, id, host, err) < 0)
        n = -1;
    if (n > 0 && moved > 0 && billing_instance_meter(st, id, err) < 0)
        n = -1;
    if (n > 0) {
        const char *kinds = is(state, "confirming")  ? "confirm-resize"
                            : is(state, "reverting") ? "revert-resize"
                                                     : jsonx_str(m, "kind");
        snprintf(detail, sizeof(detail), "%s%s on host %s", error ? error : "",
                 error ? "; it is stopped" : "stopped",
                 back ? jsonx_str(m, "source_host") : jsonx_str(m, "target_host"));
        compute_event_add(st, id,
                          is(outcome, "failed")     ? "resize or cold migration failed"
                          : is(outcome, "reverted") ? "resize reverted"
                                                    : "resize confirmed",
                          detail, NULL);
        task_end(st, m, kinds, is(outcome, "failed") ? detail : NULL);
    }
    int rc = tx_end_at(st, n, "transition.cold_finish", "transition.cold_finish.committed", err);
    if (rc > 0)
        log_info("instance %s: %s %s %s%s%s", id, jsonx_str(m, "kind"), mid, outcome,
                 error ? ": " : "", error ? error : "");
    return rc;
}
