/*
 * quota.c - per-project limits, checked atomically with the create.
 */
#include "identity/identity.h"

int quota_check(struct store *st, const char *project_id, const struct quota_ask *ask,
                struct nubo_err *err)
{
    json_t *q = store_query_one(
        st, err,
        "SELECT q.instances AS max_instances, q.vcpus AS max_vcpus, q.ram_mib AS max_ram,"
        " q.disk_gib AS max_disk,"
        " (SELECT COUNT(*) FROM instances i WHERE i.project_id = q.project_id"
        "   AND i.status <> 'deleted') AS instances,"
        " (SELECT COALESCE(SUM(vcpus), 0) FROM instances i WHERE i.project_id = q.project_id"
        "   AND i.status <> 'deleted') AS vcpus,"
        " (SELECT COALESCE(SUM(ram_mib), 0) FROM instances i WHERE i.project_id = q.project_id"
        "   AND i.status <> 'deleted') AS ram,"
        " (SELECT COALESCE(SUM(disk_gib), 0) FROM instances i WHERE i.project_id = q.project_id"
        "   AND i.status <> 'deleted') AS disk"
        " FROM quotas q WHERE q.project_id = ?",
        "s", project_id);
    if (q == NULL) {
        if (err && err->code == NUBO_E_NOTFOUND)
            nubo_err_set(err, NUBO_E_INTERNAL, "project %s has no quota record", project_id);
        return -1;
    }
    static const struct {
        const char *used, *max, *what;
    } dims[] = {{"instances", "max_instances", "instances"},
                {"vcpus", "max_vcpus", "vCPUs"},
                {"ram", "max_ram", "MiB of RAM"},
                {"disk", "max_disk", "GiB of disk"}};
    long long want[4] = {ask->instances, ask->vcpus, ask->ram_mib, ask->disk_gib};
    int rc = 0;
    for (int i = 0; i < 4 && rc == 0; i++) {
        long long used = json_integer_value(json_object_get(q, dims[i].used));
        long long max = json_integer_value(json_object_get(q, dims[i].max));
        if (used + want[i] > max)
            rc = nubo_err_set(err, NUBO_E_FORBIDDEN,
                              "quota exceeded: the project uses %lld of %lld %s and this "
                              "request needs %lld more; delete something or ask an admin to "
                              "raise the quota",
                              used, max, dims[i].what, want[i]);
    }
    json_decref(q);
    return rc;
}
