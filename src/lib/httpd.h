/*
 * httpd.h - a small HTTP/JSON server on top of libmicrohttpd.
 *
 * The server runs inside the caller's event loop: httpd_fd() is one file
 * descriptor (an epoll set) to poll for input, httpd_run() does the work that
 * is ready and httpd_timeout_ms() says when to call it again.  Nothing runs on
 * other threads, so handlers may touch the caller's state without locks.
 *
 * Every response carries an X-Request-Id (the client's, when it sent a sane
 * one).  Errors are RFC 7807 problem+json built from a struct nubo_err.
 * Bodies are capped (413 beyond the cap).  When a bearer token is configured,
 * every request must carry it ("Authorization: Bearer ...") or gets 401.
 *
 * A request whose framing two parsers could read differently (two
 * Content-Length headers, Content-Length with Transfer-Encoding, a
 * Transfer-Encoding other than chunked, two Host headers, no Host in
 * HTTP/1.1) gets 400 before its body is read, and the connection is closed.
 */
#ifndef NUBO_HTTPD_H
#define NUBO_HTTPD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

struct httpd;
struct MHD_Connection;

struct http_req {
    const char *method; /* "GET", "POST"... */
    const char *path;   /* URL path, without the query string */
    const char *body;   /* NUL-terminated request body ("" when none) */
    size_t body_len;
    const char *request_id;  /* never NULL */
    int body_fd;             /* >= 0 when the body was streamed to a file (see stream) */
    long long body_streamed; /* bytes written to body_fd */
    struct MHD_Connection *conn;
};

#define HTTP_RESP_MAX_HEADERS 10

struct http_header {
    char name[48];
    char value[400];
};

struct http_resp {
    int status;
    char *body; /* malloc'd; owned by the server once the handler returns */
    size_t body_len;
    const char *content_type; /* static string */
    char extra_name[64];      /* one optional extra header (e.g. X-Console-Offset) */
    char extra_value[128];
    /* More headers, added with http_resp_header() (the portal's security
     * and caching headers); sent after extra_name. */
    struct http_header headers[HTTP_RESP_MAX_HEADERS];
    int nheaders;
};

typedef void (*http_handler_fn)(void *ctx, const struct http_req *req, struct http_resp *resp);

/* Called once the request line and headers are in (body and request_id not
 * yet set).  Returns an open, writable fd to stream the body into instead of
 * memory (large uploads), or -1 to keep the body in memory.  The server
 * closes the fd after the handler has run. */
typedef int (*http_stream_fn)(void *ctx, const struct http_req *req);
struct httpd_cfg {
    const char *unix_path; /* listen on this Unix socket (mode 0660), or */
    const char *tcp_addr;  /* listen on this IPv4 address ... */
    uint16_t tcp_port;     /* ... and port (0 = pick a free one) */
    const char *token;     /* required bearer token, NULL = none */
    size_t max_body;       /* bytes; 0 = 1 MiB */
    long long max_stream;  /* cap of a streamed body in bytes; 0 = 64 GiB */
    int threads;           /* 0: run in the caller's loop (httpd_fd/httpd_run);
                            * N > 0: N internal threads, handlers run concurrently */
    /* Connections: at most conn_per_ip open at once from one address (0 =
     * no limit; beyond it a new connection is closed at once).  A new
     * connection silent for head_timeout_s seconds before its first head
     * is complete is closed (0, or more than conn_timeout_s: conn_timeout_s); after that (bodies,
     * answers, keep-alive between requests, like nginx's keepalive_timeout)
     * one silent for conn_timeout_s (0 = 60).  The whole server holds at
     * most 1024. */
    unsigned conn_per_ip;
    unsigned conn_timeout_s;
    unsigned head_timeout_s;
    /* TLS (GnuTLS, through libmicrohttpd): the PEM of the server's
     * certificate (chain) and of its key, or NULL for plain HTTP.  TLS 1.2
     * and 1.3 only; a client speaking plain HTTP to a TLS server gets no
     * answer (its handshake fails and the connection is closed). */
    const char *tls_cert;
    const char *tls_key;
    http_handler_fn handler;
    http_stream_fn stream; /* optional */
    void *ctx;
};

/* Starts listening.  Returns NULL with err on failure. */
struct httpd *httpd_start(const struct httpd_cfg *cfg, struct nubo_err *err);

/* The fd to poll for POLLIN. */
int httpd_fd(const struct httpd *h);

/* Milliseconds until httpd_run must be called even without input; -1 = none. */
int64_t httpd_timeout_ms(const struct httpd *h);

/* Serves whatever is ready.  Never blocks. */
void httpd_run(struct httpd *h);

/* The TCP port actually bound (useful with tcp_port = 0), or 0. */
uint16_t httpd_port(const struct httpd *h);

/* Stops, closes connections and frees h (NULL is fine).  Removes the Unix
 * socket file it created. */
void httpd_stop(struct httpd *h);

/* Value of a query-string argument, or NULL. */
const char *http_req_query(const struct http_req *req, const char *key);

/* Value of a request header, or NULL. */
const char *http_req_header(const struct http_req *req, const char *name);

/* The client's address as text ("192.0.2.7", "2001:db8::1", "local" over
 * the Unix socket, "" when unknown) in out (n >= 46); returns out. */
const char *http_req_client_addr(const struct http_req *req, char *out, size_t n);

/* Sets a JSON response; takes ownership of (steals) obj. */
void http_resp_json(struct http_resp *resp, int status, json_t *obj);

/* Sets a problem+json response from err; `instance` is the request path. */
void http_resp_problem(struct http_resp *resp, const struct nubo_err *err, const char *instance);

/* Sets a text/plain response, copying len bytes of text. */
void http_resp_text(struct http_resp *resp, int status, const char *text, size_t len);

/* Adds a response header, copying name and value.  Returns 0, or -1 (and
 * adds nothing) when either is empty or too long for struct http_header,
 * holds a control character, or HTTP_RESP_MAX_HEADERS are set already. */
int http_resp_header(struct http_resp *resp, const char *name, const char *value);

/* True when the media type of the Content-Type value ct is `type`
 * (compared without case), bare or followed by parameters after ';'
 * ("application/json; charset=utf-8").  "application/jsonp" is not
 * "application/json"; NULL is no type. */
int http_media_type_is(const char *ct, const char *type);

/* Parses the request body as a JSON object.  Returns a new reference, or NULL
 * with err (NUBO_E_INVALID with the parser's line/column, or
 * NUBO_E_UNSUPPORTED when a Content-Type is sent and is not
 * application/json, see http_media_type_is). */
json_t *http_req_json(const struct http_req *req, struct nubo_err *err);

#endif
