/*
 * identity.h - who is calling and what they may do: projects (tenants),
 * users, roles, tokens and API keys, quotas, the audit log.
 *
 * Every service call carries a struct ctx built here from the caller's
 * bearer token.  Authorization is decided in one place, authz_require(),
 * from the ctx and the kind of access the route declares; services then
 * select tenant resources by ctx->project_id inside their queries.
 *
 * Cloud admin is a flag on the user (users.cloud_admin, Keystone's
 * "system scope"), not a role in a project: the whole cloud (any project,
 * hosts, flavors, public images, prices, quotas, users, the audit log).
 * Roles (per project): admin - the project's resources and its members
 * (who has which role in it; never anything outside the project, never
 * cloud admin, never its quota); member - manage the project's resources;
 * reader - see the project's resources only.  See docs/internals/identity.md.
 */
#ifndef NUBO_IDENTITY_H
#define NUBO_IDENTITY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"
#include "store/store.h"

enum role { ROLE_NONE = 0, ROLE_READER, ROLE_MEMBER, ROLE_ADMIN };

struct ctx {
    char request_id[80];
    char token_id[37];
    char user_id[37];
    char user_name[64];
    char project_id[37]; /* the project the token is scoped to */
    char project_name[64];
    enum role role;   /* the caller's role in project_id */
    bool is_admin;    /* cloud admin (users.cloud_admin), whatever the role */
    bool via_apikey;  /* the token is an API key, not a login session */
    char host_id[37]; /* set instead of a user when a host agent calls */
};

/* What a route needs. */
enum authz {
    AUTHZ_PUBLIC = 0,    /* no credentials */
    AUTHZ_READ,          /* reader, member or admin of the project */
    AUTHZ_WRITE,         /* member or admin */
    AUTHZ_ADMIN,         /* cloud admin */
    AUTHZ_PROJECT_ADMIN, /* admin of the token's project, or cloud admin */
    AUTHZ_HOST,          /* a registered host agent (host token) */
    AUTHZ_AUTHENTICATED, /* any valid user token (e.g. whoami, own tokens) */
};

#define SESSION_TTL_MS (12LL * 3600 * 1000)
#define DEFAULT_QUOTA_INSTANCES 20
#define DEFAULT_QUOTA_VCPUS 40
#define DEFAULT_QUOTA_RAM_MIB (64 * 1024)
#define DEFAULT_QUOTA_DISK_GIB 1000

const char *role_name(enum role r);
int role_parse(const char *s, enum role *out);

/* Fills ctx from "Authorization: Bearer ..." (auth may be NULL).  A user
 * token sets the user/project/role fields; a host token sets host_id.
 * NUBO_E_UNAUTHORIZED when missing, unknown, expired or revoked. */
int identity_authenticate(struct store *st, const char *auth_header, struct ctx *ctx,
                          struct nubo_err *err);

/* The one authorization decision: may ctx do what `need` requires?
 * NUBO_E_UNAUTHORIZED without credentials, NUBO_E_FORBIDDEN otherwise. */
int authz_require(const struct ctx *ctx, enum authz need, struct nubo_err *err);

/* Password login.  project may be a name, an id or NULL (the user's first
 * project by name); client is the caller's address ("" or NULL when
 * unknown), for the per-address back-off.  Returns {"token",
 * "expires_at", "user", "project", "role"} (new reference) or NULL with
 * NUBO_E_UNAUTHORIZED (never saying whether the user exists),
 * NUBO_E_TOOMANY while the user name or the address is backing off after
 * failed logins, or NUBO_E_UNAVAILABLE when every password-hashing slot is
 * busy; for these two *retry_after_s is the seconds to wait (throttle.c). */
json_t *identity_login(struct store *st, const char *user, const char *password,
                       const char *project, const char *client, int *retry_after_s,
                       struct nubo_err *err);

/* How many argon2id computations (logins, password checks and changes) may
 * run at once; a login beyond them is refused with NUBO_E_UNAVAILABLE
 * rather than queued (the others wait).  Default: half the CPUs, 1 to 4;
 * n < 1 means 1.  Thread-safe. */
void identity_set_hash_slots(int n);

/* Forgets every login back-off (tests; an operator's restart does the
 * same). */
void identity_throttle_reset(void);

/* Revokes a token by id; a user may revoke their own, an admin any. */
int identity_token_revoke(struct store *st, const struct ctx *ctx, const char *token_id,
                          struct nubo_err *err);

/* First start: when there are no users, creates the projects "admin" and
 * "demo", the user "admin" (a cloud admin, and admin role in both) with a
 * generated password written to password_file (mode 0600, never logged) and
 * default quotas.  Does nothing on later starts.  (The hosts' join token is
 * fleet's: fleet_join_local_rotate().) */
int identity_bootstrap(struct store *st, const char *password_file, struct nubo_err *err);

/* The dimensions of a project's quota, in the order the API lists them.
 * Each is a column of the quotas table (migration 9 added all but the first
 * four, with their defaults, src/store/schema.c) and a key of the quota
 * routes' "limits" and "usage" (quota_dim_name()).  Each is counted by the
 * module that owns the rows: compute (instances, vCPUs, RAM, disk, images
 * and their bytes, keypairs, server groups), network, monitor (alarms), scale (templates, groups,
 * policies, scheduled actions), stack, storage (volumes and their GiB), identity (API keys). */
enum quota_dim {
    QUOTA_INSTANCES,
    QUOTA_VCPUS,
    QUOTA_RAM_MIB,
    QUOTA_DISK_GIB,
    QUOTA_NETWORKS,
    QUOTA_SUBNETS,
    QUOTA_PORTS,
    QUOTA_SECURITY_GROUPS,
    QUOTA_SECURITY_GROUP_RULES,
    QUOTA_FLOATING_IPS,
    QUOTA_ALARMS,
    QUOTA_LAUNCH_TEMPLATES,
    QUOTA_SCALING_GROUPS,
    QUOTA_STACKS,
    QUOTA_API_KEYS,
    QUOTA_IMAGES,
    QUOTA_IMAGE_GIB, /* the limit is in GiB; usage is counted in bytes */
    QUOTA_KEYPAIRS,
    QUOTA_SERVER_GROUPS,
    QUOTA_SCALING_POLICIES,
    QUOTA_SCHEDULED_ACTIONS,
    QUOTA_VOLUMES,    /* storage (migration 19) */
    QUOTA_VOLUME_GIB, /* the sum of the volumes' and snapshots' sizes, in GiB */
    QUOTA_SNAPSHOTS,  /* volume snapshots (migration 22) */
    QUOTA_DIMS
};
#define QUOTA_MAX 1000000000LL

/* Resources a create wants to add to a project. */
struct quota_ask {
    long long instances, vcpus, ram_mib, disk_gib;
};

/* What a project uses now: its instances that are not deleted.  Identity
 * does not read instances; compute counts them (compute_usage()). */
struct quota_usage {
    long long instances, vcpus, ram_mib, disk_gib;
};

/* Reads a project's usage of every dimension into used[], in counting
 * units (bytes for QUOTA_IMAGE_GIB); QUOTA_API_KEYS is identity's own and
 * need not be filled.  0, or -1 with err.  The quota services take one as
 * input; nubod's composes the modules' counts (routes_identity.c). */
typedef int quota_usage_fn(struct store *st, const char *project_id, long long used[QUOTA_DIMS],
                           struct nubo_err *err);

/* Checks that used (the project's usage, read in the same transaction)
 * plus ask stay within the project's quota.  Must run inside the create's
 * write transaction (store_begin(st, true)), before the instance rows are
 * inserted: the count and the insert are then atomic against concurrent
 * creates.  NUBO_E_FORBIDDEN ("quota exceeded: ...", saying which limit)
 * when they would not fit. */
int quota_check(struct store *st, const char *project_id, const struct quota_usage *used,
                const struct quota_ask *ask, struct nubo_err *err);

/* The same for one dimension: used is what the project has now (counted
 * by the module that owns the rows, in the create's write transaction),
 * want what the create adds (bytes for QUOTA_IMAGE_GIB).  0 when they fit;
 * NUBO_E_FORBIDDEN naming the quota, the usage and the limit when not. */
int quota_check_count(struct store *st, const char *project_id, enum quota_dim dim, long long want,
                      long long used, struct nubo_err *err);

/* ---- Idempotency-Key records (idempotency.c) ---- */

/* Claims key for the caller who (a user id, or a host id) before a
 * creating request runs; hash identifies the request (method, path, body).
 * Keys older than 24 h are forgotten first.  Returns 0 when claimed (run
 * the request, then identity_idem_finish()) - also when the key's earlier
 * claim was left unanswered by a nubod run that died: the request runs
 * again; 1 when an earlier identical request was answered: its status and
 * body (new reference) are in *status and *response, to replay; -1 with
 * err, NUBO_E_CONFLICT when the key came with another request or its
 * request is still running in this process. */
int identity_idem_claim(struct store *st, const char *who, const char *key, const char *method,
                        const char *path, const char *hash, int *status, json_t **response,
                        struct nubo_err *err);

/* Binds the claim (who, key) of the request method + path to the calling
 * thread while its handler runs, for identity_idem_answer(); unbind after.
 * Strings are copied. */
void identity_idem_bind(const char *who, const char *key, const char *method, const char *path);
void identity_idem_unbind(void);

/* Called by a creating service inside the write transaction of its effect,
 * just before the commit: when the thread runs a claimed request of
 * method + path (the route the service answers, e.g. "POST",
 * "/v1/instances"), records status and body as its answer, in that
 * transaction - so that a crash leaves both or neither.  Nothing when the
 * thread has no such claim (another caller, or a nested create).  Returns
 * 0, or -1 with err (roll back). */
int identity_idem_answer(struct store *st, const char *method, const char *path, int status,
                         const json_t *body, struct nubo_err *err);

/* The id of this nubod run (random, made once per process): the owner of
 * the claims it makes. */
const char *identity_idem_run(void);

/* Records the answer (status, body or NULL) of a claimed key for replays;
 * a 5xx releases the key instead (unless the service recorded an answer
 * with its effect), so that a retry runs again.  Logs its own errors. */
void identity_idem_finish(struct store *st, const char *who, const char *key, int status,
                          const char *body);

/* Appends an audit record; never fails the caller (logs on error). */
void identity_audit(struct store *st, const struct ctx *ctx, const char *method, const char *path,
                    const char *action, const char *target, int status, const char *result);

/* ---- services of the identity routes ------------------------------------
 *
 * Each takes the caller's ctx and decides what it may see: a cloud admin
 * sees everything; anybody else sees only projects where they have a role
 * and only their own user and API keys, and what they may not see is
 * NUBO_E_NOTFOUND exactly like what does not exist.  Admin-only services
 * check authz_require(ctx, AUTHZ_ADMIN) themselves as well.  Values are
 * validated here (NUBO_E_INVALID with a message saying what to fix), and a
 * service that fails changes nothing.
 *
 * Returned JSON values are new references the caller owns, shaped as the
 * API answers them (docs/internals/controller-api.md, Identity).
 *
 * Lists return an array of at most limit + 1 rows in creation order,
 * starting after the item whose id is marker (NULL: from the start), for
 * store_page_wrap() to trim; a marker that is not an item of the list is
 * NUBO_E_INVALID.
 *
 * Projects and users are named by id or name (ref). */

/* The caller's own API keys (revoked and expired ones too). */
json_t *identity_apikey_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                             struct nubo_err *err);

/* A new API key of the caller in the caller's project, valid for
 * expires_in_days (1..3650).  The answer holds the secret "key": it is never
 * shown again.  NUBO_E_FORBIDDEN when the caller has no role there, or
 * calls with an API key (keys do not mint keys: log in with a password).
 * The key records the session that made it (tokens.created_by). */
json_t *identity_apikey_create(struct store *st, const struct ctx *ctx, const char *name,
                               long long expires_in_days, struct nubo_err *err);

/* Revokes an API key of the caller (an admin: anybody's), and the keys it
 * made, if any.  Revoking a session never revokes the keys made with it. */
int identity_apikey_delete(struct store *st, const struct ctx *ctx, const char *id,
                           struct nubo_err *err);

/* Projects the caller may see, each with the caller's "role" when they have
 * one. */
json_t *identity_project_list(struct store *st, const struct ctx *ctx, int limit,
                              const char *marker, struct nubo_err *err);

/* Creates a project with the default quota (admin).  description may be
 * NULL (none) and holds at most 255 characters.  NUBO_E_CONFLICT when the
 * name is taken. */
json_t *identity_project_create(struct store *st, const struct ctx *ctx, const char *name,
                                const char *description, struct nubo_err *err);

json_t *identity_project_get(struct store *st, const struct ctx *ctx, const char *ref,
                             struct nubo_err *err);

/* Deletes a project and everything in it (cloud admin).  NUBO_E_CONFLICT
 * when a hook refuses (live instances, a stack or a scaling group that still
 * owns resources: the message says what to delete first); cloud admins stay
 * cloud admins whatever projects are deleted.  The files the hooks name are removed after the
 * commit. */
int identity_project_delete(struct store *st, const struct ctx *ctx, const char *ref,
                            struct nubo_err *err);

/* Called by identity_project_delete() inside its write transaction, after
 * the project is resolved and before its row goes, once per registered
 * hook in registration order: the modules above identity that keep rows
 * of the project (compute's instances, scale's groups, stacks, samples,
 * usage records) refuse the delete (-1 with err, e.g. NUBO_E_CONFLICT) or
 * remove those rows.  A hook that owns files of the project (image files)
 * adds their paths to files: they are unlinked only once the transaction
 * has committed, so a refused delete leaves them in place.  arg is the
 * hook's, as registered. */
struct strv;
typedef int identity_project_delete_fn(struct store *st, const char *project_id, const char *name,
                                       struct strv *files, void *arg, struct nubo_err *err);

/* Adds a hook (at most IDENTITY_PROJECT_HOOKS_MAX; -1 past that).  nubod
 * registers them in ctrl_start(), before any request;
 * identity_clear_project_delete_hooks() removes them all.  Not
 * thread-safe: call them before threads use identity. */
#define IDENTITY_PROJECT_HOOKS_MAX 8
int identity_add_project_delete_hook(identity_project_delete_fn *fn, void *arg);
void identity_clear_project_delete_hooks(void);

/* The API name of a dimension ("instances", "vcpus", ..., "image_gib"):
 * also its column in the quotas table. */
const char *quota_dim_name(enum quota_dim d);

/* The limits to change: value[d] where set[d]. */
struct quota_change {
    bool set[QUOTA_DIMS];
    long long value[QUOTA_DIMS];
};

/* {project_id, limits:{...}, usage:{...}} of a project the caller may see;
 * usage comes from usage (each module's count) and, for API keys, from
 * identity itself; image_gib's usage is rounded up to whole GiB. */
json_t *identity_quota_get(struct store *st, const struct ctx *ctx, const char *project,
                           quota_usage_fn *usage, struct nubo_err *err);

/* Changes some limits (cloud admin only, never a project's admin: a quota
 * its own project's admin could raise would limit nothing; each
 * 0..QUOTA_MAX) and answers like
 * identity_quota_get().  Limits below the current usage are allowed: they
 * only stop new creates. */
json_t *identity_quota_set(struct store *st, const struct ctx *ctx, const char *project,
                           const struct quota_change *ch, quota_usage_fn *usage,
                           struct nubo_err *err);

/* [{user_id, user_name, role}] of a project the caller may see; the marker
 * is a user_id. */
json_t *identity_member_list(struct store *st, const struct ctx *ctx, const char *project,
                             int limit, const char *marker, struct nubo_err *err);

/* Gives user (id or name) the role "admin", "member" or "reader" in
 * project, replacing the one they had (a cloud admin: any project; a
 * project's admin: the project their token is scoped to; NUBO_E_FORBIDDEN
 * otherwise).  Returns {user_id, user_name, project_id, role}. */
json_t *identity_member_set(struct store *st, const struct ctx *ctx, const char *project,
                            const char *user, const char *role, struct nubo_err *err);

/* Takes user's role in project away (who may: as identity_member_set).
 * NUBO_E_NOTFOUND when they had none. */
int identity_member_remove(struct store *st, const struct ctx *ctx, const char *project,
                           const char *user, struct nubo_err *err);

/* Every user [{id, name, email, disabled, cloud_admin, created_at}] (cloud
 * admin). */
json_t *identity_user_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                           struct nubo_err *err);

/* Creates a user (admin) with a password of 8..256 characters; email may be
 * NULL.  NUBO_E_CONFLICT when the name is taken. */
json_t *identity_user_create(struct store *st, const struct ctx *ctx, const char *name,
                             const char *password, const char *email, struct nubo_err *err);

/* A user (cloud admin: any; others: themselves) with cloud_admin and
 * roles:[{project_id, project_name, role}]. */
json_t *identity_user_get(struct store *st, const struct ctx *ctx, const char *ref,
                          struct nubo_err *err);

/* What a PATCH changes: NULL / -1 leave a field as it is. */
struct user_patch {
    const char *password;         /* the user themselves or an admin */
    const char *current_password; /* required when changing one's own */
    const char *email;            /* admin; "" clears it */
    int disabled;                 /* admin: 0 or 1; -1 unchanged */
    int cloud_admin;              /* cloud admin: 0 or 1; -1 unchanged */
};

/* Changes a user.  A new password revokes the user's other login sessions.
 * Changing one's own password needs current_password (NUBO_E_FORBIDDEN
 * when missing or wrong; an admin setting another user's does not), and a
 * login session: a password is never changed with an API key
 * (NUBO_E_FORBIDDEN).  NUBO_E_FORBIDDEN too when a non-admin changes more
 * than their own password, or an admin disables themselves.  cloud_admin
 * makes the user a cloud admin or takes it away (the API's grant and
 * revoke; idempotent); NUBO_E_CONFLICT when a change (that, disabling,
 * or deleting) would leave no enabled cloud admin.  A wrong
 * current_password counts towards the user's login back-off
 * (NUBO_E_TOOMANY while it lasts). */
json_t *identity_user_update(struct store *st, const struct ctx *ctx, const char *ref,
                             const struct user_patch *patch, struct nubo_err *err);

/* Deletes a user with their roles, sessions and API keys (admin, not
 * themselves: NUBO_E_FORBIDDEN). */
int identity_user_delete(struct store *st, const struct ctx *ctx, const char *ref,
                         struct nubo_err *err);

/* Exact-match filters of the audit log; NULL matches everything.  user and
 * project match an id or a name; result is success, failure or denied. */
struct audit_filter {
    const char *user, *project, *action, *result;
    const char *since; /* RFC 3339 UTC time: records at or after it; NULL: all */
    const char *order; /* "oldest" (first; also NULL) or "newest" (first) */
};

/* Audit records [{id, at, request_id, user_id, user_name, project_id,
 * method, path, action, target, status, result}] (admin). */
json_t *identity_audit_list(struct store *st, const struct ctx *ctx, const struct audit_filter *f,
                            int limit, const char *marker, struct nubo_err *err);

#endif
