/*
 * test_network.c - unit tests of src/network/ipv4.c: MACs and the IPAM
 * search for the lowest free address (address parsing and prefixes are
 * lib/inet.c's: tests/unit/test_inet.c).
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "lib/inet.h"
#include "network/network.h"

static uint32_t ip(const char *s)
{
    uint32_t v = 0;
    CHECK_INT_EQ(inet_ipv4_parse(s, &v), 0);
    return v;
}

static void test_macs(void)
{
    char a[18], b[18], r1[18], r2[18];
    static const uint8_t oui[3] = {0xfa, 0x16, 0x3e}; /* the ports' (port.c) */
    inet_mac_random(oui, a);
    inet_mac_random(oui, b);
    CHECK_INT_EQ(strlen(a), 17);
    CHECK(strncmp(a, "fa:16:3e:", 9) == 0);
    CHECK(strcmp(a, b) != 0); /* 1 in 16M to fail */
    net_router_mac("0f8fad5b-d9cb-469f-a165-70867728950e", r1);
    net_router_mac("0f8fad5b-d9cb-469f-a165-70867728950e", r2);
    CHECK_STR_EQ(r1, r2);
    CHECK(strncmp(r1, "fa:16:3f:", 9) == 0);
    net_router_mac("1f8fad5b-d9cb-469f-a165-70867728950e", r2);
    CHECK(strcmp(r1, r2) != 0);
}

static void test_ipam_lowest_free(void)
{
    struct net_pool pools[2] = {{ip("10.0.0.10"), ip("10.0.0.12")},
                                {ip("10.0.0.2"), ip("10.0.0.3")}};
    uint32_t used[4], out = 0;
    /* The lowest of all pools, not of the first pool. */
    CHECK_INT_EQ(net_ipam_lowest_free(pools, 2, ip("10.0.0.1"), used, 0, &out), 0);
    CHECK_INT_EQ(out, ip("10.0.0.2"));
    /* The gateway is skipped. */
    CHECK_INT_EQ(net_ipam_lowest_free(pools, 2, ip("10.0.0.2"), used, 0, &out), 0);
    CHECK_INT_EQ(out, ip("10.0.0.3"));
    used[0] = ip("10.0.0.2");
    used[1] = ip("10.0.0.3");
    used[2] = ip("10.0.0.10");
    CHECK_INT_EQ(net_ipam_lowest_free(pools, 2, 0, used, 3, &out), 0);
    CHECK_INT_EQ(out, ip("10.0.0.11"));
    used[3] = ip("10.0.0.11");
    CHECK_INT_EQ(net_ipam_lowest_free(pools, 2, ip("10.0.0.12"), used, 4, &out), -1);
    CHECK_INT_EQ(net_ipam_lowest_free(pools, 2, 0, used, 4, &out), 0);
    CHECK_INT_EQ(out, ip("10.0.0.12"));
    CHECK_INT_EQ(net_ipam_lowest_free(pools, 0, 0, used, 0, &out), -1);
    /* A pool reaching the top of the address space ends. */
    struct net_pool top = {0xfffffffeu, 0xffffffffu};
    uint32_t full[2] = {0xfffffffeu, 0xffffffffu};
    CHECK_INT_EQ(net_ipam_lowest_free(&top, 1, 0, full, 2, &out), -1);
}

CHECK_MAIN(TEST(test_macs), TEST(test_ipam_lowest_free))
