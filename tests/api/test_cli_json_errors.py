"""`nubo -o json`: errors as one JSON object on stderr,
{"error": {"status": HTTP status or 0, "code": slug, "message": text}},
with the same exit codes as the table output (1 API error, 2 usage error,
3 unreachable)."""
import json

from conftest import free_port
from test_cli_cloud import _file, admin_cli, cli  # noqa: F401  (fixtures)


def _err(r):
    lines = [l for l in r.stderr.splitlines() if l.startswith("{")]
    assert len(lines) == 1, r.stderr
    return json.loads(lines[0])["error"]


def test_api_error_as_json(admin_cli):
    r = admin_cli.run("-o", "json", "flavor", "show", "no-such-flavor")
    assert r.returncode == 1, (r.stdout, r.stderr)
    e = _err(r)
    assert e["status"] == 404 and e["code"] == "not-found" and "no-such-flavor" in e["message"], e
    assert r.stdout == ""
    # the table output keeps its plain message and the same exit code
    t = admin_cli.run("flavor", "show", "no-such-flavor")
    assert t.returncode == 1 and t.stderr.startswith("nubo: ") and "{" not in t.stderr


def test_usage_error_as_json(admin_cli):
    r = admin_cli.run("-o", "json", "no-such-command")
    assert r.returncode == 2
    e = _err(r)
    assert e == {"status": 0, "code": "usage", "message": "unknown command 'no-such-command'"}
    r = admin_cli.run("-o", "json", "flavor", "list", "--bogus")
    assert r.returncode == 2 and _err(r)["code"] == "usage"
    t = admin_cli.run("no-such-command")
    assert t.returncode == 2 and "Try 'nubo --help'." in t.stderr


def test_unreachable_as_json(admin_cli, tmp_path):
    tok = _file(tmp_path, admin_cli.config()["token"])
    other = "http://127.0.0.1:%d" % free_port()
    r = admin_cli.run("-o", "json", "--url", other, "--token-file", tok, "project", "list")
    assert r.returncode == 3, r.stderr
    e = _err(r)
    assert e["status"] == 0 and e["code"] == "unreachable" and "cannot reach" in e["message"]


def test_audit_since(admin_cli):
    import time
    before = admin_cli.json("audit")["audit"]
    assert before
    cut = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2))
    time.sleep(3)
    admin_cli.ok("flavor", "create", "f-since", "--vcpus", "1", "--ram", "64M", "--disk", "1G")
    rows = admin_cli.json("audit", "--since", cut)["audit"]
    assert rows and all(r["at"] >= cut for r in rows)
    assert len(rows) < len(before) + 1
    r = admin_cli.run("-o", "json", "audit", "--since", "yesterday")
    assert r.returncode == 1 and _err(r)["status"] == 400
