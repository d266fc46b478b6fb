/*
 * uplink.h - the host agent's link up to the controller (nubod):
 * registration, then a heartbeat every few seconds.
 *
 * The agent registers once with the join token (POST /v1/hosts/register)
 * and keeps what it gets, {host_id, host_token}, in controller.json (mode
 * 0600) so a restarted agent goes straight to heartbeats.  A heartbeat
 * (POST /v1/hosts/{id}/heartbeat with the host token) carries the agent's
 * report: capacity, acceleration, driver and its VMs.  When the controller
 * no longer knows the token (401/403) the agent registers again.
 *
 * Metric samples travel separately: uplink_metrics_push() queues a round
 * of samples (vm/vm.h) and the link sends queued rounds in batches to
 * POST /v1/hosts/{id}/metrics, beside the heartbeats, keeping them while
 * the controller is away (up to a cap, oldest dropped first).
 *
 * Everything runs inside the agent's poll() loop through libcurl's multi
 * interface: uplink_pollfds() adds curl's sockets, uplink_timeout_ms() says
 * when to come back, uplink_run() moves transfers on and starts the next
 * request when due.  A controller that is slow or away never stalls the
 * loop; a heartbeat waits up to 10 s for a busy controller and one that
 * failed is retried after a second.
 */
#ifndef NUBO_HOST_UPLINK_H
#define NUBO_HOST_UPLINK_H

#include <jansson.h>
#include <poll.h>
#include <stdint.h>

#include "lib/err.h"

struct uplink_cfg {
    const char *controller;      /* "http[s]://ADDR:PORT" (or "unix:/path") of nubod */
    const char *controller_ca;   /* PEM CA that signed an https:// nubod's certificate, or "" */
    const char *controller_pin;  /* "sha256//..." of nubod's public key, or "" */
    const char *join_token_file; /* first line: the join token (read when registering) */
    const char *advertise;       /* how nubod reaches this agent */
    const char *name;            /* this host's name */
    const char *agent_token;     /* bearer token nubod must send us, or "" */
    const char *state_file;      /* controller.json */
    int interval_ms;             /* between heartbeats */
    /* The report of the host: {capacity, accel, driver, vms} (new reference). */
    json_t *(*report)(void *ctx);
    /* Called with each answer (borrowed) nubod gave a heartbeat with 200,
     * and when that heartbeat was sent (monotonic ms): the lease and
     * fencing (docs/internals/mobility.md).  May be NULL. */
    void (*answer)(void *ctx, const json_t *answer, int64_t sent_at);
    void *ctx;
};

struct uplink;

/* Loads controller.json if it belongs to this controller.  Returns NULL
 * with err on a bad configuration. */
struct uplink *uplink_new(const struct uplink_cfg *cfg, struct nubo_err *err);

/* Fills up to max pollfds with the sockets of the request in flight;
 * returns how many. */
int uplink_pollfds(struct uplink *u, struct pollfd *fds, int max);

/* Milliseconds until uplink_run() must run even without input (>= 0). */
int64_t uplink_timeout_ms(const struct uplink *u);

/* Called after poll() with the pollfds uplink_pollfds() gave (their
 * revents): moves the transfer on, handles its answer, starts the next
 * request when due.  Never blocks. */
void uplink_run(struct uplink *u, const struct pollfd *fds, int n);

/* Queues a round of samples {host, vms} (stolen) for the controller. */
void uplink_metrics_push(struct uplink *u, json_t *round);

/* Stops any request in flight and frees u (NULL is fine). */
void uplink_free(struct uplink *u);

#endif
