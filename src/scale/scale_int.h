/*
 * scale_int.h - helpers shared by the files of src/scale.  Not part of the
 * module's interface (scale.h); nothing outside src/scale includes this.
 */
#ifndef NUBO_SCALE_INT_H
#define NUBO_SCALE_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#include "identity/identity.h"
#include "lib/err.h"
#include "store/store.h"
#include "lib/jsonx.h" /* jsonx_str(): a row's string or "" */

/* Held by the scale pass while it works on a group and by a group delete,
 * so a pass never launches into a group being deleted. */
extern pthread_mutex_t scale_lock;

long long scale_int(const json_t *row, const char *key);

/* Body readers: each returns 0 with *out set when the field is absent (out
 * left as is) or valid, -1 with NUBO_E_INVALID naming the field otherwise. */
int scale_body_str(json_t *body, const char *key, bool required, const char **out,
                   struct nubo_err *err);
int scale_body_int(json_t *body, const char *key, bool required, long long min, long long max,
                   long long *out, bool *set, struct nubo_err *err);
int scale_body_num(json_t *body, const char *key, bool required, double min, double max,
                   double *out, bool *set, struct nubo_err *err);

/* Calls the change hook, if any (common.c): after a committed change of
 * a template, group, policy or schedule, so that the scale pass runs now. */
void scale_changed(void);

/* The group's row (id or name, in ctx's project), or NULL with err. */
json_t *scale_group_find(struct store *st, const char *project_id, const char *ref,
                         struct nubo_err *err);

/* Appends an activity to a group's history (never fails the caller). */
void scale_activity_add(struct store *st, const char *project_id, const char *group_id,
                        const char *kind, const char *instance_id, const char *policy_id,
                        const char *cause, const char *detail);

/* Counts project_id's launch templates, scaling groups, policies or
 * scheduled actions (dim) and checks
 * that one more fits its quota (quota_check_count()), in the create's
 * write transaction.  0, or -1 with err (NUBO_E_FORBIDDEN past it). */
int scale_quota_check(struct store *st, const char *project_id, enum quota_dim dim,
                      struct nubo_err *err);

/* A ctx acting for a group's project, as the autoscaler (role member). */
void scale_group_ctx(const json_t *group, struct ctx *ctx);

#endif
