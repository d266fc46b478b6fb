"""Hosts: registration with the join token, heartbeats and their
authentication, the admin's view, hosts going down and coming back, and the
reconciler driving an agent - here nubo-hostd with the *fake* driver (no
guest runs), so these tests need no QEMU and run in seconds.

Real guests on real QEMU are in tests/e2e/test_cloud.py.
"""
import json
import os
import signal
import subprocess
import time
import uuid

import pytest
import requests

from conftest import HOSTD, Nubod, assert_problem, make_tenant

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGES = os.environ.get("NUBO_IMAGES", os.path.join(ROOT, "build", "images"))
CAPACITY = {"vcpus": 8, "ram_mib": 4096, "disk_gib": 100}


def register(nubod, name=None, token=None, address=None, **extra):
    body = {"join_token": nubod.join_token if token is None else token,
            "name": name or "h-" + uuid.uuid4().hex[:8],
            "address": address or "unix:/nonexistent/%s.sock" % uuid.uuid4().hex[:8],
            "capacity": CAPACITY, "accel": "tcg", "driver": "qemu"}
    body.update(extra)
    return requests.post(nubod.base + "/v1/hosts/register", json=body, timeout=30)


def heartbeat(nubod, host_id, token, vms=(), capacity=None):
    body = {"capacity": capacity or CAPACITY, "accel": "tcg", "driver": "qemu",
            "vms": list(vms)}
    h = {"Authorization": "Bearer " + token} if token else {}
    return requests.post("%s/v1/hosts/%s/heartbeat" % (nubod.base, host_id), json=body,
                         headers=h, timeout=30)


def wait_for(what, fn, timeout=20, step=0.1):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(step)


# ---------------------------------------------------------------- register

def test_register_refuses_a_bad_join_token(nubod):
    assert_problem(register(nubod, token="nubojoin_wrong"), 401, "join token")
    r = requests.post(nubod.base + "/v1/hosts/register",
                      json={"name": "x", "address": "unix:/x.sock", "capacity": CAPACITY},
                      timeout=30)
    assert_problem(r, 401, "join_token")


def test_register_validates_the_body(nubod):
    assert_problem(register(nubod, name="bad name"), 400)
    assert_problem(register(nubod, address="tcp://1.2.3.4:5"), 400, "address")
    assert_problem(register(nubod, address="http://h;rm:80"), 400)
    assert_problem(register(nubod, capacity={"vcpus": -1, "ram_mib": 1, "disk_gib": 1}), 400)
    assert_problem(register(nubod, surprise=1), 400, "unknown field")


def test_register_then_heartbeat(nubod, admin):
    r = register(nubod, name="host-1", address="unix:/run/x/hostd.sock")
    assert r.status_code == 201, r.text
    host_id, token = r.json()["host_id"], r.json()["host_token"]
    assert token.startswith("nubohost_") and len(token) > 40

    r = heartbeat(nubod, host_id, token, capacity={"vcpus": 16, "ram_mib": 8192,
                                                   "disk_gib": 50})
    assert r.status_code == 200, r.text
    # with the fence epoch, the lease (half of --host-down-ms) and the VMs
    # the host may run (docs/internals/mobility.md)
    assert r.json() == {"host_id": host_id, "state": "up", "epoch": 1, "stale_epoch": False,
                        "lease_ms": 7500, "vms": [], "protocol": 2}

    hosts = admin.get("/v1/hosts").json()["hosts"]
    h = [h for h in hosts if h["id"] == host_id][0]
    assert h["name"] == "host-1" and h["state"] == "up"
    assert h["address"] == "unix:/run/x/hostd.sock"
    assert (h["vcpus"], h["ram_mib"], h["disk_gib"]) == (16, 8192, 50)
    assert h["used"] == {"vcpus": 0, "ram_mib": 0, "disk_gib": 0}
    assert h["instances"] == 0 and h["last_heartbeat_at"].endswith("Z")
    assert "token" not in json.dumps(h)

    # by id and by name, with the VMs of the last heartbeat
    assert admin.get("/v1/hosts/" + host_id).json()["name"] == "host-1"
    assert admin.get("/v1/hosts/host-1").json()["vms"] == []

    # registering the same name again needs the host's own token (issue
    # 13): it keeps the id and the token, and updates the address
    assert_problem(register(nubod, name="host-1", address="unix:/run/y/hostd.sock"), 409,
                   "host_token")
    r = register(nubod, name="host-1", address="unix:/run/y/hostd.sock", host_token=token)
    assert r.status_code == 201, r.text
    assert r.json() == {"host_id": host_id, "host_token": token, "protocol": 2}
    assert heartbeat(nubod, host_id, token).status_code == 200
    assert admin.get("/v1/hosts/host-1").json()["address"] == "unix:/run/y/hostd.sock"


def test_heartbeat_needs_that_hosts_token(nubod, admin):
    a = register(nubod).json()
    b = register(nubod).json()
    assert_problem(heartbeat(nubod, a["host_id"], None), 401)
    assert_problem(heartbeat(nubod, a["host_id"], "nubohost_forged"), 401)
    # another host's token: authenticated, but not for this host
    assert_problem(heartbeat(nubod, a["host_id"], b["host_token"]), 403)
    # a user's token is not a host's
    r = admin.post("/v1/hosts/%s/heartbeat" % a["host_id"],
                   {"capacity": CAPACITY, "vms": []})
    assert_problem(r, 403)
    # bad bodies
    r = requests.post("%s/v1/hosts/%s/heartbeat" % (nubod.base, a["host_id"]),
                      json={"capacity": CAPACITY, "accel": "tcg", "driver": "qemu",
                            "vms": "nope"},
                      headers={"Authorization": "Bearer " + a["host_token"]}, timeout=30)
    assert_problem(r, 400, "vms")


def test_hosts_are_for_admins_only(nubod, admin):
    host = register(nubod, name="private-host").json()
    member = make_tenant(nubod, admin)
    assert_problem(member.get("/v1/hosts"), 403)
    assert_problem(member.get("/v1/hosts/private-host"), 403)
    assert_problem(member.delete("/v1/hosts/private-host"), 403)
    assert_problem(requests.get(nubod.base + "/v1/hosts", timeout=30), 401)
    # a host token does not open the admin's view either
    r = requests.get(nubod.base + "/v1/hosts", timeout=30,
                     headers={"Authorization": "Bearer " + host["host_token"]})
    assert_problem(r, 401)
    assert_problem(admin.get("/v1/hosts/no-such-host"), 404)

    # paging in creation order
    for i in range(3):
        register(nubod, name="page-%d" % i)
    page = admin.get("/v1/hosts?limit=2").json()
    assert len(page["hosts"]) == 2 and page["next_marker"] == page["hosts"][1]["id"]
    rest = admin.get("/v1/hosts?limit=10&marker=" + page["next_marker"]).json()
    names = [h["name"] for h in page["hosts"] + rest["hosts"]]
    assert names == ["private-host", "page-0", "page-1", "page-2"]

    # delete: the host's token stops working
    assert admin.delete("/v1/hosts/private-host").status_code == 204
    assert_problem(admin.get("/v1/hosts/private-host"), 404)
    assert_problem(heartbeat(nubod, host["host_id"], host["host_token"]), 401)
    audit = admin.get("/v1/audit?action=host.delete").json()["audit"]
    assert audit and audit[-1]["result"] == "success"


@pytest.fixture
def quick_nubod(tmp_path):
    """nubod that declares a host down after 1.5 s of silence."""
    n = Nubod(str(tmp_path), extra=["--host-down-ms", "1500"]).start()
    yield n
    if n.proc is not None:
        rc = n.stop()
        assert rc == 0, "nubod exited with %d:\n%s" % (rc, n.log())


def test_host_goes_down_after_silence_and_comes_back(quick_nubod):
    nubod = quick_nubod
    admin = nubod.admin()
    r = register(nubod, name="quiet")
    host_id, token = r.json()["host_id"], r.json()["host_token"]
    t0 = time.time()
    h = wait_for("host down",
                 lambda: (lambda h: h if h["state"] == "down" else None)(
                     admin.get("/v1/hosts/quiet").json()), timeout=10)
    assert time.time() - t0 >= 1.4, "down too early"
    assert h["state"] == "down"
    assert heartbeat(nubod, host_id, token).status_code == 200
    assert admin.get("/v1/hosts/quiet").json()["state"] == "up"


# ------------------------------------------------------ with a fake agent

class FakeHostd:
    """nubo-hostd with --driver fake, joined to a nubod."""

    def __init__(self, tmp, nubod, name, heartbeat_ms=500):
        self.dir = os.path.join(tmp, name)
        self.state = os.path.join(self.dir, "state")
        self.images = os.path.join(self.dir, "images")
        self.sock = os.path.join(self.dir, "hostd.sock")
        self.log_path = os.path.join(self.dir, "hostd.log")
        os.makedirs(self.images, exist_ok=True)
        self.args = [HOSTD, "--driver", "fake", "--state-dir", self.state,
                     "--images-dir", self.images, "--socket", self.sock,
                     "--controller", nubod.base,
                     "--join-token-file", os.path.join(nubod.dir, "join-token"),
                     "--advertise", "unix:" + self.sock, "--name", name,
                     "--heartbeat-ms", str(heartbeat_ms), "--log-level", "debug"]
        self.proc = None

    def start(self):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=self.logf, stderr=subprocess.STDOUT,
                                     env=env)
        wait_for("nubo-hostd socket", lambda: os.path.exists(self.sock) or self.proc.poll(),
                 timeout=30)
        assert self.proc.poll() is None, self.log()
        return self

    def stop(self):
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        self.proc = None
        self.logf.close()
        return rc

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-6000:]

    def call(self, method, path, body=None):
        import http.client
        import socket

        class Conn(http.client.HTTPConnection):
            def connect(s):
                s.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.sock.connect(self.sock)
        c = Conn("localhost", timeout=30)
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers=hdrs)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, (json.loads(data) if data else None)

    def vms(self):
        return self.call("GET", "/v1/vms")[1]["vms"]


def skip_without_tiny():
    """Skips the test when the nubo-tiny image is not built."""
    for ext in ("qcow2", "kernel", "initrd", "cmdline"):
        if not os.path.exists(os.path.join(IMAGES, "nubo-tiny." + ext)):
            pytest.skip("the nubo-tiny image is not built (images/build-guest.sh)")


def upload_tiny(admin):
    """The public image nubo-tiny, uploaded from IMAGES."""
    with open(os.path.join(IMAGES, "nubo-tiny.cmdline")) as f:
        cmdline = f.read().strip()
    r = admin.post("/v1/images", {"name": "nubo-tiny", "visibility": "public",
                                  "file": os.path.join(IMAGES, "nubo-tiny.qcow2"),
                                  "kernel_file": os.path.join(IMAGES, "nubo-tiny.kernel"),
                                  "initrd_file": os.path.join(IMAGES, "nubo-tiny.initrd"),
                                  "cmdline": cmdline})
    assert r.status_code == 201, r.text


def seed_tiny(admin):
    """The public image nubo-tiny and the flavor tiny."""
    upload_tiny(admin)
    r = admin.post("/v1/flavors", {"name": "tiny", "vcpus": 1, "ram_mib": 192, "disk_gib": 1})
    assert r.status_code == 201, r.text


@pytest.fixture
def fake_cloud(tmp_path):
    """nubod (host down after 2 s) + one fake agent + the nubo-tiny image +
    a flavor, and a tenant."""
    skip_without_tiny()
    nubod = Nubod(str(tmp_path), extra=["--host-down-ms", "2000"]).start()
    hostd = FakeHostd(str(tmp_path), nubod, "fake-1").start()
    admin = nubod.admin()
    wait_for("the fake host", lambda: [h for h in admin.get("/v1/hosts").json()["hosts"]
                                       if h["name"] == "fake-1" and h["state"] == "up"])
    seed_tiny(admin)
    tenant = make_tenant(nubod, admin)
    yield nubod, hostd, admin, tenant
    try:
        if hostd.proc is not None:
            rc = hostd.stop()
            assert rc == 0, "nubo-hostd exited with %d:\n%s" % (rc, hostd.log())
    finally:
        if hostd.proc is not None:
            hostd.proc.kill()
        if nubod.proc is not None:
            rc = nubod.stop()
            assert rc == 0, "nubod exited with %d:\n%s" % (rc, nubod.log())


def instance(client, iid):
    r = client.get("/v1/instances/" + iid)
    assert r.status_code == 200, r.text
    return r.json()


def wait_status(client, iid, status, timeout=20):
    last = {}

    def check():
        last["i"] = instance(client, iid)
        return last["i"] if last["i"]["status"] == status else None
    try:
        return wait_for("status " + status, check, timeout=timeout)
    except AssertionError:
        raise AssertionError("instance is %s, not %s" % (last.get("i"), status))


def events(client, iid):
    return [e["event"] for e in client.get("/v1/instances/%s/events" % iid).json()["events"]]


def test_fake_host_lifecycle_down_and_back(fake_cloud):
    nubod, hostd, admin, tenant = fake_cloud
    r = tenant.post("/v1/instances", {"name": "App.One", "flavor": "tiny",
                                      "image": "nubo-tiny"})
    assert r.status_code == 202, r.text
    iid = r.json()["instances"][0]["id"]
    inst = wait_status(tenant, iid, "running")
    assert inst["power_state"] == "running" and inst["host"]["name"] == "fake-1"
    # the image went to the agent under its id, the VM is named after the instance
    img_id = inst["image"]["id"]
    names = sorted(os.listdir(hostd.images))
    assert names == ["img-%s.%s" % (img_id, e) for e in ("cmdline", "initrd", "kernel", "qcow2")]
    vm = [v for v in hostd.vms() if v["name"] == "nubo-" + iid][0]
    assert vm["id"] == iid and vm["hostname"] == "app-one" and vm["memory_mib"] == 192
    assert vm["root_disk_bytes"] == 1 << 30
    console = tenant.get("/v1/instances/%s/console" % iid)
    assert console.status_code == 200 and "NUBO-READY instance-id=" + iid in console.text
    task = tenant.get("/v1/tasks?instance=" + iid).json()["tasks"][0]
    assert task["kind"] == "create" and task["status"] == "succeeded"
    h = admin.get("/v1/hosts/fake-1").json()
    assert h["driver"] == "fake" and h["instances"] == 1
    assert h["used"] == {"vcpus": 1, "ram_mib": 192, "disk_gib": 1}

    # stop / start / reboot
    assert tenant.post("/v1/instances/%s/actions" % iid, {"action": "stop"}).status_code == 202
    assert wait_status(tenant, iid, "stopped")["power_state"] == "stopped"
    assert tenant.post("/v1/instances/%s/actions" % iid, {"action": "start"}).status_code == 202
    assert wait_status(tenant, iid, "running")["boots"] == 2
    assert tenant.post("/v1/instances/%s/actions" % iid, {"action": "reboot"}).status_code == 202
    assert wait_status(tenant, iid, "running")["boots"] == 3
    ev = events(tenant, iid)
    for e in ("VM created", "running", "stopped", "reboot requested", "rebooted"):
        assert e in ev, ev

    # an orphan: a VM of ours that no instance wants is removed
    orphan = "nubo-" + str(uuid.uuid4())
    st, _ = hostd.call("POST", "/v1/vms", {"name": orphan, "image": "img-" + img_id,
                                           "memory": 64, "start": False})
    assert st == 201
    wait_for("orphan removal", lambda: orphan not in [v["name"] for v in hostd.vms()])
    # ... but VMs with other names are not ours to touch
    st, _ = hostd.call("POST", "/v1/vms", {"name": "hand-made", "image": "img-" + img_id,
                                           "memory": 64, "start": False})
    assert st == 201
    time.sleep(1.5)
    assert "hand-made" in [v["name"] for v in hostd.vms()]
    assert hostd.call("DELETE", "/v1/vms/hand-made")[0] == 204

    # the agent goes silent: host down, instance unknown; back: running again
    hostd.proc.send_signal(signal.SIGSTOP)
    try:
        wait_for("host down", lambda: admin.get("/v1/hosts/fake-1").json()["state"] == "down",
                 timeout=15)
        wait_status(tenant, iid, "unknown", timeout=5)
    finally:
        hostd.proc.send_signal(signal.SIGCONT)
    wait_for("host up", lambda: admin.get("/v1/hosts/fake-1").json()["state"] == "up")
    inst = wait_status(tenant, iid, "running")
    assert inst["boots"] == 3       # nothing was restarted
    assert "host down" in events(tenant, iid)

    # the VM disappears behind the controller's back: it is recreated
    assert hostd.call("DELETE", "/v1/vms/nubo-" + iid)[0] == 204
    wait_for("recreated VM", lambda: "nubo-" + iid in [v["name"] for v in hostd.vms()])
    wait_status(tenant, iid, "running")
    assert "VM missing" in events(tenant, iid)

    # delete: the VM goes, the instance is deleted, the host can go
    assert_problem(admin.delete("/v1/hosts/fake-1"), 409)
    r = tenant.delete("/v1/instances/" + iid)
    assert r.status_code == 202, r.text
    inst = wait_status(tenant, iid, "deleted")
    assert inst["deleted_at"] and inst["power_state"] == "none"
    assert hostd.vms() == []
    assert admin.get("/v1/hosts/fake-1").json()["used"]["vcpus"] == 0


def test_agent_restart_keeps_its_registration(fake_cloud):
    nubod, hostd, admin, tenant = fake_cloud
    host_id = admin.get("/v1/hosts/fake-1").json()["id"]
    cj = os.path.join(hostd.state, "controller.json")
    assert oct(os.stat(cj).st_mode & 0o777) == "0o600"
    with open(cj) as f:
        saved = json.load(f)
    assert saved["host_id"] == host_id and saved["host_token"].startswith("nubohost_")
    r = tenant.post("/v1/instances", {"name": "keep", "flavor": "tiny", "image": "nubo-tiny"})
    iid = r.json()["instances"][0]["id"]
    wait_status(tenant, iid, "running")
    assert hostd.stop() == 0
    hostd.start()
    time.sleep(1.5)
    assert "registered with" not in hostd.log().split("nubo-hostd 0.1.0 ready")[-1]
    hosts = admin.get("/v1/hosts").json()["hosts"]
    assert [h["id"] for h in hosts] == [host_id]
    inst = wait_status(tenant, iid, "running")
    assert inst["boots"] == 1

    # the controller forgets the host: the agent registers again by itself
    tenant.delete("/v1/instances/" + iid)
    wait_status(tenant, iid, "deleted")
    assert admin.delete("/v1/hosts/fake-1").status_code == 204
    h = wait_for("re-registration", lambda: [h for h in admin.get("/v1/hosts").json()["hosts"]
                                             if h["name"] == "fake-1"], timeout=15)[0]
    assert h["id"] != host_id and h["state"] == "up"


def test_create_failure_on_the_agent_is_an_error(fake_cloud):
    nubod, hostd, admin, tenant = fake_cloud
    # Fill the agent's memory with a VM the controller does not know about:
    # the scheduler places the instance, the agent refuses it (507).
    st, info = hostd.call("GET", "/v1/host")
    free = info["capacity"]["memory_mib"]["free"]
    assert free > 300
    img = admin.get("/v1/images?name=nubo-tiny").json()["images"][0]["id"]
    r = tenant.post("/v1/instances", {"name": "first", "flavor": "tiny", "image": "nubo-tiny"})
    first = r.json()["instances"][0]["id"]
    wait_status(tenant, first, "running")   # the image is on the agent now
    st, _ = hostd.call("POST", "/v1/vms", {"name": "memory-hog", "image": "img-" + img,
                                           "memory": free - 192 - 100, "start": False})
    assert st == 201
    r = tenant.post("/v1/instances", {"name": "big", "flavor": "tiny", "image": "nubo-tiny"})
    assert r.status_code == 202, r.text
    iid = r.json()["instances"][0]["id"]
    inst = wait_status(tenant, iid, "error")
    assert "fake-1" in inst["fault"] and "memory" in inst["fault"], inst
    assert "create failed" in events(tenant, iid)
    task = tenant.get("/v1/tasks?instance=" + iid).json()["tasks"][0]
    assert task["status"] == "failed" and task["error"]
    # an instance in error is left alone, and can be deleted
    time.sleep(1)
    assert instance(tenant, iid)["status"] == "error"
    assert tenant.delete("/v1/instances/" + iid).status_code == 202
    wait_status(tenant, iid, "deleted")
    assert hostd.call("DELETE", "/v1/vms/memory-hog")[0] == 204
