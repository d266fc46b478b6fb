/*
 * valid.h - validation of user-supplied names, ids and sizes.
 *
 * Everything that comes from a request and may reach a command line, a file
 * name or a log line passes through here first (ARCHITECTURE.md, principle 5).
 */
#ifndef NUBO_VALID_H
#define NUBO_VALID_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

#define VALID_NAME_MAX 63

/* A resource name: 1..63 characters, [A-Za-z0-9] first, then [A-Za-z0-9._-].
 * No shell metacharacters, no slashes, no leading dot or dash.  On failure
 * fills err (NUBO_E_INVALID) naming `what` ("VM name"...). */
int valid_name(const char *s, const char *what, struct nubo_err *err);

/* A hostname label per RFC 1123: 1..63 of [a-z0-9-], no leading/trailing '-'. */
int valid_hostname(const char *s, struct nubo_err *err);

/* Parses a size with an optional binary unit: "512", "512M", "512MiB",
 * "2G", "2GiB", "1T".  A bare number is taken in `default_unit` bytes
 * (e.g. 1<<20 for MiB).  The result in bytes must be in [min, max].
 * Returns 0 and sets *out, or -1 with err naming `what`. */
int valid_size(const char *s, uint64_t default_unit, uint64_t min, uint64_t max, const char *what,
               uint64_t *out, struct nubo_err *err);

/* Parses a whole decimal integer in [min, max] (strtoll with full
 * checking: no trailing junk, no overflow, no empty string). */
int valid_int(const char *s, long long min, long long max, const char *what, long long *out,
              struct nubo_err *err);

/* True when s[0..n) is 1..max characters of [A-Za-z0-9._-]: the
 * alphabet of ids, names, request ids and path parameters. */
bool valid_token(const char *s, size_t n, size_t max);

/* Parses an overcommit ratio: a number in (0, 64]. */
int valid_ratio(const char *s, const char *what, double *out, struct nubo_err *err);

/* True when s looks like a nubo id made by id_new(): lowercase hex and '-'
 * only, 36 characters (a UUID). */
bool valid_is_uuid(const char *s);

#endif
