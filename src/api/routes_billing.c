/*
 * routes_billing.c - /v1/prices, /v1/usage, /v1/invoice, /v1/invoices,
 * /v1/cost, /v1/budget.
 *
 * Each handler reads the request (query, a JSON body whose fields are
 * type-checked here), calls one service of src/billing, which validates
 * values, scopes the project and does the work, and turns its result into
 * the answer.  Reports are about the caller's project; a cloud admin may
 * name another with ?project=.  Invoices answer JSON, or CSV with
 * ?format=csv.  The contract is docs/internals/billing.md and
 * docs/openapi.json.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "billing/billing.h"
#include "lib/util.h"

/* ------------------------------------------------------------ helpers */

/* ?format=json|csv: sets *csv; answers 400 itself and returns -1 when bad. */
static int format_csv(struct api_call *call, int *csv)
{
    const char *f = api_query(call, "format");
    *csv = f && strcmp(f, "csv") == 0;
    if (f && !*csv && strcmp(f, "json") != 0) {
        struct nubo_err err;
        nubo_err_set(&err, NUBO_E_INVALID, "format must be json or csv");
        api_fail(call, &err);
        return -1;
    }
    return 0;
}

/* Answers a CSV document (csv is freed), offered as file name `name`. */
static void reply_csv(struct api_call *call, char *csv, size_t len, const char *name)
{
    http_resp_text(call->resp, 200, csv, len);
    free(csv);
    call->resp->content_type = "text/csv; charset=utf-8";
    str_copy(call->resp->extra_name, sizeof(call->resp->extra_name), "Content-Disposition");
    snprintf(call->resp->extra_value, sizeof(call->resp->extra_value),
             "attachment; filename=\"%s\"", name);
}

static void query_of(struct api_call *call, struct billing_query *q)
{
    q->project = api_query(call, "project");
    q->start = api_query(call, "start");
    q->end = api_query(call, "end");
}

/* ------------------------------------------------------------- prices */

static void get_prices(struct api_call *call)
{
    struct nubo_err err;
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(call, "prices",
                           billing_price_list(call->api->st, &call->ctx, api_query(call, "meter"),
                                              limit, marker, &err),
                           limit, &err);
}

static void post_price(struct api_call *call)
{
    static const char *const fields[] = {"meter",    "flavor",         "unit_price_micros",
                                         "currency", "effective_from", NULL};
    struct nubo_err err;
    struct billing_price_spec s = {0};
    json_t *b = api_body(call, fields);
    if (b == NULL)
        return;
    static const char *const strs[] = {"meter", "flavor", "currency", "effective_from"};
    const char **dst[] = {&s.meter, &s.flavor, &s.currency, &s.effective_from};
    for (size_t i = 0; i < ARRAY_LEN(strs); i++) {
        json_t *v = json_object_get(b, strs[i]);
        if (v && !json_is_null(v) && !json_is_string(v)) {
            api_bad_field(call, strs[i], "a string");
            return;
        }
        *dst[i] = json_string_value(v);
    }
    json_t *p = json_object_get(b, "unit_price_micros");
    if (!json_is_integer(p)) {
        api_bad_field(call, "unit_price_micros",
                      "an integer: micro-units of the currency per unit (hour, GiB-month)");
        return;
    }
    s.unit_price_micros = json_integer_value(p);
    json_t *price = billing_price_create(call->api->st, &call->ctx, &s, &err);
    if (price)
        str_copy(call->target, sizeof(call->target),
                 json_string_value(json_object_get(price, "id")));
    api_reply_or_fail(call, 201, price, &err);
}

/* -------------------------------------------------- usage and invoices */

static void get_usage(struct api_call *call)
{
    struct nubo_err err;
    struct billing_query q;
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    query_of(call, &q);
    api_reply_page_or_fail(call, "usage",
                           billing_usage_list(call->api->st, &call->ctx, &q,
                                              api_query(call, "resource"), api_query(call, "meter"),
                                              limit, marker, &err),
                           limit, &err);
}

static void get_invoice(struct api_call *call)
{
    struct nubo_err err;
    struct billing_query q;
    int csv;
    if (format_csv(call, &csv) < 0)
        return;
    query_of(call, &q);
    json_t *inv = billing_invoice(call->api->st, &call->ctx, &q, &err);
    if (inv == NULL || !csv) {
        api_reply_or_fail(call, 200, inv, &err);
        return;
    }
    char name[128];
    size_t len;
    billing_invoice_filename(inv, name, sizeof(name));
    char *text = billing_invoice_to_csv(inv, &len);
    json_decref(inv);
    reply_csv(call, text, len, name);
}

static void get_invoices(struct api_call *call)
{
    struct nubo_err err;
    struct billing_query q;
    query_of(call, &q);
    api_reply_or_fail(call, 200, billing_invoice_months(call->api->st, &call->ctx, &q, &err), &err);
}

static void get_showback(struct api_call *call)
{
    struct nubo_err err;
    struct billing_query q;
    int csv;
    if (format_csv(call, &csv) < 0)
        return;
    query_of(call, &q);
    q.project = NULL;
    json_t *sb = billing_showback(call->api->st, &call->ctx, &q, &err);
    if (sb == NULL || !csv) {
        api_reply_or_fail(call, 200, sb, &err);
        return;
    }
    char name[64];
    size_t len;
    snprintf(name, sizeof(name), "showback-%.10s.csv",
             json_string_value(json_object_get(json_object_get(sb, "period"), "start")));
    char *text = billing_showback_to_csv(sb, &len);
    json_decref(sb);
    reply_csv(call, text, len, name);
}

static void get_cost(struct api_call *call)
{
    struct nubo_err err;
    api_reply_or_fail(
        call, 200, billing_cost(call->api->st, &call->ctx, api_query(call, "project"), &err), &err);
}

/* ------------------------------------------------------------- budgets */

static void get_budget(struct api_call *call)
{
    struct nubo_err err;
    api_reply_or_fail(
        call, 200, billing_budget_get(call->api->st, &call->ctx, api_query(call, "project"), &err),
        &err);
}

static void put_budget(struct api_call *call)
{
    static const char *const fields[] = {"amount_micros", "currency", "thresholds",
                                         "block_new_instances", NULL};
    struct nubo_err err;
    struct billing_budget_spec s = {0};
    const char *project = api_query(call, "project");
    str_copy(call->target, sizeof(call->target), project ? project : call->ctx.project_id);
    json_t *b = api_body(call, fields);
    if (b == NULL)
        return;
    json_t *v = json_object_get(b, "amount_micros");
    if (!json_is_integer(v)) {
        api_bad_field(call, "amount_micros",
                      "an integer: the monthly budget in micro-units of the currency");
        return;
    }
    s.amount_micros = json_integer_value(v);
    v = json_object_get(b, "currency");
    if (v && !json_is_null(v) && !json_is_string(v)) {
        api_bad_field(call, "currency", "a string");
        return;
    }
    s.currency = json_string_value(v);
    v = json_object_get(b, "thresholds");
    s.thresholds = v && !json_is_null(v) ? v : NULL;
    v = json_object_get(b, "block_new_instances");
    if (v && !json_is_null(v) && !json_is_boolean(v)) {
        api_bad_field(call, "block_new_instances", "true or false");
        return;
    }
    s.block_new_instances = json_is_true(v);
    api_reply_or_fail(call, 200, billing_budget_set(call->api->st, &call->ctx, project, &s, &err),
                      &err);
}

static void delete_budget(struct api_call *call)
{
    struct nubo_err err;
    const char *project = api_query(call, "project");
    str_copy(call->target, sizeof(call->target), project ? project : call->ctx.project_id);
    if (billing_budget_delete(call->api->st, &call->ctx, project, &err) < 0)
        api_fail(call, &err);
    else
        api_no_content(call);
}

static void get_notifications(struct api_call *call)
{
    struct nubo_err err;
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(call, "notifications",
                           billing_budget_notifications(call->api->st, &call->ctx,
                                                        api_query(call, "project"), limit, marker,
                                                        &err),
                           limit, &err);
}

const struct route billing_routes[] = {
    {"GET", "/v1/prices", AUTHZ_READ, NULL, get_prices, 0},
    {"POST", "/v1/prices", AUTHZ_ADMIN, "price.create", post_price, 0},
    {"GET", "/v1/usage", AUTHZ_READ, NULL, get_usage, 0},
    {"GET", "/v1/invoice", AUTHZ_READ, NULL, get_invoice, 0},
    {"GET", "/v1/invoices", AUTHZ_READ, NULL, get_invoices, 0},
    {"GET", "/v1/invoices/showback", AUTHZ_ADMIN, NULL, get_showback, 0},
    {"GET", "/v1/cost", AUTHZ_READ, NULL, get_cost, 0},
    {"GET", "/v1/budget", AUTHZ_READ, NULL, get_budget, 0},
    {"PUT", "/v1/budget", AUTHZ_ADMIN, "budget.set", put_budget, 0},
    {"DELETE", "/v1/budget", AUTHZ_ADMIN, "budget.delete", delete_budget, 0},
    {"GET", "/v1/budget/notifications", AUTHZ_READ, NULL, get_notifications, 0},
    {NULL, NULL, 0, NULL, NULL, 0},
};
