/*
 * template.c - launch templates and their immutable versions.
 *
 * A version stores the ids its flavor, image and server group resolved to
 * in the project when it was written, so a group launches exactly what was
 * checked; networks and security groups are kept as JSON lists of ids or
 * names, checked for shape only here (tenant networking resolves them when
 * an instance is created: see launch() in pass.c).
 */
#include "scale/scale.h"
#include "scale/scale_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compute/compute.h"
#include "lib/clock.h"
#include "lib/util.h"
#include "lib/valid.h"
#include "network/network.h"

#define TEMPLATE_SELECT                                                                            \
    "SELECT t.id, t.name, t.project_id, t.description, t.latest_version, t.default_version,"       \
    " t.created_at, t.updated_at FROM launch_templates t"

#define VERSION_SELECT                                                                             \
    "SELECT v.version, v.description, v.flavor_id, f.name AS flavor_name, v.image_id,"             \
    " g.name AS image_name, v.keypair, v.user_data, v.server_group_id, v.networks,"                \
    " v.security_groups, v.created_at FROM launch_template_versions v"                             \
    " LEFT JOIN flavors f ON f.id = v.flavor_id LEFT JOIN images g ON g.id = v.image_id"

/* The API shape of a version row (consumed). */
static json_t *version_json(json_t *row)
{
    static const char *const refs[][3] = {{"flavor", "flavor_id", "flavor_name"},
                                          {"image", "image_id", "image_name"}};
    for (size_t k = 0; k < ARRAY_LEN(refs); k++) {
        json_object_set_new(row, refs[k][0],
                            json_pack("{s:O, s:O}", "id", json_object_get(row, refs[k][1]), "name",
                                      json_object_get(row, refs[k][2])));
        json_object_del(row, refs[k][1]);
        json_object_del(row, refs[k][2]);
    }
    static const char *const lists[] = {"networks", "security_groups"};
    for (size_t k = 0; k < ARRAY_LEN(lists); k++) {
        json_t *l = json_loads(jsonx_str(row, lists[k]), 0, NULL);
        json_object_set_new(row, lists[k], l ? l : json_array());
    }
    json_object_set(row, "server_group", json_object_get(row, "server_group_id"));
    json_object_del(row, "server_group_id");
    return row;
}

static json_t *template_find(struct store *st, const struct ctx *ctx, const char *ref,
                             struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *row = store_query_one(st, &qerr,
                                  TEMPLATE_SELECT " WHERE t.project_id = ? AND (t.id = ? OR"
                                                  " t.name = ?)",
                                  "sss", ctx->project_id, ref, ref);
    if (row == NULL) {
        if (qerr.code != NUBO_E_NOTFOUND)
            nubo_err_set(err, qerr.code, "%s", qerr.msg);
        else
            nubo_err_set(err, NUBO_E_NOTFOUND, "no launch template '%.64s'", ref);
    }
    return row;
}

/* A reference in a body that names nothing visible: a bad request. */
static int ref_bad(struct nubo_err *err, const char *field, const char *what)
{
    if (err->code == NUBO_E_NOTFOUND)
        return nubo_err_set(err, NUBO_E_INVALID, "'%s' names no %s visible to this project", field,
                            what);
    return -1;
}

/* What a version holds, resolved. */
struct version_spec {
    const char *description, *keypair, *user_data;
    char flavor_id[37], image_id[37], server_group_id[37];
    char *networks, *security_groups; /* JSON text, malloc'd */
};

static void version_spec_free(struct version_spec *v)
{
    free(v->networks);
    free(v->security_groups);
}

/* Checks a list of ids or names; sets *text to its JSON ("[]" if absent). */
static int name_list(json_t *body, const char *key, char **text, struct nubo_err *err)
{
    json_t *l = json_object_get(body, key);
    if (l == NULL || json_is_null(l)) {
        *text = xstrdup("[]");
        return 0;
    }
    if (!json_is_array(l) || json_array_size(l) > SCALE_MAX_NETWORKS)
        return nubo_err_set(err, NUBO_E_INVALID, "'%s' must be a list of at most %d ids or names",
                            key, SCALE_MAX_NETWORKS);
    size_t i;
    json_t *v;
    json_array_foreach (l, i, v) {
        if (!json_is_string(v) || valid_name(json_string_value(v), key, NULL) < 0)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "'%s' must be a list of ids or names (item %zu is not one)", key,
                                i);
    }
    *text = json_dumps(l, JSON_COMPACT);
    return *text ? 0 : nubo_err_set(err, NUBO_E_INTERNAL, "cannot encode '%s'", key);
}

/* An image by id or exact name, visible to ctx; "id" into out. */
static int image_resolve(struct store *st, const struct ctx *ctx, const char *ref, char out[37],
                         struct nubo_err *err)
{
    json_t *img = NULL;
    if (valid_is_uuid(ref)) {
        img = compute_image_get(st, ctx, ref, err);
    } else {
        json_t *l = compute_image_list(st, ctx, ref, NULL, 2, NULL, err);
        if (l == NULL)
            return -1;
        if (json_array_size(l) == 1)
            img = json_incref(json_array_get(l, 0));
        else if (json_array_size(l) == 0)
            nubo_err_set(err, NUBO_E_NOTFOUND, "no image");
        else
            nubo_err_set(err, NUBO_E_INVALID, "'image': several images are named '%s'; use the id",
                         ref);
        json_decref(l);
    }
    if (img == NULL)
        return ref_bad(err, "image", "image");
    str_copy(out, 37, jsonx_str(img, "id"));
    json_decref(img);
    return 0;
}

/* The networks and security groups a version names must be the
 * project's (or, for networks, shared with it) when the version is made;
 * "default" always exists (it is created with the first port). */
static int refs_check(struct store *st, const struct ctx *ctx, const struct version_spec *v,
                      struct nubo_err *err)
{
    json_t *nets = json_loads(v->networks ? v->networks : "[]", 0, NULL);
    json_t *sgs = json_loads(v->security_groups ? v->security_groups : "[]", 0, NULL);
    int rc = 0;
    size_t i;
    json_t *e;
    json_array_foreach (nets, i, e) {
        json_t *n = network_get(st, ctx, json_string_value(e), err);
        if (n == NULL) {
            rc = ref_bad(err, "networks", "network");
            break;
        }
        json_decref(n);
    }
    json_array_foreach (sgs, i, e) {
        if (rc < 0 || strcmp(json_string_value(e), "default") == 0)
            continue;
        json_t *g = secgroup_get(st, ctx, json_string_value(e), err);
        if (g == NULL) {
            rc = ref_bad(err, "security_groups", "security group");
            break;
        }
        json_decref(g);
    }
    json_decref(nets);
    json_decref(sgs);
    return rc;
}

static int version_spec_read(struct store *st, const struct ctx *ctx, json_t *body,
                             struct version_spec *v, struct nubo_err *err)
{
    const char *flavor = NULL, *image = NULL, *group = NULL;
    memset(v, 0, sizeof(*v));
    if (scale_body_str(body, "description", false, &v->description, err) < 0 ||
        scale_body_str(body, "flavor", true, &flavor, err) < 0 ||
        scale_body_str(body, "image", true, &image, err) < 0 ||
        scale_body_str(body, "keypair", false, &v->keypair, err) < 0 ||
        scale_body_str(body, "user_data", false, &v->user_data, err) < 0 ||
        scale_body_str(body, "server_group", false, &group, err) < 0)
        return -1;
    if (v->description && strlen(v->description) > 255)
        return nubo_err_set(err, NUBO_E_INVALID, "'description' holds at most 255 characters");
    if (v->user_data && strlen(v->user_data) > COMPUTE_MAX_USER_DATA)
        return nubo_err_set(err, NUBO_E_INVALID, "'user_data' is larger than %d bytes",
                            COMPUTE_MAX_USER_DATA);
    if (valid_name(flavor, "flavor", NULL) < 0)
        return nubo_err_set(err, NUBO_E_INVALID, "'flavor' must be a flavor's id or name");
    if (valid_name(image, "image", NULL) < 0)
        return nubo_err_set(err, NUBO_E_INVALID, "'image' must be an image's id or name");
    if (group && valid_name(group, "server_group", NULL) < 0)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "'server_group' must be a server group's id or "
                            "name");
    if (v->keypair && valid_name(v->keypair, "keypair", NULL) < 0)
        return nubo_err_set(err, NUBO_E_INVALID, "'keypair' must be a keypair's name");
    if (name_list(body, "networks", &v->networks, err) < 0 ||
        name_list(body, "security_groups", &v->security_groups, err) < 0)
        return -1;
    json_t *f = compute_flavor_get(st, ctx, flavor, err);
    if (f == NULL)
        return ref_bad(err, "flavor", "flavor");
    str_copy(v->flavor_id, sizeof(v->flavor_id), jsonx_str(f, "id"));
    json_decref(f);
    if (image_resolve(st, ctx, image, v->image_id, err) < 0)
        return -1;
    if (v->keypair) {
        json_t *k = compute_keypair_get(st, ctx, v->keypair, err);
        if (k == NULL)
            return ref_bad(err, "keypair", "keypair");
        json_decref(k);
    }
    if (group) {
        json_t *g = compute_server_group_get(st, ctx, group, err);
        if (g == NULL)
            return ref_bad(err, "server_group", "server group");
        str_copy(v->server_group_id, sizeof(v->server_group_id), jsonx_str(g, "id"));
        json_decref(g);
    }
    return refs_check(st, ctx, v, err);
}

static int version_insert(struct store *st, const struct ctx *ctx, const char *template_id,
                          long long version, const struct version_spec *v, struct nubo_err *err)
{
    char now[32];
    clock_stamp(now);
    return store_exec(st, err,
                      "INSERT INTO launch_template_versions (template_id, version, project_id,"
                      " description, flavor_id, image_id, keypair, user_data, server_group_id,"
                      " networks, security_groups, created_at) VALUES"
                      " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      "sissssssssss", template_id, version, ctx->project_id,
                      v->description ? v->description : "", v->flavor_id, v->image_id, v->keypair,
                      v->user_data, v->server_group_id[0] ? v->server_group_id : NULL, v->networks,
                      v->security_groups, now) < 0
               ? -1
               : 0;
}

/* The template with its default version's content (consumes t). */
static json_t *template_json(struct store *st, json_t *t, struct nubo_err *err)
{
    json_t *v =
        store_query_one(st, err, VERSION_SELECT " WHERE v.template_id = ? AND v.version = ?", "si",
                        jsonx_str(t, "id"), scale_int(t, "default_version"));
    if (v == NULL) {
        json_decref(t);
        return NULL;
    }
    json_object_set_new(t, "default", version_json(v));
    return t;
}

json_t *scale_template_create(struct store *st, const struct ctx *ctx, json_t *body,
                              struct nubo_err *err)
{
    const char *name = NULL;
    struct version_spec v = {0};
    json_t *out = NULL;
    char id[37], now[32];
    if (scale_body_str(body, "name", true, &name, err) < 0 ||
        valid_name(name, "template name", err) < 0)
        return NULL;
    if (store_begin(st, true, err) < 0)
        return NULL;
    if (scale_quota_check(st, ctx->project_id, QUOTA_LAUNCH_TEMPLATES, err) < 0 ||
        version_spec_read(st, ctx, body, &v, err) < 0)
        goto cleanup;
    id_new(id);
    clock_stamp(now);
    if (store_exec(st, err,
                   "INSERT INTO launch_templates (id, project_id, name, description,"
                   " latest_version, default_version, created_at, updated_at) VALUES"
                   " (?, ?, ?, ?, 1, 1, ?, ?)",
                   "ssssss", id, ctx->project_id, name, v.description ? v.description : "", now,
                   now) < 0) {
        if (err->code == NUBO_E_CONFLICT)
            nubo_err_set(err, NUBO_E_CONFLICT,
                         "a launch template named '%s' exists in this project already", name);
        goto cleanup;
    }
    if (version_insert(st, ctx, id, 1, &v, err) < 0)
        goto cleanup;
    json_t *t = template_find(st, ctx, id, err);
    if (t == NULL || (out = template_json(st, t, err)) == NULL || store_commit(st, err) < 0) {
        json_decref(out);
        out = NULL;
    }
cleanup:
    if (out == NULL)
        store_rollback(st);
    version_spec_free(&v);
    if (out)
        scale_changed();
    return out;
}

json_t *scale_template_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                            struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    if (store_page_start(st, &pg, err,
                         "SELECT created_at FROM launch_templates WHERE id = ? AND project_id = ?",
                         "ss", marker, ctx->project_id) < 0)
        return NULL;
    return store_page_query(st, &pg, "t.created_at, t.id", err,
                            TEMPLATE_SELECT " WHERE t.project_id = ?", "s", ctx->project_id);
}

json_t *scale_template_get(struct store *st, const struct ctx *ctx, const char *ref,
                           struct nubo_err *err)
{
    json_t *t = template_find(st, ctx, ref, err);
    return t ? template_json(st, t, err) : NULL;
}

json_t *scale_template_update(struct store *st, const struct ctx *ctx, const char *ref,
                              json_t *body, struct nubo_err *err)
{
    long long def = 0;
    bool set_def = false;
    const char *desc = NULL;
    json_t *t = NULL, *out = NULL;
    char now[32];
    if (scale_body_int(body, "default_version", false, 1, 1000000, &def, &set_def, err) < 0 ||
        scale_body_str(body, "description", false, &desc, err) < 0)
        return NULL;
    if (desc && strlen(desc) > 255) {
        nubo_err_set(err, NUBO_E_INVALID, "'description' holds at most 255 characters");
        return NULL;
    }
    if (store_begin(st, true, err) < 0)
        return NULL;
    t = template_find(st, ctx, ref, err);
    if (t == NULL)
        goto cleanup;
    if (set_def && def > scale_int(t, "latest_version")) {
        nubo_err_set(err, NUBO_E_INVALID, "'default_version' must be from 1 to %lld",
                     scale_int(t, "latest_version"));
        goto cleanup;
    }
    clock_now_str(now);
    if (store_exec(st, err,
                   "UPDATE launch_templates SET default_version = ?, description = ?,"
                   " updated_at = ? WHERE id = ? AND project_id = ?",
                   "issss", set_def ? def : scale_int(t, "default_version"),
                   desc ? desc : jsonx_str(t, "description"), now, jsonx_str(t, "id"),
                   ctx->project_id) < 0)
        goto cleanup;
    json_t *nt = template_find(st, ctx, jsonx_str(t, "id"), err);
    if (nt == NULL || (out = template_json(st, nt, err)) == NULL || store_commit(st, err) < 0) {
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

int scale_template_delete(struct store *st, const struct ctx *ctx, const char *ref,
                          struct nubo_err *err)
{
    int rc = -1;
    if (store_begin(st, true, err) < 0)
        return -1;
    json_t *t = template_find(st, ctx, ref, err);
    if (t == NULL)
        goto cleanup;
    json_t *used = store_query(st, err,
                               "SELECT name FROM scaling_groups WHERE template_id = ? AND"
                               " project_id = ?",
                               "ss", jsonx_str(t, "id"), ctx->project_id);
    if (used == NULL)
        goto cleanup;
    if (json_array_size(used) > 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "launch template '%s' is used by scaling group '%s'; delete the group first",
                     jsonx_str(t, "name"), jsonx_str(json_array_get(used, 0), "name"));
        json_decref(used);
        goto cleanup;
    }
    json_decref(used);
    if (store_exec(st, err, "DELETE FROM launch_template_versions WHERE template_id = ?", "s",
                   jsonx_str(t, "id")) < 0 ||
        store_exec(st, err, "DELETE FROM launch_templates WHERE id = ? AND project_id = ?", "ss",
                   jsonx_str(t, "id"), ctx->project_id) < 0 ||
        store_commit(st, err) < 0)
        goto cleanup;
    rc = 0;
cleanup:
    if (rc < 0)
        store_rollback(st);
    json_decref(t);
    return rc;
}

json_t *scale_template_version_create(struct store *st, const struct ctx *ctx, const char *ref,
                                      json_t *body, struct nubo_err *err)
{
    struct version_spec v = {0};
    json_t *t = NULL, *out = NULL;
    char now[32];
    json_t *sd = json_object_get(body, "set_default");
    if (sd && !json_is_boolean(sd)) {
        nubo_err_set(err, NUBO_E_INVALID, "'set_default' must be true or false");
        return NULL;
    }
    if (store_begin(st, true, err) < 0)
        return NULL;
    t = template_find(st, ctx, ref, err);
    if (t == NULL || version_spec_read(st, ctx, body, &v, err) < 0)
        goto cleanup;
    long long ver = scale_int(t, "latest_version") + 1;
    clock_now_str(now);
    if (version_insert(st, ctx, jsonx_str(t, "id"), ver, &v, err) < 0 ||
        store_exec(st, err,
                   "UPDATE launch_templates SET latest_version = ?, default_version = ?,"
                   " updated_at = ? WHERE id = ? AND project_id = ?",
                   "iisss", ver, json_is_true(sd) ? ver : scale_int(t, "default_version"), now,
                   jsonx_str(t, "id"), ctx->project_id) < 0)
        goto cleanup;
    json_t *row =
        store_query_one(st, err, VERSION_SELECT " WHERE v.template_id = ? AND v.version = ?", "si",
                        jsonx_str(t, "id"), ver);
    if (row == NULL)
        goto cleanup;
    out = version_json(row);
    json_object_set_new(out, "template_id", json_string(jsonx_str(t, "id")));
    if (store_commit(st, err) < 0) {
        json_decref(out);
        out = NULL;
    }
cleanup:
    if (out == NULL)
        store_rollback(st);
    version_spec_free(&v);
    json_decref(t);
    if (out)
        scale_changed();
    return out;
}

json_t *scale_template_versions(struct store *st, const struct ctx *ctx, const char *ref, int limit,
                                const char *marker, struct nubo_err *err)
{
    long long after = 0;
    if (marker && valid_int(marker, 1, 1000000, "marker", &after, err) < 0)
        return NULL;
    json_t *t = template_find(st, ctx, ref, err);
    if (t == NULL)
        return NULL;
    json_t *rows =
        store_query(st, err,
                    VERSION_SELECT " WHERE v.template_id = ? AND v.project_id = ? AND"
                                   " v.version > ? ORDER BY v.version LIMIT ?",
                    "ssii", jsonx_str(t, "id"), ctx->project_id, after, (long long)limit + 1);
    json_decref(t);
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        version_json(r);
        /* store_page_wrap takes the last item's "id" as next_marker */
        json_object_set_new(r, "id", json_sprintf("%lld", scale_int(r, "version")));
    }
    return rows;
}
