#!/usr/bin/python3
"""Benchmark: tenant networking, guest to guest.

One nubod and two nubo-hostd on simulated hosts (network namespaces joined
by a veth underlay, as in tests/e2e/test_network_cloud.py), all through the
public API:

(1) TCP throughput from a server guest to a client guest across the VXLAN
    (client on the other host) against the same pair on one shared bridge
    (client on the server's host), side by side with the ratio.  The
    server guest serves an N MiB file with busybox httpd; the client guest
    fetches it with wget R times and prints the guest's uptime before and
    after each fetch: the figure is measured inside the guest, end to end.
(2) Time for a security group change to take effect: the cross-host
    client probes the server (TCP 8080 + ping) every 0.3 s; the server's
    8080 rule is deleted and re-added F times; each flip is timed from the
    API's answer to the start of the first probe with the new outcome (as
    in the e2e test); median and max of each direction.  The probes'
    period (0.3 s) bounds the resolution, so the push alone is timed too:
    API answer -> the agent's GET /v1/network shows the new generation.

Release build by default (NUBO_BUILD=build); needs root (namespaces).

usage: bench/net.py [--mib N] [--runs R] [--flips F]
"""
import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("NUBO_BUILD", "build")
os.environ.setdefault("NUBO_IMAGES", os.path.join(ROOT, "build", "images"))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import test_network_cloud as t  # noqa: E402  (Net, Probes, the probe script)
from test_cloud import CloudHostd, harness, wait_for  # noqa: E402
from test_network_host import kill_matching  # noqa: E402

SERVER = """#!/bin/sh
mkdir -p /www && echo hello >/www/index.html
dd if=/dev/zero of=/www/big bs=1048576 count=%(mib)d 2>/dev/null
httpd -p 8080 -h /www
echo SERVER-UP
"""

CLIENT = """#!/bin/sh
T=%(server)s
until [ "$(timeout 2 wget -q -O - http://$T:8080/ 2>/dev/null)" = hello ]; do sleep 0.5; done
i=0
while [ $i -lt %(runs)d ]; do
    i=$((i + 1))
    t0=$(cut -d ' ' -f 1 /proc/uptime)
    n=$(wget -q -O - http://$T:8080/big | wc -c)
    t1=$(cut -d ' ' -f 1 /proc/uptime)
    echo "XFER $i bytes=$n t0=$t0 t1=$t1"
done
echo XFER-DONE
""" + t.probe_script(0.3, 0).split("\n", 1)[1]

XFER_RE = re.compile(r"XFER (\d+) bytes=(\d+) t0=([\d.]+) t1=([\d.]+)")


def transfers(client, iid, mib, runs):
    try:
        wait_for("the transfers of %s" % iid, lambda: "XFER-DONE" in t.console(client, iid),
                 timeout=120 + 10 * runs * max(1, mib // 8), step=0.5)
    except AssertionError:
        raise AssertionError("no XFER-DONE; console:\n" + t.console(client, iid)[-3000:])
    rates = []
    for m in XFER_RE.finditer(t.console(client, iid)):
        n, t0, t1 = int(m.group(2)), float(m.group(3)), float(m.group(4))
        assert n == mib << 20, "short transfer: %d bytes" % n
        rates.append(n * 8 / (t1 - t0) / 1e6)
    return rates


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=32)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--flips", type=int, default=5)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nubo-bench-net-")
    net = t.Net()
    nubod = None
    hosts = []
    try:
        net.setup()
        nubod = harness.Nubod(tmp, ["--log-level", "warn"]).start()
        for name, ns, ul in (("host-a", net.ns[0], t.UNDERLAY[0]),
                             ("host-b", net.ns[1], t.UNDERLAY[1])):
            h = CloudHostd(tmp, nubod, name)
            h.args += ["--netns", ns, "--underlay-ip", ul]
            h.args[h.args.index("--log-level") + 1] = "warn"
            hosts.append(h.start())
        admin = nubod.admin()
        wait_for("two hosts", lambda: len([h for h in admin.get("/v1/hosts").json()["hosts"]
                                           if h["state"] == "up"]) == 2, timeout=30)
        with open(os.environ["NUBO_IMAGES"] + "/nubo-tiny.cmdline") as f:
            cmdline = f.read().strip()
        img = os.path.join(os.environ["NUBO_IMAGES"], "nubo-tiny")
        t.ok(admin.post("/v1/images", {"name": "nubo-tiny", "visibility": "public",
                                       "file": img + ".qcow2", "kernel_file": img + ".kernel",
                                       "initrd_file": img + ".initrd", "cmdline": cmdline}), 201)
        t.ok(admin.post("/v1/flavors", {"name": "tiny", "vcpus": 1, "ram_mib": 256,
                                        "disk_gib": 1}), 201)
        a = harness.make_tenant(nubod, admin)
        t.ok(a.post("/v1/networks", {"name": "net"}), 201)
        t.ok(a.post("/v1/subnets", {"network": "net", "cidr": "10.0.0.0/24"}), 201)
        default = [g for g in t.ok(a.get("/v1/security-groups"))["security_groups"]
                   if g["name"] == "default"][0]
        web = t.ok(a.post("/v1/security-groups", {"name": "web"}), 201)

        def rule(proto, ports=None):
            body = {"security_group": web["id"], "direction": "ingress", "protocol": proto,
                    "remote_group": default["id"]}
            if ports:
                body["port_min"] = body["port_max"] = ports
            return t.ok(a.post("/v1/security-group-rules", body), 201)
        http = rule("tcp", 8080)
        rule("icmp")
        t.ok(a.post("/v1/server-groups", {"name": "aff", "policy": "affinity"}), 201)

        def create(name, ip, groups, ud, **extra):
            body = {"name": name, "flavor": "tiny", "image": "nubo-tiny",
                    "networks": [{"network": "net", "fixed_ip": ip}],
                    "security_groups": groups, "user_data": ud}
            body.update(extra)
            return t.ok(a.post("/v1/instances", body), 202)["instances"][0]
        client_ud = CLIENT % {"server": t.VM2_IP, "runs": args.runs}
        server = create("server", t.VM2_IP, ["web"], SERVER % {"mib": args.mib},
                        server_group="aff")
        remote = create("remote", t.VM1_IP, ["default"], client_ud)
        assert remote["host"]["name"] != server["host"]["name"], "spread did not spread"
        cross = transfers(a, remote["id"], args.mib, args.runs)

        # security group flips, cross-host
        probes = t.Probes(a, remote["id"])
        probes.settle(("ok", "ok"), timeout=60)
        off, on = [], []
        for _ in range(args.flips):
            off.append(probes.flip("rule deleted", lambda: t.ok(
                a.delete("/v1/security-group-rules/" + http["id"]), 204), ("fail", "ok")))
            box = {}
            on.append(probes.flip("rule added", lambda: box.setdefault("r", rule("tcp", 8080)),
                                  ("ok", "ok")))
            http = box["r"]
        # the push alone: API answer -> the server's agent reports the new
        # generation (polled every 5 ms on its socket)
        agent = {h.name: h for h in hosts}[server["host"]["name"]]
        push = []
        for i in range(2 * args.flips):
            gen = agent.api.get("/v1/network").json["generation"]
            if i % 2 == 0:
                t.ok(a.delete("/v1/security-group-rules/" + http["id"]), 204)
            else:
                http = rule("tcp", 8080)
            t0 = time.time()
            while agent.api.get("/v1/network").json["generation"] == gen:
                assert time.time() - t0 < 10, "no push in 10 s"
                time.sleep(0.005)
            push.append(time.time() - t0)
        t.ok(a.delete("/v1/instances/" + remote["id"]), 202)
        wait_for("remote deleted", lambda: a.get("/v1/instances/" + remote["id"]).json()[
            "status"] == "deleted", timeout=60)

        local = create("local", "10.0.0.13", ["default"], client_ud, server_group="aff")
        assert local["host"]["name"] == server["host"]["name"]
        same = transfers(a, local["id"], args.mib, args.runs)

        mc, ms = statistics.median(cross), statistics.median(same)
        print("guest-to-guest TCP, %d MiB x %d (wget from busybox httpd, timed in the guest)"
              % (args.mib, args.runs))
        print("  %-28s %10s %10s" % ("", "median", "runs (Mbit/s)"))
        print("  %-28s %10.1f   %s" % ("across the VXLAN (2 hosts)", mc,
                                       " ".join("%.1f" % r for r in cross)))
        print("  %-28s %10.1f   %s" % ("one shared bridge (1 host)", ms,
                                       " ".join("%.1f" % r for r in same)))
        print("  ratio VXLAN / shared bridge: %.2f" % (mc / ms))
        print("security group change to effect (API answer -> first probe with the new "
              "outcome, %d flips):" % args.flips)
        if push:
            print("  pushed and applied on the agent: median %.3f s, max %.3f s (%d changes)"
                  % (statistics.median(push), max(push), len(push)))
        if off:
            print("  rule deleted: median %.3f s, max %.3f s" % (statistics.median(off), max(off)))
            print("  rule added:   median %.3f s, max %.3f s" % (statistics.median(on), max(on)))
    finally:
        for h in hosts:
            try:
                for vm in h.api.get("/v1/vms").json["vms"]:
                    h.api.delete("/v1/vms/" + vm["id"])
                h.stop()
            except Exception:
                if h.proc is not None:
                    h.proc.kill()
        if nubod is not None and nubod.proc is not None:
            nubod.stop()
        kill_matching(tmp)
        net.teardown()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
