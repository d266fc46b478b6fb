/*
 * user.c - user accounts: list, create, show, change, delete.
 *
 * Only a cloud admin manages accounts.  A user may see their own account
 * (with their roles) and change their own password; another user's account
 * answers 404 to them, like a missing one.  Passwords are stored as
 * argon2id hashes (lib/crypto.h) and never returned.  Changing one's own
 * password takes the current one and a login session (never an API key):
 * a leaked key or an unattended session must not become the account.
 * Changing a password ends the user's other login sessions (API keys stay:
 * they are managed on their own).  An admin cannot delete or disable themselves, and no change
 * may leave the cloud without an enabled cloud admin.
 *
 * Being a cloud admin is a flag on the user (cloud_admin), not a role in a
 * project: only a cloud admin gives it or takes it away (PATCH
 * {cloud_admin}), and the last enabled one cannot lose it (409).
 */
#include <string.h>
#include <strings.h>

#include "identity/identity_int.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/util.h"

#define PASSWORD_MIN 8
#define PASSWORD_MAX 256
#define EMAIL_MAX 254

extern const char common_passwords[]; /* common-passwords.txt, NUL-terminated */

/* ----------------------------------------------------------- helpers */

int identity_user_resolve(struct store *st, const char *ref, char id[37], char name[64],
                          struct nubo_err *err)
{
    json_t *u = store_query_one(st, err, "SELECT id, name FROM users WHERE id = ? OR name = ?",
                                "ss", ref, ref);
    if (u == NULL) {
        if (err && err->code == NUBO_E_NOTFOUND)
            nubo_err_set(err, NUBO_E_NOTFOUND, "no user '%.63s'", ref);
        return -1;
    }
    str_copy(id, 37, jsonx_str(u, "id"));
    str_copy(name, 64, jsonx_str(u, "name"));
    json_decref(u);
    return 0;
}

/* True when pw, ASCII letters folded, is a line of the common-password
 * list (common-passwords.txt, embedded; '#!comment' lines are its header). */
static bool password_common(const char *pw)
{
    size_t n = strlen(pw);
    for (const char *line = common_passwords; *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len == n && strncasecmp(line, pw, n) == 0)
            return true;
        line += len + (eol != NULL);
    }
    return false;
}

/* The rules a new password meets: 8 to 256 characters, not only
 * whitespace, not one character repeated, not the user's name, not one of
 * the commonly used passwords that every guessing attack tries first. */
static int password_check(const char *pw, const char *user, struct nubo_err *err)
{
    size_t n = 0;
    bool blank = true, same = true;
    for (const char *c = pw; *c; c++) {
        n += ((unsigned char)*c & 0xc0) != 0x80; /* UTF-8 code points */
        blank = blank && strchr(" \t\r\n\v\f", *c) != NULL;
        same = same && *c == *pw;
    }
    if (n < PASSWORD_MIN || n > PASSWORD_MAX)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "password must be %d to %d characters long (got %zu)", PASSWORD_MIN,
                            PASSWORD_MAX, n);
    if (blank || same)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "password must not be only whitespace or one character repeated");
    if (strcasecmp(pw, user) == 0)
        return nubo_err_set(err, NUBO_E_INVALID, "password must not be the user's name");
    if (password_common(pw))
        return nubo_err_set(err, NUBO_E_INVALID,
                            "password is one of the most commonly used passwords, which are "
                            "guessed first; choose another (a few unrelated words work well)");
    return 0;
}

/* Hashes pw with one of the hashing slots (throttle.c). */
static int password_hash(const char *pw, char hash[CRYPTO_PWHASH_LEN], struct nubo_err *err)
{
    if (identity_hash_acquire(true, err) < 0)
        return -1;
    int rc = crypto_password_hash(pw, hash, err);
    identity_hash_release();
    return rc;
}

/* May ctx set user id's (name's) password to patch->password?  Not with an
 * API key; one's own only with the current one, whose wrong guesses count
 * towards the login back-off of name like wrong logins do.  Then hashes the
 * new password into hash. */
static int password_change_check(struct store *st, const struct ctx *ctx, const char *id,
                                 const char *name, const struct user_patch *patch,
                                 char hash[CRYPTO_PWHASH_LEN], struct nubo_err *err)
{
    if (ctx->via_apikey)
        return nubo_err_set(err, NUBO_E_FORBIDDEN,
                            "an API key cannot change passwords; log in with your password "
                            "(nubo login) and change it with that session");
    bool self = strcmp(id, ctx->user_id) == 0;
    if (self && patch->current_password == NULL)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "changing your own password needs your current one: send "
                            "{\"password\": NEW, \"current_password\": CURRENT}");
    if (password_check(patch->password, name, err) < 0)
        return -1;
    if (!self)
        return password_hash(patch->password, hash, err);
    if (identity_throttle_check(name, NULL, NULL, err) < 0)
        return -1;
    json_t *u = store_query_one(st, err, "SELECT password_hash FROM users WHERE id = ?", "s", id);
    if (u == NULL)
        return -1;
    if (identity_hash_acquire(true, err) < 0) {
        json_decref(u);
        return -1;
    }
    bool ok = crypto_password_verify(jsonx_str(u, "password_hash"), patch->current_password);
    int rc = ok ? crypto_password_hash(patch->password, hash, err) : 0;
    identity_hash_release();
    json_decref(u);
    identity_throttle_record(name, NULL, ok);
    if (!ok)
        return nubo_err_set(err, NUBO_E_FORBIDDEN,
                            "current_password is wrong; the password is unchanged");
    return rc;
}

/* A plausible address: local@domain, no spaces or control characters.  ""
 * means none. */
static int email_check(const char *e, struct nubo_err *err)
{
    if (*e == '\0')
        return 0;
    const char *at = strchr(e, '@');
    if (strlen(e) > EMAIL_MAX)
        return nubo_err_set(err, NUBO_E_INVALID, "email is longer than %d characters", EMAIL_MAX);
    for (const char *c = e; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "email must not contain spaces or control characters");
    if (at == NULL || at == e || at[1] == '\0' || strchr(at + 1, '@'))
        return nubo_err_set(err, NUBO_E_INVALID,
                            "email must look like name@example.org (or be \"\" for none)");
    return 0;
}

/* A user as the API shows it, with roles when with_roles. */
static json_t *user_show(struct store *st, const char *id, bool with_roles, struct nubo_err *err)
{
    json_t *u = store_query_one(st, err,
                                "SELECT id, name, email, disabled, cloud_admin, created_at"
                                " FROM users WHERE id = ?",
                                "s", id);
    if (u == NULL) {
        if (err && err->code == NUBO_E_NOTFOUND)
            nubo_err_set(err, NUBO_E_NOTFOUND, "no user '%.63s'", id);
        return NULL;
    }
    identity_rows_bool(u, "disabled");
    identity_rows_bool(u, "cloud_admin");
    if (!with_roles)
        return u;
    json_t *roles = store_query(st, err,
                                "SELECT r.project_id, p.name AS project_name, r.role"
                                " FROM role_assignments r JOIN projects p ON p.id = r.project_id"
                                " WHERE r.user_id = ? ORDER BY p.name",
                                "s", id);
    if (roles == NULL) {
        json_decref(u);
        return NULL;
    }
    json_object_set_new(u, "roles", roles);
    return u;
}

/* Finds the user ref that ctx may see: anyone for an admin, only
 * themselves for others (anybody else is "no such user"). */
static int user_visible(struct store *st, const struct ctx *ctx, const char *ref, char id[37],
                        char name[64], struct nubo_err *err)
{
    if (identity_user_resolve(st, ref, id, name, err) < 0)
        return -1;
    if (!ctx->is_admin && strcmp(id, ctx->user_id) != 0)
        return nubo_err_set(err, NUBO_E_NOTFOUND, "no user '%.63s'", ref);
    return 0;
}

/* ----------------------------------------------------------- services */

json_t *identity_user_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                           struct nubo_err *err)
{
    if (authz_require(ctx, AUTHZ_ADMIN, err) < 0)
        return NULL;
    struct store_page pg = {.marker = marker, .limit = limit};
    if (store_page_start(st, &pg, err, "SELECT created_at FROM users WHERE id = ?", "s", marker) <
        0)
        return NULL;
    json_t *rows = store_page_query(st, &pg, NULL, err,
                                    "SELECT id, name, email, disabled, cloud_admin, created_at"
                                    " FROM users WHERE 1 = 1",
                                    "");
    identity_rows_bool(rows, "disabled");
    identity_rows_bool(rows, "cloud_admin");
    return rows;
}

json_t *identity_user_create(struct store *st, const struct ctx *ctx, const char *name,
                             const char *password, const char *email, struct nubo_err *err)
{
    char id[37], now[32], hash[CRYPTO_PWHASH_LEN];
    if (email == NULL)
        email = "";
    if (authz_require(ctx, AUTHZ_ADMIN, err) < 0 ||
        identity_name_check(name, "user name", err) < 0 ||
        password_check(password, name, err) < 0 || email_check(email, err) < 0 ||
        password_hash(password, hash, err) < 0)
        return NULL;
    id_new(id);
    clock_now_str(now);
    if (store_exec(st, err,
                   "INSERT INTO users (id, name, password_hash, email, created_at)"
                   " VALUES (?, ?, ?, ?, ?)",
                   "sssss", id, name, hash, email, now) < 0) {
        if (err && err->code == NUBO_E_CONFLICT)
            nubo_err_set(err, NUBO_E_CONFLICT, "a user named '%s' already exists", name);
        return NULL;
    }
    return user_show(st, id, false, err);
}

json_t *identity_user_get(struct store *st, const struct ctx *ctx, const char *ref,
                          struct nubo_err *err)
{
    char id[37], name[64];
    if (user_visible(st, ctx, ref, id, name, err) < 0)
        return NULL;
    return user_show(st, id, true, err);
}

json_t *identity_user_update(struct store *st, const struct ctx *ctx, const char *ref,
                             const struct user_patch *patch, struct nubo_err *err)
{
    char id[37], name[64], hash[CRYPTO_PWHASH_LEN] = "", now[32];
    json_t *out = NULL;
    if (user_visible(st, ctx, ref, id, name, err) < 0)
        return NULL;
    bool self = strcmp(id, ctx->user_id) == 0;
    if (!ctx->is_admin && (patch->email || patch->disabled >= 0 || patch->cloud_admin >= 0)) {
        nubo_err_set(err, NUBO_E_FORBIDDEN,
                     "you may change only your own password; ask a cloud admin to change the %s",
                     patch->email           ? "email"
                     : patch->disabled >= 0 ? "disabled flag"
                                            : "cloud_admin flag");
        return NULL;
    }
    if (self && patch->disabled == 1) {
        nubo_err_set(err, NUBO_E_FORBIDDEN, "you cannot disable yourself; ask another admin");
        return NULL;
    }
    if (patch->current_password && patch->password == NULL) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "current_password goes with password (the new one); send both or neither");
        return NULL;
    }
    if ((patch->email && email_check(patch->email, err) < 0) ||
        (patch->password && password_change_check(st, ctx, id, name, patch, hash, err) < 0))
        return NULL;
    clock_now_str(now);
    if (store_begin(st, true, err) < 0)
        return NULL;
    if ((patch->email && store_exec(st, err, "UPDATE users SET email = ? WHERE id = ?", "ss",
                                    patch->email, id) < 0) ||
        (patch->disabled >= 0 && store_exec(st, err, "UPDATE users SET disabled = ? WHERE id = ?",
                                            "is", (long long)patch->disabled, id) < 0) ||
        (patch->cloud_admin >= 0 &&
         store_exec(st, err, "UPDATE users SET cloud_admin = ? WHERE id = ?", "is",
                    (long long)patch->cloud_admin, id) < 0))
        goto cleanup;
    /* A new password ends every other login session of the user: whoever
     * knew the old one must not stay logged in. */
    if (patch->password &&
        (store_exec(st, err, "UPDATE users SET password_hash = ? WHERE id = ?", "ss", hash, id) <
             0 ||
         store_exec(st, err,
                    "UPDATE tokens SET revoked_at = ? WHERE user_id = ? AND kind = 'session'"
                    " AND revoked_at IS NULL AND id <> ?",
                    "sss", now, id, ctx->token_id) < 0))
        goto cleanup;
    if (identity_admins_check(st, err) < 0)
        goto cleanup;
    out = user_show(st, id, false, err);
    if (out && store_commit(st, err) < 0) {
        json_decref(out);
        out = NULL;
    }
cleanup:
    store_rollback(st); /* a no-op after the commit */
    return out;
}

int identity_user_delete(struct store *st, const struct ctx *ctx, const char *ref,
                         struct nubo_err *err)
{
    char id[37], name[64];
    int rc = -1;
    if (authz_require(ctx, AUTHZ_ADMIN, err) < 0 || store_begin(st, true, err) < 0)
        return -1;
    if (identity_user_resolve(st, ref, id, name, err) < 0)
        goto cleanup;
    if (strcmp(id, ctx->user_id) == 0) {
        nubo_err_set(err, NUBO_E_FORBIDDEN, "you cannot delete yourself; ask another admin");
        goto cleanup;
    }
    /* Roles and tokens (sessions and API keys) cascade. */
    if (store_exec(st, err, "DELETE FROM users WHERE id = ?", "s", id) < 0 ||
        identity_admins_check(st, err) < 0)
        goto cleanup;
    rc = store_commit(st, err);
cleanup:
    store_rollback(st); /* a no-op after the commit */
    return rc;
}
