/*
 * test_qemu_argv.c - unit tests of QEMU's command line as built by
 * src/host/vm/qemu.c (qemu_build_argv, qemu_escape_opt, strv) and of the
 * query-status mapping.  The VM and image are filled by hand: no files.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "host/vm/vm_int.h"
#include "lib/util.h"

#define VM_ID "0f8fad5b-d9cb-469f-a165-70867728950e"
#define VM_DIR "/var/lib/nubo/vms/" VM_ID

struct fixture {
    struct qemu_cfg cfg;
    struct vm *vm;
    struct image img;
    int qmp_fd; /* -1: QEMU creates <dir>/qmp.sock itself */
    struct strv argv;
};

static void fixture_init(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    str_copy(f->cfg.binary, sizeof(f->cfg.binary), "qemu-system-x86_64");
    str_copy(f->cfg.images_dir, sizeof(f->cfg.images_dir), "/var/lib/nubo/images");
    f->cfg.accel = ACCEL_TCG;
    f->qmp_fd = -1;
    f->vm = xcalloc(1, sizeof(*f->vm));
    struct vm_def *d = &f->vm->def;
    str_copy(d->id, sizeof(d->id), VM_ID);
    str_copy(d->name, sizeof(d->name), "web-1");
    str_copy(d->hostname, sizeof(d->hostname), "web-1");
    d->vcpus = 2;
    d->memory_mib = 512;
    str_copy(d->image, sizeof(d->image), "nubo-tiny");
    str_copy(d->network, sizeof(d->network), "none");
    str_copy(d->mac, sizeof(d->mac), "52:54:00:12:34:56");
    str_copy(f->vm->dir, sizeof(f->vm->dir), VM_DIR);
    str_copy(f->img.name, sizeof(f->img.name), "nubo-tiny");
    str_copy(f->img.path, sizeof(f->img.path), "/var/lib/nubo/images/nubo-tiny.qcow2");
    str_copy(f->img.format, sizeof(f->img.format), "qcow2");
}

static void fixture_build(struct fixture *f)
{
    strv_free(&f->argv);
    qemu_build_argv(&f->cfg, f->vm, &f->img, f->qmp_fd, &f->argv);
}

static void fixture_free(struct fixture *f)
{
    strv_free(&f->argv);
    vm_free(f->vm);
    f->vm = NULL;
}

static void dump_argv(const struct strv *a)
{
    fprintf(stderr, "    argv:");
    for (int i = 0; i < a->n; i++)
        fprintf(stderr, " [%s]", a->v[i]);
    fprintf(stderr, "\n");
}

/* Number of times flag occurs as an element. */
static int count_flag(const struct strv *a, const char *flag)
{
    int n = 0;
    for (int i = 0; i < a->n; i++)
        n += strcmp(a->v[i], flag) == 0;
    return n;
}

/* The value after the k-th (from 0) occurrence of flag, or NULL. */
static const char *flag_value(const struct strv *a, const char *flag, int k)
{
    for (int i = 0; i + 1 < a->n; i++)
        if (strcmp(a->v[i], flag) == 0 && k-- == 0)
            return a->v[i + 1];
    return NULL;
}

/* True when flag is directly followed by value somewhere. */
static bool has_pair(const struct strv *a, const char *flag, const char *value)
{
    for (int i = 0; i + 1 < a->n; i++)
        if (strcmp(a->v[i], flag) == 0 && strcmp(a->v[i + 1], value) == 0)
            return true;
    return false;
}

#define CHECK_PAIR(a, flag, value)                                                                 \
    do {                                                                                           \
        if (!CHECK(has_pair((a), (flag), (value))))                                                \
            fprintf(stderr, "    missing: %s %s\n", (flag), (value));                              \
    } while (0)

/* Splits a QEMU option string the way QEMU does: ',' separates, ",,"
 * is a literal comma.  Returns the options as a JSON object key -> value
 * (a key without '=' maps to ""), or NULL when a key repeats. */
static json_t *parse_opts(const char *s)
{
    json_t *o = json_object();
    char item[8192];
    size_t n = 0;
    for (const char *p = s;; p++) {
        if (*p == ',' && p[1] == ',') {
            item[n++] = ',';
            p++;
            continue;
        }
        if (*p == ',' || *p == '\0') {
            item[n] = '\0';
            char *eq = strchr(item, '=');
            const char *val = "";
            if (eq) {
                *eq = '\0';
                val = eq + 1;
            }
            if (json_object_get(o, item)) {
                json_decref(o);
                return NULL;
            }
            json_object_set_new(o, item, json_string(val));
            n = 0;
            if (*p == '\0')
                break;
            continue;
        }
        if (n + 1 < sizeof(item))
            item[n++] = *p;
    }
    return o;
}

static const char *opt(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* -------------------------------------------------------------- tests */

static void test_argv_terminated(void)
{
    struct fixture f;
    fixture_init(&f);
    fixture_build(&f);
    if (!CHECK(f.argv.n > 10) || !CHECK(f.argv.v != NULL))
        goto out;
    CHECK(f.argv.n < f.argv.alloc);
    CHECK(f.argv.v[f.argv.n] == NULL);
    for (int i = 0; i < f.argv.n; i++)
        CHECK(f.argv.v[i] != NULL);
    CHECK_STR_EQ(f.argv.v[0], "qemu-system-x86_64");
    CHECK(count_flag(&f.argv, "-nodefaults") == 1);
    CHECK(count_flag(&f.argv, "-no-user-config") == 1);
    CHECK_PAIR(&f.argv, "-display", "none");
    CHECK_PAIR(&f.argv, "-machine", "q35");
    CHECK_PAIR(&f.argv, "-uuid", VM_ID);
    CHECK_PAIR(&f.argv, "-mon", "chardev=qmp,mode=control");
    CHECK_PAIR(&f.argv, "-serial", "chardev:console");
    CHECK_PAIR(&f.argv, "-pidfile", VM_DIR "/qemu.pid");
    CHECK_PAIR(&f.argv, "-chardev", "socket,id=qmp,path=" VM_DIR "/qmp.sock,server=on,wait=off");
    CHECK_PAIR(&f.argv, "-chardev", "file,id=console,path=" VM_DIR "/console.log,append=on");
    const char *sandbox = flag_value(&f.argv, "-sandbox", 0);
    CHECK_STR_HAS(sandbox, "on,");
    CHECK_STR_HAS(sandbox, "spawn=deny");
    CHECK_STR_HAS(sandbox, "elevateprivileges=deny");
out:
    fixture_free(&f);
}

static void test_argv_qmp_fd(void)
{
    struct fixture f;
    fixture_init(&f);
    f.qmp_fd = 7;
    fixture_build(&f);
    /* the inherited listening socket replaces the path */
    CHECK_PAIR(&f.argv, "-chardev", "socket,id=qmp,fd=7,server=on,wait=off");
    CHECK_PAIR(&f.argv, "-mon", "chardev=qmp,mode=control");
    for (int i = 0; i < f.argv.n; i++)
        CHECK(strstr(f.argv.v[i], "qmp.sock") == NULL);
    CHECK_INT_EQ(count_flag(&f.argv, "-chardev"), 2);
    fixture_free(&f);
}

static void test_argv_accel_tcg(void)
{
    struct fixture f;
    fixture_init(&f);
    f.cfg.accel = ACCEL_TCG;
    fixture_build(&f);
    CHECK_PAIR(&f.argv, "-accel", "tcg");
    CHECK_PAIR(&f.argv, "-cpu", "max");
    CHECK_INT_EQ(count_flag(&f.argv, "-accel"), 1);
    CHECK_INT_EQ(count_flag(&f.argv, "-cpu"), 1);
    CHECK_INT_EQ(count_flag(&f.argv, "kvm"), 0);
    CHECK_INT_EQ(count_flag(&f.argv, "host"), 0);
    fixture_free(&f);
}

static void test_argv_accel_kvm(void)
{
    struct fixture f;
    fixture_init(&f);
    f.cfg.accel = ACCEL_KVM;
    fixture_build(&f);
    CHECK_PAIR(&f.argv, "-accel", "kvm");
    CHECK_PAIR(&f.argv, "-cpu", "host");
    CHECK_INT_EQ(count_flag(&f.argv, "-accel"), 1);
    CHECK_INT_EQ(count_flag(&f.argv, "-cpu"), 1);
    CHECK_INT_EQ(count_flag(&f.argv, "tcg"), 0);
    CHECK_INT_EQ(count_flag(&f.argv, "max"), 0);
    fixture_free(&f);
}

static void test_argv_smp_memory(void)
{
    struct fixture f;
    fixture_init(&f);
    f.vm->def.vcpus = 4;
    f.vm->def.memory_mib = 2048;
    fixture_build(&f);
    CHECK_PAIR(&f.argv, "-smp", "4");
    CHECK_PAIR(&f.argv, "-m", "2048");
    CHECK_INT_EQ(count_flag(&f.argv, "-smp"), 1);
    CHECK_INT_EQ(count_flag(&f.argv, "-m"), 1);

    f.vm->def.vcpus = 64;
    f.vm->def.memory_mib = 1024 * 1024;
    fixture_build(&f);
    CHECK_PAIR(&f.argv, "-smp", "64");
    CHECK_PAIR(&f.argv, "-m", "1048576");
    fixture_free(&f);
}

static void test_argv_kernel_boot(void)
{
    struct fixture f;
    fixture_init(&f);
    /* disk boot: no direct kernel */
    fixture_build(&f);
    CHECK_INT_EQ(count_flag(&f.argv, "-kernel"), 0);
    CHECK_INT_EQ(count_flag(&f.argv, "-initrd"), 0);
    CHECK_INT_EQ(count_flag(&f.argv, "-append"), 0);

    str_copy(f.img.kernel, sizeof(f.img.kernel), "/var/lib/nubo/images/nubo-tiny.kernel");
    str_copy(f.img.initrd, sizeof(f.img.initrd), "/var/lib/nubo/images/nubo-tiny.initrd");
    str_copy(f.img.cmdline, sizeof(f.img.cmdline), "console=ttyS0 root=/dev/vda rw quiet");
    fixture_build(&f);
    CHECK_PAIR(&f.argv, "-kernel", "/var/lib/nubo/images/nubo-tiny.kernel");
    CHECK_PAIR(&f.argv, "-initrd", "/var/lib/nubo/images/nubo-tiny.initrd");
    /* the command line is one element, spaces and all */
    CHECK_PAIR(&f.argv, "-append", "console=ttyS0 root=/dev/vda rw quiet");
    CHECK_INT_EQ(count_flag(&f.argv, "-kernel"), 1);

    /* a kernel without initrd */
    f.img.initrd[0] = '\0';
    fixture_build(&f);
    CHECK_INT_EQ(count_flag(&f.argv, "-kernel"), 1);
    CHECK_INT_EQ(count_flag(&f.argv, "-initrd"), 0);
    CHECK_INT_EQ(count_flag(&f.argv, "-append"), 1);
    fixture_free(&f);
}

/* Attached volumes: a qcow2 node on the store's file and a virtio-blk
 * device with the id prefix as serial, on its own hot-plug root port, so
 * a later unplug works (q35's root bus has no hot-plug). */
static void test_argv_volumes(void)
{
    static const char vol[] = "5f0c4a2e-8a64-4b8e-9d61-0c7f4a1b2c3d";
    struct fixture f;
    fixture_init(&f);
    f.vm->def.nvolumes = 1;
    str_copy(f.vm->def.volumes[0], sizeof(f.vm->def.volumes[0]), vol);
    fixture_build(&f);
    if (!CHECK_INT_EQ(count_flag(&f.argv, "-blockdev"), 1)) {
        dump_argv(&f.argv);
        goto out;
    }
    json_t *b = parse_opts(flag_value(&f.argv, "-blockdev", 0));
    if (CHECK(b != NULL)) {
        CHECK_STR_EQ(opt(b, "driver"), "qcow2");
        CHECK_STR_EQ(opt(b, "node-name"), "vol-5f0c4a2e-8a64-4b8e-9");
        CHECK_STR_EQ(opt(b, "file.driver"), "file");
        CHECK_STR_EQ(opt(b, "file.filename"), VM_DIR "/../../volumes/"
                                                     "5f0c4a2e-8a64-4b8e-9d61-0c7f4a1b2c3d.qcow2");
    }
    json_decref(b);
    int ports = 0, disks = 0;
    for (int k = 0; k < count_flag(&f.argv, "-device"); k++) {
        json_t *d = parse_opts(flag_value(&f.argv, "-device", k));
        if (d && json_object_get(d, "pcie-root-port"))
            ports++;
        if (d && opt(d, "serial")) {
            disks++;
            CHECK_STR_EQ(opt(d, "serial"), "5f0c4a2e-8a64-4b8e-9");
            CHECK_STR_EQ(opt(d, "drive"), "vol-5f0c4a2e-8a64-4b8e-9");
            CHECK_STR_EQ(opt(d, "id"), "vold-5f0c4a2e-8a64-4b8e-9");
            CHECK_STR_EQ(opt(d, "bus"), "vhp0");
        }
        json_decref(d);
    }
    CHECK_INT_EQ(ports, VM_MAX_VOLUMES);
    CHECK_INT_EQ(disks, 1);
out:
    fixture_free(&f);
}

static void test_argv_drives(void)
{
    struct fixture f;
    fixture_init(&f);
    f.vm->def.ndisks = 2;
    f.vm->def.disks[0] = 1ULL << 30;
    f.vm->def.disks[1] = 10ULL << 30;
    fixture_build(&f);
    if (!CHECK_INT_EQ(count_flag(&f.argv, "-drive"), 4)) {
        dump_argv(&f.argv);
        goto out;
    }
    /* root, disk1, disk2, config, in order, each with its device */
    static const struct {
        const char *file, *id, *format;
    } want[] = {
        {VM_DIR "/root.qcow2", "root", "qcow2"},
        {VM_DIR "/disk-1.qcow2", "disk1", "qcow2"},
        {VM_DIR "/disk-2.qcow2", "disk2", "qcow2"},
        {VM_DIR "/config.iso", "config", "raw"},
    };
    for (int i = 0; i < 4; i++) {
        json_t *o = parse_opts(flag_value(&f.argv, "-drive", i));
        if (!CHECK(o != NULL))
            continue;
        CHECK_STR_EQ(opt(o, "file"), want[i].file);
        CHECK_STR_EQ(opt(o, "id"), want[i].id);
        CHECK_STR_EQ(opt(o, "format"), want[i].format);
        CHECK_STR_EQ(opt(o, "if"), "none");
        if (strcmp(want[i].id, "config") == 0)
            CHECK_STR_EQ(opt(o, "readonly"), "on");
        else
            CHECK(opt(o, "readonly") == NULL);
        json_decref(o);
        char dev[64];
        snprintf(dev, sizeof(dev), "drive=%s", want[i].id);
        bool found = false;
        for (int k = 0; k < count_flag(&f.argv, "-device"); k++) {
            json_t *d = parse_opts(flag_value(&f.argv, "-device", k));
            if (d && json_object_get(d, "virtio-blk-pci") &&
                strcmp(opt(d, "drive") ? opt(d, "drive") : "", want[i].id) == 0)
                found = true;
            json_decref(d);
        }
        if (!CHECK(found))
            fprintf(stderr, "    no -device virtio-blk-pci,%s\n", dev);
    }
    /* the root disk is the only one with a boot index */
    int with_bootindex = 0;
    for (int k = 0; k < count_flag(&f.argv, "-device"); k++) {
        json_t *d = parse_opts(flag_value(&f.argv, "-device", k));
        if (d && opt(d, "bootindex")) {
            with_bootindex++;
            CHECK_STR_EQ(opt(d, "drive"), "root");
        }
        json_decref(d);
    }
    CHECK_INT_EQ(with_bootindex, 1);

    /* no extra disks: root and config only */
    f.vm->def.ndisks = 0;
    fixture_build(&f);
    CHECK_INT_EQ(count_flag(&f.argv, "-drive"), 2);
    CHECK(strstr(flag_value(&f.argv, "-drive", 0), "root.qcow2") != NULL);
    CHECK(strstr(flag_value(&f.argv, "-drive", 1), "config.iso") != NULL);

    /* "config_drive": false: no config drive at all */
    f.vm->def.no_config_drive = true;
    fixture_build(&f);
    CHECK_INT_EQ(count_flag(&f.argv, "-drive"), 1);
    for (int i = 0; i < f.argv.n; i++)
        CHECK(strstr(f.argv.v[i], "config.iso") == NULL);
    f.vm->def.no_config_drive = false;

    /* the maximum */
    f.vm->def.ndisks = VM_MAX_DISKS;
    fixture_build(&f);
    CHECK_INT_EQ(count_flag(&f.argv, "-drive"), VM_MAX_DISKS + 2);
    char last[128];
    snprintf(last, sizeof(last), "/disk-%d.qcow2,", VM_MAX_DISKS);
    CHECK_STR_HAS(flag_value(&f.argv, "-drive", VM_MAX_DISKS), last);
out:
    fixture_free(&f);
}

static void test_argv_network_user(void)
{
    struct fixture f;
    fixture_init(&f);
    str_copy(f.vm->def.network, sizeof(f.vm->def.network), "user");
    str_copy(f.vm->def.hostname, sizeof(f.vm->def.hostname), "web-one");
    fixture_build(&f);
    CHECK_INT_EQ(count_flag(&f.argv, "-netdev"), 1);
    json_t *n = parse_opts(flag_value(&f.argv, "-netdev", 0));
    if (CHECK(n != NULL)) {
        CHECK(json_object_get(n, "user") != NULL);
        CHECK_STR_EQ(opt(n, "id"), "net0");
        CHECK_STR_EQ(opt(n, "restrict"), "on");
        CHECK_STR_EQ(opt(n, "hostname"), "web-one");
    }
    json_decref(n);
    CHECK_PAIR(&f.argv, "-device", "virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56");
    fixture_free(&f);
}

static void test_argv_network_none(void)
{
    struct fixture f;
    fixture_init(&f);
    fixture_build(&f);
    CHECK_INT_EQ(count_flag(&f.argv, "-netdev"), 0);
    CHECK_INT_EQ(count_flag(&f.argv, "-nic"), 0);
    CHECK_INT_EQ(count_flag(&f.argv, "-net"), 0);
    for (int i = 0; i < f.argv.n; i++) {
        CHECK(strstr(f.argv.v[i], "virtio-net") == NULL);
        CHECK(strstr(f.argv.v[i], "52:54:00:12:34:56") == NULL);
    }
    /* -nodefaults keeps QEMU from adding a NIC of its own */
    CHECK_INT_EQ(count_flag(&f.argv, "-nodefaults"), 1);
    fixture_free(&f);
}

static void test_argv_nics(void)
{
    struct fixture f;
    fixture_init(&f);
    struct vm_def *d = &f.vm->def;
    d->nnics = 2;
    str_copy(d->nics[0].tap, sizeof(d->nics[0].tap), "tp3f2a9c1b77e4");
    str_copy(d->nics[0].mac, sizeof(d->nics[0].mac), "fa:16:3e:00:00:01");
    str_copy(d->nics[1].tap, sizeof(d->nics[1].tap), "tp4f2a9c1b77e4");
    str_copy(d->nics[1].mac, sizeof(d->nics[1].mac), "fa:16:3e:00:00:02");
    fixture_build(&f);
    CHECK_INT_EQ(count_flag(&f.argv, "-netdev"), 2);
    json_t *n = parse_opts(flag_value(&f.argv, "-netdev", 1));
    if (CHECK(n != NULL)) {
        CHECK(json_object_get(n, "tap") != NULL);
        CHECK_STR_EQ(opt(n, "id"), "nic1");
        CHECK_STR_EQ(opt(n, "ifname"), "tp4f2a9c1b77e4");
        CHECK_STR_EQ(opt(n, "script"), "no");
        CHECK_STR_EQ(opt(n, "downscript"), "no");
    }
    json_decref(n);
    CHECK_PAIR(&f.argv, "-device", "virtio-net-pci,netdev=nic0,mac=fa:16:3e:00:00:01");
    CHECK_PAIR(&f.argv, "-device", "virtio-net-pci,netdev=nic1,mac=fa:16:3e:00:00:02");
    fixture_free(&f);
}

static void test_argv_comma_in_dir(void)
{
    struct fixture f;
    fixture_init(&f);
    /* a directory name that tries to smuggle drive options in */
    const char *dir = "/srv/a,b/x,readonly=off,file=/etc/shadow";
    str_copy(f.vm->dir, sizeof(f.vm->dir), dir);
    f.vm->def.ndisks = 1;
    f.vm->def.disks[0] = 1ULL << 30;
    fixture_build(&f);
    CHECK_PAIR(&f.argv, "-drive",
               "file=/srv/a,,b/x,,readonly=off,,file=/etc/shadow/root.qcow2,if=none,id=root,"
               "format=qcow2,cache=writeback,discard=unmap");
    char want[512];
    for (int i = 0; i < 3; i++) {
        static const char *const files[] = {"root.qcow2", "disk-1.qcow2", "config.iso"};
        json_t *o = parse_opts(flag_value(&f.argv, "-drive", i));
        if (!CHECK(o != NULL))
            continue;
        snprintf(want, sizeof(want), "%s/%s", dir, files[i]);
        CHECK_STR_EQ(opt(o, "file"), want);
        CHECK(i == 2 ? opt(o, "readonly") != NULL : opt(o, "readonly") == NULL);
        json_decref(o);
    }
    for (int i = 0; i < 2; i++) {
        json_t *o = parse_opts(flag_value(&f.argv, "-chardev", i));
        if (!CHECK(o != NULL))
            continue;
        snprintf(want, sizeof(want), "%s/%s", dir, i == 0 ? "qmp.sock" : "console.log");
        CHECK_STR_EQ(opt(o, "path"), want);
        json_decref(o);
    }
    /* -pidfile takes a plain path, not an option string: not doubled */
    snprintf(want, sizeof(want), "%s/qemu.pid", dir);
    CHECK_PAIR(&f.argv, "-pidfile", want);
    fixture_free(&f);
}

static void test_argv_no_shell_words(void)
{
    struct fixture f;
    fixture_init(&f);
    str_copy(f.vm->def.network, sizeof(f.vm->def.network), "user");
    fixture_build(&f);
    CHECK_PAIR(&f.argv, "-name", "guest=web-1,debug-threads=on");
    CHECK(has_pair(&f.argv, "-netdev", "user,id=net0,restrict=on,hostname=web-1"));
    for (int i = 0; i < f.argv.n; i++) {
        const char *s = f.argv.v[i];
        /* nothing was joined with spaces or quoted for a shell */
        if (!CHECK(s[0] != '\0' && strpbrk(s, " \t\n'\"") == NULL))
            fprintf(stderr, "    element %d: [%s]\n", i, s);
    }
    /* options alternate with their values: every element after a flag that
     * takes a value is a value, never another flag */
    static const char *const no_value[] = {"-nodefaults", "-no-user-config"};
    for (int i = 1; i < f.argv.n; i++) {
        bool flag = f.argv.v[i][0] == '-';
        if (!CHECK(flag))
            break;
        bool alone = false;
        for (size_t k = 0; k < sizeof(no_value) / sizeof(no_value[0]); k++)
            alone = alone || strcmp(f.argv.v[i], no_value[k]) == 0;
        if (alone)
            continue;
        if (!CHECK(i + 1 < f.argv.n))
            break;
        i++; /* the value */
    }
    fixture_free(&f);
}

static void test_escape_opt(void)
{
    char out[64];
    CHECK_INT_EQ(qemu_escape_opt("plain/path", out, sizeof(out)), 0);
    CHECK_STR_EQ(out, "plain/path");
    CHECK_INT_EQ(qemu_escape_opt("a,b", out, sizeof(out)), 0);
    CHECK_STR_EQ(out, "a,,b");
    CHECK_INT_EQ(qemu_escape_opt(",", out, sizeof(out)), 0);
    CHECK_STR_EQ(out, ",,");
    CHECK_INT_EQ(qemu_escape_opt(",,x,", out, sizeof(out)), 0);
    CHECK_STR_EQ(out, ",,,,x,,");
    CHECK_INT_EQ(qemu_escape_opt("", out, sizeof(out)), 0);
    CHECK_STR_EQ(out, "");
    /* exact fit: "a,,b" and its NUL in 5 bytes */
    CHECK_INT_EQ(qemu_escape_opt("a,b", out, 5), 0);
    CHECK_STR_EQ(out, "a,,b");
    CHECK_INT_EQ(qemu_escape_opt("a,b", out, 4), -1);
    CHECK_INT_EQ(qemu_escape_opt("abcd", out, 4), -1);
    CHECK_INT_EQ(qemu_escape_opt("abc", out, 4), 0);
    CHECK_STR_EQ(out, "abc");
    /* a comma that would fit only undoubled is refused, not cut in half */
    CHECK_INT_EQ(qemu_escape_opt("ab,", out, 4), -1);
    CHECK_INT_EQ(qemu_escape_opt("ab,", out, 5), 0);
    CHECK_STR_EQ(out, "ab,,");
}

static void test_status_to_state(void)
{
    static const struct {
        const char *status;
        enum vm_state want;
    } cases[] = {
        {"running", VM_RUNNING},       {"prelaunch", VM_RUNNING},      {"inmigrate", VM_RUNNING},
        {"postmigrate", VM_RUNNING},   {"finish-migrate", VM_RUNNING}, {"debug", VM_RUNNING},
        {"paused", VM_PAUSED},         {"suspended", VM_PAUSED},       {"io-error", VM_PAUSED},
        {"internal-error", VM_PAUSED}, {"guest-panicked", VM_PAUSED},  {"watchdog", VM_PAUSED},
        {"shutdown", VM_STOPPING},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (!CHECK_INT_EQ(qemu_status_to_state(cases[i].status), cases[i].want))
            fprintf(stderr, "    status \"%s\"\n", cases[i].status);
    }
}

static void test_strv(void)
{
    struct strv s = {0};
    strv_free(&s); /* empty is fine */
    CHECK(s.v == NULL);
    for (int i = 0; i < 100; i++) {
        strv_push(&s, "item-%d", i);
        CHECK(s.v[s.n] == NULL);
    }
    CHECK_INT_EQ(s.n, 100);
    CHECK_STR_EQ(s.v[0], "item-0");
    CHECK_STR_EQ(s.v[99], "item-99");
    strv_push(&s, "%s", "with space, and %d");
    CHECK_STR_EQ(s.v[100], "with space, and %d");
    strv_free(&s);
    CHECK(s.v == NULL);
    CHECK_INT_EQ(s.n, 0);
    CHECK_INT_EQ(s.alloc, 0);
    /* reusable after free */
    strv_push(&s, "again");
    CHECK_INT_EQ(s.n, 1);
    CHECK(s.v[1] == NULL);
    strv_free(&s);
}

CHECK_MAIN(TEST(test_argv_nics), TEST(test_argv_terminated), TEST(test_argv_qmp_fd),
           TEST(test_argv_accel_tcg), TEST(test_argv_accel_kvm), TEST(test_argv_smp_memory),
           TEST(test_argv_kernel_boot), TEST(test_argv_drives), TEST(test_argv_volumes),
           TEST(test_argv_network_user), TEST(test_argv_network_none), TEST(test_argv_comma_in_dir),
           TEST(test_argv_no_shell_words), TEST(test_escape_opt), TEST(test_status_to_state),
           TEST(test_strv))
