"""VM lifecycle with real QEMU: boot, reboot, pause, stop, delete, five at once."""
import os
import subprocess
import time

from conftest import READY


def test_boot_reboot_stop_delete(hostd):
    api = hostd.api
    vm = api.create(name="life", network="user",
                    user_data="#!/bin/sh\necho user-data-ran-$((6*7))\n")
    assert vm["state"] == "running"
    assert vm["pid"] > 0
    vm_id = vm["id"]
    vm_dir = os.path.join(hostd.state, "vms", vm_id)
    for f in ("vm.json", "qmp.sock", "root.qcow2", "config.iso", "console.log"):
        assert os.path.exists(os.path.join(vm_dir, f)), f

    console = api.wait_ready("life")
    marker = [line for line in console.splitlines() if READY in line][0]
    assert "instance-id=" + vm_id in marker       # metadata came from the config drive
    assert "hostname=life" in marker
    assert "ip=10.0.2.15" in marker                # DHCP on the user-mode NIC
    assert "user-data-ran-42" in console           # the user-data script ran

    # reboot: a hard reset through QMP, the guest boots again
    r = api.post("/v1/vms/life/reboot")
    assert r.status == 200, r
    api.wait_ready("life", count=2)
    assert api.vm("life")["boots"] == 2
    assert api.vm("life")["pid"] == vm["pid"]      # same QEMU process

    # pause / resume
    assert api.post("/v1/vms/life/pause").json["state"] == "paused"
    assert api.post("/v1/vms/life/pause").json["state"] == "paused"   # idempotent
    assert api.post("/v1/vms/life/reboot").status == 409               # not while paused
    assert api.post("/v1/vms/life/resume").json["state"] == "running"

    # graceful stop: ACPI power button, the guest powers itself off
    r = api.post("/v1/vms/life/stop")
    assert r.status == 202, r
    assert r.json["state"] == "stopping"
    stopped = api.wait_state("life", "stopped", timeout=15)
    assert "guest-shutdown" in stopped["reason"], stopped
    assert "shutting down" in api.console("life")
    assert not os.path.exists(os.path.join(vm_dir, "qmp.sock"))
    assert stopped["pid"] is None
    assert api.post("/v1/vms/life/stop").status == 200                 # idempotent

    # start again from the same disk
    assert api.post("/v1/vms/life/start").json["state"] == "running"
    api.wait_ready("life", count=3)

    # delete: no process, no socket, no disk, no cgroup left
    pid = api.vm("life")["pid"]
    r = api.delete("/v1/vms/life")
    assert r.status == 204, r
    assert not os.path.exists(vm_dir)
    assert not os.path.exists("/proc/%d" % pid) or _is_zombie_free(pid)
    assert api.get("/v1/vms/life").status == 404
    assert api.get("/v1/vms").json["vms"] == []
    assert not any(vm_id in d for d in _cgroup_dirs())


def _is_zombie_free(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            return "zombie" not in f.read()
    except FileNotFoundError:
        return True


def _cgroup_dirs():
    out = []
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        out.extend(d for d in dirs if d.startswith("vm-"))
        if root.count("/") > 8:
            dirs[:] = []
    return out


def test_stop_forced_after_timeout(hostd):
    api = hostd.api
    # A guest that ignores the power button: its user-data kills acpid.
    api.create(name="stubborn",
               user_data="#!/bin/sh\nkillall acpid; echo acpid-gone\n")
    api.wait_ready("stubborn")
    assert "acpid-gone" in api.console("stubborn")
    t0 = time.monotonic()
    r = api.post("/v1/vms/stubborn/stop", {"timeout": 2})
    assert r.status == 202, r
    vm = api.wait_state("stubborn", "stopped", timeout=20)
    took = time.monotonic() - t0
    assert vm["reason"] == "forced off", vm
    assert 1.5 <= took < 10, took
    assert "did not power off in time" in hostd.log()


def test_stop_force_now(hostd):
    api = hostd.api
    api.create(name="quick")
    r = api.post("/v1/vms/quick/stop", {"force": True})
    assert r.status == 200, r
    assert r.json["state"] == "stopped"
    assert r.json["reason"] == "forced off"
    assert api.post("/v1/vms/quick/stop", {"force": "yes"}).status == 400


def test_five_vms_at_once(hostd):
    api = hostd.api
    names = ["five-%d" % i for i in range(5)]
    for n in names:
        api.create(name=n, memory="128M")
    running = [v for v in api.get("/v1/vms").json["vms"] if v["state"] == "running"]
    assert len(running) == 5
    assert len(set(v["pid"] for v in running)) == 5
    for n in names:
        marker = [l for l in api.wait_ready(n, timeout=180).splitlines() if READY in l][0]
        assert "hostname=" + n in marker
    info = api.get("/v1/host").json
    assert info["vms"] == {"total": 5, "running": 5}
    assert info["capacity"]["vcpus"]["allocated"] == 5
    assert info["capacity"]["memory_mib"]["allocated"] == 5 * 128
    for n in names:
        assert api.delete("/v1/vms/" + n).status == 204
    assert hostd.qemu_pids() == []


def test_console_offsets(hostd):
    api = hostd.api
    api.create(name="con")
    api.wait_ready("con")
    full = api.get("/v1/vms/con/console?limit=1048576")
    size = int(full.headers["X-Console-Offset"])
    assert size == len(full.body)
    part = api.get("/v1/vms/con/console?offset=10&limit=20")
    assert part.body == full.body[10:30]
    assert part.headers["X-Console-Offset"] == "30"
    tail = api.get("/v1/vms/con/console?offset=-50")
    assert tail.body == full.body[-50:]
    past = api.get("/v1/vms/con/console?offset=%d" % (size + 1000))
    assert past.status == 200 and past.body == b""
    assert api.get("/v1/vms/con/console?offset=abc").status == 400
    assert api.get("/v1/vms/con/console?limit=99999999").status == 400


def test_cgroup_accounting(hostd):
    api = hostd.api
    if api.get("/v1/host").json["cgroups"] == "none":
        import pytest
        pytest.skip("no cgroup hierarchy on this machine")
    vm = api.create(name="acct", vcpus=2)
    api.wait_ready("acct")
    with open("/proc/%d/cgroup" % vm["pid"]) as f:
        groups = f.read()
    assert "vm-" + vm["id"] in groups
    stats = api.vm("acct")["stats"]
    assert stats["cpu_time_ns"] > 10**8         # booting a kernel under TCG takes CPU
    assert stats["memory_bytes"] > 10 * 2**20
    out = subprocess.run(["ps", "-o", "args=", "-p", str(vm["pid"])],
                         capture_output=True, text=True).stdout
    assert "-smp 2" in out and "-accel tcg" in out or "-accel kvm" in out


def test_restart_after_graceful_stop_is_not_forced_off(hostd):
    """The deadline of a finished stop must not kill the next run."""
    api = hostd.api
    api.create(name="again")
    api.wait_ready("again")
    assert api.post("/v1/vms/again/stop", {"timeout": 3}).status == 202
    api.wait_state("again", "stopped", timeout=10)
    assert api.post("/v1/vms/again/start").json["state"] == "running"
    offset = api.vm("again")["console_boot_offset"]
    assert offset > 0
    time.sleep(4)
    vm = api.vm("again")
    assert vm["state"] == "running", vm
    # the new boot's output starts at console_boot_offset: exactly one marker
    # after it, the first boot's marker before it
    api.wait_ready("again", count=2)
    full = api.get("/v1/vms/again/console?limit=1048576").body
    assert full[:offset].count(READY.encode()) == 1
    assert full[offset:].count(READY.encode()) == 1


def test_ssh_key_types(hostd):
    api = hostd.api
    keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEvQ5rTw2cKPSg0O5IF8yEOOKaNOcz0Y0v a@b",
            "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= c@d",
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 e@f"]
    vm = api.create(name="keys", ssh_keys=keys, start=False)
    assert vm["ssh_keys"] == keys
    r = api.post("/v1/vms", {"name": "k2", "image": "nubo-tiny", "ssh_keys": ["ssh-ed25519"]})
    assert r.status == 400


def test_stop_right_after_start(hostd):
    """A power button pressed while the guest still boots is lost by the
    guest; the agent presses it again, so the stop is still graceful."""
    api = hostd.api
    api.create(name="early")
    r = api.post("/v1/vms/early/stop", {"timeout": 30})
    assert r.status == 202, r
    vm = api.wait_state("early", "stopped", timeout=40)
    assert "guest-shutdown" in vm["reason"], vm


def test_reboot_right_after_start_counts_a_boot(hostd):
    """A reset asked for by the host is a new boot however soon it comes;
    the firmware's own resets during a boot are not."""
    api = hostd.api
    api.create(name="quickboot")
    time.sleep(0.5)
    assert api.post("/v1/vms/quickboot/reboot").status == 200
    deadline = time.time() + 5
    while api.vm("quickboot")["boots"] < 2 and time.time() < deadline:
        time.sleep(0.1)
    assert api.vm("quickboot")["boots"] == 2
    api.wait_ready("quickboot")
    time.sleep(1)
    assert api.vm("quickboot")["boots"] == 2   # firmware resets did not count
