/*
 * net_int.h - what only src/host/net/ and its unit tests, fuzz targets and
 * test drivers use (SQLite's btreeInt.h idiom); the agent core sees net.h
 * alone.
 *
 * Sections: lookups in the network document, network namespaces, the
 * firewall.
 */
#ifndef NUBO_HOST_NET_INT_H
#define NUBO_HOST_NET_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "host/net/net.h"
#include "lib/err.h"

/* ---- lookups in the document ------------------------------------------- */

/* Lookups by id; NULL / -1 when absent. */
const struct net_network *net_doc_network(const struct net_doc *doc, const char *id);
const struct net_network *net_doc_network_by_vni(const struct net_doc *doc, uint32_t vni);
const struct net_sg *net_doc_sg(const struct net_doc *doc, const char *id);
const struct net_group_members *net_doc_members(const struct net_doc *doc, const char *sg_id);
const struct net_port *net_doc_port(const struct net_doc *doc, const char *id);

/* The port of doc whose tap (named with env's tag) is tap, or NULL. */
const struct net_port *net_port_of_tap(const struct net_env *env, const struct net_doc *doc,
                                       const char *tap);

/* Interface and namespace names, addresses, prefixes and MACs: lib/inet.h
 * (inet_bridge_name, inet_tap_name, inet_router_ns, inet_cidr_parse...). */

/* ---- the metadata service ---------------------------------------------- */

/* For tests: serves fd (a listening, non-blocking socket, which m then
 * owns) as the metadata listener of network vni, with no namespace. */
int mds_listen_fd(struct mds *m, uint32_t vni, int fd);

/* True when m has a listener for network vni in the router namespace of
 * that name as it exists now (not one deleted and made again). */
bool mds_listening(const struct mds *m, uint32_t vni);

/* ---- the self-check ---------------------------------------------------- */

/* Reads the live state of env's datapath for doc (net.c): the JSON
 * object described at the top of check.c, without "metadata".  Never
 * NULL (new reference); what could not be read is absent, with the
 * failed command in "errors". */
json_t *net_observe(const struct net_env *env, const struct net_doc *doc);

/* The comparison of net_check() on an observation obs (check.c's format,
 * "metadata" included): pure, for unit tests. */
int net_check_diff(const struct net_env *env, const struct net_doc *doc,
                   char (*vm_taps)[NET_IFNAME_LEN], int ntaps, json_t *obs, json_t *problems);

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

/* Where the firewall lives and what it is called (net.c fills it). */
struct fw_env {
    const char *netns;     /* the agent's --netns: namespace of bridges and taps, and
                              prefix of the router namespaces (inet_router_ns);
                              NULL or "" = the agent's own, routers "nubo-<tag>-r<vni>" */
    const char *tag;       /* the agent tag: names of links and of the host tables */
    const uint16_t *zones; /* conntrack zone of each network (index as in doc), from
                              fw_zones_assign; NULL = fw_zones_assign(doc, tag, NULL) */
};

/* Assigns each network of doc a conntrack zone, 1..65535, unique among
 * them: the zone of prev (a JSON object "<vni>": zone, the last
 * assignment; may be NULL) when it still has one, else the first free one
 * from a start derived from tag, so that two agents sharing a namespace
 * begin 1024 zones apart.  Writes zones[i] for doc->networks[i] and
 * returns the new assignment as a JSON object (caller owns it). */
json_t *fw_zones_assign(const struct net_doc *doc, const char *tag, json_t *prev, uint16_t *zones);

/* The nft script for the host namespace: tables `bridge nubo-<tag>`
 * (anti-spoofing, port marks, host-local traffic kept off the VXLAN) and
 * `inet nubo-<tag>` (stateful security groups, VXLAN only from the
 * network's peers).  Returns a malloc'd string (caller frees), or NULL
 * with err (NUBO_E_INVALID when a value of doc or env cannot be rendered
 * safely; doc is re-checked, not trusted blindly). */
char *fw_render_host(const struct net_doc *doc, const struct fw_env *env, struct nubo_err *err);

/* The nft script for the router namespace of doc->networks[network_index]:
 * table `ip nubo-nat` with DNAT floating -> fixed on "ext" and SNAT fixed ->
 * floating out of "ext" for each port of that network with a floating IP,
 * and a forward filter that lets in from "ext" only what was DNAT'd to a
 * floating IP (or answers what SNAT let out).  Returns a malloc'd string
 * (caller frees), or NULL with err. */
char *fw_render_router(const struct net_doc *doc, int network_index, struct nubo_err *err);

/* Applies doc: sets net.bridge.bridge-nf-call-iptables=1 in the host
 * namespace, loads the host script with one `nft -f` (one transaction),
 * then the script of each network's router namespace (skipped when that
 * namespace does not exist and the network has no floating IP here).
 * Returns 0, or -1 with err (NUBO_E_UNAVAILABLE when nft failed: the
 * namespace concerned keeps its previous rules). */
int fw_apply(const struct net_doc *doc, const struct fw_env *env, struct nubo_err *err);

/* Deletes our tables: both host tables, and `ip nubo-nat` in the router
 * namespace of each network of doc (doc may be NULL: host tables only).
 * Missing tables or namespaces are success. */
int fw_remove(const struct net_doc *doc, const struct fw_env *env, struct nubo_err *err);

/* Deletes the host tables of agents before tags (`bridge nubo`, `inet
 * nubo`) in env's namespace; missing is success. */
int fw_remove_legacy(const struct fw_env *env, struct nubo_err *err);

#endif
