/*
 * migrate.c - the reconciler's side of live migration: each pass moves
 * every active migration one step (docs/internals/mobility.md has the
 * protocol between the two agents and the invariants).
 *
 *   state      what is                                 step
 *   preparing  source agent already sends (a restart   record running (its uri)
 *              after it was told)
 *   preparing  cancel asked, or the instance left      end cancelled/failed, delete
 *              'migrating', or the target is down       the target's VM
 *   preparing  target's VM is not waiting (it died)    end failed, delete it
 *   preparing  target has no VM for it                 push the target's network
 *                                                      document, upload the image,
 *                                                      create the VM "incoming"
 *   preparing  target's VM waits (incoming)            tell the source to send to
 *                                                      its uri; record running
 *   running    source: active                          record progress (cancel asked:
 *                                                      migrate-cancel)
 *   running    source: completed                       end completed: the instance's
 *                                                      host is the target (one tx),
 *                                                      then delete the source's VM
 *   running    source: failed / cancelled / none       end failed/cancelled, delete
 *                                                      the target's VM
 *   any        the source agent cannot be asked        wait (nothing is decided
 *                                                      without the source)
 *
 * Every decision reads the agents again, so a nubod killed at any point
 * converges after its restart: QEMU keeps the outcome of the last
 * migration until the process ends, and the source's VM is deleted only
 * after the transaction that moved the instance committed.  Two copies
 * never run: the target's QEMU runs the guest only once the source's
 * stopped it for good (QEMU's own switch-over), and the agents refuse to
 * resume a VM whose outgoing migration is under way or done.
 */
#include "ctrl/ctrl.h"
#include "ctrl/ctrl_int.h"

#include <stdio.h>
#include <string.h>

#include "compute/compute.h"
#include "lib/clock.h"
#include "lib/fault.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/util.h"

#define MIGRATE_CALL_MS 10000
#define MIGRATE_CREATE_MS 120000
#define MIGRATE_DOWNTIME_MS 300 /* QEMU's own default downtime-limit */

/* ctrl_int.h */
int host_load(struct store *st, const char *id, struct host_ref *h)
{
    struct nubo_err err;
    memset(h, 0, sizeof(*h));
    h->row = store_query_one(st, &err,
                             "SELECT id, name, address, agent_token, state, fenced_at FROM hosts"
                             " WHERE id = ?",
                             "s", id);
    if (h->row == NULL)
        return -1;
    h->t.name = jsonx_str(h->row, "name");
    h->t.address = jsonx_str(h->row, "address");
    h->t.token = jsonx_str(h->row, "agent_token");
    h->id = jsonx_str(h->row, "id");
    h->up = strcmp(jsonx_str(h->row, "state"), "up") == 0 &&
            json_is_null(json_object_get(h->row, "fenced_at"));
    return 0;
}

/* Calls the agent about the instance's VM ("nubo-<id>" + sub).  Returns
 * the HTTP status (out set on 2xx), or -1 when it could not be asked. */
long vm_call(struct host_ref *h, const char *method, const char *id, const char *sub,
             const json_t *body, int timeout_ms, json_t **out)
{
    char path[160];
    snprintf(path, sizeof(path), "/v1/vms/" COMPUTE_VM_PREFIX "%s%s", id, sub);
    long status;
    json_t *o = NULL;
    struct nubo_err err;
    if (agent_call(&h->t, method, path, body, timeout_ms, &status, &o, &err) < 0) {
        log_debug("migration: %s %s on host %s: %s", method, path, h->t.name, err.msg);
        return -1;
    }
    if (out && status >= 200 && status < 300)
        *out = o;
    else
        json_decref(o);
    return status;
}

/* The source agent's migration state of the VM ("none" when it has no
 * such VM), or NULL when it cannot be asked. */
static json_t *source_state(struct host_ref *src, const char *id)
{
    json_t *o = NULL;
    long st = vm_call(src, "GET", id, "/migration", NULL, MIGRATE_CALL_MS, &o);
    if (st == 404)
        return json_pack("{s:s, s:s}", "status", "gone", "role", "none");
    return st == 200 ? o : NULL;
}

/* Deletes the target's VM of the instance (best effort: a VM left over
 * is an orphan the host's reconcile removes). */
static void target_vm_delete(struct host_ref *dst, const char *id)
{
    if (dst->row == NULL)
        return;
    long st = vm_call(dst, "DELETE", id, "", NULL, MIGRATE_CALL_MS, NULL);
    if (st != 204 && st != 404)
        log_warn("migration of %s: cannot delete the target's VM on host %s yet (%ld)", id,
                 dst->t.name, st);
}

static void finish(struct store *st, const json_t *m, const char *outcome, const char *why,
                   const json_t *q)
{
    struct nubo_err err;
    long long down = q ? json_integer_value(json_object_get(q, "downtime_ms")) : 0;
    long long total = q ? json_integer_value(json_object_get(q, "total_time_ms")) : 0;
    if (compute_migration_finish(st, m, outcome, why, down, total, &err) < 0)
        log_error("migration %s: cannot record its end (%s): %s", jsonx_str(m, "id"), outcome,
                  err.msg);
}

/* Ends a migration that cannot go on while the guest still runs on the
 * source: stops the source's stream, deletes the target's VM. */
static void abort_migration(struct store *st, const json_t *m, struct host_ref *src,
                            struct host_ref *dst, const char *outcome, const char *why)
{
    const char *id = jsonx_str(m, "instance_id");
    json_t *q = source_state(src, id);
    const char *s = q ? jsonx_str(q, "status") : NULL;
    if (q == NULL) {
        json_decref(q);
        return; /* the source cannot be asked: decide nothing yet */
    }
    if (strcmp(s, "completed") == 0) {
        /* Too late: the guest runs on the target already. */
        finish(st, m, "completed", NULL, q);
        json_decref(q);
        return;
    }
    if (strcmp(jsonx_str(q, "role"), "outgoing") == 0 && strcmp(s, "failed") != 0 &&
        strcmp(s, "cancelled") != 0 && strcmp(s, "none") != 0) {
        vm_call(src, "POST", id, "/migrate-cancel", NULL, MIGRATE_CALL_MS, NULL);
        json_decref(q);
        return; /* its end is seen at the next pass */
    }
    json_decref(q);
    finish(st, m, outcome, why, NULL);
    target_vm_delete(dst, id);
}

static void step_preparing(struct ctrl *c, const json_t *m, struct host_ref *src,
                           struct host_ref *dst)
{
    struct store *st = ctrl_store(c);
    const char *id = jsonx_str(m, "instance_id"), *mid = jsonx_str(m, "id");
    struct nubo_err err;
    json_t *q = source_state(src, id);
    if (q == NULL)
        return;
    /* Told already (nubod stopped before it recorded so).  A failed or
     * cancelled outcome is an earlier migration's (QEMU keeps the last
     * one's until the next begins): this one is sent again, and if it was
     * told and failed, its target's QEMU ended and the check below fails
     * it. */
    const char *was = jsonx_str(q, "status");
    if (strcmp(jsonx_str(q, "role"), "outgoing") == 0 && strcmp(was, "none") != 0 &&
        strcmp(was, "failed") != 0 && strcmp(was, "cancelled") != 0) {
        compute_migration_running(st, mid, jsonx_str(q, "uri"), &err);
        json_decref(q);
        return;
    }
    json_decref(q);
    if (json_is_true(json_object_get(m, "cancel_requested"))) {
        abort_migration(st, m, src, dst, "cancelled", "cancelled by an admin");
        return;
    }
    if (!dst->up) {
        abort_migration(st, m, src, dst, "failed", "the target host is down");
        return;
    }
    json_t *vm = NULL;
    long s = vm_call(dst, "GET", id, "", NULL, MIGRATE_CALL_MS, &vm);
    if (s < 0)
        return;
    if (s == 200 &&
        !(json_is_object(json_object_get(vm, "migration")) &&
          strcmp(jsonx_str(json_object_get(vm, "migration"), "role"), "incoming") == 0 &&
          strcmp(jsonx_str(vm, "state"), "running") == 0)) {
        /* Its QEMU ended (killed, or it gave up on the stream): a dead
         * destination fails the migration; the guest runs on at the
         * source. */
        char why[400];
        snprintf(why, sizeof(why), "the target's VM is %s before the stream began: %s",
                 jsonx_str(vm, "state"), jsonx_str(vm, "reason"));
        json_decref(vm);
        abort_migration(st, m, src, dst, "failed", why);
        return;
    }
    if (s != 200) {
        json_decref(vm);
        vm = NULL;
        json_t *insts = compute_instances_on_host(st, jsonx_str(m, "source_host_id"), &err);
        json_t *inst = NULL;
        size_t i;
        json_t *row;
        json_array_foreach (insts, i, row) {
            if (strcmp(jsonx_str(row, "id"), id) == 0)
                inst = row;
        }
        reconcile_network_push(c, &dst->t, dst->id);
        json_t *body = inst ? reconcile_vm_body(c, &dst->t, dst->id, inst, &err) : NULL;
        if (body == NULL) {
            json_decref(insts);
            if (err.code != NUBO_E_UNAVAILABLE)
                abort_migration(st, m, src, dst, "failed", err.msg);
            return;
        }
        json_object_set_new(body, "incoming", json_true());
        long status;
        if (agent_call(&dst->t, "POST", "/v1/vms", body, MIGRATE_CREATE_MS, &status, &vm, &err) <
            0) {
            json_decref(body);
            json_decref(insts);
            return;
        }
        json_decref(body);
        json_decref(insts);
        if (status != 201) {
            agent_answer_error(&dst->t, status, vm, &err);
            json_decref(vm);
            char why[600];
            snprintf(why, sizeof(why), "the target host refused the VM: %s", err.msg);
            if (status != 409)
                abort_migration(st, m, src, dst, "failed", why);
            return;
        }
        compute_event_add(st, id, "migration target ready", dst->t.name, NULL);
    }
    fault_point("migrate.target_ready");
    const char *uri = jsonx_str(json_object_get(vm, "migration"), "uri");
    json_t *body = json_pack("{s:s, s:i}", "uri", uri, "downtime_ms", MIGRATE_DOWNTIME_MS);
    json_t *out = NULL;
    long status;
    char path[128];
    snprintf(path, sizeof(path), "/v1/vms/" COMPUTE_VM_PREFIX "%s/migrate", id);
    if (agent_call(&src->t, "POST", path, body, MIGRATE_CALL_MS, &status, &out, &err) == 0) {
        if (status == 202) {
            fault_point("migrate.sent");
            compute_migration_running(st, mid, uri, &err);
            log_info("migration %s: instance %s goes from %s to %s (%s)", mid, id, src->t.name,
                     dst->t.name, uri);
        } else {
            agent_answer_error(&src->t, status, out, &err);
            char why[600];
            snprintf(why, sizeof(why), "the source host refused to send: %s", err.msg);
            finish(st, m, "failed", why, NULL);
            target_vm_delete(dst, id);
        }
    }
    json_decref(out);
    json_decref(body);
    json_decref(vm);
}

static void step_running(struct ctrl *c, const json_t *m, struct host_ref *src,
                         struct host_ref *dst)
{
    struct store *st = ctrl_store(c);
    const char *id = jsonx_str(m, "instance_id"), *mid = jsonx_str(m, "id");
    struct nubo_err err;
    json_t *q = source_state(src, id);
    if (q == NULL)
        return;
    const char *s = jsonx_str(q, "status");
    if (strcmp(s, "completed") == 0) {
        fault_point("migrate.completed_seen");
        /* The final figures (a short migration is never seen active). */
        compute_migration_progress(st, mid, q, &err);
        finish(st, m, "completed", NULL, q);
        /* The source's copy is paused for good; gone now (else it is an
         * orphan the host's reconcile removes). */
        if (vm_call(src, "DELETE", id, "", NULL, MIGRATE_CALL_MS, NULL) == 204)
            compute_event_add(st, id, "migration source VM removed", src->t.name, NULL);
    } else if (strcmp(s, "failed") == 0 || strcmp(s, "cancelled") == 0 || strcmp(s, "none") == 0 ||
               strcmp(s, "gone") == 0) {
        const char *why = jsonx_str(q, "error");
        char text[400];
        snprintf(text, sizeof(text), "QEMU's migration %s%s%s", s, *why ? ": " : "", why);
        int cancelled =
            strcmp(s, "cancelled") == 0 && json_is_true(json_object_get(m, "cancel_requested"));
        finish(st, m, cancelled ? "cancelled" : "failed",
               cancelled ? "cancelled by an admin" : text, NULL);
        target_vm_delete(dst, id);
    } else {
        json_object_set_new(q, "updated_at_ms", json_integer(clock_now_ms()));
        compute_migration_progress(st, mid, q, &err);
        if (json_is_true(json_object_get(m, "cancel_requested")) ||
            strcmp(jsonx_str(m, "instance_status"), "migrating") != 0 || !dst->up)
            vm_call(src, "POST", id, "/migrate-cancel", NULL, MIGRATE_CALL_MS, NULL);
    }
    json_decref(q);
}

int migrate_converge(struct ctrl *c)
{
    struct store *st = ctrl_store(c);
    struct nubo_err err;
    json_t *ms = compute_migrations_active(st, &err);
    if (ms == NULL) {
        log_error("reconcile: cannot load the migrations: %s", err.msg);
        return 0;
    }
    size_t i;
    json_t *m;
    json_array_foreach (ms, i, m) {
        struct host_ref src, dst;
        int have_src = host_load(st, jsonx_str(m, "source_host_id"), &src);
        host_load(st, jsonx_str(m, "target_host_id"), &dst);
        if (have_src < 0 || !src.up) {
            /* Nothing is decided without the source: it may have sent the
             * guest already.  Its host coming back, or being fenced, ends
             * this wait. */
            log_debug("migration %s: its source host is not up; waiting", jsonx_str(m, "id"));
        } else if (strcmp(jsonx_str(m, "state"), "preparing") == 0) {
            if (strcmp(jsonx_str(m, "instance_status"), "migrating") != 0)
                abort_migration(st, m, &src, &dst, "failed",
                                "the instance left 'migrating' (deleted?)");
            else
                step_preparing(c, m, &src, &dst);
        } else {
            step_running(c, m, &src, &dst);
        }
        json_decref(src.row);
        json_decref(dst.row);
    }
    int n = (int)json_array_size(ms);
    json_decref(ms);
    return n;
}
