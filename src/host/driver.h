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
 */
#ifndef NUBO_HOST_DRIVER_H
#define NUBO_HOST_DRIVER_H

#include <jansson.h>
#include <poll.h>

#include "host/vm.h"
#include "lib/err.h"

struct hv_driver {
    const char *name;
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
    /* Forgets the driver's data for vm without touching the guest (the
     * agent is shutting down and the VM keeps running). */
    void (*release)(struct vm *vm);
    /* Removes the VM's disks and leftovers (the VM has no process). */
    int (*remove)(struct vm *vm, struct nubo_err *err);
};

#endif
