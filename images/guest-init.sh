#!/bin/busybox sh
# nubo guest init: /sbin/init of the nubo-tiny image (PID 1, busybox sh).
#
#   /sbin/init                          boot (as PID 1)
#   /sbin/init shutdown ACTION [WHY]    ACTION = poweroff | reboot | halt
#                                       (used by the ACPI power-button handler)
#
# Boot: mount the API filesystems, load modules, bring eth0 up with DHCP,
# read instance metadata (config drive "config-2", else EC2-style HTTP),
# set the hostname, install SSH keys, run a "#!" user-data script, print
#   NUBO-READY instance-id=<id|none> hostname=<name> ip=<ip|none>
# on the console, then stay alive reaping children. A power-button press
# (QEMU system_powerdown) powers the guest off cleanly.
#
# Do not use "set -e" here: PID 1 must never exit.

PATH=/sbin:/bin:/usr/sbin:/usr/bin
HOME=/root
export PATH HOME
umask 022

CONSOLE=/dev/console
RUN=/run/nubo
MD=$RUN/metadata
STATE=/var/lib/nubo
MDS_URL=http://169.254.169.254/latest
DEFAULT_HOSTNAME=nubo-guest

log() {
    # Console output of PID 1 is the serial console; shutdown helpers
    # spawned by acpid write to /dev/console explicitly.
    if [ -c "$CONSOLE" ]; then
        echo "nubo-guest: $*" >"$CONSOLE" 2>/dev/null || echo "nubo-guest: $*"
    else
        echo "nubo-guest: $*"
    fi
}

is_mounted() { grep -q "^[^ ]* $1 " /proc/mounts 2>/dev/null; }

# ---------------------------------------------------------------- shutdown

do_shutdown() {
    action=$1
    why=${2:-$1 requested}
    mkdir -p "$RUN" 2>/dev/null
    # Only the first request proceeds (e.g. power button pressed twice).
    mkdir "$RUN/shutdown" 2>/dev/null || return 0
    case "$action" in
        reboot) log "$why, rebooting" ;;
        halt) log "$why, halting" ;;
        *) action=poweroff; log "$why, shutting down" ;;
    esac
    # Stop every other process: TERM, up to 1 s grace, then KILL.
    # (kill -1 spares PID 1 and the caller.)
    kill -TERM -1 2>/dev/null
    n=0
    while [ "$n" -lt 10 ]; do
        others=0
        for p in /proc/[0-9]*; do
            pid=${p#/proc/}
            [ "$pid" = 1 ] || [ "$pid" = "$$" ] && continue
            # Kernel threads and zombies have an empty cmdline.
            c=
            read -r c <"$p/cmdline" 2>/dev/null
            [ -n "$c" ] && { others=1; break; }
        done
        [ "$others" = 0 ] && break
        sleep 0.1
        n=$((n + 1))
    done
    kill -KILL -1 2>/dev/null
    sleep 0.1
    sync
    # Only the root filesystem holds data (the rest is tmpfs/devtmpfs/ro).
    umount "$RUN/config-drive" 2>/dev/null
    if mount -o remount,ro / 2>/dev/null; then
        log "root filesystem remounted read-only, $action now"
    else
        log "warning: cannot remount / read-only, $action now"
    fi
    sync
    case "$action" in
        reboot) reboot -f ;;
        halt) halt -f ;;
        *) poweroff -f ;;
    esac
}

if [ "${1:-}" = shutdown ]; then
    # acpid runs us with its log file as stdout/stderr: let go of it so
    # the root filesystem can be remounted read-only.
    exec </dev/null >"$CONSOLE" 2>&1
    if [ -e "$RUN/idle" ]; then
        # PID 1 has finished booting: let it shut down (its idle loop
        # would otherwise keep starting processes while we stop them).
        echo "${3:-}" >"$RUN/shutdown-why"
        case "${2:-poweroff}" in
            reboot) kill -TERM 1 ;;
            halt) kill -USR1 1 ;;
            *) kill -USR2 1 ;;
        esac
        exit 0
    fi
    # Still booting (PID 1 may be running a user-data script that never
    # ends): shut down from here.
    do_shutdown "${2:-poweroff}" "${3:-}"
    exit 0
fi

# ---------------------------------------------------------------- basics

mount_basics() {
    [ -e /proc/mounts ] || mount -t proc -o nosuid,nodev,noexec proc /proc
    is_mounted /sys || mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
    is_mounted /dev || mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev
    mkdir -p /dev/pts /dev/shm
    is_mounted /dev/pts || mount -t devpts -o nosuid,noexec,gid=5,mode=620,ptmxmode=000 devpts /dev/pts
    is_mounted /dev/shm || mount -t tmpfs -o nosuid,nodev tmpfs /dev/shm
    is_mounted /run || mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /run
    is_mounted /tmp || mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /tmp
    # The initramfs mounts the root read-write; honour "ro" too.
    grep -q '^[^ ]* / [^ ]* rw' /proc/mounts || mount -o remount,rw / 2>/dev/null
    [ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
    mkdir -p "$RUN" "$MD" "$STATE" /var/log /var/run 2>/dev/null
}

setup_applets() {
    # The image ships the applet symlinks; recreate them if missing.
    [ -e /bin/mount ] && [ -e /usr/bin/wget ] && return 0
    /bin/busybox --install -s
}

load_modules() {
    kver=$(uname -r)
    list=/lib/modules/$kver/nubo-modules
    [ -r "$list" ] || { log "no module list for kernel $kver"; return 0; }
    while read -r m; do
        case "$m" in ''|'#'*) continue ;; esac
        name=${m##*/}
        name=${name%.ko}
        [ -d "/sys/module/$(echo "$name" | tr - _)" ] && continue
        insmod "/lib/modules/$kver/$m" 2>/dev/null || log "warning: could not load module $name"
    done <"$list"
}

# ---------------------------------------------------------------- network

IP=
net_up() {
    ip link set lo up 2>/dev/null
    if [ ! -e /sys/class/net/eth0 ]; then
        log "no network interface"
        return 1
    fi
    ip link set eth0 up
    # Up to 3 discovers 1 s apart; udhcpc stays in the background
    # afterwards to renew the lease (or to keep trying).
    udhcpc -i eth0 -b -t 3 -T 1 -A 5 -p /run/udhcpc.eth0.pid \
        -s /usr/share/udhcpc/default.script >/run/udhcpc.log 2>&1
    IP=$(ip -4 addr show dev eth0 2>/dev/null | sed -n 's/^ *inet \([0-9.]*\)\/.*/\1/p' | head -n 1)
    if [ -n "$IP" ]; then
        gw=$(ip -4 route show default 2>/dev/null | sed -n 's/^default via \([0-9.]*\).*/\1/p' | head -n 1)
        log "eth0 has address $IP (gateway ${gw:-none})"
        return 0
    fi
    log "eth0: no DHCP lease"
    return 1
}

# ---------------------------------------------------------------- metadata

# Minimal JSON helpers for the flat keys of OpenStack meta_data.json.
# String values must not contain escaped quotes; \/ and \n are unescaped.
json_unescape() { sed -e 's/\\\//\//g' -e 's/\\n/\n/g' -e 's/\\t/ /g' -e 's/\\\\/\\/g'; }

# Top-level "key": "string" pairs, one per line (nested objects and
# arrays such as "public_keys", "keys" and "meta" are removed first).
json_top_pairs() {
    tr -d '\r\n' <"$1" | sed -e 's/^[^{]*{//' -e 's/}[^}]*$//' \
        -e ':a' -e 's/{[^{}]*}/""/g' -e 'ta' \
        -e ':b' -e 's/\[[^][]*\]/""/g' -e 'tb' |
        grep -o '"[^"]*"[[:space:]]*:[[:space:]]*"[^"]*"'
}

json_get() { # FILE KEY
    json_top_pairs "$1" | sed -n "s/^\"$2\"[[:space:]]*:[[:space:]]*\"\(.*\)\"\$/\1/p" |
        head -n 1 | json_unescape
}

json_public_keys() { # FILE -> one key per line
    flat=$(tr -d '\r\n' <"$1")
    {
        printf '%s' "$flat" | grep -o '"public_keys"[[:space:]]*:[[:space:]]*{[^}]*}' | head -n 1 |
            sed -e 's/^[^{]*{//' -e 's/}$//' |
            grep -o '"[^"]*"[[:space:]]*:[[:space:]]*"[^"]*"' |
            sed 's/^"[^"]*"[[:space:]]*:[[:space:]]*"\(.*\)"$/\1/'
        # OpenStack also lists keys as "keys": [{"data": "ssh-...", ...}]
        printf '%s' "$flat" | grep -o '"data"[[:space:]]*:[[:space:]]*"ssh-[^"]*"' |
            sed 's/^"data"[[:space:]]*:[[:space:]]*"\(.*\)"$/\1/'
    } | json_unescape | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' | grep -v '^$' | awk '!seen[$0]++'
}

MD_SOURCE=none
MD_ID=
MD_HOST=
find_config_drive() {
    dev=
    for label in config-2 CONFIG-2; do
        dev=$(findfs "LABEL=$label" 2>/dev/null) && [ -b "$dev" ] && { echo "$dev"; return 0; }
    done
    # Fallback: probe every non-root disk for the OpenStack layout.
    rootdev=$(sed -n 's/^\([^ ]*\) \/ .*/\1/p' /proc/mounts | head -n 1)
    for dev in /dev/vd[a-z] /dev/sr[0-9]; do
        [ -b "$dev" ] && [ "$dev" != "$rootdev" ] || continue
        if read_config_drive "$dev" probe; then echo "$dev"; return 0; fi
    done
    return 1
}

read_config_drive() { # DEV [probe]
    mnt=$RUN/config-drive
    mkdir -p "$mnt"
    mounted=no
    for t in iso9660 vfat; do
        if mount -t "$t" -o ro "$1" "$mnt" 2>/dev/null; then mounted=yes; break; fi
    done
    [ "$mounted" = yes ] || return 1
    ok=1
    if [ -f "$mnt/openstack/latest/meta_data.json" ]; then
        ok=0
        if [ "${2:-}" != probe ]; then
            cp "$mnt/openstack/latest/meta_data.json" "$MD/meta_data.json"
            [ -f "$mnt/openstack/latest/user_data" ] && cp "$mnt/openstack/latest/user_data" "$MD/user_data"
        fi
    fi
    umount "$mnt" 2>/dev/null
    return $ok
}

metadata_config_drive() {
    dev=$(find_config_drive) || return 1
    read_config_drive "$dev" || { log "config drive $dev has no openstack/latest/meta_data.json"; return 1; }
    MD_SOURCE="config-drive:$dev"
    f=$MD/meta_data.json
    MD_ID=$(json_get "$f" uuid)
    MD_HOST=$(json_get "$f" hostname)
    [ -n "$MD_HOST" ] || MD_HOST=$(json_get "$f" name)
    json_public_keys "$f" >"$MD/public_keys"
    log "metadata from config drive $dev"
    return 0
}

mds_get() { # PATH [OUTFILE] [SECONDS]
    # Debian's busybox 1.35 is built without FEATURE_WGET_TIMEOUT and its
    # "wget -T" crashes (SIGSEGV): bound each request with timeout(1) instead.
    timeout "${3:-3}" wget -q -O "${2:--}" "$MDS_URL/$1" 2>/dev/null
}

metadata_http() {
    [ -n "$IP" ] || return 1
    # A missing service costs at most 2 s (this first request).
    id=$(mds_get meta-data/instance-id - 2) || id=
    if [ -z "$id" ]; then
        log "no metadata service at $MDS_URL"
        return 1
    fi
    MD_SOURCE=http
    MD_ID=$id
    MD_HOST=$(mds_get meta-data/hostname) || MD_HOST=
    mds_get meta-data/local-ipv4 >"$MD/local-ipv4" || :
    mds_get meta-data/public-keys/0/openssh-key >"$MD/public_keys" || :
    mds_get user-data "$MD/user_data" || rm -f "$MD/user_data"
    log "metadata from $MDS_URL"
    return 0
}

sanitize_hostname() {
    printf '%s' "$1" | tr ' _' '--' | tr -cd 'A-Za-z0-9.-' | sed -e 's/^[.-]*//' | cut -c 1-63
}

apply_metadata() {
    HOSTNAME=$(sanitize_hostname "${MD_HOST:-}")
    [ -n "$HOSTNAME" ] || HOSTNAME=$DEFAULT_HOSTNAME
    hostname "$HOSTNAME"
    echo "$HOSTNAME" >/etc/hostname
    printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
        "$HOSTNAME" >/etc/hosts
    INSTANCE_ID=$(printf '%s' "${MD_ID:-}" | tr -cd 'A-Za-z0-9._:-')
    [ -n "$INSTANCE_ID" ] || INSTANCE_ID=none

    if [ -s "$MD/public_keys" ]; then
        mkdir -p /root/.ssh
        chmod 700 /root/.ssh
        grep -v '^[[:space:]]*$' "$MD/public_keys" >/root/.ssh/authorized_keys
        chmod 600 /root/.ssh/authorized_keys
        log "installed $(wc -l </root/.ssh/authorized_keys) public key(s) for root"
    fi
}

run_user_data() {
    f=$MD/user_data
    if [ ! -s "$f" ]; then
        log "no user-data"
        return 0
    fi
    if [ "$(head -c 2 "$f")" != '#!' ]; then
        log "user-data does not start with #!, ignored"
        return 0
    fi
    cp "$f" "$STATE/user-data"
    chmod 700 "$STATE/user-data"
    log "running user-data"
    # Foreground, but anything it starts in the background keeps running
    # (re-parented to PID 1, which reaps it).
    (cd / && exec "$STATE/user-data") </dev/null >"$CONSOLE" 2>&1
    rc=$?
    log "user-data exited with status $rc"
}

have_power_button() {
    for n in /sys/class/input/event*/device/name; do
        e=${n#/sys/class/input/}
        e=${e%%/*}
        [ -r "$n" ] && grep -q 'Power Button' "$n" && [ -c "/dev/input/$e" ] && return 0
    done
    return 1
}

start_acpid() {
    # The ACPI "button" and "evdev" modules are in the module list; acpid
    # opens /dev/input/event0..N once at start, so wait for the button.
    i=0
    while ! have_power_button && [ "$i" -lt 20 ]; do sleep 0.05; i=$((i + 1)); done
    if ! have_power_button; then
        log "warning: no ACPI power button input device, system_powerdown will not work"
        return 1
    fi
    acpid -c /etc/acpi -a /etc/acpid.conf -l /run/acpid.log -p /run/acpid.pid
}

# ---------------------------------------------------------------- main

mount_basics
setup_applets
echo >"$CONSOLE" # end whatever the firmware left on the current line
log "starting (kernel $(uname -r))"
hostname "$DEFAULT_HOSTNAME"
load_modules
# From here on the power button, "poweroff", "reboot" and "halt" work.
shutdown_why() { # ACTION -> reason left by the power-button handler, if any
    w=$(cat "$RUN/shutdown-why" 2>/dev/null)
    echo "${w:-$1 requested}"
}
trap 'do_shutdown poweroff "$(shutdown_why poweroff)"' USR2
trap 'do_shutdown reboot "$(shutdown_why reboot)"' TERM
trap 'do_shutdown halt "$(shutdown_why halt)"' USR1
start_acpid
net_up
rm -f "$MD"/* 2>/dev/null
metadata_config_drive || metadata_http || log "no instance metadata, using defaults"
apply_metadata
run_user_data

if [ -d "$RUN/shutdown" ]; then
    # The power button was pressed while booting: no ready marker.
    :
else
    up=$(cut -d ' ' -f 1 /proc/uptime)
    log "ready after ${up}s (metadata: $MD_SOURCE)"
    echo "NUBO-READY instance-id=$INSTANCE_ID hostname=$HOSTNAME ip=${IP:-none}" >"$CONSOLE"
    echo "$INSTANCE_ID $HOSTNAME ${IP:-none}" >"$RUN/ready"
fi

if grep -qw nubo.shell /proc/cmdline; then
    (while :; do setsid cttyhack sh -l; sleep 1; done) &
fi

# Stay alive forever; "wait" reaps every exited child, including orphans
# re-parented to PID 1, and returns early for the traps above. stderr goes
# away so that the shell's "Terminated" job notices stay off the console.
exec 2>/dev/null </dev/null
: >"$RUN/idle"
while :; do
    sleep 3600 &
    wait $!
done
