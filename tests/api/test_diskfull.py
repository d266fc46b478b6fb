"""A full disk under nubod's store (issue 22 item 7), on a small tmpfs that
each test mounts in its own temporary directory (root only; skipped
otherwise):

1. writes answer 507 problem+json "the store is full", never 500, and
   change nothing; reads keep working; /v1/health says degraded;
2. a mutation refused for lack of space is still audited: the row cannot
   reach the database, so it goes to nubod's log (the journal);
3. heartbeats refused meanwhile turn no host down, then or after;
4. once space returns, writes work again without a restart;
5. nubod started on a full disk comes up read-only (reads work, writes
   507, health says read-only) and turns read-write by itself when space
   returns - after a clean stop and after kill -9.

SQLite only: the tmpfs holds nubod's SQLite file; a PostgreSQL server's
disk is its own (its disk_full, SQLSTATE 53100, is NUBO_E_STORAGE_FULL:
tests/unit/test_store.c test_pg_disk_full).
"""
import json
import os
import signal
import subprocess
import time
import uuid

import pytest
import requests

from conftest import ON_PG, Nubod, assert_problem
from test_hosts import heartbeat, register

pytestmark = pytest.mark.skipif(ON_PG, reason="the tmpfs holds a SQLite store only")

TMPFS_MIB = 8


@pytest.fixture
def disk(tmp_path):
    """A TMPFS_MIB MiB tmpfs at tmp_path/disk, unmounted afterwards."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0700" % TMPFS_MIB,
                        "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs (needs root): " + r.stderr.strip())
    yield str(mnt)
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(mnt):
    """Fills the file system at mnt to its last byte with mnt/filler."""
    path = os.path.join(mnt, "filler")
    chunk = b"\0" * (64 * 1024)
    with open(path, "ab", buffering=0) as f:
        for size in (len(chunk), 4096, 1):
            try:
                while True:
                    f.write(chunk[:size])
            except OSError:
                pass
    assert os.statvfs(mnt).f_bavail == 0
    return path


def free(filler):
    os.unlink(filler)


def controller(tmp_path, mnt, extra=()):
    """A nubod whose state directory is on the tmpfs; its log stays off it."""
    n = Nubod(str(tmp_path), extra=list(extra))
    n.dir = os.path.join(mnt, "controller")
    return n


def wait_for(what, fn, timeout):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.1)


def assert_full(r):
    p = assert_problem(r, 507)
    assert p["type"].endswith("/storage-full"), p
    assert "full" in p["detail"] and "free space" in p["detail"], p
    return p


def stop_clean(n):
    rc = n.stop()
    assert rc == 0, "nubod exited with %d:\n%s" % (rc, n.log())


def test_writes_on_a_full_disk_answer_507_and_recover(tmp_path, disk):
    down_ms = 3000
    n = controller(tmp_path, disk, ["--host-down-ms", str(down_ms)]).start()
    try:
        admin = n.admin()
        assert admin.post("/v1/projects", {"name": "before"}).status_code == 201
        h = register(n, name="hb").json()
        host_id, token = h["host_id"], h["host_token"]
        assert heartbeat(n, host_id, token).status_code == 200
        img = admin.post("/v1/images", {"name": "img", "min_disk_gib": 1}).json()["id"]
        filler = fill(disk)

        # writes: 507 with a problem saying what to do, nothing changed
        tag = uuid.uuid4().hex[:6]
        assert_full(admin.post("/v1/projects", {"name": "full-" + tag}))
        assert_full(admin.post("/v1/flavors", {"name": "f-" + tag, "vcpus": 1, "ram_mib": 64,
                                               "disk_gib": 1}))
        assert_full(admin.post("/v1/networks", {"name": "n-" + tag}))
        assert_full(admin.delete("/v1/projects/before"))
        # an upload the disk cannot take: the same answer, and the image stays queued
        assert_full(admin.put("/v1/images/%s/file" % img, data=b"\0" * (1 << 20)))
        assert admin.get("/v1/images/" + img).json()["status"] == "queued"
        # reads work
        names = [p["name"] for p in admin.get("/v1/projects").json()["projects"]]
        assert "before" in names and "full-" + tag not in names
        health = requests.get(n.base + "/v1/health", timeout=30)
        assert health.status_code == 200 and health.json()["status"] == "degraded", health.text
        assert health.json()["store"] == "full", health.text

        # the agent path: refused heartbeats are no 500 and turn no host down
        t0 = time.time()
        refused = 0
        while time.time() - t0 < 2.5 * down_ms / 1000:
            r = heartbeat(n, host_id, token)
            assert r.status_code in (200, 507), r.text
            if r.status_code == 507:
                assert_full(r)
                refused += 1
            time.sleep(0.3)
        assert refused > 0, "no heartbeat was refused: the test proves nothing"

        # the failed mutations are audited in the log (the journal)
        with open(n.log_path, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        audited = [json.loads(line[line.index('{"id"'):])
                   for line in log.splitlines() if "audit (not stored" in line]
        assert any(a["action"] == "project.create" and a["status"] == 507
                   and a["result"] == "failure" and a["user_name"] == "admin"
                   for a in audited), n.log()

        free(filler)
        t_free = time.time()
        # writes work again, without a restart
        wait_for("a write to succeed",
                 lambda: admin.post("/v1/projects", {"name": "after-" + tag}).status_code == 201,
                 timeout=30)
        # The host's last stored heartbeat is old now, but it was the store
        # that was silent: the reconciler's passes (every 500 ms) before the
        # host's next heartbeat must not take it for down.
        time.sleep(1.0)
        assert admin.get("/v1/hosts/hb").json()["state"] == "up", n.log()
        assert heartbeat(n, host_id, token).status_code == 200
        assert time.time() - t_free < down_ms / 1000, "too slow to tell"
        assert admin.get("/v1/hosts/hb").json()["state"] == "up"
        assert "is down" not in n.log(), n.log()
        wait_for("health ok", lambda: requests.get(n.base + "/v1/health",
                                                   timeout=30).json()["status"] == "ok",
                 timeout=30)
    finally:
        if n.proc is not None:
            stop_clean(n)


@pytest.mark.parametrize("how", ["clean", "kill"])
def test_start_on_a_full_disk_is_read_only_then_recovers(tmp_path, disk, how):
    n = controller(tmp_path, disk).start()
    admin = n.admin()
    assert admin.post("/v1/projects", {"name": "kept"}).status_code == 201
    if how == "clean":
        stop_clean(n)
    else:
        n.stop(signal.SIGKILL)
    filler = fill(disk)
    n.start()
    try:
        health = requests.get(n.base + "/v1/health", timeout=30)
        assert health.status_code == 200, health.text
        # reads with the token of before
        names = [p["name"] for p in admin.get("/v1/projects").json()["projects"]]
        assert "kept" in names
        if how == "clean":  # no -wal, no -shm: WAL mode cannot start
            assert health.json()["status"] == "degraded", health.text
            assert health.json()["store"] == "read-only", health.text
            assert "read-only" in n.log()
            assert_full(admin.post("/v1/projects", {"name": "refused"}))
            # logging in writes a token: refused the same way
            assert_full(requests.post(n.base + "/v1/auth/tokens",
                                      json={"user": "admin", "password": n.admin_password},
                                      timeout=30))
        else:
            # -wal and -shm are there: the store opens read-write, and small
            # writes may still fit in the room the -wal file has
            for i in range(20):
                r = admin.post("/v1/projects", {"name": "maybe-%d" % i})
                if r.status_code != 201:
                    assert_full(r)
            assert health.json()["store"] in ("ok", "full"), health.text
        free(filler)
        wait_for("a write to succeed",
                 lambda: admin.post("/v1/projects", {"name": "later"}).status_code == 201,
                 timeout=30)
        assert requests.get(n.base + "/v1/health", timeout=30).json()["status"] == "ok"
        names = [p["name"] for p in admin.get("/v1/projects").json()["projects"]]
        assert "kept" in names and "later" in names and "refused" not in names
        assert "dead" not in n.log()
    finally:
        if n.proc is not None:
            stop_clean(n)
