/*
 * qemu.c - the QEMU driver: command line, process, QMP, events.
 *
 * Life of a VM process:
 *   start:    qemu-img overlay exists (prepare) -> fork/exec QEMU detached in
 *             the VM's cgroup -> pidfd_open -> QMP handshake -> query-status
 *             -> RUNNING.
 *   events:   SHUTDOWN marks a clean power-off in progress; STOP/RESUME map to
 *             PAUSED/RUNNING; RESET counts a boot.
 *   exit:     the pidfd becomes readable.  After a SHUTDOWN event or a forced
 *             stop the VM is STOPPED; otherwise it CRASHED, and the reason
 *             says how QEMU ended (signal, exit status, its last log line).
 */
#include "host/vm/vm_int.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/spawn.h"
#include "lib/util.h"

static struct qemu_cfg cfg;

struct qemu_vm {
    struct qmp *qmp;
    int pidfd;
    int is_child;      /* started by this agent run: waitpid() gives the status */
    int shutdown_seen; /* a SHUTDOWN event arrived */
    char shutdown_reason[64];
    int forced;            /* we forced it off */
    int64_t last_reset_ms; /* when the current boot began (monotonic) */
    int incoming;          /* the next start waits for a migration stream */
};

/* A sampling query must not hold the agent's loop long. */
#define QEMU_SAMPLE_TIMEOUT_MS 1000

/* SeaBIOS resets the machine once or twice while it starts, and each reset
 * is a RESET event with guest=true: guest resets this soon after a boot
 * began belong to that boot.  A reset the host asked for (guest=false)
 * always starts a new boot, however soon it comes. */
#define BOOT_RESET_WINDOW_MS 3000

void qemu_driver_init(const struct qemu_cfg *c)
{
    cfg = *c;
    if (cfg.qmp_timeout_ms <= 0)
        cfg.qmp_timeout_ms = 5000;
}

/* ---------------------------------------------------------- command line */

int qemu_escape_opt(const char *in, char *out, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; in[i]; i++) {
        size_t need = in[i] == ',' ? 2 : 1;
        if (j + need >= n)
            return -1;
        out[j++] = in[i];
        if (in[i] == ',')
            out[j++] = ',';
    }
    out[j] = '\0';
    return 0;
}

void qemu_build_argv(const struct qemu_cfg *c, const struct vm *vm, const struct image *img,
                     int qmp_fd, struct strv *a)
{
    const struct vm_def *d = &vm->def;
    char dir[PATH_MAX * 2];
    /* Paths go into QEMU option strings, where ',' is a separator. */
    if (qemu_escape_opt(vm->dir, dir, sizeof(dir)) < 0)
        dir[0] = '\0';
    strv_push(a, "%s", c->binary);
    strv_push(a, "-name");
    strv_push(a, "guest=%s,debug-threads=on", d->name);
    strv_push(a, "-uuid");
    strv_push(a, "%s", d->id);
    strv_push(a, "-nodefaults");
    strv_push(a, "-no-user-config");
    strv_push(a, "-display");
    strv_push(a, "none");
    strv_push(a, "-machine");
    strv_push(a, "q35");
    if (c->accel == ACCEL_KVM) {
        strv_push(a, "-accel");
        strv_push(a, "kvm");
        strv_push(a, "-cpu");
        strv_push(a, "host");
    } else {
        strv_push(a, "-accel");
        strv_push(a, "tcg");
        strv_push(a, "-cpu");
        strv_push(a, "max");
    }
    strv_push(a, "-smp");
    strv_push(a, "%d", d->vcpus);
    strv_push(a, "-m");
    strv_push(a, "%llu", (unsigned long long)d->memory_mib);
    /* Confine QEMU: no new privileges, no spawning, no obsolete syscalls. */
    strv_push(a, "-sandbox");
    strv_push(a, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    strv_push(a, "-pidfile");
    strv_push(a, "%s/qemu.pid", vm->dir);
    strv_push(a, "-chardev");
    if (qmp_fd >= 0)
        strv_push(a, "socket,id=qmp,fd=%d,server=on,wait=off", qmp_fd);
    else
        strv_push(a, "socket,id=qmp,path=%s/qmp.sock,server=on,wait=off", dir);
    strv_push(a, "-mon");
    strv_push(a, "chardev=qmp,mode=control");
    strv_push(a, "-chardev");
    strv_push(a, "file,id=console,path=%s/console.log,append=on", dir);
    strv_push(a, "-serial");
    strv_push(a, "chardev:console");
    if (img->kernel[0]) {
        strv_push(a, "-kernel");
        strv_push(a, "%s", img->kernel);
        if (img->initrd[0]) {
            strv_push(a, "-initrd");
            strv_push(a, "%s", img->initrd);
        }
        strv_push(a, "-append");
        strv_push(a, "%s", img->cmdline);
    }
    strv_push(a, "-drive");
    strv_push(a, "file=%s/root.qcow2,if=none,id=root,format=qcow2,cache=writeback,discard=unmap",
              dir);
    strv_push(a, "-device");
    strv_push(a, "virtio-blk-pci,drive=root,bootindex=1");
    for (int i = 0; i < d->ndisks; i++) {
        strv_push(a, "-drive");
        strv_push(a, "file=%s/disk-%d.qcow2,if=none,id=disk%d,format=qcow2,cache=writeback", dir,
                  i + 1, i + 1);
        strv_push(a, "-device");
        strv_push(a, "virtio-blk-pci,drive=disk%d", i + 1);
    }
    if (!d->no_config_drive) {
        strv_push(a, "-drive");
        strv_push(a, "file=%s/config.iso,if=none,id=config,format=raw,readonly=on", dir);
        strv_push(a, "-device");
        strv_push(a, "virtio-blk-pci,drive=config");
    }
    /* Attached volumes (vm.h): the data file in the state directory's
     * volumes/ (vm->dir is <state-dir>/vms/<id>), named like hot-plug
     * names them, so that a restarted VM and a hot-plugged one look the
     * same to the guest and to a later unplug. */
    /* q35's root bus takes no hot-plug: one PCIe root port per volume a
     * VM may have, each holding at most one volume. */
    for (int i = 0; i < VM_MAX_VOLUMES; i++) {
        strv_push(a, "-device");
        strv_push(a, "pcie-root-port,id=vhp%d,chassis=%d,slot=%d", i, i + 1, i + 1);
    }
    for (int i = 0; i < d->nvolumes; i++) {
        strv_push(a, "-blockdev");
        strv_push(a,
                  "driver=qcow2,node-name=vol-%.20s,file.driver=file,"
                  "file.filename=%s/../../volumes/%s.qcow2",
                  d->volumes[i], dir, d->volumes[i]);
        strv_push(a, "-device");
        strv_push(a, "virtio-blk-pci,drive=vol-%.20s,id=vold-%.20s,serial=%.20s,bus=vhp%d",
                  d->volumes[i], d->volumes[i], d->volumes[i], i);
    }
    if (strcmp(d->network, "user") == 0) {
        /* restrict=on: the guest reaches only QEMU's own DHCP/DNS, never the
         * host's networks or beyond. */
        strv_push(a, "-netdev");
        strv_push(a, "user,id=net0,restrict=on,hostname=%s", d->hostname);
        strv_push(a, "-device");
        strv_push(a, "virtio-net-pci,netdev=net0,mac=%s", d->mac);
    }
    /* Tenant NICs: persistent taps made by the agent (net.c), attached to
     * their network's bridge; QEMU only opens them. */
    for (int i = 0; i < d->nnics; i++) {
        strv_push(a, "-netdev");
        strv_push(a, "tap,id=nic%d,ifname=%s,script=no,downscript=no", i, d->nics[i].tap);
        strv_push(a, "-device");
        strv_push(a, "virtio-net-pci,netdev=nic%d,mac=%s", i, d->nics[i].mac);
    }
    strv_push(a, "-msg");
    strv_push(a, "timestamp=on");
}

enum vm_state qemu_status_to_state(const char *status)
{
    if (status == NULL)
        return VM_RUNNING;
    if (strcmp(status, "running") == 0 || strcmp(status, "debug") == 0 ||
        strcmp(status, "inmigrate") == 0 || strcmp(status, "postmigrate") == 0 ||
        strcmp(status, "prelaunch") == 0 || strcmp(status, "finish-migrate") == 0)
        return VM_RUNNING;
    if (strcmp(status, "shutdown") == 0)
        return VM_STOPPING;
    return VM_PAUSED;
}

/* --------------------------------------------------------------- disks */

static int write_file(const char *path, const char *text, struct nubo_err *err)
{
    return fs_write_atomic(path, text, strlen(text), 0600, err);
}

/* Builds the OpenStack-style config drive (label config-2) that the guest
 * image and cloud-init read: openstack/latest/meta_data.json + user_data. */
static int make_config_drive(struct vm *vm, struct nubo_err *err)
{
    char done[PATH_MAX];
    /* The definition never changes after create: once made, the drive is
     * final (a start after a stop reuses it). */
    if (fs_exists(vm_path(vm, "config.iso", done, sizeof(done))))
        return 0;
    char stage[PATH_MAX], dir[PATH_MAX + 32], path[PATH_MAX + 64], iso[PATH_MAX];
    vm_path(vm, "configdrive", stage, sizeof(stage));
    snprintf(dir, sizeof(dir), "%s/openstack/latest", stage);
    if (fs_rm_rf(stage, err) < 0 || fs_mkdir_p(dir, 0700, err) < 0)
        return -1;
    json_t *keys = json_object();
    for (int i = 0; i < vm->def.nkeys; i++) {
        char k[16];
        snprintf(k, sizeof(k), "key-%d", i);
        json_object_set_new(keys, k, json_string(vm->def.ssh_keys[i]));
    }
    json_t *md = json_pack("{s:s, s:s, s:s, s:o, s:i, s:s}", "uuid", vm->def.id, "name",
                           vm->def.name, "hostname", vm->def.hostname, "public_keys", keys,
                           "launch_index", 0, "availability_zone", "nubo");
    char *text = json_dumps(md, JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(md);
    snprintf(path, sizeof(path), "%s/meta_data.json", dir);
    int r = write_file(path, text, err);
    free(text);
    if (r < 0)
        return -1;
    if (vm->def.user_data) {
        snprintf(path, sizeof(path), "%s/user_data", dir);
        if (write_file(path, vm->def.user_data, err) < 0)
            return -1;
    }
    vm_path(vm, "config.iso", iso, sizeof(iso));
    char *argv[] = {"genisoimage", "-quiet", "-o", iso, "-V", "config-2", "-r", "-J", stage, NULL};
    if (spawn_run(argv, 30000, 1 << 16, NULL, err) < 0)
        return -1;
    return fs_rm_rf(stage, err);
}

static int qemu_prepare(struct vm *vm, struct nubo_err *err)
{
    struct image img;
    char path[PATH_MAX], size[32];
    if (image_resolve(cfg.images_dir, vm->def.image, &img, err) < 0)
        return -1;
    if (vm->def.root_size && vm->def.root_size < img.virtual_size)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "root_disk (%llu MiB) is smaller than image '%s' (%llu MiB); ask for "
                            "at least the image's size or leave root_disk out",
                            (unsigned long long)(vm->def.root_size >> 20), img.name,
                            (unsigned long long)(img.virtual_size >> 20));
    vm_path(vm, "root.qcow2", path, sizeof(path));
    if (!fs_exists(path)) {
        snprintf(size, sizeof(size), "%llu",
                 (unsigned long long)(vm->def.root_size ? vm->def.root_size : img.virtual_size));
        char *argv[] = {"qemu-img", "create", "-q",     "-f", "qcow2", "-F",
                        img.format, "-b",     img.path, path, size,    NULL};
        if (spawn_run(argv, 30000, 1 << 16, NULL, err) < 0)
            return -1;
    }
    for (int i = 0; i < vm->def.ndisks; i++) {
        char name[32];
        snprintf(name, sizeof(name), "disk-%d.qcow2", i + 1);
        vm_path(vm, name, path, sizeof(path));
        if (fs_exists(path))
            continue;
        snprintf(size, sizeof(size), "%llu", (unsigned long long)vm->def.disks[i]);
        char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", path, size, NULL};
        if (spawn_run(argv, 30000, 1 << 16, NULL, err) < 0)
            return -1;
    }
    return vm->def.no_config_drive ? 0 : make_config_drive(vm, err);
}

/* ------------------------------------------------------------- volumes */

/* A blank qcow2 volume: made under a temporary name and renamed, so that
 * a crash leaves the whole file or none (volume.c). */
static int qemu_volume_create(const char *path, uint64_t bytes, struct nubo_err *err)
{
    char tmp[PATH_MAX + 8], size[32];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return nubo_err_set(err, NUBO_E_INTERNAL, "volume path too long");
    snprintf(size, sizeof(size), "%llu", (unsigned long long)bytes);
    unlink(tmp);
    char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", tmp, size, NULL};
    if (spawn_run(argv, 30000, 1 << 16, NULL, err) < 0) {
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) < 0) {
        unlink(tmp);
        return nubo_err_set(err, NUBO_E_UNAVAILABLE, "cannot store the volume: %s",
                            strerror(errno));
    }
    return 0;
}

/* Grows a volume that no running QEMU holds. */
static int qemu_volume_resize(const char *path, uint64_t bytes, struct nubo_err *err)
{
    char size[32];
    snprintf(size, sizeof(size), "%llu", (unsigned long long)bytes);
    char *argv[] = {"qemu-img", "resize", "-q", "-f", "qcow2", (char *)path, size, NULL};
    return spawn_run(argv, 30000, 1 << 16, NULL, err);
}

static struct qemu_vm *qv(struct vm *vm);

/* A volume from a snapshot (or, snap NULL, from a file no QEMU writes
 * to): qemu-img convert reads the snapshot's clusters
 * (-U: a running VM may hold the source; the snapshot's clusters stay as
 * they are while it exists, the VM's writes go elsewhere), under a
 * temporary name, grown to bytes, then renamed. */
static int qemu_volume_copy(const char *src, const char *snap, const char *dst, uint64_t bytes,
                            struct nubo_err *err)
{
    char tmp[PATH_MAX + 8], size[32], sel[64];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return nubo_err_set(err, NUBO_E_INTERNAL, "volume path too long");
    snprintf(size, sizeof(size), "%llu", (unsigned long long)bytes);
    snprintf(sel, sizeof(sel), "snapshot.name=%s", snap ? snap : "");
    unlink(tmp);
    char *conv[] = {"qemu-img", "convert", "-U", "-f",        "qcow2", "-O",
                    "qcow2",    "-l",      sel,  (char *)src, tmp,     NULL};
    if (snap == NULL) { /* the file as it is: no -l */
        conv[7] = (char *)src;
        conv[8] = tmp;
        conv[9] = NULL;
    }
    char *grow[] = {"qemu-img", "resize", "-q", "-f", "qcow2", tmp, size, NULL};
    if (spawn_run(conv, 600000, 1 << 16, NULL, err) < 0 ||
        spawn_run(grow, 30000, 1 << 16, NULL, err) < 0) {
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, dst) < 0) {
        unlink(tmp);
        return nubo_err_set(err, NUBO_E_UNAVAILABLE, "cannot store the volume: %s",
                            strerror(errno));
    }
    return 0;
}

/* Drops every internal snapshot named snap of the file path (qcow2
 * allows several of one name; a crash may have left one): 0 once none is
 * left. */
static int snap_drop_file(const char *path, const char *snap, struct nubo_err *err)
{
    for (int i = 0; i < 16; i++) {
        char *out = NULL;
        char *argv[] = {"qemu-img", "snapshot", "-d", (char *)snap, (char *)path, NULL};
        int rc = spawn_run(argv, 60000, 1 << 12, &out, err);
        bool gone = rc < 0 && out && strstr(out, "not found");
        free(out);
        if (gone)
            return 0;
        if (rc < 0)
            return -1;
    }
    return nubo_err_set(err, NUBO_E_INTERNAL, "volume %s has too many snapshots named %s", path,
                        snap);
}

static int snap_drop_online(struct qemu_vm *q, const char *node, const char *snap,
                            struct nubo_err *err)
{
    for (int i = 0; i < 16; i++) {
        struct nubo_err qerr = {0};
        json_t *r = qmp_command(q->qmp, "blockdev-snapshot-delete-internal-sync",
                                json_pack("{s:s, s:s}", "device", node, "name", snap),
                                cfg.qmp_timeout_ms, &qerr);
        if (r == NULL)
            return strstr(qerr.msg, "does not exist") || strstr(qerr.msg, "not found")
                       ? 0
                       : nubo_err_set(err, qerr.code, "%s", qerr.msg);
        json_decref(r);
    }
    return nubo_err_set(err, NUBO_E_INTERNAL, "the volume has too many snapshots named %s", snap);
}

/* Internal qcow2 snapshots (vm.h, volume_snapshot): in a running VM,
 * QMP's blockdev-snapshot-internal-sync on the volume's node (the guest's
 * writes pause for it: crash-consistent); otherwise qemu-img snapshot. */
static int qemu_volume_snapshot(const char *path, struct vm *online, const char *id,
                                const char *snap, bool drop, struct nubo_err *err)
{
    if (online == NULL) {
        if (snap_drop_file(path, snap, err) < 0)
            return -1;
        if (drop)
            return 0;
        char *argv[] = {"qemu-img", "snapshot", "-c", (char *)snap, (char *)path, NULL};
        return spawn_run(argv, 60000, 1 << 12, NULL, err);
    }
    struct qemu_vm *q = qv(online);
    char node[32];
    if (q->qmp == NULL)
        return nubo_err_set(err, NUBO_E_UNAVAILABLE, "the VM's monitor is not connected");
    snprintf(node, sizeof(node), "vol-%.20s", id);
    if (snap_drop_online(q, node, snap, err) < 0)
        return -1;
    if (drop)
        return 0;
    json_t *r =
        qmp_command(q->qmp, "blockdev-snapshot-internal-sync",
                    json_pack("{s:s, s:s}", "device", node, "name", snap), cfg.qmp_timeout_ms, err);
    if (r == NULL)
        return -1;
    json_decref(r);
    return 0;
}

/* ------------------------------------------------------------- process */

static struct qemu_vm *qv(struct vm *vm)
{
    if (vm->drv == NULL) {
        struct qemu_vm *q = xcalloc(1, sizeof(*q));
        q->pidfd = -1;
        vm->drv = q;
    }
    return vm->drv;
}

static int pidfd_open_(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* The last non-empty line of qemu.log, to explain a failed start. */
static void qemu_log_tail(struct vm *vm, char *out, size_t n)
{
    char path[PATH_MAX];
    out[0] = '\0';
    char *text = fs_read_file(vm_path(vm, "qemu.log", path, sizeof(path)), 1 << 20, NULL, NULL);
    if (text == NULL)
        return;
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    char *nl = strrchr(text, '\n');
    str_copy(out, n, nl ? nl + 1 : text);
    free(text);
}

static void on_event(void *ctx, const char *event, json_t *data);

/* Current size of console.log: where the next boot's output will begin. */
static long long console_size(struct vm *vm)
{
    char path[PATH_MAX];
    struct stat st;
    if (stat(vm_path(vm, "console.log", path, sizeof(path)), &st) < 0)
        return 0;
    return (long long)st.st_size;
}

/* A Unix socket path is limited to 108 bytes, and a VM directory can be
 * deeper than that.  Going through the directory's fd in /proc keeps the
 * path short: "/proc/self/fd/N/qmp.sock".  *dirfd must be closed by the
 * caller once the path is no longer needed. */
static int short_sock_path(struct vm *vm, char *out, size_t n, int *dirfd, struct nubo_err *err)
{
    *dirfd = open(vm->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (*dirfd < 0)
        return nubo_err_set(err, NUBO_E_INTERNAL, "cannot open %s: %s", vm->dir, strerror(errno));
    snprintf(out, n, "/proc/self/fd/%d/qmp.sock", *dirfd);
    return 0;
}

/* Creates the monitor's listening socket in the VM directory; QEMU inherits
 * it (-chardev socket,fd=N), so the path length never reaches QEMU. */
static int listen_monitor(struct vm *vm, struct nubo_err *err)
{
    char path[PATH_MAX];
    int dirfd;
    if (short_sock_path(vm, path, sizeof(path), &dirfd, err) < 0)
        return -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    str_copy(sa.sun_path, sizeof(sa.sun_path), path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot create the monitor socket in %s: %s", vm->dir,
                     strerror(errno));
        if (fd >= 0)
            close(fd);
        close(dirfd);
        return -1;
    }
    chmod(path, 0600);
    close(dirfd);
    return fd;
}

static struct qmp *connect_monitor(struct vm *vm, int timeout_ms, struct nubo_err *err)
{
    char path[PATH_MAX];
    int dirfd;
    if (short_sock_path(vm, path, sizeof(path), &dirfd, err) < 0)
        return NULL;
    struct qmp *q = qmp_connect(path, timeout_ms, on_event, vm, err);
    close(dirfd);
    return q;
}

/* Drops the monitor and pidfd, removes runtime files and the cgroup. */
static void cleanup_process(struct vm *vm)
{
    struct qemu_vm *q = qv(vm);
    qmp_free(q->qmp);
    q->qmp = NULL;
    if (q->pidfd >= 0)
        close(q->pidfd);
    q->pidfd = -1;
    char path[PATH_MAX];
    unlink(vm_path(vm, "qmp.sock", path, sizeof(path)));
    unlink(vm_path(vm, "qemu.pid", path, sizeof(path)));
    cgroup_vm_remove(&cfg.cgroups, vm->def.id);
}

/* Records the end of the process; status is a wait status or -1 when
 * unknown (adopted process). */
static void process_ended(struct vm *vm, int status)
{
    struct qemu_vm *q = qv(vm);
    char how[96] = "";
    if (status != -1)
        spawn_status_str(status, how, sizeof(how));
    /* Deliver events still buffered (a SHUTDOWN sent just before exiting). */
    if (q->qmp)
        qmp_process(q->qmp, NULL);
    cleanup_process(vm);
    q->is_child = 0;
    if (q->forced) {
        vm_set_state(vm, VM_STOPPED, "forced off");
    } else if (q->shutdown_seen) {
        vm_set_state(vm, VM_STOPPED, "powered off (%s)", q->shutdown_reason);
    } else {
        char tail[160];
        qemu_log_tail(vm, tail, sizeof(tail));
        vm_set_state(vm, VM_CRASHED, "QEMU %s without a shutdown%s%s",
                     how[0] ? how
                            : "ended (exit status unknown: it was re-adopted after an agent "
                              "restart)",
                     tail[0] ? "; its last words: " : "", tail);
    }
    q->forced = 0;
    q->shutdown_seen = 0;
}

static int qemu_start(struct vm *vm, struct nubo_err *err)
{
    struct qemu_vm *q = qv(vm);
    struct image img;
    if (image_resolve(cfg.images_dir, vm->def.image, &img, err) < 0)
        return -1;
    if (qemu_prepare(vm, err) < 0)
        return -1;
    char logp[PATH_MAX];
    vm_path(vm, "qemu.log", logp, sizeof(logp));
    (void)!truncate(logp, 0);
    vm->console_boot_offset = console_size(vm);
    int lfd = listen_monitor(vm, err);
    if (lfd < 0)
        return -1;

    struct strv argv = {0};
    qemu_build_argv(&cfg, vm, &img, lfd, &argv);
    if (q->incoming) {
        /* The guest's state comes from a migration stream, whose listening
         * address QMP's migrate-incoming sets (migrate_incoming()). */
        strv_push(&argv, "-incoming");
        strv_push(&argv, "defer");
    }
    char procs[CGROUP_MAX_PROCS][PATH_MAX];
    const char *cgs[CGROUP_MAX_PROCS + 1] = {NULL};
    if (cgroup_vm_create(&cfg.cgroups, vm->def.id, vm->def.vcpus, procs) == 0) {
        for (int i = 0; i < CGROUP_MAX_PROCS && procs[i][0]; i++)
            cgs[i] = procs[i];
    }
    if (cfg.netns[0]) {
        /* The VM's taps live in the host-networking namespace: QEMU runs
         * there.  "ip netns exec" execs QEMU in place (same pid). */
        struct strv in = {0};
        strv_push(&in, "ip");
        strv_push(&in, "netns");
        strv_push(&in, "exec");
        strv_push(&in, "%s", cfg.netns);
        for (int i = 0; i < argv.n; i++)
            strv_push(&in, "%s", argv.v[i]);
        strv_free(&argv);
        argv = in;
    }
    struct spawn_opts so = {.log_path = logp, .cgroups = cgs, .keep_fd = lfd};
    pid_t pid = spawn_detached(argv.v, &so, err);
    strv_free(&argv);
    close(lfd);
    if (pid < 0)
        return -1;
    q->is_child = 1;
    q->forced = q->shutdown_seen = 0;
    q->pidfd = pidfd_open_(pid);
    vm->pid = pid;
    vm_set_state(vm, VM_STARTING, "QEMU started (pid %d)", (int)pid);

    q->qmp = connect_monitor(vm, 10000, err);
    json_t *st = q->qmp ? qmp_command(q->qmp, "query-status", NULL, cfg.qmp_timeout_ms, err) : NULL;
    if (st == NULL) {
        char tail[200];
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        cleanup_process(vm);
        q->is_child = 0;
        qemu_log_tail(vm, tail, sizeof(tail));
        vm_set_state(vm, VM_STOPPED, "start failed: %s", tail[0] ? tail : err->msg);
        return nubo_err_set(err, NUBO_E_UNAVAILABLE, "QEMU did not start: %s",
                            tail[0] ? tail : err->msg);
    }
    json_decref(st);
    q->last_reset_ms = clock_mono_ms();
    if (q->incoming) {
        vm_set_state(vm, VM_RUNNING, "waiting for an incoming migration (%s)",
                     accel_name(cfg.accel));
        return 0;
    }
    vm->boots++;
    vm_set_state(vm, VM_RUNNING, "started with %s", accel_name(cfg.accel));
    return 0;
}

static int monitor_cmd(struct vm *vm, const char *cmd, struct nubo_err *err)
{
    struct qemu_vm *q = qv(vm);
    if (q->qmp == NULL)
        return nubo_err_set(err, NUBO_E_CONFLICT, "the VM's monitor is not connected");
    json_t *r = qmp_command(q->qmp, cmd, NULL, cfg.qmp_timeout_ms, err);
    if (r == NULL)
        return -1;
    json_decref(r);
    return 0;
}

static int qemu_shutdown(struct vm *vm, struct nubo_err *err)
{
    return monitor_cmd(vm, "system_powerdown", err);
}

/* Waits up to ms for the process to end; returns 1 when it did. */
static int wait_exit(struct vm *vm, int ms)
{
    struct qemu_vm *q = qv(vm);
    if (q->pidfd < 0)
        return kill(vm->pid, 0) < 0 && errno == ESRCH;
    struct pollfd p = {.fd = q->pidfd, .events = POLLIN};
    int64_t deadline = clock_mono_ms() + ms;
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        int r = poll(&p, 1, left > 0 ? (int)left : 0);
        if (r > 0)
            return 1;
        if (r == 0 || (r < 0 && errno != EINTR))
            return 0;
    }
}

static void reap(struct vm *vm)
{
    struct qemu_vm *q = qv(vm);
    int status = -1;
    if (q->is_child && vm->pid > 0) {
        int st;
        if (waitpid(vm->pid, &st, 0) == vm->pid)
            status = st;
    }
    process_ended(vm, status);
}

static int qemu_destroy(struct vm *vm, struct nubo_err *err)
{
    struct qemu_vm *q = qv(vm);
    if (vm->pid <= 0) {
        cleanup_process(vm);
        return 0;
    }
    q->forced = 1;
    /* "quit" lets QEMU flush its disks; SIGKILL if it does not go in 3 s. */
    struct nubo_err ignored;
    if (q->qmp)
        monitor_cmd(vm, "quit", &ignored);
    if (!wait_exit(vm, 3000)) {
        log_warn("vm %s: QEMU did not quit, killing pid %d", vm->def.name, (int)vm->pid);
        kill(vm->pid, SIGKILL);
        if (!wait_exit(vm, 5000))
            return nubo_err_set(err, NUBO_E_INTERNAL, "QEMU (pid %d) does not die", (int)vm->pid);
    }
    reap(vm);
    return 0;
}

static int qemu_reboot(struct vm *vm, struct nubo_err *err)
{
    return monitor_cmd(vm, "system_reset", err);
}

static int qemu_pause(struct vm *vm, struct nubo_err *err)
{
    if (monitor_cmd(vm, "stop", err) < 0)
        return -1;
    vm_set_state(vm, VM_PAUSED, "paused by request");
    return 0;
}

static int qemu_resume(struct vm *vm, struct nubo_err *err)
{

    if (monitor_cmd(vm, "cont", err) < 0)
        return -1;
    vm_set_state(vm, VM_RUNNING, "resumed by request");
    return 0;
}

/* True when /proc/<pid>/cmdline is a QEMU started for this VM (guards
 * against a recycled pid). */
static int pid_is_ours(pid_t pid, const char *vm_id)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    size_t len = 0;
    char *c = fs_read_file(path, 1 << 20, &len, NULL);
    if (c == NULL)
        return 0;
    int found = 0;
    for (size_t i = 0; i < len; i += strlen(c + i) + 1)
        if (strcmp(c + i, vm_id) == 0)
            found = 1;
    free(c);
    return found;
}

static int qemu_adopt(struct vm *vm, struct nubo_err *err)
{
    struct qemu_vm *q = qv(vm);
    enum vm_state was = vm->state;
    if (vm->pid <= 0 || !pid_is_ours(vm->pid, vm->def.id)) {
        cleanup_process(vm);
        if (was == VM_STOPPING)
            vm_set_state(vm, VM_STOPPED, "powered off while nubo-hostd was not running");
        else
            vm_set_state(vm, VM_CRASHED, "QEMU ended while nubo-hostd was not running");
        return 0;
    }
    q->is_child = 0;
    q->pidfd = pidfd_open_(vm->pid);
    q->qmp = connect_monitor(vm, 3000, err);
    json_t *st = q->qmp ? qmp_command(q->qmp, "query-status", NULL, cfg.qmp_timeout_ms, err) : NULL;
    if (st == NULL) {
        log_warn("vm %s: cannot re-attach to QEMU pid %d: %s; forcing it off", vm->def.name,
                 (int)vm->pid, err->msg);
        kill(vm->pid, SIGKILL);
        wait_exit(vm, 5000);
        cleanup_process(vm);
        vm_set_state(vm, VM_CRASHED, "QEMU's monitor stopped answering; forced off");
        return 0;
    }
    enum vm_state now = qemu_status_to_state(json_string_value(json_object_get(st, "status")));
    json_decref(st);
    if (was == VM_STOPPING && now != VM_PAUSED)
        now = VM_STOPPING;
    vm_set_state(vm, now, "re-adopted after nubo-hostd restart");
    return 0;
}

static int qemu_pollfds(struct vm *vm, struct pollfd *fds, int max)
{
    struct qemu_vm *q = vm->drv;
    int n = 0;
    if (q == NULL)
        return 0;
    if (q->pidfd >= 0 && n < max)
        fds[n++] = (struct pollfd){.fd = q->pidfd, .events = POLLIN};
    if (q->qmp && n < max)
        fds[n++] = (struct pollfd){.fd = qmp_fd(q->qmp), .events = POLLIN};
    return n;
}

static void qemu_handle(struct vm *vm, const struct pollfd *fds, int n)
{
    struct qemu_vm *q = vm->drv;
    if (q == NULL)
        return;
    int exited = 0;
    for (int i = 0; i < n; i++) {
        if (fds[i].revents == 0)
            continue;
        if (fds[i].fd == q->pidfd) {
            exited = 1;
        } else if (q->qmp && fds[i].fd == qmp_fd(q->qmp)) {
            struct nubo_err err;
            if (qmp_process(q->qmp, &err) < 0) {
                log_debug("vm %s: %s", vm->def.name, err.msg);
                qmp_free(q->qmp);
                q->qmp = NULL;
                /* Without a pidfd, a closed monitor is our only exit signal. */
                if (q->pidfd < 0)
                    exited = 1;
            }
        }
    }
    if (!exited && q->qmp && qmp_pending(q->qmp))
        qmp_process(q->qmp, NULL);
    if (exited)
        reap(vm);
}

static int qemu_pending(const struct vm *vm)
{
    const struct qemu_vm *q = vm->drv;
    return q && q->qmp && qmp_pending(q->qmp);
}

static void on_event(void *ctx, const char *event, json_t *data)
{
    struct vm *vm = ctx;
    struct qemu_vm *q = qv(vm);
    char *dump = data ? json_dumps(data, JSON_COMPACT) : NULL;
    log_debug("vm %s: QMP event %s %s", vm->def.name, event, dump ? dump : "");
    free(dump);
    if (strcmp(event, "SHUTDOWN") == 0) {
        const char *reason = json_string_value(json_object_get(data, "reason"));
        q->shutdown_seen = 1;
        str_copy(q->shutdown_reason, sizeof(q->shutdown_reason), reason ? reason : "shutdown");
        if (vm->state != VM_STOPPING)
            vm_set_state(vm, VM_STOPPING, "guest is powering off (%s)", q->shutdown_reason);
    } else if (strcmp(event, "STOP") == 0) {
        if (!q->shutdown_seen && vm->state == VM_RUNNING)
            vm_set_state(vm, VM_PAUSED, "paused by QEMU");
    } else if (strcmp(event, "RESUME") == 0) {
        if (vm->state == VM_PAUSED)
            vm_set_state(vm, VM_RUNNING, "resumed");
    } else if (strcmp(event, "RESET") == 0) {
        int64_t now = clock_mono_ms();
        int by_guest = json_is_true(json_object_get(data, "guest"));
        if (!by_guest || now - q->last_reset_ms >= BOOT_RESET_WINDOW_MS) {
            vm->boots++;
            vm->console_boot_offset = console_size(vm);
            vm_set_state(vm, vm->state, "%s (boot %d)",
                         by_guest ? "guest rebooted" : "reset by request", vm->boots);
            q->last_reset_ms = now;
        }
    } else if (strcmp(event, "MIGRATION") == 0) {
        const char *st = json_string_value(json_object_get(data, "status"));
        int in = strcmp(vm->migration_role, "incoming") == 0;
        if (st && strcmp(st, "completed") == 0 && in) {
            vm->migration_role[0] = '\0';
            vm_set_state(vm, VM_RUNNING, "running after an incoming migration");
        } else if (st && strcmp(st, "completed") == 0 && vm->migration_role[0]) {
            vm_set_state(vm, VM_PAUSED, "migrated to %s: it runs there now", vm->migration_uri);
        } else if (st && (strcmp(st, "failed") == 0 || strcmp(st, "cancelled") == 0) && !in) {
            vm_set_state(vm, vm->state, "migration %s; it goes on running here", st);
        }
    } else if (strcmp(event, "GUEST_PANICKED") == 0) {
        vm_set_state(vm, vm->state, "guest kernel panicked");
    }
}

static void qemu_stats(struct vm *vm, json_t *obj)
{
    uint64_t cpu_ns, mem;
    if (vm->pid > 0 && cgroup_pid_stats(&cfg.cgroups, vm->pid, &cpu_ns, &mem) == 0) {
        json_object_set_new(obj, "cpu_time_ns", json_integer((json_int_t)cpu_ns));
        json_object_set_new(obj, "memory_bytes", json_integer((json_int_t)mem));
    }
    char path[PATH_MAX];
    long long root = fs_allocated_bytes(vm_path(vm, "root.qcow2", path, sizeof(path)));
    if (root >= 0)
        json_object_set_new(obj, "root_disk_allocated_bytes", json_integer(root));
}

/* CPU time and resident memory of pid from /proc, for VMs without a
 * cgroup.  Returns 0 or -1. */
static int proc_pid_stats(pid_t pid, uint64_t *cpu_ns, uint64_t *mem_bytes)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    char *st = fs_read_file(path, 4096, NULL, NULL);
    if (st == NULL)
        return -1;
    /* After the command (in parentheses, which may hold spaces and ')')
     * come state (field 3), ppid (4)... utime (14), stime (15), rss (24):
     * f[k] is field k + 3. */
    char *p = strrchr(st, ')');
    unsigned long long f[22] = {0};
    int n = 1;
    if (p && p[1] == ' ') {
        p += 2;
        p += strcspn(p, " "); /* the state letter */
        while (n < 22 && *p == ' ') {
            char *end;
            errno = 0;
            f[n] = strtoull(p + 1, &end, 10);
            if (end == p + 1 || errno != 0)
                break;
            p = end;
            n++;
        }
    }
    free(st);
    if (n < 22)
        return -1;
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    if (tick <= 0 || page <= 0)
        return -1;
    *cpu_ns = (f[11] + f[12]) * (1000000000ULL / (unsigned long long)tick);
    *mem_bytes = f[21] * (unsigned long long)page;
    return 0;
}

/* Sums the counters of every block device of the VM (QMP query-blockstats;
 * the config drive's reads count too). */
static int block_counters(struct qemu_vm *q, struct vm_counters *c)
{
    if (q == NULL || q->qmp == NULL)
        return -1;
    struct nubo_err err;
    json_t *r = qmp_command(q->qmp, "query-blockstats", NULL, QEMU_SAMPLE_TIMEOUT_MS, &err);
    if (!json_is_array(r)) {
        json_decref(r);
        return -1;
    }
    size_t i;
    json_t *dev;
    json_array_foreach (r, i, dev) {
        json_t *s = json_object_get(dev, "stats");
        c->disk_read_bytes += (uint64_t)json_integer_value(json_object_get(s, "rd_bytes"));
        c->disk_write_bytes += (uint64_t)json_integer_value(json_object_get(s, "wr_bytes"));
        c->disk_read_ops += (uint64_t)json_integer_value(json_object_get(s, "rd_operations"));
        c->disk_write_ops += (uint64_t)json_integer_value(json_object_get(s, "wr_operations"));
    }
    json_decref(r);
    return 0;
}

/* Network counters: QEMU's user-mode network (the only kind today) has no
 * counters QMP can report (query-rx-filter has none; there is no
 * query-netdev-stats), so has_net stays false.  With tap devices the
 * counters will come from /sys/class/net/<tap>/statistics (rx there is
 * what the guest sent). */
static void qemu_sample(struct vm *vm, struct vm_counters *c)
{
    if (vm->pid <= 0)
        return;
    /* straight into c: GCC 12 at -O3 takes locals passed to both calls
     * for dangling pointers (-Wdangling-pointer false positive) */
    if (cgroup_pid_stats(&cfg.cgroups, vm->pid, &c->cpu_ns, &c->memory_bytes) == 0 ||
        proc_pid_stats(vm->pid, &c->cpu_ns, &c->memory_bytes) == 0)
        c->has_cpu = c->has_memory = true;
    c->has_disk = block_counters(vm->drv, c) == 0;
}

static void qemu_release(struct vm *vm)
{
    struct qemu_vm *q = vm->drv;
    if (q == NULL)
        return;
    qmp_free(q->qmp);
    if (q->pidfd >= 0)
        close(q->pidfd);
    free(q);
    vm->drv = NULL;
}

static int qemu_remove(struct vm *vm, struct nubo_err *err)
{
    cleanup_process(vm);
    return fs_rm_rf(vm->dir, err);
}

/* The first word after "version " in `qemu --version`, or "" when it
 * does not run. */
static void read_version(const char *binary, char *out, size_t n)
{
    char *argv[] = {(char *)binary, "--version", NULL};
    char *text = NULL;
    struct nubo_err err;
    out[0] = '\0';
    if (spawn_run(argv, 10000, 4096, &text, &err) == 0) {
        const char *v = strstr(text, "version ");
        if (v) {
            v += 8;
            snprintf(out, n, "%.*s", (int)strcspn(v, " \n"), v);
        }
    } else {
        log_warn("cannot run %s: %s", binary, err.msg);
    }
    free(text);
}

/* Checks that QEMU runs, decides the acceleration (probing KVM unless TCG
 * is asked for) and finds the cgroup hierarchy. */
static int qemu_init(const struct hv_setup *setup, struct hv_info *info, struct nubo_err *err)
{
    read_version(setup->binary, info->version, sizeof(info->version));
    if (info->version[0] == '\0')
        return nubo_err_set(err, NUBO_E_UNAVAILABLE,
                            "%s does not run; install qemu-system-x86 (scripts/deps.sh does)",
                            setup->binary);
    struct accel_probe probe;
    if (setup->accel == ACCEL_TCG)
        memset(&probe, 0, sizeof(probe));
    else
        accel_probe_run(&probe);
    int a = accel_decide(setup->accel, &probe, info->accel_reason, sizeof(info->accel_reason), err);
    if (a < 0)
        return -1;
    info->accel = (enum accel)a;
    log_info("acceleration: %s", info->accel_reason);

    struct qemu_cfg qc = {.accel = info->accel};
    str_copy(qc.binary, sizeof(qc.binary), setup->binary);
    str_copy(qc.netns, sizeof(qc.netns), setup->netns);
    str_copy(qc.images_dir, sizeof(qc.images_dir), setup->images_dir);
    info->cgroup_version = cgroup_init(&qc.cgroups);
    qemu_driver_init(&qc);
    return 0;
}

/* ------------------------------------------------------------ hot-plug */

/* The lowest root port (vhp<N>, qemu_build_argv) that none of the VM's
 * volumes sits on, asking QEMU where each is (its parent_bus
 * "/machine/peripheral/vhp<N>/vhp<N>.0"); -1 when all are taken. */
static int free_port(struct qemu_vm *q, const struct vm *vm)
{
    bool used[VM_MAX_VOLUMES] = {false};
    for (int i = 0; i < vm->def.nvolumes; i++) {
        char path[64];
        struct nubo_err ignored;
        snprintf(path, sizeof(path), "/machine/peripheral/vold-%.20s", vm->def.volumes[i]);
        json_t *r = qmp_command(q->qmp, "qom-get",
                                json_pack("{s:s, s:s}", "path", path, "property", "parent_bus"),
                                cfg.qmp_timeout_ms, &ignored);
        const char *bus = json_string_value(r);
        const char *at = bus ? strstr(bus, "/vhp") : NULL;
        int n =
            at && at[4] >= '0' && at[4] <= '9' && (at[5] < '0' || at[5] > '9') ? at[4] - '0' : -1;
        if (n >= 0 && n < VM_MAX_VOLUMES)
            used[n] = true;
        json_decref(r);
    }
    for (int i = 0; i < VM_MAX_VOLUMES; i++)
        if (!used[i])
            return i;
    return -1;
}

/* Hot-plug: the qcow2 node and the virtio-blk device, named as in the
 * command line (qemu_build_argv).  A device_add that fails takes its
 * node back out. */
static int qemu_volume_attach(struct vm *vm, const char *id, const char *path, struct nubo_err *err)
{
    struct qemu_vm *q = qv(vm);
    char node[32], dev[32], serial[VOLUME_SERIAL_LEN + 1];
    if (q->qmp == NULL)
        return nubo_err_set(err, NUBO_E_CONFLICT, "the VM's monitor is not connected");
    snprintf(node, sizeof(node), "vol-%.20s", id);
    snprintf(dev, sizeof(dev), "vold-%.20s", id);
    snprintf(serial, sizeof(serial), "%.20s", id);
    json_t *r = qmp_command(q->qmp, "blockdev-add",
                            json_pack("{s:s, s:s, s:{s:s, s:s}}", "driver", "qcow2", "node-name",
                                      node, "file", "driver", "file", "filename", path),
                            cfg.qmp_timeout_ms, err);
    if (r == NULL)
        return -1;
    json_decref(r);
    int port = free_port(q, vm);
    if (port < 0) {
        nubo_err_set(err, NUBO_E_CONFLICT, "VM %s has no free hot-plug port", vm->def.name);
        r = NULL;
    } else {
        char bus[16];
        snprintf(bus, sizeof(bus), "vhp%d", port);
        r = qmp_command(q->qmp, "device_add",
                        json_pack("{s:s, s:s, s:s, s:s, s:s}", "driver", "virtio-blk-pci", "drive",
                                  node, "id", dev, "serial", serial, "bus", bus),
                        cfg.qmp_timeout_ms, err);
    }
    if (r == NULL) {
        struct nubo_err ignored;
        json_decref(qmp_command(q->qmp, "blockdev-del", json_pack("{s:s}", "node-name", node),
                                cfg.qmp_timeout_ms, &ignored));
        return -1;
    }
    json_decref(r);
    return 0;
}

/* Online growth: block_resize of the volume's node; virtio-blk tells
 * the guest its new capacity. */
static int qemu_volume_grow(struct vm *vm, const char *id, uint64_t bytes, struct nubo_err *err)
{
    struct qemu_vm *q = qv(vm);
    char node[32];
    if (q->qmp == NULL)
        return nubo_err_set(err, NUBO_E_CONFLICT, "the VM's monitor is not connected");
    snprintf(node, sizeof(node), "vol-%.20s", id);
    json_t *r = qmp_command(q->qmp, "block_resize",
                            json_pack("{s:s, s:I}", "node-name", node, "size", (json_int_t)bytes),
                            cfg.qmp_timeout_ms, err);
    if (r == NULL)
        return -1;
    json_decref(r);
    return 0;
}

/* How long a guest has to release an unplugged disk. */
#define VOLUME_UNPLUG_MS 10000

/* True while QEMU still has the device dev (qom-list of the user's
 * devices); -1 when QEMU cannot tell. */
static int device_present(struct qemu_vm *q, const char *dev, struct nubo_err *err)
{
    json_t *r = qmp_command(q->qmp, "qom-list", json_pack("{s:s}", "path", "/machine/peripheral"),
                            cfg.qmp_timeout_ms, err);
    if (r == NULL)
        return -1;
    int found = 0;
    size_t i;
    json_t *p;
    json_array_foreach (r, i, p) {
        const char *name = json_string_value(json_object_get(p, "name"));
        found = found || (name && strcmp(name, dev) == 0);
    }
    json_decref(r);
    return found;
}

/* Unplug: device_del asks the guest (ACPI hot-plug); the device is gone
 * when QEMU no longer lists it (its DEVICE_DELETED event), then the node
 * goes.  A device already gone, or already being unplugged (a retry after
 * a timeout), is fine. */
static int qemu_volume_detach(struct vm *vm, const char *id, struct nubo_err *err)
{
    struct qemu_vm *q = qv(vm);
    char node[32], dev[32];
    if (q->qmp == NULL)
        return nubo_err_set(err, NUBO_E_CONFLICT, "the VM's monitor is not connected");
    snprintf(node, sizeof(node), "vol-%.20s", id);
    snprintf(dev, sizeof(dev), "vold-%.20s", id);
    int present = device_present(q, dev, err);
    if (present < 0)
        return -1;
    if (present) {
        struct nubo_err derr;
        json_t *r = qmp_command(q->qmp, "device_del", json_pack("{s:s}", "id", dev),
                                cfg.qmp_timeout_ms, &derr);
        if (r == NULL)
            log_debug("vm %s: device_del %s: %s (waiting for the guest anyway)", vm->def.name, dev,
                      derr.msg);
        json_decref(r);
        int64_t deadline = clock_mono_ms() + VOLUME_UNPLUG_MS;
        while ((present = device_present(q, dev, err)) == 1 && clock_mono_ms() < deadline) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (present < 0)
            return -1;
        if (present)
            return nubo_err_set(err, NUBO_E_TIMEOUT,
                                "the guest did not release the volume within %d s (is it "
                                "mounted or in use?); unmount it in the guest and detach again, "
                                "or stop the VM",
                                VOLUME_UNPLUG_MS / 1000);
    }
    struct nubo_err berr;
    json_t *r = qmp_command(q->qmp, "blockdev-del", json_pack("{s:s}", "node-name", node),
                            cfg.qmp_timeout_ms, &berr);
    if (r == NULL)
        log_debug("vm %s: blockdev-del %s: %s", vm->def.name, node, berr.msg);
    json_decref(r);
    return 0;
}

/* ----------------------------------------------------------- migration */

/* Live migration (docs/internals/mobility.md).  QEMU 7.2's own block
 * migration carries the disks in the migration stream: with
 * block-incremental only each disk's top qcow2 layer travels, the base
 * image being on both hosts already.  The destination was started with
 * "-incoming defer" and runs the guest by itself when the stream ends
 * (QEMU's autostart), announcing its MACs (announce-rounds, on by
 * default) so that switches and bridges relearn where the guest is. */

static int qmp_do(struct qemu_vm *q, const char *cmd, json_t *args, struct nubo_err *err)
{
    if (q->qmp == NULL) {
        json_decref(args);
        return nubo_err_set(err, NUBO_E_CONFLICT, "the VM's monitor is not connected");
    }
    json_t *r = qmp_command(q->qmp, cmd, args, cfg.qmp_timeout_ms, err);
    if (r == NULL)
        return -1;
    json_decref(r);
    return 0;
}

static int qemu_migrate_incoming(struct vm *vm, const char *listen_addr, struct nubo_err *err)
{
    struct qemu_vm *q = qv(vm);
    q->incoming = 1;
    int rc = qemu_start(vm, err);
    q->incoming = 0;
    if (rc < 0)
        return -1;
    char uri[96];
    snprintf(uri, sizeof(uri), "tcp:%s:0", listen_addr);
    json_t *r = NULL;
    json_t *caps =
        json_pack("{s:[{s:s, s:b}]}", "capabilities", "capability", "events", "state", 1);
    if (qmp_do(q, "migrate-set-capabilities", caps, err) < 0 ||
        qmp_do(q, "migrate-incoming", json_pack("{s:s}", "uri", uri), err) < 0 ||
        (r = qmp_command(q->qmp, "query-migrate", NULL, cfg.qmp_timeout_ms, err)) == NULL)
        goto fail;
    const char *port = json_string_value(
        json_object_get(json_array_get(json_object_get(r, "socket-address"), 0), "port"));
    if (port == NULL) {
        nubo_err_set(err, NUBO_E_UNAVAILABLE, "QEMU did not say where it listens for the stream");
        goto fail;
    }
    str_copy(vm->migration_role, sizeof(vm->migration_role), "incoming");
    snprintf(vm->migration_uri, sizeof(vm->migration_uri), "tcp:%s:%s", listen_addr, port);
    json_decref(r);
    vm_set_state(vm, VM_RUNNING, "waiting for an incoming migration on %s", vm->migration_uri);
    return 0;
fail:
    json_decref(r);
    struct nubo_err ignored;
    qemu_destroy(vm, &ignored);
    return -1;
}

static int qemu_migrate_out(struct vm *vm, const char *uri, int downtime_ms, struct nubo_err *err)
{
    struct qemu_vm *q = qv(vm);
    json_t *caps = json_pack("{s:[{s:s, s:b}, {s:s, s:b}, {s:s, s:b}]}", "capabilities",
                             "capability", "block", "state", 1, "capability", "auto-converge",
                             "state", 1, "capability", "events", "state", 1);
    if (qmp_do(q, "migrate-set-capabilities", caps, err) < 0 ||
        qmp_do(q, "migrate-set-parameters",
               json_pack("{s:I, s:b, s:I}", "downtime-limit", (json_int_t)downtime_ms,
                         "block-incremental", 1, "max-bandwidth", (json_int_t)1 << 30),
               err) < 0 ||
        qmp_do(q, "migrate", json_pack("{s:s}", "uri", uri), err) < 0)
        return -1;
    str_copy(vm->migration_role, sizeof(vm->migration_role), "outgoing");
    str_copy(vm->migration_uri, sizeof(vm->migration_uri), uri);
    vm_set_state(vm, vm->state, "migrating to %s", uri);
    return 0;
}

static void copy_int(json_t *to, const char *key, const json_t *from, const char *fkey)
{
    json_t *v = json_object_get(from, fkey);
    if (json_is_integer(v))
        json_object_set_new(to, key, json_integer(json_integer_value(v)));
}

static int qemu_migrate_query(struct vm *vm, json_t *out, struct nubo_err *err)
{
    struct qemu_vm *q = qv(vm);
    if (q->qmp == NULL) {
        json_object_set_new(out, "status", json_string("none"));
        return 0;
    }
    json_t *r = qmp_command(q->qmp, "query-migrate", NULL, cfg.qmp_timeout_ms, err);
    if (r == NULL)
        return -1;
    const char *st = json_string_value(json_object_get(r, "status"));
    json_object_set_new(out, "status", json_string(st ? st : "none"));
    copy_int(out, "total_time_ms", r, "total-time");
    copy_int(out, "downtime_ms", r, "downtime");
    copy_int(out, "expected_downtime_ms", r, "expected-downtime");
    copy_int(out, "cpu_throttle_percent", r, "cpu-throttle-percentage");
    json_t *ram = json_object_get(r, "ram");
    if (ram) {
        json_t *o = json_object();
        copy_int(o, "transferred_bytes", ram, "transferred");
        copy_int(o, "remaining_bytes", ram, "remaining");
        copy_int(o, "total_bytes", ram, "total");
        copy_int(o, "dirty_pages_rate", ram, "dirty-pages-rate");
        copy_int(o, "dirty_sync_count", ram, "dirty-sync-count");
        json_object_set_new(out, "ram", o);
    }
    json_t *disk = json_object_get(r, "disk");
    if (disk) {
        json_t *o = json_object();
        copy_int(o, "transferred_bytes", disk, "transferred");
        copy_int(o, "remaining_bytes", disk, "remaining");
        copy_int(o, "total_bytes", disk, "total");
        json_object_set_new(out, "disk", o);
    }
    const char *why = json_string_value(json_object_get(r, "error-desc"));
    if (why)
        json_object_set_new(out, "error", json_string(why));
    json_decref(r);
    return 0;
}

static int qemu_migrate_cancel(struct vm *vm, struct nubo_err *err)
{
    return qmp_do(qv(vm), "migrate_cancel", NULL, err);
}

/* ------------------------------------------- cold migration and resize */

/* A port to try for an export: one of 20000..32767, below Linux's
 * ephemeral range (so no outgoing connection holds it), at random.  The
 * agent cannot ask the kernel for a free one: with --netns the underlay
 * address exists only in that namespace, where qemu-nbd runs. */
static int export_port_pick(void)
{
    unsigned int r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = (unsigned int)time(NULL) ^ (unsigned int)getpid();
    return 20000 + (int)(r % 12768u);
}

/* argv run in the agent's host-networking namespace when it has one
 * (--netns: the underlay address lives there), as QEMU is; ns_argv has
 * room for argv and 4 more.  Returns ns_argv or argv. */
static char *const *in_netns(char *const argv[], char **ns_argv, size_t n)
{
    if (!cfg.netns[0])
        return argv;
    size_t i = 0, k = 0;
    ns_argv[k++] = "ip";
    ns_argv[k++] = "netns";
    ns_argv[k++] = "exec";
    ns_argv[k++] = cfg.netns;
    while (argv[i] && k + 1 < n)
        ns_argv[k++] = argv[i++];
    ns_argv[k] = NULL;
    return ns_argv;
}

/* The pid in the VM's export.pid when that process lives, else 0. */
static pid_t export_pid(struct vm *vm)
{
    char path[PATH_MAX], buf[32] = "";
    FILE *f = fopen(vm_path(vm, "export.pid", path, sizeof(path)), "re");
    if (f == NULL)
        return 0;
    if (fgets(buf, sizeof(buf), f) == NULL)
        buf[0] = '\0';
    fclose(f);
    long pid = strtol(buf, NULL, 10);
    return pid > 1 && kill((pid_t)pid, 0) == 0 ? (pid_t)pid : 0;
}

/* qemu-nbd serves the root disk (its whole chain, as the guest sees it)
 * read-only on addr; --fork returns once it listens. */
static int qemu_disk_export(struct vm *vm, const char *addr, char *uri, size_t uri_n,
                            struct nubo_err *err)
{
    char pidf[PATH_MAX], root[PATH_MAX], urif[PATH_MAX], bind[64], port_s[16];
    vm_path(vm, "export.uri", urif, sizeof(urif));
    if (export_pid(vm) > 0) {
        FILE *f = fopen(urif, "re");
        int ok = f && fgets(uri, (int)uri_n, f) != NULL;
        if (f)
            fclose(f);
        if (ok)
            return 0;
    }
    snprintf(bind, sizeof(bind), "--bind=%s", addr);
    char pidopt[PATH_MAX + 16];
    snprintf(pidopt, sizeof(pidopt), "--pid-file=%s",
             vm_path(vm, "export.pid", pidf, sizeof(pidf)));
    vm_path(vm, "root.qcow2", root, sizeof(root));
    /* A port taken already makes qemu-nbd fail before it forks: another. */
    for (int tries = 0;; tries++) {
        int port = export_port_pick();
        snprintf(port_s, sizeof(port_s), "--port=%d", port);
        char *argv[] = {
            "qemu-nbd",       "--fork", pidopt, "--read-only",        "--persistent", "--shared=4",
            "--format=qcow2", bind,     port_s, "--export-name=nubo", root,           NULL};
        char *ns_argv[ARRAY_LEN(argv) + 4];
        if (spawn_run(in_netns(argv, ns_argv, ARRAY_LEN(ns_argv)), 30000, 1 << 16, NULL, err) ==
            0) {
            snprintf(uri, uri_n, "nbd://%s:%d/nubo", addr, port);
            return 0;
        }
        if (tries == 7)
            return -1;
        log_debug("vm %s: qemu-nbd on port %d: %s; another port", vm->def.name, port, err->msg);
    }
}

static int qemu_disk_export_stop(struct vm *vm, struct nubo_err *err)
{
    (void)err;
    char pidf[PATH_MAX];
    pid_t pid = export_pid(vm);
    if (pid > 0) {
        kill(pid, SIGTERM);
        for (int i = 0; i < 50 && kill(pid, 0) == 0; i++)
            usleep(20000);
        if (kill(pid, 0) == 0)
            kill(pid, SIGKILL);
    }
    unlink(vm_path(vm, "export.pid", pidf, sizeof(pidf)));
    return 0;
}

/* The root disk: a qcow2 over this host's copy of the base image holding
 * what uri serves (qemu-img convert -B writes what differs from it),
 * grown to the definition's size, renamed into place once whole. */
static int qemu_disk_import(struct vm *vm, const char *uri, struct nubo_err *err)
{
    struct image img;
    char root[PATH_MAX], tmp[PATH_MAX + 8], size[32];
    if (strncmp(uri, "nbd://", 6) != 0)
        return nubo_err_set(err, NUBO_E_INVALID, "'disk_from' must be an nbd:// uri");
    if (image_resolve(cfg.images_dir, vm->def.image, &img, err) < 0)
        return -1;
    vm_path(vm, "root.qcow2", root, sizeof(root));
    if (fs_exists(root))
        return 0;
    snprintf(tmp, sizeof(tmp), "%s.tmp", root);
    unlink(tmp);
    char *conv[] = {"qemu-img", "convert", "-q", "-f",       "raw",       "-O", "qcow2",
                    "-B",       img.path,  "-F", img.format, (char *)uri, tmp,  NULL};
    char *ns_conv[ARRAY_LEN(conv) + 4];
    if (spawn_run(in_netns(conv, ns_conv, ARRAY_LEN(ns_conv)), 600000, 1 << 16, NULL, err) < 0) {
        unlink(tmp);
        return -1;
    }
    if (vm->def.root_size) {
        snprintf(size, sizeof(size), "%llu", (unsigned long long)vm->def.root_size);
        char *grow[] = {"qemu-img", "resize", "-q", "-f", "qcow2", tmp, size, NULL};
        if (spawn_run(grow, 30000, 1 << 16, NULL, err) < 0) {
            unlink(tmp);
            return -1;
        }
    }
    if (rename(tmp, root) < 0) {
        unlink(tmp);
        return nubo_err_set(err, NUBO_E_UNAVAILABLE, "cannot store the copied disk: %s",
                            strerror(errno));
    }
    return 0;
}

static int qemu_root_keep(struct vm *vm, struct nubo_err *err)
{
    char root[PATH_MAX], kept[PATH_MAX], tmp[PATH_MAX + 8];
    vm_path(vm, "root.qcow2", root, sizeof(root));
    vm_path(vm, "root.pre-resize.qcow2", kept, sizeof(kept));
    if (fs_exists(kept) || !fs_exists(root))
        return 0;
    snprintf(tmp, sizeof(tmp), "%s.tmp", kept);
    unlink(tmp);
    char *argv[] = {"cp", "--sparse=always", root, tmp, NULL};
    if (spawn_run(argv, 600000, 1 << 16, NULL, err) < 0) {
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, kept) < 0) {
        unlink(tmp);
        return nubo_err_set(err, NUBO_E_UNAVAILABLE, "cannot keep the root disk: %s",
                            strerror(errno));
    }
    return 0;
}

static int qemu_root_grow(struct vm *vm, uint64_t bytes, struct nubo_err *err)
{
    char root[PATH_MAX];
    vm_path(vm, "root.qcow2", root, sizeof(root));
    if (!fs_exists(root))
        return 0; /* made at the new size by the next prepare */
    return qemu_volume_resize(root, bytes, err);
}

static int qemu_root_restore(struct vm *vm, bool revert, struct nubo_err *err)
{
    char root[PATH_MAX], kept[PATH_MAX];
    vm_path(vm, "root.qcow2", root, sizeof(root));
    vm_path(vm, "root.pre-resize.qcow2", kept, sizeof(kept));
    if (!fs_exists(kept))
        return 0;
    if (revert ? rename(kept, root) : unlink(kept))
        return nubo_err_set(err, NUBO_E_UNAVAILABLE, "cannot %s the kept root disk: %s",
                            revert ? "restore" : "remove", strerror(errno));
    return 0;
}

const struct hv_driver qemu_driver = {
    .name = "qemu",
    .has_taps = true,
    .has_accel = true,
    .init = qemu_init,
    .prepare = qemu_prepare,
    .start = qemu_start,
    .shutdown = qemu_shutdown,
    .destroy = qemu_destroy,
    .reboot = qemu_reboot,
    .pause = qemu_pause,
    .resume = qemu_resume,
    .adopt = qemu_adopt,
    .pollfds = qemu_pollfds,
    .handle = qemu_handle,
    .pending = qemu_pending,
    .stats = qemu_stats,
    .sample = qemu_sample,
    .release = qemu_release,
    .remove = qemu_remove,
    .volume_create = qemu_volume_create,
    .volume_resize = qemu_volume_resize,
    .volume_attach = qemu_volume_attach,
    .volume_detach = qemu_volume_detach,
    .volume_grow = qemu_volume_grow,
    .volume_snapshot = qemu_volume_snapshot,
    .volume_copy = qemu_volume_copy,
    .migrate_incoming = qemu_migrate_incoming,
    .migrate_out = qemu_migrate_out,
    .migrate_query = qemu_migrate_query,
    .migrate_cancel = qemu_migrate_cancel,
    .disk_export = qemu_disk_export,
    .disk_export_stop = qemu_disk_export_stop,
    .disk_import = qemu_disk_import,
    .root_keep = qemu_root_keep,
    .root_grow = qemu_root_grow,
    .root_restore = qemu_root_restore,
};
