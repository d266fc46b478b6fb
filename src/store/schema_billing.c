/*
 * schema_billing.c - migration 2: metering, prices, budgets (src/billing).
 *
 * Design notes (docs/internals/billing.md has the whole picture)
 * ------------
 * usage_records is the metering ledger.  A record is one interval during
 * which one resource was in one billable state at one size and price key:
 * opened (end_ms NULL) in the transaction that moves the resource into the
 * state, closed (end_ms set, once) in the transaction that moves it out.
 * Records are never deleted and a closed record never changes; the partial
 * unique index allows at most one open record per (meter, resource), so a
 * hook that runs twice cannot count anything twice.
 *
 *   meter          what is measured: instance (running time, per flavor),
 *                  disk (an instance's root disk), image (stored bytes),
 *                  volume and floating_ip (for the networking issue)
 *   resource_type  instance, image, volume, floating_ip
 *   price_key      what selects the price inside the meter: the flavor id
 *                  for meter instance, '' for the others
 *   size           1 for an instance or an address, GiB for a disk or a
 *                  volume, bytes for an image
 *   *_name         names copied when the record opens, so that an invoice
 *                  is computed from this table and the prices alone
 *   unknown_since_ms
 *                  set on open records while the resource's host is down:
 *                  the host's last heartbeat.  A record that has to close
 *                  while it is set closes there, not later (what happened
 *                  during the outage is not known: the customer gets the
 *                  benefit of the doubt); a record that stays open (the VM
 *                  was found running) has it cleared.
 *
 * seq (INTEGER PRIMARY KEY, the SQLite rowid) numbers records in append
 * order; a PostgreSQL schema declares it BIGINT GENERATED ALWAYS AS
 * IDENTITY.  Times are Unix milliseconds, UTC (clock_now_ms).
 *
 * prices is the catalog: a row is a unit price of a meter (and key) from
 * effective_from_ms until the next row of the same meter and key.  Rows are
 * only ever added, never at a time in the past, so an invoice of a past
 * period never changes.  Money is INTEGER micro-units of `currency` (ISO
 * 4217); one currency for the whole catalog.
 *
 * budgets: at most one per project, a monthly amount with thresholds (a
 * JSON array of whole percentages, ascending) and whether exceeding it
 * blocks new instances.  budget_notifications: one row per threshold
 * crossed per project per calendar month (UTC), with the moment of the
 * crossing.
 */
const char store_schema_v2_billing[] =
    "CREATE TABLE usage_records ("
    "  seq INTEGER PRIMARY KEY,"
    "  project_id TEXT NOT NULL,"
    "  resource_type TEXT NOT NULL,"
    "  resource_id TEXT NOT NULL,"
    "  resource_name TEXT NOT NULL DEFAULT '',"
    "  meter TEXT NOT NULL,"
    "  price_key TEXT NOT NULL DEFAULT '',"
    "  price_key_name TEXT NOT NULL DEFAULT '',"
    "  size INTEGER NOT NULL CHECK (size >= 0),"
    "  start_ms INTEGER NOT NULL,"
    "  end_ms INTEGER,"
    "  unknown_since_ms INTEGER,"
    "  CHECK (end_ms IS NULL OR end_ms >= start_ms));"
    "CREATE UNIQUE INDEX usage_records_open ON usage_records (meter, resource_id)"
    "  WHERE end_ms IS NULL;"
    "CREATE INDEX usage_records_project ON usage_records (project_id, start_ms);"
    "CREATE INDEX usage_records_resource ON usage_records (resource_id, start_ms);"

    "CREATE TABLE prices ("
    "  id TEXT PRIMARY KEY,"
    "  meter TEXT NOT NULL,"
    "  price_key TEXT NOT NULL DEFAULT '',"
    "  price_key_name TEXT NOT NULL DEFAULT '',"
    "  unit_price_micros INTEGER NOT NULL CHECK (unit_price_micros >= 0),"
    "  currency TEXT NOT NULL,"
    "  effective_from_ms INTEGER NOT NULL,"
    "  created_by TEXT,"
    "  created_at TEXT NOT NULL,"
    "  UNIQUE (meter, price_key, effective_from_ms));"
    "CREATE INDEX prices_order ON prices (created_at, id);"

    "CREATE TABLE budgets ("
    "  project_id TEXT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,"
    "  amount_micros INTEGER NOT NULL CHECK (amount_micros > 0),"
    "  currency TEXT NOT NULL,"
    "  thresholds TEXT NOT NULL,"
    "  block_new_instances INTEGER NOT NULL DEFAULT 0,"
    "  updated_at TEXT NOT NULL);"

    "CREATE TABLE budget_notifications ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,"
    "  period_start_ms INTEGER NOT NULL,"
    "  period_end_ms INTEGER NOT NULL,"
    "  threshold INTEGER NOT NULL,"
    "  amount_micros INTEGER NOT NULL,"
    "  spent_micros INTEGER NOT NULL,"
    "  currency TEXT NOT NULL,"
    "  crossed_at_ms INTEGER NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  UNIQUE (project_id, period_start_ms, threshold));"
    "CREATE INDEX budget_notifications_order ON budget_notifications"
    "  (project_id, created_at, id);";
