/*
 * reconcile.c - one reconcile pass: converge hosts to the desired state.
 *
 * A pass, run by the reconciler thread (ctrl.c) every reconcile interval
 * and whenever it is kicked:
 *
 *   1. hosts silent for host_down_ms become 'down'; their instances
 *      'unknown' (event "host down").  A heartbeat makes a host 'up' again
 *      (hosts.c) and the next pass gives the instances their status back.
 *      Silence is measured on the monotonic clock from the in-memory
 *      record of the last heartbeat received (src/fleet/liveness.c), never
 *      from stored wall-clock times, and never counts time the controller
 *      itself was stalled: after a restart, or when this thread ran late
 *      (the process was frozen, the machine swapped), every host gets a
 *      full host_down_ms from then.  Instances to be deleted on a host that
 *      is down are deleted without it (their VM, should the host come
 *      back, is an orphan: step 3).
 *   2. each 'up' host (and each fenced one that is heard from: its VMs are
 *      all orphans) is handed to a pool of RECONCILE_WORKERS threads, so
 *      that one hung agent delays only itself: a host is converged by one
 *      worker at a time (a pass that finds it busy asks for one more run
 *      after the current one), and a host whose agent did not answer its
 *      list is retried after its own back-off (1 s doubling to 10 s); a
 *      hung one (connected, no answer in time) is no placement target
 *      until it answers again (hosts.reachable).
 *      The worker asks its agent for its VMs (GET /v1/vms), then
 *      for each instance placed there that is not deleted, compare the
 *      desired state with the VM "nubo-<instance id>" and do at most one
 *      thing about it:
 *
 *        desired   VM                          action
 *        running   none                        upload the image if missing, create
 *        running   stopped / crashed           start (crashed: event first; a crashed
 *                                              member of a scaling group: error, and
 *                                              its group replaces it)
 *        running   paused                      resume
 *        running   running, status rebooting   reboot once, then wait for a new boot
 *        stopped   none                        create without starting
 *        stopped   running / starting / paused stop (ACPI; the agent forces later)
 *        deleted   any                         delete the VM, then the instance is deleted
 *        (any)     stopping                    wait
 *
 *      The instance's status follows what the VM does (building/stopped/
 *      unknown -> running once its VM runs, stopping -> stopped, ...), and
 *      the tasks of the operations that reached their end are finished.
 *   3. VMs named "nubo-<uuid>" that no live instance on that host wants are
 *      deleted (orphans, e.g. an instance deleted while nubod was down).
 *
 *      The table is reconcile_decide() (decide.c, with every row written
 *      out there); this file carries the decision out.
 *
 *   4. the host's placed volumes converge on their stored desired state
 *      (converge_volumes; docs/internals/storage.md, attach and detach):
 *      created on the agent (blank, or copied from a snapshot), attached,
 *      detached, deleted there, and their snapshots taken and dropped
 *      (converge_snapshots; storage.md, Snapshots); their statuses move
 *      through storage's compare-and-set transitions.
 *
 * Every step reads the world and acts on the difference, so a pass is
 * idempotent: a restarted nubod or agent simply converges to the same
 * result.  The reconciler writes no instance row itself: it moves
 * instances through compute's transitions (compute.h,
 * docs/internals/instance-states.md), each a compare-and-set on the status
 * and desired state the pass read, so an API call that changed the
 * instance meanwhile wins and the next pass acts on it; each meters the
 * instance's usage, records its events and finishes its tasks in the same
 * transaction.
 *
 * Failures: an agent that cannot be reached is skipped until the next pass
 * (nothing is recorded: it is transient, and hosts that stay silent go
 * down).  An agent that refuses a create makes the instance 'error' with
 * the agent's reason as fault and fails its task; an instance in error is
 * left alone until it is deleted.  Other refusals (start, stop, delete)
 * are recorded as an event and retried with a growing back-off.
 */
#include "ctrl/ctrl.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing.h"
#include "compute/compute.h"
#include "ctrl/ctrl_int.h"
#include "fleet/fleet.h"
#include "lib/agent_client.h"
#include "lib/clock.h"
#include "lib/crypto.h"
#include "lib/fault.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/valid.h"
#include "lib/jsonx.h"
#include "network/network.h"
#include "scale/scale.h"
#include "storage/storage.h"

#define IMAGE_PREFIX "img-"
#define LIST_TIMEOUT_MS 5000
#define ACTION_TIMEOUT_MS 15000
#define CREATE_TIMEOUT_MS 120000 /* the agent prepares disks and boots QEMU */
#define DELETE_TIMEOUT_MS 30000
#define REBOOT_WAIT_MS 60000 /* a reboot whose new boot is never seen */
#define BACKOFF_MIN_MS 2000
#define BACKOFF_MAX_MS 300000
#define RECONCILE_WORKERS 8       /* hosts converged at once */
#define HOST_BACKOFF_MIN_MS 1000  /* a host whose agent did not answer ... */
#define HOST_BACKOFF_MAX_MS 10000 /* ... is tried again after this, doubling */
#define STALL_SLACK_MS 1000       /* this thread later than reconcile_ms + this: stalled */

/* ------------------------------------------------------------ memory */

/* What the reconciler remembers about an instance between passes: retry
 * back-off after a refused operation, and when it asked for a reboot.
 * Lost on restart, which costs at most an early retry. */
struct memo {
    char id[37];
    int64_t retry_at; /* monotonic ms; 0 = no back-off */
    int fails;
    int64_t reboot_at; /* monotonic ms of the reboot request; 0 = none */
};

/* A host in the worker pool's hands. */
struct slot {
    char id[37];
    bool busy;        /* queued or being converged */
    bool again;       /* a pass came while busy: converge once more */
    int fails;        /* list calls failed in a row */
    int64_t retry_at; /* monotonic ms; 0 = no back-off */
    struct slot *next_queued;
};

struct reconciler {
    /* Liveness (reconciler thread only): silence counts from grace_from
     * at the earliest - nubod's start, or the end of its last stall. */
    int64_t grace_from;
    int64_t last_pass; /* monotonic ms of the last mark_down(), 0 = none */

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;
    struct memo *m;
    size_t n, alloc;
    struct slot **slots;
    size_t nslots, aslots;
    struct slot *queue, *queue_tail;
    bool stopping;
    struct ctrl *c; /* set when the workers start */
    pthread_t workers[RECONCILE_WORKERS];
    int nworkers;
};

struct reconciler *reconciler_new(void)
{
    struct reconciler *r = xcalloc(1, sizeof(*r));
    r->grace_from = clock_mono_ms();
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    return r;
}

void reconciler_free(struct reconciler *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < r->nworkers; i++)
        pthread_join(r->workers[i], NULL);
    for (size_t i = 0; i < r->nslots; i++)
        free(r->slots[i]);
    free(r->slots);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r->m);
    free(r);
}

/* The memo of instance id (created when create), under r->mu. */
static struct memo *memo_find(struct reconciler *r, const char *id, int create)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->m[i].id, id) == 0)
            return &r->m[i];
    if (!create)
        return NULL;
    if (r->n == r->alloc) {
        r->alloc = r->alloc ? r->alloc * 2 : 16;
        r->m = realloc(r->m, r->alloc * sizeof(*r->m));
        if (r->m == NULL)
            abort();
    }
    struct memo *m = &r->m[r->n++];
    memset(m, 0, sizeof(*m));
    str_copy(m->id, sizeof(m->id), id);
    return m;
}

/* Under r->mu. */
static void memo_drop_locked(struct reconciler *r, const char *id)
{
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->m[i].id, id) == 0) {
            r->m[i] = r->m[--r->n];
            return;
        }
    }
}

/* The memos are shared by the workers (each instance is only ever touched
 * by the worker of its host, but the array is one): every access below
 * takes r->mu. */
static void memo_drop(struct reconciler *r, const char *id)
{
    pthread_mutex_lock(&r->mu);
    memo_drop_locked(r, id);
    pthread_mutex_unlock(&r->mu);
}

/* After a refused operation: wait 2 s, 4 s, ... up to 5 min. */
static void backoff(struct reconciler *r, const char *id)
{
    pthread_mutex_lock(&r->mu);
    struct memo *m = memo_find(r, id, 1);
    int64_t delay = BACKOFF_MIN_MS;
    for (int i = 0; i < m->fails && delay < BACKOFF_MAX_MS; i++)
        delay *= 2;
    if (delay > BACKOFF_MAX_MS)
        delay = BACKOFF_MAX_MS;
    m->fails++;
    m->retry_at = clock_mono_ms() + delay;
    pthread_mutex_unlock(&r->mu);
}

static int backing_off(struct reconciler *r, const char *id)
{
    pthread_mutex_lock(&r->mu);
    struct memo *m = memo_find(r, id, 0);
    int b = m && m->retry_at > clock_mono_ms();
    pthread_mutex_unlock(&r->mu);
    return b;
}

static void backoff_clear(struct reconciler *r, const char *id)
{
    pthread_mutex_lock(&r->mu);
    struct memo *m = memo_find(r, id, 0);
    if (m) {
        m->retry_at = 0;
        m->fails = 0;
        if (m->reboot_at == 0)
            memo_drop_locked(r, id);
    }
    pthread_mutex_unlock(&r->mu);
}

/* When the reboot of id was asked for (monotonic ms), or 0; with start,
 * a missing one is set to now (nubod restarted while waiting). */
static int64_t reboot_since(struct reconciler *r, const char *id, int start)
{
    pthread_mutex_lock(&r->mu);
    struct memo *m = memo_find(r, id, start);
    if (m && start && m->reboot_at == 0)
        m->reboot_at = clock_mono_ms();
    int64_t at = m ? m->reboot_at : 0;
    pthread_mutex_unlock(&r->mu);
    return at;
}

/* The reboot of id was asked for now. */
static void reboot_mark(struct reconciler *r, const char *id)
{
    pthread_mutex_lock(&r->mu);
    memo_find(r, id, 1)->reboot_at = clock_mono_ms();
    pthread_mutex_unlock(&r->mu);
}

/* ------------------------------------------------------------ one pass */

/* The state of one pass. */
struct pass {
    struct ctrl *c;
    struct store *st;
    struct reconciler *r;
    char image_dir[PATH_MAX];
};

/* One host being converged. */
struct host_ctx {
    struct agent_target t;
    const char *id;
    json_t *images; /* the agent's image list, fetched when first needed */
};

static long long jint(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static int is(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

/* Copies the VM's state (and boots, except while a reboot is awaited)
 * into the instance row. */
static void sync_power(struct pass *p, json_t *inst, const json_t *vm)
{
    const char *ps = vm ? jsonx_str(vm, "state") : "none";
    long long boots = jint(inst, "boots");
    if (vm && !is(jsonx_str(inst, "status"), "rebooting"))
        boots = jint(vm, "boots");
    if (is(ps, jsonx_str(inst, "power_state")) && boots == jint(inst, "boots"))
        return;
    struct nubo_err err;
    if (compute_instance_power(p->st, jsonx_str(inst, "id"), ps, boots, &err) < 0) {
        log_error("instance %s: cannot record power state: %s", jsonx_str(inst, "id"), err.msg);
        return;
    }
    json_object_set_new(inst, "power_state", json_string(ps));
    json_object_set_new(inst, "boots", json_integer(boots));
}

/* Records the agent's boot counter before a reboot; -1 when it could not
 * (or the instance moved on meanwhile). */
static int set_boots(struct pass *p, json_t *inst, long long boots)
{
    struct nubo_err err;
    int rc = compute_instance_boots(p->st, jsonx_str(inst, "id"), jsonx_str(inst, "status"), boots,
                                    &err);
    if (rc < 0)
        log_error("instance %s: cannot record boots: %s", jsonx_str(inst, "id"), err.msg);
    if (rc <= 0)
        return -1;
    json_object_set_new(inst, "boots", json_integer(boots));
    return 0;
}

/* The instance reached its desired running/stopped state (and, after a
 * reboot, boot count boots; -1 keeps it): compute_instance_reached(). */
static void reached(struct pass *p, json_t *inst, const char *status, long long boots,
                    const char *host)
{
    struct nubo_err err;
    int rc = compute_instance_reached(p->st, jsonx_str(inst, "id"), jsonx_str(inst, "status"),
                                      jsonx_str(inst, "desired"), status, boots, host, &err);
    if (rc < 0)
        log_error("instance %s: cannot set status %s: %s", jsonx_str(inst, "id"), status, err.msg);
    if (rc <= 0)
        return;
    /* later steps of this pass compare with what is stored now */
    json_object_set_new(inst, "status", json_string(status));
    if (boots >= 0)
        json_object_set_new(inst, "boots", json_integer(boots));
}

/* The instance fails for good (status error with fault): see
 * compute_instance_error(). */
static void failed(struct pass *p, json_t *inst, const char *event, const char *fault,
                   const char *finish_kinds)
{
    struct nubo_err err;
    int rc = compute_instance_error(p->st, jsonx_str(inst, "id"), jsonx_str(inst, "status"),
                                    jsonx_str(inst, "desired"), event, fault, finish_kinds, &err);
    if (rc < 0)
        log_error("instance %s: cannot set status error: %s", jsonx_str(inst, "id"), err.msg);
    if (rc > 0)
        json_object_set_new(inst, "status", json_string("error"));
}

/* An operation the agent refused.  During a create the instance fails
 * (status error, fault, task failed); otherwise an event records it and
 * the operation is retried later. */
static void refused(struct pass *p, json_t *inst, const char *what, const char *kind,
                    const struct nubo_err *err)
{
    const char *id = jsonx_str(inst, "id");
    log_warn("instance %s: %s failed: %s", id, what, err->msg);
    if (is(kind, "create")) {
        char event[64];
        snprintf(event, sizeof(event), "%s failed", what);
        failed(p, inst, event, err->msg, "create,start");
        return;
    }
    struct nubo_err terr;
    if (compute_instance_refused(p->st, id, what, kind, err->msg, &terr) < 0)
        log_error("instance %s: cannot record the failed %s: %s", id, what, terr.msg);
    backoff(p->r, id);
}

/* ------------------------------------------------------------ images */

/* The agent's image named name in the host's list, or NULL. */
static json_t *agent_image(struct host_ctx *h, const char *name)
{
    size_t i;
    json_t *img;
    json_array_foreach (json_object_get(h->images, "images"), i, img) {
        if (is(jsonx_str(img, "name"), name))
            return img;
    }
    return NULL;
}

static int fetch_images(struct host_ctx *h, struct nubo_err *err)
{
    if (h->images)
        return 0;
    long status;
    json_t *out;
    if (agent_call(&h->t, "GET", "/v1/images", NULL, LIST_TIMEOUT_MS, &status, &out, err) < 0)
        return -1;
    if (status != 200) {
        agent_answer_error(&h->t, status, out, err);
        json_decref(out);
        err->code = NUBO_E_UNAVAILABLE;
        return -1;
    }
    h->images = out;
    return 0;
}

/* Uploads one file of image id to the agent as part. */
static int put_part(struct pass *p, struct host_ctx *h, const char *name, const char *id,
                    const char *part, const char *ext, const char *sha256, struct nubo_err *err)
{
    char path[PATH_MAX + 64], sum[CRYPTO_SHA256_HEX];
    snprintf(path, sizeof(path), "%s/%s.%s", p->image_dir, id, ext);
    if (sha256 == NULL || strlen(sha256) != 64) {
        if (crypto_sha256_file(path, sum, NULL, err) < 0)
            return -1;
        sha256 = sum;
    }
    log_info("host %s: uploading %s of image %s", h->t.name, part, id);
    return agent_put_file(&h->t, name, part, path, sha256, err);
}

/* Makes sure the agent has image `image` (a row of images) as
 * "img-<id>".  The disk goes last: the agent lists an image once its disk
 * is there, so a half-done upload is never taken for a whole one.
 * Returns 0, or -1 with err: NUBO_E_UNAVAILABLE for a transient failure,
 * another code when the image cannot be used. */
static int ensure_image(struct pass *p, struct host_ctx *h, const json_t *image,
                        struct nubo_err *err)
{
    const char *id = jsonx_str(image, "id");
    char name[64];
    snprintf(name, sizeof(name), IMAGE_PREFIX "%s", id);
    if (!is(jsonx_str(image, "status"), "active"))
        return nubo_err_set(err, NUBO_E_CONFLICT, "image %s is %s, not active", id,
                            jsonx_str(image, "status"));
    if (fetch_images(h, err) < 0)
        return -1;
    int kernel = jint(image, "has_kernel") != 0;
    json_t *have = agent_image(h, name);
    if (have && (!kernel || is(jsonx_str(have, "boot"), "kernel")))
        return 0;
    if (kernel) {
        if (put_part(p, h, name, id, "kernel", "kernel", NULL, err) < 0)
            return -1;
        if (jint(image, "has_initrd") &&
            put_part(p, h, name, id, "initrd", "initrd", NULL, err) < 0)
            return -1;
        const char *cmdline = jsonx_str(image, "cmdline");
        char sum[CRYPTO_SHA256_HEX];
        crypto_sha256_hex(cmdline, strlen(cmdline), sum);
        if (agent_put_data(&h->t, name, "cmdline", cmdline, strlen(cmdline), sum, err) < 0)
            return -1;
    }
    if (have == NULL &&
        put_part(p, h, name, id, "disk", "disk",
                 json_string_value(json_object_get(image, "checksum_sha256")), err) < 0)
        return -1;
    json_decref(h->images); /* listed again when next needed */
    h->images = NULL;
    return 0;
}

/* ------------------------------------------------------------ VMs */

/* The guest's hostname: the instance name in lowercase, '.' and '_' as
 * '-' (a valid RFC 1123 label, since names start with a letter or digit). */
static void hostname_of(const char *name, char out[64])
{
    size_t i = 0;
    for (; i < 63 && name[i]; i++) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        else if (c == '.' || c == '_')
            c = '-';
        out[i] = c;
    }
    out[i] = '\0';
    while (i > 0 && out[i - 1] == '-')
        out[--i] = '\0';
    if (valid_hostname(out, NULL) < 0)
        str_copy(out, 64, "instance");
}

static void vm_name_of(json_t *inst, char out[64])
{
    snprintf(out, 64, COMPUTE_VM_PREFIX "%s", jsonx_str(inst, "id"));
}

/* POSTs path (an action on the instance's VM); returns 0 on a 2xx, -1
 * with err (NUBO_E_UNAVAILABLE when unreachable). */
static int vm_action(struct host_ctx *h, json_t *inst, const char *action, json_t *body,
                     int timeout_ms, json_t **out, struct nubo_err *err)
{
    char vm[64], path[128];
    vm_name_of(inst, vm);
    snprintf(path, sizeof(path), "/v1/vms/%s/%s", vm, action);
    long status;
    json_t *o = NULL;
    int rc = agent_call(&h->t, "POST", path, body, timeout_ms, &status, &o, err);
    if (rc == 0 && (status < 200 || status > 299))
        rc = agent_answer_error(&h->t, status, o, err);
    if (rc == 0 && out)
        *out = o;
    else
        json_decref(o);
    return rc;
}

/* True when err means the agent could not be asked (retry next pass). */
static int transient(const struct nubo_err *err)
{
    return err->code == NUBO_E_UNAVAILABLE && strstr(err->msg, "cannot reach") != NULL;
}

static int transient_or_timeout(const struct nubo_err *err)
{
    return transient(err) || strstr(err->msg, "did not answer in time") != NULL;
}

/* Builds the create request of the instance's VM (new reference), or NULL
 * with err. */
static json_t *create_body(struct pass *p, json_t *inst, const json_t *image, int start,
                           struct nubo_err *err)
{
    char vm[64], host[64], img[64];
    vm_name_of(inst, vm);
    hostname_of(jsonx_str(inst, "name"), host);
    snprintf(img, sizeof(img), IMAGE_PREFIX "%s", jsonx_str(image, "id"));
    json_t *keys = json_array();
    const char *kp = json_string_value(json_object_get(inst, "keypair"));
    if (kp && *kp) {
        struct nubo_err qerr;
        json_t *k = store_query_one(p->st, &qerr,
                                    "SELECT public_key FROM keypairs WHERE project_id = ? AND"
                                    " (name = ? OR id = ?)",
                                    "sss", jsonx_str(inst, "project_id"), kp, kp);
        if (k)
            json_array_append_new(keys, json_string(jsonx_str(k, "public_key")));
        else
            log_warn("instance %s: keypair %s is gone; no SSH key", jsonx_str(inst, "id"), kp);
        json_decref(k);
    }
    json_t *b =
        json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:o, s:s, s:b}", "id", jsonx_str(inst, "id"),
                  "name", vm, "image", img, "vcpus", (json_int_t)jint(inst, "vcpus"), "memory",
                  (json_int_t)jint(inst, "ram_mib"), "hostname", host, "ssh_keys", keys, "network",
                  "user", "start", start);
    if (b == NULL) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot build the VM request");
        return NULL;
    }
    /* Its generation: the agent keeps it with the VM and reports it, so a
     * copy left behind by an evacuation is told apart (mobility.md). */
    json_object_set_new(b, "generation", json_integer(jint(inst, "generation")));
    /* The root disk is the flavor's, but never smaller than the image. */
    long long gib = jint(inst, "disk_gib");
    if (gib > 0 && (gib << 30) >= jint(image, "virtual_size_bytes"))
        json_object_set_new(b, "root_disk", json_integer(gib));
    const char *ud = json_string_value(json_object_get(inst, "user_data"));
    if (ud && *ud)
        json_object_set_new(b, "user_data", json_string(ud));
    const char *tokens = json_string_value(json_object_get(inst, "metadata_http_tokens"));
    if (tokens && *tokens)
        json_object_set_new(b, "metadata_http_tokens", json_string(tokens));
    /* On tenant networks the VM gets one tap per port, in port order;
     * without any it keeps QEMU's isolated user-mode NIC. */
    json_t *nics = store_query(p->st, err,
                               "SELECT id AS port_id, network_id, mac FROM ports"
                               " WHERE instance_id = ? ORDER BY created_at, id",
                               "s", jsonx_str(inst, "id"));
    if (nics == NULL) {
        json_decref(b);
        return NULL;
    }
    if (json_array_size(nics) > 0) {
        json_object_set_new(b, "network", json_string("none"));
        json_object_set_new(b, "nics", nics);
    } else
        json_decref(nics);
    return b;
}

/* Creates the instance's VM (started or not).  Returns the agent's VM
 * (new reference) when it exists now, else NULL. */
static json_t *vm_create(struct pass *p, struct host_ctx *h, json_t *inst, int start)
{
    const char *id = jsonx_str(inst, "id");
    struct nubo_err err;
    json_t *image = store_query_one(p->st, &err,
                                    "SELECT id, status, has_kernel, has_initrd, cmdline,"
                                    " checksum_sha256, virtual_size_bytes FROM images WHERE id = ?",
                                    "s", jsonx_str(inst, "image_id"));
    if (image == NULL) {
        if (err.code == NUBO_E_NOTFOUND) {
            nubo_err_set(&err, NUBO_E_NOTFOUND, "image %s no longer exists",
                         jsonx_str(inst, "image_id"));
            refused(p, inst, "create", "create", &err);
        }
        return NULL;
    }
    json_t *vm = NULL, *body = NULL;
    if (ensure_image(p, h, image, &err) < 0) {
        if (transient_or_timeout(&err) || err.code == NUBO_E_UNAVAILABLE) {
            log_warn("instance %s: image upload to host %s: %s (retrying)", id, h->t.name, err.msg);
            backoff(p->r, id);
        } else
            refused(p, inst, "create", "create", &err);
        goto done;
    }
    body = create_body(p, inst, image, start, &err);
    if (body == NULL)
        goto done;
    log_info("instance %s: creating VM on host %s", id, h->t.name);
    long status;
    json_t *out = NULL;
    if (agent_call(&h->t, "POST", "/v1/vms", body, CREATE_TIMEOUT_MS, &status, &out, &err) < 0) {
        log_warn("instance %s: %s (retrying)", id, err.msg);
        goto done;
    }
    if (status == 201) {
        compute_event_add(p->st, id, "VM created", h->t.name, NULL);
        vm = out;
    } else if (status == 409) {
        json_decref(out); /* it exists already: the next pass sees it */
    } else {
        agent_answer_error(&h->t, status, out, &err);
        json_decref(out);
        refused(p, inst, "create", "create", &err);
    }
done:
    json_decref(body);
    json_decref(image);
    return vm;
}

/* desired = deleted: remove the VM if there is one, then the instance. */
static void converge_deleted(struct pass *p, struct host_ctx *h, json_t *inst, const json_t *vm)
{
    const char *id = jsonx_str(inst, "id");
    struct nubo_err err;
    if (vm) {
        char path[128], name[64];
        vm_name_of(inst, name);
        snprintf(path, sizeof(path), "/v1/vms/%s", name);
        long status;
        json_t *out = NULL;
        log_info("instance %s: deleting VM on host %s", id, h ? h->t.name : "?");
        if (agent_call(&h->t, "DELETE", path, NULL, DELETE_TIMEOUT_MS, &status, &out, &err) < 0) {
            log_warn("instance %s: %s (retrying)", id, err.msg);
            return;
        }
        if (status != 204 && status != 404) {
            agent_answer_error(&h->t, status, out, &err);
            json_decref(out);
            refused(p, inst, "delete", "delete", &err);
            return;
        }
        json_decref(out);
    }
    int rc = compute_instance_deleted(p->st, id, h ? h->t.name : "", &err);
    if (rc < 0)
        log_error("instance %s: cannot record the delete: %s", id, err.msg);
    if (rc > 0)
        memo_drop(p->r, id);
}

/* status = rebooting and the VM runs: ask for the reboot once, then wait
 * until the agent counts a new boot. */
static void converge_reboot(struct pass *p, struct host_ctx *h, json_t *inst, const json_t *vm)
{
    const char *id = jsonx_str(inst, "id");
    struct nubo_err err;
    json_t *open = store_query(p->st, &err,
                               "SELECT status FROM tasks WHERE instance_id = ? AND kind = 'reboot'"
                               " AND status IN ('pending', 'running')",
                               "s", id);
    int pending = 0, running = 0;
    size_t i;
    json_t *t;
    json_array_foreach (open, i, t) {
        pending += is(jsonx_str(t, "status"), "pending");
        running += is(jsonx_str(t, "status"), "running");
    }
    json_decref(open);
    if (running && !pending) {
        if (jint(vm, "boots") > jint(inst, "boots")) {
            memo_drop(p->r, id);
            /* with the new count: "running" shows it */
            reached(p, inst, "running", jint(vm, "boots"), h->t.name);
            return;
        }
        /* (nubod restarted while waiting: wait afresh) */
        if (clock_mono_ms() - reboot_since(p->r, id, 1) > REBOOT_WAIT_MS) {
            log_warn("instance %s: no new boot seen after the reboot; taking it as done", id);
            compute_event_add(p->st, id, "reboot not confirmed",
                              "the host saw no new boot within 60 s", NULL);
            memo_drop(p->r, id);
            reached(p, inst, "running", jint(vm, "boots"), h->t.name);
        }
        return;
    }
    if (!running && !pending) { /* rebooting without a task: make one */
        char tid[37];
        if (compute_task_create(p->st, jsonx_str(inst, "project_id"), id, "reboot", NULL, tid,
                                &err) < 0)
            return;
    }
    /* Remember the boots before the reboot: done when the count grows. */
    if (set_boots(p, inst, jint(vm, "boots")) < 0)
        return;
    log_info("instance %s: rebooting on host %s", id, h->t.name);
    if (vm_action(h, inst, "reboot", NULL, ACTION_TIMEOUT_MS, NULL, &err) < 0) {
        if (transient_or_timeout(&err) || err.code == NUBO_E_CONFLICT)
            return; /* retried next pass (409: not running any more) */
        struct nubo_err terr;
        log_warn("instance %s: reboot failed: %s", id, err.msg);
        int rc = compute_instance_reboot_failed(p->st, id, err.msg, &terr);
        if (rc < 0)
            log_error("instance %s: cannot record the failed reboot: %s", id, terr.msg);
        if (rc > 0)
            json_object_set_new(inst, "status", json_string("running"));
        backoff(p->r, id);
        return;
    }
    if (compute_instance_reboot_sent(p->st, id, h->t.name, &err) < 0)
        log_error("instance %s: cannot record the reboot request: %s", id, err.msg);
    reboot_mark(p->r, id);
}

/* No VM: creates it (started when start), after the events and the
 * billing correction a missing VM calls for.  Returns the new VM (new
 * reference) or NULL. */
static json_t *converge_create(struct pass *p, struct host_ctx *h, json_t *inst, int start)
{
    const char *id = jsonx_str(inst, "id");
    const char *status = jsonx_str(inst, "status");
    struct nubo_err err;
    if (start) {
        if (!is(status, "building") && !is(status, "unknown"))
            compute_event_add(p->st, id, "VM missing", "recreating it", NULL);
        /* Gone while its host was down: it ran until the host was last seen. */
        if (is(status, "unknown") && billing_instance_lost(p->st, id, &err) < 0)
            return NULL;
    }
    json_t *vm = vm_create(p, h, inst, start);
    if (vm)
        sync_power(p, inst, vm);
    return vm;
}

/* The VM is stopped or crashed and should run: start it. */
static void converge_start(struct pass *p, struct host_ctx *h, json_t *inst, const json_t *vm)
{
    const char *id = jsonx_str(inst, "id");
    char status[16]; /* as read: the row may move on during this pass */
    str_copy(status, sizeof(status), jsonx_str(inst, "status"));
    struct nubo_err err;
    const char *state = jsonx_str(vm, "state");
    if (is(state, "crashed")) {
        char detail[400];
        snprintf(detail, sizeof(detail), "%s; restarting", jsonx_str(vm, "reason"));
        compute_event_add(p->st, id, "VM crashed", detail, NULL);
    } else if (is(status, "running")) {
        char detail[400];
        snprintf(detail, sizeof(detail), "%s; starting it again", jsonx_str(vm, "reason"));
        compute_event_add(p->st, id, "VM stopped", detail, NULL);
    }
    if (is(status, "unknown") && billing_instance_lost(p->st, id, &err) < 0)
        return; /* stopped while its host was down: see billing.h */
    log_info("instance %s: starting its VM on host %s", id, h->t.name);
    json_t *out = NULL;
    if (vm_action(h, inst, "start", NULL, CREATE_TIMEOUT_MS, &out, &err) < 0) {
        if (!transient_or_timeout(&err))
            refused(p, inst, "start", is(status, "building") ? "create" : "start", &err);
        return;
    }
    backoff_clear(p->r, id);
    sync_power(p, inst, out);
    if (is(jsonx_str(out, "state"), "running")) /* for a reboot too: a start is a fresh boot */
        reached(p, inst, "running", -1, h->t.name);
    json_decref(out);
}

/* The VM runs, starts or is paused and should be stopped. */
static void converge_stop(struct pass *p, struct host_ctx *h, json_t *inst)
{
    const char *id = jsonx_str(inst, "id");
    struct nubo_err err;
    log_info("instance %s: stopping its VM on host %s", id, h->t.name);
    json_t *out = NULL;
    if (vm_action(h, inst, "stop", NULL, ACTION_TIMEOUT_MS, &out, &err) < 0) {
        if (!transient_or_timeout(&err))
            refused(p, inst, "stop", "stop", &err);
    } else {
        backoff_clear(p->r, id);
        sync_power(p, inst, out);
        if (is(jsonx_str(out, "state"), "stopped"))
            reached(p, inst, "stopped", -1, h->t.name);
    }
    json_decref(out);
}

/* The VM named "nubo-<id>" in the agent's list, or NULL. */
static const json_t *find_vm(const json_t *vms, const char *instance_id)
{
    size_t i, pl = strlen(COMPUTE_VM_PREFIX);
    const json_t *vm;
    json_array_foreach (vms, i, vm) {
        const char *n = jsonx_str(vm, "name");
        if (strncmp(n, COMPUTE_VM_PREFIX, pl) == 0 && is(n + pl, instance_id))
            return vm;
    }
    return NULL;
}

/* The VM of inst on h is an older generation than the instance (a copy
 * an evacuation left behind): destroyed, never resumed.  0 when it is
 * gone, -1 when the agent did not do it (retried next pass). */
static int destroy_stale(struct pass *p, struct host_ctx *h, json_t *inst, const json_t *vm)
{
    const char *id = jsonx_str(inst, "id");
    char path[128], detail[160];
    snprintf(path, sizeof(path), "/v1/vms/%s", jsonx_str(vm, "name"));
    long status;
    json_t *out = NULL;
    struct nubo_err err;
    if (agent_call(&h->t, "DELETE", path, NULL, DELETE_TIMEOUT_MS, &status, &out, &err) < 0) {
        log_warn("instance %s: stale copy on host %s: %s (retrying)", id, h->t.name, err.msg);
        return -1;
    }
    json_decref(out);
    if (status != 204 && status != 404) {
        log_warn("instance %s: cannot destroy the stale copy on host %s (HTTP %ld)", id, h->t.name,
                 status);
        return -1;
    }
    snprintf(detail, sizeof(detail), "host %s: generation %lld, the instance is at %lld", h->t.name,
             jint(vm, "generation"), jint(inst, "generation"));
    log_warn("instance %s: stale copy destroyed (%s)", id, detail);
    compute_event_add(p->st, id, "stale copy destroyed", detail, NULL);
    return 0;
}

/* Carries out reconcile_decide()'s action for one instance (h is NULL for
 * an instance without a host: only a delete comes here then).  A VM just
 * created is decided on again at once, as the table has it: a created
 * VM that runs makes the status running in the same pass. */
static void converge_instance(struct pass *p, struct host_ctx *h, json_t *inst, const json_t *vm)
{
    const char *id = jsonx_str(inst, "id");
    struct nubo_err err;
    json_t *made = NULL;
    sync_power(p, inst, vm);
    for (int round = 0; round < 2; round++) {
        const char *state = vm ? jsonx_str(vm, "state") : NULL;
        struct reconcile_input in = {
            .desired = jsonx_str(inst, "desired"),
            .status = jsonx_str(inst, "status"),
            .vm_state = state,
            .backing_off = backing_off(p->r, id),
            .stale = vm && compute_vm_stale(vm, inst),
        };
        /* A query, so asked only where the table looks at it. */
        in.in_group = state && is(state, "crashed") && is(in.desired, "running") &&
                      !is(in.status, "error") && !in.backing_off &&
                      scale_instance_in_group(p->st, id);
        enum reconcile_action a = reconcile_decide(&in);
        switch (a) {
        case RECONCILE_NOTHING:
            break;
        case RECONCILE_DELETE:
            converge_deleted(p, h, inst, vm);
            break;
        case RECONCILE_DESTROY_STALE:
            if (h == NULL || destroy_stale(p, h, inst, vm) < 0)
                break;
            vm = NULL;
            sync_power(p, inst, NULL);
            continue; /* decide again without it: a new copy is made */
        case RECONCILE_CREATE:
        case RECONCILE_CREATE_STOPPED:
            if (made != NULL || h == NULL)
                break;
            vm = made = converge_create(p, h, inst, a == RECONCILE_CREATE);
            if (made != NULL)
                continue; /* decide again on the new VM */
            break;
        case RECONCILE_FAIL: {
            /* A scaling group replaces a member that crashed (it may have
             * crashed for a reason a restart would not fix). */
            char fault[400];
            snprintf(fault, sizeof(fault), "VM crashed: %s; its scaling group replaces it",
                     jsonx_str(vm, "reason"));
            failed(p, inst, "VM crashed", fault, NULL);
            break;
        }
        case RECONCILE_START:
            converge_start(p, h, inst, vm);
            break;
        case RECONCILE_RESUME:
            if (vm_action(h, inst, "resume", NULL, ACTION_TIMEOUT_MS, NULL, &err) < 0 &&
                !transient_or_timeout(&err))
                refused(p, inst, "resume", "start", &err);
            break;
        case RECONCILE_REBOOT:
            converge_reboot(p, h, inst, vm);
            break;
        case RECONCILE_STOP:
            converge_stop(p, h, inst);
            break;
        case RECONCILE_REACHED_RUNNING:
            reached(p, inst, "running", -1, h->t.name);
            break;
        case RECONCILE_REACHED_STOPPED:
            reached(p, inst, "stopped", -1, h->t.name);
            break;
        }
        break;
    }
    json_decref(made);
}

/* Deletes VMs named "nubo-<uuid>" that no live instance of the host wants. */
static void remove_orphans(struct pass *p, struct host_ctx *h, const json_t *vms, json_t *insts)
{
    size_t i, j, pl = strlen(COMPUTE_VM_PREFIX);
    const json_t *vm, *inst;
    json_array_foreach (vms, i, vm) {
        const char *n = jsonx_str(vm, "name");
        if (strncmp(n, COMPUTE_VM_PREFIX, pl) != 0 || !valid_is_uuid(n + pl))
            continue;
        int wanted = 0;
        json_array_foreach (insts, j, inst) {
            wanted = wanted || is(jsonx_str(inst, "id"), n + pl);
        }
        /* Asked again, now: the VM may have become this host's since the
         * list was read (a live migration that targets or reached it). */
        if (wanted || compute_vm_wanted_on(p->st, n + pl, h->id) != 0)
            continue;
        /* A restored cloud leaves VMs made after its backup alone until an
         * admin has looked (fleet.h, "recovery"). */
        if (fleet_recovery_active()) {
            if (fleet_recovery_quarantine(h->id, h->t.name, n, jsonx_str(vm, "state"))) {
                log_warn("host %s: VM %s has no instance: quarantined (recovering from a"
                         " backup)",
                         h->t.name, n);
                if (compute_instance_exists(p->st, n + pl))
                    compute_event_add(p->st, n + pl, "VM quarantined (recovering)", h->t.name,
                                      NULL);
            }
            continue;
        }
        char path[128];
        snprintf(path, sizeof(path), "/v1/vms/%s", n);
        long status;
        json_t *out = NULL;
        struct nubo_err err;
        if (agent_call(&h->t, "DELETE", path, NULL, DELETE_TIMEOUT_MS, &status, &out, &err) < 0) {
            log_warn("host %s: orphan VM %s: %s", h->t.name, n, err.msg);
            continue;
        }
        json_decref(out);
        if (status != 204 && status != 404) {
            log_warn("host %s: cannot remove orphan VM %s (HTTP %ld)", h->t.name, n, status);
            continue;
        }
        log_warn("host %s: orphan VM %s removed", h->t.name, n);
        /* The event goes to the instance's history when it ever existed. */
        if (compute_instance_exists(p->st, n + pl))
            compute_event_add(p->st, n + pl, "orphan VM removed", h->t.name, NULL);
    }
}

/* ------------------------------------------------------------ volumes */

/* Calls the agent; 0 with *status on an answer, -1 with err (logged) when
 * it cannot be asked (retry next pass). */
static int vol_call(struct host_ctx *h, const char *method, const char *path, json_t *body,
                    long *status, json_t **out, struct nubo_err *err)
{
    if (agent_call(&h->t, method, path, body, ACTION_TIMEOUT_MS, status, out, err) < 0) {
        log_debug("host %s: %s %s: %s (retrying next pass)", h->t.name, method, path, err->msg);
        return -1;
    }
    return 0;
}

/* True when the VM's definition lists volume id. */
static int vm_has(const json_t *vm, const char *id)
{
    size_t i;
    const json_t *v;
    json_array_foreach (json_object_get(vm, "volumes"), i, v) {
        if (json_is_string(v) && is(json_string_value(v), id))
            return 1;
    }
    return 0;
}

/* The row of vols with this id, or NULL. */
static const json_t *vol_row(const json_t *vols, const char *id)
{
    size_t i;
    const json_t *v;
    json_array_foreach (vols, i, v) {
        if (is(jsonx_str(v, "id"), id))
            return v;
    }
    return NULL;
}

/* An agent's refusal as the volume's error, with what to do. */
static void vol_failed(struct pass *p, const json_t *vol, const char *what,
                       const struct nubo_err *why)
{
    char fault[512];
    struct nubo_err err;
    snprintf(fault, sizeof(fault), "%s failed on the host: %s; detach or delete the volume", what,
             why->msg);
    if (storage_volume_failed(p->st, jsonx_str(vol, "id"), jsonx_str(vol, "status"), fault, &err) <
        0)
        log_error("volume %s: %s", jsonx_str(vol, "id"), err.msg);
    else
        log_warn("volume %s: %s", jsonx_str(vol, "id"), fault);
}

/* The agent's create body of vol: {id, size_gib}, and the source of a
 * copy being made from a snapshot or a volume (storage.md, Snapshots). */
static json_t *vol_create_body(const json_t *vol)
{
    json_t *b = json_pack("{s:s, s:I}", "id", jsonx_str(vol, "id"), "size_gib",
                          (json_int_t)jint(vol, "size_gib"));
    if (!is(jsonx_str(vol, "status"), "creating") ||
        json_is_null(json_object_get(vol, "source_volume_id")))
        return b;
    json_t *src = json_pack("{s:s}", "volume_id", jsonx_str(vol, "source_volume_id"));
    if (!json_is_null(json_object_get(vol, "source_snapshot_id")))
        json_object_set_new(src, "snapshot_id", json_string(jsonx_str(vol, "source_snapshot_id")));
    json_object_set_new(b, "source", src);
    return b;
}

/* A 'creating' volume the agent has now: available. */
static void vol_created(struct pass *p, const json_t *vol)
{
    struct nubo_err err;
    if (!is(jsonx_str(vol, "status"), "creating"))
        return;
    fault_point("volume.copy.made"); /* lib/fault.h */
    if (storage_volume_created(p->st, jsonx_str(vol, "id"), &err) < 0)
        log_error("volume %s: %s", jsonx_str(vol, "id"), err.msg);
}

/* True when the agent's volume records (have) list snapshot sid of
 * volume vid. */
static int agent_has_snapshot(const json_t *have, const char *vid, const char *sid)
{
    size_t i, j;
    const json_t *v, *s;
    json_array_foreach (have, i, v) {
        if (!is(jsonx_str(v, "id"), vid))
            continue;
        json_array_foreach (json_object_get(v, "snapshots"), j, s) {
            if (is(jsonx_str(s, "id"), sid))
                return 1;
        }
    }
    return 0;
}

/* Converges the host's snapshots (storage.md, Snapshots) on the agent's
 * volume records (have): a 'creating' one is taken (idempotent; the
 * agent's 400/404/409 is the snapshot's error), then 'available'; a
 * 'deleting' one is dropped there (404 counts as done), then its row. */
static void converge_snapshots(struct pass *p, struct host_ctx *h, const json_t *have)
{
    struct nubo_err err;
    long status;
    char path[192];
    json_t *snaps = storage_host_snapshots(p->st, h->id, &err);
    if (snaps == NULL) {
        log_error("host %s: cannot load its snapshots: %s", h->t.name, err.msg);
        return;
    }
    size_t i;
    const json_t *s;
    json_array_foreach (snaps, i, s) {
        const char *id = jsonx_str(s, "id"), *vid = jsonx_str(s, "volume_id");
        const char *st = jsonx_str(s, "status");
        int on_agent = agent_has_snapshot(have, vid, id);
        json_t *o = NULL;
        snprintf(path, sizeof(path), "/v1/volumes/%s/snapshots", vid);
        if (is(st, "creating")) {
            if (!on_agent) {
                json_t *b = json_pack("{s:s}", "id", id);
                int rc = vol_call(h, "POST", path, b, &status, &o, &err);
                json_decref(b);
                if (rc < 0) {
                    continue;
                } else if (status == 400 || status == 404 || status == 409) {
                    char fault[512];
                    agent_answer_error(&h->t, status, o, &err);
                    snprintf(fault, sizeof(fault),
                             "taking the snapshot failed on the host: %s; delete the snapshot",
                             err.msg);
                    if (storage_snapshot_failed(p->st, id, fault, &err) < 0)
                        log_error("snapshot %s: %s", id, err.msg);
                    json_decref(o);
                    continue;
                } else if (status != 200 && status != 201) {
                    agent_answer_error(&h->t, status, o, &err);
                    log_warn("host %s: snapshot %s: %s (retrying)", h->t.name, id, err.msg);
                    json_decref(o);
                    continue;
                }
                log_info("host %s: snapshot %s of volume %s taken", h->t.name, id, vid);
            }
            fault_point("snapshot.taken"); /* lib/fault.h */
            if (storage_snapshot_created(p->st, id, &err) < 0)
                log_error("snapshot %s: %s", id, err.msg);
        } else if (is(st, "deleting")) {
            if (on_agent) {
                snprintf(path, sizeof(path), "/v1/volumes/%s/snapshots/%s", vid, id);
                if (vol_call(h, "DELETE", path, NULL, &status, &o, &err) < 0)
                    continue;
                if (status != 204 && status != 404) {
                    agent_answer_error(&h->t, status, o, &err);
                    log_warn("host %s: snapshot %s: %s (retrying)", h->t.name, id, err.msg);
                    json_decref(o);
                    continue;
                }
                fault_point("snapshot.dropped"); /* lib/fault.h */
            }
            if (storage_snapshot_removed(p->st, id, &err) < 0)
                log_error("snapshot %s: %s", id, err.msg);
            else
                log_info("host %s: snapshot %s deleted", h->t.name, id);
        }
        json_decref(o);
    }
    json_decref(snaps);
}

/* Converges the volumes placed on the host (docs/internals/storage.md):
 * the agent has every live one (created when missing: idempotent), VMs
 * have the attachments that are wanted and no other of our volumes, the
 * statuses follow (attaching -> in-use, detaching -> available), and
 * deleted volumes go from the agent, then their rows.  vms is the agent's
 * VM list read at the start of the pass. */
static void converge_volumes(struct pass *p, struct host_ctx *h, const json_t *vms)
{
    struct nubo_err err;
    long status;
    json_t *out = NULL, *vols = storage_host_volumes(p->st, h->id, &err);
    if (vols == NULL) {
        log_error("host %s: cannot load its volumes: %s", h->t.name, err.msg);
        return;
    }
    if (json_array_size(vols) == 0 ||
        vol_call(h, "GET", "/v1/volumes", NULL, &status, &out, &err) < 0 || status != 200) {
        json_decref(vols);
        json_decref(out);
        return;
    }
    json_t *have = json_object_get(out, "volumes");
    size_t i, j;
    const json_t *vol, *vm;
    char path[192];
    /* 1. the agent has every volume that is not being deleted; deleted
     *    ones go (the agent refuses while a VM has it: detached below). */
    json_array_foreach (vols, i, vol) {
        const char *id = jsonx_str(vol, "id");
        int on_agent = 0;
        json_array_foreach (have, j, vm) {
            on_agent = on_agent || is(jsonx_str(vm, "id"), id);
        }
        json_t *o = NULL;
        if (is(jsonx_str(vol, "status"), "deleting")) {
            snprintf(path, sizeof(path), "/v1/volumes/%s", id);
            if (on_agent && vol_call(h, "DELETE", path, NULL, &status, &o, &err) == 0 &&
                status != 204 && status != 404) {
                agent_answer_error(&h->t, status, o, &err);
                log_warn("host %s: volume %s: %s (retrying)", h->t.name, id, err.msg);
            } else if (!on_agent || status == 204 || status == 404) {
                if (storage_volume_removed(p->st, id, &err) < 0)
                    log_error("volume %s: %s", id, err.msg);
                else
                    log_info("host %s: volume %s deleted", h->t.name, id);
            }
        } else if (!on_agent && !is(jsonx_str(vol, "status"), "error")) {
            json_t *b = vol_create_body(vol);
            if (vol_call(h, "POST", "/v1/volumes", b, &status, &o, &err) == 0 && status != 200 &&
                status != 201) {
                agent_answer_error(&h->t, status, o, &err);
                vol_failed(p, vol, "creating the volume", &err);
            } else if (status == 200 || status == 201) {
                log_info("host %s: volume %s created", h->t.name, id);
                vol_created(p, vol);
            }
            json_decref(b);
        } else if (on_agent) {
            vol_created(p, vol);
        }
        json_decref(o);
    }
    converge_snapshots(p, h, have);
    /* 2. detach what no longer is wanted where it is. */
    json_array_foreach (vms, i, vm) {
        const char *n = jsonx_str(vm, "name");
        size_t pl = strlen(COMPUTE_VM_PREFIX);
        if (strncmp(n, COMPUTE_VM_PREFIX, pl) != 0)
            continue;
        const json_t *vid;
        json_array_foreach (json_object_get(vm, "volumes"), j, vid) {
            const json_t *row = vol_row(vols, json_string_value(vid));
            if (row == NULL || (json_is_true(json_object_get(row, "wanted")) &&
                                is(jsonx_str(row, "attached_to"), n + pl)))
                continue;
            json_t *o = NULL;
            snprintf(path, sizeof(path), "/v1/vms/%s/volumes/%s", n, json_string_value(vid));
            if (vol_call(h, "DELETE", path, NULL, &status, &o, &err) == 0 && status != 200 &&
                status != 404) {
                agent_answer_error(&h->t, status, o, &err);
                log_warn("host %s: detach of volume %s from %s: %s (retrying)", h->t.name,
                         json_string_value(vid), n, err.msg);
            }
            json_decref(o);
        }
    }
    /* 3. attach what is wanted, and let the statuses follow. */
    json_array_foreach (vols, i, vol) {
        const char *id = jsonx_str(vol, "id"), *st = jsonx_str(vol, "status");
        const json_t *ivm = NULL;
        if (!json_is_null(json_object_get(vol, "attached_to")))
            ivm = find_vm(vms, jsonx_str(vol, "attached_to"));
        if (json_is_true(json_object_get(vol, "wanted"))) {
            if (ivm == NULL)
                continue; /* its VM is not created yet */
            if (!vm_has(ivm, id)) {
                json_t *o = NULL, *b = json_pack("{s:s}", "volume_id", id);
                snprintf(path, sizeof(path), "/v1/vms/%s/volumes", jsonx_str(ivm, "name"));
                int rc = vol_call(h, "POST", path, b, &status, &o, &err);
                json_decref(b);
                if (rc == 0 && status != 200) {
                    agent_answer_error(&h->t, status, o, &err);
                    if (status == 400 || status == 409)
                        vol_failed(p, vol, "attaching the volume", &err);
                    else
                        log_warn("host %s: attach of volume %s: %s (retrying)", h->t.name, id,
                                 err.msg);
                }
                json_decref(o);
                if (rc < 0 || status != 200)
                    continue;
                log_info("host %s: volume %s attached to %s", h->t.name, id,
                         jsonx_str(ivm, "name"));
            }
            if (is(st, "attaching") && storage_volume_attached(p->st, id, &err) < 0)
                log_error("volume %s: %s", id, err.msg);
        } else if (is(st, "detaching") || is(st, "attaching") || is(st, "in-use")) {
            /* Not wanted (detached, or its instance went): available once
             * no VM of the host has it. */
            int held = 0;
            json_array_foreach (vms, j, vm) {
                held = held || vm_has(vm, id);
            }
            if (held)
                continue; /* the detach above is retried next pass */
            if (storage_volume_detached(p->st, id, st, &err) < 0)
                log_error("volume %s: %s", id, err.msg);
        }
    }
    json_decref(out);
    json_decref(vols);
}

/* Pushes the host's desired network state (src/network) when the agent's
 * generation differs: bridges, VXLANs, DHCP, firewall and floating IPs
 * are the agent's to converge (docs/internals/networking.md).  Done
 * before the VMs so that their taps find their bridges. */
static void converge_network(struct pass *p, struct host_ctx *h)
{
    struct nubo_err err;
    json_t *doc = network_host_document(p->st, h->id, &err);
    if (doc == NULL) {
        log_error("host %s: cannot build its network document: %s", h->t.name, err.msg);
        return;
    }
    long status;
    json_t *out = NULL;
    if (agent_call(&h->t, "GET", "/v1/network", NULL, LIST_TIMEOUT_MS, &status, &out, &err) < 0) {
        log_debug("%s (retrying next pass)", err.msg);
        goto done;
    }
    const char *want = jsonx_str(doc, "generation");
    const char *have = status == 200 ? json_string_value(json_object_get(out, "generation")) : NULL;
    int ok = status == 200 && json_is_true(json_object_get(out, "ok"));
    if (have && strcmp(have, want) == 0 && ok)
        goto done;
    json_decref(out);
    out = NULL;
    if (agent_call(&h->t, "PUT", "/v1/network", doc, CREATE_TIMEOUT_MS, &status, &out, &err) < 0) {
        log_warn("host %s: network push: %s (retrying next pass)", h->t.name, err.msg);
        goto done;
    }
    if (status != 200 || !json_is_true(json_object_get(out, "ok"))) {
        char *why = json_dumps(out ? out : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
        log_warn("host %s: network push answered %ld: %s", h->t.name, status, why ? why : "?");
        free(why);
    } else
        log_info("host %s: network state %.12s applied", h->t.name, want);
done:
    json_decref(out);
    json_decref(doc);
}

/* What became of a host's turn. */
enum host_outcome {
    HOST_OK = 0,      /* its agent answered its VM list */
    HOST_UNREACHABLE, /* no connection (no agent there): it will go silent too */
    HOST_HUNG,        /* connected but no answer in time, or a bad one: a hung agent */
};

/* Converges one host (a row {id, name, address, agent_token, fenced_at}). */
static enum host_outcome converge_host(struct pass *p, const json_t *host)
{
    struct host_ctx h = {
        .t = {.name = jsonx_str(host, "name"),
              .address = jsonx_str(host, "address"),
              .token = jsonx_str(host, "agent_token")},
        .id = jsonx_str(host, "id"),
    };
    int fenced = !json_is_null(json_object_get(host, "fenced_at"));
    struct nubo_err err;
    long status;
    json_t *out = NULL;
    if (agent_call(&h.t, "GET", "/v1/vms", NULL, LIST_TIMEOUT_MS, &status, &out, &err) < 0) {
        log_debug("%s (retrying after the host's back-off)", err.msg);
        return transient(&err) ? HOST_UNREACHABLE : HOST_HUNG;
    }
    json_t *vms = json_object_get(out, "vms");
    if (status != 200 || !json_is_array(vms)) {
        log_warn("host %s: GET /v1/vms answered %ld; skipping it for now", h.t.name, status);
        json_decref(out);
        return HOST_HUNG;
    }
    /* A fenced host has no live instance: every VM of ours is an orphan. */
    if (!fenced)
        converge_network(p, &h);
    json_t *insts = compute_instances_on_host(p->st, h.id, &err);
    if (insts == NULL) {
        log_error("host %s: cannot load its instances: %s", h.t.name, err.msg);
        json_decref(out);
        return HOST_OK;
    }
    size_t i;
    json_t *inst;
    json_array_foreach (insts, i, inst) {
        converge_instance(p, &h, inst, find_vm(vms, jsonx_str(inst, "id")));
    }
    remove_orphans(p, &h, vms, insts);
    converge_volumes(p, &h, vms);
    json_decref(insts);
    json_decref(h.images);
    json_decref(out);
    return HOST_OK;
}

/* ------------------------------------------------------------ liveness */

/* Hosts silent for host_down_ms go down, and their instances unknown.
 * Silence is the monotonic time since the host was last heard from
 * (fleet_liveness_last()), counted from r->grace_from at the earliest. */
static void mark_down(struct pass *p)
{
    const struct ctrl_cfg *cfg = ctrl_cfg(p->c);
    struct reconciler *r = p->r;
    int64_t now = clock_mono_ms();
    /* This thread runs at least every reconcile_ms.  When it ran much
     * later, the controller was stalled (frozen, swapping, starved):
     * heartbeats may have waited unread meanwhile, so silence counts
     * afresh from now. */
    if (r->last_pass > 0 && now - r->last_pass > cfg->reconcile_ms + STALL_SLACK_MS) {
        log_warn("the controller was stalled for %lld ms: host liveness counts from now",
                 (long long)(now - r->last_pass));
        r->grace_from = now;
    }
    r->last_pass = now;
    if (now - r->grace_from < cfg->host_down_ms)
        return;
    /* Nor while heartbeats may have been refused for a full disk, and for
     * as long again after: the hosts were not silent, the store was. */
    long long full_at = store_full_at_ms(p->st);
    if (full_at > 0 && clock_mono_ms() - full_at < cfg->host_down_ms)
        return;
    struct nubo_err err;
    json_t *rows = store_query(p->st, &err, "SELECT id, name FROM hosts WHERE state = 'up'", "");
    size_t i;
    json_t *host;
    json_array_foreach (rows, i, host) {
        const char *id = jsonx_str(host, "id");
        int64_t seen = fleet_liveness_last(id);
        if (seen < r->grace_from)
            seen = r->grace_from;
        if (now - seen <= cfg->host_down_ms)
            continue;
        if (store_begin(p->st, true, &err) < 0)
            continue;
        /* Asked again under the write lock: a heartbeat records itself
         * before its transaction, so one that came meanwhile is seen. */
        int64_t again = fleet_liveness_last(id);
        long long n = 0;
        if (again > seen && clock_mono_ms() - again <= cfg->host_down_ms)
            n = 0;
        else
            n = store_exec(p->st, &err,
                           "UPDATE hosts SET state = 'down' WHERE id = ? AND state = 'up'", "s",
                           id);
        /* All or nothing; the next pass tries again. */
        long long unknown =
            n == 1 ? compute_instances_host_down(p->st, id, jsonx_str(host, "name"), &err) : 0;
        if (n == 1 && unknown >= 0)
            fault_point("transition.host_down"); /* lib/fault.h */
        if (n < 0 || unknown < 0) {
            store_rollback(p->st);
            log_error("host %s: cannot mark it down: %s", jsonx_str(host, "name"), err.msg);
        } else if (store_commit(p->st, &err) < 0) {
            store_rollback(p->st);
            log_error("host %s: cannot mark it down: %s", jsonx_str(host, "name"), err.msg);
        } else if (n == 1) {
            fault_point("transition.host_down.committed");
            log_warn("host %s (%s) is down: nothing heard from it for %lld ms; %lld instance(s) "
                     "unknown",
                     jsonx_str(host, "name"), id, (long long)(now - seen), unknown);
        }
    }
    json_decref(rows);
}

/* Hosts down with ha instances on them: fenced first (fleet_host_fence:
 * the epoch grows, the fencing hook must confirm), then each ha instance
 * is re-placed on another host (compute_instance_evacuate) and rebuilt
 * there by the host's worker.  A hook that fails, or no room for an
 * instance, is retried after the back-off of the host or the instance
 * (memos keyed by their ids); docs/internals/mobility.md. */
static void fence_and_evacuate(struct pass *p)
{
    const struct ctrl_cfg *cfg = ctrl_cfg(p->c);
    struct nubo_err err;
    json_t *hosts = fleet_hosts_down(p->st, &err);
    size_t i, j;
    json_t *host, *inst;
    json_array_foreach (hosts, i, host) {
        const char *hid = jsonx_str(host, "id");
        json_t *insts = compute_instances_evacuable(p->st, hid, &err);
        if (json_array_size(insts) == 0 || backing_off(p->r, hid)) {
            json_decref(insts);
            continue;
        }
        int rc = fleet_host_fence(p->st, hid, cfg->fence_hook, cfg->fence_timeout_ms, &err);
        /* The hook's time is not a stall of the controller (heartbeats were
         * read meanwhile): mark_down() must not give every host a fresh
         * grace for it. */
        p->r->last_pass = clock_mono_ms();
        if (rc < 0) {
            /* Only the ha instances wait for the fence. */
            json_t *ids = json_array();
            json_array_foreach (insts, j, inst) {
                json_array_append(ids, json_object_get(inst, "id"));
            }
            struct nubo_err eerr;
            if (store_begin(p->st, true, &eerr) == 0) {
                if (compute_instances_host_event(p->st, hid, ids, "fencing failed", err.msg,
                                                 &eerr) < 0 ||
                    store_commit(p->st, &eerr) < 0)
                    store_rollback(p->st);
            }
            json_decref(ids);
            backoff(p->r, hid);
        } else if (rc > 0) {
            backoff_clear(p->r, hid);
            json_array_foreach (insts, j, inst) {
                const char *id = jsonx_str(inst, "id");
                char to[64];
                if (backing_off(p->r, id))
                    continue;
                int moved = compute_instance_evacuate(p->st, id, hid, to, &err);
                if (moved < 0) {
                    log_warn("instance %s: cannot evacuate it from host %s: %s", id,
                             jsonx_str(host, "name"), err.msg);
                    backoff(p->r, id);
                } else
                    backoff_clear(p->r, id);
            }
        }
        json_decref(insts);
    }
    json_decref(hosts);
}

/* Instances deleted that have no host to clean up: done at once. */
static void delete_hostless(struct pass *p)
{
    struct nubo_err err;
    json_t *rows = compute_instances_hostless_deleting(p->st, &err);
    size_t i;
    json_t *inst;
    json_array_foreach (rows, i, inst) {
        converge_deleted(p, NULL, inst, NULL);
    }
    json_decref(rows);
}

/* Instances deleted on hosts that are down: the delete completes without
 * the host (usage closed, quota freed); if the host comes back, their VMs
 * are orphans and go (remove_orphans()). */
static void delete_on_down_hosts(struct pass *p)
{
    struct nubo_err err;
    json_t *rows = compute_instances_down_deleting(p->st, &err);
    size_t i;
    json_t *inst;
    json_array_foreach (rows, i, inst) {
        const char *id = jsonx_str(inst, "id");
        char detail[128];
        snprintf(detail, sizeof(detail),
                 "host %s is down: its VM is destroyed if the host comes back",
                 jsonx_str(inst, "host_name"));
        int rc = compute_instance_deleted(p->st, id, detail, &err);
        if (rc < 0)
            log_error("instance %s: cannot record the delete: %s", id, err.msg);
        if (rc > 0)
            memo_drop(p->r, id);
    }
    json_decref(rows);
}

/* ------------------------------------------------------------ workers */

/* The slot of host id (created), under r->mu. */
static struct slot *slot_get(struct reconciler *r, const char *id)
{
    for (size_t i = 0; i < r->nslots; i++)
        if (strcmp(r->slots[i]->id, id) == 0)
            return r->slots[i];
    if (r->nslots == r->aslots) {
        r->aslots = r->aslots ? r->aslots * 2 : 16;
        struct slot **a = realloc(r->slots, r->aslots * sizeof(*a));
        if (a == NULL)
            abort();
        r->slots = a;
    }
    struct slot *sl = xcalloc(1, sizeof(*sl));
    str_copy(sl->id, sizeof(sl->id), id);
    r->slots[r->nslots++] = sl;
    return sl;
}

/* Under r->mu: queues sl for a worker. */
static void slot_queue(struct reconciler *r, struct slot *sl)
{
    sl->busy = true;
    sl->next_queued = NULL;
    if (r->queue_tail)
        r->queue_tail->next_queued = sl;
    else
        r->queue = sl;
    r->queue_tail = sl;
    pthread_cond_signal(&r->cv);
}

/* One host's turn on a worker: reads its row afresh (it may have gone or
 * changed since the pass), converges it and records whether its agent
 * answers: a hung one (connected, no answer) is no placement target until
 * it answers again.  One that cannot be connected to at all keeps its
 * flag: it stops heartbeating too and goes down.  Returns -1 when the
 * host should back off. */
static int host_job(struct pass *p, const char *id)
{
    struct nubo_err err;
    json_t *host = store_query_one(p->st, &err,
                                   "SELECT id, name, address, agent_token, state, fenced_at,"
                                   " reachable FROM hosts WHERE id = ?",
                                   "s", id);
    if (host == NULL)
        return 0; /* deleted meanwhile */
    enum host_outcome rc = HOST_OK;
    if (is(jsonx_str(host, "state"), "up") || !json_is_null(json_object_get(host, "fenced_at"))) {
        /* one id per host and pass, in this log and (as X-Request-Id) the agent's */
        char rid[80];
        snprintf(rid, sizeof(rid), "reconcile-%lld-%.40s", (long long)clock_mono_ms(),
                 jsonx_str(host, "name"));
        log_set_request_id(rid);
        rc = converge_host(p, host);
        log_set_request_id(NULL);
        int was = jint(host, "reachable") != 0;
        if ((rc == HOST_OK && !was) || (rc == HOST_HUNG && was)) {
            if (fleet_host_set_reachable(p->st, id, rc == HOST_OK, &err) < 0)
                log_error("host %s: cannot record whether it answers: %s", jsonx_str(host, "name"),
                          err.msg);
            else if (rc == HOST_HUNG)
                log_warn("host %s: its agent does not answer; no placement on it until it does",
                         jsonx_str(host, "name"));
            else
                log_info("host %s: its agent answers again", jsonx_str(host, "name"));
        }
    }
    json_decref(host);
    return rc == HOST_OK ? 0 : -1;
}

static void *worker(void *arg)
{
    struct reconciler *r = arg;
    struct pass p = {.c = r->c, .st = ctrl_store(r->c), .r = r};
    snprintf(p.image_dir, sizeof(p.image_dir), "%s/images", ctrl_cfg(r->c)->state_dir);
    pthread_mutex_lock(&r->mu);
    while (!r->stopping) {
        struct slot *sl = r->queue;
        if (sl == NULL) {
            pthread_cond_wait(&r->cv, &r->mu);
            continue;
        }
        r->queue = sl->next_queued;
        if (r->queue == NULL)
            r->queue_tail = NULL;
        sl->again = false;
        char id[37];
        str_copy(id, sizeof(id), sl->id);
        pthread_mutex_unlock(&r->mu);
        int rc = host_job(&p, id);
        pthread_mutex_lock(&r->mu);
        if (rc < 0) {
            int64_t delay = HOST_BACKOFF_MIN_MS;
            for (int i = 0; i < sl->fails && delay < HOST_BACKOFF_MAX_MS; i++)
                delay *= 2;
            sl->fails++;
            sl->retry_at =
                clock_mono_ms() + (delay < HOST_BACKOFF_MAX_MS ? delay : HOST_BACKOFF_MAX_MS);
            sl->busy = false;
        } else {
            sl->fails = 0;
            sl->retry_at = 0;
            if (sl->again && !r->stopping)
                slot_queue(r, sl);
            else
                sl->busy = false;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* Hands host id to the workers (starting them the first time): queued
 * when idle and not backing off, marked for one more run when busy. */
static void dispatch(struct reconciler *r, struct ctrl *c, const char *id)
{
    pthread_mutex_lock(&r->mu);
    if (r->nworkers == 0 && !r->stopping) {
        r->c = c;
        for (int i = 0; i < RECONCILE_WORKERS; i++) {
            if (pthread_create(&r->workers[r->nworkers], NULL, worker, r) != 0) {
                log_error("reconcile: cannot start a worker thread");
                break;
            }
            r->nworkers++;
        }
    }
    struct slot *sl = slot_get(r, id);
    if (sl->busy)
        sl->again = true;
    else if (sl->retry_at <= clock_mono_ms())
        slot_queue(r, sl);
    pthread_mutex_unlock(&r->mu);
}

void ctrl_reconcile(struct ctrl *c)
{
    struct pass p = {.c = c, .st = ctrl_store(c), .r = ctrl_reconciler(c)};
    snprintf(p.image_dir, sizeof(p.image_dir), "%s/images", ctrl_cfg(c)->state_dir);
    mark_down(&p);
    fence_and_evacuate(&p);
    delete_hostless(&p);
    delete_on_down_hosts(&p);
    ctrl_note_migrations(c, migrate_converge(c));
    drain_converge(c);
    cold_converge(c);
    struct nubo_err err;
    json_t *hosts = store_query(p.st, &err,
                                "SELECT id, state FROM hosts WHERE state = 'up'"
                                " OR fenced_at IS NOT NULL ORDER BY created_at, id",
                                "");
    if (hosts == NULL) {
        log_error("reconcile: cannot load hosts: %s", err.msg);
        return;
    }
    int64_t now = clock_mono_ms();
    size_t i;
    json_t *host;
    json_array_foreach (hosts, i, host) {
        const char *id = jsonx_str(host, "id");
        /* A fenced host is only worth a call when it was heard from. */
        int64_t seen = fleet_liveness_last(id);
        if (!is(jsonx_str(host, "state"), "up") &&
            (seen == 0 || now - seen > ctrl_cfg(c)->host_down_ms))
            continue;
        dispatch(p.r, c, id);
    }
    json_decref(hosts);
}

/* ------------------------------------------------------------ mobility */

/* For the live-migration driver (migrate.c, ctrl_int.h). */

json_t *reconcile_vm_body(struct ctrl *c, const struct agent_target *t, const char *host_id,
                          json_t *inst, struct nubo_err *err)
{
    struct pass p = {.c = c, .st = ctrl_store(c), .r = ctrl_reconciler(c)};
    snprintf(p.image_dir, sizeof(p.image_dir), "%s/images", ctrl_cfg(c)->state_dir);
    struct host_ctx h = {.t = *t, .id = host_id};
    json_t *image = store_query_one(p.st, err,
                                    "SELECT id, status, has_kernel, has_initrd, cmdline,"
                                    " checksum_sha256, virtual_size_bytes FROM images WHERE id = ?",
                                    "s", jsonx_str(inst, "image_id"));
    json_t *body = NULL;
    if (image && ensure_image(&p, &h, image, err) == 0)
        body = create_body(&p, inst, image, 1, err);
    json_decref(image);
    json_decref(h.images);
    return body;
}

void reconcile_network_push(struct ctrl *c, const struct agent_target *t, const char *host_id)
{
    struct pass p = {.c = c, .st = ctrl_store(c), .r = ctrl_reconciler(c)};
    struct host_ctx h = {.t = *t, .id = host_id};
    converge_network(&p, &h);
}
