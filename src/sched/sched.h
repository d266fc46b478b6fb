/*
 * sched.h - placement of instances on hosts: filters, weights, claims.
 *
 * Pure logic over a snapshot of hosts, so it is unit-testable with
 * thousands of simulated hosts.  The caller loads the snapshot (in the
 * controller: inside the create's write transaction, so the snapshot and
 * the claim are atomic), asks sched_place() for ranked candidates and
 * claims the first one that still fits through its claim callback.
 *
 * Filters (a host is a candidate only if all pass):
 *   up           the host heartbeats (state up)
 *   healthy      its datapath has no problem it could not repair (a
 *                degraded host keeps its instances but takes no new one)
 *   reachable    its agent did not hang on the reconciler's last call (a
 *                hung agent is no target until it answers again)
 *   capacity     free vCPUs, RAM, disk after overcommit ratios:
 *                  free = total * ratio - used
 *   accel        when the request needs one ("kvm"), the host has it
 *   affinity     server group policy: anti-affinity = no member of the
 *                group on the host; affinity = the host of the existing
 *                members (any host while the group is empty)
 * Weights: spread prefers the host with the most free RAM (then vCPUs),
 * pack the one with the least that still fits; ties break on host id so
 * decisions are deterministic.
 */
#ifndef NUBO_SCHED_H
#define NUBO_SCHED_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

enum sched_policy { SCHED_SPREAD = 0, SCHED_PACK };
enum sched_group { SCHED_GROUP_NONE = 0, SCHED_GROUP_AFFINITY, SCHED_GROUP_ANTI_AFFINITY };

struct sched_host {
    char id[37];
    bool up;
    bool degraded;                      /* up, with datapath problems (src/fleet) */
    bool unreachable;                   /* its agent failed the reconciler's last call */
    bool maintenance;                   /* draining or drained by an admin (src/fleet) */
    char accel[8];                      /* "kvm", "tcg", or "" */
    long long vcpus, ram_mib, disk_gib; /* physical totals */
    long long used_vcpus, used_ram_mib, used_disk_gib; /* claimed by instances */
    int group_members; /* members of the request's server group here */
};

struct sched_request {
    long long vcpus, ram_mib, disk_gib;
    const char *need_accel; /* NULL or "" = any */
    enum sched_group group;
    int group_size; /* members of the group placed anywhere */
};

struct sched_cfg {
    enum sched_policy policy;
    double cpu_ratio, ram_ratio, disk_ratio;
};

/* Why no host fits, counted per filter, for an error message a user can
 * act on ("no valid host: 2 hosts down, 3 without enough RAM"). */
struct sched_report {
    int hosts, down, no_cpu, no_ram, no_disk, no_accel, affinity;
    int degraded;
    int unreachable;
    int maintenance;
};

/* True when req fits on h under cfg (all filters pass). */
bool sched_fits(const struct sched_cfg *cfg, const struct sched_host *h,
                const struct sched_request *req);

/* Ranks the hosts that pass the filters, best first: fills order[] with
 * indexes into hosts and returns how many (0 = no valid host; report says
 * why).  order must have room for n entries.  report may be NULL. */
size_t sched_place(const struct sched_cfg *cfg, const struct sched_host *hosts, size_t n,
                   const struct sched_request *req, size_t *order, struct sched_report *report);

/* Writes a sentence for a failed placement into err (NUBO_E_CAPACITY). */
int sched_no_host(const struct sched_report *report, struct nubo_err *err);

/* Adds req's usage to h (a claim on the in-memory snapshot). */
void sched_consume(struct sched_host *h, const struct sched_request *req);

#endif
