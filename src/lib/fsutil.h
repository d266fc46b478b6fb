/*
 * fsutil.h - files and directories: atomic writes, capped reads, trees.
 */
#ifndef NUBO_FSUTIL_H
#define NUBO_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "lib/err.h"

/* mkdir -p with the given mode for each created component. */
int fs_mkdir_p(const char *path, mode_t mode, struct nubo_err *err);

/* Writes data to path atomically: a temporary file in the same directory,
 * fsync, rename over path, fsync of the directory.  After a crash the file
 * holds either the old or the new content, never a mix. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                    struct nubo_err *err);

/* Reads a whole file of at most `cap` bytes.  Returns a malloc'd,
 * NUL-terminated buffer owned by the caller (length in *len if not NULL),
 * or NULL with err (NUBO_E_NOTFOUND when missing, NUBO_E_TOOLARGE over cap). */
char *fs_read_file(const char *path, size_t cap, size_t *len, struct nubo_err *err);

/* Removes a directory tree (no symlink is followed).  Missing is success. */
int fs_rm_rf(const char *path, struct nubo_err *err);

/* Makes a daemon's private tree private: every directory under path (and
 * path itself) that group or others can use loses those bits and gets
 * u+rwx (0700), every regular file loses them too (0644 -> 0600).
 * Symlinks are not followed, sockets and the like are left alone.  Each
 * change is logged as a warning.  A missing path is success; a path that
 * cannot be changed (not ours) is an error naming it. */
int fs_tighten_tree(const char *path, struct nubo_err *err);

/* True when path exists (any type). */
int fs_exists(const char *path);

/* Size in bytes actually allocated on disk for a file (st_blocks * 512),
 * or -1. */
long long fs_allocated_bytes(const char *path);

#endif
