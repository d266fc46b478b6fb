/*
 * join.c - join tokens: the secret a new host shows to register.  See
 * fleet.h.
 *
 * A join token lets a host that the cloud does not know yet join it, so it
 * is worth as much as a host: whoever holds one can be sent VMs, user-data
 * and private images.  None lives long:
 *   - the local token, kind 'local', in <state-dir>/join-token for agents
 *     on the controller's machine, is replaced every JOIN_ROTATE_MS and
 *     valid for JOIN_LOCAL_TTL_MS: a copy taken from the file is soon
 *     worthless;
 *   - tokens an admin mints for other machines (kind 'minted') expire
 *     (one hour unless asked otherwise, a week at most) and are single-use
 *     unless asked otherwise.
 * Only their SHA-256 is stored.  A registration spends one use of the token
 * in the transaction that records the host.  A known host re-registering
 * with its own host token needs no join token at all.
 */
#include "fleet/fleet.h"

#include <stdio.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/fsutil.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/util.h"

#define JOIN_PREFIX "nubojoin_"

static void token_row_public(json_t *row)
{
    json_t *e = json_object_get(row, "expires_ms");
    char at[32];
    clock_format_ms(json_integer_value(e), at);
    json_object_set_new(row, "expires_at", json_string(at));
    json_object_del(row, "expires_ms");
}

int fleet_join_local_rotate(struct store *st, const char *file, struct nubo_err *err)
{
    char tok[CRYPTO_SECRET_LEN], hash[CRYPTO_SHA256_HEX], id[37], now[32],
        line[CRYPTO_SECRET_LEN + 2];
    crypto_secret_new(JOIN_PREFIX, tok, sizeof(tok));
    crypto_sha256_hex(tok, strlen(tok), hash);
    id_new(id);
    clock_now_str(now);
    long long now_ms = (long long)clock_now_ms();
    int rc = -1;
    if (store_begin(st, true, err) < 0)
        goto out;
    /* Expired tokens go, and local ones from before expiry existed. */
    if (store_exec(st, err,
                   "DELETE FROM join_tokens WHERE expires_ms < ? OR"
                   " (kind = 'local' AND expires_ms IS NULL) OR uses_left = 0",
                   "i", now_ms) < 0 ||
        store_exec(st, err,
                   "INSERT INTO join_tokens (hash, id, kind, expires_ms, uses_left, note,"
                   " created_at) VALUES (?, ?, 'local', ?, NULL, ?, ?)",
                   "ssiss", hash, id, now_ms + JOIN_LOCAL_TTL_MS,
                   "the local token (<state-dir>/join-token)", now) < 0) {
        store_rollback(st);
        goto out;
    }
    /* The file first: a token in the store but not in the file harms
     * nobody; the other way round, agents would read a refused token. */
    snprintf(line, sizeof(line), "%s\n", tok);
    if (fs_write_atomic(file, line, strlen(line), 0600, err) < 0) {
        store_rollback(st);
        goto out;
    }
    if (store_commit(st, err) < 0)
        goto out;
    rc = 0;
out:
    explicit_bzero(tok, sizeof(tok));
    explicit_bzero(line, sizeof(line));
    return rc;
}

json_t *fleet_join_token_create(struct store *st, long long ttl_s, long long uses, const char *note,
                                const char *created_by, struct nubo_err *err)
{
    if (ttl_s < 60 || ttl_s > JOIN_MAX_TTL_S) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "'ttl_seconds' must be from 60 to %d (a week); a join token is for the "
                     "time it takes to install a host",
                     JOIN_MAX_TTL_S);
        return NULL;
    }
    if (uses < 1 || uses > JOIN_MAX_USES) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "'uses' must be from 1 to %d: how many hosts may join with this token",
                     JOIN_MAX_USES);
        return NULL;
    }
    if (note == NULL)
        note = "";
    if (strlen(note) > 200) {
        nubo_err_set(err, NUBO_E_INVALID, "'note' must be at most 200 characters");
        return NULL;
    }
    char tok[CRYPTO_SECRET_LEN], hash[CRYPTO_SHA256_HEX], id[37], now[32];
    crypto_secret_new(JOIN_PREFIX, tok, sizeof(tok));
    crypto_sha256_hex(tok, strlen(tok), hash);
    id_new(id);
    clock_now_str(now);
    long long expires = (long long)clock_now_ms() + ttl_s * 1000;
    if (store_exec(st, err,
                   "INSERT INTO join_tokens (hash, id, kind, expires_ms, uses_left, note,"
                   " created_by, created_at) VALUES (?, ?, 'minted', ?, ?, ?, ?, ?)",
                   "ssiisss", hash, id, expires, uses, note, created_by, now) < 0) {
        explicit_bzero(tok, sizeof(tok));
        return NULL;
    }
    char at[32];
    clock_format_ms(expires, at);
    json_t *out =
        json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s}", "id", id, "token", tok, "kind", "minted",
                  "expires_at", at, "uses_left", uses, "note", note, "created_at", now);
    explicit_bzero(tok, sizeof(tok));
    log_info("join token %s minted: %lld use(s), expires %s", id, uses, at);
    return out;
}

json_t *fleet_join_token_list(struct store *st, struct nubo_err *err)
{
    json_t *rows = store_query(st, err,
                               "SELECT id, kind, expires_ms, uses_left, note, created_by,"
                               " created_at FROM join_tokens WHERE id IS NOT NULL AND"
                               " expires_ms >= ? AND (uses_left IS NULL OR uses_left > 0)"
                               " ORDER BY created_at, id",
                               "i", (long long)clock_now_ms());
    if (rows == NULL)
        return NULL;
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r)
        token_row_public(r);
    return json_pack("{s:o}", "join_tokens", rows);
}

int fleet_join_token_delete(struct store *st, const char *id, struct nubo_err *err)
{
    long long n =
        store_exec(st, err, "DELETE FROM join_tokens WHERE id = ? AND kind = 'minted'", "s", id);
    if (n < 0)
        return -1;
    if (n == 0)
        return nubo_err_set(err, NUBO_E_NOTFOUND,
                            "no join token with id '%.40s' (the local token cannot be deleted: "
                            "it is replaced every few minutes)",
                            id);
    return 0;
}

int fleet_join_token_spend(struct store *st, const char *token, struct nubo_err *err)
{
    char hash[CRYPTO_SHA256_HEX];
    crypto_sha256_hex(token, strlen(token), hash);
    long long n = store_exec(st, err,
                             "UPDATE join_tokens SET uses_left = uses_left - 1 WHERE hash = ? AND"
                             " expires_ms >= ? AND (uses_left IS NULL OR uses_left > 0)",
                             "si", hash, (long long)clock_now_ms());
    if (n < 0)
        return -1;
    if (n == 0)
        return nubo_err_set(err, NUBO_E_UNAUTHORIZED,
                            "the join token is not valid (unknown, expired or used up): on the "
                            "controller's machine use the current content of "
                            "<state-dir>/join-token; elsewhere ask an admin for a new one "
                            "(nubo join-token create)");
    return 0;
}
