/*
 * image.c - images: the disks (and optional kernel + initrd) instances
 * boot from.
 *
 * An image is a row in `images` and up to three files in the controller's
 * image directory: <id>.disk, <id>.kernel, <id>.initrd (the reconciler
 * copies them to the hosts that need them, checking the disk's SHA-256).
 *
 * Life: created "queued" (no data), the owner uploads the kernel and the
 * initrd if the image boots a kernel directly, then the disk; the disk
 * upload checks the data and makes the image "active", after which its
 * files never change (hosts cache them by id).  An admin may instead
 * register files already on the controller's disk: they are copied,
 * checked and the image is active at once.
 *
 * Every byte that becomes a file here arrives in an unnamed O_TMPFILE in
 * the image directory (the HTTP server streams uploads into one; a
 * registration copies into one), is given a temporary name to be checked,
 * and is renamed to its final name only inside the write transaction that
 * records it, so a crash or a failed check never leaves a half-written
 * file under a name anything reads.
 *
 * Disk checks: only qcow2 and raw are accepted.  The format is taken from
 * the data's magic (never from qemu-img's probing, which would let a raw
 * disk pose as a qcow2 pointing at a host file), then
 * `qemu-img info --output=json -f FMT` must agree; a qcow2 with a backing
 * file or an external data file is refused, as such a file reaches outside
 * the image; a raw disk must be a whole number of 512-byte sectors.
 */
#include "compute/compute.h"
#include "compute/compute_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "billing/billing.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "lib/spawn.h"
#include "lib/util.h"
#include "lib/valid.h"
#include "lib/jsonx.h"

#define IMAGE_COLUMNS                                                                              \
    "g.id, g.name, g.visibility, g.status, g.disk_format, g.size_bytes, g.virtual_size_bytes,"     \
    " g.checksum_sha256, g.has_kernel, g.has_initrd, g.cmdline, g.min_disk_gib, g.project_id,"     \
    " g.created_at"
/* Images ctx may list: public ones and the project's; binds (project_id). */
#define IMAGE_LISTED "(g.visibility = 'public' OR g.project_id = ?)"
/* Images ctx may see one by one; binds (project_id, is_admin). */
#define IMAGE_VISIBLE "(g.visibility = 'public' OR g.project_id = ? OR ? = 1)"

#define IMAGE_CMDLINE_MAX 511
#define IMAGE_MAX_DISK_GIB 16384

static const char *const part_ext[] = {"disk", "kernel", "initrd"};

int compute_image_path(const char *image_dir, const char *id, enum compute_image_part part,
                       char *out, size_t n)
{
    int w = snprintf(out, n, "%s/%s.%s", image_dir, id, part_ext[part]);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* The API shape of an image row (consumes row). */
static json_t *image_json(json_t *row)
{
    int kernel = json_integer_value(json_object_get(row, "has_kernel")) != 0;
    json_object_set_new(row, "boot", json_string(kernel ? "kernel" : "disk"));
    json_object_del(row, "has_kernel");
    json_object_del(row, "has_initrd");
    return row;
}

/* The image row visible to ctx (any project for an admin), or NULL. */
static json_t *image_find(struct store *st, const struct ctx *ctx, const char *id,
                          struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *row = store_query_one(
        st, &qerr, "SELECT " IMAGE_COLUMNS " FROM images g WHERE g.id = ? AND " IMAGE_VISIBLE,
        "ssi", id, ctx->project_id, (long long)ctx->is_admin);
    if (row == NULL)
        compute_notfound(err, &qerr, "image", id, " (GET /v1/images lists the images you may use)");
    return row;
}

json_t *compute_image_resolve(struct store *st, const struct ctx *ctx, const char *ref,
                              struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *row = store_query_one(
        st, &qerr, "SELECT " IMAGE_COLUMNS " FROM images g WHERE g.id = ? AND " IMAGE_VISIBLE,
        "ssi", ref, ctx->project_id, (long long)ctx->is_admin);
    if (row || qerr.code != NUBO_E_NOTFOUND) {
        if (row == NULL)
            nubo_err_set(err, qerr.code, "%s", qerr.msg);
        return row;
    }
    /* By name: only among the images the project lists, and only when the
     * name is not ambiguous. */
    json_t *rows =
        store_query(st, err,
                    "SELECT " IMAGE_COLUMNS " FROM images g WHERE g.name = ? AND " IMAGE_LISTED
                    " ORDER BY g.created_at, g.id LIMIT 2",
                    "ss", ref, ctx->project_id);
    if (rows == NULL)
        return NULL;
    json_t *row1 = NULL;
    if (json_array_size(rows) == 0)
        nubo_err_set(err, NUBO_E_NOTFOUND,
                     "no image '%.64s' (GET /v1/images lists the images you may use)", ref);
    else if (json_array_size(rows) > 1)
        nubo_err_set(err, NUBO_E_INVALID,
                     "several images are named '%.64s'; give the image's id instead", ref);
    else
        row1 = json_incref(json_array_get(rows, 0));
    json_decref(rows);
    return row1;
}

json_t *compute_image_list(struct store *st, const struct ctx *ctx, const char *name,
                           const char *status, int limit, const char *marker, struct nubo_err *err)
{
    static const char *const statuses[] = {"queued", "active", "error", NULL};
    struct store_page pg = {.marker = marker, .limit = limit};
    if (status && !compute_word_in(status, statuses)) {
        nubo_err_set(err, NUBO_E_INVALID, "status must be queued, active or error");
        return NULL;
    }
    if (store_page_start(st, &pg, err,
                         "SELECT g.created_at FROM images g WHERE g.id = ? AND " IMAGE_LISTED, "ss",
                         marker, ctx->project_id) < 0)
        return NULL;
    json_t *rows = store_page_query(st, &pg, "g.created_at, g.id", err,
                                    "SELECT " IMAGE_COLUMNS " FROM images g WHERE " IMAGE_LISTED
                                    " AND (? = '' OR g.name = ?) AND (? = '' OR g.status = ?)",
                                    "sssss", ctx->project_id, name ? name : "", name ? name : "",
                                    status ? status : "", status ? status : "");
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r)
        image_json(r);
    return rows;
}

json_t *compute_image_get(struct store *st, const struct ctx *ctx, const char *id,
                          struct nubo_err *err)
{
    json_t *row = image_find(st, ctx, id, err);
    return row ? image_json(row) : NULL;
}

/* ------------------------------------------------------------ files */

/* Flushes the image directory, so that renames in it survive a crash. */
static void dir_sync(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* A new unnamed file in the image directory, or -1 with err. */
static int tmpfile_open(const char *image_dir, struct nubo_err *err)
{
    int fd = open(image_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_error("image: cannot create a file in %s: %s", image_dir, strerror(errno));
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot store image data on the controller");
    }
    return fd;
}

/* Writes all of data to fd. */
static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Copies the regular file at path (absolute, given by an admin) into a new
 * unnamed file in the image directory.  Returns its fd or -1 with err. */
static int file_copy_in(const char *image_dir, const char *path, const char *what,
                        struct nubo_err *err)
{
    if (path[0] != '/' || strlen(path) >= PATH_MAX) {
        nubo_err_set(err, NUBO_E_INVALID, "%s must be an absolute path on the controller", what);
        return -1;
    }
    int in = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (in < 0) {
        nubo_err_set(err, NUBO_E_INVALID, "%s: cannot open it: %s", what, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(in, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        nubo_err_set(err, NUBO_E_INVALID, "%s is not a regular file", what);
        close(in);
        return -1;
    }
    int out = tmpfile_open(image_dir, err);
    if (out < 0) {
        close(in);
        return -1;
    }
    char buf[1 << 16];
    for (;;) {
        ssize_t r = read(in, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || (r > 0 && write_all(out, buf, (size_t)r) < 0)) {
            log_error("image: copying %s: %s", path, strerror(errno));
            nubo_err_set(err, r < 0 ? NUBO_E_INVALID : NUBO_E_INTERNAL, "%s: cannot copy it: %s",
                         what, strerror(errno));
            close(in);
            close(out);
            return -1;
        }
        if (r == 0)
            break;
    }
    close(in);
    return out;
}

/* Gives the unnamed file fd a temporary name next to its final one:
 * <dir>/<id>.<part>.part-<random>.  The caller unlinks it or renames it. */
static int stage(const char *image_dir, const char *id, enum compute_image_part part, int fd,
                 char staged[PATH_MAX], struct nubo_err *err)
{
    char rnd[37], proc[64];
    id_new(rnd);
    rnd[8] = '\0';
    int w = snprintf(staged, PATH_MAX, "%s/%s.%s.part-%s", image_dir, id, part_ext[part], rnd);
    if (w < 0 || w >= PATH_MAX)
        return nubo_err_set(err, NUBO_E_INTERNAL, "the image directory's path is too long");
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    if (fsync(fd) < 0 || linkat(AT_FDCWD, proc, AT_FDCWD, staged, AT_SYMLINK_FOLLOW) < 0) {
        log_error("image: cannot name %s: %s", staged, strerror(errno));
        staged[0] = '\0';
        return nubo_err_set(err, NUBO_E_INTERNAL, "cannot store image data on the controller");
    }
    return 0;
}

/* Reads the first n bytes of path into buf; returns how many were read. */
static size_t head_read(const char *path, unsigned char *buf, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t r = pread(fd, buf, n, 0);
    close(fd);
    return r > 0 ? (size_t)r : 0;
}

/* Formats nubo refuses, by their magic, to name them in the message. */
static const char *foreign_format(const unsigned char *h, size_t n)
{
    static const struct {
        size_t off;
        const char *magic;
        size_t len;
        const char *name;
    } magics[] = {
        {0, "KDMV", 4, "vmdk"},
        {0, "# Disk DescriptorFile", 21, "vmdk"},
        {0, "COWD", 4, "vmdk"},
        {0, "vhdxfile", 8, "vhdx"},
        {0, "conectix", 8, "vhd"},
        {0, "QED\0", 4, "qed"},
        {0, "LUKS\xba\xbe", 6, "luks"},
        {0, "<<< ", 4, "vdi"},
        {0, "\x1f\x8b", 2, "gzip-compressed"},
        {0,
         "\xfd"
         "7zXZ",
         5, "xz-compressed"},
        {0, "BZh", 3, "bzip2-compressed"},
        {0, "\x28\xb5\x2f\xfd", 4, "zstd-compressed"},
    };
    for (size_t i = 0; i < ARRAY_LEN(magics); i++)
        if (magics[i].off + magics[i].len <= n &&
            memcmp(h + magics[i].off, magics[i].magic, magics[i].len) == 0)
            return magics[i].name;
    return NULL;
}

/* What a disk check learns. */
struct disk_info {
    char format[8];
    long long virtual_size;
};

/* Runs `qemu-img check` on a qcow2: its header alone (all `info` reads)
 * says nothing about the rest, e.g. a cut upload.  Leaked clusters are
 * harmless; corruptions and errors are not. */
static int qcow2_check(const char *path, struct nubo_err *err)
{
    char *argv[] = {"qemu-img", "check", "--output=json", "-f", "qcow2", (char *)path, NULL};
    char *out = NULL;
    struct nubo_err serr;
    json_t *res = NULL;
    int rc = -1;
    if (spawn_run(argv, 300000, 1 << 20, &out, &serr) < 0 && serr.code == NUBO_E_TIMEOUT) {
        nubo_err_set(err, NUBO_E_UNAVAILABLE, "checking the qcow2 image took too long");
        goto cleanup;
    }
    /* The report is on stdout, problems on stderr, both in out: the
     * report is the block starting with a '{' at the start of a line. */
    const char *brace = out && out[0] == '{' ? out : (out ? strstr(out, "\n{") : NULL);
    json_error_t je;
    if (brace)
        res = json_loads(brace + (*brace == '\n'), JSON_DISABLE_EOF_CHECK, &je);
    json_t *corrupt = json_object_get(res, "corruptions"),
           *errs = json_object_get(res, "check-errors");
    if (res == NULL || json_integer_value(corrupt) > 0 || json_integer_value(errs) > 0) {
        log_debug("image: qemu-img check %s: %s", path, out ? out : "");
        nubo_err_set(err, NUBO_E_INVALID,
                     "the qcow2 image is damaged or incomplete (qemu-img check found %lld "
                     "corruption(s)); upload it again, whole",
                     (long long)json_integer_value(corrupt));
        goto cleanup;
    }
    rc = 0;
cleanup:
    json_decref(res);
    free(out);
    return rc;
}

/* Checks the disk at path (see the top of the file). */
static int disk_check(const char *path, long long size, struct disk_info *di, struct nubo_err *err)
{
    unsigned char h[64];
    size_t hn = head_read(path, h, sizeof(h));
    const char *foreign = foreign_format(h, hn);
    if (size <= 0)
        return nubo_err_set(err, NUBO_E_INVALID, "the disk is empty; upload a qcow2 or raw image");
    if (foreign)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "the disk is a %s file; only qcow2 and raw images are accepted "
                            "(convert it with: qemu-img convert -O qcow2 IN OUT)",
                            foreign);
    int qcow2 = hn >= 4 && memcmp(h, "QFI\xfb", 4) == 0;
    if (!qcow2 && size % 512 != 0)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "the data is not a disk image: it is not qcow2, and %lld bytes is not "
                            "a whole number of 512-byte sectors as a raw disk must be",
                            size);
    str_copy(di->format, sizeof(di->format), qcow2 ? "qcow2" : "raw");
    char *argv[] = {"qemu-img", "info", "--output=json", "-f", di->format, (char *)path, NULL};
    char *out = NULL;
    struct nubo_err serr;
    json_t *info = NULL;
    int rc = -1;
    if (spawn_run(argv, 30000, 1 << 20, &out, &serr) < 0) {
        log_debug("image: qemu-img info %s: %s", path, serr.msg);
        if (serr.code == NUBO_E_TIMEOUT || (out && strncmp(out, "cannot execute", 14) == 0))
            nubo_err_set(err, NUBO_E_UNAVAILABLE,
                         "the controller cannot check images (qemu-img failed); retry later");
        else
            nubo_err_set(err, NUBO_E_INVALID,
                         "the data is not a valid %s image (qemu-img cannot read it)", di->format);
        goto cleanup;
    }
    json_error_t je;
    info = json_loads(out, 0, &je);
    const char *fmt = json_string_value(json_object_get(info, "format"));
    json_t *vs = json_object_get(info, "virtual-size");
    json_t *data = json_object_get(json_object_get(info, "format-specific"), "data");
    if (fmt == NULL || strcmp(fmt, di->format) != 0 || !json_is_integer(vs) ||
        json_integer_value(vs) <= 0) {
        nubo_err_set(err, NUBO_E_INVALID, "the data is not a valid %s image", di->format);
        goto cleanup;
    }
    if (json_object_get(info, "backing-filename") ||
        json_object_get(info, "full-backing-filename")) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "the qcow2 image has a backing file; upload a standalone image "
                     "(qemu-img convert -O qcow2 IN OUT flattens it)");
        goto cleanup;
    }
    if (json_object_get(data, "data-file")) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "the qcow2 image keeps its data in an external file; upload a standalone "
                     "image (qemu-img convert -O qcow2 IN OUT)");
        goto cleanup;
    }
    if (json_is_true(json_object_get(data, "corrupt"))) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "the qcow2 image is marked corrupt; repair it with qemu-img check -r all");
        goto cleanup;
    }
    di->virtual_size = json_integer_value(vs);
    if (di->virtual_size > (long long)IMAGE_MAX_DISK_GIB << 30) {
        nubo_err_set(err, NUBO_E_INVALID, "the disk's virtual size is over %d GiB",
                     IMAGE_MAX_DISK_GIB);
        goto cleanup;
    }
    if (qcow2 && qcow2_check(path, err) < 0)
        goto cleanup;
    rc = 0;
cleanup:
    json_decref(info);
    free(out);
    return rc;
}

/* The size of the file at path, or -1. */
static long long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/* Checks a staged kernel or initrd. */
static int blob_check(const char *path, enum compute_image_part part, struct nubo_err *err)
{
    if (file_size(path) <= 0)
        return nubo_err_set(err, NUBO_E_INVALID, "the %s is empty", part_ext[part]);
    return 0;
}

/* A staged disk and what its check found. */
struct staged_disk {
    char path[PATH_MAX];
    struct disk_info di;
    char sha[CRYPTO_SHA256_HEX];
    long long size;
};

/* Stages fd as the disk of image id, checks it and hashes it.  On failure
 * the staged file is gone. */
static int disk_stage(const char *image_dir, const char *id, int fd, struct staged_disk *sd,
                      struct nubo_err *err)
{
    if (stage(image_dir, id, COMPUTE_IMAGE_DISK, fd, sd->path, err) < 0)
        return -1;
    sd->size = file_size(sd->path);
    if (disk_check(sd->path, sd->size, &sd->di, err) < 0 ||
        crypto_sha256_file(sd->path, sd->sha, &sd->size, err) < 0) {
        unlink(sd->path);
        sd->path[0] = '\0';
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- create */

static int spec_check(const struct ctx *ctx, const struct compute_image_spec *s,
                      struct nubo_err *err)
{
    if (valid_name(s->name, "image name", err) < 0)
        return -1;
    if (s->visibility && strcmp(s->visibility, "public") != 0 &&
        strcmp(s->visibility, "private") != 0)
        return nubo_err_set(err, NUBO_E_INVALID, "visibility must be public or private");
    if (s->visibility && strcmp(s->visibility, "public") == 0 && !ctx->is_admin)
        return nubo_err_set(err, NUBO_E_FORBIDDEN,
                            "only a cloud admin may create public images; create a private one");
    if (s->cmdline) {
        if (strlen(s->cmdline) > IMAGE_CMDLINE_MAX)
            return nubo_err_set(err, NUBO_E_INVALID, "cmdline is longer than %d characters",
                                IMAGE_CMDLINE_MAX);
        for (const char *p = s->cmdline; *p; p++)
            if (*p < 0x20 || *p > 0x7e)
                return nubo_err_set(err, NUBO_E_INVALID,
                                    "cmdline may contain only printable ASCII characters");
    }
    if (s->min_disk_gib < 0 || s->min_disk_gib > IMAGE_MAX_DISK_GIB)
        return nubo_err_set(err, NUBO_E_INVALID, "min_disk_gib must be from 0 to %d",
                            IMAGE_MAX_DISK_GIB);
    if ((s->file || s->kernel_file || s->initrd_file) && !ctx->is_admin)
        return nubo_err_set(err, NUBO_E_FORBIDDEN,
                            "only a cloud admin may register files on the controller's disk; "
                            "create the image and upload its data (PUT /v1/images/{id}/file)");
    if ((s->kernel_file || s->initrd_file) && s->file == NULL)
        return nubo_err_set(err, NUBO_E_INVALID, "kernel_file and initrd_file need file");
    if (s->initrd_file && s->kernel_file == NULL)
        return nubo_err_set(err, NUBO_E_INVALID, "initrd_file needs kernel_file");
    return 0;
}

/* ------------------------------------------------------------- quotas */

/* The project's images (every status) and the bytes of their disks. */
static int image_usage(struct store *st, const char *project_id, long long *count, long long *bytes,
                       struct nubo_err *err)
{
    json_t *r = store_query_one(st, err,
                                "SELECT COUNT(*) AS n, COALESCE(SUM(size_bytes), 0) AS bytes"
                                " FROM images WHERE project_id = ?",
                                "s", project_id);
    if (r == NULL)
        return -1;
    *count = (long long)json_integer_value(json_object_get(r, "n"));
    *bytes = (long long)json_integer_value(json_object_get(r, "bytes"));
    json_decref(r);
    return 0;
}

/* Checks, in the write transaction that records them, that images more
 * images and bytes more bytes of disk fit project_id's quotas. */
static int image_quota_check(struct store *st, const char *project_id, long long images,
                             long long bytes, struct nubo_err *err)
{
    long long count = 0, used = 0;
    if (project_id[0] == '\0') /* a cloud image of no project */
        return 0;
    if (image_usage(st, project_id, &count, &used, err) < 0 ||
        (images > 0 && quota_check_count(st, project_id, QUOTA_IMAGES, images, count, err) < 0) ||
        (bytes > 0 && quota_check_count(st, project_id, QUOTA_IMAGE_GIB, bytes, used, err) < 0))
        return -1;
    return 0;
}

int compute_quota_usage(struct store *st, const char *project_id, long long used[QUOTA_DIMS],
                        struct nubo_err *err)
{
    struct quota_usage u;
    if (compute_usage(st, project_id, &u, err) < 0)
        return -1;
    used[QUOTA_INSTANCES] = u.instances;
    used[QUOTA_VCPUS] = u.vcpus;
    used[QUOTA_RAM_MIB] = u.ram_mib;
    used[QUOTA_DISK_GIB] = u.disk_gib;
    if (compute_count(st, project_id, QUOTA_KEYPAIRS, &used[QUOTA_KEYPAIRS], err) < 0 ||
        compute_count(st, project_id, QUOTA_SERVER_GROUPS, &used[QUOTA_SERVER_GROUPS], err) < 0)
        return -1;
    return image_usage(st, project_id, &used[QUOTA_IMAGES], &used[QUOTA_IMAGE_GIB], err);
}

json_t *compute_image_create(struct store *st, const struct ctx *ctx, const char *image_dir,
                             const struct compute_image_spec *spec, struct nubo_err *err)
{
    char id[37], now[32], final[PATH_MAX];
    struct staged_disk sd = {.path = ""};
    char staged[2][PATH_MAX] = {"", ""}; /* kernel, initrd */
    const char *blobs[2] = {spec->kernel_file, spec->initrd_file};
    int fd = -1, linked = 0;
    json_t *out = NULL;
    if (spec_check(ctx, spec, err) < 0)
        return NULL;
    id_new(id);
    const char *vis = spec->visibility ? spec->visibility : "private";
    if (spec->file) {
        fd = file_copy_in(image_dir, spec->file, "file", err);
        if (fd < 0 || disk_stage(image_dir, id, fd, &sd, err) < 0)
            goto cleanup;
        close(fd);
        fd = -1;
        for (int i = 0; i < 2; i++) {
            if (blobs[i] == NULL)
                continue;
            enum compute_image_part part = i == 0 ? COMPUTE_IMAGE_KERNEL : COMPUTE_IMAGE_INITRD;
            fd = file_copy_in(image_dir, blobs[i], i == 0 ? "kernel_file" : "initrd_file", err);
            if (fd < 0 || stage(image_dir, id, part, fd, staged[i], err) < 0 ||
                blob_check(staged[i], part, err) < 0)
                goto cleanup;
            close(fd);
            fd = -1;
        }
    }
    /* The files take their final names first: the id is new, so nothing
     * reads them until the row exists. */
    if (spec->file) {
        for (int i = -1; i < 2; i++) {
            const char *from = i < 0 ? sd.path : staged[i];
            if (from[0] == '\0')
                continue;
            compute_image_path(image_dir, id, (enum compute_image_part)(i + 1), final,
                               sizeof(final));
            if (rename(from, final) < 0) {
                log_error("image: cannot rename %s: %s", from, strerror(errno));
                nubo_err_set(err, NUBO_E_INTERNAL, "cannot store image data on the controller");
                goto cleanup;
            }
            if (i < 0)
                sd.path[0] = '\0';
            else
                staged[i][0] = '\0';
            linked = 1;
        }
        dir_sync(image_dir);
    }
    clock_stamp(now);
    long long rows = -1;
    if (store_begin(st, true, err) < 0)
        goto cleanup;
    if (image_quota_check(st, ctx->project_id, 1, spec->file ? sd.size : 0, err) < 0)
        rows = -1;
    else if (spec->file)
        rows = store_exec(
            st, err,
            "INSERT INTO images (id, name, project_id, visibility, status,"
            " disk_format, size_bytes, virtual_size_bytes, checksum_sha256,"
            " has_kernel, has_initrd, cmdline, min_disk_gib, created_at) VALUES"
            " (?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            "sssssiisiisis", id, spec->name, ctx->project_id, vis, sd.di.format, sd.size,
            sd.di.virtual_size, sd.sha, (long long)(spec->kernel_file != NULL),
            (long long)(spec->initrd_file != NULL), spec->cmdline, spec->min_disk_gib, now);
    else /* queued: what the disk will tell stays NULL until it comes */
        rows = store_exec(st, err,
                          "INSERT INTO images (id, name, project_id, visibility, status, cmdline,"
                          " min_disk_gib, created_at) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)",
                          "sssssis", id, spec->name, ctx->project_id, vis, spec->cmdline,
                          spec->min_disk_gib, now);
    if (rows < 0 || billing_image_meter(st, id, err) < 0 || store_commit(st, err) < 0) {
        store_rollback(st);
        goto cleanup;
    }
    linked = 0;
    if (spec->file)
        log_info("image %s (%s): registered from %s, %s, %lld bytes, sha256 %s", id, spec->name,
                 spec->file, sd.di.format, sd.size, sd.sha);
    out = image_find(st, ctx, id, err);
    if (out)
        image_json(out);
cleanup:
    if (fd >= 0)
        close(fd);
    if (sd.path[0])
        unlink(sd.path);
    for (int i = 0; i < 2; i++)
        if (staged[i][0])
            unlink(staged[i]);
    if (linked) {
        for (int i = 0; i < 3; i++)
            if (compute_image_path(image_dir, id, (enum compute_image_part)i, final,
                                   sizeof(final)) == 0)
                unlink(final);
    }
    return out;
}

/* ------------------------------------------------------------- upload */

json_t *compute_image_upload(struct store *st, const struct ctx *ctx, const char *image_dir,
                             const char *id, enum compute_image_part part, int fd, const void *data,
                             size_t len, struct nubo_err *err)
{
    char staged[PATH_MAX] = "", final[PATH_MAX];
    struct staged_disk sd = {.path = ""};
    int own_fd = -1, in_tx = 0;
    json_t *img = image_find(st, ctx, id, err), *out = NULL;
    if (img == NULL)
        return NULL;
    if (strcmp(jsonx_str(img, "project_id"), ctx->project_id) != 0 && !ctx->is_admin) {
        nubo_err_set(err, NUBO_E_FORBIDDEN, "only members of the image's project may upload to it");
        goto cleanup;
    }
    if (strcmp(jsonx_str(img, "status"), "active") == 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "image '%s' is active: its data can no longer change (upload the kernel "
                     "and initrd before the disk; create a new image to change it)",
                     jsonx_str(img, "name"));
        goto cleanup;
    }
    if (fd < 0) {
        own_fd = fd = tmpfile_open(image_dir, err);
        if (fd < 0)
            goto cleanup;
        if (write_all(fd, data, len) < 0) {
            nubo_err_set(err, NUBO_E_INTERNAL, "cannot store image data on the controller");
            goto cleanup;
        }
    }
    if (part == COMPUTE_IMAGE_DISK) {
        if (disk_stage(image_dir, id, fd, &sd, err) < 0)
            goto cleanup;
        str_copy(staged, sizeof(staged), sd.path);
        sd.path[0] = '\0';
    } else if (stage(image_dir, id, part, fd, staged, err) < 0 ||
               blob_check(staged, part, err) < 0) {
        goto cleanup;
    }
    compute_image_path(image_dir, id, part, final, sizeof(final));
    /* Record and rename under the write lock: a concurrent upload or delete
     * of the same image waits, then sees the state this one left. */
    if (store_begin(st, true, err) < 0)
        goto cleanup;
    in_tx = 1;
    long long n;
    /* The disk's bytes count against the image's project once it is
     * complete (kernel and initrd are not measured: small, and bounded by
     * the upload limit). */
    if (part == COMPUTE_IMAGE_DISK &&
        image_quota_check(st, jsonx_str(img, "project_id"), 0, sd.size, err) < 0)
        goto cleanup;
    if (part == COMPUTE_IMAGE_DISK)
        n = store_exec(st, err,
                       "UPDATE images SET status = 'active', disk_format = ?, size_bytes = ?,"
                       " virtual_size_bytes = ?, checksum_sha256 = ? WHERE id = ? AND"
                       " status <> 'active'",
                       "siiss", sd.di.format, sd.size, sd.di.virtual_size, sd.sha, id);
    else
        n = store_exec(st, err,
                       part == COMPUTE_IMAGE_KERNEL
                           ? "UPDATE images SET has_kernel = 1 WHERE id = ? AND status <> 'active'"
                           : "UPDATE images SET has_initrd = 1 WHERE id = ? AND status <> 'active'",
                       "s", id);
    if (n < 0)
        goto cleanup;
    if (n == 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "image '%s' changed meanwhile (deleted, or made active by another upload)",
                     jsonx_str(img, "name"));
        goto cleanup;
    }
    if (billing_image_meter(st, id, err) < 0)
        goto cleanup;
    if (rename(staged, final) < 0) {
        log_error("image: cannot rename %s: %s", staged, strerror(errno));
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot store image data on the controller");
        goto cleanup;
    }
    staged[0] = '\0';
    dir_sync(image_dir);
    if (store_commit(st, err) < 0)
        goto cleanup;
    in_tx = 0;
    if (part == COMPUTE_IMAGE_DISK)
        log_info("image %s: disk uploaded, %s, %lld bytes, sha256 %s", id, sd.di.format, sd.size,
                 sd.sha);
    out = image_find(st, ctx, id, err);
    if (out)
        image_json(out);
cleanup:
    if (in_tx)
        store_rollback(st);
    if (staged[0])
        unlink(staged);
    if (own_fd >= 0)
        close(own_fd);
    json_decref(img);
    return out;
}

/* ------------------------------------------------------------- delete */

int compute_image_delete(struct store *st, const struct ctx *ctx, const char *image_dir,
                         const char *id, struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *img = NULL, *use = NULL;
    int rc = -1;
    if (store_begin(st, true, err) < 0)
        return -1;
    img = image_find(st, ctx, id, err);
    if (img == NULL)
        goto cleanup;
    if (strcmp(jsonx_str(img, "project_id"), ctx->project_id) != 0 && !ctx->is_admin) {
        nubo_err_set(err, NUBO_E_FORBIDDEN,
                     "only members of the image's project or an admin may delete it");
        goto cleanup;
    }
    use = store_query_one(st, &qerr,
                          "SELECT COUNT(*) AS n FROM instances WHERE image_id = ? AND"
                          " status <> 'deleted'",
                          "s", id);
    if (use == NULL) {
        nubo_err_set(err, qerr.code, "%s", qerr.msg);
        goto cleanup;
    }
    long long n = json_integer_value(json_object_get(use, "n"));
    if (n > 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "image '%s' is used by %lld instance(s); delete them first",
                     jsonx_str(img, "name"), n);
        goto cleanup;
    }
    if (store_exec(st, err, "DELETE FROM images WHERE id = ?", "s", id) < 0 ||
        billing_image_meter(st, id, err) < 0 || store_commit(st, err) < 0)
        goto cleanup;
    for (int i = 0; i < 3; i++) {
        char path[PATH_MAX];
        if (compute_image_path(image_dir, id, (enum compute_image_part)i, path, sizeof(path)) ==
                0 &&
            unlink(path) < 0 && errno != ENOENT)
            log_warn("image %s: cannot remove %s: %s", id, path, strerror(errno));
    }
    rc = 0;
cleanup:
    if (rc < 0)
        store_rollback(st);
    json_decref(use);
    json_decref(img);
    return rc;
}
