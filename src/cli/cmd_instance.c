/*
 * cmd_instance.c - `nubo instance ...`: the project's virtual machines,
 * placed on hosts by the controller.
 *
 *   list      GET /v1/instances (?status= ?host= ?name= ?all_projects=true)
 *   create    POST /v1/instances (202: building), then with --wait polls
 *             each instance and its task until running or error
 *   show      GET /v1/instances/{id}
 *   delete    DELETE /v1/instances/{id} (202: deleting) [--wait]
 *   start, stop, reboot
 *             POST /v1/instances/{id}/actions {action} (202) [--wait]
 *   console   GET /v1/instances/{id}/console?offset=&limit= (the host
 *             agent's console, proxied; following it is polling with
 *             X-Console-Offset)
 *   events    GET /v1/instances/{id}/events
 *
 * The routes take ids; names are resolved with ?name= (deleted instances
 * left out).  The controller answers at once and converges in the
 * background (a task per operation), so waiting is polling: the instance
 * for its status and fault, the task for its end.  An instance "done" is in
 * the goal status with its task (if any) succeeded; it failed when its
 * status is error or its task failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/output.h"
#include "lib/fsutil.h"
#include "lib/util.h"
#include "lib/valid.h"

#define WAIT_POLL_MS 1000
#define CONSOLE_POLL_MS 500
#define CONSOLE_STATUS_EVERY 4 /* console polls between looks at the status */
#define CONSOLE_CHUNK (1024 * 1024)
#define CONSOLE_TAIL_MAX (1ULL << 20)
#define USER_DATA_MAX (64 * 1024)
#define COUNT_MAX 50

static const char instance_usage[] =
    "usage: nubo instance COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  list                          the project's instances\n"
    "  create NAME --flavor F --image I [--wait]   create and start instances\n"
    "  show INSTANCE                 one instance in detail\n"
    "  start|stop|reboot INSTANCE [--wait]         power actions\n"
    "  migrate INSTANCE [--host H] [--wait]        live-migrate it (cloud admin)\n"
    "  migrate --cold INSTANCE [--host H] [--start] [--wait]\n"
    "                                move a stopped instance and its disk (cloud admin)\n"
    "  resize INSTANCE FLAVOR [--wait]             change a stopped instance's flavor\n"
    "  resize --confirm|--revert INSTANCE [--wait] keep the new flavor, or go back\n"
    "  delete INSTANCE... [--wait]   remove instances and their disks\n"
    "  console INSTANCE [--follow]   the serial console\n"
    "  events INSTANCE               what happened to it\n"
    "\n"
    "INSTANCE is an instance's name (when unique in the project) or id.\n"
    "\n" CLOUD_COMMON_HELP;

static const char list_usage[] =
    "usage: nubo instance list [--status S] [--host H] [--name N] [--all-projects]\n"
    "                          [--limit N]\n"
    "\n"
    "Lists the project's instances, oldest first.  STATUS is building, running,\n"
    "stopping, stopped, rebooting, deleting, error or unknown (its host is down).\n"
    "\n"
    "  --status S       only those in status S\n"
    "  --host H         only those on host H (admin)\n"
    "  --name N         only those named N\n"
    "  --all-projects   those of every project (admin)\n"
    "  --limit N        the first N only\n"
    "\n" CLOUD_COMMON_HELP;

static const char create_usage[] =
    "usage: nubo instance create NAME --flavor FLAVOR --image IMAGE [options]\n"
    "\n"
    "Creates instances in your project: the controller places each on a host (or,\n"
    "when none fits, creates it in status error with the fault \"no valid host\")\n"
    "and the host builds and starts it.  Without --wait this returns at once, with\n"
    "the instances building.\n"
    "\n"
    "  --flavor FLAVOR        its size ('nubo flavor list'; name or id)\n"
    "  --image IMAGE          what it boots ('nubo image list'; name or id)\n"
    "  --keypair NAME         an SSH key to install ('nubo keypair list')\n"
    "  --user-data-file FILE  a script or cloud-config for the guest (64 KiB at most)\n"
    "  --count N              N instances, named NAME-1 .. NAME-N (1 to 50)\n"
    "  --server-group GROUP   place them by the group's policy (name or id)\n"
    "  --network NET[:IP]     a NIC on a tenant network (name or id), optionally with\n"
    "                         a fixed IP; repeat for more NICs (8 at most)\n"
    "  --security-group SG    the NICs' security groups (repeatable; default: default)\n"
    "  --wait                 wait until they run, with progress on stderr; fails\n"
    "                         (exit status 1) with the fault when one goes to error\n"
    "  --timeout SEC          how long --wait waits (default 300)\n"
    "\n" CLOUD_COMMON_HELP;

static const char show_usage[] = "usage: nubo instance show INSTANCE\n"
                                 "\n"
                                 "Shows one instance: its status and why (fault), size, image,\n"
                                 "host and times.\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char delete_usage[] =
    "usage: nubo instance delete INSTANCE... [--wait [--timeout SEC]]\n"
    "\n"
    "Deletes instances: their VMs are forced off and removed with their disks.  This\n"
    "cannot be undone.  Goes on with the next INSTANCE when one fails; the exit\n"
    "status is then 1.\n"
    "\n"
    "  --wait           wait until they are gone\n"
    "  --timeout SEC    how long --wait waits (default 300)\n"
    "\n" CLOUD_COMMON_HELP;

static const char start_usage[] =
    "usage: nubo instance start INSTANCE [--wait [--timeout SEC]]\n"
    "\n"
    "Starts a stopped instance.  --wait waits until it runs (default 300 s).\n"
    "\n" CLOUD_COMMON_HELP;

static const char stop_usage[] =
    "usage: nubo instance stop INSTANCE [--wait [--timeout SEC]]\n"
    "\n"
    "Stops an instance (ACPI power button, forced off at the host's deadline); it\n"
    "keeps its disk and its place.  --wait waits until it is stopped.\n"
    "\n" CLOUD_COMMON_HELP;

static const char migrate_usage[] =
    "usage: nubo instance migrate INSTANCE [--host H] [--wait [--timeout SEC]]\n"
    "       nubo instance migrate INSTANCE --cancel\n"
    "       nubo instance migrate --cold INSTANCE [--host H] [--start] [--wait [--timeout SEC]]\n"
    "\n"
    "Live-migrates a running instance to another host (cloud admin): the guest\n"
    "goes on running, its disks and memory are copied while it runs and it pauses\n"
    "only for the switch-over (at most about 300 ms as QEMU aims).  Without --host\n"
    "the scheduler picks a host with the same acceleration and room for it.\n"
    "\n"
    "  --host H         the target host (name or id)\n"
    "  --wait           wait until it runs on the target, with a progress line\n"
    "                   (memory and disk copied, dirty rate) every second\n"
    "  --timeout SEC    how long --wait waits (default 300)\n"
    "  --cancel         cancel the migration under way: it stays where it is\n"
    "\n"
    "With --cold it moves a stopped instance instead (cloud admin): its root disk\n"
    "is copied to the target host, where it stays stopped (started with --start);\n"
    "--wait waits until it is there.\n";

static const char resize_usage[] =
    "usage: nubo instance resize INSTANCE FLAVOR [--wait [--timeout SEC]]\n"
    "       nubo instance resize --confirm|--revert INSTANCE [--wait [--timeout SEC]]\n"
    "\n"
    "Gives a stopped instance another flavor (stop it first; the disk only grows,\n"
    "and the growth counts against the project's quota).  It stays on its host\n"
    "when there is room there, else its disk is copied to a host that has it.  It\n"
    "then waits in verify_resize, its old copy kept: --confirm drops the old copy,\n"
    "--revert goes back to it (the old flavor, host and disk); either leaves it\n"
    "stopped.\n"
    "\n"
    "  --wait           wait until it is in verify_resize (with --confirm or\n"
    "                   --revert: until it is stopped)\n"
    "  --timeout SEC    how long --wait waits (default 300)\n";

static const char reboot_usage[] = "usage: nubo instance reboot INSTANCE [--wait [--timeout SEC]]\n"
                                   "\n"
                                   "Resets a running instance.  --wait waits until it runs again.\n"
                                   "\n" CLOUD_COMMON_HELP;

static const char console_usage[] =
    "usage: nubo instance console INSTANCE [-f|--follow] [--tail SIZE]\n"
    "\n"
    "Prints the instance's serial console log as it is, through the controller.\n"
    "Output is raw text: -o json does not apply.\n"
    "\n"
    "  -f, --follow    keep printing new output, like tail -f, until the instance\n"
    "                  stops or Ctrl-C\n"
    "  --tail SIZE     start SIZE bytes before the end (up to 1M; 4K, 0...)\n"
    "\n" CLOUD_COMMON_HELP;

static const char events_usage[] = "usage: nubo instance events INSTANCE [--limit N]\n"
                                   "\n"
                                   "Lists what happened to an instance, oldest first.\n"
                                   "\n" CLOUD_COMMON_HELP;

static const struct cloud_col instance_cols[] = {
    {"NAME", "name", CLOUD_STR},
    {"ID", "id", CLOUD_STR},
    {"STATUS", "status", CLOUD_STR},
    {"FLAVOR", "flavor", CLOUD_NAME},
    {"IMAGE", "image", CLOUD_NAME},
    {"HOST", "host", CLOUD_NAME},
    {"ADDRESSES", "addresses", CLOUD_ADDRS},
    {"AGE", "created_at", CLOUD_AGE},
    {"FAULT", "fault", CLOUD_SHORT},
};

static const struct cloud_col instance_cols_all[] = {
    {"PROJECT ID", "project_id", CLOUD_STR},
    {"NAME", "name", CLOUD_STR},
    {"ID", "id", CLOUD_STR},
    {"STATUS", "status", CLOUD_STR},
    {"FLAVOR", "flavor", CLOUD_NAME},
    {"IMAGE", "image", CLOUD_NAME},
    {"HOST", "host", CLOUD_NAME},
    {"ADDRESSES", "addresses", CLOUD_ADDRS},
    {"AGE", "created_at", CLOUD_AGE},
    {"FAULT", "fault", CLOUD_SHORT},
};

static const struct cloud_col instance_fields[] = {
    {"name", "name", CLOUD_STR},
    {"id", "id", CLOUD_STR},
    {"status", "status", CLOUD_STR},
    {"desired", "desired", CLOUD_STR},
    {"power state", "power_state", CLOUD_STR},
    {"fault", "fault", CLOUD_STR},
    {"flavor", "flavor", CLOUD_NAME},
    {"vcpus", "vcpus", CLOUD_STR},
    {"ram", "ram_mib", CLOUD_MIB},
    {"disk", "disk_gib", CLOUD_GIB},
    {"image", "image", CLOUD_NAME},
    {"keypair", "keypair", CLOUD_NAME},
    {"host", "host", CLOUD_NAME},
    {"addresses", "addresses", CLOUD_ADDRS},
    {"server group", "server_group_id", CLOUD_STR},
    {"boots", "boots", CLOUD_STR},
    {"project id", "project_id", CLOUD_STR},
    {"created", "created_at", CLOUD_STR},
    {"updated", "updated_at", CLOUD_STR},
    {"deleted", "deleted_at", CLOUD_STR},
};

static const struct cloud_kind instance_kind = {
    .what = "instance",
    .collection = "/v1/instances",
    .key = "instances",
    .ids_only = true,
    .name_query = true,
    .cols = instance_cols,
    .ncols = ARRAY_LEN(instance_cols),
    .fields = instance_fields,
    .nfields = ARRAY_LEN(instance_fields),
    .empty = "no instances (create one: nubo instance create NAME --flavor F --image I)",
};

static const struct cloud_col event_cols[] = {
    {"AT", "at", CLOUD_STR},
    {"EVENT", "event", CLOUD_STR},
    {"DETAIL", "detail", CLOUD_STR},
    {"REQUEST", "request_id", CLOUD_STR},
};

/* ---------------------------------------------------------------- waiting */

enum wait_goal {
    GOAL_RUNNING,
    GOAL_STOPPED,
    GOAL_DELETED,
    GOAL_VERIFY_RESIZE,
};

static const char *const goal_status[] = {"running", "stopped", "deleted", "verify_resize"};

/* One instance being waited for. */
struct wait_item {
    char id[37];
    char task_id[37]; /* "" when unknown */
    char name[72];    /* for messages, control characters removed */
};

static void wait_item_set(struct wait_item *w, const json_t *instance, const char *task_id)
{
    str_copy(w->id, sizeof(w->id), cli_json_str_or(instance, "id", ""));
    str_copy(w->task_id, sizeof(w->task_id), task_id ? task_id : "");
    output_text(cli_json_str_or(instance, "name", w->id), 0, w->name, sizeof(w->name));
}

/* GET /v1/tasks/{id}: the task's status ("" when it cannot be read: the
 * instance's status decides then) and error. */
static void task_poll(struct cli *cli, const char *task_id, char *status, size_t n, char *error,
                      size_t en)
{
    char path[CLOUD_PATH_MAX];
    struct nubo_err err;
    json_t *task = NULL;
    status[0] = error[0] = '\0';
    if (task_id[0] == '\0')
        return;
    snprintf(path, sizeof(path), "/v1/tasks/%s", task_id);
    if (cli_call(cli, "GET", path, NULL, &task, &err) == 0) {
        output_text(cli_json_str_or(task, "status", ""), 0, status, n);
        output_text(cli_json_str_or(task, "error", ""), 0, error, en);
    }
    json_decref(task);
}

/* Waits until instance w reaches goal, or fails, or deadline_ms (of
 * clock_mono_ms()) passes, with a progress line "NAME: STATUS... 3s".  On
 * success *final (if not NULL) holds the instance's last JSON, NULL when it
 * is gone. */
static int wait_one(struct cli *cli, const struct wait_item *w, enum wait_goal goal,
                    int64_t deadline_ms, int timeout_s, json_t **final, struct nubo_err *err)
{
    int rc = -1;
    char path[CLOUD_PATH_MAX], shown[32] = "", label[160], tstatus[32], terror[512];
    json_t *inst = NULL;
    struct output_progress pr;
    bool progress = false;
    if (final)
        *final = NULL;
    snprintf(path, sizeof(path), "/v1/instances/%s", w->id);
    for (;;) {
        json_decref(inst);
        inst = NULL;
        if (cli_call(cli, "GET", path, NULL, &inst, err) < 0) {
            if (goal == GOAL_DELETED && err->code == NUBO_E_NOTFOUND)
                break; /* gone */
            goto cleanup;
        }
        char status[32], fault[400];
        output_text(cli_json_str_or(inst, "status", "?"), 0, status, sizeof(status));
        output_text(cli_json_str_or(inst, "fault", ""), 0, fault, sizeof(fault));
        task_poll(cli, w->task_id, tstatus, sizeof(tstatus), terror, sizeof(terror));
        if (strcmp(status, "error") == 0 && goal != GOAL_DELETED) {
            nubo_err_set(err, NUBO_E_CONFLICT, "instance %s went to error: %s", w->name,
                         fault[0]    ? fault
                         : terror[0] ? terror
                                     : "no fault given");
            goto cleanup;
        }
        if (strcmp(tstatus, "failed") == 0) {
            nubo_err_set(err, NUBO_E_CONFLICT, "instance %s: the task failed: %s (status %s)",
                         w->name,
                         terror[0]  ? terror
                         : fault[0] ? fault
                                    : "no error given",
                         status);
            goto cleanup;
        }
        if (strcmp(status, goal_status[goal]) == 0 &&
            (tstatus[0] == '\0' || strcmp(tstatus, "succeeded") == 0))
            break;
        if (clock_mono_ms() >= deadline_ms) {
            nubo_err_set(err, NUBO_E_TIMEOUT,
                         "timed out after %d s waiting for instance %s to be %s (it is %s%s%s)",
                         timeout_s, w->name, goal_status[goal], status, fault[0] ? ": " : "",
                         fault);
            goto cleanup;
        }
        if (strcmp(status, shown) != 0) {
            if (progress)
                output_progress_end(&pr);
            snprintf(label, sizeof(label), "%s: %s", w->name, status);
            output_progress_start(&pr, label);
            progress = true;
            str_copy(shown, sizeof(shown), status);
        }
        output_progress_tick(&pr);
        if (cli_sleep_ms(WAIT_POLL_MS) < 0) {
            nubo_err_set(err, NUBO_E_INTERNAL, "interrupted");
            goto cleanup;
        }
    }
    if (progress)
        output_progress_end(&pr);
    progress = false;
    if (goal != GOAL_DELETED) {
        char host[128];
        output_text(json_string_value(json_object_get(json_object_get(inst, "host"), "name")), 0,
                    host, sizeof(host));
        fprintf(stderr, "%s: %s on %s\n", w->name, goal_status[goal], host);
    } else {
        fprintf(stderr, "%s: %s\n", w->name, goal_status[goal]);
    }
    if (final) {
        *final = inst;
        inst = NULL;
    }
    rc = 0;
cleanup:
    if (progress)
        output_progress_end(&pr);
    json_decref(inst);
    return rc;
}

/* Parses --wait and --timeout for the commands that have them; other
 * options go to cli_option().  Returns 0, CLI_HELP_SHOWN or a usage error. */
static int wait_options(struct cli *cli, int argc, char **argv, const char *usage, bool *wait,
                        int *timeout_s)
{
    enum { OPT_WAIT = CLI_OPT_FIRST_FREE, OPT_TIMEOUT };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"wait", no_argument, NULL, OPT_WAIT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {NULL, 0, NULL, 0},
    };
    int c, rc;
    bool timeout_set = false;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return CLI_HELP_SHOWN;
        } else if (c == OPT_WAIT) {
            *wait = true;
        } else if (c == OPT_TIMEOUT) {
            if ((rc = cli_timeout_parse(cli, optarg, timeout_s)) != 0)
                return rc;
            timeout_set = true;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    if (timeout_set && !*wait)
        return cli_usage_error(cli, "--timeout goes with --wait");
    return 0;
}

/* ------------------------------------------------------------ list, show */

static int instance_list(struct cli *cli, int argc, char **argv)
{
    enum { OPT_STATUS = CLI_OPT_FIRST_FREE, OPT_HOST, OPT_NAME, OPT_ALL, OPT_LIMIT };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"status", required_argument, NULL, OPT_STATUS},
        {"host", required_argument, NULL, OPT_HOST},
        {"name", required_argument, NULL, OPT_NAME},
        {"all-projects", no_argument, NULL, OPT_ALL},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {NULL, 0, NULL, 0},
    };
    static const char *const keys[] = {[OPT_STATUS - OPT_STATUS] = "status",
                                       [OPT_HOST - OPT_STATUS] = "host",
                                       [OPT_NAME - OPT_STATUS] = "name"};
    int c, rc;
    long long limit = 0;
    bool all = false;
    char path[CLOUD_PATH_MAX] = "/v1/instances";
    struct nubo_err err;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(list_usage, stdout);
            return CLI_EXIT_OK;
        } else if (c == OPT_STATUS || c == OPT_HOST || c == OPT_NAME) {
            const char *key = keys[c - OPT_STATUS];
            if (valid_name(optarg, key, &err) < 0)
                return cli_usage_error(cli, "--%s: %s", key, err.msg);
            cloud_query_add(path, sizeof(path), key, optarg, &err);
        } else if (c == OPT_ALL) {
            all = true;
        } else if (c == OPT_LIMIT) {
            if ((rc = cloud_limit_parse(cli, optarg, &limit)) != 0)
                return rc;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    if ((rc = cli_args_check(cli, argc - optind, 0, 0, "no arguments")) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    struct cloud_kind kind = instance_kind;
    if (all) {
        cloud_query_add(path, sizeof(path), "all_projects", "true", &err);
        kind.cols = instance_cols_all;
        kind.ncols = ARRAY_LEN(instance_cols_all);
    }
    return cloud_list_run(cli, &kind, path, limit);
}

static int instance_show(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_show(cli, argc, argv, &instance_kind, show_usage);
}

/* Checks INSTANCE, connects and resolves it to an id. */
static int instance_ref(struct cli *cli, const char *ref, char id[37])
{
    int rc;
    struct nubo_err err;
    if ((rc = cloud_ref_check(cli, ref, "an instance name or id")) != 0 ||
        (!cli->client && (rc = cloud_connect(cli)) != 0))
        return rc;
    if (cloud_resolve(cli, "/v1/instances", "instances", true, ref, "instance", id, &err) < 0)
        return cli_fail(cli, &err);
    return 0;
}

/* ---------------------------------------------------------------- create */

/* Options of instance create. */
struct create_opts {
    const char *flavor, *image, *keypair, *group;
    json_t *user_data;
    json_t *networks, *security_groups; /* arrays, or NULL */
    long long count;
    bool wait;
    int timeout_s;
};

/* Reads a user-data file into a JSON string.  Returns 0 or a usage error. */
static int user_data_read(const struct cli *cli, const char *path, json_t **out)
{
    struct nubo_err err;
    size_t len;
    char *buf = fs_read_file(path, USER_DATA_MAX, &len, &err);
    if (buf == NULL)
        return cli_usage_error(cli, "--user-data-file: %s", err.msg);
    json_decref(*out);
    *out = memchr(buf, '\0', len) ? NULL : json_stringn(buf, len);
    free(buf);
    if (*out == NULL)
        return cli_usage_error(cli, "--user-data-file: %s is not UTF-8 text", path);
    return 0;
}

static int create_parse(struct cli *cli, int argc, char **argv, struct create_opts *o)
{
    enum {
        OPT_FLAVOR = CLI_OPT_FIRST_FREE,
        OPT_IMAGE,
        OPT_KEYPAIR,
        OPT_USER_DATA,
        OPT_COUNT,
        OPT_GROUP,
        OPT_WAIT,
        OPT_TIMEOUT,
        OPT_NETWORK,
        OPT_SG,
    };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"flavor", required_argument, NULL, OPT_FLAVOR},
        {"image", required_argument, NULL, OPT_IMAGE},
        {"keypair", required_argument, NULL, OPT_KEYPAIR},
        {"user-data-file", required_argument, NULL, OPT_USER_DATA},
        {"count", required_argument, NULL, OPT_COUNT},
        {"server-group", required_argument, NULL, OPT_GROUP},
        {"network", required_argument, NULL, OPT_NETWORK},
        {"security-group", required_argument, NULL, OPT_SG},
        {"wait", no_argument, NULL, OPT_WAIT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {NULL, 0, NULL, 0},
    };
    int c, rc;
    bool timeout_set = false;
    struct nubo_err err;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        const char **ref = c == OPT_FLAVOR    ? &o->flavor
                           : c == OPT_IMAGE   ? &o->image
                           : c == OPT_KEYPAIR ? &o->keypair
                           : c == OPT_GROUP   ? &o->group
                                              : NULL;
        if (c == 'h') {
            fputs(create_usage, stdout);
            return CLI_HELP_SHOWN;
        } else if (ref) {
            const char *flag = c == OPT_FLAVOR    ? "--flavor"
                               : c == OPT_IMAGE   ? "--image"
                               : c == OPT_KEYPAIR ? "--keypair"
                                                  : "--server-group";
            if (valid_name(optarg, flag, &err) < 0)
                return cli_usage_error(cli, "%s", err.msg);
            *ref = optarg;
        } else if (c == OPT_USER_DATA) {
            if ((rc = user_data_read(cli, optarg, &o->user_data)) != 0)
                return rc;
        } else if (c == OPT_COUNT) {
            if ((rc = cloud_int_parse(cli, optarg, 1, COUNT_MAX, "--count", &o->count)) != 0)
                return rc;
        } else if (c == OPT_NETWORK) {
            /* NET or NET:IP */
            char net[80];
            const char *colon = strchr(optarg, ':');
            size_t n = colon ? (size_t)(colon - optarg) : strlen(optarg);
            if (n == 0 || n >= sizeof(net))
                return cli_usage_error(cli, "--network takes NET or NET:IP");
            memcpy(net, optarg, n);
            net[n] = '\0';
            if (valid_name(net, "--network", &err) < 0)
                return cli_usage_error(cli, "%s", err.msg);
            if (o->networks == NULL)
                o->networks = json_array();
            json_t *nic = json_pack("{s:s}", "network", net);
            if (colon)
                json_object_set_new(nic, "fixed_ip", json_string(colon + 1));
            json_array_append_new(o->networks, nic);
        } else if (c == OPT_SG) {
            if (valid_name(optarg, "--security-group", &err) < 0)
                return cli_usage_error(cli, "%s", err.msg);
            if (o->security_groups == NULL)
                o->security_groups = json_array();
            json_array_append_new(o->security_groups, json_string(optarg));
        } else if (c == OPT_WAIT) {
            o->wait = true;
        } else if (c == OPT_TIMEOUT) {
            if ((rc = cli_timeout_parse(cli, optarg, &o->timeout_s)) != 0)
                return rc;
            timeout_set = true;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "the name of the new instance")) != 0)
        return rc;
    if (valid_name(argv[optind], "the instance name", &err) < 0)
        return cli_usage_error(cli, "%s", err.msg);
    if (o->flavor == NULL || o->image == NULL)
        return cli_usage_error(cli, "--flavor FLAVOR and --image IMAGE are required ('nubo "
                                    "flavor list', 'nubo image list')");
    if (timeout_set && !o->wait)
        return cli_usage_error(cli, "--timeout goes with --wait");
    return 0;
}

static int instance_create(struct cli *cli, int argc, char **argv)
{
    struct create_opts o = {.count = 1, .timeout_s = CLOUD_WAIT_DEFAULT_S};
    int rc, failed = 0;
    char group_id[37];
    struct nubo_err err;
    json_t *body = NULL, *answer = NULL, *finals = json_array();

    if ((rc = create_parse(cli, argc, argv, &o)) != 0) {
        rc = rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
        goto cleanup;
    }
    if ((rc = cloud_connect(cli)) != 0)
        goto cleanup;
    body = json_pack("{s:s, s:s, s:s}", "name", argv[optind], "flavor", o.flavor, "image", o.image);
    if (o.keypair)
        json_object_set_new(body, "keypair", json_string(o.keypair));
    if (o.user_data)
        json_object_set(body, "user_data", o.user_data);
    if (o.count > 1)
        json_object_set_new(body, "count", json_integer(o.count));
    if (o.networks)
        json_object_set(body, "networks", o.networks);
    if (o.security_groups)
        json_object_set(body, "security_groups", o.security_groups);
    if (o.group) {
        if (cloud_resolve(cli, "/v1/server-groups", "server_groups", false, o.group, "server group",
                          group_id, &err) < 0)
            goto fail;
        json_object_set_new(body, "server_group", json_string(group_id));
    }
    int64_t deadline = clock_mono_ms() + (int64_t)o.timeout_s * 1000;
    if (cloud_create(cli, "/v1/instances", body, &answer, &err) < 0)
        goto fail;
    const json_t *instances = json_object_get(answer, "instances");
    const json_t *tasks = json_object_get(answer, "task_ids");
    if (!o.wait) {
        if (!cli_print_json(cli, answer))
            cloud_table_print(instances, instance_cols, ARRAY_LEN(instance_cols), NULL);
        size_t i;
        const json_t *inst;
        json_array_foreach (instances, i, inst) {
            if (strcmp(cli_json_str_or(inst, "status", ""), "error") == 0) {
                char name[72], fault[400];
                output_text(cli_json_str_or(inst, "name", "?"), 0, name, sizeof(name));
                output_text(cli_json_str_or(inst, "fault", "no fault given"), 0, fault,
                            sizeof(fault));
                fprintf(stderr, "nubo: instance %s is in error: %s\n", name, fault);
            }
        }
        rc = CLI_EXIT_OK;
        goto cleanup;
    }
    size_t i;
    const json_t *inst;
    json_array_foreach (instances, i, inst) {
        struct wait_item w;
        json_t *final = NULL;
        wait_item_set(&w, inst, json_string_value(json_array_get(tasks, i)));
        if (wait_one(cli, &w, GOAL_RUNNING, deadline, o.timeout_s, &final, &err) < 0) {
            int r = cli_fail(cli, &err);
            if (r != CLI_EXIT_FAIL) {
                fputs("nubo: the instances are created all the same: 'nubo instance list'\n",
                      stderr);
                rc = r;
                goto cleanup;
            }
            failed++;
            /* Shown as it is now, fault and all. */
            char path[CLOUD_PATH_MAX];
            snprintf(path, sizeof(path), "/v1/instances/%s", w.id);
            if (cli_call(cli, "GET", path, NULL, &final, &err) < 0)
                final = json_deep_copy(inst);
        }
        json_array_append_new(finals, final);
    }
    if (cli->output == OUTPUT_JSON) {
        json_t *out =
            json_pack("{s:O, s:O}", "instances", finals, "task_ids", tasks ? tasks : json_null());
        output_json(stdout, out);
        json_decref(out);
    } else {
        cloud_table_print(finals, instance_cols, ARRAY_LEN(instance_cols), NULL);
    }
    rc = failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
    goto cleanup;
fail:
    rc = cli_fail(cli, &err);
cleanup:
    json_decref(o.user_data);
    json_decref(o.networks);
    json_decref(o.security_groups);
    json_decref(body);
    json_decref(answer);
    json_decref(finals);
    return rc;
}

/* ------------------------------------------------- actions and delete */

/* Prints "NAME: STATUS (task ID)" for an accepted operation. */
static void accepted_print(const json_t *answer)
{
    const json_t *inst = json_object_get(answer, "instance");
    char name[72], status[32], task[40];
    output_text(cli_json_str_or(inst, "name", "?"), 0, name, sizeof(name));
    output_text(cli_json_str_or(inst, "status", "?"), 0, status, sizeof(status));
    output_text(cli_json_str_or(answer, "task_id", "-"), 0, task, sizeof(task));
    printf("%s: %s (task %s)\n", name, status, task);
}

/* POSTs body (an action, taken over) to instance id's actions; with wait
 * waits (at most timeout_s) for goal and shows the instance, else shows the
 * answer. */
static int action_post(struct cli *cli, const char *id, json_t *body, bool wait, int timeout_s,
                       enum wait_goal goal)
{
    int rc;
    char path[CLOUD_PATH_MAX];
    struct nubo_err err;
    json_t *answer = NULL, *final = NULL;
    int64_t deadline = clock_mono_ms() + (int64_t)timeout_s * 1000;
    snprintf(path, sizeof(path), "/v1/instances/%s/actions", id);
    if (cli_call(cli, "POST", path, body, &answer, &err) < 0) {
        rc = cli_fail(cli, &err);
        goto cleanup;
    }
    if (!wait) {
        if (!cli_print_json(cli, answer))
            accepted_print(answer);
        rc = CLI_EXIT_OK;
        goto cleanup;
    }
    struct wait_item w;
    wait_item_set(&w, json_object_get(answer, "instance"), cli_json_str(answer, "task_id"));
    if (w.id[0] == '\0')
        str_copy(w.id, sizeof(w.id), id);
    if (wait_one(cli, &w, goal, deadline, timeout_s, &final, &err) < 0) {
        rc = cli_fail(cli, &err);
        goto cleanup;
    }
    cloud_object_print(cli, final, instance_fields, ARRAY_LEN(instance_fields));
    rc = CLI_EXIT_OK;
cleanup:
    json_decref(body);
    json_decref(answer);
    json_decref(final);
    return rc;
}

/* One POST /v1/instances/{id}/actions, then with --wait waits for goal. */
static int instance_action(struct cli *cli, int argc, char **argv, const char *action,
                           enum wait_goal goal, const char *usage)
{
    int rc, timeout_s = CLOUD_WAIT_DEFAULT_S;
    bool wait = false;
    char id[37];
    if ((rc = wait_options(cli, argc, argv, usage, &wait, &timeout_s)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "an instance name or id")) != 0 ||
        (rc = instance_ref(cli, argv[optind], id)) != 0)
        return rc;
    return action_post(cli, id, json_pack("{s:s}", "action", action), wait, timeout_s, goal);
}

static int instance_start(struct cli *cli, int argc, char **argv)
{
    return instance_action(cli, argc, argv, "start", GOAL_RUNNING, start_usage);
}

static int instance_stop(struct cli *cli, int argc, char **argv)
{
    return instance_action(cli, argc, argv, "stop", GOAL_STOPPED, stop_usage);
}

static int instance_reboot(struct cli *cli, int argc, char **argv)
{
    return instance_action(cli, argc, argv, "reboot", GOAL_RUNNING, reboot_usage);
}

static const struct cloud_col migration_fields[] = {
    {"MIGRATION", "id", CLOUD_STR},         {"STATE", "state", CLOUD_STR},
    {"SOURCE", "source_host", CLOUD_STR},   {"TARGET", "target_host", CLOUD_STR},
    {"INSTANCE", "instance_id", CLOUD_STR},
};

/* One progress line of a migration from the task's progress. */
static void migrate_progress_line(const char *name, const json_t *task)
{
    const json_t *p = json_object_get(task, "progress");
    const json_t *ram = json_object_get(p, "ram"), *disk = json_object_get(p, "disk");
    char status[32];
    output_text(cli_json_str_or(p, "status", "preparing"), 0, status, sizeof(status));
    fprintf(stderr,
            "%s: migrating (%s): memory %lld/%lld MiB sent, %lld MiB left, dirty %lld"
            " pages/s; disk %lld/%lld MiB\n",
            name, status,
            (long long)json_integer_value(json_object_get(ram, "transferred_bytes")) >> 20,
            (long long)json_integer_value(json_object_get(ram, "total_bytes")) >> 20,
            (long long)json_integer_value(json_object_get(ram, "remaining_bytes")) >> 20,
            (long long)json_integer_value(json_object_get(ram, "dirty_pages_rate")),
            (long long)json_integer_value(json_object_get(disk, "transferred_bytes")) >> 20,
            (long long)json_integer_value(json_object_get(disk, "total_bytes")) >> 20);
}

static int instance_migrate(struct cli *cli, int argc, char **argv)
{
    enum { OPT_WAIT = CLI_OPT_FIRST_FREE, OPT_TIMEOUT, OPT_HOST, OPT_CANCEL, OPT_COLD, OPT_START };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"wait", no_argument, NULL, OPT_WAIT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"host", required_argument, NULL, OPT_HOST},
        {"cancel", no_argument, NULL, OPT_CANCEL},
        {"cold", no_argument, NULL, OPT_COLD},
        {"start", no_argument, NULL, OPT_START},
        {NULL, 0, NULL, 0},
    };
    int c, rc, timeout_s = CLOUD_WAIT_DEFAULT_S;
    bool wait = false, cancel = false, timeout_set = false, cold = false, start = false;
    const char *host = NULL;
    struct nubo_err err;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(migrate_usage, stdout);
            return CLI_EXIT_OK;
        } else if (c == OPT_WAIT) {
            wait = true;
        } else if (c == OPT_TIMEOUT) {
            if ((rc = cli_timeout_parse(cli, optarg, &timeout_s)) != 0)
                return rc;
            timeout_set = true;
        } else if (c == OPT_HOST) {
            if (valid_name(optarg, "--host", &err) < 0 && !valid_is_uuid(optarg))
                return cli_usage_error(cli, "--host: %s", err.msg);
            host = optarg;
        } else if (c == OPT_CANCEL) {
            cancel = true;
        } else if (c == OPT_COLD) {
            cold = true;
        } else if (c == OPT_START) {
            start = true;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    if (timeout_set && !wait)
        return cli_usage_error(cli, "--timeout goes with --wait");
    if (cancel && (wait || host || cold))
        return cli_usage_error(cli, "--cancel goes alone");
    if (start && !cold)
        return cli_usage_error(cli, "--start goes with --cold (a live migration keeps it running)");
    char id[37], path[CLOUD_PATH_MAX];
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "an instance name or id")) != 0 ||
        (rc = instance_ref(cli, argv[optind], id)) != 0)
        return rc;
    if (cold) {
        json_t *cb = json_pack("{s:s, s:b}", "action", "cold-migrate", "start", start);
        if (host)
            json_object_set_new(cb, "host", json_string(host));
        return action_post(cli, id, cb, wait, timeout_s, start ? GOAL_RUNNING : GOAL_STOPPED);
    }
    int64_t deadline = clock_mono_ms() + (int64_t)timeout_s * 1000;
    snprintf(path, sizeof(path), "/v1/instances/%s/actions", id);
    json_t *body = json_pack("{s:s}", "action", cancel ? "migrate-cancel" : "migrate");
    if (host)
        json_object_set_new(body, "host", json_string(host));
    json_t *answer = NULL, *task = NULL;
    rc = cli_call(cli, "POST", path, body, &answer, &err) < 0 ? cli_fail(cli, &err) : CLI_EXIT_OK;
    json_decref(body);
    if (rc != CLI_EXIT_OK || !wait) {
        if (rc == CLI_EXIT_OK && !cli_print_json(cli, answer))
            cloud_object_print(cli, json_object_get(answer, "migration"), migration_fields,
                               ARRAY_LEN(migration_fields));
        json_decref(answer);
        return rc;
    }
    char name[72], task_path[CLOUD_PATH_MAX];
    output_text(cli_json_str_or(json_object_get(answer, "instance"), "name", id), 0, name,
                sizeof(name));
    fprintf(stderr, "%s: migrating to %s\n", name,
            cli_json_str_or(json_object_get(answer, "migration"), "target_host", "?"));
    snprintf(task_path, sizeof(task_path), "/v1/tasks/%s", cli_json_str_or(answer, "task_id", ""));
    for (;;) {
        json_decref(task);
        task = NULL;
        if (cli_call(cli, "GET", task_path, NULL, &task, &err) < 0) {
            rc = cli_fail(cli, &err);
            break;
        }
        const char *ts = cli_json_str_or(task, "status", "");
        if (strcmp(ts, "succeeded") == 0) {
            struct wait_item w;
            json_t *final = NULL;
            wait_item_set(&w, json_object_get(answer, "instance"), NULL);
            str_copy(w.id, sizeof(w.id), id);
            if (wait_one(cli, &w, GOAL_RUNNING, deadline, timeout_s, &final, &err) < 0)
                rc = cli_fail(cli, &err);
            else
                cloud_object_print(cli, final, instance_fields, ARRAY_LEN(instance_fields));
            json_decref(final);
            break;
        }
        if (strcmp(ts, "failed") == 0) {
            char why[512];
            output_text(cli_json_str_or(task, "error", "no reason given"), 0, why, sizeof(why));
            nubo_err_set(&err, NUBO_E_CONFLICT, "the migration of %s did not happen: %s", name,
                         why);
            rc = cli_fail(cli, &err);
            break;
        }
        if (clock_mono_ms() >= deadline) {
            nubo_err_set(&err, NUBO_E_TIMEOUT,
                         "timed out after %d s waiting for the migration of %s (it goes on; "
                         "nubo instance migrate %s --cancel stops it)",
                         timeout_s, name, id);
            rc = cli_fail(cli, &err);
            break;
        }
        migrate_progress_line(name, task);
        if (cli_sleep_ms(1000) < 0) {
            rc = CLI_EXIT_FAIL;
            break;
        }
    }
    json_decref(task);
    json_decref(answer);
    return rc;
}

/* nubo instance resize INSTANCE FLAVOR | --confirm|--revert INSTANCE */
static int instance_resize(struct cli *cli, int argc, char **argv)
{
    enum { OPT_WAIT = CLI_OPT_FIRST_FREE, OPT_TIMEOUT, OPT_CONFIRM, OPT_REVERT };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"wait", no_argument, NULL, OPT_WAIT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"confirm", no_argument, NULL, OPT_CONFIRM},
        {"revert", no_argument, NULL, OPT_REVERT},
        {NULL, 0, NULL, 0},
    };
    int c, rc, timeout_s = CLOUD_WAIT_DEFAULT_S;
    bool wait = false, timeout_set = false, confirm = false, revert = false;
    struct nubo_err err;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(resize_usage, stdout);
            return CLI_EXIT_OK;
        } else if (c == OPT_WAIT) {
            wait = true;
        } else if (c == OPT_TIMEOUT) {
            if ((rc = cli_timeout_parse(cli, optarg, &timeout_s)) != 0)
                return rc;
            timeout_set = true;
        } else if (c == OPT_CONFIRM) {
            confirm = true;
        } else if (c == OPT_REVERT) {
            revert = true;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    if (timeout_set && !wait)
        return cli_usage_error(cli, "--timeout goes with --wait");
    if (confirm && revert)
        return cli_usage_error(cli, "--confirm or --revert, not both");
    bool end = confirm || revert;
    if ((rc = cli_args_check(cli, argc - optind, end ? 1 : 2, end ? 1 : 2,
                             end ? "an instance name or id"
                                 : "an instance name or id and a flavor")) != 0)
        return rc;
    const char *flavor = end ? NULL : argv[optind + 1];
    if (flavor && valid_name(flavor, "FLAVOR", &err) < 0 && !valid_is_uuid(flavor))
        return cli_usage_error(cli, "%s", err.msg);
    char id[37];
    if ((rc = instance_ref(cli, argv[optind], id)) != 0)
        return rc;
    json_t *body = end ? json_pack("{s:s}", "action", confirm ? "confirm-resize" : "revert-resize")
                       : json_pack("{s:s, s:s}", "action", "resize", "flavor", flavor);
    return action_post(cli, id, body, wait, timeout_s, end ? GOAL_STOPPED : GOAL_VERIFY_RESIZE);
}

static int instance_delete(struct cli *cli, int argc, char **argv)
{
    int rc, r, timeout_s = CLOUD_WAIT_DEFAULT_S;
    bool wait = false;
    char id[37], path[CLOUD_PATH_MAX];
    struct nubo_err err;
    if ((rc = wait_options(cli, argc, argv, delete_usage, &wait, &timeout_s)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 1, -1, "one or more instance names or ids")) != 0)
        return rc;
    for (int i = optind; i < argc; i++)
        if ((rc = cloud_ref_check(cli, argv[i], "an instance name or id")) != 0)
            return rc;
    if ((rc = cloud_connect(cli)) != 0)
        return rc;
    int64_t deadline = clock_mono_ms() + (int64_t)timeout_s * 1000;
    for (int i = optind; i < argc; i++) {
        json_t *answer = NULL;
        int ok =
            cloud_resolve(cli, "/v1/instances", "instances", true, argv[i], "instance", id, &err);
        if (ok == 0) {
            snprintf(path, sizeof(path), "/v1/instances/%s", id);
            ok = cli_call(cli, "DELETE", path, NULL, &answer, &err);
        }
        if (ok < 0) {
            r = cli_fail(cli, &err);
            if (r != CLI_EXIT_FAIL)
                return r; /* unreachable or interrupted: the rest would fail too */
            rc = r;
            continue;
        }
        if (cli->output == OUTPUT_JSON)
            output_json(stdout, answer);
        else if (!wait)
            accepted_print(answer);
        if (wait) {
            struct wait_item w;
            wait_item_set(&w, json_object_get(answer, "instance"), cli_json_str(answer, "task_id"));
            str_copy(w.id, sizeof(w.id), id);
            if (wait_one(cli, &w, GOAL_DELETED, deadline, timeout_s, NULL, &err) < 0) {
                r = cli_fail(cli, &err);
                json_decref(answer);
                if (r != CLI_EXIT_FAIL)
                    return r;
                rc = r;
                continue;
            }
            if (cli->output == OUTPUT_TABLE)
                printf("deleted instance %s\n", w.name);
        }
        json_decref(answer);
    }
    return rc;
}

/* --------------------------------------------------------------- console */

/* Ends following when the instance has no VM to write to the console. */
static bool console_ended(const char *status)
{
    static const char *const ended[] = {"stopped", "error", "deleting", "deleted"};
    for (size_t i = 0; i < ARRAY_LEN(ended); i++)
        if (strcmp(status, ended[i]) == 0)
            return true;
    return false;
}

static int instance_console(struct cli *cli, int argc, char **argv)
{
    enum { OPT_TAIL = CLI_OPT_FIRST_FREE };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"follow", no_argument, NULL, 'f'},
        {"tail", required_argument, NULL, OPT_TAIL},
        {NULL, 0, NULL, 0},
    };
    int rc, c, polls = 0;
    bool follow = false, ended = false;
    uint64_t tail = 0;
    bool tail_set = false;
    long long offset = 0;
    char id[37], path[CLOUD_PATH_MAX], ipath[CLOUD_PATH_MAX];
    struct nubo_err err;
    struct client_resp resp = {.console_offset = -1};

    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS "f", opts)) != -1) {
        if (c == 'h') {
            fputs(console_usage, stdout);
            return CLI_EXIT_OK;
        } else if (c == 'f') {
            follow = true;
        } else if (c == OPT_TAIL) {
            if (valid_size(optarg, 1, 0, CONSOLE_TAIL_MAX, "--tail", &tail, &err) < 0)
                return cli_usage_error(cli, "%s", err.msg);
            tail_set = true;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "an instance name or id")) != 0 ||
        (rc = instance_ref(cli, argv[optind], id)) != 0)
        return rc;
    /* --tail 0: from the end, i.e. what comes next. The last byte's answer
     * says where the end is. */
    offset = tail_set ? (tail == 0 ? -1 : -(long long)tail) : 0;
    bool skip_first = tail_set && tail == 0;
    snprintf(ipath, sizeof(ipath), "/v1/instances/%s", id);
    for (;;) {
        snprintf(path, sizeof(path), "/v1/instances/%s/console?offset=%lld&limit=%d", id, offset,
                 skip_first ? 1 : CONSOLE_CHUNK);
        if (client_request(cli->client, "GET", path, NULL, &resp, &err) < 0)
            goto fail;
        if (resp.status != 200) {
            client_resp_error(cli->client, &resp, &err);
            goto fail;
        }
        if (resp.console_offset < 0) {
            nubo_err_set(&err, NUBO_E_INTERNAL,
                         "nubod sent console bytes without X-Console-Offset");
            goto fail;
        }
        offset = resp.console_offset;
        if (!skip_first && resp.len > 0 &&
            (fwrite(resp.body, 1, resp.len, stdout) != resp.len || fflush(stdout) != 0)) {
            nubo_err_set(&err, NUBO_E_INTERNAL, "cannot write the console out");
            goto fail;
        }
        bool more = !skip_first && resp.len == CONSOLE_CHUNK;
        skip_first = false;
        client_resp_clear(&resp);
        if (more)
            continue;
        if (!follow || ended)
            break;
        if (++polls % CONSOLE_STATUS_EVERY == 0) {
            json_t *inst = NULL;
            if (cli_call(cli, "GET", ipath, NULL, &inst, &err) < 0)
                goto fail;
            ended = console_ended(cli_json_str_or(inst, "status", ""));
            json_decref(inst);
            if (ended)
                continue; /* one last read */
        }
        if (cli_sleep_ms(CONSOLE_POLL_MS) < 0)
            break; /* Ctrl-C ends following, like tail -f */
    }
    return CLI_EXIT_OK;
fail:
    client_resp_clear(&resp);
    if (follow && cli_interrupted())
        return CLI_EXIT_OK;
    return cli_fail(cli, &err);
}

/* ---------------------------------------------------------------- events */

static int instance_events(struct cli *cli, int argc, char **argv)
{
    enum { OPT_LIMIT = CLI_OPT_FIRST_FREE };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"limit", required_argument, NULL, OPT_LIMIT},
        {NULL, 0, NULL, 0},
    };
    int c, rc;
    long long limit = 0;
    char id[37], path[CLOUD_PATH_MAX];
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(events_usage, stdout);
            return CLI_EXIT_OK;
        } else if (c == OPT_LIMIT) {
            if ((rc = cloud_limit_parse(cli, optarg, &limit)) != 0)
                return rc;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "an instance name or id")) != 0 ||
        (rc = instance_ref(cli, argv[optind], id)) != 0)
        return rc;
    snprintf(path, sizeof(path), "/v1/instances/%s/events", id);
    static const struct cloud_kind event_kind = {
        .what = "event",
        .key = "events",
        .cols = event_cols,
        .ncols = ARRAY_LEN(event_cols),
        .empty = "no events",
    };
    return cloud_list_run(cli, &event_kind, path, limit);
}

/* ----------------------------------------------------------------- group */

int cmd_instance(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", instance_list},       {"create", instance_create},   {"show", instance_show},
        {"delete", instance_delete},   {"start", instance_start},     {"stop", instance_stop},
        {"reboot", instance_reboot},   {"console", instance_console}, {"events", instance_events},
        {"migrate", instance_migrate}, {"resize", instance_resize},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), instance_usage);
}
