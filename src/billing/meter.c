/*
 * meter.c - the metering hooks: the usage ledger follows the state of
 * instances, images, floating IPs and (later) volumes, and closes what a
 * deleted project still had open.
 *
 * Every hook reads the resource as its caller's transaction left it and
 * makes the open records agree with it: open what should be open, close
 * what should not.  That makes the hooks idempotent (a second call finds
 * nothing to do) and lets them run anywhere a state changes without
 * knowing where it came from.  The partial unique index on open records
 * (src/store/schema_billing.c) is the last guard: two open records of one
 * meter and resource cannot exist, so usage is never counted twice.
 *
 * Boundaries are clamped against a wall clock that jumps: a record opens
 * no earlier than the end of the resource's last record of the same meter
 * and closes no earlier than its own start, so the records of one meter
 * and resource follow each other without overlap whatever the clock did.
 *
 * What each instance status bills is in billing.h and, with the reasons,
 * in docs/internals/billing.md.
 */
#include "billing/billing_int.h"

#include <string.h>

#include "lib/clock.h"
#include "lib/log.h"

/* Statuses in which an instance's running time is billed: its VM runs
 * (stopping: until it is stopped; rebooting: a reboot is not a stop;
 * migrating: the guest runs on, on one host at a time, so a live
 * migration is one unbroken record). */
static const char *const running_statuses[] = {"running", "rebooting", "stopping", "migrating",
                                               NULL};

/* Statuses in which an instance's root disk exists and is billed. */
static const char *const disk_statuses[] = {"building", "running",   "rebooting", "stopping",
                                            "stopped",  "migrating", NULL};

static bool word_in(const char *s, const char *const words[])
{
    for (; *words; words++)
        if (strcmp(s, *words) == 0)
            return true;
    return false;
}

/* Closes the open record of (meter, resource) at now, or at the moment
 * its resource was last seen when that is set (see schema_billing.c). */
static int close_at(struct store *st, const char *meter, const char *resource_id, int64_t now,
                    struct nubo_err *err)
{
    long long n = store_exec(st, err,
                             "UPDATE usage_records SET end_ms = CASE"
                             " WHEN COALESCE(unknown_since_ms, ?) < start_ms THEN start_ms"
                             " ELSE COALESCE(unknown_since_ms, ?) END"
                             " WHERE meter = ? AND resource_id = ? AND end_ms IS NULL",
                             "iiss", (long long)now, (long long)now, meter, resource_id);
    return n < 0 ? -1 : 0;
}

/* The moment a new record of (meter, resource) starts when it opens at
 * now: now, or the end of the resource's latest record of that meter when
 * that is later (the wall clock went back).  Records of one meter and
 * resource follow each other and never overlap, so no instant is billed
 * twice; close_at() never ends a record before its start. */
static int start_of_next(struct store *st, const char *meter, const char *resource_id, int64_t now,
                         int64_t *out, struct nubo_err *err)
{
    json_t *row = store_query_one(st, err,
                                  "SELECT MAX(end_ms) AS last_end FROM usage_records"
                                  " WHERE meter = ? AND resource_id = ?",
                                  "ss", meter, resource_id);
    if (row == NULL)
        return -1;
    long long last = billing_int(row, "last_end");
    json_decref(row);
    *out = last > now ? last : now;
    if (last > now)
        log_warn("billing: the clock is %lld ms behind the end of %s's last %s record; the new"
                 " record starts there",
                 (long long)(last - now), resource_id, meter);
    return 0;
}

static int open_at(struct store *st, const struct billing_usage *u, int64_t now,
                   struct nubo_err *err)
{
    const struct billing_meter *m = billing_meter_find(u->meter);
    if (m == NULL || u->project_id == NULL || u->resource_id == NULL || u->size < 0)
        return nubo_err_set(err, NUBO_E_INTERNAL, "billing: bad usage for meter %s",
                            u->meter ? u->meter : "?");
    const char *key = u->price_key ? u->price_key : "";
    json_t *rows = store_query(st, err,
                               "SELECT seq, price_key, size, unknown_since_ms FROM usage_records"
                               " WHERE meter = ? AND resource_id = ? AND end_ms IS NULL",
                               "ss", u->meter, u->resource_id);
    if (rows == NULL)
        return -1;
    json_t *open = json_array_get(rows, 0);
    int rc = 0;
    if (open && strcmp(jsonx_str(open, "price_key"), key) == 0 &&
        billing_int(open, "size") == u->size) {
        /* Already counted.  If its host was down, it has been seen again. */
        if (!json_is_null(json_object_get(open, "unknown_since_ms")) &&
            store_exec(st, err, "UPDATE usage_records SET unknown_since_ms = NULL WHERE seq = ?",
                       "i", billing_int(open, "seq")) < 0)
            rc = -1;
        json_decref(rows);
        return rc;
    }
    if (open && close_at(st, u->meter, u->resource_id, now, err) < 0)
        rc = -1;
    json_decref(rows);
    int64_t start;
    if (rc < 0 || start_of_next(st, u->meter, u->resource_id, now, &start, err) < 0)
        return -1;
    if (store_exec(st, err,
                   "INSERT INTO usage_records (project_id, resource_type, resource_id,"
                   " resource_name, meter, price_key, price_key_name, size, start_ms)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                   "sssssssii", u->project_id, m->resource_type, u->resource_id,
                   u->resource_name ? u->resource_name : "", u->meter, key,
                   u->price_key_name ? u->price_key_name : "", u->size, (long long)start) < 0)
        return -1;
    return 0;
}

int billing_meter_open(struct store *st, const struct billing_usage *u, struct nubo_err *err)
{
    return open_at(st, u, clock_now_ms(), err);
}

int billing_meter_close(struct store *st, const char *meter, const char *resource_id,
                        struct nubo_err *err)
{
    return close_at(st, meter, resource_id, clock_now_ms(), err);
}

/* ------------------------------------------------------------ instances */

int billing_instance_meter(struct store *st, const char *instance_id, struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    int64_t now = clock_now_ms();
    json_t *row = store_query_one(st, &qerr,
                                  "SELECT i.project_id, i.name, i.flavor_id, f.name AS flavor_name,"
                                  " i.disk_gib, i.status, i.host_id, h.last_heartbeat_ms"
                                  " FROM instances i LEFT JOIN flavors f ON f.id = i.flavor_id"
                                  " LEFT JOIN hosts h ON h.id = i.host_id WHERE i.id = ?",
                                  "s", instance_id);
    if (row == NULL) {
        if (qerr.code == NUBO_E_NOTFOUND)
            return 0; /* nothing to meter */
        *err = qerr;
        return -1;
    }
    int rc = -1;
    const char *status = jsonx_str(row, "status");
    if (strcmp(status, "unknown") == 0) {
        /* The host is down: what runs keeps counting until the host
         * reports again, but remembers when it was last seen. */
        long long seen = billing_int(row, "last_heartbeat_ms");
        if (seen <= 0 || seen > now)
            seen = now;
        if (store_exec(st, err,
                       "UPDATE usage_records SET unknown_since_ms = ? WHERE resource_id = ?"
                       " AND meter IN ('instance', 'disk') AND end_ms IS NULL"
                       " AND unknown_since_ms IS NULL",
                       "is", seen, instance_id) < 0)
            goto cleanup;
        rc = 0;
        goto cleanup;
    }
    const char *flavor = jsonx_str(row, "flavor_id");
    const char *flavor_name = jsonx_str(row, "flavor_name");
    struct billing_usage run = {
        .meter = "instance",
        .project_id = jsonx_str(row, "project_id"),
        .resource_id = instance_id,
        .resource_name = jsonx_str(row, "name"),
        .price_key = flavor,
        .price_key_name = flavor_name[0] ? flavor_name : flavor,
        .size = 1,
    };
    struct billing_usage disk = run;
    disk.meter = "disk";
    disk.price_key = disk.price_key_name = "";
    disk.size = billing_int(row, "disk_gib");
    bool placed = !json_is_null(json_object_get(row, "host_id"));
    if ((word_in(status, running_statuses) ? open_at(st, &run, now, err)
                                           : close_at(st, "instance", instance_id, now, err)) < 0)
        goto cleanup;
    if ((placed && word_in(status, disk_statuses)
             ? open_at(st, &disk, now, err)
             : close_at(st, "disk", instance_id, now, err)) < 0)
        goto cleanup;
    rc = 0;
cleanup:
    if (rc < 0)
        log_error("billing: cannot meter instance %s: %s", instance_id, err->msg);
    json_decref(row);
    return rc;
}

int billing_instance_lost(struct store *st, const char *instance_id, struct nubo_err *err)
{
    long long n = store_exec(st, err,
                             "UPDATE usage_records SET end_ms = CASE"
                             " WHEN unknown_since_ms < start_ms THEN start_ms"
                             " ELSE unknown_since_ms END"
                             " WHERE meter = 'instance' AND resource_id = ? AND end_ms IS NULL"
                             " AND unknown_since_ms IS NOT NULL AND EXISTS (SELECT 1 FROM"
                             " instances i WHERE i.id = ? AND i.status = 'unknown')",
                             "ss", instance_id, instance_id);
    if (n < 0)
        return -1;
    if (n > 0)
        log_info("billing: instance %s was not running when its host came back; its running"
                 " time ends at the host's last heartbeat before the outage",
                 instance_id);
    return 0;
}

/* --------------------------------------------------------------- images */

int billing_image_meter(struct store *st, const char *image_id, struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *row = store_query_one(st, &qerr,
                                  "SELECT project_id, name, status, size_bytes FROM images"
                                  " WHERE id = ?",
                                  "s", image_id);
    if (row == NULL && qerr.code != NUBO_E_NOTFOUND) {
        *err = qerr;
        return -1;
    }
    int rc;
    if (row && strcmp(jsonx_str(row, "status"), "active") == 0 &&
        json_is_string(json_object_get(row, "project_id"))) {
        struct billing_usage u = {
            .meter = "image",
            .project_id = jsonx_str(row, "project_id"),
            .resource_id = image_id,
            .resource_name = jsonx_str(row, "name"),
            .price_key = "",
            .price_key_name = "",
            .size = billing_int(row, "size_bytes"),
        };
        rc = billing_meter_open(st, &u, err);
    } else {
        rc = billing_meter_close(st, "image", image_id, err);
    }
    json_decref(row);
    return rc;
}

/* --------------------------------------------------------- floating IPs */

int billing_floatingip_meter(struct store *st, const char *fip_id, void *arg, struct nubo_err *err)
{
    (void)arg;
    struct nubo_err qerr = {0};
    json_t *row = store_query_one(st, &qerr, "SELECT project_id, ip FROM floating_ips WHERE id = ?",
                                  "s", fip_id);
    if (row == NULL && qerr.code != NUBO_E_NOTFOUND) {
        *err = qerr;
        return -1;
    }
    int rc;
    if (row) {
        struct billing_usage u = {
            .meter = "floating_ip",
            .project_id = jsonx_str(row, "project_id"),
            .resource_id = fip_id,
            .resource_name = jsonx_str(row, "ip"),
            .price_key = "",
            .price_key_name = "",
            .size = 1,
        };
        rc = billing_meter_open(st, &u, err);
    } else {
        rc = billing_meter_close(st, "floating_ip", fip_id, err);
    }
    json_decref(row);
    return rc;
}

/* ------------------------------------------------------------- projects */

int billing_project_close(struct store *st, const char *project_id, const char *name,
                          struct strv *files, void *arg, struct nubo_err *err)
{
    (void)name;
    (void)files;
    (void)arg;
    /* Whatever of the project is still billed (its images and floating
     * IPs, which cascade away with it) stops now, as close_at() would
     * close it; the records stay, for invoices and showback. */
    long long now = (long long)clock_now_ms();
    return store_exec(st, err,
                      "UPDATE usage_records SET end_ms = CASE"
                      " WHEN COALESCE(unknown_since_ms, ?) < start_ms THEN start_ms"
                      " ELSE COALESCE(unknown_since_ms, ?) END"
                      " WHERE project_id = ? AND end_ms IS NULL",
                      "iis", now, now, project_id) < 0
               ? -1
               : 0;
}
