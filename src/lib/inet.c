/*
 * inet.c - see inet.h.  Pure functions (but inet_mac_random), unit-tested
 * in tests/unit/test_inet.c.
 */
#include "lib/inet.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

/* ------------------------------------------------------------------ IPv4 */

int inet_ipv4_parse(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    const char *p = s;
    if (s == NULL)
        return -1;
    for (int i = 0; i < 4; i++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned n = 0;
        int digits = 0;
        const char *start = p;
        while (*p >= '0' && *p <= '9' && digits < 4) {
            n = n * 10 + (unsigned)(*p - '0');
            p++;
            digits++;
        }
        if (digits > 3 || n > 255 || (digits > 1 && *start == '0'))
            return -1;
        v = (v << 8) | n;
        if (i < 3) {
            if (*p != '.')
                return -1;
            p++;
        }
    }
    if (*p != '\0')
        return -1;
    *out = v;
    return 0;
}

const char *inet_ipv4_format(uint32_t a, char buf[INET_IPV4_LEN])
{
    snprintf(buf, INET_IPV4_LEN, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
    return buf;
}

uint32_t inet_prefix_mask(int prefix)
{
    return prefix <= 0 ? 0 : (prefix >= 32 ? 0xffffffffu : ~((1u << (32 - prefix)) - 1));
}

/* -------------------------------------------------------------- prefixes */

/* Parses s into *addr (host bits as given) and *prefix.  0 or -1. */
static int cidr_split(const char *s, uint32_t *addr, int *prefix)
{
    char ip[INET_IPV4_LEN];
    if (s == NULL)
        return -1;
    const char *slash = strchr(s, '/');
    if (slash == NULL || (size_t)(slash - s) >= sizeof(ip))
        return -1;
    memcpy(ip, s, (size_t)(slash - s));
    ip[slash - s] = '\0';
    const char *pl = slash + 1;
    size_t n = strlen(pl);
    if (n < 1 || n > 2 || pl[0] < '0' || pl[0] > '9' || (n == 2 && (pl[1] < '0' || pl[1] > '9')) ||
        (n == 2 && pl[0] == '0'))
        return -1;
    int p = n == 1 ? pl[0] - '0' : (pl[0] - '0') * 10 + (pl[1] - '0');
    if (p > 32 || inet_ipv4_parse(ip, addr) < 0)
        return -1;
    *prefix = p;
    return 0;
}

static void cidr_fill(uint32_t addr, int prefix, struct inet_cidr *out)
{
    char a[INET_IPV4_LEN];
    out->addr = addr & inet_prefix_mask(prefix);
    out->prefix = prefix;
    snprintf(out->s, sizeof(out->s), "%s/%d", inet_ipv4_format(out->addr, a), prefix);
}

int inet_cidr_parse(const char *s, bool allow_host_bits, struct inet_cidr *out)
{
    uint32_t addr;
    int prefix;
    if (cidr_split(s, &addr, &prefix) < 0)
        return -1;
    if (!allow_host_bits && (addr & ~inet_prefix_mask(prefix)) != 0)
        return -1;
    cidr_fill(addr, prefix, out);
    return 0;
}

int inet_cidr_check(const char *s, bool strict, const char *what, struct inet_cidr *out,
                    struct nubo_err *err)
{
    uint32_t addr;
    int prefix;
    if (cidr_split(s, &addr, &prefix) < 0)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "%s must be an IPv4 prefix like 10.0.0.0/24 (prefix length 0..32)",
                            what);
    struct inet_cidr c;
    cidr_fill(addr, prefix, &c);
    if (strict && c.addr != addr)
        return nubo_err_set(err, NUBO_E_INVALID, "%s '%s' has host bits set: the network is %s",
                            what, s, c.s);
    *out = c;
    return 0;
}

uint32_t inet_cidr_first(const struct inet_cidr *c)
{
    return c->addr & inet_prefix_mask(c->prefix);
}

uint32_t inet_cidr_last(const struct inet_cidr *c)
{
    return inet_cidr_first(c) | ~inet_prefix_mask(c->prefix);
}

bool inet_cidr_contains(const struct inet_cidr *c, uint32_t addr)
{
    return (addr & inet_prefix_mask(c->prefix)) == c->addr;
}

/* ------------------------------------------------------------------- MAC */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int inet_mac_parse(const char *s, uint8_t out[6])
{
    uint8_t b[6];
    if (s == NULL || strlen(s) != INET_MAC_LEN - 1)
        return -1;
    for (int i = 0; i < 6; i++) {
        int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
            return -1;
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(out, b, sizeof(b));
    return 0;
}

void inet_mac_format(const uint8_t m[6], char out[INET_MAC_LEN])
{
    snprintf(out, INET_MAC_LEN, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
             m[5]);
}

bool inet_mac_valid(const char *s)
{
    uint8_t b[6];
    char canon[INET_MAC_LEN];
    if (inet_mac_parse(s, b) < 0)
        return false;
    inet_mac_format(b, canon);
    if (strcmp(canon, s) != 0) /* uppercase */
        return false;
    return (b[0] & 1) == 0 && strcmp(s, "00:00:00:00:00:00") != 0;
}

void inet_mac_random(const uint8_t oui[3], char out[INET_MAC_LEN])
{
    uint8_t b[6] = {oui[0], oui[1], oui[2], 0, 0, 0};
    size_t got = 3;
    while (got < sizeof(b)) {
        ssize_t r = getrandom(b + got, sizeof(b) - got, 0);
        if (r > 0)
            got += (size_t)r;
    }
    inet_mac_format(b, out);
}

/* ----------------------------------------------------------------- names */

bool inet_tag_valid(const char *tag)
{
    if (tag == NULL || strlen(tag) != INET_TAG_LEN - 1 || tag[0] != 'n')
        return false;
    for (int i = 1; i < INET_TAG_LEN - 1; i++)
        if (!((tag[i] >= 'a' && tag[i] <= 'z') || (tag[i] >= '0' && tag[i] <= '9')))
            return false;
    return true;
}

void inet_tag_derive(const char *seed, char out[INET_TAG_LEN])
{
    static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = seed; p && *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    out[0] = 'n';
    for (int i = 1; i < INET_TAG_LEN - 1; i++) {
        out[i] = digits[h % 36];
        h /= 36;
    }
    out[INET_TAG_LEN - 1] = '\0';
}

/* "<tag><kind><vni>", or the legacy "n<kind><vni>" for no tag. */
static const char *link_name(const char *tag, char kind, uint32_t vni, char buf[INET_IFNAME_LEN])
{
    snprintf(buf, INET_IFNAME_LEN, "%s%c%u", tag && tag[0] ? tag : "n", kind, vni);
    return buf;
}

const char *inet_bridge_name(const char *tag, uint32_t vni, char buf[INET_IFNAME_LEN])
{
    return link_name(tag, 'b', vni, buf);
}

const char *inet_vxlan_name(const char *tag, uint32_t vni, char buf[INET_IFNAME_LEN])
{
    return link_name(tag, 'x', vni, buf);
}

const char *inet_veth_name(const char *tag, uint32_t vni, char buf[INET_IFNAME_LEN])
{
    return link_name(tag, 'r', vni, buf);
}

const char *inet_ext_name(const char *tag, uint32_t vni, char buf[INET_IFNAME_LEN])
{
    return link_name(tag, 'e', vni, buf);
}

const char *inet_tap_name(const char *tag, const char *port_id, char buf[INET_IFNAME_LEN])
{
    bool legacy = tag == NULL || tag[0] == '\0';
    size_t j = (size_t)snprintf(buf, INET_IFNAME_LEN, "%s", legacy ? "tp" : tag);
    if (!legacy)
        buf[j++] = 't';
    size_t max = legacy ? 14 : INET_IFNAME_LEN - 1;
    for (size_t i = 0; port_id[i] && j < max; i++)
        if (port_id[i] != '-')
            buf[j++] = port_id[i];
    buf[j] = '\0';
    return buf;
}

const char *inet_router_ns(const char *prefix, const char *tag, uint32_t vni,
                           char buf[INET_NS_NAME_LEN])
{
    const char *p = prefix && prefix[0] ? prefix : "nubo";
    if (tag && tag[0])
        snprintf(buf, INET_NS_NAME_LEN, "%s-%s-r%u", p, tag, vni);
    else
        snprintf(buf, INET_NS_NAME_LEN, "%s-r%u", p, vni);
    return buf;
}
