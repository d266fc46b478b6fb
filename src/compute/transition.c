/*
 * transition.c - the instance transitions that are not the API's: what the
 * reconciler, heartbeats, host removal and project removal make of an
 * instance (compute.h, "instance transitions"; the diagram is
 * docs/internals/instance-states.md).
 *
 * With instance.c this file is the only writer of the instances table.
 * A transition on one instance is a compare-and-set inside one write
 * transaction that also holds what the change implies: the usage records
 * (billing_instance_meter(), called after the UPDATE as billing.h asks),
 * the events and the tasks.  compute_event_add() and compute_task_finish()
 * only run statements, so they join the transaction opened here (a nested
 * store_begin() would be an error).
 *
 * The reconciler's reads of instances are here too, so that the SQL on
 * instances stays in one module.
 */
#include "compute/compute.h"
#include "compute/compute_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing.h"
#include "lib/clock.h"
#include "lib/fault.h"
#include "lib/log.h"
#include "lib/strv.h"
#include "lib/valid.h"
#include "lib/jsonx.h"

/* Statuses an instance keeps when its host goes down. */
#define NOT_LIVE_ON_DOWN "('error', 'deleting', 'deleted', 'unknown')"

static int is(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

/* Ends the transaction of a transition: commits when n >= 0, rolls back
 * otherwise (or when the commit fails).  Returns 1 when n > 0, 0 when
 * n == 0, -1 on failure.  A transition that changes something passes the
 * crash points "transition.<name>" just before its commit and
 * "transition.<name>.committed" just after (lib/fault.h). */
#define tx_end(st, n, name, err)                                                                   \
    tx_end_at(st, n, "transition." name, "transition." name ".committed", err)
int tx_end_at(struct store *st, long long n, const char *before, const char *after,
              struct nubo_err *err)
{
    if (n > 0)
        fault_point(before);
    if (n >= 0 && store_commit(st, err) < 0)
        n = -1;
    if (n < 0) {
        store_rollback(st);
        return -1;
    }
    if (n > 0)
        fault_point(after);
    return n > 0;
}

/* ------------------------------------------------------ one instance */

int compute_instance_reached(struct store *st, const char *id, const char *seen_status,
                             const char *desired, const char *status, long long boots,
                             const char *host_name, struct nubo_err *err)
{
    if (is(seen_status, status))
        return 0;
    char now[32], detail[160];
    clock_now_str(now);
    if (store_begin(st, true, err) < 0)
        return -1;
    long long n = store_exec(st, err,
                             "UPDATE instances SET status = ?, fault = NULL,"
                             " boots = CASE WHEN ? < 0 THEN boots ELSE ? END, updated_at = ?"
                             " WHERE id = ? AND status = ? AND desired = ?",
                             "siissss", status, boots, boots, now, id, seen_status, desired);
    if (n > 0 && billing_instance_meter(st, id, err) < 0)
        n = -1;
    if (n > 0) {
        snprintf(detail, sizeof(detail),
                 is(seen_status, "unknown") ? "host %s is back" : "on host %s", host_name);
        if (is(status, "running")) {
            compute_event_add(st, id, is(seen_status, "rebooting") ? "rebooted" : "running", detail,
                              NULL);
            compute_task_finish(st, id, "create,start,reboot,evacuate", NULL);
            compute_task_finish(st, id, "stop", "the instance was started again");
        } else {
            compute_event_add(st, id, "stopped", detail, NULL);
            compute_task_finish(st, id, "create,stop,evacuate", NULL);
            compute_task_finish(st, id, "start,reboot", "the instance was stopped again");
        }
    }
    int rc = tx_end(st, n, "reached", err);
    if (rc > 0)
        log_info("instance %s: %s -> %s", id, seen_status, status);
    return rc;
}

int compute_instance_error(struct store *st, const char *id, const char *seen_status,
                           const char *desired, const char *event, const char *fault,
                           const char *finish_kinds, struct nubo_err *err)
{
    char now[32];
    clock_now_str(now);
    if (store_begin(st, true, err) < 0)
        return -1;
    long long n = store_exec(st, err,
                             "UPDATE instances SET status = 'error', fault = ?, updated_at = ?"
                             " WHERE id = ? AND status = ? AND desired = ?",
                             "sssss", fault, now, id, seen_status, desired);
    if (n > 0 && billing_instance_meter(st, id, err) < 0)
        n = -1;
    if (n > 0) {
        compute_event_add(st, id, event, fault, NULL);
        if (finish_kinds)
            compute_task_finish(st, id, finish_kinds, fault);
    }
    return tx_end(st, n, "error", err);
}

int compute_instance_refused(struct store *st, const char *id, const char *what, const char *kind,
                             const char *reason, struct nubo_err *err)
{
    char event[64];
    snprintf(event, sizeof(event), "%s failed", what);
    if (store_begin(st, true, err) < 0)
        return -1;
    compute_event_add(st, id, event, reason, NULL);
    compute_task_finish(st, id, kind, reason);
    return tx_end(st, 1, "refused", err);
}

int compute_instance_reboot_failed(struct store *st, const char *id, const char *reason,
                                   struct nubo_err *err)
{
    char now[32];
    clock_now_str(now);
    if (store_begin(st, true, err) < 0)
        return -1;
    compute_event_add(st, id, "reboot failed", reason, NULL);
    compute_task_finish(st, id, "reboot", reason);
    long long n = store_exec(st, err,
                             "UPDATE instances SET status = 'running', updated_at = ?"
                             " WHERE id = ? AND status = 'rebooting' AND desired = 'running'",
                             "ss", now, id);
    if (n > 0 && billing_instance_meter(st, id, err) < 0)
        n = -1;
    return tx_end(st, n, "reboot_failed", err);
}

int compute_instance_boots(struct store *st, const char *id, const char *seen_status,
                           long long boots, struct nubo_err *err)
{
    char now[32];
    clock_now_str(now);
    long long n = store_exec(st, err,
                             "UPDATE instances SET boots = ?, updated_at = ? WHERE id = ?"
                             " AND status = ?",
                             "isss", boots, now, id, seen_status);
    return n < 0 ? -1 : n > 0;
}

int compute_instance_reboot_sent(struct store *st, const char *id, const char *host_name,
                                 struct nubo_err *err)
{
    char now[32];
    clock_now_str(now);
    if (store_begin(st, true, err) < 0)
        return -1;
    long long n = store_exec(st, err,
                             "UPDATE tasks SET status = 'running', updated_at = ? WHERE"
                             " instance_id = ? AND kind = 'reboot' AND status = 'pending'",
                             "ss", now, id);
    if (n >= 0) {
        compute_event_add(st, id, "reboot requested", host_name, NULL);
        n = 1;
    }
    return tx_end(st, n, "reboot_sent", err);
}

int compute_instance_power(struct store *st, const char *id, const char *power_state,
                           long long boots, struct nubo_err *err)
{
    char now[32];
    clock_now_str(now);
    long long n = store_exec(st, err,
                             "UPDATE instances SET power_state = ?, boots = ?, updated_at = ?"
                             " WHERE id = ? AND (power_state <> ? OR boots <> ?)",
                             "sisssi", power_state, boots, now, id, power_state, boots);
    return n < 0 ? -1 : n > 0;
}

int compute_instance_deleted(struct store *st, const char *id, const char *host_name,
                             struct nubo_err *err)
{
    char now[32];
    clock_now_str(now);
    if (store_begin(st, true, err) < 0)
        return -1;
    long long n = store_exec(st, err,
                             "UPDATE instances SET status = 'deleted', power_state = 'none',"
                             " deleted_at = ?, updated_at = ? WHERE id = ? AND desired = 'deleted'"
                             " AND status != 'deleted'",
                             "sss", now, now, id);
    if (n > 0 && (billing_instance_meter(st, id, err) < 0 ||
                  network_instance_ports_release(st, id, err) < 0))
        n = -1;
    if (n > 0) {
        compute_event_add(st, id, "deleted", host_name, NULL);
        compute_task_finish(st, id, "delete", NULL);
        compute_task_finish(st, id, "create,start,stop,reboot", "the instance was deleted");
    }
    int rc = tx_end(st, n, "deleted", err);
    if (rc > 0)
        log_info("instance %s: deleted", id);
    return rc;
}

bool compute_vm_stale(const json_t *vm, const json_t *inst)
{
    json_t *g = json_object_get(vm, "generation");
    return json_is_integer(g) &&
           json_integer_value(g) < json_integer_value(json_object_get(inst, "generation"));
}

/* ------------------------------------------------- hosts and projects */

/* The instance id of a VM named "nubo-<uuid>", or NULL. */
static const char *vm_instance_id(const char *vm_name)
{
    size_t pl = strlen(COMPUTE_VM_PREFIX);
    if (vm_name == NULL || strncmp(vm_name, COMPUTE_VM_PREFIX, pl) != 0 ||
        !valid_is_uuid(vm_name + pl))
        return NULL;
    return vm_name + pl;
}

int compute_instances_observe(struct store *st, const char *host_id, const json_t *vms,
                              int *changed, struct nubo_err *err)
{
    char now[32];
    clock_now_str(now);
    json_t *insts = store_query(st, err,
                                "SELECT id, status, power_state, boots, generation FROM instances"
                                " WHERE host_id = ? AND status != 'deleted'",
                                "s", host_id);
    if (insts == NULL)
        return -1;
    int rc = -1;
    /* Instances whose VM is in the report take its state; the others have
     * no VM ("none"). */
    size_t i, j;
    json_t *inst, *vm;
    json_array_foreach (insts, i, inst) {
        const char *id = jsonx_str(inst, "id");
        const char *ps = "none";
        long long boots = json_integer_value(json_object_get(inst, "boots"));
        json_array_foreach (vms, j, vm) {
            const char *vid = vm_instance_id(jsonx_str(vm, "name"));
            /* A copy of an older generation is stale: not this instance. */
            if (vid && is(vid, id) && compute_vm_stale(vm, inst))
                continue;
            if (vid && is(vid, id)) {
                ps = jsonx_str(vm, "state");
                /* While a reboot is in flight the reconciler compares the
                 * boots counter with the one it saw before the reboot. */
                if (!is(jsonx_str(inst, "status"), "rebooting"))
                    boots = json_integer_value(json_object_get(vm, "boots"));
                break;
            }
        }
        if (is(ps, jsonx_str(inst, "power_state")) &&
            boots == json_integer_value(json_object_get(inst, "boots")))
            continue;
        if (store_exec(st, err,
                       "UPDATE instances SET power_state = ?, boots = ?, updated_at = ? WHERE"
                       " id = ?",
                       "siss", ps, boots, now, id) < 0)
            goto cleanup;
        *changed = 1;
    }
    /* A VM of ours that no instance here wants: the reconciler removes it. */
    json_array_foreach (vms, j, vm) {
        const char *vid = vm_instance_id(jsonx_str(vm, "name"));
        if (vid == NULL)
            continue;
        int known = 0;
        json_array_foreach (insts, i, inst) {
            known = known || is(vid, jsonx_str(inst, "id"));
        }
        if (!known)
            *changed = 1;
    }
    rc = 0;
cleanup:
    json_decref(insts);
    return rc;
}

long long compute_instances_host_down(struct store *st, const char *host_id, const char *host_name,
                                      struct nubo_err *err)
{
    char now[32];
    clock_now_str(now);
    json_t *insts = store_query(st, err,
                                "SELECT id FROM instances WHERE host_id = ? AND status"
                                " NOT IN " NOT_LIVE_ON_DOWN,
                                "s", host_id);
    if (insts == NULL)
        return -1;
    long long count = 0;
    size_t i;
    json_t *inst;
    json_array_foreach (insts, i, inst) {
        const char *id = jsonx_str(inst, "id");
        long long n = store_exec(st, err,
                                 "UPDATE instances SET status = 'unknown', updated_at = ?"
                                 " WHERE id = ? AND status NOT IN " NOT_LIVE_ON_DOWN,
                                 "ss", now, id);
        if (n < 0 || (n > 0 && billing_instance_meter(st, id, err) < 0)) {
            count = -1;
            break;
        }
        if (n > 0) {
            compute_event_add(st, id, "host down", host_name, NULL);
            count++;
        }
    }
    json_decref(insts);
    return count;
}

long long compute_instances_host_removed(struct store *st, const char *host_id,
                                         const char *host_name, struct nubo_err *err)
{
    char now[32], detail[128];
    clock_now_str(now);
    snprintf(detail, sizeof(detail), "host %s was force-removed", host_name);
    json_t *insts = store_query(st, err,
                                "SELECT id, status FROM instances WHERE host_id = ? AND"
                                " status != 'deleted'",
                                "s", host_id);
    if (insts == NULL)
        return -1;
    long long count = 0;
    size_t i;
    json_t *inst;
    json_array_foreach (insts, i, inst) {
        const char *id = jsonx_str(inst, "id");
        /* An unknown instance ran until its host was last seen: its running
         * time ends there (before the status moves on). */
        if (is(jsonx_str(inst, "status"), "unknown") && billing_instance_lost(st, id, err) < 0) {
            count = -1;
            break;
        }
        long long n = store_exec(st, err,
                                 "UPDATE instances SET desired = 'deleted', status = 'deleted',"
                                 " power_state = 'none', deleted_at = ?, updated_at = ?"
                                 " WHERE id = ? AND status != 'deleted'",
                                 "sss", now, now, id);
        if (n < 0 || (n > 0 && (billing_instance_meter(st, id, err) < 0 ||
                                network_instance_ports_release(st, id, err) < 0))) {
            count = -1;
            break;
        }
        if (n > 0) {
            compute_event_add(st, id, "deleted", detail, NULL);
            compute_task_finish(st, id, "delete", NULL);
            compute_task_finish(st, id, "create,start,stop,reboot",
                                "the instance was deleted: its host was force-removed");
            count++;
        }
    }
    json_decref(insts);
    return count;
}

int compute_instance_replaced(struct store *st, const char *id, const char *from_host_id,
                              const char *from_name, const char *to_host_id, const char *to_name,
                              struct nubo_err *err)
{
    char now[32], detail[256], task[37];
    clock_now_str(now);
    /* The copy on the dead host ran until the host was last seen: its
     * running time ends there, before the status moves on (billing.h). */
    if (billing_instance_lost(st, id, err) < 0)
        return -1;
    long long n = store_exec(st, err,
                             "UPDATE instances SET host_id = ?, generation = generation + 1,"
                             " status = 'building', power_state = 'none', fault = NULL,"
                             " updated_at = ? WHERE id = ? AND host_id = ? AND status = 'unknown'"
                             " AND desired <> 'deleted' AND ha = 1",
                             "ssss", to_host_id, now, id, from_host_id);
    if (n <= 0)
        return n < 0 ? -1 : 0;
    json_t *row = store_query_one(
        st, err, "SELECT project_id, generation FROM instances WHERE id = ?", "s", id);
    if (row == NULL)
        return -1;
    int rc = -1;
    if (billing_instance_meter(st, id, err) < 0 ||
        network_instance_ports_move(st, id, to_host_id, err) < 0 ||
        compute_task_create(st, jsonx_str(row, "project_id"), id, "evacuate", NULL, task, err) < 0)
        goto cleanup;
    snprintf(detail, sizeof(detail),
             "host %s is down and fenced: rebuilt on host %s from its image (generation %lld)",
             from_name, to_name, (long long)json_integer_value(json_object_get(row, "generation")));
    compute_event_add(st, id, "evacuated", detail, NULL);
    compute_task_finish(st, id, "create,start,stop,reboot",
                        "its host failed: the instance is rebuilt on another host");
    rc = 1;
cleanup:
    json_decref(row);
    return rc;
}

json_t *compute_instances_down_deleting(struct store *st, struct nubo_err *err)
{
    return store_query(st, err,
                       "SELECT i.id, i.status, i.desired, h.name AS host_name FROM instances i"
                       " JOIN hosts h ON h.id = i.host_id WHERE h.state = 'down'"
                       " AND i.desired = 'deleted' AND i.status != 'deleted'",
                       "");
}

int compute_instances_unplace(struct store *st, const char *host_id, const char *host_name,
                              struct nubo_err *err)
{
    json_t *live = store_query_one(st, err,
                                   "SELECT COUNT(*) AS n FROM instances WHERE host_id = ?"
                                   " AND status != 'deleted'",
                                   "s", host_id);
    if (live == NULL)
        return -1;
    long long n = json_integer_value(json_object_get(live, "n"));
    json_decref(live);
    if (n > 0)
        return nubo_err_set(err, NUBO_E_CONFLICT,
                            "host '%s' still has %lld instance(s); delete them (or wait until "
                            "they are deleted) first",
                            host_name, n);
    /* Deleted instances keep their history but let go of the host. */
    return store_exec(st, err, "UPDATE instances SET host_id = NULL WHERE host_id = ?", "s",
                      host_id) < 0
               ? -1
               : 0;
}

int compute_project_purge(struct store *st, const char *project_id, const char *name,
                          struct strv *files, void *image_dir, struct nubo_err *err)
{
    json_t *live = store_query_one(st, err,
                                   "SELECT COUNT(*) AS n FROM instances"
                                   " WHERE project_id = ? AND status <> 'deleted'",
                                   "s", project_id);
    if (live == NULL)
        return -1;
    long long n = json_integer_value(json_object_get(live, "n"));
    json_decref(live);
    if (n > 0)
        return nubo_err_set(err, NUBO_E_CONFLICT,
                            "project '%s' still has %lld instance%s; delete them first", name, n,
                            n == 1 ? "" : "s");
    /* A public image of the project that other projects' instances boot
     * from stays until they are gone: its rows and files cascade below. */
    json_t *used = store_query(st, err,
                               "SELECT g.name AS name FROM images g JOIN instances i"
                               " ON i.image_id = g.id WHERE g.project_id = ?"
                               " AND i.status <> 'deleted' LIMIT 1",
                               "s", project_id);
    if (used == NULL)
        return -1;
    if (json_array_size(used) > 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "image '%s' of project '%s' is used by instances of other projects;"
                     " delete them or the image first",
                     jsonx_str(json_array_get(used, 0), "name"), name);
        json_decref(used);
        return -1;
    }
    json_decref(used);
    json_t *imgs =
        store_query(st, err, "SELECT id FROM images WHERE project_id = ?", "s", project_id);
    if (imgs == NULL)
        return -1;
    size_t k;
    json_t *row;
    json_array_foreach (imgs, k, row) {
        for (int i = 0; image_dir && i < 3; i++) {
            char path[PATH_MAX];
            if (compute_image_path(image_dir, jsonx_str(row, "id"), (enum compute_image_part)i,
                                   path, sizeof(path)) == 0)
                strv_add(files, path);
        }
    }
    json_decref(imgs);
    /* The rows of deleted instances (kept for history), their events and
     * the project's tasks go with the project; its images' rows cascade. */
    if (store_exec(st, err,
                   "DELETE FROM instance_events WHERE instance_id IN"
                   " (SELECT id FROM instances WHERE project_id = ?)",
                   "s", project_id) < 0 ||
        store_exec(st, err, "DELETE FROM tasks WHERE project_id = ?", "s", project_id) < 0 ||
        store_exec(st, err, "DELETE FROM instances WHERE project_id = ?", "s", project_id) < 0)
        return -1;
    return 0;
}

int compute_usage(struct store *st, const char *project_id, struct quota_usage *out,
                  struct nubo_err *err)
{
    json_t *u = store_query_one(st, err,
                                "SELECT COUNT(*) AS n, COALESCE(SUM(vcpus), 0) AS vcpus,"
                                " COALESCE(SUM(ram_mib), 0) AS ram_mib,"
                                " COALESCE(SUM(disk_gib), 0) AS disk_gib"
                                " FROM instances WHERE project_id = ? AND status <> 'deleted'",
                                "s", project_id);
    if (u == NULL)
        return -1;
    out->instances = json_integer_value(json_object_get(u, "n"));
    out->vcpus = json_integer_value(json_object_get(u, "vcpus"));
    out->ram_mib = json_integer_value(json_object_get(u, "ram_mib"));
    out->disk_gib = json_integer_value(json_object_get(u, "disk_gib"));
    json_decref(u);
    return 0;
}

/* ------------------------------------------------------------- reads */

json_t *compute_instances_on_host(struct store *st, const char *host_id, struct nubo_err *err)
{
    return store_query(st, err,
                       "SELECT id, project_id, name, image_id, keypair, user_data, vcpus,"
                       " ram_mib, disk_gib, status, desired, power_state, boots,"
                       " metadata_http_tokens, generation FROM instances"
                       " WHERE host_id = ? AND status != 'deleted'"
                       " ORDER BY created_at, id",
                       "s", host_id);
}

json_t *compute_instances_hostless_deleting(struct store *st, struct nubo_err *err)
{
    return store_query(st, err,
                       "SELECT id, status, desired FROM instances WHERE host_id IS NULL"
                       " AND desired = 'deleted' AND status != 'deleted'",
                       "");
}

bool compute_instance_exists(struct store *st, const char *id)
{
    struct nubo_err err;
    json_t *row = store_query_one(st, &err, "SELECT id FROM instances WHERE id = ?", "s", id);
    bool found = row != NULL;
    json_decref(row);
    return found;
}

/* ------------------------------------------------------ migrations */

int compute_migration_running(struct store *st, const char *migration_id, const char *dest_uri,
                              struct nubo_err *err)
{
    char now[32];
    clock_stamp(now);
    if (store_begin(st, true, err) < 0)
        return -1;
    long long n = store_exec(st, err,
                             "UPDATE migrations SET state = 'running', dest_uri = ?,"
                             " updated_at = ? WHERE id = ? AND state = 'preparing'",
                             "sss", dest_uri, now, migration_id);
    if (n > 0)
        n = store_exec(st, err,
                       "UPDATE tasks SET status = 'running', updated_at = ? WHERE id ="
                       " (SELECT task_id FROM migrations WHERE id = ?) AND status = 'pending'",
                       "ss", now, migration_id) < 0
                ? -1
                : 1;
    return tx_end(st, n, "migration_running", err);
}

int compute_migration_progress(struct store *st, const char *migration_id, const json_t *progress,
                               struct nubo_err *err)
{
    char now[32];
    clock_stamp(now);
    char *text = json_dumps(progress, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL)
        return nubo_err_set(err, NUBO_E_INTERNAL, "cannot encode the progress");
    long long n = store_exec(st, err,
                             "UPDATE migrations SET progress = ?, updated_at = ? WHERE id = ?"
                             " AND state IN ('preparing', 'running')",
                             "sss", text, now, migration_id);
    if (n > 0)
        n = store_exec(st, err,
                       "UPDATE tasks SET progress = ?, updated_at = ? WHERE id ="
                       " (SELECT task_id FROM migrations WHERE id = ?)",
                       "sss", text, now, migration_id);
    free(text);
    return n < 0 ? -1 : 0;
}

int compute_migration_finish(struct store *st, const json_t *mig, const char *outcome,
                             const char *error, long long downtime_ms, long long total_ms,
                             struct nubo_err *err)
{
    const char *mid = jsonx_str(mig, "id"), *id = jsonx_str(mig, "instance_id");
    const char *target = jsonx_str(mig, "target_host_id");
    int completed = is(outcome, "completed");
    char now[32], detail[300];
    clock_stamp(now);
    if (store_begin(st, true, err) < 0)
        return -1;
    long long n = store_exec(st, err,
                             "UPDATE migrations SET state = ?, error = ?, downtime_ms = ?,"
                             " total_ms = ?, updated_at = ?, finished_at = ? WHERE id = ? AND"
                             " state IN ('preparing', 'running')",
                             "ssiisss", outcome, error, downtime_ms, total_ms, now, now, mid);
    /* The instance runs where the guest runs: on the target once QEMU
     * completed, else still on the source.  An instance that left
     * 'migrating' meanwhile (deleted) keeps what it has. */
    long long moved = 0;
    if (n > 0 && completed)
        moved = store_exec(st, err,
                           "UPDATE instances SET status = 'running', host_id = ?, updated_at = ?"
                           " WHERE id = ? AND status = 'migrating'",
                           "sss", target, now, id);
    else if (n > 0)
        moved = store_exec(st, err,
                           "UPDATE instances SET status = 'running', updated_at = ?"
                           " WHERE id = ? AND status = 'migrating'",
                           "ss", now, id);
    if (moved < 0)
        n = -1;
    if (n > 0 && completed && network_instance_ports_move(st, id, target, err) < 0)
        n = -1;
    if (n > 0 && moved > 0 && billing_instance_meter(st, id, err) < 0)
        n = -1;
    if (n > 0) {
        if (completed) {
            snprintf(detail, sizeof(detail), "to host %s (pause %lld ms, %lld ms in all)",
                     jsonx_str(mig, "target_host"), downtime_ms, total_ms);
            compute_event_add(st, id, "migrated", detail, NULL);
            compute_task_finish(st, id, "migrate", NULL);
        } else {
            snprintf(detail, sizeof(detail), "%s; it runs on host %s still",
                     error ? error : outcome, jsonx_str(mig, "source_host"));
            compute_event_add(st, id,
                              is(outcome, "cancelled") ? "migration cancelled" : "migration failed",
                              detail, NULL);
            compute_task_finish(st, id, "migrate", detail);
        }
    }
    int rc = tx_end(st, n, "migration_finish", err);
    if (rc > 0)
        log_info("instance %s: migration %s %s%s%s", id, mid, outcome, error ? ": " : "",
                 error ? error : "");
    return rc;
}
