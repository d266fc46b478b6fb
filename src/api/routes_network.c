/*
 * routes_network.c - /v1/networks, /v1/subnets, /v1/ports,
 * /v1/security-groups, /v1/security-group-rules, /v1/floating-ips and the
 * admin's view of a host's network document.
 *
 * Each handler reads the request (path parameters, query, a JSON body
 * whose fields are type-checked here), calls one service of src/network,
 * which validates values and does the work, and turns its result into the
 * answer.  The services call the network change hook themselves.
 */
#include <jansson.h>
#include <string.h>

#include "api/api.h"
#include "lib/util.h"
#include "network/network.h"

/* ------------------------------------------------------------ helpers */

/* 201 with a created object, recording it as the audit target. */
static void created(struct api_call *call, json_t *obj, const struct nubo_err *err)
{
    if (obj)
        api_target_from(call, obj);
    api_reply_or_fail(call, 201, obj, err);
}

/* ----------------------------------------------------------- networks */

static void get_networks(struct api_call *call)
{
    struct nubo_err err;
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(call, "networks",
                           network_list(call->api->st, &call->ctx, limit, marker, &err), limit,
                           &err);
}

static void post_network(struct api_call *call)
{
    static const char *const fields[] = {"name", "description", "mtu", "external", NULL};
    struct nubo_err err;
    struct network_spec s = {0};
    json_t *b = api_body(call, fields);
    if (b == NULL || api_field_str_req(call, b, "name", "the network's name", &s.name) < 0 ||
        api_field_str(call, b, "description", &s.description) < 0 ||
        api_field_int(call, b, "mtu", &s.mtu) < 0 ||
        api_field_bool(call, b, "external", &s.external) < 0)
        return;
    str_copy(call->target, sizeof(call->target), s.name);
    created(call, network_create(call->api->st, &call->ctx, &s, &err), &err);
}

static void get_network(struct api_call *call)
{
    struct nubo_err err;
    api_reply_or_fail(call, 200, network_get(call->api->st, &call->ctx, call->params[0], &err),
                      &err);
}

static void patch_network(struct api_call *call)
{
    static const char *const fields[] = {"name", "description", NULL};
    struct nubo_err err;
    const char *name, *desc;
    json_t *b = api_body(call, fields);
    if (b == NULL || api_field_str(call, b, "name", &name) < 0 ||
        api_field_str(call, b, "description", &desc) < 0)
        return;
    api_reply_or_fail(call, 200,
                      network_update(call->api->st, &call->ctx, call->params[0], name, desc, &err),
                      &err);
}

static void delete_network(struct api_call *call)
{
    struct nubo_err err;
    api_no_content_or_fail(call, network_delete(call->api->st, &call->ctx, call->params[0], &err),
                           &err);
}

/* ------------------------------------------------------------ subnets */

static void get_subnets(struct api_call *call)
{
    struct nubo_err err;
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(
        call, "subnets",
        subnet_list(call->api->st, &call->ctx, api_query(call, "network_id"), limit, marker, &err),
        limit, &err);
}

static void post_subnet(struct api_call *call)
{
    static const char *const fields[] = {
        "network", "name", "cidr", "gateway", "dns_servers", "allocation_pools", NULL};
    struct nubo_err err;
    struct subnet_spec s = {0};
    json_t *b = api_body(call, fields);
    if (b == NULL ||
        api_field_str_req(call, b, "network", "the id or name of the subnet's network",
                          &s.network) < 0 ||
        api_field_str(call, b, "name", &s.name) < 0 ||
        api_field_str_req(call, b, "cidr", "an IPv4 prefix like 10.0.0.0/24", &s.cidr) < 0 ||
        api_field_str(call, b, "gateway", &s.gateway) < 0 ||
        api_field_array(call, b, "dns_servers", "a list of IPv4 addresses", &s.dns_servers) < 0 ||
        api_field_array(call, b, "allocation_pools", "a list of {\"start\", \"end\"} ranges",
                        &s.allocation_pools) < 0)
        return;
    created(call, subnet_create(call->api->st, &call->ctx, &s, &err), &err);
}

static void get_subnet(struct api_call *call)
{
    struct nubo_err err;
    api_reply_or_fail(call, 200, subnet_get(call->api->st, &call->ctx, call->params[0], &err),
                      &err);
}

static void delete_subnet(struct api_call *call)
{
    struct nubo_err err;
    api_no_content_or_fail(call, subnet_delete(call->api->st, &call->ctx, call->params[0], &err),
                           &err);
}

/* -------------------------------------------------------------- ports */

static void get_ports(struct api_call *call)
{
    struct nubo_err err;
    int limit;
    const char *marker;
    struct port_filter f = {api_query(call, "network_id"), api_query(call, "instance_id")};
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(
        call, "ports", port_list(call->api->st, &call->ctx, &f, limit, marker, &err), limit, &err);
}

static void post_port(struct api_call *call)
{
    static const char *const fields[] = {"network",         "name",          "subnet", "fixed_ip",
                                         "security_groups", "port_security", NULL};
    struct nubo_err err;
    struct port_spec s = {.port_security = true};
    json_t *b = api_body(call, fields);
    if (b == NULL ||
        api_field_str_req(call, b, "network", "the id or name of the port's network", &s.network) <
            0 ||
        api_field_str(call, b, "name", &s.name) < 0 ||
        api_field_str(call, b, "subnet", &s.subnet) < 0 ||
        api_field_str(call, b, "fixed_ip", &s.fixed_ip) < 0 ||
        api_field_array(call, b, "security_groups", "a list of security group ids or names",
                        &s.security_groups) < 0 ||
        api_field_bool(call, b, "port_security", &s.port_security) < 0)
        return;
    created(call, port_create(call->api->st, &call->ctx, &s, &err), &err);
}

static void get_port(struct api_call *call)
{
    struct nubo_err err;
    api_reply_or_fail(call, 200, port_get(call->api->st, &call->ctx, call->params[0], &err), &err);
}

static void patch_port(struct api_call *call)
{
    static const char *const fields[] = {"security_groups", NULL};
    struct nubo_err err;
    const json_t *groups;
    json_t *b = api_body(call, fields);
    if (b == NULL || api_field_array(call, b, "security_groups",
                                     "a list of security group ids or names", &groups) < 0)
        return;
    if (groups == NULL) {
        api_bad_field(call, "security_groups", "given: a list of security group ids or names");
        return;
    }
    api_reply_or_fail(call, 200,
                      port_update_groups(call->api->st, &call->ctx, call->params[0], groups, &err),
                      &err);
}

static void delete_port(struct api_call *call)
{
    struct nubo_err err;
    api_no_content_or_fail(call, port_delete(call->api->st, &call->ctx, call->params[0], &err),
                           &err);
}

/* ---------------------------------------------------- security groups */

static void get_security_groups(struct api_call *call)
{
    struct nubo_err err;
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(call, "security_groups",
                           secgroup_list(call->api->st, &call->ctx, limit, marker, &err), limit,
                           &err);
}

static void post_security_group(struct api_call *call)
{
    static const char *const fields[] = {"name", "description", NULL};
    struct nubo_err err;
    const char *name, *desc;
    json_t *b = api_body(call, fields);
    if (b == NULL || api_field_str_req(call, b, "name", "the group's name", &name) < 0 ||
        api_field_str(call, b, "description", &desc) < 0)
        return;
    str_copy(call->target, sizeof(call->target), name);
    created(call, secgroup_create(call->api->st, &call->ctx, name, desc, &err), &err);
}

static void get_security_group(struct api_call *call)
{
    struct nubo_err err;
    api_reply_or_fail(call, 200, secgroup_get(call->api->st, &call->ctx, call->params[0], &err),
                      &err);
}

static void delete_security_group(struct api_call *call)
{
    struct nubo_err err;
    api_no_content_or_fail(call, secgroup_delete(call->api->st, &call->ctx, call->params[0], &err),
                           &err);
}

static void get_rules(struct api_call *call)
{
    struct nubo_err err;
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(call, "security_group_rules",
                           secgroup_rule_list(call->api->st, &call->ctx,
                                              api_query(call, "security_group"), limit, marker,
                                              &err),
                           limit, &err);
}

static void post_rule(struct api_call *call)
{
    static const char *const fields[] = {"security_group", "direction", "protocol",
                                         "port_min",       "port_max",  "remote_cidr",
                                         "remote_group",   NULL};
    struct nubo_err err;
    struct secgroup_rule_spec s = {.port_min = -1, .port_max = -1};
    json_t *b = api_body(call, fields);
    if (b == NULL ||
        api_field_str_req(call, b, "security_group", "the id or name of the rule's group",
                          &s.security_group) < 0 ||
        api_field_str_req(call, b, "direction", "ingress or egress", &s.direction) < 0 ||
        api_field_str(call, b, "protocol", &s.protocol) < 0 ||
        api_field_int(call, b, "port_min", &s.port_min) < 0 ||
        api_field_int(call, b, "port_max", &s.port_max) < 0 ||
        api_field_str(call, b, "remote_cidr", &s.remote_cidr) < 0 ||
        api_field_str(call, b, "remote_group", &s.remote_group) < 0)
        return;
    /* A given port is checked by the service; -1 there means "absent". */
    if ((json_object_get(b, "port_min") && s.port_min < 0) ||
        (json_object_get(b, "port_max") && s.port_max < 0)) {
        api_bad_field(call, "port_min/port_max", "from 1 to 65535");
        return;
    }
    created(call, secgroup_rule_create(call->api->st, &call->ctx, &s, &err), &err);
}

static void delete_rule(struct api_call *call)
{
    struct nubo_err err;
    api_no_content_or_fail(
        call, secgroup_rule_delete(call->api->st, &call->ctx, call->params[0], &err), &err);
}

/* -------------------------------------------------------- floating IPs */

static void get_floating_ips(struct api_call *call)
{
    struct nubo_err err;
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(call, "floating_ips",
                           floatingip_list(call->api->st, &call->ctx, limit, marker, &err), limit,
                           &err);
}

static void post_floating_ip(struct api_call *call)
{
    static const char *const fields[] = {"network", NULL};
    struct nubo_err err;
    const char *network;
    json_t *b = api_body(call, fields);
    if (b == NULL || api_field_str(call, b, "network", &network) < 0)
        return;
    created(call, floatingip_create(call->api->st, &call->ctx, network, &err), &err);
}

static void get_floating_ip(struct api_call *call)
{
    struct nubo_err err;
    api_reply_or_fail(call, 200, floatingip_get(call->api->st, &call->ctx, call->params[0], &err),
                      &err);
}

static void patch_floating_ip(struct api_call *call)
{
    static const char *const fields[] = {"port_id", NULL};
    struct nubo_err err;
    const char *port;
    json_t *b = api_body(call, fields);
    if (b == NULL || api_field_str(call, b, "port_id", &port) < 0)
        return;
    if (json_object_get(b, "port_id") == NULL) {
        api_bad_field(call, "port_id", "given: a port id, or null to disassociate");
        return;
    }
    api_reply_or_fail(
        call, 200, floatingip_update(call->api->st, &call->ctx, call->params[0], port, &err), &err);
}

static void delete_floating_ip(struct api_call *call)
{
    struct nubo_err err;
    api_no_content_or_fail(
        call, floatingip_delete(call->api->st, &call->ctx, call->params[0], &err), &err);
}

/* -------------------------------------------------------------- hosts */

static void get_host_network_document(struct api_call *call)
{
    struct nubo_err err;
    api_reply_or_fail(call, 200, network_host_document(call->api->st, call->params[0], &err), &err);
}

const struct route network_routes[] = {
    {"GET", "/v1/networks", AUTHZ_READ, NULL, get_networks, 0},
    {"POST", "/v1/networks", AUTHZ_WRITE, "network.create", post_network, ROUTE_IDEMPOTENT},
    {"GET", "/v1/networks/{id}", AUTHZ_READ, NULL, get_network, 0},
    {"PATCH", "/v1/networks/{id}", AUTHZ_WRITE, "network.update", patch_network, 0},
    {"DELETE", "/v1/networks/{id}", AUTHZ_WRITE, "network.delete", delete_network, 0},

    {"GET", "/v1/subnets", AUTHZ_READ, NULL, get_subnets, 0},
    {"POST", "/v1/subnets", AUTHZ_WRITE, "subnet.create", post_subnet, ROUTE_IDEMPOTENT},
    {"GET", "/v1/subnets/{id}", AUTHZ_READ, NULL, get_subnet, 0},
    {"DELETE", "/v1/subnets/{id}", AUTHZ_WRITE, "subnet.delete", delete_subnet, 0},

    {"GET", "/v1/ports", AUTHZ_READ, NULL, get_ports, 0},
    {"POST", "/v1/ports", AUTHZ_WRITE, "port.create", post_port, ROUTE_IDEMPOTENT},
    {"GET", "/v1/ports/{id}", AUTHZ_READ, NULL, get_port, 0},
    {"PATCH", "/v1/ports/{id}", AUTHZ_WRITE, "port.update", patch_port, 0},
    {"DELETE", "/v1/ports/{id}", AUTHZ_WRITE, "port.delete", delete_port, 0},

    {"GET", "/v1/security-groups", AUTHZ_READ, NULL, get_security_groups, 0},
    {"POST", "/v1/security-groups", AUTHZ_WRITE, "security_group.create", post_security_group,
     ROUTE_IDEMPOTENT},
    {"GET", "/v1/security-groups/{id}", AUTHZ_READ, NULL, get_security_group, 0},
    {"DELETE", "/v1/security-groups/{id}", AUTHZ_WRITE, "security_group.delete",
     delete_security_group, 0},

    {"GET", "/v1/security-group-rules", AUTHZ_READ, NULL, get_rules, 0},
    {"POST", "/v1/security-group-rules", AUTHZ_WRITE, "security_group_rule.create", post_rule,
     ROUTE_IDEMPOTENT},
    {"DELETE", "/v1/security-group-rules/{id}", AUTHZ_WRITE, "security_group_rule.delete",
     delete_rule, 0},

    {"GET", "/v1/floating-ips", AUTHZ_READ, NULL, get_floating_ips, 0},
    {"POST", "/v1/floating-ips", AUTHZ_WRITE, "floating_ip.create", post_floating_ip,
     ROUTE_IDEMPOTENT},
    {"GET", "/v1/floating-ips/{id}", AUTHZ_READ, NULL, get_floating_ip, 0},
    {"PATCH", "/v1/floating-ips/{id}", AUTHZ_WRITE, "floating_ip.update", patch_floating_ip, 0},
    {"DELETE", "/v1/floating-ips/{id}", AUTHZ_WRITE, "floating_ip.delete", delete_floating_ip, 0},

    {"GET", "/v1/hosts/{id}/network-document", AUTHZ_ADMIN, NULL, get_host_network_document, 0},
    {NULL, NULL, 0, NULL, NULL, 0},
};
