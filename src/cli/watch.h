/*
 * watch.h - following a VM over time by polling the agent: until it reaches
 * a state, until its guest says it is ready, or along its serial console.
 *
 * The host protocol has no events, so these poll: the VM every 200 ms, the
 * console every 250 ms (GET /v1/vms/{ref}/console?offset=N, continuing from
 * the X-Console-Offset of each answer).  Progress goes to stderr.  All of
 * them end early, with -1, after Ctrl-C (cli_interrupted()).
 *
 * "Ready" means the guest printed a line containing NUBO-READY on its
 * serial console (nubo images do once booted; see images/guest-init.sh).
 */
#ifndef NUBO_CLI_WATCH_H
#define NUBO_CLI_WATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cli/cli.h"
#include "lib/err.h"

#define WATCH_READY_MARKER "NUBO-READY"

/* True for the states in which the VM has a QEMU process. */
bool watch_state_has_process(const char *state);

/* Waits until VM ref is in state `target` ("running", "stopped",
 * "crashed"...), polling every 200 ms for at most timeout_s seconds, with a
 * progress line "label... Ns".  Fails at once (NUBO_E_CONFLICT, the VM's
 * reason in the message) when the VM has no process and is not in the
 * target state: nothing will move it there by itself.  On success *vm_out,
 * if vm_out is not NULL, holds the VM's last JSON (the caller's). */
int watch_state(struct cli *cli, const char *ref, const char *target, int timeout_s,
                const char *label, json_t **vm_out, struct nubo_err *err);

/* Waits until the console, read from byte `offset` on, shows a line
 * containing WATCH_READY_MARKER, for at most timeout_s seconds.  Fails when
 * the VM stops or crashes first (its reason in the message) or on timeout
 * (NUBO_E_TIMEOUT).  On success copies the line (control characters
 * removed) into line. */
int watch_ready(struct cli *cli, const char *ref, long long offset, int timeout_s,
                const char *label, char *line, size_t line_size, struct nubo_err *err);

/* Writes the console bytes from `offset` (negative: that many bytes before
 * the end) to out, as they are.  With follow, keeps polling for new bytes
 * until the VM has no process any more or Ctrl-C (both a normal end). */
int watch_console(struct cli *cli, const char *ref, long long offset, bool follow, FILE *out,
                  struct nubo_err *err);

/* Sets *end to the offset a reader should start from to see only console
 * output written from now on. */
int watch_console_end(struct cli *cli, const char *ref, long long *end, struct nubo_err *err);

#endif
