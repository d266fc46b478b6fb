"""Tenant isolation, as a matrix over routes and callers.

Project A's member creates one of every tenant-scoped resource (keypair,
server group, private image, an instance - in status error, there are no
hosts - with its task and events, an API key) and the admin shares a
private flavor with A.  Then, route by route:

  other   project B's member: 404 on every route naming one of A's
          resources, problem+json shaped exactly like the answer for a
          missing id; none of A's resources in any list of B's.
  reader  A's reader: 200 on every read of A's resources, 403 on every
          mutating route of A's project.
  owner   A's member: 200 on the reads (so the 404s above are not because
          the resources are missing).
  member, reader: 403 on every admin-only route.

B also cannot use A's resources by reference in its own creates (the
answer is the one for a missing resource), and may reuse their names
(refusing would reveal them).  Last, A's project is checked unchanged.

The tables below are the matrix.  test_matrix_covers_document fails when
docs/openapi.json gains an operation the tables do not place: extend them.
"""
import base64
import collections
import hashlib
import json
import os
import struct
import subprocess
import time
import uuid

import pytest

from conftest import ROOT, Nubod, assert_problem, make_tenant

# ------------------------------------------------------------------ tables

# A route naming one of A's resources.  fill: the key of the world's dict
# holding A's resource for the path parameter.  body: JSON, or RAW for an
# upload.  owner/reader/other: the status expected for that caller (a
# tuple: any of them; None: not tried - it would change A's resources).
RAW = b"\0" * 4096
Row = collections.namedtuple("Row", "method path fill body owner reader other")
A_ROUTES = [
    Row("GET", "/v1/keypairs/{name}", "keypair", None, 200, 200, 404),
    Row("DELETE", "/v1/keypairs/{name}", "keypair", None, None, 403, 404),
    Row("GET", "/v1/server-groups/{id}", "server_group", None, 200, 200, 404),
    Row("DELETE", "/v1/server-groups/{id}", "server_group", None, None, 403, 404),
    Row("GET", "/v1/images/{id}", "image", None, 200, 200, 404),
    Row("DELETE", "/v1/images/{id}", "image", None, None, 403, 404),
    Row("PUT", "/v1/images/{id}/file", "image", RAW, None, 403, 404),
    Row("PUT", "/v1/images/{id}/kernel", "image", RAW, None, 403, 404),
    Row("PUT", "/v1/images/{id}/initrd", "image", RAW, None, 403, 404),
    Row("GET", "/v1/instances/{id}", "instance", None, 200, 200, 404),
    Row("DELETE", "/v1/instances/{id}", "instance", None, None, 403, 404),
    Row("POST", "/v1/instances/{id}/actions", "instance", {"action": "stop"}, None, 403, 404),
    Row("POST", "/v1/instances/{id}/actions", "instance", {"action": "start"}, None, 403, 404),
    Row("POST", "/v1/instances/{id}/actions", "instance", {"action": "reboot"}, None, 403, 404),
    # no host runs it: the console cannot be read, but that must not be 403/404
    Row("GET", "/v1/instances/{id}/console", "instance", None, (200, 409), (200, 409), 404),
    Row("GET", "/v1/instances/{id}/events", "instance", None, 200, 200, 404),
    Row("GET", "/v1/tasks/{id}", "task", None, 200, 200, 404),
    Row("GET", "/v1/flavors/{id}", "private_flavor", None, 200, 200, 404),
    Row("GET", "/v1/projects/{id}", "project", None, 200, 200, 404),
    Row("GET", "/v1/projects/{id}/quota", "project", None, 200, 200, 404),
    Row("GET", "/v1/projects/{id}/members", "project", None, 200, 200, 404),
    Row("GET", "/v1/instances/{id}/metrics", "instance", None, 200, 200, 404),
    Row("GET", "/v1/alarms/{id}", "alarm", None, 200, 200, 404),
    Row("GET", "/v1/alarms/{id}/history", "alarm", None, 200, 200, 404),
    Row("PATCH", "/v1/alarms/{id}", "alarm", {"threshold": 99}, None, 403, 404),
    Row("DELETE", "/v1/alarms/{id}", "alarm", None, None, 403, 404),
    # another user's API key or token, even in the same project: 404
    Row("GET", "/v1/stacks/{id}", "stack", None, 200, 200, 404),
    Row("PUT", "/v1/stacks/{id}", "stack", {"template": "resources: {}\n"}, None, 403, 404),
    Row("DELETE", "/v1/stacks/{id}", "stack", None, None, 403, 404),
    Row("GET", "/v1/stacks/{id}/events", "stack", None, 200, 200, 404),
    Row("GET", "/v1/stacks/{id}/resources", "stack", None, 200, 200, 404),
    Row("GET", "/v1/stacks/{id}/revisions", "stack", None, 200, 200, 404),
    Row("GET", "/v1/stacks/{id}/outputs", "stack", None, 200, 200, 404),
    Row("GET", "/v1/stacks/{id}/drift", "stack", None, 200, 200, 404),
    Row("DELETE", "/v1/auth/apikeys/{id}", "apikey", None, None, 404, 404),
    Row("DELETE", "/v1/auth/tokens/{id}", "token", None, None, 404, 404),
    Row("GET", "/v1/networks/{id}", "network", None, 200, 200, 404),
    Row("PATCH", "/v1/networks/{id}", "network", {"description": "x"}, None, 403, 404),
    Row("DELETE", "/v1/networks/{id}", "network", None, None, 403, 404),
    Row("GET", "/v1/subnets/{id}", "subnet", None, 200, 200, 404),
    Row("DELETE", "/v1/subnets/{id}", "subnet", None, None, 403, 404),
    Row("GET", "/v1/ports/{id}", "port", None, 200, 200, 404),
    Row("PATCH", "/v1/ports/{id}", "port", {"security_groups": ["default"]}, None, 403, 404),
    Row("DELETE", "/v1/ports/{id}", "port", None, None, 403, 404),
    Row("GET", "/v1/security-groups/{id}", "secgroup", None, 200, 200, 404),
    Row("DELETE", "/v1/security-groups/{id}", "secgroup", None, None, 403, 404),
    Row("DELETE", "/v1/security-group-rules/{id}", "rule", None, None, 403, 404),
    Row("GET", "/v1/floating-ips/{id}", "fip", None, 200, 200, 404),
    Row("PATCH", "/v1/floating-ips/{id}", "fip", {"port_id": None}, None, 403, 404),
    Row("DELETE", "/v1/floating-ips/{id}", "fip", None, None, 403, 404),
    Row("GET", "/v1/volumes/{id}", "volume", None, 200, 200, 404),
    Row("PATCH", "/v1/volumes/{id}", "volume", {"name": "vol-x"}, None, 403, 404),
    Row("DELETE", "/v1/volumes/{id}", "volume", None, None, 403, 404),
    Row("POST", "/v1/volumes/{id}/actions", "volume", {"action": "extend", "size_gib": 2}, None,
        403, 404),
    Row("GET", "/v1/snapshots/{id}", "snapshot", None, 200, 200, 404),
    Row("PATCH", "/v1/snapshots/{id}", "snapshot", {"name": "snap-x"}, None, 403, 404),
    Row("DELETE", "/v1/snapshots/{id}", "snapshot", None, None, 403, 404),
    # autoscaling (group_member is "<group id>/<instance id>")
    Row("GET", "/v1/launch-templates/{id}", "template", None, 200, 200, 404),
    Row("PATCH", "/v1/launch-templates/{id}", "template", {"default_version": 1}, None, 403,
        404),
    Row("DELETE", "/v1/launch-templates/{id}", "template", None, None, 403, 404),
    Row("GET", "/v1/launch-templates/{id}/versions", "template", None, 200, 200, 404),
    Row("POST", "/v1/launch-templates/{id}/versions", "template", {"flavor": "x", "image": "y"},
        None, 403, 404),
    Row("GET", "/v1/scaling-groups/{id}", "group", None, 200, 200, 404),
    Row("PATCH", "/v1/scaling-groups/{id}", "group", {"desired": 0}, None, 403, 404),
    Row("DELETE", "/v1/scaling-groups/{id}", "group", None, None, 403, 404),
    Row("GET", "/v1/scaling-groups/{id}/activities", "group", None, 200, 200, 404),
    Row("PUT", "/v1/scaling-groups/{id}/instances/{iid}/protection", "group_member",
        {"protected": True}, None, 403, 404),
    Row("GET", "/v1/scaling-policies/{id}", "policy", None, 200, 200, 404),
    Row("DELETE", "/v1/scaling-policies/{id}", "policy", None, None, 403, 404),
    Row("GET", "/v1/scheduled-actions/{id}", "schedule", None, 200, 200, 404),
    Row("DELETE", "/v1/scheduled-actions/{id}", "schedule", None, None, 403, 404),
]

# Mutating routes of a project without a path parameter: a reader gets 403.
# Bodies are valid: were the role not checked, they would succeed.
READER_MUTATIONS = [
    ("POST", "/v1/keypairs", lambda w: {"name": "kp-r", "public_key": w["pubkey2"]}),
    ("POST", "/v1/server-groups", lambda w: {"name": "sg-r", "policy": "affinity"}),
    ("POST", "/v1/images", lambda w: {"name": "img-r"}),
    ("POST", "/v1/instances", lambda w: {"name": "vm-r", "flavor": w["flavor"],
                                         "image": w["image"]}),
    ("POST", "/v1/alarms", lambda w: {"name": "al-r", "metric": "cpu", "comparison": "gt",
                                      "threshold": 1, "window_s": 60}),
    ("POST", "/v1/networks", lambda w: {"name": "net-r"}),
    ("POST", "/v1/subnets", lambda w: {"network": w["network"], "cidr": "10.9.0.0/24"}),
    ("POST", "/v1/ports", lambda w: {"network": w["network"]}),
    ("POST", "/v1/security-groups", lambda w: {"name": "secgroup-r"}),
    ("POST", "/v1/security-group-rules", lambda w: {"security_group": w["secgroup"],
                                                    "direction": "ingress"}),
    ("POST", "/v1/floating-ips", lambda w: {}),
    ("POST", "/v1/launch-templates", lambda w: {"name": "lt-r", "flavor": w["flavor"],
                                                "image": w["image"]}),
    ("POST", "/v1/scaling-groups", lambda w: {"name": "sg-r", "template": w["template"],
                                              "min_size": 0, "max_size": 1}),
    ("POST", "/v1/scaling-policies", lambda w: {"name": "sp-r", "group": w["group"],
                                                "kind": "target", "target_value": 50}),
    ("POST", "/v1/scheduled-actions", lambda w: {"name": "sa-r", "group": w["group"],
                                                 "cron": "* * * * *", "desired": 0}),
    ("POST", "/v1/stacks", lambda w: {"name": "stack-r", "template": "resources: {}\n"}),
    ("POST", "/v1/volumes", lambda w: {"name": "vol-r", "size_gib": 1}),
    ("POST", "/v1/snapshots", lambda w: {"volume_id": w["volume"], "name": "snap-r"}),
]

# Admin-only routes: a member and a reader get 403.  Bodies are valid, path
# parameters name existing things of the caller's own project where there
# are some (so that 403 is the role's answer, not a lookup's).
ADMIN_ONLY = [
    ("POST", "/v1/flavors", lambda w: {"name": "f-x", "vcpus": 1, "ram_mib": 64, "disk_gib": 1}),
    ("DELETE", "/v1/flavors/{id}", lambda w: w["flavor_id"]),
    ("POST", "/v1/flavors/{id}/access", lambda w: (w["private_flavor"], {"project": w["b_project"]})),
    ("GET", "/v1/users", None),
    ("POST", "/v1/users", lambda w: {"name": "u-x", "password": "secret-password-2"}),
    ("DELETE", "/v1/users/{id}", lambda w: w["b_user"]),
    ("GET", "/v1/hosts", None),
    ("GET", "/v1/instances/{id}/migrations", lambda w: str(uuid.uuid4())),
    ("GET", "/v1/hosts/{id}", lambda w: str(uuid.uuid4())),
    ("GET", "/v1/hosts/{id}/metrics", lambda w: str(uuid.uuid4())),
    ("GET", "/v1/hosts/{id}/network-document", lambda w: str(uuid.uuid4())),
    ("DELETE", "/v1/hosts/{id}", lambda w: str(uuid.uuid4())),
    ("POST", "/v1/hosts/{id}/actions",
     lambda w: (str(uuid.uuid4()), {"action": "reset-credential"})),
    ("POST", "/v1/join-tokens", lambda w: {"uses": 5}),
    ("GET", "/v1/join-tokens", None),
    ("DELETE", "/v1/join-tokens/{id}", lambda w: str(uuid.uuid4())),
    ("GET", "/v1/recovery", None),
    ("POST", "/v1/recovery/actions", lambda w: {"action": "finish"}),
    ("GET", "/v1/audit", None),
    ("POST", "/v1/projects", lambda w: {"name": "p-x"}),
    ("DELETE", "/v1/projects/{id}", lambda w: w["project"]),
    ("PUT", "/v1/projects/{id}/quota", lambda w: (w["project"], {"instances": 1000})),
    ("PUT", "/v1/projects/{id}/members/{user}",
     lambda w: ((w["project"], w["b_user"]), {"role": "admin"})),
    ("DELETE", "/v1/projects/{id}/members/{user}", lambda w: ((w["project"], w["a_user"]),)),
    ("POST", "/v1/prices", lambda w: {"meter": "disk", "unit_price_micros": 1000,
                                      "currency": "EUR"}),
    ("GET", "/v1/invoices/showback", None),
    ("PUT", "/v1/budget", lambda w: {"amount_micros": 1000000, "block_new_instances": True}),
    ("DELETE", "/v1/budget", None),
    ("POST", "/v1/volume-types", lambda w: {"name": "vt-x"}),
    ("DELETE", "/v1/volume-types/{id}", lambda w: "local"),
]

# Admin-only by their body, on routes a member may otherwise use.
ADMIN_ONLY_BODIES = [
    ("POST", "/v1/images", lambda w: {"name": "img-pub", "visibility": "public"}),
    ("POST", "/v1/images", lambda w: {"name": "img-file", "file": w["image_path"]}),
    ("PATCH", "/v1/users/{id}", lambda w: ((w["self"],), {"disabled": True})),
    ("PATCH", "/v1/users/{id}", lambda w: ((w["self"],), {"cloud_admin": True})),
]

# Lists as project B's member sees them: none of A's resources may appear.
# allowed: the statuses allowed.  A query naming one of A's resources ({x})
# must get the same answer as one naming a missing resource (a marker may
# be refused, but then alike), and only the value B sent may be echoed.
B_LISTS = [
    ("/v1/keypairs", (200,)),
    ("/v1/server-groups", (200,)),
    ("/v1/images", (200,)),
    ("/v1/images?name={image_name}", (200,)),
    ("/v1/instances", (200,)),
    ("/v1/instances?name={instance_name}", (200,)),
    ("/v1/instances?marker={instance}", (200, 400, 404)),
    ("/v1/instances?all_projects=true", (200, 403)),
    ("/v1/tasks", (200,)),
    ("/v1/tasks?instance={instance}", (200, 404)),
    ("/v1/flavors", (200,)),
    ("/v1/projects", (200,)),
    ("/v1/auth/apikeys", (200,)),
    ("/v1/alarms", (200,)),
    ("/v1/launch-templates", (200,)),
    ("/v1/scaling-groups", (200,)),
    ("/v1/scaling-policies", (200,)),
    ("/v1/scheduled-actions", (200,)),
    ("/v1/prices", (200,)),
    ("/v1/usage", (200,)),
    ("/v1/budget/notifications", (200,)),
    ("/v1/networks", (200,)),
    ("/v1/subnets", (200,)),
    ("/v1/subnets?network_id={network}", (200,)),
    ("/v1/ports", (200,)),
    ("/v1/ports?network_id={network}", (200,)),
    ("/v1/ports?instance_id={instance}", (200,)),
    ("/v1/security-groups", (200,)),
    ("/v1/security-group-rules", (200,)),
    ("/v1/floating-ips", (200,)),
    ("/v1/stacks", (200,)),
    ("/v1/volumes", (200,)),
    ("/v1/volume-types", (200,)),
    ("/v1/snapshots", (200,)),
]

# Lists as A's reader sees them: A's resources are there.
A_LISTS = [
    ("/v1/keypairs", "keypairs", "keypair_id"),
    ("/v1/server-groups", "server_groups", "server_group"),
    ("/v1/images", "images", "image"),
    ("/v1/instances", "instances", "instance"),
    ("/v1/tasks", "tasks", "task"),
    ("/v1/flavors", "flavors", "private_flavor"),
    ("/v1/projects", "projects", "project"),
    ("/v1/instances/{instance}/events", "events", None),  # no event is required
    ("/v1/alarms", "alarms", "alarm"),
    ("/v1/networks", "networks", "network"),
    ("/v1/subnets", "subnets", "subnet"),
    ("/v1/ports", "ports", "port"),
    ("/v1/security-groups", "security_groups", "secgroup"),
    ("/v1/security-group-rules", "security_group_rules", "rule"),
    ("/v1/floating-ips", "floating_ips", "fip"),
    ("/v1/launch-templates", "launch_templates", "template"),
    ("/v1/scaling-groups", "scaling_groups", "group"),
    ("/v1/scaling-policies", "scaling_policies", "policy"),
    ("/v1/scheduled-actions", "scheduled_actions", "schedule"),
    ("/v1/stacks", "stacks", "stack"),
    ("/v1/volumes", "volumes", "volume"),
    ("/v1/snapshots", "snapshots", "snapshot"),
]

# Operations of the document no table above needs to place, and why.
NOT_IN_MATRIX = {
    ("POST", "/v1/auth/tokens"): "public",
    ("POST", "/v1/hosts/register"): "public (join token)",
    ("POST", "/v1/hosts/{id}/heartbeat"): "host agents only",
    ("GET", "/v1/openapi.json"): "public",
    ("GET", "/v1/health"): "public",
    ("GET", "/v1/auth/whoami"): "about the caller only",
    ("POST", "/v1/stacks/plan"): "changes nothing; another project's stack: "
                                 "test_other_project_cannot_plan_a_stack",
    ("POST", "/v1/auth/apikeys"): "any user may make keys with their own role",
    ("GET", "/v1/users/{id}"): "users are not tenant-scoped (self or admin)",
    ("GET", "/v1/invoice"): "a report of the caller's project (another: ?project= is 404,"
                            " tests/api/test_billing.py::test_tenancy)",
    ("GET", "/v1/invoices"): "a report of the caller's project (as /v1/invoice)",
    ("GET", "/v1/cost"): "a report of the caller's project (as /v1/invoice)",
    ("GET", "/v1/budget"): "a report of the caller's project (as /v1/invoice)",
    ("POST", "/v1/hosts/{id}/metrics"): "host agents only",
    ("GET", "/v1/metrics/project"): "the token's own project by construction (test_monitor.py)",
    ("GET", "/metrics"): "scoped to the token's project (test_monitor.py)",
}

# ------------------------------------------------------------------ helpers


def ssh_key(seed):
    """An OpenSSH ed25519 public key line and its SHA256 fingerprint."""
    def field(b):
        return struct.pack(">I", len(b)) + b
    blob = field(b"ssh-ed25519") + field(hashlib.sha256(seed.encode()).digest())
    line = "ssh-ed25519 %s %s@nubo" % (base64.b64encode(blob).decode(), seed)
    fp = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return line, fp


def disk_image(directory):
    """A small qcow2 disk (raw zeros when qemu-img is missing); its path."""
    path = os.path.join(directory, "disk.qcow2")
    try:
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, "64M"], check=True)
    except (OSError, subprocess.CalledProcessError):
        path = os.path.join(directory, "disk.raw")
        with open(path, "wb") as f:
            f.write(b"\0" * (1 << 20))
    return path


def fill(path, values):
    """Puts values (a string or a tuple, in order) into path's {params}."""
    if isinstance(values, str):
        # "a/b" fills a path with two parameters (a group and its instance)
        values = tuple(values.split("/")) if path.count("{") > 1 else (values,)
    out, vals = path, list(values)
    while "{" in out:
        a, b = out.index("{"), out.index("}")
        out = out[:a] + vals.pop(0) + out[b + 1:]
    assert not vals, (path, values)
    return out


def call(client, method, path, body):
    if isinstance(body, bytes):
        return client.req(method, path, data=body,
                          headers={"Content-Type": "application/octet-stream"})
    return client.req(method, path, json=body)


def expect(r, want):
    want = want if isinstance(want, tuple) else (want,)
    assert r.status_code in want, "%s %s: %d, want %s\n%s" % (
        r.request.method, r.request.path_url, r.status_code, want, r.text)
    assert r.headers.get("X-Request-Id"), r.headers
    if r.status_code >= 400:
        assert_problem(r, r.status_code)


def secrets_of_a(w):
    """Strings that must not appear in anything project B is shown."""
    return {k: w[k] for k in ("keypair", "keypair_id", "pubkey", "server_group", "image",
                              "image_name", "instance", "instance_name", "task", "apikey",
                              "private_flavor", "project", "project_name", "token",
                              "alarm", "network", "subnet", "port", "secgroup", "rule", "fip",
                              "template", "group", "policy", "schedule", "stack")}


# ------------------------------------------------------------------- world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("isolation"))
    n = Nubod(tmp).start()
    try:
        yield build_world(n, tmp)
    finally:
        rc = n.stop()
        assert rc == 0, "nubod exited with %d:\n%s" % (rc, n.log())


def build_world(n, tmp):
    admin = n.admin()
    tag = uuid.uuid4().hex[:6]
    w = {"nubod": n, "admin": admin}

    a = make_tenant(n, admin, "member")
    reader = make_tenant(n, admin, "reader", project=a.project)
    b = make_tenant(n, admin, "member")
    w.update(a_client=a, reader_client=reader, b_client=b)

    r = admin.get("/v1/projects/%s" % a.project)
    assert r.status_code == 200, r.text
    w["project"], w["project_name"] = r.json()["id"], a.project
    r = admin.get("/v1/projects/%s" % b.project)
    assert r.status_code == 200, r.text
    w["b_project"] = r.json()["id"]
    for key, c in (("a_user", a), ("reader_user", reader), ("b_user", b)):
        r = c.get("/v1/auth/whoami")
        assert r.status_code == 200, r.text
        w[key] = r.json()["user"]["id"]
    w["token"] = a.get("/v1/auth/whoami").json()["token_id"]

    # flavors: a public one, and a private one shared with A only
    r = admin.post("/v1/flavors", {"name": "iso-small-" + tag, "vcpus": 1, "ram_mib": 64,
                                   "disk_gib": 1})
    assert r.status_code == 201, r.text
    w["flavor"], w["flavor_id"] = r.json()["name"], r.json()["id"]
    r = admin.post("/v1/flavors", {"name": "iso-private-" + tag, "vcpus": 1, "ram_mib": 64,
                                   "disk_gib": 1, "is_public": False})
    assert r.status_code == 201, r.text
    w["private_flavor"] = r.json()["id"]
    r = admin.post("/v1/flavors/%s/access" % w["private_flavor"], {"project": w["project"]})
    assert r.status_code == 200, r.text

    # A's resources, made by A's member
    w["pubkey"], fp = ssh_key("a-" + tag)
    w["pubkey2"], _ = ssh_key("r-" + tag)
    w["keypair"] = "kp-a-" + tag
    r = a.post("/v1/keypairs", {"name": w["keypair"], "public_key": w["pubkey"]})
    assert r.status_code == 201, r.text
    assert r.json()["fingerprint"] == fp, r.json()
    w["keypair_id"] = r.json()["id"]

    w["server_group_name"] = "sg-a-" + tag
    r = a.post("/v1/server-groups", {"name": w["server_group_name"], "policy": "anti-affinity"})
    assert r.status_code == 201, r.text
    w["server_group"] = r.json()["id"]

    w["image_path"] = disk_image(tmp)
    w["image_name"] = "img-a-" + tag
    r = a.post("/v1/images", {"name": w["image_name"]})
    assert r.status_code == 201, r.text
    assert r.json()["visibility"] == "private" and r.json()["status"] == "queued", r.json()
    w["image"] = r.json()["id"]
    with open(w["image_path"], "rb") as f:
        r = a.req("PUT", "/v1/images/%s/file" % w["image"], data=f.read(),
                  headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200 and r.json()["status"] == "active", r.text

    w["instance_name"] = "vm-a-" + tag
    r = a.post("/v1/instances", {"name": w["instance_name"], "flavor": w["flavor"],
                                 "image": w["image"], "keypair": w["keypair"],
                                 "server_group": w["server_group"]})
    assert r.status_code == 202, r.text
    (inst,) = r.json()["instances"]
    w["instance"], (w["task"],) = inst["id"], r.json()["task_ids"]
    assert inst["project_id"] == w["project"], inst

    r = a.post("/v1/auth/apikeys", {"name": "key-a-" + tag})
    assert r.status_code == 201, r.text
    w["apikey"] = r.json()["id"]

    r = a.post("/v1/alarms", {"name": "al-a-" + tag, "metric": "cpu", "instance": w["instance"],
                              "comparison": "gt", "threshold": 80, "window_s": 60})
    assert r.status_code == 201, r.text
    w["alarm"] = r.json()["id"]

    r = a.post("/v1/volumes", {"name": "vol-a-" + tag, "size_gib": 1})
    assert r.status_code == 201, r.text
    w["volume"] = r.json()["id"]
    r = a.post("/v1/snapshots", {"volume_id": w["volume"], "name": "snap-a-" + tag})
    assert r.status_code == 201, r.text
    w["snapshot"] = r.json()["id"]

    # networking: the admin's external network, A's network with a port
    r = admin.post("/v1/networks", {"name": "iso-ext-" + tag, "external": True})
    assert r.status_code == 201, r.text
    r = admin.post("/v1/subnets", {"network": r.json()["id"], "cidr": "203.0.113.0/24"})
    assert r.status_code == 201, r.text
    for key, path, body in (
            ("network", "/v1/networks", lambda: {"name": "net-a-" + tag}),
            ("subnet", "/v1/subnets", lambda: {"network": w["network"], "cidr": "10.8.0.0/24"}),
            ("secgroup", "/v1/security-groups", lambda: {"name": "secgroup-a-" + tag}),
            ("rule", "/v1/security-group-rules", lambda: {"security_group": w["secgroup"],
                                                          "direction": "egress"}),
            ("port", "/v1/ports", lambda: {"network": w["network"],
                                           "security_groups": [w["secgroup"]]}),
            ("fip", "/v1/floating-ips", lambda: {})):
        r = a.post(path, body())
        assert r.status_code == 201, r.text
        w[key] = r.json()["id"]
    # autoscaling: a template, an empty group (nothing launches), a policy
    # and a scheduled action
    r = a.post("/v1/launch-templates", {"name": "lt-a-" + tag, "flavor": w["flavor"],
                                        "image": w["image"]})
    assert r.status_code == 201, r.text
    w["template"] = r.json()["id"]
    r = a.post("/v1/scaling-groups", {"name": "sg-a-" + tag, "template": w["template"],
                                      "min_size": 0, "max_size": 2})
    assert r.status_code == 201, r.text
    w["group"] = r.json()["id"]
    w["group_member"] = w["group"] + "/" + w["instance"]
    r = a.post("/v1/scaling-policies", {"name": "sp-a-" + tag, "group": w["group"],
                                        "kind": "target", "target_value": 60})
    assert r.status_code == 201, r.text
    w["policy"] = r.json()["id"]
    r = a.post("/v1/scheduled-actions", {"name": "sa-a-" + tag, "group": w["group"],
                                         "cron": "0 3 * * *", "desired": 0})
    assert r.status_code == 201, r.text
    w["schedule"] = r.json()["id"]

    # a finished stack of one keypair
    r = a.post("/v1/stacks", {"name": "stack-a-" + tag, "template": (
        "resources: {key: {type: keypair, properties: {name: kp-stack-%s,\n"
        "  public_key: %s}}}\n" % (tag, json.dumps(w["pubkey2"])))})
    assert r.status_code == 202, r.text
    w["stack"] = r.json()["stack"]["id"]
    for _ in range(200):
        st = a.get("/v1/stacks/" + w["stack"]).json()["status"]
        if st != "applying":
            break
        time.sleep(0.05)
    assert st == "complete", st

    # B's own image, so that B can try creates that are valid but for one field
    r = b.post("/v1/images", {"name": "img-b-" + tag})
    assert r.status_code == 201, r.text
    w["b_image"] = r.json()["id"]
    with open(w["image_path"], "rb") as f:
        r = b.req("PUT", "/v1/images/%s/file" % w["b_image"], data=f.read(),
                  headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    w["a_state"] = a_state(w)
    return w


A_STATE = ["/v1/keypairs", "/v1/server-groups", "/v1/images", "/v1/instances", "/v1/tasks",
           "/v1/flavors", "/v1/auth/apikeys", "/v1/alarms", "/v1/projects/{project}/quota",
           "/v1/projects/{project}/members", "/v1/instances/{instance}",
           "/v1/images/{image}", "/v1/auth/whoami", "/v1/networks", "/v1/subnets",
           "/v1/ports", "/v1/security-groups", "/v1/floating-ips", "/v1/launch-templates",
           "/v1/scaling-groups", "/v1/scaling-policies", "/v1/scheduled-actions",
           "/v1/stacks"]


def a_state(w):
    """What A's member sees of A's project (times of updates left out)."""
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k != "updated_at"}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x
    out = {}
    for path in A_STATE:
        p = path.format(project=w["project"], instance=w["instance"], image=w["image"])
        r = w["a_client"].get(p)
        assert r.status_code == 200, (p, r.text)
        out[path] = strip(r.json())
    return out


def client_of(w, who):
    return {"owner": w["a_client"], "reader": w["reader_client"], "other": w["b_client"],
            "member": w["a_client"]}[who]


def missing_value(fill_key):
    if fill_key == "group_member":
        return "%s/%s" % (uuid.uuid4(), uuid.uuid4())
    return "kp-missing-" + uuid.uuid4().hex[:8] if fill_key == "keypair" else str(uuid.uuid4())


# ------------------------------------------------------------------- tests


def doc_ops():
    with open(os.path.join(ROOT, "docs", "openapi.json")) as f:
        doc = json.load(f)
    for p, item in doc["paths"].items():
        for m, op in item.items():
            if m in ("get", "put", "post", "delete", "patch"):
                yield m.upper(), p, op["x-nubo-access"]


def test_matrix_covers_document():
    """Every operation of the document is placed in the matrix (or in
    NOT_IN_MATRIX with a reason)."""
    placed = {(r.method, r.path) for r in A_ROUTES}
    placed |= {(m, p) for m, p, _ in READER_MUTATIONS + ADMIN_ONLY + ADMIN_ONLY_BODIES}
    placed |= {("GET", p.split("?")[0]) for p, _ in B_LISTS}
    placed |= {("GET", p.replace("{instance}", "{id}")) for p, _, _ in A_LISTS}
    placed |= set(NOT_IN_MATRIX)
    unplaced = []
    for m, p, access in doc_ops():
        if (m, p) not in placed:
            unplaced.append("%s %s (%s)" % (m, p, access))
        if access == "admin":
            assert (m, p) in {(x, y) for x, y, _ in ADMIN_ONLY}, "%s %s is admin-only" % (m, p)
        if access == "member" and "{" not in p:
            assert (m, p) in {(x, y) for x, y, _ in READER_MUTATIONS}, (m, p)
        if access in ("reader", "member") and "{" in p:
            assert (m, p) in {(r.method, r.path) for r in A_ROUTES}, (m, p)
    assert not unplaced, "extend the isolation matrix for:\n  " + "\n  ".join(unplaced)


def row_id(r):
    return "%s %s%s" % (r.method, r.path, " " + r.body["action"]
                        if isinstance(r.body, dict) and "action" in r.body else "")


@pytest.mark.parametrize("row", A_ROUTES, ids=row_id)
def test_other_project_gets_404_like_missing(world, row):
    b = world["b_client"]
    value = world[row.fill]
    r = call(b, row.method, fill(row.path, value), row.body)
    expect(r, 404)
    got = r.json()
    other = missing_value(row.fill)
    m = call(b, row.method, fill(row.path, other), row.body)
    expect(m, 404)
    missing = m.json()
    # the same answer as for a missing id, but for the id itself (each part
    # of a "group/instance" pair)
    def norm(p, v):
        def sub(x):
            for part in v.split("/"):
                x = x.replace(part, "ID")
            return x
        return {k: (sub(x) if isinstance(x, str) else x) for k, x in p.items()}
    assert norm(got, value) == norm(missing, other), (got, missing)
    assert set(r.headers) - {"Date", "X-Request-Id", "Content-Length"} == \
        set(m.headers) - {"Date", "X-Request-Id", "Content-Length"}


@pytest.mark.parametrize("row", [r for r in A_ROUTES if r.reader is not None], ids=row_id)
def test_reader(world, row):
    r = call(world["reader_client"], row.method, fill(row.path, world[row.fill]), row.body)
    expect(r, row.reader)
    if r.status_code == 200 and row.method == "GET" and "json" in r.headers["Content-Type"]:
        assert r.json(), r.text


@pytest.mark.parametrize("row", [r for r in A_ROUTES if r.owner is not None], ids=row_id)
def test_owner_reads(world, row):
    r = call(world["a_client"], row.method, fill(row.path, world[row.fill]), row.body)
    expect(r, row.owner)


@pytest.mark.parametrize("method,path,body", READER_MUTATIONS,
                         ids=["%s %s" % (m, p) for m, p, _ in READER_MUTATIONS])
def test_reader_cannot_create(world, method, path, body):
    r = world["reader_client"].req(method, path, json=body(world))
    expect(r, 403)


def admin_only_request(w, path, arg):
    """(path, body) for an ADMIN_ONLY row."""
    v = arg(w) if arg else None
    if v is None:
        return path, None
    if isinstance(v, dict):
        return path, v
    if isinstance(v, str):
        return fill(path, v), None
    params, *body = v
    return fill(path, params), (body[0] if body else None)


@pytest.mark.parametrize("who", ["member", "reader"])
@pytest.mark.parametrize("method,path,arg", ADMIN_ONLY + ADMIN_ONLY_BODIES,
                         ids=["%s %s" % (m, p) + (" (body)" if (m, p, a) in ADMIN_ONLY_BODIES
                                                  else "")
                              for m, p, a in ADMIN_ONLY + ADMIN_ONLY_BODIES])
def test_admin_only(world, who, method, path, arg):
    w = dict(world)
    w["self"] = w["a_user"] if who == "member" else w["reader_user"]
    p, body = admin_only_request(w, path, arg)
    r = client_of(world, who).req(method, p, json=body)
    expect(r, 403)


@pytest.mark.parametrize("path,allowed", B_LISTS, ids=[p for p, _ in B_LISTS])
def test_other_project_lists_show_nothing_of_a(world, path, allowed):
    b = world["b_client"]
    keys = [k for k in ("image_name", "instance_name", "instance", "network") if "{%s}" % k in path]
    p = path.format(**{k: world[k] for k in keys})
    r = b.get(p)
    expect(r, allowed)
    text = r.text
    for k in keys:
        text = text.replace(world[k], "SENT")
    for what, secret in secrets_of_a(world).items():
        assert secret not in text, "%s shows A's %s (%s):\n%s" % (p, what, secret, r.text)
    if r.status_code == 200:
        body = r.json()
        assert "next_marker" in body, body
    if keys:
        missing = {k: ("missing-" + uuid.uuid4().hex[:8]) if k.endswith("name")
                   else str(uuid.uuid4()) for k in keys}
        m = b.get(path.format(**missing))
        assert m.status_code == r.status_code, (r.text, m.text)
        if r.status_code == 200:
            assert r.json() == m.json()


@pytest.mark.parametrize("path,key,item", A_LISTS, ids=[p for p, _, _ in A_LISTS])
def test_reader_lists_show_a(world, path, key, item):
    r = world["reader_client"].get(path.format(instance=world["instance"]))
    expect(r, 200)
    rows = r.json()[key]
    assert isinstance(rows, list), r.text
    if item is not None:
        assert world[item] in [x["id"] for x in rows], r.text


# Project B's member names one of A's resources in a create of its own: the
# answer is the one for a missing resource, and nothing is created.
B_REFERENCES = [("image", "image"), ("keypair", "keypair"), ("server_group", "server_group"),
                ("flavor", "private_flavor")]


@pytest.mark.parametrize("field,fill_key", B_REFERENCES, ids=[f for f, _ in B_REFERENCES])
def test_other_project_cannot_use_a_resources(world, field, fill_key):
    b = world["b_client"]
    base = {"name": "vm-b-ref", "flavor": world["flavor"], "image": world["b_image"]}
    value, other = world[fill_key], missing_value(fill_key)
    r = b.post("/v1/instances", dict(base, **{field: value}))
    m = b.post("/v1/instances", dict(base, **{field: other}))
    expect(m, (400, 404))
    expect(r, m.status_code)
    norm = lambda p, v: {k: (x.replace(v, "ID") if isinstance(x, str) else x)
                         for k, x in p.items()}
    assert norm(r.json(), value) == norm(m.json(), other)
    assert b.get("/v1/instances").json()["instances"] == []


def test_other_project_cannot_watch_a_instances(world):
    """An alarm of B naming A's instance is refused like one naming a
    missing instance."""
    b = world["b_client"]
    base = {"name": "al-b-ref", "metric": "cpu", "comparison": "gt", "threshold": 1,
            "window_s": 60}
    value, other = world["instance"], str(uuid.uuid4())
    r = b.post("/v1/alarms", dict(base, instance=value))
    m = b.post("/v1/alarms", dict(base, instance=other))
    expect(m, 400)
    expect(r, 400)
    assert r.json()["detail"].replace(value, "ID") == m.json()["detail"].replace(other, "ID")
    assert b.get("/v1/alarms").json()["alarms"] == []


# Names are per project: B may use the names of A's resources, and being
# refused would tell B that they exist.  (Runs after the list tests above,
# which look for A's names in B's lists.)
SAME_NAMES = [
    ("/v1/keypairs", lambda w: {"name": w["keypair"], "public_key": w["pubkey2"]}, 201),
    ("/v1/server-groups", lambda w: {"name": w["server_group_name"], "policy": "affinity"}, 201),
    ("/v1/images", lambda w: {"name": w["image_name"]}, 201),
    ("/v1/instances", lambda w: {"name": w["instance_name"], "flavor": w["flavor"],
                                 "image": w["b_image"]}, 202),
]


@pytest.mark.parametrize("path,body,status", SAME_NAMES, ids=[p for p, _, _ in SAME_NAMES])
def test_other_project_may_reuse_names(world, path, body, status):
    expect(world["b_client"].post(path, body(world)), status)


def test_nothing_of_a_changed(world):
    """Runs last: every refused call above left A's project, and the cloud's
    users, projects and flavors, as they were."""
    assert a_state(world) == world["a_state"]
    admin = world["admin"]
    assert admin.get("/v1/flavors/%s" % world["flavor_id"]).status_code == 200
    users = {u["name"] for u in admin.get("/v1/users?limit=1000").json()["users"]}
    assert "u-x" not in users
    assert {world[k].user for k in ("a_client", "reader_client", "b_client")} <= users
    projects = {p["name"] for p in admin.get("/v1/projects?limit=1000").json()["projects"]}
    assert "p-x" not in projects and world["project_name"] in projects
    flavors = {f["name"] for f in admin.get("/v1/flavors?limit=1000").json()["flavors"]}
    assert "f-x" not in flavors
    # the refused share did not share
    expect(world["b_client"].get("/v1/flavors/%s" % world["private_flavor"]), 404)


def test_other_project_cannot_plan_a_stack(world):
    """A plan against A's stack, by B, is answered as for a missing stack."""
    body = {"template": "resources: {}\n", "stack": world["stack"]}
    r = world["b_client"].post("/v1/stacks/plan", body)
    body["stack"] = str(uuid.uuid4())
    missing = world["b_client"].post("/v1/stacks/plan", body)
    assert r.status_code == missing.status_code == 404, (r.text, missing.text)
    assert r.json()["title"] == missing.json()["title"]
