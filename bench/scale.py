#!/usr/bin/python3
"""Benchmark: what does autoscaling add to starting an instance?

In one run, alternately, with one guest of the group burning a vCPU in the
background both times (so both boots compete for the same CPU):
  plain  POST /v1/instances (in another project) -> the guest's NUBO-READY;
  alarm  an alarm "avg cpu > 50 over 2 s" on the group's project goes to
         ALARM (the time nubod records in the alarm's history) -> its
         "autoscale" hook wakes the scale pass -> a step policy (+1) raises
         desired -> the group launches -> the new guest's NUBO-READY.
Both are timed by polling the console files every 5 ms; the alarm's time
comes from nubod (same host, same wall clock).  Prints both medians and the
ratio alarm/plain: what the scaling machinery (hook, pass, launch) adds on
top of a boot, and the alarm -> launch part alone (the group's "launch"
activity time).

usage: bench/scale.py [--runs N]   (after scripts/build.sh and
       images/build-guest.sh)
"""
import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))
os.environ.setdefault("NUBO_BUILD", "build")
import conftest  # noqa: E402
import boot  # noqa: E402  (wait_marker)
import cloud  # noqa: E402  (start_hostd)

IMG = os.path.join(os.environ.get("NUBO_IMAGES", os.path.join(ROOT, "build", "images")),
                   "nubo-tiny")
BURN = "#!/bin/sh\n(while :; do :; done) &\necho BURNING\n"


def wall(ts):
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def wait(what, fn, timeout=120, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    raise RuntimeError("timed out waiting for " + what)


def wall_marker(path, timeout=120):
    """boot.wait_marker, as wall-clock time."""
    t = boot.wait_marker(path, 1, timeout)
    return time.time() - (time.monotonic() - t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nubo-bench-scale-")
    n = conftest.Nubod(tmp, ["--log-level", "warn"]).start()
    hostd, hdir = cloud.start_hostd(tmp, "host-a", n, extra=["--sample-ms", "1000"])
    try:
        admin = n.admin()
        with open(IMG + ".cmdline") as f:
            cmdline = f.read().strip()
        r = admin.post("/v1/images", {"name": "nubo-tiny", "visibility": "public",
                                      "file": IMG + ".qcow2", "kernel_file": IMG + ".kernel",
                                      "initrd_file": IMG + ".initrd", "cmdline": cmdline})
        assert r.status_code == 201, r.text
        r = admin.post("/v1/flavors", {"name": "tiny", "vcpus": 1, "ram_mib": 192,
                                       "disk_gib": 1})
        assert r.status_code == 201, r.text
        wait("the host", lambda: [h for h in admin.get("/v1/hosts").json()["hosts"]
                                  if h["state"] == "up"], 30)
        a = conftest.make_tenant(n, admin)
        b = conftest.make_tenant(n, admin)
        r = a.post("/v1/launch-templates", {"name": "burn", "flavor": "tiny",
                                            "image": "nubo-tiny", "user_data": BURN})
        assert r.status_code == 201, r.text
        console = lambda iid: os.path.join(hdir, "state", "vms", iid, "console.log")
        plain, scaled, to_launch = [], [], []
        for i in range(args.runs + 1):
            # the burner: a group of 1
            r = a.post("/v1/scaling-groups", {"name": "g%d" % i, "template": "burn",
                                              "min_size": 1, "max_size": 2})
            assert r.status_code == 201, r.text
            gid = r.json()["id"]
            first = wait("the burner", lambda: a.get("/v1/scaling-groups/" + gid).json()[
                "instances"])[0]["id"]
            wall_marker(console(first))
            # plain create, in the other project, while the burner burns
            t0 = time.time()
            r = b.post("/v1/instances", {"name": "p%d" % i, "flavor": "tiny",
                                         "image": "nubo-tiny"})
            assert r.status_code == 202, r.text
            pid = r.json()["instances"][0]["id"]
            tp = wall_marker(console(pid)) - t0
            assert b.delete("/v1/instances/" + pid).status_code == 202
            wait("plain deleted", lambda: b.get("/v1/instances/" + pid).json()["status"]
                 == "deleted")
            # the alarm and its step policy
            r = a.post("/v1/alarms", {"name": "hot%d" % i, "metric": "cpu",
                                      "comparison": "gt", "threshold": 50, "window_s": 2,
                                      "hook": "autoscale"})
            assert r.status_code == 201, r.text
            aid = r.json()["id"]
            r = a.post("/v1/scaling-policies", {"name": "out", "group": gid, "kind": "step",
                                                "alarm": aid, "cooldown_s": 3600, "steps": [
                                                    {"lower": 0, "adjustment": 1}]})
            assert r.status_code == 201, r.text
            new = wait("the launch", lambda: [m["id"] for m in a.get(
                "/v1/scaling-groups/" + gid).json()["instances"] if m["id"] != first])[0]
            tr = wall_marker(console(new))
            fired = [h for h in a.get("/v1/alarms/%s/history" % aid).json()["history"]
                     if h["kind"] == "state" and h["new_state"] == "ALARM"][0]["at"]
            ts = tr - wall(fired)
            launched = [x for x in a.get("/v1/scaling-groups/%s/activities" % gid).json()[
                "activities"] if x["kind"] == "launch" and x["instance_id"] == new][0]["at"]
            tl = wall(launched) - wall(fired)
            assert a.delete("/v1/scaling-groups/" + gid).status_code == 204
            assert a.delete("/v1/alarms/" + aid).status_code == 204
            wait("group deleted", lambda: not a.get("/v1/instances").json()["instances"])
            if i == 0:
                print("warm-up (image pushed to the host): plain %.3f s, alarm %.3f s"
                      % (tp, ts), flush=True)
                continue
            plain.append(tp)
            scaled.append(ts)
            to_launch.append(tl)
            print("run %d: plain create -> ready %.3f s; alarm -> launch %.3f s -> new instance "
                  "ready %.3f s" % (i, tp, tl, ts), flush=True)
        mp, ms = statistics.median(plain), statistics.median(scaled)
        print("median of %d: plain POST /v1/instances -> NUBO-READY %.3f s; alarm firing -> "
              "the group's new instance NUBO-READY %.3f s (of which alarm -> launch %.3f s); "
              "ratio %.3f" % (args.runs, mp, ms, statistics.median(to_launch), ms / mp))
    finally:
        hostd.terminate()
        hostd.wait()
        n.stop()
        for p in subprocess.run(["pgrep", "-f", os.path.join(tmp, "host-a")],
                                capture_output=True, text=True).stdout.split():
            subprocess.run(["kill", "-9", p])


if __name__ == "__main__":
    main()
