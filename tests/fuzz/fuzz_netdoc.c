/*
 * fuzz_netdoc.c - libFuzzer target: any body of the host agent's
 * PUT /v1/network is rejected cleanly or parsed into a document whose
 * references hold (every port's network and subnet indexes are in range),
 * never crashes or leaks.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "host/net/net_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    if (body == NULL) {
        return 0;
    }
    struct net_doc doc;
    struct nubo_err err;
    if (net_doc_parse(body, &doc, &err) == 0) {
        for (int i = 0; i < doc.nports; i++) {
            const struct net_port *p = &doc.ports[i];
            if (p->network_idx < 0 || p->network_idx >= doc.nnetworks || p->subnet_idx < 0 ||
                p->subnet_idx >= doc.networks[p->network_idx].nsubnets)
                abort();
        }
        net_doc_clear(&doc);
    }
    json_decref(body);
    return 0;
}
