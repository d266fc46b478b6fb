/*
 * resize.c - the reconciler's side of cold migration and resize: each
 * pass moves every one not yet ended one step, after asking the agents
 * what is (docs/internals/mobility.md, "Cold migration and resize").
 *
 *   state       where           step
 *   preparing   same host       the agent resizes the stopped VM, keeping
 *                               its old definition and root disk
 *                               (POST /v1/vms/{ref}/resize) -> prepared
 *   preparing   another host    the target has the VM (its create returns
 *                               once the disk is copied): stop the source's
 *                               export -> prepared.  Else the source exports
 *                               the root disk (POST .../export, read-only
 *                               NBD on its underlay address), the target
 *                               creates the VM stopped from it ("disk_from")
 *   prepared    cold            completed, stopped (or started) on the
 *                               target; the source's VM is deleted after
 *                               the commit
 *   prepared    resize          verifying (verify_resize) on the target
 *   confirming                  the old copy goes (the source's VM, or the
 *                               agent's kept disk) -> completed
 *   reverting                   the new copy goes (the target's VM, or the
 *                               agent restores the kept disk and
 *                               definition) -> reverted, on the source
 *   preparing   the instance left 'resizing' (deleted), the target refused
 *               or is down      the target's copy goes -> failed, stopped
 *                               on the source with its old flavor
 *
 * Nothing is decided while the host holding the disk that counts cannot
 * be asked.  Every step reads the agents again, so a nubod killed at any
 * point converges after its restart: the target's create is whole or
 * absent, the agent's resize keeps its old copy once, and the store's
 * transitions are compare-and-sets.  A copy left behind by a crash
 * between a commit and its deletion is an orphan the host's reconcile
 * removes (compute_vm_wanted_on()).
 */
#include "ctrl/ctrl.h"
#include "ctrl/ctrl_int.h"

#include <stdio.h>
#include <string.h>

#include "compute/compute.h"
#include "lib/fault.h"
#include "lib/jsonx.h"
#include "lib/log.h"

#define COLD_CALL_MS 10000
#define COLD_COPY_MS 600000 /* the target's create copies the whole disk */

static bool is(const char *a, const char *b)
{
    return a && strcmp(a, b) == 0;
}

static void fail(struct store *st, const json_t *m, const char *why)
{
    struct nubo_err err;
    if (compute_cold_finish(st, m, "failed", why, &err) < 0)
        log_error("cold migration %s: cannot record its failure: %s", jsonx_str(m, "id"), err.msg);
}

static void finish(struct store *st, const json_t *m, const char *outcome)
{
    struct nubo_err err;
    if (compute_cold_finish(st, m, outcome, NULL, &err) < 0)
        log_error("cold migration %s: cannot record its end (%s): %s", jsonx_str(m, "id"), outcome,
                  err.msg);
}

/* The instance's row as the host reconcile sees it (for the VM body). */
static json_t *instance_of(struct store *st, const json_t *m, json_t **all)
{
    struct nubo_err err;
    *all = compute_instances_on_host(st, jsonx_str(m, "source_host_id"), &err);
    size_t i;
    json_t *row;
    json_array_foreach (*all, i, row) {
        if (is(jsonx_str(row, "id"), jsonx_str(m, "instance_id")))
            return row;
    }
    return NULL;
}

/* The agent's answer as a sentence for the event. */
static void refusal(struct host_ref *h, long status, json_t *out, const char *what, char *why,
                    size_t n)
{
    struct nubo_err err;
    agent_answer_error(&h->t, status, out, &err);
    snprintf(why, n, "host %s refused to %s: %s", h->t.name, what, err.msg);
}

/* Same host: the agent resizes the stopped VM, keeping the old copy. */
static void prepare_here(struct ctrl *c, const json_t *m, struct host_ref *src)
{
    struct store *st = ctrl_store(c);
    const char *id = jsonx_str(m, "instance_id");
    struct nubo_err err;
    json_t *all = NULL, *inst = instance_of(st, m, &all);
    json_t *body = inst ? reconcile_vm_body(c, &src->t, src->id, inst, &err) : NULL;
    json_decref(all);
    if (body == NULL) {
        if (inst && err.code != NUBO_E_UNAVAILABLE)
            fail(st, m, err.msg);
        return;
    }
    json_t *out = NULL;
    long s = vm_call(src, "POST", id, "/resize", body, COLD_CALL_MS, &out);
    json_decref(body);
    if (s == 200 || s == 404) {
        /* 404: it has no VM yet; the reconcile makes it at the new size. */
        fault_point("resize.resized");
        if (compute_cold_prepared(st, m, &err) < 0)
            log_error("resize %s: %s", jsonx_str(m, "id"), err.msg);
    } else if (s > 0 && s != 409) {
        char why[600];
        refusal(src, s, out, "resize the VM", why, sizeof(why));
        fail(st, m, why);
    }
    json_decref(out);
}

/* Deletes the VM of the instance on h: 1 when it is gone, 0 when h could
 * not be asked or refused. */
static int vm_gone(struct host_ref *h, const char *id)
{
    if (h->row == NULL)
        return 1;
    long s = vm_call(h, "DELETE", id, "", NULL, COLD_CALL_MS, NULL);
    if (s == 204 || s == 404)
        return 1;
    log_warn("instance %s: cannot delete its VM on host %s yet (%ld)", id, h->t.name, s);
    return 0;
}

/* Another host: the target's VM made from the source's exported disk. */
static void prepare_there(struct ctrl *c, const json_t *m, struct host_ref *src,
                          struct host_ref *dst)
{
    struct store *st = ctrl_store(c);
    const char *id = jsonx_str(m, "instance_id"), *mid = jsonx_str(m, "id");
    struct nubo_err err;
    if (!dst->up) {
        vm_call(src, "DELETE", id, "/export", NULL, COLD_CALL_MS, NULL);
        fail(st, m, "the target host is down");
        return;
    }
    long s = vm_call(dst, "GET", id, "", NULL, COLD_CALL_MS, NULL);
    if (s < 0)
        return;
    if (s != 200) {
        /* The source exports the root disk (again: an export is one per VM). */
        json_t *ex = NULL;
        long es = vm_call(src, "POST", id, "/export", NULL, COLD_CALL_MS, &ex);
        if (es < 0) {
            return;
        } else if (es != 200 && es != 404) {
            char why[600];
            refusal(src, es, ex, "export the disk", why, sizeof(why));
            json_decref(ex);
            fail(st, m, why);
            return;
        }
        fault_point("cold.exported");
        json_t *all = NULL, *inst = instance_of(st, m, &all);
        reconcile_network_push(c, &dst->t, dst->id);
        json_t *body = inst ? reconcile_vm_body(c, &dst->t, dst->id, inst, &err) : NULL;
        json_decref(all);
        if (body == NULL) {
            json_decref(ex);
            if (inst && err.code != NUBO_E_UNAVAILABLE)
                fail(st, m, err.msg);
            return;
        }
        json_object_set_new(body, "start", json_false());
        /* 404: the source never had the VM (nothing written yet): the
         * target makes it from the image. */
        if (es == 200)
            json_object_set(body, "disk_from", json_object_get(ex, "uri"));
        json_decref(ex);
        long status;
        json_t *out = NULL;
        if (agent_call(&dst->t, "POST", "/v1/vms", body, COLD_COPY_MS, &status, &out, &err) < 0) {
            json_decref(body);
            return;
        }
        json_decref(body);
        if (status != 201) {
            char why[600];
            refusal(dst, status, out, "make the VM from the copied disk", why, sizeof(why));
            json_decref(out);
            if (status != 409) {
                vm_call(src, "DELETE", id, "/export", NULL, COLD_CALL_MS, NULL);
                fail(st, m, why);
            }
            return;
        }
        json_decref(out);
        compute_event_add(st, id, "disk copied", dst->t.name, NULL);
        fault_point("cold.copied");
    }
    vm_call(src, "DELETE", id, "/export", NULL, COLD_CALL_MS, NULL);
    if (compute_cold_prepared(st, m, &err) < 0) {
        log_error("cold migration %s: %s", mid, err.msg);
        return;
    }
    /* A cold migration is done: the source's copy goes (else it is an
     * orphan the host's reconcile removes). */
    if (is(jsonx_str(m, "kind"), "cold") && vm_gone(src, id))
        compute_event_add(st, id, "source VM removed", src->t.name, NULL);
}

static void step(struct ctrl *c, const json_t *m, struct host_ref *src, struct host_ref *dst)
{
    struct store *st = ctrl_store(c);
    const char *id = jsonx_str(m, "instance_id"), *state = jsonx_str(m, "state");
    const char *ist = jsonx_str(m, "instance_status");
    bool here = is(jsonx_str(m, "source_host_id"), jsonx_str(m, "target_host_id"));
    if (is(state, "verifying") && !is(ist, "verify_resize")) {
        /* Deleted meanwhile: its host's reconcile deletes the new copy. */
        if (!here && src->up && !vm_gone(src, id))
            return;
        fail(st, m, "the instance left verify_resize (deleted?)");
        return;
    }
    if (is(state, "verifying"))
        return; /* the owner confirms or reverts */
    if (is(state, "preparing") && !is(ist, "resizing")) {
        if (!here && dst->up && !vm_gone(dst, id))
            return;
        if (src->up)
            vm_call(src, "DELETE", id, "/export", NULL, COLD_CALL_MS, NULL);
        fail(st, m, "the instance left 'resizing' (deleted?)");
        return;
    }
    if (is(state, "preparing")) {
        if (!src->up) {
            log_debug("cold migration %s: its source host is not up; waiting", jsonx_str(m, "id"));
            return;
        }
        if (here)
            prepare_here(c, m, src);
        else
            prepare_there(c, m, src, dst);
        return;
    }
    if (is(state, "confirming")) {
        /* The old copy goes: a host that is down removes it as an orphan
         * when it comes back. */
        long s = 204;
        if (here && src->up)
            s = vm_call(src, "POST", id, "/resize-confirm", NULL, COLD_CALL_MS, NULL);
        else if (!here && src->up)
            s = vm_gone(src, id) ? 204 : -1;
        if (s == 200 || s == 204 || s == 404) {
            fault_point("resize.old_dropped");
            finish(st, m, "completed");
        }
        return;
    }
    if (is(state, "reverting")) {
        /* Back to the old copy, which the source must hold: wait for it. */
        if (!src->up)
            return;
        long s;
        if (here)
            s = vm_call(src, "POST", id, "/resize-revert", NULL, COLD_CALL_MS, NULL);
        else
            s = !dst->up || vm_gone(dst, id) ? 204 : -1;
        if (s == 200 || s == 204 || s == 404) {
            fault_point("resize.new_dropped");
            finish(st, m, "reverted");
        }
    }
}

void cold_converge(struct ctrl *c)
{
    struct store *st = ctrl_store(c);
    struct nubo_err err;
    json_t *ms = compute_cold_active(st, &err);
    if (ms == NULL) {
        log_error("reconcile: cannot load the cold migrations: %s", err.msg);
        return;
    }
    size_t i;
    json_t *m;
    json_array_foreach (ms, i, m) {
        struct host_ref src, dst;
        if (host_load(st, jsonx_str(m, "source_host_id"), &src) < 0)
            src.up = false;
        host_load(st, jsonx_str(m, "target_host_id"), &dst);
        step(c, m, &src, &dst);
        json_decref(src.row);
        json_decref(dst.row);
    }
    json_decref(ms);
}
