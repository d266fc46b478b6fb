"""Regression tests for what a hostile tenant could do to nubod (issue 13):
each test failed before its fix."""
import time

from conftest import assert_problem, make_tenant


def peak_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for %d" % pid)


def pattern_template(pattern):
    return ("parameters:\n"
            "  tag:\n"
            "    type: string\n"
            "    constraints: {pattern: '%s'}\n"
            "resources: {}\n" % pattern)


def test_regex_bombs_are_refused_without_memory(nubod, admin):
    """A reader's stack parameter pattern cannot make nubod allocate: before,
    ((a{1,70}){1,70}){1,70} took +313 MiB in regcomp()."""
    reader = make_tenant(nubod, admin, role="reader")
    before = peak_rss_kib(nubod.proc.pid)
    bombs = ["((a{1,70}){1,70}){1,70}",
             "(((a*b*c*d*e*f*g*h*i*j*){1,10}){1,10}){1,10}",
             "((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+){255}"]
    for bomb in bombs:
        t0 = time.time()
        p = assert_problem(reader.post("/v1/stacks/plan", {
            "template": pattern_template(bomb), "parameters": {"tag": "aaaa"}}), 400)
        assert "too expensive" in p["detail"] and "line 4" in p["detail"], p
        assert time.time() - t0 < 5
    # The most expensive pattern that is accepted, against the longest value
    # that may be matched, in the shape that backtracking engines blow up on.
    worst = "(((a*b*c*d*e*f*g*h*i*j*){1,10}){1,10})x"
    t0 = time.time()
    p = assert_problem(reader.post("/v1/stacks/plan", {
        "template": pattern_template(worst), "parameters": {"tag": "a" * 16384}}), 400)
    assert "does not match the pattern" in p["detail"], p
    assert time.time() - t0 < 20
    p = assert_problem(reader.post("/v1/stacks/plan", {
        "template": pattern_template("a*"), "parameters": {"tag": "a" * 16385}}), 400)
    assert "at most 16384 bytes" in p["detail"], p
    grown = peak_rss_kib(nubod.proc.pid) - before
    assert grown < 64 * 1024, "nubod's peak RSS grew by %d KiB" % grown
    # ordinary patterns still work
    ok = reader.post("/v1/stacks/plan", {"template": pattern_template("[a-z][a-z0-9-]{0,62}"),
                                         "parameters": {"tag": "web-01"}})
    assert ok.status_code == 200, ok.text
    p = assert_problem(reader.post("/v1/stacks/plan", {
        "template": pattern_template("[a-z][a-z0-9-]{0,62}"), "parameters": {"tag": "Web"}}), 400)
    assert "does not match the pattern" in p["detail"], p


def test_weak_passwords_are_refused(nubod, admin):
    """Before, any 8 characters were a password: 'password1', eight spaces,
    the user's own name."""
    weak = [("password1", "commonly used"), ("PassWord1", "commonly used"),
            ("12345678", "commonly used"), ("iloveyou", "commonly used"),
            ("qwertyuiop", "commonly used"), (" " * 12, "whitespace"),
            ("\t \n \t \n  ", "whitespace"), ("aaaaaaaaaaaa", "one character repeated"),
            ("carol-the-user", "user's name"), ("CAROL-THE-USER", "user's name")]
    for pw, why in weak:
        r = admin.post("/v1/users", {"name": "carol-the-user", "password": pw})
        assert_problem(r, 400, why)
    assert all(u["name"] != "carol-the-user" for u in admin.get("/v1/users").json()["users"])
    r = admin.post("/v1/users", {"name": "carol-the-user", "password": "correct horse battery"})
    assert r.status_code == 201, r.text
    r = admin.put("/v1/projects/demo/members/carol-the-user", {"role": "reader"})
    assert r.status_code == 200, r.text
    carol = nubod.login("carol-the-user", "correct horse battery")
    assert_problem(carol.patch("/v1/users/carol-the-user",
                               {"password": "trustno1",
                                "current_password": "correct horse battery"}), 400,
                   "commonly used")
    # the old password still works: nothing changed
    nubod.login("carol-the-user", "correct horse battery")


# ------------------------------------------- passwords, API keys (item 6)

def test_password_change_needs_the_current_one_and_a_session(nubod, admin):
    """Before, PATCH /v1/users/{self} {"password"} with a reader's API key
    changed the password: a leaked narrow key became the account."""
    import requests
    from conftest import Client
    m = make_tenant(nubod, admin, role="reader")
    me = "/v1/users/" + m.user
    key = m.post("/v1/auth/apikeys", {"name": "ci"}).json()
    kc = Client(nubod.base, key["key"])
    # An API key changes no password, not even with the current one, and
    # makes no API keys.
    for body in ({"password": "taken-over-pw"},
                 {"password": "taken-over-pw", "current_password": "secret-password-1"}):
        assert_problem(kc.patch(me, body), 403, "log in with your password")
    assert_problem(kc.post("/v1/auth/apikeys", {"name": "child"}), 403,
                   "log in with your password")
    assert [k["name"] for k in m.get("/v1/auth/apikeys").json()["apikeys"]] == ["ci"]
    # A session needs the current password; a wrong one changes nothing.
    assert_problem(m.patch(me, {"password": "taken-over-pw"}), 400, "current_password")
    assert_problem(m.patch(me, {"password": "taken-over-pw", "current_password": "wrong-guess"}),
                   403, "current_password is wrong")
    assert_problem(m.patch(me, {"current_password": "secret-password-1"}), 400,
                   "goes with password")
    nubod.login(m.user, "secret-password-1")
    r = m.patch(me, {"password": "my-new-password", "current_password": "secret-password-1"})
    assert r.status_code == 200, r.text
    nubod.login(m.user, "my-new-password")
    # Ending the session that made the key leaves the key working.
    assert m.delete("/v1/auth/tokens/current").status_code == 204
    assert kc.get("/v1/auth/whoami").status_code == 200
    # An admin sets another user's password without theirs, but not with a
    # key, and changes their own only with the current one.
    r = admin.patch(me, {"password": "admin-set-password"})
    assert r.status_code == 200, r.text
    akey = Client(nubod.base, admin.post("/v1/auth/apikeys", {"name": "a"}).json()["key"])
    assert_problem(akey.patch(me, {"password": "via-admin-key"}), 403, "log in with your password")
    assert_problem(admin.patch("/v1/users/admin", {"password": "new-admin-password"}), 400,
                   "current_password")
    r = admin.patch("/v1/users/admin", {"password": "new-admin-password",
                                        "current_password": nubod.admin_password})
    assert r.status_code == 200, r.text
    r = requests.post(nubod.base + "/v1/auth/tokens",
                      json={"user": "admin", "password": "new-admin-password"}, timeout=30)
    assert r.status_code == 201, r.text


# --------------------------------------------------------- logins (item 3)

def _login(nubod, user, password):
    import requests
    return requests.post(nubod.base + "/v1/auth/tokens",
                         json={"user": user, "password": password}, timeout=60)


def test_login_back_off_after_failures(nubod, admin):
    """Before, 200 wrong passwords and then the right one logged in."""
    victim = make_tenant(nubod, admin)
    other = make_tenant(nubod, admin)
    codes = [_login(nubod, victim.user, "wrong-%d" % i).status_code for i in range(200)]
    assert codes[:5] == [401] * 5 and 429 in codes and set(codes) <= {401, 429}, codes
    r = _login(nubod, victim.user, "secret-password-1")
    p = assert_problem(r, 429, "try again in")
    wait = int(r.headers["Retry-After"])
    assert 1 <= wait <= 900, r.headers
    # Another user (from the same address) is not held back.
    assert _login(nubod, other.user, "secret-password-1").status_code == 201
    # Every failure is in the audit log.
    recs, marker = [], None
    while True:
        page = admin.get("/v1/audit?action=auth.login&result=failure&limit=100" +
                         ("&marker=" + marker if marker else "")).json()
        recs += page["audit"]
        marker = page["next_marker"]
        if not marker:
            break
    assert len([a for a in recs if a["target"] == victim.user]) == 201, p
    # After the wait the right password works and clears the count.
    if wait <= 16:
        time.sleep(wait + 0.2)
        assert _login(nubod, victim.user, "secret-password-1").status_code == 201
        assert _login(nubod, victim.user, "wrong-again").status_code == 401


def test_parallel_logins_do_not_starve_health(nubod, admin):
    """Before, eight parallel argon2id logins (64 MiB each) pushed
    /v1/health to 2-3 s: every API thread was hashing.  Eight clients log in
    over and over for a few seconds (a 503 says to come back in a second)
    while /v1/health is polled."""
    import threading
    users = [make_tenant(nubod, admin).user for _ in range(8)]
    ok, health = [], []
    end = time.monotonic() + 6

    def login(user):
        while time.monotonic() < end:
            r = _login(nubod, user, "secret-password-1")
            if r.status_code == 503:
                assert r.headers.get("Retry-After") == "1", r.headers
                time.sleep(1)
            else:
                ok.append(r.status_code)

    threads = [threading.Thread(target=login, args=(u,)) for u in users]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        t0 = time.monotonic()
        assert admin.get("/v1/health").status_code == 200
        health.append(time.monotonic() - t0)
        time.sleep(0.05)
    for t in threads:
        t.join()
    print("health: %d polls, max %.3f s, mean %.3f s; %d logins" %
          (len(health), max(health), sum(health) / len(health), len(ok)))
    assert ok and set(ok) == {201}, ok
    assert max(health) < 1.0, health
