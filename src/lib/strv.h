/*
 * strv.h - a NULL-terminated vector of malloc'd strings: argv arrays built
 * piece by piece (QEMU's command line, ip/bridge invocations) for
 * spawn_run() / spawn_detached().
 *
 *     struct strv a = {0};
 *     strv_add(&a, "ip");
 *     strv_push(&a, "vxlan%u", vni);
 *     spawn_run(a.v, ...);
 *     strv_free(&a);
 *
 * After the first add, a.v is always NULL-terminated (a.v[a.n] == NULL).
 * Allocation failures abort, as xmalloc does.
 */
#ifndef NUBO_LIB_STRV_H
#define NUBO_LIB_STRV_H

#include <stddef.h>

struct strv {
    char **v; /* NULL while empty, else n strings and a NULL */
    int n;
    int alloc;
};

/* Appends a copy of s. */
void strv_add(struct strv *s, const char *str);

/* Appends a printf-formatted string. */
void strv_push(struct strv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Number of strings. */
size_t strv_len(const struct strv *s);

/* Frees the strings and the vector and leaves s empty (a zeroed s is fine). */
void strv_free(struct strv *s);

#endif
