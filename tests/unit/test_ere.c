/*
 * test_ere.c - unit tests of src/lib/ere.c: the ERE subset, what is
 * refused (and why), and the bounds that keep a tenant's pattern from
 * costing memory or time out of proportion.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "lib/ere.h"

/* Compiles pat and matches the whole of s; -1 when pat does not compile. */
static int m(const char *pat, const char *s)
{
    struct nubo_err err;
    struct ere *re = ere_compile(pat, &err);
    if (re == NULL) {
        fprintf(stderr, "    pattern %s: %s\n", pat, err.msg);
        return -1;
    }
    int r = ere_match_whole(re, s, strlen(s));
    ere_free(re);
    return r;
}

/* ere_compile refuses pat with a message containing want. */
static bool refused_with(const char *pat, const char *want)
{
    struct nubo_err err;
    nubo_err_clear(&err);
    struct ere *re = ere_compile(pat, &err);
    if (re != NULL) {
        ere_free(re);
        return false;
    }
    CHECK_INT_EQ(err.code, NUBO_E_INVALID);
    return CHECK_STR_HAS(err.msg, want);
}

static void test_literals_and_classes(void)
{
    CHECK_INT_EQ(m("abc", "abc"), 1);
    CHECK_INT_EQ(m("abc", "abcd"), 0); /* whole string */
    CHECK_INT_EQ(m("abc", "xabc"), 0);
    CHECK_INT_EQ(m("", ""), 1);
    CHECK_INT_EQ(m("", "a"), 0);
    CHECK_INT_EQ(m("a.c", "a-c"), 1);
    CHECK_INT_EQ(m("[a-z][a-z0-9-]*", "web-01"), 1);
    CHECK_INT_EQ(m("[a-z][a-z0-9-]*", "Web-01"), 0);
    CHECK_INT_EQ(m("[^a-z]+", "ABC1"), 1);
    CHECK_INT_EQ(m("[^a-z]+", "ABc"), 0);
    CHECK_INT_EQ(m("[]a]+", "]a]"), 1);
    CHECK_INT_EQ(m("[^]]", "]"), 0);
    CHECK_INT_EQ(m("[a-]+", "a-a"), 1);
    CHECK_INT_EQ(m("[[:alpha:]_][[:alnum:]_]*", "_x9"), 1);
    CHECK_INT_EQ(m("[[:digit:]]+", "12a"), 0);
    CHECK_INT_EQ(m("[[:space:][:punct:]]+", " .\t!"), 1);
    CHECK_INT_EQ(m("[[:xdigit:]]{4}", "beEF"), 1);
    CHECK_INT_EQ(m("[[=a=][.b.]]+", "abba"), 1);
    CHECK_INT_EQ(m("\\d+\\.\\d+", "3.14"), 1);
    CHECK_INT_EQ(m("\\D\\W\\S", "1-b"), 0);
    CHECK_INT_EQ(m("\\D\\W\\S", "x-y"), 1);
    CHECK_INT_EQ(m("\\w+\\s\\w+", "hello world"), 1);
    CHECK_INT_EQ(m("a\\.b\\*\\{", "a.b*{"), 1);
    CHECK_INT_EQ(m("a\\.b", "axb"), 0);
}

static void test_operators(void)
{
    CHECK_INT_EQ(m("prod|staging|dev", "staging"), 1);
    CHECK_INT_EQ(m("prod|staging|dev", "stag"), 0);
    CHECK_INT_EQ(m("(ab)+", "ababab"), 1);
    CHECK_INT_EQ(m("(ab)+", ""), 0);
    CHECK_INT_EQ(m("(ab)*", ""), 1);
    CHECK_INT_EQ(m("colou?r", "color"), 1);
    CHECK_INT_EQ(m("colou?r", "colouur"), 0);
    CHECK_INT_EQ(m("x{3}", "xxx"), 1);
    CHECK_INT_EQ(m("x{3}", "xx"), 0);
    CHECK_INT_EQ(m("x{2,}", "xxxxx"), 1);
    CHECK_INT_EQ(m("x{2,}", "x"), 0);
    CHECK_INT_EQ(m("x{2,4}", "xxxx"), 1);
    CHECK_INT_EQ(m("x{2,4}", "xxxxx"), 0);
    CHECK_INT_EQ(m("x{0}y", "y"), 1);
    CHECK_INT_EQ(m("(a|b){2}c", "bac"), 1);
    CHECK_INT_EQ(m("^ab$", "ab"), 1);
    CHECK_INT_EQ(m("a^b", "ab"), 0); /* ^ only at the start */
    CHECK_INT_EQ(m("a|^b", "b"), 1);
    CHECK_INT_EQ(m("()*a", "a"), 1);      /* an empty loop ends */
    CHECK_INT_EQ(m("(a*)*b", "aaab"), 1); /* nested stars */
    CHECK_INT_EQ(m("(a|)+", "aaa"), 1);   /* empty alternative */
    CHECK_INT_EQ(m("((a)(b))", "ab"), 1); /* groups nest */
    CHECK_INT_EQ(m("([0-9]{1,3}\\.){3}[0-9]{1,3}", "10.0.0.255"), 1);
    CHECK_INT_EQ(m("([0-9]{1,3}\\.){3}[0-9]{1,3}", "10.0.0.2555"), 0);
}

/* "((...(a)...))" with depth groups into buf. */
static void nest(char *buf, int depth)
{
    int n = 0;
    for (int i = 0; i < depth; i++)
        buf[n++] = '(';
    buf[n++] = 'a';
    for (int i = 0; i < depth; i++)
        buf[n++] = ')';
    buf[n] = 0;
}

static void test_refused(void)
{
    CHECK(refused_with("((a{1,70}){1,70}){1,70}", "too expensive"));
    CHECK(refused_with("(((a*b*c*d*e*f*g*h*i*j*){1,10}){1,10}){1,10}", "too expensive"));
    CHECK(refused_with("((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+){255}", "too expensive"));
    CHECK(refused_with("x{256}", "more than 255"));
    CHECK(refused_with("x{1,99999}", "{m}, {m,} or {m,n}"));
    CHECK(refused_with("x{5,2}", "below its minimum"));
    CHECK(refused_with("x{", "{m}, {m,} or {m,n}"));
    CHECK(refused_with("x{,3}", "{m}, {m,} or {m,n}"));
    CHECK(refused_with("x{1,a}", "{m}, {m,} or {m,n}"));
    CHECK(refused_with("(a)\\1", "back-reference"));
    CHECK(refused_with("\\bword", "word-boundary"));
    CHECK(refused_with("[a-z", "closing ']'"));
    CHECK(refused_with("[[:alpha:]", "closing ']'"));
    CHECK(refused_with("[[:nope:]]", "unknown character class"));
    CHECK(refused_with("[z-a]", "below its start"));
    CHECK(refused_with("[a-[:digit:]]", "ends in a character class"));
    CHECK(refused_with("[[.ab.]]", "more than one character"));
    CHECK(refused_with("(ab", "without its ')'"));
    CHECK(refused_with("ab)", "without its '('"));
    CHECK(refused_with("*a", "nothing before it"));
    CHECK(refused_with("(+a)", "nothing before it"));
    CHECK(refused_with("a|*", "nothing before it"));
    CHECK(refused_with("^*", "repeats an anchor"));
    CHECK(refused_with("ab\\", "lone"));
    char deep[64];
    nest(deep, 17);
    CHECK(refused_with(deep, "nests groups"));
    nest(deep, 16);
    CHECK_INT_EQ(m(deep, "a"), 1);
    char longpat[ERE_MAX_LEN + 2];
    memset(longpat, 'a', sizeof(longpat) - 1);
    longpat[sizeof(longpat) - 1] = 0;
    CHECK(refused_with(longpat, "at most 256 bytes"));
    CHECK(refused_with(NULL, "must be a string"));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID,
                  &ts); /* CPU time: other processes' load does not count */
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The worst patterns that compile still match a long subject in time
 * proportional to it: the catastrophic-backtracking shapes of other
 * engines ((a+)+b, (a|a)*b) over 16 KiB of 'a', and the largest program. */
static void test_linear_time(void)
{
    size_t n = 16384;
    char *s = malloc(n + 1);
    if (!CHECK(s != NULL))
        return;
    memset(s, 'a', n);
    s[n] = 0;
    static const char *const pats[] = {"(a+)+b", "(a|a)*b", "(a|aa)*c", "(a*)*(a*)*(a*)*b",
                                       "(((a*b*c*d*e*f*g*h*i*j*){1,10}){1,10})x"};
    for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
        struct nubo_err err;
        struct ere *re = ere_compile(pats[i], &err);
        if (!CHECK(re != NULL))
            continue;
        double t0 = now_s();
        CHECK(!ere_match_whole(re, s, n));
        double dt = now_s() - t0;
        ere_free(re);
        if (!CHECK(dt < 5.0)) /* measured: well under 0.5 s even under ASan */
            fprintf(stderr, "    %s took %.2f s\n", pats[i], dt);
    }
    free(s);
}

CHECK_MAIN(TEST(test_literals_and_classes), TEST(test_operators), TEST(test_refused),
           TEST(test_linear_time))
