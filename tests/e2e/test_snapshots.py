"""Volume snapshots end to end (issue 14; docs/internals/storage.md,
Snapshots): through the controller's API on one real agent with real
QEMU guests, a snapshot of a volume attached to a running guest holds
what the guest wrote before it and not what it wrote after; a volume
made from the snapshot shows that data in a second guest."""
import os
import subprocess
import time

import cloudfix

# The writer finds the data disk by serial, writes pattern A and syncs,
# then waits for a second disk (the signal volume, attached once the
# snapshot is taken) and writes pattern B over A.
WRITER = """#!/bin/sh
( find() {
    i=0
    while [ $i -lt 1500 ]; do
      for b in /sys/block/vd*; do
        if [ "$(cat $b/serial 2>/dev/null)" = "$1" ]; then
          echo /dev/${b##*/}; return 0
        fi
      done
      i=$((i + 1)); sleep 0.2
    done
    return 1
  }
  d=$(find %(data)s) || { echo VOL-NEVER; exit 0; }
  echo "NUBO-BEFORE-%(data)s" > $d && sync && echo "VOL-WROTE-A $d"
  find %(signal)s >/dev/null || { echo VOL-NEVER; exit 0; }
  echo "NUBO-AFTER-%(data)s" > $d && sync && echo VOL-WROTE-B ) &
"""
READER = """#!/bin/sh
( i=0
  while [ $i -lt 1500 ]; do
    for b in /sys/block/vd*; do
      if [ "$(cat $b/serial 2>/dev/null)" = "%(serial)s" ]; then
        echo "VOL-READ $(head -c 64 /dev/${b##*/} | head -n 1)"; exit 0
      fi
    done
    i=$((i + 1)); sleep 0.2
  done
  echo VOL-NEVER ) &
"""


def test_snapshot_of_an_attached_volume_and_a_volume_from_it(tmp_path):
    with cloudfix.one_host_cloud(str(tmp_path), "host-s") as (nubod, host):
        admin, tenant = cloudfix.tiny_cloud(nubod)
        data = tenant.post("/v1/volumes", {"name": "data", "size_gib": 1}).json()
        signal = tenant.post("/v1/volumes", {"name": "signal", "size_gib": 1}).json()
        ds = data["id"][:20]

        def boot(name, user_data):
            r = tenant.post("/v1/instances", {"name": name, "flavor": "tiny",
                                              "image": "nubo-tiny", "user_data": user_data})
            assert r.status_code == 202, r.text
            iid = r.json()["instances"][0]["id"]
            cloudfix.wait_status(tenant, iid, "running")
            cloudfix.wait_ready(tenant, iid)
            return iid

        def status_is(kind, ref, status):
            return cloudfix.wait_for(
                "%s %s" % (kind, status),
                lambda: (lambda v: v if v["status"] == status else None)(
                    tenant.get("/v1/%s/%s" % (kind, ref)).json()), timeout=60)

        def guest_says(iid, marker):
            return cloudfix.wait_for(
                "%s on %s" % (marker, iid),
                lambda: (lambda t: t if marker in t or "VOL-NEVER" in t else None)(
                    cloudfix.console(tenant, iid)), timeout=180, step=0.5)

        writer = boot("writer", WRITER % {"data": ds, "signal": signal["id"][:20]})
        assert tenant.post("/v1/volumes/data/actions",
                           {"action": "attach", "instance": writer}).status_code == 200
        status_is("volumes", "data", "in-use")
        text = guest_says(writer, "VOL-WROTE-A")
        assert "VOL-WROTE-A /dev/vd" in text, text[-2000:]

        # the snapshot, taken while the guest runs with the disk attached
        t0 = time.monotonic()
        r = tenant.post("/v1/snapshots", {"volume_id": "data", "name": "before"})
        assert r.status_code == 201 and r.json()["status"] == "creating", r.text
        snap = status_is("snapshots", "before", "available")
        print("snapshot of an attached volume, API to available: %.2f s"
              % (time.monotonic() - t0))
        assert snap["size_gib"] == 1 and snap["host_id"]

        # the guest writes over the pattern after the snapshot
        assert tenant.post("/v1/volumes/signal/actions",
                           {"action": "attach", "instance": writer}).status_code == 200
        text = guest_says(writer, "VOL-WROTE-B")
        assert "VOL-WROTE-B" in text, text[-2000:]

        # a copy of the volume while the guest runs with it (through a
        # temporary snapshot): pattern B, and no snapshot left behind
        r = tenant.post("/v1/volumes", {"name": "clone", "source": {"volume": "data"}})
        assert r.status_code == 201 and r.json()["status"] == "creating", r.text
        clone = status_is("volumes", "clone", "available")

        # a volume from the snapshot, read by a second guest: pattern A
        r = tenant.post("/v1/volumes", {"name": "copy", "source": {"snapshot": "before"}})
        assert r.status_code == 201 and r.json()["status"] == "creating", r.text
        copy = status_is("volumes", "copy", "available")
        reader = boot("reader", READER % {"serial": copy["id"][:20]})
        assert tenant.post("/v1/volumes/copy/actions",
                           {"action": "attach", "instance": reader}).status_code == 200
        status_is("volumes", "copy", "in-use")
        text = guest_says(reader, "VOL-READ")
        assert "VOL-READ NUBO-BEFORE-%s" % ds in text, text[-2000:]

        # cleanup through the API: nothing left on the host
        for iid in (writer, reader):
            assert tenant.delete("/v1/instances/" + iid).status_code == 202
        for iid in (writer, reader):
            cloudfix.wait_status(tenant, iid, "deleted")
        status_is("volumes", "data", "available")
        # the volume itself moved on: its file holds pattern B (read on the
        # host once QEMU let go of it, which flushed its qcow2 metadata)
        path = os.path.join(host.state, "volumes", data["id"] + ".qcow2")
        out = subprocess.run(["qemu-io", "-r", "-f", "qcow2", "-c", "read -v 0 64", path],
                             capture_output=True, text=True, check=True).stdout
        raw = "".join(line[60:] for line in out.splitlines() if line.startswith("0000"))
        assert "NUBO.AFTER" in raw and "BEFORE" not in raw, out
        cpath = os.path.join(host.state, "volumes", clone["id"] + ".qcow2")
        out = subprocess.run(["qemu-io", "-r", "-f", "qcow2", "-c", "read -v 0 64", cpath],
                             capture_output=True, text=True, check=True).stdout
        raw = "".join(line[60:] for line in out.splitlines() if line.startswith("0000"))
        assert "NUBO.AFTER" in raw, out
        snaps = subprocess.run(["qemu-img", "snapshot", "-l", path], capture_output=True,
                               text=True, check=True).stdout
        assert clone["id"] not in snaps and snap["id"] in snaps, snaps
        r = tenant.delete("/v1/volumes/data")
        assert r.status_code == 409 and "snapshot" in r.json()["detail"], r.text
        assert tenant.delete("/v1/snapshots/before").status_code == 204
        cloudfix.wait_for("snapshot gone",
                          lambda: tenant.get("/v1/snapshots/before").status_code == 404)
        for name in ("data", "signal", "copy", "clone"):
            status_is("volumes", name, "available")
            assert tenant.delete("/v1/volumes/" + name).status_code == 204
        cloudfix.wait_for("volumes gone",
                          lambda: host.api.get("/v1/volumes").json["volumes"] == [],
                          timeout=60)
