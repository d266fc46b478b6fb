/*
 * fleet.h - the host registry (src/fleet): host agents join with the join token,
 * heartbeat with their capacity and VM list, and admins list and remove
 * them.
 *
 * A host is a row of the hosts table (src/store/schema.c).  Its agent
 * authenticates with a host token ("nubohost_" + secret) issued here at
 * registration and stored as its SHA-256; identity_authenticate() maps it
 * to ctx->host_id.
 *
 * Host identity: a join token (join.c: short-lived, the minted ones
 * single-use by default) lets a *new* name join.  Registering again
 * under a known name also needs that host's own credential, its current
 * host token in 'host_token' (then the token is kept and the address
 * updated), or an admin's leave: fleet_host_reset_credential() revokes the
 * token (token_hash '') and the next registration under the name, with
 * the join token alone, takes the host over once.  Otherwise anyone with
 * the join token could take over a host's name and be sent its VMs'
 * definitions, user-data and private images.  An agent whose host row was
 * deleted registers anew (a new id).
 *
 * A heartbeat makes the host 'up', stores its capacity and the report, and
 * has compute copy the state of every VM named "nubo-<instance id>" into
 * that instance's power_state (and boots) in the same transaction
 * (compute_instances_observe()).  The reconciler (reconcile.c) moves the
 * instance *status*; heartbeats only tell it that something moved.
 * Instance rows are compute's to write: removing a host asks it
 * (compute_instances_unplace()).
 *
 * Host states (docs/internals/instance-states.md, "Host states"):
 *   up        heartbeating; a placement target while its agent also
 *             answers the reconciler (reachable)
 *   down      silent for host_down_ms (the reconciler decides, on the
 *             monotonic clock: see liveness below); its instances unknown
 *   fenced    an admin force-removed it (stored as state 'down' with
 *             fenced_at set): its instances are deleted, it is never up
 *             again; if its agent comes back, the reconciler destroys the
 *             VMs it still runs.  DELETE then forgets it.
 */
#ifndef NUBO_FLEET_H
#define NUBO_FLEET_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"
#include "store/store.h"

/* ---- join tokens (join.c) -------------------------------------------- */

#define JOIN_LOCAL_TTL_MS (60LL * 60 * 1000) /* the local token is valid an hour */
#define JOIN_ROTATE_MS (15LL * 60 * 1000)    /* and replaced every 15 minutes */
#define JOIN_MAX_TTL_S (7 * 24 * 3600)
#define JOIN_MAX_USES 1000

/* Mints a new local join token, writes it to file (0600, atomically) and
 * drops expired and used-up tokens.  Called at start and every
 * JOIN_ROTATE_MS.  0, or -1 with err. */
int fleet_join_local_rotate(struct store *st, const char *file, struct nubo_err *err);

/* Mints a join token for another machine: valid ttl_s seconds (60 ..
 * JOIN_MAX_TTL_S) for uses registrations (1 .. JOIN_MAX_USES).  Returns
 * {id, token, kind, expires_at, uses_left, note, created_at} (new
 * reference; the token is shown only here) or NULL with err. */
json_t *fleet_join_token_create(struct store *st, long long ttl_s, long long uses, const char *note,
                                const char *created_by, struct nubo_err *err);

/* {join_tokens: [...]} of the tokens still usable, without secrets (new
 * reference), or NULL with err. */
json_t *fleet_join_token_list(struct store *st, struct nubo_err *err);

/* Revokes a minted token by id.  0, or -1 with err (NUBO_E_NOTFOUND). */
int fleet_join_token_delete(struct store *st, const char *id, struct nubo_err *err);

/* Spends one use of token, inside the caller's write transaction.  0, or
 * -1 with err: NUBO_E_UNAUTHORIZED when the token is unknown, expired or
 * used up. */
int fleet_join_token_spend(struct store *st, const char *token, struct nubo_err *err);

/* ---- hosts (hosts.c) ------------------------------------------------- */

/* Validates a registration body {join_token, name, address, agent_token?,
 * host_token?, capacity:{vcpus, ram_mib, disk_gib}, accel, driver}
 * (borrowed) and registers or re-registers the host (see above).  Returns
 * {host_id, host_token} (new reference; a new token is shown only here), or
 * NULL with err: NUBO_E_UNAUTHORIZED for a bad join token, NUBO_E_INVALID
 * for a bad body, NUBO_E_CONFLICT for a known name without its host's
 * credential (nothing about that host is revealed). */
json_t *fleet_host_register(struct store *st, json_t *body, struct nubo_err *err);

/* The host protocol version a registration or heartbeat body (borrowed)
 * speaks: its "protocol", 1 when absent (lib/hostproto.h).  Returns it, or
 * -1 with err (NUBO_E_INVALID naming both versions) when this nubod does
 * not accept it: newer than HOSTPROTO_VERSION or older than
 * HOSTPROTO_OLDEST (protocol.c).  Both calls below check it first and
 * answer with "protocol": HOSTPROTO_VERSION. */
int fleet_host_protocol(const json_t *body, struct nubo_err *err);

/* Records a heartbeat of host_id (the authenticated host) with body
 * {capacity, accel, driver, vms:[{name, state, reason, boots, generation?}],
 * epoch?} (borrowed).  *changed is set when the host came back up or an
 * instance's power state moved; the change hook is called then (and after
 * every registration).  Returns {host_id, state, epoch, stale_epoch,
 * lease_ms, vms: [{name, generation}]} (new reference): the host's fence
 * epoch, whether the agent presented an older one (it was fenced), its
 * lease and the VMs it may run (docs/internals/mobility.md), or NULL with
 * err. */
json_t *fleet_host_heartbeat(struct store *st, const char *host_id, json_t *body, int *changed,
                             struct nubo_err *err);

/* Hosts in creation order, at most limit + 1 after marker (an id, or NULL),
 * as public JSON objects (new reference), or NULL with err. */
json_t *fleet_host_list(struct store *st, int limit, const char *marker, struct nubo_err *err);

/* One host by id or name, with the VMs of its last heartbeat (new
 * reference), or NULL with err (NUBO_E_NOTFOUND). */
json_t *fleet_host_get(struct store *st, const char *ref, struct nubo_err *err);

/* The host ref names (id or name): {id, name, state, fenced_at,
 * maintenance}, read in the caller's transaction if any; NULL with err
 * (404 naming ref) when there is none. */
json_t *fleet_host_row(struct store *st, const char *ref, struct nubo_err *err);

/* Forgets a host (id or name).  NUBO_E_CONFLICT while instances that are
 * not deleted are placed on it.  Its agent, still running, is refused from
 * then on (401) and re-registers with the join token if it still has it. */
int fleet_host_delete(struct store *st, const char *ref, struct nubo_err *err);

/* Force-removes a dead host (id or name): fences it (state fenced, for
 * good: a returning agent is told nothing new and its VMs are destroyed
 * by the reconciler) and deletes its instances at once
 * (compute_instances_host_removed(): usage closed, quota freed).
 * Refused (NUBO_E_CONFLICT) while the host is up: stop its agent or wait
 * until it is down.  Fencing twice is a no-op.  Returns the host (new
 * reference, as fleet_host_get) or NULL with err. */
json_t *fleet_host_force_remove(struct store *st, const char *ref, struct nubo_err *err);

/* Records whether host_id's agent answers the reconciler (0 after it hung
 * on a call; stored only when it changes).  A host that did not answer is no
 * placement target until it does (src/compute's snapshot).  0 or -1. */
int fleet_host_set_reachable(struct store *st, const char *host_id, int reachable,
                             struct nubo_err *err);

/* ---- fencing (fence.c) ---------------------------------------------------
 *
 * docs/internals/mobility.md, "Fencing and evacuation". */

/* The lease a heartbeat's answer grants the agent (ms): set once at start
 * (nubod: half of --host-down-ms), read by fleet_host_heartbeat(). */
void fleet_set_lease_ms(int ms);
int fleet_lease_ms(void);

/* The hosts that are down and not force-removed: rows {id, name, address,
 * ha_fenced_at} (new reference), or NULL with err. */
json_t *fleet_hosts_down(struct store *st, struct nubo_err *err);

/* Fences the down host host_id for HA: runs hook (when not NULL or "":
 * hook HOST_ID NAME ADDRESS, killed after timeout_ms; only exit 0 counts
 * as fenced), then, in one transaction, grows its epoch and sets
 * ha_fenced_at, provided it is still down.  Returns 1 when it is fenced
 * (now or before), 0 when it is not down any more (it came back: nothing
 * to do), -1 with err when the hook did not confirm or the store failed
 * (the caller retries after a back-off). */
int fleet_host_fence(struct store *st, const char *host_id, const char *hook, int timeout_ms,
                     struct nubo_err *err);

/* ---- liveness (liveness.c) ------------------------------------------------
 *
 * When each host was last heard from (a heartbeat or a registration,
 * recorded as soon as it is received, before its transaction), on the
 * monotonic clock, in memory: what the reconciler's down decision reads,
 * so that neither a slow store nor a wall-clock jump makes a host that
 * speaks look silent.  Thread-safe. */

/* host_id was heard from now. */
void fleet_liveness_seen(const char *host_id);

/* When host_id was last heard from (monotonic ms), or 0 when not since
 * nubod started. */
int64_t fleet_liveness_last(const char *host_id);

/* Forgets host_id (its row is gone). */
void fleet_liveness_forget(const char *host_id);

/* Forgets every host (nubod's shutdown, tests). */
void fleet_liveness_reset(void);

/* ---- recovery (recovery.c) ------------------------------------------------
 *
 * A cloud restored from a backup (nubod --restore) is "recovering" while
 * the file <state-dir>/recovering exists: the reconciler quarantines VMs
 * named nubo-<uuid> that no instance claims (they were made after the
 * backup) instead of removing them, until an admin finishes the recovery.
 * Thread-safe; the list is in memory. */

/* Reads the mode from the file at path (nubod's start).  Returns whether
 * the cloud is recovering. */
bool fleet_recovery_init(const char *path);

/* Whether the cloud is recovering. */
bool fleet_recovery_active(void);

/* Records vm on a host as quarantined (a no-op when not recovering);
 * true the first time it is seen. */
bool fleet_recovery_quarantine(const char *host_id, const char *host_name, const char *vm,
                               const char *state);

/* {"recovering": bool, the file's fields (restored_at, backup_taken_at,
 * backup), "quarantined": [{host_id, host, vm, state, since}]}: a new
 * reference. */
json_t *fleet_recovery_report(void);

/* Ends the recovery: removes the file; the quarantined VMs are orphans
 * again (the reconciler removes them).  NUBO_E_CONFLICT when not
 * recovering.  0 or -1. */
int fleet_recovery_finish(struct nubo_err *err);

/* Frees the state (nubod's shutdown, tests). */
void fleet_recovery_reset(void);

/* Revokes the host token of a host (id or name) and lets the next
 * registration under its name succeed with the join token alone, once: an
 * admin's way back for a host that lost its state.  Returns the host (new
 * reference, as fleet_host_get) or NULL with err (NUBO_E_NOTFOUND). */
json_t *fleet_host_reset_credential(struct store *st, const char *ref, struct nubo_err *err);

/* Validates a host agent's address: "unix:/absolute/path" (<= 107
 * characters of path) or "http://HOST:PORT".  0 or -1 with err. */
int fleet_host_address_valid(const char *address, struct nubo_err *err);

/* How many hosts are in each state (the health check's, which also proves
 * the store answers): {total, up, degraded, down, fenced,
 * unreachable} (up and degraded exclusive; unreachable counts up hosts whose
 * agent does not answer).  A new reference, or NULL with err. */
json_t *fleet_host_summary(struct store *st, struct nubo_err *err);

/* ---- maintenance (maintenance.c) -------------------------------------- */

struct ctx;

/* Puts host ref (id or name) in maintenance and has the reconciler drain
 * it (src/ctrl/drain.c): its instances are live-migrated to other hosts
 * a few at a time, and it takes no new ones.  Asked again while draining:
 * nothing changes; after a drain that ended ("drained"), a new drain
 * tries again the instances that could not move.  A down or fenced host
 * is refused (409).  The host as GET /v1/hosts/{id} shows it, or NULL
 * with err. */
json_t *fleet_host_drain(struct store *st, const char *ref, const struct ctx *ctx,
                         struct nubo_err *err);

/* Puts host ref back in service (whatever its maintenance); migrations
 * that are under way finish.  The host, or NULL with err. */
json_t *fleet_host_undrain(struct store *st, const char *ref, const struct ctx *ctx,
                           struct nubo_err *err);

/* The draining hosts: [{id, name, maintenance_at, maintenance_by,
 * drain_failures}] (failures: JSON text {instance id: reason}). */
json_t *fleet_hosts_draining(struct store *st, struct nubo_err *err);

/* Records, for the drain of host_id that began at since, the instances
 * that could not move (failures, {id: reason}) and, when done, that it
 * ended (maintenance 'drained').  A drain undone or asked again since is
 * left alone.  0, or -1 with err. */
int fleet_drain_note(struct store *st, const char *host_id, const char *since,
                     const json_t *failures, bool done, struct nubo_err *err);

/* Calls the change hook (below), if any: after a committed change. */
void fleet_changed(void);

/* fn(arg) is called after a registration and after a heartbeat that
 * changed something (see fleet_host_heartbeat); the controller makes it
 * wake the reconciler.  Set once before threads start; NULL disables it. */
void fleet_set_change_hook(void (*fn)(void *), void *arg);

#endif
