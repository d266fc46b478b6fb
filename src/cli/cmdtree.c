/*
 * cmdtree.c - see cmdtree.h.
 *
 * The walk: the root node gets main()'s table; each command of a group is
 * run as `WORD` alone while a walker is set, with stdout sent to a
 * temporary file.  A group's cli_dispatch() calls walk_group(), which walks
 * its subcommands the same way (the nodes nest as the calls do); a
 * command's first cli_getopt() call lands in walk_options() and answers
 * 'h', so the command prints its --help into the file and returns.
 */
#include "cli/cmdtree.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/dynbuf.h"
#include "lib/util.h"

#define HELP_MAX (256 * 1024) /* one command's --help text at most */
#define DEPTH_MAX 8           /* groups in groups: nubo agent vm create is 3 */

struct walk {
    struct cli *cli;
    struct cmdtree *cur; /* the command being run */
    int depth;
    int error; /* the errno of the first failed capture, 0 if none */
};

static struct cmdtree *node_new(const char *word, const char *parent_path)
{
    struct cmdtree *t = xcalloc(1, sizeof(*t));
    t->word = xstrdup(word);
    if (parent_path == NULL || *parent_path == '\0') {
        t->path = xstrdup(parent_path ? word : "");
    } else {
        size_t n = strlen(parent_path) + strlen(word) + 2;
        t->path = xmalloc(n);
        snprintf(t->path, n, "%s %s", parent_path, word);
    }
    return t;
}

static void opt_add(struct cmdtree *t, const char *name, bool arg)
{
    for (size_t i = 0; i < t->nopts; i++)
        if (strcmp(t->opts[i].name, name) == 0)
            return;
    struct cmdtree_opt *n = realloc(t->opts, (t->nopts + 1) * sizeof(*n));
    if (n == NULL)
        abort(); /* as xmalloc */
    t->opts = n;
    t->opts[t->nopts].name = xstrdup(name);
    t->opts[t->nopts].arg = arg;
    t->nopts++;
}

/* The walker's options(): the long options, then the short ones of the
 * optstring ("+:ho:V": '+' and ':' at the start are getopt's flags, a ':'
 * after a letter says it takes a value). */
static void walk_options(void *ctx, const char *optstring, const struct option *longopts)
{
    struct walk *w = ctx;
    char name[64];
    w->cur->reached = true;
    for (const struct option *o = longopts; o && o->name; o++) {
        snprintf(name, sizeof(name), "--%s", o->name);
        /* An optional value only ever follows '=': the next word is not it. */
        opt_add(w->cur, name, o->has_arg == required_argument);
    }
    const char *p = optstring;
    while (*p == '+' || *p == '-' || *p == ':')
        p++;
    for (; *p; p++) {
        if (*p == ':')
            continue;
        snprintf(name, sizeof(name), "-%c", *p);
        opt_add(w->cur, name, p[1] == ':' && p[2] != ':');
    }
}

/* Runs the command `run` as node t (a new child of the current node):
 * `WORD` alone, its stdout into a temporary file that becomes t->help. */
static void walk_run(struct walk *w, struct cmdtree *t, int (*run)(struct cli *, int, char **))
{
    struct cmdtree *parent = w->cur;
    char saved_cmd[sizeof(w->cli->cmd)];
    char *argv[2] = {t->word, NULL};
    FILE *tmp = NULL;
    int saved_fd = -1;

    if (w->depth >= DEPTH_MAX) {
        w->error = w->error ? w->error : ELOOP;
        return;
    }
    fflush(stdout);
    if ((tmp = tmpfile()) == NULL || (saved_fd = dup(STDOUT_FILENO)) < 0 ||
        dup2(fileno(tmp), STDOUT_FILENO) < 0) {
        w->error = w->error ? w->error : errno;
        goto cleanup;
    }
    memcpy(saved_cmd, w->cli->cmd, sizeof(saved_cmd));
    cli_enter(w->cli, t->word);
    w->cur = t;
    w->depth++;
    run(w->cli, 1, argv);
    w->depth--;
    w->cur = parent;
    memcpy(w->cli->cmd, saved_cmd, sizeof(saved_cmd));
    fflush(stdout);
    dup2(saved_fd, STDOUT_FILENO);

    if (t->help == NULL && fseek(tmp, 0, SEEK_SET) == 0) {
        struct dynbuf b = DYNBUF_INIT(HELP_MAX);
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), tmp)) > 0)
            dynbuf_add(&b, chunk, n);
        if (dynbuf_error(&b) == 0 && dynbuf_len(&b) > 0)
            t->help = dynbuf_take(&b, NULL);
        dynbuf_free(&b);
    }
cleanup:
    if (saved_fd >= 0)
        close(saved_fd);
    if (tmp)
        fclose(tmp);
}

static void walk_subs(struct walk *w, struct cmdtree *t, const struct cli_command *cmds,
                      size_t ncmds, int (*hidden)(struct cli *, int, char **))
{
    t->group = true;
    for (size_t i = 0; i < ncmds; i++) {
        if (cmds[i].run == hidden)
            continue;
        struct cmdtree *sub = node_new(cmds[i].name, t->path);
        struct cmdtree **n = realloc(t->subs, (t->nsubs + 1) * sizeof(*n));
        if (n == NULL)
            abort(); /* as xmalloc */
        t->subs = n;
        t->subs[t->nsubs++] = sub;
        walk_run(w, sub, cmds[i].run);
    }
}

/* The walker's group(): called by cli_dispatch() of the current node. */
static void walk_group(void *ctx, struct cli *cli, const struct cli_command *cmds, size_t ncmds,
                       const char *usage)
{
    struct walk *w = ctx;
    struct cmdtree *t = w->cur;
    (void)cli;
    if (t->help == NULL && usage)
        t->help = xstrdup(usage);
    walk_subs(w, t, cmds, ncmds, NULL);
}

struct cmdtree *cmdtree_build(struct cli *cli, int (*hidden)(struct cli *, int, char **),
                              struct nubo_err *err)
{
    const struct cli_root *root = cli->root;
    if (root == NULL) {
        nubo_err_set(err, NUBO_E_INTERNAL, "no command table to walk");
        return NULL;
    }
    struct cmdtree *t = node_new("nubo", NULL);
    struct walk w = {.cli = cli, .cur = t};
    struct cli_walker walker = {.options = walk_options, .group = walk_group, .ctx = &w};
    if (root->usage)
        t->help = xstrdup(root->usage);
    walk_options(&w, root->optstring, root->opts);
    cli_walk_set(&walker);
    walk_subs(&w, t, root->cmds, root->ncmds, hidden);
    cli_walk_set(NULL);
    if (w.error) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot walk the commands: %s", strerror(w.error));
        cmdtree_free(t);
        return NULL;
    }
    return t;
}

void cmdtree_free(struct cmdtree *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nsubs; i++)
        cmdtree_free(t->subs[i]);
    for (size_t i = 0; i < t->nopts; i++)
        free(t->opts[i].name);
    free(t->subs);
    free(t->opts);
    free(t->word);
    free(t->path);
    free(t->help);
    free(t);
}
