/*
 * compute.h - compute as a service: flavors, images, keypairs, server
 * groups, instances, their events and tasks.
 *
 * Services take the caller's struct ctx and select tenant resources by
 * ctx->project_id inside their queries; another project's resource is
 * NUBO_E_NOTFOUND, exactly like a missing one.
 *
 * Instance lifecycle (the instances table, see src/store/schema.c):
 *   status   building -> running | error; stopping -> stopped; rebooting ->
 *            running; deleting -> deleted; unknown while its host is down
 *   desired  what the reconciler makes the host do: running | stopped |
 *            deleted
 * The API sets desired (and a transitional status) and creates a task; the
 * reconciler (src/ctrl/reconcile.c) drives the host agent, follows the
 * heartbeats, and moves status through the transitions below, which
 * append events and finish tasks in the same transaction.  Only this
 * module writes instance rows (docs/internals/instance-states.md).
 *
 * On a host, the VM of instance <id> is named "nubo-<id>".
 */
#ifndef NUBO_COMPUTE_H
#define NUBO_COMPUTE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "identity/identity.h"
#include "lib/agent_client.h"
#include "lib/err.h"
#include "network/network.h"
#include "sched/sched.h"
#include "store/store.h"

#define COMPUTE_VM_PREFIX AGENT_VM_PREFIX

/* ---- the controller's settings (runtime.c) ---------------------------- */

/* The scheduler's configuration for creates that give none (the API's);
 * set once at start, before threads.  Until then: spread, ratios 4/1/1. */
void compute_configure(const struct sched_cfg *sched);

/* fn(arg) is called after every committed change of an instance that the
 * reconciler must act on (create, delete, start, stop, reboot); the
 * controller makes it wake the reconciler.  Set once before threads
 * start; NULL disables it. */
void compute_set_change_hook(void (*fn)(void *), void *arg);

/* Appends an event to an instance's history (never fails the caller). */
void compute_event_add(struct store *st, const char *instance_id, const char *event,
                       const char *detail, const char *request_id);

/* Appends event (with detail) to the history of every instance placed on
 * host_id that is not deleted, or, when ids (a JSON array of instance
 * ids) is not NULL, of those of them whose id is in ids: what a host
 * reports about its instances (a heartbeat's datapath problems) reaches
 * only the instances placed there.  In the caller's transaction.
 * Returns how many events, or -1 with err. */
long long compute_instances_host_event(struct store *st, const char *host_id, const json_t *ids,
                                       const char *event, const char *detail, struct nubo_err *err);

/* Creates a task (status pending) for an operation on an instance; writes
 * its id into task_id.  Runs in the caller's transaction if any. */
int compute_task_create(struct store *st, const char *project_id, const char *instance_id,
                        const char *kind, const char *request_id, char task_id[37],
                        struct nubo_err *err);

/* Finishes every open task of the instance whose kind is in kinds
 * (comma-separated, e.g. "create,start"): status succeeded, or failed with
 * error when error != NULL. */
void compute_task_finish(struct store *st, const char *instance_id, const char *kinds,
                         const char *error);

/* Marks open tasks of an instance as running. */
void compute_task_running(struct store *st, const char *instance_id);

/* ---- instance transitions (transition.c) --------------------------------
 *
 * src/compute is the only module that writes instance rows: the services
 * below (create, delete, actions: the API's intent) and these transitions,
 * which move an instance on when the reconciler (src/ctrl/reconcile.c),
 * a heartbeat (src/fleet) or a host or project removal sees it move.
 * docs/internals/instance-states.md draws who moves which edge.
 *
 * The transitions on one instance are compare-and-set: they change the
 * row only while it still has the status (and desired state) the caller
 * read, so an API call that changed the instance meanwhile wins and the
 * next pass acts on it.  Each opens ONE write transaction holding the row
 * change and its side effects (usage records through
 * billing_instance_meter(), events, tasks), so it must be called outside
 * any transaction.  Each returns 1 when it changed the instance, 0 when
 * the instance had moved on (nothing was done), -1 with err on failure
 * (nothing was done).
 *
 * The host-wide ones (compute_instances_observe, _host_down, _unplace)
 * and compute_project_purge run inside the caller's write transaction,
 * which also changes the host or project row.
 */

/* The instance reached status ("running" or "stopped"), its desired state,
 * on host host_name: status set, fault cleared, boots set when boots >= 0
 * (a finished reboot), event "running", "rebooted" (from rebooting) or
 * "stopped", and the tasks of the operations that ended finished.
 * Compares with seen_status and desired (the caller's read); an instance
 * that already has status is left alone (0). */
int compute_instance_reached(struct store *st, const char *id, const char *seen_status,
                             const char *desired, const char *status, long long boots,
                             const char *host_name, struct nubo_err *err);

/* The instance failed for good (a create the agent refused, a crashed
 * member of a scaling group): status error with fault, an event (event,
 * fault), and the open tasks of finish_kinds (comma-separated, or NULL
 * for none) failed with fault. */
int compute_instance_error(struct store *st, const char *id, const char *seen_status,
                           const char *desired, const char *event, const char *fault,
                           const char *finish_kinds, struct nubo_err *err);

/* The agent refused an operation that is retried later (start, stop,
 * resume, delete): event "<what> failed" with reason and the open tasks of
 * kind failed.  The row itself does not change, so there is nothing to
 * compare: returns 1, or -1 with err. */
int compute_instance_refused(struct store *st, const char *id, const char *what, const char *kind,
                             const char *reason, struct nubo_err *err);

/* The agent refused a reboot: event "reboot failed", the reboot task
 * failed with reason, and status back from rebooting to running (compared
 * with desired running and status rebooting; the event and task are
 * recorded either way). */
int compute_instance_reboot_failed(struct store *st, const char *id, const char *reason,
                                   struct nubo_err *err);

/* Records the boot counter seen before a reboot (while status is still
 * seen_status). */
int compute_instance_boots(struct store *st, const char *id, const char *seen_status,
                           long long boots, struct nubo_err *err);

/* The reboot was sent to host host_name: its task is running, event
 * "reboot requested".  No row change: returns 1, or -1 with err. */
int compute_instance_reboot_sent(struct store *st, const char *id, const char *host_name,
                                 struct nubo_err *err);

/* Records what the host reports of the instance's VM: power_state (a VM
 * state, or "none") and boots.  An observation, not a decision: the
 * newest wins, so it compares nothing but skips a row that already has
 * these values (0).  One statement, so one transaction by itself. */
int compute_instance_power(struct store *st, const char *id, const char *power_state,
                           long long boots, struct nubo_err *err);

/* Its VM is gone (or never existed) and desired is deleted: status
 * deleted, power none, usage closed, tenant ports released, event
 * "deleted" (detail: host_name), the delete task succeeded and the others
 * failed.  Compares with desired deleted and status not deleted. */
int compute_instance_deleted(struct store *st, const char *id, const char *host_name,
                             struct nubo_err *err);

/* A heartbeat of host_id reported vms [{name, state, boots}] (borrowed):
 * every live instance placed there takes its VM's state (none when it has
 * no VM) and boots (kept while rebooting: the reconciler compares the
 * count after the reboot with the one before).  *changed is set when a
 * row changed or a VM named nubo-<uuid> belongs to no live instance there
 * (an orphan to remove).  In the caller's transaction.  0 or -1 with err. */
int compute_instances_observe(struct store *st, const char *host_id, const json_t *vms,
                              int *changed, struct nubo_err *err);

/* Host host_id (named host_name) went down: its live instances (not
 * error, deleting, deleted or unknown) become unknown, metered and with
 * event "host down".  In the caller's transaction.  Returns how many, or
 * -1 with err. */
long long compute_instances_host_down(struct store *st, const char *host_id, const char *host_name,
                                      struct nubo_err *err);

/* Host host_id (named host_name) was force-removed (dead for good,
 * fenced): every instance placed there that is not deleted is deleted now
 * (desired and status deleted, power none; an unknown one's running time
 * ends at the host's last heartbeat, billing_instance_lost(); the rest of
 * its usage closed; ports released; event "deleted"; the delete task
 * succeeded, the others failed).  In the caller's transaction.  Returns
 * how many, or -1 with err. */
long long compute_instances_host_removed(struct store *st, const char *host_id,
                                         const char *host_name, struct nubo_err *err);

/* Evacuation (docs/internals/mobility.md): the ha instance id, unknown on
 * the down and fenced host from_host_id, is re-placed on to_host_id: its
 * running time on the dead host ends at that host's last heartbeat, its
 * generation grows by one, status building (rebuilt from its image by the
 * reconciler), power_state none, its ports (IPs, MACs, floating IPs)
 * follow it, an "evacuate" task is opened (finished when it is running or
 * stopped again) and the event "evacuated" recorded.  In the caller's
 * write transaction (compute_instance_evacuate()).  1 when moved, 0 when
 * it had moved on (not unknown there any more), -1 with err. */
int compute_instance_replaced(struct store *st, const char *id, const char *from_host_id,
                              const char *from_name, const char *to_host_id, const char *to_name,
                              struct nubo_err *err);

/* True when the agent's VM vm ({name, generation?}) is an older
 * generation than the instance row inst ({generation}): a stale copy,
 * left by an evacuation, that is destroyed and never taken for the
 * instance (a VM without a generation, from an older agent, is not). */
bool compute_vm_stale(const json_t *vm, const json_t *inst);

/* ---- evacuation (evacuate.c) ----------------------------------------- */

/* The instances to rebuild elsewhere because host_id is down: those with
 * ha, status unknown and not being deleted, rows {id, name} in creation
 * order (new reference), or NULL with err. */
json_t *compute_instances_evacuable(struct store *st, const char *host_id, struct nubo_err *err);

/* Evacuates instance id from host from_host_id (which must be down and
 * fenced for HA: fleet_host_fence()): the scheduler places it on another
 * host (capacity, accel and server group as at create), then
 * compute_instance_replaced(), all in one write transaction.  Returns 1
 * when moved (to_name receives the new host's name), 0 when there was
 * nothing to do (the instance or the host moved on), or -1 with err:
 * NUBO_E_CAPACITY when no host fits (the event "evacuation failed" is
 * recorded; the caller retries later). */
int compute_instance_evacuate(struct store *st, const char *id, const char *from_host_id,
                              char to_name[64], struct nubo_err *err);

/* The VMs host_id may run: [{name: "nubo-<id>", generation}] of the
 * instances placed there, migrating there (any kind) or keeping their old
 * copy there (a resize onto another host, until confirmed or reverted),
 * that are neither deleted nor being deleted (new reference), or NULL
 * with err.  The heartbeat's answer carries it: an
 * agent that paused its VMs (its lease ran out) or learns it was fenced
 * resumes or keeps only these, at these generations, and destroys the
 * rest. */
json_t *compute_instances_owned(struct store *st, const char *host_id, struct nubo_err *err);

/* Host host_id (named host_name) is being removed: NUBO_E_CONFLICT while
 * instances that are not deleted are placed there; otherwise the deleted
 * ones, kept for their history, let go of the host.  In the caller's
 * transaction.  0 or -1 with err. */
int compute_instances_unplace(struct store *st, const char *host_id, const char *host_name,
                              struct nubo_err *err);

/* Project project_id (named name) is being deleted: NUBO_E_CONFLICT while
 * any of its instances is not deleted, or while another project's live
 * instance boots from one of its images; otherwise the deleted instances'
 * rows, their events and the project's tasks go (they reference the
 * project without ON DELETE CASCADE), and the paths of its images' files
 * in image_dir (a const char *) are added to files, for the caller to
 * unlink after the commit (the image rows cascade).  In the caller's
 * transaction: an identity_project_delete_fn, registered by nubod at
 * start-up.  0 or -1 with err. */
struct strv;
int compute_project_purge(struct store *st, const char *project_id, const char *name,
                          struct strv *files, void *image_dir, struct nubo_err *err);

/* What project_id's instances that are not deleted use: their count and
 * the sums of their vCPUs, RAM and disk (one query).  The quota_usage_fn
 * of the quota services.  0 or -1 with err. */
int compute_usage(struct store *st, const char *project_id, struct quota_usage *out,
                  struct nubo_err *err);

/* Fills used[] with what compute counts for the quota routes: instances,
 * vCPUs, RAM and disk (compute_usage()), images and the bytes of their
 * disks, keypairs, server groups.  0 or -1 with err. */
int compute_quota_usage(struct store *st, const char *project_id, long long used[QUOTA_DIMS],
                        struct nubo_err *err);

/* ---- what the reconciler reads (transition.c) ---------------------------- */

/* The instances placed on host_id that are not deleted, in creation order:
 * rows {id, project_id, name, image_id, keypair, user_data, vcpus,
 * ram_mib, disk_gib, status, desired, power_state, boots,
 * metadata_http_tokens} (new reference),
 * or NULL with err. */
json_t *compute_instances_on_host(struct store *st, const char *host_id, struct nubo_err *err);

/* Instances to be deleted that have no host: rows {id, status, desired}
 * (new reference), or NULL with err. */
json_t *compute_instances_hostless_deleting(struct store *st, struct nubo_err *err);

/* Instances to be deleted on hosts that are down: rows {id, status,
 * desired, host_name} (new reference), or NULL with err.  Their delete
 * completes without the host (compute_instance_deleted()); the VM, if
 * the host ever comes back, is an orphan the reconciler destroys. */
json_t *compute_instances_down_deleting(struct store *st, struct nubo_err *err);

/* True when an instance with this id was ever created (deleted or not). */
bool compute_instance_exists(struct store *st, const char *id);

/*
 * The services behind /v1 (one file each).  Unless said otherwise, a
 * function returning json_t * returns a new reference in the API's shape
 * (docs/internals/controller-api.md), or NULL with err; a function
 * returning int returns 0 or -1 with err.  Lists take limit (1..1000) and
 * marker (the id of the last item of the previous page, or NULL) and
 * return up to limit + 1 rows as an array, for store_page_wrap().  Inputs
 * are validated here (NUBO_E_INVALID with a message saying what to fix);
 * nothing is changed when a call fails.
 */

/* ---- flavors (flavor.c) ---------------------------------------------- */

struct compute_flavor_spec {
    const char *name;
    long long vcpus, ram_mib, disk_gib;
    bool is_public;
    const char *required_accel; /* NULL/"" = any host; "kvm" or "tcg" */
};

/* Public flavors, private ones shared with the caller's project; a cloud
 * admin sees all. */
json_t *compute_flavor_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                            struct nubo_err *err);
json_t *compute_flavor_create(struct store *st, const struct ctx *ctx,
                              const struct compute_flavor_spec *spec, struct nubo_err *err);
/* ref is an id or a name; an invisible flavor is NUBO_E_NOTFOUND. */
json_t *compute_flavor_get(struct store *st, const struct ctx *ctx, const char *ref,
                           struct nubo_err *err);
int compute_flavor_delete(struct store *st, const struct ctx *ctx, const char *ref,
                          struct nubo_err *err);
/* Shares a private flavor with a project (id or name): returns
 * {flavor_id, projects: [project ids]}. */
json_t *compute_flavor_access_add(struct store *st, const struct ctx *ctx, const char *ref,
                                  const char *project, struct nubo_err *err);

/* ---- images (image.c) ------------------------------------------------- */

/*
 * An image's files live in the controller's image directory as <id>.disk,
 * <id>.kernel and <id>.initrd.  A disk is accepted only as qcow2 (without
 * a backing or external data file) or raw (a whole number of 512-byte
 * sectors), checked with qemu-img; its SHA-256 is recorded.
 */
enum compute_image_part { COMPUTE_IMAGE_DISK = 0, COMPUTE_IMAGE_KERNEL, COMPUTE_IMAGE_INITRD };

struct compute_image_spec {
    const char *name;
    const char *visibility; /* "public" (admin only) | "private"; NULL = private */
    const char *cmdline;    /* kernel command line, or NULL */
    long long min_disk_gib; /* 0..16384 */
    /* Registration from the controller's disk (admin only): absolute
     * paths, copied into the image directory.  NULL = a queued image. */
    const char *file, *kernel_file, *initrd_file;
};

/* The path of one of an image's files: <image_dir>/<id>.<disk|kernel|initrd>.
 * Returns -1 when it does not fit in n. */
int compute_image_path(const char *image_dir, const char *id, enum compute_image_part part,
                       char *out, size_t n);

/* Public images and the project's private ones, filtered by exact name
 * and status when not NULL. */
json_t *compute_image_list(struct store *st, const struct ctx *ctx, const char *name,
                           const char *status, int limit, const char *marker, struct nubo_err *err);
json_t *compute_image_create(struct store *st, const struct ctx *ctx, const char *image_dir,
                             const struct compute_image_spec *spec, struct nubo_err *err);
json_t *compute_image_get(struct store *st, const struct ctx *ctx, const char *id,
                          struct nubo_err *err);
/* Owner (member+) or admin; NUBO_E_CONFLICT while live instances use it. */
int compute_image_delete(struct store *st, const struct ctx *ctx, const char *image_dir,
                         const char *id, struct nubo_err *err);
/* Stores an uploaded part of an owned image.  The data is in fd (an
 * O_TMPFILE in image_dir, as api_stream makes; not closed here) or, when
 * fd < 0, in data/len.  A disk is checked and makes the image active; a
 * queued image stays queued when its disk is refused. */
json_t *compute_image_upload(struct store *st, const struct ctx *ctx, const char *image_dir,
                             const char *id, enum compute_image_part part, int fd, const void *data,
                             size_t len, struct nubo_err *err);

/* ---- keypairs (keypair.c) --------------------------------------------- */

/* Checks an OpenSSH one-line public key ("TYPE BASE64 [COMMENT]") and
 * writes its fingerprint, "SHA256:" + unpadded base64 of the SHA-256 of
 * the key blob, as ssh-keygen -l prints it, into fp (n >= 52). */
int compute_keypair_fingerprint(const char *public_key, char *fp, size_t n, struct nubo_err *err);

json_t *compute_keypair_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                             struct nubo_err *err);
json_t *compute_keypair_create(struct store *st, const struct ctx *ctx, const char *name,
                               const char *public_key, struct nubo_err *err);
json_t *compute_keypair_get(struct store *st, const struct ctx *ctx, const char *name,
                            struct nubo_err *err);
int compute_keypair_delete(struct store *st, const struct ctx *ctx, const char *name,
                           struct nubo_err *err);

/* ---- server groups (servergroup.c) ------------------------------------ */

json_t *compute_server_group_list(struct store *st, const struct ctx *ctx, int limit,
                                  const char *marker, struct nubo_err *err);
/* policy: "affinity" | "anti-affinity". */
json_t *compute_server_group_create(struct store *st, const struct ctx *ctx, const char *name,
                                    const char *policy, struct nubo_err *err);
/* ref is an id or a name. */
json_t *compute_server_group_get(struct store *st, const struct ctx *ctx, const char *ref,
                                 struct nubo_err *err);
/* NUBO_E_CONFLICT while instances that are not deleted are members. */
int compute_server_group_delete(struct store *st, const struct ctx *ctx, const char *ref,
                                struct nubo_err *err);

/* ---- instances (instance.c) ------------------------------------------- */

#define COMPUTE_MAX_COUNT 50
#define COMPUTE_MAX_USER_DATA (64 * 1024)

struct compute_instance_spec {
    const char *name;
    const char *flavor;       /* id or name */
    const char *image;        /* id or name */
    const char *keypair;      /* name, or NULL */
    const char *user_data;    /* <= 64 KiB, or NULL */
    const char *server_group; /* id or name, or NULL */
    long long count;          /* 1..50; names name-1..name-N when > 1 */
    /* Tenant networks: one port per entry on each instance (0..8; none =
     * no tenant network), with the security groups sgs (refs; none =
     * "default"). */
    const struct network_nic *nics;
    size_t nnics;
    const char *const *sgs;
    size_t nsgs;
    /* "optional" (NULL: the default) or "required": the metadata service
     * answers the guest only with an IMDSv2 session token */
    const char *metadata_http_tokens;
    /* true: rebuilt on another host when its host dies and is fenced
     * (docs/internals/mobility.md); scaling groups' members have it */
    bool ha;
};

/* NULL members do not filter.  all_projects is for cloud admins only. */
struct compute_instance_filter {
    const char *name, *status, *host; /* host: id or name */
    bool all_projects;
};

json_t *compute_instance_list(struct store *st, const struct ctx *ctx,
                              const struct compute_instance_filter *f, int limit,
                              const char *marker, struct nubo_err *err);

/* Creates spec->count instances in one write transaction: validate,
 * resolve flavor/image/keypair/group in the project, quota_check(), place
 * each on a host with sched_place() under cfg (the instance row with its
 * host_id is the claim), create tasks and events.  cfg NULL places with
 * the configuration compute_configure() set (the API's creates).  An
 * instance no host can take is still created, with status error, the sched
 * fault and a failed task.  Returns {instances: [INSTANCE], task_ids:
 * [...]}.  Calls the change hook. */
json_t *compute_instance_create(struct store *st, const struct ctx *ctx,
                                const struct sched_cfg *cfg,
                                const struct compute_instance_spec *spec, struct nubo_err *err);

/* The instance visible to ctx (its project; any for a cloud admin). */
json_t *compute_instance_get(struct store *st, const struct ctx *ctx, const char *id,
                             struct nubo_err *err);

/* desired = deleted, status deleting, a delete task; an instance without
 * a host is deleted at once.  Returns {instance, task_id}.  This and the
 * actions call the change hook. */
json_t *compute_instance_delete(struct store *st, const struct ctx *ctx, const char *id,
                                struct nubo_err *err);

/* action: start (from stopped), stop (from running), reboot (from
 * running); NUBO_E_CONFLICT otherwise.  Returns {instance, task_id}. */
json_t *compute_instance_action(struct store *st, const struct ctx *ctx, const char *id,
                                const char *action, struct nubo_err *err);

/* Reads the instance's serial console from the agent of its host (a
 * proxy, console.c): bytes from offset (negative = from the end), at most
 * limit.  Returns a malloc'd buffer (the caller frees it) with its length
 * in *len and the next offset in *next, or NULL with err: NUBO_E_CONFLICT
 * when the instance has no host or is deleted. */
char *compute_instance_console(struct store *st, const struct ctx *ctx, const char *id,
                               long long offset, int limit, size_t *len, long long *next,
                               struct nubo_err *err);

/* The instance's events, oldest first: [{id, at, event, detail, request_id}]. */
json_t *compute_instance_events(struct store *st, const struct ctx *ctx, const char *id, int limit,
                                const char *marker, struct nubo_err *err);

/* ---- tasks (task.c) --------------------------------------------------- */

/* The project's tasks, filtered by instance id and status when not NULL. */
json_t *compute_task_list(struct store *st, const struct ctx *ctx, const char *instance,
                          const char *status, int limit, const char *marker, struct nubo_err *err);
json_t *compute_task_get(struct store *st, const struct ctx *ctx, const char *id,
                         struct nubo_err *err);

/* ---- live migration (migrate.c, transition.c) -------------------------
 *
 * docs/internals/mobility.md.  The API's side (cloud admin only, else
 * NUBO_E_FORBIDDEN): compute_instance_migrate() checks the instance
 * (running, no volume attached), picks the target (host_ref: a host's id
 * or name, or NULL for the scheduler's choice among the other hosts with
 * the same acceleration), and moves the instance running -> migrating
 * with a migrations row (preparing) and a "migrate" task; answers
 * {instance, task_id, migration}.  Bad targets are NUBO_E_CONFLICT (the
 * source itself, down, no capacity, another acceleration) or
 * NUBO_E_NOTFOUND, nothing changed.  compute_instance_migrate_cancel()
 * asks the reconciler to cancel the active one (answered like a migrate;
 * 409 when none).  compute_instance_migrations() lists an instance's migrations,
 * newest first ({migrations}).
 *
 * The reconciler's side: compute_migrations_active() (new reference: the
 * preparing and running ones with their instance's status, desired and
 * host_id); compute_migration_running() (preparing -> running, the
 * destination's uri recorded); compute_migration_progress() (the source
 * agent's figures, also on the task); compute_migration_finish() ends it
 * (outcome completed | failed | cancelled) in one transaction with the
 * instance (migrating -> running, on the target when completed, its ports
 * following), the event and the task: 1 when it ended it, 0 when another
 * already had.  compute_vm_wanted_on() is 1 when the VM of instance_id
 * belongs on host_id (its host, or the target of its active migration),
 * 0 when not, -1 when the store cannot tell (keep the VM then). */
json_t *compute_instance_migrate(struct store *st, const struct ctx *ctx, const char *id,
                                 const char *host_ref, struct nubo_err *err);
json_t *compute_instance_migrate_cancel(struct store *st, const struct ctx *ctx, const char *id,
                                        struct nubo_err *err);
json_t *compute_instance_migrations(struct store *st, const struct ctx *ctx, const char *id,
                                    struct nubo_err *err);
json_t *compute_migrations_active(struct store *st, struct nubo_err *err);
int compute_migration_running(struct store *st, const char *migration_id, const char *dest_uri,
                              struct nubo_err *err);
int compute_migration_progress(struct store *st, const char *migration_id, const json_t *progress,
                               struct nubo_err *err);
int compute_migration_finish(struct store *st, const json_t *mig, const char *outcome,
                             const char *error, long long downtime_ms, long long total_ms,
                             struct nubo_err *err);
int compute_vm_wanted_on(struct store *st, const char *instance_id, const char *host_id);

/* ---- cold migration and resize (resize.c, src/ctrl/resize.c) ---------
 *
 * docs/internals/mobility.md.  compute_instance_cold_migrate() (cloud
 * admin; a stopped instance, no volumes; the target checked as a live
 * migration's, or the scheduler's) and compute_instance_resize() (the
 * owner, member role; a stopped instance; the disk only grows; quota for
 * the growth; its own host when it has room, else another) move the
 * instance stopped -> resizing with a migrations row (kind 'cold' or
 * 'resize', state preparing) and a task; answer {instance, task_id,
 * migration}.  start_after: a cold-migrated instance starts on arrival.
 * compute_instance_resize_end() confirms (confirm true) or reverts a
 * resize in verify_resize (409 otherwise); a revert puts the old flavor
 * back at once.
 *
 * The reconciler's side: compute_cold_active() (the rows not ended, with
 * instance_status); compute_cold_prepared() (the new copy is ready: a
 * cold migration completes, stopped on the target; a resize waits in
 * verify_resize; host and ports move to the target);
 * compute_cold_finish() (outcome completed: the old copy went; reverted
 * or failed: the instance is stopped on the source again, its ports
 * too).  Both are transitions with crash points (transition.cold_prepared,
 * transition.cold_finish); 1 when done, 0 when already done. */
json_t *compute_instance_cold_migrate(struct store *st, const struct ctx *ctx, const char *id,
                                      const char *host_ref, bool start_after, struct nubo_err *err);
json_t *compute_instance_resize(struct store *st, const struct ctx *ctx, const char *id,
                                const char *flavor_ref, struct nubo_err *err);
json_t *compute_instance_resize_end(struct store *st, const struct ctx *ctx, const char *id,
                                    bool confirm, struct nubo_err *err);
json_t *compute_cold_active(struct store *st, struct nubo_err *err);
int compute_cold_prepared(struct store *st, const json_t *mig, struct nubo_err *err);
int compute_cold_finish(struct store *st, const json_t *mig, const char *outcome, const char *error,
                        struct nubo_err *err);

#endif
