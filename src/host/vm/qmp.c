/*
 * qmp.c - see vm_int.h ("the QMP client") for the protocol and the client's contract.
 */
#include "host/vm/vm_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/dynbuf.h"
#include "lib/log.h"
#include "lib/util.h"

struct queued_event {
    json_t *msg;
    struct queued_event *next;
};

struct qmp {
    int fd;
    struct dynbuf in; /* bytes read but not yet framed into lines */
    unsigned long next_id;
    int broken;
    qmp_event_fn on_event;
    void *ctx;
    struct queued_event *head, *tail;
    json_t *greeting;
};

struct qmp *qmp_new(int fd, qmp_event_fn on_event, void *ctx)
{
    struct qmp *q = xcalloc(1, sizeof(*q));
    q->fd = fd;
    dynbuf_init(&q->in, QMP_LINE_MAX + 8192);
    q->next_id = 1;
    q->on_event = on_event;
    q->ctx = ctx;
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    return q;
}

void qmp_free(struct qmp *q)
{
    if (q == NULL)
        return;
    if (q->fd >= 0)
        close(q->fd);
    while (q->head) {
        struct queued_event *e = q->head;
        q->head = e->next;
        json_decref(e->msg);
        free(e);
    }
    json_decref(q->greeting);
    dynbuf_free(&q->in);
    free(q);
}

int qmp_fd(const struct qmp *q)
{
    return q->fd;
}

int qmp_pending(const struct qmp *q)
{
    return q->head != NULL;
}

static int mark_broken(struct qmp *q, struct nubo_err *err, const char *why)
{
    q->broken = 1;
    return nubo_err_set(err, NUBO_E_UNAVAILABLE, "QEMU monitor connection failed: %s", why);
}

/* Reads once from the socket into the buffer.  Returns bytes read, 0 when
 * nothing is available now, -1 when closed/broken. */
static ssize_t fill(struct qmp *q, struct nubo_err *err)
{
    if (q->broken)
        return mark_broken(q, err, "connection already broken");
    char chunk[4096];
    size_t want = dynbuf_room(&q->in) < sizeof(chunk) ? dynbuf_room(&q->in) : sizeof(chunk);
    if (want == 0)
        return mark_broken(q, err, "message too large");
    ssize_t r = read(q->fd, chunk, want);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (r < 0)
        return mark_broken(q, err, strerror(errno));
    if (r == 0)
        return mark_broken(q, err, "QEMU closed the monitor socket");
    if (dynbuf_add(&q->in, chunk, (size_t)r) < 0)
        abort(); /* it fits: out of memory, as xmalloc */
    return r;
}

/* Takes the next complete line out of the buffer and parses it.  Returns 1
 * with *msg (new reference), 0 when no complete line is buffered, -1 on a
 * protocol error. */
static int next_msg(struct qmp *q, json_t **msg, struct nubo_err *err)
{
    *msg = NULL;
    for (;;) {
        const char *buf = dynbuf_str(&q->in);
        const char *nl = memchr(buf, '\n', dynbuf_len(&q->in));
        if (nl == NULL) {
            if (dynbuf_len(&q->in) > QMP_LINE_MAX)
                return mark_broken(q, err, "message too large");
            return 0;
        }
        size_t linelen = (size_t)(nl - buf);
        if (linelen > QMP_LINE_MAX)
            return mark_broken(q, err, "message too large");
        json_t *m = NULL;
        /* skip blank lines (bare "\r\n") */
        int blank = 1;
        for (size_t i = 0; i < linelen; i++)
            if (buf[i] != '\r' && buf[i] != ' ')
                blank = 0;
        if (!blank) {
            json_error_t je;
            m = json_loadb(buf, linelen, 0, &je);
        }
        dynbuf_consume(&q->in, linelen + 1);
        if (blank)
            continue;
        if (m == NULL || !json_is_object(m)) {
            json_decref(m);
            return mark_broken(q, err, "QEMU sent something that is not a JSON object");
        }
        *msg = m;
        return 1;
    }
}

static void queue_event(struct qmp *q, json_t *msg)
{
    struct queued_event *e = xcalloc(1, sizeof(*e));
    e->msg = msg;
    if (q->tail)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
}

/* Waits until the socket is readable or the deadline passes. */
static int wait_readable(struct qmp *q, int64_t deadline, struct nubo_err *err)
{
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0)
            return nubo_err_set(err, NUBO_E_TIMEOUT, "QEMU monitor did not answer in time");
        struct pollfd p = {.fd = q->fd, .events = POLLIN};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return mark_broken(q, err, strerror(errno));
        if (r > 0)
            return 0;
    }
}

/* Reads messages until one that is not an event arrives; events are queued. */
static json_t *read_reply(struct qmp *q, int64_t deadline, struct nubo_err *err)
{
    for (;;) {
        json_t *m;
        int r = next_msg(q, &m, err);
        if (r < 0)
            return NULL;
        if (r == 1) {
            if (json_object_get(m, "event")) {
                queue_event(q, m);
                continue;
            }
            return m;
        }
        if (wait_readable(q, deadline, err) < 0)
            return NULL;
        if (fill(q, err) < 0)
            return NULL;
    }
}

int qmp_handshake(struct qmp *q, int timeout_ms, struct nubo_err *err)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    json_t *g = read_reply(q, deadline, err);
    if (g == NULL)
        return -1;
    if (!json_is_object(json_object_get(g, "QMP"))) {
        json_decref(g);
        return mark_broken(q, err, "the socket did not greet like a QEMU monitor");
    }
    q->greeting = g;
    json_t *r = qmp_command(q, "qmp_capabilities", NULL, (int)(deadline - clock_mono_ms()), err);
    if (r == NULL)
        return -1;
    json_decref(r);
    return 0;
}

struct qmp *qmp_connect(const char *path, int timeout_ms, qmp_event_fn on_event, void *ctx,
                        struct nubo_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (str_copy(sa.sun_path, sizeof(sa.sun_path), path) < 0) {
        nubo_err_set(err, NUBO_E_INTERNAL, "monitor socket path too long: %s", path);
        return NULL;
    }
    int64_t deadline = clock_mono_ms() + timeout_ms;
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            nubo_err_set(err, NUBO_E_INTERNAL, "socket: %s", strerror(errno));
            return NULL;
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            struct qmp *q = qmp_new(fd, on_event, ctx);
            int left = (int)(deadline - clock_mono_ms());
            if (qmp_handshake(q, left > 1000 ? left : 1000, err) < 0) {
                qmp_free(q);
                return NULL;
            }
            return q;
        }
        int e = errno;
        close(fd);
        if ((e != ENOENT && e != ECONNREFUSED) || clock_mono_ms() >= deadline) {
            nubo_err_set(err, NUBO_E_UNAVAILABLE, "cannot connect to the QEMU monitor: %s",
                         strerror(e));
            return NULL;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

json_t *qmp_command(struct qmp *q, const char *name, json_t *args, int timeout_ms,
                    struct nubo_err *err)
{
    if (q->broken) {
        json_decref(args);
        mark_broken(q, err, "connection already broken");
        return NULL;
    }
    unsigned long id = q->next_id++;
    json_t *cmd = json_pack("{s:s, s:I}", "execute", name, "id", (json_int_t)id);
    if (args)
        json_object_set_new(cmd, "arguments", args);
    char *line = json_dumps(cmd, JSON_COMPACT);
    json_decref(cmd);
    if (line == NULL)
        abort();
    log_debug("qmp -> %s", line);
    size_t n = strlen(line);
    line = realloc(line, n + 2);
    if (line == NULL)
        abort();
    line[n++] = '\n';
    size_t off = 0;
    int64_t deadline = clock_mono_ms() + timeout_ms;
    while (off < n) {
        ssize_t w = send(q->fd, line + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd p = {.fd = q->fd, .events = POLLOUT};
            int64_t left = deadline - clock_mono_ms();
            if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
                free(line);
                nubo_err_set(err, NUBO_E_TIMEOUT, "QEMU monitor does not accept commands");
                return NULL;
            }
            continue;
        }
        if (w < 0) {
            free(line);
            mark_broken(q, err, strerror(errno));
            return NULL;
        }
        off += (size_t)w;
    }
    free(line);
    for (;;) {
        json_t *m = read_reply(q, deadline, err);
        if (m == NULL)
            return NULL;
        json_t *jid = json_object_get(m, "id");
        if (!json_is_integer(jid) || (unsigned long)json_integer_value(jid) != id) {
            log_debug("qmp: dropping a reply that is not for command %lu", id);
            json_decref(m);
            continue;
        }
        json_t *ret = json_object_get(m, "return");
        json_t *e = json_object_get(m, "error");
        if (ret) {
            json_incref(ret);
            json_decref(m);
            return ret;
        }
        if (json_is_object(e)) {
            const char *cls = json_string_value(json_object_get(e, "class"));
            const char *desc = json_string_value(json_object_get(e, "desc"));
            nubo_err_set(err, NUBO_E_UNAVAILABLE, "QEMU refused %s: %s", name,
                         desc ? desc : (cls ? cls : "unknown error"));
            json_decref(m);
            return NULL;
        }
        json_decref(m);
        mark_broken(q, err, "a reply with neither return nor error");
        return NULL;
    }
}

int qmp_process(struct qmp *q, struct nubo_err *err)
{
    int rc = 0;
    for (;;) {
        json_t *m;
        int r = next_msg(q, &m, err);
        if (r < 0) {
            rc = -1;
            break;
        }
        if (r == 1) {
            if (json_object_get(m, "event"))
                queue_event(q, m);
            else {
                log_debug("qmp: dropping an unexpected reply");
                json_decref(m);
            }
            continue;
        }
        ssize_t got = fill(q, err);
        if (got < 0) {
            rc = -1;
            break;
        }
        if (got == 0)
            break;
    }
    /* Dispatch after reading so that events that preceded a hang-up are
     * still delivered (a SHUTDOWN just before QEMU exits). */
    while (q->head) {
        struct queued_event *e = q->head;
        q->head = e->next;
        if (q->head == NULL)
            q->tail = NULL;
        const char *name = json_string_value(json_object_get(e->msg, "event"));
        if (name && q->on_event)
            q->on_event(q->ctx, name, json_object_get(e->msg, "data"));
        json_decref(e->msg);
        free(e);
    }
    return rc;
}
