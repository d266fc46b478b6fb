"""Cold migration and resize through the API (issue 15 item 2, docs/
internals/mobility.md "Cold migration and resize") with real nubo-hostd
agents on the fake driver: who may do what, bad input refused with nothing
changed, the quota, the states end to end (cold migration, resize on the
same host and onto another, confirm and revert), what the agents hold
after each, and nubod killed -9 at each crash point converging.  Real
QEMU guests would go in tests/e2e.
"""
import os
import signal
import time

import pytest
import requests

from conftest import assert_problem, db_connect
from test_compute import flavor
from test_crash import FaultNubod
from test_hosts import wait_for
from test_liveness import Cloud
from test_migrate import Agent, admin_view, migration_rows, other, placed, vms_on


@pytest.fixture
def cloud(tmp_path):
    c = Cloud(tmp_path, n_agents=2)
    yield c
    c.close()


def agent_of(cloud, host):
    a = [a for a in cloud.agents if a.args[a.args.index("--name") + 1] == host][0]
    return Agent(a.sock)


def vm_def(cloud, host, iid):
    st, vm = agent_of(cloud, host).call("GET", "/v1/vms/nubo-" + iid)
    assert st == 200, vm
    return vm


def stopped(cloud, name):
    iid, host = placed(cloud, name)
    r = cloud.tenant.post("/v1/instances/%s/actions" % iid, {"action": "stop"})
    assert r.status_code == 202, r.text
    cloud.wait_status(iid, "stopped", timeout=30)
    return iid, host


def act(client, iid, body):
    return client.post("/v1/instances/%s/actions" % iid, body)


def one_copy(cloud, iid, host):
    wait_for("one copy on " + host, lambda: iid in vms_on(cloud, host) and
             iid not in vms_on(cloud, other(cloud, host)), timeout=30)


def test_cold_migrate_permissions_and_bad_input(cloud):
    iid, src = placed(cloud, "c1")
    dst = other(cloud, src)

    def refused(client, body, status, words):
        assert_problem(act(client, iid, body), status, words)
        v = admin_view(cloud, iid)
        assert v["host"]["name"] == src, v
        assert migration_rows(cloud, iid) == []

    refused(cloud.tenant, {"action": "cold-migrate"}, 403, "cloud admin")
    refused(cloud.admin, {"action": "cold-migrate"}, 409, "stop it first")
    act(cloud.tenant, iid, {"action": "stop"})
    cloud.wait_status(iid, "stopped", timeout=30)
    refused(cloud.tenant, {"action": "cold-migrate", "host": dst}, 403, "cloud admin")
    refused(cloud.admin, {"action": "cold-migrate", "host": src}, 409, "already")
    refused(cloud.admin, {"action": "cold-migrate", "host": "no-such-host"}, 404, "no host")
    refused(cloud.admin, {"action": "cold-migrate", "host": 7}, 400, "host")
    refused(cloud.admin, {"action": "cold-migrate", "start": "yes"}, 400, "'start'")
    refused(cloud.admin, {"action": "cold-migrate", "flavor": cloud.flavor}, 400, "'flavor'")
    refused(cloud.admin, {"action": "stop", "start": True}, 400, "'start'")
    refused(cloud.tenant, {"action": "confirm-resize"}, 409, "verify_resize")
    refused(cloud.tenant, {"action": "revert-resize"}, 409, "verify_resize")
    assert cloud.instance(iid)["status"] == "stopped"


def test_cold_migrate_moves_it_stopped_and_started(cloud):
    iid, src = stopped(cloud, "c2")
    dst = other(cloud, src)
    r = act(cloud.admin, iid, {"action": "cold-migrate"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["migration"]["kind"] == "cold" and body["migration"]["target_host"] == dst
    assert body["instance"]["status"] == "resizing"
    # Nothing else while it moves.
    assert_problem(act(cloud.tenant, iid, {"action": "start"}), 409)
    cloud.wait_status(iid, "stopped", timeout=30)
    assert admin_view(cloud, iid)["host"]["name"] == dst
    one_copy(cloud, iid, dst)
    assert vm_def(cloud, dst, iid)["state"] == "stopped"
    m = migration_rows(cloud, iid)[0]
    assert (m["kind"], m["state"]) == ("cold", "completed"), m
    task = cloud.tenant.get("/v1/tasks/" + body["task_id"]).json()
    assert task["kind"] == "cold" and task["status"] == "succeeded", task
    # Back, started on arrival.
    r = act(cloud.admin, iid, {"action": "cold-migrate", "host": src, "start": True})
    assert r.status_code == 202, r.text
    cloud.wait_status(iid, "running", timeout=30)
    assert admin_view(cloud, iid)["host"]["name"] == src
    one_copy(cloud, iid, src)
    assert vm_def(cloud, src, iid)["state"] == "running"


def test_resize_same_host_confirm_and_revert(cloud):
    iid, src = stopped(cloud, "r1")
    big = flavor(cloud.admin, "big", vcpus=2, ram=128, disk=2)["name"]
    r = act(cloud.tenant, iid, {"action": "resize", "flavor": big})
    assert r.status_code == 202, r.text
    assert r.json()["migration"]["kind"] == "resize"
    assert r.json()["migration"]["target_host"] == src
    cloud.wait_status(iid, "verify_resize", timeout=30)
    inst = cloud.instance(iid)
    assert inst["flavor"]["name"] == big if isinstance(inst.get("flavor"), dict) else True
    vm = vm_def(cloud, src, iid)
    assert (vm["vcpus"], vm["memory_mib"]) == (2, 128), vm
    assert vm["root_disk_bytes"] == 2 << 30, vm
    # Nothing but confirm/revert (and delete) while it waits.
    assert_problem(act(cloud.tenant, iid, {"action": "start"}), 409)
    assert_problem(act(cloud.tenant, iid, {"action": "resize", "flavor": cloud.flavor}), 400,
                   "only grows")
    # Revert: the old flavor, the old definition.
    r = act(cloud.tenant, iid, {"action": "revert-resize"})
    assert r.status_code == 202, r.text
    cloud.wait_status(iid, "stopped", timeout=30)
    vm = vm_def(cloud, src, iid)
    assert (vm["vcpus"], vm["memory_mib"]) == (1, 64), vm
    assert migration_rows(cloud, iid)[0]["state"] == "reverted"
    with db_connect(cloud.nubod, dict_rows=True) as db:
        row = dict(db.execute("SELECT vcpus, ram_mib, disk_gib FROM instances WHERE id = ?",
                              (iid,)).fetchone())
    assert row == {"vcpus": 1, "ram_mib": 64, "disk_gib": 1}, row
    # Again, confirmed this time; then it starts at the new size.
    r = act(cloud.tenant, iid, {"action": "resize", "flavor": big})
    assert r.status_code == 202, r.text
    cloud.wait_status(iid, "verify_resize", timeout=30)
    r = act(cloud.tenant, iid, {"action": "confirm-resize"})
    assert r.status_code == 202, r.text
    cloud.wait_status(iid, "stopped", timeout=30)
    assert [m["state"] for m in migration_rows(cloud, iid)] == ["completed", "reverted"]
    assert act(cloud.tenant, iid, {"action": "start"}).status_code == 202
    cloud.wait_status(iid, "running", timeout=30)
    vm = vm_def(cloud, src, iid)
    assert (vm["vcpus"], vm["memory_mib"], vm["state"]) == (2, 128, "running"), vm
    ev = [e["event"] for e in cloud.tenant.get("/v1/instances/%s/events" % iid)
          .json()["events"]]
    assert "resize reverted" in ev and "resize confirmed" in ev, ev


def test_resize_onto_another_host(tmp_path):
    # Slow heartbeats: the capacity this test gives the source stays.
    c = Cloud(tmp_path, n_agents=2, heartbeat_ms=30000, extra=["--host-down-ms", "120000"])
    try:
        iid, src = stopped(c, "r2")
        dst = other(c, src)
        big = flavor(c.admin, "big2", vcpus=2, ram=128, disk=2)["name"]
        with db_connect(c.nubod) as db:
            db.execute("UPDATE hosts SET ram_mib = 100 WHERE name = ?", (src,))
            db.commit()
        r = act(c.tenant, iid, {"action": "resize", "flavor": big})
        assert r.status_code == 202, r.text
        assert r.json()["migration"]["target_host"] == dst
        c.wait_status(iid, "verify_resize", timeout=30)
        assert admin_view(c, iid)["host"]["name"] == dst
        # Both copies while it waits: the old one untouched.
        assert iid in vms_on(c, src) and iid in vms_on(c, dst)
        assert vm_def(c, src, iid)["vcpus"] == 1
        assert vm_def(c, dst, iid)["vcpus"] == 2
        r = act(c.tenant, iid, {"action": "revert-resize"})
        assert r.status_code == 202, r.text
        c.wait_status(iid, "stopped", timeout=30)
        assert admin_view(c, iid)["host"]["name"] == src
        one_copy(c, iid, src)
        assert vm_def(c, src, iid)["vcpus"] == 1
        # Again, confirmed: the old copy goes.
        r = act(c.tenant, iid, {"action": "resize", "flavor": big})
        assert r.status_code == 202, r.text
        c.wait_status(iid, "verify_resize", timeout=30)
        assert act(c.tenant, iid, {"action": "confirm-resize"}).status_code == 202
        c.wait_status(iid, "stopped", timeout=30)
        assert admin_view(c, iid)["host"]["name"] == dst
        one_copy(c, iid, dst)
    finally:
        c.close()


def test_resize_bad_input_quota_and_isolation(cloud):
    iid, src = placed(cloud, "r3")
    big = flavor(cloud.admin, "big3", vcpus=2, ram=128, disk=2)["name"]

    def refused(client, body, status, words):
        assert_problem(act(client, iid, body), status, words)
        assert migration_rows(cloud, iid) == []
        with db_connect(cloud.nubod, dict_rows=True) as db:
            row = dict(db.execute("SELECT vcpus, ram_mib, disk_gib FROM instances WHERE id = ?",
                                  (iid,)).fetchone())
        assert row == {"vcpus": 1, "ram_mib": 64, "disk_gib": 1}, row

    refused(cloud.tenant, {"action": "resize", "flavor": big}, 409, "stop it first")
    act(cloud.tenant, iid, {"action": "stop"})
    cloud.wait_status(iid, "stopped", timeout=30)
    refused(cloud.tenant, {"action": "resize"}, 400, "flavor")
    refused(cloud.tenant, {"action": "resize", "flavor": 3}, 400, "flavor")
    refused(cloud.tenant, {"action": "resize", "flavor": "no-such"}, 404, "no-such")
    refused(cloud.tenant, {"action": "resize", "flavor": cloud.flavor}, 400, "already")
    refused(cloud.tenant, {"action": "resize", "flavor": big, "host": src}, 400, "'host'")
    # Another project's member does not see it.
    from conftest import make_tenant
    stranger = make_tenant(cloud.nubod, cloud.admin)
    refused(stranger, {"action": "resize", "flavor": big}, 404, "no instance")
    reader = make_tenant(cloud.nubod, cloud.admin, role="reader", project=cloud.tenant.project)
    assert act(reader, iid, {"action": "resize", "flavor": big}).status_code == 403
    # The quota counts the growth.
    r = cloud.admin.put("/v1/projects/%s/quota" % cloud.tenant.project, {"vcpus": 1})
    assert r.status_code == 200, r.text
    refused(cloud.tenant, {"action": "resize", "flavor": big}, 403, "quota exceeded")
    r = cloud.admin.put("/v1/projects/%s/quota" % cloud.tenant.project, {"vcpus": 2})
    assert r.status_code == 200, r.text
    assert act(cloud.tenant, iid, {"action": "resize", "flavor": big}).status_code == 202
    cloud.wait_status(iid, "verify_resize", timeout=30)


def billing_sizes(cloud, iid):
    with db_connect(cloud.nubod, dict_rows=True) as db:
        return [dict(r) for r in db.execute(
            "SELECT meter, price_key, size, start_ms, end_ms FROM usage_records"
            " WHERE resource_id = ? ORDER BY seq", (iid,)).fetchall()]


def test_resize_billing_one_record_per_flavor_period(cloud):
    iid, src = stopped(cloud, "r4")
    big = flavor(cloud.admin, "big4", vcpus=2, ram=128, disk=2)["name"]
    before = billing_sizes(cloud, iid)
    assert act(cloud.tenant, iid, {"action": "resize", "flavor": big}).status_code == 202
    cloud.wait_status(iid, "verify_resize", timeout=30)
    assert act(cloud.tenant, iid, {"action": "confirm-resize"}).status_code == 202
    cloud.wait_status(iid, "stopped", timeout=30)
    after = billing_sizes(cloud, iid)
    # No record overlaps another of its meter, none is open twice.
    for meter in {r["meter"] for r in after}:
        rows = [r for r in after if r["meter"] == meter]
        assert sum(1 for r in rows if r["end_ms"] is None) <= 1, rows
        for a, b in zip(rows, rows[1:]):
            assert a["end_ms"] is not None and a["end_ms"] <= b["start_ms"], rows
    assert len(after) >= len(before)


COLD_POINTS = ["cold.request", "cold.exported", "cold.copied", "transition.cold_prepared",
               "transition.cold_prepared.committed"]
RESIZE_POINTS = ["resize.request", "resize.resized", "resize.confirm", "resize.old_dropped",
                 "transition.cold_finish", "transition.cold_finish.committed"]
REVERT_POINTS = ["resize.revert", "resize.new_dropped"]


@pytest.mark.parametrize("point", COLD_POINTS + RESIZE_POINTS + REVERT_POINTS)
def test_kill9_converges(tmp_path, point):
    """nubod killed -9 at each step: after its restart the instance ends
    stopped on exactly one host (with its disk), the operation done once
    or not at all."""
    extra = []
    cross = point in COLD_POINTS or point in REVERT_POINTS
    c = Cloud(tmp_path, n_agents=2, heartbeat_ms=30000 if cross else 500,
              extra=["--host-down-ms", "120000"] + extra)
    try:
        c.nubod.__class__ = FaultNubod
        iid, src = stopped(c, "k1")
        dst = other(c, src)
        big = flavor(c.admin, "bigk", vcpus=2, ram=128, disk=2)["name"]
        if point in REVERT_POINTS:
            with db_connect(c.nubod) as db:
                db.execute("UPDATE hosts SET ram_mib = 100 WHERE name = ?", (src,))
                db.commit()
        c.nubod.stop()
        c.nubod.start(fault=point)
        c.relogin()
        if point in COLD_POINTS:
            req = (c.admin, {"action": "cold-migrate", "host": dst})
        else:
            req = (c.tenant, {"action": "resize", "flavor": big})
        # A connection cut is the kill: by this request (its *.request
        # point, before the commit) or by the reconciler, which may reach
        # its point after the commit and before the answer leaves.
        try:
            r = act(req[0], iid, req[1])
            assert r.status_code == 202, r.text
        except requests.ConnectionError:
            pass
        if point in RESIZE_POINTS[2:] or point in REVERT_POINTS:
            c.wait_status(iid, "verify_resize", timeout=30)
            end = "confirm-resize" if point in RESIZE_POINTS else "revert-resize"
            try:
                r = act(c.tenant, iid, {"action": end})
                assert r.status_code == 202, r.text
            except requests.ConnectionError:
                pass  # as above
        c.nubod.wait_killed(point)
        c.nubod.start()
        c.relogin()
        if point in RESIZE_POINTS[2:4] or point.startswith("transition.cold_finish"):
            # The confirm goes on by itself after the restart (when the
            # request died before its commit, it is asked again).
            inst = c.instance(iid)
            if inst["status"] == "verify_resize":
                assert point == "resize.confirm"
                assert act(c.tenant, iid, {"action": "confirm-resize"}).status_code == 202
        if point in REVERT_POINTS:
            inst = c.instance(iid)
            if inst["status"] == "verify_resize":
                assert point == "resize.revert"
                assert act(c.tenant, iid, {"action": "revert-resize"}).status_code == 202
        wait_for("settled", lambda: c.instance(iid)["status"] in ("stopped", "verify_resize"),
                 timeout=40)
        inst = c.instance(iid)
        host = admin_view(c, iid)["host"]["name"]
        rows = migration_rows(c, iid)
        assert all(m["state"] not in ("preparing", "confirming", "reverting") for m in rows), rows
        assert len(rows) <= 1, rows
        if point in ("cold.request", "resize.request"):
            assert rows == [] and host == src and inst["status"] == "stopped"
        elif point in COLD_POINTS:
            assert rows[0]["state"] == "completed" and host == dst
        elif point == "resize.resized":
            assert inst["status"] == "verify_resize" and host == src
        elif point in RESIZE_POINTS:
            assert rows[0]["state"] == "completed" and inst["status"] == "stopped"
            assert vm_def(c, host, iid)["vcpus"] == 2
        else:
            assert rows[0]["state"] == "reverted" and host == src
            assert vm_def(c, host, iid)["vcpus"] == 1
        if inst["status"] == "stopped":
            one_copy(c, iid, host)
    finally:
        for a in c.agents:
            if a.proc is not None:
                a.proc.send_signal(signal.SIGCONT)
        c.close()


def test_a_frozen_source_keeps_the_old_copy(tmp_path):
    """A resize that moved the instance keeps its old copy on the source
    until confirmed or reverted.  The source's agent frozen past its lease
    wakes, and destroys what the heartbeat's answer does not list: the old
    copy must be listed, and the revert finds it (it was not listed: the
    agent destroyed it, and the e2e test's target destroyed its freshly
    copied disk the same way when the copy outlasted its lease)."""
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") >> 20
    c = Cloud(tmp_path, n_agents=2, extra=["--host-down-ms", "6000"])
    try:
        iid, src = stopped(c, "f1")
        dst = other(c, src)
        a = [x for x in c.agents if x.args[x.args.index("--name") + 1] == src][0]
        # The source restarted with room for 100 MiB: the resize moves it.
        assert a.stop() == 0, a.log()
        a.args += ["--mem-reserve", str(total - 100)]
        a.start()
        wait_for("the small source", lambda: (lambda h: h["state"] == "up" and
                                              h["ram_mib"] <= 100)(c.host(src)), timeout=30)
        big = flavor(c.admin, "bigf", vcpus=1, ram=128, disk=1)["name"]
        r = act(c.tenant, iid, {"action": "resize", "flavor": big})
        assert r.status_code == 202, r.text
        assert r.json()["migration"]["target_host"] == dst
        c.wait_status(iid, "verify_resize", timeout=30)
        assert iid in vms_on(c, src) and iid in vms_on(c, dst)
        # Frozen 4 s: past its 3 s lease, short of the 6 s that make it down.
        a.proc.send_signal(signal.SIGSTOP)
        time.sleep(4)
        a.proc.send_signal(signal.SIGCONT)
        def log():
            with open(a.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        wait_for("the lease ran out", lambda: "lease ran out" in log(), timeout=10)
        time.sleep(3)  # several heartbeats answered since
        assert c.host(src)["state"] == "up"
        assert "no longer this host's" not in log(), log()[-3000:]
        assert iid in vms_on(c, src)
        r = act(c.tenant, iid, {"action": "revert-resize"})
        assert r.status_code == 202, r.text
        c.wait_status(iid, "stopped", timeout=30)
        assert admin_view(c, iid)["host"]["name"] == src
        one_copy(c, iid, src)
        assert vm_def(c, src, iid)["memory_mib"] == 64
    finally:
        for x in c.agents:
            if x.proc is not None:
                x.proc.send_signal(signal.SIGCONT)
        c.close()
