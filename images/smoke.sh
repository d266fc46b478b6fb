#!/bin/sh
# Smoke test of the nubo-tiny guest image with plain QEMU (TCG):
#   images/smoke.sh [OUTDIR]          (default OUTDIR: build/images)
#
# Builds the image if needed, boots it with a user-mode NIC (restrict=on: no
# traffic leaves QEMU) and a config drive, waits for NUBO-READY, checks the
# metadata, DHCP address and user-data output, hard-resets the VM and waits
# for the marker again, then sends system_powerdown over QMP and checks that
# QEMU exits. Prints PASS or FAIL (exit status 0 or 1).
# Env: SMOKE_TIMEOUT (seconds to wait for each marker, default 60),
#      SMOKE_KEEP=1 (keep the temporary directory with console.log).
set -eu

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
OUTDIR=${1:-$REPO_ROOT/build/images}
TIMEOUT=${SMOKE_TIMEOUT:-60}
NAME=nubo-tiny

"$SCRIPT_DIR/build-guest.sh" "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)

T=$(mktemp -d "${TMPDIR:-/tmp}/nubo-smoke.XXXXXX")
QPID=
cleanup() {
    if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then kill "$QPID" 2>/dev/null || :; fi
    if [ "${SMOKE_KEEP:-0}" = 1 ]; then echo "smoke: kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
    echo "smoke: FAIL: $*"
    if [ -f "$T/console.log" ]; then
        echo "---- console.log (last 40 lines)"
        tail -n 40 "$T/console.log" | tr -d '\r'
        echo "----"
    fi
    exit 1
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# Count of lines matching $1 in the console log.
count() {
    n=$(grep -c -e "$1" "$T/console.log" 2>/dev/null) || :
    echo "${n:-0}"
}

wait_for() { # PATTERN N -> waits until PATTERN appears N times
    i=0
    while [ "$(count "$1")" -lt "$2" ]; do
        kill -0 "$QPID" 2>/dev/null || fail "QEMU exited before '$1' (#$2)"
        i=$((i + 1))
        [ "$i" -le $((TIMEOUT * 10)) ] || fail "no '$1' (#$2) within ${TIMEOUT}s"
        sleep 0.1
    done
}

qmp() { # COMMAND
    python3 - "$T/qmp.sock" "$1" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
f = s.makefile("rw")
json.loads(f.readline())  # greeting
def cmd(name):
    f.write(json.dumps({"execute": name}) + "\n")
    f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r:
            return
        if "error" in r:
            sys.exit("QMP %s: %s" % (name, r["error"]))
cmd("qmp_capabilities")
cmd(sys.argv[2])
EOF
}

# ---- config drive (OpenStack layout, ISO9660 labelled config-2)
ID=5d1f0c9e-7a41-4b8e-9c2d-000000000042
HOST=smoke-vm
KEY="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAISmokeTestKey smoke@nubo"
mkdir -p "$T/cd/openstack/latest"
printf '{"uuid": "%s", "name": "smoke vm", "hostname": "%s", "launch_index": 0, "public_keys": {"smoke": "%s\\n"}, "meta": {"hostname": "wrong"}}\n' \
    "$ID" "$HOST" "$KEY" >"$T/cd/openstack/latest/meta_data.json"
cat >"$T/cd/openstack/latest/user_data" <<'EOF'
#!/bin/sh
echo "SMOKE-USERDATA host=$(hostname) keys=$(wc -l </root/.ssh/authorized_keys)"
# A background job that never ends must not delay the ready marker.
(while :; do sleep 1; done) &
EOF
genisoimage -quiet -V config-2 -r -J -o "$T/config.iso" "$T/cd"

qemu-img create -q -f qcow2 -F qcow2 -b "$OUTDIR/$NAME.qcow2" "$T/overlay.qcow2"

start=$(now)
qemu-system-x86_64 -accel tcg -m 256 -nographic -display none -monitor none \
    -kernel "$OUTDIR/$NAME.kernel" -initrd "$OUTDIR/$NAME.initrd" \
    -append "$(cat "$OUTDIR/$NAME.cmdline")" \
    -drive "file=$T/overlay.qcow2,if=virtio,format=qcow2" \
    -nic user,model=virtio-net-pci,restrict=on \
    -drive "file=$T/config.iso,if=virtio,format=raw,readonly=on" \
    -serial "file:$T/console.log" \
    -qmp "unix:$T/qmp.sock,server=on,wait=off" \
    </dev/null >"$T/qemu.out" 2>&1 &
QPID=$!

wait_for NUBO-READY 1
boot1=$(elapsed "$start")
line=$(grep NUBO-READY "$T/console.log" | tr -d '\r' | head -n 1)
echo "smoke: boot 1 ready in ${boot1}s: $line"
case "$line" in *"instance-id=$ID hostname=$HOST ip="*) ;; *) fail "marker lacks config drive metadata" ;; esac
case "$line" in *"ip=none"*) fail "no DHCP address" ;; *" ip="[0-9]*) ;; *) fail "bad ip field" ;; esac
grep -q "SMOKE-USERDATA host=$HOST keys=1" "$T/console.log" || fail "user-data output missing"

# ---- hard reset: the guest must boot again and print the marker again
start=$(now)
qmp system_reset || fail "QMP system_reset failed"
wait_for NUBO-READY 2
echo "smoke: boot 2 (after system_reset) ready in $(elapsed "$start")s"

# ---- ACPI power button: the guest must power off and QEMU exit
start=$(now)
qmp system_powerdown || fail "QMP system_powerdown failed"
i=0
while kill -0 "$QPID" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -le 150 ] || fail "QEMU still running 15s after system_powerdown"
    sleep 0.1
done
wait "$QPID" 2>/dev/null || :
QPID=
down=$(elapsed "$start")
grep -q 'power button, shutting down' "$T/console.log" || fail "no shutdown message on the console"
echo "smoke: QEMU exited ${down}s after system_powerdown"
[ "$(count NUBO-READY)" = 2 ] || fail "expected exactly 2 ready markers, got $(count NUBO-READY)"
echo "smoke: PASS"
