/*
 * ctrl_int.h - what the files of src/ctrl share and nothing outside uses
 * (the module's interface is ctrl.h): the reconciler's decision table as a
 * pure function (decide.c), used by reconcile.c and its unit test.
 */
#ifndef NUBO_CTRL_INT_H
#define NUBO_CTRL_INT_H

#include <jansson.h>
#include <stdbool.h>

#include "lib/agent_client.h"
#include "lib/err.h"

struct ctrl;
struct store;

/* What one reconcile pass does about one instance: at most one action. */
enum reconcile_action {
    RECONCILE_NOTHING,         /* converged, waiting (starting, stopping, back-off), or error */
    RECONCILE_CREATE,          /* no VM, desired running: create it started */
    RECONCILE_CREATE_STOPPED,  /* no VM, desired stopped: create it without starting */
    RECONCILE_START,           /* VM stopped or crashed, desired running */
    RECONCILE_RESUME,          /* VM paused, desired running */
    RECONCILE_REBOOT,          /* VM running, status rebooting: reboot once, await a new boot */
    RECONCILE_STOP,            /* VM running, starting or paused, desired stopped */
    RECONCILE_REACHED_RUNNING, /* VM running: status becomes running */
    RECONCILE_REACHED_STOPPED, /* VM stopped or crashed, desired stopped: status stopped */
    RECONCILE_DELETE,          /* desired deleted: delete the VM if any, then the instance */
    RECONCILE_FAIL,            /* a crashed member of a scaling group: error, replaced */
    RECONCILE_DESTROY_STALE, /* the VM is an older generation (evacuated): destroy, never resume */
};

/* What the decision looks at.  Strings are the stored and reported words;
 * vm_state NULL means the host has no VM for the instance. */
struct reconcile_input {
    const char *desired;  /* running | stopped | deleted */
    const char *status;   /* the instance's status as the pass read it */
    const char *vm_state; /* the agent's VM state, or NULL */
    bool in_group;        /* a member of a scaling group (asked only for crashed VMs) */
    bool backing_off;     /* an earlier refusal's back-off has not run out */
    bool stale;           /* the VM's generation is older than the instance's */
};

/* The decision table at the top of reconcile.c, as a function: what to do
 * about one instance.  Pure: reads nothing but in. */
enum reconcile_action reconcile_decide(const struct reconcile_input *in);

/* The action's name, for logs and tests ("create", "reached-running", ...). */
const char *reconcile_action_name(enum reconcile_action a);

/* ---- live migration (migrate.c; docs/internals/mobility.md) ---------- */

/* One step of every active migration: prepares the target, tells the
 * source to send, records progress, ends it (completed, failed,
 * cancelled).  Idempotent: each step asks both agents what is.  Returns
 * how many migrations were active (the loop polls them every
 * MIGRATE_POLL_MS between full passes while there are any). */
int migrate_converge(struct ctrl *c);

/* One step of every host drain (drain.c): starts the live migrations of
 * a draining host's instances, --drain-parallel at once, notes those that
 * cannot move and ends the drain when nothing is left to move. */
void drain_converge(struct ctrl *c);

/* Notes the count migrate_converge() returned during a full pass. */
void ctrl_note_migrations(struct ctrl *c, int active);

/* A host row, as a target for agent calls (row NULL when there is none). */
struct host_ref {
    struct agent_target t;
    const char *id;
    bool up; /* up and not fenced */
    json_t *row;
};

/* Loads the host id into h (0), or -1 when there is no such host; free
 * h->row with json_decref either way. */
int host_load(struct store *st, const char *id, struct host_ref *h);

/* Calls the agent about the instance's VM ("nubo-<id>" + sub).  Returns
 * the HTTP status (out set on 2xx), or -1 when it could not be asked. */
long vm_call(struct host_ref *h, const char *method, const char *id, const char *sub,
             const json_t *body, int timeout_ms, json_t **out);

/* ---- cold migration and resize (resize.c; docs/internals/mobility.md) */

/* One step of every cold migration and resize not yet ended. */
void cold_converge(struct ctrl *c);

/* The create request of inst's VM for the agent t of host host_id, after
 * making sure it has the image (reconcile.c).  New reference, or NULL
 * with err. */
json_t *reconcile_vm_body(struct ctrl *c, const struct agent_target *t, const char *host_id,
                          json_t *inst, struct nubo_err *err);

/* Pushes host_id's network document to its agent t when it differs. */
void reconcile_network_push(struct ctrl *c, const struct agent_target *t, const char *host_id);

#endif
