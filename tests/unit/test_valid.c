/*
 * test_valid.c - unit tests of src/lib/valid.c: names, hostnames, sizes,
 * integers and ids, the gate every user-supplied value passes.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "lib/util.h"
#include "lib/valid.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)
#define TIB (1ULL << 40)

/* valid_name accepts s; on failure shows the message. */
static bool name_ok(const char *s)
{
    struct nubo_err err;
    nubo_err_clear(&err);
    int r = valid_name(s, "VM name", &err);
    if (r == 0)
        return err.code == NUBO_OK;
    CHECK_INT_EQ(r, -1);
    CHECK_INT_EQ(err.code, NUBO_E_INVALID);
    CHECK_STR_HAS(err.msg, "VM name");
    return false;
}

static bool hostname_ok(const char *s)
{
    struct nubo_err err;
    nubo_err_clear(&err);
    if (valid_hostname(s, &err) == 0)
        return true;
    CHECK_INT_EQ(err.code, NUBO_E_INVALID);
    CHECK_STR_HAS(err.msg, "hostname");
    return false;
}

/* Runs valid_size with a MiB default unit and bounds [min, max]; returns
 * the result, with *out set to UINT64_MAX on failure. */
static int size_parse(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    struct nubo_err err;
    nubo_err_clear(&err);
    *out = UINT64_MAX;
    int r = valid_size(s, MIB, min, max, "'memory'", out, &err);
    if (r < 0) {
        CHECK_INT_EQ(r, -1);
        CHECK_INT_EQ(err.code, NUBO_E_INVALID);
        CHECK_STR_HAS(err.msg, "'memory'");
        CHECK(*out == UINT64_MAX); /* untouched on failure */
    }
    return r;
}

/* ------------------------------------------------------------- names */

static void test_name_good(void)
{
    char max[VALID_NAME_MAX + 1];
    memset(max, 'a', VALID_NAME_MAX);
    max[VALID_NAME_MAX] = '\0';
    CHECK(name_ok("web-1"));
    CHECK(name_ok("a"));
    CHECK(name_ok("7"));
    CHECK(name_ok("Web_Server.2-b"));
    CHECK(name_ok(max)); /* 63 characters */
}

static void test_name_bad_length(void)
{
    char long_name[VALID_NAME_MAX + 2];
    memset(long_name, 'a', VALID_NAME_MAX + 1);
    long_name[VALID_NAME_MAX + 1] = '\0';
    CHECK(!name_ok(""));
    CHECK(!name_ok(NULL));
    CHECK(!name_ok(long_name)); /* 64 characters */

    struct nubo_err err;
    valid_name(long_name, "VM name", &err);
    CHECK_STR_HAS(err.msg, "64");
}

static void test_name_bad_start(void)
{
    CHECK(!name_ok(".hidden"));
    CHECK(!name_ok(".."));
    CHECK(!name_ok("-rf"));
    CHECK(!name_ok("_x"));
}

static void test_name_metacharacters(void)
{
    static const char *bad[] = {
        "a;reboot", "$(x)", "a$(x)", "a`id`", "a b", "a/b", "../etc", "a\nb", "a\tb",
        "a|b",      "a&b",  "a>b",   "a<b",   "a*",  "a?",  "a'b",    "a\"b", "a\\b",
        "a,b",      "a=b",  "a:b",   "a%s",   "a~",  "a!",  "a{b}",   "a#",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (!CHECK(!name_ok(bad[i])))
            fprintf(stderr, "    accepted: \"%s\"\n", bad[i]);
    }
}

static void test_name_unicode(void)
{
    CHECK(!name_ok("w\xc3\xa9"
                   "b"));                 /* "wéb" in UTF-8 */
    CHECK(!name_ok("\xc3\xa9t\xc3\xa9")); /* starts with a non-ASCII byte */
    CHECK(!name_ok("a\xe2\x80\x8b"
                   "b")); /* zero-width space */
    CHECK(!name_ok("web\xef\xbc\x9b"
                   "x")); /* fullwidth semicolon */
}

static void test_name_error_position(void)
{
    struct nubo_err err;
    nubo_err_clear(&err);
    CHECK_INT_EQ(valid_name("abc;d", "image name", &err), -1);
    CHECK_STR_HAS(err.msg, "image name");
    CHECK_STR_HAS(err.msg, "position 4");
}

/* --------------------------------------------------------- hostnames */

static void test_hostname(void)
{
    char h63[64], h64[65];
    memset(h63, 'h', 63);
    h63[63] = '\0';
    memset(h64, 'h', 64);
    h64[64] = '\0';
    CHECK(hostname_ok("web-1"));
    CHECK(hostname_ok("a"));
    CHECK(hostname_ok("0"));
    CHECK(hostname_ok("a-b-c9"));
    CHECK(hostname_ok(h63));
    CHECK(!hostname_ok(h64));
    CHECK(!hostname_ok(""));
    CHECK(!hostname_ok(NULL));
    CHECK(!hostname_ok("-web"));
    CHECK(!hostname_ok("web-"));
    CHECK(!hostname_ok("Web"));
    CHECK(!hostname_ok("a.b"));
    CHECK(!hostname_ok("a_b"));
    CHECK(!hostname_ok("a b"));
    CHECK(!hostname_ok("a,b"));
    CHECK(!hostname_ok("a;b"));
    CHECK(!hostname_ok("a\nb"));
    CHECK(!hostname_ok("h\xc3\xa9"));
}

/* ------------------------------------------------------------- sizes */

static void test_size_units(void)
{
    uint64_t v;
    CHECK_INT_EQ(size_parse("512", 0, UINT64_MAX, &v), 0);
    CHECK(v == 512 * MIB); /* bare number: default unit */
    CHECK_INT_EQ(size_parse("512M", 0, UINT64_MAX, &v), 0);
    CHECK(v == 512 * MIB);
    CHECK_INT_EQ(size_parse("512MiB", 0, UINT64_MAX, &v), 0);
    CHECK(v == 512 * MIB);
    CHECK_INT_EQ(size_parse("2G", 0, UINT64_MAX, &v), 0);
    CHECK(v == 2 * GIB);
    CHECK_INT_EQ(size_parse("2GiB", 0, UINT64_MAX, &v), 0);
    CHECK(v == 2 * GIB);
    CHECK_INT_EQ(size_parse("1T", 0, UINT64_MAX, &v), 0);
    CHECK(v == TIB);
    CHECK_INT_EQ(size_parse("3TiB", 0, UINT64_MAX, &v), 0);
    CHECK(v == 3 * TIB);
    CHECK_INT_EQ(size_parse("4K", 0, UINT64_MAX, &v), 0);
    CHECK(v == 4096);
    CHECK_INT_EQ(size_parse("4KiB", 0, UINT64_MAX, &v), 0);
    CHECK(v == 4096);
    CHECK_INT_EQ(size_parse("100B", 0, UINT64_MAX, &v), 0);
    CHECK(v == 100);
    CHECK_INT_EQ(size_parse("0", 0, UINT64_MAX, &v), 0);
    CHECK(v == 0);

    /* default unit other than MiB */
    struct nubo_err err;
    CHECK_INT_EQ(valid_size("10", GIB, 0, UINT64_MAX, "disk", &v, &err), 0);
    CHECK(v == 10 * GIB);
}

static void test_size_malformed(void)
{
    static const char *bad[] = {"",  "-1",   "12X",  "12m",  "12 M", " 12", "+12",
                                "M", "1.5G", "0x10", "12GB", "2G ",  "1e3", "12MiBx"};
    uint64_t v;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (!CHECK_INT_EQ(size_parse(bad[i], 0, UINT64_MAX, &v), -1))
            fprintf(stderr, "    accepted: \"%s\" as %llu\n", bad[i], (unsigned long long)v);
    }
    struct nubo_err err;
    CHECK_INT_EQ(valid_size(NULL, MIB, 0, UINT64_MAX, "x", &v, &err), -1);
    CHECK_INT_EQ(valid_size("12X", MIB, 0, UINT64_MAX, "x", &v, &err), -1);
    CHECK_STR_HAS(err.msg, "unit");
}

static void test_size_overflow(void)
{
    uint64_t v;
    struct nubo_err err;
    /* does not fit in 64 bits as a number */
    CHECK_INT_EQ(size_parse("99999999999999999999G", 0, UINT64_MAX, &v), -1);
    CHECK_INT_EQ(valid_size("99999999999999999999G", MIB, 0, UINT64_MAX, "x", &v, &err), -1);
    CHECK_STR_HAS(err.msg, "too large");
    /* fits as a number, overflows once multiplied: 2^34 GiB = 2^64 bytes */
    CHECK_INT_EQ(size_parse("17179869184G", 0, UINT64_MAX, &v), -1);
    CHECK_INT_EQ(valid_size("17179869184G", MIB, 0, UINT64_MAX, "x", &v, &err), -1);
    CHECK_STR_HAS(err.msg, "too large");
    /* 2^34 - 1 GiB does fit */
    CHECK_INT_EQ(size_parse("17179869183G", 0, UINT64_MAX, &v), 0);
    CHECK(v == 17179869183ULL * GIB);
    /* the largest number in bytes, and one more */
    CHECK_INT_EQ(size_parse("18446744073709551615B", 0, UINT64_MAX, &v), 0);
    CHECK(v == UINT64_MAX);
    CHECK_INT_EQ(size_parse("18446744073709551616B", 0, UINT64_MAX, &v), -1);
    /* a bare number overflowing through the default unit */
    CHECK_INT_EQ(size_parse("17592186044416", 0, UINT64_MAX, &v), -1); /* 2^44 MiB */
}

static void test_size_bounds(void)
{
    uint64_t v;
    const uint64_t min = 64 * MIB, max = 1024 * GIB;
    CHECK_INT_EQ(size_parse("64", min, max, &v), 0);
    CHECK(v == min);
    CHECK_INT_EQ(size_parse("65535K", min, max, &v), -1); /* 1 KiB under */
    CHECK_INT_EQ(size_parse("63", min, max, &v), -1);
    CHECK_INT_EQ(size_parse("0", min, max, &v), -1);
    CHECK_INT_EQ(size_parse("1T", min, max, &v), 0); /* exactly max */
    CHECK(v == max);
    CHECK_INT_EQ(size_parse("1048577", min, max, &v), -1); /* 1 MiB over */
    CHECK_INT_EQ(size_parse("2T", min, max, &v), -1);

    struct nubo_err err;
    CHECK_INT_EQ(valid_size("2T", MIB, min, max, "'memory'", &v, &err), -1);
    CHECK_STR_HAS(err.msg, "64 MiB");
    CHECK_STR_HAS(err.msg, "1048576 MiB");
    CHECK_STR_HAS(err.msg, "2T");
}

/* --------------------------------------------------------- integers */

static void test_int(void)
{
    long long v = 0;
    struct nubo_err err;
    CHECK_INT_EQ(valid_int("42", 0, 100, "port", &v, &err), 0);
    CHECK_INT_EQ(v, 42);
    CHECK_INT_EQ(valid_int("-5", -10, 10, "n", &v, &err), 0);
    CHECK_INT_EQ(v, -5);
    CHECK_INT_EQ(valid_int("0", 0, 0, "n", &v, &err), 0);
    CHECK_INT_EQ(v, 0);
    CHECK_INT_EQ(valid_int("9223372036854775807", 0, INT64_MAX, "n", &v, &err), 0);
    CHECK(v == INT64_MAX);
    CHECK_INT_EQ(valid_int("-9223372036854775808", INT64_MIN, 0, "n", &v, &err), 0);
    CHECK(v == INT64_MIN);
}

static void test_int_bad(void)
{
    static const char *bad[] = {"",
                                "12abc",
                                "12 ",
                                " 12",
                                "+12",
                                "-",
                                "--1",
                                "0x1A",
                                "1e3",
                                "1.0",
                                "abc",
                                "9223372036854775808",
                                "-9223372036854775809",
                                "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long long v = 777;
        struct nubo_err err;
        nubo_err_clear(&err);
        int r = valid_int(bad[i], INT64_MIN, INT64_MAX, "'count'", &v, &err);
        if (!CHECK_INT_EQ(r, -1))
            fprintf(stderr, "    accepted: \"%s\" as %lld\n", bad[i], v);
        CHECK_INT_EQ(v, 777);
        CHECK_INT_EQ(err.code, NUBO_E_INVALID);
        CHECK_STR_HAS(err.msg, "'count'");
    }
    long long v = 777;
    struct nubo_err err;
    CHECK_INT_EQ(valid_int(NULL, 0, 10, "n", &v, &err), -1);
    /* bounds */
    CHECK_INT_EQ(valid_int("11", 0, 10, "n", &v, &err), -1);
    CHECK_STR_HAS(err.msg, "between 0 and 10");
    CHECK_INT_EQ(valid_int("-1", 0, 10, "n", &v, &err), -1);
    CHECK_INT_EQ(valid_int("10", 0, 10, "n", &v, &err), 0);
    CHECK_INT_EQ(v, 10);
}

/* ------------------------------------------------------------- ids */

static void test_uuid(void)
{
    char id[37];
    for (int i = 0; i < 50; i++) {
        id_new(id);
        if (!CHECK(valid_is_uuid(id)))
            fprintf(stderr, "    id_new made \"%s\"\n", id);
        CHECK_INT_EQ(id[14], '4'); /* version 4 */
        CHECK(strchr("89ab", id[19]) != NULL);
    }
    char a[37], b[37];
    id_new(a);
    id_new(b);
    CHECK(strcmp(a, b) != 0);

    CHECK(valid_is_uuid("0f8fad5b-d9cb-469f-a165-70867728950e"));
    CHECK(!valid_is_uuid("0F8FAD5B-D9CB-469F-A165-70867728950E"));  /* uppercase */
    CHECK(!valid_is_uuid("0f8fad5b-d9cb-469f-a165-70867728950"));   /* 35 */
    CHECK(!valid_is_uuid("0f8fad5b-d9cb-469f-a165-70867728950e0")); /* 37 */
    CHECK(!valid_is_uuid("0f8fad5bd-9cb-469f-a165-70867728950e"));  /* dash misplaced */
    CHECK(!valid_is_uuid("0f8fad5b-d9cb-469f-a165-70867728950g"));
    CHECK(!valid_is_uuid("0f8fad5b-d9cb-469f-a165-7086772895/e"));
    CHECK(!valid_is_uuid("../../../../../../../../../../etc/pw"));
    CHECK(!valid_is_uuid("------------------------------------"));
    CHECK(!valid_is_uuid(""));
    CHECK(!valid_is_uuid(NULL));
}

CHECK_MAIN(TEST(test_name_good), TEST(test_name_bad_length), TEST(test_name_bad_start),
           TEST(test_name_metacharacters), TEST(test_name_unicode), TEST(test_name_error_position),
           TEST(test_hostname), TEST(test_size_units), TEST(test_size_malformed),
           TEST(test_size_overflow), TEST(test_size_bounds), TEST(test_int), TEST(test_int_bad),
           TEST(test_uuid))
