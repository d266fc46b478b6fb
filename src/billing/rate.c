/*
 * rate.c - the rating engine: the usage ledger and the price catalog,
 * joined into line items for a period.
 *
 * The catalog is first turned into price segments: for each (meter, key),
 * each price holds from its effective_from until the next price's, and a
 * segment with no price (price_id NULL, price 0) covers the time before
 * the first one, so the segments of a key partition the whole time line.
 * A record is clipped to the period (and to as_of while it is open) and
 * cut where it crosses segments; the pieces are summed per line item:
 * (project, resource, meter, key, size, price segment).  Records of a key
 * that has no price at all join no segment and are one unpriced piece.
 *
 * All of that is one SQL statement, so a million records are aggregated
 * by the database without being copied out of it: what comes back is one
 * row per line item.  The amounts are then computed here, exactly, in
 * 128-bit integers (billing_amount()).  Nothing depends on the time of the
 * computation except as_of, which the caller passes: the same ledger,
 * catalog and arguments give the same rows in the same order.
 *
 * Three-way minima and maxima are written as CASE (SQLite's min()/max()
 * and PostgreSQL's LEAST/GREATEST differ).
 */
#include "billing/billing_int.h"

#include <string.h>

/* The statement, around the condition that selects records: "r.project_id
 * = ?" for one project or "1 = 1" for all (parameters: see billing_rate()). */
#define RATE_SQL(WHERE)                                                                            \
    "WITH seg AS ("                                                                                \
    "  SELECT p.meter AS meter, p.price_key AS price_key, p.id AS price_id,"                       \
    "    p.unit_price_micros AS price, p.effective_from_ms AS s,"                                  \
    "    COALESCE((SELECT MIN(q.effective_from_ms) FROM prices q WHERE q.meter = p.meter"          \
    "      AND q.price_key = p.price_key AND q.effective_from_ms > p.effective_from_ms),"          \
    "      9223372036854775807) AS e"                                                              \
    "  FROM prices p"                                                                              \
    "  UNION ALL"                                                                                  \
    "  SELECT k.meter, k.price_key, NULL, 0, -9223372036854775807, MIN(k.effective_from_ms)"       \
    "  FROM prices k GROUP BY k.meter, k.price_key),"                                              \
    " piece AS ("                                                                                  \
    "  SELECT r.project_id, r.resource_type, r.resource_id, r.resource_name, r.meter,"             \
    "    r.price_key, r.price_key_name, r.size, g.price_id, COALESCE(g.price, 0) AS price,"        \
    "    CASE WHEN r.end_ms IS NULL AND r.unknown_since_ms IS NOT NULL THEN 1 ELSE 0 END"          \
    "      AS unsure,"                                                                             \
    "    CASE WHEN r.start_ms > ? THEN r.start_ms ELSE ? END AS rs,"                               \
    "    CASE WHEN r.end_ms IS NULL OR r.end_ms > ? THEN ? ELSE r.end_ms END AS re,"               \
    "    g.s AS gs, g.e AS ge"                                                                     \
    "  FROM usage_records r LEFT JOIN seg g ON g.meter = r.meter"                                  \
    "    AND g.price_key = r.price_key AND g.s < ? AND g.e > ?"                                    \
    "  WHERE " WHERE " AND r.start_ms < ? AND (r.end_ms IS NULL OR r.end_ms > ?)),"                \
    " clip AS ("                                                                                   \
    "  SELECT project_id, resource_type, resource_id, resource_name, meter, price_key,"            \
    "    price_key_name, size, price_id, price, unsure,"                                           \
    "    CASE WHEN gs IS NOT NULL AND gs > rs THEN gs ELSE rs END AS a,"                           \
    "    CASE WHEN ge IS NOT NULL AND ge < re THEN ge ELSE re END AS b"                            \
    "  FROM piece)"                                                                                \
    " SELECT project_id, resource_type, resource_id, MIN(resource_name) AS resource_name,"         \
    "   meter, price_key, MIN(price_key_name) AS price_key_name, size, price_id, price,"           \
    "   SUM(b - a) AS ms, MIN(a) AS first_ms, MAX(b) AS last_ms, MAX(unsure) AS unsure"            \
    " FROM clip WHERE b > a"                                                                       \
    " GROUP BY project_id, resource_type, resource_id, meter, price_key, size, price_id, price"    \
    " ORDER BY project_id, resource_type, MIN(resource_name), resource_id, meter, MIN(a),"         \
    "   price_id"

json_t *billing_rate(struct store *st, const char *project_id, int64_t start, int64_t end,
                     int64_t as_of, struct nubo_err *err)
{
    if (as_of > end)
        as_of = end;
    if (as_of <= start)
        return json_array(); /* nothing can have happened yet */
    /* Segments overlapping the clipped record: s < the record's clipped end
     * (at most as_of) and e > its clipped start (at least start).  Looser
     * bounds than the record's own are fine: pieces of zero or negative
     * length are dropped by b > a. */
    long long s = start, a = as_of;
    if (project_id)
        return store_query(st, err, RATE_SQL("r.project_id = ?"), "iiiiiisii", s, s, a, a, a, s,
                           project_id, a, s);
    return store_query(st, err, RATE_SQL("1 = 1"), "iiiiiiii", s, s, a, a, a, s, a, s);
}

int billing_rows_total(const json_t *rows, long long *total, struct nubo_err *err)
{
    long long sum = 0;
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        const struct billing_meter *m = billing_meter_find(jsonx_str(r, "meter"));
        long long amount;
        if (m == NULL)
            continue; /* a meter this build does not know: not billable */
        if (billing_amount(m, billing_int(r, "size"), billing_int(r, "ms"), billing_int(r, "price"),
                           &amount, err) < 0)
            return -1;
        if (__builtin_add_overflow(sum, amount, &sum))
            return nubo_err_set(err, NUBO_E_INVALID, "a total is too large to bill");
    }
    *total = sum;
    return 0;
}

int billing_project_total(struct store *st, const char *project_id, int64_t start, int64_t end,
                          int64_t as_of, long long *total, struct nubo_err *err)
{
    json_t *rows = billing_rate(st, project_id, start, end, as_of, err);
    if (rows == NULL)
        return -1;
    int rc = billing_rows_total(rows, total, err);
    json_decref(rows);
    return rc;
}
