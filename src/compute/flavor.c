/*
 * flavor.c - flavors: the sizes instances come in (vCPUs, RAM, disk).
 *
 * Flavors belong to the cloud, not to a project: admins create and delete
 * them.  A public flavor is visible to every project; a private one only
 * to the projects it was shared with (flavor_access) and to cloud admins.
 * An instance copies its flavor's sizes when it is created, so deleting a
 * flavor never changes a running instance.
 */
#include "compute/compute.h"
#include "compute/compute_int.h"

#include <string.h>

#include "lib/clock.h"
#include "lib/util.h"
#include "lib/valid.h"
#include "lib/jsonx.h"

/* The flavors ctx may see; binds (is_admin, project_id). */
#define FLAVOR_VISIBLE                                                                             \
    "(f.is_public = 1 OR ? = 1 OR EXISTS (SELECT 1 FROM flavor_access a"                           \
    " WHERE a.flavor_id = f.id AND a.project_id = ?))"
#define FLAVOR_COLUMNS "f.id, f.name, f.vcpus, f.ram_mib, f.disk_gib, f.is_public, f.required_accel"

/* The API shape of a flavor row (consumes row). */
static json_t *flavor_json(json_t *row)
{
    json_object_set_new(row, "is_public",
                        json_boolean(json_integer_value(json_object_get(row, "is_public"))));
    const char *accel = json_string_value(json_object_get(row, "required_accel"));
    json_object_set_new(row, "required_accel", accel && *accel ? json_string(accel) : json_null());
    return row;
}

json_t *compute_flavor_resolve(struct store *st, const struct ctx *ctx, const char *ref,
                               struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *row =
        store_query_one(st, &qerr,
                        "SELECT " FLAVOR_COLUMNS " FROM flavors f"
                        " WHERE (f.id = ? OR f.name = ?) AND " FLAVOR_VISIBLE
                        " ORDER BY CASE WHEN f.id = ? THEN 0 ELSE 1 END",
                        "ssiss", ref, ref, (long long)ctx->is_admin, ctx->project_id, ref);
    if (row == NULL)
        compute_notfound(err, &qerr, "flavor", ref,
                         " (GET /v1/flavors lists the flavors you may use)");
    return row;
}

json_t *compute_flavor_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                            struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    if (store_page_start(st, &pg, err,
                         "SELECT f.created_at FROM flavors f WHERE f.id = ? AND " FLAVOR_VISIBLE,
                         "sis", marker, (long long)ctx->is_admin, ctx->project_id) < 0)
        return NULL;
    json_t *rows =
        store_page_query(st, &pg, "f.created_at, f.id", err,
                         "SELECT " FLAVOR_COLUMNS " FROM flavors f WHERE " FLAVOR_VISIBLE, "is",
                         (long long)ctx->is_admin, ctx->project_id);
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r)
        flavor_json(r);
    return rows;
}

json_t *compute_flavor_create(struct store *st, const struct ctx *ctx,
                              const struct compute_flavor_spec *spec, struct nubo_err *err)
{
    long long v;
    if (!ctx->is_admin) {
        nubo_err_set(err, NUBO_E_FORBIDDEN, "only a cloud admin may create flavors");
        return NULL;
    }
    if (valid_name(spec->name, "flavor name", err) < 0)
        return NULL;
    if (spec->vcpus < 1 || spec->vcpus > 64) {
        nubo_err_set(err, NUBO_E_INVALID, "vcpus must be from 1 to 64 (got %lld)", spec->vcpus);
        return NULL;
    }
    if (spec->ram_mib < 64 || spec->ram_mib > 1048576) {
        nubo_err_set(err, NUBO_E_INVALID, "ram_mib must be from 64 to 1048576 (got %lld)",
                     spec->ram_mib);
        return NULL;
    }
    if (spec->disk_gib < 1 || spec->disk_gib > 16384) {
        nubo_err_set(err, NUBO_E_INVALID, "disk_gib must be from 1 to 16384 (got %lld)",
                     spec->disk_gib);
        return NULL;
    }
    const char *accel = spec->required_accel ? spec->required_accel : "";
    if (*accel && strcmp(accel, "kvm") != 0 && strcmp(accel, "tcg") != 0) {
        nubo_err_set(err, NUBO_E_INVALID, "required_accel must be \"kvm\", \"tcg\" or null");
        return NULL;
    }
    char id[37], now[32];
    id_new(id);
    clock_stamp(now);
    v = store_exec(st, err,
                   "INSERT INTO flavors (id, name, vcpus, ram_mib, disk_gib, is_public,"
                   " required_accel, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   "ssiiiiss", id, spec->name, spec->vcpus, spec->ram_mib, spec->disk_gib,
                   (long long)spec->is_public, accel, now);
    if (v < 0) {
        if (err->code == NUBO_E_CONFLICT)
            nubo_err_set(err, NUBO_E_CONFLICT, "a flavor named '%s' already exists", spec->name);
        return NULL;
    }
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:b, s:o}", "id", id, "name", spec->name, "vcpus",
                     (json_int_t)spec->vcpus, "ram_mib", (json_int_t)spec->ram_mib, "disk_gib",
                     (json_int_t)spec->disk_gib, "is_public", (int)spec->is_public,
                     "required_accel", *accel ? json_string(accel) : json_null());
}

json_t *compute_flavor_get(struct store *st, const struct ctx *ctx, const char *ref,
                           struct nubo_err *err)
{
    json_t *row = compute_flavor_resolve(st, ctx, ref, err);
    return row ? flavor_json(row) : NULL;
}

int compute_flavor_delete(struct store *st, const struct ctx *ctx, const char *ref,
                          struct nubo_err *err)
{
    if (!ctx->is_admin)
        return nubo_err_set(err, NUBO_E_FORBIDDEN, "only a cloud admin may delete flavors");
    json_t *row = compute_flavor_resolve(st, ctx, ref, err);
    if (row == NULL)
        return -1;
    long long n =
        store_exec(st, err, "DELETE FROM flavors WHERE id = ?", "s", jsonx_str(row, "id"));
    json_decref(row);
    if (n < 0)
        return -1;
    if (n == 0)
        return nubo_err_set(err, NUBO_E_NOTFOUND, "no flavor '%.64s'", ref);
    return 0;
}

json_t *compute_flavor_access_add(struct store *st, const struct ctx *ctx, const char *ref,
                                  const char *project, struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *flavor = NULL, *proj = NULL, *out = NULL, *rows = NULL;
    if (!ctx->is_admin) {
        nubo_err_set(err, NUBO_E_FORBIDDEN, "only a cloud admin may share flavors");
        goto cleanup;
    }
    if (compute_ref_check(project, "project", "a project", err) < 0)
        goto cleanup;
    flavor = compute_flavor_resolve(st, ctx, ref, err);
    if (flavor == NULL)
        goto cleanup;
    if (json_integer_value(json_object_get(flavor, "is_public"))) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "flavor '%s' is public: every project may use it already",
                     jsonx_str(flavor, "name"));
        goto cleanup;
    }
    proj = store_query_one(st, &qerr, "SELECT id FROM projects WHERE id = ? OR name = ?", "ss",
                           project, project);
    if (proj == NULL) {
        compute_notfound(err, &qerr, "project", project, NULL);
        goto cleanup;
    }
    const char *fid = jsonx_str(flavor, "id");
    if (store_exec(st, err,
                   "INSERT INTO flavor_access (flavor_id, project_id) VALUES (?, ?)"
                   " ON CONFLICT DO NOTHING",
                   "ss", fid, jsonx_str(proj, "id")) < 0)
        goto cleanup;
    rows = store_query(st, err,
                       "SELECT a.project_id FROM flavor_access a JOIN projects p ON"
                       " p.id = a.project_id WHERE a.flavor_id = ? ORDER BY p.name",
                       "s", fid);
    if (rows == NULL)
        goto cleanup;
    json_t *ids = json_array();
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r)
        json_array_append_new(ids, json_string(jsonx_str(r, "project_id")));
    out = json_pack("{s:s, s:o}", "flavor_id", fid, "projects", ids);
cleanup:
    json_decref(rows);
    json_decref(proj);
    json_decref(flavor);
    return out;
}
