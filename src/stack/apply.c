/*
 * apply.c - executes a plan: phase 1 deletes (resources gone from the
 * template and the old half of replacements) in reverse dependency order,
 * phase 2 creates and updates in dependency order.  Within a phase an
 * operation starts as soon as the ones it waits for are done, on up to
 * env->workers threads (each has its own store connection: store.h keeps
 * one per thread).  Every step is recorded in stack_resources before and
 * after the service call, so a restarted controller re-plans from what
 * was done.
 *
 * A delete first reads the live resource and leaves it alone when its
 * creation time is not the one recorded: something else now carries the
 * name or id, and a stack never touches what it did not create.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/util.h"
#include "stack/engine.h"

void stack_event(struct store *st, const char *stack_id, const char *resource, const char *action,
                 const char *status, const char *fmt, ...)
{
    char detail[600], now[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    clock_stamp(now);
    struct nubo_err err;
    if (store_exec(st, &err,
                   "INSERT INTO stack_events (stack_id, at, resource, action, status, detail)"
                   " VALUES (?, ?, ?, ?, ?, ?)",
                   "ssssss", stack_id, now, resource, action, status, detail) < 0)
        log_warn("stack %s: cannot record an event: %s", stack_id, err.msg);
    log_info("stack %s: %s %s %s %s", stack_id, resource, action, status, detail);
}

struct run {
    const struct stack_env *env;
    const struct ctx *ctx;
    const char *stack_id;
    const struct stack_tmpl *t;
    struct stack_plan_set *p;
    volatile bool *stopping;
    int phase;
    /* the phase's items: indexes into p->acts, their state and waits */
    size_t *items, n;
    int *state; /* 0 pending, 1 running, 2 done, 3 failed */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running;
    bool failed, interrupted;
    struct nubo_err err;
};

static int set_rec(struct store *st, const char *stack_id, const char *name, const char *status,
                   const char *reason)
{
    char now[32];
    struct nubo_err err;
    clock_now_str(now);
    return store_exec(st, &err,
                      "UPDATE stack_resources SET status = ?, status_reason = ?, updated_at = ?"
                      " WHERE stack_id = ? AND name = ?",
                      "sssss", status, reason ? reason : "", now, stack_id, name) < 0
               ? -1
               : 0;
}

/* Does item i wait for item j in this phase? */
static bool waits_for(const struct run *r, size_t i, size_t j)
{
    const struct stack_act *a = &r->p->acts[r->items[i]], *b = &r->p->acts[r->items[j]];
    if (r->phase == 2) {
        for (size_t k = 0; a->res && k < a->res->ndeps; k++)
            if (strcmp(a->res->deps[k], b->name) == 0)
                return true;
        return false;
    }
    /* phase 1: a is deleted after b when b depends on a */
    json_t *deps = json_object_get(b->rec, "depends");
    for (size_t k = 0; k < json_array_size(deps); k++)
        if (strcmp(json_string_value(json_array_get(deps, k)), a->name) == 0)
            return true;
    for (size_t k = 0; b->res && k < b->res->ndeps; k++)
        if (strcmp(b->res->deps[k], a->name) == 0)
            return true;
    return false;
}

static void lookup_exec(void *arg, const char *res, const char *attr, json_t **out)
{
    struct run *r = arg;
    struct nubo_err err;
    json_t *row = store_query_one(r->env->st, &err,
                                  "SELECT physical_id, attributes FROM stack_resources"
                                  " WHERE stack_id = ? AND name = ?",
                                  "ss", r->stack_id, res);
    const char *id = json_string_value(json_object_get(row, "physical_id"));
    if (id && attr == NULL) {
        *out = json_string(id);
    } else if (id) {
        json_t *a = json_loads(json_string_value(json_object_get(row, "attributes")), 0, NULL);
        json_t *v = json_object_get(a, attr);
        *out = v ? json_deep_copy(v) : json_null();
        json_decref(a);
    }
    json_decref(row);
}

/* Phase 1: deletes the recorded resource of a (a delete or the old half of
 * a replacement). */
static int exec_delete(struct run *r, struct stack_act *a, struct nubo_err *err)
{
    struct store *st = r->env->st;
    struct stack_rctx rc = {r->env, r->ctx};
    const char *id = json_string_value(json_object_get(a->rec, "physical_id"));
    const char *what = a->kind == STACK_ACT_DELETE ? "delete" : "replace";
    if (id && a->type && !a->drift_gone) {
        stack_event(st, r->stack_id, a->name, what, "in_progress", "deleting %s %s", a->type->name,
                    id);
        struct nubo_err lerr;
        json_t *live = a->type->read(&rc, id, &lerr);
        const char *was =
            json_string_value(json_object_get(json_object_get(a->rec, "attributes"), "created_at"));
        const char *is =
            json_string_value(json_object_get(json_object_get(live, "attributes"), "created_at"));
        if (live && was && is && strcmp(was, is) != 0) {
            stack_event(st, r->stack_id, a->name, what, "skipped",
                        "%s %s is not the one this stack created: left alone", a->type->name, id);
        } else if (live && a->type->del(&rc, id, &lerr) < 0 && lerr.code != NUBO_E_NOTFOUND) {
            json_decref(live);
            *err = lerr;
            set_rec(st, r->stack_id, a->name, "delete_failed", lerr.msg);
            stack_event(st, r->stack_id, a->name, what, "failed", "%s", lerr.msg);
            return -1;
        }
        json_decref(live);
    } else if (id && a->type == NULL) {
        stack_event(st, r->stack_id, a->name, what, "skipped",
                    "type '%s' is not known to this controller: %s left alone",
                    json_string_value(json_object_get(a->rec, "type")), id);
    }
    long long rc_;
    if (a->kind == STACK_ACT_DELETE) {
        rc_ = store_exec(st, err, "DELETE FROM stack_resources WHERE stack_id = ? AND name = ?",
                         "ss", r->stack_id, a->name);
        stack_event(st, r->stack_id, a->name, "delete", "complete", "deleted");
    } else {
        rc_ = store_exec(st, err,
                         "UPDATE stack_resources SET physical_id = NULL, properties = '{}',"
                         " attributes = '{}', status = 'replacing' WHERE stack_id = ? AND name = ?",
                         "ss", r->stack_id, a->name);
    }
    return rc_ < 0 ? -1 : 0;
}

/* Reads the live resource into the record's attributes. */
static void refresh_attrs(struct run *r, struct stack_act *a, const char *id)
{
    struct stack_rctx rc = {r->env, r->ctx};
    struct nubo_err err;
    json_t *live = a->type->read(&rc, id, &err);
    if (live == NULL)
        return;
    char *s = json_dumps(json_object_get(live, "attributes"), JSON_COMPACT);
    store_exec(r->env->st, &err,
               "UPDATE stack_resources SET attributes = ? WHERE stack_id = ? AND name = ?", "sss",
               s, r->stack_id, a->name);
    free(s);
    json_decref(live);
}

/* Waits until the resource is ready: 0, -1 with err, -2 interrupted. */
static int wait_ready(struct run *r, struct stack_act *a, const char *id, struct nubo_err *err)
{
    if (a->type->ready == NULL)
        return 0;
    struct stack_rctx rc = {r->env, r->ctx};
    int64_t deadline = clock_mono_ms() + (int64_t)a->res->wait_timeout_s * 1000;
    stack_event(r->env->st, r->stack_id, a->name, "wait", "in_progress",
                "waiting until %s is ready (at most %d s)", id, a->res->wait_timeout_s);
    for (;;) {
        if (*r->stopping)
            return -2;
        json_t *live = a->type->read(&rc, id, err);
        if (live == NULL)
            return -1;
        int ready = a->type->ready(live, err);
        json_decref(live);
        if (ready != 0)
            return ready > 0 ? 0 : -1;
        if (clock_mono_ms() > deadline)
            return nubo_err_set(err, NUBO_E_TIMEOUT, "%s '%s' was not ready after %d s",
                                a->type->name, a->name, a->res->wait_timeout_s);
        struct timespec ts = {r->env->poll_ms / 1000, (long)(r->env->poll_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Phase 2: creates, replaces (the new half) or updates. */
static int exec_apply(struct run *r, struct stack_act *a, struct nubo_err *err)
{
    struct store *st = r->env->st;
    struct stack_rctx rc = {r->env, r->ctx};
    const char *what = stack_act_name(a->kind);
    bool unknown = false;
    json_t *props = stack_resolve(r->t, a->res->props, lookup_exec, r, &unknown);
    if (unknown) {
        json_decref(props);
        nubo_err_set(err, NUBO_E_CONFLICT, "resource '%s': a resource it references has no id",
                     a->name);
        stack_event(st, r->stack_id, a->name, what, "failed", "%s", err->msg);
        return -1;
    }
    for (const struct stack_prop *p = a->type->props; p->name; p++) {
        if (stack_prop_check(p, a->name, json_object_get(props, p->name), err) < 0) {
            json_decref(props);
            stack_event(st, r->stack_id, a->name, what, "failed", "%s", err->msg);
            return -1;
        }
    }
    char *ptext = json_dumps(props, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *deps = json_array();
    for (size_t k = 0; k < a->res->ndeps; k++)
        json_array_append_new(deps, json_string(a->res->deps[k]));
    char *dtext = json_dumps(deps, JSON_COMPACT);
    json_decref(deps);
    char now[32];
    clock_now_str(now);
    int rc_ = -1;
    char id[STACK_ID_MAX] = "";
    if (a->kind == STACK_ACT_UPDATE) {
        const char *pid = json_string_value(json_object_get(a->rec, "physical_id"));
        str_copy(id, sizeof(id), pid);
        stack_event(st, r->stack_id, a->name, "update", "in_progress", "updating %s in place", id);
        if (a->type->update(&rc, id, json_object_get(a->rec, "properties"), props, err) < 0) {
            set_rec(st, r->stack_id, a->name, "update_failed", err->msg);
            stack_event(st, r->stack_id, a->name, "update", "failed", "%s", err->msg);
            goto done;
        }
        store_exec(st, err,
                   "UPDATE stack_resources SET properties = ?, depends = ?, status = 'complete',"
                   " status_reason = '', updated_at = ? WHERE stack_id = ? AND name = ?",
                   "sssss", ptext, dtext, now, r->stack_id, a->name);
        refresh_attrs(r, a, id);
        stack_event(st, r->stack_id, a->name, "update", "complete", "updated %s", id);
        rc_ = 0;
        goto done;
    }
    if (a->resume_wait) {
        str_copy(id, sizeof(id), json_string_value(json_object_get(a->rec, "physical_id")));
    } else {
        if (store_exec(st, err,
                       "INSERT INTO stack_resources (stack_id, name, type, physical_id, properties,"
                       " depends, status, updated_at) VALUES (?, ?, ?, NULL, ?, ?, 'creating', ?)"
                       " ON CONFLICT (stack_id, name) DO UPDATE SET type = excluded.type,"
                       " physical_id = NULL, properties = excluded.properties,"
                       " attributes = '{}', depends = excluded.depends, status = 'creating',"
                       " status_reason = '', updated_at = excluded.updated_at",
                       "ssssss", r->stack_id, a->name, a->type->name, ptext, dtext, now) < 0)
            goto done;
        stack_event(st, r->stack_id, a->name, what, "in_progress", "creating %s", a->type->name);
        int c = a->type->create(&rc, props, id, err);
        if (id[0])
            store_exec(st, NULL,
                       "UPDATE stack_resources SET physical_id = ? WHERE stack_id = ? AND name = ?",
                       "sss", id, r->stack_id, a->name);
        if (c < 0) {
            set_rec(st, r->stack_id, a->name, "create_failed", err->msg);
            stack_event(st, r->stack_id, a->name, what, "failed", "%s", err->msg);
            goto done;
        }
        stack_event(st, r->stack_id, a->name, what, "created", "%s %s", a->type->name, id);
    }
    if (a->res->wait) {
        int w = wait_ready(r, a, id, err);
        if (w == -2) {
            rc_ = -2;
            goto done;
        }
        if (w < 0) {
            set_rec(st, r->stack_id, a->name, "create_failed", err->msg);
            stack_event(st, r->stack_id, a->name, "wait", "failed", "%s", err->msg);
            goto done;
        }
    }
    set_rec(st, r->stack_id, a->name, "complete", NULL);
    refresh_attrs(r, a, id);
    stack_event(st, r->stack_id, a->name, what, "complete", "%s %s", a->type->name, id);
    rc_ = 0;
done:
    free(ptext);
    free(dtext);
    json_decref(props);
    return rc_;
}

static void *worker(void *arg)
{
    struct run *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        size_t pick = r->n;
        if (!r->failed && !r->interrupted && !*r->stopping) {
            for (size_t i = 0; i < r->n && pick == r->n; i++) {
                if (r->state[i] != 0)
                    continue;
                bool ready = true;
                for (size_t j = 0; j < r->n && ready; j++)
                    if (j != i && r->state[j] != 2 && waits_for(r, i, j))
                        ready = false;
                if (ready)
                    pick = i;
            }
        }
        if (pick == r->n) {
            if (r->running == 0)
                break;
            pthread_cond_wait(&r->cv, &r->mu);
            continue;
        }
        r->state[pick] = 1;
        r->running++;
        pthread_mutex_unlock(&r->mu);
        struct stack_act *a = &r->p->acts[r->items[pick]];
        struct nubo_err err = {0};
        int rc = r->phase == 1 ? exec_delete(r, a, &err) : exec_apply(r, a, &err);
        pthread_mutex_lock(&r->mu);
        r->running--;
        r->state[pick] = rc == 0 ? 2 : 3;
        if (rc == -2)
            r->interrupted = true;
        else if (rc < 0 && !r->failed) {
            r->failed = true;
            r->err = err;
        }
        pthread_cond_broadcast(&r->cv);
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static int run_phase(struct run *r, int phase)
{
    r->phase = phase;
    r->n = 0;
    for (size_t i = 0; i < r->p->n; i++) {
        enum stack_act_kind k = r->p->acts[i].kind;
        if ((phase == 1 && (k == STACK_ACT_DELETE || k == STACK_ACT_REPLACE)) ||
            (phase == 2 &&
             (k == STACK_ACT_CREATE || k == STACK_ACT_UPDATE || k == STACK_ACT_REPLACE)))
            r->items[r->n++] = i;
    }
    if (r->n == 0)
        return 0;
    memset(r->state, 0, r->p->n * sizeof(int));
    int nw = r->env->workers > 0 ? r->env->workers : 4;
    if ((size_t)nw > r->n)
        nw = (int)r->n;
    pthread_t th[64];
    if (nw > 64)
        nw = 64;
    int started = 0;
    for (int i = 0; i < nw; i++)
        if (pthread_create(&th[started], NULL, worker, r) == 0)
            started++;
    if (started == 0)
        worker(r);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (r->interrupted || (*r->stopping && !r->failed))
        return -2;
    if (r->failed)
        return -1;
    for (size_t i = 0; i < r->n; i++)
        if (r->state[i] != 2)
            return -2;
    return 0;
}

int stack_apply_run(const struct stack_env *env, const struct ctx *ctx, const char *stack_id,
                    const struct stack_tmpl *t, struct stack_plan_set *p, volatile bool *stopping,
                    struct nubo_err *err)
{
    struct run r = {
        .env = env, .ctx = ctx, .stack_id = stack_id, .t = t, .p = p, .stopping = stopping};
    r.items = xcalloc(p->n + 1, sizeof(size_t));
    r.state = xcalloc(p->n + 1, sizeof(int));
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    int rc = run_phase(&r, 1);
    if (rc == 0)
        rc = run_phase(&r, 2);
    if (rc == -1)
        *err = r.err;
    pthread_cond_destroy(&r.cv);
    pthread_mutex_destroy(&r.mu);
    free(r.items);
    free(r.state);
    return rc;
}
