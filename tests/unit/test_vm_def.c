/*
 * test_vm_def.c - unit tests of src/host/vm/vm.c: validation of a create
 * request, the vm.json round trip, and the state names.
 *
 * Every rejection is run with the sanitizers' leak checker watching (the
 * ASan build): a rejected request must leave nothing allocated.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "host/vm/vm.h"
#include "lib/valid.h"

#define VM_VOL "5f0c4a2e-8a64-4b8e-9d61-0c7f4a1b2c3d"
#define KEY_A "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a@b"
#define KEY_B "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 b@c"

/* Parses a JSON text into a request body (checked). */
static json_t *body_of(const char *text)
{
    json_error_t je;
    json_t *b = json_loads(text, JSON_DECODE_ANY, &je);
    if (!CHECK(b != NULL))
        fprintf(stderr, "    bad test JSON: %s: %s\n", je.text, text);
    return b;
}

/* Runs vm_def_from_request on body (consumed) and expects a rejection with
 * NUBO_E_INVALID and a message containing `hint`. */
static void expect_reject(json_t *body, const char *hint, int line)
{
    struct vm_def def;
    struct nubo_err err;
    nubo_err_clear(&err);
    int r = vm_def_from_request(body, &def, &err);
    if (!CHECK_INT_EQ(r, -1)) {
        char *s = json_dumps(body, JSON_COMPACT);
        fprintf(stderr, "    (line %d) accepted: %.200s\n", line, s);
        free(s);
        vm_def_clear(&def);
    } else {
        if (!CHECK_INT_EQ(err.code, NUBO_E_INVALID) || !CHECK_STR_HAS(err.msg, hint))
            fprintf(stderr, "    (line %d)\n", line);
        /* nothing owned is left behind (LSan confirms in the ASan build) */
        CHECK_INT_EQ(def.nkeys, 0);
        CHECK(def.user_data == NULL);
    }
    json_decref(body);
}

#define REJECT(text, hint) expect_reject(body_of(text), (hint), __LINE__)

/* ------------------------------------------------------------ requests */

static void test_request_defaults(void)
{
    json_t *b = body_of("{\"name\": \"Web_Server.1\", \"image\": \"nubo-tiny\"}");
    struct vm_def def;
    struct nubo_err err;
    nubo_err_clear(&err);
    if (!CHECK_INT_EQ(vm_def_from_request(b, &def, &err), 0)) {
        fprintf(stderr, "    %s\n", err.msg);
        json_decref(b);
        return;
    }
    CHECK_STR_EQ(def.name, "Web_Server.1");
    CHECK_STR_EQ(def.hostname, "web-server-1"); /* lowercased, '.' and '_' -> '-' */
    CHECK_INT_EQ(valid_hostname(def.hostname, NULL), 0);
    CHECK_INT_EQ(def.vcpus, 1);
    CHECK_INT_EQ(def.memory_mib, 256);
    CHECK_STR_EQ(def.image, "nubo-tiny");
    CHECK_INT_EQ(def.root_size, 0);
    CHECK_INT_EQ(def.ndisks, 0);
    CHECK_STR_EQ(def.network, "none");
    CHECK_INT_EQ(def.nkeys, 0);
    CHECK(def.user_data == NULL);
    CHECK(valid_is_uuid(def.id));
    CHECK_INT_EQ(strlen(def.mac), 17);
    CHECK(strncmp(def.mac, "52:54:00:", 9) == 0);
    CHECK_INT_EQ(strlen(def.created_at), 20);
    CHECK(def.created_at[19] == 'Z');
    vm_def_clear(&def);
    json_decref(b);

    /* two VMs get different ids */
    struct vm_def d1, d2;
    b = body_of("{\"name\": \"a\", \"image\": \"i\"}");
    CHECK_INT_EQ(vm_def_from_request(b, &d1, &err), 0);
    CHECK_INT_EQ(vm_def_from_request(b, &d2, &err), 0);
    CHECK(strcmp(d1.id, d2.id) != 0);
    json_decref(b);

    /* a name ending in '.' or '_' gives no trailing '-' in the hostname */
    b = body_of("{\"name\": \"db_\", \"image\": \"i\"}");
    CHECK_INT_EQ(vm_def_from_request(b, &d1, &err), 0);
    CHECK_STR_EQ(d1.hostname, "db");
    json_decref(b);
}

static void test_request_all_fields(void)
{
    json_t *b =
        json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:[s, i], s:s, s:[s, s], s:s, s:b}", "name",
                  "db-1", "hostname", "database", "vcpus", 4, "memory", "2G", "image", "debian-12",
                  "root_disk", "20G", "disks", "1G", 10, "network", "user", "ssh_keys", KEY_A,
                  KEY_B, "user_data", "#cloud-config\nruncmd: [echo hi]\n", "start", 1);
    struct vm_def def;
    struct nubo_err err;
    if (!CHECK_INT_EQ(vm_def_from_request(b, &def, &err), 0)) {
        fprintf(stderr, "    %s\n", err.msg);
        json_decref(b);
        return;
    }
    CHECK_STR_EQ(def.name, "db-1");
    CHECK_STR_EQ(def.hostname, "database");
    CHECK_INT_EQ(def.vcpus, 4);
    CHECK_INT_EQ(def.memory_mib, 2048);
    CHECK_STR_EQ(def.image, "debian-12");
    CHECK(def.root_size == 20ULL << 30);
    CHECK_INT_EQ(def.ndisks, 2);
    CHECK(def.disks[0] == 1ULL << 30);
    CHECK(def.disks[1] == 10ULL << 30); /* a bare number is GiB for disks */
    CHECK_STR_EQ(def.network, "user");
    CHECK_INT_EQ(def.nkeys, 2);
    CHECK_STR_EQ(def.ssh_keys[0], KEY_A);
    CHECK_STR_EQ(def.ssh_keys[1], KEY_B);
    CHECK_STR_EQ(def.user_data, "#cloud-config\nruncmd: [echo hi]\n");
    vm_def_clear(&def);
    CHECK_INT_EQ(def.nkeys, 0);
    CHECK(def.user_data == NULL);
    vm_def_clear(&def); /* twice is harmless */
    json_decref(b);
}

static void test_request_memory_forms(void)
{
    static const struct {
        const char *json;
        uint64_t mib;
    } cases[] = {
        {"{\"name\":\"a\",\"image\":\"i\",\"memory\":512}", 512},
        {"{\"name\":\"a\",\"image\":\"i\",\"memory\":\"512\"}", 512},
        {"{\"name\":\"a\",\"image\":\"i\",\"memory\":\"1G\"}", 1024},
        {"{\"name\":\"a\",\"image\":\"i\",\"memory\":\"64M\"}", 64},
        {"{\"name\":\"a\",\"image\":\"i\",\"memory\":\"1T\"}", 1024 * 1024},
        {"{\"name\":\"a\",\"image\":\"i\",\"memory_mib\":128}", 128},
        {"{\"name\":\"a\",\"image\":\"i\",\"memory\":null}", 256},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *b = body_of(cases[i].json);
        struct vm_def def;
        struct nubo_err err;
        if (CHECK_INT_EQ(vm_def_from_request(b, &def, &err), 0)) {
            if (!CHECK_INT_EQ(def.memory_mib, cases[i].mib))
                fprintf(stderr, "    %s\n", cases[i].json);
            vm_def_clear(&def);
        } else {
            fprintf(stderr, "    %s: %s\n", cases[i].json, err.msg);
        }
        json_decref(b);
    }
}

static void test_request_rejects_fields(void)
{
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"colour\":\"red\"}", "unknown field 'colour'");
    REJECT("{\"image\":\"i\"}", "'name'");
    REJECT("{\"name\":\"a\"}", "'image'");
    REJECT("{\"name\":5,\"image\":\"i\"}", "'name'");
    REJECT("{\"name\":\"a\",\"image\":[\"i\"]}", "'image'");
    REJECT("{}", "'name'");
    REJECT("[]", "'name'");
    REJECT("\"a\"", "'name'");
}

static void test_request_rejects_names(void)
{
    REJECT("{\"name\":\"\",\"image\":\"i\"}", "VM name");
    REJECT("{\"name\":\"a;reboot\",\"image\":\"i\"}", "VM name");
    REJECT("{\"name\":\"$(x)\",\"image\":\"i\"}", "VM name");
    REJECT("{\"name\":\"-a\",\"image\":\"i\"}", "VM name");
    REJECT("{\"name\":\"a/../b\",\"image\":\"i\"}", "VM name");
    REJECT("{\"name\":\"a b\",\"image\":\"i\"}", "VM name");
    REJECT("{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
           "\"image\":\"i\"}",
           "VM name");
    REJECT("{\"name\":\"a\",\"image\":\"../etc/passwd\"}", "image name");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"hostname\":\"Web\"}", "hostname");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"hostname\":\"a.b\"}", "hostname");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"hostname\":\"a,b\"}", "hostname");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"hostname\":\"\"}", "hostname");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"hostname\":7}", "hostname");
}

static void test_request_rejects_vcpus(void)
{
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"vcpus\":0}", "'vcpus'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"vcpus\":65}", "'vcpus'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"vcpus\":-1}", "'vcpus'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"vcpus\":\"2\"}", "'vcpus'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"vcpus\":2.0}", "'vcpus'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"vcpus\":true}", "'vcpus'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"vcpus\":4294967297}", "'vcpus'");
    /* the bounds themselves are fine */
    json_t *b = body_of("{\"name\":\"a\",\"image\":\"i\",\"vcpus\":64}");
    struct vm_def def;
    struct nubo_err err;
    CHECK_INT_EQ(vm_def_from_request(b, &def, &err), 0);
    CHECK_INT_EQ(def.vcpus, 64);
    json_decref(b);
}

static void test_request_rejects_memory(void)
{
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"memory\":\"10K\"}", "'memory'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"memory\":\"63M\"}", "'memory'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"memory\":\"2T\"}", "'memory'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"memory\":-1}", "'memory'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"memory\":\"-1\"}", "'memory'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"memory\":0}", "'memory'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"memory\":\"lots\"}", "'memory'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"memory\":1.5}", "'memory'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"memory\":true}", "'memory'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"memory\":\"99999999999999999999G\"}", "'memory'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"memory\":9223372036854775807}", "'memory'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"memory_mib\":32}", "'memory_mib'");
}

static void test_request_rejects_disks(void)
{
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"disks\":\"1G\"}", "'disks'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"disks\":{\"a\":1}}", "'disks'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"disks\":[1,1,1,1,1,1,1,1,1]}", "at most 8");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"disks\":[\"1G\",\"12X\"]}", "unit");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"disks\":[\"1G\",-1]}", "negative");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"disks\":[\"17T\"]}", "between");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"disks\":[\"0\"]}", "between");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"disks\":[[1]]}", "number or a size");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"root_disk\":\"1K\"}", "'root_disk'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"root_disk\":\"x\"}", "'root_disk'");
    /* eight is the limit, not a rejection */
    json_t *b = body_of("{\"name\":\"a\",\"image\":\"i\",\"disks\":[1,2,3,4,5,6,7,\"8G\"]}");
    struct vm_def def;
    struct nubo_err err;
    if (CHECK_INT_EQ(vm_def_from_request(b, &def, &err), 0)) {
        CHECK_INT_EQ(def.ndisks, 8);
        CHECK(def.disks[7] == 8ULL << 30);
    }
    json_decref(b);
}

static void test_request_rejects_network(void)
{
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"network\":\"bridge\"}", "'network'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"network\":\"\"}", "'network'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"network\":\"User\"}", "'network'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"network\":1}", "'network'");
}

static void round_trip(const char *request);

#define PORT_A "3f2a9c1b-77e4-4d0a-9f00-123456789abc"
#define PORT_B "4f2a9c1b-77e4-4d0a-9f00-123456789abc"
#define NET_A "5f2a9c1b-77e4-4d0a-9f00-123456789abc"
#define NIC(port, mac) "{\"port_id\":\"" port "\",\"network_id\":\"" NET_A "\",\"mac\":\"" mac "\"}"

static void test_request_nics(void)
{
    json_t *b = body_of("{\"name\":\"a\",\"image\":\"i\",\"nics\":[" NIC(
        PORT_A, "fa:16:3e:00:00:01") "," NIC(PORT_B, "fa:16:3e:00:00:02") "]}");
    struct vm_def def;
    struct nubo_err err;
    if (CHECK_INT_EQ(vm_def_from_request(b, &def, &err), 0)) {
        CHECK_INT_EQ(def.nnics, 2);
        CHECK_STR_EQ(def.nics[0].tap, "tp3f2a9c1b77e4");
        /* the agent names the taps with its tag (lib/inet.h) */
        vm_def_name_taps(&def, "nk3a");
        CHECK_STR_EQ(def.nics[0].tap, "nk3at3f2a9c1b77");
        CHECK_STR_EQ(def.nics[1].port_id, PORT_B);
        CHECK_STR_EQ(def.nics[1].mac, "fa:16:3e:00:00:02");
        CHECK_STR_EQ(def.network, "none");
        vm_def_clear(&def);
    }
    json_decref(b);
    round_trip("{\"name\":\"a\",\"image\":\"i\",\"network\":\"none\",\"nics\":[" NIC(
        PORT_A, "fa:16:3e:00:00:01") "]}");
}

static void test_request_rejects_nics(void)
{
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"nics\":{}}", "'nics'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"network\":\"user\",\"nics\":[" NIC(
               PORT_A, "fa:16:3e:00:00:01") "]}",
           "'network'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"nics\":[" NIC(PORT_A, "FA:16:3E:00:00:01") "]}",
           "nics[0]");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"nics\":[" NIC(PORT_A, "01:16:3e:00:00:01") "]}",
           "nics[0]");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"nics\":[" NIC("x;rm", "fa:16:3e:00:00:01") "]}",
           "nics[0]");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"nics\":[{\"port_id\":\"" PORT_A
           "\",\"network_id\":\"" NET_A "\",\"mac\":\"fa:16:3e:00:00:01\",\"x\":1}]}",
           "nics[0]");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"nics\":[" NIC(PORT_A, "fa:16:3e:00:00:01") "," NIC(
               PORT_A, "fa:16:3e:00:00:02") "]}",
           "nics[1]");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"nics\":[1,2,3,4,5,6,7,8,9]}", "'nics'");
}

static void test_request_rejects_keys(void)
{
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"ssh_keys\":[\"AAAAB3Nza\"]}", "ssh_keys[0]");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"ssh_keys\":[\"" KEY_A "\",\"rsa AAAA\"]}",
           "ssh_keys[1]");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"ssh_keys\":[\"" KEY_A "\",\"" KEY_B
           "\\nssh-rsa AAAA evil\"]}",
           "ssh_keys[1]");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"ssh_keys\":[\"ssh-rsa AAAA\\r\"]}", "ssh_keys[0]");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"ssh_keys\":[\"" KEY_A "\", 5]}", "ssh_keys[1]");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"ssh_keys\":\"" KEY_A "\"}", "'ssh_keys'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"ssh_keys\":[\"ssh-a\",\"ssh-a\",\"ssh-a\","
           "\"ssh-a\",\"ssh-a\",\"ssh-a\",\"ssh-a\",\"ssh-a\",\"ssh-a\"]}",
           "at most 8");
    /* a key too long, after a good one (which must be freed) */
    size_t n = 16385;
    char *longkey = malloc(n + 1);
    memset(longkey, 'A', n);
    memcpy(longkey, "ssh-rsa ", 8);
    longkey[n] = '\0';
    json_t *b =
        json_pack("{s:s, s:s, s:[s, s]}", "name", "a", "image", "i", "ssh_keys", KEY_A, longkey);
    free(longkey);
    expect_reject(b, "ssh_keys[1]", __LINE__);
}

static void test_request_rejects_user_data(void)
{
    size_t n = VM_USER_DATA_MAX + 1;
    char *big = malloc(n + 1);
    memset(big, 'x', n);
    big[n] = '\0';
    /* with keys before it, which must be freed */
    json_t *b = json_pack("{s:s, s:s, s:[s], s:s}", "name", "a", "image", "i", "ssh_keys", KEY_A,
                          "user_data", big);
    expect_reject(b, "'user_data'", __LINE__);
    /* exactly the limit is accepted */
    big[n - 1] = '\0';
    b = json_pack("{s:s, s:s, s:s}", "name", "a", "image", "i", "user_data", big);
    struct vm_def def;
    struct nubo_err err;
    if (CHECK_INT_EQ(vm_def_from_request(b, &def, &err), 0)) {
        CHECK_INT_EQ(strlen(def.user_data), VM_USER_DATA_MAX);
        vm_def_clear(&def);
    }
    json_decref(b);
    free(big);
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"ssh_keys\":[\"" KEY_A "\"],\"user_data\":5}",
           "'user_data'");
}

static void test_request_rejects_start(void)
{
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"start\":\"yes\"}", "'start'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"start\":1}", "'start'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"ssh_keys\":[\"" KEY_A "\"],"
           "\"user_data\":\"hi\",\"start\":\"true\"}",
           "'start'");
    json_t *b = body_of("{\"name\":\"a\",\"image\":\"i\",\"start\":false}");
    struct vm_def def;
    struct nubo_err err;
    CHECK_INT_EQ(vm_def_from_request(b, &def, &err), 0);
    json_decref(b);
}

/* ----------------------------------------------------------- vm.json */

static bool def_equal(const struct vm_def *a, const struct vm_def *b)
{
    bool eq = strcmp(a->id, b->id) == 0 && strcmp(a->name, b->name) == 0 &&
              strcmp(a->hostname, b->hostname) == 0 && a->vcpus == b->vcpus &&
              a->memory_mib == b->memory_mib && strcmp(a->image, b->image) == 0 &&
              a->root_size == b->root_size && a->ndisks == b->ndisks &&
              strcmp(a->network, b->network) == 0 && strcmp(a->mac, b->mac) == 0 &&
              a->nkeys == b->nkeys && strcmp(a->created_at, b->created_at) == 0 &&
              (a->user_data == NULL) == (b->user_data == NULL) &&
              (a->user_data == NULL || strcmp(a->user_data, b->user_data) == 0) &&
              a->nnics == b->nnics && a->no_config_drive == b->no_config_drive;
    for (int i = 0; eq && i < a->nnics; i++)
        eq = memcmp(&a->nics[i], &b->nics[i], sizeof(a->nics[i])) == 0;
    for (int i = 0; eq && i < a->ndisks; i++)
        eq = a->disks[i] == b->disks[i];
    for (int i = 0; eq && i < a->nkeys; i++)
        eq = strcmp(a->ssh_keys[i], b->ssh_keys[i]) == 0;
    return eq;
}

static void round_trip(const char *request)
{
    json_t *b = body_of(request);
    struct vm_def def, back;
    struct nubo_err err;
    if (!CHECK_INT_EQ(vm_def_from_request(b, &def, &err), 0)) {
        json_decref(b);
        return;
    }
    json_decref(b);
    json_t *j = vm_def_to_json(&def);
    /* through text, as vm.json is */
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);
    json_error_t je;
    j = json_loads(text, 0, &je);
    free(text);
    if (CHECK_INT_EQ(vm_def_from_json(j, &back, &err), 0)) {
        if (!CHECK(def_equal(&def, &back)))
            fprintf(stderr, "    round trip changed %s\n", request);
        vm_def_clear(&back);
    } else {
        fprintf(stderr, "    %s\n", err.msg);
    }
    json_decref(j);
    vm_def_clear(&def);
}

static void test_json_round_trip(void)
{
    round_trip("{\"name\":\"a\",\"image\":\"i\"}");
    round_trip("{\"name\":\"db-1\",\"hostname\":\"database\",\"vcpus\":64,\"memory\":\"1T\","
               "\"image\":\"debian-12\",\"root_disk\":\"16T\",\"disks\":[1,2,3,4,5,6,7,8],"
               "\"network\":\"user\",\"ssh_keys\":[\"" KEY_A "\",\"" KEY_B "\"],"
               "\"user_data\":\"#!/bin/sh\\necho \\\"hi\\\" > /dev/console\\n\",\"start\":true}");
    round_trip("{\"name\":\"u\",\"image\":\"i\",\"user_data\":\"\"}");
    round_trip("{\"name\":\"c\",\"image\":\"i\",\"config_drive\":false}");
}

static void test_request_config_drive(void)
{
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"config_drive\":\"no\"}", "'config_drive'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"config_drive\":0}", "'config_drive'");
    const char *cases[] = {"{\"name\":\"a\",\"image\":\"i\"}",
                           "{\"name\":\"a\",\"image\":\"i\",\"config_drive\":true}",
                           "{\"name\":\"a\",\"image\":\"i\",\"config_drive\":false}"};
    for (int i = 0; i < 3; i++) {
        json_t *b = body_of(cases[i]);
        struct vm_def def;
        struct nubo_err err;
        if (CHECK_INT_EQ(vm_def_from_request(b, &def, &err), 0)) {
            CHECK(def.no_config_drive == (i == 2));
            json_t *j = vm_def_to_json(&def);
            CHECK(json_is_true(json_object_get(j, "config_drive")) == (i != 2));
            json_decref(j);
            vm_def_clear(&def);
        }
        json_decref(b);
    }
}

/* Session tokens at the metadata service: "optional" (default) or
 * "required", kept in vm.json (absent there: optional). */
static void test_request_metadata_http_tokens(void)
{
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"metadata_http_tokens\":\"yes\"}",
           "'metadata_http_tokens'");
    REJECT("{\"name\":\"a\",\"image\":\"i\",\"metadata_http_tokens\":true}",
           "'metadata_http_tokens'");
    const char *cases[] = {
        "{\"name\":\"a\",\"image\":\"i\"}",
        "{\"name\":\"a\",\"image\":\"i\",\"metadata_http_tokens\":\"optional\"}",
        "{\"name\":\"a\",\"image\":\"i\",\"metadata_http_tokens\":\"required\"}"};
    for (int i = 0; i < 3; i++) {
        json_t *b = body_of(cases[i]);
        struct vm_def def, back;
        struct nubo_err err;
        if (CHECK_INT_EQ(vm_def_from_request(b, &def, &err), 0)) {
            CHECK(def.metadata_tokens_required == (i == 2));
            json_t *j = vm_def_to_json(&def);
            CHECK_STR_EQ(json_string_value(json_object_get(j, "metadata_http_tokens")),
                         i == 2 ? "required" : "optional");
            if (CHECK_INT_EQ(vm_def_from_json(j, &back, &err), 0)) {
                CHECK(back.metadata_tokens_required == (i == 2));
                vm_def_clear(&back);
            }
            json_object_del(j, "metadata_http_tokens");
            if (CHECK_INT_EQ(vm_def_from_json(j, &back, &err), 0)) {
                CHECK(!back.metadata_tokens_required);
                vm_def_clear(&back);
            }
            json_object_set_new(j, "metadata_http_tokens", json_string("sometimes"));
            CHECK_INT_EQ(vm_def_from_json(j, &back, &err), -1);
            json_decref(j);
            vm_def_clear(&def);
        }
        json_decref(b);
    }
}

static void test_json_shape(void)
{
    json_t *b = body_of("{\"name\":\"a\",\"image\":\"i\",\"disks\":[\"2G\"]}");
    struct vm_def def;
    struct nubo_err err;
    CHECK_INT_EQ(vm_def_from_request(b, &def, &err), 0);
    json_decref(b);
    json_t *j = vm_def_to_json(&def);
    CHECK_STR_EQ(json_string_value(json_object_get(j, "id")), def.id);
    CHECK_INT_EQ(json_integer_value(json_object_get(j, "memory_mib")), 256);
    CHECK_INT_EQ(json_integer_value(json_array_get(json_object_get(j, "disk_bytes"), 0)),
                 2LL << 30);
    CHECK(json_is_null(json_object_get(j, "user_data")));
    CHECK(json_is_array(json_object_get(j, "ssh_keys")));
    json_decref(j);

    /* the public view hides user data */
    struct vm *vm = calloc(1, sizeof(*vm));
    vm->def = def;
    vm->def.user_data = strdup("secret");
    vm->state = VM_RUNNING;
    vm->pid = 1234;
    j = vm_to_json(vm);
    CHECK(json_object_get(j, "user_data") == NULL);
    CHECK(json_is_true(json_object_get(j, "has_user_data")));
    CHECK_STR_EQ(json_string_value(json_object_get(j, "state")), "running");
    CHECK_INT_EQ(json_integer_value(json_object_get(j, "pid")), 1234);
    char *text = json_dumps(j, 0);
    CHECK(strstr(text, "secret") == NULL);
    free(text);
    json_decref(j);
    vm_free(vm);
}

/* A good vm.json "def" object, as text, with one field replaced. */
static json_t *damaged(const char *key, json_t *value)
{
    json_t *b = body_of("{\"name\":\"a\",\"image\":\"i\",\"ssh_keys\":[\"" KEY_A "\"],"
                        "\"user_data\":\"x\"}");
    struct vm_def def;
    struct nubo_err err;
    CHECK_INT_EQ(vm_def_from_request(b, &def, &err), 0);
    json_decref(b);
    json_t *j = vm_def_to_json(&def);
    vm_def_clear(&def);
    if (value)
        json_object_set_new(j, key, value);
    else
        json_object_del(j, key);
    return j;
}

static void expect_damaged(json_t *j, const char *what, int line)
{
    struct vm_def def;
    struct nubo_err err;
    nubo_err_clear(&err);
    if (!CHECK_INT_EQ(vm_def_from_json(j, &def, &err), -1)) {
        fprintf(stderr, "    (line %d) accepted damaged vm.json: %s\n", line, what);
        vm_def_clear(&def);
    } else {
        CHECK(err.code != NUBO_OK);
        CHECK_STR_HAS(err.msg, "vm.json");
        CHECK_INT_EQ(def.nkeys, 0);
        CHECK(def.user_data == NULL);
    }
    json_decref(j);
}

#define DAMAGED(key, value) expect_damaged(damaged((key), (value)), key, __LINE__)

static void test_json_damaged(void)
{
    DAMAGED("id", json_string("not-a-uuid"));
    DAMAGED("id", json_string("0F8FAD5B-D9CB-469F-A165-70867728950E"));
    DAMAGED("id", json_integer(5));
    DAMAGED("id", NULL);
    DAMAGED("name", NULL);
    DAMAGED("name", json_string("a;b"));
    DAMAGED("image", json_string("../x"));
    DAMAGED("hostname", NULL);
    DAMAGED("network", NULL);
    DAMAGED("mac", NULL);
    DAMAGED("created_at", NULL);
    DAMAGED("vcpus", NULL);
    DAMAGED("vcpus", json_integer(0));
    DAMAGED("vcpus", json_integer(65));
    DAMAGED("vcpus", json_string("2"));
    DAMAGED("memory_mib", json_integer(63));
    DAMAGED("memory_mib", json_integer(VM_MAX_MEMORY_MIB + 1));
    DAMAGED("memory_mib", json_integer(-1));
    DAMAGED("memory_mib", NULL);
    DAMAGED("disk_bytes", json_pack("[i, i]", 1 << 30, 0));
    DAMAGED("disk_bytes", json_pack("[s]", "1G"));
    DAMAGED("disk_bytes", json_pack("[i,i,i,i,i,i,i,i,i]", 1, 1, 1, 1, 1, 1, 1, 1, 1));
    /* attached volumes reach QEMU's command line as paths: UUIDs only */
    DAMAGED("volumes", json_pack("[s]", "../../etc/x"));
    DAMAGED("volumes", json_pack("[i]", 1));
    DAMAGED("volumes", json_pack("[s,s,s,s,s,s,s,s,s]", VM_VOL, VM_VOL, VM_VOL, VM_VOL, VM_VOL,
                                 VM_VOL, VM_VOL, VM_VOL, VM_VOL));
    DAMAGED("ssh_keys", json_pack("[s, i]", KEY_A, 5));
    DAMAGED("ssh_keys",
            json_pack("[s,s,s,s,s,s,s,s,s]", "k", "k", "k", "k", "k", "k", "k", "k", "k"));
    /* a name longer than the field */
    DAMAGED("name",
            json_string("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));

    struct vm_def def;
    struct nubo_err err;
    json_t *notobj = json_array();
    CHECK_INT_EQ(vm_def_from_json(notobj, &def, &err), -1);
    json_decref(notobj);
    CHECK_INT_EQ(vm_def_from_json(NULL, &def, &err), -1);
}

/* Damage that vm_def_from_json lets through although the request path
 * would never have produced it.  Values from vm.json reach QEMU's command
 * line (the hostname inside -netdev user,...,hostname=%s). */
static void test_json_damaged_unchecked(void)
{
    struct vm_def def;
    struct nubo_err err;
    struct {
        const char *key;
        json_t *value;
    } cases[] = {
        {"hostname", json_string("a,guestfwd=tcp:10.0.2.9:1-cmd:sh")},
        {"network", json_string("bridge")},
        {"mac", json_string("zz")},
        {"vcpus", json_integer(4294967297LL)}, /* 2^32 + 1: (int) makes it 1 */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = damaged(cases[i].key, cases[i].value);
        int r = vm_def_from_json(j, &def, &err);
        if (r == 0)
            vm_def_clear(&def);
        if (!CHECK(r == -1))
            fprintf(stderr, "    vm_def_from_json accepted a damaged '%s'\n", cases[i].key);
        json_decref(j);
    }
}

/* --------------------------------------------------------------- states */

static void test_state_names(void)
{
    static const struct {
        enum vm_state st;
        const char *name;
        bool process;
    } states[] = {
        {VM_STOPPED, "stopped", false},  {VM_STARTING, "starting", true},
        {VM_RUNNING, "running", true},   {VM_PAUSED, "paused", true},
        {VM_STOPPING, "stopping", true}, {VM_CRASHED, "crashed", false},
    };
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        CHECK_STR_EQ(vm_state_name(states[i].st), states[i].name);
        enum vm_state back = (enum vm_state)99;
        CHECK_INT_EQ(vm_state_parse(states[i].name, &back), 0);
        CHECK_INT_EQ(back, states[i].st);
        CHECK_INT_EQ(vm_state_has_process(states[i].st), states[i].process);
    }
    CHECK_STR_EQ(vm_state_name((enum vm_state)42), "unknown");
    enum vm_state st = VM_RUNNING;
    CHECK_INT_EQ(vm_state_parse("unknown", &st), -1);
    CHECK_INT_EQ(vm_state_parse("Running", &st), -1);
    CHECK_INT_EQ(vm_state_parse("", &st), -1);
    CHECK_INT_EQ(vm_state_parse(NULL, &st), -1);
    CHECK_INT_EQ(st, VM_RUNNING);
}

CHECK_MAIN(TEST(test_request_defaults), TEST(test_request_all_fields),
           TEST(test_request_memory_forms), TEST(test_request_rejects_fields),
           TEST(test_request_rejects_names), TEST(test_request_rejects_vcpus),
           TEST(test_request_rejects_memory), TEST(test_request_rejects_disks),
           TEST(test_request_rejects_network), TEST(test_request_nics),
           TEST(test_request_rejects_nics), TEST(test_request_rejects_keys),
           TEST(test_request_rejects_user_data), TEST(test_request_rejects_start),
           TEST(test_request_config_drive), TEST(test_request_metadata_http_tokens),
           TEST(test_json_round_trip), TEST(test_json_shape), TEST(test_json_damaged),
           TEST(test_json_damaged_unchecked), TEST(test_state_names))
