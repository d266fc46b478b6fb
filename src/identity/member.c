/*
 * member.c - who has which role in a project (role_assignments).
 *
 * Anybody with a role in a project may list its members.  A cloud admin
 * grants, changes or removes roles in any project; a project's admin in
 * the project their token is scoped to only (an API key of project A never
 * reaches project B, even where its user is B's admin too).  The roles are
 * admin, member and reader of that project: none of them reaches beyond
 * it, and being a cloud admin is not a role here (user.c).  A member's
 * existing tokens follow the change at once: identity_authenticate() reads
 * the role on every call.
 */
#include <string.h>

#include "identity/identity_int.h"
#include "lib/clock.h"

/* May ctx change the roles of project pid (named ref)?  A project they
 * cannot see was answered 404 by the resolve already. */
static int member_manage_check(const struct ctx *ctx, const char *pid, const char *pname,
                               struct nubo_err *err)
{
    if (ctx->is_admin)
        return 0;
    if (strcmp(pid, ctx->project_id) != 0 || ctx->role < ROLE_ADMIN)
        return nubo_err_set(err, NUBO_E_FORBIDDEN,
                            "only an admin of project '%s' (with a token scoped to it: nubo "
                            "login --project %s) or a cloud admin may change its members",
                            pname, pname);
    return 0;
}

json_t *identity_member_list(struct store *st, const struct ctx *ctx, const char *project,
                             int limit, const char *marker, struct nubo_err *err)
{
    char pid[37], pname[64];
    if (identity_project_resolve(st, ctx, project, pid, pname, err) < 0)
        return NULL;
    /* a member's marker is its user id: assignments have no id of their own */
    struct store_page pg = {.marker = marker, .limit = limit};
    if (store_page_start(st, &pg, err,
                         "SELECT created_at FROM role_assignments"
                         " WHERE user_id = ? AND project_id = ?",
                         "ss", marker, pid) < 0)
        return NULL;
    return store_page_query(st, &pg, "r.created_at, r.user_id", err,
                            "SELECT r.user_id, u.name AS user_name, r.role"
                            " FROM role_assignments r JOIN users u ON u.id = r.user_id"
                            " WHERE r.project_id = ?",
                            "s", pid);
}

json_t *identity_member_set(struct store *st, const struct ctx *ctx, const char *project,
                            const char *user, const char *role, struct nubo_err *err)
{
    char pid[37], pname[64], uid[37], uname[64], now[32];
    enum role r;
    json_t *out = NULL;
    if (authz_require(ctx, AUTHZ_AUTHENTICATED, err) < 0)
        return NULL;
    if (role_parse(role, &r) < 0) {
        nubo_err_set(err, NUBO_E_INVALID, "role must be admin, member or reader");
        return NULL;
    }
    clock_now_str(now);
    if (store_begin(st, true, err) < 0)
        return NULL;
    if (identity_project_resolve(st, ctx, project, pid, pname, err) < 0 ||
        member_manage_check(ctx, pid, pname, err) < 0 ||
        identity_user_resolve(st, user, uid, uname, err) < 0 ||
        store_exec(st, err,
                   "INSERT INTO role_assignments (user_id, project_id, role, created_at)"
                   " VALUES (?, ?, ?, ?)"
                   " ON CONFLICT (user_id, project_id) DO UPDATE SET role = excluded.role",
                   "ssss", uid, pid, role_name(r), now) < 0 ||
        store_commit(st, err) < 0)
        goto cleanup;
    out = json_pack("{s:s, s:s, s:s, s:s}", "user_id", uid, "user_name", uname, "project_id", pid,
                    "role", role_name(r));
cleanup:
    store_rollback(st); /* a no-op after the commit */
    return out;
}

int identity_member_remove(struct store *st, const struct ctx *ctx, const char *project,
                           const char *user, struct nubo_err *err)
{
    char pid[37], pname[64], uid[37], uname[64];
    int rc = -1;
    if (authz_require(ctx, AUTHZ_AUTHENTICATED, err) < 0 || store_begin(st, true, err) < 0)
        return -1;
    if (identity_project_resolve(st, ctx, project, pid, pname, err) < 0 ||
        member_manage_check(ctx, pid, pname, err) < 0 ||
        identity_user_resolve(st, user, uid, uname, err) < 0)
        goto cleanup;
    long long n =
        store_exec(st, err, "DELETE FROM role_assignments WHERE user_id = ? AND project_id = ?",
                   "ss", uid, pid);
    if (n < 0)
        goto cleanup;
    if (n == 0) {
        nubo_err_set(err, NUBO_E_NOTFOUND, "user '%s' has no role in project '%s'", uname, pname);
        goto cleanup;
    }
    rc = store_commit(st, err);
cleanup:
    store_rollback(st); /* a no-op after the commit */
    return rc;
}
