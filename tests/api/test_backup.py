"""nubod --backup / --restore and the recovery that follows a restore
(docs/internals/operations.md, "Backup and restore"):

- a backup taken while clients create resources holds every resource
  acknowledged before it began; the restored controller starts with them,
  its admin password and its images;
- a restored (older) database never removes a VM made after the backup: the
  controller is recovering, quarantines the VM, lists it, and only an
  admin's finish makes it an orphan again;
- bad input (a non-empty target, a file that is no backup, an existing
  backup file, tenants) is refused and changes nothing.
Runs on both backends: on PostgreSQL the live database is backed up, and
restored into a new PostgreSQL database."""

import os
import subprocess
import threading
import time
import uuid

from conftest import NUBOD, ON_PG, Nubod, PgServer, assert_problem, make_tenant
from test_hosts import FakeHostd, seed_tiny, skip_without_tiny, wait_for, wait_status


def sub(tmp, name):
    d = os.path.join(str(tmp), name)
    os.makedirs(d, exist_ok=True)
    return d


def nubod_tool(*args):
    return subprocess.run([NUBOD] + list(args), capture_output=True, text=True, timeout=300)


def backup(n, path):
    args = ["--backup", path, "--state-dir", n.dir]
    if n.store:
        args += ["--store", n.store]
    return nubod_tool(*args)


def restore_into(tmp, path):
    """A new (stopped) Nubod whose state is restored from the backup at path."""
    n2 = Nubod(tmp)
    args = ["--restore", path, "--state-dir", n2.dir]
    if ON_PG:
        n2.store = PgServer.create_db(n2)
        args += ["--store", n2.store]
    r = nubod_tool(*args)
    assert r.returncode == 0, r.stderr
    assert "restored into" in r.stdout, r.stdout
    return n2


def test_backup_while_creating_then_restore(tmp_path):
    n = Nubod(sub(tmp_path, "a")).start()
    password = n.admin_password
    acked = []  # (monotonic time of the answer, project name)
    stop = threading.Event()
    errors = []
    clients = [n.admin() for _ in range(3)]

    def writer(k):
        c = clients[k]
        i = 0
        while not stop.is_set():
            name = "bk-%d-%d" % (k, i)
            r = c.post("/v1/projects", {"name": name})
            if r.status_code == 201:
                acked.append((time.monotonic(), name))
            else:
                errors.append(r.text)
            i += 1

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    try:
        for t in threads:
            t.start()
        wait_for("some writes", lambda: len(acked) >= 20, timeout=60)
        path = str(tmp_path / "cloud.nubo-backup")
        t0 = time.monotonic()
        r = backup(n, path)
        t1 = time.monotonic()
        assert r.returncode == 0, r.stderr
        assert "database:" in r.stdout and "backup: " + path in r.stdout, r.stdout
        wait_for("writes after the backup", lambda: acked[-1][0] > t1 + 0.2, timeout=60)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
    assert n.stop() == 0, n.log()
    before = {name for at, name in acked if at < t0}
    assert len(before) >= 20

    n2 = restore_into(sub(tmp_path, "b"), path)
    assert os.path.exists(os.path.join(n2.dir, "recovering"))
    n2.start()
    try:
        assert n2.admin_password == password  # the secret came along
        a2 = n2.admin()
        names = set()
        marker = None
        while True:
            r = a2.get("/v1/projects?limit=1000" + ("&marker=" + marker if marker else ""))
            assert r.status_code == 200, r.text
            page = r.json()
            names |= {p["name"] for p in page["projects"]}
            marker = page.get("next_marker")
            if not marker:
                break
        missing = before - names
        assert not missing, "acknowledged before the backup, lost: %s" % sorted(missing)[:5]
        made_after = {name for at, name in acked if at > t1}
        assert not (made_after & names), "the backup holds writes made after it ended"
        rec = a2.get("/v1/recovery").json()
        assert rec["recovering"] is True and rec["quarantined"] == []
        assert rec["backup"] == path and rec["backup_taken_at"]
    finally:
        assert n2.stop() == 0, n2.log()


def test_bad_backup_and_restore_input_changes_nothing(tmp_path):
    n = Nubod(sub(tmp_path, "a")).start()
    try:
        path = str(tmp_path / "one.nubo-backup")
        r = backup(n, path)
        assert r.returncode == 0, r.stderr
        size = os.path.getsize(path)
        r = backup(n, path)  # never overwrites
        assert r.returncode == 1 and "exists: give the backup a new file name" in r.stderr
        assert os.path.getsize(path) == size
        r = nubod_tool("--backup", str(tmp_path / "x"), "--state-dir", str(tmp_path / "none"))
        assert r.returncode == 1 and "no database at" in r.stderr, r.stderr
        assert not os.path.exists(tmp_path / "x")
    finally:
        assert n.stop() == 0, n.log()

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep").write_text("mine")
    r = nubod_tool("--restore", path, "--state-dir", str(busy))
    assert r.returncode == 1 and "is not empty: restore into a new state directory" in r.stderr
    assert os.listdir(busy) == ["keep"]

    junk = tmp_path / "junk.tgz"
    subprocess.run(["tar", "-czf", str(junk), "-C", str(busy), "keep"], check=True)
    fresh = tmp_path / "fresh"
    r = nubod_tool("--restore", str(junk), "--state-dir", str(fresh))
    assert r.returncode == 1 and "is not a nubo backup" in r.stderr, r.stderr
    assert os.listdir(fresh) == []  # left empty, as it was (absent)
    r = nubod_tool("--restore", str(tmp_path / "missing"), "--state-dir", str(fresh))
    assert r.returncode == 1 and "cannot read the backup" in r.stderr


def test_restore_never_removes_a_newer_vm(tmp_path):
    skip_without_tiny()
    tmp = str(tmp_path)
    n = Nubod(sub(tmp, "a"), extra=["--host-down-ms", "4000"]).start()
    hostd = FakeHostd(tmp, n, "fake-1").start()
    admin = n.admin()
    wait_for("the fake host", lambda: [h for h in admin.get("/v1/hosts").json()["hosts"]
                                       if h["state"] == "up"])
    seed_tiny(admin)
    tenant = make_tenant(n, admin, project="p-" + uuid.uuid4().hex[:8], user="bk-user")
    old = tenant.post("/v1/instances", {"name": "old", "flavor": "tiny", "image": "nubo-tiny"})
    old_id = old.json()["instances"][0]["id"]
    wait_status(tenant, old_id, "running")
    path = tmp + "/cloud.nubo-backup"
    r = backup(n, path)
    assert r.returncode == 0, r.stderr
    new = tenant.post("/v1/instances", {"name": "new", "flavor": "tiny", "image": "nubo-tiny"})
    new_id = new.json()["instances"][0]["id"]
    wait_status(tenant, new_id, "running")
    assert {"nubo-" + old_id, "nubo-" + new_id} <= {v["name"] for v in hostd.vms()}
    # the agent keeps running: while no controller answers, its lease
    # (--host-down-ms / 2) runs out and it pauses its VMs; the restored
    # controller, which lists only the old one, must not make it destroy
    # the new one
    assert n.stop() == 0, n.log()

    n2 = restore_into(sub(tmp, "b"), path)
    n2.extra = ["--host-down-ms", "4000"]
    # the controller comes back at its address (agents keep their
    # credentials for one controller URL)
    n2.port, n2.base = n.port, n.base
    wait_for("the agent's lease out", lambda: "lease ran out" in hostd.log(), timeout=30)
    n2.start()
    agent = hostd
    try:
        a2 = n2.admin()
        t2 = n2.login("bk-user", "secret-password-1", tenant.project)
        wait_for("the host back up", lambda: [h for h in a2.get("/v1/hosts").json()["hosts"]
                                              if h["state"] == "up"], timeout=30)
        wait_status(t2, old_id, "running", timeout=30)
        assert t2.get("/v1/instances/" + new_id).status_code == 404  # unknown to the backup
        q = wait_for("the newer VM quarantined",
                     lambda: a2.get("/v1/recovery").json()["quarantined"], timeout=30)
        assert [x["vm"] for x in q] == ["nubo-" + new_id] and q[0]["host"] == "fake-1"
        # several reconcile passes and heartbeats later the VM is still there
        time.sleep(3)
        assert "nubo-" + new_id in {v["name"] for v in agent.vms()}
        assert "quarantined" in agent.log()
        assert_problem(t2.get("/v1/recovery"), 403)
        assert_problem(t2.post("/v1/recovery/actions", {"action": "finish"}), 403)
        assert_problem(a2.post("/v1/recovery/actions", {"action": "end"}), 400, "finish")
        r = a2.post("/v1/recovery/actions", {"action": "finish"})
        assert r.status_code == 200, r.text
        assert r.json()["recovering"] is False and len(r.json()["quarantined"]) == 1
        assert not os.path.exists(os.path.join(n2.dir, "recovering"))
        assert_problem(a2.post("/v1/recovery/actions", {"action": "finish"}), 409)
        wait_for("the orphan removed",
                 lambda: "nubo-" + new_id not in {v["name"] for v in agent.vms()}, timeout=30)
        assert "nubo-" + old_id in {v["name"] for v in agent.vms()}
    finally:
        assert agent.stop() == 0, agent.log()
        assert n2.stop() == 0, n2.log()
