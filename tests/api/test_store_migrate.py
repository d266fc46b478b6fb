"""nubod --migrate-store FROM TO (issue 20 item 3): an all-in-one SQLite
cloud copied into PostgreSQL, checked by counts and checksums, then served
from PostgreSQL with everything as it was.

Needs a PostgreSQL server on both runs of the suite: the one of
NUBO_TEST_PG_URL, or one conftest starts (scripts/pg-test.sh)."""
import os
import sqlite3
import subprocess

from conftest import NUBOD, Nubod, PgServer, make_tenant

LISTS = ["/v1/projects", "/v1/users", "/v1/flavors", "/v1/keypairs", "/v1/networks",
         "/v1/subnets", "/v1/security-groups", "/v1/server-groups", "/v1/prices"]


def views(admin, member):
    """What the API shows of the cloud, for before / after."""
    out = {p: admin.get(p).json() for p in LISTS}
    out.update({"member " + p: member.get(p).json() for p in LISTS[2:]})
    out["quota"] = member.get("/v1/quotas").json()
    return out


def migrate(src, dst):
    return subprocess.run([NUBOD, "--migrate-store", src, dst], capture_output=True, text=True,
                          timeout=300)


def test_sqlite_cloud_moves_to_postgresql(tmp_path):
    state = str(tmp_path / "controller")
    db = os.path.join(state, "nubo.db")
    n = Nubod(str(tmp_path), extra=["--store", db]).start()
    try:
        admin = n.admin()
        member = make_tenant(n, admin)
        assert admin.post("/v1/flavors", {"name": "m1", "vcpus": 1, "ram_mib": 256,
                                          "disk_gib": 1}).status_code == 201
        key = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGf3y0fFm8v2bnXyQhYc0Kq3aVv2b0Cz0h0tA7e1Xc0a"
               " me@x")
        r = member.post("/v1/keypairs", {"name": "k", "public_key": key})
        assert r.status_code == 201, r.text
        net = member.post("/v1/networks", {"name": "n1"})
        assert net.status_code == 201, net.text
        r = member.post("/v1/subnets", {"network": net.json()["id"], "name": "s1",
                                        "cidr": "10.9.0.0/24"})
        assert r.status_code == 201, r.text
        assert member.post("/v1/security-groups", {"name": "web"}).status_code == 201
        assert member.post("/v1/server-groups", {"name": "g", "policy": "affinity"}
                           ).status_code == 201
        assert admin.post("/v1/prices", {"meter": "disk", "unit_price_micros": 7,
                                         "currency": "EUR"}).status_code in (200, 201)
        before = views(admin, member)
    finally:
        assert n.stop() == 0
    # rows numbered by SQLite's rowid (usage_records.seq: BIGSERIAL on PostgreSQL)
    usage = ("INSERT INTO usage_records (seq, project_id, resource_type, resource_id, meter,"
             " size, start_ms, end_ms) VALUES (?, 'p', 'instance', ?, 'vcpu', 1, 1, 2)")
    with sqlite3.connect(db) as c:
        for seq in (1, 2, 41):
            c.execute(usage, (seq, "r%d" % seq))
    target = PgServer.create_db(n)
    r = migrate(db, target)
    assert r.returncode == 0, r.stderr
    assert "row counts and checksums match" in r.stdout
    rows = {line.split()[0]: int(line.split()[1]) for line in r.stdout.splitlines()
            if "sha256" in line}
    assert rows["flavors"] >= 1 and rows["keypairs"] == 1 and rows["networks"] >= 1

    import psycopg2
    c = psycopg2.connect(target)
    with c, c.cursor() as cur:
        cur.execute("INSERT INTO usage_records (project_id, resource_type, resource_id, meter,"
                    " size, start_ms) VALUES ('p', 'instance', 'new', 'vcpu', 1, 3) RETURNING seq")
        assert cur.fetchone()[0] == 42
        cur.execute("DELETE FROM usage_records WHERE resource_id = 'new'")
    c.close()

    # a second copy into the now full database refuses and changes nothing
    again = migrate(db, target)
    assert again.returncode == 1
    assert "already holds data" in again.stderr and "empty database" in again.stderr

    # the same cloud, served from PostgreSQL
    n.extra = ["--store", target]
    n.start()
    try:
        admin = n.admin()
        member = n.login(member.user, "secret-password-1", member.project)
        after = views(admin, member)
        assert after == before
        # new rows after the copied ones (ids, BIGSERIAL sequences) go in
        assert member.post("/v1/keypairs", {"name": "k2", "public_key": key.replace(
            "me@x", "me@y")}).status_code in (201, 409)
        assert member.post("/v1/security-groups", {"name": "db"}).status_code == 201
    finally:
        assert n.stop() == 0


def test_bad_command_lines_change_nothing(tmp_path):
    missing = str(tmp_path / "nope.db")
    r = migrate(missing, "postgresql:///x?host=/nowhere")
    assert r.returncode == 1 and "cannot open" in r.stderr
    assert not os.path.exists(missing)
    r = subprocess.run([NUBOD, "--migrate-store", missing], capture_output=True, text=True)
    assert r.returncode == 2 and "wants FROM TO" in r.stderr
