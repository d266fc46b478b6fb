/*
 * cgroup.h - one control group per VM, for CPU and memory accounting.
 *
 * Each VM's QEMU joins a group "nubo-vm-<id>" created below the agent's own
 * group in each hierarchy (so the VM stays inside whatever limits the agent
 * itself runs under).  cgroup v2 (unified) and v1 (cpu, cpuacct, memory)
 * are both handled.  The CPU weight is proportional to the vCPU count.  When
 * no usable hierarchy exists, VMs run without a group and stats say so.
 */
#ifndef NUBO_HOST_CGROUP_H
#define NUBO_HOST_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CGROUP_MAX_PROCS 4

struct cgroup_cfg {
    int version;            /* 2, 1, or 0 when unavailable */
    char base[3][PATH_MAX]; /* v2: [0]; v1: cpu, cpuacct, memory parents */
};

/* Detects the hierarchy and the agent's place in it.  Returns the version
 * (0: none usable; the log says why). */
int cgroup_init(struct cgroup_cfg *cg);

/* Creates the VM's groups and sets the CPU weight.  Fills procs with the
 * cgroup.procs files the QEMU child must write "0" into (NULL-terminated).
 * Returns 0, or -1 (the VM then runs without a group; logged). */
int cgroup_vm_create(const struct cgroup_cfg *cg, const char *vm_id, int vcpus,
                     char procs[CGROUP_MAX_PROCS][PATH_MAX]);

/* Reads the accounting of the group that process pid is in.  Returns 0 with
 * CPU time in nanoseconds and memory in bytes, or -1. */
int cgroup_pid_stats(const struct cgroup_cfg *cg, pid_t pid, uint64_t *cpu_ns, uint64_t *mem_bytes);

/* Removes the VM's (empty) groups; missing groups are fine. */
void cgroup_vm_remove(const struct cgroup_cfg *cg, const char *vm_id);

#endif
