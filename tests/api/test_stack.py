"""API tests of stacks (/v1/stacks, src/stack): plan, apply, update in place
versus replace, failure modes, resume after kill -9, drift, destroy.

Hosts are rows written into the controller's database (as in
test_compute.py): instances are placed on them and stay "building" since
no agent answers, which is all a stack needs ("created" = accepted by the
API); tests that wait for ACTIVE move the status in the database.
"""
import json
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


def sh(*argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, "%s: %s" % (" ".join(argv), r.stderr)
    return r.stdout


def netns_list():
    out = sh("ip", "-j", "netns", "list").strip()
    return sorted(n["name"] for n in json.loads(out)) if out else []


def kill_matching(text):
    """SIGKILLs every process whose command line contains text (the
    dnsmasq of an agent started here carries the agent's directory)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        if text in cmd:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def fake_hosts(nubod, admin, tmp_path):
    """nubo-hostd agents with the fake driver (it pretends to run VMs, so
    instances go running and deletes finish), joined to nubod, each with
    --netns in a namespace made here: the tenant networks the controller
    pushes (bridges, dnsmasq, router namespaces) stay inside it.  Every
    process and namespace is removed on the way out, also on failure."""
    procs, spaces, dirs = [], [], []
    sfx = uuid.uuid4().hex[:4]
    try:
        for name in ("fake-a",):
            ns = "st%s-%s" % (sfx, name[-1])
            sh("ip", "netns", "add", ns)
            spaces.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            d = os.path.join(str(tmp_path), name)
            dirs.append(d + os.sep)
            os.makedirs(os.path.join(d, "images"))
            sock = os.path.join(d, "hostd.sock")
            log = open(os.path.join(d, "hostd.log"), "ab")
            procs.append(subprocess.Popen([
                HOSTD, "--state-dir", os.path.join(d, "state"), "--images-dir",
                os.path.join(d, "images"), "--socket", sock, "--controller", nubod.base,
                "--join-token-file", os.path.join(nubod.dir, "join-token"), "--advertise",
                "unix:" + sock, "--name", name, "--driver", "fake", "--accel", "tcg",
                "--netns", ns, "--heartbeat-ms", "500", "--log-level", "warn"],
                stdout=log, stderr=subprocess.STDOUT))
            log.close()
        deadline = time.time() + 30
        while sum(h["state"] == "up" for h in admin.get("/v1/hosts").json()["hosts"]) < len(procs):
            assert time.time() < deadline, "the fake hosts did not come up"
            assert all(p.poll() is None for p in procs), "a nubo-hostd exited"
            time.sleep(0.1)
        yield spaces
    finally:
        for p in procs:
            p.terminate()
        try:
            for p in procs:
                try:
                    assert p.wait(timeout=30) == 0, "nubo-hostd exited with %s" % p.returncode
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                    raise
        finally:
            for d in dirs:
                kill_matching(d)
            for name in netns_list():
                if any(name == ns or name.startswith(ns + "-") for ns in spaces):
                    subprocess.run(["ip", "netns", "del", name], capture_output=True)


def listing(c, path, key):
    r = c.get(path)
    assert r.status_code == 200, r.text
    return r.json()[key]


def group_of(c, gid):
    r = c.get("/v1/scaling-groups/" + gid)
    assert r.status_code == 200, r.text
    return r.json()


def wait_group(c, gid, size, timeout=60):
    """Waits until the group has `size` running members, all of them of its
    effective template version; returns the group."""
    deadline = time.time() + timeout
    while True:
        g = group_of(c, gid)
        members = [m for m in g["instances"] if m["state"] == "in_service"]
        if (len(members) == size and all(m["status"] == "running" for m in members)
                and all(m["template_version"] == g["effective_version"] for m in members)):
            return g
        assert time.time() < deadline, g
        time.sleep(0.2)


def ports_of(c, iid):
    return [p for p in listing(c, "/v1/ports", "ports") if p.get("instance_id") == iid]


def outputs(c, sid):
    return {k: v["value"] for k, v in
            c.get("/v1/stacks/%s/outputs" % sid).json()["outputs"].items()}


def apply(c, sid, params):
    r = c.put("/v1/stacks/" + sid, {"parameters": params})
    assert r.status_code == 202, r.text
    s = wait_stack(c, sid, timeout=120)
    assert s["status"] == "complete", (s, c.get("/v1/stacks/%s/events" % sid).json())
    return r.json()["plan"]


def plan(c, tmpl, params, sid=None):
    body = {"template": tmpl, "parameters": params}
    if sid:
        body["stack"] = sid
    r = c.post("/v1/stacks/plan", body)
    assert r.status_code == 200, r.text
    return r.json()


ALL_TWO_TIER = ("key", "net", "subnet", "web_sg", "web_http", "web_out", "db_sg", "db_pg",
                "db_out", "web_lt", "web", "web_cpu", "web_grow", "db")


def test_two_tier_example(nubod, admin, tmp_path, fake_hosts):
    """docs/examples/two-tier.yaml on a fake-driver host whose datapath
    lives in a namespace of the test: plan (every resource a create),
    apply, outputs (the database's fixed IP in the subnet), an unchanged
    re-plan, desired changed in place, a rule deleted outside the stack
    (drift, repaired), the subnet's CIDR changed (the subnet and what sits
    on it replaced, exactly as planned), then destroy leaves nothing."""
    flavor(admin, "tiny", ram=192)
    public_image(admin, tmp_path, "nubo-tiny")
    m = make_tenant(nubod, admin)
    with open(EXAMPLE) as f:
        tmpl = f.read()
    params = {"public_key": pubkey(tmp_path), "key_name": "shop", "web_desired": "2"}
    p = plan(m, tmpl, params)
    assert actions(p) == {n: "create" for n in ALL_TWO_TIER}
    changes = {r["name"]: {c["property"]: c["new"] for c in r["changes"]}
               for r in p["resources"]}
    assert changes["subnet"]["cidr"] == "10.20.0.0/24"
    assert changes["web"]["desired"] == 2 and changes["web"]["min_size"] == 1
    # a bad parameter is refused with its place in the file
    bad = m.post("/v1/stacks/plan", {"template": tmpl,
                                     "parameters": dict(params, web_cpu_alarm="150")})
    assert_problem(bad, 400)
    assert "line " in bad.json()["detail"] and "web_cpu_alarm" in bad.json()["detail"]

    r = m.post("/v1/stacks", {"name": "shop", "template": tmpl, "parameters": params})
    assert r.status_code == 202, r.text
    sid = r.json()["stack"]["id"]
    s = wait_stack(m, sid, timeout=120)
    assert s["status"] == "complete", (s, m.get("/v1/stacks/%s/events" % sid).json())

    nets = listing(m, "/v1/networks", "networks")
    assert [n["name"] for n in nets] == ["shop-net"]
    subnets = listing(m, "/v1/subnets", "subnets")
    assert [(x["name"], x["cidr"], x["network_id"]) for x in subnets] == [
        ("shop-subnet", "10.20.0.0/24", nets[0]["id"])]
    sgs = {g["name"]: g for g in listing(m, "/v1/security-groups", "security_groups")}
    assert set(sgs) == {"default", "shop-web", "shop-db"}
    db_rules = m.get("/v1/security-groups/" + sgs["shop-db"]["id"]).json()["rules"]
    assert {(x["direction"], x["protocol"], x["port_min"], x["remote_group"])
            for x in db_rules} == {("ingress", "tcp", 5432, sgs["shop-web"]["id"]),
                                   ("egress", "any", None, None)}
    groups = listing(m, "/v1/scaling-groups", "scaling_groups")
    assert [g["name"] for g in groups] == ["shop-web"]
    g = wait_group(m, groups[0]["id"], 2)

    out = outputs(m, sid)
    insts = {i["name"]: i for i in live_instances(m)}
    assert out["db_ip"] == "10.20.0.10" and out["subnet_cidr"] == "10.20.0.0/24"
    assert out["network"] == nets[0]["id"] and out["web_group"] == g["id"]
    assert out["db_server"] == insts["shop-db"]["id"]
    assert [a["ip"] for a in insts["shop-db"]["addresses"]] == ["10.20.0.10"]
    assert [pt["security_groups"] for pt in ports_of(m, insts["shop-db"]["id"])] == [
        [sgs["shop-db"]["id"]]]
    for mem in g["instances"]:
        (pt,) = ports_of(m, mem["id"])
        assert pt["network_id"] == nets[0]["id"] and pt["security_groups"] == [
            sgs["shop-web"]["id"]]
        assert pt["ip"].startswith("10.20.0."), pt

    # unchanged: no change at all, and applying it again is a no-op
    assert set(actions(plan(m, tmpl, params, sid)).values()) == {"no-change"}

    # desired 2 -> 3: the group is updated in place (same id), nothing else moves
    p3 = dict(params, web_desired="3")
    planned = actions(plan(m, tmpl, p3, sid))
    assert planned == dict({n: "no-change" for n in ALL_TWO_TIER}, web="update")
    assert actions(apply(m, sid, p3)) == planned
    g = wait_group(m, g["id"], 3)
    assert g["desired"] == 3

    # another web flavor: a new template version, rolled out by the same group
    flavor(admin, "tiny2", ram=256)
    p3 = dict(p3, web_flavor="tiny2")
    planned = actions(plan(m, tmpl, p3, sid))
    assert planned == dict({n: "no-change" for n in ALL_TWO_TIER}, web_lt="update")
    assert actions(apply(m, sid, p3)) == planned
    lt = listing(m, "/v1/launch-templates", "launch_templates")
    assert [(x["latest_version"], x["default_version"]) for x in lt] == [(2, 2)]
    g2 = wait_group(m, g["id"], 3)
    assert g2["effective_version"] == 2
    assert {i["flavor"]["name"] for i in live_instances(m) if i["name"] != "shop-db"} == {
        "tiny2"}

    # drift: the http rule deleted outside the stack is reported, then repaired
    web_rules = m.get("/v1/security-groups/" + sgs["shop-web"]["id"]).json()["rules"]
    (http,) = [x for x in web_rules if x["port_min"] == 80]
    assert m.delete("/v1/security-group-rules/" + http["id"]).status_code == 204
    d = m.get("/v1/stacks/%s/drift" % sid).json()
    assert d["drifted"] is True
    assert {x["name"]: x["drift"] for x in d["resources"] if x["drift"] != "none"} == {
        "web_http": "deleted"}
    r = m.put("/v1/stacks/" + sid, {})
    assert r.status_code == 202, r.text
    assert actions(r.json()["plan"])["web_http"] == "create"
    assert wait_stack(m, sid)["status"] == "complete"
    assert m.get("/v1/stacks/%s/drift" % sid).json()["drifted"] is False
    web_rules = m.get("/v1/security-groups/" + sgs["shop-web"]["id"]).json()["rules"]
    assert [(x["protocol"], x["port_min"], x["remote_cidr"]) for x in web_rules
            if x["direction"] == "ingress"] == [("tcp", 80, "0.0.0.0/0")]

    # a new CIDR replaces the subnet and what sits on it, as planned
    p4 = dict(p3, subnet_cidr="10.30.0.0/24", db_ip="10.30.0.10")
    planned = actions(plan(m, tmpl, p4, sid))
    replaced = {"subnet", "db", "web_lt", "web", "web_grow"}
    assert planned == {n: "replace" if n in replaced else "no-change" for n in ALL_TWO_TIER}
    old_db = insts["shop-db"]["id"]
    assert actions(apply(m, sid, p4)) == planned
    out = outputs(m, sid)
    assert out["db_ip"] == "10.30.0.10" and out["subnet_cidr"] == "10.30.0.0/24"
    assert out["network"] == nets[0]["id"]  # the network itself stayed
    assert out["db_server"] != old_db and out["web_group"] != g["id"]
    wait_group(m, out["web_group"], 3)
    subnets = listing(m, "/v1/subnets", "subnets")
    assert [x["cidr"] for x in subnets] == ["10.30.0.0/24"]
    for i in live_instances(m):
        assert all(a["ip"].startswith("10.30.0.") for a in i["addresses"]), i

    # destroy: nothing left - networks, ports, groups, templates, policies
    assert m.delete("/v1/stacks/" + sid).status_code == 202
    wait_stack(m, sid, statuses=("gone",), timeout=120)
    assert live_instances(m) == []
    assert listing(m, "/v1/networks", "networks") == []
    assert listing(m, "/v1/subnets", "subnets") == []
    assert listing(m, "/v1/ports", "ports") == []
    assert [x["name"] for x in listing(m, "/v1/security-groups", "security_groups")] == [
        "default"]
    assert listing(m, "/v1/launch-templates", "launch_templates") == []
    assert listing(m, "/v1/scaling-groups", "scaling_groups") == []
    assert listing(m, "/v1/scaling-policies", "scaling_policies") == []
    assert listing(m, "/v1/alarms", "alarms") == []
    assert listing(m, "/v1/keypairs", "keypairs") == []


OUTSIDE = """
parameters:
  network: {type: string}
resources:
  subnet:
    type: subnet
    properties: {network: {ref: network}, cidr: 10.40.0.0/24}
  sg:
    type: security_group
    properties: {name: app}
  app:
    type: instance
    properties:
      name: app
      flavor: tiny
      image: nubo-tiny
      networks: [{network: {ref: network}, subnet: {ref: subnet}}]
      security_groups: [{ref: sg}]
outputs:
  ip: {value: {get_attr: [app, ip]}}
"""


def test_destroy_leaves_a_network_made_outside(nubod, admin, tmp_path, fake_hosts):
    """A network the template only names through a parameter is used (a
    subnet and an instance on it) but never deleted by destroy."""
    flavor(admin, "tiny", ram=192)
    public_image(admin, tmp_path, "nubo-tiny")
    m = make_tenant(nubod, admin)
    r = m.post("/v1/networks", {"name": "outside"})
    assert r.status_code == 201, r.text
    net = r.json()
    r = m.post("/v1/stacks", {"name": "app", "template": OUTSIDE,
                              "parameters": {"network": "outside"}})
    assert r.status_code == 202, r.text
    sid = r.json()["stack"]["id"]
    s = wait_stack(m, sid, timeout=60)
    assert s["status"] == "complete", (s, m.get("/v1/stacks/%s/events" % sid).json())
    assert outputs(m, sid)["ip"].startswith("10.40.0.")
    assert m.delete("/v1/stacks/" + sid).status_code == 202
    wait_stack(m, sid, statuses=("gone",), timeout=60)
    assert [(n["id"], n["name"]) for n in listing(m, "/v1/networks", "networks")] == [
        (net["id"], "outside")]
    assert listing(m, "/v1/subnets", "subnets") == []
    assert listing(m, "/v1/ports", "ports") == []
    assert live_instances(m) == []


FIP = """
parameters:
  group: {type: string, default: sa}
resources:
  net:
    type: network
    properties: {name: app-net}
  subnet:
    type: subnet
    properties: {network: {ref: net}, cidr: 10.50.0.0/24}
  sa:
    type: security_group
    properties: {name: sa}
  sb:
    type: security_group
    properties: {name: sb}
  app:
    type: instance
    depends_on: [sa, sb]
    properties:
      name: app
      flavor: tiny
      image: nubo-tiny
      networks: [{subnet: {ref: subnet}, fixed_ip: 10.50.0.7}]
      security_groups: [{ref: group}]
  fip:
    type: floating_ip
    properties: {%s}
outputs:
  public: {value: {get_attr: [fip, ip]}}
  port: {value: {get_attr: [fip, port_id]}}
"""


def test_floating_ip_and_security_groups_in_place(nubod, admin, tmp_path, fake_hosts):
    """A floating IP on an instance of the stack, then disassociated (in
    place, same address); the instance's security groups changed in place
    on its port (same instance)."""
    flavor(admin, "tiny", ram=192)
    public_image(admin, tmp_path, "nubo-tiny")
    r = admin.post("/v1/networks", {"name": "public", "external": True})
    assert r.status_code == 201, r.text
    r = admin.post("/v1/subnets", {"network": r.json()["id"], "cidr": "198.51.100.0/24"})
    assert r.status_code == 201, r.text
    m = make_tenant(nubod, admin)
    tmpl = FIP % "instance: {ref: app}"
    r = m.post("/v1/stacks", {"name": "fip", "template": tmpl})
    assert r.status_code == 202, r.text
    sid = r.json()["stack"]["id"]
    s = wait_stack(m, sid, timeout=60)
    assert s["status"] == "complete", (s, m.get("/v1/stacks/%s/events" % sid).json())
    out = outputs(m, sid)
    (inst,) = live_instances(m)
    (port,) = ports_of(m, inst["id"])
    assert out["public"].startswith("198.51.100.") and out["port"] == port["id"]
    assert port["ip"] == "10.50.0.7"
    sgs = {g["name"]: g["id"] for g in listing(m, "/v1/security-groups", "security_groups")}
    assert port["security_groups"] == [sgs["sa"]]

    # the instance's groups change in place: same instance, same port
    p = {"group": "sb"}
    planned = actions(plan(m, tmpl, p, sid))
    assert planned == {"net": "no-change", "subnet": "no-change", "sa": "no-change",
                       "sb": "no-change", "app": "update", "fip": "no-change"}
    assert actions(apply(m, sid, p)) == planned
    (port2,) = ports_of(m, inst["id"])
    assert port2["id"] == port["id"] and port2["security_groups"] == [sgs["sb"]]

    # no association any more: the same floating IP, disassociated in place
    tmpl2 = FIP % ""
    planned = actions(plan(m, tmpl2, p, sid))
    assert planned["fip"] == "update" and planned["app"] == "no-change", planned
    r = m.put("/v1/stacks/" + sid, {"template": tmpl2, "parameters": p})
    assert r.status_code == 202, r.text
    assert wait_stack(m, sid)["status"] == "complete"
    (f,) = listing(m, "/v1/floating-ips", "floating_ips")
    assert f["ip"] == out["public"] and f["port_id"] is None

    assert m.delete("/v1/stacks/" + sid).status_code == 202
    wait_stack(m, sid, statuses=("gone",), timeout=60)
    assert listing(m, "/v1/floating-ips", "floating_ips") == []
    assert [n["name"] for n in listing(m, "/v1/networks", "networks")] == ["public"]
    assert listing(m, "/v1/ports", "ports") == []
