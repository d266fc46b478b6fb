/*
 * plan.c - the diff between a template and what a stack has: per resource
 * create, update (which properties), replace (why), delete or no change.
 *
 * Three states meet here: the template (resolved against the parameters
 * and the recorded ids and attributes of the resources it references),
 * the recorded state (stack_resources: the properties last applied) and
 * the live resources (each type's read()).  A property differs when the
 * template's value is not the recorded one, or when the live value is not
 * the recorded one (drift: the apply puts it back).  A value that depends
 * on a resource still to be created or replaced is not known yet, so it
 * counts as a change.  Nothing is changed here.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "stack/engine.h"

bool stack_value_eq(const json_t *a, const json_t *b)
{
    if (a == NULL)
        a = json_null();
    if (b == NULL)
        b = json_null();
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal((json_t *)a, (json_t *)b);
}

const char *stack_act_name(enum stack_act_kind k)
{
    static const char *const names[] = {"no-change", "create", "update", "replace", "delete"};
    return names[k];
}

json_t *stack_recs_load(struct store *st, const char *stack_id, struct nubo_err *err)
{
    json_t *rows = store_query(st, err,
                               "SELECT name, type, physical_id, properties, attributes, depends,"
                               " status, status_reason FROM stack_resources WHERE stack_id = ?"
                               " ORDER BY name",
                               "s", stack_id);
    if (rows == NULL)
        return NULL;
    json_t *out = json_object();
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        static const char *const js[] = {"properties", "attributes", "depends"};
        for (size_t k = 0; k < ARRAY_LEN(js); k++) {
            json_t *v = json_loads(json_string_value(json_object_get(r, js[k])), 0, NULL);
            json_object_set_new(r, js[k], v ? v : (k == 2 ? json_array() : json_object()));
        }
        json_object_set(out, json_string_value(json_object_get(r, "name")), r);
    }
    json_decref(rows);
    return out;
}

struct plan_lookup {
    struct stack_plan_set *p;
};

static void plan_lookup(void *arg, const char *res, const char *attr, json_t **out)
{
    struct stack_plan_set *p = arg;
    for (size_t i = 0; i < p->n; i++) {
        struct stack_act *a = &p->acts[i];
        if (strcmp(a->name, res) != 0)
            continue;
        if ((a->kind == STACK_ACT_CREATE && !a->resume_wait) || a->kind == STACK_ACT_REPLACE)
            return; /* known after apply */
        const char *id = json_string_value(json_object_get(a->rec, "physical_id"));
        if (id == NULL)
            return;
        if (attr == NULL) {
            *out = json_string(id);
            return;
        }
        json_t *v = json_object_get(json_object_get(a->rec, "attributes"), attr);
        *out = v ? json_deep_copy(v) : json_null();
        return;
    }
}

static void add_change(struct stack_act *a, const char *prop, const json_t *old, const json_t *new)
{
    for (size_t i = 0; i < json_array_size(a->changes); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(a->changes, i), "property")),
                   prop) == 0)
            return;
    json_array_append_new(a->changes,
                          json_pack("{s:s, s:O, s:O}", "property", prop, "old",
                                    old ? old : json_null(), "new", new ? new : json_null()));
}

/* A create sets every property the template gives: each is a change from
 * nothing (its value, or STACK_UNKNOWN while it refers to what is still to
 * be created), so that a plan shows what will be made. */
static void add_created(const struct stack_tmpl *t, struct stack_plan_set *p,
                        const struct stack_res *r, struct stack_act *a)
{
    for (const struct stack_prop *pr = r->type->props; pr->name; pr++) {
        json_t *src = json_object_get(r->props, pr->name);
        if (src == NULL)
            continue;
        bool unknown = false;
        json_t *want = stack_resolve(t, src, plan_lookup, p, &unknown);
        add_change(a, pr->name, NULL, want);
        json_decref(want);
    }
}

/* Fills a (the action for template resource r). */
static int plan_one(const struct stack_env *env, const struct ctx *ctx, const struct stack_tmpl *t,
                    struct stack_plan_set *p, const struct stack_res *r, struct stack_act *a,
                    bool live_check, struct nubo_err *err)
{
    a->changes = json_array();
    const char *id = json_string_value(json_object_get(a->rec, "physical_id"));
    if (a->rec == NULL || id == NULL) {
        a->kind = STACK_ACT_CREATE;
        snprintf(a->reason, sizeof(a->reason), "%s",
                 a->rec ? "not created yet" : "new in the template");
        add_created(t, p, r, a);
        return 0;
    }
    const char *rtype = json_string_value(json_object_get(a->rec, "type"));
    if (strcmp(rtype, r->type->name) != 0) {
        a->kind = STACK_ACT_REPLACE;
        snprintf(a->reason, sizeof(a->reason), "the type changed from %s to %s", rtype,
                 r->type->name);
        return 0;
    }
    json_t *live = NULL;
    if (live_check) {
        struct stack_rctx rc = {env, ctx};
        struct nubo_err lerr;
        live = r->type->read(&rc, id, &lerr);
        if (live == NULL && lerr.code != NUBO_E_NOTFOUND) {
            *err = lerr;
            return -1;
        }
        if (live == NULL) {
            a->kind = STACK_ACT_CREATE;
            a->drift_gone = true;
            snprintf(a->reason, sizeof(a->reason), "deleted outside the stack");
            add_created(t, p, r, a);
            return 0;
        }
    }
    json_t *recp = json_object_get(a->rec, "properties");
    json_t *livep = json_object_get(live, "properties");
    const char *why = NULL;
    for (const struct stack_prop *pr = r->type->props; pr->name; pr++) {
        bool unknown = false;
        json_t *src = json_object_get(r->props, pr->name);
        json_t *want = src ? stack_resolve(t, src, plan_lookup, p, &unknown) : NULL;
        json_t *had = json_object_get(recp, pr->name);
        json_t *now = json_object_get(livep, pr->name);
        bool changed = unknown || !stack_value_eq(want, had);
        if (!changed && had && !json_is_null(had) && now && !stack_value_eq(now, had)) {
            changed = true; /* drift */
            had = now;
        }
        if (changed) {
            add_change(a, pr->name, had, want);
            if ((pr->replace || r->type->update == NULL) && why == NULL)
                why = pr->name;
        }
        json_decref(want);
    }
    json_decref(live);
    if (json_array_size(a->changes) == 0) {
        const char *status = json_string_value(json_object_get(a->rec, "status"));
        if (strcmp(status, "complete") == 0) {
            a->kind = STACK_ACT_NOOP;
        } else if (strcmp(status, "creating") == 0) {
            a->kind = STACK_ACT_CREATE;
            a->resume_wait = true;
            snprintf(a->reason, sizeof(a->reason), "created, not yet ready (resumed)");
        } else if (strcmp(status, "update_failed") == 0 && r->type->update) {
            a->kind = STACK_ACT_UPDATE;
            snprintf(a->reason, sizeof(a->reason), "its last update failed");
        } else if (strcmp(status, "create_failed") == 0) {
            a->kind = STACK_ACT_REPLACE;
            snprintf(a->reason, sizeof(a->reason), "its creation failed");
        } else {
            a->kind = STACK_ACT_NOOP; /* e.g. a delete that failed: it is still there */
        }
        return 0;
    }
    if (why) {
        a->kind = STACK_ACT_REPLACE;
        snprintf(a->reason, sizeof(a->reason), "property '%s' cannot change in place", why);
    } else {
        a->kind = STACK_ACT_UPDATE;
    }
    return 0;
}

int stack_plan_build(const struct stack_env *env, const struct ctx *ctx, const struct stack_tmpl *t,
                     json_t *recs, bool live_check, struct stack_plan_set *p, struct nubo_err *err)
{
    memset(p, 0, sizeof(*p));
    p->acts = xcalloc(t->nres + json_object_size(recs) + 1, sizeof(*p->acts));
    for (size_t i = 0; i < t->nres; i++) {
        struct stack_act *a = &p->acts[p->n++];
        a->res = &t->res[i];
        a->type = t->res[i].type;
        str_copy(a->name, sizeof(a->name), t->res[i].name);
        a->rec = json_object_get(recs, a->name);
        if (plan_one(env, ctx, t, p, &t->res[i], a, live_check, err) < 0)
            return -1;
    }
    const char *name;
    json_t *rec;
    json_object_foreach (recs, name, rec) {
        if (stack_tmpl_res(t, name))
            continue;
        struct stack_act *a = &p->acts[p->n++];
        str_copy(a->name, sizeof(a->name), name);
        a->type = stack_rtype_find(json_string_value(json_object_get(rec, "type")));
        a->rec = rec;
        a->kind = STACK_ACT_DELETE;
        a->changes = json_array();
        snprintf(a->reason, sizeof(a->reason), "no longer in the template");
    }
    return 0;
}

void stack_plan_free(struct stack_plan_set *p)
{
    for (size_t i = 0; i < p->n; i++)
        json_decref(p->acts[i].changes);
    free(p->acts);
    memset(p, 0, sizeof(*p));
}

json_t *stack_plan_json(const struct stack_plan_set *p)
{
    json_t *list = json_array();
    long long counts[5] = {0};
    for (size_t i = 0; i < p->n; i++) {
        const struct stack_act *a = &p->acts[i];
        counts[a->kind]++;
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:O, s:s}", "name", a->name, "type",
                                              a->type ? a->type->name : "?", "action",
                                              stack_act_name(a->kind), "changes", a->changes,
                                              "reason", a->reason));
    }
    return json_pack("{s:o, s:{s:I, s:I, s:I, s:I, s:I}}", "resources", list, "summary", "create",
                     counts[STACK_ACT_CREATE], "update", counts[STACK_ACT_UPDATE], "replace",
                     counts[STACK_ACT_REPLACE], "delete", counts[STACK_ACT_DELETE], "no-change",
                     counts[STACK_ACT_NOOP]);
}
