"""Two simulated hosts for the mobility tests (live migration in
test_migrate.py, cold migration and resize in test_resize.py): one nubod
and two nubo-hostd, each keeping its host networking in a namespace made
here (as test_network_cloud.py does), joined by a veth underlay
(10.99.15.1 - 10.99.15.2) that carries the VXLAN, the migration stream
and the disk copies:

    nma-X ("host-a")  ul 10.99.15.1 <== veth ==> ul 10.99.15.2  nmb-X ("host-b")

The namespaces carry a random suffix, so two tests using this at once do
not meet; the underlay addresses exist only inside them.
"""
import contextlib
import secrets
import subprocess

from cloudfix import CloudHostd, harness
from test_network_host import kill_matching, netns_list, sh

UNDERLAY = ("10.99.15.1", "10.99.15.2")


class Net:
    """The two namespaces (prefix + a/b + a random suffix) joined by a veth
    underlay with the addresses underlay; bench/migrate.py uses it with its
    own prefix and addresses."""

    def __init__(self, prefix="nm", underlay=UNDERLAY):
        sfx = secrets.token_hex(2)
        self.ns = (prefix + "a-" + sfx, prefix + "b-" + sfx)
        self.underlay = underlay

    def setup(self):
        for ns in self.ns:
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.ns[0], "link", "add", "ul", "type", "veth", "peer", "name", "ul",
           "netns", self.ns[1])
        for ns, ip in zip(self.ns, self.underlay):
            sh("ip", "-n", ns, "addr", "add", ip + "/24", "dev", "ul")
            sh("ip", "-n", ns, "link", "set", "ul", "up")

    def teardown(self):
        for name in netns_list():
            if any(name == ns or name.startswith(ns + "-") for ns in self.ns):
                subprocess.run(["ip", "netns", "del", name], capture_output=True)


@contextlib.contextmanager
def two_hosts(tmp, host_args=None):
    """nubod and the agents "host-a" and "host-b" (each with its
    host_args[name] added); yields (nubod, [host-a, host-b]), each host with
    .ns, its namespace.  On the way out every VM is deleted and every
    program must exit cleanly (sanitizers); nothing is left running, and
    the namespaces go, even when the test failed."""
    tmp = str(tmp)
    net = Net()
    nubod = None
    hosts = []
    try:
        net.setup()
        nubod = harness.Nubod(tmp).start()
        for name, ns, ul in (("host-a", net.ns[0], UNDERLAY[0]),
                             ("host-b", net.ns[1], UNDERLAY[1])):
            h = CloudHostd(tmp, nubod, name)
            h.ns = ns
            h.args += ["--netns", ns, "--underlay-ip", ul] + list((host_args or {}).get(name, ()))
            hosts.append(h)
            h.start()
        yield nubod, hosts
        for h in hosts:
            for vm in h.api.get("/v1/vms").json["vms"]:
                h.api.delete("/v1/vms/" + vm["id"])
            rc = h.stop()
            assert rc == 0, "%s exited with %d:\n%s" % (h.name, rc, h.log())
        rc = nubod.stop()
        assert rc == 0, "nubod exited with %d:\n%s" % (rc, nubod.log())
    finally:
        for h in hosts:
            if h.proc is not None:
                h.proc.kill()
        if nubod is not None and nubod.proc is not None:
            nubod.proc.kill()
        kill_matching(tmp)
        net.teardown()


def qemus_of(hosts, iid):
    """{host name: [pids]} of the QEMUs running vm nubo-<iid>."""
    out = {}
    for h in hosts:
        r = subprocess.run(["pgrep", "-f", "--", "%s/vms/%s" % (h.state, iid)],
                           capture_output=True, text=True)
        out[h.name] = [int(p) for p in r.stdout.split()]
    return out
