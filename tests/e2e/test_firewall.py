"""The host firewall (src/host/net/firewall.c) enforced by real nftables, no VMs.

The test builds, in namespaces of its own (random names, removed in the
finalizer even on failure):

  host ns  "nfh<sfx>": bridge ntstb1001 (the tenant network; "ntst" is the
           agent tag fw_apply uses by default), bridge "bx"
           (the external network); each guest's veth host end is a "tap"
           named from its port id like the agent's taps
  guests   "nfg<i><sfx>": eth0 with the port's MAC and IP, default via the
           gateway
  router   "nfh<sfx>-ntst-r1001" (the agent's --netns naming): gw (gateway IP,
           router_mac) on ntstb1001 through veth ntstr1001, ext on bx carrying the
           floating IP; forwarding on
  outside  "nfo<sfx>": eth0 on bx, 203.0.113.100

and applies network documents with build/tests/net/fw_apply (net_doc_parse
+ fw_apply).  Reachability is probed with short-lived Python TCP clients
against listeners that answer with the peer address they saw.
"""
import copy
import json
import os
import random
import subprocess
import sys
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("NUBO_BUILD", "build-asan"))
FW_APPLY = os.path.join(BUILD, "tests", "net", "fw_apply")
PY = "/usr/bin/python3"
ROUTER_MAC = "fa:16:3e:00:00:01"
VNI = 1001
TAG = "ntst"  # fw_apply's default agent tag
BR = TAG + "b%d" % VNI

LISTENER = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(64)
print("ready", flush=True)
while True:
    c, a = s.accept()
    try:
        c.sendall(a[0].encode())
    except OSError:
        pass
    c.close()
"""

CLIENT = r"""
import socket, sys
ip, port, timeout, src = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
s = socket.socket()
s.settimeout(timeout)
if src:
    s.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND: a source not (yet) ours
    s.bind((src, 0))
try:
    s.connect((ip, port))
    print(s.recv(64).decode())
except OSError as e:
    print("FAIL", e)
    sys.exit(1)
"""

SNIFF = r"""
import socket, struct, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL
s.bind(("eth0", 0))
print("ready", flush=True)
end = time.monotonic() + float(sys.argv[1])
while True:
    left = end - time.monotonic()
    if left <= 0:
        break
    s.settimeout(left)
    try:
        f = s.recv(2048)
    except socket.timeout:
        break
    src, etype = f[6:12].hex(":"), struct.unpack("!H", f[12:14])[0]
    what = "other"
    if etype == 0x0806:
        what = "arp-for-" + socket.inet_ntoa(f[38:42])
    elif etype == 0x0800 and f[23] == 17:
        ihl = (f[14] & 15) * 4
        what = "udp-to-%d" % struct.unpack("!H", f[14 + ihl + 2:14 + ihl + 4])[0]
    print(src, what, flush=True)
"""

ARP_SEND = r"""
import socket, struct, sys
ifname, smac, sip, tip = sys.argv[1:5]
mac = bytes.fromhex(smac.replace(":", ""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, socket.inet_aton(sip),
                  b"\0" * 6, socket.inet_aton(tip))
for _ in range(3):
    s.send(b"\xff" * 6 + mac + b"\x08\x06" + arp)
"""


def run(*argv, check=True, timeout=20):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d): %s%s" % (" ".join(argv), r.returncode, r.stdout,
                                                        r.stderr))
    return r


def nsx(ns, *argv, **kw):
    return run("ip", "netns", "exec", ns, *argv, **kw)


def tap_name(port_id):
    return TAG + "t" + port_id.replace("-", "")[:10]


class Topo:
    def __init__(self, tmp):
        sfx = "%06x" % random.getrandbits(24)
        self.tmp = tmp
        self.host = "nfh" + sfx
        self.router = self.host + "-%s-r%d" % (TAG, VNI)
        self.outside = "nfo" + sfx
        self.namespaces = []
        self.procs = []
        self.net_id, self.sub_id = str(uuid.uuid4()), str(uuid.uuid4())
        self.sg_default, self.sg_other, self.sg_web = (str(uuid.uuid4()) for _ in range(3))
        self.guests = []
        for i in range(3):
            self.guests.append({
                "ns": "nfg%d%s" % (i + 1, sfx),
                "port": str(uuid.uuid4()),
                "mac": "fa:16:3e:00:01:%02x" % (i + 1),
                "ip": "10.0.0.%d" % (11 + i),
            })

    def addns(self, name):
        run("ip", "netns", "add", name)
        self.namespaces.append(name)
        nsx(name, "ip", "link", "set", "lo", "up")

    def build(self):
        h = self.host
        self.addns(h)
        run("ip", "-n", h, "link", "add", BR, "type", "bridge", "forward_delay", "0")
        run("ip", "-n", h, "link", "add", "bx", "type", "bridge", "forward_delay", "0")
        run("ip", "-n", h, "link", "set", BR, "up")
        run("ip", "-n", h, "link", "set", "bx", "up")
        for g in self.guests:
            self.addns(g["ns"])
            tap = tap_name(g["port"])
            run("ip", "link", "add", tap, "netns", h, "type", "veth", "peer", "name", "eth0",
                "netns", g["ns"])
            run("ip", "-n", h, "link", "set", tap, "master", BR, "up")
            run("ip", "-n", g["ns"], "link", "set", "eth0", "address", g["mac"], "up")
            run("ip", "-n", g["ns"], "addr", "add", g["ip"] + "/24", "dev", "eth0")
            run("ip", "-n", g["ns"], "route", "add", "default", "via", "10.0.0.1")
        r = self.router
        self.addns(r)
        run("ip", "link", "add", TAG + "r%d" % VNI, "netns", h, "type", "veth", "peer", "name", "gw",
            "netns", r)
        run("ip", "-n", h, "link", "set", TAG + "r%d" % VNI, "master", BR, "up")
        run("ip", "-n", r, "link", "set", "gw", "address", ROUTER_MAC, "up")
        run("ip", "-n", r, "addr", "add", "10.0.0.1/24", "dev", "gw")
        run("ip", "link", "add", "xr", "netns", h, "type", "veth", "peer", "name", "ext",
            "netns", r)
        run("ip", "-n", h, "link", "set", "xr", "master", "bx", "up")
        run("ip", "-n", r, "link", "set", "ext", "up")
        run("ip", "-n", r, "addr", "add", "203.0.113.2/24", "dev", "ext")
        run("ip", "-n", r, "addr", "add", "203.0.113.10/32", "dev", "ext")
        nsx(r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        o = self.outside
        self.addns(o)
        run("ip", "link", "add", "xo", "netns", h, "type", "veth", "peer", "name", "eth0",
            "netns", o)
        run("ip", "-n", h, "link", "set", "xo", "master", "bx", "up")
        run("ip", "-n", o, "link", "set", "eth0", "up")
        run("ip", "-n", o, "addr", "add", "203.0.113.100/24", "dev", "eth0")
        # a stand-in for the VXLAN port: its far end sees what would cross
        self.remote = "nfx" + self.host[3:]
        self.addns(self.remote)
        run("ip", "link", "add", TAG + "x%d" % VNI, "netns", h, "type", "veth", "peer", "name",
            "eth0", "netns", self.remote)
        run("ip", "-n", h, "link", "set", TAG + "x%d" % VNI, "master", BR, "up")
        run("ip", "-n", self.remote, "link", "set", "eth0", "up")
        for g in self.guests:
            self.listen(g["ns"], 8080)
        self.listen(o, 9000)

    def listen(self, ns, port):
        p = subprocess.Popen(["ip", "netns", "exec", ns, PY, "-c", LISTENER, str(port)],
                             stdout=subprocess.PIPE, text=True)
        self.procs.append(p)
        assert p.stdout.readline().strip() == "ready"

    def teardown(self):
        for p in self.procs:
            p.kill()
            p.wait()
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    # ---- documents ----------------------------------------------------------

    def doc(self, groups=None, rules=None, port_security=(True, True, True), floating=True):
        """groups: the security groups of each guest; rules: {sg: [rule...]}."""
        groups = groups or ([self.sg_default], [self.sg_default], [self.sg_other])
        if rules is None:
            rules = self.default_rules()
        ports = []
        for i, g in enumerate(self.guests):
            ports.append({
                "id": g["port"], "network_id": self.net_id, "subnet_id": self.sub_id,
                "vm": "nubo-" + g["port"], "instance_id": g["port"], "mac": g["mac"],
                "ip": g["ip"], "hostname": "g%d" % (i + 1), "port_security": port_security[i],
                "security_groups": groups[i],
                "floating_ip": "203.0.113.10" if i == 0 and floating else None,
            })
        members = {}
        for sg, rs in rules.items():
            for r in rs:
                if r.get("remote_group"):
                    members[r["remote_group"]] = [
                        self.guests[i]["ip"] for i in range(3) if r["remote_group"] in groups[i]]
        return {
            "generation": str(time.monotonic()),
            "networks": [{"id": self.net_id, "vni": VNI, "mtu": 1450, "router_mac": ROUTER_MAC,
                          "domain": None,
                          "subnets": [{"id": self.sub_id, "cidr": "10.0.0.0/24",
                                       "gateway": "10.0.0.1", "dns_servers": []}],
                          "peers": [], "dns_records": []}],
            "ports": ports,
            "security_groups": [{"id": sg, "rules": [dict(r, id=str(uuid.uuid4())) for r in rs]}
                                for sg, rs in rules.items()],
            "group_members": members,
            "external": {"network_id": str(uuid.uuid4()), "cidr": "203.0.113.0/24",
                         "gateway": "203.0.113.1"},
        }

    def default_rules(self):
        def group(sg):
            return [rule("egress"), rule("ingress", remote_group=sg)]
        return {self.sg_default: group(self.sg_default), self.sg_other: group(self.sg_other),
                self.sg_web: [rule("ingress", "tcp", 8080, 8080, remote_cidr="0.0.0.0/0")]}

    def apply(self, doc, *extra, expect=0):
        path = os.path.join(self.tmp, "doc.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        r = run(FW_APPLY, "--netns", self.host, *extra, path, check=False)
        assert r.returncode == expect, r.stderr
        return r

    # ---- probes -------------------------------------------------------------

    def connect(self, ns, ip, port=8080, timeout=0.5, src=""):
        """The address the listener saw, or None when the connection failed."""
        r = nsx(ns, PY, "-c", CLIENT, ip, str(port), str(timeout), src, check=False)
        return r.stdout.strip() if r.returncode == 0 else None

    def g(self, i):
        return self.guests[i]


def rule(direction, protocol="any", port_min=None, port_max=None, remote_cidr=None,
         remote_group=None):
    return {"direction": direction, "protocol": protocol, "port_min": port_min,
            "port_max": port_max, "remote_cidr": remote_cidr, "remote_group": remote_group}


@pytest.fixture(scope="module")
def topo(tmp_path_factory):
    if not os.access(FW_APPLY, os.X_OK):
        raise AssertionError("%s is missing: build first" % FW_APPLY)
    t = Topo(str(tmp_path_factory.mktemp("fw")))
    try:
        t.build()
        yield t
    finally:
        t.teardown()


@pytest.fixture
def fw(topo):
    """The default document applied before each test."""
    topo.apply(topo.doc())
    yield topo


def nft_list(t, table):
    return nsx(t.host, "nft", "list", "table", *table.split()).stdout


# ---- tests --------------------------------------------------------------------


def test_no_firewall_everything_passes(topo):
    """The topology itself works (so a later failure to connect is the firewall's)."""
    topo.apply(topo.doc(), "--remove")
    g1, g2, g3 = topo.guests
    assert topo.connect(g1["ns"], g2["ip"]) == g1["ip"]
    assert topo.connect(g3["ns"], g1["ip"]) == g3["ip"]
    assert topo.connect(topo.outside, "203.0.113.10") is None  # no DNAT yet


def test_default_group(fw):
    g1, g2, g3 = fw.guests
    assert fw.connect(g1["ns"], g2["ip"]) == g1["ip"]
    assert fw.connect(g2["ns"], g1["ip"]) == g2["ip"]
    # g3 is in another group: no ingress from it, none to it
    assert fw.connect(g3["ns"], g2["ip"]) is None
    assert fw.connect(g1["ns"], g3["ip"]) is None
    # applying the same document again changes nothing
    before = nft_list(fw, "inet nubo-" + TAG) + nft_list(fw, "bridge nubo-" + TAG)
    fw.apply(fw.doc())
    assert nft_list(fw, "inet nubo-" + TAG) + nft_list(fw, "bridge nubo-" + TAG) == before


def wait_state(t, ns, ip, want, start, limit=1.0):
    """Polls until connect() succeeds (want=True) or fails; returns seconds from start."""
    while True:
        ok = t.connect(ns, ip, timeout=0.2) is not None
        now = time.monotonic()
        if ok == want:
            return now - start
        assert now - start < limit + 1.0, "state %s not reached in time" % want


def test_ingress_rule_change_live(fw):
    g1, g2, g3 = fw.guests
    assert fw.connect(g1["ns"], g3["ip"]) is None
    rules = fw.default_rules()
    rules[fw.sg_other].append(rule("ingress", "tcp", 8080, 8080, remote_cidr="10.0.0.0/28"))
    t0 = time.monotonic()
    fw.apply(fw.doc(rules=rules))
    took = wait_state(fw, g1["ns"], g3["ip"], True, t0)
    print("ingress rule added: first connect %.3f s after apply started" % took)
    assert took < 1.0, took
    # port 8081 is not opened by the rule; 10.0.0.16+ not in the CIDR
    assert fw.connect(g1["ns"], g3["ip"], port=8081) is None
    rules[fw.sg_other][-1]["remote_cidr"] = "10.0.0.0/30"
    fw.apply(fw.doc(rules=rules))
    assert fw.connect(g1["ns"], g3["ip"]) is None
    # removed again: denied again
    rules[fw.sg_other][-1]["remote_cidr"] = "10.0.0.0/28"
    fw.apply(fw.doc(rules=rules))
    assert fw.connect(g1["ns"], g3["ip"]) == g1["ip"]
    t0 = time.monotonic()
    fw.apply(fw.doc())
    took = wait_state(fw, g1["ns"], g3["ip"], False, t0)
    print("ingress rule removed: first refusal %.3f s after apply started" % took)
    assert took < 1.0, took


def test_egress_rule_change_live(fw):
    g1, g2, g3 = fw.guests
    rules = fw.default_rules()
    # g1 and g2 accept tcp 8080 from anyone; g3's only way out is its egress
    rules[fw.sg_default].append(rule("ingress", "tcp", 8080, 8080, remote_cidr="0.0.0.0/0"))
    fw.apply(fw.doc(rules=rules))
    assert fw.connect(g3["ns"], g1["ip"]) == g3["ip"]
    rules[fw.sg_other] = [rule("ingress", remote_group=fw.sg_other)]  # no egress at all
    t0 = time.monotonic()
    fw.apply(fw.doc(rules=rules))
    assert wait_state(fw, g3["ns"], g1["ip"], False, t0) < 1.0
    # a narrow egress rule: tcp 8080 to g2 only
    rules[fw.sg_other].append(rule("egress", "tcp", 8080, 8080, remote_cidr=g2["ip"] + "/32"))
    t0 = time.monotonic()
    fw.apply(fw.doc(rules=rules))
    assert wait_state(fw, g3["ns"], g2["ip"], True, t0) < 1.0
    assert fw.connect(g3["ns"], g1["ip"]) is None


def test_established_return_traffic(fw):
    """Ingress locked down entirely: outgoing connections still get their replies."""
    g1, g2, g3 = fw.guests
    rules = fw.default_rules()
    rules[fw.sg_default] = [rule("egress")]  # egress only, no ingress at all
    rules[fw.sg_other].append(rule("ingress", "tcp", 8080, 8080, remote_cidr="0.0.0.0/0"))
    fw.apply(fw.doc(rules=rules))
    assert fw.connect(g1["ns"], g3["ip"]) == g1["ip"]  # reply reaches g1 via ct state
    assert fw.connect(g3["ns"], g1["ip"]) is None       # but nothing new gets in
    assert fw.connect(g2["ns"], g1["ip"]) is None


def test_remote_group_membership(fw):
    g1, g2, g3 = fw.guests
    # put g3 into the default group too: the set of members now has it
    fw.apply(fw.doc(groups=([fw.sg_default], [fw.sg_default], [fw.sg_other, fw.sg_default])))
    assert fw.connect(g3["ns"], g2["ip"]) == g3["ip"]
    assert fw.connect(g1["ns"], g3["ip"]) == g1["ip"]
    fw.apply(fw.doc())
    assert fw.connect(g3["ns"], g2["ip"]) is None


def test_spoofed_source_ip_dropped(fw):
    g1, g2, g3 = fw.guests
    # g2 accepts tcp 8080 from anywhere: only anti-spoofing can stop g1
    groups = ([fw.sg_default], [fw.sg_default, fw.sg_web], [fw.sg_other])
    fw.apply(fw.doc(groups=groups))
    nsx(g1["ns"], "ip", "addr", "add", "10.0.0.99/24", "dev", "eth0")
    try:
        assert fw.connect(g1["ns"], g2["ip"], src=g1["ip"]) == g1["ip"]
        assert fw.connect(g1["ns"], g2["ip"], src="10.0.0.99") is None
        # control: without port security the same spoofed packet passes
        fw.apply(fw.doc(groups=groups, port_security=(False, True, True)))
        assert fw.connect(g1["ns"], g2["ip"], src="10.0.0.99") == "10.0.0.99"
    finally:
        nsx(g1["ns"], "ip", "addr", "del", "10.0.0.99/24", "dev", "eth0")


def test_spoofed_mac_dropped(fw):
    g1, g2, g3 = fw.guests
    assert fw.connect(g1["ns"], g2["ip"]) == g1["ip"]
    nsx(g1["ns"], "ip", "link", "set", "eth0", "address", "fa:16:3e:00:01:77")
    try:
        nsx(g2["ns"], "ip", "neigh", "flush", "dev", "eth0")
        assert fw.connect(g1["ns"], g2["ip"]) is None
    finally:
        nsx(g1["ns"], "ip", "link", "set", "eth0", "address", g1["mac"])
    nsx(g2["ns"], "ip", "neigh", "flush", "dev", "eth0")
    assert fw.connect(g1["ns"], g2["ip"]) == g1["ip"]


def neigh_mac(ns, ip):
    out = nsx(ns, "ip", "neigh", "show", ip, "dev", "eth0").stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else None


def test_arp_spoof_dropped(fw):
    g1, g2, g3 = fw.guests
    nsx(g3["ns"], "ip", "neigh", "flush", "dev", "eth0")
    # g1 claims g2's IP in an ARP request to g3
    nsx(g1["ns"], PY, "-c", ARP_SEND, "eth0", g1["mac"], g2["ip"], g3["ip"])
    # g1 asks honestly: the same frame with its own IP is delivered (control)
    nsx(g1["ns"], PY, "-c", ARP_SEND, "eth0", g1["mac"], g1["ip"], g3["ip"])
    deadline = time.monotonic() + 2
    while neigh_mac(g3["ns"], g1["ip"]) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert neigh_mac(g3["ns"], g1["ip"]) == g1["mac"]
    assert neigh_mac(g3["ns"], g2["ip"]) != g1["mac"]


def test_floating_ip(fw):
    g1, g2, g3 = fw.guests
    # without an ingress rule from outside the floating IP leads nowhere
    assert fw.connect(fw.outside, "203.0.113.10") is None
    fw.apply(fw.doc(groups=([fw.sg_default, fw.sg_web], [fw.sg_default], [fw.sg_other])))
    # inbound: outside reaches g1 at the floating IP, and g1 sees outside's address
    assert fw.connect(fw.outside, "203.0.113.10") == "203.0.113.100"
    # outbound: g1 appears as the floating IP; g2 (no floating IP) is not NATed out
    assert fw.connect(g1["ns"], "203.0.113.100", port=9000) == "203.0.113.10"
    assert fw.connect(g2["ns"], "203.0.113.100", port=9000) != "203.0.113.10"
    nat = nsx(fw.router, "nft", "list", "table", "ip", "nubo-nat").stdout
    assert "dnat to 10.0.0.11" in nat and "snat to 203.0.113.10" in nat
    # the floating IP goes away with the document's
    fw.apply(fw.doc(groups=([fw.sg_default, fw.sg_web], [fw.sg_default], [fw.sg_other]),
                    floating=False))
    assert fw.connect(fw.outside, "203.0.113.10") is None


def test_fixed_ips_closed_from_outside(fw):
    """Issue 13 item 16(b): the router forwards from the external leg only
    what DNAT made, so a fixed IP is not reachable from outside even when
    the guest's groups would let the traffic in."""
    g1, g2, g3 = fw.guests
    fw.apply(fw.doc(groups=([fw.sg_default, fw.sg_web], [fw.sg_default, fw.sg_web],
                            [fw.sg_other])))
    run("ip", "-n", fw.outside, "route", "add", "10.0.0.0/24", "via", "203.0.113.2")
    try:
        assert fw.connect(fw.outside, "203.0.113.10") == "203.0.113.100"  # DNAT still in
        assert fw.connect(fw.outside, g2["ip"]) is None  # no floating IP
        assert fw.connect(fw.outside, g1["ip"]) is None  # has one, but not this way
        # control: from inside, the same port of g2 is open
        assert fw.connect(g1["ns"], g2["ip"]) == g1["ip"]
    finally:
        run("ip", "-n", fw.outside, "route", "del", "10.0.0.0/24", check=False)


def test_bad_document_changes_nothing(fw):
    before = nft_list(fw, "inet nubo-" + TAG) + nft_list(fw, "bridge nubo-" + TAG)
    rules = fw.default_rules()
    rules[fw.sg_other].append(rule("ingress", "tcp", 1, 70000, remote_cidr="0.0.0.0/0"))
    r = fw.apply(fw.doc(rules=rules), expect=2)
    assert "port" in r.stderr
    bad = fw.doc()
    bad["ports"][0]["mac"] = "fa:16:3e:00:00:zz"
    fw.apply(bad, expect=2)
    assert nft_list(fw, "inet nubo-" + TAG) + nft_list(fw, "bridge nubo-" + TAG) == before


def test_remove(fw):
    fw.apply(fw.doc(), "--remove")
    for table in ("inet nubo-" + TAG, "bridge nubo-" + TAG):
        assert nsx(fw.host, "nft", "list", "table", *table.split(), check=False).returncode != 0
    assert nsx(fw.router, "nft", "list", "table", "ip", "nubo-nat",
               check=False).returncode != 0
    fw.apply(fw.doc(), "--remove")  # twice is fine


UDP_BCAST = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
s.bind(("0.0.0.0", int(sys.argv[1])))
s.sendto(b"x" * 300, ("255.255.255.255", int(sys.argv[2])))
"""


def test_host_local_traffic_stays_off_vxlan(fw):
    """ARP for the gateway, frames from router_mac and DHCP never reach nx*;
    other broadcasts from guests do (the control)."""
    g1 = fw.g(0)
    sniff = subprocess.Popen(["ip", "netns", "exec", fw.remote, PY, "-c", SNIFF, "2"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert sniff.stdout.readline().strip() == "ready"
        nsx(g1["ns"], PY, "-c", ARP_SEND, "eth0", g1["mac"], g1["ip"], "10.0.0.1")
        nsx(g1["ns"], PY, "-c", ARP_SEND, "eth0", g1["mac"], g1["ip"], "10.0.0.200")
        nsx(fw.router, PY, "-c", ARP_SEND, "gw", ROUTER_MAC, "10.0.0.1",
            "10.0.0.201")
        nsx(g1["ns"], PY, "-c", UDP_BCAST, "68", "67")   # DHCP-like, to servers
        nsx(g1["ns"], PY, "-c", UDP_BCAST, "5000", "5001")
        out, _ = sniff.communicate(timeout=10)
    finally:
        sniff.kill()
    seen = set(out.split("\n"))
    assert "%s arp-for-10.0.0.200" % g1["mac"] in seen
    assert "%s udp-to-5001" % g1["mac"] in seen
    assert "%s arp-for-10.0.0.1" % g1["mac"] not in seen
    assert "%s udp-to-67" % g1["mac"] not in seen
    assert not [line for line in seen if line.startswith(ROUTER_MAC)], seen
