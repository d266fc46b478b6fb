/*
 * test_hosts.c - the host registry (src/ctrl/hosts.c) against a real
 * SQLite store in a scratch directory: addresses, registration with the
 * join token, token rotation, heartbeats copying VM states into instances,
 * listing and deleting hosts.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fleet/fleet.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/fsutil.h"
#include "store/store.h"

static char dir[] = "/tmp/nubo-test-hosts-XXXXXX";
static struct store *st;
static const char join[] = "nubojoin_unit-test-token";

static void setup(void)
{
    struct nubo_err err;
    if (mkdtemp(dir) == NULL || crypto_init(&err) < 0)
        abort();
    char path[128], hash[CRYPTO_SHA256_HEX];
    snprintf(path, sizeof(path), "%s/nubo.db", dir);
    st = store_open(path, &err);
    if (st == NULL)
        abort();
    crypto_sha256_hex(join, strlen(join), hash);
    store_exec(st, &err,
               "INSERT INTO join_tokens (hash, id, kind, expires_ms, created_at)"
               " VALUES (?, 'unit', 'minted', ?, 'now')",
               "si", hash, (long long)clock_now_ms() + 3600000);
    store_exec(st, &err,
               "INSERT INTO projects (id, name, created_at) VALUES"
               " ('00000000-0000-0000-0000-00000000000p', 'p', 'now')",
               "");
}

static void teardown(void)
{
    store_close(st);
    fs_rm_rf(dir, NULL);
}

static json_t *reg_body(const char *token, const char *name, const char *address)
{
    return json_pack("{s:s, s:s, s:s, s:{s:i, s:i, s:i}, s:s, s:s}", "join_token", token, "name",
                     name, "address", address, "capacity", "vcpus", 8, "ram_mib", 4096, "disk_gib",
                     100, "accel", "tcg", "driver", "qemu");
}

static void test_address(void)
{
    struct nubo_err err;
    CHECK(fleet_host_address_valid("unix:/run/nubo/hostd.sock", &err) == 0);
    CHECK(fleet_host_address_valid("http://10.0.0.5:7001", &err) == 0);
    CHECK(fleet_host_address_valid("http://[::1]:7001", &err) == 0);
    CHECK(fleet_host_address_valid("http://host-1.example:80", &err) == 0);
    CHECK(fleet_host_address_valid(NULL, &err) < 0);
    CHECK(fleet_host_address_valid("unix:relative.sock", &err) < 0);
    CHECK(fleet_host_address_valid("http://nohost", &err) < 0);
    CHECK(fleet_host_address_valid("http://h:0", &err) < 0);
    CHECK(fleet_host_address_valid("http://h:65536", &err) < 0);
    CHECK(fleet_host_address_valid("http://h:80/path", &err) < 0);
    CHECK(fleet_host_address_valid("http://h$(id):80", &err) < 0);
    CHECK(fleet_host_address_valid("https://h:443", &err) < 0);
    CHECK(fleet_host_address_valid("unix:/a b", &err) < 0);
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath));
    memcpy(longpath, "unix:/", 6);
    longpath[sizeof(longpath) - 1] = '\0';
    CHECK(fleet_host_address_valid(longpath, &err) < 0);
}

static void test_register(void)
{
    struct nubo_err err;
    json_t *b = reg_body("nubojoin_wrong", "h1", "unix:/x.sock");
    CHECK(fleet_host_register(st, b, &err) == NULL);
    CHECK_INT_EQ(err.code, NUBO_E_UNAUTHORIZED);
    json_decref(b);

    b = reg_body(join, "bad name", "unix:/x.sock");
    CHECK(fleet_host_register(st, b, &err) == NULL);
    CHECK_INT_EQ(err.code, NUBO_E_INVALID);
    json_decref(b);

    b = reg_body(join, "h1", "unix:/x.sock");
    json_t *a = fleet_host_register(st, b, &err);
    if (!CHECK(a != NULL))
        return;
    const char *id = json_string_value(json_object_get(a, "host_id"));
    const char *tok = json_string_value(json_object_get(a, "host_token"));
    CHECK(strncmp(tok, "nubohost_", 9) == 0 && strlen(tok) == 9 + 43);
    /* stored only as a hash */
    json_t *row =
        store_query_one(st, &err, "SELECT token_hash, state FROM hosts WHERE id = ?", "s", id);
    char hash[CRYPTO_SHA256_HEX];
    crypto_sha256_hex(tok, strlen(tok), hash);
    CHECK_STR_EQ(json_string_value(json_object_get(row, "token_hash")), hash);
    CHECK_STR_EQ(json_string_value(json_object_get(row, "state")), "up");
    json_decref(row);

    /* again under the same name with the join token alone: refused,
     * nothing changed (issue 13) */
    json_decref(b);
    b = reg_body(join, "h1", "http://10.1.1.1:7001");
    nubo_err_clear(&err);
    CHECK(fleet_host_register(st, b, &err) == NULL);
    CHECK_INT_EQ(err.code, NUBO_E_CONFLICT);
    CHECK_STR_HAS(err.msg, "reset-credential");
    json_t *h = fleet_host_get(st, "h1", &err);
    CHECK_STR_EQ(json_string_value(json_object_get(h, "address")), "unix:/x.sock");
    json_decref(h);
    /* with its own token: same id, same token, new address */
    json_object_set_new(b, "host_token", json_string(tok));
    json_t *again = fleet_host_register(st, b, &err);
    if (CHECK(again != NULL)) {
        CHECK_STR_EQ(json_string_value(json_object_get(again, "host_id")), id);
        CHECK_STR_EQ(json_string_value(json_object_get(again, "host_token")), tok);
    }
    h = fleet_host_get(st, "h1", &err);
    CHECK_STR_EQ(json_string_value(json_object_get(h, "address")), "http://10.1.1.1:7001");
    json_decref(h);
    json_decref(again);
    /* an admin's reset: one registration with the join token alone */
    json_object_del(b, "host_token");
    h = fleet_host_reset_credential(st, "h1", &err);
    CHECK(h != NULL);
    json_decref(h);
    again = fleet_host_register(st, b, &err);
    if (CHECK(again != NULL)) {
        CHECK_STR_EQ(json_string_value(json_object_get(again, "host_id")), id);
        CHECK(strcmp(json_string_value(json_object_get(again, "host_token")), tok) != 0);
    }
    json_decref(again);
    CHECK(fleet_host_register(st, b, &err) == NULL);
    CHECK_INT_EQ(err.code, NUBO_E_CONFLICT);
    json_decref(a);
    json_decref(b);
    CHECK(fleet_host_delete(st, "h1", &err) == 0);
    CHECK(fleet_host_get(st, "h1", &err) == NULL);
    CHECK_INT_EQ(err.code, NUBO_E_NOTFOUND);
}

static void add_instance(const char *id, const char *host, const char *status)
{
    struct nubo_err err;
    store_exec(st, &err,
               "INSERT INTO instances (id, project_id, name, flavor_id, image_id, vcpus, ram_mib,"
               " disk_gib, host_id, status, desired, created_at, updated_at) VALUES"
               " (?, '00000000-0000-0000-0000-00000000000p', ?, 'f', 'i', 1, 192, 1, ?, ?,"
               " 'running', 'now', 'now')",
               "ssss", id, id, host, status);
}

static const char *power(const char *id, long long *boots)
{
    static char ps[32];
    struct nubo_err err;
    json_t *r =
        store_query_one(st, &err, "SELECT power_state, boots FROM instances WHERE id = ?", "s", id);
    snprintf(ps, sizeof(ps), "%s", r ? json_string_value(json_object_get(r, "power_state")) : "?");
    if (boots)
        *boots = r ? json_integer_value(json_object_get(r, "boots")) : -1;
    json_decref(r);
    return ps;
}

static void test_heartbeat(void)
{
    struct nubo_err err;
    json_t *b = reg_body(join, "h2", "unix:/h2.sock");
    json_t *a = fleet_host_register(st, b, &err);
    json_decref(b);
    if (!CHECK(a != NULL))
        return;
    const char *id = json_string_value(json_object_get(a, "host_id"));
    const char *i1 = "11111111-1111-1111-1111-111111111111";
    const char *i2 = "22222222-2222-2222-2222-222222222222";
    const char *i3 = "33333333-3333-3333-3333-333333333333";
    add_instance(i1, id, "building");
    add_instance(i2, id, "rebooting");
    add_instance(i3, id, "running");
    json_t *hb = json_pack(
        "{s:{s:i, s:i, s:i}, s:s, s:s, s:[{s:s, s:s, s:s, s:i}, {s:s, s:s, s:s, s:i},"
        " {s:s, s:s, s:s, s:i}]}",
        "capacity", "vcpus", 16, "ram_mib", 8192, "disk_gib", 50, "accel", "tcg", "driver", "qemu",
        "vms", "name", "nubo-11111111-1111-1111-1111-111111111111", "state", "running", "reason",
        "started", "boots", 1, "name", "nubo-22222222-2222-2222-2222-222222222222", "state",
        "running", "reason", "reset", "boots", 5, "name", "hand-made", "state", "stopped", "reason",
        "", "boots", 0);
    int changed = 0;
    json_t *out = fleet_host_heartbeat(st, id, hb, &changed, &err);
    CHECK(out != NULL);
    CHECK(changed);
    json_decref(out);
    long long boots;
    CHECK_STR_EQ(power(i1, &boots), "running");
    CHECK_INT_EQ(boots, 1);
    CHECK_STR_EQ(power(i2, &boots), "running");
    CHECK_INT_EQ(boots, 0); /* frozen while a reboot is awaited */
    CHECK_STR_EQ(power(i3, NULL), "none");

    /* the same again: nothing moved */
    out = fleet_host_heartbeat(st, id, hb, &changed, &err);
    CHECK(out != NULL && !changed);
    json_decref(out);

    /* capacity and the report are stored */
    json_t *h = fleet_host_get(st, id, &err);
    CHECK_INT_EQ(json_integer_value(json_object_get(h, "vcpus")), 16);
    CHECK_INT_EQ(json_integer_value(json_object_get(h, "instances")), 3);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(h, "used"), "ram_mib")),
                 3 * 192);
    CHECK_INT_EQ(json_array_size(json_object_get(h, "vms")), 3);
    json_decref(h);

    /* a host with instances cannot go */
    CHECK(fleet_host_delete(st, id, &err) < 0);
    CHECK_INT_EQ(err.code, NUBO_E_CONFLICT);

    /* bad bodies change nothing */
    json_object_set_new(hb, "vms", json_string("nope"));
    CHECK(fleet_host_heartbeat(st, id, hb, &changed, &err) == NULL);
    CHECK_INT_EQ(err.code, NUBO_E_INVALID);
    /* an unknown host must register again */
    json_object_set_new(hb, "vms", json_array());
    CHECK(fleet_host_heartbeat(st, "99999999-9999-9999-9999-999999999999", hb, &changed, &err) ==
          NULL);
    CHECK_INT_EQ(err.code, NUBO_E_UNAUTHORIZED);
    json_decref(hb);
    json_decref(a);
}

static void test_list_paging(void)
{
    struct nubo_err err;
    json_t *all = fleet_host_list(st, 1000, NULL, &err);
    if (!CHECK(all != NULL))
        return;
    size_t n = json_array_size(all);
    CHECK(n >= 1);
    json_t *page = fleet_host_list(st, 1, NULL, &err);
    CHECK_INT_EQ(json_array_size(page), n > 1 ? 2 : 1); /* limit + 1 for the pager */
    json_decref(page);
    json_decref(all);
}

CHECK_MAIN_FIXTURE(setup, teardown, TEST(test_address), TEST(test_register), TEST(test_heartbeat),
                   TEST(test_list_paging))
