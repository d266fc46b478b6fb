/*
 * group.c - autoscaling groups: create, list, show (with instances),
 * update (sizes, template version, settings), delete (with the group's
 * instances), activity history and per-instance scale-in protection.
 *
 * The services only write what the group should be; the scale pass
 * (pass.c) launches and terminates.  The API kicks the controller after a
 * change so the pass runs at once.
 */
#include "scale/scale.h"
#include "scale/scale_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compute/compute.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/valid.h"

/* Group names leave room for "-" and 8 hex digits in instance names. */
#define GROUP_NAME_MAX 50

static const char *const term_policies[] = {"oldest-first", "newest-first", NULL};

static bool word_in(const char *s, const char *const words[])
{
    for (const char *const *w = words; s && *w; w++)
        if (strcmp(s, *w) == 0)
            return true;
    return false;
}

/* The API shape of a row of scale_group_find (consumed). */
static json_t *group_json(struct store *st, json_t *g, bool with_instances, struct nubo_err *err)
{
    json_t *tv = json_object_get(g, "template_version");
    long long eff = json_is_integer(tv) ? json_integer_value(tv) : scale_int(g, "default_version");
    json_t *out = json_pack(
        "{s:s, s:s, s:s, s:{s:s, s:s}, s:O, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:s,"
        " s:s, s:s}",
        "id", jsonx_str(g, "id"), "name", jsonx_str(g, "name"), "project_id",
        jsonx_str(g, "project_id"), "template", "id", jsonx_str(g, "template_id"), "name",
        jsonx_str(g, "template_name"), "template_version", tv ? tv : json_null(),
        "effective_version", (json_int_t)eff, "min_size", (json_int_t)scale_int(g, "min_size"),
        "max_size", (json_int_t)scale_int(g, "max_size"), "desired",
        (json_int_t)scale_int(g, "desired"), "health_grace_s",
        (json_int_t)scale_int(g, "health_grace_s"), "cooldown_s",
        (json_int_t)scale_int(g, "cooldown_s"), "termination_policy",
        jsonx_str(g, "termination_policy"), "rolling_batch",
        (json_int_t)scale_int(g, "rolling_batch"), "status", jsonx_str(g, "status"), "created_at",
        jsonx_str(g, "created_at"), "updated_at", jsonx_str(g, "updated_at"));
    json_object_set_new(out, "failures", json_integer(scale_int(g, "failures")));
    json_object_set_new(out, "blocked", json_string(jsonx_str(g, "blocked")));
    json_t *rows = store_query(st, err,
                               "SELECT m.instance_id AS id, i.name, i.status, m.template_version,"
                               " m.protected, m.state, m.created_at FROM scale_members m"
                               " LEFT JOIN instances i ON i.id = m.instance_id WHERE m.group_id = ?"
                               " ORDER BY m.created_at, m.instance_id",
                               "s", jsonx_str(g, "id"));
    json_decref(g);
    if (rows == NULL) {
        json_decref(out);
        return NULL;
    }
    size_t i, in_service = 0;
    json_t *r;
    json_array_foreach (rows, i, r) {
        json_object_set_new(r, "protected", json_boolean(scale_int(r, "protected")));
        if (strcmp(jsonx_str(r, "state"), "in_service") == 0)
            in_service++;
    }
    json_object_set_new(out, "size", json_integer((json_int_t)in_service));
    if (with_instances)
        json_object_set_new(out, "instances", rows);
    else
        json_decref(rows);
    return out;
}

/* Size settings read from a body over the current values. */
struct sizes {
    long long min, max, desired, grace, cooldown, batch;
    const char *term;
    bool set_desired;
};

static int sizes_read(json_t *body, struct sizes *s, struct nubo_err *err)
{
    bool set;
    if (scale_body_int(body, "min_size", false, 0, SCALE_MAX_SIZE, &s->min, &set, err) < 0 ||
        scale_body_int(body, "max_size", false, 0, SCALE_MAX_SIZE, &s->max, &set, err) < 0 ||
        scale_body_int(body, "desired", false, 0, SCALE_MAX_SIZE, &s->desired, &s->set_desired,
                       err) < 0 ||
        scale_body_int(body, "health_grace_s", false, 0, 86400, &s->grace, &set, err) < 0 ||
        scale_body_int(body, "cooldown_s", false, 0, 86400, &s->cooldown, &set, err) < 0 ||
        scale_body_int(body, "rolling_batch", false, 1, SCALE_MAX_SIZE, &s->batch, &set, err) < 0 ||
        scale_body_str(body, "termination_policy", false, &s->term, err) < 0)
        return -1;
    if (!word_in(s->term, term_policies))
        return nubo_err_set(err, NUBO_E_INVALID,
                            "'termination_policy' must be oldest-first or newest-first");
    if (s->min > s->max)
        return nubo_err_set(err, NUBO_E_INVALID, "min_size (%lld) is larger than max_size (%lld)",
                            s->min, s->max);
    if (s->desired < s->min || s->desired > s->max)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "desired (%lld) must be from min_size (%lld) to max_size (%lld)",
                            s->desired, s->min, s->max);
    return 0;
}

/* template_version from a body: *set, and *null for "the default". */
static int version_read(json_t *body, bool *set, long long *v, struct nubo_err *err)
{
    json_t *tv = json_object_get(body, "template_version");
    *set = tv != NULL;
    *v = 0;
    if (tv == NULL || json_is_null(tv))
        return 0;
    if (!json_is_integer(tv) || json_integer_value(tv) < 1)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "'template_version' must be a version number, or null for the "
                            "template's default version");
    *v = (long long)json_integer_value(tv);
    return 0;
}

json_t *scale_group_create(struct store *st, const struct ctx *ctx, json_t *body,
                           struct nubo_err *err)
{
    const char *name = NULL, *tref = NULL;
    struct sizes s = {.grace = 300, .cooldown = 300, .batch = 1, .term = "oldest-first"};
    bool vset, set;
    long long ver;
    json_t *t = NULL, *out = NULL;
    char id[37], now[32];
    if (scale_body_str(body, "name", true, &name, err) < 0 ||
        valid_name(name, "group name", err) < 0)
        return NULL;
    if (strlen(name) > GROUP_NAME_MAX) {
        nubo_err_set(err, NUBO_E_INVALID, "a group name holds at most %d characters",
                     GROUP_NAME_MAX);
        return NULL;
    }
    if (scale_body_str(body, "template", true, &tref, err) < 0 ||
        scale_body_int(body, "min_size", true, 0, SCALE_MAX_SIZE, &s.min, &set, err) < 0 ||
        scale_body_int(body, "max_size", true, 0, SCALE_MAX_SIZE, &s.max, &set, err) < 0)
        return NULL;
    s.desired = s.min;
    if (sizes_read(body, &s, err) < 0 || version_read(body, &vset, &ver, err) < 0)
        return NULL;
    if (valid_name(tref, "template", NULL) < 0) {
        nubo_err_set(err, NUBO_E_INVALID, "'template' must be a launch template's id or name");
        return NULL;
    }
    if (store_begin(st, true, err) < 0)
        return NULL;
    if (scale_quota_check(st, ctx->project_id, QUOTA_SCALING_GROUPS, err) < 0)
        goto cleanup;
    struct nubo_err qerr = {0};
    t = store_query_one(st, &qerr,
                        "SELECT id, latest_version FROM launch_templates WHERE project_id = ? AND"
                        " (id = ? OR name = ?)",
                        "sss", ctx->project_id, tref, tref);
    if (t == NULL) {
        if (qerr.code == NUBO_E_NOTFOUND)
            nubo_err_set(err, NUBO_E_INVALID, "'template': no launch template '%s' in this project",
                         tref);
        else
            *err = qerr;
        goto cleanup;
    }
    if (ver > scale_int(t, "latest_version")) {
        nubo_err_set(err, NUBO_E_INVALID, "'template_version' must be from 1 to %lld, or null",
                     scale_int(t, "latest_version"));
        goto cleanup;
    }
    id_new(id);
    clock_stamp(now);
    if (store_exec(st, err,
                   "INSERT INTO scaling_groups (id, project_id, user_id, name, template_id,"
                   " template_version, min_size, max_size, desired, health_grace_s, cooldown_s,"
                   " termination_policy, rolling_batch, status, created_at, updated_at) VALUES"
                   " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)",
                   "sssssiiiiiisiss", id, ctx->project_id, ctx->user_id, name, jsonx_str(t, "id"),
                   ver, s.min, s.max, s.desired, s.grace, s.cooldown, s.term, s.batch, now,
                   now) < 0) {
        if (err->code == NUBO_E_CONFLICT)
            nubo_err_set(err, NUBO_E_CONFLICT,
                         "a scaling group named '%s' exists in this project already", name);
        goto cleanup;
    }
    if (ver == 0 &&
        store_exec(st, err, "UPDATE scaling_groups SET template_version = NULL WHERE id = ?", "s",
                   id) < 0)
        goto cleanup;
    char detail[128];
    snprintf(detail, sizeof(detail), "min %lld, max %lld, desired %lld", s.min, s.max, s.desired);
    scale_activity_add(st, ctx->project_id, id, "scale", NULL, NULL, "group created", detail);
    json_t *g = scale_group_find(st, ctx->project_id, id, err);
    if (g == NULL || (out = group_json(st, g, true, err)) == NULL || store_commit(st, err) < 0) {
        json_decref(out);
        out = NULL;
    }
cleanup:
    if (out == NULL)
        store_rollback(st);
    json_decref(t);
    if (out)
        scale_changed();
    return out;
}

json_t *scale_group_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                         struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    if (store_page_start(st, &pg, err,
                         "SELECT created_at FROM scaling_groups WHERE id = ? AND project_id = ?",
                         "ss", marker, ctx->project_id) < 0)
        return NULL;
    json_t *ids =
        store_page_query(st, &pg, NULL, err, "SELECT id FROM scaling_groups WHERE project_id = ?",
                         "s", ctx->project_id);
    if (ids == NULL)
        return NULL;
    json_t *out = json_array();
    size_t i;
    json_t *r;
    json_array_foreach (ids, i, r) {
        json_t *g = scale_group_find(st, ctx->project_id, jsonx_str(r, "id"), err);
        json_t *j = g ? group_json(st, g, false, err) : NULL;
        if (j == NULL) {
            json_decref(out);
            out = NULL;
            break;
        }
        json_array_append_new(out, j);
    }
    json_decref(ids);
    return out;
}

json_t *scale_group_get(struct store *st, const struct ctx *ctx, const char *ref,
                        struct nubo_err *err)
{
    json_t *g = scale_group_find(st, ctx->project_id, ref, err);
    return g ? group_json(st, g, true, err) : NULL;
}

json_t *scale_group_update(struct store *st, const struct ctx *ctx, const char *ref, json_t *body,
                           struct nubo_err *err)
{
    json_t *g = NULL, *out = NULL;
    bool vset;
    long long ver;
    char now[32];
    if (version_read(body, &vset, &ver, err) < 0)
        return NULL;
    if (store_begin(st, true, err) < 0)
        return NULL;
    g = scale_group_find(st, ctx->project_id, ref, err);
    if (g == NULL)
        goto cleanup;
    if (strcmp(jsonx_str(g, "status"), "active") != 0) {
        nubo_err_set(err, NUBO_E_CONFLICT, "scaling group '%s' is being deleted",
                     jsonx_str(g, "name"));
        goto cleanup;
    }
    struct sizes s = {
        .min = scale_int(g, "min_size"),
        .max = scale_int(g, "max_size"),
        .desired = scale_int(g, "desired"),
        .grace = scale_int(g, "health_grace_s"),
        .cooldown = scale_int(g, "cooldown_s"),
        .batch = scale_int(g, "rolling_batch"),
        .term = jsonx_str(g, "termination_policy"),
    };
    if (sizes_read(body, &s, err) < 0)
        goto cleanup;
    if (vset && ver > 0) {
        json_t *t =
            store_query_one(st, err, "SELECT latest_version FROM launch_templates WHERE id = ?",
                            "s", jsonx_str(g, "template_id"));
        if (t == NULL)
            goto cleanup;
        long long latest = scale_int(t, "latest_version");
        json_decref(t);
        if (ver > latest) {
            nubo_err_set(err, NUBO_E_INVALID, "'template_version' must be from 1 to %lld, or null",
                         latest);
            goto cleanup;
        }
    }
    json_t *tv = json_object_get(g, "template_version");
    long long old_ver = json_is_integer(tv) ? json_integer_value(tv) : 0;
    long long new_ver = vset ? ver : old_ver;
    clock_now_str(now);
    if (store_exec(st, err,
                   "UPDATE scaling_groups SET min_size = ?, max_size = ?, desired = ?,"
                   " health_grace_s = ?, cooldown_s = ?, termination_policy = ?,"
                   " rolling_batch = ?, template_version = ?, updated_at = ? WHERE id = ? AND"
                   " project_id = ?",
                   "iiiiisiisss", s.min, s.max, s.desired, s.grace, s.cooldown, s.term, s.batch,
                   new_ver, now, jsonx_str(g, "id"), ctx->project_id) < 0)
        goto cleanup;
    if (new_ver == 0 &&
        store_exec(st, err, "UPDATE scaling_groups SET template_version = NULL WHERE id = ?", "s",
                   jsonx_str(g, "id")) < 0)
        goto cleanup;
    if (s.min != scale_int(g, "min_size") || s.max != scale_int(g, "max_size") ||
        s.desired != scale_int(g, "desired")) {
        char detail[160];
        snprintf(detail, sizeof(detail), "min %lld, max %lld, desired %lld (was %lld)", s.min,
                 s.max, s.desired, scale_int(g, "desired"));
        scale_activity_add(st, ctx->project_id, jsonx_str(g, "id"), "scale", NULL, NULL,
                           "changed by user", detail);
    }
    if (new_ver != old_ver) {
        char detail[96];
        snprintf(detail, sizeof(detail), "template version %s%lld", new_ver ? "" : "default, ",
                 new_ver);
        scale_activity_add(st, ctx->project_id, jsonx_str(g, "id"), "update", NULL, NULL,
                           "changed by user", detail);
    }
    json_t *ng = scale_group_find(st, ctx->project_id, jsonx_str(g, "id"), err);
    if (ng == NULL || (out = group_json(st, ng, true, err)) == NULL || store_commit(st, err) < 0) {
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

int scale_group_delete(struct store *st, const struct ctx *ctx, const char *ref,
                       struct nubo_err *err)
{
    int rc = -1;
    json_t *members = NULL;
    char now[32];
    pthread_mutex_lock(&scale_lock);
    json_t *g = scale_group_find(st, ctx->project_id, ref, err);
    if (g == NULL)
        goto cleanup;
    const char *gid = jsonx_str(g, "id");
    clock_now_str(now);
    if (store_exec(st, err,
                   "UPDATE scaling_groups SET status = 'deleting', desired = 0, min_size = 0,"
                   " updated_at = ? WHERE id = ? AND project_id = ?",
                   "sss", now, gid, ctx->project_id) < 0)
        goto cleanup;
    members = store_query(st, err,
                          "SELECT m.instance_id, i.status FROM scale_members m LEFT JOIN"
                          " instances i ON i.id = m.instance_id WHERE m.group_id = ?",
                          "s", gid);
    if (members == NULL)
        goto cleanup;
    size_t i;
    json_t *m;
    json_array_foreach (members, i, m) {
        const char *st_ = jsonx_str(m, "status");
        if (*st_ && strcmp(st_, "deleted") != 0 && strcmp(st_, "deleting") != 0) {
            /* the group's ctx: the caller may be an admin of another project */
            struct ctx gctx;
            scale_group_ctx(g, &gctx);
            str_copy(gctx.request_id, sizeof(gctx.request_id), ctx->request_id);
            str_copy(gctx.user_name, sizeof(gctx.user_name), ctx->user_name);
            json_t *out = compute_instance_delete(st, &gctx, jsonx_str(m, "instance_id"), err);
            if (out == NULL)
                goto cleanup; /* the group stays 'deleting': a retry finishes */
            json_decref(out);
        }
    }
    if (store_begin(st, true, err) < 0)
        goto cleanup;
    if (store_exec(st, err, "DELETE FROM scale_members WHERE group_id = ?", "s", gid) < 0 ||
        store_exec(st, err, "DELETE FROM scaling_policies WHERE group_id = ?", "s", gid) < 0 ||
        store_exec(st, err, "DELETE FROM scheduled_actions WHERE group_id = ?", "s", gid) < 0 ||
        store_exec(st, err, "DELETE FROM scale_activities WHERE group_id = ?", "s", gid) < 0 ||
        store_exec(st, err, "DELETE FROM scaling_groups WHERE id = ? AND project_id = ?", "ss", gid,
                   ctx->project_id) < 0 ||
        store_commit(st, err) < 0) {
        store_rollback(st);
        goto cleanup;
    }
    log_info("scaling group %s (%s) deleted with %zu instances", gid, jsonx_str(g, "name"),
             json_array_size(members));
    rc = 0;
cleanup:
    pthread_mutex_unlock(&scale_lock);
    json_decref(members);
    json_decref(g);
    if (rc == 0)
        scale_changed();
    return rc;
}

json_t *scale_group_activities(struct store *st, const struct ctx *ctx, const char *ref, int limit,
                               const char *marker, struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    json_t *g = scale_group_find(st, ctx->project_id, ref, err);
    if (g == NULL)
        return NULL;
    json_t *rows = NULL;
    if (store_page_start(st, &pg, err,
                         "SELECT created_at FROM scale_activities WHERE id = ? AND project_id = ?",
                         "ss", marker, ctx->project_id) == 0) {
        /* newest first: the page starts before the marker, so not
         * store_page_query (which pages forwards) */
        rows = store_query(st, err,
                           "SELECT id, at, kind, instance_id, policy_id, cause, detail FROM"
                           " scale_activities WHERE group_id = ? AND project_id = ? AND"
                           " (? = '' OR (created_at, id) < (?, ?))"
                           " ORDER BY created_at DESC, id DESC LIMIT ?",
                           "sssssi", jsonx_str(g, "id"), ctx->project_id, pg.after, pg.after,
                           marker ? marker : "", (long long)limit + 1);
    }
    json_decref(g);
    return rows;
}

json_t *scale_group_protect(struct store *st, const struct ctx *ctx, const char *ref,
                            const char *instance_id, json_t *body, struct nubo_err *err)
{
    json_t *p = json_object_get(body, "protected");
    if (!json_is_boolean(p)) {
        nubo_err_set(err, NUBO_E_INVALID, "'protected' must be true or false");
        return NULL;
    }
    json_t *g = scale_group_find(st, ctx->project_id, ref, err);
    if (g == NULL)
        return NULL;
    json_t *out = NULL;
    long long n = store_exec(st, err,
                             "UPDATE scale_members SET protected = ? WHERE group_id = ? AND"
                             " instance_id = ? AND project_id = ?",
                             "isss", (long long)json_is_true(p), jsonx_str(g, "id"), instance_id,
                             ctx->project_id);
    if (n == 0)
        nubo_err_set(err, NUBO_E_NOTFOUND, "instance '%.40s' is not in scaling group '%s'",
                     instance_id, jsonx_str(g, "name"));
    else if (n > 0)
        out = json_pack("{s:s, s:s, s:b}", "group_id", jsonx_str(g, "id"), "instance_id",
                        instance_id, "protected", json_is_true(p));
    json_decref(g);
    if (out)
        scale_changed();
    return out;
}

int scale_project_purge(struct store *st, const char *project_id, const char *name,
                        struct strv *files, void *arg, struct nubo_err *err)
{
    (void)files;
    (void)arg;
    json_t *g = store_query(st, err,
                            "SELECT g.name AS name, COUNT(*) AS n FROM scaling_groups g"
                            " JOIN scale_members m ON m.group_id = g.id"
                            " WHERE g.project_id = ? GROUP BY g.id ORDER BY g.name LIMIT 1",
                            "s", project_id);
    if (g == NULL)
        return -1;
    int rc = 0;
    if (json_array_size(g) > 0) {
        json_t *row = json_array_get(g, 0);
        long long n = json_integer_value(json_object_get(row, "n"));
        rc = nubo_err_set(err, NUBO_E_CONFLICT,
                          "project '%s' still has scaling group '%s' with %lld instance%s;"
                          " delete the group first",
                          name, jsonx_str(row, "name"), n, n == 1 ? "" : "s");
    }
    json_decref(g);
    return rc;
}
