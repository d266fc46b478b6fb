"""Shared fixtures for nubo's end-to-end tests.

These tests start real programs: nubo-hostd (the build under test, by default
the ASan+UBSan one), real QEMU booting the real nubo-tiny guest image built by
images/build-guest.sh.  Each test gets its own state directory, images
directory and API socket under a temporary directory, so nothing touches
/var/lib/nubo or /run/nubo.

Environment:
  NUBO_BUILD   build directory holding src/host/nubo-hostd (default build-asan)
  NUBO_IMAGES  directory holding nubo-tiny.{qcow2,kernel,initrd,cmdline}
               (default build/images)
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from speed import Deadline

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("NUBO_BUILD", "build-asan"))
IMAGES = os.environ.get("NUBO_IMAGES", os.path.join(ROOT, "build", "images"))
HOSTD = os.path.join(BUILD, "src", "host", "nubo-hostd")
CLI = os.path.join(BUILD, "src", "cli", "nubo")
READY = "NUBO-READY"


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:300])


class Api:
    """A minimal client of the host protocol (docs/internals/host-protocol.md)."""

    def __init__(self, sock):
        self.sock = sock

    def request(self, method, path, body=None, headers=None, raw=None):
        conn = UnixHTTPConnection(self.sock)
        hdrs = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        resp = Response(r.status, dict(r.getheaders()), r.read())
        conn.close()
        return resp

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body=None):
        return self.request("POST", path, body)

    def delete(self, path):
        return self.request("DELETE", path)

    def vm(self, ref):
        r = self.get("/v1/vms/" + ref)
        assert r.status == 200, r
        return r.json

    def create(self, **fields):
        fields.setdefault("image", "nubo-tiny")
        fields.setdefault("memory", "192M")
        r = self.post("/v1/vms", fields)
        assert r.status == 201, r
        return r.json

    def console(self, ref):
        r = self.get("/v1/vms/%s/console?limit=1048576" % ref)
        assert r.status == 200, r
        return r.text

    def wait_state(self, ref, states, timeout=60):
        states = (states,) if isinstance(states, str) else states
        deadline = Deadline(timeout)
        while True:
            vm = self.vm(ref)
            if vm["state"] in states:
                return vm
            if deadline.passed():
                raise AssertionError("VM %s is %s (%s), not %s after %s"
                                     % (ref, vm["state"], vm["reason"], states, deadline))
            time.sleep(0.1)

    def wait_ready(self, ref, count=1, timeout=90):
        """Waits until the console shows `count` ready markers."""
        deadline = Deadline(timeout)
        while True:
            text = self.console(ref)
            if text.count(READY) >= count:
                return text
            vm = self.vm(ref)
            if vm["state"] in ("stopped", "crashed"):
                raise AssertionError("VM %s is %s (%s) before the ready marker; console:\n%s"
                                     % (ref, vm["state"], vm["reason"], text[-2000:]))
            if deadline.passed():
                raise AssertionError("no %d x %s after %s; console:\n%s"
                                     % (count, READY, deadline, text[-2000:]))
            time.sleep(0.2)


class Hostd:
    """One nubo-hostd process with its own directories."""

    def __init__(self, tmp, extra_args=()):
        self.tmp = tmp
        self.state = os.path.join(tmp, "state")
        self.images = os.path.join(tmp, "images")
        self.sock = os.path.join(tmp, "hostd.sock")
        self.log_path = os.path.join(tmp, "hostd.log")
        self.extra = list(extra_args)
        self.proc = None
        os.makedirs(self.images, exist_ok=True)
        for ext in ("qcow2", "kernel", "initrd", "cmdline"):
            src = os.path.join(IMAGES, "nubo-tiny." + ext)
            dst = os.path.join(self.images, "nubo-tiny." + ext)
            if not os.path.exists(dst):
                os.symlink(src, dst)
        self.api = Api(self.sock)

    def start(self):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [HOSTD, "--state-dir", self.state, "--images-dir", self.images,
             "--socket", self.sock, "--stop-timeout", "20", "--cpu-ratio", "8",
             "--log-level", "debug"] + self.extra,
            stdout=self.logf, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("nubo-hostd exited with %s:\n%s"
                                     % (self.proc.returncode, self.log()))
            if os.path.exists(self.sock):
                try:
                    if self.api.get("/v1/host").status == 200:
                        return self
                except OSError:
                    pass
            time.sleep(0.05)
        raise AssertionError("nubo-hostd did not come up:\n" + self.log())

    def stop(self):
        """SIGTERM; returns the exit status (LeakSanitizer makes it non-zero
        on a leak)."""
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

    def qemu_pids(self):
        """Pids of QEMU processes started for VMs of this agent."""
        out = subprocess.run(["pgrep", "-f", "--", self.state + "/vms/"],
                             capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]


def kill_leftovers(h):
    for pid in h.qemu_pids():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def hostd(tmp_path):
    """A running nubo-hostd; on teardown every VM is deleted, the agent is
    stopped and must exit cleanly (status 0: no leak, no sanitizer error)."""
    h = Hostd(str(tmp_path)).start()
    yield h
    try:
        if h.proc is not None:
            for vm in h.api.get("/v1/vms").json["vms"]:
                h.api.delete("/v1/vms/" + vm["id"])
            rc = h.stop()
            assert rc == 0, "nubo-hostd exited with %d:\n%s" % (rc, h.log())
    finally:
        kill_leftovers(h)
        if h.proc is not None:
            h.proc.kill()


def pytest_sessionstart(session):
    for ext in ("qcow2", "kernel", "initrd", "cmdline"):
        path = os.path.join(IMAGES, "nubo-tiny." + ext)
        if not os.path.exists(path):
            raise pytest.UsageError("%s is missing: run images/build-guest.sh first "
                                    "(scripts/test does)" % path)
    if not os.access(HOSTD, os.X_OK):
        raise pytest.UsageError("%s is missing: build first (scripts/test does)" % HOSTD)
