/*
 * pass.c - the scale pass: keeps every group at its size and healthy.
 *
 * For each active group, under scale_lock, in this order:
 *   1. members whose instance is gone are dropped; unhealthy ones (status
 *      error, unknown - the host is down -, stopped, or deleted by somebody
 *      else) are terminated once the group's health check grace since
 *      their launch is over, and replaced by step 4;
 *   2. due scheduled actions set min / max / desired;
 *   3. policies may change desired: target tracking on the average CPU of
 *      the in-service instances past their warm-up, step policies whose
 *      alarm is in ALARM, each after its cooldown;
 *   4. fewer healthy members than desired: launch (unless backing off
 *      after failures); more: terminate unprotected ones, instances of an
 *      old template version first, then by the termination policy; equal
 *      but some of an old version: launch a batch of the current version,
 *      and once those run, step 4 retires as many old ones.
 * Launch failures (quota, budget, no host with room) become a "failed"
 * activity and a back-off (scale_backoff_ms), never a hot loop.
 *
 * Runs on the controller's reconciler thread (scale_run_once), which the
 * "autoscale" alarm hook kicks.
 */
#include "scale/scale.h"
#include "scale/scale_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compute/compute.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/util.h"
#include "monitor/monitor.h"
#include "network/network.h"

struct scale {
    struct store *st;
    struct sched_cfg cfg;
    void (*kick)(void *);
    void *kick_ctx;
};

/* --------------------------------------------------------------- hook */

static int autoscale_hook(void *ctx, const struct monitor_alarm_event *ev, struct nubo_err *err)
{
    struct scale *s = ctx;
    (void)err;
    /* the pass reads the alarm's state itself; only wake it */
    if (strcmp(ev->new_state, "ALARM") == 0 && s->kick)
        s->kick(s->kick_ctx);
    return 0;
}

struct scale *scale_new(struct store *st, const struct sched_cfg *cfg, void (*kick)(void *),
                        void *kick_ctx, struct nubo_err *err)
{
    struct scale *s = xcalloc(1, sizeof(*s));
    s->st = st;
    s->cfg = *cfg;
    s->kick = kick;
    s->kick_ctx = kick_ctx;
    if (monitor_alarm_hook_register("autoscale", autoscale_hook, s, err) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

void scale_free(struct scale *s)
{
    if (s == NULL)
        return;
    monitor_alarm_hook_unregister("autoscale");
    free(s);
}

/* ------------------------------------------------------------ members */

struct member {
    const char *id, *status;
    long long version, launched_ms;
    bool protected_, running;
    const char *created_at;
};

static bool is(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

/* A group as the pass sees it. */
struct gstate {
    json_t *g;
    const char *id, *project;
    struct ctx ctx;
    int64_t now;
    long long min, max, desired, version;
    json_t *rows;     /* members' rows */
    struct member *m; /* healthy in-service members */
    size_t n;
};

/* A change of a group and the activity that records it commit together
 * (a reader never sees one without the other, a crash loses neither):
 * group_tx_begin(), the writes, scale_activity_add(), group_tx_end(). */
static bool group_tx_begin(struct scale *s, struct gstate *gs)
{
    struct nubo_err err;
    if (store_begin(s->st, true, &err) == 0)
        return true;
    log_warn("scaling group %s: %s", gs->id, err.msg);
    return false;
}

/* Commits when ok (returns whether it did), else rolls back. */
static bool group_tx_end(struct scale *s, struct gstate *gs, bool ok)
{
    struct nubo_err err;
    if (ok && store_commit(s->st, &err) == 0)
        return true;
    if (ok)
        log_warn("scaling group %s: %s", gs->id, err.msg);
    store_rollback(s->st);
    return false;
}

static void terminate(struct scale *s, struct gstate *gs, const char *iid, bool delete_it,
                      const char *cause, const char *policy_id)
{
    struct nubo_err err = {0};
    if (delete_it) {
        json_t *out = compute_instance_delete(s->st, &gs->ctx, iid, &err);
        if (out == NULL && err.code != NUBO_E_CONFLICT) {
            log_warn("scaling group %s: cannot delete instance %s: %s", gs->id, iid, err.msg);
            return;
        }
        json_decref(out);
    }
    if (!group_tx_begin(s, gs))
        return;
    bool ok = store_exec(s->st, &err,
                         "UPDATE scale_members SET state = 'terminating' WHERE instance_id = ?",
                         "s", iid) >= 0;
    if (ok)
        scale_activity_add(s->st, gs->project, gs->id, "terminate", iid, policy_id, cause, NULL);
    group_tx_end(s, gs, ok);
}

/* Step 1: drops gone members, terminates unhealthy ones, and collects the
 * healthy in-service members into gs->m. */
static int members_load(struct scale *s, struct gstate *gs)
{
    struct nubo_err err;
    gs->rows = store_query(s->st, &err,
                           "SELECT m.instance_id, m.template_version, m.protected, m.state,"
                           " m.launched_ms, m.created_at, i.status FROM scale_members m"
                           " LEFT JOIN instances i ON i.id = m.instance_id WHERE m.group_id = ?"
                           " ORDER BY m.created_at, m.instance_id",
                           "s", gs->id);
    if (gs->rows == NULL)
        return -1;
    gs->m = xcalloc(json_array_size(gs->rows) + 1, sizeof(*gs->m));
    gs->n = 0;
    int64_t grace = scale_int(gs->g, "health_grace_s") * 1000;
    size_t i;
    json_t *r;
    json_array_foreach (gs->rows, i, r) {
        const char *iid = jsonx_str(r, "instance_id"), *status = jsonx_str(r, "status");
        bool in_service = is(jsonx_str(r, "state"), "in_service");
        if (*status == '\0' || is(status, "deleted")) {
            store_exec(s->st, &err, "DELETE FROM scale_members WHERE instance_id = ?", "s", iid);
            if (in_service)
                scale_activity_add(s->st, gs->project, gs->id, "terminate", iid, NULL,
                                   "instance deleted outside the group", "replacing it");
            continue;
        }
        if (!in_service)
            continue;
        bool unhealthy = is(status, "error") || is(status, "unknown") || is(status, "stopped") ||
                         is(status, "stopping") || is(status, "deleting");
        if (unhealthy) {
            /* a delete by somebody else is final; anything else waits for
             * the grace of new instances */
            bool final = is(status, "deleting");
            if (final || gs->now - scale_int(r, "launched_ms") >= grace) {
                char cause[64];
                snprintf(cause, sizeof(cause), "unhealthy: instance is %s", status);
                terminate(s, gs, iid, !final, cause, NULL);
                continue;
            }
        }
        struct member *m = &gs->m[gs->n++];
        m->id = iid;
        m->status = status;
        m->version = scale_int(r, "template_version");
        m->launched_ms = scale_int(r, "launched_ms");
        m->protected_ = scale_int(r, "protected") != 0;
        m->running = is(status, "running");
        m->created_at = jsonx_str(r, "created_at");
    }
    return 0;
}

/* ------------------------------------------------------- size changes */

static void desired_set(struct scale *s, struct gstate *gs, long long desired, const char *cause,
                        const char *policy_id, const char *detail)
{
    struct nubo_err err;
    char now[32], d[320];
    if (desired == gs->desired)
        return;
    clock_now_str(now);
    if (!group_tx_begin(s, gs))
        return;
    bool ok = store_exec(s->st, &err,
                         "UPDATE scaling_groups SET desired = ?, updated_at = ? WHERE id = ?",
                         "iss", desired, now, gs->id) >= 0;
    snprintf(d, sizeof(d), "desired %lld -> %lld%s%s", gs->desired, desired, detail ? "; " : "",
             detail ? detail : "");
    if (ok)
        scale_activity_add(s->st, gs->project, gs->id, "scale", NULL, policy_id, cause, d);
    if (group_tx_end(s, gs, ok))
        gs->desired = desired;
}

/* Step 2. */
static void schedules_run(struct scale *s, struct gstate *gs)
{
    struct nubo_err err;
    json_t *rows = store_query(s->st, &err,
                               "SELECT id, name, cron, min_size, max_size, desired FROM"
                               " scheduled_actions WHERE group_id = ? AND next_run_ms <= ?"
                               " ORDER BY next_run_ms, id",
                               "si", gs->id, (long long)gs->now);
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        struct scale_cron c;
        long long min = gs->min, max = gs->max, desired = gs->desired;
        if (json_is_integer(json_object_get(r, "min_size")))
            min = scale_int(r, "min_size");
        if (json_is_integer(json_object_get(r, "max_size")))
            max = scale_int(r, "max_size");
        if (json_is_integer(json_object_get(r, "desired")))
            desired = scale_int(r, "desired");
        if (min > max)
            max = min;
        desired = desired < min ? min : desired > max ? max : desired;
        int64_t next = -1;
        if (scale_cron_parse(jsonx_str(r, "cron"), &c, &err) == 0)
            next = scale_cron_next(&c, gs->now);
        char now[32], cause[96], detail[128];
        clock_now_str(now);
        if (!group_tx_begin(s, gs))
            continue;
        /* a missed run fires once, then the schedule goes on from now */
        bool ok =
            store_exec(s->st, &err,
                       "UPDATE scheduled_actions SET next_run_ms = ?, last_run_ms = ? WHERE id = ?",
                       "iis", (long long)(next < 0 ? INT64_MAX / 2 : next), (long long)gs->now,
                       jsonx_str(r, "id")) >= 0 &&
            store_exec(s->st, &err,
                       "UPDATE scaling_groups SET min_size = ?, max_size = ?, desired = ?,"
                       " updated_at = ? WHERE id = ?",
                       "iiiss", min, max, desired, now, gs->id) >= 0;
        snprintf(cause, sizeof(cause), "scheduled action %s", jsonx_str(r, "name"));
        snprintf(detail, sizeof(detail), "min %lld, max %lld, desired %lld (was %lld)", min, max,
                 desired, gs->desired);
        if (ok)
            scale_activity_add(s->st, gs->project, gs->id, "scale", NULL, jsonx_str(r, "id"), cause,
                               detail);
        if (!group_tx_end(s, gs, ok))
            continue;
        gs->min = min;
        gs->max = max;
        gs->desired = desired;
    }
    json_decref(rows);
}

/* The mean over the measured members of each one's average CPU in the
 * last window_ms; *n_out measured members.  -1 without samples. */
static double group_cpu(struct scale *s, struct gstate *gs, int64_t warmup_ms, int64_t window_ms,
                        long long *n_out, long long *warming)
{
    struct nubo_err err;
    double sum = 0;
    long long n = 0;
    *warming = 0;
    for (size_t i = 0; i < gs->n; i++) {
        if (gs->now - gs->m[i].launched_ms < warmup_ms) {
            (*warming)++;
            continue;
        }
        json_t *r = store_query_one(s->st, &err,
                                    "SELECT AVG(cpu) AS v FROM instance_samples WHERE"
                                    " instance_id = ? AND project_id = ? AND ts_ms > ? AND"
                                    " ts_ms <= ? AND cpu IS NOT NULL",
                                    "ssii", gs->m[i].id, gs->project,
                                    (long long)(gs->now - window_ms), (long long)gs->now);
        json_t *v = json_object_get(r, "v");
        if (json_is_number(v)) {
            sum += json_number_value(v);
            n++;
        } else {
            (*warming)++; /* no data yet: counted like a warming instance */
        }
        json_decref(r);
    }
    *n_out = n;
    return n ? sum / (double)n : -1;
}

static void policy_mark(struct scale *s, const char *pid, bool out, int64_t now)
{
    struct nubo_err err;
    store_exec(s->st, &err,
               out ? "UPDATE scaling_policies SET last_out_ms = ? WHERE id = ?"
                   : "UPDATE scaling_policies SET last_in_ms = ? WHERE id = ?",
               "is", (long long)now, pid);
}

static void target_run(struct scale *s, struct gstate *gs, json_t *p)
{
    long long n, warming;
    double avg = group_cpu(s, gs, scale_int(p, "warmup_s") * 1000, scale_int(p, "window_s") * 1000,
                           &n, &warming);
    if (avg < 0)
        return;
    double target = json_number_value(json_object_get(p, "target_value"));
    long long want = scale_target_capacity(gs->desired, n, warming, avg, target, gs->min, gs->max);
    int64_t last_out = scale_int(p, "last_out_ms"), last_in = scale_int(p, "last_in_ms");
    int64_t last_any = last_out > last_in ? last_out : last_in;
    char cause[96], detail[128];
    snprintf(cause, sizeof(cause), "target tracking policy %s", jsonx_str(p, "name"));
    snprintf(detail, sizeof(detail), "average cpu %.1f%% of %lld instance(s), target %.1f%%", avg,
             n, target);
    if (want > gs->desired &&
        scale_cooldown_ok(gs->now, last_out, scale_int(p, "scale_out_cooldown_s") * 1000)) {
        desired_set(s, gs, want, cause, jsonx_str(p, "id"), detail);
        policy_mark(s, jsonx_str(p, "id"), true, gs->now);
    } else if (want < gs->desired &&
               scale_cooldown_ok(gs->now, last_any, scale_int(p, "scale_in_cooldown_s") * 1000)) {
        desired_set(s, gs, want, cause, jsonx_str(p, "id"), detail);
        policy_mark(s, jsonx_str(p, "id"), false, gs->now);
    }
}

/* The alarm's statistic over its latest window now: the alarm records its
 * value only when its state changes, and a step policy acting again while
 * the alarm stays in ALARM must see today's breach.  Falls back to the
 * recorded value when the window has no samples.  The metric and the
 * statistic pick SQL from constant tables, never from the row's text. */
static double alarm_value(struct scale *s, struct gstate *gs, const json_t *a)
{
    static const char *const cols[] = {"cpu",
                                       "memory",
                                       "disk_read_bytes",
                                       "disk_write_bytes",
                                       "disk_read_ops",
                                       "disk_write_ops",
                                       "net_rx_bytes",
                                       "net_tx_bytes",
                                       "net_rx_packets",
                                       "net_tx_packets"};
    static const char *const stats[][2] = {{"avg", "AVG"}, {"max", "MAX"}, {"min", "MIN"}};
    double fallback = json_number_value(json_object_get(a, "state_value"));
    const char *col = NULL, *fn = NULL;
    for (size_t i = 0; i < ARRAY_LEN(cols); i++)
        if (is(jsonx_str(a, "metric"), cols[i]))
            col = cols[i];
    for (size_t i = 0; i < ARRAY_LEN(stats); i++)
        if (is(jsonx_str(a, "statistic"), stats[i][0]))
            fn = stats[i][1];
    if (col == NULL || fn == NULL)
        return fallback;
    char sql[320];
    snprintf(sql, sizeof(sql),
             "SELECT %s(%s) AS v FROM instance_samples WHERE project_id = ? AND"
             " (? = '' OR instance_id = ?) AND ts_ms > ? AND ts_ms <= ? AND %s IS NOT NULL",
             fn, col, col);
    const char *inst = jsonx_str(a, "instance_id");
    struct nubo_err err;
    json_t *r =
        store_query_one(s->st, &err, sql, "sssii", gs->project, inst, inst,
                        (long long)(gs->now - scale_int(a, "window_s") * 1000), (long long)gs->now);
    json_t *v = json_object_get(r, "v");
    double out = json_is_number(v) ? json_number_value(v) : fallback;
    json_decref(r);
    return out;
}

static void step_run(struct scale *s, struct gstate *gs, json_t *p)
{
    struct nubo_err err;
    json_t *a = store_query_one(s->st, &err,
                                "SELECT name, state, state_value, threshold, metric, statistic,"
                                " instance_id, window_s FROM alarms WHERE id = ? AND"
                                " project_id = ?",
                                "ss", jsonx_str(p, "alarm_id"), gs->project);
    if (a == NULL)
        return;
    if (!is(jsonx_str(a, "state"), "ALARM")) {
        json_decref(a);
        return;
    }
    double value = alarm_value(s, gs, a);
    double delta = value - json_number_value(json_object_get(a, "threshold"));
    struct scale_step steps[SCALE_MAX_STEPS];
    size_t ns = 0;
    json_t *l = json_loads(jsonx_str(p, "steps"), 0, NULL);
    size_t i;
    json_t *b;
    json_array_foreach (l, i, b) {
        if (ns == SCALE_MAX_STEPS)
            break;
        json_t *lo = json_object_get(b, "lower"), *up = json_object_get(b, "upper");
        steps[ns].has_lower = json_is_number(lo);
        steps[ns].lower = json_number_value(lo);
        steps[ns].has_upper = json_is_number(up);
        steps[ns].upper = json_number_value(up);
        steps[ns].adjustment = (long long)json_integer_value(json_object_get(b, "adjustment"));
        ns++;
    }
    json_decref(l);
    int k = scale_step_select(steps, ns, delta);
    int64_t last = scale_int(p, "last_out_ms") > scale_int(p, "last_in_ms")
                       ? scale_int(p, "last_out_ms")
                       : scale_int(p, "last_in_ms");
    if (k >= 0 && scale_cooldown_ok(gs->now, last, scale_int(p, "scale_out_cooldown_s") * 1000)) {
        bool percent = is(jsonx_str(p, "adjustment_type"), "percent");
        long long want =
            scale_step_apply(gs->desired, steps[k].adjustment, percent, gs->min, gs->max);
        char cause[128], detail[160];
        snprintf(cause, sizeof(cause), "step policy %s (alarm %s)", jsonx_str(p, "name"),
                 jsonx_str(a, "name"));
        snprintf(detail, sizeof(detail), "alarm value %.2f, %+.2f from threshold: band %d, %+lld%s",
                 value, delta, k, steps[k].adjustment, percent ? "%" : "");
        if (want != gs->desired) {
            desired_set(s, gs, want, cause, jsonx_str(p, "id"), detail);
            policy_mark(s, jsonx_str(p, "id"), steps[k].adjustment > 0, gs->now);
        }
    }
    json_decref(a);
}

/* Step 3. */
static void policies_run(struct scale *s, struct gstate *gs)
{
    struct nubo_err err;
    json_t *rows = store_query(s->st, &err,
                               "SELECT * FROM scaling_policies WHERE group_id = ? ORDER BY"
                               " created_at, id",
                               "s", gs->id);
    size_t i;
    json_t *p;
    json_array_foreach (rows, i, p) {
        if (is(jsonx_str(p, "kind"), "target"))
            target_run(s, gs, p);
        else
            step_run(s, gs, p);
    }
    json_decref(rows);
}

/* ---------------------------------------------------------- launching */

static void group_failed(struct scale *s, struct gstate *gs, const char *why)
{
    struct nubo_err err;
    int failures = (int)scale_int(gs->g, "failures") + 1;
    int64_t wait = scale_backoff_ms(failures);
    if (!group_tx_begin(s, gs))
        return;
    bool ok = store_exec(s->st, &err,
                         "UPDATE scaling_groups SET failures = ?, next_attempt_ms = ? WHERE id = ?",
                         "iis", (long long)failures, (long long)(gs->now + wait), gs->id) >= 0;
    char detail[96];
    snprintf(detail, sizeof(detail), "attempt %d; next attempt in %lld s", failures,
             (long long)(wait / 1000));
    if (ok)
        scale_activity_add(s->st, gs->project, gs->id, "failed", NULL, NULL, why, detail);
    group_tx_end(s, gs, ok);
}

/* Launches one instance of the group's current version; -1 on failure
 * (recorded, back-off set). */
static int launch(struct scale *s, struct gstate *gs, const char *cause)
{
    struct nubo_err err = {0};
    json_t *v = store_query_one(s->st, &err,
                                "SELECT * FROM launch_template_versions WHERE template_id = ? AND"
                                " version = ?",
                                "si", jsonx_str(gs->g, "template_id"), gs->version);
    if (v == NULL) {
        group_failed(s, gs, "the launch template version is missing");
        return -1;
    }
    char name[80], hex[37];
    id_new(hex);
    snprintf(name, sizeof(name), "%s-%.8s", jsonx_str(gs->g, "name"), hex);
    struct compute_instance_spec spec = {
        .name = name,
        .flavor = jsonx_str(v, "flavor_id"),
        .image = jsonx_str(v, "image_id"),
        .keypair = json_string_value(json_object_get(v, "keypair")),
        .user_data = json_string_value(json_object_get(v, "user_data")),
        .server_group = json_string_value(json_object_get(v, "server_group_id")),
        .count = 1,
        .ha = true, /* a member is rebuilt elsewhere when its host dies */
    };
    /* The version's networks and security groups (JSON lists of ids or
     * names): one port per network on the new instance. */
    json_t *nets = json_loads(jsonx_str(v, "networks"), 0, NULL);
    json_t *sgl = json_loads(jsonx_str(v, "security_groups"), 0, NULL);
    struct network_nic nics[NETWORK_MAX_NICS];
    const char *sgs[NETWORK_MAX_SGS];
    size_t i;
    json_t *e;
    json_array_foreach (nets, i, e) {
        if (spec.nnics < NETWORK_MAX_NICS)
            nics[spec.nnics++] = (struct network_nic){.network = json_string_value(e)};
    }
    json_array_foreach (sgl, i, e) {
        if (spec.nsgs < NETWORK_MAX_SGS)
            sgs[spec.nsgs++] = json_string_value(e);
    }
    spec.nics = nics;
    spec.sgs = sgs;
    json_t *out = compute_instance_create(s->st, &gs->ctx, &s->cfg, &spec, &err);
    json_decref(nets);
    json_decref(sgl);
    json_decref(v);
    if (out == NULL) {
        char why[600];
        snprintf(why, sizeof(why), "launch failed: %s", err.msg);
        group_failed(s, gs, why);
        return -1;
    }
    json_t *inst = json_array_get(json_object_get(out, "instances"), 0);
    const char *iid = jsonx_str(inst, "id");
    if (is(jsonx_str(inst, "status"), "error")) {
        /* no host could take it: not an instance worth keeping */
        char why[600];
        snprintf(why, sizeof(why), "launch failed: %s", jsonx_str(inst, "fault"));
        json_t *d = compute_instance_delete(s->st, &gs->ctx, iid, &err);
        json_decref(d);
        json_decref(out);
        group_failed(s, gs, why);
        return -1;
    }
    char now[32];
    clock_stamp(now);
    /* The member, its launch activity and the reset back-off are one
     * change: nobody sees (and no crash leaves) a member whose group still
     * counts the failures before it. */
    if (store_begin(s->st, true, &err) < 0 ||
        store_exec(s->st, &err,
                   "INSERT INTO scale_members (instance_id, group_id, project_id,"
                   " template_version, state, launched_ms, created_at) VALUES"
                   " (?, ?, ?, ?, 'in_service', ?, ?)",
                   "sssiis", iid, gs->id, gs->project, gs->version, (long long)gs->now, now) < 0 ||
        store_exec(s->st, &err,
                   "UPDATE scaling_groups SET failures = 0, next_attempt_ms = 0 WHERE id = ?", "s",
                   gs->id) < 0)
        goto unlinked;
    char detail[128];
    snprintf(detail, sizeof(detail), "%s, template version %lld", name, gs->version);
    scale_activity_add(s->st, gs->project, gs->id, "launch", iid, NULL, cause, detail);
    if (store_commit(s->st, &err) == 0) {
        json_decref(out);
        return 0;
    }
unlinked:
    store_rollback(s->st);
    log_warn("scaling group %s: cannot link instance %s: %s", gs->id, iid, err.msg);
    json_t *d = compute_instance_delete(s->st, &gs->ctx, iid, &err);
    json_decref(d);
    json_decref(out);
    return -1;
}

/* Order of scale-in: old version first, then oldest- or newest-first. */
struct victim_order {
    long long version;
    bool newest_first;
};

static int victim_cmp(const void *a, const void *b, void *arg)
{
    const struct member *x = a, *y = b;
    const struct victim_order *o = arg;
    bool xo = x->version != o->version, yo = y->version != o->version;
    if (xo != yo)
        return xo ? -1 : 1;
    int c = strcmp(x->created_at, y->created_at);
    if (c == 0)
        c = strcmp(x->id, y->id);
    return o->newest_first ? -c : c;
}

static void blocked_set(struct scale *s, struct gstate *gs, const char *why)
{
    struct nubo_err err;
    if (is(jsonx_str(gs->g, "blocked"), why))
        return;
    if (!group_tx_begin(s, gs))
        return;
    bool ok = store_exec(s->st, &err, "UPDATE scaling_groups SET blocked = ? WHERE id = ?", "ss",
                         why, gs->id) >= 0;
    if (ok && *why)
        scale_activity_add(s->st, gs->project, gs->id, "blocked", NULL, NULL, why, NULL);
    group_tx_end(s, gs, ok);
}

/* Step 4. */
static void converge(struct scale *s, struct gstate *gs)
{
    long long n = (long long)gs->n, outdated = 0, pending_new = 0;
    for (size_t i = 0; i < gs->n; i++) {
        if (gs->m[i].version != gs->version)
            outdated++;
        else if (!gs->m[i].running)
            pending_new++;
    }
    bool may_launch = gs->now >= scale_int(gs->g, "next_attempt_ms");
    if (n < gs->desired) {
        if (!may_launch)
            return;
        for (long long k = n; k < gs->desired; k++)
            if (launch(s, gs, "below desired") < 0)
                return;
        return;
    }
    if (n > gs->desired) {
        if (outdated > 0 && pending_new > 0)
            return; /* rolling: the new batch must run before old ones go */
        struct member *c = xcalloc(gs->n + 1, sizeof(*c));
        size_t nc = 0;
        for (size_t i = 0; i < gs->n; i++)
            if (!gs->m[i].protected_)
                c[nc++] = gs->m[i];
        struct victim_order o = {gs->version,
                                 is(jsonx_str(gs->g, "termination_policy"), "newest-first")};
        qsort_r(c, nc, sizeof(*c), victim_cmp, &o);
        long long surplus = n - gs->desired;
        long long k = 0;
        for (; k < surplus && (size_t)k < nc; k++)
            terminate(s, gs, c[k].id, true,
                      c[k].version != gs->version ? "rolling replacement: old template version"
                                                  : "above desired",
                      NULL);
        free(c);
        if (k < surplus) {
            char why[160];
            snprintf(why, sizeof(why),
                     "cannot scale in to %lld: %lld instance(s) are protected from scale-in",
                     gs->desired, surplus - k);
            blocked_set(s, gs, why);
        } else {
            blocked_set(s, gs, "");
        }
        return;
    }
    blocked_set(s, gs, "");
    if (outdated > 0 && pending_new == 0 && may_launch) {
        long long batch = scale_int(gs->g, "rolling_batch");
        if (batch > outdated)
            batch = outdated;
        for (long long k = 0; k < batch; k++)
            if (launch(s, gs, "rolling replacement: new template version") < 0)
                return;
    }
}

static void group_run(struct scale *s, json_t *g)
{
    struct gstate gs = {.g = g};
    gs.id = jsonx_str(g, "id");
    gs.project = jsonx_str(g, "project_id");
    gs.now = clock_now_ms();
    gs.min = scale_int(g, "min_size");
    gs.max = scale_int(g, "max_size");
    gs.desired = scale_int(g, "desired");
    json_t *tv = json_object_get(g, "template_version");
    gs.version = json_is_integer(tv) ? json_integer_value(tv) : scale_int(g, "default_version");
    scale_group_ctx(g, &gs.ctx);
    if (members_load(s, &gs) == 0) {
        schedules_run(s, &gs);
        policies_run(s, &gs);
        converge(s, &gs);
    }
    free(gs.m);
    json_decref(gs.rows);
}

void scale_run_once(struct scale *s)
{
    struct nubo_err err;
    json_t *ids = store_query(s->st, &err,
                              "SELECT id, project_id FROM scaling_groups WHERE status = 'active'"
                              " ORDER BY created_at, id",
                              "");
    if (ids == NULL) {
        log_warn("scale pass: %s", err.msg);
        return;
    }
    size_t i;
    json_t *r;
    json_array_foreach (ids, i, r) {
        pthread_mutex_lock(&scale_lock);
        json_t *g = scale_group_find(s->st, jsonx_str(r, "project_id"), jsonx_str(r, "id"), &err);
        if (g && is(jsonx_str(g, "status"), "active"))
            group_run(s, g);
        json_decref(g);
        pthread_mutex_unlock(&scale_lock);
    }
    json_decref(ids);
}
