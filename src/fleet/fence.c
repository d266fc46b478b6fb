/*
 * fence.c - fencing a dead host before its instances restart elsewhere,
 * and the lease its agent holds (docs/internals/mobility.md, "Fencing and
 * evacuation").
 *
 * Fencing makes sure the copy on the dead host can no longer run before
 * another copy starts: the host's epoch grows (an agent that comes back
 * presents the old one and learns it was fenced: it destroys the VMs it no
 * longer owns), and the optional fencing hook (IPMI power-off, a watchdog,
 * a switch port) is run and must say yes (exit 0).  Without a hook the
 * guarantee is the agent's lease: nubod declares a host down only after
 * host_down_ms of silence, twice the lease it grants, and an agent whose
 * lease ran out has paused all its VMs by then.
 */
#include "fleet/fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/fault.h"
#include "lib/log.h"
#include "lib/spawn.h"
#include "lib/util.h"
#include "lib/jsonx.h"

#define FENCE_HOOK_OUTPUT_MAX 4096

static int lease_ms = 7500;

void fleet_set_lease_ms(int ms)
{
    lease_ms = ms;
}

int fleet_lease_ms(void)
{
    return lease_ms;
}

json_t *fleet_hosts_down(struct store *st, struct nubo_err *err)
{
    return store_query(st, err,
                       "SELECT id, name, address, ha_fenced_at FROM hosts WHERE state = 'down'"
                       " AND fenced_at IS NULL ORDER BY created_at, id",
                       "");
}

int fleet_host_fence(struct store *st, const char *host_id, const char *hook, int timeout_ms,
                     struct nubo_err *err)
{
    struct nubo_err qerr;
    json_t *h = store_query_one(st, &qerr,
                                "SELECT name, address, state, ha_fenced_at, fenced_at FROM hosts"
                                " WHERE id = ?",
                                "s", host_id);
    if (h == NULL) {
        if (qerr.code != NUBO_E_NOTFOUND) {
            *err = qerr;
            return -1;
        }
        return 0;
    }
    char name[64], address[256];
    str_copy(name, sizeof(name), jsonx_str(h, "name"));
    str_copy(address, sizeof(address), jsonx_str(h, "address"));
    int down =
        strcmp(jsonx_str(h, "state"), "down") == 0 && json_is_null(json_object_get(h, "fenced_at"));
    int done = !json_is_null(json_object_get(h, "ha_fenced_at"));
    json_decref(h);
    if (!down)
        return 0;
    if (done)
        return 1;
    if (hook && hook[0]) {
        char *argv[] = {(char *)hook, (char *)host_id, name, address, NULL};
        char *out = NULL;
        struct nubo_err herr;
        log_info("host %s (%s): running the fencing hook %s", name, host_id, hook);
        int rc = spawn_run(argv, timeout_ms, FENCE_HOOK_OUTPUT_MAX, &out, &herr);
        free(out);
        if (rc < 0) {
            nubo_err_set(err, NUBO_E_UNAVAILABLE,
                         "the fencing hook did not confirm that host %s is fenced (%s): its "
                         "instances are not restarted elsewhere until it does; retried later",
                         name, herr.msg);
            log_warn("host %s (%s): %s", name, host_id, err->msg);
            return -1;
        }
    }
    char now[32];
    clock_now_str(now);
    if (store_begin(st, true, err) < 0)
        return -1;
    long long n = store_exec(st, err,
                             "UPDATE hosts SET epoch = epoch + 1, ha_fenced_at = ? WHERE id = ?"
                             " AND state = 'down' AND ha_fenced_at IS NULL AND fenced_at IS NULL",
                             "ss", now, host_id);
    if (n > 0)
        fault_point("fleet.fence");
    if (n < 0 || store_commit(st, err) < 0) {
        store_rollback(st);
        return -1;
    }
    if (n > 0) {
        fault_point("fleet.fence.committed");
        log_warn("host %s (%s) fenced%s: its epoch grows; its ha instances are rebuilt elsewhere",
                 name, host_id, hook && hook[0] ? " (the hook confirmed)" : "");
    }
    return n > 0;
}
