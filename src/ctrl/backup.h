/*
 * backup.h - nubod --backup FILE and nubod --restore FILE: the controller's
 * whole state in one archive, taken while it runs, and a new controller
 * made from it.  docs/internals/operations.md ("Backup and restore").
 */
#ifndef NUBO_CTRL_BACKUP_H
#define NUBO_CTRL_BACKUP_H

#include "lib/err.h"

/* Writes to file (which must not exist) a gzip'd tar of the controller
 * whose state directory is state_dir and whose database is store (NULL:
 * <state_dir>/nubo.db): the database as one consistent snapshot in a SQLite
 * file, whatever the backend (checked table by table, by row count and
 * SHA-256), the tenants' images and the secrets (admin-password,
 * metrics-token).  nubod may run meanwhile.  Progress lines go to stdout.
 * 0, or -1 with err (file not created). */
int ctrl_backup(const char *state_dir, const char *store, const char *file, struct nubo_err *err);

/* Makes a new controller's state in state_dir (absent or empty) from the
 * archive file, with its database in store (NULL: <state_dir>/nubo.db; a
 * PostgreSQL database must be empty), and marks it recovering (fleet.h,
 * "recovery"): VMs made after the backup are quarantined, not removed,
 * until an admin finishes the recovery.  0, or -1 with err. */
int ctrl_restore(const char *file, const char *state_dir, const char *store, struct nubo_err *err);

#endif
