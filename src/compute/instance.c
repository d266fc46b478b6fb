/*
 * instance.c - instances: create (with placement), list, show, delete,
 * start/stop/reboot, console location, events.
 *
 * The API only records intent: a create places the instances and inserts
 * their rows (status building, desired running); an action or a delete
 * sets desired and a transitional status.  Each of these makes a task the
 * caller can poll.  The reconciler (src/ctrl/reconcile.c) then drives the
 * host agents and moves status on, finishing the tasks (see compute.h for
 * the lifecycle).  Every status written here is metered in the same
 * transaction (billing_instance_meter(), src/billing), and a create is
 * refused when the project's budget blocks new instances.
 *
 * Placement happens inside the create's write transaction: the snapshot of
 * hosts and of what is claimed on them is read, the scheduler ranks the
 * hosts, and the instance row with its host_id is written, all while this
 * thread holds the database's write lock.  Concurrent creates therefore
 * see each other's claims and can never overcommit a host or a quota.
 */
#include "compute/compute.h"
#include "compute/compute_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing.h"
#include "lib/clock.h"
#include "lib/fault.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/valid.h"
#include "lib/jsonx.h"

#define INSTANCE_SELECT                                                                            \
    "SELECT i.id, i.name, i.project_id, i.flavor_id, f.name AS flavor_name, i.image_id,"           \
    " g.name AS image_name, i.keypair, i.vcpus, i.ram_mib, i.disk_gib, i.host_id,"                 \
    " h.name AS host_name, i.status, i.desired, i.power_state, i.fault, i.boots,"                  \
    " i.server_group_id, i.metadata_http_tokens, i.ha, i.generation, i.created_at, i.updated_at,"  \
    " i.deleted_at"                                                                                \
    " FROM instances i LEFT JOIN flavors f ON f.id = i.flavor_id"                                  \
    " LEFT JOIN images g ON g.id = i.image_id LEFT JOIN hosts h ON h.id = i.host_id"

/* The list's filters and page; binds (name x2, status x2, host x3,
 * after, marker, limit). */
#define INSTANCE_FILTERS                                                                           \
    " AND (? = '' OR i.name = ?)"                                                                  \
    " AND ((? = '' AND i.status <> 'deleted') OR i.status = ?)"                                    \
    " AND (? = '' OR h.id = ? OR h.name = ?)"

static const char *const statuses[] = {"building", "running",  "stopping", "stopped", "rebooting",
                                       "error",    "deleting", "deleted",  "unknown", NULL};

/* The API shape (INSTANCE) of a row of INSTANCE_SELECT (consumes row),
 * with its tenant network addresses (an empty list when it has none or
 * they cannot be read: the rest of the answer is still right). */
static json_t *instance_shape(json_t *row, json_t *addresses);

static json_t *instance_json(struct store *st, json_t *row)
{
    struct nubo_err aerr;
    json_t *addresses = network_instance_addresses(st, jsonx_str(row, "id"), &aerr);
    if (addresses == NULL) {
        log_warn("instance %s: cannot read its addresses: %s", jsonx_str(row, "id"), aerr.msg);
        addresses = json_array();
    }
    return instance_shape(row, addresses);
}

/* A page of rows of INSTANCE_SELECT, ordered by (created_at, id), shaped
 * as instance_json() does, with the addresses of the whole page read in
 * one query (not one per row). */
static void instance_json_page(struct store *st, const char *project_id, json_t *rows)
{
    size_t n = json_array_size(rows);
    if (n == 0)
        return;
    json_t *first = json_array_get(rows, 0), *last = json_array_get(rows, n - 1);
    struct nubo_err aerr;
    json_t *by = network_instances_addresses(st, project_id, jsonx_str(first, "created_at"),
                                             jsonx_str(first, "id"), jsonx_str(last, "created_at"),
                                             jsonx_str(last, "id"), &aerr);
    if (by == NULL)
        log_warn("instances: cannot read their addresses: %s", aerr.msg);
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        json_t *a = by ? json_object_get(by, jsonx_str(r, "id")) : NULL;
        instance_shape(r, a ? json_incref(a) : json_array());
    }
    json_decref(by);
}

/* instance_json() with the addresses given (consumed). */
static json_t *instance_shape(json_t *row, json_t *addresses)
{
    json_object_set_new(row, "addresses", addresses);
    json_object_set_new(row, "ha", json_boolean(json_integer_value(json_object_get(row, "ha"))));
    static const char *const refs[][3] = {
        {"flavor", "flavor_id", "flavor_name"},
        {"image", "image_id", "image_name"},
        {"host", "host_id", "host_name"},
    };
    for (size_t k = 0; k < ARRAY_LEN(refs); k++) {
        json_t *id = json_object_get(row, refs[k][1]);
        json_t *ref = json_is_null(id) ? json_null()
                                       : json_pack("{s:O, s:O}", "id", id, "name",
                                                   json_object_get(row, refs[k][2]));
        json_object_set_new(row, refs[k][0], ref);
        json_object_del(row, refs[k][1]);
        json_object_del(row, refs[k][2]);
    }
    return row;
}

/* The raw row of an instance visible to ctx (its project, or any for a
 * cloud admin), or NULL with err. */
static json_t *instance_find(struct store *st, const struct ctx *ctx, const char *id,
                             struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *row = store_query_one(st, &qerr,
                                  INSTANCE_SELECT " WHERE i.id = ? AND (i.project_id = ? OR ? = 1)",
                                  "ssi", id, ctx->project_id, (long long)ctx->is_admin);
    if (row == NULL)
        compute_notfound(err, &qerr, "instance", id, NULL);
    return row;
}

json_t *compute_instance_get(struct store *st, const struct ctx *ctx, const char *id,
                             struct nubo_err *err)
{
    json_t *row = instance_find(st, ctx, id, err);
    return row ? instance_json(st, row) : NULL;
}

json_t *compute_instance_list(struct store *st, const struct ctx *ctx,
                              const struct compute_instance_filter *f, int limit,
                              const char *marker, struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    if (f->all_projects && !ctx->is_admin) {
        nubo_err_set(err, NUBO_E_FORBIDDEN, "only a cloud admin may list all projects");
        return NULL;
    }
    if (f->status && !compute_word_in(f->status, statuses)) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "status must be one of building, running, stopping, stopped, rebooting, "
                     "error, deleting, deleted, unknown");
        return NULL;
    }
    if (store_page_start(st, &pg, err,
                         "SELECT i.created_at FROM instances i WHERE i.id = ?"
                         " AND (i.project_id = ? OR ? = 1)",
                         "ssi", marker, ctx->project_id, (long long)f->all_projects) < 0)
        return NULL;
    const char *name = f->name ? f->name : "", *status = f->status ? f->status : "",
               *host = f->host ? f->host : "";
    json_t *rows;
    if (f->all_projects)
        rows = store_page_query(st, &pg, "i.created_at, i.id", err,
                                INSTANCE_SELECT " WHERE 1 = 1" INSTANCE_FILTERS, "sssssss", name,
                                name, status, status, host, host, host);
    else
        rows =
            store_page_query(st, &pg, "i.created_at, i.id", err,
                             INSTANCE_SELECT " WHERE i.project_id = ?" INSTANCE_FILTERS, "ssssssss",
                             ctx->project_id, name, name, status, status, host, host, host);
    instance_json_page(st, f->all_projects ? NULL : ctx->project_id, rows);
    return rows;
}

/* ------------------------------------------------------------- create */

/* Checks what can be checked before the transaction. */
static int spec_check(const struct compute_instance_spec *s, struct nubo_err *err)
{
    if (valid_name(s->name, "instance name", err) < 0)
        return -1;
    if (s->count < 1 || s->count > COMPUTE_MAX_COUNT)
        return nubo_err_set(err, NUBO_E_INVALID, "count must be from 1 to %d", COMPUTE_MAX_COUNT);
    if (s->count > 1) {
        char n[80];
        snprintf(n, sizeof(n), "%s-%lld", s->name, s->count);
        if (strlen(n) > VALID_NAME_MAX)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "the instance names would be %s-1 to %s: at most %d characters "
                                "each; choose a shorter name",
                                s->name, n, VALID_NAME_MAX);
    }
    if (compute_ref_check(s->flavor, "flavor", "a flavor (GET /v1/flavors)", err) < 0 ||
        compute_ref_check(s->image, "image", "an image (GET /v1/images)", err) < 0 ||
        (s->server_group && compute_ref_check(s->server_group, "server_group",
                                              "a server group (GET /v1/server-groups)", err) < 0))
        return -1;
    if (s->keypair && valid_name(s->keypair, "keypair", err) < 0)
        return -1;
    if (s->user_data && strlen(s->user_data) > COMPUTE_MAX_USER_DATA)
        return nubo_err_set(err, NUBO_E_INVALID, "user_data is larger than %d bytes",
                            COMPUTE_MAX_USER_DATA);
    if (s->metadata_http_tokens && strcmp(s->metadata_http_tokens, "optional") != 0 &&
        strcmp(s->metadata_http_tokens, "required") != 0)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "metadata_http_tokens must be \"optional\" (the default) or "
                            "\"required\" (the guest must use IMDSv2 session tokens)");
    return network_nics_check(s->nics, s->nnics, s->sgs, s->nsgs, err);
}

/* A reference in the request body that names nothing is a bad request,
 * not a missing URL: turns NOTFOUND into INVALID. */
static void ref_invalid(struct nubo_err *err)
{
    if (err->code == NUBO_E_NOTFOUND)
        err->code = NUBO_E_INVALID;
}

int compute_snapshot_load(struct store *st, const char *group_id, struct compute_snapshot *s,
                          struct nubo_err *err)
{
    s->rows =
        store_query(st, err,
                    "SELECT h.id, h.name, h.state, h.accel, h.vcpus, h.ram_mib, h.disk_gib,"
                    " h.problems, h.reachable, h.maintenance,"
                    " COALESCE(SUM(i.vcpus), 0) AS used_vcpus,"
                    " COALESCE(SUM(i.ram_mib), 0) AS used_ram_mib,"
                    " COALESCE(SUM(i.disk_gib), 0) AS used_disk_gib,"
                    " COALESCE(SUM(CASE WHEN i.server_group_id = ? THEN 1 ELSE 0 END), 0)"
                    "   AS group_members"
                    " FROM hosts h LEFT JOIN instances i ON (i.host_id = h.id"
                    "   OR i.id IN (SELECT m.instance_id FROM migrations m WHERE"
                    "   (m.target_host_id = h.id AND m.state IN " COMPUTE_MIGRATION_ACTIVE ") OR"
                    "   (m.source_host_id = h.id AND m.state IN " COMPUTE_COLD_KEEPS_SOURCE ")))"
                    "   AND i.status <> 'deleted'"
                    " GROUP BY h.id, h.name, h.state, h.accel, h.vcpus, h.ram_mib,"
                    "   h.disk_gib, h.problems, h.reachable, h.maintenance ORDER BY h.id",
                    "s", group_id);
    if (s->rows == NULL)
        return -1;
    s->n = json_array_size(s->rows);
    s->hosts = xcalloc(s->n ? s->n : 1, sizeof(*s->hosts));
    s->group_size = 0;
    size_t i;
    json_t *r;
    json_array_foreach (s->rows, i, r) {
        struct sched_host *h = &s->hosts[i];
        str_copy(h->id, sizeof(h->id), jsonx_str(r, "id"));
        h->up = strcmp(jsonx_str(r, "state"), "up") == 0;
        h->degraded = strcmp(jsonx_str(r, "problems"), "[]") != 0;
        h->unreachable = json_integer_value(json_object_get(r, "reachable")) == 0;
        h->maintenance = json_is_string(json_object_get(r, "maintenance"));
        str_copy(h->accel, sizeof(h->accel), jsonx_str(r, "accel"));
        h->vcpus = json_integer_value(json_object_get(r, "vcpus"));
        h->ram_mib = json_integer_value(json_object_get(r, "ram_mib"));
        h->disk_gib = json_integer_value(json_object_get(r, "disk_gib"));
        h->used_vcpus = json_integer_value(json_object_get(r, "used_vcpus"));
        h->used_ram_mib = json_integer_value(json_object_get(r, "used_ram_mib"));
        h->used_disk_gib = json_integer_value(json_object_get(r, "used_disk_gib"));
        h->group_members = (int)json_integer_value(json_object_get(r, "group_members"));
        s->group_size += h->group_members;
    }
    return 0;
}

void compute_snapshot_free(struct compute_snapshot *s)
{
    json_decref(s->rows);
    free(s->hosts);
}

/* Fails with NUBO_E_CONFLICT when a live instance of the project has name. */
static int name_free(struct store *st, const struct ctx *ctx, const char *name,
                     struct nubo_err *err)
{
    json_t *rows = store_query(st, err,
                               "SELECT id FROM instances WHERE project_id = ? AND name = ? AND"
                               " status <> 'deleted'",
                               "ss", ctx->project_id, name);
    if (rows == NULL)
        return -1;
    size_t n = json_array_size(rows);
    json_decref(rows);
    if (n > 0)
        return nubo_err_set(err, NUBO_E_CONFLICT,
                            "an instance named '%s' already exists in this project; choose "
                            "another name or delete it",
                            name);
    return 0;
}

/* Resolves the flavor, image, keypair and group, checks they fit
 * together, and returns the flavor and image rows (and group if asked). */
static int refs_resolve(struct store *st, const struct ctx *ctx,
                        const struct compute_instance_spec *s, json_t **flavor, json_t **image,
                        json_t **group, struct nubo_err *err)
{
    *flavor = compute_flavor_resolve(st, ctx, s->flavor, err);
    if (*flavor == NULL)
        goto fail;
    *image = compute_image_resolve(st, ctx, s->image, err);
    if (*image == NULL)
        goto fail;
    if (strcmp(jsonx_str(*image, "status"), "active") != 0)
        return nubo_err_set(err, NUBO_E_CONFLICT,
                            "image '%s' is %s: upload its disk first (PUT /v1/images/%s/file)",
                            jsonx_str(*image, "name"), jsonx_str(*image, "status"),
                            jsonx_str(*image, "id"));
    long long disk = json_integer_value(json_object_get(*flavor, "disk_gib"));
    long long vsize = json_integer_value(json_object_get(*image, "virtual_size_bytes"));
    long long need = (vsize + (1LL << 30) - 1) >> 30;
    long long min = json_integer_value(json_object_get(*image, "min_disk_gib"));
    if (min > need)
        need = min;
    if (disk < need)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "flavor '%s' has %lld GiB of disk but image '%s' needs %lld GiB; "
                            "choose a larger flavor",
                            jsonx_str(*flavor, "name"), disk, jsonx_str(*image, "name"), need);
    if (s->keypair) {
        json_t *k = compute_keypair_get(st, ctx, s->keypair, err);
        if (k == NULL)
            goto fail;
        json_decref(k);
    }
    if (s->server_group) {
        *group = compute_server_group_resolve(st, ctx, s->server_group, err);
        if (*group == NULL)
            goto fail;
    }
    return 0;
fail:
    ref_invalid(err);
    return -1;
}

/* Places and inserts one instance; appends its JSON and task id. */
static int instance_insert(struct store *st, const struct ctx *ctx, const struct sched_cfg *cfg,
                           const struct compute_instance_spec *s, const char *name, json_t *flavor,
                           json_t *image, json_t *group, struct compute_snapshot *snap,
                           struct sched_request *req, json_t *instances, json_t *task_ids,
                           struct nubo_err *err)
{
    char id[37], now[32], task[37];
    struct sched_report rep;
    struct nubo_err fault;
    size_t *order = xcalloc(snap->n ? snap->n : 1, sizeof(*order));
    const char *host_id = NULL, *host_name = NULL;
    int rc = -1;
    req->group_size = snap->group_size;
    if (sched_place(cfg, snap->hosts, snap->n, req, order, &rep) > 0) {
        struct sched_host *h = &snap->hosts[order[0]];
        host_id = h->id;
        host_name = jsonx_str(json_array_get(snap->rows, order[0]), "name");
        sched_consume(h, req);
        if (req->group != SCHED_GROUP_NONE)
            snap->group_size++;
    } else {
        sched_no_host(&rep, &fault);
    }
    id_new(id);
    clock_stamp(now);
    if (store_exec(st, err,
                   "INSERT INTO instances (id, project_id, user_id, name, flavor_id, image_id,"
                   " keypair, user_data, metadata_http_tokens, server_group_id, vcpus, ram_mib,"
                   " disk_gib, host_id, status, desired, fault, created_at, updated_at, ha) VALUES"
                   " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
                   "ssssssssssiiisssssi", id, ctx->project_id, ctx->user_id, name,
                   jsonx_str(flavor, "id"), jsonx_str(image, "id"), s->keypair, s->user_data,
                   s->metadata_http_tokens ? s->metadata_http_tokens : "optional",
                   group ? jsonx_str(group, "id") : NULL, req->vcpus, req->ram_mib, req->disk_gib,
                   host_id, host_id ? "building" : "error", host_id ? NULL : fault.msg, now, now,
                   (long long)s->ha) < 0 ||
        billing_instance_meter(st, id, err) < 0 ||
        compute_task_create(st, ctx->project_id, id, "create", ctx->request_id, task, err) < 0 ||
        network_instance_ports_create(st, ctx, id, host_id, name, s->nics, s->nnics, s->sgs,
                                      s->nsgs, err) < 0)
        goto cleanup;
    char detail[256];
    snprintf(detail, sizeof(detail), "by %s: flavor %s, image %s", ctx->user_name,
             jsonx_str(flavor, "name"), jsonx_str(image, "name"));
    compute_event_add(st, id, "create requested", detail, ctx->request_id);
    if (host_id) {
        snprintf(detail, sizeof(detail), "scheduled on host %s", host_name);
        compute_event_add(st, id, "scheduled", detail, ctx->request_id);
    } else {
        compute_event_add(st, id, "no valid host", fault.msg, ctx->request_id);
        compute_task_finish(st, id, "create", fault.msg);
        log_info("instance %s (%s): %s", id, name, fault.msg);
    }
    json_t *row = instance_find(st, ctx, id, err);
    if (row == NULL)
        goto cleanup;
    json_array_append_new(instances, instance_json(st, row));
    json_array_append_new(task_ids, json_string(task));
    rc = 0;
cleanup:
    free(order);
    return rc;
}

json_t *compute_instance_create(struct store *st, const struct ctx *ctx,
                                const struct sched_cfg *cfg, const struct compute_instance_spec *s,
                                struct nubo_err *err)
{
    json_t *flavor = NULL, *image = NULL, *group = NULL, *out = NULL;
    json_t *instances = json_array(), *task_ids = json_array();
    struct compute_snapshot snap = {0};
    char name[80];
    int in_tx = 0;
    if (cfg == NULL)
        cfg = compute_sched_cfg();
    if (spec_check(s, err) < 0)
        goto cleanup;
    if (store_begin(st, true, err) < 0)
        goto cleanup;
    in_tx = 1;
    if (refs_resolve(st, ctx, s, &flavor, &image, &group, err) < 0)
        goto cleanup;
    for (long long k = 1; k <= s->count; k++) {
        snprintf(name, sizeof(name), s->count > 1 ? "%s-%lld" : "%s", s->name, k);
        if (name_free(st, ctx, name, err) < 0)
            goto cleanup;
    }
    struct sched_request req = {
        .vcpus = json_integer_value(json_object_get(flavor, "vcpus")),
        .ram_mib = json_integer_value(json_object_get(flavor, "ram_mib")),
        .disk_gib = json_integer_value(json_object_get(flavor, "disk_gib")),
        .need_accel = json_string_value(json_object_get(flavor, "required_accel")),
    };
    if (group)
        req.group = strcmp(jsonx_str(group, "policy"), "affinity") == 0 ? SCHED_GROUP_AFFINITY
                                                                        : SCHED_GROUP_ANTI_AFFINITY;
    struct quota_ask ask = {s->count, s->count * req.vcpus, s->count * req.ram_mib,
                            s->count * req.disk_gib};
    struct quota_usage used;
    if (compute_usage(st, ctx->project_id, &used, err) < 0 ||
        quota_check(st, ctx->project_id, &used, &ask, err) < 0 ||
        billing_budget_check(st, ctx->project_id, err) < 0)
        goto cleanup;
    if (compute_snapshot_load(st, group ? jsonx_str(group, "id") : NULL, &snap, err) < 0)
        goto cleanup;
    for (long long k = 1; k <= s->count; k++) {
        snprintf(name, sizeof(name), s->count > 1 ? "%s-%lld" : "%s", s->name, k);
        if (instance_insert(st, ctx, cfg, s, name, flavor, image, group, &snap, &req, instances,
                            task_ids, err) < 0)
            goto cleanup;
    }
    /* The answer, recorded with the effect for an Idempotency-Key retry
     * (identity_idem_answer(): nothing unless the API's POST runs). */
    out = json_pack("{s:O, s:O}", "instances", instances, "task_ids", task_ids);
    if (out == NULL)
        nubo_err_set(err, NUBO_E_INTERNAL, "the answer could not be built; retry");
    if (out == NULL || identity_idem_answer(st, "POST", "/v1/instances", 202, out, err) < 0 ||
        store_commit(st, err) < 0) {
        json_decref(out);
        out = NULL;
        goto cleanup;
    }
    in_tx = 0;
    fault_point("instance.create.committed");
    compute_changed();
cleanup:
    if (in_tx)
        store_rollback(st);
    compute_snapshot_free(&snap);
    json_decref(instances);
    json_decref(task_ids);
    json_decref(group);
    json_decref(image);
    json_decref(flavor);
    return out;
}

/* ------------------------------------------------- delete and actions */

/* The open task of kind for an instance, into task_id; 0 when found. */
static int open_task(struct store *st, const char *instance_id, const char *kind, char task_id[37])
{
    struct nubo_err qerr = {0};
    json_t *t = store_query_one(st, &qerr,
                                "SELECT id FROM tasks WHERE instance_id = ? AND kind = ? AND"
                                " status IN ('pending', 'running') ORDER BY created_at DESC",
                                "ss", instance_id, kind);
    if (t == NULL)
        return -1;
    str_copy(task_id, 37, jsonx_str(t, "id"));
    json_decref(t);
    return 0;
}

/* Commits and answers {instance, task_id} with the instance as it is now. */
static json_t *answer(struct store *st, const struct ctx *ctx, const char *id, const char *task_id,
                      struct nubo_err *err)
{
    json_t *row = instance_find(st, ctx, id, err);
    if (row == NULL)
        return NULL;
    if (store_commit(st, err) < 0) {
        json_decref(row);
        return NULL;
    }
    compute_changed();
    return json_pack("{s:o, s:s}", "instance", instance_json(st, row), "task_id", task_id);
}

json_t *compute_instance_delete(struct store *st, const struct ctx *ctx, const char *id,
                                struct nubo_err *err)
{
    char now[32], task[37];
    json_t *row = NULL, *out = NULL;
    if (store_begin(st, true, err) < 0)
        return NULL;
    row = instance_find(st, ctx, id, err);
    if (row == NULL)
        goto cleanup;
    const char *status = jsonx_str(row, "status");
    /* Where the row lives: a cloud admin may act on another project's. */
    const char *project = jsonx_str(row, "project_id");
    if (strcmp(status, "deleted") == 0) {
        nubo_err_set(err, NUBO_E_CONFLICT, "instance '%s' is deleted already",
                     jsonx_str(row, "name"));
        goto cleanup;
    }
    if (strcmp(status, "deleting") == 0 && open_task(st, id, "delete", task) == 0) {
        out = answer(st, ctx, id, task, err); /* a repeated delete: the same task */
        goto cleanup;
    }
    clock_stamp(now);
    /* A pending start/stop/reboot will never happen now. */
    compute_task_finish(st, id, "create,start,stop,reboot",
                        "cancelled: the instance is being deleted");
    if (compute_task_create(st, project, id, "delete", ctx->request_id, task, err) < 0)
        goto cleanup;
    if (json_is_null(json_object_get(row, "host_id"))) {
        /* Never placed: nothing runs anywhere, so it is gone at once. */
        if (store_exec(st, err,
                       "UPDATE instances SET desired = 'deleted', status = 'deleted',"
                       " deleted_at = ?, updated_at = ? WHERE id = ? AND project_id = ?",
                       "ssss", now, now, id, project) < 0 ||
            billing_instance_meter(st, id, err) < 0 ||
            network_instance_ports_release(st, id, err) < 0)
            goto cleanup;
        compute_task_finish(st, id, "delete", NULL);
        compute_event_add(st, id, "deleted", "it had no host: nothing to stop", ctx->request_id);
    } else {
        /* On a host that is down: it ran until the host was last seen
         * (before the status leaves unknown; see billing.h). */
        if (strcmp(status, "unknown") == 0 && billing_instance_lost(st, id, err) < 0)
            goto cleanup;
        if (store_exec(st, err,
                       "UPDATE instances SET desired = 'deleted', status = 'deleting',"
                       " updated_at = ? WHERE id = ? AND project_id = ?",
                       "sss", now, id, project) < 0 ||
            billing_instance_meter(st, id, err) < 0)
            goto cleanup;
        compute_event_add(st, id, "delete requested", ctx->user_name, ctx->request_id);
    }
    out = answer(st, ctx, id, task, err);
cleanup:
    if (out == NULL)
        store_rollback(st);
    json_decref(row);
    return out;
}

json_t *compute_instance_action(struct store *st, const struct ctx *ctx, const char *id,
                                const char *action, struct nubo_err *err)
{
    /* What each action needs (status and desired) and what it sets. */
    static const struct {
        const char *action, *from, *want_before, *desired, *status;
    } rules[] = {
        {"start", "stopped", "stopped", "running", "stopped"},
        {"stop", "running", "running", "stopped", "stopping"},
        {"reboot", "running", "running", "running", "rebooting"},
    };
    size_t r = 0;
    while (r < ARRAY_LEN(rules) && (action == NULL || strcmp(action, rules[r].action) != 0))
        r++;
    if (r == ARRAY_LEN(rules)) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "action must be start, stop, reboot, migrate, migrate-cancel, cold-migrate, "
                     "resize, confirm-resize or revert-resize");
        return NULL;
    }
    char now[32], task[37], detail[128];
    json_t *row = NULL, *out = NULL;
    if (store_begin(st, true, err) < 0)
        return NULL;
    row = instance_find(st, ctx, id, err);
    if (row == NULL)
        goto cleanup;
    const char *status = jsonx_str(row, "status"), *desired = jsonx_str(row, "desired");
    const char *project = jsonx_str(row, "project_id");
    if (strcmp(status, rules[r].from) != 0 || strcmp(desired, rules[r].want_before) != 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "cannot %s instance '%s': it is %s%s%s; %s needs a %s instance", action,
                     jsonx_str(row, "name"), status,
                     strcmp(status, desired) != 0 ? " and should become " : "",
                     strcmp(status, desired) != 0 ? desired : "", action, rules[r].from);
        goto cleanup;
    }
    clock_stamp(now);
    if (store_exec(st, err,
                   "UPDATE instances SET desired = ?, status = ?, updated_at = ? WHERE id = ?"
                   " AND project_id = ?",
                   "sssss", rules[r].desired, rules[r].status, now, id, project) < 0 ||
        billing_instance_meter(st, id, err) < 0 ||
        compute_task_create(st, project, id, action, ctx->request_id, task, err) < 0)
        goto cleanup;
    snprintf(detail, sizeof(detail), "%s requested", action);
    compute_event_add(st, id, detail, ctx->user_name, ctx->request_id);
    out = answer(st, ctx, id, task, err);
cleanup:
    if (out == NULL)
        store_rollback(st);
    json_decref(row);
    return out;
}

/* ----------------------------------------------------- console, events */

int compute_instance_console_target(struct store *st, const struct ctx *ctx, const char *id,
                                    struct compute_console_target *out, struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *h = NULL;
    int rc = -1;
    json_t *row = instance_find(st, ctx, id, err);
    if (row == NULL)
        return -1;
    if (strcmp(jsonx_str(row, "status"), "deleted") == 0 ||
        json_is_null(json_object_get(row, "host_id"))) {
        nubo_err_set(err, NUBO_E_CONFLICT, "instance '%s' is %s on no host: it has no console",
                     jsonx_str(row, "name"), jsonx_str(row, "status"));
        goto cleanup;
    }
    h = store_query_one(st, &qerr, "SELECT name, address, agent_token FROM hosts WHERE id = ?", "s",
                        jsonx_str(row, "host_id"));
    if (h == NULL) {
        compute_notfound(err, &qerr, "host", jsonx_str(row, "host_id"), NULL);
        goto cleanup;
    }
    if (str_copy(out->host_name, sizeof(out->host_name), jsonx_str(h, "name")) < 0 ||
        str_copy(out->address, sizeof(out->address), jsonx_str(h, "address")) < 0 ||
        str_copy(out->token, sizeof(out->token), jsonx_str(h, "agent_token")) < 0) {
        nubo_err_set(err, NUBO_E_INTERNAL, "host '%s' has an address or token too long",
                     jsonx_str(h, "name"));
        goto cleanup;
    }
    snprintf(out->vm, sizeof(out->vm), COMPUTE_VM_PREFIX "%s", jsonx_str(row, "id"));
    rc = 0;
cleanup:
    json_decref(h);
    json_decref(row);
    return rc;
}

json_t *compute_instance_events(struct store *st, const struct ctx *ctx, const char *id, int limit,
                                const char *marker, struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    json_t *row = instance_find(st, ctx, id, err);
    if (row == NULL)
        return NULL;
    json_decref(row);
    if (store_page_start(st, &pg, err,
                         "SELECT e.created_at FROM instance_events e WHERE"
                         " e.id = ? AND e.instance_id = ?",
                         "ss", marker, id) < 0)
        return NULL;
    return store_page_query(st, &pg, "e.created_at, e.id", err,
                            "SELECT e.id, e.at, e.event, e.detail, e.request_id"
                            " FROM instance_events e JOIN instances i ON i.id = e.instance_id"
                            " WHERE e.instance_id = ? AND (i.project_id = ? OR ? = 1)",
                            "ssi", id, ctx->project_id, (long long)ctx->is_admin);
}
