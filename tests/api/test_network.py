"""API tests of the controller's network service (src/network,
docs/internals/controller-network.md): networks, subnets, ports and IPAM,
security groups and rules, floating IPs, instance NICs, and the host
network document (GET /v1/hosts/{id}/network-document, admin).

Every test runs against its own nubod (the ASan+UBSan build by default)
that must exit 0 at teardown.  Bad input must answer 4xx problem+json and
change nothing, checked by listing before and after.  Hosts are rows
written into the database (as in test_compute.py): their agents cannot be
reached, so the reconciler leaves their instances alone.
"""
import threading

import pytest

from conftest import Client, Nubod, assert_problem, make_tenant
from test_compute import add_host, db, flavor, public_image, uid


def net(c, name=None, cidr="10.0.0.0/24", **kw):
    r = c.post("/v1/networks", dict({"name": name or "n-" + uid()}, **kw))
    assert r.status_code == 201, r.text
    n = r.json()
    if cidr:
        r = c.post("/v1/subnets", {"network": n["id"], "cidr": cidr})
        assert r.status_code == 201, r.text
        n["subnet"] = r.json()
    return n


def listing(c, path, key):
    r = c.get(path)
    assert r.status_code == 200, r.text
    return r.json()[key]


@pytest.fixture
def member(nubod, admin):
    return make_tenant(nubod, admin)


@pytest.fixture
def compute_env(nubod, admin, tmp_path, member):
    flavor(admin, "small")
    public_image(admin, tmp_path, "tiny")
    return member


def test_network_crud_and_vni(member, admin):
    a = net(member, "a")
    b = net(member, "b", cidr=None)
    assert a["vni"] >= 1000 and b["vni"] == a["vni"] + 1
    assert a["mtu"] == 1450 and a["external"] is False
    assert a["router_mac"].startswith("fa:16:3f:")
    assert listing(member, "/v1/networks", "networks") == [
        {k: v for k, v in a.items() if k != "subnet"}, b]
    r = member.get("/v1/networks/a")
    assert r.status_code == 200 and r.json()["subnets"] == [a["subnet"]["id"]]
    assert a["subnet"]["gateway"] == "10.0.0.1"
    assert a["subnet"]["allocation_pools"] == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    r = member.patch("/v1/networks/" + a["id"], {"name": "a2", "description": "hello"})
    assert r.status_code == 200 and r.json()["name"] == "a2", r.text
    assert_problem(member.post("/v1/networks", {"name": "b"}), 409, "already exists")
    # The freed VNI is reused (smallest free).
    assert member.delete("/v1/networks/" + b["id"]).status_code == 204
    c = net(member, "c", cidr=None)
    assert c["vni"] == b["vni"]
    # A member may not create an external network.
    assert_problem(member.post("/v1/networks", {"name": "ext", "external": True}), 403)
    # A network with ports cannot be deleted; its subnet neither.
    p = member.post("/v1/ports", {"network": a["id"]})
    assert p.status_code == 201, p.text
    assert_problem(member.delete("/v1/networks/" + a["id"]), 409, "port")
    assert_problem(member.delete("/v1/subnets/" + a["subnet"]["id"]), 409)
    assert member.delete("/v1/ports/" + p.json()["id"]).status_code == 204
    assert member.delete("/v1/networks/" + a["id"]).status_code == 204
    assert member.get("/v1/subnets/" + a["subnet"]["id"]).status_code == 404


def test_tenant_isolation(nubod, admin, member):
    other = make_tenant(nubod, admin)
    a = net(member, "shared-name", cidr="10.0.0.0/24")
    b = net(other, "shared-name", cidr="10.0.0.0/24")  # same CIDR, other project: fine
    assert a["vni"] != b["vni"]
    port = member.post("/v1/ports", {"network": a["id"]}).json()
    sg = member.post("/v1/security-groups", {"name": "web"}).json()
    for path in ("/v1/networks/" + a["id"], "/v1/subnets/" + a["subnet"]["id"],
                 "/v1/ports/" + port["id"], "/v1/security-groups/" + sg["id"]):
        assert_problem(other.get(path), 404)
        assert_problem(other.delete(path), 404)
    assert_problem(other.post("/v1/ports", {"network": a["id"]}), 400)
    assert_problem(other.post("/v1/subnets", {"network": a["id"], "cidr": "10.1.0.0/24"}), 400)
    assert [n["id"] for n in listing(other, "/v1/networks", "networks")] == [b["id"]]
    assert listing(other, "/v1/ports", "ports") == []
    assert [g["name"] for g in listing(other, "/v1/security-groups", "security_groups")] == [
        "default"]
    # A reader sees but cannot change.
    reader = make_tenant(nubod, admin, role="reader", project=member.project)
    assert reader.get("/v1/networks/" + a["id"]).status_code == 200
    assert_problem(reader.post("/v1/ports", {"network": a["id"]}), 403)


def test_bad_subnets_change_nothing(member):
    n = net(member, "n", cidr="10.0.0.0/24")
    before = listing(member, "/v1/subnets", "subnets")
    bad = [
        ({"cidr": "10.0.0.128/25"}, "overlaps"),
        ({"cidr": "10.0.0.0/16"}, "overlaps"),
        ({"cidr": "10.0.0.0/33"}, "IPv4 prefix"),
        ({"cidr": "10.1.0.1/24"}, "host bits"),
        ({"cidr": "abc"}, "IPv4 prefix"),
        ({"cidr": "10.1.0.0/24", "gateway": "10.2.0.1"}, "gateway"),
        ({"cidr": "10.1.0.0/24", "gateway": "10.1.0.0"}, "gateway"),
        ({"cidr": "10.1.0.0/24", "gateway": "10.1.0.255"}, "gateway"),
        ({"cidr": "10.1.0.0/24", "dns_servers": ["1.2.3"]}, "dns_servers"),
        ({"cidr": "10.1.0.0/24", "allocation_pools": [{"start": "10.1.0.10",
                                                       "end": "10.1.1.5"}]}, "allocation_pools"),
        ({"cidr": "10.1.0.0/24", "allocation_pools": [{"start": "10.1.0.20",
                                                       "end": "10.1.0.10"}]}, "allocation_pools"),
        ({"cidr": "10.1.0.0/24", "bogus": 1}, None),
    ]
    for body, detail in bad:
        assert_problem(member.post("/v1/subnets", dict({"network": n["id"]}, **body)), 400,
                       detail)
    assert listing(member, "/v1/subnets", "subnets") == before
    ok = member.post("/v1/subnets", {"network": n["id"], "cidr": "10.1.0.0/24",
                                     "gateway": "10.1.0.254", "dns_servers": ["9.9.9.9"],
                                     "allocation_pools": [{"start": "10.1.0.10",
                                                           "end": "10.1.0.11"}]})
    assert ok.status_code == 201, ok.text
    s = ok.json()["id"]
    ips = [member.post("/v1/ports", {"network": n["id"], "subnet": s}).json()["ip"]
           for _ in range(2)]
    assert ips == ["10.1.0.10", "10.1.0.11"]
    assert_problem(member.post("/v1/ports", {"network": n["id"], "subnet": s}), 409, "exhausted")


def test_fixed_ip_and_port_bad_input(member):
    n = net(member, "n")
    before = listing(member, "/v1/ports", "ports")
    for body, status, detail in [
        ({"fixed_ip": "10.0.1.5"}, 400, "not in an allocation pool"),
        ({"fixed_ip": "10.0.0.1"}, 400, "not in an allocation pool"),  # the gateway
        ({"fixed_ip": "nope"}, 400, "IPv4"),
        ({"security_groups": ["nope"]}, 400, "no security group"),
        ({"network": "missing"}, 400, "no network"),
    ]:
        assert_problem(member.post("/v1/ports", dict({"network": n["id"]}, **body)), status,
                       detail)
    assert listing(member, "/v1/ports", "ports") == before
    p = member.post("/v1/ports", {"network": n["id"], "fixed_ip": "10.0.0.7"})
    assert p.status_code == 201 and p.json()["ip"] == "10.0.0.7", p.text
    assert_problem(member.post("/v1/ports", {"network": n["id"], "fixed_ip": "10.0.0.7"}), 409,
                   "in use")
    # The lowest free address, skipping the gateway.
    assert member.post("/v1/ports", {"network": n["id"]}).json()["ip"] == "10.0.0.2"


def test_concurrent_port_creates_never_double_allocate(tmp_path):
    n = Nubod(str(tmp_path), extra=["--threads", "16"]).start()
    try:
        admin = n.admin()
        m = make_tenant(n, admin)
        # 253 ports: more than the default port quota (100)
        r = admin.put("/v1/projects/%s/quota" % m.project, {"ports": 1000})
        assert r.status_code == 200, r.text
        network = net(m, "big", cidr="10.9.0.0/24")
        results, lock = [], threading.Lock()

        def worker(k):
            c = Client(m.base, m.token)
            for _ in range(k):
                r = c.post("/v1/ports", {"network": network["id"]})
                with lock:
                    results.append((r.status_code, r.json()))

        threads = [threading.Thread(target=worker, args=(10,)) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [s for s, _ in results] == [201] * 200, [b for s, b in results if s != 201][:3]
        ips = [b["ip"] for _, b in results]
        macs = [b["mac"] for _, b in results]
        assert len(set(ips)) == 200 and len(set(macs)) == 200
        assert "10.9.0.1" not in ips
        # The pool holds .2 to .254: 53 more fit, then it is exhausted.
        for _ in range(53):
            r = m.post("/v1/ports", {"network": network["id"]})
            assert r.status_code == 201, r.text
            ips.append(r.json()["ip"])
        assert sorted(ips, key=lambda s: int(s.split(".")[3])) == [
            "10.9.0.%d" % i for i in range(2, 255)]
        assert_problem(m.post("/v1/ports", {"network": network["id"]}), 409, "exhausted")
        r = m.get("/v1/ports?network_id=%s&limit=1000" % network["id"])
        assert len(r.json()["ports"]) == 253
    finally:
        rc = n.stop()
        assert rc == 0, "nubod exited with %d:\n%s" % (rc, n.log())


def test_security_groups_and_rules(member):
    groups = listing(member, "/v1/security-groups", "security_groups")
    assert [g["name"] for g in groups] == ["default"]
    d = groups[0]
    rules = sorted(d["rules"], key=lambda r: r["direction"])
    assert [(r["direction"], r["protocol"], r["remote_cidr"], r["remote_group"]) for r in rules] \
        == [("egress", "any", "0.0.0.0/0", None), ("ingress", "any", None, d["id"])]
    web = member.post("/v1/security-groups", {"name": "web"}).json()
    before = listing(member, "/v1/security-group-rules", "security_group_rules")
    bad = [
        ({"port_min": 0, "port_max": 10, "protocol": "tcp"}, "1 to 65535"),
        ({"port_min": 1, "port_max": 65536, "protocol": "tcp"}, "1 to 65535"),
        ({"port_min": 90, "port_max": 80, "protocol": "tcp"}, "greater"),
        ({"port_min": 80, "port_max": 80, "protocol": "icmp"}, "only for protocol"),
        ({"protocol": "sctp"}, "protocol"),
        ({"direction": "sideways"}, "direction"),
        ({"remote_cidr": "10.0.0.0/8", "remote_group": "default"}, "not both"),
        ({"remote_cidr": "10.0.0.1/8"}, "host bits"),
        ({"remote_group": "nope"}, "no security group"),
    ]
    for body, detail in bad:
        full = dict({"security_group": "web", "direction": "ingress"}, **body)
        assert_problem(member.post("/v1/security-group-rules", full), 400, detail)
    assert listing(member, "/v1/security-group-rules", "security_group_rules") == before
    r = member.post("/v1/security-group-rules", {"security_group": "web", "direction": "ingress",
                                                 "protocol": "tcp", "port_min": 80,
                                                 "port_max": 443, "remote_cidr": "0.0.0.0/0"})
    assert r.status_code == 201, r.text
    rule = r.json()
    assert (rule["port_min"], rule["port_max"], rule["security_group_id"]) == (80, 443, web["id"])
    assert member.get("/v1/security-groups/web").json()["rules"] == [rule]
    # default cannot be deleted; a used group neither.
    assert_problem(member.delete("/v1/security-groups/default"), 409, "default")
    n = net(member, "n")
    p = member.post("/v1/ports", {"network": n["id"], "security_groups": ["web"]}).json()
    assert p["security_groups"] == [web["id"]]
    assert_problem(member.delete("/v1/security-groups/" + web["id"]), 409, "used by 1 port")
    r = member.patch("/v1/ports/" + p["id"], {"security_groups": ["default"]})
    assert r.status_code == 200 and r.json()["security_groups"] == [d["id"]], r.text
    assert_problem(member.patch("/v1/ports/" + p["id"], {"security_groups": ["nope"]}), 400)
    assert member.get("/v1/ports/" + p["id"]).json()["security_groups"] == [d["id"]]
    assert member.delete("/v1/security-group-rules/" + rule["id"]).status_code == 204
    assert member.delete("/v1/security-groups/web").status_code == 204


def test_floating_ips(nubod, admin, member):
    assert_problem(member.post("/v1/floating-ips", {}), 409, "no external network")
    # the pool's end, not the floating IP quota (5), is what this tests
    r = admin.put("/v1/projects/%s/quota" % member.project, {"floating_ips": 10})
    assert r.status_code == 200, r.text
    ext = admin.post("/v1/networks", {"name": "public", "external": True})
    assert ext.status_code == 201, ext.text
    ext = ext.json()
    r = admin.post("/v1/subnets", {"network": ext["id"], "cidr": "203.0.113.0/29"})
    assert r.status_code == 201, r.text
    # Every project sees the external network but cannot change it.
    assert ext["id"] in [n["id"] for n in listing(member, "/v1/networks", "networks")]
    assert_problem(member.delete("/v1/networks/" + ext["id"]), 404)
    assert_problem(member.post("/v1/ports", {"network": ext["id"]}), 400, "external")
    fips = [member.post("/v1/floating-ips", {}).json() for _ in range(5)]
    assert [f["ip"] for f in fips] == ["203.0.113.%d" % i for i in range(2, 7)]
    assert_problem(member.post("/v1/floating-ips", {"network": "public"}), 409, "exhausted")
    n = net(member, "n")
    p = member.post("/v1/ports", {"network": n["id"]}).json()
    r = member.patch("/v1/floating-ips/" + fips[0]["id"], {"port_id": p["id"]})
    assert r.status_code == 200 and r.json()["fixed_ip"] == p["ip"], r.text
    assert member.get("/v1/ports/" + p["id"]).json()["floating_ip"] == fips[0]["ip"]
    assert_problem(member.patch("/v1/floating-ips/" + fips[1]["id"], {"port_id": p["id"]}), 409)
    other = make_tenant(nubod, admin)
    q = other.post("/v1/ports", {"network": net(other, "x")["id"]}).json()
    assert_problem(member.patch("/v1/floating-ips/" + fips[1]["id"], {"port_id": q["id"]}), 400)
    assert_problem(other.get("/v1/floating-ips/" + fips[0]["id"]), 404)
    r = member.patch("/v1/floating-ips/" + fips[0]["id"], {"port_id": None})
    assert r.status_code == 200 and r.json()["port_id"] is None
    assert member.delete("/v1/floating-ips/" + fips[4]["id"]).status_code == 204
    assert member.post("/v1/floating-ips", {}).json()["ip"] == "203.0.113.6"


def test_instances_get_addresses_and_delete_frees_them(compute_env):
    m = compute_env
    n = net(m, "n")
    n2 = net(m, "n2", cidr="192.168.5.0/24")
    r = m.post("/v1/instances", {"name": "web", "flavor": "small", "image": "tiny", "count": 3,
                                 "networks": [{"network": "n"}, {"network": n2["id"],
                                                                 "fixed_ip": None}]})
    assert r.status_code == 202, r.text
    insts = r.json()["instances"]
    addrs = [[(a["network"], a["ip"]) for a in i["addresses"]] for i in insts]
    assert addrs == [[("n", "10.0.0.%d" % k), ("n2", "192.168.5.%d" % k)] for k in (2, 3, 4)]
    ports = listing(m, "/v1/ports?instance_id=" + insts[0]["id"], "ports")
    assert len(ports) == 2 and all(p["hostname"] == "web-1" for p in ports)
    default = listing(m, "/v1/security-groups", "security_groups")[0]["id"]
    assert all(p["security_groups"] == [default] for p in ports)
    assert_problem(m.delete("/v1/ports/" + ports[0]["id"]), 409, "instance")
    # A failure on a NIC rolls the whole create back.
    before = listing(m, "/v1/ports", "ports")
    for body, status in [
        ({"networks": [{"network": "n", "fixed_ip": "10.0.0.2"}]}, 409),
        ({"networks": [{"network": "nope"}]}, 400),
        ({"networks": [{"network": "n"}], "security_groups": ["nope"]}, 400),
        ({"networks": [{"network": "n", "extra": 1}]}, 400),
        ({"networks": [{"network": "n"}] * 9}, 400),
        ({"security_groups": ["default"]}, 400),
    ]:
        body.update({"name": "bad", "flavor": "small", "image": "tiny"})
        assert_problem(m.post("/v1/instances", body), status)
    assert listing(m, "/v1/ports", "ports") == before
    assert [i["name"] for i in listing(m, "/v1/instances", "instances")] == [
        "web-1", "web-2", "web-3"]
    # No host: the delete is immediate and frees the addresses.
    r = m.delete("/v1/instances/" + insts[1]["id"])
    assert r.status_code == 202 and r.json()["instance"]["addresses"] == [], r.text
    assert len(listing(m, "/v1/ports", "ports")) == 4
    r = m.post("/v1/instances", {"name": "again", "flavor": "small", "image": "tiny",
                                 "networks": [{"network": "n"}]})
    assert [a["ip"] for a in r.json()["instances"][0]["addresses"]] == ["10.0.0.3"]
    # Without networks: no tenant network, as before.
    r = m.post("/v1/instances", {"name": "plain", "flavor": "small", "image": "tiny"})
    assert r.json()["instances"][0]["addresses"] == []


def test_instance_lists_show_each_its_own_addresses(nubod, admin, compute_env, tmp_path):
    """A list reads the addresses of its whole page in one query: every
    instance still gets its own, on every page, and never another
    project's (instances of two projects interleaved in time)."""
    m = compute_env
    other = make_tenant(nubod, admin)
    net(m, "n")
    net(other, "n", cidr="10.1.0.0/24")
    for k in range(3):
        for who, name in ((m, "m%d" % k), (other, "o%d" % k)):
            r = who.post("/v1/instances", {"name": name, "flavor": "small", "image": "tiny",
                                           "networks": [{"network": "n"}]})
            assert r.status_code == 202, r.text
    r = m.post("/v1/instances", {"name": "plain", "flavor": "small", "image": "tiny"})
    assert r.status_code == 202, r.text

    def shown(who, i):
        return who.get("/v1/instances/" + i["id"]).json()["addresses"]

    for who, prefix in ((m, "10.0.0."), (other, "10.1.0.")):
        page, marker, seen = [], None, []
        while True:
            r = who.get("/v1/instances?limit=2" + ("&marker=" + marker if marker else ""))
            assert r.status_code == 200, r.text
            page = r.json()["instances"]
            for i in page:
                assert i["addresses"] == shown(who, i), i
                ips = [a["ip"] for a in i["addresses"]]
                assert ips == ([] if i["name"] == "plain" else [ips[0]]), i
                assert all(ip.startswith(prefix) for ip in ips), i
                seen.append(i["name"])
            marker = r.json().get("next_marker")
            if not marker:
                break
        assert len(seen) == (4 if who is m else 3), seen
    everyone = admin.get("/v1/instances?all_projects=true&limit=1000").json()["instances"]
    assert len([i for i in everyone if i["addresses"]]) == 6
    for i in everyone:
        if i["project_id"] == other.project:
            assert i["addresses"] == shown(other, i), i


def test_host_network_document(nubod, admin, compute_env):
    m = compute_env
    h1 = add_host(nubod, "h1")
    h2 = add_host(nubod, "h2")
    with db(nubod) as c:
        c.execute("UPDATE hosts SET underlay_ip = '10.99.0.1' WHERE id = ?", (h1,))
        c.execute("UPDATE hosts SET underlay_ip = '10.99.0.2' WHERE id = ?", (h2,))
    n = net(m, "n")
    m.post("/v1/security-groups", {"name": "web"})
    r = m.post("/v1/instances", {"name": "vm", "flavor": "small", "image": "tiny", "count": 2,
                                 "networks": [{"network": "n"}],
                                 "security_groups": ["default", "web"]})
    assert r.status_code == 202, r.text
    insts = r.json()["instances"]
    assert {i["host"]["id"] for i in insts} == {h1, h2}  # spread
    assert_problem(m.get("/v1/hosts/%s/network-document" % h1), 403)
    assert_problem(admin.get("/v1/hosts/nope/network-document"), 404)
    docs = {}
    for h in (h1, h2):
        r = admin.get("/v1/hosts/%s/network-document" % h)
        assert r.status_code == 200, r.text
        docs[h] = r.json()
    d = docs[h1]
    mine = [i for i in insts if i["host"]["id"] == h1][0]
    assert [nw["id"] for nw in d["networks"]] == [n["id"]]
    nw = d["networks"][0]
    assert nw["vni"] == n["vni"] and nw["router_mac"] == n["router_mac"]
    assert nw["peers"] == ["10.99.0.2"] and docs[h2]["networks"][0]["peers"] == ["10.99.0.1"]
    assert nw["subnets"] == [{"id": n["subnet"]["id"], "cidr": "10.0.0.0/24",
                              "gateway": "10.0.0.1", "dns_servers": []}]
    assert sorted(r["hostname"] for r in nw["dns_records"]) == ["vm-1", "vm-2"]
    assert len(d["ports"]) == 1
    p = d["ports"][0]
    assert p["instance_id"] == mine["id"] and p["vm"] == "nubo-" + mine["id"]
    assert p["ip"] == mine["addresses"][0]["ip"] and p["port_security"] is True
    groups = {g["name"]: g["id"] for g in listing(m, "/v1/security-groups", "security_groups")}
    assert sorted(p["security_groups"]) == sorted(groups.values())
    assert sorted(g["id"] for g in d["security_groups"]) == sorted(groups.values())
    assert sorted(d["group_members"][groups["default"]]) == ["10.0.0.2", "10.0.0.3"]
    assert d["external"] is None
    # Stable across calls; changes after a rule change.
    again = admin.get("/v1/hosts/%s/network-document" % h1).json()
    assert again == d and len(d["generation"]) == 64
    r = m.post("/v1/security-group-rules", {"security_group": "web", "direction": "ingress",
                                            "protocol": "tcp", "port_min": 22, "port_max": 22})
    assert r.status_code == 201, r.text
    after = admin.get("/v1/hosts/%s/network-document" % h1).json()
    assert after["generation"] != d["generation"]
    web = [g for g in after["security_groups"] if g["id"] == groups["web"]][0]
    assert web["rules"][0]["port_min"] == 22 and web["rules"][0]["remote_cidr"] is None


def test_cli(nubod, compute_env, tmp_path):
    """nubo network|subnet|port|sg|floating-ip and instance create --network."""
    import json
    import os
    import subprocess

    from conftest import BUILD
    cli = os.path.join(BUILD, "src", "cli", "nubo")
    env = dict(os.environ, NUBO_URL=nubod.base, NUBO_TOKEN=compute_env.token,
               XDG_CONFIG_HOME=str(tmp_path))
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")

    def run(*args, ok=True):
        r = subprocess.run([cli] + list(args), capture_output=True, text=True, env=env,
                           stdin=subprocess.DEVNULL, timeout=60)
        if ok:
            assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r

    def js(*args):
        return json.loads(run("-o", "json", *args).stdout)

    n = js("network", "create", "cli-net")
    assert n["name"] == "cli-net" and n["vni"] >= 1000
    s = js("subnet", "create", "--network", "cli-net", "--cidr", "10.5.0.0/24", "--dns",
           "9.9.9.9", "--pool", "10.5.0.10-10.5.0.20")
    assert s["allocation_pools"] == [{"start": "10.5.0.10", "end": "10.5.0.20"}]
    assert s["dns_servers"] == ["9.9.9.9"]
    r = run("subnet", "create", "--network", "cli-net", "--cidr", "10.5.0.1/24", ok=False)
    assert r.returncode == 1 and "host bits" in r.stderr
    g = js("sg", "create", "web", "--description", "web servers")
    rule = js("security-group", "rule-add", "web", "--direction", "ingress", "--protocol", "tcp",
              "--port-min", "80", "--port-max", "80")
    assert rule["security_group_id"] == g["id"]
    assert "80" in run("sg", "show", "web").stdout
    p = js("port", "create", "--network", "cli-net", "--security-group", "web")
    assert p["ip"] == "10.5.0.10" and p["security_groups"] == [g["id"]]
    p = js("port", "set-groups", p["id"], "--security-group", "default")
    assert p["security_groups"] != [g["id"]]
    assert [x["id"] for x in js("port", "list")["ports"]] == [p["id"]]
    assert "10.5.0.10" in run("port", "list").stdout
    out = js("instance", "create", "vm", "--flavor", "small", "--image", "tiny", "--network",
             "cli-net:10.5.0.15", "--security-group", "web")
    assert [a["ip"] for a in out["instances"][0]["addresses"]] == ["10.5.0.15"]
    run("port", "delete", p["id"])
    assert js("floating-ip", "list")["floating_ips"] == []
    r = run("network", "delete", "cli-net", ok=False)
    assert r.returncode == 1 and "port" in r.stderr


def test_project_delete_takes_its_network_resources(nubod, admin, member):
    ext = admin.post("/v1/networks", {"name": "public", "external": True}).json()
    assert admin.post("/v1/subnets", {"network": ext["id"],
                                      "cidr": "198.51.100.0/24"}).status_code == 201
    n = net(member, "n")
    p = member.post("/v1/ports", {"network": n["id"]}).json()
    f = member.post("/v1/floating-ips", {}).json()
    assert member.patch("/v1/floating-ips/" + f["id"], {"port_id": p["id"]}).status_code == 200
    assert member.post("/v1/security-group-rules", {"security_group": "default",
                                                    "direction": "ingress"}).status_code == 201
    r = admin.delete("/v1/projects/" + member.project)
    assert r.status_code == 204, r.text
    with db(nubod) as c:
        for table in ("networks", "subnets", "ports", "security_groups", "floating_ips",
                      "security_group_rules", "port_security_groups"):
            n_left = c.execute("SELECT COUNT(*) FROM %s WHERE %s" % (
                table, "1 = 1" if table == "port_security_groups"
                else "project_id <> (SELECT id FROM projects WHERE name = 'admin')")).fetchone()
            assert n_left[0] == 0, table
