/*
 * cmd_join_token.c - `nubo join-token ...`: the secrets new hosts register
 * with (cloud admins only).  Agents on the controller's machine read the
 * local token from nubod's <state-dir>/join-token, replaced every 15
 * minutes; a host elsewhere joins with a token minted here, short-lived
 * and single-use unless asked otherwise.
 *
 *   list      GET /v1/join-tokens (without the secrets)
 *   create    POST /v1/join-tokens (the token is in the answer, once)
 *   delete    DELETE /v1/join-tokens/{id}
 */
#include <stdio.h>

#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "lib/util.h"

static const char join_usage[] =
    "usage: nubo join-token COMMAND [options]\n"
    "\n"
    "Commands (cloud admins only):\n"
    "  list                  the join tokens still usable (not the secrets)\n"
    "  create [--ttl SECONDS] [--uses N] [--note TEXT]\n"
    "                        a token for new hosts, shown once\n"
    "  delete ID...          revoke tokens\n"
    "\n"
    "A new host joins with: nubo-hostd --controller URL --join-token-file FILE,\n"
    "FILE holding the token.  Once registered, a host proves itself with its own\n"
    "host token; the join token is not needed again.\n"
    "\n" CLOUD_COMMON_HELP;

static const char list_usage[] = "usage: nubo join-token list\n"
                                 "\n"
                                 "Lists the join tokens that are neither expired nor used up.\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char create_usage[] =
    "usage: nubo join-token create [--ttl SECONDS] [--uses N] [--note TEXT]\n"
    "\n"
    "Mints a join token for hosts on other machines.  It is printed once: put it\n"
    "in a file (mode 0600) on the new host and start nubo-hostd with\n"
    "--join-token-file FILE.\n"
    "\n"
    "  --ttl SECONDS   how long it is valid: 60 to 604800 (a week; default 3600)\n"
    "  --uses N        how many hosts may join with it: 1 to 1000 (default 1)\n"
    "  --note TEXT     what it is for, shown in the list\n"
    "\n" CLOUD_COMMON_HELP;

static const char delete_usage[] = "usage: nubo join-token delete ID...\n"
                                   "\n"
                                   "Revokes join tokens by id.\n"
                                   "\n" CLOUD_COMMON_HELP;

static const struct cloud_col join_cols[] = {
    {"ID", "id", CLOUD_STR},
    {"KIND", "kind", CLOUD_STR},
    {"USES LEFT", "uses_left", CLOUD_STR},
    {"EXPIRES", "expires_at", CLOUD_STR},
    {"NOTE", "note", CLOUD_STR},
    {"AGE", "created_at", CLOUD_AGE},
};

static const struct cloud_kind join_kind = {
    .what = "join token",
    .collection = "/v1/join-tokens",
    .key = "join_tokens",
    .ids_only = true,
    .cols = join_cols,
    .ncols = ARRAY_LEN(join_cols),
    .empty = "no join tokens (mint one: nubo join-token create)",
};

static int join_list(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_list(cli, argc, argv, &join_kind, list_usage);
}

static int join_delete(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_delete(cli, argc, argv, &join_kind, delete_usage);
}

static const struct opts_field create_fields[] = {
    {.name = "ttl", .key = "ttl_seconds", .type = FIELD_INT, .min = 60, .max = 604800},
    {.name = "uses", .key = "uses", .type = FIELD_INT, .min = 1, .max = 1000},
    {.name = "note", .key = "note", .type = FIELD_STR},
};

static int join_create(struct cli *cli, int argc, char **argv)
{
    char safe[3][128];
    struct nubo_err err;
    json_t *body = NULL, *tok = NULL;
    int rc =
        opts_parse(cli, argc, argv, create_fields, ARRAY_LEN(create_fields), create_usage, &body);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 0, 0, "no arguments")) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        goto done;
    if (cloud_create(cli, join_kind.collection, body, &tok, &err) < 0) {
        rc = cli_fail(cli, &err);
    } else if (!cli_print_json(cli, tok)) {
        output_text(cli_json_str(tok, "id"), 0, safe[0], sizeof(safe[0]));
        output_text(cli_json_str(tok, "expires_at"), 0, safe[1], sizeof(safe[1]));
        printf("created join token %s for %lld host(s), expires at %s\n", safe[0],
               cli_json_int(tok, "uses_left"), safe[1]);
        output_text(cli_json_str(tok, "token"), 0, safe[2], sizeof(safe[2]));
        printf("token: %s\n", safe[2]);
        fputs("nubo: the token is shown only this once: put it in a file on the new host\n",
              stderr);
    }
done:
    json_decref(body);
    json_decref(tok);
    return rc;
}

int cmd_join_token(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", join_list},
        {"create", join_create},
        {"delete", join_delete},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), join_usage);
}
