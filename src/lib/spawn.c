/*
 * spawn.c - see spawn.h.
 */
#include "lib/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/dynbuf.h"
#include "lib/log.h"
#include "lib/util.h"

/* Closes every fd >= 3 except keep. */
static void close_fds_except(int keep)
{
    if (keep < 3) {
        close_range(3, ~0U, 0);
        return;
    }
    if (keep > 3)
        close_range(3, (unsigned)keep - 1, 0);
    close_range((unsigned)keep + 1, ~0U, 0);
}

int spawn_run(char *const argv[], int timeout_ms, size_t out_cap, char **out, struct nubo_err *err)
{
    int pfd[2];
    if (out)
        *out = NULL;
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return nubo_err_set(err, NUBO_E_INTERNAL, "cannot create pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return nubo_err_set(err, NUBO_E_INTERNAL, "cannot fork: %s", strerror(errno));
    }
    if (pid == 0) {
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close_fds_except(-1);
        signal(SIGPIPE, SIG_DFL);
        /* The caller may block signals for a signalfd (nubo-hostd does);
         * a program started here (dnsmasq...) must get them. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvp(argv[0], argv);
        dprintf(2, "cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(pfd[1]);
    struct dynbuf out_buf = DYNBUF_INIT(out_cap);
    int64_t deadline = clock_mono_ms() + timeout_ms;
    int timed_out = 0;
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0) {
            timed_out = 1;
            break;
        }
        char chunk[4096];
        ssize_t n = read(pfd[0], chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        /* Past out_cap the output is read and dropped (the program must
         * not block on a full pipe). */
        size_t keep = (size_t)n < dynbuf_room(&out_buf) ? (size_t)n : dynbuf_room(&out_buf);
        if (dynbuf_add(&out_buf, chunk, keep) < 0)
            abort(); /* out of memory: as xmalloc */
    }
    size_t len;
    char *buf = dynbuf_take(&out_buf, &len);
    close(pfd[0]);
    /* The program may close its output and go on running: the deadline
     * still holds for its exit. */
    int status = 0;
    while (!timed_out) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            break;
        if (clock_mono_ms() >= deadline) {
            timed_out = 1;
            break;
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (timed_out) {
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    int rc = 0;
    if (timed_out) {
        rc = nubo_err_set(err, NUBO_E_TIMEOUT, "%s did not finish within %d ms", argv[0],
                          timeout_ms);
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char sbuf[64];
        const char *nl = strchr(buf, '\n');
        int first = nl ? (int)(nl - buf) : (int)len;
        log_debug("%s failed (%s); output: %s", argv[0],
                  spawn_status_str(status, sbuf, sizeof(sbuf)), buf);
        rc = nubo_err_set(err, NUBO_E_UNAVAILABLE, "%s %s: %.*s", argv[0],
                          spawn_status_str(status, sbuf, sizeof(sbuf)), first > 300 ? 300 : first,
                          buf);
    }
    if (out)
        *out = buf;
    else
        free(buf);
    return rc;
}

pid_t spawn_detached(char *const argv[], const struct spawn_opts *opts, struct nubo_err *err)
{
    int epipe[2];
    if (pipe2(epipe, O_CLOEXEC) < 0) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot create pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(epipe[0]);
        close(epipe[1]);
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls from here on. */
        setsid();
        int nul = open("/dev/null", O_RDWR);
        int logfd = nul;
        if (opts && opts->log_path)
            logfd = open(opts->log_path, O_WRONLY | O_CREAT | O_APPEND, 0640);
        if (nul < 0 || logfd < 0)
            goto fail;
        dup2(nul, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        for (const char *const *cg = opts ? opts->cgroups : NULL; cg && *cg; cg++) {
            int cfd = open(*cg, O_WRONLY);
            if (cfd >= 0) {
                (void)!write(cfd, "0", 1);
                close(cfd);
            }
        }
        int keep = opts ? opts->keep_fd : -1;
        /* epipe[1] is O_CLOEXEC: it closes by itself on a successful exec. */
        if (keep >= 0 && keep != epipe[1]) {
            int k = fcntl(keep, F_GETFD);
            if (k >= 0)
                fcntl(keep, F_SETFD, k & ~FD_CLOEXEC);
        }
        for (int fd = 3; fd < 1024; fd++)
            if (fd != epipe[1] && fd != keep)
                close(fd);
        signal(SIGPIPE, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvp(argv[0], argv);
    fail:;
        int e = errno;
        (void)!write(epipe[1], &e, sizeof(e));
        _exit(127);
    }
    close(epipe[1]);
    int child_errno = 0;
    ssize_t r;
    while ((r = read(epipe[0], &child_errno, sizeof(child_errno))) < 0 && errno == EINTR)
        ;
    close(epipe[0]);
    if (r > 0) {
        int status;
        waitpid(pid, &status, 0);
        nubo_err_set(err, NUBO_E_UNAVAILABLE, "cannot start %s: %s", argv[0],
                     strerror(child_errno));
        return -1;
    }
    return pid;
}

const char *spawn_status_str(int status, char *buf, size_t n)
{
    if (WIFEXITED(status))
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, n, "killed by signal %d (SIG%s)", WTERMSIG(status),
                 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
    else
        snprintf(buf, n, "ended with wait status %d", status);
    return buf;
}
