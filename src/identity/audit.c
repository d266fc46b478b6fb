/*
 * audit.c - the audit log: one row per mutating API call (who, in which
 * project, what, on which target, the HTTP status and the result: success,
 * failure or denied), written by the API dispatcher after the handler ran,
 * and read back by cloud admins.
 *
 * Rows are never changed or deleted through the API; they outlive the users
 * and projects they name (user_name is copied for that reason).  A row the
 * database cannot take (its disk is full) is written to the log instead,
 * as one line "audit (not stored in the database: why): {record}".
 */
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "identity/identity_int.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/valid.h"

void identity_audit(struct store *st, const struct ctx *ctx, const char *method, const char *path,
                    const char *action, const char *target, int status, const char *result)
{
    char id[37], now[32];
    struct nubo_err err;
    id_new(id);
    clock_now_str(now);
    if (store_exec(st, &err,
                   "INSERT INTO audit_log (id, at, request_id, user_id, user_name, project_id,"
                   " method, path, action, target, status, result, created_at)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   "ssssssssssiss", id, now, ctx->request_id, ctx->user_id[0] ? ctx->user_id : NULL,
                   ctx->user_name[0] ? ctx->user_name : NULL,
                   ctx->project_id[0] ? ctx->project_id : NULL, method, path, action,
                   target && *target ? target : NULL, (long long)status, result, now) < 0) {
        /* The database could not take the row (a full disk, most often,
         * which is also when mutations fail): the record goes to the log,
         * the journal under systemd, whole, so it is kept somewhere. */
        json_t *rec =
            json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s, s:s, s:s, s:s?, s:i, s:s}", "id", id,
                      "at", now, "request_id", ctx->request_id[0] ? ctx->request_id : NULL,
                      "user_id", ctx->user_id[0] ? ctx->user_id : NULL, "user_name",
                      ctx->user_name[0] ? ctx->user_name : NULL, "project_id",
                      ctx->project_id[0] ? ctx->project_id : NULL, "method", method, "path", path,
                      "action", action, "target", target && *target ? target : NULL, "status",
                      status, "result", result);
        char *line = rec ? json_dumps(rec, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        log_error("audit (not stored in the database: %s): %s", err.msg,
                  line ? line : "(cannot format the record)");
        free(line);
        json_decref(rec);
    }
}

/* A filter value: absent, or name-like (ids, names and action names all
 * are). */
static int filter_check(const char *v, const char *what, struct nubo_err *err)
{
    return v == NULL ? 0 : valid_name(v, what, err);
}

/* since: an RFC 3339 UTC time, "2026-11-26T15:04:05Z" with optional
 * milliseconds (".123"), as the API writes them; out gets it in the stored
 * form (clock_format_ms), which compares as text.  Returns 0 or -1 with
 * err (NUBO_E_INVALID). */
static int since_parse(const char *s, char out[32], struct nubo_err *err)
{
    static const int len[6] = {4, 2, 2, 2, 2, 2};
    static const char sep[5] = {'-', '-', 'T', ':', ':'};
    static const int lo[6] = {1970, 1, 1, 0, 0, 0}, hi[6] = {9999, 12, 31, 23, 59, 59};
    int f[6] = {0}, ms = 0;
    const char *p = s;
    for (int i = 0; i < 6; i++) {
        for (int k = 0; k < len[i]; k++, p++) {
            if (*p < '0' || *p > '9')
                goto bad;
            f[i] = f[i] * 10 + (*p - '0');
        }
        if (f[i] < lo[i] || f[i] > hi[i] || (i < 5 && *p++ != sep[i]))
            goto bad;
    }
    if (*p == '.') {
        p++;
        for (int k = 0; k < 3; k++, p++) {
            if (*p < '0' || *p > '9')
                goto bad;
            ms = ms * 10 + (*p - '0');
        }
    }
    if (p[0] != 'Z' || p[1] != '\0')
        goto bad;
    struct tm tm = {.tm_year = f[0] - 1900,
                    .tm_mon = f[1] - 1,
                    .tm_mday = f[2],
                    .tm_hour = f[3],
                    .tm_min = f[4],
                    .tm_sec = f[5]};
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        goto bad;
    clock_format_ms((int64_t)t * 1000 + ms, out);
    return 0;
bad:
    return nubo_err_set(err, NUBO_E_INVALID,
                        "since must be an RFC 3339 UTC time such as 2026-11-26T15:04:05Z");
}

json_t *identity_audit_list(struct store *st, const struct ctx *ctx, const struct audit_filter *f,
                            int limit, const char *marker, struct nubo_err *err)
{
    if (authz_require(ctx, AUTHZ_ADMIN, err) < 0 || filter_check(f->user, "user", err) < 0 ||
        filter_check(f->project, "project", err) < 0 || filter_check(f->action, "action", err) < 0)
        return NULL;
    if (f->result && strcmp(f->result, "success") != 0 && strcmp(f->result, "failure") != 0 &&
        strcmp(f->result, "denied") != 0) {
        nubo_err_set(err, NUBO_E_INVALID, "result must be success, failure or denied");
        return NULL;
    }
    bool newest = f->order && strcmp(f->order, "newest") == 0;
    if (f->order && !newest && strcmp(f->order, "oldest") != 0) {
        nubo_err_set(err, NUBO_E_INVALID, "order must be oldest or newest");
        return NULL;
    }
    char since[32] = "";
    if (f->since && since_parse(f->since, since, err) < 0)
        return NULL;
    struct store_page pg = {.marker = marker, .limit = limit, .desc = newest};
    if (store_page_start(st, &pg, err, "SELECT created_at FROM audit_log WHERE id = ?", "s",
                         marker) < 0)
        return NULL;
    const char *user = f->user ? f->user : "", *project = f->project ? f->project : "";
    const char *action = f->action ? f->action : "", *result = f->result ? f->result : "";
    /* user and project match an id or a name; projects are named through
     * the projects table (a deleted project is found by its id only). */
    return store_page_query(st, &pg, NULL, err,
                            "SELECT id, at, request_id, user_id, user_name, project_id, method,"
                            " path, action, target, status, result FROM audit_log"
                            " WHERE (? = '' OR user_id = ? OR user_name = ?)"
                            "   AND (? = '' OR project_id = ?"
                            "     OR project_id IN (SELECT p.id FROM projects p WHERE p.name = ?))"
                            "   AND (? = '' OR action = ?) AND (? = '' OR result = ?)"
                            "   AND (? = '' OR created_at >= ?)",
                            "ssssssssssss", user, user, user, project, project, project, action,
                            action, result, result, since, since);
}
