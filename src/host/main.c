/*
 * main.c - nubo-hostd: parse the command line, run the host agent.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/host.h"
#include "host/netdoc.h"
#include "lib/fsutil.h"
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
                 "\n"
                 "Joining a controller (nubod):\n"
                 "  --controller URL     nubod's API, e.g. http://127.0.0.1:7700\n"
                 "  --join-token-file F  nubod's <state-dir>/join-token (read when registering)\n"
                 "  --advertise ADDRESS  how nubod reaches this agent: unix:/path/to/hostd.sock\n"
                 "                       (default unix:<--socket>) or http://ADDR:PORT (TCP API)\n"
                 "  --name NAME          this host's name at the controller (default hostname)\n"
                 "  --heartbeat-ms MS    heartbeat interval (default 3000)\n"
                 "  --sample-ms MS       metric sampling interval, sent to the controller\n"
                 "                       (default 10000; 0: no metrics)\n"
                 "\n"
                 "  --log-level LEVEL    debug | info | warn | error (default info)\n"
                 "  -h, --help           this text\n"
                 "  -V, --version        print the version\n");
}

static int parse_ratio(const char *s, const char *what, double *out)
{
    struct nubo_err err;
    if (valid_ratio(s, what, out, &err) < 0) {
        fprintf(stderr, "nubo-hostd: %s\n", err.msg);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state-dir", required_argument, NULL, 's'},
        {"images-dir", required_argument, NULL, 'i'},
        {"socket", required_argument, NULL, 'S'},
        {"listen", required_argument, NULL, 'l'},
        {"token-file", required_argument, NULL, 't'},
        {"accel", required_argument, NULL, 'a'},
        {"qemu", required_argument, NULL, 'q'},
        {"stop-timeout", required_argument, NULL, 'T'},
        {"cpu-ratio", required_argument, NULL, 'c'},
        {"mem-ratio", required_argument, NULL, 'm'},
        {"mem-reserve", required_argument, NULL, 'r'},
        {"log-level", required_argument, NULL, 'L'},
        {"driver", required_argument, NULL, 'd'},
        {"controller", required_argument, NULL, 'C'},
        {"join-token-file", required_argument, NULL, 'J'},
        {"advertise", required_argument, NULL, 'A'},
        {"name", required_argument, NULL, 'n'},
        {"heartbeat-ms", required_argument, NULL, 'H'},
        {"sample-ms", required_argument, NULL, 'M'},
        {"netns", required_argument, NULL, 'N'},
        {"underlay-ip", required_argument, NULL, 'U'},
        {"external-bridge", required_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct host_cfg cfg;
    host_cfg_defaults(&cfg);
    enum log_level level = LOG_INFO;
    struct nubo_err err;
    long long n;
    int c;
    while ((c = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            str_copy(cfg.state_dir, sizeof(cfg.state_dir), optarg);
            break;
        case 'i':
            str_copy(cfg.images_dir, sizeof(cfg.images_dir), optarg);
            break;
        case 'S':
            str_copy(cfg.socket_path, sizeof(cfg.socket_path), optarg);
            break;
        case 'l': {
            const char *colon = strrchr(optarg, ':');
            if (colon == NULL || colon == optarg ||
                (size_t)(colon - optarg) >= sizeof(cfg.tcp_addr) ||
                valid_int(colon + 1, 0, 65535, "--listen port", &n, &err) < 0) {
                fprintf(stderr, "nubo-hostd: --listen wants ADDR:PORT, e.g. 127.0.0.1:7001\n");
                return 2;
            }
            snprintf(cfg.tcp_addr, sizeof(cfg.tcp_addr), "%.*s", (int)(colon - optarg), optarg);
            cfg.tcp_port = (int)n;
            break;
        }
        case 't': {
            char *tok = fs_read_file(optarg, 4096, NULL, &err);
            if (tok == NULL) {
                fprintf(stderr, "nubo-hostd: --token-file: %s\n", err.msg);
                return 2;
            }
            tok[strcspn(tok, "\r\n")] = '\0';
            if (strlen(tok) < 16 || str_copy(cfg.token, sizeof(cfg.token), tok) < 0) {
                fprintf(stderr, "nubo-hostd: the token must be 16 to 127 characters\n");
                free(tok);
                return 2;
            }
            free(tok);
            break;
        }
        case 'a':
            if (accel_parse(optarg, &cfg.accel, &err) < 0) {
                fprintf(stderr, "nubo-hostd: %s\n", err.msg);
                return 2;
            }
            break;
        case 'q':
            str_copy(cfg.qemu, sizeof(cfg.qemu), optarg);
            break;
        case 'T':
            if (valid_int(optarg, 0, 3600, "--stop-timeout", &n, &err) < 0) {
                fprintf(stderr, "nubo-hostd: %s\n", err.msg);
                return 2;
            }
            cfg.stop_timeout_s = (int)n;
            break;
        case 'c':
            if (parse_ratio(optarg, "--cpu-ratio", &cfg.cpu_ratio) < 0)
                return 2;
            break;
        case 'm':
            if (parse_ratio(optarg, "--mem-ratio", &cfg.mem_ratio) < 0)
                return 2;
            break;
        case 'r':
            if (valid_int(optarg, 0, 1 << 30, "--mem-reserve", &n, &err) < 0) {
                fprintf(stderr, "nubo-hostd: %s\n", err.msg);
                return 2;
            }
            cfg.mem_reserve_mib = (uint64_t)n;
            break;
        case 'd':
            if (strcmp(optarg, "qemu") != 0 && strcmp(optarg, "fake") != 0) {
                fprintf(stderr, "nubo-hostd: --driver must be qemu or fake\n");
                return 2;
            }
            str_copy(cfg.driver, sizeof(cfg.driver), optarg);
            break;
        case 'C':
            if ((strncmp(optarg, "http://", 7) != 0 && strncmp(optarg, "unix:/", 6) != 0) ||
                str_copy(cfg.controller, sizeof(cfg.controller), optarg) < 0) {
                fprintf(stderr, "nubo-hostd: --controller wants nubod's URL, e.g. "
                                "http://127.0.0.1:7700\n");
                return 2;
            }
            break;
        case 'J':
            if (str_copy(cfg.join_token_file, sizeof(cfg.join_token_file), optarg) < 0) {
                fprintf(stderr, "nubo-hostd: --join-token-file: path too long\n");
                return 2;
            }
            break;
        case 'A':
            if ((strncmp(optarg, "http://", 7) != 0 && strncmp(optarg, "unix:/", 6) != 0) ||
                str_copy(cfg.advertise, sizeof(cfg.advertise), optarg) < 0) {
                fprintf(stderr, "nubo-hostd: --advertise wants unix:/path/to/hostd.sock or "
                                "http://ADDR:PORT\n");
                return 2;
            }
            break;
        case 'n':
            if (valid_name(optarg, "--name", &err) < 0) {
                fprintf(stderr, "nubo-hostd: %s\n", err.msg);
                return 2;
            }
            str_copy(cfg.name, sizeof(cfg.name), optarg);
            break;
        case 'H':
            if (valid_int(optarg, 100, 60000, "--heartbeat-ms", &n, &err) < 0) {
                fprintf(stderr, "nubo-hostd: %s\n", err.msg);
                return 2;
            }
            cfg.heartbeat_ms = (int)n;
            break;
        case 'M':
            if (valid_int(optarg, 0, 3600000, "--sample-ms", &n, &err) < 0 || (n > 0 && n < 100)) {
                fprintf(stderr, "nubo-hostd: --sample-ms must be 0 (off) or 100 to 3600000\n");
                return 2;
            }
            cfg.sample_ms = (int)n;
            break;
        case 'N':
            if (valid_name(optarg, "--netns", &err) < 0 || strlen(optarg) > 40) {
                fprintf(stderr, "nubo-hostd: --netns wants a namespace name of 1 to 40 "
                                "characters [A-Za-z0-9._-]\n");
                return 2;
            }
            str_copy(cfg.netns, sizeof(cfg.netns), optarg);
            break;
        case 'U': {
            uint32_t a;
            if (inet_ipv4_parse(optarg, &a) < 0 || a == 0) {
                fprintf(stderr, "nubo-hostd: --underlay-ip wants an IPv4 address\n");
                return 2;
            }
            str_copy(cfg.underlay_ip, sizeof(cfg.underlay_ip), optarg);
            break;
        }
        case 'B':
            if (valid_name(optarg, "--external-bridge", &err) < 0 || strlen(optarg) > 15) {
                fprintf(stderr, "nubo-hostd: --external-bridge wants an interface name of 1 "
                                "to 15 characters\n");
                return 2;
            }
            str_copy(cfg.external_bridge, sizeof(cfg.external_bridge), optarg);
            break;
        case 'L':
            if (log_level_parse(optarg, &level) < 0) {
                fprintf(stderr, "nubo-hostd: --log-level must be debug, info, warn or error\n");
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("nubo-hostd %s\n", NUBO_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "nubo-hostd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    log_init(level, NULL);
    struct host *h = host_new(&cfg, &err);
    if (h == NULL) {
        log_error("cannot start: %s", err.msg);
        return 1;
    }
    int rc = host_run(h);
    host_free(h);
    return rc < 0 ? 1 : 0;
}
