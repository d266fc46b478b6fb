/*
 * accel.h - choosing the hypervisor acceleration: KVM or TCG.
 *
 * /dev/kvm can exist without hardware virtualization behind it (a KVM module
 * that runs only paravirtualized guests emulates a guest kernel instruction
 * by instruction, and an ordinary Linux guest crawls, then fails).  So the
 * decision is made by probing: accel_probe_run() creates a real KVM virtual
 * machine, runs a short loop of guest-kernel-mode (CPL 0) instructions in it
 * and times it.  accel_decide() turns the probe's findings and the operator's
 * wish (auto | kvm | tcg) into a choice and a sentence saying why.
 */
#ifndef NUBO_HOST_ACCEL_H
#define NUBO_HOST_ACCEL_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

enum accel { ACCEL_AUTO = 0, ACCEL_KVM, ACCEL_TCG };

/* What the probe found out.  Filled by accel_probe_run(), or by hand in
 * unit tests. */
struct accel_probe {
    bool dev_exists;  /* /dev/kvm is there */
    bool dev_opens;   /* it opens read-write and answers KVM_GET_API_VERSION = 12 */
    bool cpu_flag;    /* /proc/cpuinfo lists vmx or svm */
    bool guest_ran;   /* the probe guest reached its HLT */
    double guest_ms;  /* how long the probe guest took (when it ran) */
    char detail[160]; /* what went wrong, for the log */
};

/* The probe guest must finish within this many milliseconds for KVM to count
 * as usable.  With hardware virtualization it takes about a millisecond; with
 * instruction emulation it takes seconds or fails. */
#define ACCEL_PROBE_MAX_MS 50.0

/* Parses "auto", "kvm", "tcg". */
int accel_parse(const char *s, enum accel *out, struct nubo_err *err);

/* "auto", "kvm", "tcg". */
const char *accel_name(enum accel a);

/* Probes the machine (runs the KVM test guest in a child process, killed if
 * it does not answer within a second).  Never fails: whatever goes wrong is
 * recorded in the result. */
void accel_probe_run(struct accel_probe *out);

/* Decides what to use.  `requested` ACCEL_KVM is honoured when /dev/kvm opens
 * even if the probe guest was slow (the operator knows best; the reason says
 * so), and refused with err when /dev/kvm is unusable.  Writes a one-line
 * explanation into reason.  Returns ACCEL_KVM or ACCEL_TCG, or -1 with err. */
int accel_decide(enum accel requested, const struct accel_probe *p, char *reason, size_t n,
                 struct nubo_err *err);

#endif
