/*
 * hosts.c - the host registry: registration, heartbeats, the admin's view
 * of hosts.  See hosts.h.
 *
 * A host's capacity is what its agent offers (after the agent's own
 * overcommit ratios); what is used on it is the sum of the instances
 * placed there that are not deleted - the claims made by the scheduler at
 * create time (src/store/schema.c).
 */
#include "fleet/fleet.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compute/compute.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/hostproto.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/valid.h"
#include "lib/jsonx.h"

static void (*hook_fn)(void *);
static void *hook_arg;

void fleet_set_change_hook(void (*fn)(void *), void *arg)
{
    hook_fn = fn;
    hook_arg = arg;
}

void fleet_changed(void)
{
    if (hook_fn)
        hook_fn(hook_arg);
}

#define HOST_TOKEN_PREFIX "nubohost_"
#define HOST_MAX_CAPACITY 1000000000LL
#define HOST_MAX_VMS 4096
#define HOST_MAX_PROBLEMS 64 /* datapath problems in a heartbeat */
#define HOST_PROBLEM_OBJECT_MAX 128
#define HOST_PROBLEM_TEXT_MAX 400

static long long jint(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* ------------------------------------------------------------ validation */

int fleet_host_address_valid(const char *a, struct nubo_err *err)
{
    static const char *const hint = "want \"unix:/path/to/hostd.sock\" or \"http://ADDR:PORT\"";
    if (a == NULL)
        return nubo_err_set(err, NUBO_E_INVALID, "'address' is required: %s", hint);
    size_t n = strlen(a);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)a[i] <= ' ' || a[i] == 0x7f)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "'address' must not contain spaces or control characters");
    if (strncmp(a, "unix:/", 6) == 0) {
        if (n - 5 > 107)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "'address': a socket path is at most 107 "
                                "characters");
        return 0;
    }
    if (strncmp(a, "http://", 7) == 0) {
        const char *hp = a + 7;
        const char *colon = strrchr(hp, ':');
        long long port;
        if (colon == NULL || colon == hp || strchr(hp, '/') != NULL || n > 200)
            return nubo_err_set(err, NUBO_E_INVALID, "'address': %s", hint);
        for (const char *p = hp; p < colon; p++) {
            char c = *p;
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '[' || c == ']' || c == ':'))
                return nubo_err_set(err, NUBO_E_INVALID, "'address': bad host name: %s", hint);
        }
        if (valid_int(colon + 1, 1, 65535, "the address's port", &port, err) < 0)
            return -1;
        return 0;
    }
    return nubo_err_set(err, NUBO_E_INVALID, "'address': %s", hint);
}

/* True when s has only printable ASCII characters and no spaces. */
static int printable(const char *s)
{
    for (; *s; s++)
        if (*s < '!' || *s > '~')
            return 0;
    return 1;
}

/* A short lowercase word ("kvm", "qemu"), or empty. */
static int word_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

struct capacity {
    long long vcpus, ram_mib, disk_gib;
    const char *underlay_ip; /* the agent's VXLAN endpoint, or NULL */
};

/* Reads capacity, accel and driver, which registration and heartbeats
 * share. */
static int parse_common(json_t *body, struct capacity *cap, const char **accel, const char **driver,
                        struct nubo_err *err)
{
    json_t *c = json_object_get(body, "capacity");
    if (!json_is_object(c) || json_object_size(c) != 3)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "'capacity' must be {\"vcpus\": N, \"ram_mib\": N, \"disk_gib\": N}");
    static const char *const keys[] = {"vcpus", "ram_mib", "disk_gib"};
    long long *dst[] = {&cap->vcpus, &cap->ram_mib, &cap->disk_gib};
    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        json_t *v = json_object_get(c, keys[i]);
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > HOST_MAX_CAPACITY)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "'capacity.%s' must be an integer from 0 to %lld", keys[i],
                                HOST_MAX_CAPACITY);
        *dst[i] = json_integer_value(v);
    }
    json_t *a = json_object_get(body, "accel");
    json_t *d = json_object_get(body, "driver");
    if (!json_is_string(a) || !json_is_string(d) || !word_ok(json_string_value(a), 7) ||
        !word_ok(json_string_value(d), 15))
        return nubo_err_set(err, NUBO_E_INVALID,
                            "'accel' (up to 7) and 'driver' (up to 15) are short lowercase words "
                            "like \"tcg\" and \"qemu\"");
    *accel = json_string_value(a);
    *driver = json_string_value(d);
    /* Optional: agents without tenant networking across hosts send null. */
    json_t *u = json_object_get(body, "underlay_ip");
    struct in_addr addr;
    cap->underlay_ip = NULL;
    if (u && !json_is_null(u)) {
        if (!json_is_string(u) || inet_pton(AF_INET, json_string_value(u), &addr) != 1)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "'underlay_ip' must be an IPv4 address like \"10.99.0.1\" or "
                                "null");
        cap->underlay_ip = json_string_value(u);
    }
    return 0;
}

/* ---------------------------------------------------------- registration */

json_t *fleet_host_register(struct store *st, json_t *body, struct nubo_err *err)
{
    const char *join = json_string_value(json_object_get(body, "join_token"));
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *address = json_string_value(json_object_get(body, "address"));
    json_t *at = json_object_get(body, "agent_token");
    struct capacity cap;
    const char *accel, *driver;
    json_t *jt = json_object_get(body, "join_token");
    if (jt && !json_is_string(jt)) {
        nubo_err_set(err, NUBO_E_INVALID, "'join_token' must be a string");
        return NULL;
    }
    if (join == NULL || strlen(join) > 200) {
        nubo_err_set(err, NUBO_E_UNAUTHORIZED,
                     "registration needs 'join_token': the content of <state-dir>/join-token "
                     "of nubod");
        return NULL;
    }
    struct nubo_err qerr;
    int protocol = fleet_host_protocol(body, err);
    if (protocol < 0)
        return NULL;
    if (name == NULL) {
        nubo_err_set(err, NUBO_E_INVALID, "'name' is required: the host's name");
        return NULL;
    }
    if (valid_name(name, "host name", err) < 0 || fleet_host_address_valid(address, err) < 0 ||
        parse_common(body, &cap, &accel, &driver, err) < 0)
        return NULL;
    json_t *ht = json_object_get(body, "host_token");
    const char *host_token = json_string_value(ht);
    if (ht && !json_is_null(ht) && (host_token == NULL || strlen(host_token) > 200)) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "'host_token' must be a string: the host's current token (its agent "
                     "keeps it in <state-dir>/controller.json)");
        return NULL;
    }
    const char *agent_token = "";
    if (at && !json_is_null(at)) {
        agent_token = json_string_value(at);
        if (agent_token == NULL || strlen(agent_token) > 127 || !printable(agent_token)) {
            nubo_err_set(err, NUBO_E_INVALID,
                         "'agent_token' must be a string of up to 127 characters without spaces");
            return NULL;
        }
    }

    char secret[64], thash[CRYPTO_SHA256_HEX], id[37], now[32];
    crypto_secret_new(HOST_TOKEN_PREFIX, secret, sizeof(secret));
    crypto_sha256_hex(secret, strlen(secret), thash);
    clock_now_str(now);
    long long now_ms = (long long)clock_now_ms();
    if (store_begin(st, true, err) < 0)
        return NULL;
    json_t *old =
        store_query_one(st, &qerr, "SELECT id, token_hash FROM hosts WHERE name = ?", "s", name);
    if (old == NULL && qerr.code != NUBO_E_NOTFOUND) {
        *err = qerr;
        goto fail;
    }
    if (old) {
        /* A known name: its own token (kept), or an admin's reset (the
         * hash is then empty and a new token is issued). */
        const char *have = jsonx_str(old, "token_hash");
        char sent[CRYPTO_SHA256_HEX] = "";
        if (host_token)
            crypto_sha256_hex(host_token, strlen(host_token), sent);
        bool proven = have[0] != '\0' && host_token && strcmp(sent, have) == 0;
        /* Not proven: a join token first (so that a caller without one
         * learns nothing about the name), then the name must have been
         * reset by an admin.  A refusal rolls back the spent use. */
        if (!proven && fleet_join_token_spend(st, join, err) < 0) {
            json_decref(old);
            goto fail;
        }
        if (!proven && have[0] != '\0') {
            json_decref(old);
            nubo_err_set(err, NUBO_E_CONFLICT,
                         "host '%s' is already registered and this request does not prove it is "
                         "that host: its agent must send its current host_token (kept in "
                         "<state-dir>/controller.json); if that is lost, an admin allows one "
                         "registration with POST /v1/hosts/%s/actions "
                         "{\"action\": \"reset-credential\"}, or deletes the host",
                         name, name);
            log_warn("host %s: registration refused (no valid host token for a known name)", name);
            goto fail;
        }
        if (proven) {
            str_copy(secret, sizeof(secret), host_token);
            str_copy(thash, sizeof(thash), have);
        }
        str_copy(id, sizeof(id), jsonx_str(old, "id"));
        json_decref(old);
        if (store_exec(st, err,
                       "UPDATE hosts SET address = ?, agent_token = ?, token_hash = ?, accel = ?,"
                       " driver = ?, vcpus = ?, ram_mib = ?, disk_gib = ?, underlay_ip = ?,"
                       " state = CASE WHEN fenced_at IS NULL THEN 'up' ELSE 'down' END,"
                       " last_heartbeat_ms = ? WHERE id = ?",
                       "sssssiiisis", address, agent_token, thash, accel, driver, cap.vcpus,
                       cap.ram_mib, cap.disk_gib, cap.underlay_ip, now_ms, id) < 0)
            goto fail;
    } else {
        if (fleet_join_token_spend(st, join, err) < 0)
            goto fail;
        id_new(id);
        if (store_exec(st, err,
                       "INSERT INTO hosts (id, name, address, agent_token, token_hash, state,"
                       " accel, driver, vcpus, ram_mib, disk_gib, underlay_ip, last_heartbeat_ms,"
                       " created_at) VALUES (?, ?, ?, ?, ?, 'up', ?, ?, ?, ?, ?, ?, ?, ?)",
                       "sssssssiiisis", id, name, address, agent_token, thash, accel, driver,
                       cap.vcpus, cap.ram_mib, cap.disk_gib, cap.underlay_ip, now_ms, now) < 0)
            goto fail;
    }
    if (store_commit(st, err) < 0)
        goto fail;
    fleet_liveness_seen(id);
    fleet_changed();
    log_info("host %s (%s) %s at %s: %lld vCPUs, %lld MiB, %lld GiB, %s/%s, host protocol %d", name,
             id, old ? "registered again" : "registered", address, cap.vcpus, cap.ram_mib,
             cap.disk_gib, driver, accel, protocol);
    json_t *out = json_pack("{s:s, s:s, s:i}", "host_id", id, "host_token", secret, "protocol",
                            HOSTPROTO_VERSION);
    explicit_bzero(secret, sizeof(secret));
    return out;
fail:
    store_rollback(st);
    explicit_bzero(secret, sizeof(secret));
    return NULL;
}

/* ------------------------------------------------------------ heartbeats */

/* Checks the VM list of a heartbeat: an array of {name, state, reason,
 * boots} objects. */
static int vms_valid(json_t *vms, struct nubo_err *err)
{
    if (!json_is_array(vms) || json_array_size(vms) > HOST_MAX_VMS)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "'vms' must be a list of up to %d {name, state, reason, boots}",
                            HOST_MAX_VMS);
    size_t i;
    json_t *v;
    json_array_foreach (vms, i, v) {
        const char *state = json_string_value(json_object_get(v, "state"));
        json_t *gen = json_object_get(v, "generation");
        if (!json_is_object(v) || json_object_size(v) != 4u + (gen != NULL) ||
            (gen && (!json_is_integer(gen) || json_integer_value(gen) < 0)) ||
            !json_is_string(json_object_get(v, "name")) || state == NULL || state[0] == '\0' ||
            !word_ok(state, 15) || !json_is_string(json_object_get(v, "reason")) ||
            !json_is_integer(json_object_get(v, "boots")))
            return nubo_err_set(err, NUBO_E_INVALID,
                                "'vms[%zu]' must be {\"name\": S, \"state\": S, \"reason\": S, "
                                "\"boots\": N, \"generation\"?: N}",
                                i);
    }
    return 0;
}

/* Checks the datapath problems of a heartbeat: absent (none), or a list
 * of up to HOST_MAX_PROBLEMS {object, problem, since, instances?}. */
static int problems_valid(json_t *ps, struct nubo_err *err)
{
    static const char *const shape =
        "{\"object\": S, \"problem\": S, \"since\": S, \"instances\"?: [instance ids]}";
    if (ps == NULL)
        return 0;
    if (!json_is_array(ps) || json_array_size(ps) > HOST_MAX_PROBLEMS)
        return nubo_err_set(err, NUBO_E_INVALID, "'problems' must be a list of up to %d %s",
                            HOST_MAX_PROBLEMS, shape);
    size_t i, k;
    json_t *p, *id;
    json_array_foreach (ps, i, p) {
        const char *o = json_string_value(json_object_get(p, "object"));
        const char *t = json_string_value(json_object_get(p, "problem"));
        const char *since = json_string_value(json_object_get(p, "since"));
        json_t *ids = json_object_get(p, "instances");
        if (!json_is_object(p) || json_object_size(p) != 3u + (ids != NULL) || o == NULL ||
            t == NULL || since == NULL || o[0] == '\0' || t[0] == '\0' ||
            strlen(o) > HOST_PROBLEM_OBJECT_MAX || strlen(t) > HOST_PROBLEM_TEXT_MAX ||
            strlen(since) > 32 ||
            (ids && (!json_is_array(ids) || json_array_size(ids) > HOST_MAX_VMS)))
            return nubo_err_set(err, NUBO_E_INVALID,
                                "'problems[%zu]' must be %s (object up to %d bytes, problem "
                                "up to %d)",
                                i, shape, HOST_PROBLEM_OBJECT_MAX, HOST_PROBLEM_TEXT_MAX);
        json_array_foreach (ids, k, id)
            if (!json_is_string(id) || strlen(json_string_value(id)) > 36)
                return nubo_err_set(err, NUBO_E_INVALID,
                                    "'problems[%zu].instances[%zu]' must be an instance id", i, k);
    }
    return 0;
}

static json_t *problem_find(json_t *list, json_t *p)
{
    size_t i;
    json_t *q;
    json_array_foreach (list, i, q) {
        if (strcmp(jsonx_str(q, "object"), jsonx_str(p, "object")) == 0 &&
            strcmp(jsonx_str(q, "problem"), jsonx_str(p, "problem")) == 0)
            return q;
    }
    return NULL;
}

/* Records event on the instances of host_id that each problem of from
 * which is not in other concerns (a problem without "instances"
 * concerns them all). */
static int problems_events(struct store *st, const char *host_id, const char *host_name,
                           json_t *from, json_t *other, const char *event, struct nubo_err *err)
{
    size_t i;
    json_t *p;
    json_array_foreach (from, i, p) {
        if (problem_find(other, p))
            continue;
        char detail[HOST_PROBLEM_OBJECT_MAX + HOST_PROBLEM_TEXT_MAX + 80];
        snprintf(detail, sizeof(detail), "host %s: %s: %s", host_name, jsonx_str(p, "object"),
                 jsonx_str(p, "problem"));
        if (compute_instances_host_event(st, host_id, json_object_get(p, "instances"), event,
                                         detail, err) < 0)
            return -1;
    }
    return 0;
}

json_t *fleet_host_heartbeat(struct store *st, const char *host_id, json_t *body, int *changed,
                             struct nubo_err *err)
{
    struct capacity cap;
    const char *accel, *driver;
    json_t *vms = json_object_get(body, "vms");
    *changed = 0;
    if (fleet_host_protocol(body, err) < 0)
        return NULL;
    if (parse_common(body, &cap, &accel, &driver, err) < 0)
        return NULL;
    if (vms_valid(vms, err) < 0)
        return NULL;
    json_t *problems = json_object_get(body, "problems");
    if (problems_valid(problems, err) < 0)
        return NULL;
    /* The fence epoch the agent holds (docs/internals/mobility.md); an
     * agent that does not know it yet sends none (or 0). */
    json_t *jepoch = json_object_get(body, "epoch");
    if (jepoch && !json_is_null(jepoch) &&
        (!json_is_integer(jepoch) || json_integer_value(jepoch) < 0)) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "'epoch' must be a non-negative integer: the last one nubod answered");
        return NULL;
    }
    long long presented = json_is_integer(jepoch) ? json_integer_value(jepoch) : 0;
    long long epoch = 0;
    json_t *owned = NULL;
    problems = problems ? json_incref(problems) : json_array();
    char *ptext = json_dumps(problems, JSON_COMPACT);
    json_t *old_problems = NULL;
    /* Heard from: recorded before the transaction, so a slow or failing
     * store never makes this host look silent (liveness.c). */
    fleet_liveness_seen(host_id);
    json_incref(vms); /* borrowed from body: keep it while we work */
    char *report = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *out = NULL;
    struct nubo_err qerr;
    if (store_begin(st, true, err) < 0)
        goto done;
    json_t *h = store_query_one(
        st, &qerr, "SELECT name, state, problems, fenced_at, epoch FROM hosts WHERE id = ?", "s",
        host_id);
    if (h == NULL) {
        if (qerr.code == NUBO_E_NOTFOUND)
            nubo_err_set(err, NUBO_E_UNAUTHORIZED,
                         "this host is not registered (any more): "
                         "register again with the join token");
        else
            *err = qerr;
        goto fail;
    }
    /* A fenced host stays down for good: the reconciler only destroys
     * what it still runs (fleet.h). */
    int fenced = !json_is_null(json_object_get(h, "fenced_at"));
    int was_down = !fenced && strcmp(jsonx_str(h, "state"), "up") != 0;
    if (was_down)
        log_info("host %s (%s) is up again", jsonx_str(h, "name"), host_id);
    char host_name[64];
    str_copy(host_name, sizeof(host_name), jsonx_str(h, "name"));
    if (fenced)
        log_warn("host %s (%s) was force-removed and heartbeats again: its VMs are destroyed",
                 host_name, host_id);
    epoch = jint(h, "epoch");
    if (presented != 0 && presented != epoch)
        log_warn("host %s (%s) presents fence epoch %lld, not %lld: it was fenced; it destroys the "
                 "VMs it no longer owns",
                 host_name, host_id, presented, epoch);
    json_error_t je;
    old_problems = json_loads(jsonx_str(h, "problems"), 0, &je);
    if (!json_is_array(old_problems)) {
        json_decref(old_problems);
        old_problems = json_array();
    }
    json_decref(h);
    if (store_exec(st, err,
                   "UPDATE hosts SET vcpus = ?, ram_mib = ?, disk_gib = ?, accel = ?, driver = ?,"
                   " underlay_ip = ?, report = ?, last_heartbeat_ms = ?,"
                   " state = CASE WHEN fenced_at IS NULL THEN 'up' ELSE 'down' END,"
                   " ha_fenced_at = NULL, problems = ? WHERE id = ?",
                   "iiissssiss", cap.vcpus, cap.ram_mib, cap.disk_gib, accel, driver,
                   cap.underlay_ip, report, (long long)clock_now_ms(), ptext, host_id) < 0)
        goto fail;
    *changed = was_down || fenced;
    /* Problems that appeared or went away since the last heartbeat: an
     * event on each instance they concern. */
    if (problems_events(st, host_id, host_name, problems, old_problems, "datapath degraded", err) <
            0 ||
        problems_events(st, host_id, host_name, old_problems, problems, "datapath repaired", err) <
            0)
        goto fail;
    if (json_array_size(problems) > 0 && json_array_size(old_problems) == 0)
        log_warn("host %s (%s) is degraded: %zu datapath problem(s), first %s: %s", host_name,
                 host_id, json_array_size(problems),
                 jsonx_str(json_array_get(problems, 0), "object"),
                 jsonx_str(json_array_get(problems, 0), "problem"));
    else if (json_array_size(problems) == 0 && json_array_size(old_problems) > 0)
        log_info("host %s (%s): its datapath is repaired", host_name, host_id);

    /* The instances placed here take their VMs' power states (compute). */
    if (compute_instances_observe(st, host_id, vms, changed, err) < 0)
        goto fail;
    /* What it may run, for an agent that paused its VMs or was fenced. */
    owned = compute_instances_owned(st, host_id, err);
    if (owned == NULL)
        goto fail;
    if (store_commit(st, err) < 0)
        goto done;
    if (*changed)
        fleet_changed();
    out = json_pack("{s:s, s:s}", "host_id", host_id, "state",
                    fenced                          ? "fenced"
                    : json_array_size(problems) > 0 ? "degraded"
                                                    : "up");
    json_object_set_new(out, "epoch", json_integer(epoch));
    json_object_set_new(out, "stale_epoch", json_boolean(presented != 0 && presented != epoch));
    json_object_set_new(out, "lease_ms", json_integer(fleet_lease_ms()));
    json_object_set_new(out, "protocol", json_integer(HOSTPROTO_VERSION));
    json_object_set_new(out, "vms", owned);
    owned = NULL;
    /* A restored cloud's list is older than the host (recovery.c): the
     * agent keeps the VMs it does not name (quarantined), neither
     * destroyed nor resumed, until an admin finishes the recovery. */
    if (fleet_recovery_active())
        json_object_set_new(out, "recovering", json_true());
    goto done;
fail:
    store_rollback(st);
done:
    json_decref(vms);
    json_decref(problems);
    json_decref(old_problems);
    json_decref(owned);
    free(ptext);
    free(report);
    return out;
}

/* ------------------------------------------------------------ admin view */

#define HOST_COLUMNS                                                                               \
    "SELECT h.id, h.name, h.address, h.state, h.accel, h.driver, h.vcpus, h.ram_mib, h.disk_gib,"  \
    " h.underlay_ip, h.last_heartbeat_ms, h.created_at, h.report, h.problems, h.fenced_at,"        \
    " h.reachable, h.epoch, h.ha_fenced_at, h.maintenance, h.maintenance_at, h.drain_failures,"    \
    " (SELECT COUNT(*) FROM migrations m WHERE m.source_host_id = h.id"                            \
    "   AND m.state IN ('preparing', 'running')) AS n_migrating_out,"                              \
    " (SELECT COUNT(*) FROM instances i WHERE i.host_id = h.id AND i.status != 'deleted')"         \
    "   AS n_instances,"                                                                           \
    " (SELECT COALESCE(SUM(i.vcpus), 0) FROM instances i WHERE i.host_id = h.id"                   \
    "   AND i.status != 'deleted') AS used_vcpus,"                                                 \
    " (SELECT COALESCE(SUM(i.ram_mib), 0) FROM instances i WHERE i.host_id = h.id"                 \
    "   AND i.status != 'deleted') AS used_ram_mib,"                                               \
    " (SELECT COALESCE(SUM(i.disk_gib), 0) FROM instances i WHERE i.host_id = h.id"                \
    "   AND i.status != 'deleted') AS used_disk_gib"                                               \
    " FROM hosts h"

/* A host's maintenance into o: "maintenance" (null, "draining",
 * "drained"), since when, and the drain's figures: instances still on
 * the host, of which migrating away, and those that could not move
 * ([{instance_id, reason}]). */
static void maintenance_json(json_t *o, const json_t *r)
{
    const char *m = json_string_value(json_object_get(r, "maintenance"));
    json_object_set_new(o, "maintenance", m ? json_string(m) : json_null());
    const char *at = json_string_value(json_object_get(r, "maintenance_at"));
    json_object_set_new(o, "maintenance_at", m && at ? json_string(at) : json_null());
    if (m == NULL) {
        json_object_set_new(o, "drain", json_null());
        return;
    }
    json_t *fails = json_loads(jsonx_str(r, "drain_failures"), 0, NULL);
    json_t *list = json_array();
    const char *iid;
    json_t *why;
    json_object_foreach (fails, iid, why) {
        json_array_append_new(list, json_pack("{s:s, s:s}", "instance_id", iid, "reason",
                                              json_is_string(why) ? json_string_value(why) : ""));
    }
    json_decref(fails);
    json_object_set_new(o, "drain",
                        json_pack("{s:I, s:I, s:I, s:o}", "left",
                                  (json_int_t)jint(r, "n_instances"), "migrating",
                                  (json_int_t)jint(r, "n_migrating_out"), "failed",
                                  (json_int_t)json_array_size(list), "failures", list));
}

/* Public JSON of a host row (new reference); with_vms adds the VM list of
 * its last heartbeat. */
static json_t *host_json(const json_t *r, int with_vms)
{
    long long hb = jint(r, "last_heartbeat_ms");
    char at[32];
    clock_format_ms(hb, at);
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:{s:I, s:I, s:I}, s:I, s:o, s:s}", "id",
        jsonx_str(r, "id"), "name", jsonx_str(r, "name"), "address", jsonx_str(r, "address"),
        "state", jsonx_str(r, "state"), "accel", jsonx_str(r, "accel"), "driver",
        jsonx_str(r, "driver"), "vcpus", (json_int_t)jint(r, "vcpus"), "ram_mib",
        (json_int_t)jint(r, "ram_mib"), "disk_gib", (json_int_t)jint(r, "disk_gib"), "used",
        "vcpus", (json_int_t)jint(r, "used_vcpus"), "ram_mib", (json_int_t)jint(r, "used_ram_mib"),
        "disk_gib", (json_int_t)jint(r, "used_disk_gib"), "instances",
        (json_int_t)jint(r, "n_instances"), "last_heartbeat_at",
        hb > 0 ? json_string(at) : json_null(), "created_at", jsonx_str(r, "created_at"));
    const char *fenced_at = json_string_value(json_object_get(r, "fenced_at"));
    if (fenced_at)
        json_object_set_new(o, "state", json_string("fenced"));
    json_object_set_new(o, "fenced_at", fenced_at ? json_string(fenced_at) : json_null());
    json_object_set_new(o, "reachable", json_boolean(jint(r, "reachable") != 0));
    json_object_set_new(o, "epoch", json_integer(jint(r, "epoch")));
    const char *ha_fenced = json_string_value(json_object_get(r, "ha_fenced_at"));
    json_object_set_new(o, "ha_fenced_at", ha_fenced ? json_string(ha_fenced) : json_null());
    const char *underlay = json_string_value(json_object_get(r, "underlay_ip"));
    json_object_set_new(o, "underlay_ip", underlay ? json_string(underlay) : json_null());
    /* A host that heartbeats with datapath problems is degraded. */
    json_error_t pe;
    json_t *problems = json_loads(jsonx_str(r, "problems"), 0, &pe);
    if (!json_is_array(problems)) {
        json_decref(problems);
        problems = json_array();
    }
    if (strcmp(jsonx_str(r, "state"), "up") == 0 && json_array_size(problems) > 0)
        json_object_set_new(o, "state", json_string("degraded"));
    json_object_set_new(o, "problems", problems);
    maintenance_json(o, r);
    if (with_vms) {
        json_error_t je;
        const char *rep = json_string_value(json_object_get(r, "report"));
        json_t *report = rep ? json_loads(rep, 0, &je) : NULL;
        json_t *vms = json_object_get(report, "vms");
        json_object_set_new(o, "vms", json_is_array(vms) ? json_incref(vms) : json_array());
        json_decref(report);
    }
    return o;
}

json_t *fleet_host_list(struct store *st, int limit, const char *marker, struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    if (store_page_start(st, &pg, err, "SELECT created_at FROM hosts WHERE id = ?", "s", marker) <
        0)
        return NULL;
    json_t *rows =
        store_page_query(st, &pg, "h.created_at, h.id", err, HOST_COLUMNS " WHERE 1 = 1", "");
    if (rows == NULL)
        return NULL;
    json_t *out = json_array();
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r) {
        json_array_append_new(out, host_json(r, 0));
    }
    json_decref(rows);
    return out;
}

json_t *fleet_host_row(struct store *st, const char *ref, struct nubo_err *err)
{
    struct nubo_err qerr;
    json_t *h = store_query_one(st, &qerr,
                                "SELECT id, name, state, fenced_at, maintenance FROM hosts"
                                " WHERE id = ? OR name = ?",
                                "ss", ref, ref);
    if (h == NULL) {
        if (qerr.code == NUBO_E_NOTFOUND)
            nubo_err_set(err, NUBO_E_NOTFOUND, "no host with id or name '%.64s'", ref);
        else
            *err = qerr;
    }
    return h;
}

json_t *fleet_host_get(struct store *st, const char *ref, struct nubo_err *err)
{
    json_t *r =
        store_query_one(st, err, HOST_COLUMNS " WHERE h.id = ? OR h.name = ?", "ss", ref, ref);
    if (r == NULL) {
        if (err->code == NUBO_E_NOTFOUND)
            nubo_err_set(err, NUBO_E_NOTFOUND, "no host with id or name '%.64s'", ref);
        return NULL;
    }
    json_t *o = host_json(r, 1);
    json_decref(r);
    return o;
}

int fleet_host_delete(struct store *st, const char *ref, struct nubo_err *err)
{
    struct nubo_err qerr;
    if (store_begin(st, true, err) < 0)
        return -1;
    json_t *h = store_query_one(st, &qerr, "SELECT id, name FROM hosts WHERE id = ? OR name = ?",
                                "ss", ref, ref);
    if (h == NULL) {
        if (qerr.code == NUBO_E_NOTFOUND)
            nubo_err_set(err, NUBO_E_NOTFOUND, "no host with id or name '%.64s'", ref);
        else
            *err = qerr;
        goto fail;
    }
    char id[37], name[64];
    str_copy(id, sizeof(id), jsonx_str(h, "id"));
    str_copy(name, sizeof(name), jsonx_str(h, "name"));
    json_decref(h);
    /* Refused while instances live there; deleted ones let go of it. */
    if (compute_instances_unplace(st, id, name, err) < 0 ||
        store_exec(st, err, "DELETE FROM hosts WHERE id = ?", "s", id) < 0)
        goto fail;
    if (store_commit(st, err) < 0)
        return -1;
    fleet_liveness_forget(id);
    log_info("host %s (%s) deleted", name, id);
    return 0;
fail:
    store_rollback(st);
    return -1;
}

json_t *fleet_host_force_remove(struct store *st, const char *ref, struct nubo_err *err)
{
    char now[32];
    clock_now_str(now);
    if (store_begin(st, true, err) < 0)
        return NULL;
    json_t *h = fleet_host_row(st, ref, err);
    if (h == NULL) {
        store_rollback(st);
        return NULL;
    }
    char id[37], name[64];
    str_copy(id, sizeof(id), jsonx_str(h, "id"));
    str_copy(name, sizeof(name), jsonx_str(h, "name"));
    int up = strcmp(jsonx_str(h, "state"), "up") == 0;
    int fenced = !json_is_null(json_object_get(h, "fenced_at"));
    json_decref(h);
    if (up && !fenced) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "host '%s' is up (it heartbeats): force-remove is for a dead host; delete "
                     "its instances and then the host, or stop its agent and wait until the "
                     "host is down",
                     name);
        store_rollback(st);
        return NULL;
    }
    long long n = 0;
    /* Fence first: from this commit on, the host is never up again.
     * Evacuation (rebuilding the instances elsewhere, the mobility issue)
     * would go here instead of the delete below, per instance. */
    if (store_exec(st, err,
                   "UPDATE hosts SET fenced_at = COALESCE(fenced_at, ?), state = 'down'"
                   " WHERE id = ?",
                   "ss", now, id) < 0 ||
        (n = compute_instances_host_removed(st, id, name, err)) < 0 || store_commit(st, err) < 0) {
        store_rollback(st);
        return NULL;
    }
    log_warn("host %s (%s) force-removed by an admin: fenced, %lld instance(s) deleted", name, id,
             n);
    fleet_changed();
    return fleet_host_get(st, id, err);
}

int fleet_host_set_reachable(struct store *st, const char *host_id, int reachable,
                             struct nubo_err *err)
{
    long long n =
        store_exec(st, err, "UPDATE hosts SET reachable = ? WHERE id = ? AND reachable <> ?", "isi",
                   (long long)(reachable != 0), host_id, (long long)(reachable != 0));
    return n < 0 ? -1 : 0;
}

json_t *fleet_host_reset_credential(struct store *st, const char *ref, struct nubo_err *err)
{
    if (store_begin(st, true, err) < 0)
        return NULL;
    json_t *h = fleet_host_row(st, ref, err);
    if (h == NULL) {
        store_rollback(st);
        return NULL;
    }
    char id[37], name[64];
    str_copy(id, sizeof(id), jsonx_str(h, "id"));
    str_copy(name, sizeof(name), jsonx_str(h, "name"));
    json_decref(h);
    if (store_exec(st, err, "UPDATE hosts SET token_hash = '' WHERE id = ?", "s", id) < 0) {
        store_rollback(st);
        return NULL;
    }
    if (store_commit(st, err) < 0)
        return NULL;
    log_warn("host %s (%s): credential reset by an admin; the next registration under this name "
             "is accepted with the join token alone",
             name, id);
    return fleet_host_get(st, id, err);
}

json_t *fleet_host_summary(struct store *st, struct nubo_err *err)
{
    return store_query_one(
        st, err,
        "SELECT COUNT(*) AS total,"
        " COALESCE(SUM(CASE WHEN fenced_at IS NULL AND state = 'up' AND problems = '[]'"
        "  THEN 1 ELSE 0 END), 0) AS up,"
        " COALESCE(SUM(CASE WHEN fenced_at IS NULL AND state = 'up' AND problems <> '[]'"
        "  THEN 1 ELSE 0 END), 0) AS degraded,"
        " COALESCE(SUM(CASE WHEN fenced_at IS NULL AND state = 'down' THEN 1 ELSE 0 END), 0)"
        "  AS down,"
        " COALESCE(SUM(CASE WHEN fenced_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS fenced,"
        " COALESCE(SUM(CASE WHEN fenced_at IS NULL AND state = 'up' AND reachable = 0"
        "  THEN 1 ELSE 0 END), 0) AS unreachable"
        " FROM hosts",
        "");
}
