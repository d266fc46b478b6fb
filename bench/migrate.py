#!/usr/bin/python3
"""Benchmark: live migration through nubo against QEMU's own migrate by hand,
and host failure to an evacuated instance running (issue 15).

Two simulated hosts (network namespaces joined by a veth underlay, as
tests/e2e/test_migrate.py makes them), one nubod (--host-down-ms 10000),
two nubo-hostd, release builds by default.  The guest is nubo-tiny with
256 MiB of RAM under TCG; its user-data runs a clock loop that prints a
numbered line on the serial console every 20 ms.  The bench reads the
console files of both hosts every 2 ms and notes when each line arrives:
the guest-visible downtime of a migration is the largest gap between two
consecutive lines around it (the nominal gap is 20 ms; the guest's own
clock stops with it, so the gap is measured from outside, as a user
watching the guest would see it).

  nubo      POST /v1/instances/{id}/actions {migrate, host} to the instance
            running on the target (wall clock), QEMU's total time and pause
            (query-migrate), RAM and disk bytes moved, guest-visible gap;
  baseline  the same guest booted by hand with plain qemu-system-x86_64 in
            the same namespaces, destination started with -incoming on the
            underlay, the same capabilities and parameters set over QMP as
            the agent sets them (block migration of the qcow2 overlay,
            auto-converge, downtime-limit 300 ms), migrate, query-migrate
            polled until completed: the same figures.

Runs alternate (baseline, nubo, back and forth), then print the medians
and the ratios nubo/baseline (the issue's goal: total time <= 1.1).

Last, host failure: an instance with ha: true on host-a, then host-a's
agent and QEMUs are killed -9; the time until the instance is `running`
on host-b (detect after --host-down-ms, fence, place, create) and until
its guest's NUBO-READY (the goal: < 30 s to running).

usage: bench/migrate.py [--runs N] [--no-ha]    (as root, after scripts/build.sh
       and images/build-guest.sh; NUBO_BUILD=build-asan to bench that build)
"""
import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
os.environ.setdefault("NUBO_BUILD", "build")
from cloudfix import (CloudHostd, harness, register_tiny, wait_for,  # noqa: E402
                      wait_hosts_up)  # the e2e harness: nubod and joined agents
from conftest import IMAGES, READY  # noqa: E402
from twohosts import Net  # noqa: E402
from test_network_host import kill_matching  # noqa: E402

UNDERLAY = ("10.99.16.1", "10.99.16.2")
BASE_PORT = 49152 + secrets.randbelow(4000)
DOWN_MS = 10000
TICK_S = 0.02
CLOCK = """#!/bin/sh
(i=0; while :; do i=$((i + 1)); echo "TICK $i"; sleep %s; done) &
""" % TICK_S
TICK_RE = re.compile(rb"TICK (\d+)\r?\n")
FLAVOR = {"name": "bench256", "vcpus": 1, "ram_mib": 256, "disk_gib": 1}


class Ticks:
    """Notes the arrival time of each TICK line in any of the given console
    files (read every 2 ms, from where each file was last read)."""

    def __init__(self, paths):
        self.paths, self.seen, self.stop = list(paths), {}, threading.Event()
        self.pos = {p: 0 for p in self.paths}
        self.rest = {p: b"" for p in self.paths}
        self.ino = {}
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            now = time.monotonic()
            for p in self.paths:
                try:
                    with open(p, "rb") as f:
                        st = os.fstat(f.fileno())
                        if (st.st_ino, st.st_dev) != self.ino.get(p) or st.st_size < self.pos[p]:
                            # made again (the VM came back to this host): from its start
                            self.ino[p], self.pos[p], self.rest[p] = (st.st_ino, st.st_dev), 0, b""
                        f.seek(self.pos[p])
                        data = f.read()
                except FileNotFoundError:
                    continue
                if not data:
                    continue
                self.pos[p] += len(data)
                buf = self.rest[p] + data
                end = buf.rfind(b"\n") + 1
                self.rest[p] = buf[end:]
                for m in TICK_RE.finditer(buf[:end]):
                    self.seen.setdefault(int(m.group(1)), now)
            time.sleep(0.002)

    def last(self):
        return max(self.seen) if self.seen else 0

    def wait(self, n, timeout=120):
        wait_for("TICK %d" % n, lambda: self.last() >= n, timeout=timeout, step=0.05)

    def gap(self, t0, t1):
        """The largest gap between consecutive ticks that arrived in [t0, t1]."""
        ts = sorted(t for t in self.seen.values() if t0 <= t <= t1)
        return max((b - a for a, b in zip(ts, ts[1:])), default=float("nan"))

    def close(self):
        self.stop.set()
        self.thread.join()


class Qmp:
    def __init__(self, path, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.f = self.s.makefile("rwb")
        self.f.readline()                       # the greeting
        self.cmd("qmp_capabilities")

    def cmd(self, name, args=None):
        msg = {"execute": name}
        if args is not None:
            msg["arguments"] = args
        self.f.write(json.dumps(msg).encode() + b"\n")
        self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if "event" in r:
                continue
            if "error" in r:
                raise RuntimeError("QMP %s: %s" % (name, r["error"]))
            return r["return"]

    def close(self):
        self.f.close()
        self.s.close()


def ok(r, status=None):
    assert r.status_code in ((status,) if status else (200, 201, 202, 204)), r.text
    return r.json() if r.content else None


class Baseline:
    """The same guest under plain QEMU: one source QEMU in host-a's
    namespace, a fresh destination with -incoming in the other for each
    migration, both with their own overlay over the same base image."""

    def __init__(self, tmp, nss, accel):
        self.d = os.path.join(tmp, "baseline")
        self.nss, self.accel, self.procs, self.n = nss, accel, {}, 0
        cd = os.path.join(self.d, "cd", "openstack", "latest")
        os.makedirs(cd)
        with open(os.path.join(cd, "meta_data.json"), "w") as f:
            f.write('{"uuid": "00000000-0000-4000-8000-000000000000", "name": "base", '
                    '"hostname": "base", "public_keys": {}}')
        with open(os.path.join(cd, "user_data"), "w") as f:
            f.write(CLOCK)
        self.iso = os.path.join(self.d, "config.iso")
        subprocess.run(["genisoimage", "-quiet", "-o", self.iso, "-V", "config-2", "-r", "-J",
                        os.path.join(self.d, "cd")], check=True)
        with open(os.path.join(IMAGES, "nubo-tiny.cmdline")) as f:
            self.cmdline = f.read().strip()
        self.consoles = [os.path.join(self.d, "console-%d.log" % i) for i in range(64)]

    def argv(self, side, incoming=None):
        """QEMU's command line for a copy on side 0 or 1 (its own overlay,
        console file and QMP socket)."""
        self.n += 1
        overlay = os.path.join(self.d, "root-%d.qcow2" % self.n)
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                        os.path.join(IMAGES, "nubo-tiny.qcow2"), overlay, "1G"], check=True)
        qmp = os.path.join(self.d, "qmp-%d.sock" % self.n)
        argv = ["ip", "netns", "exec", self.nss[side], "qemu-system-x86_64", "-nodefaults",
                "-no-user-config", "-display", "none", "-machine", "q35", "-accel", self.accel,
                "-cpu", "max" if self.accel == "tcg" else "host", "-smp", "1", "-m", "256",
                "-kernel", os.path.join(IMAGES, "nubo-tiny.kernel"),
                "-initrd", os.path.join(IMAGES, "nubo-tiny.initrd"), "-append", self.cmdline,
                "-drive", "file=%s,if=none,id=root,format=qcow2,node-name=root0" % overlay,
                "-device", "virtio-blk-pci,drive=root",
                "-drive", "file=%s,if=none,id=cfg,format=raw,readonly=on" % self.iso,
                "-device", "virtio-blk-pci,drive=cfg",
                "-chardev", "file,id=con,path=%s,append=on" % self.consoles[self.n],
                "-serial", "chardev:con", "-qmp", "unix:%s,server=on,wait=off" % qmp]
        if incoming:
            argv += ["-incoming", incoming]
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        return p, Qmp(qmp), self.consoles[self.n]

    def boot(self):
        self.side = 0
        self.proc, self.qmp, console = self.argv(0)
        self.ticks = Ticks(self.consoles[1:])
        wait_for("the baseline guest's clock", lambda: self.ticks.last() >= 10, timeout=180)
        return console

    def migrate(self):
        """One migration to the other side; returns the figures."""
        to = 1 - self.side
        port = BASE_PORT + self.n
        uri = "tcp:%s:%d" % (UNDERLAY[to], port)
        self.ticks.wait(self.ticks.last() + 10)
        # From the destination's launch, as nubo's figure starts before its
        # target QEMU is started.
        t0 = time.monotonic()
        dproc, dqmp, _ = self.argv(to, incoming=uri)
        dqmp.cmd("migrate-set-capabilities", {"capabilities": [
            {"capability": "events", "state": True}]})
        caps = [{"capability": c, "state": True} for c in ("block", "auto-converge", "events")]
        self.qmp.cmd("migrate-set-capabilities", {"capabilities": caps})
        self.qmp.cmd("migrate-set-parameters", {"downtime-limit": 300, "block-incremental": True,
                                                "max-bandwidth": 1 << 30})
        self.qmp.cmd("migrate", {"uri": uri})
        while True:
            q = self.qmp.cmd("query-migrate")
            if q.get("status") in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.01)
        wait_for("the destination running", lambda: dqmp.cmd("query-status")["status"] ==
                 "running", timeout=60, step=0.01)
        t1 = time.monotonic()
        assert q["status"] == "completed", q
        last = self.ticks.last()
        self.ticks.wait(last + 25)
        out = {"wall_s": t1 - t0, "total_ms": q.get("total-time"), "downtime_ms":
               q.get("downtime"), "ram": q.get("ram", {}).get("transferred", 0),
               "disk": q.get("disk", {}).get("transferred", 0),
               "gap_s": self.ticks.gap(t0, time.monotonic())}
        self.qmp.cmd("quit")
        self.qmp.close()
        self.proc.wait()
        self.proc, self.qmp, self.side = dproc, dqmp, to
        return out

    def close(self):
        if getattr(self, "ticks", None):
            self.ticks.close()
        if getattr(self, "proc", None):
            self.proc.kill()
            self.proc.wait()


def nubo_migrate(admin, iid, target, ticks):
    ticks.wait(ticks.last() + 10)
    t0 = time.monotonic()
    ok(admin.post("/v1/instances/%s/actions" % iid, {"action": "migrate", "host": target}), 202)
    def ended():
        i = ok(admin.get("/v1/instances/" + iid))
        if i["status"] == "running" and i["host"]["name"] == target:
            return True
        m = ok(admin.get("/v1/instances/%s/migrations" % iid))["migrations"][0]
        if m["state"] in ("failed", "cancelled"):
            raise RuntimeError("the migration to %s %s: %s" % (target, m["state"], m["error"]))
        return False
    wait_for("running on " + target, ended, timeout=300, step=0.01)
    t1 = time.monotonic()
    m = ok(admin.get("/v1/instances/%s/migrations" % iid))["migrations"][0]
    assert m["state"] == "completed", m
    ticks.wait(ticks.last() + 25)
    p = m.get("progress") or {}
    return {"wall_s": t1 - t0, "total_ms": m["total_ms"], "downtime_ms": m["downtime_ms"],
            "ram": (p.get("ram") or {}).get("transferred_bytes", 0),
            "disk": (p.get("disk") or {}).get("transferred_bytes", 0),
            "gap_s": ticks.gap(t0, time.monotonic())}


def show(who, i, r):
    print("run %d %-8s: %6.2f s wall, QEMU %5s ms in all, pause %4s ms, guest gap %4.0f ms, "
          "RAM %5.1f MiB, disk %5.1f MiB" % (
              i, who, r["wall_s"], r["total_ms"], r["downtime_ms"], r["gap_s"] * 1000,
              r["ram"] / 2**20, r["disk"] / 2**20), flush=True)


def median(runs, key):
    vals = [r[key] for r in runs if r[key] is not None]
    return statistics.median(vals) if vals else float("nan")


def ha(nubod, admin, tenant, hosts):
    """host-a dies with an ha instance on it: seconds to running on host-b
    and to its guest's ready line."""
    a, b = hosts
    i = ok(tenant.post("/v1/instances", {"name": "ha1", "flavor": "bench256",
                                         "image": "nubo-tiny", "networks": [{"network": "net"}],
                                         "ha": True}), 202)["instances"][0]
    iid = i["id"]
    home = i["host"]["name"]
    victim = a if home == a.name else b
    wait_for("ha1 ready", lambda: READY in tenant.get(
        "/v1/instances/%s/console?offset=0&limit=1048576" % iid).text, timeout=240, step=0.5)
    pids = victim.qemu_pids()
    t0 = time.monotonic()
    victim.proc.kill()
    victim.proc.wait()
    victim.proc = None
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_for("ha1 running elsewhere", lambda: (lambda x: x["status"] == "running" and
             x["host"]["name"] != home)(ok(admin.get("/v1/instances/" + iid))),
             timeout=180, step=0.1)
    t_running = time.monotonic() - t0
    # The console read through the API is the new host's: a new boot's line.
    wait_for("ha1 ready again", lambda: READY in tenant.get(
        "/v1/instances/%s/console?offset=0&limit=1048576" % iid).text, timeout=240, step=0.2)
    t_ready = time.monotonic() - t0
    print("host failure (kill -9 of %s's agent and QEMUs) -> ha instance running on the "
          "other host: %.1f s (goal < 30 s; --host-down-ms %d), -> its guest ready: %.1f s"
          % (home, t_running, DOWN_MS, t_ready), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=4, help="migrations of each kind (default 4)")
    ap.add_argument("--no-ha", action="store_true", help="skip the host-failure part")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/migrate.py: run it as root (it makes network namespaces)")
    tmp = tempfile.mkdtemp(prefix="nubo-bench-mig-")
    net, nubod, hosts, base = Net("bm", UNDERLAY), None, [], None
    try:
        net.setup()
        nubod = harness.Nubod(tmp, ["--host-down-ms", str(DOWN_MS)]).start()
        for name, ns, ul in (("host-a", net.ns[0], UNDERLAY[0]),
                             ("host-b", net.ns[1], UNDERLAY[1])):
            h = CloudHostd(tmp, nubod, name)
            h.args += ["--netns", ns, "--underlay-ip", ul, "--log-level", "info"]
            hosts.append(h)
            h.start()
        admin = nubod.admin()
        hs = wait_hosts_up(admin, 2, timeout=30, also=lambda h: h.get("underlay_ip"))
        accel = hs[0]["accel"] if "accel" in hs[0] else "tcg"
        register_tiny(admin)
        ok(admin.post("/v1/flavors", FLAVOR), 201)
        t = harness.make_tenant(nubod, admin)
        ok(t.post("/v1/networks", {"name": "net"}), 201)
        ok(t.post("/v1/subnets", {"network": "net", "cidr": "10.6.0.0/24"}), 201)
        i = ok(t.post("/v1/instances", {"name": "mig", "flavor": "bench256",
                                        "image": "nubo-tiny", "networks": [{"network": "net"}],
                                        "user_data": CLOCK}), 202)["instances"][0]
        iid, where = i["id"], i["host"]["name"]
        ticks = Ticks([os.path.join(h.state, "vms", iid, "console.log") for h in hosts])
        wait_for("the nubo guest's clock", lambda: ticks.last() >= 10, timeout=240)
        print("guest: nubo-tiny, 256 MiB, 1 vCPU, %s; %d migrations of each kind" % (
            accel, args.runs), flush=True)

        base = Baseline(tmp, net.ns, accel)
        base.boot()
        res = {"baseline": [], "nubo": []}
        for n in range(1, args.runs + 1):
            res["baseline"].append(base.migrate())
            show("baseline", n, res["baseline"][-1])
            where = "host-b" if where == "host-a" else "host-a"
            res["nubo"].append(nubo_migrate(admin, iid, where, ticks))
            show("nubo", n, res["nubo"][-1])
        ticks.close()
        base.close()
        base = None

        print("\nmedians of %d:        %10s %10s %8s" % (args.runs, "baseline", "nubo", "ratio"))
        for key, label, scale in (("wall_s", "wall time (s)", 1), ("total_ms", "QEMU total (ms)",
                                  1), ("downtime_ms", "QEMU pause (ms)", 1),
                                  ("gap_s", "guest gap (ms)", 1000),
                                  ("ram", "RAM moved (MiB)", 2**-20),
                                  ("disk", "disk moved (MiB)", 2**-20)):
            b, n = median(res["baseline"], key) * scale, median(res["nubo"], key) * scale
            print("%-21s %10.1f %10.1f %8.2f" % (label, b, n, n / b if b else float("nan")))
        print("goal: nubo/baseline wall time <= 1.1", flush=True)

        if not args.no_ha:
            ok(t.delete("/v1/instances/" + iid), 202)
            ha(nubod, admin, t, hosts)
    finally:
        if base is not None:
            base.close()
        for h in hosts:
            if h.proc is not None:
                h.proc.kill()
        if nubod is not None and nubod.proc is not None:
            nubod.proc.kill()
        kill_matching(tmp)
        net.teardown()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    # SIGTERM (timeout, kill) unwinds like ^C: main's finally removes what
    # the bench made.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    main()
