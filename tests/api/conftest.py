"""Fixtures for API tests against a real nubod (the ASan+UBSan build by
default), each test with its own state directory and port.

Environment: NUBO_BUILD (default build-asan).
"""
import os
import signal
import socket
import subprocess
import time
import uuid

import pytest
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("NUBO_BUILD", "build-asan"))
NUBOD = os.path.join(BUILD, "src", "ctrl", "nubod")
HOSTD = os.path.join(BUILD, "src", "host", "nubo-hostd")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """An HTTP client of nubod holding one bearer token."""

    def __init__(self, base, token=None):
        self.base = base
        self.token = token
        self.s = requests.Session()

    def req(self, method, path, json=None, headers=None, data=None, token=True):
        h = dict(headers or {})
        if token and self.token:
            h["Authorization"] = "Bearer " + self.token
        return self.s.request(method, self.base + path, json=json, data=data, headers=h,
                              timeout=60)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.req("POST", path, json=json, **kw)

    def put(self, path, json=None, **kw):
        return self.req("PUT", path, json=json, **kw)

    def patch(self, path, json=None, **kw):
        return self.req("PATCH", path, json=json, **kw)

    def delete(self, path, **kw):
        return self.req("DELETE", path, **kw)


class Nubod:
    def __init__(self, tmp, extra=()):
        self.dir = os.path.join(tmp, "controller")
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(tmp, "nubod.log")
        self.extra = list(extra)
        self.proc = None

    def start(self):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [NUBOD, "--state-dir", self.dir, "--listen", "127.0.0.1:%d" % self.port,
             "--log-level", "debug", "--reconcile-ms", "500"] + self.extra,
            stdout=self.logf, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("nubod exited with %s:\n%s" % (self.proc.returncode,
                                                                   self.log()))
            try:
                if requests.get(self.base + "/v1/health", timeout=2).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise AssertionError("nubod did not come up:\n" + self.log())

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return 0
        self.proc.send_signal(sig)
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
                return f.read().decode("utf-8", "replace")[-8000:]
        except OSError:
            return ""

    @property
    def admin_password(self):
        with open(os.path.join(self.dir, "admin-password")) as f:
            return f.read().strip()

    @property
    def join_token(self):
        with open(os.path.join(self.dir, "join-token")) as f:
            return f.read().strip()

    def login(self, user, password, project=None):
        body = {"user": user, "password": password}
        if project:
            body["project"] = project
        r = requests.post(self.base + "/v1/auth/tokens", json=body, timeout=30)
        assert r.status_code == 201, r.text
        return Client(self.base, r.json()["token"])

    def admin(self, project="admin"):
        return self.login("admin", self.admin_password, project)


@pytest.fixture
def nubod(tmp_path):
    """A running nubod; on teardown it must exit cleanly (status 0: no leak,
    no sanitizer error)."""
    n = Nubod(str(tmp_path)).start()
    yield n
    if n.proc is not None:
        rc = n.stop()
        assert rc == 0, "nubod exited with %d:\n%s" % (rc, n.log())


@pytest.fixture
def admin(nubod):
    return nubod.admin()


def make_tenant(nubod, admin, role="member", project=None, user=None):
    """Creates (if needed) a project and a user with `role` in it; returns a
    client logged in to that project."""
    project = project or "p-" + uuid.uuid4().hex[:8]
    user = user or "u-" + uuid.uuid4().hex[:8]
    r = admin.post("/v1/projects", {"name": project})
    assert r.status_code in (201, 409), r.text
    r = admin.post("/v1/users", {"name": user, "password": "secret-password-1"})
    assert r.status_code in (201, 409), r.text
    r = admin.put("/v1/projects/%s/members/%s" % (project, user), {"role": role})
    assert r.status_code == 200, r.text
    c = nubod.login(user, "secret-password-1", project)
    c.project = project
    c.user = user
    return c


def assert_problem(r, status, detail=None):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"] == "application/problem+json", r.headers
    p = r.json()
    assert p["status"] == status and p["title"] and p["type"].startswith("https://")
    if detail:
        assert detail in p["detail"], p
    assert r.headers.get("X-Request-Id")
    return p
