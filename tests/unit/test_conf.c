/*
 * test_conf.c - unit tests of src/lib/conf.c (daemon configuration files
 * turned into arguments) and src/lib/sdnotify.c (systemd's notification
 * datagrams, received here on a socket of the test's own).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "lib/conf.h"
#include "lib/fsutil.h"
#include "lib/sdnotify.h"

static char tmp[64];
static char path[128];

static const struct option opts[] = {
    {"listen", required_argument, NULL, 1},
    {"host-down-ms", required_argument, NULL, 2},
    {"print-routes", no_argument, NULL, 3},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void write_conf(const char *text)
{
    struct nubo_err err;
    CHECK_INT_EQ(fs_write_atomic(path, text, strlen(text), 0600, &err), 0);
}

/* conf_argv on argv (NULL-terminated); returns its result, out filled. */
static int parse(char **argv, struct strv *out, struct nubo_err *err)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    *out = (struct strv){0};
    nubo_err_clear(err);
    return conf_argv(argc, argv, opts, out, err);
}

static void test_file_then_command_line(void)
{
    write_conf("# nubod\n\n  listen = 0.0.0.0:7700  \nhost-down-ms=\"9000\"\r\nprint-routes\n");
    char *argv[] = {"nubod", "--config", path, "--listen", "127.0.0.1:1", NULL};
    struct strv a;
    struct nubo_err err;
    if (!CHECK_INT_EQ(parse(argv, &a, &err), 0))
        return;
    CHECK_INT_EQ(a.n, 6);
    CHECK_STR_EQ(a.v[0], "nubod");
    CHECK_STR_EQ(a.v[1], "--listen=0.0.0.0:7700");
    CHECK_STR_EQ(a.v[2], "--host-down-ms=9000");
    CHECK_STR_EQ(a.v[3], "--print-routes");
    CHECK_STR_EQ(a.v[4], "--listen"); /* the command line's, last: it wins */
    CHECK_STR_EQ(a.v[5], "127.0.0.1:1");
    CHECK(a.v[6] == NULL);
    strv_free(&a);
}

static void test_config_equals_form(void)
{
    write_conf("listen = 1.2.3.4:5\n");
    char opt[160];
    snprintf(opt, sizeof(opt), "--config=%s", path);
    char *argv[] = {"nubod", opt, NULL};
    struct strv a;
    struct nubo_err err;
    if (!CHECK_INT_EQ(parse(argv, &a, &err), 0))
        return;
    CHECK_INT_EQ(a.n, 2);
    CHECK_STR_EQ(a.v[1], "--listen=1.2.3.4:5");
    strv_free(&a);
}

static void test_without_config_a_copy(void)
{
    char *argv[] = {"nubod", "--listen", "x", NULL};
    struct strv a;
    struct nubo_err err;
    if (!CHECK_INT_EQ(parse(argv, &a, &err), 0))
        return;
    CHECK_INT_EQ(a.n, 3);
    CHECK_STR_EQ(a.v[2], "x");
    strv_free(&a);
}

/* A bad file: -1, the file and line named, nothing built. */
static void bad(const char *text, const char *why)
{
    write_conf(text);
    char *argv[] = {"nubod", "--config", path, NULL};
    struct strv a;
    struct nubo_err err;
    CHECK_INT_EQ(parse(argv, &a, &err), -1);
    CHECK_INT_EQ(err.code, NUBO_E_INVALID);
    CHECK_STR_HAS(err.msg, why);
    CHECK(a.v == NULL && a.n == 0);
}

static void test_bad_files(void)
{
    bad("listen = a\nlisten-on = b\n", ":2: unknown setting 'listen-on'");
    bad("print-routes = yes\n", ":1: 'print-routes' takes no value");
    bad("\n\nhost-down-ms\n", ":3: 'host-down-ms' needs a value");
    bad("help\n", "unknown setting 'help'");
    bad("config = /etc/other\n", "unknown setting 'config'");
    char *argv[] = {"nubod", "--config", "/nonexistent/nubo.conf", NULL};
    struct strv a;
    struct nubo_err err;
    CHECK_INT_EQ(parse(argv, &a, &err), -1);
    CHECK_STR_HAS(err.msg, "cannot read the configuration file /nonexistent/nubo.conf");
    char *argv2[] = {"nubod", "--config", NULL};
    CHECK_INT_EQ(parse(argv2, &a, &err), -1);
    CHECK_STR_HAS(err.msg, "--config needs a file");
}

/* ------------------------------------------------------------ sdnotify */

static void test_sdnotify(void)
{
    unsetenv("NOTIFY_SOCKET");
    CHECK_INT_EQ(sdnotify_send("READY=1"), 0); /* no manager: nothing to do */

    char sock[128];
    snprintf(sock, sizeof(sock), "%s/notify", tmp);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    if (!CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0))
        return;
    setenv("NOTIFY_SOCKET", sock, 1);
    CHECK_INT_EQ(sdnotify_send("READY=1\nSTATUS=serving"), 1);
    char buf[64] = {0};
    CHECK_INT_EQ(recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT), 22);
    CHECK_STR_EQ(buf, "READY=1\nSTATUS=serving");
    close(fd);
    unlink(sock);
    CHECK_INT_EQ(sdnotify_send("WATCHDOG=1"), -1); /* nobody listens any more */
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    CHECK_INT_EQ(sdnotify_send("READY=1"), -1);
    unsetenv("NOTIFY_SOCKET");

    unsetenv("WATCHDOG_PID");
    unsetenv("WATCHDOG_USEC");
    CHECK_INT_EQ(sdnotify_watchdog_ms(), 0);
    setenv("WATCHDOG_USEC", "30000000", 1);
    CHECK_INT_EQ(sdnotify_watchdog_ms(), 30000);
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    CHECK_INT_EQ(sdnotify_watchdog_ms(), 30000);
    setenv("WATCHDOG_PID", "1", 1); /* meant for another process */
    CHECK_INT_EQ(sdnotify_watchdog_ms(), 0);
    setenv("WATCHDOG_USEC", "soon", 1);
    unsetenv("WATCHDOG_PID");
    CHECK_INT_EQ(sdnotify_watchdog_ms(), 0);
    unsetenv("WATCHDOG_USEC");
}

static void setup(void)
{
    snprintf(tmp, sizeof(tmp), "%s", "/tmp/nubo-test-conf-XXXXXX");
    if (mkdtemp(tmp) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
    snprintf(path, sizeof(path), "%s/nubod.conf", tmp);
}

static void teardown(void)
{
    struct nubo_err err;
    CHECK_INT_EQ(fs_rm_rf(tmp, &err), 0);
}

CHECK_MAIN_FIXTURE(setup, teardown, TEST(test_file_then_command_line),
                   TEST(test_config_equals_form), TEST(test_without_config_a_copy),
                   TEST(test_bad_files), TEST(test_sdnotify))
