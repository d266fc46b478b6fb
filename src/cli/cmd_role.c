/*
 * cmd_role.c - `nubo role ...`: a user's role in a project (cloud admins,
 * or the project's admins with a token scoped to it).
 *
 *   set       PUT /v1/projects/{project}/members/{user} {role}
 *   remove    DELETE /v1/projects/{project}/members/{user}
 */
#include <stdio.h>
#include <string.h>

#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/output.h"
#include "lib/util.h"

static const char role_usage[] =
    "usage: nubo role COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  set PROJECT USER ROLE     give USER the role ROLE in PROJECT (or change it)\n"
    "  remove PROJECT USER       take USER's role in PROJECT away\n"
    "\n"
    "Roles: admin (the project's resources and its members), member (manage the\n"
    "project's resources), reader (look only).  None reaches beyond the project:\n"
    "the whole cloud is for cloud admins ('nubo user grant-cloud-admin').  Cloud\n"
    "admins change roles in any project; a project's admin in the project they\n"
    "are logged in to (nubo login --project PROJECT).  'nubo project members\n"
    "PROJECT' lists the roles of a project.\n"
    "\n" CLOUD_COMMON_HELP;

static const char set_usage[] =
    "usage: nubo role set PROJECT USER ROLE\n"
    "\n"
    "Gives USER the role ROLE in PROJECT, replacing the one they had there.  ROLE is\n"
    "admin, member or reader.  PROJECT and USER are names or ids.\n"
    "\n" CLOUD_COMMON_HELP;

static const char remove_usage[] = "usage: nubo role remove PROJECT USER\n"
                                   "\n"
                                   "Takes USER's role in PROJECT away.\n"
                                   "\n" CLOUD_COMMON_HELP;

/* Checks PROJECT and USER and builds the member's path. */
static int member_path(struct cli *cli, char **argv, char *path, size_t n)
{
    int rc;
    if ((rc = cloud_ref_check(cli, argv[0], "a project name or id")) != 0 ||
        (rc = cloud_ref_check(cli, argv[1], "a user name or id")) != 0)
        return rc;
    snprintf(path, n, "/v1/projects/%s/members/%s", argv[0], argv[1]);
    return 0;
}

static int role_set(struct cli *cli, int argc, char **argv)
{
    static const char *const roles[] = {"admin", "member", "reader"};
    int rc;
    char path[CLOUD_PATH_MAX], safe[3][128];
    struct nubo_err err;
    json_t *body, *answer = NULL;
    if ((rc = cli_options_common(cli, argc, argv, set_usage, false)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 3, 3, "PROJECT USER ROLE")) != 0 ||
        (rc = member_path(cli, argv + optind, path, sizeof(path))) != 0)
        return rc;
    const char *role = argv[optind + 2];
    bool known = false;
    for (size_t i = 0; i < ARRAY_LEN(roles); i++)
        known = known || strcmp(role, roles[i]) == 0;
    if (!known)
        return cli_usage_error(cli, "ROLE must be admin, member or reader (got '%.40s')", role);
    if ((rc = cloud_connect(cli)) != 0)
        return rc;
    body = json_pack("{s:s}", "role", role);
    if (cli_call(cli, "PUT", path, body, &answer, &err) < 0) {
        rc = cli_fail(cli, &err);
    } else if (!cli_print_json(cli, answer)) {
        output_text(cli_json_str_or(answer, "user_name", argv[optind + 1]), 0, safe[0],
                    sizeof(safe[0]));
        output_text(argv[optind], 0, safe[1], sizeof(safe[1]));
        output_text(cli_json_str_or(answer, "role", role), 0, safe[2], sizeof(safe[2]));
        printf("%s is %s in project %s\n", safe[0], safe[2], safe[1]);
    }
    json_decref(body);
    json_decref(answer);
    return rc;
}

static int role_remove(struct cli *cli, int argc, char **argv)
{
    int rc;
    char path[CLOUD_PATH_MAX], safe[2][128];
    struct nubo_err err;
    if ((rc = cli_options_common(cli, argc, argv, remove_usage, false)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 2, 2, "PROJECT USER")) != 0 ||
        (rc = member_path(cli, argv + optind, path, sizeof(path))) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    if (cli_call(cli, "DELETE", path, NULL, NULL, &err) < 0)
        return cli_fail(cli, &err);
    if (cli->output == OUTPUT_TABLE) {
        output_text(argv[optind + 1], 0, safe[0], sizeof(safe[0]));
        output_text(argv[optind], 0, safe[1], sizeof(safe[1]));
        printf("%s has no role in project %s any more\n", safe[0], safe[1]);
    }
    return CLI_EXIT_OK;
}

int cmd_role(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {{"set", role_set}, {"remove", role_remove}};
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), role_usage);
}
