/*
 * cli.c - see cli.h.
 *
 * Agent connection settings, in order of precedence: --url or --socket
 * (both at once is a usage error), NUBO_HOSTD_URL, NUBO_HOSTD_SOCKET, then
 * /run/nubo/hostd.sock.  The token for --url comes from --token-file or
 * NUBO_TOKEN_FILE: its first line, at most 4 KiB.  (The controller's
 * settings are in cloud.c.)
 */
#include "cli/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/fsutil.h"
#include "lib/util.h"
#include "lib/valid.h"

#define TOKEN_FILE_MAX 4096

static volatile sig_atomic_t interrupted;
static const struct cli_walker *walker; /* set during a walk (cli_walk_set()) */

void cli_init(struct cli *cli)
{
    memset(cli, 0, sizeof(*cli));
    cli->output = OUTPUT_TABLE;
    str_copy(cli->cmd, sizeof(cli->cmd), "nubo");
}

void cli_enter(struct cli *cli, const char *word)
{
    size_t len = strlen(cli->cmd);
    snprintf(cli->cmd + len, sizeof(cli->cmd) - len, " %s", word);
}

void cli_close(struct cli *cli)
{
    client_free(cli->client);
    cli->client = NULL;
}

void cli_getopt_reset(void)
{
    optind = 0; /* 0, not 1: makes GNU getopt re-read the optstring's flags */
    opterr = 0; /* we print our own messages */
}

int cli_getopt(int argc, char **argv, const char *optstring, const struct option *longopts)
{
    if (walker) {
        walker->options(walker->ctx, optstring, longopts);
        return 'h';
    }
    return getopt_long(argc, argv, optstring, longopts, NULL);
}

void cli_walk_set(const struct cli_walker *w)
{
    walker = w;
}

bool cli_walking(void)
{
    return walker != NULL;
}

/* With -o json, errors go to stderr as one JSON object:
 * {"error": {"status": N, "code": "slug", "message": "..."}}; status is the
 * HTTP status (0 for usage errors, which never reached the API). */
static void cli_error_json(int status, const char *code, const char *msg)
{
    json_t *e =
        json_pack("{s:{s:i,s:s,s:s}}", "error", "status", status, "code", code, "message", msg);
    if (!e) {
        fprintf(stderr, "nubo: %s\n", msg);
        return;
    }
    char *s = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    if (s)
        fprintf(stderr, "%s\n", s);
    else
        fprintf(stderr, "nubo: %s\n", msg);
    free(s);
}

int cli_usage_error(const struct cli *cli, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (cli->output == OUTPUT_JSON) {
        cli_error_json(0, "usage", msg);
        return CLI_EXIT_USAGE;
    }
    fprintf(stderr, "%s: %s\nTry '%s --help'.\n", cli->cmd, msg, cli->cmd);
    return CLI_EXIT_USAGE;
}

int cli_option(struct cli *cli, int c, char **argv)
{
    /* getopt leaves the offending element just before optind. */
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    switch (c) {
    case 'o':
        if (output_format_parse(optarg, &cli->output) < 0)
            return cli_usage_error(cli, "unknown output format '%.40s' (use table or json)",
                                   optarg);
        return 0;
    case CLI_OPT_SOCKET:
        if (cli->url)
            return cli_usage_error(cli, "use either --socket or --url, not both");
        cli->socket_path = optarg;
        return 0;
    case CLI_OPT_URL:
        if (cli->socket_path)
            return cli_usage_error(cli, "use either --socket or --url, not both");
        cli->url = optarg;
        return 0;
    case CLI_OPT_TOKEN_FILE:
        cli->token_file = optarg;
        return 0;
    case CLI_OPT_CA_FILE:
        cli->ca_file = optarg;
        return 0;
    case ':':
        return cli_usage_error(cli, "option '%.60s' needs a value", arg);
    case '?':
        if (optopt != 0 && optopt < 256)
            return cli_usage_error(cli, "unknown option '-%c'", optopt);
        return cli_usage_error(cli, "unknown option '%.60s'", arg);
    default:
        return cli_usage_error(cli, "option '%.60s' is not valid here", arg);
    }
}

int cli_args_check(const struct cli *cli, int count, int min, int max, const char *what)
{
    if (count < min)
        return cli_usage_error(cli, "missing %s", what);
    if (max == 0 && count > 0)
        return cli_usage_error(cli, "takes no arguments");
    if (max >= 0 && count > max)
        return cli_usage_error(cli, "too many arguments (expected %s)", what);
    return 0;
}

int cli_ref_check(const struct cli *cli, const char *ref)
{
    struct nubo_err err;
    /* Names and UUIDs both pass valid_name(); anything else cannot name a
     * VM and must not reach the URL. */
    if (valid_name(ref, "a VM name or id", &err) < 0)
        return cli_usage_error(cli, "'%.70s': %s", ref, err.msg);
    return 0;
}

int cli_timeout_parse(const struct cli *cli, const char *s, int *out)
{
    struct nubo_err err;
    long long v;
    if (valid_int(s, 1, 86400, "--timeout", &v, &err) < 0)
        return cli_usage_error(cli, "%s (seconds)", err.msg);
    *out = (int)v;
    return 0;
}

bool cli_token_valid(const char *token)
{
    size_t n = strlen(token);
    if (n == 0 || n >= TOKEN_FILE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)token[i] < 0x21 || (unsigned char)token[i] > 0x7E)
            return false; /* a header value must be printable, without spaces */
    return true;
}

void cli_secret_free(char *s)
{
    if (s == NULL)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

char *cli_token_file_read(const struct cli *cli, const char *path)
{
    struct nubo_err err;
    char *buf = fs_read_file(path, TOKEN_FILE_MAX, NULL, &err);
    if (buf == NULL) {
        cli_usage_error(cli, "token file: %s", err.msg);
        return NULL;
    }
    buf[strcspn(buf, "\r\n")] = '\0';
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        buf[--n] = '\0';
    if (!cli_token_valid(buf)) {
        cli_secret_free(buf);
        cli_usage_error(cli,
                        "token file %s: the first line must hold the token (printable, no "
                        "spaces)",
                        path);
        return NULL;
    }
    return buf;
}

int cli_url_check(const struct cli *cli, const char *u, const char *what, char *out, size_t n)
{
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        return cli_usage_error(cli, "%s must look like http://ADDR:PORT (got '%.80s')", what, u);
    if (str_copy(out, n, u) < 0 || strpbrk(out, " \t\r\n?#") != NULL ||
        strstr(out, "://")[3] == '\0')
        return cli_usage_error(cli, "%s '%.80s' is not a plain http://ADDR:PORT", what, u);
    size_t len = strlen(out);
    while (len > 0 && out[len - 1] == '/')
        out[--len] = '\0';
    return 0;
}

int cli_connect(struct cli *cli)
{
    int rc = CLI_EXIT_USAGE;
    char *token = NULL;
    char url[CLI_URL_MAX];
    struct nubo_err err;
    const char *env_url = getenv("NUBO_HOSTD_URL");
    const char *env_socket = getenv("NUBO_HOSTD_SOCKET");
    const char *token_file = cli->token_file ? cli->token_file : getenv("NUBO_TOKEN_FILE");
    struct client_cfg cfg = {
        .cancel = &interrupted,
        .peer = "nubo-hostd",
        .unreachable_hint = "is nubo-hostd running? (scripts/up starts it)",
    };

    if (walker)
        goto cleanup; /* a walk never connects (see cli_walk_set()) */
    if (cli->url || (!cli->socket_path && env_url && *env_url)) {
        const char *u = cli->url ? cli->url : env_url;
        if (cli_url_check(cli, u, cli->url ? "--url" : "NUBO_HOSTD_URL", url, sizeof(url)) != 0)
            goto cleanup;
        if (token_file == NULL || *token_file == '\0') {
            cli_usage_error(cli, "--url needs --token-file FILE (nubo-hostd requires a bearer "
                                 "token on TCP)");
            goto cleanup;
        }
        if ((token = cli_token_file_read(cli, token_file)) == NULL)
            goto cleanup;
        cfg.base_url = url;
        cfg.token = token;
    } else {
        cfg.socket_path = cli->socket_path            ? cli->socket_path
                          : env_socket && *env_socket ? env_socket
                                                      : CLI_DEFAULT_SOCKET;
        if (strlen(cfg.socket_path) >= 108) { /* sizeof(sun_path) */
            cli_usage_error(cli, "socket path too long: %.80s...", cfg.socket_path);
            goto cleanup;
        }
    }
    cli->client = client_new(&cfg, &err);
    if (cli->client == NULL) {
        rc = cli_fail(cli, &err);
        goto cleanup;
    }
    rc = 0;
cleanup:
    cli_secret_free(token);
    return rc;
}

int cli_call(struct cli *cli, const char *method, const char *path, const json_t *body,
             json_t **out, struct nubo_err *err)
{
    return client_call(cli->client, method, path, body, out, err);
}

int cli_fail(const struct cli *cli, const struct nubo_err *err)
{
    if (interrupted) {
        if (cli->output == OUTPUT_JSON)
            cli_error_json(0, "interrupted", "interrupted");
        else
            fprintf(stderr, "nubo: interrupted\n");
        return CLI_EXIT_INTERRUPTED;
    }
    if (cli->output == OUTPUT_JSON) {
        bool down = cli->client && client_unreachable(cli->client);
        cli_error_json(down ? 0 : nubo_err_http_status(err->code),
                       down ? "unreachable" : nubo_err_slug(err->code), err->msg);
        return down ? CLI_EXIT_UNREACHABLE : CLI_EXIT_FAIL;
    }
    /* The message may quote the agent; keep it on one line. */
    char msg[sizeof(err->msg)];
    str_copy(msg, sizeof(msg), err->msg);
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7F)
            *p = ' ';
    if (cli->cloud && err->code == NUBO_E_UNAUTHORIZED) {
        fprintf(stderr,
                "nubo: your session expired or was revoked: nubo login\n"
                "nubo: (the controller said: %s)\n",
                msg);
        return CLI_EXIT_FAIL;
    }
    fprintf(stderr, "nubo: %s\n", msg);
    if (cli->client && client_unreachable(cli->client))
        return CLI_EXIT_UNREACHABLE;
    return CLI_EXIT_FAIL;
}

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

void cli_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a sleep should end at once. */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

bool cli_interrupted(void)
{
    return interrupted != 0;
}

const volatile sig_atomic_t *cli_cancel_flag(void)
{
    return &interrupted;
}

int cli_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (!interrupted && nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    return interrupted ? -1 : 0;
}

bool cli_print_json(const struct cli *cli, const json_t *v)
{
    if (cli->output != OUTPUT_JSON)
        return false;
    if (v)
        output_json(stdout, v);
    return true;
}

int cli_options_common(struct cli *cli, int argc, char **argv, const char *usage, bool stop_at_word)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
    int c;
    cli_getopt_reset();
    /* '+' stops at the first word: a group's subcommand has its own
     * options after it. */
    const char *optstring = stop_at_word ? "+" CLI_SHORT_OPTIONS : CLI_SHORT_OPTIONS;
    while ((c = cli_getopt(argc, argv, optstring, opts)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return CLI_HELP_SHOWN;
        }
        int r = cli_option(cli, c, argv);
        if (r != 0)
            return r;
    }
    return 0;
}

int cli_run_word(struct cli *cli, int argc, char **argv, const struct cli_command *cmds,
                 size_t ncmds)
{
    if (optind >= argc) {
        char names[256] = "";
        size_t len = 0;
        for (size_t i = 0; i < ncmds && len < sizeof(names); i++)
            len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "",
                                    cmds[i].name);
        return cli_usage_error(cli, "missing command (%s)", names);
    }
    const char *word = argv[optind];
    for (size_t i = 0; i < ncmds; i++) {
        if (strcmp(word, cmds[i].name) == 0) {
            cli_enter(cli, word);
            return cmds[i].run(cli, argc - optind, argv + optind);
        }
    }
    return cli_usage_error(cli, "unknown command '%.40s'", word);
}

int cli_dispatch(struct cli *cli, int argc, char **argv, const struct cli_command *cmds,
                 size_t ncmds, const char *usage)
{
    if (walker) {
        static const struct option opts[] = {CLI_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
        walker->options(walker->ctx, "+" CLI_SHORT_OPTIONS, opts);
        walker->group(walker->ctx, cli, cmds, ncmds, usage);
        return CLI_EXIT_OK;
    }
    int r = cli_options_common(cli, argc, argv, usage, true);
    if (r != 0)
        return r == CLI_HELP_SHOWN ? CLI_EXIT_OK : r;
    return cli_run_word(cli, argc, argv, cmds, ncmds);
}

const char *cli_json_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

const char *cli_json_str_or(const json_t *o, const char *key, const char *fallback)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : fallback;
}

long long cli_json_int(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}
