"""The datapath's self-check and repair (issue 13 item 15), through the
whole cloud: one nubod, one nubo-hostd keeping its host networking in a
namespace made by the test (--netns) and checking it every CHECK_S
seconds (--datapath-check), one nubo-tiny guest on a tenant network
asking for a DHCP lease every second (`DHCP <n> ok|fail` on its console).

Behind the agent's back the test kills the network's dnsmasq and deletes
its bridge, and, so that the host stays degraded long enough to be seen
(not as a sleep), holds the DHCP port in the router namespace: dnsmasq
cannot start again until the test lets go.  The agent is stopped
(SIGSTOP) for the second this takes, so its check sees all of it at once.
Then, each within one check period (in idle-machine seconds, speed.py):
  - the bridge is back, the guest's tap attached to it again;
  - the host is `degraded` in the API with the dnsmasq problem, and the
    instance has the event "datapath degraded";
  - the guest's DHCP fails meanwhile (the sabotage is real);
once the port is free:
  - dnsmasq runs again, the host is `up`, the instance has the event
    "datapath repaired", and the guest gets its lease again.
Then the router namespace is deleted: its dnsmasq lives on in the old
namespace, where no guest reaches it; within one period the namespace is
back with a new dnsmasq in it, and the guest gets its lease again.
"""
import json
import os
import re
import secrets
import signal
import subprocess
import time

import pytest

from cloudfix import CloudHostd, harness, register_tiny, wait_for, wait_hosts_up
from conftest import READY
from test_network_host import kill_matching, netns_list, sh

CHECK_S = 2          # the agent's --datapath-check period
SLACK_S = 4          # a convergence and a heartbeat (1 s) on top of a period

DHCP_LOOP = """#!/bin/sh
(i=0; while :; do
    i=$((i + 1))
    if udhcpc -i eth0 -n -q -t 2 -T 1 -s /bin/true >/dev/null 2>&1; then
        echo "DHCP $i ok"
    else
        echo "DHCP $i fail"
    fi
    sleep 1
done) &
"""
DHCP_RE = re.compile(r"DHCP (\d+) (ok|fail)")

# Holds UDP port 67 (without SO_REUSEADDR, so dnsmasq cannot bind it too)
# until killed; retries while the killed dnsmasq still has it.
SQUAT = """
import socket, sys, time
end = time.time() + 20
while True:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("0.0.0.0", 67))
        break
    except OSError:
        s.close()
        if time.time() > end:
            sys.exit("port 67 stays taken")
        time.sleep(0.05)
print("bound", flush=True)
time.sleep(3600)
"""


@pytest.fixture
def dpcloud(tmp_path):
    tmp = str(tmp_path)
    ns = "nsc-" + secrets.token_hex(2)
    nubod = host = None
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        nubod = harness.Nubod(tmp).start()
        host = CloudHostd(tmp, nubod, "host-sc")
        host.ns = ns
        host.args += ["--netns", ns, "--datapath-check", str(CHECK_S)]
        host.start()
        yield nubod, host
        for vm in host.api.get("/v1/vms").json["vms"]:
            host.api.delete("/v1/vms/" + vm["id"])
        rc = host.stop()
        assert rc == 0, "the agent exited with %d:\n%s" % (rc, host.log())
        rc = nubod.stop()
        assert rc == 0, "nubod exited with %d:\n%s" % (rc, nubod.log())
    finally:
        if host is not None and host.proc is not None:
            host.proc.send_signal(signal.SIGCONT)
            host.proc.kill()
        if nubod is not None and nubod.proc is not None:
            nubod.proc.kill()
        kill_matching(tmp)      # QEMU and dnsmasq carry tmp in their command lines
        for name in netns_list():
            if name == ns or name.startswith(ns + "-"):
                subprocess.run(["ip", "netns", "del", name], capture_output=True)


def ok(r, status=None):
    assert r.status_code in ((status,) if status else (200, 201, 202, 204)), r.text
    return r.json() if r.content else None


def console(client, iid):
    r = client.get("/v1/instances/%s/console?offset=0&limit=1048576" % iid)
    if r.status_code == 409 or (r.status_code == 404 and "no VM" in r.text):
        return ""
    assert r.status_code == 200, r.text
    return r.text


def dhcp(client, iid):
    """The guest's DHCP attempts so far: {n: "ok" | "fail"}."""
    return {int(n): res for n, res in DHCP_RE.findall(console(client, iid))}


def link(ns, name):
    r = subprocess.run(["ip", "-n", ns, "-j", "link", "show", name], capture_output=True,
                       text=True)
    return json.loads(r.stdout)[0] if r.returncode == 0 and r.stdout.strip() else None


def events(client, iid):
    return client.get("/v1/instances/%s/events" % iid).json()["events"]


def test_selfcheck_repairs_and_degrades(dpcloud):
    nubod, host = dpcloud
    admin = nubod.admin()
    wait_hosts_up(admin, 1, timeout=30)
    register_tiny(admin)
    a = harness.make_tenant(nubod, admin)
    ok(a.post("/v1/networks", {"name": "net-a"}), 201)
    ok(a.post("/v1/subnets", {"network": "net-a", "cidr": "10.0.0.0/24"}), 201)
    vm = ok(a.post("/v1/instances", {"name": "vm1", "flavor": "tiny", "image": "nubo-tiny",
                                     "networks": [{"network": "net-a"}],
                                     "user_data": DHCP_LOOP}), 202)["instances"][0]
    wait_for("vm1 ready", lambda: READY in console(a, vm["id"]), timeout=150, step=0.5)
    wait_for("vm1's DHCP loop", lambda: "ok" in dhcp(a, vm["id"]).values(), timeout=60)

    # the names of what the test breaks (docs/internals/networking.md)
    st = host.api.get("/v1/network").json
    assert st["problems"] == [] and st["checked_at"], st
    (net,) = st["networks"]
    (port,) = st["ports"]
    with open(os.path.join(host.state, "net-tag")) as f:
        tag = f.read().strip()
    bridge, rns, tap = net["bridge"], "%s-%s-r%d" % (host.ns, tag, net["vni"]), port["tap"]
    assert bridge == "%sb%d" % (tag, net["vni"]) and rns in netns_list()
    old_dnsmasq = net["dnsmasq_pid"]
    assert old_dnsmasq and port["attached"]
    assert admin.get("/v1/hosts/host-sc").json()["state"] == "up"

    # ---- behind the agent's back (stopped meanwhile: one check sees it all)
    last_before = max(dhcp(a, vm["id"]))
    # (its own session: killed with everything ip netns exec started)
    squat = subprocess.Popen(["ip", "netns", "exec", rns, "/usr/bin/python3", "-c", SQUAT],
                             stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                             start_new_session=True)
    host.proc.send_signal(signal.SIGSTOP)
    try:
        try:
            os.kill(old_dnsmasq, signal.SIGKILL)
            assert squat.stdout.readline().strip() == "bound"
            sh("ip", "-n", host.ns, "link", "del", bridge)
        finally:
            host.proc.send_signal(signal.SIGCONT)
        t_break = time.time()
        # the bridge is back and the tap in it, within one period
        wait_for("the bridge repaired",
                 lambda: (link(host.ns, bridge) or {}).get("operstate") is not None and
                 (link(host.ns, tap) or {}).get("master") == bridge,
                 timeout=CHECK_S + SLACK_S, step=0.1)
        print("bridge repaired %.1f s after the break" % (time.time() - t_break))

        # the host degraded, with the problem it cannot repair
        def degraded():
            h = admin.get("/v1/hosts/host-sc").json()
            return h if h["state"] == "degraded" else None
        h = wait_for("the host degraded", degraded, timeout=CHECK_S + SLACK_S, step=0.1)
        objects = {(p["object"], p["problem"]) for p in h["problems"]}
        assert ("dnsmasq vni %d" % net["vni"], "not running") in objects, h["problems"]
        assert not any(o.startswith("bridge ") for o, _ in objects), h["problems"]
        mine = [p for p in h["problems"] if p["object"].startswith("dnsmasq")][0]
        assert mine["instances"] == [vm["id"]]
        assert any("failed to bind DHCP server socket" in p["problem"] for p in h["problems"]
                   if p["object"] == "repair"), h["problems"]
        ev = [e for e in events(a, vm["id"]) if e["event"] == "datapath degraded"]
        assert any("dnsmasq vni %d: not running" % net["vni"] in e["detail"] for e in ev), ev
        # no new instance goes to a degraded host
        other = ok(a.post("/v1/instances", {"name": "vm2", "flavor": "tiny",
                                            "image": "nubo-tiny"}), 202)["instances"][0]
        assert other["status"] == "error" and "degraded" in other["fault"], other
        # and the guest's DHCP fails meanwhile
        wait_for("a DHCP failure in the guest",
                 lambda: "fail" in [r for n, r in dhcp(a, vm["id"]).items() if n > last_before],
                 timeout=20)
    finally:
        os.killpg(squat.pid, signal.SIGKILL)
        squat.wait()
    t_free = time.time()

    # ---- free again: repaired within one period
    def repaired():
        s = host.api.get("/v1/network").json
        return s if s["problems"] == [] and s["networks"][0]["dnsmasq_pid"] else None
    st = wait_for("dnsmasq repaired", repaired, timeout=CHECK_S + SLACK_S, step=0.1)
    print("dnsmasq repaired %.1f s after the port was freed" % (time.time() - t_free))
    assert st["networks"][0]["dnsmasq_pid"] != old_dnsmasq
    wait_for("the host up", lambda: admin.get("/v1/hosts/host-sc").json()["state"] == "up",
             timeout=SLACK_S, step=0.1)
    ev = [e for e in events(a, vm["id"]) if e["event"] == "datapath repaired"]
    assert any("dnsmasq vni %d: not running" % net["vni"] in e["detail"] for e in ev), ev
    # the guest gets its lease again
    last_fail = max(n for n, r in dhcp(a, vm["id"]).items() if r == "fail")
    wait_for("a DHCP lease after the repair",
             lambda: any(n > last_fail and r == "ok" for n, r in dhcp(a, vm["id"]).items()),
             timeout=30)

    # ---- the router namespace deleted behind its back: its dnsmasq lives
    # on in the old one, where no guest reaches it; the agent makes the
    # namespace again and restarts dnsmasq in it, within one period
    old_dnsmasq = st["networks"][0]["dnsmasq_pid"]
    last_before = max(dhcp(a, vm["id"]))
    sh("ip", "netns", "del", rns)
    t_break = time.time()

    def in_new_namespace():
        s = host.api.get("/v1/network").json
        pid = s["networks"][0]["dnsmasq_pid"]
        if s["problems"] or not pid or pid == old_dnsmasq or rns not in netns_list():
            return None
        return os.stat("/proc/%d/ns/net" % pid).st_ino == os.stat("/run/netns/" + rns).st_ino
    wait_for("dnsmasq in the new router namespace", in_new_namespace,
             timeout=CHECK_S + SLACK_S, step=0.1)
    print("router namespace repaired %.1f s after it was deleted" % (time.time() - t_break))
    wait_for("a DHCP lease from the new namespace",
             lambda: any(n > last_before + 1 and r == "ok"
                         for n, r in dhcp(a, vm["id"]).items()), timeout=30)
    assert admin.get("/v1/hosts/host-sc").json()["state"] in ("up", "degraded")
    wait_for("the host up", lambda: admin.get("/v1/hosts/host-sc").json()["state"] == "up",
             timeout=SLACK_S, step=0.1)
    with open(host.log_path, errors="replace") as f:
        log = f.read()
    assert "datapath: drift: dnsmasq vni %d: runs outside router namespace" % net["vni"] in log

    # ---- the guest's tap deleted behind its back: the repair makes it
    # again, but QEMU still holds the old one, so the guest stays offline:
    # not "repaired" but a problem until the instance is stopped and started
    sh("ip", "-n", host.ns, "link", "del", tap)

    def severed():
        h = admin.get("/v1/hosts/host-sc").json()
        mine = [p for p in h["problems"] if p["object"] == "tap " + tap]
        return mine[0] if h["state"] == "degraded" and mine else None
    p = wait_for("the severed tap reported", severed, timeout=CHECK_S + SLACK_S, step=0.1)
    assert "stopped and started" in p["problem"] and p["instances"] == [vm["id"]], p
    assert (link(host.ns, tap) or {}).get("master") == bridge  # made again meanwhile
    boots = console(a, vm["id"]).count(READY)  # console.log is appended across boots
    ok(a.post("/v1/instances/%s/actions" % vm["id"], {"action": "stop"}), 202)
    wait_for("vm1 stopped",
             lambda: a.get("/v1/instances/" + vm["id"]).json()["status"] == "stopped",
             timeout=60)
    ok(a.post("/v1/instances/%s/actions" % vm["id"], {"action": "start"}), 202)
    wait_for("the host up after the restart",
             lambda: admin.get("/v1/hosts/host-sc").json()["state"] == "up",
             timeout=60, step=0.2)
    wait_for("vm1 ready again", lambda: console(a, vm["id"]).count(READY) > boots, timeout=150,
             step=0.5)

    def lease_this_boot():
        text = console(a, vm["id"])
        return "ok" in [r for _, r in DHCP_RE.findall(text[text.rfind(READY):])]
    wait_for("a DHCP lease after the restart", lease_this_boot, timeout=60)
