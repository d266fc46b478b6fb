"""Billing leaks and clock jumps (issue 22, items 8 and 6; see
docs/internals/billing.md): against a real nubod on the fake wall clock
(NUBO_FAKE_CLOCK_FILE) and a fake host agent, so that every boundary is
known to the millisecond.

- Every billable kind (an instance's running time and root disk, an
  image's storage, a floating IP) goes through create -> delete, and a
  second of each that can outlive its project through project delete:
  every record ends at the millisecond its resource went, and the deleted
  project's usage stays in the ledger (showback) without growing.
- A backward jump of the wall clock, then a forward one and its
  correction, around stops and starts of one instance: the records of one
  meter and resource never overlap and never end before they start, and
  the invoice bills each instant once.
"""
import os

import pytest

from conftest import make_tenant
from test_billing import (H, T0, Clock, ClockedNubod, apikey_client, db_rows, iso, price)
from test_hosts import FakeHostd, wait_for

MIB = 1 << 20
# Prices that make amounts say durations: 3,600,000 micro-units an hour is
# one per millisecond; 2,628,000,000 per GiB-month one per GiB-millisecond.
PER_MS_HOUR = 3600000
PER_MS_GIB_MONTH = 2628000000


@pytest.fixture
def cloud(tmp_path):
    """nubod on the fake clock at 2031-03-01 + a fake agent heartbeating
    every 100 ms; an hour of fake clock before a host is down, so that the
    clock moves in steps the agent keeps up with (advance())."""
    clock = Clock(str(tmp_path), T0)
    nubod = ClockedNubod(str(tmp_path), clock,
                         extra=["--host-down-ms", "3600000", "--reconcile-ms", "100"]).start()
    hostd = FakeHostd(str(tmp_path), nubod, "fake-1", heartbeat_ms=100).start()
    admin = apikey_client(nubod, nubod.admin())
    wait_for("the fake host", lambda: [h for h in admin.get("/v1/hosts").json()["hosts"]
                                       if h["name"] == "fake-1" and h["state"] == "up"])
    r = admin.post("/v1/flavors", {"name": "f1", "vcpus": 1, "ram_mib": 64, "disk_gib": 1})
    assert r.status_code == 201, r.text
    for meter, micros, flavor in (("instance", PER_MS_HOUR, "f1"),
                                  ("disk", PER_MS_GIB_MONTH, None),
                                  ("image", PER_MS_GIB_MONTH, None),
                                  ("floating_ip", PER_MS_HOUR, None),
                                  ("volume", PER_MS_GIB_MONTH, None)):
        r = price(admin, meter, micros, flavor=flavor)
        assert r.status_code == 201, r.text
    yield nubod, hostd, admin
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


def heartbeat_at(admin, ms):
    """Waits until the agent has heartbeated at fake time ms or later."""
    t = iso(ms)
    wait_for("a heartbeat at " + t,
             lambda: (admin.get("/v1/hosts/fake-1").json()["last_heartbeat_at"] or "") >= t,
             timeout=30, step=0.05)


def set_clock(nubod, admin, ms):
    """Moves the fake clock to ms (either way) and waits for a heartbeat
    there, so that no host is seen silent."""
    nubod.clock.set(ms)
    heartbeat_at(admin, ms)


def advance(nubod, admin, ms):
    """Moves the clock forward to ms in steps of 30 minutes."""
    while nubod.clock.ms < ms:
        set_clock(nubod, admin, min(ms, nubod.clock.ms + H // 2))


def wait_status(client, iid, want):
    last = {}

    def ok():
        last["s"] = client.get("/v1/instances/" + iid).json().get("status")
        return last["s"] == want
    try:
        wait_for("instance %s %s" % (iid, want), ok, timeout=60, step=0.05)
    except AssertionError:
        raise AssertionError("instance %s is %s, not %s" % (iid, last.get("s"), want))


def upload_image(client, name):
    """A 1 MiB raw image of client's project, active when this returns."""
    r = client.post("/v1/images", {"name": name})
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    r = client.req("PUT", "/v1/images/%s/file" % iid, data=b"\0" * MIB,
                   headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    return iid


def external_network(admin):
    r = admin.post("/v1/networks", {"name": "public", "external": True})
    assert r.status_code == 201, r.text
    r = admin.post("/v1/subnets", {"network": "public", "cidr": "203.0.113.0/28"})
    assert r.status_code == 201, r.text


def records(nubod, project_id):
    """{(meter, resource_id): [(start_ms, end_ms)]} of a project."""
    out = {}
    for r in db_rows(nubod, "SELECT meter, resource_id, start_ms, end_ms FROM usage_records"
                            " WHERE project_id = ? ORDER BY seq", (project_id,)):
        out.setdefault((r["meter"], r["resource_id"]), []).append((r["start_ms"], r["end_ms"]))
    return out


def ledger_sound(nubod):
    """What is wrong with the ledger's boundaries: records of one meter and
    resource that overlap, or that end before they start."""
    problems = []
    rows = db_rows(nubod, "SELECT * FROM usage_records ORDER BY meter, resource_id, seq")
    for x, y in zip(rows, rows[1:]):
        if (x["meter"], x["resource_id"]) == (y["meter"], y["resource_id"]) and \
                (x["end_ms"] is None or x["end_ms"] > y["start_ms"]):
            problems.append("overlap: %s / %s" % (x, y))
    problems += ["ends before it starts: %s" % r for r in rows
                 if r["end_ms"] is not None and r["end_ms"] < r["start_ms"]]
    return problems


def showback_of(admin, project_id):
    sb = admin.get("/v1/invoices/showback?start=2031-03").json()
    mine = [p for p in sb["projects"] if p["project"]["id"] == project_id]
    return mine[0] if mine else None


def test_every_kind_closes_with_its_resource_and_its_project(cloud):
    nubod, hostd, admin = cloud
    external_network(admin)
    tenant = apikey_client(nubod, make_tenant(nubod, admin, project="leaky"))
    pid = tenant.get("/v1/auth/whoami").json()["project"]["id"]

    advance(nubod, admin, T0 + H)                      # 1 h: two images stored
    img_gone = upload_image(tenant, "img-gone")
    img_kept = upload_image(tenant, "img-kept")
    advance(nubod, admin, T0 + 2 * H)                  # 2 h: an instance
    r = tenant.post("/v1/instances", {"name": "vm", "flavor": "f1", "image": "img-kept"})
    assert r.status_code == 202, r.text
    vm = r.json()["instances"][0]["id"]
    wait_status(tenant, vm, "running")                 # the clock stands still meanwhile
    advance(nubod, admin, T0 + 3 * H)                  # 3 h: two floating IPs
    fips = []
    for _ in range(2):
        r = tenant.post("/v1/floating-ips", {})
        assert r.status_code == 201, r.text
        fips.append(r.json()["id"])
    fip_gone, fip_kept = fips
    advance(nubod, admin, T0 + 5 * H)                  # 5 h: the instance goes
    assert tenant.delete("/v1/instances/" + vm).status_code == 202
    wait_status(tenant, vm, "deleted")
    advance(nubod, admin, T0 + 6 * H)                  # 6 h: an image goes
    assert tenant.delete("/v1/images/" + img_gone).status_code == 204
    advance(nubod, admin, T0 + 7 * H)                  # 7 h: a floating IP goes
    assert tenant.delete("/v1/floating-ips/" + fip_gone).status_code == 204
    advance(nubod, admin, T0 + 9 * H)                  # 9 h: the project goes
    r = admin.delete("/v1/projects/leaky")
    assert r.status_code == 204, r.text

    want = {
        ("instance", vm): [(T0 + 2 * H, T0 + 5 * H)],
        ("disk", vm): [(T0 + 2 * H, T0 + 5 * H)],
        ("image", img_gone): [(T0 + H, T0 + 6 * H)],
        ("image", img_kept): [(T0 + H, T0 + 9 * H)],
        ("floating_ip", fip_gone): [(T0 + 3 * H, T0 + 7 * H)],
        ("floating_ip", fip_kept): [(T0 + 3 * H, T0 + 9 * H)],
    }
    assert records(nubod, pid) == want
    assert ledger_sound(nubod) == []
    # Showback still counts the deleted project, at one micro-unit per
    # millisecond (per GiB-ms for the disk; an image's MiB is 1/1024 GiB).
    expected = {"instance": 3 * H + 3 * H,
                "image": (5 * H + 512) // 1024 + (8 * H + 512) // 1024,  # rounded per line
                "floating_ip": 4 * H + 6 * H}
    share = showback_of(admin, pid)
    assert share is not None and share["project"]["name"] is None, share
    assert {s["resource_type"]: s["amount_micros"] for s in share["subtotals"]} == expected
    assert share["total_micros"] == sum(expected.values())
    # ... and a deleted project does not keep paying.
    advance(nubod, admin, T0 + 12 * H)
    assert showback_of(admin, pid)["total_micros"] == sum(expected.values())
    assert records(nubod, pid) == want


def test_floating_ip_allocation_is_metered_in_its_transaction(cloud):
    nubod, hostd, admin = cloud
    external_network(admin)
    tenant = apikey_client(nubod, make_tenant(nubod, admin, project="fips"))
    advance(nubod, admin, T0 + H)
    r = tenant.post("/v1/floating-ips", {})
    assert r.status_code == 201, r.text
    f = r.json()
    recs = tenant.get("/v1/usage?meter=floating_ip").json()["usage"]
    assert [(x["resource_id"], x["resource_name"], x["size"], x["size_unit"], x["start"],
             x["end"]) for x in recs] == [(f["id"], f["ip"], 1, "address", iso(T0 + H), None)]
    advance(nubod, admin, T0 + 2 * H)
    # a release that fails (not found) changes nothing; one that works closes
    assert tenant.delete("/v1/floating-ips/" + "0" * 8 + "-0000-4000-8000-" + "0" * 12) \
        .status_code == 404
    assert tenant.delete("/v1/floating-ips/" + f["id"]).status_code == 204
    assert tenant.delete("/v1/floating-ips/" + f["id"]).status_code == 404
    recs = tenant.get("/v1/usage?meter=floating_ip").json()["usage"]
    assert [(x["start"], x["end"], x["duration_ms"]) for x in recs] == \
        [(iso(T0 + H), iso(T0 + 2 * H), H)]
    line = [x for x in tenant.get("/v1/invoice").json()["lines"]
            if x["meter"] == "floating_ip"]
    assert [x["amount_micros"] for x in line] == [H]


def start_stop(tenant, vm, action, status):
    r = tenant.post("/v1/instances/%s/actions" % vm, {"action": action})
    assert r.status_code == 202, r.text
    wait_status(tenant, vm, status)


def test_clock_jumps_do_not_bill_twice(cloud):
    nubod, hostd, admin = cloud
    tenant = apikey_client(nubod, make_tenant(nubod, admin, project="jumpy"))
    pid = tenant.get("/v1/auth/whoami").json()["project"]["id"]
    img = upload_image(tenant, "img")
    advance(nubod, admin, T0 + H)                      # 1 h: created, runs
    r = tenant.post("/v1/instances", {"name": "vm", "flavor": "f1", "image": img})
    assert r.status_code == 202, r.text
    vm = r.json()["instances"][0]["id"]
    wait_status(tenant, vm, "running")
    advance(nubod, admin, T0 + 3 * H)                  # 3 h: stopped
    start_stop(tenant, vm, "stop", "stopped")
    set_clock(nubod, admin, T0 + 2 * H)                # the clock goes back an hour
    start_stop(tenant, vm, "start", "running")         # ... and it starts at "2 h"
    set_clock(nubod, admin, T0 + 4 * H)                # 4 h
    start_stop(tenant, vm, "stop", "stopped")
    # Forward a day (which is billed: the wall clock said so), then back
    # (the correction) while it is stopped, and a start.
    set_clock(nubod, admin, T0 + 4 * H + H // 2)       # 4.5 h: starts
    start_stop(tenant, vm, "start", "running")
    set_clock(nubod, admin, T0 + 28 * H + H // 2)      # a day later: stops
    start_stop(tenant, vm, "stop", "stopped")
    set_clock(nubod, admin, T0 + 5 * H)                # corrected: starts at "5 h"
    start_stop(tenant, vm, "start", "running")
    advance(nubod, admin, T0 + 30 * H)                 # 30 h: deleted
    assert tenant.delete("/v1/instances/" + vm).status_code == 202
    wait_status(tenant, vm, "deleted")

    recs = records(nubod, pid)
    assert recs[("instance", vm)] == [
        (T0 + H, T0 + 3 * H),                    # ran 1-3 h
        (T0 + 3 * H, T0 + 4 * H),                # started at "2 h": from 3 h, not 2 h
        (T0 + 4 * H + H // 2, T0 + 28 * H + H // 2),  # across the forward jump
        (T0 + 28 * H + H // 2, T0 + 30 * H),     # started at "5 h": from 28.5 h
    ]
    assert recs[("disk", vm)] == [(T0 + H, T0 + 30 * H)]
    assert ledger_sound(nubod) == []
    # Each instant once: 3 + 24 + 1.5 h of running time, 29 h of disk.
    run_ms = 3 * H + 24 * H + 3 * H // 2
    inv = tenant.get("/v1/invoice?start=2031-03").json()
    amounts = {}
    for x in inv["lines"]:
        amounts[x["meter"]] = amounts.get(x["meter"], 0) + x["amount_micros"]
    image = (30 * H + 512) // 1024                     # its 1 MiB image, stored since T0
    assert amounts == {"instance": run_ms, "disk": 29 * H, "image": image}, inv["lines"]
    assert inv["total_micros"] == run_ms + 29 * H + image
