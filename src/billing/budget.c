/*
 * budget.c - monthly budgets per project: thresholds that record a
 * notification when the month's cost crosses them, and, if the admin
 * chooses, no new instances once the budget is used up.
 *
 * Cost grows with time while anything runs, so a threshold is crossed at
 * a moment nobody is watching.  Notifications are therefore recorded when
 * budgets are evaluated - whenever a budget, its notifications or the cost
 * are read, and by billing_budgets_evaluate() for a periodic caller - with
 * the exact moment of the crossing: the month's cost as of t is a
 * non-decreasing function of t (rate.c), so a binary search over the
 * milliseconds of the month finds the first one at which it reached the
 * threshold.  The moment does not depend on when the evaluation ran, and
 * the unique key (project, month, threshold) records each crossing once.
 *
 * "Reached" is spent * 100 >= amount * threshold, in integers.
 */
#include "billing/billing_int.h"

#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/valid.h"

#define THRESHOLDS_MAX 10
#define THRESHOLD_MAX 1000 /* percent */
#define BUDGET_MAX 1000000000000000LL

static bool reached(long long spent, long long amount, long long pct)
{
    return (__int128)spent * 100 >= (__int128)amount * pct;
}

/* The thresholds of a budget row, ascending, into t (at most
 * THRESHOLDS_MAX); returns how many. */
static size_t thresholds_of(const json_t *budget, long long t[THRESHOLDS_MAX])
{
    json_error_t je;
    json_t *a = json_loads(jsonx_str(budget, "thresholds"), 0, &je);
    size_t n = 0, i;
    json_t *v;
    json_array_foreach (a, i, v) {
        if (n < THRESHOLDS_MAX && json_is_integer(v))
            t[n++] = json_integer_value(v);
    }
    json_decref(a);
    return n;
}

/* The project's budget row, or NULL (err->code NUBO_E_NOTFOUND when it has
 * none). */
static json_t *budget_row(struct store *st, const char *project_id, struct nubo_err *err)
{
    return store_query_one(st, err,
                           "SELECT amount_micros, currency, thresholds, block_new_instances,"
                           " updated_at FROM budgets WHERE project_id = ?",
                           "s", project_id);
}

/* Records the notifications of the thresholds the project's cost crossed
 * in the month of now and that are not recorded yet. */
static int evaluate(struct store *st, const char *project_id, int64_t now, struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *b = budget_row(st, project_id, &qerr), *seen = NULL;
    if (b == NULL) {
        if (qerr.code == NUBO_E_NOTFOUND)
            return 0;
        *err = qerr;
        return -1;
    }
    int rc = -1;
    int64_t ps = billing_month_start(now), pe = billing_month_next(ps);
    long long amount = billing_int(b, "amount_micros"), spent, th[THRESHOLDS_MAX];
    size_t n = thresholds_of(b, th);
    if (billing_project_total(st, project_id, ps, pe, now, &spent, err) < 0)
        goto cleanup;
    seen = store_query(st, err,
                       "SELECT threshold, crossed_at_ms FROM budget_notifications"
                       " WHERE project_id = ? AND period_start_ms = ?",
                       "si", project_id, (long long)ps);
    if (seen == NULL)
        goto cleanup;
    int64_t lo = ps; /* thresholds ascend: each is crossed no earlier than the last */
    for (size_t k = 0; k < n; k++) {
        int64_t known = -1;
        size_t i;
        json_t *s;
        json_array_foreach (seen, i, s) {
            if (billing_int(s, "threshold") == th[k])
                known = billing_int(s, "crossed_at_ms");
        }
        if (known >= 0) {
            lo = known > lo ? known : lo;
            continue;
        }
        if (!reached(spent, amount, th[k]))
            break;
        /* The first millisecond in (lo, now] at which it was reached. */
        long long at_lo;
        if (billing_project_total(st, project_id, ps, pe, lo, &at_lo, err) < 0)
            goto cleanup;
        int64_t hit = now;
        if (reached(at_lo, amount, th[k])) {
            hit = lo;
        } else {
            int64_t a = lo, z = now; /* not reached at a, reached at z */
            while (z - a > 1) {
                int64_t mid = a + (z - a) / 2;
                long long v;
                if (billing_project_total(st, project_id, ps, pe, mid, &v, err) < 0)
                    goto cleanup;
                if (reached(v, amount, th[k]))
                    z = mid;
                else
                    a = mid;
            }
            hit = z;
        }
        long long at_hit;
        if (billing_project_total(st, project_id, ps, pe, hit, &at_hit, err) < 0)
            goto cleanup;
        char id[37], created[32];
        id_new(id);
        clock_stamp(created);
        if (store_exec(st, err,
                       "INSERT INTO budget_notifications (id, project_id, period_start_ms,"
                       " period_end_ms, threshold, amount_micros, spent_micros, currency,"
                       " crossed_at_ms, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                       " ON CONFLICT DO NOTHING",
                       "ssiiiiisis", id, project_id, (long long)ps, (long long)pe, th[k], amount,
                       at_hit, jsonx_str(b, "currency"), (long long)hit, created) < 0)
            goto cleanup;
        log_info("billing: project %s crossed %lld%% of its budget", project_id, th[k]);
        lo = hit;
    }
    rc = 0;
cleanup:
    json_decref(seen);
    json_decref(b);
    return rc;
}

void billing_budgets_evaluate(struct store *st)
{
    struct nubo_err err;
    json_t *rows = store_query(st, &err, "SELECT project_id FROM budgets ORDER BY project_id", "");
    if (rows == NULL) {
        log_error("billing: cannot list budgets: %s", err.msg);
        return;
    }
    int64_t now = clock_now_ms();
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        if (evaluate(st, jsonx_str(r, "project_id"), now, &err) < 0)
            log_error("billing: cannot evaluate the budget of project %s: %s",
                      jsonx_str(r, "project_id"), err.msg);
    }
    json_decref(rows);
}

/* The budget answer of a project (new reference). */
static json_t *budget_json(struct store *st, const struct billing_scope *sc, int64_t now,
                           struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    char cur[4];
    long long spent, forecast;
    int64_t ps = billing_month_start(now), pe = billing_month_next(ps);
    json_t *b = budget_row(st, sc->project_id, &qerr);
    if (b == NULL && qerr.code != NUBO_E_NOTFOUND) {
        *err = qerr;
        return NULL;
    }
    json_t *out = NULL;
    if (billing_currency(st, cur, err) < 0 ||
        billing_project_total(st, sc->project_id, ps, pe, now, &spent, err) < 0 ||
        billing_project_total(st, sc->project_id, ps, pe, pe, &forecast, err) < 0)
        goto cleanup;
    json_t *budget = json_null();
    bool exceeded = false, blocking = false;
    if (b) {
        long long th[THRESHOLDS_MAX];
        size_t n = thresholds_of(b, th);
        json_t *ths = json_array();
        for (size_t k = 0; k < n; k++)
            json_array_append_new(ths, json_integer(th[k]));
        long long amount = billing_int(b, "amount_micros");
        exceeded = spent >= amount;
        blocking = exceeded && billing_int(b, "block_new_instances");
        budget = json_pack("{s:I, s:s, s:o, s:b, s:s}", "amount_micros", (json_int_t)amount,
                           "currency", jsonx_str(b, "currency"), "thresholds", ths,
                           "block_new_instances", (int)billing_int(b, "block_new_instances"),
                           "updated_at", jsonx_str(b, "updated_at"));
    }
    out = json_pack("{s:{s:s, s:s}, s:{s:o, s:o}, s:o, s:o, s:I, s:I, s:o, s:b, s:b}", "project",
                    "id", sc->project_id, "name", sc->project_name, "period", "start",
                    billing_time_json(ps), "end", billing_time_json(pe), "as_of",
                    billing_time_json(now), "currency", cur[0] ? json_string(cur) : json_null(),
                    "spent_micros", (json_int_t)spent, "forecast_micros", (json_int_t)forecast,
                    "budget", budget, "exceeded", exceeded, "blocking", blocking);
cleanup:
    json_decref(b);
    return out;
}

json_t *billing_budget_get(struct store *st, const struct ctx *ctx, const char *project,
                           struct nubo_err *err)
{
    struct billing_scope sc;
    if (billing_scope(st, ctx, project, &sc, err) < 0)
        return NULL;
    int64_t now = clock_now_ms();
    if (evaluate(st, sc.project_id, now, err) < 0)
        return NULL;
    return budget_json(st, &sc, now, err);
}

/* Checks the thresholds of a request: 1..10 whole percentages from 1 to
 * 1000, no repeats; returns them ascending as a JSON text (malloc'd). */
static char *thresholds_text(const json_t *in, struct nubo_err *err)
{
    static const char *const what = "'thresholds' must be a list of 1 to 10 different whole "
                                    "percentages from 1 to 1000, like [80, 100]";
    long long t[THRESHOLDS_MAX];
    size_t n = 0, i;
    json_t *v;
    if (in == NULL) {
        t[n++] = 80;
        t[n++] = 100;
    } else {
        if (!json_is_array(in) || json_array_size(in) < 1 || json_array_size(in) > THRESHOLDS_MAX) {
            nubo_err_set(err, NUBO_E_INVALID, "%s", what);
            return NULL;
        }
        json_array_foreach (in, i, v) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                json_integer_value(v) > THRESHOLD_MAX) {
                nubo_err_set(err, NUBO_E_INVALID, "%s", what);
                return NULL;
            }
            t[n++] = json_integer_value(v);
        }
    }
    for (size_t a = 1; a < n; a++) /* insertion sort: at most 10 */
        for (size_t b = a; b > 0 && t[b - 1] > t[b]; b--) {
            long long x = t[b];
            t[b] = t[b - 1];
            t[b - 1] = x;
        }
    json_t *a = json_array();
    for (size_t k = 0; k < n; k++) {
        if (k > 0 && t[k] == t[k - 1]) {
            json_decref(a);
            nubo_err_set(err, NUBO_E_INVALID, "%s", what);
            return NULL;
        }
        json_array_append_new(a, json_integer(t[k]));
    }
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

json_t *billing_budget_set(struct store *st, const struct ctx *ctx, const char *project,
                           const struct billing_budget_spec *s, struct nubo_err *err)
{
    struct billing_scope sc;
    char cur[4], now_s[32];
    json_t *out = NULL;
    if (authz_require(ctx, AUTHZ_ADMIN, err) < 0 || billing_scope(st, ctx, project, &sc, err) < 0)
        return NULL;
    if (s->amount_micros < 1 || s->amount_micros > BUDGET_MAX) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "'amount_micros' must be from 1 to %lld (micro-units of the currency per "
                     "calendar month)",
                     BUDGET_MAX);
        return NULL;
    }
    if (s->currency && !billing_currency_valid(s->currency)) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "'currency' must be an ISO 4217 code of three capital letters, like EUR");
        return NULL;
    }
    char *ths = thresholds_text(s->thresholds, err);
    if (ths == NULL)
        return NULL;
    if (store_begin(st, true, err) < 0)
        goto cleanup;
    if (billing_currency(st, cur, err) < 0)
        goto fail;
    const char *currency = s->currency ? s->currency : cur;
    if (currency[0] == '\0') {
        nubo_err_set(err, NUBO_E_INVALID,
                     "'currency' is required while the price catalog is empty");
        goto fail;
    }
    /* Another project's budget may be the only one that sets the
     * currency: the one being replaced does not count. */
    if (cur[0] && strcmp(cur, currency) != 0) {
        json_t *others = store_query(st, err,
                                     "SELECT (SELECT COUNT(*) FROM prices) + (SELECT COUNT(*)"
                                     " FROM budgets WHERE project_id <> ?) AS n",
                                     "s", sc.project_id);
        long long n = others ? billing_int(json_array_get(others, 0), "n") : -1;
        json_decref(others);
        if (n < 0)
            goto fail;
        if (n > 0) {
            nubo_err_set(err, NUBO_E_CONFLICT,
                         "the price catalog is in %s: every price and budget uses one currency",
                         cur);
            goto fail;
        }
    }
    clock_now_str(now_s);
    if (store_exec(st, err,
                   "INSERT INTO budgets (project_id, amount_micros, currency, thresholds,"
                   " block_new_instances, updated_at) VALUES (?, ?, ?, ?, ?, ?)"
                   " ON CONFLICT (project_id) DO UPDATE SET amount_micros = excluded.amount_micros,"
                   " currency = excluded.currency, thresholds = excluded.thresholds,"
                   " block_new_instances = excluded.block_new_instances,"
                   " updated_at = excluded.updated_at",
                   "sissis", sc.project_id, s->amount_micros, currency, ths,
                   (long long)s->block_new_instances, now_s) < 0 ||
        store_commit(st, err) < 0)
        goto fail;
    out = billing_budget_get(st, ctx, sc.project_id, err);
    goto cleanup;
fail:
    store_rollback(st);
cleanup:
    free(ths);
    return out;
}

int billing_budget_delete(struct store *st, const struct ctx *ctx, const char *project,
                          struct nubo_err *err)
{
    struct billing_scope sc;
    if (authz_require(ctx, AUTHZ_ADMIN, err) < 0 || billing_scope(st, ctx, project, &sc, err) < 0)
        return -1;
    long long n =
        store_exec(st, err, "DELETE FROM budgets WHERE project_id = ?", "s", sc.project_id);
    if (n < 0)
        return -1;
    if (n == 0)
        return nubo_err_set(err, NUBO_E_NOTFOUND, "project '%s' has no budget", sc.project_name);
    return 0;
}

json_t *billing_budget_notifications(struct store *st, const struct ctx *ctx, const char *project,
                                     int limit, const char *marker, struct nubo_err *err)
{
    struct billing_scope sc;
    struct store_page pg = {.marker = marker, .limit = limit};
    if (billing_scope(st, ctx, project, &sc, err) < 0 ||
        evaluate(st, sc.project_id, clock_now_ms(), err) < 0)
        return NULL;
    if (store_page_start(st, &pg, err,
                         "SELECT created_at FROM budget_notifications WHERE id = ?"
                         " AND project_id = ?",
                         "ss", marker, sc.project_id) < 0)
        return NULL;
    json_t *rows = store_page_query(st, &pg, NULL, err,
                                    "SELECT id, period_start_ms, period_end_ms, threshold,"
                                    " amount_micros, spent_micros, currency, crossed_at_ms,"
                                    " created_at FROM budget_notifications WHERE project_id = ?",
                                    "s", sc.project_id);
    if (rows == NULL)
        return NULL;
    json_t *out = json_array();
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        json_array_append_new(
            out, json_pack("{s:s, s:s, s:{s:o, s:o}, s:I, s:I, s:I, s:s, s:o, s:s}", "id",
                           jsonx_str(r, "id"), "project_id", sc.project_id, "period", "start",
                           billing_time_json(billing_int(r, "period_start_ms")), "end",
                           billing_time_json(billing_int(r, "period_end_ms")), "threshold",
                           (json_int_t)billing_int(r, "threshold"), "amount_micros",
                           (json_int_t)billing_int(r, "amount_micros"), "spent_micros",
                           (json_int_t)billing_int(r, "spent_micros"), "currency",
                           jsonx_str(r, "currency"), "crossed_at",
                           billing_time_json(billing_int(r, "crossed_at_ms")), "created_at",
                           jsonx_str(r, "created_at")));
    }
    json_decref(rows);
    return out;
}

int billing_budget_check(struct store *st, const char *project_id, struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *b = budget_row(st, project_id, &qerr);
    if (b == NULL) {
        if (qerr.code == NUBO_E_NOTFOUND)
            return 0;
        *err = qerr;
        return -1;
    }
    int rc = 0;
    if (billing_int(b, "block_new_instances")) {
        int64_t now = clock_now_ms(), ps = billing_month_start(now);
        long long spent, amount = billing_int(b, "amount_micros");
        if (billing_project_total(st, project_id, ps, billing_month_next(ps), now, &spent, err) <
            0) {
            rc = -1;
        } else if (spent >= amount) {
            char s[32], a[32], month[32];
            billing_money_str(spent, s);
            billing_money_str(amount, a);
            clock_format_ms(ps, month);
            rc = nubo_err_set(err, NUBO_E_FORBIDDEN,
                              "budget exceeded: the project has spent %s %s of its budget of %s "
                              "%s for %.7s, and its budget blocks new instances until the month "
                              "ends or an admin raises the budget (PUT /v1/budget)",
                              s, jsonx_str(b, "currency"), a, jsonx_str(b, "currency"), month);
        }
    }
    json_decref(b);
    return rc;
}
