/*
 * addrguard.h - which addresses a request that nubod makes on a tenant's
 * behalf (an alarm's webhook) may reach.
 *
 * A tenant names the URL; nubod connects from inside the cloud.  Without a
 * guard that is server-side request forgery: the controller's own loopback
 * API, the metadata service, the hosts' underlay, anything on a private
 * network.  So only public unicast addresses are reachable, unless the
 * operator allow-lists ranges (nubod --webhook-allow CIDR,...).  Refused:
 * IPv4 0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.0.0/24,
 * 192.0.2/24, 192.168/16, 198.18/15, 198.51.100/24, 203.0.113/24, 224/4,
 * 240/4; IPv6 ::, ::1, the IPv4-compatible ::/96, 100::/64, 2001::/32
 * (Teredo), 2001:db8::/32, fc00::/7, fe80::/10, fec0::/10, ff00::/8.
 * IPv4 inside IPv6 (::ffff:0:0/96 mapped, 64:ff9b::/96 NAT64, 2002::/16
 * 6to4) is judged as the IPv4 address it carries.
 *
 * The check belongs where the connection is made, on the address actually
 * connected to (libcurl's open-socket callback), so that a name that
 * resolves differently later (DNS rebinding) cannot slip past; literal
 * addresses are also refused up front, at validation, in every spelling
 * inet_aton() takes (127.1, 2130706433, 0x7f000001).
 */
#ifndef NUBO_LIB_ADDRGUARD_H
#define NUBO_LIB_ADDRGUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/err.h"

#define ADDRGUARD_MAX_RANGES 16

/* Ranges the operator allows in addition to public addresses. */
struct addrguard {
    int n;
    struct {
        uint8_t addr[16]; /* IPv4 as ::ffff:a.b.c.d */
        int prefix;       /* 0..128, on the 16-byte form */
    } r[ADDRGUARD_MAX_RANGES];
};

/* Parses a comma-separated list of CIDRs ("127.0.0.0/8,fd00::/8"; a bare
 * address is a /32 or /128) into g (emptied first; "" or NULL allows
 * nothing more).  Returns 0, or -1 with err naming what is wrong. */
int addrguard_parse(struct addrguard *g, const char *list, struct nubo_err *err);

/* True when sa (AF_INET or AF_INET6) may be connected to: a public unicast
 * address, or one in g's ranges (g may be NULL). */
bool addrguard_allows(const struct addrguard *g, const struct sockaddr *sa);

/* When host (a URL's host part, IPv6 in brackets or not) is a literal
 * address that g does not allow: -1 with err (NUBO_E_INVALID) saying so,
 * for `what` ("'webhook_url'").  Names and allowed literals: 0. */
int addrguard_check_literal(const struct addrguard *g, const char *host, const char *what,
                            struct nubo_err *err);

#endif
