/*
 * cmd_keypair.c - `nubo keypair ...`: SSH public keys of a project, put
 * into instances at boot.
 *
 *   list      GET /v1/keypairs
 *   create    POST /v1/keypairs {name, public_key}
 *   show      GET /v1/keypairs/{name}
 *   delete    DELETE /v1/keypairs/{name}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/opts.h"
#include "lib/fsutil.h"
#include "lib/util.h"
#include "lib/valid.h"

#define KEY_FILE_MAX (16 * 1024)

static const char keypair_usage[] =
    "usage: nubo keypair COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  list                          the project's SSH keys\n"
    "  create NAME --public-key-file FILE   add one (such as ~/.ssh/id_ed25519.pub)\n"
    "  show NAME                     one key, with its fingerprint\n"
    "  delete NAME...                remove keys (instances keep theirs)\n"
    "\n" CLOUD_COMMON_HELP;

static const char list_usage[] = "usage: nubo keypair list [--limit N]\n"
                                 "\n"
                                 "Lists the project's SSH keys, oldest first.\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char create_usage[] =
    "usage: nubo keypair create NAME --public-key-file FILE\n"
    "\n"
    "Adds an OpenSSH public key to the project under NAME, for 'nubo instance create\n"
    "--keypair NAME'.  FILE holds the key on one line ('ssh-ed25519 AAAA... comment'),\n"
    "such as ~/.ssh/id_ed25519.pub; never give the private key.\n"
    "\n" CLOUD_COMMON_HELP;

static const char show_usage[] = "usage: nubo keypair show NAME\n"
                                 "\n"
                                 "Shows one key: its fingerprint and the key itself.\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char delete_usage[] = "usage: nubo keypair delete NAME...\n"
                                   "\n"
                                   "Removes keys from the project; instances keep their copy.\n"
                                   "\n" CLOUD_COMMON_HELP;

static const struct cloud_col keypair_cols[] = {
    {"NAME", "name", CLOUD_STR},
    {"FINGERPRINT", "fingerprint", CLOUD_STR},
    {"AGE", "created_at", CLOUD_AGE},
};

static const struct cloud_col keypair_fields[] = {
    {"name", "name", CLOUD_STR},
    {"id", "id", CLOUD_STR},
    {"fingerprint", "fingerprint", CLOUD_STR},
    {"created", "created_at", CLOUD_STR},
    {"public key", "public_key", CLOUD_STR},
};

static const struct cloud_kind keypair_kind = {
    .what = "keypair",
    .collection = "/v1/keypairs",
    .key = "keypairs",
    .cols = keypair_cols,
    .ncols = ARRAY_LEN(keypair_cols),
    .fields = keypair_fields,
    .nfields = ARRAY_LEN(keypair_fields),
    .empty = "no keypairs (add one: nubo keypair create NAME --public-key-file FILE)",
};

static int keypair_list(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_list(cli, argc, argv, &keypair_kind, list_usage);
}

static int keypair_show(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_show(cli, argc, argv, &keypair_kind, show_usage);
}

static int keypair_delete(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_delete(cli, argc, argv, &keypair_kind, delete_usage);
}

/* Reads the one public key of an OpenSSH .pub file into *out (a JSON
 * string, the caller's).  Returns 0 or a usage error. */
static int public_key_read(const struct cli *cli, const char *path, json_t **out)
{
    static const char *const types[] = {"ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"};
    struct nubo_err err;
    size_t len;
    int rc = CLI_EXIT_USAGE;
    char *buf = fs_read_file(path, KEY_FILE_MAX, &len, &err);
    if (buf == NULL)
        return cli_usage_error(cli, "--public-key-file: %s", err.msg);
    if (memchr(buf, '\0', len) != NULL || strstr(buf, "PRIVATE KEY") != NULL) {
        cli_usage_error(cli, "--public-key-file: %s is not a public key (give the .pub file)",
                        path);
        goto cleanup;
    }
    char *line = buf;
    line[strcspn(line, "\r\n")] = '\0';
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
        line[--n] = '\0';
    bool known = false;
    for (size_t i = 0; i < ARRAY_LEN(types); i++)
        known = known || strncmp(line, types[i], strlen(types[i])) == 0;
    if (!known || strchr(line, ' ') == NULL) {
        cli_usage_error(cli,
                        "--public-key-file: the first line of %s is not an OpenSSH public key "
                        "(such as 'ssh-ed25519 AAAA... comment')",
                        path);
        goto cleanup;
    }
    if ((*out = json_string(line)) == NULL) {
        cli_usage_error(cli, "--public-key-file: %s is not UTF-8 text", path);
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(buf);
    return rc;
}

static const struct opts_field create_fields[] = {
    {.name = "public-key-file",
     .key = "public_key_file",
     .type = FIELD_STR,
     .required = "--public-key-file FILE is required"},
};

static int keypair_create(struct cli *cli, int argc, char **argv)
{
    struct nubo_err err;
    json_t *opts, *key = NULL, *body, *keypair = NULL;
    int rc =
        opts_parse(cli, argc, argv, create_fields, ARRAY_LEN(create_fields), create_usage, &opts);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "the name of the new keypair")) == 0 &&
        valid_name(argv[optind], "the keypair name", &err) < 0)
        rc = cli_usage_error(cli, "%s", err.msg);
    if (rc == 0 && (rc = opts_required(cli, create_fields, ARRAY_LEN(create_fields), opts)) == 0)
        rc =
            public_key_read(cli, json_string_value(json_object_get(opts, "public_key_file")), &key);
    json_decref(opts);
    if (rc != 0)
        return rc;
    if ((rc = cloud_connect(cli)) != 0) {
        json_decref(key);
        return rc;
    }
    body = json_pack("{s:s, s:o}", "name", argv[optind], "public_key", key);
    if (cloud_create(cli, "/v1/keypairs", body, &keypair, &err) < 0) {
        rc = cli_fail(cli, &err);
    } else if (!cli_print_json(cli, keypair)) {
        cloud_created_print(cli, "keypair", keypair);
        cloud_view_print(keypair, &keypair_fields[2], 1);
    }
    json_decref(body);
    json_decref(keypair);
    return rc;
}

int cmd_keypair(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", keypair_list},
        {"create", keypair_create},
        {"show", keypair_show},
        {"delete", keypair_delete},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), keypair_usage);
}
