/*
 * ipv4.c - IPv4 address and prefix arithmetic, MACs and the IPAM search:
 * pure functions, unit-tested in tests/unit/test_network.c.
 */
#include "network/network.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "lib/crypto.h"

int net_ip_parse(const char *s, uint32_t *out)
{
    uint32_t ip = 0;
    int parts = 0;
    if (s == NULL)
        return -1;
    const char *p = s;
    while (parts < 4) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned v = 0;
        int digits = 0;
        const char *start = p;
        while (*p >= '0' && *p <= '9' && digits < 4) {
            v = v * 10 + (unsigned)(*p - '0');
            p++;
            digits++;
        }
        if (digits > 3 || v > 255 || (digits > 1 && *start == '0'))
            return -1;
        ip = ip << 8 | v;
        parts++;
        if (parts < 4) {
            if (*p != '.')
                return -1;
            p++;
        }
    }
    if (*p != '\0')
        return -1;
    *out = ip;
    return 0;
}

void net_ip_format(uint32_t ip, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
}

static uint32_t prefix_mask(int len)
{
    return len == 0 ? 0 : 0xffffffffu << (32 - len);
}

uint32_t net_cidr_first(uint32_t net, int len)
{
    return net & prefix_mask(len);
}

uint32_t net_cidr_last(uint32_t net, int len)
{
    return (net & prefix_mask(len)) | ~prefix_mask(len);
}

int net_cidr_parse(const char *s, bool strict, const char *what, uint32_t *net, int *len,
                   struct nubo_err *err)
{
    char buf[24];
    const char *slash = s ? strchr(s, '/') : NULL;
    if (slash == NULL || (size_t)(slash - s) >= sizeof(buf) || strlen(slash + 1) > 2 ||
        slash[1] == '\0')
        goto bad;
    memcpy(buf, s, (size_t)(slash - s));
    buf[slash - s] = '\0';
    int l = 0;
    for (const char *p = slash + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            goto bad;
        l = l * 10 + (*p - '0');
    }
    if ((slash[1] == '0' && slash[2] != '\0') || l > 32)
        goto bad;
    uint32_t ip;
    if (net_ip_parse(buf, &ip) < 0)
        goto bad;
    if (strict && (ip & ~prefix_mask(l)) != 0) {
        char canon[16];
        net_ip_format(ip & prefix_mask(l), canon);
        return nubo_err_set(err, NUBO_E_INVALID, "%s '%s' has host bits set: the network is %s/%d",
                            what, s, canon, l);
    }
    *net = ip & prefix_mask(l);
    *len = l;
    return 0;
bad:
    return nubo_err_set(err, NUBO_E_INVALID,
                        "%s must be an IPv4 prefix like 10.0.0.0/24 (prefix length 0..32)", what);
}

void net_mac_random(char out[18])
{
    unsigned char b[3];
    randombytes_buf(b, sizeof(b));
    snprintf(out, 18, "fa:16:3e:%02x:%02x:%02x", b[0], b[1], b[2]);
}

void net_router_mac(const char *network_id, char out[18])
{
    char hex[CRYPTO_SHA256_HEX];
    crypto_sha256_hex(network_id, strlen(network_id), hex);
    snprintf(out, 18, "fa:16:3f:%.2s:%.2s:%.2s", hex, hex + 2, hex + 4);
}

/* True when ip is in the sorted array used (binary search). */
static bool used_has(const uint32_t *used, size_t n, uint32_t ip)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (used[mid] == ip)
            return true;
        if (used[mid] < ip)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

int net_ipam_lowest_free(const struct net_pool *pools, size_t npools, uint32_t gateway,
                         const uint32_t *used, size_t nused, uint32_t *out)
{
    bool found = false;
    uint32_t best = 0;
    for (size_t i = 0; i < npools; i++) {
        /* Within a pool the first free address is found by walking up
         * from its start; the walk stops early once past the best so far. */
        for (uint64_t a = pools[i].start; a <= pools[i].end; a++) {
            if (found && a >= best)
                break;
            if ((uint32_t)a == gateway || used_has(used, nused, (uint32_t)a))
                continue;
            best = (uint32_t)a;
            found = true;
            break;
        }
    }
    if (!found)
        return -1;
    *out = best;
    return 0;
}
