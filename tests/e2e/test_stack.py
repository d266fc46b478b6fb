"""A stack of real guests, end to end: one nubod and one nubo-hostd (QEMU,
TCG) as in test_cloud.py.  A tenant applies a small stack (a keypair and an
instance with `wait: true` on the nubo-tiny image and a tiny flavor); the
apply completes only once the instance runs, the guest boots to
NUBO-READY with the stack's key, the outputs say what the instance is, and
destroy leaves no VM, no instance and no keypair.  Bounded: the whole test
gives up after 2 minutes.
"""
import os
import time

import pytest

from conftest import IMAGES, READY
from test_cloud import PUBKEY, CloudHostd, console, harness, kill_leftovers, wait_for

TEMPLATE = """
description: one tiny web server and its key
parameters:
  flavor: {type: string, default: tiny}
  image: {type: string, default: nubo-tiny}
resources:
  key:
    type: keypair
    properties: {name: e2e-key, public_key: "%s"}
  web:
    type: instance
    wait: true
    wait_timeout: 90
    properties:
      name: e2e-web
      flavor: {ref: flavor}
      image: {ref: image}
      keypair: {ref: key}
      user_data: "#!/bin/sh\\necho stack-user-data-$((6*7))\\n"
outputs:
  web_id: {value: {ref: web}}
  web_status: {value: {get_attr: [web, status]}}
  web_host: {value: {get_attr: [web, host]}}
  key_name: {value: {get_attr: [key, name]}}
""" % PUBKEY

DEADLINE_S = 120


@pytest.fixture
def cloud(tmp_path):
    tmp = str(tmp_path)
    nubod = harness.Nubod(tmp).start()
    host = CloudHostd(tmp, nubod, "host-a")
    try:
        host.start()
        yield nubod, host
        for vm in host.api.get("/v1/vms").json["vms"]:
            host.api.delete("/v1/vms/" + vm["id"])
        rc = host.stop()
        assert rc == 0, "nubo-hostd exited with %d:\n%s" % (rc, host.log())
        rc = nubod.stop()
        assert rc == 0, "nubod exited with %d:\n%s" % (rc, nubod.log())
    finally:
        if host.proc is not None:
            host.proc.kill()
        kill_leftovers(host)
        if nubod.proc is not None:
            nubod.proc.kill()


def left(deadline):
    s = deadline - time.time()
    assert s > 0, "the test ran over %d s" % DEADLINE_S
    return s


def test_stack_of_real_vms(cloud):
    nubod, host = cloud
    deadline = time.time() + DEADLINE_S
    admin = nubod.admin()
    wait_for("host up", lambda: [h for h in admin.get("/v1/hosts").json()["hosts"]
                                 if h["state"] == "up"], timeout=min(30, left(deadline)))
    with open(os.path.join(IMAGES, "nubo-tiny.cmdline")) as f:
        cmdline = f.read().strip()
    r = admin.post("/v1/images", {"name": "nubo-tiny", "visibility": "public",
                                  "file": os.path.join(IMAGES, "nubo-tiny.qcow2"),
                                  "kernel_file": os.path.join(IMAGES, "nubo-tiny.kernel"),
                                  "initrd_file": os.path.join(IMAGES, "nubo-tiny.initrd"),
                                  "cmdline": cmdline})
    assert r.status_code == 201, r.text
    r = admin.post("/v1/flavors", {"name": "tiny", "vcpus": 1, "ram_mib": 192, "disk_gib": 1})
    assert r.status_code == 201, r.text

    tenant = harness.make_tenant(nubod, admin)
    r = tenant.post("/v1/stacks", {"name": "e2e", "template": TEMPLATE})
    assert r.status_code == 202, r.text
    sid = r.json()["stack"]["id"]
    assert {x["name"]: x["action"] for x in r.json()["plan"]["resources"]} == {
        "key": "create", "web": "create"}

    # the apply ends only once the instance runs (wait: true)
    def finished():
        s = tenant.get("/v1/stacks/" + sid).json()
        return s if s["status"] not in ("applying", "rolling_back") else None
    s = wait_for("the apply", finished, timeout=min(100, left(deadline)), step=0.5)
    assert s["status"] == "complete", (s, tenant.get("/v1/stacks/%s/events" % sid).json())
    res = {x["name"]: x for x in tenant.get("/v1/stacks/%s/resources" % sid).json()["resources"]}
    iid = res["web"]["physical_id"]
    inst = tenant.get("/v1/instances/" + iid).json()
    assert inst["status"] == "running" and inst["keypair"] == "e2e-key", inst
    ev = tenant.get("/v1/stacks/%s/events" % sid).json()["events"]
    assert [e for e in ev if e["resource"] == "web" and e["status"] == "complete"], ev

    # the guest boots, with the stack's user data, as the instance
    text = wait_for(READY, lambda: (lambda t: t if READY in t else None)(console(tenant, iid)),
                    timeout=left(deadline), step=0.5)
    marker = [line for line in text.splitlines() if READY in line][0]
    assert "instance-id=" + iid in marker and "hostname=e2e-web" in marker, marker
    assert "stack-user-data-42" in text
    vms = host.vms()
    assert list(vms) == ["nubo-" + iid] and vms["nubo-" + iid]["ssh_keys"] == [PUBKEY]

    out = tenant.get("/v1/stacks/%s/outputs" % sid).json()["outputs"]
    assert out["web_id"]["value"] == iid
    assert out["web_status"]["value"] == "running"
    host_out = out["web_host"]["value"]
    assert (host_out.get("name") if isinstance(host_out, dict) else host_out) in (
        "host-a", inst["host"]["id"]), host_out
    assert out["key_name"]["value"] == "e2e-key"
    assert tenant.get("/v1/stacks/%s/drift" % sid).json()["drifted"] is False

    # destroy: no stack, no VM, no instance, no keypair
    assert tenant.delete("/v1/stacks/" + sid).status_code == 202
    wait_for("the stack gone", lambda: tenant.get("/v1/stacks/" + sid).status_code == 404,
             timeout=min(40, left(deadline)), step=0.3)
    wait_for("the VM gone", lambda: host.vms() == {}, timeout=min(40, left(deadline)), step=0.3)
    wait_for("the instance deleted",
             lambda: [i for i in tenant.get("/v1/instances").json()["instances"]
                      if i["status"] != "deleted"] == [],
             timeout=min(40, left(deadline)), step=0.3)
    assert tenant.get("/v1/keypairs").json()["keypairs"] == []
    assert host.qemu_pids() == []
