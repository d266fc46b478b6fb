/*
 * curlx.h - the libcurl pieces every nubo HTTP client shares: the CLI
 * (cli/client.c), the controller's host-protocol client
 * (lib/agent_client.c) and the agent's uplink to nubod (host/uplink.c).
 *
 * A response is received into a struct curlx_resp: the body into a dynbuf
 * capped by the caller (an answer past the cap fails the transfer, and
 * dynbuf_error(&resp.body) says E2BIG, or ENOMEM), and the two headers
 * nubo's servers send for clients, X-Console-Offset and X-Request-Id.
 * Uploads stream from a FILE through curlx_read_cb(), which refuses to
 * pass a short file off as a whole one.  curlx_setup() sets the options
 * all of them set on a handle.  curl_global_init() is the caller's.
 */
#ifndef NUBO_LIB_CURLX_H
#define NUBO_LIB_CURLX_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "lib/dynbuf.h"

/* What a transfer received. */
struct curlx_resp {
    struct dynbuf body;       /* NUL-terminated; its cap is the largest answer */
    long long console_offset; /* X-Console-Offset, or -1 when absent */
    char request_id[80];      /* X-Request-Id (non-printables as '?'), or "" */
};

/* Prepares r for an answer of at most cap bytes. */
void curlx_resp_init(struct curlx_resp *r, size_t cap);

/* Frees the body of r and prepares it again with the same cap. */
void curlx_resp_free(struct curlx_resp *r);

/* CURLOPT_WRITEFUNCTION; CURLOPT_WRITEDATA is a struct dynbuf *.  Appends
 * what came; returns 0 (curl then fails the transfer with
 * CURLE_WRITE_ERROR) when the dynbuf refuses it. */
size_t curlx_write_cb(char *data, size_t size, size_t nmemb, void *dynbuf);

/* CURLOPT_HEADERFUNCTION; CURLOPT_HEADERDATA is a struct curlx_resp *.
 * Records X-Console-Offset (a non-negative decimal) and X-Request-Id. */
size_t curlx_header_cb(char *data, size_t size, size_t nmemb, void *resp);

/* An upload of size bytes read from f at its current position. */
struct curlx_upload {
    FILE *f;
    long long size;
    long long sent; /* bytes handed to curl */
    bool failed;    /* f ended or failed before size bytes */
    int errnum;     /* why (errno), or 0 when f ended early */
};

/* CURLOPT_READFUNCTION; CURLOPT_READDATA is a struct curlx_upload *. */
size_t curlx_read_cb(char *buf, size_t size, size_t nitems, void *upload);

/* The options every client sets on an easy handle. */
struct curlx_cfg {
    const char *url;
    const char *unix_socket; /* connect here instead of the URL's host, or NULL */
    const char *protocols;   /* CURLOPT_PROTOCOLS_STR ("http"), or NULL: libcurl's */
    long connect_timeout_ms; /* 0: libcurl's default */
    long timeout_ms;         /* the whole transfer; 0: none */
    struct curlx_resp *resp; /* receives body and headers, or NULL */
    char *errbuf;            /* CURL_ERROR_SIZE bytes for curl's message, or NULL */
};

/* Sets cfg's options on h, and CURLOPT_NOSIGNAL (threads and signalfd
 * users: curl must not touch signals). */
void curlx_setup(CURL *h, const struct curlx_cfg *cfg);

/* Builds the URL of path on a server address "unix:/path/to.sock" (URL
 * http://localhost<path>, *unix_socket pointing into address) or
 * "http://host:port" (trailing '/' dropped; *unix_socket NULL).  Returns 0,
 * or -1 when address is neither or the URL does not fit in n. */
int curlx_url(const char *address, const char *path, char *url, size_t n, const char **unix_socket);

#endif
