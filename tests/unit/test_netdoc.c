/*
 * test_netdoc.c - unit tests of src/host/net/netdoc.c: the network document of
 * PUT /v1/network (parse, validation, references).  The address helpers
 * and interface names it uses are lib/inet.c's (tests/unit/test_inet.c).
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "host/net/net_int.h"

#define NET1 "11111111-1111-4111-8111-111111111111"
#define SUB1 "22222222-2222-4222-8222-222222222222"
#define PORT1 "33333333-3333-4333-8333-333333333333"
#define INST1 "44444444-4444-4444-8444-444444444444"
#define SG1 "55555555-5555-4555-8555-555555555555"
#define RULE1 "66666666-6666-4666-8666-666666666666"
#define PORT2 "77777777-7777-4777-8777-777777777777"
#define EXT1 "88888888-8888-4888-8888-888888888888"

static const char *good_doc =
    "{\"generation\": \"g1\","
    " \"networks\": [{\"id\": \"" NET1 "\", \"vni\": 1001, \"mtu\": 1450,"
    "   \"router_mac\": \"fa:16:3e:00:00:01\", \"domain\": \"nubo.internal\","
    "   \"subnets\": [{\"id\": \"" SUB1 "\", \"cidr\": \"10.0.0.0/24\", \"gateway\": \"10.0.0.1\","
    "                \"dns_servers\": [\"10.0.0.1\"]}],"
    "   \"peers\": [\"10.99.0.2\", \"10.99.0.3\"],"
    "   \"dns_records\": [{\"hostname\": \"web-1\", \"ip\": \"10.0.0.5\"}]}],"
    " \"ports\": [{\"id\": \"" PORT1 "\", \"network_id\": \"" NET1 "\", \"subnet_id\": \"" SUB1
    "\","
    "   \"vm\": \"nubo-" INST1 "\", \"instance_id\": \"" INST1 "\","
    "   \"mac\": \"fa:16:3e:12:34:56\", \"ip\": \"10.0.0.5\", \"hostname\": \"web-1\","
    "   \"port_security\": true, \"security_groups\": [\"" SG1
    "\"], \"floating_ip\": \"203.0.113.10\"}],"
    " \"security_groups\": [{\"id\": \"" SG1 "\", \"rules\": ["
    "   {\"id\": \"" RULE1 "\", \"direction\": \"ingress\", \"protocol\": \"tcp\","
    "    \"port_min\": 22, \"port_max\": 22, \"remote_cidr\": null, \"remote_group\": \"" SG1
    "\"}]}],"
    " \"group_members\": {\"" SG1 "\": [\"10.0.0.5\", \"10.0.0.7\"]},"
    " \"external\": {\"network_id\": \"" EXT1 "\", \"cidr\": \"203.0.113.0/24\","
    "                \"gateway\": \"203.0.113.1\"}}";

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    if (!CHECK(o != NULL))
        fprintf(stderr, "bad test JSON: %s (line %d col %d)\n", je.text, je.line, je.column);
    return o;
}

static void test_parse_good(void)
{
    json_t *o = load(good_doc);
    struct net_doc doc;
    struct nubo_err err;
    nubo_err_clear(&err);
    if (!CHECK_INT_EQ(net_doc_parse(o, &doc, &err), 0)) {
        fprintf(stderr, "%s\n", err.msg);
        json_decref(o);
        return;
    }
    CHECK_STR_EQ(doc.generation, "g1");
    CHECK_INT_EQ(doc.nnetworks, 1);
    const struct net_network *n = &doc.networks[0];
    CHECK_INT_EQ(n->vni, 1001);
    CHECK_INT_EQ(n->mtu, 1450);
    CHECK_INT_EQ(n->nsubnets, 1);
    CHECK_INT_EQ(n->subnets[0].cidr.addr, 0x0a000000);
    CHECK_INT_EQ(n->subnets[0].cidr.prefix, 24);
    CHECK_INT_EQ(n->subnets[0].gateway.addr, 0x0a000001);
    CHECK_INT_EQ(n->subnets[0].ndns_servers, 1);
    CHECK_INT_EQ(n->npeers, 2);
    CHECK_STR_EQ(n->peers[1].s, "10.99.0.3");
    CHECK_INT_EQ(n->ndns_records, 1);
    CHECK_STR_EQ(n->dns_records[0].hostname, "web-1");
    CHECK_INT_EQ(doc.nports, 1);
    const struct net_port *p = &doc.ports[0];
    CHECK_INT_EQ(p->network_idx, 0);
    CHECK_INT_EQ(p->subnet_idx, 0);
    CHECK_INT_EQ(p->ip.addr, 0x0a000005);
    CHECK(p->port_security);
    CHECK(p->has_floating_ip);
    CHECK_STR_EQ(p->floating_ip.s, "203.0.113.10");
    CHECK_INT_EQ(p->nsecurity_groups, 1);
    CHECK_INT_EQ(doc.nsgs, 1);
    CHECK_INT_EQ(doc.sgs[0].nrules, 1);
    const struct net_sg_rule *r = &doc.sgs[0].rules[0];
    CHECK_INT_EQ(r->direction, NET_INGRESS);
    CHECK_INT_EQ(r->protocol, NET_PROTO_TCP);
    CHECK_INT_EQ(r->port_min, 22);
    CHECK(!r->has_remote_cidr);
    CHECK_STR_EQ(r->remote_group, SG1);
    const struct net_group_members *m = net_doc_members(&doc, SG1);
    CHECK(m != NULL && m->nips == 2 && m->ips[1].addr == 0x0a000007);
    CHECK(doc.has_external);
    CHECK(net_doc_network(&doc, NET1) == n);
    CHECK(net_doc_network_by_vni(&doc, 1001) == n);
    CHECK(net_doc_port(&doc, PORT1) == p);
    CHECK(net_doc_sg(&doc, SG1) == &doc.sgs[0]);
    net_doc_clear(&doc);
    CHECK_INT_EQ(doc.nnetworks, 0);
    net_doc_clear(&doc); /* twice is fine */
    json_decref(o);
}

static void test_parse_empty(void)
{
    json_t *o = load("{\"generation\": \"0\", \"networks\": [], \"ports\": [],"
                     " \"security_groups\": [], \"group_members\": {}, \"external\": null}");
    struct net_doc doc;
    struct nubo_err err;
    CHECK_INT_EQ(net_doc_parse(o, &doc, &err), 0);
    CHECK_INT_EQ(doc.nnetworks + doc.nports + doc.nsgs + doc.nmembers, 0);
    CHECK(!doc.has_external);
    net_doc_clear(&doc);
    json_decref(o);
}

/* Applies one change (a JSON Pointer-ish path into good_doc's object and a
 * new value, NULL = delete) and expects a 400 naming `needle`. */
static void expect_bad(const char *what, void (*mutate)(json_t *), const char *needle)
{
    json_t *o = load(good_doc);
    mutate(o);
    struct net_doc doc;
    struct nubo_err err;
    nubo_err_clear(&err);
    int r = net_doc_parse(o, &doc, &err);
    if (!CHECK_INT_EQ(r, -1)) {
        fprintf(stderr, "    case: %s was accepted\n", what);
        net_doc_clear(&doc);
    } else {
        CHECK(err.code == NUBO_E_INVALID || err.code == NUBO_E_TOOLARGE);
        if (!CHECK_STR_HAS(err.msg, needle))
            fprintf(stderr, "    case: %s\n", what);
        CHECK_INT_EQ(doc.nnetworks, 0); /* left empty */
        CHECK(doc.networks == NULL);
    }
    json_decref(o);
}

static json_t *net0(json_t *o)
{
    return json_array_get(json_object_get(o, "networks"), 0);
}
static json_t *sub0(json_t *o)
{
    return json_array_get(json_object_get(net0(o), "subnets"), 0);
}
static json_t *port0(json_t *o)
{
    return json_array_get(json_object_get(o, "ports"), 0);
}
static json_t *rule0(json_t *o)
{
    return json_array_get(
        json_object_get(json_array_get(json_object_get(o, "security_groups"), 0), "rules"), 0);
}

static void m_vni0(json_t *o)
{
    json_object_set_new(net0(o), "vni", json_integer(0));
}
static void m_vni_big(json_t *o)
{
    json_object_set_new(net0(o), "vni", json_integer(16777216));
}
static void m_cidr_hostbits(json_t *o)
{
    json_object_set_new(sub0(o), "cidr", json_string("10.0.0.1/24"));
}
static void m_cidr_garbage(json_t *o)
{
    json_object_set_new(sub0(o), "cidr", json_string("10.0.0/24"));
}
static void m_cidr_prefix(json_t *o)
{
    json_object_set_new(sub0(o), "cidr", json_string("10.0.0.0/33"));
}
static void m_gw_outside(json_t *o)
{
    json_object_set_new(sub0(o), "gateway", json_string("10.0.1.1"));
}
static void m_gw_bcast(json_t *o)
{
    json_object_set_new(sub0(o), "gateway", json_string("10.0.0.255"));
}
static void m_overlap(json_t *o)
{
    json_array_append_new(json_object_get(net0(o), "subnets"),
                          json_pack("{s:s, s:s, s:s}", "id", "99999999-9999-4999-8999-999999999999",
                                    "cidr", "10.0.0.128/25", "gateway", "10.0.0.129"));
}
static void m_router_mac(json_t *o)
{
    json_object_set_new(net0(o), "router_mac", json_string("FA:16:3E:00:00:01"));
}
static void m_port_ip_outside(json_t *o)
{
    json_object_set_new(port0(o), "ip", json_string("10.0.9.5"));
}
static void m_port_ip_gateway(json_t *o)
{
    json_object_set_new(port0(o), "ip", json_string("10.0.0.1"));
}
static void m_port_net_unknown(json_t *o)
{
    json_object_set_new(port0(o), "network_id",
                        json_string("99999999-9999-4999-8999-999999999999"));
}
static void m_port_sg_unknown(json_t *o)
{
    json_array_set_new(json_object_get(port0(o), "security_groups"), 0,
                       json_string("99999999-9999-4999-8999-999999999999"));
}
static void m_port_mac_multicast(json_t *o)
{
    json_object_set_new(port0(o), "mac", json_string("01:00:5e:00:00:01"));
}
static void m_port_vm_shell(json_t *o)
{
    json_object_set_new(port0(o), "vm", json_string("a;rm -rf /"));
}
static void m_port_dup(json_t *o)
{
    json_t *copy = json_deep_copy(port0(o));
    json_object_set_new(copy, "mac", json_string("fa:16:3e:12:34:57"));
    json_array_append_new(json_object_get(o, "ports"), copy);
}
/* Another port whose id shares the first 10 hex digits: same tap name. */
static void m_port_dup_tap(json_t *o)
{
    json_t *copy = json_deep_copy(port0(o));
    const char *id = json_string_value(json_object_get(copy, "id"));
    char other[37];
    snprintf(other, sizeof(other), "%.11s%c%s", id, id[11] == 'f' ? 'e' : 'f', id + 12);
    json_object_set_new(copy, "id", json_string(other));
    json_object_set_new(copy, "mac", json_string("fa:16:3e:12:34:57"));
    json_object_set_new(copy, "ip", json_string("10.0.0.9"));
    json_array_append_new(json_object_get(o, "ports"), copy);
}
static void m_port_dup_ip(json_t *o)
{
    json_t *copy = json_deep_copy(port0(o));
    json_object_set_new(copy, "id", json_string(PORT2));
    json_object_set_new(copy, "mac", json_string("fa:16:3e:12:34:57"));
    json_object_set_new(copy, "floating_ip", json_null());
    json_array_append_new(json_object_get(o, "ports"), copy);
}
static void m_fip_no_external(json_t *o)
{
    json_object_set_new(o, "external", json_null());
}
static void m_rule_ports_range(json_t *o)
{
    json_object_set_new(rule0(o), "port_max", json_integer(65536));
}
static void m_rule_ports_reversed(json_t *o)
{
    json_object_set_new(rule0(o), "port_min", json_integer(100));
    json_object_set_new(rule0(o), "port_max", json_integer(99));
}
static void m_rule_ports_icmp(json_t *o)
{
    json_object_set_new(rule0(o), "protocol", json_string("icmp"));
}
static void m_rule_direction(json_t *o)
{
    json_object_set_new(rule0(o), "direction", json_string("both"));
}
static void m_rule_both_remotes(json_t *o)
{
    json_object_set_new(rule0(o), "remote_cidr", json_string("0.0.0.0/0"));
}
static void m_members_missing(json_t *o)
{
    json_object_set_new(o, "group_members", json_object());
}
static void m_dup_vni(json_t *o)
{
    json_t *copy = json_deep_copy(net0(o));
    json_object_set_new(copy, "id", json_string("99999999-9999-4999-8999-999999999999"));
    json_array_append_new(json_object_get(o, "networks"), copy);
}
static void m_no_generation(json_t *o)
{
    json_object_del(o, "generation");
}
static void m_peer_bad(json_t *o)
{
    json_array_set_new(json_object_get(net0(o), "peers"), 1, json_string("10.99.0.256"));
}
static void m_not_object(json_t *o)
{
    json_array_set_new(json_object_get(o, "networks"), 0, json_string("x"));
}

static void test_parse_bad(void)
{
    expect_bad("vni 0", m_vni0, "vni");
    expect_bad("vni too big", m_vni_big, "vni");
    expect_bad("cidr host bits", m_cidr_hostbits, "cidr");
    expect_bad("cidr garbage", m_cidr_garbage, "cidr");
    expect_bad("cidr /33", m_cidr_prefix, "cidr");
    expect_bad("gateway outside", m_gw_outside, "gateway 10.0.1.1");
    expect_bad("gateway broadcast", m_gw_bcast, "gateway");
    expect_bad("overlapping subnets", m_overlap, "overlaps");
    expect_bad("uppercase router mac", m_router_mac, "router_mac");
    expect_bad("port ip outside", m_port_ip_outside, "ports[0]");
    expect_bad("port ip = gateway", m_port_ip_gateway, "ports[0]");
    expect_bad("unknown network", m_port_net_unknown, "not in 'networks'");
    expect_bad("unknown sg", m_port_sg_unknown, "security group");
    expect_bad("multicast mac", m_port_mac_multicast, "mac");
    expect_bad("vm name with shell", m_port_vm_shell, "'vm'");
    expect_bad("duplicate port id", m_port_dup, "used twice");
    expect_bad("same tap name", m_port_dup_tap, "first 10 hex digits");
    expect_bad("duplicate ip", m_port_dup_ip, "ip 10.0.0.5 is used twice");
    expect_bad("floating ip without external", m_fip_no_external, "external");
    expect_bad("port 65536", m_rule_ports_range, "port_max");
    expect_bad("ports reversed", m_rule_ports_reversed, "port_min");
    expect_bad("ports on icmp", m_rule_ports_icmp, "tcp and udp");
    expect_bad("direction", m_rule_direction, "direction");
    expect_bad("both remotes", m_rule_both_remotes, "not both");
    expect_bad("members missing", m_members_missing, "group_members");
    expect_bad("duplicate vni", m_dup_vni, "vni 1001 is used twice");
    expect_bad("no generation", m_no_generation, "generation");
    expect_bad("bad peer", m_peer_bad, "peers[1]");
    expect_bad("network not an object", m_not_object, "networks[0]");
}

CHECK_MAIN(TEST(test_parse_good), TEST(test_parse_empty), TEST(test_parse_bad))
