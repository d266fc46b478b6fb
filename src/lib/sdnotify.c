/*
 * sdnotify.c - see sdnotify.h.
 */
#include "lib/sdnotify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/valid.h"

int sdnotify_send(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || path[0] == '\0')
        return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sa.sun_path)) {
        log_debug("NOTIFY_SOCKET %s: not a socket path", path);
        return -1;
    }
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@') /* an abstract socket: a leading NUL, no terminator */
        sa.sun_path[0] = '\0';
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_debug("sd_notify: socket: %s", strerror(errno));
        return -1;
    }
    ssize_t sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
    int e = errno;
    close(fd);
    if (sent < 0) {
        log_debug("sd_notify %s: %s", path, strerror(e));
        return -1;
    }
    return 1;
}

long long sdnotify_watchdog_ms(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    long long us, p;
    if (usec == NULL || valid_int(usec, 1, 3600LL * 24 * 1000000, "WATCHDOG_USEC", &us, NULL) < 0)
        return 0;
    if (pid != NULL &&
        (valid_int(pid, 1, 1LL << 31, "WATCHDOG_PID", &p, NULL) < 0 || p != (long long)getpid()))
        return 0;
    return us / 1000 > 0 ? us / 1000 : 1;
}
