/*
 * test_accel.c - unit tests of src/host/vm/accel.c: the KVM/TCG decision for
 * every combination of what was asked and what the probe found, parsing,
 * and one real run of the probe on this machine.
 */
#include <string.h>

#include "check.h"
#include "host/vm/vm_int.h"
#include "lib/util.h"

/* Probe results by hand. */
static struct accel_probe probe_no_dev(void)
{
    struct accel_probe p = {0};
    str_copy(p.detail, sizeof(p.detail), "/dev/kvm does not exist");
    return p;
}

static struct accel_probe probe_no_open(void)
{
    struct accel_probe p = {.dev_exists = true, .cpu_flag = true};
    str_copy(p.detail, sizeof(p.detail), "cannot open /dev/kvm: Permission denied");
    return p;
}

static struct accel_probe probe_fast(void)
{
    struct accel_probe p = {.dev_exists = true,
                            .dev_opens = true,
                            .cpu_flag = true,
                            .guest_ran = true,
                            .guest_ms = 0.8};
    return p;
}

/* The PV-only KVM module of the development machine: the guest runs, but
 * instruction by instruction. */
static struct accel_probe probe_slow(void)
{
    struct accel_probe p = {.dev_exists = true,
                            .dev_opens = true,
                            .cpu_flag = false,
                            .guest_ran = true,
                            .guest_ms = 480.0};
    return p;
}

static struct accel_probe probe_failed(void)
{
    struct accel_probe p = {
        .dev_exists = true, .dev_opens = true, .cpu_flag = false, .guest_ran = false};
    str_copy(p.detail, sizeof(p.detail), "KVM exit reason 17");
    return p;
}

struct decision {
    int rc;
    char reason[256];
    struct nubo_err err;
};

static struct decision decide(enum accel requested, struct accel_probe p)
{
    struct decision d;
    memset(d.reason, 0, sizeof(d.reason));
    nubo_err_clear(&d.err);
    d.rc = accel_decide(requested, &p, d.reason, sizeof(d.reason), &d.err);
    return d;
}

/* ---------------------------------------------------------------- auto */

static void test_auto_no_dev(void)
{
    struct decision d = decide(ACCEL_AUTO, probe_no_dev());
    CHECK_INT_EQ(d.rc, ACCEL_TCG);
    CHECK_STR_HAS(d.reason, "tcg");
    CHECK_STR_HAS(d.reason, "does not exist");
    CHECK_INT_EQ(d.err.code, NUBO_OK);
}

static void test_auto_dev_does_not_open(void)
{
    struct decision d = decide(ACCEL_AUTO, probe_no_open());
    CHECK_INT_EQ(d.rc, ACCEL_TCG);
    CHECK_STR_HAS(d.reason, "unusable");
    CHECK_STR_HAS(d.reason, "Permission denied");
    CHECK_INT_EQ(d.err.code, NUBO_OK);
}

static void test_auto_fast_probe(void)
{
    struct decision d = decide(ACCEL_AUTO, probe_fast());
    CHECK_INT_EQ(d.rc, ACCEL_KVM);
    CHECK_STR_HAS(d.reason, "kvm");
    CHECK_STR_HAS(d.reason, "0.80 ms");
    CHECK_INT_EQ(d.err.code, NUBO_OK);

    /* the limit itself still counts as fast, just above it does not */
    struct accel_probe p = probe_fast();
    p.guest_ms = ACCEL_PROBE_MAX_MS;
    CHECK_INT_EQ(decide(ACCEL_AUTO, p).rc, ACCEL_KVM);
    p.guest_ms = ACCEL_PROBE_MAX_MS + 0.5;
    CHECK_INT_EQ(decide(ACCEL_AUTO, p).rc, ACCEL_TCG);
}

static void test_auto_slow_probe(void)
{
    struct decision d = decide(ACCEL_AUTO, probe_slow());
    CHECK_INT_EQ(d.rc, ACCEL_TCG);
    CHECK_STR_HAS(d.reason, "tcg");
    CHECK_STR_HAS(d.reason, "emulat");
    CHECK_STR_HAS(d.reason, "480 ms");
    CHECK_STR_HAS(d.reason, "no vmx/svm");
    CHECK_INT_EQ(d.err.code, NUBO_OK);

    /* with the CPU flag the reason does not claim it is missing */
    struct accel_probe p = probe_slow();
    p.cpu_flag = true;
    d = decide(ACCEL_AUTO, p);
    CHECK_INT_EQ(d.rc, ACCEL_TCG);
    CHECK(strstr(d.reason, "vmx/svm") == NULL);
}

static void test_auto_failed_probe(void)
{
    struct decision d = decide(ACCEL_AUTO, probe_failed());
    CHECK_INT_EQ(d.rc, ACCEL_TCG);
    CHECK_STR_HAS(d.reason, "tcg");
    CHECK_STR_HAS(d.reason, "KVM exit reason 17");
    CHECK_INT_EQ(d.err.code, NUBO_OK);

    /* a probe that "ran" in no time but failed is not fast */
    struct accel_probe p = probe_failed();
    p.guest_ms = 0.1;
    CHECK_INT_EQ(decide(ACCEL_AUTO, p).rc, ACCEL_TCG);
}

/* ----------------------------------------------------------- forced tcg */

static void test_forced_tcg(void)
{
    struct accel_probe probes[] = {probe_no_dev(), probe_no_open(), probe_fast(), probe_slow(),
                                   probe_failed()};
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        struct decision d = decide(ACCEL_TCG, probes[i]);
        if (!CHECK_INT_EQ(d.rc, ACCEL_TCG))
            fprintf(stderr, "    probe %zu\n", i);
        CHECK_STR_HAS(d.reason, "forced");
        CHECK_INT_EQ(d.err.code, NUBO_OK);
    }
}

/* ----------------------------------------------------------- forced kvm */

static void test_forced_kvm_unusable(void)
{
    struct accel_probe probes[] = {probe_no_dev(), probe_no_open()};
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        struct decision d = decide(ACCEL_KVM, probes[i]);
        CHECK_INT_EQ(d.rc, -1);
        CHECK_INT_EQ(d.err.code, NUBO_E_UNAVAILABLE);
        CHECK_STR_HAS(d.err.msg, "/dev/kvm");
        CHECK_STR_HAS(d.err.msg, probes[i].detail);
        CHECK_STR_HAS(d.err.msg, "accel=tcg");
    }
    /* no detail at all still gives a sentence */
    struct accel_probe p = {0};
    struct decision d = decide(ACCEL_KVM, p);
    CHECK_INT_EQ(d.rc, -1);
    CHECK_STR_HAS(d.err.msg, "unknown reason");
}

static void test_forced_kvm_fast(void)
{
    struct decision d = decide(ACCEL_KVM, probe_fast());
    CHECK_INT_EQ(d.rc, ACCEL_KVM);
    CHECK_STR_HAS(d.reason, "forced");
    CHECK(strstr(d.reason, "slow") == NULL);
}

static void test_forced_kvm_slow(void)
{
    struct decision d = decide(ACCEL_KVM, probe_slow());
    CHECK_INT_EQ(d.rc, ACCEL_KVM);
    CHECK_INT_EQ(d.err.code, NUBO_OK);
    CHECK_STR_HAS(d.reason, "forced");
    CHECK_STR_HAS(d.reason, "slow");

    d = decide(ACCEL_KVM, probe_failed());
    CHECK_INT_EQ(d.rc, ACCEL_KVM);
    CHECK_STR_HAS(d.reason, "slow or fail");
    CHECK_STR_HAS(d.reason, "KVM exit reason 17");
}

static void test_reason_truncated(void)
{
    /* a small reason buffer is cut, never overrun */
    struct accel_probe p = probe_slow();
    char small[12];
    memset(small, 'Z', sizeof(small));
    CHECK_INT_EQ(accel_decide(ACCEL_AUTO, &p, small, 8, NULL), ACCEL_TCG);
    CHECK_INT_EQ(strlen(small), 7);
    CHECK(small[8] == 'Z');
    /* err may be NULL */
    p = probe_no_dev();
    CHECK_INT_EQ(accel_decide(ACCEL_KVM, &p, small, 8, NULL), -1);
}

/* ---------------------------------------------------------- accel_parse */

static void test_parse(void)
{
    enum accel a = ACCEL_TCG;
    struct nubo_err err;
    CHECK_INT_EQ(accel_parse("auto", &a, &err), 0);
    CHECK_INT_EQ(a, ACCEL_AUTO);
    CHECK_INT_EQ(accel_parse("kvm", &a, &err), 0);
    CHECK_INT_EQ(a, ACCEL_KVM);
    CHECK_INT_EQ(accel_parse("tcg", &a, &err), 0);
    CHECK_INT_EQ(a, ACCEL_TCG);

    static const char *bad[] = {"", "KVM", "Auto", "kvm ", " tcg", "hvf", "xen", "tcg,kvm"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        a = ACCEL_KVM;
        nubo_err_clear(&err);
        if (!CHECK_INT_EQ(accel_parse(bad[i], &a, &err), -1))
            fprintf(stderr, "    accepted \"%s\"\n", bad[i]);
        CHECK_INT_EQ(a, ACCEL_KVM); /* untouched */
        CHECK_INT_EQ(err.code, NUBO_E_INVALID);
        CHECK_STR_HAS(err.msg, "auto, kvm or tcg");
    }

    CHECK_STR_EQ(accel_name(ACCEL_AUTO), "auto");
    CHECK_STR_EQ(accel_name(ACCEL_KVM), "kvm");
    CHECK_STR_EQ(accel_name(ACCEL_TCG), "tcg");
    /* names parse back */
    for (int i = ACCEL_AUTO; i <= ACCEL_TCG; i++) {
        CHECK_INT_EQ(accel_parse(accel_name((enum accel)i), &a, &err), 0);
        CHECK_INT_EQ(a, i);
    }
}

/* ------------------------------------------------------ the real probe */

static void test_probe_real(void)
{
    struct accel_probe p;
    memset(&p, 0x5a, sizeof(p));
    int64_t t0 = clock_mono_ms();
    accel_probe_run(&p);
    int64_t took = clock_mono_ms() - t0;
    fprintf(stderr,
            "    probe: exists=%d opens=%d cpu_flag=%d ran=%d ms=%.3f detail=\"%s\" "
            "(took %lld ms)\n",
            p.dev_exists, p.dev_opens, p.cpu_flag, p.guest_ran, p.guest_ms, p.detail,
            (long long)took);
    CHECK(took < 2000);
    /* each finding implies the one before */
    CHECK(!p.guest_ran || p.dev_opens);
    CHECK(!p.dev_opens || p.dev_exists);
    /* the detail is a terminated string; it explains any failure */
    CHECK(memchr(p.detail, '\0', sizeof(p.detail)) != NULL);
    if (!p.guest_ran)
        CHECK(p.detail[0] != '\0');
    else
        CHECK(p.guest_ms >= 0.0 && p.guest_ms < 2000.0);
    if (!p.guest_ran)
        CHECK(p.guest_ms == 0.0);

    /* the decision on it is consistent with it */
    char reason[256];
    struct nubo_err err;
    int a = accel_decide(ACCEL_AUTO, &p, reason, sizeof(reason), &err);
    fprintf(stderr, "    auto -> %s: %s\n", a == ACCEL_KVM ? "kvm" : "tcg", reason);
    CHECK(a == ACCEL_KVM || a == ACCEL_TCG);
    if (a == ACCEL_KVM)
        CHECK(p.guest_ran && p.guest_ms <= ACCEL_PROBE_MAX_MS);
    CHECK_INT_EQ(accel_decide(ACCEL_KVM, &p, reason, sizeof(reason), &err) == ACCEL_KVM,
                 p.dev_opens);
}

CHECK_MAIN(TEST(test_auto_no_dev), TEST(test_auto_dev_does_not_open), TEST(test_auto_fast_probe),
           TEST(test_auto_slow_probe), TEST(test_auto_failed_probe), TEST(test_forced_tcg),
           TEST(test_forced_kvm_unusable), TEST(test_forced_kvm_fast), TEST(test_forced_kvm_slow),
           TEST(test_reason_truncated), TEST(test_parse), TEST(test_probe_real))
