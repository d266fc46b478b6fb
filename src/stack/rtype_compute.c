/*
 * rtype_compute.c - resource types over src/compute: keypair,
 * server_group, instance and (cloud admins only) flavor.
 *
 * Physical ids: a keypair's is its name (the compute service addresses
 * keypairs by name), the others' their id.  An instance's only in-place
 * change is its power state (property "state": running | stopped, through
 * the start/stop actions), and its security groups (set on each of its
 * ports); compute has no resize or rename, so every other property
 * replaces.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compute/compute.h"
#include "lib/util.h"
#include "network/network.h"
#include "stack/engine.h"

static const char *pstr(const json_t *props, const char *k)
{
    return json_string_value(json_object_get(props, k));
}

/* {properties: props, attributes: attrs} (both stolen). */
static json_t *live(json_t *props, json_t *attrs)
{
    return json_pack("{s:o, s:o}", "properties", props, "attributes", attrs);
}

/* ------------------------------------------------------------- keypair */

static const struct stack_prop keypair_props[] = {
    {"name", STACK_P_STRING, true, true},
    {"public_key", STACK_P_STRING, true, true},
    {NULL, 0, false, false},
};
static const char *const keypair_attrs[] = {"id",         "name",       "fingerprint",
                                            "public_key", "created_at", NULL};

static int keypair_create(const struct stack_rctx *rc, const json_t *p, char id[STACK_ID_MAX],
                          struct nubo_err *err)
{
    json_t *k =
        compute_keypair_create(rc->env->st, rc->ctx, pstr(p, "name"), pstr(p, "public_key"), err);
    if (k == NULL)
        return -1;
    str_copy(id, STACK_ID_MAX, json_string_value(json_object_get(k, "name")));
    json_decref(k);
    return 0;
}

static json_t *keypair_read(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    json_t *k = compute_keypair_get(rc->env->st, rc->ctx, id, err);
    if (k == NULL)
        return NULL;
    return live(json_pack("{s:O, s:O}", "name", json_object_get(k, "name"), "public_key",
                          json_object_get(k, "public_key")),
                k);
}

static int keypair_delete(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    return compute_keypair_delete(rc->env->st, rc->ctx, id, err);
}

const struct stack_rtype stack_rtype_keypair = {
    .name = "keypair",
    .props = keypair_props,
    .attributes = keypair_attrs,
    .create = keypair_create,
    .read = keypair_read,
    .del = keypair_delete,
};

/* -------------------------------------------------------- server group */

static const struct stack_prop group_props[] = {
    {"name", STACK_P_STRING, true, true},
    {"policy", STACK_P_STRING, true, true},
    {NULL, 0, false, false},
};
static const char *const group_attrs[] = {"id", "name", "policy", "members", "created_at", NULL};

static int group_create(const struct stack_rctx *rc, const json_t *p, char id[STACK_ID_MAX],
                        struct nubo_err *err)
{
    json_t *g =
        compute_server_group_create(rc->env->st, rc->ctx, pstr(p, "name"), pstr(p, "policy"), err);
    if (g == NULL)
        return -1;
    str_copy(id, STACK_ID_MAX, json_string_value(json_object_get(g, "id")));
    json_decref(g);
    return 0;
}

static json_t *group_read(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    json_t *g = compute_server_group_get(rc->env->st, rc->ctx, id, err);
    if (g == NULL)
        return NULL;
    return live(json_pack("{s:O, s:O}", "name", json_object_get(g, "name"), "policy",
                          json_object_get(g, "policy")),
                g);
}

#define GROUP_DELETE_WAIT_MS 30000

/* A group cannot go while it has members, and the stack's instances in it
 * were deleted just before (reverse dependency order) but stay "deleting"
 * until their host confirms: a conflict is retried for a bounded time. */
static int group_delete(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    int poll_ms = rc->env->poll_ms > 0 ? rc->env->poll_ms : 250;
    for (int waited = 0;; waited += poll_ms) {
        if (compute_server_group_delete(rc->env->st, rc->ctx, id, err) == 0)
            return 0;
        if (err->code != NUBO_E_CONFLICT || waited >= GROUP_DELETE_WAIT_MS)
            return -1;
        struct timespec ts = {poll_ms / 1000, (long)(poll_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

const struct stack_rtype stack_rtype_server_group = {
    .name = "server_group",
    .props = group_props,
    .attributes = group_attrs,
    .create = group_create,
    .read = group_read,
    .del = group_delete,
};

/* ------------------------------------------------------------ instance */

static const struct stack_prop instance_props[] = {
    {"name", STACK_P_STRING, true, true},
    {"flavor", STACK_P_STRING, true, true},
    {"image", STACK_P_STRING, true, true},
    {"keypair", STACK_P_STRING, false, true},
    {"user_data", STACK_P_STRING, false, true},
    {"server_group", STACK_P_STRING, false, true},
    {"state", STACK_P_STRING, false, false}, /* running (default) | stopped */
    /* [network | {network?, subnet?, fixed_ip?}]: compute cannot move an
     * instance's ports, so a change replaces it */
    {"networks", STACK_P_LIST, false, true},
    {"security_groups", STACK_P_LIST, false, false}, /* set on every port */
    {NULL, 0, false, false},
};
static const char *const instance_attrs[] = {
    "id",       "name",       "status", "host",        "flavor", "image",
    "fault",    "created_at", "boots",  "power_state", "vcpus",  "ram_mib",
    "disk_gib", "keypair",    "ip",     "addresses",   NULL};

static int instance_check(const json_t *p, const char **where, struct nubo_err *err)
{
    if (stack_networks_check(json_object_get(p, "networks"), true, err) < 0) {
        *where = "networks";
        return -1;
    }
    json_t *sgs = json_object_get(p, "security_groups");
    size_t i;
    json_t *g;
    if (json_array_size(sgs) > NETWORK_MAX_SGS) {
        *where = "security_groups";
        return nubo_err_set(err, NUBO_E_INVALID, "at most %d security groups", NETWORK_MAX_SGS);
    }
    json_array_foreach (sgs, i, g) {
        if (!json_is_string(g) && !stack_is_intrinsic(g)) {
            *where = "security_groups";
            return nubo_err_set(err, NUBO_E_INVALID,
                                "security_groups[%zu] must be a group's id or name", i);
        }
    }
    return 0;
}

/* The group refs of a security_groups property, pointing into p (caller
 * frees the array). */
static const char **sg_refs(const json_t *p, size_t *n)
{
    json_t *sgs = json_object_get(p, "security_groups");
    const char **out = xcalloc(json_array_size(sgs) + 1, sizeof(*out));
    size_t i;
    json_t *g;
    *n = 0;
    json_array_foreach (sgs, i, g)
        if (json_is_string(g))
            out[(*n)++] = json_string_value(g);
    return out;
}

static void kick(const struct stack_rctx *rc)
{
    if (rc->env->kick)
        rc->env->kick(rc->env->kick_arg);
}

static int instance_create(const struct stack_rctx *rc, const json_t *p, char id[STACK_ID_MAX],
                           struct nubo_err *err)
{
    const char *state = pstr(p, "state");
    if (state && strcmp(state, "running") != 0 && strcmp(state, "stopped") != 0)
        return nubo_err_set(err, NUBO_E_INVALID, "'state' must be running or stopped");
    struct compute_instance_spec s = {.name = pstr(p, "name"),
                                      .flavor = pstr(p, "flavor"),
                                      .image = pstr(p, "image"),
                                      .keypair = pstr(p, "keypair"),
                                      .user_data = pstr(p, "user_data"),
                                      .server_group = pstr(p, "server_group"),
                                      .count = 1};
    json_t *nets = NULL;
    struct network_nic nics[NETWORK_MAX_NICS];
    if (json_is_array(json_object_get(p, "networks"))) {
        nets = stack_networks_resolve(rc, json_object_get(p, "networks"), true, err);
        if (nets == NULL)
            return -1;
        size_t i;
        json_t *e;
        json_array_foreach (nets, i, e) {
            nics[i].network = pstr(e, "network");
            nics[i].fixed_ip = pstr(e, "fixed_ip");
        }
        s.nics = nics;
        s.nnics = json_array_size(nets);
    }
    const char **sgs = sg_refs(p, &s.nsgs);
    s.sgs = sgs;
    json_t *out = compute_instance_create(rc->env->st, rc->ctx, &rc->env->sched, &s, err);
    json_decref(nets);
    free(sgs);
    if (out == NULL)
        return -1;
    json_t *inst = json_array_get(json_object_get(out, "instances"), 0);
    str_copy(id, STACK_ID_MAX, json_string_value(json_object_get(inst, "id")));
    int rc_ = 0;
    if (strcmp(json_string_value(json_object_get(inst, "status")), "error") == 0)
        rc_ = nubo_err_set(err, NUBO_E_CAPACITY, "instance '%s' could not be placed: %s", s.name,
                           json_string_value(json_object_get(inst, "fault")) ?: "error");
    json_decref(out);
    kick(rc);
    return rc_;
}

static const char *power(const char *status)
{
    if (strcmp(status, "stopped") == 0 || strcmp(status, "stopping") == 0)
        return "stopped";
    return "running";
}

static json_t *instance_read(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    json_t *i = compute_instance_get(rc->env->st, rc->ctx, id, err);
    if (i == NULL)
        return NULL;
    const char *status = json_string_value(json_object_get(i, "status"));
    if (strcmp(status, "deleting") == 0 || strcmp(status, "deleted") == 0) {
        json_decref(i);
        nubo_err_set(err, NUBO_E_NOTFOUND, "instance '%s' is deleted", id);
        return NULL;
    }
    json_t *props =
        json_pack("{s:O, s:s}", "name", json_object_get(i, "name"), "state", power(status));
    /* "ip": the first tenant address, for outputs and references */
    json_t *first = json_array_get(json_object_get(i, "addresses"), 0);
    json_object_set(i, "ip", first ? json_object_get(first, "ip") : json_null());
    return live(props, i);
}

static int instance_update(const struct stack_rctx *rc, const char *id, const json_t *old_props,
                           const json_t *new_props, struct nubo_err *err)
{
    const char *want = pstr(new_props, "state") ?: "running";
    if (strcmp(want, "running") != 0 && strcmp(want, "stopped") != 0)
        return nubo_err_set(err, NUBO_E_INVALID, "'state' must be running or stopped");
    json_t *i = compute_instance_get(rc->env->st, rc->ctx, id, err);
    if (i == NULL)
        return -1;
    const char *status = json_string_value(json_object_get(i, "status"));
    int r = 0;
    json_t *old_sgs = json_object_get(old_props, "security_groups");
    json_t *new_sgs = json_object_get(new_props, "security_groups");
    if (!stack_value_eq(old_sgs, new_sgs)) {
        /* every port of the instance gets the new groups (none: default) */
        json_t *groups = json_is_array(new_sgs) && json_array_size(new_sgs)
                             ? json_incref(new_sgs)
                             : json_pack("[s]", "default");
        json_t *ports = json_object_get(i, "addresses");
        size_t k;
        json_t *port;
        json_array_foreach (ports, k, port) {
            json_t *u = port_update_groups(rc->env->st, rc->ctx,
                                           json_string_value(json_object_get(port, "port_id")),
                                           groups, err);
            json_decref(u);
            if (u == NULL) {
                r = -1;
                break;
            }
        }
        json_decref(groups);
    }
    if (r == 0 && strcmp(power(status), want) != 0) {
        json_t *out = compute_instance_action(rc->env->st, rc->ctx, id,
                                              strcmp(want, "stopped") == 0 ? "stop" : "start", err);
        r = out ? 0 : -1;
        json_decref(out);
        kick(rc);
    }
    json_decref(i);
    return r;
}

static int instance_delete(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    json_t *out = compute_instance_delete(rc->env->st, rc->ctx, id, err);
    if (out == NULL)
        return -1;
    json_decref(out);
    kick(rc);
    return 0;
}

static int instance_ready(const json_t *l, struct nubo_err *err)
{
    json_t *a = json_object_get(l, "attributes");
    const char *status = json_string_value(json_object_get(a, "status"));
    if (status == NULL)
        return 0;
    if (strcmp(status, "running") == 0)
        return 1;
    if (strcmp(status, "error") == 0)
        return nubo_err_set(err, NUBO_E_UNAVAILABLE, "instance '%s' failed: %s",
                            json_string_value(json_object_get(a, "name")),
                            json_string_value(json_object_get(a, "fault")) ?: "error");
    return 0;
}

const struct stack_rtype stack_rtype_instance = {
    .name = "instance",
    .props = instance_props,
    .attributes = instance_attrs,
    .check = instance_check,
    .create = instance_create,
    .read = instance_read,
    .update = instance_update,
    .del = instance_delete,
    .ready = instance_ready,
};

/* -------------------------------------------------------------- flavor */

static const struct stack_prop flavor_props[] = {
    {"name", STACK_P_STRING, true, true},
    {"vcpus", STACK_P_INTEGER, true, true},
    {"ram_mib", STACK_P_INTEGER, true, true},
    {"disk_gib", STACK_P_INTEGER, true, true},
    {"is_public", STACK_P_BOOLEAN, false, true},
    {"required_accel", STACK_P_STRING, false, true},
    {NULL, 0, false, false},
};
static const char *const flavor_attrs[] = {"id", "name", "vcpus", "ram_mib", "disk_gib", NULL};

static long long pint(const json_t *p, const char *k)
{
    json_t *v = json_object_get(p, k);
    return json_is_integer(v) ? json_integer_value(v) : (long long)json_number_value(v);
}

static int flavor_create(const struct stack_rctx *rc, const json_t *p, char id[STACK_ID_MAX],
                         struct nubo_err *err)
{
    json_t *pub = json_object_get(p, "is_public");
    struct compute_flavor_spec s = {.name = pstr(p, "name"),
                                    .vcpus = pint(p, "vcpus"),
                                    .ram_mib = pint(p, "ram_mib"),
                                    .disk_gib = pint(p, "disk_gib"),
                                    .is_public = pub ? json_is_true(pub) : true,
                                    .required_accel = pstr(p, "required_accel")};
    json_t *f = compute_flavor_create(rc->env->st, rc->ctx, &s, err);
    if (f == NULL)
        return -1;
    str_copy(id, STACK_ID_MAX, json_string_value(json_object_get(f, "id")));
    json_decref(f);
    return 0;
}

static json_t *flavor_read(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    json_t *f = compute_flavor_get(rc->env->st, rc->ctx, id, err);
    if (f == NULL)
        return NULL;
    return live(json_pack("{s:O, s:O, s:O, s:O}", "name", json_object_get(f, "name"), "vcpus",
                          json_object_get(f, "vcpus"), "ram_mib", json_object_get(f, "ram_mib"),
                          "disk_gib", json_object_get(f, "disk_gib")),
                f);
}

static int flavor_delete(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    return compute_flavor_delete(rc->env->st, rc->ctx, id, err);
}

const struct stack_rtype stack_rtype_flavor = {
    .name = "flavor",
    .props = flavor_props,
    .attributes = flavor_attrs,
    .create = flavor_create,
    .read = flavor_read,
    .del = flavor_delete,
};
