/*
 * cmd_volume.c - `nubo volume ...`: block storage volumes
 * (docs/internals/storage.md).
 *
 *   list      GET /v1/volumes
 *   create    POST /v1/volumes {name, size_gib, type?, source?: {snapshot} | {volume}}
 *   show      GET /v1/volumes/{id}
 *   rename    PATCH /v1/volumes/{id} {name}
 *   extend    POST /v1/volumes/{id}/actions {action: extend, size_gib}
 *   attach    POST /v1/volumes/{id}/actions {action: attach, instance}
 *   detach    POST /v1/volumes/{id}/actions {action: detach}
 *   delete    DELETE /v1/volumes/{id} (409 while attached)
 *   types     GET /v1/volume-types
 *
 * The routes take a volume's id or its name.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/opts.h"
#include "lib/util.h"
#include "lib/valid.h"

#define VOLUME_MAX_GIB 16384

static const char volume_usage[] =
    "usage: nubo volume COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  list                              the project's volumes\n"
    "  create NAME --size SIZE [--type T] a new volume (SIZE: 10, 10G, 1T; GiB)\n"
    "  create NAME --snapshot S [--size SIZE]  a copy of a snapshot (nubo snapshot)\n"
    "  create NAME --source-volume V [--size SIZE]  a copy of a volume (attached too)\n"
    "  show VOLUME                       one volume\n"
    "  rename VOLUME NAME                give a volume another name\n"
    "  extend VOLUME --size SIZE         grow a volume (volumes never shrink)\n"
    "  attach VOLUME INSTANCE            attach a volume to an instance\n"
    "  detach VOLUME                     detach a volume from its instance\n"
    "  delete VOLUME...                  remove volumes that are not attached\n"
    "  types                             the volume types the cloud offers\n"
    "\n"
    "VOLUME is a volume's name or id.  Attach and detach are carried out by the\n"
    "controller: the volume is 'attaching' or 'detaching' until its host did it\n"
    "(then 'in-use' or 'available'; 'error' with a fault when the host refused).\n"
    "\n" CLOUD_COMMON_HELP;

static const char list_usage[] = "usage: nubo volume list [--limit N]\n"
                                 "\n"
                                 "Lists the project's volumes, oldest first.\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char types_usage[] = "usage: nubo volume types [--limit N]\n"
                                  "\n"
                                  "Lists the cloud's volume types ('local' is the default).\n"
                                  "\n" CLOUD_COMMON_HELP;

static const char create_usage[] =
    "usage: nubo volume create NAME --size SIZE [--type TYPE]\n"
    "       nubo volume create NAME --snapshot SNAPSHOT [--size SIZE] [--type TYPE]\n"
    "       nubo volume create NAME --source-volume VOLUME [--size SIZE] [--type TYPE]\n"
    "\n"
    "Creates a volume of SIZE (whole GiB: 10, 10G, 1T; 1 GiB to 16 TiB) in the\n"
    "project.  TYPE is a volume type's name or id (default: local).  Counts against\n"
    "the project's volumes and volume_gib quotas.\n"
    "\n"
    "With --snapshot the volume is a copy of that snapshot of the project (its\n"
    "name or id): SIZE defaults to the snapshot's and may not be smaller.  It is\n"
    "'creating' until the snapshot's host made the copy, then 'available'.\n"
    "--source-volume copies a volume of the project as it is now (crash-consistent\n"
    "while a guest runs with it), by the same rules.\n"
    "\n" CLOUD_COMMON_HELP;

static const char show_usage[] = "usage: nubo volume show VOLUME\n"
                                 "\n"
                                 "Shows one volume.\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char rename_usage[] = "usage: nubo volume rename VOLUME NAME\n"
                                   "\n"
                                   "Renames a volume.\n"
                                   "\n" CLOUD_COMMON_HELP;

static const char extend_usage[] = "usage: nubo volume extend VOLUME --size SIZE\n"
                                   "\n"
                                   "Grows a volume to SIZE (whole GiB, larger than now).\n"
                                   "\n" CLOUD_COMMON_HELP;

static const char attach_usage[] =
    "usage: nubo volume attach VOLUME INSTANCE\n"
    "\n"
    "Attaches an available volume to an instance of the project (its name or\n"
    "id); the volume is 'attaching' until the instance's host has it, then\n"
    "'in-use' (nubo volume show).  A volume is on the host of the first\n"
    "instance it was attached to.\n"
    "\n" CLOUD_COMMON_HELP;

static const char detach_usage[] = "usage: nubo volume detach VOLUME\n"
                                   "\n"
                                   "Detaches a volume from its instance; it is 'detaching'\n"
                                   "until the guest released it, then 'available'.\n"
                                   "\n" CLOUD_COMMON_HELP;

static const char delete_usage[] =
    "usage: nubo volume delete VOLUME...\n"
    "\n"
    "Deletes volumes; an attached or busy one is refused (HTTP 409).\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col volume_cols[] = {
    {"NAME", "name", CLOUD_STR},     {"ID", "id", CLOUD_STR},
    {"SIZE", "size_gib", CLOUD_GIB}, {"TYPE", "type", CLOUD_STR},
    {"STATUS", "status", CLOUD_STR}, {"ATTACHED_TO", "attached_to", CLOUD_INSTANCE_ID},
};

static const struct cloud_col volume_fields[] = {
    {"name", "name", CLOUD_STR},
    {"id", "id", CLOUD_STR},
    {"size", "size_gib", CLOUD_GIB},
    {"type", "type", CLOUD_STR},
    {"backend", "backend", CLOUD_STR},
    {"status", "status", CLOUD_STR},
    {"fault", "fault", CLOUD_STR},
    {"host", "host_id", CLOUD_STR},
    {"attached to", "attached_to", CLOUD_STR},
    {"source snapshot", "source_snapshot", CLOUD_STR},
    {"source volume", "source_volume", CLOUD_STR},
    {"created", "created_at", CLOUD_STR},
    {"updated", "updated_at", CLOUD_STR},
};

static const struct cloud_kind volume_kind = {
    .what = "volume",
    .collection = "/v1/volumes",
    .key = "volumes",
    .cols = volume_cols,
    .ncols = ARRAY_LEN(volume_cols),
    .fields = volume_fields,
    .nfields = ARRAY_LEN(volume_fields),
    .empty = "no volumes",
};

static const struct cloud_col type_cols[] = {
    {"NAME", "name", CLOUD_STR},
    {"ID", "id", CLOUD_STR},
    {"BACKEND", "backend", CLOUD_STR},
    {"DESCRIPTION", "description", CLOUD_STR},
};

static const struct cloud_kind type_kind = {
    .what = "volume type",
    .collection = "/v1/volume-types",
    .key = "volume_types",
    .cols = type_cols,
    .ncols = ARRAY_LEN(type_cols),
    .fields = type_cols,
    .nfields = ARRAY_LEN(type_cols),
    .empty = "no volume types",
};

static int volume_list(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_list(cli, argc, argv, &volume_kind, list_usage);
}

static int volume_types(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_list(cli, argc, argv, &type_kind, types_usage);
}

static int volume_show(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_show(cli, argc, argv, &volume_kind, show_usage);
}

static int volume_delete(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_delete(cli, argc, argv, &volume_kind, delete_usage);
}

static const struct opts_field create_fields[] = {
    {.name = "size",
     .key = "size_gib",
     .type = FIELD_GIB,
     .min = 1,
     .max = VOLUME_MAX_GIB,
     .required = "--size SIZE is required (e.g. --size 10G)"},
    {.name = "type", .key = "type", .type = FIELD_REF, .what = "a volume type name or id"},
    {.name = "snapshot", .key = "snapshot", .type = FIELD_REF, .what = "a snapshot name or id"},
    {.name = "source-volume", .key = "volume", .type = FIELD_REF, .what = "a volume name or id"},
};

/* Like opts_cmd_create, but --snapshot S (--source-volume V) becomes
 * source {snapshot: S} ({volume: V}) and makes --size optional. */
static int volume_create(struct cli *cli, int argc, char **argv)
{
    struct nubo_err err;
    json_t *body = NULL, *out = NULL;
    int rc =
        opts_parse(cli, argc, argv, create_fields, ARRAY_LEN(create_fields), create_usage, &body);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "the name of the new volume")) != 0)
        goto done;
    if (valid_name(argv[optind], "the volume name", &err) < 0) {
        rc = cli_usage_error(cli, "%s", err.msg);
        goto done;
    }
    json_object_set_new(body, "name", json_string(argv[optind]));
    json_t *snap = json_object_get(body, "snapshot"), *src = json_object_get(body, "volume");
    if (snap != NULL && src != NULL) {
        rc = cli_usage_error(cli, "--snapshot and --source-volume exclude each other");
        goto done;
    }
    if (snap != NULL || src != NULL) {
        const char *k = snap ? "snapshot" : "volume";
        json_object_set_new(body, "source", json_pack("{s:O}", k, snap ? snap : src));
        json_object_del(body, k);
    } else if ((rc = opts_required(cli, create_fields, ARRAY_LEN(create_fields), body)) != 0) {
        goto done;
    }
    if ((rc = cloud_connect(cli)) != 0)
        goto done;
    if (cloud_create(cli, "/v1/volumes", body, &out, &err) < 0)
        rc = cli_fail(cli, &err);
    else
        cloud_created_print(cli, "volume", out);
done:
    json_decref(body);
    json_decref(out);
    return rc;
}

/* method path-of-VOLUME[suffix] body, and prints the volume it answers. */
static int call_print(struct cli *cli, const char *method, const char *ref, const char *suffix,
                      const json_t *body)
{
    char path[CLOUD_PATH_MAX];
    struct nubo_err err;
    json_t *out = NULL;
    int rc;
    if ((rc = cloud_ref_check(cli, ref, "a volume name or id")) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    snprintf(path, sizeof(path), "/v1/volumes/%s%s", ref, suffix);
    if (cli_call(cli, method, path, body, &out, &err) < 0)
        return cli_fail(cli, &err);
    cloud_object_print(cli, out, volume_fields, ARRAY_LEN(volume_fields));
    json_decref(out);
    return CLI_EXIT_OK;
}

static int volume_rename(struct cli *cli, int argc, char **argv)
{
    int rc;
    if ((rc = cli_options_common(cli, argc, argv, rename_usage, false)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 2, 2, "a volume and its new name")) != 0)
        return rc;
    if (valid_name(argv[optind + 1], "NAME", NULL) < 0)
        return cli_usage_error(cli, "NAME must be 1-63 of A-Z a-z 0-9 . _ - (starting with a"
                                    " letter or digit)");
    json_t *body = json_pack("{s:s}", "name", argv[optind + 1]);
    rc = call_print(cli, "PATCH", argv[optind], "", body);
    json_decref(body);
    return rc;
}

static const struct opts_field extend_fields[] = {
    {.name = "size",
     .key = "size_gib",
     .type = FIELD_GIB,
     .min = 1,
     .max = VOLUME_MAX_GIB,
     .required = "--size SIZE is required (e.g. --size 20G)"},
};

static int volume_extend(struct cli *cli, int argc, char **argv)
{
    json_t *body = NULL;
    int rc =
        opts_parse(cli, argc, argv, extend_fields, ARRAY_LEN(extend_fields), extend_usage, &body);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "a volume name or id")) == 0 &&
        (rc = opts_required(cli, extend_fields, ARRAY_LEN(extend_fields), body)) == 0) {
        json_object_set_new(body, "action", json_string("extend"));
        rc = call_print(cli, "POST", argv[optind], "/actions", body);
    }
    json_decref(body);
    return rc;
}

static int volume_attach(struct cli *cli, int argc, char **argv)
{
    int rc;
    if ((rc = cli_options_common(cli, argc, argv, attach_usage, false)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 2, 2, "a volume and an instance")) != 0 ||
        (rc = cloud_ref_check(cli, argv[optind + 1], "an instance name or id")) != 0)
        return rc;
    json_t *body = json_pack("{s:s, s:s}", "action", "attach", "instance", argv[optind + 1]);
    rc = call_print(cli, "POST", argv[optind], "/actions", body);
    json_decref(body);
    return rc;
}

static int volume_detach(struct cli *cli, int argc, char **argv)
{
    int rc;
    if ((rc = cli_options_common(cli, argc, argv, detach_usage, false)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "a volume name or id")) != 0)
        return rc;
    json_t *body = json_pack("{s:s}", "action", "detach");
    rc = call_print(cli, "POST", argv[optind], "/actions", body);
    json_decref(body);
    return rc;
}

int cmd_volume(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", volume_list},     {"create", volume_create}, {"show", volume_show},
        {"rename", volume_rename}, {"extend", volume_extend}, {"delete", volume_delete},
        {"attach", volume_attach}, {"detach", volume_detach}, {"types", volume_types},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), volume_usage);
}
