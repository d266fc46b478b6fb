/*
 * firewall.h - the host firewall: security groups, anti-spoofing and
 * floating-IP NAT, rendered as nftables scripts from the network document
 * (docs/internals/networking.md, "Firewall").
 *
 * Every render is a whole script that replaces our tables in one
 * transaction (`table X {}; delete table X; table X { ... }`), so applying
 * it twice changes nothing and nothing can go stale.  (Not `flush table`:
 * it empties chains but keeps the elements of sets and maps, so a removed
 * group member or port would survive.)
 */
#ifndef NUBO_HOST_FIREWALL_H
#define NUBO_HOST_FIREWALL_H

#include "host/net/netdoc.h"
#include "lib/err.h"

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
