/*
 * netdoc.c - parsing and validation of the network document; see net.h
 * and docs/internals/networking.md for the format.
 *
 * Everything is checked here, once: types, ranges, address arithmetic and
 * the references between parts (a port's network and subnet, its groups, a
 * rule's remote group).  What passes may go into argv, nft scripts and
 * dnsmasq files as it is.
 */
#include "host/net/net_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "lib/valid.h"

/* -------------------------------------------------------------- lookups */

const struct net_network *net_doc_network(const struct net_doc *doc, const char *id)
{
    for (int i = 0; i < doc->nnetworks; i++)
        if (strcmp(doc->networks[i].id, id) == 0)
            return &doc->networks[i];
    return NULL;
}

const struct net_network *net_doc_network_by_vni(const struct net_doc *doc, uint32_t vni)
{
    for (int i = 0; i < doc->nnetworks; i++)
        if (doc->networks[i].vni == vni)
            return &doc->networks[i];
    return NULL;
}

const struct net_sg *net_doc_sg(const struct net_doc *doc, const char *id)
{
    for (int i = 0; i < doc->nsgs; i++)
        if (strcmp(doc->sgs[i].id, id) == 0)
            return &doc->sgs[i];
    return NULL;
}

const struct net_group_members *net_doc_members(const struct net_doc *doc, const char *sg_id)
{
    for (int i = 0; i < doc->nmembers; i++)
        if (strcmp(doc->members[i].sg_id, sg_id) == 0)
            return &doc->members[i];
    return NULL;
}

const struct net_port *net_doc_port(const struct net_doc *doc, const char *id)
{
    for (int i = 0; i < doc->nports; i++)
        if (strcmp(doc->ports[i].id, id) == 0)
            return &doc->ports[i];
    return NULL;
}

/* -------------------------------------------------------------- parsing */

void net_doc_clear(struct net_doc *doc)
{
    for (int i = 0; i < doc->nnetworks; i++) {
        free(doc->networks[i].peers);
        free(doc->networks[i].dns_records);
    }
    for (int i = 0; i < doc->nsgs; i++)
        free(doc->sgs[i].rules);
    for (int i = 0; i < doc->nmembers; i++)
        free(doc->members[i].ips);
    free(doc->networks);
    free(doc->ports);
    free(doc->sgs);
    free(doc->members);
    memset(doc, 0, sizeof(*doc));
}

/* Error naming the field at `where` (a printf-built path). */
static int bad(struct nubo_err *err, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(struct nubo_err *err, const char *where, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return nubo_err_set(err, NUBO_E_INVALID, "network document: %s: %s", where, msg);
}

/* Copies the string member key of o into dst (size n).  Absent or null is
 * "" when optional, an error otherwise. */
static int get_str(json_t *o, const char *key, bool optional, char *dst, size_t n,
                   const char *where, struct nubo_err *err)
{
    json_t *v = json_object_get(o, key);
    dst[0] = '\0';
    if (v == NULL || json_is_null(v)) {
        if (optional)
            return 0;
        return bad(err, where, "'%s' is required", key);
    }
    if (!json_is_string(v))
        return bad(err, where, "'%s' must be a string", key);
    if (json_string_length(v) >= n || strlen(json_string_value(v)) != json_string_length(v))
        return bad(err, where, "'%s' is too long (at most %zu characters)", key, n - 1);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int get_uuid(json_t *o, const char *key, char dst[NET_ID_LEN], const char *where,
                    struct nubo_err *err)
{
    if (get_str(o, key, false, dst, NET_ID_LEN, where, err) < 0)
        return -1;
    if (!valid_is_uuid(dst))
        return bad(err, where, "'%s' must be a lowercase UUID", key);
    return 0;
}

static int get_ip(json_t *o, const char *key, bool optional, struct net_ip *ip, bool *present,
                  const char *where, struct nubo_err *err)
{
    if (get_str(o, key, optional, ip->s, sizeof(ip->s), where, err) < 0)
        return -1;
    if (present)
        *present = ip->s[0] != '\0';
    if (ip->s[0] == '\0')
        return 0;
    if (inet_ipv4_parse(ip->s, &ip->addr) < 0)
        return bad(err, where, "'%s' is not an IPv4 address (%.20s)", key, ip->s);
    return 0;
}

static int ip_from_json(json_t *v, struct net_ip *ip, const char *where, struct nubo_err *err)
{
    if (!json_is_string(v) || json_string_length(v) >= sizeof(ip->s))
        return bad(err, where, "must be an IPv4 address");
    str_copy(ip->s, sizeof(ip->s), json_string_value(v));
    if (inet_ipv4_parse(ip->s, &ip->addr) < 0)
        return bad(err, where, "'%.20s' is not an IPv4 address", ip->s);
    return 0;
}

static int get_cidr(json_t *o, const char *key, struct inet_cidr *c, const char *where,
                    struct nubo_err *err)
{
    char s[NET_CIDR_LEN];
    if (get_str(o, key, false, s, sizeof(s), where, err) < 0)
        return -1;
    if (inet_cidr_parse(s, false, c) < 0)
        return bad(err, where,
                   "'%s' must be an IPv4 prefix a.b.c.d/len with no host bits set (%.20s)", key, s);
    return 0;
}

/* The array member key of o (absent/null = empty) with at most max items. */
static int get_array(json_t *o, const char *key, size_t max, json_t **out, const char *where,
                     struct nubo_err *err)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return bad(err, where, "'%s' must be an array", key);
    if (json_array_size(v) > max)
        return nubo_err_set(err, NUBO_E_TOOLARGE,
                            "network document: %s: '%s' has more than %zu entries", where, key,
                            max);
    *out = v;
    return 0;
}

static bool valid_domain(const char *s)
{
    size_t label = 0;
    if (s[0] == '\0' || s[0] == '.' || s[0] == '-')
        return false;
    for (const char *p = s; *p; p++) {
        if (*p == '.') {
            if (label == 0 || p[-1] == '-')
                return false;
            label = 0;
            continue;
        }
        bool ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-';
        if (!ok || ++label > 63 || (label == 1 && *p == '-'))
            return false;
    }
    return label > 0;
}

static int parse_subnet(json_t *o, struct net_subnet *s, const char *where, struct nubo_err *err)
{
    if (!json_is_object(o))
        return bad(err, where, "must be an object");
    if (get_uuid(o, "id", s->id, where, err) < 0 || get_cidr(o, "cidr", &s->cidr, where, err) < 0 ||
        get_ip(o, "gateway", false, &s->gateway, NULL, where, err) < 0)
        return -1;
    if (s->cidr.prefix < 8 || s->cidr.prefix > 30)
        return bad(err, where, "'cidr' %s: the prefix length must be 8 to 30", s->cidr.s);
    uint32_t bcast = s->cidr.addr | ~inet_prefix_mask(s->cidr.prefix);
    if (!inet_cidr_contains(&s->cidr, s->gateway.addr) || s->gateway.addr == s->cidr.addr ||
        s->gateway.addr == bcast)
        return bad(err, where, "gateway %s is not a host address of %s", s->gateway.s, s->cidr.s);
    json_t *dns;
    if (get_array(o, "dns_servers", NET_MAX_DNS_SERVERS, &dns, where, err) < 0)
        return -1;
    size_t i;
    json_t *v;
    json_array_foreach (dns, i, v) {
        if (ip_from_json(v, &s->dns_servers[i], where, err) < 0)
            return -1;
        s->ndns_servers++;
    }
    return 0;
}

static int parse_network(json_t *o, struct net_network *n, const char *where, struct nubo_err *err)
{
    char sub[96];
    if (!json_is_object(o))
        return bad(err, where, "must be an object");
    if (get_uuid(o, "id", n->id, where, err) < 0)
        return -1;
    json_t *v = json_object_get(o, "vni");
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > NET_VNI_MAX)
        return bad(err, where, "'vni' must be an integer from 1 to %u", NET_VNI_MAX);
    n->vni = (uint32_t)json_integer_value(v);
    v = json_object_get(o, "mtu");
    n->mtu = 1450;
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 576 || json_integer_value(v) > 9000)
            return bad(err, where, "'mtu' must be an integer from 576 to 9000");
        n->mtu = (int)json_integer_value(v);
    }
    if (get_str(o, "router_mac", false, n->router_mac, sizeof(n->router_mac), where, err) < 0)
        return -1;
    if (!inet_mac_valid(n->router_mac))
        return bad(err, where, "'router_mac' must be a lowercase unicast MAC");
    if (get_str(o, "domain", true, n->domain, sizeof(n->domain), where, err) < 0)
        return -1;
    if (n->domain[0] && !valid_domain(n->domain))
        return bad(err, where, "'domain' must be a lowercase DNS name");
    json_t *arr;
    if (get_array(o, "subnets", NET_MAX_SUBNETS, &arr, where, err) < 0)
        return -1;
    if (arr == NULL || json_array_size(arr) == 0)
        return bad(err, where, "'subnets' needs at least one subnet");
    size_t i;
    json_array_foreach (arr, i, v) {
        snprintf(sub, sizeof(sub), "%s.subnets[%zu]", where, i);
        struct net_subnet *s = &n->subnets[i];
        if (parse_subnet(v, s, sub, err) < 0)
            return -1;
        for (size_t k = 0; k < i; k++) {
            const struct net_subnet *t = &n->subnets[k];
            int p = t->cidr.prefix < s->cidr.prefix ? t->cidr.prefix : s->cidr.prefix;
            if ((t->cidr.addr & inet_prefix_mask(p)) == (s->cidr.addr & inet_prefix_mask(p)))
                return bad(err, sub, "%s overlaps %s", s->cidr.s, t->cidr.s);
            if (strcmp(t->id, s->id) == 0)
                return bad(err, sub, "duplicate subnet id %s", s->id);
        }
        n->nsubnets++;
    }
    if (get_array(o, "peers", NET_MAX_PEERS, &arr, where, err) < 0)
        return -1;
    n->peers = xcalloc(json_array_size(arr) + 1, sizeof(*n->peers));
    json_array_foreach (arr, i, v) {
        snprintf(sub, sizeof(sub), "%s.peers[%zu]", where, i);
        if (ip_from_json(v, &n->peers[i], sub, err) < 0)
            return -1;
        n->npeers++;
    }
    if (get_array(o, "dns_records", NET_MAX_DNS_RECORDS, &arr, where, err) < 0)
        return -1;
    n->dns_records = xcalloc(json_array_size(arr) + 1, sizeof(*n->dns_records));
    json_array_foreach (arr, i, v) {
        struct net_dns_record *r = &n->dns_records[i];
        snprintf(sub, sizeof(sub), "%s.dns_records[%zu]", where, i);
        if (!json_is_object(v))
            return bad(err, sub, "must be an object");
        if (get_str(v, "hostname", false, r->hostname, sizeof(r->hostname), sub, err) < 0 ||
            get_ip(v, "ip", false, &r->ip, NULL, sub, err) < 0)
            return -1;
        if (valid_hostname(r->hostname, NULL) < 0)
            return bad(err, sub, "'hostname' must be an RFC 1123 label");
        n->ndns_records++;
    }
    return 0;
}

static int parse_port(json_t *o, const struct net_doc *doc, struct net_port *p, const char *where,
                      struct nubo_err *err)
{
    if (!json_is_object(o))
        return bad(err, where, "must be an object");
    if (get_uuid(o, "id", p->id, where, err) < 0 ||
        get_uuid(o, "network_id", p->network_id, where, err) < 0 ||
        get_uuid(o, "subnet_id", p->subnet_id, where, err) < 0 ||
        get_uuid(o, "instance_id", p->instance_id, where, err) < 0 ||
        get_str(o, "vm", false, p->vm, sizeof(p->vm), where, err) < 0 ||
        get_str(o, "mac", false, p->mac, sizeof(p->mac), where, err) < 0 ||
        get_ip(o, "ip", false, &p->ip, NULL, where, err) < 0 ||
        get_str(o, "hostname", false, p->hostname, sizeof(p->hostname), where, err) < 0 ||
        get_ip(o, "floating_ip", true, &p->floating_ip, &p->has_floating_ip, where, err) < 0)
        return -1;
    if (valid_name(p->vm, "'vm'", NULL) < 0)
        return bad(err, where, "'vm' must be a VM name");
    if (!inet_mac_valid(p->mac))
        return bad(err, where, "'mac' must be a lowercase unicast MAC");
    if (valid_hostname(p->hostname, NULL) < 0)
        return bad(err, where, "'hostname' must be an RFC 1123 label");
    p->network_idx = p->subnet_idx = -1;
    for (int i = 0; i < doc->nnetworks; i++)
        if (strcmp(doc->networks[i].id, p->network_id) == 0)
            p->network_idx = i;
    if (p->network_idx < 0)
        return bad(err, where, "network %s is not in 'networks'", p->network_id);
    const struct net_network *n = &doc->networks[p->network_idx];
    for (int i = 0; i < n->nsubnets; i++)
        if (strcmp(n->subnets[i].id, p->subnet_id) == 0)
            p->subnet_idx = i;
    if (p->subnet_idx < 0)
        return bad(err, where, "subnet %s is not a subnet of network %s", p->subnet_id, n->id);
    const struct net_subnet *s = &n->subnets[p->subnet_idx];
    uint32_t bcast = s->cidr.addr | ~inet_prefix_mask(s->cidr.prefix);
    if (!inet_cidr_contains(&s->cidr, p->ip.addr) || p->ip.addr == s->cidr.addr ||
        p->ip.addr == bcast || p->ip.addr == s->gateway.addr)
        return bad(err, where, "ip %s is not a free host address of %s", p->ip.s, s->cidr.s);
    json_t *v = json_object_get(o, "port_security");
    if (v != NULL && !json_is_boolean(v))
        return bad(err, where, "'port_security' must be true or false");
    p->port_security = v == NULL || json_is_true(v);
    json_t *arr;
    if (get_array(o, "security_groups", NET_MAX_PORT_SGS, &arr, where, err) < 0)
        return -1;
    size_t i;
    json_array_foreach (arr, i, v) {
        const char *id = json_string_value(v);
        if (id == NULL || !valid_is_uuid(id))
            return bad(err, where, "'security_groups' must list UUIDs");
        if (net_doc_sg(doc, id) == NULL)
            return bad(err, where, "security group %s is not in 'security_groups'", id);
        str_copy(p->security_groups[i], NET_ID_LEN, id);
        p->nsecurity_groups++;
    }
    if (p->has_floating_ip) {
        if (!doc->has_external)
            return bad(err, where, "a floating IP needs an 'external' network");
        if (!inet_cidr_contains(&doc->external.cidr, p->floating_ip.addr))
            return bad(err, where, "floating_ip %s is outside the external network %s",
                       p->floating_ip.s, doc->external.cidr.s);
    }
    return 0;
}

static int parse_rule(json_t *o, struct net_sg_rule *r, const char *where, struct nubo_err *err)
{
    char s[16];
    if (!json_is_object(o))
        return bad(err, where, "must be an object");
    if (get_uuid(o, "id", r->id, where, err) < 0 ||
        get_str(o, "direction", false, s, sizeof(s), where, err) < 0)
        return -1;
    if (strcmp(s, "ingress") == 0)
        r->direction = NET_INGRESS;
    else if (strcmp(s, "egress") == 0)
        r->direction = NET_EGRESS;
    else
        return bad(err, where, "'direction' must be ingress or egress");
    if (get_str(o, "protocol", true, s, sizeof(s), where, err) < 0)
        return -1;
    static const char *protos[] = {"any", "tcp", "udp", "icmp"};
    int proto = s[0] ? -1 : 0;
    for (int i = 0; i < 4; i++)
        if (strcmp(s, protos[i]) == 0)
            proto = i;
    if (proto < 0)
        return bad(err, where, "'protocol' must be any, tcp, udp or icmp");
    r->protocol = (enum net_protocol)proto;
    json_t *lo = json_object_get(o, "port_min"), *hi = json_object_get(o, "port_max");
    r->port_min = r->port_max = -1;
    bool has_lo = lo && !json_is_null(lo), has_hi = hi && !json_is_null(hi);
    if (has_lo || has_hi) {
        if (r->protocol != NET_PROTO_TCP && r->protocol != NET_PROTO_UDP)
            return bad(err, where, "port_min/port_max are for tcp and udp rules only");
        if (!has_lo || !has_hi || !json_is_integer(lo) || !json_is_integer(hi) ||
            json_integer_value(lo) < 1 || json_integer_value(hi) > 65535 ||
            json_integer_value(lo) > json_integer_value(hi))
            return bad(err, where,
                       "port_min and port_max must be 1 <= port_min <= port_max <= "
                       "65535");
        r->port_min = (int)json_integer_value(lo);
        r->port_max = (int)json_integer_value(hi);
    }
    char cidr[NET_CIDR_LEN];
    if (get_str(o, "remote_cidr", true, cidr, sizeof(cidr), where, err) < 0 ||
        get_str(o, "remote_group", true, r->remote_group, sizeof(r->remote_group), where, err) < 0)
        return -1;
    if (cidr[0]) {
        if (inet_cidr_parse(cidr, false, &r->remote_cidr) < 0)
            return bad(err, where, "'remote_cidr' must be a.b.c.d/len with no host bits set");
        r->has_remote_cidr = true;
    }
    if (r->remote_group[0] && !valid_is_uuid(r->remote_group))
        return bad(err, where, "'remote_group' must be a UUID");
    if (r->has_remote_cidr && r->remote_group[0])
        return bad(err, where, "give remote_cidr or remote_group, not both");
    return 0;
}

static int parse_sg(json_t *o, struct net_sg *g, const char *where, struct nubo_err *err)
{
    char sub[64];
    if (!json_is_object(o))
        return bad(err, where, "must be an object");
    if (get_uuid(o, "id", g->id, where, err) < 0)
        return -1;
    json_t *arr, *v;
    if (get_array(o, "rules", NET_MAX_RULES, &arr, where, err) < 0)
        return -1;
    g->rules = xcalloc(json_array_size(arr) + 1, sizeof(*g->rules));
    size_t i;
    json_array_foreach (arr, i, v) {
        snprintf(sub, sizeof(sub), "%s.rules[%zu]", where, i);
        if (parse_rule(v, &g->rules[i], sub, err) < 0)
            return -1;
        g->nrules++;
    }
    return 0;
}

static int parse_members(json_t *o, struct net_doc *doc, struct nubo_err *err)
{
    if (o == NULL || json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return bad(err, "group_members", "must be an object of group id -> IP list");
    if (json_object_size(o) > NET_MAX_SGS)
        return nubo_err_set(err, NUBO_E_TOOLARGE, "network document: too many group_members");
    doc->members = xcalloc(json_object_size(o) + 1, sizeof(*doc->members));
    const char *key;
    json_t *arr;
    size_t total = 0;
    json_object_foreach (o, key, arr) {
        char where[80];
        snprintf(where, sizeof(where), "group_members[%.40s]", key);
        struct net_group_members *m = &doc->members[doc->nmembers];
        if (!valid_is_uuid(key))
            return bad(err, where, "keys must be security group UUIDs");
        if (!json_is_array(arr))
            return bad(err, where, "must be an array of IPv4 addresses");
        total += json_array_size(arr);
        if (total > NET_MAX_MEMBERS)
            return nubo_err_set(err, NUBO_E_TOOLARGE,
                                "network document: group_members lists more than %d IPs",
                                NET_MAX_MEMBERS);
        str_copy(m->sg_id, sizeof(m->sg_id), key);
        m->ips = xcalloc(json_array_size(arr) + 1, sizeof(*m->ips));
        doc->nmembers++;
        size_t i;
        json_t *v;
        json_array_foreach (arr, i, v) {
            if (ip_from_json(v, &m->ips[i], where, err) < 0)
                return -1;
            m->nips++;
        }
    }
    return 0;
}

static int parse_doc(json_t *o, struct net_doc *doc, struct nubo_err *err)
{
    char where[64];
    if (!json_is_object(o))
        return bad(err, "document", "must be a JSON object");
    if (get_str(o, "generation", false, doc->generation, sizeof(doc->generation), "document", err) <
        0)
        return -1;
    for (const char *p = doc->generation; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return bad(err, "generation", "must be printable ASCII without spaces");

    json_t *ext = json_object_get(o, "external");
    if (ext && !json_is_null(ext)) {
        struct net_external *e = &doc->external;
        if (!json_is_object(ext))
            return bad(err, "external", "must be an object or null");
        if (get_uuid(ext, "network_id", e->network_id, "external", err) < 0 ||
            get_cidr(ext, "cidr", &e->cidr, "external", err) < 0 ||
            get_ip(ext, "gateway", false, &e->gateway, NULL, "external", err) < 0)
            return -1;
        if (!inet_cidr_contains(&e->cidr, e->gateway.addr))
            return bad(err, "external", "gateway %s is outside %s", e->gateway.s, e->cidr.s);
        doc->has_external = true;
    }

    json_t *arr, *v;
    size_t i;
    if (get_array(o, "networks", NET_MAX_NETWORKS, &arr, "document", err) < 0)
        return -1;
    doc->networks = xcalloc(json_array_size(arr) + 1, sizeof(*doc->networks));
    json_array_foreach (arr, i, v) {
        snprintf(where, sizeof(where), "networks[%zu]", i);
        struct net_network *n = &doc->networks[i];
        doc->nnetworks++; /* counted first: net_doc_clear frees a half-parsed one */
        if (parse_network(v, n, where, err) < 0)
            return -1;
        for (size_t k = 0; k < i; k++) {
            if (doc->networks[k].vni == n->vni)
                return bad(err, where, "vni %u is used twice", n->vni);
            if (strcmp(doc->networks[k].id, n->id) == 0)
                return bad(err, where, "network id %s is used twice", n->id);
        }
    }

    if (get_array(o, "security_groups", NET_MAX_SGS, &arr, "document", err) < 0)
        return -1;
    doc->sgs = xcalloc(json_array_size(arr) + 1, sizeof(*doc->sgs));
    json_array_foreach (arr, i, v) {
        snprintf(where, sizeof(where), "security_groups[%zu]", i);
        doc->nsgs++;
        if (parse_sg(v, &doc->sgs[i], where, err) < 0)
            return -1;
        for (size_t k = 0; k < i; k++)
            if (strcmp(doc->sgs[k].id, doc->sgs[i].id) == 0)
                return bad(err, where, "security group id %s is used twice", doc->sgs[i].id);
    }
    if (parse_members(json_object_get(o, "group_members"), doc, err) < 0)
        return -1;
    for (int g = 0; g < doc->nsgs; g++)
        for (int r = 0; r < doc->sgs[g].nrules; r++) {
            const char *rg = doc->sgs[g].rules[r].remote_group;
            if (rg[0] && net_doc_members(doc, rg) == NULL)
                return bad(err, "group_members", "has no entry for group %s (named by a rule)", rg);
        }

    if (get_array(o, "ports", NET_MAX_PORTS, &arr, "document", err) < 0)
        return -1;
    doc->ports = xcalloc(json_array_size(arr) + 1, sizeof(*doc->ports));
    json_array_foreach (arr, i, v) {
        snprintf(where, sizeof(where), "ports[%zu]", i);
        struct net_port *p = &doc->ports[i];
        if (parse_port(v, doc, p, where, err) < 0)
            return -1;
        for (size_t k = 0; k < i; k++) {
            const struct net_port *q = &doc->ports[k];
            /* Taps are named by the first 10 hex digits of the id, whatever
             * the agent tag ("n000" stands for any). */
            char a[NET_IFNAME_LEN], b[NET_IFNAME_LEN];
            if (strcmp(inet_tap_name("n000", q->id, a), inet_tap_name("n000", p->id, b)) == 0)
                return bad(err, where,
                           "port id %s is used twice (or its first 10 hex digits are, which "
                           "name its tap)",
                           p->id);
            if (q->network_idx == p->network_idx && q->ip.addr == p->ip.addr)
                return bad(err, where, "ip %s is used twice in network %s", p->ip.s, p->network_id);
            if (q->network_idx == p->network_idx && strcmp(q->mac, p->mac) == 0)
                return bad(err, where, "mac %s is used twice in network %s", p->mac, p->network_id);
            if (p->has_floating_ip && q->has_floating_ip &&
                p->floating_ip.addr == q->floating_ip.addr)
                return bad(err, where, "floating_ip %s is used twice", p->floating_ip.s);
        }
        doc->nports++;
    }
    return 0;
}

int net_doc_parse(json_t *o, struct net_doc *doc, struct nubo_err *err)
{
    memset(doc, 0, sizeof(*doc));
    if (parse_doc(o, doc, err) < 0) {
        net_doc_clear(doc);
        return -1;
    }
    return 0;
}
