/*
 * schema_ownership.c - migration 8: every table that holds a project's rows
 * references projects(id) or is cleaned by a project-delete hook.
 *
 * Migrations 6 (scale) and 7 (stack) kept project_id without a foreign key,
 * so deleting a project left its launch templates, scaling groups (whose
 * scheduled actions kept firing), activities and stacks behind.  SQLite
 * cannot add a foreign key to a table, so each of those tables is rebuilt
 * as SQLite documents (https://sqlite.org/lang_altertable.html, "making
 * other kinds of table schema changes"): create <t>_new with the key, copy,
 * drop, rename, re-create the indexes.  store_sqlite.c runs every migration
 * in one transaction with foreign_keys off (so that dropping a parent does
 * not cascade into its children) and runs foreign_key_check before the
 * commit.  Rows left behind by projects deleted before this migration are
 * removed first, or the check would fail.
 *
 * Per table, what deleting the project does (identity_project_delete() and
 * the hooks nubod registers in ctrl_start()):
 *   launch_templates, launch_template_versions   cascade
 *   scaling_groups, scale_members, scaling_policies, scheduled_actions,
 *   scale_activities                              cascade, but the scale hook
 *                                                 refuses (409) while a group
 *                                                 still has instances
 *   stacks (and their revisions, resources, events by stack_id)
 *                                                 cascade, but the stack hook
 *                                                 refuses while a stack runs
 *                                                 or holds created resources
 *   instances, instance_events, tasks             compute's hook (refuses
 *                                                 live instances)
 *   instance_samples, metric_rollups, instance_metrics_latest
 *                                                 the monitor's hook (host
 *                                                 rows carry no project)
 *   usage_records                                 billing's hook
 *   audit_log                                     kept: the record of who
 *                                                 did what, the delete
 *                                                 included
 */
const char store_schema_v8_ownership[] =
    /* launch_templates */
    "DELETE FROM launch_templates WHERE project_id NOT IN (SELECT id FROM projects);"
    "CREATE TABLE launch_templates_new ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  latest_version INTEGER NOT NULL,"
    "  default_version INTEGER NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  UNIQUE (project_id, name));"
    "INSERT INTO launch_templates_new SELECT * FROM launch_templates;"
    "DROP TABLE launch_templates;"
    "ALTER TABLE launch_templates_new RENAME TO launch_templates;"
    /* launch_template_versions */
    "DELETE FROM launch_template_versions WHERE project_id NOT IN (SELECT id FROM projects);"
    "CREATE TABLE launch_template_versions_new ("
    "  template_id TEXT NOT NULL REFERENCES launch_templates(id) ON DELETE CASCADE,"
    "  version INTEGER NOT NULL,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  flavor_id TEXT NOT NULL,"
    "  image_id TEXT NOT NULL,"
    "  keypair TEXT,"
    "  user_data TEXT,"
    "  server_group_id TEXT,"
    "  networks TEXT NOT NULL DEFAULT '[]',"
    "  security_groups TEXT NOT NULL DEFAULT '[]',"
    "  created_at TEXT NOT NULL,"
    "  PRIMARY KEY (template_id, version));"
    "INSERT INTO launch_template_versions_new SELECT * FROM launch_template_versions;"
    "DROP TABLE launch_template_versions;"
    "ALTER TABLE launch_template_versions_new RENAME TO launch_template_versions;"
    /* scaling_groups */
    "DELETE FROM scaling_groups WHERE project_id NOT IN (SELECT id FROM projects);"
    "CREATE TABLE scaling_groups_new ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  user_id TEXT,"
    "  name TEXT NOT NULL,"
    "  template_id TEXT NOT NULL REFERENCES launch_templates(id),"
    "  template_version INTEGER,"
    "  min_size INTEGER NOT NULL,"
    "  max_size INTEGER NOT NULL,"
    "  desired INTEGER NOT NULL,"
    "  health_grace_s INTEGER NOT NULL,"
    "  cooldown_s INTEGER NOT NULL,"
    "  termination_policy TEXT NOT NULL CHECK (termination_policy IN    ('oldest-first', "
    "'newest-first')),"
    "  rolling_batch INTEGER NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('active', 'deleting')),"
    "  failures INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_ms INTEGER NOT NULL DEFAULT 0,"
    "  blocked TEXT NOT NULL DEFAULT '',"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  UNIQUE (project_id, name));"
    "INSERT INTO scaling_groups_new SELECT * FROM scaling_groups;"
    "DROP TABLE scaling_groups;"
    "ALTER TABLE scaling_groups_new RENAME TO scaling_groups;"
    /* scale_members */
    "DELETE FROM scale_members WHERE project_id NOT IN (SELECT id FROM projects);"
    "CREATE TABLE scale_members_new ("
    "  instance_id TEXT PRIMARY KEY,"
    "  group_id TEXT NOT NULL REFERENCES scaling_groups(id) ON DELETE CASCADE,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  template_version INTEGER NOT NULL,"
    "  protected INTEGER NOT NULL DEFAULT 0,"
    "  state TEXT NOT NULL CHECK (state IN ('in_service', 'terminating')),"
    "  launched_ms INTEGER NOT NULL,"
    "  created_at TEXT NOT NULL);"
    "INSERT INTO scale_members_new SELECT * FROM scale_members;"
    "DROP TABLE scale_members;"
    "ALTER TABLE scale_members_new RENAME TO scale_members;"
    "CREATE INDEX scale_members_group ON scale_members (group_id, created_at);"
    /* scaling_policies */
    "DELETE FROM scaling_policies WHERE project_id NOT IN (SELECT id FROM projects);"
    "CREATE TABLE scaling_policies_new ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  group_id TEXT NOT NULL REFERENCES scaling_groups(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('target', 'step')),"
    "  metric TEXT NOT NULL DEFAULT 'cpu',"
    "  target_value REAL,"
    "  warmup_s INTEGER NOT NULL DEFAULT 0,"
    "  window_s INTEGER NOT NULL DEFAULT 60,"
    "  scale_out_cooldown_s INTEGER NOT NULL,"
    "  scale_in_cooldown_s INTEGER NOT NULL,"
    "  alarm_id TEXT,"
    "  adjustment_type TEXT,"
    "  steps TEXT,"
    "  last_out_ms INTEGER NOT NULL DEFAULT 0,"
    "  last_in_ms INTEGER NOT NULL DEFAULT 0,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  UNIQUE (group_id, name));"
    "INSERT INTO scaling_policies_new SELECT * FROM scaling_policies;"
    "DROP TABLE scaling_policies;"
    "ALTER TABLE scaling_policies_new RENAME TO scaling_policies;"
    /* scheduled_actions */
    "DELETE FROM scheduled_actions WHERE project_id NOT IN (SELECT id FROM projects);"
    "CREATE TABLE scheduled_actions_new ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  group_id TEXT NOT NULL REFERENCES scaling_groups(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  cron TEXT NOT NULL,"
    "  min_size INTEGER,"
    "  max_size INTEGER,"
    "  desired INTEGER,"
    "  next_run_ms INTEGER NOT NULL,"
    "  last_run_ms INTEGER,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  UNIQUE (group_id, name));"
    "INSERT INTO scheduled_actions_new SELECT * FROM scheduled_actions;"
    "DROP TABLE scheduled_actions;"
    "ALTER TABLE scheduled_actions_new RENAME TO scheduled_actions;"
    /* scale_activities */
    "DELETE FROM scale_activities WHERE project_id NOT IN (SELECT id FROM projects);"
    "CREATE TABLE scale_activities_new ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  group_id TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  instance_id TEXT,"
    "  policy_id TEXT,"
    "  cause TEXT NOT NULL,"
    "  detail TEXT NOT NULL DEFAULT '',"
    "  at TEXT NOT NULL,"
    "  created_at TEXT NOT NULL);"
    "INSERT INTO scale_activities_new SELECT * FROM scale_activities;"
    "DROP TABLE scale_activities;"
    "ALTER TABLE scale_activities_new RENAME TO scale_activities;"
    "CREATE INDEX scale_activities_group ON scale_activities (group_id, created_at, id);"
    /* stacks */
    "DELETE FROM stacks WHERE project_id NOT IN (SELECT id FROM projects);"
    "CREATE TABLE stacks_new ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  status_reason TEXT NOT NULL DEFAULT '',"
    "  revision INTEGER NOT NULL,"
    "  good_revision INTEGER NOT NULL DEFAULT 0,"
    "  on_failure TEXT NOT NULL CHECK (on_failure IN ('rollback', 'stop')),"
    "  user_id TEXT NOT NULL,"
    "  role TEXT NOT NULL,"
    "  is_admin INTEGER NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  UNIQUE (project_id, name));"
    "INSERT INTO stacks_new SELECT * FROM stacks;"
    "DROP TABLE stacks;"
    "ALTER TABLE stacks_new RENAME TO stacks;"
    /* Children of stacks deleted above as orphans. */
    "DELETE FROM stack_revisions WHERE stack_id NOT IN (SELECT id FROM stacks);"
    "DELETE FROM stack_resources WHERE stack_id NOT IN (SELECT id FROM stacks);"
    "DELETE FROM stack_events WHERE stack_id NOT IN (SELECT id FROM stacks);";

/* The same on PostgreSQL, which can add a foreign key to a table (and
 * would refuse to drop a parent that others reference): remove the rows of
 * projects deleted before, then add the keys.  Children of removed stacks
 * go with them (their stack_id keys cascade). */
const char store_schema_v8_ownership_pg[] =
    "DELETE FROM launch_templates WHERE project_id NOT IN (SELECT id FROM projects);"
    "DELETE FROM launch_template_versions WHERE project_id NOT IN (SELECT id FROM projects);"
    "DELETE FROM scaling_groups WHERE project_id NOT IN (SELECT id FROM projects);"
    "DELETE FROM scale_members WHERE project_id NOT IN (SELECT id FROM projects);"
    "DELETE FROM scaling_policies WHERE project_id NOT IN (SELECT id FROM projects);"
    "DELETE FROM scheduled_actions WHERE project_id NOT IN (SELECT id FROM projects);"
    "DELETE FROM scale_activities WHERE project_id NOT IN (SELECT id FROM projects);"
    "DELETE FROM stacks WHERE project_id NOT IN (SELECT id FROM projects);"
    "ALTER TABLE launch_templates ADD FOREIGN KEY (project_id) REFERENCES projects(id)"
    "  ON DELETE CASCADE;"
    "ALTER TABLE launch_template_versions ADD FOREIGN KEY (project_id) REFERENCES projects(id)"
    "  ON DELETE CASCADE;"
    "ALTER TABLE scaling_groups ADD FOREIGN KEY (project_id) REFERENCES projects(id)"
    "  ON DELETE CASCADE;"
    "ALTER TABLE scale_members ADD FOREIGN KEY (project_id) REFERENCES projects(id)"
    "  ON DELETE CASCADE;"
    "ALTER TABLE scaling_policies ADD FOREIGN KEY (project_id) REFERENCES projects(id)"
    "  ON DELETE CASCADE;"
    "ALTER TABLE scheduled_actions ADD FOREIGN KEY (project_id) REFERENCES projects(id)"
    "  ON DELETE CASCADE;"
    "ALTER TABLE scale_activities ADD FOREIGN KEY (project_id) REFERENCES projects(id)"
    "  ON DELETE CASCADE;"
    "ALTER TABLE stacks ADD FOREIGN KEY (project_id) REFERENCES projects(id) ON DELETE CASCADE;";
