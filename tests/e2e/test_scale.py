"""Autoscaling end to end: real nubod, one real nubo-hostd (QEMU, samples
every second), real nubo-tiny guests (tiny flavor, at most 3).

A group of 1 whose user-data burns a vCPU until a wall-clock deadline the
test chooses (the guest's clock is the host's, through the RTC) and a
target-tracking policy at 50 % CPU:
  - the load scales the group out to 3 (100 % on one -> 2; the second one
    burns too once it is past its warm-up -> 3, the maximum);
  - at the deadline every guest stops burning and the group scales back in,
    one instance per cooldown, to its minimum of 1;
  - kill -9 of one instance's QEMU: the reconciler leaves a crashed member
    of a group to its group (instance error, event "VM crashed"), and the
    group terminates it and launches a replacement that boots to its ready
    marker;
  - deleting the group deletes its instances and their VMs.
Bounded to about 3 minutes on this 2-core machine.
"""
import os
import signal
import time

import pytest

from cloudfix import one_host_cloud, tiny_cloud, wait_for

READY = "NUBO-READY"


def user_data(deadline):
    # burn one vCPU until `deadline` (Unix seconds), then idle
    return """#!/bin/sh
(
  echo BURN-START
  while [ "$(date +%%s)" -lt %d ]; do :; done
  echo BURN-END
) &
""" % deadline


@pytest.fixture
def cloud1(tmp_path):
    with one_host_cloud(str(tmp_path), "host-s", ["--sample-ms", "1000"]) as c:
        yield c


def console(t, iid):
    """The instance's console, or "" while its VM does not exist yet."""
    r = t.get("/v1/instances/%s/console?offset=0&limit=1048576" % iid)
    assert r.status_code in (200, 404, 409), r.text
    return r.text if r.status_code == 200 else ""


def group(t, gid):
    r = t.get("/v1/scaling-groups/" + gid)
    assert r.status_code == 200, r.text
    return r.json()


def live(t, gid):
    return [m for m in group(t, gid)["instances"] if m["state"] == "in_service"]


def test_group_scales_out_in_survives_a_crash_and_is_deleted(cloud1):
    nubod, host = cloud1
    admin, t = tiny_cloud(nubod)
    started = time.time()
    deadline = int(time.time()) + 100
    r = t.post("/v1/launch-templates", {"name": "burn", "flavor": "tiny", "image": "nubo-tiny",
                                        "user_data": user_data(deadline)})
    assert r.status_code == 201, r.text
    r = t.post("/v1/scaling-groups", {"name": "web", "template": "burn", "min_size": 1,
                                      "max_size": 3, "health_grace_s": 30})
    assert r.status_code == 201, r.text
    gid = r.json()["id"]
    r = t.post("/v1/scaling-policies", {"name": "cpu", "group": gid, "kind": "target",
                                        "target_value": 50, "warmup_s": 10, "window_s": 6,
                                        "scale_out_cooldown_s": 5, "scale_in_cooldown_s": 12})
    assert r.status_code == 201, r.text
    first = wait_for("the first instance", lambda: live(t, gid), timeout=30)[0]["id"]
    wait_for("the first guest burning", lambda: "BURN-START" in console(t, first),
             timeout=120, step=0.5)

    # out: to 3 while the guests burn
    g = wait_for("desired 3", lambda: (lambda g: g if g["desired"] == 3 else None)(
        group(t, gid)), timeout=deadline - time.time() - 5, step=0.5)
    assert len(live(t, gid)) == 3
    print("scaled out to 3 after %.0f s" % (time.time() - started))
    wait_for("3 instances running", lambda: [i for i in t.get("/v1/instances").json()[
        "instances"] if i["status"] == "running"].__len__() == 3, timeout=90)

    # in: after the deadline, one step per cooldown, down to the minimum
    sizes = []

    def shrunk():
        sizes.append(group(t, gid)["desired"])
        return sizes[-1] == 1
    wait_for("scale-in to 1", shrunk, timeout=deadline - time.time() + 90, step=0.5)
    steps = [s for i, s in enumerate(sizes) if i == 0 or s != sizes[i - 1]]
    assert steps[-3:] == [3, 2, 1], steps
    acts = t.get("/v1/scaling-groups/%s/activities?limit=1000" % gid).json()["activities"]
    scale = [a["detail"] for a in reversed(acts) if a["kind"] == "scale" and a["policy_id"]]
    assert any("-> 3" in d for d in scale) and scale[-1].startswith("desired 2 -> 1"), scale
    wait_for("one instance left", lambda: len(live(t, gid)) == 1, timeout=30)
    survivor = live(t, gid)[0]["id"]
    print("scaled back in to 1 after %.0f s" % (time.time() - started))

    # kill -9 its QEMU: the instance goes to error and the group replaces it.
    # The policy goes first: a TCG boot burns the vCPU, and target tracking
    # would rightly answer that with a launch.
    pol = t.get("/v1/scaling-policies").json()["scaling_policies"][0]["id"]
    assert t.delete("/v1/scaling-policies/" + pol).status_code == 204
    vm = host.api.vm("nubo-" + survivor)
    pid = vm.get("pid")
    assert pid, vm
    os.kill(pid, signal.SIGKILL)
    # the reconciler leaves the crash to the group (no restart: error), and
    # the group terminates the member (at once when it is past its health
    # grace) and launches another
    def terminated():
        acts = t.get("/v1/scaling-groups/%s/activities?limit=1000" % gid).json()["activities"]
        return [a for a in acts if a["instance_id"] == survivor and a["kind"] == "terminate"]
    act = wait_for("the crashed member terminated", terminated, timeout=120, step=0.5)[0]
    assert "unhealthy: instance is error" in str(act), act
    ev = t.get("/v1/instances/%s/events" % survivor).json()["events"]
    crash = [e for e in ev if e["event"] == "VM crashed"]
    assert crash and "scaling group replaces it" in crash[0]["detail"], ev
    # (the old behaviour, a restart, records "...; restarting")
    assert not [e for e in crash if "restarting" in e["detail"]], ev
    repl = wait_for("a replacement", lambda: [m for m in live(t, gid) if m["id"] != survivor],
                    timeout=180, step=0.5)[0]["id"]
    wait_for("the replacement ready", lambda: READY in console(t, repl), timeout=120, step=0.5)
    wait_for("only the replacement in service",
             lambda: [m["id"] for m in live(t, gid)] == [repl], timeout=60)
    print("crashed member replaced after %.0f s" % (time.time() - started))

    # deleting the group deletes its instances and their VMs
    r = t.delete("/v1/scaling-groups/" + gid)
    assert r.status_code == 204, r.text
    wait_for("every instance deleted", lambda: all(
        i["status"] == "deleted" for i in t.get("/v1/instances?status=deleted").json()[
            "instances"]) and not t.get("/v1/instances").json()["instances"], timeout=60)
    wait_for("no VM left on the host", lambda: not host.api.get("/v1/vms").json["vms"],
             timeout=60)
    print("whole test: %.0f s" % (time.time() - started))
