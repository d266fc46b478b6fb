/*
 * store_sqlite.c - the SQLite backend of store.h.
 *
 * One connection per thread (SQLite connections must not be shared between
 * threads without locking), created on first use and closed when the thread
 * ends or the store closes.  WAL mode lets readers run beside the one
 * writer.  store.c calls it through store_sqlite_backend.
 *
 * Durability (store_sqlite_sync_full(), nubod --store-sync): by default
 * synchronous=FULL: the -wal is synced at every commit, so every answered
 * write survives a crash of the machine too.  synchronous=NORMAL (asked
 * for): a commit is in the -wal file (the kernel's page
 * cache) before store_commit() returns, so a crash of the process - kill
 * -9, abort - loses nothing committed; the -wal is synced to the disk at
 * each checkpoint.  A crash of the machine (power loss, kernel panic) may
 * roll back the transactions committed since the last checkpoint (the
 * database stays consistent: never a half transaction), in exchange for
 * no fdatasync (milliseconds) per commit on the writers' path.
 *
 * Writers take turns on a mutex of the process (write_lock()) before SQLite
 * sees them: a writer waiting in SQLite's busy handler sleeps and polls (1,
 * 2, 5 ... 100 ms), so under many writers most of a request's time was
 * spent asleep with the lock free; the mutex wakes the next writer as soon
 * as the lock is released.  busy_timeout still covers other processes (a
 * store copy, the sqlite3 shell): it makes a writer wait its turn instead
 * of failing.  Reads map the file (mmap_size): no read() copy per page.
 *
 * A full disk (store.h): a write SQLite cannot make for lack of space
 * (SQLITE_FULL, or an I/O error with ENOSPC/EDQUOT: extending the -shm
 * file is one) is NUBO_E_STORAGE_FULL and is remembered (sq_state(),
 * sq_full_at_ms(): store_state(), store_full_at_ms()); a later write that
 * commits clears it, and so does a probe (a one-page write: PRAGMA
 * user_version set to itself) that sq_state() runs at most once a second.
 * When the disk is full at store_open(), WAL mode cannot even start (its
 * -shm file cannot grow) and the migrations fail: store.c then calls
 * sq_open_read_only(), which opens the store read-only instead - "mode=ro",
 * or "immutable=1" when no -wal file holds anything (a clean stop left
 * none) - and every write is refused before it reaches SQLite.  The next
 * write or probe after space returns reopens it read-write: the generation
 * number changes and every thread's connection reopens on its next use.
 */
#include <errno.h>
#include <pthread.h>

#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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
    int gen;              /* the store's generation when opened */
    long long tx_changes; /* sqlite3_total_changes64() at store_begin() */
    int writing;          /* holds st->write_mu (write_lock()) */
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
    /* A full disk (see the top of the file). */
    atomic_int gen;          /* bumped when the open mode changes */
    atomic_int read_only;    /* opened read-only: the disk was full at start */
    atomic_int immutable;    /* ... and with no -wal to read: immutable=1 */
    atomic_int full;         /* the last write or probe lacked space (or 2:
                              * FULL_UNKNOWN, not probed yet) */
    atomic_llong full_at_ms; /* clock_mono_ms() of the last refused write */
    atomic_llong probe_at_ms;
    pthread_mutex_t probe_mu; /* one probe at a time */
    pthread_mutex_t write_mu; /* one writer at a time (see the top) */
};

/* How long a writer waits for its turn: SQLite's busy_timeout, kept. */
#define WRITE_WAIT_MS 15000

static atomic_int sync_full = 1; /* synchronous=FULL, else NORMAL */

void store_sqlite_sync_full(bool full)
{
    atomic_store(&sync_full, full);
}

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

/* Whether the last failure of db (rc) was for lack of space. */
static int out_of_space(sqlite3 *db, int rc)
{
    int ext = db ? sqlite3_extended_errcode(db) : rc;
    if ((rc & 0xff) == SQLITE_FULL || (ext & 0xff) == SQLITE_FULL || ext == SQLITE_IOERR_SHMSIZE)
        return 1;
    if ((rc & 0xff) != SQLITE_IOERR && (ext & 0xff) != SQLITE_IOERR)
        return 0;
    int e = db ? sqlite3_system_errno(db) : 0;
    return e == ENOSPC || e == EDQUOT;
}

/* Remembers a write refused for lack of space and sets err. */
static int full_error(struct sq *st, struct nubo_err *err)
{
    atomic_store(&st->full_at_ms, (long long)clock_mono_ms());
    if (atomic_exchange(&st->full, 1) != 1)
        log_warn("store: the disk of %s is full: writes are refused (HTTP 507) until space "
                 "returns",
                 st->path);
    if (atomic_load(&st->read_only))
        return nubo_err_set(err, NUBO_E_STORAGE_FULL,
                            "the controller's store is read-only: its disk was full when nubod "
                            "started, so nothing was changed (reads still work); an operator "
                            "must free space on the disk of nubod's state directory, then "
                            "retry: nubod turns read-write again by itself");
    return nubo_err_set(err, NUBO_E_STORAGE_FULL,
                        "the controller's store is full: its disk has no space left, so nothing "
                        "was changed (reads still work); an operator must free space on the "
                        "disk of nubod's state directory, then retry: nubod recovers by itself");
}

/* A write committed: the disk has room again. */
static void written(struct sq *st)
{
    if (atomic_load(&st->full) && atomic_exchange(&st->full, 0) == 1)
        log_info("store: writes work again on %s", st->path);
}

/* st->full: 0 no, 1 yes, FULL_UNKNOWN before the first probe. */
#define FULL_UNKNOWN 2

/* "file:" URI of path (its %, ? and # escaped) with query q. */
static char *uri_of(const char *path, const char *q)
{
    size_t cap = 3 * strlen(path) + strlen(q) + 8, o = 0;
    char *u = xmalloc(cap);
    o += (size_t)snprintf(u, cap, "file:");
    for (const char *p = path; *p; p++) {
        if (*p == '%' || *p == '?' || *p == '#')
            o += (size_t)snprintf(u + o, cap - o, "%%%02x", (unsigned char)*p);
        else
            u[o++] = *p;
    }
    snprintf(u + o, cap - o, "?%s", q);
    return u;
}

/* Opens and configures a connection: read-write in WAL mode, or
 * read-only (st->read_only) as described at the top.  Returns NULL with
 * err. */
static sqlite3 *conn_open(struct sq *st, int read_only, struct nubo_err *err)
{
    sqlite3 *db = NULL;
    int rc;
    if (read_only) {
        char *uri = uri_of(st->path, atomic_load(&st->immutable) ? "immutable=1" : "mode=ro");
        rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                             NULL);
        free(uri);
    } else {
        rc = sqlite3_open_v2(
            st->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    }
    if (rc != SQLITE_OK) {
        if (out_of_space(db, rc))
            full_error(st, err);
        else
            nubo_err_set(err, NUBO_E_UNAVAILABLE, "cannot open the database %s: %s", st->path,
                         db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close_v2(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, WRITE_WAIT_MS);
    /* mmap: pages are read from the mapping, not copied by read(). */
    const char *pragmas = read_only ? "PRAGMA foreign_keys=ON; PRAGMA mmap_size=268435456;"
                          : atomic_load(&sync_full)
                              ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                                "PRAGMA foreign_keys=ON; PRAGMA mmap_size=268435456;"
                              : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                                "PRAGMA foreign_keys=ON; PRAGMA mmap_size=268435456;";
    char *msg = NULL;
    rc = sqlite3_exec(db, pragmas, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        log_debug("sqlite: %s (%d) configuring %s", msg ? msg : "?", sqlite3_extended_errcode(db),
                  st->path);
        if (out_of_space(db, rc))
            full_error(st, err);
        else
            nubo_err_set(err, NUBO_E_UNAVAILABLE, "cannot configure the database: %s",
                         msg ? msg : "?");
        sqlite3_free(msg);
        sqlite3_close_v2(db);
        return NULL;
    }
    return db;
}

/* Forgets and closes the calling thread's connection, if any. */
static void conn_drop(struct sq *st)
{
    struct conn *c = pthread_getspecific(st->key);
    if (c == NULL)
        return;
    pthread_setspecific(st->key, NULL);
    conn_destroy(c);
}

static struct conn *conn_get(struct sq *st, struct nubo_err *err)
{
    struct conn *c = pthread_getspecific(st->key);
    int gen = atomic_load(&st->gen);
    if (c && c->gen != gen && !c->in_tx) /* the open mode changed */
        conn_drop(st);
    else if (c)
        return c;
    sqlite3 *db = conn_open(st, atomic_load(&st->read_only), err);
    if (db == NULL)
        return NULL;
    c = xcalloc(1, sizeof(*c));
    c->db = db;
    c->st = st;
    c->gen = gen;
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
    if (out_of_space(c->db, rc) ||
        (atomic_load(&c->st->read_only) && (rc & 0xff) == SQLITE_READONLY))
        return full_error(c->st, err);
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        return nubo_err_set(err, NUBO_E_CONFLICT, "already exists");
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return nubo_err_set(err, NUBO_E_INVALID, "constraint violated: %s", sqlite3_errmsg(c->db));
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return nubo_err_set(err, NUBO_E_UNAVAILABLE, "the database is busy; retry");
    return nubo_err_set(err, NUBO_E_INTERNAL, "database error: %s", sqlite3_errmsg(c->db));
}

/* Takes the process's write turn for c (once: a transaction keeps it
 * until its end).  Returns 0, or -1 with err when another writer kept it
 * for WRITE_WAIT_MS (as SQLite's busy_timeout would have said). */
static int write_lock(struct conn *c, struct nubo_err *err)
{
    if (c->writing)
        return 0;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += WRITE_WAIT_MS / 1000;
    if (pthread_mutex_clocklock(&c->st->write_mu, CLOCK_MONOTONIC, &until) != 0)
        return nubo_err_set(err, NUBO_E_UNAVAILABLE, "the database is busy; retry");
    c->writing = 1;
    return 0;
}

static void write_unlock(struct conn *c)
{
    if (!c->writing)
        return;
    c->writing = 0;
    pthread_mutex_unlock(&c->st->write_mu);
}

/* Tries one write on a connection of its own - PRAGMA user_version set to
 * itself, one page - at most once a second, and never while the calling
 * thread holds a transaction (the probe would wait for it).  On success
 * the store is read-write and not full any more. */
static void probe(struct sq *st)
{
    struct conn *own = pthread_getspecific(st->key);
    long long now = (long long)clock_mono_ms();
    if ((own && own->in_tx) || now - atomic_load(&st->probe_at_ms) < 1000 ||
        pthread_mutex_trylock(&st->probe_mu) != 0)
        return;
    atomic_store(&st->probe_at_ms, now);
    struct nubo_err err;
    sqlite3 *db = conn_open(st, 0, &err);
    if (db == NULL)
        goto cleanup;
    sqlite3_busy_timeout(db, 1000); /* a writer holds the lock: no news, try later */
    sqlite3_stmt *stmt = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        version = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    char sql[80];
    snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE; PRAGMA user_version = %d; COMMIT", version);
    int rc = version < 0 ? SQLITE_ERROR : sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        if (atomic_load(&st->read_only)) {
            atomic_store(&st->read_only, 0);
            atomic_store(&st->immutable, 0);
            atomic_fetch_add(&st->gen, 1); /* every thread reopens read-write */
            log_info("store: %s has room again: read-write", st->path);
        }
        written(st);
    } else if (out_of_space(db, rc)) {
        full_error(st, &err);
    }
    sqlite3_close_v2(db);
cleanup:
    pthread_mutex_unlock(&st->probe_mu);
}

static enum store_state sq_state(void *h)
{
    struct sq *st = h;
    if (atomic_load(&st->read_only) || atomic_load(&st->full))
        probe(st);
    if (atomic_load(&st->read_only))
        return STORE_READ_ONLY;
    return atomic_load(&st->full) == 1 ? STORE_FULL : STORE_OK;
}

static long long sq_full_at_ms(void *h)
{
    struct sq *st = h;
    return atomic_load(&st->full_at_ms);
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
    struct sq *st = h;
    if (atomic_load(&st->read_only))
        probe(st); /* space may be back: then this write goes through */
    struct conn *c = conn_get(st, err);
    if (c == NULL)
        return -1;
    sqlite3_stmt *stmt = prepare(c, err, sql, p, n);
    if (stmt == NULL)
        return -1;
    if (atomic_load(&st->read_only) && !sqlite3_stmt_readonly(stmt)) {
        release(stmt);
        return full_error(st, err);
    }
    /* A write takes the turn: for itself alone outside a transaction,
     * else until the transaction ends. */
    int own_turn = !c->writing && !c->in_tx;
    if (!sqlite3_stmt_readonly(stmt) && write_lock(c, err) < 0) {
        release(stmt);
        return -1;
    }
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        ; /* RETURNING rows are ignored here; use store_query for them */
    long long changed = -1;
    if (rc == SQLITE_DONE) {
        changed = sqlite3_changes64(c->db);
        if (changed > 0 && !c->in_tx)
            written(st);
    } else
        db_error(c, rc, err, sql);
    release(stmt);
    if (own_turn)
        write_unlock(c);
    return changed;
}

static int sq_exec_script(void *h, const char *sql, struct nubo_err *err)
{
    struct sq *st = h;
    struct conn *c = conn_get(st, err);
    if (c == NULL)
        return -1;
    /* A script may write (migrations, pragmas): it takes the turn, kept
     * to the end of the transaction it runs in. */
    int own_turn = !c->writing && !c->in_tx;
    if (write_lock(c, err) < 0)
        return -1;
    char *msg = NULL;
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, &msg);
    if (own_turn)
        write_unlock(c);
    if (rc != SQLITE_OK) {
        if (out_of_space(c->db, rc))
            full_error(st, err);
        else
            nubo_err_set(err, NUBO_E_INTERNAL, "database script failed: %s", msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int sq_begin(void *h, bool write, struct nubo_err *err)
{
    struct sq *st = h;
    struct conn *c = conn_get(st, err);
    if (c == NULL)
        return -1;
    if (c->in_tx)
        return nubo_err_set(err, NUBO_E_INTERNAL, "store: nested transaction");
    if (write && atomic_load(&st->read_only)) {
        probe(st); /* space may be back: then this transaction goes through */
        if (atomic_load(&st->read_only))
            return full_error(st, err);
        c = conn_get(st, err); /* reopened read-write */
        if (c == NULL)
            return -1;
    }
    if (write && write_lock(c, err) < 0)
        return -1;
    const char *sql = write ? "BEGIN IMMEDIATE" : "BEGIN";
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        db_error(c, rc, err, sql);
        write_unlock(c);
        return -1;
    }
    c->in_tx = 1;
    c->tx_changes = sqlite3_total_changes64(c->db);
    return 0;
}

static int sq_commit(void *h, struct nubo_err *err)
{
    struct sq *st = h;
    struct conn *c = conn_get(st, err);
    if (c == NULL)
        return -1;
    int rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        db_error(c, rc, err, "COMMIT");
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
        c->in_tx = 0;
        write_unlock(c);
        return -1;
    }
    c->in_tx = 0;
    write_unlock(c);
    if (sqlite3_total_changes64(c->db) != c->tx_changes)
        written(st);
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
    write_unlock(c);
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

/* The migrations failed for lack of space: WAL mode could not start.
 * Opens the store read-only instead (see the top of the file) when its
 * schema is current.  Returns 0 with *version, or -1 with err. */
static int sq_open_read_only(void *h, int *version, struct nubo_err *err)
{
    struct sq *st = h;
    conn_drop(st);
    atomic_store(&st->read_only, 1);
    atomic_fetch_add(&st->gen, 1);
    static const char version_sql[] = "SELECT COALESCE(MAX(version), 0) AS v FROM schema_version";
    struct nubo_err qerr;
    json_t *rows = sq_query(st, &qerr, 1, version_sql, NULL, 0);
    if (rows == NULL) {
        /* mode=ro needs the -shm file that could not be made; without a
         * -wal holding anything, the database file alone is the truth */
        size_t n = strlen(st->path) + 8;
        char *wal = xmalloc(n);
        snprintf(wal, n, "%s-wal", st->path);
        struct stat sb;
        int empty = stat(wal, &sb) < 0 ? errno == ENOENT : sb.st_size == 0;
        free(wal);
        if (empty) {
            conn_drop(st);
            atomic_store(&st->immutable, 1);
            atomic_fetch_add(&st->gen, 1);
            rows = sq_query(st, &qerr, 1, version_sql, NULL, 0);
        }
    }
    json_t *row = json_array_get(rows, 0);
    if (row == NULL) {
        json_decref(rows);
        conn_drop(st);
        return nubo_err_set(err, NUBO_E_STORAGE_FULL,
                            "the disk of %s is full and the database cannot even be read (%s): "
                            "free space on it, then start nubod again",
                            st->path, rows ? "no schema version" : qerr.msg);
    }
    int current = (int)json_integer_value(json_object_get(row, "v")), latest = 0;
    json_decref(rows);
    for (const struct store_migration *m = store_migrations; m->sql; m++)
        latest = m->version;
    if (current > latest) {
        conn_drop(st);
        return store_schema_too_new(current, err);
    }
    if (current < latest) {
        conn_drop(st);
        return nubo_err_set(err, NUBO_E_STORAGE_FULL,
                            "the disk of %s is full and schema migration %d cannot be applied: "
                            "free space on it, then start nubod again",
                            st->path, latest);
    }
    *version = current;
    atomic_store(&st->full, 1);
    atomic_store(&st->full_at_ms, (long long)clock_mono_ms());
    log_warn("store: the disk of %s is full: the store is open read-only%s - reads work, writes "
             "are refused (HTTP 507) until space returns, then it turns read-write by itself",
             st->path, atomic_load(&st->immutable) ? " (immutable)" : "");
    return 0;
}

/* store_inspect(): the schema versions the file holds, read through a
 * read-only connection ("mode=ro": no journal mode set, no file created);
 * a file that does not exist yet is a new database: none. */
static json_t *sq_versions_peek(void *h, struct nubo_err *err)
{
    struct sq *st = h;
    struct stat sb;
    if (stat(st->path, &sb) < 0) {
        if (errno == ENOENT)
            return json_array();
        nubo_err_set(err, NUBO_E_UNAVAILABLE, "cannot read the database %s: %s", st->path,
                     strerror(errno));
        return NULL;
    }
    atomic_store(&st->read_only, 1);
    atomic_fetch_add(&st->gen, 1);
    json_t *rows = sq_query(st, err, 0,
                            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = "
                            "'schema_version'",
                            NULL, 0);
    if (rows == NULL)
        return NULL;
    size_t n = json_array_size(rows);
    json_decref(rows);
    if (n == 0)
        return json_array();
    return sq_query(st, err, 0, "SELECT version FROM schema_version ORDER BY version", NULL, 0);
}

/* Opened read-write; but can it write?  (After a kill -9 the -wal and -shm
 * files exist, so a full disk lets the store open.)  The probe tells. */
static void sq_opened(void *h)
{
    struct sq *st = h;
    atomic_store(&st->full, FULL_UNKNOWN);
    probe(st);
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
    pthread_mutex_destroy(&st->probe_mu);
    pthread_mutex_destroy(&st->write_mu);
    free(st->path);
    free(st);
}

static void *sq_open(const char *path, struct nubo_err *err)
{
    struct sq *st = xcalloc(1, sizeof(*st));
    st->path = xstrdup(path);
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->probe_mu, NULL);
    pthread_mutex_init(&st->write_mu, NULL);
    if (pthread_key_create(&st->key, conn_destroy) != 0) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot create a thread key");
        pthread_mutex_destroy(&st->mu);
        pthread_mutex_destroy(&st->probe_mu);
        pthread_mutex_destroy(&st->write_mu);
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
    .state = sq_state,
    .full_at_ms = sq_full_at_ms,
    .opened = sq_opened,
    .open_read_only = sq_open_read_only,
    .versions_peek = sq_versions_peek,
};
