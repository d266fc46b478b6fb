/*
 * identity.h - who is calling and what they may do: projects (tenants),
 * users, roles, tokens and API keys, quotas, the audit log.
 *
 * Every service call carries a struct ctx built here from the caller's
 * bearer token.  Authorization is decided in one place, authz_require(),
 * from the ctx and the kind of access the route declares; services then
 * select tenant resources by ctx->project_id inside their queries.
 *
 * Roles (per project): admin - the whole cloud (any project, hosts,
 * flavors, users); member - manage the project's resources; reader - see
 * the project's resources only.  A user with the admin role anywhere is a
 * cloud admin.
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
    char project_id[37];   /* the project the token is scoped to */
    char project_name[64];
    enum role role;        /* the caller's role in project_id */
    bool is_admin;         /* cloud admin */
    char host_id[37];      /* set instead of a user when a host agent calls */
};

/* What a route needs. */
enum authz {
    AUTHZ_PUBLIC = 0, /* no credentials */
    AUTHZ_READ,       /* reader, member or admin of the project */
    AUTHZ_WRITE,      /* member or admin */
    AUTHZ_ADMIN,      /* cloud admin */
    AUTHZ_HOST,       /* a registered host agent (host token) */
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
 * project by name).  Returns {"token", "expires_at", "user", "project",
 * "role"} (new reference) or NULL with NUBO_E_UNAUTHORIZED (never saying
 * whether the user exists). */
json_t *identity_login(struct store *st, const char *user, const char *password,
                       const char *project, struct nubo_err *err);

/* Revokes a token by id; a user may revoke their own, an admin any. */
int identity_token_revoke(struct store *st, const struct ctx *ctx, const char *token_id,
                          struct nubo_err *err);

/* First start: when there are no users, creates the projects "admin" and
 * "demo", the user "admin" (admin role in both) with a generated password
 * written to password_file (mode 0600, never logged), default quotas, and a
 * join token for host agents written to join_token_file (0600).  Does
 * nothing on later starts (but writes a new join token file when it is
 * missing). */
int identity_bootstrap(struct store *st, const char *password_file, const char *join_token_file,
                       struct nubo_err *err);

/* Resources a create wants to add to a project. */
struct quota_ask {
    long long instances, vcpus, ram_mib, disk_gib;
};

/* Checks that the project's live instances plus ask stay within its quota.
 * Must run inside the create's write transaction (store_begin(st, true)),
 * before the instance rows are inserted: the count and the insert are then
 * atomic against concurrent creates.  NUBO_E_FORBIDDEN ("quota exceeded:
 * ...", saying which limit) when they would not fit. */
int quota_check(struct store *st, const char *project_id, const struct quota_ask *ask,
                struct nubo_err *err);

/* Appends an audit record; never fails the caller (logs on error). */
void identity_audit(struct store *st, const struct ctx *ctx, const char *method,
                    const char *path, const char *action, const char *target, int status,
                    const char *result);

#endif
