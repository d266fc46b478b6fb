"""The whole cloud, end to end, with real guests: one nubod and two
nubo-hostd (QEMU, TCG), each with its own state, images directory and
socket, joined with the join token.

An admin registers the nubo-tiny image and a flavor; a tenant creates two
instances, which spread over both hosts, boot (the controller uploads the
image to each agent), get stopped, started, a crashed QEMU is restarted, and
they are deleted.  On the way nubod is killed with SIGKILL right after the
create and restarted (nothing is lost, the instances still converge), and
one agent is restarted (its guests keep running and are re-adopted).

At most two guests run at once (the test machine has two cores).
"""
import json
import os
import signal
import time

import pytest

from cloudfix import (PUBKEY, action, events, get, harness, hosts_cloud, register_tiny,
                      wait_for, wait_hosts_up, wait_ready, wait_status)
from conftest import READY


@pytest.fixture
def cloud(tmp_path):
    with hosts_cloud(str(tmp_path), ["host-a", "host-b"]) as c:
        yield c


def test_cloud_end_to_end(cloud):
    nubod, (host_a, host_b) = cloud
    admin = nubod.admin()
    hosts = wait_hosts_up(admin, 2, timeout=30)
    assert sorted(h["name"] for h in hosts) == ["host-a", "host-b"]
    assert all(h["driver"] == "qemu" and h["accel"] in ("tcg", "kvm") for h in hosts)

    # the admin registers the image and a flavor
    image_id = register_tiny(admin)["id"]

    # a tenant creates two instances...
    tenant = harness.make_tenant(nubod, admin)
    assert tenant.post("/v1/keypairs", {"name": "k", "public_key": PUBKEY}).status_code == 201
    r = tenant.post("/v1/instances", {
        "name": "web", "flavor": "tiny", "image": "nubo-tiny", "keypair": "k", "count": 2,
        "user_data": "#!/bin/sh\necho cloud-user-data-$((6*7))\n"})
    assert r.status_code == 202, r.text
    # ... and the controller dies at once, in the middle of its work
    time.sleep(0.3)
    nubod.stop(signal.SIGKILL)
    created = r.json()["instances"]
    ids = [i["id"] for i in created]
    assert sorted(i["name"] for i in created) == ["web-1", "web-2"]
    assert sorted(i["host"]["name"] for i in created) == ["host-a", "host-b"]   # spread
    assert all(i["status"] == "building" for i in created)

    nubod.start()   # the tokens were stored: the clients go on with theirs
    for iid in ids:
        wait_status(tenant, iid, "running")
    for iid in ids:
        text = wait_ready(tenant, iid)
        marker = [line for line in text.splitlines() if READY in line][0]
        assert "instance-id=" + iid in marker, marker
        assert "hostname=web-" in marker and "ip=10.0.2.15" in marker
        assert "cloud-user-data-42" in text
    # exactly one VM per instance, named after it, on its host; the image
    # was uploaded to both agents under its id
    by_host = {"host-a": host_a, "host-b": host_b}
    placed = {}
    for iid in ids:
        inst = get(tenant, iid)
        assert inst["power_state"] == "running" and inst["boots"] == 1
        placed[iid] = by_host[inst["host"]["name"]]
    for h in (host_a, host_b):
        assert len(h.vms()) == 1
        assert os.path.exists(os.path.join(h.images, "img-%s.qcow2" % image_id))
        assert os.path.exists(os.path.join(h.images, "img-%s.kernel" % image_id))
    for iid in ids:
        vm = placed[iid].vms()["nubo-" + iid]
        assert vm["ssh_keys"] == [PUBKEY] and vm["memory_mib"] == 192
    for iid in ids:
        task = tenant.get("/v1/tasks?instance=" + iid).json()["tasks"][0]
        assert task["kind"] == "create" and task["status"] == "succeeded", task

    first, second = ids
    # stop and start the first one: same disk, a new boot
    action(tenant, first, "stop")
    inst = wait_status(tenant, first, "stopped", timeout=40)
    assert inst["power_state"] == "stopped"
    assert placed[first].vms()["nubo-" + first]["state"] == "stopped"
    action(tenant, first, "start")
    wait_status(tenant, first, "running")
    wait_ready(tenant, first, count=2)
    assert get(tenant, first)["boots"] == 2

    # restart the agent of the second one: its guest keeps running and is
    # re-adopted; the controller sees nothing to do
    h2 = placed[second]
    pids = h2.qemu_pids()
    assert len(pids) == 1
    assert h2.stop() == 0
    h2.start()
    vm = h2.vms()["nubo-" + second]
    assert vm["state"] == "running" and vm["pid"] == pids[0]
    assert "re-adopted" in vm["reason"]
    time.sleep(2)
    inst = get(tenant, second)
    assert inst["status"] == "running" and inst["boots"] == 1

    # its QEMU dies: the controller notices and starts it again
    os.kill(pids[0], signal.SIGKILL)
    wait_for("restart after the crash", lambda: get(tenant, second)["boots"] == 2, timeout=60)
    wait_status(tenant, second, "running")
    ev = events(tenant, second)
    assert "VM crashed" in ev, ev
    wait_ready(tenant, second, count=2)

    # delete both: VMs gone on both hosts, instances deleted, tasks done
    for iid in ids:
        assert tenant.delete("/v1/instances/" + iid).status_code == 202
    for iid in ids:
        inst = wait_status(tenant, iid, "deleted", timeout=60)
        assert inst["deleted_at"]
        tasks = {t["kind"]: t["status"]
                 for t in tenant.get("/v1/tasks?instance=" + iid).json()["tasks"]}
        assert tasks["delete"] == "succeeded", tasks
    assert host_a.vms() == {} and host_b.vms() == {}
    assert host_a.qemu_pids() == [] and host_b.qemu_pids() == []
    for h in admin.get("/v1/hosts").json()["hosts"]:
        assert h["instances"] == 0 and h["used"]["vcpus"] == 0, h
    with open(nubod.log_path, "rb") as f:
        log = f.read().decode("utf-8", "replace")
    assert "orphan" not in log, log[-3000:]
    assert json.dumps(admin.get("/v1/hosts").json()).count('"up"') == 2
