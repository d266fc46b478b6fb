/*
 * spawn.h - running external programs, always from an argv array.
 *
 * There is no shell anywhere in nubo (ARCHITECTURE.md, principle 5): callers
 * build argv from validated values, and these helpers exec it directly.
 */
#ifndef NUBO_SPAWN_H
#define NUBO_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#include "lib/err.h"

/* Runs argv[0] (looked up in PATH) to completion, with stdin from /dev/null
 * and stdout+stderr captured (at most out_cap bytes kept).  Kills it after
 * timeout_ms.  Returns 0 when it exited with status 0; otherwise -1 with err
 * naming the program and quoting the first line it printed.  When out is not
 * NULL it receives the malloc'd, NUL-terminated output (caller frees),
 * whatever the result. */
int spawn_run(char *const argv[], int timeout_ms, size_t out_cap, char **out, struct nubo_err *err);

struct spawn_opts {
    const char *log_path;       /* stdout and stderr appended here; NULL = /dev/null */
    const char *const *cgroups; /* NULL-terminated list of cgroup.procs files to join */
    int keep_fd;                /* an fd the child keeps open (-1: none) */
};

/* Starts argv as a detached daemon: a new session (so signals to the
 * caller's terminal do not reach it), stdin on /dev/null, all other file
 * descriptors closed.  Reports an exec failure synchronously.  Returns the
 * child's pid (the caller must reap it with waitpid when it exits), or -1. */
pid_t spawn_detached(char *const argv[], const struct spawn_opts *opts, struct nubo_err *err);

/* Human-readable description of a wait status: "exited with status 1",
 * "killed by signal 9 (SIGKILL)".  Writes into buf and returns it. */
const char *spawn_status_str(int status, char *buf, size_t n);

#endif
