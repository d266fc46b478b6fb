"""The nubo CLI's cloud commands against a real nubod (the ASan+UBSan builds
of both by default): login and the saved config, tables for people and JSON
for scripts, exit codes, and what the CLI does on its own (paging,
idempotency keys, retries) against a small fake controller.

Every CLI run gets its own XDG_CONFIG_HOME, and the ASan build of the CLI
fails (non-zero exit) on a leak, so each run here is also a leak check.

Exit codes: 0 done; 1 the request failed (API error, an instance that went
to error, a session that expired); 2 usage error; 3 the controller cannot be
reached, or not logged in.
"""
import json
import os
import shutil
import stat
import subprocess
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import BUILD, free_port

CLI = os.path.join(BUILD, "src", "cli", "nubo")
PW = "secret-password-1"
PUBKEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIxJ2IShFGCEqCD9H4PwKCzpF1Plx5o/gS2+mnPHtuP7 "
          "user@host")


def uid():
    return uuid.uuid4().hex[:8]


class Cli:
    """Runs the nubo CLI with its own config directory."""

    def __init__(self, tmp_path, url=None):
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.tmp = tmp_path
        self.xdg = tmp_path / "xdg"
        self.url = url

    @property
    def config_path(self):
        return self.xdg / "nubo" / "config.json"

    def config(self):
        return json.loads(self.config_path.read_text())

    def run(self, *args, env=None, stdin=subprocess.DEVNULL, timeout=120):
        e = dict(os.environ)
        for k in ("NUBO_URL", "NUBO_TOKEN", "NUBO_PASSWORD", "NUBO_TOKEN_FILE",
                  "NUBO_HOSTD_URL", "NUBO_HOSTD_SOCKET"):
            e.pop(k, None)
        e["XDG_CONFIG_HOME"] = str(self.xdg)
        e.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        e.update(env or {})
        # setsid: no controlling terminal, so nothing can prompt
        return subprocess.run(["setsid", "-w", CLI] + [str(a) for a in args],
                              capture_output=True, text=True, env=e, stdin=stdin,
                              timeout=timeout)

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
        return r

    def json(self, *args, **kw):
        return json.loads(self.ok("-o", "json", *args, **kw).stdout)

    def login(self, user, password, project=None):
        pwf = self.tmp / ("pw-" + uid())
        pwf.write_text(password + "\n")
        args = ["login", self.url, "--user", user, "--password-file", pwf]
        if project:
            args += ["--project", project]
        return self.ok(*args)


def table(stdout):
    """A table's rows as lists of cells (cells are separated by 3+ spaces)."""
    import re
    lines = [l for l in stdout.splitlines() if l.strip()]
    return [re.split(r"\s{3,}", l.strip()) for l in lines]


@pytest.fixture
def cli(nubod, tmp_path):
    return Cli(tmp_path, nubod.base)


@pytest.fixture
def admin_cli(cli, nubod):
    cli.login("admin", nubod.admin_password, "admin")
    return cli


# ------------------------------------------------------------ login, config


def test_login_saves_a_private_config(cli, nubod):
    r = cli.login("admin", nubod.admin_password)
    assert "logged in to %s as admin" % nubod.base in r.stdout
    d = cli.xdg / "nubo"
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(cli.config_path).st_mode) == 0o600
    cfg = cli.config()
    assert cfg["url"] == nubod.base and cfg["user"] == "admin"
    assert cfg["token"] and cfg["token_id"] and cfg["expires_at"] and cfg["project"]
    # no temporary file left beside it
    assert os.listdir(d) == ["config.json"]

    me = cli.json("whoami")
    assert me["user"]["name"] == "admin" and me["is_admin"] is True
    assert me["token_id"] == cfg["token_id"]
    r = cli.ok("whoami")
    assert "admin" in r.stdout and nubod.base in r.stdout and cfg["expires_at"] in r.stdout

    # logging in again replaces (and revokes) the token; the mode stays
    old = cfg["token"]
    r = cli.ok("login", "--password-file", _file(cli.tmp, nubod.admin_password),
               "--project", "demo", "-o", "json")
    out = json.loads(r.stdout)
    assert "token" not in out and out["project"]["name"] == "demo"
    cfg = cli.config()
    assert cfg["token"] != old and cfg["project"] == "demo"
    assert stat.S_IMODE(os.stat(cli.config_path).st_mode) == 0o600
    r = cli.run("project", "list", env={"NUBO_TOKEN": old})
    assert r.returncode == 1 and "session expired or was revoked" in r.stderr


def _file(tmp, text):
    p = tmp / ("f-" + uid())
    p.write_text(text + "\n")
    return p


def test_login_failures_and_password_sources(cli, nubod):
    r = cli.run("login", cli.url, "--user", "admin", "--password-file", _file(cli.tmp, "wrong"))
    assert r.returncode == 1 and "login failed" in r.stderr and "401" in r.stderr
    assert not cli.config_path.exists()

    # no terminal, no file, no env: a usage error, not a hang
    r = cli.run("login", cli.url, "--user", "admin")
    assert r.returncode == 2 and "--password-file" in r.stderr

    r = cli.run("login", cli.url, "--user", "admin",
                env={"NUBO_PASSWORD": nubod.admin_password})
    assert r.returncode == 0, r.stderr

    r = cli.run("login", "http://127.0.0.1:%d" % free_port(), "--user", "admin",
                "--password-file", _file(cli.tmp, "x"))
    assert r.returncode == 3 and "cannot reach nubod" in r.stderr

    for bad in (["login", "ftp://x", "--user", "a"], ["login", cli.url, "--user", "a;b"],
                ["login", cli.url, "a", "b"]):
        r = cli.run(*bad, "--password-file", _file(cli.tmp, "x"))
        assert r.returncode == 2, (bad, r.stderr)


def test_not_logged_in_and_unreachable_exit_3(cli, nubod, tmp_path):
    r = cli.run("project", "list")
    assert r.returncode == 3 and "nubo login" in r.stderr
    r = cli.run("instance", "list", env={"NUBO_URL": nubod.base})
    assert r.returncode == 3 and "nubo login" in r.stderr

    cli.login("admin", nubod.admin_password)
    # the saved token is never sent to another controller
    other = "http://127.0.0.1:%d" % free_port()
    r = cli.run("--url", other, "project", "list")
    assert r.returncode == 3 and "not logged in to " + other in r.stderr
    # a controller that is not there
    tok = _file(tmp_path, cli.config()["token"])
    r = cli.run("--url", other, "--token-file", tok, "project", "list")
    assert r.returncode == 3 and "cannot reach nubod" in r.stderr and "nubo login" in r.stderr
    # --socket belongs to the agent commands
    r = cli.run("--socket", "/tmp/x.sock", "project", "list")
    assert r.returncode == 2


def test_config_readable_by_others_is_refused(admin_cli):
    os.chmod(admin_cli.config_path, 0o644)
    r = admin_cli.run("whoami")
    assert r.returncode == 1 and "chmod 600" in r.stderr
    os.chmod(admin_cli.config_path, 0o600)
    admin_cli.ok("whoami")


def test_logout_revokes_then_401(admin_cli, tmp_path):
    token = admin_cli.config()["token"]
    tok = _file(tmp_path, token)
    r = admin_cli.ok("logout")
    assert "logged out" in r.stdout
    cfg = admin_cli.config()
    assert "token" not in cfg and cfg["url"] == admin_cli.url and cfg["user"] == "admin"
    assert stat.S_IMODE(os.stat(admin_cli.config_path).st_mode) == 0o600

    r = admin_cli.run("whoami")
    assert r.returncode == 3 and "nubo login" in r.stderr
    # the revoked token itself: 401, exit 1, "log in again"
    r = admin_cli.run("--token-file", tok, "whoami")
    assert r.returncode == 1
    assert "your session expired or was revoked: nubo login" in r.stderr
    r = admin_cli.run("project", "list", env={"NUBO_TOKEN": token})
    assert r.returncode == 1 and "session expired" in r.stderr
    # logging out twice is fine
    r = admin_cli.run("logout")
    assert r.returncode == 0 and "not logged in" in r.stderr


# ---------------------------------------------------------- identity commands


def test_projects_users_roles_quota(admin_cli, nubod, tmp_path):
    c = admin_cli
    p, u = "p-" + uid(), "u-" + uid()
    r = c.ok("project", "create", p, "--description", "the test project")
    assert "created project " + p in r.stdout
    r = c.run("project", "create", p)
    assert r.returncode == 1 and "409" in r.stderr

    rows = table(c.ok("project", "list").stdout)
    assert rows[0][:2] == ["NAME", "ID"]
    assert p in [row[0] for row in rows[1:]]
    projects = c.json("project", "list")["projects"]
    assert p in [x["name"] for x in projects]
    assert c.json("project", "show", p)["description"] == "the test project"
    assert c.run("project", "show", "nope-" + uid()).returncode == 1

    r = c.ok("user", "create", u, "--password-file", _file(tmp_path, PW), "--email", "u@x.org")
    assert "created user " + u in r.stdout
    assert c.run("user", "create", "short-" + uid(), "--password-file",
                 _file(tmp_path, "short")).returncode == 2
    assert u in [x["name"] for x in c.json("user", "list")["users"]]
    assert u in c.ok("user", "list").stdout

    c.ok("role", "set", p, u, "member")
    assert c.run("role", "set", p, u, "boss").returncode == 2
    members = c.json("project", "members", p)["members"]
    assert [(m["user_name"], m["role"]) for m in members] == [(u, "member")]
    r = c.ok("user", "show", u)
    assert p in r.stdout and "member" in r.stdout

    q = c.json("quota", "set", p, "--instances", "5", "--ram", "64G", "--disk", "1T")
    assert q["limits"]["instances"] == 5 and q["limits"]["ram_mib"] == 65536
    assert q["limits"]["disk_gib"] == 1024
    q = c.json("quota", "set", p, "--networks", "3", "--floating-ips", "2",
               "--security-group-rules", "7", "--image-size", "2G")
    assert q["limits"]["networks"] == 3 and q["limits"]["floating_ips"] == 2
    assert q["limits"]["security_group_rules"] == 7 and q["limits"]["image_gib"] == 2
    r = c.ok("quota", "show", p)
    assert table(r.stdout)[0] == ["RESOURCE", "USED", "LIMIT", "LEFT"]
    assert ["networks", "0", "3", "3"] in table(r.stdout), r.stdout
    assert "image_size" in r.stdout and "floating_ips" in r.stdout
    assert c.run("quota", "set", p).returncode == 2
    assert c.run("quota", "set", p, "--ram", "1500K").returncode == 2

    # the user logs in to the project and changes their password
    uc = Cli(tmp_path / "user", nubod.base)
    uc.login(u, PW, p)
    me = uc.json("whoami")
    assert me["role"] == "member" and me["project"]["name"] == p
    assert uc.json("quota", "show")["limits"]["instances"] == 5
    r = uc.run("user", "list")
    assert r.returncode == 1 and "403" in r.stderr
    uc.ok("user", "passwd", "--password-file", _file(tmp_path, PW + "-new"),
          "--current-password-file", _file(tmp_path, PW))
    uc.login(u, PW + "-new", p)

    key = uc.json("apikey", "create", "ci")
    assert key["key"]
    assert "ci" in uc.ok("apikey", "list").stdout
    kf = _file(tmp_path, key["key"])
    assert uc.json("--token-file", kf, "whoami")["user"]["name"] == u
    uc.ok("apikey", "delete", key["id"])
    assert uc.run("--token-file", kf, "whoami").returncode == 1

    c.ok("role", "remove", p, u)
    assert c.json("project", "members", p)["members"] == []
    c.ok("user", "delete", u)
    c.ok("project", "delete", p)
    assert p not in [x["name"] for x in c.json("project", "list")["projects"]]

    audit = c.json("audit", "--action", "project.create", "--limit", "1000")["audit"]
    assert any(a["action"] == "project.create" for a in audit)


# ------------------------------------------------------------ compute commands


def test_flavors_keypairs_server_groups(admin_cli, tmp_path):
    c = admin_cli
    r = c.ok("flavor", "create", "m1", "--vcpus", "2", "--ram", "1G", "--disk", "10")
    assert "created flavor m1" in r.stdout
    f = c.json("flavor", "show", "m1")
    assert (f["vcpus"], f["ram_mib"], f["disk_gib"], f["is_public"]) == (2, 1024, 10, True)
    c.ok("flavor", "create", "m2", "--vcpus", "1", "--ram", "64M", "--disk", "1G", "--private")
    rows = table(c.ok("flavor", "list").stdout)
    assert rows[0][:6] == ["NAME", "ID", "VCPUS", "RAM", "DISK", "PUBLIC"]
    byname = {row[0]: row for row in rows[1:]}
    assert byname["m1"][2:6] == ["2", "1.0G", "10G", "yes"] and byname["m2"][5] == "no"
    assert [x["name"] for x in c.json("flavor", "list")["flavors"]] == ["m1", "m2"]
    for bad in (["--vcpus", "0", "--ram", "1G", "--disk", "1"],
                ["--vcpus", "1", "--ram", "1G"],
                ["--vcpus", "1", "--ram", "lots", "--disk", "1"]):
        assert c.run("flavor", "create", "bad", *bad).returncode == 2, bad
    c.ok("flavor", "delete", "m2")
    assert c.run("flavor", "show", "m2").returncode == 1

    pub = _file(tmp_path, PUBKEY)
    r = c.ok("keypair", "create", "k1", "--public-key-file", pub)
    assert "SHA256:" in r.stdout
    assert "k1" in c.ok("keypair", "list").stdout
    assert c.json("keypair", "show", "k1")["public_key"] == PUBKEY
    priv = _file(tmp_path, "-----BEGIN OPENSSH PRIVATE KEY-----\nxx")
    assert c.run("keypair", "create", "k2", "--public-key-file", priv).returncode == 2
    assert c.run("keypair", "create", "k1", "--public-key-file", pub).returncode == 1

    r = c.ok("server-group", "create", "g1", "--policy", "anti-affinity")
    assert "created server group g1" in r.stdout
    g = c.json("server-group", "show", "g1")  # by name: resolved to the id
    assert g["policy"] == "anti-affinity"
    assert c.run("server-group", "create", "g2", "--policy", "spread").returncode == 2
    c.ok("server-group", "delete", "g1")
    assert c.json("server-group", "list")["server_groups"] == []
    c.ok("keypair", "delete", "k1")


def make_disk(tmp_path):
    path = tmp_path / "disk.qcow2"
    if shutil.which("qemu-img"):
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    else:
        path = tmp_path / "disk.raw"
        path.write_bytes(b"\0" * (1 << 20))
    return path


def test_image_upload(admin_cli, tmp_path):
    c = admin_cli
    disk = make_disk(tmp_path)
    kernel = _file(tmp_path, "not really a kernel")
    r = c.ok("image", "create", "img1", "--file", disk, "--kernel", kernel,
             "--cmdline", "console=ttyS0")
    assert "created image img1" in r.stdout and "uploading" in r.stderr
    img = c.json("image", "show", "img1")
    assert img["status"] == "active" and img["cmdline"] == "console=ttyS0"
    assert img["size_bytes"] == os.path.getsize(disk) and img["checksum_sha256"]
    rows = table(c.ok("image", "list").stdout)
    assert rows[0][:3] == ["NAME", "ID", "STATUS"] and rows[1][0] == "img1"
    assert [i["name"] for i in c.json("image", "list", "--status", "active")["images"]] == ["img1"]

    r = c.run("image", "create", "img2", "--file", tmp_path / "missing.qcow2")
    assert r.returncode == 2
    r = c.run("image", "create", "img2", "--file", disk, "--register-path", "/x")
    assert r.returncode == 2
    # a disk the controller refuses: the queued image is deleted again
    junk = tmp_path / "junk.qcow2"
    junk.write_bytes(b"QFI\xfb" + b"\xff" * 4096)
    r = c.run("image", "create", "img3", "--file", junk)
    assert r.returncode == 1
    assert [i["name"] for i in c.json("image", "list")["images"]] == ["img1"]

    c.ok("image", "delete", "img1")
    assert c.json("image", "list")["images"] == []


def test_instance_without_hosts_fails_with_its_fault(admin_cli, tmp_path):
    c = admin_cli
    c.ok("flavor", "create", "tiny", "--vcpus", "1", "--ram", "64M", "--disk", "1")
    c.ok("image", "create", "img", "--file", make_disk(tmp_path))

    r = c.run("instance", "create", "web1", "--flavor", "tiny", "--image", "img", "--wait",
              "--timeout", "60")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "went to error" in r.stderr and "no valid host" in r.stderr
    assert "web1" in r.stdout and "error" in r.stdout

    # without --wait it is accepted (202) and reported
    out = c.json("instance", "create", "web2", "--flavor", "tiny", "--image", "img",
                 "--count", "2")
    assert [i["name"] for i in out["instances"]] == ["web2-1", "web2-2"]
    assert len(out["task_ids"]) == 2

    rows = table(c.ok("instance", "list").stdout)
    assert rows[0][:3] == ["NAME", "ID", "STATUS"]
    assert sorted(row[0] for row in rows[1:]) == ["web1", "web2-1", "web2-2"]
    inst = c.json("instance", "show", "web1")
    assert inst["status"] == "error" and "no valid host" in inst["fault"]
    assert [i["name"] for i in c.json("instance", "list", "--status", "error")["instances"]] \
        == ["web1", "web2-1", "web2-2"]
    events = c.json("instance", "events", "web1")["events"]
    assert events
    task = c.json("task", "show", out["task_ids"][0])
    assert task["status"] == "failed" and "no valid host" in task["error"]

    assert c.run("instance", "create", "x", "--flavor", "tiny").returncode == 2
    assert c.run("instance", "create", "x", "--flavor", "nope", "--image", "img").returncode == 1
    assert c.run("instance", "show", "ghost").returncode == 1
    assert c.run("instance", "create", "x", "--flavor", "tiny", "--image", "img",
                 "--count", "99").returncode == 2

    c.ok("instance", "delete", "web1", "--wait", "--timeout", "60")
    c.ok("instance", "delete", "web2-1", "web2-2", "--wait", "--timeout", "60")
    assert c.json("instance", "list")["instances"] == []


def test_help_everywhere(cli):
    r = cli.ok("--help")
    for group in ("login", "instance", "flavor", "image", "keypair", "server-group", "project",
                  "user", "role", "apikey", "quota", "host", "audit", "task", "agent"):
        assert group in r.stdout, group
        cli.ok(group, "--help")
    for cmd in (["instance", "create"], ["instance", "console"], ["image", "create"],
                ["quota", "set"], ["role", "set"], ["user", "passwd"], ["host", "list"]):
        r = cli.ok(*cmd, "--help")
        assert r.stdout.startswith("usage: nubo " + " ".join(cmd))
    r = cli.run("instance", "frobnicate")
    assert r.returncode == 2 and "--help" in r.stderr
    assert cli.run("flavor", "list", "--bogus").returncode == 2
    assert cli.run("flavor", "list", "-o", "yaml").returncode == 2


# ------------------------------------------------------ against a fake nubod


class FakeNubod:
    """A few routes of nubod, scripted: paging, and a create that answers 503
    first.  Records every request."""

    def __init__(self):
        self.requests = []
        self.creates = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json"
                                 if status < 400 else "application/problem+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                fake.requests.append(("GET", self.path, dict(self.headers), None))
                pages = {None: (["a", "b"], "b"), "b": (["c"], "c"), "c": ([], None)}
                from urllib.parse import parse_qs, urlparse
                q = parse_qs(urlparse(self.path).query)
                marker = q.get("marker", [None])[0]
                limit = int(q.get("limit", ["100"])[0])
                if not self.path.startswith("/v1/flavors"):
                    return self.reply(404, {"status": 404, "title": "Not Found",
                                            "detail": "no such route"})
                names, nxt = pages[marker]
                names = names[:limit]
                if len(names) < len(pages[marker][0]):
                    nxt = names[-1]
                self.reply(200, {"flavors": [{"id": n, "name": n, "vcpus": 1, "ram_mib": 64,
                                              "disk_gib": 1, "is_public": True}
                                             for n in names],
                                 "next_marker": nxt})

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n))
                fake.requests.append(("POST", self.path, dict(self.headers), body))
                fake.creates += 1
                if fake.creates == 1:
                    return self.reply(503, {"status": 503, "title": "Service Unavailable",
                                            "detail": "restarting"})
                self.reply(201, dict(body, id="f-1", is_public=True))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake(tmp_path):
    f = FakeNubod()
    yield f
    f.close()


def test_lists_follow_next_marker(fake, tmp_path):
    c = Cli(tmp_path)
    env = {"NUBO_URL": fake.base, "NUBO_TOKEN": "t0ken"}
    out = c.json("flavor", "list", env=env)
    assert [f["name"] for f in out["flavors"]] == ["a", "b", "c"]
    assert out["next_marker"] is None
    gets = [p for m, p, h, b in fake.requests if m == "GET"]
    assert len(gets) == 3 and "marker=b" in gets[1] and "marker=c" in gets[2]
    assert all(h.get("Authorization") == "Bearer t0ken" for m, p, h, b in fake.requests)

    fake.requests.clear()
    r = c.ok("flavor", "list", "--limit", "1", env=env)
    assert [row[0] for row in table(r.stdout)[1:]] == ["a"]
    assert "there are more" in r.stderr
    assert "limit=1" in fake.requests[0][1]


def test_create_retries_with_the_same_idempotency_key(fake, tmp_path):
    c = Cli(tmp_path)
    env = {"NUBO_URL": fake.base, "NUBO_TOKEN": "t0ken"}
    r = c.ok("flavor", "create", "f", "--vcpus", "1", "--ram", "64M", "--disk", "1", env=env)
    assert "created flavor f" in r.stdout
    posts = [(h, b) for m, p, h, b in fake.requests if m == "POST"]
    assert len(posts) == 2
    keys = [h.get("Idempotency-Key") for h, b in posts]
    assert keys[0] and keys[0] == keys[1] and len(keys[0]) <= 64
    assert posts[0][1] == posts[1][1] == {"name": "f", "vcpus": 1, "ram_mib": 64,
                                          "disk_gib": 1, "is_public": True}
    # another create: another key
    fake.creates = 1
    c.ok("flavor", "create", "g", "--vcpus", "1", "--ram", "64M", "--disk", "1", env=env)
    assert fake.requests[-1][2]["Idempotency-Key"] not in keys


# ------------------------------------------------------ with a (fake) host


@pytest.fixture
def cloud_with_host(tmp_path):
    """nubod with one nubo-hostd (fake driver: no guest runs) joined."""
    from conftest import Nubod
    from test_hosts import FakeHostd, wait_for
    nubod = Nubod(str(tmp_path)).start()
    hostd = FakeHostd(str(tmp_path), nubod, "host-a").start()
    admin = nubod.admin()
    wait_for("the host", lambda: [h for h in admin.get("/v1/hosts").json()["hosts"]
                                  if h["name"] == "host-a" and h["state"] == "up"])
    yield nubod
    try:
        assert hostd.stop() == 0, hostd.log()
    finally:
        if hostd.proc is not None:
            hostd.proc.kill()
        assert nubod.stop() == 0, nubod.log()


def test_instance_life_on_a_host(cloud_with_host, tmp_path):
    nubod = cloud_with_host
    c = Cli(tmp_path / "cli", nubod.base)
    c.login("admin", nubod.admin_password, "admin")
    disk = make_disk(tmp_path)
    r = c.ok("image", "create", "img", "--register-path", disk, "--public")
    assert "created image img" in r.stdout
    assert c.run("image", "create", "img2", "--register-path", "relative.qcow2").returncode == 2
    c.ok("flavor", "create", "tiny", "--vcpus", "1", "--ram", "64M", "--disk", "1")

    r = c.ok("instance", "create", "web", "--flavor", "tiny", "--image", "img", "--wait",
             "--timeout", "60")
    assert "web: running on host-a" in r.stderr
    row = table(r.stdout)[1]
    assert row[0] == "web" and row[2] == "running" and row[5] == "host-a"

    hosts = table(c.ok("host", "list").stdout)
    assert hosts[0][:3] == ["NAME", "ID", "STATE"] and hosts[1][0] == "host-a"
    assert hosts[1][2] == "up" and hosts[1][7] == "1"
    assert c.json("host", "show", "host-a")["instances"] == 1
    assert c.run("host", "delete", "host-a").returncode == 1  # 409: it has an instance

    r = c.ok("instance", "stop", "web", "--wait", "--timeout", "60")
    assert "web: stopped" in r.stderr
    assert c.json("instance", "show", "web")["status"] == "stopped"
    r = c.ok("instance", "start", "web", "--wait", "--timeout", "60")
    assert "web: running on host-a" in r.stderr
    out = c.json("instance", "stop", "web")  # without --wait: the 202 answer
    assert out["instance"]["name"] == "web" and out["task_id"]
    task = c.json("task", "show", out["task_id"])
    assert task["kind"] == "stop"

    events = [e["event"] for e in c.json("instance", "events", "web")["events"]]
    assert events and "running" in events
    r = c.ok("instance", "delete", "web", "--wait", "--timeout", "60")
    assert "deleted instance web" in r.stdout
    assert c.json("instance", "list")["instances"] == []
