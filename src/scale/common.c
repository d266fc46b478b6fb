/*
 * common.c - helpers shared by the autoscaling services; see scale_int.h.
 */
#include "scale/scale.h"
#include "scale/scale_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/valid.h"

static void (*hook_fn)(void *);
static void *hook_arg;

void scale_set_change_hook(void (*fn)(void *), void *arg)
{
    hook_fn = fn;
    hook_arg = arg;
}

void scale_changed(void)
{
    if (hook_fn)
        hook_fn(hook_arg);
}

pthread_mutex_t scale_lock = PTHREAD_MUTEX_INITIALIZER;

long long scale_int(const json_t *row, const char *key)
{
    return (long long)json_integer_value(json_object_get(row, key));
}

int scale_body_str(json_t *body, const char *key, bool required, const char **out,
                   struct nubo_err *err)
{
    json_t *v = json_object_get(body, key);
    if (v == NULL || (json_is_null(v) && !required)) {
        if (required)
            return nubo_err_set(err, NUBO_E_INVALID, "'%s' is required", key);
        return 0;
    }
    if (!json_is_string(v))
        return nubo_err_set(err, NUBO_E_INVALID, "'%s' must be a string", key);
    *out = json_string_value(v);
    return 0;
}

int scale_body_int(json_t *body, const char *key, bool required, long long min, long long max,
                   long long *out, bool *set, struct nubo_err *err)
{
    json_t *v = json_object_get(body, key);
    if (set)
        *set = false;
    if (v == NULL) {
        if (required)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "'%s' is required (an integer from %lld to "
                                "%lld)",
                                key, min, max);
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return nubo_err_set(err, NUBO_E_INVALID, "'%s' must be an integer from %lld to %lld", key,
                            min, max);
    *out = (long long)json_integer_value(v);
    if (set)
        *set = true;
    return 0;
}

int scale_body_num(json_t *body, const char *key, bool required, double min, double max,
                   double *out, bool *set, struct nubo_err *err)
{
    json_t *v = json_object_get(body, key);
    if (set)
        *set = false;
    if (v == NULL) {
        if (required)
            return nubo_err_set(err, NUBO_E_INVALID, "'%s' is required (a number from %g to %g)",
                                key, min, max);
        return 0;
    }
    double d = json_number_value(v);
    if (!json_is_number(v) || !isfinite(d) || d < min || d > max)
        return nubo_err_set(err, NUBO_E_INVALID, "'%s' must be a number from %g to %g", key, min,
                            max);
    *out = d;
    if (set)
        *set = true;
    return 0;
}

json_t *scale_group_find(struct store *st, const char *project_id, const char *ref,
                         struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *row = store_query_one(st, &qerr,
                                  "SELECT g.*, t.name AS template_name, t.default_version"
                                  " FROM scaling_groups g JOIN launch_templates t ON"
                                  " t.id = g.template_id WHERE g.project_id = ? AND"
                                  " (g.id = ? OR g.name = ?)",
                                  "sss", project_id, ref, ref);
    if (row == NULL) {
        if (qerr.code != NUBO_E_NOTFOUND)
            nubo_err_set(err, qerr.code, "%s", qerr.msg);
        else
            nubo_err_set(err, NUBO_E_NOTFOUND, "no scaling group '%.64s'", ref);
    }
    return row;
}

void scale_activity_add(struct store *st, const char *project_id, const char *group_id,
                        const char *kind, const char *instance_id, const char *policy_id,
                        const char *cause, const char *detail)
{
    char id[37], now[32], at[32];
    struct nubo_err err;
    id_new(id);
    clock_stamp(now);
    clock_now_str(at);
    if (store_exec(
            st, &err,
            "INSERT INTO scale_activities (id, project_id, group_id, kind, instance_id,"
            " policy_id, cause, detail, at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            "ssssssssss", id, project_id, group_id, kind, instance_id, policy_id, cause,
            detail ? detail : "", at, now) < 0)
        log_warn("scaling group %s: cannot record an activity: %s", group_id, err.msg);
    else
        log_info("scaling group %s: %s%s%s: %s%s%s", group_id, kind, instance_id ? " " : "",
                 instance_id ? instance_id : "", cause, detail && *detail ? ": " : "",
                 detail ? detail : "");
}

void scale_group_ctx(const json_t *group, struct ctx *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
    str_copy(ctx->project_id, sizeof(ctx->project_id), jsonx_str(group, "project_id"));
    str_copy(ctx->user_id, sizeof(ctx->user_id), jsonx_str(group, "user_id"));
    snprintf(ctx->user_name, sizeof(ctx->user_name), "autoscale");
    snprintf(ctx->request_id, sizeof(ctx->request_id), "autoscale-%.36s", jsonx_str(group, "id"));
    ctx->role = ROLE_MEMBER;
}

bool scale_instance_in_group(struct store *st, const char *instance_id)
{
    struct nubo_err err;
    json_t *r = store_query_one(st, &err,
                                "SELECT instance_id FROM scale_members WHERE instance_id = ? AND"
                                " state = 'in_service'",
                                "s", instance_id);
    json_decref(r);
    return r != NULL;
}

/* ------------------------------------------------------------- quotas */

static int count_of(struct store *st, const char *project_id, enum quota_dim dim, long long *n,
                    struct nubo_err *err)
{
    static const char *const count_sql[QUOTA_DIMS] = {
        [QUOTA_LAUNCH_TEMPLATES] =
            "SELECT COUNT(*) AS n FROM launch_templates WHERE project_id = ?",
        [QUOTA_SCALING_GROUPS] = "SELECT COUNT(*) AS n FROM scaling_groups WHERE project_id = ?",
        [QUOTA_SCALING_POLICIES] =
            "SELECT COUNT(*) AS n FROM scaling_policies WHERE project_id = ?",
        [QUOTA_SCHEDULED_ACTIONS] =
            "SELECT COUNT(*) AS n FROM scheduled_actions WHERE project_id = ?",
    };
    const char *sql = (unsigned)dim < QUOTA_DIMS ? count_sql[dim] : NULL;
    if (sql == NULL)
        return nubo_err_set(err, NUBO_E_INTERNAL, "scale counts no quota dimension %d", (int)dim);
    json_t *r = store_query_one(st, err, sql, "s", project_id);
    if (r == NULL)
        return -1;
    *n = scale_int(r, "n");
    json_decref(r);
    return 0;
}

int scale_quota_check(struct store *st, const char *project_id, enum quota_dim dim,
                      struct nubo_err *err)
{
    long long n = 0;
    if (count_of(st, project_id, dim, &n, err) < 0)
        return -1;
    return quota_check_count(st, project_id, dim, 1, n, err);
}

int scale_quota_usage(struct store *st, const char *project_id, long long used[QUOTA_DIMS],
                      struct nubo_err *err)
{
    static const enum quota_dim mine[] = {QUOTA_LAUNCH_TEMPLATES, QUOTA_SCALING_GROUPS,
                                          QUOTA_SCALING_POLICIES, QUOTA_SCHEDULED_ACTIONS};
    for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++)
        if (count_of(st, project_id, mine[i], &used[mine[i]], err) < 0)
            return -1;
    return 0;
}
