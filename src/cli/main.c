/*
 * main.c - nubo, the command-line client of nubo: the cloud through the
 * controller's REST API (nubod), or the VMs of one server through its host
 * agent (`nubo agent ...`, "virtualization without cloud").
 *
 * main() only sets up (curl, signals), reads the options that come before
 * the command group and hands over to the group (cmd.h).
 */
#include <curl/curl.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/cmd.h"
#include "lib/util.h"

static const char usage[] =
    "usage: nubo [options] COMMAND ...\n"
    "\n"
    "The command-line client of nubo: the cloud through its controller (nubod), or\n"
    "one server's VMs through its host agent (nubo agent ...).\n"
    "\n"
    "Session:\n"
    "  login [URL] --user NAME       log in to a controller (kept in ~/.config/nubo)\n"
    "  logout                        revoke the token and forget it\n"
    "  whoami                        the user, project and role of the token\n"
    "\n"
    "Cloud:\n"
    "  instance list|create|show|delete|start|stop|reboot|console|events\n"
    "  flavor list|create|show|delete|grant\n"
    "  image list|create|show|delete\n"
    "  keypair list|create|show|delete\n"
    "  server-group list|create|show|delete\n"
    "  volume list|create|show|rename|extend|delete|types   block storage\n"
    "  snapshot list|create|show|rename|delete   volume snapshots\n"
    "  network|subnet|port|security-group (sg)|floating-ip ...   tenant networking\n"
    "  task show|list                the operations on instances\n"
    "  quota show|set                a project's limits and usage\n"
    "  project list|create|show|delete|members\n"
    "  role set|remove               a user's role in a project\n"
    "  user list|create|show|delete|passwd\n"
    "  apikey list|create|delete     long-lived tokens for scripts\n"
    "  metrics INSTANCE [--metric M] [--since 1h]   an instance's metric, charted\n"
    "  alarm list|create|show|delete|history        alarms on metrics\n"
    "  template, group, policy, schedule ...        autoscaling: launch templates,\n"
    "                                               groups, policies, schedules\n"
    "  usage                         usage records: what was billable, and how long\n"
    "  invoice show|list|export|cost|showback       what a project costs\n"
    "  price list|set                the price catalog (set: admin)\n"
    "  budget show|set|delete|notifications         a project's monthly budget\n"
    "  stack plan|apply|list|show|events|outputs|resources|drift|destroy\n"
    "                                infrastructure as code: templates applied as a unit\n"
    "  host list|show|delete         the hypervisor hosts (admin)\n"
    "  join-token list|create|delete tokens new hosts join with (admin)\n"
    "  recovery show|finish          after a restore from a backup (admin)\n"
    "  audit                         who did what (admin)\n"
    "\n"
    "This server only, without a controller:\n"
    "  agent info | agent image list | agent vm ...   (see 'nubo agent --help')\n"
    "\n"
    "'nubo COMMAND --help' describes each command.\n"
    "\n"
    "Options, accepted before or after the command words:\n"
    "  --url http://ADDR:PORT   the controller (env NUBO_URL; default: the one of\n"
    "                           'nubo login'); for 'nubo agent': the agent over TCP\n"
    "  --token-file FILE        the bearer token, first line of FILE (env NUBO_TOKEN\n"
    "                           holds a token for the controller)\n"
    "  --socket PATH            'nubo agent' only: the agent's Unix socket (default\n"
    "                           " CLI_DEFAULT_SOCKET ", env NUBO_HOSTD_SOCKET)\n"
    "  -o, --output FORMAT      table (for people, the default) or json (the API's\n"
    "                           JSON, for scripts)\n"
    "  -h, --help               this text\n"
    "  -V, --version            print the version\n"
    "\n"
    "Results go to stdout; progress and errors go to stderr.\n"
    "Exit status: 0 done; 1 the request failed (API error, timeout, an instance that\n"
    "went to error, a session that expired); 2 usage error; 3 the server cannot be\n"
    "reached, or not logged in; 130 interrupted.\n";

/* Added commands go one per line, which keeps merges of this table simple. */
/* clang-format off */
static const struct cli_command groups[] = {
    {"login", cmd_login},     {"logout", cmd_logout},
    {"whoami", cmd_whoami},   {"instance", cmd_instance},
    {"flavor", cmd_flavor},   {"image", cmd_image},
    {"keypair", cmd_keypair}, {"server-group", cmd_server_group},
    {"task", cmd_task},       {"quota", cmd_quota},
    {"project", cmd_project}, {"role", cmd_role},
    {"user", cmd_user},       {"apikey", cmd_apikey},
    {"host", cmd_host},       {"audit", cmd_audit},
    {"metrics", cmd_metrics}, {"alarm", cmd_alarm},
    {"usage", cmd_usage},     {"invoice", cmd_invoice},
    {"price", cmd_price},     {"budget", cmd_budget},
    {"network", cmd_network}, {"subnet", cmd_subnet},
    {"port", cmd_port},       {"security-group", cmd_security_group},
    {"sg", cmd_sg},           {"floating-ip", cmd_floating_ip},
    {"agent", cmd_agent},
    {"join-token", cmd_join_token},
    {"template", cmd_template},
    {"group", cmd_group},
    {"policy", cmd_policy},
    {"schedule", cmd_schedule},
    {"stack", cmd_stack},
    {"volume", cmd_volume},
    {"recovery", cmd_recovery},
    {"snapshot", cmd_snapshot},
    {"completion", cmd_completion}, /* hidden: not in the usage text */
};
/* clang-format on */

static const struct option opts[] = {
    CLI_COMMON_OPTIONS,
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

#define OPTSTRING "+" CLI_SHORT_OPTIONS "V"

static const struct cli_root root = {
    .cmds = groups,
    .ncmds = ARRAY_LEN(groups),
    .optstring = OPTSTRING,
    .opts = opts,
    .usage = usage,
};

int main(int argc, char **argv)
{
    struct cli cli;
    int rc = CLI_EXIT_USAGE, c;
    cli_init(&cli);
    cli.root = &root;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("nubo: cannot initialize libcurl\n", stderr);
        return CLI_EXIT_FAIL;
    }
    cli_signals_install();

    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, OPTSTRING, opts)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            rc = CLI_EXIT_OK;
            goto cleanup;
        }
        if (c == 'V') {
            printf("nubo %s\n", NUBO_VERSION);
            rc = CLI_EXIT_OK;
            goto cleanup;
        }
        if ((rc = cli_option(&cli, c, argv)) != 0)
            goto cleanup;
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        rc = CLI_EXIT_USAGE;
        goto cleanup;
    }
    rc = cli_run_word(&cli, argc, argv, groups, ARRAY_LEN(groups));
cleanup:
    cli_close(&cli);
    curl_global_cleanup();
    return rc;
}
