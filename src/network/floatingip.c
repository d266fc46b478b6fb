/*
 * floatingip.c - floating IPs: an address of an external network's subnet
 * owned by a project, NATed by the host of the port it is associated with
 * (docs/internals/networking.md: the router namespace's nft NAT).
 *
 * Allocation takes the lowest free address of the external subnet's pools
 * (skipping its gateway) inside the write transaction; floating_ips.ip is
 * UNIQUE.  A floating IP is associated with at most one port of the same
 * project (port_id UNIQUE) and a port has at most one.
 *
 * An allocated address is billed (meter floating_ip, src/billing) from its
 * allocation to its release, associated or not: the meter hook
 * (network_set_meter_hook()) runs in the transactions that insert and
 * delete the row.
 */
#include "network/net_int.h"
#include "network/network.h"

#include <string.h>

#include "lib/clock.h"
#include "lib/inet.h"
#include "lib/util.h"
#include "lib/valid.h"

#define FIP_SELECT                                                                                 \
    "SELECT f.id, f.project_id, f.network_id, f.subnet_id, f.ip, f.port_id, f.fixed_ip,"           \
    " f.created_at FROM floating_ips f"

static json_t *fip_find(struct store *st, const struct ctx *ctx, const char *id,
                        struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    if (!valid_is_uuid(id)) {
        nubo_err_set(err, NUBO_E_NOTFOUND, "no floating IP '%.64s'", id ? id : "");
        return NULL;
    }
    json_t *row = store_query_one(st, &qerr, FIP_SELECT " WHERE f.id = ? AND f.project_id = ?",
                                  "ss", id, ctx->project_id);
    if (row == NULL)
        net_notfound(err, &qerr, "floating IP", id);
    return row;
}

json_t *floatingip_get(struct store *st, const struct ctx *ctx, const char *id,
                       struct nubo_err *err)
{
    return fip_find(st, ctx, id, err);
}

json_t *floatingip_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                        struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    if (store_page_start(st, &pg, err,
                         "SELECT created_at FROM floating_ips WHERE id = ? AND project_id = ?",
                         "ss", marker, ctx->project_id) < 0)
        return NULL;
    return store_page_query(st, &pg, "f.created_at, f.id", err,
                            FIP_SELECT " WHERE f.project_id = ?", "s", ctx->project_id);
}

json_t *floatingip_create(struct store *st, const struct ctx *ctx, const char *network,
                          struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *net = NULL, *subnet = NULL, *out = NULL;
    char id[37], now[32], ips[16];
    uint32_t ip;
    if (network && net_ref_check(network, "network", "an external network", err) < 0)
        return NULL;
    if (store_begin(st, true, err) < 0)
        return NULL;
    if (net_quota_check(st, ctx->project_id, QUOTA_FLOATING_IPS, 1, err) < 0)
        goto cleanup;
    if (network) {
        net = net_network_find(st, ctx, network, false, err);
        if (net && !json_integer_value(json_object_get(net, "external"))) {
            nubo_err_set(err, NUBO_E_INVALID, "network '%s' is not external",
                         jsonx_str(net, "name"));
            goto cleanup;
        }
    } else {
        json_t *all = store_query(st, err,
                                  "SELECT id FROM networks WHERE external = 1 ORDER BY created_at"
                                  " LIMIT 2",
                                  "");
        if (all == NULL)
            goto cleanup;
        size_t n = json_array_size(all);
        if (n == 1)
            net = net_network_find(st, ctx, jsonx_str(json_array_get(all, 0), "id"), false, err);
        else
            nubo_err_set(err, n == 0 ? NUBO_E_CONFLICT : NUBO_E_INVALID,
                         n == 0 ? "the cloud has no external network for floating IPs"
                                : "there are several external networks: say which ('network')");
        json_decref(all);
    }
    if (net == NULL) {
        net_ref_invalid(err);
        goto cleanup;
    }
    subnet = store_query_one(st, &qerr,
                             "SELECT id, cidr, gateway, allocation_pools FROM subnets WHERE"
                             " network_id = ? ORDER BY created_at, id LIMIT 1",
                             "s", jsonx_str(net, "id"));
    if (subnet == NULL) {
        nubo_err_set(err, qerr.code == NUBO_E_NOTFOUND ? NUBO_E_CONFLICT : qerr.code,
                     "external network '%s' has no subnet", jsonx_str(net, "name"));
        goto cleanup;
    }
    if (net_ipam_allocate(st, subnet, NULL, true, &ip, err) < 0)
        goto cleanup;
    inet_ipv4_format(ip, ips);
    id_new(id);
    clock_stamp(now);
    if (store_exec(st, err,
                   "INSERT INTO floating_ips (id, project_id, network_id, subnet_id, ip, ip_int,"
                   " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   "sssssis", id, ctx->project_id, jsonx_str(net, "id"), jsonx_str(subnet, "id"),
                   ips, (long long)ip, now) < 0 ||
        net_metered(st, id, err) < 0)
        goto cleanup;
    json_t *row = fip_find(st, ctx, id, err);
    if (row == NULL)
        goto cleanup;
    /* The answer, with the effect, for an Idempotency-Key retry: an
     * address allocated twice would be billed twice. */
    if (identity_idem_answer(st, "POST", "/v1/floating-ips", 201, row, err) < 0 ||
        store_commit(st, err) < 0) {
        json_decref(row);
        goto cleanup;
    }
    out = row;
cleanup:
    if (out == NULL)
        store_rollback(st);
    json_decref(subnet);
    json_decref(net);
    return out;
}

json_t *floatingip_update(struct store *st, const struct ctx *ctx, const char *id,
                          const char *port_id, struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *row = NULL, *port = NULL, *out = NULL;
    if (store_begin(st, true, err) < 0)
        return NULL;
    row = fip_find(st, ctx, id, err);
    if (row == NULL)
        goto cleanup;
    if (port_id == NULL) {
        if (store_exec(st, err,
                       "UPDATE floating_ips SET port_id = NULL, fixed_ip = NULL WHERE id = ?", "s",
                       id) < 0)
            goto cleanup;
    } else {
        if (!valid_is_uuid(port_id)) {
            nubo_err_set(err, NUBO_E_INVALID, "port_id must be the id of a port of the project");
            goto cleanup;
        }
        port = store_query_one(st, &qerr,
                               "SELECT id, ip, (SELECT f.id FROM floating_ips f WHERE"
                               " f.port_id = p.id) AS fip FROM ports p WHERE p.id = ? AND"
                               " p.project_id = ?",
                               "ss", port_id, ctx->project_id);
        if (port == NULL) {
            net_notfound(err, &qerr, "port", port_id);
            net_ref_invalid(err);
            goto cleanup;
        }
        const char *other = json_string_value(json_object_get(port, "fip"));
        if (other && strcmp(other, id) != 0) {
            nubo_err_set(err, NUBO_E_CONFLICT,
                         "port %s already has floating IP %s; disassociate it first", port_id,
                         other);
            goto cleanup;
        }
        if (store_exec(st, err, "UPDATE floating_ips SET port_id = ?, fixed_ip = ? WHERE id = ?",
                       "sss", port_id, jsonx_str(port, "ip"), id) < 0)
            goto cleanup;
    }
    json_t *r = fip_find(st, ctx, id, err);
    if (r == NULL)
        goto cleanup;
    if (store_commit(st, err) < 0) {
        json_decref(r);
        goto cleanup;
    }
    out = r;
    net_changed();
cleanup:
    if (out == NULL)
        store_rollback(st);
    json_decref(port);
    json_decref(row);
    return out;
}

int floatingip_delete(struct store *st, const struct ctx *ctx, const char *id, struct nubo_err *err)
{
    if (!valid_is_uuid(id))
        return nubo_err_set(err, NUBO_E_NOTFOUND, "no floating IP '%.64s'", id);
    if (store_begin(st, true, err) < 0)
        return -1;
    /* The release and the end of its usage record: one transaction. */
    int rc = -1;
    json_t *row = fip_find(st, ctx, id, err);
    if (row == NULL)
        goto cleanup;
    bool bound = !json_is_null(json_object_get(row, "port_id"));
    long long n = store_exec(st, err, "DELETE FROM floating_ips WHERE id = ? AND project_id = ?",
                             "ss", id, ctx->project_id);
    if (n < 0)
        goto cleanup;
    if (n == 0) {
        nubo_err_set(err, NUBO_E_NOTFOUND, "no floating IP '%.64s'", id);
        goto cleanup;
    }
    if (net_metered(st, id, err) < 0 || store_commit(st, err) < 0)
        goto cleanup;
    rc = 0;
    if (bound)
        net_changed();
cleanup:
    store_rollback(st); /* a no-op after the commit */
    json_decref(row);
    return rc;
}
