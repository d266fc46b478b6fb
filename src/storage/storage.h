/*
 * storage.h - block storage: volume types and volumes (the controller's
 * storage service, docs/internals/storage.md).
 *
 * The service owns the tables volume_types, volumes and volume_attachments
 * (migration 19, src/store/schema_storage.c) and is the only module that
 * writes them.  Like every service it takes the caller's ctx and selects
 * tenant rows by ctx->project_id in the query: another project's volume is
 * NUBO_E_NOTFOUND like a missing one.  Creates count the project's usage
 * (quota dimensions volumes and volume_gib) and write the volume's usage
 * record (billing meter "volume", GiB) in their own write transaction.
 *
 * A {ref} is a volume's id or its name in the project.  Every function
 * returning json_t * returns a new reference, or NULL with err.
 */
#ifndef NUBO_STORAGE_H
#define NUBO_STORAGE_H

#include <jansson.h>

#include "identity/identity.h"
#include "lib/err.h"
#include "store/store.h"

/* The largest volume, in GiB (16 TiB). */
#define STORAGE_VOLUME_MAX_GIB 16384

/* ---- volume types (admin-defined; everyone may list them) ---- */

json_t *storage_type_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                          struct nubo_err *err);

/* Adds a type (cloud admin): name unique, backend "local" (the only one
 * built).  NUBO_E_CONFLICT when the name is taken. */
json_t *storage_type_create(struct store *st, const struct ctx *ctx, const char *name,
                            const char *backend, const char *description, struct nubo_err *err);

/* Removes a type (cloud admin); NUBO_E_CONFLICT while a volume has it or
 * for the default type "local". */
int storage_type_delete(struct store *st, const struct ctx *ctx, const char *ref,
                        struct nubo_err *err);

/* ---- volumes ---- */

struct storage_volume_spec {
    const char *name;   /* required: valid_name() */
    long long size_gib; /* 1 .. STORAGE_VOLUME_MAX_GIB */
    const char *type;   /* a type's id or name; NULL: "local" */
    /* A snapshot's id or name in the project to copy, or NULL (a blank
     * volume).  With it, size_gib 0 means the snapshot's size. */
    const char *source_snapshot;
    /* Or a volume's id or name in the project to copy (the same rules). */
    const char *source_volume;
};

json_t *storage_volume_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                            struct nubo_err *err);
json_t *storage_volume_get(struct store *st, const struct ctx *ctx, const char *ref,
                           struct nubo_err *err);

/* Creates a volume in ctx's project: quota check, insert, usage record,
 * one transaction.  NUBO_E_FORBIDDEN past a quota, NUBO_E_CONFLICT when
 * the name is taken or the source snapshot is not available,
 * NUBO_E_NOTFOUND for a snapshot of another project.  A copy of a placed
 * snapshot is 'creating' on the snapshot's host until the reconciler
 * made it there. */
json_t *storage_volume_create(struct store *st, const struct ctx *ctx,
                              const struct storage_volume_spec *spec, struct nubo_err *err);

/* Renames a volume. */
json_t *storage_volume_rename(struct store *st, const struct ctx *ctx, const char *ref,
                              const char *name, struct nubo_err *err);

/* Grows a volume to size_gib (larger than now; quota volume_gib counts
 * the difference); the usage record follows the new size.  Only an
 * available volume that is not placed on a host yet can grow in this
 * version (NUBO_E_CONFLICT otherwise: its file would have to grow too). */
json_t *storage_volume_extend(struct store *st, const struct ctx *ctx, const char *ref,
                              long long size_gib, struct nubo_err *err);

/* Deletes a volume: NUBO_E_CONFLICT while it is attached or busy or has
 * snapshots.  A
 * volume with no host goes at once; a placed one becomes 'deleting' and
 * the reconciler removes its file on the host, then the row.  The usage
 * record closes with the request. */
int storage_volume_delete(struct store *st, const struct ctx *ctx, const char *ref,
                          struct nubo_err *err);

/* Attaches a volume to an instance of ctx's project (id or name): records
 * the desired attachment and moves the volume available -> attaching in
 * one transaction, placing a volume that has no host yet on the
 * instance's host; the reconciler does the rest.  NUBO_E_NOTFOUND for
 * another project's instance, NUBO_E_CONFLICT when the volume is not
 * available (attached already, busy), the instance is in error or being
 * deleted, has no host yet, or is on another host than the volume. */
json_t *storage_volume_attach(struct store *st, const struct ctx *ctx, const char *ref,
                              const char *instance, struct nubo_err *err);

/* Detaches: in-use (or attaching) -> detaching; NUBO_E_CONFLICT when the
 * volume is not attached. */
json_t *storage_volume_detach(struct store *st, const struct ctx *ctx, const char *ref,
                              struct nubo_err *err);

/* ---- for the reconciler (src/ctrl/reconcile.c) ---- */

/* The volumes placed on host_id: id, size_gib, status, source_snapshot_id
 * and source_volume_id (a 'creating' copy's snapshot and its volume, or
 * null), attached_to (or
 * null), instance_status and instance_desired (of attached_to), and
 * wanted: true when the volume should be attached to attached_to now
 * (attaching or in-use, the instance not deleted nor being deleted). */
json_t *storage_host_volumes(struct store *st, const char *host_id, struct nubo_err *err);

/* The reconciler's transitions, each a compare-and-set on the status it
 * read, in its own transaction; 1 when done, 0 when the volume changed
 * meanwhile, -1 with err:
 *   attached:  attaching -> in-use
 *   detached:  detaching / attaching / in-use -> available, the
 *              attachment row removed (the VM no longer has it)
 *   failed:    -> error with fault (the attachment row removed)
 *   removed:   deleting -> the row is gone (the agent deleted the file)
 *   created:   creating -> available (the agent made the copy) */
int storage_volume_attached(struct store *st, const char *id, struct nubo_err *err);
int storage_volume_detached(struct store *st, const char *id, const char *seen_status,
                            struct nubo_err *err);
int storage_volume_failed(struct store *st, const char *id, const char *seen_status,
                          const char *fault, struct nubo_err *err);
int storage_volume_removed(struct store *st, const char *id, struct nubo_err *err);
int storage_volume_created(struct store *st, const char *id, struct nubo_err *err);

/* ---- volume snapshots (snapshot.c; storage.md, Snapshots) ---- */

json_t *storage_snapshot_list(struct store *st, const struct ctx *ctx, int limit,
                              const char *marker, struct nubo_err *err);
json_t *storage_snapshot_get(struct store *st, const struct ctx *ctx, const char *ref,
                             struct nubo_err *err);

/* Takes a snapshot named name of the volume ref (id or name) of ctx's
 * project: quota check (snapshots, volume_gib), insert, usage record
 * (meter "snapshot"), one transaction.  The volume must be available or
 * in-use (NUBO_E_CONFLICT otherwise).  A placed volume's snapshot is
 * 'creating' until its host took it (the reconciler); an unplaced one's
 * is empty and 'available' at once. */
json_t *storage_snapshot_create(struct store *st, const struct ctx *ctx, const char *volume,
                                const char *name, struct nubo_err *err);
json_t *storage_snapshot_rename(struct store *st, const struct ctx *ctx, const char *ref,
                                const char *name, struct nubo_err *err);

/* Deletes a snapshot (available or error; NUBO_E_CONFLICT while a volume
 * is being made from it): a placed one becomes 'deleting' and goes once
 * its host dropped it.  The usage record closes with the request. */
int storage_snapshot_delete(struct store *st, const struct ctx *ctx, const char *ref,
                            struct nubo_err *err);

/* For the reconciler: the snapshots on host_id (id, volume_id, status),
 * and the transitions, compare-and-sets like the volumes' (1 done, 0
 * changed meanwhile, -1 with err):
 *   created: creating -> available
 *   failed:  creating -> error with fault
 *   removed: deleting -> the row is gone */
json_t *storage_host_snapshots(struct store *st, const char *host_id, struct nubo_err *err);
int storage_snapshot_created(struct store *st, const char *id, struct nubo_err *err);
int storage_snapshot_failed(struct store *st, const char *id, const char *fault,
                            struct nubo_err *err);
int storage_snapshot_removed(struct store *st, const char *id, struct nubo_err *err);

/* ---- for other modules ---- */

/* Fills used[QUOTA_VOLUMES], [QUOTA_VOLUME_GIB] and [QUOTA_SNAPSHOTS] for the quota
 * routes (a quota_usage_fn part).  0, or -1 with err. */
int storage_quota_usage(struct store *st, const char *project_id, long long used[QUOTA_DIMS],
                        struct nubo_err *err);

/* The project-delete hook (identity_project_delete_fn): refuses
 * (NUBO_E_CONFLICT, naming a volume) while the project has volumes. */
struct strv;
int storage_project_purge(struct store *st, const char *project_id, const char *name,
                          struct strv *files, void *arg, struct nubo_err *err);

#endif
