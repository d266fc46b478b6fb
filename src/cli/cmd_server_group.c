/*
 * cmd_server_group.c - `nubo server-group ...`: groups of instances placed
 * together (affinity) or apart (anti-affinity) on hosts.
 *
 *   list      GET /v1/server-groups
 *   create    POST /v1/server-groups {name, policy}
 *   show      GET /v1/server-groups/{id}
 *   delete    DELETE /v1/server-groups/{id} (409 while it has live members)
 *
 * The routes take ids; names are resolved by listing.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/opts.h"
#include "lib/util.h"
#include "lib/valid.h"

static const char group_usage[] =
    "usage: nubo server-group COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  list                          the project's server groups\n"
    "  create NAME --policy POLICY   a new group: affinity or anti-affinity\n"
    "  show GROUP                    one group and its instances\n"
    "  delete GROUP...               remove groups without live instances\n"
    "\n"
    "GROUP is a group's name or id.  Instances join a group when created:\n"
    "'nubo instance create ... --server-group GROUP'.\n"
    "\n" CLOUD_COMMON_HELP;

static const char list_usage[] = "usage: nubo server-group list [--limit N]\n"
                                 "\n"
                                 "Lists the project's server groups, oldest first.\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char create_usage[] =
    "usage: nubo server-group create NAME --policy affinity|anti-affinity\n"
    "\n"
    "Creates a server group.  The scheduler puts the instances of an affinity group\n"
    "on the same host, those of an anti-affinity group each on a different host (an\n"
    "instance that cannot be placed so goes to error: no valid host).\n"
    "\n" CLOUD_COMMON_HELP;

static const char show_usage[] = "usage: nubo server-group show GROUP\n"
                                 "\n"
                                 "Shows one server group.\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char delete_usage[] =
    "usage: nubo server-group delete GROUP...\n"
    "\n"
    "Deletes server groups; one that still has live instances is refused (HTTP 409).\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col group_cols[] = {
    {"NAME", "name", CLOUD_STR},
    {"ID", "id", CLOUD_STR},
    {"POLICY", "policy", CLOUD_STR},
    {"MEMBERS", "members", CLOUD_COUNT},
};

static const struct cloud_col group_fields[] = {
    {"name", "name", CLOUD_STR},          {"id", "id", CLOUD_STR},
    {"policy", "policy", CLOUD_STR},      {"members", "members", CLOUD_COUNT},
    {"created", "created_at", CLOUD_STR},
};

static const struct cloud_kind group_kind = {
    .what = "server group",
    .collection = "/v1/server-groups",
    .key = "server_groups",
    .ids_only = true,
    .cols = group_cols,
    .ncols = ARRAY_LEN(group_cols),
    .fields = group_fields,
    .nfields = ARRAY_LEN(group_fields),
    .empty = "no server groups",
};

static int group_list(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_list(cli, argc, argv, &group_kind, list_usage);
}

static int group_delete(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_delete(cli, argc, argv, &group_kind, delete_usage);
}

static int group_show(struct cli *cli, int argc, char **argv)
{
    int rc;
    struct nubo_err err;
    json_t *group = NULL;
    if ((rc = cli_options_common(cli, argc, argv, show_usage, false)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "a server group name or id")) != 0 ||
        (rc = cloud_ref_check(cli, argv[optind], "a server group name or id")) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    if (cloud_get(cli, &group_kind, argv[optind], &group, &err) < 0)
        return cli_fail(cli, &err);
    if (!cli_print_json(cli, group)) {
        cloud_view_print(group, group_fields, ARRAY_LEN(group_fields));
        size_t i;
        const json_t *m;
        json_array_foreach (json_object_get(group, "members"), i, m) {
            output_kv(stdout, "instance", json_string_value(m));
        }
    }
    json_decref(group);
    return CLI_EXIT_OK;
}

static const struct opts_field create_fields[] = {
    {.name = "policy",
     .key = "policy",
     .type = FIELD_CHOICE,
     .choices = "affinity|anti-affinity",
     .required = "--policy affinity|anti-affinity is required"},
};

static const struct opts_create create_def = {.collection = "/v1/server-groups",
                                              .what = "server group",
                                              .positional = "name",
                                              .usage = create_usage,
                                              .fields = create_fields,
                                              .nfields = ARRAY_LEN(create_fields),
                                              .arg_missing = "the name of the new group",
                                              .arg_label = "the group name"};

static int group_create(struct cli *cli, int argc, char **argv)
{
    return opts_cmd_create(cli, argc, argv, &create_def);
}

int cmd_server_group(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", group_list},
        {"create", group_create},
        {"show", group_show},
        {"delete", group_delete},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), group_usage);
}
