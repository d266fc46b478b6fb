/*
 * driver.h - the hypervisor driver interface: a const table of operations.
 *
 * The host agent (host.c) owns the VM list, the HTTP API and the policy
 * (stop = ask the guest, then force at a deadline); a driver owns the
 * mechanics of one hypervisor.  Drivers report what happens to a VM by
 * calling vm_set_state(); they never free a struct vm.
 *
 * All operations are called from the agent's single thread.  Operations
 * return 0 or -1 with err filled for the user.
 *
 * The agent never asks which driver it has (libvirt's idiom): what differs
 * between drivers is a capability flag in the table, false when a driver
 * lacks it, and the driver's own init().
 */
#ifndef NUBO_HOST_DRIVER_H
#define NUBO_HOST_DRIVER_H

#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "host/vm/accel.h"
#include "host/vm/vm.h"
#include "lib/err.h"

/* What the agent's configuration tells a driver at startup. */
struct hv_setup {
    const char *binary;     /* the emulator: "qemu-system-x86_64" or a path */
    enum accel accel;       /* the operator's wish: auto | kvm | tcg */
    const char *netns;      /* run guests in this network namespace ("" = ours) */
    const char *images_dir; /* base images */
};

/* What a driver found at startup (for GET /v1/host and the heartbeat). */
struct hv_info {
    enum accel accel;       /* decided: ACCEL_KVM or ACCEL_TCG */
    char accel_reason[256]; /* why, in one sentence */
    int cgroup_version;     /* 2, 1, or 0 for none */
    char version[64];       /* the emulator's version ("" = none) */
};

/* A VM's resource counters at one instant (sample.c turns two of them into
 * rates).  Counters are cumulative since the VM's process started; a has_
 * flag is false when the driver cannot measure that group. */
struct vm_counters {
    bool has_cpu;
    uint64_t cpu_ns; /* CPU time of the VM's process(es) */
    bool has_memory;
    uint64_t memory_bytes; /* memory in use now (a gauge) */
    bool has_disk;
    uint64_t disk_read_bytes, disk_write_bytes, disk_read_ops, disk_write_ops;
    bool has_net;
    uint64_t net_rx_bytes, net_tx_bytes, net_rx_packets, net_tx_packets;
};

struct hv_driver {
    const char *name;
    /* Capability: each guest NIC is a tap device on this host, which the
     * agent creates before prepare(), attaches to its tenant network and
     * deletes with the VM; the agent also converges the network document
     * at startup.  Without it NICs exist only in the definitions. */
    bool has_taps;
    /* Capability: guests run on this host's CPUs, under info.accel.  The
     * heartbeat reports the acceleration, or "none" without it. */
    bool has_accel;
    /* Probes the machine and configures the driver, once, before any
     * other operation.  Fills info; -1 with err when the driver cannot run
     * here (the agent does not start). */
    int (*init)(const struct hv_setup *setup, struct hv_info *info, struct nubo_err *err);
    /* Creates the VM's disks and metadata in vm->dir (the definition is
     * already saved).  Idempotent for files that already exist. */
    int (*prepare)(struct vm *vm, struct nubo_err *err);
    /* Starts the VM; on return it is RUNNING (or the call failed and the VM
     * is STOPPED with a reason). */
    int (*start)(struct vm *vm, struct nubo_err *err);
    /* Asks the guest to power off (ACPI power button).  Returns at once. */
    int (*shutdown)(struct vm *vm, struct nubo_err *err);
    /* Powers off now (forced); on return no process is left. */
    int (*destroy)(struct vm *vm, struct nubo_err *err);
    int (*reboot)(struct vm *vm, struct nubo_err *err);
    int (*pause)(struct vm *vm, struct nubo_err *err);
    int (*resume)(struct vm *vm, struct nubo_err *err);
    /* Re-attaches to a VM whose process was started by an earlier run of the
     * agent, or records that it died meanwhile. */
    int (*adopt)(struct vm *vm, struct nubo_err *err);
    /* Fills up to max pollfds to watch for this VM; returns how many. */
    int (*pollfds)(struct vm *vm, struct pollfd *fds, int max);
    /* Called after poll() with the revents of the pollfds it gave. */
    void (*handle)(struct vm *vm, const struct pollfd *fds, int n);
    /* True when the driver has buffered work (handle() must run soon). */
    int (*pending)(const struct vm *vm);
    /* Adds resource usage fields to obj (cpu_time_ns, memory_bytes...). */
    void (*stats)(struct vm *vm, json_t *obj);
    /* Reads the counters of a VM that has a process (for metrics).  Must
     * be quick: it runs for every VM at every sampling interval. */
    void (*sample)(struct vm *vm, struct vm_counters *out);
    /* Forgets the driver's data for vm without touching the guest (the
     * agent is shutting down and the VM keeps running). */
    void (*release)(struct vm *vm);
    /* Removes the VM's disks and leftovers (the VM has no process). */
    int (*remove)(struct vm *vm, struct nubo_err *err);
};

/* The driver called name ("qemu", "fake"), or NULL when there is none. */
const struct hv_driver *hv_driver_find(const char *name);

#endif
