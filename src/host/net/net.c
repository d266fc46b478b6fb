/*
 * net.c - converging the host's datapath on a network document; see net.h
 * and docs/internals/networking.md.
 *
 * Convergence compares what `ip -j` reports with the document and runs
 * only the commands that close the gap, in this order:
 *   1. remove what carries our agent tag and is not desired: bridges
 *      <tag>b<vni>, VXLANs <tag>x<vni>, veths <tag>r<vni> and <tag>e<vni>,
 *      taps <tag>t<10 hex> of no VM, router namespaces
 *      <prefix>-<tag>-r<vni> (and their dnsmasq).  Another agent's objects
 *      (another tag) are never touched.  Migration from the names before
 *      tags: legacy links and router namespaces of a VNI of our document
 *      (nb/nx/nr/ne<vni>, <prefix>-r<vni>) are ours from before the
 *      upgrade and are deleted (then made again under the new names), a
 *      legacy tap tp<12 hex> of one of our VMs is renamed to its new name
 *      (QEMU keeps its file descriptor, the guest sees a short blip), and
 *      once any of that happened the legacy host tables `nubo` go too;
 *   2. per network: bridge, VXLAN + head-end FDB entries, router namespace
 *      with veth "gw" (gateway IPs, router MAC), metadata address on lo,
 *      ip_forward, dnsmasq, and the external leg "ne<vni>" <-> "ext" with
 *      the floating IPs when the network has some on this host (the
 *      links' names are in lib/inet.h);
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
 * lists only SIGHUP it.  The state directory is the agent's own, so these
 * files need no tag; a dnsmasq is ours when its --conf-file is.
 *
 * Agent state of the datapath: <state-dir>/net-tag (the agent tag,
 * net_tag_load) and <state-dir>/net-zones (conntrack zone of each VNI,
 * {"<vni>": zone}, fw_zones_assign), so that a network keeps its zone
 * while others come and go.
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
#include <sys/stat.h>
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

/* True when name is a tap of tag: "<tag>t" + 10 hex digits. */
static bool is_tap_name(const char *tag, const char *name)
{
    size_t tl = strlen(tag);
    return strncmp(name, tag, tl) == 0 && name[tl] == 't' && strlen(name) == tl + 11 &&
           strspn(name + tl + 1, "0123456789abcdef") == 10;
}

/* True when name is a legacy tap: "tp" + 12 hex digits. */
static bool is_legacy_tap_name(const char *name)
{
    return strncmp(name, "tp", 2) == 0 && strlen(name) == 14 &&
           strspn(name + 2, "0123456789abcdef") == 12;
}

/* True when name is "<tag><kind><vni>" (tag "" = legacy "n<kind><vni>"). */
static bool name_kind_vni(const char *name, const char *tag, char kind, uint32_t *vni)
{
    char pfx[INET_TAG_LEN + 2];
    snprintf(pfx, sizeof(pfx), "%s%c", tag[0] ? tag : "n", kind);
    return name_vni(name, pfx, vni);
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

/* True when process pid lives in the network namespace named ns (its
 * /proc/<pid>/ns/net is the namespace /run/netns/<ns> holds).  A router
 * namespace deleted and made again behind our back leaves its dnsmasq
 * alive in the old one, where no guest reaches it. */
static bool pid_in_ns(pid_t pid, const char *ns)
{
    char a[64], b[128];
    struct stat sa, sb;
    snprintf(a, sizeof(a), "/proc/%d/ns/net", (int)pid);
    snprintf(b, sizeof(b), "/run/netns/%s", ns);
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_ino == sb.st_ino &&
           sa.st_dev == sb.st_dev;
}

/* True when the network namespace of pid has a UDP socket bound to port
 * (/proc/<pid>/net/udp lists the sockets of the process's namespace). */
static bool pid_ns_udp_bound(pid_t pid, int port)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/net/udp", (int)pid);
    char *text = fs_read_file(path, 4 << 20, NULL, NULL);
    if (text == NULL)
        return false;
    char want[8];
    snprintf(want, sizeof(want), ":%04X ", port);
    bool found = false;
    for (char *line = strchr(text, '\n'); line && !found; line = strchr(line + 1, '\n')) {
        /* "  sl  local_address rem_address ...": the first address. */
        char *colon = strchr(line + 1, ':');
        char *addr = colon ? colon + 1 : NULL;
        addr = addr ? addr + strspn(addr, " ") : NULL;
        char *end = addr ? strchr(addr, ' ') : NULL;
        if (end && end - addr > 6)
            found = strncmp(end - 5, want, 6) == 0;
    }
    free(text);
    return found;
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
    if (pid > 0 && !pid_in_ns(pid, rns)) {
        log_warn("network: vni %u: dnsmasq (pid %d) runs outside router namespace %s, "
                 "which was made again: restarting it",
                 n->vni, (int)pid, rns);
        dnsmasq_stop(env, n->vni);
        pid = 0;
    }
    if (pid > 0 && conf_changed) {
        log_info("network: vni %u: dnsmasq configuration changed, restarting it", n->vni);
        dnsmasq_stop(env, n->vni);
        pid = 0;
    }
    if (pid <= 0) {
        char arg[PATH_MAX + 64];
        snprintf(arg, sizeof(arg), "--conf-file=%s", conf);
        char *argv[] = {"ip", "netns", "exec", (char *)rns, "dnsmasq", arg, NULL};
        char *said = NULL;
        if (spawn_run(argv, CMD_TIMEOUT_MS, 1 << 16, &said, &err) < 0) {
            /* dnsmasq's reason follows an empty line: quote it. */
            size_t ml = strlen(err.msg);
            const char *why = said && ml >= 2 && strcmp(err.msg + ml - 2, ": ") == 0
                                  ? said + strspn(said, "\r\n")
                                  : "";
            fail(errors, "vni %u: dnsmasq does not start: %s%.*s", n->vni, err.msg,
                 (int)strcspn(why, "\r\n"), why);
            free(said);
            goto out;
        }
        free(said);
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

/* The prefix of router namespace names before the VNI: "<prefix>-<tag>-r"
 * (tag "" = legacy "<prefix>-r"). */
static void router_ns_prefix(const struct net_env *env, const char *tag, char pfx[NET_NS_NAME_LEN])
{
    inet_router_ns(env->netns, tag, 1, pfx);
    pfx[strlen(pfx) - 1] = '\0';
}

/* The router namespaces that exist with our prefix and tag (tag "" =
 * legacy names): names into a JSON array of strings. */
static json_t *router_namespaces(const struct net_env *env, const char *tag, json_t *errors)
{
    json_t *list = json_of(errors, "ip", "", "-j", "netns", "list", NULL);
    json_t *names = json_array();
    char pfx[NET_NS_NAME_LEN];
    router_ns_prefix(env, tag, pfx);
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

/* The new name of a legacy tap ("tp" + 12 hex) when one of taps (our
 * VMs' taps, "<tag>t" + 10 hex) is the same port's, else NULL. */
static const char *tap_renamed(const char *tag, char (*taps)[NET_IFNAME_LEN], int ntaps,
                               const char *legacy)
{
    size_t tl = strlen(tag);
    for (int i = 0; i < ntaps; i++)
        if (is_tap_name(tag, taps[i]) && strncmp(taps[i] + tl + 1, legacy + 2, 10) == 0)
            return taps[i];
    return NULL;
}

/* Migration (see the top of the file): a legacy link of ours is deleted,
 * or renamed for a legacy tap of one of our VMs.  True when name was one
 * of ours. */
static bool remove_legacy_link(const struct net_env *env, const struct net_doc *doc, json_t *links,
                               const char *name, char (*taps)[NET_IFNAME_LEN], int ntaps,
                               json_t *errors)
{
    const char *hns = host_ns(env);
    uint32_t vni;
    if (name_kind_vni(name, "", 'b', &vni) || name_kind_vni(name, "", 'x', &vni) ||
        name_kind_vni(name, "", 'r', &vni) || name_kind_vni(name, "", 'e', &vni)) {
        if (net_doc_network_by_vni(doc, vni) == NULL)
            return false; /* not of our document: maybe another agent's */
        log_info("network: removing legacy link %s (now named with tag %s)", name, env->tag);
        ip_in(hns, errors, "link", "del", name, NULL);
        return true;
    }
    if (!is_legacy_tap_name(name))
        return false;
    const char *to = tap_renamed(env->tag, taps, ntaps, name);
    if (to && link_find(links, to) != NULL) {
        /* The new tap exists already (its VM was started again): the
         * legacy one is nobody's any more. */
        log_info("network: removing legacy tap %s (%s replaces it)", name, to);
        ip_in(hns, errors, "link", "del", name, NULL);
        return true;
    }
    if (to) {
        log_info("network: renaming legacy tap %s to %s", name, to);
        ip_in(hns, errors, "link", "set", name, "down", NULL);
        ip_in(hns, errors, "link", "set", name, "name", to, NULL);
        return true;
    }
    char t[NET_IFNAME_LEN];
    for (int i = 0; i < doc->nports; i++)
        if (strcmp(inet_tap_name("", doc->ports[i].id, t), name) == 0) {
            log_info("network: removing legacy tap %s of no VM", name);
            ip_in(hns, errors, "link", "del", name, NULL);
            return true;
        }
    return false;
}

/* Step 1: removes our links and namespaces of networks not in doc, and
 * our legacy ones (migration). */
static void remove_stale(const struct net_env *env, const struct net_doc *doc, json_t *links,
                         json_t *rnss, char (*taps)[NET_IFNAME_LEN], int ntaps, json_t *errors)
{
    const char *hns = host_ns(env);
    const char *tag = env->tag;
    bool migrated = false;
    size_t i;
    json_t *l;
    json_array_foreach (links, i, l) {
        const char *name = link_name(l);
        uint32_t vni;
        bool stale = false;
        if (name_kind_vni(name, tag, 'b', &vni) || name_kind_vni(name, tag, 'r', &vni) ||
            name_kind_vni(name, tag, 'e', &vni)) {
            stale = net_doc_network_by_vni(doc, vni) == NULL;
        } else if (name_kind_vni(name, tag, 'x', &vni)) {
            json_t *info = json_object_get(json_object_get(l, "linkinfo"), "info_data");
            const char *local = json_string_value(json_object_get(info, "local"));
            stale = net_doc_network_by_vni(doc, vni) == NULL || env->underlay_ip[0] == '\0' ||
                    strcmp(link_kind(l), "vxlan") != 0 ||
                    json_integer_value(json_object_get(info, "id")) != vni || local == NULL ||
                    strcmp(local, env->underlay_ip) != 0;
        } else if (is_tap_name(tag, name)) {
            stale = !tap_wanted(taps, ntaps, name);
        } else {
            migrated = remove_legacy_link(env, doc, links, name, taps, ntaps, errors) || migrated;
        }
        if (stale) {
            log_info("network: removing stale link %s", name);
            ip_in(hns, errors, "link", "del", name, NULL);
        }
    }
    char pfx[NET_NS_NAME_LEN];
    router_ns_prefix(env, tag, pfx);
    json_array_foreach (rnss, i, l) {
        const char *name = json_string_value(l);
        uint32_t vni;
        if (name_vni(name, pfx, &vni) && net_doc_network_by_vni(doc, vni) == NULL) {
            log_info("network: removing stale router namespace %s", name);
            dnsmasq_stop(env, vni);
            ip_in("", errors, "netns", "del", name, NULL);
        }
    }
    /* Legacy router namespaces of our networks: their dnsmasq (ours: its
     * files are in our state directory) stops with them and starts again
     * in the new namespace, reading the same leases. */
    json_t *legacy = router_namespaces(env, "", errors);
    router_ns_prefix(env, "", pfx);
    json_array_foreach (legacy, i, l) {
        const char *name = json_string_value(l);
        uint32_t vni;
        if (name_vni(name, pfx, &vni) && net_doc_network_by_vni(doc, vni) != NULL) {
            log_info("network: removing legacy router namespace %s", name);
            dnsmasq_stop(env, vni);
            ip_in("", errors, "netns", "del", name, NULL);
            migrated = true;
        }
    }
    json_decref(legacy);
    if (migrated) {
        struct fw_env fenv = {.netns = env->netns, .tag = tag};
        struct nubo_err err;
        if (fw_remove_legacy(&fenv, &err) < 0)
            fail(errors, "firewall: removing the legacy tables: %s", err.msg);
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
    inet_ext_name(env->tag, n->vni, ve);
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
    inet_bridge_name(env->tag, n->vni, br);
    inet_vxlan_name(env->tag, n->vni, vx);
    inet_veth_name(env->tag, n->vni, vr);
    inet_router_ns(env->netns, env->tag, n->vni, rns);
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

    l = link_find(links, vr);
    if (!json_has_str(rnss, rns)) {
        if (ip_in("", errors, "netns", "add", rns, NULL) < 0)
            return;
        log_info("network: vni %u: router namespace %s created", n->vni, rns);
        /* A namespace deleted behind our back takes the veth's peer "gw"
         * with it, but the kernel removes our end a little later: one
         * still listed is stale, made again below with its peer. */
        if (l) {
            ip_in(hns, NULL, "link", "del", vr, NULL);
            l = NULL;
        }
    }
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

const struct net_port *net_port_of_tap(const struct net_env *env, const struct net_doc *doc,
                                       const char *tap)
{
    char t[NET_IFNAME_LEN];
    for (int i = 0; i < doc->nports; i++)
        if (strcmp(inet_tap_name(env->tag, doc->ports[i].id, t), tap) == 0)
            return &doc->ports[i];
    return NULL;
}

/* The conntrack zone of each network of doc: the assignment kept in
 * <state-dir>/net-zones, extended for new networks and saved again when
 * it changed.  Returns a malloc'd array (caller frees). */
static uint16_t *zones_load(const struct net_env *env, const struct net_doc *doc, json_t *errors)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/net-zones", env->state_dir);
    json_t *prev = NULL;
    char *text = fs_read_file(path, 1 << 20, NULL, NULL);
    if (text) {
        json_error_t je;
        prev = json_loads(text, 0, &je);
        if (!json_is_object(prev))
            log_warn("network: %s is damaged (%s): zones assigned afresh", path, je.text);
    }
    uint16_t *zones = xcalloc((size_t)doc->nnetworks + 1, sizeof(*zones));
    json_t *now = fw_zones_assign(doc, env->tag, json_is_object(prev) ? prev : NULL, zones);
    char *out = json_dumps(now, JSON_SORT_KEYS | JSON_COMPACT);
    if (out && (text == NULL || strcmp(text, out) != 0)) {
        struct nubo_err err;
        if (fs_write_atomic(path, out, strlen(out), 0600, &err) < 0)
            fail(errors, "%s", err.msg);
    }
    free(out);
    free(text);
    json_decref(prev);
    json_decref(now);
    return zones;
}

int net_converge(const struct net_env *env, const struct net_doc *doc,
                 char (*vm_taps)[NET_IFNAME_LEN], int ntaps, json_t *errors)
{
    size_t before = json_array_size(errors);
    const char *hns = host_ns(env);
    json_t *links = json_of(errors, "ip", hns, "-j", "-d", "link", "show", NULL);
    json_t *rnss = router_namespaces(env, env->tag, errors);
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
        const struct net_port *p = net_port_of_tap(env, doc, vm_taps[i]);
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
            enslave(hns, l, vm_taps[i], inet_bridge_name(env->tag, n->vni, br), n->mtu, errors);
        } else if (l && link_master(l)[0]) {
            ip_in(hns, errors, "link", "set", vm_taps[i], "nomaster", NULL);
        }
    }
    json_decref(links);

    if (doc->nnetworks > 0 && (fs_exists("/proc/sys/net/bridge") || hns[0]))
        sysctl_in(hns, "net/bridge/bridge-nf-call-iptables", "1", errors);
    /* Also with no network left: the firewall then renders empty tables. */
    uint16_t *zones = zones_load(env, doc, errors);
    struct fw_env fenv = {.netns = env->netns, .tag = env->tag, .zones = zones};
    struct nubo_err err;
    if (fw_apply(doc, &fenv, &err) < 0)
        fail(errors, "firewall: %s", err.msg);
    /* A live-migrated guest's TCP connections may come back through a host
     * whose conntrack still holds the same flow with the window it had
     * when the guest left (docs/internals/mobility.md): strict window
     * tracking would mark its packets invalid ("ct state invalid drop")
     * until that entry expires.  Liberal tracking keeps the state but not
     * the window check; the rules still apply.  Once the firewall's ct
     * rules loaded conntrack; a kernel without it has nothing to set. */
    if (doc->nnetworks > 0) {
        json_t *ignored = json_array();
        sysctl_in(hns, "net/netfilter/nf_conntrack_tcp_be_liberal", "1", ignored);
        json_decref(ignored);
    }
    free(zones);
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
    json_t *rnss = router_namespaces(env, env->tag, NULL);
    json_t *nets = json_array(), *ports = json_array();
    for (int i = 0; i < doc->nnetworks; i++) {
        const struct net_network *n = &doc->networks[i];
        char br[NET_IFNAME_LEN], vx[NET_IFNAME_LEN], rns[NET_NS_NAME_LEN];
        inet_bridge_name(env->tag, n->vni, br);
        inet_vxlan_name(env->tag, n->vni, vx);
        inet_router_ns(env->netns, env->tag, n->vni, rns);
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
        inet_tap_name(env->tag, p->id, tap);
        inet_bridge_name(env->tag, doc->networks[p->network_idx].vni, br);
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

/* --------------------------------------------------------------- tag */

int net_tag_load(const char *state_dir, char tag[INET_TAG_LEN], struct nubo_err *err)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/net-tag", state_dir);
    char *text = fs_read_file(path, 64, NULL, NULL);
    if (text) {
        text[strcspn(text, "\n")] = '\0';
        bool ok = inet_tag_valid(text);
        if (ok)
            str_copy(tag, INET_TAG_LEN, text);
        free(text);
        if (!ok)
            return nubo_err_set(err, NUBO_E_INTERNAL,
                                "%s must hold an agent tag like 'nk3a' (\"n\" and three of "
                                "[a-z0-9]); restore it, or delete it only when this agent has "
                                "no networks left",
                                path);
        return 0;
    }
    char real[PATH_MAX];
    inet_tag_derive(realpath(state_dir, real) ? real : state_dir, tag);
    char line[INET_TAG_LEN + 1];
    snprintf(line, sizeof(line), "%s\n", tag);
    if (fs_write_atomic(path, line, strlen(line), 0600, err) < 0)
        return -1;
    log_info("network: agent tag %s (kept in %s)", tag, path);
    return 0;
}

/* ------------------------------------------------- self-check: observe */

/* The tables of nftables in namespace ns ("" = ours) as "family name"
 * strings, or NULL when nft failed (recorded in errors). */
static json_t *nft_tables(const char *ns, json_t *errors)
{
    json_t *j =
        ns[0] ? json_of(errors, "ip", "", "netns", "exec", ns, "nft", "-j", "list", "tables", NULL)
              : json_of(errors, "nft", "", "-j", "list", "tables", NULL);
    if (j == NULL)
        return NULL;
    json_t *names = json_array();
    size_t i;
    json_t *e;
    json_array_foreach (json_object_get(j, "nftables"), i, e) {
        json_t *t = json_object_get(e, "table");
        const char *fam = json_string_value(json_object_get(t, "family"));
        const char *name = json_string_value(json_object_get(t, "name"));
        if (fam && name)
            json_array_append_new(names, json_sprintf("%s %s", fam, name));
    }
    json_decref(j);
    return names;
}

json_t *net_observe(const struct net_env *env, const struct net_doc *doc)
{
    const char *hns = host_ns(env);
    json_t *errors = json_array();
    json_t *o = json_object();
    json_t *links = json_of(errors, "ip", hns, "-j", "-d", "link", "show", NULL);
    if (links)
        json_object_set_new(o, "links", links);
    size_t before = json_array_size(errors);
    json_t *rnss = router_namespaces(env, env->tag, errors);
    if (json_array_size(errors) == before)
        json_object_set_new(o, "namespaces", rnss);
    else
        json_decref(rnss);
    json_t *nft = nft_tables(hns, errors);
    if (nft)
        json_object_set_new(o, "nft", nft);
    json_t *nets = json_object();
    for (int i = 0; i < doc->nnetworks; i++) {
        const struct net_network *n = &doc->networks[i];
        char key[16], vx[NET_IFNAME_LEN], rns[NET_NS_NAME_LEN];
        snprintf(key, sizeof(key), "%u", n->vni);
        inet_vxlan_name(env->tag, n->vni, vx);
        inet_router_ns(env->netns, env->tag, n->vni, rns);
        json_t *no = json_object();
        if (env->underlay_ip[0] && link_find(links, vx)) {
            json_t *fdb = json_of(errors, "bridge", hns, "-j", "fdb", "show", "dev", vx, NULL);
            if (fdb)
                json_object_set_new(no, "fdb", fdb);
        }
        char path[128];
        snprintf(path, sizeof(path), "/run/netns/%s", rns);
        if (fs_exists(path)) {
            json_t *addrs = json_of(errors, "ip", rns, "-j", "addr", "show", NULL);
            if (addrs)
                json_object_set_new(no, "router", addrs);
            bool fip = false;
            for (int k = 0; k < doc->nports; k++)
                fip = fip || (doc->ports[k].network_idx == i && doc->ports[k].has_floating_ip);
            json_t *rt = fip ? nft_tables(rns, errors) : NULL;
            if (rt)
                json_object_set_new(no, "nft", rt);
        }
        pid_t pid = dnsmasq_pid(env, n->vni);
        json_object_set_new(no, "dnsmasq",
                            json_pack("{s:b, s:b, s:b}", "running", pid > 0, "in_namespace",
                                      pid > 0 && pid_in_ns(pid, rns), "bound",
                                      pid > 0 && pid_ns_udp_bound(pid, 67)));
        json_object_set_new(nets, key, no);
    }
    json_object_set_new(o, "networks", nets);
    if (json_array_size(errors) > 0)
        json_object_set_new(o, "errors", errors);
    else
        json_decref(errors);
    return o;
}
