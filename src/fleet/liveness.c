/*
 * liveness.c - when each host was last heard from, in memory, on the
 * monotonic clock; see fleet.h ("liveness").
 *
 * Why in memory and monotonic: a host is down when *it* is silent, not
 * when the controller could not write down that it spoke (a busy or full
 * store, a slow transaction) nor when the wall clock jumps (the stored
 * last_heartbeat_ms is wall-clock time, for people and for billing).  A
 * heartbeat is recorded here as soon as it is received and validated,
 * before its transaction, so the reconciler's down decision
 * (src/ctrl/reconcile.c) never depends on the store having kept up.
 *
 * A small array under a mutex: one entry per host heard from since nubod
 * started (a few thousand at most; heartbeats every few seconds).  Lost on
 * restart: the reconciler then gives every host a full host_down_ms.
 */
#include "fleet/fleet.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

struct seen {
    char id[37];
    int64_t at; /* monotonic ms */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct seen *tab;
static size_t ntab, atab;

void fleet_liveness_seen(const char *host_id)
{
    int64_t now = clock_mono_ms();
    pthread_mutex_lock(&mu);
    size_t i = 0;
    while (i < ntab && strcmp(tab[i].id, host_id) != 0)
        i++;
    if (i == ntab) {
        if (ntab == atab) {
            atab = atab ? atab * 2 : 16;
            struct seen *t = realloc(tab, atab * sizeof(*tab));
            if (t == NULL)
                abort();
            tab = t;
        }
        str_copy(tab[i].id, sizeof(tab[i].id), host_id);
        ntab++;
    }
    tab[i].at = now;
    pthread_mutex_unlock(&mu);
}

int64_t fleet_liveness_last(const char *host_id)
{
    int64_t at = 0;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < ntab; i++)
        if (strcmp(tab[i].id, host_id) == 0) {
            at = tab[i].at;
            break;
        }
    pthread_mutex_unlock(&mu);
    return at;
}

void fleet_liveness_forget(const char *host_id)
{
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < ntab; i++)
        if (strcmp(tab[i].id, host_id) == 0) {
            tab[i] = tab[--ntab];
            break;
        }
    pthread_mutex_unlock(&mu);
}

void fleet_liveness_reset(void)
{
    pthread_mutex_lock(&mu);
    free(tab);
    tab = NULL;
    ntab = atab = 0;
    pthread_mutex_unlock(&mu);
}
