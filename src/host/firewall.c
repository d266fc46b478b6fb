/*
 * firewall.c - STUB (see firewall.h): the netfw branch's real nftables
 * renderer replaces this file at merge.  No filtering happens here.
 */
#include "host/firewall.h"

#include "lib/log.h"

int fw_apply(const struct net_doc *doc, const struct fw_env *env, struct nubo_err *err)
{
    (void)err;
    log_debug("firewall STUB: nothing applied for %d ports (netns '%s')", doc->nports,
              env->netns ? env->netns : "");
    return 0;
}
