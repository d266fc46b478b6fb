/*
 * qemu.h - the QEMU hypervisor driver (struct hv_driver qemu_driver).
 *
 * Each VM is one qemu-system-x86_64 process, started detached (its own
 * session, its own cgroup) so that it outlives the agent.  The agent talks to
 * it only through QMP on <vm-dir>/qmp.sock, and learns of its exit through a
 * pidfd (which also works for a QEMU adopted after an agent restart).
 */
#ifndef NUBO_HOST_QEMU_H
#define NUBO_HOST_QEMU_H

#include <limits.h>

#include "host/accel.h"
#include "host/cgroup.h"
#include "host/driver.h"
#include "host/image.h"
#include "lib/strv.h"

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

#endif
