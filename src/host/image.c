/*
 * image.c - see image.h.
 */
#include "host/image.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

    char *argv[] = {"qemu-img", "info", "--output=json", "-f", (char *)fmt, "-U", img->path, NULL};
    char *out = NULL;
    if (spawn_run(argv, 10000, 1 << 20, &out, err) < 0) {
        free(out);
        return nubo_err_set(err, NUBO_E_UNAVAILABLE, "base image '%s' is unreadable: %s", name,
                            err->msg);
    }
    json_error_t je;
    json_t *info = json_loads(out, 0, &je);
    free(out);
    json_t *vs = json_object_get(info, "virtual-size");
    if (!json_is_integer(vs)) {
        json_decref(info);
        return nubo_err_set(err, NUBO_E_UNAVAILABLE, "qemu-img cannot tell the size of image '%s'",
                            name);
    }
    img->virtual_size = (uint64_t)json_integer_value(vs);
    json_decref(info);
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
