"""The audit log newest first: GET /v1/audit?order=newest (keyset pages
going backwards: store_page's desc) and `nubo audit`, which lists newest
first unless --oldest-first.  Against a real nubod, on SQLite or (with
NUBO_TEST_STORE=postgresql) PostgreSQL."""
import re

from test_cli_cloud import admin_cli, cli  # noqa: F401  (fixtures)


def all_pages(client, query, limit):
    """Every record of the list, following next_marker, in the API's order."""
    out, marker = [], None
    for _ in range(1000):
        q = query + "&limit=%d" % limit + ("&marker=" + marker if marker else "")
        r = client.get("/v1/audit?" + q)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["audit"]) <= limit
        out += page["audit"]
        marker = page["next_marker"]
        if marker is None:
            return out
    raise AssertionError("endless pages")


def test_audit_newest_first_pages_and_filters(nubod, admin):
    for i in range(7):
        r = admin.post("/v1/flavors", json={"name": "ord-%d" % i, "vcpus": 1, "ram_mib": 64,
                                            "disk_gib": 1, "is_public": True})
        assert r.status_code == 201, r.text
    oldest = all_pages(admin, "order=oldest", 1000)
    ids = [r["id"] for r in oldest]
    assert len(ids) >= 8 and len(set(ids)) == len(ids)
    assert admin.get("/v1/audit").json()["audit"] == oldest  # oldest is the default
    # newest first: the exact reverse, whole or a page of 3 at a time
    # (nothing lost or repeated across the pages' edges)
    assert all_pages(admin, "order=newest", 1000) == oldest[::-1]
    assert all_pages(admin, "order=newest", 3) == oldest[::-1]
    assert all_pages(admin, "order=newest", 1) == oldest[::-1]
    # the first page is the newest records
    first = admin.get("/v1/audit?order=newest&limit=2").json()
    assert first["audit"] == oldest[::-1][:2] and first["next_marker"] == oldest[-2]["id"]
    # with filters
    created = [r for r in oldest if r["action"] == "flavor.create"]
    assert len(created) == 7
    assert all_pages(admin, "order=newest&action=flavor.create", 2) == created[::-1]
    since = created[3]["at"]
    got = all_pages(admin, "order=newest&action=flavor.create&since=" + since, 2)
    assert got == [r for r in created if r["at"] >= since][::-1] and len(got) >= 4
    # bad input: 400, and a marker of another list is refused as before
    r = admin.get("/v1/audit?order=sideways")
    assert r.status_code == 400 and "order must be oldest or newest" in r.text
    r = admin.get("/v1/audit?order=newest&marker=00000000-0000-4000-8000-000000000000")
    assert r.status_code == 400


def test_audit_order_is_admin_only(nubod, admin):
    from conftest import make_tenant
    t = make_tenant(nubod, admin)
    r = t.get("/v1/audit?order=newest")
    assert r.status_code == 403


def rows(table):
    """The data rows of a table: the REQUEST column (the last) of each."""
    lines = table.strip().splitlines()
    assert lines[0].split()[0] == "AT", lines[0]
    return [re.split(r"\s{2,}", l.strip()) for l in lines[1:]]


def test_cli_audit_newest_first(admin_cli):
    for i in range(3):
        admin_cli.ok("flavor", "create", "cli-ord-%d" % i, "--vcpus", "1", "--ram", "64M",
                     "--disk", "1G")
    api = admin_cli.json("audit", "--oldest-first")["audit"]
    assert admin_cli.json("audit")["audit"] == api[::-1]
    newest = rows(admin_cli.ok("audit").stdout)
    oldest = rows(admin_cli.ok("audit", "--oldest-first").stdout)
    assert len(newest) == len(api) and newest == oldest[::-1]
    # the newest row is the last flavor create, the AT column descends
    assert newest[0][2] == "flavor.create" and newest[0][0] == api[-1]["at"]
    ats = [r[0] for r in newest]
    assert ats == sorted(ats, reverse=True)
    # --limit keeps the newest N (the oldest N with --oldest-first)
    assert rows(admin_cli.ok("audit", "--limit", "2").stdout) == newest[:2]
    assert rows(admin_cli.ok("audit", "--limit", "2", "--oldest-first").stdout) == oldest[:2]
    assert "newest first" in admin_cli.ok("audit", "--help").stdout
