/*
 * quota.c - per-project limits, checked atomically with the create, and
 * the quota routes' services (show limits + usage, change limits).
 *
 * Usage is not stored: it is the sum over the project's instances that are
 * not deleted, counted when asked (a stored counter would drift).  The
 * instances are compute's (which sits above identity), so the count comes
 * in as input: a struct quota_usage, or the function that reads it
 * (compute_usage()).
 */
#include "identity/identity.h"

#include "identity/identity_int.h"

int quota_check(struct store *st, const char *project_id, const struct quota_usage *used,
                const struct quota_ask *ask, struct nubo_err *err)
{
    json_t *q = store_query_one(st, err,
                                "SELECT instances, vcpus, ram_mib, disk_gib FROM quotas"
                                " WHERE project_id = ?",
                                "s", project_id);
    if (q == NULL) {
        if (err && err->code == NUBO_E_NOTFOUND)
            nubo_err_set(err, NUBO_E_INTERNAL, "project %s has no quota record", project_id);
        return -1;
    }
    static const struct {
        const char *max, *what;
    } dims[] = {{"instances", "instances"},
                {"vcpus", "vCPUs"},
                {"ram_mib", "MiB of RAM"},
                {"disk_gib", "GiB of disk"}};
    long long want[4] = {ask->instances, ask->vcpus, ask->ram_mib, ask->disk_gib};
    long long have[4] = {used->instances, used->vcpus, used->ram_mib, used->disk_gib};
    int rc = 0;
    for (int i = 0; i < 4 && rc == 0; i++) {
        long long max = json_integer_value(json_object_get(q, dims[i].max));
        if (have[i] + want[i] > max)
            rc = nubo_err_set(err, NUBO_E_FORBIDDEN,
                              "quota exceeded: the project uses %lld of %lld %s and this "
                              "request needs %lld more; delete something or ask an admin to "
                              "raise the quota",
                              have[i], max, dims[i].what, want[i]);
    }
    json_decref(q);
    return rc;
}

static json_int_t col(json_t *row, const char *k)
{
    return json_integer_value(json_object_get(row, k));
}

/* The limits of project id and its usage (read by usage), shaped as the
 * API answers. */
static json_t *quota_show(struct store *st, const char *id, quota_usage_fn *usage,
                          struct nubo_err *err)
{
    struct quota_usage u;
    if (usage(st, id, &u, err) < 0)
        return NULL;
    json_t *q = store_query_one(st, err,
                                "SELECT instances, vcpus, ram_mib, disk_gib FROM quotas"
                                " WHERE project_id = ?",
                                "s", id);
    if (q == NULL) {
        if (err && err->code == NUBO_E_NOTFOUND)
            nubo_err_set(err, NUBO_E_INTERNAL, "project %s has no quota record", id);
        return NULL;
    }
    json_t *out = json_pack(
        "{s:s, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I}}", "project_id", id, "limits",
        "instances", col(q, "instances"), "vcpus", col(q, "vcpus"), "ram_mib", col(q, "ram_mib"),
        "disk_gib", col(q, "disk_gib"), "usage", "instances", (json_int_t)u.instances, "vcpus",
        (json_int_t)u.vcpus, "ram_mib", (json_int_t)u.ram_mib, "disk_gib", (json_int_t)u.disk_gib);
    json_decref(q);
    return out;
}

json_t *identity_quota_get(struct store *st, const struct ctx *ctx, const char *project,
                           quota_usage_fn *usage, struct nubo_err *err)
{
    char id[37], name[64];
    if (identity_project_resolve(st, ctx, project, id, name, err) < 0)
        return NULL;
    return quota_show(st, id, usage, err);
}

const char *quota_dim_name(enum quota_dim d)
{
    static const char *const names[QUOTA_DIMS] = {"instances", "vcpus", "ram_mib", "disk_gib"};
    return (unsigned)d < QUOTA_DIMS ? names[d] : "?";
}

json_t *identity_quota_set(struct store *st, const struct ctx *ctx, const char *project,
                           const struct quota_change *ch, quota_usage_fn *usage,
                           struct nubo_err *err)
{
    char id[37], name[64];
    long long set[QUOTA_DIMS], v[QUOTA_DIMS];
    json_t *out = NULL;
    if (authz_require(ctx, AUTHZ_ADMIN, err) < 0)
        return NULL;
    for (int i = 0; i < QUOTA_DIMS; i++) {
        set[i] = ch->set[i];
        v[i] = ch->set[i] ? ch->value[i] : 0;
        if (v[i] < 0 || v[i] > QUOTA_MAX) {
            nubo_err_set(err, NUBO_E_INVALID, "%s must be a whole number from 0 to %lld",
                         quota_dim_name((enum quota_dim)i), (long long)QUOTA_MAX);
            return NULL;
        }
    }
    if (store_begin(st, true, err) < 0)
        return NULL;
    if (identity_project_resolve(st, ctx, project, id, name, err) < 0 ||
        store_exec(st, err,
                   "UPDATE quotas SET"
                   " instances = CASE WHEN ? = 1 THEN ? ELSE instances END,"
                   " vcpus = CASE WHEN ? = 1 THEN ? ELSE vcpus END,"
                   " ram_mib = CASE WHEN ? = 1 THEN ? ELSE ram_mib END,"
                   " disk_gib = CASE WHEN ? = 1 THEN ? ELSE disk_gib END"
                   " WHERE project_id = ?",
                   "iiiiiiiis", set[0], v[0], set[1], v[1], set[2], v[2], set[3], v[3], id) < 0)
        goto cleanup;
    out = quota_show(st, id, usage, err);
    if (out && store_commit(st, err) < 0) {
        json_decref(out);
        out = NULL;
    }
cleanup:
    store_rollback(st); /* a no-op after the commit */
    return out;
}
