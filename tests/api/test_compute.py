"""API tests of the Compute section of docs/internals/controller-api.md:
flavors, images (upload, registration), keypairs, server groups, instances
(create with quota and placement, list, show, delete, actions, console,
events) and tasks.

Every test runs against its own nubod (the ASan+UBSan build by default);
the fixture requires it to exit 0 at teardown (no leak, no sanitizer
report).  Bad input must answer 4xx problem+json and change nothing, which
the tests check by listing again afterwards.

No host agent runs here: without hosts an instance create ends in status
error "no valid host" (202).  Placement is tested with host rows written
into the controller's database directly (state up, capacities, a
heartbeat in the future so the reconciler never marks them down; their
agents cannot be reached, so the reconciler leaves their instances alone).
"""
import base64
import hashlib
import os
import subprocess
import time
import uuid

import pytest

from conftest import ROOT, assert_problem, db_connect, make_tenant

TINY = os.path.join(ROOT, "build", "images", "nubo-tiny")


def uid():
    return uuid.uuid4().hex[:8]


def db(nubod):
    return db_connect(nubod)


def add_host(nubod, name, vcpus=8, ram=8192, disk=100, state="up", accel="kvm"):
    hid = str(uuid.uuid4())
    future = int(time.time() * 1000) + 3600 * 1000
    with db(nubod) as c:
        c.execute("INSERT INTO hosts (id, name, address, agent_token, token_hash, state, accel,"
                  " driver, vcpus, ram_mib, disk_gib, last_heartbeat_ms, created_at)"
                  " VALUES (?, ?, 'http://127.0.0.1:9', '', ?, ?, ?, 'qemu', ?, ?, ?, ?,"
                  " '2026-01-01T00:00:00.000Z')",
                  (hid, name, uuid.uuid4().hex, state, accel, vcpus, ram, disk, future))
    return hid


def set_status(nubod, iid, status, desired=None):
    with db(nubod) as c:
        if desired:
            c.execute("UPDATE instances SET status = ?, desired = ? WHERE id = ?",
                      (status, desired, iid))
        else:
            c.execute("UPDATE instances SET status = ? WHERE id = ?", (status, iid))


def qcow2(tmp_path, name="disk.qcow2", size="64M", backing=None):
    path = os.path.join(str(tmp_path), name)
    argv = ["qemu-img", "create", "-q", "-f", "qcow2"]
    if backing:
        argv += ["-b", backing, "-F", "qcow2"]
    subprocess.run(argv + [path] + ([size] if size else []), check=True)
    return path


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def flavor(admin, name=None, vcpus=1, ram=512, disk=1, **kw):
    body = {"name": name or "f-" + uid(), "vcpus": vcpus, "ram_mib": ram, "disk_gib": disk}
    body.update(kw)
    r = admin.post("/v1/flavors", body)
    assert r.status_code == 201, r.text
    return r.json()


def public_image(admin, tmp_path, name=None):
    """An active public image made from a small qcow2 registered by the admin."""
    path = qcow2(tmp_path, "pub-%s.qcow2" % uid())
    r = admin.post("/v1/images", {"name": name or "img-" + uid(), "visibility": "public",
                                  "file": path})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "active"
    return r.json()


@pytest.fixture
def env(nubod, admin, tmp_path):
    """A member of a fresh project, with a public flavor and a public image."""
    m = make_tenant(nubod, admin)
    m.flavor = flavor(admin, "small")
    m.image = public_image(admin, tmp_path, "tiny")
    return m


def create(c, name, count=None, headers=None, **kw):
    body = {"name": name, "flavor": "small", "image": "tiny"}
    if count is not None:
        body["count"] = count
    body.update(kw)
    return c.post("/v1/instances", body, headers=headers)


def all_instances(c, query=""):
    out, marker = [], None
    while True:
        q = query + ("&" if query else "") + ("marker=%s" % marker if marker else "")
        r = c.get("/v1/instances" + ("?" + q if q else ""))
        assert r.status_code == 200, r.text
        out += r.json()["instances"]
        marker = r.json()["next_marker"]
        if marker is None:
            return out


# ------------------------------------------------------------- flavors


def test_flavors(nubod, admin):
    m = make_tenant(nubod, admin)
    f = flavor(admin, "m1.small", vcpus=2, ram=2048, disk=20)
    assert f["is_public"] is True and f["vcpus"] == 2 and f["ram_mib"] == 2048
    priv = flavor(admin, "secret", is_public=False)
    assert priv["is_public"] is False
    # A member lists the public flavor only, reads it by id and by name.
    assert [x["name"] for x in m.get("/v1/flavors").json()["flavors"]] == ["m1.small"]
    assert m.get("/v1/flavors/" + f["id"]).json() == f
    assert m.get("/v1/flavors/m1.small").json() == f
    assert_problem(m.get("/v1/flavors/secret"), 404)
    # The admin sees both; sharing makes the private one visible.
    assert len(admin.get("/v1/flavors").json()["flavors"]) == 2
    r = admin.post("/v1/flavors/secret/access", {"project": m.project})
    assert r.status_code == 200, r.text
    pid = m.get("/v1/auth/whoami").json()["project"]["id"]
    assert r.json() == {"flavor_id": priv["id"], "projects": [pid]}
    assert admin.post("/v1/flavors/secret/access", {"project": pid}).json()["projects"] == [pid]
    assert m.get("/v1/flavors/secret").status_code == 200
    assert len(m.get("/v1/flavors").json()["flavors"]) == 2
    assert_problem(admin.post("/v1/flavors/m1.small/access", {"project": pid}), 409, "public")
    assert_problem(admin.post("/v1/flavors/secret/access", {"project": "nope"}), 404)
    assert_problem(admin.post("/v1/flavors/secret/access", {}), 400, "project")
    assert_problem(admin.post("/v1/flavors/secret/access", {"project": "\u00e9" * 70}), 400,
                   "project must be the id or the name")
    # Members may not create, share or delete.
    assert_problem(m.post("/v1/flavors", {"name": "x", "vcpus": 1, "ram_mib": 64,
                                          "disk_gib": 1}), 403)
    assert_problem(m.delete("/v1/flavors/m1.small"), 403)
    assert_problem(m.post("/v1/flavors/secret/access", {"project": pid}), 403)
    # Delete.
    assert admin.delete("/v1/flavors/secret").status_code == 204
    assert_problem(admin.get("/v1/flavors/secret"), 404)
    assert_problem(admin.delete("/v1/flavors/secret"), 404)


def test_flavor_bad_input_changes_nothing(nubod, admin):
    flavor(admin, "dup")
    ok = {"name": "x", "vcpus": 1, "ram_mib": 64, "disk_gib": 1}
    cases = [
        (dict(ok, vcpus=0), "vcpus must be from 1 to 64"),
        (dict(ok, vcpus=65), "vcpus"),
        (dict(ok, ram_mib=63), "ram_mib must be from 64"),
        (dict(ok, ram_mib=1048577), "ram_mib"),
        (dict(ok, disk_gib=0), "disk_gib"),
        (dict(ok, disk_gib=16385), "disk_gib"),
        (dict(ok, vcpus="2"), "'vcpus' must be an integer"),
        (dict(ok, is_public="yes"), "'is_public' must be true or false"),
        (dict(ok, name="-bad"), "flavor name"),
        (dict(ok, name="a/b"), "flavor name"),
        (dict(ok, name=""), "flavor name must not be empty"),
        ({k: v for k, v in ok.items() if k != "ram_mib"}, "'ram_mib' is required"),
        (dict(ok, color="red"), "unknown field 'color'"),
    ]
    for body, detail in cases:
        assert_problem(admin.post("/v1/flavors", body), 400, detail)
    assert_problem(admin.post("/v1/flavors", dict(ok, name="dup")), 409, "already exists")
    assert_problem(admin.post("/v1/flavors", data="[1]",
                              headers={"Content-Type": "application/json"}), 400)
    assert [f["name"] for f in admin.get("/v1/flavors").json()["flavors"]] == ["dup"]


# -------------------------------------------------------------- keypairs


def keygen(tmp_path, kind, bits=None):
    path = os.path.join(str(tmp_path), "key-%s-%s" % (kind, uid()))
    argv = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "someone@example", "-f", path]
    if bits:
        argv += ["-b", str(bits)]
    subprocess.run(argv, check=True)
    with open(path + ".pub") as f:
        line = f.read()
    fp = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", path + ".pub"], check=True,
                        capture_output=True, text=True).stdout.split()[1]
    return line, fp


needs_ssh_keygen = pytest.mark.skipif(
    subprocess.run(["sh", "-c", "command -v ssh-keygen"], capture_output=True).returncode != 0,
    reason="ssh-keygen is not installed")


@needs_ssh_keygen
def test_keypairs(nubod, admin, tmp_path):
    m = make_tenant(nubod, admin)
    other = make_tenant(nubod, admin)
    for kind, bits in (("ed25519", None), ("rsa", 2048), ("ecdsa", 384)):
        line, fp = keygen(tmp_path, kind, bits)
        r = m.post("/v1/keypairs", {"name": "k-" + kind, "public_key": line})
        assert r.status_code == 201, r.text
        k = r.json()
        assert k["fingerprint"] == fp, (kind, k)
        assert k["public_key"] == line.strip()
        assert m.get("/v1/keypairs/k-" + kind).json() == k
    keys = m.get("/v1/keypairs").json()
    assert [k["name"] for k in keys["keypairs"]] == ["k-ed25519", "k-rsa", "k-ecdsa"]
    assert keys["next_marker"] is None
    page = m.get("/v1/keypairs?limit=2").json()
    assert len(page["keypairs"]) == 2 and page["next_marker"] == page["keypairs"][1]["id"]
    # Another project sees none of them; the same name is free there.
    assert other.get("/v1/keypairs").json()["keypairs"] == []
    assert_problem(other.get("/v1/keypairs/k-rsa"), 404)
    assert_problem(other.delete("/v1/keypairs/k-rsa"), 404)
    line, _ = keygen(tmp_path, "ed25519")
    assert other.post("/v1/keypairs", {"name": "k-rsa", "public_key": line}).status_code == 201
    assert_problem(m.post("/v1/keypairs", {"name": "k-rsa", "public_key": line}), 409)
    assert m.delete("/v1/keypairs/k-rsa").status_code == 204
    assert_problem(m.get("/v1/keypairs/k-rsa"), 404)
    assert other.get("/v1/keypairs/k-rsa").status_code == 200


@needs_ssh_keygen
def test_keypair_bad_input_changes_nothing(nubod, admin, tmp_path):
    m = make_tenant(nubod, admin)
    line, _ = keygen(tmp_path, "ed25519")
    kind, b64, comment = line.split()
    blob = base64.b64decode(b64)
    rsa_label = "ssh-rsa " + b64
    cut = kind + " " + base64.b64encode(blob[:-4]).decode()
    cases = [
        ({"name": "k", "public_key": ""}, "must not be empty"),
        ({"name": "k", "public_key": "ssh-dss AAAAB3NzaC1kc3M="}, "key type"),
        ({"name": "k", "public_key": "-----BEGIN OPENSSH PRIVATE KEY-----"}, "key type"),
        ({"name": "k", "public_key": kind}, "no key data"),
        ({"name": "k", "public_key": kind + " not*base64!"}, "not valid base64"),
        ({"name": "k", "public_key": rsa_label}, "not a ssh-rsa key"),
        ({"name": "k", "public_key": cut}, "ed25519"),
        ({"name": "k", "public_key": line.strip() + "\n" + line}, "one line"),
        ({"name": "bad name", "public_key": line}, "keypair name"),
        ({"name": "k"}, "'public_key' is required"),
        ({"name": "k", "public_key": 5}, "'public_key' must be a string"),
        ({"name": "k", "public_key": line, "type": "ssh"}, "unknown field"),
    ]
    for body, detail in cases:
        assert_problem(m.post("/v1/keypairs", body), 400, detail)
    assert m.get("/v1/keypairs").json()["keypairs"] == []


# --------------------------------------------------------- server groups


def test_server_groups(nubod, admin):
    m = make_tenant(nubod, admin)
    other = make_tenant(nubod, admin)
    r = m.post("/v1/server-groups", {"name": "web", "policy": "anti-affinity"})
    assert r.status_code == 201, r.text
    g = r.json()
    assert g["policy"] == "anti-affinity" and g["members"] == []
    assert m.get("/v1/server-groups/" + g["id"]).json()["name"] == "web"
    assert m.get("/v1/server-groups/web").json()["id"] == g["id"]
    assert [x["id"] for x in m.get("/v1/server-groups").json()["server_groups"]] == [g["id"]]
    assert_problem(m.post("/v1/server-groups", {"name": "web", "policy": "affinity"}), 409)
    assert_problem(m.post("/v1/server-groups", {"name": "db", "policy": "spread"}), 400,
                   "policy must be affinity")
    assert_problem(m.post("/v1/server-groups", {"name": "db"}), 400, "'policy' is required")
    assert_problem(m.post("/v1/server-groups", {"name": "d b", "policy": "affinity"}), 400)
    assert_problem(other.get("/v1/server-groups/" + g["id"]), 404)
    assert_problem(other.delete("/v1/server-groups/" + g["id"]), 404)
    assert other.get("/v1/server-groups").json()["server_groups"] == []
    assert m.delete("/v1/server-groups/" + g["id"]).status_code == 204
    assert m.get("/v1/server-groups").json()["server_groups"] == []


# ---------------------------------------------------------------- images


def test_image_upload(nubod, admin, tmp_path):
    m = make_tenant(nubod, admin)
    other = make_tenant(nubod, admin)
    r = m.post("/v1/images", {"name": "mine", "min_disk_gib": 1})
    assert r.status_code == 201, r.text
    img = r.json()
    assert img["status"] == "queued" and img["visibility"] == "private"
    assert img["boot"] == "disk" and img["checksum_sha256"] is None
    assert img["size_bytes"] is None and img["disk_format"] is None and img["min_disk_gib"] == 1
    iid = img["id"]
    # Not an image: refused, the image stays queued.
    junk = os.path.join(str(tmp_path), "junk.txt")
    with open(junk, "w") as f:
        f.write("this is not a disk image\n")
    with open(junk, "rb") as f:
        assert_problem(m.put("/v1/images/%s/file" % iid, data=f), 400, "not a disk image")
    gz = os.path.join(str(tmp_path), "disk.gz")
    with open(gz, "wb") as f:
        f.write(b"\x1f\x8b" + b"\0" * 1022)
    with open(gz, "rb") as f:
        assert_problem(m.put("/v1/images/%s/file" % iid, data=f), 400, "gzip")
    assert m.get("/v1/images/" + iid).json()["status"] == "queued"
    # Another project cannot see or upload it; a reader cannot upload.
    disk = qcow2(tmp_path)
    with open(disk, "rb") as f:
        assert_problem(other.put("/v1/images/%s/file" % iid, data=f), 404)
    reader = make_tenant(nubod, admin, role="reader", project=m.project)
    with open(disk, "rb") as f:
        assert_problem(reader.put("/v1/images/%s/file" % iid, data=f), 403)
    assert_problem(other.get("/v1/images/" + iid), 404)
    # A kernel first, then the disk.
    r = m.put("/v1/images/%s/kernel" % iid, data=b"not really a kernel")
    assert r.status_code == 200, r.text
    assert r.json()["boot"] == "kernel" and r.json()["status"] == "queued"
    with open(disk, "rb") as f:
        r = m.put("/v1/images/%s/file" % iid, data=f)
    assert r.status_code == 200, r.text
    img = r.json()
    assert img["status"] == "active" and img["disk_format"] == "qcow2"
    assert img["checksum_sha256"] == sha256(disk)
    assert img["size_bytes"] == os.path.getsize(disk)
    assert img["virtual_size_bytes"] == 64 << 20
    stored = os.path.join(nubod.dir, "images", iid + ".disk")
    assert sha256(stored) == sha256(disk)
    assert os.path.exists(os.path.join(nubod.dir, "images", iid + ".kernel"))
    leftovers = [n for n in os.listdir(os.path.join(nubod.dir, "images")) if ".part-" in n]
    assert leftovers == []
    # Active data never changes.
    with open(disk, "rb") as f:
        assert_problem(m.put("/v1/images/%s/file" % iid, data=f), 409, "active")
    assert_problem(m.put("/v1/images/%s/initrd" % iid, data=b"x"), 409)
    # Lists and filters.
    assert [i["id"] for i in m.get("/v1/images?status=active").json()["images"]] == [iid]
    assert m.get("/v1/images?status=queued").json()["images"] == []
    assert [i["id"] for i in m.get("/v1/images?name=mine").json()["images"]] == [iid]
    assert_problem(m.get("/v1/images?status=bogus"), 400)
    assert other.get("/v1/images").json()["images"] == []
    # Delete: the files go too.
    assert_problem(other.delete("/v1/images/" + iid), 404)
    assert_problem(reader.delete("/v1/images/" + iid), 403)
    assert m.delete("/v1/images/" + iid).status_code == 204
    assert not os.path.exists(stored)
    assert_problem(m.get("/v1/images/" + iid), 404)


def test_image_disk_checks(nubod, admin, tmp_path):
    m = make_tenant(nubod, admin)

    def queued():
        r = m.post("/v1/images", {"name": "i-" + uid()})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    # A qcow2 with a backing file reaches outside the image: refused.
    base = qcow2(tmp_path, "base.qcow2")
    overlay = qcow2(tmp_path, "overlay.qcow2", size=None, backing=base)
    iid = queued()
    with open(overlay, "rb") as f:
        assert_problem(m.put("/v1/images/%s/file" % iid, data=f), 400, "backing file")
    assert m.get("/v1/images/" + iid).json()["status"] == "queued"
    # A truncated qcow2.
    with open(base, "rb") as f:
        head = f.read(1024)
    assert_problem(m.put("/v1/images/%s/file" % iid, data=head), 400, "qcow2")
    # Empty.
    assert_problem(m.put("/v1/images/%s/file" % iid, data=b""), 400, "empty")
    # A raw disk: whole sectors.
    r = m.put("/v1/images/%s/file" % iid, data=b"\0" * (1 << 20))
    assert r.status_code == 200, r.text
    assert r.json()["disk_format"] == "raw" and r.json()["virtual_size_bytes"] == 1 << 20
    assert_problem(m.put("/v1/images/nope/file", data=b"\0" * 512), 404)
    assert_problem(m.post("/v1/images", {"name": "p", "visibility": "public"}), 403)
    assert_problem(m.post("/v1/images", {"name": "p", "visibility": "shared"}), 400)
    assert_problem(m.post("/v1/images", {"name": "p", "cmdline": "a\nb"}), 400, "cmdline")
    assert_problem(m.post("/v1/images", {"name": "p", "min_disk_gib": -1}), 400)
    assert_problem(m.post("/v1/images", {"name": "p", "file": base}), 403, "admin")
    assert len(m.get("/v1/images").json()["images"]) == 1


def test_image_register_from_file(nubod, admin, tmp_path):
    m = make_tenant(nubod, admin)
    for body, status, detail in [
        ({"name": "x", "file": "relative.qcow2"}, 400, "absolute path"),
        ({"name": "x", "file": "/nonexistent/disk.qcow2"}, 400, "cannot open"),
        ({"name": "x", "file": str(tmp_path)}, 400, "not a regular file"),
        ({"name": "x", "kernel_file": "/k"}, 400, "need file"),
    ]:
        assert_problem(admin.post("/v1/images", body), status, detail)
    assert admin.get("/v1/images").json()["images"] == []
    if not os.path.exists(TINY + ".qcow2"):
        pytest.skip("build/images/nubo-tiny.qcow2 is not built")
    body = {"name": "nubo-tiny", "visibility": "public", "file": TINY + ".qcow2"}
    if os.path.exists(TINY + ".kernel"):
        body["kernel_file"] = TINY + ".kernel"
        with open(TINY + ".cmdline") as f:
            body["cmdline"] = f.read().strip()
        if os.path.exists(TINY + ".initrd"):
            body["initrd_file"] = TINY + ".initrd"
    r = admin.post("/v1/images", body)
    assert r.status_code == 201, r.text
    img = r.json()
    assert img["status"] == "active" and img["disk_format"] == "qcow2"
    assert img["checksum_sha256"] == sha256(TINY + ".qcow2")
    assert img["boot"] == ("kernel" if "kernel_file" in body else "disk")
    for ext in ("disk", "kernel", "initrd"):
        src = {"disk": TINY + ".qcow2", "kernel": body.get("kernel_file"),
               "initrd": body.get("initrd_file")}[ext]
        if src:
            assert sha256(os.path.join(nubod.dir, "images", img["id"] + "." + ext)) == \
                sha256(src)
    # Public: every project sees it and may use it by name.
    assert [i["id"] for i in m.get("/v1/images").json()["images"]] == [img["id"]]
    assert m.get("/v1/images/" + img["id"]).json() == img
    assert_problem(m.delete("/v1/images/" + img["id"]), 403)


# ------------------------------------------------------------- instances


def test_create_without_hosts_is_error_no_valid_host(nubod, env):
    r = create(env, "web")
    assert r.status_code == 202, r.text
    out = r.json()
    [inst] = out["instances"]
    [tid] = out["task_ids"]
    assert inst["name"] == "web" and inst["status"] == "error" and inst["desired"] == "running"
    assert inst["fault"].startswith("no valid host")
    assert inst["host"] is None
    assert inst["flavor"] == {"id": env.flavor["id"], "name": "small"}
    assert inst["image"] == {"id": env.image["id"], "name": "tiny"}
    assert (inst["vcpus"], inst["ram_mib"], inst["disk_gib"]) == (1, 512, 1)
    assert inst["deleted_at"] is None and inst["power_state"] == "none" and inst["boots"] == 0
    assert set(inst) == {"id", "name", "project_id", "flavor", "image", "keypair", "vcpus",
                         "ram_mib", "disk_gib", "host", "status", "desired", "power_state",
                         "fault", "boots", "server_group_id", "metadata_http_tokens",
                         "created_at", "updated_at", "deleted_at", "addresses", "ha",
                         "generation"}
    assert inst["metadata_http_tokens"] == "optional"
    assert inst["ha"] is False and inst["generation"] == 1
    assert env.get("/v1/instances/" + inst["id"]).json() == inst
    t = env.get("/v1/tasks/" + tid).json()
    assert t["kind"] == "create" and t["status"] == "failed" and "no valid host" in t["error"]
    assert t["instance_id"] == inst["id"]
    ev = env.get("/v1/instances/%s/events" % inst["id"]).json()
    assert [e["event"] for e in ev["events"]] == ["create requested", "no valid host"]
    assert ev["events"][1]["detail"] == inst["fault"]
    assert ev["events"][0]["request_id"] == r.headers["X-Request-Id"]
    # The audit log names the new instance.
    audit = nubod.admin().get("/v1/audit?action=instance.create").json()["audit"]
    assert [a["target"] for a in audit] == [inst["id"]]


def test_create_bad_input_changes_nothing(nubod, admin, env, tmp_path):
    flavor(admin, "tiny-disk", disk=1)
    big = env.post("/v1/images", {"name": "big", "min_disk_gib": 20}).json()
    env.put("/v1/images/%s/file" % big["id"], data=b"\0" * 4096)
    env.post("/v1/images", {"name": "queued"})
    cases = [
        ({"flavor": "small", "image": "tiny"}, 400, "'name' is required"),
        ({"name": "a b", "flavor": "small", "image": "tiny"}, 400, "instance name"),
        ({"name": "x" * 64, "flavor": "small", "image": "tiny"}, 400, "instance name"),
        ({"name": "x" * 61, "flavor": "small", "image": "tiny", "count": 10}, 400, "shorter"),
        ({"name": "a", "image": "tiny"}, 400, "'flavor' is required"),
        ({"name": "a", "flavor": "small"}, 400, "'image' is required"),
        ({"name": "a", "flavor": "huge", "image": "tiny"}, 400, "no flavor 'huge'"),
        ({"name": "a", "flavor": "\u00e9" * 40, "image": "tiny"}, 400,
         "flavor must be the id or the name"),
        ({"name": "a", "flavor": "small", "image": "x/../y"}, 400, "image must be the id"),
        ({"name": "\u00fcber", "flavor": "small", "image": "tiny"}, 400, "instance name"),
        ({"name": "a", "flavor": "small", "image": "nope"}, 400, "no image 'nope'"),
        ({"name": "a", "flavor": "small", "image": "queued"}, 409, "upload its disk"),
        ({"name": "a", "flavor": "tiny-disk", "image": "big"}, 400, "needs 20 GiB"),
        ({"name": "a", "flavor": "small", "image": "tiny", "count": 0}, 400, "count"),
        ({"name": "a", "flavor": "small", "image": "tiny", "count": 51}, 400, "count"),
        ({"name": "a", "flavor": "small", "image": "tiny", "count": "2"}, 400, "integer"),
        ({"name": "a", "flavor": "small", "image": "tiny", "keypair": "nokey"}, 400,
         "no keypair"),
        ({"name": "a", "flavor": "small", "image": "tiny", "server_group": "g"}, 400,
         "no server group"),
        ({"name": "a", "flavor": "small", "image": "tiny", "user_data": "x" * (65 * 1024)},
         400, "user_data"),
        ({"name": "a", "flavor": "small", "image": "tiny", "zone": "z"}, 400, "unknown field"),
    ]
    for body, status, detail in cases:
        assert_problem(env.post("/v1/instances", body), status, detail)
    assert all_instances(env) == []
    assert env.get("/v1/tasks").json()["tasks"] == []


def test_quota_is_enforced_and_nothing_is_created(nubod, admin, env):
    r = admin.put("/v1/projects/%s/quota" % env.project, {"instances": 3, "vcpus": 100})
    assert r.status_code == 200, r.text
    assert create(env, "a", count=2).status_code == 202
    p = assert_problem(create(env, "b", count=2), 403, "quota exceeded")
    assert "instances" in p["detail"]
    assert create(env, "c").status_code == 202
    assert_problem(create(env, "d"), 403, "quota exceeded")
    assert sorted(i["name"] for i in all_instances(env)) == ["a-1", "a-2", "c"]
    # vCPUs too: a 4-vCPU flavor over a 5-vCPU quota.
    flavor(admin, "big", vcpus=4)
    admin.put("/v1/projects/%s/quota" % env.project, {"instances": 10, "vcpus": 5})
    assert_problem(create(env, "e", flavor="big"), 403, "vCPUs")
    # Deleting (an instance without host is deleted at once) frees quota.
    c = [i for i in all_instances(env) if i["name"] == "c"][0]
    assert env.delete("/v1/instances/" + c["id"]).status_code == 202
    admin.put("/v1/projects/%s/quota" % env.project, {"instances": 3, "vcpus": 100})
    assert create(env, "f").status_code == 202
    assert len(all_instances(env)) == 3
    usage = admin.get("/v1/projects/%s/quota" % env.project).json()["usage"]
    assert usage["instances"] == 3 and usage["vcpus"] == 3


def test_count_names_and_idempotency(nubod, env):
    r = create(env, "web", count=3)
    assert r.status_code == 202, r.text
    insts = r.json()["instances"]
    assert [i["name"] for i in insts] == ["web-1", "web-2", "web-3"]
    assert len(set(r.json()["task_ids"])) == 3
    assert_problem(create(env, "web", count=2), 409, "web-1")
    assert_problem(create(env, "web-2"), 409, "already exists")
    # The same key and body: the first answer again, nothing new.
    key = {"Idempotency-Key": "create-db-1"}
    r1 = create(env, "db", count=2, headers=key)
    assert r1.status_code == 202, r1.text
    r2 = create(env, "db", count=2, headers=key)
    assert r2.status_code == 202 and r2.headers.get("Idempotent-Replayed") == "true"
    assert r2.json() == r1.json()
    assert len(all_instances(env)) == 5
    assert len(env.get("/v1/tasks").json()["tasks"]) == 5
    # The same key with another body.
    assert_problem(create(env, "db", count=3, headers=key), 409, "Idempotency-Key")
    assert len(all_instances(env)) == 5


def test_pagination_and_filters(nubod, admin, env):
    admin.put("/v1/projects/%s/quota" % env.project, {"instances": 30})
    r = create(env, "n", count=25)
    assert r.status_code == 202, r.text
    ids = [i["id"] for i in r.json()["instances"]]
    # Pages of 10 in creation order.
    p1 = env.get("/v1/instances?limit=10").json()
    assert [i["id"] for i in p1["instances"]] == ids[:10] and p1["next_marker"] == ids[9]
    p2 = env.get("/v1/instances?limit=10&marker=" + p1["next_marker"]).json()
    assert [i["id"] for i in p2["instances"]] == ids[10:20]
    p3 = env.get("/v1/instances?limit=10&marker=" + p2["next_marker"]).json()
    assert [i["id"] for i in p3["instances"]] == ids[20:] and p3["next_marker"] is None
    assert [i["id"] for i in all_instances(env)] == ids
    assert [i["name"] for i in all_instances(env)] == ["n-%d" % k for k in range(1, 26)]
    # Filters.
    assert [i["id"] for i in all_instances(env, "name=n-7")] == [ids[6]]
    assert len(all_instances(env, "status=error")) == 25
    assert all_instances(env, "status=running") == []
    assert all_instances(env, "host=nohost") == []
    env.delete("/v1/instances/" + ids[0])
    assert [i["id"] for i in all_instances(env, "status=deleted")] == [ids[0]]
    assert len(all_instances(env)) == 24
    # Tasks page and filter the same way.
    tasks = env.get("/v1/tasks?limit=5").json()
    assert len(tasks["tasks"]) == 5 and tasks["next_marker"]
    assert [t["kind"] for t in env.get("/v1/tasks?instance=%s" % ids[0]).json()["tasks"]] == \
        ["create", "delete"]
    assert len(env.get("/v1/tasks?status=succeeded").json()["tasks"]) == 1
    # Bad paging and filters.
    for q, detail in [("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"),
                      ("marker=" + str(uuid.uuid4()), "marker"), ("status=bogus", "status"),
                      ("all_projects=maybe", "all_projects")]:
        assert_problem(env.get("/v1/instances?" + q), 400, detail)
    assert_problem(env.get("/v1/tasks?status=done"), 400, "status")
    assert_problem(env.get("/v1/tasks?marker=" + ids[0]), 400, "marker")


def test_delete_and_actions_without_host(nubod, env):
    inst = create(env, "solo").json()["instances"][0]
    for action in ("start", "stop", "reboot"):
        assert_problem(env.post("/v1/instances/%s/actions" % inst["id"], {"action": action}),
                       409, "cannot " + action)
    assert_problem(env.post("/v1/instances/%s/actions" % inst["id"], {"action": "pause"}), 400,
                   "action must be")
    assert_problem(env.post("/v1/instances/%s/actions" % inst["id"], {}), 400)
    # No host: deleted at once.
    r = env.delete("/v1/instances/" + inst["id"])
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["instance"]["status"] == "deleted" and out["instance"]["desired"] == "deleted"
    assert out["instance"]["deleted_at"]
    assert env.get("/v1/tasks/" + out["task_id"]).json()["status"] == "succeeded"
    assert_problem(env.delete("/v1/instances/" + inst["id"]), 409, "deleted already")
    assert env.get("/v1/instances/" + inst["id"]).json()["status"] == "deleted"
    assert all_instances(env) == []
    # The name is free again.
    assert create(env, "solo").status_code == 202
    assert_problem(env.get("/v1/instances/%s/console" % inst["id"]), 409, "no console")


def test_placement_spread_actions_and_delete(nubod, admin, env):
    h1 = add_host(nubod, "h1")
    h2 = add_host(nubod, "h2")
    r = create(env, "web", count=2)
    assert r.status_code == 202, r.text
    a, b = r.json()["instances"]
    assert {a["host"]["id"], b["host"]["id"]} == {h1, h2}
    assert a["status"] == b["status"] == "building" and a["fault"] is None
    ev = env.get("/v1/instances/%s/events" % a["id"]).json()["events"]
    assert [e["event"] for e in ev] == ["create requested", "scheduled"]
    assert ev[1]["detail"] == "scheduled on host " + a["host"]["name"]
    assert [i["id"] for i in all_instances(env, "host=h1")] == \
        [i["id"] for i in (a, b) if i["host"]["id"] == h1]
    assert len(all_instances(env, "host=" + h2)) == 1
    # A flavor no host can hold.
    flavor(admin, "huge", vcpus=4, ram=16384, disk=1)
    big = create(env, "big", flavor="huge").json()["instances"][0]
    assert big["status"] == "error" and "no valid host among 2" in big["fault"]
    assert "2 without enough RAM" in big["fault"]
    # Actions follow the state rules.
    iid = a["id"]
    act = "/v1/instances/%s/actions" % iid
    assert_problem(env.post(act, {"action": "stop"}), 409, "building")
    set_status(nubod, iid, "running")
    r = env.post(act, {"action": "stop"})
    assert r.status_code == 202, r.text
    assert r.json()["instance"]["status"] == "stopping"
    assert r.json()["instance"]["desired"] == "stopped"
    assert env.get("/v1/tasks/" + r.json()["task_id"]).json()["kind"] == "stop"
    assert_problem(env.post(act, {"action": "stop"}), 409)
    assert_problem(env.post(act, {"action": "reboot"}), 409)
    assert_problem(env.post(act, {"action": "start"}), 409)
    set_status(nubod, iid, "stopped")
    r = env.post(act, {"action": "start"})
    assert r.status_code == 202 and r.json()["instance"]["desired"] == "running"
    assert_problem(env.post(act, {"action": "start"}), 409, "should become running")
    set_status(nubod, iid, "running")
    r = env.post(act, {"action": "reboot"})
    assert r.status_code == 202 and r.json()["instance"]["status"] == "rebooting"
    events = [e["event"] for e in env.get("/v1/instances/%s/events" % iid).json()["events"]]
    assert events[-3:] == ["stop requested", "start requested", "reboot requested"]
    # Delete of a placed instance: deleting, the reconciler finishes it.
    r = env.delete("/v1/instances/" + iid)
    assert r.status_code == 202, r.text
    assert r.json()["instance"]["status"] == "deleting"
    assert r.json()["instance"]["desired"] == "deleted"
    tid = r.json()["task_id"]
    # The operations still open (nothing ran them: no agent) are cancelled.
    tasks = env.get("/v1/tasks?instance=%s" % iid).json()["tasks"]
    assert [(t["kind"], t["status"]) for t in tasks] == [
        ("create", "failed"), ("stop", "failed"), ("start", "failed"), ("reboot", "failed"),
        ("delete", "pending")]
    assert all("cancelled" in t["error"] for t in tasks[:4])
    # Again: the same task.
    r = env.delete("/v1/instances/" + iid)
    assert r.status_code == 202 and r.json()["task_id"] == tid
    assert_problem(env.post(act, {"action": "start"}), 409)
    # The console is asked of the host's agent, which cannot be reached.
    r = env.get("/v1/instances/%s/console" % b["id"])
    assert r.status_code in (502, 503, 504), r.text


def test_placement_claims_capacity(nubod, admin, env):
    add_host(nubod, "h1", vcpus=2, ram=1024, disk=10)
    admin.put("/v1/projects/%s/quota" % env.project, {"instances": 10})
    flavor(admin, "half", vcpus=1, ram=512, disk=1)
    out = create(env, "c", count=3, flavor="half").json()["instances"]
    assert [i["status"] for i in out] == ["building", "building", "error"]
    assert "without enough RAM" in out[2]["fault"] or "enough" in out[2]["fault"]
    # Deleting one (status deleting still claims) frees nothing yet.
    env.delete("/v1/instances/" + out[0]["id"])
    assert create(env, "d", flavor="half").json()["instances"][0]["status"] == "error"
    # Once deleted, its claim is gone.
    set_status(nubod, out[0]["id"], "deleted")
    assert create(env, "e", flavor="half").json()["instances"][0]["status"] == "building"


def test_server_group_policies(nubod, admin, env):
    add_host(nubod, "h1")
    add_host(nubod, "h2")
    anti = env.post("/v1/server-groups", {"name": "anti", "policy": "anti-affinity"}).json()
    r = create(env, "a", count=3, server_group="anti")
    assert r.status_code == 202, r.text
    a = r.json()["instances"]
    assert a[0]["host"]["id"] != a[1]["host"]["id"]
    assert a[2]["status"] == "error" and a[2]["host"] is None
    assert "server group" in a[2]["fault"]
    assert all(i["server_group_id"] == anti["id"] for i in a)
    g = env.get("/v1/server-groups/anti").json()
    assert g["members"] == [i["id"] for i in a]
    # One more later still finds no host.
    assert create(env, "a4", server_group=anti["id"]).json()["instances"][0]["status"] == \
        "error"
    assert_problem(env.delete("/v1/server-groups/anti"), 409, "live member")
    # Affinity: all on one host.
    env.post("/v1/server-groups", {"name": "aff", "policy": "affinity"})
    b = create(env, "b", count=3, server_group="aff").json()["instances"]
    assert len({i["host"]["id"] for i in b}) == 1 and b[0]["status"] == "building"
    later = create(env, "b4", server_group="aff").json()["instances"][0]
    assert later["host"]["id"] == b[0]["host"]["id"]
    # A group empties when its members are deleted; then it can go.
    for i in b + [later]:
        env.delete("/v1/instances/" + i["id"])
        set_status(nubod, i["id"], "deleted")
    assert env.get("/v1/server-groups/aff").json()["members"] == []
    assert env.delete("/v1/server-groups/aff").status_code == 204


def test_pack_policy(nubod, admin, tmp_path):
    # A second controller configured to pack.
    from conftest import Nubod
    os.makedirs(str(tmp_path / "pack"))
    n2 = Nubod(str(tmp_path / "pack"), extra=["--policy", "pack"]).start()
    try:
        a2 = n2.admin()
        flavor(a2, "small")
        public_image(a2, tmp_path, "tiny")
        h1 = add_host(n2, "h1", ram=4096)
        add_host(n2, "h2", ram=8192)
        out = create(a2, "p", count=3).json()["instances"]
        assert [i["host"]["id"] for i in out] == [h1, h1, h1]
    finally:
        assert n2.stop() == 0, n2.log()


def test_tenancy_and_roles(nubod, admin, env):
    add_host(nubod, "h1")
    inst = create(env, "mine").json()["instances"][0]
    tid = env.get("/v1/tasks").json()["tasks"][0]["id"]
    other = make_tenant(nubod, admin)
    iid = inst["id"]
    for path in ("/v1/instances/" + iid, "/v1/instances/%s/events" % iid,
                 "/v1/instances/%s/console" % iid, "/v1/tasks/" + tid):
        assert_problem(other.get(path), 404)
    assert_problem(other.delete("/v1/instances/" + iid), 404)
    assert_problem(other.post("/v1/instances/%s/actions" % iid, {"action": "stop"}), 404)
    assert all_instances(other) == [] and other.get("/v1/tasks").json()["tasks"] == []
    assert_problem(other.get("/v1/instances?all_projects=true"), 403, "admin")
    # The admin lists every project with all_projects and may act on any.
    assert all_instances(admin) == []
    assert [i["id"] for i in all_instances(admin, "all_projects=true")] == [iid]
    assert admin.get("/v1/instances/" + iid).json()["id"] == iid
    assert admin.get("/v1/tasks/" + tid).status_code == 200
    # A reader reads but changes nothing.
    reader = make_tenant(nubod, admin, role="reader", project=env.project)
    assert [i["id"] for i in all_instances(reader)] == [iid]
    assert reader.get("/v1/instances/%s/events" % iid).status_code == 200
    for method, path, body in [
        ("POST", "/v1/instances", {"name": "r", "flavor": "small", "image": "tiny"}),
        ("DELETE", "/v1/instances/" + iid, None),
        ("POST", "/v1/instances/%s/actions" % iid, {"action": "reboot"}),
        ("POST", "/v1/keypairs", {"name": "k", "public_key": "ssh-ed25519 AAAA"}),
        ("POST", "/v1/server-groups", {"name": "g", "policy": "affinity"}),
        ("POST", "/v1/images", {"name": "i"}),
        ("POST", "/v1/flavors", {"name": "f", "vcpus": 1, "ram_mib": 64, "disk_gib": 1}),
    ]:
        assert_problem(reader.req(method, path, json=body), 403)
    assert len(all_instances(env)) == 1
    # The admin deletes the member's instance.
    r = admin.delete("/v1/instances/" + iid)
    assert r.status_code == 202 and r.json()["instance"]["status"] == "deleting"
    assert [t["kind"] for t in env.get("/v1/tasks?instance=" + iid).json()["tasks"]] == \
        ["create", "delete"]


def test_missing_token_and_unknown_ids(nubod, env):
    from conftest import Client
    anon = Client(nubod.base)
    for path in ("/v1/flavors", "/v1/images", "/v1/instances", "/v1/tasks", "/v1/keypairs",
                 "/v1/server-groups"):
        assert_problem(anon.get(path), 401)
    missing = str(uuid.uuid4())
    for path in ("/v1/instances/" + missing, "/v1/tasks/" + missing, "/v1/images/" + missing,
                 "/v1/flavors/" + missing, "/v1/server-groups/" + missing,
                 "/v1/instances/%s/events" % missing, "/v1/instances/a%2Fb"):
        assert_problem(env.get(path), 404)
    assert_problem(env.delete("/v1/instances/" + missing), 404)


def test_flavor_required_accel_filters_hosts(nubod, admin):
    """A flavor that requires KVM only lands on hosts whose agent chose KVM."""
    db = db_connect(nubod)
    now = "2026-01-01T00:00:00.000Z"
    for i, accel in enumerate(("tcg", "kvm")):
        db.execute("INSERT INTO hosts (id, name, address, token_hash, state, accel, vcpus, ram_mib,"
                   " disk_gib, last_heartbeat_ms, created_at) VALUES (?, ?, 'unix:/nowhere', ?,"
                   " 'up', ?, 64, 65536, 1000, ?, ?)",
                   ("00000000-0000-4000-8000-00000000000%d" % i, "h-" + accel, "x%d" % i, accel,
                    int(time.time() * 1000) + 10**9, now))
    db.commit()
    db.close()
    r = admin.post("/v1/flavors", {"name": "fast", "vcpus": 1, "ram_mib": 128, "disk_gib": 1,
                                   "required_accel": "kvm"})
    assert r.status_code == 201, r.text
    assert r.json()["required_accel"] == "kvm"
    assert admin.get("/v1/flavors/fast").json()["required_accel"] == "kvm"
    bad = admin.post("/v1/flavors", {"name": "odd", "vcpus": 1, "ram_mib": 128, "disk_gib": 1,
                                     "required_accel": "hvf"})
    assert bad.status_code == 400
    img = admin.post("/v1/images", {"name": "raw-img", "visibility": "public"}).json()
    raw = b"\0" * 1024 * 1024
    r = admin.put("/v1/images/%s/file" % img["id"], data=raw,
                  headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    for i in range(3):
        r = admin.post("/v1/instances", {"name": "k%d" % i, "flavor": "fast", "image": "raw-img"})
        assert r.status_code == 202, r.text
        inst = r.json()["instances"][0]
        assert inst["host"]["name"] == "h-kvm", inst
