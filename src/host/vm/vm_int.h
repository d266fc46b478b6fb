/*
 * vm_int.h - what only src/host/vm/ and its unit tests and fuzz targets
 * use (SQLite's btreeInt.h idiom); the agent core sees vm.h alone.
 *
 * Sections: the KVM probe, cgroups, the QMP client, the QEMU driver, the
 * fake driver, and helpers of images and sampling exposed for unit tests.
 */
#ifndef NUBO_HOST_VM_INT_H
#define NUBO_HOST_VM_INT_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "host/vm/vm.h"
#include "lib/err.h"
#include "lib/strv.h"

/* ---- the KVM probe ----------------------------------------------------- */

/*
 * Choosing the hypervisor acceleration: KVM or TCG.
 *
 * /dev/kvm can exist without hardware virtualization behind it (a KVM module
 * that runs only paravirtualized guests emulates a guest kernel instruction
 * by instruction, and an ordinary Linux guest crawls, then fails).  So the
 * decision is made by probing: accel_probe_run() creates a real KVM virtual
 * machine, runs a short loop of guest-kernel-mode (CPL 0) instructions in it
 * and times it.  accel_decide() turns the probe's findings and the operator's
 * wish (auto | kvm | tcg) into a choice and a sentence saying why.
 */

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

/* ---- cgroups ----------------------------------------------------------- */

/*
 * One control group per VM, for CPU and memory accounting.
 *
 * Each VM's QEMU joins a group "nubo-vm-<id>" created below the agent's own
 * group in each hierarchy (so the VM stays inside whatever limits the agent
 * itself runs under).  cgroup v2 (unified) and v1 (cpu, cpuacct, memory)
 * are both handled.  The CPU weight is proportional to the vCPU count.  When
 * no usable hierarchy exists, VMs run without a group and stats say so.
 */

#define CGROUP_MAX_PROCS 4

struct cgroup_cfg {
    int version;            /* 2, 1, or 0 when unavailable */
    char base[3][PATH_MAX]; /* v2: [0]; v1: cpu, cpuacct, memory parents */
};

/* Detects the hierarchy and the agent's place in it.  Returns the version
 * (0: none usable; the log says why). */
int cgroup_init(struct cgroup_cfg *cg);

/* Creates the VM's groups and sets the CPU weight.  Fills procs with the
 * cgroup.procs files the QEMU child must write "0" into (NULL-terminated).
 * Returns 0, or -1 (the VM then runs without a group; logged). */
int cgroup_vm_create(const struct cgroup_cfg *cg, const char *vm_id, int vcpus,
                     char procs[CGROUP_MAX_PROCS][PATH_MAX]);

/* Reads the accounting of the group that process pid is in.  Returns 0 with
 * CPU time in nanoseconds and memory in bytes, or -1. */
int cgroup_pid_stats(const struct cgroup_cfg *cg, pid_t pid, uint64_t *cpu_ns, uint64_t *mem_bytes);

/* Removes the VM's (empty) groups; missing groups are fine. */
void cgroup_vm_remove(const struct cgroup_cfg *cg, const char *vm_id);

/* ---- the QMP client ---------------------------------------------------- */

/*
 * A client for the QEMU Machine Protocol (JSON over a Unix socket).
 *
 * Wire format (docs/interop/qmp-spec in QEMU): the server greets with
 * {"QMP": {...}}; the client must send {"execute": "qmp_capabilities"} before
 * anything else.  Then every command is {"execute": NAME, "arguments": {...},
 * "id": N} and is answered by exactly one {"return": ..., "id": N} or
 * {"error": {"class": C, "desc": D}, "id": N}.  Asynchronous events
 * {"event": NAME, "data": {...}, "timestamp": {...}} may arrive at any time,
 * also between a command and its reply.  Each message is one line.
 *
 * This client sends one command at a time and waits (with a deadline) for the
 * reply carrying its id; replies with other ids (late answers to commands
 * that timed out) are dropped.  Events read while waiting are queued and
 * handed to the event callback only from qmp_process(), never from inside
 * qmp_command(), so callers never see re-entrant callbacks.
 *
 * A line longer than QMP_LINE_MAX, a reply that is not a JSON object or
 * has neither "return" nor "error", or a greeting without "QMP" is a protocol
 * error: the connection is then considered broken.
 */

#define QMP_LINE_MAX (1u << 20)

struct qmp;

/* Called for each event, with its name and its "data" object (borrowed,
 * may be NULL). */
typedef void (*qmp_event_fn)(void *ctx, const char *event, json_t *data);

/* Wraps a connected socket (takes ownership of fd). */
struct qmp *qmp_new(int fd, qmp_event_fn on_event, void *ctx);

/* Connects to a Unix socket, retrying until timeout_ms while it does not
 * exist yet or refuses (QEMU still starting), then does the handshake. */
struct qmp *qmp_connect(const char *path, int timeout_ms, qmp_event_fn on_event, void *ctx,
                        struct nubo_err *err);

/* Reads the greeting and negotiates capabilities. */
int qmp_handshake(struct qmp *q, int timeout_ms, struct nubo_err *err);

/* Runs a command and waits for its reply.  args (may be NULL) is stolen.
 * Returns the "return" value as a new reference, or NULL with err: QEMU's
 * error class and description, a timeout, or a broken connection. */
json_t *qmp_command(struct qmp *q, const char *name, json_t *args, int timeout_ms,
                    struct nubo_err *err);

/* The socket, to poll for POLLIN. */
int qmp_fd(const struct qmp *q);

/* True when events are queued and qmp_process() should run even without
 * input on the socket. */
int qmp_pending(const struct qmp *q);

/* Reads what is available without blocking and dispatches queued events.
 * Returns 0, or -1 when the connection is closed or broken (err says how). */
int qmp_process(struct qmp *q, struct nubo_err *err);

/* Closes the socket and frees q (NULL is fine). */
void qmp_free(struct qmp *q);

/* ---- the QEMU driver --------------------------------------------------- */

/*
 * The QEMU hypervisor driver (struct hv_driver qemu_driver).
 *
 * Each VM is one qemu-system-x86_64 process, started detached (its own
 * session, its own cgroup) so that it outlives the agent.  The agent talks to
 * it only through QMP on <vm-dir>/qmp.sock, and learns of its exit through a
 * pidfd (which also works for a QEMU adopted after an agent restart).
 */

struct qemu_cfg {
    char binary[PATH_MAX]; /* "qemu-system-x86_64" or a path */
    char images_dir[PATH_MAX];
    enum accel accel; /* ACCEL_KVM or ACCEL_TCG, already decided */
    struct cgroup_cfg cgroups;
    int qmp_timeout_ms; /* per QMP command; default 5000 */
    char netns[64];     /* run QEMU in this network namespace ("" = the agent's) */
};

/* Sets the configuration used by every qemu_driver operation. */
void qemu_driver_init(const struct qemu_cfg *cfg);

extern const struct hv_driver qemu_driver;

/* Builds QEMU's command line for vm booting img under cfg.  qmp_fd is the
 * inherited listening socket of the monitor, or -1 to let QEMU create
 * <vm-dir>/qmp.sock itself.  Pure: touches no files, so unit tests can check
 * it.  The caller frees argv. */
void qemu_build_argv(const struct qemu_cfg *cfg, const struct vm *vm, const struct image *img,
                     int qmp_fd, struct strv *argv);

/* Appends to a QEMU option value, doubling commas as QEMU's option syntax
 * requires ("a,b" -> "a,,b"), into out.  Returns -1 when it does not fit. */
int qemu_escape_opt(const char *in, char *out, size_t n);

/* Returns the VM state a QMP query-status "status" string maps to:
 * VM_RUNNING, VM_PAUSED, or VM_STOPPING for "shutdown". */
enum vm_state qemu_status_to_state(const char *status);

/* ---- the fake driver --------------------------------------------------- */

/*
 * The "fake" hypervisor driver (struct hv_driver fake_driver).
 *
 * FOR SCALE TESTS AND BENCHMARKS ONLY.  No guest ever runs: a VM of the
 * fake driver is a directory with its vm.json, and its state changes at
 * once (start -> running, stop -> stopped on the next loop turn, reboot
 * counts a boot).  Its console gets a line with the ready marker per boot
 * so that clients waiting for a boot work unchanged.  It lets one machine
 * play hundreds of hosts with thousands of VMs to exercise the controller
 * (placement, reconciliation, heartbeats) without QEMU.  nubo-hostd uses
 * it only with --driver fake, says so loudly in its log, and reports
 * "driver": "fake" to the controller and in GET /v1/host.
 */

extern const struct hv_driver fake_driver;

/* ---- helpers exposed for unit tests ------------------------------------ */

/* JSON object for one image (new reference). */
json_t *image_to_json(const struct image *img);

/* The rates between two readings a and b of one VM with vcpus, dt_ms
 * apart, into the VM sample obj (cpu, disk_*, net_*); memory and counters
 * come from b.  Exposed for unit tests. */
void sampler_vm_json(const struct vm_counters *a, const struct vm_counters *b, int vcpus,
                     int64_t dt_ms, json_t *obj);

#endif
