/*
 * backup.c - see backup.h.
 *
 * The archive (format 1) holds, at its top:
 *   nubo-backup.json   {format, version, schema_version, taken_at,
 *                       source_backend, tables: [{table, rows, sha256}]}
 *   nubo.db            the database (SQLite, whatever the source backend)
 *   admin-password, metrics-token   the secrets, when present
 *   images/            the tenants' image files
 *
 * Consistency while nubod runs: the database is copied from one read
 * snapshot (a read transaction: SQLite WAL, PostgreSQL REPEATABLE READ).
 * Image files are created before their row says active and removed after
 * their row is gone, and they never change once named; they are
 * hard-linked into a staging directory inside the state directory before
 * and again after the snapshot, so every image the snapshot names is in
 * the archive (extra ones are harmless).
 */
#include "ctrl/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fleet/fleet.h"
#include "lib/clock.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/spawn.h"
#include "lib/util.h"
#include "store/store.h"

#define BACKUP_FORMAT 1
#define MANIFEST "nubo-backup.json"
#define TAR_TIMEOUT_MS (6 * 3600 * 1000)
#define SECRET_MAX 4096

static const char *const secrets[] = {"admin-password", "metrics-token"};

/* Hard-links every file of dir src into dir dst (existing ones kept).
 * Adds the number linked now to *n.  0 or -1 with err. */
static int link_files(const char *src, const char *dst, int *n, struct nubo_err *err)
{
    DIR *d = opendir(src);
    if (d == NULL)
        return errno == ENOENT
                   ? 0
                   : nubo_err_set(err, NUBO_E_INTERNAL, "cannot read %s: %s", src, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char a[PATH_MAX], b[PATH_MAX];
        snprintf(a, sizeof(a), "%s/%s", src, e->d_name);
        snprintf(b, sizeof(b), "%s/%s", dst, e->d_name);
        struct stat st;
        if (lstat(a, &st) < 0 || !S_ISREG(st.st_mode))
            continue; /* gone meanwhile, or not an image file */
        if (link(a, b) == 0)
            (*n)++;
        else if (errno != EEXIST && errno != ENOENT)
            rc = nubo_err_set(err, NUBO_E_INTERNAL, "cannot link %s into the backup: %s", a,
                              strerror(errno));
    }
    closedir(d);
    return rc;
}

/* Copies the small file src to dst (0600) when src exists.  0 or -1. */
static int copy_secret(const char *src, const char *dst, struct nubo_err *err)
{
    if (!fs_exists(src))
        return 0;
    size_t len;
    char *data = fs_read_file(src, SECRET_MAX, &len, err);
    if (data == NULL)
        return -1;
    int rc = fs_write_atomic(dst, data, len, 0600, err);
    free(data);
    return rc;
}

int ctrl_backup(const char *state_dir, const char *store, const char *file, struct nubo_err *err)
{
    if (fs_exists(file))
        return nubo_err_set(err, NUBO_E_CONFLICT,
                            "%s exists: give the backup a new file name (nothing is overwritten)",
                            file);
    char db[PATH_MAX], stage[PATH_MAX], simg[PATH_MAX], img[PATH_MAX], tmp[PATH_MAX + 8];
    snprintf(db, sizeof(db), "%s/nubo.db", state_dir);
    if (store == NULL && !fs_exists(db))
        return nubo_err_set(err, NUBO_E_NOTFOUND,
                            "no database at %s: give the controller's --state-dir (and --store"
                            " when its database is PostgreSQL)",
                            db);
    snprintf(stage, sizeof(stage), "%s/backup-staging-%d", state_dir, (int)getpid());
    snprintf(simg, sizeof(simg), "%s/images", stage);
    snprintf(img, sizeof(img), "%s/images", state_dir);
    snprintf(tmp, sizeof(tmp), "%s.partial", file);
    if (fs_rm_rf(stage, err) < 0 || fs_mkdir_p(simg, 0700, err) < 0)
        return -1;
    struct store *src = NULL, *dst = NULL;
    json_t *report = NULL, *manifest = NULL;
    int nimg = 0, rc = -1;
    /* images before the snapshot, the snapshot, images after it */
    if (link_files(img, simg, &nimg, err) < 0)
        goto out;
    src = store_open(store ? store : db, err);
    if (src == NULL)
        goto out;
    char sdb[PATH_MAX + 16];
    snprintf(sdb, sizeof(sdb), "%s/nubo.db", stage);
    dst = store_open(sdb, err);
    if (dst == NULL)
        goto out;
    char taken[32];
    clock_now_str(taken);
    if (store_begin(src, false, err) < 0)
        goto out;
    report = store_copy(src, dst, err);
    store_rollback(src);
    if (report == NULL)
        goto out;
    if (link_files(img, simg, &nimg, err) < 0)
        goto out;
    for (size_t i = 0; i < ARRAY_LEN(secrets); i++) {
        char a[PATH_MAX], b[PATH_MAX];
        snprintf(a, sizeof(a), "%s/%s", state_dir, secrets[i]);
        snprintf(b, sizeof(b), "%s/%s", stage, secrets[i]);
        if (copy_secret(a, b, err) < 0)
            goto out;
    }
    long long rows = 0;
    size_t i;
    json_t *t;
    json_array_foreach (report, i, t)
        rows += json_integer_value(json_object_get(t, "rows"));
    manifest = json_pack("{s:i, s:s, s:i, s:s, s:s, s:O}", "format", BACKUP_FORMAT, "version",
                         NUBO_VERSION, "schema_version", store_schema_version(src), "taken_at",
                         taken, "source_backend", store_backend_name(src), "tables", report);
    store_close(dst);
    dst = NULL;
    char mpath[PATH_MAX + 32];
    snprintf(mpath, sizeof(mpath), "%s/%s", stage, MANIFEST);
    char *mtext = json_dumps(manifest, JSON_INDENT(1) | JSON_SORT_KEYS);
    int w = fs_write_atomic(mpath, mtext, strlen(mtext), 0600, err);
    free(mtext);
    if (w < 0)
        goto out;
    printf("database: %zu tables, %lld rows (a %s snapshot at %s, checked by row count and"
           " SHA-256)\nimages: %d files\n",
           json_array_size(report), rows, store_backend_name(src), taken, nimg);
    fflush(stdout);
    /* tar from the staging directory; the archive is complete or absent */
    char *argv[] = {"tar", "--create", "--gzip", "--file", tmp, "--directory", stage, ".", NULL};
    unlink(tmp);
    if (spawn_run(argv, TAR_TIMEOUT_MS, 4096, NULL, err) < 0)
        goto out;
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        goto out;
    }
    close(fd);
    if (rename(tmp, file) < 0) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot name the backup %s: %s", file, strerror(errno));
        goto out;
    }
    struct stat st;
    printf("backup: %s (%.1f MiB)\n", file,
           stat(file, &st) == 0 ? (double)st.st_size / (1 << 20) : 0.0);
    rc = 0;
out:
    if (rc < 0)
        unlink(tmp);
    store_close(dst);
    store_close(src);
    json_decref(report);
    json_decref(manifest);
    struct nubo_err rmerr;
    if (fs_rm_rf(stage, &rmerr) < 0)
        log_warn("cannot remove %s: %s", stage, rmerr.msg);
    return rc;
}

/* Whether dir is absent or an empty directory. */
static bool empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT;
    struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d)) != NULL)
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty;
}

int ctrl_restore(const char *file, const char *state_dir, const char *store, struct nubo_err *err)
{
    if (access(file, R_OK) < 0)
        return nubo_err_set(err, NUBO_E_NOTFOUND, "cannot read the backup %s: %s", file,
                            strerror(errno));
    if (!empty_dir(state_dir))
        return nubo_err_set(err, NUBO_E_CONFLICT,
                            "%s is not empty: restore into a new state directory (a restore never"
                            " overwrites a controller's state)",
                            state_dir);
    if (fs_mkdir_p(state_dir, 0700, err) < 0)
        return -1;
    char *argv[] = {"tar",         "--extract",       "--gzip",          "--file", (char *)file,
                    "--directory", (char *)state_dir, "--no-same-owner", NULL};
    char mpath[PATH_MAX], db[PATH_MAX], flag[PATH_MAX];
    snprintf(mpath, sizeof(mpath), "%s/%s", state_dir, MANIFEST);
    snprintf(db, sizeof(db), "%s/nubo.db", state_dir);
    snprintf(flag, sizeof(flag), "%s/recovering", state_dir);
    json_t *manifest = NULL;
    struct store *from = NULL, *to = NULL;
    json_t *report = NULL;
    int rc = -1;
    if (spawn_run(argv, TAR_TIMEOUT_MS, 4096, NULL, err) < 0)
        goto out;
    json_error_t jerr;
    manifest = json_load_file(mpath, 0, &jerr);
    if (!json_is_object(manifest) ||
        json_integer_value(json_object_get(manifest, "format")) != BACKUP_FORMAT ||
        !fs_exists(db)) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "%s is not a nubo backup of format %d (no %s or no nubo.db in it)", file,
                     BACKUP_FORMAT, MANIFEST);
        goto out;
    }
    printf("backup of %s (nubo %s, schema %lld)\n",
           json_string_value(json_object_get(manifest, "taken_at")),
           json_string_value(json_object_get(manifest, "version")),
           json_integer_value(json_object_get(manifest, "schema_version")));
    from = store_open(db, err); /* a newer nubod migrates it here */
    if (from == NULL)
        goto out;
    if (store != NULL) {
        to = store_open(store, err);
        if (to == NULL)
            goto out;
        report = store_copy(from, to, err);
        if (report == NULL)
            goto out;
        printf("database: copied into %s, %zu tables checked\n", store_backend_name(to),
               json_array_size(report));
        store_close(from);
        from = NULL;
        if (unlink(db) < 0) {
            nubo_err_set(err, NUBO_E_INTERNAL, "cannot remove %s: %s", db, strerror(errno));
            goto out;
        }
    }
    char now[32];
    clock_now_str(now);
    json_t *f = json_pack("{s:s, s:O, s:s}", "restored_at", now, "backup_taken_at",
                          json_object_get(manifest, "taken_at"), "backup", file);
    char *text = json_dumps(f, JSON_SORT_KEYS);
    json_decref(f);
    int w = fs_write_atomic(flag, text, strlen(text), 0600, err);
    free(text);
    if (w < 0 || fs_tighten_tree(state_dir, err) < 0)
        goto out;
    printf("restored into %s: start nubod with --state-dir %s%s%s. It starts recovering: VMs on"
           " the hosts that no restored instance claims are quarantined, not removed, until an"
           " admin finishes the recovery (nubo recovery finish).\n",
           state_dir, state_dir, store ? " --store " : "", store ? store : "");
    rc = 0;
out:
    store_close(from);
    store_close(to);
    if (rc < 0) { /* the directory was empty: leave it so */
        struct nubo_err rmerr;
        if (fs_rm_rf(state_dir, &rmerr) < 0 || fs_mkdir_p(state_dir, 0700, &rmerr) < 0)
            log_warn("cannot empty %s again: %s", state_dir, rmerr.msg);
    }
    json_decref(report);
    json_decref(manifest);
    return rc;
}
