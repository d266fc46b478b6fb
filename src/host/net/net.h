/*
 * net.h - the host datapath: converging Linux bridges, VXLANs, taps and
 * router namespaces (with their dnsmasq) on a network document.
 *
 * See docs/internals/networking.md for the picture and the names.  All of
 * it is done with `ip`, `bridge` and dnsmasq run from argv (no shell), and
 * every step is idempotent: converging twice on the same document changes
 * nothing, and what carries our name patterns without being in the
 * document is removed (nothing stale after a restart).
 */
#ifndef NUBO_HOST_NET_H
#define NUBO_HOST_NET_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>

#include "host/net/netdoc.h"
#include "lib/err.h"

struct net_env {
    char state_dir[PATH_MAX];             /* dnsmasq files in <state_dir>/net/<vni>/ */
    char netns[64];                       /* host networking lives in this netns ("" = ours) */
    char underlay_ip[NET_IP_LEN];         /* local VXLAN endpoint ("" = none: single host) */
    char external_bridge[NET_IFNAME_LEN]; /* floating IPs' bridge ("" = none) */
};

/* Converges the host on doc.  vm_taps lists the taps of the VMs that exist
 * (ntaps of them): those are kept (attached to their bridge when their port
 * is in doc, detached otherwise); other "tp*" taps are deleted.  Goes on
 * after a failed step; each failure is appended to errors (a JSON array of
 * strings) and logged.  Returns the number of failures. */
int net_converge(const struct net_env *env, const struct net_doc *doc,
                 char (*vm_taps)[NET_IFNAME_LEN], int ntaps, json_t *errors);

/* The live view for GET /v1/network: {"networks": [...], "ports": [...]}
 * keys added to obj. */
void net_status(const struct net_env *env, const struct net_doc *doc, json_t *obj);

/* Creates the persistent tap name (if missing) in the host namespace. */
int net_tap_create(const struct net_env *env, const char *name, struct nubo_err *err);

/* Deletes the tap name (missing is fine). */
int net_tap_delete(const struct net_env *env, const char *name, struct nubo_err *err);

/* Switches the calling thread into the named network namespace
 * (/run/netns/NAME).  *saved receives an fd of the namespace to come back
 * to with net_ns_leave().  NAME "" is a no-op (saved = -1). */
int net_ns_enter(const char *name, int *saved, struct nubo_err *err);
void net_ns_leave(int saved);

#endif
