"""nubod --store-sync: SQLite's durability setting (store_sqlite.c).

The default, full (synchronous=FULL), syncs each commit to the disk;
normal (synchronous=NORMAL) must still lose nothing that was answered when
nubod is killed (kill -9): the commits are in the WAL, which the kernel
keeps.  A wrong value is refused before anything starts."""
import signal
import subprocess
import threading

import pytest

from conftest import NUBOD, ON_PG, Nubod

pytestmark = pytest.mark.skipif(ON_PG, reason="a setting of the SQLite store")


def test_store_sync_refuses_other_values(tmp_path):
    r = subprocess.run([NUBOD, "--state-dir", str(tmp_path), "--store-sync", "sometimes"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    assert "--store-sync must be normal or full" in r.stderr


@pytest.mark.parametrize("mode", [None, "normal", "full"])
def test_answered_writes_survive_kill9(tmp_path, mode):
    extra = ["--store-sync", mode] if mode else []
    n = Nubod(str(tmp_path), extra).start()
    admin = n.admin()
    answered, lock = [], threading.Lock()

    def writer(k):
        for j in range(15):
            r = admin.post("/v1/projects", {"name": "sync-%d-%d" % (k, j)})
            if r.status_code == 201:
                with lock:
                    answered.append(r.json()["id"])

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    n.stop(signal.SIGKILL)  # at once after the last answer: no clean stop
    assert len(answered) == 60
    n.start()
    try:
        ids = {p["id"] for p in n.admin().get("/v1/projects?limit=1000").json()["projects"]}
        assert set(answered) <= ids, "lost after kill -9: %d" % len(set(answered) - ids)
    finally:
        assert n.stop() == 0, n.log()
