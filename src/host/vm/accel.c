/*
 * accel.c - see vm_int.h.
 *
 * The probe guest is 14 bytes of 16-bit real-mode code at 0x1000:
 *
 *     66 b9 40 0d 03 00    mov  ecx, 200000
 *     0f 20 c0        l:   mov  eax, cr0        ; a privileged instruction
 *     66 49                dec  ecx
 *     75 f7                jnz  l
 *     f4                   hlt
 *
 * Hardware virtualization runs it natively in microseconds.  A KVM that can
 * only emulate guest kernel mode exits to the host for every instruction
 * (seconds for 600k instructions) or refuses to enter the guest at all.
 */
#include "host/vm/vm_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"

int accel_parse(const char *s, enum accel *out, struct nubo_err *err)
{
    if (strcmp(s, "auto") == 0)
        *out = ACCEL_AUTO;
    else if (strcmp(s, "kvm") == 0)
        *out = ACCEL_KVM;
    else if (strcmp(s, "tcg") == 0)
        *out = ACCEL_TCG;
    else
        return nubo_err_set(err, NUBO_E_INVALID,
                            "acceleration must be auto, kvm or tcg (got '%.20s')", s);
    return 0;
}

const char *accel_name(enum accel a)
{
    switch (a) {
    case ACCEL_KVM:
        return "kvm";
    case ACCEL_TCG:
        return "tcg";
    default:
        return "auto";
    }
}

static bool cpu_has_virt_flag(void)
{
    FILE *f = fopen("/proc/cpuinfo", "re");
    if (f == NULL)
        return false;
    char line[8192];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "flags", 5) != 0)
            continue;
        found = strstr(line, " vmx") != NULL || strstr(line, " svm") != NULL;
        break;
    }
    fclose(f);
    return found;
}

/* Result of the child's run, sent through a pipe. */
struct probe_msg {
    int ok;
    double ms;
    char detail[120];
};

static void probe_child(int kvm, int out)
{
    static const unsigned char code[] = {0x66, 0xb9, 0x40, 0x0d, 0x03, 0x00, 0x0f,
                                         0x20, 0xc0, 0x66, 0x49, 0x75, 0xf7, 0xf4};
    struct probe_msg m = {0};
    int vm = -1, cpu = -1;
    size_t memsz = 0x10000;
    void *mem = mmap(NULL, memsz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0 || mem == MAP_FAILED) {
        snprintf(m.detail, sizeof(m.detail), "KVM_CREATE_VM failed: %s", strerror(errno));
        goto done;
    }
    memcpy((char *)mem + 0x1000, code, sizeof(code));
    struct kvm_userspace_memory_region region = {.slot = 0,
                                                 .guest_phys_addr = 0,
                                                 .memory_size = memsz,
                                                 .userspace_addr = (unsigned long)mem};
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
        snprintf(m.detail, sizeof(m.detail), "KVM_SET_USER_MEMORY_REGION failed: %s",
                 strerror(errno));
        goto done;
    }
    cpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    int runsz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (cpu < 0 || runsz <= 0) {
        snprintf(m.detail, sizeof(m.detail), "KVM_CREATE_VCPU failed: %s", strerror(errno));
        goto done;
    }
    struct kvm_run *run = mmap(NULL, (size_t)runsz, PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0);
    if (run == MAP_FAILED) {
        snprintf(m.detail, sizeof(m.detail), "cannot map the vCPU: %s", strerror(errno));
        goto done;
    }
    struct kvm_sregs sregs;
    struct kvm_regs regs = {.rip = 0x1000, .rflags = 0x2};
    if (ioctl(cpu, KVM_GET_SREGS, &sregs) < 0) {
        snprintf(m.detail, sizeof(m.detail), "KVM_GET_SREGS failed: %s", strerror(errno));
        goto done;
    }
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    if (ioctl(cpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(cpu, KVM_SET_REGS, &regs) < 0) {
        snprintf(m.detail, sizeof(m.detail), "cannot set vCPU registers: %s", strerror(errno));
        goto done;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int exits = 0; exits < 100000; exits++) {
        if (ioctl(cpu, KVM_RUN, 0) < 0) {
            snprintf(m.detail, sizeof(m.detail), "KVM_RUN failed: %s", strerror(errno));
            goto done;
        }
        if (run->exit_reason == KVM_EXIT_HLT) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            m.ok = 1;
            m.ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
            goto done;
        }
        if (run->exit_reason != KVM_EXIT_INTR) {
            snprintf(m.detail, sizeof(m.detail),
                     "the probe guest stopped with KVM exit reason %u instead of HLT",
                     run->exit_reason);
            goto done;
        }
    }
    snprintf(m.detail, sizeof(m.detail), "the probe guest never reached HLT");
done:
    (void)!write(out, &m, sizeof(m));
    _exit(0);
}

void accel_probe_run(struct accel_probe *p)
{
    memset(p, 0, sizeof(*p));
    struct stat st;
    p->cpu_flag = cpu_has_virt_flag();
    p->dev_exists = stat("/dev/kvm", &st) == 0;
    if (!p->dev_exists) {
        snprintf(p->detail, sizeof(p->detail), "/dev/kvm does not exist");
        return;
    }
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        snprintf(p->detail, sizeof(p->detail), "cannot open /dev/kvm: %s", strerror(errno));
        return;
    }
    int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        snprintf(p->detail, sizeof(p->detail), "/dev/kvm answers API version %d, not %d", api,
                 KVM_API_VERSION);
        close(kvm);
        return;
    }
    p->dev_opens = true;
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        snprintf(p->detail, sizeof(p->detail), "pipe: %s", strerror(errno));
        close(kvm);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        probe_child(kvm, pfd[1]);
    }
    close(pfd[1]);
    close(kvm);
    if (pid < 0) {
        snprintf(p->detail, sizeof(p->detail), "fork: %s", strerror(errno));
        close(pfd[0]);
        return;
    }
    struct pollfd pl = {.fd = pfd[0], .events = POLLIN};
    struct probe_msg m = {0};
    int r = poll(&pl, 1, 1000);
    ssize_t got = r == 1 ? read(pfd[0], &m, sizeof(m)) : -1;
    if (got == (ssize_t)sizeof(m)) {
        p->guest_ran = m.ok;
        p->guest_ms = m.ms;
        snprintf(p->detail, sizeof(p->detail), "%s", m.detail);
    } else if (r == 1) {
        snprintf(p->detail, sizeof(p->detail), "the probe process died before reporting");
    } else {
        snprintf(p->detail, sizeof(p->detail),
                 "the probe guest did not finish within 1000 ms (instruction emulation)");
    }
    close(pfd[0]);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int accel_decide(enum accel requested, const struct accel_probe *p, char *reason, size_t n,
                 struct nubo_err *err)
{
    bool fast = p->dev_opens && p->guest_ran && p->guest_ms <= ACCEL_PROBE_MAX_MS;
    switch (requested) {
    case ACCEL_TCG:
        snprintf(reason, n, "tcg: forced by configuration");
        return ACCEL_TCG;
    case ACCEL_KVM:
        if (!p->dev_opens)
            return nubo_err_set(err, NUBO_E_UNAVAILABLE,
                                "kvm was requested but /dev/kvm is unusable (%s); use accel=tcg "
                                "or accel=auto",
                                p->detail[0] ? p->detail : "unknown reason");
        if (fast)
            snprintf(reason, n, "kvm: forced by configuration (probe guest ran in %.2f ms)",
                     p->guest_ms);
        else
            snprintf(reason, n,
                     "kvm: forced by configuration, although the probe says guests will be slow "
                     "or fail (%s)",
                     p->guest_ran ? "probe guest was slow" : p->detail);
        return ACCEL_KVM;
    case ACCEL_AUTO:
    default:
        break;
    }
    if (fast) {
        snprintf(reason, n, "kvm: hardware virtualization works (probe guest ran in %.2f ms)",
                 p->guest_ms);
        return ACCEL_KVM;
    }
    if (!p->dev_exists)
        snprintf(reason, n, "tcg: /dev/kvm does not exist");
    else if (!p->dev_opens)
        snprintf(reason, n, "tcg: /dev/kvm is unusable (%s)", p->detail);
    else if (p->guest_ran)
        snprintf(reason, n,
                 "tcg: /dev/kvm exists but a guest kernel runs emulated (probe took %.0f ms, "
                 "limit %.0f ms)%s",
                 p->guest_ms, ACCEL_PROBE_MAX_MS,
                 p->cpu_flag ? "" : "; the CPU has no vmx/svm flag");
    else
        snprintf(reason, n, "tcg: /dev/kvm exists but cannot run an ordinary guest (%s)%s",
                 p->detail, p->cpu_flag ? "" : "; the CPU has no vmx/svm flag");
    return ACCEL_TCG;
}
