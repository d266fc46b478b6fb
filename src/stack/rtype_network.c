/*
 * rtype_network.c - resource types over src/network: network, subnet,
 * security_group, security_group_rule, floating_ip; and the "networks"
 * entries that instances and launch templates share.
 *
 * Physical ids are the services' ids.  Only what a service can change is
 * updatable: a network's name and description, a floating IP's
 * association; subnets, groups and rules have no update service, so any
 * change replaces them.  read() reports as properties only what can be
 * changed outside the stack and compares unambiguously (an id given by
 * name would look like drift forever).
 *
 * Deletes of networks, subnets and groups wait (bounded) while the
 * service answers "in use": the stack's instances were deleted just
 * before, but their ports are released only when their host confirms.
 */
#include <stdio.h>
#include <string.h>

#include "lib/inet.h"
#include "lib/util.h"
#include "network/network.h"
#include "stack/stack_int.h"

static const char *pstr(const json_t *props, const char *k)
{
    return json_string_value(json_object_get(props, k));
}

static long long pint(const json_t *p, const char *k, long long dflt)
{
    json_t *v = json_object_get(p, k);
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_real(v))
        return (long long)json_real_value(v);
    return dflt;
}

/* {properties: props, attributes: attrs} (both stolen). */
static json_t *live(json_t *props, json_t *attrs)
{
    return json_pack("{s:o, s:o}", "properties", props, "attributes", attrs);
}

/* A literal value (not an intrinsic, not null) of props[k], or NULL. */
static const json_t *literal(const json_t *props, const char *k)
{
    json_t *v = json_object_get(props, k);
    return v && !json_is_null(v) && !stack_is_intrinsic(v) ? v : NULL;
}

static int bad(const char **where, const char *prop, struct nubo_err *err, const char *msg)
{
    *where = prop;
    return nubo_err_set(err, NUBO_E_INVALID, "%s", msg);
}

/* ------------------------------------------------------ networks entries */

int stack_networks_check(const json_t *list, bool fixed_ip_ok, struct nubo_err *err)
{
    size_t i;
    json_t *e;
    if (!json_is_array(list) || stack_is_intrinsic(list))
        return 0;
    if (json_array_size(list) > NETWORK_MAX_NICS)
        return nubo_err_set(err, NUBO_E_INVALID, "at most %d networks", NETWORK_MAX_NICS);
    json_array_foreach ((json_t *)list, i, e) {
        if (json_is_string(e) || stack_is_intrinsic(e))
            continue;
        if (!json_is_object(e))
            return nubo_err_set(err, NUBO_E_INVALID,
                                "networks[%zu] must be a network or a mapping {network, subnet%s}",
                                i, fixed_ip_ok ? ", fixed_ip" : "");
        const char *k;
        json_t *v;
        json_object_foreach (e, k, v) {
            bool known = strcmp(k, "network") == 0 || strcmp(k, "subnet") == 0 ||
                         (fixed_ip_ok && strcmp(k, "fixed_ip") == 0);
            if (!known)
                return nubo_err_set(err, NUBO_E_INVALID, "networks[%zu]: unknown key '%.40s'%s", i,
                                    k,
                                    strcmp(k, "fixed_ip") == 0
                                        ? " (a launch template's instances cannot share an address)"
                                        : " (known: network, subnet, fixed_ip)");
            if (!json_is_string(v) && !stack_is_intrinsic(v))
                return nubo_err_set(err, NUBO_E_INVALID, "networks[%zu].%s must be a string", i, k);
        }
        if (json_object_get(e, "network") == NULL && json_object_get(e, "subnet") == NULL)
            return nubo_err_set(err, NUBO_E_INVALID, "networks[%zu] needs a network or a subnet",
                                i);
        const char *ip = json_string_value(json_object_get(e, "fixed_ip"));
        uint32_t a;
        if (ip && inet_ipv4_parse(ip, &a) < 0)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "networks[%zu].fixed_ip '%.40s' is not an IPv4 address", i, ip);
    }
    return 0;
}

json_t *stack_networks_resolve(const struct stack_rctx *rc, const json_t *list, bool fixed_ip_ok,
                               struct nubo_err *err)
{
    if (stack_networks_check(list, fixed_ip_ok, err) < 0)
        return NULL;
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach ((json_t *)list, i, e) {
        const char *net = json_is_string(e) ? json_string_value(e) : pstr(e, "network");
        const char *sub = json_is_object(e) ? pstr(e, "subnet") : NULL;
        const char *ip = json_is_object(e) ? pstr(e, "fixed_ip") : NULL;
        char net_id[64] = "";
        if (net) {
            json_t *n = network_get(rc->env->st, rc->ctx, net, err);
            if (n == NULL)
                goto fail;
            str_copy(net_id, sizeof(net_id), pstr(n, "id"));
            json_decref(n);
        }
        if (sub) {
            json_t *s = subnet_get(rc->env->st, rc->ctx, sub, err);
            if (s == NULL)
                goto fail;
            const char *sn = pstr(s, "network_id");
            if (net_id[0] && strcmp(net_id, sn) != 0) {
                nubo_err_set(err, NUBO_E_INVALID,
                             "networks[%zu]: subnet '%s' is not on network '%s'", i, sub, net);
                json_decref(s);
                goto fail;
            }
            str_copy(net_id, sizeof(net_id), sn);
            uint32_t a;
            struct inet_cidr sc;
            if (ip && (inet_ipv4_parse(ip, &a) < 0 ||
                       inet_cidr_check(pstr(s, "cidr"), false, "cidr", &sc, err) < 0 ||
                       !inet_cidr_contains(&sc, a))) {
                nubo_err_set(err, NUBO_E_INVALID, "networks[%zu]: fixed_ip %s is not in subnet %s",
                             i, ip, pstr(s, "cidr"));
                json_decref(s);
                goto fail;
            }
            json_decref(s);
        }
        json_array_append_new(out, json_pack("{s:s, s:s?}", "network", net_id, "fixed_ip", ip));
    }
    return out;
fail:
    if (err->code == NUBO_E_NOTFOUND)
        err->code = NUBO_E_INVALID;
    json_decref(out);
    return NULL;
}

/* -------------------------------------------------------------- network */

static const struct stack_prop network_props[] = {
    {"name", STACK_P_STRING, true, false},
    {"description", STACK_P_STRING, false, false},
    {"mtu", STACK_P_INTEGER, false, true},
    {NULL, 0, false, false},
};
static const char *const network_attrs[] = {"id",  "name",       "description", "vni",
                                            "mtu", "created_at", NULL};

static int network_create_(const struct stack_rctx *rc, const json_t *p, char id[STACK_ID_MAX],
                           struct nubo_err *err)
{
    struct network_spec s = {
        .name = pstr(p, "name"), .description = pstr(p, "description"), .mtu = pint(p, "mtu", 0)};
    json_t *n = network_create(rc->env->st, rc->ctx, &s, err);
    if (n == NULL)
        return -1;
    str_copy(id, STACK_ID_MAX, pstr(n, "id"));
    json_decref(n);
    return 0;
}

static json_t *network_read(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    json_t *n = network_get(rc->env->st, rc->ctx, id, err);
    if (n == NULL)
        return NULL;
    return live(json_pack("{s:O, s:O}", "name", json_object_get(n, "name"), "description",
                          json_object_get(n, "description")),
                n);
}

static int network_update_(const struct stack_rctx *rc, const char *id, const json_t *old_props,
                           const json_t *new_props, struct nubo_err *err)
{
    (void)old_props;
    json_t *n = network_update(rc->env->st, rc->ctx, id, pstr(new_props, "name"),
                               pstr(new_props, "description") ?: "", err);
    json_decref(n);
    return n ? 0 : -1;
}

static int network_del(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    return stack_rtype_del_wait(rc, network_delete, id, err);
}

const struct stack_rtype stack_rtype_network = {
    .name = "network",
    .props = network_props,
    .attributes = network_attrs,
    .create = network_create_,
    .read = network_read,
    .update = network_update_,
    .del = network_del,
};

/* --------------------------------------------------------------- subnet */

static const struct stack_prop subnet_props[] = {
    {"network", STACK_P_STRING, true, true},
    {"name", STACK_P_STRING, false, true},
    {"cidr", STACK_P_STRING, true, true},
    {"gateway", STACK_P_STRING, false, true},
    {"dns_servers", STACK_P_LIST, false, true},
    {"allocation_pools", STACK_P_LIST, false, true},
    {NULL, 0, false, false},
};
static const char *const subnet_attrs[] = {
    "id",         "name", "network_id", "cidr", "gateway", "dns_servers", "allocation_pools",
    "created_at", NULL};

static int subnet_check(const json_t *p, const char **where, struct nubo_err *err)
{
    const json_t *c = literal(p, "cidr");
    uint32_t net;
    struct inet_cidr cidr;
    if (c && json_is_string(c) &&
        inet_cidr_check(json_string_value(c), true, "cidr", &cidr, err) < 0) {
        *where = "cidr";
        return -1;
    }
    const json_t *g = literal(p, "gateway");
    if (g && json_is_string(g) && inet_ipv4_parse(json_string_value(g), &net) < 0)
        return bad(where, "gateway", err, "gateway must be an IPv4 address");
    return 0;
}

static int subnet_create_(const struct stack_rctx *rc, const json_t *p, char id[STACK_ID_MAX],
                          struct nubo_err *err)
{
    struct subnet_spec s = {.network = pstr(p, "network"),
                            .name = pstr(p, "name"),
                            .cidr = pstr(p, "cidr"),
                            .gateway = pstr(p, "gateway"),
                            .dns_servers = json_object_get(p, "dns_servers"),
                            .allocation_pools = json_object_get(p, "allocation_pools")};
    if (json_is_null(s.dns_servers))
        s.dns_servers = NULL;
    if (json_is_null(s.allocation_pools))
        s.allocation_pools = NULL;
    json_t *n = subnet_create(rc->env->st, rc->ctx, &s, err);
    if (n == NULL)
        return -1;
    str_copy(id, STACK_ID_MAX, pstr(n, "id"));
    json_decref(n);
    return 0;
}

static json_t *subnet_read(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    json_t *s = subnet_get(rc->env->st, rc->ctx, id, err);
    if (s == NULL)
        return NULL;
    return live(json_pack("{s:O}", "cidr", json_object_get(s, "cidr")), s);
}

static int subnet_del(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    return stack_rtype_del_wait(rc, subnet_delete, id, err);
}

const struct stack_rtype stack_rtype_subnet = {
    .name = "subnet",
    .props = subnet_props,
    .attributes = subnet_attrs,
    .check = subnet_check,
    .create = subnet_create_,
    .read = subnet_read,
    .del = subnet_del,
};

/* ------------------------------------------------------- security group */

static const struct stack_prop sg_props[] = {
    {"name", STACK_P_STRING, true, true},
    {"description", STACK_P_STRING, false, true},
    {NULL, 0, false, false},
};
static const char *const sg_attrs[] = {"id", "name", "description", "rules", "created_at", NULL};

static int sg_check(const json_t *p, const char **where, struct nubo_err *err)
{
    const json_t *n = literal(p, "name");
    if (n && json_is_string(n) && strcmp(json_string_value(n), "default") == 0)
        return bad(where, "name", err,
                   "the project's \"default\" group exists already: name the stack's group "
                   "otherwise");
    return 0;
}

static int sg_create(const struct stack_rctx *rc, const json_t *p, char id[STACK_ID_MAX],
                     struct nubo_err *err)
{
    json_t *g = secgroup_create(rc->env->st, rc->ctx, pstr(p, "name"), pstr(p, "description"), err);
    if (g == NULL)
        return -1;
    str_copy(id, STACK_ID_MAX, pstr(g, "id"));
    json_decref(g);
    return 0;
}

static json_t *sg_read(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    json_t *g = secgroup_get(rc->env->st, rc->ctx, id, err);
    if (g == NULL)
        return NULL;
    return live(json_pack("{s:O}", "name", json_object_get(g, "name")), g);
}

static int sg_del(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    return stack_rtype_del_wait(rc, secgroup_delete, id, err);
}

const struct stack_rtype stack_rtype_security_group = {
    .name = "security_group",
    .props = sg_props,
    .attributes = sg_attrs,
    .check = sg_check,
    .create = sg_create,
    .read = sg_read,
    .del = sg_del,
};

/* -------------------------------------------------- security group rule */

/* A rule is one resource (not a list inside its group) so that a rule
 * deleted outside the stack is drift of that rule alone, and a rule whose
 * remote_group is another group of the stack depends on that group. */
static const struct stack_prop rule_props[] = {
    {"security_group", STACK_P_STRING, true, true},
    {"direction", STACK_P_STRING, true, true}, /* ingress | egress */
    {"protocol", STACK_P_STRING, false, true}, /* any (default) | tcp | udp | icmp */
    {"port_min", STACK_P_INTEGER, false, true},
    {"port_max", STACK_P_INTEGER, false, true},
    {"remote_cidr", STACK_P_STRING, false, true},
    {"remote_group", STACK_P_STRING, false, true},
    {NULL, 0, false, false},
};
static const char *const rule_attrs[] = {
    "id",          "security_group_id", "direction",       "protocol",   "port_min", "port_max",
    "remote_cidr", "remote_group",      "remote_group_id", "created_at", NULL};

static bool one_of(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(s, *words) == 0)
            return true;
    return false;
}

static int rule_check(const json_t *p, const char **where, struct nubo_err *err)
{
    static const char *const dirs[] = {"ingress", "egress", NULL};
    static const char *const protos[] = {"any", "tcp", "udp", "icmp", NULL};
    const json_t *v = literal(p, "direction");
    if (v && json_is_string(v) && !one_of(json_string_value(v), dirs))
        return bad(where, "direction", err, "direction must be ingress or egress");
    v = literal(p, "protocol");
    if (v && json_is_string(v) && !one_of(json_string_value(v), protos))
        return bad(where, "protocol", err, "protocol must be any, tcp, udp or icmp");
    static const char *const ports[] = {"port_min", "port_max"};
    for (size_t i = 0; i < ARRAY_LEN(ports); i++) {
        v = literal(p, ports[i]);
        if (v && json_is_number(v) && (pint(p, ports[i], 0) < 0 || pint(p, ports[i], 0) > 65535))
            return bad(where, ports[i], err, "ports must be 0..65535");
    }
    if (literal(p, "port_min") && literal(p, "port_max") &&
        pint(p, "port_min", 0) > pint(p, "port_max", 0))
        return bad(where, "port_max", err, "port_max must not be below port_min");
    if (json_object_get(p, "remote_cidr") && json_object_get(p, "remote_group"))
        return bad(where, "remote_group", err, "give remote_cidr or remote_group, not both");
    v = literal(p, "remote_cidr");
    struct inet_cidr cidr;
    if (v && json_is_string(v) &&
        inet_cidr_check(json_string_value(v), false, "remote_cidr", &cidr, err) < 0) {
        *where = "remote_cidr";
        return -1;
    }
    return 0;
}

static int rule_create(const struct stack_rctx *rc, const json_t *p, char id[STACK_ID_MAX],
                       struct nubo_err *err)
{
    struct secgroup_rule_spec s = {.security_group = pstr(p, "security_group"),
                                   .direction = pstr(p, "direction"),
                                   .protocol = pstr(p, "protocol"),
                                   .port_min = pint(p, "port_min", -1),
                                   .port_max = pint(p, "port_max", -1),
                                   .remote_cidr = pstr(p, "remote_cidr"),
                                   .remote_group = pstr(p, "remote_group")};
    if (s.port_min >= 0 && s.port_max < 0)
        s.port_max = s.port_min; /* one port */
    json_t *r = secgroup_rule_create(rc->env->st, rc->ctx, &s, err);
    if (r == NULL)
        return -1;
    str_copy(id, STACK_ID_MAX, pstr(r, "id"));
    json_decref(r);
    return 0;
}

/* There is no "get one rule" service: the project's rules are paged
 * through (a project has few). */
static json_t *rule_read(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    char marker[64] = "";
    for (;;) {
        json_t *rows =
            secgroup_rule_list(rc->env->st, rc->ctx, NULL, 1000, marker[0] ? marker : NULL, err);
        if (rows == NULL)
            return NULL;
        size_t i, n = json_array_size(rows);
        json_t *r;
        json_array_foreach (rows, i, r) {
            if (i < 1000 && strcmp(pstr(r, "id"), id) == 0) {
                json_t *props = json_pack("{s:O}", "direction", json_object_get(r, "direction"));
                json_t *out = live(props, json_incref(r));
                json_decref(rows);
                return out;
            }
        }
        if (n <= 1000) {
            json_decref(rows);
            nubo_err_set(err, NUBO_E_NOTFOUND, "no security group rule '%s'", id);
            return NULL;
        }
        str_copy(marker, sizeof(marker), pstr(json_array_get(rows, 999), "id"));
        json_decref(rows);
    }
}

static int rule_delete(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    return secgroup_rule_delete(rc->env->st, rc->ctx, id, err);
}

const struct stack_rtype stack_rtype_security_group_rule = {
    .name = "security_group_rule",
    .props = rule_props,
    .attributes = rule_attrs,
    .check = rule_check,
    .create = rule_create,
    .read = rule_read,
    .del = rule_delete,
};

/* ---------------------------------------------------------- floating IP */

static const struct stack_prop fip_props[] = {
    {"network", STACK_P_STRING, false, true}, /* an external network; none: the only one */
    {"port", STACK_P_STRING, false, false},
    {"instance", STACK_P_STRING, false, false}, /* its first port */
    {NULL, 0, false, false},
};
static const char *const fip_attrs[] = {"id",       "ip",         "network_id", "port_id",
                                        "fixed_ip", "created_at", NULL};

static int fip_check(const json_t *p, const char **where, struct nubo_err *err)
{
    if (json_object_get(p, "port") && json_object_get(p, "instance"))
        return bad(where, "instance", err, "give port or instance, not both");
    return 0;
}

/* The port a floating IP's properties name (into port, "" for none). */
static int fip_port(const struct stack_rctx *rc, const json_t *p, char port[64],
                    struct nubo_err *err)
{
    port[0] = '\0';
    if (pstr(p, "port")) {
        str_copy(port, 64, pstr(p, "port"));
        return 0;
    }
    const char *inst = pstr(p, "instance");
    if (inst == NULL)
        return 0;
    json_t *a = network_instance_addresses(rc->env->st, inst, err);
    if (a == NULL)
        return -1;
    const char *pid = pstr(json_array_get(a, 0), "port_id");
    int r = 0;
    if (pid)
        str_copy(port, 64, pid);
    else
        r = nubo_err_set(err, NUBO_E_INVALID, "instance '%s' has no port on a tenant network",
                         inst);
    json_decref(a);
    return r;
}

static int fip_create(const struct stack_rctx *rc, const json_t *p, char id[STACK_ID_MAX],
                      struct nubo_err *err)
{
    char port[64];
    if (fip_port(rc, p, port, err) < 0)
        return -1;
    json_t *f = floatingip_create(rc->env->st, rc->ctx, pstr(p, "network"), err);
    if (f == NULL)
        return -1;
    str_copy(id, STACK_ID_MAX, pstr(f, "id"));
    json_decref(f);
    if (port[0] == '\0')
        return 0;
    f = floatingip_update(rc->env->st, rc->ctx, id, port, err);
    json_decref(f);
    return f ? 0 : -1; /* recorded with its id: the next apply associates it */
}

static json_t *fip_read(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    json_t *f = floatingip_get(rc->env->st, rc->ctx, id, err);
    if (f == NULL)
        return NULL;
    return live(json_object(), f);
}

static int fip_update(const struct stack_rctx *rc, const char *id, const json_t *old_props,
                      const json_t *new_props, struct nubo_err *err)
{
    (void)old_props;
    char port[64];
    if (fip_port(rc, new_props, port, err) < 0)
        return -1;
    json_t *f = floatingip_update(rc->env->st, rc->ctx, id, port[0] ? port : NULL, err);
    json_decref(f);
    return f ? 0 : -1;
}

static int fip_delete(const struct stack_rctx *rc, const char *id, struct nubo_err *err)
{
    return floatingip_delete(rc->env->st, rc->ctx, id, err);
}

const struct stack_rtype stack_rtype_floating_ip = {
    .name = "floating_ip",
    .props = fip_props,
    .attributes = fip_attrs,
    .check = fip_check,
    .create = fip_create,
    .read = fip_read,
    .update = fip_update,
    .del = fip_delete,
};
