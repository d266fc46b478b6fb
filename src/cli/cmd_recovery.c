/*
 * cmd_recovery.c - `nubo recovery ...`: a cloud restored from a backup
 * (nubod --restore) keeps the VMs that no restored instance claims
 * (quarantined) until a cloud admin has looked and finishes the recovery.
 *
 *   show      GET /v1/recovery
 *   finish    POST /v1/recovery/actions {"action": "finish"}
 */
#include <stdio.h>

#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/output.h"
#include "lib/util.h"

static const char recovery_usage[] =
    "usage: nubo recovery COMMAND\n"
    "\n"
    "A controller restored from a backup (nubod --restore) starts recovering:\n"
    "VMs on the hosts that no restored instance claims - made after the backup -\n"
    "are quarantined (left running, listed here) instead of removed.\n"
    "\n"
    "Commands (cloud admins only):\n"
    "  show      whether the cloud is recovering, and the quarantined VMs\n"
    "  finish    end the recovery: the quarantined VMs are then removed as\n"
    "            orphans by the reconciler\n"
    "\n" CLOUD_COMMON_HELP;

static const char show_usage[] = "usage: nubo recovery show\n"
                                 "\n"
                                 "Whether the cloud is recovering from a backup, and the VMs\n"
                                 "quarantined meanwhile.\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char finish_usage[] =
    "usage: nubo recovery finish\n"
    "\n"
    "Ends the recovery.  The quarantined VMs belong to no instance: the reconciler\n"
    "removes them on its next passes.  Keep what you need from them first (e.g. with\n"
    "'nubo agent vm' on their host).\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col vm_cols[] = {
    {"HOST", "host", CLOUD_STR},
    {"VM", "vm", CLOUD_STR},
    {"STATE", "state", CLOUD_STR},
    {"SINCE", "since", CLOUD_STR},
};

/* Prints the report r for people. */
static void report_print(const json_t *r)
{
    char a[64], b[64];
    if (!json_is_true(json_object_get(r, "recovering"))) {
        printf("not recovering\n");
        return;
    }
    output_text(cli_json_str(r, "backup_taken_at"), 0, a, sizeof(a));
    output_text(cli_json_str(r, "restored_at"), 0, b, sizeof(b));
    printf("recovering: restored at %s from a backup of %s\n", b, a);
    cloud_table_print(json_object_get(r, "quarantined"), vm_cols, ARRAY_LEN(vm_cols),
                      "no quarantined VMs (yet: the reconciler lists them as it visits hosts)");
}

/* GET or POST (action finish) and print. */
static int recovery_run(struct cli *cli, int argc, char **argv, const char *usage, bool finish)
{
    int rc;
    struct nubo_err err;
    json_t *out = NULL;
    if ((rc = cli_options_common(cli, argc, argv, usage, false)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 0, 0, "no arguments")) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    json_t *body = finish ? json_pack("{s:s}", "action", "finish") : NULL;
    int r = finish ? cli_call(cli, "POST", "/v1/recovery/actions", body, &out, &err)
                   : cli_call(cli, "GET", "/v1/recovery", NULL, &out, &err);
    json_decref(body);
    if (r < 0)
        return cli_fail(cli, &err);
    if (!cli_print_json(cli, out)) {
        if (finish)
            printf("recovery finished: %zu quarantined VM(s) will be removed as orphans\n",
                   json_array_size(json_object_get(out, "quarantined")));
        else
            report_print(out);
    }
    json_decref(out);
    return CLI_EXIT_OK;
}

static int recovery_show(struct cli *cli, int argc, char **argv)
{
    return recovery_run(cli, argc, argv, show_usage, false);
}

static int recovery_finish(struct cli *cli, int argc, char **argv)
{
    return recovery_run(cli, argc, argv, finish_usage, true);
}

int cmd_recovery(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"show", recovery_show},
        {"finish", recovery_finish},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), recovery_usage);
}
