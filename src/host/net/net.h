/*
 * net.h - tenant networking on this host (src/host/net/): its whole
 * interface to the agent core (host.c, main.c).
 *
 * Sections: the network document (netdoc.c), the datapath (net.c) and the
 * instance metadata service (metadata.c).  What only this folder and its
 * tests use (lookups in the document, interface names, address helpers,
 * the nftables firewall, entering namespaces) is in net_int.h.
 */
#ifndef NUBO_HOST_NET_H
#define NUBO_HOST_NET_H

#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/inet.h" /* addresses, prefixes (struct inet_cidr), interface names */

/* ---- the network document ---------------------------------------------- */

/*
 * The host's desired network state ("the network document" of
 * PUT /v1/network, docs/internals/networking.md) as a C structure.
 *
 * net_doc_parse() turns the JSON into a struct net_doc and validates all of
 * it (values, ranges, references between its parts) before anyone acts on
 * it: the datapath (net.c), the firewall renderer (firewall.c) and the
 * metadata service (metadata.c) all read this structure and may trust it.
 *
 * The structure mirrors the JSON one to one.  Strings keep their textual
 * form (fixed-size, NUL-terminated) so they can go straight into argv and
 * nft scripts; IPv4 addresses are also parsed into uint32_t in HOST byte
 * order (10.0.0.1 = 0x0a000001), CIDRs into address + prefix length.
 * JSON null becomes "" / false / -1 as noted per field.
 */

#define NET_VNI_MAX 16777215u
#define NET_ID_LEN 37 /* UUID + NUL */
#define NET_IP_LEN INET_IPV4_LEN
#define NET_CIDR_LEN INET_CIDR_LEN
#define NET_MAC_LEN INET_MAC_LEN
#define NET_HOSTNAME_LEN 64 /* one RFC 1123 label */
#define NET_DOMAIN_LEN 254
#define NET_GENERATION_LEN 128
#define NET_IFNAME_LEN INET_IFNAME_LEN
#define NET_NS_NAME_LEN INET_NS_NAME_LEN

/* Limits of one document (a larger one is rejected with 400/413). */
#define NET_MAX_NETWORKS 1024
#define NET_MAX_SUBNETS 8 /* per network */
#define NET_MAX_DNS_SERVERS 4
#define NET_MAX_PEERS 1024 /* per network */
#define NET_MAX_DNS_RECORDS 65536
#define NET_MAX_PORTS 4096
#define NET_MAX_PORT_SGS 16 /* security groups per port */
#define NET_MAX_SGS 4096
#define NET_MAX_RULES 1024 /* per security group */
#define NET_MAX_MEMBERS 65536

/* An IPv4 address: text + value (host byte order). */
struct net_ip {
    char s[NET_IP_LEN];
    uint32_t addr;
};

struct net_subnet {
    char id[NET_ID_LEN];
    struct inet_cidr cidr; /* host bits zero; prefix 8..30 */
    struct net_ip gateway; /* inside cidr, not its network or broadcast address */
    int ndns_servers;
    struct net_ip dns_servers[NET_MAX_DNS_SERVERS];
};

struct net_dns_record {
    char hostname[NET_HOSTNAME_LEN];
    struct net_ip ip;
};

struct net_network {
    char id[NET_ID_LEN];
    uint32_t vni; /* 1..NET_VNI_MAX, unique in the document */
    int mtu;      /* 576..9000 */
    char router_mac[NET_MAC_LEN];
    char domain[NET_DOMAIN_LEN]; /* "" when absent/null */
    int nsubnets;                /* 1..NET_MAX_SUBNETS, not overlapping */
    struct net_subnet subnets[NET_MAX_SUBNETS];
    int npeers;
    struct net_ip *peers; /* underlay IPs of the other hosts (owned) */
    int ndns_records;
    struct net_dns_record *dns_records; /* owned */
};

struct net_port {
    char id[NET_ID_LEN];
    char network_id[NET_ID_LEN];
    char subnet_id[NET_ID_LEN];
    int network_idx; /* index of network_id in doc->networks */
    int subnet_idx;  /* index of subnet_id in that network's subnets */
    char vm[64];     /* the agent's VM name, "nubo-<instance id>" */
    char instance_id[NET_ID_LEN];
    char mac[NET_MAC_LEN]; /* lowercase, unicast */
    struct net_ip ip;      /* inside the subnet, not its gateway */
    char hostname[NET_HOSTNAME_LEN];
    bool port_security;
    int nsecurity_groups;
    char security_groups[NET_MAX_PORT_SGS][NET_ID_LEN]; /* each in doc->sgs */
    bool has_floating_ip;
    struct net_ip floating_ip; /* valid when has_floating_ip (needs external) */
};

enum net_direction { NET_INGRESS = 0, NET_EGRESS };
enum net_protocol { NET_PROTO_ANY = 0, NET_PROTO_TCP, NET_PROTO_UDP, NET_PROTO_ICMP };

struct net_sg_rule {
    char id[NET_ID_LEN];
    enum net_direction direction;
    enum net_protocol protocol;
    int port_min, port_max; /* 1..65535, min <= max, tcp/udp only; -1 when null */
    bool has_remote_cidr;
    struct inet_cidr remote_cidr;  /* valid when has_remote_cidr */
    char remote_group[NET_ID_LEN]; /* "" when null; has a doc->members entry */
};

struct net_sg {
    char id[NET_ID_LEN];
    int nrules;
    struct net_sg_rule *rules; /* owned */
};

/* One entry of "group_members": the IPs of a group's members (all hosts). */
struct net_group_members {
    char sg_id[NET_ID_LEN];
    int nips;
    struct net_ip *ips; /* owned */
};

struct net_external {
    char network_id[NET_ID_LEN];
    struct inet_cidr cidr;
    struct net_ip gateway; /* inside cidr */
};

struct net_doc {
    char generation[NET_GENERATION_LEN];
    struct net_network *networks; /* all arrays owned, NULL when empty */
    int nnetworks;
    struct net_port *ports;
    int nports;
    struct net_sg *sgs;
    int nsgs;
    struct net_group_members *members;
    int nmembers;
    struct net_external external; /* valid when has_external */
    bool has_external;
};

/* Parses and validates a network document.  On success doc owns its arrays
 * (net_doc_clear frees them).  On failure returns -1 with err
 * (NUBO_E_INVALID, naming the offending field, e.g. "ports[2].ip: ...") and
 * doc is left empty.  doc need not be initialised. */
int net_doc_parse(json_t *o, struct net_doc *doc, struct nubo_err *err);

/* Frees what doc owns and leaves it empty.  Fine on an empty doc. */
void net_doc_clear(struct net_doc *doc);

/* ---- the datapath ------------------------------------------------------ */

/*
 * The host datapath: converging Linux bridges, VXLANs, taps and
 * router namespaces (with their dnsmasq) on a network document.
 *
 * See docs/internals/networking.md for the picture and the names.  All of
 * it is done with `ip`, `bridge` and dnsmasq run from argv (no shell), and
 * every step is idempotent: converging twice on the same document changes
 * nothing, and what carries our name patterns without being in the
 * document is removed (nothing stale after a restart).
 */

struct net_env {
    char state_dir[PATH_MAX];             /* dnsmasq files in <state_dir>/net/<vni>/ */
    char netns[64];                       /* host networking lives in this netns ("" = ours) */
    char tag[INET_TAG_LEN];               /* the agent tag in every name (net_tag_load) */
    char underlay_ip[NET_IP_LEN];         /* local VXLAN endpoint ("" = none: single host) */
    char external_bridge[NET_IFNAME_LEN]; /* floating IPs' bridge ("" = none) */
};

/* The agent tag of state_dir (lib/inet.h): read from <state_dir>/net-tag,
 * or derived from the directory's path and written there on first use, so
 * it stays the same across restarts.  Returns 0 with tag, or -1 with err
 * (a damaged file says so and how to fix it). */
int net_tag_load(const char *state_dir, char tag[INET_TAG_LEN], struct nubo_err *err);

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

/* ---- the self-check ---------------------------------------------------- */

struct mds;

/* Compares the live datapath with doc (check.c): bridges, VXLANs and
 * their flood entries, veths, the taps of vm_taps attached to their
 * bridges, router namespaces with their addresses, dnsmasq alive, in its
 * namespace and bound, the nft tables, and the metadata listeners of m
 * (may be NULL: none).  Appends to problems one {"object": S, "problem":
 * S, "instances": [ids]} per difference ("instances" absent when every
 * instance of the host is concerned), also when the state could not be
 * read (object "self-check").  Looks only at objects named with env's
 * tag and changes nothing.  Returns how many problems it appended. */
int net_check(const struct net_env *env, const struct net_doc *doc, char (*vm_taps)[NET_IFNAME_LEN],
              int ntaps, const struct mds *m, json_t *problems);

/* ---- the metadata service ---------------------------------------------- */

/*
 * The instance metadata service (169.254.169.254:80) of every
 * router namespace, served from the agent's event loop.
 *
 * One listening socket per network, opened inside the network's router
 * namespace (setns there and back).  A request is attributed to the port
 * whose IP is its source address on that network: anti-spoofing on the
 * taps guarantees the source, and nothing the guest sends is trusted.  An
 * unknown source gets 404.  Paths: docs/internals/networking.md.
 */

struct mds;
struct vm_def; /* host/vm/vm.h */

/* Finds the definition of the VM named name (a port's "vm"), or NULL. */
typedef const struct vm_def *(*mds_vm_fn)(void *ctx, const char *name);

/* A service with no listener yet.  netns is the agent's --netns ("" =
 * none) and tag its agent tag: router namespaces are
 * inet_router_ns(netns, tag, vni). */
struct mds *mds_new(const char *netns, const char *tag, mds_vm_fn vm, void *ctx);

/* Closes listeners and connections; NULL is fine. */
void mds_free(struct mds *m);

/* Opens a listener for each network of doc whose router namespace exists
 * (reopening one whose namespace was recreated), closes the others.  doc
 * is borrowed until the next mds_sync or mds_free. */
void mds_sync(struct mds *m, const struct net_doc *doc);

/* Fills up to max pollfds; returns how many. */
int mds_pollfds(struct mds *m, struct pollfd *fds, int max);

/* Milliseconds until mds_run must run for a timeout (-1: none). */
int64_t mds_timeout_ms(const struct mds *m);

/* Accepts, reads and answers what is ready (fds as given by mds_pollfds,
 * with revents); drops connections past their deadline. */
void mds_run(struct mds *m, const struct pollfd *fds, int n);

#endif
