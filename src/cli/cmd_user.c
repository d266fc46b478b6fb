/*
 * cmd_user.c - `nubo user ...`: the cloud's users.
 *
 *   list      GET /v1/users (admin)
 *   create    POST /v1/users (admin)
 *   show      GET /v1/users/{ref} (admin, or yourself), with the user's roles
 *   delete    DELETE /v1/users/{ref} (admin, not yourself)
 *   passwd    PATCH /v1/users/{ref} {password, current_password when yours}
 *   grant-cloud-admin   PATCH /v1/users/{ref} {cloud_admin: true} (cloud admin)
 *   revoke-cloud-admin  PATCH /v1/users/{ref} {cloud_admin: false} (cloud admin)
 *
 * Passwords never go on the command line: a file or the terminal.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/output.h"
#include "lib/util.h"
#include "lib/valid.h"

#define PASSWORD_MIN 8
#define PASSWORD_MAX 256

static const char user_usage[] =
    "usage: nubo user COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  list                          the cloud's users (admin)\n"
    "  create NAME                   a new user (admin); the password is asked for\n"
    "  show [USER]                   a user and their roles (default: you)\n"
    "  delete USER...                remove users (admin)\n"
    "  passwd [USER]                 change a password (default: yours)\n"
    "  grant-cloud-admin USER        make USER a cloud admin (cloud admin)\n"
    "  revoke-cloud-admin USER       take it away (cloud admin; not the last one)\n"
    "\n"
    "USER is a user's name or id.  A cloud admin runs the whole cloud (hosts,\n"
    "flavors, public images, prices, quotas, users, every project); the admin role\n"
    "in a project (nubo role set) gives only that project and its members.\n"
    "\n" CLOUD_COMMON_HELP;

static const char list_usage[] = "usage: nubo user list [--limit N]\n"
                                 "\n"
                                 "Lists the cloud's users, oldest first (cloud admins only).\n"
                                 "\n"
                                 "  --limit N    the first N only\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char create_usage[] =
    "usage: nubo user create NAME [--password-file FILE] [--email ADDRESS]\n"
    "\n"
    "Creates a user (cloud admins only).  NAME: letters, digits, '.', '_' and '-',\n"
    "up to 63.  The password (8 to 256 characters) is the first line of FILE, or is\n"
    "asked on the terminal, twice.  Then give the user a role in a project:\n"
    "'nubo role set PROJECT NAME member'.\n"
    "\n" CLOUD_COMMON_HELP;

static const char show_usage[] =
    "usage: nubo user show [USER]\n"
    "\n"
    "Shows a user (default: yourself) and their roles in projects.  Others than\n"
    "yourself: cloud admins only.\n"
    "\n" CLOUD_COMMON_HELP;

static const char delete_usage[] =
    "usage: nubo user delete USER...\n"
    "\n"
    "Deletes users (cloud admins only; not yourself).  Their tokens and API keys stop\n"
    "working.  Goes on with the next USER when one fails; the exit status is then 1.\n"
    "\n" CLOUD_COMMON_HELP;

static const char passwd_usage[] =
    "usage: nubo user passwd [USER] [--password-file FILE] [--current-password-file FILE]\n"
    "\n"
    "Sets a new password (8 to 256 characters) for USER (cloud admins) or, without\n"
    "USER, for yourself: the first line of FILE, or asked on the terminal, twice.\n"
    "Your own password needs your current one too: the first line of the\n"
    "--current-password-file, or asked on the terminal.  Passwords are changed\n"
    "only from a login session (nubo login), never with an API key.\n"
    "\n" CLOUD_COMMON_HELP;

static const char grant_usage[] =
    "usage: nubo user grant-cloud-admin USER\n"
    "\n"
    "Makes USER a cloud admin (cloud admins only): the whole cloud, whatever their\n"
    "roles in projects.  Their tokens and API keys get it at once.\n"
    "\n" CLOUD_COMMON_HELP;

static const char revoke_usage[] =
    "usage: nubo user revoke-cloud-admin USER\n"
    "\n"
    "Takes being a cloud admin from USER (cloud admins only); their roles in\n"
    "projects stay.  The cloud's last enabled cloud admin keeps it (refused with\n"
    "409: grant it to another user first).\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col user_cols[] = {
    {"NAME", "name", CLOUD_STR},
    {"ID", "id", CLOUD_STR},
    {"EMAIL", "email", CLOUD_STR},
    {"DISABLED", "disabled", CLOUD_BOOL},
    {"CLOUD ADMIN", "cloud_admin", CLOUD_BOOL},
    {"AGE", "created_at", CLOUD_AGE},
};

static const struct cloud_col user_fields[] = {
    {"name", "name", CLOUD_STR},
    {"id", "id", CLOUD_STR},
    {"email", "email", CLOUD_STR},
    {"disabled", "disabled", CLOUD_BOOL},
    {"cloud admin", "cloud_admin", CLOUD_BOOL},
    {"created", "created_at", CLOUD_STR},
};

static const struct cloud_col role_cols[] = {
    {"PROJECT", "project_name", CLOUD_STR},
    {"ROLE", "role", CLOUD_STR},
    {"PROJECT ID", "project_id", CLOUD_STR},
};

static const struct cloud_kind user_kind = {
    .what = "user",
    .collection = "/v1/users",
    .key = "users",
    .cols = user_cols,
    .ncols = ARRAY_LEN(user_cols),
    .fields = user_fields,
    .nfields = ARRAY_LEN(user_fields),
    .empty = "no users",
};

static int user_list(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_list(cli, argc, argv, &user_kind, list_usage);
}

static int user_delete(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_delete(cli, argc, argv, &user_kind, delete_usage);
}

/* Reads a new password (file or terminal) and checks its length. */
static int password_new(const struct cli *cli, const char *file, char **out)
{
    int rc = cloud_secret_read(cli, file, NULL, "New password: ", true, out);
    if (rc != 0)
        return rc;
    size_t n = strlen(*out);
    if (n < PASSWORD_MIN || n > PASSWORD_MAX) {
        cli_secret_free(*out);
        *out = NULL;
        return cli_usage_error(cli, "a password has %d to %d characters", PASSWORD_MIN,
                               PASSWORD_MAX);
    }
    return 0;
}

/* Parses the options of create and passwd: the common ones, --password-file,
 * (with email) --email and (with current) --current-password-file. */
static int password_options(struct cli *cli, int argc, char **argv, const char *usage,
                            const char **file, const char **email, const char **current)
{
    enum { OPT_PASSWORD_FILE = CLI_OPT_FIRST_FREE, OPT_EMAIL, OPT_CURRENT_FILE };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
        {"email", required_argument, NULL, OPT_EMAIL},
        {"current-password-file", required_argument, NULL, OPT_CURRENT_FILE},
        {NULL, 0, NULL, 0},
    };
    int c, rc;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return CLI_HELP_SHOWN;
        } else if (c == OPT_PASSWORD_FILE) {
            *file = optarg;
        } else if (c == OPT_EMAIL && email) {
            *email = optarg;
        } else if (c == OPT_CURRENT_FILE && current) {
            *current = optarg;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    return 0;
}

static int user_create(struct cli *cli, int argc, char **argv)
{
    int rc;
    const char *file = NULL, *email = NULL;
    char *password = NULL;
    struct nubo_err err;
    json_t *body = NULL, *user = NULL;
    if ((rc = password_options(cli, argc, argv, create_usage, &file, &email, NULL)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "the name of the new user")) != 0)
        return rc;
    const char *name = argv[optind];
    if (valid_name(name, "the user name", &err) < 0)
        return cli_usage_error(cli, "%s", err.msg);
    if (email && (strlen(email) > 254 || strchr(email, '@') == NULL))
        return cli_usage_error(cli, "--email '%.60s' is not an e-mail address", email);
    if ((rc = cloud_connect(cli)) != 0 || (rc = password_new(cli, file, &password)) != 0)
        return rc;
    body = json_pack("{s:s, s:s}", "name", name, "password", password);
    if (body == NULL) {
        rc = cli_usage_error(cli, "the password must be UTF-8 text");
        goto cleanup;
    }
    if (email)
        json_object_set_new(body, "email", json_string(email));
    if (cloud_create(cli, "/v1/users", body, &user, &err) < 0) {
        rc = cli_fail(cli, &err);
        goto cleanup;
    }
    cloud_created_print(cli, "user", user);
    rc = CLI_EXIT_OK;
cleanup:
    json_decref(body);
    json_decref(user);
    cli_secret_free(password);
    return rc;
}

static int user_show(struct cli *cli, int argc, char **argv)
{
    int rc;
    char path[CLOUD_PATH_MAX], me[37];
    struct nubo_err err;
    json_t *user = NULL;
    if ((rc = cli_options_common(cli, argc, argv, show_usage, false)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 0, 1, "at most one user name or id")) != 0 ||
        (optind < argc && (rc = cloud_ref_check(cli, argv[optind], "a user name or id")) != 0) ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    const char *ref = optind < argc ? argv[optind] : NULL;
    if (ref == NULL) {
        if (cloud_whoami_ids(cli, NULL, me, &err) < 0)
            return cli_fail(cli, &err);
        ref = me;
    }
    snprintf(path, sizeof(path), "/v1/users/%s", ref);
    if (cli_call(cli, "GET", path, NULL, &user, &err) < 0)
        return cli_fail(cli, &err);
    if (!cli_print_json(cli, user)) {
        cloud_view_print(user, user_fields, ARRAY_LEN(user_fields));
        const json_t *roles = json_object_get(user, "roles");
        if (json_array_size(roles) > 0) {
            fputc('\n', stdout);
            cloud_table_print(roles, role_cols, ARRAY_LEN(role_cols), NULL);
        } else {
            output_kv(stdout, "roles", "none");
        }
    }
    json_decref(user);
    return CLI_EXIT_OK;
}

static int user_passwd(struct cli *cli, int argc, char **argv)
{
    int rc;
    const char *file = NULL, *current_file = NULL;
    char path[CLOUD_PATH_MAX], me[37], safe[128];
    char *password = NULL, *current = NULL;
    struct nubo_err err;
    json_t *body = NULL, *user = NULL, *who = NULL;
    if ((rc = password_options(cli, argc, argv, passwd_usage, &file, NULL, &current_file)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 0, 1, "at most one user name or id")) != 0 ||
        (optind < argc && (rc = cloud_ref_check(cli, argv[optind], "a user name or id")) != 0) ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    /* Your own password (no USER, or USER is you) takes the current one. */
    if (cli_call(cli, "GET", "/v1/auth/whoami", NULL, &who, &err) < 0)
        return cli_fail(cli, &err);
    const json_t *wu = json_object_get(who, "user");
    str_copy(me, sizeof(me), cli_json_str_or(wu, "id", ""));
    const char *ref = optind < argc ? argv[optind] : me;
    bool self = strcmp(ref, me) == 0 || strcmp(ref, cli_json_str_or(wu, "name", "")) == 0;
    json_decref(who);
    if (self && (rc = cloud_secret_read(cli, current_file, NULL, "Current password: ", false,
                                        &current)) != 0)
        return rc;
    if ((rc = password_new(cli, file, &password)) != 0)
        goto cleanup;
    body = current ? json_pack("{s:s, s:s}", "password", password, "current_password", current)
                   : json_pack("{s:s}", "password", password);
    if (body == NULL) {
        rc = cli_usage_error(cli, "the password must be UTF-8 text");
        goto cleanup;
    }
    snprintf(path, sizeof(path), "/v1/users/%s", ref);
    if (cli_call(cli, "PATCH", path, body, &user, &err) < 0) {
        rc = cli_fail(cli, &err);
        goto cleanup;
    }
    if (!cli_print_json(cli, user)) {
        output_text(cli_json_str_or(user, "name", ref), 0, safe, sizeof(safe));
        printf("the password of %s is changed\n", safe);
    }
    rc = CLI_EXIT_OK;
cleanup:
    json_decref(body);
    json_decref(user);
    cli_secret_free(password);
    cli_secret_free(current);
    return rc;
}

/* grant-cloud-admin (on) and revoke-cloud-admin (!on). */
static int user_cloud_admin(struct cli *cli, int argc, char **argv, bool on)
{
    int rc;
    char path[CLOUD_PATH_MAX], safe[128];
    struct nubo_err err;
    json_t *user = NULL, *body = NULL;
    if ((rc = cli_options_common(cli, argc, argv, on ? grant_usage : revoke_usage, false)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "one user name or id")) != 0 ||
        (rc = cloud_ref_check(cli, argv[optind], "a user name or id")) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    snprintf(path, sizeof(path), "/v1/users/%s", argv[optind]);
    body = json_pack("{s:b}", "cloud_admin", on);
    if (cli_call(cli, "PATCH", path, body, &user, &err) < 0) {
        rc = cli_fail(cli, &err);
    } else {
        if (!cli_print_json(cli, user)) {
            output_text(cli_json_str_or(user, "name", argv[optind]), 0, safe, sizeof(safe));
            printf("%s is %s a cloud admin\n", safe, on ? "now" : "no longer");
        }
        rc = CLI_EXIT_OK;
    }
    json_decref(body);
    json_decref(user);
    return rc;
}

static int user_grant(struct cli *cli, int argc, char **argv)
{
    return user_cloud_admin(cli, argc, argv, true);
}

static int user_revoke(struct cli *cli, int argc, char **argv)
{
    return user_cloud_admin(cli, argc, argv, false);
}

int cmd_user(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", user_list},
        {"create", user_create},
        {"show", user_show},
        {"delete", user_delete},
        {"passwd", user_passwd},
        {"grant-cloud-admin", user_grant},
        {"revoke-cloud-admin", user_revoke},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), user_usage);
}
