/*
 * project.c - projects (tenants): list, create, show, delete.
 *
 * Tenancy: a cloud admin sees every project; anybody else sees only the
 * projects where they have a role, and a project they cannot see answers
 * exactly like a missing one (404, same message), so ids and names of other
 * tenants do not leak.  The project is named in paths by id or by name;
 * names may not look like UUIDs, so the two never collide.
 *
 * A project is created with its default quota in one transaction and
 * deleted only when nothing in it is alive: identity does not see the
 * modules above it (compute's instances, scale's groups, stacks...), so
 * the delete calls the hooks nubod registers (compute_project_purge(),
 * scale_project_purge()...) in the same transaction; they refuse or remove
 * their rows, and name files that are unlinked after the commit.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "identity/identity_int.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/strv.h"
#include "lib/util.h"

#define PROJECT_DESCRIPTION_MAX 255

/* ----------------------------------------------------------- helpers */

int identity_project_insert(struct store *st, const char *name, const char *description,
                            char id[37], struct nubo_err *err)
{
    char now[32];
    id_new(id);
    clock_now_str(now);
    if (store_exec(st, err,
                   "INSERT INTO projects (id, name, description, created_at) VALUES (?, ?, ?, ?)",
                   "ssss", id, name, description, now) < 0)
        return -1;
    if (store_exec(st, err,
                   "INSERT INTO quotas (project_id, instances, vcpus, ram_mib, disk_gib)"
                   " VALUES (?, ?, ?, ?, ?)",
                   "siiii", id, (long long)DEFAULT_QUOTA_INSTANCES, (long long)DEFAULT_QUOTA_VCPUS,
                   (long long)DEFAULT_QUOTA_RAM_MIB, (long long)DEFAULT_QUOTA_DISK_GIB) < 0)
        return -1;
    return 0;
}

int identity_project_resolve(struct store *st, const struct ctx *ctx, const char *ref, char id[37],
                             char name[64], struct nubo_err *err)
{
    json_t *p = store_query_one(st, err,
                                "SELECT p.id, p.name FROM projects p WHERE (p.id = ? OR p.name = ?)"
                                " AND (? = 1 OR EXISTS (SELECT 1 FROM role_assignments r"
                                "   WHERE r.project_id = p.id AND r.user_id = ?))",
                                "ssis", ref, ref, (long long)ctx->is_admin, ctx->user_id);
    if (p == NULL) {
        if (err && err->code == NUBO_E_NOTFOUND)
            nubo_err_set(err, NUBO_E_NOTFOUND, "no project '%.63s'", ref);
        return -1;
    }
    str_copy(id, 37, jsonx_str(p, "id"));
    str_copy(name, 64, jsonx_str(p, "name"));
    json_decref(p);
    return 0;
}

/* Counts code points of a UTF-8 string (jansson hands out valid UTF-8). */
static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static int description_check(const char *d, struct nubo_err *err)
{
    if (utf8_len(d) > PROJECT_DESCRIPTION_MAX)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "description is longer than %d characters; shorten it",
                            PROJECT_DESCRIPTION_MAX);
    for (const char *c = d; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "description must not contain control characters (newlines, "
                                "tabs...)");
    return 0;
}

/* The project as the API shows it to ctx: role only where ctx has one. */
static json_t *project_get_by_id(struct store *st, const struct ctx *ctx, const char *id,
                                 struct nubo_err *err)
{
    json_t *p = store_query_one(st, err,
                                "SELECT p.id, p.name, p.description, p.created_at, r.role"
                                " FROM projects p LEFT JOIN role_assignments r"
                                "   ON r.project_id = p.id AND r.user_id = ?"
                                " WHERE p.id = ?",
                                "ss", ctx->user_id, id);
    if (p == NULL) {
        if (err && err->code == NUBO_E_NOTFOUND)
            nubo_err_set(err, NUBO_E_NOTFOUND, "no project '%.63s'", id);
        return NULL;
    }
    if (json_is_null(json_object_get(p, "role")))
        json_object_del(p, "role");
    return p;
}

/* ----------------------------------------------------------- services */

json_t *identity_project_list(struct store *st, const struct ctx *ctx, int limit,
                              const char *marker, struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    if (store_page_start(st, &pg, err,
                         "SELECT p.created_at FROM projects p WHERE p.id = ? AND (? = 1 OR"
                         " EXISTS (SELECT 1 FROM role_assignments r"
                         "   WHERE r.project_id = p.id AND r.user_id = ?))",
                         "sis", marker, (long long)ctx->is_admin, ctx->user_id) < 0)
        return NULL;
    json_t *rows = store_page_query(
        st, &pg, "p.created_at, p.id", err,
        "SELECT p.id, p.name, p.description, p.created_at, r.role"
        " FROM projects p LEFT JOIN role_assignments r ON r.project_id = p.id AND r.user_id = ?"
        " WHERE (? = 1 OR r.role IS NOT NULL)",
        "si", ctx->user_id, (long long)ctx->is_admin);
    if (rows == NULL)
        return NULL;
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *row = json_array_get(rows, i);
        if (json_is_null(json_object_get(row, "role")))
            json_object_del(row, "role");
    }
    return rows;
}

json_t *identity_project_create(struct store *st, const struct ctx *ctx, const char *name,
                                const char *description, struct nubo_err *err)
{
    char id[37];
    const char *desc = description ? description : "";
    if (authz_require(ctx, AUTHZ_ADMIN, err) < 0 ||
        identity_name_check(name, "project name", err) < 0 || description_check(desc, err) < 0 ||
        store_begin(st, true, err) < 0)
        return NULL;
    if (identity_project_insert(st, name, desc, id, err) < 0) {
        store_rollback(st);
        if (err && err->code == NUBO_E_CONFLICT)
            nubo_err_set(err, NUBO_E_CONFLICT,
                         "a project named '%s' already exists; pick another name", name);
        return NULL;
    }
    if (store_commit(st, err) < 0)
        return NULL;
    return project_get_by_id(st, ctx, id, err);
}

json_t *identity_project_get(struct store *st, const struct ctx *ctx, const char *ref,
                             struct nubo_err *err)
{
    char id[37], name[64];
    if (identity_project_resolve(st, ctx, ref, id, name, err) < 0)
        return NULL;
    return project_get_by_id(st, ctx, id, err);
}

static struct {
    identity_project_delete_fn *fn;
    void *arg;
} project_hooks[IDENTITY_PROJECT_HOOKS_MAX];
static int n_project_hooks;

int identity_add_project_delete_hook(identity_project_delete_fn *fn, void *arg)
{
    if (n_project_hooks == IDENTITY_PROJECT_HOOKS_MAX)
        return -1;
    project_hooks[n_project_hooks].fn = fn;
    project_hooks[n_project_hooks].arg = arg;
    n_project_hooks++;
    return 0;
}

void identity_clear_project_delete_hooks(void)
{
    n_project_hooks = 0;
}

int identity_project_delete(struct store *st, const struct ctx *ctx, const char *ref,
                            struct nubo_err *err)
{
    char id[37], name[64];
    struct strv files = {0};
    int rc = -1;
    if (authz_require(ctx, AUTHZ_ADMIN, err) < 0 || store_begin(st, true, err) < 0)
        return -1;
    if (identity_project_resolve(st, ctx, ref, id, name, err) < 0)
        goto cleanup;
    /* Rows of the modules above that reference the project without ON
     * DELETE CASCADE (compute's instances, events and tasks, samples and
     * usage records) are theirs to refuse or remove; everything else that
     * belongs to a project (roles, tokens, quota, keypairs, groups, private
     * images, flavor access, networks, templates, groups, stacks) cascades. */
    for (int i = 0; i < n_project_hooks; i++)
        if (project_hooks[i].fn(st, id, name, &files, project_hooks[i].arg, err) < 0)
            goto cleanup;
    if (store_exec(st, err, "DELETE FROM projects WHERE id = ?", "s", id) < 0)
        goto cleanup;
    rc = store_commit(st, err);
    /* Files only once the rows that name them are gone for good. */
    for (int i = 0; rc == 0 && i < files.n; i++)
        if (unlink(files.v[i]) < 0 && errno != ENOENT)
            log_warn("project %s: cannot remove %s: %s", name, files.v[i], strerror(errno));
cleanup:
    store_rollback(st); /* a no-op after the commit */
    strv_free(&files);
    return rc;
}
