#!/usr/bin/python3
"""Benchmark: stacks (src/stack) against a script.

Plan and apply time of one stack of N resources - W networks with one
subnet each (W = N/10 by default), then half of the rest keypairs and half
instances, each instance using its own keypair and one of the subnets
through {ref} - on hosts run by nubo-hostd with the fake driver (it only
pretends to run VMs; its datapath - bridges, dnsmasq, router namespaces -
lives in a network namespace made here with --netns), against the same
resources created one after the other through the API by this script
(POST /v1/networks, /v1/subnets, /v1/keypairs, then /v1/instances, each
accepted = made, which is when a stack counts an instance as created too).  Prints plan time
(median of 3), apply time (POST /v1/stacks until the stack is complete),
destroy time, the script's time, and the ratio apply / script.

usage: bench/stack.py [--resources N] [--networks W] [--hosts H]
Needs a release build (scripts/build.sh) and root (ip netns).  Everything
runs on loopback and in the namespaces made here, in a temporary
directory; all are removed at the end.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))
os.environ.setdefault("NUBO_BUILD", "build")
import conftest  # noqa: E402

PUBKEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIxJ2IShFGCEqCD9H4PwKCzpF1Plx5o/gS2+mnPHtuP7 "
          "bench@nubo")


def start_fake_hostd(tmp, name, nubod, ns):
    d = os.path.join(tmp, name)
    os.makedirs(os.path.join(d, "images"), exist_ok=True)
    sock = os.path.join(d, "hostd.sock")
    log = open(os.path.join(d, "hostd.log"), "ab")
    p = subprocess.Popen([conftest.HOSTD, "--state-dir", os.path.join(d, "state"),
                          "--images-dir", os.path.join(d, "images"), "--socket", sock,
                          "--controller", nubod.base, "--join-token-file",
                          os.path.join(nubod.dir, "join-token"), "--advertise", "unix:" + sock,
                          "--name", name, "--driver", "fake", "--accel", "tcg", "--netns", ns,
                          "--heartbeat-ms", "1000", "--log-level", "warn"],
                         stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return p


def counts(n, w):
    """(networks, keypairs, instances) of a stack of n resources."""
    rest = n - 2 * w
    return w, rest // 2, rest - rest // 2


def template(n, w, tag):
    nets, half, ninst = counts(n, w)
    out = ["description: bench - %d networks + subnets, %d keypairs and %d instances"
           % (nets, half, ninst), "resources:"]
    for i in range(nets):
        out.append("  n%d: {type: network, properties: {name: %s-n%d}}" % (i, tag, i))
        out.append("  s%d: {type: subnet, properties: {network: {ref: n%d}, cidr: 10.%d.%d.0/24}}"
                   % (i, i, 100 + i // 256, i % 256))
    for i in range(half):
        out.append("  k%d: {type: keypair, properties: {name: %s-k%d, public_key: \"%s\"}}" % (
            i, tag, i, PUBKEY))
    for i in range(ninst):
        nic = ", networks: [{subnet: {ref: s%d}}]" % (i % nets) if nets else ""
        out.append("  i%d: {type: instance, properties: {name: %s-i%d, flavor: bench, image: "
                   "bench, keypair: {ref: k%d}%s}}" % (i, tag, i, i % max(half, 1), nic))
    return "\n".join(out) + "\n"


def sh(*argv):
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


def netns_cleanup(spaces):
    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True,
                         text=True).stdout.strip()
    for name in sorted(x["name"] for x in json.loads(out)) if out else []:
        if any(name == ns or name.startswith(ns + "-") for ns in spaces):
            pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True,
                                  text=True).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), 9)
                except ProcessLookupError:
                    pass
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def wait(what, fn, timeout=600, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for " + what)
        time.sleep(step)


def live_instances(c):
    out, marker = [], None
    while True:
        page = c.get("/v1/instances?limit=1000" + ("&marker=" + marker if marker else "")).json()
        out += [i for i in page["instances"] if i["status"] not in ("deleted",)]
        marker = page.get("next_marker")
        if not marker:
            return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--resources", type=int, default=200)
    ap.add_argument("--networks", type=int, default=None)
    ap.add_argument("--hosts", type=int, default=2)
    args = ap.parse_args()
    n = args.resources
    w = n // 10 if args.networks is None else args.networks
    if n - 2 * w < 2 or w > 200:
        ap.error("--networks leaves too few resources for keypairs and instances")
    nets, half, ninst = counts(n, w)
    spaces = ["bst%d-%d" % (os.getpid() % 10000, i) for i in range(args.hosts)]
    tmp = tempfile.mkdtemp(prefix="nubo-bench-stack-")
    # the fake hosts offer their machine's CPUs: overcommit enough for N/2
    nubod = conftest.Nubod(os.path.join(tmp, "ctrl"),
                           ["--log-level", "warn", "--cpu-ratio", "64"])
    os.makedirs(nubod.dir, exist_ok=True)
    nubod.start()
    hosts = []
    try:
        for ns in spaces:
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        hosts = [start_fake_hostd(tmp, "fake-%d" % i, nubod, spaces[i])
                 for i in range(args.hosts)]
        admin = nubod.admin()
        wait("hosts up", lambda: all(h.poll() is None for h in hosts) and sum(
            h["state"] == "up" for h in admin.get("/v1/hosts").json()["hosts"]) >= args.hosts, 60)
        r = admin.post("/v1/flavors", {"name": "bench", "vcpus": 1, "ram_mib": 64,
                                       "disk_gib": 1})
        assert r.status_code == 201, r.text
        disk = os.path.join(tmp, "bench.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "64M"], check=True)
        r = admin.post("/v1/images", {"name": "bench", "visibility": "public", "file": disk})
        assert r.status_code == 201, r.text
        t = conftest.make_tenant(nubod, admin)
        pid = admin.get("/v1/projects/" + t.project).json()["id"]
        r = admin.put("/v1/projects/%s/quota" % pid, {"instances": 10000, "vcpus": 10000,
                                                     "ram_mib": 10 ** 8, "disk_gib": 10 ** 6})
        assert r.status_code == 200, r.text

        tmpl = template(n, w, "st")
        plans = []
        for _ in range(3):
            t0 = time.monotonic()
            r = t.post("/v1/stacks/plan", {"template": tmpl})
            plans.append(time.monotonic() - t0)
            assert r.status_code == 200, r.text
            assert r.json()["summary"]["create"] == n, r.json()["summary"]

        t0 = time.monotonic()
        r = t.post("/v1/stacks", {"name": "bench", "template": tmpl})
        assert r.status_code == 202, r.text
        sid = r.json()["stack"]["id"]
        s = wait("the apply", lambda: (lambda s: s if s["status"] != "applying" else None)(
            t.get("/v1/stacks/" + sid).json()))
        apply_s = time.monotonic() - t0
        assert s["status"] == "complete", s
        assert len(live_instances(t)) == ninst

        t0 = time.monotonic()
        r = t.post("/v1/stacks/plan", {"template": tmpl, "stack": sid})
        replan_s = time.monotonic() - t0
        assert r.json()["summary"]["no-change"] == n, r.json()["summary"]

        t0 = time.monotonic()
        assert t.delete("/v1/stacks/" + sid).status_code == 202
        wait("the destroy", lambda: t.get("/v1/stacks/" + sid).status_code == 404)
        destroy_s = time.monotonic() - t0
        wait("instances deleted", lambda: live_instances(t) == [], 300, 0.2)

        # the same resources, one request after the other
        t0 = time.monotonic()
        net_ids = []
        for i in range(nets):
            r = t.post("/v1/networks", {"name": "sc-n%d" % i})
            assert r.status_code == 201, r.text
            r = t.post("/v1/subnets", {"network": r.json()["id"],
                                       "cidr": "10.%d.%d.0/24" % (100 + i // 256, i % 256)})
            assert r.status_code == 201, r.text
            net_ids.append(r.json()["network_id"])
        for i in range(half):
            r = t.post("/v1/keypairs", {"name": "sc-k%d" % i, "public_key": PUBKEY})
            assert r.status_code == 201, r.text
        for i in range(ninst):
            body = {"name": "sc-i%d" % i, "flavor": "bench", "image": "bench",
                    "keypair": "sc-k%d" % (i % half)}
            if nets:
                body["networks"] = [{"network": net_ids[i % nets]}]
            r = t.post("/v1/instances", body)
            assert r.status_code == 202, r.text
        script_s = time.monotonic() - t0

        print("stack of %d resources (%d networks + %d subnets, %d keypairs, %d instances)"
              " on %d fake-driver hosts" % (n, nets, nets, half, ninst, args.hosts))
        print("  plan (new stack), median of 3:    %7.3f s" % statistics.median(plans))
        print("  apply (POST until complete):      %7.3f s" % apply_s)
        print("  plan again (all no-change, live): %7.3f s" % replan_s)
        print("  destroy (DELETE until gone):      %7.3f s" % destroy_s)
        print("  script, sequential POSTs:         %7.3f s" % script_s)
        print("  ratio apply / script:             %7.2f" % (apply_s / script_s))
    finally:
        for h in hosts:
            h.terminate()
        for h in hosts:
            try:
                h.wait(timeout=30)
            except subprocess.TimeoutExpired:
                h.kill()
                h.wait()
        nubod.stop()
        # dnsmasq of the agents (their directories are in its command line)
        for pid in os.listdir("/proc"):
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    if tmp.encode() in f.read() and int(pid) != os.getpid():
                        os.kill(int(pid), 9)
            except (OSError, ValueError):
                pass
        netns_cleanup(spaces)
        if os.environ.get("NUBO_BENCH_KEEP") is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
