#!/usr/bin/python3
"""Benchmark: stacks (src/stack) against a script.

Plan and apply time of one stack of N resources (N/2 keypairs and N/2
instances, each instance using its own keypair through {ref}) on hosts run
by nubo-hostd with the fake driver (it only pretends to run VMs), against
the same resources created one after the other through the API by this
script (POST /v1/keypairs then POST /v1/instances, each accepted = made,
which is when a stack counts an instance as created too).  Prints plan time
(median of 3), apply time (POST /v1/stacks until the stack is complete),
destroy time, the script's time, and the ratio apply / script.

usage: bench/stack.py [--resources N] [--hosts H]
Needs a release build (scripts/build.sh).  Everything runs on loopback, in
a temporary directory removed at the end.
"""
import argparse
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


def start_fake_hostd(tmp, name, nubod):
    d = os.path.join(tmp, name)
    os.makedirs(os.path.join(d, "images"), exist_ok=True)
    sock = os.path.join(d, "hostd.sock")
    log = open(os.path.join(d, "hostd.log"), "ab")
    p = subprocess.Popen([conftest.HOSTD, "--state-dir", os.path.join(d, "state"),
                          "--images-dir", os.path.join(d, "images"), "--socket", sock,
                          "--controller", nubod.base, "--join-token-file",
                          os.path.join(nubod.dir, "join-token"), "--advertise", "unix:" + sock,
                          "--name", name, "--driver", "fake", "--accel", "tcg",
                          "--heartbeat-ms", "1000", "--log-level", "warn"],
                         stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return p


def template(n, tag):
    half = n // 2
    out = ["description: bench - %d keypairs and %d instances" % (half, n - half), "resources:"]
    for i in range(half):
        out.append("  k%d: {type: keypair, properties: {name: %s-k%d, public_key: \"%s\"}}" % (
            i, tag, i, PUBKEY))
    for i in range(n - half):
        out.append("  i%d: {type: instance, properties: {name: %s-i%d, flavor: bench, image: "
                   "bench, keypair: {ref: k%d}}}" % (i, tag, i, i % max(half, 1)))
    return "\n".join(out) + "\n"


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
    ap.add_argument("--hosts", type=int, default=2)
    args = ap.parse_args()
    n = args.resources
    tmp = tempfile.mkdtemp(prefix="nubo-bench-stack-")
    # the fake hosts offer their machine's CPUs: overcommit enough for N/2
    nubod = conftest.Nubod(os.path.join(tmp, "ctrl"),
                           ["--log-level", "warn", "--cpu-ratio", "64"])
    os.makedirs(nubod.dir, exist_ok=True)
    nubod.start()
    hosts = []
    try:
        hosts = [start_fake_hostd(tmp, "fake-%d" % i, nubod) for i in range(args.hosts)]
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

        tmpl = template(n, "st")
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
        assert len(live_instances(t)) == n - n // 2

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
        half = n // 2
        t0 = time.monotonic()
        for i in range(half):
            r = t.post("/v1/keypairs", {"name": "sc-k%d" % i, "public_key": PUBKEY})
            assert r.status_code == 201, r.text
        for i in range(n - half):
            r = t.post("/v1/instances", {"name": "sc-i%d" % i, "flavor": "bench",
                                         "image": "bench", "keypair": "sc-k%d" % (i % half)})
            assert r.status_code == 202, r.text
        script_s = time.monotonic() - t0

        print("stack of %d resources (%d keypairs, %d instances) on %d fake-driver hosts"
              % (n, half, n - half, args.hosts))
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
        if os.environ.get("NUBO_BENCH_KEEP") is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
