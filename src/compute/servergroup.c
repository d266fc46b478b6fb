/*
 * servergroup.c - server groups: a placement policy shared by instances.
 *
 * An instance created into a group is placed by the group's policy
 * (src/sched): "affinity" puts every member on the same host,
 * "anti-affinity" each on a different host.  Membership is the instances'
 * server_group_id; members are the group's instances that are not
 * deleted.
 */
#include "compute/compute.h"
#include "compute/compute_int.h"

#include <string.h>

#include "lib/clock.h"
#include "lib/util.h"
#include "lib/valid.h"
#include "lib/jsonx.h"

#define GROUP_COLUMNS "s.id, s.name, s.policy, s.created_at"

/* Adds "members" to each group of rows (one query for the page). */
static int members_add(struct store *st, const struct ctx *ctx, json_t *groups,
                       struct nubo_err *err)
{
    size_t i;
    json_t *g, *m;
    json_array_foreach (groups, i, g)
        json_object_set_new(g, "members", json_array());
    if (json_array_size(groups) == 0)
        return 0;
    json_t *rows = store_query(st, err,
                               "SELECT i.id, i.server_group_id FROM instances i WHERE"
                               " i.project_id = ? AND i.server_group_id IS NOT NULL AND"
                               " i.status <> 'deleted' ORDER BY i.created_at, i.id",
                               "s", ctx->project_id);
    if (rows == NULL)
        return -1;
    json_array_foreach (rows, i, m) {
        size_t j;
        json_array_foreach (groups, j, g) {
            if (strcmp(jsonx_str(g, "id"), jsonx_str(m, "server_group_id")) == 0)
                json_array_append_new(json_object_get(g, "members"),
                                      json_string(jsonx_str(m, "id")));
        }
    }
    json_decref(rows);
    return 0;
}

json_t *compute_server_group_resolve(struct store *st, const struct ctx *ctx, const char *ref,
                                     struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *row = store_query_one(st, &qerr,
                                  "SELECT " GROUP_COLUMNS " FROM server_groups s WHERE"
                                  " (s.id = ? OR s.name = ?) AND s.project_id = ?"
                                  " ORDER BY CASE WHEN s.id = ? THEN 0 ELSE 1 END",
                                  "ssss", ref, ref, ctx->project_id, ref);
    if (row == NULL)
        compute_notfound(err, &qerr, "server group", ref, " in this project");
    return row;
}

json_t *compute_server_group_list(struct store *st, const struct ctx *ctx, int limit,
                                  const char *marker, struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    if (store_page_start(st, &pg, err,
                         "SELECT s.created_at FROM server_groups s WHERE"
                         " s.id = ? AND s.project_id = ?",
                         "ss", marker, ctx->project_id) < 0)
        return NULL;
    json_t *rows = store_page_query(st, &pg, "s.created_at, s.id", err,
                                    "SELECT " GROUP_COLUMNS " FROM server_groups s WHERE"
                                    " s.project_id = ?",
                                    "s", ctx->project_id);
    if (rows && members_add(st, ctx, rows, err) < 0) {
        json_decref(rows);
        return NULL;
    }
    return rows;
}

json_t *compute_server_group_create(struct store *st, const struct ctx *ctx, const char *name,
                                    const char *policy, struct nubo_err *err)
{
    static const char *const policies[] = {"affinity", "anti-affinity", NULL};
    char id[37], now[32];
    if (valid_name(name, "server group name", err) < 0)
        return NULL;
    if (!compute_word_in(policy, policies)) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "policy must be affinity (members on one host) or anti-affinity (each on "
                     "its own host)");
        return NULL;
    }
    id_new(id);
    clock_stamp(now);
    /* The count and the insert in one write transaction: the quota. */
    if (store_begin(st, true, err) < 0)
        return NULL;
    if (compute_quota_check(st, ctx->project_id, QUOTA_SERVER_GROUPS, err) < 0 ||
        store_exec(st, err,
                   "INSERT INTO server_groups (id, project_id, name, policy, created_at)"
                   " VALUES (?, ?, ?, ?, ?)",
                   "sssss", id, ctx->project_id, name, policy, now) < 0 ||
        store_commit(st, err) < 0) {
        if (err->code == NUBO_E_CONFLICT)
            nubo_err_set(err, NUBO_E_CONFLICT,
                         "a server group named '%s' already exists in this project", name);
        store_rollback(st);
        return NULL;
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:[]}", "id", id, "name", name, "policy", policy,
                     "created_at", now, "members");
}

json_t *compute_server_group_get(struct store *st, const struct ctx *ctx, const char *ref,
                                 struct nubo_err *err)
{
    json_t *row = compute_server_group_resolve(st, ctx, ref, err);
    if (row == NULL)
        return NULL;
    json_t *one = json_pack("[o]", row);
    if (members_add(st, ctx, one, err) < 0) {
        json_decref(one);
        return NULL;
    }
    row = json_incref(json_array_get(one, 0));
    json_decref(one);
    return row;
}

int compute_server_group_delete(struct store *st, const struct ctx *ctx, const char *ref,
                                struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *g = NULL, *use = NULL;
    int rc = -1;
    /* Under the write lock, so no create can join the group between the
     * check and the delete. */
    if (store_begin(st, true, err) < 0)
        return -1;
    g = compute_server_group_resolve(st, ctx, ref, err);
    if (g == NULL)
        goto cleanup;
    use = store_query_one(st, &qerr,
                          "SELECT COUNT(*) AS n FROM instances WHERE server_group_id = ? AND"
                          " project_id = ? AND status <> 'deleted'",
                          "ss", jsonx_str(g, "id"), ctx->project_id);
    if (use == NULL) {
        nubo_err_set(err, qerr.code, "%s", qerr.msg);
        goto cleanup;
    }
    long long n = json_integer_value(json_object_get(use, "n"));
    if (n > 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "server group '%s' has %lld live member(s); delete them first",
                     jsonx_str(g, "name"), n);
        goto cleanup;
    }
    if (store_exec(st, err, "DELETE FROM server_groups WHERE id = ? AND project_id = ?", "ss",
                   jsonx_str(g, "id"), ctx->project_id) < 0 ||
        store_commit(st, err) < 0)
        goto cleanup;
    rc = 0;
cleanup:
    if (rc < 0)
        store_rollback(st);
    json_decref(use);
    json_decref(g);
    return rc;
}
