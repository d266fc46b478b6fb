/*
 * test_firewall.c - unit tests of src/host/net/firewall.c: the nft scripts
 * rendered from a network document (tables replaced whole, one chain pair
 * per filtered port, each rule kind, remote-group sets, NAT) and the refusal
 * of values that must never reach a script.  Enforcement with real nftables
 * is tested in tests/e2e/test_firewall.py.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "host/net/net_int.h"
#include "lib/util.h"

/* The firewall of an agent tagged "ntst", zones assigned by the renderer. */
static const struct fw_env ENV = {.netns = NULL, .tag = "ntst", .zones = NULL};

/* Overwrites a fixed-size field of the parsed document. */
#define SET(field, value) str_copy((field), sizeof(field), (value))

#define NET1 "11111111-1111-4111-8111-111111111111"
#define SUB1 "22222222-2222-4222-8222-222222222222"
#define NET2 "12121212-1212-4121-8121-121212121212"
#define SUB2 "23232323-2323-4232-8232-232323232323"
#define PORT1 "33333333-3333-4333-8333-333333333333"
#define PORT2 "77777777-7777-4777-8777-777777777777"
#define PORT3 "99999999-9999-4999-8999-999999999999"
#define PORT4 "abababab-abab-4bab-8bab-abababababab"
#define INST1 "44444444-4444-4444-8444-444444444444"
#define SGDEF "55555555-5555-4555-8555-555555555555"
#define SGWEB "66666666-6666-4666-8666-666666666666"
#define EXT1 "88888888-8888-4888-8888-888888888888"

#define PORT(id, net, sub, mac, ip, psec, sgs, fip)                                                \
    "{\"id\": \"" id "\", \"network_id\": \"" net "\", \"subnet_id\": \"" sub "\","                \
    " \"vm\": \"nubo-" INST1 "\", \"instance_id\": \"" INST1 "\", \"mac\": \"" mac "\","           \
    " \"ip\": \"" ip "\", \"hostname\": \"h\", \"port_security\": " psec ","                       \
    " \"security_groups\": [" sgs "], \"floating_ip\": " fip "}"

#define RULE(id, dir, proto, pmin, pmax, cidr, group)                                              \
    "{\"id\": \"" id "\", \"direction\": \"" dir "\", \"protocol\": \"" proto "\","                \
    " \"port_min\": " pmin ", \"port_max\": " pmax ", \"remote_cidr\": " cidr ","                  \
    " \"remote_group\": " group "}"

static const char *doc_text =
    "{\"generation\": \"g1\","
    " \"networks\": ["
    "  {\"id\": \"" NET1 "\", \"vni\": 1001, \"mtu\": 1450, \"router_mac\": \"fa:16:3e:00:00:01\","
    "   \"domain\": null, \"subnets\": [{\"id\": \"" SUB1 "\", \"cidr\": \"10.0.0.0/24\","
    "   \"gateway\": \"10.0.0.1\", \"dns_servers\": []}], \"peers\": [\"10.99.0.2\"],"
    "   \"dns_records\": []},"
    "  {\"id\": \"" NET2 "\", \"vni\": 70000, \"mtu\": 1450, \"router_mac\": \"fa:16:3e:00:00:02\","
    "   \"domain\": null, \"subnets\": [{\"id\": \"" SUB2 "\", \"cidr\": \"10.0.0.0/24\","
    "   \"gateway\": \"10.0.0.1\", \"dns_servers\": []}], \"peers\": [], \"dns_records\": []}],"
    " \"ports\": [" PORT(PORT1, NET1, SUB1, "fa:16:3e:00:00:11", "10.0.0.5", "true", "\"" SGDEF "\", \"" SGWEB "\"", "\"203.0.113.10\"") "," PORT(
        PORT2, NET1, SUB1, "fa:16:3e:00:00:12", "10.0.0.6", "true", "\"" SGDEF "\"",
        "null") "," PORT(PORT3, NET1, SUB1, "fa:16:3e:00:00:13", "10.0.0.7", "false", "",
                         "null") "," PORT(PORT4, NET2, SUB2, "fa:16:3e:00:00:14", "10.0.0.5",
                                          "true", "\"" SGWEB "\"",
                                          "\"203.0.113.11\"") "],"
                                                              " \"security_groups\": ["
                                                              "  {\"id\": \"" SGDEF
                                                              "\", \"rules\": [" RULE(
                                                                  "a0000000-0000-4000-8000-"
                                                                  "000000000001",
                                                                  "egress", "any", "null", "null",
                                                                  "null",
                                                                  "null") "," RULE("a0000000-0000-"
                                                                                   "4000-8000-"
                                                                                   "000000000002",
                                                                                   "ingress", "any",
                                                                                   "null", "null",
                                                                                   "null",
                                                                                   "\"" SGDEF
                                                                                   "\"") "]},"
                                                                                         "  "
                                                                                         "{\"id\": "
                                                                                         "\"" SGWEB
                                                                                         "\", "
                                                                                         "\"rules\""
                                                                                         ": [" RULE(
                                                                                             "b0000"
                                                                                             "000-"
                                                                                             "0000-"
                                                                                             "4000-"
                                                                                             "8000-"
                                                                                             "00000"
                                                                                             "00000"
                                                                                             "01",
                                                                                             "ingre"
                                                                                             "ss",
                                                                                             "tcp",
                                                                                             "8080",
                                                                                             "8080",
                                                                                             "\"10."
                                                                                             "1.0."
                                                                                             "0/"
                                                                                             "16\"",
                                                                                             "null") "," RULE("b0000000-0000-4000-8000-000000000002",
                                                                                                              "ingress",
                                                                                                              "udp",
                                                                                                              "53",
                                                                                                              "54",
                                                                                                              "null",
                                                                                                              "null") "," RULE("b0000000-0000-4000-8000-000000000003",
                                                                                                                               "ingress",
                                                                                                                               "icmp",
                                                                                                                               "null",
                                                                                                                               "null",
                                                                                                                               "\"0.0.0.0/0\"",
                                                                                                                               "null") "," RULE("b0000000-0000-4000-8000-000000000004",
                                                                                                                                                "egress",
                                                                                                                                                "tcp",
                                                                                                                                                "null",
                                                                                                                                                "null",
                                                                                                                                                "\"192.168.0.0/16\"",
                                                                                                                                                "null") "]}],"
                                                                                                                                                        " \"group_members\": {\"" SGDEF
                                                                                                                                                        "\": [\"10.0.0.6\", \"10.0.0.5\", \"10.0.0.6\"]},"
                                                                                                                                                        " \"external\": {\"network_id\": \"" EXT1
                                                                                                                                                        "\", \"cidr\": \"203.0.113.0/24\","
                                                                                                                                                        "                \"gateway\": \"203.0.113.1\"}}";

/* Parses doc_text into doc; false (and a failed check) when it does not parse. */
static bool load(struct net_doc *doc)
{
    json_error_t je;
    struct nubo_err err;
    json_t *o = json_loads(doc_text, 0, &je);
    if (!CHECK(o != NULL)) {
        fprintf(stderr, "bad test JSON: %s (line %d col %d)\n", je.text, je.line, je.column);
        return false;
    }
    nubo_err_clear(&err);
    int rc = net_doc_parse(o, doc, &err);
    json_decref(o);
    if (!CHECK_INT_EQ(rc, 0)) {
        fprintf(stderr, "%s\n", err.msg);
        return false;
    }
    return true;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_header_idempotent(void)
{
    struct net_doc doc;
    struct nubo_err err;
    if (!load(&doc))
        return;
    char *a = fw_render_host(&doc, &ENV, &err);
    char *b = fw_render_host(&doc, &ENV, &err);
    if (CHECK(a != NULL) && CHECK(b != NULL)) {
        CHECK_STR_EQ(a, b);
        const char *head = "table bridge nubo-ntst {}\ndelete table bridge nubo-ntst\n"
                           "table bridge nubo-ntst {\n";
        CHECK(strncmp(a, head, strlen(head)) == 0);
        CHECK_STR_HAS(a, "\ntable inet nubo-ntst {}\ndelete table inet nubo-ntst\n"
                         "table inet nubo-ntst {\n");
        /* delete + define: no element of a set or map can outlive a render */
        CHECK_INT_EQ(count(a, "delete table"), 2);
        CHECK(strstr(a, "flush") == NULL);
        /* nft 1.0.6 wants a newline before a closing brace after a statement. */
        CHECK(strstr(a, " }\n\t}") == NULL || strstr(a, "accept }") == NULL);
        CHECK_STR_HAS(a, "iifname != @bridges accept");
        CHECK_STR_HAS(a, "elements = { \"ntstb1001\", \"ntstb70000\" }");
        CHECK_STR_HAS(a, "iifname \"ntstb1001\" ct zone set ");
        CHECK_STR_HAS(a, "iifname \"ntstb70000\" ct zone set ");
        CHECK_STR_HAS(a, "ct state established,related accept");
    }
    free(a);
    free(b);
    net_doc_clear(&doc);
}

static void test_chain_per_port(void)
{
    struct net_doc doc;
    struct nubo_err err;
    if (!load(&doc))
        return;
    char *s = fw_render_host(&doc, &ENV, &err);
    if (CHECK(s != NULL)) {
        /* ports 1, 2 and 4 are filtered; port 3 has no port security. */
        CHECK_INT_EQ(count(s, "\tchain port_in_"), 3);
        CHECK_INT_EQ(count(s, "\tchain port_out_"), 3);
        CHECK_INT_EQ(count(s, "\tchain ingress_"), 3);
        CHECK_INT_EQ(count(s, "\tchain egress_"), 3);
        CHECK_STR_HAS(s, "\"ntstt3333333333\" : goto port_in_1");
        CHECK_STR_HAS(s, "\"ntstt7777777777\" : goto port_in_2");
        CHECK_STR_HAS(s, "\"ntsttababababab\" : goto port_in_4");
        CHECK(strstr(s, "ntstt9999999999") == NULL);
        CHECK_STR_HAS(s, "1 : goto egress_1, 2 : goto egress_2, 4 : goto egress_4");
        CHECK_STR_HAS(s, "0x00010000 : goto ingress_1, 0x00020000 : goto ingress_2, "
                         "0x00040000 : goto ingress_4");
        CHECK_STR_HAS(s, "chain port_out_2 {\n\t\tmeta mark set meta mark | 0x00020000\n");
        /* port 1 has both groups, in order; each port chain ends in drop */
        CHECK_STR_HAS(s, "chain ingress_1 {\n\t\tjump sg_0_ingress\n\t\tjump sg_1_ingress\n"
                         "\t\tdrop\n\t}");
        CHECK_STR_HAS(s, "chain egress_4 {\n\t\tjump sg_1_egress\n\t\tdrop\n\t}");
        /* anti-spoofing of port 2 */
        CHECK_STR_HAS(s, "chain port_in_2 {\n\t\tmeta mark set 2\n"
                         "\t\tether saddr != fa:16:3e:00:00:12 drop\n");
        CHECK_STR_HAS(s, "arp saddr ether fa:16:3e:00:00:12 arp saddr ip { 10.0.0.6, 0.0.0.0 } "
                         "accept");
        CHECK_STR_HAS(s, "ether type ip ip saddr 10.0.0.6 accept\n");
        CHECK_STR_HAS(s, "ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67");
        /* host-local traffic off the VXLAN */
        CHECK_STR_HAS(s, "oifname \"ntstx1001\" arp daddr ip { 10.0.0.1 } drop");
        CHECK_STR_HAS(s, "oifname \"ntstx1001\" ether saddr fa:16:3e:00:00:01 drop");
        CHECK_STR_HAS(s, "oifname \"ntstx1001\" meta l4proto udp udp dport { 67, 68 } drop");
    }
    free(s);
    net_doc_clear(&doc);
}

static void test_rule_kinds(void)
{
    struct net_doc doc;
    struct nubo_err err;
    if (!load(&doc))
        return;
    char *s = fw_render_host(&doc, &ENV, &err);
    if (CHECK(s != NULL)) {
        CHECK_STR_HAS(s, "chain sg_0_egress {\n\t\tmeta nfproto ipv4 goto to_port\n\t}");
        CHECK_STR_HAS(s, "chain sg_0_ingress {\n\t\tmeta nfproto ipv4 ip saddr @members_0 "
                         "accept\n\t}");
        CHECK_STR_HAS(s, "meta nfproto ipv4 ip saddr 10.1.0.0/16 meta l4proto tcp tcp dport "
                         "8080 accept\n");
        CHECK_STR_HAS(s, "meta nfproto ipv4 meta l4proto udp udp dport 53-54 accept\n");
        CHECK_STR_HAS(s, "meta nfproto ipv4 meta l4proto icmp accept\n");
        CHECK_STR_HAS(s, "chain sg_1_egress {\n\t\tmeta nfproto ipv4 ip daddr 192.168.0.0/16 "
                         "meta l4proto tcp goto to_port\n\t}");
    }
    free(s);
    net_doc_clear(&doc);
}

static void test_remote_group_set(void)
{
    struct net_doc doc;
    struct nubo_err err;
    if (!load(&doc))
        return;
    char *s = fw_render_host(&doc, &ENV, &err);
    /* sorted and without the duplicate */
    if (CHECK(s != NULL))
        CHECK_STR_HAS(s, "set members_0 {\n\t\ttype ipv4_addr\n\t\telements = { 10.0.0.5, "
                         "10.0.0.6 }\n\t}");
    free(s);

    /* a membership change changes only the set */
    doc.members[0].nips = 1;
    s = fw_render_host(&doc, &ENV, &err);
    if (CHECK(s != NULL))
        CHECK_STR_HAS(s, "set members_0 {\n\t\ttype ipv4_addr\n\t\telements = { 10.0.0.6 }\n");
    free(s);
    doc.members[0].nips = 0;
    s = fw_render_host(&doc, &ENV, &err);
    if (CHECK(s != NULL))
        CHECK_STR_HAS(s, "set members_0 {\n\t\ttype ipv4_addr\n\t}");
    free(s);
    doc.members[0].nips = 3;
    net_doc_clear(&doc);
}

static void test_router_nat(void)
{
    struct net_doc doc;
    struct nubo_err err;
    if (!load(&doc))
        return;
    char *s = fw_render_router(&doc, 0, &err);
    if (CHECK(s != NULL)) {
        const char *head = "table ip nubo-nat {}\ndelete table ip nubo-nat\ntable ip nubo-nat {\n";
        CHECK(strncmp(s, head, strlen(head)) == 0);
        CHECK_STR_HAS(s, "iifname \"ext\" ip daddr 203.0.113.10 dnat to 10.0.0.5\n");
        CHECK_STR_HAS(s, "oifname \"ext\" ip saddr 10.0.0.5 snat to 203.0.113.10\n");
        CHECK(strstr(s, "203.0.113.11") == NULL); /* the other network's port */
        /* item 16(b): from the external leg only what DNAT or SNAT made */
        CHECK_STR_HAS(s, "chain forward {\n\t\ttype filter hook forward priority filter; "
                         "policy accept;\n\t\tiifname \"ext\" ct status dnat accept\n"
                         "\t\tiifname \"ext\" ct status snat accept\n"
                         "\t\tiifname \"ext\" drop\n\t}\n}\n");
    }
    free(s);
    s = fw_render_router(&doc, 1, &err);
    if (CHECK(s != NULL))
        CHECK_STR_HAS(s, "ip daddr 203.0.113.11 dnat to 10.0.0.5");
    free(s);
    CHECK(fw_render_router(&doc, 2, &err) == NULL);
    CHECK_INT_EQ(err.code, NUBO_E_INVALID);
    CHECK(fw_render_router(&doc, -1, &err) == NULL);
    net_doc_clear(&doc);
}

/* Item 16(c): zones unique per network whatever the VNIs (70000 and 4464
 * shared zone 4464 when it was vni & 0xffff), kept across renders as the
 * networks around them change, and agents start 1024 apart. */
static void test_zones(void)
{
    struct net_doc doc;
    if (!load(&doc))
        return;
    uint16_t z[2], z2[2], zo[2];
    json_t *a = fw_zones_assign(&doc, "ntst", NULL, z);
    CHECK(z[0] != 0 && z[1] != 0 && z[0] != z[1]);
    doc.networks[0].vni = 4464; /* 70000 & 0xffff */
    json_t *b = fw_zones_assign(&doc, "ntst", NULL, z2);
    CHECK(z2[0] != z2[1]);
    json_decref(b);
    doc.networks[0].vni = 1001;
    /* kept: with the first network gone, the second keeps its zone */
    struct net_network first = doc.networks[0];
    doc.networks[0] = doc.networks[1];
    doc.nnetworks = 1;
    uint16_t z1[1];
    json_t *c = fw_zones_assign(&doc, "ntst", a, z1);
    CHECK_INT_EQ(z1[0], z[1]);
    CHECK_INT_EQ(json_object_size(c), 1);
    json_decref(c);
    doc.networks[0] = first;
    doc.nnetworks = 2;
    /* a damaged or duplicated previous zone is reassigned */
    json_t *bad = json_pack("{s:i, s:i}", "1001", 7, "70000", 7);
    json_t *d = fw_zones_assign(&doc, "ntst", bad, z2);
    CHECK_INT_EQ(z2[0], 7);
    CHECK(z2[1] != 7 && z2[1] != 0);
    json_decref(d);
    json_decref(bad);
    /* another agent starts elsewhere */
    json_t *e = fw_zones_assign(&doc, "nab1", NULL, zo);
    CHECK(zo[0] != z[0]);
    json_decref(e);
    /* the renderer uses the zones it is given */
    uint16_t given[2] = {17, 4242};
    struct fw_env env = {.tag = "ntst", .zones = given};
    struct nubo_err err;
    char *s = fw_render_host(&doc, &env, &err);
    if (CHECK(s != NULL)) {
        CHECK_STR_HAS(s, "iifname \"ntstb1001\" ct zone set 17\n");
        CHECK_STR_HAS(s, "iifname \"ntstb70000\" ct zone set 4242\n");
    }
    free(s);
    json_decref(a);
    net_doc_clear(&doc);
}

/* Item 16(a): VXLAN of each of our VNIs only from the network's peers. */
static void test_vxlan_peers(void)
{
    struct net_doc doc;
    struct nubo_err err;
    if (!load(&doc))
        return;
    char *s = fw_render_host(&doc, &ENV, &err);
    if (CHECK(s != NULL)) {
        CHECK_STR_HAS(s, "chain input {\n\t\ttype filter hook input priority filter; policy "
                         "accept;\n");
        CHECK_STR_HAS(s, "udp dport 4789 @th,96,24 1001 ip saddr != { 10.99.0.2 } drop\n");
        /* no peers: nothing may send to that VNI */
        CHECK_STR_HAS(s, "udp dport 4789 @th,96,24 70000 drop\n");
    }
    free(s);
    net_doc_clear(&doc);
}

/* Item 14: the tables and names are the agent's; a bad tag is refused. */
static void test_tag(void)
{
    struct net_doc doc;
    struct nubo_err err;
    if (!load(&doc))
        return;
    struct fw_env other = {.tag = "nab1"};
    char *s = fw_render_host(&doc, &other, &err);
    if (CHECK(s != NULL)) {
        CHECK_STR_HAS(s, "table bridge nubo-nab1 {\n");
        CHECK_STR_HAS(s, "table inet nubo-nab1 {\n");
        CHECK(strstr(s, "ntst") == NULL);
        CHECK(strstr(s, "table bridge nubo {") == NULL);
    }
    free(s);
    const char *bad[] = {"", "nub", "x123", "nAB1", "n12345", "n1;2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct fw_env e = {.tag = bad[i]};
        CHECK(fw_render_host(&doc, &e, &err) == NULL);
    }
    struct fw_env none = {.tag = NULL};
    CHECK(fw_render_host(&doc, &none, &err) == NULL);
    net_doc_clear(&doc);
}

/* Renders doc, expecting a refusal whose message has `what`. */
static void expect_refused(const struct net_doc *doc, const char *what)
{
    struct nubo_err err;
    nubo_err_clear(&err);
    char *s = fw_render_host(doc, &ENV, &err);
    CHECK(s == NULL);
    CHECK_INT_EQ(err.code, NUBO_E_INVALID);
    CHECK_STR_HAS(err.msg, what);
    free(s);
}

static void test_refuses_bad_values(void)
{
    struct net_doc doc;
    if (!load(&doc))
        return;
    char save[NET_MAC_LEN];

    memcpy(save, doc.ports[1].mac, sizeof(save));
    SET(doc.ports[1].mac, "fa:16:3e:00:0\"; ");
    expect_refused(&doc, "bad mac");
    SET(doc.ports[1].mac, "ff:ff:ff:ff:ff:ff"); /* multicast */
    expect_refused(&doc, "bad mac");
    memcpy(doc.ports[1].mac, save, sizeof(save));

    memcpy(save, doc.networks[0].router_mac, sizeof(save));
    SET(doc.networks[0].router_mac, "FA:16:3E:00:00:01");
    expect_refused(&doc, "bad router_mac");
    memcpy(doc.networks[0].router_mac, save, sizeof(save));

    struct net_sg_rule *r = &doc.sgs[1].rules[0];
    r->port_min = 0;
    expect_refused(&doc, "port range 0-8080 out of bounds");
    r->port_min = 8080;
    r->port_max = 70000;
    expect_refused(&doc, "out of bounds");
    r->port_min = 9000;
    r->port_max = 8080;
    expect_refused(&doc, "out of bounds");
    r->port_min = r->port_max = 8080;

    r->remote_cidr.prefix = 33;
    expect_refused(&doc, "bad remote_cidr");
    r->remote_cidr.prefix = 8; /* 10.1.0.0 has host bits under /8 */
    expect_refused(&doc, "bad remote_cidr");
    r->remote_cidr.prefix = 16;

    r->protocol = (enum net_protocol)42;
    expect_refused(&doc, "unknown protocol");
    r->protocol = NET_PROTO_TCP;

    SET(doc.sgs[0].rules[1].remote_group, SGWEB); /* no members entry */
    expect_refused(&doc, "has no members entry");
    SET(doc.sgs[0].rules[1].remote_group, SGDEF);

    SET(doc.ports[0].security_groups[1], PORT4);
    expect_refused(&doc, "unknown security group");
    SET(doc.ports[0].security_groups[1], SGWEB);

    SET(doc.ports[0].id, "3333\"; drop;");
    expect_refused(&doc, "is not a UUID");
    SET(doc.ports[0].id, PORT1);

    doc.networks[1].vni = 0;
    expect_refused(&doc, "vni 0 out of range");
    doc.networks[1].vni = 70000;

    doc.ports[1].ip.addr = 0;
    expect_refused(&doc, "bad ip");
    doc.ports[1].ip.addr = 0x0a000006;

    /* all restored: it renders again */
    struct nubo_err err;
    char *s = fw_render_host(&doc, &ENV, &err);
    CHECK(s != NULL);
    free(s);
    net_doc_clear(&doc);
}

static void test_addresses_from_numbers(void)
{
    struct net_doc doc;
    struct nubo_err err;
    if (!load(&doc))
        return;
    /* the text form is not what reaches the script: the number is */
    SET(doc.ports[1].ip.s, "1.2.3.4; flush"); /* fills NET_IP_LEN */
    char *s = fw_render_host(&doc, &ENV, &err);
    if (CHECK(s != NULL)) {
        CHECK(strstr(s, "1.2.3.4") == NULL);
        CHECK_STR_HAS(s, "ip saddr 10.0.0.6 accept");
    }
    free(s);
    net_doc_clear(&doc);
}

static void test_empty_doc(void)
{
    struct net_doc doc;
    struct nubo_err err;
    memset(&doc, 0, sizeof(doc));
    char *s = fw_render_host(&doc, &ENV, &err);
    if (CHECK(s != NULL)) {
        CHECK_STR_HAS(s, "map in_ports {\n\t\ttype ifname : verdict\n\t}");
        CHECK_STR_HAS(s, "set bridges {\n\t\ttype ifname\n\t}");
        CHECK(strstr(s, "elements") == NULL);
    }
    free(s);
}

CHECK_MAIN(TEST(test_header_idempotent), TEST(test_chain_per_port), TEST(test_rule_kinds),
           TEST(test_remote_group_set), TEST(test_router_nat), TEST(test_refuses_bad_values),
           TEST(test_addresses_from_numbers), TEST(test_empty_doc), TEST(test_zones),
           TEST(test_vxlan_peers), TEST(test_tag))
