"""Metering and billing (docs/internals/billing.md) against a real nubod
whose wall clock the test drives (NUBO_FAKE_CLOCK_FILE), so that a month of
usage passes in seconds.

- The price catalog: admin only, one currency, never in the past.
- A scripted month with a fake host agent (nubo-hostd --driver fake):
  creates, stops, starts, deletes, a price change in the middle, a host
  outage during which the VMs kept running and one during which a VM was
  lost.  The invoice equals one computed here by hand from the script, to
  the micro-unit; asking again, also after a restart of nubod, gives the
  same bytes (JSON and CSV); a period that ended before the price change
  is untouched by it; the forecast made on the last day is the final bill.
- Budgets: thresholds recorded once, at the exact moment of the crossing;
  a budget that blocks makes instance creates 403.
- Tenancy: another project's usage and invoice are 404; a reader sees the
  cost of their own project; prices and budgets are set by admins only.
- Crash consistency: nubod killed with SIGKILL in a burst of lifecycle
  operations; after a restart the ledger agrees with the instances.
- The CLI commands (when registered in src/cli) and image metering (when
  src/compute/image.c calls its hook).
"""
import csv
import io
import os
import random
import shutil
import signal
import subprocess
import threading
import time
import uuid
from fractions import Fraction

import pytest
import requests

from conftest import BUILD, ROOT, Client, Nubod, assert_problem, db_connect, make_tenant
from test_hosts import FakeHostd, heartbeat, register, skip_without_tiny, upload_tiny, wait_for

H = 3600 * 1000                       # an hour in ms
GIB_MONTH_MS = 730 * H                 # the month of "per GiB-month" prices
T0 = 1930089600000                     # 2031-03-01T00:00:00Z: March, 31 days
MARCH_END = T0 + 31 * 24 * H           # 2031-04-01T00:00:00Z


def iso(ms):
    t = time.gmtime(ms // 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + ".%03dZ" % (ms % 1000)


def half_up(fr):
    """Fraction -> int, rounded half up (amounts are never negative)."""
    return (fr.numerator * 2 + fr.denominator) // (fr.denominator * 2)


class Clock:
    """The fake wall clock of a nubod: Unix ms in a file, replaced
    atomically so that nubod never reads half a number."""

    def __init__(self, tmp, ms):
        self.path = os.path.join(tmp, "clock")
        self.set(ms)

    def set(self, ms):
        self.ms = ms
        tmp = self.path + ".new"
        with open(tmp, "w") as f:
            f.write("%d\n" % ms)
        os.replace(tmp, self.path)


class ClockedNubod(Nubod):
    """A nubod that reads its wall clock from a Clock."""

    def __init__(self, tmp, clock, extra=()):
        super().__init__(tmp, extra)
        self.clock = clock

    def start(self):
        old = os.environ.get("NUBO_FAKE_CLOCK_FILE")
        os.environ["NUBO_FAKE_CLOCK_FILE"] = self.clock.path
        try:
            return super().start()
        finally:
            if old is None:
                os.environ.pop("NUBO_FAKE_CLOCK_FILE", None)
            else:
                os.environ["NUBO_FAKE_CLOCK_FILE"] = old


def apikey_client(nubod, client, name="billing"):
    """A client with an API key of client's user: login sessions last 12 h
    of the fake clock, a month is longer."""
    r = client.post("/v1/auth/apikeys", {"name": name, "expires_in_days": 3650})
    assert r.status_code == 201, r.text
    return Client(nubod.base, r.json()["key"])


def raw_image(admin, name="img"):
    """An active private-to-admin public image: a 1 MiB raw disk."""
    r = admin.post("/v1/images", {"name": name, "visibility": "public"})
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    r = admin.req("PUT", "/v1/images/%s/file" % iid, data=b"\0" * (1 << 20),
                  headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    return iid


def price(admin, meter, micros, flavor=None, currency="EUR", **extra):
    body = {"meter": meter, "unit_price_micros": micros, "currency": currency}
    if flavor:
        body["flavor"] = flavor
    body.update(extra)
    return admin.post("/v1/prices", body)


def db_rows(nubod, sql, args=()):
    """Reads nubod's SQLite store directly (WAL: safe beside the writer)."""
    con = db_connect(nubod, dict_rows=True)
    try:
        return [dict(r) for r in con.execute(sql, args)]
    finally:
        con.close()


@pytest.fixture
def clocked(tmp_path):
    """nubod on the fake clock at 2031-03-01; hosts are never declared down
    (heartbeats are sent by hand, and hours pass between them)."""
    clock = Clock(str(tmp_path), T0)
    n = ClockedNubod(str(tmp_path), clock, extra=["--host-down-ms", "600000"]).start()
    yield n
    if n.proc is not None:
        rc = n.stop()
        assert rc == 0, "nubod exited with %d:\n%s" % (rc, n.log())


# ------------------------------------------------------------ the catalog


def test_price_catalog(clocked):
    nubod, clock = clocked, clocked.clock
    admin = nubod.admin()
    member = make_tenant(nubod, admin)
    assert admin.post("/v1/flavors", {"name": "small", "vcpus": 1, "ram_mib": 64,
                                      "disk_gib": 1}).status_code == 201

    assert_problem(price(member, "disk", 1000), 403)
    assert_problem(price(admin, "cpu", 1000), 400, "meter")
    assert_problem(price(admin, "instance", 1000), 400, "flavor")
    assert_problem(price(admin, "instance", 1000, flavor="nope"), 400, "no flavor")
    assert_problem(price(admin, "disk", 1000, flavor="small"), 400, "meter instance only")
    assert_problem(price(admin, "disk", -1), 400)
    assert_problem(price(admin, "disk", 10 ** 13), 400)
    assert_problem(price(admin, "disk", 1000, currency="eur"), 400, "ISO 4217")
    assert_problem(price(admin, "disk", "1000"), 400, "unit_price_micros")
    assert_problem(price(admin, "disk", 1000, effective_from="yesterday"), 400)
    assert_problem(price(admin, "disk", 1000, surprise=1), 400, "unknown field")

    r = price(admin, "instance", 12000, flavor="small")
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["meter"] == "instance" and p["flavor"]["name"] == "small"
    assert p["unit"] == "hour" and p["unit_price_micros"] == 12000 and p["currency"] == "EUR"
    assert p["effective_from"] == iso(T0) and p["effective_until"] is None
    # one currency for the whole catalog; never in the past; one price per moment
    assert_problem(price(admin, "disk", 1000, currency="USD"), 409, "in EUR")
    assert_problem(price(admin, "disk", 1000, effective_from=iso(T0 - 1)), 409, "past")
    assert_problem(price(admin, "instance", 13000, flavor="small"), 409, "already has a price")
    # a change scheduled for tomorrow ends today's price
    r = price(admin, "instance", 15000, flavor="small", effective_from="2031-03-02")
    assert r.status_code == 201, r.text
    r = price(admin, "image", 20000, effective_from=iso(T0 + 5))
    assert r.status_code == 201 and r.json()["unit"] == "GiB-month", r.text
    prices = member.get("/v1/prices").json()["prices"]    # everybody reads the catalog
    assert [x["unit_price_micros"] for x in prices] == [12000, 15000, 20000]
    assert prices[0]["effective_until"] == "2031-03-02T00:00:00.000Z"
    assert [x["meter"] for x in admin.get("/v1/prices?meter=image").json()["prices"]] == \
        ["image"]
    page = admin.get("/v1/prices?limit=2").json()
    assert len(page["prices"]) == 2 and page["next_marker"] == page["prices"][1]["id"]
    rest = admin.get("/v1/prices?marker=" + page["next_marker"]).json()["prices"]
    assert [x["unit_price_micros"] for x in rest] == [20000]
    audit = admin.get("/v1/audit?action=price.create").json()["audit"]
    assert [a["result"] for a in audit].count("success") == 3
    clock.set(T0 + 1)  # nothing else moves


def test_period_arguments(clocked):
    admin = clocked.admin()
    inv = admin.get("/v1/invoice").json()     # the current month by default
    assert inv["period"] == {"start": iso(T0), "end": iso(MARCH_END)}
    assert inv["as_of"] == iso(T0) and inv["final"] is False and inv["currency"] is None
    assert inv["lines"] == [] and inv["total_micros"] == 0
    inv = admin.get("/v1/invoice?start=2031-02").json()
    assert inv["period"] == {"start": "2031-02-01T00:00:00.000Z",
                             "end": "2031-03-01T00:00:00.000Z"}
    assert inv["final"] is True
    inv = admin.get("/v1/invoice?start=2031-01-15T12:00:00Z&end=2031-01-16").json()
    assert inv["period"] == {"start": "2031-01-15T12:00:00.000Z",
                             "end": "2031-01-16T00:00:00.000Z"}
    for bad in ("start=2031-13", "start=2031-02-30", "start=31-01-01", "end=2031-01-01T00:00Z",
                "start=2031-02&end=2031-01", "start=2001-01&end=2031-01", "format=xml"):
        assert_problem(admin.get("/v1/invoice?" + bad), 400)
    months = admin.get("/v1/invoices").json()
    assert months["project"]["name"] == "admin"
    assert [m["period"]["start"][:7] for m in months["invoices"]] == \
        ["2031-03", "2031-02", "2031-01", "2030-12", "2030-11", "2030-10", "2030-09",
         "2030-08", "2030-07", "2030-06", "2030-05", "2030-04"]


# ------------------------------------------------------- the scripted month


@pytest.fixture
def month_cloud(tmp_path):
    """nubod on the fake clock at 2031-03-01 (host down after 2 s of the
    fake clock without heartbeat) + a fake agent + the nubo-tiny image."""
    skip_without_tiny()
    clock = Clock(str(tmp_path), T0)
    nubod = ClockedNubod(str(tmp_path), clock,
                         extra=["--host-down-ms", "2000", "--reconcile-ms", "200"]).start()
    hostd = FakeHostd(str(tmp_path), nubod, "fake-1", heartbeat_ms=100).start()
    admin = apikey_client(nubod, nubod.admin())
    wait_for("the fake host", lambda: [h for h in admin.get("/v1/hosts").json()["hosts"]
                                       if h["name"] == "fake-1" and h["state"] == "up"])
    upload_tiny(admin)
    tenant = make_tenant(nubod, admin, project="acme")
    tenant = apikey_client(nubod, tenant)
    tenant.project = "acme"
    yield nubod, hostd, admin, tenant
    try:
        if hostd.proc is not None:
            rc = hostd.stop()
            assert rc == 0, "nubo-hostd exited with %d:\n%s" % (rc, hostd.log())
    finally:
        if hostd.proc is not None:
            hostd.proc.kill()
        if nubod.proc is not None:
            rc = nubod.stop()
            assert rc == 0, "nubod exited with %d:\n%s" % (rc, nubod.log())


class Month:
    """Drives the scripted month: the fake clock, the instances, waits."""

    def __init__(self, nubod, hostd, admin, tenant):
        self.nubod, self.hostd, self.admin, self.tenant = nubod, hostd, admin, tenant
        self.ids = {}

    def host(self):
        return self.admin.get("/v1/hosts/fake-1").json()

    def statuses(self):
        return {name: self.tenant.get("/v1/instances/" + iid).json()["status"]
                for name, iid in self.ids.items()}

    def settle(self, want=None, timeout=30):
        """Waits until the host has heartbeated at the clock's time and every
        instance has the status in want (the others: a stable status)."""
        want = want or {}
        t = iso(self.nubod.clock.ms)
        last = {}

        def ok():
            h = self.host()
            st = last["st"] = self.statuses()
            if h["state"] != "up" or (h["last_heartbeat_at"] or "") < t:
                return False
            for name, s in st.items():
                if s != want.get(name, s) or s in ("building", "stopping", "rebooting",
                                                    "deleting", "unknown"):
                    return False
            return all(st.get(n) == s for n, s in want.items())
        try:
            wait_for("the cloud to settle", ok, timeout=timeout, step=0.05)
        except AssertionError:
            raise AssertionError("not settled at %s: %s (want %s)" % (t, last.get("st"), want))

    def at(self, hours, want=None):
        """Moves the clock to T0 + hours and lets the cloud catch up."""
        self.nubod.clock.set(T0 + int(hours * H))
        self.settle(want)

    def create(self, name, flavor):
        r = self.tenant.post("/v1/instances", {"name": name, "flavor": flavor,
                                               "image": "nubo-tiny"})
        assert r.status_code == 202, r.text
        self.ids[name] = r.json()["instances"][0]["id"]

    def action(self, name, action):
        r = self.tenant.post("/v1/instances/%s/actions" % self.ids[name], {"action": action})
        assert r.status_code == 202, r.text

    def delete(self, name):
        r = self.tenant.delete("/v1/instances/" + self.ids[name])
        assert r.status_code == 202, r.text

    def wait_unknown(self, names):
        wait_for("instances unknown", lambda: all(self.statuses()[n] == "unknown"
                                                  for n in names), timeout=15, step=0.05)


# The script of the month, in hours after 2031-03-01T00:00Z, and the prices
# (EUR micro-units): flavor s1 12000/h, from day 15 15000/h; m1 30000/h;
# disk 50000 per GiB-month, from day 15 60000.
S1_DISK, M1_DISK = 2, 5
CHANGE = 14 * 24  # 336 h: 2031-03-15T00:00Z


def expected_month():
    """The March invoice, computed from the script by hand (Fractions,
    rounded half up once per line)."""
    def run(price, hours):
        return half_up(Fraction(price * hours * H, H))

    def disk(gib, price, hours):
        return half_up(Fraction(gib * hours * H * price, GIB_MONTH_MS))
    end = 31 * 24  # 744 h
    lines = {
        # A (s1): ran 0-500 h; lost in the second outage (its host's last
        # heartbeat before it was at 500 h); ran again 510-600 h; deleted.
        ("a", "instance", 12000): run(12000, CHANGE),
        ("a", "instance", 15000): run(15000, (500 - CHANGE) + (600 - 510)),
        ("a", "disk", 50000): disk(S1_DISK, 50000, CHANGE),
        ("a", "disk", 60000): disk(S1_DISK, 60000, 600 - CHANGE),
        # B (m1): ran 0-72 h, stopped until 120 h, ran to the end (through
        # the first outage, 400-406 h, during which its VM kept running).
        ("b", "instance", 30000): run(30000, 72 + (end - 120)),
        ("b", "disk", 50000): disk(M1_DISK, 50000, CHANGE),
        ("b", "disk", 60000): disk(M1_DISK, 60000, end - CHANGE),
        # C (s1): created at 650 h, stopped at 700 h, kept to the end.
        ("c", "instance", 15000): run(15000, 700 - 650),
        ("c", "disk", 60000): disk(S1_DISK, 60000, end - 650),
    }
    return lines


def test_scripted_month_invoice(month_cloud):
    nubod, hostd, admin, tenant = month_cloud
    m = Month(nubod, hostd, admin, tenant)
    for name, vcpus, ram, disk in (("s1", 1, 128, S1_DISK), ("m1", 2, 256, M1_DISK)):
        r = admin.post("/v1/flavors", {"name": name, "vcpus": vcpus, "ram_mib": ram,
                                       "disk_gib": disk})
        assert r.status_code == 201, r.text
    for meter, micros, flavor in (("instance", 12000, "s1"), ("instance", 30000, "m1"),
                                  ("disk", 50000, None)):
        assert price(admin, meter, micros, flavor).status_code == 201

    # day 1: two instances
    m.create("a", "s1")
    m.create("b", "m1")
    m.settle({"a": "running", "b": "running"})
    # day 4: b stopped; day 6: started again
    m.at(72)
    m.action("b", "stop")
    m.settle({"b": "stopped"})
    m.at(120)
    m.action("b", "start")
    m.settle({"b": "running"})
    # a period that ends before the price change, looked at before it
    before = tenant.get("/v1/invoice?start=2031-03-01&end=2031-03-06").content
    cost = tenant.get("/v1/cost").json()
    assert cost["currency"] == "EUR" and cost["period"]["start"] == iso(T0)
    # day 15: new prices for s1 and disks (m1 keeps its price)
    m.at(CHANGE)
    assert price(admin, "instance", 15000, "s1").status_code == 201
    assert price(admin, "disk", 60000).status_code == 201
    assert tenant.get("/v1/invoice?start=2031-03-01&end=2031-03-06").content == before

    # hour 400: the agent freezes for 6 hours; its VMs keep running
    m.at(400)
    hostd.proc.send_signal(signal.SIGSTOP)
    try:
        nubod.clock.set(T0 + 406 * H)
        m.wait_unknown(["a", "b"])
        usage = tenant.get("/v1/usage?meter=instance").json()["usage"]
        assert {u["unknown_since"] for u in usage if u["end"] is None} == {iso(T0 + 400 * H)}
    finally:
        hostd.proc.send_signal(signal.SIGCONT)
    m.settle({"a": "running", "b": "running"})

    # hour 500: the host dies; when it comes back at 510 h, a's VM is gone
    m.at(500)
    hostd.proc.kill()
    hostd.proc.wait()
    hostd.proc = None
    hostd.logf.close()
    shutil.rmtree(os.path.join(hostd.state, "vms", m.ids["a"]))
    nubod.clock.set(T0 + 510 * H)
    m.wait_unknown(["a", "b"])
    os.unlink(hostd.sock)  # so that start() waits for the new one
    hostd.start()
    m.settle({"a": "running", "b": "running"})
    ev = [e["event"] for e in tenant.get("/v1/instances/%s/events" % m.ids["a"]).json()["events"]]
    assert "host down" in ev and "VM created" in ev

    # hour 600: a is deleted; 650: c is created; 700: c is stopped
    m.at(600)
    m.delete("a")
    m.settle({"a": "deleted"})
    m.at(650)
    m.create("c", "s1")
    m.settle({"c": "running"})
    m.at(700)
    m.action("c", "stop")
    m.settle({"c": "stopped"})
    # nothing changes any more: the forecast now is the month's bill
    forecast = tenant.get("/v1/cost").json()
    assert forecast["as_of"] == iso(T0 + 700 * H)

    # April 1st, 01:00: March is over
    m.at(745)
    inv_r = tenant.get("/v1/invoice?start=2031-03")
    assert inv_r.status_code == 200 and inv_r.headers["Content-Type"] == "application/json"
    inv = inv_r.json()
    assert inv["final"] is True and inv["as_of"] == iso(MARCH_END)
    assert inv["project"]["name"] == "acme" and inv["currency"] == "EUR"
    names = {v: k for k, v in m.ids.items()}
    got = {}
    for line in inv["lines"]:
        key = (names[line["resource_id"]], line["meter"], line["unit_price_micros"])
        assert key not in got, "two lines for %s" % (key,)
        got[key] = line["amount_micros"]
    want = expected_month()
    assert got == want
    total = sum(want.values())
    assert inv["total_micros"] == total
    assert inv["subtotals"] == [{"resource_type": "instance", "amount_micros": total}]
    assert forecast["forecast_micros"] == total
    assert forecast["cost_micros"] < total

    # a line in detail: a's running time at the new price, in two pieces
    a_new = [x for x in inv["lines"] if x["resource_id"] == m.ids["a"] and
             x["meter"] == "instance" and x["unit_price_micros"] == 15000][0]
    assert a_new["duration_ms"] == ((500 - CHANGE) + 90) * H
    assert a_new["from"] == iso(T0 + CHANGE * H) and a_new["to"] == iso(T0 + 600 * H)
    assert a_new["quantity"] == "254.000000" and a_new["unit"] == "hour"
    assert a_new["flavor"]["name"] == "s1" and a_new["size"] == 1
    b_disk = [x for x in inv["lines"] if x["resource_id"] == m.ids["b"] and x["meter"] == "disk"]
    assert [x["size"] for x in b_disk] == [M1_DISK, M1_DISK]
    assert b_disk[0]["size_unit"] == "GiB" and b_disk[0]["unit"] == "GiB-month"
    assert b_disk[0]["quantity"] == "2.301370"  # 5 GiB x 336 h / 730 h

    # the ledger: a's running time in two records, the first closed at the
    # last heartbeat before the outage
    recs = tenant.get("/v1/usage?start=2031-03&resource=%s&meter=instance" % m.ids["a"]).json()
    assert [(r["start"], r["end"]) for r in recs["usage"]] == [
        (iso(T0), iso(T0 + 500 * H)), (iso(T0 + 510 * H), iso(T0 + 600 * H))]
    assert recs["usage"][0]["unknown_since"] == iso(T0 + 500 * H)

    # reproducible: the same bytes again, as JSON and as CSV
    csv_r = tenant.get("/v1/invoice?start=2031-03&format=csv")
    assert csv_r.status_code == 200
    assert csv_r.headers["Content-Type"].startswith("text/csv")
    assert 'filename="invoice-acme-2031-03-01.csv"' in csv_r.headers["Content-Disposition"]
    for _ in range(2):
        assert tenant.get("/v1/invoice?start=2031-03").content == inv_r.content
        assert tenant.get("/v1/invoice?start=2031-03&format=csv").content == csv_r.content
    rows = list(csv.DictReader(io.StringIO(csv_r.content.decode())))
    assert csv_r.content.count(b"\r\n") == len(rows) + 1
    lines = [r for r in rows if r["row"] == "line"]
    assert len(lines) == len(want)
    assert rows[-1]["row"] == "total" and rows[-1]["amount"] == "%d.%06d" % divmod(total, 10 ** 6)
    assert sum(int(r["amount"].replace(".", "")) for r in lines) == total

    # showback: the same totals, per project, for the admin
    sb = admin.get("/v1/invoices/showback?start=2031-03").json()
    acme = [p for p in sb["projects"] if p["project"]["name"] == "acme"][0]
    assert acme["total_micros"] == total and sb["total_micros"] >= total
    assert_problem(tenant.get("/v1/invoices/showback"), 403)
    sbc = admin.get("/v1/invoices/showback?start=2031-03&format=csv").content.decode()
    assert "project_total,%s,acme," % inv["project"]["id"] in sbc

    # the monthly list
    months = tenant.get("/v1/invoices?start=2031-02&end=2031-05").json()["invoices"]
    assert [(x["period"]["start"][:7], x["total_micros"]) for x in months][1:] == \
        [("2031-03", total), ("2031-02", 0)]

    # and still the same after a restart of nubod
    rc = nubod.stop()
    assert rc == 0, nubod.log()
    nubod.start()
    assert tenant.get("/v1/invoice?start=2031-03").content == inv_r.content
    assert tenant.get("/v1/invoice?start=2031-03&format=csv").content == csv_r.content


# ---------------------------------------------------------------- budgets


def test_budget_thresholds_and_blocking(clocked):
    nubod, clock = clocked, clocked.clock
    admin = apikey_client(nubod, nubod.admin())
    tenant = apikey_client(nubod, make_tenant(nubod, admin, project="thrifty"))
    reader = apikey_client(nubod, make_tenant(nubod, admin, role="reader", project="thrifty"))
    raw_image(admin)
    assert admin.post("/v1/flavors", {"name": "one", "vcpus": 1, "ram_mib": 64,
                                      "disk_gib": 1}).status_code == 201
    # an agent that never answers: instances stay building, their disks count
    host = register(nubod).json()
    assert heartbeat(nubod, host["host_id"], host["host_token"]).status_code == 200
    # 73 EUR per GiB-month is 0.1 EUR per GiB-hour: 1 micro-unit per 36 ms
    assert price(admin, "disk", 73000000).status_code == 201

    assert_problem(tenant.put("/v1/budget", {"amount_micros": 1000000}), 403)
    assert_problem(reader.put("/v1/budget", {"amount_micros": 1000000}), 403)
    for bad in ({}, {"amount_micros": 0}, {"amount_micros": "1"},
                {"amount_micros": 1, "thresholds": [0]}, {"amount_micros": 1, "thresholds": []},
                {"amount_micros": 1, "thresholds": [50, 50]},
                {"amount_micros": 1, "currency": "USD"}, {"amount_micros": 1, "x": 1}):
        r = admin.put("/v1/budget?project=thrifty", bad)
        assert r.status_code in (400, 409), (bad, r.text)
    b = tenant.get("/v1/budget").json()
    assert b["budget"] is None and b["spent_micros"] == 0 and b["exceeded"] is False
    r = admin.put("/v1/budget?project=thrifty", {"amount_micros": 1000000,
                                                  "thresholds": [100, 80]})
    assert r.status_code == 200, r.text
    assert r.json()["budget"] == {"amount_micros": 1000000, "currency": "EUR",
                                  "thresholds": [80, 100], "block_new_instances": False,
                                  "updated_at": iso(T0)}

    t1 = T0 + 3 * H
    clock.set(t1)
    r = tenant.post("/v1/instances", {"name": "one", "flavor": "one", "image": "img"})
    assert r.status_code == 202, r.text
    assert r.json()["instances"][0]["status"] == "building"

    def notes():
        return tenant.get("/v1/budget/notifications").json()["notifications"]
    clock.set(t1 + 7 * H)
    assert reader.get("/v1/budget").json()["spent_micros"] == 700000
    assert notes() == []
    clock.set(t1 + 9 * H)
    n = notes()
    # reached when 1 GiB x t / 36 ms, rounded half up, is 800,000: at
    # t = 28,799,982 ms
    assert [(x["threshold"], x["crossed_at"], x["spent_micros"]) for x in n] == \
        [(80, iso(t1 + 28799982), 800000)]
    assert n[0]["period"] == {"start": iso(T0), "end": iso(MARCH_END)}
    assert notes() == n  # once
    clock.set(t1 + 11 * H)
    b = reader.get("/v1/budget").json()
    assert b["exceeded"] is True and b["blocking"] is False and b["spent_micros"] == 1100000
    n = notes()
    assert [(x["threshold"], x["crossed_at"]) for x in n] == \
        [(80, iso(t1 + 28799982)), (100, iso(t1 + 35999982))]
    # not blocking: creates go on
    r = tenant.post("/v1/instances", {"name": "two", "flavor": "one", "image": "img"})
    assert r.status_code == 202, r.text

    r = admin.put("/v1/budget?project=thrifty", {"amount_micros": 1000000,
                                                  "block_new_instances": True})
    assert r.status_code == 200 and r.json()["blocking"] is True, r.text
    p = assert_problem(tenant.post("/v1/instances", {"name": "three", "flavor": "one",
                                                     "image": "img"}), 403, "budget exceeded")
    assert "1.100000 EUR" in p["detail"] and "1.000000 EUR" in p["detail"]
    assert "three" not in [i["name"] for i in tenant.get("/v1/instances").json()["instances"]]
    # a raised budget lets creates through again
    r = admin.put("/v1/budget?project=thrifty", {"amount_micros": 50000000,
                                                  "block_new_instances": True})
    assert r.status_code == 200 and r.json()["blocking"] is False
    r = tenant.post("/v1/instances", {"name": "three", "flavor": "one", "image": "img"})
    assert r.status_code == 202, r.text
    assert len(notes()) == 2  # thresholds of this month are recorded already

    # the next month starts from zero, and its thresholds count again
    assert admin.put("/v1/budget?project=thrifty", {"amount_micros": 1000000,
                                                     "block_new_instances": True}
                     ).status_code == 200
    april = MARCH_END
    clock.set(april + H)  # three disks: 0.3 EUR an hour
    b = tenant.get("/v1/budget").json()
    assert b["spent_micros"] == 300000 and b["blocking"] is False
    assert b["period"]["start"] == iso(april)
    clock.set(april + 4 * H)
    assert_problem(tenant.post("/v1/instances", {"name": "four", "flavor": "one",
                                                 "image": "img"}), 403, "budget exceeded")
    april_notes = [x for x in notes() if x["period"]["start"] == iso(april)]
    assert [x["threshold"] for x in april_notes] == [80, 100]
    # 3 GiB x t / 36 ms = 800,000 at t = 9,599,994 ms (rounded half up)
    assert april_notes[0]["crossed_at"] == iso(april + 9599994)
    audit = admin.get("/v1/audit?action=budget.set").json()["audit"]
    ok = [a for a in audit if a["result"] == "success"]
    assert len(ok) == 4 and all(a["target"] == "thrifty" for a in ok)
    assert [a["result"] for a in audit].count("denied") == 2

    assert admin.delete("/v1/budget?project=thrifty").status_code == 204
    assert_problem(admin.delete("/v1/budget?project=thrifty"), 404)
    r = tenant.post("/v1/instances", {"name": "four", "flavor": "one", "image": "img"})
    assert r.status_code == 202, r.text


# ---------------------------------------------------------------- tenancy


def test_tenancy(clocked):
    nubod, clock = clocked, clocked.clock
    admin = apikey_client(nubod, nubod.admin())
    a = apikey_client(nubod, make_tenant(nubod, admin, project="proj-a"))
    b = apikey_client(nubod, make_tenant(nubod, admin, project="proj-b"))
    a_reader = apikey_client(nubod, make_tenant(nubod, admin, role="reader", project="proj-a"))
    raw_image(admin)
    assert admin.post("/v1/flavors", {"name": "one", "vcpus": 1, "ram_mib": 64,
                                      "disk_gib": 3}).status_code == 201
    host = register(nubod).json()
    assert heartbeat(nubod, host["host_id"], host["host_token"]).status_code == 200
    assert price(admin, "disk", 730000).status_code == 201  # 1000 micro-units per GiB-hour
    r = a.post("/v1/instances", {"name": "mine", "flavor": "one", "image": "img"})
    assert r.status_code == 202, r.text
    clock.set(T0 + 10 * H)

    assert a.get("/v1/cost").json()["cost_micros"] == 30000
    cost = a_reader.get("/v1/cost").json()                 # a reader sees the cost
    assert cost["cost_micros"] == 30000 and cost["project"]["name"] == "proj-a"
    assert a_reader.get("/v1/invoice").json()["total_micros"] == 30000
    assert len(a_reader.get("/v1/usage").json()["usage"]) == 1
    assert b.get("/v1/cost").json()["cost_micros"] == 0
    assert b.get("/v1/usage").json()["usage"] == []
    a_id = a.get("/v1/auth/whoami").json()["project"]["id"]
    for path in ("/v1/usage", "/v1/invoice", "/v1/invoices", "/v1/cost", "/v1/budget",
                 "/v1/budget/notifications"):
        for ref in ("proj-a", a_id, "no-such-project", "bad%20ref"):
            assert_problem(b.get(path + "?project=" + ref), 404)
        assert a.get(path + "?project=proj-a").status_code == 200
        assert admin.get(path + "?project=proj-a").status_code == 200
    assert admin.get("/v1/invoice?project=proj-a").json()["total_micros"] == 30000
    assert_problem(a_reader.post("/v1/prices", {"meter": "disk", "unit_price_micros": 1,
                                                "currency": "EUR"}), 403)
    assert_problem(a.delete("/v1/budget"), 403)
    assert_problem(a.get("/v1/invoices/showback"), 403)
    assert_problem(requests.get(nubod.base + "/v1/cost", timeout=30), 401)


# ------------------------------------------------------ crash consistency


RUNNING = ("running", "rebooting", "stopping")
DISK = ("building", "running", "rebooting", "stopping", "stopped")


def ledger_problems(nubod, crashes):
    """What in the ledger disagrees with the instances' state and history,
    after `crashes` kills of nubod."""
    problems = []
    insts = db_rows(nubod, "SELECT id, name, status, flavor_id, disk_gib, host_id, deleted_at"
                           " FROM instances")
    recs = db_rows(nubod, "SELECT * FROM usage_records ORDER BY resource_id, meter, start_ms")
    events = db_rows(nubod, "SELECT instance_id, event FROM instance_events")
    for i in insts:
        mine = [r for r in recs if r["resource_id"] == i["id"]]
        for meter, statuses in (("instance", RUNNING), ("disk", DISK)):
            rs = [r for r in mine if r["meter"] == meter]
            open_ = [r for r in rs if r["end_ms"] is None]
            want_open = i["status"] in statuses and (meter == "instance" or i["host_id"])
            if len(open_) != (1 if want_open else 0):
                problems.append("%s (%s) has %d open %s records" % (
                    i["name"], i["status"], len(open_), meter))
            for x, y in zip(rs, rs[1:]):
                if x["end_ms"] is None or x["end_ms"] > y["start_ms"]:
                    problems.append("%s: overlapping %s records %s" % (i["name"], meter,
                                                                      (x, y)))
            for r in rs:
                if meter == "instance" and r["price_key"] != i["flavor_id"]:
                    problems.append("%s: a record of another flavor" % i["name"])
                if meter == "disk" and r["size"] != i["disk_gib"]:
                    problems.append("%s: a disk record of another size" % i["name"])
        # nothing missing: each transition into running that the event log
        # shows opened a record (an event is written after its commit, so
        # a crash can lose an event but never a record)
        ran = sum(1 for e in events if e["instance_id"] == i["id"] and e["event"] == "running")
        n = len([r for r in mine if r["meter"] == "instance"])
        if not ran <= n <= ran + crashes:
            problems.append("%s: %d running records for %d 'running' events" % (i["name"], n,
                                                                                ran))
    return problems


def test_crash_consistency(tmp_path):
    skip_without_tiny()
    nubod = Nubod(str(tmp_path), extra=["--host-down-ms", "60000", "--reconcile-ms", "100"])
    nubod.start()
    hostd = FakeHostd(str(tmp_path), nubod, "fake-1", heartbeat_ms=100).start()
    try:
        admin = nubod.admin()
        wait_for("the fake host", lambda: [h for h in admin.get("/v1/hosts").json()["hosts"]
                                           if h["state"] == "up"])
        upload_tiny(admin)
        assert admin.post("/v1/flavors", {"name": "f", "vcpus": 1, "ram_mib": 64,
                                          "disk_gib": 1}).status_code == 201
        token = admin.token
        rng = random.Random(5)

        def worker(k, stop):
            c = Client(nubod.base, token)
            mine = []
            while not stop.is_set():
                try:
                    op = rng.random()
                    if len(mine) < 3 or op < 0.3:
                        r = c.post("/v1/instances", {"name": "w%d-%s" % (k, uuid.uuid4().hex[:6]),
                                                     "flavor": "f", "image": "nubo-tiny"})
                        if r.status_code == 202:
                            mine.append(r.json()["instances"][0]["id"])
                    elif op < 0.5:
                        c.delete("/v1/instances/" + mine.pop(rng.randrange(len(mine))))
                    else:
                        c.post("/v1/instances/%s/actions" % rng.choice(mine),
                               {"action": rng.choice(["stop", "start", "reboot"])})
                except requests.RequestException:
                    time.sleep(0.05)  # nubod is gone: keep trying until told to stop

        # a burst of lifecycle operations; the controller is killed in it
        for round_ in range(2):
            stop = threading.Event()
            threads = [threading.Thread(target=worker, args=(k, stop)) for k in range(4)]
            for t in threads:
                t.start()
            time.sleep(2.5 + round_)
            nubod.proc.kill()  # SIGKILL: no chance to finish anything
            nubod.proc.wait()
            nubod.proc = None
            nubod.logf.close()
            stop.set()
            for t in threads:
                t.join()
            nubod.start()

            def settled():
                st = [i["status"] for i in
                      admin.get("/v1/instances?limit=1000").json()["instances"]]
                return st and not set(st) & {"building", "stopping", "rebooting", "deleting",
                                             "unknown"}
            wait_for("instances to settle", settled, timeout=60, step=0.2)
            problems = ledger_problems(nubod, round_ + 1)
            assert not problems, "\n".join(problems)
        n = db_rows(nubod, "SELECT COUNT(*) AS n FROM usage_records")[0]["n"]
        assert n > 10, "the burst did too little to test anything"
    finally:
        hostd.stop()
        if nubod.proc is not None:
            assert nubod.stop() == 0, nubod.log()


# ------------------------------------------------------------------- CLI

CLI = os.path.join(BUILD, "src", "cli", "nubo")


def cli_has_billing():
    r = subprocess.run([CLI, "invoice", "--help"], capture_output=True, text=True, timeout=60)
    return r.returncode == 0


def test_cli(clocked, tmp_path):
    if not cli_has_billing():
        pytest.skip("the billing commands are not registered in src/cli (main.c, meson.build)")
    nubod, clock = clocked, clocked.clock
    admin = apikey_client(nubod, nubod.admin())
    tenant = make_tenant(nubod, admin, project="cli")
    raw_image(admin)
    assert admin.post("/v1/flavors", {"name": "one", "vcpus": 1, "ram_mib": 64,
                                      "disk_gib": 2}).status_code == 201
    host = register(nubod).json()
    assert heartbeat(nubod, host["host_id"], host["host_token"]).status_code == 200
    tok_a = tmp_path / "admin.token"
    tok_a.write_text(admin.token + "\n")
    key = apikey_client(nubod, tenant)
    tok_t = tmp_path / "tenant.token"
    tok_t.write_text(key.token + "\n")

    def nubo(tok, *args, ok=True):
        env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
        env.pop("NUBO_TOKEN", None)
        r = subprocess.run([CLI, "--url", nubod.base, "--token-file", str(tok)] + list(args),
                           capture_output=True, text=True, env=env, timeout=60)
        if ok:
            assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r

    r = nubo(tok_a, "price", "set", "disk", "--price", "0.73", "--currency", "EUR")
    assert "disk" in r.stdout
    r = nubo(tok_t, "price", "set", "disk", "--price", "1", "--currency", "EUR", ok=False)
    assert r.returncode == 1 and "403" in r.stderr
    assert nubo(tok_t, "price", "set", "disk", "--price", "1.0000001", ok=False).returncode == 2
    assert "0.730000" in nubo(tok_t, "price", "list").stdout
    r = key.post("/v1/instances", {"name": "x", "flavor": "one", "image": "img"})
    assert r.status_code == 202, r.text
    clock.set(T0 + 10 * H)
    out = nubo(tok_t, "usage").stdout
    assert "disk" in out and "x" in out
    out = nubo(tok_t, "invoice", "show").stdout
    assert "0.020000" in out and "EUR" in out  # 2 GiB x 10 h x 0.001 EUR
    j = nubo(tok_t, "-o", "json", "invoice", "show", "--month", "2031-03").stdout
    assert '"total_micros": 20000' in j
    csv_text = nubo(tok_t, "invoice", "export", "--month", "2031-03").stdout
    api_csv = key.get("/v1/invoice?start=2031-03&format=csv").text
    assert csv_text == api_csv.replace("\r\n", "\n")  # text mode reads CRLF as LF
    out_file = tmp_path / "inv.csv"
    nubo(tok_t, "invoice", "export", "--file", str(out_file))
    assert out_file.read_text().startswith("row,project_id")
    assert "2031-03" in nubo(tok_t, "invoice", "list").stdout
    assert "0.020000" in nubo(tok_t, "invoice", "cost").stdout
    assert "cli" in nubo(tok_a, "invoice", "showback").stdout
    nubo(tok_a, "budget", "set", "--project", "cli", "--amount", "0.02", "--thresholds",
         "50,100", "--block")
    out = nubo(tok_t, "budget", "show").stdout
    assert "0.020000" in out and "yes" in out
    assert "100" in nubo(tok_t, "budget", "notifications").stdout
    nubo(tok_a, "budget", "delete", "--project", "cli")
    assert nubo(tok_t, "usage", "--month", "2031-13", ok=False).returncode == 2


# ------------------------------------------------------------ image meter

IMAGE_HOOK = "billing_image_meter" in open(
    os.path.join(ROOT, "src", "compute", "image.c")).read()


@pytest.mark.skipif(not IMAGE_HOOK, reason="src/compute/image.c does not call "
                    "billing_image_meter() yet (see docs/internals/billing.md)")
def test_image_storage_is_metered(clocked):
    nubod, clock = clocked, clocked.clock
    admin = apikey_client(nubod, nubod.admin())
    assert price(admin, "image", 730000).status_code == 201  # 0.001 EUR per GiB-hour
    r = admin.post("/v1/images", {"name": "big"})
    iid = r.json()["id"]
    assert admin.get("/v1/usage?meter=image").json()["usage"] == []  # queued: nothing stored
    clock.set(T0 + H)
    r = admin.req("PUT", "/v1/images/%s/file" % iid, data=b"\0" * (64 << 20),
                  headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    clock.set(T0 + 11 * H)
    assert admin.delete("/v1/images/" + iid).status_code == 204
    clock.set(T0 + 20 * H)
    recs = admin.get("/v1/usage?meter=image").json()["usage"]
    assert [(x["size"], x["start"], x["end"]) for x in recs] == \
        [(64 << 20, iso(T0 + H), iso(T0 + 11 * H))]
    line = admin.get("/v1/invoice").json()["lines"][0]
    # 64 MiB for 10 h at 0.001 EUR per GiB-hour: 0.000625 EUR
    assert (line["meter"], line["amount_micros"]) == ("image", 625)
