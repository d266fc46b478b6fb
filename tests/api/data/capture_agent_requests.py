#!/usr/bin/python3
"""Records what a nubo-hostd sends its controller, for test_upgrade.py's
replay: its registration, its heartbeats (one with a VM) and a metrics
batch, as JSON, with the secrets replaced by placeholders; and what its
controller answers a registration and a heartbeat that carry "protocol": 2
(a newer agent's).

    cd <a checkout of the agent to record> && scripts/build.sh
    NUBO_BUILD=build NUBO_IMAGES=... /usr/bin/python3 \\
        <this tree>/tests/api/data/capture_agent_requests.py OUT.json

It starts that checkout's nubod and nubo-hostd (--driver fake) from the
current directory's tests/api (conftest.py, test_hosts.py), puts a
recording proxy between them, creates one instance so that a heartbeat
lists a VM, and writes every request the agent made: method, path (the host
id as {host_id}) and body (the join token as {join_token}; the bearer
token, a header, is not kept).  See tests/api/data/README.md.
"""
import http.server
import json
import os
import sys
import threading
import time

import requests

sys.path.insert(0, os.path.join(os.getcwd(), "tests", "api"))
from conftest import Nubod, free_port, make_tenant  # noqa: E402
from test_hosts import FakeHostd, seed_tiny, wait_for  # noqa: E402


def main(out_path):
    import tempfile
    tmp = tempfile.mkdtemp(prefix="capture-agent-")
    nubod = Nubod(tmp).start()
    seen = []

    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hdrs = {k: v for k, v in self.headers.items()
                    if k.lower() in ("content-type", "authorization")}
            r = requests.post(nubod.base + self.path, data=body, headers=hdrs, timeout=30)
            seen.append({"method": "POST", "path": self.path, "body": json.loads(body),
                         "status": r.status_code, "answer": r.json() if r.content else None,
                         "token": hdrs.get("Authorization", "Bearer ").split(" ", 1)[1]})
            self.send_response(r.status_code)
            self.send_header("Content-Type", r.headers.get("Content-Type", "application/json"))
            self.send_header("Content-Length", str(len(r.content)))
            self.end_headers()
            self.wfile.write(r.content)

        def log_message(self, *a):
            pass

    port = free_port()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Proxy)
    threading.Thread(target=srv.serve_forever, daemon=True).start()

    class Via(object):
        base = "http://127.0.0.1:%d" % port
        dir = nubod.dir
    hostd = FakeHostd(tmp, Via, "old-agent", heartbeat_ms=500).start()
    admin = nubod.admin()
    try:
        wait_for("the agent's registration",
                 lambda: any(s["path"] == "/v1/hosts/register" and s["status"] == 201
                             for s in seen))
        seed_tiny(admin)
        tenant = make_tenant(nubod, admin)
        r = tenant.post("/v1/instances", {"name": "vm1", "flavor": "tiny", "image": "nubo-tiny"})
        assert r.status_code == 202, r.text
        wait_for("a heartbeat with a running VM", lambda: any(
            s["path"].endswith("/heartbeat") and
            [v for v in s["body"].get("vms", []) if v["state"] == "running"] for s in seen),
            timeout=60)
        wait_for("a metrics batch", lambda: any(s["path"].endswith("/metrics") for s in seen),
                 timeout=60)
        time.sleep(1)
        # what this (old) controller answers a newer agent, which sends
        # "protocol": the agent under test must recognise it
        reg = next(s for s in seen if s["path"] == "/v1/hosts/register" and s["status"] == 201)
        hb = next(s for s in seen if s["path"].endswith("/heartbeat"))
        old = {}
        for kind, path, body in (("register", reg["path"], reg["body"]),
                                 ("heartbeat", hb["path"], hb["body"])):
            r = requests.post(nubod.base + path, json=dict(body, protocol=2), timeout=30,
                              headers={"Authorization": "Bearer " + hb["token"]})
            old[kind] = {"status": r.status_code, "content_type": r.headers["Content-Type"],
                         "answer": r.json()}
    finally:
        hostd.stop()
        nubod.stop()
        srv.shutdown()
    reg = next(s for s in seen if s["path"] == "/v1/hosts/register" and s["status"] == 201)
    host_id = reg["answer"]["host_id"]
    keep, kinds = [], set()
    for s in seen:
        kind = s["path"].rsplit("/", 1)[1]
        has_vm = bool(s["body"].get("vms"))
        if s["status"] >= 300 or (kind, has_vm) in kinds:
            continue
        kinds.add((kind, has_vm))
        body = dict(s["body"])
        if "join_token" in body:
            body["join_token"] = "{join_token}"
        keep.append({"method": s["method"], "path": s["path"].replace(host_id, "{host_id}"),
                     "body": body, "status": s["status"]})
    for o in old.values():
        o["answer"]["instance"] = o["answer"]["instance"].replace(host_id, "{host_id}")
    with open(out_path, "w") as f:
        json.dump({"agent": keep, "controller_answers_to_protocol_2": old}, f, indent=1,
                  sort_keys=True)
        f.write("\n")
    print("wrote %d requests to %s" % (len(keep), out_path))


if __name__ == "__main__":
    main(sys.argv[1])
