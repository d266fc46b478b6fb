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
    struct store_page pg = {.marker = marker, .limit = limit};
    if (status && !compute_word_in(status, statuses)) {
        nubo_err_set(err, NUBO_E_INVALID, "status must be pending, running, succeeded or failed");
        return NULL;
    }
    if (store_page_start(st, &pg, err,
                         "SELECT t.created_at FROM tasks t WHERE t.id = ? AND t.project_id = ?",
                         "ss", marker, ctx->project_id) < 0)
        return NULL;
    return store_page_query(st, &pg, "t.created_at, t.id", err,
                            "SELECT " TASK_COLUMNS " FROM tasks t WHERE t.project_id = ?"
                            " AND (? = '' OR t.instance_id = ?) AND (? = '' OR t.status = ?)",
                            "sssss", ctx->project_id, instance ? instance : "",
                            instance ? instance : "", status ? status : "", status ? status : "");
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
