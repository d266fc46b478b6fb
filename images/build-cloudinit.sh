#!/bin/sh
# Build the nubo-debian guest image: Debian 12 (bookworm) with the real,
# unmodified cloud-init, from Debian packages only (debootstrap).
#
#   images/build-cloudinit.sh [-f] [OUTDIR]     (default OUTDIR: build/images)
#
# Produces in OUTDIR:
#   nubo-debian.kernel   vmlinuz of Debian's linux-image-cloud-amd64
#   nubo-debian.initrd   the initramfs Debian's initramfs-tools made for it
#   nubo-debian.qcow2    root disk: a bare ext4 (label nubo-root, no partitions)
#   nubo-debian.cmdline  kernel command line to boot it with
#   nubo-debian.stamp    inputs of the build (used to skip up-to-date rebuilds)
#   nubo-debian.log      the last build's full debootstrap/chroot log
# The .debs (and the package indices they were resolved from) are kept as a
# debootstrap tarball in OUTDIR/cache, so a rebuild needs no network.
# Must run as root (debootstrap, chroot); nothing is mounted by this script
# and nothing is installed on the host. -f forces a rebuild.
# Env: NUBO_DEBIAN_MIRROR (default: the machine's apt mirror for bookworm),
#      NUBO_DEBIAN_DISK_SIZE (default 2G).
set -eu

NAME=nubo-debian
SUITE=bookworm
# What the image is made of, beyond debootstrap's minbase variant.
# debootstrap's resolver ignores virtual packages: python3-cffi-backend
# provides the python3-cffi-backend-api-* that python3-cryptography (for
# cloud-init's python3-oauthlib) depends on.
PACKAGES="systemd-sysv udev dbus cloud-init linux-image-cloud-amd64 openssh-server
 ifupdown isc-dhcp-client iproute2 e2fsprogs sudo netcat-openbsd busybox
 python3-cffi-backend"
DISK_SIZE=${NUBO_DEBIAN_DISK_SIZE:-2G}
# ro: systemd-remount-fs makes / read-write after fsck, as on any Debian.
# panic=-1: a panicking guest reboots instead of hanging under TCG forever.
CMDLINE="root=/dev/vda ro console=ttyS0 panic=-1"
# Units that cost boot time in a VM under TCG and do nothing useful there.
MASK="apt-daily.timer apt-daily-upgrade.timer apt-daily.service apt-daily-upgrade.service
 man-db.timer man-db.service e2scrub_all.timer e2scrub_all.service e2scrub_reap.service
 fstrim.timer fstrim.service dpkg-db-backup.timer dpkg-db-backup.service
 systemd-timesyncd.service getty@tty1.service"

say() { echo "build-cloudinit: $*"; }
die() { echo "build-cloudinit: error: $*" >&2; exit 1; }

FORCE=no
if [ "${1:-}" = -f ] || [ "${1:-}" = --force ]; then FORCE=yes; shift; fi
case "${1:-}" in -h|--help) sed -n '2,20s/^# \{0,1\}//p' "$0"; exit 0 ;; esac

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
OUTDIR=${1:-$REPO_ROOT/build/images}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
CACHE=$OUTDIR/cache
STAMP=$OUTDIR/$NAME.stamp
OUTPUTS="$NAME.kernel $NAME.initrd $NAME.qcow2 $NAME.cmdline"
export LC_ALL=C TZ=UTC
umask 022

# The machine's Debian mirror for $SUITE: deb822 .sources files first, then
# one-line sources.list entries.
find_mirror() {
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v suite="$SUITE" '
            function flush() { if (types ~ /(^| )deb( |$)/ && suites ~ ("(^| )" suite "( |$)") && comps ~ /(^| )main( |$)/ && uri != "") { print uri; found = 1; exit } }
            /^[ \t]*$/ { flush(); types = suites = comps = uri = ""; next }
            /^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0 }
            /^URIs:/ { sub(/^URIs:[ \t]*/, ""); split($0, u, " "); uri = u[1] }
            /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
            /^Components:/ { sub(/^Components:[ \t]*/, ""); comps = $0 }
            END { if (!found) flush() }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v suite="$SUITE" '$1 == "deb" {
            i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
            if ($(i + 1) == suite) for (j = i + 2; j <= NF; j++) if ($j == "main") { print $i; exit } }' "$f"
    done
}

MIRROR=${NUBO_DEBIAN_MIRROR:-$(find_mirror | head -n 1)}
[ -n "$MIRROR" ] || die "no apt source for '$SUITE main' in /etc/apt/sources.list*; set NUBO_DEBIAN_MIRROR"
# shellcheck disable=SC2086 # word splitting joins the lines
PKGLIST=$(echo $PACKAGES | tr ' ' ',')
# The download tarball depends only on what is fetched, and from where.
DLKEY=$(printf 'minbase %s %s %s\n' "$SUITE" "$MIRROR" "$PKGLIST" | sha256sum | cut -c 1-16)
TARBALL=$CACHE/$NAME-$SUITE-$DLKEY.tgz

inputs() {
    echo "format=1"
    echo "script $(sha256sum <"$0" | cut -d ' ' -f 1)"
    echo "suite=$SUITE"
    echo "mirror=$MIRROR"
    echo "packages=$PKGLIST"
    echo "cmdline=$CMDLINE"
    echo "disk_size=$DISK_SIZE"
}

outputs_exist() {
    for f in $OUTPUTS; do [ -s "$OUTDIR/$f" ] || return 1; done
    [ -f "$STAMP" ]
}

if [ "$FORCE" = no ] && outputs_exist && [ "$(inputs)" = "$(grep -v '^image ' "$STAMP")" ]; then
    say "$NAME image in $OUTDIR is up to date ($(sed -n 's/^image kernel=//p' "$STAMP"))"
    exit 0
fi

# ------------------------------------------------------------ build

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap and chroot need it)"
for c in debootstrap chroot mke2fs e2fsck qemu-img sha256sum awk sed find; do
    command -v "$c" >/dev/null 2>&1 || die "missing host command '$c' (see scripts/deps.sh)"
done

START=$(date +%s)
mkdir -p "$CACHE"
W=$(mktemp -d "$OUTDIR/.work-$NAME.XXXXXX")
LOG=$W/build.log
: >"$LOG"

# debootstrap mounts /proc and /sys inside the target while it configures
# packages and unmounts them when done; if it is interrupted they stay.
# Never delete across a mount point: unmount what is left under $W first.
cleanup() {
    awk -v w="$W/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null || :
    done
    if awk -v w="$W/" 'index($2, w) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
        echo "build-cloudinit: warning: mounts left under $W, not removing it" >&2
    else
        rm -rf --one-file-system "$W"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Progress: the stage lines of debootstrap's output (the full log is kept).
STAGES='^(E|W):|^I: (Retrieving Packages|Resolving|Checking|Installing|Unpacking the|Configuring the|Configuring required|Base system)'
progress() {
    tee -a "$LOG" | grep --line-buffered -E "$STAGES" | sed -u 's/^/build-cloudinit:   /' || :
}

run_logged() { # CMD... : runs, output to the log; shows the log's end on failure
    if ! "$@" >>"$LOG" 2>&1; then
        tail -n 30 "$LOG" >&2
        die "'$*' failed (log: $OUTDIR/$NAME.log)"
    fi
}

if [ ! -s "$TARBALL" ]; then
    say "downloading packages from $MIRROR ($SUITE, minbase + $PKGLIST)..."
    t0=$(date +%s)
    { debootstrap --variant=minbase --include="$PKGLIST" --make-tarball="$W/debs.tgz" \
        "$SUITE" "$W/dl" "$MIRROR" 2>&1 && echo 0 >"$W/rc" || echo $? >"$W/rc"; } | progress
    if [ "$(cat "$W/rc")" != 0 ] || [ ! -s "$W/debs.tgz" ]; then
        cp "$LOG" "$OUTDIR/$NAME.log"
        die "download failed (log: $OUTDIR/$NAME.log)"
    fi
    rm -rf --one-file-system "$W/dl"
    mv -f "$W/debs.tgz" "$TARBALL"
    say "cached $(du -h "$TARBALL" | cut -f 1) of packages in $TARBALL ($(($(date +%s) - t0))s)"
else
    say "using cached packages $TARBALL"
fi

R=$W/rootfs
say "installing Debian $SUITE into a staging tree (offline, from the cache)..."
t0=$(date +%s)
{ debootstrap --variant=minbase --include="$PKGLIST" --unpack-tarball="$TARBALL" \
    "$SUITE" "$R" "$MIRROR" 2>&1 && echo 0 >"$W/rc" || echo $? >"$W/rc"; } | progress
if [ "$(cat "$W/rc")" != 0 ] && [ -x "$R/usr/bin/dpkg" ]; then
    # debootstrap's log does not say why dpkg failed; dpkg does.
    { echo "----- dpkg --configure -a in the staging tree:"; chroot "$R" dpkg --configure -a 2>&1 || :; } >>"$LOG"
fi
cp "$LOG" "$OUTDIR/$NAME.log"
[ "$(cat "$W/rc")" = 0 ] || die "debootstrap failed (log: $OUTDIR/$NAME.log)"
[ -x "$R/usr/bin/cloud-init" ] || die "cloud-init is not in the staging tree (log: $OUTDIR/$NAME.log)"
say "installed in $(($(date +%s) - t0))s"

# ------------------------------------------------------------ configuration
say "configuring the guest..."
in_root() { run_logged chroot "$R" "$@"; }

# cloud-init: metadata from the config drive nubo gives every VM, else the
# EC2-style service at 169.254.169.254, else nothing (the None datasource
# still runs user-data-less defaults, so a VM without metadata boots).
cat >"$R/etc/cloud/cloud.cfg.d/90_nubo.cfg" <<'EOF'
# nubo: where cloud-init finds instance metadata (images/build-cloudinit.sh)
datasource_list: [ConfigDrive, Ec2, None]
# The image has no generated locales.  cloud-init's default (en_US.UTF-8)
# makes its locale module run Debian's locale-gen, which ignores the locale
# it is given, and update-locale then fails the config stage.  C.UTF-8 is
# built into glibc and needs nothing generated.
locale: C.UTF-8
# Host keys are made at first boot by cloud-init's ssh module.  A 3072-bit
# RSA key takes seconds of emulated CPU under TCG; every current OpenSSH
# client speaks ed25519 and ECDSA.
ssh_genkeytypes: [ed25519, ecdsa]
EOF
# The Ec2 datasource off AWS.  ds-identify (the systemd generator that
# decides whether cloud-init runs at all) reads strict_id only from
# cloud.cfg and cloud.cfg.d/*ec2*.cfg, hence the file name; its built-in
# default (true) would rule Ec2 out since QEMU's DMI is not AWS's, and with
# no config drive cloud-init would be disabled, network included.
cat >"$R/etc/cloud/cloud.cfg.d/91_nubo_ec2.cfg" <<'EOF'
# nubo: the EC2-style metadata service (images/build-cloudinit.sh)
datasource:
  Ec2:
    strict_id: false
    metadata_urls: ['http://169.254.169.254']
    # A VM without the service must not wait the default 120 s.
    max_wait: 20
    timeout: 5
EOF
# found=first: the config drive when there is one; maybe=all: else Ec2.
printf 'policy: search,found=first,maybe=all,notfound=disabled\n' >"$R/etc/cloud/ds-identify.cfg"

# Network: cloud-init writes the DHCP configuration for the first NIC
# (/etc/network/interfaces.d/50-cloud-init, whatever the NIC is named);
# ifupdown reads it.
cat >"$R/etc/network/interfaces" <<'EOF'
# The NICs are configured by cloud-init in /etc/network/interfaces.d/.
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback
EOF
printf '/dev/vda\t/\text4\tdefaults,errors=remount-ro\t0\t1\n' >"$R/etc/fstab"
echo "$NAME" >"$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$R/etc/hosts"
printf 'deb %s %s main\n' "$MIRROR" "$SUITE" >"$R/etc/apt/sources.list"
# Keep what this guest writes small: the journal lives in RAM.
mkdir -p "$R/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' >"$R/etc/systemd/journald.conf.d/nubo.conf"

in_root systemctl set-default multi-user.target
# shellcheck disable=SC2086
in_root systemctl mask $MASK

# First-boot state must not be baked in: every instance gets its own SSH
# host keys (cloud-init's ssh module generates them), machine id, and
# cloud-init instance.
rm -f "$R"/etc/ssh/ssh_host_*
: >"$R/etc/machine-id"
rm -f "$R/var/lib/dbus/machine-id"
rm -rf "$R/var/lib/cloud"
passwd_root=$(sed -n 's/^root:\([^:]*\):.*/\1/p' "$R/etc/shadow")
case "$passwd_root" in '*'|'!'*) ;; *) die "root has a password in the staging tree" ;; esac
# Caches and logs of the build.
rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin "$R"/var/cache/apt/archives/*.deb \
    "$R"/var/cache/debconf/*-old "$R"/var/lib/dpkg/*-old "$R"/tmp/* "$R"/var/tmp/*
find "$R/var/log" -type f -exec truncate -s 0 {} +
rm -f "$R/var/log/bootstrap.log"

say "extracting kernel and initramfs..."
KERNEL=$(find "$R/boot" -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' | sort | tail -n 1)
KREL=${KERNEL#vmlinuz-}
if [ -z "$KERNEL" ] || [ ! -s "$R/boot/initrd.img-$KREL" ]; then die "no vmlinuz/initrd.img in $R/boot"; fi
# shellcheck disable=SC2016 # dpkg-query formats, not shell expansions
KPKG=$(chroot "$R" dpkg-query -W -f '${Package} ${Version}' "linux-image-$KREL")
# shellcheck disable=SC2016
CIVER=$(chroot "$R" dpkg-query -W -f '${Version}' cloud-init)
cp "$R/boot/$KERNEL" "$W/$NAME.kernel"
cp "$R/boot/initrd.img-$KREL" "$W/$NAME.initrd"
printf '%s\n' "$CMDLINE" >"$W/$NAME.cmdline"
printf 'kernel=%s\ncloud-init=%s\nsuite=%s\nbuilt=%s\n' "$KPKG" "$CIVER" "$SUITE" \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$R/etc/nubo-image-info"

# ------------------------------------------------------------ root disk
say "making the ext4 root filesystem ($DISK_SIZE, mke2fs -d, nothing mounted)..."
RAW=$W/rootfs.img
truncate -s "$DISK_SIZE" "$RAW"
run_logged mke2fs -q -F -t ext4 -b 4096 -I 256 -m 0 -L nubo-root -d "$R" "$RAW"
run_logged e2fsck -fn "$RAW"
say "converting root disk to qcow2..."
run_logged qemu-img convert -f raw -O qcow2 "$RAW" "$W/$NAME.qcow2"

for f in $OUTPUTS; do mv -f "$W/$f" "$OUTDIR/$f"; done
{
    inputs
    echo "image kernel=$KPKG, cloud-init $CIVER"
} >"$STAMP.tmp.$$"
mv -f "$STAMP.tmp.$$" "$STAMP"
cp "$LOG" "$OUTDIR/$NAME.log"

say "done in $(($(date +%s) - START))s: $OUTDIR ($KPKG, cloud-init $CIVER)"
(cd "$OUTDIR" && for f in $OUTPUTS; do
    printf '  %-20s %10s bytes  sha256 %s\n' "$f" "$(stat -c %s "$f")" "$(sha256sum <"$f" | cut -c 1-16)"
done)
