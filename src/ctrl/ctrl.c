/*
 * ctrl.c - the reconciler thread and its wake-ups, and the monitor's
 * lifetime; see ctrl.h.
 */
#include "ctrl/ctrl.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "billing/billing.h"
#include "compute/compute.h"
#include "ctrl/ctrl_int.h"
#include "fleet/fleet.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/util.h"
#include "network/network.h"
#include "scale/scale.h"
#include "stack/stack.h"
#include "storage/storage.h"

#define BUDGET_CHECK_MS 30000
/* While migrations are active, the loop steps them this often between full
 * passes: a migration's end (QEMU's switch-over) is seen within this, not
 * within --reconcile-ms, and the source's paused copy goes as soon. */
#define MIGRATE_POLL_MS 100

struct ctrl {
    struct ctrl_cfg cfg;
    struct store *st;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool kicked, stopping;
    _Atomic int64_t last_turn; /* monotonic ms the loop last began a pass */
    int migrations;            /* active at the last step (the loop's thread only) */
    struct reconciler *rc;
    struct monitor *monitor;
    struct scale *scale; /* autoscaling groups: a pass after each reconcile */
    struct stack_engine *stacks;
    char image_dir[PATH_MAX + 8];  /* <state_dir>/images: the project hook's */
    char join_file[PATH_MAX + 16]; /* <state_dir>/join-token, rotated by the loop */
};

void ctrl_cfg_defaults(struct ctrl_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    str_copy(cfg->state_dir, sizeof(cfg->state_dir), "/var/lib/nubo/controller");
    str_copy(cfg->listen_addr, sizeof(cfg->listen_addr), "127.0.0.1");
    cfg->listen_port = 7700;
    cfg->threads = 4;
    cfg->reconcile_ms = 2000;
    cfg->host_down_ms = 15000;
    cfg->drain_parallel = 2;
    cfg->fence_timeout_ms = 10000;
    str_copy(cfg->sched_policy, sizeof(cfg->sched_policy), "spread");
    cfg->cpu_ratio = 4.0;
    cfg->ram_ratio = 1.0;
    cfg->disk_ratio = 1.0;
    monitor_cfg_defaults(&cfg->monitor);
}

const struct ctrl_cfg *ctrl_cfg(const struct ctrl *c)
{
    return &c->cfg;
}

struct store *ctrl_store(const struct ctrl *c)
{
    return c->st;
}

struct monitor *ctrl_monitor(const struct ctrl *c)
{
    return c->monitor;
}

struct stack_engine *ctrl_stacks(const struct ctrl *c)
{
    return c->stacks;
}

int64_t ctrl_last_turn_ms(const struct ctrl *c)
{
    return c->last_turn;
}

struct reconciler *ctrl_reconciler(struct ctrl *c)
{
    return c->rc;
}

void ctrl_note_migrations(struct ctrl *c, int active)
{
    c->migrations = active;
}

static void *loop(void *arg)
{
    struct ctrl *c = arg;
    pthread_mutex_lock(&c->mu);
    int64_t next_budget_check = 0;
    /* main() made the first local join token; the next is due after
     * JOIN_ROTATE_MS, or sooner when the wall clock jumps ahead (the
     * token's expiry is wall-clock time). */
    int64_t next_join_rotate = clock_mono_ms() + JOIN_ROTATE_MS;
    int64_t join_wall_due = clock_now_ms() + JOIN_ROTATE_MS;
    while (!c->stopping) {
        c->kicked = false;
        pthread_mutex_unlock(&c->mu);
        c->last_turn = clock_mono_ms();
        ctrl_reconcile(c);
        scale_run_once(c->scale);
        /* Budget thresholds are recorded when crossed even if nobody reads
         * the project's cost: checked here, at most every BUDGET_CHECK_MS. */
        if (clock_mono_ms() >= next_budget_check) {
            billing_budgets_evaluate(c->st);
            next_budget_check = clock_mono_ms() + BUDGET_CHECK_MS;
        }
        /* The local join token is short-lived: a new one every
         * JOIN_ROTATE_MS (a failure is retried at the next pass). */
        if (clock_mono_ms() >= next_join_rotate || clock_now_ms() >= join_wall_due) {
            struct nubo_err jerr;
            if (fleet_join_local_rotate(c->st, c->join_file, &jerr) < 0) {
                log_warn("cannot replace the local join token (again in a minute): %s", jerr.msg);
                next_join_rotate = clock_mono_ms() + 60000;
                join_wall_due = clock_now_ms() + 60000;
            } else {
                next_join_rotate = clock_mono_ms() + JOIN_ROTATE_MS;
                join_wall_due = clock_now_ms() + JOIN_ROTATE_MS;
            }
        }
        pthread_mutex_lock(&c->mu);
        if (c->kicked || c->stopping)
            continue;
        /* The wait is on the monotonic clock (cv's attribute): a jump of
         * the wall clock neither skips nor stretches it. */
        struct timespec ts, poll;
        clock_mono_deadline(&ts, c->cfg.reconcile_ms);
        int64_t full_due = clock_mono_ms() + c->cfg.reconcile_ms;
        while (!c->kicked && !c->stopping) {
            if (c->migrations > 0 && clock_mono_ms() + MIGRATE_POLL_MS < full_due) {
                /* Only the migrations, until the next full pass. */
                clock_mono_deadline(&poll, MIGRATE_POLL_MS);
                if (pthread_cond_timedwait(&c->cv, &c->mu, &poll) == ETIMEDOUT && !c->kicked &&
                    !c->stopping) {
                    pthread_mutex_unlock(&c->mu);
                    int before = c->migrations;
                    c->migrations = migrate_converge(c);
                    pthread_mutex_lock(&c->mu);
                    /* One ended: a full pass now (its instance's host, a
                     * drain's next migration). */
                    if (c->migrations < before)
                        c->kicked = true;
                }
                continue;
            }
            if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT)
                break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Wakes the reconciler from other modules' callbacks: network changes
 * (rules, ports, floating IPs reach hosts at once), the scale module's
 * alarm hook (on the monitor's thread) and the stack engine. */
static void kick_cb(void *arg)
{
    ctrl_kick(arg);
}

struct ctrl *ctrl_start(const struct ctrl_cfg *cfg, struct store *st, struct nubo_err *err)
{
    struct ctrl *c = xcalloc(1, sizeof(*c));
    c->cfg = *cfg;
    c->st = st;
    /* An agent's lease is half the silence that makes its host down, so a
     * cut-off agent has paused its VMs well before anything of it is
     * rebuilt elsewhere (docs/internals/mobility.md). */
    fleet_set_lease_ms(cfg->host_down_ms / 2);
    /* Deleting a project asks each module above identity, in the same
     * transaction: the owners of live things (stacks, scaling groups,
     * volumes, instances) refuse first, naming what to delete; then compute
     * and monitor remove the project's rows that have no foreign key
     * (compute names its image files, unlinked after the commit) and billing
     * closes the project's open usage records. */
    snprintf(c->image_dir, sizeof(c->image_dir), "%s/images", cfg->state_dir);
    snprintf(c->join_file, sizeof(c->join_file), "%s/join-token", cfg->state_dir);
    identity_clear_project_delete_hooks();
    identity_add_project_delete_hook(stack_project_purge, NULL);
    identity_add_project_delete_hook(scale_project_purge, NULL);
    identity_add_project_delete_hook(storage_project_purge, NULL);
    identity_add_project_delete_hook(compute_project_purge, c->image_dir);
    identity_add_project_delete_hook(monitor_project_purge, NULL);
    identity_add_project_delete_hook(billing_project_close, NULL);
    /* Floating IPs are metered in their allocation's and release's
     * transactions (src/network does not depend on billing). */
    network_set_meter_hook(billing_floatingip_meter, NULL);
    str_copy(c->cfg.monitor.state_dir, sizeof(c->cfg.monitor.state_dir), cfg->state_dir);
    c->monitor = monitor_start(&c->cfg.monitor, st, err);
    if (c->monitor == NULL) {
        identity_clear_project_delete_hooks();
        free(c);
        return NULL;
    }
    c->rc = reconciler_new();
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    struct sched_cfg scfg = {
        .policy = strcmp(c->cfg.sched_policy, "pack") == 0 ? SCHED_PACK : SCHED_SPREAD,
        .cpu_ratio = c->cfg.cpu_ratio,
        .ram_ratio = c->cfg.ram_ratio,
        .disk_ratio = c->cfg.disk_ratio,
    };
    compute_configure(&scfg); /* the API's creates place with it */
    c->scale = scale_new(st, &scfg, kick_cb, c, err);
    if (c->scale == NULL) {
        monitor_stop(c->monitor);
        reconciler_free(c->rc);
        identity_clear_project_delete_hooks();
        free(c);
        return NULL;
    }
    if (pthread_create(&c->thread, NULL, loop, c) != 0) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot start the reconciler thread");
        monitor_stop(c->monitor);
        scale_free(c->scale);
        reconciler_free(c->rc);
        identity_clear_project_delete_hooks();
        free(c);
        return NULL;
    }
    /* Services wake the reconciler after their changes (the API's writes
     * included: the API reaches the reconciler only through these). */
    network_set_change_hook(kick_cb, c);
    compute_set_change_hook(kick_cb, c);
    fleet_set_change_hook(kick_cb, c);
    scale_set_change_hook(kick_cb, c);
    /* Stacks resume their unfinished applies once the reconciler runs. */
    struct stack_env senv = {.st = st, .monitor = c->monitor, .kick = kick_cb, .kick_arg = c};
    senv.sched.policy = strcmp(cfg->sched_policy, "pack") == 0 ? SCHED_PACK : SCHED_SPREAD;
    senv.sched.cpu_ratio = cfg->cpu_ratio;
    senv.sched.ram_ratio = cfg->ram_ratio;
    senv.sched.disk_ratio = cfg->disk_ratio;
    c->stacks = stack_engine_start(&senv, err);
    if (c->stacks == NULL) {
        ctrl_stop(c);
        return NULL;
    }
    return c;
}

void ctrl_kick(struct ctrl *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->kicked = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

void ctrl_stop(struct ctrl *c)
{
    if (c == NULL)
        return;
    network_set_change_hook(NULL, NULL);
    network_set_meter_hook(NULL, NULL);
    compute_set_change_hook(NULL, NULL);
    fleet_set_change_hook(NULL, NULL);
    scale_set_change_hook(NULL, NULL);
    identity_clear_project_delete_hooks();
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    stack_engine_stop(c->stacks);
    pthread_join(c->thread, NULL);
    /* Its workers first: they may still kick c (through a hook read just
     * before it was cleared) until they are joined. */
    reconciler_free(c->rc);
    monitor_stop(c->monitor);
    scale_free(c->scale);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    fleet_liveness_reset();
    free(c);
}
