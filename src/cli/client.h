/*
 * client.h - the HTTP/JSON client of the host protocol (docs/internals/
 * host-protocol.md), over libcurl.
 *
 * It talks to nubo-hostd on its Unix socket or on http://ADDR:PORT with a
 * bearer token.  It knows HTTP and problem+json but nothing of VMs, so a
 * later controller API can reuse it unchanged.  One struct client keeps one
 * curl handle, and with it the connection, across requests.
 *
 * Failures come in two kinds that callers must tell apart (they have their
 * own exit codes): the agent could not be reached at all
 * (client_unreachable() is then true), or it answered with an error.
 */
#ifndef NUBO_CLI_CLIENT_H
#define NUBO_CLI_CLIENT_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

/* The largest answer accepted (the console answers up to 1 MiB). */
#define CLIENT_MAX_RESPONSE (16u << 20)

struct client;

struct client_cfg {
    const char *socket_path; /* Unix socket of the agent, or NULL and ... */
    const char *base_url;    /* ... "http://ADDR:PORT" (no trailing '/') */
    const char *token;       /* bearer token to send, or NULL */
    /* When *cancel becomes non-zero (a signal handler sets it), a request
     * in flight is abandoned within about a second.  May be NULL. */
    const volatile sig_atomic_t *cancel;
};

struct client_resp {
    long status;              /* HTTP status */
    char *body;               /* NUL-terminated, malloc'd; freed by client_resp_clear() */
    size_t len;               /* bytes in body, without the NUL */
    long long console_offset; /* X-Console-Offset, or -1 when absent */
};

/* Creates a client; the strings in cfg are copied.  Returns NULL with err
 * when curl cannot be initialized.  curl_global_init() must have run. */
struct client *client_new(const struct client_cfg *cfg, struct nubo_err *err);

/* Frees c (NULL is fine). */
void client_free(struct client *c);

/* Where the client connects, for messages: the socket path or the URL. */
const char *client_target(const struct client *c);

/* Sends one request: method ("GET", "POST", "DELETE"), path ("/v1/vms",
 * with its query string) and an optional JSON body.  Returns 0 when an HTTP
 * answer arrived, whatever its status, and fills resp (which the caller
 * clears with client_resp_clear()); returns -1 with err when none did. */
int client_request(struct client *c, const char *method, const char *path, const json_t *body,
                   struct client_resp *resp, struct nubo_err *err);

/* Frees the body of resp and resets it (resp may be zeroed or filled). */
void client_resp_clear(struct client_resp *resp);

/* Sends one request and decodes the answer.  On a 2xx answer returns 0 and
 * sets *out (if out is not NULL) to the decoded JSON, or to NULL when the
 * answer has no body (204); the caller owns it.  On an error answer returns
 * -1 with err holding the problem's detail and "(HTTP N)", and an error code
 * matching the status; on no answer at all, -1 as client_request(). */
int client_call(struct client *c, const char *method, const char *path, const json_t *body,
                json_t **out, struct nubo_err *err);

/* Fills err from an error answer (problem+json, or whatever the body is). */
void client_resp_error(const struct client_resp *resp, struct nubo_err *err);

/* True when the last request got no HTTP answer because the agent could
 * not be reached (nothing listening, no such socket, no permission...). */
bool client_unreachable(const struct client *c);

#endif
