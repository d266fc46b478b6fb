"""Fixtures for API tests against a real nubod (the ASan+UBSan build by
default), each test with its own state directory and port.

Environment: NUBO_BUILD (default build-asan); NUBO_TEST_STORE=postgresql
runs every nubod on PostgreSQL (a fresh database per nubod, dropped after
the test) instead of its SQLite file: on the server at NUBO_TEST_PG_URL
(a URL of its maintenance database, as scripts/pg-test.sh prints), or on
one this session starts with scripts/pg-test.sh.  Tests that read or write
the database directly use db_connect(nubod), which speaks to either.
NUBO_TEST_FIXTURE=tests/api/data/nubo-vN.sql starts every nubod on that
earlier version's database instead of a new one (load_fixture()).
"""
import os
import re
import shutil
import sqlite3
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

STORE = os.environ.get("NUBO_TEST_STORE", "sqlite")
ON_PG = STORE == "postgresql"
assert STORE in ("sqlite", "postgresql"), "NUBO_TEST_STORE is sqlite or postgresql"


class PgServer:
    """The PostgreSQL server of this test session (ON_PG only)."""
    url = None        # the maintenance database's URL
    started = None    # the directory of a server this session started
    created = []      # the Nubods that have a database

    @classmethod
    def ensure(cls):
        if cls.url:
            return
        cls.url = os.environ.get("NUBO_TEST_PG_URL")
        if not cls.url:
            out = subprocess.run([os.path.join(ROOT, "scripts", "pg-test.sh"), "start"],
                                 check=True, capture_output=True, text=True).stdout
            env = dict(line.split("=", 1) for line in out.split())
            cls.started, cls.url = env["NUBO_TEST_PG_DIR"], env["NUBO_TEST_PG_URL"]

    @classmethod
    def admin_conn(cls):
        import psycopg2
        cls.ensure()
        c = psycopg2.connect(cls.url)
        c.autocommit = True
        return c

    @classmethod
    def create_db(cls, owner):
        name = "nubo_" + uuid.uuid4().hex[:16]
        c = cls.admin_conn()
        try:
            c.cursor().execute("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8' "
                               "LC_COLLATE 'C' LC_CTYPE 'C'" % name)
        finally:
            c.close()
        cls.created.append((owner, name))
        return cls.db_url(name)

    @classmethod
    def db_url(cls, name):
        return re.sub(r"^(postgres(?:ql)?://[^/]*/)[^?]*", lambda m: m.group(1) + name, cls.url)

    @classmethod
    def drop_created(cls, everything=False):
        """Drops the databases of the nubods that stopped (module-scoped
        ones run on), or of all with everything."""
        done = [(n, name) for n, name in cls.created if everything or n.proc is None]
        if not done:
            return
        c = cls.admin_conn()
        try:
            for n, name in done:
                c.cursor().execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        finally:
            c.close()
        cls.created = [x for x in cls.created if x not in done]


@pytest.fixture(autouse=True)
def _pg_databases():
    """Drops the databases of the test's nubods, after they stopped."""
    yield
    if ON_PG:
        PgServer.drop_created()


def pytest_sessionfinish(session, exitstatus):
    if ON_PG and PgServer.url:
        PgServer.drop_created(everything=True)
    if PgServer.started:
        subprocess.run([os.path.join(ROOT, "scripts", "pg-test.sh"), "stop", PgServer.started],
                       check=False)


class _PgCursor:
    def __init__(self, cur):
        self.cur = cur

    def fetchone(self):
        return self.cur.fetchone()

    def fetchall(self):
        return self.cur.fetchall()

    def __iter__(self):
        return iter(self.cur.fetchall())


class _PgConn:
    """The part of sqlite3.Connection the tests use, over psycopg2: '?'
    placeholders, execute() on the connection, `with` commits."""

    def __init__(self, url, dict_rows=False):
        import psycopg2
        import psycopg2.extras
        self.c = psycopg2.connect(url)
        self.factory = psycopg2.extras.RealDictCursor if dict_rows else None

    def execute(self, sql, args=()):
        cur = self.c.cursor(cursor_factory=self.factory) if self.factory else self.c.cursor()
        cur.execute(sql.replace("%", "%%").replace("?", "%s"), tuple(args))
        return _PgCursor(cur)

    def commit(self):
        self.c.commit()

    def close(self):
        self.c.close()

    def __enter__(self):
        return self

    def __exit__(self, typ, val, tb):
        if typ is None:
            self.c.commit()
        else:
            self.c.rollback()
        return False


def db_connect(nubod, dict_rows=False):
    """A connection to nubod's database, SQLite or PostgreSQL, with '?'
    placeholders; `with` commits.  dict_rows: rows as dicts."""
    if ON_PG:
        return _PgConn(nubod.store, dict_rows)
    c = sqlite3.connect(os.path.join(nubod.dir, "nubo.db"), timeout=15)
    if dict_rows:
        c.row_factory = lambda cur, row: {d[0]: v for d, v in zip(cur.description, row)}
    c.execute("PRAGMA foreign_keys=ON")
    return c


def db_integrity_errors():
    """The exceptions a constraint violation raises through db_connect."""
    if ON_PG:
        import psycopg2
        return (psycopg2.IntegrityError,)
    return (sqlite3.IntegrityError,)


def db_tables(nubod):
    """{table: [columns]} of nubod's database."""
    c = db_connect(nubod)
    try:
        if ON_PG:
            out = {}
            for t, col in c.execute("SELECT table_name, column_name FROM information_schema.columns"
                                    " WHERE table_schema = 'public'"):
                out.setdefault(t, []).append(col)
            return out
        tables = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: [r[1] for r in c.execute("PRAGMA table_info(%s)" % t)] for t in tables}
    finally:
        c.close()


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


def load_fixture(state_dir, sql_path):
    """Makes state_dir the controller state of an earlier nubo version: its
    database from a data/nubo-vN.sql dump, the bootstrap admin's password
    file (the dump's "-- admin-password:" line) and, for every active image,
    the nubo-tiny files it was made from (NUBO_IMAGES), as that controller's
    image directory held them.  For test_upgrade.py and NUBO_TEST_FIXTURE."""
    os.makedirs(os.path.join(state_dir, "images"), mode=0o700)
    with open(sql_path) as f:
        sql = f.read()
    con = sqlite3.connect(os.path.join(state_dir, "nubo.db"))
    con.executescript(sql)
    images = [r[0] for r in con.execute("SELECT id FROM images WHERE status = 'active'")]
    con.close()
    m = re.search(r"^-- admin-password: (\S+)$", sql, re.M)
    if m:
        fd = os.open(os.path.join(state_dir, "admin-password"), os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, (m.group(1) + "\n").encode())
        os.close(fd)
    src = os.environ.get("NUBO_IMAGES", os.path.join(ROOT, "build", "images"))
    for iid in images:
        for ext, part in (("qcow2", "disk"), ("kernel", "kernel"), ("initrd", "initrd")):
            path = os.path.join(src, "nubo-tiny." + ext)
            if os.path.exists(path):
                shutil.copyfile(path, os.path.join(state_dir, "images", iid + "." + part))


class Nubod:
    def __init__(self, tmp, extra=()):
        self.dir = os.path.join(tmp, "controller")
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(tmp, "nubod.log")
        self.extra = list(extra)
        self.proc = None
        self.store = None  # the PostgreSQL URL, made on the first start (ON_PG)

    def start(self):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        self.logf = open(self.log_path, "ab")
        store = []
        # NUBO_TEST_FIXTURE=tests/api/data/nubo-vN.sql: every nubod of the
        # run starts on a cloud an earlier nubo made (SQLite only), upgraded
        # by this one (test_upgrade.py)
        fixture = os.environ.get("NUBO_TEST_FIXTURE")
        if (fixture and not ON_PG and "--store" not in self.extra and
                not os.path.exists(self.dir)):
            load_fixture(self.dir, fixture)
        if ON_PG and "--store" not in self.extra:
            if self.store is None:
                self.store = PgServer.create_db(self)
            store = ["--store", self.store]
        for attempt in range(5):
            # ours answers only once its own log says it listens on the port:
            # the API passes run side by side, and a port free_port() gave
            # may be taken meanwhile by the other pass's nubod, which would
            # answer /v1/health in ours' stead
            marker = ":%d/v1 (schema version" % self.port
            seen = self.full_log().count(marker)
            in_use = self.full_log().count("Address already in use")
            self.proc = subprocess.Popen(
                [NUBOD, "--state-dir", self.dir, "--listen", "127.0.0.1:%d" % self.port,
                 "--log-level", "debug", "--reconcile-ms", "500"] + store + self.extra,
                stdout=self.logf, stderr=subprocess.STDOUT, env=env)
            deadline = time.time() + 30
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    if self.full_log().count("Address already in use") > in_use and attempt < 4:
                        break  # taken since free_port(): another port
                    raise AssertionError("nubod exited with %s:\n%s" % (self.proc.returncode,
                                                                       self.log()))
                try:
                    if (self.full_log().count(marker) > seen and
                            requests.get(self.base + "/v1/health", timeout=2).status_code == 200):
                        return self
                except requests.ConnectionError:
                    pass
                time.sleep(0.05)
            else:
                break
            self.port = free_port()
            self.base = self.base.rsplit(":", 1)[0] + ":%d" % self.port
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

    def full_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

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
        # 503 + Retry-After: every password-hashing slot is busy (another
        # login, a user being created); a client retries, as the answer says
        for _ in range(20):
            r = requests.post(self.base + "/v1/auth/tokens", json=body, timeout=30)
            if r.status_code != 503 or "Retry-After" not in r.headers:
                break
            time.sleep(int(r.headers["Retry-After"]))
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
