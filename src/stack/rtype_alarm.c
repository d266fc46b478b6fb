/*
 * rtype_alarm.c - the "alarm" resource type over src/monitor.  Everything
 * but the name and the instance watched changes in place
 * (monitor_alarm_update takes any subset of the other fields).
 */
#include <string.h>

#include "lib/util.h"
#include "monitor/monitor.h"
#include "stack/stack_int.h"

static const struct stack_prop alarm_props[] = {
    {"name", STACK_P_STRING, true, true},
    {"instance", STACK_P_STRING, false, true},
    {"description", STACK_P_STRING, false, false},
    {"metric", STACK_P_STRING, true, false},
    {"statistic", STACK_P_STRING, true, false},
    {"comparison", STACK_P_STRING, true, false},
    {"threshold", STACK_P_NUMBER, true, false},
    {"window_s", STACK_P_INTEGER, true, false},
    {"evaluation_periods", STACK_P_INTEGER, false, false},
    {"webhook_url", STACK_P_STRING, false, false},
    {"hook", STACK_P_STRING, false, false},
    {NULL, 0, false, false},
};
static const char *const alarm_attrs[] = {"id",           "name",       "state",
                                          "state_reason", "created_at", NULL};

/* The monitor's body for the template's properties (new reference). */
static json_t *body(const json_t *p, bool create)
{
    json_t *b = json_object();
    const char *k;
    json_t *v;
    json_object_foreach ((json_t *)p, k, v) {
        if (json_is_null(v) || (!create && (strcmp(k, "name") == 0 || strcmp(k, "instance") == 0)))
            continue;
        if (strcmp(k, "threshold") == 0 && json_is_integer(v))
            json_object_set_new(b, k, json_real((double)json_integer_value(v)));
        else
            json_object_set(b, k, v);
    }
    return b;
}

static int alarm_create(const struct stack_rctx *rc, const json_t *p, char id[STACK_ID_MAX],
                        struct nubo_err *err)
{
    json_t *b = body(p, true);
    json_t *a = monitor_alarm_create(rc->env->monitor, rc->ctx, b, err);
    json_decref(b);
    if (a == NULL)
        return -1;
    str_copy(id, STACK_ID_MAX, json_string_value(json_object_get(a, "id")));
    json_decref(a);
    return 0;
}

static json_t *alarm_read(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    json_t *a = monitor_alarm_get(rc->env->st, rc->ctx, id, err);
    if (a == NULL)
        return NULL;
    json_t *props = json_object();
    static const char *const keys[] = {
        "name",     "description",        "metric",      "statistic", "comparison", "threshold",
        "window_s", "evaluation_periods", "webhook_url", "hook"};
    for (size_t i = 0; i < ARRAY_LEN(keys); i++)
        json_object_set(props, keys[i], json_object_get(a, keys[i]));
    json_object_set(props, "instance", json_object_get(a, "instance_id"));
    return json_pack("{s:o, s:o}", "properties", props, "attributes", a);
}

static int alarm_update(const struct stack_rctx *rc, const char *id, const json_t *old_props,
                        const json_t *new_props, struct nubo_err *err)
{
    json_t *b = body(new_props, false);
    json_t *a = monitor_alarm_update(rc->env->monitor, rc->ctx, id, b, err);
    json_decref(b);
    json_decref(a);
    return a ? 0 : -1;
}

static int alarm_delete(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    return monitor_alarm_delete(rc->env->st, rc->ctx, id, err);
}

const struct stack_rtype stack_rtype_alarm = {
    .name = "alarm",
    .props = alarm_props,
    .attributes = alarm_attrs,
    .create = alarm_create,
    .read = alarm_read,
    .update = alarm_update,
    .del = alarm_delete,
};
