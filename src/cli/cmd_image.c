/*
 * cmd_image.c - `nubo image ...`: the images instances boot from.
 *
 *   list      GET /v1/images (?name= ?status=)
 *   create    POST /v1/images (queued), then PUT /v1/images/{id}/kernel,
 *             /initrd and /file with the bytes streamed from the local
 *             files (the disk last: it makes the image active); or, with
 *             --register-path, POST /v1/images {file, ...} for files already
 *             on the controller's disk (admin)
 *   show      GET /v1/images/{id}
 *   delete    DELETE /v1/images/{id} (409 while instances use it)
 *
 * The routes take ids; names are resolved with ?name=.  An upload that
 * fails leaves a queued image behind, which create deletes again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/output.h"
#include "lib/util.h"
#include "lib/valid.h"

#define CMDLINE_MAX 1024

static const char image_usage[] =
    "usage: nubo image COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  list [--name N] [--status S]  the images you can use\n"
    "  create NAME --file DISK [--kernel F --initrd F] [--cmdline S]\n"
    "                                upload an image (qcow2 or raw)\n"
    "  create NAME --register-path /DISK [...]   register a file of the controller (admin)\n"
    "  show IMAGE                    one image\n"
    "  delete IMAGE...               remove images no instance uses\n"
    "\n"
    "IMAGE is an image's name (when unique) or id.\n"
    "\n" CLOUD_COMMON_HELP;

static const char list_usage[] =
    "usage: nubo image list [--name NAME] [--status queued|active|error] [--limit N]\n"
    "\n"
    "Lists the public images and your project's private ones, oldest first.\n"
    "\n" CLOUD_COMMON_HELP;

static const char create_usage[] =
    "usage: nubo image create NAME --file DISK [options]\n"
    "       nubo image create NAME --register-path /PATH/DISK [options]   (admin)\n"
    "\n"
    "Creates an image from a disk (qcow2 or raw), uploaded from this machine with\n"
    "progress on stderr; the controller checks it (qemu-img) and computes its\n"
    "sha256, then the image is active.  An image with a kernel (and initrd) boots\n"
    "them directly with the disk as /dev/vda; otherwise the disk's own boot loader\n"
    "starts.\n"
    "\n"
    "  --file DISK            the disk to upload\n"
    "  --register-path PATH   instead, a disk already on the controller's machine\n"
    "                         (an absolute path there; copied and checked; admin)\n"
    "  --kernel FILE          a kernel to boot directly (with --register-path: a\n"
    "                         path on the controller)\n"
    "  --initrd FILE          its initrd (same)\n"
    "  --cmdline TEXT         the kernel command line\n"
    "  --min-disk N           the smallest root disk it needs, in GiB\n"
    "  --public               visible to every project (admin); default: private\n"
    "                         to your project\n"
    "\n"
    "If an upload fails the half-made image is deleted again.\n"
    "\n" CLOUD_COMMON_HELP;

static const char show_usage[] = "usage: nubo image show IMAGE\n"
                                 "\n"
                                 "Shows one image.\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char delete_usage[] =
    "usage: nubo image delete IMAGE...\n"
    "\n"
    "Deletes images (yours, or any as an admin); one that instances use is refused\n"
    "(HTTP 409).\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col image_cols[] = {
    {"NAME", "name", CLOUD_STR},          {"ID", "id", CLOUD_STR},
    {"STATUS", "status", CLOUD_STR},      {"VISIBILITY", "visibility", CLOUD_STR},
    {"FORMAT", "disk_format", CLOUD_STR}, {"BOOT", "boot", CLOUD_STR},
    {"SIZE", "size_bytes", CLOUD_BYTES},  {"VIRTUAL SIZE", "virtual_size_bytes", CLOUD_BYTES},
    {"AGE", "created_at", CLOUD_AGE},
};

static const struct cloud_col image_fields[] = {
    {"name", "name", CLOUD_STR},
    {"id", "id", CLOUD_STR},
    {"status", "status", CLOUD_STR},
    {"visibility", "visibility", CLOUD_STR},
    {"format", "disk_format", CLOUD_STR},
    {"boot", "boot", CLOUD_STR},
    {"cmdline", "cmdline", CLOUD_STR},
    {"size", "size_bytes", CLOUD_BYTES},
    {"virtual size", "virtual_size_bytes", CLOUD_BYTES},
    {"min disk", "min_disk_gib", CLOUD_GIB},
    {"sha256", "checksum_sha256", CLOUD_STR},
    {"project id", "project_id", CLOUD_STR},
    {"created", "created_at", CLOUD_STR},
};

static const struct cloud_kind image_kind = {
    .what = "image",
    .collection = "/v1/images",
    .key = "images",
    .ids_only = true,
    .name_query = true,
    .cols = image_cols,
    .ncols = ARRAY_LEN(image_cols),
    .fields = image_fields,
    .nfields = ARRAY_LEN(image_fields),
    .empty = "no images (upload one: nubo image create NAME --file DISK)",
};

/* ------------------------------------------------------------------ list */

static int image_list(struct cli *cli, int argc, char **argv)
{
    enum { OPT_NAME = CLI_OPT_FIRST_FREE, OPT_STATUS, OPT_LIMIT };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"name", required_argument, NULL, OPT_NAME},
        {"status", required_argument, NULL, OPT_STATUS},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {NULL, 0, NULL, 0},
    };
    int c, rc;
    long long limit = 0;
    char path[CLOUD_PATH_MAX] = "/v1/images";
    struct nubo_err err;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(list_usage, stdout);
            return CLI_EXIT_OK;
        } else if (c == OPT_NAME || c == OPT_STATUS) {
            if (valid_name(optarg, c == OPT_NAME ? "--name" : "--status", &err) < 0)
                return cli_usage_error(cli, "%s", err.msg);
            cloud_query_add(path, sizeof(path), c == OPT_NAME ? "name" : "status", optarg, &err);
        } else if (c == OPT_LIMIT) {
            if ((rc = cloud_limit_parse(cli, optarg, &limit)) != 0)
                return rc;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    if ((rc = cli_args_check(cli, argc - optind, 0, 0, "no arguments")) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    return cloud_list_run(cli, &image_kind, path, limit);
}

static int image_show(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_show(cli, argc, argv, &image_kind, show_usage);
}

static int image_delete(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_delete(cli, argc, argv, &image_kind, delete_usage);
}

/* ---------------------------------------------------------------- create */

/* A local file to upload. */
struct upload_file {
    const char *path;
    const char *part; /* "file", "kernel", "initrd": the route's last word */
    FILE *f;
    long long size;
};

/* Opens an upload and learns its size.  Returns 0 or a usage error. */
static int upload_open(const struct cli *cli, struct upload_file *u, const char *flag)
{
    struct stat st;
    u->f = fopen(u->path, "rb");
    if (u->f == NULL)
        return cli_usage_error(cli, "%s: cannot read %s: %s", flag, u->path, strerror(errno));
    if (fstat(fileno(u->f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
        return cli_usage_error(cli, "%s: %s is not a file with data in it", flag, u->path);
    u->size = (long long)st.st_size;
    return 0;
}

/* Shows how far an upload is (the client's progress callback; arg is a
 * struct output_progress). */
static void upload_progress_cb(void *arg, long long sent, long long total)
{
    char detail[96], a[16], b[16];
    int pct = total > 0 ? (int)(sent * 100 / total) : 100;
    output_size((uint64_t)sent, a, sizeof(a));
    output_size((uint64_t)total, b, sizeof(b));
    if (sent >= total)
        snprintf(detail, sizeof(detail), "%s sent, the controller checks it", b);
    else
        snprintf(detail, sizeof(detail), "%d%% (%s of %s)", pct, a, b);
    output_progress_detail(arg, detail);
}

/* PUT /v1/images/{id}/{part} with the file's bytes; *image is replaced by
 * the answer. */
static int upload_put(struct cli *cli, const char *id, struct upload_file *u, json_t **image,
                      struct nubo_err *err)
{
    char path[CLOUD_PATH_MAX], label[256], size[16];
    const char *base = strrchr(u->path, '/');
    struct output_progress pr;
    snprintf(path, sizeof(path), "/v1/images/%s/%s", id, u->part);
    snprintf(label, sizeof(label), "uploading %s", base ? base + 1 : u->path);
    output_progress_start(&pr, label);
    struct client_req req = {
        .method = "PUT",
        .path = path,
        .upload = u->f,
        .upload_size = u->size,
        .progress = upload_progress_cb,
        .progress_arg = &pr,
    };
    json_t *answer = NULL;
    int64_t started = clock_mono_ms();
    int rc = client_call_req(cli->client, &req, &answer, err);
    output_progress_end(&pr);
    if (rc == 0) {
        /* A log (no terminal) otherwise ends at the first progress line. */
        if (!pr.tty) {
            output_size((uint64_t)u->size, size, sizeof(size));
            fprintf(stderr, "%s: %s sent and checked in %.1f s\n", label, size,
                    (double)(clock_mono_ms() - started) / 1000.0);
        }
        json_decref(*image);
        *image = answer;
    }
    return rc;
}

/* Options of image create. */
struct create_opts {
    const char *file, *register_path, *kernel, *initrd, *cmdline;
    long long min_disk;
    bool public, min_disk_set;
};

static int create_parse(struct cli *cli, int argc, char **argv, struct create_opts *o)
{
    enum {
        OPT_FILE = CLI_OPT_FIRST_FREE,
        OPT_REGISTER,
        OPT_KERNEL,
        OPT_INITRD,
        OPT_CMDLINE,
        OPT_MIN_DISK,
        OPT_PUBLIC,
    };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"file", required_argument, NULL, OPT_FILE},
        {"register-path", required_argument, NULL, OPT_REGISTER},
        {"kernel", required_argument, NULL, OPT_KERNEL},
        {"initrd", required_argument, NULL, OPT_INITRD},
        {"cmdline", required_argument, NULL, OPT_CMDLINE},
        {"min-disk", required_argument, NULL, OPT_MIN_DISK},
        {"public", no_argument, NULL, OPT_PUBLIC},
        {NULL, 0, NULL, 0},
    };
    int c, rc;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        switch (c) {
        case 'h':
            fputs(create_usage, stdout);
            return CLI_HELP_SHOWN;
        case OPT_FILE:
            o->file = optarg;
            break;
        case OPT_REGISTER:
            o->register_path = optarg;
            break;
        case OPT_KERNEL:
            o->kernel = optarg;
            break;
        case OPT_INITRD:
            o->initrd = optarg;
            break;
        case OPT_CMDLINE:
            if (strlen(optarg) > CMDLINE_MAX || strpbrk(optarg, "\r\n") != NULL)
                return cli_usage_error(cli, "--cmdline: one line of at most %d characters",
                                       CMDLINE_MAX);
            o->cmdline = optarg;
            break;
        case OPT_MIN_DISK:
            if ((rc = cloud_int_parse(cli, optarg, 0, 16384, "--min-disk", &o->min_disk)) != 0)
                return rc;
            o->min_disk_set = true;
            break;
        case OPT_PUBLIC:
            o->public = true;
            break;
        default:
            if ((rc = cli_option(cli, c, argv)) != 0)
                return rc;
        }
    }
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "the name of the new image")) != 0)
        return rc;
    struct nubo_err err;
    if (valid_name(argv[optind], "the image name", &err) < 0)
        return cli_usage_error(cli, "%s", err.msg);
    if ((o->file == NULL) == (o->register_path == NULL))
        return cli_usage_error(cli, "give either --file DISK (upload) or --register-path PATH");
    if (o->initrd && !o->kernel)
        return cli_usage_error(cli, "--initrd goes with --kernel");
    if (o->register_path) {
        const char *paths[] = {o->register_path, o->kernel, o->initrd};
        for (size_t i = 0; i < ARRAY_LEN(paths); i++)
            if (paths[i] && paths[i][0] != '/')
                return cli_usage_error(cli,
                                       "with --register-path, files are absolute paths on the "
                                       "controller (got '%.80s')",
                                       paths[i]);
    }
    return 0;
}

/* The body of POST /v1/images for these options; NULL after a usage
 * error (a cmdline that is not UTF-8). */
static json_t *create_body(const struct cli *cli, const char *name, const struct create_opts *o)
{
    json_t *body =
        json_pack("{s:s, s:s}", "name", name, "visibility", o->public ? "public" : "private");
    if (o->cmdline) {
        json_t *s = json_string(o->cmdline);
        if (s == NULL) {
            json_decref(body);
            cli_usage_error(cli, "--cmdline must be UTF-8 text");
            return NULL;
        }
        json_object_set_new(body, "cmdline", s);
    }
    if (o->min_disk_set)
        json_object_set_new(body, "min_disk_gib", json_integer(o->min_disk));
    if (o->register_path) {
        json_object_set_new(body, "file", json_string(o->register_path));
        if (o->kernel)
            json_object_set_new(body, "kernel_file", json_string(o->kernel));
        if (o->initrd)
            json_object_set_new(body, "initrd_file", json_string(o->initrd));
    }
    return body;
}

static int image_create(struct cli *cli, int argc, char **argv)
{
    struct create_opts o = {0};
    struct upload_file files[3] = {
        {.part = "kernel"}, {.part = "initrd"}, {.part = "file"}}; /* the disk last */
    int rc;
    char id[37] = "", path[CLOUD_PATH_MAX];
    struct nubo_err err;
    json_t *body = NULL, *image = NULL;

    if ((rc = create_parse(cli, argc, argv, &o)) != 0) {
        rc = rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
        goto cleanup;
    }
    const char *name = argv[optind];
    if (o.file) {
        files[0].path = o.kernel;
        files[1].path = o.initrd;
        files[2].path = o.file;
        static const char *const flags[] = {"--kernel", "--initrd", "--file"};
        for (size_t i = 0; i < ARRAY_LEN(files); i++)
            if (files[i].path && (rc = upload_open(cli, &files[i], flags[i])) != 0)
                goto cleanup;
    }
    rc = CLI_EXIT_USAGE;
    if ((body = create_body(cli, name, &o)) == NULL)
        goto cleanup;
    if ((rc = cloud_connect(cli)) != 0)
        goto cleanup;
    if (cloud_create(cli, "/v1/images", body, &image, &err) < 0)
        goto fail;
    if (o.file) {
        if (str_copy(id, sizeof(id), cli_json_str_or(image, "id", "")) < 0 || !valid_is_uuid(id)) {
            nubo_err_set(&err, NUBO_E_INTERNAL, "nubod answered without the new image's id");
            goto fail;
        }
        for (size_t i = 0; i < ARRAY_LEN(files); i++)
            if (files[i].f && upload_put(cli, id, &files[i], &image, &err) < 0)
                goto fail_delete;
    }
    if (!cli_print_json(cli, image)) {
        cloud_created_print(cli, "image", image);
        cloud_view_print(image, &image_fields[2], 7);
    }
    rc = CLI_EXIT_OK;
    goto cleanup;

fail_delete:
    rc = cli_fail(cli, &err);
    /* No half-made image left behind, unless the controller is gone or the
     * user pressed Ctrl-C (then say what is left). */
    snprintf(path, sizeof(path), "/v1/images/%s", id);
    if (rc == CLI_EXIT_FAIL && cli_call(cli, "DELETE", path, NULL, NULL, &err) == 0)
        fprintf(stderr, "nubo: the unfinished image %s is deleted\n", id);
    else
        fprintf(stderr, "nubo: image %s is left queued: 'nubo image delete %s' removes it\n", id,
                id);
    goto cleanup;
fail:
    rc = cli_fail(cli, &err);
cleanup:
    for (size_t i = 0; i < ARRAY_LEN(files); i++)
        if (files[i].f)
            fclose(files[i].f);
    json_decref(body);
    json_decref(image);
    return rc;
}

int cmd_image(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", image_list},
        {"create", image_create},
        {"show", image_show},
        {"delete", image_delete},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), image_usage);
}
