/*
 * drain.c - the reconciler's side of host maintenance: each pass, for
 * every draining host (src/fleet/maintenance.c), starts migrations of its
 * instances (live, or cold for stopped ones) until --drain-parallel of
 * them are under way, notes the instances that cannot move, and ends the
 * drain ('drained') when nothing is left to move
 * (docs/internals/mobility.md, "Host maintenance").
 *
 * Everything is read again each pass: the drain is the hosts row, the
 * migrations are their rows (compute_instance_migrate() or
 * compute_instance_cold_migrate() starts one in its own transaction, the
 * target chosen by the scheduler, which skips hosts in maintenance), so a
 * nubod killed anywhere carries on where it was.  Each instance is tried
 * once per drain: a migration that fails or that cannot start is a
 * failure of the drain, with its reason, and the host ends 'drained' with
 * the instances still on it listed.  Running instances move live; stopped
 * ones cold (their disk copied, stopped on the target: src/ctrl/resize.c).
 */
#include "ctrl/ctrl.h"
#include "ctrl/ctrl_int.h"

#include <stdio.h>
#include <string.h>

#include "compute/compute.h"
#include "fleet/fleet.h"
#include "identity/identity.h"
#include "lib/fault.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/util.h"

/* How inst (a row: status, desired) leaves: LIVE or COLD (a migration
 * now), WAIT (it is on its way to a state), or CANNOT with *why. */
enum move { MOVE_LIVE, MOVE_COLD, MOVE_WAIT, MOVE_CANNOT };

static enum move how_to_move(const json_t *inst, const char **why)
{
    const char *status = jsonx_str(inst, "status"), *desired = jsonx_str(inst, "desired");
    bool settled = strcmp(status, desired) == 0;
    if (strcmp(status, "running") == 0)
        return settled ? MOVE_LIVE : MOVE_WAIT;
    if (strcmp(status, "stopped") == 0)
        return settled ? MOVE_COLD : MOVE_WAIT;
    if (strcmp(status, "verify_resize") == 0) {
        *why = "its resize waits to be confirmed or reverted (its old copy is on this host): "
               "confirm or revert it and drain again";
        return MOVE_CANNOT;
    }
    if (strcmp(status, "error") == 0) {
        *why = "it is in error: repair or delete it";
        return MOVE_CANNOT;
    }
    if (strcmp(status, "unknown") == 0) {
        *why = "its state is unknown: its host does not report it";
        return MOVE_CANNOT;
    }
    return MOVE_WAIT; /* building, starting, stopping, rebooting, migrating, resizing... */
}

/* One pass over one draining host h. */
static void drain_host(struct ctrl *c, const json_t *h)
{
    struct store *st = ctrl_store(c);
    struct nubo_err err;
    const char *hid = jsonx_str(h, "id"), *hname = jsonx_str(h, "name");
    const char *since = jsonx_str(h, "maintenance_at");
    json_t *fails = json_loads(jsonx_str(h, "drain_failures"), 0, NULL);
    if (!json_is_object(fails)) {
        json_decref(fails);
        fails = json_object();
    }
    json_t *insts = store_query(st, &err,
                                "SELECT id, name, status, desired FROM instances"
                                " WHERE host_id = ? AND status <> 'deleted'"
                                " ORDER BY created_at, id",
                                "s", hid);
    json_t *active = insts ? store_query(st, &err,
                                         "SELECT instance_id FROM migrations WHERE"
                                         " source_host_id = ? AND state IN ('preparing',"
                                         " 'running')",
                                         "s", hid)
                           : NULL;
    json_t *ended = active ? store_query(st, &err,
                                         "SELECT instance_id, state, error FROM migrations WHERE"
                                         " source_host_id = ? AND created_at >= ? AND"
                                         " state IN ('failed', 'cancelled')",
                                         "ss", hid, since)
                           : NULL;
    if (ended == NULL) {
        log_error("drain of host %s: cannot read its instances: %s", hname, err.msg);
        goto done;
    }
    bool changed = false;
    size_t i, j;
    json_t *r, *m;
    /* Failures kept are of instances still here; the migrations that
     * ended badly during this drain are failures too. */
    json_t *kept = json_object();
    json_array_foreach (insts, i, r) {
        const char *iid = jsonx_str(r, "id");
        json_t *why = json_object_get(fails, iid);
        json_array_foreach (ended, j, m) {
            if (why == NULL && strcmp(jsonx_str(m, "instance_id"), iid) == 0) {
                char msg[512];
                const char *e = json_string_value(json_object_get(m, "error"));
                snprintf(msg, sizeof(msg), "its migration %s%s%s", jsonx_str(m, "state"),
                         e ? ": " : "", e ? e : "");
                why = json_string(msg);
                json_object_set_new(kept, iid, why);
                compute_event_add(st, iid, "drain failed", msg, "drain");
                changed = true;
            }
        }
        if (why && json_object_get(kept, iid) == NULL)
            json_object_set(kept, iid, why);
    }
    changed = changed || json_object_size(kept) != json_object_size(fails);
    json_decref(fails);
    fails = kept;

    size_t running = json_array_size(active);
    int left = 0;
    struct ctx ctx = {.is_admin = true};
    str_copy(ctx.user_id, sizeof(ctx.user_id), jsonx_str(h, "maintenance_by"));
    snprintf(ctx.request_id, sizeof(ctx.request_id), "drain-%.60s", hname);
    json_array_foreach (insts, i, r) {
        const char *iid = jsonx_str(r, "id");
        if (json_object_get(fails, iid))
            continue;
        left++;
        bool moving = false;
        json_array_foreach (active, j, m) {
            moving = moving || strcmp(jsonx_str(m, "instance_id"), iid) == 0;
        }
        const char *why = NULL;
        enum move how = moving ? MOVE_WAIT : how_to_move(r, &why);
        if (how == MOVE_WAIT)
            continue;
        if (how == MOVE_LIVE || how == MOVE_COLD) {
            if (running >= (size_t)ctrl_cfg(c)->drain_parallel)
                continue;
            /* A stopped instance moves cold (its disk copied) and stays
             * stopped on the target. */
            json_t *out = how == MOVE_LIVE
                              ? compute_instance_migrate(st, &ctx, iid, NULL, &err)
                              : compute_instance_cold_migrate(st, &ctx, iid, NULL, false, &err);
            if (out) {
                json_decref(out);
                running++;
                log_info("drain of host %s: %s instance %s (%s) away", hname,
                         how == MOVE_LIVE ? "live-migrating" : "cold-migrating",
                         jsonx_str(r, "name"), iid);
                fault_point("drain.migrate");
                continue;
            }
            if (err.code == NUBO_E_CONFLICT && strstr(err.msg, "changed meanwhile"))
                continue; /* raced with an action: next pass */
            why = err.msg;
        }
        log_warn("drain of host %s: instance %s (%s) cannot move: %s", hname, jsonx_str(r, "name"),
                 iid, why);
        compute_event_add(st, iid, "drain failed", why, "drain");
        json_object_set_new(fails, iid, json_string(why));
        changed = true;
        left--;
    }
    bool done = left == 0 && running == 0;
    if (done)
        log_info("drain of host %s: done, %zu instance(s) could not move", hname,
                 json_object_size(fails));
    if ((changed || done) && fleet_drain_note(st, hid, since, fails, done, &err) < 0)
        log_error("drain of host %s: cannot record its progress: %s", hname, err.msg);
done:
    json_decref(fails);
    json_decref(insts);
    json_decref(active);
    json_decref(ended);
}

void drain_converge(struct ctrl *c)
{
    struct nubo_err err;
    json_t *hosts = fleet_hosts_draining(ctrl_store(c), &err);
    if (hosts == NULL) {
        log_error("reconcile: cannot load the draining hosts: %s", err.msg);
        return;
    }
    size_t i;
    json_t *h;
    json_array_foreach (hosts, i, h) {
        drain_host(c, h);
    }
    json_decref(hosts);
}
