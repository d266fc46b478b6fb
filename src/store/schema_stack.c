/*
 * schema_stack.c - migration 7: stacks (src/stack, docs/internals/stacks.md).
 *
 *   stacks           one per stack of a project.  status is the task state:
 *                    applying (revision `revision`), rolling_back (to
 *                    good_revision, 0 = nothing), destroying - the engine
 *                    runs these and resumes them after a restart - or a
 *                    final complete | failed | rolled_back | rollback_failed
 *                    | destroy_failed.  The caller's user, role and admin
 *                    flag are kept so that a resumed apply acts with the
 *                    rights of whoever asked for it.
 *   stack_revisions  every template given to the stack, with its parameters
 *                    (JSON), numbered from 1.
 *   stack_resources  the recorded state: per logical name, the type, the
 *                    physical id (NULL while not created), the properties
 *                    last applied and the attributes last read (JSON), the
 *                    names it depends on (JSON list, for reverse order),
 *                    and a status: creating | create_failed | complete |
 *                    update_failed | delete_failed | replacing.
 *   stack_events     the progress of every task, in id order.
 */
const char store_schema_v7_stack[] =
    "CREATE TABLE stacks ("
    "  id TEXT PRIMARY KEY,"
    "  project_id TEXT NOT NULL,"
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
    "CREATE TABLE stack_revisions ("
    "  stack_id TEXT NOT NULL REFERENCES stacks (id) ON DELETE CASCADE,"
    "  revision INTEGER NOT NULL,"
    "  template TEXT NOT NULL,"
    "  parameters TEXT NOT NULL,"
    "  created_at TEXT NOT NULL,"
    "  PRIMARY KEY (stack_id, revision));"
    "CREATE TABLE stack_resources ("
    "  stack_id TEXT NOT NULL REFERENCES stacks (id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  physical_id TEXT,"
    "  properties TEXT NOT NULL DEFAULT '{}',"
    "  attributes TEXT NOT NULL DEFAULT '{}',"
    "  depends TEXT NOT NULL DEFAULT '[]',"
    "  status TEXT NOT NULL,"
    "  status_reason TEXT NOT NULL DEFAULT '',"
    "  updated_at TEXT NOT NULL,"
    "  PRIMARY KEY (stack_id, name));"
    "CREATE TABLE stack_events ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  stack_id TEXT NOT NULL REFERENCES stacks (id) ON DELETE CASCADE,"
    "  at TEXT NOT NULL,"
    "  resource TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  detail TEXT NOT NULL);"
    "CREATE INDEX stack_events_stack ON stack_events (stack_id, id);";
