"""API tests of the Identity section of docs/internals/controller-api.md:
tokens, API keys, projects, quotas, members, users and the audit log.

Every test runs against its own nubod (the ASan+UBSan build by default);
the fixture requires it to exit 0 at teardown (no leak, no sanitizer
report).  Bad input must answer 4xx problem+json and change nothing, which
the tests check by listing again afterwards.

Instances cannot be created through the API here, so the tests that need
some (quota usage, deleting a project with live instances) write rows into
the controller's database directly.
"""
import calendar
import os
import threading
import time
import uuid

import pytest
import requests

from conftest import Client, Nubod, assert_problem, db_connect, make_tenant

PW = "secret-password-1"


def uid():
    return uuid.uuid4().hex[:8]


def days_until(stamp):
    """Days from now until an RFC 3339 UTC time with milliseconds."""
    t = calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ"))
    return (t - time.time()) / 86400


def names(rows, key="name"):
    return [r[key] for r in rows]


def all_of(client, path, key):
    r = client.get(path)
    assert r.status_code == 200, r.text
    return r.json()[key]


def db(nubod):
    return db_connect(nubod)


def add_instance(nubod, project_id, status="running", vcpus=2, ram=1024, disk=10):
    iid = str(uuid.uuid4())
    now = "2026-01-01T00:00:00.000Z"
    with db(nubod) as c:
        c.execute("INSERT INTO instances (id, project_id, name, flavor_id, image_id, vcpus,"
                  " ram_mib, disk_gib, status, desired, created_at, updated_at)"
                  " VALUES (?, ?, ?, 'f', 'i', ?, ?, ?, ?, 'running', ?, ?)",
                  (iid, project_id, "vm-" + uid(), vcpus, ram, disk, status, now, now))
    return iid


def set_instance_status(nubod, iid, status):
    with db(nubod) as c:
        c.execute("UPDATE instances SET status = ? WHERE id = ?", (status, iid))


# ---------------------------------------------------------------- tokens


def test_login_whoami_revoke(nubod, admin):
    r = admin.get("/v1/auth/whoami")
    assert r.status_code == 200, r.text
    w = r.json()
    assert w["user"]["name"] == "admin" and w["project"]["name"] == "admin"
    assert w["role"] == "admin" and w["is_admin"] is True and w["token_id"]

    m = make_tenant(nubod, admin)
    # A member cannot revoke somebody else's token: it is not theirs (404).
    assert_problem(m.delete("/v1/auth/tokens/" + w["token_id"]), 404)
    assert admin.get("/v1/auth/whoami").status_code == 200

    r = m.delete("/v1/auth/tokens/current")
    assert r.status_code == 204, r.text
    assert_problem(m.get("/v1/auth/whoami"), 401)
    assert_problem(Client(nubod.base).get("/v1/auth/whoami"), 401)
    assert_problem(Client(nubod.base, "nubo_not-a-token").get("/v1/auth/whoami"), 401)

    # Wrong passwords and unknown users look the same.
    for body in ({"user": "admin", "password": "wrong-password"},
                 {"user": "nobody-" + uid(), "password": "wrong-password"}):
        p = assert_problem(requests.post(nubod.base + "/v1/auth/tokens", json=body), 401)
        assert p["detail"] == "wrong user name or password"


# -------------------------------------------------------------- API keys


def test_apikey_lifecycle(nubod, admin):
    m = make_tenant(nubod, admin)
    r = m.post("/v1/auth/apikeys", {"name": "ci"})
    assert r.status_code == 201, r.text
    k = r.json()
    assert set(k) == {"id", "name", "key", "project_id", "expires_at"}
    assert k["name"] == "ci" and k["key"].startswith("nubokey_")
    proj = m.get("/v1/projects/" + m.project).json()
    assert k["project_id"] == proj["id"]
    # Default: 365 days.
    assert 364.9 < days_until(k["expires_at"]) <= 365

    keys = all_of(m, "/v1/auth/apikeys", "apikeys")
    assert len(keys) == 1
    assert set(keys[0]) == {"id", "name", "project_id", "expires_at", "created_at", "revoked"}
    assert keys[0]["id"] == k["id"] and keys[0]["revoked"] is False
    assert "key" not in keys[0]

    # The key is a bearer token scoped like the session that made it.
    kc = Client(nubod.base, k["key"])
    w = kc.get("/v1/auth/whoami").json()
    assert w["user"]["name"] == m.user and w["project"]["name"] == m.project
    assert w["role"] == "member"

    # Other users see only their own keys and cannot delete this one.
    other = make_tenant(nubod, admin)
    assert all_of(other, "/v1/auth/apikeys", "apikeys") == []
    assert_problem(other.delete("/v1/auth/apikeys/" + k["id"]), 404)
    assert kc.get("/v1/auth/whoami").status_code == 200

    r = m.delete("/v1/auth/apikeys/" + k["id"])
    assert r.status_code == 204, r.text
    assert_problem(kc.get("/v1/auth/whoami"), 401)
    assert all_of(m, "/v1/auth/apikeys", "apikeys")[0]["revoked"] is True
    assert_problem(m.delete("/v1/auth/apikeys/" + k["id"]), 404)

    # An admin may revoke anybody's key.
    k2 = m.post("/v1/auth/apikeys", {"name": "ci2", "expires_in_days": 1}).json()
    assert 0.9 < days_until(k2["expires_at"]) <= 1
    assert Client(nubod.base, k2["key"]).get("/v1/auth/whoami").status_code == 200
    assert admin.delete("/v1/auth/apikeys/" + k2["id"]).status_code == 204
    assert_problem(Client(nubod.base, k2["key"]).get("/v1/auth/whoami"), 401)


def test_apikey_bad_input(nubod, admin):
    m = make_tenant(nubod, admin)
    bad = [
        ({}, "'name' must be given"),
        ({"name": 5}, "'name' must be a string"),
        ({"name": "x" * 64}, "the limit is 63"),
        ({"name": "has space"}, "forbidden character"),
        ({"name": "-dash"}, "must start with"),
        ({"name": "ok", "expires_in_days": 0}, "1 to 3650"),
        ({"name": "ok", "expires_in_days": 3651}, "1 to 3650"),
        ({"name": "ok", "expires_in_days": "10"}, "expires_in_days"),
        ({"name": "ok", "expires_in_days": 1.5}, "expires_in_days"),
        ({"name": "ok", "expires_in_days": True}, "expires_in_days"),
        ({"name": "ok", "project": "other"}, "unknown field 'project'"),
    ]
    for body, detail in bad:
        assert_problem(m.post("/v1/auth/apikeys", body), 400, detail)
    assert_problem(m.post("/v1/auth/apikeys", data="{not json",
                          headers={"Content-Type": "application/json"}), 400, "not valid JSON")
    assert_problem(m.post("/v1/auth/apikeys", data='["name"]',
                          headers={"Content-Type": "application/json"}), 400, "JSON object")
    assert_problem(m.delete("/v1/auth/apikeys/" + str(uuid.uuid4())), 404)
    assert_problem(m.delete("/v1/auth/apikeys/bad%20id"), 404)
    assert all_of(m, "/v1/auth/apikeys", "apikeys") == []


# -------------------------------------------------------------- projects


def test_project_lifecycle(nubod, admin):
    before = all_of(admin, "/v1/projects", "projects")
    # Bootstrap makes both in the same millisecond: their order is by id.
    assert sorted(names(before)) == ["admin", "demo"]
    first = names(before)
    assert all(p["role"] == "admin" for p in before)

    r = admin.post("/v1/projects", {"name": "web", "description": "the web shop"})
    assert r.status_code == 201, r.text
    p = r.json()
    assert set(p) == {"id", "name", "description", "created_at"}  # admin has no role in it
    assert p["name"] == "web" and p["description"] == "the web shop"
    assert p["created_at"].endswith("Z")

    for ref in (p["id"], "web"):
        r = admin.get("/v1/projects/" + ref)
        assert r.status_code == 200 and r.json() == p, r.text
    assert names(all_of(admin, "/v1/projects", "projects")) == first + ["web"]

    # The default quota came with it.
    q = admin.get("/v1/projects/web/quota").json()
    assert q == {"project_id": p["id"],
                 "limits": dict(COUNTED_DEFAULTS, instances=20, vcpus=40, ram_mib=65536,
                                disk_gib=1000),
                 "usage": dict({k: 0 for k in COUNTED_DEFAULTS}, instances=0, vcpus=0,
                               ram_mib=0, disk_gib=0)}

    assert_problem(admin.post("/v1/projects", {"name": "web"}), 409, "already exists")
    r = admin.post("/v1/projects", {"name": "nodesc"})
    assert r.status_code == 201 and r.json()["description"] == ""

    r = admin.delete("/v1/projects/web")
    assert r.status_code == 204, r.text
    assert_problem(admin.get("/v1/projects/web"), 404)
    assert_problem(admin.get("/v1/projects/" + p["id"]), 404)
    assert_problem(admin.delete("/v1/projects/web"), 404)
    assert names(all_of(admin, "/v1/projects", "projects")) == first + ["nodesc"]


def test_project_bad_input_changes_nothing(nubod, admin):
    before = all_of(admin, "/v1/projects", "projects")
    js = {"Content-Type": "application/json"}
    bad = [
        ({}, "'name' must be given"),
        ({"name": None}, "'name' must be a string"),
        ({"name": 42}, "'name' must be a string"),
        ({"name": ["a"]}, "'name' must be a string"),
        ({"name": ""}, "must not be empty"),
        ({"name": "p" * 64}, "the limit is 63"),
        ({"name": "a/b"}, "forbidden character"),
        ({"name": "a b"}, "forbidden character"),
        ({"name": ".hidden"}, "must start with"),
        ({"name": str(uuid.uuid4())}, "must not look like an id"),
        ({"name": "ok", "description": 5}, "'description' must be a string"),
        ({"name": "ok", "description": "d" * 256}, "longer than 255"),
        ({"name": "ok", "description": "two\nlines"}, "control characters"),
        ({"name": "ok", "quota": {}}, "unknown field 'quota'"),
    ]
    for body, detail in bad:
        assert_problem(admin.post("/v1/projects", body), 400, detail)
    assert_problem(admin.post("/v1/projects", data='{"name": "ok",', headers=js), 400,
                   "not valid JSON")
    assert_problem(admin.post("/v1/projects", data='{"name": "a", "name": "b"}', headers=js),
                   400)
    assert_problem(admin.post("/v1/projects", data="", headers=js), 400, "needs a JSON object")
    assert_problem(admin.post("/v1/projects", data='"ok"', headers=js), 400)
    assert_problem(admin.post("/v1/projects", data="name=ok",
                              headers={"Content-Type": "application/x-www-form-urlencoded"}),
                   415)
    # A description of 255 characters (not bytes) is fine.
    r = admin.post("/v1/projects", {"name": "long-desc", "description": "é" * 255})
    assert r.status_code == 201, r.text
    assert admin.delete("/v1/projects/long-desc").status_code == 204
    assert all_of(admin, "/v1/projects", "projects") == before


def test_huge_body_is_413_and_changes_nothing(nubod, admin):
    before = all_of(admin, "/v1/projects", "projects")
    body = '{"name": "huge", "description": "%s"}' % ("x" * (1024 * 1024 + 16))
    try:
        r = admin.post("/v1/projects", data=body, headers={"Content-Type": "application/json"})
    except requests.ConnectionError:
        pytest.fail("the server dropped the connection instead of answering 413")
    assert_problem(r, 413)
    assert all_of(admin, "/v1/projects", "projects") == before


def test_bad_ids_are_404(nubod, admin):
    for path in ("/v1/projects/" + str(uuid.uuid4()), "/v1/projects/nope",
                 "/v1/projects/bad%20id", "/v1/projects/" + "x" * 90,
                 "/v1/projects/a%2Fb/quota", "/v1/projects/nope/members",
                 "/v1/users/" + str(uuid.uuid4()), "/v1/users/no%24user"):
        assert_problem(admin.get(path), 404)
    assert_problem(admin.put("/v1/projects/nope/quota", {"instances": 1}), 404)
    assert_problem(admin.put("/v1/projects/demo/members/nobody", {"role": "member"}), 404,
                   "no user 'nobody'")
    assert_problem(admin.put("/v1/projects/nope/members/admin", {"role": "member"}), 404,
                   "no project 'nope'")
    r = admin.req("PATCH", "/v1/projects/demo", json={})
    assert_problem(r, 405)
    assert "GET" in r.headers["Allow"] and "DELETE" in r.headers["Allow"]


def test_project_paging(nubod, admin):
    for i in range(5):
        assert admin.post("/v1/projects", {"name": "pg-%d" % i}).status_code == 201
    seen, marker = [], None
    while True:
        r = admin.get("/v1/projects?limit=2" + ("&marker=" + marker if marker else ""))
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["projects"]) <= 2
        seen += names(page["projects"])
        marker = page["next_marker"]
        if marker is None:
            break
        assert marker == page["projects"][-1]["id"]
    assert sorted(seen[:2]) == ["admin", "demo"]
    assert seen[2:] == ["pg-%d" % i for i in range(5)]
    for q in ("limit=0", "limit=1001", "limit=x", "marker=" + str(uuid.uuid4()),
              "marker=bad%20marker"):
        assert_problem(admin.get("/v1/projects?" + q), 400)


def test_project_create_idempotency_key(nubod, admin):
    h = {"Idempotency-Key": "create-proj-1"}
    r1 = admin.post("/v1/projects", {"name": "idem"}, headers=h)
    assert r1.status_code == 201, r1.text
    r2 = admin.post("/v1/projects", {"name": "idem"}, headers=h)
    assert r2.status_code == 201 and r2.json() == r1.json()
    assert r2.headers.get("Idempotent-Replayed") == "true"
    assert_problem(admin.post("/v1/projects", {"name": "idem2"}, headers=h), 409)
    assert names(all_of(admin, "/v1/projects", "projects")).count("idem") == 1
    assert "idem2" not in names(all_of(admin, "/v1/projects", "projects"))


def test_concurrent_creates_of_one_name(nubod, admin):
    results = []

    def create(path, body):
        c = Client(nubod.base, admin.token)
        results.append((path, c.post(path, body).status_code))
    threads = [threading.Thread(target=create, args=a) for a in
               [("/v1/projects", {"name": "race"})] * 8 +
               [("/v1/users", {"name": "racer", "password": PW})] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for path in ("/v1/projects", "/v1/users"):
        codes = sorted(code for p, code in results if p == path)
        assert codes.count(201) == 1 and set(codes) == {201, 409}, (path, codes)
    assert names(all_of(admin, "/v1/projects", "projects")).count("race") == 1
    assert names(all_of(admin, "/v1/users", "users")).count("racer") == 1


def test_project_delete_with_live_instances_is_409(nubod, admin):
    p = admin.post("/v1/projects", {"name": "busy"}).json()
    iid = add_instance(nubod, p["id"], status="running")
    gone = add_instance(nubod, p["id"], status="deleted")
    assert_problem(admin.delete("/v1/projects/busy"), 409, "still has 1 instance")
    assert admin.get("/v1/projects/busy").status_code == 200
    set_instance_status(nubod, iid, "deleting")
    assert_problem(admin.delete("/v1/projects/busy"), 409)
    set_instance_status(nubod, iid, "deleted")
    r = admin.delete("/v1/projects/busy")
    assert r.status_code == 204, r.text
    assert_problem(admin.get("/v1/projects/busy"), 404)
    with db(nubod) as c:
        assert c.execute("SELECT COUNT(*) FROM instances WHERE id IN (?, ?)",
                         (iid, gone)).fetchone()[0] == 0


# ---------------------------------------------------------------- tenancy


def test_tenancy_other_project_is_404(nubod, admin):
    a = make_tenant(nubod, admin, role="member")
    b = make_tenant(nubod, admin, role="member")
    pa = a.get("/v1/projects/" + a.project).json()
    assert pa["role"] == "member" and pa["name"] == a.project

    listed = all_of(b, "/v1/projects", "projects")
    assert names(listed) == [b.project] and listed[0]["role"] == "member"

    missing = "/v1/projects/" + str(uuid.uuid4())
    for sub in ("", "/quota", "/members"):
        for ref in (a.project, pa["id"]):
            p = assert_problem(b.get("/v1/projects/" + ref + sub), 404)
            assert p["detail"] == "no project '%s'" % ref
        assert_problem(b.get(missing + sub), 404)
    # Paging cannot be used to probe either.
    assert_problem(b.get("/v1/projects?marker=" + pa["id"]), 400)
    # Users of other projects are invisible too.
    ua = admin.get("/v1/users/" + a.user).json()
    assert_problem(b.get("/v1/users/" + a.user), 404)
    assert_problem(b.get("/v1/users/" + ua["id"]), 404)
    assert_problem(b.patch("/v1/users/" + a.user, {"password": "hijacked-pass"}), 404)


def test_admin_only_routes_are_403_for_members_and_readers(nubod, admin):
    for role in ("member", "reader"):
        c = make_tenant(nubod, admin, role=role)
        uid_ = admin.get("/v1/users/" + c.user).json()["id"]
        before_projects = all_of(admin, "/v1/projects", "projects")
        before_users = all_of(admin, "/v1/users", "users")
        calls = [
            ("POST", "/v1/projects", {"name": "nope-" + uid()}),
            ("DELETE", "/v1/projects/" + c.project, None),
            ("DELETE", "/v1/projects/demo", None),
            ("PUT", "/v1/projects/%s/quota" % c.project, {"instances": 1000}),
            ("PUT", "/v1/projects/%s/members/%s" % (c.project, c.user), {"role": "admin"}),
            ("DELETE", "/v1/projects/%s/members/%s" % (c.project, c.user), None),
            ("GET", "/v1/users", None),
            ("POST", "/v1/users", {"name": "nope-" + uid(), "password": PW}),
            ("DELETE", "/v1/users/" + uid_, None),
            ("DELETE", "/v1/users/admin", None),
            ("GET", "/v1/audit", None),
        ]
        for method, path, body in calls:
            assert_problem(c.req(method, path, json=body), 403)
        # Changing their own account beyond the password is forbidden too.
        assert_problem(c.patch("/v1/users/" + c.user, {"email": "x@example.org"}), 403)
        assert_problem(c.patch("/v1/users/" + c.user, {"disabled": False}), 403)
        assert all_of(admin, "/v1/projects", "projects") == before_projects
        assert all_of(admin, "/v1/users", "users") == before_users
        q = c.get("/v1/projects/%s/quota" % c.project).json()
        assert q["limits"]["instances"] == 20
        assert c.get("/v1/auth/whoami").json()["role"] == role
        m = all_of(c, "/v1/projects/%s/members" % c.project, "members")
        assert m == [{"user_id": uid_, "user_name": c.user, "role": role}]


def test_missing_token_is_401(nubod):
    anon = Client(nubod.base)
    for method, path in (("GET", "/v1/projects"), ("POST", "/v1/projects"),
                         ("GET", "/v1/users"), ("GET", "/v1/auth/apikeys"),
                         ("GET", "/v1/audit"), ("PATCH", "/v1/users/admin")):
        assert_problem(anon.req(method, path, json={}), 401)


# ---------------------------------------------------------------- quotas

# The default limits of everything but instances (tests/api/test_hardening.py
# tests that each is enforced).
COUNTED_DEFAULTS = {"networks": 10, "subnets": 20, "ports": 100, "security_groups": 20,
                    "security_group_rules": 200, "floating_ips": 5, "alarms": 50,
                    "launch_templates": 20, "scaling_groups": 10, "stacks": 20,
                    "api_keys": 20, "images": 20, "image_gib": 50, "keypairs": 50,
                    "server_groups": 10, "scaling_policies": 50, "scheduled_actions": 50,
                    "volumes": 10, "volume_gib": 1000, "snapshots": 10}


def test_quota_update_and_usage(nubod, admin):
    p = admin.post("/v1/projects", {"name": "q"}).json()
    r = admin.put("/v1/projects/q/quota", {"instances": 3, "vcpus": 0})
    assert r.status_code == 200, r.text
    assert r.json()["limits"] == dict(COUNTED_DEFAULTS, instances=3, vcpus=0, ram_mib=65536,
                                      disk_gib=1000)
    r = admin.put("/v1/projects/%s/quota" % p["id"],
                  {"instances": 1000000000, "vcpus": 8, "ram_mib": 4096, "disk_gib": 50})
    assert r.status_code == 200, r.text
    limits = dict(COUNTED_DEFAULTS, instances=1000000000, vcpus=8, ram_mib=4096, disk_gib=50)
    assert r.json()["limits"] == limits
    assert admin.put("/v1/projects/q/quota", {}).json()["limits"] == limits

    add_instance(nubod, p["id"], vcpus=2, ram=1024, disk=10)
    add_instance(nubod, p["id"], vcpus=4, ram=2048, disk=20, status="stopped")
    add_instance(nubod, p["id"], vcpus=8, ram=8192, disk=80, status="deleted")
    q = admin.get("/v1/projects/q/quota").json()
    assert q["usage"] == dict({k: 0 for k in COUNTED_DEFAULTS}, instances=2, vcpus=6,
                              ram_mib=3072, disk_gib=30)

    bad = [
        ({"instances": -1}, "0 to 1000000000"),
        ({"vcpus": 1000000001}, "0 to 1000000000"),
        ({"ram_mib": "10"}, "'ram_mib' must be"),
        ({"disk_gib": 1.5}, "'disk_gib' must be"),
        ({"instances": True}, "'instances' must be"),
        ({"instances": None}, "'instances' must be"),
        ({"instances": 5, "cores": 5}, "unknown field 'cores'"),
        ({"instances": 5, "vcpus": -5}, "vcpus"),
    ]
    for body, detail in bad:
        assert_problem(admin.put("/v1/projects/q/quota", body), 400, detail)
    assert_problem(admin.put("/v1/projects/q/quota", data="[]",
                             headers={"Content-Type": "application/json"}), 400)
    assert admin.get("/v1/projects/q/quota").json()["limits"] == limits


# --------------------------------------------------------------- members


def test_members(nubod, admin):
    p = admin.post("/v1/projects", {"name": "team"}).json()
    u = admin.post("/v1/users", {"name": "alice", "password": PW}).json()
    admin.post("/v1/users", {"name": "bob", "password": PW})

    r = admin.put("/v1/projects/team/members/alice", {"role": "reader"})
    assert r.status_code == 200, r.text
    assert r.json() == {"user_id": u["id"], "user_name": "alice", "project_id": p["id"],
                        "role": "reader"}
    alice = nubod.login("alice", PW, "team")
    assert alice.get("/v1/auth/whoami").json()["role"] == "reader"

    # By ids too; a change applies to existing tokens at once.
    r = admin.put("/v1/projects/%s/members/%s" % (p["id"], u["id"]), {"role": "member"})
    assert r.status_code == 200 and r.json()["role"] == "member"
    assert alice.get("/v1/auth/whoami").json()["role"] == "member"
    assert admin.put("/v1/projects/team/members/bob", {"role": "admin"}).status_code == 200

    m = all_of(alice, "/v1/projects/team/members", "members")
    assert [(x["user_name"], x["role"]) for x in m] == [("alice", "member"), ("bob", "admin")]
    r = admin.get("/v1/projects/team/members?limit=1")
    assert r.status_code == 200
    assert r.json()["next_marker"] == u["id"] and len(r.json()["members"]) == 1
    r = admin.get("/v1/projects/team/members?limit=1&marker=" + u["id"])
    assert names(r.json()["members"], "user_name") == ["bob"] and r.json()["next_marker"] is None

    for body, detail in (({"role": "owner"}, "admin, member or reader"), ({"role": 1}, "role"),
                         ({}, "role"), ({"role": "reader", "x": 1}, "unknown field 'x'")):
        assert_problem(admin.put("/v1/projects/team/members/alice", body), 400, detail)
    assert alice.get("/v1/auth/whoami").json()["role"] == "member"

    assert admin.delete("/v1/projects/team/members/alice").status_code == 204
    assert_problem(admin.delete("/v1/projects/team/members/alice"), 404, "has no role")
    # Alice's token stays valid but no longer sees the project.
    assert alice.get("/v1/auth/whoami").json()["role"] == "none"
    assert_problem(alice.get("/v1/projects/team"), 404)
    assert all_of(alice, "/v1/projects", "projects") == []
    assert_problem(alice.post("/v1/auth/apikeys", {"name": "k"}), 403, "no role")
    assert names(all_of(admin, "/v1/projects/team/members", "members"), "user_name") == ["bob"]


def test_project_roles_never_lock_the_cloud_out(nubod, admin):
    """Cloud admin is a flag on the user (test_roles.py): the bootstrap admin
    may lose every project role and still runs the cloud, logging in to any
    project."""
    assert admin.delete("/v1/projects/demo/members/admin").status_code == 204
    assert admin.delete("/v1/projects/admin/members/admin").status_code == 204
    assert admin.get("/v1/auth/whoami").json()["is_admin"] is True
    assert admin.get("/v1/users/admin").json()["roles"] == []
    again = nubod.admin("demo")
    w = again.get("/v1/auth/whoami").json()
    assert w["project"]["name"] == "demo" and w["role"] == "admin" and w["cloud_admin"] is True
    assert nubod.admin(None).get("/v1/auth/whoami").json()["project"]["name"] == "admin"
    assert again.delete("/v1/projects/admin").status_code == 204
    assert_problem(again.patch("/v1/users/admin", {"cloud_admin": False}), 409, "cloud admin")
    assert_problem(again.patch("/v1/users/admin", {"disabled": True}), 403)
    assert again.get("/v1/hosts").status_code == 200


# ----------------------------------------------------------------- users


def test_users_lifecycle(nubod, admin):
    r = admin.post("/v1/users", {"name": "carol", "password": PW, "email": "carol@example.org"})
    assert r.status_code == 201, r.text
    u = r.json()
    assert set(u) == {"id", "name", "email", "disabled", "cloud_admin", "created_at"}
    assert u["cloud_admin"] is False
    assert u["name"] == "carol" and u["email"] == "carol@example.org" and u["disabled"] is False
    assert_problem(admin.post("/v1/users", {"name": "carol", "password": PW}), 409)

    users = all_of(admin, "/v1/users", "users")
    assert names(users) == ["admin", "carol"]
    assert all("password_hash" not in x and "password" not in x for x in users)

    admin.put("/v1/projects/demo/members/carol", {"role": "member"})
    carol = nubod.login("carol", PW, "demo")
    for ref in ("carol", u["id"]):
        me = carol.get("/v1/users/" + ref)
        assert me.status_code == 200, me.text
        assert me.json()["roles"] == [{"project_id": me.json()["roles"][0]["project_id"],
                                       "project_name": "demo", "role": "member"}]
    assert_problem(carol.get("/v1/users/admin"), 404)
    a = admin.get("/v1/users/admin").json()
    assert sorted(x["project_name"] for x in a["roles"]) == ["admin", "demo"]

    # Admin changes email and disables: the user's tokens stop working.
    r = admin.patch("/v1/users/carol", {"email": "c@example.net", "disabled": True})
    assert r.status_code == 200 and r.json()["email"] == "c@example.net"
    assert r.json()["disabled"] is True
    assert_problem(carol.get("/v1/auth/whoami"), 401)
    assert_problem(requests.post(nubod.base + "/v1/auth/tokens",
                                 json={"user": "carol", "password": PW}), 401)
    assert admin.patch("/v1/users/carol", {"disabled": False}).json()["disabled"] is False
    assert carol.get("/v1/auth/whoami").status_code == 200
    assert admin.patch("/v1/users/carol", {"email": ""}).json()["email"] == ""

    assert_problem(admin.delete("/v1/users/admin"), 403, "yourself")
    assert_problem(admin.patch("/v1/users/admin", {"disabled": True}), 403, "yourself")
    r = admin.delete("/v1/users/carol")
    assert r.status_code == 204, r.text
    assert_problem(carol.get("/v1/auth/whoami"), 401)
    assert_problem(admin.get("/v1/users/carol"), 404)
    assert_problem(admin.delete("/v1/users/carol"), 404)
    assert names(all_of(admin, "/v1/users", "users")) == ["admin"]
    assert admin.get("/v1/projects/demo/members").json()["members"][0]["user_name"] == "admin"


def test_password_change(nubod, admin):
    m = make_tenant(nubod, admin)
    other_session = nubod.login(m.user, PW, m.project)
    key = m.post("/v1/auth/apikeys", {"name": "k"}).json()["key"]
    r = m.patch("/v1/users/" + m.user, {"password": "a-new-password", "current_password": PW})
    assert r.status_code == 200, r.text
    assert "password" not in r.json() and "password_hash" not in r.json()
    # The old password no longer works, the new one does.
    assert_problem(requests.post(nubod.base + "/v1/auth/tokens",
                                 json={"user": m.user, "password": PW}), 401)
    nubod.login(m.user, "a-new-password", m.project)
    # The caller's session goes on; other sessions end; API keys stay.
    assert m.get("/v1/auth/whoami").status_code == 200
    assert_problem(other_session.get("/v1/auth/whoami"), 401)
    assert Client(nubod.base, key).get("/v1/auth/whoami").status_code == 200

    # An admin may set anybody's password.
    assert admin.patch("/v1/users/" + m.user, {"password": "admin-set-pass"}).status_code == 200
    nubod.login(m.user, "admin-set-pass")
    assert_problem(m.get("/v1/auth/whoami"), 401)


def test_user_bad_input_changes_nothing(nubod, admin):
    before = all_of(admin, "/v1/users", "users")
    bad = [
        ({"name": "dave"}, "'password' must be given"),
        ({"password": PW}, "'name' must be given"),
        ({"name": "dave", "password": "short12"}, "8 to 256"),
        ({"name": "dave", "password": "p" * 257}, "8 to 256"),
        ({"name": "dave", "password": 12345678}, "'password' must be a string"),
        ({"name": "d" * 64, "password": PW}, "the limit is 63"),
        ({"name": "da ve", "password": PW}, "forbidden character"),
        ({"name": str(uuid.uuid4()), "password": PW}, "must not look like an id"),
        ({"name": "dave", "password": PW, "email": "no-at-sign"}, "name@example.org"),
        ({"name": "dave", "password": PW, "email": "a@b@c"}, "name@example.org"),
        ({"name": "dave", "password": PW, "email": "a b@c"}, "spaces"),
        ({"name": "dave", "password": PW, "email": "a@" + "b" * 260}, "longer than 254"),
        ({"name": "dave", "password": PW, "email": 7}, "'email' must be a string"),
        ({"name": "dave", "password": PW, "role": "admin"}, "unknown field 'role'"),
    ]
    for body, detail in bad:
        assert_problem(admin.post("/v1/users", body), 400, detail)
    # 8 characters of two bytes each: a valid password.
    r = admin.post("/v1/users", {"name": "erin", "password": "é" * 8})
    assert r.status_code == 201, r.text
    assert admin.put("/v1/projects/demo/members/erin", {"role": "reader"}).status_code == 200
    nubod.login("erin", "é" * 8)
    for body, detail in (({"password": "short"}, "8 to 256"), ({"disabled": "yes"}, "true or false"),
                         ({"disabled": 1}, "true or false"), ({"email": "x"}, "name@example.org"),
                         ({"email": None}, "'email' must be a string"),
                         ({"name": "renamed"}, "unknown field 'name'")):
        assert_problem(admin.patch("/v1/users/erin", body), 400, detail)
    # A failed PATCH changes nothing, not even the valid part of it.
    assert_problem(admin.patch("/v1/users/erin", {"email": "ok@example.org", "password": "x"}),
                   400)
    after = all_of(admin, "/v1/users", "users")
    assert [x for x in after if x["name"] != "erin"] == before
    erin = [x for x in after if x["name"] == "erin"][0]
    assert erin["email"] == "" and erin["disabled"] is False


# ----------------------------------------------------------------- audit


def test_audit_log(nubod, admin):
    m = make_tenant(nubod, admin, role="member")
    assert_problem(m.post("/v1/projects", {"name": "sneaky"}), 403)
    assert_problem(admin.post("/v1/projects", {"name": "bad name"}), 400)
    k = m.post("/v1/auth/apikeys", {"name": "k"}).json()
    assert_problem(m.get("/v1/audit"), 403)

    recs = all_of(admin, "/v1/audit?limit=1000", "audit")
    assert recs, "no audit records"
    keys = {"id", "at", "request_id", "user_id", "user_name", "project_id", "method", "path",
            "action", "target", "status", "result"}
    assert all(set(r) == keys for r in recs)
    actions = [r["action"] for r in recs]
    for a in ("project.create", "user.create", "member.set", "apikey.create", "auth.login"):
        assert a in actions, (a, actions)
    # Reads are not audited.
    assert all(r["method"] != "GET" for r in recs)

    admin_id = admin.get("/v1/auth/whoami").json()["user"]["id"]
    proj = admin.get("/v1/projects/" + m.project).json()
    created = [r for r in recs if r["action"] == "project.create" and r["status"] == 201]
    assert created[0]["user_name"] == "admin" and created[0]["user_id"] == admin_id
    assert created[0]["target"] == proj["id"] and created[0]["result"] == "success"
    assert created[0]["method"] == "POST" and created[0]["path"] == "/v1/projects"

    denied = [r for r in recs if r["result"] == "denied"]
    assert len(denied) == 1 and denied[0]["status"] == 403
    assert denied[0]["user_name"] == m.user and denied[0]["project_id"] == proj["id"]
    failed = [r for r in recs if r["result"] == "failure"]
    assert [(r["action"], r["status"], r["target"]) for r in failed] == [
        ("project.create", 400, "bad name")]
    ak = [r for r in recs if r["action"] == "apikey.create"][0]
    assert ak["target"] == k["id"] and ak["user_name"] == m.user

    # Filters.
    def audit(q):
        r = admin.get("/v1/audit?" + q)
        assert r.status_code == 200, r.text
        return r.json()["audit"]
    assert [r["id"] for r in audit("result=denied")] == [denied[0]["id"]]
    assert all(r["action"] == "member.set" for r in audit("action=member.set"))
    assert len(audit("action=member.set")) == 1
    assert {r["user_name"] for r in audit("user=" + m.user)} == {m.user}
    assert audit("user=" + m.user) == audit("user=" + denied[0]["user_id"])
    assert {r["project_id"] for r in audit("project=" + m.project)} == {proj["id"]}
    assert audit("project=" + m.project) == audit("project=" + proj["id"])
    assert audit("action=project.create&result=failure") == failed
    assert audit("user=nobody") == []

    # Paging in creation order.
    seen, marker = [], None
    while True:
        r = admin.get("/v1/audit?limit=2" + ("&marker=" + marker if marker else "")).json()
        seen += r["audit"]
        marker = r["next_marker"]
        if marker is None:
            break
    assert [r["id"] for r in seen] == [r["id"] for r in recs]
    assert [r["at"] for r in seen] == sorted(r["at"] for r in seen)

    for q in ("result=maybe", "limit=0", "user=a%20b", "marker=" + str(uuid.uuid4()),
              "action=" + "a" * 64):
        assert_problem(admin.get("/v1/audit?" + q), 400)


# ---------------------------------------------------------------- expiry


@pytest.fixture
def clocked(tmp_path, monkeypatch):
    """A nubod whose wall clock is read from a file the test writes."""
    clock = tmp_path / "clock"
    now = int(time.time() * 1000)
    clock.write_text("%d\n" % now)
    monkeypatch.setenv("NUBO_FAKE_CLOCK_FILE", str(clock))
    n = Nubod(str(tmp_path)).start()

    def set_ms(ms):
        clock.write_text("%d\n" % ms)
    n.now = now
    n.set_clock = set_ms
    yield n
    rc = n.stop()
    assert rc == 0, "nubod exited with %d:\n%s" % (rc, n.log())


def test_session_and_apikey_expiry(clocked):
    admin = clocked.admin()
    session = clocked.admin()
    k = admin.post("/v1/auth/apikeys", {"name": "k", "expires_in_days": 1}).json()
    key = Client(clocked.base, k["key"])
    hour = 3600 * 1000

    clocked.set_clock(clocked.now + 11 * hour)
    assert session.get("/v1/auth/whoami").status_code == 200
    assert key.get("/v1/auth/whoami").status_code == 200

    clocked.set_clock(clocked.now + 12 * hour + 1000)
    assert_problem(session.get("/v1/auth/whoami"), 401, "expired")
    assert key.get("/v1/auth/whoami").status_code == 200

    clocked.set_clock(clocked.now + 24 * hour + 1000)
    assert_problem(key.get("/v1/auth/whoami"), 401, "expired")
    fresh = clocked.admin()
    assert fresh.get("/v1/auth/whoami").status_code == 200
    assert all_of(fresh, "/v1/auth/apikeys", "apikeys")[0]["revoked"] is False
