/*
 * cmd_agent.c - `nubo agent ...`: the host agent of this server, nubo-hostd,
 * used directly, without a controller ("virtualization without cloud"):
 *
 *   info          GET /v1/host: capabilities and capacity
 *   image list    GET /v1/images: the base images in its images directory
 *   vm ...        the VMs of this host (cmd_agent_vm.c)
 *
 * These commands reach the agent on its Unix socket (--socket,
 * NUBO_HOSTD_SOCKET) or on TCP (--url with --token-file); see cli.h.
 */
#include <stdio.h>

#include "cli/cmd.h"
#include "cli/output.h"
#include "lib/util.h"

static const char agent_usage[] =
    "usage: nubo agent COMMAND ...\n"
    "\n"
    "Manage the virtual machines of this server through its host agent, nubo-hostd,\n"
    "without a controller.\n"
    "\n"
    "Commands:\n"
    "  info                          capabilities and capacity of this host\n"
    "  image list                    base images to create VMs from\n"
    "  vm list                       the VMs of this host\n"
    "  vm create NAME --image IMG    define and start a VM\n"
    "  vm show REF                   one VM in detail, with live stats\n"
    "  vm start|reboot|pause|resume REF\n"
    "  vm stop REF                   power a VM off (ACPI, forced at a deadline)\n"
    "  vm delete REF...              force VMs off and remove them with their disks\n"
    "  vm console REF                the VM's serial console (--follow like tail -f)\n"
    "  vm wait REF --for STATE       wait until ready, running, stopped or crashed\n"
    "REF is a VM's name or id.  'nubo agent COMMAND --help' describes each command.\n"
    "\n"
    "Options, accepted before or after the command words:\n"
    "  --socket PATH            the agent's Unix socket (default " CLI_DEFAULT_SOCKET ";\n"
    "                           env NUBO_HOSTD_SOCKET)\n"
    "  --url http://ADDR:PORT   talk to the agent over TCP instead (env NUBO_HOSTD_URL)\n"
    "  --token-file FILE        its bearer token, first line of FILE (env NUBO_TOKEN_FILE)\n"
    "  -o, --output FORMAT      table (for people, the default) or json (the API's\n"
    "                           JSON, for scripts)\n"
    "  -h, --help               this text\n"
    "\n"
    "Exit status: 0 done; 1 the request failed (API error, timeout); 2 usage error;\n"
    "3 nubo-hostd cannot be reached; 130 interrupted.\n";

static const char image_usage[] = "usage: nubo agent image COMMAND\n"
                                  "\n"
                                  "Commands:\n"
                                  "  list    base images to create VMs from\n"
                                  "\n" CLI_COMMON_HELP;

/* ------------------------------------------------------------------ info */

static const char info_usage[] =
    "usage: nubo agent info [-o table|json]\n"
    "\n"
    "Shows the host agent's capabilities: the accelerator it uses (kvm or tcg) and\n"
    "why, the QEMU version, the cgroup version; and its capacity: vCPUs, memory and\n"
    "disk in total, allocated to defined VMs (running or not) and free.  Totals\n"
    "include the agent's overcommit ratios.\n"
    "\n" CLI_COMMON_HELP;

/* One capacity row: total / allocated / free, sizes scaled by `unit`
 * bytes, or plain counts when unit is 0. */
static void capacity_row(struct output_table *t, const char *name, const json_t *cap,
                         unsigned long long unit)
{
    static const char *const keys[] = {"total", "allocated", "free"};
    char cells[3][24];
    for (int i = 0; i < 3; i++) {
        long long v = cli_json_int(cap, keys[i]);
        if (unit)
            output_size((uint64_t)(v > 0 ? v : 0) * unit, cells[i], sizeof(cells[i]));
        else
            snprintf(cells[i], sizeof(cells[i]), "%lld", v);
    }
    const char *row[] = {name, cells[0], cells[1], cells[2]};
    output_table_add(t, row);
}

static void info_print(const json_t *h)
{
    char buf[512], size[24];
    output_kv(stdout, "hostname", cli_json_str(h, "hostname"));
    output_kv(stdout, "agent version", cli_json_str(h, "version"));
    snprintf(buf, sizeof(buf), "%s %s", cli_json_str_or(h, "hypervisor", "?"),
             cli_json_str_or(h, "qemu_version", ""));
    output_kv(stdout, "hypervisor", buf);
    snprintf(buf, sizeof(buf), "%s (requested: %s)", cli_json_str_or(h, "accel", "?"),
             cli_json_str_or(h, "accel_requested", "?"));
    output_kv(stdout, "accel", buf);
    output_kv(stdout, "accel reason", cli_json_str(h, "accel_reason"));
    output_kv(stdout, "cgroups", cli_json_str(h, "cgroups"));
    snprintf(buf, sizeof(buf), "%lld", cli_json_int(h, "cpus"));
    output_kv(stdout, "host cpus", buf);
    const json_t *vms = json_object_get(h, "vms");
    snprintf(buf, sizeof(buf), "%lld (%lld running)", cli_json_int(vms, "total"),
             cli_json_int(vms, "running"));
    output_kv(stdout, "vms", buf);
    const json_t *ratios = json_object_get(h, "ratios");
    output_size((uint64_t)cli_json_int(ratios, "memory_reserved_mib") << 20, size, sizeof(size));
    snprintf(buf, sizeof(buf), "cpu %.1fx, memory %.1fx, %s kept for the host",
             json_number_value(json_object_get(ratios, "cpu")),
             json_number_value(json_object_get(ratios, "memory")), size);
    output_kv(stdout, "overcommit", buf);
    const json_t *cap = json_object_get(h, "capacity");
    const json_t *disk = json_object_get(cap, "disk_bytes");
    output_size((uint64_t)cli_json_int(disk, "filesystem_free"), size, sizeof(size));
    output_kv(stdout, "filesystem free", size);

    fputc('\n', stdout);
    static const char *const headers[] = {"RESOURCE", "TOTAL", "ALLOCATED", "FREE"};
    struct output_table *t = output_table_new(4, headers);
    capacity_row(t, "vcpus", json_object_get(cap, "vcpus"), 0);
    capacity_row(t, "memory", json_object_get(cap, "memory_mib"), 1ULL << 20);
    capacity_row(t, "disk", disk, 1);
    output_table_print(t, stdout);
    output_table_free(t);
}

static int agent_info(struct cli *cli, int argc, char **argv)
{
    int r;
    struct nubo_err err;
    json_t *host = NULL;
    if ((r = cli_options_common(cli, argc, argv, info_usage, false)) != 0)
        return r == CLI_HELP_SHOWN ? CLI_EXIT_OK : r;
    if ((r = cli_args_check(cli, argc - optind, 0, 0, "no arguments")) != 0 ||
        (r = cli_connect(cli)) != 0)
        return r;
    if (cli_call(cli, "GET", "/v1/host", NULL, &host, &err) < 0)
        return cli_fail(cli, &err);
    if (!cli_print_json(cli, host))
        info_print(host);
    json_decref(host);
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------------ image list */

static const char image_list_usage[] =
    "usage: nubo agent image list [-o table|json]\n"
    "\n"
    "Lists the base images in the agent's images directory: NAME (what\n"
    "'nubo agent vm create --image' takes), FORMAT, BOOT (kernel: a kernel and initrd\n"
    "beside the disk; disk: the disk's own boot loader), VIRTUAL SIZE (the\n"
    "smallest root disk a VM of it can have) and FILE SIZE.\n"
    "\n" CLI_COMMON_HELP;

static void image_list_print(const json_t *images)
{
    static const char *const headers[] = {"NAME", "FORMAT", "BOOT", "VIRTUAL SIZE", "FILE SIZE"};
    struct output_table *t = output_table_new(5, headers);
    size_t i;
    const json_t *img;
    json_array_foreach (images, i, img) {
        char vsize[24], fsize[24];
        output_size((uint64_t)cli_json_int(img, "virtual_size"), vsize, sizeof(vsize));
        output_size((uint64_t)cli_json_int(img, "file_size"), fsize, sizeof(fsize));
        const char *row[] = {cli_json_str(img, "name"), cli_json_str(img, "format"),
                             cli_json_str(img, "boot"), vsize, fsize};
        output_table_add(t, row);
    }
    if (output_table_rows(t) == 0)
        fputs("nubo: no images (the agent reads them from its --images-dir)\n", stderr);
    else
        output_table_print(t, stdout);
    output_table_free(t);
}

static int agent_image_list(struct cli *cli, int argc, char **argv)
{
    int r;
    struct nubo_err err;
    json_t *answer = NULL;
    if ((r = cli_options_common(cli, argc, argv, image_list_usage, false)) != 0)
        return r == CLI_HELP_SHOWN ? CLI_EXIT_OK : r;
    if ((r = cli_args_check(cli, argc - optind, 0, 0, "no arguments")) != 0 ||
        (r = cli_connect(cli)) != 0)
        return r;
    if (cli_call(cli, "GET", "/v1/images", NULL, &answer, &err) < 0)
        return cli_fail(cli, &err);
    if (!cli_print_json(cli, answer))
        image_list_print(json_object_get(answer, "images"));
    json_decref(answer);
    return CLI_EXIT_OK;
}

static int agent_image(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {{"list", agent_image_list}};
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), image_usage);
}

/* ----------------------------------------------------------------- group */

int cmd_agent(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"info", agent_info},
        {"image", agent_image},
        {"vm", cmd_agent_vm},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), agent_usage);
}
