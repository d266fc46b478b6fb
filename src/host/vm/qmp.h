/*
 * qmp.h - a client for the QEMU Machine Protocol (JSON over a Unix socket).
 *
 * Wire format (docs/interop/qmp-spec in QEMU): the server greets with
 * {"QMP": {...}}; the client must send {"execute": "qmp_capabilities"} before
 * anything else.  Then every command is {"execute": NAME, "arguments": {...},
 * "id": N} and is answered by exactly one {"return": ..., "id": N} or
 * {"error": {"class": C, "desc": D}, "id": N}.  Asynchronous events
 * {"event": NAME, "data": {...}, "timestamp": {...}} may arrive at any time,
 * also between a command and its reply.  Each message is one line.
 *
 * This client sends one command at a time and waits (with a deadline) for the
 * reply carrying its id; replies with other ids (late answers to commands
 * that timed out) are dropped.  Events read while waiting are queued and
 * handed to the event callback only from qmp_process(), never from inside
 * qmp_command(), so callers never see re-entrant callbacks.
 *
 * A line longer than QMP_LINE_MAX, a reply that is not a JSON object or
 * has neither "return" nor "error", or a greeting without "QMP" is a protocol
 * error: the connection is then considered broken.
 */
#ifndef NUBO_HOST_QMP_H
#define NUBO_HOST_QMP_H

#include <jansson.h>

#include "lib/err.h"

#define QMP_LINE_MAX (1u << 20)

struct qmp;

/* Called for each event, with its name and its "data" object (borrowed,
 * may be NULL). */
typedef void (*qmp_event_fn)(void *ctx, const char *event, json_t *data);

/* Wraps a connected socket (takes ownership of fd). */
struct qmp *qmp_new(int fd, qmp_event_fn on_event, void *ctx);

/* Connects to a Unix socket, retrying until timeout_ms while it does not
 * exist yet or refuses (QEMU still starting), then does the handshake. */
struct qmp *qmp_connect(const char *path, int timeout_ms, qmp_event_fn on_event, void *ctx,
                        struct nubo_err *err);

/* Reads the greeting and negotiates capabilities. */
int qmp_handshake(struct qmp *q, int timeout_ms, struct nubo_err *err);

/* Runs a command and waits for its reply.  args (may be NULL) is stolen.
 * Returns the "return" value as a new reference, or NULL with err: QEMU's
 * error class and description, a timeout, or a broken connection. */
json_t *qmp_command(struct qmp *q, const char *name, json_t *args, int timeout_ms,
                    struct nubo_err *err);

/* The socket, to poll for POLLIN. */
int qmp_fd(const struct qmp *q);

/* True when events are queued and qmp_process() should run even without
 * input on the socket. */
int qmp_pending(const struct qmp *q);

/* Reads what is available without blocking and dispatches queued events.
 * Returns 0, or -1 when the connection is closed or broken (err says how). */
int qmp_process(struct qmp *q, struct nubo_err *err);

/* Closes the socket and frees q (NULL is fine). */
void qmp_free(struct qmp *q);

#endif
