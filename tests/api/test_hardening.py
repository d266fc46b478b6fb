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
    assert_problem(carol.patch("/v1/users/carol-the-user", {"password": "trustno1"}), 400,
                   "commonly used")
    # the old password still works: nothing changed
    nubod.login("carol-the-user", "correct horse battery")
