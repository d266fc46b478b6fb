/*
 * hostdoc.c - the desired network state of one host: the PUT /v1/network
 * document of docs/internals/networking.md, built from the store.
 *
 * Content: the networks that have a port on the host (with their subnets,
 * the underlay IPs of the other up hosts with ports on them as VXLAN
 * peers, and the DNS records of every instance port of the network), the
 * host's ports with their groups and floating IP, the groups those ports
 * use plus the groups their rules name as remote (with rules), the member
 * IPs of every group named as remote, and the external network when a
 * port of the host has a floating IP.  Every array is in a fixed order
 * (by id, or by ip), so the same state always dumps the same way and
 * "generation" (the SHA-256 of the document without it, keys sorted) only
 * changes when something the host must apply changes.
 */
#include "network/net_int.h"
#include "network/network.h"

#include <stdlib.h>
#include <string.h>

#include "lib/crypto.h"
#include "lib/util.h"

/* A port is on a host when it lives there (ports.host_id) or when its
 * instance is migrating there, or resizing away from it and may come back
 * (a cold migration or resize keeps its source until confirmed) (docs/internals/mobility.md): the
 * target needs the bridge, the tap's network and the security groups
 * before the guest arrives, and the other hosts need the target as a
 * VXLAN peer so that the guest is reachable the moment it runs there.
 * Binds the host id twice. */
#define PORT_ON_HOST(h)                                                                            \
    " (p.host_id = " h " OR p.instance_id IN (SELECT m.instance_id FROM migrations m"              \
    " WHERE " h " IN (CASE WHEN m.state IN " COMPUTE_MIGRATION_ACTIVE                              \
    " THEN m.target_host_id END,"                                                                  \
    " CASE WHEN m.state IN " COMPUTE_COLD_KEEPS_SOURCE " THEN m.source_host_id END)))"

static int networks_add(struct store *st, const char *host_id, json_t *doc, struct nubo_err *err)
{
    json_t *nets =
        store_query(st, err,
                    "SELECT DISTINCT n.id, n.vni, n.mtu, n.router_mac FROM networks n"
                    " JOIN ports p ON p.network_id = n.id WHERE" PORT_ON_HOST("?") " ORDER BY n.id",
                    "ss", host_id, host_id);
    if (nets == NULL)
        return -1;
    size_t i;
    json_t *n;
    json_array_foreach (nets, i, n) {
        const char *nid = jsonx_str(n, "id");
        json_t *subnets = store_query(st, err,
                                      "SELECT id, cidr, gateway, dns_servers FROM subnets WHERE"
                                      " network_id = ? ORDER BY id",
                                      "s", nid);
        json_t *peers =
            subnets ? store_query(st, err,
                                  "SELECT DISTINCT h.underlay_ip FROM hosts h JOIN"
                                  " ports p ON" PORT_ON_HOST(
                                      "h.id") " WHERE"
                                              " p.network_id = ? AND h.id <> ? AND"
                                              " h.state = 'up' AND h.underlay_ip IS NOT NULL"
                                              " ORDER BY h.underlay_ip",
                                  "ss", nid, host_id)
                    : NULL;
        json_t *dns = peers ? store_query(st, err,
                                          "SELECT hostname, ip FROM ports WHERE network_id = ?"
                                          " AND hostname IS NOT NULL ORDER BY ip_int, id",
                                          "s", nid)
                            : NULL;
        if (dns == NULL) {
            json_decref(subnets);
            json_decref(peers);
            json_decref(nets);
            return -1;
        }
        size_t k;
        json_t *s;
        json_array_foreach (subnets, k, s) {
            json_t *d = json_loads(jsonx_str(s, "dns_servers"), 0, NULL);
            json_object_set_new(s, "dns_servers", d ? d : json_array());
        }
        json_object_set_new(n, "domain", json_string(NETWORK_DOMAIN));
        json_object_set_new(n, "subnets", subnets);
        json_object_set_new(n, "peers", net_column(peers, "underlay_ip"));
        json_object_set_new(n, "dns_records", dns);
        json_decref(peers);
    }
    json_object_set_new(doc, "networks", nets);
    return 0;
}

static int ports_add(struct store *st, const char *host_id, json_t *doc, struct nubo_err *err)
{
    json_t *ports = store_query(st, err,
                                "SELECT p.id, p.network_id, p.subnet_id, p.instance_id, p.mac,"
                                " p.ip, p.hostname, p.port_security,"
                                " (SELECT f.ip FROM floating_ips f WHERE f.port_id = p.id)"
                                "   AS floating_ip"
                                " FROM ports p WHERE" PORT_ON_HOST("?") " ORDER BY p.id",
                                "ss", host_id, host_id);
    if (ports == NULL)
        return -1;
    size_t i;
    json_t *p;
    json_array_foreach (ports, i, p) {
        json_t *g = store_query(st, err,
                                "SELECT security_group_id FROM port_security_groups WHERE"
                                " port_id = ? ORDER BY security_group_id",
                                "s", jsonx_str(p, "id"));
        if (g == NULL) {
            json_decref(ports);
            return -1;
        }
        char vm[64];
        snprintf(vm, sizeof(vm), "nubo-%s", jsonx_str(p, "instance_id"));
        json_object_set_new(p, "vm",
                            json_is_null(json_object_get(p, "instance_id")) ? json_null()
                                                                            : json_string(vm));
        json_object_set_new(p, "port_security",
                            json_boolean(json_integer_value(json_object_get(p, "port_security"))));
        json_object_set_new(p, "security_groups", net_column(g, "security_group_id"));
        json_decref(g);
    }
    json_object_set_new(doc, "ports", ports);
    return 0;
}

/* The groups of the host's ports and the groups their rules name. */
static int groups_add(struct store *st, const char *host_id, json_t *doc, struct nubo_err *err)
{
    json_t *groups = store_query(
        st, err,
        "WITH used AS (SELECT DISTINCT psg.security_group_id AS id FROM port_security_groups psg"
        "   JOIN ports p ON p.id = psg.port_id WHERE" PORT_ON_HOST(
            "?") ")"
                 " SELECT id FROM used UNION SELECT r.remote_group_id FROM security_group_rules r"
                 "   WHERE r.security_group_id IN (SELECT id FROM used) AND r.remote_group_id IS "
                 "NOT NULL"
                 " ORDER BY 1",
        "ss", host_id, host_id);
    if (groups == NULL)
        return -1;
    json_t *members = json_object();
    size_t i;
    json_t *g;
    json_array_foreach (groups, i, g) {
        const char *gid = jsonx_str(g, "id");
        json_t *rules = store_query(st, err,
                                    "SELECT id, direction, protocol, port_min, port_max,"
                                    " remote_cidr, remote_group_id AS remote_group FROM"
                                    " security_group_rules WHERE security_group_id = ?"
                                    " ORDER BY id",
                                    "s", gid);
        if (rules == NULL)
            goto fail;
        json_object_set_new(g, "rules", rules);
        size_t k;
        json_t *r;
        json_array_foreach (rules, k, r) {
            const char *remote = json_string_value(json_object_get(r, "remote_group"));
            if (remote == NULL || json_object_get(members, remote))
                continue;
            json_t *ips = store_query(st, err,
                                      "SELECT DISTINCT p.ip, p.ip_int FROM ports p JOIN"
                                      " port_security_groups psg ON psg.port_id = p.id WHERE"
                                      " psg.security_group_id = ? ORDER BY p.ip_int, p.ip",
                                      "s", remote);
            if (ips == NULL)
                goto fail;
            json_object_set_new(members, remote, net_column(ips, "ip"));
            json_decref(ips);
        }
    }
    json_object_set_new(doc, "security_groups", groups);
    json_object_set_new(doc, "group_members", members);
    return 0;
fail:
    json_decref(members);
    json_decref(groups);
    return -1;
}

static int external_add(struct store *st, const char *host_id, json_t *doc, struct nubo_err *err)
{
    json_t *ext = store_query(st, err,
                              "SELECT s.network_id, s.cidr, s.gateway FROM floating_ips f"
                              " JOIN ports p ON p.id = f.port_id JOIN subnets s ON"
                              " s.id = f.subnet_id WHERE p.host_id = ?"
                              " ORDER BY s.network_id, s.id LIMIT 1",
                              "s", host_id);
    if (ext == NULL)
        return -1;
    json_t *e = json_array_get(ext, 0);
    json_object_set(doc, "external", e ? e : json_null());
    json_decref(ext);
    return 0;
}

json_t *network_host_document(struct store *st, const char *host_id, struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *h = store_query_one(st, &qerr, "SELECT id FROM hosts WHERE id = ?", "s", host_id);
    if (h == NULL) {
        net_notfound(err, &qerr, "host", host_id);
        return NULL;
    }
    json_decref(h);
    json_t *doc = json_object();
    if (store_begin(st, false, err) < 0) {
        json_decref(doc);
        return NULL;
    }
    int rc = (networks_add(st, host_id, doc, err) < 0 || ports_add(st, host_id, doc, err) < 0 ||
              groups_add(st, host_id, doc, err) < 0 || external_add(st, host_id, doc, err) < 0)
                 ? -1
                 : 0;
    store_rollback(st); /* a read snapshot: nothing to commit */
    if (rc < 0) {
        json_decref(doc);
        return NULL;
    }
    char *text = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT);
    char hex[CRYPTO_SHA256_HEX];
    crypto_sha256_hex(text, strlen(text), hex);
    free(text);
    json_object_set_new(doc, "generation", json_string(hex));
    return doc;
}
