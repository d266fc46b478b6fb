/*
 * volume.c - the agent's volume store (docs/internals/storage.md, "the
 * local backend"; docs/internals/host-protocol.md, /v1/volumes).
 *
 * A volume of the local backend is two files in <state-dir>/volumes/:
 *
 *     <id>.json    the record: {"id", "size_bytes", "created_at",
 *                  "snapshots": [{"id", "created_at"}]}, written
 *                  atomically last on create and first on resize
 *     <id>.qcow2   the data, made by the driver (qemu-img by argv); a
 *                  driver without volume_create (the fake one) keeps only
 *                  the record
 *
 * Both are 0600 (the agent runs with umask 077).  The id is the
 * controller's volume id (a UUID, checked before it reaches a path).  A
 * create of an id that exists with the same size answers the volume
 * (idempotent, so the reconciler may retry); another size is a conflict.
 * A crash between the data file and the record leaves a data file without
 * a record, which the next create of that id replaces.
 *
 * Snapshots (storage.md, Snapshots) are internal qcow2 snapshots of the
 * data file named by the snapshot's id, taken by the driver (QMP while a
 * VM runs with the volume, qemu-img otherwise) before the record lists
 * them, and dropped before the record forgets them; the driver's take
 * and drop are idempotent (a take first drops what a crash may have left
 * under that name), so a retried request converges.  A volume made from
 * a snapshot is a full copy (drv->volume_copy), made under a temporary
 * name like a blank one: the copy shares nothing with its source.
 */
#include "host/vm/vm.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/fsutil.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/valid.h"

static int vol_path(const char *dir, const char *id, const char *ext, char *out, size_t n,
                    struct nubo_err *err)
{
    if (!valid_is_uuid(id))
        return nubo_err_set(err, NUBO_E_NOTFOUND, "no volume '%.64s' (volume ids are UUIDs)",
                            id ? id : "");
    int w = snprintf(out, n, "%s/volumes/%s%s", dir, id, ext);
    if (w < 0 || (size_t)w >= n)
        return nubo_err_set(err, NUBO_E_INTERNAL, "volume path too long");
    return 0;
}

int volume_data_path(const char *dir, const char *id, char *out, size_t n, struct nubo_err *err)
{
    return vol_path(dir, id, ".qcow2", out, n, err);
}

/* The record of id (new reference) or NULL with err (NUBO_E_NOTFOUND). */
json_t *volume_get(const char *dir, const char *id, struct nubo_err *err)
{
    char path[PATH_MAX];
    if (vol_path(dir, id, ".json", path, sizeof(path), err) < 0)
        return NULL;
    struct nubo_err rerr;
    char *text = fs_read_file(path, 4096, NULL, &rerr);
    if (text == NULL) {
        if (rerr.code == NUBO_E_NOTFOUND)
            nubo_err_set(err, NUBO_E_NOTFOUND, "no volume '%s' on this host", id);
        else
            nubo_err_set(err, rerr.code, "%s", rerr.msg);
        return NULL;
    }
    json_t *o = json_loads(text, 0, NULL);
    free(text);
    if (!json_is_object(o) || !json_is_integer(json_object_get(o, "size_bytes"))) {
        json_decref(o);
        nubo_err_set(err, NUBO_E_INTERNAL, "the record of volume %s is damaged", id);
        return NULL;
    }
    return o;
}

/* Writes the record of id: size bytes, its snapshots (an array, borrowed;
 * NULL: none). */
static int record_write(const char *dir, const char *id, uint64_t bytes, const char *created,
                        json_t *snaps, struct nubo_err *err)
{
    char path[PATH_MAX];
    if (vol_path(dir, id, ".json", path, sizeof(path), err) < 0)
        return -1;
    json_t *o =
        json_pack("{s:s, s:I, s:s, s:o}", "id", id, "size_bytes", (json_int_t)bytes, "created_at",
                  created, "snapshots", snaps ? json_incref(snaps) : json_array());
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    int rc = fs_write_atomic(path, text, strlen(text), 0600, err);
    free(text);
    return rc;
}

/* The index of snapshot sid in the record vol's snapshots, or -1. */
static int snap_index(const json_t *vol, const char *sid)
{
    size_t i;
    const json_t *s;
    json_array_foreach (json_object_get(vol, "snapshots"), i, s) {
        if (sid && strcmp(jsonx_str(s, "id"), sid) == 0)
            return (int)i;
    }
    return -1;
}

json_t *volume_list(const char *dir)
{
    char vdir[PATH_MAX];
    json_t *out = json_array();
    snprintf(vdir, sizeof(vdir), "%s/volumes", dir);
    DIR *d = opendir(vdir);
    if (d == NULL)
        return out;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        char id[37];
        if (n != 36 + 5 || strcmp(e->d_name + 36, ".json") != 0)
            continue;
        memcpy(id, e->d_name, 36);
        id[36] = '\0';
        struct nubo_err err;
        json_t *o = volume_get(dir, id, &err);
        if (o)
            json_array_append_new(out, o);
        else
            log_warn("volumes: %s", err.msg);
    }
    closedir(d);
    return out;
}

json_t *volume_create(const char *dir, const struct hv_driver *drv, const char *id, uint64_t bytes,
                      const char *src_id, const char *src_snap, struct vm *online, bool *created,
                      struct nubo_err *err)
{
    char data[PATH_MAX], vdir[PATH_MAX], now[32], src[PATH_MAX];
    *created = false;
    if (vol_path(dir, id, ".qcow2", data, sizeof(data), err) < 0)
        return NULL;
    struct nubo_err gerr;
    json_t *have = volume_get(dir, id, &gerr);
    if (have) {
        if ((uint64_t)json_integer_value(json_object_get(have, "size_bytes")) == bytes)
            return have;
        json_decref(have);
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "volume %s exists on this host with another size; resize it instead", id);
        return NULL;
    }
    snprintf(vdir, sizeof(vdir), "%s/volumes", dir);
    if (fs_mkdir_p(vdir, 0700, err) < 0)
        return NULL;
    if (src_id) {
        json_t *from = volume_get(dir, src_id, &gerr);
        if (from == NULL || (src_snap && snap_index(from, src_snap) < 0)) {
            json_decref(from);
            if (src_snap)
                nubo_err_set(err, NUBO_E_INVALID, "no snapshot %.64s of volume %.64s on this host",
                             src_snap, src_id);
            else
                nubo_err_set(err, NUBO_E_INVALID, "no volume %.64s on this host", src_id);
            return NULL;
        }
        json_decref(from);
        if (vol_path(dir, src_id, ".qcow2", src, sizeof(src), err) < 0)
            return NULL;
        /* A copy of a volume in use: of a temporary snapshot named by the
         * copy's id, dropped after (a crash in between leaves it, which the
         * retry's take replaces and its drop removes). */
        const char *snap = src_snap;
        if (!src_snap && online && drv->volume_snapshot) {
            if (drv->volume_snapshot(src, online, src_id, id, false, err) < 0)
                return NULL;
            snap = id;
        }
        int rc = drv->volume_copy ? drv->volume_copy(src, snap, data, bytes, err) : 0;
        if (snap && !src_snap) {
            struct nubo_err derr;
            if (drv->volume_snapshot(src, online, src_id, id, true, &derr) < 0)
                log_warn("volume %s: the temporary snapshot %s stays: %s", src_id, id, derr.msg);
        }
        if (rc < 0)
            return NULL;
    } else if (drv->volume_create && drv->volume_create(data, bytes, err) < 0) {
        return NULL;
    }
    clock_now_str(now);
    if (record_write(dir, id, bytes, now, NULL, err) < 0) {
        unlink(data);
        return NULL;
    }
    *created = true;
    return volume_get(dir, id, err);
}

json_t *volume_resize(const char *dir, const struct hv_driver *drv, const char *id, uint64_t bytes,
                      struct vm *online, struct nubo_err *err)
{
    char data[PATH_MAX];
    json_t *have = volume_get(dir, id, err);
    if (have == NULL || vol_path(dir, id, ".qcow2", data, sizeof(data), err) < 0)
        goto fail;
    uint64_t cur = (uint64_t)json_integer_value(json_object_get(have, "size_bytes"));
    if (bytes == cur)
        return have;
    if (bytes < cur) {
        nubo_err_set(err, NUBO_E_INVALID, "volumes only grow: %s has %llu bytes", id,
                     (unsigned long long)cur);
        goto fail;
    }
    /* The data grows first: a crash before the record is rewritten leaves
     * a larger file under the old record, and the retried resize grows it
     * again to the same size (qemu-img resize to a size is idempotent). */
    if (online) {
        if (drv->volume_grow && drv->volume_grow(online, id, bytes, err) < 0)
            goto fail;
    } else if (drv->volume_resize && drv->volume_resize(data, bytes, err) < 0) {
        goto fail;
    }
    if (record_write(dir, id, bytes, jsonx_str(have, "created_at"),
                     json_object_get(have, "snapshots"), err) < 0)
        goto fail;
    json_decref(have);
    return volume_get(dir, id, err);
fail:
    json_decref(have);
    return NULL;
}

int volume_delete(const char *dir, const char *id, struct nubo_err *err)
{
    char data[PATH_MAX], rec[PATH_MAX];
    if (vol_path(dir, id, ".qcow2", data, sizeof(data), err) < 0 ||
        vol_path(dir, id, ".json", rec, sizeof(rec), err) < 0)
        return -1;
    if (!fs_exists(rec) && !fs_exists(data))
        return nubo_err_set(err, NUBO_E_NOTFOUND, "no volume '%s' on this host", id);
    /* The data first: a crash in between leaves a record whose delete is
     * retried, never data without a record that nothing would list. */
    if (unlink(data) < 0 && errno != ENOENT)
        return nubo_err_set(err, NUBO_E_UNAVAILABLE, "cannot remove volume %s: %s", id,
                            strerror(errno));
    if (unlink(rec) < 0 && errno != ENOENT)
        return nubo_err_set(err, NUBO_E_UNAVAILABLE, "cannot remove volume %s: %s", id,
                            strerror(errno));
    return 0;
}

/* The snapshots array of the record have (a new array when it has none). */
static json_t *snaps_of(json_t *have)
{
    json_t *a = json_object_get(have, "snapshots");
    if (!json_is_array(a)) {
        a = json_array();
        json_object_set_new(have, "snapshots", a);
    }
    return a;
}

json_t *volume_snapshot_take(const char *dir, const struct hv_driver *drv, const char *id,
                             const char *sid, struct vm *online, bool *created,
                             struct nubo_err *err)
{
    char data[PATH_MAX], now[32];
    *created = false;
    if (!valid_is_uuid(sid)) {
        nubo_err_set(err, NUBO_E_INVALID, "id must be the snapshot's UUID");
        return NULL;
    }
    json_t *have = volume_get(dir, id, err);
    if (have == NULL || vol_path(dir, id, ".qcow2", data, sizeof(data), err) < 0)
        goto fail;
    json_t *snaps = snaps_of(have);
    int at = snap_index(have, sid);
    if (at >= 0) {
        json_t *s = json_incref(json_array_get(snaps, (size_t)at));
        json_decref(have);
        return s;
    }
    if (drv->volume_snapshot && drv->volume_snapshot(data, online, id, sid, false, err) < 0)
        goto fail;
    clock_now_str(now);
    json_array_append_new(snaps, json_pack("{s:s, s:s}", "id", sid, "created_at", now));
    if (record_write(dir, id, (uint64_t)json_integer_value(json_object_get(have, "size_bytes")),
                     jsonx_str(have, "created_at"), snaps, err) < 0)
        goto fail;
    *created = true;
    json_t *s = json_incref(json_array_get(snaps, json_array_size(snaps) - 1));
    json_decref(have);
    return s;
fail:
    json_decref(have);
    return NULL;
}

int volume_snapshot_drop(const char *dir, const struct hv_driver *drv, const char *id,
                         const char *sid, struct vm *online, struct nubo_err *err)
{
    char data[PATH_MAX];
    json_t *have = volume_get(dir, id, err);
    if (have == NULL || vol_path(dir, id, ".qcow2", data, sizeof(data), err) < 0)
        goto fail;
    int at = snap_index(have, sid);
    if (at < 0) {
        nubo_err_set(err, NUBO_E_NOTFOUND, "no snapshot '%.64s' of volume %s on this host",
                     sid ? sid : "", id);
        goto fail;
    }
    if (drv->volume_snapshot && drv->volume_snapshot(data, online, id, sid, true, err) < 0)
        goto fail;
    json_t *snaps = snaps_of(have);
    json_array_remove(snaps, (size_t)at);
    if (record_write(dir, id, (uint64_t)json_integer_value(json_object_get(have, "size_bytes")),
                     jsonx_str(have, "created_at"), snaps, err) < 0)
        goto fail;
    json_decref(have);
    return 0;
fail:
    json_decref(have);
    return -1;
}
