/*
 * main.c - nubod, the nubo controller: parse the command line, open the
 * store, bootstrap identity on first start, serve the REST API and run the
 * reconciler until SIGTERM/SIGINT.
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/web.h"
#include "ctrl/ctrl.h"
#include "identity/identity.h"
#include "lib/crypto.h"
#include "lib/fsutil.h"
#include "lib/addrguard.h"
#include "lib/httpd.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/valid.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nubod [options]\n"
            "\n"
            "The nubo controller: the cloud's REST API (/v1), identity and tenancy,\n"
            "scheduling, and the reconciler that drives the host agents.\n"
            "\n"
            "  --state-dir DIR      database, images, secrets (default /var/lib/nubo/controller)\n"
            "  --listen ADDR:PORT   API address (default 127.0.0.1:7700)\n"
            "  --threads N          API threads (default 4)\n"
            "  --policy P           placement: spread | pack (default spread)\n"
            "  --cpu-ratio R        vCPU overcommit (default 4)\n"
            "  --ram-ratio R        RAM overcommit (default 1)\n"
            "  --reconcile-ms MS    reconcile interval (default 2000)\n"
            "  --host-down-ms MS    heartbeat silence before a host is down (default 15000)\n"
            "  --log-level LEVEL    debug | info | warn | error (default info)\n"
            "  --webhook-allow CIDRS  non-public ranges alarm webhooks may reach anyway\n"
            "                       (comma-separated, e.g. 10.1.0.0/16; default: public only)\n"
            "  --web-dir DIR        the built web portal, served at / (default: the\n"
            "                       source tree's build/web when built, else " NUBO_WEB_DIR ")\n"
            "  --print-routes       print every API route and exit\n"
            "  -h, --help           this text\n"
            "  -V, --version        print the version\n"
            "\n"
            "On first start nubod creates the user 'admin' (password in\n"
            "<state-dir>/admin-password, mode 0600) and the projects 'admin' and 'demo', and\n"
            "writes a host join token to <state-dir>/join-token.\n");
}

static int parse_ratio(const char *s, const char *what, double *out)
{
    struct nubo_err err;
    if (valid_ratio(s, what, out, &err) < 0) {
        fprintf(stderr, "nubod: %s\n", err.msg);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 's'},
        {"listen", required_argument, NULL, 'l'},
        {"threads", required_argument, NULL, 't'},
        {"policy", required_argument, NULL, 'p'},
        {"cpu-ratio", required_argument, NULL, 'c'},
        {"ram-ratio", required_argument, NULL, 'r'},
        {"reconcile-ms", required_argument, NULL, 'R'},
        {"host-down-ms", required_argument, NULL, 'D'},
        {"log-level", required_argument, NULL, 'L'},
        {"web-dir", required_argument, NULL, 'W'},
        {"webhook-allow", required_argument, NULL, 'A'},
        {"print-routes", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct ctrl_cfg cfg;
    ctrl_cfg_defaults(&cfg);
    enum log_level level = LOG_INFO;
    const char *web_dir = NULL;
    struct nubo_err err;
    long long n;
    int c;
    while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            str_copy(cfg.state_dir, sizeof(cfg.state_dir), optarg);
            break;
        case 'l': {
            const char *colon = strrchr(optarg, ':');
            if (colon == NULL || colon == optarg ||
                (size_t)(colon - optarg) >= sizeof(cfg.listen_addr) ||
                valid_int(colon + 1, 0, 65535, "--listen port", &n, &err) < 0) {
                fprintf(stderr, "nubod: --listen wants ADDR:PORT, e.g. 127.0.0.1:7700\n");
                return 2;
            }
            snprintf(cfg.listen_addr, sizeof(cfg.listen_addr), "%.*s", (int)(colon - optarg),
                     optarg);
            cfg.listen_port = (int)n;
            break;
        }
        case 't':
            if (valid_int(optarg, 1, 64, "--threads", &n, &err) < 0) {
                fprintf(stderr, "nubod: %s\n", err.msg);
                return 2;
            }
            cfg.threads = (int)n;
            break;
        case 'p':
            if (strcmp(optarg, "spread") != 0 && strcmp(optarg, "pack") != 0) {
                fprintf(stderr, "nubod: --policy must be spread or pack\n");
                return 2;
            }
            str_copy(cfg.sched_policy, sizeof(cfg.sched_policy), optarg);
            break;
        case 'c':
            if (parse_ratio(optarg, "--cpu-ratio", &cfg.cpu_ratio) < 0)
                return 2;
            break;
        case 'r':
            if (parse_ratio(optarg, "--ram-ratio", &cfg.ram_ratio) < 0)
                return 2;
            break;
        case 'R':
        case 'D':
            if (valid_int(optarg, 100, 3600000, c == 'R' ? "--reconcile-ms" : "--host-down-ms", &n,
                          &err) < 0) {
                fprintf(stderr, "nubod: %s\n", err.msg);
                return 2;
            }
            if (c == 'R')
                cfg.reconcile_ms = (int)n;
            else
                cfg.host_down_ms = (int)n;
            break;
        case 'L':
            if (log_level_parse(optarg, &level) < 0) {
                fprintf(stderr, "nubod: --log-level must be debug, info, warn or error\n");
                return 2;
            }
            break;
        case 'W':
            web_dir = optarg;
            break;
        case 'A': {
            struct addrguard g;
            if (strlen(optarg) >= sizeof(cfg.monitor.webhook_allow)) {
                fprintf(stderr, "nubod: --webhook-allow: the list is too long\n");
                return 2;
            }
            if (addrguard_parse(&g, optarg, &err) < 0) {
                fprintf(stderr, "nubod: --webhook-allow: %s\n", err.msg);
                return 2;
            }
            str_copy(cfg.monitor.webhook_allow, sizeof(cfg.monitor.webhook_allow), optarg);
            break;
        }
        case 'P':
            api_routes_print(stdout);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("nubod %s\n", NUBO_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "nubod: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    log_init(level, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (crypto_init(&err) < 0) {
        log_error("%s", err.msg);
        return 1;
    }
    char path[PATH_MAX + 32], pwfile[PATH_MAX + 32], joinfile[PATH_MAX + 32], imgdir[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/nubo.db", cfg.state_dir);
    snprintf(pwfile, sizeof(pwfile), "%s/admin-password", cfg.state_dir);
    snprintf(joinfile, sizeof(joinfile), "%s/join-token", cfg.state_dir);
    snprintf(imgdir, sizeof(imgdir), "%s/images", cfg.state_dir);
    if (fs_mkdir_p(cfg.state_dir, 0700, &err) < 0 || fs_mkdir_p(imgdir, 0700, &err) < 0) {
        log_error("cannot start: %s", err.msg);
        return 1;
    }
    struct store *st = store_open(path, &err);
    if (st == NULL) {
        log_error("cannot open the store: %s", err.msg);
        return 1;
    }
    if (identity_bootstrap(st, pwfile, joinfile, &err) < 0) {
        log_error("cannot bootstrap: %s", err.msg);
        store_close(st);
        return 1;
    }
    struct ctrl *ctrl = ctrl_start(&cfg, st, &err);
    if (ctrl == NULL) {
        log_error("%s", err.msg);
        store_close(st);
        return 1;
    }
    struct api api = {.st = st, .ctrl = ctrl, .image_dir = imgdir};
    /* The portal: the one asked for, else the source tree's build (a
     * developer's checkout), else the installed one. */
    if (web_dir == NULL)
        web_dir = web_set_dir(NUBO_WEB_DIR_BUILD) ? NUBO_WEB_DIR_BUILD : NUBO_WEB_DIR;
    if (web_set_dir(web_dir))
        log_info("web portal from %s", web_dir);
    else
        log_warn("no web portal in %s (build it with scripts/build-web.sh)", web_dir);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* threads started below inherit it */
    struct httpd_cfg hc = {.tcp_addr = cfg.listen_addr,
                           .tcp_port = (uint16_t)cfg.listen_port,
                           .threads = cfg.threads,
                           .handler = api_handle,
                           .stream = api_stream,
                           .ctx = &api};
    struct httpd *h = httpd_start(&hc, &err);
    if (h == NULL) {
        log_error("cannot serve the API: %s", err.msg);
        ctrl_stop(ctrl);
        store_close(st);
        return 1;
    }
    log_info("nubod %s: API on http://%s:%u/v1 (schema version %d, %s placement)", NUBO_VERSION,
             cfg.listen_addr, httpd_port(h), store_schema_version(st), cfg.sched_policy);
    int sig = 0;
    sigwait(&set, &sig);
    log_info("signal %d: stopping", sig);
    httpd_stop(h);
    ctrl_stop(ctrl);
    store_close(st);
    return 0;
}
