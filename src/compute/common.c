/*
 * common.c - small helpers shared by the compute services; see
 * compute_int.h.
 */
#include "compute/compute_int.h"

#include <string.h>

#include "lib/clock.h"
#include "lib/valid.h"
#include "lib/jsonx.h"

int compute_notfound(struct nubo_err *err, const struct nubo_err *lookup_err, const char *what,
                     const char *ref, const char *hint)
{
    if (lookup_err->code != NUBO_E_NOTFOUND)
        return nubo_err_set(err, lookup_err->code, "%s", lookup_err->msg);
    return nubo_err_set(err, NUBO_E_NOTFOUND, "no %s '%.64s'%s", what, ref, hint ? hint : "");
}

int compute_word_in(const char *s, const char *const words[])
{
    for (const char *const *w = words; s && *w; w++)
        if (strcmp(s, *w) == 0)
            return 1;
    return 0;
}

int compute_ref_check(const char *ref, const char *field, const char *what, struct nubo_err *err)
{
    /* Ids (UUIDs) and names both pass valid_name; anything else names
     * nothing, and is never echoed back (it may not even be printable). */
    if (ref == NULL || valid_name(ref, field, NULL) < 0)
        return nubo_err_set(err, NUBO_E_INVALID, "%s must be the id or the name of %s", field,
                            what);
    return 0;
}

/* ------------------------------------------------------------- quotas */

int compute_count(struct store *st, const char *project_id, enum quota_dim dim, long long *n,
                  struct nubo_err *err)
{
    const char *sql = NULL;
    if (dim == QUOTA_KEYPAIRS)
        sql = "SELECT COUNT(*) AS n FROM keypairs WHERE project_id = ?";
    else if (dim == QUOTA_SERVER_GROUPS)
        sql = "SELECT COUNT(*) AS n FROM server_groups WHERE project_id = ?";
    else
        return nubo_err_set(err, NUBO_E_INTERNAL, "compute counts no quota dimension %d", (int)dim);
    json_t *r = store_query_one(st, err, sql, "s", project_id);
    if (r == NULL)
        return -1;
    *n = (long long)json_integer_value(json_object_get(r, "n"));
    json_decref(r);
    return 0;
}

int compute_quota_check(struct store *st, const char *project_id, enum quota_dim dim,
                        struct nubo_err *err)
{
    long long n = 0;
    if (compute_count(st, project_id, dim, &n, err) < 0)
        return -1;
    return quota_check_count(st, project_id, dim, 1, n, err);
}
