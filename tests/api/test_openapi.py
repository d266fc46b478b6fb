"""docs/openapi.json against itself and against nubod.

1. The document is sane on its own: OpenAPI 3.0.3, every $ref resolves,
   every path parameter is declared (and every declared one is in the
   path), every error answer is problem+json, every answer has
   X-Request-Id, request bodies are closed objects, creating POSTs take an
   Idempotency-Key, lists take limit/marker, public routes say so.
2. nubod serves exactly this document at GET /v1/openapi.json.
3. The routes nubod knows (`nubod --print-routes`) and the operations of
   the document are the same set, both ways: a route missing from either
   side fails the test.
4. Every operation that declares Idempotency-Key honours it: a retry with
   the same key and body is replayed (Idempotent-Replayed: true) and
   creates nothing; the same key with another body is 409.
5. nubod's answers match the document's schemas: every create made on the
   way and every GET of the document, with one of everything in the cloud.
"""
import base64
import hashlib
import json
import os
import re
import struct
import subprocess
import uuid

import pytest
import requests

from conftest import NUBOD, ROOT, Nubod, assert_problem, make_tenant

DOC_PATH = os.path.join(ROOT, "docs", "openapi.json")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
ACCESS = {"public", "authenticated", "reader", "member", "project-admin", "admin", "host"}

# The POSTs that create something and so honour Idempotency-Key (the
# contract: "POSTs that create accept Idempotency-Key").  Public POSTs
# (login, host registration) have no caller to key on; user and API key
# creation carry secrets that the idempotency store would keep in clear, so
# the contract exempts them.
CREATING_POSTS = {
    "/v1/projects", "/v1/flavors", "/v1/images",
    "/v1/keypairs", "/v1/server-groups", "/v1/instances", "/v1/alarms",
    "/v1/networks", "/v1/subnets", "/v1/ports", "/v1/security-groups",
    "/v1/launch-templates", "/v1/scaling-groups", "/v1/scaling-policies",
    "/v1/scheduled-actions",
    "/v1/stacks", "/v1/volumes", "/v1/volume-types", "/v1/snapshots",
}
UPLOADS = {"/v1/images/{id}/file", "/v1/images/{id}/kernel", "/v1/images/{id}/initrd"}


@pytest.fixture(scope="module")
def doc():
    with open(DOC_PATH, "rb") as f:
        return json.loads(f.read().decode("utf-8"))


def operations(doc):
    """Yields (METHOD, path, path item, operation)."""
    for p, item in doc["paths"].items():
        for m in METHODS:
            if m in item:
                yield m.upper(), p, item, item[m]


def resolve(doc, node):
    """Follows $ref (local JSON pointers only) until node is not a ref."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), "only local references: %s" % ref
        assert ref not in seen, "reference loop at %s" % ref
        seen.add(ref)
        node = doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            assert isinstance(node, dict) and part in node, "unresolved $ref %s" % ref
            node = node[part]
    return node


def walk(node, where="#"):
    """Yields (json pointer, dict) for every object in node."""
    if isinstance(node, dict):
        yield where, node
        for k, v in node.items():
            yield from walk(v, where + "/" + str(k).replace("~", "~0").replace("/", "~1"))
    elif isinstance(node, list):
        for n, v in enumerate(node):
            yield from walk(v, "%s/%d" % (where, n))


def doc_routes(doc):
    return {(m, p) for m, p, _, _ in operations(doc)}


def params_of(doc, item, op):
    """The operation's parameters (path-item level overridden by operation
    level, as OpenAPI says), resolved, keyed by (in, name)."""
    out = {}
    for p in item.get("parameters", []) + op.get("parameters", []):
        p = resolve(doc, p)
        out[(p["in"], p["name"])] = p
    return out


def schema_objects(doc, schema, where, seen=None):
    """Yields (where, schema) for schema and every schema inside it,
    following references."""
    seen = set() if seen is None else seen
    if isinstance(schema, dict) and "$ref" in schema:
        if schema["$ref"] in seen:
            return
        seen.add(schema["$ref"])
        where = schema["$ref"]
    schema = resolve(doc, schema)
    yield where, schema
    for k, sub in schema.get("properties", {}).items():
        yield from schema_objects(doc, sub, where + "/properties/" + k, seen)
    if "items" in schema:
        yield from schema_objects(doc, schema["items"], where + "/items", seen)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from schema_objects(doc, schema["additionalProperties"],
                                  where + "/additionalProperties", seen)
    for comb in ("allOf", "oneOf", "anyOf"):
        for n, sub in enumerate(schema.get(comb, [])):
            yield from schema_objects(doc, sub, "%s/%s/%d" % (where, comb, n), seen)


# ------------------------------------------------------------ the document


def test_document_is_openapi_303(doc):
    assert doc["openapi"] == "3.0.3"
    assert doc["info"]["title"] and doc["info"]["version"]
    assert doc["paths"], "no paths"
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http",
                                     "scheme": "bearer"}
    assert doc["security"] == [{"bearerAuth": []}], "authenticated by default"
    for p in doc["paths"]:
        # /metrics: the Prometheus exposition, where Prometheus looks for it
        assert p.startswith("/v1/") or p == "/metrics", p
        assert re.fullmatch(r"(/([a-z0-9.-]+|\{[a-z_]+\}))+", p), "odd path: %s" % p


def test_every_ref_resolves(doc):
    refs = [(where, n["$ref"]) for where, n in walk(doc) if "$ref" in n]
    assert refs, "the document has no $ref at all?"
    for where, ref in refs:
        assert isinstance(ref, str), where
        resolve(doc, {"$ref": ref})
    # and nothing under components is dead weight
    used = {ref for _, ref in refs}
    for kind, entries in doc["components"].items():
        if kind == "securitySchemes":
            continue
        for name in entries:
            assert "#/components/%s/%s" % (kind, name) in used, \
                "components/%s/%s is never used" % (kind, name)


def test_path_parameters_declared(doc):
    for m, p, item, op in operations(doc):
        in_path = re.findall(r"\{([^}]+)\}", p)
        assert len(in_path) == len(set(in_path)), "%s repeats a parameter" % p
        ps = params_of(doc, item, op)
        declared = {name for (where, name) in ps if where == "path"}
        assert declared == set(in_path), "%s %s: path has %s, declared %s" % (
            m, p, sorted(in_path), sorted(declared))
        for (where, name), prm in ps.items():
            assert where in ("path", "query", "header"), (m, p, name)
            assert "schema" in prm, (m, p, name)
            if where == "path":
                assert prm.get("required") is True, "%s %s: {%s} must be required" % (m, p, name)


def test_operations_well_formed(doc):
    ids = set()
    for m, p, item, op in operations(doc):
        what = "%s %s" % (m, p)
        assert op.get("operationId") and op["operationId"] not in ids, what
        ids.add(op["operationId"])
        assert op.get("summary"), what
        access = op.get("x-nubo-access")
        assert access in ACCESS, "%s: x-nubo-access %r" % (what, access)
        codes = set(op["responses"])
        ok = [c for c in codes if c.startswith("2")]
        assert len(ok) == 1, "%s: exactly one success answer, got %s" % (what, ok)
        if access == "public":
            assert op.get("security") == [], "%s is public: security must be []" % what
        else:
            assert op.get("security", doc["security"]), what
            assert "401" in codes, "%s needs credentials: document 401" % what
        if access in ("reader", "member", "project-admin", "admin", "host"):
            assert "403" in codes, "%s: document 403" % what
        if re.search(r"\{", p):
            assert "404" in codes, "%s has path parameters: document 404" % what
        assert "default" in codes, "%s: a default (5xx) answer" % what


def test_every_answer_has_request_id_and_errors_are_problems(doc):
    problem = doc["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "instance"}
    for m, p, item, op in operations(doc):
        for code, r in op["responses"].items():
            r = resolve(doc, r)
            what = "%s %s %s" % (m, p, code)
            assert r.get("description") is not None, what
            assert "X-Request-Id" in r.get("headers", {}), "%s: no X-Request-Id header" % what
            resolve(doc, r["headers"]["X-Request-Id"])
            if code == "default" or code[0] in "45":
                assert list(r.get("content", {})) == ["application/problem+json"], what
                schema = r["content"]["application/problem+json"]["schema"]
                assert resolve(doc, schema) is problem, what
            elif code == "204":
                assert "content" not in r, what
            else:
                assert r.get("content"), "%s: a success answer without content" % what


def test_request_bodies(doc):
    for m, p, item, op in operations(doc):
        what = "%s %s" % (m, p)
        body = op.get("requestBody")
        if m in ("GET", "DELETE"):
            assert body is None, "%s takes no body" % what
            continue
        if p in UPLOADS:
            assert body and list(body["content"]) == ["application/octet-stream"], what
            assert body["content"]["application/octet-stream"]["schema"] == {
                "type": "string", "format": "binary"}, what
            continue
        assert body and body.get("required") is True, "%s: a required JSON body" % what
        assert list(body["content"]) == ["application/json"], what
        codes = set(op["responses"])
        assert {"400", "413", "415"} <= codes, "%s: document 400, 413, 415" % what
        root = body["content"]["application/json"]["schema"]
        assert resolve(doc, root).get("type") == "object", what
        for where, s in schema_objects(doc, root, what):
            check_schema(where, s)
            if s.get("type") == "object":
                # Either a closed object (unknown fields are rejected) or a
                # map whose every value has a schema (checked here too):
                # never an unchecked free-form body.
                extra = s.get("additionalProperties")
                if isinstance(extra, dict):
                    assert extra and not s.get("properties"), \
                        "%s: a map: additionalProperties is the values' schema" % where
                    continue
                assert extra is False, \
                    "%s: unknown fields are rejected: additionalProperties false" % where
                assert s.get("properties"), where


def check_schema(where, s):
    types = {"object", "array", "string", "integer", "number", "boolean"}
    if not any(k in s for k in ("allOf", "oneOf", "anyOf")):
        assert s.get("type") in types, "%s: type %r" % (where, s.get("type"))
    if s.get("type") == "object":
        props = s.get("properties", {})
        assert set(s.get("required", [])) <= set(props), "%s: required not in properties" % where
    if "minimum" in s and "maximum" in s:
        assert s["minimum"] <= s["maximum"], where
    if "minLength" in s and "maxLength" in s:
        assert s["minLength"] <= s["maxLength"], where
    if "pattern" in s:
        re.compile(s["pattern"])
    if "enum" in s:
        assert s["enum"] and len(s["enum"]) == len(set(s["enum"])), where
    if "default" in s and "enum" in s:
        assert s["default"] in s["enum"], where
    if s.get("type") == "array":
        assert "items" in s, where


def test_all_schemas_sane(doc):
    for name, s in doc["components"]["schemas"].items():
        for where, sub in schema_objects(doc, {"$ref": "#/components/schemas/" + name}, name):
            check_schema(where, sub)


def test_idempotency_key_on_creating_posts(doc):
    with_key = set()
    for m, p, item, op in operations(doc):
        ps = params_of(doc, item, op)
        if ("header", "Idempotency-Key") in ps:
            assert m == "POST", p
            with_key.add(p)
            ok = [c for c in op["responses"] if c.startswith("2")][0]
            r = resolve(doc, op["responses"][ok])
            assert "Idempotent-Replayed" in r["headers"], p
            assert "409" in op["responses"], "%s: same key, other body is 409" % p
    assert with_key == CREATING_POSTS


def test_lists_are_paged(doc):
    for m, p, item, op in operations(doc):
        if m != "GET":
            continue
        r = resolve(doc, op["responses"]["200"])
        schema = r["content"].get("application/json", {}).get("schema")
        if schema is None:
            continue
        schema = resolve(doc, schema)
        if "next_marker" not in schema.get("properties", {}):
            continue
        ps = params_of(doc, item, op)
        assert ("query", "limit") in ps and ("query", "marker") in ps, "%s pages" % p
        limit = ps[("query", "limit")]["schema"]
        assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 1000, 100)
        assert set(schema["required"]) >= {"next_marker"}
        (key,) = [k for k in schema["properties"] if k != "next_marker"]
        assert schema["properties"][key]["type"] == "array", p


def test_public_routes(doc):
    public = {(m, p) for m, p, _, op in operations(doc) if op["x-nubo-access"] == "public"}
    assert public == {("POST", "/v1/auth/tokens"), ("POST", "/v1/hosts/register"),
                      ("GET", "/v1/openapi.json"), ("GET", "/v1/health")}


# ------------------------------------------------------- against nubod


def test_served_document_is_docs_openapi(nubod, doc):
    r = requests.get(nubod.base + "/v1/openapi.json", timeout=30)  # no token: public
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers.get("X-Request-Id")
    assert r.json() == doc


def print_routes():
    out = subprocess.run([NUBOD, "--print-routes"], check=True, capture_output=True, timeout=60)
    routes = set()
    for line in out.stdout.decode().splitlines():
        method, pattern = line.split(" ")
        assert (method, pattern) not in routes, "nubod has %s %s twice" % (method, pattern)
        routes.add((method, pattern))
    return routes


def test_server_routes_equal_document(doc):
    server = print_routes()
    documented = doc_routes(doc)
    fmt = lambda s: "\n".join("  %s %s" % r for r in sorted(s, key=lambda r: (r[1], r[0])))
    missing_in_server = documented - server
    missing_in_doc = server - documented
    if missing_in_server or missing_in_doc:
        pytest.fail(
            "nubod --print-routes and docs/openapi.json differ\n"
            "documented but not served (%d):\n%s\nserved but not documented (%d):\n%s" % (
                len(missing_in_server), fmt(missing_in_server), len(missing_in_doc),
                fmt(missing_in_doc)), pytrace=False)


# A valid body for every creating POST (keyed by path), and the list that
# shows what it created: (list path, key of the list).
IDEMPOTENT_BODIES = {
    "/v1/projects": (lambda e, n: {"name": n}, "/v1/projects", "projects"),
    "/v1/flavors": (lambda e, n: {"name": n, "vcpus": 1, "ram_mib": 64, "disk_gib": 1},
                    "/v1/flavors", "flavors"),
    "/v1/images": (lambda e, n: {"name": n}, "/v1/images", "images"),
    "/v1/keypairs": (lambda e, n: {"name": n, "public_key": e["key"]}, "/v1/keypairs",
                     "keypairs"),
    "/v1/server-groups": (lambda e, n: {"name": n, "policy": "affinity"}, "/v1/server-groups",
                          "server_groups"),
    "/v1/instances": (lambda e, n: {"name": n, "flavor": e["flavor"], "image": e["image"]},
                      "/v1/instances", "instances"),
    "/v1/alarms": (lambda e, n: {"name": n, "metric": "cpu", "comparison": "gt",
                                 "threshold": 80, "window_s": 60}, "/v1/alarms", "alarms"),
    "/v1/networks": (lambda e, n: {"name": n}, "/v1/networks", "networks"),
    "/v1/subnets": (lambda e, n: {"network": e["network"], "name": n,
                                  "cidr": "10.%d.%d.0/24" % tuple(uuid.uuid4().bytes[:2])},
                    "/v1/subnets", "subnets"),
    "/v1/ports": (lambda e, n: {"network": e["network"], "name": n}, "/v1/ports", "ports"),
    "/v1/security-groups": (lambda e, n: {"name": n}, "/v1/security-groups", "security_groups"),
    "/v1/launch-templates": (lambda e, n: {"name": n, "flavor": e["flavor"], "image": e["image"]},
                             "/v1/launch-templates", "launch_templates"),
    "/v1/scaling-groups": (lambda e, n: {"name": n, "template": scale_template(e), "min_size": 0,
                                         "max_size": 0}, "/v1/scaling-groups", "scaling_groups"),
    "/v1/scaling-policies": (lambda e, n: {"name": n, "group": scale_group(e), "kind": "target",
                                           "target_value": 50},
                             "/v1/scaling-policies", "scaling_policies"),
    "/v1/scheduled-actions": (lambda e, n: {"name": n, "group": scale_group(e),
                                            "cron": "0 8 * * 1-5", "desired": 0},
                              "/v1/scheduled-actions", "scheduled_actions"),
    "/v1/stacks": (lambda e, n: {"name": n, "template": "resources: {}\n"}, "/v1/stacks",
                   "stacks"),
    "/v1/volumes": (lambda e, n: {"name": n, "size_gib": 1}, "/v1/volumes", "volumes"),
    "/v1/volume-types": (lambda e, n: {"name": n}, "/v1/volume-types", "volume_types"),
    "/v1/snapshots": (lambda e, n: {"volume_id": snap_volume(e), "name": n}, "/v1/snapshots",
                      "snapshots"),
}


def scale_template(e):
    """A launch template for the autoscaling bodies, made once per env."""
    if "scale_template" not in e:
        r = e["admin"].post("/v1/launch-templates", {"name": "idem-lt", "flavor": e["flavor"],
                                                     "image": e["image"]})
        assert r.status_code == 201, r.text
        e["scale_template"] = r.json()["id"]
    return e["scale_template"]


def snap_volume(e):
    """A volume for the snapshot bodies, made once per env."""
    if "snap_volume" not in e:
        r = e["admin"].post("/v1/volumes", {"name": "idem-sv", "size_gib": 1})
        assert r.status_code == 201, r.text
        e["snap_volume"] = r.json()["id"]
    return e["snap_volume"]


def scale_group(e):
    """An empty scaling group (min = max = 0) for the policy bodies."""
    if "scale_group" not in e:
        r = e["admin"].post("/v1/scaling-groups", {"name": "idem-sg", "template":
                                                   scale_template(e), "min_size": 0,
                                                   "max_size": 0})
        assert r.status_code == 201, r.text
        e["scale_group"] = r.json()["id"]
    return e["scale_group"]


def ssh_key(seed):
    def field(b):
        return struct.pack(">I", len(b)) + b
    blob = field(b"ssh-ed25519") + field(hashlib.sha256(seed.encode()).digest())
    return "ssh-ed25519 %s %s@nubo" % (base64.b64encode(blob).decode(), seed)


def test_idempotent_bodies_cover_document():
    assert set(IDEMPOTENT_BODIES) == CREATING_POSTS


@pytest.fixture(scope="module")
def idem_env(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("idem"))
    n = Nubod(tmp).start()
    try:
        admin = n.admin()
        r = admin.post("/v1/flavors", {"name": "idem-base", "vcpus": 1, "ram_mib": 64,
                                       "disk_gib": 1})
        assert r.status_code == 201, r.text
        r = admin.post("/v1/images", {"name": "idem-base"})
        assert r.status_code == 201, r.text
        image = r.json()["id"]
        disk = os.path.join(tmp, "d.qcow2")
        try:
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, "64M"], check=True)
            with open(disk, "rb") as f:
                data = f.read()
        except (OSError, subprocess.CalledProcessError):
            data = b"\0" * (1 << 20)  # a raw disk
        r = admin.req("PUT", "/v1/images/%s/file" % image, data=data,
                      headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 200, r.text
        r = admin.post("/v1/networks", {"name": "idem-net"})
        assert r.status_code == 201, r.text
        network = r.json()["id"]
        r = admin.post("/v1/subnets", {"network": network, "cidr": "192.168.0.0/24"})
        assert r.status_code == 201, r.text
        yield {"nubod": n, "admin": admin, "flavor": "idem-base", "image": image,
               "key": ssh_key("idem"), "network": network}
    finally:
        rc = n.stop()
        assert rc == 0, "nubod exited with %d:\n%s" % (rc, n.log())


@pytest.mark.parametrize("path", sorted(CREATING_POSTS))
def test_idempotency_key_is_honoured(idem_env, path):
    admin = idem_env["admin"]
    make, list_path, key = IDEMPOTENT_BODIES[path]
    name = "idem-" + uuid.uuid4().hex[:8]
    body = make(idem_env, name)
    h = {"Idempotency-Key": "k-" + uuid.uuid4().hex}
    first = admin.post(path, body, headers=h)
    assert first.status_code in (201, 202), first.text
    assert first.headers.get("Idempotent-Replayed") is None
    again = admin.post(path, body, headers=h)
    assert again.status_code == first.status_code, again.text
    assert again.headers.get("Idempotent-Replayed") == "true", dict(again.headers)
    assert again.json() == first.json()
    other = admin.post(path, make(idem_env, name + "-2"), headers=h)
    assert_problem(other, 409)
    r = admin.get(list_path + "?limit=1000")
    assert r.status_code == 200, r.text
    names = [x["name"] for x in r.json()[key]]
    assert names.count(name) == 1 and name + "-2" not in names, names
    bad = admin.post(path, make(idem_env, name + "-3"), headers={"Idempotency-Key": "a b"})
    assert_problem(bad, 400)


# ------------------------------------------- answers against their schemas


def schema_errors(doc, schema, value, where="$"):
    """What in value does not match schema (types, required keys, enums,
    patterns, nullability; unknown keys in answers are allowed)."""
    s = resolve(doc, schema)
    if value is None:
        alts = [resolve(doc, sub) for sub in s.get("anyOf", []) + s.get("oneOf", [])]
        ok = s.get("nullable") or any(a.get("nullable") for a in alts)
        return [] if ok else ["%s: null" % where]
    if "allOf" in s:
        return [e for sub in s["allOf"] for e in schema_errors(doc, sub, value, where)]
    t = s.get("type")
    if t == "integer":
        good = isinstance(value, int) and not isinstance(value, bool)
    elif t == "number":
        good = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        good = isinstance(value, {"object": dict, "array": list, "string": str,
                                  "boolean": bool}.get(t, object))
    if not good:
        return ["%s: %r is not of type %s" % (where, value, t)]
    errs = []
    if "enum" in s and value not in s["enum"]:
        errs.append("%s: %r is not one of %s" % (where, value, s["enum"]))
    if t == "string" and "pattern" in s and not re.search(s["pattern"], value):
        errs.append("%s: %r does not match %s" % (where, value, s["pattern"]))
    if t == "object":
        errs += ["%s: no %s" % (where, k) for k in s.get("required", []) if k not in value]
        for k, sub in s.get("properties", {}).items():
            if k in value:
                errs += schema_errors(doc, sub, value[k], where + "." + k)
    if t == "array":
        for n, v in enumerate(value):
            errs += schema_errors(doc, s["items"], v, "%s[%d]" % (where, n))
    return errs


def answer_schema(doc, method, path, status):
    op = doc["paths"][path][method.lower()]
    r = resolve(doc, op["responses"][str(status)])
    return r["content"]["application/json"]["schema"]


def test_answers_match_schemas(idem_env, doc):
    """Makes one of everything, then checks every create's answer and every
    GET of the document (console aside: text) against its schema."""
    n, admin = idem_env["nubod"], idem_env["admin"]
    made = {}
    errs = []

    def check(method, path, r, status):
        assert r.status_code == status, (method, path, r.status_code, r.text)
        errs.extend("%s %s: %s" % (method, path, e)
                    for e in schema_errors(doc, answer_schema(doc, method, path, status),
                                           r.json()))
        return r.json()

    tag = uuid.uuid4().hex[:6]
    member = make_tenant(n, admin, "member")
    made["project"] = check("GET", "/v1/projects/{id}",
                            admin.get("/v1/projects/" + member.project), 200)["id"]
    made["user"] = check("GET", "/v1/users/{id}", admin.get("/v1/users/" + member.user),
                         200)["id"]
    check("POST", "/v1/projects", admin.post("/v1/projects", {"name": "s-" + tag}), 201)
    check("POST", "/v1/users", admin.post("/v1/users", {"name": "s-" + tag,
                                                       "password": "long-enough-1"}), 201)
    check("PUT", "/v1/projects/{id}/quota",
          admin.put("/v1/projects/%s/quota" % made["project"], {"instances": 9}), 200)
    check("PUT", "/v1/projects/{id}/members/{user}",
          admin.put("/v1/projects/%s/members/s-%s" % (made["project"], tag), {"role": "reader"}),
          200)
    made["flavor"] = check("POST", "/v1/flavors", admin.post("/v1/flavors", {
        "name": "s-" + tag, "vcpus": 1, "ram_mib": 64, "disk_gib": 1, "is_public": False}),
        201)["id"]
    check("POST", "/v1/flavors/{id}/access", admin.post(
        "/v1/flavors/%s/access" % made["flavor"], {"project": made["project"]}), 200)
    made["image"] = idem_env["image"]
    made["keypair"] = check("POST", "/v1/keypairs", admin.post("/v1/keypairs", {
        "name": "s-" + tag, "public_key": ssh_key("s-" + tag)}), 201)["name"]
    made["server_group"] = check("POST", "/v1/server-groups", admin.post(
        "/v1/server-groups", {"name": "s-" + tag, "policy": "affinity"}), 201)["id"]
    body = check("POST", "/v1/instances", admin.post("/v1/instances", {
        "name": "s-" + tag, "flavor": idem_env["flavor"], "image": made["image"],
        "keypair": made["keypair"], "server_group": made["server_group"], "count": 2}), 202)
    made["instance"], made["task"] = body["instances"][0]["id"], body["task_ids"][0]
    check("DELETE", "/v1/instances/{id}",
          admin.delete("/v1/instances/%s" % body["instances"][1]["id"]), 202)
    made["apikey"] = check("POST", "/v1/auth/apikeys", admin.post(
        "/v1/auth/apikeys", {"name": "s-" + tag}), 201)["id"]
    host = check("POST", "/v1/hosts/register", requests.post(
        n.base + "/v1/hosts/register", timeout=30, json={
            "join_token": n.join_token, "name": "s-" + tag, "address": "http://127.0.0.1:9",
            "capacity": {"vcpus": 1, "ram_mib": 64, "disk_gib": 1}, "accel": "tcg",
            "driver": "qemu"}), 201)
    made["host"] = host["host_id"]
    check("POST", "/v1/hosts/{id}/heartbeat", requests.post(
        n.base + "/v1/hosts/%s/heartbeat" % made["host"], timeout=30,
        headers={"Authorization": "Bearer " + host["host_token"]},
        json={"capacity": {"vcpus": 1, "ram_mib": 64, "disk_gib": 1}, "accel": "tcg",
              "driver": "qemu", "vms": [{"name": "other", "state": "running", "reason": "",
                                         "boots": 1}]}), 200)
    check("POST", "/v1/auth/tokens", requests.post(n.base + "/v1/auth/tokens", timeout=30, json={
        "user": "admin", "password": n.admin_password}), 201)
    made["alarm"] = check("POST", "/v1/alarms", admin.post("/v1/alarms", {
        "name": "s-" + tag, "metric": "cpu", "instance": made["instance"], "comparison": "gt",
        "threshold": 90, "window_s": 60, "webhook_url": "http://localhost:9/hook",
        "hook": "log"}), 201)["id"]
    check("PATCH", "/v1/alarms/{id}", admin.patch("/v1/alarms/" + made["alarm"],
                                                  {"threshold": 95}), 200)
    made["stack"] = check("POST", "/v1/stacks", admin.post("/v1/stacks", {
        "name": "s-" + tag, "template": "parameters: {n: {type: string}}\n"
        "resources: {k: {type: keypair, properties: {name: {ref: n}, public_key: %s}}}\n"
        "outputs: {key: {value: {ref: k}}}\n" % json.dumps(ssh_key("st-" + tag)),
        "parameters": {"n": "st-" + tag}}), 202)["stack"]["id"]
    check("POST", "/v1/stacks/plan", admin.post("/v1/stacks/plan", {
        "template": "resources: {}\n", "stack": made["stack"]}), 200)
    check("POST", "/v1/hosts/{id}/metrics", requests.post(
        n.base + "/v1/hosts/%s/metrics" % made["host"], timeout=30,
        headers={"Authorization": "Bearer " + host["host_token"]},
        json={"agent_run": "r1", "rounds": [{"seq": 1, "age_ms": 0, "host": {"cpu": 5},
                                            "vms": [{"name": "other", "cpu": 1}]}]}), 200)

    ext = check("POST", "/v1/networks", admin.post("/v1/networks", {
        "name": "ext-" + tag, "external": True}), 201)["id"]
    check("POST", "/v1/subnets", admin.post("/v1/subnets", {
        "network": ext, "cidr": "203.0.113.0/24"}), 201)
    made["network"] = check("POST", "/v1/networks", admin.post("/v1/networks", {
        "name": "s-" + tag}), 201)["id"]
    check("PATCH", "/v1/networks/{id}", admin.patch("/v1/networks/" + made["network"],
                                                    {"description": "d"}), 200)
    made["subnet"] = check("POST", "/v1/subnets", admin.post("/v1/subnets", {
        "network": made["network"], "cidr": "10.200.0.0/24", "dns_servers": ["9.9.9.9"]}),
        201)["id"]
    made["security_group"] = check("POST", "/v1/security-groups", admin.post(
        "/v1/security-groups", {"name": "s-" + tag}), 201)["id"]
    check("POST", "/v1/security-group-rules", admin.post("/v1/security-group-rules", {
        "security_group": made["security_group"], "direction": "ingress", "protocol": "tcp",
        "port_min": 22, "port_max": 22, "remote_group": "default"}), 201)
    made["port"] = check("POST", "/v1/ports", admin.post("/v1/ports", {
        "network": made["network"], "security_groups": [made["security_group"]]}), 201)["id"]
    check("PATCH", "/v1/ports/{id}", admin.patch("/v1/ports/" + made["port"], {
        "security_groups": ["default", made["security_group"]]}), 200)
    made["floating_ip"] = check("POST", "/v1/floating-ips", admin.post(
        "/v1/floating-ips", {"network": ext}), 201)["id"]
    check("PATCH", "/v1/floating-ips/{id}", admin.patch("/v1/floating-ips/" + made["floating_ip"],
                                                        {"port_id": made["port"]}), 200)
    check("POST", "/v1/instances", admin.post("/v1/instances", {
        "name": "s-net-" + tag, "flavor": idem_env["flavor"], "image": made["image"],
        "networks": [{"network": made["network"]}]}), 202)
    made["template"] = check("POST", "/v1/launch-templates", admin.post(
        "/v1/launch-templates", {"name": "s-" + tag, "flavor": idem_env["flavor"],
                                 "image": made["image"], "networks": [made["network"]]}), 201)["id"]
    check("POST", "/v1/launch-templates/{id}/versions", admin.post(
        "/v1/launch-templates/%s/versions" % made["template"],
        {"flavor": idem_env["flavor"], "image": made["image"], "user_data": "#!/bin/sh"}), 201)
    check("PATCH", "/v1/launch-templates/{id}", admin.patch(
        "/v1/launch-templates/" + made["template"], {"default_version": 2}), 200)
    made["group"] = check("POST", "/v1/scaling-groups", admin.post("/v1/scaling-groups", {
        "name": "s-" + tag, "template": made["template"], "min_size": 0, "max_size": 2}),
        201)["id"]
    check("PATCH", "/v1/scaling-groups/{id}", admin.patch(
        "/v1/scaling-groups/" + made["group"], {"max_size": 3}), 200)
    made["policy"] = check("POST", "/v1/scaling-policies", admin.post("/v1/scaling-policies", {
        "name": "s-" + tag, "group": made["group"], "kind": "step", "alarm": made["alarm"],
        "steps": [{"lower": 0, "upper": None, "adjustment": 1}]}), 201)["id"]
    made["volume"] = check("POST", "/v1/volumes", admin.post("/v1/volumes", {
        "name": "s-" + tag, "size_gib": 2}), 201)["id"]
    check("PATCH", "/v1/volumes/{id}", admin.patch("/v1/volumes/" + made["volume"],
                                                 {"name": "s2-" + tag}), 200)
    check("POST", "/v1/volumes/{id}/actions", admin.post(
        "/v1/volumes/%s/actions" % made["volume"], {"action": "extend", "size_gib": 3}), 200)
    check("POST", "/v1/volume-types", admin.post("/v1/volume-types", {"name": "s-" + tag}), 201)
    made["snapshot"] = check("POST", "/v1/snapshots", admin.post("/v1/snapshots", {
        "volume_id": made["volume"], "name": "s-" + tag}), 201)["id"]
    check("PATCH", "/v1/snapshots/{id}", admin.patch("/v1/snapshots/" + made["snapshot"],
                                                     {"name": "s2-" + tag}), 200)
    check("POST", "/v1/volumes", admin.post("/v1/volumes", {
        "name": "c-" + tag, "source": {"snapshot": made["snapshot"]}}), 201)
    made["schedule"] = check("POST", "/v1/scheduled-actions", admin.post(
        "/v1/scheduled-actions", {"name": "s-" + tag, "group": made["group"],
                                  "cron": "*/15 8-18 * * 1-5", "desired": 1}), 201)["id"]

    fills = {"/v1/auth": None, "/v1/projects": "project", "/v1/users": "user",
             "/v1/flavors": "flavor", "/v1/images": "image", "/v1/keypairs": "keypair",
             "/v1/server-groups": "server_group", "/v1/instances": "instance",
             "/v1/tasks": "task", "/v1/hosts": "host", "/v1/alarms": "alarm",
             "/v1/networks": "network", "/v1/subnets": "subnet", "/v1/ports": "port",
             "/v1/security-groups": "security_group", "/v1/floating-ips": "floating_ip",
             "/v1/launch-templates": "template", "/v1/scaling-groups": "group",
             "/v1/scaling-policies": "policy", "/v1/scheduled-actions": "schedule",
             "/v1/stacks": "stack", "/v1/volumes": "volume", "/v1/snapshots": "snapshot"}
    for m, p, item, op in operations(doc):
        if m != "GET" or p in ("/v1/openapi.json", "/v1/instances/{id}/console", "/metrics"):
            continue
        url = p
        if "{" in p:
            url = re.sub(r"\{id\}|\{name\}", made[fills["/" + "/".join(p.split("/")[1:3])]], p)
        check("GET", p, admin.get(url), 200)
    assert not errs, "answers that do not match docs/openapi.json:\n  " + "\n  ".join(errs)
