/*
 * dynbuf.h - a growable byte buffer with a size cap and explicit ownership
 * transfer (curl's dynbuf, for nubo).
 *
 * Every buffer that grows from data nubo does not control (an HTTP answer,
 * a program's output, a file, a QMP stream) grows through one of these, so
 * that the size check and the overflow-safe growth are written once.  A
 * buffer is initialized with its cap, the most bytes it may ever hold
 * (without the terminating NUL, which it always keeps).  An add that would
 * pass the cap fails as a whole (nothing of it is added) and the failure is
 * sticky: later adds fail too, so a builder may add many pieces and check
 * dynbuf_error() once at the end.
 *
 *     struct dynbuf b;
 *     dynbuf_init(&b, 1 << 20);
 *     if (dynbuf_printf(&b, "%s=%d\n", k, v) < 0) ... errno is E2BIG or ENOMEM
 *     char *s = dynbuf_take(&b, &len);   (the caller owns s now)
 *     dynbuf_free(&b);
 *
 * Not thread-safe; a struct dynbuf may be zeroed and then dynbuf_init()ed,
 * or initialized with DYNBUF_INIT(cap).
 */
#ifndef NUBO_LIB_DYNBUF_H
#define NUBO_LIB_DYNBUF_H

#include <stdarg.h>
#include <stddef.h>

#include "lib/err.h"

struct dynbuf {
    char *p;      /* NULL until the first byte is added */
    size_t len;   /* bytes held, without the NUL */
    size_t alloc; /* bytes allocated at p */
    size_t cap;   /* the most bytes len may reach */
    int error;    /* 0, or the errno of the first failed add (sticky) */
};

#define DYNBUF_INIT(c)                                                                             \
    {                                                                                              \
        .p = NULL, .len = 0, .alloc = 0, .cap = (c), .error = 0                                    \
    }

/* Prepares b, empty, holding at most cap bytes.  Allocates nothing. */
void dynbuf_init(struct dynbuf *b, size_t cap);

/* Appends len bytes of data (len 0 is a no-op that still fails after an
 * earlier failure).  Returns 0, or -1 with errno E2BIG when the cap would
 * be passed, ENOMEM when memory ran out; b is then unchanged but marked
 * failed (see dynbuf_error()). */
int dynbuf_add(struct dynbuf *b, const void *data, size_t len);

/* dynbuf_add() of a NUL-terminated string, without its NUL. */
int dynbuf_add_str(struct dynbuf *b, const char *s);

/* Appends printf-formatted text; as dynbuf_add(), and EINVAL when the
 * format cannot be rendered. */
int dynbuf_printf(struct dynbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* dynbuf_printf() with a va_list (which it consumes). */
int dynbuf_vprintf(struct dynbuf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* The bytes held, NUL-terminated: a pointer into b ("" when empty, never
 * NULL), valid until the next call that changes b. */
const char *dynbuf_str(const struct dynbuf *b);

/* The bytes held, writable, or NULL when nothing was ever added. */
char *dynbuf_ptr(struct dynbuf *b);

/* Bytes held (without the NUL). */
size_t dynbuf_len(const struct dynbuf *b);

/* Bytes that may still be added before the cap. */
size_t dynbuf_room(const struct dynbuf *b);

/* 0, or the errno of the first add that failed since init/reset/take. */
int dynbuf_error(const struct dynbuf *b);

/* Fills err for a failed buffer: NUBO_E_TOOLARGE "<what> is larger than
 * N bytes" (E2BIG) or NUBO_E_INTERNAL (out of memory).  Returns -1. */
int dynbuf_err_set(const struct dynbuf *b, const char *what, struct nubo_err *err);

/* Hands the bytes over: returns them NUL-terminated, malloc'd (the caller
 * frees; "" allocated when empty, never NULL) with their length in *len
 * when len is not NULL, and leaves b empty with its cap and no error. */
char *dynbuf_take(struct dynbuf *b, size_t *len);

/* Removes the first n bytes (all of them when n >= len), keeping the rest
 * and the memory. */
void dynbuf_consume(struct dynbuf *b, size_t n);

/* Empties b (no bytes, no error), keeping its memory for the next adds. */
void dynbuf_reset(struct dynbuf *b);

/* Frees the memory of b (not b itself) and leaves it empty with its cap;
 * b may be zeroed.  NULL is fine. */
void dynbuf_free(struct dynbuf *b);

#endif
