"""Host failure and HA (issue 15 item 4; docs/internals/mobility.md,
"Fencing and evacuation"): a host that goes down is fenced (its epoch
grows, the optional fencing hook must confirm) before its ha instances are
rebuilt on another host with a new generation; an agent that comes back
destroys the copies it no longer owns and never resumes them; an instance
is never shown running twice, and is billed once.

nubod runs with real nubo-hostd agents on the fake driver (no guest runs),
as in test_liveness.py.  Instances are made while only the first agent is
up, so they all live on fake-1; fake-2 joins afterwards.
"""
import json
import os
import signal
import stat
import subprocess
import time

import pytest
import requests

from conftest import NUBOD, assert_problem, db_connect, free_port
from test_crash import FaultNubod
from test_hosts import FakeHostd, wait_for
from test_liveness import Cloud

DOWN_MS = 3000


@pytest.fixture
def clouds(tmp_path):
    made = []

    def make(**kw):
        c = Cloud(tmp_path, **kw)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


def add_agent(c, name):
    a = FakeHostd(c.tmp, c.nubod, name, heartbeat_ms=500)
    k = a.args.index("--controller")
    a.args[k + 1] = "http://127.0.0.1:%d" % c.agent_port
    c.agents.append(a.start())
    wait_for(name + " up", lambda: any(
        h["name"] == name and h["state"] == "up"
        for h in c.admin.get("/v1/hosts").json()["hosts"]), timeout=30)
    # The host row is up once the registration commits, a moment before
    # the agent has its answer: a nubod stopped in between would leave it
    # without its host token (the callers stop nubod next).
    wait_for(name + "'s credential saved",
             lambda: os.path.exists(os.path.join(a.state, "controller.json")), timeout=30)
    return a


def kill_agent(a):
    a.proc.kill()
    a.proc.wait()
    a.proc = None
    a.logf.close()


def create(c, name, ha=None):
    body = {"name": name, "flavor": c.flavor, "image": c.image}
    if ha is not None:
        body["ha"] = ha
    r = c.tenant.post("/v1/instances", body)
    assert r.status_code == 202, r.text
    return r.json()["instances"][0]["id"]


def events(c, iid):
    r = c.tenant.get("/v1/instances/%s/events" % iid)
    assert r.status_code == 200, r.text
    return r.json()["events"]


def names(evs):
    return [e["event"] for e in evs]


def agent_vms(a):
    status, body = a.call("GET", "/v1/vms")
    assert status == 200, body
    return {v["name"]: v for v in body["vms"]}


def instance_records(c, iid, meter):
    db = db_connect(c.nubod)
    try:
        return db.execute("SELECT start_ms, end_ms FROM usage_records WHERE resource_id = ?"
                          " AND meter = ? ORDER BY seq", (iid, meter)).fetchall()
    finally:
        db.close()


def setup_two(clouds, extra=()):
    """A cloud whose instances are made on fake-1 before fake-2 joins."""
    c = clouds(n_agents=1, extra=["--host-down-ms", str(DOWN_MS)] + list(extra))
    return c


# --------------------------------------------------------------- evacuation

def test_ha_instance_is_rebuilt_elsewhere_and_billed_once(clouds):
    c = setup_two(clouds)
    ha = create(c, "web", ha=True)
    plain = create(c, "db")
    for iid in (ha, plain):
        c.wait_status(iid, "running")
    i = c.instance(ha)
    assert i["ha"] is True and i["generation"] == 1 and i["host"]["name"] == "fake-1"
    assert c.instance(plain)["ha"] is False
    assert agent_vms(c.agents[0])["nubo-" + ha]["generation"] == 1
    a2 = add_agent(c, "fake-2")
    t0 = time.time()
    kill_agent(c.agents[0])
    wait_for("evacuated", lambda: c.instance(ha)["host"]["name"] == "fake-2", timeout=30)
    c.wait_status(ha, "running", timeout=30)
    took = time.time() - t0
    i = c.instance(ha)
    assert i["generation"] == 2 and i["host"]["name"] == "fake-2"
    # the VM on fake-2 carries the new generation
    assert agent_vms(a2)["nubo-" + ha]["generation"] == 2
    # an instance without ha stays unknown on its dead host
    p = c.instance(plain)
    assert p["status"] == "unknown" and p["host"]["name"] == "fake-1" and p["generation"] == 1
    ev = names(events(c, ha))
    assert ev.index("host down") < ev.index("evacuated") < len(ev) - 1 - ev[::-1].index("running")
    assert "evacuated" not in names(events(c, plain))
    h = c.host("fake-1")
    assert h["state"] == "down" and h["epoch"] == 2 and h["ha_fenced_at"]
    assert c.host("fake-2")["epoch"] == 1 and c.host("fake-2")["ha_fenced_at"] is None
    # the evacuate task succeeded
    tasks = c.tenant.get("/v1/tasks?instance=" + ha).json()["tasks"]
    ev_tasks = [t for t in tasks if t["kind"] == "evacuate"]
    assert [t["status"] for t in ev_tasks] == ["succeeded"], tasks
    # billed once: the running time on fake-1 ends at its last heartbeat,
    # the new one starts with the rebuild; never two open at once
    recs = instance_records(c, ha, "instance")
    assert len(recs) == 2 and recs[0][1] is not None and recs[1][1] is None, recs
    assert recs[0][1] <= recs[1][0], recs
    print("host failure to running elsewhere: %.1f s with --host-down-ms %d" % (took, DOWN_MS))


def test_no_capacity_leaves_it_unknown_and_retries(clouds):
    c = setup_two(clouds)
    ha = create(c, "web", ha=True)
    c.wait_status(ha, "running")
    kill_agent(c.agents[0])
    wait_for("evacuation failed", lambda: "evacuation failed" in names(events(c, ha)),
             timeout=30)
    e = [e for e in events(c, ha) if e["event"] == "evacuation failed"][0]
    assert "no valid host" in e["detail"] and "retried" in e["detail"], e
    i = c.instance(ha)
    assert i["status"] == "unknown" and i["host"]["name"] == "fake-1" and i["generation"] == 1
    # fenced once, then room appears: it moves
    assert c.host("fake-1")["epoch"] == 2
    add_agent(c, "fake-2")
    wait_for("evacuated", lambda: c.instance(ha)["host"]["name"] == "fake-2", timeout=40)
    c.wait_status(ha, "running", timeout=30)
    assert c.instance(ha)["generation"] == 2
    assert c.host("fake-1")["epoch"] == 2


def test_a_host_without_ha_instances_is_not_fenced(clouds):
    c = setup_two(clouds)
    plain = create(c, "db")
    c.wait_status(plain, "running")
    add_agent(c, "fake-2")
    kill_agent(c.agents[0])
    c.wait_status(plain, "unknown", timeout=30)
    time.sleep(2)  # several reconcile passes (500 ms)
    h = c.host("fake-1")
    assert h["epoch"] == 1 and h["ha_fenced_at"] is None
    assert c.instance(plain)["host"]["name"] == "fake-1"


# ------------------------------------------------------------------ fencing

def write_hook(path, rc, sleep=0):
    with open(path, "w") as f:
        f.write("#!/bin/sh\necho \"$@\" >> %s.calls\nsleep %d\nexit %d\n" % (path, sleep, rc))
    os.chmod(path, stat.S_IRWXU)


def test_fencing_hook_must_confirm_before_anything_moves(clouds, tmp_path):
    hook = str(tmp_path / "fence-hook")
    write_hook(hook, 1)
    c = setup_two(clouds, extra=["--fence-hook", hook, "--fence-timeout-ms", "3000"])
    ha = create(c, "web", ha=True)
    c.wait_status(ha, "running")
    add_agent(c, "fake-2")
    host_id = c.host("fake-1")["id"]
    kill_agent(c.agents[0])
    wait_for("fencing failed", lambda: "fencing failed" in names(events(c, ha)), timeout=30)
    e = [e for e in events(c, ha) if e["event"] == "fencing failed"][0]
    assert "fencing hook did not confirm" in e["detail"], e
    with open(hook + ".calls") as f:
        first = f.readline().split()
    assert first == [host_id, "fake-1", "unix:" + c.agents[0].sock], first
    # not fenced: nothing moves, the epoch stays
    i = c.instance(ha)
    assert i["status"] == "unknown" and i["host"]["name"] == "fake-1" and i["generation"] == 1
    assert c.host("fake-1")["epoch"] == 1 and c.host("fake-1")["ha_fenced_at"] is None
    # a hook that hangs is killed after --fence-timeout-ms: not fenced either
    write_hook(hook, 0, sleep=30)
    n0 = names(events(c, ha)).count("fencing failed")
    wait_for("a second failure", lambda: names(events(c, ha)).count("fencing failed") > n0,
             timeout=30)
    assert c.instance(ha)["host"]["name"] == "fake-1"
    assert c.host("fake-1")["epoch"] == 1
    # the hook confirms, slowly: fenced, then evacuated (retried with
    # back-off); the time the hooks took is no stall of the controller
    # (that would give every host a fresh --host-down-ms)
    write_hook(hook, 0, sleep=2)
    wait_for("evacuated", lambda: c.instance(ha)["host"]["name"] == "fake-2", timeout=60)
    c.wait_status(ha, "running", timeout=30)
    assert c.host("fake-1")["epoch"] == 2
    with open(c.nubod.log_path) as f:
        assert "the controller was stalled" not in f.read()


# ------------------------------------------------------- a host comes back

def test_a_frozen_agent_comes_back_and_destroys_its_stale_copy(clouds):
    c = setup_two(clouds)
    ha = create(c, "web", ha=True)
    plain = create(c, "db")
    for iid in (ha, plain):
        c.wait_status(iid, "running")
    add_agent(c, "fake-2")
    a1 = c.agents[0]
    a1.proc.send_signal(signal.SIGSTOP)
    seen = []

    def one_running():
        """The controller never shows two copies running: the instance's
        own status, and the VMs that up hosts report."""
        i = c.instance(ha)
        shown = [i["host"]["name"]] if i["status"] == "running" else []
        for h in c.admin.get("/v1/hosts").json()["hosts"]:
            if h["state"] != "up" or h["name"] == i["host"]["name"]:
                continue
            vms = {v["name"]: v for v in c.host(h["name"])["vms"]}
            v = vms.get("nubo-" + ha)
            if v and v["state"] == "running":
                shown.append(h["name"])
        seen.append(shown)
        assert len(shown) <= 1, shown
        return i

    wait_for("evacuated and running",
             lambda: (lambda i: i["host"]["name"] == "fake-2" and i["status"] == "running")(
                 one_running()), timeout=40, step=0.2)
    a1.proc.send_signal(signal.SIGCONT)
    # fake-1 comes back: its stale copy is paused at once, then destroyed
    wait_for("fake-1 up", lambda: one_running() and c.host("fake-1")["state"] == "up",
             timeout=30, step=0.2)
    wait_for("stale copy gone", lambda: one_running() and "nubo-" + ha not in agent_vms(a1),
             timeout=30, step=0.2)
    # the plain instance is fake-1's: resumed, running again there
    c.wait_status(plain, "running", timeout=30)
    assert agent_vms(a1)["nubo-" + plain]["state"] == "running"
    for _ in range(10):
        one_running()
        time.sleep(0.2)
    i = c.instance(ha)
    assert i["host"]["name"] == "fake-2" and i["status"] == "running" and i["generation"] == 2
    with open(a1.log_path, "rb") as f:
        log = f.read().decode("utf-8", "replace")
    # paused at once when it woke, then destroyed (by the agent itself or
    # by the reconciler, whichever came first), never resumed
    vm = "nubo-" + ha
    assert "lease ran out" in log, log
    paused = log.index("%s (%s): running -> paused" % (vm, ha))
    assert log.index("%s (%s) deleted" % (vm, ha)) > paused, log
    assert "%s (%s): paused -> running" % (vm, ha) not in log, log
    assert "%s: resumed" % vm not in log, log
    # resumed by the agent when a heartbeat confirms it, or by the
    # reconciler's resume if that came first
    assert ("nubo-%s: resumed" % plain in log or
            "nubo-%s (%s): paused -> running" % (plain, plain) in log), log
    assert c.host("fake-1")["epoch"] == 2


# ------------------------------------------------------------ crash points

@pytest.mark.parametrize("point", ["fleet.fence", "transition.evacuate",
                                   "transition.evacuate.committed"])
def test_killed_mid_evacuation_converges_to_one_copy(tmp_path, point):
    c = Cloud(tmp_path, n_agents=1, extra=["--host-down-ms", str(DOWN_MS)])
    fn = FaultNubod(c.tmp, extra=c.nubod.extra)
    fn.dir, fn.port, fn.base, fn.log_path = c.nubod.dir, c.nubod.port, c.nubod.base, \
        c.nubod.log_path
    fn.store = c.nubod.store
    try:
        ha = create(c, "web", ha=True)
        c.wait_status(ha, "running")
        add_agent(c, "fake-2")
        assert c.nubod.stop() == 0
        kill_agent(c.agents[0])
        c.nubod = fn
        fn.start(fault=point)
        fn.wait_killed(point)
        fn.start()
        c.relogin()
        wait_for("evacuated", lambda: c.instance(ha)["host"]["name"] == "fake-2", timeout=40)
        c.wait_status(ha, "running", timeout=30)
        i = c.instance(ha)
        assert i["generation"] == 2, i
        assert names(events(c, ha)).count("evacuated") == 1
        assert c.host("fake-1")["epoch"] == 2
        assert list(agent_vms(c.agents[1])) == ["nubo-" + ha]
        recs = instance_records(c, ha, "instance")
        assert sum(1 for r in recs if r[1] is None) == 1, recs
    finally:
        c.close()


# ------------------------------------------------------------- bad input

def test_ha_flag_bad_input_and_permissions(clouds):
    c = clouds(n_agents=1)
    r = c.tenant.post("/v1/instances", {"name": "x", "flavor": c.flavor, "image": c.image,
                                        "ha": "yes"})
    assert_problem(r, 400, "ha")
    assert c.tenant.get("/v1/instances").json()["instances"] == []
    # a member sets it on its own instance; others do not see it
    iid = create(c, "web", ha=True)
    assert c.instance(iid)["ha"] is True
    assert c.admin.get("/v1/instances/" + iid).json()["ha"] is True
    # the agent refuses a bad generation, and nubod a bad heartbeat
    a = c.agents[0]
    status, body = a.call("POST", "/v1/vms", {"name": "nubo-x", "image": "none", "vcpus": 1,
                                              "memory": 64, "generation": -1})
    assert status == 400 and "generation" in json.dumps(body), body
    with open(os.path.join(a.state, "controller.json")) as f:
        cred = json.load(f)
    url = "http://127.0.0.1:%d/v1/hosts/%s/heartbeat" % (c.agent_port, cred["host_id"])
    hdr = {"Authorization": "Bearer " + cred["host_token"]}
    base = {"capacity": {"vcpus": 1, "ram_mib": 1024, "disk_gib": 10}, "accel": "tcg",
            "driver": "fake", "vms": []}
    for bad in ({"epoch": -1}, {"epoch": "2"},
                {"vms": [{"name": "nubo-x", "state": "running", "reason": "",
                          "boots": 1, "generation": "x"}]}):
        r = requests.post(url, json=dict(base, **bad), headers=hdr, timeout=10)
        assert r.status_code == 400, (bad, r.text)
    good = requests.post(url, json=dict(base, epoch=1), headers=hdr, timeout=10)
    assert good.status_code == 200, good.text
    g = good.json()
    assert g["epoch"] == 1 and g["stale_epoch"] is False and g["lease_ms"] == 7500
    assert [v["name"] for v in g["vms"]] == ["nubo-" + iid] and g["vms"][0]["generation"] == 1
    stale = requests.post(url, json=dict(base, epoch=7), headers=hdr, timeout=10).json()
    assert stale["stale_epoch"] is True and stale["epoch"] == 1


def test_nubod_refuses_a_bad_fence_hook(tmp_path):
    for args, want in ((["--fence-hook", "relative/hook"], "absolute path"),
                       (["--fence-hook", str(tmp_path / "missing")], "absolute path"),
                       (["--fence-timeout-ms", "5"], "fence-timeout-ms")):
        p = subprocess.run([NUBOD, "--state-dir", str(tmp_path / "s"), "--listen",
                            "127.0.0.1:%d" % free_port()] + args,
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2 and want in p.stderr, (args, p.returncode, p.stderr)
