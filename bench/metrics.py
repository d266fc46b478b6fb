#!/usr/bin/python3
"""Benchmark: the controller's metric ingestion with 1,000 instances reporting.

Setup: nubod (release build) and 10 nubo-hostd with the fake driver (no
guest runs; made-up but steady counters), 1,000 instances spread over them
(100 per host).

(1) Steady state: the agents sample every --sample-ms (1 s: ten times the
    default) and send their rounds as they do in production.  Prints the
    samples stored per second (nubod's own counter) and the CPU nubod and
    the agents use.
(2) Saturation: the agents are stopped and the test plays them, 10 hosts
    posting rounds of their 100 instances back to back (one request in
    flight per host, like an agent), first one round per request, then 10
    (an agent catching up after an outage).  Prints samples/s and nubod's CPU.
(3) Baseline: the same rows (per round: 100 raw samples, 100 "latest"
    upserts, a host sample, the cursor) inserted by Python's sqlite3 alone,
    prepared statements, one transaction per round, into the same schema
    with the same settings (WAL, synchronous=FULL).  Prints rows/s and the
    ratio nubod / sqlite3.

A sample is one instance's measurements at one time (10 metrics + 9
counters).

usage: bench/metrics.py [--duration S] [--sample-ms MS]
Needs: a release build (scripts/build.sh).
"""
import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))
os.environ.setdefault("NUBO_BUILD", "build")
import conftest  # noqa: E402

HOSTS = 10
PER_HOST = 100


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ingested(admin):
    text = admin.get("/metrics").text
    m = re.search(r"^nubo_monitor_samples_ingested_total (\d+)", text, re.M)
    return int(m.group(1))


class Agent:
    def __init__(self, tmp, nubod, k, sample_ms):
        self.name = "bench-%02d" % k
        d = os.path.join(tmp, self.name)
        os.makedirs(os.path.join(d, "images"))
        self.sock = os.path.join(d, "hostd.sock")
        self.logf = open(os.path.join(d, "hostd.log"), "wb")
        self.proc = subprocess.Popen(
            [conftest.HOSTD, "--driver", "fake", "--state-dir", os.path.join(d, "state"),
             "--images-dir", os.path.join(d, "images"), "--socket", self.sock,
             "--controller", nubod.base, "--join-token-file", os.path.join(nubod.dir,
                                                                           "join-token"),
             "--name", self.name, "--cpu-ratio", "64", "--sample-ms", str(sample_ms),
             "--log-level", "warn"], stdout=self.logf, stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)
        self.logf.close()


def setup(tmp, nubod, admin, sample_ms):
    pid = admin.get("/v1/auth/whoami").json()["project"]["id"]
    r = admin.put("/v1/projects/%s/quota" % pid, {"instances": 2000, "vcpus": 10**6,
                                                  "ram_mib": 10**9, "disk_gib": 10**9})
    assert r.status_code == 200, r.text
    r = admin.post("/v1/flavors", {"name": "bench", "vcpus": 1, "ram_mib": 64, "disk_gib": 1})
    assert r.status_code == 201, r.text
    r = admin.post("/v1/images", {"name": "bench-img", "visibility": "public"})
    img = r.json()["id"]
    disk = os.path.join(tmp, "disk.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "64M"], check=True)
    with open(disk, "rb") as f:
        r = admin.req("PUT", "/v1/images/%s/file" % img, data=f.read(),
                      headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    agents = [Agent(tmp, nubod, k, sample_ms) for k in range(HOSTS)]
    deadline = time.time() + 60
    while len([h for h in admin.get("/v1/hosts").json()["hosts"] if h["state"] == "up"]) \
            < HOSTS:
        assert time.time() < deadline, "the agents did not join"
        time.sleep(0.2)
    t0 = time.time()
    for k in range(HOSTS * PER_HOST // 50):
        r = admin.post("/v1/instances", {"name": "i%02d" % k, "flavor": "bench",
                                         "image": "bench-img", "count": 50})
        assert r.status_code == 202, r.text
    while True:
        r = admin.get("/v1/instances?status=running&limit=1000")
        n = len(r.json()["instances"])
        if n == HOSTS * PER_HOST:
            break
        assert time.time() - t0 < 600, "only %d instances run" % n
        time.sleep(1)
    print("setup: %d fake agents, %d instances running (%.0f s)" % (
        HOSTS, HOSTS * PER_HOST, time.time() - t0))
    return agents


def steady(nubod, admin, agents, duration, sample_ms):
    time.sleep(3 * sample_ms / 1000)  # every agent has sent a few rounds
    n0, c0 = ingested(admin), cpu_seconds(nubod.proc.pid)
    a0 = sum(cpu_seconds(a.proc.pid) for a in agents)
    t0 = time.monotonic()
    time.sleep(duration)
    dt = time.monotonic() - t0
    n1, c1 = ingested(admin), cpu_seconds(nubod.proc.pid)
    a1 = sum(cpu_seconds(a.proc.pid) for a in agents)
    rate = (n1 - n0) / dt
    print("(1) steady state, %d agents x %d instances, a round every %d ms:" % (
        HOSTS, PER_HOST, sample_ms))
    print("    %8.0f samples/s stored (expected %.0f); nubod CPU %.1f %% of a core, "
          "agents %.1f %% together" % (rate, HOSTS * PER_HOST * 1000 / sample_ms,
                                       100 * (c1 - c0) / dt, 100 * (a1 - a0) / dt))
    return rate


def saturate(nubod, admin, duration, rounds_per_req):
    """Posts as fast as the controller takes them, one request in flight per
    host; returns samples/s stored."""
    hosts = []
    insts = admin.get("/v1/instances?limit=1000").json()["instances"]
    by_host = {}
    for i in insts:
        by_host.setdefault(i["host"]["id"], []).append(i["id"])
    for k, (name, h) in enumerate(sorted((h["name"], h) for h in admin.get(
            "/v1/hosts").json()["hosts"])):
        # take the host over: registering again gives a new token (the agents are stopped)
        r = requests.post(nubod.base + "/v1/hosts/register", timeout=30, json={
            "join_token": nubod.join_token, "name": name, "address": h["address"],
            "capacity": {"vcpus": h["vcpus"], "ram_mib": h["ram_mib"],
                         "disk_gib": h["disk_gib"]}, "accel": "none", "driver": "fake"})
        assert r.status_code == 201, r.text
        vms = [{"name": "nubo-" + iid, "cpu": 42.5, "memory": 50 << 20,
                "disk_read_bytes": 4096.0, "disk_write_bytes": 1024.0, "disk_read_ops": 1.0,
                "disk_write_ops": 0.5,
                "counters": {"cpu_ns": 10**12, "disk_read_bytes": 10**9,
                             "disk_write_bytes": 10**8, "disk_read_ops": 10**5,
                             "disk_write_ops": 10**4}} for iid in by_host[h["id"]]]
        hosts.append({"id": h["id"], "token": r.json()["host_token"],
                      "vms": json.dumps(vms), "n": len(vms)})
    host_part = json.dumps({"cpu": 12.5, "memory_used": 1 << 30, "memory_total": 8 << 30,
                            "disk_used": 1 << 34, "disk_total": 1 << 38})
    stop = threading.Event()
    stored = [0] * len(hosts)
    errors = []

    def run(k):
        h = hosts[k]
        s = requests.Session()
        url = "%s/v1/hosts/%s/metrics" % (nubod.base, h["id"])
        hdr = {"Authorization": "Bearer " + h["token"], "Content-Type": "application/json"}
        seq = 0
        while not stop.is_set():
            parts = []
            for j in range(rounds_per_req):
                seq += 1
                parts.append('{"seq":%d,"age_ms":%d,"host":%s,"vms":%s}' % (
                    seq, (rounds_per_req - j) * 10, host_part, h["vms"]))
            body = '{"agent_run":"bench-%d","rounds":[%s]}' % (rounds_per_req,
                                                                ",".join(parts))
            r = s.post(url, data=body, headers=hdr, timeout=60)
            if r.status_code != 200:
                errors.append(r.text)
                return
            stored[k] += r.json()["samples"]

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(hosts))]
    c0, t0 = cpu_seconds(nubod.proc.pid), time.monotonic()
    for t in threads:
        t.start()
    time.sleep(duration)
    stop.set()
    for t in threads:
        t.join()
    dt = time.monotonic() - t0
    c1 = cpu_seconds(nubod.proc.pid)
    assert not errors, errors[:3]
    rate = sum(stored) / dt
    print("    %d round(s) of 100 instances per request: %8.0f samples/s (%.0f values/s); "
          "nubod CPU %.0f %% of a core" % (rounds_per_req, rate, rate * 19,
                                          100 * (c1 - c0) / dt))
    return rate


def baseline(nubod_db, tmp, duration):
    """The same rows through Python's sqlite3 alone; rows/s of samples."""
    src = sqlite3.connect(nubod_db)
    ddl = [r[0] for r in src.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND tbl_name IN"
        " ('instance_samples', 'host_samples', 'instance_metrics_latest',"
        " 'host_metric_cursors') ORDER BY type DESC")]
    src.close()
    path = os.path.join(tmp, "baseline.db")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    for s in ddl:
        db.execute(s)
    ids = ["%08d-0000-4000-8000-000000000000" % k for k in range(PER_HOST)]
    ins = ("INSERT INTO instance_samples (instance_id, project_id, host_id, ts_ms, cpu, memory,"
           " disk_read_bytes, disk_write_bytes, disk_read_ops, disk_write_ops, net_rx_bytes,"
           " net_tx_bytes, net_rx_packets, net_tx_packets) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?,"
           " ?, NULL, NULL, NULL, NULL) ON CONFLICT (instance_id, ts_ms) DO NOTHING")
    up = ("INSERT INTO instance_metrics_latest (instance_id, project_id, host_id, ts_ms, cpu,"
          " memory, cpu_ns_total, disk_read_bytes_total, disk_write_bytes_total,"
          " disk_read_ops_total, disk_write_ops_total) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
          " ON CONFLICT (instance_id) DO UPDATE SET ts_ms = excluded.ts_ms, cpu = excluded.cpu,"
          " memory = excluded.memory, cpu_ns_total = excluded.cpu_ns_total,"
          " disk_read_bytes_total = excluded.disk_read_bytes_total,"
          " disk_write_bytes_total = excluded.disk_write_bytes_total,"
          " disk_read_ops_total = excluded.disk_read_ops_total,"
          " disk_write_ops_total = excluded.disk_write_ops_total"
          " WHERE excluded.ts_ms >= instance_metrics_latest.ts_ms")
    n, ts = 0, 1795700000000
    t0 = time.monotonic()
    while time.monotonic() - t0 < duration:
        ts += 1000
        db.execute("BEGIN IMMEDIATE")
        db.executemany(ins, [(i, "p", "h", ts, 42.5, 50 << 20, 4096.0, 1024.0, 1.0, 0.5)
                             for i in ids])
        db.executemany(up, [(i, "p", "h", ts, 42.5, 50 << 20, 10**12, 10**9, 10**8, 10**5,
                             10**4) for i in ids])
        db.execute("INSERT INTO host_samples (host_id, ts_ms, cpu, memory_used, memory_total,"
                   " disk_used, disk_total) VALUES ('h', ?, 12.5, 1, 2, 3, 4)", (ts,))
        db.execute("INSERT INTO host_metric_cursors (host_id, agent_run, seq) VALUES"
                   " ('h', 'r', ?) ON CONFLICT (host_id) DO UPDATE SET seq = excluded.seq",
                   (ts,))
        db.execute("COMMIT")
        n += len(ids)
    dt = time.monotonic() - t0
    db.close()
    return n / dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--sample-ms", type=int, default=1000)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nubo-bench-metrics-")
    nubod = conftest.Nubod(tmp, ["--log-level", "warn", "--threads", "8", "--cpu-ratio", "64"])
    nubod.start()
    agents = []
    try:
        admin = nubod.admin("demo")
        agents = setup(tmp, nubod, admin, args.sample_ms)
        steady(nubod, admin, agents, args.duration, args.sample_ms)
        for a in agents:
            a.stop()
        agents = []
        print("(2) saturation, %d hosts posting back to back:" % HOSTS)
        one = saturate(nubod, admin, args.duration, 1)
        saturate(nubod, admin, args.duration, 10)
        base = baseline(os.path.join(nubod.dir, "nubo.db"), tmp, args.duration)
        print("(3) baseline, the same rows by Python's sqlite3 alone (one writer, prepared "
              "statements, a transaction per round):")
        print("    %8.0f samples/s; nubod at one round per request: %.2f of it" % (
            base, one / base))
        print("    needed for %d instances at the default 10 s interval: %d samples/s" % (
            HOSTS * PER_HOST, HOSTS * PER_HOST // 10))
    finally:
        for a in agents:
            a.stop()
        nubod.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
