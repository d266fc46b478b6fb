"""A stack of real guests, end to end: one nubod and one nubo-hostd (QEMU,
TCG) as in test_cloud.py.  A tenant applies a small stack (a keypair and an
instance with `wait: true` on the nubo-tiny image and a tiny flavor); the
apply completes only once the instance runs, the guest boots to
NUBO-READY with the stack's key, the outputs say what the instance is, and
destroy leaves no VM, no instance and no keypair.  Bounded: the whole test
gives up after 2 minutes.
"""
import json
import os
import re
import secrets
import signal
import subprocess
import time

import pytest

from cloudfix import PUBKEY, console, one_host_cloud, tiny_cloud, wait_for
from conftest import READY

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
    with one_host_cloud(str(tmp_path), "host-a") as c:
        yield c


def left(deadline):
    s = deadline - time.time()
    assert s > 0, "the test ran over %d s" % DEADLINE_S
    return s


def test_stack_of_real_vms(cloud):
    nubod, host = cloud
    deadline = time.time() + DEADLINE_S
    tenant = tiny_cloud(nubod, timeout=min(30, left(deadline)))[1]
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


# ---------------------------------------------------------------- two-tier

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                       "examples", "two-tier.yaml")
TWO_TIER_DEADLINE_S = 170


def sh(*argv):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, "%s: %s" % (" ".join(argv), r.stderr)
    return r.stdout


def netns_list():
    out = sh("ip", "-j", "netns", "list").strip()
    return sorted(n["name"] for n in json.loads(out)) if out else []


@pytest.fixture
def netcloud(tmp_path):
    """nubod and one nubo-hostd (QEMU, TCG) whose bridges, taps, dnsmasq,
    router namespaces and VMs live in a network namespace made here.
    Everything is removed on the way out, also on failure."""
    tmp = str(tmp_path)
    ns = "stk-" + secrets.token_hex(2)
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        with one_host_cloud(tmp, "host-a", ["--netns", ns]) as (nubod, host):
            yield nubod, host, ns
    finally:
        # dnsmasq lives in the router namespaces (ns-r<vni>) and outlives
        # its agent: every process in our namespaces goes, then they do
        ours = [n for n in netns_list() if n == ns or n.startswith(ns + "-")]
        for name in ours:
            for pid in sh("ip", "netns", "pids", name).split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for name in ours:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def ready_ip(text):
    """The ip= of the guest's NUBO-READY line."""
    m = re.search(READY + r" .*?ip=(\S+)", text)
    return m.group(1) if m else None


def test_two_tier_example_real_vms(netcloud):
    """docs/examples/two-tier.yaml with one web server: the database and
    then (desired 0 -> 1, in place) the web (autoscaling group) VMs boot to
    NUBO-READY with the addresses the API and the outputs give; destroy leaves no VM, port, network, and nothing
    of ours in the namespace (bridge, dnsmasq, router namespace)."""
    nubod, host, ns = netcloud
    deadline = time.time() + TWO_TIER_DEADLINE_S

    def left_():
        s = deadline - time.time()
        assert s > 0, "the test ran over %d s" % TWO_TIER_DEADLINE_S
        return s
    tenant = tiny_cloud(nubod, timeout=min(30, left_()))[1]
    with open(EXAMPLE) as f:
        tmpl = f.read()
    # The web tier starts empty and grows to one server (an in-place update
    # on real VMs) once the database has booted, so the web port reaches a
    # dnsmasq that runs already: its DHCP entry comes by a reload (SIGHUP),
    # every time.  (Started together, both ports are usually in the first
    # document and the reload path would go unexercised.)
    params = {"public_key": PUBKEY, "key_name": "tt", "web_min": "0", "web_desired": "0",
              "web_max": "2"}
    r = tenant.post("/v1/stacks", {"name": "two-tier", "template": tmpl, "parameters": params})
    assert r.status_code == 202, r.text
    sid = r.json()["stack"]["id"]

    def finished():
        s = tenant.get("/v1/stacks/" + sid).json()
        return s if s["status"] not in ("applying", "rolling_back") else None
    s = wait_for("the apply", finished, timeout=min(60, left_()), step=0.5)
    assert s["status"] == "complete", (s, tenant.get("/v1/stacks/%s/events" % sid).json())
    out = {k: v["value"] for k, v in
           tenant.get("/v1/stacks/%s/outputs" % sid).json()["outputs"].items()}
    assert out["db_ip"] == "10.20.0.10", out

    db_id = out["db_server"]

    def console_text(iid):
        r = tenant.get("/v1/instances/%s/console?offset=0&limit=1048576" % iid)
        assert r.status_code in (200, 404), r.text  # 404: the VM is not on its host yet
        return r.text if r.status_code == 200 else ""

    def booted(iid):
        text = wait_for(READY + " on " + iid,
                        lambda: (lambda t: t if ready_ip(t) else None)(console_text(iid)),
                        timeout=left_(), step=1)
        inst = tenant.get("/v1/instances/" + iid).json()
        assert inst["status"] == "running", inst
        assert ready_ip(text) == inst["addresses"][0]["ip"], (text[-500:], inst["addresses"])
        assert inst["addresses"][0]["network_id"] == out["network"]
    booted(db_id)

    r = tenant.put("/v1/stacks/" + sid, {"parameters": dict(params, web_desired="1")})
    assert r.status_code == 202, r.text
    assert {x["name"]: x["action"] for x in r.json()["plan"]["resources"]
            if x["action"] != "no-change"} == {"web": "update"}
    s = wait_for("the update", finished, timeout=min(60, left_()), step=0.5)
    assert s["status"] == "complete", (s, tenant.get("/v1/stacks/%s/events" % sid).json())

    def web_member():
        g = tenant.get("/v1/scaling-groups/" + out["web_group"]).json()
        return [m["id"] for m in g["instances"] if m["state"] == "in_service"]
    (web_id,) = wait_for("the web server", web_member, timeout=min(30, left_()))

    # both guests boot, each with the address the API gives it
    booted(web_id)
    assert ready_ip(console(tenant, db_id)) == out["db_ip"]
    assert ready_ip(console(tenant, web_id)).startswith("10.20.0.")
    assert sorted(host.vms()) == sorted(["nubo-" + db_id, "nubo-" + web_id])

    # destroy: no VM, no instance, no port, no network; nothing of ours in
    # the namespace
    assert tenant.delete("/v1/stacks/" + sid).status_code == 202
    wait_for("the stack gone", lambda: tenant.get("/v1/stacks/" + sid).status_code == 404,
             timeout=min(60, left_()), step=0.5)
    assert tenant.get("/v1/networks").json()["networks"] == []
    assert tenant.get("/v1/ports").json()["ports"] == []
    assert [i for i in tenant.get("/v1/instances").json()["instances"]
            if i["status"] != "deleted"] == []
    wait_for("the VMs gone", lambda: host.vms() == {}, timeout=min(30, left_()), step=0.3)
    assert host.qemu_pids() == []

    def datapath_gone():
        bridges = json.loads(sh("ip", "-n", ns, "-j", "link", "show", "type", "bridge") or "[]")
        routers = [n for n in netns_list() if n.startswith(ns + "-")]
        pids = sh("ip", "netns", "pids", ns).split()
        return (bridges, routers, pids) == ([], [], [])
    wait_for("the datapath gone from %s" % ns, datapath_gone, timeout=min(30, left_()), step=0.5)
