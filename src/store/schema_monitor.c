/*
 * schema_monitor.c - migration 3: metrics and alarms (src/monitor).
 *
 * Design notes (docs/internals/monitoring.md says more)
 * ------------------------------------------------------
 * Time series are "wide": one row per resource per sample, one REAL column
 * per metric (NULL when the agent could not measure it).  A metric name
 * chosen by a user is mapped to its column through a constant table in
 * src/monitor/metrics.c, never formatted from input.  Timestamps are Unix
 * milliseconds of the controller's (injectable) clock: agents send how old
 * a sample is, not when it was taken, so hosts need no synchronized clocks.
 *
 *   instance_samples   raw samples, kept for the raw retention (1 day);
 *                      project_id is copied in at ingestion so project
 *                      aggregates and tenant scoping need no join, and
 *                      survive the instance.
 *   host_samples       the same for hosts (admin only).
 *   metric_rollups     5-minute buckets (v_sum, v_count, v_min, v_max) of every
 *                      metric of both, kept for the rollup retention (30
 *                      days).  kind is 'instance' or 'host'; project_id is
 *                      '' for hosts.
 *   instance_metrics_latest
 *                      the last sample of each instance with the
 *                      cumulative counters the agent reports (CPU time,
 *                      disk and network bytes/ops since the VM started):
 *                      what the Prometheus exposition serves.
 *   host_metric_cursors
 *                      per host, the agent run and the sequence number of
 *                      the last round stored: a batch that is sent again
 *                      (the answer was lost) is not stored twice.
 *   monitor_kv         the rollup watermark (every 5-minute bucket before
 *                      it is rolled up) and the scrape token's hash.
 *   alarms             threshold rules; instance_id NULL = the project's
 *                      aggregate.  state is OK, ALARM or INSUFFICIENT_DATA.
 *   alarm_history      state changes and action results, per alarm in seq
 *                      order; webhook_status tracks delivery (pending rows
 *                      are resumed after a controller restart).
 */
const char store_schema_v3_monitor[] =
    "CREATE TABLE instance_samples ("
    "  instance_id TEXT NOT NULL,"
    "  project_id TEXT NOT NULL,"
    "  host_id TEXT NOT NULL,"
    "  ts_ms INTEGER NOT NULL,"
    "  cpu REAL,"
    "  memory REAL,"
    "  disk_read_bytes REAL,"
    "  disk_write_bytes REAL,"
    "  disk_read_ops REAL,"
    "  disk_write_ops REAL,"
    "  net_rx_bytes REAL,"
    "  net_tx_bytes REAL,"
    "  net_rx_packets REAL,"
    "  net_tx_packets REAL,"
    "  PRIMARY KEY (instance_id, ts_ms));"
    "CREATE INDEX instance_samples_project ON instance_samples (project_id, ts_ms);"
    "CREATE INDEX instance_samples_ts ON instance_samples (ts_ms);"

    "CREATE TABLE host_samples ("
    "  host_id TEXT NOT NULL,"
    "  ts_ms INTEGER NOT NULL,"
    "  cpu REAL,"
    "  memory_used REAL,"
    "  memory_total REAL,"
    "  disk_used REAL,"
    "  disk_total REAL,"
    "  PRIMARY KEY (host_id, ts_ms));"
    "CREATE INDEX host_samples_ts ON host_samples (ts_ms);"

    "CREATE TABLE metric_rollups ("
    "  kind TEXT NOT NULL CHECK (kind IN ('instance', 'host')),"
    "  resource_id TEXT NOT NULL,"
    "  project_id TEXT NOT NULL,"
    "  metric TEXT NOT NULL,"
    "  bucket_ms INTEGER NOT NULL,"
    "  v_sum REAL NOT NULL,"
    "  v_count INTEGER NOT NULL,"
    "  v_min REAL NOT NULL,"
    "  v_max REAL NOT NULL,"
    "  PRIMARY KEY (kind, resource_id, metric, bucket_ms));"
    "CREATE INDEX metric_rollups_project ON metric_rollups (project_id, metric, bucket_ms);"
    "CREATE INDEX metric_rollups_bucket ON metric_rollups (bucket_ms);"

    "CREATE TABLE instance_metrics_latest ("
    "  instance_id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL,"
    "  host_id TEXT NOT NULL,"
    "  ts_ms INTEGER NOT NULL,"
    "  cpu REAL,"
    "  memory REAL,"
    "  cpu_ns_total INTEGER,"
    "  disk_read_bytes_total INTEGER,"
    "  disk_write_bytes_total INTEGER,"
    "  disk_read_ops_total INTEGER,"
    "  disk_write_ops_total INTEGER,"
    "  net_rx_bytes_total INTEGER,"
    "  net_tx_bytes_total INTEGER,"
    "  net_rx_packets_total INTEGER,"
    "  net_tx_packets_total INTEGER);"

    "CREATE TABLE host_metric_cursors ("
    "  host_id TEXT PRIMARY KEY,"
    "  agent_run TEXT NOT NULL,"
    "  seq INTEGER NOT NULL);"

    "CREATE TABLE monitor_kv ("
    "  key TEXT PRIMARY KEY,"
    "  int_value INTEGER,"
    "  text_value TEXT);"

    "CREATE TABLE alarms ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  metric TEXT NOT NULL,"
    "  instance_id TEXT,"
    "  statistic TEXT NOT NULL CHECK (statistic IN ('avg', 'max', 'min')),"
    "  comparison TEXT NOT NULL CHECK (comparison IN ('gt', 'ge', 'lt', 'le')),"
    "  threshold REAL NOT NULL,"
    "  window_s INTEGER NOT NULL,"
    "  evaluation_periods INTEGER NOT NULL,"
    "  webhook_url TEXT,"
    "  hook TEXT,"
    "  state TEXT NOT NULL CHECK (state IN ('OK', 'ALARM', 'INSUFFICIENT_DATA')),"
    "  state_reason TEXT NOT NULL DEFAULT '',"
    "  state_value REAL,"
    "  state_changed_at TEXT NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  UNIQUE (project_id, name));"
    "CREATE INDEX alarms_order ON alarms (project_id, created_at, id);"

    "CREATE TABLE alarm_history ("
    "  id TEXT PRIMARY KEY,"
    "  alarm_id TEXT NOT NULL REFERENCES alarms(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  at TEXT NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('state', 'webhook', 'hook')),"
    "  old_state TEXT,"
    "  new_state TEXT,"
    "  value REAL,"
    "  detail TEXT NOT NULL DEFAULT '',"
    "  webhook_status TEXT NOT NULL DEFAULT 'none'"
    "    CHECK (webhook_status IN ('none', 'pending', 'delivered', 'failed')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  payload TEXT,"
    "  UNIQUE (alarm_id, seq));"
    "CREATE INDEX alarm_history_pending ON alarm_history (webhook_status);";
