/*
 * usage.c - the usage ledger as the API shows it: a project's records that
 * overlap a period, in ledger order (the record's seq is its id).
 */
#include "billing/billing_int.h"

#include <stdio.h>
#include <string.h>

#include "lib/valid.h"

/* The API shape of a record row (new reference): the ledger as it is, so
 * an open record has no end and no duration yet. */
static json_t *record_json(const json_t *r)
{
    const struct billing_meter *m = billing_meter_find(jsonx_str(r, "meter"));
    const char *key = jsonx_str(r, "price_key");
    json_t *end = json_object_get(r, "end_ms"), *unk = json_object_get(r, "unknown_since_ms");
    long long start = billing_int(r, "start_ms");
    char id[24];
    snprintf(id, sizeof(id), "%lld", billing_int(r, "seq"));
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:o, s:I, s:s, s:o, s:o, s:o, s:o}", "id", id, "resource_type",
        jsonx_str(r, "resource_type"), "resource_id", jsonx_str(r, "resource_id"), "resource_name",
        jsonx_str(r, "resource_name"), "meter", jsonx_str(r, "meter"), "flavor",
        key[0] ? json_pack("{s:s, s:s}", "id", key, "name", jsonx_str(r, "price_key_name"))
               : json_null(),
        "size", (json_int_t)billing_int(r, "size"), "size_unit", m ? m->size_unit : "", "start",
        billing_time_json(start), "end",
        json_is_integer(end) ? billing_time_json(json_integer_value(end)) : json_null(),
        "duration_ms",
        json_is_integer(end) ? json_integer(json_integer_value(end) - start) : json_null(),
        "unknown_since",
        json_is_integer(unk) ? billing_time_json(json_integer_value(unk)) : json_null());
}

json_t *billing_usage_list(struct store *st, const struct ctx *ctx, const struct billing_query *q,
                           const char *resource, const char *meter, int limit, const char *marker,
                           struct nubo_err *err)
{
    struct billing_scope sc;
    struct billing_period p;
    long long after = 0;
    if (billing_scope(st, ctx, q->project, &sc, err) < 0 || billing_period_parse(q, &p, err) < 0)
        return NULL;
    if (meter && billing_meter_find(meter) == NULL) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "meter must be one of instance, disk, image, volume, floating_ip");
        return NULL;
    }
    if (resource && valid_name(resource, "resource", NULL) < 0) {
        nubo_err_set(err, NUBO_E_INVALID, "resource must be the id of a resource");
        return NULL;
    }
    if (marker && valid_int(marker, 1, INT64_MAX, "marker", &after, NULL) < 0) {
        nubo_err_set(err, NUBO_E_INVALID, "marker must be the id of the last record of a page");
        return NULL;
    }
    const char *res = resource ? resource : "", *mt = meter ? meter : "";
    json_t *rows = store_query(st, err,
                               "SELECT seq, resource_type, resource_id, resource_name, meter,"
                               " price_key, price_key_name, size, start_ms, end_ms,"
                               " unknown_since_ms FROM usage_records"
                               " WHERE project_id = ? AND start_ms < ?"
                               " AND (end_ms IS NULL OR end_ms > ?)"
                               " AND (? = '' OR resource_id = ?) AND (? = '' OR meter = ?)"
                               " AND seq > ? ORDER BY seq LIMIT ?",
                               "siissssii", sc.project_id, (long long)p.end, (long long)p.start,
                               res, res, mt, mt, after, (long long)limit + 1);
    if (rows == NULL)
        return NULL;
    json_t *out = json_array();
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        json_array_append_new(out, record_json(r));
    }
    json_decref(rows);
    return out;
}
