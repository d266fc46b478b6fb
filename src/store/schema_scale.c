/*
 * schema_scale.c - migration 6: autoscaling (src/scale).
 *
 * Design notes (docs/internals/autoscaling.md says more)
 * ------------------------------------------------------
 *   launch_templates          a named description of an instance, per
 *                             project; latest_version grows by one per
 *                             version, default_version is what a group
 *                             that names no version uses.
 *   launch_template_versions  immutable once written: flavor, image and
 *                             server group are stored as the ids they
 *                             resolved to in the project when the version
 *                             was created; networks and security_groups are
 *                             JSON lists kept as given (tenant networking
 *                             consumes them).
 *   scaling_groups            min <= desired <= max; template_version NULL
 *                             follows the template's default version.
 *                             next_attempt_ms / failures are the back-off of
 *                             launches after a quota or capacity failure
 *                             (controller clock, ms).
 *   scale_members             the link between a group and its instances
 *                             (ordinary rows of `instances`): the template
 *                             version it was launched from, its scale-in
 *                             protection, and state in_service |
 *                             terminating (a terminating member no longer
 *                             counts; its row goes when the instance is
 *                             deleted).
 *   scaling_policies          kind target (target_value on metric cpu,
 *                             warmup) or step (alarm_id, adjustment_type,
 *                             steps JSON); last_out_ms / last_in_ms hold the
 *                             cooldowns.
 *   scheduled_actions         a 5-field cron expression (UTC) and what to
 *                             set (NULL: unchanged); next_run_ms is the next
 *                             firing.
 *   scale_activities          the group's history: launch, terminate,
 *                             failed, scale (a size change) with cause and
 *                             policy.
 */
const char store_schema_v6_scale[] =
    "CREATE TABLE launch_templates ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  latest_version INTEGER NOT NULL,"
    "  default_version INTEGER NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  UNIQUE (project_id, name));"

    "CREATE TABLE launch_template_versions ("
    "  template_id TEXT NOT NULL REFERENCES launch_templates(id) ON DELETE CASCADE,"
    "  version INTEGER NOT NULL,"
    "  project_id TEXT NOT NULL,"
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

    "CREATE TABLE scaling_groups ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL,"
    "  user_id TEXT,"
    "  name TEXT NOT NULL,"
    "  template_id TEXT NOT NULL REFERENCES launch_templates(id),"
    "  template_version INTEGER,"
    "  min_size INTEGER NOT NULL,"
    "  max_size INTEGER NOT NULL,"
    "  desired INTEGER NOT NULL,"
    "  health_grace_s INTEGER NOT NULL,"
    "  cooldown_s INTEGER NOT NULL,"
    "  termination_policy TEXT NOT NULL CHECK (termination_policy IN"
    "    ('oldest-first', 'newest-first')),"
    "  rolling_batch INTEGER NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('active', 'deleting')),"
    "  failures INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_ms INTEGER NOT NULL DEFAULT 0,"
    "  blocked TEXT NOT NULL DEFAULT '',"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  UNIQUE (project_id, name));"

    "CREATE TABLE scale_members ("
    "  instance_id TEXT PRIMARY KEY,"
    "  group_id TEXT NOT NULL REFERENCES scaling_groups(id) ON DELETE CASCADE,"
    "  project_id TEXT NOT NULL,"
    "  template_version INTEGER NOT NULL,"
    "  protected INTEGER NOT NULL DEFAULT 0,"
    "  state TEXT NOT NULL CHECK (state IN ('in_service', 'terminating')),"
    "  launched_ms INTEGER NOT NULL,"
    "  created_at TEXT NOT NULL);"
    "CREATE INDEX scale_members_group ON scale_members (group_id, created_at);"

    "CREATE TABLE scaling_policies ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL,"
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

    "CREATE TABLE scheduled_actions ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL,"
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

    "CREATE TABLE scale_activities ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL,"
    "  group_id TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  instance_id TEXT,"
    "  policy_id TEXT,"
    "  cause TEXT NOT NULL,"
    "  detail TEXT NOT NULL DEFAULT '',"
    "  at TEXT NOT NULL,"
    "  created_at TEXT NOT NULL);"
    "CREATE INDEX scale_activities_group ON scale_activities (group_id, created_at, id);";
