/*
 * store_int.h - what a backend of store.h implements (internal to src/store).
 *
 * store.c owns the public functions: it turns their variadic parameters
 * into an array, picks the backend from the target given to store_open()
 * (a postgresql:// or postgres:// URL: store_pg.c; anything else is a
 * SQLite file: store_sqlite.c), runs the migrations and builds list pages.
 * A backend only opens connections, runs SQL and converts rows to JSON.
 */
#ifndef NUBO_STORE_INT_H
#define NUBO_STORE_INT_H

#include <jansson.h>
#include <stdbool.h>

#include "lib/err.h"
#include "store/store.h"

/* One bound parameter: type is 's', 'i' or 'd' as in store.h. */
struct store_param {
    char type;
    const char *s; /* 's'; NULL binds SQL NULL */
    long long i;   /* 'i' */
    double d;      /* 'd' */
};

/* A backend.  h is the backend's own handle, made by open().  Every
 * function works on the calling thread's connection. */
struct store_backend {
    const char *name; /* "sqlite", "postgresql" */
    bool pg;          /* picks store_migration.sql_pg where one is given */
    void *(*open)(const char *target, struct nubo_err *err);
    void (*close)(void *h);
    int (*begin)(void *h, bool write, struct nubo_err *err);
    int (*commit)(void *h, struct nubo_err *err);
    void (*rollback)(void *h);
    /* Rows (new reference; at most max_rows when > 0) or NULL with err. */
    json_t *(*query)(void *h, struct nubo_err *err, int max_rows, const char *sql,
                     const struct store_param *p, int n);
    /* Rows changed, or -1 with err. */
    long long (*exec)(void *h, struct nubo_err *err, const char *sql, const struct store_param *p,
                      int n);
    int (*exec_script)(void *h, const char *sql, struct nubo_err *err);
    /* Around the migrations: before their write transaction begins, inside
     * it before the commit (a consistency check), after it ends. */
    int (*migrate_prepare)(void *h, struct nubo_err *err);
    int (*migrate_check)(void *h, struct nubo_err *err);
    void (*migrate_finish)(void *h);
    /* A full disk (store.h): state() and full_at_ms() are store_state()
     * and store_full_at_ms().  store_open() calls opened(), where given,
     * after the migrations succeeded, and open_read_only(), where given,
     * when they failed with NUBO_E_STORAGE_FULL: it returns 0 with the
     * schema's *version when the backend can serve reads regardless (then
     * store_open() succeeds), else -1 with err. */
    enum store_state (*state)(void *h);
    long long (*full_at_ms)(void *h);
    void (*opened)(void *h);
    int (*open_read_only)(void *h, int *version, struct nubo_err *err);
    /* The rows {version} of schema_version (new reference; empty for a
     * new database), read without writing anything, not even a new file
     * or a journal mode: store_inspect().  NULL with err. */
    json_t *(*versions_peek)(void *h, struct nubo_err *err);
};

struct store;

/* store_exec() with its parameters in an array (store_copy.c). */
long long store_exec_params(struct store *st, struct nubo_err *err, const char *sql,
                            const struct store_param *p, int n);

extern const struct store_backend store_sqlite_backend;
extern const struct store_backend store_pg_backend;

#endif
