/*
 * rtype_scale.c - resource types over src/scale: launch_template,
 * autoscaling_group, scaling_policy.
 *
 * A launch template changes in place by writing a new version (the new
 * default; fields are not inherited, so every version carries all the
 * template's properties).  Its name, and its networks, replace it: a
 * group's instances cannot move to another network in place (their ports
 * hold addresses of the old subnet, which could then not be deleted), so
 * a new network placement is a new template and, through its reference,
 * a new group.  A group is created following its template's default
 * version (template_version null), so a new template version is rolled
 * out by the scale pass: an in-place rolling update.  A group's sizes and
 * tuning change in place; its name and template replace it.  Policies have
 * no update service: any change replaces them.
 *
 * A group's live "desired" is not reported by read(): policies and
 * schedules move it on purpose, which is not drift.  A changed desired in
 * the template is still an in-place update (template vs recorded).
 */
#include <string.h>

#include "lib/util.h"
#include "scale/scale.h"
#include "stack/stack_int.h"

static const char *pstr(const json_t *props, const char *k)
{
    return json_string_value(json_object_get(props, k));
}

/* {properties: props, attributes: attrs} (both stolen). */
static json_t *live(json_t *props, json_t *attrs)
{
    return json_pack("{s:o, s:o}", "properties", props, "attributes", attrs);
}

/* props without nulls and without the keys in skip (new reference). */
static json_t *body_of(const json_t *props, const char *const *skip)
{
    json_t *b = json_object();
    const char *k;
    json_t *v;
    json_object_foreach ((json_t *)props, k, v) {
        bool skipped = false;
        for (const char *const *s = skip; s && *s && !skipped; s++)
            skipped = strcmp(*s, k) == 0;
        if (!skipped && !json_is_null(v))
            json_object_set(b, k, v);
    }
    return b;
}

static int where_is(const char **where, const char *prop, int rc)
{
    if (rc < 0)
        *where = prop;
    return rc;
}

/* ----------------------------------------------------- launch template */

static const struct stack_prop lt_props[] = {
    {"name", STACK_P_STRING, true, true},
    {"description", STACK_P_STRING, false, false},
    {"flavor", STACK_P_STRING, true, false},
    {"image", STACK_P_STRING, true, false},
    {"keypair", STACK_P_STRING, false, false},
    {"user_data", STACK_P_STRING, false, false},
    {"server_group", STACK_P_STRING, false, false},
    {"networks", STACK_P_LIST, false, true},
    {"security_groups", STACK_P_LIST, false, false},
    {NULL, 0, false, false},
};
static const char *const lt_attrs[] = {"id",         "name", "latest_version", "default_version",
                                       "created_at", NULL};

static int lt_check(const json_t *p, const char **where, struct nubo_err *err)
{
    return where_is(where, "networks",
                    stack_networks_check(json_object_get(p, "networks"), false, err));
}

/* The service's body for a version (new reference): networks resolved to
 * network ids. */
static json_t *lt_body(const struct stack_rctx *rc, const json_t *p, bool with_name,
                       struct nubo_err *err)
{
    static const char *const skip_name[] = {"name", "networks", NULL};
    static const char *const skip[] = {"networks", NULL};
    json_t *b = body_of(p, with_name ? skip : skip_name);
    json_t *nets = json_object_get(p, "networks");
    if (json_is_array(nets)) {
        json_t *r = stack_networks_resolve(rc, nets, false, err);
        if (r == NULL) {
            json_decref(b);
            return NULL;
        }
        json_t *ids = json_array();
        size_t i;
        json_t *e;
        json_array_foreach (r, i, e)
            json_array_append(ids, json_object_get(e, "network"));
        json_decref(r);
        json_object_set_new(b, "networks", ids);
    }
    return b;
}

static int lt_create(const struct stack_rctx *rc, const json_t *p, char id[STACK_ID_MAX],
                     struct nubo_err *err)
{
    json_t *b = lt_body(rc, p, true, err);
    if (b == NULL)
        return -1;
    json_t *t = scale_template_create(rc->env->st, rc->ctx, b, err);
    json_decref(b);
    if (t == NULL)
        return -1;
    str_copy(id, STACK_ID_MAX, pstr(t, "id"));
    json_decref(t);
    return 0;
}

static json_t *lt_read(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    json_t *t = scale_template_get(rc->env->st, rc->ctx, id, err);
    if (t == NULL)
        return NULL;
    /* flavor and image may be given by name or id: not compared; the
     * contents of the default version are attributes ("default") */
    return live(json_pack("{s:O}", "name", json_object_get(t, "name")), t);
}

static int lt_update(const struct stack_rctx *rc, const char *id, const json_t *old_props,
                     const json_t *new_props, struct nubo_err *err)
{
    (void)old_props;
    json_t *b = lt_body(rc, new_props, false, err);
    if (b == NULL)
        return -1;
    json_object_set_new(b, "set_default", json_true());
    json_t *v = scale_template_version_create(rc->env->st, rc->ctx, id, b, err);
    json_decref(b);
    json_decref(v);
    if (v && rc->env->kick)
        rc->env->kick(rc->env->kick_arg); /* the groups roll to the new default */
    return v ? 0 : -1;
}

static int lt_delete(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    return stack_rtype_del_wait(rc, scale_template_delete, id, err);
}

const struct stack_rtype stack_rtype_launch_template = {
    .name = "launch_template",
    .props = lt_props,
    .attributes = lt_attrs,
    .check = lt_check,
    .create = lt_create,
    .read = lt_read,
    .update = lt_update,
    .del = lt_delete,
};

/* --------------------------------------------------- autoscaling group */

static const struct stack_prop asg_props[] = {
    {"name", STACK_P_STRING, true, true},
    {"launch_template", STACK_P_STRING, true, true},
    {"min_size", STACK_P_INTEGER, true, false},
    {"max_size", STACK_P_INTEGER, true, false},
    {"desired", STACK_P_INTEGER, false, false},
    {"health_grace_s", STACK_P_INTEGER, false, false},
    {"cooldown_s", STACK_P_INTEGER, false, false},
    {"termination_policy", STACK_P_STRING, false, false},
    {"rolling_batch", STACK_P_INTEGER, false, false},
    {NULL, 0, false, false},
};
static const char *const asg_attrs[] = {
    "id",        "name",   "min_size",          "max_size",   "desired", "size", "template_version",
    "instances", "status", "effective_version", "created_at", NULL};

static int asg_check(const json_t *p, const char **where, struct nubo_err *err)
{
    static const char *const sizes[] = {"min_size", "desired", "max_size"};
    long long v[3];
    bool have[3];
    for (size_t i = 0; i < 3; i++) {
        json_t *x = json_object_get(p, sizes[i]);
        have[i] = json_is_number(x);
        v[i] = json_is_integer(x) ? json_integer_value(x) : (long long)json_number_value(x);
        if (have[i] && (v[i] < 0 || v[i] > SCALE_MAX_SIZE))
            return where_is(
                where, sizes[i],
                nubo_err_set(err, NUBO_E_INVALID, "%s must be 0..%d", sizes[i], SCALE_MAX_SIZE));
    }
    if (have[0] && have[2] && v[0] > v[2])
        return where_is(where, "max_size",
                        nubo_err_set(err, NUBO_E_INVALID, "max_size is below min_size"));
    if (have[1] && ((have[0] && v[1] < v[0]) || (have[2] && v[1] > v[2])))
        return where_is(
            where, "desired",
            nubo_err_set(err, NUBO_E_INVALID, "desired must be between min_size and max_size"));
    json_t *tp = json_object_get(p, "termination_policy");
    const char *t = json_string_value(tp);
    if (t && strcmp(t, "oldest-first") != 0 && strcmp(t, "newest-first") != 0)
        return where_is(where, "termination_policy",
                        nubo_err_set(err, NUBO_E_INVALID,
                                     "termination_policy must be oldest-first or newest-first"));
    return 0;
}

static int asg_create(const struct stack_rctx *rc, const json_t *p, char id[STACK_ID_MAX],
                      struct nubo_err *err)
{
    static const char *const skip[] = {"launch_template", NULL};
    json_t *b = body_of(p, skip);
    json_object_set(b, "template", json_object_get(p, "launch_template"));
    json_t *g = scale_group_create(rc->env->st, rc->ctx, b, err);
    json_decref(b);
    if (g == NULL)
        return -1;
    str_copy(id, STACK_ID_MAX, pstr(g, "id"));
    json_decref(g);
    if (rc->env->kick)
        rc->env->kick(rc->env->kick_arg);
    return 0;
}

static json_t *asg_read(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    json_t *g = scale_group_get(rc->env->st, rc->ctx, id, err);
    if (g == NULL)
        return NULL;
    const char *status = pstr(g, "status");
    if (status && strcmp(status, "deleting") == 0) {
        json_decref(g);
        nubo_err_set(err, NUBO_E_NOTFOUND, "autoscaling group '%s' is being deleted", id);
        return NULL;
    }
    static const char *const keys[] = {"name",           "min_size",   "max_size",
                                       "health_grace_s", "cooldown_s", "termination_policy",
                                       "rolling_batch"};
    json_t *props = json_object();
    for (size_t i = 0; i < ARRAY_LEN(keys); i++)
        json_object_set(props, keys[i], json_object_get(g, keys[i]));
    return live(props, g);
}

static int asg_update(const struct stack_rctx *rc, const char *id, const json_t *old_props,
                      const json_t *new_props, struct nubo_err *err)
{
    (void)old_props;
    static const char *const skip[] = {"name", "launch_template", NULL};
    json_t *b = body_of(new_props, skip);
    json_t *g = scale_group_update(rc->env->st, rc->ctx, id, b, err);
    json_decref(b);
    json_decref(g);
    if (g && rc->env->kick)
        rc->env->kick(rc->env->kick_arg);
    return g ? 0 : -1;
}

static int asg_delete(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    int r = scale_group_delete(rc->env->st, rc->ctx, id, err);
    if (rc->env->kick)
        rc->env->kick(rc->env->kick_arg);
    return r;
}

const struct stack_rtype stack_rtype_autoscaling_group = {
    .name = "autoscaling_group",
    .props = asg_props,
    .attributes = asg_attrs,
    .check = asg_check,
    .create = asg_create,
    .read = asg_read,
    .update = asg_update,
    .del = asg_delete,
};

/* ------------------------------------------------------ scaling policy */

static const struct stack_prop pol_props[] = {
    {"name", STACK_P_STRING, true, true},
    {"group", STACK_P_STRING, true, true},
    {"kind", STACK_P_STRING, true, true}, /* target | step */
    {"target_value", STACK_P_NUMBER, false, true},
    {"warmup_s", STACK_P_INTEGER, false, true},
    {"window_s", STACK_P_INTEGER, false, true},
    {"scale_out_cooldown_s", STACK_P_INTEGER, false, true},
    {"scale_in_cooldown_s", STACK_P_INTEGER, false, true},
    {"alarm", STACK_P_STRING, false, true},
    {"adjustment_type", STACK_P_STRING, false, true},
    {"steps", STACK_P_LIST, false, true},
    {"cooldown_s", STACK_P_INTEGER, false, true},
    {NULL, 0, false, false},
};
static const char *const pol_attrs[] = {"id",       "name",       "group_id", "kind",
                                        "alarm_id", "created_at", NULL};

static int pol_check(const json_t *p, const char **where, struct nubo_err *err)
{
    const char *kind = json_string_value(json_object_get(p, "kind"));
    if (kind == NULL)
        return 0;
    static const char *const target_only[] = {"target_value", "warmup_s", "window_s",
                                              "scale_out_cooldown_s", "scale_in_cooldown_s"};
    static const char *const step_only[] = {"alarm", "adjustment_type", "steps", "cooldown_s"};
    bool target = strcmp(kind, "target") == 0;
    if (!target && strcmp(kind, "step") != 0)
        return where_is(where, "kind",
                        nubo_err_set(err, NUBO_E_INVALID, "kind must be target or step"));
    const char *const *other = target ? step_only : target_only;
    size_t nother = target ? ARRAY_LEN(step_only) : ARRAY_LEN(target_only);
    for (size_t i = 0; i < nother; i++)
        if (json_object_get(p, other[i]))
            return where_is(where, other[i],
                            nubo_err_set(err, NUBO_E_INVALID, "%s is for %s policies only",
                                         other[i], target ? "step" : "target"));
    const char *need[] = {target ? "target_value" : "alarm", target ? NULL : "steps"};
    for (size_t i = 0; i < 2; i++)
        if (need[i] && json_object_get(p, need[i]) == NULL) {
            *where = "kind";
            return nubo_err_set(err, NUBO_E_INVALID, "a %s policy needs %s", kind, need[i]);
        }
    return 0;
}

static int pol_create(const struct stack_rctx *rc, const json_t *p, char id[STACK_ID_MAX],
                      struct nubo_err *err)
{
    json_t *b = body_of(p, NULL);
    json_t *x = json_object_get(b, "target_value");
    if (json_is_integer(x))
        json_object_set_new(b, "target_value", json_real((double)json_integer_value(x)));
    json_t *pol = scale_policy_create(rc->env->st, rc->ctx, b, err);
    json_decref(b);
    if (pol == NULL)
        return -1;
    str_copy(id, STACK_ID_MAX, pstr(pol, "id"));
    json_decref(pol);
    return 0;
}

static json_t *pol_read(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    json_t *pol = scale_policy_get(rc->env->st, rc->ctx, id, err);
    if (pol == NULL)
        return NULL;
    return live(json_pack("{s:O}", "name", json_object_get(pol, "name")), pol);
}

static int pol_delete(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    return scale_policy_delete(rc->env->st, rc->ctx, id, err);
}

const struct stack_rtype stack_rtype_scaling_policy = {
    .name = "scaling_policy",
    .props = pol_props,
    .attributes = pol_attrs,
    .check = pol_check,
    .create = pol_create,
    .read = pol_read,
    .del = pol_delete,
};
