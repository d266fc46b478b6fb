/*
 * test_inet.c - unit tests of src/lib/inet.c: IPv4 parsing and formatting,
 * prefixes (parse, check with the controller's messages, arithmetic), MAC
 * parsing, formatting and validation, and the interface and namespace
 * names both the controller and the agent derive.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "lib/inet.h"

static uint32_t ip(const char *s)
{
    uint32_t v = 0;
    CHECK_INT_EQ(inet_ipv4_parse(s, &v), 0);
    return v;
}

static void test_ip_parse(void)
{
    uint32_t v;
    char out[16];
    CHECK_INT_EQ(ip("10.0.0.1"), 0x0a000001);
    CHECK_INT_EQ(ip("255.255.255.255"), 0xffffffffu);
    CHECK_INT_EQ(ip("0.0.0.0"), 0);
    inet_ipv4_format(0xc0a80101, out);
    CHECK_STR_EQ(out, "192.168.1.1");
    const char *bad[] = {"",           "1.2.3",      "1.2.3.4.5", "256.0.0.1", "1.2.3.4 ",
                         " 1.2.3.4",   "01.2.3.4",   "1..3.4",    "a.b.c.d",   "1.2.3.-4",
                         "1.2.3.4/24", "1234.1.1.1", "1.2.3.",    ".1.2.3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (!CHECK(inet_ipv4_parse(bad[i], &v) < 0))
            fprintf(stderr, "  accepted '%s'\n", bad[i]);
    CHECK(inet_ipv4_parse(NULL, &v) < 0);
}

/* Edge cases: zeros, overflow of a part, junk after, *out untouched on
 * failure, and the format of the extremes. */
static void test_ip_edges(void)
{
    uint32_t v = 0x12345678;
    CHECK_INT_EQ(ip("0.0.0.0"), 0);
    CHECK_INT_EQ(ip("1.0.0.0"), 0x01000000);
    CHECK_INT_EQ(ip("0.0.0.255"), 0xff);
    const char *bad[] = {"00.0.0.0", "0.00.0.0",         "1.2.3.04",  "1.2.3.4\n", "1.2.3.4x",
                         "1.2.3.4.", "4294967296.0.0.0", "999.1.1.1", "1.2.3.300", "1,2,3,4",
                         "+1.2.3.4", "1.2.3.4\x01",      "１.2.3.4"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (!CHECK(inet_ipv4_parse(bad[i], &v) < 0))
            fprintf(stderr, "  accepted '%s'\n", bad[i]);
    CHECK_INT_EQ(v, 0x12345678); /* untouched */
    char out[INET_IPV4_LEN];
    CHECK_STR_EQ(inet_ipv4_format(0xffffffffu, out), "255.255.255.255");
    CHECK_STR_EQ(inet_ipv4_format(0, out), "0.0.0.0");
    /* format and parse are inverses */
    CHECK_INT_EQ(ip(inet_ipv4_format(0x0a0b0c0d, out)), 0x0a0b0c0d);
}

static void test_cidr_check(void)
{
    struct nubo_err err;
    struct inet_cidr c;
    CHECK_INT_EQ(inet_cidr_check("10.0.0.0/24", true, "cidr", &c, &err), 0);
    CHECK_INT_EQ(c.addr, 0x0a000000);
    CHECK_INT_EQ(c.prefix, 24);
    CHECK_INT_EQ(inet_cidr_first(&c), 0x0a000000);
    CHECK_INT_EQ(inet_cidr_last(&c), 0x0a0000ff);
    CHECK_INT_EQ(inet_cidr_check("0.0.0.0/0", true, "cidr", &c, &err), 0);
    CHECK_INT_EQ(inet_cidr_last(&c), 0xffffffffu);
    CHECK_INT_EQ(inet_cidr_check("10.1.2.3/32", true, "cidr", &c, &err), 0);
    CHECK_INT_EQ(inet_cidr_first(&c), inet_cidr_last(&c));
    /* Host bits: refused when strict, with the canonical form. */
    nubo_err_clear(&err);
    CHECK_INT_EQ(inet_cidr_check("10.0.0.1/24", true, "cidr", &c, &err), -1);
    CHECK_INT_EQ(err.code, NUBO_E_INVALID);
    CHECK_STR_HAS(err.msg, "10.0.0.0/24");
    CHECK_INT_EQ(inet_cidr_check("10.0.0.1/24", false, "cidr", &c, &err), 0);
    CHECK_INT_EQ(c.addr, 0x0a000000);
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
        if (!CHECK_INT_EQ(inet_cidr_check(bad[i], true, "cidr", &c, &err), -1))
            fprintf(stderr, "  accepted '%s'\n", bad[i]);
        CHECK_STR_HAS(err.msg, "cidr");
    }
    CHECK_INT_EQ(inet_cidr_check(NULL, true, "cidr", &c, &err), -1);
}

static void test_host_addresses(void)
{
    uint32_t a;
    CHECK(inet_ipv4_parse("0.0.0.0", &a) == 0 && a == 0);
    CHECK(inet_ipv4_parse("255.255.255.255", &a) == 0 && a == 0xffffffffu);
    CHECK(inet_ipv4_parse("169.254.169.254", &a) == 0 && a == 0xa9fea9feu);
    CHECK(inet_ipv4_parse("1.2.3", &a) < 0);
    CHECK(inet_ipv4_parse("1.2.3.4.5", &a) < 0);
    CHECK(inet_ipv4_parse("01.2.3.4", &a) < 0);
    CHECK(inet_ipv4_parse("1.2.3.256", &a) < 0);
    CHECK(inet_ipv4_parse("1.2.3.4 ", &a) < 0);
    CHECK(inet_ipv4_parse("", &a) < 0);
    CHECK(inet_ipv4_parse("1..3.4", &a) < 0);
    char buf[INET_IPV4_LEN];
    CHECK_STR_EQ(inet_ipv4_format(0x0a000105, buf), "10.0.1.5");
    struct inet_cidr c;
    CHECK(inet_cidr_parse("10.0.0.0/8", false, &c) == 0 && c.prefix == 8);
    CHECK_STR_EQ(c.s, "10.0.0.0/8");
    CHECK(inet_cidr_contains(&c, 0x0affffff));
    CHECK(!inet_cidr_contains(&c, 0x0b000000));
    CHECK(inet_cidr_parse("0.0.0.0/0", false, &c) == 0 && inet_cidr_contains(&c, 0x01020304));
    CHECK(inet_cidr_parse("10.0.0.5/24", false, &c) < 0);
    CHECK(inet_cidr_parse("10.0.0.5/24", true, &c) == 0 && c.addr == 0x0a000000);
    CHECK(inet_cidr_parse("10.0.0.0/024", false, &c) < 0);
    CHECK(inet_cidr_parse("10.0.0.0", false, &c) < 0);
    CHECK(inet_cidr_parse("10.0.0.0/", false, &c) < 0);
    CHECK_INT_EQ(inet_prefix_mask(24), 0xffffff00u);
    CHECK_INT_EQ(inet_prefix_mask(0), 0);
    CHECK_INT_EQ(inet_prefix_mask(32), 0xffffffffu);
    CHECK(inet_mac_valid("fa:16:3e:12:34:56"));
    CHECK(!inet_mac_valid("fb:16:3e:12:34:56")); /* multicast bit */
    CHECK(!inet_mac_valid("fa:16:3e:12:34"));
    CHECK(!inet_mac_valid("00:00:00:00:00:00"));
}

/* /0 and /32, the canonical text, host bits, trailing junk. */
static void test_cidr_edges(void)
{
    struct inet_cidr c;
    CHECK_INT_EQ(inet_cidr_parse("0.0.0.0/0", false, &c), 0);
    CHECK_INT_EQ(c.prefix, 0);
    CHECK_INT_EQ(inet_cidr_first(&c), 0);
    CHECK_INT_EQ(inet_cidr_last(&c), 0xffffffffu);
    CHECK(inet_cidr_contains(&c, 0xffffffffu));
    CHECK_INT_EQ(inet_cidr_parse("1.2.3.4/0", false, &c), -1); /* host bits of /0 */
    CHECK_INT_EQ(inet_cidr_parse("1.2.3.4/0", true, &c), 0);
    CHECK_STR_EQ(c.s, "0.0.0.0/0");
    CHECK_INT_EQ(inet_cidr_parse("1.2.3.4/32", false, &c), 0);
    CHECK_STR_EQ(c.s, "1.2.3.4/32");
    CHECK(inet_cidr_contains(&c, 0x01020304));
    CHECK(!inet_cidr_contains(&c, 0x01020305));
    CHECK_INT_EQ(inet_cidr_parse("10.9.8.7/20", true, &c), 0);
    CHECK_STR_EQ(c.s, "10.9.0.0/20");
    CHECK_INT_EQ(inet_cidr_last(&c), 0x0a090fff);
    const char *bad[] = {
        "10.0.0.0/8 ", "10.0.0.0/8x", " 10.0.0.0/8", "10.0.0.0/+8", "10.0.0.0/100",
        "10.0.0.0/00", "010.0.0.0/8", "10.0.0.0//8", "10.0.0.0/ 8", "255.255.255.255.255/32",
        NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (!CHECK_INT_EQ(inet_cidr_parse(bad[i], true, &c), -1))
            fprintf(stderr, "  accepted '%s'\n", bad[i] ? bad[i] : "(null)");
    CHECK_INT_EQ(inet_prefix_mask(-1), 0);
    CHECK_INT_EQ(inet_prefix_mask(33), 0xffffffffu);
    CHECK_INT_EQ(inet_prefix_mask(1), 0x80000000u);
    CHECK_INT_EQ(inet_prefix_mask(31), 0xfffffffeu);
}

static void test_mac(void)
{
    uint8_t b[6];
    char out[INET_MAC_LEN];
    CHECK_INT_EQ(inet_mac_parse("52:54:00:AB:cd:0F", b), 0);
    CHECK(b[0] == 0x52 && b[3] == 0xab && b[4] == 0xcd && b[5] == 0x0f);
    inet_mac_format(b, out);
    CHECK_STR_EQ(out, "52:54:00:ab:cd:0f");
    const char *bad[] = {"",
                         "52:54:00:ab:cd",
                         "52:54:00:ab:cd:0f:",
                         "52:54:00:ab:cd:0g",
                         "52-54-00-ab-cd-0f",
                         "525400abcd0f",
                         "52:54:00:ab:cd:0 ",
                         " 52:54:00:ab:cd:0",
                         "52:54:00:ab:cd:0f0",
                         NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (!CHECK_INT_EQ(inet_mac_parse(bad[i], b), -1))
            fprintf(stderr, "  accepted '%s'\n", bad[i] ? bad[i] : "(null)");
    /* valid: lowercase, unicast, not zero */
    CHECK(inet_mac_valid("52:54:00:ab:cd:0f"));
    CHECK(!inet_mac_valid("52:54:00:AB:cd:0f"));
    CHECK(!inet_mac_valid("01:00:5e:00:00:01")); /* multicast */
    CHECK(!inet_mac_valid("ff:ff:ff:ff:ff:ff")); /* broadcast */
    CHECK(!inet_mac_valid(NULL));
    CHECK(inet_mac_valid("02:00:00:00:00:00"));
    /* random: the prefix kept, unicast, two draws differ */
    static const uint8_t oui[3] = {0x52, 0x54, 0x00};
    char r1[INET_MAC_LEN], r2[INET_MAC_LEN];
    inet_mac_random(oui, r1);
    inet_mac_random(oui, r2);
    CHECK(strncmp(r1, "52:54:00:", 9) == 0);
    CHECK(inet_mac_valid(r1));
    CHECK(strcmp(r1, r2) != 0); /* 1 in 16M to fail */
}

static void test_names(void)
{
    char b[INET_IFNAME_LEN], ns[INET_NS_NAME_LEN];
    /* tagged: tag + kind + decimal VNI, taps tag + "t" + 10 hex digits */
    CHECK_STR_EQ(inet_bridge_name("nk3a", 16777215, b), "nk3ab16777215");
    CHECK(strlen(b) < 16);
    CHECK_STR_EQ(inet_vxlan_name("nk3a", 1001, b), "nk3ax1001");
    CHECK_STR_EQ(inet_veth_name("nk3a", 7, b), "nk3ar7");
    CHECK_STR_EQ(inet_ext_name("nk3a", 7, b), "nk3ae7");
    CHECK_STR_EQ(inet_tap_name("nk3a", "3f2a9c1b-77e4-4d0a-9f00-123456789abc", b),
                 "nk3at3f2a9c1b77");
    CHECK_INT_EQ(strlen(b), 15);
    CHECK_STR_EQ(inet_router_ns(NULL, "nk3a", 1001, ns), "nubo-nk3a-r1001");
    CHECK_STR_EQ(inet_router_ns("h1-ab12", "nk3a", 1001, ns), "h1-ab12-nk3a-r1001");
    CHECK_STR_EQ(inet_vxlan_name("nzzz", 16777215, b), "nzzzx16777215");
    /* legacy (no tag): the names before tags, for migration */
    CHECK_STR_EQ(inet_bridge_name("", 16777215, b), "nb16777215");
    CHECK_STR_EQ(inet_vxlan_name(NULL, 1001, b), "nx1001");
    CHECK_STR_EQ(inet_veth_name("", 7, b), "nr7");
    CHECK_STR_EQ(inet_ext_name("", 7, b), "ne7");
    CHECK_STR_EQ(inet_tap_name("", "3f2a9c1b-77e4-4d0a-9f00-123456789abc", b), "tp3f2a9c1b77e4");
    CHECK_INT_EQ(strlen(b), 14);
    CHECK_STR_EQ(inet_router_ns(NULL, "", 1001, ns), "nubo-r1001");
    CHECK_STR_EQ(inet_router_ns("", NULL, 5, ns), "nubo-r5");
    CHECK_STR_EQ(inet_router_ns("h1-ab12", "", 1001, ns), "h1-ab12-r1001");
    /* a short id makes a short tap name */
    CHECK_STR_EQ(inet_tap_name("", "ab-c", b), "tpabc");
    CHECK_STR_EQ(inet_tap_name("nk3a", "ab-c", b), "nk3atabc");
}

static void test_tags(void)
{
    char t[INET_TAG_LEN], u[INET_TAG_LEN];
    inet_tag_derive("/var/lib/nubo/host", t);
    inet_tag_derive("/var/lib/nubo/host", u);
    CHECK_STR_EQ(t, u); /* stable */
    CHECK(inet_tag_valid(t));
    inet_tag_derive("/var/lib/nubo/host2", u);
    CHECK(inet_tag_valid(u));
    CHECK(strcmp(t, u) != 0);
    inet_tag_derive("", u);
    CHECK(inet_tag_valid(u));
    CHECK(inet_tag_valid("n000"));
    CHECK(inet_tag_valid("nzz9"));
    CHECK(!inet_tag_valid(NULL));
    CHECK(!inet_tag_valid(""));
    CHECK(!inet_tag_valid("nk3"));
    CHECK(!inet_tag_valid("nk3ab"));
    CHECK(!inet_tag_valid("xk3a"));
    CHECK(!inet_tag_valid("nK3a"));
    CHECK(!inet_tag_valid("n-3a"));
}

CHECK_MAIN(TEST(test_ip_parse), TEST(test_ip_edges), TEST(test_cidr_check),
           TEST(test_host_addresses), TEST(test_cidr_edges), TEST(test_mac), TEST(test_names),
           TEST(test_tags))
