/*
 * expo.c - GET /metrics: the Prometheus text exposition format 0.0.4.
 *
 * Families (one # HELP and # TYPE each, then their samples):
 *   nubo_instances{status}                    gauge   instances by status
 *   nubo_hosts_up, nubo_host_up{host}         gauge   (cloud view only)
 *   nubo_instance_cpu_utilization_ratio, nubo_instance_memory_bytes
 *                                             gauge   the last sample
 *   nubo_instance_cpu_seconds_total, nubo_instance_disk_{read,write}_
 *   {bytes,ops}_total, nubo_instance_network_{receive,transmit}_
 *   {bytes,packets}_total                     counter since the VM started
 *   nubo_host_* (monitor_host_metrics)        gauge   (cloud view only)
 *   nubo_alarms{state}                        gauge
 *   nubo_monitor_*_total                      counter nubod's own ingestion
 *                                                     and webhooks (cloud view)
 * Instance samples carry project, instance (the id), instance_name and
 * host labels; host samples a host label.  Prometheus adds its own
 * "instance" label (the scrape target): scrape nubod with honor_labels:
 * true so that nubo's label wins.  An instance appears while its last
 * sample is younger than MONITOR_STALE_MS.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/dynbuf.h"
#include "lib/util.h"
#include "monitor/monitor_int.h"

#define EXPO_MAX (64u << 20)

/* A label value escaped as the format wants (\\, \", \n). */
static void label_escape(const char *s, char *out, size_t n)
{
    size_t j = 0;
    for (; *s && j + 2 < n; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n') {
            out[j++] = '\\';
            out[j++] = *s == '\n' ? 'n' : *s;
        } else {
            out[j++] = *s;
        }
    }
    out[j] = '\0';
}

static void family(struct dynbuf *b, const char *name, const char *type, const char *help)
{
    dynbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void value(struct dynbuf *b, double v)
{
    if (v == floor(v) && fabs(v) < 1e15)
        dynbuf_printf(b, " %.0f\n", v);
    else
        dynbuf_printf(b, " %.15g\n", v);
}

/* The labels of an instance row, into out. */
static void instance_labels(const json_t *r, char *out, size_t n)
{
    char p[160], id[80], name[160], host[160];
    label_escape(jsonx_str(r, "pname"), p, sizeof(p));
    label_escape(jsonx_str(r, "instance_id"), id, sizeof(id));
    label_escape(jsonx_str(r, "iname"), name, sizeof(name));
    label_escape(jsonx_str(r, "hname"), host, sizeof(host));
    snprintf(out, n, "project=\"%s\",instance=\"%s\",instance_name=\"%s\",host=\"%s\"", p, id, name,
             host);
}

struct counter_family {
    const char *column, *name, *help;
    double div; /* value / div is what Prometheus gets */
};

static const struct counter_family counters[] = {
    {"cpu_ns_total", "nubo_instance_cpu_seconds_total",
     "CPU time used by the instance since its VM started", 1e9},
    {"disk_read_bytes_total", "nubo_instance_disk_read_bytes_total",
     "Bytes read from the instance's disks since its VM started", 1},
    {"disk_write_bytes_total", "nubo_instance_disk_write_bytes_total",
     "Bytes written to the instance's disks since its VM started", 1},
    {"disk_read_ops_total", "nubo_instance_disk_read_ops_total",
     "Read operations on the instance's disks since its VM started", 1},
    {"disk_write_ops_total", "nubo_instance_disk_write_ops_total",
     "Write operations on the instance's disks since its VM started", 1},
    {"net_rx_bytes_total", "nubo_instance_network_receive_bytes_total",
     "Bytes the instance received since its VM started", 1},
    {"net_tx_bytes_total", "nubo_instance_network_transmit_bytes_total",
     "Bytes the instance sent since its VM started", 1},
    {"net_rx_packets_total", "nubo_instance_network_receive_packets_total",
     "Packets the instance received since its VM started", 1},
    {"net_tx_packets_total", "nubo_instance_network_transmit_packets_total",
     "Packets the instance sent since its VM started", 1},
};

static const char *const statuses[] = {"building",  "running",  "stopping", "stopped",
                                       "rebooting", "deleting", "error",    "unknown"};

static int instance_counts(struct store *st, struct dynbuf *b, bool all, const char *project,
                           struct nubo_err *err)
{
    json_t *rows = store_query(st, err,
                               "SELECT status, COUNT(*) AS n FROM instances WHERE status !="
                               " 'deleted' AND (project_id = ? OR ? = 1) GROUP BY status"
                               " ORDER BY status",
                               "si", project, (long long)all);
    if (rows == NULL)
        return -1;
    family(b, "nubo_instances", "gauge", "Instances by status (deleted ones aside)");
    for (size_t k = 0; k < ARRAY_LEN(statuses); k++) {
        long long n = 0;
        size_t i;
        json_t *r;
        json_array_foreach (rows, i, r) {
            if (strcmp(jsonx_str(r, "status"), statuses[k]) == 0)
                n = monitor_jint(r, "n");
        }
        dynbuf_printf(b, "nubo_instances{status=\"%s\"} %lld\n", statuses[k], n);
    }
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        bool known = false;
        for (size_t k = 0; k < ARRAY_LEN(statuses); k++)
            known = known || strcmp(jsonx_str(r, "status"), statuses[k]) == 0;
        if (!known) {
            char s[64];
            label_escape(jsonx_str(r, "status"), s, sizeof(s));
            dynbuf_printf(b, "nubo_instances{status=\"%s\"} %lld\n", s, monitor_jint(r, "n"));
        }
    }
    json_decref(rows);
    return 0;
}

static int instance_metrics(struct store *st, struct dynbuf *b, bool all, const char *project,
                            int64_t now, struct nubo_err *err)
{
    json_t *rows = store_query(
        st, err,
        "SELECT l.instance_id, l.cpu, l.memory, l.cpu_ns_total, l.disk_read_bytes_total,"
        " l.disk_write_bytes_total, l.disk_read_ops_total, l.disk_write_ops_total,"
        " l.net_rx_bytes_total, l.net_tx_bytes_total, l.net_rx_packets_total,"
        " l.net_tx_packets_total, i.name AS iname, p.name AS pname, h.name AS hname"
        " FROM instance_metrics_latest l JOIN instances i ON i.id = l.instance_id"
        " JOIN projects p ON p.id = l.project_id LEFT JOIN hosts h ON h.id = l.host_id"
        " WHERE i.status != 'deleted' AND l.ts_ms >= ? AND (l.project_id = ? OR ? = 1)"
        " ORDER BY p.name, i.name, l.instance_id",
        "isi", (long long)(now - MONITOR_STALE_MS), project, (long long)all);
    if (rows == NULL)
        return -1;
    char labels[768];
    for (size_t k = 0; k < monitor_instance_nmetrics; k++) {
        const struct metric_def *d = &monitor_instance_metrics[k];
        if (d->prom == NULL)
            continue;
        family(b, d->prom, "gauge", d->help);
        size_t i;
        json_t *r;
        json_array_foreach (rows, i, r) {
            json_t *v = json_object_get(r, d->name);
            if (!json_is_number(v))
                continue;
            instance_labels(r, labels, sizeof(labels));
            dynbuf_printf(b, "%s{%s}", d->prom, labels);
            value(b, json_number_value(v) / d->prom_div);
        }
    }
    for (size_t k = 0; k < ARRAY_LEN(counters); k++) {
        family(b, counters[k].name, "counter", counters[k].help);
        size_t i;
        json_t *r;
        json_array_foreach (rows, i, r) {
            json_t *v = json_object_get(r, counters[k].column);
            if (!json_is_number(v))
                continue;
            instance_labels(r, labels, sizeof(labels));
            dynbuf_printf(b, "%s{%s}", counters[k].name, labels);
            value(b, json_number_value(v) / counters[k].div);
        }
    }
    json_decref(rows);
    return 0;
}

static int host_metrics(struct store *st, struct dynbuf *b, int64_t now, struct nubo_err *err)
{
    json_t *hosts = store_query(st, err, "SELECT id, name, state FROM hosts ORDER BY name", "");
    if (hosts == NULL)
        return -1;
    json_t *latest = json_array();
    long long up = 0;
    size_t i;
    json_t *h;
    json_array_foreach (hosts, i, h) {
        up += strcmp(jsonx_str(h, "state"), "up") == 0;
        struct nubo_err qerr;
        json_t *r = store_query_one(st, &qerr,
                                    "SELECT cpu, memory_used, memory_total, disk_used, disk_total"
                                    " FROM host_samples WHERE host_id = ? AND ts_ms >= ?"
                                    " ORDER BY ts_ms DESC LIMIT 1",
                                    "si", jsonx_str(h, "id"), (long long)(now - MONITOR_STALE_MS));
        json_array_append_new(latest, r ? r : json_null());
    }
    family(b, "nubo_hosts_up", "gauge", "Hosts whose agent is heartbeating");
    dynbuf_printf(b, "nubo_hosts_up %lld\n", up);
    family(b, "nubo_host_up", "gauge", "1 when the host's agent is heartbeating, else 0");
    char name[160];
    json_array_foreach (hosts, i, h) {
        label_escape(jsonx_str(h, "name"), name, sizeof(name));
        dynbuf_printf(b, "nubo_host_up{host=\"%s\"} %d\n", name,
                      strcmp(jsonx_str(h, "state"), "up") == 0);
    }
    for (size_t k = 0; k < monitor_host_nmetrics; k++) {
        const struct metric_def *d = &monitor_host_metrics[k];
        family(b, d->prom, "gauge", d->help);
        json_array_foreach (hosts, i, h) {
            json_t *v = json_object_get(json_array_get(latest, i), d->name);
            if (!json_is_number(v))
                continue;
            label_escape(jsonx_str(h, "name"), name, sizeof(name));
            dynbuf_printf(b, "%s{host=\"%s\"}", d->prom, name);
            value(b, json_number_value(v) / d->prom_div);
        }
    }
    json_decref(latest);
    json_decref(hosts);
    return 0;
}

static int alarm_counts(struct store *st, struct dynbuf *b, bool all, const char *project,
                        struct nubo_err *err)
{
    static const char *const states[] = {"OK", "ALARM", "INSUFFICIENT_DATA"};
    json_t *rows = store_query(st, err,
                               "SELECT state, COUNT(*) AS n FROM alarms WHERE (project_id = ? OR"
                               " ? = 1) GROUP BY state",
                               "si", project, (long long)all);
    if (rows == NULL)
        return -1;
    family(b, "nubo_alarms", "gauge", "Alarms by state");
    for (size_t k = 0; k < ARRAY_LEN(states); k++) {
        long long n = 0;
        size_t i;
        json_t *r;
        json_array_foreach (rows, i, r) {
            if (strcmp(jsonx_str(r, "state"), states[k]) == 0)
                n = monitor_jint(r, "n");
        }
        dynbuf_printf(b, "nubo_alarms{state=\"%s\"} %lld\n", states[k], n);
    }
    json_decref(rows);
    return 0;
}

static void self_metrics(struct monitor *m, struct dynbuf *b)
{
    family(b, "nubo_monitor_rounds_ingested_total", "counter",
           "Sample rounds stored since nubod started");
    dynbuf_printf(b, "nubo_monitor_rounds_ingested_total %lld\n",
                  (long long)atomic_load(&m->rounds_ingested));
    family(b, "nubo_monitor_samples_ingested_total", "counter",
           "Instance samples stored since nubod started");
    dynbuf_printf(b, "nubo_monitor_samples_ingested_total %lld\n",
                  (long long)atomic_load(&m->samples_ingested));
    family(b, "nubo_monitor_duplicate_batches_total", "counter",
           "Sample batches that were sent again and skipped");
    dynbuf_printf(b, "nubo_monitor_duplicate_batches_total %lld\n",
                  (long long)atomic_load(&m->batches_duplicate));
    family(b, "nubo_monitor_alarm_evaluations_total", "counter",
           "Alarm evaluation passes since nubod started");
    dynbuf_printf(b, "nubo_monitor_alarm_evaluations_total %lld\n",
                  (long long)atomic_load(&m->evaluations));
    family(b, "nubo_monitor_webhooks_total", "counter", "Alarm webhook deliveries by result");
    dynbuf_printf(b, "nubo_monitor_webhooks_total{result=\"delivered\"} %lld\n",
                  (long long)atomic_load(&m->webhooks_delivered));
    dynbuf_printf(b, "nubo_monitor_webhooks_total{result=\"failed\"} %lld\n",
                  (long long)atomic_load(&m->webhooks_failed));
}

char *monitor_exposition(struct monitor *m, const struct ctx *ctx, size_t *len,
                         struct nubo_err *err)
{
    bool all = ctx == NULL || ctx->is_admin;
    const char *project = ctx ? ctx->project_id : "";
    int64_t now = clock_now_ms();
    struct dynbuf b = DYNBUF_INIT(EXPO_MAX);
    if (instance_counts(m->st, &b, all, project, err) < 0 ||
        (all && host_metrics(m->st, &b, now, err) < 0) ||
        instance_metrics(m->st, &b, all, project, now, err) < 0 ||
        alarm_counts(m->st, &b, all, project, err) < 0)
        goto fail;
    if (all)
        self_metrics(m, &b);
    if (dynbuf_error(&b)) {
        nubo_err_set(err, NUBO_E_INTERNAL, "the exposition is larger than %u MiB", EXPO_MAX >> 20);
        goto fail;
    }
    return dynbuf_take(&b, len);
fail:
    dynbuf_free(&b);
    return NULL;
}

bool monitor_scrape_token_ok(struct monitor *m, const char *auth)
{
    static const char prefix[] = "Bearer ";
    if (m == NULL || m->scrape_hash[0] == '\0' || auth == NULL ||
        strncmp(auth, prefix, sizeof(prefix) - 1) != 0)
        return false;
    const char *tok = auth + sizeof(prefix) - 1;
    if (strncmp(tok, "nubometrics_", 12) != 0)
        return false;
    char hash[CRYPTO_SHA256_HEX];
    crypto_sha256_hex(tok, strlen(tok), hash);
    unsigned char diff = 0;
    for (size_t i = 0; i < CRYPTO_SHA256_HEX - 1; i++)
        diff |= (unsigned char)(hash[i] ^ m->scrape_hash[i]);
    return diff == 0;
}
