/*
 * store_copy.c - copies a whole database into an empty one on the other
 * backend (nubod --migrate-store: an all-in-one SQLite cloud into
 * PostgreSQL), and proves the copy by counts and checksums.
 *
 * Both stores are open, so both are at the same schema version (the
 * migrations ran on each).  The target must hold no rows.  Tables are
 * copied parents first (by the target's foreign keys), all in one write
 * transaction on the target: a failed copy leaves it empty.  Before the
 * commit every table is read back from the target and compared with the
 * source: the row count, and the SHA-256 of its rows as sorted compact JSON
 * (keys sorted) as store.h returns them, which is what the services see.
 * On PostgreSQL the sequences of BIGSERIAL columns are moved past the
 * copied values.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/crypto.h"
#include "lib/dynbuf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/store.h"
#include "store/store_int.h"

/* Table names come from the databases' catalogs; they are still checked,
 * since they are formatted into SQL. */
static bool plain_name(const char *s)
{
    if (s == NULL || *s == '\0' || strlen(s) > 63)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

/* The store's tables (a JSON array of names, schema_version left out), or
 * NULL with err. */
static json_t *tables_of(struct store *st, struct nubo_err *err)
{
    bool pg = strcmp(store_backend_name(st), "postgresql") == 0;
    json_t *rows =
        store_query(st, err,
                    pg ? "SELECT table_name AS name FROM information_schema.tables"
                         " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
                         " ORDER BY table_name"
                       : "SELECT name FROM sqlite_master WHERE type = 'table'"
                         " AND name NOT LIKE 'sqlite_%' ORDER BY name",
                    "");
    if (rows == NULL)
        return NULL;
    json_t *names = json_array();
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        const char *n = json_string_value(json_object_get(r, "name"));
        if (n && strcmp(n, "schema_version") != 0)
            json_array_append_new(names, json_string(n));
    }
    json_decref(rows);
    return names;
}

/* (child, parent) pairs of the store's foreign keys, or NULL with err. */
static json_t *fk_edges(struct store *st, struct nubo_err *err)
{
    bool pg = strcmp(store_backend_name(st), "postgresql") == 0;
    return store_query(st, err,
                       pg ? "SELECT conrelid::regclass::text AS child,"
                            " confrelid::regclass::text AS parent"
                            " FROM pg_constraint WHERE contype = 'f'"
                          : "SELECT m.name AS child, p.\"table\" AS parent"
                            " FROM sqlite_master m, pragma_foreign_key_list(m.name) p"
                            " WHERE m.type = 'table'",
                       "");
}

/* Tables whose rows the migrations themselves insert (schema_storage.c:
 * the volume type 'local'): a new target has them, the source has them
 * too, so the copy replaces the target's instead of refusing it. */
static bool seeded(const char *table)
{
    static const char *const tables[] = {"volume_types", NULL};
    for (int i = 0; tables[i]; i++)
        if (strcmp(tables[i], table) == 0)
            return true;
    return false;
}

static bool in_array(const json_t *a, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach (a, i, v) {
        if (strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

/* tables ordered parents first; NULL with err on a cycle. */
static json_t *parents_first(const json_t *tables, const json_t *edges, struct nubo_err *err)
{
    json_t *done = json_array();
    while (json_array_size(done) < json_array_size(tables)) {
        size_t before = json_array_size(done), i;
        json_t *t;
        json_array_foreach (tables, i, t) {
            const char *name = json_string_value(t);
            if (in_array(done, name))
                continue;
            bool ready = true;
            size_t j;
            json_t *e;
            json_array_foreach (edges, j, e) {
                const char *child = json_string_value(json_object_get(e, "child"));
                const char *parent = json_string_value(json_object_get(e, "parent"));
                if (child && parent && strcmp(child, name) == 0 && strcmp(parent, name) != 0 &&
                    in_array(tables, parent) && !in_array(done, parent))
                    ready = false;
            }
            if (ready)
                json_array_append(done, t);
        }
        if (json_array_size(done) == before) {
            json_decref(done);
            nubo_err_set(err, NUBO_E_INTERNAL, "the tables' foreign keys form a cycle");
            return NULL;
        }
    }
    return done;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* SHA-256 (hex, into out) of rows as sorted lines of compact JSON. */
static int rows_digest(const json_t *rows, char out[CRYPTO_SHA256_HEX], struct nubo_err *err)
{
    size_t n = json_array_size(rows);
    char **lines = xcalloc(n ? n : 1, sizeof(*lines));
    for (size_t i = 0; i < n; i++)
        lines[i] = json_dumps(json_array_get(rows, i),
                              JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    qsort(lines, n, sizeof(*lines), cmp_str);
    struct dynbuf b;
    dynbuf_init(&b, (size_t)1 << 34);
    for (size_t i = 0; i < n; i++) {
        dynbuf_add_str(&b, lines[i] ? lines[i] : "");
        dynbuf_add(&b, "\n", 1);
        free(lines[i]);
    }
    free(lines);
    int rc = 0;
    if (dynbuf_error(&b))
        rc = dynbuf_err_set(&b, "a table's rows", err);
    else
        crypto_sha256_hex(dynbuf_str(&b), dynbuf_len(&b), out);
    dynbuf_free(&b);
    return rc;
}

/* Inserts one row (an object column -> value) into table. */
static int insert_row(struct store *to, const char *table, const json_t *row, struct nubo_err *err)
{
    size_t ncols = json_object_size(row);
    struct store_param *p = xcalloc(ncols ? ncols : 1, sizeof(*p));
    struct dynbuf sql;
    dynbuf_init(&sql, 1024 * 1024);
    dynbuf_printf(&sql, "INSERT INTO %s (", table);
    const char *key;
    json_t *v;
    int n = 0;
    json_object_foreach ((json_t *)row, key, v) {
        dynbuf_printf(&sql, "%s\"%s\"", n ? ", " : "", key);
        struct store_param *q = &p[n++];
        if (json_is_integer(v)) {
            q->type = 'i';
            q->i = json_integer_value(v);
        } else if (json_is_real(v)) {
            q->type = 'd';
            q->d = json_real_value(v);
        } else {
            q->type = 's';
            q->s = json_string_value(v); /* NULL for null */
        }
    }
    dynbuf_add_str(&sql, ") VALUES (");
    for (int i = 0; i < n; i++)
        dynbuf_add_str(&sql, i ? ", ?" : "?");
    dynbuf_add_str(&sql, ")");
    long long rc = dynbuf_error(&sql) ? dynbuf_err_set(&sql, "an INSERT", err)
                                      : store_exec_params(to, err, dynbuf_str(&sql), p, n);
    dynbuf_free(&sql);
    free(p);
    return rc < 0 ? -1 : 0;
}

/* Moves each BIGSERIAL sequence of a PostgreSQL store past its column's
 * largest value. */
static int sequences_fix(struct store *to, struct nubo_err *err)
{
    if (strcmp(store_backend_name(to), "postgresql") != 0)
        return 0;
    json_t *cols = store_query(to, err,
                               "SELECT table_name AS t, column_name AS c"
                               " FROM information_schema.columns"
                               " WHERE table_schema = current_schema()"
                               " AND column_default LIKE 'nextval(%'",
                               "");
    if (cols == NULL)
        return -1;
    size_t i;
    json_t *r;
    int rc = 0;
    json_array_foreach (cols, i, r) {
        const char *t = json_string_value(json_object_get(r, "t"));
        const char *c = json_string_value(json_object_get(r, "c"));
        if (!plain_name(t) || !plain_name(c))
            continue;
        char sql[512];
        snprintf(sql, sizeof(sql),
                 "SELECT setval(pg_get_serial_sequence('%s', '%s'),"
                 " (SELECT COALESCE(MAX(%s), 0) + 1 FROM %s), false) AS v",
                 t, c, c, t);
        json_t *v = store_query(to, err, sql, "");
        if (v == NULL) {
            rc = -1;
            break;
        }
        json_decref(v);
    }
    json_decref(cols);
    return rc;
}

/* Copies one table and checks it; adds {table, rows, sha256} to report. */
static int copy_table(struct store *from, struct store *to, const char *table, json_t *report,
                      struct nubo_err *err)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT * FROM %s", table);
    json_t *src = store_query(from, err, sql, "");
    if (src == NULL)
        return -1;
    int rc = -1;
    json_t *dst = NULL;
    size_t i;
    json_t *row;
    json_array_foreach (src, i, row) {
        if (insert_row(to, table, row, err) < 0) {
            char msg[sizeof(err->msg)];
            snprintf(msg, sizeof(msg), "%s", err->msg);
            nubo_err_set(err, err->code, "copying row %zu of %s: %s", i + 1, table, msg);
            goto cleanup;
        }
    }
    dst = store_query(to, err, sql, "");
    if (dst == NULL)
        goto cleanup;
    char a[CRYPTO_SHA256_HEX], b[CRYPTO_SHA256_HEX];
    if (rows_digest(src, a, err) < 0 || rows_digest(dst, b, err) < 0)
        goto cleanup;
    if (json_array_size(src) != json_array_size(dst) || strcmp(a, b) != 0) {
        nubo_err_set(err, NUBO_E_INTERNAL,
                     "table %s differs after the copy (%zu rows, sha256 %.16s... in the source;"
                     " %zu rows, %.16s... in the target); nothing was written",
                     table, json_array_size(src), a, json_array_size(dst), b);
        goto cleanup;
    }
    json_array_append_new(report, json_pack("{s:s, s:I, s:s}", "table", table, "rows",
                                            (json_int_t)json_array_size(src), "sha256", a));
    rc = 0;
cleanup:
    json_decref(src);
    json_decref(dst);
    return rc;
}

json_t *store_copy(struct store *from, struct store *to, struct nubo_err *err)
{
    if (store_schema_version(from) != store_schema_version(to))
        return nubo_err_set(err, NUBO_E_INVALID, "the schema versions differ (%d and %d)",
                            store_schema_version(from), store_schema_version(to)),
               NULL;
    json_t *report = NULL, *tables = NULL, *ttables = NULL, *edges = NULL, *order = NULL;
    tables = tables_of(from, err);
    ttables = tables ? tables_of(to, err) : NULL;
    if (ttables == NULL)
        goto fail;
    size_t i;
    json_t *t;
    json_array_foreach (tables, i, t) {
        const char *name = json_string_value(t);
        if (!plain_name(name) || !in_array(ttables, name)) {
            nubo_err_set(err, NUBO_E_INVALID, "table '%.64s' of the source is not in the target",
                         name);
            goto fail;
        }
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT COUNT(*) AS n FROM %s", name);
        json_t *row = store_query_one(to, err, sql, "");
        if (row == NULL)
            goto fail;
        long long n = json_integer_value(json_object_get(row, "n"));
        json_decref(row);
        if (n > 0 && !seeded(name)) {
            nubo_err_set(err, NUBO_E_CONFLICT,
                         "the target already holds data (table %s has %lld rows); copy into a new,"
                         " empty database",
                         name, n);
            goto fail;
        }
    }
    edges = fk_edges(to, err);
    order = edges ? parents_first(tables, edges, err) : NULL;
    if (order == NULL)
        goto fail;
    if (store_begin(to, true, err) < 0)
        goto fail;
    report = json_array();
    json_array_foreach (order, i, t) {
        char sql[128];
        snprintf(sql, sizeof(sql), "DELETE FROM %s", json_string_value(t));
        if ((seeded(json_string_value(t)) && store_exec(to, err, sql, "") < 0) ||
            copy_table(from, to, json_string_value(t), report, err) < 0) {
            store_rollback(to);
            goto fail;
        }
    }
    if (sequences_fix(to, err) < 0 || store_commit(to, err) < 0) {
        store_rollback(to);
        goto fail;
    }
    json_decref(tables);
    json_decref(ttables);
    json_decref(edges);
    json_decref(order);
    return report;
fail:
    json_decref(report);
    json_decref(tables);
    json_decref(ttables);
    json_decref(edges);
    json_decref(order);
    return NULL;
}
