/*
 * cmd_snapshot.c - `nubo snapshot ...`: volume snapshots
 * (docs/internals/storage.md, Snapshots).
 *
 *   list      GET /v1/snapshots
 *   create    POST /v1/snapshots {volume_id, name}
 *   show      GET /v1/snapshots/{id}
 *   rename    PATCH /v1/snapshots/{id} {name}
 *   delete    DELETE /v1/snapshots/{id}
 *
 * The routes take a snapshot's id or its name.  A volume from a snapshot
 * is `nubo volume create NAME --snapshot S`.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/opts.h"
#include "lib/util.h"
#include "lib/valid.h"

static const char snapshot_usage[] =
    "usage: nubo snapshot COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  list                      the project's volume snapshots\n"
    "  create VOLUME NAME        snapshot a volume (attached or not)\n"
    "  show SNAPSHOT             one snapshot\n"
    "  rename SNAPSHOT NAME      give a snapshot another name\n"
    "  delete SNAPSHOT...        remove snapshots\n"
    "\n"
    "A snapshot of an attached volume is crash-consistent (what a power cut at\n"
    "that instant would leave).  It is 'creating' until the volume's host took\n"
    "it, then 'available'.  A volume with snapshots cannot be deleted; a new\n"
    "volume from one: nubo volume create NAME --snapshot SNAPSHOT.\n"
    "\n" CLOUD_COMMON_HELP;

static const char list_usage[] = "usage: nubo snapshot list [--limit N]\n"
                                 "\n"
                                 "Lists the project's volume snapshots, oldest first.\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char create_usage[] =
    "usage: nubo snapshot create VOLUME NAME\n"
    "\n"
    "Snapshots VOLUME (its name or id; available or in-use) as NAME.  Counts\n"
    "against the project's snapshots and volume_gib quotas.\n"
    "\n" CLOUD_COMMON_HELP;

static const char show_usage[] = "usage: nubo snapshot show SNAPSHOT\n"
                                 "\n"
                                 "Shows one snapshot.\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char rename_usage[] = "usage: nubo snapshot rename SNAPSHOT NAME\n"
                                   "\n"
                                   "Renames a snapshot.\n"
                                   "\n" CLOUD_COMMON_HELP;

static const char delete_usage[] =
    "usage: nubo snapshot delete SNAPSHOT...\n"
    "\n"
    "Deletes snapshots; one a volume is being made from is refused (HTTP 409).\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col snapshot_cols[] = {
    {"NAME", "name", CLOUD_STR},     {"ID", "id", CLOUD_STR},
    {"VOLUME", "volume", CLOUD_STR}, {"SIZE", "size_gib", CLOUD_GIB},
    {"STATUS", "status", CLOUD_STR},
};

static const struct cloud_col snapshot_fields[] = {
    {"name", "name", CLOUD_STR},          {"id", "id", CLOUD_STR},
    {"volume", "volume", CLOUD_STR},      {"volume id", "volume_id", CLOUD_STR},
    {"size", "size_gib", CLOUD_GIB},      {"status", "status", CLOUD_STR},
    {"fault", "fault", CLOUD_STR},        {"host", "host_id", CLOUD_STR},
    {"created", "created_at", CLOUD_STR}, {"updated", "updated_at", CLOUD_STR},
};

static const struct cloud_kind snapshot_kind = {
    .what = "snapshot",
    .collection = "/v1/snapshots",
    .key = "snapshots",
    .cols = snapshot_cols,
    .ncols = ARRAY_LEN(snapshot_cols),
    .fields = snapshot_fields,
    .nfields = ARRAY_LEN(snapshot_fields),
    .empty = "no snapshots",
};

static int snapshot_list(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_list(cli, argc, argv, &snapshot_kind, list_usage);
}

static int snapshot_show(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_show(cli, argc, argv, &snapshot_kind, show_usage);
}

static int snapshot_delete(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_delete(cli, argc, argv, &snapshot_kind, delete_usage);
}

/* The two arguments REF NAME of create and rename, checked; 0 or the exit
 * status of a usage error. */
static int two_args(struct cli *cli, int argc, char **argv, const char *usage, const char *what,
                    const char *ref_what)
{
    int rc;
    if ((rc = cli_options_common(cli, argc, argv, usage, false)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_HELP_SHOWN : rc;
    if ((rc = cli_args_check(cli, argc - optind, 2, 2, what)) != 0 ||
        (rc = cloud_ref_check(cli, argv[optind], ref_what)) != 0)
        return rc;
    if (valid_name(argv[optind + 1], "NAME", NULL) < 0)
        return cli_usage_error(cli, "NAME must be 1-63 of A-Z a-z 0-9 . _ - (starting with a"
                                    " letter or digit)");
    return 0;
}

static int snapshot_create(struct cli *cli, int argc, char **argv)
{
    struct nubo_err err;
    json_t *out = NULL;
    int rc = two_args(cli, argc, argv, create_usage, "a volume and the snapshot's name",
                      "a volume name or id");
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cloud_connect(cli)) != 0)
        return rc;
    json_t *body = json_pack("{s:s, s:s}", "volume_id", argv[optind], "name", argv[optind + 1]);
    if (cloud_create(cli, "/v1/snapshots", body, &out, &err) < 0)
        rc = cli_fail(cli, &err);
    else
        cloud_created_print(cli, "snapshot", out);
    json_decref(body);
    json_decref(out);
    return rc;
}

static int snapshot_rename(struct cli *cli, int argc, char **argv)
{
    char path[CLOUD_PATH_MAX];
    struct nubo_err err;
    json_t *out = NULL;
    int rc = two_args(cli, argc, argv, rename_usage, "a snapshot and its new name",
                      "a snapshot name or id");
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cloud_connect(cli)) != 0)
        return rc;
    snprintf(path, sizeof(path), "/v1/snapshots/%s", argv[optind]);
    json_t *body = json_pack("{s:s}", "name", argv[optind + 1]);
    if (cli_call(cli, "PATCH", path, body, &out, &err) < 0)
        rc = cli_fail(cli, &err);
    else
        cloud_object_print(cli, out, snapshot_fields, ARRAY_LEN(snapshot_fields));
    json_decref(body);
    json_decref(out);
    return rc;
}

int cmd_snapshot(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", snapshot_list},     {"create", snapshot_create}, {"show", snapshot_show},
        {"rename", snapshot_rename}, {"delete", snapshot_delete},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), snapshot_usage);
}
