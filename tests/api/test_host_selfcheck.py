"""A host whose agent reports datapath problems in its heartbeat is
`degraded` (issue 13 item 15): the API shows the state and the problems,
the instances the problems concern get an event when they appear and when
they are repaired, and the scheduler places no new instance there.

The heartbeats are posted here as an agent does (the agent's self-check
itself is tests/unit/test_netcheck.c and tests/e2e/test_selfcheck.py).
The host's address leads nowhere, so the reconciler leaves its instances
alone.
"""
import uuid

import requests

from conftest import assert_problem, make_tenant
from test_compute import flavor, public_image

CAPACITY = {"vcpus": 8, "ram_mib": 8192, "disk_gib": 100}


def register(nubod, name):
    r = requests.post(nubod.base + "/v1/hosts/register", timeout=30, json={
        "join_token": nubod.join_token, "name": name, "address": "http://127.0.0.1:9",
        "capacity": CAPACITY, "accel": "tcg", "driver": "qemu"})
    assert r.status_code == 201, r.text
    return r.json()


def heartbeat(nubod, host, problems=None):
    body = {"capacity": CAPACITY, "accel": "tcg", "driver": "qemu", "vms": []}
    if problems is not None:
        body["problems"] = problems
    return requests.post("%s/v1/hosts/%s/heartbeat" % (nubod.base, host["host_id"]), json=body,
                         headers={"Authorization": "Bearer " + host["host_token"]}, timeout=30)


def events(client, iid):
    return [(e["event"], e["detail"])
            for e in client.get("/v1/instances/%s/events" % iid).json()["events"]]


def test_degraded_host(nubod, admin, tmp_path):
    host = register(nubod, "h-dp")
    assert heartbeat(nubod, host).json() == {"host_id": host["host_id"], "state": "up",
                                             "epoch": 1, "stale_epoch": False,
                                             "lease_ms": 7500, "vms": [], "protocol": 2}
    m = make_tenant(nubod, admin)
    flavor(admin, "small")
    public_image(admin, tmp_path, "tiny")

    def create(name):
        r = m.post("/v1/instances", {"name": name, "flavor": "small", "image": "tiny"})
        assert r.status_code == 202, r.text
        return r.json()["instances"][0]
    a, b = create("a"), create("b")
    assert a["host"]["name"] == b["host"]["name"] == "h-dp"

    # a bridge gone (concerns a), dnsmasq down (concerns a), the host's
    # firewall tables gone (every instance), and an id that is not placed
    # here (never reached)
    stranger = str(uuid.uuid4())
    problems = [
        {"object": "bridge nk3ab1000", "problem": "missing", "since": "2026-12-03T15:00:00Z",
         "instances": [a["id"], stranger]},
        {"object": "dnsmasq vni 1000", "problem": "not running",
         "since": "2026-12-03T15:00:01Z", "instances": [a["id"]]},
        {"object": "nft table inet nubo-nk3a", "problem": "missing",
         "since": "2026-12-03T15:00:02Z"},
    ]
    r = heartbeat(nubod, host, problems)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "degraded"
    h = admin.get("/v1/hosts/h-dp").json()
    assert h["state"] == "degraded" and h["problems"] == problems
    listed = [x for x in admin.get("/v1/hosts").json()["hosts"] if x["name"] == "h-dp"][0]
    assert listed["state"] == "degraded" and len(listed["problems"]) == 3

    ea, eb = events(m, a["id"]), events(m, b["id"])
    assert ("datapath degraded", "host h-dp: bridge nk3ab1000: missing") in ea
    assert ("datapath degraded", "host h-dp: dnsmasq vni 1000: not running") in ea
    assert ("datapath degraded", "host h-dp: nft table inet nubo-nk3a: missing") in ea
    assert [e for e in eb if e[0].startswith("datapath")] == [
        ("datapath degraded", "host h-dp: nft table inet nubo-nk3a: missing")]
    # the same problems again: no new event
    assert heartbeat(nubod, host, problems).json()["state"] == "degraded"
    assert len(events(m, a["id"])) == len(ea)

    # a degraded host takes no new instance
    c = create("c")
    assert c["status"] == "error" and "1 degraded" in c["fault"], c

    # the bridge repaired: an event on a; the rest stays
    r = heartbeat(nubod, host, problems[1:])
    assert r.json()["state"] == "degraded"
    assert ("datapath repaired", "host h-dp: bridge nk3ab1000: missing") in events(m, a["id"])
    assert not [e for e in events(m, b["id"]) if e[0] == "datapath repaired"]

    # all repaired (an agent sends no "problems" then): up again
    r = heartbeat(nubod, host)
    assert r.json()["state"] == "up"
    h = admin.get("/v1/hosts/h-dp").json()
    assert h["state"] == "up" and h["problems"] == []
    eb = events(m, b["id"])
    assert ("datapath repaired", "host h-dp: nft table inet nubo-nk3a: missing") in eb
    d = create("d")
    assert d["status"] == "building" and d["host"]["name"] == "h-dp", d


def test_bad_problems_are_refused(nubod, admin):
    host = register(nubod, "h-bad")
    ok = {"object": "bridge x", "problem": "missing", "since": "2026-12-03T15:00:00Z"}
    for bad, what in [
            ("nope", "problems"),
            ([dict(ok, extra=1)], "problems[0]"),
            ([{"object": "bridge x", "problem": "missing"}], "problems[0]"),
            ([dict(ok, object="")], "problems[0]"),
            ([dict(ok, problem="x" * 401)], "problems[0]"),
            ([dict(ok, instances="all")], "problems[0]"),
            ([dict(ok, instances=[1])], "problems[0].instances[0]"),
            ([ok] * 65, "problems")]:
        assert_problem(heartbeat(nubod, host, bad), 400, what)
    # nothing changed
    assert admin.get("/v1/hosts/h-bad").json()["problems"] == []
    assert heartbeat(nubod, host, [ok]).json()["state"] == "degraded"
