"""Monitoring end to end, with a real guest and a real Prometheus.

nubod + one nubo-hostd (QEMU, --sample-ms 1000) + one small guest whose
user-data, once the guest is idle, burns CPU for a while and then stops.

  - the API shows high CPU within two sampling intervals of the load
    starting (the guest prints a marker on its console when it starts);
  - an alarm "avg cpu > 50 % over 3 s" goes to ALARM and a webhook receiver
    on 127.0.0.1 gets the POST; when the load stops it returns to OK (and
    the receiver hears of that too);
  - a Prometheus server (Debian's prometheus, its own config and storage in
    a temporary directory, a random port, the scrape token as its bearer
    credentials file, a 1 s scrape interval) scrapes nubod's /metrics, and
    the test reads the instance's CPU back through Prometheus's HTTP API.

One guest on a two-core machine: the burning vCPU takes one core.
"""
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests

from cloudfix import console, one_host_cloud, tiny_cloud, wait_for, wait_status
from speed import Deadline

SAMPLE_MS = 1000
BURN_S = 30
# Sleeps until the guest is idle after its boot, burns one vCPU for BURN_S
# seconds, and says when it starts and ends on the console.
USER_DATA = """#!/bin/sh
(
  sleep 12
  (while :; do :; done) &
  burner=$!
  echo BURN-START
  sleep %d
  kill $burner
  echo BURN-END
) &
""" % BURN_S


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """Webhook receiver on 127.0.0.1: records the JSON bodies it is POSTed."""

    def __init__(self):
        self.posts = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.posts.append((time.time(), json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/alarm" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def states(self):
        return [b["new_state"] for _, b in self.posts]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Prometheus:
    """A Prometheus server of its own, scraping nubod every second."""

    def __init__(self, tmp, nubod):
        self.dir = os.path.join(tmp, "prometheus")
        os.makedirs(self.dir)
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(self.dir, "prometheus.log")
        token_file = os.path.join(nubod.dir, "metrics-token")
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: nubo
    scrape_interval: 1s
    scrape_timeout: 1s
    metrics_path: /metrics
    # nubo's own "instance" label names the instance, not the target
    honor_labels: true
    authorization:
      type: Bearer
      credentials_file: %s
    static_configs:
      - targets: ["127.0.0.1:%d"]
""" % (token_file, nubod.port))
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            ["prometheus", "--config.file=" + config,
             "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port,
             "--web.console.templates=/etc/prometheus/consoles",
             "--web.console.libraries=/etc/prometheus/console_libraries"],
            stdout=self.logf, stderr=subprocess.STDOUT)

        def ready():
            assert self.proc.poll() is None, "prometheus exited:\n" + self.log()
            try:
                return requests.get(self.base + "/-/ready", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False
        wait_for("prometheus", ready, timeout=60, step=0.2)

    def query(self, expr):
        r = requests.get(self.base + "/api/v1/query", params={"query": expr}, timeout=10)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def target_health(self):
        r = requests.get(self.base + "/api/v1/targets", timeout=10)
        return [(t["health"], t.get("lastError")) for t in r.json()["data"]["activeTargets"]]

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-4000:]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()


@pytest.fixture
def monitored(tmp_path):
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not installed (scripts/deps.sh installs it)")
    tmp = str(tmp_path)
    prom, receiver = None, Receiver()
    try:
        # the webhook receiver listens on the loopback, which nubod refuses
        # unless allowed
        with one_host_cloud(tmp, "host-m", ["--sample-ms", str(SAMPLE_MS)],
                            ["--webhook-allow", "127.0.0.0/8"]) as (nubod, host):
            prom = Prometheus(tmp, nubod)
            yield nubod, host, prom, receiver
    finally:
        receiver.close()
        if prom is not None:
            prom.stop()


def cpu_points(client, iid, start="-20s"):
    r = client.get("/v1/instances/%s/metrics?metric=cpu&start=%s&step=1" % (iid, start))
    assert r.status_code == 200, r.text
    return r.json()["points"]


def alarm(client, aid):
    r = client.get("/v1/alarms/" + aid)
    assert r.status_code == 200, r.text
    return r.json()


def test_cpu_load_alarm_and_prometheus(monitored):
    nubod, host, prom, receiver = monitored
    admin, tenant = tiny_cloud(nubod)
    r = tenant.post("/v1/instances", {"name": "burner", "flavor": "tiny", "image": "nubo-tiny",
                                      "user_data": USER_DATA})
    assert r.status_code == 202, r.text
    iid = r.json()["instances"][0]["id"]
    wait_status(tenant, iid, "running")
    wait_for("the guest's ready marker", lambda: "NUBO-READY" in console(tenant, iid),
             timeout=120, step=0.5)

    # the guest idles before its load begins: an alarm on it starts from
    # INSUFFICIENT_DATA and settles on OK
    r = tenant.post("/v1/alarms", {"name": "busy", "metric": "cpu", "instance": iid,
                                   "statistic": "avg", "comparison": "gt", "threshold": 50,
                                   "window_s": 3, "webhook_url": receiver.url})
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    assert "BURN-START" not in console(tenant, iid), "the guest was slower than its sleep"
    wait_for("the alarm OK while the guest idles",
             lambda: alarm(tenant, aid)["state"] == "OK" or "BURN-START" in console(tenant, iid),
             timeout=30, step=0.2)

    # the load begins: high CPU in the API within two sampling intervals
    wait_for("BURN-START", lambda: "BURN-START" in console(tenant, iid), timeout=60, step=0.1)
    started = time.time()
    # in idle-machine seconds (speed.py): a busy machine is slow, not wrong
    budget = Deadline(2 * SAMPLE_MS / 1000 + 0.5)

    def high_points():
        budget.passed()  # accrues the time at the machine's current speed
        return [p for p in cpu_points(tenant, iid, "-5s") if p["avg"] > 80]
    high = wait_for("high CPU in the API", high_points, timeout=20, step=0.1)
    seen = time.time() - started
    late = budget.passed()
    print("high CPU (%.1f %%) in the API %.2f s after the load began (%.2f idle-machine s)"
          % (high[-1]["avg"], seen, budget.used))
    assert not late, "took %.2f s, %.2f idle-machine s; allowed %s" % (seen, budget.used, budget)

    # the alarm fires and its webhook is POSTed
    wait_for("ALARM", lambda: alarm(tenant, aid)["state"] == "ALARM", timeout=15, step=0.2)
    wait_for("the ALARM webhook", lambda: "ALARM" in receiver.states(), timeout=15)
    body = [b for _, b in receiver.posts if b["new_state"] == "ALARM"][0]
    assert body["alarm"]["id"] == aid and body["alarm"]["instance_id"] == iid
    assert body["value"] > 50 and body["old_state"] in ("OK", "INSUFFICIENT_DATA")

    # Prometheus scrapes nubod; the instance's CPU reads back through its API
    def prom_cpu():
        res = prom.query('nubo_instance_cpu_utilization_ratio{instance="%s"}' % iid)
        return res if res and float(res[0]["value"][1]) > 0.5 else None
    try:
        res = wait_for("nubo's metric in Prometheus", prom_cpu, timeout=20, step=0.5)
    except AssertionError:
        raise AssertionError("targets: %s\n%s" % (prom.target_health(), prom.log()))
    labels = res[0]["metric"]
    assert labels["instance_name"] == "burner" and labels["host"] == "host-m"
    assert labels["project"] == tenant.project and labels["job"] == "nubo"
    assert float(prom.query("nubo_hosts_up")[0]["value"][1]) == 1
    assert prom.query('nubo_instance_cpu_seconds_total{instance="%s"}' % iid)

    # the load stops: back to OK, and the receiver hears of it
    wait_for("BURN-END", lambda: "BURN-END" in console(tenant, iid), timeout=BURN_S + 30,
             step=0.5)
    wait_for("OK again", lambda: alarm(tenant, aid)["state"] == "OK", timeout=20, step=0.2)
    wait_for("the OK webhook", lambda: receiver.states()[-1:] == ["OK"], timeout=15)
    states = receiver.states()
    assert states[states.index("ALARM"):][-1] == "OK", states
    h = tenant.get("/v1/alarms/%s/history" % aid).json()["history"]
    changes = [(e["old_state"], e["new_state"]) for e in h if e["kind"] == "state"]
    assert ("OK", "ALARM") in changes and changes[-1] == ("ALARM", "OK"), changes
    assert all(e["webhook_status"] == "delivered" for e in h if e["kind"] == "state")

    # disk counters came from QMP, memory from the VM's cgroup; the network
    # of QEMU's user-mode NIC has no counters (no points)
    r = tenant.get("/v1/instances/%s/metrics?metric=memory&start=-1m&step=60" % iid)
    assert r.json()["points"][-1]["avg"] > 32 << 20
    r = tenant.get("/v1/instances/%s/metrics?metric=disk_read_ops&start=-10m&step=600" % iid)
    assert r.json()["points"], r.text
    r = tenant.get("/v1/instances/%s/metrics?metric=net_rx_bytes&start=-10m&step=600" % iid)
    assert r.json()["points"] == []
    hid = admin.get("/v1/hosts/host-m").json()["id"]
    r = admin.get("/v1/hosts/%s/metrics?metric=memory_used&start=-1m&step=60" % hid)
    assert r.json()["points"][-1]["avg"] > 0
