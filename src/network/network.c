/*
 * network.c - networks (create with VNI allocation, list, show, rename,
 * delete), the change and meter hooks and the helpers of net_int.h.
 *
 * A network's VNI is the smallest free one >= NETWORK_VNI_MIN, chosen
 * inside the create's write transaction (networks.vni is UNIQUE as well).
 * Its router MAC is derived from its id (net_router_mac), so every host
 * computes the same one.  An external network (cloud admin only) is
 * visible to every project, which allocate floating IPs from it.
 */
#include "network/net_int.h"
#include "network/network.h"

#include <stdio.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/valid.h"

#define NETWORK_SELECT                                                                             \
    "SELECT n.id, n.project_id, n.name, n.description, n.vni, n.mtu, n.external, n.router_mac,"    \
    " n.created_at FROM networks n"

static void (*hook_fn)(void *);
static void *hook_arg;

void network_set_change_hook(void (*fn)(void *), void *arg)
{
    hook_fn = fn;
    hook_arg = arg;
}

void net_changed(void)
{
    if (hook_fn)
        hook_fn(hook_arg);
}

static network_meter_fn *meter_fn;
static void *meter_arg;

void network_set_meter_hook(network_meter_fn *fn, void *arg)
{
    meter_fn = fn;
    meter_arg = arg;
}

int net_metered(struct store *st, const char *floating_ip_id, struct nubo_err *err)
{
    return meter_fn ? meter_fn(st, floating_ip_id, meter_arg, err) : 0;
}

/* ------------------------------------------------------------ helpers */

json_t *net_column(const json_t *rows, const char *key)
{
    json_t *out = json_array();
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r)
        json_array_append(out, json_object_get(r, key));
    return out;
}

int net_notfound(struct nubo_err *err, const struct nubo_err *lookup_err, const char *what,
                 const char *ref)
{
    if (lookup_err->code != NUBO_E_NOTFOUND)
        return nubo_err_set(err, lookup_err->code, "%s", lookup_err->msg);
    return nubo_err_set(err, NUBO_E_NOTFOUND, "no %s '%.64s'", what, ref);
}

int net_ref_check(const char *ref, const char *field, const char *what, struct nubo_err *err)
{
    if (ref == NULL || valid_name(ref, field, NULL) < 0)
        return nubo_err_set(err, NUBO_E_INVALID, "%s must be the id or the name of %s", field,
                            what);
    return 0;
}

int net_ref_lookup(const char *ref, const char *what, struct nubo_err *err)
{
    if (ref == NULL || valid_name(ref, what, NULL) < 0)
        return nubo_err_set(err, NUBO_E_NOTFOUND, "no %s with that id or name", what);
    return 0;
}

void net_ref_invalid(struct nubo_err *err)
{
    if (err->code == NUBO_E_NOTFOUND)
        err->code = NUBO_E_INVALID;
}

/* The API shape of a network row (consumes row): external as a boolean. */
static json_t *network_json(json_t *row)
{
    json_object_set_new(row, "external",
                        json_boolean(json_integer_value(json_object_get(row, "external"))));
    return row;
}

json_t *net_network_find(struct store *st, const struct ctx *ctx, const char *ref, bool write,
                         struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    if (net_ref_lookup(ref, "network", err) < 0)
        return NULL;
    /* An id wins over a name; names are unique per project, and the
     * project's own network wins over an external one of the same name. */
    json_t *row = store_query_one(st, &qerr,
                                  NETWORK_SELECT
                                  " WHERE (n.id = ? OR n.name = ?)"
                                  " AND (n.project_id = ? OR ? = 1 OR (? = 0 AND n.external = 1))"
                                  " ORDER BY (n.id = ?) DESC, (n.project_id = ?) DESC LIMIT 1",
                                  "sssiiss", ref, ref, ctx->project_id, (long long)ctx->is_admin,
                                  (long long)write, ref, ctx->project_id);
    if (row == NULL)
        net_notfound(err, &qerr, "network", ref);
    return row;
}

/* ------------------------------------------------------------ service */

json_t *network_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                     struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    if (store_page_start(st, &pg, err,
                         "SELECT created_at FROM networks WHERE id = ? AND"
                         " (project_id = ? OR external = 1)",
                         "ss", marker, ctx->project_id) < 0)
        return NULL;
    json_t *rows = store_page_query(st, &pg, "n.created_at, n.id", err,
                                    NETWORK_SELECT " WHERE (n.project_id = ? OR n.external = 1)",
                                    "s", ctx->project_id);
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r)
        network_json(r);
    return rows;
}

/* The smallest free VNI >= NETWORK_VNI_MIN (inside the transaction). */
static int vni_allocate(struct store *st, long long *out, struct nubo_err *err)
{
    json_t *rows = store_query(st, err, "SELECT vni FROM networks WHERE vni >= ? ORDER BY vni", "i",
                               (long long)NETWORK_VNI_MIN);
    if (rows == NULL)
        return -1;
    long long want = NETWORK_VNI_MIN;
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        long long v = json_integer_value(json_object_get(r, "vni"));
        if (v > want)
            break;
        if (v == want)
            want++;
    }
    json_decref(rows);
    if (want > NETWORK_VNI_MAX)
        return nubo_err_set(err, NUBO_E_CONFLICT,
                            "no VNI is free: the cloud has too many networks");
    *out = want;
    return 0;
}

json_t *network_create(struct store *st, const struct ctx *ctx, const struct network_spec *s,
                       struct nubo_err *err)
{
    char id[37], now[32], mac[18];
    long long vni = 0, mtu = s->mtu ? s->mtu : NETWORK_MTU_DEFAULT;
    const char *desc = s->description ? s->description : "";
    json_t *out = NULL;
    if (valid_name(s->name, "network name", err) < 0)
        return NULL;
    if (strlen(desc) > 255) {
        nubo_err_set(err, NUBO_E_INVALID, "description holds at most 255 characters");
        return NULL;
    }
    if (mtu < 576 || mtu > 9000) {
        nubo_err_set(err, NUBO_E_INVALID, "mtu must be from 576 to 9000");
        return NULL;
    }
    if (s->external && !ctx->is_admin) {
        nubo_err_set(err, NUBO_E_FORBIDDEN, "only a cloud admin may create an external network");
        return NULL;
    }
    if (store_begin(st, true, err) < 0)
        return NULL;
    id_new(id);
    clock_stamp(now);
    net_router_mac(id, mac);
    if (net_quota_check(st, ctx->project_id, QUOTA_NETWORKS, 1, err) < 0 ||
        vni_allocate(st, &vni, err) < 0)
        goto cleanup;
    if (store_exec(st, err,
                   "INSERT INTO networks (id, project_id, name, description, vni, mtu, external,"
                   " router_mac, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   "ssssiiiss", id, ctx->project_id, s->name, desc, vni, mtu,
                   (long long)s->external, mac, now) < 0) {
        if (err->code == NUBO_E_CONFLICT)
            nubo_err_set(err, NUBO_E_CONFLICT,
                         "a network named '%s' already exists in this project", s->name);
        goto cleanup;
    }
    struct nubo_err qerr = {0};
    json_t *row = store_query_one(st, &qerr, NETWORK_SELECT " WHERE n.id = ?", "s", id);
    if (row == NULL) {
        net_notfound(err, &qerr, "network", id);
        goto cleanup;
    }
    if (store_commit(st, err) < 0) {
        json_decref(row);
        goto cleanup;
    }
    log_info("network %s (%s): vni %lld", id, s->name, vni);
    out = network_json(row);
    net_changed();
cleanup:
    if (out == NULL)
        store_rollback(st);
    return out;
}

json_t *network_get(struct store *st, const struct ctx *ctx, const char *ref, struct nubo_err *err)
{
    json_t *row = net_network_find(st, ctx, ref, false, err);
    if (row == NULL)
        return NULL;
    json_t *subnets = store_query(st, err,
                                  "SELECT id FROM subnets WHERE network_id = ?"
                                  " ORDER BY created_at, id",
                                  "s", jsonx_str(row, "id"));
    if (subnets == NULL) {
        json_decref(row);
        return NULL;
    }
    json_object_set_new(row, "subnets", net_column(subnets, "id"));
    json_decref(subnets);
    return network_json(row);
}

json_t *network_update(struct store *st, const struct ctx *ctx, const char *ref, const char *name,
                       const char *description, struct nubo_err *err)
{
    json_t *row = NULL, *out = NULL;
    if (name && valid_name(name, "network name", err) < 0)
        return NULL;
    if (description && strlen(description) > 255) {
        nubo_err_set(err, NUBO_E_INVALID, "description holds at most 255 characters");
        return NULL;
    }
    if (store_begin(st, true, err) < 0)
        return NULL;
    row = net_network_find(st, ctx, ref, true, err);
    if (row == NULL)
        goto cleanup;
    if (store_exec(st, err,
                   "UPDATE networks SET name = COALESCE(?, name),"
                   " description = COALESCE(?, description) WHERE id = ?",
                   "sss", name, description, jsonx_str(row, "id")) < 0) {
        if (err->code == NUBO_E_CONFLICT)
            nubo_err_set(err, NUBO_E_CONFLICT,
                         "a network named '%s' already exists in this project", name);
        goto cleanup;
    }
    if (store_commit(st, err) < 0)
        goto cleanup;
    out = network_get(st, ctx, jsonx_str(row, "id"), err);
cleanup:
    if (out == NULL)
        store_rollback(st);
    json_decref(row);
    return out;
}

int network_delete(struct store *st, const struct ctx *ctx, const char *ref, struct nubo_err *err)
{
    int rc = -1;
    if (store_begin(st, true, err) < 0)
        return -1;
    json_t *row = net_network_find(st, ctx, ref, true, err), *n = NULL;
    if (row == NULL)
        goto cleanup;
    const char *id = jsonx_str(row, "id");
    n = store_query_one(st, err,
                        "SELECT (SELECT COUNT(*) FROM ports WHERE network_id = ?) AS ports,"
                        " (SELECT COUNT(*) FROM floating_ips WHERE network_id = ?) AS fips",
                        "ss", id, id);
    if (n == NULL)
        goto cleanup;
    long long ports = json_integer_value(json_object_get(n, "ports"));
    long long fips = json_integer_value(json_object_get(n, "fips"));
    if (ports > 0 || fips > 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "network '%s' still has %lld port%s and %lld floating IP%s; delete them "
                     "(and the instances using them) first",
                     jsonx_str(row, "name"), ports, ports == 1 ? "" : "s", fips,
                     fips == 1 ? "" : "s");
        goto cleanup;
    }
    if (store_exec(st, err, "DELETE FROM networks WHERE id = ?", "s", id) < 0 ||
        store_commit(st, err) < 0)
        goto cleanup;
    rc = 0;
    net_changed();
cleanup:
    if (rc < 0)
        store_rollback(st);
    json_decref(n);
    json_decref(row);
    return rc;
}

/* ------------------------------------------------------------- quotas */

/* How each network dimension is counted; a project's rows, all kept until
 * deleted. */
static const char *const count_sql[QUOTA_DIMS] = {
    [QUOTA_NETWORKS] = "SELECT COUNT(*) AS n FROM networks WHERE project_id = ?",
    [QUOTA_SUBNETS] = "SELECT COUNT(*) AS n FROM subnets WHERE project_id = ?",
    [QUOTA_PORTS] = "SELECT COUNT(*) AS n FROM ports WHERE project_id = ?",
    [QUOTA_SECURITY_GROUPS] = "SELECT COUNT(*) AS n FROM security_groups WHERE project_id = ?",
    [QUOTA_SECURITY_GROUP_RULES] =
        "SELECT COUNT(*) AS n FROM security_group_rules WHERE project_id = ?",
    [QUOTA_FLOATING_IPS] = "SELECT COUNT(*) AS n FROM floating_ips WHERE project_id = ?",
};

static int count_of(struct store *st, const char *project_id, enum quota_dim dim, long long *n,
                    struct nubo_err *err)
{
    json_t *r = store_query_one(st, err, count_sql[dim], "s", project_id);
    if (r == NULL)
        return -1;
    *n = (long long)json_integer_value(json_object_get(r, "n"));
    json_decref(r);
    return 0;
}

int net_quota_check(struct store *st, const char *project_id, enum quota_dim dim, long long want,
                    struct nubo_err *err)
{
    long long n = 0;
    if ((unsigned)dim >= QUOTA_DIMS || count_sql[dim] == NULL)
        return nubo_err_set(err, NUBO_E_INTERNAL, "network counts no quota dimension %d", (int)dim);
    if (count_of(st, project_id, dim, &n, err) < 0)
        return -1;
    return quota_check_count(st, project_id, dim, want, n, err);
}

int network_quota_usage(struct store *st, const char *project_id, long long used[QUOTA_DIMS],
                        struct nubo_err *err)
{
    for (int d = 0; d < QUOTA_DIMS; d++)
        if (count_sql[d] && count_of(st, project_id, (enum quota_dim)d, &used[d], err) < 0)
            return -1;
    return 0;
}
