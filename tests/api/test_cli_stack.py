"""`nubo stack ...` against a real nubod (ASan builds by default, so every
CLI run is also a leak check): plan as a table and as JSON, apply with its
confirmation (refused without a terminal, asked on one), live events until
the apply ends, exit status 1 when it fails, outputs / resources / drift /
events / list / show, and destroy.

Hosts are rows written into the controller's database (test_compute.py's
add_host): instances are placed and stay "building" since no agent
answers, which is "created" for a stack.
"""
import json
import os
import pty

import pytest

from test_cli_cloud import CLI, PUBKEY, Cli, table, uid
from test_compute import add_host, flavor, public_image

TEMPLATE = """\
description: a keypair, a web server and an alarm on its CPU
parameters:
  threshold: {type: number, default: 80, constraints: {min: 1, max: 100}}
  flavor: {type: string, default: small}
resources:
  key:
    type: keypair
    properties: {name: cli-key, public_key: "%s"}
  web:
    type: instance
    properties:
      name: cli-web
      flavor: {ref: flavor}
      image: tiny
      keypair: {ref: key}
  cpu:
    type: alarm
    properties:
      name: cli-cpu
      metric: cpu
      instance: {ref: web}
      statistic: avg
      comparison: gt
      threshold: {ref: threshold}
      window_s: 60
outputs:
  web_id: {value: {ref: web}, description: the web server}
  web_status: {value: {get_attr: [web, status]}}
""" % PUBKEY


@pytest.fixture
def scli(nubod, admin, tmp_path):
    flavor(admin, "small")
    public_image(admin, tmp_path, "tiny")
    add_host(nubod, "h1", vcpus=64, ram=65536)
    c = Cli(tmp_path / "cli", nubod.base)
    c.login("admin", nubod.admin_password, "admin")
    c.file = tmp_path / "stack.yaml"
    c.file.write_text(TEMPLATE)
    return c


def on_a_tty(c, answer, *args):
    """Runs the CLI with a terminal on stdin that has `answer` typed in."""
    master, slave = pty.openpty()
    try:
        os.write(master, answer.encode())
        return c.run(*args, stdin=slave)
    finally:
        os.close(slave)
        os.close(master)


def test_plan_apply_outputs_drift_destroy(scli, admin):
    # plan: a table of resource / type / action / attributes; nothing made
    r = scli.ok("stack", "plan", "-f", scli.file, "-p", "threshold=70")
    rows = table(r.stdout)
    assert rows[0] == ["RESOURCE", "TYPE", "ACTION", "ATTRIBUTES"], r.stdout
    assert [x[:3] for x in rows[1:4]] == [["key", "keypair", "create"],
                                           ["web", "instance", "create"],
                                           ["cpu", "alarm", "create"]], r.stdout
    assert "threshold=70" in rows[3][3], rows[3]
    assert "plan: 3 to create, 0 to update in place, 0 to replace, 0 to delete" in r.stdout
    plan = scli.json("stack", "plan", "-f", scli.file)
    assert plan["summary"]["create"] == 3
    assert admin.get("/v1/keypairs").json()["keypairs"] == []

    # apply without a terminal and without --yes: refused, nothing made
    r = scli.run("stack", "apply", "app", "-f", scli.file)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "--yes" in r.stderr and "not a terminal" in r.stderr
    assert admin.get("/v1/stacks").json()["stacks"] == []

    # on a terminal: "n" declines, "y" applies and follows the events
    r = on_a_tty(scli, "n\n", "stack", "apply", "app", "-f", scli.file)
    assert r.returncode == 1 and "nothing done" in r.stderr, (r.stdout, r.stderr)
    assert admin.get("/v1/stacks").json()["stacks"] == []
    r = on_a_tty(scli, "y\n", "stack", "apply", "app", "-f", scli.file)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "Apply this plan to stack app?" in r.stderr
    assert "New stack app:" in r.stdout
    out = r.stdout.splitlines()
    created = [l for l in out if " create " in l and " complete " in l]
    assert {l.split()[1] for l in created} >= {"key", "web", "cpu"}, r.stdout
    assert out[-1] == "stack app: complete (revision 1)", r.stdout

    # what it made, through the other subcommands
    webs = [i for i in admin.get("/v1/instances").json()["instances"] if i["name"] == "cli-web"]
    assert len(webs) == 1
    outs = scli.json("stack", "outputs", "app")["outputs"]
    assert outs["web_id"]["value"] == webs[0]["id"]
    assert outs["web_status"]["value"] == "building"
    rows = table(scli.ok("stack", "outputs", "app").stdout)
    assert ["web_id", webs[0]["id"], "the web server"] in rows, rows
    res = {x["name"]: x for x in scli.json("stack", "resources", "app")["resources"]}
    assert res["web"]["physical_id"] == webs[0]["id"] and res["key"]["status"] == "complete"
    assert "complete" in scli.ok("stack", "resources", "app").stdout
    assert scli.json("stack", "show", "app")["status"] == "complete"
    assert [s["name"] for s in scli.json("stack", "list")["stacks"]] == ["app"]
    assert "app" in scli.ok("stack", "list").stdout
    ev = scli.json("stack", "events", "app")["events"]
    assert ev[-1]["status"] == "complete" and ev[-1]["resource"] == ""
    assert "no drift" in scli.ok("stack", "drift", "app").stdout

    # the same again: up to date, nothing applied, no new revision
    r = scli.ok("stack", "apply", "app", "-f", scli.file)  # no --yes needed: nothing to do
    assert "is up to date: nothing to apply" in r.stdout, r.stdout
    assert len(admin.get("/v1/stacks/app/revisions").json()["revisions"]) == 1

    # a parameter change: the alarm is updated in place, as the plan says
    r = scli.ok("stack", "apply", "app", "-f", scli.file, "-p", "threshold=90", "--yes")
    rows = table(r.stdout)
    cpu = [x for x in rows if x[0] == "cpu"][0]
    assert cpu[2] == "update" and "threshold: 80 -> 90" in cpu[3], rows
    assert [x[2] for x in rows if x[0] in ("key", "web")] == ["no-change", "no-change"]
    assert r.stdout.splitlines()[-1] == "stack app: complete (revision 2)", r.stdout
    assert admin.get("/v1/alarms/" + res["cpu"]["physical_id"]).json()["threshold"] == 90
    # -o json: the final stack on stdout, the plan and events on stderr
    r = scli.ok("-o", "json", "stack", "apply", "app", "-f", scli.file, "--yes")
    assert json.loads(r.stdout)["revision"] == 3, r.stdout
    assert "threshold: 90 -> 80" in r.stderr, r.stderr

    # drift: the alarm changed outside the stack is reported
    assert admin.patch("/v1/alarms/" + res["cpu"]["physical_id"],
                       {"threshold": 42}).status_code == 200
    d = scli.json("stack", "drift", "app")
    assert d["drifted"] is True
    r = scli.ok("stack", "drift", "app")
    assert "threshold: 80 -> 42" in r.stdout and "drifted" in r.stdout, r.stdout

    # destroy: refused without a terminal, then done with --yes
    r = scli.run("stack", "destroy", "app")
    assert r.returncode == 2 and "--yes" in r.stderr
    assert scli.json("stack", "show", "app")["status"] == "complete"
    r = scli.ok("stack", "destroy", "app", "--yes")
    assert r.stdout.splitlines()[-1] == "stack app destroyed", r.stdout
    assert scli.run("stack", "show", "app").returncode == 1
    assert admin.get("/v1/keypairs").json()["keypairs"] == []
    assert admin.get("/v1/alarms").json()["alarms"] == []
    live = [i for i in admin.get("/v1/instances").json()["instances"]
            if i["status"] not in ("deleting", "deleted")]
    assert live == []


def test_failed_apply_exits_1(scli, admin):
    # a flavor that does not exist: the instance fails at apply
    r = scli.run("stack", "apply", "bad", "-f", scli.file, "-p", "flavor=nope", "--yes",
                 "--on-failure", "stop")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "stack bad: failed (revision 1)" in r.stdout, r.stdout
    assert scli.json("stack", "show", "bad")["status"] == "failed"
    res = {x["name"]: x["status"] for x in scli.json("stack", "resources", "bad")["resources"]}
    assert res["key"] == "complete" and res["web"] == "create_failed", res
    # rollback (the default): undone, exit 1
    r = scli.run("stack", "apply", "bad2", "-f", scli.file, "-p", "flavor=nope", "--yes")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "stack bad2: rolled_back" in r.stdout, r.stdout
    assert [k["name"] for k in admin.get("/v1/keypairs").json()["keypairs"]] == ["cli-key"]


def test_usage_errors(scli, tmp_path):
    assert scli.run("stack", "plan").returncode == 2  # no -f
    assert scli.run("stack", "plan", "-f", scli.file, "-p", "novalue").returncode == 2
    assert scli.run("stack", "plan", "-f", scli.file, "-p", "=x").returncode == 2
    assert scli.run("stack", "plan", "-f", tmp_path / "missing.yaml").returncode == 2
    assert scli.run("stack", "apply", "-f", scli.file, "--yes").returncode == 2  # no NAME
    assert scli.run("stack", "apply", "x", "-f", scli.file, "--on-failure", "maybe") \
        .returncode == 2
    assert scli.run("stack", "outputs", "x", "--yes").returncode == 2  # not its option
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (300 * 1024) + "\n")
    assert scli.run("stack", "plan", "-f", big).returncode == 2
    # a template error: the controller's located message, exit 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("resources:\n  a:\n    type: nope\n")
    r = scli.run("stack", "plan", "-f", bad)
    assert r.returncode == 1 and "line 3, column 5" in r.stderr, r.stderr
    assert scli.run("stack", "show", "nothing-" + uid()).returncode == 1
    for sub in ("plan", "apply", "list", "show", "events", "outputs", "resources", "drift",
                "destroy"):
        r = scli.ok("stack", sub, "--help")
        assert r.stdout.startswith("usage: nubo stack " + sub), sub
    assert os.path.exists(CLI)
