"""Volumes of the local backend on a real agent with real QEMU guests
(issue 14; docs/internals/storage.md): a volume hot-plugged into a running
nubo-tiny guest, which finds it by its serial and writes a pattern; hot-
unplugged; cold-attached to a stopped second guest, which reads the
pattern back when it boots, and sees the volume grow online.  Then the same through the controller's API
(one nubod, one agent): attach to a running instance, which writes; detach;
attach to a second instance, which reads."""
import time
import uuid

import cloudfix
from conftest import Deadline

# The guest looks for its disk by serial (sysfs; the tiny image has no
# udev, so /dev/disk/by-id/virtio-<serial> exists only in a udev guest).
FIND = """#!/bin/sh
( s=%(serial)s
  i=0
  while [ $i -lt 900 ]; do
    for b in /sys/block/vd*; do
      if [ "$(cat $b/serial 2>/dev/null)" = "$s" ]; then
        d=/dev/${b##*/}
        echo "VOL-SEEN $d"
        %(action)s
        exit 0
      fi
    done
    i=$((i + 1))
    sleep 0.2
  done
  echo VOL-NEVER ) &
"""
WRITE = 'echo "NUBO-PATTERN-$s" > $d && sync && echo VOL-WROTE'
# reads the pattern, then reports the disk's size (512-byte sectors)
# whenever it changes: the online extend
READ = ('echo "VOL-READ $(head -c 64 $d | head -n 1)"; n=$(cat $b/size); echo "VOL-SIZE $n"; '
        'j=0; while [ $j -lt 900 ]; do m=$(cat $b/size); '
        'if [ "$m" != "$n" ]; then echo "VOL-SIZE $m"; n=$m; fi; j=$((j + 1)); sleep 0.2; done')


def wait_console(api, ref, marker, timeout=120):
    deadline = Deadline(timeout)
    while True:
        text = api.console(ref)
        if marker in text:
            return text
        assert "VOL-NEVER" not in text, text[-2000:]
        if deadline.passed():
            raise AssertionError("no %r on %s's console after %s:\n%s"
                                 % (marker, ref, deadline, text[-2000:]))
        time.sleep(0.3)


def test_volume_hot_plug_write_unplug_and_read_in_another_guest(hostd):
    api = hostd.api
    vid = str(uuid.uuid4())
    serial = vid[:20]
    r = api.post("/v1/volumes", {"id": vid, "size_gib": 1})
    assert r.status == 201, r

    # hot-plug into a running guest, which writes
    api.create(name="writer", user_data=FIND % {"serial": serial, "action": WRITE})
    api.wait_ready("writer")
    t0 = time.monotonic()
    r = api.post("/v1/vms/writer/volumes", {"volume_id": vid})
    assert r.status == 200 and r.json["volumes"] == [vid], r
    text = wait_console(api, "writer", "VOL-WROTE")
    seen = time.monotonic() - t0
    assert "VOL-SEEN /dev/vd" in text, text[-2000:]
    print("attach to written in the guest: %.1f s" % seen)

    # a second guest cannot have it meanwhile; the volume cannot go
    api.create(name="reader", start=False,
               user_data=FIND % {"serial": serial, "action": READ})
    r = api.post("/v1/vms/reader/volumes", {"volume_id": vid})
    assert r.status == 409, r
    assert api.delete("/v1/volumes/" + vid).status == 409

    # hot-unplug: the guest releases the disk, QEMU drops it
    r = api.request("DELETE", "/v1/vms/writer/volumes/" + vid)
    assert r.status == 200 and r.json["volumes"] == [], r

    # cold attach to the stopped guest: it gets the disk when it starts
    r = api.post("/v1/vms/reader/volumes", {"volume_id": vid})
    assert r.status == 200 and r.json["volumes"] == [vid], r
    r = api.post("/v1/vms/reader/start")
    assert r.status == 200, r
    text = wait_console(api, "reader", "VOL-READ")
    assert "VOL-READ NUBO-PATTERN-%s" % serial in text, text[-2000:]
    assert "VOL-SIZE %d" % (2 << 20) in text, text[-2000:]   # 1 GiB in sectors

    # extend online: the running guest sees the new size
    r = api.post("/v1/volumes/%s/resize" % vid, {"size_gib": 2})
    assert r.status == 200 and r.json["size_bytes"] == 2 << 30, r
    wait_console(api, "reader", "VOL-SIZE %d" % (4 << 20))

    # the writer kept running without it, and the volume goes once detached
    assert api.vm("writer")["state"] == "running"
    assert api.delete("/v1/vms/reader").status == 204
    assert api.delete("/v1/volumes/" + vid).status == 204


def test_attach_through_the_controller(tmp_path):
    with cloudfix.one_host_cloud(str(tmp_path), "host-v") as (nubod, host):
        admin, tenant = cloudfix.tiny_cloud(nubod)
        r = tenant.post("/v1/volumes", {"name": "data", "size_gib": 1})
        assert r.status_code == 201, r.text
        vid = r.json()["id"]
        serial = vid[:20]

        def boot(name, action):
            r = tenant.post("/v1/instances", {
                "name": name, "flavor": "tiny", "image": "nubo-tiny",
                "user_data": FIND % {"serial": serial, "action": action}})
            assert r.status_code == 202, r.text
            iid = r.json()["instances"][0]["id"]
            cloudfix.wait_status(tenant, iid, "running")
            cloudfix.wait_ready(tenant, iid)
            return iid

        def volume_is(status):
            return cloudfix.wait_for(
                "volume " + status,
                lambda: (lambda v: v if v["status"] == status else None)(
                    tenant.get("/v1/volumes/data").json()))

        def guest_says(iid, marker):
            return cloudfix.wait_for(
                "%s on %s" % (marker, iid),
                lambda: (lambda t: t if marker in t or "VOL-NEVER" in t else None)(
                    cloudfix.console(tenant, iid)), timeout=120, step=0.5)

        writer = boot("writer", WRITE)
        t0 = time.monotonic()
        r = tenant.post("/v1/volumes/data/actions", {"action": "attach", "instance": "writer"})
        assert r.status_code == 200 and r.json()["status"] == "attaching", r.text
        v = volume_is("in-use")
        assert v["attached_to"] == writer and v["host_id"]
        text = guest_says(writer, "VOL-WROTE")
        assert "VOL-SEEN /dev/vd" in text and "VOL-WROTE" in text, text[-2000:]
        print("API attach to written in the guest: %.1f s" % (time.monotonic() - t0))

        r = tenant.post("/v1/volumes/data/actions", {"action": "detach"})
        assert r.status_code == 200 and r.json()["status"] == "detaching", r.text
        assert volume_is("available")["attached_to"] is None
        vm = host.vms()["nubo-" + writer]
        assert vm["volumes"] == [] and vm["state"] == "running"

        reader = boot("reader", READ)
        r = tenant.post("/v1/volumes/data/actions", {"action": "attach", "instance": reader})
        assert r.status_code == 200, r.text
        assert volume_is("in-use")["attached_to"] == reader
        text = guest_says(reader, "VOL-READ")
        assert "VOL-READ NUBO-PATTERN-%s" % serial in text, text[-2000:]

        # an instance's delete frees its volume; a placed volume's delete
        # removes its file on the host
        for iid in (writer, reader):
            assert tenant.delete("/v1/instances/" + iid).status_code == 202
        for iid in (writer, reader):
            cloudfix.wait_status(tenant, iid, "deleted")
        volume_is("available")
        assert tenant.delete("/v1/volumes/data").status_code == 204
        cloudfix.wait_for("volume gone",
                          lambda: tenant.get("/v1/volumes/data").status_code == 404)
        assert host.api.get("/v1/volumes").json["volumes"] == []
