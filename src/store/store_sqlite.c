/*
 * store_sqlite.c - the SQLite backend of store.h.
 *
 * One connection per thread (SQLite connections must not be shared between
 * threads without locking), created on first use and closed when the thread
 * ends or the store closes.  WAL mode lets readers run beside the one
 * writer; synchronous=FULL makes a committed transaction survive a crash of
 * the process or the machine; busy_timeout makes a writer wait its turn
 * instead of failing.  store.c calls it through store_sqlite_backend.
 */
#include <pthread.h>

#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/util.h"
#include "store/store_int.h"

/* Prepared statements, per connection, by SQL text: parsing the SQL was the
 * largest cost of small queries. */
#define STMT_CACHE 128
struct cached_stmt {
    char *sql;
    unsigned long hash;
    sqlite3_stmt *stmt;
};

struct sq;

struct conn {
    sqlite3 *db;
    int in_tx;
    struct cached_stmt cache[STMT_CACHE];
    unsigned next_evict;
    struct sq *st;
    struct conn *next;
};

/* The backend's handle: the file and every thread's connection. */
struct sq {
    char *path;
    pthread_key_t key;
    pthread_mutex_t mu;
    struct conn *conns;
};

static void conn_close(struct conn *c)
{
    for (int i = 0; i < STMT_CACHE; i++) {
        sqlite3_finalize(c->cache[i].stmt);
        free(c->cache[i].sql);
    }
    sqlite3_close_v2(c->db);
    free(c);
}

/* Thread exit: forget and close this thread's connection. */
static void conn_destroy(void *p)
{
    struct conn *c = p;
    struct sq *st = c->st;
    pthread_mutex_lock(&st->mu);
    for (struct conn **pp = &st->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    pthread_mutex_unlock(&st->mu);
    conn_close(c);
}

static struct conn *conn_get(struct sq *st, struct nubo_err *err)
{
    struct conn *c = pthread_getspecific(st->key);
    if (c)
        return c;
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(
        st->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        nubo_err_set(err, NUBO_E_UNAVAILABLE, "cannot open the database %s: %s", st->path,
                     db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close_v2(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 15000);
    static const char *pragmas = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                                 "PRAGMA foreign_keys=ON;";
    char *msg = NULL;
    if (sqlite3_exec(db, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
        nubo_err_set(err, NUBO_E_UNAVAILABLE, "cannot configure the database: %s", msg ? msg : "?");
        sqlite3_free(msg);
        sqlite3_close_v2(db);
        return NULL;
    }
    c = xcalloc(1, sizeof(*c));
    c->db = db;
    c->st = st;
    pthread_mutex_lock(&st->mu);
    c->next = st->conns;
    st->conns = c;
    pthread_mutex_unlock(&st->mu);
    pthread_setspecific(st->key, c);
    return c;
}

static int db_error(struct conn *c, int rc, struct nubo_err *err, const char *sql)
{
    int ext = sqlite3_extended_errcode(c->db);
    log_debug("sqlite: %s (%d) in: %.200s", sqlite3_errmsg(c->db), ext, sql);
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        return nubo_err_set(err, NUBO_E_CONFLICT, "already exists");
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return nubo_err_set(err, NUBO_E_INVALID, "constraint violated: %s", sqlite3_errmsg(c->db));
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return nubo_err_set(err, NUBO_E_UNAVAILABLE, "the database is busy; retry");
    return nubo_err_set(err, NUBO_E_INTERNAL, "database error: %s", sqlite3_errmsg(c->db));
}

/* Prepares sql and binds the parameters described by types. */
static unsigned long sql_hash(const char *s)
{
    unsigned long h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h;
}

/* Gives a statement back: reset for its next use (it stays cached). */
static void release(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

/* Prepares sql (or takes it from the connection's cache) and binds the
 * n parameters p.  The caller hands it back with release(). */
static sqlite3_stmt *prepare(struct conn *c, struct nubo_err *err, const char *sql,
                             const struct store_param *p, int n)
{
    sqlite3_stmt *stmt = NULL;
    unsigned long h = sql_hash(sql);
    for (int i = 0; i < STMT_CACHE && stmt == NULL; i++)
        if (c->cache[i].stmt && c->cache[i].hash == h && strcmp(c->cache[i].sql, sql) == 0)
            stmt = c->cache[i].stmt;
    if (stmt == NULL) {
        int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
        if (rc != SQLITE_OK) {
            db_error(c, rc, err, sql);
            return NULL;
        }
        struct cached_stmt *slot = &c->cache[c->next_evict++ % STMT_CACHE];
        sqlite3_finalize(slot->stmt);
        free(slot->sql);
        slot->sql = xstrdup(sql);
        slot->hash = h;
        slot->stmt = stmt;
    }
    if (n != sqlite3_bind_parameter_count(stmt)) {
        nubo_err_set(err, NUBO_E_INTERNAL, "store: %d parameters given, the SQL wants %d", n,
                     sqlite3_bind_parameter_count(stmt));
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        int rc;
        switch (p[i].type) {
        case 's':
            rc = p[i].s ? sqlite3_bind_text(stmt, i + 1, p[i].s, -1, SQLITE_TRANSIENT)
                        : sqlite3_bind_null(stmt, i + 1);
            break;
        case 'i':
            rc = sqlite3_bind_int64(stmt, i + 1, p[i].i);
            break;
        case 'd':
            rc = sqlite3_bind_double(stmt, i + 1, p[i].d);
            break;
        default:
            release(stmt);
            nubo_err_set(err, NUBO_E_INTERNAL, "store: bad parameter type '%c'", p[i].type);
            return NULL;
        }
        if (rc != SQLITE_OK) {
            db_error(c, rc, err, sql);
            release(stmt);
            return NULL;
        }
    }
    return stmt;
}

static json_t *row_json(sqlite3_stmt *stmt)
{
    json_t *o = json_object();
    int cols = sqlite3_column_count(stmt);
    for (int i = 0; i < cols; i++) {
        const char *name = sqlite3_column_name(stmt, i);
        json_t *v;
        switch (sqlite3_column_type(stmt, i)) {
        case SQLITE_INTEGER:
            v = json_integer(sqlite3_column_int64(stmt, i));
            break;
        case SQLITE_FLOAT:
            v = json_real(sqlite3_column_double(stmt, i));
            break;
        case SQLITE_NULL:
            v = json_null();
            break;
        default:
            v = json_stringn((const char *)sqlite3_column_text(stmt, i),
                             (size_t)sqlite3_column_bytes(stmt, i));
            if (v == NULL) /* not UTF-8: never stored by nubo, but never crash */
                v = json_string("");
        }
        json_object_set_new(o, name, v);
    }
    return o;
}

/* Steps a bound statement into rows (at most max_rows when > 0) and
 * releases it.  Returns the rows (new reference) or NULL with err. */
static json_t *rows_of(struct conn *c, sqlite3_stmt *stmt, int max_rows, const char *sql,
                       struct nubo_err *err)
{
    json_t *rows = json_array();
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        json_array_append_new(rows, row_json(stmt));
        if (max_rows > 0 && (int)json_array_size(rows) >= max_rows)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        db_error(c, rc, err, sql);
        json_decref(rows);
        rows = NULL;
    }
    release(stmt);
    return rows;
}

static json_t *sq_query(void *h, struct nubo_err *err, int max_rows, const char *sql,
                        const struct store_param *p, int n)
{
    struct conn *c = conn_get(h, err);
    if (c == NULL)
        return NULL;
    sqlite3_stmt *stmt = prepare(c, err, sql, p, n);
    if (stmt == NULL)
        return NULL;
    return rows_of(c, stmt, max_rows, sql, err);
}

static long long sq_exec(void *h, struct nubo_err *err, const char *sql,
                         const struct store_param *p, int n)
{
    struct conn *c = conn_get(h, err);
    if (c == NULL)
        return -1;
    sqlite3_stmt *stmt = prepare(c, err, sql, p, n);
    if (stmt == NULL)
        return -1;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        ; /* RETURNING rows are ignored here; use store_query for them */
    long long changed = -1;
    if (rc == SQLITE_DONE)
        changed = sqlite3_changes64(c->db);
    else
        db_error(c, rc, err, sql);
    release(stmt);
    return changed;
}

static int sq_exec_script(void *h, const char *sql, struct nubo_err *err)
{
    struct conn *c = conn_get(h, err);
    if (c == NULL)
        return -1;
    char *msg = NULL;
    if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        nubo_err_set(err, NUBO_E_INTERNAL, "database script failed: %s", msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int sq_begin(void *h, bool write, struct nubo_err *err)
{
    struct conn *c = conn_get(h, err);
    if (c == NULL)
        return -1;
    if (c->in_tx)
        return nubo_err_set(err, NUBO_E_INTERNAL, "store: nested transaction");
    const char *sql = write ? "BEGIN IMMEDIATE" : "BEGIN";
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return db_error(c, rc, err, sql);
    c->in_tx = 1;
    return 0;
}

static int sq_commit(void *h, struct nubo_err *err)
{
    struct conn *c = conn_get(h, err);
    if (c == NULL)
        return -1;
    int rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        db_error(c, rc, err, "COMMIT");
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        c->in_tx = 0;
        return -1;
    }
    c->in_tx = 0;
    return 0;
}

static void sq_rollback(void *h)
{
    struct sq *st = h;
    struct conn *c = pthread_getspecific(st->key);
    if (c == NULL || !c->in_tx)
        return;
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    c->in_tx = 0;
}

/* Migrations run with foreign keys off, as SQLite's procedure for
 * rebuilding a table requires (dropping a parent would otherwise cascade
 * into its children); foreign_key_check must find nothing before the
 * commit. */
static int sq_migrate_prepare(void *h, struct nubo_err *err)
{
    return sq_exec_script(h, "PRAGMA foreign_keys=OFF", err);
}

static int sq_migrate_check(void *h, struct nubo_err *err)
{
    json_t *bad = sq_query(h, err, 0, "PRAGMA foreign_key_check", NULL, 0);
    if (bad == NULL)
        return -1;
    size_t nbad = json_array_size(bad);
    json_decref(bad);
    if (nbad > 0)
        return nubo_err_set(err, NUBO_E_INTERNAL,
                            "the schema migration leaves %zu rows that break a foreign key", nbad);
    return 0;
}

static void sq_migrate_finish(void *h)
{
    struct nubo_err ignored;
    sq_exec_script(h, "PRAGMA foreign_keys=ON", &ignored);
}

static void sq_close(void *h)
{
    struct sq *st = h;
    if (st == NULL)
        return;
    pthread_setspecific(st->key, NULL);
    pthread_mutex_lock(&st->mu);
    while (st->conns) {
        struct conn *c = st->conns;
        st->conns = c->next;
        conn_close(c);
    }
    pthread_mutex_unlock(&st->mu);
    pthread_key_delete(st->key);
    pthread_mutex_destroy(&st->mu);
    free(st->path);
    free(st);
}

static void *sq_open(const char *path, struct nubo_err *err)
{
    struct sq *st = xcalloc(1, sizeof(*st));
    st->path = xstrdup(path);
    pthread_mutex_init(&st->mu, NULL);
    if (pthread_key_create(&st->key, conn_destroy) != 0) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot create a thread key");
        pthread_mutex_destroy(&st->mu);
        free(st->path);
        free(st);
        return NULL;
    }
    return st;
}

const struct store_backend store_sqlite_backend = {
    .name = "sqlite",
    .pg = false,
    .open = sq_open,
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .query = sq_query,
    .exec = sq_exec,
    .exec_script = sq_exec_script,
    .migrate_prepare = sq_migrate_prepare,
    .migrate_check = sq_migrate_check,
    .migrate_finish = sq_migrate_finish,
};
