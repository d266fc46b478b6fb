/*
 * test_fsutil_spawn.c - unit tests of src/lib/fsutil.c (atomic writes,
 * capped reads, directory trees) and src/lib/spawn.c (running programs from
 * an argv, with output capture and a deadline).  Works in a fresh
 * temporary directory that it removes at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "lib/fsutil.h"
#include "lib/spawn.h"
#include "lib/util.h"

static char tmp[64]; /* the test's directory */

static const char *path_in(char *buf, size_t n, const char *rel)
{
    snprintf(buf, n, "%s/%s", tmp, rel);
    return buf;
}

/* Writes a file directly (not through the code under test). */
static void put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!CHECK(f != NULL))
        return;
    fputs(text, f);
    fclose(f);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* ------------------------------------------------------------- fsutil */

static void test_write_read(void)
{
    char dir[128], p[160];
    struct nubo_err err;
    path_in(dir, sizeof(dir), "wr");
    CHECK_INT_EQ(fs_mkdir_p(dir, 0700, &err), 0);
    snprintf(p, sizeof(p), "%s/vm.json", dir);

    static const char data[] = "{\"a\": 1}\n\0binary\xff tail";
    size_t dlen = sizeof(data) - 1;
    CHECK_INT_EQ(fs_write_atomic(p, data, dlen, 0640, &err), 0);
    size_t len = 0;
    char *got = fs_read_file(p, 1 << 20, &len, &err);
    if (CHECK(got != NULL)) {
        CHECK_INT_EQ(len, dlen);
        CHECK(memcmp(got, data, dlen) == 0);
        CHECK(got[len] == '\0');
    }
    free(got);
    struct stat st;
    CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0640);

    /* replaced whole by a shorter content: nothing of the old is left */
    CHECK_INT_EQ(fs_write_atomic(p, "short", 5, 0600, &err), 0);
    got = fs_read_file(p, 1 << 20, &len, &err);
    CHECK_STR_EQ(got, "short");
    CHECK_INT_EQ(len, 5);
    free(got);

    /* empty content */
    CHECK_INT_EQ(fs_write_atomic(p, "", 0, 0600, &err), 0);
    got = fs_read_file(p, 16, NULL, &err);
    CHECK_STR_EQ(got, "");
    free(got);

    /* no temporary file is left next to it */
    CHECK_INT_EQ(count_entries(dir), 1);
}

static void test_write_atomic_bad_dir(void)
{
    char p[160];
    struct nubo_err err;
    nubo_err_clear(&err);
    path_in(p, sizeof(p), "no-such-dir/file");
    CHECK_INT_EQ(fs_write_atomic(p, "x", 1, 0600, &err), -1);
    CHECK_INT_EQ(err.code, NUBO_E_INTERNAL);
    CHECK_STR_HAS(err.msg, "no-such-dir");
    CHECK(!fs_exists(p));
}

static void test_read_cap(void)
{
    char p[160];
    struct nubo_err err;
    path_in(p, sizeof(p), "cap");
    char *big = xmalloc(10001);
    memset(big, 'q', 10000);
    big[10000] = '\0';
    put_file(p, big);

    size_t len = 0;
    char *got = fs_read_file(p, 10000, &len, &err); /* exactly the cap */
    CHECK(got != NULL);
    CHECK_INT_EQ(len, 10000);
    CHECK(got && memcmp(got, big, 10000) == 0);
    free(got);

    nubo_err_clear(&err);
    len = 12345;
    got = fs_read_file(p, 9999, &len, &err); /* one byte over */
    CHECK(got == NULL);
    CHECK_INT_EQ(err.code, NUBO_E_TOOLARGE);
    CHECK_STR_HAS(err.msg, "9999");
    CHECK_INT_EQ(len, 12345); /* untouched */
    free(got);

    got = fs_read_file(p, 100, NULL, &err);
    CHECK(got == NULL);
    CHECK_INT_EQ(err.code, NUBO_E_TOOLARGE);
    free(big);

    /* an empty file with cap 0 */
    path_in(p, sizeof(p), "empty");
    put_file(p, "");
    got = fs_read_file(p, 0, &len, &err);
    CHECK_STR_EQ(got, "");
    CHECK_INT_EQ(len, 0);
    free(got);
}

static void test_read_missing(void)
{
    char p[160];
    struct nubo_err err;
    nubo_err_clear(&err);
    path_in(p, sizeof(p), "missing.json");
    char *got = fs_read_file(p, 1 << 20, NULL, &err);
    CHECK(got == NULL);
    CHECK_INT_EQ(err.code, NUBO_E_NOTFOUND);
    CHECK_STR_HAS(err.msg, "missing.json");
    free(got);
    /* a directory is not a readable file, and not "not found" either */
    got = fs_read_file(tmp, 1 << 20, NULL, &err);
    CHECK(got == NULL);
    CHECK(err.code != NUBO_E_NOTFOUND && err.code != NUBO_OK);
    free(got);
}

static void test_mkdir_p(void)
{
    char p[192];
    struct nubo_err err;
    path_in(p, sizeof(p), "m/a/b/c/d");
    CHECK_INT_EQ(fs_mkdir_p(p, 0750, &err), 0);
    struct stat st;
    CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_INT_EQ(st.st_mode & 0777, 0750);
    path_in(p, sizeof(p), "m/a/b");
    CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    /* again: already there is fine */
    path_in(p, sizeof(p), "m/a/b/c/d");
    CHECK_INT_EQ(fs_mkdir_p(p, 0750, &err), 0);
    /* trailing slash, doubled slash */
    path_in(p, sizeof(p), "m/x//y/");
    CHECK_INT_EQ(fs_mkdir_p(p, 0700, &err), 0);
    path_in(p, sizeof(p), "m/x/y");
    CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));

    /* a regular file in the way */
    path_in(p, sizeof(p), "m/file");
    put_file(p, "x");
    path_in(p, sizeof(p), "m/file/sub");
    nubo_err_clear(&err);
    CHECK_INT_EQ(fs_mkdir_p(p, 0700, &err), -1);
    CHECK_INT_EQ(err.code, NUBO_E_CONFLICT);
    CHECK_STR_HAS(err.msg, "m/file");
    /* the path itself is a regular file: mkdir -p says "File exists" */
    path_in(p, sizeof(p), "m/file");
    /* regression: EEXIST was taken as success without checking for a directory */
    CHECK(fs_mkdir_p(p, 0700, &err) == -1);
}

/* Regression (issue 13): a state tree pre-created 0755 with 0644 files
 * stayed readable by every local user. */
static void test_tighten_tree(void)
{
    char top[192], sub[192], file[192], exe[192], out[192], link[192];
    struct nubo_err err;
    struct stat st;
    path_in(top, sizeof(top), "t");
    path_in(sub, sizeof(sub), "t/vms/x");
    path_in(file, sizeof(file), "t/vms/x/disk");
    path_in(exe, sizeof(exe), "t/run.sh");
    path_in(out, sizeof(out), "outside");
    path_in(link, sizeof(link), "t/link");
    CHECK_INT_EQ(fs_mkdir_p(sub, 0755, &err), 0);
    put_file(file, "x");
    put_file(exe, "x");
    put_file(out, "x");
    CHECK(chmod(top, 0755) == 0 && chmod(file, 0644) == 0 && chmod(exe, 0755) == 0 &&
          chmod(out, 0644) == 0 && symlink(out, link) == 0);
    CHECK_INT_EQ(fs_tighten_tree(top, &err), 0);
    CHECK(stat(top, &st) == 0 && (st.st_mode & 07777) == 0700);
    CHECK(stat(sub, &st) == 0 && (st.st_mode & 07777) == 0700);
    CHECK(stat(file, &st) == 0 && (st.st_mode & 07777) == 0600);
    CHECK(stat(exe, &st) == 0 && (st.st_mode & 07777) == 0700);
    /* a symlink is not followed out of the tree */
    CHECK(stat(out, &st) == 0 && (st.st_mode & 07777) == 0644);
    /* again: nothing to do; missing: nothing to do */
    CHECK_INT_EQ(fs_tighten_tree(top, &err), 0);
    path_in(top, sizeof(top), "nope");
    CHECK_INT_EQ(fs_tighten_tree(top, &err), 0);
}

static void test_rm_rf(void)
{
    char p[192], outside[192], outdir[192];
    struct nubo_err err;
    /* targets outside the tree, that links inside point to */
    path_in(outside, sizeof(outside), "keep.txt");
    put_file(outside, "precious");
    path_in(outdir, sizeof(outdir), "keepdir");
    CHECK_INT_EQ(fs_mkdir_p(outdir, 0700, &err), 0);
    path_in(p, sizeof(p), "keepdir/inner.txt");
    put_file(p, "also precious");

    path_in(p, sizeof(p), "tree/a/b/c");
    CHECK_INT_EQ(fs_mkdir_p(p, 0700, &err), 0);
    put_file(path_in(p, sizeof(p), "tree/top.txt"), "1");
    put_file(path_in(p, sizeof(p), "tree/a/b/c/deep.txt"), "2");
    put_file(path_in(p, sizeof(p), "tree/a/.hidden"), "3");
    path_in(p, sizeof(p), "tree/a/link-to-file");
    CHECK(symlink(outside, p) == 0);
    path_in(p, sizeof(p), "tree/a/b/link-to-dir");
    CHECK(symlink(outdir, p) == 0);
    path_in(p, sizeof(p), "tree/dangling");
    CHECK(symlink("/nonexistent/nubo-test", p) == 0);
    CHECK(fs_exists(p)); /* a dangling link exists */
    path_in(p, sizeof(p), "tree/a/b/c/ro");
    CHECK_INT_EQ(fs_mkdir_p(p, 0500, &err), 0); /* read-only empty dir */

    path_in(p, sizeof(p), "tree");
    CHECK_INT_EQ(fs_rm_rf(p, &err), 0);
    CHECK(!fs_exists(p));
    /* the links were removed, not followed */
    char *got = fs_read_file(outside, 1024, NULL, &err);
    CHECK_STR_EQ(got, "precious");
    free(got);
    got = fs_read_file(path_in(p, sizeof(p), "keepdir/inner.txt"), 1024, NULL, &err);
    CHECK_STR_EQ(got, "also precious");
    free(got);

    /* missing is success */
    path_in(p, sizeof(p), "tree");
    CHECK_INT_EQ(fs_rm_rf(p, &err), 0);
    path_in(p, sizeof(p), "no/such/thing");
    CHECK_INT_EQ(fs_rm_rf(p, &err), 0);

    /* a single file */
    path_in(p, sizeof(p), "single.txt");
    put_file(p, "x");
    CHECK_INT_EQ(fs_rm_rf(p, &err), 0);
    CHECK(!fs_exists(p));

    /* a symlink to a directory, given as the path itself: the link goes */
    path_in(p, sizeof(p), "dirlink");
    CHECK(symlink(outdir, p) == 0);
    CHECK_INT_EQ(fs_rm_rf(p, &err), 0);
    CHECK(!fs_exists(p));
    CHECK(fs_exists(outdir));
    got = fs_read_file(path_in(p, sizeof(p), "keepdir/inner.txt"), 1024, NULL, &err);
    CHECK_STR_EQ(got, "also precious");
    free(got);
}

static void test_allocated_bytes(void)
{
    char p[160];
    struct nubo_err err;
    path_in(p, sizeof(p), "alloc");
    char *block = xcalloc(1, 65536);
    memset(block, 'z', 65536);
    CHECK_INT_EQ(fs_write_atomic(p, block, 65536, 0600, &err), 0);
    free(block);
    long long n = fs_allocated_bytes(p);
    CHECK(n >= 65536);
    CHECK(n % 512 == 0);
    path_in(p, sizeof(p), "alloc-missing");
    CHECK_INT_EQ(fs_allocated_bytes(p), -1);
}

/* -------------------------------------------------------------- spawn */

struct run {
    int rc;
    char *out;
    struct nubo_err err;
    int64_t ms;
};

static struct run run(char *const argv[], int timeout_ms, size_t cap)
{
    struct run r;
    nubo_err_clear(&r.err);
    int64_t t0 = clock_mono_ms();
    r.rc = spawn_run(argv, timeout_ms, cap, &r.out, &r.err);
    r.ms = clock_mono_ms() - t0;
    return r;
}

static void test_spawn_true_false(void)
{
    char *t[] = {"true", NULL};
    struct run r = run(t, 5000, 4096);
    CHECK_INT_EQ(r.rc, 0);
    CHECK_STR_EQ(r.out, "");
    CHECK_INT_EQ(r.err.code, NUBO_OK);
    free(r.out);

    char *f[] = {"false", NULL};
    r = run(f, 5000, 4096);
    CHECK_INT_EQ(r.rc, -1);
    CHECK_INT_EQ(r.err.code, NUBO_E_UNAVAILABLE);
    CHECK_STR_HAS(r.err.msg, "false");
    CHECK_STR_HAS(r.err.msg, "exited with status 1");
    CHECK_STR_EQ(r.out, ""); /* output is given whatever the result */
    free(r.out);

    /* out may be NULL */
    struct nubo_err err;
    CHECK_INT_EQ(spawn_run(t, 5000, 4096, NULL, &err), 0);
    CHECK_INT_EQ(spawn_run(f, 5000, 4096, NULL, NULL), -1);
}

/* regression: children inherited the caller's blocked signals (the host
 * agent blocks SIGHUP/SIGTERM for its signalfd), so a dnsmasq it started
 * ignored SIGHUP (no reload of its DHCP hosts) and SIGTERM. */
static void test_spawn_unblocks_signals(void)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old);
    char *a[] = {"grep", "^SigBlk:", "/proc/self/status", NULL};
    struct run r = run(a, 5000, 4096);
    sigprocmask(SIG_SETMASK, &old, NULL);
    CHECK_INT_EQ(r.rc, 0);
    CHECK_STR_EQ(r.out, "SigBlk:\t0000000000000000\n");
    free(r.out);
}

static void test_spawn_output(void)
{
    char *a[] = {"sh", "-c", "echo hi; exit 3", NULL};
    struct run r = run(a, 5000, 4096);
    CHECK_INT_EQ(r.rc, -1);
    CHECK_STR_EQ(r.out, "hi\n");
    CHECK_STR_HAS(r.err.msg, "exited with status 3");
    CHECK_STR_HAS(r.err.msg, ": hi"); /* quotes the first line */
    CHECK(strchr(r.err.msg, '\n') == NULL);
    free(r.out);

    /* stdout and stderr both captured */
    char *b[] = {"sh", "-c", "echo out; echo err >&2", NULL};
    r = run(b, 5000, 4096);
    CHECK_INT_EQ(r.rc, 0);
    CHECK_STR_HAS(r.out, "out\n");
    CHECK_STR_HAS(r.out, "err\n");
    free(r.out);

    /* arguments reach the program as they are: no shell in between */
    char *c[] = {"printf", "%s|", "a b", "$(id)", "`x`;y", NULL};
    r = run(c, 5000, 4096);
    CHECK_INT_EQ(r.rc, 0);
    CHECK_STR_EQ(r.out, "a b|$(id)|`x`;y|");
    free(r.out);

    /* stdin is /dev/null: cat ends at once */
    char *d[] = {"cat", NULL};
    r = run(d, 5000, 4096);
    CHECK_INT_EQ(r.rc, 0);
    CHECK_STR_EQ(r.out, "");
    CHECK(r.ms < 2000);
    free(r.out);
}

static void test_spawn_output_cap(void)
{
    char *a[] = {"printf", "abcdef", NULL};
    struct run r = run(a, 5000, 3);
    CHECK_INT_EQ(r.rc, 0);
    CHECK_STR_EQ(r.out, "abc");
    free(r.out);

    /* a lot of output, more than one read and more than the cap: the
     * program is not blocked on a full pipe, the rest is dropped */
    char *b[] = {"sh", "-c",
                 "i=0; while [ $i -lt 2000 ]; do echo "
                 "0123456789012345678901234567890123456789012345678; i=$((i+1)); done",
                 NULL};
    r = run(b, 10000, 50000);
    CHECK_INT_EQ(r.rc, 0);
    CHECK_INT_EQ(r.out ? strlen(r.out) : 0, 50000);
    free(r.out);
    r = run(b, 10000, 1 << 20);
    CHECK_INT_EQ(r.out ? strlen(r.out) : 0, 100000);
    free(r.out);
}

static void test_spawn_timeout(void)
{
    char *a[] = {"sleep", "5", NULL};
    struct run r = run(a, 200, 4096);
    CHECK_INT_EQ(r.rc, -1);
    CHECK_INT_EQ(r.err.code, NUBO_E_TIMEOUT);
    CHECK_STR_HAS(r.err.msg, "sleep");
    CHECK_STR_HAS(r.err.msg, "200 ms");
    CHECK(r.ms >= 190);
    CHECK(r.ms < 1500);
    free(r.out);

    /* output before the deadline is kept */
    char *b[] = {"sh", "-c", "echo before; exec sleep 5", NULL};
    r = run(b, 300, 4096);
    CHECK_INT_EQ(r.err.code, NUBO_E_TIMEOUT);
    CHECK_STR_EQ(r.out, "before\n");
    CHECK(r.ms < 1500);
    free(r.out);
}

static void test_spawn_timeout_closed_output(void)
{
    /* A program that closes its output and keeps running: the deadline
     * should still apply. */
    char *a[] = {"sh", "-c", "exec >/dev/null 2>&1; exec sleep 2", NULL};
    struct run r = run(a, 200, 4096);
    fprintf(stderr, "    rc=%d code=%d took %lld ms\n", r.rc, (int)r.err.code, (long long)r.ms);
    /* regression: spawn_run waited without a deadline once output closed */
    CHECK(r.rc == -1 && r.err.code == NUBO_E_TIMEOUT && r.ms < 1500);
    free(r.out);
}

static void test_spawn_missing_program(void)
{
    char *a[] = {"nubo-no-such-program", "--help", NULL};
    struct run r = run(a, 5000, 4096);
    CHECK_INT_EQ(r.rc, -1);
    CHECK_INT_EQ(r.err.code, NUBO_E_UNAVAILABLE);
    CHECK_STR_HAS(r.err.msg, "nubo-no-such-program");
    CHECK_STR_HAS(r.out, "nubo-no-such-program");
    free(r.out);

    char *b[] = {"/nonexistent/dir/prog", NULL};
    r = run(b, 5000, 4096);
    CHECK_INT_EQ(r.rc, -1);
    CHECK_STR_HAS(r.err.msg, "/nonexistent/dir/prog");
    free(r.out);
}

static void test_spawn_closes_fds(void)
{
    /* an fd of ours without O_CLOEXEC does not reach the child */
    int fd = open("/dev/null", O_RDONLY);
    int high = dup2(fd, 57);
    close(fd);
    if (!CHECK_INT_EQ(high, 57))
        return;
    char *a[] = {"sh", "-c", "[ -e /proc/self/fd/57 ] && echo open || echo closed", NULL};
    struct run r = run(a, 5000, 4096);
    CHECK_INT_EQ(r.rc, 0);
    CHECK_STR_EQ(r.out, "closed\n");
    free(r.out);
    close(57);
}

static void test_spawn_status_str(void)
{
    char buf[64];
    pid_t pid = fork();
    if (pid == 0)
        _exit(3);
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK_STR_EQ(spawn_status_str(st, buf, sizeof(buf)), "exited with status 3");

    pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    kill(pid, SIGKILL);
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK_STR_EQ(spawn_status_str(st, buf, sizeof(buf)), "killed by signal 9 (SIGKILL)");

    pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    kill(pid, SIGTERM);
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK_STR_EQ(spawn_status_str(st, buf, sizeof(buf)), "killed by signal 15 (SIGTERM)");

    CHECK_STR_EQ(spawn_status_str(0, buf, sizeof(buf)), "exited with status 0");
    /* a small buffer is cut, not overrun */
    char small[8];
    memset(small, 'Z', sizeof(small));
    CHECK(spawn_status_str(1 << 8, small, 6) == small);
    CHECK_STR_EQ(small, "exite");
    CHECK(small[6] == 'Z');
}

static void test_spawn_detached(void)
{
    char log[160];
    struct nubo_err err;
    path_in(log, sizeof(log), "daemon.log");
    char *a[] = {"sh", "-c", "echo started; echo oops >&2; sleep 0.3", NULL};
    struct spawn_opts so = {.log_path = log, .cgroups = NULL, .keep_fd = -1};
    nubo_err_clear(&err);
    pid_t pid = spawn_detached(a, &so, &err);
    if (!CHECK(pid > 0)) {
        fprintf(stderr, "    %s\n", err.msg);
        return;
    }
    /* its own session */
    CHECK_INT_EQ(getsid(pid), pid);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char *got = fs_read_file(log, 4096, NULL, &err);
    CHECK_STR_EQ(got, "started\noops\n");
    free(got);

    /* an exec failure is reported synchronously */
    char *b[] = {"nubo-no-such-program", NULL};
    nubo_err_clear(&err);
    CHECK_INT_EQ(spawn_detached(b, &so, &err), -1);
    CHECK_INT_EQ(err.code, NUBO_E_UNAVAILABLE);
    CHECK_STR_HAS(err.msg, "nubo-no-such-program");
}

/* -------------------------------------------------------------- main */

static void setup(void)
{
    snprintf(tmp, sizeof(tmp), "%s", "/tmp/nubo-test-fs-XXXXXX");
    if (mkdtemp(tmp) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
}

static void teardown(void)
{
    struct nubo_err err;
    CHECK_INT_EQ(fs_rm_rf(tmp, &err), 0);
    CHECK(!fs_exists(tmp));
}

CHECK_MAIN_FIXTURE(setup, teardown, TEST(test_write_read), TEST(test_write_atomic_bad_dir),
                   TEST(test_read_cap), TEST(test_read_missing), TEST(test_mkdir_p),
                   TEST(test_tighten_tree), TEST(test_rm_rf), TEST(test_allocated_bytes),
                   TEST(test_spawn_true_false), TEST(test_spawn_unblocks_signals),
                   TEST(test_spawn_output), TEST(test_spawn_output_cap), TEST(test_spawn_timeout),
                   TEST(test_spawn_timeout_closed_output), TEST(test_spawn_missing_program),
                   TEST(test_spawn_closes_fds), TEST(test_spawn_status_str),
                   TEST(test_spawn_detached))
