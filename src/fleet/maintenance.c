/*
 * maintenance.c - hosts taken out of service by an admin (drain, undrain;
 * docs/internals/mobility.md, "Host maintenance").  This file keeps the
 * hosts' maintenance columns (migration 24); the reconciler moves the
 * instances off a draining host (src/ctrl/drain.c) and reports here what
 * it could not move and when nothing is left.
 *
 *   NULL --drain--> draining --(nothing left to move)--> drained
 *     ^                |                                    |
 *     +----undrain-----+------------------undrain-----------+
 *
 * Draining and drained hosts take no new instance (the scheduler's
 * maintenance filter, src/sched), nor a migration's or an evacuation's.
 */
#include "fleet/fleet.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity/identity.h"
#include "lib/clock.h"
#include "lib/fault.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/util.h"

json_t *fleet_host_drain(struct store *st, const char *ref, const struct ctx *ctx,
                         struct nubo_err *err)
{
    char id[37], name[64], now[32];
    if (store_begin(st, true, err) < 0)
        return NULL;
    json_t *h = fleet_host_row(st, ref, err);
    if (h == NULL)
        goto fail;
    str_copy(id, sizeof(id), jsonx_str(h, "id"));
    str_copy(name, sizeof(name), jsonx_str(h, "name"));
    bool fenced = !json_is_null(json_object_get(h, "fenced_at"));
    bool up = strcmp(jsonx_str(h, "state"), "up") == 0;
    const char *was = json_string_value(json_object_get(h, "maintenance"));
    bool draining = was && strcmp(was, "draining") == 0;
    json_decref(h);
    if (fenced || !up) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "host '%s' is %s: a drain live-migrates its instances, which needs its agent; "
                     "a down host's ha instances are rebuilt elsewhere by themselves, the others "
                     "wait for it (or force-remove it)",
                     name, fenced ? "fenced" : "down");
        goto fail;
    }
    if (draining) { /* asked again: the drain under way goes on */
        store_rollback(st);
        return fleet_host_get(st, id, err);
    }
    /* A drain again after a drained one with failures starts afresh: each
     * instance is tried once more. */
    clock_stamp(now);
    if (store_exec(st, err,
                   "UPDATE hosts SET maintenance = 'draining', maintenance_at = ?,"
                   " maintenance_by = ?, drain_failures = '{}' WHERE id = ?",
                   "sss", now, ctx->user_id, id) < 0)
        goto fail;
    fault_point("fleet.drain");
    if (store_commit(st, err) < 0)
        goto fail;
    log_info("host %s (%s): drain asked by %s: its instances move to other hosts, it takes no "
             "new ones",
             name, id, ctx->user_name[0] ? ctx->user_name : ctx->user_id);
    fleet_changed();
    return fleet_host_get(st, id, err);
fail:
    store_rollback(st);
    return NULL;
}

json_t *fleet_host_undrain(struct store *st, const char *ref, const struct ctx *ctx,
                           struct nubo_err *err)
{
    char id[37], name[64];
    if (store_begin(st, true, err) < 0)
        return NULL;
    json_t *h = fleet_host_row(st, ref, err);
    if (h == NULL) {
        store_rollback(st);
        return NULL;
    }
    str_copy(id, sizeof(id), jsonx_str(h, "id"));
    str_copy(name, sizeof(name), jsonx_str(h, "name"));
    bool was = json_is_string(json_object_get(h, "maintenance"));
    json_decref(h);
    if (store_exec(st, err,
                   "UPDATE hosts SET maintenance = NULL, maintenance_at = NULL,"
                   " maintenance_by = NULL, drain_failures = '{}' WHERE id = ?",
                   "s", id) < 0 ||
        store_commit(st, err) < 0) {
        store_rollback(st);
        return NULL;
    }
    if (was)
        log_info("host %s (%s): back in service (undrained by %s); migrations under way finish",
                 name, id, ctx->user_name[0] ? ctx->user_name : ctx->user_id);
    fleet_changed();
    return fleet_host_get(st, id, err);
}

json_t *fleet_hosts_draining(struct store *st, struct nubo_err *err)
{
    return store_query(st, err,
                       "SELECT id, name, maintenance_at, maintenance_by, drain_failures"
                       " FROM hosts WHERE maintenance = 'draining' AND fenced_at IS NULL"
                       " ORDER BY maintenance_at, id",
                       "");
}

int fleet_drain_note(struct store *st, const char *host_id, const char *since,
                     const json_t *failures, bool done, struct nubo_err *err)
{
    char *text = json_dumps(failures, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL)
        return nubo_err_set(err, NUBO_E_INTERNAL, "out of memory");
    /* Only the drain that was read: an undrain or a new drain meanwhile
     * changed maintenance or maintenance_at. */
    long long n = store_exec(st, err,
                             "UPDATE hosts SET drain_failures = ?,"
                             " maintenance = CASE WHEN ? = 1 THEN 'drained' ELSE maintenance END"
                             " WHERE id = ? AND maintenance = 'draining' AND maintenance_at = ?",
                             "siss", text, (long long)done, host_id, since);
    free(text);
    if (n < 0)
        return -1;
    if (n > 0 && done)
        fleet_changed();
    return 0;
}
