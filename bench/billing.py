#!/usr/bin/python3
"""Benchmark: invoice generation over 1,000,000 usage records.

Setup: nubod (release build) on a fake clock in April 2031; prices set
through the API (5 flavors, disks, a price change in the middle of March);
then, with nubod stopped, N usage records written straight into its SQLite
file for one project: I instances, each with running intervals spread over
March (closed records, none overlapping) and one root-disk record, in the
order a ledger grows (by start time).

Measured, for March:
  (1) GET /v1/invoice (JSON) and ?format=csv of that project: wall time
      (best and median of R runs), records rated per second, answer size;
  (2) GET /v1/invoices/showback (every project: the same records);
  (3) nubod's resident memory (VmRSS) before and after, and its peak
      (VmHWM);
and side by side the baseline: the same aggregation, the very SQL of
src/billing/rate.c (extracted from the source) with the amounts rounded in
SQL, run by the sqlite3 command-line shell on the same file - the database
work alone, without HTTP, authentication, the exact 128-bit amounts and the
JSON/CSV documents.  Both must agree on the total.

usage: bench/billing.py [--records N] [--instances I] [--runs R] [--keep]
(--keep leaves the state directory, with its store, for a closer look)
Needs: a release build (scripts/build.sh), sqlite3 (apt-get install sqlite3
when missing).
"""
import argparse
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))
os.environ.setdefault("NUBO_BUILD", "build")
import conftest  # noqa: E402

H = 3600 * 1000
MARCH = 1930089600000                 # 2031-03-01T00:00:00Z
APRIL = 1932768000000                 # 2031-04-01T00:00:00Z
NOW = APRIL + 10 * 24 * H             # the bench runs "on April 11th"
FLAVORS = [("b1", 1, 64, 10, 10000), ("b2", 2, 128, 20, 20000), ("b4", 4, 256, 40, 40000),
           ("b8", 8, 512, 80, 80000), ("b16", 16, 1024, 160, 160000)]


def rss_kib(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def rate_sql():
    """The statement of src/billing/rate.c, as one string."""
    with open(os.path.join(ROOT, "src", "billing", "rate.c")) as f:
        src = f.read()
    body = src[src.index("#define RATE_SQL(WHERE)"):]
    body = body[:body.index("\n\n")]
    parts = []
    for line in body.splitlines()[1:]:
        line = line.rstrip("\\").strip()
        parts.extend(re.findall(r'"((?:[^"\\]|\\.)*)"|(\bWHERE\b)', line))
    sql = "".join(p[0] if p[0] else "{WHERE}" for p in parts)
    return sql


def baseline_sql(project_id, start, as_of):
    """The engine's SQL for one project with its parameters in place, the
    amounts rounded half up in SQL, summed."""
    params = [start, start, as_of, as_of, as_of, start, "'%s'" % project_id, as_of, start]
    sql = rate_sql().replace("{WHERE}", "r.project_id = ?")
    for p in params:
        sql = sql.replace("?", str(p), 1)
    assert "?" not in sql
    # meter -> the divisor of its unit (hour or 730-hour GiB-month)
    div = "(CASE meter WHEN 'instance' THEN 3600000 ELSE 2628000000 END)"
    return ("SELECT COUNT(*) AS lines, SUM((size * ms * price + %s / 2) / %s) AS total "
            "FROM (%s);" % (div, div, sql))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1000000)
    ap.add_argument("--instances", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if not shutil.which("sqlite3"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "-q", "sqlite3"], check=True, env=env,
                       stdout=subprocess.DEVNULL)
    tmp = tempfile.mkdtemp(prefix="nubo-bench-billing-")
    clock = os.path.join(tmp, "clock")
    with open(clock, "w") as f:
        f.write("%d\n" % MARCH)
    os.environ["NUBO_FAKE_CLOCK_FILE"] = clock
    n = conftest.Nubod(tmp, extra=["--log-level", "warn"])
    try:
        n.start()
        admin = n.admin()
        for name, vcpus, ram, disk, _ in FLAVORS:
            r = admin.post("/v1/flavors", {"name": name, "vcpus": vcpus, "ram_mib": ram,
                                           "disk_gib": disk})
            assert r.status_code == 201, r.text
        flavor_ids = {f["name"]: f["id"] for f in admin.get("/v1/flavors").json()["flavors"]}
        for name, _, _, _, micros in FLAVORS:
            assert admin.post("/v1/prices", {"meter": "instance", "flavor": name,
                                             "unit_price_micros": micros,
                                             "currency": "EUR"}).status_code == 201
            # the price changes on the 15th: records are cut in two there
            assert admin.post("/v1/prices", {"meter": "instance", "flavor": name,
                                             "unit_price_micros": micros * 11 // 10,
                                             "currency": "EUR",
                                             "effective_from": "2031-03-15"}).status_code == 201
        assert admin.post("/v1/prices", {"meter": "disk", "unit_price_micros": 50000,
                                         "currency": "EUR"}).status_code == 201
        r = admin.post("/v1/projects", {"name": "bench"})
        assert r.status_code == 201, r.text
        project = r.json()["id"]
        n.stop()

        # ---- the records, straight into the store
        t0 = time.time()
        rng = random.Random(1)
        per = max(1, args.records // args.instances - 1)  # running intervals per instance
        rows = []
        month = APRIL - MARCH
        for k in range(args.instances):
            iid = "00000000-0000-4000-8000-%012d" % k
            name, _, _, disk, _ = FLAVORS[k % len(FLAVORS)]
            # per intervals: cut the month in 2*per slots, run in every other
            cuts = sorted(rng.sample(range(1, month // 1000), 2 * per))
            for j in range(per):
                rows.append((project, "instance", iid, "vm-%d" % k, "instance", flavor_ids[name],
                             name, 1, MARCH + cuts[2 * j] * 1000, MARCH + cuts[2 * j + 1] * 1000))
            rows.append((project, "instance", iid, "vm-%d" % k, "disk", "", "", disk, MARCH,
                         APRIL - 1000))
            if len(rows) >= args.records:
                break
        # The ledger is appended as time goes: records in the order they opened.
        rows = sorted(rows[:args.records], key=lambda r: (r[8], r[2]))
        db = os.path.join(n.dir, "nubo.db")
        con = sqlite3.connect(db)
        con.execute("PRAGMA journal_mode=WAL")
        con.executemany("INSERT INTO usage_records (project_id, resource_type, resource_id,"
                        " resource_name, meter, price_key, price_key_name, size, start_ms,"
                        " end_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        con.commit()
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        print("setup: %d usage records of %d instances written in %.1f s (%.0f MiB store)"
              % (len(rows), args.instances, time.time() - t0,
                 os.path.getsize(db) / (1 << 20)))

        # ---- nubod
        with open(clock, "w") as f:
            f.write("%d\n" % NOW)
        n.start()
        admin = n.admin()
        pid = n.proc.pid
        rss0 = rss_kib(pid)
        results = {}
        for label, path in (("invoice JSON", "/v1/invoice?project=bench&start=2031-03"),
                            ("invoice CSV", "/v1/invoice?project=bench&start=2031-03&format=csv"),
                            ("showback", "/v1/invoices/showback?start=2031-03")):
            times, size, body = [], 0, None
            for _ in range(args.runs):
                t = time.perf_counter()
                r = admin.get(path)
                times.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text[:500]
                assert body is None or r.content == body, "not reproducible"
                body, size = r.content, len(r.content)
            results[label] = (min(times), statistics.median(times), size, body)
        inv = json.loads(results["invoice JSON"][3])
        rss1, hwm = rss_kib(pid), rss_kib(pid, "VmHWM")

        # ---- the baseline: sqlite3 alone
        sql = baseline_sql(project, MARCH, APRIL)
        btimes, out = [], ""
        for _ in range(args.runs):
            t = time.perf_counter()
            out = subprocess.run(["sqlite3", "-readonly", "-json", db], input=sql, text=True,
                                 capture_output=True, check=True).stdout
            btimes.append(time.perf_counter() - t)
        base = json.loads(out)[0]
        assert base["total"] == inv["total_micros"], (base, inv["total_micros"])
        assert base["lines"] == len(inv["lines"])

        nrec = len(rows)
        print("\ninvoice of one project for March 2031 over %d records -> %d line items,"
              " total %d micro-EUR (the same from both)" % (nrec, len(inv["lines"]),
                                                           inv["total_micros"]))
        print("%-28s %10s %10s %14s %12s" % ("", "best s", "median s", "records/s", "answer"))
        for label in ("invoice JSON", "invoice CSV", "showback"):
            best, med, size, _ = results[label]
            print("%-28s %10.3f %10.3f %14.0f %10.1f KiB" % ("nubod " + label, best, med,
                                                             nrec / best, size / 1024))
        print("%-28s %10.3f %10.3f %14.0f %12s" % ("baseline: sqlite3 CLI, SQL", min(btimes),
                                                   statistics.median(btimes),
                                                   nrec / min(btimes), "total only"))
        print("ratio nubod JSON / sqlite3: %.2f" % (results["invoice JSON"][0] / min(btimes)))
        print("nubod RSS: %.1f MiB before, %.1f MiB after, peak %.1f MiB" % (
            rss0 / 1024, rss1 / 1024, hwm / 1024))
        rc = n.stop()
        assert rc == 0, n.log()
    finally:
        if n.proc is not None:
            n.stop()
        if args.keep:
            print("kept: %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
