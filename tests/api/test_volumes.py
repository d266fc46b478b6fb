"""Block storage, first slice (issue 14; docs/internals/storage.md): volume
types, volumes (create, list, show, rename, extend, delete), bad input,
tenant isolation, quotas (also under concurrency), audit, metering and the
project-delete hook."""
import concurrent.futures
import sqlite3
import os
import time

import pytest

from conftest import Client, assert_problem, make_tenant
from test_billing import H, T0, apikey_client, clocked, iso  # noqa: F401 (clocked: fixture)


def vol(c, name="v1", size=10, **kw):
    body = {"name": name, "size_gib": size}
    body.update(kw)
    return c.post("/v1/volumes", body)


def test_volume_types(nubod, admin):
    t = admin.get("/v1/volume-types").json()
    assert [(x["name"], x["backend"]) for x in t["volume_types"]] == [("local", "local")]
    assert t["next_marker"] is None
    m = make_tenant(nubod, admin)
    assert m.get("/v1/volume-types").json()["volume_types"][0]["name"] == "local"
    assert_problem(m.post("/v1/volume-types", {"name": "fast"}), 403)
    assert_problem(admin.post("/v1/volume-types", {"name": "x", "backend": "ceph"}), 400,
                   "backend must be 'local'")
    assert_problem(admin.post("/v1/volume-types", {"name": "bad name"}), 400)
    assert_problem(admin.post("/v1/volume-types", {"name": "local"}), 409)
    r = admin.post("/v1/volume-types", {"name": "fast", "description": "NVMe"})
    assert r.status_code == 201, r.text
    assert r.json()["backend"] == "local"
    assert [x["name"] for x in admin.get("/v1/volume-types").json()["volume_types"]] == \
        ["local", "fast"]
    page = admin.get("/v1/volume-types?limit=1").json()
    assert len(page["volume_types"]) == 1 and page["next_marker"]
    assert admin.get("/v1/volume-types?marker=" + page["next_marker"]).json()[
        "volume_types"][0]["name"] == "fast"
    r = vol(m, "f", 1, type="fast")
    assert r.status_code == 201 and r.json()["type"] == "fast", r.text
    assert_problem(admin.delete("/v1/volume-types/fast"), 409, "used by 1 volume")
    assert_problem(admin.delete("/v1/volume-types/local"), 409, "default")
    assert_problem(m.delete("/v1/volume-types/fast"), 403)
    assert m.delete("/v1/volumes/f").status_code == 204
    assert admin.delete("/v1/volume-types/fast").status_code == 204
    assert_problem(admin.delete("/v1/volume-types/fast"), 404)
    assert_problem(vol(m, "g", 1, type="fast"), 400, "volume type")


def test_volume_lifecycle(nubod, admin):
    m = make_tenant(nubod, admin)
    r = vol(m, "data", 10)
    assert r.status_code == 201, r.text
    v = r.json()
    assert (v["name"], v["size_gib"], v["type"], v["backend"], v["status"], v["host_id"],
            v["attached_to"], v["fault"]) == ("data", 10, "local", "local", "available", None,
                                              None, None)
    assert m.get("/v1/volumes/" + v["id"]).json() == v
    assert m.get("/v1/volumes/data").json()["id"] == v["id"]
    assert_problem(vol(m, "data", 1), 409, "named 'data' already")
    # rename
    r = m.patch("/v1/volumes/data", {"name": "logs"})
    assert r.status_code == 200 and r.json()["name"] == "logs", r.text
    assert_problem(m.get("/v1/volumes/data"), 404)
    assert vol(m, "other", 1).status_code == 201
    assert_problem(m.patch("/v1/volumes/logs", {"name": "other"}), 409)
    assert_problem(m.patch("/v1/volumes/logs", {"name": "a b"}), 400)
    assert_problem(m.patch("/v1/volumes/logs", {"size_gib": 3}), 400)
    # extend
    r = m.post("/v1/volumes/logs/actions", {"action": "extend", "size_gib": 20})
    assert r.status_code == 200 and r.json()["size_gib"] == 20, r.text
    for bad in (20, 5, 0, -1, 16385, 1.5, "30", None, True):
        r = m.post("/v1/volumes/logs/actions", {"action": "extend", "size_gib": bad})
        assert_problem(r, 400)
    assert_problem(m.post("/v1/volumes/logs/actions", {"action": "shrink", "size_gib": 3}), 400)
    assert_problem(m.post("/v1/volumes/logs/actions", {"action": "extend"}), 400)
    assert m.get("/v1/volumes/logs").json()["size_gib"] == 20
    # list, paged
    names = [x["name"] for x in m.get("/v1/volumes").json()["volumes"]]
    assert names == ["logs", "other"]
    p1 = m.get("/v1/volumes?limit=1").json()
    assert [x["name"] for x in p1["volumes"]] == ["logs"] and p1["next_marker"] == v["id"]
    p2 = m.get("/v1/volumes?limit=1&marker=" + p1["next_marker"]).json()
    assert [x["name"] for x in p2["volumes"]] == ["other"] and p2["next_marker"] is None
    assert_problem(m.get("/v1/volumes?marker=00000000-0000-4000-8000-000000000000"), 400)
    # delete
    assert m.delete("/v1/volumes/logs").status_code == 204
    assert_problem(m.get("/v1/volumes/" + v["id"]), 404)
    assert_problem(m.delete("/v1/volumes/logs"), 404)
    # audit, by route action
    acts = [a["action"] for a in admin.get("/v1/audit?project=%s" % m.project).json()["audit"]
            if a["action"].startswith("volume.")]
    for a in ("volume.create", "volume.update", "volume.action", "volume.delete"):
        assert a in acts, acts


@pytest.mark.parametrize("body,detail", [
    ({"name": "v", "size_gib": 0}, "from 1 to 16384"),
    ({"name": "v", "size_gib": -5}, "from 1 to 16384"),
    ({"name": "v", "size_gib": 16385}, "from 1 to 16384"),
    ({"name": "v", "size_gib": 2 ** 62}, "from 1 to 16384"),
    ({"name": "v", "size_gib": 1e30}, "size_gib"),
    ({"name": "v", "size_gib": 1.5}, "size_gib"),
    ({"name": "v", "size_gib": 1.0}, "size_gib"),
    ({"name": "v", "size_gib": "10"}, "size_gib"),
    ({"name": "v", "size_gib": "10G"}, "size_gib"),
    ({"name": "v", "size_gib": None}, "size_gib"),
    ({"name": "v", "size_gib": [1]}, "size_gib"),
    ({"name": "v"}, "size_gib"),
    ({"size_gib": 1}, "name"),
    ({"name": "", "size_gib": 1}, "name"),
    ({"name": "a/b", "size_gib": 1}, "name"),
    ({"name": "x" * 64, "size_gib": 1}, "name"),
    ({"name": 5, "size_gib": 1}, "name"),
    ({"name": "5f0c4a2e-8a64-4b8e-9d61-0c7f4a1b2c3d", "size_gib": 1}, "look like an id"),
    ({"name": "v", "size_gib": 1, "type": "nope"}, "volume type"),
    ({"name": "v", "size_gib": 1, "type": 3}, "type"),
    ({"name": "v", "size_gib": 1, "source": {"image": "x"}}, "source"),
])
def test_bad_create_changes_nothing(nubod, admin, body, detail):
    m = make_tenant(nubod, admin)
    assert_problem(m.post("/v1/volumes", body), 400, detail)
    assert m.get("/v1/volumes").json()["volumes"] == []
    r = m.req("POST", "/v1/volumes", data=b"{not json",
              headers={"Content-Type": "application/json"})
    assert r.status_code == 400


def test_isolation(nubod, admin):
    a = make_tenant(nubod, admin)
    b = make_tenant(nubod, admin)
    reader = make_tenant(nubod, admin, role="reader", project=a.project)
    v = vol(a, "secret", 3).json()
    vid = v["id"]
    for ref in (vid, "secret"):
        assert_problem(b.get("/v1/volumes/" + ref), 404)
        assert_problem(b.patch("/v1/volumes/" + ref, {"name": "x"}), 404)
        assert_problem(b.post("/v1/volumes/%s/actions" % ref,
                              {"action": "extend", "size_gib": 9}), 404)
        assert_problem(b.delete("/v1/volumes/" + ref), 404)
    assert b.get("/v1/volumes").json()["volumes"] == []
    assert_problem(b.get("/v1/volumes?marker=" + vid), 400)
    # the same name in another project is fine
    assert vol(b, "secret", 1).status_code == 201
    # readers read, and change nothing
    assert reader.get("/v1/volumes/secret").json()["id"] == vid
    assert_problem(vol(reader, "r", 1), 403)
    assert_problem(reader.delete("/v1/volumes/secret"), 403)
    assert_problem(reader.patch("/v1/volumes/secret", {"name": "x"}), 403)
    assert a.get("/v1/volumes/secret").json() == v
    # unauthenticated
    anon = Client(nubod.base)
    assert anon.get("/v1/volumes").status_code == 401


def quota(admin, project):
    return admin.get("/v1/projects/%s/quota" % project).json()


def test_quotas(nubod, admin):
    m = make_tenant(nubod, admin)
    q = quota(admin, m.project)
    assert (q["limits"]["volumes"], q["limits"]["volume_gib"]) == (10, 1000)
    assert (q["usage"]["volumes"], q["usage"]["volume_gib"]) == (0, 0)
    assert admin.put("/v1/projects/%s/quota" % m.project,
                       {"volumes": 2, "volume_gib": 15}).status_code == 200
    assert vol(m, "a", 10).status_code == 201
    p = assert_problem(vol(m, "b", 6), 403, "quota exceeded")
    assert "GiB of volumes" in p["detail"], p
    assert vol(m, "b", 5).status_code == 201
    assert_problem(vol(m, "c", 1), 403, "uses 2 of 2 volumes")
    assert_problem(m.post("/v1/volumes/a/actions", {"action": "extend", "size_gib": 11}), 403,
                   "GiB of volumes")
    q = quota(admin, m.project)
    assert (q["usage"]["volumes"], q["usage"]["volume_gib"]) == (2, 15)
    assert m.get("/v1/volumes/a").json()["size_gib"] == 10
    assert m.delete("/v1/volumes/b").status_code == 204
    assert m.post("/v1/volumes/a/actions", {"action": "extend", "size_gib": 15}).status_code == 200
    assert quota(admin, m.project)["usage"]["volume_gib"] == 15


def test_quota_holds_under_concurrency(nubod, admin):
    m = make_tenant(nubod, admin)
    assert admin.put("/v1/projects/%s/quota" % m.project, {"volumes": 3}).status_code == 200

    def one(i):
        c = Client(m.base, m.token)
        return vol(c, "c%d" % i, 1).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        codes = list(ex.map(one, range(12)))
    assert sorted(codes) == [201] * 3 + [403] * 9, codes
    assert len(m.get("/v1/volumes").json()["volumes"]) == 3


def test_project_delete_refused_while_volumes_exist(nubod, admin):
    m = make_tenant(nubod, admin)
    assert vol(m, "keep", 1).status_code == 201
    assert_problem(admin.delete("/v1/projects/" + m.project), 409,
                   "still has 1 volume (e.g. 'keep'); delete them first")
    assert m.get("/v1/volumes/keep").status_code == 200
    assert m.delete("/v1/volumes/keep").status_code == 204
    assert admin.delete("/v1/projects/" + m.project).status_code == 204


def test_volume_gib_seconds_are_metered(clocked):
    nubod, clock = clocked, clocked.clock
    admin = apikey_client(nubod, nubod.admin())
    clock.set(T0 + H)
    v = vol(admin, "m", 10).json()
    clock.set(T0 + 3 * H)
    assert admin.post("/v1/volumes/m/actions",
                      {"action": "extend", "size_gib": 25}).status_code == 200
    clock.set(T0 + 4 * H)
    assert admin.patch("/v1/volumes/m", {"name": "n"}).status_code == 200
    clock.set(T0 + 7 * H)
    assert admin.delete("/v1/volumes/n").status_code == 204
    clock.set(T0 + 9 * H)
    recs = admin.get("/v1/usage?meter=volume").json()["usage"]
    assert [(x["resource_id"], x["size"], x["start"], x["end"]) for x in recs] == [
        (v["id"], 10, iso(T0 + H), iso(T0 + 3 * H)),
        (v["id"], 25, iso(T0 + 3 * H), iso(T0 + 7 * H))], recs


def test_cli(nubod, tmp_path):
    from test_cli_cloud import Cli, table
    cli = Cli(tmp_path, nubod.base)
    cli.login("admin", nubod.admin_password, "admin")
    v = cli.json("volume", "create", "data", "--size", "2G")
    assert (v["name"], v["size_gib"], v["type"], v["status"]) == ("data", 2, "local", "available")
    rows = table(cli.ok("volume", "list").stdout)
    assert rows[0][:5] == ["NAME", "ID", "SIZE", "TYPE", "STATUS"], rows
    assert rows[1][:5] == ["data", v["id"], "2.0G", "local", "available"], rows
    assert cli.json("volume", "extend", "data", "--size", "5")["size_gib"] == 5
    assert cli.json("volume", "rename", "data", "logs")["name"] == "logs"
    assert "5.0G" in cli.ok("volume", "show", "logs").stdout
    assert [t["name"] for t in cli.json("volume", "types")["volume_types"]] == ["local"]
    r = cli.run("volume", "create", "x", "--size", "0")
    assert r.returncode == 2, (r.stdout, r.stderr)
    r = cli.run("volume", "create", "x")
    assert r.returncode == 2 and "--size SIZE is required" in r.stderr, r.stderr
    r = cli.run("volume", "extend", "logs", "--size", "3")
    assert r.returncode != 0 and "larger than" in r.stderr, r.stderr
    cli.ok("volume", "delete", "logs")
    assert cli.json("volume", "list")["volumes"] == []
    q = cli.ok("quota", "show", "admin").stdout
    assert "volume_size" in q and "volumes" in q, q


# ------------------------------------------- the agent's volume store

class Agent:
    """A standalone nubo-hostd (no controller) on a Unix socket."""

    def __init__(self, tmp, driver):
        from conftest import HOSTD
        self.dir = str(tmp)
        self.state = os.path.join(self.dir, "state")
        self.sock = os.path.join(self.dir, "hostd.sock")
        self.log_path = os.path.join(self.dir, "hostd.log")
        os.makedirs(os.path.join(self.dir, "images"), exist_ok=True)
        self.args = [HOSTD, "--driver", driver, "--accel", "tcg", "--state-dir", self.state,
                     "--images-dir", os.path.join(self.dir, "images"), "--socket", self.sock]
        self.proc = None

    def start(self):
        import subprocess
        import time
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        self.logf = open(self.log_path, "ab")
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.proc = subprocess.Popen(self.args, stdout=self.logf, stderr=subprocess.STDOUT,
                                     env=env)
        deadline = time.time() + 60
        while not os.path.exists(self.sock) and self.proc.poll() is None:
            assert time.time() < deadline, self.log()
            time.sleep(0.1)
        assert self.proc.poll() is None, self.log()
        return self

    def stop(self):
        import signal
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        self.logf.close()
        return rc

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-4000:]

    def call(self, method, path, body=None, raw=None):
        import http.client
        import json
        import socket

        sock_path = self.sock

        class Conn(http.client.HTTPConnection):
            def connect(s):
                s.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.sock.connect(sock_path)
        c = Conn("localhost", timeout=60)
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        c.request(method, path, body=data,
                  headers={"Content-Type": "application/json"} if data is not None else {})
        r = c.getresponse()
        out = r.read()
        c.close()
        return r.status, (json.loads(out) if out else None)


@pytest.mark.parametrize("driver", ["fake", "qemu"])
def test_agent_volume_store(tmp_path, driver):
    import json
    import stat
    import subprocess
    import uuid
    a = Agent(tmp_path, driver).start()
    try:
        vid = str(uuid.uuid4())
        data = os.path.join(a.state, "volumes", vid + ".qcow2")
        rec = os.path.join(a.state, "volumes", vid + ".json")
        assert a.call("GET", "/v1/volumes") == (200, {"volumes": []})
        for bad in ({"id": vid, "size_gib": 0}, {"id": vid, "size_gib": -1},
                    {"id": vid, "size_gib": 16385}, {"id": vid, "size_gib": 1.5},
                    {"id": vid, "size_gib": "2"}, {"id": vid}, {"size_gib": 2},
                    {"id": "../../etc", "size_gib": 2}, {"id": vid, "size_gib": 2, "x": 1}):
            st, p = a.call("POST", "/v1/volumes", bad)
            assert st == 400 and p["detail"], (bad, st, p)
        assert a.call("POST", "/v1/volumes", raw="[1]")[0] == 400
        assert a.call("GET", "/v1/volumes") == (200, {"volumes": []})
        st, v = a.call("POST", "/v1/volumes", {"id": vid, "size_gib": 2})
        assert st == 201 and v["id"] == vid and v["size_bytes"] == 2 << 30, (st, v)
        assert a.call("POST", "/v1/volumes", {"id": vid, "size_gib": 2}) == (200, v)
        st, p = a.call("POST", "/v1/volumes", {"id": vid, "size_gib": 3})
        assert st == 409 and "another size" in p["detail"], p
        assert a.call("GET", "/v1/volumes/" + vid) == (200, v)
        assert stat.S_IMODE(os.stat(rec).st_mode) == 0o600
        if driver == "qemu":
            assert stat.S_IMODE(os.stat(data).st_mode) == 0o600
            info = json.loads(subprocess.check_output(
                ["qemu-img", "info", "--output=json", "-U", data]))
            assert (info["format"], info["virtual-size"]) == ("qcow2", 2 << 30)
        else:
            assert not os.path.exists(data)  # the fake driver keeps records only
        st, v = a.call("POST", "/v1/volumes/%s/resize" % vid, {"size_gib": 5})
        assert st == 200 and v["size_bytes"] == 5 << 30, (st, v)
        st, p = a.call("POST", "/v1/volumes/%s/resize" % vid, {"size_gib": 4})
        assert st == 400 and "only grow" in p["detail"], p
        if driver == "qemu":
            info = json.loads(subprocess.check_output(
                ["qemu-img", "info", "--output=json", "-U", data]))
            assert info["virtual-size"] == 5 << 30
        for path in ("/v1/volumes/nope", "/v1/volumes/%s/x" % vid,
                     "/v1/volumes/" + str(uuid.uuid4())):
            assert a.call("GET", path)[0] == 404, path
        assert a.call("PUT", "/v1/volumes")[0] == 405
        # an agent restart keeps it
        assert a.stop() == 0
        a.start()
        assert a.call("GET", "/v1/volumes")[1]["volumes"] == [v]
        assert a.call("DELETE", "/v1/volumes/" + vid) == (204, None)
        assert not os.path.exists(data) and not os.path.exists(rec)
        assert a.call("DELETE", "/v1/volumes/" + vid)[0] == 404
        assert a.call("GET", "/v1/volumes") == (200, {"volumes": []})
    finally:
        assert a.stop() == 0, a.log()


def test_agent_attach_detach_in_definitions(tmp_path):
    """The fake driver: attachments live in the VM definitions (no QEMU),
    survive an agent restart, and guard the volume's delete."""
    import subprocess
    import uuid
    a = Agent(tmp_path, "fake")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2",
                    os.path.join(a.dir, "images", "tiny.qcow2"), "64M"], check=True)
    a.start()
    try:
        vid, other = str(uuid.uuid4()), str(uuid.uuid4())
        for v in (vid, other):
            assert a.call("POST", "/v1/volumes", {"id": v, "size_gib": 1})[0] == 201
        st, vm1 = a.call("POST", "/v1/vms", {"name": "one", "image": "tiny"})
        assert st == 201, vm1
        assert vm1["volumes"] == []
        assert a.call("POST", "/v1/vms", {"name": "two", "image": "tiny", "start": False})[0] == 201
        for bad in ({}, {"volume_id": "x"}, {"volume_id": vid, "y": 1}, {"volume_id": 3},
                    {"volume_id": str(uuid.uuid4())}):
            st, p = a.call("POST", "/v1/vms/one/volumes", bad)
            assert st == 400, (bad, st, p)
        st, vm = a.call("POST", "/v1/vms/one/volumes", {"volume_id": vid})
        assert st == 200 and vm["volumes"] == [vid], (st, vm)
        assert a.call("POST", "/v1/vms/one/volumes", {"volume_id": vid})[1]["volumes"] == [vid]
        st, p = a.call("POST", "/v1/vms/two/volumes", {"volume_id": vid})
        assert st == 409 and "attached to VM one" in p["detail"], p
        st, p = a.call("DELETE", "/v1/volumes/" + vid)
        assert st == 409 and "detach it first" in p["detail"], p
        # grown while attached to a running VM: online (the fake driver: the record)
        st, v = a.call("POST", "/v1/volumes/%s/resize" % vid, {"size_gib": 2})
        assert st == 200 and v["size_bytes"] == 2 << 30, (st, v)
        assert a.call("POST", "/v1/vms/two/volumes", {"volume_id": other})[0] == 200
        assert a.stop() == 0
        a.start()
        assert a.call("GET", "/v1/vms/one")[1]["volumes"] == [vid]
        assert a.call("GET", "/v1/vms/two")[1]["volumes"] == [other]
        assert a.call("GET", "/v1/vms/one/volumes/" + vid)[0] == 405
        assert a.call("DELETE", "/v1/vms/one/volumes/" + other)[0] == 404
        assert a.call("DELETE", "/v1/vms/one/volumes/%s/x" % vid)[0] == 404
        st, vm = a.call("DELETE", "/v1/vms/one/volumes/" + vid)
        assert st == 200 and vm["volumes"] == [], (st, vm)
        assert a.call("DELETE", "/v1/vms/one/volumes/" + vid)[0] == 404
        assert a.call("DELETE", "/v1/volumes/" + vid)[0] == 204
    finally:
        assert a.stop() == 0, a.log()


# ------------------------------------ attach and detach through the controller

from test_hosts import fake_cloud, wait_for, wait_status  # noqa: E402,F401 (fixture)


def vol_status(c, ref, status, timeout=20):
    last = {}

    def check():
        last["v"] = c.get("/v1/volumes/" + ref).json()
        return last["v"] if last["v"]["status"] == status else None
    try:
        return wait_for("volume " + status, check, timeout=timeout)
    except AssertionError:
        raise AssertionError("volume is %s, not %s" % (last.get("v"), status))


def act(c, ref, **body):
    return c.post("/v1/volumes/%s/actions" % ref, body)


def running(c, name):
    r = c.post("/v1/instances", {"name": name, "flavor": "tiny", "image": "nubo-tiny"})
    assert r.status_code == 202, r.text
    iid = r.json()["instances"][0]["id"]
    wait_status(c, iid, "running")
    return iid


def vm_volumes(hostd, iid):
    return [v for v in hostd.vms() if v["name"] == "nubo-" + iid][0]["volumes"]


def test_attach_detach_through_the_controller(fake_cloud):
    nubod, hostd, admin, tenant = fake_cloud
    a, b = running(tenant, "a"), running(tenant, "b")
    v = vol(tenant, "data", 2).json()
    host_id = admin.get("/v1/hosts/fake-1").json()["id"]

    r = act(tenant, "data", action="attach", instance="a")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["attached_to"], r.json()["host_id"]) == \
        ("attaching", a, host_id)
    got = vol_status(tenant, "data", "in-use")
    assert got["attached_to"] == a and got["fault"] is None
    assert vm_volumes(hostd, a) == [v["id"]]
    st, agent_vol = hostd.call("GET", "/v1/volumes/" + v["id"])
    assert st == 200 and agent_vol["size_bytes"] == 2 << 30

    # validation: nothing changes
    assert_problem(act(tenant, "data", action="attach", instance="b"), 409, "detach it first")
    other = make_tenant(nubod, admin)
    o = running(other, "theirs")
    w = vol(tenant, "w", 1).json()
    assert_problem(act(tenant, "w", action="attach", instance=o), 404, "no instance")
    assert_problem(act(other, "data", action="detach"), 404)
    assert_problem(act(tenant, "w", action="attach", instance="nope"), 404)
    assert_problem(act(tenant, "w", action="attach"), 400, "instance")
    assert_problem(act(tenant, "w", action="detach"), 409, "not attached")
    assert_problem(act(tenant, "w", action="shrink"), 400, "attach")
    assert_problem(act(tenant, "w", action="extend", size_gib=5, instance="a"), 400, "attach")
    assert_problem(act(tenant, "w", action="attach", instance="a", size_gib=5), 400, "extend")
    assert_problem(act(tenant, "w", action="attach", instance=7), 400, "instance")
    assert tenant.get("/v1/volumes/w").json()["status"] == "available"
    assert_problem(tenant.delete("/v1/volumes/data"), 409, "detach it first")
    assert_problem(act(tenant, "data", action="extend", size_gib=3), 409)

    # detach -> available, the VM no longer has it; then to b, which gets it
    r = act(tenant, "data", action="detach")
    assert r.status_code == 200 and r.json()["status"] == "detaching", r.text
    got = vol_status(tenant, "data", "available")
    assert got["attached_to"] is None and got["host_id"] == host_id
    assert vm_volumes(hostd, a) == []
    assert act(tenant, v["id"], action="attach", instance=b).status_code == 200
    vol_status(tenant, "data", "in-use")
    assert vm_volumes(hostd, b) == [v["id"]] and vm_volumes(hostd, a) == []

    # an instance being deleted, or deleted, takes no volume; deleting the
    # instance frees its volume
    assert tenant.delete("/v1/instances/" + a).status_code == 202
    wait_status(tenant, a, "deleted")
    assert_problem(act(tenant, "w", action="attach", instance=a), 409, "deleted")
    assert tenant.delete("/v1/instances/" + b).status_code == 202
    got = vol_status(tenant, "data", "available")
    assert got["attached_to"] is None

    # delete of a placed volume: deleting, then gone from the agent and the API
    assert tenant.delete("/v1/volumes/data").status_code == 204
    wait_for("volume gone", lambda: tenant.get("/v1/volumes/data").status_code == 404)
    assert hostd.call("GET", "/v1/volumes/" + v["id"])[0] == 404
    audit = admin.get("/v1/audit?action=volume.action").json()["audit"]
    assert any(x["result"] == "success" for x in audit)


def test_attach_converges_across_agent_and_nubod_restarts(fake_cloud):
    nubod, hostd, admin, tenant = fake_cloud
    a = running(tenant, "a")
    v = vol(tenant, "data", 1).json()
    assert hostd.stop() == 0
    r = act(tenant, "data", action="attach", instance="a")
    assert r.status_code == 200, r.text
    time.sleep(1)
    assert tenant.get("/v1/volumes/data").json()["status"] == "attaching"
    # nubod restarts too: the desired attachment is stored
    assert nubod.stop() == 0
    nubod.start()
    hostd.start()
    vol_status(tenant, "data", "in-use", timeout=30)
    assert vm_volumes(hostd, a) == [v["id"]]
    # the agent loses the volume while it is detached: the next attach
    # creates it again there (an idempotent create) and attaches it
    assert act(tenant, "data", action="detach").status_code == 200
    vol_status(tenant, "data", "available")
    assert hostd.call("DELETE", "/v1/volumes/" + v["id"])[0] == 204   # behind our back
    assert act(tenant, "data", action="attach", instance="a").status_code == 200
    vol_status(tenant, "data", "in-use")
    assert vm_volumes(hostd, a) == [v["id"]]


def test_attach_refused_by_the_agent_is_an_error(fake_cloud):
    nubod, hostd, admin, tenant = fake_cloud
    a = running(tenant, "a")
    vols = [vol(tenant, "v%d" % i, 1).json() for i in range(9)]
    for x in vols[:8]:
        assert act(tenant, x["id"], action="attach", instance=a).status_code == 200
    for x in vols[:8]:
        vol_status(tenant, x["id"], "in-use")
    assert act(tenant, "v8", action="attach", instance=a).status_code == 200
    got = vol_status(tenant, "v8", "error")
    assert "attaching the volume failed on the host" in got["fault"], got
    assert got["attached_to"] is None
    assert len(vm_volumes(hostd, a)) == 8
    # an error volume can be deleted (on its host too)
    assert tenant.delete("/v1/volumes/v8").status_code == 204
    wait_for("volume gone", lambda: tenant.get("/v1/volumes/v8").status_code == 404)
    assert hostd.call("GET", "/v1/volumes/" + vols[8]["id"])[0] == 404


def test_cli_attach_detach(fake_cloud, tmp_path):
    from test_cli_cloud import Cli
    nubod, hostd, admin, tenant = fake_cloud
    cli = Cli(tmp_path, nubod.base)
    cli.login("admin", nubod.admin_password, "admin")
    iid = running(admin, "app")
    v = cli.json("volume", "create", "data", "--size", "1")
    got = cli.json("volume", "attach", "data", "app")
    assert (got["status"], got["attached_to"]) == ("attaching", iid), got
    vol_status(admin, "data", "in-use")
    assert vm_volumes(hostd, iid) == [v["id"]]
    r = cli.run("volume", "attach", "data", "app")
    assert r.returncode != 0 and "detach it first" in r.stderr, r.stderr
    r = cli.run("volume", "attach", "data")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "attach VOLUME INSTANCE" in cli.ok("volume", "--help").stdout
    assert cli.json("volume", "detach", "data")["status"] == "detaching"
    vol_status(admin, "data", "available")
    r = cli.run("volume", "detach", "data")
    assert r.returncode != 0 and "not attached" in r.stderr, r.stderr
