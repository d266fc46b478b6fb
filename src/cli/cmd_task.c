/*
 * cmd_task.c - `nubo task ...`: the operations the controller carries out
 * on instances in the background (create, start, stop, reboot, delete).
 *
 *   show   GET /v1/tasks/{id}
 *   list   GET /v1/tasks (?instance= ?status=)
 */
#include <stdio.h>

#include "cli/cloud.h"
#include "cli/cmd.h"
#include "lib/util.h"
#include "lib/valid.h"

static const char task_usage[] =
    "usage: nubo task COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  show ID                       one task: its status and error\n"
    "  list [--instance I] [--status S]   the project's tasks\n"
    "\n"
    "Creating, starting, stopping, rebooting or deleting an instance answers with a\n"
    "task id; the task is pending, running, then succeeded or failed.\n"
    "\n" CLOUD_COMMON_HELP;

static const char show_usage[] = "usage: nubo task show ID\n"
                                 "\n"
                                 "Shows one task: its kind, instance, status and error.\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char list_usage[] =
    "usage: nubo task list [--instance INSTANCE] [--status S] [--limit N]\n"
    "\n"
    "Lists the project's tasks, oldest first.\n"
    "\n"
    "  --instance INSTANCE   only those of one instance (its id)\n"
    "  --status S            pending, running, succeeded or failed\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col task_cols[] = {
    {"ID", "id", CLOUD_STR},          {"KIND", "kind", CLOUD_STR},
    {"STATUS", "status", CLOUD_STR},  {"INSTANCE", "instance_id", CLOUD_INSTANCE_ID},
    {"AGE", "created_at", CLOUD_AGE}, {"ERROR", "error", CLOUD_SHORT},
};

static const struct cloud_col task_fields[] = {
    {"id", "id", CLOUD_STR},
    {"kind", "kind", CLOUD_STR},
    {"status", "status", CLOUD_STR},
    {"error", "error", CLOUD_STR},
    {"instance id", "instance_id", CLOUD_STR},
    {"created", "created_at", CLOUD_STR},
    {"updated", "updated_at", CLOUD_STR},
};

static const struct cloud_kind task_kind = {
    .what = "task",
    .collection = "/v1/tasks",
    .key = "tasks",
    .cols = task_cols,
    .ncols = ARRAY_LEN(task_cols),
    .fields = task_fields,
    .nfields = ARRAY_LEN(task_fields),
    .empty = "no tasks",
};

static int task_show(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_show(cli, argc, argv, &task_kind, show_usage);
}

static int task_list(struct cli *cli, int argc, char **argv)
{
    enum { OPT_INSTANCE = CLI_OPT_FIRST_FREE, OPT_STATUS, OPT_LIMIT };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"instance", required_argument, NULL, OPT_INSTANCE},
        {"status", required_argument, NULL, OPT_STATUS},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {NULL, 0, NULL, 0},
    };
    int c, rc;
    long long limit = 0;
    char path[CLOUD_PATH_MAX] = "/v1/tasks";
    struct nubo_err err;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(list_usage, stdout);
            return CLI_EXIT_OK;
        } else if (c == OPT_INSTANCE || c == OPT_STATUS) {
            const char *key = c == OPT_INSTANCE ? "instance" : "status";
            if (valid_name(optarg, key, &err) < 0)
                return cli_usage_error(cli, "--%s: %s", key, err.msg);
            cloud_query_add(path, sizeof(path), key, optarg, &err);
        } else if (c == OPT_LIMIT) {
            if ((rc = cloud_limit_parse(cli, optarg, &limit)) != 0)
                return rc;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    if ((rc = cli_args_check(cli, argc - optind, 0, 0, "no arguments")) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    return cloud_list_run(cli, &task_kind, path, limit);
}

int cmd_task(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {{"show", task_show}, {"list", task_list}};
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), task_usage);
}
