/*
 * recovery.c - a cloud restored from a backup; see fleet.h ("recovery").
 *
 * A restored database is older than the hosts: VMs created after the
 * backup run on them with no instance row.  The reconciler would remove
 * them as orphans; while the cloud is recovering it quarantines them
 * instead (leaves them alone and lists them here) until an admin ends the
 * recovery.  The mode is the file <state-dir>/recovering, written by
 * `nubod --restore` and removed by the admin's "finish"; the quarantine
 * list is in memory (rebuilt by the next reconcile passes after a restart).
 */
#include "fleet/fleet.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char flag_path[4200];
static json_t *flag;        /* the file's JSON while recovering, else NULL */
static json_t *quarantined; /* {"<host id>/<vm name>": {host_id, host, vm, state, since}} */

bool fleet_recovery_init(const char *path)
{
    pthread_mutex_lock(&mu);
    str_copy(flag_path, sizeof(flag_path), path);
    json_decref(flag);
    flag = NULL;
    json_decref(quarantined);
    quarantined = json_object();
    if (fs_exists(path)) {
        json_error_t jerr;
        flag = json_load_file(path, 0, &jerr);
        if (!json_is_object(flag)) {
            json_decref(flag);
            flag = json_object(); /* unreadable: still recovering, without details */
        }
    }
    bool on = flag != NULL;
    pthread_mutex_unlock(&mu);
    if (on)
        log_warn("recovering from a backup (%s): VMs no instance claims are quarantined, not"
                 " removed, until an admin finishes the recovery (POST /v1/recovery/actions"
                 " {\"action\": \"finish\"}, nubo recovery finish)",
                 path);
    return on;
}

bool fleet_recovery_active(void)
{
    pthread_mutex_lock(&mu);
    bool on = flag != NULL;
    pthread_mutex_unlock(&mu);
    return on;
}

bool fleet_recovery_quarantine(const char *host_id, const char *host_name, const char *vm,
                               const char *state)
{
    char key[256];
    snprintf(key, sizeof(key), "%s/%s", host_id, vm);
    pthread_mutex_lock(&mu);
    bool first = false;
    if (flag != NULL) {
        json_t *q = json_object_get(quarantined, key);
        if (q == NULL) {
            char since[40];
            clock_format_ms(clock_now_ms(), since);
            q = json_pack("{s:s, s:s, s:s, s:s}", "host_id", host_id, "host", host_name, "vm", vm,
                          "since", since);
            json_object_set_new(quarantined, key, q);
            first = true;
        }
        json_object_set_new(q, "state", json_string(state ? state : "unknown"));
    }
    pthread_mutex_unlock(&mu);
    return first;
}

json_t *fleet_recovery_report(void)
{
    pthread_mutex_lock(&mu);
    json_t *out = json_object();
    json_object_set_new(out, "recovering", json_boolean(flag != NULL));
    json_t *list = json_array();
    if (flag != NULL) {
        json_object_update(out, flag);
        const char *k;
        json_t *v;
        json_object_foreach (quarantined, k, v)
            json_array_append(list, v);
    }
    json_object_set_new(out, "quarantined", list);
    pthread_mutex_unlock(&mu);
    return out;
}

int fleet_recovery_finish(struct nubo_err *err)
{
    pthread_mutex_lock(&mu);
    if (flag == NULL) {
        pthread_mutex_unlock(&mu);
        return nubo_err_set(err, NUBO_E_CONFLICT, "the cloud is not recovering from a backup");
    }
    if (unlink(flag_path) < 0 && errno != ENOENT) {
        int e = errno;
        pthread_mutex_unlock(&mu);
        log_error("cannot remove %s: %s", flag_path, strerror(e));
        return nubo_err_set(err, NUBO_E_INTERNAL,
                            "cannot end the recovery: the controller cannot remove its file"
                            " <state-dir>/recovering (see its log)");
    }
    json_decref(flag);
    flag = NULL;
    size_t n = json_object_size(quarantined);
    json_object_clear(quarantined);
    pthread_mutex_unlock(&mu);
    log_warn("recovery finished by an admin: %zu quarantined VM(s) are orphans again and go", n);
    return 0;
}

void fleet_recovery_reset(void)
{
    pthread_mutex_lock(&mu);
    json_decref(flag);
    flag = NULL;
    json_decref(quarantined);
    quarantined = NULL;
    pthread_mutex_unlock(&mu);
}
