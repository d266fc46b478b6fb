/*
 * ipv4.c - the controller's own address rules: the router MAC of a network
 * and the IPAM search.  Pure functions, unit-tested in
 * tests/unit/test_network.c; parsing and formatting are lib/inet.h's.
 */
#include "network/network.h"

#include <stdio.h>
#include <string.h>

#include "lib/crypto.h"

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
