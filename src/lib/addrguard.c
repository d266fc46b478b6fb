/*
 * addrguard.c - the public-address test and the operator's allow-list
 * (addrguard.h).  Every address is handled in its 16-byte IPv6 form, IPv4
 * as ::ffff:a.b.c.d, so one prefix match serves both families.
 */
#include "lib/addrguard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct range {
    const char *cidr;
    bool embeds_v4; /* judge the IPv4 address it carries instead */
};

/* Ranges that are never public, in the 16-byte form's notation. */
static const struct range special[] = {
    {"::ffff:0.0.0.0/104", false},
    {"::ffff:10.0.0.0/104", false},
    {"::ffff:100.64.0.0/106", false},
    {"::ffff:127.0.0.0/104", false},
    {"::ffff:169.254.0.0/112", false},
    {"::ffff:172.16.0.0/108", false},
    {"::ffff:192.0.0.0/120", false},
    {"::ffff:192.0.2.0/120", false},
    {"::ffff:192.168.0.0/112", false},
    {"::ffff:198.18.0.0/111", false},
    {"::ffff:198.51.100.0/120", false},
    {"::ffff:203.0.113.0/120", false},
    {"::ffff:224.0.0.0/100", false},
    {"::ffff:240.0.0.0/100", false},
    {"::/96", false}, /* ::, ::1 and IPv4-compatible */
    {"100::/64", false},
    {"2001::/32", false},
    {"2001:db8::/32", false},
    {"fc00::/7", false},
    {"fe80::/10", false},
    {"fec0::/10", false},
    {"ff00::/8", false},
    {"64:ff9b::/96", true},
    {"2002::/16", true},
};

static bool in_prefix(const uint8_t a[16], const uint8_t net[16], int prefix)
{
    int full = prefix / 8, rest = prefix % 8;
    if (memcmp(a, net, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[full] & mask) == (net[full] & mask);
}

static void v4_mapped(uint8_t out[16], const uint8_t v4[4])
{
    memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    memcpy(out + 12, v4, 4);
}

/* Parses "ADDR[/LEN]" into the 16-byte form; IPv4 prefixes become +96. */
static int parse_cidr(const char *s, uint8_t out[16], int *prefix)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    int max;
    uint8_t v4[4];
    if (inet_pton(AF_INET, buf, v4) == 1) {
        v4_mapped(out, v4);
        max = 32;
    } else if (inet_pton(AF_INET6, buf, out) == 1) {
        max = 128;
    } else {
        return -1;
    }
    int len = max;
    if (slash) {
        char *end;
        long l = strtol(slash + 1, &end, 10);
        if (slash[1] == 0 || *end != 0 || l < 0 || l > max)
            return -1;
        len = (int)l;
    }
    *prefix = len + (max == 32 ? 96 : 0);
    return 0;
}

int addrguard_parse(struct addrguard *g, const char *list, struct nubo_err *err)
{
    g->n = 0;
    if (list == NULL)
        return 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        char item[64];
        if (n == 0 || n >= sizeof(item))
            return nubo_err_set(err, NUBO_E_INVALID,
                                "allow-list: '%.*s' is not an address range such as "
                                "10.1.0.0/16 or fd00::/8",
                                (int)(n > 60 ? 60 : n), p);
        memcpy(item, p, n);
        item[n] = 0;
        if (g->n == ADDRGUARD_MAX_RANGES)
            return nubo_err_set(err, NUBO_E_INVALID, "allow-list: at most %d ranges",
                                ADDRGUARD_MAX_RANGES);
        if (parse_cidr(item, g->r[g->n].addr, &g->r[g->n].prefix) < 0)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "allow-list: '%s' is not an address range such as "
                                "10.1.0.0/16 or fd00::/8",
                                item);
        g->n++;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* True when the 16-byte address a is public unicast. */
static bool is_public(const uint8_t a[16], int depth)
{
    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++) {
        uint8_t net[16];
        int prefix;
        if (parse_cidr(special[i].cidr, net, &prefix) < 0 || !in_prefix(a, net, prefix))
            continue;
        if (!special[i].embeds_v4 || depth > 0)
            return false;
        uint8_t inner[16];
        /* NAT64 carries the IPv4 address in its last 4 bytes, 6to4 in bytes 2..5 */
        v4_mapped(inner, a[0] == 0x20 ? a + 2 : a + 12);
        return is_public(inner, depth + 1);
    }
    return true;
}

static bool allowed16(const struct addrguard *g, const uint8_t a[16])
{
    for (int i = 0; g && i < g->n; i++)
        if (in_prefix(a, g->r[i].addr, g->r[i].prefix))
            return true;
    return is_public(a, 0);
}

bool addrguard_allows(const struct addrguard *g, const struct sockaddr *sa)
{
    uint8_t a[16];
    if (sa->sa_family == AF_INET)
        v4_mapped(a, (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr);
    else if (sa->sa_family == AF_INET6)
        memcpy(a, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
    else
        return false;
    return allowed16(g, a);
}

int addrguard_check_literal(const struct addrguard *g, const char *host, const char *what,
                            struct nubo_err *err)
{
    char buf[64];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
    }
    if (n >= sizeof(buf))
        return 0;
    memcpy(buf, host, n);
    buf[n] = 0;
    uint8_t a[16];
    struct in_addr v4;
    if (inet_pton(AF_INET6, buf, a) != 1) {
        if (inet_aton(buf, &v4) == 0) /* every IPv4 spelling: 127.1, 0x7f000001 ... */
            return 0;
        v4_mapped(a, (const uint8_t *)&v4);
    }
    if (allowed16(g, a))
        return 0;
    return nubo_err_set(err, NUBO_E_INVALID,
                        "%s points to %s, a loopback, private, link-local or otherwise "
                        "non-public address; nubod only delivers to public addresses unless its "
                        "operator allows the range (nubod --webhook-allow)",
                        what, buf);
}
