"""Monitoring: metric ingestion from host agents, the series API (per
instance, host and project, with steps, retention and 5-minute rollups),
the Prometheus exposition, and alarms (state machine, history, webhooks,
internal hooks).

Most tests drive time with the fake clock (NUBO_FAKE_CLOCK_FILE) and play
the host agent themselves: a host registered by hand posts sample rounds to
POST /v1/hosts/{id}/metrics, so every number is known.  One test runs a real
nubo-hostd with the fake driver to check the agent's side (sampling, the
metrics channel of the uplink).  Real guests are in tests/e2e/test_monitor.py.
"""
import datetime
import http.server
import json
import os
import re
import subprocess
import threading
import time
import urllib.parse
import uuid

import pytest
import requests

from conftest import HOSTD, Client, Nubod, assert_problem, make_tenant

T0 = int(datetime.datetime(2026, 11, 26, 12, 0, tzinfo=datetime.timezone.utc).timestamp()
         * 1000)
MIN = 60 * 1000
HOUR = 60 * MIN
DAY = 24 * HOUR
CAPACITY = {"vcpus": 64, "ram_mib": 65536, "disk_gib": 1000}


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def wait_for(what, fn, timeout=15, step=0.1):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(step)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


class FakeClock:
    def __init__(self, path, ms):
        self.path = path
        self.set(ms)

    def set(self, ms):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % ms)
        os.replace(tmp, self.path)
        self.ms = ms

    def advance(self, ms):
        self.set(self.ms + ms)


class Host:
    """A host agent played by the test: registered with the join token, it
    posts sample rounds."""

    def __init__(self, nubod, name):
        r = requests.post(nubod.base + "/v1/hosts/register", timeout=30, json={
            "join_token": nubod.join_token, "name": name,
            "address": "unix:/nonexistent/%s.sock" % name, "capacity": CAPACITY,
            "accel": "tcg", "driver": "fake"})
        assert r.status_code == 201, r.text
        self.base = nubod.base
        self.id, self.token = r.json()["host_id"], r.json()["host_token"]
        self.run = "run-" + uuid.uuid4().hex[:8]
        self.seq = 0

    def post(self, body, token=None):
        return requests.post("%s/v1/hosts/%s/metrics" % (self.base, self.id), json=body,
                             timeout=30,
                             headers={"Authorization": "Bearer " + (token or self.token)})

    def rounds(self, rounds):
        """Posts rounds [(age_ms, host dict or None, [vm samples])]."""
        body = {"agent_run": self.run, "rounds": []}
        for age, host, vms in rounds:
            self.seq += 1
            r = {"seq": self.seq, "age_ms": age, "vms": vms}
            if host is not None:
                r["host"] = host
            body["rounds"].append(r)
        r = self.post(body)
        assert r.status_code == 200, r.text
        return r.json()

    def sample(self, vms, age=0, host=None):
        return self.rounds([(age, host, vms)])


def vm(instance_id, **values):
    return dict({"name": "nubo-" + instance_id}, **values)


@pytest.fixture
def mon(tmp_path, monkeypatch, request):
    """nubod on a fake clock at T0, an admin with a long-lived API key, a
    host played by the test, a flavor and an image, and a member of a
    project with two instances placed on that host.  Webhooks may reach the
    tests' receivers on the loopback (--webhook-allow), unless the test
    passes other nubod arguments (indirect parametrization)."""
    clock = FakeClock(str(tmp_path / "clock"), T0)
    monkeypatch.setenv("NUBO_FAKE_CLOCK_FILE", clock.path)
    extra = getattr(request, "param", ["--webhook-allow", "127.0.0.0/8"])
    nubod = Nubod(str(tmp_path), extra).start()
    try:
        admin = nubod.admin()
        r = admin.post("/v1/auth/apikeys", {"name": "tests", "expires_in_days": 3650})
        assert r.status_code == 201, r.text
        admin = Client(nubod.base, r.json()["key"])
        host = Host(nubod, "mon-host")
        r = admin.post("/v1/flavors", {"name": "small", "vcpus": 1, "ram_mib": 64,
                                       "disk_gib": 1})
        assert r.status_code == 201, r.text
        r = admin.post("/v1/images", {"name": "disk", "visibility": "public"})
        assert r.status_code == 201, r.text
        image = r.json()["id"]
        disk = str(tmp_path / "disk.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "64M"], check=True)
        with open(disk, "rb") as f:
            r = admin.req("PUT", "/v1/images/%s/file" % image, data=f.read(),
                          headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 200, r.text
        member = make_tenant(nubod, admin, "member")
        r = member.post("/v1/auth/apikeys", {"name": "tests", "expires_in_days": 3650})
        assert r.status_code == 201, r.text
        member = Client(nubod.base, r.json()["key"])
        r = member.post("/v1/instances", {"name": "web", "flavor": "small", "image": image,
                                          "count": 2})
        assert r.status_code == 202, r.text
        insts = [i["id"] for i in r.json()["instances"]]
        assert all(i["host"]["id"] == host.id for i in r.json()["instances"])
        env = {"nubod": nubod, "clock": clock, "admin": admin, "host": host, "member": member,
               "insts": insts, "image": image, "tmp": str(tmp_path)}
        yield env
    finally:
        if nubod.proc is not None:
            rc = nubod.stop()
            assert rc == 0, "nubod exited with %d:\n%s" % (rc, nubod.log())


def series(client, path, **q):
    r = client.get(path + ("?" + urllib.parse.urlencode(q) if q else ""))
    assert r.status_code == 200, r.text
    return r.json()


# ------------------------------------------------------------ ingestion


def test_samples_become_series(mon):
    host, member, (a, b) = mon["host"], mon["member"], mon["insts"]
    # three rounds 20 s, 10 s and 0 s before T0 (a multiple of a minute)
    out = host.rounds([
        (20000, {"cpu": 10, "memory_used": 1e9, "memory_total": 8e9, "disk_used": 5e9,
                 "disk_total": 1e11}, [vm(a, cpu=10.0, memory=1000, disk_read_bytes=100),
                                       vm(b, cpu=30.0, memory=3000)]),
        (10000, {"cpu": 20}, [vm(a, cpu=20.0, memory=2000, disk_read_bytes=300),
                              vm(b, cpu=50.0)]),
        (0, {"cpu": 30}, [vm(a, cpu=60.0, memory=3000), vm(b, cpu=70.0)]),
    ])
    assert out == {"rounds": 3, "samples": 6, "skipped_rounds": 0, "ignored_vms": 0}

    s = series(member, "/v1/instances/%s/metrics" % a, start=iso(T0 - 5 * MIN),
               end=iso(T0 + 1000), step=60)
    assert (s["instance_id"], s["metric"], s["unit"], s["step"], s["resolution"]) == (
        a, "cpu", "percent", 60, "raw")
    assert s["points"] == [
        {"t": iso(T0 - MIN), "avg": 15.0, "min": 10.0, "max": 20.0, "count": 2},
        {"t": iso(T0), "avg": 60.0, "min": 60.0, "max": 60.0, "count": 1}]
    s = series(member, "/v1/instances/%s/metrics" % a, start="-30s", end="now", step=10)
    assert [p["avg"] for p in s["points"]] == [10.0, 20.0]  # end is exclusive: T0 not in
    # the 20 s and 10 s samples ([-1 min, T0) is in the hour before T0)
    s = series(member, "/v1/instances/%s/metrics" % a, metric="disk_read_bytes",
               start="-1m", end="now", step=3600)
    assert s["unit"] == "bytes/s" and s["points"][0]["t"] == iso(T0 - HOUR)
    assert s["points"][0]["avg"] == 200.0 and s["points"][0]["count"] == 2
    s = series(member, "/v1/instances/%s/metrics" % a, metric="memory", start="-1m",
               end=iso(T0 + 1), step=3600)
    assert s["unit"] == "bytes"
    assert [(p["avg"], p["count"]) for p in s["points"]] == [(1500.0, 2), (3000.0, 1)]
    # the round without a value does not count
    s = series(member, "/v1/instances/%s/metrics" % a, metric="disk_read_bytes",
               start="-1m", end=iso(T0 + 1), step=3600)
    assert len(s["points"]) == 1
    # defaults: cpu over the last hour, 30 s steps
    s = series(member, "/v1/instances/%s/metrics" % a)
    assert s["metric"] == "cpu" and s["step"] == 30
    assert s["points"] == [{"t": iso(T0 - 30000), "avg": 15.0, "min": 10.0, "max": 20.0,
                            "count": 2}]

    # the project: per step, each instance's average, then across instances
    s = series(member, "/v1/metrics/project", start="-1m", end="now", step=3600)
    (p,) = s["points"]
    assert s["unit"] == "percent" and p["instances"] == 2
    assert (p["sum"], p["avg"], p["min"], p["max"]) == (55.0, 27.5, 15.0, 40.0)

    # the host (admins only)
    admin = mon["admin"]
    s = series(admin, "/v1/hosts/%s/metrics" % host.id, start="-1m", end="now", step=3600)
    assert s["host_id"] == host.id and s["points"][0]["avg"] == 15.0
    s = series(admin, "/v1/hosts/mon-host/metrics", metric="memory_total", start="-1m",
               end="now", step=3600)
    assert s["points"] == [{"t": iso(T0 - HOUR), "avg": 8e9, "min": 8e9, "max": 8e9,
                            "count": 1}]
    assert_problem(member.get("/v1/hosts/%s/metrics" % host.id), 403)


def test_resent_batches_are_stored_once(mon):
    host, member, (a, _) = mon["host"], mon["member"], mon["insts"]
    mon["clock"].set(T0 + 30000)
    body = {"agent_run": "r1", "rounds": [
        {"seq": 1, "age_ms": 2000, "vms": [vm(a, cpu=40.0)]},
        {"seq": 2, "age_ms": 1000, "vms": [vm(a, cpu=60.0)]}]}
    assert host.post(body).json()["rounds"] == 2
    # the answer was lost: the agent sends the batch again, plus a new round
    body["rounds"].append({"seq": 3, "age_ms": 0, "vms": [vm(a, cpu=80.0)]})
    assert host.post(body).json() == {"rounds": 1, "samples": 1, "skipped_rounds": 2,
                                      "ignored_vms": 0}
    s = series(member, "/v1/instances/%s/metrics" % a, start=iso(T0), end=iso(T0 + MIN),
               step=60)
    assert [(p["count"], p["avg"]) for p in s["points"]] == [(3, 60.0)]
    # a restarted agent starts its seq again under a new run
    mon["clock"].advance(5000)
    r = host.post({"agent_run": "r2", "rounds": [{"seq": 1, "age_ms": 0,
                                                   "vms": [vm(a, cpu=0.0)]}]})
    assert r.json()["rounds"] == 1
    # rounds older than the raw retention are skipped
    r = host.post({"agent_run": "r2", "rounds": [{"seq": 2, "age_ms": DAY, "vms": []}]})
    assert r.status_code == 200 and r.json()["skipped_rounds"] == 1


def test_only_instances_placed_on_the_host_count(mon):
    nubod, host, member, (a, _) = mon["nubod"], mon["host"], mon["member"], mon["insts"]
    other = Host(nubod, "other-host")
    out = other.sample([vm(a, cpu=99.0), {"name": "not-an-instance", "cpu": 1.0},
                        vm(str(uuid.uuid4()), cpu=1.0)])
    assert out["samples"] == 0 and out["ignored_vms"] == 3
    assert series(member, "/v1/instances/%s/metrics" % a)["points"] == []
    # a host posts only for itself; users do not post samples
    body = {"agent_run": "x", "rounds": []}
    assert_problem(host.post(body, token=other.token), 403)
    r = requests.post("%s/v1/hosts/%s/metrics" % (nubod.base, host.id), json=body, timeout=30)
    assert_problem(r, 401)
    assert_problem(member.post("/v1/hosts/%s/metrics" % host.id, body), 403)


def test_bad_batches_store_nothing(mon):
    host, member, (a, _) = mon["host"], mon["member"], mon["insts"]
    good = vm(a, cpu=50.0)
    bad = [
        {"agent_run": "bad run", "rounds": []},
        {"agent_run": "r", "rounds": [{"seq": 1, "age_ms": 0, "vms": [good]},
                                      {"seq": 1, "age_ms": 0, "vms": [good]}]},
        {"agent_run": "r", "rounds": [{"seq": 1, "age_ms": -1, "vms": [good]}]},
        {"agent_run": "r", "rounds": [{"seq": 1, "age_ms": 0, "vms": [good, vm(a, cpu=101)]}]},
        {"agent_run": "r", "rounds": [{"seq": 1, "age_ms": 0, "vms": [vm(a, cpu=-1)]}]},
        {"agent_run": "r", "rounds": [{"seq": 1, "age_ms": 0, "vms": [vm(a, cpu="50")]}]},
        {"agent_run": "r", "rounds": [{"seq": 1, "age_ms": 0, "vms": [vm(a, bogus=1)]}]},
        {"agent_run": "r", "rounds": [{"seq": 1, "age_ms": 0,
                                       "vms": [vm(a, counters={"cpu_ns": -5})]}]},
        {"agent_run": "r", "rounds": [{"seq": 1, "age_ms": 0, "host": {"cpu": 500},
                                       "vms": []}]},
        {"agent_run": "r", "rounds": [{"seq": i + 1, "age_ms": 0, "vms": []}
                                      for i in range(121)]},
    ]
    for body in bad:
        assert_problem(host.post(body), 400)
    assert series(member, "/v1/instances/%s/metrics" % a)["points"] == []
    # and the cursor did not move: seq 1 of run "r" is still new
    assert host.post({"agent_run": "r", "rounds": [{"seq": 1, "age_ms": 0,
                                                     "vms": [good]}]}).json()["rounds"] == 1


# -------------------------------------------------------------- queries


def test_series_tenancy_and_bad_queries(mon):
    nubod, admin, member, (a, _) = mon["nubod"], mon["admin"], mon["member"], mon["insts"]
    outsider = make_tenant(nubod, admin, "member")
    reader = make_tenant(nubod, admin, "reader", project=member.get(
        "/v1/projects").json()["projects"][0]["name"])
    assert reader.get("/v1/instances/%s/metrics" % a).status_code == 200
    assert admin.get("/v1/instances/%s/metrics" % a).status_code == 200
    assert_problem(outsider.get("/v1/instances/%s/metrics" % a), 404)
    assert_problem(member.get("/v1/instances/%s/metrics" % uuid.uuid4()), 404)
    assert_problem(requests.get(nubod.base + "/v1/instances/%s/metrics" % a, timeout=30), 401)
    # another project's aggregate is its own: the outsider sees nothing of ours
    mon["host"].sample([vm(a, cpu=50.0)])
    assert series(outsider, "/v1/metrics/project", start="-1m", end=iso(T0 + 1))["points"] == []
    assert series(member, "/v1/metrics/project", start="-1m", end=iso(T0 + 1))["points"]
    base = "/v1/instances/%s/metrics?" % a
    for q, detail in [("metric=load", "'metric' must be one of"),
                      ("metric=memory_used", "'metric'"),
                      ("step=0", "step"), ("step=86401", "step"), ("step=1.5", "step"),
                      ("start=yesterday", "'start'"), ("end=2026-13-01T00:00:00Z", "'end'"),
                      ("start=2026-02-31T00:00:00Z", "'start'"),
                      ("start=now&end=-1h", "after 'start'"),
                      ("start=-2d&step=1", "at most 10000"),
                      ("start=-500d", "400 days")]:
        assert_problem(member.get(base + q), 400, detail)
    assert_problem(admin.get("/v1/hosts/%s/metrics?metric=disk_read_bytes" % mon["host"].id),
                   400, "'metric'")
    assert_problem(admin.get("/v1/hosts/%s/metrics" % uuid.uuid4()), 404)


def test_retention_and_downsampling(mon):
    host, member, admin, clock, (a, _) = (mon["host"], mon["member"], mon["admin"],
                                          mon["clock"], mon["insts"])
    # 15 minutes before T0, a sample every 30 s (at T0 - 15 min + k * 30 s)
    # with cpu = k / 2: three 5-minute buckets of 10 samples each
    host.rounds([(15 * MIN - k * 30000, {"cpu": 1.0}, [vm(a, cpu=k / 2)]) for k in range(30)])
    start, end = T0 - 15 * MIN, T0
    raw = series(member, "/v1/instances/%s/metrics" % a, start=iso(start), end=iso(end),
                 step=300)
    assert raw["resolution"] == "raw"
    assert [p["count"] for p in raw["points"]] == [10, 10, 10]

    def buckets(s):
        return [(p["t"], p["count"], round(p["avg"], 6), p["min"], p["max"])
                for p in s["points"]]
    expected = buckets(raw)

    # a day and a bit later the raw samples are gone, the 5-minute averages
    # are still there: same figures, resolution 5m
    clock.advance(DAY + 10 * MIN)
    host.sample([], host={"cpu": 2.0})  # wakes the monitor thread

    def rolled():
        s = series(member, "/v1/instances/%s/metrics" % a, start=iso(start),
                   end=iso(end), step=300)
        # all three buckets: a housekeeping pass that ran before the clock
        # moved has rolled up only the buckets complete at T0
        return s if s["resolution"] == "5m" and len(s["points"]) == len(expected) else None
    s = wait_for("the rollups", rolled)
    assert buckets(s) == expected
    # a finer step than 5 minutes cannot show more than the buckets
    s = series(member, "/v1/instances/%s/metrics" % a, start=iso(start), end=iso(end),
               step=30)
    assert len(s["points"]) == 3
    # host series are rolled up too
    s = series(admin, "/v1/hosts/%s/metrics" % host.id, start=iso(start), end=iso(end),
               step=900)
    assert s["resolution"] == "5m" and sum(p["count"] for p in s["points"]) == 30
    # the project aggregate from rollups
    s = series(member, "/v1/metrics/project", start=iso(start), end=iso(end), step=900)
    assert s["points"] and s["points"][0]["instances"] == 1
    # ... and /metrics no longer shows the instance's stale sample
    text = admin.get("/metrics").text
    assert a not in text

    # 31 days later the rollups are gone too
    clock.advance(31 * DAY)
    host.sample([], host={"cpu": 3.0})
    wait_for("rollups to expire", lambda: series(
        member, "/v1/instances/%s/metrics" % a, start=iso(start), end=iso(end),
        step=300)["points"] == [])


# ----------------------------------------------------------- Prometheus

SAMPLE_LINE = re.compile(r'^([a-z_:][a-z0-9_:]*)(\{([a-z_]+="(?:[^"\\]|\\.)*",?)*\})? '
                         r'(-?[0-9.e+-]+|NaN|\+Inf|-Inf)$')


def parse_exposition(text):
    """{(name, labels frozenset): value} after checking the format: every
    sample's family has # HELP and # TYPE before it, each family once."""
    assert text.endswith("\n")
    families, out, seen_types = {}, {}, set()
    current = None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert name not in families, "family %s twice" % name
            families[name] = None
            current = name
        elif line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            assert name == current and typ in ("gauge", "counter"), line
            families[name] = typ
            seen_types.add(name)
        else:
            m = SAMPLE_LINE.match(line)
            assert m, "not a sample line: %r" % line
            name = m.group(1)
            assert name == current and name in seen_types, "sample outside its family: " + line
            labels = frozenset(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            out[(name, labels)] = float(m.group(4))
    return families, out


def find(samples, name, **labels):
    for (n, ls), v in samples.items():
        if n == name and all((k, val) in ls for k, val in labels.items()):
            return v
    return None


def test_prometheus_exposition(mon):
    nubod, host, admin, member, (a, b) = (mon["nubod"], mon["host"], mon["admin"],
                                          mon["member"], mon["insts"])
    host.sample([vm(a, cpu=42.0, memory=123456,
                    counters={"cpu_ns": 7500000000, "disk_read_bytes": 4096,
                              "disk_write_ops": 3}),
                 vm(b, cpu=1.0)],
                host={"cpu": 12.5, "memory_used": 1000, "memory_total": 4000,
                      "disk_used": 10, "disk_total": 100})
    # no token, a bad token, a host's token
    assert_problem(requests.get(nubod.base + "/metrics", timeout=30), 401)
    assert_problem(requests.get(nubod.base + "/metrics", timeout=30,
                                headers={"Authorization": "Bearer nubometrics_forged"}), 401)
    assert_problem(requests.get(nubod.base + "/metrics", timeout=30,
                                headers={"Authorization": "Bearer " + host.token}), 401)
    # the scrape token nubod wrote, read-only
    path = os.path.join(nubod.dir, "metrics-token")
    assert os.stat(path).st_mode & 0o777 == 0o600
    with open(path) as f:
        scrape = f.read().strip()
    r = requests.get(nubod.base + "/metrics", timeout=30,
                     headers={"Authorization": "Bearer " + scrape})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    families, samples = parse_exposition(r.text)
    assert families["nubo_instance_cpu_utilization_ratio"] == "gauge"
    assert families["nubo_instance_disk_read_bytes_total"] == "counter"
    project = member.get("/v1/projects").json()["projects"][0]["name"]
    assert find(samples, "nubo_instance_cpu_utilization_ratio", instance=a, project=project,
                instance_name="web-1", host="mon-host") == pytest.approx(0.42)
    assert find(samples, "nubo_instance_memory_bytes", instance=a) == 123456
    assert find(samples, "nubo_instance_cpu_seconds_total", instance=a) == 7.5
    assert find(samples, "nubo_instance_disk_read_bytes_total", instance=a) == 4096
    assert find(samples, "nubo_instance_disk_write_ops_total", instance=a) == 3
    assert find(samples, "nubo_instance_disk_read_bytes_total", instance=b) is None
    assert find(samples, "nubo_host_cpu_utilization_ratio", host="mon-host") == 0.125
    assert find(samples, "nubo_host_memory_total_bytes", host="mon-host") == 4000
    assert find(samples, "nubo_hosts_up") == 1
    assert find(samples, "nubo_host_up", host="mon-host") == 1
    assert find(samples, "nubo_instances", status="building") == 2
    assert find(samples, "nubo_alarms", state="ALARM") == 0
    assert find(samples, "nubo_monitor_samples_ingested_total") == 2
    # every metric the Grafana dashboard in docs/ charts is one nubod exposes
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "grafana",
                           "nubo-dashboard.json")) as f:
        dash = json.load(f)
    used = {m for p in dash["panels"] for t in p["targets"]
            for m in re.findall(r"\bnubo_[a-z_]+", t["expr"])}
    assert len(used) >= 15 and not used - set(families), sorted(used - set(families))
    # an admin's token sees the same; a member sees their project's instances only
    _, s2 = parse_exposition(admin.get("/metrics").text)
    assert find(s2, "nubo_instance_memory_bytes", instance=a) == 123456
    r = member.get("/metrics")
    assert r.status_code == 200
    _, s3 = parse_exposition(r.text)
    assert find(s3, "nubo_instance_cpu_utilization_ratio", instance=a) == pytest.approx(0.42)
    assert find(s3, "nubo_hosts_up") is None and find(s3, "nubo_host_up") is None
    outsider = make_tenant(nubod, admin, "reader")
    _, s4 = parse_exposition(outsider.get("/metrics").text)
    assert find(s4, "nubo_instance_cpu_utilization_ratio") is None
    assert find(s4, "nubo_instances", status="building") == 0


# --------------------------------------------------------------- alarms


class Receiver:
    """A webhook receiver on 127.0.0.1: records every POST, answers with the
    statuses queued in `answers` (then 200)."""

    def __init__(self, answers=()):
        self.posts = []
        self.answers = list(answers)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(n)
                outer.posts.append({"path": self.path, "headers": dict(self.headers),
                                    "body": json.loads(body)})
                status = outer.answers.pop(0) if outer.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def alarm_state(client, aid):
    r = client.get("/v1/alarms/" + aid)
    assert r.status_code == 200, r.text
    return r.json()


def wait_state(client, aid, state, timeout=15):
    return wait_for("alarm %s to be %s" % (aid, state),
                    lambda: (lambda a: a if a["state"] == state else None)(
                        alarm_state(client, aid)), timeout=timeout)


def history(client, aid):
    r = client.get("/v1/alarms/%s/history" % aid)
    assert r.status_code == 200, r.text
    return r.json()["history"]


def test_alarm_crud_and_validation(mon, receiver):
    nubod, admin, member, (a, b) = mon["nubod"], mon["admin"], mon["member"], mon["insts"]
    body = {"name": "cpu-high", "metric": "cpu", "instance": a, "comparison": "gt",
            "threshold": 70, "window_s": 120, "webhook_url": receiver.url}
    r = member.post("/v1/alarms", body)
    assert r.status_code == 201, r.text
    al = r.json()
    assert (al["state"], al["statistic"], al["evaluation_periods"], al["instance_id"],
            al["hook"], al["state_value"]) == ("INSUFFICIENT_DATA", "avg", 1, a, None, None)
    assert_problem(member.post("/v1/alarms", body), 409, "cpu-high")
    # by the instance's name, and the project's aggregate (the clock moves:
    # lists are in creation order)
    mon["clock"].advance(1000)
    r = member.post("/v1/alarms", dict(body, name="by-name", instance="web-2",
                                        statistic="max", evaluation_periods=3, hook="log"))
    assert r.status_code == 201 and r.json()["instance_id"] == b
    mon["clock"].advance(1000)
    r = member.post("/v1/alarms", {"name": "project", "metric": "memory", "comparison": "ge",
                                   "threshold": 1e9, "window_s": 60})
    assert r.status_code == 201 and r.json()["instance_id"] is None
    for bad, detail in [
            ({"metric": "load"}, "'metric'"), ({"comparison": "eq"}, "'comparison'"),
            ({"statistic": "p99"}, "'statistic'"), ({"threshold": "70"}, "'threshold'"),
            ({"window_s": 0}, "'window_s'"), ({"window_s": 86400, "evaluation_periods": 2},
                                              "raw retention"),
            ({"evaluation_periods": 101}, "'evaluation_periods'"),
            ({"webhook_url": "ftp://127.0.0.1/x"}, "http"),
            ({"webhook_url": "http://user:pw@127.0.0.1/x"}, "credentials"),
            ({"webhook_url": "http://127.0.0.1:99999/x"}, "port"),
            ({"webhook_url": "http://exa mple.com/"}, "spaces"),
            ({"webhook_url": "http:///x"}, "URL"),
            ({"hook": "no-such-hook"}, "no internal hook"),  # "autoscale" is src/scale's
            ({"instance": str(uuid.uuid4())}, "no instance"),
            ({"name": "-bad"}, "name"), ({"surprise": 1}, "unknown field")]:
        assert_problem(member.post("/v1/alarms", dict(dict(body, name="x"), **bad)), 400, detail)
    assert_problem(member.post("/v1/alarms", {"name": "y", "metric": "cpu"}), 400, "required")
    # another project's instance cannot be watched
    outsider = make_tenant(nubod, admin, "member")
    assert_problem(outsider.post("/v1/alarms", dict(body, name="spy")), 400, "no instance")
    # readers read, members write
    reader = make_tenant(nubod, admin, "reader", project=member.get(
        "/v1/projects").json()["projects"][0]["name"])
    assert reader.get("/v1/alarms/" + al["id"]).status_code == 200
    assert_problem(reader.post("/v1/alarms", dict(body, name="r")), 403)
    assert_problem(reader.delete("/v1/alarms/" + al["id"]), 403)
    # list, paged, in creation order
    r = member.get("/v1/alarms?limit=2")
    assert [x["name"] for x in r.json()["alarms"]] == ["cpu-high", "by-name"]
    r = member.get("/v1/alarms?limit=2&marker=" + r.json()["next_marker"])
    assert [x["name"] for x in r.json()["alarms"]] == ["project"]
    assert r.json()["next_marker"] is None
    assert outsider.get("/v1/alarms").json()["alarms"] == []
    # another project's alarm does not exist for the outsider
    for call in (outsider.get, outsider.delete):
        assert_problem(call("/v1/alarms/" + al["id"]), 404)
    assert_problem(outsider.patch("/v1/alarms/" + al["id"], {"threshold": 1}), 404)
    assert_problem(outsider.get("/v1/alarms/%s/history" % al["id"]), 404)
    # update
    r = member.patch("/v1/alarms/" + al["id"], {"threshold": 90.5, "webhook_url": None,
                                                "statistic": "min"})
    assert r.status_code == 200, r.text
    assert (r.json()["threshold"], r.json()["webhook_url"], r.json()["statistic"]) == (
        90.5, None, "min")
    assert_problem(member.patch("/v1/alarms/" + al["id"], {"name": "new"}), 400,
                   "unknown field")
    assert_problem(member.patch("/v1/alarms/" + al["id"], {"window_s": 86400,
                                                           "evaluation_periods": 5}), 400)
    # delete
    assert member.delete("/v1/alarms/" + al["id"]).status_code == 204
    assert_problem(member.get("/v1/alarms/" + al["id"]), 404)
    assert_problem(member.delete("/v1/alarms/" + al["id"]), 404)


def test_alarm_state_machine_and_webhook(mon, receiver):
    host, member, clock, (a, b) = mon["host"], mon["member"], mon["clock"], mon["insts"]
    r = member.post("/v1/alarms", {"name": "busy", "metric": "cpu", "instance": a,
                                   "comparison": "gt", "threshold": 50, "window_s": 60,
                                   "webhook_url": receiver.url, "hook": "log"})
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    # no data: it stays INSUFFICIENT_DATA (and nothing is recorded)
    host.sample([vm(b, cpu=99.0)])
    time.sleep(1.5)
    assert alarm_state(member, aid)["state"] == "INSUFFICIENT_DATA"
    assert history(member, aid) == []

    # load: 80 % average over the last minute -> ALARM
    host.rounds([(40000, None, [vm(a, cpu=70.0)]), (20000, None, [vm(a, cpu=90.0)])])
    al = wait_state(member, aid, "ALARM")
    assert al["state_value"] == 80.0 and "avg cpu 80 > 50" in al["state_reason"]
    post = wait_for("the webhook", lambda: receiver.posts)[0]
    assert post["path"] == "/hook" and post["headers"]["X-Nubo-Alarm-Id"] == aid
    assert post["headers"]["Content-Type"] == "application/json"
    assert post["headers"]["User-Agent"].startswith("nubo/")
    body = post["body"]
    assert (body["old_state"], body["new_state"], body["value"]) == (
        "INSUFFICIENT_DATA", "ALARM", 80.0)
    assert body["alarm"]["id"] == aid and body["alarm"]["instance_id"] == a
    assert body["alarm"]["threshold"] == 50 and body["at"] == iso(clock.ms)

    # a minute later the load is gone -> OK
    clock.advance(61000)
    host.sample([vm(a, cpu=5.0)])
    al = wait_state(member, aid, "OK")
    assert al["state_value"] == 5.0
    wait_for("the second webhook", lambda: len(receiver.posts) == 2)
    assert receiver.posts[1]["body"]["new_state"] == "OK"

    # no samples for longer than the window -> INSUFFICIENT_DATA
    clock.advance(120000)
    host.sample([vm(b, cpu=1.0)])
    wait_state(member, aid, "INSUFFICIENT_DATA")
    wait_for("the third webhook", lambda: len(receiver.posts) == 3)

    h = wait_for("the history", lambda: (lambda x: x if len(x) == 9 else None)(
        history(member, aid)))
    states = [(e["old_state"], e["new_state"]) for e in h if e["kind"] == "state"]
    assert states == [("INSUFFICIENT_DATA", "ALARM"), ("ALARM", "OK"),
                      ("OK", "INSUFFICIENT_DATA")]
    assert [e["kind"] for e in h[:3]] == ["state", "hook", "webhook"]
    assert h[1]["detail"] == "hook log ran"
    assert all(e["webhook_status"] == "delivered" and e["attempts"] == 1
               for e in h if e["kind"] == "state")
    assert "delivered to %s: HTTP 200 after 1 attempt" % receiver.url in h[2]["detail"]
    # paging the history
    r = member.get("/v1/alarms/%s/history?limit=4" % aid).json()
    assert len(r["history"]) == 4 and r["next_marker"] == h[3]["id"]
    r = member.get("/v1/alarms/%s/history?limit=100&marker=%s" % (aid, r["next_marker"]))
    assert [e["id"] for e in r.json()["history"]] == [e["id"] for e in h[4:]]


def test_alarm_periods_statistics_and_project_aggregate(mon):
    host, member, (a, b) = mon["host"], mon["member"], mon["insts"]
    mk = lambda **kw: member.post("/v1/alarms", dict({"metric": "cpu", "window_s": 30}, **kw))
    two = mk(name="two", instance=a, comparison="ge", threshold=50,
             evaluation_periods=2).json()["id"]
    peak = mk(name="peak", instance=a, comparison="gt", threshold=95,
              statistic="max").json()["id"]
    low = mk(name="low", instance=a, comparison="lt", threshold=20,
             statistic="min").json()["id"]
    proj = mk(name="proj", comparison="gt", threshold=40).json()["id"]
    # window 2 (60..30 s ago): 40 %; window 1 (the last 30 s): 60 % and 99 %
    host.rounds([(45000, None, [vm(a, cpu=40.0), vm(b, cpu=10.0)]),
                 (20000, None, [vm(a, cpu=60.0), vm(b, cpu=10.0)]),
                 (10000, None, [vm(a, cpu=99.0), vm(b, cpu=10.0)])])
    # only one of two windows breaches: OK; max 99 > 95: ALARM; min 60 not < 20: OK;
    # the project's samples of the last 30 s average (60+99+10+10)/4 = 44.75 > 40: ALARM
    assert wait_state(member, two, "OK")["state_value"] == pytest.approx(79.5)
    assert wait_state(member, peak, "ALARM")["state_value"] == 99.0
    assert wait_state(member, low, "OK")["state_value"] == 60.0
    assert wait_state(member, proj, "ALARM")["state_value"] == pytest.approx(44.75)
    # window 2 breaching too turns the first one to ALARM
    mon["clock"].advance(30000)
    host.sample([vm(a, cpu=70.0)])
    assert wait_state(member, two, "ALARM")["state_value"] == 70.0


@pytest.mark.parametrize("mon", [[]], indirect=True)
def test_webhooks_reach_only_public_addresses(mon, receiver):
    """Without --webhook-allow, no spelling of the loopback (or any other
    non-public address) is accepted or delivered to, and a name that
    resolves to one is refused when connecting, with the same words as any
    other failure (the history is no port scanner)."""
    host, member, (a, _) = mon["host"], mon["member"], mon["insts"]
    port = receiver.server.server_address[1]
    for h in ["127.0.0.1", "2130706433", "0x7f000001", "127.1", "0177.0.0.1",
              "[::ffff:127.0.0.1]", "[::ffff:0.0.0.0]", "[::1]", "0.0.0.0", "10.0.0.1",
              "169.254.169.254", "192.168.1.1", "[fe80::1]", "[fd00::1]"]:
        r = member.post("/v1/alarms", {"name": "ssrf", "metric": "cpu", "instance": a,
                                       "comparison": "gt", "threshold": 10, "window_s": 60,
                                       "webhook_url": "http://%s:%d/hook" % (h, port)})
        assert_problem(r, 400, "non-public address")
    ids = []
    for i, name in enumerate(["localhost", "127.0.0.1.nip.io.localhost"]):
        r = member.post("/v1/alarms", {"name": "by-name-%d" % i, "metric": "cpu",
                                       "instance": a, "comparison": "gt", "threshold": 10,
                                       "window_s": 60,
                                       "webhook_url": "http://%s:%d/hook" % (name, port)})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    # a closed port on a (refused) name: the same answer
    r = member.post("/v1/alarms", {"name": "closed", "metric": "cpu", "instance": a,
                                   "comparison": "gt", "threshold": 10, "window_s": 60,
                                   "webhook_url": "http://localhost:1/hook"})
    ids.append(r.json()["id"])
    host.sample([vm(a, cpu=50.0)])
    details = []
    for aid in ids:
        wait_state(member, aid, "ALARM")
        h = wait_for("the webhook to be given up", lambda: (
            lambda x: x if len(x) == 2 else None)(history(member, aid)), timeout=40)
        assert h[0]["webhook_status"] == "failed" and h[0]["attempts"] == 5, h
        details.append(h[1]["detail"].split(": ", 1)[1])
    assert receiver.posts == []
    assert details == ["no HTTP answer from the receiver"] * len(ids), details


def test_webhook_retries_then_gives_up(mon):
    host, member, (a, _) = mon["host"], mon["member"], mon["insts"]
    flaky = Receiver(answers=[500, 503])
    try:
        r = member.post("/v1/alarms", {"name": "flaky", "metric": "cpu", "instance": a,
                                       "comparison": "gt", "threshold": 10, "window_s": 60,
                                       "webhook_url": flaky.url})
        aid = r.json()["id"]
        host.sample([vm(a, cpu=50.0)])
        wait_state(member, aid, "ALARM")
        # 500, 503, then 200: delivered on the third attempt (after 1 s + 2 s)
        wait_for("three attempts", lambda: len(flaky.posts) == 3, timeout=20)
        assert flaky.posts[0]["body"] == flaky.posts[2]["body"]
        h = wait_for("the delivery", lambda: (lambda x: x if len(x) == 2 else None)(
            history(member, aid)))
        assert (h[0]["webhook_status"], h[0]["attempts"]) == ("delivered", 3)
        assert "after 3 attempt(s)" in h[1]["detail"]
    finally:
        flaky.close()
    # a receiver that is not there: 5 attempts (1+2+4+8 s apart), then failed
    gone = Receiver()
    url = gone.url
    gone.close()
    r = member.patch("/v1/alarms/" + aid, {"webhook_url": url, "threshold": 90})
    assert r.status_code == 200
    wait_state(member, aid, "OK")
    h = wait_for("giving up", lambda: (lambda x: x if len(x) == 4 else None)(
        history(member, aid)), timeout=40)
    assert (h[2]["new_state"], h[2]["webhook_status"], h[2]["attempts"]) == ("OK", "failed", 5)
    assert h[3]["kind"] == "webhook" and "gave up on %s after 5 attempt(s)" % url in \
        h[3]["detail"]
    _, samples = parse_exposition(mon["admin"].get("/metrics").text)
    assert find(samples, "nubo_monitor_webhooks_total", result="failed") == 1
    assert find(samples, "nubo_monitor_webhooks_total", result="delivered") == 1


def test_pending_webhooks_survive_a_restart(mon):
    nubod, host, member, (a, _) = mon["nubod"], mon["host"], mon["member"], mon["insts"]
    down = Receiver(answers=[500] * 100)
    try:
        r = member.post("/v1/alarms", {"name": "resume", "metric": "cpu", "instance": a,
                                       "comparison": "gt", "threshold": 10, "window_s": 60,
                                       "webhook_url": down.url})
        aid = r.json()["id"]
        host.sample([vm(a, cpu=50.0)])
        wait_state(member, aid, "ALARM")
        wait_for("a first attempt", lambda: down.posts)
        assert nubod.stop() == 0
        down.answers = []  # the receiver is fixed while nubod is down
        n = len(down.posts)
        nubod.start()
        wait_for("the resumed delivery", lambda: len(down.posts) > n)
        h = wait_for("the delivery recorded", lambda: (lambda x: x if len(x) == 2 else None)(
            history(member, aid)))
        assert h[0]["webhook_status"] == "delivered" and h[0]["attempts"] >= 2
        assert down.posts[-1]["body"] == down.posts[0]["body"]
    finally:
        down.close()


# ------------------------------------------------ a real agent (fake VMs)


def test_agent_samples_reach_the_api(tmp_path):
    """nubo-hostd --driver fake --sample-ms 300: the agent's sampler and its
    metrics channel, with real clocks."""
    from test_hosts import FakeHostd
    nubod = Nubod(str(tmp_path)).start()
    hostd = None
    try:
        admin = nubod.admin()
        hostd = FakeHostd(str(tmp_path), nubod, "sampler", heartbeat_ms=300)
        hostd.args += ["--sample-ms", "300"]
        hostd.start()
        wait_for("the host", lambda: [h for h in admin.get("/v1/hosts").json()["hosts"]
                                      if h["name"] == "sampler" and h["state"] == "up"])
        r = admin.post("/v1/flavors", {"name": "two", "vcpus": 2, "ram_mib": 128,
                                       "disk_gib": 1})
        assert r.status_code == 201
        r = admin.post("/v1/images", {"name": "disk"})
        disk = str(tmp_path / "d.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "64M"], check=True)
        with open(disk, "rb") as f:
            assert admin.req("PUT", "/v1/images/%s/file" % r.json()["id"], data=f.read(),
                             headers={"Content-Type": "application/octet-stream"}
                             ).status_code == 200
        r = admin.post("/v1/instances", {"name": "vm", "flavor": "two", "image": "disk"})
        iid = r.json()["instances"][0]["id"]
        wait_for("running", lambda: admin.get("/v1/instances/" + iid).json()["status"]
                 == "running")

        def points(metric):
            return series(admin, "/v1/instances/%s/metrics" % iid, metric=metric,
                          start="-1m", step=1)["points"]
        cpu = wait_for("cpu samples", lambda: len(points("cpu")) >= 3 and points("cpu"))
        # the fake driver's load is steady: every sample the same, 5..94 %
        assert 5 <= cpu[-1]["avg"] <= 95
        assert abs(cpu[-1]["avg"] - cpu[-2]["avg"]) < 1
        assert points("memory")[-1]["avg"] > 0
        assert points("disk_read_bytes")
        assert points("net_rx_bytes") == []  # the fake driver has no network counters
        host_id = admin.get("/v1/hosts/sampler").json()["id"]
        h = series(admin, "/v1/hosts/%s/metrics" % host_id, metric="memory_total",
                   start="-1m", step=60)["points"]
        assert h and h[-1]["avg"] > 0
        _, samples = parse_exposition(admin.get("/metrics").text)
        assert find(samples, "nubo_instance_cpu_seconds_total", instance=iid) > 0
        # the agent's rounds are numbered: none was stored twice
        n = find(samples, "nubo_monitor_rounds_ingested_total")
        assert n >= 3 and find(samples, "nubo_monitor_duplicate_batches_total") == 0
    finally:
        if hostd is not None and hostd.proc is not None:
            rc = hostd.stop()
            assert rc == 0, "nubo-hostd exited with %d:\n%s" % (rc, hostd.log())
        rc = nubod.stop()
        assert rc == 0, "nubod exited with %d:\n%s" % (rc, nubod.log())


# ------------------------------------------------------------------ CLI

CLI = os.path.join(os.path.dirname(HOSTD), "..", "cli", "nubo")


def nubo(mon, *args):
    env = dict(os.environ, NUBO_URL=mon["nubod"].base, NUBO_TOKEN=mon["member"].token,
               XDG_CONFIG_HOME=os.path.join(mon["tmp"], "xdg"))
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    return subprocess.run([CLI] + list(args), env=env, capture_output=True, text=True,
                          timeout=60)


def test_cli_metrics_and_alarms(mon):
    if nubo(mon, "metrics", "--help").returncode != 0:
        pytest.skip("this nubo has no 'metrics' command yet (src/cli/main.c registers it)")
    host, (a, _) = mon["host"], mon["insts"]
    host.rounds([(k * 1000, None, [vm(a, cpu=float(10 * (k % 10)), memory=2 << 20)])
                 for k in range(60, 0, -1)])
    r = nubo(mon, "metrics", "web-1", "--since", "1m", "--step", "1")
    assert r.returncode == 0, r.stderr
    title, chart, figures = r.stdout.splitlines()
    assert title.startswith("web-1  cpu (percent), last 1m, 1 s per point")
    assert set(chart) <= set("\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588 ")
    assert len(chart) >= 59 and "\u2588" in chart and "\u2581" in chart
    assert figures.startswith("min 0.0%   avg 45.0%   max 90.0%")
    r = nubo(mon, "metrics", a, "--metric", "memory", "--since", "1m")
    assert r.returncode == 0 and "min 2.0M" in r.stdout, r.stdout + r.stderr
    r = nubo(mon, "-o", "json", "metrics", "web-1", "--since", "1m", "--step", "60")
    assert json.loads(r.stdout)["points"][0]["count"] > 0
    assert nubo(mon, "metrics", "web-1", "--since", "40d").returncode == 2
    r = nubo(mon, "metrics", "web-1", "--metric", "load")
    assert r.returncode == 1 and "'metric' must be one of" in r.stderr
    assert nubo(mon, "metrics", "nope").returncode == 1

    r = nubo(mon, "alarm", "create", "hot", "--metric", "cpu", "--instance", "web-1",
             "--comparison", "ge", "--threshold", "40", "--window", "60", "--hook", "log")
    assert r.returncode == 0 and r.stdout.startswith("created alarm hot"), r.stderr
    assert nubo(mon, "alarm", "create", "x", "--metric", "cpu").returncode == 2
    wait_for("ALARM", lambda: "ALARM" in nubo(mon, "alarm", "list").stdout)
    r = nubo(mon, "alarm", "show", "hot")
    assert "state:" in r.stdout and "ALARM" in r.stdout and "hook:            log" in r.stdout
    r = nubo(mon, "alarm", "history", "hot")
    assert "INSUFFICIENT_DATA" in r.stdout and "hook log ran" in r.stdout
    r = nubo(mon, "-o", "json", "alarm", "history", "hot")
    assert [e["kind"] for e in json.loads(r.stdout)["history"]] == ["state", "hook"]
    assert nubo(mon, "alarm", "delete", "hot").returncode == 0
    assert nubo(mon, "alarm", "show", "hot").returncode == 1
