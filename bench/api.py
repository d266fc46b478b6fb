#!/usr/bin/python3
"""Benchmark: nubod's API against nginx serving the same bytes, and nubod's
memory with many instance records.

(1) Throughput and p50/p99 latency of an authenticated GET /v1/instances
    (100 instances), measured with wrk, side by side with nginx serving the
    identical JSON body as a static file, same wrk settings; prints the ratio.
(3) nubod's resident memory idle and with 10,000 instance records.

usage: bench/api.py [--duration S] [--connections N] [--records N]
Needs: wrk and nginx (installed with apt-get when missing), a release build
(scripts/build.sh).  Instances are created without hosts, so they are
records in status error: the API work (auth, SQL, JSON) is what is measured.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))
os.environ.setdefault("NUBO_BUILD", "build")
import conftest  # noqa: E402


def ensure_tools():
    missing = [p for p, b in (("wrk", "wrk"), ("nginx-light", "nginx")) if not shutil.which(b)
               and not os.path.exists("/usr/sbin/" + b)]
    if missing:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends"] + missing,
                       check=True, env=env, stdout=subprocess.DEVNULL)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def wrk(url, token, duration, conns):
    args = ["wrk", "-t2", "-c%d" % conns, "-d%ds" % duration, "--latency", url]
    if token:
        args[1:1] = ["-H", "Authorization: Bearer " + token]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def lat(p):
        m = re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)" % p, out)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else (v * 1000 if unit == "s" else v)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        raise RuntimeError("wrk saw %s error answers from %s" % (non2xx.group(1), url))
    return rps, lat(50), lat(99)


def nginx_serving(tmp, body):
    root = os.path.join(tmp, "www")
    os.makedirs(root)
    with open(os.path.join(root, "instances.json"), "wb") as f:
        f.write(body)
    port = conftest.free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""
worker_processes 1;
user root;
daemon off;
pid %(tmp)s/nginx.pid;
error_log %(tmp)s/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/json;
  server { listen 127.0.0.1:%(port)d; root %(root)s; }
}
""" % {"tmp": tmp, "port": port, "root": root})
    p = subprocess.Popen(["nginx", "-c", conf, "-p", tmp], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return p, "http://127.0.0.1:%d/instances.json" % port


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--records", type=int, default=10000)
    args = ap.parse_args()
    ensure_tools()
    tmp = tempfile.mkdtemp(prefix="nubo-bench-api-")
    n = conftest.Nubod(tmp, ["--log-level", "warn"]).start()
    ngx = None
    try:
        admin = n.admin("demo")
        pid = admin.get("/v1/auth/whoami").json()["project"]["id"]
        r = admin.put("/v1/projects/%s/quota" % pid,
                      {"instances": args.records + 200, "vcpus": 10**6, "ram_mib": 10**9,
                       "disk_gib": 10**9})
        assert r.status_code == 200, r.text
        r = admin.post("/v1/flavors", {"name": "bench", "vcpus": 1, "ram_mib": 128,
                                       "disk_gib": 1})
        assert r.status_code == 201, r.text
        img = os.path.join(ROOT, "build", "images", "nubo-tiny")
        with open(img + ".cmdline") as f:
            cmdline = f.read().strip()
        r = admin.post("/v1/images", {"name": "bench-img", "visibility": "public",
                                      "file": img + ".qcow2", "kernel_file": img + ".kernel",
                                      "initrd_file": img + ".initrd", "cmdline": cmdline})
        assert r.status_code == 201, r.text
        for k in range(2):
            r = admin.post("/v1/instances", {"name": "b%d" % k, "flavor": "bench",
                                             "image": "bench-img", "count": 50})
            assert r.status_code == 202, r.text
        rss_idle = rss_kib(n.proc.pid)
        url = n.base + "/v1/instances?limit=100"
        body = admin.get("/v1/instances?limit=100").content
        assert len(json.loads(body)["instances"]) == 100
        ngx, nurl = nginx_serving(tmp, body)
        # warm up both, then measure side by side
        wrk(url, admin.token, 2, args.connections)
        wrk(nurl, None, 2, args.connections)
        a = wrk(url, admin.token, args.duration, args.connections)
        b = wrk(nurl, None, args.duration, args.connections)
        print("GET /v1/instances (100 instances, %d bytes, authenticated), wrk -t2 -c%d -d%ds:"
              % (len(body), args.connections, args.duration))
        print("  nubod: %9.0f req/s  p50 %7.3f ms  p99 %7.3f ms" % a)
        print("  nginx: %9.0f req/s  p50 %7.3f ms  p99 %7.3f ms  (same body, static file)" % b)
        print("  ratio nubod/nginx: throughput %.3f, p50 %.2fx, p99 %.2fx"
              % (a[0] / b[0], a[1] / b[1], a[2] / b[2]))

        made = 100
        t0 = time.monotonic()
        while made < args.records:
            k = min(50, args.records - made)
            r = admin.post("/v1/instances", {"name": "r%d" % made, "flavor": "bench",
                                             "image": "bench-img", "count": k})
            assert r.status_code == 202, r.text
            made += k
        took = time.monotonic() - t0
        rss_full = rss_kib(n.proc.pid)
        print("nubod resident memory: %d KiB idle (100 instances), %d KiB with %d instance "
              "records (created in %.1f s)" % (rss_idle, rss_full, made, took))
    finally:
        if ngx:
            ngx.terminate()
            ngx.wait()
        n.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
