/*
 * agent_client.h - the controller's client of host protocol v1
 * (docs/internals/host-protocol.md), over libcurl.
 *
 * A host's address is "unix:/path/to/hostd.sock" or "http://ADDR:PORT";
 * its agent token (may be empty on a Unix socket) is sent as a bearer
 * token.  Every call has a timeout; failures are NUBO_E_UNAVAILABLE with a
 * message naming the host.  Thread-safe: each call uses its own handle.
 */
#ifndef NUBO_LIB_AGENT_CLIENT_H
#define NUBO_LIB_AGENT_CLIENT_H

#include <jansson.h>
#include <stddef.h>

#include "lib/err.h"

/* The controller names the VM of instance <id> "nubo-<id>" on its host;
 * agents treat names as opaque, the controller's modules (compute, fleet,
 * monitor, the reconciler) map them back to instances. */
#define AGENT_VM_PREFIX "nubo-"

struct agent_target {
    const char *name;    /* host name, for messages */
    const char *address; /* "unix:/path" or "http://addr:port" */
    const char *token;   /* "" or NULL when none */
};

/* Sends method + path with an optional JSON body (borrowed).  On an HTTP
 * answer returns 0 with *status and *out (the parsed JSON body, or NULL
 * when empty/not JSON; caller decrefs).  -1 with err when the agent cannot
 * be reached or times out. */
int agent_call(const struct agent_target *t, const char *method, const char *path,
               const json_t *body, int timeout_ms, long *status, json_t **out,
               struct nubo_err *err);

/* Reads the VM's console: bytes from offset (negative = from the end), at
 * most limit.  Returns a malloc'd buffer (caller frees) with its length in
 * *len and the next offset in *next, or NULL with err. */
char *agent_console(const struct agent_target *t, const char *vm, long long offset, int limit,
                    size_t *len, long long *next, struct nubo_err *err);

/* Uploads a local file to the agent's image store:
 * PUT /v1/images/{name}/{part} (part = disk | kernel | initrd | cmdline)
 * with the file streamed as the body, and the expected SHA-256 (hex) in
 * X-Checksum-Sha256.  Stalls (not size) time it out.  0 on a 2xx answer,
 * else -1 with err (the agent's detail when it answered). */
int agent_put_file(const struct agent_target *t, const char *image, const char *part,
                   const char *path, const char *sha256, struct nubo_err *err);

/* Like agent_put_file with len bytes of memory as the body (a cmdline). */
int agent_put_data(const struct agent_target *t, const char *image, const char *part,
                   const void *data, size_t len, const char *sha256, struct nubo_err *err);

/* Fills err from an error answer of agent_call (status and the body's
 * problem+json detail): 404 -> NUBO_E_NOTFOUND, 409 -> NUBO_E_CONFLICT,
 * 507 -> NUBO_E_CAPACITY, 400 -> NUBO_E_INVALID, others UNAVAILABLE.
 * Returns -1. */
int agent_answer_error(const struct agent_target *t, long status, const json_t *body,
                       struct nubo_err *err);

#endif
