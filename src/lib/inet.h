/*
 * inet.h - IPv4 addresses and prefixes, MAC addresses and the names of
 * nubo's network interfaces: one implementation for the controller
 * (src/network: IPAM, validation of subnets and rules) and the host agent
 * (src/host: the network document, the datapath, VM NICs).
 *
 * Addresses are uint32_t in HOST byte order (10.0.0.1 = 0x0a000001).  The
 * parsers are strict: what they accept may go into argv, nft scripts and
 * dnsmasq files as it is, and their text forms are canonical, so equal
 * values compare equal as strings.  Parsers return 0 / -1 without a
 * struct nubo_err (callers name the field in their message), except
 * inet_cidr_check(), which writes the controller's messages.
 */
#ifndef NUBO_LIB_INET_H
#define NUBO_LIB_INET_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

#define INET_IPV4_LEN 16    /* "255.255.255.255" + NUL */
#define INET_CIDR_LEN 19    /* "255.255.255.255/32" + NUL */
#define INET_MAC_LEN 18     /* "fa:16:3e:12:34:56" + NUL */
#define INET_IFNAME_LEN 16  /* IFNAMSIZ */
#define INET_NS_NAME_LEN 96 /* router namespace names */

/* An IPv4 prefix: its canonical text, the network address (host bits
 * zero) and the prefix length 0..32. */
struct inet_cidr {
    char s[INET_CIDR_LEN];
    uint32_t addr;
    int prefix;
};

/* ---- IPv4 ---------------------------------------------------------------- */

/* Parses a dotted quad: exactly four decimal parts 0..255, no leading
 * zeros ("0" itself is fine), nothing before or after.  Returns 0 and *out,
 * or -1 (NULL s included). */
int inet_ipv4_parse(const char *s, uint32_t *out);

/* Formats addr into buf and returns buf. */
const char *inet_ipv4_format(uint32_t addr, char buf[INET_IPV4_LEN]);

/* The netmask of a prefix length (0 for /0, all ones for /32 and more). */
uint32_t inet_prefix_mask(int prefix);

/* ---- prefixes ------------------------------------------------------------ */

/* Parses "a.b.c.d/len" (len 0..32 in decimal without leading zeros).  The
 * address's host bits must be zero unless allow_host_bits (they are then
 * cleared).  Returns 0 with *out, or -1. */
int inet_cidr_parse(const char *s, bool allow_host_bits, struct inet_cidr *out);

/* inet_cidr_parse() for a request field named what: NUBO_E_INVALID "what
 * must be an IPv4 prefix like 10.0.0.0/24 ...", or with strict and host
 * bits set "what 'x' has host bits set: the network is n/len".  Returns 0
 * with *out or -1 with err. */
int inet_cidr_check(const char *s, bool strict, const char *what, struct inet_cidr *out,
                    struct nubo_err *err);

/* The first (network) and last (broadcast) address of c. */
uint32_t inet_cidr_first(const struct inet_cidr *c);
uint32_t inet_cidr_last(const struct inet_cidr *c);

/* True when addr lies in c. */
bool inet_cidr_contains(const struct inet_cidr *c, uint32_t addr);

/* ---- MAC addresses ------------------------------------------------------- */

/* Parses "xx:xx:xx:xx:xx:xx" (hex digits of either case) into 6 bytes.
 * Returns 0 or -1. */
int inet_mac_parse(const char *s, uint8_t out[6]);

/* Formats 6 bytes as lowercase "xx:xx:xx:xx:xx:xx" into out. */
void inet_mac_format(const uint8_t mac[6], char out[INET_MAC_LEN]);

/* True for a lowercase "xx:xx:xx:xx:xx:xx" that is unicast (the first
 * byte's low bit clear) and not all zeros: what a NIC may carry. */
bool inet_mac_valid(const char *s);

/* A MAC of the three bytes oui and three random ones, into out. */
void inet_mac_random(const uint8_t oui[3], char out[INET_MAC_LEN]);

/* ---- names of the agent's kernel objects (docs/internals/networking.md,
 * "Names") -------------------------------------------------------------- */

/*
 * Every link, router namespace and nft table an agent makes carries its
 * agent tag: INET_TAG_LEN-1 characters, "n" and three of [a-z0-9] (see
 * inet_tag_valid), made once per state directory and kept there.  Two
 * agents on one machine, or in one namespace, so never share or sweep each
 * other's objects.  Interface names are tag + kind letter + decimal VNI
 * ("nk3ab1000"; at most 13 characters), taps tag + "t" + the first 10 hex
 * digits of the port id (15 characters).  The kinds are b (bridge), x
 * (VXLAN), r (veth to the router), e (veth to the external bridge),
 * t (tap).
 *
 * A NULL or "" tag gives the legacy names of agents before tags ("nb1000",
 * "tp" + 12 hex digits, "nubo-r1000"), which an upgraded agent looks for
 * to remove or rename (net.c, "migration").  All fit IFNAMSIZ; buf of
 * INET_IFNAME_LEN.
 */
#define INET_TAG_LEN 5 /* "nk3a" + NUL */

/* True for a well-formed agent tag: "n" followed by three of [a-z0-9]. */
bool inet_tag_valid(const char *tag);

/* The tag derived from seed (any text, e.g. the state directory's path):
 * "n" + 3 base-36 digits of its FNV-1a hash, into out. */
void inet_tag_derive(const char *seed, char out[INET_TAG_LEN]);

/* A network's bridge: "<tag>b<vni>" (legacy "nb<vni>"). */
const char *inet_bridge_name(const char *tag, uint32_t vni, char buf[INET_IFNAME_LEN]);
/* A network's VXLAN device: "<tag>x<vni>" (legacy "nx<vni>"). */
const char *inet_vxlan_name(const char *tag, uint32_t vni, char buf[INET_IFNAME_LEN]);
/* The host end of the veth into the router namespace ("gw"):
 * "<tag>r<vni>" (legacy "nr<vni>"). */
const char *inet_veth_name(const char *tag, uint32_t vni, char buf[INET_IFNAME_LEN]);
/* The host end of the external leg ("ext"): "<tag>e<vni>" (legacy
 * "ne<vni>"). */
const char *inet_ext_name(const char *tag, uint32_t vni, char buf[INET_IFNAME_LEN]);
/* A port's tap: "<tag>t" + the first 10 hex digits of the port id, dashes
 * removed (legacy "tp" + 12 digits). */
const char *inet_tap_name(const char *tag, const char *port_id, char buf[INET_IFNAME_LEN]);
/* The router namespace: "<prefix>-<tag>-r<vni>" (legacy "<prefix>-r<vni>"),
 * prefix being the agent's --netns, or "nubo" when prefix is NULL or "".
 * buf of INET_NS_NAME_LEN. */
const char *inet_router_ns(const char *prefix, const char *tag, uint32_t vni,
                           char buf[INET_NS_NAME_LEN]);

#endif
