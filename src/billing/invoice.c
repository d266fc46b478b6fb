/*
 * invoice.c - invoices, monthly totals, showback and the running cost,
 * computed from the rated ledger (rate.c).
 *
 * An invoice is a pure function of the ledger, the catalog, the period and
 * as_of (the end of the period, or now while it runs): nothing here reads
 * the clock for anything else, every JSON object is built in a fixed key
 * order and every list in a fixed order, so the same inputs give the same
 * bytes, as JSON and as CSV.  Amounts are rounded half up once per line
 * item; subtotals and the total are sums of line amounts, so they add up
 * exactly.
 */
#include "billing/billing_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/dynbuf.h"
#include "lib/util.h"

/* ------------------------------------------------------------ building */

/* "instance web-1: running, flavor small" and the like, into out. */
static void describe(const json_t *r, const struct billing_meter *m, char *out, size_t n)
{
    const char *name = jsonx_str(r, "resource_name");
    long long size = billing_int(r, "size");
    const char *unpriced = json_is_null(json_object_get(r, "price_id")) ? " (no price)" : "";
    if (strcmp(m->name, "instance") == 0)
        snprintf(out, n, "instance %s: running, flavor %s%s", name, jsonx_str(r, "price_key_name"),
                 unpriced);
    else if (strcmp(m->name, "disk") == 0)
        snprintf(out, n, "instance %s: root disk, %lld GiB%s", name, size, unpriced);
    else if (strcmp(m->name, "image") == 0)
        snprintf(out, n, "image %s: %lld bytes stored%s", name, size, unpriced);
    else if (strcmp(m->name, "volume") == 0)
        snprintf(out, n, "volume %s: %lld GiB%s", name, size, unpriced);
    else if (strcmp(m->name, "snapshot") == 0)
        snprintf(out, n, "volume snapshot %s: %lld GiB%s", name, size, unpriced);
    else
        snprintf(out, n, "floating IP %s%s", name, unpriced);
}

/* A line item of a rated row (new reference); its amount into *amount. */
static json_t *line_json(const json_t *r, long long *amount, struct nubo_err *err)
{
    const struct billing_meter *m = billing_meter_find(jsonx_str(r, "meter"));
    if (m == NULL) {
        nubo_err_set(err, NUBO_E_INTERNAL, "the ledger holds an unknown meter '%.32s'",
                     jsonx_str(r, "meter"));
        return NULL;
    }
    long long size = billing_int(r, "size"), ms = billing_int(r, "ms");
    long long price = billing_int(r, "price");
    if (billing_amount(m, size, ms, price, amount, err) < 0)
        return NULL;
    char desc[256], qty[48];
    describe(r, m, desc, sizeof(desc));
    billing_quantity(m, size, ms, qty);
    const char *key = jsonx_str(r, "price_key");
    json_t *price_id = json_object_get(r, "price_id");
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:I, s:s, s:I, s:s, s:s, s:O, s:I, s:I}",
        "resource_type", jsonx_str(r, "resource_type"), "resource_id", jsonx_str(r, "resource_id"),
        "resource_name", jsonx_str(r, "resource_name"), "meter", m->name, "flavor",
        key[0] ? json_pack("{s:s, s:s}", "id", key, "name", jsonx_str(r, "price_key_name"))
               : json_null(),
        "description", desc, "from", billing_time_json(billing_int(r, "first_ms")), "to",
        billing_time_json(billing_int(r, "last_ms")), "size", (json_int_t)size, "size_unit",
        m->size_unit, "duration_ms", (json_int_t)ms, "quantity", qty, "unit", m->unit, "price_id",
        json_is_string(price_id) ? price_id : json_null(), "unit_price_micros", (json_int_t)price,
        "amount_micros", (json_int_t)*amount);
}

/* Adds amount to the subtotal of type (an index into
 * billing_resource_types; unknown types count under the last slot). */
static size_t type_index(const char *type)
{
    size_t i = 0;
    while (billing_resource_types[i] && strcmp(billing_resource_types[i], type) != 0)
        i++;
    return i;
}

#define NTYPES 5 /* billing_resource_types + one slot for anything else */

/* The subtotals array of sums[] (only the types present), new reference. */
static json_t *subtotals_json(const long long sums[NTYPES], const bool seen[NTYPES])
{
    json_t *a = json_array();
    for (size_t i = 0; billing_resource_types[i]; i++)
        if (seen[i])
            json_array_append_new(a, json_pack("{s:s, s:I}", "resource_type",
                                               billing_resource_types[i], "amount_micros",
                                               (json_int_t)sums[i]));
    return a;
}

static json_t *period_json(int64_t start, int64_t end)
{
    return json_pack("{s:o, s:o}", "start", billing_time_json(start), "end",
                     billing_time_json(end));
}

/* The currency as JSON: the code, or null when the catalog is empty. */
static json_t *currency_json(const char *cur)
{
    return cur[0] ? json_string(cur) : json_null();
}

/* Builds the invoice of rated rows (all of one project). */
static json_t *invoice_build(const struct billing_scope *sc, const struct billing_period *p,
                             int64_t as_of, const char *cur, const json_t *rows,
                             struct nubo_err *err)
{
    long long sums[NTYPES] = {0}, total = 0;
    bool seen[NTYPES] = {false}, unsure = false;
    json_t *lines = json_array();
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        long long amount;
        json_t *line = line_json(r, &amount, err);
        if (line == NULL) {
            json_decref(lines);
            return NULL;
        }
        json_array_append_new(lines, line);
        size_t t = type_index(jsonx_str(r, "resource_type"));
        if (t < NTYPES - 1) {
            sums[t] += amount;
            seen[t] = true;
        }
        total += amount;
        unsure = unsure || billing_int(r, "unsure");
    }
    return json_pack("{s:{s:s, s:s}, s:o, s:o, s:b, s:o, s:o, s:o, s:I}", "project", "id",
                     sc->project_id, "name", sc->project_name, "period",
                     period_json(p->start, p->end), "as_of", billing_time_json(as_of), "final",
                     as_of >= p->end && !unsure, "currency", currency_json(cur), "lines", lines,
                     "subtotals", subtotals_json(sums, seen), "total_micros", (json_int_t)total);
}

json_t *billing_invoice(struct store *st, const struct ctx *ctx, const struct billing_query *q,
                        struct nubo_err *err)
{
    struct billing_scope sc;
    struct billing_period p;
    char cur[4];
    if (billing_scope(st, ctx, q->project, &sc, err) < 0 || billing_period_parse(q, &p, err) < 0 ||
        billing_currency(st, cur, err) < 0)
        return NULL;
    int64_t now = clock_now_ms(), as_of = now < p.end ? now : p.end;
    if (as_of < p.start)
        as_of = p.start;
    json_t *rows = billing_rate(st, sc.project_id, p.start, p.end, as_of, err);
    if (rows == NULL)
        return NULL;
    json_t *out = invoice_build(&sc, &p, as_of, cur, rows, err);
    json_decref(rows);
    return out;
}

/* ----------------------------------------------------------------- CSV */

/* Appends n bytes to the CSV text.  The buffer has no cap of its own: the
 * text is bounded by the invoice it renders, already in memory; running
 * out of memory aborts, as xmalloc does. */
static void buf_add(struct dynbuf *b, const char *s, size_t n)
{
    if (dynbuf_add(b, s, n) < 0)
        abort();
}

/* One CSV field, quoted when it holds a comma, a quote or a line end. */
static void csv_field(struct dynbuf *b, const char *s, bool first)
{
    if (!first)
        buf_add(b, ",", 1);
    if (strpbrk(s, ",\"\r\n") == NULL) {
        buf_add(b, s, strlen(s));
        return;
    }
    buf_add(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        buf_add(b, p, 1);
        if (*p == '"')
            buf_add(b, "\"", 1); /* a quote inside is doubled */
    }
    buf_add(b, "\"", 1);
}

/* One CSV row of n fields and CRLF. */
static void csv_row(struct dynbuf *b, const char *const *fields, size_t n)
{
    for (size_t i = 0; i < n; i++)
        csv_field(b, fields[i] ? fields[i] : "", i == 0);
    buf_add(b, "\r\n", 2);
}

/* A JSON member as CSV text: strings as they are, integers in decimal,
 * null as "". */
static const char *field_text(const json_t *o, const char *key, char *tmp, size_t n)
{
    json_t *v = json_object_get(o, key);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(tmp, n, "%lld", (long long)json_integer_value(v));
        return tmp;
    }
    return "";
}

static const char *const invoice_csv_header[] = {
    "row",         "project_id",    "period_start", "period_end",  "resource_type",
    "resource_id", "resource_name", "meter",        "flavor",      "from",
    "to",          "size",          "size_unit",    "duration_ms", "quantity",
    "unit",        "unit_price",    "amount",       "currency",
};
#define INVOICE_CSV_COLS (sizeof(invoice_csv_header) / sizeof(invoice_csv_header[0]))

char *billing_invoice_to_csv(const json_t *inv, size_t *len)
{
    struct dynbuf b = DYNBUF_INIT(SIZE_MAX);
    const char *project = jsonx_str(json_object_get(inv, "project"), "id");
    const json_t *period = json_object_get(inv, "period");
    const char *ps = jsonx_str(period, "start"), *pe = jsonx_str(period, "end");
    const char *cur = jsonx_str(inv, "currency");
    csv_row(&b, invoice_csv_header, INVOICE_CSV_COLS);
    size_t i;
    json_t *l;
    json_array_foreach (json_object_get(inv, "lines"), i, l) {
        char size[24], dur[24], price[32], amount[32];
        billing_money_str(billing_int(l, "unit_price_micros"), price);
        billing_money_str(billing_int(l, "amount_micros"), amount);
        const char *row[] = {
            "line",
            project,
            ps,
            pe,
            jsonx_str(l, "resource_type"),
            jsonx_str(l, "resource_id"),
            jsonx_str(l, "resource_name"),
            jsonx_str(l, "meter"),
            jsonx_str(json_object_get(l, "flavor"), "name"),
            jsonx_str(l, "from"),
            jsonx_str(l, "to"),
            field_text(l, "size", size, sizeof(size)),
            jsonx_str(l, "size_unit"),
            field_text(l, "duration_ms", dur, sizeof(dur)),
            jsonx_str(l, "quantity"),
            jsonx_str(l, "unit"),
            price,
            amount,
            cur,
        };
        csv_row(&b, row, INVOICE_CSV_COLS);
    }
    json_t *s;
    json_array_foreach (json_object_get(inv, "subtotals"), i, s) {
        char amount[32];
        billing_money_str(billing_int(s, "amount_micros"), amount);
        const char *row[INVOICE_CSV_COLS] = {"subtotal", project, ps, pe,
                                             jsonx_str(s, "resource_type")};
        row[INVOICE_CSV_COLS - 2] = amount;
        row[INVOICE_CSV_COLS - 1] = cur;
        csv_row(&b, row, INVOICE_CSV_COLS);
    }
    char total[32];
    billing_money_str(billing_int(inv, "total_micros"), total);
    const char *row[INVOICE_CSV_COLS] = {"total", project, ps, pe};
    row[INVOICE_CSV_COLS - 2] = total;
    row[INVOICE_CSV_COLS - 1] = cur;
    csv_row(&b, row, INVOICE_CSV_COLS);
    return dynbuf_take(&b, len);
}

void billing_invoice_filename(const json_t *inv, char *out, size_t n)
{
    const char *start = jsonx_str(json_object_get(inv, "period"), "start");
    const char *name = jsonx_str(json_object_get(inv, "project"), "name");
    /* The day of the start is enough to tell invoices apart; names are
     * [A-Za-z0-9._-] (valid_name), safe in a header. */
    snprintf(out, n, "invoice-%s-%.10s.csv", name, start);
}

/* -------------------------------------------------------------- months */

json_t *billing_invoice_months(struct store *st, const struct ctx *ctx,
                               const struct billing_query *q, struct nubo_err *err)
{
    struct billing_scope sc;
    struct billing_period p;
    char cur[4];
    int64_t now = clock_now_ms();
    if (billing_scope(st, ctx, q->project, &sc, err) < 0 || billing_currency(st, cur, err) < 0)
        return NULL;
    /* Unlike one invoice's period, the list runs to the current month by
     * default, and starts 11 months before its end. */
    struct billing_query dq = *q;
    char end_s[32];
    if (dq.end == NULL) {
        clock_format_ms(billing_month_next(billing_month_start(now)), end_s);
        dq.end = end_s;
    }
    if (billing_period_parse(&dq, &p, err) < 0)
        return NULL;
    if (dq.start == NULL)
        for (int k = 0; k < 11; k++)
            p.start = billing_month_start(p.start - 1);
    json_t *out = json_array();
    int months = 0;
    int64_t first = billing_month_start(p.start);
    for (int64_t ms = billing_month_start(p.end - 1);; ms = billing_month_start(ms - 1)) {
        if (++months > BILLING_MONTHS_MAX) {
            nubo_err_set(err, NUBO_E_INVALID, "ask for at most %d months at once",
                         BILLING_MONTHS_MAX);
            json_decref(out);
            return NULL;
        }
        struct billing_period m = {ms, billing_month_next(ms)};
        int64_t as_of = now < m.end ? now : m.end;
        if (as_of < m.start)
            as_of = m.start;
        json_t *rows = billing_rate(st, sc.project_id, m.start, m.end, as_of, err);
        json_t *inv = rows ? invoice_build(&sc, &m, as_of, cur, rows, err) : NULL;
        json_decref(rows);
        if (inv == NULL) {
            json_decref(out);
            return NULL;
        }
        json_array_append_new(out, json_pack("{s:O, s:O, s:O, s:O, s:O, s:O}", "period",
                                             json_object_get(inv, "period"), "as_of",
                                             json_object_get(inv, "as_of"), "final",
                                             json_object_get(inv, "final"), "currency",
                                             json_object_get(inv, "currency"), "subtotals",
                                             json_object_get(inv, "subtotals"), "total_micros",
                                             json_object_get(inv, "total_micros")));
        json_decref(inv);
        if (ms <= first)
            break;
    }
    return json_pack("{s:{s:s, s:s}, s:o}", "project", "id", sc.project_id, "name", sc.project_name,
                     "invoices", out);
}

/* ------------------------------------------------------------ showback */

/* A project's part of a showback, while it is being summed. */
struct share {
    char id[37];
    const char *name; /* borrowed from the names query; NULL: a deleted project */
    long long sums[NTYPES], total;
    bool seen[NTYPES];
};

static int share_cmp(const void *a, const void *b)
{
    const struct share *x = a, *y = b;
    int c = strcmp(x->name ? x->name : "", y->name ? y->name : "");
    return c ? c : strcmp(x->id, y->id);
}

json_t *billing_showback(struct store *st, const struct ctx *ctx, const struct billing_query *q,
                         struct nubo_err *err)
{
    struct billing_period p;
    char cur[4];
    json_t *rows = NULL, *names = NULL, *out = NULL;
    struct share *shares = NULL;
    size_t n = 0;
    if (authz_require(ctx, AUTHZ_ADMIN, err) < 0 || billing_period_parse(q, &p, err) < 0 ||
        billing_currency(st, cur, err) < 0)
        return NULL;
    int64_t now = clock_now_ms(), as_of = now < p.end ? now : p.end;
    if (as_of < p.start)
        as_of = p.start;
    rows = billing_rate(st, NULL, p.start, p.end, as_of, err);
    names = rows ? store_query(st, err, "SELECT id, name FROM projects", "") : NULL;
    if (names == NULL)
        goto cleanup;
    shares = xcalloc(json_array_size(rows) + 1, sizeof(*shares));
    bool unsure = false;
    long long total = 0;
    size_t i;
    json_t *r;
    /* Rows come ordered by project: one share per run of rows. */
    json_array_foreach (rows, i, r) {
        const char *pid = jsonx_str(r, "project_id");
        if (n == 0 || strcmp(shares[n - 1].id, pid) != 0) {
            struct share *s = &shares[n++];
            str_copy(s->id, sizeof(s->id), pid);
            size_t j;
            json_t *nm;
            json_array_foreach (names, j, nm) {
                if (strcmp(jsonx_str(nm, "id"), pid) == 0)
                    s->name = jsonx_str(nm, "name");
            }
        }
        struct share *s = &shares[n - 1];
        const struct billing_meter *m = billing_meter_find(jsonx_str(r, "meter"));
        long long amount = 0;
        if (m && billing_amount(m, billing_int(r, "size"), billing_int(r, "ms"),
                                billing_int(r, "price"), &amount, err) < 0)
            goto cleanup;
        size_t t = type_index(jsonx_str(r, "resource_type"));
        if (t < NTYPES - 1) {
            s->sums[t] += amount;
            s->seen[t] = true;
        }
        s->total += amount;
        total += amount;
        unsure = unsure || billing_int(r, "unsure");
    }
    qsort(shares, n, sizeof(*shares), share_cmp);
    json_t *projects = json_array();
    for (size_t k = 0; k < n; k++)
        json_array_append_new(
            projects, json_pack("{s:{s:s, s:o}, s:o, s:I}", "project", "id", shares[k].id, "name",
                                shares[k].name ? json_string(shares[k].name) : json_null(),
                                "subtotals", subtotals_json(shares[k].sums, shares[k].seen),
                                "total_micros", (json_int_t)shares[k].total));
    out =
        json_pack("{s:o, s:o, s:b, s:o, s:o, s:I}", "period", period_json(p.start, p.end), "as_of",
                  billing_time_json(as_of), "final", as_of >= p.end && !unsure, "currency",
                  currency_json(cur), "projects", projects, "total_micros", (json_int_t)total);
cleanup:
    free(shares);
    json_decref(names);
    json_decref(rows);
    return out;
}

char *billing_showback_to_csv(const json_t *sb, size_t *len)
{
    static const char *const header[] = {"row",          "project_id", "project_name",
                                         "period_start", "period_end", "resource_type",
                                         "amount",       "currency"};
    struct dynbuf b = DYNBUF_INIT(SIZE_MAX);
    const json_t *period = json_object_get(sb, "period");
    const char *ps = jsonx_str(period, "start"), *pe = jsonx_str(period, "end");
    const char *cur = jsonx_str(sb, "currency");
    char amount[32];
    csv_row(&b, header, ARRAY_LEN(header));
    size_t i, j;
    json_t *pr, *s;
    json_array_foreach (json_object_get(sb, "projects"), i, pr) {
        const json_t *proj = json_object_get(pr, "project");
        const char *id = jsonx_str(proj, "id"), *name = jsonx_str(proj, "name");
        json_array_foreach (json_object_get(pr, "subtotals"), j, s) {
            billing_money_str(billing_int(s, "amount_micros"), amount);
            const char *row[] = {"subtotal", id, name, ps, pe, jsonx_str(s, "resource_type"),
                                 amount,     cur};
            csv_row(&b, row, ARRAY_LEN(row));
        }
        billing_money_str(billing_int(pr, "total_micros"), amount);
        const char *row[] = {"project_total", id, name, ps, pe, "", amount, cur};
        csv_row(&b, row, ARRAY_LEN(row));
    }
    billing_money_str(billing_int(sb, "total_micros"), amount);
    const char *row[] = {"total", "", "", ps, pe, "", amount, cur};
    csv_row(&b, row, ARRAY_LEN(row));
    return dynbuf_take(&b, len);
}

/* ---------------------------------------------------------------- cost */

json_t *billing_cost(struct store *st, const struct ctx *ctx, const char *project,
                     struct nubo_err *err)
{
    struct billing_scope sc;
    char cur[4];
    long long cost, forecast;
    if (billing_scope(st, ctx, project, &sc, err) < 0 || billing_currency(st, cur, err) < 0)
        return NULL;
    int64_t now = clock_now_ms();
    struct billing_period p = {billing_month_start(now), 0};
    p.end = billing_month_next(p.start);
    /* The forecast is linear: what is open now stays open to the month's
     * end, at the prices of the catalog (price changes already scheduled
     * included). */
    if (billing_project_total(st, sc.project_id, p.start, p.end, now, &cost, err) < 0 ||
        billing_project_total(st, sc.project_id, p.start, p.end, p.end, &forecast, err) < 0)
        return NULL;
    return json_pack("{s:{s:s, s:s}, s:o, s:o, s:o, s:I, s:I}", "project", "id", sc.project_id,
                     "name", sc.project_name, "period", period_json(p.start, p.end), "as_of",
                     billing_time_json(now), "currency", currency_json(cur), "cost_micros",
                     (json_int_t)cost, "forecast_micros", (json_int_t)forecast);
}
