/*
 * net_int.h - helpers shared by the files of src/network.  Not part of the
 * module's interface (that is network.h).
 */
#ifndef NUBO_NET_INT_H
#define NUBO_NET_INT_H

#include <jansson.h>

#include "identity/identity.h"
#include "lib/err.h"
#include "store/store.h"
#include "lib/jsonx.h" /* jsonx_str(): a row's string or "" */

/* The rows' key members as a new JSON array (rows stay the caller's). */
json_t *net_column(const json_t *rows, const char *key);

/* Copies lookup_err into err, replacing a NOTFOUND's message with "no WHAT
 * 'REF'".  Returns -1. */
int net_notfound(struct nubo_err *err, const struct nubo_err *lookup_err, const char *what,
                 const char *ref);

/* NUBO_E_INVALID "<field> must be the id or the name of <what>" unless ref
 * is a valid id or name (then it is safe to quote). */
int net_ref_check(const char *ref, const char *field, const char *what, struct nubo_err *err);

/* The same for a ref about to be looked up (from a URL or a body):
 * NUBO_E_NOTFOUND "no <what> with that id or name" (callers reading a body
 * turn it into INVALID with net_ref_invalid()). */
int net_ref_lookup(const char *ref, const char *what, struct nubo_err *err);

/* Turns NOTFOUND into INVALID: a reference in a body that names nothing
 * is a bad request, not a missing URL. */
void net_ref_invalid(struct nubo_err *err);

/* Counts project_id's rows of dim (networks, subnets, ports, security
 * groups and rules, floating IPs) and checks that want more fit its quota
 * (quota_check_count()).  Run it in the create's write transaction,
 * before the insert.  0, or -1 with err (NUBO_E_FORBIDDEN past the
 * quota). */
int net_quota_check(struct store *st, const char *project_id, enum quota_dim dim, long long want,
                    struct nubo_err *err);

/* Calls the change hook (after a commit). */
void net_changed(void);

/* Calls the meter hook for a floating IP just inserted or deleted, inside
 * the write transaction; 0 when none is set, else what it returns. */
int net_metered(struct store *st, const char *floating_ip_id, struct nubo_err *err);

/* The raw row of a network visible to ctx: its project's, an external
 * one, or any for a cloud admin; with write, only its project's (or any
 * for a cloud admin).  NULL with err (NOTFOUND naming ref). */
json_t *net_network_find(struct store *st, const struct ctx *ctx, const char *ref, bool write,
                         struct nubo_err *err);

/* Allocates the lowest free address of a subnet row (its pools, skipping
 * the gateway and the addresses in use by ports, or by floating IPs when
 * floating is set) inside the caller's write transaction, or checks that
 * want (not NULL) is inside a pool and free.  NUBO_E_CONFLICT when the
 * pool is exhausted or want is taken. */
int net_ipam_allocate(struct store *st, const json_t *subnet, const char *want, bool floating,
                      uint32_t *out, struct nubo_err *err);

/* Inserts a port (inside the caller's write transaction, within the
 * project's port quota: NUBO_E_FORBIDDEN past it) and returns its id in
 * id; groups is an array of group ids. */
int net_port_insert(struct store *st, const char *project_id, const json_t *network,
                    const json_t *subnet, const char *name, const char *fixed_ip,
                    const char *instance_id, const char *host_id, const char *hostname,
                    bool port_security, const json_t *groups, char id[37], struct nubo_err *err);

#endif
