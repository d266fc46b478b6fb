/*
 * cmd_flavor.c - `nubo flavor ...`: the sizes instances come in.
 *
 *   list      GET /v1/flavors (public ones and those shared with the project)
 *   create    POST /v1/flavors (admin)
 *   show      GET /v1/flavors/{ref}
 *   delete    DELETE /v1/flavors/{ref} (admin)
 *   grant     POST /v1/flavors/{ref}/access (admin): a private flavor for a project
 */
#include <stdio.h>

#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "lib/util.h"
#include "lib/valid.h"

static const char flavor_usage[] =
    "usage: nubo flavor COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  list                          the flavors you can use\n"
    "  create NAME --vcpus N --ram SIZE --disk SIZE [--private]   (admin)\n"
    "  show FLAVOR                   one flavor\n"
    "  delete FLAVOR...              remove flavors (admin)\n"
    "  grant FLAVOR PROJECT          let a project use a private flavor (admin)\n"
    "\n"
    "FLAVOR is a flavor's name or id.\n"
    "\n" CLOUD_COMMON_HELP;

static const char list_usage[] =
    "usage: nubo flavor list [--limit N]\n"
    "\n"
    "Lists the flavors your project can use (public ones and private ones shared\n"
    "with it; a cloud admin sees all), oldest first.\n"
    "\n" CLOUD_COMMON_HELP;

static const char create_usage[] =
    "usage: nubo flavor create NAME --vcpus N --ram SIZE --disk SIZE [--private]\n"
    "\n"
    "Creates a flavor (cloud admins only): the size of the instances made from it.\n"
    "\n"
    "  --vcpus N      virtual CPUs, 1 to 64\n"
    "  --ram SIZE     memory, 64M to 1T (a bare number is MiB)\n"
    "  --disk SIZE    root disk, 1G to 16T (a bare number is GiB)\n"
    "  --private      only for projects it is granted to ('nubo flavor grant')\n"
    "\n" CLOUD_COMMON_HELP;

static const char show_usage[] = "usage: nubo flavor show FLAVOR\n"
                                 "\n"
                                 "Shows one flavor.\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char delete_usage[] =
    "usage: nubo flavor delete FLAVOR...\n"
    "\n"
    "Deletes flavors (cloud admins only); instances made from them keep their size.\n"
    "\n" CLOUD_COMMON_HELP;

static const char grant_usage[] =
    "usage: nubo flavor grant FLAVOR PROJECT\n"
    "\n"
    "Lets PROJECT use the private flavor FLAVOR (cloud admins only).\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col flavor_cols[] = {
    {"NAME", "name", CLOUD_STR},     {"ID", "id", CLOUD_STR},
    {"VCPUS", "vcpus", CLOUD_STR},   {"RAM", "ram_mib", CLOUD_MIB},
    {"DISK", "disk_gib", CLOUD_GIB}, {"PUBLIC", "is_public", CLOUD_BOOL},
};

static const struct cloud_col flavor_fields[] = {
    {"name", "name", CLOUD_STR},     {"id", "id", CLOUD_STR},
    {"vcpus", "vcpus", CLOUD_STR},   {"ram", "ram_mib", CLOUD_MIB},
    {"disk", "disk_gib", CLOUD_GIB}, {"public", "is_public", CLOUD_BOOL},
};

static const struct cloud_kind flavor_kind = {
    .what = "flavor",
    .collection = "/v1/flavors",
    .key = "flavors",
    .cols = flavor_cols,
    .ncols = ARRAY_LEN(flavor_cols),
    .fields = flavor_fields,
    .nfields = ARRAY_LEN(flavor_fields),
    .empty = "no flavors (an admin creates them: nubo flavor create)",
};

static int flavor_list(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_list(cli, argc, argv, &flavor_kind, list_usage);
}

static int flavor_show(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_show(cli, argc, argv, &flavor_kind, show_usage);
}

static int flavor_delete(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_delete(cli, argc, argv, &flavor_kind, delete_usage);
}

#define SIZES_REQUIRED "--vcpus, --ram and --disk are required"

static const struct opts_field create_fields[] = {
    {.name = "vcpus",
     .key = "vcpus",
     .type = FIELD_INT,
     .min = 1,
     .max = 64,
     .required = SIZES_REQUIRED},
    {.name = "ram",
     .key = "ram_mib",
     .type = FIELD_MIB,
     .min = 64,
     .max = 1048576,
     .required = SIZES_REQUIRED},
    {.name = "disk",
     .key = "disk_gib",
     .type = FIELD_GIB,
     .min = 1,
     .max = 16384,
     .required = SIZES_REQUIRED},
    {.name = "private", .key = "is_public", .type = FIELD_FALSE},
};

/* A flavor is public unless --private says otherwise. */
static void public_by_default(json_t *body)
{
    if (json_object_get(body, "is_public") == NULL)
        json_object_set_new(body, "is_public", json_true());
}

static const struct opts_create create_def = {.collection = "/v1/flavors",
                                              .what = "flavor",
                                              .positional = "name",
                                              .usage = create_usage,
                                              .fields = create_fields,
                                              .nfields = ARRAY_LEN(create_fields),
                                              .arg_missing = "the name of the new flavor",
                                              .arg_label = "the flavor name",
                                              .fill = public_by_default};

static int flavor_create(struct cli *cli, int argc, char **argv)
{
    return opts_cmd_create(cli, argc, argv, &create_def);
}

static int flavor_grant(struct cli *cli, int argc, char **argv)
{
    int rc;
    char path[CLOUD_PATH_MAX], safe[2][128];
    struct nubo_err err;
    json_t *body, *answer = NULL;
    if ((rc = cli_options_common(cli, argc, argv, grant_usage, false)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 2, 2, "FLAVOR PROJECT")) != 0 ||
        (rc = cloud_ref_check(cli, argv[optind], "a flavor name or id")) != 0 ||
        (rc = cloud_ref_check(cli, argv[optind + 1], "a project name or id")) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    snprintf(path, sizeof(path), "/v1/flavors/%s/access", argv[optind]);
    body = json_pack("{s:s}", "project", argv[optind + 1]);
    if (cli_call(cli, "POST", path, body, &answer, &err) < 0) {
        rc = cli_fail(cli, &err);
    } else if (!cli_print_json(cli, answer)) {
        output_text(argv[optind + 1], 0, safe[0], sizeof(safe[0]));
        output_text(argv[optind], 0, safe[1], sizeof(safe[1]));
        printf("project %s may use flavor %s\n", safe[0], safe[1]);
    }
    json_decref(body);
    json_decref(answer);
    return rc;
}

int cmd_flavor(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", flavor_list},     {"create", flavor_create}, {"show", flavor_show},
        {"delete", flavor_delete}, {"grant", flavor_grant},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), flavor_usage);
}
