#!/bin/sh
# Installs every Debian package nubo needs to build, run and test.
# Idempotent: packages already present are skipped by apt-get.
set -eu
PKGS="build-essential meson ninja-build pkg-config
 libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libsqlite3-dev libpq-dev libsodium-dev libyaml-dev
 qemu-system-x86 qemu-utils
 busybox-static cpio e2fsprogs genisoimage zstd xz-utils debootstrap
 python3 python3-pytest python3-requests python3-psycopg2
 postgresql
 curl iproute2 procps psmisc valgrind cppcheck clang-format clang libclang-rt-14-dev
 chromium
 prometheus
 dnsmasq-base nftables iperf3
 systemd-container binutils gnutls-bin
 help2man zsh"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "nubo: installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
fi
