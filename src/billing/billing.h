/*
 * billing.h - metering, the price catalog, invoices, budgets.
 *
 * Metering.  Every billable fact is an interval in the usage ledger
 * (usage_records, src/store/schema_billing.c): opened when a resource
 * enters a billable state, closed when it leaves it, by hooks that the
 * services call inside the very transaction that changes the resource's
 * state (ARCHITECTURE.md, principle 4).  Hooks are idempotent: they make
 * the open records agree with the resource's current state, so calling one
 * twice, or after a crash and a retry, changes nothing.  Times come from
 * clock_now_ms() (injectable).
 *
 * Pricing and invoices.  An invoice is computed, never stored: from the
 * ledger and the price catalog for a period, deterministically (the same
 * inputs give byte-identical JSON and CSV).  Amounts are integers of
 * micro-units of the catalog's currency, rounded half up once per line
 * item.  docs/internals/billing.md is the design note: meters and their
 * units, what each instance status bills, host outages, rounding.
 *
 * Tenancy.  The services take the caller's ctx.  A project reference
 * (`project`, an id or a name, NULL for the caller's own) may name another
 * project only for a cloud admin; anyone else gets NUBO_E_NOTFOUND, exactly
 * as for a project that does not exist.
 *
 * Unless said otherwise a function returning json_t * returns a new
 * reference in the API's shape (docs/openapi.json), or NULL with err; one
 * returning int returns 0 or -1 with err.
 */
#ifndef NUBO_BILLING_H
#define NUBO_BILLING_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "identity/identity.h"
#include "lib/err.h"
#include "store/store.h"

/* ---- metering hooks (meter.c) --------------------------------------------
 *
 * Call these inside the write transaction that changed the resource (after
 * the UPDATE or INSERT), and fail that transaction when they fail. */

/* Makes the instance's open records agree with its status as stored now:
 *   meter instance (running time, price key = flavor): running, rebooting,
 *       stopping
 *   meter disk (root disk, size = disk_gib): building (placed on a host),
 *       running, rebooting, stopping, stopped
 *   nothing: error, deleting, deleted
 *   unknown (host down): records stay open and remember the host's last
 *       heartbeat, where they close if they have to close before the host
 *       reports the instance again. */
int billing_instance_meter(struct store *st, const char *instance_id, struct nubo_err *err);

/* The host of an unknown instance reported back, and its VM is not
 * running (stopped, crashed or gone): the running time ends at the last
 * heartbeat that saw the host before the outage.  Call it before the VM is
 * started again; nothing happens unless the instance is unknown with an
 * open running record. */
int billing_instance_lost(struct store *st, const char *instance_id, struct nubo_err *err);

/* Makes an image's storage record agree with the image row: open (size =
 * size_bytes) while the image exists and is active, closed otherwise (also
 * when the row is gone: call it after the DELETE). */
int billing_image_meter(struct store *st, const char *image_id, struct nubo_err *err);

/* Makes a floating IP's record agree with the floating_ips row: open
 * (size 1, named after the address) while the address is allocated,
 * closed once the row is gone (call it after the INSERT or the DELETE).
 * Shaped as src/network's meter hook (network_set_meter_hook()); arg is
 * unused. */
int billing_floatingip_meter(struct store *st, const char *fip_id, void *arg, struct nubo_err *err);

/* What a generic resource uses, for the hooks above and resources that
 * come later (volumes): meter "volume" (size in GiB) or "floating_ip"
 * (size 1). */
struct billing_usage {
    const char *meter;
    const char *project_id;
    const char *resource_id;
    const char *resource_name;
    const char *price_key;      /* "" for unkeyed meters */
    const char *price_key_name; /* "" when none */
    long long size;
};

/* Opens a record for u at clock_now_ms() unless one with the same key and
 * size is open already (then nothing happens); an open record with another
 * key or size is closed first.  Records of one meter and resource never
 * overlap: when the wall clock is behind the end of the resource's last
 * record of the meter (it went back), the new one starts at that end. */
int billing_meter_open(struct store *st, const struct billing_usage *u, struct nubo_err *err);

/* Closes the open record of (meter, resource_id), if any, at
 * clock_now_ms(), or at its start when the clock is behind it. */
int billing_meter_close(struct store *st, const char *meter, const char *resource_id,
                        struct nubo_err *err);

/* ---- the price catalog (price.c) ----------------------------------------- */

struct billing_price_spec {
    const char *meter;           /* instance, disk, image, volume, floating_ip */
    const char *flavor;          /* meter instance: the flavor's id or name */
    long long unit_price_micros; /* 0 .. 10^12, per the meter's unit */
    const char *currency;        /* ISO 4217, e.g. "EUR" */
    const char *effective_from;  /* RFC 3339, not in the past; NULL = now */
};

/* Prices in creation order, each with its effective_until (the next price
 * of the same meter and key, or null); meter filters when not NULL. */
json_t *billing_price_list(struct store *st, const struct ctx *ctx, const char *meter, int limit,
                           const char *marker, struct nubo_err *err);

/* Adds a price (cloud admin).  NUBO_E_CONFLICT when it would change the
 * past, when the meter and key already have a price from that moment, or
 * when the currency is not the catalog's. */
json_t *billing_price_create(struct store *st, const struct ctx *ctx,
                             const struct billing_price_spec *spec, struct nubo_err *err);

/* ---- usage and invoices (usage.c, invoice.c) ------------------------------
 *
 * A period is [start, end): RFC 3339 times, or "YYYY-MM-DD", or "YYYY-MM"
 * (the first instant of that day or month).  Both NULL: the current
 * calendar month (UTC); start alone: to the end of its month; end alone:
 * from the start of the month it ends in. */
struct billing_query {
    const char *project; /* id or name; NULL = the caller's */
    const char *start, *end;
};

/* The records overlapping the period, in ledger order; resource and meter
 * filter when not NULL. */
json_t *billing_usage_list(struct store *st, const struct ctx *ctx, const struct billing_query *q,
                           const char *resource, const char *meter, int limit, const char *marker,
                           struct nubo_err *err);

/* The invoice of one project for the period: line items per resource,
 * meter and price segment, subtotals per resource type, total. */
json_t *billing_invoice(struct store *st, const struct ctx *ctx, const struct billing_query *q,
                        struct nubo_err *err);

/* An invoice (as billing_invoice() made it) as CSV: RFC 4180, CRLF line
 * ends, one row per line item, then the subtotals and the total; money as
 * exact decimals of the currency (6 places).  Returns a malloc'd string
 * the caller frees, its length in *len. */
char *billing_invoice_to_csv(const json_t *invoice, size_t *len);

/* A file name for an invoice's CSV, "invoice-<project>-<start>.csv", into
 * out (n bytes). */
void billing_invoice_filename(const json_t *invoice, char *out, size_t n);

/* Monthly totals of a project, newest month first, for the calendar
 * months that overlap the period; its end defaults to the end of the
 * current month, its start to 11 months before the end's month (at most
 * 120 months). */
json_t *billing_invoice_months(struct store *st, const struct ctx *ctx,
                               const struct billing_query *q, struct nubo_err *err);

/* Showback (cloud admin): the period's subtotals and total of every project
 * that used something, by project name. */
json_t *billing_showback(struct store *st, const struct ctx *ctx, const struct billing_query *q,
                         struct nubo_err *err);

/* A showback (as billing_showback() made it) as CSV, like
 * billing_invoice_to_csv(). */
char *billing_showback_to_csv(const json_t *showback, size_t *len);

/* The running cost of a project in the current month and a forecast to
 * the month's end (what runs now keeps running). */
json_t *billing_cost(struct store *st, const struct ctx *ctx, const char *project,
                     struct nubo_err *err);

/* ---- budgets (budget.c) ---------------------------------------------------- */

struct billing_budget_spec {
    long long amount_micros;  /* > 0: per calendar month */
    const char *currency;     /* NULL: the catalog's */
    const json_t *thresholds; /* array of percentages 1..1000; NULL: [80, 100] */
    bool block_new_instances;
};

/* The project's budget (or null), what it spent this month, and whether
 * the budget is exceeded.  Records the notifications of thresholds crossed
 * since they were last looked at. */
json_t *billing_budget_get(struct store *st, const struct ctx *ctx, const char *project,
                           struct nubo_err *err);

/* Sets the project's budget (cloud admin); answers as billing_budget_get. */
json_t *billing_budget_set(struct store *st, const struct ctx *ctx, const char *project,
                           const struct billing_budget_spec *spec, struct nubo_err *err);

/* Removes the project's budget (cloud admin); NUBO_E_NOTFOUND when none. */
int billing_budget_delete(struct store *st, const struct ctx *ctx, const char *project,
                          struct nubo_err *err);

/* The project's threshold notifications, oldest first. */
json_t *billing_budget_notifications(struct store *st, const struct ctx *ctx, const char *project,
                                     int limit, const char *marker, struct nubo_err *err);

/* Records the notifications of every budget's thresholds crossed this
 * month (for a periodic caller: the reconciler's loop).  Never fails the
 * caller; logs. */
void billing_budgets_evaluate(struct store *st);

/* For the instance create, inside its write transaction: NUBO_E_FORBIDDEN
 * (a message saying what was spent of what) when the project's budget
 * blocks new instances and this month's cost has reached it. */
int billing_budget_check(struct store *st, const char *project_id, struct nubo_err *err);

/* Project project_id is being deleted (an identity_project_delete_fn, in
 * the caller's transaction): its open usage records close now (its images
 * and floating IPs cascade away with it; its instances are deleted
 * already).  The records stay: invoices and showback of the periods it
 * used still count them (budgets and their notifications cascade).  0 or
 * -1 with err. */
struct strv;
int billing_project_close(struct store *st, const char *project_id, const char *name,
                          struct strv *files, void *arg, struct nubo_err *err);

#endif
