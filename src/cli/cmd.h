/*
 * cmd.h - the command groups of `nubo`, one file each (cmd_<group>.c).
 *
 * Each takes the arguments from its group word on (argv[0] is "instance"...),
 * runs one subcommand (through cli_dispatch() for groups) and returns the
 * process exit status (enum cli_exit).
 */
#ifndef NUBO_CLI_CMD_H
#define NUBO_CLI_CMD_H

#include "cli/cli.h"

/* ------------------------------------ the host agent, without a controller */

/* nubo agent info | image list | vm ... */
int cmd_agent(struct cli *cli, int argc, char **argv);

/* nubo agent vm list|create|show|start|stop|reboot|pause|resume|delete|console|wait */
int cmd_agent_vm(struct cli *cli, int argc, char **argv);

/* ------------------------------------------------------- the controller */

/* nubo login [URL] --user NAME (cmd_auth.c) */
int cmd_login(struct cli *cli, int argc, char **argv);

/* nubo logout (cmd_auth.c) */
int cmd_logout(struct cli *cli, int argc, char **argv);

/* nubo whoami (cmd_auth.c) */
int cmd_whoami(struct cli *cli, int argc, char **argv);

/* nubo project list|create|show|delete|members */
int cmd_project(struct cli *cli, int argc, char **argv);

/* nubo role set|remove */
int cmd_role(struct cli *cli, int argc, char **argv);

/* nubo user list|create|show|delete|passwd */
int cmd_user(struct cli *cli, int argc, char **argv);

/* nubo apikey list|create|delete */
int cmd_apikey(struct cli *cli, int argc, char **argv);

/* nubo join-token list|create|delete */
int cmd_join_token(struct cli *cli, int argc, char **argv);

/* nubo quota show|set */
int cmd_quota(struct cli *cli, int argc, char **argv);

/* nubo flavor list|create|show|delete|grant */
int cmd_flavor(struct cli *cli, int argc, char **argv);

/* nubo image list|create|show|delete */
int cmd_image(struct cli *cli, int argc, char **argv);

/* nubo keypair list|create|show|delete */
int cmd_keypair(struct cli *cli, int argc, char **argv);

/* nubo server-group list|create|show|delete */
int cmd_server_group(struct cli *cli, int argc, char **argv);

/* nubo volume list|create|show|rename|extend|delete|types (cmd_volume.c) */
int cmd_volume(struct cli *cli, int argc, char **argv);

/* nubo snapshot list|create|show|rename|delete (cmd_snapshot.c) */
int cmd_snapshot(struct cli *cli, int argc, char **argv);

/* nubo network|subnet|port|security-group (sg)|floating-ip ... (cmd_network.c) */
int cmd_network(struct cli *cli, int argc, char **argv);
int cmd_subnet(struct cli *cli, int argc, char **argv);
int cmd_port(struct cli *cli, int argc, char **argv);
int cmd_security_group(struct cli *cli, int argc, char **argv);
int cmd_sg(struct cli *cli, int argc, char **argv); /* = cmd_security_group */
int cmd_floating_ip(struct cli *cli, int argc, char **argv);

/* nubo instance list|create|show|delete|start|stop|reboot|console|events */
int cmd_instance(struct cli *cli, int argc, char **argv);

/* nubo task show|list */
int cmd_task(struct cli *cli, int argc, char **argv);

/* nubo recovery show|finish (after nubod --restore) */
int cmd_recovery(struct cli *cli, int argc, char **argv);

/* nubo host list|show|delete */
int cmd_host(struct cli *cli, int argc, char **argv);

/* nubo audit (cmd_audit.c) */
int cmd_audit(struct cli *cli, int argc, char **argv);

/* nubo metrics INSTANCE [--metric M] [--since D] [--step S] (cmd_metrics.c) */
int cmd_metrics(struct cli *cli, int argc, char **argv);

/* nubo alarm list|create|show|delete|history */
int cmd_alarm(struct cli *cli, int argc, char **argv);

/* nubo template|group|policy|schedule ... (autoscaling, cmd_scale.c) */
int cmd_template(struct cli *cli, int argc, char **argv);
int cmd_group(struct cli *cli, int argc, char **argv);
int cmd_policy(struct cli *cli, int argc, char **argv);
int cmd_schedule(struct cli *cli, int argc, char **argv);

/* nubo usage (cmd_usage.c) */
int cmd_usage(struct cli *cli, int argc, char **argv);

/* nubo invoice show|list|export|cost|showback */
int cmd_invoice(struct cli *cli, int argc, char **argv);

/* nubo price list|set */
int cmd_price(struct cli *cli, int argc, char **argv);

/* nubo budget show|set|delete|notifications */
int cmd_budget(struct cli *cli, int argc, char **argv);

/* nubo stack plan|apply|list|show|events|outputs|resources|drift|destroy */
int cmd_stack(struct cli *cli, int argc, char **argv);

/* nubo completion bash|zsh|help2man (hidden; cmd_completion.c) */
int cmd_completion(struct cli *cli, int argc, char **argv);

#endif
