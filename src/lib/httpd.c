/*
 * httpd.c - see httpd.h.  libmicrohttpd in "external epoll" mode.
 */
#include "lib/httpd.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "lib/valid.h"

struct httpd {
    struct MHD_Daemon *d;
    struct httpd_cfg cfg;
    char *unix_path;
    char *token;
    char *tls_cert, *tls_key; /* copies, alive as long as the daemon */
    int listen_fd;
    uint16_t port;
};

/* Per-request state, kept in MHD's con_cls between calls. */
struct conn_state {
    char *body;
    size_t len, alloc;
    int too_large;
    int write_failed;
    int fd; /* streaming target, or -1 */
    long long streamed;
    int64_t start_ms;
    int refused; /* the head was refused: answered already, body ignored */
};

#define HTTPD_BACKLOG 4096

static int make_listen_socket(const struct httpd_cfg *cfg, struct nubo_err *err)
{
    int fd;
    if (cfg->unix_path) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (str_copy(sa.sun_path, sizeof(sa.sun_path), cfg->unix_path) < 0)
            return nubo_err_set(err, NUBO_E_INVALID, "socket path too long: %s", cfg->unix_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            return nubo_err_set(err, NUBO_E_INTERNAL, "socket: %s", strerror(errno));
        unlink(cfg->unix_path);
        mode_t old = umask(0117);
        int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (r < 0) {
            nubo_err_set(err, NUBO_E_INTERNAL, "cannot listen on %s: %s", cfg->unix_path,
                         strerror(errno));
            close(fd);
            return -1;
        }
    } else {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(cfg->tcp_port)};
        if (inet_pton(AF_INET, cfg->tcp_addr ? cfg->tcp_addr : "127.0.0.1", &sa.sin_addr) != 1)
            return nubo_err_set(err, NUBO_E_INVALID, "not an IPv4 address: %s", cfg->tcp_addr);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            return nubo_err_set(err, NUBO_E_INTERNAL, "socket: %s", strerror(errno));
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            nubo_err_set(err, NUBO_E_INTERNAL, "cannot listen on %s:%u: %s",
                         cfg->tcp_addr ? cfg->tcp_addr : "127.0.0.1", cfg->tcp_port,
                         strerror(errno));
            close(fd);
            return -1;
        }
    }
    /* A deep accept queue: under a burst of clients, connections wait here
     * (the kernel caps it at net.core.somaxconn) instead of being dropped
     * and retried after a second or more. */
    if (listen(fd, HTTPD_BACKLOG) < 0) {
        nubo_err_set(err, NUBO_E_INTERNAL, "listen: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static unsigned conn_timeout(const struct httpd *h)
{
    return h->cfg.conn_timeout_s ? h->cfg.conn_timeout_s : 60;
}

static unsigned head_timeout(const struct httpd *h)
{
    unsigned head = h->cfg.head_timeout_s, conn = conn_timeout(h);
    return head && head < conn ? head : conn;
}

/* A new connection waits for a head: the short timeout (MHD calls this
 * after the connection is in its timeout list, on the thread that serves
 * it). */
static void notify_cb(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode toe)
{
    (void)socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, head_timeout(cls));
}

static void completed_cb(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct conn_state *st = *con_cls;
    if (st) {
        if (st->fd >= 0)
            close(st->fd);
        free(st->body);
        free(st);
        *con_cls = NULL;
    }
}

/* Constant-time comparison of a presented token against the expected one. */
static int token_ok(const char *expected, const char *auth)
{
    static const char prefix[] = "Bearer ";
    if (auth == NULL || strncmp(auth, prefix, sizeof(prefix) - 1) != 0)
        return 0;
    const char *got = auth + sizeof(prefix) - 1;
    size_t le = strlen(expected), lg = strlen(got);
    unsigned char diff = (unsigned char)(le != lg);
    for (size_t i = 0; i < le; i++)
        diff |= (unsigned char)(expected[i] ^ (i < lg ? got[i] : 0));
    return diff == 0;
}

static int request_id_ok(const char *s)
{
    return s && valid_token(s, strlen(s), 64);
}

/* Decodes %XX escapes in place like MHD does, except that an escaped NUL
 * becomes DEL (0x7f): a NUL would silently cut the path short
 * ("/v1/images/a%00b/file" read as "/v1/images/a"), DEL makes it an
 * invalid name instead. */
static size_t unescape_cb(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (r[0] == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
            char hex[3] = {r[1], r[2], 0};
            int v = (int)strtol(hex, NULL, 16);
            *w++ = v == 0 ? 0x7f : (char)v;
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* HSTS on HTTPS: a browser that has seen the portal over TLS never goes
 * back to plain HTTP for a year (RFC 6797). */
#define HSTS "max-age=31536000"

static enum MHD_Result send_resp(const struct httpd *h, struct MHD_Connection *c,
                                 struct http_resp *r, const char *rid)
{
    struct MHD_Response *mr =
        MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_MUST_FREE);
    r->body = NULL;
    MHD_add_response_header(mr, "Content-Type", r->content_type);
    MHD_add_response_header(mr, "X-Request-Id", rid);
    if (h->tls_cert)
        MHD_add_response_header(mr, "Strict-Transport-Security", HSTS);
    if (r->extra_name[0])
        MHD_add_response_header(mr, r->extra_name, r->extra_value);
    for (int i = 0; i < r->nheaders && i < HTTP_RESP_MAX_HEADERS; i++)
        MHD_add_response_header(mr, r->headers[i].name, r->headers[i].value);
    if (r->status == 401)
        MHD_add_response_header(mr, "WWW-Authenticate", "Bearer");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    return ret;
}

/* What head_count_cb finds among a request's headers. */
struct head_count {
    int content_length, transfer_encoding, host;
    int length_bad; /* a Content-Length that is not a plain decimal number */
    int coding_bad; /* a Transfer-Encoding other than "chunked" */
};

static enum MHD_Result head_count_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    struct head_count *n = cls;
    if (key == NULL)
        return MHD_YES;
    if (strcasecmp(key, "Content-Length") == 0) {
        n->content_length++;
        const char *v = value ? value : "";
        n->length_bad |= *v == '\0' || strspn(v, "0123456789") != strlen(v);
    } else if (strcasecmp(key, "Transfer-Encoding") == 0) {
        n->transfer_encoding++;
        n->coding_bad |= value == NULL || strcasecmp(value, "chunked") != 0;
    } else if (strcasecmp(key, "Host") == 0) {
        n->host++;
    }
    return MHD_YES;
}

/* Checks the framing headers of a request before its body is read: a
 * request that two parties (a proxy in front and this server) could read
 * differently is refused (request smuggling).  Returns 0, or -1 with err. */
static int head_check(struct MHD_Connection *c, const char *version, struct nubo_err *err)
{
    struct head_count n = {0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, head_count_cb, &n);
    if (n.content_length > 1)
        return nubo_err_set(err, NUBO_E_INVALID, "send one Content-Length header, not %d",
                            n.content_length);
    if (n.length_bad)
        return nubo_err_set(err, NUBO_E_INVALID, "Content-Length must be a decimal number");
    if (n.transfer_encoding > 1 || n.coding_bad)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "the only Transfer-Encoding accepted is one 'chunked'");
    if (n.transfer_encoding && n.content_length)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "send either Content-Length or Transfer-Encoding, not both");
    if (n.host > 1)
        return nubo_err_set(err, NUBO_E_INVALID, "send one Host header, not %d", n.host);
    if (n.host == 0 && version && strcmp(version, MHD_HTTP_VERSION_1_1) == 0)
        return nubo_err_set(err, NUBO_E_INVALID, "an HTTP/1.1 request needs a Host header");
    return 0;
}

/* The first call for a request (headers read, no body yet): its state,
 * and for a streaming route the file its body goes to. */
static struct conn_state *conn_begin(struct httpd *h, struct MHD_Connection *c, const char *url,
                                     const char *method)
{
    struct conn_state *st = xcalloc(1, sizeof(*st));
    st->start_ms = clock_mono_ms();
    st->fd = -1;
    if (h->cfg.stream) {
        struct http_req pre = {
            .method = method, .path = url, .body = "", .request_id = "", .body_fd = -1, .conn = c};
        st->fd = h->cfg.stream(h->cfg.ctx, &pre);
    }
    return st;
}

/* A piece of a streamed body: written to st->fd, up to scap bytes in all
 * (then the request is marked too large); a write error is kept for the
 * answer. */
static void upload_stream(struct conn_state *st, const char *data, size_t size, long long scap)
{
    if (st->streamed + (long long)size > scap) {
        st->too_large = 1;
        return;
    }
    if (st->write_failed)
        return;
    size_t left = size;
    while (left > 0) {
        ssize_t w = write(st->fd, data, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            st->write_failed = errno;
            break;
        }
        data += w;
        left -= (size_t)w;
    }
    st->streamed += (long long)(size - left);
}

/* A piece of a buffered body: appended to st->body, up to cap bytes in all
 * (then the request is marked too large). */
static void upload_buffer(struct conn_state *st, const char *data, size_t size, size_t cap)
{
    if (st->too_large || st->len + size > cap) {
        st->too_large = 1;
        return;
    }
    if (st->len + size + 1 > st->alloc) {
        size_t na = st->alloc ? st->alloc : 1024;
        while (na < st->len + size + 1)
            na *= 2;
        st->body = realloc(st->body, na);
        if (st->body == NULL)
            abort();
        st->alloc = na;
    }
    memcpy(st->body + st->len, data, size);
    st->len += size;
}

/* The request's id: the client's X-Request-Id when it is a sane token,
 * else a new "req-<uuid>". */
static void request_id(struct MHD_Connection *c, char *rid, size_t n)
{
    const char *given = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
    if (request_id_ok(given)) {
        str_copy(rid, n, given);
    } else {
        char u[37];
        id_new(u);
        snprintf(rid, n, "req-%s", u);
    }
}

/* The answer to a complete request: a problem when the token is wrong or
 * the body was too large or could not be stored, else the handler's. */
static void request_answer(struct httpd *h, struct conn_state *st, struct MHD_Connection *c,
                           const char *url, const char *method, const char *rid, size_t cap,
                           long long scap, struct http_resp *resp)
{
    struct nubo_err err;
    if (h->token &&
        !token_ok(h->token, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"))) {
        nubo_err_set(&err, NUBO_E_UNAUTHORIZED,
                     "missing or wrong bearer token: send 'Authorization: Bearer <token>'");
        http_resp_problem(resp, &err, url);
        return;
    }
    if (st->too_large) {
        if (st->fd >= 0)
            nubo_err_set(&err, NUBO_E_TOOLARGE, "upload is larger than %lld bytes", scap);
        else
            nubo_err_set(&err, NUBO_E_TOOLARGE, "request body is larger than %zu bytes", cap);
        http_resp_problem(resp, &err, url);
        return;
    }
    if (st->write_failed == ENOSPC || st->write_failed == EDQUOT) {
        nubo_err_set(&err, NUBO_E_STORAGE_FULL,
                     "the controller's disk is full: the upload was not stored; an operator "
                     "must free space on the disk of nubod's state directory, then retry");
        http_resp_problem(resp, &err, url);
        return;
    }
    if (st->write_failed) {
        nubo_err_set(&err, NUBO_E_INTERNAL, "cannot store the upload: %s",
                     strerror(st->write_failed));
        http_resp_problem(resp, &err, url);
        return;
    }
    struct http_req req = {
        .method = method,
        .path = url,
        .body = st->body ? st->body : "",
        .body_len = st->len,
        .request_id = rid,
        .body_fd = st->fd,
        .body_streamed = st->streamed,
        .conn = c,
    };
    if (st->body)
        st->body[st->len] = '\0';
    h->cfg.handler(h->cfg.ctx, &req, resp);
    if (resp->body == NULL) {
        nubo_err_set(&err, NUBO_E_INTERNAL, "handler produced no response");
        http_resp_problem(resp, &err, url);
    }
}

/* MHD calls this once when the headers are in, once per piece of the body
 * (*upload_size > 0), and once more at its end: then the request is
 * answered. */
static enum MHD_Result access_cb(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    struct httpd *h = cls;
    struct conn_state *st = *con_cls;
    if (st == NULL) {
        struct nubo_err err;
        if (head_check(c, version, &err) < 0) {
            /* Answered now, before any body is read, and the connection is
             * closed after the answer: what follows the head cannot be
             * trusted to be a body or a next request. */
            st = xcalloc(1, sizeof(*st));
            st->fd = -1;
            st->refused = 1;
            *con_cls = st;
            char rid[80];
            request_id(c, rid, sizeof(rid));
            struct http_resp resp = {.status = 400, .content_type = "application/json"};
            http_resp_problem(&resp, &err, url);
            http_resp_header(&resp, "Connection", "close");
            log_info("%s %s %d refused: %s %s", method, url, resp.status, err.msg, rid);
            return send_resp(h, c, &resp, rid);
        }
        /* The head is in: the body and the answer get the long timeout. */
        MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, conn_timeout(h));
        *con_cls = conn_begin(h, c, url, method);
        return MHD_YES;
    }
    if (st->refused) {
        *upload_size = 0;
        return MHD_YES;
    }
    size_t cap = h->cfg.max_body ? h->cfg.max_body : (1u << 20);
    long long scap = h->cfg.max_stream ? h->cfg.max_stream : (64LL << 30);
    if (*upload_size > 0) {
        if (st->fd >= 0)
            upload_stream(st, upload, *upload_size, scap);
        else
            upload_buffer(st, upload, *upload_size, cap);
        *upload_size = 0;
        return MHD_YES;
    }
    char rid[80];
    request_id(c, rid, sizeof(rid));
    struct http_resp resp = {.status = 500, .content_type = "application/json"};
    log_set_request_id(rid); /* in every line logged for it, and on to agents */
    request_answer(h, st, c, url, method, rid, cap, scap, &resp);
    log_info("%s %s %d %lldms %s", method, url, resp.status,
             (long long)(clock_mono_ms() - st->start_ms), rid);
    log_set_request_id(NULL);
    return send_resp(h, c, &resp, rid);
}

struct httpd *httpd_start(const struct httpd_cfg *cfg, struct nubo_err *err)
{
    int fd = make_listen_socket(cfg, err);
    if (fd < 0)
        return NULL;
    struct httpd *h = xcalloc(1, sizeof(*h));
    h->cfg = *cfg;
    h->listen_fd = fd;
    if (cfg->unix_path)
        h->unix_path = xstrdup(cfg->unix_path);
    if (cfg->token)
        h->token = xstrdup(cfg->token);
    h->cfg.unix_path = h->unix_path;
    h->cfg.token = h->token;
    unsigned int flags = MHD_USE_EPOLL;
    if (cfg->threads > 0)
        flags |= MHD_USE_INTERNAL_POLLING_THREAD;
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_KEY, 0, NULL},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, NULL},
        {MHD_OPTION_HTTPS_PRIORITIES, 0,
         (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE"},
        {MHD_OPTION_END, 0, NULL},
    };
    if (cfg->tls_cert && cfg->tls_key) {
        flags |= MHD_USE_TLS;
        h->tls_cert = xstrdup(cfg->tls_cert);
        h->tls_key = xstrdup(cfg->tls_key);
        tls[0].ptr_value = h->tls_key;
        tls[1].ptr_value = h->tls_cert;
    } else
        tls[0].option = MHD_OPTION_END;
    h->cfg.tls_cert = h->tls_cert;
    h->cfg.tls_key = h->tls_key;
    h->d = MHD_start_daemon(
        flags, 0, NULL, NULL, access_cb, h, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_NOTIFY_COMPLETED, completed_cb, h, MHD_OPTION_NOTIFY_CONNECTION, notify_cb, h,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape_cb, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)conn_timeout(h), MHD_OPTION_CONNECTION_LIMIT, (unsigned int)1024,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)cfg->conn_per_ip,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)(cfg->threads > 0 ? cfg->threads : 0),
        MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    if (h->d == NULL) {
        nubo_err_set(err, NUBO_E_INTERNAL,
                     h->tls_cert ? "cannot start the HTTPS server (is the key the certificate's,"
                                   " both PEM?)"
                                 : "cannot start the HTTP server");
        close(fd);
        free(h->unix_path);
        free(h->token);
        free(h->tls_cert);
        free(h->tls_key);
        free(h);
        return NULL;
    }
    if (!cfg->unix_path) {
        struct sockaddr_in sa;
        socklen_t sl = sizeof(sa);
        if (getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
            h->port = ntohs(sa.sin_port);
    }
    return h;
}

int httpd_fd(const struct httpd *h)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    return i ? i->epoll_fd : -1;
}

int64_t httpd_timeout_ms(const struct httpd *h)
{
    MHD_UNSIGNED_LONG_LONG t;
    if (MHD_get_timeout(h->d, &t) == MHD_YES)
        return (int64_t)t;
    return -1;
}

void httpd_run(struct httpd *h)
{
    MHD_run(h->d);
}

uint16_t httpd_port(const struct httpd *h)
{
    return h->port;
}

void httpd_stop(struct httpd *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->d);
    close(h->listen_fd);
    if (h->unix_path)
        unlink(h->unix_path);
    free(h->unix_path);
    free(h->token);
    free(h->tls_cert);
    if (h->tls_key)
        explicit_bzero(h->tls_key, strlen(h->tls_key));
    free(h->tls_key);
    free(h);
}

const char *http_req_query(const struct http_req *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_req_header(const struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_req_client_addr(const struct http_req *req, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci =
        req->conn ? MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS) : NULL;
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    str_copy(out, n, "");
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)n);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)n);
    else if (sa && sa->sa_family == AF_UNIX)
        str_copy(out, n, "local");
    return out;
}

void http_resp_json(struct http_resp *resp, int status, json_t *obj)
{
    /* Compact, in insertion order: sorting and indenting cost more than the
     * SQL behind a list; clients pretty-print (nubo -o json does). */
    char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (s == NULL) {
        /* Only a string that is not UTF-8 makes jansson fail here; answer
         * something rather than die. */
        static const char fallback[] =
            "{\n  \"detail\": \"the answer could not be encoded\",\n"
            "  \"status\": 500,\n  \"title\": \"Internal Server Error\"\n}";
        log_error("cannot encode a JSON answer (not UTF-8?)");
        status = 500;
        s = xstrdup(fallback);
    }
    size_t n = strlen(s);
    s = realloc(s, n + 2);
    if (s == NULL)
        abort();
    s[n] = '\n';
    s[n + 1] = '\0';
    free(resp->body);
    resp->body = s;
    resp->body_len = n + 1;
    resp->status = status;
    resp->content_type = "application/json";
}

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF), or 0 when it is not one. */
static int utf8_seq(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    unsigned char lo = 0x80, hi = 0xbf;
    int len;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (int k = 2; k < len; k++)
        if (p[k] < 0x80 || p[k] > 0xbf)
            return 0;
    return len;
}

/* Copies s into out (size n), replacing bytes that are not valid UTF-8 or
 * are control characters with '?': JSON strings must be UTF-8, and request
 * paths or details may carry anything. */
static const char *utf8_clean(const char *s, char *out, size_t n)
{
    size_t j = 0;
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p && j + 5 < n) {
        int len = utf8_seq(p);
        if (len == 0 || (len == 1 && (*p < 0x20 || *p == 0x7f))) {
            out[j++] = '?';
            p++;
            continue;
        }
        memcpy(out + j, p, (size_t)len);
        j += (size_t)len;
        p += len;
    }
    out[j] = '\0';
    return out;
}

void http_resp_problem(struct http_resp *resp, const struct nubo_err *err, const char *instance)
{
    int status = nubo_err_http_status(err->code);
    char type[96];
    snprintf(type, sizeof(type), "https://nubo.dev/problems/%s", nubo_err_slug(err->code));
    char detail[sizeof(err->msg) * 2], inst[512];
    utf8_clean(err->msg[0] ? err->msg : nubo_err_title(err->code), detail, sizeof(detail));
    utf8_clean(instance, inst, sizeof(inst));
    json_t *o =
        json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", type, "title", nubo_err_title(err->code),
                  "status", status, "detail", detail, "instance", inst);
    http_resp_json(resp, status, o);
    resp->content_type = "application/problem+json";
}

void http_resp_text(struct http_resp *resp, int status, const char *text, size_t len)
{
    free(resp->body);
    resp->body = xmalloc(len + 1);
    memcpy(resp->body, text, len);
    resp->body[len] = '\0';
    resp->body_len = len;
    resp->status = status;
    resp->content_type = "text/plain; charset=utf-8";
}

/* True when s is 1..cap-1 bytes of printable ASCII or UTF-8 (no control
 * character: a CR or LF would split the header). */
static int header_text_ok(const char *s, size_t cap)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= cap)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

int http_resp_header(struct http_resp *resp, const char *name, const char *value)
{
    if (resp->nheaders >= HTTP_RESP_MAX_HEADERS ||
        !header_text_ok(name, sizeof(resp->headers[0].name)) ||
        !header_text_ok(value, sizeof(resp->headers[0].value)) || strchr(name, ':') ||
        strchr(name, ' '))
        return -1;
    struct http_header *h = &resp->headers[resp->nheaders++];
    str_copy(h->name, sizeof(h->name), name);
    str_copy(h->value, sizeof(h->value), value);
    return 0;
}

int http_media_type_is(const char *ct, const char *type)
{
    if (ct == NULL)
        return 0;
    ct += strspn(ct, " \t");
    size_t n = strlen(type);
    if (strncasecmp(ct, type, n) != 0)
        return 0;
    const char *rest = ct + n;
    rest += strspn(rest, " \t");
    return *rest == '\0' || *rest == ';';
}

json_t *http_req_json(const struct http_req *req, struct nubo_err *err)
{
    const char *ct = http_req_header(req, "Content-Type");
    if (ct && !http_media_type_is(ct, "application/json")) {
        nubo_err_set(err, NUBO_E_UNSUPPORTED, "send the body as application/json (got %.60s)", ct);
        return NULL;
    }
    if (req->body_len == 0) {
        nubo_err_set(err, NUBO_E_INVALID, "the request needs a JSON object as its body");
        return NULL;
    }
    json_error_t je;
    json_t *o = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (o == NULL) {
        nubo_err_set(err, NUBO_E_INVALID, "the body is not valid JSON: %s (line %d, column %d)",
                     je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        nubo_err_set(err, NUBO_E_INVALID, "the body must be a JSON object");
        return NULL;
    }
    return o;
}
