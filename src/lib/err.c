/*
 * err.c - struct nubo_err helpers; see err.h for the convention.
 */
#include "lib/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int nubo_err_set(struct nubo_err *err, enum nubo_errcode code, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    /* formatted aside first: an argument may be err->msg */
    char msg[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    err->code = code;
    memcpy(err->msg, msg, sizeof(msg));
    return -1;
}

void nubo_err_clear(struct nubo_err *err)
{
    if (err == NULL)
        return;
    err->code = NUBO_OK;
    err->msg[0] = '\0';
}

static const struct {
    int status;
    const char *title;
    const char *slug;
} errtab[] = {
    [NUBO_OK] = {200, "OK", "ok"},
    [NUBO_E_INVALID] = {400, "Bad Request", "invalid"},
    [NUBO_E_UNAUTHORIZED] = {401, "Unauthorized", "unauthorized"},
    [NUBO_E_FORBIDDEN] = {403, "Forbidden", "forbidden"},
    [NUBO_E_NOTFOUND] = {404, "Not Found", "not-found"},
    [NUBO_E_METHOD] = {405, "Method Not Allowed", "method-not-allowed"},
    [NUBO_E_CONFLICT] = {409, "Conflict", "conflict"},
    [NUBO_E_TOOLARGE] = {413, "Content Too Large", "too-large"},
    [NUBO_E_UNSUPPORTED] = {415, "Unsupported Media Type", "unsupported-media-type"},
    [NUBO_E_CAPACITY] = {507, "Insufficient Capacity", "insufficient-capacity"},
    [NUBO_E_INTERNAL] = {500, "Internal Server Error", "internal"},
    [NUBO_E_UNAVAILABLE] = {503, "Service Unavailable", "unavailable"},
    [NUBO_E_TIMEOUT] = {504, "Timeout", "timeout"},
    [NUBO_E_TOOMANY] = {429, "Too Many Requests", "too-many-requests"},
    [NUBO_E_STORAGE_FULL] = {507, "Insufficient Storage", "storage-full"},
};

int nubo_err_http_status(enum nubo_errcode code)
{
    if ((size_t)code >= sizeof(errtab) / sizeof(errtab[0]))
        return 500;
    return errtab[code].status;
}

const char *nubo_err_title(enum nubo_errcode code)
{
    if ((size_t)code >= sizeof(errtab) / sizeof(errtab[0]))
        return "Internal Server Error";
    return errtab[code].title;
}

const char *nubo_err_slug(enum nubo_errcode code)
{
    if ((size_t)code >= sizeof(errtab) / sizeof(errtab[0]))
        return "internal";
    return errtab[code].slug;
}
