"""Cold migration and resize of a real TCG guest between two simulated
hosts (issue 15 item 2, docs/internals/mobility.md "Cold migration and
resize"): the QEMU driver's disk export (qemu-nbd on the source's underlay
address), import (qemu-img convert over the target's own base image) and
same-host resize (the kept root disk, qemu-img resize) on real disks.

The hosts are twohosts.py's; host-b offers only 320 MiB of memory
(--mem-reserve), so the tiny guest (192 MiB) fits there and the big flavor
(384 MiB) does not: a resize of the guest on host-b has to move it.

The guest's user-data runs at every boot: it counts its boots in a file on
its root disk (/nubo-boots), writes a token there once (/nubo-token) and
prints one line per boot with the count, the token, MemTotal and the root
disk's size.  A boot count that goes on proves the disk travelled; a
fresh disk would say 1.

  1. boots on host-a (boot 1);
  2. stopped, cold-migrated to host-b and started on arrival (boot 2: the
     same disk, the same IP, one QEMU, nothing left on host-a);
  3. resized to big: it moves to host-a (verify_resize, a copy on each
     host); reverted: back on host-b at the old flavor (boot 3);
  4. resized to big again and confirmed: on host-a (boot 4: more memory,
     the grown disk; nothing left on host-b);
  5. resized to bigger on host-a itself (the same-host path: the old root
     disk kept beside the grown one); reverted (boot 5: big's memory and
     disk, the counter goes on from the kept disk); resized again and
     confirmed (the kept disk gone, the new size stays).
"""
import json
import os
import re
import secrets
import subprocess
import time

from cloudfix import READY, harness, register_tiny, wait_for, wait_hosts_up, wait_status
from twohosts import qemus_of, two_hosts

IP = "10.5.1.21"
SMALL_B_MIB = 320
BIG = {"name": "big", "vcpus": 1, "ram_mib": 384, "disk_gib": 2}
BIGGER = {"name": "bigger", "vcpus": 2, "ram_mib": 448, "disk_gib": 3}

USER_DATA = """#!/bin/sh
n=$(cat /nubo-boots 2>/dev/null || echo 0)
n=$((n + 1))
echo $n > /nubo-boots
[ -f /nubo-token ] || echo %s > /nubo-token
sync
echo "COLD-BOOT $n token=$(cat /nubo-token) mem=$(sed -n 's/^MemTotal: *\\([0-9]*\\) kB/\\1/p' \
/proc/meminfo) disk=$(cat /sys/block/vda/size)"
"""
BOOT_RE = r"COLD-BOOT %d token=(\S+) mem=(\d+) disk=(\d+)"


def ok(r, status=None):
    assert r.status_code in ((status,) if status else (200, 201, 202, 204)), r.text
    return r.json() if r.content else None


def console(client, iid):
    """The guest's console so far; "" while the agent cannot answer (503:
    its loop busy, on a loaded machine) or the VM is between states."""
    r = client.get("/v1/instances/%s/console?offset=0&limit=1048576" % iid)
    if r.status_code in (409, 503):
        return ""
    assert r.status_code == 200, r.text
    return r.text


def same_size(got, want):
    """(MemTotal KiB, disk sectors) of two boots at one flavor: the disk
    alike, MemTotal within 8 MiB (the kernel's own reservations vary a
    little from boot to boot: 4 KiB seen)."""
    return got[1] == want[1] and abs(got[0] - want[0]) <= 8 * 1024


def total_mib():
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") >> 20


def test_cold_migrate_and_resize(tmp_path):
    reserve = total_mib() - SMALL_B_MIB
    with two_hosts(tmp_path, {"host-b": ["--mem-reserve", str(reserve)]}) as (nubod, hosts):
        by_name = {h.name: h for h in hosts}
        admin = nubod.admin()
        wait_hosts_up(admin, 2, timeout=30, also=lambda h: h.get("underlay_ip"))
        register_tiny(admin)
        for f in (BIG, BIGGER):
            ok(admin.post("/v1/flavors", f), 201)
        t = harness.make_tenant(nubod, admin)
        ok(t.post("/v1/networks", {"name": "net-c"}), 201)
        ok(t.post("/v1/subnets", {"network": "net-c", "cidr": "10.5.1.0/24"}), 201)
        token = secrets.token_hex(8)
        inst = ok(t.post("/v1/instances", {
            "name": "mover", "flavor": "tiny", "image": "nubo-tiny",
            "networks": [{"network": "net-c", "fixed_ip": IP}],
            "user_data": USER_DATA % token}), 202)["instances"][0]
        iid = inst["id"]

        def where():
            return ok(admin.get("/v1/instances/" + iid))["host"]["name"]

        def boot(n, host):
            """Waits for boot n's line and the READY after it; checks the
            token and the address; returns (MemTotal KiB, disk sectors)."""
            wait_status(t, iid, "running", timeout=120)
            assert where() == host
            found = {}

            def seen():
                text = console(t, iid)
                m = re.search(BOOT_RE % n, text)
                if not m:
                    return None
                r = re.search(READY + r" .*ip=(\S+)", text[m.end():])
                if r:
                    found["m"], found["ip"] = m, r.group(1)
                return r
            wait_for("boot %d of the guest on %s" % (n, host), seen, timeout=180, step=0.5)
            m = found["m"]
            assert m.group(1) == token, "boot %d: a disk without the token: %s" % (n, m.group(0))
            assert found["ip"] == IP, found["ip"]
            return int(m.group(2)), int(m.group(3))

        def stop():
            ok(t.post("/v1/instances/%s/actions" % iid, {"action": "stop"}), 202)
            wait_status(t, iid, "stopped", timeout=90)

        def act(client, body, status):
            t0 = time.monotonic()
            r = ok(client.post("/v1/instances/%s/actions" % iid, body), 202)
            wait_status(t, iid, status, timeout=180)
            print("%s (%s): %s in %.1f s" % (body["action"], body.get("flavor", "-"), status,
                                              time.monotonic() - t0))
            return r

        def copies():
            """{host: VM definition} of the agents holding the instance's VM."""
            out = {}
            for h in hosts:
                vm = h.vms().get("nubo-" + iid)
                if vm is not None:
                    out[h.name] = vm
            return out

        def only_on(host):
            wait_for("the VM on %s alone" % host, lambda: list(copies()) == [host], timeout=60)

        def disk_file(host, name="root.qcow2"):
            return os.path.join(by_name[host].state, "vms", iid, name)

        def virtual_size(host):
            out = subprocess.run(["qemu-img", "info", "-U", "--output=json", disk_file(host)],
                                 capture_output=True, text=True, check=True).stdout
            return json.loads(out)["virtual-size"]

        # 1. Boot on host-a (the scheduler picks the host with the most room).
        assert inst["host"]["name"] == "host-a", inst
        mem1, disk1 = boot(1, "host-a")
        stop()

        # 2. Cold migration to host-b, started on arrival.
        r = act(admin, {"action": "cold-migrate", "host": "host-b", "start": True}, "running")
        assert r["migration"]["kind"] == "cold"
        got = boot(2, "host-b")
        assert same_size(got, (mem1, disk1)), (got, mem1, disk1)
        assert {k: len(v) for k, v in qemus_of(hosts, iid).items()} == {"host-a": 0, "host-b": 1}
        only_on("host-b")
        assert not os.path.exists(disk_file("host-a"))
        m = ok(admin.get("/v1/instances/%s/migrations" % iid))["migrations"][0]
        assert (m["kind"], m["state"], m["target_host"]) == ("cold", "completed", "host-b"), m
        stop()

        # 3. Resize to big: no room on host-b, so onto host-a; reverted.
        r = act(t, {"action": "resize", "flavor": "big"}, "verify_resize")
        assert r["migration"]["target_host"] == "host-a", r["migration"]
        assert where() == "host-a"
        held = copies()
        assert sorted(held) == ["host-a", "host-b"], held
        assert (held["host-a"]["memory_mib"], held["host-b"]["memory_mib"]) == (384, 192), held
        assert virtual_size("host-a") == 2 << 30
        act(t, {"action": "revert-resize"}, "stopped")
        assert where() == "host-b"
        only_on("host-b")
        assert ok(t.get("/v1/instances/" + iid))["flavor"]["name"] == "tiny"
        ok(t.post("/v1/instances/%s/actions" % iid, {"action": "start"}), 202)
        got = boot(3, "host-b")
        assert same_size(got, (mem1, disk1)), (got, mem1, disk1)
        stop()

        # 4. Resize to big again, confirmed: it stays on host-a, bigger.
        act(t, {"action": "resize", "flavor": "big"}, "verify_resize")
        act(t, {"action": "confirm-resize"}, "stopped")
        assert where() == "host-a"
        only_on("host-a")
        ok(t.post("/v1/instances/%s/actions" % iid, {"action": "start"}), 202)
        mem4, disk4 = boot(4, "host-a")
        assert mem4 >= mem1 + 150 * 1024, (mem1, mem4)
        assert disk4 * 512 == 2 << 30, disk4
        assert {k: len(v) for k, v in qemus_of(hosts, iid).items()} == {"host-a": 1, "host-b": 0}
        stop()

        # 5. Resize on host-a itself (host-a has room): the old disk kept
        # beside the grown one until confirmed or reverted.
        r = act(t, {"action": "resize", "flavor": "bigger"}, "verify_resize")
        assert r["migration"]["target_host"] == "host-a", r["migration"]
        assert list(copies()) == ["host-a"]
        vm = copies()["host-a"]
        assert (vm["vcpus"], vm["memory_mib"]) == (2, 448), vm
        assert virtual_size("host-a") == 3 << 30
        assert os.path.exists(disk_file("host-a", "root.pre-resize.qcow2"))
        act(t, {"action": "revert-resize"}, "stopped")
        assert not os.path.exists(disk_file("host-a", "root.pre-resize.qcow2"))
        assert virtual_size("host-a") == 2 << 30
        ok(t.post("/v1/instances/%s/actions" % iid, {"action": "start"}), 202)
        got = boot(5, "host-a")
        assert same_size(got, (mem4, disk4)), (got, mem4, disk4)
        stop()
        act(t, {"action": "resize", "flavor": "bigger"}, "verify_resize")
        act(t, {"action": "confirm-resize"}, "stopped")
        assert not os.path.exists(disk_file("host-a", "root.pre-resize.qcow2"))
        assert virtual_size("host-a") == 3 << 30
        vm = copies()["host-a"]
        assert (vm["vcpus"], vm["memory_mib"], vm["state"]) == (2, 448, "stopped"), vm
        states = [(m["kind"], m["state"]) for m in
                  ok(admin.get("/v1/instances/%s/migrations" % iid))["migrations"]]
        assert states == [("resize", "completed"), ("resize", "reverted"),
                          ("resize", "completed"), ("resize", "reverted"),
                          ("cold", "completed")], states
