/*
 * store.h - the controller's persistence: a small database interface.
 *
 * Services keep their SQL next to their logic and run it through this
 * interface.  Two backends implement it (store.c picks one from the target
 * given to store_open): SQLite (store_sqlite.c) in WAL mode, the default,
 * and PostgreSQL (store_pg.c, libpq), both one connection per thread.  SQL
 * written against this interface sticks to the common subset of SQLite and
 * PostgreSQL: '?' placeholders (the backend numbers them), TEXT / INTEGER /
 * REAL columns (INTEGER is 64-bit and REAL double on both: the PostgreSQL
 * backend reads them as BIGINT and DOUBLE PRECISION), row values,
 * INSERT ... ON CONFLICT, RETURNING, no SQLite-only functions (IFNULL,
 * scalar MAX(a, b), GROUP_CONCAT, datetime...), integers compared with
 * `<> 0` rather than used as booleans, columns named with AS.  A '?' whose
 * type SQL cannot infer (`? IS NULL`) is taken as TEXT.
 * docs/internals/scale-out.md tells more.
 *
 * Parameters are always bound, never formatted into SQL.  A type string
 * has one letter per parameter:
 *     s   const char *   (NULL binds SQL NULL)
 *     i   long long
 *     d   double
 * Rows come back as a JSON array of objects keyed by column name: INTEGER
 * becomes a JSON integer, REAL a real, TEXT a string, NULL null.
 *
 * Transactions are per thread: store_begin() ... store_commit() or
 * store_rollback().  A read transaction (write = false) sees one snapshot
 * and must only read.  A write transaction takes the write lock at once, so
 * check-then-claim sequences inside it (quotas, host capacity) are atomic
 * against every other writer (on PostgreSQL, of every nubod on the
 * database: an advisory lock held to the end of the transaction).  Outside
 * a transaction each statement commits by itself.
 *
 * A lost or unreachable database server is NUBO_E_UNAVAILABLE (503): the
 * next call connects again.
 *
 * The schema lives in schema.c with its migrations, applied by store_open().
 */
#ifndef NUBO_STORE_H
#define NUBO_STORE_H

#include <jansson.h>
#include <stdbool.h>

#include "lib/err.h"

struct store;

/* Opens the database at target and applies pending migrations: a
 * postgresql:// or postgres:// URL (libpq's syntax) names a PostgreSQL
 * database, which must exist; anything else is the path of a SQLite file,
 * created if needed.  Returns NULL with err on failure. */
struct store *store_open(const char *target, struct nubo_err *err);

/* SQLite only, before store_open(): sync the -wal at every commit
 * (synchronous=FULL: an answered write survives power loss) instead of at
 * checkpoints (NORMAL, the default: it survives a crash of nubod, not of
 * the machine).  See store_sqlite.c. */
void store_sqlite_sync_full(bool full);

/* Whether target names a PostgreSQL database (see store_open). */
bool store_target_is_pg(const char *target);

/* "sqlite" or "postgresql". */
const char *store_backend_name(struct store *st);

/* Closes every connection of every thread.  NULL is fine.  No thread may
 * use the store afterwards. */
void store_close(struct store *st);

/* The schema version after migrations. */
int store_schema_version(struct store *st);

/* The newest schema version this build knows (its last migration). */
int store_schema_latest(void);

/* What store_open() would find at target, changing nothing (a SQLite file
 * is read read-only and not created; nubod --check-upgrade): the schema
 * versions the database holds, as rows {version} in order (a new
 * reference; empty for a new database), or NULL with err when it cannot
 * be read. */
json_t *store_inspect(const char *target, struct nubo_err *err);

/* Whether the rows of store_inspect() hold version v: a migration is
 * pending when its version is not there (migrations merged from parallel
 * branches may have been applied out of order: 21 without 20). */
bool store_schema_has(const json_t *applied, int v);

/* Checks the rows of store_inspect() against this build's migrations:
 * 0 with *current = the highest version held (0 for none), or -1 with err
 * (NUBO_E_CONFLICT) when the database holds a version this build does not
 * know - a newer one (store_schema_too_new) or another build's - which
 * store_open() refuses too. */
int store_schema_check(const json_t *applied, int *current, struct nubo_err *err);

/* Sets err to the refusal of a database whose schema version current is
 * newer than store_schema_latest() (written by a newer nubo), naming both
 * versions and what to do; store_open() refuses such a database so.
 * Returns -1. */
int store_schema_too_new(int current, struct nubo_err *err);

/* Begins a transaction on the calling thread's connection; write = true
 * takes the write lock now.  Nested calls are an error. */
int store_begin(struct store *st, bool write, struct nubo_err *err);
int store_commit(struct store *st, struct nubo_err *err);
/* Rolls back the calling thread's transaction, if any. */
void store_rollback(struct store *st);

/* Runs a query; returns its rows (new reference; an empty array when none)
 * or NULL with err. */
json_t *store_query(struct store *st, struct nubo_err *err, const char *sql, const char *types,
                    ...);

/* Runs a query and returns its first row (new reference), or NULL: then
 * err->code is NUBO_E_NOTFOUND when there was no row (with a generic
 * message the caller should replace), another code on failure. */
json_t *store_query_one(struct store *st, struct nubo_err *err, const char *sql, const char *types,
                        ...);

/* Runs a statement; returns the number of rows it changed, or -1 with err.
 * A UNIQUE or PRIMARY KEY violation gives NUBO_E_CONFLICT, another
 * constraint NUBO_E_INVALID (callers rewrite the message for users). */
long long store_exec(struct store *st, struct nubo_err *err, const char *sql, const char *types,
                     ...);

/* Runs a script of several statements without parameters (migrations). */
int store_exec_script(struct store *st, const char *sql, struct nubo_err *err);

/* ---- a full disk ----------------------------------------------------
 *
 * A write the database cannot make for lack of space fails with
 * NUBO_E_STORAGE_FULL (HTTP 507, "storage-full"), with a message that says
 * nothing changed and that an operator must free space; every backend maps
 * its own signal onto that one code: SQLite's SQLITE_FULL and I/O errors
 * with ENOSPC/EDQUOT, PostgreSQL's SQLSTATE 53100 (disk_full).  Reads go
 * on working.  A backend that cannot even start its write path on a full
 * disk (SQLite: WAL mode needs its -shm file) opens read-only instead:
 * store_open() succeeds, writes fail with NUBO_E_STORAGE_FULL before they
 * reach the database, and the store turns read-write by itself on the
 * first write or store_state() after space returns.
 */
enum store_state {
    STORE_OK,        /* writes work (as far as the last one or a probe tells) */
    STORE_FULL,      /* the last write, or a probe, was refused for lack of space */
    STORE_READ_ONLY, /* opened read-only: the disk was full at store_open() */
};

/* The store's state; when not STORE_OK, first probes whether space came
 * back (a tiny write, at most once a second), so it recovers even when
 * nothing else writes.  For /v1/health. */
enum store_state store_state(struct store *st);

/* clock_mono_ms() of the last write refused for lack of space, 0 when
 * none was.  Writes that failed meanwhile include hosts' heartbeats: the
 * controller must not take their silence for hosts going down. */
long long store_full_at_ms(struct store *st);

/* ---- pages of lists -------------------------------------------------
 *
 * Every list is ordered by (created_at, id) and read a page at a time,
 * keyset style: a page is the first `limit` rows after the marker, the id
 * of the last row of the previous page.  A list function
 *   1. fills a struct store_page with the caller's marker and limit,
 *   2. calls store_page_start() with SQL that finds the marker's row among
 *      the rows this list may show (scoped like the list, so that another
 *      project's id is no marker),
 *   3. calls store_page_query() with its SELECT and filters; it gets up to
 *      limit + 1 rows, the extra one telling that another page follows,
 * and the API cuts the rows with store_page_wrap().
 */
struct store_page {
    const char *marker; /* the previous page's last id; NULL: the first page */
    int limit;          /* rows on a page */
    char after[32];     /* the marker's created_at ("" on the first page) */
    bool desc;          /* newest first: the rows before the marker, descending */
};

/* Finds where the page after pg->marker starts: runs sql, which selects
 * the created_at of the marker's row (the caller binds the marker), and
 * keeps it in pg->after.  Without a marker nothing runs.  A marker that
 * names no row is NUBO_E_INVALID with a message for users.  Returns 0, or
 * -1 with err. */
int store_page_start(struct store *st, struct store_page *pg, struct nubo_err *err, const char *sql,
                     const char *types, ...);

/* Runs one page of a list: sql is a SELECT up to and including its WHERE
 * conditions, with the parameters in types; this appends
 *   AND (<order>) > (?, ?) ORDER BY <order> LIMIT ?
 * where order names the two sort columns, e.g. "i.created_at, i.id" (NULL
 * for "created_at, id"), and binds pg->after, the marker and
 * pg->limit + 1 after the caller's parameters.  With pg->desc it appends
 *   AND (<order>) < (?, ?) ORDER BY <col1> DESC, <col2> DESC LIMIT ?
 * (without the comparison and its two parameters on the first page).
 * Returns the rows (new reference) or NULL with err. */
json_t *store_page_query(struct store *st, const struct store_page *pg, const char *order,
                         struct nubo_err *err, const char *sql, const char *types, ...);

/* Cuts rows (the reference is stolen) to limit and wraps them as
 * {key: rows, "next_marker": the id_key of the last row when more rows
 * follow, else null}.  Returns a new reference. */
json_t *store_page_wrap(const char *key, json_t *rows, int limit, const char *id_key);

/* ---- copying (store_copy.c) ------------------------------------------ */

/* Copies every row of from into to, which must be at the same schema
 * version and hold no rows (NUBO_E_CONFLICT otherwise), in one transaction
 * on to; checks each table by its row count and the SHA-256 of its rows
 * read back from both.  Nothing may write either store meanwhile.  Returns
 * [{table, rows, sha256}] (new reference) or NULL with err, to unchanged. */
json_t *store_copy(struct store *from, struct store *to, struct nubo_err *err);

/* ---- schema (schema.c) ----------------------------------------------- */

/* sql runs on both backends; sql_pg, where given, replaces it on
 * PostgreSQL (for the rare statement with no common form).  On PostgreSQL
 * the column types INTEGER, REAL and INTEGER PRIMARY KEY [AUTOINCREMENT]
 * are read as BIGINT, DOUBLE PRECISION and BIGSERIAL PRIMARY KEY. */
struct store_migration {
    int version;
    const char *sql;
    const char *sql_pg;
};

/* The migrations, in version order, ending with {0, NULL}. */
extern const struct store_migration store_migrations[];

/* States of a migrations row (schema_mobility.c) in which the target host
 * holds (or is being given) a copy of the instance, and those in which a
 * cold migration or resize keeps the source's copy: both hosts keep the
 * VM, its ports and its claim while these last. */
#define COMPUTE_MIGRATION_ACTIVE "('preparing', 'running', 'verifying', 'confirming', 'reverting')"
#define COMPUTE_COLD_KEEPS_SOURCE "('verifying', 'confirming', 'reverting')"

struct dynbuf;

/* Appends to out a one-line summary of migration m: the head of each of
 * its statements ("CREATE TABLE volumes; ALTER TABLE hosts ADD COLUMN
 * epoch"), separated by "; ", from its PostgreSQL SQL when pg. */
void store_migration_summary(const struct store_migration *m, bool pg, struct dynbuf *out);

#endif
