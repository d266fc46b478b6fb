/*
 * hostproto.h - the version of the agent-to-controller protocol
 * (registration and heartbeats: docs/internals/host-protocol.md, "Joining
 * a controller"; docs/internals/upgrades.md).
 *
 * An agent sends "protocol": HOSTPROTO_VERSION in its registration and
 * every heartbeat; an agent without the field (nubo before protocol 2)
 * speaks version 1.  A controller accepts its own version and the one
 * before (HOSTPROTO_OLDEST), so that hosts are upgraded one by one after
 * it, and answers with its own version; it refuses any other with 400,
 * naming both.  An agent refuses a controller older than itself (one that
 * answers without "protocol", or rejects the field): the controller is
 * upgraded first.
 *
 * Bump HOSTPROTO_VERSION when the agent starts sending or needing
 * something an older controller does not understand, and keep what the
 * previous version sends working (tests/api/test_upgrade.py replays a
 * recorded protocol-1 agent against the current controller).
 */
#ifndef NUBO_LIB_HOSTPROTO_H
#define NUBO_LIB_HOSTPROTO_H

#define HOSTPROTO_VERSION 2 /* what this build speaks */
#define HOSTPROTO_OLDEST 1  /* the oldest agent a controller of this build accepts */

#endif
