/*
 * compute_int.h - helpers shared by the files of src/compute.  Not part of
 * the module's interface (that is compute.h); nothing outside src/compute
 * includes this.
 */
#ifndef NUBO_COMPUTE_INT_H
#define NUBO_COMPUTE_INT_H

#include <jansson.h>

#include "identity/identity.h"
#include "lib/err.h"
#include "store/store.h"

/* A row's string member, or "" when it is missing or null. */
const char *compute_str(const json_t *row, const char *key);

/* Turns the lookup of a list marker into where the page starts.  row is
 * the result of a query selecting the marker's created_at among the rows
 * the caller may list (NULL when the query failed or found nothing, with
 * lookup_err).  Sets after to "" when marker is NULL (every row sorts
 * after it).  An unknown marker is NUBO_E_INVALID.  Consumes row. */
int compute_marker(const char *marker, json_t *row, const struct nubo_err *lookup_err,
                   char after[32], struct nubo_err *err);

/* Copies a store error into err, replacing a NOTFOUND's generic message
 * with "no WHAT 'REF'HINT" (hint may be NULL).  Returns -1. */
int compute_notfound(struct nubo_err *err, const struct nubo_err *lookup_err, const char *what,
                     const char *ref, const char *hint);

/* Checks a reference to another resource taken from a request body (an
 * id or a name): NUBO_E_INVALID "<field> must be the id or the name of
 * <what>" otherwise.  After this check ref is safe to quote in messages. */
int compute_ref_check(const char *ref, const char *field, const char *what, struct nubo_err *err);

/* True when s is one of the NULL-terminated words. */
int compute_word_in(const char *s, const char *const words[]);

/* Resolvers used by the instance create, inside its transaction.  Each
 * returns the raw row (new reference) visible to ctx's project, or NULL
 * with err (NUBO_E_NOTFOUND naming the ref). */
json_t *compute_flavor_resolve(struct store *st, const struct ctx *ctx, const char *ref,
                               struct nubo_err *err);
json_t *compute_image_resolve(struct store *st, const struct ctx *ctx, const char *ref,
                              struct nubo_err *err);
json_t *compute_server_group_resolve(struct store *st, const struct ctx *ctx, const char *ref,
                                     struct nubo_err *err);

#endif
