/*
 * api.h - the host agent's HTTP/JSON API (host protocol v1).
 *
 * The routes and their bodies are documented in docs/internals/host-protocol.md,
 * which is the contract the `nubo` CLI and the controller rely on.
 */
#ifndef NUBO_HOST_API_H
#define NUBO_HOST_API_H

#include "lib/httpd.h"

/* The http_handler_fn for both the Unix and the TCP listener; ctx is the
 * struct host. */
void api_handle(void *ctx, const struct http_req *req, struct http_resp *resp);

/* The http_stream_fn of each listener: an image upload (PUT
 * /v1/images/{name}/{part}) is streamed to an anonymous file in the images
 * directory instead of memory.  On TCP only a caller with the bearer token
 * may stream (others get the in-memory, capped body and then 401). */
int api_stream_unix(void *ctx, const struct http_req *req);
int api_stream_tcp(void *ctx, const struct http_req *req);

#endif
