/*
 * test_metadata.c - unit tests of src/host/net/metadata.c, the instance
 * metadata service, driven in this process on a loopback listener (no
 * namespace): it never waits on a guest that does not read, its
 * per-source limits, and IMDSv2 session tokens (required per instance,
 * TTL range, expiry, no token through a proxy).  cloud-init against the
 * real service is tested in tests/e2e/test_cloudinit.py.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "host/net/net_int.h"
#include "host/vm/vm.h"
#include "lib/util.h"

#define VNI 16777001u
#define INST1 "44444444-4444-4444-8444-444444444444"

static struct vm_def def;
static struct net_network net;
static struct net_port port;
static struct net_doc doc;
static uint16_t lport;

static const struct vm_def *vm_fn(void *ctx, const char *name)
{
    (void)ctx;
    return strcmp(name, "nubo-" INST1) == 0 ? &def : NULL;
}

/* A service for one network whose only port is 127.0.0.1 (instance
 * INST1), listening on a loopback port (lport). */
static struct mds *start(bool tokens_required, const char *user_data)
{
    memset(&def, 0, sizeof(def));
    str_copy(def.id, sizeof(def.id), INST1);
    str_copy(def.name, sizeof(def.name), "vm1");
    str_copy(def.hostname, sizeof(def.hostname), "vm1");
    def.metadata_tokens_required = tokens_required;
    def.user_data = user_data ? xstrdup(user_data) : NULL;
    memset(&net, 0, sizeof(net));
    net.vni = VNI;
    memset(&port, 0, sizeof(port));
    str_copy(port.vm, sizeof(port.vm), "nubo-" INST1);
    str_copy(port.instance_id, sizeof(port.instance_id), INST1);
    str_copy(port.ip.s, sizeof(port.ip.s), "127.0.0.1");
    port.ip.addr = 0x7f000001;
    str_copy(port.hostname, sizeof(port.hostname), "vm1");
    str_copy(port.mac, sizeof(port.mac), "fa:16:3e:00:00:01");
    doc = (struct net_doc){.networks = &net, .nnetworks = 1, .ports = &port, .nports = 1};
    struct mds *m = mds_new("", "", vm_fn, NULL);
    mds_sync(m, &doc);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t sl = sizeof(sa);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        perror("listener");
        exit(2);
    }
    lport = ntohs(sa.sin_port);
    mds_listen_fd(m, VNI, fd);
    return m;
}

static void stop(struct mds *m)
{
    mds_free(m);
    vm_def_clear(&def);
}

/* One turn of the agent's loop for m (waiting at most ms). */
static void pump(struct mds *m, int ms)
{
    struct pollfd fds[512];
    int n = mds_pollfds(m, fds, 512);
    poll(fds, (nfds_t)n, ms);
    mds_run(m, fds, n);
}

/* A client connected to the service from 127.0.0.<last> (rcvbuf > 0:
 * that receive buffer). */
static int client(int last, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in me = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(0x7f000000u | (unsigned)last)};
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(lport), .sin_addr.s_addr = htonl(0x7f000001)};
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    if (bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("client");
        exit(2);
    }
    return fd;
}

/* Reads what fd has into out (of n) while pumping m, until EOF. Returns
 * the HTTP status, 0 when the connection was closed without an answer. */
static int collect(struct mds *m, int fd, char *out, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < 400; i++) {
        pump(m, 5);
        ssize_t r = recv(fd, out + len, n - 1 - len, MSG_DONTWAIT);
        if (r > 0) {
            len += (size_t)r;
            out[len] = '\0';
            continue;
        }
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            break;
    }
    close(fd);
    int status = 0;
    if (sscanf(out, "HTTP/1.0 %d", &status) != 1)
        return 0;
    return status;
}

/* Sends req from 127.0.0.1 and returns the status; the answer in out. */
static int request(struct mds *m, const char *req, char *out, size_t n)
{
    int fd = client(1, 0);
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0)
        return -1;
    return collect(m, fd, out, n);
}

/* The body of an answer. */
static const char *body(const char *out)
{
    const char *b = strstr(out, "\r\n\r\n");
    return b ? b + 4 : "";
}

/* PUT /latest/api/token with ttl; the token into tok (of 128). */
static int get_token(struct mds *m, const char *ttl, char *tok)
{
    char req[256], out[4096];
    snprintf(req, sizeof(req),
             "PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\n"
             "X-aws-ec2-metadata-token-ttl-seconds: %s\r\n\r\n",
             ttl);
    int st = request(m, req, out, sizeof(out));
    str_copy(tok, 128, body(out));
    return st;
}

static int get_with(struct mds *m, const char *path, const char *tok, char *out, size_t n)
{
    char req[512];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 169.254.169.254\r\n%s%s%s\r\n", path,
             tok ? "X-aws-ec2-metadata-token: " : "", tok ? tok : "", tok ? "\r\n" : "");
    return request(m, req, out, n);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_optional_default(void)
{
    struct mds *m = start(false, NULL);
    char out[4096], tok[128];
    CHECK_INT_EQ(get_with(m, "/latest/meta-data/instance-id", NULL, out, sizeof(out)), 200);
    CHECK_STR_EQ(body(out), INST1);
    CHECK_INT_EQ(get_token(m, "60", tok), 200);
    CHECK_INT_EQ(strlen(tok), 48);
    CHECK_INT_EQ(get_with(m, "/latest/meta-data/instance-id", tok, out, sizeof(out)), 200);
    CHECK_STR_EQ(body(out), INST1);
    /* A token sent must be valid even when none is required. */
    CHECK_INT_EQ(get_with(m, "/latest/meta-data/instance-id", "bogus", out, sizeof(out)), 401);
    stop(m);
}

static void test_required(void)
{
    struct mds *m = start(true, "#cloud-config\n");
    char out[4096], tok[128];
    CHECK_INT_EQ(get_with(m, "/latest/meta-data/instance-id", NULL, out, sizeof(out)), 401);
    CHECK_STR_HAS(body(out), "PUT /latest/api/token");
    CHECK_INT_EQ(get_with(m, "/openstack/latest/meta_data.json", NULL, out, sizeof(out)), 401);
    CHECK_INT_EQ(get_token(m, "21600", tok), 200);
    CHECK_INT_EQ(get_with(m, "/latest/meta-data/instance-id", tok, out, sizeof(out)), 200);
    CHECK_STR_EQ(body(out), INST1);
    CHECK_INT_EQ(get_with(m, "/latest/user-data", tok, out, sizeof(out)), 200);
    CHECK_STR_EQ(body(out), "#cloud-config\n");
    /* Bound to the instance: once another has the address, it is void. */
    str_copy(port.instance_id, sizeof(port.instance_id), "55555555-5555-4555-8555-555555555555");
    CHECK_INT_EQ(get_with(m, "/latest/meta-data/instance-id", tok, out, sizeof(out)), 401);
    stop(m);
}

static void test_token_ttl(void)
{
    struct mds *m = start(true, NULL);
    char out[4096], tok[128];
    CHECK_INT_EQ(get_token(m, "0", tok), 400);
    CHECK_STR_HAS(tok, "1 to 21600");
    CHECK_INT_EQ(get_token(m, "21601", tok), 400);
    CHECK_INT_EQ(get_token(m, "-5", tok), 400);
    CHECK_INT_EQ(get_token(m, "1e3", tok), 400);
    CHECK_INT_EQ(get_token(m, "", tok), 400);
    CHECK_INT_EQ(request(m, "PUT /latest/api/token HTTP/1.1\r\n\r\n", out, sizeof(out)), 400);
    /* Expired. */
    CHECK_INT_EQ(get_token(m, "1", tok), 200);
    CHECK_INT_EQ(get_with(m, "/latest/meta-data/instance-id", tok, out, sizeof(out)), 200);
    usleep(1100 * 1000);
    CHECK_INT_EQ(get_with(m, "/latest/meta-data/instance-id", tok, out, sizeof(out)), 401);
    stop(m);
}

static void test_no_token_through_proxy(void)
{
    struct mds *m = start(false, NULL);
    char out[4096];
    CHECK_INT_EQ(request(m,
                         "PUT /latest/api/token HTTP/1.1\r\nX-Forwarded-For: 10.0.0.9\r\n"
                         "X-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n",
                         out, sizeof(out)),
                 403);
    CHECK_INT_EQ(request(m,
                         "PUT /latest/api/token HTTP/1.1\r\nx-forwarded-for:\r\n"
                         "X-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n",
                         out, sizeof(out)),
                 403);
    stop(m);
}

/* A guest that asks for a large answer and never reads it must not hold
 * the loop: the answer waits in the connection's buffer while the others
 * are served. */
static void test_slow_reader_does_not_block(void)
{
    char *ud = xmalloc(200 * 1024 + 1);
    memset(ud, 'x', 200 * 1024);
    ud[200 * 1024] = '\0';
    struct mds *m = start(false, ud);
    free(ud);
    int slow = client(1, 2048);
    const char *req = "GET /latest/user-data HTTP/1.0\r\n\r\n";
    CHECK(send(slow, req, strlen(req), MSG_NOSIGNAL) > 0);
    int64_t t0 = now_ms();
    for (int i = 0; i < 20; i++)
        pump(m, 0);
    int64_t took = now_ms() - t0;
    CHECK(took < 200);
    /* Still open, waiting to write. */
    CHECK(mds_timeout_ms(m) > 0);
    char out[4096];
    t0 = now_ms();
    CHECK_INT_EQ(get_with(m, "/latest/meta-data/hostname", NULL, out, sizeof(out)), 200);
    CHECK_STR_EQ(body(out), "vm1");
    CHECK(now_ms() - t0 < 500);
    /* Once the guest reads, it gets the whole answer. */
    size_t total = 0;
    char buf[65536];
    for (int i = 0; i < 2000; i++) {
        pump(m, 1);
        ssize_t r = recv(slow, buf, sizeof(buf), MSG_DONTWAIT);
        if (r == 0)
            break;
        if (r > 0)
            total += (size_t)r;
    }
    CHECK(total > 200 * 1024);
    close(slow);
    stop(m);
}

static void test_limits(void)
{
    struct mds *m = start(false, NULL);
    char out[8192];
    /* Too large a request. */
    char big[6000];
    memset(big, 'a', sizeof(big) - 1);
    memcpy(big, "GET /", 5);
    big[sizeof(big) - 1] = '\0';
    CHECK_INT_EQ(request(m, big, out, sizeof(out)), 400);
    /* At most 8 open connections per source: a 9th is closed at once,
     * while another source is still served. */
    int idle[8];
    for (int i = 0; i < 8; i++)
        idle[i] = client(1, 0);
    pump(m, 10);
    int ninth = client(1, 0);
    send(ninth, "GET / HTTP/1.0\r\n\r\n", 18, MSG_NOSIGNAL);
    CHECK_INT_EQ(collect(m, ninth, out, sizeof(out)), 0);
    int other = client(2, 0);
    send(other, "GET / HTTP/1.0\r\n\r\n", 18, MSG_NOSIGNAL);
    CHECK_INT_EQ(collect(m, other, out, sizeof(out)), 404); /* not a port: unknown */
    for (int i = 0; i < 8; i++)
        close(idle[i]);
    /* Requests per second: a burst of 100, then 429 (the bucket refills
     * at 50/s, slower than this loop asks). */
    int ok = 0, limited = 0;
    for (int round = 0; round < 300 && limited == 0; round++) {
        int fds[6];
        for (int i = 0; i < 6; i++) {
            fds[i] = client(3, 0);
            send(fds[i], "GET / HTTP/1.0\r\n\r\n", 18, MSG_NOSIGNAL);
        }
        for (int i = 0; i < 6; i++) {
            int st = collect(m, fds[i], out, sizeof(out));
            ok += st == 404 && limited == 0;
            limited += st == 429;
        }
    }
    CHECK(ok >= 100);
    CHECK(limited > 0);
    stop(m);
}

/* A connection that never sends its request is closed after 3 s. */
static void test_read_deadline(void)
{
    struct mds *m = start(false, NULL);
    int fd = client(1, 0);
    pump(m, 10);
    CHECK(mds_timeout_ms(m) > 2000);
    int64_t t0 = now_ms();
    char c;
    ssize_t r = -1;
    while (now_ms() - t0 < 5000) {
        int64_t left = mds_timeout_ms(m);
        pump(m, left < 0 ? 10 : (int)left + 1);
        r = recv(fd, &c, 1, MSG_DONTWAIT);
        if (r == 0)
            break;
    }
    CHECK_INT_EQ(r, 0);
    int64_t took = now_ms() - t0;
    CHECK(took > 2500 && took < 4000);
    CHECK_INT_EQ(mds_timeout_ms(m), -1);
    close(fd);
    stop(m);
}

CHECK_MAIN({"optional_default", test_optional_default}, {"required", test_required},
           {"token_ttl", test_token_ttl}, {"no_token_through_proxy", test_no_token_through_proxy},
           {"slow_reader_does_not_block", test_slow_reader_does_not_block}, {"limits", test_limits},
           {"read_deadline", test_read_deadline})
