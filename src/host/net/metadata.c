/*
 * metadata.c - the instance metadata service; see net.h.
 *
 * A deliberately small HTTP/1.0 responder: one request per connection
 * (header at most MDS_REQ_MAX bytes, any body ignored), answer, close.
 * Each connection has MDS_CONN_MS to send its request, and at most
 * MDS_MAX_CONNS are open at once (the oldest is dropped beyond), so a
 * guest cannot hold the agent's loop or its memory.
 *
 * Layout (text/plain unless noted; <v> is "latest" or a dated version):
 *   /<v>/meta-data/                   index
 *   /<v>/meta-data/instance-id        the port's instance_id
 *   /<v>/meta-data/hostname, local-hostname
 *   /<v>/meta-data/local-ipv4, public-ipv4 (floating IP, else 404), mac
 *   /<v>/meta-data/placement/availability-zone   "nubo"
 *   /<v>/meta-data/public-keys/       "0=key-0" ...
 *   /<v>/meta-data/public-keys/N/openssh-key
 *   /<v>/user-data                    404 when none
 *   /                                 the versions cloud-init asks for,
 *                                     "latest" and "openstack"
 *   PUT /latest/api/token             IMDSv2 token (accepted, not required)
 *   /openstack/latest/meta_data.json  application/json
 *   /openstack/latest/user_data
 */
#include "host/net/net_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/vm/vm.h"
#include "lib/log.h"
#include "lib/util.h"

#define MDS_MAX_CONNS 64
#define MDS_REQ_MAX 4096
#define MDS_CONN_MS 3000
#define MDS_SEND_MS 1000

struct listener {
    uint32_t vni;
    int fd;
    ino_t ns_ino; /* the router namespace it was opened in */
};

struct conn {
    int fd;
    uint32_t vni;
    uint32_t src; /* host order */
    int64_t deadline;
    size_t len;
    char buf[MDS_REQ_MAX + 1];
};

struct mds {
    char netns[64];
    char tag[INET_TAG_LEN];
    mds_vm_fn vm;
    void *ctx;
    const struct net_doc *doc;
    struct listener *ls;
    int nls;
    struct conn *conns[MDS_MAX_CONNS];
};

struct mds *mds_new(const char *netns, const char *tag, mds_vm_fn vm, void *ctx)
{
    struct mds *m = xcalloc(1, sizeof(*m));
    str_copy(m->netns, sizeof(m->netns), netns ? netns : "");
    str_copy(m->tag, sizeof(m->tag), tag ? tag : "");
    m->vm = vm;
    m->ctx = ctx;
    return m;
}

static void conn_close(struct mds *m, int i)
{
    if (m->conns[i] == NULL)
        return;
    close(m->conns[i]->fd);
    free(m->conns[i]);
    m->conns[i] = NULL;
}

void mds_free(struct mds *m)
{
    if (m == NULL)
        return;
    for (int i = 0; i < MDS_MAX_CONNS; i++)
        conn_close(m, i);
    for (int i = 0; i < m->nls; i++)
        close(m->ls[i].fd);
    free(m->ls);
    free(m);
}

/* The inode of a router namespace (0 when it does not exist). */
static ino_t ns_inode(const char *name)
{
    char path[128];
    struct stat st;
    snprintf(path, sizeof(path), "/run/netns/%s", name);
    return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* Opens 169.254.169.254:80 inside namespace rns; -1 on failure (logged). */
static int listen_in(const char *rns)
{
    struct nubo_err err;
    int saved;
    if (net_ns_enter(rns, &saved, &err) < 0) {
        log_warn("metadata: %s", err.msg);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(80)};
    inet_pton(AF_INET, "169.254.169.254", &sa.sin_addr);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
        log_warn("metadata: cannot listen on 169.254.169.254:80 in %s: %s", rns, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    net_ns_leave(saved);
    return fd;
}

void mds_sync(struct mds *m, const struct net_doc *doc)
{
    m->doc = doc;
    struct listener *keep = xcalloc((size_t)doc->nnetworks + 1, sizeof(*keep));
    int nkeep = 0;
    for (int i = 0; i < doc->nnetworks; i++) {
        char rns[NET_NS_NAME_LEN];
        uint32_t vni = doc->networks[i].vni;
        ino_t ino = ns_inode(inet_router_ns(m->netns, m->tag, vni, rns));
        int have = -1;
        for (int k = 0; k < m->nls; k++)
            if (m->ls[k].vni == vni && m->ls[k].fd >= 0 && m->ls[k].ns_ino == ino)
                have = k;
        if (have >= 0) {
            keep[nkeep++] = m->ls[have];
            m->ls[have].fd = -1;
            continue;
        }
        if (ino == 0)
            continue;
        int fd = listen_in(rns);
        if (fd >= 0) {
            keep[nkeep++] = (struct listener){.vni = vni, .fd = fd, .ns_ino = ino};
            log_info("metadata: listening on 169.254.169.254:80 in %s", rns);
        }
    }
    for (int k = 0; k < m->nls; k++)
        if (m->ls[k].fd >= 0)
            close(m->ls[k].fd);
    free(m->ls);
    m->ls = keep;
    m->nls = nkeep;
    /* Connections of networks gone are dropped. */
    for (int i = 0; i < MDS_MAX_CONNS; i++)
        if (m->conns[i] && net_doc_network_by_vni(doc, m->conns[i]->vni) == NULL)
            conn_close(m, i);
}

int mds_pollfds(struct mds *m, struct pollfd *fds, int max)
{
    int n = 0;
    for (int i = 0; i < m->nls && n < max; i++)
        fds[n++] = (struct pollfd){.fd = m->ls[i].fd, .events = POLLIN};
    for (int i = 0; i < MDS_MAX_CONNS && n < max; i++)
        if (m->conns[i])
            fds[n++] = (struct pollfd){.fd = m->conns[i]->fd, .events = POLLIN};
    return n;
}

int64_t mds_timeout_ms(const struct mds *m)
{
    int64_t best = -1, now = clock_mono_ms();
    for (int i = 0; i < MDS_MAX_CONNS; i++) {
        if (m->conns[i] == NULL)
            continue;
        int64_t left = m->conns[i]->deadline - now;
        if (left < 0)
            left = 0;
        if (best < 0 || left < best)
            best = left;
    }
    return best;
}

/* --------------------------------------------------------------- answers */

/* Sends all of data with a bounded wait (the socket is non-blocking). */
static void send_all(int fd, const char *data, size_t len)
{
    int64_t deadline = clock_mono_ms() + MDS_SEND_MS;
    while (len > 0) {
        ssize_t w = send(fd, data, len, MSG_NOSIGNAL);
        if (w > 0) {
            data += w;
            len -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return;
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0)
            return;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        poll(&p, 1, (int)left);
    }
}

static void reply(int fd, int status, const char *type, const char *body, size_t len, bool head)
{
    const char *reason = status == 200   ? "OK"
                         : status == 400 ? "Bad Request"
                         : status == 405 ? "Method Not Allowed"
                                         : "Not Found";
    char hdr[256];
    int n = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\nServer: nubo-metadata\r\n\r\n",
                     status, reason, type, len);
    send_all(fd, hdr, (size_t)n);
    if (!head)
        send_all(fd, body, len);
}

static void reply_text(int fd, int status, const char *text, bool head)
{
    reply(fd, status, "text/plain", text, strlen(text), head);
}

/* True for "latest" or a dated API version ("2009-04-04"). */
static bool is_version(const char *s, size_t n)
{
    if (n == 6 && strncmp(s, "latest", 6) == 0)
        return true;
    return n == 10 && strspn(s, "0123456789-") == 10 && s[4] == '-' && s[7] == '-';
}

static const struct net_port *port_of(const struct mds *m, uint32_t vni, uint32_t src)
{
    const struct net_doc *doc = m->doc;
    for (int i = 0; doc && i < doc->nports; i++) {
        const struct net_port *p = &doc->ports[i];
        if (doc->networks[p->network_idx].vni == vni && p->ip.addr == src)
            return p;
    }
    return NULL;
}

static void answer_ec2(int fd, const struct net_port *p, const struct vm_def *d, const char *rest,
                       bool head)
{
    char out[512];
    const char *hostname = d->hostname[0] ? d->hostname : p->hostname;
    if (strcmp(rest, "user-data") == 0) {
        if (d->user_data == NULL)
            return reply_text(fd, 404, "no user-data\n", head);
        return reply(fd, 200, "application/octet-stream", d->user_data, strlen(d->user_data), head);
    }
    if (strcmp(rest, "") == 0 || strcmp(rest, "/") == 0)
        return reply_text(fd, 200, d->user_data ? "meta-data\nuser-data" : "meta-data", head);
    if (strncmp(rest, "meta-data", 9) != 0)
        return reply_text(fd, 404, "not found\n", head);
    const char *k = rest + 9;
    if (*k == '/')
        k++;
    else if (*k != '\0')
        return reply_text(fd, 404, "not found\n", head);
    if (*k == '\0') {
        snprintf(out, sizeof(out),
                 "hostname\ninstance-id\nlocal-hostname\nlocal-ipv4\nmac\nplacement/\n%s%s",
                 d->nkeys ? "public-keys/\n" : "", p->has_floating_ip ? "public-ipv4" : "");
        size_t l = strlen(out);
        if (l && out[l - 1] == '\n')
            out[l - 1] = '\0';
        return reply_text(fd, 200, out, head);
    }
    if (strcmp(k, "instance-id") == 0)
        return reply_text(fd, 200, p->instance_id, head);
    if (strcmp(k, "hostname") == 0 || strcmp(k, "local-hostname") == 0)
        return reply_text(fd, 200, hostname, head);
    if (strcmp(k, "local-ipv4") == 0)
        return reply_text(fd, 200, p->ip.s, head);
    if (strcmp(k, "public-ipv4") == 0 && p->has_floating_ip)
        return reply_text(fd, 200, p->floating_ip.s, head);
    if (strcmp(k, "mac") == 0)
        return reply_text(fd, 200, p->mac, head);
    if (strcmp(k, "placement/") == 0 || strcmp(k, "placement") == 0)
        return reply_text(fd, 200, "availability-zone", head);
    if (strcmp(k, "placement/availability-zone") == 0)
        return reply_text(fd, 200, "nubo", head);
    if (strcmp(k, "public-keys/") == 0 || strcmp(k, "public-keys") == 0) {
        if (d->nkeys == 0)
            return reply_text(fd, 404, "no public keys\n", head);
        size_t used = 0;
        out[0] = '\0';
        for (int i = 0; i < d->nkeys; i++)
            used += (size_t)snprintf(out + used, sizeof(out) - used, "%s%d=key-%d", i ? "\n" : "",
                                     i, i);
        return reply_text(fd, 200, out, head);
    }
    if (strncmp(k, "public-keys/", 12) == 0) {
        const char *idx = k + 12;
        size_t dl = strspn(idx, "0123456789");
        if (dl == 1 || (dl == 2 && idx[0] != '0')) {
            int i = dl == 1 ? idx[0] - '0' : (idx[0] - '0') * 10 + (idx[1] - '0');
            const char *sub = idx + dl;
            if (i < d->nkeys) {
                if (strcmp(sub, "") == 0 || strcmp(sub, "/") == 0)
                    return reply_text(fd, 200, "openssh-key", head);
                if (strcmp(sub, "/openssh-key") == 0)
                    return reply_text(fd, 200, d->ssh_keys[i], head);
            }
        }
    }
    return reply_text(fd, 404, "not found\n", head);
}

static void answer_openstack(int fd, const struct net_port *p, const struct vm_def *d,
                             const char *rest, bool head)
{
    if (strcmp(rest, "") == 0 || strcmp(rest, "/") == 0)
        return reply_text(fd, 200, "latest", head);
    if (strcmp(rest, "/latest") == 0 || strcmp(rest, "/latest/") == 0)
        return reply_text(fd, 200, d->user_data ? "meta_data.json\nuser_data" : "meta_data.json",
                          head);
    if (strcmp(rest, "/latest/user_data") == 0) {
        if (d->user_data == NULL)
            return reply_text(fd, 404, "no user_data\n", head);
        return reply(fd, 200, "application/octet-stream", d->user_data, strlen(d->user_data), head);
    }
    if (strcmp(rest, "/latest/meta_data.json") != 0)
        return reply_text(fd, 404, "not found\n", head);
    json_t *keys = json_object(), *klist = json_array();
    for (int i = 0; i < d->nkeys; i++) {
        char k[16];
        snprintf(k, sizeof(k), "key-%d", i);
        json_object_set_new(keys, k, json_string(d->ssh_keys[i]));
        json_array_append_new(
            klist, json_pack("{s:s, s:s, s:s}", "name", k, "type", "ssh", "data", d->ssh_keys[i]));
    }
    json_t *md =
        json_pack("{s:s, s:s, s:s, s:o, s:o, s:i, s:s}", "uuid", p->instance_id, "name", d->name,
                  "hostname", d->hostname[0] ? d->hostname : p->hostname, "public_keys", keys,
                  "keys", klist, "launch_index", 0, "availability_zone", "nubo");
    char *text = json_dumps(md, JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(md);
    reply(fd, 200, "application/json", text, strlen(text), head);
    free(text);
}

/* Parses the request line and answers; the connection is closed after. */
static void answer(struct mds *m, struct conn *c)
{
    char method[8], path[512];
    const char *sp = strchr(c->buf, ' ');
    size_t ml = sp ? (size_t)(sp - c->buf) : 0;
    const char *pe = sp ? strchr(sp + 1, ' ') : NULL;
    size_t pl = pe ? (size_t)(pe - sp - 1) : 0;
    if (ml == 0 || ml >= sizeof(method) || pl == 0 || pl >= sizeof(path) || sp[1] != '/')
        return reply_text(c->fd, 400, "bad request\n", false);
    memcpy(method, c->buf, ml);
    method[ml] = '\0';
    memcpy(path, sp + 1, pl);
    path[pl] = '\0';
    path[strcspn(path, "?#")] = '\0';
    bool head = strcmp(method, "HEAD") == 0;
    const struct net_port *p = port_of(m, c->vni, c->src);
    const struct vm_def *d = p ? m->vm(m->ctx, p->vm) : NULL;
    char src[NET_IP_LEN];
    log_debug("metadata: vni %u: %s %s from %s (%s)", c->vni, method, path,
              inet_ipv4_format(c->src, src), p ? p->instance_id : "unknown");
    if (strcmp(method, "PUT") == 0 && strcmp(path, "/latest/api/token") == 0) {
        unsigned char r[16];
        char tok[40];
        if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
            memset(r, 0, sizeof(r));
        for (int i = 0; i < 16; i++)
            snprintf(tok + 2 * i, 3, "%02x", r[i]);
        return reply_text(c->fd, 200, tok, false);
    }
    if (strcmp(method, "GET") != 0 && !head)
        return reply_text(c->fd, 405, "only GET and HEAD\n", false);
    if (d == NULL)
        return reply_text(c->fd, 404, "no instance has this address on this network\n", head);
    /* The versions cloud-init 22.4's Ec2 datasource tries (it needs
     * 2009-04-04, then takes the newest of the others that answers); every
     * dated version serves the same tree as "latest". */
    if (strcmp(path, "/") == 0)
        return reply_text(
            c->fd, 200, "2009-04-04\n2016-09-02\n2018-09-24\n2021-03-23\nlatest\nopenstack", head);
    if (strncmp(path, "/openstack", 10) == 0)
        return answer_openstack(c->fd, p, d, path + 10, head);
    const char *v = path + 1;
    size_t vl = strcspn(v, "/");
    if (!is_version(v, vl))
        return reply_text(c->fd, 404, "not found\n", head);
    const char *rest = v + vl;
    if (*rest == '/')
        rest++;
    answer_ec2(c->fd, p, d, rest, head);
}

static void accept_on(struct mds *m, const struct listener *l)
{
    for (int n = 0; n < 16; n++) {
        struct sockaddr_in sa;
        socklen_t sl = sizeof(sa);
        int fd = accept4(l->fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        int slot = -1, oldest = 0;
        for (int i = 0; i < MDS_MAX_CONNS; i++) {
            if (m->conns[i] == NULL) {
                slot = i;
                break;
            }
            if (m->conns[i]->deadline < m->conns[oldest]->deadline)
                oldest = i;
        }
        if (slot < 0) {
            conn_close(m, oldest);
            slot = oldest;
        }
        struct conn *c = xcalloc(1, sizeof(*c));
        c->fd = fd;
        c->vni = l->vni;
        c->src = ntohl(sa.sin_addr.s_addr);
        c->deadline = clock_mono_ms() + MDS_CONN_MS;
        m->conns[slot] = c;
    }
}

/* Reads what is there; answers once the header is complete. Returns true
 * when the connection is finished. */
static bool conn_read(struct mds *m, struct conn *c)
{
    for (;;) {
        ssize_t r = recv(c->fd, c->buf + c->len, MDS_REQ_MAX - c->len, 0);
        if (r == 0)
            return true;
        if (r < 0)
            return errno != EAGAIN && errno != EINTR;
        c->len += (size_t)r;
        c->buf[c->len] = '\0';
        if (strstr(c->buf, "\r\n\r\n") || strstr(c->buf, "\n\n")) {
            answer(m, c);
            return true;
        }
        if (c->len >= MDS_REQ_MAX) {
            reply_text(c->fd, 400, "request too large\n", false);
            return true;
        }
    }
}

void mds_run(struct mds *m, const struct pollfd *fds, int n)
{
    for (int k = 0; k < n; k++) {
        if (fds[k].revents == 0)
            continue;
        for (int i = 0; i < m->nls; i++)
            if (m->ls[i].fd == fds[k].fd)
                accept_on(m, &m->ls[i]);
        for (int i = 0; i < MDS_MAX_CONNS; i++)
            if (m->conns[i] && m->conns[i]->fd == fds[k].fd && conn_read(m, m->conns[i]))
                conn_close(m, i);
    }
    int64_t now = clock_mono_ms();
    for (int i = 0; i < MDS_MAX_CONNS; i++)
        if (m->conns[i] && now >= m->conns[i]->deadline)
            conn_close(m, i);
}
