/*
 * migrate.c - live migration of instances between hosts, as the API asks
 * for it (docs/internals/mobility.md): the checks, the choice of the
 * target host and the compare-and-set running -> migrating, in one write
 * transaction with the migrations row, the task and the event.  The
 * reconciler carries the migration out (src/ctrl/migrate.c) and ends it
 * through compute_migration_finish() (transition.c).
 *
 * Only a cloud admin migrates: hosts are the cloud's business.  A tenant
 * sees its instance 'migrating' and the task, never the hosts.
 */
#include "compute/compute.h"
#include "compute/compute_int.h"

#include <stdio.h>
#include <string.h>

#include "billing/billing.h"
#include "lib/clock.h"
#include "lib/fault.h"
#include "lib/util.h"
#include "lib/valid.h"

#define MIGRATION_COLUMNS                                                                          \
    "m.id, m.kind, m.instance_id, m.source_host_id, hs.name AS source_host, m.target_host_id,"     \
    " ht.name AS target_host, m.state, m.cancel_requested, m.progress, m.error, m.downtime_ms,"    \
    " m.total_ms, m.task_id, m.created_at, m.updated_at, m.finished_at"
#define MIGRATION_FROM                                                                             \
    " FROM migrations m LEFT JOIN hosts hs ON hs.id = m.source_host_id"                            \
    " LEFT JOIN hosts ht ON ht.id = m.target_host_id"

/* The stored progress text becomes an object, cancel_requested a boolean. */
static void migration_render(json_t *m)
{
    json_t *p = json_loads(jsonx_str(m, "progress"), 0, NULL);
    json_object_set_new(m, "progress", p ? p : json_object());
    json_object_set_new(m, "cancel_requested",
                        json_boolean(json_integer_value(json_object_get(m, "cancel_requested"))));
}

static int admin_only(const struct ctx *ctx, struct nubo_err *err)
{
    if (ctx->is_admin)
        return 0;
    return nubo_err_set(err, NUBO_E_FORBIDDEN,
                        "only a cloud admin can migrate instances (hosts are the cloud's); ask "
                        "your cloud's operator");
}

/* The active (preparing or running) migration of an instance, or NULL. */
static json_t *active_of(struct store *st, const char *instance_id)
{
    struct nubo_err qerr = {0};
    json_t *m = store_query_one(st, &qerr,
                                "SELECT " MIGRATION_COLUMNS MIGRATION_FROM
                                " WHERE m.instance_id = ? AND m.kind = 'live' AND"
                                " m.state IN ('preparing', 'running')",
                                "s", instance_id);
    if (m)
        migration_render(m);
    return m;
}

/* compute_int.h.  Picks the target in snap for req (the instance's needs) from source:
 * the named host (host_ref: id or name) when given, else the scheduler's
 * best.  Returns its index, or -1 with err (409 naming why). */
long compute_migration_target(struct compute_snapshot *snap, const struct sched_request *req,
                              const char *source, const char *host_ref, struct nubo_err *err)
{
    const struct sched_cfg *cfg = compute_sched_cfg();
    long src = -1;
    for (size_t i = 0; i < snap->n; i++)
        if (strcmp(snap->hosts[i].id, source) == 0)
            src = (long)i;
    const char *src_accel = src >= 0 ? snap->hosts[src].accel : "";
    if (host_ref) {
        long t = -1;
        for (size_t i = 0; i < snap->n && t < 0; i++)
            if (strcmp(snap->hosts[i].id, host_ref) == 0 ||
                strcmp(jsonx_str(json_array_get(snap->rows, i), "name"), host_ref) == 0)
                t = (long)i;
        if (t < 0)
            return nubo_err_set(err, NUBO_E_NOTFOUND,
                                "no host '%s' (nubo host list shows the hosts)", host_ref);
        struct sched_host *h = &snap->hosts[t];
        const char *name = jsonx_str(json_array_get(snap->rows, (size_t)t), "name");
        if (t == src)
            return nubo_err_set(err, NUBO_E_CONFLICT,
                                "the instance is on host '%s' already; name another host or "
                                "leave host out",
                                name);
        if (!h->up || h->unreachable)
            return nubo_err_set(err, NUBO_E_CONFLICT,
                                "host '%s' is %s: no migration target until it is up and "
                                "answering",
                                name, h->up ? "not answering" : "down");
        if (h->maintenance)
            return nubo_err_set(err, NUBO_E_CONFLICT,
                                "host '%s' is in maintenance (drained by an admin): it takes no "
                                "instance until undrained (nubo host undrain %s)",
                                name, name);
        if (strcmp(h->accel, src_accel) != 0)
            return nubo_err_set(err, NUBO_E_CONFLICT,
                                "host '%s' runs guests with %s and the instance's host with %s: "
                                "a live migration needs the same acceleration on both",
                                name, h->accel[0] ? h->accel : "none",
                                src_accel[0] ? src_accel : "none");
        if (!sched_fits(cfg, h, req)) {
            struct sched_report rep;
            size_t one[1];
            sched_place(cfg, h, 1, req, one, &rep);
            sched_no_host(&rep, err);
            return nubo_err_set(err, NUBO_E_CONFLICT, "host '%s' cannot take the instance (%s)",
                                name, err->msg);
        }
        return t;
    }
    /* The scheduler's choice, among hosts with the source's acceleration
     * (never the source itself). */
    for (size_t i = 0; i < snap->n; i++)
        if ((long)i == src || strcmp(snap->hosts[i].accel, src_accel) != 0)
            snap->hosts[i].up = false;
    size_t order[snap->n ? snap->n : 1];
    struct sched_report rep;
    if (sched_place(cfg, snap->hosts, snap->n, req, order, &rep) == 0) {
        sched_no_host(&rep, err);
        return nubo_err_set(err, NUBO_E_CONFLICT,
                            "no other host with %s can take the instance (%s)",
                            src_accel[0] ? src_accel : "its acceleration", err->msg);
    }
    return (long)order[0];
}

json_t *compute_instance_migrate(struct store *st, const struct ctx *ctx, const char *id,
                                 const char *host_ref, struct nubo_err *err)
{
    json_t *row = NULL, *out = NULL, *group = NULL;
    struct compute_snapshot snap = {0};
    if (admin_only(ctx, err) < 0)
        return NULL;
    if (host_ref && compute_ref_check(host_ref, "host", "a host", err) < 0)
        return NULL;
    if (store_begin(st, true, err) < 0)
        return NULL;
    struct nubo_err qerr = {0};
    row = store_query_one(st, &qerr,
                          "SELECT i.id, i.name, i.project_id, i.status, i.desired, i.host_id,"
                          " i.vcpus, i.ram_mib, i.disk_gib, i.server_group_id,"
                          " COALESCE(f.required_accel, '') AS required_accel"
                          " FROM instances i LEFT JOIN flavors f ON f.id = i.flavor_id"
                          " WHERE i.id = ?",
                          "s", id);
    if (row == NULL) {
        compute_notfound(err, &qerr, "instance", id, NULL);
        goto cleanup;
    }
    const char *name = jsonx_str(row, "name"), *status = jsonx_str(row, "status");
    if (strcmp(status, "running") != 0 || strcmp(jsonx_str(row, "desired"), "running") != 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "cannot migrate instance '%s': it is %s; only a running instance migrates "
                     "live",
                     name, status);
        goto cleanup;
    }
    json_t *vols = store_query_one(st, &qerr,
                                   "SELECT COUNT(*) AS n FROM volume_attachments WHERE"
                                   " instance_id = ?",
                                   "s", id);
    long long nvol = vols ? json_integer_value(json_object_get(vols, "n")) : 0;
    json_decref(vols);
    if (nvol > 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "cannot migrate instance '%s': it has %lld volume(s) attached, and local "
                     "volumes stay on their host; detach them first",
                     name, nvol);
        goto cleanup;
    }
    const char *gid = json_string_value(json_object_get(row, "server_group_id"));
    if (gid && *gid)
        group = store_query_one(st, &qerr, "SELECT id, policy FROM server_groups WHERE id = ?", "s",
                                gid);
    if (compute_snapshot_load(st, gid, &snap, err) < 0)
        goto cleanup;
    struct sched_request req = {
        .vcpus = json_integer_value(json_object_get(row, "vcpus")),
        .ram_mib = json_integer_value(json_object_get(row, "ram_mib")),
        .disk_gib = json_integer_value(json_object_get(row, "disk_gib")),
        .need_accel = jsonx_str(row, "required_accel"),
        .group_size = snap.group_size,
    };
    if (group)
        req.group = strcmp(jsonx_str(group, "policy"), "affinity") == 0 ? SCHED_GROUP_AFFINITY
                                                                        : SCHED_GROUP_ANTI_AFFINITY;
    const char *source = jsonx_str(row, "host_id");
    for (size_t i = 0; i < snap.n; i++) {
        if (strcmp(snap.hosts[i].id, source) == 0 && !snap.hosts[i].up) {
            nubo_err_set(err, NUBO_E_CONFLICT,
                         "cannot migrate instance '%s': its host is down; it cannot send it", name);
            goto cleanup;
        }
        /* The instance itself does not count against its own group's
         * policy on the target: it leaves the source. */
        if (strcmp(snap.hosts[i].id, source) == 0 && group && snap.hosts[i].group_members > 0) {
            snap.hosts[i].group_members--;
            snap.group_size--;
            req.group_size--;
        }
    }
    long t = compute_migration_target(&snap, &req, source, host_ref, err);
    if (t < 0)
        goto cleanup;
    const char *target = snap.hosts[t].id;
    const char *target_name = jsonx_str(json_array_get(snap.rows, (size_t)t), "name");
    char now[32], mid[37], task[37], detail[200];
    clock_stamp(now);
    id_new(mid);
    const char *project = jsonx_str(row, "project_id");
    if (compute_task_create(st, project, id, "migrate", ctx->request_id, task, err) < 0)
        goto cleanup;
    long long n = store_exec(st, err,
                             "UPDATE instances SET status = 'migrating', updated_at = ?"
                             " WHERE id = ? AND status = 'running' AND desired = 'running'",
                             "ss", now, id);
    if (n == 0)
        nubo_err_set(err, NUBO_E_CONFLICT, "instance '%s' changed meanwhile; try again", name);
    if (n <= 0 || billing_instance_meter(st, id, err) < 0 ||
        store_exec(st, err,
                   "INSERT INTO migrations (id, instance_id, source_host_id, target_host_id,"
                   " state, task_id, created_by, created_at, updated_at) VALUES (?, ?, ?, ?,"
                   " 'preparing', ?, ?, ?, ?)",
                   "ssssssss", mid, id, source, target, task, ctx->user_id, now, now) < 0)
        goto cleanup;
    snprintf(detail, sizeof(detail), "to host %s", target_name);
    compute_event_add(st, id, "migration requested", detail, ctx->request_id);
    json_t *m = active_of(st, id);
    if (m == NULL) {
        nubo_err_set(err, NUBO_E_INTERNAL, "the migration could not be read back; retry");
        goto cleanup;
    }
    fault_point("migrate.request");
    if (store_commit(st, err) < 0) {
        json_decref(m);
        goto cleanup;
    }
    compute_changed();
    json_t *inst = compute_instance_get(st, ctx, id, err);
    out = json_pack("{s:o, s:s, s:o}", "instance", inst ? inst : json_null(), "task_id", task,
                    "migration", m);
    json_decref(row);
    json_decref(group);
    compute_snapshot_free(&snap);
    return out;
cleanup:
    store_rollback(st);
    compute_snapshot_free(&snap);
    json_decref(group);
    json_decref(row);
    return NULL;
}

json_t *compute_instance_migrate_cancel(struct store *st, const struct ctx *ctx, const char *id,
                                        struct nubo_err *err)
{
    if (admin_only(ctx, err) < 0)
        return NULL;
    char now[32];
    clock_stamp(now);
    long long n = store_exec(st, err,
                             "UPDATE migrations SET cancel_requested = 1, updated_at = ?"
                             " WHERE instance_id = ? AND kind = 'live' AND"
                             " state IN ('preparing', 'running')",
                             "ss", now, id);
    if (n < 0)
        return NULL;
    if (n == 0) {
        if (!compute_instance_exists(st, id)) {
            nubo_err_set(err, NUBO_E_NOTFOUND, "no instance '%s'", id);
            return NULL;
        }
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "instance '%s' is not migrating: nothing to cancel (a migration that "
                     "completed is undone by migrating back)",
                     id);
        return NULL;
    }
    compute_event_add(st, id, "migration cancel requested", ctx->user_name, ctx->request_id);
    compute_changed();
    json_t *m = active_of(st, id);
    json_t *inst = m ? compute_instance_get(st, ctx, id, err) : NULL;
    if (inst == NULL) {
        json_decref(m);
        if (m == NULL)
            nubo_err_set(err, NUBO_E_CONFLICT, "the migration ended meanwhile; nothing to cancel");
        return NULL;
    }
    return json_pack("{s:o, s:s, s:o}", "instance", inst, "task_id", jsonx_str(m, "task_id"),
                     "migration", m);
}

json_t *compute_instance_migrations(struct store *st, const struct ctx *ctx, const char *id,
                                    struct nubo_err *err)
{
    if (admin_only(ctx, err) < 0)
        return NULL;
    if (!compute_instance_exists(st, id)) {
        nubo_err_set(err, NUBO_E_NOTFOUND, "no instance '%s'", id);
        return NULL;
    }
    json_t *rows = store_query(st, err,
                               "SELECT " MIGRATION_COLUMNS MIGRATION_FROM
                               " WHERE m.instance_id = ? ORDER BY m.created_at DESC, m.id",
                               "s", id);
    if (rows == NULL)
        return NULL;
    size_t i;
    json_t *m;
    json_array_foreach (rows, i, m) {
        migration_render(m);
    }
    return json_pack("{s:o}", "migrations", rows);
}

json_t *compute_migrations_active(struct store *st, struct nubo_err *err)
{
    json_t *rows = store_query(st, err,
                               "SELECT " MIGRATION_COLUMNS ", i.status AS instance_status,"
                               " i.desired AS instance_desired, i.host_id AS instance_host_id,"
                               " i.name AS instance_name" MIGRATION_FROM
                               " JOIN instances i ON i.id = m.instance_id"
                               " WHERE m.kind = 'live' AND m.state IN ('preparing', 'running')"
                               " ORDER BY m.created_at, m.id",
                               "");
    if (rows == NULL)
        return NULL;
    size_t i;
    json_t *m;
    json_array_foreach (rows, i, m) {
        migration_render(m);
    }
    return rows;
}

int compute_vm_wanted_on(struct store *st, const char *instance_id, const char *host_id)
{
    struct nubo_err qerr = {0};
    json_t *r =
        store_query_one(st, &qerr,
                        "SELECT (SELECT COUNT(*) FROM instances WHERE id = ? AND"
                        " host_id = ? AND status <> 'deleted') +"
                        " (SELECT COUNT(*) FROM migrations WHERE instance_id = ? AND"
                        " target_host_id = ? AND state IN " COMPUTE_MIGRATION_ACTIVE ") +"
                        " (SELECT COUNT(*) FROM migrations WHERE instance_id = ? AND"
                        " source_host_id = ? AND state IN " COMPUTE_COLD_KEEPS_SOURCE ")"
                        " AS n",
                        "ssssss", instance_id, host_id, instance_id, host_id, instance_id, host_id);
    if (r == NULL)
        return qerr.code == NUBO_E_NOTFOUND ? 0 : -1;
    long long n = json_integer_value(json_object_get(r, "n"));
    json_decref(r);
    return n > 0;
}
