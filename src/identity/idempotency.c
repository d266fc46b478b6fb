/*
 * idempotency.c - Idempotency-Key records: per caller (a user, or a host
 * agent), the key of a creating POST, the hash of the request it came with
 * and, once answered, the status and body to replay.  The API dispatcher
 * claims a key before its handler runs and records the answer after it.
 *
 * The caller's identity scopes the key (two users may pick the same key),
 * which is why the records live with identity's other per-caller state
 * (tokens, API keys, the audit log).
 */
#include <string.h>

#include "identity/identity_int.h"
#include "lib/clock.h"
#include "lib/log.h"

int identity_idem_claim(struct store *st, const char *who, const char *key, const char *method,
                        const char *path, const char *hash, int *status, json_t **response,
                        struct nubo_err *err)
{
    *status = 0;
    *response = NULL;
    long long r = store_exec(st, err,
                             "INSERT INTO idempotency_keys (user_id, key, method, path, body_hash,"
                             " created_ms) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                             "sssssi", who, key, method, path, hash, (long long)clock_now_ms());
    if (r < 0)
        return -1;
    if (r == 1)
        return 0;
    json_t *row = store_query_one(st, err,
                                  "SELECT body_hash, status, response FROM idempotency_keys"
                                  " WHERE user_id = ? AND key = ?",
                                  "ss", who, key);
    if (row == NULL)
        return -1;
    int rc = -1;
    const char *h = json_string_value(json_object_get(row, "body_hash"));
    int st_code = (int)json_integer_value(json_object_get(row, "status"));
    if (h == NULL || strcmp(h, hash) != 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "this Idempotency-Key was used for a different request; use a new key");
    } else if (st_code == 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "a request with this Idempotency-Key is still in progress; retry shortly");
    } else {
        const char *body = json_string_value(json_object_get(row, "response"));
        json_error_t je;
        json_t *b = body ? json_loads(body, 0, &je) : NULL;
        *status = st_code;
        *response = b ? b : json_object();
        rc = 1;
    }
    json_decref(row);
    return rc;
}

void identity_idem_finish(struct store *st, const char *who, const char *key, int status,
                          const char *body)
{
    struct nubo_err err;
    if (status >= 500) {
        /* A failure of ours: let a retry run the request again. */
        store_exec(st, &err, "DELETE FROM idempotency_keys WHERE user_id = ? AND key = ?", "ss",
                   who, key);
        return;
    }
    if (store_exec(st, &err,
                   "UPDATE idempotency_keys SET status = ?, response = ? WHERE user_id = ? AND"
                   " key = ?",
                   "isss", (long long)status, body ? body : "{}", who, key) < 0)
        log_error("idempotency: cannot store the answer for key %s: %s", key, err.msg);
}
