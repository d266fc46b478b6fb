/*
 * cmd_usage.c - `nubo usage`: the usage records of a project, the metering
 * ledger that invoices are computed from.  GET /v1/usage (?start= ?end=
 * ?project= ?resource= ?meter=).
 */
#include <stdio.h>

#include "cli/billing_opts.h"
#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/output.h"
#include "lib/util.h"
#include "lib/valid.h"

static const char usage_usage[] =
    "usage: nubo usage [--month YYYY-MM | --start TIME [--end TIME]] [--project P]\n"
    "                  [--resource ID] [--meter M] [--limit N]\n"
    "\n"
    "Lists the usage records of your project that overlap a period (default: this\n"
    "month), oldest first: each is a time during which a resource was billable -\n"
    "an instance running (meter instance, per flavor), its root disk (disk), a\n"
    "stored image (image).  An open record (END '-') is still counting.\n"
    "\n" BILLING_PERIOD_HELP "  --resource ID     one resource's records\n"
    "  --meter M         instance, disk, image, volume or floating_ip\n"
    "  --limit N         the first N only\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col usage_cols[] = {
    {"ID", "id", CLOUD_STR},
    {"RESOURCE", "resource_name", CLOUD_STR},
    {"TYPE", "resource_type", CLOUD_STR},
    {"METER", "meter", CLOUD_STR},
    {"FLAVOR", "flavor", CLOUD_NAME},
    {"SIZE", "size_text", CLOUD_STR},
    {"START", "start", CLOUD_STR},
    {"END", "end", CLOUD_STR},
    {"DURATION", "duration_text", CLOUD_STR},
};

int cmd_usage(struct cli *cli, int argc, char **argv)
{
    enum { OPT_RESOURCE = CLI_OPT_FIRST_FREE, OPT_METER, OPT_LIMIT };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        BILLING_PERIOD_OPTIONS,
        {"resource", required_argument, NULL, OPT_RESOURCE},
        {"meter", required_argument, NULL, OPT_METER},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {NULL, 0, NULL, 0},
    };
    struct billing_period_opts po = {0};
    const char *resource = NULL, *meter = NULL;
    char path[CLOUD_PATH_MAX] = "/v1/usage";
    long long limit = 0;
    struct nubo_err err;
    json_t *list = NULL;
    bool taken;
    int c, rc;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(usage_usage, stdout);
            return CLI_EXIT_OK;
        }
        if ((rc = billing_opt_period(cli, c, optarg, &po, &taken)) != 0)
            return rc;
        if (taken)
            continue;
        if (c == OPT_RESOURCE || c == OPT_METER) {
            if (valid_name(optarg, c == OPT_METER ? "--meter" : "--resource", &err) < 0)
                return cli_usage_error(cli, "%s", err.msg);
            *(c == OPT_METER ? &meter : &resource) = optarg;
        } else if (c == OPT_LIMIT) {
            if ((rc = cloud_limit_parse(cli, optarg, &limit)) != 0)
                return rc;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    if ((rc = cli_args_check(cli, argc - optind, 0, 0, "no arguments")) != 0 ||
        (rc = billing_period_query(cli, &po, true, path, sizeof(path))) != 0)
        return rc;
    if ((resource && cloud_query_add(path, sizeof(path), "resource", resource, &err) < 0) ||
        (meter && cloud_query_add(path, sizeof(path), "meter", meter, &err) < 0))
        return cli_usage_error(cli, "%s", err.msg);
    if ((rc = cloud_connect(cli)) != 0)
        return rc;
    if (cloud_list(cli, path, "usage", limit, &list, &err) < 0)
        return cli_fail(cli, &err);
    if (!cli_print_json(cli, list)) {
        size_t i;
        json_t *u;
        json_array_foreach (json_object_get(list, "usage"), i, u) {
            char size[48], dur[32];
            snprintf(size, sizeof(size), "%lld %s", cli_json_int(u, "size"),
                     cli_json_str_or(u, "size_unit", ""));
            if (json_is_integer(json_object_get(u, "duration_ms")))
                output_duration(cli_json_int(u, "duration_ms") / 1000, dur, sizeof(dur));
            else
                snprintf(dur, sizeof(dur), "open");
            json_object_set_new(u, "size_text", json_string(size));
            json_object_set_new(u, "duration_text", json_string(dur));
        }
        cloud_table_print(json_object_get(list, "usage"), usage_cols, ARRAY_LEN(usage_cols),
                          "no usage in this period");
        if (!json_is_null(json_object_get(list, "next_marker")))
            fprintf(stderr, "nubo: the first %zu records are shown; there are more\n",
                    json_array_size(json_object_get(list, "usage")));
    }
    json_decref(list);
    return CLI_EXIT_OK;
}
