/*
 * quota.c - per-project limits, checked atomically with the create, and
 * the quota routes' services (show limits + usage, change limits).
 *
 * Usage is not stored: it is counted when asked (a stored counter would
 * drift).  Identity counts only its own rows (API keys); every other
 * dimension is counted by the module that owns the rows, inside the
 * create's write transaction, and comes in as a number
 * (quota_check_count(), quota_check()) or through a quota_usage_fn.
 *
 * The dimensions are one table below; their columns in the quotas table
 * carry the names of the API.
 */
#include <stdio.h>

#include "identity/identity.h"

#include "identity/identity_int.h"
#include "lib/clock.h"

#define GIB (1LL << 30)

static const struct {
    const char *name; /* the API name and the quotas column */
    const char *what; /* in messages */
    long long unit;   /* how many counted things one unit of the limit is */
} dims[QUOTA_DIMS] = {
    [QUOTA_INSTANCES] = {"instances", "instances", 1},
    [QUOTA_VCPUS] = {"vcpus", "vCPUs", 1},
    [QUOTA_RAM_MIB] = {"ram_mib", "MiB of RAM", 1},
    [QUOTA_DISK_GIB] = {"disk_gib", "GiB of disk", 1},
    [QUOTA_NETWORKS] = {"networks", "networks", 1},
    [QUOTA_SUBNETS] = {"subnets", "subnets", 1},
    [QUOTA_PORTS] = {"ports", "ports", 1},
    [QUOTA_SECURITY_GROUPS] = {"security_groups", "security groups", 1},
    [QUOTA_SECURITY_GROUP_RULES] = {"security_group_rules", "security group rules", 1},
    [QUOTA_FLOATING_IPS] = {"floating_ips", "floating IPs", 1},
    [QUOTA_ALARMS] = {"alarms", "alarms", 1},
    [QUOTA_LAUNCH_TEMPLATES] = {"launch_templates", "launch templates", 1},
    [QUOTA_SCALING_GROUPS] = {"scaling_groups", "scaling groups", 1},
    [QUOTA_STACKS] = {"stacks", "stacks", 1},
    [QUOTA_API_KEYS] = {"api_keys", "API keys", 1},
    [QUOTA_IMAGES] = {"images", "images", 1},
    [QUOTA_IMAGE_GIB] = {"image_gib", "GiB of image files", GIB},
    [QUOTA_KEYPAIRS] = {"keypairs", "keypairs", 1},
    [QUOTA_SERVER_GROUPS] = {"server_groups", "server groups", 1},
    [QUOTA_SCALING_POLICIES] = {"scaling_policies", "scaling policies", 1},
    [QUOTA_SCHEDULED_ACTIONS] = {"scheduled_actions", "scheduled actions", 1},
    [QUOTA_VOLUMES] = {"volumes", "volumes", 1},
    [QUOTA_VOLUME_GIB] = {"volume_gib", "GiB of volumes and snapshots", 1},
    [QUOTA_SNAPSHOTS] = {"snapshots", "volume snapshots", 1},
};

const char *quota_dim_name(enum quota_dim d)
{
    return (unsigned)d < QUOTA_DIMS ? dims[d].name : "?";
}

/* The project's quota row (new reference), or NULL with err. */
static json_t *limits_read(struct store *st, const char *project_id, struct nubo_err *err)
{
    json_t *q =
        store_query_one(st, err, "SELECT * FROM quotas WHERE project_id = ?", "s", project_id);
    if (q == NULL && err && err->code == NUBO_E_NOTFOUND)
        nubo_err_set(err, NUBO_E_INTERNAL, "project %s has no quota record", project_id);
    return q;
}

static long long limit_of(const json_t *q, enum quota_dim d)
{
    return (long long)json_integer_value(json_object_get(q, dims[d].name));
}

/* The message of a refused create, from a row already read. */
static int exceeded(const json_t *q, enum quota_dim d, long long want, long long used,
                    struct nubo_err *err)
{
    long long max = limit_of(q, d);
    if (dims[d].unit == 1) {
        if (used + want <= max)
            return 0;
        return nubo_err_set(err, NUBO_E_FORBIDDEN,
                            "quota exceeded: the project uses %lld of %lld %s and this "
                            "request needs %lld more; delete something or ask an admin to "
                            "raise the quota",
                            used, max, dims[d].what, want);
    }
    if (used + want <= max * dims[d].unit)
        return 0;
    /* Counted in bytes: the sizes as they are, not rounded to the unit. */
    return nubo_err_set(err, NUBO_E_FORBIDDEN,
                        "quota exceeded: the project uses %lld bytes of %lld %s (%lld bytes) "
                        "and this request needs %lld bytes more; delete something or ask an "
                        "admin to raise the quota",
                        used, max, dims[d].what, max * dims[d].unit, want);
}

int quota_check_count(struct store *st, const char *project_id, enum quota_dim dim, long long want,
                      long long used, struct nubo_err *err)
{
    if ((unsigned)dim >= QUOTA_DIMS)
        return nubo_err_set(err, NUBO_E_INTERNAL, "no quota dimension %d", (int)dim);
    json_t *q = limits_read(st, project_id, err);
    if (q == NULL)
        return -1;
    int rc = exceeded(q, dim, want, used, err);
    json_decref(q);
    return rc;
}

int quota_check(struct store *st, const char *project_id, const struct quota_usage *used,
                const struct quota_ask *ask, struct nubo_err *err)
{
    json_t *q = limits_read(st, project_id, err);
    if (q == NULL)
        return -1;
    long long want[4] = {ask->instances, ask->vcpus, ask->ram_mib, ask->disk_gib};
    long long have[4] = {used->instances, used->vcpus, used->ram_mib, used->disk_gib};
    int rc = 0;
    for (int i = 0; i < 4 && rc == 0; i++)
        rc = exceeded(q, (enum quota_dim)i, want[i], have[i], err);
    json_decref(q);
    return rc;
}

int identity_apikey_count(struct store *st, const char *project_id, long long *n,
                          struct nubo_err *err)
{
    json_t *r = store_query_one(st, err,
                                "SELECT COUNT(*) AS n FROM tokens WHERE kind = 'apikey'"
                                " AND project_id = ? AND revoked_at IS NULL AND expires_ms > ?",
                                "si", project_id, (long long)clock_now_ms());
    if (r == NULL)
        return -1;
    *n = (long long)json_integer_value(json_object_get(r, "n"));
    json_decref(r);
    return 0;
}

/* The limits of project id and its usage (read by usage), shaped as the
 * API answers. */
static json_t *quota_show(struct store *st, const char *id, quota_usage_fn *usage,
                          struct nubo_err *err)
{
    long long used[QUOTA_DIMS] = {0};
    if (usage(st, id, used, err) < 0 ||
        identity_apikey_count(st, id, &used[QUOTA_API_KEYS], err) < 0)
        return NULL;
    json_t *q = limits_read(st, id, err);
    if (q == NULL)
        return NULL;
    json_t *limits = json_object(), *use = json_object();
    for (int d = 0; d < QUOTA_DIMS; d++) {
        long long u = (used[d] + dims[d].unit - 1) / dims[d].unit;
        json_object_set_new(limits, dims[d].name, json_integer(limit_of(q, (enum quota_dim)d)));
        json_object_set_new(use, dims[d].name, json_integer(u));
    }
    json_decref(q);
    return json_pack("{s:s, s:o, s:o}", "project_id", id, "limits", limits, "usage", use);
}

json_t *identity_quota_get(struct store *st, const struct ctx *ctx, const char *project,
                           quota_usage_fn *usage, struct nubo_err *err)
{
    char id[37], name[64];
    if (identity_project_resolve(st, ctx, project, id, name, err) < 0)
        return NULL;
    return quota_show(st, id, usage, err);
}

json_t *identity_quota_set(struct store *st, const struct ctx *ctx, const char *project,
                           const struct quota_change *ch, quota_usage_fn *usage,
                           struct nubo_err *err)
{
    char id[37], name[64], sql[128];
    json_t *out = NULL;
    if (authz_require(ctx, AUTHZ_ADMIN, err) < 0)
        return NULL;
    for (int i = 0; i < QUOTA_DIMS; i++) {
        if (ch->set[i] && (ch->value[i] < 0 || ch->value[i] > QUOTA_MAX)) {
            nubo_err_set(err, NUBO_E_INVALID, "%s must be a whole number from 0 to %lld",
                         dims[i].name, (long long)QUOTA_MAX);
            return NULL;
        }
    }
    if (store_begin(st, true, err) < 0)
        return NULL;
    if (identity_project_resolve(st, ctx, project, id, name, err) < 0)
        goto cleanup;
    for (int i = 0; i < QUOTA_DIMS; i++) {
        if (!ch->set[i])
            continue;
        /* The column is a name of the table above, never input. */
        int n = snprintf(sql, sizeof(sql), "UPDATE quotas SET %s = ? WHERE project_id = ?",
                         dims[i].name);
        if (n < 0 || (size_t)n >= sizeof(sql)) {
            nubo_err_set(err, NUBO_E_INTERNAL, "quota statement too long");
            goto cleanup;
        }
        if (store_exec(st, err, sql, "is", ch->value[i], id) < 0)
            goto cleanup;
    }
    out = quota_show(st, id, usage, err);
    if (out && store_commit(st, err) < 0) {
        json_decref(out);
        out = NULL;
    }
cleanup:
    store_rollback(st); /* a no-op after the commit */
    return out;
}
