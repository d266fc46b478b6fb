/*
 * metadata.c - the instance metadata service; see net.h.
 *
 * A deliberately small HTTP/1.0 responder: one request per connection
 * (header at most MDS_REQ_MAX bytes, any body ignored), answer, close.
 * It runs in the agent's single poll loop, so nothing here ever waits: the
 * sockets are non-blocking, an answer goes into the connection's output
 * buffer and is flushed as the socket takes it (POLLOUT), and a guest
 * that stops reading only holds its own connection until its deadline.
 *
 * Limits (a guest cannot hold the agent's loop or its memory, nor crowd
 * out the other tenants' instances):
 *   - a connection has MDS_READ_MS from its accept to send its request
 *     and then MDS_WRITE_MS to take the answer; past either it is closed;
 *   - at most MDS_MAX_PER_SRC connections open per source (network +
 *     address), MDS_MAX_PER_NET per network, MDS_MAX_CONNS in all; a
 *     connection beyond is closed at once (the open ones are kept);
 *   - a request header is at most MDS_REQ_MAX bytes (else 400), an answer
 *     at most MDS_OUT_MAX, the kernel's send buffer MDS_SNDBUF;
 *   - a source gets MDS_RATE requests per second, in bursts of up to
 *     MDS_BURST (a token bucket); beyond, 429.
 *
 * Session tokens (IMDSv2, as EC2): PUT /latest/api/token with the header
 * X-aws-ec2-metadata-token-ttl-seconds: 1..21600 returns a token bound to
 * the network, address and instance that asked, valid for that many
 * seconds.  A request carrying X-aws-ec2-metadata-token must carry a valid
 * one (else 401); an instance whose definition says metadata_http_tokens
 * "required" must send one on every GET (else 401).  A PUT with
 * X-Forwarded-For is refused (403), so a proxy in the guest cannot fetch
 * tokens for others.
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
 *   PUT /latest/api/token             IMDSv2 session token
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
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/vm/vm.h"
#include "lib/dynbuf.h"
#include "lib/log.h"
#include "lib/util.h"

#define MDS_MAX_CONNS 256
#define MDS_MAX_PER_SRC 8
#define MDS_MAX_PER_NET 64
#define MDS_REQ_MAX 4096
#define MDS_OUT_MAX (512 * 1024) /* > 8 keys of 16 KiB twice + 64 KiB user data */
#define MDS_SNDBUF (64 * 1024)
#define MDS_READ_MS 3000
#define MDS_WRITE_MS 5000
#define MDS_RATE 50   /* requests per second per source, sustained */
#define MDS_BURST 100 /* ... and in a burst */
#define MDS_RATE_SLOTS 1024
#define MDS_TOKEN_TTL_MAX 21600
#define MDS_TOKEN_BYTES 24
#define MDS_TOKEN_LEN (2 * MDS_TOKEN_BYTES + 1)
#define MDS_TOKENS_PER_SRC 8

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
    bool writing;      /* the answer is in out; waiting for POLLOUT */
    struct dynbuf out; /* the answer */
    size_t sent;       /* bytes of out sent */
    size_t len;
    char buf[MDS_REQ_MAX + 1];
};

/* A source's token bucket (MDS_RATE/s, MDS_BURST at most). */
struct rate {
    uint32_t vni, src;
    int64_t last_ms; /* 0: free slot */
    double tokens;
};

/* An IMDSv2 session token. */
struct token {
    uint32_t vni, src;
    char instance_id[NET_ID_LEN];
    int64_t expires_ms; /* monotonic */
    char value[MDS_TOKEN_LEN];
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
    struct rate rates[MDS_RATE_SLOTS];
    struct token *tokens; /* at most MDS_TOKENS_PER_SRC per source */
    int ntokens, atokens;
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
    dynbuf_free(&m->conns[i]->out);
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
    free(m->tokens);
    free(m);
}

int mds_listen_fd(struct mds *m, uint32_t vni, int fd)
{
    struct listener *ls = xcalloc((size_t)m->nls + 1, sizeof(*ls));
    if (m->nls > 0)
        memcpy(ls, m->ls, (size_t)m->nls * sizeof(*ls));
    free(m->ls);
    m->ls = ls;
    m->ls[m->nls++] = (struct listener){.vni = vni, .fd = fd, .ns_ino = 0};
    return 0;
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

bool mds_listening(const struct mds *m, uint32_t vni)
{
    char rns[NET_NS_NAME_LEN];
    ino_t ino = ns_inode(inet_router_ns(m->netns, m->tag, vni, rns));
    for (int k = 0; k < m->nls; k++)
        if (m->ls[k].vni == vni && m->ls[k].fd >= 0 && ino != 0 && m->ls[k].ns_ino == ino)
            return true;
    return false;
}

int mds_pollfds(struct mds *m, struct pollfd *fds, int max)
{
    int n = 0;
    for (int i = 0; i < m->nls && n < max; i++)
        fds[n++] = (struct pollfd){.fd = m->ls[i].fd, .events = POLLIN};
    for (int i = 0; i < MDS_MAX_CONNS && n < max; i++)
        if (m->conns[i])
            fds[n++] = (struct pollfd){.fd = m->conns[i]->fd,
                                       .events = m->conns[i]->writing ? POLLOUT : POLLIN};
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

/* Queues an answer in c's output buffer (sent by conn_write). */
static void reply_hdrs(struct conn *c, int status, const char *type, const char *body, size_t len,
                       bool head, const char *extra)
{
    const char *reason = status == 200   ? "OK"
                         : status == 400 ? "Bad Request"
                         : status == 401 ? "Unauthorized"
                         : status == 403 ? "Forbidden"
                         : status == 405 ? "Method Not Allowed"
                         : status == 429 ? "Too Many Requests"
                         : status == 500 ? "Internal Server Error"
                                         : "Not Found";
    dynbuf_reset(&c->out);
    dynbuf_printf(&c->out,
                  "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
                  "Connection: close\r\nServer: nubo-metadata\r\n\r\n",
                  status, reason, type, len, extra ? extra : "");
    if (!head)
        dynbuf_add(&c->out, body, len);
    if (dynbuf_error(&c->out)) {
        /* Larger than MDS_OUT_MAX: cannot happen with the definitions' own
         * limits, but never send half an answer. */
        dynbuf_reset(&c->out);
        dynbuf_add_str(&c->out, "HTTP/1.0 500 Internal Server Error\r\nContent-Length: 0\r\n"
                                "Connection: close\r\n\r\n");
    }
}

static void reply(struct conn *c, int status, const char *type, const char *body, size_t len,
                  bool head)
{
    reply_hdrs(c, status, type, body, len, head, NULL);
}

static void reply_text(struct conn *c, int status, const char *text, bool head)
{
    reply(c, status, "text/plain", text, strlen(text), head);
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

static void answer_ec2(struct conn *c, const struct net_port *p, const struct vm_def *d,
                       const char *rest, bool head)
{
    char out[512];
    const char *hostname = d->hostname[0] ? d->hostname : p->hostname;
    if (strcmp(rest, "user-data") == 0) {
        if (d->user_data == NULL)
            return reply_text(c, 404, "no user-data\n", head);
        return reply(c, 200, "application/octet-stream", d->user_data, strlen(d->user_data), head);
    }
    if (strcmp(rest, "") == 0 || strcmp(rest, "/") == 0)
        return reply_text(c, 200, d->user_data ? "meta-data\nuser-data" : "meta-data", head);
    if (strncmp(rest, "meta-data", 9) != 0)
        return reply_text(c, 404, "not found\n", head);
    const char *k = rest + 9;
    if (*k == '/')
        k++;
    else if (*k != '\0')
        return reply_text(c, 404, "not found\n", head);
    if (*k == '\0') {
        snprintf(out, sizeof(out),
                 "hostname\ninstance-id\nlocal-hostname\nlocal-ipv4\nmac\nplacement/\n%s%s",
                 d->nkeys ? "public-keys/\n" : "", p->has_floating_ip ? "public-ipv4" : "");
        size_t l = strlen(out);
        if (l && out[l - 1] == '\n')
            out[l - 1] = '\0';
        return reply_text(c, 200, out, head);
    }
    if (strcmp(k, "instance-id") == 0)
        return reply_text(c, 200, p->instance_id, head);
    if (strcmp(k, "hostname") == 0 || strcmp(k, "local-hostname") == 0)
        return reply_text(c, 200, hostname, head);
    if (strcmp(k, "local-ipv4") == 0)
        return reply_text(c, 200, p->ip.s, head);
    if (strcmp(k, "public-ipv4") == 0 && p->has_floating_ip)
        return reply_text(c, 200, p->floating_ip.s, head);
    if (strcmp(k, "mac") == 0)
        return reply_text(c, 200, p->mac, head);
    if (strcmp(k, "placement/") == 0 || strcmp(k, "placement") == 0)
        return reply_text(c, 200, "availability-zone", head);
    if (strcmp(k, "placement/availability-zone") == 0)
        return reply_text(c, 200, "nubo", head);
    if (strcmp(k, "public-keys/") == 0 || strcmp(k, "public-keys") == 0) {
        if (d->nkeys == 0)
            return reply_text(c, 404, "no public keys\n", head);
        size_t used = 0;
        out[0] = '\0';
        for (int i = 0; i < d->nkeys; i++)
            used += (size_t)snprintf(out + used, sizeof(out) - used, "%s%d=key-%d", i ? "\n" : "",
                                     i, i);
        return reply_text(c, 200, out, head);
    }
    if (strncmp(k, "public-keys/", 12) == 0) {
        const char *idx = k + 12;
        size_t dl = strspn(idx, "0123456789");
        if (dl == 1 || (dl == 2 && idx[0] != '0')) {
            int i = dl == 1 ? idx[0] - '0' : (idx[0] - '0') * 10 + (idx[1] - '0');
            const char *sub = idx + dl;
            if (i < d->nkeys) {
                if (strcmp(sub, "") == 0 || strcmp(sub, "/") == 0)
                    return reply_text(c, 200, "openssh-key", head);
                if (strcmp(sub, "/openssh-key") == 0)
                    return reply_text(c, 200, d->ssh_keys[i], head);
            }
        }
    }
    return reply_text(c, 404, "not found\n", head);
}

static void answer_openstack(struct conn *c, const struct net_port *p, const struct vm_def *d,
                             const char *rest, bool head)
{
    if (strcmp(rest, "") == 0 || strcmp(rest, "/") == 0)
        return reply_text(c, 200, "latest", head);
    if (strcmp(rest, "/latest") == 0 || strcmp(rest, "/latest/") == 0)
        return reply_text(c, 200, d->user_data ? "meta_data.json\nuser_data" : "meta_data.json",
                          head);
    if (strcmp(rest, "/latest/user_data") == 0) {
        if (d->user_data == NULL)
            return reply_text(c, 404, "no user_data\n", head);
        return reply(c, 200, "application/octet-stream", d->user_data, strlen(d->user_data), head);
    }
    if (strcmp(rest, "/latest/meta_data.json") != 0)
        return reply_text(c, 404, "not found\n", head);
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
    reply(c, 200, "application/json", text, strlen(text), head);
    free(text);
}

/* ---------------------------------------------------------------- limits */

/* Takes one request from the bucket of (vni, src); false when empty. */
static bool rate_take(struct mds *m, uint32_t vni, uint32_t src, int64_t now)
{
    struct rate *r = NULL, *lru = &m->rates[0];
    for (int i = 0; i < MDS_RATE_SLOTS && r == NULL; i++) {
        struct rate *x = &m->rates[i];
        if (x->last_ms != 0 && x->vni == vni && x->src == src)
            r = x;
        else if (x->last_ms < lru->last_ms)
            lru = x;
    }
    if (r == NULL) {
        /* A new source (or one idle longest): a full bucket. */
        r = lru;
        *r = (struct rate){.vni = vni, .src = src, .last_ms = now, .tokens = MDS_BURST};
    }
    r->tokens += (double)(now - r->last_ms) * MDS_RATE / 1000.0;
    if (r->tokens > MDS_BURST)
        r->tokens = MDS_BURST;
    r->last_ms = now > 0 ? now : 1;
    if (r->tokens < 1.0)
        return false;
    r->tokens -= 1.0;
    return true;
}

/* ---------------------------------------------------------------- tokens */

/* Finds header name in the request head (case-insensitive): its value,
 * surrounding blanks trimmed, at *v (*vl bytes, not NUL-terminated).
 * False when absent. */
static bool header_find(const char *buf, const char *name, const char **v, size_t *vl)
{
    size_t nl = strlen(name);
    const char *line = strchr(buf, '\n');
    while (line && line[1] && line[1] != '\r' && line[1] != '\n') {
        line++;
        const char *end = line + strcspn(line, "\r\n");
        if ((size_t)(end - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *s = line + nl + 1;
            while (s < end && (*s == ' ' || *s == '\t'))
                s++;
            const char *e = end;
            while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            *v = s;
            *vl = (size_t)(e - s);
            return true;
        }
        line = *end ? strchr(end, '\n') : NULL;
    }
    return false;
}

/* header_find() copied into out; false when absent or too long for it. */
static bool header(const char *buf, const char *name, char *out, size_t n)
{
    const char *v;
    size_t vl;
    if (!header_find(buf, name, &v, &vl) || vl >= n)
        return false;
    memcpy(out, v, vl);
    out[vl] = '\0';
    return true;
}

/* Constant-time comparison of two NUL-terminated tokens. */
static bool token_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < la && i < lb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

/* Issues a token for port p (on vni, from src), valid ttl seconds. */
static void token_new(struct mds *m, uint32_t vni, uint32_t src, const struct net_port *p, long ttl,
                      int64_t now, char out[MDS_TOKEN_LEN])
{
    /* Drop the expired ones; a source keeps at most MDS_TOKENS_PER_SRC
     * (beyond, its token expiring soonest goes). */
    int mine = 0, soonest = -1;
    for (int i = 0; i < m->ntokens;) {
        struct token *t = &m->tokens[i];
        if (t->expires_ms <= now) {
            *t = m->tokens[--m->ntokens];
            continue;
        }
        if (t->vni == vni && t->src == src) {
            mine++;
            if (soonest < 0 || t->expires_ms < m->tokens[soonest].expires_ms)
                soonest = i;
        }
        i++;
    }
    if (mine >= MDS_TOKENS_PER_SRC)
        m->tokens[soonest] = m->tokens[--m->ntokens];
    if (m->ntokens == m->atokens) {
        int na = m->atokens ? 2 * m->atokens : 16;
        struct token *nt = xcalloc((size_t)na, sizeof(*nt));
        if (m->ntokens > 0)
            memcpy(nt, m->tokens, (size_t)m->ntokens * sizeof(*nt));
        free(m->tokens);
        m->tokens = nt;
        m->atokens = na;
    }
    unsigned char r[MDS_TOKEN_BYTES];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        out[0] = '\0'; /* the caller answers 500 */
        return;
    }
    for (int i = 0; i < MDS_TOKEN_BYTES; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
    struct token *t = &m->tokens[m->ntokens++];
    *t = (struct token){.vni = vni, .src = src, .expires_ms = now + ttl * 1000};
    str_copy(t->instance_id, sizeof(t->instance_id), p->instance_id);
    str_copy(t->value, sizeof(t->value), out);
}

/* True when tok is a live token of port p on vni, issued to src. */
static bool token_valid(const struct mds *m, uint32_t vni, uint32_t src, const struct net_port *p,
                        const char *tok, int64_t now)
{
    bool ok = false;
    for (int i = 0; i < m->ntokens; i++) {
        const struct token *t = &m->tokens[i];
        if (t->vni == vni && t->src == src && t->expires_ms > now &&
            strcmp(t->instance_id, p->instance_id) == 0 && token_eq(t->value, tok))
            ok = true;
    }
    return ok;
}

/* PUT /latest/api/token. */
static void answer_token(struct mds *m, struct conn *c, const struct net_port *p)
{
    char ttl_s[16], tok[MDS_TOKEN_LEN];
    const char *xff;
    size_t xl;
    if (header_find(c->buf, "X-Forwarded-For", &xff, &xl))
        return reply_text(c, 403, "a token request must not come through a proxy\n", false);
    if (p == NULL)
        return reply_text(c, 404, "no instance has this address on this network\n", false);
    if (!header(c->buf, "X-aws-ec2-metadata-token-ttl-seconds", ttl_s, sizeof(ttl_s)))
        return reply_text(c, 400,
                          "missing header X-aws-ec2-metadata-token-ttl-seconds: the token's "
                          "lifetime in seconds, 1 to 21600\n",
                          false);
    long ttl = 0;
    size_t dl = strspn(ttl_s, "0123456789");
    if (dl == 0 || dl > 5 || ttl_s[dl] != '\0' || (ttl = strtol(ttl_s, NULL, 10)) < 1 ||
        ttl > MDS_TOKEN_TTL_MAX)
        return reply_text(c, 400,
                          "X-aws-ec2-metadata-token-ttl-seconds must be a number of seconds "
                          "from 1 to 21600\n",
                          false);
    token_new(m, c->vni, c->src, p, ttl, clock_mono_ms(), tok);
    if (tok[0] == '\0')
        return reply_text(c, 500, "cannot make a token; try again\n", false);
    char extra[80];
    snprintf(extra, sizeof(extra), "X-aws-ec2-metadata-token-ttl-seconds: %ld\r\n", ttl);
    reply_hdrs(c, 200, "text/plain", tok, strlen(tok), false, extra);
}

/* Parses the request line and queues the answer in c->out. */
static void answer(struct mds *m, struct conn *c)
{
    char method[8], path[512];
    int64_t now = clock_mono_ms();
    if (!rate_take(m, c->vni, c->src, now)) /* bad requests count too */
        return reply_text(c, 429, "too many requests; slow down\n", false);
    const char *sp = strchr(c->buf, ' ');
    size_t ml = sp ? (size_t)(sp - c->buf) : 0;
    const char *pe = sp ? strchr(sp + 1, ' ') : NULL;
    size_t pl = pe ? (size_t)(pe - sp - 1) : 0;
    if (ml == 0 || ml >= sizeof(method) || pl == 0 || pl >= sizeof(path) || sp[1] != '/')
        return reply_text(c, 400, "bad request\n", false);
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
    if (strcmp(method, "PUT") == 0 && strcmp(path, "/latest/api/token") == 0)
        return answer_token(m, c, p);
    if (strcmp(method, "GET") != 0 && !head)
        return reply_text(c, 405, "only GET and HEAD (and PUT /latest/api/token)\n", false);
    if (d == NULL)
        return reply_text(c, 404, "no instance has this address on this network\n", head);
    /* A token sent must be valid (also when not required, as on EC2). */
    char tok[MDS_TOKEN_LEN + 1];
    const char *tv;
    size_t tl;
    if (header_find(c->buf, "X-aws-ec2-metadata-token", &tv, &tl)) {
        if (!header(c->buf, "X-aws-ec2-metadata-token", tok, sizeof(tok)) ||
            !token_valid(m, c->vni, c->src, p, tok, now))
            return reply_text(c, 401,
                              "the session token is invalid or expired: get a new one with PUT "
                              "/latest/api/token\n",
                              head);
    } else if (d->metadata_tokens_required) {
        return reply_text(c, 401,
                          "this instance requires a session token: PUT /latest/api/token with "
                          "header X-aws-ec2-metadata-token-ttl-seconds (1 to 21600), then send "
                          "it in header X-aws-ec2-metadata-token\n",
                          head);
    }
    /* The versions cloud-init 22.4's Ec2 datasource tries (it needs
     * 2009-04-04, then takes the newest of the others that answers); every
     * dated version serves the same tree as "latest". */
    if (strcmp(path, "/") == 0)
        return reply_text(
            c, 200, "2009-04-04\n2016-09-02\n2018-09-24\n2021-03-23\nlatest\nopenstack", head);
    if (strncmp(path, "/openstack", 10) == 0)
        return answer_openstack(c, p, d, path + 10, head);
    const char *v = path + 1;
    size_t vl = strcspn(v, "/");
    if (!is_version(v, vl))
        return reply_text(c, 404, "not found\n", head);
    const char *rest = v + vl;
    if (*rest == '/')
        rest++;
    answer_ec2(c, p, d, rest, head);
}

/* A new connection of l from sa is refused (closed at once) beyond the
 * per-source, per-network and overall limits; open ones are never
 * dropped for it. */
static void accept_on(struct mds *m, const struct listener *l)
{
    for (int n = 0; n < 16; n++) {
        struct sockaddr_in sa;
        socklen_t sl = sizeof(sa);
        int fd = accept4(l->fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        uint32_t src = ntohl(sa.sin_addr.s_addr);
        int slot = -1, per_src = 0, per_net = 0;
        for (int i = 0; i < MDS_MAX_CONNS; i++) {
            const struct conn *o = m->conns[i];
            if (o == NULL) {
                if (slot < 0)
                    slot = i;
                continue;
            }
            per_net += o->vni == l->vni;
            per_src += o->vni == l->vni && o->src == src;
        }
        if (slot < 0 || per_src >= MDS_MAX_PER_SRC || per_net >= MDS_MAX_PER_NET) {
            char s[NET_IP_LEN];
            log_debug("metadata: vni %u: connection from %s refused (%s)", l->vni,
                      inet_ipv4_format(src, s),
                      slot < 0                     ? "too many connections"
                      : per_src >= MDS_MAX_PER_SRC ? "too many from this address"
                                                   : "too many on this network");
            close(fd);
            continue;
        }
        /* A fixed send buffer also bounds the kernel memory a guest that
         * does not read can hold (autotuning would grow it to megabytes). */
        int sb = MDS_SNDBUF;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb));
        struct conn *c = xcalloc(1, sizeof(*c));
        c->fd = fd;
        c->vni = l->vni;
        c->src = src;
        c->deadline = clock_mono_ms() + MDS_READ_MS;
        dynbuf_init(&c->out, MDS_OUT_MAX);
        m->conns[slot] = c;
    }
}

/* Sends what the socket takes now.  Returns true when the connection is
 * finished (all sent, or the peer is gone). */
static bool conn_write(struct conn *c)
{
    const char *p = dynbuf_str(&c->out);
    size_t len = dynbuf_len(&c->out);
    while (c->sent < len) {
        ssize_t w = send(c->fd, p + c->sent, len - c->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0)
            c->sent += (size_t)w;
        else if (w < 0 && errno == EINTR)
            continue;
        else
            return !(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
    }
    return true;
}

/* The answer is queued: from now on the connection only writes, within
 * MDS_WRITE_MS. */
static bool conn_answered(struct conn *c)
{
    c->writing = true;
    c->sent = 0;
    c->deadline = clock_mono_ms() + MDS_WRITE_MS;
    return conn_write(c);
}

/* Reads what is there; answers once the header is complete. Returns true
 * when the connection is finished. */
static bool conn_read(struct mds *m, struct conn *c)
{
    for (;;) {
        ssize_t r = recv(c->fd, c->buf + c->len, MDS_REQ_MAX - c->len, MSG_DONTWAIT);
        if (r == 0)
            return true;
        if (r < 0)
            return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
        c->len += (size_t)r;
        c->buf[c->len] = '\0';
        if (strstr(c->buf, "\r\n\r\n") || strstr(c->buf, "\n\n")) {
            answer(m, c);
            return conn_answered(c);
        }
        if (c->len >= MDS_REQ_MAX) {
            if (!rate_take(m, c->vni, c->src, clock_mono_ms()))
                reply_text(c, 429, "too many requests; slow down\n", false);
            else
                reply_text(c, 400, "request too large\n", false);
            return conn_answered(c);
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
        for (int i = 0; i < MDS_MAX_CONNS; i++) {
            struct conn *c = m->conns[i];
            if (c && c->fd == fds[k].fd && (c->writing ? conn_write(c) : conn_read(m, c)))
                conn_close(m, i);
        }
    }
    int64_t now = clock_mono_ms();
    for (int i = 0; i < MDS_MAX_CONNS; i++)
        if (m->conns[i] && now >= m->conns[i]->deadline)
            conn_close(m, i);
}
