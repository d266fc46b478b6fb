/*
 * compute.h - compute as a service: flavors, images, keypairs, server
 * groups, instances, their events and tasks.
 *
 * Services take the caller's struct ctx and select tenant resources by
 * ctx->project_id inside their queries; another project's resource is
 * NUBO_E_NOTFOUND, exactly like a missing one.
 *
 * Instance lifecycle (the instances table, see src/store/schema.c):
 *   status   building -> running | error; stopping -> stopped; rebooting ->
 *            running; deleting -> deleted; unknown while its host is down
 *   desired  what the reconciler makes the host do: running | stopped |
 *            deleted
 * The API sets desired (and a transitional status) and creates a task; the
 * reconciler (src/ctrl/reconcile.c) drives the host agent, follows the
 * heartbeats, moves status, appends events and finishes tasks with the
 * functions below.
 *
 * On a host, the VM of instance <id> is named "nubo-<id>".
 */
#ifndef NUBO_COMPUTE_H
#define NUBO_COMPUTE_H

#include <jansson.h>

#include "identity/identity.h"
#include "lib/err.h"
#include "store/store.h"

#define COMPUTE_VM_PREFIX "nubo-"

/* Appends an event to an instance's history (never fails the caller). */
void compute_event_add(struct store *st, const char *instance_id, const char *event,
                       const char *detail, const char *request_id);

/* Creates a task (status pending) for an operation on an instance; writes
 * its id into task_id.  Runs in the caller's transaction if any. */
int compute_task_create(struct store *st, const char *project_id, const char *instance_id,
                        const char *kind, const char *request_id, char task_id[37],
                        struct nubo_err *err);

/* Finishes every open task of the instance whose kind is in kinds
 * (comma-separated, e.g. "create,start"): status succeeded, or failed with
 * error when error != NULL. */
void compute_task_finish(struct store *st, const char *instance_id, const char *kinds,
                         const char *error);

/* Marks open tasks of an instance as running. */
void compute_task_running(struct store *st, const char *instance_id);

#endif
