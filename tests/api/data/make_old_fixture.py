#!/usr/bin/python3
"""Makes one database fixture written by an earlier nubo version: starts
that version's nubod and a nubo-hostd (--driver fake) of it, creates a
small realistic cloud through its public API only, stops them and writes
the SQLite database as SQL (Python's iterdump(), tokens and the audit log
emptied) with a header saying what is in it.  make_old_fixtures.sh calls it
once per fixture; test_upgrade.py loads the result.

    make_old_fixture.py --nubod NUBOD --hostd HOSTD --images DIR \\
        --version N --commit C --out nubo-vN.sql

What it creates (each step that the old API refuses is named in the
header's "not created" line and left out), every name starting "old-" so
that the existing API tests run beside them (NUBO_TEST_FIXTURE): users
old-alice (admin of project old-team, member of demo), old-bob (member of
old-team), old-carol (admin of project admin; the cloud_admin flag where it
exists), all with the password PASSWORD; the public flavor old-small and
the private flavor old-team-only (old-team's); the public image old-tiny
(nubo-tiny) and old-team's private image old-team-img (queued: no data);
old-team's keypair old-key, server group old-sg, network old-net with subnet
10.20.0.0/24, security group old-web with an ingress rule tcp/22; two
instances on the fake host old-host (old-vm-a on old-net, running; old-vm-b
stopped); a volume old-vol (where volumes exist).
"""
import argparse
import base64
import hashlib
import json
import os
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time

import requests

PASSWORD = "old-fixture-pw-1"


def ssh_key(seed):
    def field(b):
        return struct.pack(">I", len(b)) + b
    blob = field(b"ssh-ed25519") + field(hashlib.sha256(seed.encode()).digest())
    return "ssh-ed25519 %s %s@nubo" % (base64.b64encode(blob).decode(), seed)


def kill_matching(text):
    """SIGKILLs every process whose command line contains text (the fake
    agent's dnsmasq carries its directory)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        if text in cmd:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(what, fn, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            v = fn()
            if v:
                return v
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit("timed out waiting for " + what)


class Api:
    def __init__(self, base, token):
        self.base, self.token = base, token

    def call(self, method, path, body=None):
        return requests.request(method, self.base + path, json=body, timeout=60,
                                headers={"Authorization": "Bearer " + self.token})


def login(base, user, password, project=None):
    body = {"user": user, "password": password}
    if project:
        body["project"] = project
    for _ in range(30):
        r = requests.post(base + "/v1/auth/tokens", json=body, timeout=60)
        if r.status_code != 503:
            break
        time.sleep(1)
    assert r.status_code == 201, r.text
    return Api(base, r.json()["token"])


def main():
    ap = argparse.ArgumentParser()
    for a in ("nubod", "hostd", "images", "version", "commit", "out"):
        ap.add_argument("--" + a, required=True)
    o = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="nubo-old-fixture-")
    state = os.path.join(tmp, "controller")
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    log = open(os.path.join(tmp, "nubod.log"), "ab")
    nubod = subprocess.Popen([o.nubod, "--state-dir", state, "--listen", "127.0.0.1:%d" % port,
                              "--reconcile-ms", "500"], stdout=log, stderr=subprocess.STDOUT)
    hostd = None
    admin_pw = None
    hdir = os.path.join(tmp, "host")
    ns = "oldfx" + os.path.basename(tmp)[-6:].replace("_", "x")
    made, failed = [], []

    def step(what, r, ok=(200, 201, 202, 204)):
        if r.status_code in ok:
            made.append(what)
            return r.json() if r.content else {}
        failed.append("%s (%d)" % (what, r.status_code))
        print("not created: %s: %d %s" % (what, r.status_code, r.text[:200]), file=sys.stderr)
        return None

    try:
        wait_for("nubod", lambda: requests.get(base + "/v1/health", timeout=2).status_code == 200)
        with open(os.path.join(state, "admin-password")) as f:
            admin_pw = f.read().strip()
        admin = login(base, "admin", admin_pw)
        os.makedirs(os.path.join(hdir, "images"))
        sock = os.path.join(hdir, "hostd.sock")
        # its tenant networks (bridges, dnsmasq, router namespaces) in a
        # namespace of its own, removed at the end with every process of hdir
        subprocess.run(["ip", "netns", "add", ns], check=True)
        hostd = subprocess.Popen(
            [o.hostd, "--driver", "fake", "--netns", ns,
             "--state-dir", os.path.join(hdir, "state"),
             "--images-dir", os.path.join(hdir, "images"), "--socket", sock,
             "--controller", base, "--join-token-file", os.path.join(state, "join-token"),
             "--advertise", "unix:" + sock, "--name", "old-host", "--heartbeat-ms", "500"],
            stdout=log, stderr=subprocess.STDOUT)
        wait_for("the fake host", lambda: [h for h in admin.call("GET", "/v1/hosts").json()["hosts"]
                                           if h["state"] == "up"])
        made.append("host old-host (fake driver)")

        step("project team", admin.call("POST", "/v1/projects", {"name": "old-team"}))
        for user in ("old-alice", "old-bob", "old-carol"):
            step("user " + user, admin.call("POST", "/v1/users",
                                            {"name": user, "password": PASSWORD,
                                             "email": user + "@example.org"}))
        for project, user, role in (("old-team", "old-alice", "admin"), ("old-team", "old-bob", "member"),
                                    ("admin", "old-carol", "admin"), ("demo", "old-alice", "member")):
            step("%s %s of %s" % (user, role, project),
                 admin.call("PUT", "/v1/projects/%s/members/%s" % (project, user),
                            {"role": role}))
        # a cloud admin: the flag since migration 12; before it, being an
        # admin of the project "admin" made one (and migration 12 keeps it)
        carol = [u for u in admin.call("GET", "/v1/users").json()["users"]
                 if u["name"] == "old-carol"]
        if carol and "cloud_admin" in carol[0]:
            step("old-carol cloud admin", admin.call("PATCH", "/v1/users/" + carol[0]["id"],
                                                 {"cloud_admin": True}))
        step("flavor small", admin.call("POST", "/v1/flavors", {"name": "old-small", "vcpus": 1,
                                                                "ram_mib": 192, "disk_gib": 1}))
        fl = step("flavor old-team-only", admin.call("POST", "/v1/flavors", {
            "name": "old-team-only", "vcpus": 2, "ram_mib": 256, "disk_gib": 2,
            "is_public": False}))
        if fl:
            step("team's access to old-team-only",
                 admin.call("POST", "/v1/flavors/%s/access" % fl["id"], {"project": "old-team"}))
        with open(os.path.join(o.images, "nubo-tiny.cmdline")) as f:
            cmdline = f.read().strip()
        tiny = {"file": os.path.join(o.images, "nubo-tiny.qcow2"),
                "kernel_file": os.path.join(o.images, "nubo-tiny.kernel"),
                "initrd_file": os.path.join(o.images, "nubo-tiny.initrd"), "cmdline": cmdline}
        step("public image tiny", admin.call("POST", "/v1/images",
                                             dict(tiny, name="old-tiny", visibility="public")))
        alice = login(base, "old-alice", PASSWORD, "old-team")
        # (a project may not register files on the controller: no data yet)
        step("private image old-team-img (queued)",
             alice.call("POST", "/v1/images", {"name": "old-team-img", "visibility": "private"}))
        step("keypair old-key", alice.call("POST", "/v1/keypairs",
                                            {"name": "old-key", "public_key": ssh_key("old-team")}))
        step("server group old-sg", alice.call("POST", "/v1/server-groups",
                                                {"name": "old-sg", "policy": "anti-affinity"}))
        net = step("network old-net", alice.call("POST", "/v1/networks", {"name": "old-net"}))
        if net:
            step("subnet 10.20.0.0/24", alice.call("POST", "/v1/subnets", {
                "network": net["id"], "cidr": "10.20.0.0/24"}))
        sg = step("security group web", alice.call("POST", "/v1/security-groups",
                                                   {"name": "old-web"}))
        if sg:
            step("rule tcp/22", alice.call("POST", "/v1/security-group-rules", {
                "security_group": sg["id"], "direction": "ingress", "protocol": "tcp",
                "port_min": 22, "port_max": 22, "remote_cidr": "0.0.0.0/0"}))
        ids = {}
        for name, extra in (("old-vm-a", {"networks": [{"network": "old-net"}],
                                      "keypair": "old-key"}),
                            ("old-vm-b", {})):
            r = alice.call("POST", "/v1/instances",
                           dict(extra, name=name, flavor="old-small", image="old-tiny"))
            if r.status_code == 400 and extra:
                r = alice.call("POST", "/v1/instances", {"name": name, "flavor": "old-small",
                                                         "image": "old-tiny"})
            body = step("instance " + name, r)
            if body:
                ids[name] = (body.get("instances") or [body])[0]["id"]
        for name, iid in ids.items():
            wait_for(name + " running", lambda: alice.call(
                "GET", "/v1/instances/" + iid).json().get("power_state") == "running")
        if "old-vm-b" in ids:
            step("old-vm-b stopped", alice.call("POST", "/v1/instances/%s/actions" % ids["old-vm-b"],
                                            {"action": "stop"}))
            wait_for("old-vm-b stopped", lambda: alice.call(
                "GET", "/v1/instances/" + ids["old-vm-b"]).json().get("status") == "stopped")
        step("volume old-vol", alice.call("POST", "/v1/volumes",
                                           {"name": "old-vol", "size_gib": 1}), ok=(201, 202))
        time.sleep(2)
    finally:
        for p in (hostd, nubod):
            if p is not None:
                p.terminate()
                p.wait(timeout=60)
        log.close()
        kill_matching(hdir + os.sep)
        out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True).stdout
        for name in [x["name"] for x in json.loads(out or "[]")]:
            if name == ns or name.startswith(ns + "-"):
                subprocess.run(["ip", "netns", "del", name], capture_output=True)
    con = sqlite3.connect(os.path.join(state, "nubo.db"))
    version = con.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    assert version == int(o.version), (version, o.version)
    # secrets of the run: sessions and the log of who did what
    con.execute("DELETE FROM tokens")
    con.execute("DELETE FROM audit_log")
    con.commit()
    lines = list(con.iterdump())
    con.close()
    with open(o.out, "w") as f:
        f.write("-- A nubo database at schema version %s, written by nubod of commit %s\n"
                % (version, o.commit))
        f.write("-- through its API by tests/api/data/make_old_fixture.py (see there), dumped\n")
        f.write("-- with Python's sqlite3 iterdump(); tokens and the audit log emptied.\n")
        f.write("-- Every user's password is %s; the bootstrap admin's (its admin-password\n"
                % PASSWORD)
        f.write("-- file, which conftest.py's NUBO_TEST_FIXTURE writes back):\n")
        f.write("-- admin-password: %s\n" % admin_pw)
        f.write("-- created: %s\n" % "; ".join(made))
        f.write("-- not created (refused by that version's API): %s\n"
                % ("; ".join(failed) or "none"))
        for line in lines:
            f.write(line + "\n")
    print("wrote %s: schema version %s, %d lines" % (o.out, version, len(lines)))
    print(json.dumps({"made": made, "failed": failed}))


if __name__ == "__main__":
    main()
