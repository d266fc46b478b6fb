/*
 * store.c - store.h's public functions, over one of two backends.
 *
 * store_open() picks the backend from its target: a URL that starts with
 * postgresql:// or postgres:// is a PostgreSQL database (store_pg.c), any
 * other string a SQLite file (store_sqlite.c).  This file turns the
 * variadic parameters into an array, runs the migrations (the same list on
 * both backends, store_migration.sql_pg where PostgreSQL needs other SQL)
 * and builds the keyset pages of lists; the backends only run SQL.
 */
#include "store/store.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/dynbuf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/store_int.h"

struct store {
    const struct store_backend *be;
    void *h;
    int version;
};

/* ---- parameters -------------------------------------------------------- */

/* Room for the parameters of most statements without an allocation. */
#define PARAMS_INLINE 32

struct params {
    struct store_param inline_[PARAMS_INLINE];
    struct store_param *p;
    int n;
};

/* Reads types' parameters from ap into ps, with room for `extra` more.
 * Returns 0, or -1 with err on a bad type letter. */
static int params_read(struct params *ps, const char *types, int extra, va_list ap,
                       struct nubo_err *err)
{
    size_t want = strlen(types ? types : "") + (size_t)extra;
    ps->p = want <= PARAMS_INLINE ? ps->inline_ : xcalloc(want, sizeof(*ps->p));
    ps->n = 0;
    for (const char *t = types ? types : ""; *t; t++) {
        struct store_param *p = &ps->p[ps->n++];
        memset(p, 0, sizeof(*p));
        p->type = *t;
        switch (*t) {
        case 's':
            p->s = va_arg(ap, const char *);
            break;
        case 'i':
            p->i = va_arg(ap, long long);
            break;
        case 'd':
            p->d = va_arg(ap, double);
            break;
        default:
            if (ps->p != ps->inline_)
                free(ps->p);
            ps->p = NULL;
            return nubo_err_set(err, NUBO_E_INTERNAL, "store: bad parameter type '%c'", *t);
        }
    }
    return 0;
}

static void params_free(struct params *ps)
{
    if (ps->p != ps->inline_)
        free(ps->p);
}

static json_t *vquery(struct store *st, struct nubo_err *err, int max_rows, const char *sql,
                      const char *types, va_list ap)
{
    struct params ps;
    if (params_read(&ps, types, 0, ap, err) < 0)
        return NULL;
    json_t *rows = st->be->query(st->h, err, max_rows, sql, ps.p, ps.n);
    params_free(&ps);
    return rows;
}

/* ---- statements -------------------------------------------------------- */

json_t *store_query(struct store *st, struct nubo_err *err, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    json_t *rows = vquery(st, err, 0, sql, types, ap);
    va_end(ap);
    return rows;
}

json_t *store_query_one(struct store *st, struct nubo_err *err, const char *sql, const char *types,
                        ...)
{
    va_list ap;
    va_start(ap, types);
    json_t *rows = vquery(st, err, 1, sql, types, ap);
    va_end(ap);
    if (rows == NULL)
        return NULL;
    json_t *row = json_array_get(rows, 0);
    if (row == NULL) {
        json_decref(rows);
        nubo_err_set(err, NUBO_E_NOTFOUND, "not found");
        return NULL;
    }
    json_incref(row);
    json_decref(rows);
    return row;
}

long long store_exec(struct store *st, struct nubo_err *err, const char *sql, const char *types,
                     ...)
{
    struct params ps;
    va_list ap;
    va_start(ap, types);
    int rc = params_read(&ps, types, 0, ap, err);
    va_end(ap);
    if (rc < 0)
        return -1;
    long long changed = st->be->exec(st->h, err, sql, ps.p, ps.n);
    params_free(&ps);
    return changed;
}

long long store_exec_params(struct store *st, struct nubo_err *err, const char *sql,
                            const struct store_param *p, int n)
{
    return st->be->exec(st->h, err, sql, p, n);
}

int store_exec_script(struct store *st, const char *sql, struct nubo_err *err)
{
    return st->be->exec_script(st->h, sql, err);
}

int store_begin(struct store *st, bool write, struct nubo_err *err)
{
    return st->be->begin(st->h, write, err);
}

int store_commit(struct store *st, struct nubo_err *err)
{
    return st->be->commit(st->h, err);
}

void store_rollback(struct store *st)
{
    st->be->rollback(st->h);
}

/* ---- open, migrate, close ---------------------------------------------- */

bool store_target_is_pg(const char *target)
{
    return strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0;
}

int store_schema_latest(void)
{
    int latest = 0;
    for (const struct store_migration *m = store_migrations; m->sql; m++)
        latest = m->version;
    return latest;
}

int store_schema_too_new(int current, struct nubo_err *err)
{
    return nubo_err_set(err, NUBO_E_CONFLICT,
                        "the database holds schema version %d, written by a newer nubo; this "
                        "nubod (%s) knows schema versions up to %d and never downgrades a "
                        "database: run the newer nubod on it, or restore the backup taken "
                        "before the upgrade (nubod --restore) to go back",
                        current, NUBO_VERSION, store_schema_latest());
}

json_t *store_inspect(const char *target, struct nubo_err *err)
{
    const struct store_backend *be =
        store_target_is_pg(target) ? &store_pg_backend : &store_sqlite_backend;
    void *h = be->open(target, err);
    if (h == NULL)
        return NULL;
    json_t *rows = be->versions_peek(h, err);
    be->close(h);
    return rows;
}

bool store_schema_has(const json_t *applied, int v)
{
    size_t i;
    json_t *r;
    json_array_foreach (applied, i, r)
        if (json_integer_value(json_object_get(r, "version")) == v)
            return true;
    return false;
}

int store_schema_check(const json_t *applied, int *current, struct nubo_err *err)
{
    int latest = store_schema_latest(), unknown = 0;
    size_t i;
    json_t *r;
    *current = 0;
    json_array_foreach (applied, i, r) {
        int v = (int)json_integer_value(json_object_get(r, "version"));
        if (v > *current)
            *current = v;
        bool known = false;
        for (const struct store_migration *m = store_migrations; m->sql && !known; m++)
            known = m->version == v;
        if (!known && v <= latest)
            unknown = v;
    }
    if (*current > latest)
        return store_schema_too_new(*current, err);
    if (unknown)
        return nubo_err_set(err, NUBO_E_CONFLICT,
                            "the database holds schema migration %d, which this nubod (%s) does "
                            "not have (another build of nubo wrote it): run that nubod on it, or "
                            "restore a backup taken before it ran",
                            unknown, NUBO_VERSION);
    return 0;
}

static bool word_is(const char *w, size_t n, const char *kw)
{
    return strlen(kw) == n && strncasecmp(kw, w, n) == 0;
}

/* Whether word (n bytes) is one of the SQL keywords that open a statement
 * of a migration, or continue its head (ALTER TABLE t ADD COLUMN c). */
static bool head_keyword(const char *w, size_t n)
{
    static const char *const kw[] = {"CREATE", "TABLE",  "INDEX",  "UNIQUE", "IF",     "NOT",
                                     "EXISTS", "ALTER",  "ADD",    "COLUMN", "INSERT", "INTO",
                                     "OR",     "IGNORE", "UPDATE", "DELETE", "FROM",   "DROP",
                                     "RENAME", "TO",     "VIEW",   "REPLACE"};
    for (size_t i = 0; i < ARRAY_LEN(kw); i++)
        if (word_is(w, n, kw[i]))
            return true;
    return false;
}

/* Appends the head of the statement at s..end ("CREATE TABLE x", "ALTER
 * TABLE t ADD COLUMN c") to out: its keywords and the names they act on. */
static void statement_head(const char *s, const char *end, struct dynbuf *out)
{
    bool after_name = false;
    while (s < end) {
        while (s < end && (isspace((unsigned char)*s) || *s == '(' || *s == ','))
            s++;
        const char *w = s;
        while (s < end && !isspace((unsigned char)*s) && *s != '(' && *s != ',')
            s++;
        size_t n = (size_t)(s - w);
        if (n == 0)
            break;
        bool kw = head_keyword(w, n);
        /* after a name, only ADD / RENAME / DROP go on (ALTER TABLE t ADD ...) */
        if (after_name &&
            !(kw && (word_is(w, n, "ADD") || word_is(w, n, "RENAME") || word_is(w, n, "DROP"))))
            break;
        dynbuf_printf(out, "%s%.*s", out->len && out->p[out->len - 1] != ' ' ? " " : "", (int)n, w);
        after_name = !kw;
    }
}

void store_migration_summary(const struct store_migration *m, bool pg, struct dynbuf *out)
{
    const char *sql = pg && m->sql_pg ? m->sql_pg : m->sql;
    const char *p = sql;
    int n = 0;
    while (*p) {
        const char *end = p;
        bool quoted = false;
        while (*end && (quoted || *end != ';')) {
            if (*end == '\'')
                quoted = !quoted;
            end++;
        }
        const char *q = p;
        while (q < end && isspace((unsigned char)*q))
            q++;
        if (q < end) {
            if (n++)
                dynbuf_add_str(out, "; ");
            statement_head(q, end, out);
        }
        p = *end ? end + 1 : end;
    }
}

/* Applies the migrations newer than the database, all in one write
 * transaction (on PostgreSQL its lock also keeps two replicas starting at
 * once from migrating together). */
static int migrate(struct store *st, struct nubo_err *err)
{
    const struct store_backend *be = st->be;
    json_t *applied = NULL;
    if (be->migrate_prepare(st->h, err) < 0)
        return -1;
    if (store_begin(st, true, err) < 0)
        goto fail;
    if (store_exec_script(st,
                          "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, "
                          "applied_at TEXT NOT NULL)",
                          err) < 0)
        goto fail;
    /* Every migration the database lacks, not only those above its
     * highest: branches merged in parallel made databases with 21 but not
     * 20 (tests/api/data/nubo-v21.sql). */
    applied = store_query(st, err, "SELECT version FROM schema_version", "");
    int current;
    if (applied == NULL || store_schema_check(applied, &current, err) < 0)
        goto fail;
    st->version = current;
    for (const struct store_migration *m = store_migrations; m->sql; m++) {
        if (store_schema_has(applied, m->version))
            continue;
        log_info("store: applying schema migration %d", m->version);
        const char *sql = be->pg && m->sql_pg ? m->sql_pg : m->sql;
        if (store_exec_script(st, sql, err) < 0)
            goto fail;
        char now[32];
        time_format_utc(time(NULL), now);
        if (store_exec(st, err, "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                       "is", (long long)m->version, now) < 0)
            goto fail;
        if (m->version > st->version)
            st->version = m->version;
    }
    if (be->migrate_check(st->h, err) < 0)
        goto fail;
    if (store_commit(st, err) < 0)
        goto fail;
    be->migrate_finish(st->h);
    json_decref(applied);
    return 0;
fail:
    store_rollback(st);
    be->migrate_finish(st->h);
    json_decref(applied);
    return -1;
}

struct store *store_open(const char *target, struct nubo_err *err)
{
    struct store *st = xcalloc(1, sizeof(*st));
    st->be = store_target_is_pg(target) ? &store_pg_backend : &store_sqlite_backend;
    st->h = st->be->open(target, err);
    if (st->h == NULL) {
        free(st);
        return NULL;
    }
    if (migrate(st, err) < 0) {
        /* a full disk: a backend that can still serve reads opens read-only */
        if (err->code != NUBO_E_STORAGE_FULL || st->be->open_read_only == NULL ||
            st->be->open_read_only(st->h, &st->version, err) < 0) {
            store_close(st);
            return NULL;
        }
        return st;
    }
    if (st->be->opened)
        st->be->opened(st->h);
    return st;
}

void store_close(struct store *st)
{
    if (st == NULL)
        return;
    st->be->close(st->h);
    free(st);
}

int store_schema_version(struct store *st)
{
    return st->version;
}

enum store_state store_state(struct store *st)
{
    return st->be->state(st->h);
}

long long store_full_at_ms(struct store *st)
{
    return st->be->full_at_ms(st->h);
}

const char *store_backend_name(struct store *st)
{
    return st->be->name;
}

/* ---- pages of lists ---------------------------------------------------- */

int store_page_start(struct store *st, struct store_page *pg, struct nubo_err *err, const char *sql,
                     const char *types, ...)
{
    pg->after[0] = '\0';
    if (pg->marker == NULL)
        return 0;
    struct nubo_err qerr = {0};
    va_list ap;
    va_start(ap, types);
    json_t *rows = vquery(st, &qerr, 1, sql, types, ap);
    va_end(ap);
    if (rows == NULL)
        return nubo_err_set(err, qerr.code, "%s", qerr.msg);
    const char *at = json_string_value(json_object_get(json_array_get(rows, 0), "created_at"));
    if (at == NULL) {
        json_decref(rows);
        return nubo_err_set(err, NUBO_E_INVALID,
                            "marker '%.40s' is not an item of this list; pass the id of the last "
                            "item of the previous page (next_marker)",
                            pg->marker);
    }
    snprintf(pg->after, sizeof(pg->after), "%s", at);
    json_decref(rows);
    return 0;
}

json_t *store_page_query(struct store *st, const struct store_page *pg, const char *order,
                         struct nubo_err *err, const char *sql, const char *types, ...)
{
    static const char keyset[] = " AND (%s) > (?, ?) ORDER BY %s LIMIT ?";
    static const char keyset_desc[] = " AND (%s) < (?, ?) ORDER BY %s LIMIT ?";
    static const char first_desc[] = " ORDER BY %s LIMIT ?";
    const char *k = order ? order : "created_at, id";
    /* Descending: "a, b" sorts as "a DESC, b DESC"; the first page has no
     * marker to compare with (every key is below none). */
    char k_desc[128] = "";
    if (pg->desc) {
        const char *comma = strchr(k, ',');
        if (comma == NULL || strlen(k) > 48) {
            nubo_err_set(err, NUBO_E_INTERNAL, "bad page order '%.60s'", k);
            return NULL;
        }
        snprintf(k_desc, sizeof(k_desc), "%.*s DESC,%s DESC", (int)(comma - k), k, comma + 1);
    }
    bool keyed = !pg->desc || pg->marker != NULL;
    size_t n_sql = strlen(sql), n_full = n_sql + sizeof(keyset_desc) + strlen(k) + sizeof(k_desc);
    char *full = xmalloc(n_full);
    memcpy(full, sql, n_sql);
    if (!pg->desc)
        snprintf(full + n_sql, n_full - n_sql, keyset, k, k);
    else if (keyed)
        snprintf(full + n_sql, n_full - n_sql, keyset_desc, k, k_desc);
    else
        snprintf(full + n_sql, n_full - n_sql, first_desc, k_desc);
    struct params ps;
    va_list ap;
    va_start(ap, types);
    int rc = params_read(&ps, types, 3, ap, err);
    va_end(ap);
    json_t *rows = NULL;
    if (rc == 0) {
        if (keyed) {
            ps.p[ps.n++] = (struct store_param){.type = 's', .s = pg->after};
            ps.p[ps.n++] = (struct store_param){.type = 's', .s = pg->marker ? pg->marker : ""};
        }
        ps.p[ps.n++] = (struct store_param){.type = 'i', .i = (long long)pg->limit + 1};
        rows = st->be->query(st->h, err, 0, full, ps.p, ps.n);
        params_free(&ps);
    }
    free(full);
    return rows;
}

json_t *store_page_wrap(const char *key, json_t *rows, int limit, const char *id_key)
{
    json_t *next = json_null();
    if ((int)json_array_size(rows) > limit) {
        while ((int)json_array_size(rows) > limit)
            json_array_remove(rows, json_array_size(rows) - 1);
        json_t *last = json_array_get(rows, json_array_size(rows) - 1);
        json_decref(next);
        next = json_incref(json_object_get(last, id_key));
    }
    return json_pack("{s:o, s:o}", key, rows, "next_marker", next);
}
