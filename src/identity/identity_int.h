/*
 * identity_int.h - helpers shared by the files of the identity module
 * (identity.c, project.c, user.c, member.c, apikey.c, audit.c, quota.c).
 *
 * Not part of the module's interface: only the .c files of src/identity include it
 * (after SQLite's btreeInt.h).  Everything other modules may call is in
 * identity.h.
 */
#ifndef NUBO_IDENTITY_INT_H
#define NUBO_IDENTITY_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "identity/identity.h"
#include "lib/jsonx.h" /* jsonx_str(): a row's string or "" */

/* Big enough for any secret crypto_secret_new() makes with our prefixes
 * ("nubo_", "nubokey_": prefix + 43 characters + NUL). */
#define IDENTITY_SECRET_LEN 64

/* Replaces the integer o[k] (0 / non-zero) of every row of rows by a JSON
 * boolean; rows may be an object or an array of objects. */
void identity_rows_bool(json_t *rows, const char *k);

/* Inserts a token row of kind "session" or "apikey" and writes its secret
 * (prefix + random, shown to the caller once; only its SHA-256 is stored)
 * into secret (n >= IDENTITY_SECRET_LEN) and its id into token_id.
 * created_by is the id of the token that made it (NULL for a login). */
int identity_token_insert(struct store *st, const char *kind, const char *prefix, const char *name,
                          const char *user_id, const char *project_id, const char *created_by,
                          int64_t expires_ms, char *secret, size_t n, char token_id[37],
                          struct nubo_err *err);

/* Counts project_id's API keys that still work (not revoked, not
 * expired) into *n: the usage of QUOTA_API_KEYS (quota.c).  0 or -1. */
int identity_apikey_count(struct store *st, const char *project_id, long long *n,
                          struct nubo_err *err);

/* Inserts a project with the default quota; writes its new id.  Run it in a
 * write transaction so that both rows or neither exist. */
int identity_project_insert(struct store *st, const char *name, const char *description,
                            char id[37], struct nubo_err *err);

/* Finds a project by id or name that ctx may see (cloud admin: any; others:
 * those where they have a role).  Writes its id and name.  A project ctx
 * may not see is NUBO_E_NOTFOUND with the same message as a missing one. */
int identity_project_resolve(struct store *st, const struct ctx *ctx, const char *ref, char id[37],
                             char name[64], struct nubo_err *err);

/* Finds a user by id or name; writes its id and name.  NUBO_E_NOTFOUND when
 * there is none. */
int identity_user_resolve(struct store *st, const char *ref, char id[37], char name[64],
                          struct nubo_err *err);

/* Inside a write transaction, after a change to users: fails with
 * NUBO_E_CONFLICT when no enabled cloud admin is left, so the caller rolls
 * back rather than lock everybody out of the cloud. */
int identity_admins_check(struct store *st, struct nubo_err *err);

/* ---- throttle.c: login back-off and password-hashing slots ---- */

/* 0 when user (as typed) and addr (NULL or "": unknown) may try a
 * password now; else NUBO_E_TOOMANY with the wait in *retry_after_s. */
int identity_throttle_check(const char *user, const char *addr, int *retry_after_s,
                            struct nubo_err *err);

/* Counts a failed login of user from addr (ok false), or clears user's
 * count after a successful one. */
void identity_throttle_record(const char *user, const char *addr, bool ok);

/* Takes one of the password-hashing slots: 0, or (when !wait) -1 with
 * NUBO_E_UNAVAILABLE at once when all are busy; with wait, blocks until
 * one is free (only for callers who are logged in).  Every 0 is paired
 * with identity_hash_release(). */
int identity_hash_acquire(bool wait, struct nubo_err *err);
void identity_hash_release(void);

/* Rejects a name that looks like an id (a UUID): ids and names share the
 * {id} of paths, so a name must never be mistaken for another's id. */
int identity_name_check(const char *name, const char *what, struct nubo_err *err);

#endif
