/*
 * main.c - nubo, the command-line client of the host agent: manage the VMs
 * of one server by talking to its nubo-hostd ("virtualization without
 * cloud").
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
    "Manage the virtual machines of this server through its host agent, nubo-hostd.\n"
    "\n"
    "Commands:\n"
    "  host info                     capabilities and capacity of this host\n"
    "  image list                    base images to create VMs from\n"
    "  vm list                       the VMs of this host\n"
    "  vm create NAME --image IMG    define and start a VM\n"
    "  vm show REF                   one VM in detail, with live stats\n"
    "  vm start|reboot|pause|resume REF\n"
    "  vm stop REF                   power a VM off (ACPI, forced at a deadline)\n"
    "  vm delete REF...              force VMs off and remove them with their disks\n"
    "  vm console REF                the VM's serial console (--follow like tail -f)\n"
    "  vm wait REF --for STATE       wait until ready, running, stopped or crashed\n"
    "REF is a VM's name or id.  'nubo COMMAND --help' describes each command.\n"
    "\n"
    "Options, accepted before or after the command words:\n"
    "  --socket PATH            the agent's Unix socket (default " CLI_DEFAULT_SOCKET ";\n"
    "                           env NUBO_HOSTD_SOCKET)\n"
    "  --url http://ADDR:PORT   talk to the agent over TCP instead (env NUBO_HOSTD_URL)\n"
    "  --token-file FILE        its bearer token, first line of FILE (env NUBO_TOKEN_FILE)\n"
    "  -o, --output FORMAT      table (for people, the default) or json (the API's\n"
    "                           JSON, for scripts)\n"
    "  -h, --help               this text\n"
    "  -V, --version            print the version\n"
    "\n"
    "Results go to stdout; progress and errors go to stderr.\n"
    "Exit status: 0 done; 1 the request failed (API error, timeout); 2 usage error;\n"
    "3 nubo-hostd cannot be reached; 130 interrupted.\n";

static const struct cli_command groups[] = {
    {"host", cmd_host},
    {"image", cmd_image},
    {"vm", cmd_vm},
};

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct cli cli;
    int rc = CLI_EXIT_USAGE, c;
    cli_init(&cli);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("nubo: cannot initialize libcurl\n", stderr);
        return CLI_EXIT_FAIL;
    }
    cli_signals_install();

    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, "+" CLI_SHORT_OPTIONS "V", opts, NULL)) != -1) {
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
