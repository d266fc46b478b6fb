/*
 * scale.h - elastic scaling: launch templates, autoscaling groups, scaling
 * policies, scheduled actions, and the pass that keeps every group at its
 * size and healthy.
 *
 * A launch template is a named, versioned description of an instance
 * (flavor, image, keypair, user-data, server group, networks, security
 * groups); versions never change once written.  A group launches instances
 * of one template version, keeps between min_size and max_size of them and
 * aims for desired.  Its instances are ordinary instances of the project
 * (created through compute_instance_create(): quota-counted, billed,
 * metered, visible in /v1/instances), linked to the group in scale_members.
 *
 * scale_run_once() is the group reconciliation, called by the controller's
 * reconciler thread after each reconcile pass (every --reconcile-ms, and at
 * once after ctrl_kick()).  For every group it fires due scheduled actions,
 * evaluates the policies (target tracking on the average CPU of the
 * group's instances, step policies whose alarm is in ALARM), replaces
 * unhealthy instances, launches or terminates to reach desired, and rolls
 * instances of an old template version over in batches.  Every decision of
 * time asks clock_now_ms() (lib/clock.h), so tests move time with
 * NUBO_FAKE_CLOCK_FILE.  docs/internals/autoscaling.md has the semantics.
 *
 * Services follow compute.h's conventions: they take the caller's ctx,
 * select by ctx->project_id in their queries (another project's resource is
 * NUBO_E_NOTFOUND), validate their input (NUBO_E_INVALID saying what to fix;
 * nothing changes when a call fails), return new references in the API's
 * shape or NULL with err, and lists return up to limit + 1 rows for
 * store_page_wrap().
 */
#ifndef NUBO_SCALE_H
#define NUBO_SCALE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "identity/identity.h"
#include "lib/err.h"
#include "sched/sched.h"
#include "store/store.h"

#define SCALE_MAX_SIZE 50     /* max_size of a group */
#define SCALE_MAX_STEPS 10    /* bands of a step policy */
#define SCALE_MAX_NETWORKS 16 /* entries of networks / security_groups */

/* ------------------------------------------------------------ runtime */

struct scale;

/* fn(arg) is called after every committed change of a launch template,
 * group, policy or scheduled action through the functions below; the
 * controller makes it wake the thread that runs the scale pass.  Set once
 * before threads start; NULL disables it. */
void scale_set_change_hook(void (*fn)(void *), void *arg);

/* Creates the runtime and registers the alarm hook "autoscale" (an alarm
 * naming it makes its step policies act at once instead of at the next
 * pass).  kick(kick_ctx) wakes the thread that calls scale_run_once(); cfg
 * is the placement policy new instances are created with (copied).
 * Returns NULL with err. */
struct scale *scale_new(struct store *st, const struct sched_cfg *cfg, void (*kick)(void *),
                        void *kick_ctx, struct nubo_err *err);

/* One pass over every group (see above).  Never fails: problems become
 * activities of the group and log lines. */
void scale_run_once(struct scale *s);

/* Unregisters the hook and frees s (NULL is fine). */
void scale_free(struct scale *s);

/* True when the instance is an in-service member of a scaling group: its
 * group, not the reconciler, answers a crash (by replacing it). */
bool scale_instance_in_group(struct store *st, const char *instance_id);

/* --------------------------------------------------- launch templates */

/* Body: {name, description?, flavor, image, keypair?, user_data?,
 * server_group?, networks?: [id|name], security_groups?: [id|name]}.
 * Flavor, image, keypair and server group must be visible to the project
 * (NUBO_E_INVALID otherwise).  Creates version 1, the default. */
json_t *scale_template_create(struct store *st, const struct ctx *ctx, json_t *body,
                              struct nubo_err *err);
json_t *scale_template_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                            struct nubo_err *err);
/* ref: an id or a name.  The answer holds the default version's content. */
json_t *scale_template_get(struct store *st, const struct ctx *ctx, const char *ref,
                           struct nubo_err *err);
/* Body: {default_version?, description?}. */
json_t *scale_template_update(struct store *st, const struct ctx *ctx, const char *ref,
                              json_t *body, struct nubo_err *err);
/* NUBO_E_CONFLICT while a group uses it. */
int scale_template_delete(struct store *st, const struct ctx *ctx, const char *ref,
                          struct nubo_err *err);
/* A new version (latest + 1): the body of a create without name, plus
 * set_default?: bool.  Fields left out are NOT inherited. */
json_t *scale_template_version_create(struct store *st, const struct ctx *ctx, const char *ref,
                                      json_t *body, struct nubo_err *err);
/* The versions, oldest first; the marker is a version number. */
json_t *scale_template_versions(struct store *st, const struct ctx *ctx, const char *ref, int limit,
                                const char *marker, struct nubo_err *err);

/* ------------------------------------------------------------- groups */

/* Body: {name, template, template_version? (null: the template's default,
 * followed when it changes), min_size, max_size, desired? (min_size),
 * health_grace_s? (300), cooldown_s? (300), termination_policy?
 * ("oldest-first" | "newest-first"), rolling_batch? (1)}. */
json_t *scale_group_create(struct store *st, const struct ctx *ctx, json_t *body,
                           struct nubo_err *err);
json_t *scale_group_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                         struct nubo_err *err);
/* With its instances. */
json_t *scale_group_get(struct store *st, const struct ctx *ctx, const char *ref,
                        struct nubo_err *err);
/* Body: any of {min_size, max_size, desired, template_version,
 * health_grace_s, cooldown_s, termination_policy, rolling_batch}; the
 * result must keep min <= desired <= max. */
json_t *scale_group_update(struct store *st, const struct ctx *ctx, const char *ref, json_t *body,
                           struct nubo_err *err);
/* Deletes the group's instances (compute_instance_delete), its policies,
 * scheduled actions and history, then the group. */
int scale_group_delete(struct store *st, const struct ctx *ctx, const char *ref,
                       struct nubo_err *err);
/* The group's activities, newest first. */
json_t *scale_group_activities(struct store *st, const struct ctx *ctx, const char *ref, int limit,
                               const char *marker, struct nubo_err *err);
/* Sets an instance's scale-in protection: {instance_id, protected}. */
json_t *scale_group_protect(struct store *st, const struct ctx *ctx, const char *ref,
                            const char *instance_id, json_t *body, struct nubo_err *err);

/* ----------------------------------------------------------- policies */

/* Body: {name, group, kind: "target" | "step", ...}
 *   target: target_value (1..100, average CPU percent), warmup_s? (60),
 *           window_s? (60, 5..3600: the samples averaged),
 *           scale_out_cooldown_s? (60), scale_in_cooldown_s? (300)
 *   step:   alarm (id or name), adjustment_type? ("change" | "percent"),
 *           steps: [{lower?, upper?, adjustment}] (bounds relative to the
 *           alarm's threshold; null = unbounded), cooldown_s? (the group's)
 */
json_t *scale_policy_create(struct store *st, const struct ctx *ctx, json_t *body,
                            struct nubo_err *err);
json_t *scale_policy_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                          struct nubo_err *err);
json_t *scale_policy_get(struct store *st, const struct ctx *ctx, const char *id,
                         struct nubo_err *err);
int scale_policy_delete(struct store *st, const struct ctx *ctx, const char *id,
                        struct nubo_err *err);

/* Body: {name, group, cron ("m h dom mon dow", UTC), min_size?, max_size?,
 * desired?} (at least one of the three). */
json_t *scale_schedule_create(struct store *st, const struct ctx *ctx, json_t *body,
                              struct nubo_err *err);
json_t *scale_schedule_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                            struct nubo_err *err);
json_t *scale_schedule_get(struct store *st, const struct ctx *ctx, const char *id,
                           struct nubo_err *err);
int scale_schedule_delete(struct store *st, const struct ctx *ctx, const char *id,
                          struct nubo_err *err);

/* ------------------------------------------------ pure logic (calc.c) */

/* A parsed cron expression: one bit per allowed value. */
struct scale_cron {
    uint64_t minute; /* bits 0..59 */
    uint32_t hour;   /* 0..23 */
    uint32_t dom;    /* 1..31 */
    uint16_t month;  /* 1..12 */
    uint8_t dow;     /* 0..6, Sunday = 0 (7 is accepted as Sunday) */
    bool dom_any, dow_any;
};

/* Parses "MIN HOUR DOM MONTH DOW": each field '*', a value, a range a-b,
 * a step (a-b/n, or n after a star and a slash) or a comma list of those; months and days are
 * numbers.  NUBO_E_INVALID says which field is wrong. */
int scale_cron_parse(const char *expr, struct scale_cron *out, struct nubo_err *err);

/* The first minute strictly after after_ms (UTC) that matches, in Unix ms;
 * -1 when none within 5 years (e.g. "0 0 31 2 *").  Like cron, when both
 * day fields are restricted a day matching either one matches. */
int64_t scale_cron_next(const struct scale_cron *c, int64_t after_ms);

/* Target tracking: the capacity wanted when `metric_n` measured
 * instances average avg (percent) against target, `warming` more are
 * still warming up (not measured) and current are wanted now.  Out fast:
 * ceil(metric_n * avg / target) when above current - warming instances
 * already count in current, so a spike is not answered twice while new
 * instances boot.  In slowly: current - 1 when that formula is below
 * current and nothing is warming.  Clamped to [min, max]; current when no
 * change. */
long long scale_target_capacity(long long current, long long metric_n, long long warming,
                                double avg, double target, long long min, long long max);

struct scale_step {
    bool has_lower, has_upper;
    double lower, upper; /* relative to the alarm threshold: [lower, upper) */
    long long adjustment;
};

/* The index of the band holding delta (= value - threshold), or -1. */
int scale_step_select(const struct scale_step *steps, size_t n, double delta);

/* The capacity after an adjustment: percent = false adds adj, true adds
 * adj % of current (rounded away from zero, at least 1 either way);
 * clamped to [min, max]. */
long long scale_step_apply(long long current, long long adj, bool percent, long long min,
                           long long max);

/* True when an action at now_ms is allowed after the last one at last_ms
 * (0: never) and a cooldown of cooldown_ms. */
bool scale_cooldown_ok(int64_t now_ms, int64_t last_ms, int64_t cooldown_ms);

/* The wait before the next launch after `failures` failed ones in a row:
 * 10 s doubling to 5 minutes. */
int64_t scale_backoff_ms(int failures);

/* Fills used[] with project_id's launch templates, scaling groups,
 * scaling policies and scheduled actions (the quota routes' usage).  0, or -1 with err. */
int scale_quota_usage(struct store *st, const char *project_id, long long used[QUOTA_DIMS],
                      struct nubo_err *err);

/* Project project_id (named name) is being deleted (an
 * identity_project_delete_fn, in the caller's transaction): NUBO_E_CONFLICT
 * while one of its scaling groups still has instances, naming it; otherwise
 * its templates, groups, policies, scheduled actions and activities go
 * with the project (ON DELETE CASCADE, migration 8).  0 or -1 with err. */
struct strv;
int scale_project_purge(struct store *st, const char *project_id, const char *name,
                        struct strv *files, void *arg, struct nubo_err *err);

#endif
