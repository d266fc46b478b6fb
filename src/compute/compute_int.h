/*
 * compute_int.h - helpers shared by the files of src/compute.  Not part of
 * the module's interface (that is compute.h); nothing outside src/compute
 * includes this.
 */
#ifndef NUBO_COMPUTE_INT_H
#define NUBO_COMPUTE_INT_H

#include <jansson.h>

#include "identity/identity.h"
#include "lib/err.h"
#include "lib/jsonx.h" /* jsonx_str(): a row's string member, or "" */
#include "sched/sched.h"
#include "store/store.h"

/* Where an instance's console is: its host's agent and the VM's name. */
struct compute_console_target {
    char host_name[64];
    char address[512];
    char token[256];
    char vm[64]; /* "nubo-<id>" */
};

/* NUBO_E_CONFLICT when the instance has no host or is deleted. */
int compute_instance_console_target(struct store *st, const struct ctx *ctx, const char *id,
                                    struct compute_console_target *out, struct nubo_err *err);

/* The configuration compute_configure() set (runtime.c). */
const struct sched_cfg *compute_sched_cfg(void);

/* Calls the change hook, if any (runtime.c): after a commit. */
void compute_changed(void);

/* Copies a store error into err, replacing a NOTFOUND's generic message
 * with "no WHAT 'REF'HINT" (hint may be NULL).  Returns -1. */
int compute_notfound(struct nubo_err *err, const struct nubo_err *lookup_err, const char *what,
                     const char *ref, const char *hint);

/* Checks a reference to another resource taken from a request body (an
 * id or a name): NUBO_E_INVALID "<field> must be the id or the name of
 * <what>" otherwise.  After this check ref is safe to quote in messages. */
int compute_ref_check(const char *ref, const char *field, const char *what, struct nubo_err *err);

/* True when s is one of the NULL-terminated words. */
int compute_word_in(const char *s, const char *const words[]);

/* Counts project_id's keypairs or server groups (dim) and checks that one
 * more fits its quota (quota_check_count()).  Run it in the create's write
 * transaction, before the insert.  0, or -1 with err (NUBO_E_FORBIDDEN
 * past the quota).  compute_count() only counts (0 or -1). */
int compute_quota_check(struct store *st, const char *project_id, enum quota_dim dim,
                        struct nubo_err *err);
int compute_count(struct store *st, const char *project_id, enum quota_dim dim, long long *n,
                  struct nubo_err *err);

/* The hosts with what is claimed on them: a snapshot for the scheduler
 * (instance.c).  Loaded inside the write transaction that claims, so the
 * snapshot and the claim are atomic; group_id (or NULL) counts that
 * server group's members per host.  0, or -1 with err; free it with
 * compute_snapshot_free() either way.  An instance migrating to a host
 * claims its resources there too, until its migration ends. */
struct compute_snapshot {
    json_t *rows; /* the query's rows, for the names */
    struct sched_host *hosts;
    size_t n;
    int group_size;
};
int compute_snapshot_load(struct store *st, const char *group_id, struct compute_snapshot *s,
                          struct nubo_err *err);
void compute_snapshot_free(struct compute_snapshot *s);

/* Ends a transition's transaction (transition.c): commits when n >= 0,
 * passing the crash point before just before the commit and after just
 * after it when n > 0; rolls back otherwise.  1 when n > 0, 0 when
 * n == 0, -1 on failure. */
int tx_end_at(struct store *st, long long n, const char *before, const char *after,
              struct nubo_err *err);

/* The target host in snap for req (an instance on source) of a migration
 * (migrate.c): the host host_ref names, checked (not the source, up,
 * answering, the source's acceleration, room), else the scheduler's best
 * among the others with the source's acceleration.  Its index, or -1 with
 * err (NUBO_E_NOTFOUND for an unknown host, else NUBO_E_CONFLICT). */
long compute_migration_target(struct compute_snapshot *snap, const struct sched_request *req,
                              const char *source, const char *host_ref, struct nubo_err *err);

/* Resolvers used by the instance create, inside its transaction.  Each
 * returns the raw row (new reference) visible to ctx's project, or NULL
 * with err (NUBO_E_NOTFOUND naming the ref). */
json_t *compute_flavor_resolve(struct store *st, const struct ctx *ctx, const char *ref,
                               struct nubo_err *err);
json_t *compute_image_resolve(struct store *st, const struct ctx *ctx, const char *ref,
                              struct nubo_err *err);
json_t *compute_server_group_resolve(struct store *st, const struct ctx *ctx, const char *ref,
                                     struct nubo_err *err);

#endif
