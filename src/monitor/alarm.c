/*
 * alarm.c - alarms: threshold rules on a metric, their CRUD, and their
 * evaluation by the monitor thread.
 *
 * An alarm watches one instance's metric or, without an instance, the
 * samples of all its project's instances (the project's aggregate).  At
 * every evaluation it takes the last evaluation_periods windows of window_s
 * seconds, the latest ending now (a sample taken now is in it), and the
 * statistic (avg, max or min) of the samples in each:
 *   - a window without samples          -> INSUFFICIENT_DATA
 *   - every window breaches             -> ALARM
 *   - otherwise                         -> OK
 * where "breaches" is `statistic comparison threshold` (gt: >, ge: >=, lt:
 * <, le: <=).  A state change is committed with a history row (compare and
 * set on the state read, so a concurrent update or delete wins), then the
 * alarm's internal hook runs and its webhook is queued (webhook.c); both
 * outcomes are recorded in the history too.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/valid.h"
#include "monitor/monitor_int.h"

#define ALARM_MAX_WINDOW_S 86400
#define ALARM_MAX_PERIODS 100
#define ALARM_DESCRIPTION_MAX 255

static const char *const statistics[] = {"avg", "max", "min"};
static const char *const comparisons[] = {"gt", "ge", "lt", "le"};
static const char *const comparison_signs[] = {">", ">=", "<", "<="};

static int word_index(const char *s, const char *const *words, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(s, words[i]) == 0)
            return (int)i;
    return -1;
}

/* ------------------------------------------------------------- JSON */

#define ALARM_COLUMNS                                                                              \
    "SELECT id, project_id, name, description, metric, instance_id, statistic, comparison,"        \
    " threshold, window_s, evaluation_periods, webhook_url, hook, state, state_reason,"            \
    " state_value, state_changed_at, created_at, updated_at FROM alarms"

static json_t *nullable_str(const json_t *r, const char *k)
{
    const char *s = json_string_value(json_object_get(r, k));
    return s ? json_string(s) : json_null();
}

static json_t *alarm_json(const json_t *r)
{
    json_t *sv = json_object_get(r, "state_value");
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:f, s:I, s:I, s:o, s:o, s:s, s:s, s:o, s:s,"
        " s:s, s:s}",
        "id", jsonx_str(r, "id"), "project_id", jsonx_str(r, "project_id"), "name",
        jsonx_str(r, "name"), "description", jsonx_str(r, "description"), "metric",
        jsonx_str(r, "metric"), "instance_id", nullable_str(r, "instance_id"), "statistic",
        jsonx_str(r, "statistic"), "comparison", jsonx_str(r, "comparison"), "threshold",
        json_number_value(json_object_get(r, "threshold")), "window_s",
        (json_int_t)monitor_jint(r, "window_s"), "evaluation_periods",
        (json_int_t)monitor_jint(r, "evaluation_periods"), "webhook_url",
        nullable_str(r, "webhook_url"), "hook", nullable_str(r, "hook"), "state",
        jsonx_str(r, "state"), "state_reason", jsonx_str(r, "state_reason"), "state_value",
        json_is_number(sv) ? json_real(json_number_value(sv)) : json_null(), "state_changed_at",
        jsonx_str(r, "state_changed_at"), "created_at", jsonx_str(r, "created_at"), "updated_at",
        jsonx_str(r, "updated_at"));
}

/* The alarm row id as ctx may see it (its project; a cloud admin: any),
 * or NULL with NUBO_E_NOTFOUND. */
static json_t *alarm_row(struct store *st, const struct ctx *ctx, const char *id,
                         struct nubo_err *err)
{
    struct nubo_err qerr;
    json_t *r =
        store_query_one(st, &qerr, ALARM_COLUMNS " WHERE id = ? AND (project_id = ? OR ? = 1)",
                        "ssi", id, ctx->project_id, (long long)ctx->is_admin);
    if (r == NULL) {
        if (qerr.code == NUBO_E_NOTFOUND)
            nubo_err_set(err, NUBO_E_NOTFOUND, "no alarm with id '%.64s'", id);
        else
            *err = qerr;
    }
    return r;
}

/* ------------------------------------------------------------ validation */

struct alarm_spec {
    const char *description; /* NULL = unchanged */
    const char *metric;
    int statistic, comparison; /* indexes, -1 = unchanged */
    bool has_threshold;
    double threshold;
    long long window_s, periods; /* 0 = unchanged */
    bool set_url, set_hook;      /* url / hook given (NULL clears) */
    const char *url, *hook;
};

static int bad(struct nubo_err *err, const char *key, const char *what)
{
    return nubo_err_set(err, NUBO_E_INVALID, "'%s' must be %s", key, what);
}

/* Reads the rule fields of body into s (type and value checks). */
static int spec_read(const struct monitor *m, json_t *body, struct alarm_spec *s,
                     struct nubo_err *err)
{
    memset(s, 0, sizeof(*s));
    s->statistic = s->comparison = -1;
    json_t *v;
    if ((v = json_object_get(body, "description")) && !json_is_null(v)) {
        s->description = json_string_value(v);
        if (s->description == NULL || strlen(s->description) > ALARM_DESCRIPTION_MAX)
            return bad(err, "description", "a text of up to 255 characters");
        for (const char *p = s->description; *p; p++)
            if ((unsigned char)*p < ' ' || *p == 0x7f)
                return bad(err, "description", "a text without control characters");
    }
    if ((v = json_object_get(body, "metric"))) {
        s->metric = json_string_value(v);
        if (monitor_metric_find(MONITOR_INSTANCE, s->metric) == NULL) {
            char names[256] = "";
            for (size_t i = 0; i < monitor_instance_nmetrics; i++) {
                size_t l = strlen(names);
                snprintf(names + l, sizeof(names) - l, "%s%s", i ? ", " : "",
                         monitor_instance_metrics[i].name);
            }
            return nubo_err_set(err, NUBO_E_INVALID, "'metric' must be one of: %s", names);
        }
    }
    if ((v = json_object_get(body, "statistic")) &&
        (s->statistic = word_index(json_string_value(v), statistics, 3)) < 0)
        return bad(err, "statistic", "avg, max or min");
    if ((v = json_object_get(body, "comparison")) &&
        (s->comparison = word_index(json_string_value(v), comparisons, 4)) < 0)
        return bad(err, "comparison", "gt, ge, lt or le");
    if ((v = json_object_get(body, "threshold"))) {
        if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
            fabs(json_number_value(v)) > 1e18)
            return bad(err, "threshold", "a number");
        s->has_threshold = true;
        s->threshold = json_number_value(v);
    }
    if ((v = json_object_get(body, "window_s"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > ALARM_MAX_WINDOW_S)
            return bad(err, "window_s", "a whole number of seconds from 1 to 86400");
        s->window_s = json_integer_value(v);
    }
    if ((v = json_object_get(body, "evaluation_periods"))) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > ALARM_MAX_PERIODS)
            return bad(err, "evaluation_periods", "a whole number from 1 to 100");
        s->periods = json_integer_value(v);
    }
    if ((v = json_object_get(body, "webhook_url"))) {
        s->set_url = true;
        if (!json_is_null(v)) {
            s->url = json_string_value(v);
            if (s->url == NULL)
                return bad(err, "webhook_url", "an http:// or https:// URL, or null");
            if (monitor_webhook_url_valid(m, s->url, err) < 0)
                return -1;
        }
    }
    if ((v = json_object_get(body, "hook"))) {
        s->set_hook = true;
        if (!json_is_null(v)) {
            s->hook = json_string_value(v);
            if (s->hook == NULL || valid_name(s->hook, "hook", NULL) < 0)
                return bad(err, "hook", "the name of an internal hook, or null");
            if (!monitor_alarm_hook_exists(s->hook))
                return nubo_err_set(err, NUBO_E_INVALID,
                                    "'hook': no internal hook is registered as '%s' (\"log\" is "
                                    "built in)",
                                    s->hook);
        }
    }
    return 0;
}

static int window_check(struct monitor *m, long long window_s, long long periods,
                        struct nubo_err *err)
{
    if (window_s * periods * 1000 > m->cfg.raw_retention_ms)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "window_s x evaluation_periods (%lld s) must fit in the raw "
                            "retention of samples (%lld s)",
                            window_s * periods, (long long)(m->cfg.raw_retention_ms / 1000));
    return 0;
}

/* ---------------------------------------------------------------- CRUD */

/* Checks a create body; fills s (defaults applied) and *iref (the
 * instance named, or NULL). */
static int create_check(struct monitor *m, json_t *body, struct alarm_spec *s, const char **iref,
                        struct nubo_err *err)
{
    json_t *nv = json_object_get(body, "name");
    if (nv == NULL)
        return nubo_err_set(err, NUBO_E_INVALID, "'name' is required");
    if (!json_is_string(nv))
        return bad(err, "name", "a string");
    if (valid_name(json_string_value(nv), "alarm name", err) < 0 || spec_read(m, body, s, err) < 0)
        return -1;
    if (s->metric == NULL)
        return nubo_err_set(err, NUBO_E_INVALID, "'metric' is required (cpu, memory, ...)");
    if (s->comparison < 0)
        return nubo_err_set(err, NUBO_E_INVALID, "'comparison' is required: gt, ge, lt or le");
    if (!s->has_threshold)
        return nubo_err_set(err, NUBO_E_INVALID, "'threshold' is required (a number)");
    if (s->window_s == 0)
        return nubo_err_set(err, NUBO_E_INVALID, "'window_s' is required (seconds)");
    if (s->statistic < 0)
        s->statistic = 0;
    if (s->periods == 0)
        s->periods = 1;
    if (window_check(m, s->window_s, s->periods, err) < 0)
        return -1;
    json_t *iv = json_object_get(body, "instance");
    *iref = json_string_value(iv);
    if (iv && !json_is_null(iv) && (*iref == NULL || !valid_token(*iref, strlen(*iref), 63)))
        return bad(err, "instance", "an instance's id or name, or null (the project)");
    return 0;
}

/* The project's alarms: the usage of its alarm quota. */
static int alarm_count(struct store *st, const char *project_id, long long *n, struct nubo_err *err)
{
    json_t *r = store_query_one(st, err, "SELECT COUNT(*) AS n FROM alarms WHERE project_id = ?",
                                "s", project_id);
    if (r == NULL)
        return -1;
    *n = (long long)json_integer_value(json_object_get(r, "n"));
    json_decref(r);
    return 0;
}

int monitor_quota_usage(struct store *st, const char *project_id, long long used[QUOTA_DIMS],
                        struct nubo_err *err)
{
    return alarm_count(st, project_id, &used[QUOTA_ALARMS], err);
}

json_t *monitor_alarm_create(struct monitor *m, const struct ctx *ctx, json_t *body,
                             struct nubo_err *err)
{
    struct store *st = m->st;
    struct alarm_spec s;
    const char *iref = NULL;
    if (create_check(m, body, &s, &iref, err) < 0)
        return NULL;
    const char *name = json_string_value(json_object_get(body, "name"));
    char id[37], now[32], inst[37] = "";
    id_new(id);
    clock_now_str(now);
    struct nubo_err qerr;
    long long alarms = 0;
    if (store_begin(st, true, err) < 0)
        return NULL;
    if (alarm_count(st, ctx->project_id, &alarms, err) < 0 ||
        quota_check_count(st, ctx->project_id, QUOTA_ALARMS, 1, alarms, err) < 0)
        goto fail;
    if (iref) {
        json_t *r = store_query_one(st, &qerr,
                                    "SELECT id FROM instances WHERE project_id = ? AND status !="
                                    " 'deleted' AND (id = ? OR name = ?)",
                                    "sss", ctx->project_id, iref, iref);
        if (r == NULL) {
            if (qerr.code == NUBO_E_NOTFOUND)
                nubo_err_set(err, NUBO_E_INVALID, "'instance': no instance '%s' in this project",
                             iref);
            else
                *err = qerr;
            goto fail;
        }
        str_copy(inst, sizeof(inst), jsonx_str(r, "id"));
        json_decref(r);
    }
    if (store_exec(st, err,
                   "INSERT INTO alarms (id, project_id, name, description, metric, instance_id,"
                   " statistic, comparison, threshold, window_s, evaluation_periods, webhook_url,"
                   " hook, state, state_reason, state_changed_at, created_at, updated_at) VALUES"
                   " (?, ?, ?, ?, ?, NULLIF(?, ''), ?, ?, ?, ?, ?, ?, ?, 'INSUFFICIENT_DATA',"
                   " 'waiting for data', ?, ?, ?)",
                   "ssssssssdiisssss", id, ctx->project_id, name,
                   s.description ? s.description : "", s.metric, inst, statistics[s.statistic],
                   comparisons[s.comparison], s.threshold, s.window_s, s.periods, s.url, s.hook,
                   now, now, now) < 0) {
        if (err->code == NUBO_E_CONFLICT)
            nubo_err_set(err, NUBO_E_CONFLICT, "an alarm named '%s' exists in this project", name);
        goto fail;
    }
    if (store_commit(st, err) < 0)
        return NULL;
    monitor_kick(m);
    json_t *r = alarm_row(st, ctx, id, err);
    if (r == NULL)
        return NULL;
    json_t *out = alarm_json(r);
    json_decref(r);
    return out;
fail:
    store_rollback(st);
    return NULL;
}

json_t *monitor_alarm_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                           struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    if (store_page_start(st, &pg, err,
                         "SELECT created_at FROM alarms WHERE id = ? AND project_id = ?", "ss",
                         marker, ctx->project_id) < 0)
        return NULL;
    json_t *rows = store_page_query(st, &pg, NULL, err, ALARM_COLUMNS " WHERE project_id = ?", "s",
                                    ctx->project_id);
    if (rows == NULL)
        return NULL;
    json_t *out = json_array();
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        json_array_append_new(out, alarm_json(r));
    }
    json_decref(rows);
    return out;
}

json_t *monitor_alarm_get(struct store *st, const struct ctx *ctx, const char *id,
                          struct nubo_err *err)
{
    json_t *r = alarm_row(st, ctx, id, err);
    if (r == NULL)
        return NULL;
    json_t *out = alarm_json(r);
    json_decref(r);
    return out;
}

json_t *monitor_alarm_update(struct monitor *m, const struct ctx *ctx, const char *id, json_t *body,
                             struct nubo_err *err)
{
    struct store *st = m->st;
    struct alarm_spec s;
    if (spec_read(m, body, &s, err) < 0)
        return NULL;
    json_t *r = alarm_row(st, ctx, id, err);
    if (r == NULL)
        return NULL;
    long long window = s.window_s ? s.window_s : monitor_jint(r, "window_s");
    long long periods = s.periods ? s.periods : monitor_jint(r, "evaluation_periods");
    if (window_check(m, window, periods, err) < 0) {
        json_decref(r);
        return NULL;
    }
    char now[32];
    clock_now_str(now);
    const char *url = s.set_url ? s.url : json_string_value(json_object_get(r, "webhook_url"));
    const char *hook = s.set_hook ? s.hook : json_string_value(json_object_get(r, "hook"));
    long long n = store_exec(
        st, err,
        "UPDATE alarms SET description = ?, metric = ?, statistic = ?, comparison = ?,"
        " threshold = ?, window_s = ?, evaluation_periods = ?, webhook_url = ?, hook = ?,"
        " updated_at = ? WHERE id = ?",
        "ssssdiissss", s.description ? s.description : jsonx_str(r, "description"),
        s.metric ? s.metric : jsonx_str(r, "metric"),
        s.statistic >= 0 ? statistics[s.statistic] : jsonx_str(r, "statistic"),
        s.comparison >= 0 ? comparisons[s.comparison] : jsonx_str(r, "comparison"),
        s.has_threshold ? s.threshold : json_number_value(json_object_get(r, "threshold")), window,
        periods, url, hook, now, jsonx_str(r, "id"));
    char aid[37];
    str_copy(aid, sizeof(aid), jsonx_str(r, "id"));
    json_decref(r);
    if (n < 0)
        return NULL;
    if (n == 0) {
        nubo_err_set(err, NUBO_E_NOTFOUND, "no alarm with id '%.64s'", id);
        return NULL;
    }
    monitor_kick(m);
    return monitor_alarm_get(st, ctx, aid, err);
}

int monitor_alarm_delete(struct store *st, const struct ctx *ctx, const char *id,
                         struct nubo_err *err)
{
    long long n =
        store_exec(st, err, "DELETE FROM alarms WHERE id = ? AND (project_id = ? OR ? = 1)", "ssi",
                   id, ctx->project_id, (long long)ctx->is_admin);
    if (n < 0)
        return -1;
    if (n == 0)
        return nubo_err_set(err, NUBO_E_NOTFOUND, "no alarm with id '%.64s'", id);
    return 0;
}

json_t *monitor_alarm_history(struct store *st, const struct ctx *ctx, const char *id, int limit,
                              const char *marker, struct nubo_err *err)
{
    json_t *a = alarm_row(st, ctx, id, err);
    if (a == NULL)
        return NULL;
    char aid[37];
    str_copy(aid, sizeof(aid), jsonx_str(a, "id"));
    json_decref(a);
    long long after = 0;
    if (marker) {
        struct nubo_err qerr;
        json_t *r = store_query_one(st, &qerr,
                                    "SELECT seq FROM alarm_history WHERE id = ? AND alarm_id = ?",
                                    "ss", marker, aid);
        if (r == NULL) {
            if (qerr.code == NUBO_E_NOTFOUND)
                nubo_err_set(err, NUBO_E_INVALID, "marker is not an entry of this history");
            else
                *err = qerr;
            return NULL;
        }
        after = monitor_jint(r, "seq");
        json_decref(r);
    }
    json_t *rows = store_query(st, err,
                               "SELECT id, at, kind, old_state, new_state, value, detail,"
                               " webhook_status, attempts FROM alarm_history WHERE alarm_id = ?"
                               " AND seq > ? ORDER BY seq LIMIT ?",
                               "sii", aid, after, (long long)limit + 1);
    if (rows == NULL)
        return NULL;
    json_t *out = json_array();
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        json_t *v = json_object_get(r, "value");
        json_array_append_new(
            out,
            json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:s, s:I}", "id", jsonx_str(r, "id"),
                      "at", jsonx_str(r, "at"), "kind", jsonx_str(r, "kind"), "old_state",
                      nullable_str(r, "old_state"), "new_state", nullable_str(r, "new_state"),
                      "value", json_is_number(v) ? json_real(json_number_value(v)) : json_null(),
                      "detail", jsonx_str(r, "detail"), "webhook_status",
                      jsonx_str(r, "webhook_status"), "attempts",
                      (json_int_t)monitor_jint(r, "attempts")));
    }
    json_decref(rows);
    return out;
}

int monitor_history_add(struct store *st, const char *alarm_id, const char *kind,
                        const char *old_state, const char *new_state, const double *value,
                        const char *detail, const char *webhook_status, const char *payload,
                        char id[37], struct nubo_err *err)
{
    char now[32];
    id_new(id);
    clock_now_str(now);
    return store_exec(st, err,
                      "INSERT INTO alarm_history (id, alarm_id, seq, at, kind, old_state,"
                      " new_state, value, detail, webhook_status, attempts, payload) VALUES"
                      " (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM alarm_history WHERE"
                      " alarm_id = ?), ?, ?, ?, ?, NULLIF(?, -1), ?, ?, 0, ?)",
                      "sssssssdsss", id, alarm_id, alarm_id, now, kind, old_state, new_state,
                      value ? *value : -1.0, detail ? detail : "",
                      webhook_status ? webhook_status : "none", payload) < 0
               ? -1
               : 0;
}

/* ---------------------------------------------------------- evaluation */

struct verdict {
    const char *state;
    bool has_value;
    double value; /* the statistic of the latest window */
    char reason[256];
};

static void evaluate_one(struct store *st, const json_t *a, int64_t now, struct verdict *v)
{
    const char *metric = jsonx_str(a, "metric");
    const char *stat = jsonx_str(a, "statistic");
    int cmp = word_index(jsonx_str(a, "comparison"), comparisons, 4);
    double threshold = json_number_value(json_object_get(a, "threshold"));
    long long window_ms = monitor_jint(a, "window_s") * 1000;
    long long periods = monitor_jint(a, "evaluation_periods");
    const char *inst = json_string_value(json_object_get(a, "instance_id"));
    memset(v, 0, sizeof(*v));
    v->state = "INSUFFICIENT_DATA";
    if (monitor_metric_find(MONITOR_INSTANCE, metric) == NULL || cmp < 0 || window_ms <= 0 ||
        periods <= 0) {
        snprintf(v->reason, sizeof(v->reason), "the rule is not valid");
        return;
    }
    char sql[768];
    /* Window k is (now - (k + 1) * w, now - k * w]: k = 0 ends with the
     * sample taken now. */
    snprintf(sql, sizeof(sql),
             "SELECT (? - ts_ms) / ? AS k, AVG(%s) AS avg, MAX(%s) AS max, MIN(%s) AS min,"
             " COUNT(%s) AS n FROM instance_samples WHERE project_id = ? AND"
             " (? = '' OR instance_id = ?) AND ts_ms > ? AND ts_ms <= ? GROUP BY k",
             metric, metric, metric, metric);
    struct nubo_err err;
    json_t *rows = store_query(st, &err, sql, "iisssii", (long long)now, window_ms,
                               jsonx_str(a, "project_id"), inst ? inst : "", inst ? inst : "",
                               (long long)(now - window_ms * periods), (long long)now);
    if (rows == NULL) {
        snprintf(v->reason, sizeof(v->reason), "evaluation failed: %s", err.msg);
        return;
    }
    long long breached = 0, with_data = 0;
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        long long k = monitor_jint(r, "k");
        json_t *x = json_object_get(r, stat);
        if (k < 0 || k >= periods || monitor_jint(r, "n") <= 0 || !json_is_number(x))
            continue;
        double val = json_number_value(x);
        with_data++;
        if (k == 0) {
            v->has_value = true;
            v->value = val;
        }
        bool b = cmp == 0   ? val > threshold
                 : cmp == 1 ? val >= threshold
                 : cmp == 2 ? val < threshold
                            : val <= threshold;
        breached += b;
    }
    json_decref(rows);
    long long wsec = window_ms / 1000;
    if (with_data < periods) {
        snprintf(v->reason, sizeof(v->reason),
                 "no %s data in %lld of the last %lld window(s) of %lld s", metric,
                 periods - with_data, periods, wsec);
        return;
    }
    if (breached == periods) {
        v->state = "ALARM";
        snprintf(v->reason, sizeof(v->reason), "%s %s %.6g %s %.6g in %lld window(s) of %lld s",
                 stat, metric, v->value, comparison_signs[cmp], threshold, periods, wsec);
    } else {
        v->state = "OK";
        snprintf(v->reason, sizeof(v->reason),
                 "%s %s %.6g; not %s %.6g in %lld of %lld window(s) of %lld s", stat, metric,
                 v->value, comparison_signs[cmp], threshold, periods - breached, periods, wsec);
    }
}

/* The webhook body for a state change (new reference). */
static json_t *payload_json(const json_t *a, const char *old_state, const struct verdict *v,
                            int64_t now)
{
    char at[32];
    clock_format_ms(now, at);
    return json_pack(
        "{s:{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:f, s:I, s:I}, s:s, s:s, s:s, s:o, s:s}", "alarm",
        "id", jsonx_str(a, "id"), "name", jsonx_str(a, "name"), "project_id",
        jsonx_str(a, "project_id"), "metric", jsonx_str(a, "metric"), "instance_id",
        nullable_str(a, "instance_id"), "statistic", jsonx_str(a, "statistic"), "comparison",
        jsonx_str(a, "comparison"), "threshold", json_number_value(json_object_get(a, "threshold")),
        "window_s", (json_int_t)monitor_jint(a, "window_s"), "evaluation_periods",
        (json_int_t)monitor_jint(a, "evaluation_periods"), "old_state", old_state, "new_state",
        v->state, "reason", v->reason, "value", v->has_value ? json_real(v->value) : json_null(),
        "at", at);
}

/* Commits a state change; returns 1 when it happened, 0 when the alarm
 * moved meanwhile (or is gone), -1 on error. */
static int transition(struct store *st, const json_t *a, const struct verdict *v, int64_t now,
                      char history_id[37], char **payload, struct nubo_err *err)
{
    const char *id = jsonx_str(a, "id");
    const char *old = jsonx_str(a, "state");
    const char *url = json_string_value(json_object_get(a, "webhook_url"));
    char at[32];
    clock_format_ms(now, at);
    json_t *p = payload_json(a, old, v, now);
    *payload = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(p);
    if (store_begin(st, true, err) < 0)
        return -1;
    long long n =
        store_exec(st, err,
                   "UPDATE alarms SET state = ?, state_reason = ?, state_value ="
                   " NULLIF(?, -1), state_changed_at = ? WHERE id = ? AND state = ?",
                   "ssdsss", v->state, v->reason, v->has_value ? v->value : -1.0, at, id, old);
    if (n < 0)
        goto fail;
    if (n == 0) {
        store_rollback(st);
        return 0;
    }
    if (monitor_history_add(st, id, "state", old, v->state, v->has_value ? &v->value : NULL,
                            v->reason, url ? "pending" : "none", url ? *payload : NULL, history_id,
                            err) < 0)
        goto fail;
    if (store_commit(st, err) < 0)
        return -1;
    return 1;
fail:
    store_rollback(st);
    return -1;
}

static void run_hook(struct store *st, const json_t *a, const char *old, const struct verdict *v,
                     int64_t now)
{
    const char *hook = json_string_value(json_object_get(a, "hook"));
    if (hook == NULL)
        return;
    struct monitor_alarm_event ev = {
        .alarm_id = jsonx_str(a, "id"),
        .alarm_name = jsonx_str(a, "name"),
        .project_id = jsonx_str(a, "project_id"),
        .metric = jsonx_str(a, "metric"),
        .instance_id = json_string_value(json_object_get(a, "instance_id")),
        .old_state = old,
        .new_state = v->state,
        .reason = v->reason,
        .has_value = v->has_value,
        .value = v->value,
        .at_ms = now,
    };
    struct nubo_err herr, err;
    char detail[600], hid[37];
    if (monitor_hook_run(hook, &ev, &herr) < 0)
        snprintf(detail, sizeof(detail), "hook %s failed: %s", hook, herr.msg);
    else
        snprintf(detail, sizeof(detail), "hook %s ran", hook);
    if (monitor_history_add(st, ev.alarm_id, "hook", old, v->state, NULL, detail, NULL, NULL, hid,
                            &err) < 0)
        log_warn("alarm %s: cannot record its hook: %s", ev.alarm_id, err.msg);
}

void monitor_alarms_evaluate(struct monitor *m, int64_t now)
{
    struct store *st = m->st;
    struct nubo_err err;
    json_t *alarms = store_query(st, &err, ALARM_COLUMNS " ORDER BY id", "");
    if (alarms == NULL) {
        log_warn("monitor: cannot read the alarms: %s", err.msg);
        return;
    }
    atomic_fetch_add(&m->evaluations, 1);
    size_t i;
    json_t *a;
    json_array_foreach (alarms, i, a) {
        struct verdict v;
        evaluate_one(st, a, now, &v);
        const char *old = jsonx_str(a, "state");
        if (strcmp(old, v.state) == 0)
            continue;
        char hid[37], *payload = NULL, oldc[32];
        str_copy(oldc, sizeof(oldc), old);
        int r = transition(st, a, &v, now, hid, &payload, &err);
        if (r < 0)
            log_warn("alarm %s: cannot record %s -> %s: %s", jsonx_str(a, "id"), oldc, v.state,
                     err.msg);
        if (r == 1) {
            log_info("alarm %s (%s) %s -> %s: %s", jsonx_str(a, "name"), jsonx_str(a, "id"), oldc,
                     v.state, v.reason);
            run_hook(st, a, oldc, &v, now);
            const char *url = json_string_value(json_object_get(a, "webhook_url"));
            if (url && payload)
                monitor_webhook_enqueue(m, hid, jsonx_str(a, "id"), url, payload, 0);
        }
        free(payload);
    }
    json_decref(alarms);
}
