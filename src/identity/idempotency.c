/*
 * idempotency.c - Idempotency-Key records: per caller (a user, or a host
 * agent), the key of a creating POST, the hash of the request it came with
 * and, once answered, the status and body to replay.  The API dispatcher
 * claims a key before its handler runs and records the answer after it.
 *
 * Crashes.  A claim and the request's effect are separate transactions,
 * so nubod may die between them; two things make that safe
 * (docs/internals/controller-api.md, "Idempotency keys"):
 *   - the answer is recorded in the effect's own transaction where the
 *     service can: the dispatcher binds the claim to its thread
 *     (identity_idem_bind()) and the service calls identity_idem_answer()
 *     before its commit (compute_instance_create() does).  Either both the
 *     effect and its answer are stored, or neither.
 *   - a claim names the nubod run that made it (owner_run, a random id per
 *     process).  A claim still in progress whose run is not this one was
 *     left by a process that died (one nubod serves a database; several
 *     controllers on one PostgreSQL database would need a registry of live
 *     runs here): a retry takes the claim over and runs the request again.
 *     Where the answer is recorded with the effect,
 *     "no answer" means "no effect", so the retry creates exactly once.
 * Keys expire IDEM_TTL_MS (24 h) after their claim: the retry of a day-old
 * request is a new request.
 *
 * The caller's identity scopes the key (two users may pick the same key),
 * which is why the records live with identity's other per-caller state
 * (tokens, API keys, the audit log).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "identity/identity_int.h"
#include "lib/clock.h"
#include "lib/fault.h"
#include "lib/log.h"
#include "lib/util.h"

#define IDEM_TTL_MS (24LL * 3600 * 1000)

/* ------------------------------------------------------- this run */

static pthread_once_t run_once = PTHREAD_ONCE_INIT;
static char run_id[37];

static void run_init(void)
{
    id_new(run_id);
}

const char *identity_idem_run(void)
{
    pthread_once(&run_once, run_init);
    return run_id;
}

/* The claim of the request this thread is running, if any. */
static _Thread_local struct {
    int bound;
    char who[80];
    char key[80];
    char method[16];
    char path[128];
} bound;

void identity_idem_bind(const char *who, const char *key, const char *method, const char *path)
{
    bound.bound = 1;
    str_copy(bound.who, sizeof(bound.who), who);
    str_copy(bound.key, sizeof(bound.key), key);
    str_copy(bound.method, sizeof(bound.method), method);
    str_copy(bound.path, sizeof(bound.path), path);
}

void identity_idem_unbind(void)
{
    memset(&bound, 0, sizeof(bound));
}

/* ------------------------------------------------------------ claims */

/* The answer stored in row, as *status and *response (new reference). */
static void stored_answer(const json_t *row, int *status, json_t **response)
{
    const char *body = json_string_value(json_object_get(row, "response"));
    json_error_t je;
    json_t *b = body ? json_loads(body, 0, &je) : NULL;
    *status = (int)json_integer_value(json_object_get(row, "status"));
    *response = b ? b : json_object();
}

int identity_idem_claim(struct store *st, const char *who, const char *key, const char *method,
                        const char *path, const char *hash, int *status, json_t **response,
                        struct nubo_err *err)
{
    *status = 0;
    *response = NULL;
    const char *run = identity_idem_run();
    long long now = (long long)clock_now_ms();
    /* Expired keys go first, so that this one may be claimed afresh. */
    if (store_exec(st, err, "DELETE FROM idempotency_keys WHERE created_ms < ?", "i",
                   now - IDEM_TTL_MS) < 0)
        return -1;
    long long r =
        store_exec(st, err,
                   "INSERT INTO idempotency_keys (user_id, key, method, path, body_hash,"
                   " created_ms, owner_run) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                   "sssssis", who, key, method, path, hash, now, run);
    if (r < 0)
        return -1;
    if (r == 1) {
        fault_point("idem.claimed");
        return 0;
    }
    json_t *row = store_query_one(st, err,
                                  "SELECT body_hash, status, response, owner_run"
                                  " FROM idempotency_keys WHERE user_id = ? AND key = ?",
                                  "ss", who, key);
    if (row == NULL) {
        if (err->code == NUBO_E_NOTFOUND) /* expired between the two statements */
            nubo_err_set(err, NUBO_E_CONFLICT,
                         "a request with this Idempotency-Key is still in progress; retry"
                         " shortly");
        return -1;
    }
    int rc = -1;
    const char *h = json_string_value(json_object_get(row, "body_hash"));
    const char *owner = json_string_value(json_object_get(row, "owner_run"));
    int st_code = (int)json_integer_value(json_object_get(row, "status"));
    if (h == NULL || strcmp(h, hash) != 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "this Idempotency-Key was used for a different request; use a new key");
    } else if (st_code != 0) {
        stored_answer(row, status, response);
        rc = 1;
    } else if (owner != NULL && strcmp(owner, run) == 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "a request with this Idempotency-Key is still in progress; retry shortly");
    } else {
        /* The claim of a nubod that died before it answered: take it over
         * (compare-and-set on the dead owner, so one retry wins). */
        long long n = store_exec(st, err,
                                 "UPDATE idempotency_keys SET owner_run = ?, created_ms = ?"
                                 " WHERE user_id = ? AND key = ? AND status = 0 AND"
                                 " COALESCE(owner_run, '') = ?",
                                 "sisss", run, now, who, key, owner ? owner : "");
        if (n == 1) {
            log_info("idempotency: key %s of a request cut short by a restart: running it again",
                     key);
            fault_point("idem.claimed");
            rc = 0;
        } else if (n == 0) {
            nubo_err_set(err, NUBO_E_CONFLICT,
                         "a request with this Idempotency-Key is still in progress; retry"
                         " shortly");
        }
    }
    json_decref(row);
    return rc;
}

int identity_idem_answer(struct store *st, const char *method, const char *path, int status,
                         const json_t *body, struct nubo_err *err)
{
    if (!bound.bound || strcmp(bound.method, method) != 0 || strcmp(bound.path, path) != 0)
        return 0;
    char *text = json_dumps(body, JSON_COMPACT);
    if (text == NULL)
        return nubo_err_set(err, NUBO_E_INTERNAL, "the answer could not be built; retry");
    long long n =
        store_exec(st, err,
                   "UPDATE idempotency_keys SET status = ?, response = ?"
                   " WHERE user_id = ? AND key = ? AND owner_run = ?",
                   "issss", (long long)status, text, bound.who, bound.key, identity_idem_run());
    free(text);
    if (n < 0)
        return -1;
    fault_point("idem.answer");
    return 0;
}

void identity_idem_finish(struct store *st, const char *who, const char *key, int status,
                          const char *body)
{
    struct nubo_err err;
    const char *run = identity_idem_run();
    if (status >= 500) {
        /* A failure of ours: let a retry run the request again (unless the
         * service recorded an answer with its effect: that one stands). */
        store_exec(st, &err,
                   "DELETE FROM idempotency_keys WHERE user_id = ? AND key = ? AND status = 0"
                   " AND owner_run = ?",
                   "sss", who, key, run);
        return;
    }
    if (store_exec(st, &err,
                   "UPDATE idempotency_keys SET status = ?, response = ? WHERE user_id = ? AND"
                   " key = ? AND owner_run = ?",
                   "issss", (long long)status, body ? body : "{}", who, key, run) < 0)
        log_error("idempotency: cannot store the answer for key %s: %s", key, err.msg);
}
