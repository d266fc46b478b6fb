/*
 * check.h - the unit tests' tiny harness.
 *
 * A test program is a list of test functions run in order by CHECK_MAIN.
 * Checks do not abort the test: each failed check prints file:line, the
 * expression and the values, and is counted; the program then prints one
 * PASS/FAIL line per test and exits non-zero when any check failed.  Every
 * check returns whether it held, so a test can stop where going on would
 * only crash:  if (!CHECK(p != NULL)) return;
 *
 * CHECK_XFAIL marks a known bug in the code under test (named in the
 * message): it is reported but not counted while the bug is there, and
 * counts as a failure once the condition holds, so that the marker is
 * removed when the bug is fixed.
 *
 * Running a program with test names as arguments runs only those tests.
 * CHECK_MAIN_FIXTURE adds a setup run before the tests and a teardown after
 * (a scratch directory, say); checks in the teardown count too.
 */
#ifndef NUBO_TEST_CHECK_H
#define NUBO_TEST_CHECK_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct check_case {
    const char *name;
    void (*fn)(void);
};

static int check_failed_total; /* failed checks in the whole run */
static int check_failed_here;  /* failed checks in the current test */
static int check_xfailed;      /* known bugs seen */

static inline void check_report(const char *file, int line)
{
    check_failed_total++;
    check_failed_here++;
    fprintf(stderr, "%s:%d: check failed: ", file, line);
}

static inline bool check_true(bool ok, const char *expr, const char *file, int line)
{
    if (!ok) {
        check_report(file, line);
        fprintf(stderr, "%s\n", expr);
    }
    return ok;
}

static inline bool check_int_eq(long long a, long long b, const char *ea, const char *eb,
                                const char *file, int line)
{
    if (a != b) {
        check_report(file, line);
        fprintf(stderr, "%s == %s\n    left:  %lld\n    right: %lld\n", ea, eb, a, b);
    }
    return a == b;
}

static inline bool check_str_eq(const char *a, const char *b, const char *ea, const char *eb,
                                const char *file, int line)
{
    bool ok = (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
    if (!ok) {
        check_report(file, line);
        fprintf(stderr, "%s == %s\n    left:  \"%s\"\n    right: \"%s\"\n", ea, eb,
                a ? a : "(null)", b ? b : "(null)");
    }
    return ok;
}

static inline bool check_str_has(const char *hay, const char *needle, const char *eh,
                                 const char *file, int line)
{
    bool ok = hay != NULL && strstr(hay, needle) != NULL;
    if (!ok) {
        check_report(file, line);
        fprintf(stderr, "%s contains \"%s\"\n    value: \"%s\"\n", eh, needle,
                hay ? hay : "(null)");
    }
    return ok;
}

static inline bool check_xfail(bool ok, const char *expr, const char *bug, const char *file,
                               int line)
{
    if (ok) {
        check_report(file, line);
        fprintf(stderr, "XPASS %s: the known bug \"%s\" seems fixed; make this a CHECK\n", expr,
                bug);
    } else {
        check_xfailed++;
        fprintf(stderr, "%s:%d: XFAIL (known bug: %s): %s\n", file, line, bug, expr);
    }
    return ok;
}

#define CHECK(cond) check_true((cond), #cond, __FILE__, __LINE__)
#define CHECK_INT_EQ(a, b) check_int_eq((long long)(a), (long long)(b), #a, #b, __FILE__, __LINE__)
#define CHECK_STR_EQ(a, b) check_str_eq((a), (b), #a, #b, __FILE__, __LINE__)
#define CHECK_STR_HAS(hay, needle) check_str_has((hay), (needle), #hay, __FILE__, __LINE__)
#define CHECK_XFAIL(cond, bug) check_xfail((cond), #cond, (bug), __FILE__, __LINE__)

/* One entry of the test list: TEST(test_name). */
#define TEST(fn)                                                                                   \
    {                                                                                              \
#fn, fn                                                                                    \
    }

static inline int check_run(const struct check_case *cases, size_t n, int argc, char **argv,
                            void (*setup)(void), void (*teardown)(void))
{
    int ran = 0, failed_tests = 0;
    if (setup)
        setup();
    for (size_t i = 0; i < n; i++) {
        if (argc > 1) {
            bool wanted = false;
            for (int a = 1; a < argc && !wanted; a++)
                wanted = strcmp(argv[a], cases[i].name) == 0;
            if (!wanted)
                continue;
        }
        check_failed_here = 0;
        fprintf(stderr, "--- %s\n", cases[i].name);
        cases[i].fn();
        ran++;
        if (check_failed_here) {
            failed_tests++;
            printf("FAIL %s (%d failed checks)\n", cases[i].name, check_failed_here);
        } else {
            printf("PASS %s\n", cases[i].name);
        }
        fflush(stdout);
    }
    if (teardown) {
        check_failed_here = 0;
        teardown();
        if (check_failed_here)
            printf("FAIL teardown (%d failed checks)\n", check_failed_here);
    }
    printf("%d tests, %d failed, %d failed checks, %d known bugs (XFAIL)\n", ran, failed_tests,
           check_failed_total, check_xfailed);
    if (ran == 0) {
        printf("no test matched\n");
        return 1;
    }
    return check_failed_total ? 1 : 0;
}

/* main() running the listed tests; CHECK_MAIN_FIXTURE also runs setup
 * before the first and teardown after the last (either may be NULL). */
#define CHECK_MAIN_FIXTURE(setup, teardown, ...)                                                   \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        static const struct check_case cases[] = {__VA_ARGS__};                                    \
        return check_run(cases, sizeof(cases) / sizeof(cases[0]), argc, argv, (setup),             \
                         (teardown));                                                              \
    }
#define CHECK_MAIN(...) CHECK_MAIN_FIXTURE(NULL, NULL, __VA_ARGS__)

#endif
