/*
 * billing_opts.h - what the billing commands of `nubo` share (usage,
 * invoice, price, budget): amounts of money as people type and read them,
 * and the options that choose a period and a project.
 *
 * The API counts money in integer micro-units of a currency
 * (docs/internals/billing.md); people write decimals.  An amount is parsed
 * exactly ("0.015" is 15000 micro-units, a seventh decimal is refused) and
 * printed exactly, with all six decimals, so nothing is ever rounded on
 * the way.
 */
#ifndef NUBO_CLI_BILLING_OPTS_H
#define NUBO_CLI_BILLING_OPTS_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/cli.h"

/* Parses a decimal amount ("12", "0.5", "1.000001") into micro-units in
 * [0, max].  Returns 0, or CLI_EXIT_USAGE after printing why (naming
 * `what`, "--price"). */
int billing_opt_money(const struct cli *cli, const char *s, long long max, const char *what,
                      long long *out);

/* micro-units as an exact decimal with six places: "1.234567". */
void billing_money_text(long long micros, char out[32]);

/* The period and project options of a report. */
struct billing_period_opts {
    const char *month;   /* --month YYYY-MM */
    const char *start;   /* --start TIME */
    const char *end;     /* --end TIME */
    const char *project; /* --project P */
};

/* The long options behind struct billing_period_opts, for getopt tables;
 * their values are BILLING_OPT_MONTH.. (above CLI_OPT_FIRST_FREE + 50, so
 * commands keep CLI_OPT_FIRST_FREE.. for their own). */
enum {
    BILLING_OPT_MONTH = CLI_OPT_FIRST_FREE + 50,
    BILLING_OPT_START,
    BILLING_OPT_END,
    BILLING_OPT_PROJECT,
};
/* clang-format off */
#define BILLING_PERIOD_OPTIONS                                          \
    {"month", required_argument, NULL, BILLING_OPT_MONTH},             \
    {"start", required_argument, NULL, BILLING_OPT_START},             \
    {"end", required_argument, NULL, BILLING_OPT_END},                 \
    {"project", required_argument, NULL, BILLING_OPT_PROJECT}
/* clang-format on */

/* Help lines for those options. */
#define BILLING_PERIOD_HELP                                                                        \
    "  --month YYYY-MM   a calendar month (UTC); default: the current one\n"                       \
    "  --start TIME      from TIME (2026-11-26T15:04:51Z, 2026-11-26 or 2026-11)\n"                \
    "  --end TIME        to TIME, excluded (default: the end of the start's month)\n"              \
    "  --project P       another project (cloud admins; default: the token's)\n"

/* Takes option c if it is one of BILLING_PERIOD_OPTIONS, checking its
 * value; *taken tells whether it was.  Returns 0, or CLI_EXIT_USAGE after
 * printing why the value is bad. */
int billing_opt_period(const struct cli *cli, int c, const char *value,
                       struct billing_period_opts *o, bool *taken);

/* Appends the chosen period and project to path (n bytes) as a query.
 * with_project: also ?project=.  Returns 0, or CLI_EXIT_USAGE after
 * printing why (--month with --start or --end). */
int billing_period_query(const struct cli *cli, const struct billing_period_opts *o,
                         bool with_project, char *path, size_t n);

#endif
