/*
 * driver.c - the table of hypervisor drivers, chosen by name; see vm.h.
 */
#include "host/vm/vm_int.h"

#include <string.h>

#include "lib/util.h"

static const struct hv_driver *const drivers[] = {&qemu_driver, &fake_driver};

const struct hv_driver *hv_driver_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(drivers); i++)
        if (strcmp(drivers[i]->name, name) == 0)
            return drivers[i];
    return NULL;
}
