/*
 * policy.c - scaling policies (target tracking, step) and scheduled
 * actions: create, list, show, delete.  pass.c applies them.
 */
#include "scale/scale.h"
#include "scale/scale_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/util.h"
#include "lib/valid.h"

#define POLICY_SELECT                                                                              \
    "SELECT p.id, p.name, p.project_id, p.group_id, g.name AS group_name, p.kind, p.metric,"       \
    " p.target_value, p.warmup_s, p.window_s, p.scale_out_cooldown_s, p.scale_in_cooldown_s, "     \
    "p.alarm_id,"                                                                                  \
    " p.adjustment_type, p.steps, p.created_at, p.updated_at FROM scaling_policies p"              \
    " JOIN scaling_groups g ON g.id = p.group_id"

#define SCHEDULE_SELECT                                                                            \
    "SELECT s.id, s.name, s.project_id, s.group_id, g.name AS group_name, s.cron, s.min_size,"     \
    " s.max_size, s.desired, s.next_run_ms, s.last_run_ms, s.created_at, s.updated_at"             \
    " FROM scheduled_actions s JOIN scaling_groups g ON g.id = s.group_id"

static json_t *policy_json(json_t *r)
{
    json_t *steps = json_loads(jsonx_str(r, "steps"), 0, NULL);
    json_object_set_new(r, "steps", steps ? steps : json_null());
    return r;
}

static json_t *schedule_json(json_t *r)
{
    static const char *const ms[] = {"next_run_ms", "last_run_ms"};
    static const char *const at[] = {"next_run_at", "last_run_at"};
    for (size_t k = 0; k < 2; k++) {
        json_t *v = json_object_get(r, ms[k]);
        if (json_is_integer(v)) {
            char s[32];
            clock_format_ms(json_integer_value(v), s);
            json_object_set_new(r, at[k], json_string(s));
        } else {
            json_object_set_new(r, at[k], json_null());
        }
        json_object_del(r, ms[k]);
    }
    return r;
}

/* The group a body names ("group": id or name) in the project. */
static json_t *body_group(struct store *st, const struct ctx *ctx, json_t *body,
                          struct nubo_err *err)
{
    const char *ref = NULL;
    if (scale_body_str(body, "group", true, &ref, err) < 0)
        return NULL;
    if (valid_name(ref, "group", NULL) < 0) {
        nubo_err_set(err, NUBO_E_INVALID, "'group' must be a scaling group's id or name");
        return NULL;
    }
    json_t *g = scale_group_find(st, ctx->project_id, ref, err);
    if (g == NULL && err->code == NUBO_E_NOTFOUND)
        nubo_err_set(err, NUBO_E_INVALID, "'group': no scaling group '%s' in this project", ref);
    return g;
}

/* Reads and checks steps: [{lower?, upper?, adjustment}], sorted, not
 * overlapping; writes its JSON into *text (malloc'd). */
static int steps_read(json_t *body, char **text, struct nubo_err *err)
{
    json_t *l = json_object_get(body, "steps");
    if (!json_is_array(l) || json_array_size(l) < 1 || json_array_size(l) > SCALE_MAX_STEPS)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "'steps' must be a list of 1 to %d bands {lower, upper, adjustment}",
                            SCALE_MAX_STEPS);
    json_t *norm = json_array();
    double prev_upper = 0;
    bool prev_open = false;
    size_t i;
    json_t *s;
    json_array_foreach (l, i, s) {
        json_t *lo = json_object_get(s, "lower"), *up = json_object_get(s, "upper");
        json_t *adj = json_object_get(s, "adjustment");
        if (!json_is_object(s) || json_object_size(s) > 3 ||
            (lo && !json_is_null(lo) && !json_is_number(lo)) ||
            (up && !json_is_null(up) && !json_is_number(up)) || !json_is_integer(adj) ||
            json_integer_value(adj) == 0 || json_integer_value(adj) < -1000 ||
            json_integer_value(adj) > 1000) {
            json_decref(norm);
            return nubo_err_set(err, NUBO_E_INVALID,
                                "'steps'[%zu] must be {lower: number|null, upper: number|null,"
                                " adjustment: a non-zero integer from -1000 to 1000}",
                                i);
        }
        bool has_lo = lo && !json_is_null(lo), has_up = up && !json_is_null(up);
        double lv = has_lo ? json_number_value(lo) : 0, uv = has_up ? json_number_value(up) : 0;
        if ((has_lo && has_up && lv >= uv) ||
            (i > 0 && (!has_lo || prev_open || lv < prev_upper)) ||
            (i + 1 < json_array_size(l) && !has_up)) {
            json_decref(norm);
            return nubo_err_set(err, NUBO_E_INVALID,
                                "'steps' must be bands in increasing order that do not overlap "
                                "(lower < upper; only the first may lack lower, only the last "
                                "upper); band %zu is not",
                                i);
        }
        prev_upper = uv;
        prev_open = !has_up;
        json_array_append_new(norm, json_pack("{s:o, s:o, s:I}", "lower",
                                              has_lo ? json_real(lv) : json_null(), "upper",
                                              has_up ? json_real(uv) : json_null(), "adjustment",
                                              json_integer_value(adj)));
    }
    *text = json_dumps(norm, JSON_COMPACT);
    json_decref(norm);
    return 0;
}

json_t *scale_policy_create(struct store *st, const struct ctx *ctx, json_t *body,
                            struct nubo_err *err)
{
    const char *name = NULL, *kind = NULL, *alarm = NULL, *adj_type = "change", *metric = "cpu";
    double target = 0;
    long long warmup = 60, window = 60, out_cd = 60, in_cd = 300, cd = -1;
    char *steps = NULL, id[37], now[32];
    json_t *g = NULL, *a = NULL, *out = NULL;
    bool set;
    if (scale_body_str(body, "name", true, &name, err) < 0 ||
        valid_name(name, "policy name", err) < 0 ||
        scale_body_str(body, "kind", true, &kind, err) < 0)
        return NULL;
    g = body_group(st, ctx, body, err);
    if (g == NULL)
        return NULL;
    if (strcmp(kind, "target") == 0) {
        if (scale_body_str(body, "metric", false, &metric, err) < 0 ||
            scale_body_num(body, "target_value", true, 1, 100, &target, &set, err) < 0 ||
            scale_body_int(body, "warmup_s", false, 0, 3600, &warmup, &set, err) < 0 ||
            scale_body_int(body, "window_s", false, 5, 3600, &window, &set, err) < 0 ||
            scale_body_int(body, "scale_out_cooldown_s", false, 0, 86400, &out_cd, &set, err) < 0 ||
            scale_body_int(body, "scale_in_cooldown_s", false, 0, 86400, &in_cd, &set, err) < 0)
            goto cleanup;
        if (strcmp(metric, "cpu") != 0) {
            nubo_err_set(err, NUBO_E_INVALID, "'metric': target tracking follows \"cpu\" only");
            goto cleanup;
        }
        static const char *const not_here[] = {"alarm", "steps", "adjustment_type", "cooldown_s"};
        for (size_t k = 0; k < ARRAY_LEN(not_here); k++)
            if (json_object_get(body, not_here[k])) {
                nubo_err_set(err, NUBO_E_INVALID, "'%s' is for step policies only", not_here[k]);
                goto cleanup;
            }
    } else if (strcmp(kind, "step") == 0) {
        if (scale_body_str(body, "alarm", true, &alarm, err) < 0 ||
            scale_body_str(body, "adjustment_type", false, &adj_type, err) < 0 ||
            scale_body_int(body, "cooldown_s", false, 0, 86400, &cd, &set, err) < 0)
            goto cleanup;
        static const char *const not_here[] = {
            "target_value",        "warmup_s", "window_s", "scale_out_cooldown_s",
            "scale_in_cooldown_s", "metric"};
        for (size_t k = 0; k < ARRAY_LEN(not_here); k++)
            if (json_object_get(body, not_here[k])) {
                nubo_err_set(err, NUBO_E_INVALID, "'%s' is for target policies only", not_here[k]);
                goto cleanup;
            }
        if (strcmp(adj_type, "change") != 0 && strcmp(adj_type, "percent") != 0) {
            nubo_err_set(err, NUBO_E_INVALID, "'adjustment_type' must be change or percent");
            goto cleanup;
        }
        if (steps_read(body, &steps, err) < 0)
            goto cleanup;
        if (valid_name(alarm, "alarm", NULL) < 0) {
            nubo_err_set(err, NUBO_E_INVALID, "'alarm' must be an alarm's id or name");
            goto cleanup;
        }
        struct nubo_err qerr = {0};
        a = store_query_one(st, &qerr,
                            "SELECT id FROM alarms WHERE project_id = ? AND (id = ? OR name = ?)",
                            "sss", ctx->project_id, alarm, alarm);
        if (a == NULL) {
            if (qerr.code == NUBO_E_NOTFOUND)
                nubo_err_set(err, NUBO_E_INVALID, "'alarm': no alarm '%s' in this project", alarm);
            else
                *err = qerr;
            goto cleanup;
        }
        if (cd < 0)
            cd = scale_int(g, "cooldown_s");
        out_cd = in_cd = cd;
        warmup = 0;
    } else {
        nubo_err_set(err, NUBO_E_INVALID, "'kind' must be target or step");
        goto cleanup;
    }
    id_new(id);
    clock_stamp(now);
    bool is_target = strcmp(kind, "target") == 0;
    /* The count and the insert in one write transaction: the quota. */
    if (store_begin(st, true, err) < 0)
        goto cleanup;
    if (scale_quota_check(st, ctx->project_id, QUOTA_SCALING_POLICIES, err) < 0 ||
        store_exec(st, err,
                   "INSERT INTO scaling_policies (id, project_id, group_id, name, kind, metric,"
                   " target_value, warmup_s, window_s, scale_out_cooldown_s, scale_in_cooldown_s,"
                   " alarm_id, adjustment_type, steps, created_at, updated_at) VALUES"
                   " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   "ssssssdiiiisssss", id, ctx->project_id, jsonx_str(g, "id"), name, kind, metric,
                   target, warmup, window, out_cd, in_cd, a ? jsonx_str(a, "id") : NULL,
                   is_target ? NULL : adj_type, steps, now, now) < 0 ||
        store_commit(st, err) < 0) {
        if (err->code == NUBO_E_CONFLICT)
            nubo_err_set(err, NUBO_E_CONFLICT, "group '%s' has a policy named '%s' already",
                         jsonx_str(g, "name"), name);
        store_rollback(st);
        goto cleanup;
    }
    out = scale_policy_get(st, ctx, id, err);
cleanup:
    free(steps);
    json_decref(a);
    json_decref(g);
    if (out)
        scale_changed();
    return out;
}

json_t *scale_policy_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                          struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    if (store_page_start(st, &pg, err,
                         "SELECT created_at FROM scaling_policies WHERE id = ? AND project_id = ?",
                         "ss", marker, ctx->project_id) < 0)
        return NULL;
    json_t *rows = store_page_query(st, &pg, "p.created_at, p.id", err,
                                    POLICY_SELECT " WHERE p.project_id = ?", "s", ctx->project_id);
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r)
        policy_json(r);
    return rows;
}

json_t *scale_policy_get(struct store *st, const struct ctx *ctx, const char *id,
                         struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *r = store_query_one(st, &qerr, POLICY_SELECT " WHERE p.project_id = ? AND p.id = ?",
                                "ss", ctx->project_id, id);
    if (r == NULL) {
        if (qerr.code == NUBO_E_NOTFOUND)
            nubo_err_set(err, NUBO_E_NOTFOUND, "no scaling policy '%.40s'", id);
        else
            *err = qerr;
        return NULL;
    }
    return policy_json(r);
}

int scale_policy_delete(struct store *st, const struct ctx *ctx, const char *id,
                        struct nubo_err *err)
{
    long long n =
        store_exec(st, err, "DELETE FROM scaling_policies WHERE id = ? AND project_id = ?", "ss",
                   id, ctx->project_id);
    if (n == 0)
        return nubo_err_set(err, NUBO_E_NOTFOUND, "no scaling policy '%.40s'", id);
    return n < 0 ? -1 : 0;
}

/* ---------------------------------------------------- scheduled actions */

json_t *scale_schedule_create(struct store *st, const struct ctx *ctx, json_t *body,
                              struct nubo_err *err)
{
    const char *name = NULL, *cron = NULL;
    long long v[3] = {0, 0, 0};
    bool set[3];
    static const char *const keys[3] = {"min_size", "max_size", "desired"};
    char id[37], now[32];
    struct scale_cron c;
    json_t *g = NULL, *out = NULL;
    if (scale_body_str(body, "name", true, &name, err) < 0 ||
        valid_name(name, "schedule name", err) < 0 ||
        scale_body_str(body, "cron", true, &cron, err) < 0 || scale_cron_parse(cron, &c, err) < 0)
        return NULL;
    for (int k = 0; k < 3; k++)
        if (scale_body_int(body, keys[k], false, 0, SCALE_MAX_SIZE, &v[k], &set[k], err) < 0)
            return NULL;
    if (!set[0] && !set[1] && !set[2]) {
        nubo_err_set(err, NUBO_E_INVALID, "give at least one of min_size, max_size, desired");
        return NULL;
    }
    if (set[0] && set[1] && v[0] > v[1]) {
        nubo_err_set(err, NUBO_E_INVALID, "min_size (%lld) is larger than max_size (%lld)", v[0],
                     v[1]);
        return NULL;
    }
    if ((set[2] && set[0] && v[2] < v[0]) || (set[2] && set[1] && v[2] > v[1])) {
        nubo_err_set(err, NUBO_E_INVALID, "desired (%lld) must be from min_size to max_size", v[2]);
        return NULL;
    }
    int64_t next = scale_cron_next(&c, clock_now_ms());
    if (next < 0) {
        nubo_err_set(err, NUBO_E_INVALID, "'cron' \"%s\" never fires in the next 5 years", cron);
        return NULL;
    }
    g = body_group(st, ctx, body, err);
    if (g == NULL)
        return NULL;
    id_new(id);
    clock_stamp(now);
    if (store_begin(st, true, err) < 0)
        goto cleanup;
    if (scale_quota_check(st, ctx->project_id, QUOTA_SCHEDULED_ACTIONS, err) < 0)
        goto cleanup;
    if (store_exec(st, err,
                   "INSERT INTO scheduled_actions (id, project_id, group_id, name, cron,"
                   " next_run_ms, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   "sssssiss", id, ctx->project_id, jsonx_str(g, "id"), name, cron, (long long)next,
                   now, now) < 0) {
        if (err->code == NUBO_E_CONFLICT)
            nubo_err_set(err, NUBO_E_CONFLICT, "group '%s' has a schedule named '%s' already",
                         jsonx_str(g, "name"), name);
        goto cleanup;
    }
    for (int k = 0; k < 3; k++) {
        char sql[96];
        if (!set[k])
            continue;
        snprintf(sql, sizeof(sql), "UPDATE scheduled_actions SET %s = ? WHERE id = ?", keys[k]);
        if (store_exec(st, err, sql, "is", v[k], id) < 0)
            goto cleanup;
    }
    out = scale_schedule_get(st, ctx, id, err);
    if (out && store_commit(st, err) < 0) {
        json_decref(out);
        out = NULL;
    }
cleanup:
    if (out == NULL)
        store_rollback(st);
    json_decref(g);
    if (out)
        scale_changed();
    return out;
}

json_t *scale_schedule_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                            struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    if (store_page_start(st, &pg, err,
                         "SELECT created_at FROM scheduled_actions WHERE id = ? AND project_id = ?",
                         "ss", marker, ctx->project_id) < 0)
        return NULL;
    json_t *rows =
        store_page_query(st, &pg, "s.created_at, s.id", err,
                         SCHEDULE_SELECT " WHERE s.project_id = ?", "s", ctx->project_id);
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r)
        schedule_json(r);
    return rows;
}

json_t *scale_schedule_get(struct store *st, const struct ctx *ctx, const char *id,
                           struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *r = store_query_one(st, &qerr, SCHEDULE_SELECT " WHERE s.project_id = ? AND s.id = ?",
                                "ss", ctx->project_id, id);
    if (r == NULL) {
        if (qerr.code == NUBO_E_NOTFOUND)
            nubo_err_set(err, NUBO_E_NOTFOUND, "no scheduled action '%.40s'", id);
        else
            *err = qerr;
        return NULL;
    }
    return schedule_json(r);
}

int scale_schedule_delete(struct store *st, const struct ctx *ctx, const char *id,
                          struct nubo_err *err)
{
    long long n =
        store_exec(st, err, "DELETE FROM scheduled_actions WHERE id = ? AND project_id = ?", "ss",
                   id, ctx->project_id);
    if (n == 0)
        return nubo_err_set(err, NUBO_E_NOTFOUND, "no scheduled action '%.40s'", id);
    return n < 0 ? -1 : 0;
}
