"""The CLI's cold migration and resize (nubo instance migrate --cold,
nubo instance resize [--confirm|--revert]) against a real nubod with two
real nubo-hostd on the fake driver (test_liveness.Cloud): usage errors
(exit 2) before any request, API refusals (exit 1) that change nothing,
and the whole cycle with --wait, checked through the API.  The ASan build
of the CLI fails on a leak, so each run is also a leak check."""
import pytest

from test_cli_cloud import Cli
from test_compute import flavor
from test_liveness import Cloud
from test_migrate import admin_view, migration_rows, other, placed


@pytest.fixture
def cloud(tmp_path):
    c = Cloud(tmp_path, n_agents=2)
    yield c
    c.close()


def test_cli_cold_migrate_and_resize(cloud, tmp_path):
    iid, src = placed(cloud, "cv")
    dst = other(cloud, src)
    big = flavor(cloud.admin, "bigc", vcpus=2, ram=128, disk=2)["name"]
    admin = Cli(tmp_path / "admin", cloud.nubod.base)
    admin.login("admin", cloud.nubod.admin_password, "admin")
    user = Cli(tmp_path / "user", cloud.nubod.base)
    user.login(cloud.tenant.user, "secret-password-1", cloud.tenant.project)

    # Usage errors: exit 2, nothing asked.
    for args in (["instance", "resize", "cv"],
                 ["instance", "resize", "cv", big, "--confirm"],
                 ["instance", "resize", "--confirm", "--revert", "cv"],
                 ["instance", "resize", "cv", big, "--timeout", "5"],
                 ["instance", "resize", "cv", "bad flavor!"],
                 ["instance", "migrate", "cv", "--start"],
                 ["instance", "migrate", "--cold", "--cancel", "cv"]):
        r = user.run(*args)
        assert r.returncode == 2, (args, r.returncode, r.stdout, r.stderr)
    assert "resize INSTANCE FLAVOR" in user.ok("instance", "resize", "--help").stdout
    assert "--cold" in user.ok("instance", "migrate", "--help").stdout

    # Refused by the API: exit 1 with its reason, nothing changed.
    r = user.run("instance", "resize", "cv", big)
    assert r.returncode == 1 and "stop it first" in r.stderr, r.stderr
    user.ok("instance", "stop", "cv", "--wait", "--timeout", "60")
    r = user.run("instance", "migrate", "--cold", "cv", "--host", dst)
    assert r.returncode == 1 and "cloud admin" in r.stderr, r.stderr
    r = user.run("instance", "resize", "--confirm", "cv")
    assert r.returncode == 1 and "verify_resize" in r.stderr, r.stderr
    r = user.run("instance", "resize", "cv", "no-such-flavor")
    assert r.returncode == 1 and "no-such-flavor" in r.stderr, r.stderr
    assert migration_rows(cloud, iid) == []
    assert admin_view(cloud, iid)["host"]["name"] == src

    # Cold migration, the admin's, waited for; then back, started there.
    r = admin.ok("instance", "migrate", "--cold", iid, "--host", dst, "--wait",
                 "--timeout", "60")
    assert "stopped on %s" % dst in r.stderr, r.stderr
    assert admin_view(cloud, iid)["host"]["name"] == dst
    r = admin.ok("instance", "migrate", "--cold", iid, "--start", "--wait", "--timeout", "60")
    assert "running on %s" % src in r.stderr, r.stderr
    assert cloud.instance(iid)["status"] == "running"
    user.ok("instance", "stop", "cv", "--wait", "--timeout", "60")

    # Resize and revert, resize and confirm, by the project's member.
    r = user.ok("instance", "resize", "cv", big, "--wait", "--timeout", "60")
    assert "verify_resize on" in r.stderr, r.stderr
    out = user.json("instance", "resize", "--revert", "cv")  # the 202 answer
    assert out["migration"]["kind"] == "resize" and out["task_id"], out
    cloud.wait_status(iid, "stopped", timeout=30)
    assert cloud.instance(iid)["vcpus"] == 1
    user.ok("instance", "resize", "cv", big, "--wait", "--timeout", "60")
    r = user.ok("instance", "resize", "--confirm", "cv", "--wait", "--timeout", "60")
    assert "stopped on" in r.stderr, r.stderr
    inst = cloud.instance(iid)
    assert (inst["status"], inst["vcpus"], inst["ram_mib"]) == ("stopped", 2, 128), inst
    kinds = [(m["kind"], m["state"]) for m in migration_rows(cloud, iid)]
    assert kinds == [("resize", "completed"), ("resize", "reverted"), ("cold", "completed"),
                     ("cold", "completed")], kinds
