/*
 * fuzz_http.c - libFuzzer target: nubod's HTTP front (lib/httpd.c over
 * libmicrohttpd) takes any bytes a client sends - request heads, framing
 * checks, bodies in memory and streamed, chunked ones, JSON bodies and
 * their Content-Type - and answers or closes without crash, leak or hang.
 *
 * The server starts once, in the caller's loop (threads = 0) on a loopback
 * port; each input is one connection: the bytes are written, the write side
 * is shut, and the loop runs until the server closes the connection (or a
 * bounded number of rounds).  The handler exercises what nubo's routes use:
 * http_req_json, queries, headers, and every kind of response.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/httpd.h"
#include "lib/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void handler(void *ctx, const struct http_req *req, struct http_resp *resp)
{
    (void)ctx;
    struct nubo_err err;
    if (strncmp(req->path, "/json", 5) == 0) {
        json_t *o = http_req_json(req, &err);
        if (o == NULL) {
            if (err.code != NUBO_E_INVALID && err.code != NUBO_E_UNSUPPORTED)
                abort();
            http_resp_problem(resp, &err, req->path);
            return;
        }
        http_resp_json(resp, 200, o);
        return;
    }
    if (strcmp(req->path, "/upload") == 0) {
        if (req->body_fd < 0 && req->body_streamed != 0)
            abort();
        http_resp_json(resp, 200, json_pack("{s:I}", "bytes", (json_int_t)req->body_streamed));
        return;
    }
    const char *q = http_req_query(req, "a");
    const char *h = http_req_header(req, "X-Test");
    const char *ct = http_req_header(req, "Content-Type");
    int is_json = http_media_type_is(ct, "application/json");
    if (is_json && ct == NULL)
        abort();
    char text[512];
    int n = snprintf(text, sizeof(text), "%s %s q=%s h=%s json=%d len=%zu", req->method, req->path,
                     q ? q : "-", h ? h : "-", is_json, req->body_len);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(text))
        n = (int)sizeof(text) - 1;
    http_resp_text(resp, 200, text, (size_t)n);
    if (h)
        http_resp_header(resp, "X-Echo", h); /* refused when unsafe: fine */
}

static int stream(void *ctx, const struct http_req *req)
{
    (void)ctx;
    if (strcmp(req->path, "/upload") != 0)
        return -1;
    return open("/dev/null", O_WRONLY | O_CLOEXEC);
}

static struct httpd *server;

static struct httpd *server_get(void)
{
    if (server)
        return server;
    signal(SIGPIPE, SIG_IGN);
    log_init(LOG_ERROR, NULL);
    struct nubo_err err;
    struct httpd_cfg cfg = {.tcp_addr = "127.0.0.1",
                            .max_body = 4096,
                            .max_stream = 8192,
                            .conn_timeout_s = 5,
                            .handler = handler,
                            .stream = stream};
    server = httpd_start(&cfg, &err);
    if (server == NULL)
        abort();
    return server;
}

/* Lets the server work for up to ms milliseconds (poll on its fd). */
static void serve(struct httpd *h, int cfd, int ms)
{
    struct pollfd p[2] = {{.fd = httpd_fd(h), .events = POLLIN}, {.fd = cfd, .events = POLLIN}};
    poll(p, 2, ms);
    httpd_run(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct httpd *h = server_get();
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        abort();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(httpd_port(h))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
        abort();
    size_t sent = 0;
    int shut = 0, closed = 0, quiet = 0;
    char buf[4096];
    /* Each round: write what the socket takes, let the server run, read
     * its answers.  Once all is sent (and the write side shut), a few
     * rounds without an answer end the input: libmicrohttpd keeps an idle
     * keep-alive connection open even after the client's FIN. */
    for (int round = 0; round < 400 && !closed && quiet < 4; round++) {
        if (sent < size) {
            ssize_t w = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
            if (w > 0)
                sent += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN)
                break; /* reset by the server: done */
        }
        if (sent == size && !shut) {
            shutdown(fd, SHUT_WR);
            shut = 1;
        }
        serve(h, fd, 1);
        quiet = shut ? quiet + 1 : 0;
        for (;;) {
            ssize_t r = recv(fd, buf, sizeof(buf), 0);
            if (r > 0) {
                quiet = 0;
                continue;
            }
            if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
                closed = 1;
            break;
        }
    }
    close(fd);
    /* The server notices the close and frees the connection's state. */
    for (int i = 0; i < 4; i++)
        serve(h, -1, 0);
    return 0;
}
