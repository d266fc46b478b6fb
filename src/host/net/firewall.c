/*
 * firewall.c - nftables rules for tenant ports; see net_int.h and
 * docs/internals/networking.md ("Firewall").
 *
 * This kernel has no conntrack in the bridge family, so the work is split:
 *
 *  Host tables are named after the agent tag (`nubo-<tag>`), so agents
 *  sharing a namespace each load and replace only their own.
 *
 *  table bridge nubo-<tag> (runs on every bridged frame)
 *    prerouting -300      taps with port security jump to port_in_<n>:
 *                         anti-spoofing (source MAC, IPv4 source or the DHCP
 *                         discover 0.0.0.0:68 -> 255.255.255.255:67, ARP
 *                         sender MAC/IP; anything else, IPv6 included, is
 *                         dropped), and meta mark = n (low 16 bits).
 *    forward -200         keeps host-local traffic off each VXLAN (DHCP,
 *                         ARP for a gateway, frames from router_mac); a tap
 *                         with port security as output ORs n << 16 into the
 *                         mark (port_out_<n>).  -200 runs before
 *                         br_netfilter (0) hands IPv4 to the inet hooks.
 *  table inet nubo-<tag>  (bridged IPv4 via br_netfilter: iifname = bridge)
 *    input                VXLAN (udp 4789) of each of our VNIs only from
 *                         the network's peers; from any other address:
 *                         drop.
 *    prerouting raw       a conntrack zone per bridge, so two tenants using
 *                         the same CIDR never share state; zones come from
 *                         fw_zones_assign (unique per agent, persisted by
 *                         net.c so they survive networks coming and going).
 *    forward              established/related accepted, invalid dropped;
 *                         DHCP to/from the router and metadata (tcp 80 to
 *                         169.254.169.254) always allowed; then the egress
 *                         chain of the input port (mark & 0xffff) and the
 *                         ingress chain of the output port (mark >> 16).
 *    egress_<n>           jumps to the sg_<k>_egress chain of each of the
 *                         port's groups, whose rules `goto to_port` on a
 *                         match; falling through all of them: drop.
 *    ingress_<n>          the same with sg_<k>_ingress, whose rules accept.
 *    members_<m>          set of the IPs of a remote group.
 *  Ports without port security get no index: they are not filtered, and
 *  VXLAN ("<tag>x*") and router ("<tag>r*") ports have none either, so traffic
 *  from them meets only the destination port's ingress chain.
 *
 *  table ip nubo-nat      (in each router namespace, which is the agent's
 *                         own) DNAT floating -> fixed arriving on "ext",
 *                         SNAT fixed -> floating leaving by "ext"; forward
 *                         from "ext" only what was DNAT'd (or answers an
 *                         SNAT'd flow): fixed IPs are not reachable from
 *                         the external network.
 *
 * Every value written into a script is re-checked here: addresses are
 * printed from their numeric form, MACs and interface names are checked
 * against a strict alphabet.  Scripts are loaded with `nft -f FILE` (argv
 * only, through spawn_run), under `ip netns exec NS` for another namespace.
 */
#include "host/net/net_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/spawn.h"
#include "lib/util.h"
#include "lib/valid.h"

#define FW_NFT_TIMEOUT_MS 30000
#define FW_OUT_CAP 8192
#define FW_ROUTER_IF "ext"
#define FW_METADATA_IP "169.254.169.254"
#define FW_VXLAN_PORT 4789
#define FW_ZONE_SPREAD 1024 /* zones between the starts of two agents */

/* ---- checked values ------------------------------------------------------ */

/* Prints a host-order IPv4 address into buf (16 bytes). */
static const char *fw_ip(uint32_t a, char buf[NET_IP_LEN])
{
    snprintf(buf, NET_IP_LEN, "%u.%u.%u.%u", (a >> 24) & 255, (a >> 16) & 255, (a >> 8) & 255,
             a & 255);
    return buf;
}

/* Prints a CIDR from its numeric parts into buf; -1 for a bad prefix or
 * host bits set. */
static int fw_cidr(const struct inet_cidr *c, char buf[NET_CIDR_LEN])
{
    char ip[NET_IP_LEN];

    if (c->prefix < 0 || c->prefix > 32)
        return -1;
    uint32_t mask = c->prefix == 0 ? 0 : 0xffffffffu << (32 - c->prefix);
    if ((c->addr & ~mask) != 0)
        return -1;
    snprintf(buf, NET_CIDR_LEN, "%s/%d", fw_ip(c->addr, ip), c->prefix);
    return 0;
}

/* True for "xx:xx:xx:xx:xx:xx" in lowercase hex, unicast. */
static bool fw_mac_ok(const char *s)
{
    if (strlen(s) != 17)
        return false;
    for (int i = 0; i < 17; i++) {
        if (i % 3 == 2) {
            if (s[i] != ':')
                return false;
        } else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    int first = (s[0] >= 'a' ? s[0] - 'a' + 10 : s[0] - '0') * 16 +
                (s[1] >= 'a' ? s[1] - 'a' + 10 : s[1] - '0');
    return (first & 1) == 0;
}

/* True for an interface name of 1..15 characters of [a-z0-9]. */
static bool fw_ifname_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= NET_IFNAME_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

/* True for a namespace name we may pass to `ip netns exec`. */
static bool fw_netns_ok(const char *s)
{
    return s && s[0] != '-' && s[0] != '.' && valid_token(s, strlen(s), NET_NS_NAME_LEN - 1);
}

/* The tap of a port, checked; -1 with err when the port id cannot name one. */
static int fw_tap(const char *tag, const struct net_port *p, char buf[NET_IFNAME_LEN],
                  struct nubo_err *err)
{
    if (!valid_is_uuid(p->id))
        return nubo_err_set(err, NUBO_E_INVALID, "port id \"%.40s\" is not a UUID", p->id);
    inet_tap_name(tag, p->id, buf);
    if (!fw_ifname_ok(buf))
        return nubo_err_set(err, NUBO_E_INVALID, "port %s: bad tap name", p->id);
    return 0;
}

static int fw_network_ok(const struct net_network *n, struct nubo_err *err)
{
    if (n->vni < 1 || n->vni > NET_VNI_MAX)
        return nubo_err_set(err, NUBO_E_INVALID, "network %.40s: vni %u out of range", n->id,
                            n->vni);
    if (!fw_mac_ok(n->router_mac))
        return nubo_err_set(err, NUBO_E_INVALID, "network %.40s: bad router_mac", n->id);
    return 0;
}

/* Index of sg id in doc->sgs, or -1. */
static int fw_sg_index(const struct net_doc *doc, const char *id)
{
    for (int i = 0; i < doc->nsgs; i++)
        if (strcmp(doc->sgs[i].id, id) == 0)
            return i;
    return -1;
}

/* Index of the members entry of sg id, or -1. */
static int fw_members_index(const struct net_doc *doc, const char *id)
{
    for (int i = 0; i < doc->nmembers; i++)
        if (strcmp(doc->members[i].sg_id, id) == 0)
            return i;
    return -1;
}

/* The firewall index of port i (1-based, fits 16 bits), 0 for a port that
 * is not filtered. */
static int fw_port_index(const struct net_doc *doc, int i)
{
    return doc->ports[i].port_security ? i + 1 : 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- the host script ----------------------------------------------------- */

static int fw_bridge_table(FILE *f, const struct net_doc *doc, const char *tag,
                           struct nubo_err *err)
{
    char tap[NET_IFNAME_LEN], ip[NET_IP_LEN], ifn[NET_IFNAME_LEN];

    fprintf(f, "table bridge nubo-%s {}\ndelete table bridge nubo-%s\ntable bridge nubo-%s {\n",
            tag, tag, tag);

    /* Input and output taps of filtered ports, as verdict maps. */
    bool any = false;
    fprintf(f, "\tmap in_ports {\n\t\ttype ifname : verdict\n");
    for (int i = 0; i < doc->nports; i++) {
        int n = fw_port_index(doc, i);
        if (!n)
            continue;
        if (fw_tap(tag, &doc->ports[i], tap, err) < 0)
            return -1;
        fprintf(f, "%s\"%s\" : goto port_in_%d", any ? ", " : "\t\telements = { ", tap, n);
        any = true;
    }
    fprintf(f, "%s\t}\n", any ? " }\n" : "");
    any = false;
    fprintf(f, "\tmap out_ports {\n\t\ttype ifname : verdict\n");
    for (int i = 0; i < doc->nports; i++) {
        int n = fw_port_index(doc, i);
        if (!n)
            continue;
        fw_tap(tag, &doc->ports[i], tap, err);
        fprintf(f, "%s\"%s\" : goto port_out_%d", any ? ", " : "\t\telements = { ", tap, n);
        any = true;
    }
    fprintf(f, "%s\t}\n", any ? " }\n" : "");

    fprintf(f, "\tchain prerouting {\n\t\ttype filter hook prerouting priority -300; policy "
               "accept;\n\t\tiifname vmap @in_ports\n\t}\n");

    /* forward: host-local traffic stays off the VXLAN, then output marks. */
    fprintf(f, "\tchain forward {\n\t\ttype filter hook forward priority -200; policy accept;\n");
    for (int i = 0; i < doc->nnetworks; i++) {
        const struct net_network *nw = &doc->networks[i];
        if (fw_network_ok(nw, err) < 0)
            return -1;
        inet_vxlan_name(tag, nw->vni, ifn);
        if (!fw_ifname_ok(ifn))
            return nubo_err_set(err, NUBO_E_INVALID, "network %.40s: bad vxlan name", nw->id);
        fprintf(f, "\t\toifname \"%s\" meta l4proto udp udp dport { 67, 68 } drop\n", ifn);
        fprintf(f, "\t\tiifname \"%s\" meta l4proto udp udp dport { 67, 68 } drop\n", ifn);
        fprintf(f, "\t\toifname \"%s\" ether saddr %s drop\n", ifn, nw->router_mac);
        if (nw->nsubnets > 0) {
            fprintf(f, "\t\toifname \"%s\" arp daddr ip { ", ifn);
            for (int s = 0; s < nw->nsubnets; s++)
                fprintf(f, "%s%s", s ? ", " : "", fw_ip(nw->subnets[s].gateway.addr, ip));
            fprintf(f, " } drop\n");
        }
    }
    fprintf(f, "\t\toifname vmap @out_ports\n\t}\n");

    for (int i = 0; i < doc->nports; i++) {
        const struct net_port *p = &doc->ports[i];
        int n = fw_port_index(doc, i);
        if (!n)
            continue;
        if (!fw_mac_ok(p->mac))
            return nubo_err_set(err, NUBO_E_INVALID, "port %s: bad mac", p->id);
        if (p->ip.addr == 0 || p->ip.addr == 0xffffffffu)
            return nubo_err_set(err, NUBO_E_INVALID, "port %s: bad ip", p->id);
        fw_ip(p->ip.addr, ip);
        fprintf(f,
                "\tchain port_in_%d {\n"
                "\t\tmeta mark set %d\n"
                "\t\tether saddr != %s drop\n"
                "\t\tether type arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4 "
                "arp saddr ether %s arp saddr ip { %s, 0.0.0.0 } accept\n"
                "\t\tether type ip ip saddr %s accept\n"
                "\t\tether type ip ip saddr 0.0.0.0 ip daddr 255.255.255.255 "
                "udp sport 68 udp dport 67 accept\n"
                "\t\tdrop\n\t}\n",
                n, n, p->mac, p->mac, ip, ip);
        fprintf(f, "\tchain port_out_%d {\n\t\tmeta mark set meta mark | 0x%08x\n\t}\n", n,
                (unsigned)n << 16);
    }
    fprintf(f, "}\n");
    return 0;
}

/* One rule of a group, as a match and a verdict. */
static int fw_rule(FILE *f, const struct net_doc *doc, const struct net_sg *sg,
                   const struct net_sg_rule *r, struct nubo_err *err)
{
    const char *side = r->direction == NET_INGRESS ? "saddr" : "daddr";
    const char *verdict = r->direction == NET_INGRESS ? "accept" : "goto to_port";
    char cidr[NET_CIDR_LEN];

    fprintf(f, "\t\tmeta nfproto ipv4");
    if (r->remote_group[0]) {
        int m = fw_members_index(doc, r->remote_group);
        if (m < 0)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "security group %.40s: remote group %.40s has no members entry",
                                sg->id, r->remote_group);
        fprintf(f, " ip %s @members_%d", side, m);
    } else if (r->has_remote_cidr) {
        if (fw_cidr(&r->remote_cidr, cidr) < 0)
            return nubo_err_set(err, NUBO_E_INVALID, "security group %.40s: bad remote_cidr",
                                sg->id);
        if (r->remote_cidr.prefix > 0)
            fprintf(f, " ip %s %s", side, cidr);
    }
    switch (r->protocol) {
    case NET_PROTO_ANY:
        break;
    case NET_PROTO_ICMP:
        fprintf(f, " meta l4proto icmp");
        break;
    case NET_PROTO_TCP:
    case NET_PROTO_UDP: {
        const char *proto = r->protocol == NET_PROTO_TCP ? "tcp" : "udp";
        fprintf(f, " meta l4proto %s", proto);
        if (r->port_min == -1 && r->port_max == -1)
            break;
        if (r->port_min < 1 || r->port_max > 65535 || r->port_min > r->port_max)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "security group %.40s: port range %d-%d out of bounds", sg->id,
                                r->port_min, r->port_max);
        if (r->port_min == r->port_max)
            fprintf(f, " %s dport %d", proto, r->port_min);
        else
            fprintf(f, " %s dport %d-%d", proto, r->port_min, r->port_max);
        break;
    }
    default:
        return nubo_err_set(err, NUBO_E_INVALID, "security group %.40s: unknown protocol", sg->id);
    }
    fprintf(f, " %s\n", verdict);
    return 0;
}

/* The sets of table inet nubo: our bridges, and each remote group's
 * members (sorted, without duplicates). */
static int fw_inet_sets(FILE *f, const struct net_doc *doc, const char *tag, struct nubo_err *err)
{
    char ifn[NET_IFNAME_LEN], ip[NET_IP_LEN];

    fprintf(f, "\tset bridges {\n\t\ttype ifname\n");
    for (int i = 0; i < doc->nnetworks; i++) {
        if (fw_network_ok(&doc->networks[i], err) < 0)
            return -1;
        inet_bridge_name(tag, doc->networks[i].vni, ifn);
        if (!fw_ifname_ok(ifn))
            return nubo_err_set(err, NUBO_E_INVALID, "bad bridge name");
        fprintf(f, "%s\"%s\"", i ? ", " : "\t\telements = { ", ifn);
    }
    fprintf(f, "%s\t}\n", doc->nnetworks ? " }\n" : "");

    for (int m = 0; m < doc->nmembers; m++) {
        const struct net_group_members *gm = &doc->members[m];
        fprintf(f, "\tset members_%d {\n\t\ttype ipv4_addr\n", m);
        if (gm->nips > 0) {
            uint32_t *v = xcalloc((size_t)gm->nips, sizeof(*v));
            for (int k = 0; k < gm->nips; k++)
                v[k] = gm->ips[k].addr;
            qsort(v, (size_t)gm->nips, sizeof(*v), cmp_u32);
            fprintf(f, "\t\telements = { ");
            for (int k = 0; k < gm->nips; k++)
                if (k == 0 || v[k] != v[k - 1])
                    fprintf(f, "%s%s", k ? ", " : "", fw_ip(v[k], ip));
            fprintf(f, " }\n");
            free(v);
        }
        fprintf(f, "\t}\n");
    }
    return 0;
}

/* The verdict maps from a packet's port mark to the port's chain: the low
 * 16 bits mark the port it came from (egress), the high 16 bits the port it
 * goes to (ingress). */
static void fw_inet_maps(FILE *f, const struct net_doc *doc)
{
    bool any = false;
    fprintf(f, "\tmap egress {\n\t\ttype mark : verdict\n");
    for (int i = 0; i < doc->nports; i++) {
        int n = fw_port_index(doc, i);
        if (n) {
            fprintf(f, "%s%d : goto egress_%d", any ? ", " : "\t\telements = { ", n, n);
            any = true;
        }
    }
    fprintf(f, "%s\t}\n", any ? " }\n" : "");
    any = false;
    fprintf(f, "\tmap ingress {\n\t\ttype mark : verdict\n");
    for (int i = 0; i < doc->nports; i++) {
        int n = fw_port_index(doc, i);
        if (n) {
            fprintf(f, "%s0x%08x : goto ingress_%d", any ? ", " : "\t\telements = { ",
                    (unsigned)n << 16, n);
            any = true;
        }
    }
    fprintf(f, "%s\t}\n", any ? " }\n" : "");
}

/* The base chains: VXLAN only from peers (input), conntrack zones per
 * network, and forward, which lets DHCP and metadata through and hands the
 * rest to the ports' chains. */
static void fw_inet_base_chains(FILE *f, const struct net_doc *doc, const char *tag,
                                const uint16_t *zones)
{
    char ifn[NET_IFNAME_LEN], ip[NET_IP_LEN];

    /* The VNI is the 24 bits after the 8 bytes of UDP header and the first
     * 4 of the VXLAN header (flags, reserved). */
    fprintf(f, "\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n");
    for (int i = 0; i < doc->nnetworks; i++) {
        const struct net_network *n = &doc->networks[i];
        fprintf(f, "\t\tudp dport %d @th,96,24 %u", FW_VXLAN_PORT, n->vni);
        if (n->npeers > 0) {
            fprintf(f, " ip saddr != { ");
            for (int k = 0; k < n->npeers; k++)
                fprintf(f, "%s%s", k ? ", " : "", fw_ip(n->peers[k].addr, ip));
            fprintf(f, " }");
        }
        fprintf(f, " drop\n");
    }
    fprintf(f, "\t}\n");

    fprintf(f, "\tchain prerouting {\n\t\ttype filter hook prerouting priority raw; policy "
               "accept;\n");
    for (int i = 0; i < doc->nnetworks; i++)
        fprintf(f, "\t\tiifname \"%s\" ct zone set %u\n",
                inet_bridge_name(tag, doc->networks[i].vni, ifn), (unsigned)zones[i]);
    fprintf(f, "\t}\n");

    fprintf(f, "\tchain forward {\n"
               "\t\ttype filter hook forward priority filter; policy accept;\n"
               "\t\tiifname != @bridges accept\n"
               "\t\tct state established,related accept\n"
               "\t\tct state invalid drop\n"
               "\t\tmeta mark & 0xffff0000 == 0 udp sport 68 udp dport 67 accept\n"
               "\t\tmeta mark & 0x0000ffff == 0 udp sport 67 udp dport 68 accept\n"
               "\t\tmeta mark & 0xffff0000 == 0 ip daddr " FW_METADATA_IP " tcp dport 80 accept\n"
               "\t\tmeta mark & 0x0000ffff vmap @egress\n"
               "\t\tgoto to_port\n"
               "\t}\n"
               "\tchain to_port {\n"
               "\t\tmeta mark & 0xffff0000 vmap @ingress\n"
               "\t\taccept\n"
               "\t}\n");
}

/* A chain per security group and direction, its rules in order. */
static int fw_inet_sg_chains(FILE *f, const struct net_doc *doc, struct nubo_err *err)
{
    for (int k = 0; k < doc->nsgs; k++) {
        const struct net_sg *sg = &doc->sgs[k];
        for (int dir = NET_INGRESS; dir <= NET_EGRESS; dir++) {
            fprintf(f, "\tchain sg_%d_%s {\n", k, dir == NET_INGRESS ? "ingress" : "egress");
            for (int r = 0; r < sg->nrules; r++)
                if ((int)sg->rules[r].direction == dir &&
                    fw_rule(f, doc, sg, &sg->rules[r], err) < 0)
                    return -1;
            fprintf(f, "\t}\n");
        }
    }
    return 0;
}

/* A chain per port and direction: jump to each of its groups, then drop. */
static int fw_inet_port_chains(FILE *f, const struct net_doc *doc, struct nubo_err *err)
{
    for (int i = 0; i < doc->nports; i++) {
        const struct net_port *p = &doc->ports[i];
        int n = fw_port_index(doc, i);
        if (!n)
            continue;
        for (int dir = NET_INGRESS; dir <= NET_EGRESS; dir++) {
            const char *d = dir == NET_INGRESS ? "ingress" : "egress";
            fprintf(f, "\tchain %s_%d {\n", d, n);
            for (int g = 0; g < p->nsecurity_groups; g++) {
                int k = fw_sg_index(doc, p->security_groups[g]);
                if (k < 0)
                    return nubo_err_set(err, NUBO_E_INVALID,
                                        "port %s: unknown security group %.40s", p->id,
                                        p->security_groups[g]);
                fprintf(f, "\t\tjump sg_%d_%s\n", k, d);
            }
            fprintf(f, "\t\tdrop\n\t}\n");
        }
    }
    return 0;
}

static int fw_inet_table(FILE *f, const struct net_doc *doc, const char *tag, const uint16_t *zones,
                         struct nubo_err *err)
{
    fprintf(f, "table inet nubo-%s {}\ndelete table inet nubo-%s\ntable inet nubo-%s {\n", tag, tag,
            tag);
    if (fw_inet_sets(f, doc, tag, err) < 0)
        return -1;
    fw_inet_maps(f, doc);
    fw_inet_base_chains(f, doc, tag, zones);
    if (fw_inet_sg_chains(f, doc, err) < 0 || fw_inet_port_chains(f, doc, err) < 0)
        return -1;
    fprintf(f, "}\n");
    return 0;
}

/* Finishes a memstream: returns its buffer when ok, else frees it. */
static char *fw_finish(FILE *f, char **buf, int ok)
{
    /* *buf is only valid once the stream is closed. */
    if (fclose(f) != 0)
        ok = 0;
    if (!ok) {
        free(*buf);
        return NULL;
    }
    return *buf;
}

/* ---- conntrack zones ----------------------------------------------------- */

/* Zones are 16 bits; 0 is the default zone, left to the host. */
json_t *fw_zones_assign(const struct net_doc *doc, const char *tag, json_t *prev, uint16_t *zones)
{
    uint8_t *used = xcalloc(65536, 1);
    json_t *out = json_object();
    char key[16];
    used[0] = 1;
    /* First keep the zones the networks had. */
    for (int i = 0; i < doc->nnetworks; i++) {
        snprintf(key, sizeof(key), "%u", doc->networks[i].vni);
        json_t *z = json_object_get(prev, key);
        json_int_t v = json_is_integer(z) ? json_integer_value(z) : 0;
        zones[i] = 0;
        if (v >= 1 && v <= 65535 && !used[v]) {
            zones[i] = (uint16_t)v;
            used[v] = 1;
        }
    }
    /* Then the first free one from the agent's start for the others. */
    uint32_t h = 2166136261u;
    for (const char *p = tag; p && *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    uint32_t next = 1 + (h % 64) * FW_ZONE_SPREAD;
    for (int i = 0; i < doc->nnetworks; i++) {
        if (zones[i] == 0) {
            while (used[next])
                next = next % 65535 + 1; /* 1..65535; doc has at most 1024 networks */
            zones[i] = (uint16_t)next;
            used[next] = 1;
        }
        snprintf(key, sizeof(key), "%u", doc->networks[i].vni);
        json_object_set_new(out, key, json_integer(zones[i]));
    }
    free(used);
    return out;
}

char *fw_render_host(const struct net_doc *doc, const struct fw_env *env, struct nubo_err *err)
{
    if (env == NULL || !inet_tag_valid(env->tag)) {
        nubo_err_set(err, NUBO_E_INVALID, "the firewall needs a valid agent tag");
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        nubo_err_set(err, NUBO_E_INTERNAL, "out of memory rendering the firewall");
        return NULL;
    }
    if (doc->nports >= 0xffff) {
        nubo_err_set(err, NUBO_E_INVALID, "too many ports for the firewall (%d)", doc->nports);
        return fw_finish(f, &buf, 0);
    }
    uint16_t *zones = NULL;
    const uint16_t *z = env->zones;
    if (z == NULL) {
        zones = xcalloc((size_t)doc->nnetworks + 1, sizeof(*zones));
        json_decref(fw_zones_assign(doc, env->tag, NULL, zones));
        z = zones;
    }
    int ok =
        fw_bridge_table(f, doc, env->tag, err) == 0 && fw_inet_table(f, doc, env->tag, z, err) == 0;
    free(zones);
    return fw_finish(f, &buf, ok);
}

char *fw_render_router(const struct net_doc *doc, int network_index, struct nubo_err *err)
{
    char ip[NET_IP_LEN], fip[NET_IP_LEN];

    if (network_index < 0 || network_index >= doc->nnetworks) {
        nubo_err_set(err, NUBO_E_INVALID, "no network %d in the document", network_index);
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        nubo_err_set(err, NUBO_E_INTERNAL, "out of memory rendering the firewall");
        return NULL;
    }
    fprintf(f, "table ip nubo-nat {}\ndelete table ip nubo-nat\ntable ip nubo-nat {\n");
    fprintf(f, "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy "
               "accept;\n");
    for (int i = 0; i < doc->nports; i++) {
        const struct net_port *p = &doc->ports[i];
        if (p->network_idx != network_index || !p->has_floating_ip)
            continue;
        fprintf(f, "\t\tiifname \"" FW_ROUTER_IF "\" ip daddr %s dnat to %s\n",
                fw_ip(p->floating_ip.addr, fip), fw_ip(p->ip.addr, ip));
    }
    fprintf(f, "\t}\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; "
               "policy accept;\n");
    for (int i = 0; i < doc->nports; i++) {
        const struct net_port *p = &doc->ports[i];
        if (p->network_idx != network_index || !p->has_floating_ip)
            continue;
        fprintf(f, "\t\toifname \"" FW_ROUTER_IF "\" ip saddr %s snat to %s\n",
                fw_ip(p->ip.addr, ip), fw_ip(p->floating_ip.addr, fip));
    }
    /* From the external network only what DNAT sent to a floating IP, or
     * what answers a flow SNAT let out: never a fixed IP directly. */
    fprintf(f, "\t}\n\tchain forward {\n\t\ttype filter hook forward priority filter; "
               "policy accept;\n"
               "\t\tiifname \"" FW_ROUTER_IF "\" ct status dnat accept\n"
               "\t\tiifname \"" FW_ROUTER_IF "\" ct status snat accept\n"
               "\t\tiifname \"" FW_ROUTER_IF "\" drop\n"
               "\t}\n}\n");
    return fw_finish(f, &buf, 1);
}

/* ---- applying ------------------------------------------------------------ */

/* Runs `[ip netns exec NS] nft -f FILE` with script in FILE: one transaction. */
static int fw_load(const char *netns, const char *script, struct nubo_err *err)
{
    char path[] = "/tmp/nubo-fw-XXXXXX";
    char *out = NULL;
    int rc = -1;

    int fd = mkstemp(path);
    if (fd < 0)
        return nubo_err_set(err, NUBO_E_INTERNAL, "cannot create a temporary file for nft");
    size_t len = strlen(script), done = 0;
    while (done < len) {
        ssize_t w = write(fd, script + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            nubo_err_set(err, NUBO_E_INTERNAL, "cannot write the nft script");
            goto cleanup;
        }
        done += (size_t)w;
    }
    close(fd);

    char *ns_argv[] = {"ip", "netns", "exec", (char *)netns, "nft", "-f", path, NULL};
    char *own_argv[] = {"nft", "-f", path, NULL};
    if (spawn_run(netns ? ns_argv : own_argv, FW_NFT_TIMEOUT_MS, FW_OUT_CAP, &out, err) < 0) {
        log_error("nft -f in %s failed: %s", netns ? netns : "own namespace",
                  out ? out : "(no output)");
        err->code = NUBO_E_UNAVAILABLE;
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(out);
    unlink(path);
    return rc;
}

/* True when the named network namespace exists. */
static bool fw_netns_exists(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "/run/netns/%s", name);
    return access(path, F_OK) == 0;
}

/* The host namespace of env (NULL = our own); -1 for a bad name. */
static int fw_env_netns(const struct fw_env *env, const char **ns, struct nubo_err *err)
{
    *ns = env && env->netns && env->netns[0] ? env->netns : NULL;
    if (*ns && !fw_netns_ok(*ns))
        return nubo_err_set(err, NUBO_E_INVALID, "bad host namespace name");
    if (env == NULL || !inet_tag_valid(env->tag))
        return nubo_err_set(err, NUBO_E_INVALID, "the firewall needs a valid agent tag");
    return 0;
}

/* Bridged IPv4 must traverse the inet hooks (per namespace). */
static int fw_enable_br_netfilter(const char *netns, struct nubo_err *err)
{
    const char *kv = "net.bridge.bridge-nf-call-iptables=1";
    char *ns_argv[] = {"ip", "netns", "exec", (char *)netns, "sysctl", "-qw", (char *)kv, NULL};
    char *own_argv[] = {"sysctl", "-qw", (char *)kv, NULL};
    if (spawn_run(netns ? ns_argv : own_argv, FW_NFT_TIMEOUT_MS, FW_OUT_CAP, NULL, err) < 0) {
        err->code = NUBO_E_UNAVAILABLE;
        return -1;
    }
    return 0;
}

int fw_apply(const struct net_doc *doc, const struct fw_env *env, struct nubo_err *err)
{
    const char *host_ns;
    char ns[NET_NS_NAME_LEN];

    if (fw_env_netns(env, &host_ns, err) < 0)
        return -1;
    char *script = fw_render_host(doc, env, err);
    if (!script)
        return -1;
    int rc = fw_enable_br_netfilter(host_ns, err);
    if (rc == 0)
        rc = fw_load(host_ns, script, err);
    free(script);
    if (rc < 0)
        return -1;

    for (int i = 0; i < doc->nnetworks; i++) {
        bool has_fip = false;
        for (int k = 0; k < doc->nports; k++)
            if (doc->ports[k].network_idx == i && doc->ports[k].has_floating_ip)
                has_fip = true;
        inet_router_ns(host_ns, env->tag, doc->networks[i].vni, ns);
        if (!fw_netns_ok(ns))
            return nubo_err_set(err, NUBO_E_INVALID, "bad router namespace name");
        if (!fw_netns_exists(ns)) {
            if (has_fip)
                return nubo_err_set(err, NUBO_E_UNAVAILABLE,
                                    "router namespace %s is missing for a floating IP", ns);
            continue;
        }
        script = fw_render_router(doc, i, err);
        if (!script)
            return -1;
        rc = fw_load(ns, script, err);
        free(script);
        if (rc < 0)
            return -1;
    }
    log_info("firewall applied: %d ports, %d security groups, %d networks", doc->nports, doc->nsgs,
             doc->nnetworks);
    return 0;
}

int fw_remove(const struct net_doc *doc, const struct fw_env *env, struct nubo_err *err)
{
    const char *host_ns;
    char ns[NET_NS_NAME_LEN];

    if (fw_env_netns(env, &host_ns, err) < 0)
        return -1;
    /* nft 1.0.6 has no "destroy": add then delete is a no-op when absent. */
    char script[256];
    snprintf(script, sizeof(script),
             "table bridge nubo-%s {}\ndelete table bridge nubo-%s\n"
             "table inet nubo-%s {}\ndelete table inet nubo-%s\n",
             env->tag, env->tag, env->tag, env->tag);
    if (fw_load(host_ns, script, err) < 0)
        return -1;
    for (int i = 0; doc && i < doc->nnetworks; i++) {
        inet_router_ns(host_ns, env->tag, doc->networks[i].vni, ns);
        if (!fw_netns_ok(ns) || !fw_netns_exists(ns))
            continue;
        if (fw_load(ns, "table ip nubo-nat {}\ndelete table ip nubo-nat\n", err) < 0)
            return -1;
    }
    return 0;
}

int fw_remove_legacy(const struct fw_env *env, struct nubo_err *err)
{
    const char *host_ns;
    if (fw_env_netns(env, &host_ns, err) < 0)
        return -1;
    return fw_load(host_ns,
                   "table bridge nubo {}\ndelete table bridge nubo\n"
                   "table inet nubo {}\ndelete table inet nubo\n",
                   err);
}
