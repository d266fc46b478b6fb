/*
 * cmdtree.h - nubo's commands as a tree, read from the tables the commands
 * really parse with: the top-level table of main.c, the subcommand table
 * every group hands to cli_dispatch(), and the option table every command
 * hands to cli_getopt(), each command with its --help text.  Built by a
 * walk (cli.h's struct cli_walker); `nubo completion` prints the shell
 * completions and the manual's command reference from it, so neither can
 * drift from the commands.
 */
#ifndef NUBO_CLI_CMDTREE_H
#define NUBO_CLI_CMDTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/cli.h"
#include "lib/err.h"

/* One option: "--url" or "-o". */
struct cmdtree_opt {
    char *name;
    bool arg; /* takes a value (in the next word, or after '=') */
};

struct cmdtree {
    char *word;            /* "create"; "nubo" at the root */
    char *path;            /* the words after "nubo": "flavor create" ("" at the root) */
    char *help;            /* the --help text, or NULL when the command printed none */
    bool group;            /* has subcommands */
    bool reached;          /* the command handed over its option table */
    struct cmdtree **subs; /* a group's subcommands, in their table's order */
    size_t nsubs;
    struct cmdtree_opt *opts; /* in their tables' order, each name once */
    size_t nopts;
};

/* Walks every command from cli->root (set by main()), leaving out the
 * top-level command whose function is `hidden` (the caller: `nubo
 * completion` is not part of what it prints).  stdout is captured per
 * command (the --help texts) and is the caller's again on return.  Returns
 * the tree (the caller frees it with cmdtree_free()), or NULL with err. */
struct cmdtree *cmdtree_build(struct cli *cli, int (*hidden)(struct cli *, int, char **),
                              struct nubo_err *err);

/* Frees the tree (NULL is fine). */
void cmdtree_free(struct cmdtree *t);

#endif
