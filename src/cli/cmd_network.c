/*
 * cmd_network.c - `nubo network|subnet|port|security-group (sg)|
 * security-group-rule|floating-ip ...`: tenant networking
 * (docs/internals/controller-network.md).
 *
 * Each group has list, show, delete (the shared cloud_cmd_* helpers) and a
 * create whose options map one to one onto the fields of the POST body
 * (a table of struct opts_field, cli/opts.h); ports can have their groups replaced and floating
 * IPs be associated with a port or disassociated (PATCH).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/opts.h"
#include "lib/util.h"
#include "lib/valid.h"

/* PATCH collection/ID body and prints the answer. */
static int patch_print(struct cli *cli, const struct cloud_kind *kind, const char *ref,
                       json_t *body)
{
    char id[37], path[CLOUD_PATH_MAX];
    struct nubo_err err;
    json_t *out = NULL;
    int rc;
    if ((rc = cloud_ref_check(cli, ref, kind->what)) != 0 || (rc = cloud_connect(cli)) != 0)
        return rc;
    if (cloud_resolve(cli, kind->collection, kind->key, false, ref, kind->what, id, &err) < 0)
        return cli_fail(cli, &err);
    snprintf(path, sizeof(path), "%s/%s", kind->collection, id);
    if (cli_call(cli, "PATCH", path, body, &out, &err) < 0)
        return cli_fail(cli, &err);
    cloud_object_print(cli, out, kind->fields, kind->nfields);
    json_decref(out);
    return CLI_EXIT_OK;
}

#define KIND(var, what_, coll, key_, ids, cols_, fields_, empty_)                                  \
    static const struct cloud_kind var = {                                                         \
        .what = what_,                                                                             \
        .collection = coll,                                                                        \
        .key = key_,                                                                               \
        .ids_only = ids,                                                                           \
        .cols = cols_,                                                                             \
        .ncols = ARRAY_LEN(cols_),                                                                 \
        .fields = fields_,                                                                         \
        .nfields = ARRAY_LEN(fields_),                                                             \
        .empty = empty_,                                                                           \
    }

#define SIMPLE_CMDS(prefix, kind_, list_usage, show_usage, delete_usage)                           \
    static int prefix##_list(struct cli *cli, int argc, char **argv)                               \
    {                                                                                              \
        return cloud_cmd_list(cli, argc, argv, &kind_, list_usage);                                \
    }                                                                                              \
    static int prefix##_show(struct cli *cli, int argc, char **argv)                               \
    {                                                                                              \
        return cloud_cmd_show(cli, argc, argv, &kind_, show_usage);                                \
    }                                                                                              \
    static int prefix##_delete(struct cli *cli, int argc, char **argv)                             \
    {                                                                                              \
        return cloud_cmd_delete(cli, argc, argv, &kind_, delete_usage);                            \
    }

/* ----------------------------------------------------------- networks */

static const char net_usage[] =
    "usage: nubo network COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  list                   the project's networks and the external ones\n"
    "  create NAME [--description TEXT] [--mtu N] [--external]\n"
    "                         a new network (--external: admin, for floating IPs)\n"
    "  show NETWORK           one network\n"
    "  delete NETWORK...      remove networks without ports\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col net_cols[] = {
    {"NAME", "name", CLOUD_STR},         {"ID", "id", CLOUD_STR},
    {"VNI", "vni", CLOUD_STR},           {"EXTERNAL", "external", CLOUD_BOOL},
    {"SUBNETS", "subnets", CLOUD_COUNT},
};
static const struct cloud_col net_fields[] = {
    {"name", "name", CLOUD_STR},
    {"id", "id", CLOUD_STR},
    {"description", "description", CLOUD_STR},
    {"vni", "vni", CLOUD_STR},
    {"mtu", "mtu", CLOUD_STR},
    {"external", "external", CLOUD_BOOL},
    {"router mac", "router_mac", CLOUD_STR},
    {"subnets", "subnets", CLOUD_COUNT},
    {"created", "created_at", CLOUD_STR},
};
KIND(net_kind, "network", "/v1/networks", "networks", false, net_cols, net_fields, "no networks");
SIMPLE_CMDS(net, net_kind, net_usage, net_usage, net_usage)

static const struct opts_field net_create_fields[] = {
    {.name = "description", .key = "description", .type = FIELD_STR},
    {.name = "mtu",
     .key = "mtu",
     .type = FIELD_INT,
     .min = -(1LL << 31),
     .max = 1LL << 31,
     .what = "mtu"},
    {.name = "external", .key = "external", .type = FIELD_TRUE},
};
static const struct opts_create net_create_def = {.collection = "/v1/networks",
                                                  .what = "network",
                                                  .positional = "name",
                                                  .usage = net_usage,
                                                  .fields = net_create_fields,
                                                  .nfields = ARRAY_LEN(net_create_fields)};

static int net_create(struct cli *cli, int argc, char **argv)
{
    return opts_cmd_create(cli, argc, argv, &net_create_def);
}

int cmd_network(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", net_list},
        {"create", net_create},
        {"show", net_show},
        {"delete", net_delete},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), net_usage);
}

/* ------------------------------------------------------------ subnets */

static const char subnet_usage[] =
    "usage: nubo subnet COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  list                   the project's subnets\n"
    "  create --network NETWORK --cidr CIDR [--name NAME] [--gateway IP]\n"
    "         [--dns IP]... [--pool START-END]...\n"
    "                         a new IPv4 subnet (not overlapping the network's others)\n"
    "  show SUBNET            one subnet (by id)\n"
    "  delete SUBNET...       remove subnets without addresses in use\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col subnet_cols[] = {
    {"ID", "id", CLOUD_STR},
    {"NAME", "name", CLOUD_STR},
    {"CIDR", "cidr", CLOUD_STR},
    {"GATEWAY", "gateway", CLOUD_STR},
    {"NETWORK", "network_id", CLOUD_NETWORK_ID},
};
static const struct cloud_col subnet_fields[] = {
    {"id", "id", CLOUD_STR},
    {"name", "name", CLOUD_STR},
    {"network", "network_id", CLOUD_STR},
    {"cidr", "cidr", CLOUD_STR},
    {"gateway", "gateway", CLOUD_STR},
    {"dns servers", "dns_servers", CLOUD_COUNT},
    {"pools", "allocation_pools", CLOUD_COUNT},
    {"created", "created_at", CLOUD_STR},
};
KIND(subnet_kind, "subnet", "/v1/subnets", "subnets", true, subnet_cols, subnet_fields,
     "no subnets");
SIMPLE_CMDS(subnet, subnet_kind, subnet_usage, subnet_usage, subnet_usage)

static const struct opts_field subnet_create_fields[] = {
    {.name = "network", .key = "network", .type = FIELD_STR},
    {.name = "cidr", .key = "cidr", .type = FIELD_STR},
    {.name = "name", .key = "name", .type = FIELD_STR},
    {.name = "gateway", .key = "gateway", .type = FIELD_STR},
    {.name = "dns", .key = "dns_servers", .type = FIELD_LIST},
    {.name = "pool", .key = "allocation_pools", .type = FIELD_RANGE},
};
static const struct opts_create subnet_create_def = {.collection = "/v1/subnets",
                                                     .what = "subnet",
                                                     .positional = NULL,
                                                     .usage = subnet_usage,
                                                     .fields = subnet_create_fields,
                                                     .nfields = ARRAY_LEN(subnet_create_fields)};

static int subnet_create(struct cli *cli, int argc, char **argv)
{
    return opts_cmd_create(cli, argc, argv, &subnet_create_def);
}

int cmd_subnet(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", subnet_list},
        {"create", subnet_create},
        {"show", subnet_show},
        {"delete", subnet_delete},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), subnet_usage);
}

/* -------------------------------------------------------------- ports */

static const char port_usage[] =
    "usage: nubo port COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  list                   the project's ports\n"
    "  create --network NETWORK [--name NAME] [--fixed-ip IP] [--security-group SG]...\n"
    "         [--no-port-security]\n"
    "                         a port: the lowest free address unless --fixed-ip\n"
    "  show PORT              one port\n"
    "  set-groups PORT --security-group SG...\n"
    "                         replace a port's security groups (applied at once)\n"
    "  delete PORT...         remove ports that are no instance's\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col port_cols[] = {
    {"ID", "id", CLOUD_STR},
    {"NETWORK", "network_id", CLOUD_NETWORK_ID},
    {"IP", "ip", CLOUD_STR},
    {"MAC", "mac", CLOUD_STR},
    {"INSTANCE", "instance_id", CLOUD_INSTANCE_ID},
    {"FLOATING IP", "floating_ip", CLOUD_STR},
};
static const struct cloud_col port_fields[] = {
    {"id", "id", CLOUD_STR},
    {"name", "name", CLOUD_STR},
    {"network", "network_id", CLOUD_STR},
    {"subnet", "subnet_id", CLOUD_STR},
    {"ip", "ip", CLOUD_STR},
    {"mac", "mac", CLOUD_STR},
    {"instance", "instance_id", CLOUD_STR},
    {"host", "host_id", CLOUD_STR},
    {"floating ip", "floating_ip", CLOUD_STR},
    {"port security", "port_security", CLOUD_BOOL},
    {"security groups", "security_groups", CLOUD_COUNT},
    {"created", "created_at", CLOUD_STR},
};
KIND(port_kind, "port", "/v1/ports", "ports", true, port_cols, port_fields, "no ports");
SIMPLE_CMDS(port, port_kind, port_usage, port_usage, port_usage)

static const struct opts_field port_create_fields[] = {
    {.name = "network", .key = "network", .type = FIELD_STR},
    {.name = "name", .key = "name", .type = FIELD_STR},
    {.name = "fixed-ip", .key = "fixed_ip", .type = FIELD_STR},
    {.name = "security-group", .key = "security_groups", .type = FIELD_LIST},
    {.name = "no-port-security", .key = "port_security", .type = FIELD_FALSE},
};
static const struct opts_create port_create_def = {.collection = "/v1/ports",
                                                   .what = "port",
                                                   .positional = NULL,
                                                   .usage = port_usage,
                                                   .fields = port_create_fields,
                                                   .nfields = ARRAY_LEN(port_create_fields)};

static int port_create(struct cli *cli, int argc, char **argv)
{
    return opts_cmd_create(cli, argc, argv, &port_create_def);
}

static int port_set_groups(struct cli *cli, int argc, char **argv)
{
    static const struct opts_field fields[] = {
        {.name = "security-group", .key = "security_groups", .type = FIELD_LIST},
    };
    json_t *body;
    int rc = opts_parse(cli, argc, argv, fields, ARRAY_LEN(fields), port_usage, &body);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "a port id")) == 0) {
        if (json_object_get(body, "security_groups") == NULL) /* none: a port without groups */
            json_object_set_new(body, "security_groups", json_array());
        rc = patch_print(cli, &port_kind, argv[optind], body);
    }
    json_decref(body);
    return rc;
}

int cmd_port(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", port_list},     {"create", port_create},         {"show", port_show},
        {"delete", port_delete}, {"set-groups", port_set_groups},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), port_usage);
}

/* ---------------------------------------------------- security groups */

static const char sg_usage[] =
    "usage: nubo security-group (or sg) COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  list                   the project's groups (with 'default')\n"
    "  create NAME [--description TEXT]\n"
    "  show GROUP             one group with its rules\n"
    "  delete GROUP...        remove unused groups (not 'default')\n"
    "  rule-add GROUP --direction ingress|egress [--protocol any|tcp|udp|icmp]\n"
    "           [--port-min N --port-max N] [--remote-cidr CIDR | --remote-group GROUP]\n"
    "  rule-delete RULE...    remove rules (by id)\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col sg_cols[] = {
    {"NAME", "name", CLOUD_STR},
    {"ID", "id", CLOUD_STR},
    {"RULES", "rules", CLOUD_COUNT},
    {"DESCRIPTION", "description", CLOUD_SHORT},
};
static const struct cloud_col sg_fields[] = {
    {"name", "name", CLOUD_STR},
    {"id", "id", CLOUD_STR},
    {"description", "description", CLOUD_STR},
    {"rules", "rules", CLOUD_COUNT},
    {"created", "created_at", CLOUD_STR},
};
KIND(sg_kind, "security group", "/v1/security-groups", "security_groups", false, sg_cols, sg_fields,
     "no security groups");
SIMPLE_CMDS(sg, sg_kind, sg_usage, sg_usage, sg_usage)

static const struct cloud_col rule_cols[] = {
    {"ID", "id", CLOUD_STR},
    {"DIRECTION", "direction", CLOUD_STR},
    {"PROTOCOL", "protocol", CLOUD_STR},
    {"PORT MIN", "port_min", CLOUD_STR},
    {"PORT MAX", "port_max", CLOUD_STR},
    {"REMOTE CIDR", "remote_cidr", CLOUD_STR},
    {"REMOTE GROUP", "remote_group", CLOUD_STR},
};
KIND(rule_kind, "security group rule", "/v1/security-group-rules", "security_group_rules", true,
     rule_cols, rule_cols, "no rules");

static int sg_show_rules(struct cli *cli, int argc, char **argv)
{
    int rc;
    struct nubo_err err;
    json_t *g = NULL;
    if ((rc = cli_options_common(cli, argc, argv, sg_usage, false)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "a security group name or id")) != 0 ||
        (rc = cloud_ref_check(cli, argv[optind], "a security group name or id")) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    if (cloud_get(cli, &sg_kind, argv[optind], &g, &err) < 0)
        return cli_fail(cli, &err);
    if (!cli_print_json(cli, g)) {
        cloud_view_print(g, sg_fields, ARRAY_LEN(sg_fields));
        fputc('\n', stdout);
        cloud_table_print(json_object_get(g, "rules"), rule_cols, ARRAY_LEN(rule_cols), "no rules");
    }
    json_decref(g);
    return CLI_EXIT_OK;
}

static const struct opts_field sg_create_fields[] = {
    {.name = "description", .key = "description", .type = FIELD_STR},
};
static const struct opts_create sg_create_def = {.collection = "/v1/security-groups",
                                                 .what = "security group",
                                                 .positional = "name",
                                                 .usage = sg_usage,
                                                 .fields = sg_create_fields,
                                                 .nfields = ARRAY_LEN(sg_create_fields)};

static int sg_create(struct cli *cli, int argc, char **argv)
{
    return opts_cmd_create(cli, argc, argv, &sg_create_def);
}

static const struct opts_field rule_create_fields[] = {
    {.name = "direction", .key = "direction", .type = FIELD_STR},
    {.name = "protocol", .key = "protocol", .type = FIELD_STR},
    {.name = "port-min",
     .key = "port_min",
     .type = FIELD_INT,
     .min = -(1LL << 31),
     .max = 1LL << 31,
     .what = "port-min"},
    {.name = "port-max",
     .key = "port_max",
     .type = FIELD_INT,
     .min = -(1LL << 31),
     .max = 1LL << 31,
     .what = "port-max"},
    {.name = "remote-cidr", .key = "remote_cidr", .type = FIELD_STR},
    {.name = "remote-group", .key = "remote_group", .type = FIELD_STR},
};
static const struct opts_create rule_create_def = {.collection = "/v1/security-group-rules",
                                                   .what = "security group rule",
                                                   .positional = "security_group",
                                                   .usage = sg_usage,
                                                   .fields = rule_create_fields,
                                                   .nfields = ARRAY_LEN(rule_create_fields)};

static int sg_rule_add(struct cli *cli, int argc, char **argv)
{
    return opts_cmd_create(cli, argc, argv, &rule_create_def);
}

static int sg_rule_delete(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_delete(cli, argc, argv, &rule_kind, sg_usage);
}

int cmd_security_group(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", sg_list},     {"create", sg_create},     {"show", sg_show_rules},
        {"delete", sg_delete}, {"rule-add", sg_rule_add}, {"rule-delete", sg_rule_delete},
    };
    (void)sg_show;
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), sg_usage);
}

int cmd_sg(struct cli *cli, int argc, char **argv)
{
    return cmd_security_group(cli, argc, argv);
}

/* -------------------------------------------------------- floating IPs */

static const char fip_usage[] =
    "usage: nubo floating-ip COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  list                   the project's floating IPs\n"
    "  create [--network EXTERNAL]\n"
    "                         allocate an address of the external network\n"
    "  show FIP               one floating IP (by id)\n"
    "  associate FIP PORT     NAT it to a port's fixed IP\n"
    "  disassociate FIP\n"
    "  delete FIP...          release addresses\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col fip_cols[] = {
    {"ID", "id", CLOUD_STR},
    {"IP", "ip", CLOUD_STR},
    {"PORT", "port_id", CLOUD_PORT_ID},
    {"FIXED IP", "fixed_ip", CLOUD_STR},
};
static const struct cloud_col fip_fields[] = {
    {"id", "id", CLOUD_STR},
    {"ip", "ip", CLOUD_STR},
    {"network", "network_id", CLOUD_STR},
    {"port", "port_id", CLOUD_STR},
    {"fixed ip", "fixed_ip", CLOUD_STR},
    {"created", "created_at", CLOUD_STR},
};
KIND(fip_kind, "floating IP", "/v1/floating-ips", "floating_ips", true, fip_cols, fip_fields,
     "no floating IPs");
SIMPLE_CMDS(fip, fip_kind, fip_usage, fip_usage, fip_usage)

static const struct opts_field fip_create_fields[] = {
    {.name = "network", .key = "network", .type = FIELD_STR},
};
static const struct opts_create fip_create_def = {.collection = "/v1/floating-ips",
                                                  .what = "floating IP",
                                                  .positional = NULL,
                                                  .usage = fip_usage,
                                                  .fields = fip_create_fields,
                                                  .nfields = ARRAY_LEN(fip_create_fields)};

static int fip_create(struct cli *cli, int argc, char **argv)
{
    return opts_cmd_create(cli, argc, argv, &fip_create_def);
}

/* associate FIP PORT / disassociate FIP. */
static int fip_bind(struct cli *cli, int argc, char **argv, bool bind)
{
    int rc;
    if ((rc = cli_options_common(cli, argc, argv, fip_usage, false)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    int want = bind ? 2 : 1;
    if ((rc = cli_args_check(cli, argc - optind, want, want,
                             bind ? "a floating IP id and a port id" : "a floating IP id")) != 0)
        return rc;
    if (bind && !valid_is_uuid(argv[optind + 1]))
        return cli_usage_error(cli, "PORT must be a port id ('nubo port list')");
    json_t *body =
        json_pack("{s:o}", "port_id", bind ? json_string(argv[optind + 1]) : json_null());
    rc = patch_print(cli, &fip_kind, argv[optind], body);
    json_decref(body);
    return rc;
}

static int fip_associate(struct cli *cli, int argc, char **argv)
{
    return fip_bind(cli, argc, argv, true);
}

static int fip_disassociate(struct cli *cli, int argc, char **argv)
{
    return fip_bind(cli, argc, argv, false);
}

int cmd_floating_ip(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", fip_list},     {"create", fip_create},       {"show", fip_show},
        {"delete", fip_delete}, {"associate", fip_associate}, {"disassociate", fip_disassociate},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), fip_usage);
}
