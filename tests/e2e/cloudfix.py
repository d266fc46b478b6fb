"""What the end-to-end tests of the whole cloud share: one nubod (the API
tests' harness, tests/api/conftest.py) with real nubo-hostd agents joined to
it (CloudHostd), the one-agent cloud most tests start from
(one_host_cloud()), the admin's set-up of the nubo-tiny image and the tiny
flavor every test boots (register_tiny(), tiny_cloud()), and the helpers
that follow an instance (wait_status(), console(), wait_ready()...).

conftest.py holds what the agent-only tests use as well (paths, the host
protocol client, kill_leftovers()).
"""
import base64
import contextlib
import importlib.util
import os
import signal
import struct
import subprocess
import time

from conftest import HOSTD, IMAGES, READY, Api, kill_leftovers
from speed import Deadline

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
    """Calls fn until it returns something true; timeout in idle-machine
    seconds (speed.py)."""
    deadline = Deadline(timeout)
    while True:
        v = fn()
        if v:
            return v
        if deadline.passed():
            raise AssertionError("timed out after %s waiting for %s" % (deadline, what))
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
def hosts_cloud(tmp, names, extra_args=(), nubod_args=()):
    """nubod (started with nubod_args) and a joined nubo-hostd per name
    (each started with extra_args); on the way out every VM is deleted and
    every program must exit cleanly (sanitizers), and nothing is left
    running even when the test failed.  Yields (nubod, [hosts])."""
    nubod = harness.Nubod(tmp, nubod_args).start()
    hosts = [CloudHostd(tmp, nubod, name) for name in names]
    for h in hosts:
        h.args += list(extra_args)
    try:
        for h in hosts:
            h.start()
        yield nubod, hosts
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


@contextlib.contextmanager
def one_host_cloud(tmp, name, extra_args=(), nubod_args=()):
    """hosts_cloud() with one agent: yields (nubod, host)."""
    with hosts_cloud(tmp, [name], extra_args, nubod_args) as (nubod, (host,)):
        yield nubod, host


# ------------------------------------------------- the admin's set-up

TINY_FLAVOR = {"name": "tiny", "vcpus": 1, "ram_mib": 192, "disk_gib": 1}


def wait_hosts_up(admin, count=1, timeout=30, also=lambda h: True):
    """Waits until the controller knows exactly `count` hosts, all up (and
    `also` for each); returns them."""
    def up():
        hs = admin.get("/v1/hosts").json()["hosts"]
        return hs if len(hs) == count and all(h["state"] == "up" and also(h)
                                              for h in hs) else None
    what = "the host" if count == 1 else "%d hosts up" % count
    return wait_for(what, up, timeout=timeout)


def register_tiny(admin):
    """The admin registers the public nubo-tiny image (from IMAGES) and the
    tiny flavor (1 vCPU, 192 MiB, 1 GiB); returns the image."""
    with open(os.path.join(IMAGES, "nubo-tiny.cmdline")) as f:
        cmdline = f.read().strip()
    r = admin.post("/v1/images", {"name": "nubo-tiny", "visibility": "public",
                                  "file": os.path.join(IMAGES, "nubo-tiny.qcow2"),
                                  "kernel_file": os.path.join(IMAGES, "nubo-tiny.kernel"),
                                  "initrd_file": os.path.join(IMAGES, "nubo-tiny.initrd"),
                                  "cmdline": cmdline})
    assert r.status_code == 201, r.text
    image = r.json()
    r = admin.post("/v1/flavors", TINY_FLAVOR)
    assert r.status_code == 201, r.text
    return image


def tiny_cloud(nubod, timeout=30):
    """A one-host cloud made ready to boot: waits for its host, registers
    nubo-tiny and the tiny flavor; returns (admin, a new tenant)."""
    admin = nubod.admin()
    wait_hosts_up(admin, 1, timeout=timeout)
    register_tiny(admin)
    return admin, harness.make_tenant(nubod, admin)


# ---------------------------------------------------------- instances

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
