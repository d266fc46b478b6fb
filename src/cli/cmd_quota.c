/*
 * cmd_quota.c - `nubo quota ...`: how much a project may use, and uses.
 *
 *   show   GET /v1/projects/{ref}/quota (default: the project of the token)
 *   set    PUT /v1/projects/{ref}/quota (admin)
 */
#include <stdio.h>

#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "lib/util.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)
#define QUOTA_MAX 1000000000LL

static const char quota_usage[] =
    "usage: nubo quota COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  show [PROJECT]                a project's limits and usage (default: yours)\n"
    "  set PROJECT [--instances N] [--vcpus N] [--ram SIZE] [--disk SIZE]\n"
    "      [--networks N] [--ports N] ... [--image-size SIZE]\n"
    "                                change limits (admin)\n"
    "\n" CLOUD_COMMON_HELP;

static const char show_usage[] =
    "usage: nubo quota show [PROJECT]\n"
    "\n"
    "Shows the limits of a project (default: the one you are logged in to) and what\n"
    "what it uses: instances, vCPUs, RAM and disk, networks, subnets, ports,\n"
    "security groups and rules, floating IPs, alarms, launch templates, scaling\n"
    "groups and their policies and scheduled actions, stacks, API keys, images and\n"
    "their size, keypairs, server groups.  A create that would go over\n"
    "a limit is refused.\n"
    "\n" CLOUD_COMMON_HELP;

static const char set_usage[] =
    "usage: nubo quota set PROJECT [--instances N] [--vcpus N] [--ram SIZE] [--disk SIZE]\n"
    "           [--networks N] [--subnets N] [--ports N] [--security-groups N]\n"
    "           [--security-group-rules N] [--floating-ips N] [--alarms N]\n"
    "           [--launch-templates N] [--scaling-groups N] [--stacks N]\n"
    "           [--api-keys N] [--images N] [--image-size SIZE] [--keypairs N]\n"
    "           [--server-groups N] [--scaling-policies N] [--scheduled-actions N]\n"
    "           [--volumes N] [--volume-size SIZE] [--snapshots N]\n"
    "\n"
    "Changes the limits given, keeps the others (cloud admins only: not a project's\n"
    "admin, whose own quota would otherwise limit nothing).  Limits may be below\n"
    "the current usage: nothing is stopped, but nothing more can be created.\n"
    "\n"
    "  --instances N   instances (0 to 1000000000)\n"
    "  --vcpus N       vCPUs in all\n"
    "  --ram SIZE      RAM in all: 64G, 512M (a bare number is MiB)\n"
    "  --disk SIZE     root disks in all: 1T, 500G (a bare number is GiB)\n"
    "  --networks N, --subnets N, --ports N, --security-groups N,\n"
    "  --security-group-rules N, --floating-ips N, --alarms N, --launch-templates N,\n"
    "  --scaling-groups N, --stacks N, --api-keys N, --images N, --keypairs N,\n"
    "  --server-groups N, --scaling-policies N, --scheduled-actions N\n"
    "                  how many of each the project may have\n"
    "  --image-size SIZE  the disks of its images in all: 50G (a bare number is GiB)\n"
    "  --volumes N     volumes\n"
    "  --volume-size SIZE  its volumes and snapshots in all: 1T, 500G (a bare number\n"
    "                  is GiB)\n"
    "  --snapshots N   volume snapshots\n"
    "\n" CLOUD_COMMON_HELP;

/* One row: the used and limit values of key, as counts or sizes. */
static void quota_row(struct output_table *t, const char *name, const json_t *quota,
                      const char *key, unsigned long long unit)
{
    const json_t *lim = json_object_get(json_object_get(quota, "limits"), key);
    const json_t *use = json_object_get(json_object_get(quota, "usage"), key);
    char cells[3][32];
    const json_t *vals[2] = {use, lim};
    for (int i = 0; i < 2; i++) {
        long long v = json_integer_value(vals[i]);
        if (!json_is_integer(vals[i]))
            snprintf(cells[i], sizeof(cells[i]), "-");
        else if (unit > 1 && v > 0)
            output_size((uint64_t)v * unit, cells[i], sizeof(cells[i]));
        else
            snprintf(cells[i], sizeof(cells[i]), "%lld", v);
    }
    long long left = json_integer_value(lim) - json_integer_value(use);
    if (!json_is_integer(lim) || !json_is_integer(use))
        snprintf(cells[2], sizeof(cells[2]), "-");
    else if (left < 0)
        snprintf(cells[2], sizeof(cells[2]), "none (over)");
    else if (unit > 1 && left > 0)
        output_size((uint64_t)left * unit, cells[2], sizeof(cells[2]));
    else
        snprintf(cells[2], sizeof(cells[2]), "%lld", left);
    const char *row[] = {name, cells[0], cells[1], cells[2]};
    output_table_add(t, row);
}

static void quota_print(const struct cli *cli, const json_t *quota)
{
    static const char *const headers[] = {"RESOURCE", "USED", "LIMIT", "LEFT"};
    if (cli_print_json(cli, quota))
        return;
    struct output_table *t = output_table_new(4, headers);
    quota_row(t, "instances", quota, "instances", 1);
    quota_row(t, "vcpus", quota, "vcpus", 1);
    quota_row(t, "ram", quota, "ram_mib", MIB);
    quota_row(t, "disk", quota, "disk_gib", GIB);
    static const char *const counts[] = {"networks",
                                         "subnets",
                                         "ports",
                                         "security_groups",
                                         "security_group_rules",
                                         "floating_ips",
                                         "alarms",
                                         "launch_templates",
                                         "scaling_groups",
                                         "stacks",
                                         "api_keys",
                                         "images"};
    for (size_t i = 0; i < ARRAY_LEN(counts); i++)
        quota_row(t, counts[i], quota, counts[i], 1);
    quota_row(t, "image_size", quota, "image_gib", GIB);
    static const char *const more[] = {"keypairs", "server_groups", "scaling_policies",
                                       "scheduled_actions"};
    for (size_t i = 0; i < ARRAY_LEN(more); i++)
        quota_row(t, more[i], quota, more[i], 1);
    quota_row(t, "volumes", quota, "volumes", 1);
    quota_row(t, "volume_size", quota, "volume_gib", GIB);
    quota_row(t, "snapshots", quota, "snapshots", 1);
    output_table_print(t, stdout);
    output_table_free(t);
}

static int quota_show(struct cli *cli, int argc, char **argv)
{
    int rc;
    char path[CLOUD_PATH_MAX], project[37];
    struct nubo_err err;
    json_t *quota = NULL;
    if ((rc = cli_options_common(cli, argc, argv, show_usage, false)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 0, 1, "at most one project name or id")) != 0 ||
        (optind < argc && (rc = cloud_ref_check(cli, argv[optind], "a project name or id")) != 0) ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    const char *ref = optind < argc ? argv[optind] : NULL;
    if (ref == NULL) {
        if (cloud_whoami_ids(cli, project, NULL, &err) < 0)
            return cli_fail(cli, &err);
        ref = project;
    }
    snprintf(path, sizeof(path), "/v1/projects/%s/quota", ref);
    if (cli_call(cli, "GET", path, NULL, &quota, &err) < 0)
        return cli_fail(cli, &err);
    quota_print(cli, quota);
    json_decref(quota);
    return CLI_EXIT_OK;
}

static const struct opts_field set_fields[] = {
    {.name = "instances", .key = "instances", .type = FIELD_INT, .max = QUOTA_MAX},
    {.name = "vcpus", .key = "vcpus", .type = FIELD_INT, .max = QUOTA_MAX},
    {.name = "ram", .key = "ram_mib", .type = FIELD_MIB, .max = QUOTA_MAX},
    {.name = "disk", .key = "disk_gib", .type = FIELD_GIB, .max = QUOTA_MAX},
    {.name = "networks", .key = "networks", .type = FIELD_INT, .max = QUOTA_MAX},
    {.name = "subnets", .key = "subnets", .type = FIELD_INT, .max = QUOTA_MAX},
    {.name = "ports", .key = "ports", .type = FIELD_INT, .max = QUOTA_MAX},
    {.name = "security-groups", .key = "security_groups", .type = FIELD_INT, .max = QUOTA_MAX},
    {.name = "security-group-rules",
     .key = "security_group_rules",
     .type = FIELD_INT,
     .max = QUOTA_MAX},
    {.name = "floating-ips", .key = "floating_ips", .type = FIELD_INT, .max = QUOTA_MAX},
    {.name = "alarms", .key = "alarms", .type = FIELD_INT, .max = QUOTA_MAX},
    {.name = "launch-templates", .key = "launch_templates", .type = FIELD_INT, .max = QUOTA_MAX},
    {.name = "scaling-groups", .key = "scaling_groups", .type = FIELD_INT, .max = QUOTA_MAX},
    {.name = "stacks", .key = "stacks", .type = FIELD_INT, .max = QUOTA_MAX},
    {.name = "api-keys", .key = "api_keys", .type = FIELD_INT, .max = QUOTA_MAX},
    {.name = "images", .key = "images", .type = FIELD_INT, .max = QUOTA_MAX},
    {.name = "image-size", .key = "image_gib", .type = FIELD_GIB, .max = QUOTA_MAX},
    {.name = "keypairs", .key = "keypairs", .type = FIELD_INT, .max = QUOTA_MAX},
    {.name = "server-groups", .key = "server_groups", .type = FIELD_INT, .max = QUOTA_MAX},
    {.name = "scaling-policies", .key = "scaling_policies", .type = FIELD_INT, .max = QUOTA_MAX},
    {.name = "scheduled-actions", .key = "scheduled_actions", .type = FIELD_INT, .max = QUOTA_MAX},
    {.name = "volumes", .key = "volumes", .type = FIELD_INT, .max = QUOTA_MAX},
    {.name = "volume-size", .key = "volume_gib", .type = FIELD_GIB, .max = QUOTA_MAX},
    {.name = "snapshots", .key = "snapshots", .type = FIELD_INT, .max = QUOTA_MAX},
};

static int quota_set(struct cli *cli, int argc, char **argv)
{
    char path[CLOUD_PATH_MAX];
    struct nubo_err err;
    json_t *body = NULL, *quota = NULL;
    int rc = opts_parse(cli, argc, argv, set_fields, ARRAY_LEN(set_fields), set_usage, &body);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "a project name or id")) != 0 ||
        (rc = cloud_ref_check(cli, argv[optind], "a project name or id")) != 0)
        goto cleanup;
    if (json_object_size(body) == 0) {
        rc = cli_usage_error(cli,
                             "give at least one limit to change (--instances, --networks, ...)");
        goto cleanup;
    }
    if ((rc = cloud_connect(cli)) != 0)
        goto cleanup;
    snprintf(path, sizeof(path), "/v1/projects/%s/quota", argv[optind]);
    if (cli_call(cli, "PUT", path, body, &quota, &err) < 0) {
        rc = cli_fail(cli, &err);
        goto cleanup;
    }
    quota_print(cli, quota);
    rc = CLI_EXIT_OK;
cleanup:
    json_decref(body);
    json_decref(quota);
    return rc;
}

int cmd_quota(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {{"show", quota_show}, {"set", quota_set}};
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), quota_usage);
}
