/*
 * fsutil.c - see fsutil.h.
 */
#include "lib/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/dynbuf.h"
#include "lib/log.h"
#include "lib/util.h"

/* mkdir that treats an existing directory as success, but not an existing
 * file of another type. */
static int mkdir_one(const char *path, mode_t mode, struct nubo_err *err)
{
    if (mkdir(path, mode) == 0)
        return 0;
    struct stat st;
    if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    if (errno == EEXIST)
        return nubo_err_set(err, NUBO_E_CONFLICT,
                            "cannot create directory %s: a file is in the way", path);
    return nubo_err_set(err, NUBO_E_INTERNAL, "cannot create directory %s: %s", path,
                        strerror(errno));
}

int fs_mkdir_p(const char *path, mode_t mode, struct nubo_err *err)
{
    char buf[PATH_MAX];
    if (str_copy(buf, sizeof(buf), path) < 0)
        return nubo_err_set(err, NUBO_E_INVALID, "path too long: %.80s...", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir_one(buf, mode, err) < 0)
            return -1;
        *p = '/';
    }
    return mkdir_one(buf, mode, err);
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                    struct nubo_err *err)
{
    char tmp[PATH_MAX];
    char dir[PATH_MAX];
    int fd = -1, dfd = -1, rc = -1;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp) ||
        str_copy(dir, sizeof(dir), path) < 0)
        return nubo_err_set(err, NUBO_E_INVALID, "path too long: %.80s...", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot write %s: %s", tmp, strerror(errno));
        goto cleanup;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            nubo_err_set(err, NUBO_E_INTERNAL, "cannot write %s: %s", tmp, strerror(errno));
            goto cleanup;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        fd = -1;
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot flush %s: %s", tmp, strerror(errno));
        goto cleanup;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot rename %s: %s", tmp, strerror(errno));
        goto cleanup;
    }
    dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
        fsync(dfd);
    rc = 0;
cleanup:
    if (fd >= 0)
        close(fd);
    if (dfd >= 0)
        close(dfd);
    if (rc < 0)
        unlink(tmp);
    return rc;
}

char *fs_read_file(const char *path, size_t cap, size_t *len, struct nubo_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        nubo_err_set(err, errno == ENOENT ? NUBO_E_NOTFOUND : NUBO_E_INTERNAL, "cannot read %s: %s",
                     path, strerror(errno));
        return NULL;
    }
    struct dynbuf b = DYNBUF_INIT(cap);
    for (;;) {
        char chunk[4096];
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            nubo_err_set(err, NUBO_E_INTERNAL, "cannot read %s: %s", path, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        if (dynbuf_add(&b, chunk, (size_t)r) < 0) {
            if (errno != E2BIG)
                abort(); /* out of memory: as xmalloc */
            nubo_err_set(err, NUBO_E_TOOLARGE, "%s is larger than %zu bytes", path, cap);
            goto fail;
        }
    }
    close(fd);
    return dynbuf_take(&b, len);
fail:
    close(fd);
    dynbuf_free(&b);
    return NULL;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int r = (flag == FTW_DP) ? rmdir(path) : unlink(path);
    if (r < 0 && errno != ENOENT) {
        log_warn("cannot remove %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int fs_rm_rf(const char *path, struct nubo_err *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0
                               : nubo_err_set(err, NUBO_E_INTERNAL, "cannot remove %s: %s", path,
                                              strerror(errno));
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
        return nubo_err_set(err, NUBO_E_INTERNAL, "cannot remove %s completely", path);
    return 0;
}

/* nftw has no context argument: the first failure of a walk, and how many
 * paths it changed.  Walks happen at a daemon's start, one at a time. */
static _Thread_local int tighten_errno;
static _Thread_local int tighten_changed;
static _Thread_local char tighten_failed[PATH_MAX];

static int tighten_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    mode_t want;
    if (flag == FTW_D)
        want = 0700;
    else if (flag == FTW_F && S_ISREG(st->st_mode))
        want = st->st_mode & 0700;
    else
        return 0; /* symlinks, sockets, fifos, unreadable entries */
    if ((st->st_mode & 07777) == want)
        return 0;
    if (chmod(path, want) < 0) {
        tighten_errno = errno;
        str_copy(tighten_failed, sizeof(tighten_failed), path);
        return 1;
    }
    log_warn("%s was mode %04o (open to other users): now %04o", path,
             (unsigned)(st->st_mode & 07777), (unsigned)want);
    tighten_changed++;
    return 0;
}

int fs_tighten_tree(const char *path, struct nubo_err *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0
                               : nubo_err_set(err, NUBO_E_INTERNAL, "cannot check %s: %s", path,
                                              strerror(errno));
    /* A state directory given as a symlink: walk what it points to. */
    char real[PATH_MAX];
    if (S_ISLNK(st.st_mode) && realpath(path, real) != NULL)
        path = real;
    tighten_errno = 0;
    tighten_changed = 0;
    tighten_failed[0] = '\0';
    int r = nftw(path, tighten_one, 16, FTW_PHYS);
    if (r != 0)
        return nubo_err_set(err, NUBO_E_INTERNAL,
                            "cannot make %s private (mode 0700/0600): %s; give it to this "
                            "user or remove it",
                            tighten_failed[0] ? tighten_failed : path,
                            strerror(tighten_errno ? tighten_errno : errno));
    if (tighten_changed > 0)
        log_warn("%s: %d path(s) made private to this user", path, tighten_changed);
    return 0;
}

int fs_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

long long fs_allocated_bytes(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return -1;
    return (long long)st.st_blocks * 512;
}
