/*
 * console.c - an instance's serial console, read through the host agent
 * that runs its VM (GET /v1/vms/{name}/console of the host protocol, see
 * lib/agent_client.h).  The controller proxies it so that users never
 * talk to hosts.
 */
#include <stdio.h>

#include "compute/compute.h"
#include "compute/compute_int.h"
#include "lib/agent_client.h"

char *compute_instance_console(struct store *st, const struct ctx *ctx, const char *id,
                               long long offset, int limit, size_t *len, long long *next,
                               struct nubo_err *err)
{
    struct compute_console_target t;
    if (compute_instance_console_target(st, ctx, id, &t, err) < 0)
        return NULL;
    struct agent_target at = {.name = t.host_name, .address = t.address, .token = t.token};
    return agent_console(&at, t.vm, offset, limit, len, next, err);
}
