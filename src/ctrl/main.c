/*
 * main.c - nubod, the nubo controller: parse the command line, open the
 * store, bootstrap identity on first start, serve the REST API and run the
 * reconciler until SIGTERM/SIGINT.
 *
 * The command line is a table: one row per option, with the function that
 * checks its value into struct nubod_opts.  main() parses, then run()
 * starts the controller (src/ctrl), hands the API (src/api) what it uses,
 * and serves until a signal.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/web.h"
#include "ctrl/backup.h"
#include "ctrl/ctrl.h"
#include "fleet/fleet.h"
#include "identity/identity.h"
#include "lib/addrguard.h"
#include "lib/clock.h"
#include "lib/conf.h"
#include "lib/crypto.h"
#include "lib/dynbuf.h"
#include "lib/fsutil.h"
#include "lib/httpd.h"
#include "lib/log.h"
#include "lib/sdnotify.h"
#include "lib/tls.h"
#include "lib/util.h"
#include "lib/valid.h"
#include "store/store.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nubod [options]\n"
            "\n"
            "The nubo controller: the cloud's REST API (/v1), identity and tenancy,\n"
            "scheduling, and the reconciler that drives the host agents.\n"
            "\n"
            "  --config FILE        read settings from FILE first: one 'name = value' line\n"
            "                       per long option below (e.g. 'listen = 0.0.0.0:7700');\n"
            "                       the command line overrides it\n"
            "  --state-dir DIR      database, images, secrets (default /var/lib/nubo/controller)\n"
            "  --store TARGET       the database: postgresql://[user@]host[:port]/dbname\n"
            "                       (libpq's URL; the database must exist; a password is\n"
            "                       best kept in ~/.pgpass) or a SQLite file (default\n"
            "                       <state-dir>/nubo.db)\n"
            "  --store-sync MODE    SQLite: full (default) syncs every commit: answered\n"
            "                       writes survive power loss; normal syncs the WAL at\n"
            "                       checkpoints only: faster writes, a crash of nubod\n"
            "                       loses nothing, a power loss may lose the last writes\n"
            "  --listen ADDR:PORT   API address (default 127.0.0.1:7700)\n"
            "  --threads N          API threads (default 4)\n"
            "  --agent-listen ADDR:PORT  a second API address for the host agents, with\n"
            "                       its own connections and threads, so that tenant\n"
            "                       traffic cannot starve heartbeats (default: none;\n"
            "                       recommended: point the agents' --controller at it)\n"
            "  --tls-cert FILE, --tls-key FILE  serve HTTPS (both listeners) with this PEM\n"
            "                       certificate (chain) and key\n"
            "  --tls-auto           serve HTTPS with a certificate from nubod's own CA, made\n"
            "                       on first start in <state-dir>/tls (clients trust\n"
            "                       <state-dir>/tls/ca.pem: nubo login --ca-file, the\n"
            "                       agents' --controller-ca); for localhost, 127.0.0.1,\n"
            "                       the hostname, the listen addresses and --tls-names\n"
            "  --tls-names LIST     more names (DNS or IPv4, comma-separated) for --tls-auto\n"
            "                       Without TLS, nubod listens on loopback addresses only.\n"
            "  --max-conn-per-ip N  open connections per client address (default 64)\n"
            "  --conn-timeout S     close a connection silent for S seconds (default 60)\n"
            "  --head-timeout S     ... and a new connection silent for S seconds before\n"
            "                       its first request's head is in (default 10)\n"
            "  --login-slots N      password hashes at once; more logins get 503\n"
            "                       (default: half the CPUs, 1 to 4)\n"
            "  --policy P           placement: spread | pack (default spread)\n"
            "  --cpu-ratio R        vCPU overcommit (default 4)\n"
            "  --ram-ratio R        RAM overcommit (default 1)\n"
            "  --reconcile-ms MS    reconcile interval (default 2000)\n"
            "  --host-down-ms MS    heartbeat silence before a host is down (default 15000);\n"
            "                       agents hold a lease of half of it and pause their VMs\n"
            "                       when it runs out\n"
            "  --drain-parallel N   live migrations at once off a draining host (default 2)\n"
            "  --fence-hook PATH    run as PATH HOST_ID NAME ADDRESS to fence a down host\n"
            "                       before its ha instances are rebuilt elsewhere; only exit\n"
            "                       0 counts as fenced (default: none, the lease fences)\n"
            "  --fence-timeout-ms MS  the hook is killed and counts as failed after this\n"
            "                       (default 10000)\n"
            "  --log-level LEVEL    debug | info | warn | error (default info)\n"
            "  --log-format F       text | json: one JSON object a line, with the request id\n"
            "                       (default text)\n"
            "  --webhook-allow CIDRS  non-public ranges alarm webhooks may reach anyway\n"
            "                       (comma-separated, e.g. 10.1.0.0/16; default: public only)\n"
            "  --web-dir DIR        the built web portal, served at / (default: the\n"
            "                       source tree's build/web when built, else " NUBO_WEB_DIR ")\n"
            "  --migrate-store FROM TO  copy the cloud's database FROM (a SQLite file,\n"
            "                       e.g. <state-dir>/nubo.db, nubod stopped) into TO (an\n"
            "                       empty database, e.g. postgresql://host/nubo), check\n"
            "                       every table by row count and SHA-256, and exit; then\n"
            "                       start nubod with --store TO\n"
            "  --backup FILE        write the controller's state (the database as one\n"
            "                       snapshot, images, secrets) to the new archive FILE and\n"
            "                       exit; nubod may run meanwhile (same --state-dir/--store)\n"
            "  --restore FILE       make a new controller's state in --state-dir (absent or\n"
            "                       empty; database in --store, an empty one, if given)\n"
            "                       from a --backup archive and exit; it starts recovering:\n"
            "                       VMs made after the backup are kept, not removed, until\n"
            "                       an admin finishes (nubo recovery finish)\n"
            "  --check-upgrade      report the schema version of the database (--store,\n"
            "                       else <state-dir>/nubo.db), this nubod's, and each\n"
            "                       migration the next start would apply; change nothing\n"
            "                       and exit: 0 up to date, 10 an upgrade is pending, 11 the\n"
            "                       database is from a newer nubo (nubod refuses it), 1 error\n"
            "  --print-routes       print every API route and exit\n"
            "  -h, --help           this text\n"
            "  -V, --version        print the version\n"
            "\n"
            "On first start nubod creates the user 'admin', a cloud admin (password in\n"
            "<state-dir>/admin-password, mode 0600), and the projects 'admin' and 'demo'.\n"
            "Agents on this machine join with the token in <state-dir>/join-token, replaced\n"
            "every 15 minutes; hosts elsewhere with one from 'nubo join-token create'.\n");
}

/* Threads of the agents' listener: heartbeats never wait behind one slow
 * registration or metrics batch. */
#define AGENT_THREADS 2

/* Whether an IPv4 listen address is a loopback one (127.0.0.0/8). */
static bool loopback(const char *addr)
{
    return strncmp(addr, "127.", 4) == 0;
}

/* What the command line sets. */
struct nubod_opts {
    struct ctrl_cfg cfg;
    enum log_level level;
    const char *web_dir;
    const char *store;              /* --store, NULL = <state-dir>/nubo.db */
    const char *migrate_from;       /* --migrate-store FROM TO */
    const char *backup_to;          /* --backup FILE */
    const char *tls_cert, *tls_key; /* --tls-cert, --tls-key */
    bool tls_auto;                  /* --tls-auto */
    const char *tls_names;          /* --tls-names, comma-separated */
    const char *restore_from;       /* --restore FILE */
    bool check_upgrade;             /* --check-upgrade */
    char agent_addr[64];            /* --agent-listen, "" = none */
    int agent_port;
    unsigned conn_per_ip, conn_timeout_s, head_timeout_s;
    struct strv args; /* the arguments parsed: --config's file, then the command line */
};

/* An option's action: 0 to go on, 1 when the program is done (exit 0),
 * -1 after printing why the value is wrong (exit 2). */
typedef int (*opt_fn)(struct nubod_opts *o, const char *arg);

static int fail_msg(const struct nubo_err *err)
{
    fprintf(stderr, "nubod: %s\n", err->msg);
    return -1;
}

static int opt_state_dir(struct nubod_opts *o, const char *arg)
{
    str_copy(o->cfg.state_dir, sizeof(o->cfg.state_dir), arg);
    return 0;
}

static int opt_store(struct nubod_opts *o, const char *arg)
{
    if (arg[0] == '\0' || strlen(arg) >= PATH_MAX) {
        fprintf(stderr, "nubod: --store wants postgresql://host/dbname or a file path\n");
        return -1;
    }
    o->store = arg;
    return 0;
}

static int opt_migrate_store(struct nubod_opts *o, const char *arg)
{
    o->migrate_from = arg;
    return 0;
}

static int opt_backup(struct nubod_opts *o, const char *arg)
{
    o->backup_to = arg;
    return 0;
}

static int opt_restore(struct nubod_opts *o, const char *arg)
{
    o->restore_from = arg;
    return 0;
}

/* ADDR:PORT into addr (size n) and port; what = the option's name. */
static int addr_port_arg(const char *arg, const char *what, char *addr, size_t n, int *port)
{
    struct nubo_err err;
    long long p;
    const char *colon = strrchr(arg, ':');
    if (colon == NULL || colon == arg || (size_t)(colon - arg) >= n ||
        valid_int(colon + 1, 0, 65535, "port", &p, &err) < 0) {
        fprintf(stderr, "nubod: %s wants ADDR:PORT, e.g. 127.0.0.1:7700\n", what);
        return -1;
    }
    snprintf(addr, n, "%.*s", (int)(colon - arg), arg);
    *port = (int)p;
    return 0;
}

static int opt_listen(struct nubod_opts *o, const char *arg)
{
    return addr_port_arg(arg, "--listen", o->cfg.listen_addr, sizeof(o->cfg.listen_addr),
                         &o->cfg.listen_port);
}

static int opt_agent_listen(struct nubod_opts *o, const char *arg)
{
    return addr_port_arg(arg, "--agent-listen", o->agent_addr, sizeof(o->agent_addr),
                         &o->agent_port);
}

static int opt_tls_cert(struct nubod_opts *o, const char *arg)
{
    o->tls_cert = arg;
    return 0;
}

static int opt_tls_key(struct nubod_opts *o, const char *arg)
{
    o->tls_key = arg;
    return 0;
}

static int opt_tls_auto(struct nubod_opts *o, const char *arg)
{
    (void)arg;
    o->tls_auto = true;
    return 0;
}

static int opt_tls_names(struct nubod_opts *o, const char *arg)
{
    o->tls_names = arg;
    return 0;
}

static int opt_max_conn_per_ip(struct nubod_opts *o, const char *arg)
{
    struct nubo_err err;
    long long n;
    if (valid_int(arg, 1, 1024, "--max-conn-per-ip", &n, &err) < 0)
        return fail_msg(&err);
    o->conn_per_ip = (unsigned)n;
    return 0;
}

static int opt_conn_timeout(struct nubod_opts *o, const char *arg)
{
    struct nubo_err err;
    long long n;
    if (valid_int(arg, 1, 3600, "--conn-timeout", &n, &err) < 0)
        return fail_msg(&err);
    o->conn_timeout_s = (unsigned)n;
    return 0;
}

static int opt_head_timeout(struct nubod_opts *o, const char *arg)
{
    struct nubo_err err;
    long long n;
    if (valid_int(arg, 1, 3600, "--head-timeout", &n, &err) < 0)
        return fail_msg(&err);
    o->head_timeout_s = (unsigned)n;
    return 0;
}

static int opt_threads(struct nubod_opts *o, const char *arg)
{
    struct nubo_err err;
    long long n;
    if (valid_int(arg, 1, 64, "--threads", &n, &err) < 0)
        return fail_msg(&err);
    o->cfg.threads = (int)n;
    return 0;
}

static int opt_login_slots(struct nubod_opts *o, const char *arg)
{
    struct nubo_err err;
    long long n;
    (void)o;
    if (valid_int(arg, 1, 64, "--login-slots", &n, &err) < 0)
        return fail_msg(&err);
    identity_set_hash_slots((int)n);
    return 0;
}

static int opt_policy(struct nubod_opts *o, const char *arg)
{
    if (strcmp(arg, "spread") != 0 && strcmp(arg, "pack") != 0) {
        fprintf(stderr, "nubod: --policy must be spread or pack\n");
        return -1;
    }
    str_copy(o->cfg.sched_policy, sizeof(o->cfg.sched_policy), arg);
    return 0;
}

static int opt_cpu_ratio(struct nubod_opts *o, const char *arg)
{
    struct nubo_err err;
    return valid_ratio(arg, "--cpu-ratio", &o->cfg.cpu_ratio, &err) < 0 ? fail_msg(&err) : 0;
}

static int opt_ram_ratio(struct nubod_opts *o, const char *arg)
{
    struct nubo_err err;
    return valid_ratio(arg, "--ram-ratio", &o->cfg.ram_ratio, &err) < 0 ? fail_msg(&err) : 0;
}

/* A duration in milliseconds, 100 ms to an hour. */
static int ms_arg(const char *arg, const char *what, int *out)
{
    struct nubo_err err;
    long long n;
    if (valid_int(arg, 100, 3600000, what, &n, &err) < 0)
        return fail_msg(&err);
    *out = (int)n;
    return 0;
}

static int opt_reconcile_ms(struct nubod_opts *o, const char *arg)
{
    return ms_arg(arg, "--reconcile-ms", &o->cfg.reconcile_ms);
}

static int opt_host_down_ms(struct nubod_opts *o, const char *arg)
{
    return ms_arg(arg, "--host-down-ms", &o->cfg.host_down_ms);
}

static int opt_drain_parallel(struct nubod_opts *o, const char *arg)
{
    struct nubo_err err;
    long long n;
    if (valid_int(arg, 1, 64, "--drain-parallel", &n, &err) < 0)
        return fail_msg(&err);
    o->cfg.drain_parallel = (int)n;
    return 0;
}

static int opt_store_sync(struct nubod_opts *o, const char *arg)
{
    (void)o;
    if (strcmp(arg, "normal") != 0 && strcmp(arg, "full") != 0) {
        fprintf(stderr, "nubod: --store-sync must be normal or full\n");
        return -1;
    }
    store_sqlite_sync_full(strcmp(arg, "full") == 0);
    return 0;
}

static int opt_fence_hook(struct nubod_opts *o, const char *arg)
{
    if (arg[0] != '/' || strlen(arg) >= sizeof(o->cfg.fence_hook) || access(arg, X_OK) != 0) {
        fprintf(stderr, "nubod: --fence-hook wants the absolute path of an executable program\n");
        return -1;
    }
    str_copy(o->cfg.fence_hook, sizeof(o->cfg.fence_hook), arg);
    return 0;
}

static int opt_fence_timeout_ms(struct nubod_opts *o, const char *arg)
{
    return ms_arg(arg, "--fence-timeout-ms", &o->cfg.fence_timeout_ms);
}

static int opt_log_level(struct nubod_opts *o, const char *arg)
{
    if (log_level_parse(arg, &o->level) < 0) {
        fprintf(stderr, "nubod: --log-level must be debug, info, warn or error\n");
        return -1;
    }
    return 0;
}

static int opt_log_format(struct nubod_opts *o, const char *arg)
{
    enum log_format f;
    if (log_format_parse(arg, &f) < 0) {
        fprintf(stderr, "nubod: --log-format must be text or json\n");
        return -1;
    }
    log_set_format(f);
    return 0;
}

static int opt_web_dir(struct nubod_opts *o, const char *arg)
{
    o->web_dir = arg;
    return 0;
}

static int opt_webhook_allow(struct nubod_opts *o, const char *arg)
{
    struct nubo_err err;
    struct addrguard g;
    if (strlen(arg) >= sizeof(o->cfg.monitor.webhook_allow)) {
        fprintf(stderr, "nubod: --webhook-allow: the list is too long\n");
        return -1;
    }
    if (addrguard_parse(&g, arg, &err) < 0) {
        fprintf(stderr, "nubod: --webhook-allow: %s\n", err.msg);
        return -1;
    }
    str_copy(o->cfg.monitor.webhook_allow, sizeof(o->cfg.monitor.webhook_allow), arg);
    return 0;
}

static int opt_check_upgrade(struct nubod_opts *o, const char *arg)
{
    o->check_upgrade = true;
    return 0;
}

static int opt_print_routes(struct nubod_opts *o, const char *arg)
{
    api_routes_print(stdout);
    return 1;
}

static int opt_help(struct nubod_opts *o, const char *arg)
{
    usage(stdout);
    return 1;
}

static int opt_version(struct nubod_opts *o, const char *arg)
{
    printf("nubod %s\n", NUBO_VERSION);
    return 1;
}

/* The command line (usage() describes it). */
static const struct nubod_opt {
    const char *name;
    char short_name; /* or 0 */
    int has_arg;
    opt_fn fn;
} options[] = {
    {"state-dir", 0, required_argument, opt_state_dir},
    {"store", 0, required_argument, opt_store},
    {"listen", 0, required_argument, opt_listen},
    {"threads", 0, required_argument, opt_threads},
    {"agent-listen", 0, required_argument, opt_agent_listen},
    {"tls-cert", 0, required_argument, opt_tls_cert},
    {"tls-key", 0, required_argument, opt_tls_key},
    {"tls-auto", 0, no_argument, opt_tls_auto},
    {"tls-names", 0, required_argument, opt_tls_names},
    {"max-conn-per-ip", 0, required_argument, opt_max_conn_per_ip},
    {"conn-timeout", 0, required_argument, opt_conn_timeout},
    {"head-timeout", 0, required_argument, opt_head_timeout},
    {"login-slots", 0, required_argument, opt_login_slots},
    {"policy", 0, required_argument, opt_policy},
    {"cpu-ratio", 0, required_argument, opt_cpu_ratio},
    {"ram-ratio", 0, required_argument, opt_ram_ratio},
    {"reconcile-ms", 0, required_argument, opt_reconcile_ms},
    {"host-down-ms", 0, required_argument, opt_host_down_ms},
    {"drain-parallel", 0, required_argument, opt_drain_parallel},
    {"store-sync", 0, required_argument, opt_store_sync},
    {"fence-hook", 0, required_argument, opt_fence_hook},
    {"fence-timeout-ms", 0, required_argument, opt_fence_timeout_ms},
    {"log-level", 0, required_argument, opt_log_level},
    {"log-format", 0, required_argument, opt_log_format},
    {"web-dir", 0, required_argument, opt_web_dir},
    {"webhook-allow", 0, required_argument, opt_webhook_allow},
    {"migrate-store", 0, required_argument, opt_migrate_store},
    {"backup", 0, required_argument, opt_backup},
    {"restore", 0, required_argument, opt_restore},
    {"check-upgrade", 0, no_argument, opt_check_upgrade},
    {"print-routes", 0, no_argument, opt_print_routes},
    {"help", 'h', no_argument, opt_help},
    {"version", 'V', no_argument, opt_version},
};

/* nubod --migrate-store FROM TO: copies one database into another (empty)
 * and checks the copy (store_copy).  Returns the exit status. */
static int migrate_store(const char *from, const char *to, enum log_level level)
{
    log_init(level, NULL);
    struct nubo_err err;
    if (!store_target_is_pg(from) && access(from, R_OK | W_OK) != 0) {
        fprintf(stderr,
                "nubod: cannot open %s: %s (FROM is the SQLite file of a stopped nubod,"
                " e.g. /var/lib/nubo/controller/nubo.db)\n",
                from, strerror(errno));
        return 1;
    }
    struct store *src = store_open(from, &err);
    if (src == NULL) {
        fprintf(stderr, "nubod: cannot open %s: %s\n", from, err.msg);
        return 1;
    }
    struct store *dst = store_open(to, &err);
    if (dst == NULL) {
        fprintf(stderr, "nubod: cannot open the target: %s\n", err.msg);
        store_close(src);
        return 1;
    }
    json_t *report = store_copy(src, dst, &err);
    store_close(src);
    store_close(dst);
    if (report == NULL) {
        fprintf(stderr, "nubod: the copy failed, the target is unchanged: %s\n", err.msg);
        return 1;
    }
    long long rows = 0;
    size_t i;
    json_t *t;
    json_array_foreach (report, i, t) {
        long long n = json_integer_value(json_object_get(t, "rows"));
        printf("%-32s %8lld rows  sha256 %s\n", json_string_value(json_object_get(t, "table")), n,
               json_string_value(json_object_get(t, "sha256")));
        rows += n;
    }
    printf("copied %lld rows in %zu tables; row counts and checksums match. Start nubod with"
           " --store and the new database.\n",
           rows, json_array_size(report));
    json_decref(report);
    return 0;
}

/* Exit statuses of --check-upgrade (usage() and docs/internals/upgrades.md). */
enum {
    CHECK_CURRENT = 0,  /* the database's schema is this nubod's */
    CHECK_PENDING = 10, /* the next start applies migrations */
    CHECK_NEWER = 11,   /* a newer nubo (or another build) wrote it: nubod refuses it */
};

/* nubod --check-upgrade: what starting nubod on target would do to its
 * schema, changing nothing (store_inspect).  Returns the exit status. */
static int check_upgrade(const char *target, enum log_level level)
{
    log_init(level, NULL);
    struct nubo_err err;
    int current, latest = store_schema_latest();
    json_t *applied = store_inspect(target, &err);
    if (applied == NULL) {
        fprintf(stderr, "nubod: cannot read the database: %s\n", err.msg);
        return 1;
    }
    int bad = store_schema_check(applied, &current, &err);
    printf("database: %s (%s)\n", store_target_is_pg(target) ? "PostgreSQL" : target,
           store_target_is_pg(target) ? "postgresql" : "sqlite");
    printf("schema version: %d\n", current);
    printf("this nubod (%s): schema version %d\n", NUBO_VERSION, latest);
    if (bad < 0) {
        json_decref(applied);
        fprintf(stderr, "nubod: %s\n", err.msg);
        return CHECK_NEWER;
    }
    int n = 0;
    for (const struct store_migration *m = store_migrations; m->sql; m++) {
        if (store_schema_has(applied, m->version))
            continue;
        if (n++ == 0)
            printf("%s start applies, in one transaction:\n", current ? "the next" : "the first");
        struct dynbuf line = DYNBUF_INIT(1 << 16);
        store_migration_summary(m, store_target_is_pg(target), &line);
        printf("  migration %d: %s\n", m->version, line.p ? line.p : "");
        dynbuf_free(&line);
    }
    json_decref(applied);
    if (n == 0) {
        printf("up to date: nothing to apply\n");
        return CHECK_CURRENT;
    }
    printf("upgrade pending: %d migration%s (back up first: nubod --backup FILE)\n", n,
           n == 1 ? "" : "s");
    return CHECK_PENDING;
}

#define OPT_BASE 256 /* getopt_long's value for options[i] is OPT_BASE + i */

/* Parses the command line into o, acting on options in their order.
 * Returns -1 to run the controller, else the exit status (0 after --help,
 * --version or --print-routes, 2 for a bad command line). */
static int options_parse(int argc, char **argv, struct nubod_opts *o)
{
    struct option longopts[ARRAY_LEN(options) + 1];
    char shorts[2 * ARRAY_LEN(options) + 1];
    size_t ns = 0;
    for (size_t i = 0; i < ARRAY_LEN(options); i++) {
        longopts[i] = (struct option){options[i].name, options[i].has_arg, NULL, OPT_BASE + (int)i};
        if (options[i].short_name)
            shorts[ns++] = options[i].short_name;
    }
    longopts[ARRAY_LEN(options)] = (struct option){NULL, 0, NULL, 0};
    shorts[ns] = '\0';
    memset(o, 0, sizeof(*o));
    struct nubo_err err;
    if (conf_argv(argc, argv, longopts, &o->args, &err) < 0) {
        fprintf(stderr, "nubod: %s\n", err.msg);
        return 2;
    }
    argc = o->args.n;
    argv = o->args.v;
    ctrl_cfg_defaults(&o->cfg);
    o->level = LOG_INFO;
    o->conn_per_ip = 64;
    o->conn_timeout_s = 60;
    o->head_timeout_s = 10;
    int c;
    while ((c = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
        const struct nubod_opt *opt = NULL;
        for (size_t i = 0; i < ARRAY_LEN(options) && opt == NULL; i++)
            if (c == OPT_BASE + (int)i || (options[i].short_name && c == options[i].short_name))
                opt = &options[i];
        if (opt == NULL) {
            usage(stderr);
            return 2;
        }
        int rc = opt->fn(o, optarg);
        if (rc != 0)
            return rc > 0 ? 0 : 2;
    }
    if (o->migrate_from) {
        if (optind != argc - 1) {
            fprintf(stderr, "nubod: --migrate-store wants FROM TO, e.g. --migrate-store "
                            "/var/lib/nubo/controller/nubo.db postgresql://db/nubo\n");
            return 2;
        }
        return migrate_store(o->migrate_from, argv[optind], o->level);
    }
    if (optind < argc) {
        fprintf(stderr, "nubod: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (o->check_upgrade) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof(path), "%s/nubo.db", o->cfg.state_dir);
        return check_upgrade(o->store ? o->store : path, o->level);
    }
    if (!!o->tls_cert != !!o->tls_key || (o->tls_cert && o->tls_auto)) {
        fprintf(stderr, "nubod: give --tls-cert and --tls-key together, or --tls-auto alone\n");
        return 2;
    }
    bool tls = o->tls_cert || o->tls_auto;
    if (!tls && (!loopback(o->cfg.listen_addr) || (o->agent_addr[0] && !loopback(o->agent_addr)))) {
        fprintf(stderr, "nubod: without TLS, passwords and tokens would cross the network in clear:"
                        " listen on 127.0.0.1 (e.g. behind a TLS proxy), or serve HTTPS with"
                        " --tls-auto or --tls-cert/--tls-key\n");
        return 2;
    }
    if (o->backup_to || o->restore_from) {
        struct nubo_err berr;
        log_init(o->level, NULL);
        int brc = o->backup_to ? ctrl_backup(o->cfg.state_dir, o->store, o->backup_to, &berr)
                               : ctrl_restore(o->restore_from, o->cfg.state_dir, o->store, &berr);
        if (brc < 0)
            fprintf(stderr, "nubod: %s\n", berr.msg);
        return brc < 0 ? 1 : 0;
    }
    return -1;
}

/* The PEM certificate and key to serve HTTPS with (both NULL for plain
 * HTTP): the operator's files, or --tls-auto's, made on first start for
 * this machine's names.  0 or -1 with err. */
static int tls_material(const struct nubod_opts *o, char **cert, char **key, char pin[64],
                        struct nubo_err *err)
{
    *cert = *key = NULL;
    pin[0] = '\0';
    if (o->tls_cert)
        return tls_load(o->tls_cert, o->tls_key, cert, key, err) < 0
                   ? -1
                   : tls_pin(o->tls_cert, pin, 64, err);
    if (!o->tls_auto)
        return 0;
    const char *names[40];
    size_t n = 0;
    char host[256] = "", extra[1024];
    names[n++] = "localhost";
    names[n++] = "127.0.0.1";
    if (gethostname(host, sizeof(host) - 1) == 0 && host[0])
        names[n++] = host;
    if (strcmp(o->cfg.listen_addr, "0.0.0.0") != 0 && strcmp(o->cfg.listen_addr, "127.0.0.1"))
        names[n++] = o->cfg.listen_addr;
    if (o->agent_addr[0] && strcmp(o->agent_addr, "0.0.0.0") != 0 &&
        strcmp(o->agent_addr, "127.0.0.1") != 0 && strcmp(o->agent_addr, o->cfg.listen_addr))
        names[n++] = o->agent_addr;
    str_copy(extra, sizeof(extra), o->tls_names ? o->tls_names : "");
    for (char *p = extra, *next; p && *p && n < ARRAY_LEN(names); p = next) {
        next = strchr(p, ',');
        if (next)
            *next++ = '\0';
        if (*p)
            names[n++] = p;
    }
    char dir[PATH_MAX + 8], c[PATH_MAX + 32], k[PATH_MAX + 32];
    snprintf(dir, sizeof(dir), "%s/tls", o->cfg.state_dir);
    snprintf(c, sizeof(c), "%s/server.pem", dir);
    snprintf(k, sizeof(k), "%s/server-key.pem", dir);
    if (tls_auto(dir, names, n, err) < 0)
        return -1;
    log_info("HTTPS with nubod's own CA: clients trust %s/ca.pem", dir);
    return tls_load(c, k, cert, key, err) < 0 ? -1 : tls_pin(c, pin, 64, err);
}

/* GET /v1/health's view of the reconciler. */
static long long reconciler_idle_ms(const void *ctx)
{
    return (long long)(clock_mono_ms() - ctrl_last_turn_ms(ctx));
}

/* Waits for a signal of set and returns it.  Under systemd (Type=notify)
 * it says READY first, and with WatchdogSec= it pings at half the interval
 * for as long as the reconciler's loop turns: a wedged reconciler (a
 * deadlock, a store that never answers) stops the pings and systemd
 * restarts nubod. */
static int wait_for_signal(const struct ctrl *ctrl, const sigset_t *set)
{
    sdnotify_send("READY=1");
    long long wd = sdnotify_watchdog_ms();
    int sig = 0;
    if (wd == 0) {
        sigwait(set, &sig);
        return sig;
    }
    /* a pass may take up to the agents' timeouts: the loop has the whole
     * interval to begin the next */
    bool warned = false;
    for (;;) {
        struct timespec ts = {.tv_sec = wd / 2000, .tv_nsec = (wd / 2 % 1000) * 1000000L};
        sig = sigtimedwait(set, NULL, &ts);
        if (sig > 0)
            return sig;
        int64_t idle = clock_mono_ms() - ctrl_last_turn_ms(ctrl);
        if (idle < wd) {
            sdnotify_send("WATCHDOG=1");
            warned = false;
        } else if (!warned) {
            log_error("the reconciler has not begun a pass for %lld ms: no watchdog ping"
                      " (systemd restarts nubod)",
                      (long long)idle);
            warned = true;
        }
    }
}

/* Starts the controller and the API on o and serves until SIGTERM or
 * SIGINT.  Returns the exit status. */
static int run(struct nubod_opts *o)
{
    const struct ctrl_cfg *cfg = &o->cfg;
    struct nubo_err err;
    log_init(o->level, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* SIGTERM and SIGINT are taken by sigwait() below: blocked before any
     * thread starts (the reconciler's, the monitor's, the stack engine's
     * and the HTTP server's inherit the mask), else the kernel may hand
     * one to a thread that does not block it and the default action ends
     * nubod without its clean stop. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    umask(077); /* the database, secrets and tenants' images are ours alone */
    if (crypto_init(&err) < 0) {
        log_error("%s", err.msg);
        return 1;
    }
    char path[PATH_MAX + 32], pwfile[PATH_MAX + 32], joinfile[PATH_MAX + 32], imgdir[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/nubo.db", cfg->state_dir);
    snprintf(pwfile, sizeof(pwfile), "%s/admin-password", cfg->state_dir);
    snprintf(joinfile, sizeof(joinfile), "%s/join-token", cfg->state_dir);
    snprintf(imgdir, sizeof(imgdir), "%s/images", cfg->state_dir);
    if (fs_mkdir_p(cfg->state_dir, 0700, &err) < 0 || fs_mkdir_p(imgdir, 0700, &err) < 0 ||
        fs_tighten_tree(cfg->state_dir, &err) < 0) {
        log_error("cannot start: %s", err.msg);
        return 1;
    }
    struct store *st = store_open(o->store ? o->store : path, &err);
    if (st == NULL) {
        log_error("cannot open the store: %s", err.msg);
        return 1;
    }
    char recovering[PATH_MAX + 32];
    snprintf(recovering, sizeof(recovering), "%s/recovering", cfg->state_dir);
    fleet_recovery_init(recovering);
    if (identity_bootstrap(st, pwfile, &err) < 0) {
        log_error("cannot bootstrap: %s", err.msg);
        store_close(st);
        return 1;
    }
    /* A fresh local join token before agents read the file.  When it
     * cannot be written (a full disk, a read-only start) the one from
     * before serves until it expires, registered hosts need none, and
     * the reconciler's loop tries again every minute. */
    if (fleet_join_local_rotate(st, joinfile, &err) < 0)
        log_warn("the local join token is not replaced (new hosts cannot join until it is): %s",
                 err.msg);
    char *tls_cert = NULL, *tls_key = NULL, tls_pin_s[64];
    if (tls_material(o, &tls_cert, &tls_key, tls_pin_s, &err) < 0) {
        log_error("cannot serve HTTPS: %s", err.msg);
        free(tls_cert);
        free(tls_key);
        store_close(st);
        return 1;
    }
    struct ctrl *ctrl = ctrl_start(cfg, st, &err);
    if (ctrl == NULL) {
        log_error("%s", err.msg);
        store_close(st);
        return 1;
    }
    struct api api = {.st = st,
                      .monitor = ctrl_monitor(ctrl),
                      .stacks = ctrl_stacks(ctrl),
                      .image_dir = imgdir,
                      .reconciler_idle_ms = reconciler_idle_ms,
                      .controller_pin = tls_pin_s[0] ? tls_pin_s : NULL,
                      .reconciler_ctx = ctrl};
    /* The portal: the one asked for, else the source tree's build (a
     * developer's checkout), else the installed one. */
    const char *web_dir = o->web_dir;
    if (web_dir == NULL)
        web_dir = web_set_dir(NUBO_WEB_DIR_BUILD) ? NUBO_WEB_DIR_BUILD : NUBO_WEB_DIR;
    if (web_set_dir(web_dir))
        log_info("web portal from %s", web_dir);
    else
        log_warn("no web portal in %s (build it with scripts/build-web.sh)", web_dir);
    struct httpd_cfg hc = {.tcp_addr = cfg->listen_addr,
                           .tls_cert = tls_cert,
                           .tls_key = tls_key,
                           .tcp_port = (uint16_t)cfg->listen_port,
                           .threads = cfg->threads,
                           .conn_per_ip = o->conn_per_ip,
                           .conn_timeout_s = o->conn_timeout_s,
                           .head_timeout_s = o->head_timeout_s,
                           .handler = api_handle,
                           .stream = api_stream,
                           .ctx = &api};
    struct httpd *h = httpd_start(&hc, &err), *ha = NULL;
    if (h && o->agent_addr[0]) {
        /* The agents' own listener: its connection slots cannot be taken by
         * tenants flooding the main one (same routes, same auth). */
        struct httpd_cfg ac = hc;
        ac.tcp_addr = o->agent_addr;
        ac.tcp_port = (uint16_t)o->agent_port;
        ac.threads = AGENT_THREADS;
        ha = httpd_start(&ac, &err);
        if (ha == NULL) {
            httpd_stop(h);
            h = NULL;
        }
    }
    free(tls_cert); /* the servers keep copies */
    if (tls_key)
        explicit_bzero(tls_key, strlen(tls_key));
    free(tls_key);
    if (h == NULL) {
        log_error("cannot serve the API: %s", err.msg);
        ctrl_stop(ctrl);
        store_close(st);
        return 1;
    }
    const char *scheme = hc.tls_cert ? "https" : "http";
    log_info("nubod %s: API on %s://%s:%u/v1 (schema version %d, %s placement)", NUBO_VERSION,
             scheme, cfg->listen_addr, httpd_port(h), store_schema_version(st), cfg->sched_policy);
    if (ha)
        log_info("API for host agents on %s://%s:%u/v1", scheme, o->agent_addr, httpd_port(ha));
    int sig = wait_for_signal(ctrl, &set);
    log_info("signal %d: stopping", sig);
    sdnotify_send("STOPPING=1");
    httpd_stop(ha);
    httpd_stop(h);
    ctrl_stop(ctrl);
    store_close(st);
    fleet_recovery_reset();
    return 0;
}

int main(int argc, char **argv)
{
    struct nubod_opts o;
    int rc = options_parse(argc, argv, &o);
    if (rc < 0)
        rc = run(&o);
    strv_free(&o.args);
    return rc;
}
