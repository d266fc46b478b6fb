/*
 * rtype.c - the registry of resource types a template may use.
 *
 * A type is one const struct stack_rtype (stack_int.h) in its own small
 * file, and one line in the table below.  Types of services that do not
 * exist yet (networks, subnets, security groups and rules, floating IPs,
 * launch templates, autoscaling groups and policies, volumes) are added the
 * same way when those services land.
 */
#include <stdio.h>
#include <string.h>

#include "stack/stack_int.h"

static const struct stack_rtype *const registry[] = {
    &stack_rtype_keypair, &stack_rtype_server_group, &stack_rtype_instance,
    &stack_rtype_alarm,   &stack_rtype_flavor,
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
