/*
 * firewall.h - STUB of the nftables firewall (security groups, anti-spoofing,
 * floating-IP NAT) rendered from the network document.
 *
 * PLACEHOLDER in the nethost branch only: the netfw branch owns the real
 * firewall.h/firewall.c; at merge the lead replaces this file and
 * firewall.c by theirs (net.c calls fw_apply() at the end of convergence
 * and fills .netns of struct fw_env).
 */
#ifndef NUBO_HOST_FIREWALL_H
#define NUBO_HOST_FIREWALL_H

#include "host/netdoc.h"
#include "lib/err.h"

struct fw_env {
    const char *netns; /* host networking namespace, "" = the agent's own */
};

/* Renders and applies the firewall for doc.  STUB: logs and returns 0. */
int fw_apply(const struct net_doc *doc, const struct fw_env *env, struct nubo_err *err);

#endif
