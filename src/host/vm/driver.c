/*
 * driver.c - the table of hypervisor drivers, chosen by name; see driver.h.
 */
#include "host/vm/driver.h"

#include <string.h>

#include "host/vm/fake.h"
#include "host/vm/qemu.h"
#include "lib/util.h"

static const struct hv_driver *const drivers[] = {&qemu_driver, &fake_driver};

const struct hv_driver *hv_driver_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(drivers); i++)
        if (strcmp(drivers[i]->name, name) == 0)
            return drivers[i];
    return NULL;
}
