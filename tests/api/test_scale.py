"""Autoscaling: launch templates, scaling groups, policies, scheduled
actions, health replacement, rolling replacement, quotas and back-off.

nubod runs on a fake clock (NUBO_FAKE_CLOCK_FILE) and the test plays the
host agent: a host registered by hand (its address answers nothing, so
instances stay `building` unless the test moves them) posts CPU samples for
the group's instances to POST /v1/hosts/{id}/metrics, so every number the
policies see is known.  The scale pass runs after every reconcile pass
(--reconcile-ms 500 in tests) and reads clock_now_ms(), so the tests move
the clock and wait for the pass with `settle()`.
"""
import os
import subprocess
import time
import uuid

import pytest

from conftest import Client, Nubod, assert_problem, db_connect, make_tenant
from test_monitor import DAY, MIN, T0, FakeClock, Host, iso, vm, wait_for

SEC = 1000


def settle():
    """Long enough for several scale passes (each after a 500 ms reconcile)."""
    time.sleep(1.6)


def db(nubod):
    return db_connect(nubod)


@pytest.fixture
def sc(tmp_path, monkeypatch):
    """nubod on a fake clock at T0, a host played by the test (never down:
    liveness is on the monotonic clock, so nubod waits an hour of real
    silence), a flavor, a public image, a member of a new project with an
    API key, and a launch template."""
    clock = FakeClock(str(tmp_path / "clock"), T0)
    monkeypatch.setenv("NUBO_FAKE_CLOCK_FILE", clock.path)
    nubod = Nubod(str(tmp_path), extra=["--host-down-ms", "3600000"]).start()
    try:
        admin = nubod.admin()
        r = admin.post("/v1/auth/apikeys", {"name": "tests", "expires_in_days": 3650})
        assert r.status_code == 201, r.text
        admin = Client(nubod.base, r.json()["key"])
        host = Host(nubod, "scale-host")
        with db(nubod) as c:
            c.execute("UPDATE hosts SET last_heartbeat_ms = ? WHERE id = ?",
                      (T0 + 3650 * DAY, host.id))
        r = admin.post("/v1/flavors", {"name": "small", "vcpus": 1, "ram_mib": 64,
                                       "disk_gib": 1})
        assert r.status_code == 201, r.text
        r = admin.post("/v1/images", {"name": "disk", "visibility": "public"})
        assert r.status_code == 201, r.text
        image = r.json()["id"]
        disk = str(tmp_path / "disk.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "64M"], check=True)
        with open(disk, "rb") as f:
            r = admin.req("PUT", "/v1/images/%s/file" % image, data=f.read(),
                          headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 200, r.text
        member = make_tenant(nubod, admin, "member")
        project = member.project
        r = member.post("/v1/auth/apikeys", {"name": "tests", "expires_in_days": 3650})
        assert r.status_code == 201, r.text
        member = Client(nubod.base, r.json()["key"])
        member.project = project
        r = member.post("/v1/launch-templates", {"name": "web", "flavor": "small",
                                                 "image": image, "user_data": "#!/bin/sh\n"})
        assert r.status_code == 201, r.text
        yield {"nubod": nubod, "clock": clock, "admin": admin, "host": host,
               "member": member, "image": image, "template": r.json()["id"],
               "tmp": str(tmp_path)}
    finally:
        if nubod.proc is not None:
            rc = nubod.stop()
            assert rc == 0, "nubod exited with %d:\n%s" % (rc, nubod.log())


def group(c, name="g", **kw):
    body = {"name": name, "template": "web", "min_size": 1, "max_size": 5}
    body.update(kw)
    r = c.post("/v1/scaling-groups", body)
    assert r.status_code == 201, r.text
    return r.json()


def show(c, gid):
    r = c.get("/v1/scaling-groups/" + gid)
    assert r.status_code == 200, r.text
    return r.json()


def in_service(c, gid):
    return [m for m in show(c, gid)["instances"] if m["state"] == "in_service"]


def wait_size(c, gid, n, timeout=15):
    return wait_for("group size %d" % n,
                    lambda: (lambda g: g if g["size"] == n else None)(show(c, gid)),
                    timeout=timeout)


def activities(c, gid):
    r = c.get("/v1/scaling-groups/%s/activities?limit=1000" % gid)
    assert r.status_code == 200, r.text
    return r.json()["activities"]


def set_status(nubod, iids, status):
    with db(nubod) as c:
        for i in iids:
            c.execute("UPDATE instances SET status = ? WHERE id = ?", (status, i))


def load(sc, gid, total):
    """Posts one round where the group's in-service instances share `total`
    percent of CPU (each capped at 100), taken now."""
    members = in_service(sc["member"], gid)
    per = min(100.0, total / len(members)) if members else 0.0
    sc["host"].sample([vm(m["id"], cpu=per) for m in members])
    return len(members)


# ------------------------------------------------------------ templates


def test_templates_versions_and_bad_input(sc):
    m, admin = sc["member"], sc["admin"]
    t = m.get("/v1/launch-templates/web").json()
    assert (t["latest_version"], t["default_version"]) == (1, 1)
    assert t["default"]["flavor"]["name"] == "small" and t["default"]["networks"] == []
    # a private image of another project is invisible: 400, nothing made
    other = make_tenant(sc["nubod"], admin, "member")
    r = other.post("/v1/images", {"name": "secret"})
    assert r.status_code == 201, r.text
    secret = r.json()["id"]
    bad = [
        ({"name": "x", "flavor": "small", "image": secret}, "image"),
        ({"name": "x", "flavor": "nope", "image": sc["image"]}, "flavor"),
        ({"name": "x", "flavor": "small", "image": sc["image"], "networks": "net"},
         "networks"),
        ({"name": "x", "flavor": "small", "image": sc["image"], "security_groups": ["a b"]},
         "security_groups"),
        ({"name": "x", "flavor": "small", "image": sc["image"], "keypair": "nokey"},
         "keypair"),
        ({"name": "bad name", "flavor": "small", "image": sc["image"]}, "name"),
    ]
    for body, word in bad:
        assert_problem(m.post("/v1/launch-templates", body), 400, word)
    assert_problem(m.post("/v1/launch-templates", {"name": "web", "flavor": "small",
                                                   "image": sc["image"]}), 409)
    assert [x["name"] for x in m.get("/v1/launch-templates").json()["launch_templates"]] == \
        ["web"]
    # versions: immutable, numbered, default moves only when asked
    for net in ("net-a", "net-b"):
        assert m.post("/v1/networks", {"name": net}).status_code == 201
    # a network or security group the project cannot see is refused
    assert_problem(m.post("/v1/launch-templates/web/versions",
                          {"flavor": "small", "image": sc["image"], "networks": ["net-zz"]}),
                   400, "networks")
    assert_problem(m.post("/v1/launch-templates/web/versions",
                          {"flavor": "small", "image": sc["image"],
                           "security_groups": ["no-such-group"]}), 400, "security_groups")
    r = m.post("/v1/launch-templates/web/versions", {"flavor": "small", "image": sc["image"],
                                                     "networks": ["net-a", "net-b"]})
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2 and r.json()["networks"] == ["net-a", "net-b"]
    assert m.get("/v1/launch-templates/web").json()["default_version"] == 1
    assert_problem(m.post("/v1/launch-templates/web/versions",
                          {"flavor": "small", "image": secret}), 400, "image")
    vs = m.get("/v1/launch-templates/web/versions?limit=1").json()
    assert [v["version"] for v in vs["versions"]] == [1] and vs["next_marker"] == "1"
    vs = m.get("/v1/launch-templates/web/versions?marker=1").json()
    assert [v["version"] for v in vs["versions"]] == [2]
    assert_problem(m.patch("/v1/launch-templates/web", {"default_version": 3}), 400)
    r = m.patch("/v1/launch-templates/web", {"default_version": 2})
    assert r.status_code == 200 and r.json()["default"]["version"] == 2
    # another project sees nothing
    assert_problem(other.get("/v1/launch-templates/web"), 404)
    assert other.get("/v1/launch-templates").json()["launch_templates"] == []


def test_group_bad_input_changes_nothing(sc):
    m = sc["member"]
    cases = [
        ({"min_size": 3, "max_size": 2}, "min_size"),
        ({"min_size": 1, "max_size": 3, "desired": 4}, "desired"),
        ({"min_size": 1, "max_size": 3, "desired": 0}, "desired"),
        ({"min_size": 0, "max_size": 51}, "max_size"),
        ({"min_size": 0, "max_size": 1, "template": "nope"}, "template"),
        ({"min_size": 0, "max_size": 1, "template_version": 9}, "template_version"),
        ({"min_size": 0, "max_size": 1, "termination_policy": "random"}, "termination"),
        ({"min_size": "1", "max_size": 1}, "min_size"),
    ]
    for kw, word in cases:
        body = {"name": "g", "template": "web"}
        body.update(kw)
        assert_problem(m.post("/v1/scaling-groups", body), 400, word)
    assert m.get("/v1/scaling-groups").json()["scaling_groups"] == []
    g = group(m, min_size=0, max_size=2)
    for patch, word in [({"min_size": 3}, "min_size"), ({"desired": 3}, "desired"),
                        ({"template_version": 5}, "template_version")]:
        assert_problem(m.patch("/v1/scaling-groups/" + g["id"], patch), 400, word)
    after = show(m, g["id"])
    assert (after["min_size"], after["max_size"], after["desired"]) == (0, 2, 0)
    # a cron that does not parse, a schedule without sizes, a bad policy
    for cron in ["* * *", "61 * * * *", "* 24 * * *", "*/0 * * * *", "5-1 * * * *",
                 "* * * 13 *", "a * * * *", "0 0 31 2 *"]:
        assert_problem(m.post("/v1/scheduled-actions", {"name": "s", "group": "g", "cron": cron,
                                                        "desired": 1}), 400, "cron")
    assert_problem(m.post("/v1/scheduled-actions", {"name": "s", "group": "g",
                                                    "cron": "* * * * *"}), 400)
    assert_problem(m.post("/v1/scaling-policies", {"name": "p", "group": "g", "kind": "target",
                                                   "target_value": 0}), 400, "target_value")
    assert_problem(m.post("/v1/scaling-policies", {"name": "p", "group": "g", "kind": "step",
                                                   "alarm": "none", "steps": [
                                                       {"lower": 0, "adjustment": 1}]}),
                   400, "alarm")
    assert m.get("/v1/scheduled-actions").json()["scheduled_actions"] == []
    assert m.get("/v1/scaling-policies").json()["scaling_policies"] == []


# ------------------------------------------------- size, health, delete


def test_group_launches_replaces_unhealthy_and_delete_deletes_instances(sc):
    m, nubod = sc["member"], sc["nubod"]
    g = group(m, min_size=2, max_size=4, health_grace_s=60)
    gid = g["id"]
    g = wait_size(m, gid, 2)
    iids = [x["id"] for x in g["instances"]]
    # ordinary instances of the project, named after the group, counted
    insts = m.get("/v1/instances").json()["instances"]
    assert sorted(i["id"] for i in insts) == sorted(iids)
    assert all(i["name"].startswith("g-") for i in insts)
    usage = sc["admin"].get("/v1/projects/%s/quota" % m.project).json()["usage"]
    assert usage["instances"] == 2
    # an instance in error, or unknown (its host is down), is replaced, but
    # only after the grace period
    for status in ("error", "unknown"):
        iids = [x["id"] for x in in_service(m, gid)]
        sc["clock"].advance(61 * SEC)  # the instances are past their grace
        set_status(nubod, [iids[0]], status)
        wait_for("replacement of the %s instance" % status,
                 lambda: iids[0] not in [x["id"] for x in in_service(m, gid)]
                 and len(in_service(m, gid)) == 2)
        acts = activities(m, gid)
        assert any(a["kind"] == "terminate" and a["instance_id"] == iids[0]
                   and a["cause"] == "unhealthy: instance is " + status for a in acts), acts
    # a new instance in error within its grace is left alone
    young = [x["id"] for x in in_service(m, gid)][-1]
    set_status(nubod, [young], "error")
    settle()
    assert young in [x["id"] for x in in_service(m, gid)]
    sc["clock"].advance(61 * SEC)
    wait_for("replacement after the grace",
             lambda: young not in [x["id"] for x in in_service(m, gid)]
             and len(in_service(m, gid)) == 2)
    # an instance deleted by hand is replaced too
    victim = in_service(m, gid)[0]["id"]
    assert m.delete("/v1/instances/" + victim).status_code == 202
    wait_for("replacement of a deleted instance",
             lambda: victim not in [x["id"] for x in in_service(m, gid)]
             and len(in_service(m, gid)) == 2)
    # desired within bounds; set-desired launches
    r = m.patch("/v1/scaling-groups/" + gid, {"desired": 3})
    assert r.status_code == 200, r.text
    wait_size(m, gid, 3)
    # deleting the group deletes its instances
    live = [x["id"] for x in in_service(m, gid)]
    assert m.delete("/v1/scaling-groups/" + gid).status_code == 204
    assert_problem(m.get("/v1/scaling-groups/" + gid), 404)
    for iid in live:
        assert m.get("/v1/instances/" + iid).json()["status"] in ("deleting", "deleted")
    settle()
    with db(nubod) as c:
        assert c.execute("SELECT COUNT(*) FROM scale_members").fetchone()[0] == 0
        assert c.execute("SELECT COUNT(*) FROM instances WHERE desired <> 'deleted'"
                         ).fetchone()[0] == 0


def test_tenancy(sc):
    m, admin = sc["member"], sc["admin"]
    g = group(m, min_size=0, max_size=1)
    other = make_tenant(sc["nubod"], admin, "member")
    reader = make_tenant(sc["nubod"], admin, "reader", project=m.project)
    assert_problem(other.get("/v1/scaling-groups/" + g["id"]), 404)
    assert_problem(other.delete("/v1/scaling-groups/" + g["id"]), 404)
    assert_problem(other.post("/v1/scaling-groups", {"name": "x", "template": sc["template"],
                                                     "min_size": 0, "max_size": 1}), 400,
                   "template")
    assert reader.get("/v1/scaling-groups/" + g["id"]).status_code == 200
    assert_problem(reader.patch("/v1/scaling-groups/" + g["id"], {"desired": 1}), 403)
    assert show(m, g["id"])["desired"] == 0


# --------------------------------------------------------------- scale-in


def test_scale_in_never_below_min_nor_protected(sc):
    m, nubod = sc["member"], sc["nubod"]
    g = group(m, min_size=1, max_size=4, desired=3, termination_policy="oldest-first")
    gid = g["id"]
    members = wait_size(m, gid, 3)["instances"]
    old, mid, new = [x["id"] for x in members]
    for iid in (old, mid):
        r = m.put("/v1/scaling-groups/%s/instances/%s/protection" % (gid, iid),
                  {"protected": True})
        assert r.status_code == 200 and r.json()["protected"] is True, r.text
    assert_problem(m.put("/v1/scaling-groups/%s/instances/%s/protection" % (gid, str(uuid.uuid4())),
                         {"protected": True}), 404)
    assert_problem(m.patch("/v1/scaling-groups/" + gid, {"desired": 0}), 400, "desired")
    r = m.patch("/v1/scaling-groups/" + gid, {"desired": 1})
    assert r.status_code == 200, r.text
    settle()
    g = show(m, gid)
    # only the unprotected one went; the group says why it stays at 2
    assert sorted(x["id"] for x in in_service(m, gid)) == sorted([old, mid])
    assert "protected" in g["blocked"]
    assert any(a["kind"] == "blocked" for a in activities(m, gid))
    # unprotect the newest of the two: oldest-first still keeps protected "old"
    m.put("/v1/scaling-groups/%s/instances/%s/protection" % (gid, mid), {"protected": False})
    wait_for("scale-in to 1", lambda: [x["id"] for x in in_service(m, gid)] == [old])
    settle()
    assert [x["id"] for x in in_service(m, gid)] == [old]  # never below min
    assert show(m, gid)["blocked"] == ""


# ------------------------------------------------------- target tracking


def test_target_tracking_converges_without_oscillating(sc):
    m, clock = sc["member"], sc["clock"]
    g = group(m, min_size=1, max_size=8)
    gid = g["id"]
    wait_size(m, gid, 1)
    r = m.post("/v1/scaling-policies", {"name": "cpu50", "group": gid, "kind": "target",
                                        "target_value": 50, "warmup_s": 0, "window_s": 60,
                                        "scale_out_cooldown_s": 60,
                                        "scale_in_cooldown_s": 300})
    assert r.status_code == 201, r.text
    sizes = []
    # 250 % of CPU in all: 5 instances at 50 % each is the answer
    for _ in range(10):
        clock.advance(61 * SEC)
        load(sc, gid, 250)
        settle()
        sizes.append(show(m, gid)["desired"])
        wait_size(m, gid, sizes[-1])
    assert sizes[:3] == [2, 4, 5], sizes
    assert sizes[3:] == [5] * 7, "oscillates: %s" % sizes
    # the load drops to 60 %: scale in one at a time, each after 300 s
    sizes = []
    for _ in range(20):
        clock.advance(61 * SEC)
        load(sc, gid, 60)
        settle()
        sizes.append(show(m, gid)["desired"])
        wait_size(m, gid, sizes[-1])
    steps = [s for i, s in enumerate(sizes) if i == 0 or s != sizes[i - 1]]
    assert steps == [4, 3, 2], sizes  # 2 instances at 30 %: a third would be 60 % > 50
    assert sizes[-6:] == [2] * 6, sizes
    changes = [i for i in range(1, len(sizes)) if sizes[i] != sizes[i - 1]]
    assert all(b - a >= 5 for a, b in zip(changes, changes[1:])), sizes  # 5 x 61 s >= 300 s
    acts = [a for a in activities(m, gid) if a["kind"] == "scale" and a["policy_id"]]
    assert all("target tracking policy cpu50" in a["cause"] for a in acts)


# ---------------------------------------------------------- step policies


def test_step_policy_respects_cooldown(sc):
    m, clock, admin = sc["member"], sc["clock"], sc["admin"]
    g = group(m, min_size=1, max_size=4)
    gid = g["id"]
    wait_size(m, gid, 1)
    r = m.post("/v1/alarms", {"name": "hot", "metric": "cpu", "comparison": "gt",
                              "threshold": 70, "window_s": 60, "hook": "autoscale"})
    assert r.status_code == 201, r.text
    alarm = r.json()["id"]
    r = m.post("/v1/scaling-policies", {"name": "out", "group": gid, "kind": "step",
                                        "alarm": "hot", "cooldown_s": 120, "steps": [
                                            {"lower": 0, "upper": 20, "adjustment": 1},
                                            {"lower": 20, "upper": None, "adjustment": 2}]})
    assert r.status_code == 201, r.text
    pol = r.json()["id"]

    def alarm_state():
        return m.get("/v1/alarms/" + alarm).json()["state"]

    clock.advance(10 * SEC)
    load(sc, gid, 80)  # 80: 10 above the threshold -> +1
    wait_for("ALARM", lambda: alarm_state() == "ALARM")
    wait_for("+1", lambda: show(m, gid)["desired"] == 2)
    # still in ALARM, hotter: the cooldown holds for 120 s
    for _ in range(2):
        clock.advance(50 * SEC)
        load(sc, gid, 200)  # 100 % each: 30 above -> +2, but not yet
        settle()
        assert show(m, gid)["desired"] == 2
    clock.advance(25 * SEC)  # 125 s after the first action
    load(sc, gid, 200)
    wait_for("+2, capped at max", lambda: show(m, gid)["desired"] == 4)
    acts = [a for a in activities(m, gid) if a["policy_id"] == pol]
    assert len(acts) == 2 and all("step policy out" in a["cause"] for a in acts), acts
    # the hook ran on the alarm's change
    h = m.get("/v1/alarms/%s/history" % alarm).json()["history"]
    assert any(e["kind"] == "hook" and "autoscale" in e["detail"] for e in h), h
    # deleting the policy stops it
    assert m.delete("/v1/scaling-policies/" + pol).status_code == 204
    assert_problem(m.get("/v1/scaling-policies/" + pol), 404)


# ------------------------------------------------------ scheduled actions


def test_scheduled_action_fires_at_the_right_time(sc):
    m, clock = sc["member"], sc["clock"]
    g = group(m, min_size=0, max_size=4, desired=0)
    gid = g["id"]
    # T0 is Thursday 2026-11-26 12:00 UTC
    r = m.post("/v1/scheduled-actions", {"name": "lunch", "group": gid,
                                         "cron": "30 12 * * 1-5", "desired": 3, "min_size": 1})
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["next_run_at"] == iso(T0 + 30 * MIN) and s["last_run_at"] is None
    r = m.post("/v1/scheduled-actions", {"name": "night", "group": gid, "cron": "0 */6 * * *",
                                         "desired": 0, "min_size": 0})
    assert r.json()["next_run_at"] == iso(T0 + 6 * 60 * MIN)
    clock.set(T0 + 29 * MIN + 59 * SEC)
    settle()
    assert show(m, gid)["desired"] == 0
    clock.set(T0 + 30 * MIN)
    wait_for("the 12:30 action", lambda: show(m, gid)["desired"] == 3)
    g = wait_size(m, gid, 3)
    assert g["min_size"] == 1
    s = m.get("/v1/scheduled-actions/" + s["id"]).json()
    assert s["last_run_at"] == iso(T0 + 30 * MIN)
    assert s["next_run_at"] == iso(T0 + DAY + 30 * MIN)  # Friday
    acts = [a for a in activities(m, gid) if a["policy_id"] == s["id"]]
    assert len(acts) == 1 and "scheduled action lunch" in acts[0]["cause"]
    clock.set(T0 + 6 * 60 * MIN)
    wait_for("the 18:00 action", lambda: show(m, gid)["desired"] == 0)
    wait_size(m, gid, 0)
    # Friday 12:30 fires again; Saturday's does not exist (1-5)
    clock.set(T0 + DAY + 30 * MIN)
    wait_for("Friday's", lambda: show(m, gid)["desired"] == 3)
    s = m.get("/v1/scheduled-actions/" + s["id"]).json()
    assert s["next_run_at"] == iso(T0 + 4 * DAY + 30 * MIN)  # Monday


# --------------------------------------------------- quotas and back-off


def test_quota_hit_is_recorded_and_retried_with_backoff(sc):
    m, admin, clock = sc["member"], sc["admin"], sc["clock"]
    r = admin.put("/v1/projects/%s/quota" % m.project, {"instances": 2})
    assert r.status_code == 200, r.text
    g = group(m, min_size=0, max_size=4, desired=3)
    gid = g["id"]
    wait_size(m, gid, 2)

    def failed():
        return [a for a in activities(m, gid) if a["kind"] == "failed"]

    wait_for("a failed activity", failed)
    settle()
    f = failed()
    assert len(f) == 1 and "quota exceeded" in f[0]["cause"], f
    assert "next attempt in 10 s" in f[0]["detail"]
    assert show(m, gid)["failures"] == 1
    clock.advance(9 * SEC)
    settle()
    assert len(failed()) == 1  # no hot loop
    clock.advance(1 * SEC)
    wait_for("the second attempt", lambda: len(failed()) == 2)
    assert "next attempt in 20 s" in failed()[0]["detail"]
    clock.advance(19 * SEC)
    settle()
    assert len(failed()) == 2
    # room again: the next attempt succeeds and the back-off resets
    admin.put("/v1/projects/%s/quota" % m.project, {"instances": 10})
    clock.advance(1 * SEC)
    g = wait_size(m, gid, 3)
    assert g["failures"] == 0 and len(failed()) == 3 - 1


# ----------------------------------------------------- rolling replacement


def test_rolling_replacement_in_batches(sc):
    m, nubod = sc["member"], sc["nubod"]
    g = group(m, min_size=2, max_size=4, rolling_batch=1)
    gid = g["id"]
    old = [x["id"] for x in wait_size(m, gid, 2)["instances"]]
    set_status(nubod, old, "running")
    r = m.post("/v1/launch-templates/web/versions", {"flavor": "small", "image": sc["image"],
                                                     "user_data": "#!/bin/sh\necho v2\n",
                                                     "set_default": True})
    assert r.status_code == 201, r.text
    assert show(m, gid)["effective_version"] == 2
    # one new instance; the old ones stay until it runs
    g = wait_size(m, gid, 3)
    new = [x for x in g["instances"] if x["template_version"] == 2]
    assert len(new) == 1
    settle()
    assert len(in_service(m, gid)) == 3
    set_status(nubod, [new[0]["id"]], "running")
    # then one old one goes, and the next batch starts
    wait_for("second batch", lambda: sum(x["template_version"] == 2
                                         for x in in_service(m, gid)) == 2)
    settle()
    mem = in_service(m, gid)
    assert len(mem) == 3 and sum(x["template_version"] == 1 for x in mem) == 1
    set_status(nubod, [x["id"] for x in mem if x["template_version"] == 2], "running")
    wait_for("all on version 2",
             lambda: [x["template_version"] for x in in_service(m, gid)] == [2, 2])
    acts = activities(m, gid)
    assert sum(a["kind"] == "terminate" and "rolling" in a["cause"] for a in acts) == 2


# -------------------------------------------------------------------- CLI


def test_cli(sc, tmp_path):
    from test_cli_cloud import Cli
    cli = Cli(tmp_path / "cli")
    env = {"NUBO_URL": sc["nubod"].base, "NUBO_TOKEN": sc["member"].token}
    ud = tmp_path / "ud.sh"
    ud.write_text("#!/bin/sh\necho hello\n")
    for net in ("n1", "n2"):
        cli.json("network", "create", net, env=env)
    t = cli.json("template", "create", "cli-t", "--flavor", "small", "--image", sc["image"],
                 "--user-data-file", ud, "--network", "n1", "--network", "n2", env=env)
    assert t["default"]["user_data"] == "#!/bin/sh\necho hello\n"
    assert t["default"]["networks"] == ["n1", "n2"]
    v = cli.json("template", "add-version", "cli-t", "--flavor", "small", "--image",
                 sc["image"], env=env)
    assert v["version"] == 2
    assert "cli-t" in cli.ok("template", "list", env=env).stdout
    assert cli.json("template", "set-default", "cli-t", "2", env=env)["default_version"] == 2
    assert [x["version"] for x in cli.json("template", "versions", "cli-t",
                                                env=env)["versions"]] == [1, 2]
    g = cli.json("group", "create", "cli-g", "--template", "cli-t", "--min", "0", "--max", "3",
                 env=env)
    assert (g["min_size"], g["max_size"], g["desired"], g["effective_version"]) == (0, 3, 0, 2)
    r = cli.run("group", "create", "bad", "--template", "cli-t", "--min", "3", "--max", "1",
                env=env)
    assert r.returncode == 1 and "min_size" in r.stderr, r.stderr
    assert cli.json("group", "set-desired", "cli-g", "2", env=env)["desired"] == 2
    wait_size(sc["member"], g["id"], 2)
    out = cli.ok("group", "show", "cli-g", env=env).stdout
    assert "desired" in out and "cli-t" in out
    acts = cli.json("group", "activities", "cli-g", env=env)["activities"]
    assert sum(a["kind"] == "launch" for a in acts) == 2
    iid = show(sc["member"], g["id"])["instances"][0]["id"]
    assert cli.json("group", "protect", "cli-g", iid, "on", env=env)["protected"] is True
    p = cli.json("policy", "create", "cli-p", "--group", "cli-g", "--target", "60", env=env)
    assert p["kind"] == "target" and p["target_value"] == 60
    assert cli.run("policy", "create", "x", "--group", "cli-g", env=env).returncode == 2
    s = cli.json("schedule", "create", "cli-s", "--group", "cli-g", "--cron", "0 8 * * 1-5",
                 "--desired", "1", env=env)
    assert s["cron"] == "0 8 * * 1-5"
    r = cli.run("schedule", "create", "bad", "--group", "cli-g", "--cron", "0 8 * *",
                "--desired", "1", env=env)
    assert r.returncode == 1 and "cron" in r.stderr, r.stderr
    assert "cli-s" in cli.ok("schedule", "list", env=env).stdout
    assert "cli-p" in cli.ok("policy", "list", env=env).stdout
    cli.ok("policy", "delete", "cli-p", env=env)
    cli.ok("schedule", "delete", "cli-s", env=env)
    cli.ok("group", "delete", "cli-g", env=env)
    assert cli.json("group", "list", env=env)["scaling_groups"] == []
    cli.ok("template", "delete", "cli-t", env=env)
