"""Tenant networking on the host side: two simulated hosts.

Each "host" is a network namespace made by the test (h1-XXXX, h2-XXXX),
joined by a veth pair that is their underlay (10.99.0.1 <-> 10.99.0.2,
addresses that exist only inside those namespaces).  On each runs its own
nubo-hostd with --netns and --underlay-ip, no controller: the test PUTs the
network documents itself (docs/internals/networking.md).

Guests are the nubo-tiny image; their user-data prints what the test checks
on the serial console.  Everything the test makes (namespaces, their links,
QEMU and dnsmasq processes) is removed in the fixture's finalizer, also
when the test fails.
"""
import json
import os
import re
import secrets
import signal
import subprocess
import time
import uuid

import pytest

from conftest import Hostd, READY
from speed import Deadline

UNDERLAY = ("10.99.0.1", "10.99.0.2")
ROUTER_MAC = "fa:16:3e:00:00:01"


def sh(*argv, check=True):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise AssertionError("%s: %s" % (" ".join(argv), r.stderr))
    return r.stdout


def links(ns):
    """{name: (ifindex, master)} of the links in namespace ns."""
    out = json.loads(sh("ip", "-n", ns, "-j", "link", "show"))
    return {l["ifname"]: (l["ifindex"], l.get("master")) for l in out}


def tag(h):
    """The agent tag in the names of h's kernel objects (<state>/net-tag)."""
    with open(os.path.join(h.state, "net-tag")) as f:
        return f.read().strip()


def tap(h, port_id):
    return tag(h) + "t" + port_id.replace("-", "")[:10]


def netns_list():
    out = sh("ip", "-j", "netns", "list").strip()
    return sorted(n["name"] for n in json.loads(out)) if out else []


def kill_matching(text):
    """SIGKILLs every process whose command line contains text."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        if text in cmd and int(pid) != os.getpid():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


class Sim:
    """Two simulated hosts and their agents."""

    def __init__(self, tmp):
        self.tmp = tmp
        sfx = secrets.token_hex(2)
        self.ns = ("h1-" + sfx, "h2-" + sfx)
        self.agents = []

    def setup(self):
        for ns in self.ns:
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.ns[0], "link", "add", "ul", "type", "veth", "peer", "name", "ul",
           "netns", self.ns[1])
        for ns, ip in zip(self.ns, UNDERLAY):
            sh("ip", "-n", ns, "addr", "add", ip + "/24", "dev", "ul")
            sh("ip", "-n", ns, "link", "set", "ul", "up")
        for i, ns in enumerate(self.ns):
            d = os.path.join(self.tmp, "host%d" % (i + 1))
            os.makedirs(d, exist_ok=True)
            h = Hostd(d, ["--netns", ns, "--underlay-ip", UNDERLAY[i]])
            self.agents.append(h.start())

    def teardown(self):
        for h in self.agents:
            try:
                if h.proc is not None:
                    for vm in h.api.get("/v1/vms").json["vms"]:
                        h.api.delete("/v1/vms/" + vm["id"])
            except Exception:
                pass
            try:
                h.stop()
            except Exception:
                pass
        # QEMU and dnsmasq of these agents carry the temporary directory in
        # their command lines.
        kill_matching(self.tmp)
        for name in netns_list():
            if any(name == ns or name.startswith(ns + "-") for ns in self.ns):
                subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture
def sim(tmp_path):
    s = Sim(str(tmp_path))
    try:
        s.setup()
        yield s
    finally:
        s.teardown()
    left = [n for n in netns_list() if any(n.startswith(ns) for ns in s.ns)]
    assert left == [], "namespaces left behind: %s" % left


def ids(n):
    return [str(uuid.uuid4()) for _ in range(n)]


def network(net_id, sub_id, vni, peer):
    return {"id": net_id, "vni": vni, "mtu": 1450, "router_mac": ROUTER_MAC,
            "domain": "nubo.internal",
            "subnets": [{"id": sub_id, "cidr": "10.0.0.0/24", "gateway": "10.0.0.1",
                         "dns_servers": []}],
            "peers": [peer], "dns_records": []}


# One security group that lets everything in and out: isolation in these
# tests must come from the datapath (separate bridges and VNIs), not from
# the firewall.
OPEN_SG = str(uuid.uuid4())
OPEN_RULES = [{"id": str(uuid.uuid4()), "direction": d, "protocol": "any", "port_min": None,
               "port_max": None, "remote_cidr": "0.0.0.0/0", "remote_group": None}
              for d in ("ingress", "egress")]


def port(port_id, net, inst, mac, ip, hostname):
    return {"id": port_id, "network_id": net["id"], "subnet_id": net["subnets"][0]["id"],
            "vm": "nubo-" + inst, "instance_id": inst, "mac": mac, "ip": ip,
            "hostname": hostname, "port_security": True, "security_groups": [OPEN_SG],
            "floating_ip": None}


def document(gen, networks, ports):
    return {"generation": gen, "networks": networks, "ports": ports,
            "security_groups": [{"id": OPEN_SG, "rules": OPEN_RULES}],
            "group_members": {}, "external": None}


def put(h, doc):
    r = h.api.request("PUT", "/v1/network", doc)
    assert r.status == 200, r
    st = r.json
    assert st["ok"], st["errors"]
    return st


SERVER = """#!/bin/sh
mkdir -p /www && echo hello-from-a1 >/www/index.html
dd if=/dev/zero of=/www/big bs=1024 count=256 2>/dev/null
httpd -p 8080 -h /www
echo "MD-ID=$(timeout 5 wget -q -O - http://169.254.169.254/latest/meta-data/instance-id)"
echo "MD-IP=$(timeout 5 wget -q -O - http://169.254.169.254/latest/meta-data/local-ipv4)"
echo "OS-$(timeout 5 wget -q -O - http://169.254.169.254/openstack/latest/meta_data.json | tr -d '\n ' | grep -o '"uuid":"[^"]*"')"
"""

CLIENT = """#!/bin/sh
echo "MD-ID=$(timeout 5 wget -q -O - http://169.254.169.254/latest/meta-data/instance-id)"
i=0
while [ $i -lt 40 ]; do
    got=$(timeout 3 wget -q -O - http://10.0.0.11:8080/ 2>/dev/null)
    if [ "$got" = hello-from-a1 ]; then echo "FETCH-OK $got"; break; fi
    sleep 1; i=$((i + 1))
done
ping -c 1 -W 2 10.0.0.11 >/dev/null 2>&1 && echo PING-OK || echo PING-FAIL
# Full-size frames cross the VXLAN: the guest took the network's MTU by DHCP.
echo "BIG=$(timeout 20 wget -q -O - http://10.0.0.11:8080/big | wc -c) MTU=$(cat /sys/class/net/eth0/mtu)"
# Keeps checking, in the background, so the test can see the path still
# works after changes on the hosts.
(while :; do
    if [ "$(timeout 3 wget -q -O - http://10.0.0.11:8080/ 2>/dev/null)" = hello-from-a1 ]; then
        echo LOOP-OK
    else
        echo LOOP-FAIL
    fi
    sleep 1
done) &
"""

OTHER = """#!/bin/sh
echo "MD-ID=$(timeout 5 wget -q -O - http://169.254.169.254/latest/meta-data/instance-id)"
i=0
while [ $i -lt 12 ]; do
    if timeout 2 wget -q -O - http://10.0.0.11:8080/ >/dev/null 2>&1; then
        echo B-TRY-OK
    else
        echo B-TRY-FAIL
    fi
    sleep 1; i=$((i + 1))
done
echo B-DONE
"""


def wait_console(h, vm, pattern, timeout=120):
    deadline = Deadline(timeout)
    while True:
        text = h.api.console(vm)
        m = re.search(pattern, text)
        if m:
            return m, text
        if deadline.passed():
            raise AssertionError("no %r on %s's console after %s:\n%s\n--- agent log:\n%s"
                                 % (pattern, vm, deadline, text[-3000:], h.log()[-3000:]))
        time.sleep(0.5)


def test_two_hosts(sim):
    h1, h2 = sim.agents
    na_id, sa_id, nb_id, sb_id = ids(4)
    pa1, pa2, pb1 = ids(3)
    ia1, ia2, ib1 = ids(3)
    na = [network(na_id, sa_id, 1001, UNDERLAY[1]), network(na_id, sa_id, 1001, UNDERLAY[0])]
    nb = [network(nb_id, sb_id, 1002, UNDERLAY[1]), network(nb_id, sb_id, 1002, UNDERLAY[0])]
    a1 = port(pa1, na[0], ia1, "fa:16:3e:00:0a:01", "10.0.0.11", "a1")
    a2 = port(pa2, na[1], ia2, "fa:16:3e:00:0a:02", "10.0.0.12", "a2")
    # Project B: same CIDR, another VNI; its guest sits next to a2 on host 2
    # and even has a2's address.
    b1 = port(pb1, nb[1], ib1, "fa:16:3e:00:0b:01", "10.0.0.12", "b1")
    doc1 = document("g1", [na[0]], [a1])
    doc2 = document("g1", [na[1], nb[1]], [a2, b1])
    st1 = put(h1, doc1)
    st2 = put(h2, doc2)
    assert st1["generation"] == "g1" and st1["underlay_ip"] == UNDERLAY[0]
    t1, t2 = tag(h1), tag(h2)
    assert t1 != t2  # two state directories
    assert [n["bridge"] for n in st2["networks"]] == [t2 + "b1001", t2 + "b1002"]
    assert all(n["dnsmasq_pid"] for n in st1["networks"] + st2["networks"])
    assert h1.api.get("/v1/host").json["underlay_ip"] == UNDERLAY[0]

    # Bad documents change nothing.
    before = links(sim.ns[0])
    bad = document("g2", [dict(na[0], subnets=[dict(na[0]["subnets"][0], gateway="10.1.0.1")])],
                   [])
    r = h1.api.request("PUT", "/v1/network", bad)
    assert r.status == 400 and "gateway" in r.json["detail"], r
    assert h1.api.get("/v1/network").json["generation"] == "g1"
    assert links(sim.ns[0]) == before

    def nic(p):
        return {"port_id": p["id"], "network_id": p["network_id"], "mac": p["mac"]}

    h1.api.create(name=a1["vm"], id=ia1, nics=[nic(a1)], user_data=SERVER)
    h2.api.create(name=a2["vm"], id=ia2, nics=[nic(a2)], user_data=CLIENT)
    h2.api.create(name=b1["vm"], id=ib1, nics=[nic(b1)], user_data=OTHER)
    net2 = h2.api.get("/v1/network").json
    assert all(p["attached"] for p in net2["ports"]), net2

    # DHCP gives each guest the address of its port.
    for h, p in ((h1, a1), (h2, a2), (h2, b1)):
        m, _ = wait_console(h, p["vm"], READY + r" .*ip=(\S+)")
        assert m.group(1) == p["ip"], (p["vm"], m.group(0))
    # Metadata answers each guest with its own instance id (b1 and a2 have
    # the same address on the same host, in different networks).
    for h, p in ((h1, a1), (h2, a2), (h2, b1)):
        m, _ = wait_console(h, p["vm"], r"MD-ID=(\S*)")
        assert m.group(1) == p["instance_id"]
    m, _ = wait_console(h1, a1["vm"], r"MD-IP=(\S*)")
    assert m.group(1) == "10.0.0.11"
    m, _ = wait_console(h1, a1["vm"], r'OS-"uuid":"([^"]*)"')
    assert m.group(1) == a1["instance_id"]
    # An address that is no port's gets nothing.
    fetch = ("import urllib.request, urllib.error\n"
             "try:\n"
             "    urllib.request.urlopen('http://169.254.169.254/latest/meta-data/instance-id',"
             " timeout=5)\n"
             "    print('200')\n"
             "except urllib.error.HTTPError as e:\n"
             "    print(e.code)\n")
    r = subprocess.run(["ip", "netns", "exec", sim.ns[0] + "-%s-r1001" % t1, "/usr/bin/python3", "-c",
                        fetch], capture_output=True, text=True, timeout=30)
    assert r.stdout.strip() == "404", r.stdout + r.stderr
    # a2 (host 2) reaches a1 (host 1) over the VXLAN: TCP and ICMP.
    wait_console(h2, a2["vm"], r"FETCH-OK hello-from-a1")
    wait_console(h2, a2["vm"], r"PING-OK")
    m, _ = wait_console(h2, a2["vm"], r"BIG=\s*(\d+) MTU=(\d+)")
    assert m.groups() == ("262144", "1450"), m.group(0)
    # b1, same CIDR in another network, never reaches a1.
    _, text = wait_console(h2, b1["vm"], r"B-DONE")
    assert text.count("B-TRY-FAIL") >= 10 and "B-TRY-OK" not in text

    # The same document again changes nothing.
    before = [links(ns) for ns in sim.ns]
    pids = [[n["dnsmasq_pid"] for n in h.api.get("/v1/network").json["networks"]]
            for h in sim.agents]
    put(h1, doc1)
    put(h2, doc2)
    assert [links(ns) for ns in sim.ns] == before
    assert [[n["dnsmasq_pid"] for n in h.api.get("/v1/network").json["networks"]]
            for h in sim.agents] == pids

    # An agent restart leaves links, namespaces and dnsmasq as they were.
    def ours():  # other tests and clouds on this machine may come and go
        return [n for n in netns_list() if any(n.startswith(ns) for ns in sim.ns)]
    namespaces = ours()
    assert h2.stop() == 0
    h2.start()
    assert links(sim.ns[1]) == before[1]
    assert ours() == namespaces
    st = h2.api.get("/v1/network").json
    assert st["generation"] == "g1" and st["ok"], st
    assert [n["dnsmasq_pid"] for n in st["networks"]] == pids[1]
    # ... and its guests still reach each other across hosts.
    n = h2.api.console(a2["vm"]).count("LOOP-OK")
    deadline = time.time() + 30
    while h2.api.console(a2["vm"]).count("LOOP-OK") < n + 2:
        assert time.time() < deadline, "a2 no longer reaches a1 after the restart"
        time.sleep(0.5)

    # Removing network B from host 2 removes its bridge, VXLAN, namespace
    # and dnsmasq; b1's tap stays (its VM exists) but is detached.
    put(h2, document("g3", [na[1]], [a2]))
    l2 = links(sim.ns[1])
    assert not {t2 + "b1002", t2 + "x1002", t2 + "r1002"} & set(l2)
    assert sim.ns[1] + "-%s-r1002" % t2 not in netns_list()
    dead = pids[1][1]
    assert not os.path.exists("/proc/%d" % dead) or "dnsmasq" not in open(
        "/proc/%d/cmdline" % dead).read()
    tap_b1 = tap(h2, b1["id"])
    assert l2[tap_b1][1] is None
    assert l2[tap(h2, a2["id"])][1] == t2 + "b1001"

    # Deleting a VM deletes its tap.
    assert h2.api.delete("/v1/vms/" + b1["vm"]).status == 204
    assert tap_b1 not in links(sim.ns[1])

    # Both agents stop cleanly (status 0: no leak under the sanitizers).
    for h in sim.agents:
        for vm in h.api.get("/v1/vms").json["vms"]:
            assert h.api.delete("/v1/vms/" + vm["id"]).status == 204
        rc = h.stop()
        assert rc == 0, "nubo-hostd exited with %d:\n%s" % (rc, h.log())
    assert not [l for l in links(sim.ns[0]) if l.startswith(t1 + "t")]


@pytest.fixture
def ext_host(tmp_path):
    """One simulated host (namespace hX-XXXX) with an external bridge
    "br-ext", and a namespace xc-XXXX on it playing the external gateway
    203.0.113.1; a nubo-hostd runs with --netns and --external-bridge."""
    sfx = secrets.token_hex(2)
    ns, client = "hx-" + sfx, "xc-" + sfx
    agent = None
    try:
        for n in (ns, client):
            sh("ip", "netns", "add", n)
            sh("ip", "-n", n, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "link", "add", "br-ext", "type", "bridge")
        sh("ip", "-n", ns, "link", "set", "br-ext", "up")
        sh("ip", "-n", ns, "link", "add", "xgw", "type", "veth", "peer", "name", "up0", "netns",
           client)
        sh("ip", "-n", ns, "link", "set", "xgw", "master", "br-ext", "up")
        sh("ip", "-n", client, "addr", "add", "203.0.113.1/24", "dev", "up0")
        sh("ip", "-n", client, "link", "set", "up0", "up")
        agent = Hostd(str(tmp_path), ["--netns", ns, "--external-bridge", "br-ext"]).start()
        yield agent, ns, client
        rc = agent.stop()
        assert rc == 0, "nubo-hostd exited with %d:\n%s" % (rc, agent.log())
    finally:
        if agent is not None and agent.proc is not None:
            agent.proc.kill()
        kill_matching(str(tmp_path))
        for name in netns_list():
            if name in (ns, client) or name.startswith(ns + "-"):
                subprocess.run(["ip", "netns", "del", name], capture_output=True)


def tcp_probe(ns, addr, port):
    """'refused' when something at addr answered (RST), 'timeout' when
    nothing did, from namespace ns."""
    code = ("import socket\n"
            "s = socket.socket(); s.settimeout(3)\n"
            "try:\n"
            "    s.connect((%r, %d)); print('open')\n"
            "except ConnectionRefusedError:\n"
            "    print('refused')\n"
            "except OSError:\n"
            "    print('timeout')\n" % (addr, port))
    r = subprocess.run(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", code],
                       capture_output=True, text=True, timeout=30)
    return r.stdout.strip()


def on_link(ns, addr):
    """True when addr answers ARP on the external network seen from ns
    (whatever the firewall's NAT then does with the connection)."""
    subprocess.run(["ip", "-n", ns, "neigh", "flush", "to", addr], capture_output=True)
    tcp_probe(ns, addr, 9)
    return "lladdr" in sh("ip", "-n", ns, "neigh", "show", "to", addr)


def test_external_leg(ext_host):
    h, ns, client = ext_host
    net_id, sub_id, port_id, inst, ext_id = ids(5)
    net = network(net_id, sub_id, 1001, UNDERLAY[1])
    net["peers"] = []
    p = port(port_id, net, inst, "fa:16:3e:00:0c:01", "10.0.0.21", "c1")
    p["floating_ip"] = "203.0.113.10"
    doc = document("e1", [net], [p])
    doc["external"] = {"network_id": ext_id, "cidr": "203.0.113.0/24",
                       "gateway": "203.0.113.1"}
    assert not on_link(client, "203.0.113.10")
    put(h, doc)
    t = tag(h)
    rns = "%s-%s-r1001" % (ns, t)
    l = links(ns)
    assert l[t + "e1001"][1] == "br-ext"
    addrs = json.loads(sh("ip", "-n", rns, "-j", "addr", "show", "dev", "ext"))
    assert [(a["local"], a["prefixlen"]) for a in addrs[0]["addr_info"]
            if a["family"] == "inet"] == [("203.0.113.10", 24)]
    assert "default via 203.0.113.1 dev ext" in sh("ip", "-n", rns, "route", "show")
    # The floating IP is on the external network (the router namespace
    # answers for it; forwarding to the guest is the firewall's NAT).
    assert on_link(client, "203.0.113.10")
    put(h, doc)
    assert links(ns) == l
    # Without the floating IP the leg goes away.
    p["floating_ip"] = None
    put(h, document("e2", [net], [p]))
    assert t + "e1001" not in links(ns)
    assert not on_link(client, "203.0.113.10")
    assert t + "b1001" in links(ns)


# ---- issue 13 item 16(a): VXLAN only from the network's peers ---------------

VXLAN_SEND = r"""
import socket, sys
src, dst, vni, mac = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, 0))
head = bytes([8, 0, 0, 0]) + vni.to_bytes(3, "big") + b"\0"
frame = b"\xff" * 6 + bytes.fromhex(mac.replace(":", "")) + b"\x88\xb5" + b"nubo".ljust(46, b"\0")
for _ in range(3):
    s.sendto(head + frame, (dst, 4789))
"""


def test_vxlan_only_from_peers(sim):
    """A VXLAN packet of one of the agent's VNIs is taken from a peer of
    that network and dropped from any other underlay address: the frame's
    source MAC is learned (bridge fdb) only in the first case."""
    h1, _ = sim.agents
    net_id, sub_id = ids(2)
    put(h1, document("v1", [network(net_id, sub_id, 1001, UNDERLAY[1])], []))
    sh("ip", "-n", sim.ns[1], "addr", "add", "10.99.0.3/24", "dev", "ul")
    peer_mac, other_mac = "02:00:00:13:16:0a", "02:00:00:13:16:0b"
    for src, mac in ((UNDERLAY[1], peer_mac), ("10.99.0.3", other_mac)):
        sh("ip", "netns", "exec", sim.ns[1], "/usr/bin/python3", "-c", VXLAN_SEND, src,
           UNDERLAY[0], "1001", mac)
    deadline = time.time() + 5
    while peer_mac not in sh("bridge", "-n", sim.ns[0], "fdb", "show"):
        assert time.time() < deadline, "a peer's VXLAN frame did not arrive (control)"
        time.sleep(0.1)
    time.sleep(0.5)
    fdb = sh("bridge", "-n", sim.ns[0], "fdb", "show")
    assert other_mac not in fdb, fdb
    rules = sh("ip", "netns", "exec", sim.ns[0], "nft", "list", "chain", "inet",
               "nubo-" + tag(h1), "input")
    assert "10.99.0.2" in rules and "4789" in rules, rules


# ---- issue 13 item 14: two agents on one machine ----------------------------

LEASE_CLIENT = """#!/bin/sh
(while :; do
    if [ "$(timeout 3 wget -q -O - http://10.0.0.11:8080/ 2>/dev/null)" = hello-from-a1 ]; then
        echo LOOP-OK
    else
        echo LOOP-FAIL
    fi
    sleep 1
done) &
"""


def test_two_agents_one_namespace(tmp_path):
    """Two agents share one namespace, as two agents in a machine's own
    namespace would (neither has --netns of its own): the second one's
    networks (even the same VNI and CIDR), its restarts and its removal
    never touch the first one's bridges, taps, router namespaces, dnsmasq
    or nft tables, and the first one's guests keep their leases and reach
    each other throughout; the first one's restart spares the second's."""
    ns = "hs-" + secrets.token_hex(2)
    tmp = str(tmp_path)
    agents = []
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        for name in ("a", "b"):
            os.makedirs(os.path.join(tmp, name))
            agents.append(Hostd(os.path.join(tmp, name), ["--netns", ns]))
        ha, hb = agents
        ha.start()
        na_id, sa_id, nb_id, sb_id, nc_id, sc_id = ids(6)
        pa1, pa2, pb1 = ids(3)
        ia1, ia2, ib1 = ids(3)
        na = dict(network(na_id, sa_id, 1001, UNDERLAY[1]), peers=[])
        a1 = port(pa1, na, ia1, "fa:16:3e:00:0a:01", "10.0.0.11", "a1")
        a2 = port(pa2, na, ia2, "fa:16:3e:00:0a:02", "10.0.0.12", "a2")
        put(ha, document("a1", [na], [a1, a2]))

        def nic(p):
            return {"port_id": p["id"], "network_id": p["network_id"], "mac": p["mac"]}

        ha.api.create(name=a1["vm"], id=ia1, nics=[nic(a1)], user_data=SERVER)
        ha.api.create(name=a2["vm"], id=ia2, nics=[nic(a2)], user_data=LEASE_CLIENT)
        for p in (a1, a2):
            m, _ = wait_console(ha, p["vm"], READY + r" .*ip=(\S+)")
            assert m.group(1) == p["ip"]
        wait_console(ha, a2["vm"], r"LOOP-OK")
        ta = tag(ha)

        def a_state():
            l = links(ns)
            return ({k: v for k, v in l.items() if k.startswith(ta)},
                    sorted(n for n in netns_list() if n.startswith(ns + "-" + ta)),
                    [n["dnsmasq_pid"] for n in ha.api.get("/v1/network").json["networks"]])

        def leases(h, vni):
            with open(os.path.join(h.state, "net", str(vni), "leases")) as f:
                return f.read()

        before = a_state()
        assert len(before[0]) == 4 and len(before[1]) == 1 and before[2][0], before
        assert a1["mac"] in leases(ha, 1001) and a2["mac"] in leases(ha, 1001)
        fails = ha.api.console(a2["vm"]).count("LOOP-FAIL")
        oks = ha.api.console(a2["vm"]).count("LOOP-OK")

        # The second agent: the same VNI and CIDR, a guest of its own.
        hb.start()
        tb = tag(hb)
        assert tb != ta
        nb = dict(network(nb_id, sb_id, 1001, UNDERLAY[1]), peers=[])
        b1 = port(pb1, nb, ib1, "fa:16:3e:00:0b:01", "10.0.0.21", "b1")
        put(hb, document("b1", [nb], [b1]))
        hb.api.create(name=b1["vm"], id=ib1, nics=[nic(b1)], user_data="#!/bin/sh\necho B-UP\n")
        m, _ = wait_console(hb, b1["vm"], READY + r" .*ip=(\S+)")
        assert m.group(1) == "10.0.0.21"
        assert a_state() == before
        tables = sh("ip", "netns", "exec", ns, "nft", "list", "tables")
        for t in (ta, tb):
            assert "inet nubo-" + t in tables and "bridge nubo-" + t in tables, tables
        # The first agent restarts: the second's objects stay.
        b_links = {k: v for k, v in links(ns).items() if k.startswith(tb)}
        assert ha.stop() == 0
        ha.start()
        assert {k: v for k, v in links(ns).items() if k.startswith(tb)} == b_links
        assert a_state() == before
        # The second agent adds a network, then leaves: all of it goes,
        # nothing of the first's.
        nc = dict(network(nc_id, sc_id, 1002, UNDERLAY[1]), peers=[])
        put(hb, document("b2", [nb, nc], [b1]))
        assert hb.api.delete("/v1/vms/" + b1["vm"]).status == 204
        put(hb, document("b3", [], []))
        assert not [k for k in links(ns) if k.startswith(tb)]
        assert not [n for n in netns_list() if n.startswith(ns + "-" + tb)]
        # (its tables stay, empty of ports and bridges, like any agent's
        # without networks)
        assert tb + "b1" not in sh("ip", "netns", "exec", ns, "nft", "list", "table", "inet",
                                 "nubo-" + tb)
        assert hb.stop() == 0
        assert a_state() == before

        # Throughout: the first agent's guests kept their leases and reached
        # each other.
        deadline = time.time() + 30
        while ha.api.console(a2["vm"]).count("LOOP-OK") < oks + 3:
            assert time.time() < deadline, "a2 no longer reaches a1"
            time.sleep(0.5)
        text = ha.api.console(a2["vm"])
        assert text.count("LOOP-FAIL") == fails, text[-2000:]
        assert a1["mac"] in leases(ha, 1001) and a2["mac"] in leases(ha, 1001)
        for vm in ha.api.get("/v1/vms").json["vms"]:
            assert ha.api.delete("/v1/vms/" + vm["id"]).status == 204
        assert ha.stop() == 0
    finally:
        for h in agents:
            if h.proc is not None:
                h.proc.kill()
                h.proc.wait()
                h.proc = None
        kill_matching(tmp)
        for name in netns_list():
            if name == ns or name.startswith(ns + "-"):
                subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_legacy_names_migrated(tmp_path):
    """An agent upgraded in place finds the objects it made under the names
    before agent tags: those of its own document's VNIs and ports go (and
    are made again under its tag), the legacy host tables with them; legacy
    objects of other VNIs (maybe another agent's) stay."""
    ns = "hm-" + secrets.token_hex(2)
    h = None
    net_id, sub_id, port_id, other_port, inst = ids(5)
    legacy_tap = "tp" + port_id.replace("-", "")[:12]
    foreign_tap = "tp" + other_port.replace("-", "")[:12]
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        for br in ("nb1001", "nb1002"):
            sh("ip", "-n", ns, "link", "add", br, "type", "bridge")
        sh("ip", "netns", "add", ns + "-r1001")
        sh("ip", "netns", "add", ns + "-r1002")
        sh("ip", "-n", ns, "link", "add", "nr1001", "type", "veth", "peer", "name", "gw",
           "netns", ns + "-r1001")
        for t in (legacy_tap, foreign_tap):
            sh("ip", "-n", ns, "tuntap", "add", "dev", t, "mode", "tap")
        sh("ip", "netns", "exec", ns, "nft", "add", "table", "inet", "nubo")
        sh("ip", "netns", "exec", ns, "nft", "add", "table", "bridge", "nubo")
        h = Hostd(str(tmp_path), ["--netns", ns]).start()
        net = dict(network(net_id, sub_id, 1001, UNDERLAY[1]), peers=[])
        p = port(port_id, net, inst, "fa:16:3e:00:0d:01", "10.0.0.31", "m1")
        put(h, document("m1", [net], [p]))
        t = tag(h)
        l = links(ns)
        assert not {"nb1001", "nr1001", legacy_tap} & set(l), sorted(l)
        assert {"nb1002", foreign_tap, t + "b1001", t + "r1001"} <= set(l), sorted(l)
        names = netns_list()
        assert ns + "-r1001" not in names and ns + "-r1002" in names
        assert "%s-%s-r1001" % (ns, t) in names
        tables = sh("ip", "netns", "exec", ns, "nft", "list", "tables")
        assert "inet nubo\n" not in tables and "bridge nubo\n" not in tables, tables
        assert "inet nubo-" + t in tables
        # converged: the same document again changes nothing
        put(h, document("m2", [net], [p]))
        assert links(ns) == l
        assert h.stop() == 0
    finally:
        if h is not None and h.proc is not None:
            h.proc.kill()
            h.proc.wait()
        kill_matching(str(tmp_path))
        for name in netns_list():
            if name == ns or name.startswith(ns + "-"):
                subprocess.run(["ip", "netns", "del", name], capture_output=True)
