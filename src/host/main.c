/*
 * main.c - nubo-hostd: parse the command line, run the host agent.
 *
 * Like OpenBSD's daemons: one table of options, each landing in one field
 * of struct hostd_cfg (checked as it is read), then one call to the agent.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/host.h"
#include "host/net/net.h"
#include "host/vm/vm.h"
#include "lib/conf.h"
#include "lib/fsutil.h"
#include "lib/inet.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/valid.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: nubo-hostd [options]\n"
                 "\n"
                 "The nubo host agent: runs virtual machines on this machine with QEMU and\n"
                 "serves the host protocol (HTTP/JSON) on a Unix socket and optionally TCP.\n"
                 "\n"
                 "  --config FILE        read settings from FILE first: one 'name = value' line\n"
                 "                       per long option below (e.g. 'controller = http://...');\n"
                 "                       the command line overrides it\n"
                 "  --state-dir DIR      VM state (default /var/lib/nubo/host)\n"
                 "  --images-dir DIR     base images (default /var/lib/nubo/images)\n"
                 "  --socket PATH        Unix socket of the API (default /run/nubo/hostd.sock)\n"
                 "  --listen ADDR:PORT   also serve the API on TCP (needs --token-file)\n"
                 "  --token-file FILE    bearer token required on TCP (first line of FILE)\n"
                 "  --accel MODE         auto | kvm | tcg (default auto: probe the machine)\n"
                 "  --qemu PATH          QEMU binary (default qemu-system-x86_64)\n"
                 "  --stop-timeout SEC   ACPI power-down grace before forcing off (default 30)\n"
                 "  --cpu-ratio R        vCPUs offered per host CPU (default 4)\n"
                 "  --mem-ratio R        memory overcommit ratio (default 1)\n"
                 "  --mem-reserve MIB    memory kept for the host (default 512)\n"
                 "  --driver NAME        qemu (default) | fake (scale tests only: no guest runs)\n"
                 "\n"
                 "Tenant networking (docs/internals/networking.md):\n"
                 "  --netns NAME         bridges, taps, VXLAN and QEMU live in the existing\n"
                 "                       network namespace NAME (simulating hosts in tests)\n"
                 "  --underlay-ip ADDR   local IPv4 endpoint of the VXLAN tunnels (default none:\n"
                 "                       networks stay on this host)\n"
                 "  --external-bridge BR bridge of the external network (floating IPs)\n"
                 "  --datapath-check SEC compare the datapath with the network document and\n"
                 "                       repair drift every SEC seconds (default 10; 0: off);\n"
                 "                       what stays broken makes the host degraded\n"
                 "\n"
                 "Joining a controller (nubod):\n"
                 "  --controller URL     nubod's API, e.g. http://127.0.0.1:7700 (https:// with\n"
                 "                       --controller-ca)\n"
                 "  --controller-ca F    the PEM CA that signed an https:// nubod's certificate\n"
                 "                       (pinned: only it is trusted; the join token never\n"
                 "                       crosses the network in clear)\n"
                 "  --controller-pin P   or trust an https:// nubod by its public key:\n"
                 "                       sha256//... (nubo host join-command prints it)\n"
                 "  --join-token-file F  nubod's <state-dir>/join-token (read when registering)\n"
                 "  --advertise ADDRESS  how nubod reaches this agent: unix:/path/to/hostd.sock\n"
                 "                       (default unix:<--socket>) or http://ADDR:PORT (TCP API)\n"
                 "  --name NAME          this host's name at the controller (default hostname)\n"
                 "  --heartbeat-ms MS    heartbeat interval (default 3000)\n"
                 "  --sample-ms MS       metric sampling interval, sent to the controller\n"
                 "                       (default 10000; 0: no metrics)\n"
                 "\n"
                 "  --log-level LEVEL    debug | info | warn | error (default info)\n"
                 "  --log-format F       text | json: one JSON object a line, with the request\n"
                 "                       id (default text)\n"
                 "  -h, --help           this text\n"
                 "  -V, --version        print the version\n");
}

/* Everything the command line sets. */
struct hostd_cfg {
    struct host_cfg host;
    enum log_level level;
    struct strv args; /* the arguments parsed: --config's file, then the command line */
};

/* How an option's argument lands in its field. */
enum opt_kind {
    OPT_PATH,  /* a string, copied (cut to the field) */
    OPT_INT,   /* an int in min..max */
    OPT_RATIO, /* a positive double (valid_ratio) */
    OPT_FN,    /* checked and stored by fn */
};

struct opt {
    const char *name; /* --name, always with an argument */
    enum opt_kind kind;
    size_t off, size; /* the field in struct hostd_cfg (not OPT_FN) */
    long long min, max;
    /* OPT_FN: stores arg in c, or prints why not and returns -1. */
    int (*fn)(struct hostd_cfg *c, const char *arg);
};

/* Prints "nubo-hostd: <why>" for a bad option; returns -1. */
static int bad_opt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad_opt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "nubo-hostd: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return -1;
}

static int opt_listen(struct hostd_cfg *c, const char *arg)
{
    struct nubo_err err;
    long long n;
    const char *colon = strrchr(arg, ':');
    if (colon == NULL || colon == arg || (size_t)(colon - arg) >= sizeof(c->host.tcp_addr) ||
        valid_int(colon + 1, 0, 65535, "--listen port", &n, &err) < 0)
        return bad_opt("--listen wants ADDR:PORT, e.g. 127.0.0.1:7001");
    snprintf(c->host.tcp_addr, sizeof(c->host.tcp_addr), "%.*s", (int)(colon - arg), arg);
    c->host.tcp_port = (int)n;
    return 0;
}

static int opt_token_file(struct hostd_cfg *c, const char *arg)
{
    struct nubo_err err;
    char *tok = fs_read_file(arg, 4096, NULL, &err);
    if (tok == NULL)
        return bad_opt("--token-file: %s", err.msg);
    tok[strcspn(tok, "\r\n")] = '\0';
    int bad = strlen(tok) < 16 || str_copy(c->host.token, sizeof(c->host.token), tok) < 0;
    free(tok);
    return bad ? bad_opt("the token must be 16 to 127 characters") : 0;
}

static int opt_accel(struct hostd_cfg *c, const char *arg)
{
    struct nubo_err err;
    return accel_parse(arg, &c->host.accel, &err) < 0 ? bad_opt("%s", err.msg) : 0;
}

static int opt_mem_reserve(struct hostd_cfg *c, const char *arg)
{
    struct nubo_err err;
    long long n;
    if (valid_int(arg, 0, 1 << 30, "--mem-reserve", &n, &err) < 0)
        return bad_opt("%s", err.msg);
    c->host.mem_reserve_mib = (uint64_t)n;
    return 0;
}

static int opt_driver(struct hostd_cfg *c, const char *arg)
{
    if (hv_driver_find(arg) == NULL)
        return bad_opt("--driver must be qemu or fake");
    str_copy(c->host.driver, sizeof(c->host.driver), arg);
    return 0;
}

static bool is_url(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "unix:/", 6) == 0;
}

static int opt_controller(struct hostd_cfg *c, const char *arg)
{
    if ((!is_url(arg) && strncmp(arg, "https://", 8) != 0) ||
        str_copy(c->host.controller, sizeof(c->host.controller), arg) < 0)
        return bad_opt("--controller wants nubod's URL, e.g. http://127.0.0.1:7700 or"
                       " https://nubo.example:7701");
    return 0;
}

static int opt_controller_pin(struct hostd_cfg *c, const char *arg)
{
    size_t n = strlen(arg);
    if (strncmp(arg, "sha256//", 8) != 0 || n != 52 ||
        strspn(arg + 8, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != 44)
        return bad_opt("--controller-pin wants sha256//<44 base64 characters>, the pin 'nubo host"
                       " join-command' prints");
    str_copy(c->host.controller_pin, sizeof(c->host.controller_pin), arg);
    return 0;
}

static int opt_controller_ca(struct hostd_cfg *c, const char *arg)
{
    if (access(arg, R_OK) != 0 ||
        str_copy(c->host.controller_ca, sizeof(c->host.controller_ca), arg) < 0)
        return bad_opt("--controller-ca %s: cannot read it (the PEM CA of nubod's certificate;"
                       " nubod --tls-auto's is <state-dir>/tls/ca.pem)",
                       arg);
    return 0;
}

static int opt_join_token_file(struct hostd_cfg *c, const char *arg)
{
    if (str_copy(c->host.join_token_file, sizeof(c->host.join_token_file), arg) < 0)
        return bad_opt("--join-token-file: path too long");
    return 0;
}

static int opt_advertise(struct hostd_cfg *c, const char *arg)
{
    if (!is_url(arg) || str_copy(c->host.advertise, sizeof(c->host.advertise), arg) < 0)
        return bad_opt("--advertise wants unix:/path/to/hostd.sock or http://ADDR:PORT");
    return 0;
}

static int opt_name(struct hostd_cfg *c, const char *arg)
{
    struct nubo_err err;
    if (valid_name(arg, "--name", &err) < 0)
        return bad_opt("%s", err.msg);
    str_copy(c->host.name, sizeof(c->host.name), arg);
    return 0;
}

static int opt_sample_ms(struct hostd_cfg *c, const char *arg)
{
    struct nubo_err err;
    long long n;
    if (valid_int(arg, 0, 3600000, "--sample-ms", &n, &err) < 0 || (n > 0 && n < 100))
        return bad_opt("--sample-ms must be 0 (off) or 100 to 3600000");
    c->host.sample_ms = (int)n;
    return 0;
}

static int opt_netns(struct hostd_cfg *c, const char *arg)
{
    struct nubo_err err;
    if (valid_name(arg, "--netns", &err) < 0 || strlen(arg) > 40)
        return bad_opt("--netns wants a namespace name of 1 to 40 characters "
                       "[A-Za-z0-9._-]");
    str_copy(c->host.netns, sizeof(c->host.netns), arg);
    return 0;
}

static int opt_underlay_ip(struct hostd_cfg *c, const char *arg)
{
    uint32_t a;
    if (inet_ipv4_parse(arg, &a) < 0 || a == 0)
        return bad_opt("--underlay-ip wants an IPv4 address");
    str_copy(c->host.underlay_ip, sizeof(c->host.underlay_ip), arg);
    return 0;
}

static int opt_external_bridge(struct hostd_cfg *c, const char *arg)
{
    struct nubo_err err;
    if (valid_name(arg, "--external-bridge", &err) < 0 || strlen(arg) > 15)
        return bad_opt("--external-bridge wants an interface name of 1 to 15 "
                       "characters");
    str_copy(c->host.external_bridge, sizeof(c->host.external_bridge), arg);
    return 0;
}

static int opt_log_format(struct hostd_cfg *c, const char *arg)
{
    enum log_format f;
    if (log_format_parse(arg, &f) < 0)
        return bad_opt("--log-format must be text or json");
    log_set_format(f);
    return 0;
}

static int opt_log_level(struct hostd_cfg *c, const char *arg)
{
    if (log_level_parse(arg, &c->level) < 0)
        return bad_opt("--log-level must be debug, info, warn or error");
    return 0;
}

#define FIELD(f)                                                                                   \
    .off = offsetof(struct hostd_cfg, host.f), .size = sizeof(((struct hostd_cfg *)0)->host.f)

static const struct opt options[] = {
    {"state-dir", OPT_PATH, FIELD(state_dir)},
    {"images-dir", OPT_PATH, FIELD(images_dir)},
    {"socket", OPT_PATH, FIELD(socket_path)},
    {"listen", OPT_FN, .fn = opt_listen},
    {"token-file", OPT_FN, .fn = opt_token_file},
    {"accel", OPT_FN, .fn = opt_accel},
    {"qemu", OPT_PATH, FIELD(qemu)},
    {"stop-timeout", OPT_INT, FIELD(stop_timeout_s), .min = 0, .max = 3600},
    {"cpu-ratio", OPT_RATIO, FIELD(cpu_ratio)},
    {"mem-ratio", OPT_RATIO, FIELD(mem_ratio)},
    {"mem-reserve", OPT_FN, .fn = opt_mem_reserve},
    {"log-level", OPT_FN, .fn = opt_log_level},
    {"log-format", OPT_FN, .fn = opt_log_format},
    {"driver", OPT_FN, .fn = opt_driver},
    {"controller", OPT_FN, .fn = opt_controller},
    {"controller-ca", OPT_FN, .fn = opt_controller_ca},
    {"controller-pin", OPT_FN, .fn = opt_controller_pin},
    {"join-token-file", OPT_FN, .fn = opt_join_token_file},
    {"advertise", OPT_FN, .fn = opt_advertise},
    {"name", OPT_FN, .fn = opt_name},
    {"heartbeat-ms", OPT_INT, FIELD(heartbeat_ms), .min = 100, .max = 60000},
    {"datapath-check", OPT_INT, FIELD(datapath_check_s), .min = 0, .max = 86400},
    {"sample-ms", OPT_FN, .fn = opt_sample_ms},
    {"netns", OPT_FN, .fn = opt_netns},
    {"underlay-ip", OPT_FN, .fn = opt_underlay_ip},
    {"external-bridge", OPT_FN, .fn = opt_external_bridge},
};

/* Stores arg for option o in c; prints why not and returns -1. */
static int opt_apply(const struct opt *o, struct hostd_cfg *c, const char *arg)
{
    char *field = (char *)c + o->off;
    char flag[32];
    struct nubo_err err;
    long long n;
    snprintf(flag, sizeof(flag), "--%s", o->name);
    switch (o->kind) {
    case OPT_PATH:
        str_copy(field, o->size, arg);
        return 0;
    case OPT_INT:
        if (valid_int(arg, o->min, o->max, flag, &n, &err) < 0)
            return bad_opt("%s", err.msg);
        *(int *)(void *)field = (int)n;
        return 0;
    case OPT_RATIO:
        if (valid_ratio(arg, flag, (double *)(void *)field, &err) < 0)
            return bad_opt("%s", err.msg);
        return 0;
    case OPT_FN:
        return o->fn(c, arg);
    }
    return -1;
}

/* Parses the command line into c.  Returns -1 to go on, or the exit status
 * (0 after --help or --version, 2 on a bad option). */
static int parse_args(int argc, char **argv, struct hostd_cfg *c)
{
    enum { FIRST_OPT = 256 };
    struct option longopts[ARRAY_LEN(options) + 3];
    for (size_t i = 0; i < ARRAY_LEN(options); i++)
        longopts[i] = (struct option){options[i].name, required_argument, NULL, FIRST_OPT + (int)i};
    longopts[ARRAY_LEN(options)] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[ARRAY_LEN(options) + 1] = (struct option){"version", no_argument, NULL, 'V'};
    longopts[ARRAY_LEN(options) + 2] = (struct option){NULL, 0, NULL, 0};

    host_cfg_defaults(&c->host);
    c->level = LOG_INFO;
    c->args = (struct strv){0};
    struct nubo_err err;
    if (conf_argv(argc, argv, longopts, &c->args, &err) < 0) {
        fprintf(stderr, "nubo-hostd: %s\n", err.msg);
        return 2;
    }
    argc = c->args.n;
    argv = c->args.v;
    int ch;
    while ((ch = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
        if (ch >= FIRST_OPT && ch < FIRST_OPT + (int)ARRAY_LEN(options)) {
            if (opt_apply(&options[ch - FIRST_OPT], c, optarg) < 0)
                return 2;
        } else if (ch == 'h') {
            usage(stdout);
            return 0;
        } else if (ch == 'V') {
            printf("nubo-hostd %s\n", NUBO_VERSION);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "nubo-hostd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    return -1;
}

int main(int argc, char **argv)
{
    struct hostd_cfg cfg;
    int status = parse_args(argc, argv, &cfg);
    strv_free(&cfg.args); /* every option's value is copied into cfg */
    if (status >= 0)
        return status;
    log_init(cfg.level, NULL);
    umask(077); /* VM disks, images, user-data and tokens are ours (and QEMU's) alone */
    struct nubo_err err;
    struct host *h = host_new(&cfg.host, &err);
    if (h == NULL) {
        log_error("cannot start: %s", err.msg);
        return 1;
    }
    int rc = host_run(h);
    host_free(h);
    return rc < 0 ? 1 : 0;
}
