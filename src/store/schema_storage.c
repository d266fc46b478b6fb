/*
 * schema_storage.c - migration 19: block storage (src/storage,
 * docs/internals/storage.md).
 *
 * Design notes
 * ------------
 * volume_types: the cloud's kinds of volume, defined by the cloud admin:
 * a unique name and the backend that holds the data ('local': qcow2 files
 * on one host's agent; the only backend built so far).  The type named
 * 'local' is created here and is what a volume gets when its create names
 * no type.  A type in use by a volume cannot be deleted (the foreign key).
 *
 * volumes: a project's disk that outlives instances.  size_gib is the
 * virtual size (1 .. 16384).  status is the state machine of storage.md.
 * host_id is NULL until the volume is placed: a local volume is placed on
 * the host of the instance it is first attached to, and its file created
 * there then (no foreign key: the reconciler, not a cascade, deals with a
 * host that goes away).  fault says why a volume is in 'error'.
 * (project_id, name) is unique, so a name is a usable reference.
 *
 * volume_attachments: which instance a volume is attached to; the volume is
 * the primary key, so a volume has at most one attachment.  Written by
 * the storage service only (the attach and detach actions).
 *
 * quotas gains two dimensions: volumes (a count) and volume_gib (the sum of
 * the project's volume sizes).
 *
 * All three tables cascade from projects(id), though storage's project-
 * delete hook refuses while a project still has volumes (their files live
 * on hosts, and only the reconciler may remove them).
 */
const char store_schema_v19_storage[] =
    "CREATE TABLE volume_types ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  backend TEXT NOT NULL CHECK (backend IN ('local')),"
    "  description TEXT NOT NULL DEFAULT '',"
    "  created_at TEXT NOT NULL);"
    "INSERT INTO volume_types (id, name, backend, description, created_at) VALUES"
    " ('00000000-0000-4000-8000-000000000019', 'local', 'local',"
    "  'qcow2 files on the host of the instance the volume is first attached to',"
    "  '2026-01-01T00:00:00.000Z');"
    "CREATE TABLE volumes ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  size_gib INTEGER NOT NULL CHECK (size_gib BETWEEN 1 AND 16384),"
    "  type_id TEXT NOT NULL REFERENCES volume_types(id),"
    "  status TEXT NOT NULL CHECK (status IN ('creating', 'available', 'attaching',"
    "    'in-use', 'detaching', 'deleting', 'error')),"
    "  host_id TEXT,"
    "  fault TEXT,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  UNIQUE (project_id, name));"
    "CREATE INDEX volumes_project ON volumes (project_id, created_at, id);"
    "CREATE TABLE volume_attachments ("
    "  volume_id TEXT PRIMARY KEY REFERENCES volumes(id) ON DELETE CASCADE,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  instance_id TEXT NOT NULL REFERENCES instances(id),"
    "  created_at TEXT NOT NULL);"
    "CREATE INDEX volume_attachments_instance ON volume_attachments (instance_id);"
    "ALTER TABLE quotas ADD COLUMN volumes INTEGER NOT NULL DEFAULT 10;"
    "ALTER TABLE quotas ADD COLUMN volume_gib INTEGER NOT NULL DEFAULT 1000;";

/*
 * Migration 22: volume snapshots (docs/internals/storage.md, Snapshots).
 *
 * volume_snapshots: a point-in-time copy of a volume.  On the local
 * backend it is an internal qcow2 snapshot inside the volume's file (named
 * by the snapshot's id), so it lives on the volume's host (host_id) and
 * the volume cannot be deleted while it has snapshots (the storage
 * service checks; no cascade from volumes).  host_id is NULL for a
 * snapshot of a volume that was not placed yet: such a volume holds no
 * data, so its snapshot is empty, exists at once and needs no host.
 * size_gib is the volume's size when it was taken.  status: creating ->
 * available, deleting -> (row gone), error with fault.
 *
 * volumes.source_snapshot_id / source_volume_id: the snapshot or the
 * volume a volume in 'creating' is being copied from (the reconciler asks
 * the source's host); neither can be deleted while a creating volume
 * names it.
 *
 * quotas gains snapshots (a count); volume_gib counts the snapshots' GiB
 * too (like Cinder's gigabytes).
 */
const char store_schema_v22_snapshots[] =
    "CREATE TABLE volume_snapshots ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  volume_id TEXT NOT NULL,"
    "  size_gib INTEGER NOT NULL CHECK (size_gib BETWEEN 1 AND 16384),"
    "  status TEXT NOT NULL CHECK (status IN ('creating', 'available', 'deleting', 'error')),"
    "  host_id TEXT,"
    "  fault TEXT,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  UNIQUE (project_id, name));"
    "CREATE INDEX volume_snapshots_project ON volume_snapshots (project_id, created_at, id);"
    "CREATE INDEX volume_snapshots_volume ON volume_snapshots (volume_id);"
    "ALTER TABLE volumes ADD COLUMN source_snapshot_id TEXT;"
    "ALTER TABLE volumes ADD COLUMN source_volume_id TEXT;"
    "ALTER TABLE quotas ADD COLUMN snapshots INTEGER NOT NULL DEFAULT 10;";
