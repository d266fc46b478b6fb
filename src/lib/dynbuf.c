/*
 * dynbuf.c - see dynbuf.h.
 *
 * Growth doubles the allocation (from DYNBUF_FIRST), clamped to cap + 1 so
 * that a buffer never allocates more than its cap allows; every size sum is
 * checked against the cap before it is computed, so none can overflow.
 */
#include "lib/dynbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DYNBUF_FIRST 256

void dynbuf_init(struct dynbuf *b, size_t cap)
{
    memset(b, 0, sizeof(*b));
    b->cap = cap < SIZE_MAX ? cap : SIZE_MAX - 1; /* room for the NUL */
}

static int fail(struct dynbuf *b, int e)
{
    if (b->error == 0)
        b->error = e;
    errno = e;
    return -1;
}

/* Makes room for len more bytes and the NUL.  0, or -1 as dynbuf_add(). */
static int reserve(struct dynbuf *b, size_t len)
{
    if (b->error)
        return fail(b, b->error);
    /* b->len + len <= b->cap, written so that it cannot overflow; and
     * room for the NUL (a DYNBUF_INIT(SIZE_MAX) buffer stops one short). */
    if (len > b->cap - b->len || b->len + len == SIZE_MAX)
        return fail(b, E2BIG);
    size_t need = b->len + len + 1;
    if (need <= b->alloc)
        return 0;
    size_t alloc = b->alloc ? b->alloc : DYNBUF_FIRST;
    while (alloc < need)
        alloc = alloc > SIZE_MAX / 2 ? need : alloc * 2;
    if (b->cap < SIZE_MAX && alloc - 1 > b->cap)
        alloc = b->cap + 1;
    char *p = realloc(b->p, alloc);
    if (p == NULL)
        return fail(b, ENOMEM);
    b->p = p;
    b->alloc = alloc;
    return 0;
}

int dynbuf_add(struct dynbuf *b, const void *data, size_t len)
{
    if (reserve(b, len) < 0)
        return -1;
    if (len)
        memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
    return 0;
}

int dynbuf_add_str(struct dynbuf *b, const char *s)
{
    return dynbuf_add(b, s, strlen(s));
}

int dynbuf_vprintf(struct dynbuf *b, const char *fmt, va_list ap)
{
    if (b->error)
        return fail(b, b->error);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return fail(b, EINVAL);
    if (reserve(b, (size_t)n) < 0)
        return -1;
    vsnprintf(b->p + b->len, b->alloc - b->len, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int dynbuf_printf(struct dynbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = dynbuf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

const char *dynbuf_str(const struct dynbuf *b)
{
    return b->p ? b->p : "";
}

char *dynbuf_ptr(struct dynbuf *b)
{
    return b->p;
}

size_t dynbuf_len(const struct dynbuf *b)
{
    return b->len;
}

size_t dynbuf_room(const struct dynbuf *b)
{
    return b->len < b->cap ? b->cap - b->len : 0;
}

int dynbuf_error(const struct dynbuf *b)
{
    return b->error;
}

int dynbuf_err_set(const struct dynbuf *b, const char *what, struct nubo_err *err)
{
    if (b->error == E2BIG)
        return nubo_err_set(err, NUBO_E_TOOLARGE, "%s is larger than %zu bytes", what, b->cap);
    return nubo_err_set(err, NUBO_E_INTERNAL, "out of memory building %s", what);
}

char *dynbuf_take(struct dynbuf *b, size_t *len)
{
    char *p = b->p;
    if (p == NULL) {
        p = malloc(1);
        if (p == NULL)
            abort(); /* as xmalloc: one byte */
        p[0] = '\0';
    }
    if (len)
        *len = b->len;
    size_t cap = b->cap;
    dynbuf_init(b, cap);
    return p;
}

void dynbuf_consume(struct dynbuf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->p, b->p + n, b->len - n);
        b->len -= n;
    }
    if (b->p)
        b->p[b->len] = '\0';
}

void dynbuf_reset(struct dynbuf *b)
{
    b->len = 0;
    b->error = 0;
    if (b->p)
        b->p[0] = '\0';
}

void dynbuf_free(struct dynbuf *b)
{
    if (b == NULL)
        return;
    free(b->p);
    dynbuf_init(b, b->cap);
}
