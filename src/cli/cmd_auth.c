/*
 * cmd_auth.c - `nubo login`, `nubo logout`, `nubo whoami`: the session with
 * a controller.
 *
 *   login    POST /v1/auth/tokens, then the token is saved (config.h)
 *   logout   DELETE /v1/auth/tokens/current, then the token is forgotten
 *   whoami   GET /v1/auth/whoami
 *
 * A password comes from --password-file, else NUBO_PASSWORD, else the
 * terminal (without echo); it never appears on a command line, where other
 * users could read it in /proc.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/config.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "lib/util.h"
#include "lib/valid.h"

static const char login_usage[] =
    "usage: nubo login [URL] --user NAME [--password-file FILE] [--project PROJECT]\n"
    "\n"
    "Logs in to the controller at URL and keeps the token in\n"
    "$XDG_CONFIG_HOME/nubo/config.json (~/.config/nubo/config.json), readable by you\n"
    "only; the other commands use it.  The token is valid for 12 hours and scoped to\n"
    "one project: what you create goes there, what you list comes from there.\n"
    "\n"
    "  URL                    http://ADDR:PORT of nubod (default: --url, NUBO_URL,\n"
    "                         the previous login's, else " CLOUD_DEFAULT_URL ")\n"
    "  --user NAME            who you are (default: the previous login's user)\n"
    "  --password-file FILE   the password is the first line of FILE; else it comes\n"
    "                         from env NUBO_PASSWORD, else it is asked on the terminal\n"
    "  --project PROJECT      the project to work in (default: the controller's\n"
    "                         choice among yours); log in again to switch\n"
    "\n"
    "Fails with exit status 1 on a wrong user name or password, 3 when the\n"
    "controller cannot be reached.\n"
    "\n" CLOUD_COMMON_HELP;

static const char logout_usage[] =
    "usage: nubo logout\n"
    "\n"
    "Revokes the token of the saved login on the controller and forgets it (the\n"
    "controller's URL and your user name are kept for the next 'nubo login').  With\n"
    "--token-file or NUBO_TOKEN, revokes that token instead.  When the controller\n"
    "cannot be reached the token is forgotten all the same, but stays valid until it\n"
    "expires (exit status 3).\n"
    "\n" CLOUD_COMMON_HELP;

static const char whoami_usage[] = "usage: nubo whoami [-o table|json]\n"
                                   "\n"
                                   "Shows whom the token belongs to: the user, the project it is "
                                   "scoped to,\n"
                                   "the role there, and whether the user is a cloud admin.\n"
                                   "\n" CLOUD_COMMON_HELP;

/* ----------------------------------------------------------------- login */

/* Revokes a token that a new login replaces, so it does not linger; its
 * failure does not matter (it may have expired). */
static void token_revoke_quietly(const char *url, const char *token, const char *ca_file)
{
    struct nubo_err err;
    struct client_cfg cfg = {.base_url = url,
                             .token = token,
                             .ca_file = ca_file,
                             .peer = "nubod",
                             .cancel = cli_cancel_flag()};
    struct client *c = client_new(&cfg, &err);
    if (c == NULL)
        return;
    client_call(c, "DELETE", "/v1/auth/tokens/current", NULL, NULL, &err);
    client_free(c);
}

/* Saves the login answered by the controller. */
static int login_save(struct config *cfg, const char *url, const json_t *answer,
                      struct nubo_err *err)
{
    const char *token = cli_json_str(answer, "token");
    if (token == NULL || !cli_token_valid(token))
        return nubo_err_set(err, NUBO_E_INTERNAL, "nubod answered the login without a token");
    config_set(&cfg->url, url);
    config_set(&cfg->token, NULL);
    cfg->token = xstrdup(token);
    config_set(&cfg->token_id, cli_json_str(answer, "token_id"));
    config_set(&cfg->user, cli_json_str(json_object_get(answer, "user"), "name"));
    config_set(&cfg->project, cli_json_str(json_object_get(answer, "project"), "name"));
    config_set(&cfg->expires_at, cli_json_str(answer, "expires_at"));
    return config_save(cfg, err);
}

/* Which controller to log in to, by precedence: the URL argument, --url,
 * NUBO_URL, the saved login's, the default.  Checked and copied into url.
 * Returns 0 or a usage error. */
static int login_url(struct cli *cli, int argc, char **argv, const struct config *cfg, char *url,
                     size_t n)
{
    const char *env_url = getenv("NUBO_URL");
    if (optind < argc)
        return cli_url_check(cli, argv[optind], "URL", url, n);
    if (cli->url)
        return cli_url_check(cli, cli->url, "--url", url, n);
    if (env_url && *env_url)
        return cli_url_check(cli, env_url, "NUBO_URL", url, n);
    if (cfg->url)
        return cli_url_check(cli, cfg->url, "the url of the saved login", url, n);
    return cli_url_check(cli, CLOUD_DEFAULT_URL, "URL", url, n);
}

/* POST /v1/auth/tokens to the controller at url (a new cli->client) with
 * the credentials; *answer receives the login (the caller's).  Returns the
 * exit status: a wrong user or password is "login failed" (1). */
static int login_request(struct cli *cli, const char *url, const char *ca_file, const char *user,
                         const char *password, const char *project, json_t **answer)
{
    struct nubo_err err;
    struct client_cfg ccfg = {
        .base_url = url,
        .ca_file = ca_file,
        .peer = "nubod",
        .unreachable_hint = "is the controller running there? (nubod --listen ADDR:PORT)",
        .cancel = cli_cancel_flag(),
    };
    if ((cli->client = client_new(&ccfg, &err)) == NULL)
        return cli_fail(cli, &err);
    json_t *body = json_pack("{s:s, s:s}", "user", user, "password", password);
    if (body == NULL)
        return cli_usage_error(cli, "the password must be UTF-8 text");
    if (project)
        json_object_set_new(body, "project", json_string(project));
    int rc = CLI_EXIT_OK;
    if (cli_call(cli, "POST", "/v1/auth/tokens", body, answer, &err) < 0) {
        if (err.code == NUBO_E_UNAUTHORIZED) {
            fprintf(stderr, "nubo: login failed: %s\n", err.msg);
            rc = CLI_EXIT_FAIL;
        } else {
            rc = cli_fail(cli, &err);
        }
    }
    json_decref(body);
    return rc;
}

/* Prints who logged in where (the answer without its token for -o json:
 * the token is in the config file, and stdout may end up in a log). */
static void login_print(const struct cli *cli, const char *url, const struct config *cfg,
                        json_t *answer)
{
    char safe[3][128];
    if (cli->output == OUTPUT_JSON) {
        json_object_del(answer, "token");
        json_object_set_new(answer, "url", json_string(url));
        output_json(stdout, answer);
        return;
    }
    output_text(cfg->user, 0, safe[0], sizeof(safe[0]));
    output_text(cfg->project, 0, safe[1], sizeof(safe[1]));
    output_text(cli_json_str(answer, "role"), 0, safe[2], sizeof(safe[2]));
    printf("logged in to %s as %s, project %s (role %s)\n", url, safe[0], safe[1], safe[2]);
    output_text(cfg->expires_at, 0, safe[0], sizeof(safe[0]));
    printf("the token expires at %s\n", safe[0]);
}

static const struct opts_field login_fields[] = {
    {.name = "user", .key = "user", .type = FIELD_ARG},
    {.name = "password-file", .key = "password_file", .type = FIELD_ARG},
    {.name = "project", .key = "project", .type = FIELD_ARG},
};

int cmd_login(struct cli *cli, int argc, char **argv)
{
    char url[CLI_URL_MAX], safe[128], config_file[PATH_MAX], ca_abs[PATH_MAX];
    const char *ca_file = NULL;
    char *password = NULL, *old_token = NULL;
    struct config cfg = {0};
    bool found = false;
    struct nubo_err err;
    json_t *opts = NULL, *answer = NULL;
    int rc = opts_parse(cli, argc, argv, login_fields, ARRAY_LEN(login_fields), login_usage, &opts);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    const char *user = cli_json_str(opts, "user"), *project = cli_json_str(opts, "project");
    if ((rc = cli_args_check(cli, argc - optind, 0, 1, "at most the controller's URL")) != 0)
        goto cleanup;
    rc = CLI_EXIT_USAGE;
    if (cli->socket_path) {
        cli_usage_error(cli, "--socket is for 'nubo agent' commands");
        goto cleanup;
    }
    if (config_path(config_file, sizeof(config_file), &err) < 0) {
        fprintf(stderr, "nubo: %s\n", err.msg);
        rc = CLI_EXIT_FAIL;
        goto cleanup;
    }
    if (config_load(&cfg, &found, &err) < 0) {
        /* A broken file must not stop a login, which replaces it. */
        fprintf(stderr, "nubo: warning: %s\n", err.msg);
        config_clear(&cfg);
    }
    if (login_url(cli, argc, argv, &cfg, url, sizeof(url)) != 0)
        goto cleanup;
    /* The CA for an https:// controller: given now (kept, as an absolute
     * path, with the login), else the saved login's for the same URL. */
    const char *ca_arg = cli->ca_file ? cli->ca_file : getenv("NUBO_CA_FILE");
    if (ca_arg && *ca_arg) {
        if (realpath(ca_arg, ca_abs) == NULL) {
            cli_usage_error(cli, "--ca-file %.200s: %s", ca_arg, strerror(errno));
            goto cleanup;
        }
        ca_file = ca_abs;
    } else if (cfg.ca_file && cfg.url && strcmp(cfg.url, url) == 0)
        ca_file = str_copy(ca_abs, sizeof(ca_abs), cfg.ca_file) == 0 ? ca_abs : NULL;
    if (user == NULL)
        user = cfg.user;
    if (user == NULL) {
        cli_usage_error(cli, "--user NAME is required");
        goto cleanup;
    }
    if (valid_name(user, "--user", &err) < 0 ||
        (project && valid_name(project, "--project", &err) < 0)) {
        cli_usage_error(cli, "%s", err.msg);
        goto cleanup;
    }
    output_text(user, 0, safe, sizeof(safe));
    char prompt[CLI_URL_MAX + 160];
    snprintf(prompt, sizeof(prompt), "Password for %s at %s: ", safe, url);
    if ((rc = cloud_secret_read(cli, cli_json_str(opts, "password_file"), "NUBO_PASSWORD", prompt,
                                false, &password)) != 0 ||
        (rc = login_request(cli, url, ca_file, user, password, project, &answer)) != 0)
        goto cleanup;
    if (cfg.token && cfg.url && strcmp(cfg.url, url) == 0)
        old_token = xstrdup(cfg.token);
    config_set(&cfg.ca_file, ca_file);
    if (login_save(&cfg, url, answer, &err) < 0) {
        fprintf(stderr, "nubo: logged in, but cannot save the login: %s\n", err.msg);
        rc = CLI_EXIT_FAIL;
        goto cleanup;
    }
    if (old_token && strcmp(old_token, cfg.token) != 0)
        token_revoke_quietly(url, old_token, ca_file);
    login_print(cli, url, &cfg, answer);
    rc = CLI_EXIT_OK;
cleanup:
    json_decref(opts);
    json_decref(answer);
    cli_secret_free(password);
    cli_secret_free(old_token);
    config_clear(&cfg);
    return rc;
}

/* ---------------------------------------------------------------- logout */

int cmd_logout(struct cli *cli, int argc, char **argv)
{
    int rc;
    struct config cfg = {0};
    bool found = false;
    struct nubo_err err, revoke_err;
    const char *env_token = getenv("NUBO_TOKEN");

    if ((rc = cli_options_common(cli, argc, argv, logout_usage, false)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    bool override = cli->token_file || (env_token && *env_token);
    if ((rc = cli_args_check(cli, argc - optind, 0, 0, "no arguments")) != 0)
        return rc;
    if (config_load(&cfg, &found, &err) < 0) {
        fprintf(stderr, "nubo: %s\n", err.msg);
        return CLI_EXIT_FAIL;
    }
    if (!override && cfg.token == NULL) {
        fputs("nubo: not logged in\n", stderr);
        config_clear(&cfg);
        return CLI_EXIT_OK;
    }
    if ((rc = cloud_connect(cli)) != 0) {
        config_clear(&cfg);
        return rc;
    }
    int revoked = cli_call(cli, "DELETE", "/v1/auth/tokens/current", NULL, NULL, &revoke_err);
    /* A 401 says the token is dead already: as good as revoked. */
    bool dead = revoked == 0 || revoke_err.code == NUBO_E_UNAUTHORIZED;
    /* The saved token is forgotten when it is the one revoked, and also when
     * the controller is gone: the user asked to be logged out here. */
    bool forget = !override || (env_token && cfg.token && strcmp(env_token, cfg.token) == 0);
    if (forget && cfg.token) {
        config_set(&cfg.token, NULL);
        config_set(&cfg.token_id, NULL);
        config_set(&cfg.expires_at, NULL);
        if (config_save(&cfg, &err) < 0) {
            fprintf(stderr, "nubo: cannot forget the token: %s\n", err.msg);
            config_clear(&cfg);
            return CLI_EXIT_FAIL;
        }
    }
    config_clear(&cfg);
    if (!dead) {
        rc = cli_fail(cli, &revoke_err);
        fputs("nubo: the token could not be revoked; it stays valid until it expires\n", stderr);
        return rc;
    }
    if (cli->output == OUTPUT_TABLE)
        printf("logged out of %s%s\n", client_target(cli->client),
               revoked == 0 ? "" : " (the token had expired or was revoked already)");
    return CLI_EXIT_OK;
}

/* ---------------------------------------------------------------- whoami */

int cmd_whoami(struct cli *cli, int argc, char **argv)
{
    static const struct cloud_col fields[] = {
        {"user", "user.name", CLOUD_STR},
        {"user id", "user.id", CLOUD_STR},
        {"project", "project.name", CLOUD_STR},
        {"project id", "project.id", CLOUD_STR},
        {"role", "role", CLOUD_STR},
        {"cloud admin", "cloud_admin", CLOUD_BOOL},
        {"token id", "token_id", CLOUD_STR},
    };
    int rc;
    struct nubo_err err;
    struct config cfg = {0};
    bool found = false;
    json_t *me = NULL;
    if ((rc = cli_options_common(cli, argc, argv, whoami_usage, false)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 0, 0, "no arguments")) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    if (cli_call(cli, "GET", "/v1/auth/whoami", NULL, &me, &err) < 0)
        return cli_fail(cli, &err);
    if (!cli_print_json(cli, me)) {
        cloud_view_print(me, fields, ARRAY_LEN(fields));
        output_kv(stdout, "controller", client_target(cli->client));
        /* The expiry is known only for the saved login's token. */
        const char *tid = cli_json_str(me, "token_id");
        if (config_load(&cfg, &found, &err) == 0 && cfg.token_id && tid &&
            strcmp(cfg.token_id, tid) == 0)
            output_kv(stdout, "expires", cfg.expires_at);
        config_clear(&cfg);
    }
    json_decref(me);
    return CLI_EXIT_OK;
}
