/*
 * stack.h - infrastructure as code: stacks of resources described by a
 * template (docs/internals/stacks.md), planned, applied, checked for drift
 * and destroyed as a unit.
 *
 * A stack belongs to a project.  Every template given to it is kept as a
 * revision.  An apply is a persisted task: the stack's status says what is
 * being done (applying a revision, rolling back to the last good one,
 * destroying), and the engine's thread runs it, resource operations in
 * parallel on a small pool of workers, recording each resource's state and
 * an event per step.  A controller that restarts re-plans every unfinished
 * task against what was recorded and carries on.
 *
 * Services take the caller's ctx; stacks of another project are
 * NUBO_E_NOTFOUND.  Returned JSON is a new reference owned by the caller.
 */
#ifndef NUBO_STACK_H
#define NUBO_STACK_H

#include <jansson.h>
#include <stdbool.h>

#include "identity/identity.h"
#include "lib/err.h"
#include "monitor/monitor.h"
#include "sched/sched.h"
#include "store/store.h"

/* What resource operations run with. */
struct stack_env {
    struct store *st;
    struct monitor *monitor;
    struct sched_cfg sched;
    void (*kick)(void *arg); /* wakes the reconciler after instance changes */
    void *kick_arg;
    int workers; /* parallel resource operations of an apply (default 4) */
    int poll_ms; /* how often "wait: true" looks (default 250) */
};

struct stack_engine;

/* Starts the engine's thread, which first resumes the applies, rollbacks
 * and destroys an earlier run left unfinished.  env is copied. */
struct stack_engine *stack_engine_start(const struct stack_env *env, struct nubo_err *err);

/* Stops the thread: an apply in progress stops between resource
 * operations and resumes at the next start.  NULL is fine. */
void stack_engine_stop(struct stack_engine *e);

/* Plans template + params (an object, NULL = none) against the stack
 * stack_ref (id or name; NULL = a new stack): {resources: [{name, type,
 * action: create|update|replace|delete|no-change, changes: [{property,
 * old, new}], reason}], summary: {create, update, replace, delete,
 * no-change}}.  Changes nothing. */
json_t *stack_plan(struct stack_engine *e, const struct ctx *ctx, const char *stack_ref,
                   const char *tmpl, const json_t *params, struct nubo_err *err);

/* Creates a stack and starts applying revision 1: {stack, plan}.
 * on_failure: "rollback" (default) or "stop".  NUBO_E_CONFLICT when the
 * name is taken in the project. */
json_t *stack_create(struct stack_engine *e, const struct ctx *ctx, const char *name,
                     const char *tmpl, const json_t *params, const char *on_failure,
                     struct nubo_err *err);

/* Applies a new revision (tmpl NULL: the current template and parameters
 * again, e.g. to repair drift; params NULL: the current ones):
 * {stack, plan}.  NUBO_E_CONFLICT while a task of the stack runs. */
json_t *stack_update(struct stack_engine *e, const struct ctx *ctx, const char *ref,
                     const char *tmpl, const json_t *params, const char *on_failure,
                     struct nubo_err *err);

/* Starts destroying the stack: its resources in reverse dependency order,
 * then the stack itself.  Returns the stack (status destroying). */
json_t *stack_destroy(struct stack_engine *e, const struct ctx *ctx, const char *ref,
                      struct nubo_err *err);

json_t *stack_list(struct stack_engine *e, const struct ctx *ctx, int limit, const char *marker,
                   struct nubo_err *err);
json_t *stack_get(struct stack_engine *e, const struct ctx *ctx, const char *ref,
                  struct nubo_err *err);
/* Events oldest first, after the event id marker: [{id, at, resource,
 * action, status, detail}]. */
json_t *stack_events(struct stack_engine *e, const struct ctx *ctx, const char *ref, int limit,
                     long long after, struct nubo_err *err);
/* [{name, type, physical_id, status, status_reason, properties,
 *   attributes, depends_on}]. */
json_t *stack_resources(struct stack_engine *e, const struct ctx *ctx, const char *ref,
                        struct nubo_err *err);
/* [{revision, template, parameters, created_at}], newest first. */
json_t *stack_revisions(struct stack_engine *e, const struct ctx *ctx, const char *ref,
                        struct nubo_err *err);
/* {outputs: {name: {value, description}}} from live attributes. */
json_t *stack_outputs(struct stack_engine *e, const struct ctx *ctx, const char *ref,
                      struct nubo_err *err);
/* {drifted: bool, resources: [{name, type, physical_id, drift: none |
 *  changed | deleted, changes: [{property, recorded, live}]}]}. */
json_t *stack_drift(struct stack_engine *e, const struct ctx *ctx, const char *ref,
                    struct nubo_err *err);

/* Fills used[QUOTA_STACKS] with project_id's stacks (the quota routes'
 * usage).  stack_create() checks the quota in its transaction.  0, or -1
 * with err. */
int stack_quota_usage(struct store *st, const char *project_id, long long used[QUOTA_DIMS],
                      struct nubo_err *err);

/* Project project_id (named name) is being deleted (an
 * identity_project_delete_fn, in the caller's transaction): NUBO_E_CONFLICT
 * while one of its stacks is being applied, rolled back or destroyed, or
 * still holds a created resource, naming it; otherwise its stacks (with
 * their revisions, resources and events) go with the project (ON DELETE
 * CASCADE, migration 8).  0 or -1 with err. */
struct strv;
int stack_project_purge(struct store *st, const char *project_id, const char *name,
                        struct strv *files, void *arg, struct nubo_err *err);

#endif
