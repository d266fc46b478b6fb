/*
 * test_qmp.c - unit tests of src/host/vm/qmp.c against a scripted fake monitor.
 *
 * Each test makes a socketpair(AF_UNIX): the client (struct qmp) owns one
 * end, the test plays QEMU on the other.  The monitor's lines are written
 * into the socket before the client runs (a stream socket holds them until
 * read), and what the client sent is read back afterwards and checked.  A
 * thread plays the monitor only where timing matters: a reply that arrives
 * in pieces, and a line too long for the socket buffer.
 *
 * Ids are sequential from 1: the handshake's qmp_capabilities is id 1, the
 * first command after it id 2.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "host/vm/vm_int.h"
#include "lib/util.h"

#define GREETING                                                                                   \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 8}, "              \
    "\"package\": \"\"}, \"capabilities\": [\"oob\"]}}\n"

/* ------------------------------------------------------------ helpers */

/* What the event callback saw: an array of {"event": NAME, "data": DATA}. */
struct seen {
    json_t *events;
};

static void on_event(void *ctx, const char *event, json_t *data)
{
    struct seen *s = ctx;
    json_array_append_new(s->events, json_pack("{s:s, s:O*}", "event", event, "data", data));
}

struct fake {
    int srv;       /* the monitor's end */
    struct qmp *q; /* the client, owning the other end */
    struct seen seen;
};

static bool fake_open(struct fake *f)
{
    int sv[2];
    memset(f, 0, sizeof(*f));
    f->srv = -1;
    if (!CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0))
        return false;
    f->srv = sv[1];
    f->seen.events = json_array();
    f->q = qmp_new(sv[0], on_event, &f->seen);
    return CHECK(f->q != NULL) && CHECK_INT_EQ(qmp_fd(f->q), sv[0]);
}

static void fake_close(struct fake *f)
{
    qmp_free(f->q);
    f->q = NULL;
    if (f->srv >= 0)
        close(f->srv);
    f->srv = -1;
    json_decref(f->seen.events);
    f->seen.events = NULL;
}

/* The monitor writes s (all of it; the socket buffer holds it). */
static void srv_write(int fd, const char *s)
{
    size_t n = strlen(s), off = 0;
    while (off < n) {
        ssize_t w = send(fd, s + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (!CHECK(w > 0))
            return;
        off += (size_t)w;
    }
}

/* Everything the client has sent so far, as an array of parsed lines.
 * Checks that each line is one JSON object. */
static json_t *srv_read_cmds(int fd)
{
    char buf[65536];
    size_t len = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + len, sizeof(buf) - 1 - len, MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    json_t *cmds = json_array();
    char *line = buf;
    while (*line) {
        char *nl = strchr(line, '\n');
        if (!CHECK(nl != NULL)) {
            fprintf(stderr, "    unterminated line: %s\n", line);
            break;
        }
        *nl = '\0';
        json_error_t je;
        json_t *m = json_loads(line, 0, &je);
        if (CHECK(json_is_object(m)))
            json_array_append_new(cmds, m);
        else
            fprintf(stderr, "    client sent: %s\n", line);
        line = nl + 1;
    }
    return cmds;
}

/* Checks that cmd is {"execute": name, "id": id[, "arguments": ...]} and
 * nothing else. */
static void check_cmd(json_t *cmd, const char *name, long long id, bool with_args)
{
    if (!CHECK(json_is_object(cmd)))
        return;
    CHECK_STR_EQ(json_string_value(json_object_get(cmd, "execute")), name);
    CHECK(json_is_integer(json_object_get(cmd, "id")));
    CHECK_INT_EQ(json_integer_value(json_object_get(cmd, "id")), id);
    CHECK_INT_EQ(json_object_get(cmd, "arguments") != NULL, with_args);
    CHECK_INT_EQ(json_object_size(cmd), with_args ? 3 : 2);
}

/* Greets, accepts qmp_capabilities, and checks what the client sent. */
static bool fake_handshake(struct fake *f)
{
    struct nubo_err err;
    srv_write(f->srv, GREETING "{\"return\": {}, \"id\": 1}\n");
    if (!CHECK_INT_EQ(qmp_handshake(f->q, 2000, &err), 0)) {
        fprintf(stderr, "    handshake: %s\n", err.msg);
        return false;
    }
    json_t *cmds = srv_read_cmds(f->srv);
    bool ok = CHECK_INT_EQ(json_array_size(cmds), 1);
    check_cmd(json_array_get(cmds, 0), "qmp_capabilities", 1, false);
    json_decref(cmds);
    return ok;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* -------------------------------------------------------------- tests */

static void test_handshake_ok(void)
{
    struct fake f;
    if (!fake_open(&f))
        return;
    fake_handshake(&f);
    CHECK(!qmp_pending(f.q));
    CHECK_INT_EQ(json_array_size(f.seen.events), 0);
    fake_close(&f);
}

static void test_command_return(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f) || !fake_handshake(&f))
        goto out;
    srv_write(f.srv, "{\"return\": {\"status\": \"running\", \"singlestep\": false, "
                     "\"running\": true}, \"id\": 2}\n");
    json_t *r = qmp_command(f.q, "query-status", NULL, 2000, &err);
    if (CHECK(json_is_object(r))) {
        CHECK_STR_EQ(json_string_value(json_object_get(r, "status")), "running");
        CHECK(json_is_true(json_object_get(r, "running")));
    }
    json_decref(r);
    json_t *cmds = srv_read_cmds(f.srv);
    CHECK_INT_EQ(json_array_size(cmds), 1);
    check_cmd(json_array_get(cmds, 0), "query-status", 2, false);
    json_decref(cmds);
out:
    fake_close(&f);
}

static void test_command_arguments(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f) || !fake_handshake(&f))
        goto out;
    srv_write(f.srv, "{\"return\": {}, \"id\": 2}\n");
    json_t *args = json_pack("{s:s, s:b}", "device", "disk1", "force", 1);
    json_t *r = qmp_command(f.q, "eject", args, 2000, &err); /* args stolen */
    CHECK(json_is_object(r));
    CHECK_INT_EQ(json_object_size(r), 0);
    json_decref(r);
    json_t *cmds = srv_read_cmds(f.srv);
    CHECK_INT_EQ(json_array_size(cmds), 1);
    json_t *cmd = json_array_get(cmds, 0);
    check_cmd(cmd, "eject", 2, true);
    json_t *sent = json_object_get(cmd, "arguments");
    CHECK_STR_EQ(json_string_value(json_object_get(sent, "device")), "disk1");
    CHECK(json_is_true(json_object_get(sent, "force")));
    CHECK_INT_EQ(json_object_size(sent), 2);
    json_decref(cmds);
out:
    fake_close(&f);
}

static void test_return_scalar_and_array(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f) || !fake_handshake(&f))
        goto out;
    srv_write(f.srv, "{\"return\": [{\"name\": \"a\"}, {\"name\": \"b\"}], \"id\": 2}\n"
                     "{\"id\": 3, \"return\": 42}\n");
    json_t *r = qmp_command(f.q, "query-block", NULL, 2000, &err);
    CHECK(json_is_array(r));
    CHECK_INT_EQ(json_array_size(r), 2);
    json_decref(r);
    r = qmp_command(f.q, "x-answer", NULL, 2000, &err);
    CHECK(json_is_integer(r));
    CHECK_INT_EQ(json_integer_value(r), 42);
    json_decref(r);
out:
    fake_close(&f);
}

static void test_command_error(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f) || !fake_handshake(&f))
        goto out;
    srv_write(f.srv, "{\"error\": {\"class\": \"DeviceNotFound\", "
                     "\"desc\": \"Device 'disk9' not found\"}, \"id\": 2}\n");
    nubo_err_clear(&err);
    json_t *r = qmp_command(f.q, "eject", json_pack("{s:s}", "device", "disk9"), 2000, &err);
    CHECK(r == NULL);
    CHECK_INT_EQ(err.code, NUBO_E_UNAVAILABLE);
    CHECK_STR_HAS(err.msg, "Device 'disk9' not found");
    CHECK_STR_HAS(err.msg, "eject");
    json_decref(r);

    /* An error without desc falls back to the class. */
    srv_write(f.srv, "{\"error\": {\"class\": \"GenericError\"}, \"id\": 3}\n");
    r = qmp_command(f.q, "stop", NULL, 2000, &err);
    CHECK(r == NULL);
    CHECK_STR_HAS(err.msg, "GenericError");

    /* An error answer does not break the connection. */
    srv_write(f.srv, "{\"return\": {}, \"id\": 4}\n");
    r = qmp_command(f.q, "cont", NULL, 2000, &err);
    CHECK(r != NULL);
    json_decref(r);
out:
    fake_close(&f);
}

static void test_events_before_reply(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f) || !fake_handshake(&f))
        goto out;
    srv_write(f.srv,
              "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"STOP\"}\n"
              "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, \"reason\": "
              "\"guest-shutdown\"}, \"timestamp\": {\"seconds\": 1, \"microseconds\": 3}}\n"
              "{\"event\": \"RESUME\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 4}}\n"
              "{\"return\": {\"status\": \"paused\"}, \"id\": 2}\n");
    json_t *r = qmp_command(f.q, "query-status", NULL, 2000, &err);
    CHECK_STR_EQ(json_string_value(json_object_get(r, "status")), "paused");
    json_decref(r);
    /* queued, not delivered from inside qmp_command */
    CHECK_INT_EQ(json_array_size(f.seen.events), 0);
    CHECK(qmp_pending(f.q));

    CHECK_INT_EQ(qmp_process(f.q, &err), 0);
    CHECK(!qmp_pending(f.q));
    if (CHECK_INT_EQ(json_array_size(f.seen.events), 3)) {
        json_t *e0 = json_array_get(f.seen.events, 0);
        json_t *e1 = json_array_get(f.seen.events, 1);
        json_t *e2 = json_array_get(f.seen.events, 2);
        CHECK_STR_EQ(json_string_value(json_object_get(e0, "event")), "STOP");
        CHECK(json_object_get(e0, "data") == NULL); /* no data: NULL to the callback */
        CHECK_STR_EQ(json_string_value(json_object_get(e1, "event")), "SHUTDOWN");
        CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(e1, "data"), "reason")),
                     "guest-shutdown");
        CHECK_STR_EQ(json_string_value(json_object_get(e2, "event")), "RESUME");
    }
    /* delivered once */
    CHECK_INT_EQ(qmp_process(f.q, &err), 0);
    CHECK_INT_EQ(json_array_size(f.seen.events), 3);
out:
    fake_close(&f);
}

static void test_events_during_handshake(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f))
        goto out;
    srv_write(f.srv, GREETING "{\"event\": \"RESET\", \"data\": {\"guest\": false}}\n"
                              "{\"return\": {}, \"id\": 1}\n");
    CHECK_INT_EQ(qmp_handshake(f.q, 2000, &err), 0);
    CHECK_INT_EQ(json_array_size(f.seen.events), 0);
    CHECK(qmp_pending(f.q));
    CHECK_INT_EQ(qmp_process(f.q, &err), 0);
    CHECK_INT_EQ(json_array_size(f.seen.events), 1);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(f.seen.events, 0), "event")),
                 "RESET");
out:
    fake_close(&f);
}

static void test_events_without_command(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f) || !fake_handshake(&f))
        goto out;
    /* nothing to read: not an error */
    CHECK_INT_EQ(qmp_process(f.q, &err), 0);
    CHECK_INT_EQ(json_array_size(f.seen.events), 0);

    srv_write(f.srv, "{\"event\": \"POWERDOWN\"}\n"
                     "{\"return\": {}, \"id\": 77}\n" /* unexpected reply: dropped */
                     "{\"event\": \"SHUTDOWN\", \"data\": {\"reason\": \"host-qmp-quit\"}}\n");
    CHECK_INT_EQ(qmp_process(f.q, &err), 0);
    if (CHECK_INT_EQ(json_array_size(f.seen.events), 2)) {
        CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(f.seen.events, 0), "event")),
                     "POWERDOWN");
        CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(f.seen.events, 1), "event")),
                     "SHUTDOWN");
    }
    /* the stream is still in step: the next command gets its own reply */
    srv_write(f.srv, "{\"return\": \"mine\", \"id\": 2}\n");
    json_t *r = qmp_command(f.q, "x", NULL, 2000, &err);
    CHECK_STR_EQ(json_string_value(r), "mine");
    json_decref(r);
out:
    fake_close(&f);
}

static void test_stale_reply_dropped(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f) || !fake_handshake(&f))
        goto out;
    srv_write(f.srv, "{\"return\": \"old\", \"id\": 1}\n"
                     "{\"return\": \"other\", \"id\": 99}\n"
                     "{\"return\": \"no id\"}\n"
                     "{\"return\": \"string id\", \"id\": \"2\"}\n"
                     "{\"error\": {\"class\": \"GenericError\", \"desc\": \"late\"}, \"id\": 0}\n"
                     "{\"return\": \"new\", \"id\": 2}\n");
    json_t *r = qmp_command(f.q, "query-name", NULL, 2000, &err);
    CHECK_STR_EQ(json_string_value(r), "new");
    json_decref(r);
out:
    fake_close(&f);
}

static void test_timeout_then_late_reply(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f) || !fake_handshake(&f))
        goto out;
    int64_t t0 = clock_mono_ms();
    nubo_err_clear(&err);
    json_t *r = qmp_command(f.q, "query-status", NULL, 200, &err);
    int64_t took = clock_mono_ms() - t0;
    CHECK(r == NULL);
    CHECK_INT_EQ(err.code, NUBO_E_TIMEOUT);
    CHECK(took >= 190);
    CHECK(took < 1500);
    json_t *cmds = srv_read_cmds(f.srv);
    CHECK_INT_EQ(json_array_size(cmds), 1);
    check_cmd(json_array_get(cmds, 0), "query-status", 2, false);
    json_decref(cmds);

    /* The late answer to id 2 arrives before the answer to id 3: dropped. */
    srv_write(f.srv, "{\"return\": {\"status\": \"late\"}, \"id\": 2}\n"
                     "{\"return\": {\"status\": \"running\"}, \"id\": 3}\n");
    r = qmp_command(f.q, "query-status", NULL, 2000, &err);
    CHECK_STR_EQ(json_string_value(json_object_get(r, "status")), "running");
    json_decref(r);
out:
    fake_close(&f);
}

/* A monitor that writes its reply in pieces with pauses. */
struct slow_writer {
    int fd;
    const char *const *pieces;
};

static void *slow_write(void *arg)
{
    struct slow_writer *w = arg;
    for (int i = 0; w->pieces[i]; i++) {
        sleep_ms(30);
        size_t n = strlen(w->pieces[i]);
        if (send(w->fd, w->pieces[i], n, MSG_NOSIGNAL) != (ssize_t)n)
            break;
    }
    return NULL;
}

static void test_split_reply(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f) || !fake_handshake(&f))
        goto out;
    static const char *const pieces[] = {
        "{\"event\": \"RT",
        "C_CHANGE\", \"data\": {\"offset\": 1}}",
        "\n{\"ret",
        "urn\": {\"a\"",
        ": 1}, \"i",
        "d\": 2}",
        "\n",
        NULL,
    };
    struct slow_writer w = {f.srv, pieces};
    pthread_t th;
    if (!CHECK(pthread_create(&th, NULL, slow_write, &w) == 0))
        goto out;
    json_t *r = qmp_command(f.q, "x", NULL, 3000, &err);
    pthread_join(th, NULL);
    if (!CHECK(json_is_object(r)))
        fprintf(stderr, "    %s\n", err.msg);
    CHECK_INT_EQ(json_integer_value(json_object_get(r, "a")), 1);
    json_decref(r);
    CHECK_INT_EQ(qmp_process(f.q, &err), 0);
    CHECK_INT_EQ(json_array_size(f.seen.events), 1);
    CHECK_STR_EQ(json_string_value(json_object_get(json_array_get(f.seen.events, 0), "event")),
                 "RTC_CHANGE");
out:
    fake_close(&f);
}

static void test_blank_lines(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f))
        goto out;
    srv_write(f.srv, "\n\r\n" GREETING "   \n\r\n{\"return\": {}, \"id\": 1}\r\n");
    CHECK_INT_EQ(qmp_handshake(f.q, 2000, &err), 0);
    srv_write(f.srv, "\n\n\r\n{\"return\": 5, \"id\": 2}\n\n");
    json_t *r = qmp_command(f.q, "x", NULL, 2000, &err);
    CHECK_INT_EQ(json_integer_value(r), 5);
    json_decref(r);
    CHECK_INT_EQ(qmp_process(f.q, &err), 0);
out:
    fake_close(&f);
}

/* After a protocol error the connection is broken for good. */
static void check_broken(struct fake *f)
{
    struct nubo_err err;
    nubo_err_clear(&err);
    srv_write(f->srv, "{\"return\": {}, \"id\": 3}\n");
    int64_t t0 = clock_mono_ms();
    json_t *r = qmp_command(f->q, "x", NULL, 2000, &err);
    CHECK(r == NULL);
    CHECK(clock_mono_ms() - t0 < 500); /* fails at once, does not wait */
    CHECK_INT_EQ(err.code, NUBO_E_UNAVAILABLE);
    CHECK_STR_HAS(err.msg, "broken");
    json_decref(r);
    CHECK_INT_EQ(qmp_process(f->q, &err), -1);
}

static void test_not_json(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f) || !fake_handshake(&f))
        goto out;
    srv_write(f.srv, "this is not json\n{\"return\": {}, \"id\": 2}\n");
    nubo_err_clear(&err);
    json_t *r = qmp_command(f.q, "x", NULL, 2000, &err);
    CHECK(r == NULL);
    CHECK_INT_EQ(err.code, NUBO_E_UNAVAILABLE);
    CHECK_STR_HAS(err.msg, "not a JSON object");
    json_decref(r);
    check_broken(&f);
out:
    fake_close(&f);
}

static void test_json_not_object(void)
{
    static const char *const lines[] = {
        "[1, 2]\n",
        "\"text\"\n",
        "42\n",
        "{\"return\": {}, \"id\": 2} trailing\n",
        "{\"return\": {}, \"id\": 2\n",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        struct fake f;
        struct nubo_err err;
        if (!fake_open(&f) || !fake_handshake(&f)) {
            fake_close(&f);
            return;
        }
        srv_write(f.srv, lines[i]);
        nubo_err_clear(&err);
        json_t *r = qmp_command(f.q, "x", NULL, 2000, &err);
        if (!CHECK(r == NULL))
            fprintf(stderr, "    accepted: %s", lines[i]);
        CHECK_STR_HAS(err.msg, "not a JSON object");
        json_decref(r);
        check_broken(&f);
        fake_close(&f);
    }
}

static void test_reply_without_return_or_error(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f) || !fake_handshake(&f))
        goto out;
    srv_write(f.srv, "{\"id\": 2, \"something\": 1}\n");
    json_t *r = qmp_command(f.q, "x", NULL, 2000, &err);
    CHECK(r == NULL);
    CHECK_STR_HAS(err.msg, "neither return nor error");
    json_decref(r);
    check_broken(&f);
out:
    fake_close(&f);
}

/* A monitor that sends `len` bytes of one JSON reply line (a string of
 * 'x' inside {"return": "...", "id": 2}) and then a newline, as fast as the
 * client reads. */
struct long_writer {
    int fd;
    size_t len;
};

static void *long_write(void *arg)
{
    struct long_writer *w = arg;
    char *line = malloc(w->len + 1);
    if (line == NULL)
        return NULL;
    static const char head[] = "{\"id\": 2, \"return\": \"";
    static const char tail[] = "\"}\n";
    memset(line, 'x', w->len);
    memcpy(line, head, sizeof(head) - 1);
    memcpy(line + w->len - (sizeof(tail) - 1), tail, sizeof(tail) - 1);
    size_t off = 0;
    while (off < w->len) {
        ssize_t n = send(w->fd, line + off, w->len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the client hung up, as it should */
        off += (size_t)n;
    }
    free(line);
    return NULL;
}

static void test_line_too_long(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f) || !fake_handshake(&f))
        goto out;
    struct long_writer w = {f.srv, 2 * (size_t)QMP_LINE_MAX};
    pthread_t th;
    if (!CHECK(pthread_create(&th, NULL, long_write, &w) == 0))
        goto out;
    nubo_err_clear(&err);
    json_t *r = qmp_command(f.q, "x", NULL, 10000, &err);
    CHECK(r == NULL);
    CHECK_INT_EQ(err.code, NUBO_E_UNAVAILABLE);
    CHECK_STR_HAS(err.msg, "too large");
    json_decref(r);
    /* the client hangs up: the writer's send fails and it ends */
    qmp_free(f.q);
    f.q = NULL;
    pthread_join(th, NULL);
out:
    fake_close(&f);
}

/* A reply line barely longer than QMP_LINE_MAX whose newline arrives in the
 * same read as its last bytes.  Needs a socket buffer that holds the whole
 * line (SO_SNDBUFFORCE, root only), so that the reads are deterministic. */
static void test_line_just_over_max(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f) || !fake_handshake(&f))
        goto out;
    int sz = 8 << 20;
    if (setsockopt(f.srv, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0) {
        fprintf(stderr, "    SKIP: cannot enlarge the socket buffer: %s\n", strerror(errno));
        goto out;
    }
    size_t len = QMP_LINE_MAX + 64; /* including the newline */
    char *line = malloc(len + 1);
    if (!CHECK(line != NULL))
        goto out;
    memset(line, 'x', len);
    memcpy(line, "{\"id\": 2, \"return\": \"", 21);
    memcpy(line + len - 3, "\"}\n", 3);
    line[len] = '\0';
    ssize_t n = send(f.srv, line, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    free(line);
    if (n != (ssize_t)len) {
        fprintf(stderr, "    SKIP: the socket buffer took %zd of %zu bytes\n", n, len);
        goto out;
    }
    nubo_err_clear(&err);
    json_t *r = qmp_command(f.q, "x", NULL, 5000, &err);
    /* regression: a too-long line was accepted when its newline was buffered */
    CHECK(r == NULL);
    json_decref(r);
out:
    fake_close(&f);
}

static void test_server_closes(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f) || !fake_handshake(&f))
        goto out;
    /* QEMU sends its last event and exits */
    srv_write(f.srv, "{\"event\": \"SHUTDOWN\", \"data\": {\"reason\": \"guest-shutdown\"}}\n");
    close(f.srv);
    f.srv = -1;
    nubo_err_clear(&err);
    CHECK_INT_EQ(qmp_process(f.q, &err), -1);
    CHECK_INT_EQ(err.code, NUBO_E_UNAVAILABLE);
    CHECK_STR_HAS(err.msg, "closed");
    /* the event that preceded the hang-up is still delivered */
    CHECK_INT_EQ(json_array_size(f.seen.events), 1);
    CHECK_INT_EQ(qmp_process(f.q, &err), -1);
    json_t *r = qmp_command(f.q, "x", NULL, 2000, &err);
    CHECK(r == NULL);
    json_decref(r);
out:
    fake_close(&f);
}

static void test_closed_while_waiting(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f) || !fake_handshake(&f))
        goto out;
    shutdown(f.srv, SHUT_WR); /* no reply will ever come */
    int64_t t0 = clock_mono_ms();
    nubo_err_clear(&err);
    json_t *r = qmp_command(f.q, "x", NULL, 3000, &err);
    CHECK(r == NULL);
    CHECK(clock_mono_ms() - t0 < 1000); /* not a timeout */
    CHECK_INT_EQ(err.code, NUBO_E_UNAVAILABLE);
    CHECK_STR_HAS(err.msg, "closed");
out:
    fake_close(&f);
}

static void test_bad_greeting(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f))
        goto out;
    srv_write(f.srv, "{\"hello\": {\"version\": 1}}\n{\"return\": {}, \"id\": 1}\n");
    nubo_err_clear(&err);
    CHECK_INT_EQ(qmp_handshake(f.q, 2000, &err), -1);
    CHECK_INT_EQ(err.code, NUBO_E_UNAVAILABLE);
    CHECK_STR_HAS(err.msg, "greet");
    /* it did not send qmp_capabilities to a stranger */
    json_t *cmds = srv_read_cmds(f.srv);
    CHECK_INT_EQ(json_array_size(cmds), 0);
    json_decref(cmds);
    check_broken(&f);
out:
    fake_close(&f);
}

static void test_greeting_qmp_not_object(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f))
        goto out;
    srv_write(f.srv, "{\"QMP\": \"yes\"}\n{\"return\": {}, \"id\": 1}\n");
    CHECK_INT_EQ(qmp_handshake(f.q, 2000, &err), -1);
out:
    fake_close(&f);
}

static void test_capabilities_refused(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f))
        goto out;
    srv_write(f.srv, GREETING "{\"error\": {\"class\": \"CommandNotFound\", "
                              "\"desc\": \"Capabilities negotiation is already complete\"}, "
                              "\"id\": 1}\n");
    nubo_err_clear(&err);
    CHECK_INT_EQ(qmp_handshake(f.q, 2000, &err), -1);
    CHECK_STR_HAS(err.msg, "negotiation");
out:
    fake_close(&f);
}

static void test_greeting_timeout(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f))
        goto out;
    int64_t t0 = clock_mono_ms();
    nubo_err_clear(&err);
    CHECK_INT_EQ(qmp_handshake(f.q, 200, &err), -1);
    int64_t took = clock_mono_ms() - t0;
    CHECK_INT_EQ(err.code, NUBO_E_TIMEOUT);
    CHECK(took >= 190 && took < 1500);
out:
    fake_close(&f);
}

static void test_monitor_never_answers(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f) || !fake_handshake(&f))
        goto out;
    /* events keep coming, but never the reply */
    srv_write(f.srv, "{\"event\": \"RTC_CHANGE\"}\n{\"event\": \"RTC_CHANGE\"}\n");
    int64_t t0 = clock_mono_ms();
    nubo_err_clear(&err);
    json_t *r = qmp_command(f.q, "query-status", NULL, 200, &err);
    int64_t took = clock_mono_ms() - t0;
    CHECK(r == NULL);
    CHECK_INT_EQ(err.code, NUBO_E_TIMEOUT);
    CHECK(took >= 190 && took < 1500);
    CHECK_INT_EQ(json_array_size(f.seen.events), 0);
    CHECK_INT_EQ(qmp_process(f.q, &err), 0); /* a timeout does not break the connection */
    CHECK_INT_EQ(json_array_size(f.seen.events), 2);
out:
    fake_close(&f);
}

static void test_ids_sequential(void)
{
    struct fake f;
    struct nubo_err err;
    if (!fake_open(&f) || !fake_handshake(&f))
        goto out;
    for (int id = 2; id <= 6; id++) {
        char reply[64];
        snprintf(reply, sizeof(reply), "{\"return\": %d, \"id\": %d}\n", id * 10, id);
        srv_write(f.srv, reply);
        json_t *r = qmp_command(f.q, "x", NULL, 2000, &err);
        CHECK_INT_EQ(json_integer_value(r), id * 10);
        json_decref(r);
    }
    json_t *cmds = srv_read_cmds(f.srv);
    CHECK_INT_EQ(json_array_size(cmds), 5);
    for (size_t i = 0; i < json_array_size(cmds); i++)
        check_cmd(json_array_get(cmds, i), "x", (long long)i + 2, false);
    json_decref(cmds);
out:
    fake_close(&f);
}

/* qmp_connect: a monitor whose socket appears only after a while. */
struct late_server {
    char path[108];
    int ok;
};

static void *late_serve(void *arg)
{
    struct late_server *s = arg;
    sleep_ms(150);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->path);
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0)
        return NULL;
    int c = accept(l, NULL, NULL);
    close(l);
    if (c < 0)
        return NULL;
    static const char msgs[] = GREETING "{\"return\": {}, \"id\": 1}\n";
    if (send(c, msgs, sizeof(msgs) - 1, MSG_NOSIGNAL) == (ssize_t)sizeof(msgs) - 1) {
        char buf[256];
        ssize_t n = recv(c, buf, sizeof(buf) - 1, 0);
        if (n > 0) {
            buf[n] = '\0';
            s->ok = strstr(buf, "\"qmp_capabilities\"") != NULL;
        }
    }
    close(c);
    return NULL;
}

static void test_connect(void)
{
    char dir[] = "/tmp/nubo-test-qmp-XXXXXX";
    if (!CHECK(mkdtemp(dir) != NULL))
        return;
    struct late_server s = {.ok = 0};
    snprintf(s.path, sizeof(s.path), "%s/qmp.sock", dir);
    pthread_t th;
    if (!CHECK(pthread_create(&th, NULL, late_serve, &s) == 0)) {
        rmdir(dir);
        return;
    }
    struct nubo_err err;
    nubo_err_clear(&err);
    struct qmp *q = qmp_connect(s.path, 3000, NULL, NULL, &err);
    if (!CHECK(q != NULL))
        fprintf(stderr, "    %s\n", err.msg);
    pthread_join(th, NULL);
    CHECK(s.ok);
    qmp_free(q);
    unlink(s.path);

    /* nobody there: gives up after the timeout */
    int64_t t0 = clock_mono_ms();
    q = qmp_connect(s.path, 200, NULL, NULL, &err);
    int64_t took = clock_mono_ms() - t0;
    CHECK(q == NULL);
    CHECK_INT_EQ(err.code, NUBO_E_UNAVAILABLE);
    CHECK(took >= 190 && took < 1500);
    qmp_free(q);
    rmdir(dir);
}

CHECK_MAIN(TEST(test_handshake_ok), TEST(test_command_return), TEST(test_command_arguments),
           TEST(test_return_scalar_and_array), TEST(test_command_error),
           TEST(test_events_before_reply), TEST(test_events_during_handshake),
           TEST(test_events_without_command), TEST(test_stale_reply_dropped),
           TEST(test_timeout_then_late_reply), TEST(test_split_reply), TEST(test_blank_lines),
           TEST(test_not_json), TEST(test_json_not_object),
           TEST(test_reply_without_return_or_error), TEST(test_line_too_long),
           TEST(test_line_just_over_max), TEST(test_server_closes), TEST(test_closed_while_waiting),
           TEST(test_bad_greeting), TEST(test_greeting_qmp_not_object),
           TEST(test_capabilities_refused), TEST(test_greeting_timeout),
           TEST(test_monitor_never_answers), TEST(test_ids_sequential), TEST(test_connect))
