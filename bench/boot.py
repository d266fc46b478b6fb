#!/usr/bin/python3
"""Benchmark: what does the host agent add to booting a VM?

Measures, alternately in one run, the time from "start" to the guest's
NUBO-READY line on the serial console:
  agent     POST /v1/vms/{id}/start to a running nubo-hostd (the VM is defined
            beforehand, as a cloud would have it), including everything the
            agent does on start (config drive, cgroup, QMP handshake);
  baseline  plain qemu-system-x86_64 with an equivalent command line booting
            the same image with the same acceleration (its own overlay and
            config drive prepared beforehand).
Both detect the marker the same way (polling the console file every 5 ms).
Prints both medians and the ratio agent/baseline, then nubo-hostd's resident
memory with 0 and with 10 running VMs.

usage: bench/boot.py [--runs N] [--build DIR]   (as root, after scripts/build.sh
       and images/build-guest.sh)
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
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
os.environ.setdefault("NUBO_BUILD", "build")
import conftest  # noqa: E402  (the e2e harness: Hostd, Api)

MARKER = b"NUBO-READY"
IMAGES = os.environ.get("NUBO_IMAGES", os.path.join(ROOT, "build", "images"))


def wait_marker(path, count, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path, "rb") as f:
                if f.read().count(MARKER) >= count:
                    return time.monotonic()
        except FileNotFoundError:
            pass
        time.sleep(0.005)
    raise RuntimeError("no ready marker in %s after %ss" % (path, timeout))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def baseline_setup(tmp, accel, nic=False):
    images = IMAGES
    d = os.path.join(tmp, "baseline")
    os.makedirs(os.path.join(d, "cd", "openstack", "latest"))
    with open(os.path.join(d, "cd", "openstack", "latest", "meta_data.json"), "w") as f:
        f.write('{"uuid": "00000000-0000-4000-8000-000000000000", "name": "base", '
                '"hostname": "base", "public_keys": {}}')
    subprocess.run(["genisoimage", "-quiet", "-o", os.path.join(d, "config.iso"), "-V",
                    "config-2", "-r", "-J", os.path.join(d, "cd")], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                    os.path.join(images, "nubo-tiny.qcow2"), os.path.join(d, "root.qcow2")],
                   check=True)
    with open(os.path.join(images, "nubo-tiny.cmdline")) as f:
        cmdline = f.read().strip()
    console = os.path.join(d, "console.log")
    argv = ["qemu-system-x86_64", "-nodefaults", "-no-user-config", "-display", "none",
            "-machine", "q35", "-accel", accel, "-cpu", "max" if accel == "tcg" else "host",
            "-smp", "1", "-m", "256",
            "-kernel", os.path.join(images, "nubo-tiny.kernel"),
            "-initrd", os.path.join(images, "nubo-tiny.initrd"), "-append", cmdline,
            "-drive", "file=%s,if=none,id=root,format=qcow2" % os.path.join(d, "root.qcow2"),
            "-device", "virtio-blk-pci,drive=root",
            "-drive", "file=%s,if=none,id=cfg,format=raw,readonly=on" % os.path.join(d, "config.iso"),
            "-device", "virtio-blk-pci,drive=cfg",
            "-chardev", "file,id=con,path=%s,append=on" % console, "-serial", "chardev:con"]
    if nic:  # the same isolated user-mode NIC (and so DHCP) as a cloud instance gets
        argv += ["-netdev", "user,id=net0,restrict=on", "-device",
                 "virtio-net-pci,netdev=net0"]
    return argv, console


def baseline_run(argv, console):
    if os.path.exists(console):
        os.unlink(console)
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    t1 = wait_marker(console, 1)
    p.kill()
    p.wait()
    return t1 - t0


def agent_run(h, vm_id, console, boots):
    t0 = time.monotonic()
    r = h.api.post("/v1/vms/%s/start" % vm_id)
    assert r.status == 200, r
    t1 = wait_marker(console, boots)
    r = h.api.post("/v1/vms/%s/stop" % vm_id, {"force": True})
    assert r.status == 200, r
    return t1 - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nubo-bench-")
    h = conftest.Hostd(tmp, ["--log-level", "warn", "--cpu-ratio", "16"])
    h.start()
    try:
        info = h.api.get("/v1/host").json
        accel = info["accel"]
        print("acceleration: %s (%s)" % (accel, info["accel_reason"]))
        vm = h.api.create(name="bench", start=False, memory="256M")
        console = os.path.join(h.state, "vms", vm["id"], "console.log")
        argv, base_console = baseline_setup(tmp, accel)
        agent, base = [], []
        for i in range(args.runs):
            base.append(baseline_run(argv, base_console))
            agent.append(agent_run(h, vm["id"], console, i + 1))
            print("run %d: baseline %.3f s, agent %.3f s" % (i + 1, base[-1], agent[-1]),
                  flush=True)
        mb, ma = statistics.median(base), statistics.median(agent)
        print("start to ready, median of %d: baseline (plain qemu) %.3f s, "
              "agent %.3f s, ratio agent/baseline %.3f" % (args.runs, mb, ma, ma / mb))
        h.api.delete("/v1/vms/bench")

        rss0 = rss_kib(h.proc.pid)
        for i in range(10):
            h.api.create(name="rss-%d" % i, memory="128M")
        running = [v for v in h.api.get("/v1/vms").json["vms"] if v["state"] == "running"]
        for i in range(10):
            h.api.get("/v1/vms/rss-%d" % i)
        rss10 = rss_kib(h.proc.pid)
        print("nubo-hostd resident memory: %d KiB with 0 VMs, %d KiB with %d running VMs "
              "(+%d KiB)" % (rss0, rss10, len(running), rss10 - rss0))
        for i in range(10):
            h.api.delete("/v1/vms/rss-%d" % i)
    finally:
        for v in h.api.get("/v1/vms").json["vms"]:
            h.api.delete("/v1/vms/" + v["id"])
        h.stop()
        conftest.kill_leftovers(h)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
