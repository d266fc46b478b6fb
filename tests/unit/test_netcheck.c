/*
 * test_netcheck.c - unit tests of src/host/net/check.c: the datapath
 * self-check's comparison of an observation (what `ip`, `bridge`, `nft`
 * and /proc showed) with the network document, without a kernel.
 *
 * A healthy observation is built from the document; each test breaks one
 * thing as an intruder (or a crash) would and checks the problem that
 * comes out: its object, its text, and the instances it concerns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "host/net/net_int.h"
#include "lib/util.h"

#define NET1 "11111111-1111-4111-8111-111111111111"
#define SUB1 "22222222-2222-4222-8222-222222222222"
#define PORT1 "33333333-3333-4333-8333-333333333333"
#define INST1 "44444444-4444-4444-8444-444444444444"
#define TAG "nk3a"

static const char *doc_text =
    "{\"generation\": \"g1\","
    " \"networks\": [{\"id\": \"" NET1 "\", \"vni\": 1001, \"mtu\": 1450,"
    "   \"router_mac\": \"fa:16:3e:00:00:01\", \"domain\": null,"
    "   \"subnets\": [{\"id\": \"" SUB1 "\", \"cidr\": \"10.0.0.0/24\", \"gateway\": \"10.0.0.1\","
    "                \"dns_servers\": []}],"
    "   \"peers\": [\"10.99.0.1\", \"10.99.0.2\"], \"dns_records\": []}],"
    " \"ports\": [{\"id\": \"" PORT1 "\", \"network_id\": \"" NET1 "\", \"subnet_id\": \"" SUB1
    "\","
    "   \"vm\": \"nubo-" INST1 "\", \"instance_id\": \"" INST1 "\","
    "   \"mac\": \"fa:16:3e:12:34:56\", \"ip\": \"10.0.0.5\", \"hostname\": \"web-1\","
    "   \"port_security\": false, \"security_groups\": [], \"floating_ip\": null}],"
    " \"security_groups\": [], \"group_members\": {}, \"external\": null}";

static struct net_doc doc;
static struct net_env env;
static char taps[1][NET_IFNAME_LEN];
static char br[NET_IFNAME_LEN], vx[NET_IFNAME_LEN], vr[NET_IFNAME_LEN], rns[NET_NS_NAME_LEN];

static void setup(void)
{
    json_error_t je;
    json_t *o = json_loads(doc_text, 0, &je);
    struct nubo_err err;
    if (o == NULL || net_doc_parse(o, &doc, &err) < 0) {
        fprintf(stderr, "bad document: %s\n", o ? err.msg : je.text);
        json_decref(o);
        abort();
    }
    json_decref(o);
    memset(&env, 0, sizeof(env));
    str_copy(env.tag, sizeof(env.tag), TAG);
    str_copy(env.netns, sizeof(env.netns), "h1");
    str_copy(env.underlay_ip, sizeof(env.underlay_ip), "10.99.0.1");
    inet_tap_name(TAG, PORT1, taps[0]);
    inet_bridge_name(TAG, 1001, br);
    inet_vxlan_name(TAG, 1001, vx);
    inet_veth_name(TAG, 1001, vr);
    inet_router_ns("h1", TAG, 1001, rns);
}

static void teardown(void)
{
    net_doc_clear(&doc);
}

static json_t *link_of(const char *name, const char *kind, const char *master)
{
    json_t *l = json_pack("{s:s, s:[s, s], s:{s:s}}", "ifname", name, "flags", "BROADCAST", "UP",
                          "linkinfo", "info_kind", kind);
    if (master)
        json_object_set_new(l, "master", json_string(master));
    return l;
}

static json_t *addr_link(const char *name, const char *mac, const char *ip, int plen)
{
    return json_pack("{s:s, s:s, s:[s], s:[{s:s, s:s, s:i}]}", "ifname", name, "address", mac,
                     "flags", "UP", "addr_info", "family", "inet", "local", ip, "prefixlen", plen);
}

/* What a healthy host shows for the document (new reference), with
 * another agent's objects beside ours. */
static json_t *healthy(void)
{
    json_t *links = json_array();
    json_array_append_new(links, link_of(br, "bridge", NULL));
    json_array_append_new(links, link_of(vx, "vxlan", br));
    json_array_append_new(links, link_of(vr, "veth", br));
    json_array_append_new(links, link_of(taps[0], "tun", br));
    json_array_append_new(links, link_of("nzzzb1001", "bridge", NULL)); /* not ours */
    json_t *router = json_array();
    json_array_append_new(router, addr_link("lo", "00:00:00:00:00:00", "169.254.169.254", 32));
    json_array_append_new(router, addr_link("gw", "fa:16:3e:00:00:01", "10.0.0.1", 24));
    json_t *fdb = json_pack("[{s:s, s:s}, {s:s, s:s}]", "mac", "00:00:00:00:00:00", "dst",
                            "10.99.0.2", "mac", "fa:16:3e:99:99:99", "dst", "10.99.0.3");
    json_t *net = json_pack("{s:o, s:o, s:{s:b, s:b, s:b}}", "fdb", fdb, "router", router,
                            "dnsmasq", "running", 1, "in_namespace", 1, "bound", 1);
    return json_pack("{s:o, s:[s, s], s:[s, s, s], s:{s:o}, s:[i]}", "links", links, "namespaces",
                     rns, "nubo-nzzz-r1001", "nft", "bridge nubo-" TAG, "inet nubo-" TAG,
                     "inet nubo-nzzz", "networks", "1001", net, "metadata", 1001);
}

static json_t *diff(json_t *obs)
{
    json_t *problems = json_array();
    net_check_diff(&env, &doc, taps, 1, obs, problems);
    json_decref(obs);
    return problems;
}

/* The problem about object, or NULL. */
static json_t *find(json_t *problems, const char *object)
{
    size_t i;
    json_t *p;
    json_array_foreach (problems, i, p)
        if (strcmp(json_string_value(json_object_get(p, "object")), object) == 0)
            return p;
    return NULL;
}

static void dump(json_t *problems)
{
    char *s = json_dumps(problems, JSON_INDENT(1));
    fprintf(stderr, "problems: %s\n", s);
    free(s);
}

/* Checks that problems holds object with text and, when inst is not
 * NULL, that it concerns exactly that instance (else all of them). */
static void expect(json_t *problems, const char *object, const char *text, const char *inst)
{
    json_t *p = find(problems, object);
    if (!CHECK(p != NULL)) {
        fprintf(stderr, "no problem about %s\n", object);
        dump(problems);
        return;
    }
    CHECK_STR_HAS(json_string_value(json_object_get(p, "problem")), text);
    json_t *ids = json_object_get(p, "instances");
    if (inst) {
        CHECK_INT_EQ(json_array_size(ids), 1);
        CHECK_STR_EQ(json_string_value(json_array_get(ids, 0)), inst);
    } else {
        CHECK(ids == NULL);
    }
}

static void test_healthy_has_no_problem(void)
{
    json_t *p = diff(healthy());
    if (!CHECK_INT_EQ(json_array_size(p), 0))
        dump(p);
    json_decref(p);
}

static void test_bridge_deleted(void)
{
    /* Deleting the bridge detaches everything that was in it. */
    json_t *obs = healthy();
    json_t *links = json_object_get(obs, "links");
    json_array_remove(links, 0);
    size_t i;
    json_t *l;
    json_array_foreach (links, i, l)
        json_object_del(l, "master");
    json_t *p = diff(obs);
    char object[64];
    snprintf(object, sizeof(object), "bridge %s", br);
    expect(p, object, "missing", INST1);
    snprintf(object, sizeof(object), "tap %s", taps[0]);
    expect(p, object, "not attached to", INST1);
    snprintf(object, sizeof(object), "veth %s", vr);
    expect(p, object, "not attached to", INST1);
    json_decref(p);
}

static void test_bridge_of_wrong_kind_or_down(void)
{
    json_t *obs = healthy();
    json_t *b = json_array_get(json_object_get(obs, "links"), 0);
    json_object_set_new(json_object_get(b, "linkinfo"), "info_kind", json_string("dummy"));
    json_object_set_new(b, "flags", json_pack("[s]", "BROADCAST"));
    json_t *p = diff(obs);
    char object[64];
    snprintf(object, sizeof(object), "bridge %s", br);
    expect(p, object, "is not a bridge", INST1);
    CHECK_INT_EQ(json_array_size(p), 2); /* and "is down" */
    json_decref(p);
}

static void test_dnsmasq(void)
{
    json_t *obs = healthy();
    json_t *dm =
        json_object_get(json_object_get(json_object_get(obs, "networks"), "1001"), "dnsmasq");
    json_object_set_new(dm, "running", json_false());
    json_t *p = diff(obs);
    expect(p, "dnsmasq vni 1001", "not running", INST1);
    CHECK_INT_EQ(json_array_size(p), 1);
    json_decref(p);

    /* alive, but in a router namespace deleted and made again */
    obs = healthy();
    dm = json_object_get(json_object_get(json_object_get(obs, "networks"), "1001"), "dnsmasq");
    json_object_set_new(dm, "in_namespace", json_false());
    p = diff(obs);
    expect(p, "dnsmasq vni 1001", "runs outside router namespace", INST1);
    json_decref(p);

    obs = healthy();
    dm = json_object_get(json_object_get(json_object_get(obs, "networks"), "1001"), "dnsmasq");
    json_object_set_new(dm, "bound", json_false());
    p = diff(obs);
    expect(p, "dnsmasq vni 1001", "not bound to the DHCP port", INST1);
    json_decref(p);
}

static void test_router_namespace(void)
{
    json_t *obs = healthy();
    json_array_remove(json_object_get(obs, "namespaces"), 0);
    json_object_del(json_object_get(json_object_get(obs, "networks"), "1001"), "router");
    json_t *p = diff(obs);
    char object[80];
    snprintf(object, sizeof(object), "router namespace %s", rns);
    expect(p, object, "missing", INST1);
    CHECK(find(p, "self-check") == NULL); /* no router to read: not a failure to read it */
    json_decref(p);

    /* the gateway address and the metadata address gone */
    obs = healthy();
    json_t *router =
        json_object_get(json_object_get(json_object_get(obs, "networks"), "1001"), "router");
    json_object_set_new(json_array_get(router, 1), "addr_info", json_array());
    json_object_set_new(json_array_get(router, 0), "addr_info", json_array());
    p = diff(obs);
    CHECK_INT_EQ(json_array_size(p), 2);
    char *text = json_dumps(p, 0);
    CHECK_STR_HAS(text, "gateway 10.0.0.1/24 missing on gw");
    free(text);
    json_decref(p);
}

static void test_fdb_metadata_nft(void)
{
    json_t *obs = healthy();
    json_t *n = json_object_get(json_object_get(obs, "networks"), "1001");
    json_array_remove(json_object_get(n, "fdb"), 0);
    json_array_clear(json_object_get(obs, "metadata"));
    json_array_remove(json_object_get(obs, "nft"), 1);
    json_t *p = diff(obs);
    char object[64];
    snprintf(object, sizeof(object), "vxlan %s", vx);
    expect(p, object, "no flood entry for peer 10.99.0.2", INST1);
    expect(p, "metadata vni 1001", "no listener", INST1);
    expect(p, "nft table inet nubo-" TAG, "missing", NULL); /* every instance */
    CHECK_INT_EQ(json_array_size(p), 3);
    json_decref(p);
}

static void test_unreadable_state_is_a_problem(void)
{
    json_t *obs = healthy();
    json_object_del(obs, "links");
    json_object_set_new(obs, "errors", json_pack("[s]", "'ip -j -d link show' failed: boom"));
    json_t *p = diff(obs);
    expect(p, "self-check", "boom", NULL);
    json_decref(p);
}

static void test_other_agents_objects_are_not_ours(void)
{
    /* Another agent's bridge of the same VNI missing changes nothing. */
    json_t *obs = healthy();
    json_array_remove(json_object_get(obs, "links"), 4);
    json_array_remove(json_object_get(obs, "namespaces"), 1);
    json_array_remove(json_object_get(obs, "nft"), 2);
    json_t *p = diff(obs);
    CHECK_INT_EQ(json_array_size(p), 0);
    json_decref(p);
}

CHECK_MAIN_FIXTURE(setup, teardown, TEST(test_healthy_has_no_problem), TEST(test_bridge_deleted),
                   TEST(test_bridge_of_wrong_kind_or_down), TEST(test_dnsmasq),
                   TEST(test_router_namespace), TEST(test_fdb_metadata_nft),
                   TEST(test_unreadable_state_is_a_problem),
                   TEST(test_other_agents_objects_are_not_ours))
