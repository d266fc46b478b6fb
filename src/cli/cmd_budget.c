/*
 * cmd_budget.c - `nubo budget ...`: a project's monthly budget.
 *
 *   show            GET /v1/budget: the budget, this month's spending
 *   set             PUT /v1/budget (admin)
 *   delete          DELETE /v1/budget (admin)
 *   notifications   GET /v1/budget/notifications: thresholds crossed
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/billing_opts.h"
#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/output.h"
#include "lib/util.h"
#include "lib/valid.h"

#define BUDGET_MAX 1000000000000000LL /* micro-units */
#define THRESHOLDS_MAX 10

static const char budget_usage[] =
    "usage: nubo budget COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  show                          the budget and this month's spending\n"
    "  set --amount A [--currency C] [--thresholds 80,100] [--block | --no-block]\n"
    "                                set the monthly budget (admin)\n"
    "  delete                        remove the budget (admin)\n"
    "  notifications [--limit N]     thresholds the spending crossed, and when\n"
    "\n"
    "Every command takes --project P (cloud admins: another project than the\n"
    "token's).  A budget is per calendar month (UTC); with --block, creating\n"
    "instances is refused once the month's cost reaches it.\n"
    "\n" CLOUD_COMMON_HELP;

static const char show_usage[] = "usage: nubo budget show [--project P]\n"
                                 "\n"
                                 "Shows the project's budget, what it spent this month, the\n"
                                 "forecast to the month's end, and whether new instances are\n"
                                 "blocked.\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char set_usage[] =
    "usage: nubo budget set --amount A [--currency C] [--thresholds LIST] [--block | "
    "--no-block]\n"
    "                       [--project P]\n"
    "\n"
    "Sets the monthly budget of a project (cloud admins only), replacing the one it\n"
    "had.\n"
    "\n"
    "  --amount A        per month, like 500 or 499.99 (up to 6 decimals)\n"
    "  --currency C      the price catalog's (default)\n"
    "  --thresholds L    percentages that record a notification, like 50,80,100\n"
    "                    (default 80,100)\n"
    "  --block           refuse new instances once the month's cost reaches A\n"
    "  --no-block        only notify (the default)\n"
    "  --project P       the project (default: the token's)\n"
    "\n" CLOUD_COMMON_HELP;

static const char delete_usage[] = "usage: nubo budget delete [--project P]\n"
                                   "\n"
                                   "Removes the budget of a project (cloud admins only).\n"
                                   "\n" CLOUD_COMMON_HELP;

static const char notifications_usage[] =
    "usage: nubo budget notifications [--project P] [--limit N]\n"
    "\n"
    "Lists the thresholds the project's spending crossed, oldest first: one per\n"
    "threshold and month, with the moment it was crossed.\n"
    "\n" CLOUD_COMMON_HELP;

/* Parses the options common to the budget commands (--project, and for
 * notifications --limit). */
static int budget_options(struct cli *cli, int argc, char **argv, const char *usage,
                          const char **project, long long *limit)
{
    enum { OPT_PROJECT = CLI_OPT_FIRST_FREE, OPT_LIMIT };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"project", required_argument, NULL, OPT_PROJECT},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {NULL, 0, NULL, 0},
    };
    struct nubo_err err;
    int c, rc;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return CLI_HELP_SHOWN;
        } else if (c == OPT_PROJECT) {
            if (valid_name(optarg, "--project", &err) < 0)
                return cli_usage_error(cli, "%s", err.msg);
            *project = optarg;
        } else if (c == OPT_LIMIT && limit) {
            if ((rc = cloud_limit_parse(cli, optarg, limit)) != 0)
                return rc;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    return cli_args_check(cli, argc - optind, 0, 0, "no arguments");
}

/* path + ?project=P when given. */
static int project_path(const struct cli *cli, const char *base, const char *project, char *path,
                        size_t n)
{
    struct nubo_err err;
    snprintf(path, n, "%s", base);
    if (project && cloud_query_add(path, n, "project", project, &err) < 0)
        return cli_usage_error(cli, "%s", err.msg);
    return 0;
}

static void budget_print(const struct cli *cli, const json_t *b)
{
    char buf[160], t[32];
    if (cli_print_json(cli, b))
        return;
    const char *cur = cli_json_str(b, "currency");
    const json_t *bud = json_object_get(b, "budget");
    output_text(cli_json_str(json_object_get(b, "project"), "name"), 0, buf, sizeof(buf));
    output_kv(stdout, "project", buf);
    const json_t *p = json_object_get(b, "period");
    snprintf(buf, sizeof(buf), "%s .. %s", cli_json_str_or(p, "start", "?"),
             cli_json_str_or(p, "end", "?"));
    output_kv(stdout, "month", buf);
    billing_money_text(cli_json_int(b, "spent_micros"), t);
    snprintf(buf, sizeof(buf), "%s %s", t, cur ? cur : "");
    output_kv(stdout, "spent", buf);
    billing_money_text(cli_json_int(b, "forecast_micros"), t);
    snprintf(buf, sizeof(buf), "%s %s", t, cur ? cur : "");
    output_kv(stdout, "forecast", buf);
    if (!json_is_object(bud)) {
        output_kv(stdout, "budget", "none");
        return;
    }
    billing_money_text(cli_json_int(bud, "amount_micros"), t);
    snprintf(buf, sizeof(buf), "%s %s", t, cli_json_str_or(bud, "currency", ""));
    output_kv(stdout, "budget", buf);
    size_t i, off = 0;
    json_t *v;
    buf[0] = '\0';
    json_array_foreach (json_object_get(bud, "thresholds"), i, v) {
        int w = snprintf(buf + off, sizeof(buf) - off, "%s%lld%%", i ? ", " : "",
                         (long long)json_integer_value(v));
        if (w < 0 || (size_t)w >= sizeof(buf) - off)
            break;
        off += (size_t)w;
    }
    output_kv(stdout, "thresholds", buf);
    output_kv(stdout, "blocks creates",
              json_is_true(json_object_get(bud, "block_new_instances")) ? "yes" : "no");
    output_kv(stdout, "exceeded", json_is_true(json_object_get(b, "exceeded")) ? "yes" : "no");
    output_kv(stdout, "blocking", json_is_true(json_object_get(b, "blocking")) ? "yes" : "no");
}

static int budget_show(struct cli *cli, int argc, char **argv)
{
    const char *project = NULL;
    char path[CLOUD_PATH_MAX];
    struct nubo_err err;
    json_t *b = NULL;
    int rc = budget_options(cli, argc, argv, show_usage, &project, NULL);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = project_path(cli, "/v1/budget", project, path, sizeof(path))) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    if (cli_call(cli, "GET", path, NULL, &b, &err) < 0)
        return cli_fail(cli, &err);
    budget_print(cli, b);
    json_decref(b);
    return CLI_EXIT_OK;
}

/* Parses "80,100" into a JSON array (new reference), or NULL after a usage
 * error. */
static json_t *thresholds_parse(const struct cli *cli, const char *s)
{
    json_t *a = json_array();
    const char *p = s;
    while (*p) {
        size_t len = strcspn(p, ",");
        char word[8];
        long long v;
        struct nubo_err err;
        if (len == 0 || len >= sizeof(word) || json_array_size(a) >= THRESHOLDS_MAX)
            goto bad;
        memcpy(word, p, len);
        word[len] = '\0';
        if (valid_int(word, 1, 1000, "a threshold", &v, &err) < 0)
            goto bad;
        json_array_append_new(a, json_integer(v));
        p += len;
        if (*p == ',' && *++p == '\0')
            goto bad;
    }
    if (json_array_size(a) > 0)
        return a;
bad:
    json_decref(a);
    cli_usage_error(cli, "--thresholds wants 1 to 10 percentages from 1 to 1000, like 80,100");
    return NULL;
}

static int budget_set(struct cli *cli, int argc, char **argv)
{
    enum {
        OPT_PROJECT = CLI_OPT_FIRST_FREE,
        OPT_AMOUNT,
        OPT_CURRENCY,
        OPT_THRESHOLDS,
        OPT_BLOCK,
        OPT_NO_BLOCK
    };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"project", required_argument, NULL, OPT_PROJECT},
        {"amount", required_argument, NULL, OPT_AMOUNT},
        {"currency", required_argument, NULL, OPT_CURRENCY},
        {"thresholds", required_argument, NULL, OPT_THRESHOLDS},
        {"block", no_argument, NULL, OPT_BLOCK},
        {"no-block", no_argument, NULL, OPT_NO_BLOCK},
        {NULL, 0, NULL, 0},
    };
    const char *project = NULL, *currency = NULL;
    long long amount = -1;
    bool block = false;
    char path[CLOUD_PATH_MAX];
    struct nubo_err err;
    json_t *thresholds = NULL, *body = NULL, *out = NULL;
    int c, rc = CLI_EXIT_USAGE;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(set_usage, stdout);
            rc = CLI_EXIT_OK;
            goto cleanup;
        } else if (c == OPT_PROJECT) {
            if (valid_name(optarg, "--project", &err) < 0) {
                rc = cli_usage_error(cli, "%s", err.msg);
                goto cleanup;
            }
            project = optarg;
        } else if (c == OPT_AMOUNT) {
            if ((rc = billing_opt_money(cli, optarg, BUDGET_MAX, "--amount", &amount)) != 0)
                goto cleanup;
        } else if (c == OPT_CURRENCY) {
            if (strlen(optarg) != 3 || strspn(optarg, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3) {
                rc = cli_usage_error(cli, "--currency wants an ISO 4217 code like EUR");
                goto cleanup;
            }
            currency = optarg;
        } else if (c == OPT_THRESHOLDS) {
            json_decref(thresholds);
            if ((thresholds = thresholds_parse(cli, optarg)) == NULL) {
                rc = CLI_EXIT_USAGE;
                goto cleanup;
            }
        } else if (c == OPT_BLOCK || c == OPT_NO_BLOCK) {
            block = c == OPT_BLOCK;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            goto cleanup;
        }
    }
    if ((rc = cli_args_check(cli, argc - optind, 0, 0, "no arguments")) != 0)
        goto cleanup;
    if (amount <= 0) {
        rc = cli_usage_error(cli, "--amount is required (more than 0)");
        goto cleanup;
    }
    if ((rc = project_path(cli, "/v1/budget", project, path, sizeof(path))) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        goto cleanup;
    body =
        json_pack("{s:I, s:b}", "amount_micros", (json_int_t)amount, "block_new_instances", block);
    if (currency)
        json_object_set_new(body, "currency", json_string(currency));
    if (thresholds)
        json_object_set(body, "thresholds", thresholds);
    if (cli_call(cli, "PUT", path, body, &out, &err) < 0) {
        rc = cli_fail(cli, &err);
        goto cleanup;
    }
    budget_print(cli, out);
    rc = CLI_EXIT_OK;
cleanup:
    json_decref(thresholds);
    json_decref(body);
    json_decref(out);
    return rc;
}

static int budget_delete(struct cli *cli, int argc, char **argv)
{
    const char *project = NULL;
    char path[CLOUD_PATH_MAX];
    struct nubo_err err;
    int rc = budget_options(cli, argc, argv, delete_usage, &project, NULL);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = project_path(cli, "/v1/budget", project, path, sizeof(path))) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    if (cli_call(cli, "DELETE", path, NULL, NULL, &err) < 0)
        return cli_fail(cli, &err);
    if (cli->output != OUTPUT_JSON)
        printf("budget removed\n");
    return CLI_EXIT_OK;
}

static int budget_notifications(struct cli *cli, int argc, char **argv)
{
    static const struct cloud_col cols[] = {
        {"MONTH", "month", CLOUD_STR},           {"THRESHOLD", "threshold_text", CLOUD_STR},
        {"SPENT", "spent_text", CLOUD_STR},      {"BUDGET", "budget_text", CLOUD_STR},
        {"CROSSED AT", "crossed_at", CLOUD_STR},
    };
    const char *project = NULL;
    long long limit = 0;
    char path[CLOUD_PATH_MAX];
    struct nubo_err err;
    json_t *list = NULL;
    int rc = budget_options(cli, argc, argv, notifications_usage, &project, &limit);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = project_path(cli, "/v1/budget/notifications", project, path, sizeof(path))) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    if (cloud_list(cli, path, "notifications", limit, &list, &err) < 0)
        return cli_fail(cli, &err);
    if (!cli_print_json(cli, list)) {
        size_t i;
        json_t *n;
        json_array_foreach (json_object_get(list, "notifications"), i, n) {
            char t[64], m[32];
            snprintf(m, sizeof(m), "%.7s",
                     cli_json_str_or(json_object_get(n, "period"), "start", "?"));
            json_object_set_new(n, "month", json_string(m));
            snprintf(t, sizeof(t), "%lld%%", cli_json_int(n, "threshold"));
            json_object_set_new(n, "threshold_text", json_string(t));
            billing_money_text(cli_json_int(n, "spent_micros"), m);
            snprintf(t, sizeof(t), "%s %s", m, cli_json_str_or(n, "currency", ""));
            json_object_set_new(n, "spent_text", json_string(t));
            billing_money_text(cli_json_int(n, "amount_micros"), m);
            snprintf(t, sizeof(t), "%s %s", m, cli_json_str_or(n, "currency", ""));
            json_object_set_new(n, "budget_text", json_string(t));
        }
        cloud_table_print(json_object_get(list, "notifications"), cols, ARRAY_LEN(cols),
                          "no threshold crossed");
    }
    json_decref(list);
    return CLI_EXIT_OK;
}

int cmd_budget(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"show", budget_show},
        {"set", budget_set},
        {"delete", budget_delete},
        {"notifications", budget_notifications},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), budget_usage);
}
