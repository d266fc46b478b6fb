/*
 * cmd_agent_vm.c - `nubo agent vm ...`: the life of a VM on this host, through
 * its host agent (no controller involved).
 *
 *   list                          GET /v1/vms
 *   create                        POST /v1/vms, then with --wait-ready watch_ready()
 *   show                          GET /v1/vms/{ref}
 *   start, reboot, pause, resume  POST /v1/vms/{ref}/{action}
 *   stop                          POST /v1/vms/{ref}/stop, then watch_state("stopped")
 *   delete                        DELETE /v1/vms/{ref} for each REF
 *   console                       GET /v1/vms/{ref}/console, see watch_console()
 *   wait                          watch_state() or watch_ready()
 *
 * Arguments are checked here before anything is sent (names, sizes,
 * counts, files) with the same rules the agent applies (lib/valid.h), so a
 * mistake is a usage error (exit 2) that names the flag; the agent checks
 * everything again.  Sizes are passed on as the user wrote them: the agent
 * reads them with the same function and default units.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd.h"
#include "cli/output.h"
#include "cli/watch.h"
#include "lib/fsutil.h"
#include "lib/util.h"
#include "lib/valid.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)
/* The agent's limits (src/host/vm.c), checked here for early messages. */
#define VM_VCPUS_MAX 64
#define VM_MEMORY_MIN (64 * MIB)
#define VM_MEMORY_MAX (1024 * 1024 * MIB)
#define VM_DISK_MIN MIB
#define VM_DISK_MAX (16ULL << 40)
#define VM_DISKS_MAX 8
#define VM_KEYS_MAX 8
#define KEY_FILE_MAX (16 * 1024)
#define USER_DATA_MAX (64 * 1024)
#define STOP_TIMEOUT_MAX 3600
#define CONSOLE_TAIL_MAX MIB /* the agent reads back at most 1 MiB from the end */

#define READY_TIMEOUT_S 120
#define WAIT_TIMEOUT_S 120
/* stop without --timeout: the agent's own deadline applies (30 s unless
 * configured otherwise); wait at most this long for it. */
#define STOP_WAIT_DEFAULT_S 600
#define STOP_WAIT_MARGIN_S 30

#define LIST_ID_CHARS 8
#define LIST_REASON_CHARS 40
#define TEXT_MAX 1024

/* ------------------------------------------------------------ help texts */

static const char vm_usage[] =
    "usage: nubo agent vm COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  list                          the VMs of this host\n"
    "  create NAME --image IMAGE     define a VM and (by default) start it\n"
    "  show REF                      one VM in detail, with live stats\n"
    "  start REF                     start a stopped or crashed VM\n"
    "  stop REF                      power off: ACPI power button, forced at a deadline\n"
    "  reboot REF                    hard reset of a running VM\n"
    "  pause REF, resume REF         freeze and thaw a running VM\n"
    "  delete REF...                 force VMs off and remove them with their disks\n"
    "  console REF                   the serial console log (--follow like tail -f)\n"
    "  wait REF --for STATE          wait until ready, running, stopped or crashed\n"
    "\n"
    "REF is a VM's name or id.  'nubo agent vm COMMAND --help' describes each command.\n"
    "\n" CLI_COMMON_HELP;

static const char list_usage[] =
    "usage: nubo agent vm list [-w|--wide] [-q|--quiet] [-o table|json]\n"
    "\n"
    "Lists the VMs of this host, oldest first.  Columns:\n"
    "  NAME, ID       the VM's name and id (its first 8 characters; --wide: all)\n"
    "  STATE          starting, running, paused, stopping, stopped or crashed\n"
    "  VCPUS, MEMORY  its size\n"
    "  IMAGE          the base image it was created from\n"
    "  NETWORK        none or user\n"
    "  SINCE          how long it has been in its state\n"
    "  REASON         why it is in that state (cut at 40 characters; --wide: all)\n"
    "\n"
    "  -w, --wide     full ids and reasons\n"
    "  -q, --quiet    only the names, one a line, whatever -o says\n"
    "                 (e.g. nubo agent vm delete $(nubo agent vm list -q))\n"
    "\n" CLI_COMMON_HELP;

static const char create_usage[] =
    "usage: nubo agent vm create NAME --image IMAGE [options]\n"
    "\n"
    "Defines a VM from a base image ('nubo agent image list') and starts it.  NAME:\n"
    "letters, digits, '.', '_' and '-', up to 63, unique on this host.\n"
    "\n"
    "  --image IMAGE          base image (required)\n"
    "  --vcpus N              virtual CPUs, 1 to 64 (default 1)\n"
    "  --memory SIZE          RAM, 64M to 1T (default 256M; a bare number is MiB)\n"
    "  --root-disk SIZE       root disk, at least the image's size (default: the\n"
    "                         image's size; a bare number is GiB)\n"
    "  --disk SIZE            an extra blank disk (a bare number is GiB); repeat\n"
    "                         for up to 8\n"
    "  --network none|user    none (default), or a NIC with DHCP through QEMU\n"
    "                         user-mode networking, with no route out\n"
    "  --hostname NAME        the guest's hostname (default: derived from NAME)\n"
    "  --ssh-key-file FILE    OpenSSH public keys for the guest, one a line (such\n"
    "                         as ~/.ssh/id_ed25519.pub); repeatable, 8 keys at most\n"
    "  --user-data-file FILE  a script the guest runs at boot if it starts with\n"
    "                         #!, at most 64 KiB\n"
    "  --no-start             define the VM but leave it stopped\n"
    "  --wait-ready           then wait until the guest prints NUBO-READY on its\n"
    "                         console (progress on stderr)\n"
    "  --timeout SEC          how long --wait-ready waits (default 120)\n"
    "\n"
    "SIZE is a number with an optional binary unit K, M, G or T: 512M, 2G.\n"
    "If the guest stops or crashes before it is ready, or the wait times out, the\n"
    "exit status is 1 and the VM is kept, to look at ('nubo agent vm console NAME').\n"
    "\n" CLI_COMMON_HELP;

static const char show_usage[] =
    "usage: nubo agent vm show REF [-o table|json]\n"
    "\n"
    "Shows one VM: its definition, state and the reason for it, and live stats\n"
    "(CPU time and memory of its QEMU process, space its root disk takes).\n"
    "\n" CLI_COMMON_HELP;

static const char start_usage[] =
    "usage: nubo agent vm start REF [--wait-ready [--timeout SEC]]\n"
    "\n"
    "Starts a stopped or crashed VM (a running or paused one is left as it is).\n"
    "\n"
    "  --wait-ready     then wait until the guest prints NUBO-READY on its console\n"
    "  --timeout SEC    how long --wait-ready waits (default 120)\n"
    "\n" CLI_COMMON_HELP;

static const char reboot_usage[] =
    "usage: nubo agent vm reboot REF [--wait-ready [--timeout SEC]]\n"
    "\n"
    "Resets a running VM at once, like its reset button (the guest is not asked\n"
    "to shut down first).\n"
    "\n"
    "  --wait-ready     then wait until the guest prints NUBO-READY again\n"
    "  --timeout SEC    how long --wait-ready waits (default 120)\n"
    "\n" CLI_COMMON_HELP;

static const char pause_usage[] = "usage: nubo agent vm pause REF\n"
                                  "\n"
                                  "Freezes a running VM's vCPUs; it keeps its memory.\n"
                                  "\n" CLI_COMMON_HELP;

static const char resume_usage[] = "usage: nubo agent vm resume REF\n"
                                   "\n"
                                   "Lets a paused VM run again.\n"
                                   "\n" CLI_COMMON_HELP;

static const char stop_usage[] =
    "usage: nubo agent vm stop REF [--force] [--timeout SEC] [--no-wait]\n"
    "\n"
    "Presses the VM's ACPI power button; the agent forces it off if the guest has\n"
    "not powered off when the deadline passes.  Waits until the VM is stopped,\n"
    "with progress on stderr.  A paused VM is forced off at once.\n"
    "\n"
    "  --force          force it off now (like pulling the plug)\n"
    "  --timeout SEC    the deadline, 0 to 3600 s (default: the agent's, 30 s\n"
    "                   unless configured otherwise; 0 is --force)\n"
    "  --no-wait        return once the power-down is requested\n"
    "\n" CLI_COMMON_HELP;

static const char delete_usage[] =
    "usage: nubo agent vm delete REF...\n"
    "\n"
    "Forces each VM off if it runs and removes it with its disks and console log.\n"
    "This cannot be undone.  Goes on with the next REF when one fails; the exit\n"
    "status is then 1.\n"
    "\n" CLI_COMMON_HELP;

static const char console_usage[] =
    "usage: nubo agent vm console REF [-f|--follow] [--tail SIZE]\n"
    "\n"
    "Prints the VM's serial console log as it is, bytes and all.  The log keeps\n"
    "every boot of the VM.  Output is raw text: -o json does not apply.\n"
    "\n"
    "  -f, --follow    keep printing new output, like tail -f, until the VM stops\n"
    "                  or Ctrl-C\n"
    "  --tail SIZE     start SIZE bytes before the end (up to 1M; 4K, 0...)\n"
    "\n" CLI_COMMON_HELP;

static const char wait_usage[] =
    "usage: nubo agent vm wait REF --for STATE [--timeout SEC]\n"
    "\n"
    "Waits until the VM is in STATE, with progress on stderr, then prints it:\n"
    "  running, stopped, crashed   the VM's state\n"
    "  ready                       the guest printed NUBO-READY on its console\n"
    "Fails (exit 1) on timeout, and at once when the VM has no process and is not\n"
    "in STATE (a stopped VM does not start by itself).  'ready' looks only at the\n"
    "console output of the current boot (from the VM's console_boot_offset).\n"
    "\n"
    "  --for STATE      ready, running, stopped or crashed (required)\n"
    "  --timeout SEC    how long to wait (default 120)\n"
    "\n" CLI_COMMON_HELP;

/* ---------------------------------------------------------------- common */

/* "/v1/vms/REF" plus an optional "/action"; ref has passed cli_ref_check(). */
static void vm_path(const char *ref, const char *action, char *out, size_t n)
{
    snprintf(out, n, "/v1/vms/%s%s%s", ref, action ? "/" : "", action ? action : "");
}

/* Prints "NAME: STATE (REASON)" on stdout. */
static void vm_status_print(const json_t *vm)
{
    char name[128], state[32], reason[TEXT_MAX];
    output_text(cli_json_str(vm, "name"), 0, name, sizeof(name));
    output_text(cli_json_str(vm, "state"), 0, state, sizeof(state));
    output_text(cli_json_str(vm, "reason"), 0, reason, sizeof(reason));
    printf("%s: %s (%s)\n", name, state, reason);
}

/* Prints "NAME: ready (what the guest said after NUBO-READY)" on stdout. */
static void vm_ready_print(const char *name, const char *line)
{
    const char *rest = strstr(line, WATCH_READY_MARKER);
    rest = rest ? rest + strlen(WATCH_READY_MARKER) : line;
    while (*rest == ' ')
        rest++;
    char safe_name[128];
    output_text(name, 0, safe_name, sizeof(safe_name));
    if (*rest)
        printf("%s: ready (%s)\n", safe_name, rest);
    else
        printf("%s: ready\n", safe_name);
}

/* Checks that exactly one REF follows the options and returns it. */
static const char *one_ref(const struct cli *cli, int argc, char **argv, int *rc)
{
    if ((*rc = cli_args_check(cli, argc - optind, 1, 1, "a VM name or id")) != 0)
        return NULL;
    if ((*rc = cli_ref_check(cli, argv[optind])) != 0)
        return NULL;
    return argv[optind];
}

/* ------------------------------------------------------------------ list */

static void list_print(const json_t *vms, bool wide)
{
    static const char *const headers[] = {"NAME",  "ID",      "STATE", "VCPUS", "MEMORY",
                                          "IMAGE", "NETWORK", "SINCE", "REASON"};
    struct output_table *t = output_table_new(9, headers);
    size_t i;
    const json_t *vm;
    json_array_foreach (vms, i, vm) {
        char id[40], vcpus[16], mem[24], since[24], reason[TEXT_MAX];
        snprintf(id, sizeof(id), "%.*s", wide ? 36 : LIST_ID_CHARS, cli_json_str_or(vm, "id", "-"));
        snprintf(vcpus, sizeof(vcpus), "%lld", cli_json_int(vm, "vcpus"));
        output_size((uint64_t)cli_json_int(vm, "memory_mib") * MIB, mem, sizeof(mem));
        output_since(cli_json_str(vm, "state_changed_at"), since, sizeof(since));
        output_text(cli_json_str(vm, "reason"), wide ? 0 : LIST_REASON_CHARS, reason,
                    sizeof(reason));
        const char *row[] = {cli_json_str(vm, "name"),
                             id,
                             cli_json_str(vm, "state"),
                             vcpus,
                             mem,
                             cli_json_str(vm, "image"),
                             cli_json_str(vm, "network"),
                             since,
                             reason};
        output_table_add(t, row);
    }
    if (output_table_rows(t) == 0)
        fputs("nubo: no VMs on this host (create one: nubo agent vm create NAME --image IMAGE)\n",
              stderr);
    else
        output_table_print(t, stdout);
    output_table_free(t);
}

static int vm_list(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"wide", no_argument, NULL, 'w'},
        {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    bool wide = false, quiet = false;
    int c, r;
    struct nubo_err err;
    json_t *answer = NULL;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS "wq", opts)) != -1) {
        if (c == 'h') {
            fputs(list_usage, stdout);
            return CLI_EXIT_OK;
        } else if (c == 'w') {
            wide = true;
        } else if (c == 'q') {
            quiet = true;
        } else if ((r = cli_option(cli, c, argv)) != 0) {
            return r;
        }
    }
    if ((r = cli_args_check(cli, argc - optind, 0, 0, "no arguments")) != 0 ||
        (r = cli_connect(cli)) != 0)
        return r;
    if (cli_call(cli, "GET", "/v1/vms", NULL, &answer, &err) < 0)
        return cli_fail(cli, &err);
    const json_t *vms = json_object_get(answer, "vms");
    if (quiet) {
        size_t i;
        const json_t *vm;
        json_array_foreach (vms, i, vm) {
            char name[128];
            output_text(cli_json_str(vm, "name"), 0, name, sizeof(name));
            puts(name);
        }
    } else if (!cli_print_json(cli, answer)) {
        list_print(vms, wide);
    }
    json_decref(answer);
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------ show */

static void show_print(const json_t *vm)
{
    char buf[TEXT_MAX], a[64];
    const json_t *stats = json_object_get(vm, "stats");
    output_kv(stdout, "name", cli_json_str(vm, "name"));
    output_kv(stdout, "id", cli_json_str(vm, "id"));
    output_since(cli_json_str(vm, "state_changed_at"), a, sizeof(a));
    snprintf(buf, sizeof(buf), "%s for %s (since %s)", cli_json_str_or(vm, "state", "?"), a,
             cli_json_str_or(vm, "state_changed_at", "?"));
    output_kv(stdout, "state", buf);
    output_kv(stdout, "reason", cli_json_str(vm, "reason"));
    output_kv(stdout, "image", cli_json_str(vm, "image"));
    snprintf(buf, sizeof(buf), "%lld", cli_json_int(vm, "vcpus"));
    output_kv(stdout, "vcpus", buf);
    output_size((uint64_t)cli_json_int(vm, "memory_mib") * MIB, a, sizeof(a));
    output_kv(stdout, "memory", a);
    output_size((uint64_t)cli_json_int(vm, "root_disk_bytes"), a, sizeof(a));
    if (json_is_integer(json_object_get(stats, "root_disk_allocated_bytes"))) {
        char b[64];
        output_size((uint64_t)cli_json_int(stats, "root_disk_allocated_bytes"), b, sizeof(b));
        snprintf(buf, sizeof(buf), "%s (%s used on the host)", a, b);
        output_kv(stdout, "root disk", buf);
    } else {
        output_kv(stdout, "root disk", a);
    }
    size_t i, len = 0;
    const json_t *d;
    buf[0] = '\0';
    json_array_foreach (json_object_get(vm, "disk_bytes"), i, d) {
        output_size((uint64_t)json_integer_value(d), a, sizeof(a));
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? ", " : "", a);
        if (len >= sizeof(buf))
            break;
    }
    output_kv(stdout, "extra disks", buf[0] ? buf : "none");
    const char *net = cli_json_str_or(vm, "network", "?");
    if (strcmp(net, "none") != 0 && cli_json_str(vm, "mac"))
        snprintf(buf, sizeof(buf), "%s (mac %s)", net, cli_json_str(vm, "mac"));
    else
        snprintf(buf, sizeof(buf), "%s", net);
    output_kv(stdout, "network", buf);
    output_kv(stdout, "hostname", cli_json_str(vm, "hostname"));
    snprintf(buf, sizeof(buf), "%zu", json_array_size(json_object_get(vm, "ssh_keys")));
    output_kv(stdout, "ssh keys", buf);
    output_kv(stdout, "user data",
              json_is_true(json_object_get(vm, "has_user_data")) ? "yes" : "no");
    output_kv(stdout, "created", cli_json_str(vm, "created_at"));
    snprintf(buf, sizeof(buf), "%lld", cli_json_int(vm, "boots"));
    output_kv(stdout, "boots", buf);
    if (json_is_integer(json_object_get(vm, "pid")))
        snprintf(buf, sizeof(buf), "%lld", cli_json_int(vm, "pid"));
    else
        snprintf(buf, sizeof(buf), "-");
    output_kv(stdout, "pid", buf);
    if (json_is_integer(json_object_get(stats, "cpu_time_ns"))) {
        long long ns = cli_json_int(stats, "cpu_time_ns");
        if (ns < 60 * 1000000000LL)
            snprintf(buf, sizeof(buf), "%.2fs", (double)ns / 1e9);
        else
            output_duration(ns / 1000000000LL, buf, sizeof(buf));
        output_kv(stdout, "cpu time", buf);
    }
    if (json_is_integer(json_object_get(stats, "memory_bytes"))) {
        output_size((uint64_t)cli_json_int(stats, "memory_bytes"), a, sizeof(a));
        output_kv(stdout, "memory used", a);
    }
}

static int vm_show(struct cli *cli, int argc, char **argv)
{
    int r;
    const char *ref;
    char path[128];
    struct nubo_err err;
    json_t *vm = NULL;
    if ((r = cli_options_common(cli, argc, argv, show_usage, false)) != 0)
        return r == CLI_HELP_SHOWN ? CLI_EXIT_OK : r;
    if ((ref = one_ref(cli, argc, argv, &r)) == NULL || (r = cli_connect(cli)) != 0)
        return r;
    vm_path(ref, NULL, path, sizeof(path));
    if (cli_call(cli, "GET", path, NULL, &vm, &err) < 0)
        return cli_fail(cli, &err);
    if (!cli_print_json(cli, vm))
        show_print(vm);
    json_decref(vm);
    return CLI_EXIT_OK;
}

/* ---------------------------------------------------------------- create */

static bool key_looks_public(const char *line)
{
    static const char *const types[] = {"ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"};
    for (size_t i = 0; i < ARRAY_LEN(types); i++)
        if (strncmp(line, types[i], strlen(types[i])) == 0)
            return strchr(line, ' ') != NULL;
    return false;
}

/* Adds the public keys of an OpenSSH key file (one a line; blank and '#'
 * lines skipped) to keys.  Returns 0 or a usage error. */
static int keys_add(const struct cli *cli, const char *path, json_t *keys)
{
    int rc = CLI_EXIT_USAGE, found = 0, lineno = 0;
    struct nubo_err err;
    size_t len;
    char *buf = fs_read_file(path, KEY_FILE_MAX, &len, &err);
    if (buf == NULL)
        return cli_usage_error(cli, "--ssh-key-file: %s", err.msg);
    if (memchr(buf, '\0', len) != NULL) {
        cli_usage_error(cli, "--ssh-key-file: %s is not a text file", path);
        goto cleanup;
    }
    if (strstr(buf, "PRIVATE KEY") != NULL) {
        cli_usage_error(cli,
                        "--ssh-key-file: %s is a private key; give its public key "
                        "(%s.pub)",
                        path, path);
        goto cleanup;
    }
    for (char *line = buf, *next; line && *line; line = next) {
        lineno++;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        size_t n = strlen(line);
        while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
            line[--n] = '\0';
        while (*line == ' ' || *line == '\t')
            line++;
        if (*line == '\0' || *line == '#')
            continue;
        if (!key_looks_public(line)) {
            cli_usage_error(cli,
                            "--ssh-key-file: line %d of %s is not an OpenSSH public key "
                            "(such as 'ssh-ed25519 AAAA... comment')",
                            lineno, path);
            goto cleanup;
        }
        if (json_array_size(keys) >= VM_KEYS_MAX) {
            cli_usage_error(cli, "--ssh-key-file: at most %d SSH keys", VM_KEYS_MAX);
            goto cleanup;
        }
        json_t *k = json_string(line);
        if (k == NULL) {
            cli_usage_error(cli, "--ssh-key-file: line %d of %s is not UTF-8 text", lineno, path);
            goto cleanup;
        }
        json_array_append_new(keys, k);
        found++;
    }
    if (found == 0) {
        cli_usage_error(cli, "--ssh-key-file: no key in %s", path);
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(buf);
    return rc;
}

/* Reads a user-data file into *out (a JSON string, the caller's).
 * Returns 0 or a usage error. */
static int user_data_read(const struct cli *cli, const char *path, json_t **out)
{
    struct nubo_err err;
    size_t len;
    char *buf = fs_read_file(path, USER_DATA_MAX, &len, &err);
    if (buf == NULL)
        return cli_usage_error(cli, "--user-data-file: %s", err.msg);
    /* json_stringn() refuses what is not UTF-8; NUL bytes cannot travel in
     * the agent's C strings. */
    *out = memchr(buf, '\0', len) ? NULL : json_stringn(buf, len);
    free(buf);
    if (*out == NULL)
        return cli_usage_error(cli, "--user-data-file: %s is not UTF-8 text", path);
    return 0;
}

/* What `nubo agent vm create` was asked for: the request body and the
 * options that steer the command itself. */
struct create_req {
    json_t *body;      /* POST /v1/vms */
    json_t *keys;      /* --ssh-key-file: "ssh_keys" */
    json_t *disks;     /* --disk: "disks" */
    json_t *user_data; /* --user-data-file: "user_data", or NULL */
    bool start, wait_ready, timeout_set;
    int timeout_s;
};

/* getopt_long values of create's own options. */
enum {
    CREATE_IMAGE = CLI_OPT_FIRST_FREE,
    CREATE_VCPUS,
    CREATE_MEMORY,
    CREATE_ROOT_DISK,
    CREATE_DISK,
    CREATE_NETWORK,
    CREATE_HOSTNAME,
    CREATE_KEY_FILE,
    CREATE_USER_DATA_FILE,
    CREATE_NO_START,
    CREATE_WAIT_READY,
    CREATE_TIMEOUT,
};

/* Takes one option of create (c as getopt_long returned it, the value in
 * optarg) into req.  Returns 0, or CLI_EXIT_USAGE after a usage error. */
static int create_option(struct cli *cli, int c, char **argv, struct create_req *req)
{
    struct nubo_err err;
    uint64_t bytes;
    long long n;
    switch (c) {
    case CREATE_IMAGE:
        if (valid_name(optarg, "--image", &err) < 0)
            break;
        json_object_set_new(req->body, "image", json_string(optarg));
        return 0;
    case CREATE_VCPUS:
        if (valid_int(optarg, 1, VM_VCPUS_MAX, "--vcpus", &n, &err) < 0)
            break;
        json_object_set_new(req->body, "vcpus", json_integer(n));
        return 0;
    case CREATE_MEMORY:
        if (valid_size(optarg, MIB, VM_MEMORY_MIN, VM_MEMORY_MAX, "--memory", &bytes, &err) < 0)
            break;
        json_object_set_new(req->body, "memory", json_string(optarg));
        return 0;
    case CREATE_ROOT_DISK:
        if (valid_size(optarg, GIB, VM_DISK_MIN, VM_DISK_MAX, "--root-disk", &bytes, &err) < 0)
            break;
        json_object_set_new(req->body, "root_disk", json_string(optarg));
        return 0;
    case CREATE_DISK:
        if (valid_size(optarg, GIB, VM_DISK_MIN, VM_DISK_MAX, "--disk", &bytes, &err) < 0)
            break;
        if (json_array_size(req->disks) >= VM_DISKS_MAX)
            return cli_usage_error(cli, "at most %d extra disks (--disk)", VM_DISKS_MAX);
        json_array_append_new(req->disks, json_string(optarg));
        return 0;
    case CREATE_NETWORK:
        if (strcmp(optarg, "none") != 0 && strcmp(optarg, "user") != 0)
            return cli_usage_error(cli, "--network must be none or user (got '%.40s')", optarg);
        json_object_set_new(req->body, "network", json_string(optarg));
        return 0;
    case CREATE_HOSTNAME:
        if (valid_hostname(optarg, &err) < 0)
            break;
        json_object_set_new(req->body, "hostname", json_string(optarg));
        return 0;
    case CREATE_KEY_FILE:
        return keys_add(cli, optarg, req->keys) != 0 ? CLI_EXIT_USAGE : 0;
    case CREATE_USER_DATA_FILE:
        json_decref(req->user_data);
        req->user_data = NULL;
        return user_data_read(cli, optarg, &req->user_data) != 0 ? CLI_EXIT_USAGE : 0;
    case CREATE_NO_START:
        req->start = false;
        return 0;
    case CREATE_WAIT_READY:
        req->wait_ready = true;
        return 0;
    case CREATE_TIMEOUT:
        if (cli_timeout_parse(cli, optarg, &req->timeout_s) != 0)
            return CLI_EXIT_USAGE;
        req->timeout_set = true;
        return 0;
    default:
        return cli_option(cli, c, argv) != 0 ? CLI_EXIT_USAGE : 0;
    }
    return cli_usage_error(cli, "%s", err.msg);
}

/* Parses create's command line into req (initialized by the caller) and
 * completes its body: the VM name is argv[optind].  Returns 0,
 * CLI_HELP_SHOWN after --help, or CLI_EXIT_USAGE after a usage error. */
static int create_parse(struct cli *cli, int argc, char **argv, struct create_req *req)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"image", required_argument, NULL, CREATE_IMAGE},
        {"vcpus", required_argument, NULL, CREATE_VCPUS},
        {"memory", required_argument, NULL, CREATE_MEMORY},
        {"root-disk", required_argument, NULL, CREATE_ROOT_DISK},
        {"disk", required_argument, NULL, CREATE_DISK},
        {"network", required_argument, NULL, CREATE_NETWORK},
        {"hostname", required_argument, NULL, CREATE_HOSTNAME},
        {"ssh-key-file", required_argument, NULL, CREATE_KEY_FILE},
        {"user-data-file", required_argument, NULL, CREATE_USER_DATA_FILE},
        {"no-start", no_argument, NULL, CREATE_NO_START},
        {"wait-ready", no_argument, NULL, CREATE_WAIT_READY},
        {"timeout", required_argument, NULL, CREATE_TIMEOUT},
        {NULL, 0, NULL, 0},
    };
    struct nubo_err err;
    int c;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(create_usage, stdout);
            return CLI_HELP_SHOWN;
        }
        if (create_option(cli, c, argv, req) != 0)
            return CLI_EXIT_USAGE;
    }
    if (cli_args_check(cli, argc - optind, 1, 1, "the name of the new VM") != 0)
        return CLI_EXIT_USAGE;
    const char *name = argv[optind];
    if (valid_name(name, "the VM name", &err) < 0)
        return cli_usage_error(cli, "%s", err.msg);
    if (json_object_get(req->body, "image") == NULL)
        return cli_usage_error(cli,
                               "--image IMAGE is required ('nubo agent image list' shows them)");
    if (req->wait_ready && !req->start)
        return cli_usage_error(cli, "--wait-ready needs the VM to start; drop --no-start");
    if (req->timeout_set && !req->wait_ready)
        return cli_usage_error(cli, "--timeout goes with --wait-ready");
    json_object_set_new(req->body, "name", json_string(name));
    if (json_array_size(req->keys) > 0)
        json_object_set(req->body, "ssh_keys", req->keys);
    if (json_array_size(req->disks) > 0)
        json_object_set(req->body, "disks", req->disks);
    if (req->user_data)
        json_object_set(req->body, "user_data", req->user_data);
    if (!req->start)
        json_object_set_new(req->body, "start", json_false());
    return 0;
}

/* --wait-ready: waits for the guest of the new VM `name` and prints that it
 * is ready; for -o json, *vm is replaced by the VM as it is after the wait.
 * Returns the exit status. */
static int create_wait(struct cli *cli, const char *name, int timeout_s, json_t **vm)
{
    char label[128], line[512], path[128];
    struct nubo_err err;
    snprintf(label, sizeof(label), "waiting for the guest of %s", name);
    if (watch_ready(cli, name, 0, timeout_s, label, line, sizeof(line), &err) < 0) {
        int rc = cli_fail(cli, &err);
        if (rc == CLI_EXIT_FAIL)
            fprintf(stderr,
                    "nubo: VM %s is kept: 'nubo agent vm console %s' shows its console, "
                    "'nubo agent vm delete %s' removes it\n",
                    name, name, name);
        return rc;
    }
    if (cli->output == OUTPUT_TABLE) {
        vm_ready_print(name, line);
        return CLI_EXIT_OK;
    }
    /* The JSON as it is now, after the wait. */
    json_decref(*vm);
    *vm = NULL;
    vm_path(name, NULL, path, sizeof(path));
    if (cli_call(cli, "GET", path, NULL, vm, &err) < 0)
        return cli_fail(cli, &err);
    return CLI_EXIT_OK;
}

static int vm_create(struct cli *cli, int argc, char **argv)
{
    struct create_req req = {
        .body = json_object(),
        .keys = json_array(),
        .disks = json_array(),
        .start = true,
        .timeout_s = READY_TIMEOUT_S,
    };
    struct nubo_err err;
    json_t *vm = NULL;
    int rc = create_parse(cli, argc, argv, &req);
    if (rc != 0) {
        rc = rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
        goto cleanup;
    }
    const char *name = argv[optind];
    if ((rc = cli_connect(cli)) != 0)
        goto cleanup;
    if (cli_call(cli, "POST", "/v1/vms", req.body, &vm, &err) < 0) {
        rc = cli_fail(cli, &err);
        goto cleanup;
    }
    if (cli->output == OUTPUT_TABLE) {
        char id[64];
        output_text(cli_json_str(vm, "id"), 0, id, sizeof(id));
        printf("created VM %s, id %s\n", name, id);
        vm_status_print(vm);
        fflush(stdout);
    }
    if (req.wait_ready && (rc = create_wait(cli, name, req.timeout_s, &vm)) != CLI_EXIT_OK)
        goto cleanup;
    cli_print_json(cli, vm);
    rc = CLI_EXIT_OK;
cleanup:
    json_decref(req.body);
    json_decref(req.keys);
    json_decref(req.disks);
    json_decref(req.user_data);
    json_decref(vm);
    return rc;
}

/* --------------------------------------- start, reboot, pause, resume */

/* One POST /v1/vms/{ref}/{action}; with can_wait, --wait-ready follows the
 * console from where it was before the action. */
static int vm_action(struct cli *cli, int argc, char **argv, const char *action, const char *usage,
                     bool can_wait)
{
    enum { OPT_WAIT_READY = CLI_OPT_FIRST_FREE, OPT_TIMEOUT };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"wait-ready", no_argument, NULL, OPT_WAIT_READY},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {NULL, 0, NULL, 0},
    };
    int rc, c;
    bool wait_ready = false, timeout_set = false;
    int timeout_s = READY_TIMEOUT_S;
    long long offset = 0;
    const char *ref;
    char path[128], line[512], label[128];
    struct nubo_err err;
    json_t *vm = NULL;

    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return CLI_EXIT_OK;
        } else if (c == OPT_WAIT_READY && can_wait) {
            wait_ready = true;
        } else if (c == OPT_TIMEOUT && can_wait) {
            if ((rc = cli_timeout_parse(cli, optarg, &timeout_s)) != 0)
                return rc;
            timeout_set = true;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    if ((ref = one_ref(cli, argc, argv, &rc)) == NULL)
        return rc;
    if (timeout_set && !wait_ready)
        return cli_usage_error(cli, "--timeout goes with --wait-ready");
    if ((rc = cli_connect(cli)) != 0)
        return rc;

    if (wait_ready) {
        /* Only output after the action counts, except when `start` finds
         * the VM already up: then its current boot is in the log already. */
        vm_path(ref, NULL, path, sizeof(path));
        if (cli_call(cli, "GET", path, NULL, &vm, &err) < 0)
            goto fail;
        bool up = watch_state_has_process(cli_json_str(vm, "state"));
        json_decref(vm);
        vm = NULL;
        if (!(up && strcmp(action, "start") == 0) && watch_console_end(cli, ref, &offset, &err) < 0)
            goto fail;
    }
    vm_path(ref, action, path, sizeof(path));
    if (cli_call(cli, "POST", path, NULL, &vm, &err) < 0)
        goto fail;
    if (cli->output == OUTPUT_TABLE) {
        vm_status_print(vm);
        fflush(stdout);
    }
    if (wait_ready) {
        snprintf(label, sizeof(label), "waiting for the guest of %s", ref);
        if (watch_ready(cli, ref, offset, timeout_s, label, line, sizeof(line), &err) < 0)
            goto fail;
        if (cli->output == OUTPUT_TABLE) {
            vm_ready_print(cli_json_str_or(vm, "name", ref), line);
        } else {
            json_decref(vm);
            vm = NULL;
            vm_path(ref, NULL, path, sizeof(path));
            if (cli_call(cli, "GET", path, NULL, &vm, &err) < 0)
                goto fail;
        }
    }
    cli_print_json(cli, vm);
    json_decref(vm);
    return CLI_EXIT_OK;
fail:
    json_decref(vm);
    return cli_fail(cli, &err);
}

static int vm_start(struct cli *cli, int argc, char **argv)
{
    return vm_action(cli, argc, argv, "start", start_usage, true);
}

static int vm_reboot(struct cli *cli, int argc, char **argv)
{
    return vm_action(cli, argc, argv, "reboot", reboot_usage, true);
}

static int vm_pause(struct cli *cli, int argc, char **argv)
{
    return vm_action(cli, argc, argv, "pause", pause_usage, false);
}

static int vm_resume(struct cli *cli, int argc, char **argv)
{
    return vm_action(cli, argc, argv, "resume", resume_usage, false);
}

/* ------------------------------------------------------------------ stop */

static int vm_stop(struct cli *cli, int argc, char **argv)
{
    enum { OPT_FORCE = CLI_OPT_FIRST_FREE, OPT_TIMEOUT, OPT_NO_WAIT };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"force", no_argument, NULL, OPT_FORCE},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"no-wait", no_argument, NULL, OPT_NO_WAIT},
        {NULL, 0, NULL, 0},
    };
    int rc, c;
    bool force = false, no_wait = false;
    long long timeout = -1;
    const char *ref;
    char path[128];
    struct nubo_err err;
    json_t *vm = NULL, *body = NULL;

    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(stop_usage, stdout);
            return CLI_EXIT_OK;
        } else if (c == OPT_FORCE) {
            force = true;
        } else if (c == OPT_NO_WAIT) {
            no_wait = true;
        } else if (c == OPT_TIMEOUT) {
            if (valid_int(optarg, 0, STOP_TIMEOUT_MAX, "--timeout", &timeout, &err) < 0)
                return cli_usage_error(cli, "%s (seconds)", err.msg);
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    if ((ref = one_ref(cli, argc, argv, &rc)) == NULL || (rc = cli_connect(cli)) != 0)
        return rc;

    body = json_object();
    if (force)
        json_object_set_new(body, "force", json_true());
    if (timeout >= 0)
        json_object_set_new(body, "timeout", json_integer(timeout));
    vm_path(ref, "stop", path, sizeof(path));
    int r = cli_call(cli, "POST", path, body, &vm, &err);
    json_decref(body);
    if (r < 0)
        return cli_fail(cli, &err);
    /* 202 "stopping": the guest was asked; the agent forces it off at the
     * deadline.  Otherwise (200) it is off already. */
    if (!no_wait && watch_state_has_process(cli_json_str(vm, "state"))) {
        int limit = (int)(timeout >= 0 ? timeout : STOP_WAIT_DEFAULT_S) + STOP_WAIT_MARGIN_S;
        char label[128];
        json_decref(vm);
        vm = NULL;
        snprintf(label, sizeof(label), "stopping %s", ref);
        if (watch_state(cli, ref, "stopped", limit, label, &vm, &err) < 0)
            return cli_fail(cli, &err);
    }
    if (!cli_print_json(cli, vm))
        vm_status_print(vm);
    json_decref(vm);
    return CLI_EXIT_OK;
}

/* ---------------------------------------------------------------- delete */

static int vm_delete(struct cli *cli, int argc, char **argv)
{
    int rc, r;
    char path[128];
    struct nubo_err err;
    if ((rc = cli_options_common(cli, argc, argv, delete_usage, false)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 1, -1, "one or more VM names or ids")) != 0)
        return rc;
    for (int i = optind; i < argc; i++)
        if ((rc = cli_ref_check(cli, argv[i])) != 0)
            return rc;
    if ((rc = cli_connect(cli)) != 0)
        return rc;
    for (int i = optind; i < argc; i++) {
        vm_path(argv[i], NULL, path, sizeof(path));
        if (cli_call(cli, "DELETE", path, NULL, NULL, &err) < 0) {
            r = cli_fail(cli, &err);
            if (r != CLI_EXIT_FAIL)
                return r; /* unreachable or interrupted: the rest would fail too */
            rc = r;
            continue;
        }
        if (cli->output == OUTPUT_TABLE)
            printf("deleted %s\n", argv[i]);
    }
    return rc;
}

/* --------------------------------------------------------------- console */

static int vm_console(struct cli *cli, int argc, char **argv)
{
    enum { OPT_TAIL = CLI_OPT_FIRST_FREE };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"follow", no_argument, NULL, 'f'},
        {"tail", required_argument, NULL, OPT_TAIL},
        {NULL, 0, NULL, 0},
    };
    int rc, c;
    bool follow = false, tail_set = false;
    uint64_t tail = 0;
    long long offset = 0;
    const char *ref;
    struct nubo_err err;

    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS "f", opts)) != -1) {
        if (c == 'h') {
            fputs(console_usage, stdout);
            return CLI_EXIT_OK;
        } else if (c == 'f') {
            follow = true;
        } else if (c == OPT_TAIL) {
            if (valid_size(optarg, 1, 0, CONSOLE_TAIL_MAX, "--tail", &tail, &err) < 0)
                return cli_usage_error(cli, "%s", err.msg);
            tail_set = true;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    if ((ref = one_ref(cli, argc, argv, &rc)) == NULL || (rc = cli_connect(cli)) != 0)
        return rc;
    if (tail_set && tail == 0) {
        if (watch_console_end(cli, ref, &offset, &err) < 0)
            return cli_fail(cli, &err);
    } else if (tail_set) {
        offset = -(long long)tail;
    }
    if (watch_console(cli, ref, offset, follow, stdout, &err) < 0)
        return cli_fail(cli, &err);
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------ wait */

static int vm_wait(struct cli *cli, int argc, char **argv)
{
    enum { OPT_FOR = CLI_OPT_FIRST_FREE, OPT_TIMEOUT };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"for", required_argument, NULL, OPT_FOR},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {NULL, 0, NULL, 0},
    };
    static const char *const targets[] = {"ready", "running", "stopped", "crashed"};
    int rc, c;
    int timeout_s = WAIT_TIMEOUT_S;
    const char *target = NULL, *ref;
    char label[128];
    struct nubo_err err;
    json_t *vm = NULL;

    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(wait_usage, stdout);
            return CLI_EXIT_OK;
        } else if (c == OPT_FOR) {
            target = NULL;
            for (size_t i = 0; i < ARRAY_LEN(targets); i++)
                if (strcmp(optarg, targets[i]) == 0)
                    target = targets[i];
            if (target == NULL)
                return cli_usage_error(cli,
                                       "--for must be ready, running, stopped or crashed "
                                       "(got '%.40s')",
                                       optarg);
        } else if (c == OPT_TIMEOUT) {
            if ((rc = cli_timeout_parse(cli, optarg, &timeout_s)) != 0)
                return rc;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    if ((ref = one_ref(cli, argc, argv, &rc)) == NULL)
        return rc;
    if (target == NULL)
        return cli_usage_error(cli, "--for STATE is required (ready, running, stopped or "
                                    "crashed)");
    if ((rc = cli_connect(cli)) != 0)
        return rc;

    if (strcmp(target, "ready") == 0) {
        char path[128], line[512];
        /* Only the current boot counts: its output starts at this offset. */
        vm_path(ref, NULL, path, sizeof(path));
        if (cli_call(cli, "GET", path, NULL, &vm, &err) < 0)
            return cli_fail(cli, &err);
        long long from = json_integer_value(json_object_get(vm, "console_boot_offset"));
        json_decref(vm);
        vm = NULL;
        snprintf(label, sizeof(label), "waiting for the guest of %s", ref);
        if (watch_ready(cli, ref, from, timeout_s, label, line, sizeof(line), &err) < 0)
            return cli_fail(cli, &err);
        if (cli->output == OUTPUT_TABLE) {
            vm_ready_print(ref, line);
            return CLI_EXIT_OK;
        }
        vm_path(ref, NULL, path, sizeof(path));
        if (cli_call(cli, "GET", path, NULL, &vm, &err) < 0)
            return cli_fail(cli, &err);
    } else {
        snprintf(label, sizeof(label), "waiting for %s to be %s", ref, target);
        if (watch_state(cli, ref, target, timeout_s, label, &vm, &err) < 0)
            return cli_fail(cli, &err);
    }
    if (!cli_print_json(cli, vm))
        vm_status_print(vm);
    json_decref(vm);
    return CLI_EXIT_OK;
}

/* ----------------------------------------------------------------- group */

int cmd_agent_vm(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", vm_list},     {"create", vm_create},   {"show", vm_show},   {"start", vm_start},
        {"stop", vm_stop},     {"reboot", vm_reboot},   {"pause", vm_pause}, {"resume", vm_resume},
        {"delete", vm_delete}, {"console", vm_console}, {"wait", vm_wait},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), vm_usage);
}
