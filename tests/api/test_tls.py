"""TLS on nubod's API (docs/internals/operations.md, "TLS"):

- --tls-auto makes a CA and a server certificate on first start, keeps the
  CA on restart; the API answers over HTTPS only (plain HTTP on the TLS
  port gets no HTTP answer);
- the CLI logs in with --ca-file, keeps it with the login, and refuses a
  controller whose certificate another CA signed, saying what to do;
- an agent joins over https:// with --controller-ca, and neither its join
  token nor its host token crosses the wire in clear (a recording proxy
  between them sees only TLS; the same proxy over plain HTTP sees them,
  which shows the recording works);
- without TLS nubod listens on loopback only; bad TLS options are refused.
"""

import os
import socket
import subprocess
import threading
import time

import requests

import conftest
from conftest import NUBOD, Nubod
from test_cli_cloud import Cli
from test_hosts import FakeHostd, wait_for


class TlsNubod(Nubod):
    def __init__(self, tmp, extra=()):
        super().__init__(tmp, ["--tls-auto"] + list(extra))
        self.base = "https://127.0.0.1:%d" % self.port
        self.ca = os.path.join(self.dir, "tls", "ca.pem")

    def start(self):
        # conftest's start() polls /v1/health with requests.get: trust our CA
        # once nubod has made it
        orig = conftest.requests.get

        def get(url, **kw):
            if not os.path.exists(self.ca):
                raise requests.ConnectionError("no CA yet")
            kw.setdefault("verify", self.ca)
            return orig(url, **kw)
        conftest.requests.get = get
        try:
            return super().start()
        finally:
            conftest.requests.get = orig


def sub(tmp, name):
    d = tmp / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def test_https_only_and_the_cli_with_its_ca(tmp_path, monkeypatch):
    n = TlsNubod(str(sub(tmp_path, "a"))).start()
    try:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", n.ca)
        r = requests.get(n.base + "/v1/health", timeout=10)
        assert r.json()["status"] == "ok"
        # HSTS on every HTTPS answer (the portal's pages and errors too)
        assert r.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert requests.get(n.base + "/v1/nothing-here", timeout=10).headers[
            "Strict-Transport-Security"] == "max-age=31536000"
        for f in ("ca.pem", "ca-key.pem", "server.pem", "server-key.pem"):
            assert os.stat(os.path.join(n.dir, "tls", f)).st_mode & 0o077 == 0
        # plain HTTP on the TLS port: no HTTP answer
        s = socket.create_connection(("127.0.0.1", n.port), timeout=10)
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        try:
            while len(got) < 4096:
                b = s.recv(4096)
                if not b:
                    break
                got += b
        except (socket.timeout, ConnectionResetError):
            pass
        s.close()
        assert b"HTTP/1" not in got and b"status" not in got, got[:200]

        cli = Cli(tmp_path / "cli", n.base)
        pw = tmp_path / "pw"
        pw.write_text(n.admin_password + "\n")
        # without the CA: refused, and told what to do
        r = cli.run("login", n.base, "--user", "admin", "--password-file", pw)
        assert r.returncode != 0 and "--ca-file" in r.stderr and "not one to trust" in r.stderr, r
        # http:// to the TLS port: told to use https
        r = cli.run("login", n.base.replace("https", "http"), "--user", "admin",
                    "--password-file", pw)
        assert r.returncode != 0 and "https://" in r.stderr, r
        cli.ok("login", n.base, "--user", "admin", "--password-file", pw, "--ca-file", n.ca)
        assert cli.config()["ca_file"] == os.path.realpath(n.ca)
        assert cli.json("whoami")["user"]["name"] == "admin"  # the saved CA, no option
        # a CA of another cloud does not vouch for this one
        other = TlsNubod(str(sub(tmp_path, "b"))).start()
        try:
            r = cli.run("whoami", "--ca-file", other.ca)
            assert r.returncode != 0 and "not one to trust" in r.stderr, r
        finally:
            assert other.stop() == 0, other.log()
        # a restart keeps the CA: clients that trust it keep working
        with open(n.ca) as f:
            ca_before = f.read()
        assert n.stop() == 0, n.log()
        n.start()
        with open(n.ca) as f:
            assert f.read() == ca_before
        assert cli.json("whoami")["user"]["name"] == "admin"
    finally:
        assert n.stop() == 0, n.log()


class Recorder:
    """A TCP proxy from a local port to `port` that keeps every byte the
    client sent."""

    def __init__(self, port):
        self.target = port
        self.sent = bytearray()
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.stop = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.stop:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self.pipe, args=(c, u, True), daemon=True).start()
            threading.Thread(target=self.pipe, args=(u, c, False), daemon=True).start()

    def pipe(self, a, b, record):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                if record:
                    self.sent += data
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.stop = True
        self.lsock.close()


def join_through(tmp, n, scheme, extra):
    """Starts a fake agent that reaches nubod through a Recorder; returns
    (agent, recorder) once the host is up."""
    rec = Recorder(n.port)
    agent = FakeHostd(str(tmp), n, "rec-host-" + scheme)
    i = agent.args.index("--controller")
    agent.args[i + 1] = "%s://127.0.0.1:%d" % (scheme, rec.port)
    agent.args += extra
    agent.start()
    admin = n.admin()
    wait_for("the host up", lambda: [h for h in admin.get("/v1/hosts").json()["hosts"]
                                     if h["name"] == "rec-host-" + scheme
                                     and h["state"] == "up"], timeout=30)
    time.sleep(1)  # a few heartbeats with the host token
    return agent, rec


def secrets_of(agent, n):
    with open(os.path.join(n.dir, "join-token")) as f:
        join = f.read().strip()
    with open(os.path.join(agent.state, "controller.json")) as f:
        import json
        host = json.load(f)["host_token"]
    return join.encode(), host.encode()


def test_an_agent_joins_over_tls_and_no_token_crosses_in_clear(tmp_path, monkeypatch):
    # the same recording over plain HTTP sees both tokens: the check can fail
    plain = Nubod(str(sub(tmp_path, "plain"))).start()
    try:
        h = requests.get(plain.base + "/v1/health", timeout=10).headers
        assert "Strict-Transport-Security" not in h   # HSTS only over HTTPS
        agent, rec = join_through(sub(tmp_path, "plain"), plain, "http", [])
        join, host = secrets_of(agent, plain)
        assert agent.stop() == 0, agent.log()
        rec.close()
        assert join in rec.sent and host in rec.sent
    finally:
        assert plain.stop() == 0, plain.log()

    n = TlsNubod(str(sub(tmp_path, "tls"))).start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", n.ca)
    try:
        agent, rec = join_through(sub(tmp_path, "tls"), n, "https", ["--controller-ca", n.ca])
        join, host = secrets_of(agent, n)
        assert agent.stop() == 0, agent.log()
        rec.close()
        assert len(rec.sent) > 1000 and rec.sent[0] == 0x16  # a TLS handshake record
        assert join not in rec.sent and host not in rec.sent
        assert b"POST /v1/hosts" not in rec.sent
        # an agent pinned to another CA does not talk to this nubod
        other = tmp_path / "other-ca.pem"
        subprocess.run(["certtool", "--generate-privkey", "--outfile", str(tmp_path / "k.pem")],
                       check=True, capture_output=True)
        (tmp_path / "t").write_text('cn = "other"\nca\ncert_signing_key\n')
        subprocess.run(["certtool", "--generate-self-signed", "--load-privkey",
                        str(tmp_path / "k.pem"), "--template", str(tmp_path / "t"),
                        "--outfile", str(other)], check=True, capture_output=True)
        bad = FakeHostd(str(sub(tmp_path, "bad")), n, "pinned-elsewhere")
        i = bad.args.index("--controller")
        bad.args[i + 1] = n.base
        bad.args += ["--controller-ca", str(other)]
        bad.start()
        time.sleep(3)
        hosts = [h["name"] for h in n.admin().get("/v1/hosts").json()["hosts"]]
        assert "pinned-elsewhere" not in hosts
        assert bad.stop() == 0, bad.log()
    finally:
        assert n.stop() == 0, n.log()


def test_plain_http_stays_on_loopback_and_bad_tls_options(tmp_path):
    def nubod(*args):
        return subprocess.run([NUBOD, "--state-dir", str(tmp_path / "s")] + list(args),
                              capture_output=True, text=True, timeout=60)
    r = nubod("--listen", "0.0.0.0:0")
    assert r.returncode == 2 and "in clear" in r.stderr and "--tls-auto" in r.stderr, r
    r = nubod("--agent-listen", "0.0.0.0:0")
    assert r.returncode == 2 and "in clear" in r.stderr, r
    r = nubod("--tls-cert", "/etc/hostname")
    assert r.returncode == 2 and "--tls-cert and --tls-key together" in r.stderr, r
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    r = nubod("--listen", "127.0.0.1:0", "--tls-cert", str(junk), "--tls-key", str(junk))
    assert r.returncode == 1 and "PEM certificate" in r.stderr, r


def test_join_command_joins_a_host_by_the_controllers_pin(tmp_path, monkeypatch):
    import re
    n = TlsNubod(str(sub(tmp_path, "c"))).start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", n.ca)
    try:
        cli = Cli(tmp_path / "cli", n.base)
        pw = tmp_path / "pw"
        pw.write_text(n.admin_password + "\n")
        cli.ok("login", n.base, "--user", "admin", "--password-file", pw, "--ca-file", n.ca)
        r = cli.ok("host", "join-command", "--name", "pinned-1", "--ttl", "600")
        line = r.stdout.strip()
        assert "single use" in r.stderr
        m = re.fullmatch(r"umask 077 && mkdir -p /etc/nubo && printf '%s\\n' "
                         r"'(nubo[A-Za-z0-9_-]+)' > /etc/nubo/join-token && nubo-hostd"
                         r" --controller '(https://[^']+)'"
                         r" --controller-pin '(sha256//[A-Za-z0-9+/=]{44})' --join-token-file"
                         r" /etc/nubo/join-token --name 'pinned-1'", line)
        assert m, line
        token, url, pin = m.groups()
        assert url == n.base
        j = cli.json("host", "join-command")
        assert j["controller_pin"] == pin and j["command"].startswith("umask 077")
        # the new host: the line's options, its paths in the test's directory
        agent = FakeHostd(str(sub(tmp_path, "h")), n, "pinned-1")
        tokfile = tmp_path / "h" / "join-token"
        tokfile.write_text(token + "\n")
        a = agent.args
        a[a.index("--controller") + 1] = url
        a[a.index("--join-token-file") + 1] = str(tokfile)
        a += ["--controller-pin", pin]
        agent.start()
        admin = n.admin()
        wait_for("the pinned host up", lambda: [
            h for h in admin.get("/v1/hosts").json()["hosts"]
            if h["name"] == "pinned-1" and h["state"] == "up"], timeout=30)
        assert agent.stop() == 0, agent.log()
        # a wrong pin: the agent does not talk to this nubod
        bad = FakeHostd(str(sub(tmp_path, "bad")), n, "wrong-pin")
        b = bad.args
        b[b.index("--controller") + 1] = url
        b += ["--controller-pin", "sha256//" + "A" * 43 + "="]
        bad.start()
        time.sleep(3)
        assert "wrong-pin" not in [h["name"] for h in admin.get("/v1/hosts").json()["hosts"]]
        assert bad.stop() == 0, bad.log()
        r = subprocess.run([conftest.HOSTD, "--controller-pin", "sha256//short"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and "--controller-pin wants sha256//" in r.stderr, r
    finally:
        assert n.stop() == 0, n.log()
