/*
 * events.c - instance events and tasks, shared by the API and the
 * reconciler; see compute.h.
 */
#include "compute/compute.h"
#include "compute/compute_int.h"

#include <string.h>

#include "lib/clock.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/util.h"

void compute_event_add(struct store *st, const char *instance_id, const char *event,
                       const char *detail, const char *request_id)
{
    char id[37], now[32];
    struct nubo_err err;
    id_new(id);
    clock_stamp(now);
    if (store_exec(st, &err,
                   "INSERT INTO instance_events (id, instance_id, at, event, detail, request_id,"
                   " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   "sssssss", id, instance_id, now, event, detail ? detail : "", request_id,
                   now) < 0)
        log_error("instance %s: cannot record event %s: %s", instance_id, event, err.msg);
}

long long compute_instances_host_event(struct store *st, const char *host_id, const json_t *ids,
                                       const char *event, const char *detail, struct nubo_err *err)
{
    json_t *rows = store_query(st, err,
                               "SELECT id FROM instances WHERE host_id = ? AND status != 'deleted'"
                               " ORDER BY created_at, id",
                               "s", host_id);
    if (rows == NULL)
        return -1;
    long long n = 0;
    size_t i, k;
    json_t *r, *id;
    json_array_foreach (rows, i, r) {
        const char *iid = jsonx_str(r, "id");
        bool wanted = ids == NULL;
        json_array_foreach (ids, k, id) {
            const char *s = json_string_value(id);
            wanted = wanted || (s && strcmp(s, iid) == 0);
        }
        if (wanted) {
            compute_event_add(st, iid, event, detail, NULL);
            n++;
        }
    }
    json_decref(rows);
    return n;
}

int compute_task_create(struct store *st, const char *project_id, const char *instance_id,
                        const char *kind, const char *request_id, char task_id[37],
                        struct nubo_err *err)
{
    char now[32];
    id_new(task_id);
    clock_stamp(now);
    return store_exec(st, err,
                      "INSERT INTO tasks (id, project_id, instance_id, kind, status, request_id,"
                      " created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)",
                      "sssssss", task_id, project_id, instance_id, kind, request_id, now, now) < 0
               ? -1
               : 0;
}

/* True when kind appears in the comma-separated list. */
static int kind_in(const char *kind, const char *kinds)
{
    size_t kl = strlen(kind);
    for (const char *p = kinds; *p;) {
        size_t l = strcspn(p, ",");
        if (l == kl && strncmp(p, kind, l) == 0)
            return 1;
        p += l;
        if (*p == ',')
            p++;
    }
    return 0;
}

void compute_task_finish(struct store *st, const char *instance_id, const char *kinds,
                         const char *error)
{
    struct nubo_err err;
    char now[32];
    clock_now_str(now);
    json_t *rows = store_query(st, &err,
                               "SELECT id, kind FROM tasks WHERE instance_id = ? AND status IN"
                               " ('pending', 'running')",
                               "s", instance_id);
    size_t i;
    json_t *t;
    json_array_foreach (rows, i, t) {
        const char *kind = json_string_value(json_object_get(t, "kind"));
        if (kind == NULL || !kind_in(kind, kinds))
            continue;
        if (store_exec(st, &err,
                       "UPDATE tasks SET status = ?, error = ?, updated_at = ? WHERE id = ?",
                       "ssss", error ? "failed" : "succeeded", error, now,
                       json_string_value(json_object_get(t, "id"))) < 0)
            log_error("task: cannot finish: %s", err.msg);
    }
    json_decref(rows);
}

void compute_task_running(struct store *st, const char *instance_id)
{
    struct nubo_err err;
    char now[32];
    clock_now_str(now);
    store_exec(st, &err,
               "UPDATE tasks SET status = 'running', updated_at = ? WHERE instance_id = ? AND"
               " status = 'pending'",
               "ss", now, instance_id);
}
