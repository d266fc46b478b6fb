/*
 * test_compute.c - compute's instance transitions (src/compute/
 * transition.c) against a real SQLite store in a scratch directory: each
 * transition's compare-and-set (lost when the row moved on meanwhile), the
 * usage records, events and tasks it writes in its one transaction (an
 * injected failure of the usage record rolls all of it back), heartbeat
 * observations, host down, host and project removal, and the usage query
 * the quota check takes.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing.h"
#include "check.h"
#include "compute/compute.h"
#include "lib/crypto.h"
#include "lib/fsutil.h"
#include "lib/clock.h"
#include "lib/strv.h"
#include "store/store.h"

#define PROJECT "00000000-0000-0000-0000-00000000000a"
#define OTHER "00000000-0000-0000-0000-00000000000b"
#define HOST "00000000-0000-0000-0000-0000000000h1"

static char dir[] = "/tmp/nubo-test-compute-XXXXXX";
static struct store *st;

static void setup(void)
{
    struct nubo_err err;
    if (mkdtemp(dir) == NULL || crypto_init(&err) < 0)
        abort();
    char path[128];
    snprintf(path, sizeof(path), "%s/nubo.db", dir);
    st = store_open(path, &err);
    if (st == NULL)
        abort();
    if (store_exec(st, &err,
                   "INSERT INTO projects (id, name, created_at) VALUES (?, 'a', 'now'),"
                   " (?, 'b', 'now')",
                   "ss", PROJECT, OTHER) < 0 ||
        store_exec(st, &err,
                   "INSERT INTO hosts (id, name, address, token_hash, state, last_heartbeat_ms,"
                   " created_at) VALUES (?, 'h1', 'unix:/x.sock', 'x', 'up', 1000, 'now')",
                   "s", HOST) < 0 ||
        store_exec(st, &err,
                   "INSERT INTO flavors (id, name, vcpus, ram_mib, disk_gib, is_public,"
                   " created_at) VALUES ('f1', 'small', 1, 256, 2, 1, 'now')",
                   "") < 0)
        abort();
}

static void teardown(void)
{
    store_close(st);
    fs_rm_rf(dir, NULL);
}

/* The id of test instance n (a UUID, as VM names need). */
static const char *iid(int n)
{
    static char ids[8][37];
    static int next;
    char *id = ids[next++ % 8];
    snprintf(id, 37, "00000000-0000-0000-0000-%012d", n);
    return id;
}

/* Inserts an instance as the API would have left it, metered. */
static void add(const char *id, const char *project, const char *host, const char *status,
                const char *desired, long long vcpus)
{
    struct nubo_err err;
    if (store_exec(st, &err,
                   "INSERT INTO instances (id, project_id, name, flavor_id, image_id, vcpus,"
                   " ram_mib, disk_gib, host_id, status, desired, created_at, updated_at)"
                   " VALUES (?, ?, ?, 'f1', 'i', ?, 256, 2, ?, ?, ?, 'now', 'now')",
                   "sssisss", id, project, id, vcpus, host, status, desired) < 0 ||
        billing_instance_meter(st, id, &err) < 0)
        fprintf(stderr, "add %s: %s\n", id, err.msg);
}

static void add_task(const char *id, const char *kind)
{
    struct nubo_err err;
    char task[37];
    if (compute_task_create(st, PROJECT, id, kind, NULL, task, &err) < 0)
        fprintf(stderr, "task %s: %s\n", kind, err.msg);
}

/* A column of an instance row ("" when null, "?" when there is no row). */
static const char *col(const char *id, const char *column)
{
    static char v[256];
    struct nubo_err err;
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT %s AS v FROM instances WHERE id = ?", column);
    json_t *r = store_query_one(st, &err, sql, "s", id);
    json_t *x = json_object_get(r, "v");
    if (r == NULL)
        snprintf(v, sizeof(v), "?");
    else if (json_is_integer(x))
        snprintf(v, sizeof(v), "%lld", (long long)json_integer_value(x));
    else
        snprintf(v, sizeof(v), "%s", json_is_string(x) ? json_string_value(x) : "");
    json_decref(r);
    return v;
}

/* The status of the instance's task of kind ("" when none), and its error. */
static const char *task(const char *id, const char *kind, const char **error)
{
    static char s[32], e[256];
    struct nubo_err err;
    json_t *r = store_query_one(st, &err,
                                "SELECT status, error FROM tasks WHERE instance_id = ? AND"
                                " kind = ? ORDER BY created_at DESC",
                                "ss", id, kind);
    snprintf(s, sizeof(s), "%s", r ? json_string_value(json_object_get(r, "status")) : "");
    const char *x = json_string_value(json_object_get(r, "error"));
    snprintf(e, sizeof(e), "%s", x ? x : "");
    if (error)
        *error = e;
    json_decref(r);
    return s;
}

/* How many events the instance has named event (with detail when not NULL). */
static long long events(const char *id, const char *event, const char *detail)
{
    struct nubo_err err;
    json_t *r = store_query_one(st, &err,
                                "SELECT COUNT(*) AS n FROM instance_events WHERE instance_id = ?"
                                " AND event = ? AND (? IS NULL OR detail = ?)",
                                "ssss", id, event, detail, detail);
    long long n = json_integer_value(json_object_get(r, "n"));
    json_decref(r);
    return n;
}

/* Whether the instance has an open usage record of meter (1/0). */
static long long open_record(const char *id, const char *meter)
{
    struct nubo_err err;
    json_t *r = store_query_one(st, &err,
                                "SELECT COUNT(*) AS n FROM usage_records WHERE resource_id = ?"
                                " AND meter = ? AND end_ms IS NULL",
                                "ss", id, meter);
    long long n = json_integer_value(json_object_get(r, "n"));
    json_decref(r);
    return n;
}

/* ------------------------------------------------------------ reached */

static void test_reached_running(void)
{
    struct nubo_err err;
    const char *id = iid(1), *e;
    add(id, PROJECT, HOST, "building", "running", 1);
    add_task(id, "create");
    add_task(id, "stop");
    CHECK_INT_EQ(open_record(id, "disk"), 1);
    CHECK_INT_EQ(open_record(id, "instance"), 0);
    store_exec(st, &err, "UPDATE instances SET fault = 'old' WHERE id = ?", "s", id);
    CHECK_INT_EQ(compute_instance_reached(st, id, "building", "running", "running", -1, "h1", &err),
                 1);
    CHECK_STR_EQ(col(id, "status"), "running");
    CHECK_STR_EQ(col(id, "fault"), "");
    CHECK_INT_EQ(open_record(id, "instance"), 1);
    CHECK_INT_EQ(open_record(id, "disk"), 1);
    CHECK_INT_EQ(events(id, "running", "on host h1"), 1);
    CHECK_STR_EQ(task(id, "create", NULL), "succeeded");
    CHECK_STR_EQ(task(id, "stop", &e), "failed");
    CHECK_STR_EQ(e, "the instance was started again");
    /* already there: nothing more */
    CHECK_INT_EQ(compute_instance_reached(st, id, "running", "running", "running", -1, "h1", &err),
                 0);
    CHECK_INT_EQ(events(id, "running", NULL), 1);
}

/* The API changed the instance after the pass read it: the API wins. */
static void test_reached_cas_lost(void)
{
    struct nubo_err err;
    const char *id = iid(2);
    add(id, PROJECT, HOST, "building", "running", 1);
    add_task(id, "create");
    /* meanwhile: a delete */
    store_exec(st, &err,
               "UPDATE instances SET status = 'deleting', desired = 'deleted' WHERE id = ?", "s",
               id);
    CHECK_INT_EQ(compute_instance_reached(st, id, "building", "running", "running", -1, "h1", &err),
                 0);
    CHECK_STR_EQ(col(id, "status"), "deleting");
    CHECK_INT_EQ(events(id, "running", NULL), 0);
    CHECK_STR_EQ(task(id, "create", NULL), "pending");
    CHECK_INT_EQ(open_record(id, "instance"), 0);
    /* status unchanged but desired changed: lost too */
    const char *id2 = iid(3);
    add(id2, PROJECT, HOST, "building", "stopped", 1);
    CHECK_INT_EQ(
        compute_instance_reached(st, id2, "building", "running", "running", -1, "h1", &err), 0);
    CHECK_STR_EQ(col(id2, "status"), "building");
}

static void test_reached_rebooted_and_back(void)
{
    struct nubo_err err;
    const char *id = iid(4);
    add(id, PROJECT, HOST, "rebooting", "running", 1);
    add_task(id, "reboot");
    CHECK_INT_EQ(compute_instance_reached(st, id, "rebooting", "running", "running", 7, "h1", &err),
                 1);
    CHECK_STR_EQ(col(id, "boots"), "7");
    CHECK_INT_EQ(events(id, "rebooted", "on host h1"), 1);
    CHECK_STR_EQ(task(id, "reboot", NULL), "succeeded");

    const char *id2 = iid(5);
    add(id2, PROJECT, HOST, "unknown", "running", 1);
    CHECK_INT_EQ(compute_instance_reached(st, id2, "unknown", "running", "running", -1, "h1", &err),
                 1);
    CHECK_INT_EQ(events(id2, "running", "host h1 is back"), 1);
    CHECK_STR_EQ(col(id2, "boots"), "0");
}

static void test_reached_stopped(void)
{
    struct nubo_err err;
    const char *id = iid(6), *e;
    add(id, PROJECT, HOST, "running", "running", 1);
    store_exec(st, &err,
               "UPDATE instances SET status = 'stopping', desired = 'stopped' WHERE id = ?", "s",
               id);
    billing_instance_meter(st, id, &err);
    add_task(id, "stop");
    add_task(id, "reboot");
    CHECK_INT_EQ(open_record(id, "instance"), 1);
    CHECK_INT_EQ(compute_instance_reached(st, id, "stopping", "stopped", "stopped", -1, "h1", &err),
                 1);
    CHECK_STR_EQ(col(id, "status"), "stopped");
    CHECK_INT_EQ(open_record(id, "instance"), 0); /* running time closed */
    CHECK_INT_EQ(open_record(id, "disk"), 1);     /* the disk still counts */
    CHECK_INT_EQ(events(id, "stopped", "on host h1"), 1);
    CHECK_STR_EQ(task(id, "stop", NULL), "succeeded");
    CHECK_STR_EQ(task(id, "reboot", &e), "failed");
    CHECK_STR_EQ(e, "the instance was stopped again");
}

/* The usage record is part of the transition's transaction: when it
 * cannot be written, the status, the events and the tasks stay as they
 * were. */
static void test_reached_atomic(void)
{
    struct nubo_err err;
    const char *id = iid(7);
    add(id, PROJECT, HOST, "building", "running", 1);
    add_task(id, "create");
    CHECK(store_exec_script(st,
                            "CREATE TRIGGER fail_usage BEFORE INSERT ON usage_records"
                            " BEGIN SELECT RAISE(ABORT, 'injected'); END;",
                            &err) == 0);
    CHECK_INT_EQ(compute_instance_reached(st, id, "building", "running", "running", -1, "h1", &err),
                 -1);
    CHECK_STR_EQ(col(id, "status"), "building");
    CHECK_INT_EQ(events(id, "running", NULL), 0);
    CHECK_STR_EQ(task(id, "create", NULL), "pending");
    CHECK_INT_EQ(open_record(id, "instance"), 0);
    CHECK(store_exec_script(st, "DROP TRIGGER fail_usage;", &err) == 0);
    /* and the next pass gets it through */
    CHECK_INT_EQ(compute_instance_reached(st, id, "building", "running", "running", -1, "h1", &err),
                 1);
    CHECK_INT_EQ(open_record(id, "instance"), 1);
    CHECK_INT_EQ(events(id, "running", NULL), 1);
}

/* -------------------------------------------------- error and refusals */

static void test_error(void)
{
    struct nubo_err err;
    const char *id = iid(8), *e;
    add(id, PROJECT, HOST, "building", "running", 1);
    add_task(id, "create");
    CHECK_INT_EQ(open_record(id, "disk"), 1);
    CHECK_INT_EQ(compute_instance_error(st, id, "building", "running", "create failed",
                                        "no such image", "create,start", &err),
                 1);
    CHECK_STR_EQ(col(id, "status"), "error");
    CHECK_STR_EQ(col(id, "fault"), "no such image");
    CHECK_INT_EQ(open_record(id, "disk"), 0); /* error is not billed */
    CHECK_INT_EQ(events(id, "create failed", "no such image"), 1);
    CHECK_STR_EQ(task(id, "create", &e), "failed");
    CHECK_STR_EQ(e, "no such image");
    /* once more with the old read: lost, nothing added */
    CHECK_INT_EQ(compute_instance_error(st, id, "building", "running", "create failed", "again",
                                        "create,start", &err),
                 0);
    CHECK_INT_EQ(events(id, "create failed", NULL), 1);
    CHECK_STR_EQ(col(id, "fault"), "no such image");
    /* without tasks to finish (a crashed member of a scaling group) */
    const char *id2 = iid(9);
    add(id2, PROJECT, HOST, "running", "running", 1);
    add_task(id2, "reboot");
    CHECK_INT_EQ(
        compute_instance_error(st, id2, "running", "running", "VM crashed", "oops", NULL, &err), 1);
    CHECK_STR_EQ(task(id2, "reboot", NULL), "pending");
    CHECK_INT_EQ(events(id2, "VM crashed", "oops"), 1);
}

static void test_refused(void)
{
    struct nubo_err err;
    const char *id = iid(10), *e;
    add(id, PROJECT, HOST, "stopped", "running", 1);
    add_task(id, "start");
    CHECK_INT_EQ(compute_instance_refused(st, id, "start", "start", "no memory", &err), 1);
    CHECK_STR_EQ(col(id, "status"), "stopped");
    CHECK_INT_EQ(events(id, "start failed", "no memory"), 1);
    CHECK_STR_EQ(task(id, "start", &e), "failed");
    CHECK_STR_EQ(e, "no memory");
}

static void test_reboot(void)
{
    struct nubo_err err;
    const char *id = iid(11), *e;
    add(id, PROJECT, HOST, "rebooting", "running", 1);
    add_task(id, "reboot");
    /* the boots before the reboot, while the status is what was read */
    CHECK_INT_EQ(compute_instance_boots(st, id, "running", 3, &err), 0);
    CHECK_STR_EQ(col(id, "boots"), "0");
    CHECK_INT_EQ(compute_instance_boots(st, id, "rebooting", 3, &err), 1);
    CHECK_STR_EQ(col(id, "boots"), "3");
    CHECK_INT_EQ(compute_instance_reboot_sent(st, id, "h1", &err), 1);
    CHECK_STR_EQ(task(id, "reboot", NULL), "running");
    CHECK_INT_EQ(events(id, "reboot requested", "h1"), 1);
    /* a refused reboot: back to running, task failed */
    CHECK_INT_EQ(compute_instance_reboot_failed(st, id, "guest hung", &err), 1);
    CHECK_STR_EQ(col(id, "status"), "running");
    CHECK_STR_EQ(task(id, "reboot", &e), "failed");
    CHECK_STR_EQ(e, "guest hung");
    CHECK_INT_EQ(events(id, "reboot failed", "guest hung"), 1);
    CHECK_INT_EQ(open_record(id, "instance"), 1);
    /* not rebooting any more: the event is recorded, the status stays */
    CHECK_INT_EQ(compute_instance_reboot_failed(st, id, "again", &err), 0);
    CHECK_STR_EQ(col(id, "status"), "running");
    CHECK_INT_EQ(events(id, "reboot failed", "again"), 1);
}

static void test_power(void)
{
    struct nubo_err err;
    const char *id = iid(12);
    add(id, PROJECT, HOST, "running", "running", 1);
    CHECK_INT_EQ(compute_instance_power(st, id, "running", 2, &err), 1);
    CHECK_STR_EQ(col(id, "power_state"), "running");
    CHECK_STR_EQ(col(id, "boots"), "2");
    CHECK_INT_EQ(compute_instance_power(st, id, "running", 2, &err), 0);
    CHECK_INT_EQ(compute_instance_power(st, id, "paused", 2, &err), 1);
    CHECK_STR_EQ(col(id, "power_state"), "paused");
    CHECK_STR_EQ(col(id, "status"), "running"); /* an observation moves no status */
}

static void test_deleted(void)
{
    struct nubo_err err;
    const char *id = iid(13), *e;
    add(id, PROJECT, HOST, "running", "running", 1);
    add_task(id, "start");
    /* desired is not deleted: nothing */
    CHECK_INT_EQ(compute_instance_deleted(st, id, "h1", &err), 0);
    CHECK_STR_EQ(col(id, "status"), "running");
    store_exec(st, &err,
               "UPDATE instances SET status = 'deleting', desired = 'deleted' WHERE id = ?", "s",
               id);
    add_task(id, "delete");
    CHECK_INT_EQ(compute_instance_deleted(st, id, "h1", &err), 1);
    CHECK_STR_EQ(col(id, "status"), "deleted");
    CHECK_STR_EQ(col(id, "power_state"), "none");
    CHECK(strcmp(col(id, "deleted_at"), "") != 0);
    CHECK_INT_EQ(open_record(id, "instance"), 0);
    CHECK_INT_EQ(open_record(id, "disk"), 0);
    CHECK_INT_EQ(events(id, "deleted", "h1"), 1);
    CHECK_STR_EQ(task(id, "delete", NULL), "succeeded");
    CHECK_STR_EQ(task(id, "start", &e), "failed");
    CHECK_STR_EQ(e, "the instance was deleted");
    /* twice: nothing more */
    CHECK_INT_EQ(compute_instance_deleted(st, id, "h1", &err), 0);
    CHECK_INT_EQ(events(id, "deleted", NULL), 1);
}

/* ------------------------------------------------------ hosts, projects */

static void test_observe(void)
{
    struct nubo_err err;
    const char *a = iid(20), *b = iid(21), *c = iid(22);
    add(a, OTHER, HOST, "running", "running", 1);
    add(b, OTHER, HOST, "rebooting", "running", 1);
    add(c, OTHER, HOST, "running", "running", 1);
    compute_instance_power(st, c, "running", 1, &err);
    char na[64], nb[64], orphan[64];
    snprintf(na, sizeof(na), COMPUTE_VM_PREFIX "%s", a);
    snprintf(nb, sizeof(nb), COMPUTE_VM_PREFIX "%s", b);
    snprintf(orphan, sizeof(orphan), COMPUTE_VM_PREFIX "%s", iid(29));
    json_t *vms = json_pack("[{s:s, s:s, s:i}, {s:s, s:s, s:i}, {s:s, s:s, s:i}]", "name", na,
                            "state", "running", "boots", 4, "name", nb, "state", "running", "boots",
                            9, "name", "not-ours", "state", "running", "boots", 1);
    int changed = 0;
    CHECK_INT_EQ(compute_instances_observe(st, HOST, vms, &changed, &err), 0);
    CHECK(changed);
    CHECK_STR_EQ(col(a, "power_state"), "running");
    CHECK_STR_EQ(col(a, "boots"), "4");
    CHECK_STR_EQ(col(b, "power_state"), "running");
    CHECK_STR_EQ(col(b, "boots"), "0"); /* kept while rebooting */
    CHECK_STR_EQ(col(c, "power_state"), "none");
    /* the same report again: nothing moved */
    changed = 0;
    CHECK_INT_EQ(compute_instances_observe(st, HOST, vms, &changed, &err), 0);
    CHECK(!changed);
    /* a VM of ours that no instance wants: the reconciler should look */
    json_array_append_new(
        vms, json_pack("{s:s, s:s, s:i}", "name", orphan, "state", "running", "boots", 1));
    CHECK_INT_EQ(compute_instances_observe(st, HOST, vms, &changed, &err), 0);
    CHECK(changed);
    json_decref(vms);
}

static void test_host_down_and_unplace(void)
{
    struct nubo_err err;
    const char *host2 = "00000000-0000-0000-0000-0000000000h2";
    store_exec(st, &err,
               "INSERT INTO hosts (id, name, address, token_hash, state, last_heartbeat_ms,"
               " created_at) VALUES (?, 'h2', 'unix:/y.sock', 'y', 'up', 500, 'now')",
               "s", host2);
    const char *a = iid(30), *b = iid(31), *c = iid(32), *d = iid(33);
    add(a, OTHER, host2, "running", "running", 1);
    add(b, OTHER, host2, "error", "running", 1);
    add(c, OTHER, host2, "deleting", "deleted", 1);
    add(d, OTHER, host2, "stopped", "stopped", 1);
    CHECK(store_begin(st, true, &err) == 0);
    CHECK_INT_EQ(compute_instances_host_down(st, host2, "h2", &err), 2);
    CHECK(store_commit(st, &err) == 0);
    CHECK_STR_EQ(col(a, "status"), "unknown");
    CHECK_STR_EQ(col(d, "status"), "unknown");
    CHECK_STR_EQ(col(b, "status"), "error");
    CHECK_STR_EQ(col(c, "status"), "deleting");
    CHECK_INT_EQ(events(a, "host down", "h2"), 1);
    CHECK_INT_EQ(events(b, "host down", NULL), 0);
    /* the running time stays open but remembers the last heartbeat */
    json_t *r = store_query_one(st, &err,
                                "SELECT unknown_since_ms FROM usage_records WHERE resource_id = ?"
                                " AND meter = 'instance' AND end_ms IS NULL",
                                "s", a);
    CHECK_INT_EQ(json_integer_value(json_object_get(r, "unknown_since_ms")), 500);
    json_decref(r);
    /* twice: they are unknown already */
    CHECK(store_begin(st, true, &err) == 0);
    CHECK_INT_EQ(compute_instances_host_down(st, host2, "h2", &err), 0);
    CHECK(store_commit(st, &err) == 0);

    /* removing the host: refused while instances live there */
    CHECK(store_begin(st, true, &err) == 0);
    CHECK_INT_EQ(compute_instances_unplace(st, host2, "h2", &err), -1);
    CHECK_INT_EQ(err.code, NUBO_E_CONFLICT);
    CHECK_STR_HAS(err.msg, "host 'h2' still has 4 instance(s)");
    store_rollback(st);
    store_exec(st, &err, "UPDATE instances SET status = 'deleted' WHERE host_id = ?", "s", host2);
    CHECK(store_begin(st, true, &err) == 0);
    CHECK_INT_EQ(compute_instances_unplace(st, host2, "h2", &err), 0);
    CHECK(store_exec(st, &err, "DELETE FROM hosts WHERE id = ?", "s", host2) == 1);
    CHECK(store_commit(st, &err) == 0);
    CHECK_STR_EQ(col(a, "host_id"), "");
    CHECK_STR_EQ(col(a, "status"), "deleted"); /* history kept */
}

/* A dead host force-removed (issue 22 item 5): every instance there that
 * is not deleted is deleted, an unknown one's running time ending at the
 * host's last heartbeat; deletes on a down host are listed for the
 * reconciler to complete. */
static void test_host_removed(void)
{
    struct nubo_err err;
    const char *host3 = "00000000-0000-0000-0000-0000000000h3";
    store_exec(st, &err,
               "INSERT INTO hosts (id, name, address, token_hash, state, last_heartbeat_ms,"
               " created_at) VALUES (?, 'h3', 'unix:/z.sock', 'z', 'up', 700, 'now')",
               "s", host3);
    const char *a = iid(60), *b = iid(61), *c = iid(62), *d = iid(63), *e;
    add(a, OTHER, host3, "running", "running", 1);
    add(b, OTHER, host3, "error", "running", 1);
    add(c, OTHER, host3, "running", "running", 1);
    add(d, OTHER, host3, "deleted", "deleted", 1);
    add_task(c, "stop");
    long long seen = (long long)clock_now_ms(); /* its last heartbeat */
    store_exec(st, &err, "UPDATE hosts SET last_heartbeat_ms = ? WHERE id = ?", "is", seen, host3);
    CHECK(store_begin(st, true, &err) == 0);
    CHECK_INT_EQ(compute_instances_host_down(st, host3, "h3", &err), 2);
    CHECK(store_exec(st, &err, "UPDATE hosts SET state = 'down' WHERE id = ?", "s", host3) == 1);
    CHECK(store_commit(st, &err) == 0);
    store_exec(st, &err,
               "UPDATE instances SET status = 'deleting', desired = 'deleted' WHERE id = ?", "s",
               c);
    json_t *rows = compute_instances_down_deleting(st, &err);
    CHECK_INT_EQ(json_array_size(rows), 1);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(rows, 0), "id")), c);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(rows, 0), "host_name")), "h3");
    json_decref(rows);

    CHECK(store_begin(st, true, &err) == 0);
    CHECK_INT_EQ(compute_instances_host_removed(st, host3, "h3", &err), 3);
    CHECK(store_commit(st, &err) == 0);
    const char *all[] = {a, b, c};
    for (size_t i = 0; i < 3; i++) {
        CHECK_STR_EQ(col(all[i], "status"), "deleted");
        CHECK_STR_EQ(col(all[i], "desired"), "deleted");
        CHECK_STR_EQ(col(all[i], "power_state"), "none");
        CHECK_INT_EQ(open_record(all[i], "instance"), 0);
        CHECK_INT_EQ(open_record(all[i], "disk"), 0);
        CHECK_INT_EQ(events(all[i], "deleted", "host h3 was force-removed"), 1);
    }
    /* the unknown one ran until the host's last heartbeat */
    json_t *r = store_query_one(st, &err,
                                "SELECT end_ms FROM usage_records WHERE resource_id = ?"
                                " AND meter = 'instance'",
                                "s", a);
    CHECK_INT_EQ(json_integer_value(json_object_get(r, "end_ms")), seen);
    json_decref(r);
    CHECK_STR_EQ(task(c, "stop", &e), "failed");
    CHECK_STR_HAS(e, "force-removed");
    CHECK_INT_EQ(events(d, "deleted", NULL), 0); /* deleted before: untouched */
    /* twice: nothing left */
    CHECK(store_begin(st, true, &err) == 0);
    CHECK_INT_EQ(compute_instances_host_removed(st, host3, "h3", &err), 0);
    CHECK(store_commit(st, &err) == 0);
}

/* Evacuation (mobility.md): an unknown ha instance is re-placed on
 * another host, generation + 1, building, its running time on the dead
 * host closed at the host's last heartbeat, an evacuate task and event;
 * a compare-and-set: not twice, not without ha, not once it moved on.  A
 * heartbeat never takes a copy of an older generation for the instance. */
static void test_replaced(void)
{
    struct nubo_err err;
    const char *h4 = "00000000-0000-0000-0000-0000000000h4";
    const char *h5 = "00000000-0000-0000-0000-0000000000h5";
    store_exec(st, &err,
               "INSERT INTO hosts (id, name, address, token_hash, state, last_heartbeat_ms,"
               " created_at) VALUES (?, 'h4', 'unix:/4.sock', '4', 'up', 0, 'now'),"
               " (?, 'h5', 'unix:/5.sock', '5', 'up', 0, 'now')",
               "ss", h4, h5);
    const char *a = iid(70), *b = iid(71);
    add(a, PROJECT, h4, "running", "running", 1);
    add(b, PROJECT, h4, "running", "running", 1);
    store_exec(st, &err, "UPDATE instances SET ha = 1 WHERE id = ?", "s", a);
    long long seen = (long long)clock_now_ms();
    store_exec(st, &err, "UPDATE hosts SET last_heartbeat_ms = ? WHERE id = ?", "is", seen, h4);
    CHECK(store_begin(st, true, &err) == 0);
    CHECK_INT_EQ(compute_instances_host_down(st, h4, "h4", &err), 2);
    CHECK(store_commit(st, &err) == 0);
    json_t *ev = compute_instances_evacuable(st, h4, &err);
    CHECK_INT_EQ(json_array_size(ev), 1);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(ev, 0), "id")), a);
    json_decref(ev);

    CHECK(store_begin(st, true, &err) == 0);
    CHECK_INT_EQ(compute_instance_replaced(st, a, h4, "h4", h5, "h5", &err), 1);
    CHECK_INT_EQ(compute_instance_replaced(st, a, h4, "h4", h5, "h5", &err), 0); /* moved on */
    CHECK_INT_EQ(compute_instance_replaced(st, b, h4, "h4", h5, "h5", &err), 0); /* no ha */
    CHECK(store_commit(st, &err) == 0);
    CHECK_STR_EQ(col(a, "host_id"), h5);
    CHECK_STR_EQ(col(a, "generation"), "2");
    CHECK_STR_EQ(col(a, "status"), "building");
    CHECK_STR_EQ(col(a, "power_state"), "none");
    CHECK_STR_EQ(col(b, "host_id"), h4);
    CHECK_STR_EQ(col(b, "status"), "unknown");
    CHECK_INT_EQ(events(a, "evacuated", NULL), 1);
    CHECK_STR_EQ(task(a, "evacuate", NULL), "pending");
    CHECK_INT_EQ(open_record(a, "instance"), 0); /* opens again when it runs */
    CHECK_INT_EQ(open_record(a, "disk"), 1);
    json_t *r = store_query_one(st, &err,
                                "SELECT end_ms FROM usage_records WHERE resource_id = ?"
                                " AND meter = 'instance'",
                                "s", a);
    CHECK_INT_EQ(json_integer_value(json_object_get(r, "end_ms")), seen);
    json_decref(r);
    /* owned lists: the new host has it at generation 2, the old one not */
    json_t *o5 = compute_instances_owned(st, h5, &err), *o4 = compute_instances_owned(st, h4, &err);
    CHECK_INT_EQ(json_array_size(o5), 1);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(o5, 0), "generation")), 2);
    CHECK_INT_EQ(json_array_size(o4), 1); /* b only */
    json_decref(o5);
    json_decref(o4);
    /* a heartbeat of h5 with a generation-1 copy: not the instance's VM */
    char na[64];
    snprintf(na, sizeof(na), COMPUTE_VM_PREFIX "%s", a);
    json_t *vms = json_pack("[{s:s, s:s, s:i, s:i}]", "name", na, "state", "running", "boots", 1,
                            "generation", 1);
    int changed = 0;
    CHECK_INT_EQ(compute_instances_observe(st, h5, vms, &changed, &err), 0);
    CHECK_STR_EQ(col(a, "power_state"), "none");
    json_object_set_new(json_array_get(vms, 0), "generation", json_integer(2));
    CHECK_INT_EQ(compute_instances_observe(st, h5, vms, &changed, &err), 0);
    CHECK_STR_EQ(col(a, "power_state"), "running");
    json_t *g1 = json_pack("{s:i}", "generation", 1), *g2 = json_pack("{s:i}", "generation", 2);
    CHECK(compute_vm_stale(g1, g2));
    CHECK(!compute_vm_stale(g2, g2));
    CHECK(!compute_vm_stale(g2, g1));
    json_decref(g1);
    json_decref(g2);
    json_decref(vms);
    /* reached running finishes the evacuate task */
    CHECK_INT_EQ(compute_instance_reached(st, a, "building", "running", "running", -1, "h5", &err),
                 1);
    CHECK_STR_EQ(task(a, "evacuate", NULL), "succeeded");
    CHECK_INT_EQ(open_record(a, "instance"), 1);
}

static void test_usage_and_purge(void)
{
    struct nubo_err err;
    const char *proj = "00000000-0000-0000-0000-00000000000c";
    store_exec(st, &err, "INSERT INTO projects (id, name, created_at) VALUES (?, 'c', 'now')", "s",
               proj);
    struct quota_usage u = {-1, -1, -1, -1};
    CHECK_INT_EQ(compute_usage(st, proj, &u, &err), 0);
    CHECK_INT_EQ(u.instances, 0);
    CHECK_INT_EQ(u.vcpus, 0);
    const char *a = iid(40), *b = iid(41), *c = iid(42);
    add(a, proj, HOST, "running", "running", 2);
    add(b, proj, NULL, "error", "running", 3);
    add(c, proj, HOST, "deleted", "deleted", 8);
    compute_event_add(st, c, "deleted", "", NULL);
    char t[37];
    compute_task_create(st, proj, c, "delete", NULL, t, &err);
    CHECK_INT_EQ(compute_usage(st, proj, &u, &err), 0);
    CHECK_INT_EQ(u.instances, 2); /* error counts, deleted does not */
    CHECK_INT_EQ(u.vcpus, 5);
    CHECK_INT_EQ(u.ram_mib, 512);
    CHECK_INT_EQ(u.disk_gib, 4);

    CHECK(store_begin(st, true, &err) == 0);
    struct strv files = {0};
    CHECK_INT_EQ(compute_project_purge(st, proj, "c", &files, "/img", &err), -1);
    CHECK_INT_EQ(err.code, NUBO_E_CONFLICT);
    CHECK_STR_HAS(err.msg, "project 'c' still has 2 instances");
    store_rollback(st);
    store_exec(st, &err, "UPDATE instances SET status = 'deleted' WHERE project_id = ?", "s", proj);
    CHECK(store_begin(st, true, &err) == 0);
    CHECK_INT_EQ(compute_project_purge(st, proj, "c", &files, "/img", &err), 0);
    CHECK(store_exec(st, &err, "DELETE FROM projects WHERE id = ?", "s", proj) == 1);
    CHECK(store_commit(st, &err) == 0);
    CHECK(!compute_instance_exists(st, a));
    CHECK(!compute_instance_exists(st, c));
    CHECK_INT_EQ(events(c, "deleted", NULL), 0);
    strv_free(&files);
    CHECK_STR_EQ(task(c, "delete", NULL), "");
    /* other projects keep theirs */
    CHECK(compute_instance_exists(st, iid(1)));
}

/* One quota dimension at its limit, and image bytes counted in bytes
 * against a limit in GiB (issue 13, item 4). */
static void test_quota_counts(void)
{
    struct nubo_err err;
    const char *proj = "00000000-0000-0000-0000-00000000000d";
    store_exec(st, &err, "INSERT INTO projects (id, name, created_at) VALUES (?, 'd', 'now')", "s",
               proj);
    CHECK(store_exec(st, &err,
                     "INSERT INTO quotas (project_id, instances, vcpus, ram_mib, disk_gib)"
                     " VALUES (?, 1, 1, 1, 1)",
                     "s", proj) == 1);
    CHECK_INT_EQ(quota_check_count(st, proj, QUOTA_NETWORKS, 1, 9, &err), 0); /* default 10 */
    CHECK_INT_EQ(quota_check_count(st, proj, QUOTA_NETWORKS, 1, 10, &err), -1);
    CHECK_INT_EQ(err.code, NUBO_E_FORBIDDEN);
    CHECK_STR_HAS(err.msg, "uses 10 of 10 networks and this request needs 1 more");
    CHECK_STR_HAS(err.msg, "ask an admin to raise the quota");
    long long gib = 1LL << 30;
    CHECK_INT_EQ(quota_check_count(st, proj, QUOTA_IMAGE_GIB, 1, 50 * gib - 1, &err), 0);
    CHECK_INT_EQ(quota_check_count(st, proj, QUOTA_IMAGE_GIB, 2, 50 * gib - 1, &err), -1);
    CHECK_STR_HAS(err.msg, "of 50 GiB of image files");
    CHECK_INT_EQ(quota_check_count(st, proj, QUOTA_DIMS, 1, 0, &err), -1);
    CHECK_INT_EQ(err.code, NUBO_E_INTERNAL);
    CHECK_INT_EQ(quota_check_count(st, "no-such-project", QUOTA_STACKS, 1, 0, &err), -1);
    CHECK_INT_EQ(err.code, NUBO_E_INTERNAL);

    long long used[QUOTA_DIMS] = {0};
    CHECK(store_exec(st, &err,
                     "INSERT INTO images (id, name, project_id, visibility, status, size_bytes,"
                     " created_at) VALUES ('img-d1', 'a', ?, 'private', 'active', 1000, 'now'),"
                     " ('img-d2', 'b', ?, 'private', 'queued', NULL, 'now')",
                     "ss", proj, proj) == 2);
    CHECK_INT_EQ(compute_quota_usage(st, proj, used, &err), 0);
    CHECK_INT_EQ(used[QUOTA_IMAGES], 2);
    CHECK_INT_EQ(used[QUOTA_IMAGE_GIB], 1000); /* bytes */
    CHECK_INT_EQ(used[QUOTA_KEYPAIRS], 0);
}

static void test_reads(void)
{
    struct nubo_err err;
    const char *host3 = "00000000-0000-0000-0000-0000000000h3";
    store_exec(st, &err,
               "INSERT INTO hosts (id, name, address, token_hash, state, created_at) VALUES"
               " (?, 'h3', 'unix:/z.sock', 'z', 'up', 'now')",
               "s", host3);
    add(iid(50), OTHER, host3, "running", "running", 1);
    add(iid(51), OTHER, host3, "deleted", "deleted", 1);
    add(iid(52), OTHER, NULL, "deleting", "deleted", 1);
    json_t *on = compute_instances_on_host(st, host3, &err);
    CHECK_INT_EQ(json_array_size(on), 1);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(on, 0), "id")), iid(50));
    json_decref(on);
    json_t *hl = compute_instances_hostless_deleting(st, &err);
    size_t i;
    json_t *r;
    int found = 0;
    json_array_foreach (hl, i, r) {
        found += strcmp(json_string_value(json_object_get(r, "id")), iid(52)) == 0;
        CHECK_STR_EQ(json_string_value(json_object_get(r, "desired")), "deleted");
    }
    CHECK_INT_EQ(found, 1);
    json_decref(hl);
    CHECK(compute_instance_exists(st, iid(51)));
    CHECK(!compute_instance_exists(st, iid(99)));
}

CHECK_MAIN_FIXTURE(setup, teardown, TEST(test_reached_running), TEST(test_reached_cas_lost),
                   TEST(test_reached_rebooted_and_back), TEST(test_reached_stopped),
                   TEST(test_reached_atomic), TEST(test_error), TEST(test_refused),
                   TEST(test_reboot), TEST(test_power), TEST(test_deleted), TEST(test_observe),
                   TEST(test_host_down_and_unplace), TEST(test_host_removed), TEST(test_replaced),
                   TEST(test_usage_and_purge), TEST(test_quota_counts), TEST(test_reads))
