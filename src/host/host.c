/*
 * host.c - the host agent's state, policy and event loop; see host.h.
 */
#include "host/host.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "host/api.h"
#include "host/net/net.h"
#include "host/uplink.h"
#include "host/vm/vm.h"
#include "lib/fsutil.h"
#include "lib/httpd.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/sdnotify.h"
#include "lib/spawn.h"
#include "lib/util.h"
#include "lib/valid.h"

#define MAX_POLL 1024

/* A guest that is still booting has no ACPI handler yet and loses a power
 * button press; while a stop is pending the button is pressed again this
 * often, until the deadline forces the VM off. */
#define STOP_REPRESS_MS 2000

struct host {
    struct host_cfg cfg;
    const struct hv_driver *drv;
    struct vm *vms; /* oldest first */
    struct httpd *api_unix;
    struct httpd *api_tcp;
    struct uplink *uplink;   /* NULL without --controller */
    struct sampler *sampler; /* NULL without --controller or with --sample-ms 0 */
    int64_t next_sample_at;  /* monotonic ms */
    int sigfd;
    struct hv_info info; /* what the driver found at startup */
    char hostname[256];
    /* Tenant networking: the last accepted document and its convergence. */
    struct net_env net;
    struct net_doc doc;
    json_t *doc_json; /* as received (written to network.json) */
    json_t *net_errors;
    char net_applied_at[32];
    bool net_active; /* a document with networks was applied (so there may
                      * be something of ours to tear down) */
    struct mds *mds;
    /* The datapath's self-check (datapath_check): what it could not
     * repair, [{object, problem, since, instances?}], for the heartbeat. */
    json_t *problems;
    char checked_at[32];
    int64_t next_check_at; /* monotonic ms; 0 = off */
    /* The controller's lease and fence epoch (docs/internals/mobility.md):
     * past lease_until (monotonic ms; 0 = no lease yet) every running VM
     * is paused (lease_out) until the controller answers and says which
     * are still ours. */
    int64_t lease_until;
    bool lease_out;
    int64_t lease_out_at; /* when the VMs were paused (monotonic ms) */
    long long epoch;      /* the last one the controller answered; 0 = none yet */
    json_t *lease_paused; /* names of the VMs the lease paused */
};

void host_cfg_defaults(struct host_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    str_copy(cfg->state_dir, sizeof(cfg->state_dir), "/var/lib/nubo/host");
    str_copy(cfg->images_dir, sizeof(cfg->images_dir), "/var/lib/nubo/images");
    str_copy(cfg->socket_path, sizeof(cfg->socket_path), "/run/nubo/hostd.sock");
    str_copy(cfg->qemu, sizeof(cfg->qemu), "qemu-system-x86_64");
    cfg->tcp_port = 0;
    cfg->accel = ACCEL_AUTO;
    cfg->stop_timeout_s = 30;
    cfg->cpu_ratio = 4.0;
    cfg->mem_ratio = 1.0;
    cfg->mem_reserve_mib = 512;
    str_copy(cfg->driver, sizeof(cfg->driver), "qemu");
    cfg->heartbeat_ms = 3000;
    cfg->sample_ms = 10000;
    cfg->datapath_check_s = 10;
}

/* ------------------------------------------------------------ capacity */

struct capacity {
    long long vcpus_total, vcpus_used;
    long long mem_total, mem_used;   /* MiB */
    long long disk_total, disk_used; /* bytes (virtual sizes of VM disks) */
    long long disk_fs_free;          /* bytes really free on the filesystem */
};

static void capacity_get(struct host *h, struct capacity *c)
{
    memset(c, 0, sizeof(*c));
    c->vcpus_total = (long long)((double)get_nprocs() * h->cfg.cpu_ratio);
    struct sysinfo si;
    if (sysinfo(&si) == 0) {
        long long mib = (long long)((unsigned long long)si.totalram * si.mem_unit >> 20);
        mib -= (long long)h->cfg.mem_reserve_mib;
        c->mem_total = mib > 0 ? (long long)((double)mib * h->cfg.mem_ratio) : 0;
    }
    struct statvfs fs;
    if (statvfs(h->cfg.state_dir, &fs) == 0) {
        c->disk_total = (long long)fs.f_blocks * (long long)fs.f_frsize;
        c->disk_fs_free = (long long)fs.f_bavail * (long long)fs.f_frsize;
    }
    for (struct vm *vm = h->vms; vm; vm = vm->next) {
        c->vcpus_used += vm->def.vcpus;
        c->mem_used += (long long)vm->def.memory_mib;
        c->disk_used += (long long)vm->def.root_size;
        for (int i = 0; i < vm->def.ndisks; i++)
            c->disk_used += (long long)vm->def.disks[i];
    }
}

static json_t *cap_json(long long total, long long used)
{
    return json_pack("{s:I, s:I, s:I}", "total", (json_int_t)total, "allocated", (json_int_t)used,
                     "free", (json_int_t)(total > used ? total - used : 0));
}

json_t *host_info(struct host *h)
{
    struct capacity c;
    capacity_get(h, &c);
    int running = 0, total = 0;
    for (struct vm *vm = h->vms; vm; vm = vm->next) {
        total++;
        running += vm_state_has_process(vm->state);
    }
    json_t *disk = cap_json(c.disk_total, c.disk_used);
    json_object_set_new(disk, "filesystem_free", json_integer(c.disk_fs_free));
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:{s:o, s:o, s:o}, s:{s:i, s:i}, "
        "s:{s:f, s:f, s:I}}",
        "hostname", h->hostname, "version", NUBO_VERSION, "hypervisor", h->drv->name,
        "qemu_version", h->info.version, "accel", accel_name(h->info.accel), "accel_requested",
        accel_name(h->cfg.accel), "accel_reason", h->info.accel_reason, "cgroups",
        h->info.cgroup_version == 2 ? "v2" : (h->info.cgroup_version == 1 ? "v1" : "none"), "cpus",
        get_nprocs(), "capacity", "vcpus", cap_json(c.vcpus_total, c.vcpus_used), "memory_mib",
        cap_json(c.mem_total, c.mem_used), "disk_bytes", disk, "vms", "total", total, "running",
        running, "ratios", "cpu", h->cfg.cpu_ratio, "memory", h->cfg.mem_ratio,
        "memory_reserved_mib", (json_int_t)h->cfg.mem_reserve_mib);
    json_object_set_new(o, "underlay_ip",
                        h->cfg.underlay_ip[0] ? json_string(h->cfg.underlay_ip) : json_null());
    json_object_set_new(o, "netns", h->cfg.netns[0] ? json_string(h->cfg.netns) : json_null());
    return o;
}

json_t *host_images(struct host *h)
{
    return image_list(h->cfg.images_dir);
}

/* ---------------------------------------------------------------- volumes */

#define VOLUME_MAX_GIB 16384

/* body's size_gib (1 .. VOLUME_MAX_GIB) in bytes, or -1 with err. */
static int volume_size_of(json_t *body, const char *const allowed[], uint64_t *bytes,
                          struct nubo_err *err)
{
    const char *k;
    json_t *v;
    if (!json_is_object(body))
        return nubo_err_set(err, NUBO_E_INVALID, "the body must be a JSON object");
    json_object_foreach (body, k, v) {
        bool known = false;
        for (int i = 0; allowed[i]; i++)
            known = known || strcmp(k, allowed[i]) == 0;
        if (!known)
            return nubo_err_set(err, NUBO_E_INVALID, "unknown field '%.64s'", k);
    }
    v = json_object_get(body, "size_gib");
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > VOLUME_MAX_GIB)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "size_gib must be a whole number of GiB from 1 to %d", VOLUME_MAX_GIB);
    *bytes = (uint64_t)json_integer_value(v) << 30;
    return 0;
}

json_t *host_volume_list(struct host *h)
{
    return volume_list(h->cfg.state_dir);
}

json_t *host_volume_get(struct host *h, const char *id, struct nubo_err *err)
{
    return volume_get(h->cfg.state_dir, id, err);
}

static int volume_online(struct host *h, const char *id, struct vm **online, struct nubo_err *err);

json_t *host_volume_create(struct host *h, json_t *body, bool *created, struct nubo_err *err)
{
    static const char *const allowed[] = {"id", "size_gib", "source", NULL};
    uint64_t bytes;
    if (volume_size_of(body, allowed, &bytes, err) < 0)
        return NULL;
    const char *id = json_string_value(json_object_get(body, "id"));
    if (id == NULL || !valid_is_uuid(id)) {
        nubo_err_set(err, NUBO_E_INVALID, "id must be the volume's UUID");
        return NULL;
    }
    /* source: {volume_id, snapshot_id}, a copy of a snapshot */
    json_t *src = json_object_get(body, "source");
    const char *src_id = NULL, *src_snap = NULL;
    if (src != NULL) {
        src_id = json_string_value(json_object_get(src, "volume_id"));
        src_snap = json_string_value(json_object_get(src, "snapshot_id"));
        if (!json_is_object(src) || json_object_size(src) != (src_snap ? 2u : 1u) ||
            src_id == NULL || !valid_is_uuid(src_id) || (src_snap && !valid_is_uuid(src_snap))) {
            nubo_err_set(err, NUBO_E_INVALID,
                         "source must be {\"volume_id\": UUID, \"snapshot_id\"?: UUID}");
            return NULL;
        }
    }
    /* A copy of a volume a running guest writes to: through a temporary
     * snapshot (named by the copy's id), crash-consistent. */
    struct vm *online = NULL;
    if (src_id && !src_snap && volume_online(h, src_id, &online, err) < 0)
        return NULL;
    json_t *v =
        volume_create(h->cfg.state_dir, h->drv, id, bytes, src_id, src_snap, online, created, err);
    if (v && *created)
        log_info("volume %s: created (%llu GiB)", id, (unsigned long long)(bytes >> 30));
    return v;
}

/* The VM the volume id is attached to, or NULL. */
static struct vm *volume_holder(struct host *h, const char *id)
{
    for (struct vm *vm = h->vms; vm; vm = vm->next)
        for (int i = 0; i < vm->def.nvolumes; i++)
            if (strcmp(vm->def.volumes[i], id) == 0)
                return vm;
    return NULL;
}

json_t *host_volume_resize(struct host *h, const char *id, json_t *body, struct nubo_err *err)
{
    struct vm *holder = valid_is_uuid(id) ? volume_holder(h, id) : NULL;
    if (holder && (holder->state == VM_STARTING || holder->state == VM_STOPPING)) {
        nubo_err_set(err, NUBO_E_CONFLICT, "VM %s is %s; grow its volume when it runs or stopped",
                     holder->def.name, vm_state_name(holder->state));
        return NULL;
    }
    if (holder && !vm_state_has_process(holder->state))
        holder = NULL; /* its file grows, like a detached one's */
    static const char *const allowed[] = {"size_gib", NULL};
    uint64_t bytes;
    if (volume_size_of(body, allowed, &bytes, err) < 0)
        return NULL;
    return volume_resize(h->cfg.state_dir, h->drv, id, bytes, holder, err);
}

/* The VM with a process that holds volume id, for online work on it:
 * *online = NULL when none does; NUBO_E_UNAVAILABLE while its VM starts
 * or stops (retry). */
static int volume_online(struct host *h, const char *id, struct vm **online, struct nubo_err *err)
{
    struct vm *holder = valid_is_uuid(id) ? volume_holder(h, id) : NULL;
    *online = NULL;
    if (holder && (holder->state == VM_STARTING || holder->state == VM_STOPPING))
        return nubo_err_set(err, NUBO_E_UNAVAILABLE, "VM %s is %s; retry when it runs or stopped",
                            holder->def.name, vm_state_name(holder->state));
    if (holder && vm_state_has_process(holder->state))
        *online = holder;
    return 0;
}

json_t *host_volume_snapshot_take(struct host *h, const char *id, json_t *body, bool *created,
                                  struct nubo_err *err)
{
    struct vm *online;
    const char *k;
    json_t *v;
    *created = false;
    if (!json_is_object(body)) {
        nubo_err_set(err, NUBO_E_INVALID, "the body must be {\"id\": UUID}");
        return NULL;
    }
    json_object_foreach (body, k, v) {
        if (strcmp(k, "id") != 0) {
            nubo_err_set(err, NUBO_E_INVALID, "unknown field '%.64s'", k);
            return NULL;
        }
    }
    const char *sid = json_string_value(json_object_get(body, "id"));
    if (volume_online(h, id, &online, err) < 0)
        return NULL;
    json_t *s = volume_snapshot_take(h->cfg.state_dir, h->drv, id, sid, online, created, err);
    if (s && *created)
        log_info("volume %s: snapshot %s taken%s", id, sid, online ? " (online)" : "");
    return s;
}

int host_volume_snapshot_drop(struct host *h, const char *id, const char *sid, struct nubo_err *err)
{
    struct vm *online;
    if (volume_online(h, id, &online, err) < 0 ||
        volume_snapshot_drop(h->cfg.state_dir, h->drv, id, sid, online, err) < 0)
        return -1;
    log_info("volume %s: snapshot %s dropped", id, sid);
    return 0;
}

int host_volume_delete(struct host *h, const char *id, struct nubo_err *err)
{
    struct vm *holder = valid_is_uuid(id) ? volume_holder(h, id) : NULL;
    if (holder)
        return nubo_err_set(err, NUBO_E_CONFLICT, "volume %s is attached to VM %s; detach it first",
                            id, holder->def.name);
    if (volume_delete(h->cfg.state_dir, id, err) < 0)
        return -1;
    log_info("volume %s: deleted", id);
    return 0;
}

int host_vm_volume_attach(struct host *h, struct vm *vm, json_t *body, struct nubo_err *err)
{
    char path[PATH_MAX];
    const char *k;
    json_t *v;
    if (!json_is_object(body))
        return nubo_err_set(err, NUBO_E_INVALID, "the body must be {\"volume_id\": UUID}");
    json_object_foreach (body, k, v) {
        if (strcmp(k, "volume_id") != 0)
            return nubo_err_set(err, NUBO_E_INVALID, "unknown field '%.64s'", k);
    }
    const char *id = json_string_value(json_object_get(body, "volume_id"));
    if (id == NULL || !valid_is_uuid(id))
        return nubo_err_set(err, NUBO_E_INVALID, "volume_id must be a volume's UUID");
    json_t *rec = volume_get(h->cfg.state_dir, id, err);
    if (rec == NULL)
        return err->code == NUBO_E_NOTFOUND
                   ? nubo_err_set(err, NUBO_E_INVALID, "no volume %s on this host: create it first",
                                  id)
                   : -1;
    json_decref(rec);
    struct vm *holder = volume_holder(h, id);
    if (holder == vm)
        return 0;
    if (holder)
        return nubo_err_set(err, NUBO_E_CONFLICT, "volume %s is attached to VM %s already", id,
                            holder->def.name);
    if (vm->def.nvolumes >= VM_MAX_VOLUMES)
        return nubo_err_set(err, NUBO_E_CONFLICT, "VM %s has %d volumes, the most it can have",
                            vm->def.name, VM_MAX_VOLUMES);
    if (vm->state == VM_STARTING || vm->state == VM_STOPPING)
        return nubo_err_set(err, NUBO_E_CONFLICT,
                            "VM %s is %s; attach when it is running or stopped", vm->def.name,
                            vm_state_name(vm->state));
    if (vm_state_has_process(vm->state) && h->drv->volume_attach) {
        if (volume_data_path(h->cfg.state_dir, id, path, sizeof(path), err) < 0 ||
            h->drv->volume_attach(vm, id, path, err) < 0)
            return -1;
    }
    str_copy(vm->def.volumes[vm->def.nvolumes++], sizeof(vm->def.volumes[0]), id);
    if (vm_save(vm, err) < 0) {
        /* the definition is what a restart believes: keep them in step */
        vm->def.nvolumes--;
        if (vm_state_has_process(vm->state) && h->drv->volume_detach) {
            struct nubo_err ignored;
            h->drv->volume_detach(vm, id, &ignored);
        }
        return -1;
    }
    log_info("vm %s: volume %s attached", vm->def.name, id);
    return 0;
}

int host_vm_volume_detach(struct host *h, struct vm *vm, const char *id, struct nubo_err *err)
{
    int at = -1;
    for (int i = 0; i < vm->def.nvolumes; i++)
        if (strcmp(vm->def.volumes[i], id) == 0)
            at = i;
    if (at < 0)
        return nubo_err_set(err, NUBO_E_NOTFOUND, "volume '%.64s' is not attached to VM %s", id,
                            vm->def.name);
    if (vm->state == VM_STARTING || vm->state == VM_STOPPING)
        return nubo_err_set(err, NUBO_E_CONFLICT,
                            "VM %s is %s; detach when it is running or stopped", vm->def.name,
                            vm_state_name(vm->state));
    if (vm_state_has_process(vm->state) && h->drv->volume_detach &&
        h->drv->volume_detach(vm, id, err) < 0)
        return -1;
    for (int i = at; i + 1 < vm->def.nvolumes; i++)
        memcpy(vm->def.volumes[i], vm->def.volumes[i + 1], sizeof(vm->def.volumes[0]));
    vm->def.nvolumes--;
    if (vm_save(vm, err) < 0)
        return -1;
    log_info("vm %s: volume %s detached", vm->def.name, id);
    return 0;
}

/* The length of s cut to at most max bytes, not inside a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    if (n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

/* The report sent to the controller with every heartbeat (uplink.h).
 * Reasons are cut to 120 bytes: thousands of VMs must fit in the
 * controller's 1 MiB body limit. */
static json_t *host_report(void *ctx)
{
    struct host *h = ctx;
    struct capacity c;
    capacity_get(h, &c);
    json_t *vms = json_array();
    for (struct vm *vm = h->vms; vm; vm = vm->next)
        json_array_append_new(vms,
                              json_pack("{s:s, s:s, s:s#, s:i, s:I}", "name", vm->def.name, "state",
                                        vm_state_name(vm->state), "reason", vm->reason,
                                        utf8_cut(vm->reason, 120), "boots", vm->boots, "generation",
                                        (json_int_t)vm->def.generation));
    /* Physical capacity: the controller applies its own overcommit ratios
     * (the agent's ratios stay a local safety net). */
    long long ram = h->cfg.mem_ratio > 0 ? (long long)((double)c.mem_total / h->cfg.mem_ratio) : 0;
    json_t *o = json_pack(
        "{s:{s:I, s:I, s:I}, s:s, s:s, s:o}", "capacity", "vcpus", (json_int_t)get_nprocs(),
        "ram_mib", (json_int_t)ram, "disk_gib", (json_int_t)(c.disk_total >> 30), "accel",
        h->drv->has_accel ? accel_name(h->info.accel) : "none", "driver", h->drv->name, "vms", vms);
    /* Only when set: a controller that predates tenant networking rejects
     * unknown fields, and absent means null to one that knows it. */
    if (h->cfg.underlay_ip[0])
        json_object_set_new(o, "underlay_ip", json_string(h->cfg.underlay_ip));
    /* Likewise: only while the datapath has problems (absent = none). */
    if (json_array_size(h->problems) > 0)
        json_object_set(o, "problems", h->problems);
    if (h->epoch > 0)
        json_object_set_new(o, "epoch", json_integer(h->epoch));
    return o;
}

/* ------------------------------------------------- lease and fencing */

/* Called first after every wake-up of the loop: when the controller's
 * lease ran out (measured on the monotonic clock, so an agent that was
 * frozen sees the whole gap at once, before it serves any request), every
 * running VM is paused at once: the controller may be rebuilding them
 * elsewhere.  They stay paused until an answer says which are ours. */
static void lease_check(struct host *h)
{
    int64_t now = clock_mono_ms();
    if (h->lease_until == 0 || h->lease_out || now <= h->lease_until)
        return;
    h->lease_out = true;
    h->lease_out_at = now;
    log_warn("controller lease ran out %lld ms ago: pausing every VM until the controller "
             "confirms which are still this host's",
             (long long)(now - h->lease_until));
    if (h->lease_paused == NULL)
        h->lease_paused = json_array();
    for (struct vm *vm = h->vms; vm; vm = vm->next) {
        if (vm->state != VM_RUNNING && vm->state != VM_STARTING)
            continue;
        struct nubo_err err;
        if (h->drv->pause(vm, &err) < 0) {
            /* Cannot pause: it must not run on beside a copy elsewhere. */
            log_error("vm %s: cannot pause it (%s): stopping it", vm->def.name, err.msg);
            if (h->drv->destroy(vm, &err) < 0)
                log_error("vm %s: cannot stop it either: %s", vm->def.name, err.msg);
            continue;
        }
        json_array_append_new(h->lease_paused, json_string(vm->def.name));
    }
}

/* True when the controller's owned list [{name, generation}] has vm at
 * its generation (a VM created without one, by an older controller,
 * matches any). */
static bool lease_owned(const json_t *owned, const struct vm *vm)
{
    size_t i;
    const json_t *o;
    json_array_foreach (owned, i, o) {
        const char *name = json_string_value(json_object_get(o, "name"));
        if (name == NULL || strcmp(name, vm->def.name) != 0)
            continue;
        return vm->def.generation == 0 ||
               json_integer_value(json_object_get(o, "generation")) == vm->def.generation;
    }
    return false;
}

/* The controller acknowledged a heartbeat sent at sent_at (monotonic):
 * the lease runs lease_ms from the sending.  After the lease ran out, or
 * when the controller says our epoch is stale (it fenced this host), the
 * VMs it does not list as ours (at their generation) are destroyed - never
 * resumed - and the ones the lease paused that are ours resume. */
static void lease_answer(void *ctx, const json_t *answer, int64_t sent_at)
{
    struct host *h = ctx;
    long long lease_ms = json_integer_value(json_object_get(answer, "lease_ms"));
    long long epoch = json_integer_value(json_object_get(answer, "epoch"));
    bool stale = json_is_true(json_object_get(answer, "stale_epoch"));
    bool recovering = json_is_true(json_object_get(answer, "recovering"));
    const json_t *owned = json_object_get(answer, "vms");
    if (lease_ms > 0 && sent_at + lease_ms > h->lease_until)
        h->lease_until = sent_at + lease_ms;
    if (lease_ms > 0 && h->cfg.heartbeat_ms * 2 > lease_ms && h->epoch == 0)
        log_warn("--heartbeat-ms %d is more than half of the controller's lease (%lld ms): a "
                 "late heartbeat pauses the VMs",
                 h->cfg.heartbeat_ms, lease_ms);
    if (epoch > 0)
        h->epoch = epoch;
    if (!h->lease_out && !stale)
        return;
    /* An answer to a heartbeat sent before the pause (the agent was frozen
     * with it in flight) says nothing of now: wait for a newer one. */
    if (h->lease_out && sent_at < h->lease_out_at)
        return;
    if (stale)
        log_warn("the controller fenced this host (epoch now %lld): destroying the VMs it no "
                 "longer owns",
                 epoch);
    struct vm *next;
    for (struct vm *vm = h->vms; vm; vm = next) {
        next = vm->next;
        struct nubo_err err;
        if (json_is_array(owned) && !lease_owned(owned, vm) && recovering) {
            log_warn("vm %s: not listed by a controller recovering from a backup: kept as it is"
                     " (quarantined), not resumed",
                     vm->def.name);
            continue;
        }
        if (json_is_array(owned) && !lease_owned(owned, vm)) {
            log_warn("vm %s: no longer this host's (generation %lld): destroyed, never resumed",
                     vm->def.name, vm->def.generation);
            if (host_vm_delete(h, vm, &err) < 0)
                log_error("vm %s: cannot destroy it: %s", vm->def.name, err.msg);
            continue;
        }
        bool ours = false;
        size_t i;
        json_t *n;
        json_array_foreach (h->lease_paused, i, n) {
            ours = ours || strcmp(json_string_value(n), vm->def.name) == 0;
        }
        if (ours && vm->state == VM_PAUSED) {
            if (h->drv->resume(vm, &err) < 0)
                log_error("vm %s: cannot resume it: %s", vm->def.name, err.msg);
            else
                log_info("vm %s: resumed: the controller confirms it is this host's", vm->def.name);
        }
    }
    json_array_clear(h->lease_paused);
    h->lease_out = false;
}

int host_image_upload_fd(struct host *h)
{
    return open(h->cfg.images_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}

int host_image_put(struct host *h, const char *name, const char *part, int fd, const char *sha256,
                   struct nubo_err *err)
{
    if (strcmp(part, "disk") == 0) {
        for (struct vm *vm = h->vms; vm; vm = vm->next)
            if (strcmp(vm->def.image, name) == 0)
                return nubo_err_set(err, NUBO_E_CONFLICT,
                                    "image '%s' is the base of VM '%s': its disk cannot be "
                                    "replaced; upload it under another name",
                                    name, vm->def.name);
    }
    return image_store_part(h->cfg.images_dir, name, part, fd, sha256, err);
}

bool host_tcp_token_ok(const struct host *h, const char *auth)
{
    static const char prefix[] = "Bearer ";
    const char *expected = h->cfg.token;
    if (expected[0] == '\0' || auth == NULL || strncmp(auth, prefix, sizeof(prefix) - 1) != 0)
        return false;
    const char *got = auth + sizeof(prefix) - 1;
    size_t le = strlen(expected), lg = strlen(got);
    unsigned char diff = (unsigned char)(le != lg);
    for (size_t i = 0; i < le; i++)
        diff |= (unsigned char)(expected[i] ^ (i < lg ? got[i] : 0));
    return diff == 0;
}

/* ------------------------------------------------------------ networks */

/* The taps of every VM, plus those of extra (a VM being created; may be
 * NULL).  *out is malloc'd (caller frees); returns how many. */
static int vm_taps(struct host *h, const struct vm *extra, char (**out)[NET_IFNAME_LEN])
{
    int n = extra ? extra->def.nnics : 0;
    for (struct vm *vm = h->vms; vm; vm = vm->next)
        n += vm->def.nnics;
    char(*t)[NET_IFNAME_LEN] = xcalloc((size_t)n + 1, NET_IFNAME_LEN);
    int k = 0;
    for (struct vm *vm = h->vms; vm; vm = vm->next)
        for (int i = 0; i < vm->def.nnics; i++)
            str_copy(t[k++], NET_IFNAME_LEN, vm->def.nics[i].tap);
    for (int i = 0; extra && i < extra->def.nnics; i++)
        str_copy(t[k++], NET_IFNAME_LEN, extra->def.nics[i].tap);
    *out = t;
    return k;
}

/* Converges the datapath on the current document (see net.h) and the
 * metadata listeners on the namespaces that now exist. */
static void network_converge(struct host *h, const struct vm *extra)
{
    char(*taps)[NET_IFNAME_LEN];
    json_decref(h->net_errors);
    h->net_errors = json_array();
    /* A host that never had a network has nothing to converge: it leaves
     * the namespace (its links, sysctls and nftables) alone, which also
     * keeps agents without tenant networks (fake drivers, tests) from
     * touching the datapath of a real agent sharing the namespace. */
    if (h->doc.nnetworks == 0 && !h->net_active) {
        time_format_utc(time(NULL), h->net_applied_at);
        log_debug("network: generation '%s' has no network; nothing to converge",
                  h->doc.generation);
        return;
    }
    int n = vm_taps(h, extra, &taps);
    int64_t t0 = clock_mono_ms();
    int bad = net_converge(&h->net, &h->doc, taps, n, h->net_errors);
    free(taps);
    h->net_active = h->doc.nnetworks > 0 || bad > 0;
    time_format_utc(time(NULL), h->net_applied_at);
    mds_sync(h->mds, &h->doc);
    log_info("network: generation '%s' converged in %lld ms (%d networks, %d ports, %d failures)",
             h->doc.generation, (long long)(clock_mono_ms() - t0), h->doc.nnetworks, h->doc.nports,
             bad);
}

/* ------------------------------------------------- datapath self-check */

/* At most this many problems are kept and reported, each text cut to
 * PROBLEM_TEXT_MAX bytes: the controller takes no more (and refuses the
 * whole heartbeat otherwise); the last place then says there were more. */
#define HOST_MAX_PROBLEMS 64
#define PROBLEM_TEXT_MAX 300

static bool problem_same(json_t *a, json_t *b)
{
    return strcmp(jsonx_str(a, "object"), jsonx_str(b, "object")) == 0 &&
           strcmp(jsonx_str(a, "problem"), jsonx_str(b, "problem")) == 0;
}

static json_t *problem_find(json_t *list, json_t *p)
{
    size_t i;
    json_t *q;
    json_array_foreach (list, i, q)
        if (problem_same(q, p))
            return q;
    return NULL;
}

/* Makes found (stolen) the current problems: each keeps the "since" it
 * had when it was already reported, else gets now; logs what appeared
 * and what went away. */
static void problems_set(struct host *h, json_t *found)
{
    char now[32];
    time_format_utc(time(NULL), now);
    json_t *next = json_array();
    size_t i;
    json_t *p;
    json_array_foreach (found, i, p) {
        const char *text = jsonx_str(p, "problem");
        size_t cut = utf8_cut(text, PROBLEM_TEXT_MAX);
        if (text[cut] != '\0')
            json_object_set_new(p, "problem", json_stringn(text, cut));
        if (problem_find(next, p))
            continue; /* the same drift seen twice (a tap and its port) */
        if (json_array_size(next) == HOST_MAX_PROBLEMS - 1 &&
            json_array_size(found) > HOST_MAX_PROBLEMS) {
            json_array_append_new(
                next, json_pack("{s:s, s:s, s:s}", "object", "self-check", "problem",
                                "more problems than a heartbeat carries: see the agent's log",
                                "since", now));
            break;
        }
        json_t *old = problem_find(h->problems, p);
        json_object_set_new(p, "since", json_string(old ? jsonx_str(old, "since") : now));
        if (old == NULL)
            log_warn("datapath: %s: %s (not repaired)", jsonx_str(p, "object"),
                     jsonx_str(p, "problem"));
        json_array_append(next, p);
    }
    json_array_foreach (h->problems, i, p)
        if (problem_find(next, p) == NULL)
            log_info("datapath: %s: %s: repaired (since %s)", jsonx_str(p, "object"),
                     jsonx_str(p, "problem"), jsonx_str(p, "since"));
    json_decref(found);
    json_decref(h->problems);
    h->problems = next;
}

/* True when process pid has a tun file descriptor bound to the interface
 * named tap (its /proc fdinfo says "iff: <tap>"), or when that cannot be
 * read (no false alarm).  A tap deleted behind QEMU's back leaves its
 * descriptor bound to nothing: one made again under the same name is
 * another device, and the guest's network stays down until QEMU opens it
 * anew. */
static bool process_holds_tap(pid_t pid, const char *tap)
{
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    if (d == NULL)
        return true;
    bool tun_seen = false, held = false;
    struct dirent *e;
    while (!held && (e = readdir(d)) != NULL) {
        char link[PATH_MAX], target[64];
        if (e->d_name[0] == '.')
            continue;
        snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n < 0)
            continue;
        target[n] = '\0';
        if (strcmp(target, "/dev/net/tun") != 0)
            continue;
        tun_seen = true;
        char info[PATH_MAX];
        snprintf(info, sizeof(info), "/proc/%d/fdinfo/%s", (int)pid, e->d_name);
        char *text = fs_read_file(info, 4096, NULL, NULL);
        if (text == NULL)
            continue;
        const char *iff = strstr(text, "iff:\t");
        if (iff) {
            iff += 5;
            size_t len = strcspn(iff, "\n");
            held = len == strlen(tap) && strncmp(iff, tap, len) == 0;
        }
        free(text);
    }
    closedir(d);
    return held || !tun_seen;
}

/* Adds a problem for each NIC of a running VM whose QEMU no longer holds
 * its tap (see process_holds_tap): the repair cannot reconnect it. */
static void severed_taps(struct host *h, json_t *problems)
{
    if (!h->drv->has_taps)
        return;
    for (struct vm *vm = h->vms; vm; vm = vm->next) {
        if (vm->pid <= 0)
            continue;
        for (int i = 0; i < vm->def.nnics; i++) {
            if (process_holds_tap(vm->pid, vm->def.nics[i].tap))
                continue;
            char object[64];
            snprintf(object, sizeof(object), "tap %s", vm->def.nics[i].tap);
            json_t *p = json_pack("{s:s, s:s}", "object", object, "problem",
                                  "deleted behind the agent's back: made again, but the running VM "
                                  "still holds the old one, so its network stays down until the "
                                  "instance is stopped and started");
            /* A controller's VM is "nubo-<instance id>". */
            if (strncmp(vm->def.name, "nubo-", 5) == 0)
                json_object_set_new(p, "instances", json_pack("[s]", vm->def.name + 5));
            json_array_append_new(problems, p);
        }
    }
}

/* The self-check (net_check), every --datapath-check seconds: drift
 * found, or a failure of the last convergence, makes the agent converge
 * again on its document (the repair) and look again; what is still wrong
 * then is reported in the heartbeat until a later check finds it right. */
static void datapath_check(struct host *h)
{
    int64_t now = clock_mono_ms();
    if (h->next_check_at == 0 || now < h->next_check_at)
        return;
    h->next_check_at = now + (int64_t)h->cfg.datapath_check_s * 1000;
    time_format_utc(time(NULL), h->checked_at);
    if (h->doc.nnetworks == 0 && !h->net_active) {
        problems_set(h, json_array());
        return;
    }
    char(*taps)[NET_IFNAME_LEN];
    int n = vm_taps(h, NULL, &taps);
    json_t *found = json_array();
    net_check(&h->net, &h->doc, taps, n, h->mds, found);
    if (json_array_size(found) > 0 || json_array_size(h->net_errors) > 0) {
        size_t i;
        json_t *p;
        json_array_foreach (found, i, p)
            log_warn("datapath: drift: %s: %s", jsonx_str(p, "object"), jsonx_str(p, "problem"));
        network_converge(h, NULL);
        json_t *left = json_array();
        net_check(&h->net, &h->doc, taps, n, h->mds, left);
        json_array_foreach (h->net_errors, i, p)
            json_array_append_new(
                left, json_pack("{s:s, s:s}", "object", "repair", "problem", json_string_value(p)));
        log_info("datapath: %zu drift(s) found, %zu problem(s) left after the repair",
                 json_array_size(found), json_array_size(left));
        json_decref(found);
        found = left;
    }
    severed_taps(h, found);
    free(taps);
    problems_set(h, found);
}

json_t *host_network_get(struct host *h)
{
    json_t *o = json_pack(
        "{s:s, s:s, s:b, s:O, s:o, s:o}", "generation", h->doc.generation, "applied_at",
        h->net_applied_at, "ok", json_array_size(h->net_errors) == 0, "errors", h->net_errors,
        "underlay_ip", h->cfg.underlay_ip[0] ? json_string(h->cfg.underlay_ip) : json_null(),
        "external_bridge",
        h->cfg.external_bridge[0] ? json_string(h->cfg.external_bridge) : json_null());
    json_object_set(o, "problems", h->problems);
    json_object_set_new(o, "checked_at",
                        h->checked_at[0] ? json_string(h->checked_at) : json_null());
    net_status(&h->net, &h->doc, o);
    return o;
}

json_t *host_network_put(struct host *h, json_t *body, struct nubo_err *err)
{
    struct net_doc doc;
    if (net_doc_parse(body, &doc, err) < 0)
        return NULL;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/network.json", h->cfg.state_dir);
    char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    int r = fs_write_atomic(path, text, strlen(text), 0600, err);
    free(text);
    if (r < 0) {
        net_doc_clear(&doc);
        return NULL;
    }
    net_doc_clear(&h->doc);
    h->doc = doc;
    json_decref(h->doc_json);
    h->doc_json = json_incref(body);
    network_converge(h, NULL);
    return host_network_get(h);
}

/* At start: converges on the last document, when there is one. */
static void network_load(struct host *h)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/network.json", h->cfg.state_dir);
    struct nubo_err err;
    char *text = fs_read_file(path, 256 << 20, NULL, &err);
    if (text == NULL) {
        if (err.code != NUBO_E_NOTFOUND)
            log_error("network: %s", err.msg);
        return;
    }
    json_error_t je;
    json_t *body = json_loads(text, 0, &je);
    free(text);
    if (body == NULL || net_doc_parse(body, &h->doc, &err) < 0) {
        log_error("network: %s is damaged (%s); waiting for a new document", path,
                  body ? err.msg : je.text);
        json_decref(body);
        return;
    }
    h->doc_json = body;
    h->net_active = true; /* whatever the last document held, check it is so */
    network_converge(h, NULL);
}

static const struct vm_def *vm_def_by_name(void *ctx, const char *name)
{
    struct vm *vm = host_vm_find(ctx, name, NULL);
    return vm ? &vm->def : NULL;
}

/* Deletes the taps of vm (errors are logged: the VM is gone anyway). */
static void vm_taps_delete(struct host *h, const struct vm *vm)
{
    for (int i = 0; i < vm->def.nnics; i++) {
        struct nubo_err err;
        if (net_tap_delete(&h->net, vm->def.nics[i].tap, &err) < 0)
            log_warn("vm %s: %s", vm->def.name, err.msg);
    }
}

/* ----------------------------------------------------------------- VMs */

struct vm *host_vm_find(struct host *h, const char *ref, struct nubo_err *err)
{
    for (struct vm *vm = h->vms; vm; vm = vm->next)
        if (strcmp(vm->def.id, ref) == 0)
            return vm;
    for (struct vm *vm = h->vms; vm; vm = vm->next)
        if (strcmp(vm->def.name, ref) == 0)
            return vm;
    nubo_err_set(err, NUBO_E_NOTFOUND, "no VM with id or name '%.64s' on this host", ref);
    return NULL;
}

json_t *host_vm_list(struct host *h)
{
    json_t *arr = json_array();
    for (struct vm *vm = h->vms; vm; vm = vm->next)
        json_array_append_new(arr, vm_to_json(vm));
    return arr;
}

json_t *host_vm_show(struct host *h, struct vm *vm)
{
    json_t *o = vm_to_json(vm);
    json_t *stats = json_object();
    h->drv->stats(vm, stats);
    json_object_set_new(o, "stats", stats);
    return o;
}

static void vm_append(struct host *h, struct vm *vm)
{
    struct vm **p = &h->vms;
    while (*p)
        p = &(*p)->next;
    *p = vm;
    vm->next = NULL;
}

static void vm_unlink(struct host *h, struct vm *vm)
{
    for (struct vm **p = &h->vms; *p; p = &(*p)->next) {
        if (*p == vm) {
            *p = vm->next;
            return;
        }
    }
}

struct vm *host_vm_create(struct host *h, json_t *body, struct nubo_err *err)
{
    struct vm *vm = xcalloc(1, sizeof(*vm));
    struct image img;
    /* "incoming": true - the VM is the destination of a live migration
     * (docs/internals/mobility.md): started waiting for the stream. */
    json_t *in = json_object_get(body, "incoming");
    int incoming = json_is_true(in);
    if (in && !json_is_boolean(in)) {
        nubo_err_set(err, NUBO_E_INVALID, "'incoming' must be true or false");
        goto fail;
    }
    if (incoming && h->drv->migrate_incoming == NULL) {
        nubo_err_set(err, NUBO_E_INVALID, "this agent's driver cannot receive migrations");
        goto fail;
    }
    /* "disk_from": URI - the root disk is a copy of what another host's
     * export serves (a cold migration, the end of this file). */
    json_t *from = json_object_get(body, "disk_from");
    char from_uri[256] = "";
    if (from && (!json_is_string(from) || strlen(json_string_value(from)) >= sizeof(from_uri) ||
                 incoming)) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "'disk_from' must be the uri of another host's disk export (and not with "
                     "'incoming')");
        goto fail;
    }
    if (from && h->drv->disk_import == NULL) {
        nubo_err_set(err, NUBO_E_INVALID, "this agent's driver cannot import disks");
        goto fail;
    }
    if (from)
        str_copy(from_uri, sizeof(from_uri), json_string_value(from));
    if (in || from) {
        body = json_deep_copy(body);
        json_object_del(body, "incoming");
        json_object_del(body, "disk_from");
    }
    int defined = vm_def_from_request(body, &vm->def, err);
    json_t *start = json_object_get(body, "start");
    int want_start = start == NULL || json_is_true(start);
    if (in || from)
        json_decref(body);
    if (defined < 0)
        goto fail;
    vm_def_name_taps(&vm->def, h->net.tag);
    for (struct vm *o = h->vms; o; o = o->next) {
        if (strcmp(o->def.id, vm->def.id) == 0) {
            nubo_err_set(err, NUBO_E_CONFLICT, "a VM with id %s already exists on this host",
                         vm->def.id);
            goto fail;
        }
    }
    if (host_vm_find(h, vm->def.name, NULL) != NULL) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "a VM named '%s' already exists on this host; pick "
                     "another name or delete it first",
                     vm->def.name);
        goto fail;
    }
    if (image_resolve(h->cfg.images_dir, vm->def.image, &img, err) < 0)
        goto fail;
    if (vm->def.root_size == 0)
        vm->def.root_size = img.virtual_size;
    struct capacity c;
    capacity_get(h, &c);
    long long disk = (long long)vm->def.root_size;
    for (int i = 0; i < vm->def.ndisks; i++)
        disk += (long long)vm->def.disks[i];
    if (c.vcpus_used + vm->def.vcpus > c.vcpus_total) {
        nubo_err_set(err, NUBO_E_CAPACITY, "not enough vCPUs on this host: %d asked, %lld free",
                     vm->def.vcpus, c.vcpus_total - c.vcpus_used);
        goto fail;
    }
    if (c.mem_used + (long long)vm->def.memory_mib > c.mem_total) {
        nubo_err_set(err, NUBO_E_CAPACITY,
                     "not enough memory on this host: %llu MiB asked, "
                     "%lld MiB free",
                     (unsigned long long)vm->def.memory_mib, c.mem_total - c.mem_used);
        goto fail;
    }
    if (c.disk_used + disk > c.disk_total) {
        nubo_err_set(err, NUBO_E_CAPACITY,
                     "not enough disk on this host: %lld MiB asked, "
                     "%lld MiB free",
                     disk >> 20, (c.disk_total - c.disk_used) >> 20);
        goto fail;
    }
    snprintf(vm->dir, sizeof(vm->dir), "%s/vms/%s", h->cfg.state_dir, vm->def.id);
    if (fs_mkdir_p(vm->dir, 0700, err) < 0)
        goto fail;
    vm->state = VM_STOPPED;
    vm_set_state(vm, VM_STOPPED, "defined");
    for (int i = 0; i < vm->def.nnics && h->drv->has_taps; i++)
        if (net_tap_create(&h->net, vm->def.nics[i].tap, err) < 0)
            goto fail_dir;
    /* Attached to their bridges before the guest boots and asks for DHCP. */
    if (vm->def.nnics > 0 && h->doc_json && h->drv->has_taps)
        network_converge(h, vm);
    if (from_uri[0] && h->drv->disk_import(vm, from_uri, err) < 0)
        goto fail_dir;
    if (h->drv->prepare(vm, err) < 0)
        goto fail_dir;
    if (incoming) {
        const char *addr = h->cfg.underlay_ip[0] ? h->cfg.underlay_ip : "127.0.0.1";
        if (h->drv->migrate_incoming(vm, addr, err) < 0)
            goto fail_dir;
    } else if (want_start) {
        if (h->drv->start(vm, err) < 0)
            goto fail_dir;
    }
    vm_append(h, vm);
    log_info("vm %s (%s) created", vm->def.name, vm->def.id);
    return vm;
fail_dir:
    h->drv->release(vm);
    if (h->drv->has_taps)
        vm_taps_delete(h, vm);
    fs_rm_rf(vm->dir, NULL);
fail:
    vm_free(vm);
    return NULL;
}

static int conflict(struct vm *vm, const char *action, struct nubo_err *err)
{
    return nubo_err_set(err, NUBO_E_CONFLICT, "cannot %s VM '%s': it is %s", action, vm->def.name,
                        vm_state_name(vm->state));
}

/* True when vm's outgoing migration is under way or completed: the
 * guest's life goes on on the other host, never again here. */
static bool migrated_away(struct host *h, struct vm *vm)
{
    if (strcmp(vm->migration_role, "outgoing") != 0 || h->drv->migrate_query == NULL)
        return false;
    json_t *q = json_object();
    struct nubo_err err;
    const char *st = h->drv->migrate_query(vm, q, &err) == 0
                         ? json_string_value(json_object_get(q, "status"))
                         : NULL;
    bool away = st == NULL || (strcmp(st, "failed") != 0 && strcmp(st, "cancelled") != 0 &&
                               strcmp(st, "none") != 0);
    json_decref(q);
    return away;
}

int host_vm_migrate(struct host *h, struct vm *vm, json_t *body, struct nubo_err *err)
{
    if (h->drv->migrate_out == NULL)
        return nubo_err_set(err, NUBO_E_INVALID, "this agent's driver cannot migrate VMs");
    const char *uri = json_string_value(json_object_get(body, "uri"));
    json_t *d = json_object_get(body, "downtime_ms");
    const char *k;
    json_t *v;
    json_object_foreach (body, k, v) {
        if (strcmp(k, "uri") != 0 && strcmp(k, "downtime_ms") != 0)
            return nubo_err_set(err, NUBO_E_INVALID, "unknown field '%.32s' (uri, downtime_ms)", k);
    }
    if (uri == NULL || strlen(uri) >= sizeof(vm->migration_uri) ||
        (strncmp(uri, "tcp:", 4) != 0 && strncmp(uri, "fake:", 5) != 0))
        return nubo_err_set(err, NUBO_E_INVALID,
                            "'uri' must be the destination's \"tcp:ADDR:PORT\" (its VM's "
                            "migration.uri)");
    if (d && (!json_is_integer(d) || json_integer_value(d) < 1 || json_integer_value(d) > 60000))
        return nubo_err_set(err, NUBO_E_INVALID, "'downtime_ms' must be 1..60000");
    if (strcmp(vm->migration_role, "incoming") == 0) {
        /* Arrived here by a migration: it may leave again once that one
         * completed (QEMU's event usually cleared the role already). */
        json_t *q = json_object();
        struct nubo_err qerr;
        const char *st = h->drv->migrate_query(vm, q, &qerr) == 0
                             ? json_string_value(json_object_get(q, "status"))
                             : NULL;
        bool arrived = st && strcmp(st, "completed") == 0;
        json_decref(q);
        if (!arrived)
            return nubo_err_set(err, NUBO_E_CONFLICT,
                                "VM '%s' is still receiving its own migration", vm->def.name);
        vm->migration_role[0] = '\0';
    }
    if (vm->state != VM_RUNNING)
        return conflict(vm, "migrate", err);
    if (migrated_away(h, vm))
        return nubo_err_set(err, NUBO_E_CONFLICT, "VM '%s' is already migrating (%s)", vm->def.name,
                            vm->migration_uri);
    return h->drv->migrate_out(vm, uri, d ? (int)json_integer_value(d) : 300, err);
}

json_t *host_vm_migration(struct host *h, struct vm *vm, struct nubo_err *err)
{
    json_t *o = json_object();
    json_object_set_new(o, "role",
                        json_string(vm->migration_role[0] ? vm->migration_role : "none"));
    json_object_set_new(o, "uri", json_string(vm->migration_uri));
    json_object_set_new(o, "vm_state", json_string(vm_state_name(vm->state)));
    if (h->drv->migrate_query && h->drv->migrate_query(vm, o, err) < 0) {
        json_decref(o);
        return NULL;
    }
    if (json_object_get(o, "status") == NULL)
        json_object_set_new(o, "status", json_string("none"));
    return o;
}

int host_vm_migrate_cancel(struct host *h, struct vm *vm, struct nubo_err *err)
{
    if (h->drv->migrate_cancel == NULL || strcmp(vm->migration_role, "outgoing") != 0)
        return 0; /* nothing under way: nothing to cancel */
    return h->drv->migrate_cancel(vm, err);
}

int host_vm_action(struct host *h, struct vm *vm, const char *action, json_t *opts, int *accepted,
                   struct nubo_err *err)
{
    *accepted = 0;
    enum vm_state st = vm->state;
    if (strcmp(action, "start") == 0 && host_vm_exported(vm))
        return nubo_err_set(err, NUBO_E_CONFLICT,
                            "VM '%s' has its disk exported to another host (a cold migration): "
                            "it does not start until that ends",
                            vm->def.name);
    if ((strcmp(action, "start") == 0 || strcmp(action, "resume") == 0) && migrated_away(h, vm))
        return nubo_err_set(err, NUBO_E_CONFLICT,
                            "VM '%s' migrated (or is migrating) to another host: it never runs "
                            "here again; delete it",
                            vm->def.name);
    if (strcmp(action, "start") == 0) {
        if (vm_state_has_process(st))
            return st == VM_STOPPING ? conflict(vm, action, err) : 0; /* idempotent */
        return h->drv->start(vm, err);
    }
    if (strcmp(action, "stop") == 0) {
        json_t *f = json_object_get(opts, "force");
        json_t *t = json_object_get(opts, "timeout");
        if ((f && !json_is_boolean(f)) || (t && (!json_is_integer(t) || json_integer_value(t) < 0 ||
                                                 json_integer_value(t) > 3600)))
            return nubo_err_set(err, NUBO_E_INVALID,
                                "stop takes {\"force\": true|false, "
                                "\"timeout\": seconds from 0 to 3600}");
        if (!vm_state_has_process(st))
            return 0; /* already stopped: idempotent */
        int timeout = t ? (int)json_integer_value(t) : h->cfg.stop_timeout_s;
        if (json_is_true(f) || st == VM_PAUSED || st == VM_STARTING || timeout == 0) {
            vm->stop_deadline = 0;
            return h->drv->destroy(vm, err);
        }
        if (st == VM_STOPPING && vm->stop_deadline)
            return *accepted = 1, 0;
        if (h->drv->shutdown(vm, err) < 0)
            return -1;
        vm->stop_deadline = clock_mono_ms() + (int64_t)timeout * 1000;
        vm->stop_repress = clock_mono_ms() + STOP_REPRESS_MS;
        vm_set_state(vm, VM_STOPPING, "ACPI power-down requested; forced off after %d s", timeout);
        *accepted = 1;
        return 0;
    }
    if (strcmp(action, "reboot") == 0) {
        if (st != VM_RUNNING)
            return conflict(vm, action, err);
        return h->drv->reboot(vm, err);
    }
    if (strcmp(action, "pause") == 0) {
        if (st == VM_PAUSED)
            return 0;
        if (st != VM_RUNNING)
            return conflict(vm, action, err);
        return h->drv->pause(vm, err);
    }
    if (strcmp(action, "resume") == 0) {
        if (st == VM_RUNNING)
            return 0;
        if (st != VM_PAUSED)
            return conflict(vm, action, err);
        return h->drv->resume(vm, err);
    }
    return nubo_err_set(err, NUBO_E_NOTFOUND,
                        "unknown action '%.32s' (use start, stop, reboot, pause or resume)",
                        action);
}

int host_vm_delete(struct host *h, struct vm *vm, struct nubo_err *err)
{
    if (vm_state_has_process(vm->state) && h->drv->destroy(vm, err) < 0)
        return -1;
    if (host_vm_export_stop(h, vm, err) < 0)
        return -1;
    if (h->drv->remove(vm, err) < 0)
        return -1;
    if (h->drv->has_taps)
        vm_taps_delete(h, vm);
    log_info("vm %s (%s) deleted", vm->def.name, vm->def.id);
    vm_unlink(h, vm);
    h->drv->release(vm);
    vm_free(vm);
    return 0;
}

/* ------------------------------------------------------------- startup */

static int load_vms(struct host *h, struct nubo_err *err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/vms", h->cfg.state_dir);
    if (fs_mkdir_p(dir, 0700, err) < 0)
        return -1;
    DIR *d = opendir(dir);
    if (d == NULL)
        return nubo_err_set(err, NUBO_E_INTERNAL, "cannot read %s: %s", dir, strerror(errno));
    struct dirent *e;
    struct vm *loaded[4096];
    size_t n = 0;
    while ((e = readdir(d)) != NULL && n < ARRAY_LEN(loaded)) {
        if (e->d_name[0] == '.')
            continue;
        char vdir[PATH_MAX];
        snprintf(vdir, sizeof(vdir), "%s/%s", dir, e->d_name);
        struct nubo_err lerr;
        struct vm *vm = vm_load(vdir, &lerr);
        if (vm == NULL) {
            log_warn("ignoring %s: %s", vdir, lerr.msg);
            continue;
        }
        vm_def_name_taps(&vm->def, h->net.tag);
        loaded[n++] = vm;
    }
    closedir(d);
    /* Oldest first, so listings are stable across restarts. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i;
             j > 0 && strcmp(loaded[j - 1]->def.created_at, loaded[j]->def.created_at) > 0; j--) {
            struct vm *t = loaded[j];
            loaded[j] = loaded[j - 1];
            loaded[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        struct vm *vm = loaded[i];
        vm_append(h, vm);
        if (vm_state_has_process(vm->state)) {
            struct nubo_err aerr;
            if (h->drv->adopt(vm, &aerr) < 0)
                log_warn("vm %s: %s", vm->def.name, aerr.msg);
            if (vm->state == VM_STOPPING) {
                vm->stop_deadline = clock_mono_ms() + (int64_t)h->cfg.stop_timeout_s * 1000;
                vm->stop_repress = clock_mono_ms();
            }
        }
        log_info("vm %s (%s): %s", vm->def.name, vm->def.id, vm_state_name(vm->state));
    }
    return 0;
}

/* A state directory belongs to one driver: the fake driver must never
 * "adopt" (and then believe it stopped) a real QEMU, nor the reverse. */
static int driver_claim(const char *state_dir, const char *driver, struct nubo_err *err)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/driver", state_dir);
    struct nubo_err rerr;
    char *have = fs_read_file(path, 64, NULL, &rerr);
    if (have) {
        have[strcspn(have, "\r\n")] = '\0';
        int same = strcmp(have, driver) == 0;
        if (!same)
            nubo_err_set(err, NUBO_E_INVALID,
                         "%s holds VMs of the %s driver, not %s: use another --state-dir",
                         state_dir, have, driver);
        free(have);
        return same ? 0 : -1;
    }
    char line[32];
    snprintf(line, sizeof(line), "%s\n", driver);
    return fs_write_atomic(path, line, strlen(line), 0600, err);
}

/* Starts the controller link with the advertised address and name. */
static int uplink_start(struct host *h, struct nubo_err *err)
{
    const struct host_cfg *cfg = &h->cfg;
    char advertise[PATH_MAX + 8], state_file[PATH_MAX + 32];
    if (cfg->advertise[0]) {
        str_copy(advertise, sizeof(advertise), cfg->advertise);
    } else if (cfg->socket_path[0]) {
        char abs[PATH_MAX];
        if (cfg->socket_path[0] == '/' || realpath(cfg->socket_path, abs) == NULL)
            str_copy(abs, sizeof(abs), cfg->socket_path);
        snprintf(advertise, sizeof(advertise), "unix:%s", abs);
    } else {
        snprintf(advertise, sizeof(advertise), "http://%s:%d", cfg->tcp_addr,
                 h->api_tcp ? (int)httpd_port(h->api_tcp) : 0);
    }
    if (strncmp(advertise, "http://", 7) == 0 && cfg->token[0] == '\0')
        return nubo_err_set(err, NUBO_E_INVALID,
                            "--advertise http://... needs the TCP API with --token-file");
    if (strncmp(advertise, "unix:/", 6) != 0 && strncmp(advertise, "http://", 7) != 0)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "--advertise wants unix:/path/to/hostd.sock or http://ADDR:PORT");
    if (cfg->join_token_file[0] == '\0')
        return nubo_err_set(
            err, NUBO_E_INVALID,
            "--controller needs --join-token-file (nubod's <state-dir>/join-token)");
    const char *name = cfg->name[0] ? cfg->name : h->hostname;
    if (valid_name(name, "host name (--name)", err) < 0)
        return -1;
    snprintf(state_file, sizeof(state_file), "%s/controller.json", cfg->state_dir);
    struct uplink_cfg uc = {
        .controller = cfg->controller,
        .controller_ca = cfg->controller_ca,
        .controller_pin = cfg->controller_pin,
        .join_token_file = cfg->join_token_file,
        .advertise = advertise,
        .name = name,
        /* nubod must show the TCP token when it calls us over TCP. */
        .agent_token = strncmp(advertise, "http://", 7) == 0 ? cfg->token : "",
        .state_file = state_file,
        .interval_ms = cfg->heartbeat_ms,
        .report = host_report,
        .answer = lease_answer,
        .ctx = h,
    };
    h->uplink = uplink_new(&uc, err);
    if (h->uplink == NULL)
        return -1;
    if (cfg->sample_ms > 0) {
        h->sampler = sampler_new(cfg->state_dir);
        h->next_sample_at = clock_mono_ms() + cfg->sample_ms;
        log_info("metrics: sampling every %d ms", cfg->sample_ms);
    }
    return 0;
}

struct host *host_new(const struct host_cfg *cfg, struct nubo_err *err)
{
    struct host *h = xcalloc(1, sizeof(*h));
    h->cfg = *cfg;
    h->sigfd = -1;
    h->drv = hv_driver_find(cfg->driver);
    if (h->drv == NULL) {
        nubo_err_set(err, NUBO_E_INVALID, "no hypervisor driver '%s' (use qemu or fake)",
                     cfg->driver);
        goto fail;
    }
    gethostname(h->hostname, sizeof(h->hostname) - 1);
    /* Both trees hold tenants' data (disks, user-data, images): private,
     * whatever mode an older agent or the operator left them in. */
    if (fs_mkdir_p(cfg->state_dir, 0700, err) < 0 || fs_mkdir_p(cfg->images_dir, 0700, err) < 0 ||
        fs_tighten_tree(cfg->state_dir, err) < 0 || fs_tighten_tree(cfg->images_dir, err) < 0 ||
        driver_claim(cfg->state_dir, h->drv->name, err) < 0)
        goto fail;
    image_clean_uploads(cfg->images_dir);
    struct hv_setup setup = {.binary = cfg->qemu,
                             .accel = cfg->accel,
                             .netns = cfg->netns,
                             .images_dir = cfg->images_dir};
    if (h->drv->init(&setup, &h->info, err) < 0)
        goto fail;

    str_copy(h->net.state_dir, sizeof(h->net.state_dir), cfg->state_dir);
    str_copy(h->net.netns, sizeof(h->net.netns), cfg->netns);
    str_copy(h->net.underlay_ip, sizeof(h->net.underlay_ip), cfg->underlay_ip);
    str_copy(h->net.external_bridge, sizeof(h->net.external_bridge), cfg->external_bridge);
    if (net_tag_load(cfg->state_dir, h->net.tag, err) < 0)
        goto fail;
    h->net_errors = json_array();
    h->problems = json_array();
    h->mds = mds_new(cfg->netns, h->net.tag, vm_def_by_name, h);
    if (cfg->netns[0]) {
        char p[128];
        snprintf(p, sizeof(p), "/run/netns/%s", cfg->netns);
        if (!fs_exists(p)) {
            nubo_err_set(err, NUBO_E_INVALID,
                         "--netns %s: no such network namespace (ip netns add %s)", cfg->netns,
                         cfg->netns);
            goto fail;
        }
    }

    if (load_vms(h, err) < 0)
        goto fail;
    if (h->drv->has_taps) {
        network_load(h);
        if (cfg->datapath_check_s > 0) {
            h->next_check_at = clock_mono_ms() + (int64_t)cfg->datapath_check_s * 1000;
            log_info("datapath: self-check every %d s", cfg->datapath_check_s);
        }
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    h->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);

    if (cfg->socket_path[0]) {
        char dir[PATH_MAX];
        str_copy(dir, sizeof(dir), cfg->socket_path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            /* Not private: the API socket (0660) is for the group too. */
            mode_t old = umask(022);
            int r = fs_mkdir_p(dir, 0755, err);
            umask(old);
            if (r < 0)
                goto fail;
        }
        struct httpd_cfg hc = {.unix_path = cfg->socket_path,
                               .handler = api_handle,
                               .stream = api_stream_unix,
                               .ctx = h};
        h->api_unix = httpd_start(&hc, err);
        if (h->api_unix == NULL)
            goto fail;
        log_info("API on unix:%s", cfg->socket_path);
    }
    if (cfg->tcp_addr[0]) {
        if (cfg->token[0] == '\0') {
            nubo_err_set(err, NUBO_E_INVALID,
                         "the TCP API needs a bearer token (--token-file); refusing to serve "
                         "VMs to anyone on the network");
            goto fail;
        }
        struct httpd_cfg hc = {.tcp_addr = cfg->tcp_addr,
                               .tcp_port = (uint16_t)cfg->tcp_port,
                               .token = cfg->token,
                               .handler = api_handle,
                               .stream = api_stream_tcp,
                               .ctx = h};
        h->api_tcp = httpd_start(&hc, err);
        if (h->api_tcp == NULL)
            goto fail;
        log_info("API on http://%s:%u (bearer token required)", cfg->tcp_addr,
                 httpd_port(h->api_tcp));
    }
    if (cfg->controller[0] && uplink_start(h, err) < 0)
        goto fail;
    return h;
fail:
    host_free(h);
    return NULL;
}

void host_free(struct host *h)
{
    if (h == NULL)
        return;
    sampler_free(h->sampler);
    uplink_free(h->uplink);
    mds_free(h->mds);
    net_doc_clear(&h->doc);
    json_decref(h->doc_json);
    json_decref(h->net_errors);
    json_decref(h->problems);
    json_decref(h->lease_paused);
    httpd_stop(h->api_unix);
    httpd_stop(h->api_tcp);
    while (h->vms) {
        struct vm *vm = h->vms;
        h->vms = vm->next;
        if (h->drv)
            h->drv->release(vm);
        vm_free(vm);
    }
    if (h->sigfd >= 0)
        close(h->sigfd);
    free(h);
}

/* ---------------------------------------------------------- event loop */

static int64_t min_timeout(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

static void fire_deadlines(struct host *h)
{
    int64_t now = clock_mono_ms();
    for (struct vm *vm = h->vms; vm; vm = vm->next) {
        if (vm->stop_deadline && now < vm->stop_deadline && now >= vm->stop_repress &&
            vm->state == VM_STOPPING) {
            struct nubo_err err;
            vm->stop_repress = now + STOP_REPRESS_MS;
            if (h->drv->shutdown(vm, &err) < 0)
                log_debug("vm %s: power button again: %s", vm->def.name, err.msg);
        }
        if (vm->stop_deadline == 0 || now < vm->stop_deadline)
            continue;
        vm->stop_deadline = 0;
        if (!vm_state_has_process(vm->state))
            continue;
        log_warn("vm %s: the guest did not power off in time; forcing it off", vm->def.name);
        struct nubo_err err;
        if (h->drv->destroy(vm, &err) < 0)
            log_error("vm %s: %s", vm->def.name, err.msg);
    }
}

/* Takes a round of samples when one is due and hands it to the uplink.
 * The next one is due an interval after this one was, so rounds stay on a
 * steady beat (skipping beats the loop missed). */
static void take_sample(struct host *h)
{
    int64_t now = clock_mono_ms();
    if (h->sampler == NULL || now < h->next_sample_at)
        return;
    uplink_metrics_push(h->uplink, sampler_round(h->sampler, h->vms, h->drv, now));
    int64_t every = h->cfg.sample_ms;
    h->next_sample_at += every;
    if (h->next_sample_at <= now)
        h->next_sample_at = now + every - (now - h->next_sample_at) % every;
}

int host_run(struct host *h)
{
    static struct pollfd fds[MAX_POLL];
    log_info("nubo-hostd %s ready (%s)", NUBO_VERSION, h->info.accel_reason);
    /* Under systemd (Type=notify): ready now, and alive while this loop
     * turns (WatchdogSec=: a wedged loop gets the agent restarted). */
    sdnotify_send("READY=1");
    int64_t watchdog_ms = sdnotify_watchdog_ms() / 2, next_ping = 0;
    for (;;) {
        int n = 0;
        int64_t timeout = 1000;
        if (watchdog_ms > 0) {
            int64_t now = clock_mono_ms();
            if (now >= next_ping) {
                sdnotify_send("WATCHDOG=1");
                next_ping = now + watchdog_ms;
            }
            timeout = min_timeout(timeout, next_ping - now);
        }
        fds[n++] = (struct pollfd){.fd = h->sigfd, .events = POLLIN};
        struct httpd *servers[2] = {h->api_unix, h->api_tcp};
        for (int i = 0; i < 2; i++) {
            if (servers[i] == NULL)
                continue;
            fds[n++] = (struct pollfd){.fd = httpd_fd(servers[i]), .events = POLLIN};
            timeout = min_timeout(httpd_timeout_ms(servers[i]), timeout);
        }
        if (h->sampler) {
            int64_t left = h->next_sample_at - clock_mono_ms();
            timeout = min_timeout(timeout, left > 0 ? left : 0);
        }
        if (h->next_check_at) {
            int64_t left = h->next_check_at - clock_mono_ms();
            timeout = min_timeout(timeout, left > 0 ? left : 0);
        }
        int mds_first = n, mds_n = mds_pollfds(h->mds, fds + n, MAX_POLL - n);
        n += mds_n;
        timeout = min_timeout(timeout, mds_timeout_ms(h->mds));
        int up_first = n, up_n = 0;
        if (h->uplink) {
            up_n = uplink_pollfds(h->uplink, fds + n, MAX_POLL - n);
            n += up_n;
            timeout = min_timeout(timeout, uplink_timeout_ms(h->uplink));
        }
        for (struct vm *vm = h->vms; vm; vm = vm->next) {
            vm->poll_first = n;
            vm->poll_n = h->drv->pollfds(vm, fds + n, MAX_POLL - n);
            n += vm->poll_n;
            if (h->drv->pending(vm))
                timeout = 0;
            if (vm->stop_deadline) {
                int64_t next =
                    vm->stop_repress < vm->stop_deadline ? vm->stop_repress : vm->stop_deadline;
                int64_t left = next - clock_mono_ms();
                timeout = min_timeout(timeout, left > 0 ? left : 0);
            }
        }
        int r = poll(fds, (nfds_t)n, (int)timeout);
        if (r < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            return -1;
        }
        lease_check(h); /* before anything else: a frozen agent wakes here */
        if (fds[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(h->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
                    log_info("signal %u: stopping; running VMs keep running", si.ssi_signo);
                    sdnotify_send("STOPPING=1");
                    return 0;
                }
            }
        }
        /* VM events first: the list cannot change until the API runs.  A
         * VM may have work without any fd of its own (driver pending). */
        for (struct vm *vm = h->vms; vm; vm = vm->next) {
            int ready = h->drv->pending(vm);
            for (int k = 0; k < vm->poll_n; k++)
                ready = ready || fds[vm->poll_first + k].revents;
            if (ready)
                h->drv->handle(vm, fds + vm->poll_first, vm->poll_n);
        }
        fire_deadlines(h);
        take_sample(h);
        datapath_check(h);
        mds_run(h->mds, fds + mds_first, mds_n);
        if (h->uplink)
            uplink_run(h->uplink, fds + up_first, up_n);
        for (int i = 0; i < 2; i++)
            if (servers[i])
                httpd_run(servers[i]);
    }
}

/* ------------------------------------------------ cold migration, resize */

/*
 * The agent's side of cold migration and resize of a stopped
 * VM (docs/internals/mobility.md, "Cold migration and resize"; the
 * controller drives it, src/ctrl/resize.c).
 *
 *   POST   /v1/vms/{ref}/export          serve the root disk read-only
 *                                        (drv->disk_export): {uri}
 *   DELETE /v1/vms/{ref}/export          stop serving it
 *   POST   /v1/vms {..., "disk_from": U} (host.c) the new VM's root disk
 *                                        is a copy of what U serves
 *   POST   /v1/vms/{ref}/resize          a create body: vcpus, memory and
 *                                        root_disk (grown only) apply; the
 *                                        old definition and root disk are
 *                                        kept once (pre-resize.json)
 *   POST   /v1/vms/{ref}/resize-confirm  drop what was kept
 *   POST   /v1/vms/{ref}/resize-revert   put it back
 *
 * All of them want a VM without a process (409 otherwise), and all are
 * idempotent, so a controller killed between a call and its record asks
 * again.  The kept definition is written after the kept disk is whole,
 * and removed last, so a crash anywhere leaves either nothing kept or
 * both (a revert then finds the disk restored already and restores the
 * definition).
 */
#define PRE_RESIZE "pre-resize.json"

static int no_process(const struct vm *vm, const char *what, struct nubo_err *err)
{
    if (!vm_state_has_process(vm->state))
        return 0;
    return nubo_err_set(err, NUBO_E_CONFLICT, "cannot %s VM '%s': it is %s; stop it first", what,
                        vm->def.name, vm_state_name(vm->state));
}

bool host_vm_exported(const struct vm *vm)
{
    char path[PATH_MAX];
    return fs_exists(vm_path(vm, "export.uri", path, sizeof(path)));
}

json_t *host_vm_export(struct host *h, struct vm *vm, struct nubo_err *err)
{
    char uri[256], path[PATH_MAX];
    if (no_process(vm, "export the disk of", err) < 0)
        return NULL;
    if (h->drv->disk_export == NULL) {
        nubo_err_set(err, NUBO_E_INVALID, "this agent's driver cannot export disks");
        return NULL;
    }
    const char *addr = h->cfg.underlay_ip[0] ? h->cfg.underlay_ip : "127.0.0.1";
    if (h->drv->disk_export(vm, addr, uri, sizeof(uri), err) < 0)
        return NULL;
    /* The mark that keeps the VM from starting while its disk is read. */
    if (fs_write_atomic(vm_path(vm, "export.uri", path, sizeof(path)), uri, strlen(uri), 0600,
                        err) < 0) {
        h->drv->disk_export_stop(vm, NULL);
        return NULL;
    }
    log_info("vm %s: root disk exported at %s", vm->def.name, uri);
    return json_pack("{s:s}", "uri", uri);
}

int host_vm_export_stop(struct host *h, struct vm *vm, struct nubo_err *err)
{
    char path[PATH_MAX];
    if (h->drv->disk_export_stop && h->drv->disk_export_stop(vm, err) < 0)
        return -1;
    if (unlink(vm_path(vm, "export.uri", path, sizeof(path))) == 0)
        log_info("vm %s: root disk export ended", vm->def.name);
    return 0;
}

int host_vm_resize(struct host *h, struct vm *vm, json_t *body, struct nubo_err *err)
{
    struct vm_def nd;
    char path[PATH_MAX];
    if (no_process(vm, "resize", err) < 0)
        return -1;
    if (host_vm_exported(vm))
        return nubo_err_set(err, NUBO_E_CONFLICT, "cannot resize VM '%s': its disk is exported",
                            vm->def.name);
    if (vm_def_from_request(body, &nd, err) < 0)
        return -1;
    int vcpus = nd.vcpus;
    uint64_t mem = nd.memory_mib, root = nd.root_size;
    vm_def_clear(&nd);
    /* Keep the old copy once: the disk whole first, then the definition
     * that says it is kept. */
    vm_path(vm, PRE_RESIZE, path, sizeof(path));
    if (!fs_exists(path)) {
        if (h->drv->root_keep && h->drv->root_keep(vm, err) < 0)
            return -1;
        json_t *old = vm_def_to_json(&vm->def);
        char *text = json_dumps(old, JSON_COMPACT);
        json_decref(old);
        int rc = text ? fs_write_atomic(path, text, strlen(text), 0600, err) : -1;
        free(text);
        if (rc < 0)
            return text ? -1 : nubo_err_set(err, NUBO_E_INTERNAL, "cannot keep the definition");
    }
    if (root > vm->def.root_size) {
        if (h->drv->root_grow && h->drv->root_grow(vm, root, err) < 0)
            return -1;
        vm->def.root_size = root;
    }
    vm->def.vcpus = vcpus;
    vm->def.memory_mib = mem;
    if (vm_save(vm, err) < 0)
        return -1;
    log_info("vm %s resized: %d vCPUs, %llu MiB, root disk %llu MiB (the old one kept)",
             vm->def.name, vm->def.vcpus, (unsigned long long)vm->def.memory_mib,
             (unsigned long long)(vm->def.root_size >> 20));
    return 0;
}

int host_vm_resize_end(struct host *h, struct vm *vm, bool revert, struct nubo_err *err)
{
    char path[PATH_MAX];
    if (no_process(vm, revert ? "revert the resize of" : "confirm the resize of", err) < 0)
        return -1;
    vm_path(vm, PRE_RESIZE, path, sizeof(path));
    if (!fs_exists(path))
        return 0; /* nothing kept: done already */
    struct vm_def old;
    if (revert) {
        json_error_t jerr;
        json_t *o = json_load_file(path, 0, &jerr);
        if (o == NULL)
            return nubo_err_set(err, NUBO_E_INTERNAL, "%s of VM '%s' is damaged: %s", PRE_RESIZE,
                                vm->def.name, jerr.text);
        int rc = vm_def_from_json(o, &old, err);
        json_decref(o);
        if (rc < 0)
            return -1;
    }
    if (h->drv->root_restore && h->drv->root_restore(vm, revert, err) < 0) {
        if (revert)
            vm_def_clear(&old);
        return -1;
    }
    if (revert) {
        vm->def.vcpus = old.vcpus;
        vm->def.memory_mib = old.memory_mib;
        vm->def.root_size = old.root_size;
        vm_def_clear(&old);
        if (vm_save(vm, err) < 0)
            return -1;
    }
    if (unlink(path) < 0 && errno != ENOENT)
        return nubo_err_set(err, NUBO_E_INTERNAL, "cannot remove %s: %s", path, strerror(errno));
    log_info("vm %s: resize %s (%d vCPUs, %llu MiB)", vm->def.name,
             revert ? "reverted" : "confirmed", vm->def.vcpus,
             (unsigned long long)vm->def.memory_mib);
    return 0;
}
