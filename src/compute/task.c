/*
 * task.c - reading tasks: the operations on instances a caller can poll
 * (create, start, stop, reboot, delete).  They are made and finished by
 * the functions of events.c.
 */
#include "compute/compute.h"
#include "compute/compute_int.h"

#define TASK_COLUMNS                                                                               \
    "t.id, t.instance_id, t.kind, t.status, t.error, t.progress, t.created_at, t.updated_at"

/* progress (a migration's figures, docs/internals/mobility.md) is stored
 * as JSON text: an object in the answer, null when there is none. */
static json_t *task_render(json_t *t)
{
    const char *p = json_string_value(json_object_get(t, "progress"));
    json_t *o = p ? json_loads(p, 0, NULL) : NULL;
    json_object_set_new(t, "progress", o ? o : json_null());
    return t;
}

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
    json_t *page =
        store_page_query(st, &pg, "t.created_at, t.id", err,
                         "SELECT " TASK_COLUMNS " FROM tasks t WHERE t.project_id = ?"
                         " AND (? = '' OR t.instance_id = ?) AND (? = '' OR t.status = ?)",
                         "sssss", ctx->project_id, instance ? instance : "",
                         instance ? instance : "", status ? status : "", status ? status : "");
    size_t i;
    json_t *t;
    json_array_foreach (page, i, t) {
        task_render(t);
    }
    return page;
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
    return row ? task_render(row) : NULL;
}
