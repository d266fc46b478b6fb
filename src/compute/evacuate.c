/*
 * evacuate.c - rebuilding the ha instances of a dead host on other hosts
 * (docs/internals/mobility.md, "Fencing and evacuation").
 *
 * The reconciler finds a host down, has fleet fence it (fleet_host_fence:
 * its epoch grows, the fencing hook said yes) and then asks here, per ha
 * instance left unknown on it, for a new place.  Placement is the
 * create's (the scheduler over a snapshot of the hosts, loaded inside the
 * write transaction that claims, so two evacuations or a create cannot
 * both take the last room); the row changes through the transition
 * compute_instance_replaced() (transition.c) in the same transaction.
 */
#include "compute/compute.h"
#include "compute/compute_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fault.h"
#include "lib/log.h"
#include "lib/util.h"

json_t *compute_instances_evacuable(struct store *st, const char *host_id, struct nubo_err *err)
{
    return store_query(st, err,
                       "SELECT id, name FROM instances WHERE host_id = ? AND ha = 1"
                       " AND status = 'unknown' AND desired <> 'deleted'"
                       " ORDER BY created_at, id",
                       "s", host_id);
}

/* Records that instance id could not be evacuated (its own transaction). */
static void evacuation_failed(struct store *st, const char *id, const char *why)
{
    struct nubo_err err;
    if (store_begin(st, true, &err) < 0)
        return;
    compute_event_add(st, id, "evacuation failed", why, NULL);
    if (store_commit(st, &err) < 0)
        store_rollback(st);
}

int compute_instance_evacuate(struct store *st, const char *id, const char *from_host_id,
                              char to_name[64], struct nubo_err *err)
{
    struct compute_snapshot snap = {0};
    size_t *order = NULL;
    int rc = -1;
    struct nubo_err qerr;
    json_t *host = NULL, *inst = NULL;
    if (store_begin(st, true, err) < 0)
        return -1;
    /* Under the write lock: the host is still down and fenced (a host that
     * came back keeps its instances), the instance still unknown there. */
    host = store_query_one(st, &qerr,
                           "SELECT name FROM hosts WHERE id = ? AND state = 'down'"
                           " AND ha_fenced_at IS NOT NULL AND fenced_at IS NULL",
                           "s", from_host_id);
    inst = host ? store_query_one(st, &qerr,
                                  "SELECT i.vcpus, i.ram_mib, i.disk_gib, i.server_group_id,"
                                  " f.required_accel, g.policy FROM instances i"
                                  " LEFT JOIN flavors f ON f.id = i.flavor_id"
                                  " LEFT JOIN server_groups g ON g.id = i.server_group_id"
                                  " WHERE i.id = ? AND i.host_id = ? AND i.ha = 1"
                                  " AND i.status = 'unknown' AND i.desired <> 'deleted'",
                                  "ss", id, from_host_id)
                : NULL;
    if (host == NULL || inst == NULL) {
        if (qerr.code != NUBO_E_NOTFOUND) {
            *err = qerr;
            goto cleanup;
        }
        rc = 0; /* moved on meanwhile */
        goto cleanup;
    }
    const char *group = json_string_value(json_object_get(inst, "server_group_id"));
    const char *policy = json_string_value(json_object_get(inst, "policy"));
    if (compute_snapshot_load(st, group, &snap, err) < 0)
        goto cleanup;
    struct sched_request req = {
        .vcpus = json_integer_value(json_object_get(inst, "vcpus")),
        .ram_mib = json_integer_value(json_object_get(inst, "ram_mib")),
        .disk_gib = json_integer_value(json_object_get(inst, "disk_gib")),
        .need_accel = json_string_value(json_object_get(inst, "required_accel")),
        .group_size = snap.group_size,
    };
    if (group && policy)
        req.group =
            strcmp(policy, "affinity") == 0 ? SCHED_GROUP_AFFINITY : SCHED_GROUP_ANTI_AFFINITY;
    order = xcalloc(snap.n ? snap.n : 1, sizeof(*order));
    struct sched_report rep;
    if (sched_place(compute_sched_cfg(), snap.hosts, snap.n, &req, order, &rep) == 0) {
        sched_no_host(&rep, err);
        store_rollback(st);
        char why[sizeof(err->msg) + 64];
        snprintf(why, sizeof(why), "%s; retried later", err->msg);
        evacuation_failed(st, id, why);
        rc = -1;
        goto done;
    }
    const char *to = snap.hosts[order[0]].id;
    str_copy(to_name, 64, jsonx_str(json_array_get(snap.rows, order[0]), "name"));
    int n =
        compute_instance_replaced(st, id, from_host_id, jsonx_str(host, "name"), to, to_name, err);
    if (n < 0)
        goto cleanup;
    if (n > 0)
        fault_point("transition.evacuate");
    if (store_commit(st, err) < 0)
        goto cleanup;
    if (n > 0) {
        fault_point("transition.evacuate.committed");
        log_warn("instance %s: evacuated from host %s to host %s", id, jsonx_str(host, "name"),
                 to_name);
        compute_changed();
    }
    rc = n;
    goto done;
cleanup:
    store_rollback(st);
done:
    free(order);
    compute_snapshot_free(&snap);
    json_decref(host);
    json_decref(inst);
    return rc;
}

json_t *compute_instances_owned(struct store *st, const char *host_id, struct nubo_err *err)
{
    /* Placed here, or moving here (the target of a migration of any
     * kind), or keeping its old copy here (a resize that moved it, until
     * confirmed or reverted): the same VMs compute_vm_wanted_on() keeps
     * from orphan removal.  A target whose lease ran out while it made
     * the VM (a cold migration's disk copy blocks its loop) must not take
     * it for a stale copy. */
    json_t *rows = store_query(
        st, err,
        "SELECT i.id, i.generation FROM instances i WHERE i.status <> 'deleted'"
        " AND i.desired <> 'deleted' AND (i.host_id = ? OR EXISTS (SELECT 1 FROM migrations m"
        " WHERE m.instance_id = i.id AND ((m.target_host_id = ? AND m.state "
        "IN " COMPUTE_MIGRATION_ACTIVE
        ") OR (m.source_host_id = ? AND m.state IN " COMPUTE_COLD_KEEPS_SOURCE "))))"
        " ORDER BY i.id",
        "sss", host_id, host_id, host_id);
    if (rows == NULL)
        return NULL;
    json_t *out = json_array();
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        char name[64];
        snprintf(name, sizeof(name), COMPUTE_VM_PREFIX "%s", jsonx_str(r, "id"));
        json_array_append_new(out, json_pack("{s:s, s:I}", "name", name, "generation",
                                             json_integer_value(json_object_get(r, "generation"))));
    }
    json_decref(rows);
    return out;
}
