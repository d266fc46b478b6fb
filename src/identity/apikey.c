/*
 * apikey.c - API keys: named, long-lived bearer tokens for scripts.
 *
 * An API key is a row of the tokens table with kind 'apikey', scoped like
 * the session that made it to the caller's current project; it acts with the
 * owner's role there at the time of each call (identity_authenticate()
 * reads the role every time), so taking a role away also disarms the keys.
 * The secret ("nubokey_" + 43 random base64url characters) is returned
 * once, by the create; only its SHA-256 is stored.  Deleting a key revokes
 * it (the row stays, listed as revoked).
 *
 * Only a login session makes keys: a key that could make keys would let a
 * leaked key outlive its own revocation and expiry.  The key records the
 * session that made it (tokens.created_by) for the record; the session
 * ending (logout, expiry, a password change) leaves its keys alone, since
 * a key is meant to outlive the 12-hour session it was made in.  Its
 * expiry is the one asked for (at most 3650 days).
 */
#include <string.h>

#include "identity/identity_int.h"
#include "lib/clock.h"
#include "lib/valid.h"

#define APIKEY_DAYS_MAX 3650
#define DAY_MS (24LL * 3600 * 1000)

/* Turns the stored columns into the API's fields. */
static void apikey_shape(json_t *row)
{
    char exp[32];
    clock_format_ms((int64_t)json_integer_value(json_object_get(row, "expires_ms")), exp);
    json_object_set_new(row, "expires_at", json_string(exp));
    json_object_set_new(row, "revoked",
                        json_boolean(!json_is_null(json_object_get(row, "revoked_at"))));
    json_object_del(row, "expires_ms");
    json_object_del(row, "revoked_at");
}

json_t *identity_apikey_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                             struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    if (store_page_start(st, &pg, err,
                         "SELECT created_at FROM tokens WHERE id = ? AND kind = 'apikey'"
                         " AND user_id = ?",
                         "ss", marker, ctx->user_id) < 0)
        return NULL;
    json_t *rows = store_page_query(st, &pg, NULL, err,
                                    "SELECT id, name, project_id, expires_ms, created_at,"
                                    " revoked_at FROM tokens WHERE kind = 'apikey' AND user_id = ?",
                                    "s", ctx->user_id);
    for (size_t i = 0; i < json_array_size(rows); i++)
        apikey_shape(json_array_get(rows, i));
    return rows;
}

json_t *identity_apikey_create(struct store *st, const struct ctx *ctx, const char *name,
                               long long expires_in_days, struct nubo_err *err)
{
    char secret[IDENTITY_SECRET_LEN], id[37], exp[32];
    if (valid_name(name, "API key name", err) < 0)
        return NULL;
    if (expires_in_days < 1 || expires_in_days > APIKEY_DAYS_MAX) {
        nubo_err_set(err, NUBO_E_INVALID, "expires_in_days must be a whole number from 1 to %d",
                     APIKEY_DAYS_MAX);
        return NULL;
    }
    if (ctx->via_apikey) {
        nubo_err_set(err, NUBO_E_FORBIDDEN,
                     "an API key cannot create API keys; log in with your password (nubo login) "
                     "and create the key with that session");
        return NULL;
    }
    if (ctx->role == ROLE_NONE) {
        nubo_err_set(err, NUBO_E_FORBIDDEN,
                     "you have no role in project '%s'; an API key would be of no use there",
                     ctx->project_name);
        return NULL;
    }
    int64_t expires = clock_now_ms() + expires_in_days * DAY_MS;
    long long keys = 0;
    /* The count and the insert in one write transaction: the key quota. */
    if (store_begin(st, true, err) < 0)
        return NULL;
    if (identity_apikey_count(st, ctx->project_id, &keys, err) < 0 ||
        quota_check_count(st, ctx->project_id, QUOTA_API_KEYS, 1, keys, err) < 0 ||
        identity_token_insert(st, "apikey", "nubokey_", name, ctx->user_id, ctx->project_id,
                              ctx->token_id, expires, secret, sizeof(secret), id, err) < 0 ||
        store_commit(st, err) < 0) {
        store_rollback(st);
        return NULL;
    }
    clock_format_ms(expires, exp);
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "name", name, "key", secret,
                     "project_id", ctx->project_id, "expires_at", exp);
}

int identity_apikey_delete(struct store *st, const struct ctx *ctx, const char *id,
                           struct nubo_err *err)
{
    char now[32];
    clock_now_str(now);
    if (store_begin(st, true, err) < 0)
        return -1;
    long long n = store_exec(st, err,
                             "UPDATE tokens SET revoked_at = ? WHERE id = ? AND kind = 'apikey'"
                             " AND revoked_at IS NULL AND (user_id = ? OR ? = 1)",
                             "sssi", now, id, ctx->user_id, (long long)ctx->is_admin);
    if (n == 0)
        nubo_err_set(err, NUBO_E_NOTFOUND, "no active API key with id '%.40s'", id);
    /* What the key made goes with it.  Keys cannot make keys today, so
     * this finds nothing; it keeps the rule should that ever change. */
    if (n <= 0 ||
        store_exec(st, err,
                   "UPDATE tokens SET revoked_at = ? WHERE created_by = ?"
                   " AND revoked_at IS NULL",
                   "ss", now, id) < 0 ||
        store_commit(st, err) < 0) {
        store_rollback(st);
        return -1;
    }
    return 0;
}
