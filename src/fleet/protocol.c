/*
 * protocol.c - the version check of the agents' registrations and
 * heartbeats (lib/hostproto.h, docs/internals/upgrades.md).
 */
#include "fleet/fleet.h"

#include "lib/hostproto.h"

int fleet_host_protocol(const json_t *body, struct nubo_err *err)
{
    json_t *p = json_object_get(body, "protocol");
    if (p == NULL || json_is_null(p))
        return 1; /* agents before protocol 2 send none */
    if (!json_is_integer(p))
        return nubo_err_set(err, NUBO_E_INVALID,
                            "'protocol' must be an integer: the host protocol version the agent "
                            "speaks (this nubod speaks %d to %d)",
                            HOSTPROTO_OLDEST, HOSTPROTO_VERSION);
    json_int_t v = json_integer_value(p);
    if (v > HOSTPROTO_VERSION)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "this agent speaks host protocol %lld, newer than this nubod (%s), "
                            "which speaks %d to %d: upgrade the controller first, then the hosts "
                            "(docs/internals/upgrades.md)",
                            (long long)v, NUBO_VERSION, HOSTPROTO_OLDEST, HOSTPROTO_VERSION);
    if (v < HOSTPROTO_OLDEST)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "this agent speaks host protocol %lld, older than this nubod (%s) "
                            "accepts (%d to %d): upgrade the agent (nubo-hostd) of this host",
                            (long long)v, NUBO_VERSION, HOSTPROTO_OLDEST, HOSTPROTO_VERSION);
    return (int)v;
}
