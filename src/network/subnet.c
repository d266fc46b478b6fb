/*
 * subnet.c - subnets: an IPv4 prefix of a network with its gateway, DNS
 * servers and allocation pools, and the IPAM that hands out its addresses.
 *
 * Checks: the CIDR is canonical (host bits zero) with a prefix of 8..30;
 * the gateway is inside it and neither its network nor its broadcast
 * address; pools lie inside it, exclude the network and broadcast address
 * and do not overlap each other; DNS servers are IPv4 addresses; subnets
 * of one network never overlap (checked inside the write transaction).
 * Without pools the whole prefix but the network and broadcast address
 * (and a gateway at either end) is one pool; the gateway is never handed
 * out.
 */
#include "network/net_int.h"
#include "network/network.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/inet.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/valid.h"

#define SUBNET_SELECT                                                                              \
    "SELECT s.id, s.network_id, s.project_id, s.name, s.cidr, s.gateway, s.dns_servers,"           \
    " s.allocation_pools, s.net_first, s.net_last, s.created_at FROM subnets s"

/* The API shape of a subnet row (consumes row): JSON texts decoded,
 * internal columns dropped. */
static json_t *subnet_json(json_t *row)
{
    static const char *const texts[] = {"dns_servers", "allocation_pools"};
    for (size_t k = 0; k < ARRAY_LEN(texts); k++) {
        json_t *v = json_loads(jsonx_str(row, texts[k]), 0, NULL);
        json_object_set_new(row, texts[k], v ? v : json_array());
    }
    json_object_del(row, "net_first");
    json_object_del(row, "net_last");
    return row;
}

/* The pools of a subnet row, decoded (caller frees *out). */
static int pools_of(const json_t *subnet, struct net_pool **out, size_t *n, struct nubo_err *err)
{
    json_t *a = json_loads(jsonx_str(subnet, "allocation_pools"), 0, NULL);
    size_t i;
    json_t *p;
    *n = 0;
    *out = xcalloc(json_array_size(a) + 1, sizeof(**out));
    json_array_foreach (a, i, p) {
        if (inet_ipv4_parse(jsonx_str(p, "start"), &(*out)[*n].start) < 0 ||
            inet_ipv4_parse(jsonx_str(p, "end"), &(*out)[*n].end) < 0) {
            json_decref(a);
            free(*out);
            *out = NULL;
            return nubo_err_set(err, NUBO_E_INTERNAL, "subnet %s has a corrupt pool",
                                jsonx_str(subnet, "id"));
        }
        (*n)++;
    }
    json_decref(a);
    return 0;
}

int net_ipam_allocate(struct store *st, const json_t *subnet, const char *want, bool floating,
                      uint32_t *out, struct nubo_err *err)
{
    struct net_pool *pools = NULL;
    size_t npools, nused = 0;
    uint32_t gw = 0, *used = NULL, ip;
    int rc = -1;
    const char *gws = json_string_value(json_object_get(subnet, "gateway"));
    if (gws && inet_ipv4_parse(gws, &gw) < 0)
        gw = 0;
    if (pools_of(subnet, &pools, &npools, err) < 0)
        return -1;
    json_t *rows = store_query(st, err,
                               floating ? "SELECT ip_int FROM floating_ips WHERE subnet_id = ?"
                                          " ORDER BY ip_int"
                                        : "SELECT ip_int FROM ports WHERE subnet_id = ?"
                                          " ORDER BY ip_int",
                               "s", jsonx_str(subnet, "id"));
    if (rows == NULL)
        goto cleanup;
    used = xcalloc(json_array_size(rows) + 1, sizeof(*used));
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r)
        used[nused++] = (uint32_t)json_integer_value(json_object_get(r, "ip_int"));
    if (want) {
        bool in_pool = false;
        if (inet_ipv4_parse(want, &ip) < 0) {
            nubo_err_set(err, NUBO_E_INVALID, "fixed_ip must be an IPv4 address");
            goto cleanup;
        }
        for (size_t k = 0; k < npools; k++)
            in_pool = in_pool || (ip >= pools[k].start && ip <= pools[k].end);
        if (!in_pool || ip == gw) {
            nubo_err_set(err, NUBO_E_INVALID,
                         "fixed_ip %s is not in an allocation pool of subnet %s (%s)", want,
                         jsonx_str(subnet, "id"), jsonx_str(subnet, "cidr"));
            goto cleanup;
        }
        for (size_t k = 0; k < nused; k++)
            if (used[k] == ip) {
                nubo_err_set(err, NUBO_E_CONFLICT, "address %s is in use on subnet %s", want,
                             jsonx_str(subnet, "cidr"));
                goto cleanup;
            }
    } else if (net_ipam_lowest_free(pools, npools, gw, used, nused, &ip) < 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "no free address left in the allocation pools of subnet %s (%s): the pool "
                     "is exhausted; delete ports or add a subnet",
                     jsonx_str(subnet, "id"), jsonx_str(subnet, "cidr"));
        goto cleanup;
    }
    *out = ip;
    rc = 0;
cleanup:
    json_decref(rows);
    free(used);
    free(pools);
    return rc;
}

/* ------------------------------------------------------------ create */

/* Checks dns (array of IPv4 strings or NULL) into a JSON text's array. */
static json_t *dns_check(const json_t *dns, struct nubo_err *err)
{
    json_t *out = json_array();
    size_t i;
    json_t *v;
    if (dns == NULL)
        return out;
    if (!json_is_array(dns) || json_array_size(dns) > NETWORK_MAX_DNS) {
        json_decref(out);
        nubo_err_set(err, NUBO_E_INVALID, "dns_servers must be a list of at most %d IPv4 addresses",
                     NETWORK_MAX_DNS);
        return NULL;
    }
    json_array_foreach (dns, i, v) {
        uint32_t ip;
        char canon[16];
        if (inet_ipv4_parse(json_string_value(v), &ip) < 0) {
            json_decref(out);
            nubo_err_set(err, NUBO_E_INVALID, "dns_servers[%zu] must be an IPv4 address", i);
            return NULL;
        }
        inet_ipv4_format(ip, canon);
        json_array_append_new(out, json_string(canon));
    }
    return out;
}

/* Checks pools inside [first+1, last-1] of the prefix, not overlapping;
 * returns them as a JSON array, or the whole range when pools is NULL. */
static json_t *pools_check(const json_t *pools, uint32_t first, uint32_t last, uint32_t gw,
                           struct nubo_err *err)
{
    struct net_pool got[NETWORK_MAX_POOLS];
    size_t n = 0, i;
    json_t *v, *out = json_array();
    char a[16], b[16];
    if (pools == NULL) {
        /* The whole prefix, less a gateway at either end. */
        uint32_t lo = first + 1, hi = last - 1;
        if (gw == lo && lo < hi)
            lo++;
        else if (gw == hi && lo < hi)
            hi--;
        inet_ipv4_format(lo, a);
        inet_ipv4_format(hi, b);
        json_array_append_new(out, json_pack("{s:s, s:s}", "start", a, "end", b));
        return out;
    }
    if (!json_is_array(pools) || json_array_size(pools) == 0 ||
        json_array_size(pools) > NETWORK_MAX_POOLS) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "allocation_pools must be a list of 1 to %d {\"start\", \"end\"} ranges",
                     NETWORK_MAX_POOLS);
        goto fail;
    }
    json_array_foreach (pools, i, v) {
        struct net_pool p;
        if (!json_is_object(v) || json_object_size(v) != 2 ||
            inet_ipv4_parse(json_string_value(json_object_get(v, "start")), &p.start) < 0 ||
            inet_ipv4_parse(json_string_value(json_object_get(v, "end")), &p.end) < 0) {
            nubo_err_set(err, NUBO_E_INVALID,
                         "allocation_pools[%zu] must be {\"start\": IPv4, \"end\": IPv4}", i);
            goto fail;
        }
        if (p.start > p.end || p.start <= first || p.end >= last) {
            nubo_err_set(err, NUBO_E_INVALID,
                         "allocation_pools[%zu] must be start <= end inside the subnet, "
                         "excluding its network and broadcast addresses",
                         i);
            goto fail;
        }
        for (size_t k = 0; k < n; k++)
            if (p.start <= got[k].end && got[k].start <= p.end) {
                nubo_err_set(err, NUBO_E_INVALID, "allocation_pools[%zu] overlaps pool %zu", i, k);
                goto fail;
            }
        got[n++] = p;
        inet_ipv4_format(p.start, a);
        inet_ipv4_format(p.end, b);
        json_array_append_new(out, json_pack("{s:s, s:s}", "start", a, "end", b));
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

json_t *subnet_create(struct store *st, const struct ctx *ctx, const struct subnet_spec *s,
                      struct nubo_err *err)
{
    uint32_t gw;
    struct inet_cidr c;
    char cidr[24], gws[16], id[37], now[32];
    json_t *dns = NULL, *pools = NULL, *network = NULL, *out = NULL, *clash = NULL;
    char *dns_text = NULL, *pools_text = NULL;
    const char *name = s->name ? s->name : "";
    if (*name && valid_name(name, "subnet name", err) < 0)
        return NULL;
    if (s->cidr == NULL) {
        nubo_err_set(err, NUBO_E_INVALID, "'cidr' is required, e.g. \"10.0.0.0/24\"");
        return NULL;
    }
    if (inet_cidr_check(s->cidr, true, "cidr", &c, err) < 0)
        return NULL;
    if (c.prefix < 8 || c.prefix > 30) {
        nubo_err_set(err, NUBO_E_INVALID, "cidr must have a prefix length from 8 to 30");
        return NULL;
    }
    uint32_t first = inet_cidr_first(&c), last = inet_cidr_last(&c);
    snprintf(cidr, sizeof(cidr), "%s", c.s);
    if (s->gateway == NULL)
        gw = first + 1;
    else if (inet_ipv4_parse(s->gateway, &gw) < 0) {
        nubo_err_set(err, NUBO_E_INVALID, "gateway must be an IPv4 address");
        return NULL;
    }
    if (gw <= first || gw >= last) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "gateway must be an address inside %s other than its network and broadcast "
                     "addresses",
                     cidr);
        return NULL;
    }
    inet_ipv4_format(gw, gws);
    if ((dns = dns_check(s->dns_servers, err)) == NULL ||
        (pools = pools_check(s->allocation_pools, first, last, gw, err)) == NULL)
        goto cleanup;
    dns_text = json_dumps(dns, JSON_COMPACT);
    pools_text = json_dumps(pools, JSON_COMPACT);
    if (store_begin(st, true, err) < 0)
        goto cleanup;
    network = net_network_find(st, ctx, s->network, true, err);
    if (network == NULL) {
        net_ref_invalid(err);
        goto rollback;
    }
    if (net_quota_check(st, jsonx_str(network, "project_id"), QUOTA_SUBNETS, 1, err) < 0)
        goto rollback;
    clash = store_query(st, err,
                        "SELECT cidr FROM subnets WHERE network_id = ? AND net_first <= ?"
                        " AND ? <= net_last",
                        "sii", jsonx_str(network, "id"), (long long)last, (long long)first);
    if (clash == NULL)
        goto rollback;
    if (json_array_size(clash) > 0) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "cidr %s overlaps subnet %s of network '%s'; choose a disjoint prefix", cidr,
                     jsonx_str(json_array_get(clash, 0), "cidr"), jsonx_str(network, "name"));
        goto rollback;
    }
    id_new(id);
    clock_stamp(now);
    if (store_exec(st, err,
                   "INSERT INTO subnets (id, network_id, project_id, name, cidr, net_first,"
                   " net_last, gateway, dns_servers, allocation_pools, created_at)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   "sssssiissss", id, jsonx_str(network, "id"), jsonx_str(network, "project_id"),
                   name, cidr, (long long)first, (long long)last, gws, dns_text, pools_text,
                   now) < 0)
        goto rollback;
    struct nubo_err qerr = {0};
    json_t *row = store_query_one(st, &qerr, SUBNET_SELECT " WHERE s.id = ?", "s", id);
    if (row == NULL) {
        net_notfound(err, &qerr, "subnet", id);
        goto rollback;
    }
    if (store_commit(st, err) < 0) {
        json_decref(row);
        goto rollback;
    }
    out = subnet_json(row);
    net_changed();
    goto cleanup;
rollback:
    store_rollback(st);
cleanup:
    free(dns_text);
    free(pools_text);
    json_decref(clash);
    json_decref(network);
    json_decref(dns);
    json_decref(pools);
    return out;
}

/* ----------------------------------------------------- list, show, delete */

/* The raw row of a subnet visible to ctx (as its network is), or NULL. */
static json_t *subnet_find(struct store *st, const struct ctx *ctx, const char *ref, bool write,
                           struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    if (net_ref_lookup(ref, "subnet", err) < 0)
        return NULL;
    json_t *row = store_query_one(
        st, &qerr,
        SUBNET_SELECT " JOIN networks n ON n.id = s.network_id WHERE s.id = ?"
                      " AND (s.project_id = ? OR ? = 1 OR (? = 0 AND n.external = 1))",
        "ssii", ref, ctx->project_id, (long long)ctx->is_admin, (long long)write);
    if (row == NULL)
        net_notfound(err, &qerr, "subnet", ref);
    return row;
}

json_t *subnet_get(struct store *st, const struct ctx *ctx, const char *ref, struct nubo_err *err)
{
    json_t *row = subnet_find(st, ctx, ref, false, err);
    return row ? subnet_json(row) : NULL;
}

json_t *subnet_list(struct store *st, const struct ctx *ctx, const char *network_id, int limit,
                    const char *marker, struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    if (store_page_start(st, &pg, err, "SELECT created_at FROM subnets WHERE id = ?", "s", marker) <
        0)
        return NULL;
    const char *nid = network_id ? network_id : "";
    json_t *rows = store_page_query(st, &pg, "s.created_at, s.id", err,
                                    SUBNET_SELECT " JOIN networks n ON n.id = s.network_id"
                                                  " WHERE (s.project_id = ? OR n.external = 1)"
                                                  " AND (? = '' OR s.network_id = ?)",
                                    "sss", ctx->project_id, nid, nid);
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r)
        subnet_json(r);
    return rows;
}

int subnet_delete(struct store *st, const struct ctx *ctx, const char *ref, struct nubo_err *err)
{
    int rc = -1;
    json_t *n = NULL;
    if (store_begin(st, true, err) < 0)
        return -1;
    json_t *row = subnet_find(st, ctx, ref, true, err);
    if (row == NULL)
        goto cleanup;
    const char *id = jsonx_str(row, "id");
    n = store_query_one(st, err,
                        "SELECT (SELECT COUNT(*) FROM ports WHERE subnet_id = ?) +"
                        " (SELECT COUNT(*) FROM floating_ips WHERE subnet_id = ?) AS used",
                        "ss", id, id);
    if (n == NULL)
        goto cleanup;
    if (json_integer_value(json_object_get(n, "used")) > 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "subnet %s still has addresses in use (ports or floating IPs); delete them "
                     "first",
                     jsonx_str(row, "cidr"));
        goto cleanup;
    }
    if (store_exec(st, err, "DELETE FROM subnets WHERE id = ?", "s", id) < 0 ||
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
