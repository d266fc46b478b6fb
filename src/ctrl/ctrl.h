/*
 * ctrl.h - the controller's runtime: configuration, the reconciler thread,
 * and the clients it uses to drive host agents.
 *
 * Desired state is in the store (instances.desired); the reconciler
 * converges hosts to it: it places nothing itself (the API's create does,
 * through src/sched), it makes each host run exactly the VMs its instances
 * want, records drift as instance events, and marks hosts that stop
 * heartbeating as down (their instances 'unknown').  It runs every
 * reconcile interval and at once when ctrl_kick() is called.
 */
#ifndef NUBO_CTRL_H
#define NUBO_CTRL_H

#include <limits.h>
#include <stdint.h>

#include "lib/err.h"
#include "monitor/monitor.h"
#include "stack/stack.h"
#include "store/store.h"

struct ctrl_cfg {
    char state_dir[PATH_MAX]; /* nubo.db, image files, secrets */
    char listen_addr[64];
    int listen_port;
    int threads;        /* API threads */
    int reconcile_ms;   /* reconcile interval */
    int host_down_ms;   /* heartbeat silence before a host is down */
    int drain_parallel; /* live migrations at once off a draining host */
    /* Fencing a down host before its ha instances are rebuilt elsewhere:
     * the hook (PATH HOST_ID NAME ADDRESS; exit 0 = fenced; "" = none)
     * and how long it may take (docs/internals/mobility.md). */
    char fence_hook[PATH_MAX];
    int fence_timeout_ms;
    char sched_policy[16]; /* "spread" or "pack" */
    double cpu_ratio, ram_ratio, disk_ratio;
    /* Metrics retention and alarm evaluation (src/monitor); its state_dir
     * is set from state_dir above when the controller starts. */
    struct monitor_cfg monitor;
};

void ctrl_cfg_defaults(struct ctrl_cfg *cfg);

struct ctrl;

/* Starts the reconciler thread and the monitor's threads (metrics
 * housekeeping, alarm evaluation, webhooks). */
struct ctrl *ctrl_start(const struct ctrl_cfg *cfg, struct store *st, struct nubo_err *err);

/* Wakes the reconciler now (after a create, an action, a heartbeat). */
void ctrl_kick(struct ctrl *c);

/* The store the controller runs on. */
struct store *ctrl_store(const struct ctrl *c);

/* The monitor (metrics and alarms) the controller runs. */
struct monitor *ctrl_monitor(const struct ctrl *c);

/* The stack engine (infrastructure as code). */
struct stack_engine *ctrl_stacks(const struct ctrl *c);

/* The configuration in use. */
const struct ctrl_cfg *ctrl_cfg(const struct ctrl *c);

/* Stops the threads and frees c (NULL is fine). */
void ctrl_stop(struct ctrl *c);

/* The monotonic time (clock_mono_ms) at which the reconciler's loop last
 * began a pass: what the systemd watchdog of nubod watches. */
int64_t ctrl_last_turn_ms(const struct ctrl *c);

/* One reconcile pass over every host and instance (reconcile.c).  Called by
 * the thread; tests may call it directly. */
void ctrl_reconcile(struct ctrl *c);

/* What the reconciler remembers between passes (retry back-off, reboots
 * in flight), owned by struct ctrl and used only on the reconciler's
 * thread (reconcile.c). */
struct reconciler;
struct reconciler *reconciler_new(void);
void reconciler_free(struct reconciler *r);
struct reconciler *ctrl_reconciler(struct ctrl *c);

#endif
