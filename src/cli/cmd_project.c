/*
 * cmd_project.c - `nubo project ...`: projects (tenants) and who is in them.
 *
 *   list      GET /v1/projects (admin: all; others: their own)
 *   create    POST /v1/projects (admin)
 *   show      GET /v1/projects/{ref}
 *   delete    DELETE /v1/projects/{ref} (admin)
 *   members   GET /v1/projects/{ref}/members
 *
 * Roles are given and taken with `nubo role` (cmd_role.c).
 */
#include <stdio.h>

#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/opts.h"
#include "lib/util.h"
#include "lib/valid.h"

static const char project_usage[] =
    "usage: nubo project COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  list                          the projects you have a role in (admin: all)\n"
    "  create NAME [--description D] a new project, with the default quota (admin)\n"
    "  show PROJECT                  one project\n"
    "  delete PROJECT...             remove projects without instances (admin)\n"
    "  members PROJECT               its users and their roles\n"
    "\n"
    "PROJECT is a project's name or id.  Roles: 'nubo role set|remove'.\n"
    "\n" CLOUD_COMMON_HELP;

static const char list_usage[] =
    "usage: nubo project list [--limit N]\n"
    "\n"
    "Lists the projects you have a role in (a cloud admin sees all of them), oldest\n"
    "first, with your role in each.\n"
    "\n"
    "  --limit N    the first N only\n"
    "\n" CLOUD_COMMON_HELP;

static const char create_usage[] =
    "usage: nubo project create NAME [--description TEXT]\n"
    "\n"
    "Creates a project (cloud admins only) with the default quota.  NAME: letters,\n"
    "digits, '.', '_' and '-', up to 63, unique.  Give users a role in it with\n"
    "'nubo role set NAME USER ROLE'.\n"
    "\n" CLOUD_COMMON_HELP;

static const char show_usage[] = "usage: nubo project show PROJECT\n"
                                 "\n"
                                 "Shows one project.\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char delete_usage[] =
    "usage: nubo project delete PROJECT...\n"
    "\n"
    "Deletes projects (cloud admins only).  A project that still has instances is\n"
    "refused (HTTP 409): delete them first.  Goes on with the next PROJECT when one\n"
    "fails; the exit status is then 1.\n"
    "\n" CLOUD_COMMON_HELP;

static const char members_usage[] = "usage: nubo project members PROJECT\n"
                                    "\n"
                                    "Lists the users who have a role in the project.\n"
                                    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col project_cols[] = {
    {"NAME", "name", CLOUD_STR},      {"ID", "id", CLOUD_STR},
    {"ROLE", "role", CLOUD_STR},      {"DESCRIPTION", "description", CLOUD_STR},
    {"AGE", "created_at", CLOUD_AGE},
};

static const struct cloud_col project_fields[] = {
    {"name", "name", CLOUD_STR},
    {"id", "id", CLOUD_STR},
    {"description", "description", CLOUD_STR},
    {"your role", "role", CLOUD_STR},
    {"created", "created_at", CLOUD_STR},
};

static const struct cloud_kind project_kind = {
    .what = "project",
    .collection = "/v1/projects",
    .key = "projects",
    .cols = project_cols,
    .ncols = ARRAY_LEN(project_cols),
    .fields = project_fields,
    .nfields = ARRAY_LEN(project_fields),
    .empty = "no projects",
};

static const struct cloud_col member_cols[] = {
    {"USER", "user_name", CLOUD_STR},
    {"ROLE", "role", CLOUD_STR},
    {"USER ID", "user_id", CLOUD_STR},
};

static const struct cloud_kind member_kind = {
    .what = "member",
    .key = "members",
    .cols = member_cols,
    .ncols = ARRAY_LEN(member_cols),
    .empty = "no members",
};

static int project_list(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_list(cli, argc, argv, &project_kind, list_usage);
}

static int project_show(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_show(cli, argc, argv, &project_kind, show_usage);
}

static int project_delete(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_delete(cli, argc, argv, &project_kind, delete_usage);
}

static const struct opts_field create_fields[] = {
    {.name = "description", .key = "description", .type = FIELD_STR},
};

static const struct opts_create create_def = {.collection = "/v1/projects",
                                              .what = "project",
                                              .positional = "name",
                                              .usage = create_usage,
                                              .fields = create_fields,
                                              .nfields = ARRAY_LEN(create_fields),
                                              .arg_missing = "the name of the new project",
                                              .arg_label = "the project name"};

static int project_create(struct cli *cli, int argc, char **argv)
{
    return opts_cmd_create(cli, argc, argv, &create_def);
}

static int project_members(struct cli *cli, int argc, char **argv)
{
    int rc;
    char path[CLOUD_PATH_MAX];
    struct nubo_err err;
    json_t *answer = NULL;
    if ((rc = cli_options_common(cli, argc, argv, members_usage, false)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "a project name or id")) != 0 ||
        (rc = cloud_ref_check(cli, argv[optind], "a project name or id")) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    snprintf(path, sizeof(path), "/v1/projects/%s/members", argv[optind]);
    /* Not a paged list: a project has few members. */
    if (cli_call(cli, "GET", path, NULL, &answer, &err) < 0)
        return cli_fail(cli, &err);
    if (!cli_print_json(cli, answer))
        cloud_table_print(json_object_get(answer, member_kind.key), member_kind.cols,
                          member_kind.ncols, member_kind.empty);
    json_decref(answer);
    return CLI_EXIT_OK;
}

int cmd_project(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", project_list},     {"create", project_create},   {"show", project_show},
        {"delete", project_delete}, {"members", project_members},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), project_usage);
}
