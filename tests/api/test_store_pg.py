"""nubod on PostgreSQL when the database goes away (issue 20 item 1): every
request answers 503 problem+json, quickly, nothing crashes, and all works
again when the database is back.  PostgreSQL only (NUBO_TEST_STORE)."""
import time

import pytest
import requests

from conftest import ON_PG, PgServer, assert_problem

pytestmark = pytest.mark.skipif(not ON_PG, reason="about the PostgreSQL backend")


def db_name(nubod):
    return nubod.store.split("?")[0].rsplit("/", 1)[1]


def cut(name, allow):
    c = PgServer.admin_conn()
    try:
        cur = c.cursor()
        cur.execute("ALTER DATABASE %s ALLOW_CONNECTIONS %s" % (name, "true" if allow else "false"))
        if not allow:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = %s", (name,))
    finally:
        c.close()


def test_database_gone_is_503_then_back(nubod, admin):
    assert admin.get("/v1/flavors").status_code == 200
    cut(db_name(nubod), False)
    try:
        for path in ("/v1/flavors", "/v1/instances", "/v1/projects", "/v1/auth/whoami"):
            for _ in range(3):  # every API thread's connection, killed or refused
                t0 = time.time()
                r = admin.get(path)
                assert time.time() - t0 < 20
                assert_problem(r, 503, "database")
        r = requests.post(nubod.base + "/v1/auth/tokens",
                          json={"user": "admin", "password": nubod.admin_password}, timeout=30)
        assert_problem(r, 503)
        assert admin.post("/v1/flavors", {"name": "f-gone", "vcpus": 1, "ram_mib": 64,
                                          "disk_gib": 1}).status_code == 503
    finally:
        cut(db_name(nubod), True)
    deadline = time.time() + 30
    while admin.get("/v1/flavors").status_code != 200 and time.time() < deadline:
        time.sleep(0.2)
    assert admin.get("/v1/flavors").status_code == 200
    r = admin.post("/v1/flavors", {"name": "f-back", "vcpus": 1, "ram_mib": 64, "disk_gib": 1})
    assert r.status_code == 201, r.text
    assert "f-gone" not in [f["name"] for f in admin.get("/v1/flavors").json()["flavors"]]


def test_two_nubods_on_one_database_never_overshoot_a_quota(tmp_path):
    """Two nubods on one PostgreSQL database (the second migrates after the
    first, under the write lock), 12 network creates at once split between
    them with a quota of 3: exactly 3 exist.  The write transactions of both
    processes take one advisory lock, as SQLite's single writer did."""
    import threading

    from conftest import Client, Nubod, make_tenant

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = Nubod(str(tmp_path / "a")).start()
    b = Nubod(str(tmp_path / "b"), extra=["--store", a.store]).start()
    try:
        admin = a.admin()
        m = make_tenant(a, admin)
        r = admin.put("/v1/projects/%s/quota" % m.project, {"networks": 3})
        assert r.status_code == 200, r.text
        barrier = threading.Barrier(12)
        answers = [None] * 12

        def one(i):
            c = Client((a, b)[i % 2].base, m.token)  # a token from a works on b
            barrier.wait()
            answers[i] = c.post("/v1/networks", {"name": "race-%d" % i})

        threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(x.status_code for x in answers)
        assert codes == [201] * 3 + [403] * 9, [x.text for x in answers]
        assert len(Client(b.base, m.token).get("/v1/networks").json()["networks"]) == 3
    finally:
        assert b.stop() == 0, b.log()
        assert a.stop() == 0, a.log()
