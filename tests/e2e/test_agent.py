"""The agent itself: capabilities, bad input, restart and re-adoption, crashes."""
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import Hostd, HOSTD, kill_leftovers


def has_hw_virt():
    with open("/proc/cpuinfo") as f:
        flags = [l for l in f if l.startswith("flags")]
    return bool(flags) and any(x in flags[0].split() for x in ("vmx", "svm"))


def test_host_capabilities(hostd):
    info = hostd.api.get("/v1/host").json
    assert info["hypervisor"] == "qemu"
    assert info["qemu_version"]
    assert info["accel_requested"] == "auto"
    assert info["accel"] in ("kvm", "tcg")
    assert info["accel_reason"].startswith(info["accel"] + ":")
    if not has_hw_virt():
        # This machine: /dev/kvm without hardware virtualization -> TCG, said so.
        assert info["accel"] == "tcg"
        assert "acceleration: tcg" in hostd.log()
    cap = info["capacity"]
    assert cap["vcpus"]["total"] == os.cpu_count() * 8     # --cpu-ratio 8
    assert cap["memory_mib"]["free"] > 0
    assert cap["disk_bytes"]["filesystem_free"] > 0
    images = hostd.api.get("/v1/images").json["images"]
    assert [i["name"] for i in images] == ["nubo-tiny"]
    assert images[0]["boot"] == "kernel"


def test_forced_accel(tmp_path):
    h = Hostd(str(tmp_path), ["--accel", "tcg"]).start()
    try:
        info = h.api.get("/v1/host").json
        assert info["accel"] == "tcg"
        assert info["accel_reason"] == "tcg: forced by configuration"
    finally:
        assert h.stop() == 0
    bad = subprocess.run([HOSTD, "--accel", "fast"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "auto, kvm or tcg" in bad.stderr
    if not os.path.exists("/dev/kvm"):
        h2 = subprocess.run([HOSTD, "--accel", "kvm", "--state-dir", str(tmp_path / "s2"),
                             "--images-dir", str(tmp_path / "i2"), "--socket",
                             str(tmp_path / "s2.sock")], capture_output=True, text=True,
                            timeout=30)
        assert h2.returncode == 1 and "kvm was requested" in h2.stderr


BAD_CREATES = [
    ({"image": "nubo-tiny"}, 400, "'name' is required"),
    ({"name": "a;rm -rf /", "image": "nubo-tiny"}, 400, "VM name may contain only"),
    ({"name": "$(reboot)", "image": "nubo-tiny"}, 400, "VM name"),
    ({"name": "x`id`", "image": "nubo-tiny"}, 400, "VM name"),
    ({"name": "../../etc", "image": "nubo-tiny"}, 400, "VM name"),
    ({"name": "-rf", "image": "nubo-tiny"}, 400, "must start with"),
    ({"name": "x" * 64, "image": "nubo-tiny"}, 400, "limit is 63"),
    ({"name": "ok", "image": "../nubo-tiny"}, 400, "image name"),
    ({"name": "ok", "image": "nope"}, 404, "no base image named 'nope'"),
    ({"name": "ok", "image": "nubo-tiny", "vcpus": 0}, 400, "'vcpus'"),
    ({"name": "ok", "image": "nubo-tiny", "vcpus": "2"}, 400, "'vcpus'"),
    ({"name": "ok", "image": "nubo-tiny", "vcpus": 4096}, 400, "'vcpus'"),
    ({"name": "ok", "image": "nubo-tiny", "memory": "12Q"}, 400, "unknown unit"),
    ({"name": "ok", "image": "nubo-tiny", "memory": "1M"}, 400, "'memory' must be between"),
    ({"name": "ok", "image": "nubo-tiny", "memory": -5}, 400, "negative"),
    ({"name": "ok", "image": "nubo-tiny", "root_disk": "1M"}, 400, "smaller than image"),
    ({"name": "ok", "image": "nubo-tiny", "disks": "1G"}, 400, "'disks' must be a list"),
    ({"name": "ok", "image": "nubo-tiny", "disks": ["1X"]}, 400, "unknown unit"),
    ({"name": "ok", "image": "nubo-tiny", "network": "host"}, 400, "'network'"),
    ({"name": "ok", "image": "nubo-tiny", "hostname": "Bad_Host"}, 400, "hostname"),
    ({"name": "ok", "image": "nubo-tiny", "ssh_keys": ["rm -rf"]}, 400, "OpenSSH"),
    ({"name": "ok", "image": "nubo-tiny", "user_data": "x" * 70000}, 400, "larger than"),
    ({"name": "ok", "image": "nubo-tiny", "colour": "blue"}, 400, "unknown field"),
    ({"name": "ok", "image": "nubo-tiny", "vcpus": 200}, 400, "'vcpus'"),
    ({"name": "ok", "image": "nubo-tiny", "memory": "900G"}, 507, "not enough memory"),
]


@pytest.mark.parametrize("body,status,detail", BAD_CREATES)
def test_bad_create_changes_nothing(hostd, body, status, detail):
    api = hostd.api
    r = api.post("/v1/vms", body)
    assert r.status == status, r
    assert r.headers["Content-Type"] == "application/problem+json"
    p = r.json
    assert p["status"] == status and detail in p["detail"], p
    assert p["instance"] == "/v1/vms"
    assert api.get("/v1/vms").json["vms"] == []
    vms_dir = os.path.join(hostd.state, "vms")
    assert os.listdir(vms_dir) == []
    assert hostd.qemu_pids() == []


def test_http_errors(hostd):
    api = hostd.api
    r = api.request("POST", "/v1/vms", raw=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status == 400 and "not valid JSON" in r.json["detail"]
    r = api.request("POST", "/v1/vms", raw=b"name=x", headers={"Content-Type": "text/plain"})
    assert r.status == 415
    r = api.request("POST", "/v1/vms", raw=b"x" * (2 << 20), headers={"Content-Type": "application/json"})
    assert r.status == 413
    assert api.get("/v1/vms/ghost").status == 404
    assert api.post("/v1/vms/ghost/start").status == 404
    assert api.get("/nope").status == 404
    r = api.request("PUT", "/v1/vms")
    assert r.status == 405 and r.headers["Allow"] == "GET, POST"
    r = api.request("GET", "/v1/host", headers={"X-Request-Id": "abc-123"})
    assert r.headers["X-Request-Id"] == "abc-123"
    r = api.request("GET", "/v1/host", headers={"X-Request-Id": "bad id;"})
    assert r.headers["X-Request-Id"].startswith("req-")
    api.create(name="dup", start=False)
    r = api.post("/v1/vms", {"name": "dup", "image": "nubo-tiny"})
    assert r.status == 409 and "already exists" in r.json["detail"]
    assert api.post("/v1/vms/dup/reboot").status == 409
    assert api.post("/v1/vms/dup/frobnicate").status == 404
    assert api.post("/v1/vms/dup/stop", {"timeout": -1}).status == 400
    assert len(api.get("/v1/vms").json["vms"]) == 1


def test_disks_are_thin_overlays(hostd, tmp_path):
    api = hostd.api
    # A 20 GiB base image: the overlay must not copy it, so creating a VM on
    # it takes milliseconds, not minutes.
    big = os.path.join(hostd.images, "big.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", big, "20G"], check=True)
    t0 = time.monotonic()
    vm = api.create(name="thin", image="big", start=False, disks=["1G", "512M"])
    took = time.monotonic() - t0
    assert took < 2.0, took
    d = os.path.join(hostd.state, "vms", vm["id"])
    assert os.stat(os.path.join(d, "root.qcow2")).st_blocks * 512 < 2 * 2**20
    info = json.loads(subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", os.path.join(d, "root.qcow2")],
        capture_output=True, text=True, check=True).stdout)
    assert info["virtual-size"] == 20 * 2**30
    assert info["backing-filename"] == big
    for i, size in ((1, 2**30), (2, 512 * 2**20)):
        di = json.loads(subprocess.run(
            ["qemu-img", "info", "-U", "--output=json", os.path.join(d, "disk-%d.qcow2" % i)],
            capture_output=True, text=True, check=True).stdout)
        assert di["virtual-size"] == size
    assert vm["disk_bytes"] == [2**30, 512 * 2**20]

    # the extra disks are visible in a real guest
    api.create(name="withdisk", disks=["64M"],
               user_data="#!/bin/sh\ncat /sys/block/vdb/size /sys/block/vdc/size\n")
    console = api.wait_ready("withdisk")
    assert "131072" in console          # 64 MiB in 512-byte sectors (vdb or vdc)


def test_restart_readopts_running_vm(hostd):
    api = hostd.api
    vm = api.create(name="keep")
    api.wait_ready("keep")
    pid = vm["pid"]
    assert hostd.stop() == 0
    # the agent is gone; the VM keeps running
    time.sleep(0.5)
    assert os.path.exists("/proc/%d" % pid)
    hostd.start()
    again = api.vm("keep")
    assert again["state"] == "running", again
    assert again["pid"] == pid
    assert "re-adopted" in again["reason"]
    # the monitor really is reconnected: a reboot goes through QMP
    assert api.post("/v1/vms/keep/reboot").status == 200
    api.wait_ready("keep", count=2)
    # and a stop is seen through QMP events and the pidfd
    assert api.post("/v1/vms/keep/stop").status == 202
    assert "guest-shutdown" in api.wait_state("keep", "stopped", 15)["reason"]


def test_vm_dying_while_agent_is_down(hostd):
    api = hostd.api
    vm = api.create(name="lost")
    assert hostd.stop() == 0
    os.kill(vm["pid"], signal.SIGKILL)
    time.sleep(0.3)
    hostd.start()
    lost = api.vm("lost")
    assert lost["state"] == "crashed"
    assert "while nubo-hostd was not running" in lost["reason"]


def test_kill9_is_crashed(hostd):
    api = hostd.api
    vm = api.create(name="victim")
    api.wait_ready("victim")
    os.kill(vm["pid"], signal.SIGKILL)
    crashed = api.wait_state("victim", "crashed", timeout=5)
    assert "killed by signal 9 (SIGKILL)" in crashed["reason"], crashed
    assert crashed["pid"] is None
    # a crashed VM can be started again
    assert api.post("/v1/vms/victim/start").json["state"] == "running"
    api.wait_ready("victim", count=2)


FAKE_QEMU = textwrap.dedent('''
    # A process that pretends to be QEMU for VM {vm_id}: its monitor socket
    # greets, then answers garbage.
    import os, socket, sys, time
    path = sys.argv[1]
    os.chdir(os.path.dirname(path))   # the full path may exceed 108 bytes
    s = socket.socket(socket.AF_UNIX)
    s.bind("qmp.sock"); s.listen(1)
    open(path + ".ready", "w").close()
    while True:
        c, _ = s.accept()
        c.sendall(b'{{"QMP": {{"version": {{}}, "capabilities": []}}}}\\r\\n')
        c.recv(4096)
        c.sendall(b'this is not json\\r\\n')
        time.sleep(0.5)
        c.close()
''')


def test_lying_monitor_on_adopt(hostd):
    """A VM whose monitor lies when the agent re-attaches is forced off and
    reported, and the agent keeps serving."""
    api = hostd.api
    vm = api.create(name="liar", start=False)
    assert hostd.stop() == 0
    d = os.path.join(hostd.state, "vms", vm["id"])
    sock = os.path.join(d, "qmp.sock")
    fake = subprocess.Popen([sys.executable, "-c", FAKE_QEMU.format(vm_id=vm["id"]), sock,
                             vm["id"]])
    try:
        for _ in range(100):
            if os.path.exists(sock + ".ready"):
                break
            time.sleep(0.05)
        with open(os.path.join(d, "vm.json")) as f:
            state = json.load(f)
        state["state"] = "running"
        state["pid"] = fake.pid
        with open(os.path.join(d, "vm.json"), "w") as f:
            json.dump(state, f)
        hostd.start()
        liar = api.vm("liar")
        assert liar["state"] == "crashed", liar
        assert "monitor" in liar["reason"]
        assert fake.wait(timeout=10) == -signal.SIGKILL
        assert api.get("/v1/host").status == 200
    finally:
        if fake.poll() is None:
            fake.kill()


def test_tcp_api_needs_token(tmp_path):
    tok = tmp_path / "token"
    tok.write_text("s3cret-token-0123456789\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    h = Hostd(str(tmp_path), ["--listen", "127.0.0.1:%d" % port, "--token-file", str(tok)]).start()
    import http.client
    try:
        def get(headers):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/v1/host", headers=headers)
            r = c.getresponse()
            body = r.read()
            c.close()
            return r.status, body
        assert get({})[0] == 401
        assert get({"Authorization": "Bearer wrong"})[0] == 401
        status, body = get({"Authorization": "Bearer s3cret-token-0123456789"})
        assert status == 200 and json.loads(body)["hypervisor"] == "qemu"
    finally:
        assert h.stop() == 0
    # TCP without a token is refused at start
    r = subprocess.run([HOSTD, "--listen", "127.0.0.1:%d" % port, "--state-dir",
                        str(tmp_path / "x"), "--images-dir", str(tmp_path / "xi"),
                        "--socket", str(tmp_path / "x.sock")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "needs a bearer token" in r.stderr
