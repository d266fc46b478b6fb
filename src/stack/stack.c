/*
 * stack.c - stacks as a service (stack.h) and the engine thread that runs
 * their tasks.
 *
 * The task of a stack is its status: applying, rolling_back or
 * destroying.  The engine's single thread takes the oldest stack in one of
 * those states, plans its target (the revision being applied, the last
 * good revision, or nothing) against the recorded state and the live
 * resources, and executes the plan (apply.c).  Because a task is re-planned
 * each time it is taken up, resuming after a restart is the same code as
 * starting: what was done plans as "no change".
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/valid.h"
#include "stack/engine.h"

struct stack_engine {
    struct stack_env env;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool kicked;
    volatile bool stopping;
};

#define EMPTY_TEMPLATE "resources: {}\n"
/* is_admin: the creator's cloud-wide powers, only while they are still a
 * cloud admin (users.cloud_admin): revoking it reaches their stacks too. */
#define STACK_COLUMNS                                                                              \
    "SELECT id, project_id, name, status, status_reason, revision, good_revision, on_failure,"     \
    " user_id, role, CASE WHEN is_admin = 1 AND EXISTS (SELECT 1 FROM users u"                     \
    " WHERE u.id = stacks.user_id AND u.cloud_admin = 1) THEN 1 ELSE 0 END AS is_admin,"           \
    " created_at, updated_at FROM stacks"

static bool active(const char *status)
{
    return strcmp(status, "applying") == 0 || strcmp(status, "rolling_back") == 0 ||
           strcmp(status, "destroying") == 0;
}

static json_t *stack_json(json_t *row)
{
    json_object_del(row, "is_admin");
    json_object_del(row, "role");
    json_object_del(row, "user_id");
    return row;
}

/* The stack row ctx may see (id or name), or NULL with err. */
static json_t *stack_row(struct store *st, const struct ctx *ctx, const char *ref,
                         struct nubo_err *err)
{
    struct nubo_err qerr;
    json_t *r = store_query_one(st, &qerr,
                                STACK_COLUMNS " WHERE (id = ? OR name = ?) AND project_id = ?"
                                              " ORDER BY id = ? DESC LIMIT 1",
                                "ssss", ref, ref, ctx->project_id, ref);
    if (r == NULL) {
        if (qerr.code == NUBO_E_NOTFOUND)
            nubo_err_set(err, NUBO_E_NOTFOUND, "no stack '%.64s' in this project", ref);
        else
            *err = qerr;
    }
    return r;
}

static void kick(struct stack_engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->kicked = true;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

/* The template and parameters of a revision (0: the empty template). */
static struct stack_tmpl *revision_load(struct store *st, const char *stack_id, long long rev,
                                        struct nubo_err *err)
{
    if (rev == 0)
        return stack_tmpl_load(EMPTY_TEMPLATE, strlen(EMPTY_TEMPLATE), NULL, err);
    json_t *row = store_query_one(st, err,
                                  "SELECT template, parameters FROM stack_revisions"
                                  " WHERE stack_id = ? AND revision = ?",
                                  "si", stack_id, rev);
    if (row == NULL)
        return NULL;
    json_t *params = json_loads(json_string_value(json_object_get(row, "parameters")), 0, NULL);
    const char *text = json_string_value(json_object_get(row, "template"));
    struct stack_tmpl *t = stack_tmpl_load(text, strlen(text), params, err);
    json_decref(params);
    json_decref(row);
    return t;
}

static void set_status(struct store *st, const char *id, const char *status, const char *reason)
{
    char now[32];
    struct nubo_err err;
    clock_now_str(now);
    store_exec(st, &err,
               "UPDATE stacks SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?",
               "ssss", status, reason ? reason : "", now, id);
}

/* Runs the task of stack row (one pass). */
static void run_task(struct stack_engine *e, json_t *row)
{
    struct store *st = e->env.st;
    const char *id = json_string_value(json_object_get(row, "id"));
    const char *status = json_string_value(json_object_get(row, "status"));
    struct ctx ctx = {0};
    str_copy(ctx.project_id, sizeof(ctx.project_id),
             json_string_value(json_object_get(row, "project_id")));
    str_copy(ctx.user_id, sizeof(ctx.user_id), json_string_value(json_object_get(row, "user_id")));
    role_parse(json_string_value(json_object_get(row, "role")), &ctx.role);
    ctx.is_admin = json_integer_value(json_object_get(row, "is_admin")) != 0;
    snprintf(ctx.request_id, sizeof(ctx.request_id), "stack-%.8s", id);
    long long rev = strcmp(status, "applying") == 0
                        ? json_integer_value(json_object_get(row, "revision"))
                    : strcmp(status, "rolling_back") == 0
                        ? json_integer_value(json_object_get(row, "good_revision"))
                        : 0;
    struct nubo_err err = {0};
    struct stack_plan_set p = {0};
    json_t *recs = NULL;
    struct stack_tmpl *t = revision_load(st, id, rev, &err);
    int rc = -1;
    if (t && (recs = stack_recs_load(st, id, &err)) != NULL &&
        stack_plan_build(&e->env, &ctx, t, recs, true, &p, &err) == 0) {
        json_t *pj = stack_plan_json(&p);
        json_t *s = json_object_get(pj, "summary");
        stack_event(
            st, id, "", status, "in_progress",
            "revision %lld: %lld to create, %lld to update, %lld to replace, %lld to delete", rev,
            (long long)json_integer_value(json_object_get(s, "create")),
            (long long)json_integer_value(json_object_get(s, "update")),
            (long long)json_integer_value(json_object_get(s, "replace")),
            (long long)json_integer_value(json_object_get(s, "delete")));
        json_decref(pj);
        rc = stack_apply_run(&e->env, &ctx, id, t, &p, &e->stopping, &err);
    }
    stack_plan_free(&p);
    json_decref(recs);
    stack_tmpl_free(t);
    if (rc == -2)
        return; /* stopping: resumed at the next start */
    const char *onf = json_string_value(json_object_get(row, "on_failure"));
    /* The last event is written before the status: whoever sees the task
     * ended (nubo stack apply following it) then has all its events. */
    if (strcmp(status, "applying") == 0) {
        if (rc == 0) {
            store_exec(st, &err, "UPDATE stacks SET good_revision = revision WHERE id = ?", "s",
                       id);
            store_exec(st, &err,
                       "UPDATE stack_resources SET status = 'complete', status_reason = ''"
                       " WHERE stack_id = ? AND physical_id IS NOT NULL",
                       "s", id);
            stack_event(st, id, "", "apply", "complete", "revision %lld applied", rev);
            set_status(st, id, "complete", NULL);
        } else if (strcmp(onf, "rollback") == 0) {
            stack_event(st, id, "", "apply", "failed", "%s; rolling back", err.msg);
            set_status(st, id, "rolling_back", err.msg);
        } else {
            stack_event(st, id, "", "apply", "failed", "%s; stopped (on_failure: stop)", err.msg);
            set_status(st, id, "failed", err.msg);
        }
    } else if (strcmp(status, "rolling_back") == 0) {
        stack_event(st, id, "", "rollback", rc == 0 ? "complete" : "failed", "%s",
                    rc == 0 ? "rolled back" : err.msg);
        set_status(st, id, rc == 0 ? "rolled_back" : "rollback_failed",
                   rc == 0 ? json_string_value(json_object_get(row, "status_reason")) : err.msg);
    } else if (rc == 0) {
        store_exec(st, &err, "DELETE FROM stacks WHERE id = ?", "s", id);
        log_info("stack %s: destroyed", id);
    } else {
        stack_event(st, id, "", "destroy", "failed", "%s", err.msg);
        set_status(st, id, "destroy_failed", err.msg);
    }
}

static void *loop(void *arg)
{
    struct stack_engine *e = arg;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        e->kicked = false;
        bool stop = e->stopping;
        pthread_mutex_unlock(&e->mu);
        if (stop)
            break;
        struct nubo_err err;
        json_t *row =
            store_query_one(e->env.st, &err,
                            STACK_COLUMNS " WHERE status IN ('applying', 'rolling_back',"
                                          " 'destroying') ORDER BY updated_at, id LIMIT 1",
                            "");
        if (row) {
            run_task(e, row);
            json_decref(row);
            continue;
        }
        pthread_mutex_lock(&e->mu);
        if (!e->kicked && !e->stopping) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&e->cv, &e->mu, &ts);
        }
        pthread_mutex_unlock(&e->mu);
    }
    return NULL;
}

struct stack_engine *stack_engine_start(const struct stack_env *env, struct nubo_err *err)
{
    struct stack_engine *e = xcalloc(1, sizeof(*e));
    e->env = *env;
    if (e->env.workers <= 0)
        e->env.workers = 4;
    if (e->env.poll_ms <= 0)
        e->env.poll_ms = 250;
    pthread_mutex_init(&e->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* waits ignore wall-clock jumps */
    pthread_cond_init(&e->cv, &ca);
    pthread_condattr_destroy(&ca);
    struct nubo_err qerr;
    json_t *n = store_query_one(env->st, &qerr,
                                "SELECT COUNT(*) AS n FROM stacks WHERE status IN ('applying',"
                                " 'rolling_back', 'destroying')",
                                "");
    if (n && json_integer_value(json_object_get(n, "n")) > 0)
        log_info("stacks: resuming %lld unfinished task(s)",
                 (long long)json_integer_value(json_object_get(n, "n")));
    json_decref(n);
    if (pthread_create(&e->thread, NULL, loop, e) != 0) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot start the stack engine's thread");
        pthread_cond_destroy(&e->cv);
        pthread_mutex_destroy(&e->mu);
        free(e);
        return NULL;
    }
    return e;
}

void stack_engine_stop(struct stack_engine *e)
{
    if (e == NULL)
        return;
    pthread_mutex_lock(&e->mu);
    e->stopping = true;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    free(e);
}

/* ------------------------------------------------------------ services */

static int check_template(const char *tmpl, struct nubo_err *err)
{
    if (tmpl == NULL)
        return nubo_err_set(err, NUBO_E_INVALID, "'template' is required: YAML or JSON text");
    return 0;
}

json_t *stack_plan(struct stack_engine *e, const struct ctx *ctx, const char *stack_ref,
                   const char *tmpl, const json_t *params, struct nubo_err *err)
{
    if (check_template(tmpl, err) < 0)
        return NULL;
    json_t *row = NULL, *recs = NULL, *out = NULL;
    if (stack_ref && (row = stack_row(e->env.st, ctx, stack_ref, err)) == NULL)
        return NULL;
    struct stack_tmpl *t = stack_tmpl_load(tmpl, strlen(tmpl), params, err);
    struct stack_plan_set p = {0};
    if (t == NULL)
        goto cleanup;
    recs = row ? stack_recs_load(e->env.st, json_string_value(json_object_get(row, "id")), err)
               : json_object();
    if (recs && stack_plan_build(&e->env, ctx, t, recs, row != NULL, &p, err) == 0)
        out = stack_plan_json(&p);
cleanup:
    stack_plan_free(&p);
    stack_tmpl_free(t);
    json_decref(recs);
    json_decref(row);
    return out;
}

static int on_failure_ok(const char *s, struct nubo_err *err)
{
    if (strcmp(s, "rollback") != 0 && strcmp(s, "stop") != 0)
        return nubo_err_set(err, NUBO_E_INVALID, "'on_failure' must be rollback or stop");
    return 0;
}

static json_t *with_plan(struct stack_engine *e, const struct ctx *ctx, const char *id,
                         json_t *plan, struct nubo_err *err)
{
    json_t *row = stack_row(e->env.st, ctx, id, err);
    if (row == NULL) {
        json_decref(plan);
        return NULL;
    }
    kick(e);
    return json_pack("{s:o, s:o}", "stack", stack_json(row), "plan", plan);
}

/* The project's stacks: the usage of its stack quota. */
static int stack_count(struct store *st, const char *project_id, long long *n, struct nubo_err *err)
{
    json_t *r = store_query_one(st, err, "SELECT COUNT(*) AS n FROM stacks WHERE project_id = ?",
                                "s", project_id);
    if (r == NULL)
        return -1;
    *n = (long long)json_integer_value(json_object_get(r, "n"));
    json_decref(r);
    return 0;
}

int stack_quota_usage(struct store *st, const char *project_id, long long used[QUOTA_DIMS],
                      struct nubo_err *err)
{
    return stack_count(st, project_id, &used[QUOTA_STACKS], err);
}

json_t *stack_create(struct stack_engine *e, const struct ctx *ctx, const char *name,
                     const char *tmpl, const json_t *params, const char *on_failure,
                     struct nubo_err *err)
{
    struct store *st = e->env.st;
    if (name == NULL)
        return nubo_err_set(err, NUBO_E_INVALID, "'name' is required: the stack's name"), NULL;
    if (valid_name(name, "stack name", err) < 0 || check_template(tmpl, err) < 0)
        return NULL;
    on_failure = on_failure ? on_failure : "rollback";
    if (on_failure_ok(on_failure, err) < 0)
        return NULL;
    json_t *plan = stack_plan(e, ctx, NULL, tmpl, params, err);
    if (plan == NULL)
        return NULL;
    char id[37], now[32];
    id_new(id);
    clock_stamp(now);
    json_t *empty = json_object();
    char *ptext = json_dumps(params ? params : empty, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(empty);
    int rc = -1;
    long long stacks = 0;
    if (store_begin(st, true, err) == 0) {
        long long a = -1;
        /* The count and the insert in one write transaction: the quota. */
        if (stack_count(st, ctx->project_id, &stacks, err) == 0 &&
            quota_check_count(st, ctx->project_id, QUOTA_STACKS, 1, stacks, err) == 0)
            a = store_exec(st, err,
                           "INSERT INTO stacks (id, project_id, name, status, revision,"
                           " on_failure, user_id, role, is_admin, created_at, updated_at)"
                           " VALUES (?, ?, ?, 'applying', 1, ?, ?, ?, ?, ?, ?)",
                           "ssssssiss", id, ctx->project_id, name, on_failure, ctx->user_id,
                           role_name(ctx->role), (long long)ctx->is_admin, now, now);
        if (a < 0 && err->code == NUBO_E_CONFLICT)
            nubo_err_set(err, NUBO_E_CONFLICT, "a stack named '%s' exists in this project", name);
        if (a >= 0 && store_exec(st, err,
                                 "INSERT INTO stack_revisions (stack_id, revision, template,"
                                 " parameters, created_at) VALUES (?, 1, ?, ?, ?)",
                                 "ssss", id, tmpl, ptext, now) >= 0)
            rc = store_commit(st, err);
        if (rc < 0)
            store_rollback(st);
    }
    free(ptext);
    if (rc < 0) {
        json_decref(plan);
        return NULL;
    }
    stack_event(st, id, "", "create", "in_progress", "stack created (revision 1)");
    return with_plan(e, ctx, id, plan, err);
}

json_t *stack_update(struct stack_engine *e, const struct ctx *ctx, const char *ref,
                     const char *tmpl, const json_t *params, const char *on_failure,
                     struct nubo_err *err)
{
    struct store *st = e->env.st;
    if (on_failure && on_failure_ok(on_failure, err) < 0)
        return NULL;
    json_t *row = stack_row(st, ctx, ref, err);
    if (row == NULL)
        return NULL;
    json_t *out = NULL, *cur = NULL, *plan = NULL, *curp = NULL;
    char *ptext = NULL;
    const char *id = json_string_value(json_object_get(row, "id"));
    if (active(json_string_value(json_object_get(row, "status")))) {
        nubo_err_set(err, NUBO_E_CONFLICT, "stack '%s' is %s: wait until it finishes", ref,
                     json_string_value(json_object_get(row, "status")));
        goto cleanup;
    }
    long long rev = json_integer_value(json_object_get(row, "revision"));
    cur = store_query_one(st, err,
                          "SELECT template, parameters FROM stack_revisions WHERE stack_id = ?"
                          " AND revision = ?",
                          "si", id, rev);
    if (cur == NULL)
        goto cleanup;
    curp = json_loads(json_string_value(json_object_get(cur, "parameters")), 0, NULL);
    if (tmpl == NULL)
        tmpl = json_string_value(json_object_get(cur, "template"));
    if (params == NULL)
        params = curp;
    plan = stack_plan(e, ctx, id, tmpl, params, err);
    if (plan == NULL)
        goto cleanup;
    ptext = json_dumps(params ? params : curp, JSON_COMPACT | JSON_SORT_KEYS);
    bool same = strcmp(tmpl, json_string_value(json_object_get(cur, "template"))) == 0 &&
                strcmp(ptext, json_string_value(json_object_get(cur, "parameters"))) == 0;
    char now[32];
    clock_stamp(now);
    if (store_begin(st, true, err) < 0)
        goto cleanup;
    if ((!same && store_exec(st, err,
                             "INSERT INTO stack_revisions (stack_id, revision, template,"
                             " parameters, created_at) VALUES (?, ?, ?, ?, ?)",
                             "sisss", id, rev + 1, tmpl, ptext, now) < 0) ||
        store_exec(st, err,
                   "UPDATE stacks SET status = 'applying', status_reason = '', revision = ?,"
                   " on_failure = COALESCE(?, on_failure), user_id = ?, role = ?, is_admin = ?,"
                   " updated_at = ? WHERE id = ?",
                   "isssiss", same ? rev : rev + 1, on_failure, ctx->user_id, role_name(ctx->role),
                   (long long)ctx->is_admin, now, id) < 0 ||
        store_commit(st, err) < 0) {
        store_rollback(st);
        goto cleanup;
    }
    stack_event(st, id, "", "update", "in_progress", "applying revision %lld",
                same ? rev : rev + 1);
    out = with_plan(e, ctx, id, plan, err);
    plan = NULL;
cleanup:
    free(ptext);
    json_decref(plan);
    json_decref(curp);
    json_decref(cur);
    json_decref(row);
    return out;
}

json_t *stack_destroy(struct stack_engine *e, const struct ctx *ctx, const char *ref,
                      struct nubo_err *err)
{
    json_t *row = stack_row(e->env.st, ctx, ref, err);
    if (row == NULL)
        return NULL;
    const char *id = json_string_value(json_object_get(row, "id"));
    const char *status = json_string_value(json_object_get(row, "status"));
    json_t *out = NULL;
    if (active(status) && strcmp(status, "destroying") != 0) {
        nubo_err_set(err, NUBO_E_CONFLICT, "stack '%s' is %s: wait until it finishes", ref, status);
    } else {
        set_status(e->env.st, id, "destroying", NULL);
        stack_event(e->env.st, id, "", "destroy", "in_progress", "destroying the stack");
        kick(e);
        out = stack_row(e->env.st, ctx, id, err);
        if (out)
            stack_json(out);
    }
    json_decref(row);
    return out;
}

json_t *stack_list(struct stack_engine *e, const struct ctx *ctx, int limit, const char *marker,
                   struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    if (store_page_start(e->env.st, &pg, err,
                         "SELECT created_at FROM stacks WHERE id = ? AND project_id = ?", "ss",
                         marker, ctx->project_id) < 0)
        return NULL;
    json_t *rows = store_page_query(e->env.st, &pg, NULL, err,
                                    STACK_COLUMNS " WHERE project_id = ?", "s", ctx->project_id);
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        stack_json(r);
    }
    return rows;
}

json_t *stack_get(struct stack_engine *e, const struct ctx *ctx, const char *ref,
                  struct nubo_err *err)
{
    json_t *row = stack_row(e->env.st, ctx, ref, err);
    return row ? stack_json(row) : NULL;
}

json_t *stack_events(struct stack_engine *e, const struct ctx *ctx, const char *ref, int limit,
                     long long after, struct nubo_err *err)
{
    json_t *row = stack_row(e->env.st, ctx, ref, err);
    if (row == NULL)
        return NULL;
    json_t *out =
        store_query(e->env.st, err,
                    "SELECT id, at, resource, action, status, detail FROM stack_events"
                    " WHERE stack_id = ? AND id > ? ORDER BY id LIMIT ?",
                    "sii", json_string_value(json_object_get(row, "id")), after, (long long)limit);
    json_decref(row);
    return out;
}

json_t *stack_resources(struct stack_engine *e, const struct ctx *ctx, const char *ref,
                        struct nubo_err *err)
{
    json_t *row = stack_row(e->env.st, ctx, ref, err);
    if (row == NULL)
        return NULL;
    json_t *recs = stack_recs_load(e->env.st, json_string_value(json_object_get(row, "id")), err);
    json_decref(row);
    if (recs == NULL)
        return NULL;
    json_t *out = json_array();
    const char *k;
    json_t *r;
    json_object_foreach (recs, k, r) {
        json_object_set(r, "depends_on", json_object_get(r, "depends"));
        json_object_del(r, "depends");
        json_array_append(out, r);
    }
    json_decref(recs);
    return out;
}

json_t *stack_revisions(struct stack_engine *e, const struct ctx *ctx, const char *ref,
                        struct nubo_err *err)
{
    json_t *row = stack_row(e->env.st, ctx, ref, err);
    if (row == NULL)
        return NULL;
    json_t *out = store_query(e->env.st, err,
                              "SELECT revision, template, parameters, created_at FROM"
                              " stack_revisions WHERE stack_id = ? ORDER BY revision DESC",
                              "s", json_string_value(json_object_get(row, "id")));
    json_decref(row);
    size_t i;
    json_t *r;
    json_array_foreach (out, i, r) {
        json_t *p = json_loads(json_string_value(json_object_get(r, "parameters")), 0, NULL);
        json_object_set_new(r, "parameters", p ? p : json_object());
    }
    return out;
}

struct live_lookup {
    struct stack_engine *e;
    const struct ctx *ctx;
    json_t *recs;
};

static void live_lookup(void *arg, const char *res, const char *attr, json_t **out)
{
    struct live_lookup *l = arg;
    json_t *rec = json_object_get(l->recs, res);
    const char *id = json_string_value(json_object_get(rec, "physical_id"));
    if (id == NULL)
        return;
    if (attr == NULL) {
        *out = json_string(id);
        return;
    }
    const struct stack_rtype *t = stack_rtype_find(json_string_value(json_object_get(rec, "type")));
    struct stack_rctx rc = {&l->e->env, l->ctx};
    struct nubo_err err;
    json_t *live = t ? t->read(&rc, id, &err) : NULL;
    json_t *v = json_object_get(json_object_get(live ? live : rec, "attributes"), attr);
    *out = v ? json_deep_copy(v) : json_null();
    json_decref(live);
}

json_t *stack_outputs(struct stack_engine *e, const struct ctx *ctx, const char *ref,
                      struct nubo_err *err)
{
    json_t *row = stack_row(e->env.st, ctx, ref, err);
    if (row == NULL)
        return NULL;
    const char *id = json_string_value(json_object_get(row, "id"));
    json_t *out = NULL;
    struct stack_tmpl *t =
        revision_load(e->env.st, id, json_integer_value(json_object_get(row, "revision")), err);
    struct live_lookup l = {e, ctx, t ? stack_recs_load(e->env.st, id, err) : NULL};
    if (l.recs) {
        json_t *outs = json_object();
        const char *name;
        json_t *o;
        json_object_foreach (t->outputs, name, o) {
            bool unknown = false;
            json_t *v = stack_resolve(t, json_object_get(o, "value"), live_lookup, &l, &unknown);
            json_t *d = json_object_get(o, "description");
            json_object_set_new(outs, name,
                                json_pack("{s:o, s:O}", "value", unknown ? json_null() : v,
                                          "description", d ? d : json_null()));
            if (unknown)
                json_decref(v);
        }
        out = json_pack("{s:o}", "outputs", outs);
    }
    json_decref(l.recs);
    stack_tmpl_free(t);
    json_decref(row);
    return out;
}

json_t *stack_drift(struct stack_engine *e, const struct ctx *ctx, const char *ref,
                    struct nubo_err *err)
{
    json_t *row = stack_row(e->env.st, ctx, ref, err);
    if (row == NULL)
        return NULL;
    json_t *recs = stack_recs_load(e->env.st, json_string_value(json_object_get(row, "id")), err);
    json_decref(row);
    if (recs == NULL)
        return NULL;
    json_t *list = json_array();
    bool drifted = false;
    const char *name;
    json_t *rec;
    json_object_foreach (recs, name, rec) {
        const char *id = json_string_value(json_object_get(rec, "physical_id"));
        const struct stack_rtype *t =
            stack_rtype_find(json_string_value(json_object_get(rec, "type")));
        if (id == NULL || t == NULL)
            continue;
        struct stack_rctx rc = {&e->env, ctx};
        struct nubo_err lerr;
        json_t *live = t->read(&rc, id, &lerr);
        if (live == NULL && lerr.code != NUBO_E_NOTFOUND) {
            *err = lerr;
            json_decref(list);
            json_decref(recs);
            return NULL;
        }
        json_t *changes = json_array();
        const char *kind = "none";
        if (live == NULL) {
            kind = "deleted";
        } else {
            json_t *recp = json_object_get(rec, "properties");
            const char *k;
            json_t *v;
            json_object_foreach (json_object_get(live, "properties"), k, v) {
                json_t *had = json_object_get(recp, k);
                if (had && !json_is_null(had) && !stack_value_eq(had, v))
                    json_array_append_new(changes, json_pack("{s:s, s:O, s:O}", "property", k,
                                                             "recorded", had, "live", v));
            }
            if (json_array_size(changes))
                kind = "changed";
        }
        drifted = drifted || strcmp(kind, "none") != 0;
        json_array_append_new(list,
                              json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", name, "type", t->name,
                                        "physical_id", id, "drift", kind, "changes", changes));
        json_decref(live);
    }
    json_decref(recs);
    return json_pack("{s:b, s:o}", "drifted", drifted, "resources", list);
}

int stack_project_purge(struct store *st, const char *project_id, const char *name,
                        struct strv *files, void *arg, struct nubo_err *err)
{
    (void)files;
    (void)arg;
    json_t *s = store_query(st, err,
                            "SELECT s.name AS name FROM stacks s WHERE s.project_id = ? AND"
                            " (s.status IN ('applying', 'rolling_back', 'destroying') OR"
                            "  EXISTS (SELECT 1 FROM stack_resources r WHERE r.stack_id = s.id"
                            "          AND r.physical_id IS NOT NULL))"
                            " ORDER BY s.name LIMIT 1",
                            "s", project_id);
    if (s == NULL)
        return -1;
    int rc = 0;
    if (json_array_size(s) > 0)
        rc = nubo_err_set(err, NUBO_E_CONFLICT,
                          "project '%s' still has stack '%s' with resources;"
                          " destroy the stack first",
                          name, jsonx_str(json_array_get(s, 0), "name"));
    json_decref(s);
    return rc;
}
