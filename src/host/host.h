/*
 * host.h - the host agent: its configuration, its VMs, its event loop.
 *
 * One thread.  host_run() polls the API sockets, every VM's driver fds and a
 * signalfd, and fires stop deadlines.  The API layer (api.c) calls the
 * host_vm_* operations below; they validate, apply policy (capacity, state
 * rules, stop-then-force) and call the hypervisor driver.
 */
#ifndef NUBO_HOST_HOST_H
#define NUBO_HOST_HOST_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "host/vm/vm.h"
#include "lib/err.h"

struct host_cfg {
    char state_dir[PATH_MAX]; /* VMs live in <state_dir>/vms/<id>/ */
    char images_dir[PATH_MAX];
    char socket_path[PATH_MAX]; /* Unix socket of the API ("" = none) */
    char tcp_addr[64];          /* TCP listen address ("" = no TCP) */
    int tcp_port;
    char token[128]; /* bearer token required on TCP */
    char qemu[PATH_MAX];
    enum accel accel;
    int stop_timeout_s; /* ACPI power-down grace before forcing */
    double cpu_ratio;   /* vCPU overcommit: vCPUs offered per host CPU */
    double mem_ratio;
    uint64_t mem_reserve_mib; /* kept for the host itself */
    char driver[8];           /* "qemu", or "fake" (scale tests only: no guest runs) */
    /* The controller link (uplink.h); controller "" = a standalone agent. */
    char controller[512]; /* http://ADDR:PORT of nubod */
    char join_token_file[PATH_MAX];
    char controller_ca[PATH_MAX]; /* --controller-ca: the CA of an https:// nubod, or "" */
    char controller_pin[64];      /* --controller-pin: sha256//... of nubod's key, or "" */
    char advertise[PATH_MAX + 8]; /* how nubod reaches us; "" = unix:<socket> */
    char name[64];                /* host name at the controller; "" = hostname */
    int heartbeat_ms;
    int sample_ms; /* metric sampling interval, sent to the controller (0 = off) */
    /* Tenant networking (docs/internals/networking.md). */
    char netns[64];           /* host networking + QEMU in this netns ("" = ours) */
    char underlay_ip[16];     /* local VXLAN endpoint ("" = none) */
    char external_bridge[16]; /* bridge of the external network ("" = none) */
    int datapath_check_s;     /* self-check period of the datapath (0 = off) */
};

/* Fills cfg with defaults (/var/lib/nubo/..., auto acceleration...). */
void host_cfg_defaults(struct host_cfg *cfg);

struct host;

/* Probes acceleration and cgroups, loads and re-adopts existing VMs, opens
 * the API sockets.  Returns NULL with err on failure. */
struct host *host_new(const struct host_cfg *cfg, struct nubo_err *err);

/* Serves until SIGTERM or SIGINT.  Running VMs keep running afterwards. */
int host_run(struct host *h);

/* Closes everything; VMs keep running.  NULL is fine. */
void host_free(struct host *h);

/* ---- operations for the API layer -------------------------------------- */

/* Capabilities, capacity and counts (new reference). */
json_t *host_info(struct host *h);

/* Base images (new reference). */
json_t *host_images(struct host *h);

/* Finds a VM by id or by name; NULL with NUBO_E_NOTFOUND. */
struct vm *host_vm_find(struct host *h, const char *ref, struct nubo_err *err);

/* All VMs, oldest first (new reference). */
json_t *host_vm_list(struct host *h);

/* One VM with its live statistics (new reference). */
json_t *host_vm_show(struct host *h, struct vm *vm);

/* Validates, checks capacity, creates the disks and, unless body says
 * "start": false, starts the VM.  On any failure nothing is left behind. */
struct vm *host_vm_create(struct host *h, json_t *body, struct nubo_err *err);

/* start | stop | reboot | pause | resume.  opts (may be NULL) holds "force"
 * and "timeout" for stop.  Sets *accepted when the action goes on in the
 * background (a graceful stop). */
int host_vm_action(struct host *h, struct vm *vm, const char *action, json_t *opts, int *accepted,
                   struct nubo_err *err);

/* Forces the VM off if needed, removes its files and forgets it. */
int host_vm_delete(struct host *h, struct vm *vm, struct nubo_err *err);

/* Live migration (docs/internals/mobility.md, host-protocol.md).
 * host_vm_migrate sends a running VM to {"uri", "downtime_ms"?} (the
 * destination's VM, created with "incoming": true, says its uri);
 * host_vm_migration answers its progress (new reference; NULL with err);
 * host_vm_migrate_cancel stops an outgoing one (the VM stays here). */
int host_vm_migrate(struct host *h, struct vm *vm, json_t *body, struct nubo_err *err);
json_t *host_vm_migration(struct host *h, struct vm *vm, struct nubo_err *err);
int host_vm_migrate_cancel(struct host *h, struct vm *vm, struct nubo_err *err);

/* Cold migration and resize of a stopped VM (host.c,
 * docs/internals/mobility.md).  host_vm_export serves its root disk
 * read-only for another host to copy ({uri}, new reference; the VM
 * cannot start meanwhile); host_vm_export_stop ends that.
 * host_vm_resize applies a create body's vcpus, memory and root_disk
 * (grown only) to the stopped VM, keeping its old definition and root
 * disk once; host_vm_resize_end drops them (revert false) or puts them
 * back (revert true); both done when nothing is kept. */
json_t *host_vm_export(struct host *h, struct vm *vm, struct nubo_err *err);
int host_vm_export_stop(struct host *h, struct vm *vm, struct nubo_err *err);
bool host_vm_exported(const struct vm *vm);
int host_vm_resize(struct host *h, struct vm *vm, json_t *body, struct nubo_err *err);
int host_vm_resize_end(struct host *h, struct vm *vm, bool revert, struct nubo_err *err);

/* An anonymous writable file in the images directory to stream an upload
 * into (O_TMPFILE), or -1. */
int host_image_upload_fd(struct host *h);

/* Stores an uploaded image part (image_store_part()); a disk of an image
 * that VMs use is NUBO_E_CONFLICT (their overlays point at it). */
int host_image_put(struct host *h, const char *name, const char *part, int fd, const char *sha256,
                   struct nubo_err *err);

/* The volumes of the local backend on this host (vm.h, "volumes";
 * docs/internals/host-protocol.md, /v1/volumes): list, one, create from
 * {id, size_gib} (*created false when it existed with that size), grow to
 * {size_gib}, delete.  New references, or NULL / -1 with err. */
json_t *host_volume_list(struct host *h);
json_t *host_volume_get(struct host *h, const char *id, struct nubo_err *err);
json_t *host_volume_create(struct host *h, json_t *body, bool *created, struct nubo_err *err);
json_t *host_volume_resize(struct host *h, const char *id, json_t *body, struct nubo_err *err);
/* POST /v1/volumes/{id}/snapshots {id}: takes a snapshot (online when a
 * running VM holds the volume); *created tells whether it is new. */
json_t *host_volume_snapshot_take(struct host *h, const char *id, json_t *body, bool *created,
                                  struct nubo_err *err);
/* DELETE /v1/volumes/{id}/snapshots/{sid}. */
int host_volume_snapshot_drop(struct host *h, const char *id, const char *sid,
                              struct nubo_err *err);
int host_volume_delete(struct host *h, const char *id, struct nubo_err *err);

/* Attaches volume {"volume_id": UUID} of this host's store to vm: hot-
 * plugged when it has a process (and the driver can), in its definition
 * always, so a start or an agent restart keeps it.  Attaching it again to
 * the same VM is a no-op; to another VM NUBO_E_CONFLICT.  Detach unplugs
 * (NUBO_E_TIMEOUT when the guest does not release it) and drops it from
 * the definition. */
int host_vm_volume_attach(struct host *h, struct vm *vm, json_t *body, struct nubo_err *err);
int host_vm_volume_detach(struct host *h, struct vm *vm, const char *id, struct nubo_err *err);

/* The network state for GET /v1/network (new reference). */
json_t *host_network_get(struct host *h);

/* Validates a network document (nothing changes when it is invalid),
 * stores it in <state-dir>/network.json and converges on it.  Returns the
 * state as host_network_get does, or NULL with err. */
json_t *host_network_put(struct host *h, json_t *body, struct nubo_err *err);

/* True when auth ("Bearer ...") carries the TCP listener's token. */
bool host_tcp_token_ok(const struct host *h, const char *auth);

#endif
