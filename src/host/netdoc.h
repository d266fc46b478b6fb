/*
 * netdoc.h - the host's desired network state ("the network document" of
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
#ifndef NUBO_HOST_NETDOC_H
#define NUBO_HOST_NETDOC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/inet.h" /* addresses, prefixes (struct inet_cidr), interface names */

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

/* Lookups by id; NULL / -1 when absent. */
const struct net_network *net_doc_network(const struct net_doc *doc, const char *id);
const struct net_network *net_doc_network_by_vni(const struct net_doc *doc, uint32_t vni);
const struct net_sg *net_doc_sg(const struct net_doc *doc, const char *id);
const struct net_group_members *net_doc_members(const struct net_doc *doc, const char *sg_id);
const struct net_port *net_doc_port(const struct net_doc *doc, const char *id);

#endif
