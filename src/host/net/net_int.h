/*
 * net_int.h - what only src/host/net/ and its unit tests, fuzz targets and
 * test drivers use (SQLite's btreeInt.h idiom); the agent core sees net.h
 * alone.
 *
 * Sections: lookups in the network document, interface and namespace
 * names, address helpers, network namespaces, the firewall.
 */
#ifndef NUBO_HOST_NET_INT_H
#define NUBO_HOST_NET_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "host/net/net.h"
#include "lib/err.h"

/* ---- lookups in the document ------------------------------------------- */

/* Lookups by id; NULL / -1 when absent. */
const struct net_network *net_doc_network(const struct net_doc *doc, const char *id);
const struct net_network *net_doc_network_by_vni(const struct net_doc *doc, uint32_t vni);
const struct net_sg *net_doc_sg(const struct net_doc *doc, const char *id);
const struct net_group_members *net_doc_members(const struct net_doc *doc, const char *sg_id);
const struct net_port *net_doc_port(const struct net_doc *doc, const char *id);

/* ---- interface and namespace names ------------------------------------- */

/* All fit IFNAMSIZ; buf of NET_IFNAME_LEN. */

/* "nb<vni>": the network's bridge. */
const char *net_bridge_name(uint32_t vni, char buf[NET_IFNAME_LEN]);
/* "nx<vni>": the network's VXLAN device. */
const char *net_vxlan_name(uint32_t vni, char buf[NET_IFNAME_LEN]);
/* "nr<vni>": the host end of the veth into the router namespace ("gw"). */
const char *net_veth_name(uint32_t vni, char buf[NET_IFNAME_LEN]);
/* "tp" + the first 12 hex digits of the port id (dashes removed). */
const char *net_tap_name(const char *port_id, char buf[NET_IFNAME_LEN]);
/* The router namespace: "<prefix>-r<vni>", prefix being the agent's
 * --netns, or "nubo" when prefix is NULL or "". buf of NET_NS_NAME_LEN. */
const char *net_router_ns(const char *prefix, uint32_t vni, char buf[NET_NS_NAME_LEN]);

/* ---- address helpers --------------------------------------------------- */

/* Formats a host-order address into buf (NET_IP_LEN). */
const char *net_ipv4_format(uint32_t addr, char buf[NET_IP_LEN]);
/* Parses "a.b.c.d/len" (len 0..32); host bits must be zero unless
 * allow_host_bits.  Returns 0 or -1. */
int net_cidr_parse(const char *s, bool allow_host_bits, struct net_cidr *out);
/* The netmask of a prefix length, host order (0 for /0). */
uint32_t net_prefix_mask(int prefix);
/* True when addr lies in cidr. */
bool net_cidr_contains(const struct net_cidr *cidr, uint32_t addr);
/* True for a lowercase "xx:xx:xx:xx:xx:xx" unicast MAC. */
bool net_mac_valid(const char *s);

/* ---- network namespaces ------------------------------------------------ */

/*
 * Of net.c, used by the metadata service too.
 */

/* Switches the calling thread into the named network namespace
 * (/run/netns/NAME).  *saved receives an fd of the namespace to come back
 * to with net_ns_leave().  NAME "" is a no-op (saved = -1). */
int net_ns_enter(const char *name, int *saved, struct nubo_err *err);
void net_ns_leave(int saved);

/* ---- the firewall ------------------------------------------------------ */

/*
 * The host firewall: security groups, anti-spoofing and
 * floating-IP NAT, rendered as nftables scripts from the network document
 * (docs/internals/networking.md, "Firewall").
 *
 * Every render is a whole script that replaces our tables in one
 * transaction (`table X {}; delete table X; table X { ... }`), so applying
 * it twice changes nothing and nothing can go stale.  (Not `flush table`:
 * it empties chains but keeps the elements of sets and maps, so a removed
 * group member or port would survive.)
 */

/* Where the firewall lives (net.c fills it). */
struct fw_env {
    const char *netns; /* the agent's --netns: namespace of bridges and taps, and
                          prefix of the router namespaces (net_router_ns);
                          NULL or "" = the agent's own, routers "nubo-r<vni>" */
};

/* The nft script for the host namespace: tables `bridge nubo` (anti-spoofing,
 * port marks, host-local traffic kept off the VXLAN) and `inet nubo`
 * (stateful security groups).  Returns a malloc'd string (caller frees), or
 * NULL with err (NUBO_E_INVALID when a value of doc cannot be rendered
 * safely; doc is re-checked, not trusted blindly). */
char *fw_render_host(const struct net_doc *doc, struct nubo_err *err);

/* The nft script for the router namespace of doc->networks[network_index]:
 * table `ip nubo-nat` with DNAT floating -> fixed on "ext" and SNAT fixed ->
 * floating out of "ext" for each port of that network with a floating IP.
 * Returns a malloc'd string (caller frees), or NULL with err. */
char *fw_render_router(const struct net_doc *doc, int network_index, struct nubo_err *err);

/* Applies doc: sets net.bridge.bridge-nf-call-iptables=1 in the host
 * namespace, loads the host script with one `nft -f` (one transaction),
 * then the NAT script of each network's router namespace (skipped when that
 * namespace does not exist and the network has no floating IP here).
 * Returns 0, or -1 with err (NUBO_E_UNAVAILABLE when nft failed: the
 * namespace concerned keeps its previous rules). */
int fw_apply(const struct net_doc *doc, const struct fw_env *env, struct nubo_err *err);

/* Deletes our tables: both host tables, and `ip nubo-nat` in the router
 * namespace of each network of doc (doc may be NULL: host tables only).
 * Missing tables or namespaces are success. */
int fw_remove(const struct net_doc *doc, const struct fw_env *env, struct nubo_err *err);

#endif
