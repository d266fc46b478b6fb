/*
 * fuzz_vm_def.c - libFuzzer target: any request body sent to the host
 * agent's POST /v1/vms is rejected cleanly or accepted as a valid
 * definition, never crashes or leaks; an accepted one survives the
 * vm.json round trip.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "host/vm/vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    if (body == NULL || !json_is_object(body)) {
        json_decref(body);
        return 0;
    }
    struct vm_def def;
    struct nubo_err err;
    if (vm_def_from_request(body, &def, &err) == 0) {
        json_t *j = vm_def_to_json(&def);
        struct vm_def back;
        if (vm_def_from_json(j, &back, &err) != 0)
            abort(); /* a definition we accepted must load back */
        vm_def_clear(&back);
        json_decref(j);
        vm_def_clear(&def);
    }
    json_decref(body);
    return 0;
}
