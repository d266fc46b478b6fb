"""Host maintenance (issue 15 item 3, docs/internals/mobility.md "Host
maintenance"): POST /v1/hosts/{id}/actions {drain|undrain} with real
nubo-hostd agents on the fake driver (a fake migration takes 1.5 s).
Who may drain, bad input changing nothing, every running instance moved
off with at most --drain-parallel migrations at once, the scheduler
skipping hosts in maintenance, instances that cannot move listed with
their reason, the CLI's --wait, and nubod killed -9 mid-drain converging
with each instance moved exactly once.  Real guests are drained in
tests/e2e/test_migrate.py.
"""
import json
from pathlib import Path

import pytest
import requests

from conftest import assert_problem
from test_crash import FaultNubod
from test_ha import add_agent
from test_hosts import wait_for
from test_cli_cloud import Cli
from test_liveness import Cloud
from test_migrate import admin_view, migration_rows, vms_on


@pytest.fixture
def one_host(tmp_path):
    """A cloud whose instances all land on fake-1, before fake-2 and
    fake-3 join (heartbeats every 500 ms)."""
    made = []

    def make(n_instances=3, extra=()):
        c = Cloud(tmp_path, n_agents=1, extra=list(extra))
        made.append(c)
        iids = [c.create("d%d" % i) for i in range(n_instances)]
        for iid in iids:
            c.wait_status(iid, "running")
        return c, iids
    yield make
    for c in made:
        c.close()


def action(c, host, what, who=None):
    return (who or c.admin).post("/v1/hosts/%s/actions" % host, {"action": what})


def hosts_of(c, iids):
    return {iid: admin_view(c, iid)["host"]["name"] for iid in iids}


def wait_drained(c, host, timeout=60, watch=None):
    def drained():
        h = c.host(host)
        if watch:
            watch(h)
        return h if h["maintenance"] == "drained" else None
    return wait_for(host + " drained", drained, timeout=timeout, step=0.1)


def test_drain_moves_every_instance_a_few_at_a_time(one_host):
    c, iids = one_host(n_instances=3)
    add_agent(c, "fake-2")
    add_agent(c, "fake-3")
    assert set(hosts_of(c, iids).values()) == {"fake-1"}
    r = action(c, "fake-1", "drain")
    assert r.status_code == 200, r.text
    h = r.json()
    assert h["maintenance"] == "draining" and h["maintenance_at"], h
    assert h["drain"]["left"] == 3 and h["drain"]["failed"] == 0, h
    # Asked again while draining: nothing changes.
    again = action(c, "fake-1", "drain")
    assert again.status_code == 200 and again.json()["maintenance_at"] == h["maintenance_at"]
    seen = []

    def watch(h):
        seen.append(h["drain"]["migrating"])
        # The default --drain-parallel is 2.
        assert h["drain"]["migrating"] <= 2, h
    h = wait_drained(c, "fake-1", watch=watch)
    assert max(seen) >= 1, seen
    assert h["drain"] == {"left": 0, "migrating": 0, "failed": 0, "failures": []}, h
    assert h["instances"] == 0 and h["state"] == "up"
    where = hosts_of(c, iids)
    assert "fake-1" not in where.values(), where
    for iid in iids:
        assert c.instance(iid)["status"] == "running"
        rows = migration_rows(c, iid)
        assert [m["state"] for m in rows] == ["completed"], rows
        assert rows[0]["source_host"] == "fake-1"
        events = [e["event"] for e in
                  c.admin.get("/v1/instances/%s/events" % iid).json()["events"]]
        assert "migration requested" in events, events
    wait_for("no copies left on fake-1", lambda: vms_on(c, "fake-1") == [], timeout=30)
    # Drained: the scheduler skips it, though it is the emptiest host.
    new = c.create("after")
    c.wait_status(new, "running")
    assert admin_view(c, new)["host"]["name"] != "fake-1"
    r = c.admin.post("/v1/instances/%s/actions" % new, {"action": "migrate", "host": "fake-1"})
    assert_problem(r, 409, "maintenance")
    # The host list and the CLI say so.
    listed = {x["name"]: x for x in c.admin.get("/v1/hosts").json()["hosts"]}
    assert listed["fake-1"]["maintenance"] == "drained"
    assert listed["fake-2"]["maintenance"] is None and listed["fake-2"]["drain"] is None
    # Undrain: back in service, the emptiest host again.
    r = action(c, "fake-1", "undrain")
    assert r.status_code == 200, r.text
    assert r.json()["maintenance"] is None and r.json()["drain"] is None
    back = c.create("back")
    c.wait_status(back, "running")
    assert admin_view(c, back)["host"]["name"] == "fake-1"


def test_tenants_cannot_drain_bad_input_and_down_hosts_change_nothing(one_host):
    c, iids = one_host(n_instances=1, extra=["--host-down-ms", "3000"])
    add_agent(c, "fake-2")
    assert_problem(action(c, "fake-1", "drain", who=c.tenant), 403)
    assert_problem(action(c, "fake-1", "undrain", who=c.tenant), 403)
    assert_problem(action(c, "no-such-host", "drain"), 404, "no host")
    assert_problem(action(c, "fake-1", "evacuate"), 400, "drain, undrain")
    r = c.admin.post("/v1/hosts/fake-1/actions", {"action": "drain", "parallel": 9})
    assert r.status_code == 400, r.text
    r = c.admin.post("/v1/hosts/fake-1/actions", {"action": 3})
    assert r.status_code == 400, r.text
    h = c.host("fake-1")
    assert h["maintenance"] is None and h["drain"] is None
    assert hosts_of(c, iids) == {iids[0]: "fake-1"}
    assert migration_rows(c, iids[0]) == []
    # The tenant never sees hosts, and sees its instance as before.
    assert c.tenant.get("/v1/hosts/fake-1").status_code == 403
    assert c.instance(iids[0])["status"] == "running"
    # A down host cannot send its instances anywhere: refused.
    a = c.agents[1]
    a.proc.kill()
    a.proc.wait()
    a.proc = None
    wait_for("fake-2 down", lambda: c.host("fake-2")["state"] == "down", timeout=30)
    assert_problem(action(c, "fake-2", "drain"), 409, "down")
    assert c.host("fake-2")["maintenance"] is None


def test_what_cannot_move_is_listed_and_tried_again(one_host):
    c, iids = one_host(n_instances=2)
    stopped, running = iids
    r = c.tenant.post("/v1/instances/%s/actions" % stopped, {"action": "stop"})
    assert r.status_code == 202, r.text
    c.wait_status(stopped, "stopped")
    # No other host: neither has anywhere to go.
    assert action(c, "fake-1", "drain").status_code == 200
    h = wait_drained(c, "fake-1")
    fails = {f["instance_id"]: f["reason"] for f in h["drain"]["failures"]}
    assert h["drain"]["left"] == 2 and h["drain"]["failed"] == 2, h
    assert "no other host" in fails[running], fails
    assert "host" in fails[stopped], fails
    events = [(e["event"], e.get("detail", "")) for e in
              c.admin.get("/v1/instances/%s/events" % running).json()["events"]]
    assert any(ev == "drain failed" for ev, _ in events), events
    # The CLI's --wait ends in failure, naming what stayed.
    p = cli(c, "host", "drain", "fake-1", "--wait", "--timeout", "60")
    assert p.returncode == 1, p.stderr
    assert stopped in p.stderr and running in p.stderr, p.stderr
    assert "could not move" in p.stderr
    # A host joins: drained again, both go - the running one live, the
    # stopped one cold (it stays stopped).
    add_agent(c, "fake-2")
    p = cli(c, "host", "drain", "fake-1", "--wait", "--timeout", "90")
    assert p.returncode == 0, p.stderr
    assert "draining" in p.stderr, p.stderr           # the progress lines
    assert set(hosts_of(c, iids).values()) == {"fake-2"}
    assert c.instance(stopped)["status"] == "stopped"
    assert c.instance(running)["status"] == "running"
    kinds = {iid: migration_rows(c, iid)[0]["kind"] for iid in iids}
    assert kinds == {stopped: "cold", running: "live"}, kinds
    shown = json.loads(cli(c, "-o", "json", "host", "show", "fake-1").stdout)
    assert shown["maintenance"] == "drained" and shown["drain"]["left"] == 0


def cli(c, *args):
    """The nubo CLI, logged in as the cloud admin."""
    if not hasattr(c, "cli"):
        c.cli = Cli(Path(c.tmp) / "cli", c.nubod.base)
        c.cli.login("admin", c.nubod.admin_password, "admin")
    return c.cli.run(*args)


@pytest.mark.parametrize("point", ["fleet.drain", "drain.migrate"])
def test_kill9_mid_drain_moves_each_instance_once(one_host, point):
    c, iids = one_host(n_instances=3)
    add_agent(c, "fake-2")
    c.nubod.__class__ = FaultNubod
    c.nubod.stop()
    c.nubod.start(fault=point)
    c.relogin()
    try:
        r = action(c, "fake-1", "drain")
        assert r.status_code == 200, r.text
    except requests.ConnectionError:
        # it dies inside the request (fleet.drain), or the reconciler
        # woken by the commit reached drain.migrate before the answer went
        pass
    c.nubod.wait_killed(point)
    c.nubod.start()
    c.relogin()
    h = c.host("fake-1")
    if point == "fleet.drain":
        # Not committed: nothing changed; the admin asks again.
        assert h["maintenance"] is None, h
        assert action(c, "fake-1", "drain").status_code == 200
    else:
        # Committed before its first migration started.
        assert h["maintenance"] in ("draining", "drained"), h
    h = wait_drained(c, "fake-1", timeout=60)
    assert h["drain"]["failed"] == 0, h
    for iid in iids:
        inst = c.wait_status(iid, "running", timeout=30)
        assert inst["status"] == "running"
        rows = migration_rows(c, iid)
        assert [m["state"] for m in rows] == ["completed"], rows
    assert set(hosts_of(c, iids).values()) == {"fake-2"}
    wait_for("one copy each", lambda: vms_on(c, "fake-1") == [] and
             set(iids) <= set(vms_on(c, "fake-2")), timeout=30)
