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

/*
 * Migration 23: cold migration and resize (src/compute/resize.c,
 * src/ctrl/resize.c) reuse the migrations table.  kind: 'live' (every
 * row before), 'cold' (a stopped instance moves) or 'resize' (it changes
 * flavor, on its host or another).  Their states:
 *
 *   preparing   the instance is 'resizing'; the source agent exports the
 *               root disk, the target's VM is made from it (or, on the
 *               same host, the agent resizes the VM keeping the old disk)
 *   verifying   resize only: the instance is 'verify_resize' on the
 *               target (host_id moved); the source keeps the old copy
 *   confirming  confirm-resize asked: the old copy goes
 *   reverting   revert-resize asked: the new copy goes, the old comes back
 *   completed / reverted / failed   ended
 *
 * old_* and new_* are the flavor before and after (the instance's own
 * columns carry the new ones from the request on, the old ones again
 * after a revert); start_after: the instance starts once a cold
 * migration completed.
 */
#define V23_STATES                                                                                 \
    "state IN ('preparing', 'running', 'verifying', 'confirming', 'reverting', 'completed',"       \
    " 'reverted', 'failed', 'cancelled')"
#define V23_COLUMNS                                                                                \
    "ALTER TABLE migrations ADD COLUMN kind TEXT NOT NULL DEFAULT 'live';"                         \
    "ALTER TABLE migrations ADD COLUMN old_flavor_id TEXT;"                                        \
    "ALTER TABLE migrations ADD COLUMN new_flavor_id TEXT;"                                        \
    "ALTER TABLE migrations ADD COLUMN old_vcpus INTEGER;"                                         \
    "ALTER TABLE migrations ADD COLUMN old_ram_mib INTEGER;"                                       \
    "ALTER TABLE migrations ADD COLUMN old_disk_gib INTEGER;"                                      \
    "ALTER TABLE migrations ADD COLUMN start_after INTEGER NOT NULL DEFAULT 0;"

/* SQLite cannot change a CHECK: the table is made again with the new
 * states, its rows copied. */
const char store_schema_v23_cold[] =
    "CREATE TABLE migrations_v23 ("
    "  id TEXT PRIMARY KEY,"
    "  instance_id TEXT NOT NULL REFERENCES instances(id),"
    "  source_host_id TEXT NOT NULL,"
    "  target_host_id TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (" V23_STATES "),"
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
    "INSERT INTO migrations_v23 SELECT id, instance_id, source_host_id, target_host_id, state,"
    " cancel_requested, dest_uri, progress, error, downtime_ms, total_ms, task_id, created_by,"
    " created_at, updated_at, finished_at FROM migrations;"
    "DROP TABLE migrations;"
    "ALTER TABLE migrations_v23 RENAME TO migrations;"
    "CREATE INDEX migrations_instance ON migrations (instance_id, created_at);"
    "CREATE INDEX migrations_state ON migrations (state);" V23_COLUMNS;

/* PostgreSQL changes the CHECK in place (its name is PostgreSQL's own for
 * a column constraint). */
const char store_schema_v23_cold_pg[] =
    "ALTER TABLE migrations DROP CONSTRAINT migrations_state_check;"
    "ALTER TABLE migrations ADD CONSTRAINT migrations_state_check CHECK (" V23_STATES
    ");" V23_COLUMNS;

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
