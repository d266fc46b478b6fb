/*
 * cli.h - what every `nubo` command shares: where the server is (the host
 * agent for `nubo agent ...`, the controller for the rest: see cloud.h),
 * the output format, exit codes, and how usage mistakes and failures are
 * reported.
 *
 * A command is a function `int cmd_x(struct cli *, int argc, char **argv)`
 * (see cmd.h) that returns the process exit status.  Exit statuses are the
 * CLI's contract with scripts, so commands return them directly instead of
 * the tree's usual 0 / -1: the helpers below turn a struct nubo_err into the
 * right status and message.  Everything below the commands (client.c,
 * watch.c, output.c) keeps the 0 / -1 + struct nubo_err convention.
 *
 * Options every command accepts (before or after the command words) are the
 * CLI_COMMON_OPTIONS; commands hand what they do not know to cli_option().
 */
#ifndef NUBO_CLI_CLI_H
#define NUBO_CLI_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>

#include "cli/client.h"
#include "cli/output.h"
#include "lib/err.h"

#define CLI_DEFAULT_SOCKET "/run/nubo/hostd.sock"
#define CLI_URL_MAX 512 /* the longest server URL accepted */

enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAIL = 1,        /* the request failed: API error, timeout */
    CLI_EXIT_USAGE = 2,       /* bad flags or arguments */
    CLI_EXIT_UNREACHABLE = 3, /* no answer from the server at all, or not logged in */
    CLI_EXIT_INTERRUPTED = 130,
};

/* getopt_long values of the common long options without a short form. */
enum {
    CLI_OPT_SOCKET = 1000,
    CLI_OPT_URL,
    CLI_OPT_TOKEN_FILE,
    CLI_OPT_CA_FILE,
    CLI_OPT_FIRST_FREE = 1100, /* commands number their own long options from here */
};

/* Entries for a command's struct option table; their short forms are in
 * CLI_SHORT_OPTIONS, which starts the command's optstring. */
/* clang-format off */
#define CLI_COMMON_OPTIONS                                          \
    {"socket", required_argument, NULL, CLI_OPT_SOCKET},            \
    {"url", required_argument, NULL, CLI_OPT_URL},                  \
    {"token-file", required_argument, NULL, CLI_OPT_TOKEN_FILE},    \
    {"ca-file", required_argument, NULL, CLI_OPT_CA_FILE},          \
    {"output", required_argument, NULL, 'o'},                       \
    {"help", no_argument, NULL, 'h'}
/* clang-format on */

/* Leading ':' makes getopt report a missing argument as ':' (not '?'). */
#define CLI_SHORT_OPTIONS ":ho:"

/* Help lines for the common options, for the end of every usage text. */
#define CLI_COMMON_HELP                                                                            \
    "Common options: -o, --output table|json; --socket PATH; --url http://ADDR:PORT\n"             \
    "with --token-file FILE; -h, --help (see 'nubo agent --help').\n"

struct cli_command;

/* What main() knows and the command groups do not: the top-level commands
 * and options, for `nubo completion` (cmd_completion.c). */
struct cli_root {
    const struct cli_command *cmds;
    size_t ncmds;
    const char *optstring;
    const struct option *opts;
    const char *usage;
};

struct cli {
    const struct cli_root *root; /* set by main() */
    const char *socket_path;     /* --socket, NULL when not given */
    const char *url;             /* --url, NULL when not given */
    const char *token_file;      /* --token-file, NULL when not given */
    const char *ca_file;         /* --ca-file, NULL when not given */
    enum output_format output;
    char cmd[64];          /* "nubo agent vm create": prefix of usage errors and help hints */
    struct client *client; /* set by cli_connect() or cloud_connect() */
    bool cloud;            /* the client talks to the controller (a 401 means "log in") */
};

/* A command word and the function that runs it; argv[0] is the word. */
struct cli_command {
    const char *name;
    int (*run)(struct cli *cli, int argc, char **argv);
};

/* Initializes cli: table output, no connection, cmd "nubo". */
void cli_init(struct cli *cli);

/* Appends a command word to cli->cmd ("nubo" -> "nubo vm"). */
void cli_enter(struct cli *cli, const char *word);

/* Frees the connection (if any).  cli itself belongs to the caller. */
void cli_close(struct cli *cli);

/* Resets getopt for parsing a new argument vector (a command's argv). */
void cli_getopt_reset(void);

/* getopt_long() for the commands: every command parses its options through
 * it (scripts/check-banned.sh refuses getopt_long elsewhere in src/cli), so
 * that a walk of the command tree (below) reads every option table.  Outside
 * a walk it is getopt_long() without a longindex. */
int cli_getopt(int argc, char **argv, const char *optstring, const struct option *longopts);

/* ------------------------------------------------- walking the commands */

/* A walk runs every command with no arguments while a walker is set:
 * cli_dispatch() hands the walker a group's options and subcommands
 * instead of running one, and cli_getopt() hands it a command's options
 * and then answers 'h', so the command prints its --help and returns
 * without doing anything else (cli_connect() and cloud_connect() refuse to
 * connect during a walk, for a command that would not stop there).  This is
 * how `nubo completion` builds the shell completions and the manual from
 * the tables the commands really parse with, so they cannot drift. */
struct cli_walker {
    /* A command's (or group's) options: optstring and longopts as given to
     * getopt_long().  May be called more than once for one command. */
    void (*options)(void *ctx, const char *optstring, const struct option *longopts);
    /* A group's subcommands and usage text (called by cli_dispatch()). */
    void (*group)(void *ctx, struct cli *cli, const struct cli_command *cmds, size_t ncmds,
                  const char *usage);
    void *ctx;
};

/* Starts a walk with walker w (the caller's, kept until the walk ends), or
 * ends it (NULL). */
void cli_walk_set(const struct cli_walker *w);

/* True during a walk. */
bool cli_walking(void);

/* What cli_options_common() returns after printing --help: the command is
 * done and exits 0. */
#define CLI_HELP_SHOWN (-1)

/* Parses the options of a command (or group) that takes only the common
 * ones; --help prints usage to stdout.  With stop_at_word, stops at the
 * first non-option (a group's subcommand); otherwise options and arguments
 * may mix.  Positional arguments start at argv[optind].  Returns 0 to go
 * on, CLI_HELP_SHOWN, or CLI_EXIT_USAGE after a usage error. */
int cli_options_common(struct cli *cli, int argc, char **argv, const char *usage,
                       bool stop_at_word);

/* Handles an option every command accepts (c as returned by getopt_long
 * with CLI_SHORT_OPTIONS and CLI_COMMON_OPTIONS) and getopt's complaints
 * ('?' unknown option, ':' missing argument); argv is the vector being
 * parsed.  Returns 0 when c was handled, or CLI_EXIT_USAGE after printing a
 * usage error (including for any c it does not know). */
int cli_option(struct cli *cli, int c, char **argv);

/* Prints "<cmd>: <message>" and a hint to see --help on stderr; returns
 * CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Checks the positional argument count of a command: between min and max
 * (max < 0: no limit).  Returns 0, or CLI_EXIT_USAGE after an error that
 * names `what` ("a VM name or id"). */
int cli_args_check(const struct cli *cli, int count, int min, int max, const char *what);

/* Checks that ref looks like a VM name or id before it goes into a URL.
 * Returns 0, or CLI_EXIT_USAGE after printing why. */
int cli_ref_check(const struct cli *cli, const char *ref);

/* Parses a --timeout value (whole seconds, 1 .. 86400).  Returns 0, or
 * CLI_EXIT_USAGE after printing why. */
int cli_timeout_parse(const struct cli *cli, const char *s, int *out);

/* Checks that u looks like http(s)://ADDR:PORT and copies it into out
 * without trailing slashes.  `what` names where it came from ("--url").
 * Returns 0, or CLI_EXIT_USAGE after printing why. */
int cli_url_check(const struct cli *cli, const char *u, const char *what, char *out, size_t n);

/* Reads a bearer token: the first line of the file at path, without
 * trailing blanks.  Returns it (malloc'd; the caller frees it with
 * cli_secret_free()), or NULL after a usage error. */
char *cli_token_file_read(const struct cli *cli, const char *path);

/* True when token can travel in an Authorization header: printable ASCII
 * without spaces, 1 to 4095 characters. */
bool cli_token_valid(const char *token);

/* Frees a secret string after wiping it (NULL is fine). */
void cli_secret_free(char *s);

/* Resolves where the agent is (flags, then NUBO_HOSTD_URL /
 * NUBO_HOSTD_SOCKET / NUBO_TOKEN_FILE, then the default socket), reads the
 * token file and creates cli->client.  Returns 0, or CLI_EXIT_USAGE after
 * printing what is wrong with the settings. */
int cli_connect(struct cli *cli);

/* One JSON request through cli->client (see client_call()): *out (if out is
 * not NULL) receives the decoded answer, owned by the caller. */
int cli_call(struct cli *cli, const char *method, const char *path, const json_t *body,
             json_t **out, struct nubo_err *err);

/* Reports a failed operation: "nubo: <message>" on stderr (for the
 * controller, a 401 says to log in again).  Returns CLI_EXIT_INTERRUPTED
 * after Ctrl-C, CLI_EXIT_UNREACHABLE when the server could not be reached
 * at all, CLI_EXIT_FAIL otherwise. */
int cli_fail(const struct cli *cli, const struct nubo_err *err);

/* Installs the SIGINT/SIGTERM handler that turns Ctrl-C into a clean exit:
 * requests in flight are abandoned and waits end, so memory is released. */
void cli_signals_install(void);

/* True once SIGINT or SIGTERM arrived. */
bool cli_interrupted(void);

/* The flag the signal handler sets, for struct client_cfg's cancel. */
const volatile sig_atomic_t *cli_cancel_flag(void);

/* Sleeps ms milliseconds.  Returns -1 (early) when interrupted, else 0. */
int cli_sleep_ms(int ms);

/* Runs the command named by argv[optind] (after option parsing) with the
 * arguments from there on, and adds its word to cli->cmd.  A missing or
 * unknown word is a usage error.  Returns the exit status. */
int cli_run_word(struct cli *cli, int argc, char **argv, const struct cli_command *cmds,
                 size_t ncmds);

/* Runs the subcommand of a command group (argv[0] is the group word):
 * parses the group's options (the common ones; --help prints usage),
 * then calls the command named by the next word with the rest.  Returns the
 * exit status. */
int cli_dispatch(struct cli *cli, int argc, char **argv, const struct cli_command *cmds,
                 size_t ncmds, const char *usage);

/* The string member key of object o, or NULL (o may be NULL). */
const char *cli_json_str(const json_t *o, const char *key);

/* The string member key of object o, or fallback when there is none. */
const char *cli_json_str_or(const json_t *o, const char *key, const char *fallback);

/* The integer member key of object o, or 0 (o may be NULL). */
long long cli_json_int(const json_t *o, const char *key);

/* Prints the API's JSON (pretty) when the output format is json.  Returns
 * true when it did, so a caller skips its table output. */
bool cli_print_json(const struct cli *cli, const json_t *v);

#endif
