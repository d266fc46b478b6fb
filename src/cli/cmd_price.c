/*
 * cmd_price.c - `nubo price ...`: the price catalog.
 *
 *   list   GET /v1/prices (?meter=)
 *   set    POST /v1/prices (admin): a new price from now or from a time to
 *          come; earlier prices keep the past
 */
#include <stdio.h>
#include <string.h>

#include "cli/billing_opts.h"
#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/output.h"
#include "lib/util.h"
#include "lib/valid.h"

#define PRICE_MAX 1000000000000LL /* micro-units: a million per unit */

static const char price_usage[] =
    "usage: nubo price COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  list [--meter M]              the price catalog\n"
    "  set METER [--flavor F] --price AMOUNT [--currency C] [--from TIME]   (admin)\n"
    "\n"
    "METER is instance (running time, per flavor and hour), disk (an instance's\n"
    "root disk, per GiB-month), image (stored images, per GiB-month), volume (per\n"
    "GiB-month) or floating_ip (per hour).  A GiB-month is 730 hours.\n"
    "\n" CLOUD_COMMON_HELP;

static const char list_usage[] = "usage: nubo price list [--meter M] [--limit N]\n"
                                 "\n"
                                 "Lists the prices, oldest first; each holds from FROM until\n"
                                 "the next price of its meter (and flavor).\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char set_usage[] =
    "usage: nubo price set METER [--flavor F] --price AMOUNT [--currency C] [--from TIME]\n"
    "\n"
    "Adds a price (cloud admins only), from now or from a TIME to come: what was\n"
    "used before keeps the price it had.\n"
    "\n"
    "  --flavor F       the flavor (meter instance only, required there)\n"
    "  --price AMOUNT   per hour or per GiB-month, like 0.012 (up to 6 decimals)\n"
    "  --currency C     an ISO 4217 code like EUR; default: the catalog's\n"
    "  --from TIME      2026-12-01 or 2026-12-01T08:00:00Z (default: now)\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col price_cols[] = {
    {"METER", "meter", CLOUD_STR},
    {"FLAVOR", "flavor", CLOUD_NAME},
    {"PRICE", "price_text", CLOUD_STR},
    {"CURRENCY", "currency", CLOUD_STR},
    {"PER", "unit", CLOUD_STR},
    {"FROM", "effective_from", CLOUD_STR},
    {"UNTIL", "effective_until", CLOUD_STR},
};

/* Adds a decimal "price_text" to every price of the list. */
static void price_texts(json_t *prices)
{
    size_t i;
    json_t *p;
    json_array_foreach (prices, i, p) {
        char t[32];
        billing_money_text(cli_json_int(p, "unit_price_micros"), t);
        json_object_set_new(p, "price_text", json_string(t));
    }
}

static int price_list(struct cli *cli, int argc, char **argv)
{
    enum { OPT_METER = CLI_OPT_FIRST_FREE, OPT_LIMIT };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"meter", required_argument, NULL, OPT_METER},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {NULL, 0, NULL, 0},
    };
    char path[CLOUD_PATH_MAX] = "/v1/prices";
    long long limit = 0;
    struct nubo_err err;
    json_t *list = NULL;
    int c, rc;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(list_usage, stdout);
            return CLI_EXIT_OK;
        } else if (c == OPT_METER) {
            if (valid_name(optarg, "--meter", &err) < 0)
                return cli_usage_error(cli, "%s", err.msg);
            cloud_query_add(path, sizeof(path), "meter", optarg, &err);
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
    if (cloud_list(cli, path, "prices", limit, &list, &err) < 0)
        return cli_fail(cli, &err);
    if (!cli_print_json(cli, list)) {
        price_texts(json_object_get(list, "prices"));
        cloud_table_print(json_object_get(list, "prices"), price_cols, ARRAY_LEN(price_cols),
                          "no prices (an admin sets them: nubo price set)");
    }
    json_decref(list);
    return CLI_EXIT_OK;
}

/* The catalog's currency (that of its newest price) into cur, or "". */
static int catalog_currency(struct cli *cli, char cur[4], struct nubo_err *err)
{
    json_t *list = NULL;
    cur[0] = '\0';
    if (cloud_list(cli, "/v1/prices", "prices", 0, &list, err) < 0)
        return -1;
    json_t *prices = json_object_get(list, "prices");
    size_t n = json_array_size(prices);
    if (n > 0)
        str_copy(cur, 4, cli_json_str_or(json_array_get(prices, n - 1), "currency", ""));
    json_decref(list);
    return 0;
}

static int price_set(struct cli *cli, int argc, char **argv)
{
    enum { OPT_FLAVOR = CLI_OPT_FIRST_FREE, OPT_PRICE, OPT_CURRENCY, OPT_FROM };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"flavor", required_argument, NULL, OPT_FLAVOR},
        {"price", required_argument, NULL, OPT_PRICE},
        {"currency", required_argument, NULL, OPT_CURRENCY},
        {"from", required_argument, NULL, OPT_FROM},
        {NULL, 0, NULL, 0},
    };
    const char *flavor = NULL, *from = NULL;
    char currency[4] = "";
    long long micros = -1;
    struct nubo_err err;
    json_t *body = NULL, *out = NULL;
    int c, rc;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(set_usage, stdout);
            return CLI_EXIT_OK;
        } else if (c == OPT_FLAVOR) {
            if (valid_name(optarg, "--flavor", &err) < 0)
                return cli_usage_error(cli, "%s", err.msg);
            flavor = optarg;
        } else if (c == OPT_PRICE) {
            if ((rc = billing_opt_money(cli, optarg, PRICE_MAX, "--price", &micros)) != 0)
                return rc;
        } else if (c == OPT_CURRENCY) {
            if (strlen(optarg) != 3 || strspn(optarg, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3)
                return cli_usage_error(cli, "--currency wants an ISO 4217 code like EUR");
            str_copy(currency, sizeof(currency), optarg);
        } else if (c == OPT_FROM) {
            if (strlen(optarg) > 30 || strspn(optarg, "0123456789-:.TZ") != strlen(optarg))
                return cli_usage_error(cli, "--from wants a time like 2026-12-01T08:00:00Z");
            from = optarg;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "the meter")) != 0)
        return rc;
    if (valid_name(argv[optind], "METER", &err) < 0)
        return cli_usage_error(cli, "%s", err.msg);
    if (micros < 0)
        return cli_usage_error(cli, "--price is required");
    if ((rc = cloud_connect(cli)) != 0)
        return rc;
    if (currency[0] == '\0') {
        if (catalog_currency(cli, currency, &err) < 0)
            return cli_fail(cli, &err);
        if (currency[0] == '\0')
            return cli_usage_error(cli, "--currency is required for the first price");
    }
    body = json_pack("{s:s, s:I, s:s}", "meter", argv[optind], "unit_price_micros",
                     (json_int_t)micros, "currency", currency);
    if (flavor)
        json_object_set_new(body, "flavor", json_string(flavor));
    if (from)
        json_object_set_new(body, "effective_from", json_string(from));
    if (cli_call(cli, "POST", "/v1/prices", body, &out, &err) < 0) {
        rc = cli_fail(cli, &err);
    } else if (!cli_print_json(cli, out)) {
        char t[32], meter[64], fl[80];
        billing_money_text(cli_json_int(out, "unit_price_micros"), t);
        output_text(cli_json_str_or(out, "meter", ""), 0, meter, sizeof(meter));
        output_text(cli_json_str(json_object_get(out, "flavor"), "name"), 0, fl, sizeof(fl));
        printf("price of %s%s%s: %s %s per %s from %s\n", meter, flavor ? ", flavor " : "",
               flavor ? fl : "", t, cli_json_str_or(out, "currency", ""),
               cli_json_str_or(out, "unit", ""), cli_json_str_or(out, "effective_from", ""));
    }
    json_decref(body);
    json_decref(out);
    return rc;
}

int cmd_price(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", price_list},
        {"set", price_set},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), price_usage);
}
