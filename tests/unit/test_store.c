/*
 * test_store.c - store.h on both backends: every test runs on a SQLite
 * file in a scratch directory and on a PostgreSQL database.
 *
 * PostgreSQL: the server at NUBO_TEST_PG_URL (a URL of its maintenance
 * database, as scripts/pg-test.sh prints) or, without it, a throwaway one
 * this program starts itself with scripts/pg-test.sh (the postgresql
 * package must be installed: scripts/deps.sh).  Either way a fresh database
 * is created and dropped.  There is no skipping: a missing server fails.
 *
 * What is checked: the same JSON shapes from both (integers past 32 bits,
 * reals, NULL, SUM and comparisons), '?' inside literals, `? IS NULL`,
 * UNIQUE -> NUBO_E_CONFLICT and CHECK / NOT NULL -> NUBO_E_INVALID, a failed
 * statement leaving its transaction usable, write transactions running one
 * at a time, pages, and (PostgreSQL) a killed connection giving
 * NUBO_E_UNAVAILABLE and then connecting again.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "lib/util.h"
#include "store/store.h"

#ifndef NUBO_SOURCE_ROOT
#define NUBO_SOURCE_ROOT "."
#endif

static char dir[] = "/tmp/nubo-test-store-XXXXXX";
static char pg_dir[512];    /* the server we started, "" when given one */
static char pg_admin[1024]; /* the maintenance database's URL */
static char pg_url[1100];   /* our database's URL */
static struct store *backends[2];
static const char *names[2] = {"sqlite", "postgresql"};

/* Runs a shell command and reads its output into out. */
static int run_cmd(const char *cmd, char *out, size_t n)
{
    FILE *f = popen(cmd, "r");
    if (f == NULL)
        return -1;
    size_t got = fread(out, 1, n - 1, f);
    out[got] = '\0';
    return pclose(f) == 0 ? 0 : -1;
}

/* "KEY=value" line of out into val. */
static void line_value(const char *out, const char *key, char *val, size_t n)
{
    const char *p = strstr(out, key);
    val[0] = '\0';
    if (p == NULL)
        return;
    p += strlen(key);
    size_t len = strcspn(p, "\n");
    snprintf(val, n, "%.*s", (int)len, p);
}

/* Runs one SQL command on the maintenance database with psql. */
static int admin_sql(const char *sql)
{
    char cmd[2048], out[512];
    snprintf(cmd, sizeof(cmd),
             "psql=$(ls /usr/lib/postgresql/*/bin/psql | sort -V | tail -1); "
             "\"$psql\" -q -X -v ON_ERROR_STOP=1 \"%s\" -c \"%s\" 2>&1",
             pg_admin, sql);
    int rc = run_cmd(cmd, out, sizeof(out));
    if (rc < 0)
        fprintf(stderr, "psql failed: %s\n", out);
    return rc;
}

/* Stops the server we started (if any): a failed setup must not leave it
 * running. */
static void server_stop(void)
{
    if (pg_dir[0]) {
        char cmd[700], out[256];
        snprintf(cmd, sizeof(cmd), NUBO_SOURCE_ROOT "/scripts/pg-test.sh stop %s", pg_dir);
        run_cmd(cmd, out, sizeof(out));
        pg_dir[0] = '\0';
    }
}

static void setup_failed(void)
{
    server_stop();
    abort();
}

static void setup(void)
{
    struct nubo_err err;
    if (mkdtemp(dir) == NULL)
        abort();
    char path[128];
    snprintf(path, sizeof(path), "%s/nubo.db", dir);
    backends[0] = store_open(path, &err);
    if (backends[0] == NULL) {
        fprintf(stderr, "sqlite: %s\n", err.msg);
        abort();
    }
    const char *given = getenv("NUBO_TEST_PG_URL");
    if (given && *given) {
        snprintf(pg_admin, sizeof(pg_admin), "%s", given);
    } else {
        char out[2048];
        if (run_cmd(NUBO_SOURCE_ROOT "/scripts/pg-test.sh start", out, sizeof(out)) < 0) {
            fprintf(stderr, "cannot start PostgreSQL with scripts/pg-test.sh: %s\n", out);
            abort();
        }
        line_value(out, "NUBO_TEST_PG_DIR=", pg_dir, sizeof(pg_dir));
        line_value(out, "NUBO_TEST_PG_URL=", pg_admin, sizeof(pg_admin));
    }
    /* from here on a failure stops that server first */
    if (admin_sql("DROP DATABASE IF EXISTS nubo_unit_store WITH (FORCE)") < 0 ||
        admin_sql("CREATE DATABASE nubo_unit_store TEMPLATE template0 LC_COLLATE 'C' "
                  "LC_CTYPE 'C'") < 0)
        setup_failed();
    /* postgresql:///postgres?host=... -> postgresql:///nubo_unit_store?host=... */
    const char *slash = strstr(pg_admin, "://");
    slash = slash ? strchr(slash + 3, '/') : NULL;
    if (slash == NULL)
        setup_failed();
    const char *rest = slash + 1 + strcspn(slash + 1, "?");
    snprintf(pg_url, sizeof(pg_url), "%.*snubo_unit_store%s", (int)(slash + 1 - pg_admin), pg_admin,
             rest);
    backends[1] = store_open(pg_url, &err);
    if (backends[1] == NULL) {
        fprintf(stderr, "postgresql: %s\n", err.msg);
        setup_failed();
    }
    for (int b = 0; b < 2; b++)
        if (store_exec_script(backends[b],
                              "CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER NOT NULL,"
                              " r REAL, s TEXT, created_at TEXT NOT NULL DEFAULT '',"
                              " CHECK (n >= 0))",
                              &err) < 0) {
            fprintf(stderr, "%s: %s\n", names[b], err.msg);
            setup_failed();
        }
}

static void teardown(void)
{
    store_close(backends[0]);
    store_close(backends[1]);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    admin_sql("DROP DATABASE IF EXISTS nubo_unit_store WITH (FORCE)");
    server_stop();
}

static void test_migrations(void)
{
    CHECK(store_schema_version(backends[0]) > 10);
    CHECK_INT_EQ(store_schema_version(backends[0]), store_schema_version(backends[1]));
    CHECK_STR_EQ(store_backend_name(backends[1]), "postgresql");
    CHECK(store_target_is_pg("postgres://h/db"));
    CHECK(!store_target_is_pg("/var/lib/nubo/nubo.db"));
}

static void test_types(void)
{
    for (int b = 0; b < 2; b++) {
        struct store *st = backends[b];
        struct nubo_err err;
        store_exec(st, &err, "DELETE FROM t", "");
        CHECK_INT_EQ(store_exec(st, &err, "INSERT INTO t (id, n, r, s) VALUES (?, ?, ?, ?)", "sids",
                                "a", 5000000000LL, 1.5, NULL),
                     1);
        CHECK_INT_EQ(store_exec(st, &err, "INSERT INTO t (id, n, r, s) VALUES (?, ?, ?, ?)", "sids",
                                "b", 2LL, 2.0, "x?y"),
                     1);
        json_t *row = store_query_one(st, &err,
                                      "SELECT n, r, s, '?' AS q, n > 3 AS big,"
                                      " (SELECT SUM(n) FROM t) AS total,"
                                      " (SELECT COUNT(*) FROM t) AS cnt"
                                      " FROM t WHERE id = ?",
                                      "s", "a");
        if (!CHECK(row != NULL))
            continue;
        CHECK(json_is_integer(json_object_get(row, "n")));
        CHECK_INT_EQ(json_integer_value(json_object_get(row, "n")), 5000000000LL);
        CHECK(json_is_real(json_object_get(row, "r")));
        CHECK(json_is_null(json_object_get(row, "s")));
        CHECK_STR_EQ(json_string_value(json_object_get(row, "q")), "?");
        CHECK_INT_EQ(json_integer_value(json_object_get(row, "big")), 1);
        CHECK(json_is_integer(json_object_get(row, "total")));
        CHECK_INT_EQ(json_integer_value(json_object_get(row, "total")), 5000000002LL);
        CHECK_INT_EQ(json_integer_value(json_object_get(row, "cnt")), 2);
        json_decref(row);
        /* a parameter whose type only its use tells, and one no use tells */
        json_t *rows =
            store_query(st, &err, "SELECT id FROM t WHERE (? IS NULL OR s = ?)", "ss", NULL, NULL);
        CHECK(rows && json_array_size(rows) == 2);
        json_decref(rows);
        rows = store_query(st, &err, "SELECT id FROM t WHERE (? IS NULL OR s = ?) AND n < ?", "ssi",
                           "x?y", "x?y", 10LL);
        CHECK(rows && json_array_size(rows) == 1);
        json_decref(rows);
    }
}

static void test_errors(void)
{
    for (int b = 0; b < 2; b++) {
        struct store *st = backends[b];
        struct nubo_err err = {0};
        store_exec(st, &err, "DELETE FROM t", "");
        CHECK_INT_EQ(store_exec(st, &err, "INSERT INTO t (id, n) VALUES ('u', 1)", ""), 1);
        CHECK_INT_EQ(store_exec(st, &err, "INSERT INTO t (id, n) VALUES ('u', 1)", ""), -1);
        CHECK_INT_EQ(err.code, NUBO_E_CONFLICT);
        CHECK_INT_EQ(store_exec(st, &err, "INSERT INTO t (id, n) VALUES ('v', -1)", ""), -1);
        CHECK_INT_EQ(err.code, NUBO_E_INVALID);
        CHECK_INT_EQ(store_exec(st, &err, "INSERT INTO t (id) VALUES ('w')", ""), -1);
        CHECK_INT_EQ(err.code, NUBO_E_INVALID);
        CHECK_INT_EQ(store_exec(st, &err, "INSERT INTO t (id, n) VALUES (?, ?)", "s", "z"), -1);
        CHECK_INT_EQ(err.code, NUBO_E_INTERNAL);
        /* in a transaction, a failed statement leaves it usable */
        CHECK_INT_EQ(store_begin(st, true, &err), 0);
        CHECK_INT_EQ(store_exec(st, &err, "INSERT INTO t (id, n) VALUES ('u', 1)", ""), -1);
        CHECK_INT_EQ(err.code, NUBO_E_CONFLICT);
        CHECK_INT_EQ(store_exec(st, &err, "INSERT INTO t (id, n) VALUES ('v', 2)", ""), 1);
        CHECK_INT_EQ(store_commit(st, &err), 0);
        json_t *rows = store_query(st, &err, "SELECT id FROM t ORDER BY id", "");
        CHECK(rows && json_array_size(rows) == 2);
        json_decref(rows);
        CHECK_INT_EQ(store_exec(st, &err, "UPDATE t SET n = n + 1 WHERE id = 'nobody'", ""), 0);
    }
}

/* PostgreSQL's disk_full (SQLSTATE 53100) is NUBO_E_STORAGE_FULL, and
 * store_state() says "full" until a write commits again. */
static void test_pg_disk_full(void)
{
    struct store *st = backends[1];
    struct nubo_err err = {0};
    CHECK_INT_EQ(store_state(backends[0]), STORE_OK);
    CHECK_INT_EQ(store_state(st), STORE_OK);
    CHECK_INT_EQ(store_exec_script(st,
                                   "CREATE OR REPLACE FUNCTION nubo_test_full() RETURNS BIGINT "
                                   "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'no space' "
                                   "USING ERRCODE = 'disk_full'; END $$",
                                   &err),
                 0);
    CHECK_INT_EQ(store_exec(st, &err, "SELECT nubo_test_full()", ""), -1);
    CHECK_INT_EQ(err.code, NUBO_E_STORAGE_FULL);
    CHECK_INT_EQ(store_state(st), STORE_FULL);
    CHECK(store_full_at_ms(st) > 0);
    CHECK_INT_EQ(store_begin(st, true, &err), 0);
    CHECK_INT_EQ(store_exec(st, &err, "SELECT nubo_test_full()", ""), -1);
    CHECK_INT_EQ(err.code, NUBO_E_STORAGE_FULL);
    store_rollback(st);
    CHECK_INT_EQ(store_state(st), STORE_FULL);
    store_exec(st, &err, "DELETE FROM t WHERE id = 'full'", "");
    CHECK_INT_EQ(store_exec(st, &err, "INSERT INTO t (id, n) VALUES ('full', 1)", ""), 1);
    CHECK_INT_EQ(store_state(st), STORE_OK);
    store_exec_script(st, "DROP FUNCTION nubo_test_full()", &err);
}

/* ---- write transactions one at a time --------------------------------- */

struct racer {
    struct store *st;
    int claimed; /* 1 when this thread took the last unit */
};

/* Check-then-claim: counts the claims and adds one while fewer than 1. */
static void *race(void *arg)
{
    struct racer *r = arg;
    struct nubo_err err;
    if (store_begin(r->st, true, &err) < 0)
        return NULL;
    json_t *row = store_query_one(r->st, &err, "SELECT COUNT(*) AS n FROM t WHERE s = 'claim'", "");
    long long n = row ? json_integer_value(json_object_get(row, "n")) : 99;
    json_decref(row);
    usleep(50 * 1000); /* widen the window between the check and the claim */
    if (n < 1) {
        char id[40];
        snprintf(id, sizeof(id), "claim-%p", (void *)r);
        if (store_exec(r->st, &err, "INSERT INTO t (id, n, s) VALUES (?, 0, 'claim')", "s", id) ==
            1)
            r->claimed = 1;
    }
    if (store_commit(r->st, &err) < 0)
        r->claimed = 0;
    return NULL;
}

static void test_write_lock(void)
{
    for (int b = 0; b < 2; b++) {
        struct nubo_err err;
        store_exec(backends[b], &err, "DELETE FROM t", "");
        enum { N = 6 };
        struct racer rs[N];
        pthread_t th[N];
        for (int i = 0; i < N; i++) {
            rs[i] = (struct racer){.st = backends[b]};
            pthread_create(&th[i], NULL, race, &rs[i]);
        }
        int claimed = 0;
        for (int i = 0; i < N; i++) {
            pthread_join(th[i], NULL);
            claimed += rs[i].claimed;
        }
        CHECK_INT_EQ(claimed, 1);
    }
}

struct writer {
    struct store *st;
    int id, failed;
};

/* Writes 40 rows, every other one in a write transaction of its own with a
 * read before the insert, the others as single statements. */
static void *write_many(void *arg)
{
    struct writer *w = arg;
    struct nubo_err err;
    for (int k = 0; k < 40; k++) {
        char id[40];
        snprintf(id, sizeof(id), "w%d-%d", w->id, k);
        if (k % 2) {
            json_t *row = NULL;
            if (store_begin(w->st, true, &err) < 0 ||
                (row = store_query_one(w->st, &err, "SELECT COUNT(*) AS n FROM t", "")) == NULL ||
                store_exec(w->st, &err, "INSERT INTO t (id, n) VALUES (?, ?)", "si", id,
                           json_integer_value(json_object_get(row, "n"))) != 1 ||
                store_commit(w->st, &err) < 0) {
                store_rollback(w->st);
                w->failed++;
            }
            json_decref(row);
        } else if (store_exec(w->st, &err, "INSERT INTO t (id, n) VALUES (?, 0)", "s", id) != 1) {
            w->failed++;
        }
    }
    return NULL;
}

/* Many writers at once, transactions and single statements mixed: each
 * waits its turn (SQLite: the process's write mutex) and none fails. */
static void test_writers_take_turns(void)
{
    for (int b = 0; b < 2; b++) {
        struct nubo_err err;
        store_exec(backends[b], &err, "DELETE FROM t", "");
        enum { N = 8 };
        struct writer ws[N];
        pthread_t th[N];
        for (int i = 0; i < N; i++) {
            ws[i] = (struct writer){.st = backends[b], .id = i};
            pthread_create(&th[i], NULL, write_many, &ws[i]);
        }
        int failed = 0;
        for (int i = 0; i < N; i++) {
            pthread_join(th[i], NULL);
            failed += ws[i].failed;
        }
        CHECK_INT_EQ(failed, 0);
        json_t *row = store_query_one(backends[b], &err, "SELECT COUNT(*) AS n FROM t", "");
        CHECK(row && json_integer_value(json_object_get(row, "n")) == N * 40);
        json_decref(row);
    }
}

/* SQLite's durability: synchronous=FULL (2) unless asked for NORMAL (1). */
static void test_sqlite_sync(void)
{
    struct nubo_err err;
    for (int full = 1; full >= 0; full--) {
        char path[160];
        snprintf(path, sizeof(path), "%s/sync-%d.db", dir, full);
        if (!full)
            store_sqlite_sync_full(false); /* the default is full */
        struct store *st = store_open(path, &err);
        store_sqlite_sync_full(true);
        if (!CHECK(st != NULL))
            continue;
        json_t *row = store_query_one(st, &err, "PRAGMA synchronous", "");
        CHECK(row && json_integer_value(json_object_get(row, "synchronous")) == 1 + full);
        json_decref(row);
        store_close(st);
    }
}

static void *insert_other(void *arg)
{
    struct nubo_err err;
    store_exec(arg, &err, "INSERT INTO t (id, n) VALUES ('other', 1)", "");
    return NULL;
}

/* A read transaction reads one snapshot, as network_host_document needs. */
static void test_read_snapshot(void)
{
    for (int b = 0; b < 2; b++) {
        struct store *st = backends[b];
        struct nubo_err err;
        store_exec(st, &err, "DELETE FROM t", "");
        if (!CHECK_INT_EQ(store_begin(st, false, &err), 0))
            continue;
        json_t *row = store_query_one(st, &err, "SELECT COUNT(*) AS n FROM t", "");
        CHECK(row && json_integer_value(json_object_get(row, "n")) == 0);
        json_decref(row);
        pthread_t th; /* another connection writes meanwhile */
        pthread_create(&th, NULL, insert_other, st);
        pthread_join(th, NULL);
        row = store_query_one(st, &err, "SELECT COUNT(*) AS n FROM t", "");
        CHECK(row && json_integer_value(json_object_get(row, "n")) == 0);
        json_decref(row);
        store_rollback(st);
        row = store_query_one(st, &err, "SELECT COUNT(*) AS n FROM t", "");
        CHECK(row && json_integer_value(json_object_get(row, "n")) == 1);
        json_decref(row);
    }
}

static void test_pages(void)
{
    for (int b = 0; b < 2; b++) {
        struct store *st = backends[b];
        struct nubo_err err;
        store_exec(st, &err, "DELETE FROM t", "");
        for (int i = 0; i < 5; i++) {
            char id[8];
            snprintf(id, sizeof(id), "p%d", i);
            store_exec(st, &err, "INSERT INTO t (id, n, created_at) VALUES (?, ?, 'same')", "si",
                       id, (long long)i);
        }
        struct store_page pg = {.marker = "p1", .limit = 2};
        CHECK_INT_EQ(store_page_start(st, &pg, &err, "SELECT created_at FROM t WHERE id = ?", "s",
                                      pg.marker),
                     0);
        json_t *rows =
            store_page_query(st, &pg, NULL, &err, "SELECT id FROM t WHERE n >= ?", "i", 0LL);
        if (!CHECK(rows != NULL))
            continue;
        CHECK_INT_EQ(json_array_size(rows), 3);
        CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(rows, 0), "id")), "p2");
        json_decref(rows);
    }
}

/* PostgreSQL: a connection killed under us is 503, then comes back. */
static void test_connection_lost(void)
{
    struct store *st = backends[1];
    struct nubo_err err;
    json_t *row = store_query_one(st, &err, "SELECT pg_backend_pid() AS pid", "");
    if (!CHECK(row != NULL))
        return;
    long long pid = json_integer_value(json_object_get(row, "pid"));
    json_decref(row);
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%lld)", pid);
    CHECK_INT_EQ(admin_sql(sql), 0);
    row = store_query_one(st, &err, "SELECT 1 AS one", "");
    CHECK(row == NULL);
    CHECK_INT_EQ(err.code, NUBO_E_UNAVAILABLE);
    json_decref(row);
    row = store_query_one(st, &err, "SELECT 1 AS one", "");
    CHECK(row != NULL);
    json_decref(row);
    /* lost inside a transaction: it fails to its end, then all is well */
    row = store_query_one(st, &err, "SELECT pg_backend_pid() AS pid", "");
    pid = row ? json_integer_value(json_object_get(row, "pid")) : 0;
    json_decref(row);
    CHECK_INT_EQ(store_begin(st, true, &err), 0);
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%lld)", pid);
    CHECK_INT_EQ(admin_sql(sql), 0);
    CHECK_INT_EQ(store_exec(st, &err, "INSERT INTO t (id, n) VALUES ('lost', 1)", ""), -1);
    CHECK_INT_EQ(err.code, NUBO_E_UNAVAILABLE);
    CHECK_INT_EQ(store_exec(st, &err, "INSERT INTO t (id, n) VALUES ('lost2', 1)", ""), -1);
    CHECK_INT_EQ(err.code, NUBO_E_UNAVAILABLE);
    CHECK_INT_EQ(store_commit(st, &err), -1);
    CHECK_INT_EQ(err.code, NUBO_E_UNAVAILABLE);
    CHECK_INT_EQ(store_exec(st, &err, "INSERT INTO t (id, n) VALUES ('after', 1)", ""), 1);
}

/* A URL naming no server fails at open with a message, not a crash. */
static void test_unreachable(void)
{
    struct nubo_err err;
    char url[700];
    snprintf(url, sizeof(url),
             "postgresql://who:pw1@/nubo?host=%s/nowhere&connect_timeout=2&password=pw2", dir);
    struct store *st = store_open(url, &err);
    CHECK(st == NULL);
    CHECK_INT_EQ(err.code, NUBO_E_UNAVAILABLE);
    CHECK_STR_HAS(err.msg, "unreachable");
    CHECK(strstr(err.msg, "pw1") == NULL && strstr(err.msg, "pw2") == NULL);
    store_close(st);
}

CHECK_MAIN_FIXTURE(setup, teardown, TEST(test_migrations), TEST(test_types), TEST(test_errors),
                   TEST(test_pg_disk_full), TEST(test_write_lock), TEST(test_writers_take_turns),
                   TEST(test_sqlite_sync), TEST(test_read_snapshot), TEST(test_pages),
                   TEST(test_connection_lost), TEST(test_unreachable))
