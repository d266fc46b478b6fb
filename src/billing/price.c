/*
 * price.c - the price catalog: unit prices per meter (and per flavor for
 * running time), each effective from a moment until the next price of the
 * same meter and flavor.
 *
 * Prices are only ever added, and never from a moment in the past: the
 * invoice of a period that has begun can then only change where it has
 * not happened yet, and the invoice of a past period never changes.  The
 * catalog has one currency: the first price sets it.
 */
#include "billing/billing_int.h"

#include <string.h>

#include "lib/clock.h"
#include "lib/util.h"
#include "lib/valid.h"

#define PRICE_SELECT                                                                               \
    "SELECT p.id, p.meter, p.price_key, p.price_key_name, p.unit_price_micros, p.currency,"        \
    " p.effective_from_ms, p.created_at,"                                                          \
    " (SELECT MIN(q.effective_from_ms) FROM prices q WHERE q.meter = p.meter"                      \
    "   AND q.price_key = p.price_key AND q.effective_from_ms > p.effective_from_ms)"              \
    "   AS until_ms"                                                                               \
    " FROM prices p"

/* The API shape of a row of PRICE_SELECT (new reference). */
static json_t *price_json(const json_t *r)
{
    const struct billing_meter *m = billing_meter_find(jsonx_str(r, "meter"));
    const char *key = jsonx_str(r, "price_key");
    json_t *until = json_object_get(r, "until_ms");
    return json_pack(
        "{s:s, s:s, s:o, s:s, s:I, s:s, s:o, s:o, s:s}", "id", jsonx_str(r, "id"), "meter",
        jsonx_str(r, "meter"), "flavor",
        key[0] ? json_pack("{s:s, s:s}", "id", key, "name", jsonx_str(r, "price_key_name"))
               : json_null(),
        "unit", m ? m->unit : "", "unit_price_micros",
        (json_int_t)billing_int(r, "unit_price_micros"), "currency", jsonx_str(r, "currency"),
        "effective_from", billing_time_json(billing_int(r, "effective_from_ms")), "effective_until",
        json_is_integer(until) ? billing_time_json(json_integer_value(until)) : json_null(),
        "created_at", jsonx_str(r, "created_at"));
}

json_t *billing_price_list(struct store *st, const struct ctx *ctx, const char *meter, int limit,
                           const char *marker, struct nubo_err *err)
{
    (void)ctx; /* the catalog is the same for everybody */
    if (meter && billing_meter_find(meter) == NULL) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "meter must be one of instance, disk, image, volume, floating_ip");
        return NULL;
    }
    struct store_page pg = {.marker = marker, .limit = limit};
    if (store_page_start(st, &pg, err, "SELECT created_at FROM prices WHERE id = ?", "s", marker) <
        0)
        return NULL;
    const char *mt = meter ? meter : "";
    json_t *rows = store_page_query(st, &pg, "p.created_at, p.id", err,
                                    PRICE_SELECT " WHERE (? = '' OR p.meter = ?)", "ss", mt, mt);
    if (rows == NULL)
        return NULL;
    json_t *out = json_array();
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        json_array_append_new(out, price_json(r));
    }
    json_decref(rows);
    return out;
}

/* Resolves the flavor a running-time price is for: its id and name. */
static int flavor_resolve(struct store *st, const char *ref, char id[37], char name[64],
                          struct nubo_err *err)
{
    if (ref == NULL)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "'flavor' is required for meter instance: the running time is "
                            "priced per flavor");
    if (valid_name(ref, "flavor", NULL) < 0)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "'flavor' must be the id or the name of a flavor (GET /v1/flavors)");
    struct nubo_err qerr = {0};
    json_t *f = store_query_one(st, &qerr,
                                "SELECT id, name FROM flavors WHERE id = ? OR name = ?"
                                " ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END",
                                "sss", ref, ref, ref);
    if (f == NULL) {
        if (qerr.code != NUBO_E_NOTFOUND) {
            *err = qerr;
            return -1;
        }
        return nubo_err_set(err, NUBO_E_INVALID, "no flavor '%s' (GET /v1/flavors)", ref);
    }
    str_copy(id, 37, jsonx_str(f, "id"));
    str_copy(name, 64, jsonx_str(f, "name"));
    json_decref(f);
    return 0;
}

json_t *billing_price_create(struct store *st, const struct ctx *ctx,
                             const struct billing_price_spec *s, struct nubo_err *err)
{
    char key[37] = "", key_name[64] = "", id[37], now_s[32], cur[4];
    int64_t now = clock_now_ms(), from = now;
    if (authz_require(ctx, AUTHZ_ADMIN, err) < 0)
        return NULL;
    const struct billing_meter *m = billing_meter_find(s->meter);
    if (m == NULL) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "'meter' must be one of instance (per flavor and hour), disk (per GiB-month"
                     " of root disk), image (per GiB-month stored), volume (per GiB-month),"
                     " floating_ip (per hour)");
        return NULL;
    }
    if (!m->keyed && s->flavor) {
        nubo_err_set(err, NUBO_E_INVALID, "'flavor' applies to meter instance only");
        return NULL;
    }
    if (s->unit_price_micros < 0 || s->unit_price_micros > BILLING_PRICE_MAX) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "'unit_price_micros' must be from 0 to %lld (micro-units of the currency "
                     "per %s)",
                     BILLING_PRICE_MAX, m->unit);
        return NULL;
    }
    if (!billing_currency_valid(s->currency)) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "'currency' must be an ISO 4217 code of three capital letters, like EUR");
        return NULL;
    }
    if (s->effective_from &&
        billing_time_parse(s->effective_from, "'effective_from'", &from, err) < 0)
        return NULL;
    if (from < now) {
        char t[32];
        clock_format_ms(now, t);
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "a price cannot start in the past (it is %s now): prices never rewrite "
                     "usage already billed; give a time from now on",
                     t);
        return NULL;
    }
    if (store_begin(st, true, err) < 0)
        return NULL;
    json_t *out = NULL, *row = NULL;
    if (m->keyed && flavor_resolve(st, s->flavor, key, key_name, err) < 0)
        goto cleanup;
    if (billing_currency(st, cur, err) < 0)
        goto cleanup;
    if (cur[0] && strcmp(cur, s->currency) != 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "the price catalog is in %s: every price and budget uses one currency", cur);
        goto cleanup;
    }
    id_new(id);
    clock_stamp(now_s);
    long long n = store_exec(st, err,
                             "INSERT INTO prices (id, meter, price_key, price_key_name,"
                             " unit_price_micros, currency, effective_from_ms, created_by,"
                             " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             "ssssisiss", id, m->name, key, key_name, s->unit_price_micros,
                             s->currency, (long long)from, ctx->user_id, now_s);
    if (n < 0) {
        if (err->code == NUBO_E_CONFLICT) {
            char t[32];
            clock_format_ms(from, t);
            nubo_err_set(err, NUBO_E_CONFLICT, "meter %s%s%s already has a price from %s", m->name,
                         key[0] ? " of flavor " : "", key_name, t);
        }
        goto cleanup;
    }
    row = store_query_one(st, err, PRICE_SELECT " WHERE p.id = ?", "s", id);
    if (row == NULL || store_commit(st, err) < 0)
        goto cleanup;
    out = price_json(row);
cleanup:
    if (out == NULL)
        store_rollback(st);
    json_decref(row);
    return out;
}
