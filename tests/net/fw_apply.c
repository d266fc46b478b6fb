/*
 * fw_apply.c - test driver for src/host/net/firewall.c (not installed).
 *
 *   fw_apply [--netns NS] [--tag TAG] [--print | --remove] DOC.json
 *
 * TAG is the agent tag of the names (default "ntst").
 *
 * Parses DOC.json with net_doc_parse and calls fw_apply (or fw_remove, or
 * prints the host script and the router scripts).  Exits 0 on success, 2
 * when the document was refused (message on stderr), 1 on other failures.
 * tests/e2e/test_firewall.py drives it against real nftables.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/net/net_int.h"

int main(int argc, char **argv)
{
    struct fw_env env = {.netns = NULL, .tag = "ntst"};
    int print = 0, remove = 0, i;

    for (i = 1; i < argc - 1; i++) {
        if (strcmp(argv[i], "--netns") == 0 && i + 1 < argc - 1)
            env.netns = argv[++i];
        else if (strcmp(argv[i], "--tag") == 0 && i + 1 < argc - 1)
            env.tag = argv[++i];
        else if (strcmp(argv[i], "--print") == 0)
            print = 1;
        else if (strcmp(argv[i], "--remove") == 0)
            remove = 1;
        else
            break;
    }
    if (i != argc - 1) {
        fprintf(stderr, "usage: fw_apply [--netns NS] [--tag TAG] [--print|--remove] DOC.json\n");
        return 1;
    }

    json_error_t je;
    json_t *o = json_load_file(argv[i], 0, &je);
    if (!o) {
        fprintf(stderr, "fw_apply: %s: %s\n", argv[i], je.text);
        return 1;
    }
    struct net_doc doc;
    struct nubo_err err;
    nubo_err_clear(&err);
    int rc = net_doc_parse(o, &doc, &err);
    json_decref(o);
    if (rc < 0) {
        fprintf(stderr, "fw_apply: refused: %s\n", err.msg);
        return 2;
    }

    if (print) {
        char *s = fw_render_host(&doc, &env, &err);
        if (s)
            fputs(s, stdout);
        free(s);
        for (int n = 0; s && n < doc.nnetworks; n++) {
            char *r = fw_render_router(&doc, n, &err);
            if (r)
                printf("# router %u\n%s", doc.networks[n].vni, r);
            free(r);
        }
        rc = s ? 0 : -1;
    } else if (remove) {
        rc = fw_remove(&doc, &env, &err);
    } else {
        rc = fw_apply(&doc, &env, &err);
    }
    net_doc_clear(&doc);
    if (rc < 0) {
        fprintf(stderr, "fw_apply: %s\n", err.msg);
        return err.code == NUBO_E_INVALID ? 2 : 1;
    }
    return 0;
}
