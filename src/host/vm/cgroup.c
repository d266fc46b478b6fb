/*
 * cgroup.c - see vm_int.h.
 */
#include "host/vm/vm_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

/* Finds the path of pid's group for a v1 controller (or v2 when ctrl is
 * ""), from /proc/<pid>/cgroup lines "N:controllers:/path". */
static int own_group(pid_t pid, const char *ctrl, char *out, size_t n)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    char line[1024];
    int found = -1;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2 == NULL)
            continue;
        *c2 = '\0';
        const char *ctrls = c1 + 1;
        bool match = false;
        if (*ctrl == '\0') {
            match = *ctrls == '\0' && strcmp(line, "0") == 0;
        } else {
            char tmp[256];
            str_copy(tmp, sizeof(tmp), ctrls);
            char *save = NULL;
            for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save))
                match = match || strcmp(t, ctrl) == 0;
        }
        if (match) {
            snprintf(out, n, "%s", c2 + 1);
            found = 0;
            break;
        }
    }
    fclose(f);
    return found;
}

static int write_str(const char *dir, const char *file, const char *val)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "we");
    if (f == NULL)
        return -1;
    int r = fputs(val, f) < 0 ? -1 : 0;
    if (fclose(f) != 0)
        r = -1;
    return r;
}

static int read_u64(const char *path, const char *key, uint64_t *out)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    char line[256];
    int r = -1;
    while (fgets(line, sizeof(line), f)) {
        char *p = line;
        if (key) {
            size_t kl = strlen(key);
            if (strncmp(line, key, kl) != 0 || line[kl] != ' ')
                continue;
            p = line + kl + 1;
        }
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (errno == 0 && end != p) {
            *out = v;
            r = 0;
        }
        break;
    }
    fclose(f);
    return r;
}

int cgroup_init(struct cgroup_cfg *cg)
{
    memset(cg, 0, sizeof(*cg));
    char rel[PATH_MAX];
    if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0) {
        if (own_group(getpid(), "", rel, sizeof(rel)) < 0)
            goto none;
        /* A v2 group with processes cannot have children with controllers
         * enabled ("no internal processes"), so VMs go next to the agent's
         * group, in a sibling "nubo" group. */
        char parent[PATH_MAX];
        snprintf(parent, sizeof(parent), "/sys/fs/cgroup%s", rel);
        char *slash = strrchr(parent, '/');
        if (slash && slash != parent + strlen("/sys/fs/cgroup") - 1 && strcmp(rel, "/") != 0)
            *slash = '\0';
        snprintf(cg->base[0], sizeof(cg->base[0]), "%s/nubo", parent);
        if (mkdir(cg->base[0], 0755) < 0 && errno != EEXIST)
            goto none;
        write_str(parent, "cgroup.subtree_control", "+cpu +memory");
        if (write_str(cg->base[0], "cgroup.subtree_control", "+cpu +memory") < 0)
            log_warn("cgroup v2: cannot enable cpu and memory controllers under %s", cg->base[0]);
        cg->version = 2;
        log_info("cgroups: v2, VM groups under %s", cg->base[0]);
        return 2;
    }
    static const char *ctrls[3] = {"cpu", "cpuacct", "memory"};
    for (int i = 0; i < 3; i++) {
        char mnt[64];
        snprintf(mnt, sizeof(mnt), "/sys/fs/cgroup/%s/cgroup.procs", ctrls[i]);
        if (access(mnt, W_OK) != 0 || own_group(getpid(), ctrls[i], rel, sizeof(rel)) < 0)
            goto none;
        snprintf(cg->base[i], sizeof(cg->base[i]), "/sys/fs/cgroup/%s%s%snubo", ctrls[i], rel,
                 strcmp(rel, "/") == 0 ? "" : "/");
        if (mkdir(cg->base[i], 0755) < 0 && errno != EEXIST)
            goto none;
    }
    cg->version = 1;
    log_info("cgroups: v1, VM groups under %s, %s, %s", cg->base[0], cg->base[1], cg->base[2]);
    return 1;
none:
    log_warn("cgroups: no usable hierarchy; VMs run without CPU/memory accounting");
    memset(cg, 0, sizeof(*cg));
    return 0;
}

int cgroup_vm_create(const struct cgroup_cfg *cg, const char *vm_id, int vcpus,
                     char procs[CGROUP_MAX_PROCS][PATH_MAX])
{
    procs[0][0] = '\0';
    if (cg->version == 0)
        return -1;
    int nbase = cg->version == 2 ? 1 : 3;
    int np = 0;
    for (int i = 0; i < nbase; i++) {
        char dir[PATH_MAX];
        if (snprintf(dir, sizeof(dir), "%s/vm-%s", cg->base[i], vm_id) >= (int)sizeof(dir))
            return -1;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
            log_warn("cgroup: cannot create %s: %s", dir, strerror(errno));
            return -1;
        }
        char val[32];
        if (cg->version == 2) {
            snprintf(val, sizeof(val), "%d", vcpus * 100 > 10000 ? 10000 : vcpus * 100);
            write_str(dir, "cpu.weight", val);
        } else if (i == 0) {
            snprintf(val, sizeof(val), "%d", vcpus * 1024);
            write_str(dir, "cpu.shares", val);
        }
        snprintf(procs[np++], PATH_MAX, "%s/cgroup.procs", dir);
    }
    procs[np][0] = '\0';
    return 0;
}

int cgroup_pid_stats(const struct cgroup_cfg *cg, pid_t pid, uint64_t *cpu_ns, uint64_t *mem_bytes)
{
    char rel[PATH_MAX], path[PATH_MAX + 64];
    if (cg->version == 2) {
        if (own_group(pid, "", rel, sizeof(rel)) < 0)
            return -1;
        uint64_t usec;
        snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cpu.stat", rel);
        if (read_u64(path, "usage_usec", &usec) < 0)
            return -1;
        *cpu_ns = usec * 1000;
        snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.current", rel);
        return read_u64(path, NULL, mem_bytes);
    }
    if (cg->version == 1) {
        if (own_group(pid, "cpuacct", rel, sizeof(rel)) < 0)
            return -1;
        snprintf(path, sizeof(path), "/sys/fs/cgroup/cpuacct%s/cpuacct.usage", rel);
        if (read_u64(path, NULL, cpu_ns) < 0)
            return -1;
        if (own_group(pid, "memory", rel, sizeof(rel)) < 0)
            return -1;
        snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/memory.usage_in_bytes", rel);
        return read_u64(path, NULL, mem_bytes);
    }
    return -1;
}

void cgroup_vm_remove(const struct cgroup_cfg *cg, const char *vm_id)
{
    int nbase = cg->version == 2 ? 1 : (cg->version == 1 ? 3 : 0);
    for (int i = 0; i < nbase; i++) {
        char dir[PATH_MAX];
        if (snprintf(dir, sizeof(dir), "%s/vm-%s", cg->base[i], vm_id) >= (int)sizeof(dir))
            continue;
        if (rmdir(dir) < 0 && errno != ENOENT)
            log_debug("cgroup: cannot remove %s: %s", dir, strerror(errno));
    }
}
