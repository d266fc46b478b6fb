/*
 * test_sched.c - unit tests of src/sched: the filters, the spread and pack
 * weights, the no-valid-host report, determinism, and the claim protocol
 * the controller builds on sched_fits/sched_consume, run by 8 threads
 * placing 10,000 instances onto 1,000 simulated hosts.
 *
 * Hosts are named "h0000".."h0999" so that the tie-break on id is the
 * index order.  The concurrency test also prints placements per second
 * (informative, not asserted).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "sched/sched.h"

#define NHOSTS 1000

/* ------------------------------------------------------------- helpers */

static const struct sched_cfg spread = {SCHED_SPREAD, 4.0, 1.0, 1.0};
static const struct sched_cfg pack = {SCHED_PACK, 4.0, 1.0, 1.0};

static void host_init(struct sched_host *h, size_t i, long long vcpus, long long ram_mib,
                      long long disk_gib)
{
    memset(h, 0, sizeof(*h));
    snprintf(h->id, sizeof(h->id), "h%04zu", i);
    h->up = true;
    snprintf(h->accel, sizeof(h->accel), "kvm");
    h->vcpus = vcpus;
    h->ram_mib = ram_mib;
    h->disk_gib = disk_gib;
}

/* n identical hosts; the caller frees. */
static struct sched_host *hosts_new(size_t n, long long vcpus, long long ram_mib,
                                    long long disk_gib)
{
    struct sched_host *h = calloc(n, sizeof(*h));
    if (h == NULL)
        abort();
    for (size_t i = 0; i < n; i++)
        host_init(&h[i], i, vcpus, ram_mib, disk_gib);
    return h;
}

static size_t *order_new(size_t n)
{
    size_t *o = calloc(n ? n : 1, sizeof(*o));
    if (o == NULL)
        abort();
    return o;
}

/* The same capacity formula as the scheduler's: free = total * ratio - used. */
static long long cap(long long total, double ratio)
{
    return (long long)((double)total * ratio);
}

static long long free_ram(const struct sched_cfg *cfg, const struct sched_host *h)
{
    return cap(h->ram_mib, cfg->ram_ratio) - h->used_ram_mib;
}

static long long free_cpu(const struct sched_cfg *cfg, const struct sched_host *h)
{
    return cap(h->vcpus, cfg->cpu_ratio) - h->used_vcpus;
}

/* Places req on the best host and claims it there; returns the host's
 * index or -1 when no host fits. */
static long place_one(const struct sched_cfg *cfg, struct sched_host *hosts, size_t n,
                      const struct sched_request *req, size_t *order)
{
    size_t k = sched_place(cfg, hosts, n, req, order, NULL);
    if (k == 0)
        return -1;
    sched_consume(&hosts[order[0]], req);
    return (long)order[0];
}

/* A small deterministic generator (the tests must not depend on rand()). */
static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --------------------------------------------------------------- spread */

/* Identical hosts: each round of 1,000 requests puts exactly one instance
 * on every host, always on one of the emptiest. */
static void test_spread_even(void)
{
    struct sched_host *h = hosts_new(NHOSTS, 16, 32768, 1000);
    size_t *order = order_new(NHOSTS);
    int count[NHOSTS] = {0};
    struct sched_request req = {.vcpus = 1, .ram_mib = 1024, .disk_gib = 10};
    int wrong = 0;
    double t0 = now_s();
    for (int i = 0; i < 3 * NHOSTS; i++) {
        long at = place_one(&spread, h, NHOSTS, &req, order);
        if (!CHECK(at >= 0))
            break;
        int round = i / NHOSTS;
        if (count[at] != round && wrong++ < 5)
            fprintf(stderr, "    placement %d went to %s holding %d (round %d)\n", i, h[at].id,
                    count[at], round);
        count[at]++;
    }
    double dt = now_s() - t0;
    CHECK_INT_EQ(wrong, 0);
    int min = count[0], max = count[0];
    for (size_t i = 0; i < NHOSTS; i++) {
        min = count[i] < min ? count[i] : min;
        max = count[i] > max ? count[i] : max;
    }
    CHECK_INT_EQ(min, 3);
    CHECK_INT_EQ(max, 3);
    printf("sched: spread, 1 thread: %d placements on %d hosts in %.2f s (%.0f/s)\n", 3 * NHOSTS,
           NHOSTS, dt, 3 * NHOSTS / dt);
    free(order);
    free(h);
}

/* Uneven hosts: every placement goes to a host with the most free RAM (then
 * vCPUs), and placing enough levels the free RAM to within one request. */
static void test_spread_picks_emptiest(void)
{
    struct sched_host *h = calloc(NHOSTS, sizeof(*h));
    size_t *order = order_new(NHOSTS);
    if (h == NULL)
        abort();
    for (size_t i = 0; i < NHOSTS; i++)
        host_init(&h[i], i, 8 + (long long)(i % 3) * 8, 16384 + (long long)(i % 4) * 1024, 1000);
    struct sched_request req = {.vcpus = 1, .ram_mib = 1024, .disk_gib = 1};
    int wrong = 0;
    for (int n = 0; n < 2000; n++) {
        long long best_ram = -1, best_cpu = -1;
        for (size_t i = 0; i < NHOSTS; i++) {
            if (!sched_fits(&spread, &h[i], &req))
                continue;
            long long r = free_ram(&spread, &h[i]), c = free_cpu(&spread, &h[i]);
            if (r > best_ram || (r == best_ram && c > best_cpu)) {
                best_ram = r;
                best_cpu = c;
            }
        }
        size_t k = sched_place(&spread, h, NHOSTS, &req, order, NULL);
        if (!CHECK(k > 0))
            break;
        const struct sched_host *c = &h[order[0]];
        if ((free_ram(&spread, c) != best_ram || free_cpu(&spread, c) != best_cpu) && wrong++ < 5)
            fprintf(stderr,
                    "    placement %d: %s has %lld MiB / %lld vCPUs free, best %lld / %lld\n", n,
                    c->id, free_ram(&spread, c), free_cpu(&spread, c), best_ram, best_cpu);
        /* the ranking is sorted: free RAM never increases down the list */
        for (size_t j = 1; j < k; j++)
            if (free_ram(&spread, &h[order[j]]) > free_ram(&spread, &h[order[j - 1]]) &&
                wrong++ < 5)
                fprintf(stderr, "    placement %d: rank %zu is emptier than rank %zu\n", n, j,
                        j - 1);
        sched_consume(&h[order[0]], &req);
    }
    CHECK_INT_EQ(wrong, 0);
    /* 1,500 placements level the 1,000 hosts; 500 more keep them level */
    long long lo = free_ram(&spread, &h[0]), hi = lo;
    for (size_t i = 0; i < NHOSTS; i++) {
        long long f = free_ram(&spread, &h[i]);
        lo = f < lo ? f : lo;
        hi = f > hi ? f : hi;
    }
    CHECK(hi - lo <= req.ram_mib);
    free(order);
    free(h);
}

/* ----------------------------------------------------------------- pack */

/* Pack fills a host before it opens the next one. */
static void test_pack_fills_host_first(void)
{
    /* RAM binds: 8 instances of 4 GiB per 32 GiB host (CPU 64, disk 500) */
    struct sched_host *h = hosts_new(NHOSTS, 16, 32768, 500);
    size_t *order = order_new(NHOSTS);
    int count[NHOSTS] = {0};
    struct sched_request req = {.vcpus = 2, .ram_mib = 4096, .disk_gib = 20};
    long last = -1;
    int reopened = 0;
    for (int i = 0; i < 100; i++) {
        long at = place_one(&pack, h, NHOSTS, &req, order);
        if (!CHECK(at >= 0))
            break;
        if (at != last && last >= 0 && sched_fits(&pack, &h[last], &req) && reopened++ < 5)
            fprintf(stderr, "    placement %d left %s while it still had room\n", i, h[last].id);
        if (count[at] == 0 && at != last + 1 && reopened++ < 5)
            fprintf(stderr, "    placement %d opened %s, not the next by id\n", i, h[at].id);
        count[at]++;
        last = at;
    }
    CHECK_INT_EQ(reopened, 0);
    /* 100 = 12 full hosts + 4 on the 13th, in id order */
    for (size_t i = 0; i < 12; i++)
        CHECK_INT_EQ(count[i], 8);
    CHECK_INT_EQ(count[12], 4);
    for (size_t i = 13; i < NHOSTS; i++)
        if (!CHECK_INT_EQ(count[i], 0))
            break;
    free(order);
    free(h);
}

/* Pack prefers the fullest host that still fits, whatever its id; spread
 * the emptiest. */
static void test_pack_prefers_fullest(void)
{
    struct sched_host *h = hosts_new(NHOSTS, 16, 32768, 500);
    size_t *order = order_new(NHOSTS);
    struct sched_request req = {.vcpus = 1, .ram_mib = 1024, .disk_gib = 1};
    h[700].used_ram_mib = 20000;
    h[300].used_ram_mib = 10000;
    h[900].used_ram_mib = 32768 - 512; /* too full for req */
    size_t k = sched_place(&pack, h, NHOSTS, &req, order, NULL);
    CHECK_INT_EQ(k, NHOSTS - 1);
    CHECK_STR_EQ(h[order[0]].id, "h0700");
    CHECK_STR_EQ(h[order[1]].id, "h0300");
    CHECK_STR_EQ(h[order[2]].id, "h0000");
    k = sched_place(&spread, h, NHOSTS, &req, order, NULL);
    CHECK_INT_EQ(k, NHOSTS - 1);
    CHECK_STR_EQ(h[order[0]].id, "h0000");
    CHECK_STR_EQ(h[order[k - 2]].id, "h0300");
    CHECK_STR_EQ(h[order[k - 1]].id, "h0700");
    free(order);
    free(h);
}

/* -------------------------------------------------------------- filters */

static void test_filter_down_hosts(void)
{
    struct sched_host *h = hosts_new(NHOSTS, 16, 32768, 500);
    size_t *order = order_new(NHOSTS);
    int down = 0;
    for (size_t i = 0; i < NHOSTS; i += 3) {
        h[i].up = false;
        down++;
    }
    struct sched_request req = {.vcpus = 1, .ram_mib = 512, .disk_gib = 1};
    struct sched_report rep;
    size_t k = sched_place(&spread, h, NHOSTS, &req, order, &rep);
    CHECK_INT_EQ(k, NHOSTS - down);
    CHECK_INT_EQ(rep.hosts, NHOSTS);
    CHECK_INT_EQ(rep.down, down);
    int bad = 0;
    for (size_t j = 0; j < k; j++)
        bad += !h[order[j]].up;
    CHECK_INT_EQ(bad, 0);
    CHECK(!sched_fits(&spread, &h[0], &req));
    CHECK(sched_fits(&spread, &h[1], &req));
    free(order);
    free(h);
}

/* A host whose agent did not answer the reconciler is no target until it
 * does (issue 22 item 4), and the error says so when none is left. */
static void test_filter_unreachable_hosts(void)
{
    struct sched_host *h = hosts_new(3, 16, 32768, 500);
    size_t order[3];
    h[1].unreachable = true;
    struct sched_request req = {.vcpus = 1, .ram_mib = 512, .disk_gib = 1};
    struct sched_report rep;
    size_t k = sched_place(&spread, h, 3, &req, order, &rep);
    CHECK_INT_EQ(k, 2);
    CHECK_INT_EQ(rep.unreachable, 1);
    CHECK_INT_EQ(rep.down, 0);
    CHECK(order[0] != 1 && order[1] != 1);
    CHECK(!sched_fits(&spread, &h[1], &req));
    h[0].unreachable = h[2].unreachable = true;
    CHECK_INT_EQ(sched_place(&spread, h, 3, &req, order, &rep), 0);
    struct nubo_err err;
    sched_no_host(&rep, &err);
    CHECK(strstr(err.msg, "3 not answering the controller") != NULL);
    free(h);
}

/* Hosts in maintenance (draining or drained) take nothing, even empty. */
static void test_filter_maintenance_hosts(void)
{
    struct sched_host *h = hosts_new(3, 16, 32768, 500);
    size_t order[3];
    h[0].maintenance = true;
    h[1].used_ram_mib = 30000; /* the other two: the emptiest is in maintenance */
    struct sched_request req = {.vcpus = 1, .ram_mib = 512, .disk_gib = 1};
    struct sched_report rep;
    size_t k = sched_place(&spread, h, 3, &req, order, &rep);
    CHECK_INT_EQ(k, 2);
    CHECK_INT_EQ(rep.maintenance, 1);
    CHECK(order[0] == 2 && order[1] == 1);
    CHECK(!sched_fits(&spread, &h[0], &req));
    h[1].maintenance = h[2].maintenance = true;
    CHECK_INT_EQ(sched_place(&spread, h, 3, &req, order, &rep), 0);
    struct nubo_err err;
    sched_no_host(&rep, &err);
    CHECK(strstr(err.msg, "3 in maintenance") != NULL);
    free(h);
}

static void test_filter_accel(void)
{
    struct sched_host *h = hosts_new(NHOSTS, 16, 32768, 500);
    size_t *order = order_new(NHOSTS);
    for (size_t i = 0; i < NHOSTS; i += 2)
        snprintf(h[i].accel, sizeof(h[i].accel), "tcg");
    h[1].accel[0] = '\0';
    struct sched_request req = {.vcpus = 1, .ram_mib = 512, .disk_gib = 1, .need_accel = "kvm"};
    struct sched_report rep;
    size_t k = sched_place(&spread, h, NHOSTS, &req, order, &rep);
    CHECK_INT_EQ(k, NHOSTS / 2 - 1);
    CHECK_INT_EQ(rep.no_accel, NHOSTS / 2 + 1);
    int bad = 0;
    for (size_t j = 0; j < k; j++)
        bad += strcmp(h[order[j]].accel, "kvm") != 0;
    CHECK_INT_EQ(bad, 0);
    /* no accel asked for ("" or NULL): every host */
    req.need_accel = "";
    CHECK_INT_EQ(sched_place(&spread, h, NHOSTS, &req, order, NULL), NHOSTS);
    req.need_accel = NULL;
    CHECK_INT_EQ(sched_place(&spread, h, NHOSTS, &req, order, NULL), NHOSTS);
    free(order);
    free(h);
}

/* Each dimension on its own, at the edge: used + asked == total * ratio
 * fits, one more does not, and the report names the dimension. */
static void test_filter_capacity_with_ratios(void)
{
    const struct sched_cfg cfg = {SCHED_SPREAD, 4.0, 1.5, 2.0};
    struct sched_host h;
    host_init(&h, 0, 4, 1000, 100); /* 16 vCPUs, 1500 MiB, 200 GiB after ratios */
    struct sched_request req = {.vcpus = 16, .ram_mib = 1500, .disk_gib = 200};
    struct sched_report rep;
    size_t order[1];
    CHECK(sched_fits(&cfg, &h, &req));

    req.vcpus = 17;
    CHECK(!sched_fits(&cfg, &h, &req));
    CHECK_INT_EQ(sched_place(&cfg, &h, 1, &req, order, &rep), 0);
    CHECK_INT_EQ(rep.no_cpu, 1);
    CHECK_INT_EQ(rep.no_ram + rep.no_disk + rep.down + rep.no_accel + rep.affinity, 0);
    req.vcpus = 16;

    req.ram_mib = 1501;
    CHECK(!sched_fits(&cfg, &h, &req));
    CHECK_INT_EQ(sched_place(&cfg, &h, 1, &req, order, &rep), 0);
    CHECK_INT_EQ(rep.no_ram, 1);
    CHECK_INT_EQ(rep.no_cpu + rep.no_disk, 0);
    req.ram_mib = 1500;

    req.disk_gib = 201;
    CHECK(!sched_fits(&cfg, &h, &req));
    CHECK_INT_EQ(sched_place(&cfg, &h, 1, &req, order, &rep), 0);
    CHECK_INT_EQ(rep.no_disk, 1);
    CHECK_INT_EQ(rep.no_cpu + rep.no_ram, 0);
    req.disk_gib = 200;

    /* claims count against the same limits */
    struct sched_request small = {.vcpus = 5, .ram_mib = 500, .disk_gib = 50};
    sched_consume(&h, &small);
    sched_consume(&h, &small);
    sched_consume(&h, &small);
    CHECK_INT_EQ(h.used_vcpus, 15);
    CHECK_INT_EQ(h.used_ram_mib, 1500);
    CHECK_INT_EQ(h.used_disk_gib, 150);
    CHECK(!sched_fits(&cfg, &h, &small)); /* 20 > 16 vCPUs, and RAM is full */
    struct sched_request one = {.vcpus = 1, .ram_mib = 0, .disk_gib = 50};
    CHECK(sched_fits(&cfg, &h, &one)); /* exactly full in every dimension after it */
    sched_consume(&h, &one);
    struct sched_request zero = {0};
    CHECK(sched_fits(&cfg, &h, &zero));
    one.disk_gib = 0;
    CHECK(!sched_fits(&cfg, &h, &one));

    /* fractional ratios round down: 3 vCPUs * 1.5 = 4.5 -> 4 */
    const struct sched_cfg frac = {SCHED_SPREAD, 1.5, 1.0, 1.0};
    host_init(&h, 0, 3, 1000, 100);
    req = (struct sched_request){.vcpus = 4, .ram_mib = 1, .disk_gib = 1};
    CHECK(sched_fits(&frac, &h, &req));
    req.vcpus = 5;
    CHECK(!sched_fits(&frac, &h, &req));
}

/* Every filter at once over 1,000 hosts, 100 rejected by each, counted by
 * the first filter that rejects them; then the sentence for the user. */
static void test_report_counts(void)
{
    struct sched_host *h = hosts_new(NHOSTS, 16, 32768, 500);
    size_t *order = order_new(NHOSTS);
    struct sched_request req = {.vcpus = 4,
                                .ram_mib = 4096,
                                .disk_gib = 50,
                                .need_accel = "kvm",
                                .group = SCHED_GROUP_ANTI_AFFINITY,
                                .group_size = 100};
    for (size_t i = 0; i < NHOSTS; i++) {
        switch (i % 10) {
        case 0:
            h[i].up = false;
            h[i].used_vcpus = 64; /* also full: still counted as down */
            break;
        case 1:
            snprintf(h[i].accel, sizeof(h[i].accel), "tcg");
            break;
        case 2:
            h[i].group_members = 1;
            break;
        case 3:
            h[i].used_vcpus = 61;
            break;
        case 4:
            h[i].used_ram_mib = 32768 - 4095;
            break;
        case 5:
            h[i].used_disk_gib = 451;
            break;
        default:
            break;
        }
    }
    struct sched_report rep;
    memset(&rep, 0xff, sizeof(rep));
    size_t k = sched_place(&spread, h, NHOSTS, &req, order, &rep);
    CHECK_INT_EQ(k, 400);
    CHECK_INT_EQ(rep.hosts, NHOSTS);
    CHECK_INT_EQ(rep.down, 100);
    CHECK_INT_EQ(rep.no_accel, 100);
    CHECK_INT_EQ(rep.affinity, 100);
    CHECK_INT_EQ(rep.no_cpu, 100);
    CHECK_INT_EQ(rep.no_ram, 100);
    CHECK_INT_EQ(rep.no_disk, 100);
    int bad = 0;
    for (size_t j = 0; j < k; j++)
        bad += order[j] % 10 < 6;
    CHECK_INT_EQ(bad, 0);

    /* now no host fits: 0 candidates, the same report, a sentence */
    for (size_t i = 0; i < NHOSTS; i++)
        if (i % 10 >= 6)
            h[i].used_ram_mib = 32768;
    k = sched_place(&spread, h, NHOSTS, &req, order, &rep);
    CHECK_INT_EQ(k, 0);
    CHECK_INT_EQ(rep.no_ram, 500);
    CHECK_INT_EQ(rep.down + rep.no_accel + rep.affinity + rep.no_cpu + rep.no_disk, 500);
    struct nubo_err err;
    nubo_err_clear(&err);
    CHECK_INT_EQ(sched_no_host(&rep, &err), -1);
    CHECK_INT_EQ(err.code, NUBO_E_CAPACITY);
    CHECK_STR_HAS(err.msg, "no valid host among 1000");
    CHECK_STR_HAS(err.msg, "100 down");
    CHECK_STR_HAS(err.msg, "100 without enough vCPUs");
    CHECK_STR_HAS(err.msg, "500 without enough RAM");
    CHECK_STR_HAS(err.msg, "100 without enough disk");
    CHECK_STR_HAS(err.msg, "100 without the acceleration");
    CHECK_STR_HAS(err.msg, "100 excluded by the server group");

    /* no host at all */
    k = sched_place(&spread, h, 0, &req, order, &rep);
    CHECK_INT_EQ(k, 0);
    CHECK_INT_EQ(rep.hosts, 0);
    CHECK_INT_EQ(sched_no_host(&rep, &err), -1);
    CHECK_INT_EQ(err.code, NUBO_E_CAPACITY);
    CHECK_STR_HAS(err.msg, "no host has joined");
    free(order);
    free(h);
}

/* Anti-affinity: the members of a group land on distinct hosts, even with
 * pack; affinity: on the host of the first member, even with spread, and
 * nowhere once that host is full. */
static void test_affinity(void)
{
    struct sched_host *h = hosts_new(NHOSTS, 16, 32768, 500);
    size_t *order = order_new(NHOSTS);
    int count[NHOSTS] = {0};
    struct sched_request req = {
        .vcpus = 1, .ram_mib = 1024, .disk_gib = 1, .group = SCHED_GROUP_ANTI_AFFINITY};
    int twice = 0;
    for (int i = 0; i < 50; i++) {
        req.group_size = i;
        long at = place_one(&pack, h, NHOSTS, &req, order);
        if (!CHECK(at >= 0))
            break;
        twice += count[at]++ > 0;
        CHECK_INT_EQ(h[at].group_members, 1);
    }
    CHECK_INT_EQ(twice, 0);
    /* a group as large as the cloud fills it, then nothing fits */
    for (int i = 50; i < NHOSTS; i++) {
        req.group_size = i;
        if (!CHECK(place_one(&pack, h, NHOSTS, &req, order) >= 0))
            break;
    }
    struct sched_report rep;
    CHECK_INT_EQ(sched_place(&pack, h, NHOSTS, &req, order, &rep), 0);
    CHECK_INT_EQ(rep.affinity, NHOSTS);
    free(h);

    /* affinity */
    h = hosts_new(NHOSTS, 16, 32768, 500);
    memset(count, 0, sizeof(count));
    req = (struct sched_request){
        .vcpus = 1, .ram_mib = 4096, .disk_gib = 1, .group = SCHED_GROUP_AFFINITY, .group_size = 0};
    long first = place_one(&spread, h, NHOSTS, &req, order); /* empty group: any host */
    CHECK(first >= 0);
    for (int i = 1; i < 8 && first >= 0; i++) {
        req.group_size = i;
        long at = place_one(&spread, h, NHOSTS, &req, order);
        if (!CHECK_INT_EQ(at, first))
            break;
    }
    req.group_size = 8; /* the host holds 8 x 4 GiB: full */
    CHECK_INT_EQ(sched_place(&spread, h, NHOSTS, &req, order, &rep), 0);
    CHECK_INT_EQ(rep.affinity, NHOSTS - 1);
    CHECK_INT_EQ(rep.no_ram, 1);
    /* members on hosts that are down do not make other hosts eligible */
    if (first >= 0)
        h[first].up = false;
    CHECK_INT_EQ(sched_place(&spread, h, NHOSTS, &req, order, &rep), 0);
    CHECK_INT_EQ(rep.down, 1);
    free(order);
    free(h);
}

/* ---------------------------------------------------------- determinism */

/* 1,000 uneven hosts with some usage, from a fixed seed. */
static struct sched_host *hosts_uneven(uint32_t seed)
{
    struct sched_host *h = calloc(NHOSTS, sizeof(*h));
    if (h == NULL)
        abort();
    for (size_t i = 0; i < NHOSTS; i++) {
        host_init(&h[i], i, 4 + lcg(&seed) % 4 * 4, 8192 + lcg(&seed) % 4 * 8192,
                  100 + lcg(&seed) % 5 * 100);
        h[i].used_vcpus = lcg(&seed) % 8;
        h[i].used_ram_mib = (lcg(&seed) % 4) * 1024;
        h[i].up = lcg(&seed) % 50 != 0;
    }
    return h;
}

/* The same input gives the same ranking; so does the same set of hosts in
 * another order (ties break on the id, not the position), and so does a
 * whole sequence of placements and claims. */
static void test_deterministic(void)
{
    static const struct sched_request reqs[] = {
        {.vcpus = 1, .ram_mib = 512, .disk_gib = 10},
        {.vcpus = 2, .ram_mib = 2048, .disk_gib = 20},
        {.vcpus = 4, .ram_mib = 4096, .disk_gib = 40},
        {.vcpus = 1, .ram_mib = 1024, .disk_gib = 80},
    };
    for (int pol = 0; pol < 2; pol++) {
        const struct sched_cfg *cfg = pol ? &pack : &spread;
        struct sched_host *a = hosts_uneven(42);
        struct sched_host *b = hosts_uneven(42);
        size_t *oa = order_new(NHOSTS), *ob = order_new(NHOSTS);
        /* b: the same hosts, shuffled (Fisher-Yates, fixed seed) */
        uint32_t seed = 7;
        for (size_t i = NHOSTS - 1; i > 0; i--) {
            size_t j = lcg(&seed) % (i + 1);
            struct sched_host t = b[i];
            b[i] = b[j];
            b[j] = t;
        }
        size_t ka = sched_place(cfg, a, NHOSTS, &reqs[1], oa, NULL);
        size_t ka2 = sched_place(cfg, a, NHOSTS, &reqs[1], ob, NULL);
        CHECK_INT_EQ(ka, ka2);
        CHECK(memcmp(oa, ob, ka * sizeof(*oa)) == 0);
        size_t kb = sched_place(cfg, b, NHOSTS, &reqs[1], ob, NULL);
        CHECK_INT_EQ(ka, kb);
        int diff = 0;
        for (size_t j = 0; j < ka && j < kb; j++)
            diff += strcmp(a[oa[j]].id, b[ob[j]].id) != 0;
        CHECK_INT_EQ(diff, 0);
        /* a sequence of 3,000 placements with claims */
        diff = 0;
        for (int i = 0; i < 3000; i++) {
            const struct sched_request *r = &reqs[i % 4];
            long x = place_one(cfg, a, NHOSTS, r, oa);
            long y = place_one(cfg, b, NHOSTS, r, ob);
            if ((x < 0) != (y < 0) || (x >= 0 && strcmp(a[x].id, b[y].id) != 0)) {
                if (diff++ < 5)
                    fprintf(stderr, "    placement %d: %s vs %s\n", i, x >= 0 ? a[x].id : "-",
                            y >= 0 ? b[y].id : "-");
            }
        }
        CHECK_INT_EQ(diff, 0);
        free(oa);
        free(ob);
        free(a);
        free(b);
    }
}

/* --------------------------------------------------------- concurrency */

/*
 * The claim protocol of a controller with several API threads: each
 * thread ranks candidates on its own snapshot of the hosts (possibly
 * stale), then claims a candidate under that host's lock only if the
 * request still fits there (sched_fits on the live host), else tries the
 * next candidate; when every candidate fails it refreshes its snapshot
 * once and tries again before giving up.  Capacity is tight (demand is
 * about the cloud's vCPUs), so the end of the run fights over the last
 * free slots.
 */
#define THREADS 8
#define PLACEMENTS 10000
#define REFRESH_EVERY 64

static const struct sched_request claim_reqs[] = {
    {.vcpus = 1, .ram_mib = 512, .disk_gib = 10},
    {.vcpus = 2, .ram_mib = 2048, .disk_gib = 20},
    {.vcpus = 4, .ram_mib = 4096, .disk_gib = 40},
    {.vcpus = 1, .ram_mib = 1024, .disk_gib = 80},
};
#define NREQS (sizeof(claim_reqs) / sizeof(claim_reqs[0]))

struct cloud {
    struct sched_cfg cfg;
    struct sched_host hosts[NHOSTS];
    int instances[NHOSTS];
    pthread_mutex_t locks[NHOSTS];
    pthread_barrier_t start;
};

struct worker {
    struct cloud *c;
    uint32_t seed;
    int todo;
    /* results: worker-private until joined */
    long long placed, failed, lost_races, vcpus, ram_mib, disk_gib;
    int failed_kind[NREQS];
};

static void snapshot(struct cloud *c, struct sched_host *snap)
{
    for (size_t i = 0; i < NHOSTS; i++) {
        pthread_mutex_lock(&c->locks[i]);
        snap[i] = c->hosts[i];
        pthread_mutex_unlock(&c->locks[i]);
    }
}

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct cloud *c = w->c;
    struct sched_host *snap = calloc(NHOSTS, sizeof(*snap));
    size_t *order = order_new(NHOSTS);
    if (snap == NULL)
        abort();
    pthread_barrier_wait(&c->start);
    snapshot(c, snap);
    for (int n = 0; n < w->todo; n++) {
        size_t kind = lcg(&w->seed) % NREQS;
        const struct sched_request *req = &claim_reqs[kind];
        if (n % REFRESH_EVERY == 0)
            snapshot(c, snap);
        bool claimed = false;
        for (int attempt = 0; attempt < 2 && !claimed; attempt++) {
            if (attempt == 1)
                snapshot(c, snap);
            size_t k = sched_place(&c->cfg, snap, NHOSTS, req, order, NULL);
            for (size_t j = 0; j < k && !claimed; j++) {
                size_t i = order[j];
                pthread_mutex_lock(&c->locks[i]);
                if (sched_fits(&c->cfg, &c->hosts[i], req)) {
                    sched_consume(&c->hosts[i], req);
                    c->instances[i]++;
                    claimed = true;
                } else {
                    w->lost_races++;
                }
                snap[i] = c->hosts[i];
                pthread_mutex_unlock(&c->locks[i]);
            }
        }
        if (claimed) {
            w->placed++;
            w->vcpus += req->vcpus;
            w->ram_mib += req->ram_mib;
            w->disk_gib += req->disk_gib;
        } else {
            w->failed++;
            w->failed_kind[kind]++;
        }
    }
    free(order);
    free(snap);
    return NULL;
}

static void test_concurrent_claims(void)
{
    struct cloud *c = calloc(1, sizeof(*c));
    if (c == NULL)
        abort();
    c->cfg = (struct sched_cfg){SCHED_SPREAD, 2.0, 1.5, 1.0};
    long long cap_cpu = 0;
    for (size_t i = 0; i < NHOSTS; i++) {
        host_init(&c->hosts[i], i, 4 + (long long)(i % 4) * 4, 8192 + (long long)(i % 3) * 8192,
                  200 + (long long)(i % 5) * 100);
        cap_cpu += cap(c->hosts[i].vcpus, c->cfg.cpu_ratio);
        pthread_mutex_init(&c->locks[i], NULL);
    }
    pthread_barrier_init(&c->start, NULL, THREADS + 1);
    struct worker w[THREADS];
    pthread_t th[THREADS];
    int started = 0;
    for (int t = 0; t < THREADS; t++) {
        w[t] = (struct worker){.c = c, .seed = 1000u + (uint32_t)t, .todo = PLACEMENTS / THREADS};
        if (!CHECK(pthread_create(&th[t], NULL, worker_run, &w[t]) == 0))
            break;
        started++;
    }
    if (started < THREADS) {
        /* cannot run: the barrier would never open */
        abort();
    }
    pthread_barrier_wait(&c->start);
    double t0 = now_s();
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    double dt = now_s() - t0;

    long long placed = 0, failed = 0, lost = 0, vcpus = 0, ram = 0, disk = 0;
    int failed_kind[NREQS] = {0};
    for (int t = 0; t < THREADS; t++) {
        placed += w[t].placed;
        failed += w[t].failed;
        lost += w[t].lost_races;
        vcpus += w[t].vcpus;
        ram += w[t].ram_mib;
        disk += w[t].disk_gib;
        for (size_t k = 0; k < NREQS; k++)
            failed_kind[k] += w[t].failed_kind[k];
    }
    CHECK_INT_EQ(placed + failed, PLACEMENTS);
    CHECK(placed > PLACEMENTS / 2);

    /* no host beyond capacity * ratio; the hosts hold exactly the claims */
    long long used_cpu = 0, used_ram = 0, used_disk = 0, inst = 0;
    int over = 0;
    for (size_t i = 0; i < NHOSTS; i++) {
        const struct sched_host *h = &c->hosts[i];
        if ((h->used_vcpus > cap(h->vcpus, c->cfg.cpu_ratio) ||
             h->used_ram_mib > cap(h->ram_mib, c->cfg.ram_ratio) ||
             h->used_disk_gib > cap(h->disk_gib, c->cfg.disk_ratio)) &&
            over++ < 5)
            fprintf(stderr, "    %s over capacity: %lld/%lld vCPUs %lld/%lld MiB %lld/%lld GiB\n",
                    h->id, h->used_vcpus, cap(h->vcpus, c->cfg.cpu_ratio), h->used_ram_mib,
                    cap(h->ram_mib, c->cfg.ram_ratio), h->used_disk_gib,
                    cap(h->disk_gib, c->cfg.disk_ratio));
        used_cpu += h->used_vcpus;
        used_ram += h->used_ram_mib;
        used_disk += h->used_disk_gib;
        inst += c->instances[i];
    }
    CHECK_INT_EQ(over, 0);
    CHECK_INT_EQ(inst, placed);
    CHECK_INT_EQ(used_cpu, vcpus);
    CHECK_INT_EQ(used_ram, ram);
    CHECK_INT_EQ(used_disk, disk);
    CHECK(used_cpu <= cap_cpu);

    /* a request given up on really had no room: usage only grows, so no
     * host can fit it now either */
    for (size_t k = 0; k < NREQS; k++) {
        if (failed_kind[k] == 0)
            continue;
        int fits = 0;
        for (size_t i = 0; i < NHOSTS; i++)
            fits += sched_fits(&c->cfg, &c->hosts[i], &claim_reqs[k]);
        if (!CHECK_INT_EQ(fits, 0))
            fprintf(stderr, "    request kind %zu failed %d times but fits %d hosts\n", k,
                    failed_kind[k], fits);
    }

    printf("sched: %d threads, %d hosts: %lld placed, %lld gave up (no room), %lld lost races,"
           " %.2f s, %.0f placements/s; %lld/%lld vCPUs claimed\n",
           THREADS, NHOSTS, placed, failed, lost, dt, (double)placed / dt, used_cpu, cap_cpu);

    for (size_t i = 0; i < NHOSTS; i++)
        pthread_mutex_destroy(&c->locks[i]);
    pthread_barrier_destroy(&c->start);
    free(c);
}

CHECK_MAIN(TEST(test_spread_even), TEST(test_spread_picks_emptiest),
           TEST(test_pack_fills_host_first), TEST(test_pack_prefers_fullest),
           TEST(test_filter_down_hosts), TEST(test_filter_unreachable_hosts),
           TEST(test_filter_maintenance_hosts), TEST(test_filter_accel),
           TEST(test_filter_capacity_with_ratios), TEST(test_report_counts), TEST(test_affinity),
           TEST(test_deterministic), TEST(test_concurrent_claims))
