/*
 * valid.c - see valid.h.
 */
#include "lib/valid.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int valid_name(const char *s, const char *what, struct nubo_err *err)
{
    if (s == NULL || *s == '\0')
        return nubo_err_set(err, NUBO_E_INVALID, "%s must not be empty", what);
    size_t n = strlen(s);
    if (n > VALID_NAME_MAX)
        return nubo_err_set(err, NUBO_E_INVALID, "%s is %zu characters long; the limit is %d", what,
                            n, VALID_NAME_MAX);
    if (!is_alnum(s[0]))
        return nubo_err_set(err, NUBO_E_INVALID, "%s must start with a letter or a digit", what);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!is_alnum(c) && c != '.' && c != '_' && c != '-')
            return nubo_err_set(err, NUBO_E_INVALID,
                                "%s may contain only letters, digits, '.', '_' and '-' "
                                "(found a forbidden character at position %zu)",
                                what, i + 1);
    }
    return 0;
}

int valid_hostname(const char *s, struct nubo_err *err)
{
    if (s == NULL || *s == '\0')
        return nubo_err_set(err, NUBO_E_INVALID, "hostname must not be empty");
    size_t n = strlen(s);
    if (n > 63)
        return nubo_err_set(err, NUBO_E_INVALID, "hostname is longer than 63 characters");
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        if (!ok)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "hostname may contain only lowercase letters, digits and '-'");
    }
    if (s[0] == '-' || s[n - 1] == '-')
        return nubo_err_set(err, NUBO_E_INVALID, "hostname must not start or end with '-'");
    return 0;
}

int valid_int(const char *s, long long min, long long max, const char *what, long long *out,
              struct nubo_err *err)
{
    if (s == NULL || *s == '\0')
        return nubo_err_set(err, NUBO_E_INVALID, "%s: expected a number, got nothing", what);
    if (!isdigit((unsigned char)s[0]) && s[0] != '-')
        return nubo_err_set(err, NUBO_E_INVALID, "%s: '%.40s' is not a number", what, s);
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE || end == s || *end != '\0')
        return nubo_err_set(err, NUBO_E_INVALID, "%s: '%.40s' is not a whole number", what, s);
    if (v < min || v > max)
        return nubo_err_set(err, NUBO_E_INVALID, "%s must be between %lld and %lld (got %lld)",
                            what, min, max, v);
    *out = v;
    return 0;
}

int valid_size(const char *s, uint64_t default_unit, uint64_t min, uint64_t max, const char *what,
               uint64_t *out, struct nubo_err *err)
{
    if (s == NULL || *s == '\0')
        return nubo_err_set(err, NUBO_E_INVALID, "%s: expected a size such as 512M or 2G", what);
    if (!isdigit((unsigned char)s[0]))
        return nubo_err_set(err, NUBO_E_INVALID,
                            "%s: '%.40s' is not a size (use a number with an optional unit: "
                            "K, M, G, T, e.g. 512M)",
                            what, s);
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return nubo_err_set(err, NUBO_E_INVALID, "%s: '%.40s' is too large", what, s);
    uint64_t unit = default_unit;
    if (*end != '\0') {
        static const struct {
            const char *suffix;
            uint64_t mult;
        } units[] = {
            {"B", 1},
            {"K", 1ULL << 10},
            {"KiB", 1ULL << 10},
            {"M", 1ULL << 20},
            {"MiB", 1ULL << 20},
            {"G", 1ULL << 30},
            {"GiB", 1ULL << 30},
            {"T", 1ULL << 40},
            {"TiB", 1ULL << 40},
        };
        unit = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (strcmp(end, units[i].suffix) == 0) {
                unit = units[i].mult;
                break;
            }
        }
        if (unit == 0)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "%s: unknown unit in '%.40s' (use K, M, G or T)", what, s);
    }
    if (unit != 0 && v > UINT64_MAX / unit)
        return nubo_err_set(err, NUBO_E_INVALID, "%s: '%.40s' is too large", what, s);
    uint64_t bytes = v * unit;
    if (bytes < min || bytes > max)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "%s must be between %llu MiB and %llu MiB (got '%.40s')", what,
                            (unsigned long long)(min >> 20), (unsigned long long)(max >> 20), s);
    *out = bytes;
    return 0;
}

bool valid_token(const char *s, size_t n, size_t max)
{
    if (s == NULL || n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

int valid_ratio(const char *s, const char *what, double *out, struct nubo_err *err)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !(v > 0) || v > 64)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "%s must be a number above 0 and at most 64 "
                            "(got '%.40s')",
                            what, s);
    *out = v;
    return 0;
}

bool valid_is_uuid(const char *s)
{
    if (s == NULL || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}
