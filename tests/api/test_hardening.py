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
