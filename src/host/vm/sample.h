/*
 * sample.h - metric sampling on the host agent.
 *
 * Every --sample-ms the agent takes a "round": the host's CPU utilisation,
 * memory and state-directory disk usage, and for every VM that has a
 * process its CPU utilisation, memory, disk and network rates and the
 * cumulative counters behind them.  The driver reads the counters
 * (hv_driver.sample: the VM's cgroup, QMP query-blockstats); the sampler
 * keeps the previous reading of each VM and turns two readings into rates
 * over the monotonic time between them.  A VM's first reading, or one
 * after its process changed (a restart resets QEMU's counters), gives
 * counters but no rates yet.
 *
 * CPU utilisation is delta CPU time / delta wall time / vCPUs, in percent,
 * capped at 100 (QEMU's own threads can push a busy guest slightly past
 * its vCPUs).  The round's JSON is what POST /v1/hosts/{id}/metrics takes
 * in its "rounds" (docs/internals/monitoring.md), without seq and age_ms,
 * which the uplink adds when it sends the round.
 */
#ifndef NUBO_HOST_SAMPLE_H
#define NUBO_HOST_SAMPLE_H

#include <jansson.h>
#include <stdint.h>

#include "host/vm/driver.h"
#include "host/vm/vm.h"

struct sampler;

/* A sampler for the VMs of one agent; state_dir is the directory whose
 * filesystem is the host's disk. */
struct sampler *sampler_new(const char *state_dir);

/* Frees s (NULL is fine). */
void sampler_free(struct sampler *s);

/* Takes a round of the VMs listed from vms (linked by next) with drv:
 * {host:{cpu?, memory_used, memory_total, disk_used, disk_total},
 *  vms:[{name, cpu?, memory?, disk_read_bytes?..., counters:{...}}]}
 * (new reference).  now_ms is the monotonic clock. */
json_t *sampler_round(struct sampler *s, struct vm *vms, const struct hv_driver *drv,
                      int64_t now_ms);

/* The rates between two readings a and b of one VM with vcpus, dt_ms
 * apart, into the VM sample obj (cpu, disk_*, net_*); memory and counters
 * come from b.  Exposed for unit tests. */
void sampler_vm_json(const struct vm_counters *a, const struct vm_counters *b, int vcpus,
                     int64_t dt_ms, json_t *obj);

#endif
