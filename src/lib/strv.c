/*
 * strv.c - see strv.h.
 */
#include "lib/strv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/util.h"

/* Makes room for one more string and the NULL. */
static void grow(struct strv *s)
{
    if (s->n + 2 <= s->alloc)
        return;
    if (s->alloc > (1 << 28))
        abort(); /* a command line of 2^28 words is a bug */
    s->alloc = s->alloc ? s->alloc * 2 : 32;
    char **v = realloc(s->v, (size_t)s->alloc * sizeof(char *));
    if (v == NULL)
        abort();
    s->v = v;
}

void strv_add(struct strv *s, const char *str)
{
    grow(s);
    s->v[s->n++] = xstrdup(str);
    s->v[s->n] = NULL;
}

void strv_push(struct strv *s, const char *fmt, ...)
{
    grow(s);
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s->v[s->n], fmt, ap) < 0)
        abort();
    va_end(ap);
    s->n++;
    s->v[s->n] = NULL;
}

size_t strv_len(const struct strv *s)
{
    return (size_t)s->n;
}

void strv_free(struct strv *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = s->alloc = 0;
}
