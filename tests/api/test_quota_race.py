"""Quotas hold under concurrent creates.

A project's quota is set low (PUT /v1/projects/{id}/quota), then 30
threads fire POST /v1/instances at once, each with its own connection and a
distinct name.  Exactly as many as fit succeed (202) and the others get 403
"quota exceeded"; the instance list, the quota's usage and the tasks agree.
There are no hosts, so the instances end in status error ("no valid host")
- they still count against the quota, like in a real cloud.

nubod runs with 16 API threads so that the creates really overlap.
"""
import os
import subprocess
import threading
import time
import uuid

import pytest

from conftest import Client, Nubod, assert_problem, make_tenant

THREADS = 30


@pytest.fixture
def cloud(tmp_path):
    """nubod with many API threads, a member of a fresh project, a flavor
    and an active private image."""
    n = Nubod(str(tmp_path), extra=["--threads", "16"]).start()
    try:
        admin = n.admin()
        member = make_tenant(n, admin, "member")
        r = admin.get("/v1/projects/%s" % member.project)
        assert r.status_code == 200, r.text
        project_id = r.json()["id"]
        for name, vcpus in (("q-1cpu", 1), ("q-2cpu", 2)):
            r = admin.post("/v1/flavors", {"name": name, "vcpus": vcpus, "ram_mib": 64,
                                           "disk_gib": 1})
            assert r.status_code == 201, r.text
        r = member.post("/v1/images", {"name": "q-img"})
        assert r.status_code == 201, r.text
        image = r.json()["id"]
        r = member.req("PUT", "/v1/images/%s/file" % image, data=disk_bytes(str(tmp_path)),
                       headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 200, r.text
        yield {"nubod": n, "admin": admin, "member": member, "project": project_id,
               "image": image}
    finally:
        rc = n.stop()
        assert rc == 0, "nubod exited with %d:\n%s" % (rc, n.log())


def disk_bytes(tmp):
    path = os.path.join(tmp, "q.qcow2")
    try:
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, "64M"], check=True)
        with open(path, "rb") as f:
            return f.read()
    except (OSError, subprocess.CalledProcessError):
        return b"\0" * (1 << 20)


def set_quota(c, **limits):
    r = c["admin"].put("/v1/projects/%s/quota" % c["project"], limits)
    assert r.status_code == 200, r.text
    for k, v in limits.items():
        assert r.json()["limits"][k] == v, r.json()
    return r.json()


def race(c, flavor, count=None):
    """THREADS creates at once; returns the answers in thread order."""
    token = c["member"].token
    base = c["nubod"].base
    barrier = threading.Barrier(THREADS)
    answers = [None] * THREADS
    tag = uuid.uuid4().hex[:6]

    def one(i):
        client = Client(base, token)  # one connection per thread
        body = {"name": "race-%s-%02d" % (tag, i), "flavor": flavor, "image": c["image"]}
        if count:
            body["count"] = count
        barrier.wait()
        try:
            answers[i] = client.post("/v1/instances", body)
        except Exception as e:  # noqa: BLE001 - reported below
            answers[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a create hung"
    for i, a in enumerate(answers):
        assert not isinstance(a, Exception), "thread %d: %r" % (i, a)
    return answers


def check_outcome(c, answers, want_ok, limit_word, per_request=1):
    ok = [a for a in answers if a.status_code == 202]
    refused = [a for a in answers if a.status_code != 202]
    assert len(ok) == want_ok, "%d succeeded, want %d: %s" % (
        len(ok), want_ok, sorted({(a.status_code, a.text[:200]) for a in refused}))
    for a in refused:
        p = assert_problem(a, 403, "quota exceeded")
        assert limit_word in p["detail"].lower(), p  # which limit
    created = []
    task_ids = []
    for a in ok:
        body = a.json()
        assert len(body["instances"]) == per_request, body
        assert len(body["task_ids"]) == per_request, body
        created += [i["id"] for i in body["instances"]]
        task_ids += body["task_ids"]
    assert len(set(created)) == want_ok * per_request

    member = c["member"]
    r = member.get("/v1/instances?limit=1000")
    assert r.status_code == 200, r.text
    listed = r.json()["instances"]
    assert sorted(i["id"] for i in listed) == sorted(created)
    for i in listed:
        # no hosts: error with a fault, or still building; never more than the quota
        assert i["status"] in ("building", "error"), i
        assert i["deleted_at"] is None, i
    r = member.get("/v1/tasks?limit=1000")
    assert r.status_code == 200, r.text
    assert sorted(t["id"] for t in r.json()["tasks"]) == sorted(task_ids)
    q = member.get("/v1/projects/%s/quota" % c["project"])
    assert q.status_code == 200, q.text
    return q.json()["usage"], listed


def test_instances_quota_race(cloud):
    set_quota(cloud, instances=5)
    answers = race(cloud, "q-1cpu")
    usage, listed = check_outcome(cloud, answers, 5, "instances")
    assert usage["instances"] == 5, usage
    assert usage["vcpus"] == 5, usage
    assert usage["ram_mib"] == 5 * 64 and usage["disk_gib"] == 5, usage
    # status error is fine: they count all the same
    assert {i["status"] for i in listed} <= {"building", "error"}


def test_vcpus_quota_race(cloud):
    set_quota(cloud, instances=100, vcpus=9)  # 2-vCPU flavor: 4 fit (8), a 5th would be 10
    answers = race(cloud, "q-2cpu")
    usage, _ = check_outcome(cloud, answers, 4, "vcpus")
    assert usage["vcpus"] == 8 and usage["instances"] == 4, usage


def test_count_is_all_or_nothing(cloud):
    """count=2 against room for 5: two requests fit (4), the third would
    overshoot by one and creates nothing."""
    set_quota(cloud, instances=5)
    answers = race(cloud, "q-1cpu", count=2)
    usage, listed = check_outcome(cloud, answers, 2, "instances", per_request=2)
    assert usage["instances"] == 4, usage
    names = sorted(i["name"] for i in listed)
    assert all(n.endswith(("-1", "-2")) for n in names), names


def test_quota_freed_by_delete(cloud):
    """Deleting an instance gives its room back (once it is deleted), and a
    second race then fills exactly that room."""
    set_quota(cloud, instances=3)
    answers = race(cloud, "q-1cpu")
    check_outcome(cloud, answers, 3, "instances")
    member = cloud["member"]
    victim = [a for a in answers if a.status_code == 202][0].json()["instances"][0]["id"]
    r = member.delete("/v1/instances/%s" % victim)
    assert r.status_code == 202, r.text
    # without a host the delete has nothing to undo: wait until it is deleted
    deadline = time.time() + 30
    while time.time() < deadline:
        st = member.get("/v1/instances/%s" % victim)
        if st.status_code == 404 or st.json()["status"] == "deleted":
            break
        time.sleep(0.2)
    else:
        pytest.fail("the deleted instance never became deleted: %s" % st.text)
    answers = race(cloud, "q-1cpu")
    ok = [a for a in answers if a.status_code == 202]
    assert len(ok) == 1, [a.status_code for a in answers]
    for a in answers:
        if a.status_code != 202:
            assert_problem(a, 403, "quota exceeded")
    q = member.get("/v1/projects/%s/quota" % cloud["project"]).json()
    assert q["usage"]["instances"] == 3, q
