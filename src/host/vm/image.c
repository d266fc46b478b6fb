/*
 * image.c - see vm.h.
 */
#include "host/vm/vm_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/crypto.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/spawn.h"
#include "lib/util.h"
#include "lib/valid.h"

static int sidecar(const char *dir, const char *name, const char *ext, char *out, size_t n)
{
    snprintf(out, n, "%s/%s.%s", dir, name, ext);
    if (fs_exists(out))
        return 1;
    out[0] = '\0';
    return 0;
}

/* qemu-img's answers, by file identity: asking it costs a process and tens
 * of milliseconds, and every VM create and start resolves its image.  The
 * agent is single-threaded, so no lock. */
static struct size_cache {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    uint64_t vsize;
} size_cache[64];
static unsigned size_cache_next;

static int virtual_size(const char *path, const char *fmt, uint64_t *out, struct nubo_err *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return nubo_err_set(err, NUBO_E_NOTFOUND, "cannot read %s", path);
    for (size_t i = 0; i < ARRAY_LEN(size_cache); i++) {
        struct size_cache *c = &size_cache[i];
        if (c->ino == st.st_ino && c->dev == st.st_dev && c->size == st.st_size &&
            c->mtime.tv_sec == st.st_mtim.tv_sec && c->mtime.tv_nsec == st.st_mtim.tv_nsec &&
            c->vsize) {
            *out = c->vsize;
            return 0;
        }
    }
    char *argv[] = {"qemu-img",  "info", "--output=json", "-f",
                    (char *)fmt, "-U",   (char *)path,    NULL};
    char *text = NULL;
    if (spawn_run(argv, 10000, 1 << 20, &text, err) < 0) {
        free(text);
        return -1;
    }
    json_error_t je;
    json_t *info = json_loads(text, 0, &je);
    free(text);
    json_t *vs = json_object_get(info, "virtual-size");
    if (!json_is_integer(vs)) {
        json_decref(info);
        return nubo_err_set(err, NUBO_E_UNAVAILABLE, "qemu-img cannot tell its size");
    }
    *out = (uint64_t)json_integer_value(vs);
    json_decref(info);
    struct size_cache *c = &size_cache[size_cache_next++ % ARRAY_LEN(size_cache)];
    *c = (struct size_cache){
        .dev = st.st_dev, .ino = st.st_ino, .size = st.st_size, .mtime = st.st_mtim, .vsize = *out};
    return 0;
}

int image_resolve(const char *dir, const char *name, struct image *img, struct nubo_err *err)
{
    memset(img, 0, sizeof(*img));
    if (valid_name(name, "image name", err) < 0)
        return -1;
    str_copy(img->name, sizeof(img->name), name);
    static const char *fmts[] = {"qcow2", "raw"};
    const char *fmt = NULL;
    for (size_t i = 0; i < ARRAY_LEN(fmts) && fmt == NULL; i++)
        if (sidecar(dir, name, fmts[i], img->path, sizeof(img->path)))
            fmt = fmts[i];
    if (fmt == NULL)
        return nubo_err_set(err, NUBO_E_NOTFOUND,
                            "no base image named '%s' in %s (GET /v1/images lists them; "
                            "images/build-guest.sh builds nubo-tiny)",
                            name, dir);
    str_copy(img->format, sizeof(img->format), fmt);

    if (virtual_size(img->path, fmt, &img->virtual_size, err) < 0)
        return nubo_err_set(err, NUBO_E_UNAVAILABLE, "base image '%s' is unreadable: %s", name,
                            err->msg);
    struct stat st;
    if (stat(img->path, &st) == 0)
        img->file_size = (uint64_t)st.st_blocks * 512;

    if (sidecar(dir, name, "kernel", img->kernel, sizeof(img->kernel))) {
        if (!sidecar(dir, name, "initrd", img->initrd, sizeof(img->initrd)))
            img->initrd[0] = '\0';
        char path[PATH_MAX];
        if (sidecar(dir, name, "cmdline", path, sizeof(path))) {
            struct nubo_err e2;
            char *c = fs_read_file(path, sizeof(img->cmdline) - 1, NULL, &e2);
            if (c == NULL)
                return nubo_err_set(err, NUBO_E_UNAVAILABLE, "image '%s': %s", name, e2.msg);
            c[strcspn(c, "\r\n")] = '\0';
            str_copy(img->cmdline, sizeof(img->cmdline), c);
            free(c);
        }
    }
    return 0;
}

json_t *image_to_json(const struct image *img)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:s}", "name", img->name, "format", img->format,
                          "virtual_size", (json_int_t)img->virtual_size, "file_size",
                          (json_int_t)img->file_size, "boot", img->kernel[0] ? "kernel" : "disk");
    if (img->kernel[0])
        json_object_set_new(o, "cmdline", json_string(img->cmdline));
    return o;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

json_t *image_list(const char *dir)
{
    json_t *arr = json_array();
    DIR *d = opendir(dir);
    if (d == NULL)
        return arr;
    char *names[512] = {NULL};
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < ARRAY_LEN(names)) {
        const char *dot = strrchr(e->d_name, '.');
        if (dot == NULL || (strcmp(dot, ".qcow2") != 0 && strcmp(dot, ".raw") != 0))
            continue;
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(dot - e->d_name), e->d_name);
        if (valid_name(name, "image", NULL) < 0)
            continue;
        names[n++] = xstrdup(name);
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), name_cmp);
    for (size_t i = 0; i < n; i++) {
        struct image img;
        struct nubo_err err;
        if (image_resolve(dir, names[i], &img, &err) == 0)
            json_array_append_new(arr, image_to_json(&img));
        else
            log_warn("image %s: %s", names[i], err.msg);
        free(names[i]);
    }
    return arr;
}

/* ------------------------------------------------------------- uploads */

void image_clean_uploads(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, ".upload-", 8) == 0 && unlinkat(dirfd(d), e->d_name, 0) == 0)
            log_info("image upload %s: removed (interrupted)", e->d_name);
    }
    closedir(d);
}

bool image_part_valid(const char *part)
{
    static const char *parts[] = {"disk", "kernel", "initrd", "cmdline"};
    for (size_t i = 0; i < ARRAY_LEN(parts); i++)
        if (strcmp(part, parts[i]) == 0)
            return true;
    return false;
}

static bool sha256_hex_valid(const char *s)
{
    if (s == NULL || strlen(s) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* A kernel command line: one line of printable ASCII (a trailing newline
 * is allowed), at most 511 characters. */
static int cmdline_check(int fd, struct nubo_err *err)
{
    char buf[514];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n < 0)
        return nubo_err_set(err, NUBO_E_INTERNAL, "cannot read the upload: %s", strerror(errno));
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 511)
        return nubo_err_set(err, NUBO_E_INVALID, "a cmdline is at most 511 characters");
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] < 0x20 || buf[i] > 0x7e)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "a cmdline is one line of printable ASCII characters");
    return 0;
}

/* Asks qemu-img what the disk at path is; writes "qcow2" or "raw" into fmt.
 * Refuses backing files and external data files: a base image must not
 * reach for other files of the host. */
static int disk_check(const char *path, char fmt[8], struct nubo_err *err)
{
    char *argv[] = {"qemu-img", "info", "--output=json", "-U", (char *)path, NULL};
    char *out = NULL;
    if (spawn_run(argv, 30000, 1 << 20, &out, err) < 0) {
        free(out);
        return nubo_err_set(err, NUBO_E_INVALID, "the disk is not an image qemu-img can read");
    }
    json_error_t je;
    json_t *info = json_loads(out, 0, &je);
    free(out);
    const char *f = json_string_value(json_object_get(info, "format"));
    json_t *data_file = json_object_get(
        json_object_get(json_object_get(info, "format-specific"), "data"), "data-file");
    int rc = 0;
    if (f == NULL || (strcmp(f, "qcow2") != 0 && strcmp(f, "raw") != 0))
        rc = nubo_err_set(err, NUBO_E_INVALID, "the disk must be qcow2 or raw (it is %s)",
                          f ? f : "unknown");
    else if (json_object_get(info, "backing-filename") || data_file)
        rc = nubo_err_set(err, NUBO_E_INVALID,
                          "the disk must not have a backing file or an external data file");
    else if (json_integer_value(json_object_get(info, "virtual-size")) <= 0)
        rc = nubo_err_set(err, NUBO_E_INVALID, "the disk is empty");
    else
        str_copy(fmt, 8, f);
    json_decref(info);
    return rc;
}

int image_store_part(const char *dir, const char *name, const char *part, int fd,
                     const char *sha256, struct nubo_err *err)
{
    if (valid_name(name, "image name", err) < 0)
        return -1;
    if (!image_part_valid(part))
        return nubo_err_set(err, NUBO_E_NOTFOUND,
                            "unknown image part '%.32s' (disk, kernel, initrd or cmdline)", part);
    if (!sha256_hex_valid(sha256))
        return nubo_err_set(err, NUBO_E_INVALID,
                            "send the SHA-256 of the body (64 hex digits) in X-Checksum-Sha256");
    char fdpath[64], sum[CRYPTO_SHA256_HEX];
    snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
    if (crypto_sha256_file(fdpath, sum, NULL, err) < 0)
        return -1;
    if (strcasecmp(sum, sha256) != 0)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "checksum mismatch: the body's SHA-256 is %s, X-Checksum-Sha256 "
                            "says %.64s; nothing was stored",
                            sum, sha256);
    if (strcmp(part, "cmdline") == 0 && cmdline_check(fd, err) < 0)
        return -1;
    if (fsync(fd) < 0)
        return nubo_err_set(err, NUBO_E_INTERNAL, "cannot store the upload: %s", strerror(errno));
    /* Give the anonymous file a temporary name, check it, rename it. */
    char tmp[PATH_MAX], final[PATH_MAX], rnd[37];
    id_new(rnd);
    snprintf(tmp, sizeof(tmp), "%s/.upload-%s", dir, rnd);
    if (linkat(AT_FDCWD, fdpath, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) < 0)
        return nubo_err_set(err, NUBO_E_INTERNAL, "cannot store the upload in %s: %s", dir,
                            strerror(errno));
    chmod(tmp, 0600); /* a tenant's disk: ours and QEMU's (same user) */
    char other[PATH_MAX] = "";
    if (strcmp(part, "disk") == 0) {
        char fmt[8];
        if (disk_check(tmp, fmt, err) < 0) {
            unlink(tmp);
            return -1;
        }
        snprintf(final, sizeof(final), "%s/%s.%s", dir, name, fmt);
        snprintf(other, sizeof(other), "%s/%s.%s", dir, name,
                 strcmp(fmt, "qcow2") == 0 ? "raw" : "qcow2");
    } else {
        snprintf(final, sizeof(final), "%s/%s.%s", dir, name, part);
    }
    if (rename(tmp, final) < 0) {
        int e = errno;
        unlink(tmp);
        return nubo_err_set(err, NUBO_E_INTERNAL, "cannot store %s: %s", final, strerror(e));
    }
    if (other[0])
        unlink(other);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    log_info("image %s: %s stored (sha256 %.12s...)", name, part, sum);
    return 0;
}
