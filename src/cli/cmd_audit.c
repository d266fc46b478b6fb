/*
 * cmd_audit.c - `nubo audit`: the audit log, every mutating API call with
 * who made it, in which project, on what, and how it ended (cloud admins
 * only), newest first.  GET /v1/audit (?order=newest ?user= ?project=
 * ?action= ?result= ?since=).
 */
#include <stdbool.h>
#include <stdio.h>

#include "cli/cloud.h"
#include "cli/cmd.h"
#include "lib/util.h"
#include "lib/valid.h"

static const char audit_usage[] =
    "usage: nubo audit [--user U] [--project P] [--action A] [--result R] [--since T]\n"
    "                  [--limit N] [--oldest-first]\n"
    "\n"
    "Lists the audit log, newest first (cloud admins only): every call that changed\n"
    "something, with who made it, in which project, the action (such as\n"
    "instance.create), its target, the HTTP status and the result.\n"
    "\n"
    "  --user U       only calls of user U (a name or id)\n"
    "  --project P    only calls in project P\n"
    "  --action A     only this action\n"
    "  --result R     only this result\n"
    "  --since T      only records at or after T, an RFC 3339 UTC time\n"
    "                 (2026-11-26T15:04:05Z)\n"
    "  --limit N      the first N only (the newest N; with --oldest-first the oldest)\n"
    "  --oldest-first oldest first, as the API lists by default\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col audit_cols[] = {
    {"AT", "at", CLOUD_STR},
    {"USER", "user_name", CLOUD_STR},
    {"ACTION", "action", CLOUD_STR},
    {"TARGET", "target", CLOUD_SHORT},
    {"STATUS", "status", CLOUD_STR},
    {"RESULT", "result", CLOUD_STR},
    {"REQUEST", "request_id", CLOUD_STR},
};

static const struct cloud_kind audit_kind = {
    .what = "audit record",
    .key = "audit",
    .cols = audit_cols,
    .ncols = ARRAY_LEN(audit_cols),
    .empty = "no audit records",
};

int cmd_audit(struct cli *cli, int argc, char **argv)
{
    enum {
        OPT_USER = CLI_OPT_FIRST_FREE,
        OPT_PROJECT,
        OPT_ACTION,
        OPT_RESULT,
        OPT_LIMIT,
        OPT_SINCE,
        OPT_OLDEST_FIRST
    };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"user", required_argument, NULL, OPT_USER},
        {"project", required_argument, NULL, OPT_PROJECT},
        {"action", required_argument, NULL, OPT_ACTION},
        {"result", required_argument, NULL, OPT_RESULT},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"since", required_argument, NULL, OPT_SINCE},
        {"oldest-first", no_argument, NULL, OPT_OLDEST_FIRST},
        {NULL, 0, NULL, 0},
    };
    static const char *const keys[] = {"user", "project", "action", "result"};
    int c, rc;
    long long limit = 0;
    bool oldest_first = false;
    char path[CLOUD_PATH_MAX] = "/v1/audit";
    struct nubo_err err;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(audit_usage, stdout);
            return CLI_EXIT_OK;
        } else if (c >= OPT_USER && c <= OPT_RESULT) {
            const char *key = keys[c - OPT_USER];
            if (valid_name(optarg, key, &err) < 0)
                return cli_usage_error(cli, "--%s: %s", key, err.msg);
            cloud_query_add(path, sizeof(path), key, optarg, &err);
        } else if (c == OPT_SINCE) {
            if (cloud_query_add(path, sizeof(path), "since", optarg, &err) < 0)
                return cli_usage_error(cli, "--since: %s", err.msg);
        } else if (c == OPT_OLDEST_FIRST) {
            oldest_first = true;
        } else if (c == OPT_LIMIT) {
            if ((rc = cloud_limit_parse(cli, optarg, &limit)) != 0)
                return rc;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    if (!oldest_first)
        cloud_query_add(path, sizeof(path), "order", "newest", &err);
    if ((rc = cli_args_check(cli, argc - optind, 0, 0, "no arguments")) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    return cloud_list_run(cli, &audit_kind, path, limit);
}
