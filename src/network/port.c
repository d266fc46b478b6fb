/*
 * port.c - ports: an address (IP + MAC) on a subnet, standalone or an
 * instance's NIC, with the security groups the host firewall applies.
 *
 * IPAM runs inside the write transaction that inserts the port: the
 * addresses in use are read, the requested one checked or the lowest free
 * one of the pools taken, and the row inserted while this thread holds the
 * store's write lock - concurrent creates cannot pick the same address;
 * UNIQUE (subnet_id, ip) would refuse it anyway.  MACs are random
 * fa:16:3e:xx:xx:xx, retried on the (rare) UNIQUE collision.
 */
#include "network/net_int.h"
#include "network/network.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/inet.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/valid.h"

#define PORT_SELECT                                                                                \
    "SELECT p.id, p.project_id, p.network_id, p.subnet_id, p.name, p.instance_id, p.host_id,"      \
    " p.hostname, p.mac, p.ip, p.device_owner, p.port_security, p.created_at,"                     \
    " (SELECT f.ip FROM floating_ips f WHERE f.port_id = p.id) AS floating_ip FROM ports p"

#define MAC_TRIES 8

/* Port MACs: fa:16:3e:xx:xx:xx (as OpenStack's), unicast. */
static const uint8_t port_mac_oui[3] = {0xfa, 0x16, 0x3e};

/* The API shape (consumes row): port_security as a boolean, the groups. */
static json_t *port_json(struct store *st, json_t *row, struct nubo_err *err)
{
    json_object_set_new(row, "port_security",
                        json_boolean(json_integer_value(json_object_get(row, "port_security"))));
    json_t *g = store_query(st, err,
                            "SELECT security_group_id FROM port_security_groups WHERE port_id = ?"
                            " ORDER BY security_group_id",
                            "s", jsonx_str(row, "id"));
    if (g == NULL) {
        json_decref(row);
        return NULL;
    }
    json_object_set_new(row, "security_groups", net_column(g, "security_group_id"));
    json_decref(g);
    return row;
}

int net_port_insert(struct store *st, const char *project_id, const json_t *network,
                    const json_t *subnet, const char *name, const char *fixed_ip,
                    const char *instance_id, const char *host_id, const char *hostname,
                    bool port_security, const json_t *groups, char id[37], struct nubo_err *err)
{
    uint32_t ip;
    char ips[16], mac[18], now[32];
    if (net_quota_check(st, project_id, QUOTA_PORTS, 1, err) < 0 ||
        net_ipam_allocate(st, subnet, fixed_ip, false, &ip, err) < 0)
        return -1;
    inet_ipv4_format(ip, ips);
    id_new(id);
    clock_stamp(now);
    long long n = -1;
    for (int t = 0; t < MAC_TRIES && n < 0; t++) {
        inet_mac_random(port_mac_oui, mac);
        n = store_exec(st, err,
                       "INSERT INTO ports (id, project_id, network_id, subnet_id, name,"
                       " instance_id, host_id, hostname, mac, ip, ip_int, device_owner,"
                       " port_security, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                       " ?, ?) ON CONFLICT (mac) DO NOTHING",
                       "ssssssssssisis", id, project_id, jsonx_str(network, "id"),
                       jsonx_str(subnet, "id"), name ? name : "", instance_id, host_id, hostname,
                       mac, ips, (long long)ip, instance_id ? "compute:instance" : "",
                       (long long)port_security, now);
        if (n == 0)
            n = -1; /* MAC taken: another one */
        else if (n < 0)
            return -1;
    }
    if (n < 0)
        return nubo_err_set(err, NUBO_E_INTERNAL, "could not find a free MAC address");
    size_t i;
    json_t *g;
    json_array_foreach (groups, i, g)
        if (store_exec(st, err,
                       "INSERT INTO port_security_groups (port_id, security_group_id)"
                       " VALUES (?, ?) ON CONFLICT DO NOTHING",
                       "ss", id, json_string_value(g)) < 0)
            return -1;
    return 0;
}

/* Resolves refs (NULL = ["default"]) into an array of group ids. */
static json_t *groups_resolve(struct store *st, const struct ctx *ctx, const char *const *refs,
                              size_t n, struct nubo_err *err)
{
    static const char *const dflt[] = {"default"};
    char id[37];
    json_t *out = json_array();
    if (refs == NULL) {
        refs = dflt;
        n = 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (secgroup_resolve(st, ctx, refs[i], id, err) < 0) {
            net_ref_invalid(err);
            json_decref(out);
            return NULL;
        }
        json_array_append_new(out, json_string(id));
    }
    return out;
}

/* Refs of a JSON array (or NULL); fails on a non-string or too many. */
static int refs_of(const json_t *a, const char **refs, size_t *n, struct nubo_err *err)
{
    size_t i;
    json_t *v;
    *n = 0;
    if (!json_is_array(a) || json_array_size(a) > NETWORK_MAX_SGS)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "security_groups must be a list of at most %d group ids or names",
                            NETWORK_MAX_SGS);
    json_array_foreach (a, i, v) {
        if (net_ref_check(json_string_value(v), "security_groups",
                          "a security group (GET /v1/security-groups)", err) < 0)
            return -1;
        refs[(*n)++] = json_string_value(v);
    }
    return 0;
}

/* The subnet to use on network: subnet_ref (an id of the network) or its
 * first subnet. */
static json_t *subnet_pick(struct store *st, const json_t *network, const char *subnet_ref,
                           struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    const char *sref = subnet_ref ? subnet_ref : "";
    json_t *row = store_query_one(st, &qerr,
                                  "SELECT id, cidr, gateway, allocation_pools FROM subnets"
                                  " WHERE network_id = ? AND (? = '' OR id = ?)"
                                  " ORDER BY created_at, id LIMIT 1",
                                  "sss", jsonx_str(network, "id"), sref, sref);
    if (row == NULL) {
        if (qerr.code != NUBO_E_NOTFOUND)
            nubo_err_set(err, qerr.code, "%s", qerr.msg);
        else if (subnet_ref)
            nubo_err_set(err, NUBO_E_INVALID, "subnet '%.64s' is not a subnet of network '%s'",
                         subnet_ref, jsonx_str(network, "name"));
        else
            nubo_err_set(err, NUBO_E_CONFLICT,
                         "network '%s' has no subnet: create one first (POST /v1/subnets)",
                         jsonx_str(network, "name"));
    }
    return row;
}

/* The network for a new port of ctx's project: its own, not external. */
static json_t *port_network(struct store *st, const struct ctx *ctx, const char *ref,
                            struct nubo_err *err)
{
    json_t *n = net_network_find(st, ctx, ref, false, err);
    if (n == NULL) {
        net_ref_invalid(err);
        return NULL;
    }
    if (json_integer_value(json_object_get(n, "external")) ||
        strcmp(jsonx_str(n, "project_id"), ctx->project_id) != 0) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "network '%s' is external: ports go on a network of the project (use a "
                     "floating IP for an external address)",
                     jsonx_str(n, "name"));
        json_decref(n);
        return NULL;
    }
    return n;
}

static json_t *port_find(struct store *st, const struct ctx *ctx, const char *id,
                         struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    if (!valid_is_uuid(id)) {
        nubo_err_set(err, NUBO_E_NOTFOUND, "no port '%.64s'", id ? id : "");
        return NULL;
    }
    json_t *row = store_query_one(st, &qerr, PORT_SELECT " WHERE p.id = ? AND p.project_id = ?",
                                  "ss", id, ctx->project_id);
    if (row == NULL)
        net_notfound(err, &qerr, "port", id);
    return row;
}

json_t *port_get(struct store *st, const struct ctx *ctx, const char *id, struct nubo_err *err)
{
    json_t *row = port_find(st, ctx, id, err);
    return row ? port_json(st, row, err) : NULL;
}

json_t *port_create(struct store *st, const struct ctx *ctx, const struct port_spec *s,
                    struct nubo_err *err)
{
    const char *refs[NETWORK_MAX_SGS];
    size_t nrefs = 0;
    char id[37];
    json_t *network = NULL, *subnet = NULL, *groups = NULL, *out = NULL;
    if (s->name && *s->name && valid_name(s->name, "port name", err) < 0)
        return NULL;
    if (s->security_groups && refs_of(s->security_groups, refs, &nrefs, err) < 0)
        return NULL;
    if (s->subnet && !valid_is_uuid(s->subnet)) {
        nubo_err_set(err, NUBO_E_INVALID, "subnet must be a subnet id");
        return NULL;
    }
    if (store_begin(st, true, err) < 0)
        return NULL;
    if ((network = port_network(st, ctx, s->network, err)) == NULL ||
        (subnet = subnet_pick(st, network, s->subnet, err)) == NULL ||
        (groups = groups_resolve(st, ctx, s->security_groups ? refs : NULL, nrefs, err)) == NULL ||
        net_port_insert(st, ctx->project_id, network, subnet, s->name, s->fixed_ip, NULL, NULL,
                        NULL, s->port_security, groups, id, err) < 0)
        goto cleanup;
    json_t *row = port_find(st, ctx, id, err);
    if (row == NULL || (row = port_json(st, row, err)) == NULL)
        goto cleanup;
    /* The answer, with the effect, for an Idempotency-Key retry. */
    if (identity_idem_answer(st, "POST", "/v1/ports", 201, row, err) < 0 ||
        store_commit(st, err) < 0) {
        json_decref(row);
        goto cleanup;
    }
    out = row;
    net_changed();
cleanup:
    if (out == NULL)
        store_rollback(st);
    json_decref(groups);
    json_decref(subnet);
    json_decref(network);
    return out;
}

json_t *port_list(struct store *st, const struct ctx *ctx, const struct port_filter *f, int limit,
                  const char *marker, struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    if (store_page_start(st, &pg, err,
                         "SELECT created_at FROM ports WHERE id = ? AND project_id = ?", "ss",
                         marker, ctx->project_id) < 0)
        return NULL;
    const char *nid = f->network_id ? f->network_id : "",
               *iid = f->instance_id ? f->instance_id : "";
    json_t *rows =
        store_page_query(st, &pg, "p.created_at, p.id", err,
                         PORT_SELECT " WHERE p.project_id = ? AND (? = '' OR p.network_id = ?)"
                                     " AND (? = '' OR p.instance_id = ?)",
                         "sssss", ctx->project_id, nid, nid, iid, iid);
    if (rows == NULL)
        return NULL;
    json_t *out = json_array();
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        json_t *p = port_json(st, json_incref(r), err);
        if (p == NULL) {
            json_decref(out);
            out = NULL;
            break;
        }
        json_array_append_new(out, p);
    }
    json_decref(rows);
    return out;
}

json_t *port_update_groups(struct store *st, const struct ctx *ctx, const char *id,
                           const json_t *security_groups, struct nubo_err *err)
{
    const char *refs[NETWORK_MAX_SGS];
    size_t nrefs = 0;
    json_t *row = NULL, *groups = NULL, *out = NULL;
    if (refs_of(security_groups, refs, &nrefs, err) < 0)
        return NULL;
    if (store_begin(st, true, err) < 0)
        return NULL;
    if ((row = port_find(st, ctx, id, err)) == NULL ||
        (groups = groups_resolve(st, ctx, refs, nrefs, err)) == NULL)
        goto cleanup;
    if (store_exec(st, err, "DELETE FROM port_security_groups WHERE port_id = ?", "s", id) < 0)
        goto cleanup;
    size_t i;
    json_t *g;
    json_array_foreach (groups, i, g)
        if (store_exec(st, err,
                       "INSERT INTO port_security_groups (port_id, security_group_id)"
                       " VALUES (?, ?) ON CONFLICT DO NOTHING",
                       "ss", id, json_string_value(g)) < 0)
            goto cleanup;
    json_t *p = port_find(st, ctx, id, err);
    if (p == NULL || (p = port_json(st, p, err)) == NULL)
        goto cleanup;
    if (store_commit(st, err) < 0) {
        json_decref(p);
        goto cleanup;
    }
    out = p;
    net_changed();
cleanup:
    if (out == NULL)
        store_rollback(st);
    json_decref(groups);
    json_decref(row);
    return out;
}

int port_delete(struct store *st, const struct ctx *ctx, const char *id, struct nubo_err *err)
{
    int rc = -1;
    if (store_begin(st, true, err) < 0)
        return -1;
    json_t *row = port_find(st, ctx, id, err);
    if (row == NULL)
        goto cleanup;
    if (!json_is_null(json_object_get(row, "instance_id"))) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "port %s is a NIC of instance %s; delete the instance to free it", id,
                     jsonx_str(row, "instance_id"));
        goto cleanup;
    }
    if (store_exec(st, err,
                   "UPDATE floating_ips SET port_id = NULL, fixed_ip = NULL WHERE port_id = ?", "s",
                   id) < 0 ||
        store_exec(st, err, "DELETE FROM ports WHERE id = ? AND project_id = ?", "ss", id,
                   ctx->project_id) < 0 ||
        store_commit(st, err) < 0)
        goto cleanup;
    rc = 0;
    net_changed();
cleanup:
    if (rc < 0)
        store_rollback(st);
    json_decref(row);
    return rc;
}

/* ------------------------------------------------------- instance NICs */

int network_nics_check(const struct network_nic *nics, size_t n, const char *const *sgs,
                       size_t nsgs, struct nubo_err *err)
{
    if (n > NETWORK_MAX_NICS)
        return nubo_err_set(err, NUBO_E_INVALID, "networks holds at most %d entries",
                            NETWORK_MAX_NICS);
    if (nsgs > NETWORK_MAX_SGS)
        return nubo_err_set(err, NUBO_E_INVALID, "security_groups holds at most %d entries",
                            NETWORK_MAX_SGS);
    if (nsgs > 0 && n == 0)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "security_groups needs networks: they apply to the instance's ports");
    for (size_t i = 0; i < n; i++) {
        uint32_t ip;
        if (net_ref_check(nics[i].network, "networks[].network", "a network (GET /v1/networks)",
                          err) < 0)
            return -1;
        if (nics[i].fixed_ip && inet_ipv4_parse(nics[i].fixed_ip, &ip) < 0)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "networks[%zu].fixed_ip must be an IPv4 address", i);
    }
    for (size_t i = 0; i < nsgs; i++)
        if (net_ref_check(sgs[i], "security_groups", "a security group (GET /v1/security-groups)",
                          err) < 0)
            return -1;
    return 0;
}

/* A DNS label from an instance name: lowercase, [a-z0-9-], at most 63. */
static void hostname_of(const char *name, char out[64])
{
    size_t k = 0;
    for (const char *p = name; *p && k < 63; p++) {
        unsigned char c = (unsigned char)tolower((unsigned char)*p);
        out[k++] = (isalnum(c) ? (char)c : '-');
    }
    while (k > 0 && out[k - 1] == '-')
        k--;
    out[k] = '\0';
    if (k == 0)
        str_copy(out, 64, "instance");
}

int network_instance_ports_create(struct store *st, const struct ctx *ctx, const char *instance_id,
                                  const char *host_id, const char *hostname,
                                  const struct network_nic *nics, size_t n, const char *const *sgs,
                                  size_t nsgs, struct nubo_err *err)
{
    char id[37], hn[64];
    int rc = -1;
    json_t *groups = NULL;
    if (n == 0)
        return 0;
    hostname_of(hostname, hn);
    groups = groups_resolve(st, ctx, nsgs ? sgs : NULL, nsgs, err);
    if (groups == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        json_t *network = port_network(st, ctx, nics[i].network, err), *subnet = NULL;
        if (network == NULL)
            goto cleanup;
        subnet = subnet_pick(st, network, NULL, err);
        int r = subnet ? net_port_insert(st, ctx->project_id, network, subnet, "", nics[i].fixed_ip,
                                         instance_id, host_id, hn, true, groups, id, err)
                       : -1;
        json_decref(subnet);
        json_decref(network);
        if (r < 0)
            goto cleanup;
    }
    rc = 0;
cleanup:
    json_decref(groups);
    return rc;
}

json_t *network_instance_addresses(struct store *st, const char *instance_id, struct nubo_err *err)
{
    return store_query(st, err,
                       "SELECT p.network_id, n.name AS network, p.id AS port_id, p.ip, p.mac,"
                       " (SELECT f.ip FROM floating_ips f WHERE f.port_id = p.id) AS floating_ip"
                       " FROM ports p JOIN networks n ON n.id = p.network_id"
                       " WHERE p.instance_id = ? ORDER BY p.created_at, p.id",
                       "s", instance_id);
}

int network_instance_ports_move(struct store *st, const char *instance_id, const char *host_id,
                                struct nubo_err *err)
{
    long long n = store_exec(st, err, "UPDATE ports SET host_id = ? WHERE instance_id = ?", "ss",
                             host_id, instance_id);
    if (n < 0)
        return -1;
    if (n > 0)
        net_changed();
    return 0;
}

int network_instance_ports_release(struct store *st, const char *instance_id, struct nubo_err *err)
{
    if (store_exec(st, err,
                   "UPDATE floating_ips SET port_id = NULL, fixed_ip = NULL WHERE port_id IN"
                   " (SELECT id FROM ports WHERE instance_id = ?)",
                   "s", instance_id) < 0)
        return -1;
    long long n = store_exec(st, err, "DELETE FROM ports WHERE instance_id = ?", "s", instance_id);
    if (n < 0)
        return -1;
    if (n > 0)
        net_changed();
    return 0;
}
