/*
 * routes_compute.c - /v1/flavors, /v1/images, /v1/keypairs,
 * /v1/server-groups, /v1/instances, /v1/tasks.
 */
#include "api/api.h"

const struct route compute_routes[] = {
    {NULL, NULL, 0, NULL, NULL, 0},
};
