/*
 * sdnotify.h - systemd's service notification protocol (sd_notify(3)),
 * without libsystemd: one datagram to the socket in $NOTIFY_SOCKET.
 *
 * nubod and nubo-hostd run as Type=notify services: "READY=1" once they
 * serve, "STOPPING=1" when they stop, and "WATCHDOG=1" at half the
 * interval of WatchdogSec= while their main loop turns.  Started any
 * other way ($NOTIFY_SOCKET unset) these do nothing.
 */
#ifndef NUBO_LIB_SDNOTIFY_H
#define NUBO_LIB_SDNOTIFY_H

/* Sends state ("READY=1", "STATUS=...", newline-separated assignments) to
 * the service manager.  Returns 1 when sent, 0 when there is no manager to
 * tell, -1 when sending failed (logged at debug level). */
int sdnotify_send(const char *state);

/* The watchdog interval the manager asks for, in ms (WatchdogSec=, from
 * $WATCHDOG_USEC when $WATCHDOG_PID is unset or this process), else 0. */
long long sdnotify_watchdog_ms(void);

#endif
