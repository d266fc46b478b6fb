/*
 * cmd.h - the command groups of `nubo`, one file each: cmd_host.c,
 * cmd_image.c, cmd_vm.c.
 *
 * Each takes the arguments from its group word on (argv[0] is "vm"...),
 * runs one subcommand through cli_dispatch() and returns the process exit
 * status (enum cli_exit).
 */
#ifndef NUBO_CLI_CMD_H
#define NUBO_CLI_CMD_H

#include "cli/cli.h"

/* nubo host info */
int cmd_host(struct cli *cli, int argc, char **argv);

/* nubo image list */
int cmd_image(struct cli *cli, int argc, char **argv);

/* nubo vm list|create|show|start|stop|reboot|pause|resume|delete|console|wait */
int cmd_vm(struct cli *cli, int argc, char **argv);

#endif
