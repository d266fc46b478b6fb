/*
 * fake.c - the fake hypervisor driver: VMs that only pretend; see vm_int.h.
 *
 * Nothing here starts a process, opens a device or creates a disk.  The
 * agent's policy (capacity, state rules, stop-then-force) still runs on
 * top, so the host protocol behaves as with QEMU, only instantly.
 */
#include "host/vm/vm_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

/* Appends one boot's worth of console output, with the ready marker the
 * nubo-tiny image prints, and records where this boot began. */
static void console_boot(struct vm *vm)
{
    char path[PATH_MAX], line[512];
    vm_path(vm, "console.log", path, sizeof(path));
    struct stat st;
    vm->console_boot_offset = stat(path, &st) == 0 ? (long long)st.st_size : 0;
    int n = snprintf(line, sizeof(line),
                     "fake driver: boot %d of %s (no guest runs)\n"
                     "NUBO-READY instance-id=%s hostname=%s (fake)\n",
                     vm->boots, vm->def.name, vm->def.id, vm->def.hostname);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (n > 0 && write(fd, line, (size_t)n) < 0)
        log_debug("vm %s: cannot write the fake console", vm->def.name);
    close(fd);
}

static int fake_prepare(struct vm *vm, struct nubo_err *err)
{
    (void)vm;
    (void)err;
    return 0;
}

static int fake_start(struct vm *vm, struct nubo_err *err)
{
    (void)err;
    vm->boots++;
    vm->pid = 0;
    console_boot(vm);
    vm_set_state(vm, VM_RUNNING, "started (fake driver: no guest runs)");
    return 0;
}

static int fake_shutdown(struct vm *vm, struct nubo_err *err)
{
    (void)vm;
    (void)err;
    return 0; /* the agent marks it stopping; fake_handle finishes the stop */
}

static int fake_destroy(struct vm *vm, struct nubo_err *err)
{
    (void)err;
    vm_set_state(vm, VM_STOPPED, "forced off");
    return 0;
}

static int fake_reboot(struct vm *vm, struct nubo_err *err)
{
    (void)err;
    vm->boots++;
    console_boot(vm);
    vm_set_state(vm, vm->state, "reset by request (boot %d)", vm->boots);
    return 0;
}

static int fake_pause(struct vm *vm, struct nubo_err *err)
{
    (void)err;
    vm_set_state(vm, VM_PAUSED, "paused by request");
    return 0;
}

static int fake_resume(struct vm *vm, struct nubo_err *err)
{
    (void)err;
    vm_set_state(vm, VM_RUNNING, "resumed by request");
    return 0;
}

static int fake_adopt(struct vm *vm, struct nubo_err *err)
{
    (void)err;
    if (vm->state == VM_STOPPING)
        vm_set_state(vm, VM_STOPPED, "powered off while nubo-hostd was not running");
    else if (vm->state == VM_STARTING)
        vm_set_state(vm, VM_RUNNING, "re-adopted after nubo-hostd restart (fake)");
    else
        vm_set_state(vm, vm->state, "re-adopted after nubo-hostd restart (fake)");
    return 0;
}

static int fake_pollfds(struct vm *vm, struct pollfd *fds, int max)
{
    (void)vm;
    (void)fds;
    (void)max;
    return 0;
}

static void fake_handle(struct vm *vm, const struct pollfd *fds, int n)
{
    (void)fds;
    (void)n;
    if (vm->state == VM_STOPPING)
        vm_set_state(vm, VM_STOPPED, "powered off (guest-shutdown, fake)");
}

static int fake_pending(const struct vm *vm)
{
    return vm->state == VM_STOPPING;
}

static void fake_stats(struct vm *vm, json_t *obj)
{
    (void)vm;
    json_object_set_new(obj, "fake", json_true());
}

/* Made-up counters that grow steadily with the monotonic clock, so rates
 * are stable: each VM has its own CPU load (5..94 %, from its id) and
 * disk traffic; memory is a share of its size.  Enough for benchmarks of
 * the metrics pipeline; nothing is measured. */
static void fake_sample(struct vm *vm, struct vm_counters *c)
{
    uint32_t h = 2166136261u;
    for (const char *p = vm->def.id; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    uint64_t now_ms = (uint64_t)clock_mono_ms();
    uint64_t load = 5 + h % 90; /* percent */
    c->has_cpu = c->has_memory = c->has_disk = true;
    c->cpu_ns = now_ms * 1000000ULL * (uint64_t)vm->def.vcpus * load / 100;
    c->memory_bytes = (vm->def.memory_mib << 20) / 100 * (30 + load / 2);
    c->disk_read_bytes = now_ms * (h % 4096);
    c->disk_write_bytes = now_ms * ((h >> 12) % 2048);
    c->disk_read_ops = now_ms * (h % 7) / 100;
    c->disk_write_ops = now_ms * ((h >> 8) % 5) / 100;
}

static void fake_release(struct vm *vm)
{
    (void)vm;
}

static int fake_remove(struct vm *vm, struct nubo_err *err)
{
    return fs_rm_rf(vm->dir, err);
}

/* Migration (vm.h): the stream "takes" fake_migrate_ms(), so that the
 * controller's states can be watched and cancelled; then the source is
 * paused for good and the destination runs. */
#define FAKE_MIGRATE_MS 1500

/* FAKE_MIGRATE_MS, or the environment's NUBO_FAKE_MIGRATE_MS (1 ms to 10
 * minutes: tests that look at a migration under way make it long). */
static int64_t fake_migrate_ms(void)
{
    const char *e = getenv("NUBO_FAKE_MIGRATE_MS");
    char *end;
    long long ms = e ? strtoll(e, &end, 10) : 0;
    if (e == NULL || end == e || *end != '\0' || ms < 1 || ms > 600000)
        return FAKE_MIGRATE_MS;
    return ms;
}

static int fake_migrate_incoming(struct vm *vm, const char *listen_addr, struct nubo_err *err)
{
    (void)err;
    str_copy(vm->migration_role, sizeof(vm->migration_role), "incoming");
    snprintf(vm->migration_uri, sizeof(vm->migration_uri), "fake:%s:1", listen_addr);
    vm_set_state(vm, VM_RUNNING, "waiting for an incoming migration (fake driver)");
    return 0;
}

static int fake_migrate_out(struct vm *vm, const char *uri, int downtime_ms, struct nubo_err *err)
{
    (void)downtime_ms;
    if (strncmp(uri, "fake:", 5) != 0)
        return nubo_err_set(err, NUBO_E_INVALID, "the fake driver migrates only to fake agents");
    str_copy(vm->migration_role, sizeof(vm->migration_role), "outgoing");
    str_copy(vm->migration_uri, sizeof(vm->migration_uri), uri);
    vm->migration_at = clock_mono_ms();
    vm_set_state(vm, vm->state, "migrating to %s (fake)", uri);
    return 0;
}

static int fake_migrate_query(struct vm *vm, json_t *out, struct nubo_err *err)
{
    (void)err;
    const char *st = "none";
    if (strcmp(vm->migration_role, "incoming") == 0)
        st = "completed"; /* the fake stream arrives at once */
    else if (strcmp(vm->migration_role, "outgoing") == 0 && vm->migration_at == 0)
        st = "cancelled";
    else if (strcmp(vm->migration_role, "outgoing") == 0 &&
             clock_mono_ms() - vm->migration_at < fake_migrate_ms())
        st = "active";
    else if (strcmp(vm->migration_role, "outgoing") == 0) {
        st = "completed";
        if (vm->state != VM_PAUSED)
            vm_set_state(vm, VM_PAUSED, "migrated to %s: it runs there now", vm->migration_uri);
    }
    json_object_set_new(out, "status", json_string(st));
    if (strcmp(st, "none") != 0)
        json_object_set_new(out, "ram",
                            json_pack("{s:i, s:i, s:i}", "transferred_bytes", 0, "remaining_bytes",
                                      0, "total_bytes", 0));
    return 0;
}

static int fake_migrate_cancel(struct vm *vm, struct nubo_err *err)
{
    (void)err;
    if (strcmp(vm->migration_role, "outgoing") == 0 &&
        clock_mono_ms() - vm->migration_at < fake_migrate_ms())
        vm->migration_at = 0;
    return 0;
}

/* Cold migration (vm.h): the fake VM has no disk; its "export" is a uri
 * the fake import accepts. */
static int fake_disk_export(struct vm *vm, const char *listen_addr, char *uri, size_t uri_n,
                            struct nubo_err *err)
{
    (void)err;
    snprintf(uri, uri_n, "fake:%s:%s", listen_addr, vm->def.id);
    return 0;
}

static int fake_disk_export_stop(struct vm *vm, struct nubo_err *err)
{
    (void)vm;
    (void)err;
    return 0;
}

static int fake_disk_import(struct vm *vm, const char *uri, struct nubo_err *err)
{
    (void)vm;
    if (strncmp(uri, "fake:", 5) != 0)
        return nubo_err_set(err, NUBO_E_INVALID, "the fake driver imports only from fake agents");
    return 0;
}

/* Says loudly that nothing runs.  The fake driver lacks the capabilities
 * (has_taps, has_accel): its NICs are never created, and the heartbeat
 * reports no acceleration. */
static int fake_init(const struct hv_setup *setup, struct hv_info *info, struct nubo_err *err)
{
    (void)setup;
    (void)err;
    for (int i = 0; i < 3; i++)
        log_warn("FAKE DRIVER: no virtual machine really runs on this host; VMs only "
                 "pretend. For scale tests and benchmarks only, never for real use.");
    info->accel = ACCEL_TCG;
    str_copy(info->accel_reason, sizeof(info->accel_reason),
             "fake driver: no guest runs, nothing is accelerated");
    return 0;
}

const struct hv_driver fake_driver = {
    .name = "fake",
    .init = fake_init,
    .prepare = fake_prepare,
    .start = fake_start,
    .shutdown = fake_shutdown,
    .destroy = fake_destroy,
    .reboot = fake_reboot,
    .pause = fake_pause,
    .resume = fake_resume,
    .adopt = fake_adopt,
    .pollfds = fake_pollfds,
    .handle = fake_handle,
    .pending = fake_pending,
    .stats = fake_stats,
    .sample = fake_sample,
    .release = fake_release,
    .remove = fake_remove,
    .migrate_incoming = fake_migrate_incoming,
    .migrate_out = fake_migrate_out,
    .migrate_query = fake_migrate_query,
    .migrate_cancel = fake_migrate_cancel,
    .disk_export = fake_disk_export,
    .disk_export_stop = fake_disk_export_stop,
    .disk_import = fake_disk_import,
};
