/*
 * cmd_alarm.c - `nubo alarm ...`: threshold rules on instance metrics that
 * go to ALARM, back to OK, or to INSUFFICIENT_DATA, and tell a webhook or
 * an internal hook when they do.
 *
 *   list      GET /v1/alarms
 *   create    POST /v1/alarms
 *   show      GET /v1/alarms/{id}
 *   delete    DELETE /v1/alarms/{id}
 *   history   GET /v1/alarms/{id}/history
 *
 * The routes take ids; names are resolved by listing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/opts.h"
#include "lib/util.h"
#include "lib/valid.h"

static const char alarm_usage[] =
    "usage: nubo alarm COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  list                          the project's alarms and their states\n"
    "  create NAME --metric M --comparison gt|ge|lt|le --threshold X --window S ...\n"
    "                                a new alarm (see 'nubo alarm create --help')\n"
    "  show ALARM                    one alarm\n"
    "  delete ALARM...               remove alarms and their history\n"
    "  history ALARM                 its state changes, webhooks and hooks\n"
    "\n"
    "ALARM is an alarm's name or id.\n"
    "\n" CLOUD_COMMON_HELP;

static const char list_usage[] = "usage: nubo alarm list [--limit N]\n"
                                 "\n"
                                 "Lists the project's alarms, oldest first.\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char create_usage[] =
    "usage: nubo alarm create NAME --metric M --comparison gt|ge|lt|le --threshold X\n"
    "           --window SECONDS [--instance I] [--statistic avg|max|min] [--periods N]\n"
    "           [--webhook URL] [--hook NAME] [--description TEXT]\n"
    "\n"
    "Creates an alarm: it is in ALARM while the statistic of metric M over each of\n"
    "the last N windows of SECONDS compares to X as asked (for instance avg cpu gt\n"
    "70 over 120 s), OK otherwise, and INSUFFICIENT_DATA while a window has no\n"
    "samples.  Each change is POSTed to the webhook (JSON, retried) and given to\n"
    "the internal hook.\n"
    "\n"
    "  --metric M        cpu (percent), memory (bytes), disk_read_bytes, ... (see\n"
    "                    'nubo metrics --help')\n"
    "  --instance I      the instance watched (name or id); without it, the samples\n"
    "                    of all the project's instances\n"
    "  --statistic S     avg (default), max or min over a window\n"
    "  --periods N       consecutive windows that must all breach (default 1)\n"
    "  --webhook URL     http:// or https:// URL told of every state change\n"
    "  --hook NAME       an internal hook of the controller (\"log\" is built in)\n"
    "\n" CLOUD_COMMON_HELP;

static const char show_usage[] = "usage: nubo alarm show ALARM\n"
                                 "\n"
                                 "Shows one alarm: its rule, actions and state.\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char delete_usage[] = "usage: nubo alarm delete ALARM...\n"
                                   "\n"
                                   "Deletes alarms with their history.\n"
                                   "\n" CLOUD_COMMON_HELP;

static const char history_usage[] =
    "usage: nubo alarm history ALARM [--limit N]\n"
    "\n"
    "Shows an alarm's history, oldest first: its state changes (with the value\n"
    "that caused them and whether the webhook got them) and the outcomes of its\n"
    "webhook and hook.\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col alarm_cols[] = {
    {"NAME", "name", CLOUD_STR},
    {"STATE", "state", CLOUD_STR},
    {"METRIC", "metric", CLOUD_STR},
    {"STAT", "statistic", CLOUD_STR},
    {"CMP", "comparison", CLOUD_STR},
    {"THRESHOLD", "threshold", CLOUD_STR},
    {"WINDOW", "window_s", CLOUD_STR},
    {"INSTANCE", "instance_id", CLOUD_INSTANCE_ID},
    {"CHANGED", "state_changed_at", CLOUD_AGE},
    {"ID", "id", CLOUD_STR},
};

static const struct cloud_col alarm_fields[] = {
    {"name", "name", CLOUD_STR},
    {"id", "id", CLOUD_STR},
    {"description", "description", CLOUD_STR},
    {"metric", "metric", CLOUD_STR},
    {"instance", "instance_id", CLOUD_STR},
    {"statistic", "statistic", CLOUD_STR},
    {"comparison", "comparison", CLOUD_STR},
    {"threshold", "threshold", CLOUD_STR},
    {"window (s)", "window_s", CLOUD_STR},
    {"periods", "evaluation_periods", CLOUD_STR},
    {"webhook", "webhook_url", CLOUD_STR},
    {"hook", "hook", CLOUD_STR},
    {"state", "state", CLOUD_STR},
    {"reason", "state_reason", CLOUD_STR},
    {"value", "state_value", CLOUD_STR},
    {"changed", "state_changed_at", CLOUD_STR},
    {"created", "created_at", CLOUD_STR},
};

static const struct cloud_kind alarm_kind = {
    .what = "alarm",
    .collection = "/v1/alarms",
    .key = "alarms",
    .ids_only = true,
    .cols = alarm_cols,
    .ncols = ARRAY_LEN(alarm_cols),
    .fields = alarm_fields,
    .nfields = ARRAY_LEN(alarm_fields),
    .empty = "no alarms (create one: nubo alarm create)",
};

static const struct cloud_col history_cols[] = {
    {"AT", "at", CLOUD_STR},           {"KIND", "kind", CLOUD_STR},
    {"FROM", "old_state", CLOUD_STR},  {"TO", "new_state", CLOUD_STR},
    {"VALUE", "value", CLOUD_STR},     {"WEBHOOK", "webhook_status", CLOUD_STR},
    {"DETAIL", "detail", CLOUD_SHORT},
};

static const struct cloud_kind history_kind = {
    .what = "history entry",
    .key = "history",
    .cols = history_cols,
    .ncols = ARRAY_LEN(history_cols),
    .empty = "no history yet: the alarm has not changed state",
};

static int alarm_list(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_list(cli, argc, argv, &alarm_kind, list_usage);
}

static int alarm_show(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_show(cli, argc, argv, &alarm_kind, show_usage);
}

static int alarm_delete(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_delete(cli, argc, argv, &alarm_kind, delete_usage);
}

#define ALARM_REQUIRED "--metric, --comparison, --threshold and --window are required"

static const struct opts_field create_fields[] = {
    {.name = "metric", .key = "metric", .type = FIELD_NAME, .required = ALARM_REQUIRED},
    {.name = "instance", .key = "instance", .type = FIELD_REF, .what = "an instance's name or id"},
    {.name = "statistic",
     .key = "statistic",
     .type = FIELD_CHOICE,
     .choices = "avg|max|min",
     .invalid = "--statistic is avg, max or min"},
    {.name = "comparison",
     .key = "comparison",
     .type = FIELD_CHOICE,
     .choices = "gt|ge|lt|le",
     .invalid = "--comparison is gt, ge, lt or le",
     .required = ALARM_REQUIRED},
    {.name = "threshold",
     .key = "threshold",
     .type = FIELD_ANY_NUM,
     .invalid = "--threshold wants a number",
     .required = ALARM_REQUIRED},
    {.name = "window",
     .key = "window_s",
     .type = FIELD_INT,
     .min = 1,
     .max = 86400,
     .required = ALARM_REQUIRED},
    {.name = "periods", .key = "evaluation_periods", .type = FIELD_INT, .min = 1, .max = 100},
    {.name = "webhook", .key = "webhook_url", .type = FIELD_STR},
    {.name = "hook", .key = "hook", .type = FIELD_NAME},
    {.name = "description", .key = "description", .type = FIELD_STR},
};

static const struct opts_create create_def = {.collection = "/v1/alarms",
                                              .what = "alarm",
                                              .positional = "name",
                                              .usage = create_usage,
                                              .fields = create_fields,
                                              .nfields = ARRAY_LEN(create_fields),
                                              .arg_missing = "the name of the new alarm",
                                              .arg_label = "the alarm name"};

static int alarm_create(struct cli *cli, int argc, char **argv)
{
    return opts_cmd_create(cli, argc, argv, &create_def);
}

static int alarm_history(struct cli *cli, int argc, char **argv)
{
    enum { OPT_LIMIT = CLI_OPT_FIRST_FREE };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"limit", required_argument, NULL, OPT_LIMIT},
        {NULL, 0, NULL, 0},
    };
    int c, rc;
    long long limit = 0;
    struct nubo_err err;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(history_usage, stdout);
            return CLI_EXIT_OK;
        } else if (c == OPT_LIMIT) {
            if ((rc = cloud_limit_parse(cli, optarg, &limit)) != 0)
                return rc;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "an alarm's name or id")) != 0 ||
        (rc = cloud_ref_check(cli, argv[optind], "an alarm's name or id")) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    char id[37], path[CLOUD_PATH_MAX];
    if (cloud_resolve(cli, "/v1/alarms", "alarms", false, argv[optind], "alarm", id, &err) < 0)
        return cli_fail(cli, &err);
    snprintf(path, sizeof(path), "/v1/alarms/%s/history", id);
    return cloud_list_run(cli, &history_kind, path, limit);
}

int cmd_alarm(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", alarm_list},     {"create", alarm_create},   {"show", alarm_show},
        {"delete", alarm_delete}, {"history", alarm_history},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), alarm_usage);
}
