"""Cloud admin versus a project's admin (issue 13 item 8).

Before migration 12 the admin role in any project made a user admin of the
whole cloud.  Now being a cloud admin is a flag on the user (users.cloud_admin,
given and taken by PATCH /v1/users/{id} {"cloud_admin": bool}), and a project's
admin manages that project's members only: no hosts, flavors, public
images, prices, quotas, users, other projects or cloud admin.
"""
import os
import sqlite3
import uuid

import pytest

from conftest import ON_PG, Nubod, assert_problem, db_connect, make_tenant

PW = "secret-password-1"
OLD_PW = "old-schema-pw-1"
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def new_user(admin, name=None):
    name = name or "u-" + uuid.uuid4().hex[:8]
    r = admin.post("/v1/users", {"name": name, "password": PW})
    assert r.status_code == 201, r.text
    return r.json()


# ------------------------------------------------------- a project's admin


def test_bootstrap_admin_is_cloud_admin(nubod, admin):
    w = admin.get("/v1/auth/whoami").json()
    assert w["cloud_admin"] is True and w["is_admin"] is True
    u = admin.get("/v1/users/admin").json()
    assert u["cloud_admin"] is True
    assert [x["cloud_admin"] for x in admin.get("/v1/users").json()["users"]] == [True]
    # Its admin roles in projects are project roles now: losing them (even
    # in the project named "admin") leaves it a cloud admin.
    assert admin.delete("/v1/projects/demo/members/admin").status_code == 204
    assert admin.put("/v1/projects/admin/members/admin", {"role": "reader"}).status_code == 200
    w = admin.get("/v1/auth/whoami").json()
    assert w["cloud_admin"] is True and w["role"] == "admin"
    assert admin.get("/v1/hosts").status_code == 200
    # Nor does deleting that project take anything from it.
    assert admin.delete("/v1/projects/demo").status_code == 204


def test_project_admin_has_no_cloud_powers(nubod, admin):
    pa = make_tenant(nubod, admin, role="admin", project="team-a")
    make_tenant(nubod, admin, role="member", project="team-b")
    w = pa.get("/v1/auth/whoami").json()
    assert w["role"] == "admin" and w["cloud_admin"] is False and w["is_admin"] is False
    assert pa.get("/v1/users/" + pa.user).json()["cloud_admin"] is False

    forbidden = [
        ("GET", "/v1/hosts", None),
        ("GET", "/v1/users", None),
        ("POST", "/v1/users", {"name": "mallory", "password": PW}),
        ("GET", "/v1/audit", None),
        ("POST", "/v1/projects", {"name": "mine"}),
        ("DELETE", "/v1/projects/team-a", None),
        ("PUT", "/v1/projects/team-a/quota", {"instances": 1000}),
        ("POST", "/v1/flavors", {"name": "huge", "vcpus": 64, "ram_mib": 65536, "disk_gib": 10}),
        ("POST", "/v1/prices", {"meter": "disk", "unit_price_micros": 1, "currency": "EUR"}),
        ("GET", "/v1/invoices/showback", None),
        ("PUT", "/v1/budget", {"amount_micros": 1000000}),
        ("GET", "/v1/instances?all_projects=true", None),
        ("PATCH", "/v1/users/%s" % pa.user, {"cloud_admin": True}),
    ]
    for method, path, body in forbidden:
        r = pa.req(method, path, json=body)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
    assert_problem(pa.post("/v1/images", {"name": "pub", "visibility": "public"}), 403,
                   "cloud admin")
    assert_problem(pa.post("/v1/networks", {"name": "ext", "external": True}), 403, "cloud admin")

    # Other projects stay invisible; it cannot join them.
    assert [p["name"] for p in pa.get("/v1/projects").json()["projects"]] == ["team-a"]
    for ref in ("team-b", "admin", "demo"):
        assert_problem(pa.get("/v1/projects/" + ref), 404)
        assert_problem(pa.put("/v1/projects/%s/members/%s" % (ref, pa.user),
                              {"role": "admin"}), 404)
    assert_problem(pa.get("/v1/users/admin"), 404)
    assert_problem(pa.patch("/v1/users/admin", {"disabled": True}), 404)
    assert_problem(pa.patch("/v1/users/admin", {"cloud_admin": False}), 404)
    # Reading its own project's quota and usage is fine; changing it is not.
    q = pa.get("/v1/projects/team-a/quota")
    assert q.status_code == 200 and "usage" in q.json()
    assert admin.get("/v1/projects/team-a/quota").json()["limits"] == q.json()["limits"]
    # No role grants cloud admin.
    for role in ("cloud-admin", "cloud_admin", "system"):
        assert_problem(pa.put("/v1/projects/team-a/members/" + pa.user, {"role": role}), 400)
    assert pa.get("/v1/auth/whoami").json()["cloud_admin"] is False


def test_project_admin_manages_its_members(nubod, admin):
    pa = make_tenant(nubod, admin, role="admin", project="team-a")
    x = new_user(admin, "xavier")
    r = pa.put("/v1/projects/team-a/members/xavier", {"role": "member"})
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "member" and r.json()["user_id"] == x["id"]
    xc = nubod.login("xavier", PW, "team-a")
    assert xc.get("/v1/auth/whoami").json()["role"] == "member"
    assert pa.put("/v1/projects/team-a/members/xavier", {"role": "admin"}).status_code == 200
    w = xc.get("/v1/auth/whoami").json()
    assert w["role"] == "admin" and w["cloud_admin"] is False
    assert_problem(xc.get("/v1/hosts"), 403)
    members = {m["user_name"]: m["role"] for m in
               pa.get("/v1/projects/team-a/members").json()["members"]}
    assert members == {pa.user: "admin", "xavier": "admin"}
    assert pa.delete("/v1/projects/team-a/members/xavier").status_code == 204
    assert xc.get("/v1/auth/whoami").json()["role"] == "none"
    # A member or reader of the project may not.
    m = make_tenant(nubod, admin, role="member", project="team-a")
    assert_problem(m.put("/v1/projects/team-a/members/xavier", {"role": "reader"}), 403,
                   "admin")
    assert_problem(m.delete("/v1/projects/team-a/members/" + pa.user), 403)
    # A project's admin may leave it without an admin (a cloud admin fixes
    # that): nothing cloud-wide depends on it any more.
    assert pa.delete("/v1/projects/team-a/members/" + pa.user).status_code == 204
    assert_problem(pa.get("/v1/projects/team-a/members"), 404)


def test_project_admin_acts_only_where_its_token_is_scoped(nubod, admin):
    """Admin of A and of B, logged in to A: B's members are out of reach (an
    API key or session of one project never reaches another)."""
    a = make_tenant(nubod, admin, role="admin", project="team-a")
    make_tenant(nubod, admin, role="admin", project="team-b", user=a.user)
    new_user(admin, "yvonne")
    r = a.put("/v1/projects/team-b/members/yvonne", {"role": "member"})
    assert_problem(r, 403, "nubo login --project team-b")
    b = nubod.login(a.user, PW, "team-b")
    assert b.put("/v1/projects/team-b/members/yvonne", {"role": "member"}).status_code == 200
    assert a.put("/v1/projects/team-a/members/yvonne", {"role": "reader"}).status_code == 200


# -------------------------------------------------------------- cloud admin


def test_grant_and_revoke_cloud_admin(nubod, admin):
    u = make_tenant(nubod, admin, role="member", project="team-a")
    assert_problem(u.get("/v1/hosts"), 403)
    r = admin.patch("/v1/users/" + u.user, {"cloud_admin": True})
    assert r.status_code == 200, r.text
    assert r.json()["cloud_admin"] is True and r.json()["name"] == u.user
    assert admin.patch("/v1/users/" + u.user, {"cloud_admin": True}).status_code == 200  # idempotent
    # Existing tokens follow at once.
    w = u.get("/v1/auth/whoami").json()
    assert w["cloud_admin"] is True and w["role"] == "admin"
    assert u.get("/v1/hosts").status_code == 200
    assert u.post("/v1/flavors", {"name": "f1", "vcpus": 1, "ram_mib": 64,
                                  "disk_gib": 1}).status_code == 201
    assert u.put("/v1/projects/demo/quota", {"instances": 3}).status_code == 200
    assert u.get("/v1/projects/admin").status_code == 200
    users = {x["name"]: x["cloud_admin"] for x in admin.get("/v1/users").json()["users"]}
    assert users == {"admin": True, u.user: True}
    for bad in ("yes", 1, None):
        assert_problem(admin.patch("/v1/users/" + u.user, {"cloud_admin": bad}), 400,
                       "true or false")

    r = admin.patch("/v1/users/" + u.user, {"cloud_admin": False})
    assert r.status_code == 200 and r.json()["cloud_admin"] is False
    w = u.get("/v1/auth/whoami").json()
    assert w["cloud_admin"] is False and w["role"] == "member"
    assert_problem(u.get("/v1/hosts"), 403)
    assert_problem(u.patch("/v1/users/admin", {"cloud_admin": True}), 404)  # not visible
    assert_problem(u.patch("/v1/users/" + u.user, {"cloud_admin": True}), 403, "cloud admin")
    assert_problem(admin.patch("/v1/users/nobody", {"cloud_admin": True}), 404, "nobody")


def test_last_cloud_admin_keeps_it(nubod, admin):
    assert_problem(admin.patch("/v1/users/admin", {"cloud_admin": False}), 409, "grant-cloud-admin")
    assert admin.get("/v1/auth/whoami").json()["cloud_admin"] is True
    # A disabled cloud admin does not count.
    new_user(admin, "second")
    assert admin.patch("/v1/users/second", {"cloud_admin": True}).status_code == 200
    assert admin.patch("/v1/users/second", {"disabled": True}).status_code == 200
    assert_problem(admin.patch("/v1/users/admin", {"cloud_admin": False}), 409)
    assert admin.patch("/v1/users/second", {"disabled": False}).status_code == 200
    assert admin.put("/v1/projects/demo/members/second", {"role": "reader"}).status_code == 200
    # With a second enabled one, either may step down, but not both.
    assert admin.patch("/v1/users/admin", {"cloud_admin": False}).status_code == 200
    assert_problem(admin.get("/v1/hosts"), 403)
    r = admin.get("/v1/auth/whoami").json()
    assert r["cloud_admin"] is False and r["role"] == "admin"  # still admin of 'admin'
    second = nubod.login("second", PW, "demo")
    assert_problem(second.patch("/v1/users/second", {"cloud_admin": False}), 409)
    assert_problem(second.delete("/v1/users/second"), 403)
    assert second.patch("/v1/users/admin", {"cloud_admin": True}).status_code == 200
    assert admin.get("/v1/hosts").status_code == 200


def test_stack_loses_cloud_powers_with_its_creator(nubod, admin):
    """A stack acts as its creator: a flavor made by a cloud admin's stack
    is deleted by its destroy only while the creator is still one."""
    from test_stack import wait_stack
    carol = make_tenant(nubod, admin, role="member", project="team-a")
    assert admin.patch("/v1/users/" + carol.user, {"cloud_admin": True}).status_code == 200
    t = "resources:\n  f:\n    type: flavor\n    properties: {name: stackf, vcpus: 1," \
        " ram_mib: 64, disk_gib: 1}\n"
    for name in ("kept", "gone"):
        r = carol.post("/v1/stacks", {"name": name, "template": t.replace("stackf", name)})
        assert r.status_code == 202, r.text
        st = wait_stack(carol, r.json()["stack"]["id"])
        assert st["status"] == "complete", st
    flavors = lambda: sorted(f["name"] for f in admin.get("/v1/flavors").json()["flavors"])
    assert flavors() == ["gone", "kept"]
    # While carol is a cloud admin, a member's destroy deletes the flavor.
    other = make_tenant(nubod, admin, role="member", project="team-a")
    assert other.delete("/v1/stacks/gone").status_code == 202
    assert wait_stack(other, "gone", statuses=("gone", "destroy_failed")) is None
    assert flavors() == ["kept"]
    # Once she is not, her stack cannot either.
    assert admin.patch("/v1/users/" + carol.user, {"cloud_admin": False}).status_code == 200
    assert other.delete("/v1/stacks/kept").status_code == 202
    st = wait_stack(other, "kept", statuses=("gone", "destroy_failed"))
    assert st is not None and st["status"] == "destroy_failed", st
    assert flavors() == ["kept"]


# ---------------------------------------------------------------- migration


def v11_nubod(tmp_path, edit=None):
    """A nubod whose database was at schema version 11 (before migration 12):
    data/nubo-v11.sql, then edit(connection) on it."""
    n = Nubod(str(tmp_path))
    os.makedirs(n.dir, mode=0o700)
    con = sqlite3.connect(os.path.join(n.dir, "nubo.db"))
    with open(os.path.join(DATA, "nubo-v11.sql")) as f:
        con.executescript(f.read())
    assert con.execute("SELECT MAX(version) FROM schema_version").fetchone() == (11,)
    if edit:
        edit(con)
    con.commit()
    con.close()
    return n.start()


def add_stack(con, user):
    """A stack recorded before migration 12, with its creator's old powers."""
    con.execute(
        "INSERT INTO stacks (id, project_id, name, status, revision, on_failure, user_id, role,"
        " is_admin, created_at, updated_at) SELECT ?, r.project_id, ?, 'complete', 1,"
        " 'rollback', u.id, r.role, 1, '2026-12-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z'"
        " FROM users u JOIN role_assignments r ON r.user_id = u.id WHERE u.name = ? LIMIT 1",
        (str(uuid.uuid4()), "s-" + user, user))


def stacks_is_admin(n):
    con = db_connect(n)
    try:
        return dict(con.execute("SELECT name, is_admin FROM stacks").fetchall())
    finally:
        con.close()


def cloud_admins(n):
    c = n.login("admin", OLD_PW)
    return {u["name"]: u["cloud_admin"] for u in c.get("/v1/users").json()["users"]}


@pytest.fixture
def stop_after():
    started = []
    yield started.append
    for n in started:
        rc = n.stop()
        assert rc == 0, "nubod exited with %d:\n%s" % (rc, n.log())


@pytest.mark.skipif(ON_PG, reason="the version-11 cloud is a SQLite file: PostgreSQL clouds began"
                    " after migration 12, so none has data to migrate")
def test_migration_keeps_the_admin_projects_admins(tmp_path, stop_after):
    def edit(con):
        for u in ("admin", "alice", "bob"):
            add_stack(con, u)
    n = v11_nubod(tmp_path, edit)
    stop_after(n)
    # Admins of the project "admin" (the bootstrap admin's) are cloud admins;
    # alice, admin of "team" only, is that project's admin and no more.
    assert cloud_admins(n) == {"admin": True, "carol": True, "alice": False, "bob": False}
    alice = n.login("alice", OLD_PW, "team")
    w = alice.get("/v1/auth/whoami").json()
    assert w["role"] == "admin" and w["cloud_admin"] is False
    assert_problem(alice.get("/v1/hosts"), 403)
    assert_problem(alice.put("/v1/projects/team/quota", {"instances": 99}), 403)
    assert [p["name"] for p in alice.get("/v1/projects").json()["projects"]] == ["demo", "team"]
    assert alice.put("/v1/projects/team/members/bob", {"role": "reader"}).status_code == 200
    carol = n.login("carol", OLD_PW)
    assert carol.get("/v1/hosts").status_code == 200
    assert carol.get("/v1/auth/whoami").json()["cloud_admin"] is True
    # Stacks no longer carry powers their creator does not have.
    assert stacks_is_admin(n) == {"s-admin": 1, "s-alice": 0, "s-bob": 0}
    # Started again, nothing changes (the migration ran once).
    assert n.stop() == 0
    n.start()
    assert cloud_admins(n) == {"admin": True, "carol": True, "alice": False, "bob": False}


@pytest.mark.skipif(ON_PG, reason="the version-11 cloud is a SQLite file: PostgreSQL clouds began"
                    " after migration 12, so none has data to migrate")
def test_migration_without_the_admin_project_keeps_every_admin(tmp_path, stop_after):
    """When the project "admin" is gone, every user with an admin role stays a
    cloud admin, as before, rather than locking the cloud out."""
    def edit(con):
        con.execute("UPDATE projects SET name = 'ops' WHERE name = 'admin'")
    n = v11_nubod(tmp_path, edit)
    stop_after(n)
    assert cloud_admins(n) == {"admin": True, "carol": True, "alice": True, "bob": False}


# ---------------------------------------------------------------------- CLI


def test_cli_grant_and_revoke_cloud_admin(nubod, admin, tmp_path):
    from test_cli_cloud import Cli, table
    new_user(admin, "carol")
    assert admin.put("/v1/projects/demo/members/carol", {"role": "admin"}).status_code == 200
    cli = Cli(tmp_path / "cli", nubod.base)
    cli.login("admin", nubod.admin_password, "admin")
    r = cli.ok("user", "grant-cloud-admin", "carol")
    assert r.stdout == "carol is now a cloud admin\n"
    assert cli.json("user", "show", "carol")["cloud_admin"] is True
    rows = table(cli.ok("user", "list").stdout)
    assert rows[0][:5] == ["NAME", "ID", "EMAIL", "DISABLED", "CLOUD ADMIN"]
    assert "cloud admin" in cli.ok("user", "show", "carol").stdout
    carol = Cli(tmp_path / "carol", nubod.base)
    carol.login("carol", PW, "demo")
    assert carol.json("whoami")["cloud_admin"] is True
    assert carol.json("user", "revoke-cloud-admin", "carol")["cloud_admin"] is False
    assert carol.json("whoami")["cloud_admin"] is False
    r = carol.run("user", "grant-cloud-admin", "carol")
    assert r.returncode != 0 and "cloud admin" in r.stderr
    r = cli.run("user", "revoke-cloud-admin", "admin")
    assert r.returncode != 0 and "grant-cloud-admin" in r.stderr
    r = cli.run("user", "grant-cloud-admin")
    assert r.returncode == 2 and "one user name or id" in r.stderr
