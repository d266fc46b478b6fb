/*
 * cmd_invoice.c - `nubo invoice ...`: what a project costs.
 *
 *   show       GET /v1/invoice: line items, subtotals, total for a period
 *   list       GET /v1/invoices: monthly totals
 *   export     GET /v1/invoice?format=csv (or json): the document as it is,
 *              to stdout or a file
 *   cost       GET /v1/cost: this month so far and the forecast to its end
 *   showback   GET /v1/invoices/showback (admin): every project's costs
 *
 * Invoices are computed by nubod from the usage records and the prices;
 * asking again for a period that is over gives the same bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/billing_opts.h"
#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/output.h"
#include "lib/util.h"

static const char invoice_usage[] =
    "usage: nubo invoice COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  show [PERIOD]                 a project's invoice: line items and totals\n"
    "  list [--start T] [--end T]    monthly totals (default: the last 12 months)\n"
    "  export [PERIOD] [--format csv|json] [--file F]   the invoice as a document\n"
    "  cost                          this month's cost so far and its forecast\n"
    "  showback [PERIOD] [--format table|csv]           every project (admin)\n"
    "\n"
    "PERIOD: --month YYYY-MM, or --start TIME [--end TIME]; default: this month (UTC).\n"
    "--project P: another project's (cloud admins).  Amounts are exact decimals of\n"
    "the currency (six places: micro-units).\n"
    "\n" CLOUD_COMMON_HELP;

static const char show_usage[] =
    "usage: nubo invoice show [--month YYYY-MM | --start TIME [--end TIME]] [--project P]\n"
    "\n"
    "Shows the invoice of your project for a period (default: this month, so far):\n"
    "a line per resource, meter and price, the subtotals per kind of resource and\n"
    "the total.  'final' says whether the period is over (the invoice will not\n"
    "change any more).\n"
    "\n" BILLING_PERIOD_HELP "\n" CLOUD_COMMON_HELP;

static const char list_usage[] =
    "usage: nubo invoice list [--start TIME] [--end TIME] [--project P]\n"
    "\n"
    "Lists the monthly totals of your project, newest first (default: the last 12\n"
    "months).\n"
    "\n" BILLING_PERIOD_HELP "\n" CLOUD_COMMON_HELP;

static const char export_usage[] =
    "usage: nubo invoice export [PERIOD] [--project P] [--format csv|json] [--file F]\n"
    "\n"
    "Writes the invoice as CSV (RFC 4180, the default) or JSON, exactly as nubod\n"
    "makes it, to stdout or to the file F.\n"
    "\n" BILLING_PERIOD_HELP "  --format csv|json the document's format\n"
    "  --file F          write it to F instead of stdout\n"
    "\n" CLOUD_COMMON_HELP;

static const char cost_usage[] =
    "usage: nubo invoice cost [--project P]\n"
    "\n"
    "Shows what your project has cost this month so far and what it will cost at\n"
    "the month's end if what runs now keeps running.\n"
    "\n" CLOUD_COMMON_HELP;

static const char showback_usage[] =
    "usage: nubo invoice showback [PERIOD] [--format table|csv]\n"
    "\n"
    "Shows what every project cost in a period (cloud admins only), for an\n"
    "organisation that charges its teams internally.\n"
    "\n" BILLING_PERIOD_HELP "  --format F        table (default) or csv\n"
    "\n" CLOUD_COMMON_HELP;

/* Options of a report: the period, the project, and for some a format and
 * a file. */
struct report_opts {
    struct billing_period_opts po;
    const char *format;
    const char *file;
};

/* Parses the options of a report command; want_format / want_file allow
 * --format and --file.  Returns 0, CLI_HELP_SHOWN or a usage error. */
static int report_options(struct cli *cli, int argc, char **argv, const char *usage,
                          bool want_format, bool want_file, struct report_opts *o)
{
    enum { OPT_FORMAT = CLI_OPT_FIRST_FREE, OPT_FILE };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        BILLING_PERIOD_OPTIONS,
        {"format", required_argument, NULL, OPT_FORMAT},
        {"file", required_argument, NULL, OPT_FILE},
        {NULL, 0, NULL, 0},
    };
    int c, rc;
    bool taken;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return CLI_HELP_SHOWN;
        }
        if ((rc = billing_opt_period(cli, c, optarg, &o->po, &taken)) != 0)
            return rc;
        if (taken)
            continue;
        if (c == OPT_FORMAT && want_format) {
            o->format = optarg;
        } else if (c == OPT_FILE && want_file) {
            o->file = optarg;
        } else if (c == OPT_FORMAT || c == OPT_FILE) {
            return cli_usage_error(cli, "--%s does not go with this command",
                                   c == OPT_FORMAT ? "format" : "file");
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    return cli_args_check(cli, argc - optind, 0, 0, "no arguments");
}

/* "12.345678 EUR" into out. */
static void money(const json_t *o, const char *key, const char *currency, char *out, size_t n)
{
    char t[32];
    billing_money_text(cli_json_int(o, key), t);
    snprintf(out, n, "%s%s%s", t, currency ? " " : "", currency ? currency : "");
}

/* The period of a report as "START .. END". */
static void period_text(const json_t *o, char *out, size_t n)
{
    const json_t *p = json_object_get(o, "period");
    snprintf(out, n, "%s .. %s", cli_json_str_or(p, "start", "?"), cli_json_str_or(p, "end", "?"));
}

static void subtotals_print(const json_t *subtotals, const char *cur)
{
    size_t i;
    json_t *s;
    json_array_foreach (subtotals, i, s) {
        char key[64], amount[64];
        snprintf(key, sizeof(key), "%ss", cli_json_str_or(s, "resource_type", "?"));
        money(s, "amount_micros", cur, amount, sizeof(amount));
        output_kv(stdout, key, amount);
    }
}

static int invoice_show(struct cli *cli, int argc, char **argv)
{
    static const struct cloud_col line_cols[] = {
        {"RESOURCE", "resource_name", CLOUD_STR},
        {"TYPE", "resource_type", CLOUD_STR},
        {"METER", "meter", CLOUD_STR},
        {"FLAVOR", "flavor", CLOUD_NAME},
        {"FROM", "from", CLOUD_STR},
        {"TO", "to", CLOUD_STR},
        {"QUANTITY", "quantity_text", CLOUD_STR},
        {"UNIT PRICE", "price_text", CLOUD_STR},
        {"AMOUNT", "amount_text", CLOUD_STR},
    };
    struct report_opts o = {0};
    char path[CLOUD_PATH_MAX] = "/v1/invoice", buf[128];
    struct nubo_err err;
    json_t *inv = NULL;
    int rc = report_options(cli, argc, argv, show_usage, false, false, &o);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = billing_period_query(cli, &o.po, true, path, sizeof(path))) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    if (cli_call(cli, "GET", path, NULL, &inv, &err) < 0)
        return cli_fail(cli, &err);
    if (cli_print_json(cli, inv))
        goto done;
    const char *cur = cli_json_str(inv, "currency");
    size_t i;
    json_t *l;
    json_array_foreach (json_object_get(inv, "lines"), i, l) {
        char q[96], p[32];
        snprintf(q, sizeof(q), "%s %s", cli_json_str_or(l, "quantity", "?"),
                 cli_json_str_or(l, "unit", ""));
        json_object_set_new(l, "quantity_text", json_string(q));
        billing_money_text(cli_json_int(l, "unit_price_micros"), p);
        json_object_set_new(l, "price_text", json_string(p));
        billing_money_text(cli_json_int(l, "amount_micros"), p);
        json_object_set_new(l, "amount_text", json_string(p));
    }
    output_text(cli_json_str(json_object_get(inv, "project"), "name"), 0, buf, sizeof(buf));
    output_kv(stdout, "project", buf);
    period_text(inv, buf, sizeof(buf));
    output_kv(stdout, "period", buf);
    output_kv(stdout, "as of", cli_json_str_or(inv, "as_of", "-"));
    output_kv(stdout, "final", json_is_true(json_object_get(inv, "final")) ? "yes" : "no");
    output_kv(stdout, "currency", cur ? cur : "- (no prices)");
    fputc('\n', stdout);
    cloud_table_print(json_object_get(inv, "lines"), line_cols, ARRAY_LEN(line_cols),
                      "no usage in this period");
    fputc('\n', stdout);
    subtotals_print(json_object_get(inv, "subtotals"), cur);
    money(inv, "total_micros", cur, buf, sizeof(buf));
    output_kv(stdout, "total", buf);
done:
    json_decref(inv);
    return CLI_EXIT_OK;
}

static int invoice_list(struct cli *cli, int argc, char **argv)
{
    static const struct cloud_col cols[] = {
        {"MONTH", "month", CLOUD_STR},
        {"TOTAL", "total_text", CLOUD_STR},
        {"CURRENCY", "currency", CLOUD_STR},
        {"FINAL", "final", CLOUD_BOOL},
    };
    struct report_opts o = {0};
    char path[CLOUD_PATH_MAX] = "/v1/invoices";
    struct nubo_err err;
    json_t *out = NULL;
    int rc = report_options(cli, argc, argv, list_usage, false, false, &o);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = billing_period_query(cli, &o.po, true, path, sizeof(path))) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    if (cli_call(cli, "GET", path, NULL, &out, &err) < 0)
        return cli_fail(cli, &err);
    if (!cli_print_json(cli, out)) {
        size_t i;
        json_t *m;
        json_array_foreach (json_object_get(out, "invoices"), i, m) {
            char t[32], month[8];
            billing_money_text(cli_json_int(m, "total_micros"), t);
            snprintf(month, sizeof(month), "%.7s",
                     cli_json_str_or(json_object_get(m, "period"), "start", "?"));
            json_object_set_new(m, "total_text", json_string(t));
            json_object_set_new(m, "month", json_string(month));
        }
        cloud_table_print(json_object_get(out, "invoices"), cols, ARRAY_LEN(cols), "no months");
    }
    json_decref(out);
    return CLI_EXIT_OK;
}

/* Writes len bytes of data to the file at path (created or replaced)
 * or to stdout when path is NULL. */
static int write_out(const char *path, const char *data, size_t len, struct nubo_err *err)
{
    FILE *f = path ? fopen(path, "wbe") : stdout;
    if (f == NULL)
        return nubo_err_set(err, NUBO_E_INVALID, "cannot write %s", path);
    int bad = fwrite(data, 1, len, f) != len;
    bad |= path ? fclose(f) != 0 : fflush(f) != 0;
    if (bad)
        return nubo_err_set(err, NUBO_E_INTERNAL, "cannot write %s", path ? path : "stdout");
    return 0;
}

/* GETs path and writes its body as it is (to file, or stdout). */
static int raw_get(struct cli *cli, const char *path, const char *file)
{
    struct client_resp resp = {0};
    struct nubo_err err;
    int rc = CLI_EXIT_OK;
    if (client_request(cli->client, "GET", path, NULL, &resp, &err) < 0)
        return cli_fail(cli, &err);
    if (resp.status != 200) {
        client_resp_error(cli->client, &resp, &err);
        rc = cli_fail(cli, &err);
    } else if (write_out(file, resp.body, resp.len, &err) < 0) {
        rc = cli_fail(cli, &err);
    }
    client_resp_clear(&resp);
    return rc;
}

static int invoice_export(struct cli *cli, int argc, char **argv)
{
    struct report_opts o = {0};
    char path[CLOUD_PATH_MAX] = "/v1/invoice";
    struct nubo_err err;
    int rc = report_options(cli, argc, argv, export_usage, true, true, &o);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    const char *format = o.format ? o.format : "csv";
    if (strcmp(format, "csv") != 0 && strcmp(format, "json") != 0)
        return cli_usage_error(cli, "--format is csv or json");
    if ((rc = billing_period_query(cli, &o.po, true, path, sizeof(path))) != 0)
        return rc;
    if (cloud_query_add(path, sizeof(path), "format", format, &err) < 0)
        return cli_usage_error(cli, "%s", err.msg);
    if ((rc = cloud_connect(cli)) != 0)
        return rc;
    return raw_get(cli, path, o.file);
}

static int invoice_cost(struct cli *cli, int argc, char **argv)
{
    struct report_opts o = {0};
    char path[CLOUD_PATH_MAX] = "/v1/cost", buf[128];
    struct nubo_err err;
    json_t *out = NULL;
    int rc = report_options(cli, argc, argv, cost_usage, false, false, &o);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if (o.po.month || o.po.start || o.po.end)
        return cli_usage_error(cli, "the cost is this month's: no period options");
    if ((rc = billing_period_query(cli, &o.po, true, path, sizeof(path))) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    if (cli_call(cli, "GET", path, NULL, &out, &err) < 0)
        return cli_fail(cli, &err);
    if (!cli_print_json(cli, out)) {
        const char *cur = cli_json_str(out, "currency");
        output_text(cli_json_str(json_object_get(out, "project"), "name"), 0, buf, sizeof(buf));
        output_kv(stdout, "project", buf);
        period_text(out, buf, sizeof(buf));
        output_kv(stdout, "month", buf);
        output_kv(stdout, "as of", cli_json_str_or(out, "as_of", "-"));
        money(out, "cost_micros", cur, buf, sizeof(buf));
        output_kv(stdout, "cost so far", buf);
        money(out, "forecast_micros", cur, buf, sizeof(buf));
        output_kv(stdout, "forecast", buf);
    }
    json_decref(out);
    return CLI_EXIT_OK;
}

static int invoice_showback(struct cli *cli, int argc, char **argv)
{
    static const struct cloud_col cols[] = {
        {"PROJECT", "project.name", CLOUD_STR}, {"ID", "project.id", CLOUD_STR},
        {"INSTANCES", "t_instance", CLOUD_STR}, {"VOLUMES", "t_volume", CLOUD_STR},
        {"IMAGES", "t_image", CLOUD_STR},       {"FLOATING IPS", "t_floating_ip", CLOUD_STR},
        {"TOTAL", "total_text", CLOUD_STR},
    };
    static const char *const types[] = {"instance", "volume", "image", "floating_ip"};
    struct report_opts o = {0};
    char path[CLOUD_PATH_MAX] = "/v1/invoices/showback", buf[128];
    struct nubo_err err;
    json_t *out = NULL;
    int rc = report_options(cli, argc, argv, showback_usage, true, false, &o);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    bool csv = o.format && strcmp(o.format, "csv") == 0;
    if (o.format && !csv && strcmp(o.format, "table") != 0)
        return cli_usage_error(cli, "--format is table or csv");
    if (o.po.project)
        return cli_usage_error(cli, "showback is about every project: no --project");
    if ((rc = billing_period_query(cli, &o.po, false, path, sizeof(path))) != 0)
        return rc;
    if (csv && cloud_query_add(path, sizeof(path), "format", "csv", &err) < 0)
        return cli_usage_error(cli, "%s", err.msg);
    if ((rc = cloud_connect(cli)) != 0)
        return rc;
    if (csv)
        return raw_get(cli, path, NULL);
    if (cli_call(cli, "GET", path, NULL, &out, &err) < 0)
        return cli_fail(cli, &err);
    if (!cli_print_json(cli, out)) {
        const char *cur = cli_json_str(out, "currency");
        size_t i, j;
        json_t *p, *s;
        json_array_foreach (json_object_get(out, "projects"), i, p) {
            for (size_t t = 0; t < ARRAY_LEN(types); t++) {
                char key[32], amount[32] = "0.000000";
                snprintf(key, sizeof(key), "t_%s", types[t]);
                json_array_foreach (json_object_get(p, "subtotals"), j, s) {
                    if (strcmp(cli_json_str_or(s, "resource_type", ""), types[t]) == 0)
                        billing_money_text(cli_json_int(s, "amount_micros"), amount);
                }
                json_object_set_new(p, key, json_string(amount));
            }
            char t[32];
            billing_money_text(cli_json_int(p, "total_micros"), t);
            json_object_set_new(p, "total_text", json_string(t));
        }
        period_text(out, buf, sizeof(buf));
        output_kv(stdout, "period", buf);
        output_kv(stdout, "final", json_is_true(json_object_get(out, "final")) ? "yes" : "no");
        output_kv(stdout, "currency", cur ? cur : "- (no prices)");
        fputc('\n', stdout);
        cloud_table_print(json_object_get(out, "projects"), cols, ARRAY_LEN(cols),
                          "no project used anything in this period");
        fputc('\n', stdout);
        money(out, "total_micros", cur, buf, sizeof(buf));
        output_kv(stdout, "total", buf);
    }
    json_decref(out);
    return CLI_EXIT_OK;
}

int cmd_invoice(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"show", invoice_show}, {"list", invoice_list},         {"export", invoice_export},
        {"cost", invoice_cost}, {"showback", invoice_showback},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), invoice_usage);
}
