#!/usr/bin/python3
"""Benchmark: the cloud control plane.

(2) Time from POST /v1/instances to the guest's NUBO-READY line, against a
    plain qemu-system-x86_64 booting the same image with the same
    acceleration and the same kind of NIC (user-mode, so both do DHCP),
    alternately in one run; prints both medians and the ratio.
    Both are timed by polling their console file every 5 ms.
(4) Scheduler placements per second over 1,000 simulated hosts (the
    scheduler's own benchmark in tests/unit/test_sched).
(5) nubod's CPU and memory with N simulated hosts heartbeating (nubo-hostd
    with the fake driver, which only pretends to run VMs), against the same
    nubod idle with no host, over the same interval.

usage: bench/cloud.py [--runs N] [--hosts N] [--seconds S]
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
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))
os.environ.setdefault("NUBO_BUILD", "build")
import conftest  # noqa: E402
import boot  # noqa: E402  (baseline_setup, baseline_run, wait_marker)

IMG = os.path.join(ROOT, "build", "images", "nubo-tiny")
HZ = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def start_hostd(tmp, name, nubod, driver="qemu", extra=()):
    d = os.path.join(tmp, name)
    os.makedirs(os.path.join(d, "images"), exist_ok=True)
    sock = os.path.join(d, "hostd.sock")
    args = [conftest.HOSTD, "--state-dir", os.path.join(d, "state"), "--images-dir",
            os.path.join(d, "images"), "--socket", sock, "--controller", nubod.base,
            "--join-token-file", os.path.join(nubod.dir, "join-token"), "--advertise",
            "unix:" + sock, "--name", name, "--driver", driver, "--log-level", "warn"]
    log = open(os.path.join(d, "hostd.log"), "ab")
    return subprocess.Popen(args + list(extra), stdout=log, stderr=subprocess.STDOUT), d


def bench_boot(tmp, runs):
    os.makedirs(os.path.join(tmp, "boot"))
    n = conftest.Nubod(os.path.join(tmp, "boot"), ["--log-level", "warn", "--reconcile-ms",
                                                  "200"]).start()
    hostd, hdir = start_hostd(tmp, "host-a", n)
    try:
        admin = n.admin("demo")
        with open(IMG + ".cmdline") as f:
            cmdline = f.read().strip()
        r = admin.post("/v1/images", {"name": "nubo-tiny", "visibility": "public",
                                      "file": IMG + ".qcow2", "kernel_file": IMG + ".kernel",
                                      "initrd_file": IMG + ".initrd", "cmdline": cmdline})
        assert r.status_code == 201, r.text
        r = admin.post("/v1/flavors", {"name": "tiny", "vcpus": 1, "ram_mib": 256, "disk_gib": 1})
        assert r.status_code == 201, r.text
        deadline = time.time() + 30
        while not [h for h in admin.get("/v1/hosts").json()["hosts"] if h["state"] == "up"]:
            assert time.time() < deadline, "the host did not register"
            time.sleep(0.1)
        accel = [h for h in admin.get("/v1/hosts").json()["hosts"]][0]["accel"]
        argv, base_console = boot.baseline_setup(tmp, accel, nic=True)
        # warm-up: the first instance also pushes the image to the host
        times_api, times_base = [], []
        for i in range(runs + 1):
            tb = boot.baseline_run(argv, base_console)
            t0 = time.monotonic()
            r = admin.post("/v1/instances", {"name": "b%d" % i, "flavor": "tiny",
                                             "image": "nubo-tiny"})
            assert r.status_code == 202, r.text
            iid = r.json()["instances"][0]["id"]
            console = os.path.join(hdir, "state", "vms", iid, "console.log")
            t1 = boot.wait_marker(console, 1)
            ta = t1 - t0
            r = admin.delete("/v1/instances/" + iid)
            assert r.status_code == 202, r.text
            while admin.get("/v1/instances/" + iid).json()["status"] != "deleted":
                time.sleep(0.1)
            if i == 0:
                print("warm-up (image pushed to the host): API %.3f s, plain qemu %.3f s"
                      % (ta, tb))
                continue
            times_api.append(ta)
            times_base.append(tb)
            print("run %d: plain qemu %.3f s, POST /v1/instances %.3f s" % (i, tb, ta),
                  flush=True)
        ma, mb = statistics.median(times_api), statistics.median(times_base)
        print("POST /v1/instances to NUBO-READY, median of %d: %.3f s; plain qemu %.3f s; "
              "ratio %.3f (%s)" % (runs, ma, mb, ma / mb, accel))
    finally:
        hostd.terminate()
        hostd.wait()
        n.stop()
        for pid in subprocess.run(["pgrep", "-f", os.path.join(tmp, "host-a")],
                                  capture_output=True, text=True).stdout.split():
            subprocess.run(["kill", "-9", pid])


def bench_sched():
    exe = os.path.join(ROOT, "build", "tests", "unit", "test_sched")
    out = subprocess.run([exe], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if "placements" in line and "/s" in line:
            print(line.strip())


def bench_hosts(tmp, count, seconds):
    os.makedirs(os.path.join(tmp, "scale"))
    n = conftest.Nubod(os.path.join(tmp, "scale"), ["--log-level", "warn"]).start()
    procs = []
    try:
        pid = n.proc.pid
        c0 = cpu_seconds(pid)
        time.sleep(seconds)
        idle_cpu = (cpu_seconds(pid) - c0) / seconds * 100
        idle_rss = boot.rss_kib(pid)
        t0 = time.monotonic()
        for i in range(count):
            p, _ = start_hostd(tmp, "sim-%04d" % i, n, driver="fake",
                               extra=["--accel", "tcg"])
            procs.append(p)
        admin = n.admin()
        while True:
            hosts = []
            marker = None
            while True:
                q = "/v1/hosts?limit=1000" + ("&marker=" + marker if marker else "")
                page = admin.get(q).json()
                hosts += page["hosts"]
                marker = page["next_marker"]
                if not marker:
                    break
            up = sum(1 for h in hosts if h["state"] == "up")
            if up >= count:
                break
            if time.monotonic() - t0 > 300:
                raise RuntimeError("only %d of %d hosts registered" % (up, count))
            time.sleep(1)
        print("%d simulated hosts registered in %.1f s" % (count, time.monotonic() - t0))
        time.sleep(3)
        c0 = cpu_seconds(pid)
        time.sleep(seconds)
        busy_cpu = (cpu_seconds(pid) - c0) / seconds * 100
        busy_rss = boot.rss_kib(pid)
        print("nubod idle, no hosts:        CPU %5.1f%% of one core, RSS %d KiB" % (idle_cpu,
                                                                                 idle_rss))
        print("nubod with %4d hosts (heartbeat every 3 s, reconcile every 2 s): CPU %5.1f%% of "
              "one core, RSS %d KiB" % (count, busy_cpu, busy_rss))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        n.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--only", choices=["boot", "sched", "hosts"], help="run one part only")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nubo-bench-cloud-")
    try:
        if args.only in (None, "boot"):
            print("== (2) boot through the API vs plain QEMU")
            bench_boot(tmp, args.runs)
        if args.only in (None, "sched"):
            print("== (4) scheduler")
            bench_sched()
        if args.only in (None, "hosts"):
            print("== (5) controller under %d heartbeating hosts" % args.hosts)
            bench_hosts(tmp, args.hosts, args.seconds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
