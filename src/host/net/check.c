/*
 * check.c - the datapath's self-check: what runs in the kernel compared
 * with the network document; see net.h and docs/internals/networking.md
 * ("Self-check and repair").
 *
 * net_observe() (net.c) reads the live state once (`ip -j`, `bridge -j`,
 * `nft -j`, /proc for dnsmasq) into one JSON object; net_check_diff()
 * compares it with the document and the VMs' taps without touching the
 * system, so the comparison is unit-tested on made-up observations
 * (tests/unit/test_netcheck.c).  Each difference is a problem
 * {object, problem, instances?}: the kernel object by its name ("bridge
 * nk3ab1000", "dnsmasq vni 1000"), what is wrong with it ("missing"),
 * and the ids of the instances whose ports it serves (absent when it
 * serves every instance of the host: the host's firewall tables).  Only
 * objects named with the agent's tag are looked at; the repair is the
 * ordinary convergence (net_converge), which is idempotent.
 *
 * The observation's shape:
 *   {"links": [ip -j -d link show, host namespace],
 *    "namespaces": ["<router namespace of our tag>", ...],
 *    "nft": ["<family> <table>", ...]           (host namespace),
 *    "networks": {"<vni>": {"fdb": [bridge -j fdb show dev <vxlan>],
 *                           "router": [ip -j addr show, router namespace],
 *                           "nft": ["<family> <table>", ...] (router ns,
 *                                   only with floating IPs),
 *                           "dnsmasq": {"running", "in_namespace", "bound"}}},
 *    "metadata": [<vni with a metadata listener>, ...],
 *    "errors": ["<a command that failed>", ...]}
 * A key is absent when reading it failed; that is a problem of its own
 * ("self-check") rather than a guess.
 */
#include "host/net/net_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"

#define MDS_ADDR "169.254.169.254"
#define PROBLEM_TEXT_MAX 300

/* Appends {object, problem, instances?} (instances borrowed; NULL = every
 * instance of the host). */
static void add(json_t *problems, json_t *instances, const char *object, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add(json_t *problems, json_t *instances, const char *object, const char *fmt, ...)
{
    char text[PROBLEM_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    json_t *p = json_pack("{s:s, s:s}", "object", object, "problem", text);
    if (instances)
        json_object_set_new(p, "instances", json_deep_copy(instances));
    json_array_append_new(problems, p);
}

static bool has_str(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach (arr, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    return false;
}

static json_t *link_find(json_t *links, const char *name)
{
    size_t i;
    json_t *l;
    json_array_foreach (links, i, l) {
        const char *n = json_string_value(json_object_get(l, "ifname"));
        if (n && strcmp(n, name) == 0)
            return l;
    }
    return NULL;
}

static const char *str_of(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static bool link_up(json_t *l)
{
    return has_str(json_object_get(l, "flags"), "UP");
}

/* True when link l (of ip -j addr show) carries addr/plen. */
static bool link_has_addr(json_t *l, const char *addr, int plen)
{
    size_t i;
    json_t *a;
    json_array_foreach (json_object_get(l, "addr_info"), i, a) {
        if (strcmp(str_of(a, "family"), "inet") == 0 && strcmp(str_of(a, "local"), addr) == 0 &&
            json_integer_value(json_object_get(a, "prefixlen")) == plen)
            return true;
    }
    return false;
}

/* Checks that link name exists (of kind, when kind is not NULL), is up,
 * and is attached to master (when not NULL).  False when it is missing. */
static bool check_link(json_t *problems, json_t *insts, json_t *links, const char *what,
                       const char *name, const char *kind, const char *master)
{
    char object[64];
    snprintf(object, sizeof(object), "%s %s", what, name);
    json_t *l = link_find(links, name);
    if (l == NULL) {
        add(problems, insts, object, "missing");
        return false;
    }
    const char *k = str_of(json_object_get(l, "linkinfo"), "info_kind");
    if (kind && strcmp(k, kind) != 0)
        add(problems, insts, object, "is not a %s (kind '%s')", kind, k);
    if (!link_up(l))
        add(problems, insts, object, "is down");
    if (master && strcmp(str_of(l, "master"), master) != 0)
        add(problems, insts, object, "is not attached to %s", master);
    return true;
}

/* The ids of the instances with a port on network index ni (new
 * reference). */
static json_t *network_instances(const struct net_doc *doc, int ni)
{
    json_t *ids = json_array();
    for (int i = 0; i < doc->nports; i++) {
        const struct net_port *p = &doc->ports[i];
        if (p->network_idx == ni && p->instance_id[0] && !has_str(ids, p->instance_id))
            json_array_append_new(ids, json_string(p->instance_id));
    }
    return ids;
}

static void check_fdb(json_t *problems, json_t *insts, const struct net_env *env,
                      const struct net_network *n, const char *vx, json_t *fdb)
{
    char object[64];
    snprintf(object, sizeof(object), "vxlan %s", vx);
    for (int k = 0; k < n->npeers; k++) {
        if (strcmp(n->peers[k].s, env->underlay_ip) == 0)
            continue;
        bool found = false;
        size_t i;
        json_t *e;
        json_array_foreach (fdb, i, e) {
            found = found || (strcmp(str_of(e, "mac"), "00:00:00:00:00:00") == 0 &&
                              strcmp(str_of(e, "dst"), n->peers[k].s) == 0);
        }
        if (!found)
            add(problems, insts, object, "no flood entry for peer %s", n->peers[k].s);
    }
}

static void check_router(json_t *problems, json_t *insts, const struct net_network *n,
                         const char *rns, json_t *router)
{
    char object[80];
    snprintf(object, sizeof(object), "router namespace %s", rns);
    json_t *gw = link_find(router, "gw"), *lo = link_find(router, "lo");
    if (gw == NULL) {
        add(problems, insts, object, "has no link gw");
    } else {
        if (!link_up(gw))
            add(problems, insts, object, "link gw is down");
        if (strcmp(str_of(gw, "address"), n->router_mac) != 0)
            add(problems, insts, object, "link gw has MAC %s, not %s", str_of(gw, "address"),
                n->router_mac);
        for (int s = 0; s < n->nsubnets; s++)
            if (!link_has_addr(gw, n->subnets[s].gateway.s, n->subnets[s].cidr.prefix))
                add(problems, insts, object, "gateway %s/%d missing on gw", n->subnets[s].gateway.s,
                    n->subnets[s].cidr.prefix);
    }
    if (lo == NULL || !link_up(lo) || !link_has_addr(lo, MDS_ADDR, 32))
        add(problems, insts, object, "metadata address " MDS_ADDR "/32 missing on lo");
}

static void check_network(json_t *problems, const struct net_env *env, const struct net_doc *doc,
                          int ni, json_t *obs)
{
    const struct net_network *n = &doc->networks[ni];
    json_t *links = json_object_get(obs, "links");
    char key[16], br[NET_IFNAME_LEN], vx[NET_IFNAME_LEN], vr[NET_IFNAME_LEN], ve[NET_IFNAME_LEN];
    char rns[NET_NS_NAME_LEN], object[80];
    snprintf(key, sizeof(key), "%u", n->vni);
    inet_bridge_name(env->tag, n->vni, br);
    inet_vxlan_name(env->tag, n->vni, vx);
    inet_veth_name(env->tag, n->vni, vr);
    inet_ext_name(env->tag, n->vni, ve);
    inet_router_ns(env->netns, env->tag, n->vni, rns);
    json_t *no = json_object_get(json_object_get(obs, "networks"), key);
    json_t *insts = network_instances(doc, ni);

    if (links) {
        check_link(problems, insts, links, "bridge", br, "bridge", NULL);
        if (env->underlay_ip[0] && check_link(problems, insts, links, "vxlan", vx, "vxlan", br) &&
            n->npeers > 0) {
            json_t *fdb = json_object_get(no, "fdb");
            if (fdb == NULL)
                add(problems, insts, "self-check", "cannot read the flood entries of %s", vx);
            else
                check_fdb(problems, insts, env, n, vx, fdb);
        }
        check_link(problems, insts, links, "veth", vr, "veth", br);
    }

    json_t *rnss = json_object_get(obs, "namespaces");
    bool rns_exists = rnss == NULL || has_str(rnss, rns);
    snprintf(object, sizeof(object), "router namespace %s", rns);
    if (!rns_exists)
        add(problems, insts, object, "missing");
    json_t *router = json_object_get(no, "router");
    if (rns_exists && router)
        check_router(problems, insts, n, rns, router);
    else if (rns_exists && rnss)
        add(problems, insts, "self-check", "cannot read the addresses of %s", rns);

    json_t *dm = json_object_get(no, "dnsmasq");
    snprintf(object, sizeof(object), "dnsmasq vni %u", n->vni);
    if (!json_is_true(json_object_get(dm, "running")))
        add(problems, insts, object, "not running");
    else if (!json_is_true(json_object_get(dm, "in_namespace")))
        add(problems, insts, object, "runs outside router namespace %s", rns);
    else if (!json_is_true(json_object_get(dm, "bound")))
        add(problems, insts, object, "not bound to the DHCP port (67)");

    bool listening = false;
    size_t i;
    json_t *v;
    json_array_foreach (json_object_get(obs, "metadata"), i, v)
        listening = listening || json_integer_value(v) == (json_int_t)n->vni;
    snprintf(object, sizeof(object), "metadata vni %u", n->vni);
    if (!listening)
        add(problems, insts, object, "no listener on " MDS_ADDR ":80 in %s", rns);

    /* The external leg and the NAT, while the network has floating IPs
     * here (converge reports a host without --external-bridge itself). */
    bool fip = false;
    for (int k = 0; k < doc->nports; k++)
        fip = fip || (doc->ports[k].network_idx == ni && doc->ports[k].has_floating_ip);
    if (fip && env->external_bridge[0]) {
        if (links)
            check_link(problems, insts, links, "veth", ve, "veth", env->external_bridge);
        json_t *nft = json_object_get(no, "nft");
        snprintf(object, sizeof(object), "nft table ip nubo-nat in %s", rns);
        if (nft && !has_str(nft, "ip nubo-nat"))
            add(problems, insts, object, "missing");
        else if (nft == NULL && rns_exists)
            add(problems, insts, "self-check", "cannot list the nft tables of %s", rns);
    }
    json_decref(insts);
}

int net_check_diff(const struct net_env *env, const struct net_doc *doc,
                   char (*vm_taps)[NET_IFNAME_LEN], int ntaps, json_t *obs, json_t *problems)
{
    size_t before = json_array_size(problems);
    json_t *links = json_object_get(obs, "links");
    size_t i;
    json_t *e;
    json_array_foreach (json_object_get(obs, "errors"), i, e)
        add(problems, NULL, "self-check", "%s", json_string_value(e) ? json_string_value(e) : "");
    if (links == NULL && json_array_size(json_object_get(obs, "errors")) == 0)
        add(problems, NULL, "self-check", "cannot read the links of the host namespace");
    if (json_object_get(obs, "namespaces") == NULL &&
        json_array_size(json_object_get(obs, "errors")) == 0)
        add(problems, NULL, "self-check", "cannot list the network namespaces");

    for (int k = 0; k < doc->nnetworks; k++)
        check_network(problems, env, doc, k, obs);

    for (int k = 0; k < ntaps && links; k++) {
        const struct net_port *p = net_port_of_tap(env, doc, vm_taps[k]);
        if (p == NULL)
            continue; /* not in the document: kept detached, nothing to serve */
        char br[NET_IFNAME_LEN];
        inet_bridge_name(env->tag, doc->networks[p->network_idx].vni, br);
        json_t *insts = json_array();
        if (p->instance_id[0])
            json_array_append_new(insts, json_string(p->instance_id));
        check_link(problems, insts, links, "tap", vm_taps[k], NULL, br);
        json_decref(insts);
    }

    /* The host's firewall tables (they hold every port's rules). */
    json_t *nft = json_object_get(obs, "nft");
    if (doc->nnetworks > 0 && nft == NULL && json_array_size(json_object_get(obs, "errors")) == 0)
        add(problems, NULL, "self-check", "cannot list the nft tables of the host namespace");
    static const char *const families[] = {"bridge", "inet"};
    for (size_t f = 0; f < ARRAY_LEN(families) && doc->nnetworks > 0 && nft; f++) {
        char table[64];
        snprintf(table, sizeof(table), "%s nubo-%s", families[f], env->tag);
        if (!has_str(nft, table)) {
            char object[80];
            snprintf(object, sizeof(object), "nft table %s", table);
            add(problems, NULL, object, "missing");
        }
    }
    return (int)(json_array_size(problems) - before);
}

int net_check(const struct net_env *env, const struct net_doc *doc, char (*vm_taps)[NET_IFNAME_LEN],
              int ntaps, const struct mds *m, json_t *problems)
{
    json_t *obs = net_observe(env, doc);
    json_t *listening = json_array();
    for (int i = 0; i < doc->nnetworks; i++)
        if (m && mds_listening(m, doc->networks[i].vni))
            json_array_append_new(listening, json_integer(doc->networks[i].vni));
    json_object_set_new(obs, "metadata", listening);
    int n = net_check_diff(env, doc, vm_taps, ntaps, obs, problems);
    json_decref(obs);
    return n;
}
