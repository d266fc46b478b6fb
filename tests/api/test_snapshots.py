"""Volume snapshots and volumes from snapshots (issue 14;
docs/internals/storage.md, Snapshots): the routes, bad input, tenant
isolation and roles, quotas (snapshots, volume_gib), the 409s (a volume
with snapshots, a snapshot a volume is being made from, busy volumes),
metering, the reconciler's convergence with a fake-driver agent (a
placed volume's snapshot is taken by its host; a volume from it is made
there), and kill -9 at each new transition."""
import pytest

from conftest import assert_problem, make_tenant
from test_billing import H, T0, apikey_client, clocked, iso  # noqa: F401 (clocked: fixture)
from test_hosts import fake_cloud, wait_for  # noqa: F401 (fixture)
from test_volumes import act, quota, running, vol, vol_status


def snap(c, volume, name="s1"):
    return c.post("/v1/snapshots", {"volume_id": volume, "name": name})


def snap_status(c, ref, status, timeout=20):
    last = {}

    def check():
        last["s"] = c.get("/v1/snapshots/" + ref).json()
        return last["s"] if last["s"].get("status") == status else None
    try:
        return wait_for("snapshot " + status, check, timeout=timeout)
    except AssertionError:
        raise AssertionError("snapshot is %s, not %s" % (last.get("s"), status))


def test_volume_from_a_volume(fake_cloud):
    """A copy of an unplaced volume is blank and available at once; of a
    placed one it is made on its host (creating -> available); the source
    cannot go meanwhile; another project's volume is no source."""
    nubod, hostd, admin, tenant = fake_cloud
    assert vol(tenant, "empty", 2).status_code == 201
    r = tenant.post("/v1/volumes", {"name": "e2", "source": {"volume": "empty"}})
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["size_gib"], r.json()["host_id"]) == \
        ("available", 2, None)
    a = running(tenant, "a")
    v = vol(tenant, "data", 2).json()
    assert act(tenant, "data", action="attach", instance=a).status_code == 200
    vol_status(tenant, "data", "in-use")
    assert_problem(tenant.post("/v1/volumes", {"name": "c", "size_gib": 1,
                                               "source": {"volume": "data"}}), 400, "at least")
    other = make_tenant(nubod, admin)
    assert_problem(other.post("/v1/volumes", {"name": "c", "source": {"volume": v["id"]}}), 404)
    assert hostd.stop() == 0
    r = tenant.post("/v1/volumes", {"name": "copy", "source": {"volume": "data"}})
    assert r.status_code == 201, r.text
    c = r.json()
    placed_on = tenant.get("/v1/volumes/data").json()["host_id"]
    assert placed_on and (c["status"], c["source_volume"], c["host_id"]) == \
        ("creating", v["id"], placed_on)
    assert act(tenant, "data", action="detach").status_code == 200
    hostd.start()
    vol_status(tenant, "data", "available")
    vol_status(tenant, "copy", "available")
    assert hostd.call("GET", "/v1/volumes/" + c["id"])[0] == 200
    assert tenant.delete("/v1/volumes/copy").status_code == 204
    assert tenant.delete("/v1/volumes/data").status_code == 204
    # a source being copied cannot go
    w = vol(tenant, "w", 1).json()
    assert act(tenant, "w", action="attach", instance=a).status_code == 200
    vol_status(tenant, "w", "in-use")
    assert act(tenant, "w", action="detach").status_code == 200
    vol_status(tenant, "w", "available")
    assert hostd.stop() == 0
    assert tenant.post("/v1/volumes", {"name": "wc", "source": {"volume": "w"}}).status_code == 201
    assert_problem(tenant.delete("/v1/volumes/w"), 409, "being made from volume 'w'")
    hostd.start()
    vol_status(tenant, "wc", "available")
    assert tenant.delete("/v1/volumes/w").status_code == 204
    assert w["id"]


def test_snapshot_of_an_unplaced_volume(nubod, admin):
    """A volume that never was on a host has no data: its snapshot is empty
    and available at once; a volume from it is a blank volume."""
    m = make_tenant(nubod, admin)
    v = vol(m, "data", 4).json()
    r = snap(m, "data", "before")
    assert r.status_code == 201, r.text
    s = r.json()
    assert (s["name"], s["volume_id"], s["volume"], s["size_gib"], s["status"], s["host_id"],
            s["fault"]) == ("before", v["id"], "data", 4, "available", None, None)
    assert m.get("/v1/snapshots/" + s["id"]).json() == s
    assert m.get("/v1/snapshots/before").json()["id"] == s["id"]
    assert [x["id"] for x in m.get("/v1/snapshots").json()["snapshots"]] == [s["id"]]
    # rename
    r = m.patch("/v1/snapshots/before", {"name": "b4"})
    assert r.status_code == 200 and r.json()["name"] == "b4", r.text
    assert_problem(m.get("/v1/snapshots/before"), 404)
    # a volume with snapshots cannot go
    assert_problem(m.delete("/v1/volumes/data"), 409, "has 1 snapshot (e.g. 'b4'); delete them")
    # a volume from it: its size by default, larger on request, never smaller
    r = m.post("/v1/volumes", {"name": "copy", "source": {"snapshot": "b4"}})
    assert r.status_code == 201, r.text
    c = r.json()
    assert (c["size_gib"], c["status"], c["host_id"], c["source_snapshot"]) == \
        (4, "available", None, None)
    r = m.post("/v1/volumes", {"name": "big", "size_gib": 6, "source": {"snapshot": s["id"]}})
    assert r.status_code == 201 and r.json()["size_gib"] == 6, r.text
    assert_problem(m.post("/v1/volumes", {"name": "small", "size_gib": 3,
                                          "source": {"snapshot": "b4"}}), 400, "at least")
    # paging
    assert snap(m, "data", "second").status_code == 201
    p1 = m.get("/v1/snapshots?limit=1").json()
    assert [x["name"] for x in p1["snapshots"]] == ["b4"] and p1["next_marker"] == s["id"]
    p2 = m.get("/v1/snapshots?limit=1&marker=" + s["id"]).json()
    assert [x["name"] for x in p2["snapshots"]] == ["second"] and p2["next_marker"] is None
    # delete: at once (no host), then the volume can go
    assert m.delete("/v1/snapshots/b4").status_code == 204
    assert m.delete("/v1/snapshots/second").status_code == 204
    assert_problem(m.get("/v1/snapshots/b4"), 404)
    assert_problem(m.delete("/v1/snapshots/b4"), 404)
    assert m.delete("/v1/volumes/data").status_code == 204
    acts = {a["action"] for a in admin.get("/v1/audit?project=%s" % m.project).json()["audit"]}
    assert {"snapshot.create", "snapshot.update", "snapshot.delete"} <= acts, acts


@pytest.mark.parametrize("body,status,detail", [
    ({"name": "s"}, 400, "volume_id"),
    ({"volume_id": "v"}, 400, "name"),
    ({"volume_id": "v", "name": ""}, 400, "name"),
    ({"volume_id": "v", "name": "a b"}, 400, "name"),
    ({"volume_id": "v", "name": "x" * 64}, 400, "name"),
    ({"volume_id": "v", "name": 3}, 400, "name"),
    ({"volume_id": 3, "name": "s"}, 400, "volume_id"),
    ({"volume_id": "v", "name": "5f0c4a2e-8a64-4b8e-9d61-0c7f4a1b2c3d"}, 400, "look like an id"),
    ({"volume_id": "v", "name": "s", "size_gib": 1}, 400, "size_gib"),
    ({"volume_id": "nope", "name": "s"}, 404, "no volume 'nope'"),
    ({"volume_id": "5f0c4a2e-8a64-4b8e-9d61-0c7f4a1b2c3d", "name": "s"}, 404, "no volume"),
])
def test_bad_snapshot_create_changes_nothing(nubod, admin, body, status, detail):
    m = make_tenant(nubod, admin)
    assert vol(m, "v", 1).status_code == 201
    assert_problem(m.post("/v1/snapshots", body), status, detail)
    assert m.get("/v1/snapshots").json()["snapshots"] == []
    assert quota(admin, m.project)["usage"]["snapshots"] == 0


@pytest.mark.parametrize("source,status,detail", [
    ({"snapshot": "nope"}, 404, "no snapshot 'nope'"),
    ({"snapshot": 5}, 400, "source"),
    ({"image": "nubo-tiny"}, 400, "not built yet"),
    ({"volume": 5}, 400, "source"),
    ({"volume": "nope"}, 404, "no volume 'nope'"),
    ({"snapshot": "s", "volume": "v"}, 400, "source"),
    ({}, 400, "source"),
    ("s", 400, "source"),
    ({"snapshot": "s", "image": "x"}, 400, "source"),
])
def test_bad_volume_source_changes_nothing(nubod, admin, source, status, detail):
    m = make_tenant(nubod, admin)
    assert vol(m, "v", 1).status_code == 201 and snap(m, "v", "s").status_code == 201
    assert_problem(m.post("/v1/volumes", {"name": "n", "source": source}), status, detail)
    assert [x["name"] for x in m.get("/v1/volumes").json()["volumes"]] == ["v"]


def test_isolation_and_roles(nubod, admin):
    a = make_tenant(nubod, admin)
    b = make_tenant(nubod, admin)
    reader = make_tenant(nubod, admin, role="reader", project=a.project)
    assert vol(a, "secret", 1).status_code == 201
    s = snap(a, "secret", "mine").json()
    for ref in (s["id"], "mine"):
        assert_problem(b.get("/v1/snapshots/" + ref), 404)
        assert_problem(b.patch("/v1/snapshots/" + ref, {"name": "x"}), 404)
        assert_problem(b.delete("/v1/snapshots/" + ref), 404)
        assert_problem(b.post("/v1/volumes", {"name": "steal", "source": {"snapshot": ref}}),
                       404)
    assert_problem(snap(b, "secret", "theirs"), 404, "no volume")
    assert b.get("/v1/snapshots").json()["snapshots"] == []
    assert_problem(b.get("/v1/snapshots?marker=" + s["id"]), 400)
    assert b.get("/v1/volumes").json()["volumes"] == []
    # readers read and change nothing
    assert reader.get("/v1/snapshots/mine").json()["id"] == s["id"]
    assert_problem(snap(reader, "secret", "r"), 403)
    assert_problem(reader.patch("/v1/snapshots/mine", {"name": "r"}), 403)
    assert_problem(reader.delete("/v1/snapshots/mine"), 403)
    assert a.get("/v1/snapshots/mine").json() == s


def test_snapshot_quotas(nubod, admin):
    m = make_tenant(nubod, admin)
    q = quota(admin, m.project)
    assert (q["limits"]["snapshots"], q["usage"]["snapshots"]) == (10, 0)
    assert admin.put("/v1/projects/%s/quota" % m.project,
                     {"snapshots": 2, "volume_gib": 20}).status_code == 200
    assert vol(m, "a", 6).status_code == 201
    assert snap(m, "a", "s1").status_code == 201
    q = quota(admin, m.project)
    assert (q["usage"]["snapshots"], q["usage"]["volume_gib"]) == (1, 12)
    assert snap(m, "a", "s2").status_code == 201
    assert_problem(snap(m, "a", "s3"), 403, "uses 2 of 2 volume snapshots")
    assert m.delete("/v1/snapshots/s2").status_code == 204
    # snapshots count in volume_gib: 6 + 6 used, 20 allowed
    assert_problem(vol(m, "b", 9), 403, "GiB of volumes and snapshots")
    assert vol(m, "b", 8).status_code == 201
    assert_problem(snap(m, "b", "s3"), 403, "GiB of volumes and snapshots")
    assert_problem(m.post("/v1/volumes", {"name": "c", "source": {"snapshot": "s1"}}), 403)
    assert [x["name"] for x in m.get("/v1/snapshots").json()["snapshots"]] == ["s1"]
    q = quota(admin, m.project)
    assert (q["usage"]["snapshots"], q["usage"]["volume_gib"]) == (1, 20)


def test_snapshot_names_and_busy_volumes(fake_cloud):
    nubod, hostd, admin, tenant = fake_cloud
    assert vol(tenant, "v", 1).status_code == 201
    assert snap(tenant, "v", "s").status_code == 201
    assert_problem(snap(tenant, "v", "s"), 409, "named 's' already")
    assert snap(tenant, "v", "t").status_code == 201
    assert_problem(tenant.patch("/v1/snapshots/t", {"name": "s"}), 409)
    assert_problem(tenant.patch("/v1/snapshots/t", {"volume_id": "x"}), 400)
    # a volume being attached or detached takes no snapshot
    a = running(tenant, "a")
    hostd.stop()
    assert act(tenant, "v", action="attach", instance=a).status_code == 200
    assert_problem(snap(tenant, "v", "u"), 409, "attaching")
    hostd.start()
    vol_status(tenant, "v", "in-use")


def test_snapshot_and_copy_on_the_host(fake_cloud):
    """A placed volume's snapshot is taken by its host (creating ->
    available), a volume from it is made there (creating -> available), a
    snapshot a copy is being made from cannot go, deletes leave nothing on
    the agent."""
    nubod, hostd, admin, tenant = fake_cloud
    a = running(tenant, "a")
    v = vol(tenant, "data", 2).json()
    assert act(tenant, "data", action="attach", instance=a).status_code == 200
    vol_status(tenant, "data", "in-use")
    host_id = admin.get("/v1/hosts/fake-1").json()["id"]
    r = snap(tenant, "data", "s1")
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["host_id"]) == ("creating", host_id)
    s = snap_status(tenant, "s1", "available")
    st, rec = hostd.call("GET", "/v1/volumes/" + v["id"])
    assert st == 200 and [x["id"] for x in rec["snapshots"]] == [s["id"]], rec

    # the agent down: the copy stays creating; its snapshot cannot go meanwhile
    assert hostd.stop() == 0
    r = tenant.post("/v1/volumes", {"name": "copy", "size_gib": 3, "source": {"snapshot": "s1"}})
    assert r.status_code == 201, r.text
    c = r.json()
    assert (c["status"], c["host_id"], c["source_snapshot"], c["size_gib"]) == \
        ("creating", host_id, s["id"], 3)
    assert_problem(tenant.delete("/v1/snapshots/s1"), 409, "being made from snapshot 's1'")
    assert_problem(tenant.delete("/v1/volumes/copy"), 409, "creating")
    assert_problem(act(tenant, "copy", action="attach", instance=a), 409, "creating")
    assert_problem(snap(tenant, "copy", "s2"), 409, "creating")
    hostd.start()
    vol_status(tenant, "copy", "available")
    st, rec = hostd.call("GET", "/v1/volumes/" + c["id"])
    assert st == 200 and rec["size_bytes"] == 3 << 30, rec
    # the copy attaches like any volume of the host
    assert act(tenant, "copy", action="attach", instance=a).status_code == 200
    vol_status(tenant, "copy", "in-use")

    # delete: the snapshot goes from the host, then the volume can go
    assert act(tenant, "data", action="detach").status_code == 200
    vol_status(tenant, "data", "available")
    assert_problem(tenant.delete("/v1/volumes/data"), 409, "has 1 snapshot (e.g. 's1')")
    assert tenant.delete("/v1/snapshots/s1").status_code == 204
    wait_for("snapshot gone", lambda: tenant.get("/v1/snapshots/s1").status_code == 404)
    assert hostd.call("GET", "/v1/volumes/" + v["id"])[1]["snapshots"] == []
    assert tenant.delete("/v1/volumes/data").status_code == 204
    wait_for("volume gone", lambda: tenant.get("/v1/volumes/data").status_code == 404)


@pytest.mark.parametrize("driver", ["fake", "qemu"])
def test_agent_snapshots(tmp_path, driver):
    """The agent's side (host-protocol.md): take (idempotent), list in the
    record, copy into a new volume, drop; bad input; with the qemu driver
    the data path on real qcow2 files (qemu-io writes patterns)."""
    import os
    import subprocess
    import uuid
    from test_volumes import Agent
    a = Agent(tmp_path, driver).start()

    def qio(path, cmd):
        subprocess.run(["qemu-io", "-f", "qcow2", "-c", cmd, path], check=True,
                       capture_output=True)
    try:
        vid, sid, cid = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
        data = os.path.join(a.state, "volumes", vid + ".qcow2")
        copy = os.path.join(a.state, "volumes", cid + ".qcow2")
        assert a.call("POST", "/v1/volumes", {"id": vid, "size_gib": 1})[0] == 201
        if driver == "qemu":
            qio(data, "write -P 0xab 0 1M")
        path = "/v1/volumes/%s/snapshots" % vid
        for bad in ({}, {"id": "x"}, {"id": sid, "name": "n"}, [sid]):
            st, p = a.call("POST", path, bad)
            assert st == 400, (bad, st, p)
        assert a.call("POST", "/v1/volumes/%s/snapshots" % uuid.uuid4(), {"id": sid})[0] == 404
        st, s = a.call("POST", path, {"id": sid})
        assert st == 201 and s["id"] == sid, (st, s)
        assert a.call("POST", path, {"id": sid}) == (200, s)
        assert a.call("GET", "/v1/volumes/" + vid)[1]["snapshots"] == [s]
        assert a.call("GET", path)[0] == 405
        if driver == "qemu":
            qio(data, "write -P 0xcd 0 1M")  # after the snapshot
            out = subprocess.check_output(["qemu-img", "snapshot", "-l", "-U", data], text=True)
            assert out.count(sid) == 1, out
        # a copy of the snapshot, grown to 2 GiB
        for bad in ({"snapshot_id": sid}, {"volume_id": vid, "snapshot_id": "x"},
                    {"volume_id": vid, "snapshot_id": sid, "x": 1}):
            st, p = a.call("POST", "/v1/volumes", {"id": cid, "size_gib": 2, "source": bad})
            assert st == 400 and "source" in p["detail"], (bad, st, p)
        st, p = a.call("POST", "/v1/volumes", {"id": cid, "size_gib": 2, "source": {
            "volume_id": vid, "snapshot_id": str(uuid.uuid4())}})
        assert st == 400 and "no snapshot" in p["detail"], p
        st, c = a.call("POST", "/v1/volumes", {"id": cid, "size_gib": 2, "source": {
            "volume_id": vid, "snapshot_id": sid}})
        assert st == 201 and c["size_bytes"] == 2 << 30, (st, c)
        if driver == "qemu":
            qio(copy, "read -P 0xab 0 1M")    # the data before the snapshot
            qio(data, "read -P 0xcd 0 1M")    # the volume moved on
            out = subprocess.check_output(["qemu-img", "info", "-U", copy], text=True)
            assert "backing file" not in out and "2 GiB" in out, out
        # a copy of the volume as it is now (no VM holds it): pattern 0xcd
        did = str(uuid.uuid4())
        st, d = a.call("POST", "/v1/volumes", {"id": did, "size_gib": 1,
                                               "source": {"volume_id": vid}})
        assert st == 201 and d["size_bytes"] == 1 << 30, (st, d)
        st, p = a.call("POST", "/v1/volumes", {"id": str(uuid.uuid4()), "size_gib": 1,
                                               "source": {"volume_id": str(uuid.uuid4())}})
        assert st == 400 and "no volume" in p["detail"], p
        if driver == "qemu":
            qio(os.path.join(a.state, "volumes", did + ".qcow2"), "read -P 0xcd 0 1M")
        assert a.call("DELETE", "/v1/volumes/" + did)[0] == 204
        # drop: idempotent through the record; a restart keeps the record
        assert a.stop() == 0
        a.start()
        assert a.call("GET", "/v1/volumes/" + vid)[1]["snapshots"] == [s]
        assert a.call("DELETE", "%s/%s" % (path, sid)) == (204, None)
        assert a.call("DELETE", "%s/%s" % (path, sid))[0] == 404
        assert a.call("DELETE", "%s/%s/x" % (path, sid))[0] == 404
        assert a.call("GET", "/v1/volumes/" + vid)[1]["snapshots"] == []
        if driver == "qemu":
            out = subprocess.check_output(["qemu-img", "snapshot", "-l", "-U", data], text=True)
            assert sid not in out, out
        assert a.call("DELETE", "/v1/volumes/" + vid)[0] == 204
        assert a.call("DELETE", "/v1/volumes/" + cid)[0] == 204
    finally:
        assert a.stop() == 0, a.log()


def test_snapshot_gib_seconds_are_metered(clocked):
    nubod, clock = clocked, clocked.clock
    admin = apikey_client(nubod, nubod.admin())
    clock.set(T0 + H)
    assert vol(admin, "m", 10).status_code == 201
    clock.set(T0 + 2 * H)
    s = snap(admin, "m", "s").json()
    clock.set(T0 + 3 * H)
    assert admin.patch("/v1/snapshots/s", {"name": "t"}).status_code == 200
    clock.set(T0 + 5 * H)
    assert admin.delete("/v1/snapshots/t").status_code == 204
    clock.set(T0 + 9 * H)
    recs = admin.get("/v1/usage?meter=snapshot").json()["usage"]
    assert [(x["resource_id"], x["size"], x["start"], x["end"]) for x in recs] == [
        (s["id"], 10, iso(T0 + 2 * H), iso(T0 + 5 * H))], recs


# ------------------------------------------------------------ kill -9

from test_crash import FaultNubod, cloud, kill_during  # noqa: E402,F401 (cloud: fixture)

CRASH_POINTS = ["snapshot.create.committed", "snapshot.taken", "snapshot.dropped",
                "volume.copy.made"]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_snapshot_paths_survive_kill9(cloud, point):
    """nubod is killed at each new transition of the snapshot paths
    (docs/internals/fault-injection.md), restarted without the fault:
    nothing stays creating or deleting, the agent holds exactly what the
    rows say, one usage record per snapshot."""
    import uuid
    from test_hosts import wait_status
    nubod, hostd = cloud
    admin = nubod.admin()
    r = admin.post("/v1/instances", {"name": "a", "flavor": "f", "image": "img"})
    assert r.status_code == 202, r.text
    iid = r.json()["instances"][0]["id"]
    wait_status(admin, iid, "running")
    v = vol(admin, "data", 1).json()
    assert act(admin, "data", action="attach", instance=iid).status_code == 200
    vol_status(admin, "data", "in-use")

    def agent_snaps():
        return [x["id"] for x in hostd.call("GET", "/v1/volumes/" + v["id"])[1]["snapshots"]]

    if point == "snapshot.create.committed":
        import requests
        body = {"volume_id": "data", "name": "s"}
        hdr = {"Idempotency-Key": "k-" + uuid.uuid4().hex, "Authorization": "Bearer " +
               admin.token}
        kill_during(nubod, point, "/v1/snapshots", body, hdr)

        answers = []

        def retried():
            r = requests.post(nubod.base + "/v1/snapshots", json=body, headers=hdr, timeout=60)
            if r.status_code == 409 and "in progress" in r.text:
                return None
            answers.append(r)
            return True
        wait_for("the retry's answer", retried, timeout=30)
        r = answers[0]
        assert r.status_code == 201, r.text
        admin = nubod.admin()
    else:
        if point != "snapshot.taken":
            assert snap(admin, "data", "s").status_code == 201
            snap_status(admin, "s", "available")
        nubod.restart(fault=point)
        admin = nubod.admin()
        if point == "snapshot.taken":
            assert snap(admin, "data", "s").status_code == 201
        elif point == "snapshot.dropped":
            assert admin.delete("/v1/snapshots/s").status_code == 204
        else:
            r = admin.post("/v1/volumes", {"name": "copy", "source": {"snapshot": "s"}})
            assert r.status_code == 201 and r.json()["status"] == "creating", r.text
        nubod.wait_killed(point)
        nubod.start()
        admin = nubod.admin()
    snaps = admin.get("/v1/snapshots").json()["snapshots"]
    if point == "snapshot.dropped":
        wait_for("snapshot gone", lambda: admin.get("/v1/snapshots/s").status_code == 404)
        assert agent_snaps() == []
        recs = admin.get("/v1/usage?meter=snapshot").json()["usage"]
        assert len(recs) == 1 and recs[0]["end"] is not None, recs
        return
    assert len(snaps) == 1, snaps
    s = snap_status(admin, "s", "available")
    assert agent_snaps() == [s["id"]]
    recs = admin.get("/v1/usage?meter=snapshot").json()["usage"]
    assert [(x["resource_id"], x["end"]) for x in recs] == [(s["id"], None)], recs
    if point == "volume.copy.made":
        c = vol_status(admin, "copy", "available")
        assert hostd.call("GET", "/v1/volumes/" + c["id"])[0] == 200
        assert len(admin.get("/v1/volumes").json()["volumes"]) == 2


def test_cli(nubod, tmp_path):
    from test_cli_cloud import Cli, table
    cli = Cli(tmp_path, nubod.base)
    cli.login("admin", nubod.admin_password, "admin")
    v = cli.json("volume", "create", "data", "--size", "2G")
    s = cli.json("snapshot", "create", "data", "before")
    assert (s["name"], s["volume_id"], s["size_gib"], s["status"]) == \
        ("before", v["id"], 2, "available")
    rows = table(cli.ok("snapshot", "list").stdout)
    assert rows[0] == ["NAME", "ID", "VOLUME", "SIZE", "STATUS"], rows
    assert rows[1] == ["before", s["id"], "data", "2.0G", "available"], rows
    assert cli.json("snapshot", "rename", "before", "b4")["name"] == "b4"
    assert "b4" in cli.ok("snapshot", "show", s["id"]).stdout
    c = cli.json("volume", "create", "copy", "--snapshot", "b4")
    assert (c["size_gib"], c["status"]) == (2, "available"), c
    assert cli.json("volume", "create", "big", "--snapshot", "b4", "--size", "3")["size_gib"] == 3
    assert cli.json("volume", "create", "dup", "--source-volume", "data")["size_gib"] == 2
    r = cli.run("volume", "create", "both", "--snapshot", "b4", "--source-volume", "data")
    assert r.returncode == 2 and "exclude" in r.stderr, r.stderr
    r = cli.run("volume", "create", "small", "--snapshot", "b4", "--size", "1")
    assert r.returncode != 0 and "at least" in r.stderr, r.stderr
    r = cli.run("volume", "create", "x")
    assert r.returncode == 2 and "--size SIZE is required" in r.stderr, r.stderr
    r = cli.run("snapshot", "create", "data")
    assert r.returncode == 2, r.stderr
    r = cli.run("snapshot", "create", "data", "bad name")
    assert r.returncode == 2 and "NAME" in r.stderr, r.stderr
    r = cli.run("volume", "delete", "data")
    assert r.returncode != 0 and "snapshot" in r.stderr, r.stderr
    cli.ok("snapshot", "delete", "b4")
    assert cli.json("snapshot", "list")["snapshots"] == []
    cli.ok("volume", "delete", "data")
    assert "snapshots" in cli.ok("quota", "show", "admin").stdout
    assert "nubo snapshot" in cli.ok("snapshot", "--help").stdout
