/*
 * network.h - tenant networking as a service: networks, subnets, ports
 * (with IPAM), security groups and their rules, floating IPs, and the
 * per-host desired-state document the reconciler pushes to host agents
 * (docs/internals/networking.md, docs/internals/controller-network.md).
 *
 * Like compute.h: services take the caller's struct ctx and select tenant
 * resources by ctx->project_id inside their queries; another project's
 * resource is NUBO_E_NOTFOUND, exactly like a missing one.  A function
 * returning json_t * returns a new reference in the API's shape, or NULL
 * with err; a function returning int returns 0 or -1 with err.  Lists take
 * limit (1..1000) and marker and return up to limit + 1 rows for
 * store_page_wrap().  Inputs are validated here (NUBO_E_INVALID saying what
 * to fix); nothing is changed when a call fails.  Resources are named by
 * id or, within the project, by name (ref).
 *
 * Every allocation (VNI, fixed IP, MAC, floating IP) happens inside the
 * write transaction that inserts the row using it, so concurrent creates
 * serialize on the store's write lock and never hand out a value twice;
 * UNIQUE constraints are the last line of defence.
 */
#ifndef NUBO_NETWORK_H
#define NUBO_NETWORK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "identity/identity.h"
#include "lib/err.h"
#include "store/store.h"

#define NETWORK_VNI_MIN 1000
#define NETWORK_VNI_MAX 16777215
#define NETWORK_MTU_DEFAULT 1450
#define NETWORK_MAX_NICS 8
#define NETWORK_MAX_DNS 4
#define NETWORK_MAX_POOLS 16
#define NETWORK_MAX_SGS 16
#define NETWORK_DOMAIN "nubo.internal"

/* ---- addresses (ipv4.c) --------------------------------------------- */

/* Address parsing, prefixes and MAC formats are lib/inet.h's. */

/* The router MAC of a network: "fa:16:3f:" + the first three bytes of the
 * SHA-256 of its id - locally administered unicast, the same on every
 * host, never equal to a port's fa:16:3e MAC. */
void net_router_mac(const char *network_id, char out[18]);

/* An allocation pool, inclusive. */
struct net_pool {
    uint32_t start, end;
};

/* The lowest address in pools (sorted or not) that is not gateway and not
 * in used (sorted ascending, n entries).  Returns 0 and *out, or -1 when
 * every address is taken. */
int net_ipam_lowest_free(const struct net_pool *pools, size_t npools, uint32_t gateway,
                         const uint32_t *used, size_t nused, uint32_t *out);

/* ---- change hook (network.c) ------------------------------------------ */

/* fn(arg) is called after every committed change of network state (the
 * controller makes it wake the reconciler).  Set once before threads
 * start; NULL disables it. */
void network_set_change_hook(void (*fn)(void *), void *arg);

/* fn(st, floating_ip_id, arg, err) is called inside the write transaction
 * that allocates or releases a floating IP, after its INSERT or DELETE; a
 * failure fails the transaction.  nubod makes it meter the address
 * (billing_floatingip_meter(), src/billing), so the usage record opens and
 * closes with the allocation.  Set once before threads start; NULL
 * disables it. */
typedef int network_meter_fn(struct store *st, const char *floating_ip_id, void *arg,
                             struct nubo_err *err);
void network_set_meter_hook(network_meter_fn *fn, void *arg);

/* ---- networks (network.c) --------------------------------------------- */

struct network_spec {
    const char *name;
    const char *description; /* NULL = "" */
    long long mtu;           /* 0 = NETWORK_MTU_DEFAULT; else 576..9000 */
    bool external;           /* cloud admin only */
};

/* The project's networks and every external network. */
/* Fills used[] with what project_id has of the network dimensions
 * (networks, subnets, ports, security groups and rules, floating IPs):
 * part of the quota routes' usage.  0, or -1 with err. */
int network_quota_usage(struct store *st, const char *project_id, long long used[QUOTA_DIMS],
                        struct nubo_err *err);

json_t *network_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                     struct nubo_err *err);
json_t *network_create(struct store *st, const struct ctx *ctx, const struct network_spec *spec,
                       struct nubo_err *err);
json_t *network_get(struct store *st, const struct ctx *ctx, const char *ref, struct nubo_err *err);
/* Changes name and/or description (NULL: unchanged). */
json_t *network_update(struct store *st, const struct ctx *ctx, const char *ref, const char *name,
                       const char *description, struct nubo_err *err);
/* NUBO_E_CONFLICT while it has ports or floating IPs; its subnets go with
 * it. */
int network_delete(struct store *st, const struct ctx *ctx, const char *ref, struct nubo_err *err);

/* ---- subnets (subnet.c) ----------------------------------------------- */

struct subnet_spec {
    const char *network;            /* id or name */
    const char *name;               /* NULL = "" */
    const char *cidr;               /* IPv4, host bits zero, prefix 8..30 */
    const char *gateway;            /* NULL = the first host address */
    const json_t *dns_servers;      /* array of IPv4 strings or NULL */
    const json_t *allocation_pools; /* [{start, end}] or NULL = all but gw */
};

json_t *subnet_list(struct store *st, const struct ctx *ctx, const char *network_id, int limit,
                    const char *marker, struct nubo_err *err);
/* Network owner (member) or cloud admin for an external network.
 * NUBO_E_INVALID when the CIDR overlaps another subnet of the network. */
json_t *subnet_create(struct store *st, const struct ctx *ctx, const struct subnet_spec *spec,
                      struct nubo_err *err);
json_t *subnet_get(struct store *st, const struct ctx *ctx, const char *ref, struct nubo_err *err);
/* NUBO_E_CONFLICT while ports or floating IPs use it. */
int subnet_delete(struct store *st, const struct ctx *ctx, const char *ref, struct nubo_err *err);

/* ---- ports (port.c) ---------------------------------------------------- */

struct port_spec {
    const char *network;           /* id or name */
    const char *name;              /* NULL = "" */
    const char *subnet;            /* id, or NULL = the network's first subnet */
    const char *fixed_ip;          /* NULL = the lowest free address of the pools */
    const json_t *security_groups; /* array of refs, NULL = ["default"] */
    bool port_security;            /* default true */
};

struct port_filter {
    const char *network_id, *instance_id; /* NULL: any */
};

json_t *port_list(struct store *st, const struct ctx *ctx, const struct port_filter *f, int limit,
                  const char *marker, struct nubo_err *err);
json_t *port_create(struct store *st, const struct ctx *ctx, const struct port_spec *spec,
                    struct nubo_err *err);
json_t *port_get(struct store *st, const struct ctx *ctx, const char *id, struct nubo_err *err);
/* Replaces the port's security groups (refs of the project). */
json_t *port_update_groups(struct store *st, const struct ctx *ctx, const char *id,
                           const json_t *security_groups, struct nubo_err *err);
/* NUBO_E_CONFLICT for an instance's port (delete the instance). */
int port_delete(struct store *st, const struct ctx *ctx, const char *id, struct nubo_err *err);

/* ---- instance NICs (port.c) -------------------------------------------- */

/* One requested NIC of an instance create. */
struct network_nic {
    const char *network;  /* id or name */
    const char *fixed_ip; /* or NULL */
};

/* Checks NICs and security group refs before the transaction (counts,
 * syntax).  n 0..NETWORK_MAX_NICS, nsgs 0..NETWORK_MAX_SGS. */
int network_nics_check(const struct network_nic *nics, size_t n, const char *const *sgs,
                       size_t nsgs, struct nubo_err *err);

/* Creates the ports of one instance, inside the caller's write
 * transaction: one per nic, on host_id (may be NULL), named after
 * hostname, with the security groups sgs (NULL/0 = "default").  A fixed IP
 * already taken is NUBO_E_CONFLICT; any failure must roll the caller's
 * transaction back. */
int network_instance_ports_create(struct store *st, const struct ctx *ctx, const char *instance_id,
                                  const char *host_id, const char *hostname,
                                  const struct network_nic *nics, size_t n, const char *const *sgs,
                                  size_t nsgs, struct nubo_err *err);

/* [{network_id, network, port_id, ip, mac, floating_ip}] of an instance's
 * ports (an empty array when it has none), or NULL with err. */
json_t *network_instance_addresses(struct store *st, const char *instance_id, struct nubo_err *err);

/* The addresses of many instances in one query (a page of a list): an
 * object {instance_id: [addresses as network_instance_addresses()]} of
 * the instances of project_id (NULL: of every project) whose
 * (created_at, id) lies from (from_at, from_id) to (to_at, to_id), both
 * included; instances without ports are absent.  New reference, or NULL
 * with err. */
json_t *network_instances_addresses(struct store *st, const char *project_id, const char *from_at,
                                    const char *from_id, const char *to_at, const char *to_id,
                                    struct nubo_err *err);

/* Deletes an instance's ports (their addresses are free again, floating
 * IPs are disassociated).  Runs in the caller's transaction if any. */
int network_instance_ports_release(struct store *st, const char *instance_id, struct nubo_err *err);

/* The instance's ports now live on host_id (an evacuation, or a completed
 * live migration: docs/internals/mobility.md), with their IPs, MACs and
 * floating IPs; each host's network document follows.  In the caller's
 * transaction; 0 or -1 with err. */
int network_instance_ports_move(struct store *st, const char *instance_id, const char *host_id,
                                struct nubo_err *err);

/* ---- security groups (secgroup.c) --------------------------------------- */

/* Every list, create and resolve makes sure the project's "default" group
 * exists (egress any to 0.0.0.0/0, ingress any from the default group). */
json_t *secgroup_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                      struct nubo_err *err);
json_t *secgroup_create(struct store *st, const struct ctx *ctx, const char *name,
                        const char *description, struct nubo_err *err);
/* With its rules. */
json_t *secgroup_get(struct store *st, const struct ctx *ctx, const char *ref,
                     struct nubo_err *err);
/* NUBO_E_CONFLICT for "default" and while ports use the group. */
int secgroup_delete(struct store *st, const struct ctx *ctx, const char *ref, struct nubo_err *err);

struct secgroup_rule_spec {
    const char *security_group;   /* id or name */
    const char *direction;        /* ingress | egress */
    const char *protocol;         /* NULL = any; any | tcp | udp | icmp */
    long long port_min, port_max; /* -1 = not given */
    const char *remote_cidr;      /* NULL */
    const char *remote_group;     /* id or name in the project, NULL */
};

json_t *secgroup_rule_list(struct store *st, const struct ctx *ctx, const char *group, int limit,
                           const char *marker, struct nubo_err *err);
json_t *secgroup_rule_create(struct store *st, const struct ctx *ctx,
                             const struct secgroup_rule_spec *spec, struct nubo_err *err);
int secgroup_rule_delete(struct store *st, const struct ctx *ctx, const char *id,
                         struct nubo_err *err);

/* Resolves a group ref of ctx's project (creating "default" when needed),
 * inside the caller's transaction: writes its id into id. */
int secgroup_resolve(struct store *st, const struct ctx *ctx, const char *ref, char id[37],
                     struct nubo_err *err);

/* ---- floating IPs (floatingip.c) ----------------------------------------- */

json_t *floatingip_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                        struct nubo_err *err);
/* network: an external network's id or name, NULL = the only one. */
json_t *floatingip_create(struct store *st, const struct ctx *ctx, const char *network,
                          struct nubo_err *err);
json_t *floatingip_get(struct store *st, const struct ctx *ctx, const char *id,
                       struct nubo_err *err);
/* Associates with a port of the project (port_id) or disassociates (NULL). */
json_t *floatingip_update(struct store *st, const struct ctx *ctx, const char *id,
                          const char *port_id, struct nubo_err *err);
int floatingip_delete(struct store *st, const struct ctx *ctx, const char *id,
                      struct nubo_err *err);

/* ---- the host document (hostdoc.c) --------------------------------------- */

/* The PUT /v1/network document of docs/internals/networking.md for one
 * host (new reference), with "generation" = SHA-256 hex of the document
 * without it, dumped with sorted keys: the same state gives the same
 * generation.  NUBO_E_NOTFOUND for an unknown host. */
json_t *network_host_document(struct store *st, const char *host_id, struct nubo_err *err);

#endif
