/*
 * schema.c - the controller's database schema and its migrations.
 *
 * Design notes
 * ------------
 * Ids are UUIDs (TEXT).  Times are RFC 3339 UTC strings with milliseconds
 * ("2026-11-26T15:04:51.123Z"), which sort as text; heartbeat arithmetic
 * uses *_ms INTEGER columns (Unix milliseconds).  Lists page on
 * (created_at, id), so every listed table has both.
 *
 * Tenancy: every tenant resource has project_id NOT NULL; queries select
 * by it (principle 3).  Deleted instances keep their row (status 'deleted',
 * deleted_at set) for history and billing; names are unique among the
 * living only.
 *
 * Quotas are checked by counting inside the create's write transaction, so
 * concurrent creates serialize on the write lock and can never overshoot.
 * Host capacity is claimed the same way: an instance row with host_id set
 * *is* the claim of its vcpus/ram_mib/disk_gib on that host.
 *
 * Credentials are stored only as hashes: passwords as argon2id strings
 * (libsodium crypto_pwhash_str), bearer tokens, API keys and host tokens as
 * SHA-256 hex digests of random 32-byte secrets.
 *
 * Migrations only ever append: a released version is never edited.
 */
#include "store/store.h"

static const char schema_v1[] =
    "CREATE TABLE projects ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  created_at TEXT NOT NULL);"

    "CREATE TABLE users ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  password_hash TEXT NOT NULL,"
    "  email TEXT NOT NULL DEFAULT '',"
    "  disabled INTEGER NOT NULL DEFAULT 0,"
    "  created_at TEXT NOT NULL);"

    /* role: admin (the whole cloud until migration 12; since then the
     * project's members), member (manage the project's resources), reader
     * (see only) */
    "CREATE TABLE role_assignments ("
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  role TEXT NOT NULL CHECK (role IN ('admin', 'member', 'reader')),"
    "  created_at TEXT NOT NULL,"
    "  PRIMARY KEY (user_id, project_id));"

    /* kind: 'session' (login) or 'apikey' (named, long-lived) */
    "CREATE TABLE tokens ("
    "  id TEXT PRIMARY KEY,"
    "  hash TEXT NOT NULL UNIQUE,"
    "  kind TEXT NOT NULL CHECK (kind IN ('session', 'apikey')),"
    "  name TEXT NOT NULL DEFAULT '',"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  expires_ms INTEGER NOT NULL,"
    "  revoked_at TEXT,"
    "  created_at TEXT NOT NULL);"

    "CREATE TABLE quotas ("
    "  project_id TEXT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,"
    "  instances INTEGER NOT NULL,"
    "  vcpus INTEGER NOT NULL,"
    "  ram_mib INTEGER NOT NULL,"
    "  disk_gib INTEGER NOT NULL);"

    "CREATE TABLE audit_log ("
    "  id TEXT PRIMARY KEY,"
    "  at TEXT NOT NULL,"
    "  request_id TEXT NOT NULL,"
    "  user_id TEXT,"
    "  user_name TEXT,"
    "  project_id TEXT,"
    "  method TEXT NOT NULL,"
    "  path TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  target TEXT,"
    "  status INTEGER NOT NULL,"
    "  result TEXT NOT NULL,"
    "  created_at TEXT NOT NULL);"
    "CREATE INDEX audit_log_order ON audit_log (created_at, id);"

    "CREATE TABLE idempotency_keys ("
    "  user_id TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  method TEXT NOT NULL,"
    "  path TEXT NOT NULL,"
    "  body_hash TEXT NOT NULL,"
    "  status INTEGER NOT NULL DEFAULT 0," /* 0 = in progress */
    "  response TEXT,"
    "  created_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (user_id, key));"

    "CREATE TABLE flavors ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  vcpus INTEGER NOT NULL,"
    "  ram_mib INTEGER NOT NULL,"
    "  disk_gib INTEGER NOT NULL,"
    "  is_public INTEGER NOT NULL DEFAULT 1,"
    "  created_at TEXT NOT NULL);"
    "CREATE TABLE flavor_access ("
    "  flavor_id TEXT NOT NULL REFERENCES flavors(id) ON DELETE CASCADE,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  PRIMARY KEY (flavor_id, project_id));"

    /* status: queued (no data yet), active, error; visibility public or
     * private (to project_id).  The files live in the controller's image
     * directory as <id>.disk, <id>.kernel, <id>.initrd. */
    "CREATE TABLE images ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  project_id TEXT REFERENCES projects(id) ON DELETE CASCADE,"
    "  visibility TEXT NOT NULL CHECK (visibility IN ('public', 'private')),"
    "  status TEXT NOT NULL CHECK (status IN ('queued', 'active', 'error')),"
    "  disk_format TEXT,"
    "  size_bytes INTEGER,"
    "  virtual_size_bytes INTEGER,"
    "  checksum_sha256 TEXT,"
    "  has_kernel INTEGER NOT NULL DEFAULT 0,"
    "  has_initrd INTEGER NOT NULL DEFAULT 0,"
    "  cmdline TEXT,"
    "  min_disk_gib INTEGER NOT NULL DEFAULT 0,"
    "  created_at TEXT NOT NULL);"

    "CREATE TABLE keypairs ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  public_key TEXT NOT NULL,"
    "  fingerprint TEXT NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  UNIQUE (project_id, name));"

    "CREATE TABLE server_groups ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  policy TEXT NOT NULL CHECK (policy IN ('affinity', 'anti-affinity')),"
    "  created_at TEXT NOT NULL,"
    "  UNIQUE (project_id, name));"

    /* state: up, down (liveness; 'degraded' is up with problems, v17).  address: "unix:/path" or
     * "http://addr:port" of its agent; agent_token: the bearer token the controller sends it. */
    "CREATE TABLE hosts ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  address TEXT NOT NULL,"
    "  agent_token TEXT NOT NULL DEFAULT '',"
    "  token_hash TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('up', 'down')),"
    "  accel TEXT NOT NULL DEFAULT '',"
    "  driver TEXT NOT NULL DEFAULT '',"
    "  vcpus INTEGER NOT NULL DEFAULT 0,"
    "  ram_mib INTEGER NOT NULL DEFAULT 0,"
    "  disk_gib INTEGER NOT NULL DEFAULT 0,"
    "  last_heartbeat_ms INTEGER NOT NULL DEFAULT 0,"
    "  report TEXT," /* the last heartbeat, as JSON */
    "  created_at TEXT NOT NULL);"

    "CREATE TABLE join_tokens ("
    "  hash TEXT PRIMARY KEY,"
    "  created_at TEXT NOT NULL);"

    /* status: building, running, stopping, stopped, rebooting, error,
     * deleting, deleted, unknown (host down).  desired: running, stopped,
     * deleted - what the reconciler converges the host to. */
    "CREATE TABLE instances ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL REFERENCES projects(id),"
    "  user_id TEXT,"
    "  name TEXT NOT NULL,"
    "  flavor_id TEXT NOT NULL,"
    "  image_id TEXT NOT NULL,"
    "  keypair TEXT,"
    "  user_data TEXT,"
    "  server_group_id TEXT,"
    "  vcpus INTEGER NOT NULL,"
    "  ram_mib INTEGER NOT NULL,"
    "  disk_gib INTEGER NOT NULL,"
    "  host_id TEXT REFERENCES hosts(id),"
    "  status TEXT NOT NULL,"
    "  desired TEXT NOT NULL CHECK (desired IN ('running', 'stopped', 'deleted')),"
    "  power_state TEXT NOT NULL DEFAULT 'none',"
    "  fault TEXT,"
    "  boots INTEGER NOT NULL DEFAULT 0,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  deleted_at TEXT);"
    "CREATE INDEX instances_project ON instances (project_id, created_at, id);"
    "CREATE INDEX instances_host ON instances (host_id);"

    "CREATE TABLE instance_events ("
    "  id TEXT PRIMARY KEY,"
    "  instance_id TEXT NOT NULL,"
    "  at TEXT NOT NULL,"
    "  event TEXT NOT NULL,"
    "  detail TEXT NOT NULL DEFAULT '',"
    "  request_id TEXT,"
    "  created_at TEXT NOT NULL);"
    "CREATE INDEX instance_events_instance ON instance_events (instance_id, created_at);"

    /* An operation the caller can poll: kind create|start|stop|reboot|delete,
     * status pending, running, succeeded, failed. */
    "CREATE TABLE tasks ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL,"
    "  instance_id TEXT,"
    "  kind TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),"
    "  error TEXT,"
    "  request_id TEXT,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL);"
    "CREATE INDEX tasks_instance ON tasks (instance_id, status);";

/* Flavors can require an acceleration ("kvm": real hardware
 * virtualization); the scheduler's accel filter reads it. */
static const char schema_v4[] =
    "ALTER TABLE flavors ADD COLUMN required_accel TEXT NOT NULL DEFAULT '';";

/* Per instance: whether the metadata service requires IMDSv2 session
 * tokens (docs/internals/networking.md, "Metadata service"). */
static const char schema_v9[] =
    "ALTER TABLE instances ADD COLUMN metadata_http_tokens TEXT NOT NULL DEFAULT 'optional'"
    " CHECK (metadata_http_tokens IN ('optional', 'required'));";

/* Quotas for everything a tenant can create (identity's quotas table,
 * src/identity/quota.c): one column per dimension, with the default limit
 * every project gets, the existing ones included.  image_gib is in GiB;
 * the others count rows (API keys: those not revoked or expired). */
static const char schema_v10[] =
    "ALTER TABLE quotas ADD COLUMN networks INTEGER NOT NULL DEFAULT 10;"
    "ALTER TABLE quotas ADD COLUMN subnets INTEGER NOT NULL DEFAULT 20;"
    "ALTER TABLE quotas ADD COLUMN ports INTEGER NOT NULL DEFAULT 100;"
    "ALTER TABLE quotas ADD COLUMN security_groups INTEGER NOT NULL DEFAULT 20;"
    "ALTER TABLE quotas ADD COLUMN security_group_rules INTEGER NOT NULL DEFAULT 200;"
    "ALTER TABLE quotas ADD COLUMN floating_ips INTEGER NOT NULL DEFAULT 5;"
    "ALTER TABLE quotas ADD COLUMN alarms INTEGER NOT NULL DEFAULT 50;"
    "ALTER TABLE quotas ADD COLUMN launch_templates INTEGER NOT NULL DEFAULT 20;"
    "ALTER TABLE quotas ADD COLUMN scaling_groups INTEGER NOT NULL DEFAULT 10;"
    "ALTER TABLE quotas ADD COLUMN stacks INTEGER NOT NULL DEFAULT 20;"
    "ALTER TABLE quotas ADD COLUMN api_keys INTEGER NOT NULL DEFAULT 20;"
    "ALTER TABLE quotas ADD COLUMN images INTEGER NOT NULL DEFAULT 20;"
    "ALTER TABLE quotas ADD COLUMN image_gib INTEGER NOT NULL DEFAULT 50;"
    "ALTER TABLE quotas ADD COLUMN keypairs INTEGER NOT NULL DEFAULT 50;"
    "ALTER TABLE quotas ADD COLUMN server_groups INTEGER NOT NULL DEFAULT 10;"
    "ALTER TABLE quotas ADD COLUMN scaling_policies INTEGER NOT NULL DEFAULT 50;"
    "ALTER TABLE quotas ADD COLUMN scheduled_actions INTEGER NOT NULL DEFAULT 50;";

/* Which token made a token: an API key records the login session it was
 * made with (NULL for sessions and older keys).  No foreign key: revoking
 * or expiring that session leaves the key as it is; only revoking a key
 * revokes the keys it made (and keys may not make keys: identity). */
static const char schema_v11[] = "ALTER TABLE tokens ADD COLUMN created_by TEXT;";

/* Cloud admin is a property of the user (Keystone's "system scope"), no
 * longer the admin role in any project: a project's admin manages that
 * project's members only (src/identity/member.c).  Who becomes a cloud
 * admin: each user with the admin role in the project named 'admin' (where
 * the first start put the bootstrap admin); when that leaves no enabled
 * cloud admin (the project was renamed or deleted), each user with the admin
 * role anywhere, as before, so that no cloud is locked out - its operator
 * then revokes the ones that should not be (nubo user revoke-cloud-admin).
 * Everybody else's project admin role now means that project only.  Stacks
 * remember their creator's powers (stacks.is_admin): those of creators who
 * are not cloud admins now lose the cloud-wide ones. */
static const char schema_v12[] =
    "ALTER TABLE users ADD COLUMN cloud_admin INTEGER NOT NULL DEFAULT 0"
    " CHECK (cloud_admin IN (0, 1));"
    "UPDATE users SET cloud_admin = 1 WHERE id IN (SELECT r.user_id FROM role_assignments r"
    " JOIN projects p ON p.id = r.project_id WHERE p.name = 'admin' AND r.role = 'admin');"
    "UPDATE users SET cloud_admin = 1 WHERE id IN (SELECT user_id FROM role_assignments"
    " WHERE role = 'admin') AND NOT EXISTS (SELECT 1 FROM users a"
    " WHERE a.cloud_admin = 1 AND a.disabled = 0);"
    "UPDATE stacks SET is_admin = 0 WHERE user_id NOT IN"
    " (SELECT id FROM users WHERE cloud_admin = 1);";

/* Hosts (src/fleet, issue 22): fenced_at is set when an admin
 * force-removed a dead host (its instances deleted); a fenced host stays
 * 'down' for good, is never a placement target, and if its agent comes
 * back the reconciler destroys every VM it still runs.  reachable is 0
 * while the host's agent failed the reconciler's last call (it is then no
 * placement target until it answers). */
static const char schema_v13[] = "ALTER TABLE hosts ADD COLUMN fenced_at TEXT;"
                                 "ALTER TABLE hosts ADD COLUMN reachable INTEGER NOT NULL"
                                 " DEFAULT 1;";

/* Idempotency-Key claims name the nubod run that made them, so that a
 * claim whose process died is told from one still running; keys expire
 * 24 h after their claim (src/identity/idempotency.c). */
static const char schema_v15[] =
    "ALTER TABLE idempotency_keys ADD COLUMN owner_run TEXT;"
    "CREATE INDEX idempotency_keys_age ON idempotency_keys (created_ms);";

/* The datapath problems of a host's last heartbeat, as a JSON array
 * [{object, problem, since, instances?}]: a host that is 'up' with
 * problems shows as 'degraded' (src/fleet/hosts.c). */
static const char schema_v17[] =
    "ALTER TABLE hosts ADD COLUMN problems TEXT NOT NULL DEFAULT '[]';";

/* Join tokens expire and may be single-use (src/fleet/join.c).  Rows from
 * before (the local token, no expiry) are replaced at the next start. */
static const char schema_v18[] = "ALTER TABLE join_tokens ADD COLUMN id TEXT;"
                                 "ALTER TABLE join_tokens ADD COLUMN kind TEXT NOT NULL"
                                 " DEFAULT 'local';"
                                 "ALTER TABLE join_tokens ADD COLUMN expires_ms INTEGER;"
                                 "ALTER TABLE join_tokens ADD COLUMN uses_left INTEGER;"
                                 "ALTER TABLE join_tokens ADD COLUMN note TEXT NOT NULL DEFAULT '';"
                                 "ALTER TABLE join_tokens ADD COLUMN created_by TEXT;";

/* Host failure and HA (docs/internals/mobility.md, "Fencing and
 * evacuation"): an instance's generation grows each time it is re-placed
 * on another host (evacuation), so a VM of an older generation is a stale
 * copy; ha marks the instances that are rebuilt elsewhere when their host
 * dies.  A host's epoch grows each time nubod fences it (its agent must
 * present it), and ha_fenced_at says it was fenced since it last went
 * down (cleared when it is up again). */
static const char schema_v21[] =
    "ALTER TABLE instances ADD COLUMN generation INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE instances ADD COLUMN ha INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE hosts ADD COLUMN epoch INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE hosts ADD COLUMN ha_fenced_at TEXT;";

/* Later migrations live next to the module that owns their tables. */
extern const char store_schema_v2_billing[];
extern const char store_schema_v3_monitor[];
extern const char store_schema_v5_network[];
extern const char store_schema_v6_scale[];
extern const char store_schema_v7_stack[];
extern const char store_schema_v8_ownership[];
extern const char store_schema_v19_storage[];
extern const char store_schema_v22_snapshots[];
extern const char store_schema_v20_mobility[];
extern const char store_schema_v23_cold[];
extern const char store_schema_v23_cold_pg[];
extern const char store_schema_v24_maintenance[];
extern const char store_schema_v8_ownership_pg[];

/* Most migrations have no PostgreSQL variant: {n, sql} leaves sql_pg NULL. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
const struct store_migration store_migrations[] = {
    {1, schema_v1},
    {2, store_schema_v2_billing},
    {3, store_schema_v3_monitor},
    {4, schema_v4},
    {5, store_schema_v5_network},
    {6, store_schema_v6_scale},
    {7, store_schema_v7_stack},
    {8, store_schema_v8_ownership, store_schema_v8_ownership_pg},
    {9, schema_v9},
    {10, schema_v10},
    {11, schema_v11},
    {12, schema_v12},
    {13, schema_v13},
    {15, schema_v15},
    {17, schema_v17},
    {18, schema_v18},
    {19, store_schema_v19_storage},
    {20, store_schema_v20_mobility},
    {21, schema_v21},
    {22, store_schema_v22_snapshots},
    {23, store_schema_v23_cold, store_schema_v23_cold_pg},
    {24, store_schema_v24_maintenance},
    {0, NULL},
};
