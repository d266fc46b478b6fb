/*
 * engine.h - the planner and executor of src/stack (plan.c, apply.c,
 * stack.c share it; nothing outside src/stack includes it).
 */
#ifndef NUBO_STACK_ENGINE_H
#define NUBO_STACK_ENGINE_H

#include "stack/stack_int.h"

enum stack_act_kind {
    STACK_ACT_NOOP = 0,
    STACK_ACT_CREATE,
    STACK_ACT_UPDATE,
    STACK_ACT_REPLACE,
    STACK_ACT_DELETE
};

struct stack_act {
    char name[80];
    const struct stack_rtype *type; /* NULL: a recorded type no longer known */
    const struct stack_res *res;    /* NULL for a delete */
    enum stack_act_kind kind;
    bool resume_wait; /* create: already created, only wait for it */
    bool drift_gone;  /* create: the recorded one was deleted outside */
    json_t *changes;  /* [{property, old, new}] */
    char reason[300];
    json_t *rec; /* the recorded row (borrowed), or NULL */
};

struct stack_plan_set {
    struct stack_act *acts; /* template resources in dependency order, then deletes */
    size_t n;
};

/* The recorded resources of a stack: {name: row} with properties,
 * attributes and depends parsed (new reference), or NULL with err. */
json_t *stack_recs_load(struct store *st, const char *stack_id, struct nubo_err *err);

/* Builds the plan of t against recs (borrowed; must outlive p); reads the
 * live resources when live_check. */
int stack_plan_build(const struct stack_env *env, const struct ctx *ctx, const struct stack_tmpl *t,
                     json_t *recs, bool live_check, struct stack_plan_set *p, struct nubo_err *err);
void stack_plan_free(struct stack_plan_set *p);
json_t *stack_plan_json(const struct stack_plan_set *p);
const char *stack_act_name(enum stack_act_kind k);
bool stack_value_eq(const json_t *a, const json_t *b);

/* Appends an event to a stack's history (never fails the caller). */
void stack_event(struct store *st, const char *stack_id, const char *resource, const char *action,
                 const char *status, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Executes p for stack_id: deletions in reverse dependency order, then
 * creations and updates in dependency order, each phase on up to
 * env->workers threads.  Returns 0, -1 with err (a resource failed; the
 * others already started finished first) or -2 when *stopping became true
 * (the task resumes later). */
int stack_apply_run(const struct stack_env *env, const struct ctx *ctx, const char *stack_id,
                    const struct stack_tmpl *t, struct stack_plan_set *p, volatile bool *stopping,
                    struct nubo_err *err);

#endif
