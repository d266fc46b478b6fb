"""Upgrades (issue 18 item 5): nubod --check-upgrade, the refusal of a
database written by a newer nubo, and databases written by earlier nubo
versions (tests/api/data/nubo-vN.sql) upgraded by the current nubod.

docs/internals/upgrades.md describes the procedure these tests check.
"""
import hashlib
import os
import re
import sqlite3
import subprocess

import pytest

from conftest import NUBOD, ON_PG, Nubod, db_connect

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

# --check-upgrade's exit statuses (nubod --help)
CURRENT, PENDING, NEWER = 0, 10, 11


def check_upgrade(n):
    """nubod --check-upgrade on n's database: (exit status, stdout, stderr)."""
    args = [NUBOD, "--check-upgrade", "--state-dir", n.dir]
    if n.store:
        args += ["--store", n.store]
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def latest_version():
    """The newest schema version the nubod under test knows."""
    p = subprocess.run([NUBOD, "--check-upgrade", "--store", "/nonexistent/nubo.db"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == PENDING, p.stdout + p.stderr
    return int(re.search(r"this nubod \(.*\): schema version (\d+)", p.stdout).group(1))


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def schema_rows(n):
    con = db_connect(n)
    try:
        return sorted(r[0] for r in con.execute("SELECT version FROM schema_version").fetchall())
    finally:
        con.close()


def db_file(n):
    return os.path.join(n.dir, "nubo.db")


# ------------------------------------------------------------ --check-upgrade


def test_check_upgrade_on_a_new_database_creates_nothing(tmp_path):
    n = Nubod(str(tmp_path))
    rc, out, err = check_upgrade(n)
    assert rc == PENDING, out + err
    latest = latest_version()
    assert "schema version: 0\n" in out
    # one line per migration, the first one included
    lines = re.findall(r"^  migration (\d+): (.+)$", out, re.M)
    assert lines[0][0] == "1" and lines[-1][0] == str(latest)
    assert lines[0][1].startswith("CREATE TABLE projects; CREATE TABLE users")
    assert not os.path.exists(n.dir), "--check-upgrade created the state directory"


@pytest.mark.skipif(ON_PG, reason="the version-11 fixture is a SQLite file")
def test_check_upgrade_reports_and_changes_nothing(tmp_path):
    n = Nubod(str(tmp_path))
    os.makedirs(n.dir, mode=0o700)
    con = sqlite3.connect(db_file(n))
    with open(os.path.join(DATA, "nubo-v11.sql")) as f:
        con.executescript(f.read())
    con.close()
    before = sha256(db_file(n))
    rc, out, err = check_upgrade(n)
    assert rc == PENDING, out + err
    latest = latest_version()
    assert "schema version: 11\n" in out
    assert "this nubod" in out and "schema version %d" % latest in out
    versions = [int(v) for v in re.findall(r"^  migration (\d+): ", out, re.M)]
    assert versions[0] == 12 and versions[-1] == latest and versions == sorted(versions)
    assert re.search(r"^  migration 12: ALTER TABLE users ADD COLUMN cloud_admin; UPDATE users",
                     out, re.M), out
    assert "upgrade pending: %d migrations" % len(versions) in out
    # nothing changed: the same bytes, no -wal left behind, still version 11
    assert sha256(db_file(n)) == before
    assert sorted(os.listdir(n.dir)) == ["nubo.db"]
    assert max(schema_rows(n)) == 11

    # the upgrade itself, then nothing is pending
    n.start()
    assert n.stop() == 0
    assert max(schema_rows(n)) == latest
    before = sha256(db_file(n))
    rc, out, err = check_upgrade(n)
    assert rc == CURRENT, out + err
    assert "schema version: %d\n" % latest in out and "up to date" in out
    assert "migration" not in out.replace("nothing to apply", "")
    assert sha256(db_file(n)) == before


def test_check_upgrade_of_a_running_cloud_is_current(tmp_path):
    """On the store of a running nubod (SQLite in WAL mode, or PostgreSQL):
    up to date, and the schema rows are the same afterwards."""
    n = Nubod(str(tmp_path)).start()
    try:
        rows = schema_rows(n)
        rc, out, err = check_upgrade(n)
        assert rc == CURRENT, out + err
        assert "schema version: %d\n" % latest_version() in out
        assert schema_rows(n) == rows
        assert n.admin().get("/v1/projects").status_code == 200
    finally:
        assert n.stop() == 0, n.log()


# ------------------------------------------------ a database from a newer nubo


def test_a_database_from_a_newer_nubo_is_refused(tmp_path):
    n = Nubod(str(tmp_path)).start()
    assert n.stop() == 0
    latest = latest_version()
    newer = latest + 3
    con = db_connect(n)
    con.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                (newer, "2027-01-01T00:00:00.000Z"))
    con.commit()
    con.close()
    rows = schema_rows(n)
    before = None if ON_PG else sha256(db_file(n))

    rc, out, err = check_upgrade(n)
    assert rc == NEWER, out + err
    assert "schema version: %d\n" % newer in out
    assert ("database holds schema version %d, written by a newer nubo" % newer) in err
    assert ("knows schema versions up to %d" % latest) in err

    # nubod itself refuses to start, naming both versions and what to do
    args = [NUBOD, "--state-dir", n.dir, "--listen", "127.0.0.1:0"]
    if n.store:
        args += ["--store", n.store]
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, p.stdout + p.stderr
    log = p.stdout + p.stderr
    assert "cannot open the store" in log, log
    assert "schema version %d, written by a newer nubo" % newer in log, log
    assert "up to %d" % latest in log and "never downgrades" in log, log
    assert "run the newer nubod" in log and "--restore" in log, log
    # and changed nothing
    assert schema_rows(n) == rows
    if not ON_PG:
        assert sha256(db_file(n)) == before
