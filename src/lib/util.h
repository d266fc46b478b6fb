/*
 * util.h - small shared helpers: ids, clocks, allocation.
 */
#ifndef NUBO_UTIL_H
#define NUBO_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Writes a random (version 4) UUID, lowercase, into out (37 bytes). */
void id_new(char out[37]);

/* Milliseconds of the monotonic clock: for durations and timeouts. */
int64_t clock_mono_ms(void);

/* ts = now on the monotonic clock + ms: the deadline of a
 * pthread_cond_timedwait() on a condition variable whose clock attribute
 * is CLOCK_MONOTONIC. */
struct timespec;
void clock_mono_deadline(struct timespec *ts, int64_t ms);

/* Formats a UTC wall-clock time (seconds since the epoch) as RFC 3339,
 * e.g. "2026-11-26T15:04:51Z", into out (at least 21 bytes). */
void time_format_utc(time_t t, char out[32]);

/* malloc/calloc/strdup that abort on exhaustion: a daemon cannot do anything
 * useful without memory, and unchecked NULLs are worse than a clean abort. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);

/* Copies src into dst of size n, always NUL-terminated.  Returns -1 when src
 * did not fit (dst then holds a truncated copy). */
int str_copy(char *dst, size_t n, const char *src);

#endif
