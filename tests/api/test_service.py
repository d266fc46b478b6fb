"""nubod and nubo-hostd as services: configuration files (--config, every
long option a 'name = value' line, the command line winning) and systemd's
notification protocol (READY=1 once serving, WATCHDOG=1 while the main loop
turns, STOPPING=1), received on a datagram socket of the test's own in
place of systemd."""

import json
import os
import signal
import socket
import subprocess
import time

import requests

from conftest import NUBOD, Nubod
from test_hosts import FakeHostd, wait_for


class Notify:
    """A stand-in for systemd's notification socket."""

    def __init__(self, tmp):
        self.path = os.path.join(tmp, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.got = []

    def wait(self, what, timeout=20):
        """Collects messages until one equal to `what` arrives."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            self.got.append((time.monotonic(), msg))
            if msg.split("\n")[0] == what:
                return
        raise AssertionError("no %s from the service; got %r" % (what, self.got))

    def close(self):
        self.sock.close()


def silent_connection_closed_after(port, limit):
    """Opens a connection that sends nothing; returns the seconds nubod took
    to close it, or None when it is still open after `limit`."""
    s = socket.create_connection(("127.0.0.1", port), timeout=limit)
    t0 = time.monotonic()
    try:
        data = s.recv(1)
        assert data == b""
        return time.monotonic() - t0
    except socket.timeout:
        return None
    finally:
        s.close()


def test_config_file_sets_options_and_the_command_line_wins(tmp_path):
    conf = tmp_path / "nubod.conf"
    conf.write_text("# nubod settings\nhead-timeout = 1\n\nconn-timeout = \"60\"\n")
    n = Nubod(str(tmp_path), extra=["--config", str(conf)]).start()
    try:
        took = silent_connection_closed_after(n.port, 8)
        assert took is not None and took < 5, took  # the file's 1 s, not the default 10
    finally:
        assert n.stop() == 0, n.log()

    n = Nubod(str(tmp_path), extra=["--config", str(conf), "--head-timeout", "30"]).start()
    try:
        assert silent_connection_closed_after(n.port, 3) is None  # 30 s from the command line
    finally:
        assert n.stop() == 0, n.log()


def test_a_bad_config_file_is_refused_with_its_line(tmp_path):
    conf = tmp_path / "nubod.conf"
    conf.write_text("listen = 127.0.0.1:1\nhost-down = 10000\n")
    state = tmp_path / "state"
    r = subprocess.run([NUBOD, "--config", str(conf), "--state-dir", str(state)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    assert "nubod.conf:2: unknown setting 'host-down'" in r.stderr, r.stderr
    assert not state.exists()  # nothing was started or created

    conf.write_text("print-routes = yes\n")
    r = subprocess.run([NUBOD, "--config", str(conf)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2 and "'print-routes' takes no value" in r.stderr, r

    r = subprocess.run([NUBOD, "--config", str(tmp_path / "missing.conf")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "cannot read the configuration file" in r.stderr, r


def test_nubod_tells_systemd_ready_watchdog_and_stopping(tmp_path, monkeypatch):
    notify = Notify(str(tmp_path))
    monkeypatch.setenv("NOTIFY_SOCKET", notify.path)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # pings every 0.5 s
    n = Nubod(str(tmp_path)).start()
    try:
        notify.wait("READY=1")
        notify.wait("WATCHDOG=1")
        t0 = time.monotonic()
        notify.wait("WATCHDOG=1")
        notify.wait("WATCHDOG=1")
        assert time.monotonic() - t0 < 10
        n.proc.send_signal(signal.SIGTERM)
        notify.wait("STOPPING=1")
    finally:
        assert n.stop() == 0, n.log()
        notify.close()


def test_nubod_without_systemd_sends_nothing(tmp_path, monkeypatch):
    """WATCHDOG_PID names another process: the watchdog is not nubod's."""
    notify = Notify(str(tmp_path))
    monkeypatch.setenv("NOTIFY_SOCKET", notify.path)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    monkeypatch.setenv("WATCHDOG_PID", "1")
    n = Nubod(str(tmp_path)).start()
    try:
        notify.wait("READY=1")
        notify.sock.settimeout(2)
        try:
            msg = notify.sock.recv(4096).decode()
        except socket.timeout:
            msg = None
        assert msg is None, msg  # no watchdog pings
    finally:
        assert n.stop() == 0, n.log()
        notify.close()


def test_hostd_from_a_config_file_joins_and_notifies(tmp_path, monkeypatch):
    n = Nubod(str(tmp_path)).start()
    notify = Notify(str(tmp_path))
    try:
        agent = FakeHostd(str(tmp_path), n, "conf-host")
        # everything but the binary moves into the file, one option a line
        lines, args = [], agent.args[1:]
        for i in range(0, len(args), 2):
            assert args[i].startswith("--")
            lines.append("%s = %s" % (args[i][2:], args[i + 1]))
        conf = tmp_path / "nubo-hostd.conf"
        conf.write_text("\n".join(lines) + "\n")
        agent.args = [agent.args[0], "--config", str(conf)]
        monkeypatch.setenv("NOTIFY_SOCKET", notify.path)
        monkeypatch.setenv("WATCHDOG_USEC", "1000000")
        agent.start()
        notify.wait("READY=1")
        notify.wait("WATCHDOG=1")
        notify.wait("WATCHDOG=1")
        admin = n.admin()
        wait_for("the host up", lambda: [h for h in admin.get("/v1/hosts").json()["hosts"]
                                         if h["name"] == "conf-host" and h["state"] == "up"])
        agent.proc.send_signal(signal.SIGTERM)
        notify.wait("STOPPING=1")
        assert agent.stop() == 0, agent.log()
    finally:
        notify.close()
        assert n.stop() == 0, n.log()


def test_health_reports_each_component(tmp_path):
    n = Nubod(str(tmp_path)).start()
    try:
        h = requests.get(n.base + "/v1/health", timeout=10).json()
        assert h["status"] == "ok" and h["store"] == "ok"
        c = h["components"]
        assert c["store"]["status"] == "ok" and c["store"]["latency_ms"] >= 0
        assert c["store"]["backend"] in ("sqlite", "postgresql")
        # the reconciler runs every 500 ms in these tests
        assert c["reconciler"]["status"] == "ok" and c["reconciler"]["last_pass_ms_ago"] < 5000
        assert c["hosts"] == {"status": "ok", "total": 0, "up": 0, "degraded": 0, "down": 0,
                              "fenced": 0, "unreachable": 0}
        assert c["recovery"] == {"status": "ok"}
    finally:
        assert n.stop() == 0, n.log()


def json_lines(path):
    out = []
    with open(path) as f:
        for line in f:
            if line.startswith("{"):
                out.append(json.loads(line))
    return out


def test_json_logs_carry_request_ids_into_the_agent(tmp_path):
    n = Nubod(str(tmp_path), extra=["--log-format", "json"]).start()
    agent = FakeHostd(str(tmp_path), n, "json-host")
    agent.args += ["--log-format", "json"]
    agent.start()
    try:
        admin = n.admin()
        r = requests.get(n.base + "/v1/health", headers={"X-Request-Id": "health-check-42"},
                         timeout=10)
        assert r.headers["X-Request-Id"] == "health-check-42"
        wait_for("the host up", lambda: [h for h in admin.get("/v1/hosts").json()["hosts"]
                                         if h["state"] == "up"])
        # the reconciler's calls carry one id per host and pass into the agent's log
        wait_for("a reconcile id in the agent's log", lambda: [
            x for x in json_lines(agent.log_path)
            if x.get("request_id", "").startswith("reconcile-")
            and x["request_id"].endswith("-json-host") and "GET /v1/vms" in x["msg"]])
    finally:
        assert agent.stop() == 0, agent.log()
        assert n.stop() == 0, n.log()
    lines = json_lines(n.log_path)
    assert lines, n.log()
    for x in lines:
        assert set(x) <= {"ts", "level", "msg", "request_id"} and x["level"] in (
            "debug", "info", "warn", "error"), x
    mine = [x for x in lines if x.get("request_id") == "health-check-42"]
    assert any("GET /v1/health 200" in x["msg"] for x in mine), mine
    with open(n.log_path) as f:
        assert all(line.startswith("{") for line in f if line.strip()), "a line not JSON"


def test_bad_log_format_is_refused(tmp_path):
    r = subprocess.run([NUBOD, "--log-format", "xml"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2 and "--log-format must be text or json" in r.stderr, r
