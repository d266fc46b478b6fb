"""A real Debian 12 cloud image configures itself from nubo with the real,
unmodified cloud-init (issue 4, metadata).

The nubo-debian image (images/build-cloudinit.sh: debootstrap, Debian's own
cloud-init package) boots through a real nubo-hostd under QEMU/TCG with a
hostname, a freshly generated SSH public key and a #!/bin/sh user-data
script.  The metadata reaches the guest on the config drive that nubo-hostd
makes for every VM (src/host/qemu.c, make_config_drive).  cloud-init alone
must set the hostname, install the key for the image's default user and run
the script; the script reports what it sees on the serial console, and this
test checks that it was cloud-init that did it: the script runs from
cloud-init's per-instance scripts directory, /var/lib/cloud/instance is the
instance named by the VM's id, `cloud-init status` ends "done" (no module
failed), and `dpkg --verify cloud-init` finds no file changed.

A second test boots the same image with plain QEMU, without a config drive,
against a stand-in for the EC2-style metadata service (a small HTTP server
on loopback that QEMU's user network forwards 169.254.169.254:80 to): it
proves the image's Ec2 datasource configuration (ds-identify keeps cloud-init
enabled, the Ec2 datasource finds the service) for the metadata service that
nubo-hostd will serve, and records what cloud-init asks for.

Create to user-data under TCG takes about 41 s on an idle 2-core machine,
60-80 s while other builds share it (docs/internals/images.md); each wait
is bounded by BOOT_TIMEOUT, about three times the loaded figure.
"""
import base64
import http.server
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from conftest import IMAGES, ROOT

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
    deadline = time.monotonic() + timeout
    while True:
        text = api.console(ref)
        if marker in text:
            return text
        vm = api.vm(ref)
        if vm["state"] in ("stopped", "crashed"):
            raise AssertionError("VM %s is %s (%s) before %s; console:\n%s"
                                 % (ref, vm["state"], vm["reason"], marker, text[-4000:]))
        if time.monotonic() > deadline:
            raise AssertionError("no %s after %ss; console:\n%s" % (marker, timeout, text[-4000:]))
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
    console = _wait_for(api, "deb", "NUBO-CI-END", BOOT_TIMEOUT - userdata_s)
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


class _FakeEc2(http.server.ThreadingHTTPServer):
    """Serves one instance's metadata in the EC2 layout under every API
    version; records each request as (method, path)."""

    def __init__(self, instance_id, hostname, key, user_data):
        self.requests = []
        self.tree = {
            "meta-data/": "instance-id\nlocal-hostname\nhostname\nlocal-ipv4\n"
                          "public-keys/\nplacement/",
            "meta-data/instance-id": instance_id,
            "meta-data/local-hostname": hostname,
            "meta-data/hostname": hostname,
            "meta-data/local-ipv4": "169.254.2.15",
            "meta-data/public-keys/": "0=nubo-test",
            "meta-data/public-keys/0/": "openssh-key",
            "meta-data/public-keys/0/openssh-key": key,
            "meta-data/placement/": "availability-zone",
            "meta-data/placement/availability-zone": "nubo",
            "user-data": user_data,
        }
        super().__init__(("127.0.0.1", 0), _FakeEc2Handler)


class _FakeEc2Handler(http.server.BaseHTTPRequestHandler):
    def _answer(self, body):
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.server.requests.append(("GET", self.path))
        m = re.fullmatch(r"/(latest|\d{4}-\d\d-\d\d)/(.*)", self.path)
        self._answer(self.server.tree.get(m.group(2)) if m else None)

    def do_PUT(self):
        self.server.requests.append(("PUT", self.path))
        self._answer(None)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_ec2():
    key = _ssh_ed25519_key("ec2@nubo-test")
    srv = _FakeEc2("i-%s" % os.urandom(8).hex(), "ec2-guest-%d" % (os.getpid() % 1000), key,
                   USER_DATA)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_debian_cloudinit_ec2_datasource(tmp_path, debian_image, fake_ec2):
    img = os.path.join(debian_image, IMAGE)
    overlay = str(tmp_path / "root.qcow2")
    console = str(tmp_path / "console.log")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                    img + ".qcow2", overlay], check=True)
    with open(img + ".cmdline") as f:
        cmdline = f.read().strip()
    port = fake_ec2.server_address[1]
    # restrict=on: nothing leaves QEMU except what guestfwd forwards, one
    # socat per guest connection, to the fake service on loopback.
    netdev = ("user,id=n0,restrict=on,net=169.254.0.0/16,"
              "guestfwd=tcp:169.254.169.254:80-cmd:socat STDIO TCP:127.0.0.1:%d" % port)
    qemu_log = open(str(tmp_path / "qemu.log"), "wb")
    qemu = subprocess.Popen(
        ["qemu-system-x86_64", "-nodefaults", "-display", "none", "-machine", "q35",
         "-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", "512",
         "-kernel", img + ".kernel", "-initrd", img + ".initrd", "-append", cmdline,
         "-drive", "file=%s,if=none,id=root,format=qcow2" % overlay,
         "-device", "virtio-blk-pci,drive=root",
         "-netdev", netdev, "-device", "virtio-net-pci,netdev=n0",
         "-chardev", "file,id=c,path=%s" % console, "-serial", "chardev:c"],
        stdout=subprocess.DEVNULL, stderr=qemu_log,
        start_new_session=True)
    try:
        t0 = time.monotonic()
        deadline = t0 + BOOT_TIMEOUT
        text = ""
        while "NUBO-CI-END" not in text:
            assert qemu.poll() is None, "QEMU exited with %s" % qemu.returncode
            assert time.monotonic() < deadline, \
                "no NUBO-CI-END after %ss; console:\n%s" % (BOOT_TIMEOUT, text[-4000:])
            time.sleep(1)
            with open(console, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        print("boot -> cloud-init done (Ec2) %.1fs" % (time.monotonic() - t0))
    finally:
        os.killpg(qemu.pid, signal.SIGKILL)
        qemu.wait()
        qemu_log.close()

    r = _report(text)
    tree = fake_ec2.tree

    def one(k):
        assert k in r, "no NUBO-CI %s line; console:\n%s" % (k, text[-4000:])
        return r[k][0]

    assert re.fullmatch(r"/var/lib/cloud/instance/scripts/part-\d+", one("script")), r
    assert one("instance-id") == tree["meta-data/instance-id"]
    assert one("instance-link") == "/var/lib/cloud/instances/" + tree["meta-data/instance-id"]
    assert one("datasource").startswith("DataSourceEc2"), r
    assert one("hostname") == tree["meta-data/local-hostname"]
    assert one("etc-hostname") == tree["meta-data/local-hostname"]
    assert tree["meta-data/public-keys/0/openssh-key"] in r.get("key", []), r.get("key")
    assert one("ip") == "169.254.2.15/16"
    assert one("dpkg-verify") == "0"
    assert "status: done" in r.get("status", []), r.get("status")
    # What cloud-init 22.4 asked: no IMDSv2 token off AWS, the 2009-04-04
    # probe, then the newest version the service answers.
    reqs = fake_ec2.requests
    assert ("GET", "/2009-04-04/meta-data/instance-id") in reqs, reqs
    assert ("GET", "/2021-03-23/user-data") in reqs, reqs
    assert not [m for m, _ in reqs if m != "GET"], reqs
