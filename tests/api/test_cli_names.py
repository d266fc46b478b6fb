"""Names instead of UUIDs in the CLI's tables: a column that holds another
resource's id (a port's network and instance, a subnet's network, a task's
or an alarm's instance, a volume's instance, an API key's project, a
policy's alarm, a floating IP's port) shows that resource's name, with one
list of that kind per table, never one call per row (cloud_table_names()).
-o json stays the API's JSON, ids and all, without the extra calls.

Against a real nubod with a fake-driver host, and against a scripted fake
controller that counts the requests."""
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from test_cli_cloud import Cli, cloud_with_host, make_disk  # noqa: F401  (fixture)

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def table(out):
    """A table's rows as dicts keyed by the header's titles."""
    lines = out.rstrip("\n").splitlines()
    heads = list(re.finditer(r"\S+(?: \S+)*", lines[0]))
    rows = []
    for line in lines[1:]:
        row = {}
        for i, h in enumerate(heads):
            end = heads[i + 1].start() if i + 1 < len(heads) else None
            row[h.group(0)] = line[h.start():end].strip()
        rows.append(row)
    return rows


def test_tables_name_other_resources(cloud_with_host, tmp_path):
    nubod = cloud_with_host
    c = Cli(tmp_path / "cli", nubod.base)
    c.login("admin", nubod.admin_password, "admin")
    c.ok("image", "create", "img", "--register-path", make_disk(tmp_path), "--public")
    c.ok("flavor", "create", "tiny", "--vcpus", "1", "--ram", "64M", "--disk", "1")
    c.ok("instance", "create", "web", "--flavor", "tiny", "--image", "img", "--wait",
         "--timeout", "60")
    web = c.json("instance", "show", "web")["id"]
    net = c.json("network", "create", "net-a")["id"]
    c.ok("subnet", "create", "--network", "net-a", "--cidr", "10.31.0.0/24")
    port = c.json("port", "create", "--network", "net-a")["id"]

    # subnet list: the network by name; JSON keeps the id
    rows = table(c.ok("subnet", "list").stdout)
    assert [r["NETWORK"] for r in rows] == ["net-a"]
    assert c.json("subnet", "list")["subnets"][0]["network_id"] == net
    # port list: a NETWORK column, by name; no instance yet
    rows = table(c.ok("port", "list").stdout)
    mine = [r for r in rows if r["ID"] == port]
    assert mine and mine[0]["NETWORK"] == "net-a" and mine[0]["INSTANCE"] == "-"
    assert [p["network_id"] for p in c.json("port", "list")["ports"] if p["id"] == port] == [net]
    # task list: the instance by name
    rows = table(c.ok("task", "list").stdout)
    assert rows and all(r["INSTANCE"] == "web" for r in rows)
    assert not UUID.match(rows[0]["INSTANCE"])
    assert all(t["instance_id"] == web for t in c.json("task", "list")["tasks"])
    # alarm list: the instance by name
    c.ok("alarm", "create", "hot", "--instance", "web", "--metric", "cpu", "--comparison", "gt",
         "--threshold", "90", "--window", "60")
    rows = table(c.ok("alarm", "list").stdout)
    assert [(r["NAME"], r["INSTANCE"]) for r in rows] == [("hot", "web")]
    c.ok("alarm", "delete", "hot")
    # apikey list: the project by name
    c.ok("apikey", "create", "ci")
    rows = table(c.ok("apikey", "list").stdout)
    assert [(r["NAME"], r["PROJECT"]) for r in rows] == [("ci", "admin")]
    assert UUID.match(c.json("apikey", "list")["apikeys"][0]["project_id"])

    # volume list: the instance it is attached to, by name
    vol = c.json("volume", "create", "data", "--size", "1G")["id"]
    c.ok("volume", "attach", "data", "web")
    rows = table(c.ok("volume", "list").stdout)
    assert [(r["NAME"], r["ATTACHED_TO"]) for r in rows] == [("data", "web")]
    assert [v["attached_to"] for v in c.json("volume", "list")["volumes"] if v["id"] == vol] \
        == [web]

    # an instance that is gone: its id stays (nothing to name it by)
    c.ok("instance", "create", "tmp", "--flavor", "tiny", "--image", "img", "--wait",
         "--timeout", "60")
    tmp = c.json("instance", "show", "tmp")["id"]
    c.ok("instance", "delete", "tmp", "--wait", "--timeout", "60")
    rows = table(c.ok("task", "list").stdout)
    assert {r["INSTANCE"] for r in rows} == {"web", tmp}


# ------------------------------------------------------ counting the calls


class FakeController:
    """/v1/ports (120 ports on 3 networks and 3 instances, two of which share
    a name), /v1/networks and /v1/instances in pages of `page`; records every
    GET.  instances_status: what /v1/instances answers."""

    def __init__(self, page=2, instances_status=200):
        self.gets = []
        nets = [{"id": "n-%d" % i, "name": "net-%d" % i} for i in range(3)]
        insts = [{"id": "i-0", "name": "web"}, {"id": "i-1", "name": "dup"},
                 {"id": "i-2", "name": "dup"}]
        ports = [{"id": "p-%03d" % i, "ip": "10.0.0.%d" % (i % 250), "mac": "m",
                  "network_id": nets[i % 3]["id"], "instance_id": insts[i % 3]["id"],
                  "floating_ip": None} for i in range(120)]
        ports.append({"id": "p-orphan", "ip": "10.0.1.1", "mac": "m", "network_id": "n-gone",
                      "instance_id": None, "floating_ip": None})
        lists = {"/v1/ports": ("ports", ports), "/v1/networks": ("networks", nets),
                 "/v1/instances": ("instances", insts)}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                u = urlparse(self.path)
                fake.gets.append(u.path)
                if u.path == "/v1/instances" and instances_status != 200:
                    return self.reply(instances_status, {"status": instances_status,
                                                         "title": "Forbidden", "detail": "no"})
                if u.path not in lists:
                    return self.reply(404, {"status": 404, "title": "Not Found", "detail": "x"})
                key, items = lists[u.path]
                q = parse_qs(u.query)
                marker = q.get("marker", [None])[0]
                limit = min(int(q.get("limit", ["100"])[0]), page if key != "ports" else 1000)
                start = 0 if marker is None else [x["id"] for x in items].index(marker) + 1
                chunk = items[start:start + limit]
                more = start + limit < len(items)
                self.reply(200, {key: chunk, "next_marker": chunk[-1]["id"] if more else None})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    f = FakeController()
    yield f
    f.close()


def test_one_list_per_kind_not_per_row(fake, tmp_path):
    c = Cli(tmp_path)
    env = {"NUBO_URL": fake.base, "NUBO_TOKEN": "t0ken"}
    rows = table(c.ok("port", "list", env=env).stdout)
    assert len(rows) == 121
    by_id = {r["ID"]: r for r in rows}
    assert by_id["p-000"]["NETWORK"] == "net-0" and by_id["p-000"]["INSTANCE"] == "web"
    assert by_id["p-001"]["NETWORK"] == "net-1"
    # two instances named dup: the ids stay, a name would not tell which
    assert by_id["p-001"]["INSTANCE"] == "i-1" and by_id["p-002"]["INSTANCE"] == "i-2"
    # a network not in the list, no instance at all
    assert by_id["p-orphan"]["NETWORK"] == "n-gone" and by_id["p-orphan"]["INSTANCE"] == "-"
    # one ports list, one networks list (its 2 pages), one instances list (its 2 pages)
    assert fake.gets.count("/v1/ports") == 1
    assert fake.gets.count("/v1/networks") == 2
    assert fake.gets.count("/v1/instances") == 2
    assert len(fake.gets) == 5

    # -o json: the API's JSON as it is, and no extra call
    fake.gets.clear()
    out = c.json("port", "list", env=env)
    assert out["ports"][0]["network_id"] == "n-0" and out["ports"][0]["instance_id"] == "i-0"
    assert fake.gets == ["/v1/ports"]


def test_names_fall_back_to_ids_when_the_list_is_refused(tmp_path):
    f = FakeController(instances_status=403)
    try:
        c = Cli(tmp_path)
        env = {"NUBO_URL": f.base, "NUBO_TOKEN": "t0ken"}
        r = c.ok("port", "list", env=env)
        rows = {row["ID"]: row for row in table(r.stdout)}
        assert rows["p-000"]["INSTANCE"] == "i-0" and rows["p-000"]["NETWORK"] == "net-0"
        assert r.stderr == ""
    finally:
        f.close()
