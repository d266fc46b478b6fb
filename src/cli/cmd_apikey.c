/*
 * cmd_apikey.c - `nubo apikey ...`: long-lived tokens for scripts, scoped
 * to the caller's project with the caller's role there.
 *
 *   list      GET /v1/auth/apikeys (your own keys)
 *   create    POST /v1/auth/apikeys (the key is in the answer, once)
 *   delete    DELETE /v1/auth/apikeys/{id}
 */
#include <stdio.h>

#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "lib/util.h"
#include "lib/valid.h"

static const char apikey_usage[] =
    "usage: nubo apikey COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  list                          your API keys\n"
    "  create NAME [--expires-in-days N]   a new key, shown once\n"
    "  delete KEY...                 revoke keys (by id, or by name when unique)\n"
    "\n"
    "An API key works like the token of 'nubo login' (nubo --token-file FILE, env\n"
    "NUBO_TOKEN, or 'Authorization: Bearer KEY'), for the project you are logged in\n"
    "to, with your role there, until it expires or is deleted.\n"
    "\n" CLOUD_COMMON_HELP;

static const char list_usage[] = "usage: nubo apikey list [--limit N]\n"
                                 "\n"
                                 "Lists your API keys, oldest first (not the keys themselves).\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char create_usage[] =
    "usage: nubo apikey create NAME [--expires-in-days N]\n"
    "\n"
    "Creates an API key for the project you are logged in to, with your role there.\n"
    "The key is printed once: keep it (it cannot be shown again).\n"
    "\n"
    "  --expires-in-days N   1 to 3650 (default 365)\n"
    "\n" CLOUD_COMMON_HELP;

static const char delete_usage[] =
    "usage: nubo apikey delete KEY...\n"
    "\n"
    "Revokes API keys, given by id (or by name when only one of yours has it).\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col apikey_cols[] = {
    {"NAME", "name", CLOUD_STR},
    {"ID", "id", CLOUD_STR},
    {"PROJECT", "project_id", CLOUD_PROJECT_ID},
    {"EXPIRES", "expires_at", CLOUD_STR},
    {"REVOKED", "revoked", CLOUD_BOOL},
    {"AGE", "created_at", CLOUD_AGE},
};

static const struct cloud_kind apikey_kind = {
    .what = "API key",
    .collection = "/v1/auth/apikeys",
    .key = "apikeys",
    .ids_only = true,
    .cols = apikey_cols,
    .ncols = ARRAY_LEN(apikey_cols),
    .empty = "no API keys (create one: nubo apikey create NAME)",
};

static int apikey_list(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_list(cli, argc, argv, &apikey_kind, list_usage);
}

static int apikey_delete(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_delete(cli, argc, argv, &apikey_kind, delete_usage);
}

static const struct opts_field create_fields[] = {
    {.name = "expires-in-days", .key = "expires_in_days", .type = FIELD_INT, .min = 1, .max = 3650},
};

static int apikey_create(struct cli *cli, int argc, char **argv)
{
    char safe[3][128];
    struct nubo_err err;
    json_t *body = NULL, *key = NULL;
    int rc =
        opts_parse(cli, argc, argv, create_fields, ARRAY_LEN(create_fields), create_usage, &body);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "the name of the new key")) != 0)
        goto done;
    if (valid_name(argv[optind], "the key name", &err) < 0) {
        rc = cli_usage_error(cli, "%s", err.msg);
        goto done;
    }
    if ((rc = cloud_connect(cli)) != 0)
        goto done;
    json_object_set_new(body, "name", json_string(argv[optind]));
    if (cloud_create(cli, "/v1/auth/apikeys", body, &key, &err) < 0) {
        rc = cli_fail(cli, &err);
    } else if (!cli_print_json(cli, key)) {
        output_text(cli_json_str(key, "name"), 0, safe[0], sizeof(safe[0]));
        output_text(cli_json_str(key, "id"), 0, safe[1], sizeof(safe[1]));
        output_text(cli_json_str(key, "expires_at"), 0, safe[2], sizeof(safe[2]));
        printf("created API key %s, id %s, expires at %s\n", safe[0], safe[1], safe[2]);
        output_text(cli_json_str(key, "key"), 0, safe[0], sizeof(safe[0]));
        printf("key: %s\n", safe[0]);
        fputs("nubo: the key is shown only this once: keep it now\n", stderr);
    }
done:
    json_decref(body);
    json_decref(key);
    return rc;
}

int cmd_apikey(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", apikey_list},
        {"create", apikey_create},
        {"delete", apikey_delete},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), apikey_usage);
}
