"""Bad input on every route of docs/openapi.json.

Bodies: for every operation of the document that takes a JSON body, the
request is sent with a valid body (VALID_BODIES) spoiled in one way at a
time, each way derived from the operation's schema where it can be:
malformed JSON, not an object, duplicate keys, invalid UTF-8, no body, a
wrong type for each field (nested ones too), a value out of range / not in
the enum / not matching the pattern / too long or too short, a missing
required field, an unknown field -> 400; a body over 1 MiB -> 413; a
non-JSON Content-Type -> 415.

Path parameters: every operation with {params}, each parameter in turn set
to "../etc", a 200-character id, "%00" and friends -> 404.

Query parameters: limit/marker and the other typed parameters of the
document, malformed or out of range -> 400.

Every answer is problem+json with X-Request-Id, and nothing changed: the
lists and the resources read before and after are the same.

One nubod serves the whole module (ASan build by default), with a host
registered by hand (no agent behind it) so that heartbeats can be tried.
If it dies, the test during which it died fails with the end of its log and
it is started again on the same state, so that the other tests still tell
something.  Paths that are not UTF-8 each get a nubod of their own.
"""
import base64
import hashlib
import http.client
import json
import os
import re
import struct
import subprocess
import time

import pytest
import requests

from conftest import ROOT, Nubod, make_tenant

DOC_PATH = os.path.join(ROOT, "docs", "openapi.json")
MIB = 1 << 20
PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}

with open(DOC_PATH) as _f:
    DOC = json.load(_f)

# A valid body for every JSON-body operation, from the environment below.
# Only ever sent spoiled (or with a wrong Content-Type): were it accepted, it
# would change something and test_nothing_changed would say so.
VALID_BODIES = {
    ("POST", "/v1/auth/tokens"): lambda e: {"user": "admin", "password": e["admin_password"],
                                            "project": "admin"},
    ("POST", "/v1/auth/apikeys"): lambda e: {"name": "bad-key", "expires_in_days": 30},
    ("POST", "/v1/projects"): lambda e: {"name": "bad-project", "description": "x"},
    ("PUT", "/v1/projects/{id}/quota"): lambda e: {"instances": 7, "vcpus": 8, "ram_mib": 1024,
                                                   "disk_gib": 10},
    ("PUT", "/v1/projects/{id}/members/{user}"): lambda e: {"role": "reader"},
    ("POST", "/v1/users"): lambda e: {"name": "bad-user", "password": "long-enough-1",
                                      "email": "bad@example.com"},
    ("PATCH", "/v1/users/{id}"): lambda e: {"password": "long-enough-2",
                                            "email": "other@example.com", "disabled": True},
    ("POST", "/v1/flavors"): lambda e: {"name": "bad-flavor", "vcpus": 1, "ram_mib": 64,
                                        "disk_gib": 1, "is_public": True},
    ("POST", "/v1/flavors/{id}/access"): lambda e: {"project": e["project"]},
    ("POST", "/v1/images"): lambda e: {"name": "bad-image", "visibility": "private",
                                       "cmdline": "console=ttyS0", "min_disk_gib": 1},
    ("POST", "/v1/keypairs"): lambda e: {"name": "bad-kp", "public_key": e["pubkey2"]},
    ("POST", "/v1/server-groups"): lambda e: {"name": "bad-sg", "policy": "affinity"},
    ("POST", "/v1/instances"): lambda e: {"name": "bad-vm", "flavor": e["flavor"],
                                          "image": e["image"], "keypair": e["keypair"],
                                          "user_data": "#!/bin/sh\n", "count": 1,
                                          "server_group": e["server_group"],
                                          "networks": [{"network": e["network"],
                                                        "fixed_ip": "10.66.0.77"}],
                                          "security_groups": ["default"]},
    ("POST", "/v1/instances/{id}/actions"): lambda e: {"action": "stop"},
    ("POST", "/v1/hosts/register"): lambda e: {
        "join_token": e["join_token"], "name": "bad-host", "address": "http://127.0.0.1:9",
        "agent_token": "agent-token", "capacity": {"vcpus": 4, "ram_mib": 4096, "disk_gib": 10},
        "accel": "tcg", "driver": "qemu"},
    ("POST", "/v1/hosts/{id}/actions"): lambda e: {"action": "reset-credential"},
    ("POST", "/v1/join-tokens"): lambda e: {"ttl_seconds": 600, "uses": 2, "note": "ok"},
    ("POST", "/v1/recovery/actions"): lambda e: {"action": "finish"},
    ("POST", "/v1/hosts/{id}/heartbeat"): lambda e: {
        "capacity": {"vcpus": 5, "ram_mib": 5000, "disk_gib": 50}, "accel": "kvm",
        "driver": "qemu",
        "vms": [{"name": "nubo-" + e["instance"], "state": "running", "reason": "", "boots": 1}]},
    ("POST", "/v1/hosts/{id}/metrics"): lambda e: {
        "agent_run": "bad-input", "rounds": [{
            "seq": 1, "age_ms": 0,
            "host": {"cpu": 1.5, "memory_used": 1, "memory_total": 2, "disk_used": 1,
                     "disk_total": 2},
            "vms": [{"name": "nubo-" + e["instance"], "cpu": 1.0, "memory": 1,
                     "disk_read_bytes": 0, "disk_write_bytes": 0, "disk_read_ops": 0,
                     "disk_write_ops": 0, "net_rx_bytes": 0, "net_tx_bytes": 0,
                     "net_rx_packets": 0, "net_tx_packets": 0,
                     "counters": {"cpu_ns": 1, "disk_read_bytes": 1, "disk_write_bytes": 1,
                                  "disk_read_ops": 1, "disk_write_ops": 1, "net_rx_bytes": 1,
                                  "net_tx_bytes": 1, "net_rx_packets": 1,
                                  "net_tx_packets": 1}}]}]},
    ("POST", "/v1/alarms"): lambda e: {
        "name": "bad-alarm", "description": "x", "metric": "cpu", "instance": e["instance"],
        "statistic": "max", "comparison": "ge", "threshold": 50, "window_s": 60,
        "evaluation_periods": 2, "webhook_url": "http://localhost:9/hook", "hook": "log"},
    ("PATCH", "/v1/alarms/{id}"): lambda e: {
        "description": "y", "metric": "memory", "statistic": "min", "comparison": "lt",
        "threshold": 5, "window_s": 30, "evaluation_periods": 3,
        "webhook_url": "http://localhost:9/other", "hook": "log"},
    ("POST", "/v1/prices"): lambda e: {"meter": "instance", "flavor": e["flavor"],
                                       "unit_price_micros": 1000, "currency": "EUR",
                                       "effective_from": "2099-01-01T00:00:00Z"},
    ("PUT", "/v1/budget"): lambda e: {"amount_micros": 1000000, "currency": "EUR",
                                      "thresholds": [80, 100], "block_new_instances": True},
    ("POST", "/v1/networks"): lambda e: {"name": "bad-net", "description": "x", "mtu": 1400,
                                         "external": False},
    ("PATCH", "/v1/networks/{id}"): lambda e: {"name": "bad-net2", "description": "y"},
    ("POST", "/v1/subnets"): lambda e: {
        "network": e["network"], "name": "bad-sub", "cidr": "10.77.0.0/24",
        "gateway": "10.77.0.1", "dns_servers": ["9.9.9.9"],
        "allocation_pools": [{"start": "10.77.0.10", "end": "10.77.0.20"}]},
    ("POST", "/v1/ports"): lambda e: {"network": e["network"], "name": "bad-port",
                                      "subnet": e["subnet"], "fixed_ip": "10.66.0.50",
                                      "security_groups": ["default"], "port_security": True},
    ("PATCH", "/v1/ports/{id}"): lambda e: {"security_groups": ["default", e["secgroup"]]},
    ("POST", "/v1/security-groups"): lambda e: {"name": "bad-secgroup", "description": "x"},
    ("POST", "/v1/security-group-rules"): lambda e: {
        "security_group": e["secgroup"], "direction": "ingress", "protocol": "tcp",
        "port_min": 22, "port_max": 22, "remote_cidr": "10.0.0.0/8"},
    ("POST", "/v1/floating-ips"): lambda e: {"network": e["ext_network"]},
    ("PATCH", "/v1/floating-ips/{id}"): lambda e: {"port_id": e["port"]},
    ("POST", "/v1/launch-templates"): lambda e: {
        "name": "bad-lt", "description": "x", "flavor": e["flavor"], "image": e["image"],
        "keypair": e["keypair"], "user_data": "#!/bin/sh\n", "server_group": e["server_group"],
        "networks": [e["network"]], "security_groups": ["default"]},
    ("PATCH", "/v1/launch-templates/{id}"): lambda e: {"default_version": 1, "description": "y"},
    ("POST", "/v1/launch-templates/{id}/versions"): lambda e: {
        "description": "v", "flavor": e["flavor"], "image": e["image"], "keypair": e["keypair"],
        "user_data": "#!/bin/sh\n", "server_group": e["server_group"], "networks": [e["network"]],
        "security_groups": ["default"], "set_default": False},
    ("POST", "/v1/scaling-groups"): lambda e: {
        "name": "bad-group", "template": e["template"], "template_version": 1, "min_size": 0,
        "max_size": 2, "desired": 0, "health_grace_s": 60, "cooldown_s": 60,
        "termination_policy": "newest-first", "rolling_batch": 1},
    ("PATCH", "/v1/scaling-groups/{id}"): lambda e: {
        "min_size": 0, "max_size": 3, "desired": 0, "template_version": 1, "health_grace_s": 30,
        "cooldown_s": 30, "termination_policy": "oldest-first", "rolling_batch": 2},
    ("PUT", "/v1/scaling-groups/{id}/instances/{iid}/protection"): lambda e: {
        "protected": True},
    ("POST", "/v1/scaling-policies"): lambda e: {
        "name": "bad-policy", "group": e["group"], "kind": "step", "alarm": e["alarm"],
        "adjustment_type": "percent", "cooldown_s": 60,
        "steps": [{"lower": 0, "upper": None, "adjustment": 10}]},
    ("POST", "/v1/scheduled-actions"): lambda e: {
        "name": "bad-schedule", "group": e["group"], "cron": "0 8 * * 1-5", "min_size": 0,
        "max_size": 2, "desired": 1},
    ("POST", "/v1/stacks"): lambda e: {"name": "bad-stack", "template": e["stack_template"],
                                       "parameters": {"key_name": "bad-st-kp"},
                                       "on_failure": "stop"},
    ("POST", "/v1/volumes"): lambda e: {"name": "bad-vol", "size_gib": 1, "type": "local"},
    ("PATCH", "/v1/volumes/{id}"): lambda e: {"name": "bad-vol-2"},
    ("POST", "/v1/volumes/{id}/actions"): lambda e: {"action": "extend", "size_gib": 5},
    ("POST", "/v1/snapshots"): lambda e: {"volume_id": e["volume"], "name": "bad-snap"},
    ("PATCH", "/v1/snapshots/{id}"): lambda e: {"name": "bad-snap-2"},
    ("POST", "/v1/volume-types"): lambda e: {"name": "bad-vt", "backend": "local",
                                             "description": "d"},
    ("POST", "/v1/stacks/plan"): lambda e: {"template": e["stack_template"],
                                            "parameters": {"key_name": "bad-st-kp"},
                                            "stack": e["stack"]},
    ("PUT", "/v1/stacks/{id}"): lambda e: {"template": e["stack_template"],
                                           "parameters": {"key_name": "bad-st-kp"},
                                           "on_failure": "rollback"},
}

# Fields whose absence may be refused as missing credentials (401) rather
# than as invalid input.
CREDENTIAL_FIELDS = {("POST", "/v1/hosts/register"): {"join_token"}}

BAD_PATH_VALUES = ["../etc", "..%2Fetc", "%2e%2e%2fetc", "a" * 200, "%00", "a%00b", "a%20b",
                   "x;rm"]

# Paths and queries that are not UTF-8 once decoded: each gets its own nubod
# (test_not_utf8), since a daemon that dies on one would fail everything
# after it.
# A filter that is not UTF-8 may simply match nothing (200).
# Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not
# UTF-8 either (JSON encoders refuse them like stray bytes).
NOT_UTF8 = [("GET", "/v1/no%ffthing", (404,)), ("GET", "/v1/instances/%ff", (404,)),
            ("DELETE", "/v1/keypairs/%c3%28", (404,)), ("GET", "/v1/x%c0%80", (404,)),
            ("GET", "/v1/x%e0%80%80", (404,)), ("GET", "/v1/x%ed%a0%80", (404,)),
            ("GET", "/v1/x%f4%90%80%80", (404,)), ("GET", "/v1/x%c3", (404,)),
            ("GET", "/v1/instances?name=%ff", (200, 400)),
            ("GET", "/v1/instances?marker=%ff", (400,))]

# ------------------------------------------------------------------ helpers


def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        cur = DOC
        for part in node["$ref"][2:].split("/"):
            cur = cur[part]
        node = cur
    return node


def operations():
    for p, item in DOC["paths"].items():
        for m, op in item.items():
            if m in ("get", "put", "post", "delete", "patch"):
                yield m.upper(), p, item, op


def json_body_ops():
    out = []
    for m, p, _, op in operations():
        content = op.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            out.append((m, p, content["application/json"]["schema"]))
    return out


def op_params(item, op, where):
    return [resolve(x) for x in item.get("parameters", []) + op.get("parameters", [])
            if resolve(x)["in"] == where]


def bad_string_for(pattern):
    for cand in ("-bad name", "relative/path", "Bad!", ""):
        if not re.search(pattern, cand):
            return cand
    raise AssertionError("no bad value for pattern " + pattern)


def wrong_values(s):
    """(label, value) pairs that schema s must refuse."""
    t = s.get("type")
    out = {
        "string": [("a number", 12345), ("a list", ["x"])],
        "integer": [("a string", "12"), ("a float", 1.5), ("a boolean", True)],
        "number": [("a string", "12")],
        "boolean": [("a string", "true"), ("a number", 1)],
        "object": [("a list", []), ("a string", "x")],
        "array": [("an object", {}), ("a string", "x")],
    }[t]
    if t == "integer":
        if "minimum" in s:
            out.append(("below %s" % s["minimum"], s["minimum"] - 1))
        if "maximum" in s:
            out.append(("above %s" % s["maximum"], s["maximum"] + 1))
    if t == "string":
        if "enum" in s:
            out.append(("not in the enum", "not-" + s["enum"][0]))
        if s.get("minLength", 0) > 0:
            out.append(("shorter than %d" % s["minLength"], "x" * (s["minLength"] - 1)))
        if "maxLength" in s:
            out.append(("longer than %d" % s["maxLength"], "x" * (s["maxLength"] + 1)))
        if "pattern" in s:
            out.append(("not matching %s" % s["pattern"], bad_string_for(s["pattern"])))
    return out


def matches(s, v):
    """Whether v has a type schema s allows (types and maxItems only)."""
    s = resolve(s)
    if "oneOf" in s:
        return any(matches(sub, v) for sub in s["oneOf"])
    t = s.get("type")
    if t == "array":
        return isinstance(v, list) and len(v) <= s.get("maxItems", len(v)) and \
            all(matches(s["items"], x) for x in v)
    if t in ("integer", "number"):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and \
            (t == "number" or isinstance(v, int))
    return isinstance(v, {"object": dict, "string": str, "boolean": bool}[t])


def spoiled_map(s, base, where):
    """A map (additionalProperties a schema): one entry with a value the
    values' schema refuses."""
    values = resolve(s["additionalProperties"])
    key = next(iter(base), "k")
    cands = [("an object", {"x": 1}), ("null", None), ("a list of lists", [["x"]]),
             ("a list of objects", [{"x": 1}]), ("a string", "x"), ("a number", 1)]
    for sub in values.get("oneOf", [values]):
        sub = resolve(sub)
        if sub.get("type") == "array" and "maxItems" in sub:
            cands.append(("a list of more than %d items" % sub["maxItems"],
                          ["x"] * (sub["maxItems"] + 1)))
    for label, bad in cands:
        if not matches(values, bad):
            yield "%s%s: %s" % (where, key, label), dict(base, **{key: bad})


def spoiled(schema, base, where=""):
    """(label, body) pairs: base spoiled in one place, as schema tells."""
    s = resolve(schema)
    if isinstance(s.get("additionalProperties"), dict):
        yield from spoiled_map(s, base, where)
        return
    props = s["properties"]
    yield where + "an unknown field", dict(base, no_such_field=1)
    for key in s.get("required", []):
        assert key in base, "VALID_BODIES must hold the required %s%s" % (where, key)
        yield where + "no " + key, {k: v for k, v in base.items() if k != key}
    for key, ps in props.items():
        ps = resolve(ps)
        for label, bad in wrong_values(ps):
            yield "%s%s: %s" % (where, key, label), dict(base, **{key: bad})
        if ps.get("type") == "object" and isinstance(base.get(key), dict):
            for label, sub in spoiled(ps, base[key], "%s%s." % (where, key)):
                yield label, dict(base, **{key: sub})
        if ps.get("type") == "array" and base.get(key):
            items = resolve(ps["items"])
            if "maxItems" in ps:
                yield ("%s%s: more than %d items" % (where, key, ps["maxItems"]),
                       dict(base, **{key: [base[key][0]] * (ps["maxItems"] + 1)}))
            if items.get("type") == "object":
                for label, sub in spoiled(items, base[key][0], "%s%s[0]." % (where, key)):
                    yield label, dict(base, **{key: [sub] + base[key][1:]})


def raw_bodies(base):
    """(label, bytes, content type, statuses) of bodies spoiled as bytes."""
    key = next(iter(base))
    good = json.dumps(base).encode()
    yield "malformed JSON", b'{"%s": ' % key.encode(), "application/json", (400,)
    yield "trailing garbage", good + b" x", "application/json", (400,)
    yield "a list", b"[]", "application/json", (400,)
    yield "a string", b'"x"', "application/json", (400,)
    yield "null", b"null", "application/json", (400,)
    yield "a number", b"42", "application/json", (400,)
    yield "no body", b"", "application/json", (400,)
    yield "no body, no type", b"", None, (400,)
    dup = b'{"%s": %s, ' % (key.encode(), json.dumps(base[key]).encode()) + good[1:]
    yield "a duplicate key", dup, "application/json", (400,)
    yield "invalid UTF-8", b'{"%s": "\xff\xfe"}' % key.encode(), "application/json", (400,)
    yield "an escaped NUL", b'{"%s": "a\\u0000b"}' % key.encode(), "application/json", (400,)
    yield "a lone surrogate", b'{"%s": "a\\ud800b"}' % key.encode(), "application/json", (400,)
    yield ("a body over 1 MiB", b'{"%s": "%s"}' % (key.encode(), b"a" * MIB),
           "application/json", (413,))
    yield "text/plain", good, "text/plain", (415,)
    yield "a form", good, "application/x-www-form-urlencoded", (415,)
    # last, since it has killed nubod: an error message quoting the first N
    # bytes of this name must not cut a character in half (invalid UTF-8)
    odd = json.loads(good)
    odd["a" + "\u00e9" * 40] = 1
    yield ("an unknown field with a long non-ASCII name", json.dumps(odd, ensure_ascii=False)
           .encode(), "application/json", (400,))


def ssh_key(seed):
    def field(b):
        return struct.pack(">I", len(b)) + b
    blob = field(b"ssh-ed25519") + field(hashlib.sha256(seed.encode()).digest())
    return "ssh-ed25519 %s %s@nubo" % (base64.b64encode(blob).decode(), seed)


def disk_bytes(tmp):
    path = os.path.join(tmp, "bad.qcow2")
    try:
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, "64M"], check=True)
        with open(path, "rb") as f:
            return f.read()
    except (OSError, subprocess.CalledProcessError):
        return b"\0" * MIB


def problem_errors(status, headers, body, want):
    """What is wrong with an answer that should be a problem with a status
    in want ([] when nothing)."""
    errs = []
    if status not in want:
        errs.append("status %d, want %s" % (status, "/".join(map(str, want))))
    if headers.get("Content-Type") != "application/problem+json":
        errs.append("Content-Type %r" % headers.get("Content-Type"))
    if not headers.get("X-Request-Id"):
        errs.append("no X-Request-Id")
    try:
        p = json.loads(body)
        if set(p) != PROBLEM_KEYS or p["status"] != status or not p["detail"]:
            errs.append("not a problem: %s" % body[:200])
    except ValueError:
        errs.append("not JSON: %r" % body[:200])
    return errs


class NubodDied(Exception):
    pass


def answer(method, url, **kw):
    """(status, headers, text) of one request; NubodDied when nothing answers."""
    try:
        r = requests.request(method, url, timeout=60, **kw)
    except requests.ConnectionError as e:
        raise NubodDied(repr(e)) from e
    return r.status_code, r.headers, r.text


def check_alive(env, what):
    """Fails the test when nubod died during it, and starts it again on the
    same state (same port) so that the rest of the module still runs."""
    n = env["nubod"]
    rc = n.proc.poll()
    if rc is None:
        return
    log = n.log()
    n.proc = None
    n.logf.close()
    env["crashes"].append(what)
    n.start()
    pytest.fail("nubod died (exit %s) during %s; its log ends:\n%s" % (rc, what, log[-4000:]),
                pytrace=False)


def call_or_die(env, what, fn):
    """fn()'s answer; when there is none, fails the test (see check_alive)."""
    try:
        return fn()
    except (NubodDied, http.client.HTTPException, OSError):
        pass
    try:  # a dying nubod may still be writing its sanitizer report
        env["nubod"].proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    check_alive(env, what)
    pytest.fail("%s: no answer, though nubod is still running" % what, pytrace=False)


# --------------------------------------------------------------- the cloud


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("badinput"))
    n = Nubod(tmp).start()
    e = {"crashes": []}
    try:
        e.update(build_env(n, tmp))
        yield e
    finally:
        rc = n.stop()
        assert rc == 0, "nubod exited with %d:\n%s" % (rc, n.log())
        assert not e["crashes"], "nubod died during: %s" % e["crashes"]


def build_env(n, tmp):
    admin = n.admin()
    e = {"nubod": n, "admin": admin, "admin_password": n.admin_password,
         "join_token": n.join_token, "pubkey2": ssh_key("bad-2")}
    member = make_tenant(n, admin, "member")
    e["project"] = admin.get("/v1/projects/%s" % member.project).json()["id"]
    e["user"] = member.get("/v1/auth/whoami").json()["user"]["id"]
    e["token_id"] = admin.get("/v1/auth/whoami").json()["token_id"]

    def ok(r, status):
        assert r.status_code == status, r.text
        return r.json()

    e["flavor_id"] = ok(admin.post("/v1/flavors", {"name": "ok-flavor", "vcpus": 1,
                                                   "ram_mib": 64, "disk_gib": 1}), 201)["id"]
    e["flavor"] = "ok-flavor"
    e["image"] = ok(admin.post("/v1/images", {"name": "ok-image"}), 201)["id"]
    r = admin.req("PUT", "/v1/images/%s/file" % e["image"], data=disk_bytes(tmp),
                  headers={"Content-Type": "application/octet-stream"})
    ok(r, 200)
    e["keypair"] = "ok-kp"
    ok(admin.post("/v1/keypairs", {"name": "ok-kp", "public_key": ssh_key("ok")}), 201)
    e["server_group"] = ok(admin.post("/v1/server-groups", {"name": "ok-sg",
                                                            "policy": "anti-affinity"}), 201)["id"]
    body = ok(admin.post("/v1/instances", {"name": "ok-vm", "flavor": "ok-flavor",
                                           "image": e["image"]}), 202)
    e["instance"], e["task"] = body["instances"][0]["id"], body["task_ids"][0]
    e["apikey"] = ok(admin.post("/v1/auth/apikeys", {"name": "ok-key"}), 201)["id"]
    e["join_token"] = ok(admin.post("/v1/join-tokens", {"note": "ok"}), 201)["id"]
    e["alarm"] = ok(admin.post("/v1/alarms", {"name": "ok-alarm", "metric": "cpu",
                                              "comparison": "gt", "threshold": 90,
                                              "window_s": 60}), 201)["id"]
    e["ext_network"] = ok(admin.post("/v1/networks", {"name": "ok-ext", "external": True}),
                          201)["id"]
    ok(admin.post("/v1/subnets", {"network": e["ext_network"], "cidr": "203.0.113.0/24"}), 201)
    e["network"] = ok(admin.post("/v1/networks", {"name": "ok-net"}), 201)["id"]
    e["subnet"] = ok(admin.post("/v1/subnets", {"network": e["network"],
                                                "cidr": "10.66.0.0/24"}), 201)["id"]
    e["secgroup"] = ok(admin.post("/v1/security-groups", {"name": "ok-secgroup"}), 201)["id"]
    e["rule"] = ok(admin.post("/v1/security-group-rules", {
        "security_group": e["secgroup"], "direction": "egress"}), 201)["id"]
    e["port"] = ok(admin.post("/v1/ports", {"network": e["network"]}), 201)["id"]
    e["fip"] = ok(admin.post("/v1/floating-ips", {}), 201)["id"]
    # autoscaling: an empty group (nothing launches, nothing changes)
    e["template"] = ok(admin.post("/v1/launch-templates", {
        "name": "ok-lt", "flavor": "ok-flavor", "image": e["image"]}), 201)["id"]
    e["group"] = ok(admin.post("/v1/scaling-groups", {
        "name": "ok-group", "template": e["template"], "min_size": 0, "max_size": 2}),
        201)["id"]
    e["policy"] = ok(admin.post("/v1/scaling-policies", {
        "name": "ok-policy", "group": e["group"], "kind": "target", "target_value": 50}),
        201)["id"]
    e["schedule"] = ok(admin.post("/v1/scheduled-actions", {
        "name": "ok-schedule", "group": e["group"], "cron": "0 3 * * *", "desired": 0}),
        201)["id"]
    # a stack of one keypair, finished before the state is taken
    e["stack_template"] = (
        "parameters: {key_name: {type: string, constraints: {max_length: 40}}}\n"
        "resources: {key: {type: keypair, properties: {name: {ref: key_name},\n"
        "  public_key: %s}}}\n"
        "outputs: {key: {value: {ref: key}}}\n" % json.dumps(ssh_key("ok-stack")))
    e["stack"] = ok(admin.post("/v1/stacks", {"name": "ok-stack",
                                              "template": e["stack_template"],
                                              "parameters": {"key_name": "ok-st-kp"}}),
                    202)["stack"]["id"]
    for _ in range(200):
        status = ok(admin.get("/v1/stacks/" + e["stack"]), 200)["status"]
        if status != "applying":
            break
        time.sleep(0.05)
    assert status == "complete", status
    e["volume"] = ok(admin.post("/v1/volumes", {"name": "ok-vol", "size_gib": 2}), 201)["id"]
    e["volume_type"] = ok(admin.post("/v1/volume-types", {"name": "ok-vt"}), 201)["id"]
    e["snapshot"] = ok(admin.post("/v1/snapshots", {"volume_id": e["volume"],
                                                    "name": "ok-snap"}), 201)["id"]
    # a host, after the instance so that nothing is placed on it
    body = ok(requests.post(n.base + "/v1/hosts/register", json={
        "join_token": n.join_token, "name": "ok-host", "address": "http://127.0.0.1:9",
        "capacity": {"vcpus": 4, "ram_mib": 4096, "disk_gib": 10}, "accel": "tcg",
        "driver": "qemu"}, timeout=30), 201)
    e["host_id"], e["host_token"] = body["host_id"], body["host_token"]
    e["before"] = state(e)
    return e


# the resource a path parameter names, by collection and parameter
PATH_VALUES = {
    ("auth", "id"): "token_id", ("projects", "id"): "project", ("projects", "user"): "user",
    ("users", "id"): "user", ("flavors", "id"): "flavor_id", ("images", "id"): "image",
    ("keypairs", "name"): "keypair", ("server-groups", "id"): "server_group",
    ("instances", "id"): "instance", ("tasks", "id"): "task", ("hosts", "id"): "host_id",
    ("alarms", "id"): "alarm", ("networks", "id"): "network", ("subnets", "id"): "subnet",
    ("ports", "id"): "port", ("security-groups", "id"): "secgroup",
    ("security-group-rules", "id"): "rule", ("floating-ips", "id"): "fip",
    ("launch-templates", "id"): "template",
    ("scaling-groups", "id"): "group", ("scaling-groups", "iid"): "instance",
    ("scaling-policies", "id"): "policy", ("scheduled-actions", "id"): "schedule",
    ("stacks", "id"): "stack", ("join-tokens", "id"): "join_token",
    ("volumes", "id"): "volume", ("volume-types", "id"): "volume_type",
    ("snapshots", "id"): "snapshot",
}


def path_values(e, path):
    """The valid values of path's parameters, in order."""
    if not path.startswith("/v1/"):
        return []
    coll = path.split("/")[2]
    if path.startswith("/v1/auth/apikeys/"):
        return [e["apikey"]]
    return [e[PATH_VALUES[(coll, name)]] for name in re.findall(r"\{([^}]+)\}", path)]


def fill(path, values):
    out = path
    for v in values:
        out = re.sub(r"\{[^}]+\}", v, out, count=1)
    return out


def headers_for(e, op):
    access = op["x-nubo-access"]
    if access == "public":
        return {}
    token = e["host_token"] if access == "host" else e["admin"].token
    return {"Authorization": "Bearer " + token}


VOLATILE = {"updated_at", "last_heartbeat_at", "state"}
# Reports computed as of now: they grow while anything is billed, so they
# are not state (the usage records, prices and budget notifications are).
REPORTS = {"/v1/invoice", "/v1/invoices", "/v1/invoices/showback", "/v1/cost", "/v1/budget"}


def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if k not in VOLATILE}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x


def state(e):
    """Everything the admin can list or read (the audit log aside: it
    records the refused calls, as it should)."""
    admin = e["admin"]
    out = {}
    for m, p, item, op in operations():
        if m != "GET" or p in ("/v1/audit", "/v1/openapi.json", "/v1/health", "/metrics") \
                or p in REPORTS:
            continue
        if "{" in p:
            url = fill(p, path_values(e, p))
        else:
            url = p + "?limit=1000" + ("&all_projects=true" if p == "/v1/instances" else "")
        r = admin.get(url)
        if p.endswith("/console"):
            out[p] = r.status_code
            continue
        assert r.status_code == 200, (url, r.text)
        out[p] = strip(r.json())
    return out


# ------------------------------------------------------------------- tests


def test_every_json_route_has_a_valid_body():
    ops = {(m, p) for m, p, _ in json_body_ops()}
    assert ops == set(VALID_BODIES), (
        "VALID_BODIES and the document's JSON-body operations differ:\n"
        "missing: %s\nextra: %s" % (sorted(ops - set(VALID_BODIES)),
                                    sorted(set(VALID_BODIES) - ops)))


@pytest.mark.parametrize("method,path,schema", json_body_ops(),
                         ids=["%s %s" % (m, p) for m, p, _ in json_body_ops()])
def test_bad_bodies(env, method, path, schema):
    op = DOC["paths"][path][method.lower()]
    url = env["nubod"].base + fill(path, path_values(env, path))
    auth = headers_for(env, op)
    base = VALID_BODIES[(method, path)](env)
    cases = []
    for label, body in spoiled(schema, base):
        want = (400,)
        if label.startswith("no ") and label[3:] in CREDENTIAL_FIELDS.get((method, path), ()):
            want = (400, 401)
        cases.append((label, json.dumps(body).encode(), "application/json", want))
    cases += list(raw_bodies(base))
    failures = []
    for label, data, ctype, want in cases:
        h = dict(auth)
        if ctype:
            h["Content-Type"] = ctype
        status, headers, text = call_or_die(
            env, "%s %s with %s" % (method, path, label),
            lambda: answer(method, url, data=data, headers=h))
        errs = problem_errors(status, headers, text, want)
        if errs:
            failures.append("%s: %s\n      %s" % (label, "; ".join(errs), text[:300]))
    check_alive(env, "%s %s" % (method, path))
    assert not failures, "%s %s, %d of %d bad bodies:\n  %s" % (
        method, path, len(failures), len(cases), "\n  ".join(failures))


def path_param_cases():
    out = []
    for m, p, item, op in operations():
        names = re.findall(r"\{([^}]+)\}", p)
        for i, name in enumerate(names):
            out.append(pytest.param(m, p, i, id="%s %s {%s}" % (m, p, name)))
    return out


def raw_request(base, method, path, headers, body):
    """Sends path as it is (no client-side normalisation of '..' or '%')."""
    host, port = base[len("http://"):].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        c.putrequest(method, path, skip_accept_encoding=True)
        for k, v in headers.items():
            c.putheader(k, v)
        c.putheader("Content-Length", str(len(body)))
        c.endheaders()
        c.send(body)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode("utf-8", "replace")
    finally:
        c.close()


@pytest.mark.parametrize("method,path,index", path_param_cases())
def test_bad_path_params(env, method, path, index):
    op = DOC["paths"][path][method.lower()]
    h = headers_for(env, op)
    body = b""
    if (method, path) in VALID_BODIES:
        body = json.dumps(VALID_BODIES[(method, path)](env)).encode()
        h["Content-Type"] = "application/json"
    elif "requestBody" in op:
        body = b"\0" * 4096
        h["Content-Type"] = "application/octet-stream"
    failures = []
    for bad in BAD_PATH_VALUES:
        values = path_values(env, path)
        values[index] = bad
        url = fill(path, values)
        status, headers, text = call_or_die(
            env, "%s %s" % (method, url),
            lambda: raw_request(env["nubod"].base, method, url, h, body))
        errs = problem_errors(status, headers, text, (404,))
        if errs:
            failures.append("%s: %s\n      %s" % (url, "; ".join(errs), text[:300]))
    check_alive(env, "%s %s" % (method, path))
    assert not failures, "\n  ".join(failures)


def query_cases():
    out = []
    for m, p, item, op in operations():
        for prm in op_params(item, op, "query"):
            s = resolve(prm["schema"])
            t = s.get("type")
            bad = []
            if t == "integer":
                bad = ["abc", "1.5", "99999999999999999999999"]
                if "minimum" in s:
                    bad.append(str(s["minimum"] - 1))
                if "maximum" in s:
                    bad.append(str(s["maximum"] + 1))
            elif t == "boolean":
                bad = ["maybe", "2"]
            elif t == "string" and "pattern" in s:
                bad = [bad_string_for(s["pattern"])]
            for v in bad:
                out.append(pytest.param(m, p, prm["name"], v,
                                        id="%s %s ?%s=%s" % (m, p, prm["name"], v[:12])))
    return out


@pytest.mark.parametrize("method,path,name,value", query_cases())
def test_bad_query(env, method, path, name, value):
    op = DOC["paths"][path][method.lower()]
    url = env["nubod"].base + fill(path, path_values(env, path))
    what = "%s %s?%s=%s" % (method, path, name, value)
    status, headers, text = call_or_die(
        env, what, lambda: answer(method, url, params={name: value},
                                  headers=headers_for(env, op)))
    errs = problem_errors(status, headers, text, (400,))
    assert not errs, "%s: %s\n%s" % (what, "; ".join(errs), text)


def test_nothing_changed(env):
    """Runs last: every refused request above left everything as it was."""
    after = state(env)
    before = env["before"]
    diff = [k for k in before if before[k] != after.get(k)]
    assert not diff, "\n".join("%s:\n  before %s\n  after  %s" % (
        k, json.dumps(before[k])[:3000], json.dumps(after.get(k))[:3000]) for k in diff)
    # the admin's session still works, the victim was not disabled
    assert env["admin"].get("/v1/auth/whoami").status_code == 200
    r = requests.post(env["nubod"].base + "/v1/auth/tokens", timeout=30, json={
        "user": env["admin"].get("/v1/users/%s" % env["user"]).json()["name"],
        "password": "secret-password-1"})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("method,path,allowed", NOT_UTF8, ids=[p for _, p, _ in NOT_UTF8])
def test_not_utf8(nubod, method, path, allowed):
    """One request whose path or query is not UTF-8: an answer, problem+json
    when an error, and nubod still serving afterwards."""
    admin = nubod.admin()
    h = {"Authorization": "Bearer " + admin.token}
    try:
        status, headers, text = raw_request(nubod.base, method, path, h, b"")
    except (http.client.HTTPException, OSError) as e:
        pytest.fail("%s %s: no answer (%r); nubod log:\n%s" % (method, path, e, nubod.log()))
    if status == 200 and 200 in allowed:
        assert headers.get("X-Request-Id") and json.loads(text), text
    else:
        errs = problem_errors(status, headers, text, allowed)
        assert not errs, "%s %s: %s\n%s" % (method, path, "; ".join(errs), text)
    assert requests.get(nubod.base + "/v1/health", timeout=10).status_code == 200
