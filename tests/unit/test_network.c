/*
 * test_network.c - unit tests of src/network/ipv4.c: IPv4 parsing and
 * formatting, prefix arithmetic and CIDR validation, MACs, and the IPAM
 * search for the lowest free address.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "network/network.h"

static uint32_t ip(const char *s)
{
    uint32_t v = 0;
    CHECK_INT_EQ(net_ip_parse(s, &v), 0);
    return v;
}

static void test_ip_parse(void)
{
    uint32_t v;
    char out[16];
    CHECK_INT_EQ(ip("10.0.0.1"), 0x0a000001);
    CHECK_INT_EQ(ip("255.255.255.255"), 0xffffffffu);
    CHECK_INT_EQ(ip("0.0.0.0"), 0);
    net_ip_format(0xc0a80101, out);
    CHECK_STR_EQ(out, "192.168.1.1");
    const char *bad[] = {"",           "1.2.3",      "1.2.3.4.5", "256.0.0.1", "1.2.3.4 ",
                         " 1.2.3.4",   "01.2.3.4",   "1..3.4",    "a.b.c.d",   "1.2.3.-4",
                         "1.2.3.4/24", "1234.1.1.1", "1.2.3.",    ".1.2.3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (!CHECK(net_ip_parse(bad[i], &v) < 0))
            fprintf(stderr, "  accepted '%s'\n", bad[i]);
    CHECK(net_ip_parse(NULL, &v) < 0);
}

static void test_cidr(void)
{
    struct nubo_err err;
    uint32_t net;
    int len;
    CHECK_INT_EQ(net_cidr_parse("10.0.0.0/24", true, "cidr", &net, &len, &err), 0);
    CHECK_INT_EQ(net, 0x0a000000);
    CHECK_INT_EQ(len, 24);
    CHECK_INT_EQ(net_cidr_first(net, len), 0x0a000000);
    CHECK_INT_EQ(net_cidr_last(net, len), 0x0a0000ff);
    CHECK_INT_EQ(net_cidr_parse("0.0.0.0/0", true, "cidr", &net, &len, &err), 0);
    CHECK_INT_EQ(net_cidr_last(net, len), 0xffffffffu);
    CHECK_INT_EQ(net_cidr_parse("10.1.2.3/32", true, "cidr", &net, &len, &err), 0);
    CHECK_INT_EQ(net_cidr_first(net, 32), net_cidr_last(net, 32));
    /* Host bits: refused when strict, with the canonical form. */
    nubo_err_clear(&err);
    CHECK_INT_EQ(net_cidr_parse("10.0.0.1/24", true, "cidr", &net, &len, &err), -1);
    CHECK_INT_EQ(err.code, NUBO_E_INVALID);
    CHECK_STR_HAS(err.msg, "10.0.0.0/24");
    CHECK_INT_EQ(net_cidr_parse("10.0.0.1/24", false, "cidr", &net, &len, &err), 0);
    CHECK_INT_EQ(net, 0x0a000000);
    const char *bad[] = {"10.0.0.0/33",
                         "10.0.0.0/",
                         "10.0.0.0",
                         "abc",
                         "10.0.0.0/-1",
                         "10.0.0.0/024",
                         "10.0.0.0/2a",
                         "10.0.0/8",
                         "/8",
                         "10.0.0.0/8/8",
                         ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        nubo_err_clear(&err);
        if (!CHECK_INT_EQ(net_cidr_parse(bad[i], true, "cidr", &net, &len, &err), -1))
            fprintf(stderr, "  accepted '%s'\n", bad[i]);
        CHECK_STR_HAS(err.msg, "cidr");
    }
    CHECK_INT_EQ(net_cidr_parse(NULL, true, "cidr", &net, &len, &err), -1);
}

static void test_macs(void)
{
    char a[18], b[18], r1[18], r2[18];
    net_mac_random(a);
    net_mac_random(b);
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

CHECK_MAIN(TEST(test_ip_parse), TEST(test_cidr), TEST(test_macs), TEST(test_ipam_lowest_free))
