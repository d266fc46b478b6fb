/*
 * sched.c - filters, weights and in-memory claims; see sched.h.
 */
#include "sched/sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long long cap(long long total, double ratio)
{
    return (long long)((double)total * ratio);
}

/* Which filter rejects h (0 = none). */
enum reject {
    OK = 0,
    R_DOWN,
    R_MAINTENANCE,
    R_DEGRADED,
    R_UNREACHABLE,
    R_CPU,
    R_RAM,
    R_DISK,
    R_ACCEL,
    R_GROUP
};

static enum reject check(const struct sched_cfg *cfg, const struct sched_host *h,
                         const struct sched_request *req)
{
    if (!h->up)
        return R_DOWN;
    if (h->maintenance)
        return R_MAINTENANCE;
    if (h->degraded)
        return R_DEGRADED;
    if (h->unreachable)
        return R_UNREACHABLE;
    if (req->need_accel && *req->need_accel && strcmp(req->need_accel, h->accel) != 0)
        return R_ACCEL;
    if (req->group == SCHED_GROUP_ANTI_AFFINITY && h->group_members > 0)
        return R_GROUP;
    if (req->group == SCHED_GROUP_AFFINITY && req->group_size > 0 && h->group_members == 0)
        return R_GROUP;
    if (h->used_vcpus + req->vcpus > cap(h->vcpus, cfg->cpu_ratio))
        return R_CPU;
    if (h->used_ram_mib + req->ram_mib > cap(h->ram_mib, cfg->ram_ratio))
        return R_RAM;
    if (h->used_disk_gib + req->disk_gib > cap(h->disk_gib, cfg->disk_ratio))
        return R_DISK;
    return OK;
}

bool sched_fits(const struct sched_cfg *cfg, const struct sched_host *h,
                const struct sched_request *req)
{
    return check(cfg, h, req) == OK;
}

/* qsort has no context argument: the comparison reads these. */
struct rank_ctx {
    const struct sched_cfg *cfg;
    const struct sched_host *hosts;
};
static __thread const struct rank_ctx *rank_ctx;

static int cmp(const void *a, const void *b)
{
    const struct sched_host *x = &rank_ctx->hosts[*(const size_t *)a];
    const struct sched_host *y = &rank_ctx->hosts[*(const size_t *)b];
    const struct sched_cfg *cfg = rank_ctx->cfg;
    long long fx = cap(x->ram_mib, cfg->ram_ratio) - x->used_ram_mib;
    long long fy = cap(y->ram_mib, cfg->ram_ratio) - y->used_ram_mib;
    long long cx = cap(x->vcpus, cfg->cpu_ratio) - x->used_vcpus;
    long long cy = cap(y->vcpus, cfg->cpu_ratio) - y->used_vcpus;
    int sign = cfg->policy == SCHED_PACK ? 1 : -1; /* pack: least free first */
    if (fx != fy)
        return fx < fy ? -sign : sign;
    if (cx != cy)
        return cx < cy ? -sign : sign;
    return strcmp(x->id, y->id);
}

size_t sched_place(const struct sched_cfg *cfg, const struct sched_host *hosts, size_t n,
                   const struct sched_request *req, size_t *order, struct sched_report *report)
{
    struct sched_report r = {.hosts = (int)n};
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        switch (check(cfg, &hosts[i], req)) {
        case OK:
            order[k++] = i;
            break;
        case R_DOWN:
            r.down++;
            break;
        case R_MAINTENANCE:
            r.maintenance++;
            break;
        case R_DEGRADED:
            r.degraded++;
            break;
        case R_UNREACHABLE:
            r.unreachable++;
            break;
        case R_CPU:
            r.no_cpu++;
            break;
        case R_RAM:
            r.no_ram++;
            break;
        case R_DISK:
            r.no_disk++;
            break;
        case R_ACCEL:
            r.no_accel++;
            break;
        case R_GROUP:
            r.affinity++;
            break;
        }
    }
    struct rank_ctx rc = {cfg, hosts};
    rank_ctx = &rc;
    qsort(order, k, sizeof(*order), cmp);
    rank_ctx = NULL;
    if (report)
        *report = r;
    return k;
}

int sched_no_host(const struct sched_report *r, struct nubo_err *err)
{
    if (r->hosts == 0)
        return nubo_err_set(err, NUBO_E_CAPACITY,
                            "no valid host: no host has joined the cloud yet (start nubo-hostd "
                            "with --controller)");
    char more[224] = "";
    if (r->degraded > 0)
        snprintf(more, sizeof(more), ", %d degraded (datapath problems: see GET /v1/hosts)",
                 r->degraded);
    if (r->unreachable > 0)
        snprintf(more + strlen(more), sizeof(more) - strlen(more),
                 ", %d not answering the controller", r->unreachable);
    if (r->maintenance > 0)
        snprintf(more + strlen(more), sizeof(more) - strlen(more),
                 ", %d in maintenance (drained by an admin)", r->maintenance);
    return nubo_err_set(err, NUBO_E_CAPACITY,
                        "no valid host among %d: %d down, %d without enough vCPUs, %d without "
                        "enough RAM, %d without enough disk, %d without the acceleration asked "
                        "for, %d excluded by the server group policy%s",
                        r->hosts, r->down, r->no_cpu, r->no_ram, r->no_disk, r->no_accel,
                        r->affinity, more);
}

void sched_consume(struct sched_host *h, const struct sched_request *req)
{
    h->used_vcpus += req->vcpus;
    h->used_ram_mib += req->ram_mib;
    h->used_disk_gib += req->disk_gib;
    h->group_members += req->group != SCHED_GROUP_NONE;
}
