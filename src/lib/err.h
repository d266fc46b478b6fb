/*
 * err.h - the one error convention of nubo.
 *
 * Functions that can fail return 0 / -1 (or NULL) and fill a struct nubo_err:
 * a code that maps onto an HTTP status, and a message written for the user
 * ("what went wrong and what to do").  Raw system detail (errno strings from
 * QEMU, SQL...) goes to the debug log, not into the message.  Only the API
 * layer turns a nubo_err into problem+json.
 */
#ifndef NUBO_ERR_H
#define NUBO_ERR_H

#include <stddef.h>

enum nubo_errcode {
    NUBO_OK = 0,
    NUBO_E_INVALID,      /* 400: the request is malformed or a value is out of range */
    NUBO_E_UNAUTHORIZED, /* 401: no or bad credentials */
    NUBO_E_FORBIDDEN,    /* 403 */
    NUBO_E_NOTFOUND,     /* 404 */
    NUBO_E_METHOD,       /* 405: the path exists, the method does not */
    NUBO_E_CONFLICT,     /* 409: the resource is in a state that forbids this */
    NUBO_E_TOOLARGE,     /* 413 */
    NUBO_E_UNSUPPORTED,  /* 415 */
    NUBO_E_CAPACITY,     /* 507: not enough vCPUs / memory / disk */
    NUBO_E_INTERNAL,     /* 500 */
    NUBO_E_UNAVAILABLE,  /* 503: a dependency (QEMU, a program) failed */
    NUBO_E_TIMEOUT,      /* 504 */
    NUBO_E_TOOMANY,      /* 429: too many attempts; retry later */
    NUBO_E_STORAGE_FULL, /* 507: the controller's own disk is full (the store
                          * refused a write: SQLite's SQLITE_FULL or ENOSPC,
                          * PostgreSQL's SQLSTATE 53100); nothing changed */
};

struct nubo_err {
    enum nubo_errcode code;
    char msg[512];
};

/* Sets code and a printf-style message; always returns -1 so callers can
 * write `return nubo_err_set(err, ...)`.  err may be NULL.  The arguments
 * may quote err->msg itself, to put context around an earlier error:
 *     return nubo_err_set(err, NUBO_E_INVALID, "cannot read %s: %s", path, err->msg); */
int nubo_err_set(struct nubo_err *err, enum nubo_errcode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears err to NUBO_OK and an empty message. */
void nubo_err_clear(struct nubo_err *err);

/* HTTP status for a code (500 for unknown codes). */
int nubo_err_http_status(enum nubo_errcode code);

/* Short, stable title for a code ("Not Found"...), as problem+json wants. */
const char *nubo_err_title(enum nubo_errcode code);

/* Stable machine-readable slug for a code ("not-found"...). */
const char *nubo_err_slug(enum nubo_errcode code);

#endif
