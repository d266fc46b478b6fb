"""A real Debian 12 cloud image configures itself from nubo with the real,
unmodified cloud-init (issue 4, metadata).

The nubo-debian image (images/build-cloudinit.sh: debootstrap, Debian's own
cloud-init package) boots through a real nubo-hostd under QEMU/TCG with a
hostname, a freshly generated SSH public key and a #!/bin/sh user-data
script.  The metadata reaches the guest on the config drive that nubo-hostd
makes for every VM (src/host/vm/qemu.c, make_config_drive).  cloud-init alone
must set the hostname, install the key for the image's default user and run
the script; the script reports what it sees on the serial console, and this
test checks that it was cloud-init that did it: the script runs from
cloud-init's per-instance scripts directory, /var/lib/cloud/instance is the
instance named by the VM's id, `cloud-init status` ends "done" (no module
failed), and `dpkg --verify cloud-init` finds no file changed.

A second test boots the same image on a tenant network (nubo-hostd with
--netns, a network document PUT by the test) without a config drive: the
only metadata is nubo-hostd's own EC2-style service at 169.254.169.254, and
cloud-init's Ec2 datasource must configure the guest from it (hostname, key,
user-data, the port's address from nubo's dnsmasq).

Create to user-data under TCG takes about 41 s on an idle 2-core machine,
60-80 s while other builds share it (docs/internals/images.md); each wait
is bounded by BOOT_TIMEOUT idle-machine seconds, about three times the
loaded figure (speed.py stretches it by the measured slowdown).
"""
import base64
import os
import re
import secrets
import subprocess
import time
import uuid

import pytest

from conftest import IMAGES, ROOT, Hostd
from speed import Deadline

import test_network_host as nh

IMAGE = "nubo-debian"
PARTS = ("qcow2", "kernel", "initrd", "cmdline")
BOOT_TIMEOUT = 240          # seconds from create to the end marker
DEFAULT_USER = "debian"     # Debian's /etc/cloud/cloud.cfg default_user

# Runs once per instance, from cloud-init's scripts-user module (final
# stage).  Everything it reports goes to the serial console, one
# "NUBO-CI key=value" line each.  The last part waits in the background for
# cloud-init to finish (the final stage is still running while this script
# runs) and reports `cloud-init status --long`, then the end marker.
USER_DATA = r"""#!/bin/sh
{
echo "NUBO-CI script=$0"
echo "NUBO-CI hostname=$(hostname)"
echo "NUBO-CI etc-hostname=$(cat /etc/hostname)"
echo "NUBO-CI instance-link=$(readlink /var/lib/cloud/instance)"
echo "NUBO-CI instance-id=$(cat /var/lib/cloud/data/instance-id)"
echo "NUBO-CI datasource=$(head -n 1 /var/lib/cloud/instance/datasource)"
echo "NUBO-CI ip=$(ip -4 -o addr show scope global | awk '{print $4}' | head -n 1)"
echo "NUBO-CI cloud-init-pkg=$(dpkg-query -W -f '${Version} ${db:Status-Status}' cloud-init)"
echo "NUBO-CI dpkg-verify=$(dpkg --verify cloud-init | wc -l)"
echo "NUBO-CI uptime=$(cut -d ' ' -f 1 /proc/uptime)"
u=$(getent passwd 1000 | cut -d : -f 1)
echo "NUBO-CI default-user=$u"
sed 's/^/NUBO-CI key=/' "/home/$u/.ssh/authorized_keys"
echo "NUBO-CI user-data-ran-$((6*7))"
} >/dev/ttyS0 2>&1
setsid sh -c 'cloud-init status --wait >/dev/null 2>&1
cloud-init status --long 2>&1 | sed "s/^/NUBO-CI status: /"
echo "NUBO-CI sshd=$(systemctl is-active ssh)"
echo NUBO-CI-END' </dev/null >/dev/ttyS0 2>&1 &
"""


@pytest.fixture(scope="module")
def debian_image():
    """Builds (or finds up to date) the nubo-debian image in IMAGES.  A build
    that fails fails the test with its output: never a skip."""
    script = os.path.join(ROOT, "images", "build-cloudinit.sh")
    t0 = time.monotonic()
    try:
        r = subprocess.run([script, IMAGES], capture_output=True, text=True, timeout=1200)
    except subprocess.TimeoutExpired as e:
        pytest.fail("images/build-cloudinit.sh did not finish in %ss:\n%s"
                    % (e.timeout, (e.stdout or "")[-3000:]))
    if r.returncode != 0:
        pytest.fail("images/build-cloudinit.sh failed (status %d): cannot test the "
                    "Debian cloud-init image\n%s%s"
                    % (r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
    print("nubo-debian image ready in %.1fs" % (time.monotonic() - t0))
    for ext in PARTS:
        path = os.path.join(IMAGES, IMAGE + "." + ext)
        assert os.path.getsize(path) > 0, path
    return IMAGES


def _install_image(hostd, images):
    for ext in PARTS:
        dst = os.path.join(hostd.images, IMAGE + "." + ext)
        if not os.path.exists(dst):
            os.symlink(os.path.join(images, IMAGE + "." + ext), dst)


def _ssh_ed25519_key(comment):
    """A new OpenSSH ed25519 public key line (random: nothing in the image
    can know it in advance)."""
    def s(b):
        return len(b).to_bytes(4, "big") + b
    blob = s(b"ssh-ed25519") + s(os.urandom(32))
    return "ssh-ed25519 %s %s" % (base64.b64encode(blob).decode(), comment)


def _report(console):
    """The NUBO-CI lines of the console as {key: [values]}."""
    out = {}
    for m in re.finditer(r"NUBO-CI ([a-z-]+)[=:] ?([^\r\n]*)", console):
        out.setdefault(m.group(1), []).append(m.group(2).strip())
    return out


def _wait_for(api, ref, marker, timeout):
    deadline = Deadline(timeout)
    while True:
        text = api.console(ref)
        if marker in text:
            return text
        vm = api.vm(ref)
        if vm["state"] in ("stopped", "crashed"):
            raise AssertionError("VM %s is %s (%s) before %s; console:\n%s"
                                 % (ref, vm["state"], vm["reason"], marker, text[-4000:]))
        if deadline.passed():
            raise AssertionError("no %s after %s; console:\n%s" % (marker, deadline, text[-4000:]))
        time.sleep(1)


def test_debian_cloudinit_configures_itself(hostd, debian_image):
    _install_image(hostd, debian_image)
    api = hostd.api
    key = _ssh_ed25519_key("ci@nubo-test")
    hostname = "ci-guest-%d" % (os.getpid() % 1000)

    t0 = time.monotonic()
    vm = api.create(name="deb", image=IMAGE, memory="512M", network="user",
                    hostname=hostname, ssh_keys=[key], user_data=USER_DATA)
    assert vm["state"] == "running", vm
    console = _wait_for(api, "deb", "NUBO-CI user-data-ran-42", BOOT_TIMEOUT)
    userdata_s = time.monotonic() - t0
    console = _wait_for(api, "deb", "NUBO-CI-END", max(60, BOOT_TIMEOUT - userdata_s))
    done_s = time.monotonic() - t0
    r = _report(console)
    print("create -> user-data %.1fs, -> cloud-init done %.1fs (guest uptime at "
          "user-data: %ss)" % (userdata_s, done_s, r.get("uptime", ["?"])[0]))

    def one(k):
        assert k in r, "no NUBO-CI %s line; console:\n%s" % (k, console[-4000:])
        return r[k][0]

    # cloud-init ran the user-data: from its per-instance scripts directory.
    assert re.fullmatch(r"/var/lib/cloud/instance/scripts/part-\d+", one("script")), r
    # ... for this instance, found on nubo's config drive.
    assert one("instance-id") == vm["id"]
    assert one("instance-link") == "/var/lib/cloud/instances/" + vm["id"]
    assert "DataSourceConfigDrive" in one("datasource"), r
    # The hostname from the metadata (the image itself says "nubo-debian").
    assert one("hostname") == hostname
    assert one("etc-hostname") == hostname
    # The key, for Debian's default user.
    assert one("default-user") == DEFAULT_USER
    assert key in r.get("key", []), r.get("key")
    # The network came up by DHCP on the first NIC (cloud-init's fallback
    # configuration; QEMU user networking hands out 10.0.2.15).
    assert one("ip") == "10.0.2.15/24"
    # cloud-init is Debian's package, file for file.
    assert re.fullmatch(r"\S+ installed", one("cloud-init-pkg")), r
    assert one("dpkg-verify") == "0"
    # SSH host keys made at first boot (none are baked into the image),
    # shown on the console by cloud-init, and the server runs.
    assert "-----BEGIN SSH HOST KEY KEYS-----" in console
    assert one("sshd") == "active"
    # Every stage finished without error.
    status = r.get("status", [])
    assert "status: done" in status, "cloud-init status --long:\n" + "\n".join(status)
    assert not [l for l in console.splitlines() if "Failed to start" in l and "cloud" in l]
    assert console.count("NUBO-CI user-data-ran-42") == 1

    assert api.delete("/v1/vms/deb").status == 204


@pytest.fixture
def netns_host(tmp_path):
    """A nubo-hostd whose host networking lives in a namespace made here;
    everything is removed on teardown, also when the test fails."""
    ns = "ci-" + secrets.token_hex(3)
    nh.sh("ip", "netns", "add", ns)
    nh.sh("ip", "-n", ns, "link", "set", "lo", "up")
    h = Hostd(str(tmp_path), ["--netns", ns])
    try:
        h.start()
        yield h
        for vm in h.api.get("/v1/vms").json["vms"]:
            h.api.delete("/v1/vms/" + vm["id"])
        rc = h.stop()
        assert rc == 0, "nubo-hostd exited with %d:\n%s" % (rc, h.log())
    finally:
        if h.proc is not None:
            h.stop()
        nh.kill_matching(str(tmp_path))
        for name in nh.netns_list():
            if name == ns or name.startswith(ns + "-"):
                subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_debian_cloudinit_from_nubo_metadata_service(netns_host, debian_image):
    """The same image on a tenant network, without a config drive: the only
    metadata is what nubo-hostd's metadata service answers at
    169.254.169.254 in the network's router namespace, and cloud-init's Ec2
    datasource must find it and configure the guest from it."""
    _install_image(netns_host, debian_image)
    api = netns_host.api
    key = _ssh_ed25519_key("ec2@nubo-test")
    hostname = "ec2-guest-%d" % (os.getpid() % 1000)
    net_id, sub_id, inst, port_id = (str(uuid.uuid4()) for _ in range(4))
    net = nh.network(net_id, sub_id, 1001, None)
    net["peers"] = []
    mac = "fa:16:3e:5a:00:21"
    prt = nh.port(port_id, net, inst, mac, "10.0.0.21", hostname)
    nh.put(netns_host, nh.document("g1", [net], [prt]))

    t0 = time.monotonic()
    vm = api.create(id=inst, name="nubo-" + inst, image=IMAGE, memory="512M", network="none",
                    nics=[{"port_id": port_id, "network_id": net_id, "mac": mac}],
                    config_drive=False, hostname=hostname, ssh_keys=[key], user_data=USER_DATA)
    assert vm["state"] == "running", vm
    assert vm["config_drive"] is False, vm
    console = _wait_for(api, vm["name"], "NUBO-CI-END", BOOT_TIMEOUT)
    print("create -> cloud-init done (Ec2 from nubo-hostd) %.1fs" % (time.monotonic() - t0))
    r = _report(console)

    def one(k):
        assert k in r, "no NUBO-CI %s line; console:\n%s" % (k, console[-4000:])
        return r[k][0]

    assert re.fullmatch(r"/var/lib/cloud/instance/scripts/part-\d+", one("script")), r
    assert one("instance-id") == inst
    assert one("instance-link") == "/var/lib/cloud/instances/" + inst
    assert one("datasource").startswith("DataSourceEc2"), r
    assert one("hostname") == hostname
    assert one("etc-hostname") == hostname
    assert key in r.get("key", []), r.get("key")
    # the address the port was given, by nubo's dnsmasq
    assert one("ip") == "10.0.0.21/24"
    assert one("dpkg-verify") == "0"
    assert "status: done" in r.get("status", []), r.get("status")
    assert console.count("NUBO-CI user-data-ran-42") == 1
