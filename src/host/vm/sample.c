/*
 * sample.c - metric sampling on the host agent; see vm.h.
 *
 * Host figures come from /proc/stat (the "cpu" line: busy = all - idle -
 * iowait, over the total, between two rounds), /proc/meminfo (used =
 * MemTotal - MemAvailable) and statvfs() of the state directory.  The
 * previous reading of each VM is kept in a small array keyed by VM id;
 * VMs that disappeared are forgotten at the next round.  A reading whose
 * pid differs from the previous one is of a new QEMU (counters from zero).
 */
#include "host/vm/vm_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "lib/log.h"
#include "lib/util.h"

struct prev {
    char id[37];
    pid_t pid;
    int64_t at_ms;
    struct vm_counters c;
    int seen; /* in the current round */
};

struct sampler {
    char *state_dir;
    struct prev *prev;
    size_t nprev, aprev;
    /* /proc/stat of the previous round */
    int have_cpu;
    unsigned long long cpu_busy, cpu_total;
};

struct sampler *sampler_new(const char *state_dir)
{
    struct sampler *s = xcalloc(1, sizeof(*s));
    s->state_dir = xstrdup(state_dir);
    return s;
}

void sampler_free(struct sampler *s)
{
    if (s == NULL)
        return;
    free(s->prev);
    free(s->state_dir);
    free(s);
}

/* ---------------------------------------------------------------- host */

/* Reads the aggregate "cpu" line of /proc/stat.  Returns 0 or -1. */
static int proc_stat_cpu(unsigned long long *busy, unsigned long long *total)
{
    FILE *f = fopen("/proc/stat", "re");
    if (f == NULL)
        return -1;
    char line[512];
    int ok = fgets(line, sizeof(line), f) != NULL && strncmp(line, "cpu ", 4) == 0;
    fclose(f);
    if (!ok)
        return -1;
    unsigned long long v[8] = {0};
    char *p = line + 4;
    for (int i = 0; i < 8; i++) {
        char *end;
        errno = 0;
        v[i] = strtoull(p, &end, 10);
        if (end == p || errno != 0)
            return -1;
        p = end;
    }
    /* user nice system idle iowait irq softirq steal (guest time is part
     * of user already) */
    *total = 0;
    for (int i = 0; i < 8; i++)
        *total += v[i];
    *busy = *total - v[3] - v[4];
    return 0;
}

/* MemTotal and MemAvailable of /proc/meminfo, in bytes. */
static int proc_meminfo(unsigned long long *total, unsigned long long *avail)
{
    FILE *f = fopen("/proc/meminfo", "re");
    if (f == NULL)
        return -1;
    char line[256];
    int got = 0;
    while (fgets(line, sizeof(line), f) && got != 3) {
        unsigned long long *dst = NULL;
        size_t skip = 0;
        if (strncmp(line, "MemTotal:", 9) == 0) {
            dst = total;
            skip = 9;
            got |= 1;
        } else if (strncmp(line, "MemAvailable:", 13) == 0) {
            dst = avail;
            skip = 13;
            got |= 2;
        }
        if (dst) {
            char *end;
            errno = 0;
            unsigned long long kib = strtoull(line + skip, &end, 10);
            if (end == line + skip || errno != 0) {
                fclose(f);
                return -1;
            }
            *dst = kib * 1024;
        }
    }
    fclose(f);
    return got == 3 ? 0 : -1;
}

static json_t *host_json(struct sampler *s)
{
    json_t *o = json_object();
    unsigned long long busy, total;
    if (proc_stat_cpu(&busy, &total) == 0) {
        if (s->have_cpu && total > s->cpu_total && busy >= s->cpu_busy) {
            double pct = 100.0 * (double)(busy - s->cpu_busy) / (double)(total - s->cpu_total);
            json_object_set_new(o, "cpu", json_real(pct > 100 ? 100 : pct));
        }
        s->have_cpu = 1;
        s->cpu_busy = busy;
        s->cpu_total = total;
    }
    unsigned long long mt, ma;
    if (proc_meminfo(&mt, &ma) == 0) {
        json_object_set_new(o, "memory_used", json_integer((json_int_t)(mt > ma ? mt - ma : 0)));
        json_object_set_new(o, "memory_total", json_integer((json_int_t)mt));
    }
    struct statvfs fs;
    if (statvfs(s->state_dir, &fs) == 0) {
        unsigned long long tot = (unsigned long long)fs.f_blocks * fs.f_frsize;
        unsigned long long used = (unsigned long long)(fs.f_blocks - fs.f_bfree) * fs.f_frsize;
        json_object_set_new(o, "disk_used", json_integer((json_int_t)used));
        json_object_set_new(o, "disk_total", json_integer((json_int_t)tot));
    }
    return o;
}

/* ----------------------------------------------------------------- VMs */

static struct prev *prev_find(struct sampler *s, const char *id)
{
    for (size_t i = 0; i < s->nprev; i++)
        if (strcmp(s->prev[i].id, id) == 0)
            return &s->prev[i];
    if (s->nprev == s->aprev) {
        s->aprev = s->aprev ? s->aprev * 2 : 16;
        s->prev = realloc(s->prev, s->aprev * sizeof(*s->prev));
        if (s->prev == NULL)
            abort();
    }
    struct prev *p = &s->prev[s->nprev++];
    memset(p, 0, sizeof(*p));
    str_copy(p->id, sizeof(p->id), id);
    p->at_ms = -1;
    return p;
}

/* A rate of a counter that went from a to b in dt_ms, or -1 when it went
 * back (reset). */
static double rate(uint64_t a, uint64_t b, int64_t dt_ms)
{
    if (b < a || dt_ms <= 0)
        return -1;
    return (double)(b - a) * 1000.0 / (double)dt_ms;
}

static void put_rate(json_t *obj, const char *key, uint64_t a, uint64_t b, int64_t dt_ms)
{
    double r = rate(a, b, dt_ms);
    if (r >= 0)
        json_object_set_new(obj, key, json_real(r));
}

void sampler_vm_json(const struct vm_counters *a, const struct vm_counters *b, int vcpus,
                     int64_t dt_ms, json_t *obj)
{
    json_t *c = json_object();
    if (b->has_cpu)
        json_object_set_new(c, "cpu_ns", json_integer((json_int_t)b->cpu_ns));
    if (b->has_disk) {
        json_object_set_new(c, "disk_read_bytes", json_integer((json_int_t)b->disk_read_bytes));
        json_object_set_new(c, "disk_write_bytes", json_integer((json_int_t)b->disk_write_bytes));
        json_object_set_new(c, "disk_read_ops", json_integer((json_int_t)b->disk_read_ops));
        json_object_set_new(c, "disk_write_ops", json_integer((json_int_t)b->disk_write_ops));
    }
    if (b->has_net) {
        json_object_set_new(c, "net_rx_bytes", json_integer((json_int_t)b->net_rx_bytes));
        json_object_set_new(c, "net_tx_bytes", json_integer((json_int_t)b->net_tx_bytes));
        json_object_set_new(c, "net_rx_packets", json_integer((json_int_t)b->net_rx_packets));
        json_object_set_new(c, "net_tx_packets", json_integer((json_int_t)b->net_tx_packets));
    }
    json_object_set_new(obj, "counters", c);
    if (b->has_memory)
        json_object_set_new(obj, "memory", json_integer((json_int_t)b->memory_bytes));
    if (a == NULL || dt_ms <= 0)
        return;
    if (a->has_cpu && b->has_cpu && vcpus > 0) {
        double r = rate(a->cpu_ns, b->cpu_ns, dt_ms); /* ns of CPU per s */
        if (r >= 0) {
            double pct = r / 1e9 / vcpus * 100.0;
            json_object_set_new(obj, "cpu", json_real(pct > 100 ? 100 : pct));
        }
    }
    if (a->has_disk && b->has_disk) {
        put_rate(obj, "disk_read_bytes", a->disk_read_bytes, b->disk_read_bytes, dt_ms);
        put_rate(obj, "disk_write_bytes", a->disk_write_bytes, b->disk_write_bytes, dt_ms);
        put_rate(obj, "disk_read_ops", a->disk_read_ops, b->disk_read_ops, dt_ms);
        put_rate(obj, "disk_write_ops", a->disk_write_ops, b->disk_write_ops, dt_ms);
    }
    if (a->has_net && b->has_net) {
        put_rate(obj, "net_rx_bytes", a->net_rx_bytes, b->net_rx_bytes, dt_ms);
        put_rate(obj, "net_tx_bytes", a->net_tx_bytes, b->net_tx_bytes, dt_ms);
        put_rate(obj, "net_rx_packets", a->net_rx_packets, b->net_rx_packets, dt_ms);
        put_rate(obj, "net_tx_packets", a->net_tx_packets, b->net_tx_packets, dt_ms);
    }
}

json_t *sampler_round(struct sampler *s, struct vm *vms, const struct hv_driver *drv,
                      int64_t now_ms)
{
    json_t *list = json_array();
    for (size_t i = 0; i < s->nprev; i++)
        s->prev[i].seen = 0;
    for (struct vm *vm = vms; vm; vm = vm->next) {
        if (!vm_state_has_process(vm->state) || vm->state == VM_STARTING)
            continue;
        struct vm_counters c;
        memset(&c, 0, sizeof(c));
        drv->sample(vm, &c);
        struct prev *p = prev_find(s, vm->def.id);
        p->seen = 1;
        /* Another process (a restart) has counters from zero again. */
        bool same = p->at_ms >= 0 && p->pid == vm->pid;
        json_t *o = json_pack("{s:s}", "name", vm->def.name);
        sampler_vm_json(same ? &p->c : NULL, &c, vm->def.vcpus, now_ms - p->at_ms, o);
        json_array_append_new(list, o);
        p->pid = vm->pid;
        p->at_ms = now_ms;
        p->c = c;
    }
    size_t j = 0;
    for (size_t i = 0; i < s->nprev; i++)
        if (s->prev[i].seen)
            s->prev[j++] = s->prev[i];
    s->nprev = j;
    return json_pack("{s:o, s:o}", "host", host_json(s), "vms", list);
}
