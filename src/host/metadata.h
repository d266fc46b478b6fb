/*
 * metadata.h - the instance metadata service (169.254.169.254:80) of every
 * router namespace, served from the agent's event loop.
 *
 * One listening socket per network, opened inside the network's router
 * namespace (setns there and back).  A request is attributed to the port
 * whose IP is its source address on that network: anti-spoofing on the
 * taps guarantees the source, and nothing the guest sends is trusted.  An
 * unknown source gets 404.  Paths: docs/internals/networking.md.
 */
#ifndef NUBO_HOST_METADATA_H
#define NUBO_HOST_METADATA_H

#include <poll.h>
#include <stdint.h>

#include "host/netdoc.h"
#include "host/vm.h"

struct mds;

/* Finds the definition of the VM named name (a port's "vm"), or NULL. */
typedef const struct vm_def *(*mds_vm_fn)(void *ctx, const char *name);

/* A service with no listener yet.  netns is the agent's --netns ("" =
 * none): router namespaces are inet_router_ns(netns, vni). */
struct mds *mds_new(const char *netns, mds_vm_fn vm, void *ctx);

/* Closes listeners and connections; NULL is fine. */
void mds_free(struct mds *m);

/* Opens a listener for each network of doc whose router namespace exists
 * (reopening one whose namespace was recreated), closes the others.  doc
 * is borrowed until the next mds_sync or mds_free. */
void mds_sync(struct mds *m, const struct net_doc *doc);

/* Fills up to max pollfds; returns how many. */
int mds_pollfds(struct mds *m, struct pollfd *fds, int max);

/* Milliseconds until mds_run must run for a timeout (-1: none). */
int64_t mds_timeout_ms(const struct mds *m);

/* Accepts, reads and answers what is ready (fds as given by mds_pollfds,
 * with revents); drops connections past their deadline. */
void mds_run(struct mds *m, const struct pollfd *fds, int n);

#endif
