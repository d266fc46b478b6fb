"""The whole cloud, end to end, with real guests: one nubod and two
nubo-hostd (QEMU, TCG), each with its own state, images directory and
socket, joined with the join token.

An admin registers the nubo-tiny image and a flavor; a tenant creates two
instances, which spread over both hosts, boot (the controller uploads the
image to each agent), get stopped, started, a crashed QEMU is restarted, and
they are deleted.  On the way nubod is killed with SIGKILL right after the
create and restarted (nothing is lost, the instances still converge), and
one agent is restarted (its guests keep running and are re-adopted).

At most two guests run at once (the test machine has two cores).
"""
import base64
import contextlib
import importlib.util
import json
import os
import signal
import struct
import subprocess
import time

import pytest

from conftest import HOSTD, IMAGES, READY, Api, kill_leftovers

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "nubo_api_harness", os.path.join(HERE, "..", "api", "conftest.py"))
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)



def _ed25519_key():
    """An OpenSSH ed25519 public key line (a made-up 32-byte key)."""
    def string(b):
        return struct.pack(">I", len(b)) + b
    blob = string(b"ssh-ed25519") + string(bytes(range(32)))
    return "ssh-ed25519 %s e2e@nubo" % base64.b64encode(blob).decode()


PUBKEY = _ed25519_key()


def wait_for(what, fn, timeout=60, step=0.2):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(step)


class CloudHostd:
    """nubo-hostd joined to a nubod; its images directory starts empty (the
    controller uploads what its instances need)."""

    def __init__(self, tmp, nubod, name):
        self.name = name
        self.dir = os.path.join(tmp, name)
        self.state = os.path.join(self.dir, "state")
        self.images = os.path.join(self.dir, "images")
        self.sock = os.path.join(self.dir, "hostd.sock")
        self.log_path = os.path.join(self.dir, "hostd.log")
        os.makedirs(self.images, exist_ok=True)
        self.args = [HOSTD, "--state-dir", self.state, "--images-dir", self.images,
                     "--socket", self.sock, "--stop-timeout", "20", "--cpu-ratio", "8",
                     "--controller", nubod.base,
                     "--join-token-file", os.path.join(nubod.dir, "join-token"),
                     "--advertise", "unix:" + self.sock, "--name", name,
                     "--heartbeat-ms", "1000", "--log-level", "debug"]
        self.api = Api(self.sock)
        self.proc = None

    def start(self):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=self.logf, stderr=subprocess.STDOUT,
                                     env=env)

        def up():
            assert self.proc.poll() is None, "nubo-hostd exited:\n" + self.log()
            try:
                return os.path.exists(self.sock) and self.api.get("/v1/host").status == 200
            except OSError:
                return False
        wait_for("nubo-hostd " + self.name, up, timeout=30, step=0.05)
        return self

    def stop(self):
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        self.logf.close()
        return rc

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-6000:]
        except OSError:
            return ""

    def vms(self):
        return {vm["name"]: vm for vm in self.api.get("/v1/vms").json["vms"]}

    def qemu_pids(self):
        out = subprocess.run(["pgrep", "-f", "--", self.state + "/vms/"],
                             capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]


@contextlib.contextmanager
def one_host_cloud(tmp, name, extra_args=()):
    """nubod and one joined nubo-hostd; on the way out every VM is deleted
    and both must exit cleanly (sanitizers), and nothing is left running
    even when the test failed."""
    nubod = harness.Nubod(tmp).start()
    host = CloudHostd(tmp, nubod, name)
    host.args += list(extra_args)
    try:
        host.start()
        yield nubod, host
        for vm in host.api.get("/v1/vms").json["vms"]:
            host.api.delete("/v1/vms/" + vm["id"])
        rc = host.stop()
        assert rc == 0, "nubo-hostd exited with %d:\n%s" % (rc, host.log())
        rc = nubod.stop()
        assert rc == 0, "nubod exited with %d:\n%s" % (rc, nubod.log())
    finally:
        if host.proc is not None:
            host.proc.kill()
        kill_leftovers(host)
        if nubod.proc is not None:
            nubod.proc.kill()


@pytest.fixture
def cloud(tmp_path):
    tmp = str(tmp_path)
    nubod = harness.Nubod(tmp).start()
    hosts = [CloudHostd(tmp, nubod, "host-a"), CloudHostd(tmp, nubod, "host-b")]
    try:
        for h in hosts:
            h.start()
        yield nubod, hosts
        # teardown: every agent and nubod must exit cleanly (sanitizers)
        for h in hosts:
            for vm in h.api.get("/v1/vms").json["vms"]:
                h.api.delete("/v1/vms/" + vm["id"])
            rc = h.stop()
            assert rc == 0, "%s exited with %d:\n%s" % (h.name, rc, h.log())
        rc = nubod.stop()
        assert rc == 0, "nubod exited with %d:\n%s" % (rc, nubod.log())
    finally:
        for h in hosts:
            if h.proc is not None:
                h.proc.kill()
            kill_leftovers(h)
        if nubod.proc is not None:
            nubod.proc.kill()


def get(client, iid):
    r = client.get("/v1/instances/" + iid)
    assert r.status_code == 200, r.text
    return r.json()


def wait_status(client, iid, status, timeout=90):
    last = {}

    def check():
        last["i"] = get(client, iid)
        return last["i"]["status"] == status
    try:
        wait_for("instance %s %s" % (iid, status), check, timeout=timeout)
    except AssertionError:
        raise AssertionError("instance %s is %s, not %s" % (iid, last.get("i"), status))
    return last["i"]


def console(client, iid):
    r = client.get("/v1/instances/%s/console?offset=0&limit=1048576" % iid)
    assert r.status_code == 200, r.text
    return r.text


def wait_ready(client, iid, count=1, timeout=120):
    return wait_for("%d x %s on %s" % (count, READY, iid),
                    lambda: (lambda t: t if t.count(READY) >= count else None)(
                        console(client, iid)), timeout=timeout, step=0.5)


def events(client, iid):
    return [e["event"] for e in client.get("/v1/instances/%s/events" % iid).json()["events"]]


def action(client, iid, what):
    r = client.post("/v1/instances/%s/actions" % iid, {"action": what})
    assert r.status_code == 202, r.text
    return r.json()


def test_cloud_end_to_end(cloud):
    nubod, (host_a, host_b) = cloud
    admin = nubod.admin()
    hosts = wait_for("both hosts up", lambda: (lambda hs: hs if len(hs) == 2 and all(
        h["state"] == "up" for h in hs) else None)(admin.get("/v1/hosts").json()["hosts"]),
        timeout=30)
    assert sorted(h["name"] for h in hosts) == ["host-a", "host-b"]
    assert all(h["driver"] == "qemu" and h["accel"] in ("tcg", "kvm") for h in hosts)

    # the admin registers the image and a flavor
    with open(os.path.join(IMAGES, "nubo-tiny.cmdline")) as f:
        cmdline = f.read().strip()
    r = admin.post("/v1/images", {"name": "nubo-tiny", "visibility": "public",
                                  "file": os.path.join(IMAGES, "nubo-tiny.qcow2"),
                                  "kernel_file": os.path.join(IMAGES, "nubo-tiny.kernel"),
                                  "initrd_file": os.path.join(IMAGES, "nubo-tiny.initrd"),
                                  "cmdline": cmdline})
    assert r.status_code == 201, r.text
    image_id = r.json()["id"]
    r = admin.post("/v1/flavors", {"name": "tiny", "vcpus": 1, "ram_mib": 192, "disk_gib": 1})
    assert r.status_code == 201, r.text

    # a tenant creates two instances...
    tenant = harness.make_tenant(nubod, admin)
    assert tenant.post("/v1/keypairs", {"name": "k", "public_key": PUBKEY}).status_code == 201
    r = tenant.post("/v1/instances", {
        "name": "web", "flavor": "tiny", "image": "nubo-tiny", "keypair": "k", "count": 2,
        "user_data": "#!/bin/sh\necho cloud-user-data-$((6*7))\n"})
    assert r.status_code == 202, r.text
    # ... and the controller dies at once, in the middle of its work
    time.sleep(0.3)
    nubod.stop(signal.SIGKILL)
    created = r.json()["instances"]
    ids = [i["id"] for i in created]
    assert sorted(i["name"] for i in created) == ["web-1", "web-2"]
    assert sorted(i["host"]["name"] for i in created) == ["host-a", "host-b"]   # spread
    assert all(i["status"] == "building" for i in created)

    nubod.start()   # the tokens were stored: the clients go on with theirs
    for iid in ids:
        wait_status(tenant, iid, "running")
    for iid in ids:
        text = wait_ready(tenant, iid)
        marker = [line for line in text.splitlines() if READY in line][0]
        assert "instance-id=" + iid in marker, marker
        assert "hostname=web-" in marker and "ip=10.0.2.15" in marker
        assert "cloud-user-data-42" in text
    # exactly one VM per instance, named after it, on its host; the image
    # was uploaded to both agents under its id
    by_host = {"host-a": host_a, "host-b": host_b}
    placed = {}
    for iid in ids:
        inst = get(tenant, iid)
        assert inst["power_state"] == "running" and inst["boots"] == 1
        placed[iid] = by_host[inst["host"]["name"]]
    for h in (host_a, host_b):
        assert len(h.vms()) == 1
        assert os.path.exists(os.path.join(h.images, "img-%s.qcow2" % image_id))
        assert os.path.exists(os.path.join(h.images, "img-%s.kernel" % image_id))
    for iid in ids:
        vm = placed[iid].vms()["nubo-" + iid]
        assert vm["ssh_keys"] == [PUBKEY] and vm["memory_mib"] == 192
    for iid in ids:
        task = tenant.get("/v1/tasks?instance=" + iid).json()["tasks"][0]
        assert task["kind"] == "create" and task["status"] == "succeeded", task

    first, second = ids
    # stop and start the first one: same disk, a new boot
    action(tenant, first, "stop")
    inst = wait_status(tenant, first, "stopped", timeout=40)
    assert inst["power_state"] == "stopped"
    assert placed[first].vms()["nubo-" + first]["state"] == "stopped"
    action(tenant, first, "start")
    wait_status(tenant, first, "running")
    wait_ready(tenant, first, count=2)
    assert get(tenant, first)["boots"] == 2

    # restart the agent of the second one: its guest keeps running and is
    # re-adopted; the controller sees nothing to do
    h2 = placed[second]
    pids = h2.qemu_pids()
    assert len(pids) == 1
    assert h2.stop() == 0
    h2.start()
    vm = h2.vms()["nubo-" + second]
    assert vm["state"] == "running" and vm["pid"] == pids[0]
    assert "re-adopted" in vm["reason"]
    time.sleep(2)
    inst = get(tenant, second)
    assert inst["status"] == "running" and inst["boots"] == 1

    # its QEMU dies: the controller notices and starts it again
    os.kill(pids[0], signal.SIGKILL)
    wait_for("restart after the crash", lambda: get(tenant, second)["boots"] == 2, timeout=60)
    wait_status(tenant, second, "running")
    ev = events(tenant, second)
    assert "VM crashed" in ev, ev
    wait_ready(tenant, second, count=2)

    # delete both: VMs gone on both hosts, instances deleted, tasks done
    for iid in ids:
        assert tenant.delete("/v1/instances/" + iid).status_code == 202
    for iid in ids:
        inst = wait_status(tenant, iid, "deleted", timeout=60)
        assert inst["deleted_at"]
        tasks = {t["kind"]: t["status"]
                 for t in tenant.get("/v1/tasks?instance=" + iid).json()["tasks"]}
        assert tasks["delete"] == "succeeded", tasks
    assert host_a.vms() == {} and host_b.vms() == {}
    assert host_a.qemu_pids() == [] and host_b.qemu_pids() == []
    for h in admin.get("/v1/hosts").json()["hosts"]:
        assert h["instances"] == 0 and h["used"]["vcpus"] == 0, h
    with open(nubod.log_path, "rb") as f:
        log = f.read().decode("utf-8", "replace")
    assert "orphan" not in log, log[-3000:]
    assert json.dumps(admin.get("/v1/hosts").json()).count('"up"') == 2
