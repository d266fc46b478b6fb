/*
 * schema_mobility.c - the tables of VM mobility (src/compute/migrate.c,
 * docs/internals/mobility.md), migration 20.
 *
 * migrations: one row per live migration of an instance, from the
 * instance's host (source_host_id) to target_host_id.  state:
 *
 *   preparing  the row exists, the instance is 'migrating'; the target's
 *              VM is being made ready for the stream
 *   running    the source was told to send (dest_uri): QEMU migrates
 *   completed  the guest runs on the target: instances.host_id moved there
 *              in the same transaction
 *   failed     it runs on the source still (error says why)
 *   cancelled  an admin cancelled it; it runs on the source still
 *
 * At most one migration of an instance is preparing or running (the
 * instance's 'migrating' status, a compare-and-set, guarantees it).
 * progress is the last JSON the source's agent gave (RAM and disk
 * bytes, dirty rate, downtime); downtime_ms and total_ms are QEMU's own
 * measures of the completed migration.  tasks.progress carries the same
 * figures for the migrate task (JSON text; NULL for other tasks).
 */
const char store_schema_v20_mobility[] =
    "CREATE TABLE migrations ("
    "  id TEXT PRIMARY KEY,"
    "  instance_id TEXT NOT NULL REFERENCES instances(id),"
    "  source_host_id TEXT NOT NULL,"
    "  target_host_id TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('preparing', 'running', 'completed', 'failed',"
    "    'cancelled')),"
    "  cancel_requested INTEGER NOT NULL DEFAULT 0,"
    "  dest_uri TEXT,"
    "  progress TEXT NOT NULL DEFAULT '{}',"
    "  error TEXT,"
    "  downtime_ms INTEGER,"
    "  total_ms INTEGER,"
    "  task_id TEXT,"
    "  created_by TEXT,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  finished_at TEXT);"
    "CREATE INDEX migrations_instance ON migrations (instance_id, created_at);"
    "CREATE INDEX migrations_state ON migrations (state);"
    "ALTER TABLE tasks ADD COLUMN progress TEXT;";

/* Host maintenance (migration 24; src/fleet/maintenance.c, the drain in
 * src/ctrl/drain.c): maintenance is NULL (in service), 'draining' (the
 * reconciler live-migrates its instances off, a few at a time) or
 * 'drained' (nothing more to move).  Either way the scheduler places
 * nothing there.  maintenance_at and maintenance_by say when and by whom
 * the drain was asked (the migrations it starts are that admin's);
 * drain_failures maps the instances that could not move during this
 * drain to why ({instance id: reason}), so each is tried once per drain. */
const char store_schema_v24_maintenance[] = "ALTER TABLE hosts ADD COLUMN maintenance TEXT;"
                                            "ALTER TABLE hosts ADD COLUMN maintenance_at TEXT;"
                                            "ALTER TABLE hosts ADD COLUMN maintenance_by TEXT;"
                                            "ALTER TABLE hosts ADD COLUMN drain_failures TEXT"
                                            " NOT NULL DEFAULT '{}';";
