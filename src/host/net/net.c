/*
 * net.c - converging the host's datapath on a network document; see net.h
 * and docs/internals/networking.md.
 *
 * Convergence compares what `ip -j` reports with the document and runs
 * only the commands that close the gap, in this order:
 *   1. remove what carries our name patterns and is not desired: bridges
 *      nb<vni>, VXLANs nx<vni>, veths nr<vni>, taps tp<12 hex> of no VM,
 *      router namespaces <prefix>-r<vni> (and their dnsmasq);
 *   2. per network: bridge, VXLAN + head-end FDB entries, router namespace
 *      with veth "gw" (gateway IPs, router MAC), metadata address on lo,
 *      ip_forward, dnsmasq, and the external leg "ne<vni>" <-> "ext" with
 *      the floating IPs when the network has some on this host;
 *   3. taps of VMs: attached to their network's bridge, or detached when
 *      their port is not in the document;
 *   4. bridge-nf-call-iptables in the host namespace, then the firewall.
 * A failed step is recorded and the rest goes on: one broken network must
 * not take the others down.
 *
 * dnsmasq: one per network in its router namespace, daemonized (it outlives
 * the agent), files in <state-dir>/net/<vni>/: dnsmasq.conf, hosts (DHCP
 * static entries "mac,ip,hostname"), addn-hosts (DNS), dnsmasq.pid,
 * leases, dnsmasq.log.  A changed configuration restarts it; changed host
 * lists only SIGHUP it.
 */
#include "host/net/net_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/dynbuf.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/spawn.h"
#include "lib/strv.h"
#include "lib/util.h"

#define CMD_TIMEOUT_MS 10000
#define RUN_MAX_ARGS 64 /* the longest ip/bridge command has about 15 */
#define VXLAN_PORT 4789
#define MDS_ADDR "169.254.169.254"

/* ------------------------------------------------------------ commands */

/* Records a failure: logged and appended to errors (may be NULL). */
static void fail(json_t *errors, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(json_t *errors, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_warn("network: %s", msg);
    if (errors)
        json_array_append_new(errors, json_string(msg));
}

/* Runs prog [-n ns] args... (NULL-terminated); ns "" = no -n.  Returns 0,
 * or -1 with the failure recorded in errors. */
static int run_v(json_t *errors, char **out, const char *prog, const char *ns, va_list ap)
{
    char *argv[RUN_MAX_ARGS + 1];
    int n = 0;
    argv[n++] = (char *)prog;
    if (ns && ns[0]) {
        argv[n++] = "-n";
        argv[n++] = (char *)ns;
    }
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL) {
        if (n == RUN_MAX_ARGS) {
            fail(errors, "'%s %s' has more than %d arguments", prog, argv[1], RUN_MAX_ARGS);
            return -1;
        }
        argv[n++] = (char *)s;
    }
    argv[n] = NULL;
    struct nubo_err err;
    int r = spawn_run(argv, CMD_TIMEOUT_MS, 1 << 20, out, &err);
    if (r < 0) {
        char cmd[300] = "";
        size_t used = 0;
        for (int i = 0; i < n && used < sizeof(cmd) - 1; i++)
            used += (size_t)snprintf(cmd + used, sizeof(cmd) - used, "%s%s", i ? " " : "", argv[i]);
        fail(errors, "'%s' failed: %s", cmd, err.msg);
    } else {
        log_debug("network: ran %s %s", prog, n > 1 ? argv[1] : "");
    }
    return r;
}

static int ip_in(const char *ns, json_t *errors, ...)
{
    va_list ap;
    va_start(ap, errors);
    int r = run_v(errors, NULL, "ip", ns, ap);
    va_end(ap);
    return r;
}

static int bridge_in(const char *ns, json_t *errors, ...)
{
    va_list ap;
    va_start(ap, errors);
    int r = run_v(errors, NULL, "bridge", ns, ap);
    va_end(ap);
    return r;
}

/* Runs a JSON-printing command (ip -j ...) and parses its output; NULL on
 * failure (recorded). */
static json_t *json_of(json_t *errors, const char *prog, const char *ns, ...)
{
    char *out = NULL;
    va_list ap;
    va_start(ap, ns);
    int r = run_v(errors, &out, prog, ns, ap);
    va_end(ap);
    json_t *j = NULL;
    if (r == 0) {
        /* Empty output is an empty list (ip netns list -j with no netns). */
        size_t n = strspn(out, " \t\r\n");
        json_error_t je;
        j = out[n] ? json_loads(out, 0, &je) : json_array();
        if (j == NULL)
            fail(errors, "cannot parse the JSON of %s: %s", prog, je.text);
    }
    free(out);
    return j;
}

/* ---------------------------------------------------------- namespaces */

int net_ns_enter(const char *name, int *saved, struct nubo_err *err)
{
    *saved = -1;
    if (name == NULL || name[0] == '\0')
        return 0;
    char path[128];
    snprintf(path, sizeof(path), "/run/netns/%s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nubo_err_set(err, NUBO_E_UNAVAILABLE, "network namespace %s: %s", name,
                            strerror(errno));
    int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0 || setns(fd, CLONE_NEWNET) < 0) {
        nubo_err_set(err, NUBO_E_UNAVAILABLE, "cannot enter network namespace %s: %s", name,
                     strerror(errno));
        close(fd);
        if (self >= 0)
            close(self);
        return -1;
    }
    close(fd);
    *saved = self;
    return 0;
}

void net_ns_leave(int saved)
{
    if (saved < 0)
        return;
    if (setns(saved, CLONE_NEWNET) < 0)
        log_error("cannot return to the agent's network namespace: %s", strerror(errno));
    close(saved);
}

/* Writes value into /proc/sys/<key> as seen from namespace ns. */
static int sysctl_in(const char *ns, const char *key, const char *value, json_t *errors)
{
    struct nubo_err err;
    int saved;
    if (net_ns_enter(ns, &saved, &err) < 0) {
        fail(errors, "%s", err.msg);
        return -1;
    }
    char path[160];
    snprintf(path, sizeof(path), "/proc/sys/%s", key);
    int r = -1;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        char cur[32] = "";
        ssize_t got = read(fd, cur, sizeof(cur) - 1);
        if (got > 0 && strncmp(cur, value, strlen(value)) == 0 && cur[strlen(value)] == '\n')
            r = 0; /* already set */
        else
            r = pwrite(fd, value, strlen(value), 0) == (ssize_t)strlen(value) ? 0 : -1;
        close(fd);
    }
    int e = errno;
    net_ns_leave(saved);
    if (r < 0)
        fail(errors, "cannot set %s=%s in namespace %s: %s", key, value, ns[0] ? ns : "(agent)",
             strerror(e));
    return r;
}

/* ---------------------------------------------------------------- names */

/* True when name is pfx followed by a decimal vni (no leading zero). */
static bool name_vni(const char *name, const char *pfx, uint32_t *vni)
{
    size_t pl = strlen(pfx);
    if (strncmp(name, pfx, pl) != 0)
        return false;
    const char *d = name + pl;
    size_t n = strspn(d, "0123456789");
    if (n == 0 || n > 8 || d[n] != '\0' || d[0] == '0')
        return false;
    unsigned long v = strtoul(d, NULL, 10);
    if (v == 0 || v > NET_VNI_MAX)
        return false;
    *vni = (uint32_t)v;
    return true;
}

static bool is_tap_name(const char *name)
{
    return strncmp(name, "tp", 2) == 0 && strlen(name) == 14 &&
           strspn(name + 2, "0123456789abcdef") == 12;
}

static const char *link_name(json_t *l)
{
    const char *s = json_string_value(json_object_get(l, "ifname"));
    return s ? s : "";
}

static json_t *link_find(json_t *links, const char *name)
{
    size_t i;
    json_t *l;
    json_array_foreach (links, i, l)
        if (strcmp(link_name(l), name) == 0)
            return l;
    return NULL;
}

static const char *link_master(json_t *l)
{
    const char *m = json_string_value(json_object_get(l, "master"));
    return m ? m : "";
}

static const char *link_kind(json_t *l)
{
    const char *k = json_string_value(json_object_get(json_object_get(l, "linkinfo"), "info_kind"));
    return k ? k : "";
}

/* ----------------------------------------------------------- dnsmasq */

static void net_dir(const struct net_env *env, uint32_t vni, const char *file, char *buf, size_t n)
{
    snprintf(buf, n, "%s/net/%u%s%s", env->state_dir, vni, file ? "/" : "", file ? file : "");
}

/* The pid of the dnsmasq running with our configuration for vni, or 0. */
static pid_t dnsmasq_pid(const struct net_env *env, uint32_t vni)
{
    char path[PATH_MAX + 32], conf[PATH_MAX + 32], arg[PATH_MAX + 64];
    net_dir(env, vni, "dnsmasq.pid", path, sizeof(path));
    net_dir(env, vni, "dnsmasq.conf", conf, sizeof(conf));
    char *text = fs_read_file(path, 64, NULL, NULL);
    if (text == NULL)
        return 0;
    long pid = strtol(text, NULL, 10);
    free(text);
    if (pid <= 1)
        return 0;
    char cmdpath[64];
    snprintf(cmdpath, sizeof(cmdpath), "/proc/%ld/cmdline", pid);
    size_t len = 0;
    char *c = fs_read_file(cmdpath, 1 << 16, &len, NULL);
    if (c == NULL)
        return 0;
    snprintf(arg, sizeof(arg), "--conf-file=%s", conf);
    bool ours = false;
    for (size_t i = 0; i < len; i += strlen(c + i) + 1)
        ours = ours || strcmp(c + i, arg) == 0;
    free(c);
    return ours ? (pid_t)pid : 0;
}

static void dnsmasq_stop(const struct net_env *env, uint32_t vni)
{
    pid_t pid = dnsmasq_pid(env, vni);
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 100 && kill(pid, 0) == 0; i++) {
        char st[64];
        snprintf(st, sizeof(st), "/proc/%d/cmdline", (int)pid);
        if (!fs_exists(st))
            break;
        usleep(20000);
    }
    if (dnsmasq_pid(env, vni) == pid)
        kill(pid, SIGKILL);
    log_info("network: dnsmasq of vni %u (pid %d) stopped", vni, (int)pid);
}

/* Writes path when its content differs; *changed says whether it did. */
static int write_if_changed(const char *path, const char *text, bool *changed, json_t *errors)
{
    char *old = fs_read_file(path, 64 << 20, NULL, NULL);
    *changed = old == NULL || strcmp(old, text) != 0;
    free(old);
    if (!*changed)
        return 0;
    struct nubo_err err;
    if (fs_write_atomic(path, text, strlen(text), 0600, &err) < 0) {
        fail(errors, "%s", err.msg);
        return -1;
    }
    return 0;
}

/* A growing string: dnsmasq's files are bounded by the document's limits
 * (ports, records), so no cap beyond memory, whose exhaustion aborts as
 * xmalloc does. */
static void bprintf(struct dynbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct dynbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = dynbuf_vprintf(b, fmt, ap);
    va_end(ap);
    if (r < 0)
        abort();
}

static int dnsmasq_ensure(const struct net_env *env, const struct net_doc *doc,
                          const struct net_network *n, const char *rns, json_t *errors)
{
    char dir[PATH_MAX], conf[PATH_MAX + 32], hosts[PATH_MAX + 32], addn[PATH_MAX + 32];
    char pidf[PATH_MAX + 32], leases[PATH_MAX + 32], logf[PATH_MAX + 32];
    net_dir(env, n->vni, NULL, dir, sizeof(dir));
    net_dir(env, n->vni, "dnsmasq.conf", conf, sizeof(conf));
    net_dir(env, n->vni, "hosts", hosts, sizeof(hosts));
    net_dir(env, n->vni, "addn-hosts", addn, sizeof(addn));
    net_dir(env, n->vni, "dnsmasq.pid", pidf, sizeof(pidf));
    net_dir(env, n->vni, "leases", leases, sizeof(leases));
    net_dir(env, n->vni, "dnsmasq.log", logf, sizeof(logf));
    struct nubo_err err;
    if (fs_mkdir_p(dir, 0700, &err) < 0) {
        fail(errors, "%s", err.msg);
        return -1;
    }
    struct dynbuf c = DYNBUF_INIT(SIZE_MAX), h = DYNBUF_INIT(SIZE_MAX), a = DYNBUF_INIT(SIZE_MAX);
    bprintf(&c,
            "# nubo-hostd: network %s (vni %u); generated, do not edit\n"
            "interface=gw\nbind-interfaces\nno-resolv\nno-hosts\nuser=root\n"
            "pid-file=%s\ndhcp-leasefile=%s\ndhcp-hostsfile=%s\naddn-hosts=%s\n"
            "log-facility=%s\nlog-dhcp\ndhcp-authoritative\ndhcp-ignore=tag:!known\n"
            "dhcp-option-force=option:mtu,%d\n",
            n->id, n->vni, pidf, leases, hosts, addn, logf, n->mtu);
    if (n->domain[0])
        bprintf(&c, "domain=%s\nlocal=/%s/\ndhcp-option=option:domain-search,%s\n", n->domain,
                n->domain, n->domain);
    for (int i = 0; i < n->nsubnets; i++) {
        const struct net_subnet *s = &n->subnets[i];
        char net[NET_IP_LEN], mask[NET_IP_LEN];
        inet_ipv4_format(s->cidr.addr, net);
        inet_ipv4_format(inet_prefix_mask(s->cidr.prefix), mask);
        bprintf(&c,
                "dhcp-range=set:s%d,%s,static,%s,12h\n"
                "dhcp-option=tag:s%d,option:router,%s\n"
                "dhcp-option=tag:s%d,option:dns-server,%s\n",
                i, net, mask, i, s->gateway.s, i, s->gateway.s);
    }
    bprintf(&h, "# nubo-hostd: DHCP static entries of network %s\n", n->id);
    bprintf(&a, "# nubo-hostd: DNS names of network %s\n", n->id);
    for (int i = 0; i < doc->nports; i++) {
        const struct net_port *p = &doc->ports[i];
        if (&doc->networks[p->network_idx] != n)
            continue;
        bprintf(&h, "%s,%s,%s\n", p->mac, p->ip.s, p->hostname);
    }
    for (int i = 0; i < n->ndns_records; i++) {
        const struct net_dns_record *r = &n->dns_records[i];
        if (n->domain[0])
            bprintf(&a, "%s %s %s.%s\n", r->ip.s, r->hostname, r->hostname, n->domain);
        else
            bprintf(&a, "%s %s\n", r->ip.s, r->hostname);
    }
    bool conf_changed, hosts_changed, addn_changed;
    int r = -1;
    if (write_if_changed(conf, dynbuf_str(&c), &conf_changed, errors) < 0 ||
        write_if_changed(hosts, dynbuf_str(&h), &hosts_changed, errors) < 0 ||
        write_if_changed(addn, dynbuf_str(&a), &addn_changed, errors) < 0)
        goto out;
    pid_t pid = dnsmasq_pid(env, n->vni);
    if (pid > 0 && conf_changed) {
        log_info("network: vni %u: dnsmasq configuration changed, restarting it", n->vni);
        dnsmasq_stop(env, n->vni);
        pid = 0;
    }
    if (pid <= 0) {
        char arg[PATH_MAX + 64];
        snprintf(arg, sizeof(arg), "--conf-file=%s", conf);
        char *argv[] = {"ip", "netns", "exec", (char *)rns, "dnsmasq", arg, NULL};
        if (spawn_run(argv, CMD_TIMEOUT_MS, 1 << 16, NULL, &err) < 0) {
            fail(errors, "vni %u: dnsmasq does not start: %s", n->vni, err.msg);
            goto out;
        }
        log_info("network: vni %u: dnsmasq started (pid %d)", n->vni,
                 (int)dnsmasq_pid(env, n->vni));
    } else if (hosts_changed || addn_changed) {
        kill(pid, SIGHUP);
        log_info("network: vni %u: dnsmasq reloads its host lists", n->vni);
    }
    r = 0;
out:
    dynbuf_free(&c);
    dynbuf_free(&h);
    dynbuf_free(&a);
    return r;
}

/* --------------------------------------------------------- convergence */

static const char *host_ns(const struct net_env *env)
{
    return env->netns;
}

/* The router namespaces that exist with our prefix: names into a JSON
 * array of strings. */
static json_t *router_namespaces(const struct net_env *env, json_t *errors)
{
    json_t *list = json_of(errors, "ip", "", "-j", "netns", "list", NULL);
    json_t *names = json_array();
    char pfx[NET_NS_NAME_LEN];
    inet_router_ns(env->netns, 1, pfx);
    pfx[strlen(pfx) - 1] = '\0'; /* "<prefix>-r" */
    size_t i;
    json_t *e;
    json_array_foreach (list, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        uint32_t vni;
        if (name && name_vni(name, pfx, &vni))
            json_array_append_new(names, json_string(name));
    }
    json_decref(list);
    return names;
}

static bool json_has_str(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach (arr, i, v)
        if (strcmp(json_string_value(v), s) == 0)
            return true;
    return false;
}

static bool tap_wanted(char (*taps)[NET_IFNAME_LEN], int ntaps, const char *name)
{
    for (int i = 0; i < ntaps; i++)
        if (strcmp(taps[i], name) == 0)
            return true;
    return false;
}

/* Step 1: removes links and namespaces of networks not in doc. */
static void remove_stale(const struct net_env *env, const struct net_doc *doc, json_t *links,
                         json_t *rnss, char (*taps)[NET_IFNAME_LEN], int ntaps, json_t *errors)
{
    const char *hns = host_ns(env);
    size_t i;
    json_t *l;
    json_array_foreach (links, i, l) {
        const char *name = link_name(l);
        uint32_t vni;
        bool stale = false;
        if (name_vni(name, "nb", &vni) || name_vni(name, "nr", &vni) ||
            name_vni(name, "ne", &vni)) {
            stale = net_doc_network_by_vni(doc, vni) == NULL;
        } else if (name_vni(name, "nx", &vni)) {
            json_t *info = json_object_get(json_object_get(l, "linkinfo"), "info_data");
            const char *local = json_string_value(json_object_get(info, "local"));
            stale = net_doc_network_by_vni(doc, vni) == NULL || env->underlay_ip[0] == '\0' ||
                    strcmp(link_kind(l), "vxlan") != 0 ||
                    json_integer_value(json_object_get(info, "id")) != vni || local == NULL ||
                    strcmp(local, env->underlay_ip) != 0;
        } else if (is_tap_name(name)) {
            stale = !tap_wanted(taps, ntaps, name);
        }
        if (stale) {
            log_info("network: removing stale link %s", name);
            ip_in(hns, errors, "link", "del", name, NULL);
        }
    }
    char pfx[NET_NS_NAME_LEN];
    inet_router_ns(env->netns, 1, pfx);
    pfx[strlen(pfx) - 1] = '\0';
    json_array_foreach (rnss, i, l) {
        const char *name = json_string_value(l);
        uint32_t vni;
        if (name_vni(name, pfx, &vni) && net_doc_network_by_vni(doc, vni) == NULL) {
            log_info("network: removing stale router namespace %s", name);
            dnsmasq_stop(env, vni);
            ip_in("", errors, "netns", "del", name, NULL);
        }
    }
    /* dnsmasq directories of networks gone (also when the namespace was
     * deleted behind our back). */
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/net", env->state_dir);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        uint32_t vni;
        if (!name_vni(e->d_name, "", &vni) || net_doc_network_by_vni(doc, vni) != NULL)
            continue;
        dnsmasq_stop(env, vni);
        char sub[PATH_MAX + 300];
        snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
        fs_rm_rf(sub, NULL);
    }
    if (d)
        closedir(d);
}

/* FDB head-end entries of the VXLAN: one all-zero entry per peer. */
static void converge_fdb(const struct net_env *env, const struct net_network *n, const char *vx,
                         json_t *errors)
{
    const char *hns = host_ns(env);
    json_t *fdb = json_of(errors, "bridge", hns, "-j", "fdb", "show", "dev", vx, NULL);
    if (fdb == NULL)
        return;
    json_t *have = json_array();
    size_t i;
    json_t *e;
    json_array_foreach (fdb, i, e) {
        const char *mac = json_string_value(json_object_get(e, "mac"));
        const char *dst = json_string_value(json_object_get(e, "dst"));
        if (mac == NULL || dst == NULL || strcmp(mac, "00:00:00:00:00:00") != 0)
            continue;
        bool want = false;
        for (int k = 0; k < n->npeers; k++)
            want = want || strcmp(n->peers[k].s, dst) == 0;
        if (want)
            json_array_append_new(have, json_string(dst));
        else
            bridge_in(hns, errors, "fdb", "del", "00:00:00:00:00:00", "dev", vx, "dst", dst, NULL);
    }
    for (int k = 0; k < n->npeers; k++) {
        if (strcmp(n->peers[k].s, env->underlay_ip) == 0 || json_has_str(have, n->peers[k].s))
            continue;
        bridge_in(hns, errors, "fdb", "append", "00:00:00:00:00:00", "dev", vx, "dst",
                  n->peers[k].s, NULL);
        json_array_append_new(have, json_string(n->peers[k].s));
    }
    json_decref(have);
    json_decref(fdb);
}

/* The gateway addresses on "gw" in the router namespace, and the metadata
 * address on its lo. */
static void converge_router_addrs(const struct net_network *n, const char *rns, json_t *errors)
{
    json_t *addrs = json_of(errors, "ip", rns, "-j", "addr", "show", NULL);
    if (addrs == NULL)
        return;
    bool want_found[NET_MAX_SUBNETS] = {false};
    bool mds = false;
    size_t i, k;
    json_t *l, *a;
    json_array_foreach (addrs, i, l) {
        const char *ifn = link_name(l);
        json_array_foreach (json_object_get(l, "addr_info"), k, a) {
            const char *fam = json_string_value(json_object_get(a, "family"));
            const char *local = json_string_value(json_object_get(a, "local"));
            int plen = (int)json_integer_value(json_object_get(a, "prefixlen"));
            if (fam == NULL || local == NULL || strcmp(fam, "inet") != 0)
                continue;
            if (strcmp(ifn, "lo") == 0) {
                mds = mds || (strcmp(local, MDS_ADDR) == 0 && plen == 32);
                continue;
            }
            if (strcmp(ifn, "gw") != 0)
                continue;
            bool want = false;
            for (int s = 0; s < n->nsubnets; s++) {
                if (strcmp(local, n->subnets[s].gateway.s) == 0 &&
                    plen == n->subnets[s].cidr.prefix) {
                    want = true;
                    want_found[s] = true;
                }
            }
            if (!want) {
                char cidr[40];
                snprintf(cidr, sizeof(cidr), "%s/%d", local, plen);
                ip_in(rns, errors, "addr", "del", cidr, "dev", "gw", NULL);
            }
        }
    }
    for (int s = 0; s < n->nsubnets; s++) {
        if (want_found[s])
            continue;
        char cidr[40];
        snprintf(cidr, sizeof(cidr), "%s/%d", n->subnets[s].gateway.s, n->subnets[s].cidr.prefix);
        ip_in(rns, errors, "addr", "add", cidr, "dev", "gw", NULL);
    }
    if (!mds)
        ip_in(rns, errors, "addr", "add", MDS_ADDR "/32", "dev", "lo", NULL);
    json_decref(addrs);
}

/* Sets "ip link set NAME master BR mtu M up" when any of it differs. */
static void enslave(const char *ns, json_t *l, const char *name, const char *br, int mtu,
                    json_t *errors)
{
    char m[16];
    snprintf(m, sizeof(m), "%d", mtu);
    json_t *flags = json_object_get(l, "flags");
    bool up = json_has_str(flags, "UP");
    if (l && strcmp(link_master(l), br) == 0 &&
        json_integer_value(json_object_get(l, "mtu")) == mtu && up)
        return;
    ip_in(ns, errors, "link", "set", name, "master", br, "mtu", m, "up", NULL);
}

/* Makes the IPv4 addresses of ifname in namespace ns exactly want[0..n)
 * ("a.b.c.d/len" each). */
static void converge_ifaddrs(const char *ns, const char *ifname, char (*want)[40], int n,
                             json_t *errors)
{
    json_t *addrs = json_of(errors, "ip", ns, "-j", "addr", "show", "dev", ifname, NULL);
    if (addrs == NULL)
        return;
    json_t *have = json_array();
    size_t i, k;
    json_t *l, *a;
    json_array_foreach (addrs, i, l) {
        json_array_foreach (json_object_get(l, "addr_info"), k, a) {
            const char *fam = json_string_value(json_object_get(a, "family"));
            const char *local = json_string_value(json_object_get(a, "local"));
            if (fam == NULL || local == NULL || strcmp(fam, "inet") != 0)
                continue;
            char cidr[40];
            snprintf(cidr, sizeof(cidr), "%s/%d", local,
                     (int)json_integer_value(json_object_get(a, "prefixlen")));
            bool wanted = false;
            for (int w = 0; w < n; w++)
                wanted = wanted || strcmp(want[w], cidr) == 0;
            if (wanted)
                json_array_append_new(have, json_string(cidr));
            else
                ip_in(ns, errors, "addr", "del", cidr, "dev", ifname, NULL);
        }
    }
    for (int w = 0; w < n; w++)
        if (!json_has_str(have, want[w]))
            ip_in(ns, errors, "addr", "add", want[w], "dev", ifname, NULL);
    json_decref(have);
    json_decref(addrs);
}

/* The external leg of a network's router: veth "ne<vni>" in the external
 * bridge <-> "ext" in the router namespace, carrying the floating IPs of
 * the network's ports on this host, with the default route via the
 * external gateway.  Only while the network has floating IPs here; the
 * NAT itself is the firewall's (table ip nubo-nat). */
static void converge_external(const struct net_env *env, const struct net_doc *doc,
                              const struct net_network *n, json_t *links, const char *rns,
                              json_t *errors)
{
    const char *hns = host_ns(env);
    char ve[NET_IFNAME_LEN];
    snprintf(ve, sizeof(ve), "ne%u", n->vni);
    char(*fips)[40] = xcalloc((size_t)doc->nports + 1, 40);
    int nf = 0;
    for (int i = 0; i < doc->nports; i++) {
        const struct net_port *p = &doc->ports[i];
        if (&doc->networks[p->network_idx] == n && p->has_floating_ip)
            snprintf(fips[nf++], 40, "%s/%d", p->floating_ip.s, doc->external.cidr.prefix);
    }
    json_t *l = link_find(links, ve);
    if (nf > 0 && env->external_bridge[0] == '\0')
        fail(errors, "vni %u: %d floating IP(s) but no --external-bridge on this host", n->vni, nf);
    if (nf == 0 || env->external_bridge[0] == '\0') {
        if (l)
            ip_in(hns, errors, "link", "del", ve, NULL);
        free(fips);
        return;
    }
    if (l == NULL && ip_in(hns, errors, "link", "add", ve, "type", "veth", "peer", "name", "ext",
                           "netns", rns, NULL) < 0) {
        free(fips);
        return;
    }
    enslave(hns, l, ve, env->external_bridge, 1500, errors);
    ip_in(rns, errors, "link", "set", "ext", "up", NULL);
    converge_ifaddrs(rns, "ext", fips, nf, errors);
    ip_in(rns, errors, "route", "replace", "default", "via", doc->external.gateway.s, "dev", "ext",
          NULL);
    free(fips);
}

static void converge_network(const struct net_env *env, const struct net_doc *doc,
                             const struct net_network *n, json_t *links, json_t *rnss,
                             json_t *errors)
{
    const char *hns = host_ns(env);
    char br[NET_IFNAME_LEN], vx[NET_IFNAME_LEN], vr[NET_IFNAME_LEN], rns[NET_NS_NAME_LEN];
    char mtu[16];
    inet_bridge_name(n->vni, br);
    inet_vxlan_name(n->vni, vx);
    inet_veth_name(n->vni, vr);
    inet_router_ns(env->netns, n->vni, rns);
    snprintf(mtu, sizeof(mtu), "%d", n->mtu);

    json_t *l = link_find(links, br);
    if (l == NULL) {
        if (ip_in(hns, errors, "link", "add", br, "type", "bridge", NULL) < 0)
            return;
        log_info("network: vni %u: bridge %s created", n->vni, br);
    }
    if (l == NULL || !json_has_str(json_object_get(l, "flags"), "UP"))
        ip_in(hns, errors, "link", "set", br, "up", NULL);

    if (env->underlay_ip[0]) {
        l = link_find(links, vx);
        if (l == NULL) {
            char id[16], port[8];
            snprintf(id, sizeof(id), "%u", n->vni);
            snprintf(port, sizeof(port), "%d", VXLAN_PORT);
            if (ip_in(hns, errors, "link", "add", vx, "type", "vxlan", "id", id, "local",
                      env->underlay_ip, "dstport", port, NULL) == 0)
                log_info("network: vni %u: vxlan %s created", n->vni, vx);
        }
        enslave(hns, l, vx, br, n->mtu, errors);
        converge_fdb(env, n, vx, errors);
    }

    if (!json_has_str(rnss, rns)) {
        if (ip_in("", errors, "netns", "add", rns, NULL) < 0)
            return;
        log_info("network: vni %u: router namespace %s created", n->vni, rns);
    }
    l = link_find(links, vr);
    if (l == NULL) {
        if (ip_in(hns, errors, "link", "add", vr, "type", "veth", "peer", "name", "gw", "netns",
                  rns, NULL) < 0)
            return;
    }
    enslave(hns, l, vr, br, n->mtu, errors);
    /* The router MAC is the same on every host: pinned to the local router
     * (sticky), so that the bridge never learns it from the VXLAN and each
     * host's router (gateway, DHCP, metadata) answers its own guests. */
    bridge_in(hns, errors, "fdb", "replace", n->router_mac, "dev", vr, "master", "static", "sticky",
              NULL);
    json_t *rlinks = json_of(errors, "ip", rns, "-j", "-d", "link", "show", NULL);
    json_t *lo = link_find(rlinks, "lo"), *gw = link_find(rlinks, "gw");
    if (lo == NULL || !json_has_str(json_object_get(lo, "flags"), "UP"))
        ip_in(rns, errors, "link", "set", "lo", "up", NULL);
    const char *addr = json_string_value(json_object_get(gw, "address"));
    if (gw == NULL || addr == NULL || strcmp(addr, n->router_mac) != 0 ||
        json_integer_value(json_object_get(gw, "mtu")) != n->mtu ||
        !json_has_str(json_object_get(gw, "flags"), "UP"))
        ip_in(rns, errors, "link", "set", "gw", "address", n->router_mac, "mtu", mtu, "up", NULL);
    json_decref(rlinks);
    converge_router_addrs(n, rns, errors);
    converge_external(env, doc, n, links, rns, errors);
    sysctl_in(rns, "net/ipv4/ip_forward", "1", errors);
    dnsmasq_ensure(env, doc, n, rns, errors);
}

static const struct net_port *port_of_tap(const struct net_doc *doc, const char *tap)
{
    char t[NET_IFNAME_LEN];
    for (int i = 0; i < doc->nports; i++)
        if (strcmp(inet_tap_name(doc->ports[i].id, t), tap) == 0)
            return &doc->ports[i];
    return NULL;
}

int net_converge(const struct net_env *env, const struct net_doc *doc,
                 char (*vm_taps)[NET_IFNAME_LEN], int ntaps, json_t *errors)
{
    size_t before = json_array_size(errors);
    const char *hns = host_ns(env);
    json_t *links = json_of(errors, "ip", hns, "-j", "-d", "link", "show", NULL);
    json_t *rnss = router_namespaces(env, errors);
    if (links == NULL) {
        json_decref(rnss);
        return (int)(json_array_size(errors) - before);
    }
    remove_stale(env, doc, links, rnss, vm_taps, ntaps, errors);
    json_decref(links);
    links = json_of(errors, "ip", hns, "-j", "-d", "link", "show", NULL);
    for (int i = 0; i < doc->nnetworks && links; i++)
        converge_network(env, doc, &doc->networks[i], links, rnss, errors);
    json_decref(links);
    json_decref(rnss);

    links = json_of(errors, "ip", hns, "-j", "-d", "link", "show", NULL);
    for (int i = 0; i < ntaps && links; i++) {
        json_t *l = link_find(links, vm_taps[i]);
        const struct net_port *p = port_of_tap(doc, vm_taps[i]);
        if (l == NULL) {
            struct nubo_err err;
            if (net_tap_create(env, vm_taps[i], &err) < 0) {
                fail(errors, "%s", err.msg);
                continue;
            }
        }
        if (p) {
            char br[NET_IFNAME_LEN];
            const struct net_network *n = &doc->networks[p->network_idx];
            enslave(hns, l, vm_taps[i], inet_bridge_name(n->vni, br), n->mtu, errors);
        } else if (l && link_master(l)[0]) {
            ip_in(hns, errors, "link", "set", vm_taps[i], "nomaster", NULL);
        }
    }
    json_decref(links);

    if (doc->nnetworks > 0 && (fs_exists("/proc/sys/net/bridge") || hns[0]))
        sysctl_in(hns, "net/bridge/bridge-nf-call-iptables", "1", errors);
    /* Also with no network left: the firewall then renders empty tables. */
    struct fw_env fenv = {.netns = env->netns};
    struct nubo_err err;
    if (fw_apply(doc, &fenv, &err) < 0)
        fail(errors, "firewall: %s", err.msg);
    return (int)(json_array_size(errors) - before);
}

/* -------------------------------------------------------------- taps */

int net_tap_create(const struct net_env *env, const char *name, struct nubo_err *err)
{
    json_t *errors = json_array();
    int r = ip_in(host_ns(env), errors, "tuntap", "add", "dev", name, "mode", "tap", NULL);
    if (r < 0)
        nubo_err_set(err, NUBO_E_UNAVAILABLE, "cannot create tap %s: %s", name,
                     json_string_value(json_array_get(errors, 0)));
    json_decref(errors);
    return r;
}

int net_tap_delete(const struct net_env *env, const char *name, struct nubo_err *err)
{
    json_t *links = json_of(NULL, "ip", host_ns(env), "-j", "link", "show", NULL);
    bool exists = link_find(links, name) != NULL;
    json_decref(links);
    if (!exists)
        return 0;
    json_t *errors = json_array();
    int r = ip_in(host_ns(env), errors, "link", "del", name, NULL);
    if (r < 0)
        nubo_err_set(err, NUBO_E_UNAVAILABLE, "cannot delete tap %s: %s", name,
                     json_string_value(json_array_get(errors, 0)));
    json_decref(errors);
    return r;
}

/* -------------------------------------------------------------- status */

void net_status(const struct net_env *env, const struct net_doc *doc, json_t *obj)
{
    json_t *links = json_of(NULL, "ip", host_ns(env), "-j", "link", "show", NULL);
    json_t *rnss = router_namespaces(env, NULL);
    json_t *nets = json_array(), *ports = json_array();
    for (int i = 0; i < doc->nnetworks; i++) {
        const struct net_network *n = &doc->networks[i];
        char br[NET_IFNAME_LEN], vx[NET_IFNAME_LEN], rns[NET_NS_NAME_LEN];
        inet_bridge_name(n->vni, br);
        inet_vxlan_name(n->vni, vx);
        inet_router_ns(env->netns, n->vni, rns);
        pid_t pid = dnsmasq_pid(env, n->vni);
        json_array_append_new(
            nets,
            json_pack("{s:s, s:I, s:o, s:o, s:o, s:o}", "id", n->id, "vni", (json_int_t)n->vni,
                      "bridge", link_find(links, br) ? json_string(br) : json_null(), "vxlan",
                      link_find(links, vx) ? json_string(vx) : json_null(), "namespace",
                      json_has_str(rnss, rns) ? json_string(rns) : json_null(), "dnsmasq_pid",
                      pid > 0 ? json_integer(pid) : json_null()));
    }
    for (int i = 0; i < doc->nports; i++) {
        const struct net_port *p = &doc->ports[i];
        char tap[NET_IFNAME_LEN], br[NET_IFNAME_LEN];
        inet_tap_name(p->id, tap);
        inet_bridge_name(doc->networks[p->network_idx].vni, br);
        json_t *l = link_find(links, tap);
        json_array_append_new(ports,
                              json_pack("{s:s, s:s, s:b}", "id", p->id, "tap", tap, "attached",
                                        l != NULL && strcmp(link_master(l), br) == 0));
    }
    json_object_set_new(obj, "networks", nets);
    json_object_set_new(obj, "ports", ports);
    json_decref(links);
    json_decref(rnss);
}
