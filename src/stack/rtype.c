/*
 * rtype.c - the registry of resource types a template may use.
 *
 * A type is one const struct stack_rtype (stack_int.h) in its own small
 * file, and one line in the table below.  Volumes are added the same way
 * when that service lands.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "stack/stack_int.h"

static const struct stack_rtype *const registry[] = {
    &stack_rtype_keypair,        &stack_rtype_server_group,    &stack_rtype_instance,
    &stack_rtype_alarm,          &stack_rtype_flavor,          &stack_rtype_network,
    &stack_rtype_subnet,         &stack_rtype_security_group,  &stack_rtype_security_group_rule,
    &stack_rtype_floating_ip,    &stack_rtype_launch_template, &stack_rtype_autoscaling_group,
    &stack_rtype_scaling_policy,
};

const struct stack_rtype *stack_rtype_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof(registry) / sizeof(registry[0]); i++)
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    return NULL;
}

const struct stack_prop *stack_rtype_prop(const struct stack_rtype *t, const char *name)
{
    for (const struct stack_prop *p = t->props; p->name; p++)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

void stack_rtype_names(char *out, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(registry) / sizeof(registry[0]) && len < n; i++)
        len += (size_t)snprintf(out + len, n - len, "%s%s", i ? ", " : "", registry[i]->name);
}

#define DEL_WAIT_MS 60000

int stack_rtype_del_wait(const struct stack_rctx *rc,
                         int (*del)(struct store *, const struct ctx *, const char *,
                                    struct nubo_err *),
                         const char *id, struct nubo_err *err)
{
    int poll_ms = rc->env->poll_ms > 0 ? rc->env->poll_ms : 250;
    for (int waited = 0;; waited += poll_ms) {
        if (del(rc->env->st, rc->ctx, id, err) == 0)
            return 0;
        if (err->code != NUBO_E_CONFLICT || waited >= DEL_WAIT_MS)
            return -1;
        struct timespec ts = {poll_ms / 1000, (long)(poll_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}
