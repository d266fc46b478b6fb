/*
 * cmd_host.c - `nubo host ...`: the hypervisor hosts of the cloud, as the
 * controller sees them (cloud admins only).  A host joins by itself: its
 * agent registers with a join token (nubo-hostd --controller URL).
 *
 *   list     GET /v1/hosts
 *   show     GET /v1/hosts/{ref}
 *   delete   DELETE /v1/hosts/{ref} (409 while instances are placed on it)
 *   force-remove  POST /v1/hosts/{ref}/actions {"action": "force-remove"}
 *   drain    POST /v1/hosts/{ref}/actions {"action": "drain"}, then
 *            with --wait polls GET /v1/hosts/{ref} until it is drained
 *   undrain  POST /v1/hosts/{ref}/actions {"action": "undrain"}
 *
 * (The agent of this very server, without a controller: `nubo agent info`.)
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/client.h"
#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/opts.h"
#include "cli/output.h"
#include "lib/clock.h"
#include "lib/util.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

static const char host_usage[] =
    "usage: nubo host COMMAND [options]\n"
    "\n"
    "Commands (cloud admins only):\n"
    "  list              the hosts, their state, capacity and use\n"
    "  show HOST         one host\n"
    "  delete HOST...    forget hosts that have no instances\n"
    "  force-remove HOST fence a dead host and delete its instances\n"
    "  drain HOST [--wait]  move its instances away; it takes no new ones\n"
    "  undrain HOST      put a drained host back in service\n"
    "  join-command [--ttl S] [--controller URL] [--name NAME]\n"
    "                    a one-line command that joins a new host (single-use)\n"
    "\n"
    "HOST is a host's name or id.  Hosts join by themselves: nubo-hostd\n"
    "--controller URL --join-token-file FILE.  This server's own agent, without a\n"
    "controller: 'nubo agent info'.\n"
    "\n" CLOUD_COMMON_HELP;

static const char list_usage[] =
    "usage: nubo host list [--limit N]\n"
    "\n"
    "Lists the hosts: STATE (up; degraded when its agent reports datapath problems\n"
    "it could not repair: it takes no new instance; down when silent too long;\n"
    "fenced once force-removed), the accelerator, vCPUs, RAM and disk as\n"
    "used/total (totals with overcommit), instances placed there and the time since\n"
    "the last heartbeat.\n"
    "\n" CLOUD_COMMON_HELP;

static const char show_usage[] = "usage: nubo host show HOST\n"
                                 "\n"
                                 "Shows one host.  'problems' counts the datapath\n"
                                 "problems of a degraded host; -o json lists them.\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char delete_usage[] =
    "usage: nubo host delete HOST...\n"
    "\n"
    "Removes hosts from the cloud; one with instances placed on it is refused (HTTP\n"
    "409).  A deleted host whose agent still runs registers again.\n"
    "\n" CLOUD_COMMON_HELP;

static const char force_remove_usage[] =
    "usage: nubo host force-remove HOST\n"
    "\n"
    "For a host that is dead for good (state down): fences it - it never takes\n"
    "instances again, and if its agent ever comes back the controller destroys\n"
    "the VMs it still runs - and deletes its instances at once (their usage closed,\n"
    "their quota freed).  Refused while the host is up.  'nubo host delete' then\n"
    "forgets it.\n"
    "\n" CLOUD_COMMON_HELP;

static const char drain_usage[] =
    "usage: nubo host drain HOST [--wait [--timeout SEC]]\n"
    "\n"
    "Maintenance: the host takes no new instance, and the controller moves its\n"
    "instances to other hosts, a few at a time (nubod --drain-parallel): running\n"
    "ones live, stopped ones cold (they stay stopped).  The host is 'draining',\n"
    "then 'drained' when nothing is left to move.  An instance that cannot move (no\n"
    "other host with room, in error, waiting in verify_resize, its migration failed)\n"
    "stays, with the reason; draining again tries those once more.\n"
    "\n"
    "  --wait           wait until it is drained, with a progress line on stderr;\n"
    "                   fails (exit 1) when instances could not move\n"
    "  --timeout SEC    how long --wait waits (default 300)\n"
    "\n" CLOUD_COMMON_HELP;

static const char undrain_usage[] =
    "usage: nubo host undrain HOST\n"
    "\n"
    "Puts a host in maintenance (draining or drained) back in service: it takes\n"
    "new instances again.  Migrations under way finish.\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col host_fields[] = {
    {"name", "name", CLOUD_STR},
    {"id", "id", CLOUD_STR},
    {"state", "state", CLOUD_STR},
    {"address", "address", CLOUD_STR},
    {"accel", "accel", CLOUD_STR},
    {"driver", "driver", CLOUD_STR},
    {"vcpus", "vcpus", CLOUD_STR},
    {"vcpus used", "used.vcpus", CLOUD_STR},
    {"ram", "ram_mib", CLOUD_MIB},
    {"ram used", "used.ram_mib", CLOUD_MIB},
    {"disk", "disk_gib", CLOUD_GIB},
    {"disk used", "used.disk_gib", CLOUD_GIB},
    {"instances", "instances", CLOUD_STR},
    {"last heartbeat", "last_heartbeat_at", CLOUD_STR},
    {"problems", "problems", CLOUD_COUNT},
    {"fenced at", "fenced_at", CLOUD_STR},
    {"maintenance", "maintenance", CLOUD_STR},
    {"drain left", "drain.left", CLOUD_STR},
    {"drain migrating", "drain.migrating", CLOUD_STR},
    {"drain failed", "drain.failed", CLOUD_STR},
};

static const struct cloud_kind host_kind = {
    .what = "host",
    .collection = "/v1/hosts",
    .key = "hosts",
    .fields = host_fields,
    .nfields = ARRAY_LEN(host_fields),
    .empty = "no hosts (a host joins with: nubo-hostd --controller URL --join-token-file F)",
};

/* "used/total" of a resource, sizes scaled by unit (1: a count). */
static void used_of(const json_t *h, const char *key, unsigned long long unit, char *out, size_t n)
{
    long long used = cli_json_int(json_object_get(h, "used"), key);
    long long total = cli_json_int(h, key);
    if (unit == 1) {
        snprintf(out, n, "%lld/%lld", used, total);
        return;
    }
    char a[16] = "0", b[16];
    if (used > 0)
        output_size((uint64_t)used * unit, a, sizeof(a));
    output_size((uint64_t)(total > 0 ? total : 0) * unit, b, sizeof(b));
    snprintf(out, n, "%s/%s", a, b);
}

static void hosts_print(const json_t *hosts)
{
    static const char *const headers[] = {"NAME", "ID",   "STATE",     "ACCEL",    "VCPUS",
                                          "RAM",  "DISK", "INSTANCES", "HEARTBEAT"};
    struct output_table *t = output_table_new(ARRAY_LEN(headers), headers);
    size_t i;
    const json_t *h;
    json_array_foreach (hosts, i, h) {
        char vcpus[48], ram[48], disk[48], inst[24], beat[24];
        used_of(h, "vcpus", 1, vcpus, sizeof(vcpus));
        used_of(h, "ram_mib", MIB, ram, sizeof(ram));
        used_of(h, "disk_gib", GIB, disk, sizeof(disk));
        snprintf(inst, sizeof(inst), "%lld", cli_json_int(h, "instances"));
        char state[48];
        const char *m = cli_json_str(h, "maintenance");
        snprintf(state, sizeof(state), "%s%s%s%s", cli_json_str(h, "state"), m ? " (" : "",
                 m ? m : "", m ? ")" : "");
        output_since(cli_json_str(h, "last_heartbeat_at"), beat, sizeof(beat));
        const char *row[] = {cli_json_str(h, "name"),
                             cli_json_str(h, "id"),
                             state,
                             cli_json_str(h, "accel"),
                             vcpus,
                             ram,
                             disk,
                             inst,
                             beat};
        output_table_add(t, row);
    }
    if (output_table_rows(t) == 0)
        fprintf(stderr, "nubo: %s\n", host_kind.empty);
    else
        output_table_print(t, stdout);
    output_table_free(t);
}

static int host_list(struct cli *cli, int argc, char **argv)
{
    enum { OPT_LIMIT = CLI_OPT_FIRST_FREE };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"limit", required_argument, NULL, OPT_LIMIT},
        {NULL, 0, NULL, 0},
    };
    int c, rc;
    long long limit = 0;
    struct nubo_err err;
    json_t *list = NULL;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(list_usage, stdout);
            return CLI_EXIT_OK;
        } else if (c == OPT_LIMIT) {
            if ((rc = cloud_limit_parse(cli, optarg, &limit)) != 0)
                return rc;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    if ((rc = cli_args_check(cli, argc - optind, 0, 0, "no arguments")) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    if (cloud_list(cli, host_kind.collection, host_kind.key, limit, &list, &err) < 0)
        return cli_fail(cli, &err);
    if (!cli_print_json(cli, list))
        hosts_print(json_object_get(list, host_kind.key));
    json_decref(list);
    return CLI_EXIT_OK;
}

static int host_show(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_show(cli, argc, argv, &host_kind, show_usage);
}

static int host_delete(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_delete(cli, argc, argv, &host_kind, delete_usage);
}

/* POST /v1/hosts/{ref}/actions {action} for argv's one HOST; *out is
 * the answer (the host).  An exit code. */
static int host_action(struct cli *cli, const char *ref, const char *action, json_t **out)
{
    int rc;
    char path[CLOUD_PATH_MAX];
    struct nubo_err err;
    if ((rc = cloud_ref_check(cli, ref, "a host name or id")) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    snprintf(path, sizeof(path), "/v1/hosts/%s/actions", ref);
    json_t *body = json_pack("{s:s}", "action", action);
    int r = cli_call(cli, "POST", path, body, out, &err);
    json_decref(body);
    return r < 0 ? cli_fail(cli, &err) : CLI_EXIT_OK;
}

/* force-remove and undrain: the action, then the host. */
static int host_simple_action(struct cli *cli, int argc, char **argv, const char *usage,
                              const char *action)
{
    int rc;
    json_t *out = NULL;
    if ((rc = cli_options_common(cli, argc, argv, usage, false)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "a host name or id")) != 0 ||
        (rc = host_action(cli, argv[optind], action, &out)) != 0)
        return rc;
    cloud_object_print(cli, out, host_kind.fields, host_kind.nfields);
    json_decref(out);
    return CLI_EXIT_OK;
}

static int host_force_remove(struct cli *cli, int argc, char **argv)
{
    return host_simple_action(cli, argc, argv, force_remove_usage, "force-remove");
}

static int host_undrain(struct cli *cli, int argc, char **argv)
{
    return host_simple_action(cli, argc, argv, undrain_usage, "undrain");
}

/* The drain's end for --wait: 0 when nothing is left, else prints each
 * instance that could not move and fails. */
static int drain_outcome(struct cli *cli, const json_t *h)
{
    const json_t *d = json_object_get(h, "drain");
    const json_t *fails = json_object_get(d, "failures");
    if (json_array_size(fails) == 0)
        return CLI_EXIT_OK;
    size_t i;
    const json_t *f;
    json_array_foreach (fails, i, f) {
        char why[512];
        output_text(cli_json_str_or(f, "reason", "no reason given"), 0, why, sizeof(why));
        fprintf(stderr, "nubo: instance %s stays on %s: %s\n",
                cli_json_str_or(f, "instance_id", "?"), cli_json_str_or(h, "name", "?"), why);
    }
    struct nubo_err err;
    nubo_err_set(&err, NUBO_E_CONFLICT,
                 "host %s is drained but %zu instance(s) could not move (above); deal with "
                 "them and drain again",
                 cli_json_str_or(h, "name", "?"), json_array_size(fails));
    return cli_fail(cli, &err);
}

static int host_drain(struct cli *cli, int argc, char **argv)
{
    enum { OPT_WAIT = CLI_OPT_FIRST_FREE, OPT_TIMEOUT };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"wait", no_argument, NULL, OPT_WAIT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {NULL, 0, NULL, 0},
    };
    int c, rc, timeout_s = CLOUD_WAIT_DEFAULT_S;
    bool wait = false, timeout_set = false;
    struct nubo_err err;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(drain_usage, stdout);
            return CLI_EXIT_OK;
        } else if (c == OPT_WAIT) {
            wait = true;
        } else if (c == OPT_TIMEOUT) {
            if ((rc = cli_timeout_parse(cli, optarg, &timeout_s)) != 0)
                return rc;
            timeout_set = true;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    if (timeout_set && !wait)
        return cli_usage_error(cli, "--timeout goes with --wait");
    json_t *h = NULL;
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "a host name or id")) != 0 ||
        (rc = host_action(cli, argv[optind], "drain", &h)) != 0)
        return rc;
    int64_t deadline = clock_mono_ms() + (int64_t)timeout_s * 1000;
    char path[CLOUD_PATH_MAX], name[72], last[160] = "";
    output_text(cli_json_str_or(h, "name", argv[optind]), 0, name, sizeof(name));
    snprintf(path, sizeof(path), "/v1/hosts/%s", cli_json_str_or(h, "id", argv[optind]));
    while (wait && rc == CLI_EXIT_OK) {
        const char *m = cli_json_str_or(h, "maintenance", "");
        const json_t *d = json_object_get(h, "drain");
        if (strcmp(m, "draining") != 0)
            break;
        char line[160];
        snprintf(line, sizeof(line),
                 "%s: draining, %lld instance(s) left, %lld migrating, %lld "
                 "could not move",
                 name, cli_json_int(d, "left"), cli_json_int(d, "migrating"),
                 cli_json_int(d, "failed"));
        if (strcmp(line, last) != 0) { /* a line when something moved */
            fprintf(stderr, "%s\n", line);
            str_copy(last, sizeof(last), line);
        }
        if (clock_mono_ms() >= deadline) {
            nubo_err_set(&err, NUBO_E_TIMEOUT,
                         "timed out after %d s waiting for the drain of %s (it goes on; 'nubo "
                         "host show %s' follows it)",
                         timeout_s, name, name);
            rc = cli_fail(cli, &err);
            break;
        }
        if (cli_sleep_ms(1000) < 0) {
            rc = CLI_EXIT_INTERRUPTED;
            break;
        }
        json_decref(h);
        h = NULL;
        if (cli_call(cli, "GET", path, NULL, &h, &err) < 0)
            rc = cli_fail(cli, &err);
    }
    if (rc == CLI_EXIT_OK) {
        if (!cli_print_json(cli, h))
            cloud_object_print(cli, h, host_kind.fields, host_kind.nfields);
        if (wait && strcmp(cli_json_str_or(h, "maintenance", ""), "drained") != 0) {
            nubo_err_set(&err, NUBO_E_CONFLICT,
                         "host %s is no longer draining (undrained meanwhile?)", name);
            rc = cli_fail(cli, &err);
        } else if (wait)
            rc = drain_outcome(cli, h);
    }
    json_decref(h);
    return rc;
}

static const char join_command_usage[] =
    "usage: nubo host join-command [--ttl SECONDS] [--controller URL] [--name NAME]\n"
    "\n"
    "Prints one shell line that, run as root on a new server with nubo-hostd\n"
    "installed, joins it to this cloud: it writes a fresh single-use join token\n"
    "(valid --ttl seconds, default 3600) to /etc/nubo/join-token and starts the\n"
    "agent against the controller, which it trusts by its public key pin (nubod\n"
    "serving HTTPS: --tls-auto or --tls-cert).  The line holds a secret: pass it\n"
    "to the new server over a channel you trust.\n"
    "\n"
    "  --ttl SECONDS     how long the token is valid: 60 to 604800 (default 3600)\n"
    "  --controller URL  the address the new host reaches nubod at (default: the\n"
    "                    one this CLI uses; prefer nubod's --agent-listen)\n"
    "  --name NAME       the new host's name (default: its hostname)\n"
    "\n" CLOUD_COMMON_HELP;

static const struct opts_field join_command_fields[] = {
    {.name = "ttl", .key = "ttl_seconds", .type = FIELD_INT, .min = 60, .max = 604800},
    {.name = "controller", .key = "controller", .type = FIELD_STR},
    {.name = "name", .key = "name", .type = FIELD_STR},
};

/* Whether s is safe inside single quotes of a shell line. */
static bool shell_safe(const char *s)
{
    return s && *s && strlen(s) < 512 && strchr(s, '\'') == NULL && strchr(s, '\n') == NULL;
}

static int host_join_command(struct cli *cli, int argc, char **argv)
{
    json_t *body = NULL, *tok = NULL;
    struct nubo_err err;
    int rc = opts_parse(cli, argc, argv, join_command_fields, ARRAY_LEN(join_command_fields),
                        join_command_usage, &body);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    char url[CLI_URL_MAX] = "", name[128] = "";
    const char *given = json_string_value(json_object_get(body, "controller"));
    if ((rc = cli_args_check(cli, argc - optind, 0, 0, "no arguments")) != 0 ||
        (given && (rc = cli_url_check(cli, given, "--controller", url, sizeof(url))) != 0))
        goto done;
    const char *n = json_string_value(json_object_get(body, "name"));
    if (n && (!shell_safe(n) || str_copy(name, sizeof(name), n) < 0)) {
        rc = cli_usage_error(cli, "--name '%.60s' is not a host name", n);
        goto done;
    }
    json_object_del(body, "controller");
    json_object_del(body, "name");
    json_object_set_new(body, "uses", json_integer(1));
    json_object_set_new(body, "note", json_string("nubo host join-command"));
    if ((rc = cloud_connect(cli)) != 0)
        goto done;
    if (!url[0])
        str_copy(url, sizeof(url), client_base_url(cli->client));
    if (cloud_create(cli, "/v1/join-tokens", body, &tok, &err) < 0) {
        rc = cli_fail(cli, &err);
        goto done;
    }
    const char *token = cli_json_str(tok, "token"), *pin = cli_json_str(tok, "controller_pin");
    if (!shell_safe(token) || !shell_safe(url) || (pin && !shell_safe(pin))) {
        nubo_err_set(&err, NUBO_E_INTERNAL, "the controller's answer cannot go into a shell line");
        rc = cli_fail(cli, &err);
        goto done;
    }
    char line[2048];
    snprintf(line, sizeof(line),
             "umask 077 && mkdir -p /etc/nubo && printf '%%s\\n' '%s' > /etc/nubo/join-token &&"
             " nubo-hostd --controller '%s'%s%s%s --join-token-file /etc/nubo/join-token%s%s%s",
             token, url, pin ? " --controller-pin '" : "", pin ? pin : "", pin ? "'" : "",
             name[0] ? " --name '" : "", name, name[0] ? "'" : "");
    if (cli->output == OUTPUT_JSON) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:s}", "command", line, "controller", url,
                              "token_id", cli_json_str(tok, "id"), "controller_pin", pin,
                              "expires_at", cli_json_str(tok, "expires_at"));
        cli_print_json(cli, o);
        json_decref(o);
    } else {
        printf("%s\n", line);
        fprintf(stderr, "nubo: single use, valid until %s; it holds a secret\n",
                cli_json_str(tok, "expires_at"));
    }
    if (pin == NULL)
        fprintf(stderr, "nubo: warning: nubod serves plain HTTP: the join token would cross the"
                        " network in clear; start nubod with --tls-auto for hosts elsewhere\n");
done:
    json_decref(body);
    json_decref(tok);
    return rc;
}

int cmd_host(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", host_list},
        {"show", host_show},
        {"delete", host_delete},
        {"force-remove", host_force_remove},
        {"drain", host_drain},
        {"undrain", host_undrain},
        {"join-command", host_join_command},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), host_usage);
}
