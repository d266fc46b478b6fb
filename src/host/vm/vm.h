/*
 * vm.h - the hypervisor side of the host agent (src/host/vm/): its whole
 * interface to the agent core (host.c, api.c).
 *
 * Sections: the VM (definition, runtime state, directory on disk), the
 * hypervisor driver table, the acceleration choice, base images, metric
 * sampling.  What only this folder and its tests use (the QEMU driver, the
 * QMP client, cgroups, the KVM probe, the fake driver) is in vm_int.h.
 *
 * A virtual machine as the host agent knows it: its definition (what
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
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
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
#define VM_MAX_VOLUMES 8
#define VM_USER_DATA_MAX (64 * 1024)
#define VM_MAX_VCPUS 64
#define VM_MIN_MEMORY_MIB 64
#define VM_MAX_MEMORY_MIB (1024 * 1024)

/* A NIC on a tenant network (docs/internals/networking.md, "VM NICs"). */
struct vm_nic {
    char port_id[37];
    char network_id[37];
    char mac[18];
    char tap[16]; /* inet_tap_name of port_id (derived): the legacy name until
                     vm_def_name_taps gives it the agent's tag */
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
    /* "metadata_http_tokens": "required": the metadata service answers only
     * requests with a session token (IMDSv2); "optional" (default) not. */
    bool metadata_tokens_required;
    char created_at[32];
    /* Volumes of the agent's store (volume.c) attached to the VM, in
     * attach order: a VM with a process has them plugged, a stopped one
     * gets them at its next start.  The guest sees each as a virtio disk
     * whose serial is the first VOLUME_SERIAL_LEN characters of the id. */
    int nvolumes;
    char volumes[VM_MAX_VOLUMES][37];
    /* The controller's instance generation this copy belongs to ("generation"
     * at create, 0 when none was given): reported with the VM, so a copy an
     * evacuation left behind is told apart (docs/internals/mobility.md). */
    long long generation;
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
    /* Live migration (docs/internals/mobility.md), not saved: "" when none,
     * "incoming" (this VM waits for or receives a migration stream at
     * migration_uri) or "outgoing" (this VM was asked to migrate; once
     * QEMU reports it completed, it never runs here again). */
    char migration_role[12];
    char migration_uri[96];
    int64_t migration_at;   /* monotonic ms the outgoing migration began */
    void *drv;              /* hypervisor driver's private data */
    int poll_first, poll_n; /* this VM's slice of the agent's pollfds */
    struct vm *next;
};

/* Validates a create request body and fills def (id, created_at and mac
 * generated).  Does not check that the image exists.  On failure nothing
 * is allocated. */
int vm_def_from_request(json_t *body, struct vm_def *def, struct nubo_err *err);

/* Names the taps of def's NICs with the agent tag (lib/inet.h
 * inet_tap_name); the agent calls it on every definition it parses. */
void vm_def_name_taps(struct vm_def *def, const char *tag);

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

/* ---- acceleration ------------------------------------------------------ */

/*
 * How guests run: KVM (hardware virtualization) or TCG (emulation);
 * the driver decides at init() (vm_int.h has the probe).
 */

enum accel { ACCEL_AUTO = 0, ACCEL_KVM, ACCEL_TCG };

/* Parses "auto", "kvm", "tcg". */
int accel_parse(const char *s, enum accel *out, struct nubo_err *err);

/* "auto", "kvm", "tcg". */
const char *accel_name(enum accel a);

/* ---- hypervisor drivers ------------------------------------------------ */

/*
 * The hypervisor driver interface: a const table of operations.
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
    /* Capability: a volume's data is a file (volume.c).  Creates the
     * blank data file path of bytes (atomically: whole or absent), and
     * grows one.  NULL: volumes are records only (the fake driver). */
    int (*volume_create)(const char *path, uint64_t bytes, struct nubo_err *err);
    int (*volume_resize)(const char *path, uint64_t bytes, struct nubo_err *err);
    /* Capability: hot-plug.  Plugs the volume id (data file path) into a
     * VM that has a process, and unplugs it (the guest must release it
     * within a deadline: NUBO_E_TIMEOUT otherwise, and the unplug request
     * stays with the guest, so a retry finishes it).  NULL: attachments
     * live in definitions only (the fake driver). */
    int (*volume_attach)(struct vm *vm, const char *id, const char *path, struct nubo_err *err);
    int (*volume_detach)(struct vm *vm, const char *id, struct nubo_err *err);
    /* Grows an attached volume of a VM that has a process, online (the
     * guest sees the new size).  NULL: only the record changes. */
    int (*volume_grow)(struct vm *vm, const char *id, uint64_t bytes, struct nubo_err *err);
    /* Capability: snapshots in the data file.  Takes (drop false) or
     * drops (drop true) the internal snapshot snap of volume id, whose
     * data file is path: through online's monitor when a VM that has a
     * process holds the volume (online not NULL), else on the file.  Both
     * idempotent: a take first drops any snapshot of that name, a drop of
     * a missing one is done.  NULL: snapshots are records only. */
    int (*volume_snapshot)(const char *path, struct vm *online, const char *id, const char *snap,
                           bool drop, struct nubo_err *err);
    /* Makes dst (whole or absent) a full copy of snapshot snap of the
     * data file src (snap NULL: of src as it is, which no QEMU writes
     * to), grown to bytes; src may be in use by a running VM with a snap
     * (the snapshot's clusters do not change while it exists). */
    int (*volume_copy)(const char *src, const char *snap, const char *dst, uint64_t bytes,
                       struct nubo_err *err);
    /* Capability: live migration (docs/internals/mobility.md).
     * migrate_incoming starts the (prepared) VM waiting for a migration
     * stream on listen_addr (a free port), sets vm->migration_uri and the
     * role "incoming".  migrate_out sends the running VM to uri with its
     * local disks (only their top layer: the base image is on both hosts),
     * returning at once.  migrate_query fills out with the progress
     * ("status": none | setup | active | completed | failed | cancelled,
     * ram and disk counters, downtime_ms...).  migrate_cancel stops an
     * outgoing migration: the VM stays here.  NULL: no migration. */
    int (*migrate_incoming)(struct vm *vm, const char *listen_addr, struct nubo_err *err);
    int (*migrate_out)(struct vm *vm, const char *uri, int downtime_ms, struct nubo_err *err);
    int (*migrate_query)(struct vm *vm, json_t *out, struct nubo_err *err);
    int (*migrate_cancel)(struct vm *vm, struct nubo_err *err);
    /* Capability: cold migration and resize of a stopped VM
     * (docs/internals/mobility.md, the end of src/host/host.c).  disk_export
     * serves the VM's root disk read-only on listen_addr and writes its
     * uri (uri_n bytes); again while it serves: the same uri.
     * disk_export_stop ends it (nothing served: done).  disk_import makes
     * the root disk of a VM being created (before prepare) a copy of what
     * uri serves, over the VM's own base image, whole or absent.
     * root_keep keeps the root disk as it is (once: a kept one stays) and
     * root_grow grows it to bytes (never shrinks); root_restore puts the
     * kept one back (revert true) or drops it.  NULL: the VM has no disk
     * files, definitions only (the fake driver). */
    int (*disk_export)(struct vm *vm, const char *listen_addr, char *uri, size_t uri_n,
                       struct nubo_err *err);
    int (*disk_export_stop)(struct vm *vm, struct nubo_err *err);
    int (*disk_import)(struct vm *vm, const char *uri, struct nubo_err *err);
    int (*root_keep)(struct vm *vm, struct nubo_err *err);
    int (*root_grow)(struct vm *vm, uint64_t bytes, struct nubo_err *err);
    int (*root_restore)(struct vm *vm, bool revert, struct nubo_err *err);
};

/* The driver called name ("qemu", "fake"), or NULL when there is none. */
const struct hv_driver *hv_driver_find(const char *name);

/* ---- base images ------------------------------------------------------- */

/*
 * Base images available to VMs on this host.
 *
 * An image named NAME is the file <images-dir>/NAME.qcow2 (or NAME.raw),
 * the disk every VM created from it gets a copy-on-write overlay of.  Three
 * optional sidecar files select direct kernel boot instead of booting the
 * disk's own bootloader:
 *
 *     NAME.kernel    a Linux kernel (bzImage)
 *     NAME.initrd    its initramfs
 *     NAME.cmdline   one line: the kernel command line
 *
 * images/build-guest.sh produces such a set ("nubo-tiny").  A cloud image
 * with its own bootloader (a Debian genericcloud qcow2) is just NAME.qcow2.
 *
 * The controller uploads images part by part (PUT /v1/images/NAME/PART,
 * image_store_part()): each part lands in a temporary file and is renamed
 * into place only once its SHA-256 matches, so an image is never seen half
 * written.  An image is listed once its disk is there, which is why the
 * controller sends the disk last.
 */

struct image {
    char name[64];
    char path[PATH_MAX];   /* the base disk */
    char format[8];        /* "qcow2" or "raw" */
    char kernel[PATH_MAX]; /* "" when the image boots from its disk */
    char initrd[PATH_MAX];
    char cmdline[512];
    uint64_t virtual_size; /* bytes */
    uint64_t file_size;    /* bytes on disk */
};

/* Looks up a base image by name (already validated with valid_name) and
 * asks qemu-img for its virtual size and format.  NUBO_E_NOTFOUND when there
 * is no such image. */
int image_resolve(const char *dir, const char *name, struct image *out, struct nubo_err *err);

/* Lists the images of dir as a JSON array (new reference). */
json_t *image_list(const char *dir);

/* Removes temporary files of uploads that a crash interrupted. */
void image_clean_uploads(const char *dir);

/* True for an upload part name: "disk", "kernel", "initrd", "cmdline". */
bool image_part_valid(const char *part);

/* Stores an uploaded part of image `name` from fd (an anonymous O_TMPFILE
 * in dir holding the whole body; not closed here) after checking that its
 * SHA-256 is sha256 (hex).  A disk must be qcow2 without a backing or
 * external data file, or raw; it becomes NAME.qcow2 or NAME.raw (the
 * other one is removed).  A cmdline is one line of at most 511 printable
 * characters.  Replaces an existing part atomically.  NUBO_E_INVALID on a
 * mismatch or a bad part; nothing changes on failure. */
int image_store_part(const char *dir, const char *name, const char *part, int fd,
                     const char *sha256, struct nubo_err *err);

/* ---- volumes (volume.c) ------------------------------------------------ */

/*
 * The local backend's volumes on this host: <dir>/volumes/<id>.json (the
 * record) and <id>.qcow2 (the data, made by drv->volume_create).  dir is
 * the agent's state directory; ids are UUIDs (anything else is
 * NUBO_E_NOTFOUND).  Records are {"id", "size_bytes", "created_at",
 * "snapshots": [{"id", "created_at"}]}; the
 * functions returning json_t * return a new reference or NULL with err.
 */

/* Every volume's record (an array; damaged records are logged, skipped). */
json_t *volume_list(const char *dir);

json_t *volume_get(const char *dir, const char *id, struct nubo_err *err);

/* Creates volume id of bytes; *created tells whether it is new.  The same
 * id with the same size answers the existing volume; another size is
 * NUBO_E_CONFLICT.  With src_id, the volume is a copy of snapshot
 * src_snap of volume src_id (NUBO_E_INVALID when this host has none), or
 * without src_snap of the volume now (through a temporary snapshot when
 * online, the running VM holding src_id, is not NULL). */
json_t *volume_create(const char *dir, const struct hv_driver *drv, const char *id, uint64_t bytes,
                      const char *src_id, const char *src_snap, struct vm *online, bool *created,
                      struct nubo_err *err);

/* Grows volume id to bytes (the same size: nothing to do; smaller:
 * NUBO_E_INVALID): through the VM online when online is the VM that
 * has it attached and runs (drv->volume_grow), else its file. */
json_t *volume_resize(const char *dir, const struct hv_driver *drv, const char *id, uint64_t bytes,
                      struct vm *online, struct nubo_err *err);

/* The guest-visible serial of a volume: the first 20 characters of its
 * id (virtio-blk's limit), /dev/disk/by-id/virtio-<serial> in a guest
 * with udev. */
#define VOLUME_SERIAL_LEN 20

/* The data file of volume id under the state directory dir. */
int volume_data_path(const char *dir, const char *id, char *out, size_t n, struct nubo_err *err);

/* Removes volume id's files; NUBO_E_NOTFOUND when it has none. */
int volume_delete(const char *dir, const char *id, struct nubo_err *err);

/* Takes snapshot sid of volume id (drv->volume_snapshot, through online
 * when a running VM holds it) and lists it in the record; the snapshot's
 * entry {id, created_at} (new reference) or NULL with err.  *created
 * tells whether it is new (an existing one is answered as is). */
json_t *volume_snapshot_take(const char *dir, const struct hv_driver *drv, const char *id,
                             const char *sid, struct vm *online, bool *created,
                             struct nubo_err *err);

/* Drops snapshot sid of volume id; NUBO_E_NOTFOUND when the record does
 * not list it. */
int volume_snapshot_drop(const char *dir, const struct hv_driver *drv, const char *id,
                         const char *sid, struct vm *online, struct nubo_err *err);

/* ---- metric sampling --------------------------------------------------- */

/*
 * Metric sampling on the host agent.
 *
 * Every --sample-ms the agent takes a "round": the host's CPU utilisation,
 * memory and state-directory disk usage, and for every VM that has a
 * process its CPU utilisation, memory, disk and network rates and the
 * cumulative counters behind them.  The driver reads the counters
 * (hv_driver.sample: the VM's cgroup, QMP query-blockstats); the sampler
 * keeps the previous reading of each VM and turns two readings into rates
 * over the monotonic time between them.  A VM's first reading, or one
 * after its process changed (a restart resets QEMU's counters), gives
 * counters but no rates yet.
 *
 * CPU utilisation is delta CPU time / delta wall time / vCPUs, in percent,
 * capped at 100 (QEMU's own threads can push a busy guest slightly past
 * its vCPUs).  The round's JSON is what POST /v1/hosts/{id}/metrics takes
 * in its "rounds" (docs/internals/monitoring.md), without seq and age_ms,
 * which the uplink adds when it sends the round.
 */

struct sampler;

/* A sampler for the VMs of one agent; state_dir is the directory whose
 * filesystem is the host's disk. */
struct sampler *sampler_new(const char *state_dir);

/* Frees s (NULL is fine). */
void sampler_free(struct sampler *s);

/* Takes a round of the VMs listed from vms (linked by next) with drv:
 * {host:{cpu?, memory_used, memory_total, disk_used, disk_total},
 *  vms:[{name, cpu?, memory?, disk_read_bytes?..., counters:{...}}]}
 * (new reference).  now_ms is the monotonic clock. */
json_t *sampler_round(struct sampler *s, struct vm *vms, const struct hv_driver *drv,
                      int64_t now_ms);

#endif
