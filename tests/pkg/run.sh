#!/bin/sh
# The Debian packages, installed and run as a new operator would: builds
# them (scripts/package), installs them with apt-get into a clean Debian 12
# system (debootstrap minbase + systemd), boots that system with
# systemd-nspawn (its own network namespace: nothing it listens on meets the
# machine's own services), and checks under the real systemd that
#   - nubod.service and nubo-hostd.service are active (Type=notify: they
#     said READY=1), the agent registered with the controller and is up;
#   - /v1/health answers, the portal is served from /usr/share/nubo/web;
#   - the CLI from nubo-cli logs in as admin and lists the host; its bash
#     completion, installed with it, completes;
#   - the controller runs as the user nubo, the agent's socket is root:nubo 0660;
#   - a kill -9 of nubod is followed by systemd restarting it (Restart=).
# The debootstrapped system is cached as /var/cache/nubo/bookworm-systemd.tar
# (rebuilt when missing); each run unpacks a fresh copy and removes it.
# Needs root, debootstrap and systemd-container (scripts/deps.sh).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PKG=$ROOT/build/pkg
# outside the checkout: a clean checkout on this machine reuses it
CACHE=${NUBO_PKG_CACHE:-/var/cache/nubo/bookworm-systemd.tar}
MIRROR=${NUBO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
T=$PKG/test-root-$$
LOG=$PKG/test.log
NSPAWN_PID=""
die() { echo "pkg test: $*" >&2; exit 1; }
step() { echo "pkg test: $*"; }

cleanup() {
    if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
        kill "$NSPAWN_PID" 2>/dev/null || true  # nspawn powers the container off
        i=0
        while kill -0 "$NSPAWN_PID" 2>/dev/null && [ $i -lt 60 ]; do sleep 0.5; i=$((i + 1)); done
        kill -9 "$NSPAWN_PID" 2>/dev/null || true
    fi
    case "$T" in */test-root-*) rm -rf "$T" ;; esac
}
trap cleanup EXIT INT TERM

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, systemd-nspawn)"
for c in debootstrap systemd-nspawn nsenter; do
    command -v "$c" >/dev/null 2>&1 || die "$c is missing (scripts/deps.sh installs it)"
done
mkdir -p "$PKG"
: >"$LOG"

step "building the packages"
"$ROOT/scripts/package" "$PKG" >>"$LOG" 2>&1 || die "scripts/package failed (see $LOG)"

if [ ! -f "$CACHE" ]; then
    step "a clean Debian 12 with systemd (debootstrap, once; cached in $CACHE)"
    mkdir -p "$(dirname "$CACHE")"
    rm -rf "$T"
    debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,curl bookworm "$T" \
        "$MIRROR" >>"$LOG" 2>&1 || die "debootstrap failed (see $LOG)"
    tar -C "$T" -cf "$CACHE.tmp" . && mv "$CACHE.tmp" "$CACHE"
    rm -rf "$T"
fi
mkdir -p "$T"
tar -C "$T" -xf "$CACHE"

# nspawn without the machine's systemd: no registration, no scope of its own
nspawn() { systemd-nspawn -q --register=no --keep-unit -D "$T" "$@"; }

step "apt-get install nubo-cli nubo-controller nubo-host"
mkdir -p "$T/var/cache/nubo-pkgs"
cp "$PKG"/nubo-cli_*.deb "$PKG"/nubo-controller_*.deb "$PKG"/nubo-host_*.deb "$T/var/cache/nubo-pkgs/"
# the machine's apt cache saves downloading what it holds already
nspawn --bind=/var/cache/apt/archives sh -c 'apt-get update -q &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends /var/cache/nubo-pkgs/*.deb' \
    >>"$LOG" 2>&1 || die "the packages do not install (see $LOG)"
for f in /usr/bin/nubod /usr/bin/nubo-hostd /usr/bin/nubo /etc/nubo/nubod.conf \
    /etc/nubo/nubo-hostd.conf /lib/systemd/system/nubod.service \
    /etc/systemd/system/multi-user.target.wants/nubod.service \
    /etc/systemd/system/multi-user.target.wants/nubo-hostd.service \
    /usr/share/bash-completion/completions/nubo /usr/share/zsh/vendor-completions/_nubo \
    /usr/share/man/man1/nubo.1.gz /usr/share/man/man8/nubod.8.gz \
    /usr/share/man/man8/nubo-hostd.8.gz; do
    [ -e "$T$f" ] || [ -L "$T$f" ] || die "$f is not installed"
done

# the operator's part: point the agent at the controller on this machine
cat >>"$T/etc/nubo/nubo-hostd.conf" <<CONF
controller = http://127.0.0.1:7700
join-token-file = /var/lib/nubo/controller/join-token
name = pkg-host
CONF

step "booting it (systemd-nspawn --boot --private-network)"
systemd-nspawn --register=no --keep-unit --boot --private-network -D "$T" >>"$LOG" 2>&1 &
NSPAWN_PID=$!
LEADER=""
i=0
while [ -z "$LEADER" ] && [ $i -lt 100 ]; do
    LEADER=$(pgrep -P "$NSPAWN_PID" | head -1 || true)
    [ -n "$LEADER" ] || sleep 0.2
    i=$((i + 1))
done
[ -n "$LEADER" ] || die "the container did not start (see $LOG)"
inside() { nsenter -t "$LEADER" -a "$@"; }

# wait_for SECONDS WHAT COMMAND...: polls the command inside the container
wait_for() {
    secs=$1 what=$2
    shift 2
    i=0
    while [ $i -lt $((secs * 2)) ]; do
        if inside "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
        i=$((i + 1))
    done
    inside journalctl --no-pager -n 60 >>"$LOG" 2>&1 || true
    die "$what: not within ${secs}s (journal in $LOG)"
}

wait_for 120 "the system booted" sh -c 'systemctl is-system-running | grep -Eq "running|degraded"'
wait_for 60 "nubod.service active" systemctl is-active nubod.service
wait_for 60 "nubo-hostd.service active" systemctl is-active nubo-hostd.service
wait_for 30 "/v1/health" curl -sf http://127.0.0.1:7700/v1/health
inside curl -sf http://127.0.0.1:7700/ | grep -q "<html" || die "the portal is not served at /"

step "the CLI: login as admin, the host is up"
wait_for 30 "nubo login" sh -c 'nubo login http://127.0.0.1:7700 --user admin \
    --password-file /var/lib/nubo/controller/admin-password'
wait_for 30 "the host pkg-host up" sh -c 'nubo host list -o json | grep -q "\"state\": *\"up\""'
inside nubo host list
# the installed bash completion completes the installed nubo's commands
got=$(inside bash -c '. /usr/share/bash-completion/completions/nubo &&
    COMP_WORDS=(nubo host li) COMP_CWORD=2 && _nubo && echo "${COMPREPLY[*]}"')
[ "$got" = list ] || die "bash completion of 'nubo host li' gave '$got', not 'list'"

[ "$(inside stat -c %U "/proc/$(inside systemctl show -p MainPID --value nubod.service)")" = nubo ] \
    || die "nubod does not run as the user nubo"
[ "$(inside stat -c '%U:%G %a' /run/nubo/hostd.sock)" = "root:nubo 660" ] \
    || die "the agent's socket is not root:nubo 0660: $(inside stat -c '%U:%G %a' /run/nubo/hostd.sock)"

step "kill -9 nubod: systemd restarts it"
pid=$(inside systemctl show -p MainPID --value nubod.service)
inside sh -c "kill -9 $pid"
wait_for 60 "nubod restarted" sh -c "[ \"\$(systemctl show -p NRestarts --value nubod.service)\" -ge 1 ] &&
    systemctl is-active nubod.service && curl -sf http://127.0.0.1:7700/v1/health"

step "ok: both services run under systemd from the packages"
