"""API tests of stacks (/v1/stacks, src/stack): plan, apply, update in place
versus replace, failure modes, resume after kill -9, drift, destroy.

Hosts are rows written into the controller's database (as in
test_compute.py): instances are placed on them and stay "building" since
no agent answers, which is all a stack needs ("created" = accepted by the
API); tests that wait for ACTIVE move the status in the database.
"""
import os
import signal
import subprocess
import time
import uuid

import pytest

from conftest import BUILD, Nubod, assert_problem, make_tenant
from test_compute import add_host, db, flavor, public_image, set_status


def pubkey(tmp_path):
    path = os.path.join(str(tmp_path), "k-" + uuid.uuid4().hex[:6])
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path], check=True)
    with open(path + ".pub") as f:
        return f.read().strip()


@pytest.fixture
def env(nubod, admin, tmp_path):
    flavor(admin, "small")
    public_image(admin, tmp_path, "tiny")
    add_host(nubod, "h1", vcpus=64, ram=65536)
    m = make_tenant(nubod, admin)
    m.key = pubkey(tmp_path)
    return m


def template(key, threshold=80, group_policy="affinity", web_count=1, extra="",
             key_name="stack-key", suffix="", group=False):
    webs = "".join("""
  web%d:
    type: instance
    properties:
      name: web%d%s
      flavor: small
      image: tiny
      keypair: {ref: key}
      server_group: {ref: group}
""" % (i, i, suffix) for i in range(web_count))
    if not group:
        webs = webs.replace("      server_group: {ref: group}\n", "")
    return """
description: two web servers behind nothing yet
parameters:
  threshold:
    type: number
    default: %s
    constraints: {min: 1, max: 100}
resources:
  key:
    type: keypair
    properties: {name: %s, public_key: "%s"}
  group:
    type: server_group
    properties: {name: web-group, policy: %s}
%s
  cpu:
    type: alarm
    properties:
      name: web-cpu
      metric: cpu
      instance: {ref: web0}
      statistic: avg
      comparison: gt
      threshold: {ref: threshold}
      window_s: 60
%s
outputs:
  web0_id: {value: {ref: web0}}
  web0_status: {value: {get_attr: [web0, status]}, description: the first web server}
  key: {value: {join: ["-", [{ref: key}, {get_attr: [key, name]}]]}}
""" % (threshold, key_name, key, group_policy, webs, extra)


def wait_stack(c, sid, statuses=("complete", "failed", "rolled_back", "rollback_failed",
                                  "destroy_failed"), timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = c.get("/v1/stacks/" + sid)
        if r.status_code == 404 and "gone" in statuses:
            return None
        assert r.status_code == 200, r.text
        if r.json()["status"] in statuses:
            return r.json()
        time.sleep(0.1)
    raise AssertionError("stack %s did not finish: %s" % (sid, c.get("/v1/stacks/" + sid).text))


def actions(plan):
    return {r["name"]: r["action"] for r in plan["resources"]}


def live_instances(c):
    r = c.get("/v1/instances")
    return [i for i in r.json()["instances"] if i["status"] not in ("deleting", "deleted")]


def test_plan_apply_noop_update_replace_destroy(nubod, env):
    # (no server group membership: without an agent, deleted instances stay
    # "deleting" and would keep the group busy)
    t = template(env.key)
    r = env.post("/v1/stacks/plan", {"template": t})
    assert r.status_code == 200, r.text
    assert set(actions(r.json()).values()) == {"create"}
    assert r.json()["summary"]["create"] == 4
    assert live_instances(env) == []  # planning changes nothing

    r = env.post("/v1/stacks", {"name": "app", "template": t})
    assert r.status_code == 202, r.text
    sid = r.json()["stack"]["id"]
    s = wait_stack(env, sid)
    assert s["status"] == "complete", s
    insts = live_instances(env)
    assert [i["name"] for i in insts] == ["web0"]
    res = {x["name"]: x for x in env.get("/v1/stacks/%s/resources" % sid).json()["resources"]}
    assert res["web0"]["physical_id"] == insts[0]["id"]
    assert res["cpu"]["status"] == "complete"
    out = env.get("/v1/stacks/%s/outputs" % sid).json()["outputs"]
    assert out["web0_id"]["value"] == insts[0]["id"]
    assert out["web0_status"]["value"] == "building"
    assert out["key"]["value"] == "stack-key-stack-key"

    # unchanged template: no change, and applying again is a no-op
    r = env.post("/v1/stacks/plan", {"template": t, "stack": sid})
    assert set(actions(r.json()).values()) == {"no-change"}, r.json()
    r = env.put("/v1/stacks/" + sid, {"template": t})
    assert r.status_code == 202
    assert wait_stack(env, sid)["status"] == "complete"
    assert [i["id"] for i in live_instances(env)] == [insts[0]["id"]]
    assert len(env.get("/v1/stacks/%s/revisions" % sid).json()["revisions"]) == 1

    # a threshold change updates the alarm in place, exactly as planned
    alarm_id = res["cpu"]["physical_id"]
    t2 = template(env.key, threshold=90)
    plan = env.post("/v1/stacks/plan", {"template": t2, "stack": sid}).json()
    assert actions(plan) == {"key": "no-change", "group": "no-change", "web0": "no-change",
                             "cpu": "update"}
    cpu = [x for x in plan["resources"] if x["name"] == "cpu"][0]
    assert [c["property"] for c in cpu["changes"]] == ["threshold"]
    r = env.put("/v1/stacks/" + sid, {"template": t2})
    assert r.status_code == 202 and actions(r.json()["plan"]) == actions(plan)
    assert wait_stack(env, sid)["status"] == "complete"
    a = env.get("/v1/alarms/" + alarm_id).json()
    assert a["threshold"] == 90 and a["id"] == alarm_id

    # renaming the keypair replaces it, hence the instance (whose keypair is
    # not known before the apply; renamed too, since without an agent the
    # old one stays "deleting" and keeps its name) and the alarm watching it.  (A server
    # group cannot be replaced here: without an agent its old member stays
    # "deleting" and keeps it busy.)
    t3 = template(env.key, threshold=90, key_name="stack-key2", suffix="b")
    plan = env.post("/v1/stacks/plan", {"template": t3, "stack": sid}).json()
    assert actions(plan) == {"key": "replace", "group": "no-change", "web0": "replace",
                             "cpu": "replace"}, plan
    g = [x for x in plan["resources"] if x["name"] == "key"][0]
    assert "'name' cannot change in place" in g["reason"]
    env.put("/v1/stacks/" + sid, {"template": t3})
    assert wait_stack(env, sid)["status"] == "complete"
    now = live_instances(env)
    assert len(now) == 1 and now[0]["id"] != insts[0]["id"]
    assert env.get("/v1/alarms/" + alarm_id).status_code == 404
    assert len(env.get("/v1/stacks/%s/revisions" % sid).json()["revisions"]) == 3
    ev = env.get("/v1/stacks/%s/events" % sid).json()["events"]
    assert any(e["resource"] == "key" and e["action"] == "replace" for e in ev)

    # destroy leaves nothing, and never touches what the stack did not make
    outside = env.post("/v1/keypairs", {"name": "outside", "public_key": env.key})
    assert outside.status_code == 201, outside.text
    r = env.delete("/v1/stacks/" + sid)
    assert r.status_code == 202
    wait_stack(env, sid, statuses=("gone",))
    assert live_instances(env) == []
    assert [k["name"] for k in env.get("/v1/keypairs").json()["keypairs"]] == ["outside"]
    assert env.get("/v1/server-groups").json()["server_groups"] == []
    assert env.get("/v1/alarms").json()["alarms"] == []


def test_parse_errors_are_located_and_change_nothing(nubod, env):
    cases = [
        ("resources:\n  a: [1,\n", "line 3"),
        ("resources:\n  a:\n    type: nope\n", "line 3, column 5: resource 'a': unknown type"),
        ("resources:\n  a:\n    type: keypair\n    properties: {name: x, public_key: y, z: 1}\n",
         "no property 'z'"),
        ("resources:\n  a:\n    type: keypair\n    properties: {name: x}\n",
         "line 4, column 5: resource 'a': property 'public_key' is required"),
        ("resources:\n  a:\n    type: keypair\n    properties: {name: {ref: b}, public_key: y}\n",
         "bad reference"),
        ("resources:\n  a:\n    type: keypair\n    properties: {name: {ref: b}, public_key: y}\n"
         "  b:\n    type: keypair\n    properties: {name: {ref: a}, public_key: y}\n",
         "dependency cycle: a -> b -> a"),
        ("parameters:\n  n: {type: integer, constraints: {max: 3}}\nresources: {}\n",
         "parameter 'n' has no default"),
    ]
    for text, want in cases:
        p = assert_problem(env.post("/v1/stacks/plan", {"template": text}), 400)
        assert want in p["detail"], (text, p["detail"])
    p = assert_problem(env.post("/v1/stacks/plan", {
        "template": "parameters:\n  n: {type: integer, constraints: {max: 3}}\n",
        "parameters": {"n": "7"}}), 400)
    assert "line 2, column 36: parameter 'n': 7 is above the maximum 3" in p["detail"], p
    assert_problem(env.post("/v1/stacks", {"name": "bad", "template": "resources: ["}), 400)
    assert_problem(env.post("/v1/stacks", {"name": "b/d", "template": "resources: {}"}), 400)
    assert_problem(env.post("/v1/stacks", {"name": "x", "template": 3}), 400)
    assert env.get("/v1/stacks").json()["stacks"] == []


@pytest.mark.parametrize("mode", ["stop", "rollback"])
def test_quota_failure_mid_apply(nubod, admin, env, mode):
    r = admin.put("/v1/projects/%s/quota" % env.project, {"instances": 2})
    assert r.status_code == 200, r.text
    t = template(env.key, web_count=4, group=False)
    r = env.post("/v1/stacks", {"name": "big", "template": t, "on_failure": mode})
    assert r.status_code == 202, r.text
    sid = r.json()["stack"]["id"]
    s = wait_stack(env, sid)
    res = {x["name"]: x for x in env.get("/v1/stacks/%s/resources" % sid).json()["resources"]}
    if mode == "stop":
        assert s["status"] == "failed" and "quota" in s["status_reason"], s
        made = [x for x in res.values() if x["status"] == "complete"]
        failed = [x for x in res.values() if x["status"] == "create_failed"]
        assert len(failed) >= 1
        ids = sorted(i["id"] for i in live_instances(env))
        assert ids == sorted(x["physical_id"] for x in made if x["type"] == "instance")
        # raising the quota and applying again completes the stack
        admin.put("/v1/projects/%s/quota" % env.project, {"instances": 10})
        env.put("/v1/stacks/" + sid, {})
        assert wait_stack(env, sid)["status"] == "complete"
        assert len(live_instances(env)) == 4
    else:
        assert s["status"] == "rolled_back", s
        assert res == {}
        assert live_instances(env) == []
        assert env.get("/v1/keypairs").json()["keypairs"] == []
        assert env.get("/v1/alarms").json()["alarms"] == []


def test_kill_mid_apply_resumes(tmp_path, env, nubod):
    t = template(env.key).replace("""  web0:
    type: instance
""", """  web0:
    type: instance
    wait: true
    wait_timeout: 120
""")
    r = env.post("/v1/stacks", {"name": "w", "template": t})
    sid = r.json()["stack"]["id"]
    deadline = time.time() + 30
    while not live_instances(env):
        assert time.time() < deadline
        time.sleep(0.05)
    time.sleep(0.5)
    assert env.get("/v1/stacks/" + sid).json()["status"] == "applying"
    nubod.proc.send_signal(signal.SIGKILL)
    nubod.proc.wait()
    nubod.proc = None
    nubod.logf.close()
    with db(nubod) as c:
        rows = c.execute("SELECT id FROM instances WHERE status <> 'deleted'").fetchall()
    assert len(rows) == 1
    set_status(nubod, rows[0][0], "running")
    nubod.start()
    c = nubod.login(env.user, "secret-password-1", env.project)
    s = wait_stack(c, sid)
    assert s["status"] == "complete", s
    assert [i["id"] for i in live_instances(c)] == [rows[0][0]]  # not created twice
    res = {x["name"]: x for x in c.get("/v1/stacks/%s/resources" % sid).json()["resources"]}
    assert all(x["status"] == "complete" for x in res.values()), res
    assert c.get("/v1/stacks/%s/outputs" % sid).json()["outputs"]["web0_status"]["value"] == \
        "running"


def test_drift_reported_and_repaired(nubod, env):
    r = env.post("/v1/stacks", {"name": "d", "template": template(env.key)})
    sid = r.json()["stack"]["id"]
    assert wait_stack(env, sid)["status"] == "complete"
    d = env.get("/v1/stacks/%s/drift" % sid).json()
    assert d["drifted"] is False
    res = {x["name"]: x for x in env.get("/v1/stacks/%s/resources" % sid).json()["resources"]}
    # out of band: change the alarm, delete the instance
    r = env.patch("/v1/alarms/" + res["cpu"]["physical_id"], {"threshold": 5})
    assert r.status_code == 200, r.text
    assert env.delete("/v1/instances/" + res["web0"]["physical_id"]).status_code == 202
    # what the agent would do: the VM is gone (its name is free again)
    set_status(nubod, res["web0"]["physical_id"], "deleted", "deleted")
    d = env.get("/v1/stacks/%s/drift" % sid).json()
    kinds = {x["name"]: x["drift"] for x in d["resources"]}
    assert d["drifted"] and kinds["web0"] == "deleted" and kinds["cpu"] == "changed", d
    cpu = [x for x in d["resources"] if x["name"] == "cpu"][0]
    assert cpu["changes"] == [{"property": "threshold", "recorded": 80, "live": 5.0}]
    plan = env.post("/v1/stacks/plan", {"template": template(env.key), "stack": sid}).json()
    assert actions(plan)["web0"] == "create" and actions(plan)["cpu"] in ("update", "replace")
    env.put("/v1/stacks/" + sid, {})
    assert wait_stack(env, sid)["status"] == "complete"
    assert env.get("/v1/stacks/%s/drift" % sid).json()["drifted"] is False
    assert len(live_instances(env)) == 1


def test_tenancy(nubod, admin, env):
    r = env.post("/v1/stacks", {"name": "mine", "template": "resources: {}"})
    sid = r.json()["stack"]["id"]
    wait_stack(env, sid)
    other = make_tenant(nubod, admin)
    assert_problem(other.get("/v1/stacks/" + sid), 404)
    assert_problem(other.delete("/v1/stacks/" + sid), 404)
    reader = make_tenant(nubod, admin, role="reader", project=env.project)
    assert reader.get("/v1/stacks/" + sid).status_code == 200
    assert_problem(reader.delete("/v1/stacks/" + sid), 403)
    assert_problem(env.post("/v1/stacks", {"name": "mine", "template": "resources: {}"}), 409)


HOSTD = os.path.join(BUILD, "src", "host", "nubo-hostd")
EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                       "examples", "two-tier.yaml")


@pytest.fixture
def fake_hosts(nubod, admin, tmp_path):
    """Two nubo-hostd with the fake driver (it pretends to run VMs, so
    instances go running and deletes finish), joined to nubod."""
    procs = []
    try:
        for name in ("fake-a", "fake-b"):
            d = os.path.join(str(tmp_path), name)
            os.makedirs(os.path.join(d, "images"))
            sock = os.path.join(d, "hostd.sock")
            log = open(os.path.join(d, "hostd.log"), "ab")
            procs.append(subprocess.Popen([
                HOSTD, "--state-dir", os.path.join(d, "state"), "--images-dir",
                os.path.join(d, "images"), "--socket", sock, "--controller", nubod.base,
                "--join-token-file", os.path.join(nubod.dir, "join-token"), "--advertise",
                "unix:" + sock, "--name", name, "--driver", "fake", "--accel", "tcg",
                "--heartbeat-ms", "500", "--log-level", "warn"],
                stdout=log, stderr=subprocess.STDOUT))
            log.close()
        deadline = time.time() + 30
        while sum(h["state"] == "up" for h in admin.get("/v1/hosts").json()["hosts"]) < 2:
            assert time.time() < deadline, "the fake hosts did not come up"
            assert all(p.poll() is None for p in procs), "a nubo-hostd exited"
            time.sleep(0.1)
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                assert p.wait(timeout=30) == 0, "nubo-hostd exited with %s" % p.returncode
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                raise


def test_two_tier_example(nubod, admin, tmp_path, fake_hosts):
    """docs/examples/two-tier.yaml applies on fake-driver hosts: web
    servers on two hosts (anti-affinity), the database, its alarm; outputs
    right; destroy leaves nothing."""
    flavor(admin, "tiny", ram=192)
    public_image(admin, tmp_path, "nubo-tiny")
    m = make_tenant(nubod, admin)
    with open(EXAMPLE) as f:
        tmpl = f.read()
    params = {"public_key": pubkey(tmp_path), "key_name": "shop", "db_cpu_alarm": "90"}
    plan = m.post("/v1/stacks/plan", {"template": tmpl, "parameters": params})
    assert plan.status_code == 200, plan.text
    assert actions(plan.json()) == {n: "create" for n in (
        "key", "web_group", "web1", "web2", "db", "db_cpu")}
    # a parameter constraint is enforced with its place in the file
    bad = m.post("/v1/stacks/plan", {"template": tmpl,
                                     "parameters": dict(params, db_cpu_alarm="150")})
    assert_problem(bad, 400)
    assert "line " in bad.json()["detail"] and "db_cpu_alarm" in bad.json()["detail"]

    r = m.post("/v1/stacks", {"name": "shop", "template": tmpl, "parameters": params})
    assert r.status_code == 202, r.text
    sid = r.json()["stack"]["id"]
    s = wait_stack(m, sid)
    assert s["status"] == "complete", (s, m.get("/v1/stacks/%s/events" % sid).json())

    insts = {i["name"]: i for i in live_instances(m)}
    assert sorted(insts) == ["shop-db", "shop-web1", "shop-web2"]
    assert insts["shop-web1"]["host"]["id"] != insts["shop-web2"]["host"]["id"]
    assert {insts[n]["flavor"]["name"] for n in insts} == {"tiny"}
    out = m.get("/v1/stacks/%s/outputs" % sid).json()["outputs"]
    assert out["web_servers"]["value"] == [insts["shop-web1"]["id"], insts["shop-web2"]["id"]]
    assert out["db_server"]["value"] == insts["shop-db"]["id"]
    assert out["db_status"]["value"] in ("building", "running")
    hosts = out["web_hosts"]["value"]
    assert len(hosts) == 2 and hosts[0] != hosts[1], hosts
    alarms = m.get("/v1/alarms").json()["alarms"]
    assert [(a["name"], a["instance_id"], a["threshold"]) for a in alarms] == [
        ("shop-db-cpu", insts["shop-db"]["id"], 90)]
    assert out["db_alarm"]["value"] == alarms[0]["state"]
    groups = m.get("/v1/server-groups").json()["server_groups"]
    assert [(g["name"], g["policy"]) for g in groups] == [("shop-web", "anti-affinity")]

    # the same file again: no change
    r = m.post("/v1/stacks/plan", {"template": tmpl, "parameters": params, "stack": sid})
    assert set(actions(r.json()).values()) == {"no-change"}, r.json()

    assert m.delete("/v1/stacks/" + sid).status_code == 202
    wait_stack(m, sid, statuses=("gone",))
    assert live_instances(m) == []
    assert m.get("/v1/keypairs").json()["keypairs"] == []
    assert m.get("/v1/alarms").json()["alarms"] == []
