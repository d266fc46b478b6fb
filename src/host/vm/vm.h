/*
 * vm.h - a virtual machine as the host agent knows it: its definition (what
 * was asked for), its runtime state, and its directory on disk.
 *
 * Local state layout (one directory per VM, <state-dir>/vms/<id>/):
 *
 *     vm.json        definition + last known state, written atomically
 *     qmp.sock       QEMU's monitor socket
 *     qemu.pid       QEMU's pid (written by QEMU)
 *     qemu.log       QEMU's own stdout/stderr
 *     console.log    the guest's serial console (appended across boots)
 *     root.qcow2     copy-on-write overlay over the base image
 *     disk-N.qcow2   extra blank disks
 *     config.iso     OpenStack-style config drive (label config-2)
 *
 * vm.json is the record that lets a restarted agent re-adopt running VMs:
 *   {"def": {...}, "state": "running", "reason": "...", "pid": 1234,
 *    "boots": 2, "console_boot_offset": 5120, "state_changed_at": "..."}
 */
#ifndef NUBO_HOST_VM_H
#define NUBO_HOST_VM_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"

enum vm_state {
    VM_STOPPED = 0, /* defined, no process (never started, shut down, or forced off) */
    VM_STARTING,    /* QEMU started, monitor not yet answering */
    VM_RUNNING,
    VM_PAUSED,
    VM_STOPPING, /* asked to power down; forced off at the deadline */
    VM_CRASHED,  /* QEMU died without a shutdown (reason says how) */
};

#define VM_MAX_DISKS 8
#define VM_MAX_KEYS 8
#define VM_MAX_NICS 8
#define VM_USER_DATA_MAX (64 * 1024)
#define VM_MAX_VCPUS 64
#define VM_MIN_MEMORY_MIB 64
#define VM_MAX_MEMORY_MIB (1024 * 1024)

/* A NIC on a tenant network (docs/internals/networking.md, "VM NICs"). */
struct vm_nic {
    char port_id[37];
    char network_id[37];
    char mac[18];
    char tap[16]; /* "tp" + the first 12 hex digits of port_id (derived) */
};

struct vm_def {
    char id[37];
    char name[64];
    char hostname[64];
    int vcpus;
    uint64_t memory_mib;
    char image[64];     /* base image name, see host images */
    uint64_t root_size; /* bytes; 0 = the base image's size */
    int ndisks;
    uint64_t disks[VM_MAX_DISKS]; /* sizes in bytes of extra blank disks */
    char network[8];              /* "none" or "user" (QEMU user-mode, isolated) */
    char mac[18];
    int nnics; /* tenant NICs (then network is "none") */
    struct vm_nic nics[VM_MAX_NICS];
    int nkeys;
    char *ssh_keys[VM_MAX_KEYS];
    char *user_data;      /* NULL when none */
    bool no_config_drive; /* "config_drive": false: metadata only from the
                           * metadata service (169.254.169.254) */
    char created_at[32];
};

struct vm {
    struct vm_def def;
    enum vm_state state;
    char reason[256]; /* why it is in this state, for the user */
    char state_changed_at[32];
    int boots;                     /* guest boots seen: starts + resets */
    long long console_boot_offset; /* console.log size when the current boot began */
    pid_t pid;                     /* QEMU's pid while a process exists, else 0 */
    int64_t stop_deadline;         /* monotonic ms when a stop turns into a kill; 0 = none;
                                    * cleared by vm_set_state() outside VM_STOPPING */
    int64_t stop_repress;          /* monotonic ms when the power button is pressed again */
    char dir[PATH_MAX];
    void *drv;              /* hypervisor driver's private data */
    int poll_first, poll_n; /* this VM's slice of the agent's pollfds */
    struct vm *next;
};

/* Validates a create request body and fills def (id, created_at and mac
 * generated).  Does not check that the image exists.  On failure nothing
 * is allocated. */
int vm_def_from_request(json_t *body, struct vm_def *def, struct nubo_err *err);

/* Frees what def owns (keys, user data). */
void vm_def_clear(struct vm_def *def);

/* JSON of the definition (new reference). */
json_t *vm_def_to_json(const struct vm_def *def);

/* Parses a definition as written by vm_def_to_json (trusted-but-checked
 * local state).  Returns -1 with err when it is damaged. */
int vm_def_from_json(json_t *o, struct vm_def *def, struct nubo_err *err);

/* Public JSON of a VM: definition fields + state, reason, pid... (new ref).
 * user_data is not echoed back, only whether there is some. */
json_t *vm_to_json(const struct vm *vm);

/* Writes vm.json atomically. */
int vm_save(const struct vm *vm, struct nubo_err *err);

/* Loads <dir>/vm.json into a new struct vm (caller owns; vm_free). */
struct vm *vm_load(const char *dir, struct nubo_err *err);

/* Frees a VM struct (not its files, not its process).  NULL is fine. */
void vm_free(struct vm *vm);

/* Changes state, records why, logs it and saves vm.json. */
void vm_set_state(struct vm *vm, enum vm_state st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

const char *vm_state_name(enum vm_state st);
int vm_state_parse(const char *s, enum vm_state *out);

/* True while a QEMU process exists for the VM. */
bool vm_state_has_process(enum vm_state st);

/* Path of a file in the VM's directory, e.g. vm_path(vm, "qmp.sock", buf). */
const char *vm_path(const struct vm *vm, const char *file, char *buf, size_t n);

#endif
