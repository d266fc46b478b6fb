/*
 * identity.c - authentication, authorization, login, bootstrap, and the
 * helpers the module's other files share (identity_int.h).  See identity.h.
 *
 * The resources behind the identity routes live in their own files:
 * project.c, quota.c, member.c, user.c, apikey.c, audit.c.
 */
#include "identity/identity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/valid.h"

#include "identity/identity_int.h"

static const char *role_names[] = {"none", "reader", "member", "admin"};

const char *role_name(enum role r)
{
    return (size_t)r < ARRAY_LEN(role_names) ? role_names[r] : "none";
}

int role_parse(const char *s, enum role *out)
{
    for (size_t i = 1; i < ARRAY_LEN(role_names); i++) {
        if (s && strcmp(s, role_names[i]) == 0) {
            *out = (enum role)i;
            return 0;
        }
    }
    return -1;
}

/* ------------------------------------------------------ shared helpers */

static void row_bool(json_t *row, const char *k)
{
    json_t *v = json_object_get(row, k);
    if (v && json_is_integer(v))
        json_object_set_new(row, k, json_boolean(json_integer_value(v) != 0));
}

void identity_rows_bool(json_t *rows, const char *k)
{
    if (json_is_object(rows)) {
        row_bool(rows, k);
        return;
    }
    for (size_t i = 0; i < json_array_size(rows); i++)
        row_bool(json_array_get(rows, i), k);
}

int identity_token_insert(struct store *st, const char *kind, const char *prefix, const char *name,
                          const char *user_id, const char *project_id, const char *created_by,
                          int64_t expires_ms, char *secret, size_t n, char token_id[37],
                          struct nubo_err *err)
{
    char hash[CRYPTO_SHA256_HEX], now[32];
    crypto_secret_new(prefix, secret, n);
    crypto_sha256_hex(secret, strlen(secret), hash);
    id_new(token_id);
    clock_now_str(now);
    if (store_exec(st, err,
                   "INSERT INTO tokens (id, hash, kind, name, user_id, project_id, created_by,"
                   " expires_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   "sssssssis", token_id, hash, kind, name, user_id, project_id, created_by,
                   (long long)expires_ms, now) < 0)
        return -1;
    return 0;
}

int identity_admins_check(struct store *st, struct nubo_err *err)
{
    json_t *n = store_query_one(
        st, err, "SELECT COUNT(*) AS n FROM users WHERE cloud_admin = 1 AND disabled = 0", "");
    if (n == NULL)
        return -1;
    long long admins = json_integer_value(json_object_get(n, "n"));
    json_decref(n);
    if (admins == 0)
        return nubo_err_set(err, NUBO_E_CONFLICT,
                            "this would leave the cloud without an enabled cloud admin; make "
                            "another user cloud admin first (nubo user grant-cloud-admin USER)");
    return 0;
}

int identity_name_check(const char *name, const char *what, struct nubo_err *err)
{
    if (valid_name(name, what, err) < 0)
        return -1;
    if (valid_is_uuid(name))
        return nubo_err_set(err, NUBO_E_INVALID,
                            "%s must not look like an id (a UUID); pick another name", what);
    return 0;
}

/* ------------------------------------------------------- authentication */

int identity_authenticate(struct store *st, const char *auth, struct ctx *ctx, struct nubo_err *err)
{
    static const char prefix[] = "Bearer ";
    if (auth == NULL || strncmp(auth, prefix, sizeof(prefix) - 1) != 0 || strlen(auth) > 200)
        return nubo_err_set(err, NUBO_E_UNAUTHORIZED,
                            "this call needs credentials: send 'Authorization: Bearer <token>' "
                            "(get a token with POST /v1/auth/tokens or 'nubo login')");
    char hash[CRYPTO_SHA256_HEX];
    const char *secret = auth + sizeof(prefix) - 1;
    crypto_sha256_hex(secret, strlen(secret), hash);
    struct nubo_err qerr;
    if (strncmp(secret, "nubohost_", 9) == 0) {
        json_t *h =
            store_query_one(st, &qerr, "SELECT id FROM hosts WHERE token_hash = ?", "s", hash);
        if (h == NULL && qerr.code != NUBO_E_NOTFOUND) /* the database, not the token */
            return nubo_err_set(err, qerr.code, "%s", qerr.msg);
        if (h == NULL)
            return nubo_err_set(err, NUBO_E_UNAUTHORIZED, "unknown host token");
        str_copy(ctx->host_id, sizeof(ctx->host_id), jsonx_str(h, "id"));
        json_decref(h);
        return 0;
    }
    json_t *t = store_query_one(
        st, &qerr,
        "SELECT t.id AS token_id, t.kind, t.expires_ms, t.revoked_at, u.id AS user_id,"
        " u.name AS user_name, u.disabled, u.cloud_admin, p.id AS project_id,"
        " p.name AS project_name, r.role"
        " FROM tokens t JOIN users u ON u.id = t.user_id JOIN projects p ON p.id = t.project_id"
        " LEFT JOIN role_assignments r ON r.user_id = u.id AND r.project_id = p.id"
        " WHERE t.hash = ?",
        "s", hash);
    if (t == NULL) {
        if (qerr.code != NUBO_E_NOTFOUND)
            return nubo_err_set(err, qerr.code, "%s", qerr.msg);
        return nubo_err_set(err, NUBO_E_UNAUTHORIZED,
                            "the token is not valid; log in again (nubo login)");
    }
    int rc = 0;
    if (!json_is_null(json_object_get(t, "revoked_at")))
        rc = nubo_err_set(err, NUBO_E_UNAUTHORIZED, "the token was revoked; log in again");
    else if (json_integer_value(json_object_get(t, "expires_ms")) <= clock_now_ms())
        rc = nubo_err_set(err, NUBO_E_UNAUTHORIZED, "the token has expired; log in again");
    else if (json_integer_value(json_object_get(t, "disabled")))
        rc = nubo_err_set(err, NUBO_E_UNAUTHORIZED, "the user is disabled");
    if (rc == 0) {
        str_copy(ctx->token_id, sizeof(ctx->token_id), jsonx_str(t, "token_id"));
        str_copy(ctx->user_id, sizeof(ctx->user_id), jsonx_str(t, "user_id"));
        str_copy(ctx->user_name, sizeof(ctx->user_name), jsonx_str(t, "user_name"));
        str_copy(ctx->project_id, sizeof(ctx->project_id), jsonx_str(t, "project_id"));
        str_copy(ctx->project_name, sizeof(ctx->project_name), jsonx_str(t, "project_name"));
        ctx->is_admin = json_integer_value(json_object_get(t, "cloud_admin")) != 0;
        ctx->via_apikey = strcmp(jsonx_str(t, "kind"), "apikey") == 0;
        if (role_parse(json_string_value(json_object_get(t, "role")), &ctx->role) < 0)
            ctx->role = ROLE_NONE; /* the role was removed after login */
        /* A cloud admin acts as an admin of whichever project the token
         * is scoped to; a project's admin role gives nothing beyond it. */
        if (ctx->is_admin)
            ctx->role = ROLE_ADMIN;
    }
    json_decref(t);
    return rc;
}

int authz_require(const struct ctx *ctx, enum authz need, struct nubo_err *err)
{
    if (need == AUTHZ_PUBLIC)
        return 0;
    bool user = ctx->user_id[0] != '\0';
    if (need == AUTHZ_HOST) {
        if (ctx->host_id[0])
            return 0;
        return nubo_err_set(err, user ? NUBO_E_FORBIDDEN : NUBO_E_UNAUTHORIZED,
                            "only a registered host agent may call this");
    }
    if (!user)
        return nubo_err_set(err, NUBO_E_UNAUTHORIZED,
                            "this call needs a user's credentials (nubo login)");
    switch (need) {
    case AUTHZ_AUTHENTICATED:
        return 0;
    case AUTHZ_READ:
        if (ctx->role >= ROLE_READER)
            return 0;
        return nubo_err_set(err, NUBO_E_FORBIDDEN, "you have no role in project '%s'",
                            ctx->project_name);
    case AUTHZ_WRITE:
        if (ctx->role >= ROLE_MEMBER)
            return 0;
        return nubo_err_set(err, NUBO_E_FORBIDDEN,
                            "your role in project '%s' is %s: changing resources needs member "
                            "or admin",
                            ctx->project_name, role_name(ctx->role));
    case AUTHZ_ADMIN:
        if (ctx->is_admin)
            return 0;
        return nubo_err_set(err, NUBO_E_FORBIDDEN, "only a cloud admin may do this");
    case AUTHZ_PROJECT_ADMIN:
        if (ctx->role >= ROLE_ADMIN)
            return 0;
        return nubo_err_set(err, NUBO_E_FORBIDDEN,
                            "your role in project '%s' is %s: this needs the project's admin "
                            "role (or a cloud admin)",
                            ctx->project_name, role_name(ctx->role));
    default:
        return nubo_err_set(err, NUBO_E_FORBIDDEN, "not allowed");
    }
}

/* Checks user's password with one of the hashing slots: 1 when it is
 * right (and the user enabled), 0 when not, -1 with err when no slot is
 * free or the database failed.  *u is the user's row (NULL when there is
 * none). */
static int login_verify(struct store *st, const char *user, const char *password, json_t **u,
                        struct nubo_err *err)
{
    struct nubo_err qerr;
    if (identity_hash_acquire(false, err) < 0)
        return -1;
    *u = store_query_one(
        st, &qerr,
        "SELECT id, name, password_hash, disabled, cloud_admin FROM users WHERE name = ?", "s",
        user);
    bool ok;
    if (*u == NULL && qerr.code != NUBO_E_NOTFOUND) { /* the database failed: no verdict */
        identity_hash_release();
        return nubo_err_set(err, qerr.code, "%s", qerr.msg);
    }
    if (*u == NULL) {
        /* Spend the same time as a real check, so timing tells nothing. */
        crypto_password_verify("$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$"
                               "RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
                               password);
        ok = false;
    } else {
        ok = crypto_password_verify(jsonx_str(*u, "password_hash"), password) &&
             !json_integer_value(json_object_get(*u, "disabled"));
    }
    identity_hash_release();
    return ok;
}

json_t *identity_login(struct store *st, const char *user, const char *password,
                       const char *project, const char *client, int *retry_after_s,
                       struct nubo_err *err)
{
    static const char *bad = "wrong user name or password";
    struct nubo_err qerr;
    json_t *u = NULL;
    if (identity_throttle_check(user, client, retry_after_s, err) < 0)
        return NULL;
    int ok = login_verify(st, user, password, &u, err);
    if (ok < 0) {
        if (retry_after_s)
            *retry_after_s = 1;
        return NULL;
    }
    identity_throttle_record(user, client, ok);
    if (!ok) {
        json_decref(u);
        nubo_err_set(err, NUBO_E_UNAUTHORIZED, "%s", bad);
        return NULL;
    }
    /* A cloud admin may scope a token to any project (as the admin there),
     * with a role in it or not; without a project, the first one where
     * they have a role, else the first one. */
    long long cloud = json_integer_value(json_object_get(u, "cloud_admin")) != 0;
    json_t *p;
    if (project && *project)
        p = store_query_one(st, &qerr,
                            "SELECT p.id, p.name, CASE WHEN ? = 1 THEN 'admin' ELSE r.role END"
                            " AS role FROM projects p LEFT JOIN role_assignments r"
                            " ON r.project_id = p.id AND r.user_id = ?"
                            " WHERE (p.name = ? OR p.id = ?) AND (r.role IS NOT NULL OR ? = 1)",
                            "isssi", cloud, jsonx_str(u, "id"), project, project, cloud);
    else
        p = store_query_one(st, &qerr,
                            "SELECT p.id, p.name, CASE WHEN ? = 1 THEN 'admin' ELSE r.role END"
                            " AS role FROM projects p LEFT JOIN role_assignments r"
                            " ON r.project_id = p.id AND r.user_id = ?"
                            " WHERE r.role IS NOT NULL OR ? = 1"
                            " ORDER BY CASE WHEN r.role IS NULL THEN 1 ELSE 0 END, p.name",
                            "isi", cloud, jsonx_str(u, "id"), cloud);
    if (p == NULL && qerr.code != NUBO_E_NOTFOUND) {
        json_decref(u);
        nubo_err_set(err, qerr.code, "%s", qerr.msg);
        return NULL;
    }
    if (p == NULL) {
        json_decref(u);
        nubo_err_set(err, NUBO_E_UNAUTHORIZED,
                     project ? "you have no role in project '%.64s'"
                             : "you have no role in any project; ask an admin",
                     project ? project : "");
        return NULL;
    }
    char secret[IDENTITY_SECRET_LEN], tid[37], exp[32];
    int64_t expires = clock_now_ms() + SESSION_TTL_MS;
    json_t *out = NULL;
    if (identity_token_insert(st, "session", "nubo_", "", jsonx_str(u, "id"), jsonx_str(p, "id"),
                              NULL, expires, secret, sizeof(secret), tid, err) == 0) {
        clock_format_ms(expires, exp);
        out = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s}, s:s}", "token", secret,
                        "token_id", tid, "expires_at", exp, "user", "id", jsonx_str(u, "id"),
                        "name", jsonx_str(u, "name"), "project", "id", jsonx_str(p, "id"), "name",
                        jsonx_str(p, "name"), "role", jsonx_str(p, "role"));
    }
    json_decref(u);
    json_decref(p);
    return out;
}

int identity_token_revoke(struct store *st, const struct ctx *ctx, const char *token_id,
                          struct nubo_err *err)
{
    char now[32];
    clock_now_str(now);
    long long n = store_exec(st, err,
                             "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"
                             " AND (user_id = ? OR ? = 1)",
                             "sssi", now, token_id, ctx->user_id, (long long)ctx->is_admin);
    if (n < 0)
        return -1;
    if (n == 0)
        return nubo_err_set(err, NUBO_E_NOTFOUND, "no active token with id '%.40s'", token_id);
    return 0;
}

static int write_secret_file(const char *path, const char *secret, struct nubo_err *err)
{
    char line[256];
    snprintf(line, sizeof(line), "%s\n", secret);
    return fs_write_atomic(path, line, strlen(line), 0600, err);
}

int identity_bootstrap(struct store *st, const char *password_file, struct nubo_err *err)
{
    json_t *n = store_query_one(st, err, "SELECT COUNT(*) AS n FROM users", "");
    if (n == NULL)
        return -1;
    long long users = json_integer_value(json_object_get(n, "n"));
    json_decref(n);
    char now[32];
    clock_now_str(now);
    if (users == 0) {
        char admin_proj[37], demo_proj[37], uid[37], pw[CRYPTO_SECRET_LEN], hash[CRYPTO_PWHASH_LEN];
        crypto_secret_new("", pw, 25);
        if (crypto_password_hash(pw, hash, err) < 0)
            return -1;
        id_new(uid);
        if (store_begin(st, true, err) < 0)
            return -1;
        if (identity_project_insert(st, "admin", "the cloud's administrators", admin_proj, err) <
                0 ||
            identity_project_insert(st, "demo", "a first project to try nubo in", demo_proj, err) <
                0 ||
            store_exec(st, err,
                       "INSERT INTO users (id, name, password_hash, cloud_admin, created_at)"
                       " VALUES (?, ?, ?, 1, ?)",
                       "ssss", uid, "admin", hash, now) < 0 ||
            store_exec(st, err,
                       "INSERT INTO role_assignments (user_id, project_id, role, created_at)"
                       " VALUES (?, ?, 'admin', ?), (?, ?, 'admin', ?)",
                       "ssssss", uid, admin_proj, now, uid, demo_proj, now) < 0 ||
            write_secret_file(password_file, pw, err) < 0) {
            store_rollback(st);
            return -1;
        }
        if (store_commit(st, err) < 0)
            return -1;
        log_info("first start: created user 'admin' (password in %s) and projects 'admin' and "
                 "'demo'",
                 password_file);
    }
    return 0;
}
