/*
 * client.h - the HTTP/JSON client of nubo's APIs, over libcurl: the host
 * protocol of nubo-hostd (docs/internals/host-protocol.md) and the
 * controller API of nubod (docs/internals/controller-api.md).
 *
 * It talks to a server on a Unix socket or on http://ADDR:PORT with a
 * bearer token.  It knows HTTP, JSON bodies, raw uploads and problem+json
 * but nothing of VMs or projects.  One struct client keeps one curl handle,
 * and with it the connection, across requests.
 *
 * Failures come in two kinds that callers must tell apart (they have their
 * own exit codes): the server could not be reached at all
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
    const char *socket_path; /* Unix socket of the server, or NULL and ... */
    const char *base_url;    /* ... "http://ADDR:PORT" (no trailing '/') */
    const char *token;       /* bearer token to send, or NULL */
    const char *ca_file; /* PEM CA(s) to verify an https:// server with, or NULL: the system's */
    const char *peer;    /* the server's name in messages ("nubod"); NULL: "the server" */
    /* Appended to "cannot reach" messages ("is it running?"), or NULL. */
    const char *unreachable_hint;
    /* When *cancel becomes non-zero (a signal handler sets it), a request
     * in flight is abandoned within about a second.  May be NULL. */
    const volatile sig_atomic_t *cancel;
};

/* One request.  Zero-initialize it, then set what applies. */
struct client_req {
    const char *method; /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char *path;   /* "/v1/vms", with its query string (already encoded) */
    const json_t *body; /* a JSON body, or NULL */
    /* Extra header lines ("Idempotency-Key: ..."), NULL-terminated, or NULL. */
    const char *const *headers;
    /* A raw body streamed from this file instead of `body`
     * (Content-Type: application/octet-stream): upload_size bytes read from
     * its current position.  Uploads have no overall time limit (the server
     * may check what it received for a long time); Ctrl-C still ends them. */
    FILE *upload;
    long long upload_size;
    /* Called while the upload goes on (sent bytes of total), or NULL. */
    void (*progress)(void *arg, long long sent, long long total);
    void *progress_arg;
};

struct client_resp {
    long status;              /* HTTP status */
    char *body;               /* NUL-terminated, malloc'd; freed by client_resp_clear() */
    size_t len;               /* bytes in body, without the NUL */
    long long console_offset; /* X-Console-Offset, or -1 when absent */
    char request_id[80];      /* X-Request-Id, or "" */
};

/* Creates a client; the strings in cfg are copied.  Returns NULL with err
 * when curl cannot be initialized.  curl_global_init() must have run. */
struct client *client_new(const struct client_cfg *cfg, struct nubo_err *err);

/* Frees c (NULL is fine). */
void client_free(struct client *c);

/* The server's base URL ("http://localhost" over a Unix socket). */
const char *client_base_url(const struct client *c);

/* Where the client connects, for messages: the socket path or the URL. */
const char *client_target(const struct client *c);

/* Sends one request.  Returns 0 when an HTTP answer arrived, whatever its
 * status, and fills resp (which the caller clears with client_resp_clear());
 * returns -1 with err when none did. */
int client_send(struct client *c, const struct client_req *req, struct client_resp *resp,
                struct nubo_err *err);

/* client_send() of a request with only a method, a path and an optional
 * JSON body. */
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

/* client_call() of any request (extra headers, uploads). */
int client_call_req(struct client *c, const struct client_req *req, json_t **out,
                    struct nubo_err *err);

/* Fills err from an error answer (problem+json, or whatever the body is);
 * server errors (5xx) name the request id, for the server's logs. */
void client_resp_error(const struct client *c, const struct client_resp *resp,
                       struct nubo_err *err);

/* True when the last request got no HTTP answer because the server could
 * not be reached (nothing listening, no such socket, no permission...). */
bool client_unreachable(const struct client *c);

#endif
