/*
 * store_pg.c - the PostgreSQL backend of store.h (libpq).
 *
 * store.c calls it through store_pg_backend when nubod is given
 * --store postgresql://...  Like the SQLite backend it keeps one connection
 * per thread, made on first use and closed when the thread ends or the
 * store closes.
 *
 * SQL: the services' SQL is written for both engines (store.h).  Before
 * PostgreSQL sees a statement this file rewrites, outside string literals
 * and quoted names:
 *   ?                                     $1, $2, ... in order
 *   INTEGER PRIMARY KEY [AUTOINCREMENT]    BIGSERIAL PRIMARY KEY
 *   INTEGER                               BIGINT   (SQLite's are 64-bit)
 *   REAL                                  DOUBLE PRECISION
 * Parameters go as text: 'i' typed BIGINT, 'd' DOUBLE PRECISION, 's'
 * untyped, so that PostgreSQL infers the type from where the '?' stands,
 * as SQLite does; a statement where it cannot (`? IS NULL`) is prepared
 * again with its 's' parameters typed TEXT.  Statements are prepared once
 * per connection and cached by their SQL text and parameter types.
 *
 * Rows come back in SQLite's JSON shapes, by the column's type: integers
 * (and NUMERIC without a fraction, as SUM of BIGINT gives) as JSON
 * integers, floating point and other NUMERIC as reals, booleans as 1 / 0,
 * NULL as null, everything else as strings.
 *
 * Transactions: a write transaction (store_begin(write = true)) is READ
 * COMMITTED and takes the transaction-level advisory lock STORE_PG_WRITE_LOCK
 * first, so write transactions run one at a time across every nubod on the
 * database, as SQLite's single writer ran them: check-then-claim sequences
 * (quotas, host capacity) stay atomic.  A read transaction (write = false)
 * is REPEATABLE READ READ ONLY: one snapshot for all its statements, as a
 * deferred SQLite transaction reads (network_host_document relies on it),
 * and PostgreSQL refuses a write in it rather than let it run without the
 * lock.  Statements outside transactions take no lock (each is atomic by
 * itself).
 * Finer locking (row locks, SERIALIZABLE with retries) is later work
 * (docs/internals/scale-out.md).  Inside a transaction every statement runs
 * under a savepoint, so that a failed one (a UNIQUE violation the caller
 * handles) leaves the transaction usable, as in SQLite.
 *
 * Errors: SQLSTATE 23505 (unique) is NUBO_E_CONFLICT, other 23xxx
 * NUBO_E_INVALID; a lost or refused connection, a lock wait past
 * lock_timeout, a serialization failure or deadlock is NUBO_E_UNAVAILABLE
 * (503, "retry"); SQLSTATE 53100 (disk_full) is NUBO_E_STORAGE_FULL (507,
 * store.h), remembered for store_state() ("full") and store_full_at_ms()
 * until a later write commits (no probe: a PostgreSQL server with a full
 * disk still starts, and its own writes tell).  After a lost connection the next call outside a
 * transaction connects again; the transaction that lost it fails to its end.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "lib/dynbuf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "store/store_int.h"

/* The advisory lock of write transactions ("nubo" in ASCII). */
#define STORE_PG_WRITE_LOCK 0x6e75626fLL

/* Type OIDs (PostgreSQL's pg_type.h, stable since forever). */
#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_TEXT 25
#define OID_OID 26
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_NUMERIC 1700

#define MAX_PARAMS 256
#define STMT_CACHE 128

struct cached_stmt {
    char *key; /* types letters, '\n', SQL */
    unsigned long hash;
    int n;         /* parameters */
    char name[16]; /* the prepared statement's name on the server */
};

struct pg;

struct conn {
    PGconn *db;
    int in_tx;          /* 1 in a read transaction, 2 in a write transaction */
    int lost;           /* the connection broke inside the current transaction */
    unsigned next_name; /* prepared statements s1, s2, ... */
    struct cached_stmt cache[STMT_CACHE];
    unsigned next_evict;
    struct pg *st;
    struct conn *next;
};

struct pg {
    char *url;
    pthread_key_t key;
    pthread_mutex_t mu;
    struct conn *conns;
    atomic_int full;         /* the last write failed for lack of space */
    atomic_llong full_at_ms; /* clock_mono_ms() of the last such write */
};

/* ---- connections --------------------------------------------------------- */

static void cache_clear(struct conn *c)
{
    for (int i = 0; i < STMT_CACHE; i++) {
        free(c->cache[i].key);
        c->cache[i].key = NULL;
    }
}

static void conn_close(struct conn *c)
{
    cache_clear(c);
    PQfinish(c->db);
    free(c);
}

static void conn_destroy(void *p)
{
    struct conn *c = p;
    struct pg *st = c->st;
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

/* PostgreSQL's notices ("relation already exists, skipping") go to the
 * debug log, not to stderr. */
static void notice(void *arg, const char *msg)
{
    (void)arg;
    log_debug("postgresql: %s", msg);
}

/* The URL for messages: its host and database only (user, password and
 * parameters such as password=... left out). */
static void url_safe(const char *url, char *out, size_t n)
{
    const char *scheme = strstr(url, "://");
    const char *rest = scheme ? scheme + 3 : url;
    const char *at = strchr(rest, '@');
    const char *slash = strchr(rest, '/');
    if (at && (slash == NULL || at < slash))
        rest = at + 1;
    size_t len = strcspn(rest, "?");
    snprintf(out, n, "%.*s%.*s", scheme ? (int)(scheme + 3 - url) : 0, url, (int)len, rest);
}

static int conn_setup(struct conn *c, struct nubo_err *err)
{
    PQsetNoticeProcessor(c->db, notice, NULL);
    /* A writer waits for the write lock as long as SQLite's busy_timeout. */
    PGresult *r = PQexec(c->db, "SET lock_timeout = '15s'; SET client_min_messages = warning");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok)
        return nubo_err_set(err, NUBO_E_UNAVAILABLE, "cannot configure the database connection: %s",
                            PQerrorMessage(c->db));
    return 0;
}

static PGconn *connect_url(const char *url)
{
    /* connect_timeout first: the URL's own, if any, overrides it. */
    const char *const keys[] = {"connect_timeout", "dbname", NULL};
    const char *const vals[] = {"10", url, NULL};
    return PQconnectdbParams(keys, vals, 1);
}

static int unreachable(const char *url, PGconn *db, struct nubo_err *err)
{
    char safe[256];
    url_safe(url, safe, sizeof(safe));
    log_debug("postgresql: %s", PQerrorMessage(db));
    return nubo_err_set(err, NUBO_E_UNAVAILABLE,
                        "the database %s is unreachable; check that PostgreSQL runs, then retry",
                        safe);
}

/* The calling thread's connection, connected again if it broke (outside a
 * transaction). */
static struct conn *conn_get(struct pg *st, struct nubo_err *err)
{
    struct conn *c = pthread_getspecific(st->key);
    if (c) {
        if (c->lost) {
            nubo_err_set(err, NUBO_E_UNAVAILABLE,
                         "the connection to the database was lost in a transaction; retry");
            return NULL;
        }
        if (PQstatus(c->db) == CONNECTION_OK)
            return c;
        cache_clear(c);
        PQreset(c->db);
        if (PQstatus(c->db) != CONNECTION_OK) {
            unreachable(st->url, c->db, err);
            return NULL;
        }
        if (conn_setup(c, err) < 0)
            return NULL;
        log_info("store: connected to the database again");
        return c;
    }
    PGconn *db = connect_url(st->url);
    if (db == NULL || PQstatus(db) != CONNECTION_OK) {
        unreachable(st->url, db, err);
        PQfinish(db);
        return NULL;
    }
    c = xcalloc(1, sizeof(*c));
    c->db = db;
    c->st = st;
    if (conn_setup(c, err) < 0) {
        conn_close(c);
        return NULL;
    }
    pthread_mutex_lock(&st->mu);
    c->next = st->conns;
    st->conns = c;
    pthread_mutex_unlock(&st->mu);
    pthread_setspecific(st->key, c);
    return c;
}

/* Turns a failed result into err (and frees nothing).  Returns -1. */
static int db_error(struct conn *c, const PGresult *r, struct nubo_err *err, const char *sql)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (msg == NULL)
        msg = PQerrorMessage(c->db);
    log_debug("postgresql: %s (%s) in: %.200s", msg, state ? state : "-", sql);
    if (PQstatus(c->db) != CONNECTION_OK || state == NULL || strncmp(state, "08", 2) == 0 ||
        strncmp(state, "57P", 3) == 0) {
        if (c->in_tx)
            c->lost = 1;
        return nubo_err_set(err, NUBO_E_UNAVAILABLE,
                            "the connection to the database was lost; retry");
    }
    if (strcmp(state, "53100") == 0) {
        atomic_store(&c->st->full_at_ms, (long long)clock_mono_ms());
        if (atomic_exchange(&c->st->full, 1) == 0)
            log_warn("store: the database server's disk is full: writes are refused (HTTP 507) "
                     "until space returns");
        return nubo_err_set(err, NUBO_E_STORAGE_FULL,
                            "the controller's database is full: its server's disk has no space "
                            "left, so nothing was changed (reads still work); an operator must "
                            "free space on the PostgreSQL server's disk, then retry");
    }
    if (strcmp(state, "23505") == 0)
        return nubo_err_set(err, NUBO_E_CONFLICT, "already exists");
    if (strncmp(state, "23", 2) == 0)
        return nubo_err_set(err, NUBO_E_INVALID, "constraint violated: %s", msg);
    if (strcmp(state, "55P03") == 0 || strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        return nubo_err_set(err, NUBO_E_UNAVAILABLE, "the database is busy; retry");
    return nubo_err_set(err, NUBO_E_INTERNAL, "database error: %s", msg);
}

/* A write committed: the database has room again. */
static void written(struct pg *st)
{
    if (atomic_load(&st->full) && atomic_exchange(&st->full, 0) == 1)
        log_info("store: writes work again on the database server");
}

/* Runs a command without parameters or rows (BEGIN, SAVEPOINT...). */
static int command(struct conn *c, const char *sql, struct nubo_err *err)
{
    PGresult *r = PQexec(c->db, sql);
    ExecStatusType s = PQresultStatus(r);
    int rc = 0;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        rc = db_error(c, r, err, sql);
    PQclear(r);
    return rc;
}

/* ---- SQL ----------------------------------------------------------------- */

static bool word_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

/* Whether the words in `words` (single spaces between them) start at s,
 * case-insensitively, ending at a word boundary; *len gets the length
 * matched in s (its spacing may differ). */
static bool words_at(const char *s, const char *words, size_t *len)
{
    const char *p = s;
    for (const char *w = words; *w; w++) {
        if (*w == ' ') {
            if (*p != ' ' && *p != '\n' && *p != '\t')
                return false;
            while (*p == ' ' || *p == '\n' || *p == '\t')
                p++;
            continue;
        }
        char a = *p, b = *w;
        if (a >= 'a' && a <= 'z')
            a = (char)(a - 'a' + 'A');
        if (a != b)
            return false;
        p++;
    }
    if (word_char(*p))
        return false;
    *len = (size_t)(p - s);
    return true;
}

/* Rewrites sql for PostgreSQL (see the top of the file) into a new string
 * (the caller frees it); *n gets the number of placeholders. */
static char *pg_sql(const char *sql, int *n)
{
    static const struct {
        const char *from, *to;
    } types[] = {
        {"INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY"},
        {"INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY"},
        {"INTEGER", "BIGINT"},
        {"REAL", "DOUBLE PRECISION"},
    };
    struct dynbuf b;
    dynbuf_init(&b, 16 * 1024 * 1024);
    *n = 0;
    const char *s = sql;
    while (*s) {
        if (*s == '\'' || *s == '"') { /* a literal or quoted name, '' inside */
            char q = *s;
            const char *e = s + 1;
            while (*e && !(*e == q && e[1] != q))
                e += (*e == q) ? 2 : 1;
            if (*e)
                e++;
            dynbuf_add(&b, s, (size_t)(e - s));
            s = e;
            continue;
        }
        if (s[0] == '-' && s[1] == '-') {
            const char *e = strchr(s, '\n');
            e = e ? e : s + strlen(s);
            dynbuf_add(&b, s, (size_t)(e - s));
            s = e;
            continue;
        }
        if (*s == '?') {
            dynbuf_printf(&b, "$%d", ++*n);
            s++;
            continue;
        }
        if (word_char(*s) && (s == sql || !word_char(s[-1]))) {
            bool done = false;
            for (size_t i = 0; i < sizeof(types) / sizeof(types[0]) && !done; i++) {
                size_t len;
                if (words_at(s, types[i].from, &len)) {
                    dynbuf_add_str(&b, types[i].to);
                    s += len;
                    done = true;
                }
            }
            if (done)
                continue;
            const char *e = s;
            while (word_char(*e))
                e++;
            dynbuf_add(&b, s, (size_t)(e - s));
            s = e;
            continue;
        }
        dynbuf_add(&b, s, 1);
        s++;
    }
    return dynbuf_take(&b, NULL);
}

static unsigned long key_hash(const char *s)
{
    unsigned long h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h;
}

/* Whether a prepare failed because a parameter's type could not be
 * inferred (42P18) or matched nothing as unknown (42725: ambiguous). */
static bool type_unknown(const PGresult *r)
{
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    return state && (strcmp(state, "42P18") == 0 || strcmp(state, "42725") == 0);
}

/* The prepared statement for sql with parameters p (from the cache, or
 * prepared now).  Returns its cache slot or NULL with err. */
static const struct cached_stmt *prepare(struct conn *c, struct nubo_err *err, const char *sql,
                                         const struct store_param *p, int n)
{
    if (n > MAX_PARAMS) {
        nubo_err_set(err, NUBO_E_INTERNAL, "store: more than %d parameters", MAX_PARAMS);
        return NULL;
    }
    char letters[MAX_PARAMS + 1];
    for (int i = 0; i < n; i++)
        letters[i] = p[i].type;
    letters[n] = '\0';
    size_t klen = (size_t)n + 1 + strlen(sql) + 1;
    char *key = xmalloc(klen);
    snprintf(key, klen, "%s\n%s", letters, sql);
    unsigned long h = key_hash(key);
    for (int i = 0; i < STMT_CACHE; i++) {
        struct cached_stmt *cs = &c->cache[i];
        if (cs->key && cs->hash == h && strcmp(cs->key, key) == 0) {
            free(key);
            return cs;
        }
    }
    int want = 0;
    char *text = pg_sql(sql, &want);
    if (want != n) {
        nubo_err_set(err, NUBO_E_INTERNAL, "store: %d parameters given, the SQL wants %d", n, want);
        free(text);
        free(key);
        return NULL;
    }
    Oid oids[MAX_PARAMS];
    for (int i = 0; i < n; i++)
        oids[i] = p[i].type == 'i' ? OID_INT8 : p[i].type == 'd' ? OID_FLOAT8 : 0;
    struct cached_stmt *slot = &c->cache[c->next_evict++ % STMT_CACHE];
    if (slot->key) {
        char dealloc[48];
        snprintf(dealloc, sizeof(dealloc), "DEALLOCATE %s", slot->name);
        struct nubo_err ignored;
        command(c, dealloc, &ignored);
        free(slot->key);
        slot->key = NULL;
    }
    char name[16];
    snprintf(name, sizeof(name), "s%u", ++c->next_name);
    PGresult *r = PQprepare(c->db, name, text, n, oids);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && type_unknown(r)) {
        PQclear(r);
        for (int i = 0; i < n; i++)
            if (oids[i] == 0)
                oids[i] = OID_TEXT;
        r = PQprepare(c->db, name, text, n, oids);
    }
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        db_error(c, r, err, text);
        PQclear(r);
        free(text);
        free(key);
        return NULL;
    }
    PQclear(r);
    free(text);
    slot->key = key;
    slot->hash = h;
    slot->n = n;
    snprintf(slot->name, sizeof(slot->name), "%s", name);
    return slot;
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_seq(const unsigned char *s)
{
    if (s[0] < 0x80)
        return 1;
    size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (n == 0 || (n == 3 && s[0] > 0xef))
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
        (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
        return 0; /* overlong, surrogate, past U+10FFFF */
    return n;
}

/* s itself when it is valid UTF-8, else a copy (*copy, the caller frees)
 * with each bad byte replaced by U+FFFD: SQLite stores any bytes, but a
 * PostgreSQL UTF8 database refuses them, and nubo never hands out text
 * that is not UTF-8 anyway (see cell_json). */
static const char *utf8_clean(const char *s, char **copy)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, n;
    while (u[i] && (n = utf8_seq(u + i)) > 0)
        i += n;
    *copy = NULL;
    if (u[i] == '\0')
        return s;
    struct dynbuf b;
    dynbuf_init(&b, 64 * 1024 * 1024);
    for (i = 0; u[i];) {
        n = utf8_seq(u + i);
        if (n == 0) {
            dynbuf_add_str(&b, "\xef\xbf\xbd");
            i++;
        } else {
            dynbuf_add(&b, u + i, n);
            i += n;
        }
    }
    *copy = dynbuf_take(&b, NULL);
    return *copy;
}

/* Runs sql with p; returns the result (the caller PQclears it) or NULL
 * with err.  Inside a transaction the statement runs under a savepoint. */
static PGresult *run(struct conn *c, struct nubo_err *err, const char *sql,
                     const struct store_param *p, int n)
{
    if (c->in_tx && command(c, "SAVEPOINT nubo_stmt", err) < 0)
        return NULL;
    const struct cached_stmt *cs = prepare(c, err, sql, p, n);
    PGresult *r = NULL;
    if (cs) {
        char nums[MAX_PARAMS][32];
        const char *vals[MAX_PARAMS];
        char *copies[MAX_PARAMS];
        for (int i = 0; i < n; i++) {
            copies[i] = NULL;
            switch (p[i].type) {
            case 'i':
                snprintf(nums[i], sizeof(nums[i]), "%lld", p[i].i);
                vals[i] = nums[i];
                break;
            case 'd':
                snprintf(nums[i], sizeof(nums[i]), "%.17g", p[i].d);
                vals[i] = nums[i];
                break;
            default:
                vals[i] = p[i].s ? utf8_clean(p[i].s, &copies[i]) : NULL;
            }
        }
        r = PQexecPrepared(c->db, cs->name, n, vals, NULL, NULL, 0);
        for (int i = 0; i < n; i++)
            free(copies[i]);
        ExecStatusType s = PQresultStatus(r);
        if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
            db_error(c, r, err, sql);
            PQclear(r);
            r = NULL;
        }
    }
    if (c->in_tx && !c->lost) {
        struct nubo_err ignored;
        command(c, r ? "RELEASE SAVEPOINT nubo_stmt" : "ROLLBACK TO SAVEPOINT nubo_stmt", &ignored);
    }
    return r;
}

static json_t *cell_json(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return json_null();
    const char *v = PQgetvalue(r, row, col);
    switch (PQftype(r, col)) {
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID:
        return json_integer(strtoll(v, NULL, 10));
    case OID_BOOL:
        return json_integer(v[0] == 't');
    case OID_NUMERIC:
        if (strpbrk(v, ".eEN") == NULL)
            return json_integer(strtoll(v, NULL, 10));
        /* fall through */
    case OID_FLOAT4:
    case OID_FLOAT8: {
        json_t *j = json_real(strtod(v, NULL));
        return j ? j : json_null(); /* NaN and infinities have no JSON */
    }
    default: {
        json_t *j = json_stringn(v, (size_t)PQgetlength(r, row, col));
        return j ? j : json_string(""); /* not UTF-8: never stored by nubo */
    }
    }
}

/* ---- the backend ---------------------------------------------------------- */

static json_t *pg_query(void *h, struct nubo_err *err, int max_rows, const char *sql,
                        const struct store_param *p, int n)
{
    struct conn *c = conn_get(h, err);
    if (c == NULL)
        return NULL;
    PGresult *r = run(c, err, sql, p, n);
    if (r == NULL)
        return NULL;
    json_t *rows = json_array();
    int nrows = PQntuples(r), ncols = PQnfields(r);
    if (max_rows > 0 && nrows > max_rows)
        nrows = max_rows;
    for (int i = 0; i < nrows; i++) {
        json_t *o = json_object();
        for (int j = 0; j < ncols; j++)
            json_object_set_new(o, PQfname(r, j), cell_json(r, i, j));
        json_array_append_new(rows, o);
    }
    PQclear(r);
    return rows;
}

static long long pg_exec(void *h, struct nubo_err *err, const char *sql,
                         const struct store_param *p, int n)
{
    struct conn *c = conn_get(h, err);
    if (c == NULL)
        return -1;
    PGresult *r = run(c, err, sql, p, n);
    if (r == NULL)
        return -1;
    const char *t = PQcmdTuples(r);
    long long changed = (t && *t) ? strtoll(t, NULL, 10) : 0;
    PQclear(r);
    if (changed > 0 && !c->in_tx)
        written(c->st);
    return changed;
}

static int pg_exec_script(void *h, const char *sql, struct nubo_err *err)
{
    struct conn *c = conn_get(h, err);
    if (c == NULL)
        return -1;
    int n = 0;
    char *text = pg_sql(sql, &n);
    PGresult *r = PQexec(c->db, text);
    ExecStatusType s = PQresultStatus(r);
    int rc = 0;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        struct nubo_err e;
        db_error(c, r, &e, text);
        rc = nubo_err_set(err,
                          e.code == NUBO_E_UNAVAILABLE || e.code == NUBO_E_STORAGE_FULL
                              ? e.code
                              : NUBO_E_INTERNAL,
                          "database script failed: %s", e.msg);
    }
    PQclear(r);
    free(text);
    return rc;
}

static int pg_begin(void *h, bool write, struct nubo_err *err)
{
    struct conn *c = conn_get(h, err);
    if (c == NULL)
        return -1;
    if (c->in_tx)
        return nubo_err_set(err, NUBO_E_INTERNAL, "store: nested transaction");
    char sql[128];
    if (write)
        snprintf(sql, sizeof(sql),
                 "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(%lld)",
                 STORE_PG_WRITE_LOCK);
    else
        snprintf(sql, sizeof(sql), "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (command(c, sql, err) < 0) {
        struct nubo_err ignored;
        command(c, "ROLLBACK", &ignored);
        return -1;
    }
    c->in_tx = write ? 2 : 1;
    return 0;
}

static void pg_rollback(void *h)
{
    struct pg *st = h;
    struct conn *c = pthread_getspecific(st->key);
    if (c == NULL || !c->in_tx)
        return;
    struct nubo_err ignored;
    if (!c->lost)
        command(c, "ROLLBACK", &ignored);
    c->in_tx = 0;
    c->lost = 0;
}

static int pg_commit(void *h, struct nubo_err *err)
{
    struct pg *st = h;
    struct conn *c = pthread_getspecific(st->key);
    if (c == NULL || !c->in_tx)
        return nubo_err_set(err, NUBO_E_INTERNAL, "store: commit without a transaction");
    if (c->lost) {
        pg_rollback(h);
        return nubo_err_set(err, NUBO_E_UNAVAILABLE,
                            "the connection to the database was lost; retry");
    }
    PGresult *r = PQexec(c->db, "COMMIT");
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = db_error(c, r, err, "COMMIT");
    else if (strcmp(PQcmdStatus(r), "COMMIT") != 0) /* an aborted transaction */
        rc = nubo_err_set(err, NUBO_E_INTERNAL, "the transaction was rolled back");
    PQclear(r);
    if (rc < 0)
        pg_rollback(h);
    else if (c->in_tx == 2)
        written(st);
    c->in_tx = 0;
    c->lost = 0;
    return rc;
}

static int pg_migrate_prepare(void *h, struct nubo_err *err)
{
    (void)h;
    (void)err;
    return 0;
}

static int pg_migrate_check(void *h, struct nubo_err *err)
{
    (void)h;
    (void)err;
    return 0; /* foreign keys are checked as the statements run */
}

static void pg_migrate_finish(void *h)
{
    (void)h;
}

/* store_inspect(): the schema versions, read by plain SELECTs (none when
 * the database has no schema_version table yet). */
static json_t *pg_versions_peek(void *h, struct nubo_err *err)
{
    json_t *rows = pg_query(h, err, 1, "SELECT to_regclass('schema_version')::text AS t", NULL, 0);
    if (rows == NULL)
        return NULL;
    bool exists = json_is_string(json_object_get(json_array_get(rows, 0), "t"));
    json_decref(rows);
    if (!exists)
        return json_array();
    return pg_query(h, err, 0, "SELECT version FROM schema_version ORDER BY version", NULL, 0);
}

static enum store_state pg_state(void *h)
{
    struct pg *st = h;
    return atomic_load(&st->full) ? STORE_FULL : STORE_OK;
}

static long long pg_full_at_ms(void *h)
{
    struct pg *st = h;
    return atomic_load(&st->full_at_ms);
}

static void pg_close(void *h)
{
    struct pg *st = h;
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
    free(st->url);
    free(st);
}

static void *pg_open(const char *url, struct nubo_err *err)
{
    struct pg *st = xcalloc(1, sizeof(*st));
    st->url = xstrdup(url);
    pthread_mutex_init(&st->mu, NULL);
    if (pthread_key_create(&st->key, conn_destroy) != 0) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot create a thread key");
        pthread_mutex_destroy(&st->mu);
        free(st->url);
        free(st);
        return NULL;
    }
    /* Connect now, so that a wrong URL fails at start with a clear message;
     * and check the collation: lists page on text order, which must be
     * bytewise as in SQLite. */
    struct conn *c = conn_get(st, err);
    if (c == NULL) {
        pg_close(st);
        return NULL;
    }
    PGresult *r = PQexec(c->db, "SELECT datcollate FROM pg_database WHERE datname = "
                                "current_database()");
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        const char *coll = PQgetvalue(r, 0, 0);
        if (strcmp(coll, "C") != 0 && strcmp(coll, "POSIX") != 0)
            log_warn("store: the database's collation is %s; create it with LC_COLLATE 'C' "
                     "(docs/internals/scale-out.md) so that lists sort as on SQLite",
                     coll);
    }
    PQclear(r);
    return st;
}

const struct store_backend store_pg_backend = {
    .name = "postgresql",
    .pg = true,
    .open = pg_open,
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .query = pg_query,
    .exec = pg_exec,
    .exec_script = pg_exec_script,
    .migrate_prepare = pg_migrate_prepare,
    .migrate_check = pg_migrate_check,
    .migrate_finish = pg_migrate_finish,
    .state = pg_state,
    .full_at_ms = pg_full_at_ms,
    .versions_peek = pg_versions_peek,
};
