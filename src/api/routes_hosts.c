/*
 * routes_hosts.c - /v1/hosts: registration and heartbeats of host agents,
 * and the admin's view of hosts.
 */
#include "api/api.h"

const struct route host_routes[] = {
    {NULL, NULL, 0, NULL, NULL, 0},
};
