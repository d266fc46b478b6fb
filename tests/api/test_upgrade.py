"""Upgrades (issue 18 item 5): nubod --check-upgrade, the refusal of a
database written by a newer nubo, and databases written by earlier nubo
versions (tests/api/data/nubo-vN.sql) upgraded by the current nubod.

docs/internals/upgrades.md describes the procedure these tests check.
"""
import hashlib
import http.server
import json
import os
import re
import sqlite3
import subprocess
import threading
import uuid

import pytest
import requests

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


# ------------------------------------------------------ host protocol versions

def recorded_agent():
    """What a nubo-hostd of host protocol 1 (before the field) sent and what
    its controller answered a newer agent (data/capture_agent_requests.py)."""
    with open(os.path.join(DATA, "agent-protocol-1.json")) as f:
        return json.load(f)


def replay(n, req, join_token=None, host_id=None, token=None, **extra):
    body = dict(req["body"], **extra)
    if "join_token" in body:
        body["join_token"] = join_token
    h = {"Authorization": "Bearer " + token} if token else {}
    return requests.post(n.base + req["path"].replace("{host_id}", host_id or ""), json=body,
                         headers=h, timeout=30)


def test_a_protocol_1_agent_registers_and_heartbeats(nubod, admin):
    """Today's agents (no "protocol" field) against this controller: the
    recorded registration, heartbeats (one listing a VM) and metrics batch
    are all taken, and the host is up."""
    reqs = recorded_agent()["agent"]
    assert [r["path"].rsplit("/", 1)[1] for r in reqs] == \
        ["register", "heartbeat", "heartbeat", "metrics"]
    assert all("protocol" not in r["body"] for r in reqs)
    r = replay(nubod, reqs[0], join_token=nubod.join_token)
    assert r.status_code == 201, r.text
    host_id, token = r.json()["host_id"], r.json()["host_token"]
    assert r.json()["protocol"] >= 2
    for req in reqs[1:]:
        r = replay(nubod, req, host_id=host_id, token=token)
        assert r.status_code == req["status"] == 200, (req["path"], r.text)
        if req["path"].endswith("/heartbeat"):
            assert r.json()["state"] == "up" and r.json()["protocol"] >= 2
    h = admin.get("/v1/hosts/%s" % reqs[0]["body"]["name"]).json()
    assert h["state"] == "up" and h["id"] == host_id
    assert "host protocol 1" in nubod.full_log()


def test_host_protocol_versions_outside_the_window_are_refused(nubod, admin):
    reqs = recorded_agent()["agent"]
    r = replay(nubod, reqs[0], join_token=nubod.join_token, protocol=2)
    assert r.status_code == 201, r.text
    current = r.json()["protocol"]
    host_id, token = r.json()["host_id"], r.json()["host_token"]
    # the same host, registered again with its own token, at the current version
    r = replay(nubod, reqs[0], join_token=nubod.join_token, protocol=current,
               host_token=token)
    assert r.status_code == 201 and r.json()["protocol"] == current, r.text
    def hosts():
        return sorted((h["name"], h["id"]) for h in admin.get("/v1/hosts").json()["hosts"])
    before = hosts()
    newer, older = current + 1, 0
    for extra, words in (({"protocol": newer}, ["host protocol %d" % newer, "newer",
                                                "1 to %d" % current, "controller first"]),
                         ({"protocol": older}, ["host protocol 0", "older", "1 to %d" % current,
                                                "upgrade the agent"]),
                         ({"protocol": "2"}, ["must be an integer"]),
                         ({"protocol": 2.0}, ["must be an integer"])):
        for req in (dict(reqs[0], body=dict(reqs[0]["body"], name="h-refused")), reqs[1]):
            r = replay(nubod, req, join_token=nubod.join_token, host_id=host_id, token=token,
                       **extra)
            assert r.status_code == 400, (extra, r.text)
            detail = r.json()["detail"]
            for w in words:
                assert w in detail, (w, detail)
    # nothing changed: no new host, and the host still heartbeats, at the
    # version before too
    assert hosts() == before
    r = replay(nubod, reqs[1], host_id=host_id, token=token, protocol=current - 1)
    assert r.status_code == 200, r.text


def test_an_agent_refuses_a_controller_older_than_itself(tmp_path):
    """The current agent against what a protocol-1 controller answered an
    agent that sends "protocol" (recorded): it logs why and what to do,
    uses nothing of the answer and tries again later."""
    from test_hosts import FakeHostd, wait_for
    old = recorded_agent()["controller_answers_to_protocol_2"]
    got = []

    class OldController(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            got.append((self.path, body))
            a = old["register" if self.path.endswith("/register") else "heartbeat"]
            data = json.dumps(dict(a["answer"], instance=self.path)).encode()
            self.send_response(a["status"])
            self.send_header("Content-Type", a["content_type"])
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OldController)
    threading.Thread(target=srv.serve_forever, daemon=True).start()

    class Controller:
        base = "http://127.0.0.1:%d" % srv.server_address[1]
        dir = str(tmp_path)
    with open(os.path.join(str(tmp_path), "join-token"), "w") as f:
        f.write("nubojoin_recorded\n")
    hostd = FakeHostd(str(tmp_path), Controller, "new-agent").start()
    try:
        wait_for("the refusal in the agent's log",
                 lambda: "does not speak this agent's host protocol" in hostd.log(), timeout=30)
        log = hostd.log()
        assert "unknown field 'protocol'" in log and "upgrade the controller first" in log, log
        assert "registered with" not in log
        assert got and all(p == "/v1/hosts/register" and b["protocol"] >= 2 for p, b in got)
        assert not os.path.exists(os.path.join(hostd.state, "controller.json"))
    finally:
        rc = hostd.stop()
        srv.shutdown()
    assert rc == 0, hostd.log()


# ------------------------------------------- databases of earlier nubo versions

OLD_PW = "old-fixture-pw-1"
FIXTURES = sorted((int(m.group(1)), f) for f in os.listdir(DATA)
                  for m in [re.match(r"nubo-v(\d+)\.sql$", f)]
                  if m and "make_old_fixture.py" in open(os.path.join(DATA, f)).read(2000))


def fixture_created(path):
    with open(path) as f:
        head = f.read(4000)
    return re.search(r"^-- created: (.*)$", head, re.M).group(1).split("; ")


def names(client, path, key):
    r = client.get(path)
    assert r.status_code == 200, r.text
    return sorted(x["name"] for x in r.json()[key])


@pytest.mark.skipif(ON_PG, reason="the fixtures are SQLite databases")
@pytest.mark.parametrize("version,name", FIXTURES, ids=["v%d" % v for v, _ in FIXTURES])
def test_a_cloud_of_an_earlier_version_upgrades(tmp_path, version, name):
    """The current nubod on a database an earlier nubo wrote through its API
    (data/make_old_fixture.py): migrated once; old passwords log in; every
    old resource is listed and usable (the old host taken over by a new
    agent after an admin's reset-credential runs the old instances again,
    a stopped one starts); new ones can be made beside them."""
    from test_hosts import FakeHostd, skip_without_tiny, wait_for
    from test_stack import kill_matching, netns_list, sh
    skip_without_tiny()
    from conftest import load_fixture
    created = fixture_created(os.path.join(DATA, name))
    n = Nubod(str(tmp_path))
    load_fixture(n.dir, os.path.join(DATA, name))
    assert schema_rows(n)[-1] == version
    n.start()
    hostd, ns = None, "none"
    try:
        assert schema_rows(n)[-1] == latest_version()
        rc, out, _ = check_upgrade(n)
        assert rc == CURRENT, out
        carol = n.login("old-carol", OLD_PW)
        alice = n.login("old-alice", OLD_PW, "old-team")
        bob = n.login("old-bob", OLD_PW, "old-team")
        admin = n.admin()
        # an admin of the project "admin" was a cloud admin before
        # migration 12, which kept the power; since then it is the flag
        assert carol.get("/v1/auth/whoami").json()["cloud_admin"] is True
        assert alice.get("/v1/auth/whoami").json()["cloud_admin"] is False
        assert {"admin", "demo", "old-team"} <= set(names(carol, "/v1/projects", "projects"))
        assert {"admin", "old-alice", "old-bob", "old-carol"} <= set(names(carol, "/v1/users", "users"))
        assert names(alice, "/v1/flavors", "flavors") == ["old-small", "old-team-only"]
        assert names(bob, "/v1/images", "images") == ["old-team-img", "old-tiny"]
        assert names(bob, "/v1/keypairs", "keypairs") == ["old-key"]
        assert names(bob, "/v1/instances", "instances") == ["old-vm-a", "old-vm-b"]
        assert names(bob, "/v1/networks", "networks") == ["old-net"]
        assert [s["cidr"] for s in bob.get("/v1/subnets").json()["subnets"]] == ["10.20.0.0/24"]
        assert "old-web" in names(bob, "/v1/security-groups", "security_groups")
        if "volume old-vol" in created:
            assert names(bob, "/v1/volumes", "volumes") == ["old-vol"]
        # tenancy holds on the old rows
        demo = n.login("old-alice", OLD_PW, "demo")
        assert names(demo, "/v1/instances", "instances") == []
        assert names(demo, "/v1/networks", "networks") == []
        vm = {i["name"]: i for i in bob.get("/v1/instances").json()["instances"]}
        # (unknown once nubod sees their host silent)
        assert vm["old-vm-b"]["status"] in ("stopped", "unknown") and vm["old-vm-b"]["desired"] == "stopped"
        assert vm["old-vm-a"]["desired"] == "running"

        # the old host: down (nothing heartbeats); an admin lets a new agent
        # take it over, which then runs the old instances again
        hosts = carol.get("/v1/hosts").json()["hosts"]
        assert [h["name"] for h in hosts] == ["old-host"]
        wait_for("the old host down", lambda: carol.get("/v1/hosts/old-host").json()["state"]
                 == "down", timeout=60)
        r = carol.post("/v1/hosts/old-host/actions", {"action": "reset-credential"})
        assert r.status_code == 200, r.text
        # in a namespace of its own: the tenant networks it is given
        # (bridges, dnsmasq, router namespaces) stay inside it
        ns = "upg%s" % uuid.uuid4().hex[:6]
        sh("ip", "netns", "add", ns)
        hostd = FakeHostd(str(tmp_path), n, "old-host")
        hostd.args += ["--netns", ns]
        hostd.start()
        wait_for("the old host up", lambda: carol.get("/v1/hosts/old-host").json()["state"]
                 == "up", timeout=60)
        assert carol.get("/v1/hosts/old-host").json()["id"] == hosts[0]["id"]
        wait_for("old-vm-a running again", lambda: bob.get(
            "/v1/instances/" + vm["old-vm-a"]["id"]).json()["power_state"] == "running", timeout=90)
        wait_for("old-vm-b stopped again", lambda: bob.get(
            "/v1/instances/" + vm["old-vm-b"]["id"]).json()["status"] == "stopped", timeout=90)
        r = bob.post("/v1/instances/%s/actions" % vm["old-vm-b"]["id"], {"action": "start"})
        assert r.status_code == 202, r.text
        wait_for("old-vm-b started", lambda: bob.get(
            "/v1/instances/" + vm["old-vm-b"]["id"]).json()["power_state"] == "running", timeout=90)

        # new resources beside the old ones, from the old flavor, image,
        # network and keypair
        r = alice.post("/v1/instances", {"name": "vm-new", "flavor": "old-team-only", "image": "old-tiny",
                                         "networks": [{"network": "old-net"}],
                                         "keypair": "old-key"})
        assert r.status_code == 202, r.text
        new_id = r.json()["instances"][0]["id"]
        wait_for("vm-new running", lambda: alice.get(
            "/v1/instances/" + new_id).json()["power_state"] == "running", timeout=90)
        ports = alice.get("/v1/ports").json()["ports"]
        assert any(p["ip"].startswith("10.20.0.") for p in ports
                   if p.get("instance_id") == new_id), ports
        assert alice.post("/v1/networks", {"name": "net-2"}).status_code == 201
        assert alice.post("/v1/volumes", {"name": "vol-2", "size_gib": 1}).status_code in (201,
                                                                                           202)
        r = admin.post("/v1/projects", {"name": "after-upgrade"})
        assert r.status_code == 201, r.text
        # an old one goes
        r = bob.delete("/v1/instances/" + vm["old-vm-a"]["id"])
        assert r.status_code in (202, 204), r.text
        wait_for("old-vm-a deleted", lambda: "old-vm-a" not in names(bob, "/v1/instances", "instances"),
                 timeout=90)
    finally:
        try:
            if hostd is not None:
                assert hostd.stop() == 0, hostd.log()
            assert n.stop() == 0, n.log()
        finally:
            kill_matching(hostd.dir + os.sep if hostd else n.dir + os.sep)
            for name in netns_list():
                if name == ns or name.startswith(ns + "-"):
                    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    # started again: nothing more to migrate, and everything is still there
    n.start()
    try:
        assert schema_rows(n)[-1] == latest_version()
        assert "vm-new" in names(n.login("old-bob", OLD_PW, "old-team"), "/v1/instances", "instances")
    finally:
        assert n.stop() == 0, n.log()


@pytest.mark.skipif(ON_PG, reason="the fixtures are SQLite databases")
def test_a_migration_a_merge_skipped_is_applied(tmp_path):
    """Main once ran migration 21 without 20 (branches merged in parallel):
    the version-21 cloud lacks 20 below its highest version.  --check-upgrade
    lists it and nubod applies it (its table exists afterwards)."""
    n = Nubod(str(tmp_path))
    from conftest import load_fixture
    load_fixture(n.dir, os.path.join(DATA, "nubo-v21.sql"))
    assert 20 not in schema_rows(n) and 21 in schema_rows(n)
    rc, out, err = check_upgrade(n)
    assert rc == PENDING, out + err
    versions = [int(v) for v in re.findall(r"^  migration (\d+): ", out, re.M)]
    assert versions[:2] == [20, 22], out
    assert re.search(r"^  migration 20: CREATE TABLE migrations;", out, re.M), out
    n.start()
    try:
        assert 20 in schema_rows(n)
        con = db_connect(n)
        assert con.execute("SELECT COUNT(*) FROM migrations").fetchone() == (0,)
        con.close()
    finally:
        assert n.stop() == 0, n.log()
    assert check_upgrade(n)[0] == CURRENT


def test_a_migration_this_nubod_does_not_have_is_refused(tmp_path):
    """A version below the newest that this build never had (another
    build's migration): refused like a newer database."""
    n = Nubod(str(tmp_path)).start()
    assert n.stop() == 0
    con = db_connect(n)
    con.execute("INSERT INTO schema_version (version, applied_at) VALUES (14, 'x')")
    con.commit()
    con.close()
    rc, out, err = check_upgrade(n)
    assert rc == NEWER, out + err
    assert "schema migration 14, which this nubod" in err and "does not have" in err, err
    args = [NUBOD, "--state-dir", n.dir, "--listen", "127.0.0.1:0"]
    if n.store:
        args += ["--store", n.store]
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "schema migration 14" in p.stdout + p.stderr
