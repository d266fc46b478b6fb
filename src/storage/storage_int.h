/*
 * storage_int.h - what the storage service's files share (volume.c,
 * snapshot.c); not an interface for other modules (storage.h is).
 */
#ifndef NUBO_STORAGE_INT_H
#define NUBO_STORAGE_INT_H

#include "storage/storage.h"

/* What a project holds: volume rows, snapshot rows, and the GiB of both
 * (quota volume_gib counts volumes and snapshots). */
struct storage_usage {
    long long volumes, snapshots, gib;
};

int storage_usage_read(struct store *st, const char *project_id, struct storage_usage *u,
                       struct nubo_err *err);

/* err from a lookup: "no <what> '<ref>'" when it found nothing, the
 * lookup's own error otherwise.  Returns -1. */
int storage_notfound(struct nubo_err *err, const struct nubo_err *qerr, const char *what,
                     const char *ref);

/* Commits and returns row, or rolls back, frees row and returns NULL. */
json_t *storage_finish(struct store *st, json_t *row, struct nubo_err *err);

/* NUBO_E_INVALID unless 1 <= size_gib <= STORAGE_VOLUME_MAX_GIB. */
int storage_size_check(long long size_gib, struct nubo_err *err);

/* The snapshot ref (id or name) of ctx's project, or NULL with err
 * (snapshot.c; also for volume.c's create from a snapshot). */
json_t *storage_snapshot_find(struct store *st, const struct ctx *ctx, const char *ref,
                              struct nubo_err *err);

#endif
