/*
 * task.c - reading tasks: the operations on instances a caller can poll
 * (create, start, stop, reboot, delete).  They are made and finished by
 * the functions of events.c.
 */
#include "compute/compute.h"
#include "compute/compute_int.h"

#define TASK_COLUMNS "t.id, t.instance_id, t.kind, t.status, t.error, t.created_at, t.updated_at"

json_t *compute_task_list(struct store *st, const struct ctx *ctx, const char *instance,
                          const char *status, int limit, const char *marker, struct nubo_err *err)
{
    static const char *const statuses[] = {"pending", "running", "succeeded", "failed", NULL};
    struct nubo_err qerr = {0};
    char after[32];
    if (status && !compute_word_in(status, statuses)) {
        nubo_err_set(err, NUBO_E_INVALID, "status must be pending, running, succeeded or failed");
        return NULL;
    }
    json_t *m = marker ? store_query_one(st, &qerr,
                                         "SELECT t.created_at FROM tasks t WHERE t.id = ? AND"
                                         " t.project_id = ?",
                                         "ss", marker, ctx->project_id)
                       : NULL;
    if (compute_marker(marker, m, &qerr, after, err) < 0)
        return NULL;
    return store_query(st, err,
                       "SELECT " TASK_COLUMNS " FROM tasks t WHERE t.project_id = ?"
                       " AND (? = '' OR t.instance_id = ?) AND (? = '' OR t.status = ?)"
                       " AND (t.created_at, t.id) > (?, ?) ORDER BY t.created_at, t.id LIMIT ?",
                       "sssssssi", ctx->project_id, instance ? instance : "",
                       instance ? instance : "", status ? status : "", status ? status : "", after,
                       marker ? marker : "", (long long)limit + 1);
}

json_t *compute_task_get(struct store *st, const struct ctx *ctx, const char *id,
                         struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *row = store_query_one(st, &qerr,
                                  "SELECT " TASK_COLUMNS " FROM tasks t WHERE t.id = ? AND"
                                  " (t.project_id = ? OR ? = 1)",
                                  "ssi", id, ctx->project_id, (long long)ctx->is_admin);
    if (row == NULL)
        compute_notfound(err, &qerr, "task", id, NULL);
    return row;
}
