#!/usr/bin/python3
"""Benchmark: nubod under a tenant load mix through 4 fake hosts, beside nginx.

4 nubo-hostd agents (--driver fake: no guest runs) join one nubod; a tenant
project gets a quota large enough.  wrk (Lua script) then runs, for each
concurrency C (default 200, then 1000), a weighted mix of
  GET /v1/instances?limit=50     list   (50 %)
  GET /v1/instances/{id}         show   (30 %, one of the 50 seeded instances)
  POST /v1/instances             create (10 %, flavor tiny: scheduled onto the
                                 fake hosts, converged by the reconciler)
  DELETE /v1/instances/{id}      delete (10 %, an instance this wrk thread
                                 created; a show when it has none yet, a
                                 delete instead of a create when it has 50)
for --duration seconds.  Meanwhile a probe, over its own keep-alive
connection from another source address (127.0.0.2), times GET /v1/health
every 100 ms (or as soon as the previous probe answered, when it took longer);
another, from 127.0.0.3, reads GET /v1/hosts every second (hosts seen down).
After the run every host must be up.  nginx then serves the list's JSON body as a
static file at the same concurrency with the same wrk settings (plain GET);
the ratio is nubod's mix against that.

Prints a table: requests/s, p50/p99 latency, non-2xx answers by status,
socket errors (connect/read/write/timeout: wrk leaves requests slower than
its --timeout of 10 s out of the latency figures and counts them here), health-probe p50/p99/max and
errors, hosts seen down during the run and down at the end.

usage: bench/load_mix.py [--duration S] [--connections 200,1000] [--shared-listener]
By default the agents talk to nubod's --agent-listen address (the recommended
set-up); --shared-listener points them at the tenant API instead.
Needs: wrk and nginx (installed with apt-get when missing), a release build
(scripts/build.sh) and the nubo-tiny image (images/build-guest.sh; or
NUBO_IMAGES=dir); NUBO_BENCH_KEEP=1 keeps the scratch directory
(nubod.log, nubo.db) for a look afterwards.  The fd limit is raised for
wrk, nubod and nginx; nubod runs with --max-conn-per-ip 1024 since wrk
connects from one address.
"""
import argparse
import http.client
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))
os.environ.setdefault("NUBO_BUILD", "build")
import conftest  # noqa: E402
import api  # noqa: E402  (ensure_tools)
from test_hosts import FakeHostd, wait_for  # noqa: E402

IMG = os.path.join(os.environ.get("NUBO_IMAGES", os.path.join(ROOT, "build", "images")),
                   "nubo-tiny")
HOSTS = 4
SEEDED = 50

# The wrk script: a weighted mix; ids of the seeded instances are spliced in.
LUA = r"""
local ids = {%(ids)s}
local token = "%(token)s"
local run = "%(run)s"
local made = 0       -- names are unique in a project: mix-<run>-<thread>-<n>
local mine = {}      -- instances this thread created, not yet deleted
counts = {}          -- "op status" -> n, read by done()
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0))
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local r = math.random(100)
  if #mine >= 50 and r > 50 and r <= 60 then
    r = 65           -- keep this thread's population bounded: delete instead
  end
  if r <= 50 then
    return wrk.format("GET", "/v1/instances?limit=50")
  elseif r <= 60 then
    made = made + 1
    return wrk.format("POST", "/v1/instances", nil, string.format(
      '{"name":"mix-%%s-%%d-%%d","flavor":"tiny","image":"nubo-tiny"}', run, tid, made))
  elseif r <= 70 and #mine > 0 then
    return wrk.format("DELETE", "/v1/instances/" .. table.remove(mine, 1))
  end
  return wrk.format("GET", "/v1/instances/" .. ids[math.random(#ids)])
end

-- wrk does not say which request an answer belongs to (many connections per
-- thread), so answers are told apart by status and shape: 202 with
-- "instances" is a create, other 202s deletes, 200s list or show; others are
-- counted by status and the problem's detail.
function response(status, headers, body)
  local k
  if status == 202 then
    local id = body:match('^{"instances":%%[{"id":"([%%x%%-]+)"')
    if id then
      table.insert(mine, id)
      k = "create 202"
    else
      k = "delete 202"
    end
  elseif status == 200 then
    k = (body:sub(1, 13) == '{"instances":') and "list 200" or "show 200"
  else
    local d = body:match('"detail":"([^"]*)"') or ""
    k = "error " .. status .. " " .. d:sub(1, 70):gsub(" ", "_")
  end
  counts[k] = (counts[k] or 0) + 1
end

function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    if c then
      for k, v in pairs(c) do all[k] = (all[k] or 0) + v end
    end
  end
  for k, v in pairs(all) do io.write(string.format("MIX\t%%s\t%%d\n", k, v)) end
end
"""


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def ms(v, unit):
    v = float(v)
    return v / 1000 if unit == "us" else (v * 1000 if unit == "s" else v)


def run_wrk(url, conns, duration, script=None, token=None):
    args = ["wrk", "-t2", "-c%d" % conns, "-d%ds" % duration, "--timeout", "10s", "--latency"]
    if script:
        args += ["-s", script]
    if token:
        args += ["-H", "Authorization: Bearer " + token]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True).stdout
    res = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for p in ("50", "99"):
        m = re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)\b" % p, out)
        res["p" + p] = ms(*m.groups())
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["sock"] = tuple(int(x) for x in m.groups()) if m else (0, 0, 0, 0)
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non2xx"] = int(m.group(1)) if m else 0
    res["mix"] = {}
    for key, n in re.findall(r"^MIX\t(.*)\t(\d+)$", out, re.M):
        res["mix"][key] = int(n)
    res["raw"] = out
    return res


class Probe(threading.Thread):
    """GET `path` every `every` seconds (or as soon as the previous answer came,
    when it took longer) over its own keep-alive connection from `src`, so it
    is not counted against wrk's address; times the answers."""

    def __init__(self, port, path, every, src, token=None):
        super().__init__(daemon=True)
        self.port, self.path, self.every, self.src = port, path, every, src
        self.headers = {"Authorization": "Bearer " + token} if token else {}
        self.stop_ev = threading.Event()
        self.lat, self.errors, self.down_seen = [], 0, set()
        self.conn = None

    def get(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30,
                                                   source_address=(self.src, 0))
        try:
            self.conn.request("GET", self.path, headers=self.headers)
            r = self.conn.getresponse()
            return r.status, r.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            return None, b""

    def run(self):
        while not self.stop_ev.is_set():
            t0 = time.monotonic()
            status, body = self.get()
            if status == 200:
                self.lat.append((time.monotonic() - t0) * 1000)
                self.seen(body)
            else:
                self.errors += 1
            self.stop_ev.wait(max(0, self.every - (time.monotonic() - t0)))

    def seen(self, body):
        if self.path == "/v1/hosts":
            for h in json.loads(body)["hosts"]:
                if h["state"] != "up":
                    self.down_seen.add(h["name"])

    def summary(self):
        lat = sorted(self.lat)
        if not lat:
            return (0, float("nan"), float("nan"), float("nan"), self.errors)
        return (len(lat), statistics.median(lat), lat[min(len(lat) - 1, int(len(lat) * 0.99))],
                lat[-1], self.errors)


def nginx_serving(tmp, body):
    root = os.path.join(tmp, "www")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "instances.json"), "wb") as f:
        f.write(body)
    port = conftest.free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""
worker_processes 1;
worker_rlimit_nofile 8192;
user root;
daemon off;
pid %(tmp)s/nginx.pid;
error_log %(tmp)s/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/json;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:%(port)d backlog=4096; root %(root)s; }
}
""" % {"tmp": tmp, "port": port, "root": root})
    p = subprocess.Popen(["nginx", "-c", conf, "-p", tmp], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    url = "http://127.0.0.1:%d/instances.json" % port
    wait_for("nginx", lambda: subprocess.run(["wrk", "-t1", "-c1", "-d1s", url],
                                             capture_output=True).returncode == 0, timeout=10)
    return p, url


def hosts_down(admin):
    try:
        r = admin.get("/v1/hosts")
    except requests.ConnectionError:
        # nubod closed the admin's keep-alive connection, idle for longer
        # than --conn-timeout (60 s) while the seeds settled and wrk ran
        r = admin.get("/v1/hosts")
    return [h["name"] for h in r.json()["hosts"] if h["state"] != "up"]


def cleanup(tenant, keep):
    """Deletes what a run created and left (at most 50 per wrk thread)."""
    left = [i["id"] for i in tenant.get("/v1/instances?limit=1000").json()["instances"]
            if i["id"] not in keep and i["status"] != "deleting"]
    for i in left:
        r = tenant.delete("/v1/instances/" + i)
        assert r.status_code in (202, 404), r.text
    # the next run starts from the same population (the fake driver is quick)
    try:
        wait_for("cleanup", lambda: len(tenant.get("/v1/instances?limit=1000")
                                         .json()["instances"]) <= len(keep), timeout=60)
    except AssertionError:
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--connections", default="200,1000",
                    help="comma-separated concurrencies (default 200,1000)")
    ap.add_argument("--shared-listener", action="store_true",
                    help="agents use the tenant API address, not --agent-listen")
    args = ap.parse_args()
    conns = [int(c) for c in args.connections.split(",")]
    for ext in ("qcow2", "kernel", "initrd", "cmdline"):
        if not os.path.exists(IMG + "." + ext):
            sys.exit("the nubo-tiny image is not built: images/build-guest.sh build/images "
                     "(or set NUBO_IMAGES to a directory holding it)")
    fds = raise_fd_limit()
    if fds < max(conns) + 256:
        sys.exit("the fd limit is %d: too low for %d connections" % (fds, max(conns)))
    api.ensure_tools()
    tmp = tempfile.mkdtemp(prefix="nubo-bench-mix-")
    extra = ["--log-level", "warn", "--max-conn-per-ip", "1024"]
    agent_port = None
    if not args.shared_listener:
        agent_port = conftest.free_port()
        extra += ["--agent-listen", "127.0.0.1:%d" % agent_port]
    extra += ["--cpu-ratio", "64"]   # 2-CPU fake hosts: room for the population
    n = conftest.Nubod(tmp, extra).start()
    agents, ngx = [], None
    try:
        admin = n.admin()
        if agent_port:
            # the agents only read .base and .dir
            class AgentSide:
                base = "http://127.0.0.1:%d" % agent_port
                dir = n.dir
            side = AgentSide
        else:
            side = n
        for k in range(HOSTS):
            h = FakeHostd(tmp, side, "fake-%d" % (k + 1), heartbeat_ms=3000)
            h.args[h.args.index("--log-level") + 1] = "warn"
            # capacity of a 2-CPU machine x64: room for the steady population
            h.args += ["--cpu-ratio", "64"]
            agents.append(h.start())
        wait_for("4 hosts up", lambda: len([h for h in admin.get("/v1/hosts").json()["hosts"]
                                            if h["state"] == "up"]) == HOSTS, timeout=60)
        with open(IMG + ".cmdline") as f:
            cmdline = f.read().strip()
        r = admin.post("/v1/images", {"name": "nubo-tiny", "visibility": "public",
                                      "file": IMG + ".qcow2", "kernel_file": IMG + ".kernel",
                                      "initrd_file": IMG + ".initrd", "cmdline": cmdline})
        assert r.status_code == 201, r.text
        r = admin.post("/v1/flavors", {"name": "tiny", "vcpus": 1, "ram_mib": 64,
                                       "disk_gib": 1})
        assert r.status_code == 201, r.text
        tenant = conftest.make_tenant(n, admin)
        r = admin.put("/v1/projects/%s/quota" % tenant.project,
                      {"instances": 10**6, "vcpus": 10**6, "ram_mib": 10**9,
                       "disk_gib": 10**9})
        assert r.status_code == 200, r.text
        r = tenant.post("/v1/instances", {"name": "seed", "flavor": "tiny",
                                          "image": "nubo-tiny", "count": SEEDED})
        assert r.status_code == 202, r.text
        ids = [i["id"] for i in r.json()["instances"]]
        assert len(ids) == SEEDED, r.text
        try:
            wait_for("seeded instances running", lambda: all(
                i["status"] == "running" for i in
                tenant.get("/v1/instances?limit=%d" % SEEDED).json()["instances"]), timeout=120)
        except AssertionError:
            sys.exit("the seeded instances are not running: %s" % [
                (i["status"], i.get("fault")) for i in
                tenant.get("/v1/instances?limit=%d" % SEEDED).json()["instances"]][:5])
        body = tenant.get("/v1/instances?limit=50").content
        ngx, nurl = nginx_serving(tmp, body)

        rows = []
        for c in conns:
            run_wrk(n.base + "/v1/instances?limit=50", min(c, 50), 2, token=tenant.token)
            script = os.path.join(tmp, "mix-%d.lua" % c)
            with open(script, "w") as f:
                f.write(LUA % {"ids": ",".join('"%s"' % i for i in ids), "token": tenant.token,
                               "run": "c%d" % c})
            probe = Probe(n.port, "/v1/health", 0.1, "127.0.0.2")
            watch = Probe(n.port, "/v1/hosts", 1.0, "127.0.0.3", admin.token)
            probe.start()
            watch.start()
            load0 = os.getloadavg()[0]
            a = run_wrk(n.base + "/", c, args.duration, script=script)
            load1 = os.getloadavg()[0]
            for p in (probe, watch):
                p.stop_ev.set()
                p.join()
            down_end = hosts_down(admin)
            run_wrk(nurl, min(c, 50), 2)
            b = run_wrk(nurl, c, args.duration)
            cleanup(tenant, ids)
            seen = (sorted(watch.down_seen), len(watch.lat))
            rows.append((c, a, b, probe.summary(), seen, down_end,
                         (load0, load1)))

        print("Load mix: list 50%% / show 30%% / create 10%% / delete 10%% through %d fake hosts "
              "(agents on %s); wrk -t2 -d%ds --timeout 10s; nginx: static %d-byte list body"
              % (HOSTS, "the tenant listener" if args.shared_listener else "--agent-listen",
                 args.duration, len(body)))
        hdr = "%6s %-6s %9s %9s %9s %7s %s"
        print(hdr % ("conns", "server", "req/s", "p50 ms", "p99 ms", "non-2xx",
                     "socket errors connect/read/write/timeout"))
        for c, a, b, pr, seen, end, load in rows:
            print(hdr % (c, "nubod", "%.0f" % a["rps"], "%.2f" % a["p50"], "%.2f" % a["p99"],
                         a["non2xx"], "%d/%d/%d/%d" % a["sock"]))
            print(hdr % (c, "nginx", "%.0f" % b["rps"], "%.2f" % b["p50"], "%.2f" % b["p99"],
                         b["non2xx"], "%d/%d/%d/%d" % b["sock"]))
            print("%6s ratio nubod/nginx: throughput %.3f, p50 %.1fx, p99 %.1fx" %
                  ("", a["rps"] / b["rps"], a["p50"] / b["p50"], a["p99"] / b["p99"]))
            print("%6s nubod answers: %s" % ("", ", ".join(
                "%s %d" % kv for kv in sorted(a["mix"].items()) if not kv[0].startswith("error"))))
            for key, k in sorted(a["mix"].items()):
                if key.startswith("error "):
                    _, st, detail = (key + " ").split(" ", 2)
                    print("%6s   non-2xx %s x%d: %s"
                          % ("", st, k, detail.strip().replace("_", " ")))
            print("%6s health probe (every 100 ms, own connection): %d probes, p50 %.2f ms, "
                  "p99 %.2f ms, max %.2f ms, %d failed" % (("",) + pr))
            print("%6s hosts seen down during the run: %s (%d reads of /v1/hosts); down at "
                  "the end: %s; load average (1 min) %.2f before, %.2f after" %
                  ("", ", ".join(seen[0]) or "none", seen[1], ", ".join(end) or "none",
                   load[0], load[1]))
        st = {}
        for i in tenant.get("/v1/instances?limit=1000").json()["instances"]:
            st[i["status"]] = st.get(i["status"], 0) + 1
        print("instances of the tenant at the end: %s (%d seeded)" % (
            ", ".join("%d %s" % (v, k) for k, v in sorted(st.items())), SEEDED))
        if any(r[5] for r in rows):
            sys.exit("FAIL: hosts were down at the end of a run")
    finally:
        if ngx:
            ngx.terminate()
            ngx.wait()
        for h in agents:
            if h.proc is not None:
                h.proc.terminate()
                h.proc.wait()
        n.stop()
        if not os.environ.get("NUBO_BENCH_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
