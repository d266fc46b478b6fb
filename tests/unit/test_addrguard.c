/*
 * test_addrguard.c - unit tests of src/lib/addrguard.c: which addresses a
 * webhook may reach, in every spelling the attacker used, and the
 * operator's allow-list.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "check.h"
#include "lib/addrguard.h"

/* addrguard_allows() on the address text a (IPv4 or IPv6). */
static bool allows(const struct addrguard *g, const char *a)
{
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
    memset(&in4, 0, sizeof(in4));
    memset(&in6, 0, sizeof(in6));
    if (inet_pton(AF_INET, a, &in4.sin_addr) == 1) {
        in4.sin_family = AF_INET;
        return addrguard_allows(g, (const struct sockaddr *)&in4);
    }
    if (!CHECK(inet_pton(AF_INET6, a, &in6.sin6_addr) == 1))
        return true;
    in6.sin6_family = AF_INET6;
    return addrguard_allows(g, (const struct sockaddr *)&in6);
}

static bool literal_ok(const struct addrguard *g, const char *host)
{
    struct nubo_err err;
    nubo_err_clear(&err);
    if (addrguard_check_literal(g, host, "'webhook_url'", &err) == 0)
        return true;
    CHECK_INT_EQ(err.code, NUBO_E_INVALID);
    CHECK_STR_HAS(err.msg, "--webhook-allow");
    return false;
}

static void test_public_addresses_pass(void)
{
    static const char *const ok[] = {"8.8.8.8",      "1.1.1.1",     "93.184.216.34",
                                     "100.63.255.1", "100.128.0.1", "172.15.255.255",
                                     "172.32.0.1",   "192.167.1.1", "223.255.255.255",
                                     "2606:4700::1", "2a00:1450::1"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (!CHECK(allows(NULL, ok[i])))
            fprintf(stderr, "    %s\n", ok[i]);
}

static void test_non_public_refused(void)
{
    static const char *const bad[] = {"0.0.0.0",
                                      "0.1.2.3",
                                      "10.0.0.1",
                                      "100.64.0.1",
                                      "127.0.0.1",
                                      "127.255.255.254",
                                      "169.254.169.254",
                                      "172.16.0.1",
                                      "172.31.255.255",
                                      "192.0.0.1",
                                      "192.0.2.1",
                                      "192.168.1.1",
                                      "198.18.0.1",
                                      "198.51.100.1",
                                      "203.0.113.1",
                                      "224.0.0.1",
                                      "239.255.255.250",
                                      "240.0.0.1",
                                      "255.255.255.255",
                                      "::",
                                      "::1",
                                      "::127.0.0.1",
                                      "::ffff:127.0.0.1",
                                      "::ffff:0.0.0.0",
                                      "::ffff:10.1.2.3",
                                      "64:ff9b::a00:1",
                                      "2002:7f00:1::",
                                      "2002:c0a8:101::1",
                                      "fe80::1",
                                      "fc00::1",
                                      "fd12:3456::1",
                                      "fec0::1",
                                      "ff02::1",
                                      "2001:db8::1",
                                      "2001:0:4136::1",
                                      "100::1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (!CHECK(!allows(NULL, bad[i])))
            fprintf(stderr, "    %s\n", bad[i]);
    /* NAT64 and 6to4 of a public address are public */
    CHECK(allows(NULL, "64:ff9b::808:808"));
    CHECK(allows(NULL, "2002:808:808::1"));
}

static void test_literal_spellings(void)
{
    /* every spelling that reached the loopback before */
    static const char *const bad[] = {"127.0.0.1",
                                      "2130706433",
                                      "0x7f000001",
                                      "127.1",
                                      "0177.0.0.1",
                                      "[::ffff:127.0.0.1]",
                                      "[::ffff:0.0.0.0]",
                                      "[::1]",
                                      "0",
                                      "[::ffff:7f00:0001]",
                                      "10.1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (!CHECK(!literal_ok(NULL, bad[i])))
            fprintf(stderr, "    %s\n", bad[i]);
    CHECK(literal_ok(NULL, "hooks.example.com")); /* names: judged at connect */
    CHECK(literal_ok(NULL, "localhost"));
    CHECK(literal_ok(NULL, "8.8.8.8"));
    CHECK(literal_ok(NULL, "[2606:4700::1]"));
}

static void test_allow_list(void)
{
    struct addrguard g;
    struct nubo_err err;
    if (!CHECK_INT_EQ(addrguard_parse(&g, "127.0.0.0/8,fd00::/8,10.9.8.7", &err), 0))
        return;
    CHECK_INT_EQ(g.n, 3);
    CHECK(allows(&g, "127.0.0.1"));
    CHECK(allows(&g, "::ffff:127.0.0.2")); /* mapped: the same address */
    CHECK(allows(&g, "fd12::1"));
    CHECK(allows(&g, "10.9.8.7"));
    CHECK(!allows(&g, "10.9.8.6"));
    CHECK(!allows(&g, "::1"));
    CHECK(!allows(&g, "192.168.0.1"));
    CHECK(literal_ok(&g, "127.1"));
    CHECK(!literal_ok(&g, "[::1]"));
    CHECK_INT_EQ(addrguard_parse(&g, "", &err), 0);
    CHECK_INT_EQ(g.n, 0);
    static const char *const bad[] = {"127.0.0.0/33",     "10.0.0.0/",    "nope", "fd00::/129",
                                      "1.2.3.4,,5.6.7.8", "127.0.0.1/-1", "/8"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        nubo_err_clear(&err);
        if (!CHECK_INT_EQ(addrguard_parse(&g, bad[i], &err), -1))
            fprintf(stderr, "    %s\n", bad[i]);
        CHECK_STR_HAS(err.msg, "allow-list");
    }
}

CHECK_MAIN(TEST(test_public_addresses_pass), TEST(test_non_public_refused),
           TEST(test_literal_spellings), TEST(test_allow_list))
