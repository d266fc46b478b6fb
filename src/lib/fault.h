/*
 * fault.h - deterministic crash points for tests (SQLite-style fault
 * injection as an ordinary test run).
 *
 * fault_point("name") kills the process with SIGKILL - no atexit, no
 * flush, no rollback: what a power cut or kill -9 does - when the
 * environment variable NUBO_FAULT names that point.  NUBO_FAULT is
 * "name" (the first time the point is reached) or "name:N" (the N-th
 * time, N >= 1).  Read once, at the first call; without NUBO_FAULT a point
 * costs one load and one branch.  The points and their names are listed in
 * docs/internals/fault-injection.md; tests/api/test_crash.py sweeps them.
 */
#ifndef NUBO_FAULT_H
#define NUBO_FAULT_H

/* Dies by SIGKILL when NUBO_FAULT selects this point (see above); returns
 * otherwise.  name is a string literal such as "idem.claimed". */
void fault_point(const char *name);

#endif
