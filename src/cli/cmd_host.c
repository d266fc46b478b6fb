/*
 * cmd_host.c - `nubo host ...`: what this host can do and how full it is
 * (GET /v1/host).
 */
#include <stdio.h>

#include "cli/cmd.h"
#include "cli/output.h"

static const char host_usage[] = "usage: nubo host COMMAND\n"
                                 "\n"
                                 "Commands:\n"
                                 "  info    capabilities and capacity of this host\n"
                                 "\n" CLI_COMMON_HELP;

static const char info_usage[] =
    "usage: nubo host info [-o table|json]\n"
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

static int host_info(struct cli *cli, int argc, char **argv)
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

int cmd_host(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {{"info", host_info}};
    return cli_dispatch(cli, argc, argv, cmds, 1, host_usage);
}
