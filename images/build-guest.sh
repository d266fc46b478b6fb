#!/bin/sh
# Build the nubo-tiny guest image from Debian packages only.
#
#   images/build-guest.sh [-f] [OUTDIR]      (default OUTDIR: build/images)
#
# Produces in OUTDIR:
#   nubo-tiny.kernel   vmlinuz of Debian's linux-image-cloud-amd64
#   nubo-tiny.initrd   initramfs (busybox + virtio modules) that mounts /dev/vda
#   nubo-tiny.qcow2    root disk: ext4 (label nubo-root) with busybox + guest init
#   nubo-tiny.cmdline  kernel command line to boot it with
#   nubo-tiny.stamp    inputs of the build (used to skip up-to-date rebuilds)
# Downloaded .debs are kept in OUTDIR/cache. Nothing is installed on the host
# and nothing is mounted. -f forces a rebuild.
set -eu

NAME=nubo-tiny
KERNEL_META=${NUBO_KERNEL_META:-linux-image-cloud-amd64}
BUSYBOX_PKG=busybox-static
DISK_SIZE=${NUBO_DISK_SIZE:-256M}
CMDLINE="console=ttyS0 root=/dev/vda rw panic=-1 loglevel=4 edd=off"
# Fixed identifiers so that two builds produce the same bytes.
FS_UUID=6e75626f-7469-4e79-8000-726f6f746673
HASH_SEED=6e75626f-7469-4e79-8000-686173687365
# Modules the initramfs loads to find the root disk and the NIC.
INITRD_MODULES="virtio_pci virtio_blk virtio_net"
# Modules the guest init loads from the root disk (a superset).
ROOTFS_MODULES="$INITRD_MODULES button evdev isofs vfat nls_utf8 nls_cp437 nls_ascii virtio-rng"
# Files whose content is part of the image (their sha256 goes in the stamp).
INPUT_FILES="build-guest.sh guest-init.sh initramfs-init.sh udhcpc.script"

say() { echo "build-guest: $*"; }
die() { echo "build-guest: error: $*" >&2; exit 1; }

FORCE=no
if [ "${1:-}" = -f ] || [ "${1:-}" = --force ]; then FORCE=yes; shift; fi
case "${1:-}" in -h|--help) sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 0 ;; esac

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

# ------------------------------------------------------------ stamp helpers

# Inputs known without asking apt: our own files, command line, disk size.
local_inputs() {
    echo "format=1"
    for f in $INPUT_FILES; do
        echo "input $f $(sha256sum <"$SCRIPT_DIR/$f" | cut -d ' ' -f 1)"
    done
    echo "cmdline=$CMDLINE"
    echo "disk_size=$DISK_SIZE"
    echo "kernel_meta=$KERNEL_META"
}

# Changes whenever "apt-get update" brings new package lists.
apt_fingerprint() {
    # shellcheck disable=SC2012
    { ls -l --time-style=+%s /var/lib/apt/lists/ 2>/dev/null || :; } | sha256sum | cut -d ' ' -f 1
}

stamp_get() { sed -n "s/^$1=//p" "$STAMP" 2>/dev/null | head -n 1; }

outputs_exist() {
    for f in $OUTPUTS; do [ -s "$OUTDIR/$f" ] || return 1; done
    [ -f "$STAMP" ]
}

write_stamp() { # FILE
    {
        local_inputs
        echo "kernel_pkg=$KPKG"
        echo "kernel_version=$KVER"
        echo "busybox_version=$BBVER"
        echo "source_date_epoch=$SDE"
        echo "apt_lists=$(apt_fingerprint)"
    } >"$1"
}

# ------------------------------------------------------------ package resolution

candidate() { # PKG -> candidate version from apt-cache policy output in $POLICY
    printf '%s\n' "$POLICY" | awk -v p="$1:" '
        $0 ~ /^[^ ]/ { cur = $1 }
        cur == p && $1 == "Candidate:" { print $2; exit }'
}

newest_cached() { # GLOB -> "pkg ver" of the newest matching .deb in the cache
    best_p=; best_v=
    for f in "$CACHE"/$1; do
        [ -f "$f" ] || continue
        p=$(dpkg-deb -f "$f" Package) v=$(dpkg-deb -f "$f" Version)
        if [ -z "$best_v" ] || dpkg --compare-versions "$v" gt "$best_v"; then best_p=$p best_v=$v; fi
    done
    [ -n "$best_v" ] && echo "$best_p $best_v"
}

resolve_packages() {
    KPKG=${NUBO_KERNEL_PKG:-}
    if [ -z "$KPKG" ]; then
        KPKG=$(apt-cache depends "$KERNEL_META" 2>/dev/null |
            sed -n 's/^ *Depends: \(linux-image-[^ <>]*\)$/\1/p' | head -n 1) || KPKG=
    fi
    KVER='' BBVER=''
    if [ -n "$KPKG" ]; then
        POLICY=$(apt-cache policy "$KPKG" "$BUSYBOX_PKG" 2>/dev/null) || POLICY=
        KVER=$(candidate "$KPKG")
        BBVER=$(candidate "$BUSYBOX_PKG")
        [ "$KVER" = "(none)" ] && KVER=
        [ "$BBVER" = "(none)" ] && BBVER=
    fi
    if [ -z "$KPKG" ] || [ -z "$KVER" ]; then
        # No usable apt lists (e.g. no "apt-get update"): use the cache.
        # shellcheck disable=SC2046 # "PKG VERSION" splits into two words
        set -- $(newest_cached 'linux-image-*-cloud-amd64_*.deb') ""
        [ -n "$1" ] || die "cannot resolve $KERNEL_META (run 'apt-get update') and no kernel .deb in $CACHE"
        KPKG=$1 KVER=$2
        say "apt lists unavailable, using cached $KPKG $KVER"
    fi
    if [ -z "$BBVER" ]; then
        # shellcheck disable=SC2046
        set -- $(newest_cached "${BUSYBOX_PKG}_*.deb") ""
        [ -n "$1" ] || die "cannot resolve $BUSYBOX_PKG (run 'apt-get update') and no .deb in $CACHE"
        BBVER=$2
        say "apt lists unavailable, using cached $BUSYBOX_PKG $BBVER"
    fi
}

# ------------------------------------------------------------ up-to-date check

if [ "$FORCE" = no ] && outputs_exist; then
    cur=$(local_inputs)
    old=$(grep -v -e '^kernel_pkg=' -e '^kernel_version=' -e '^busybox_version=' \
        -e '^source_date_epoch=' -e '^apt_lists=' "$STAMP")
    if [ "$cur" = "$old" ]; then
        if [ "$(stamp_get apt_lists)" = "$(apt_fingerprint)" ]; then
            say "$NAME image in $OUTDIR is up to date ($(stamp_get kernel_pkg) $(stamp_get kernel_version), busybox $(stamp_get busybox_version))"
            exit 0
        fi
        # Package lists changed since the last build: did our packages?
        resolve_packages
        if [ "$KPKG" = "$(stamp_get kernel_pkg)" ] && [ "$KVER" = "$(stamp_get kernel_version)" ] &&
            [ "$BBVER" = "$(stamp_get busybox_version)" ]; then
            SDE=$(stamp_get source_date_epoch)
            write_stamp "$STAMP.tmp.$$" && mv -f "$STAMP.tmp.$$" "$STAMP"
            say "$NAME image in $OUTDIR is up to date ($KPKG $KVER, busybox $BBVER)"
            exit 0
        fi
    fi
fi

# ------------------------------------------------------------ build

for c in apt-get apt-cache dpkg-deb dpkg cpio gzip mke2fs debugfs qemu-img sha256sum awk sed find sort xz; do
    command -v "$c" >/dev/null 2>&1 || die "missing host command '$c' (see scripts/deps.sh)"
done

START=$(date +%s)
mkdir -p "$CACHE"
W=$(mktemp -d "$OUTDIR/.work.XXXXXX")
trap 'rm -rf "$W"' EXIT
trap 'exit 130' INT TERM

say "resolving packages..."
[ -n "${KPKG:-}" ] || resolve_packages
say "kernel: $KPKG $KVER; busybox: $BUSYBOX_PKG $BBVER"

fetch_deb() { # PKG VER WHAT -> prints path of the .deb in the cache
    for f in "$CACHE/$1"_*.deb; do
        [ -f "$f" ] || continue
        [ "$(dpkg-deb -f "$f" Package)" = "$1" ] && [ "$(dpkg-deb -f "$f" Version)" = "$2" ] &&
            { echo "$f"; return 0; }
    done
    say "downloading $3 ($1 $2)..." >&2
    d=$(mktemp -d "$CACHE/.dl.XXXXXX")
    if ! (cd "$d" && apt-get download -q -o APT::Sandbox::User=root "$1=$2" >"$d/log" 2>&1); then
        cat "$d/log" >&2
        rm -rf "$d"
        die "apt-get download $1=$2 failed"
    fi
    for f in "$d"/*.deb; do
        [ "$(dpkg-deb -f "$f" Package)" = "$1" ] || continue
        mv -f "$f" "$CACHE/"
        echo "$CACHE/${f##*/}"
    done
    rm -rf "$d"
}

KDEB=$(fetch_deb "$KPKG" "$KVER" kernel)
[ -f "$KDEB" ] || die "kernel package not downloaded"
BBDEB=$(fetch_deb "$BUSYBOX_PKG" "$BBVER" busybox)
[ -f "$BBDEB" ] || die "busybox package not downloaded"
say "using cached $(basename "$KDEB") and $(basename "$BBDEB")"

say "extracting kernel..."
mkdir -p "$W/kpkg" "$W/bbpkg"
dpkg-deb -x "$KDEB" "$W/kpkg"
dpkg-deb -x "$BBDEB" "$W/bbpkg"
KREL=$(find "$W/kpkg/lib/modules" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort | head -n 1)
if [ -z "$KREL" ] || [ ! -f "$W/kpkg/boot/vmlinuz-$KREL" ]; then die "no vmlinuz/modules in $KDEB"; fi
BB=$W/bbpkg/bin/busybox
[ -x "$BB" ] || die "no bin/busybox in $BBDEB"
# Reproducible timestamps: the kernel image's own mtime from the package.
SDE=$(stat -c %Y "$W/kpkg/boot/vmlinuz-$KREL")
export SOURCE_DATE_EPOCH="$SDE"
cp "$W/kpkg/boot/vmlinuz-$KREL" "$W/$NAME.kernel"
printf '%s\n' "$CMDLINE" >"$W/$NAME.cmdline"

say "resolving kernel modules..."
MODDIR=$W/kpkg/lib/modules/$KREL
# Debian's package ships no modules.dep (depmod runs at install): make one.
"$BB" depmod -b "$W/kpkg" "$KREL"
[ -s "$MODDIR/modules.dep" ] || die "depmod produced no modules.dep"

# modules.dep + names -> module paths in load order (dependencies first).
# Dependencies are visited in sorted order so the result is stable.
# With a third argument "deps", prints a modules.dep for the closure instead.
module_order() { # DEPFILE "NAMES" [deps]
    awk -v want="$2" -v mode="${3:-order}" -v builtin="$MODDIR/modules.builtin" '
        function norm(n) { sub(/.*\//, "", n); sub(/\.ko(\.[a-z]+)?$/, "", n); gsub(/-/, "_", n); return n }
        function plain(p) { sub(/\.ko\.[a-z]+$/, ".ko", p); return p }
        function sortwords(s,   a, n, i, j, t, out) {
            n = split(s, a, " ")
            for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
            out = ""; for (i = 1; i <= n; i++) out = out " " a[i]; return out
        }
        function visit(p,   a, n, i) {
            if (p in seen) return
            seen[p] = 1
            n = split(deps[p], a, " ")
            for (i = 1; i <= n; i++) visit(a[i])
            order[++norder] = p
        }
        function visit2(p,   a, n, i) {
            if (p in seen2) return
            seen2[p] = 1
            n = split(deps[p], a, " ")
            for (i = 1; i <= n; i++) visit2(a[i])
            ord2[++n2] = p
        }
        BEGIN { while ((getline l < builtin) > 0) isbuiltin[norm(l)] = 1 }
        {
            k = $1; sub(/:$/, "", k); d = ""
            for (i = 2; i <= NF; i++) d = d " " $i
            deps[k] = sortwords(d); path[norm(k)] = k
        }
        END {
            n = split(want, w, " ")
            for (i = 1; i <= n; i++) {
                m = norm(w[i])
                if (m in path) visit(path[m])
                else if (m in isbuiltin) continue
                else { print "unknown module " w[i] > "/dev/stderr"; exit 1 }
            }
            if (mode == "order") { for (i = 1; i <= norder; i++) print plain(order[i]); exit 0 }
            # modules.dep for the closure: each line lists the dependencies
            # in reverse load order, as depmod does.
            for (i = 1; i <= norder; i++) {
                p = order[i]; split("", seen2); n2 = 0; seen2[p] = 1
                nd = split(deps[p], a, " ")
                for (j = 1; j <= nd; j++) visit2(a[j])
                line = plain(p) ":"
                for (j = n2; j >= 1; j--) line = line " " plain(ord2[j])
                print line
            }
        }' "$1"
}

copy_modules() { # LISTFILE DESTDIR  (decompresses .ko.xz/.ko.zst/.ko.gz)
    while read -r rel; do
        src=
        for s in "$MODDIR/$rel" "$MODDIR/$rel.xz" "$MODDIR/$rel.zst" "$MODDIR/$rel.gz"; do
            [ -f "$s" ] && { src=$s; break; }
        done
        [ -n "$src" ] || die "module file for $rel not found"
        mkdir -p "$2/$(dirname "$rel")"
        case "$src" in
            *.xz) xz -dc "$src" >"$2/$rel" ;;
            *.zst) zstd -q -dc "$src" >"$2/$rel" ;;
            *.gz) gzip -dc "$src" >"$2/$rel" ;;
            *) cp "$src" "$2/$rel" ;;
        esac
    done <"$1"
}

module_order "$MODDIR/modules.dep" "$INITRD_MODULES" >"$W/initrd-modules"
module_order "$MODDIR/modules.dep" "$ROOTFS_MODULES" >"$W/rootfs-modules"
module_order "$MODDIR/modules.dep" "$ROOTFS_MODULES" deps | sort >"$W/rootfs-modules.dep"
say "initramfs modules: $(sed 's,.*/,,; s,\.ko$,,' "$W/initrd-modules" | tr '\n' ' ')"

# Normalise a staging tree: fixed modes are set by the caller, here the
# timestamps (ownership is forced by cpio -R / debugfs below).
normalise_times() { find "$1" -exec touch -h -d "@$SDE" {} +; }

# ------------------------------------------------------------ initramfs
say "building initramfs..."
I=$W/initrd
mkdir -p "$I/bin" "$I/dev" "$I/proc" "$I/sys" "$I/newroot" "$I/etc" "$I/lib/modules"
cp "$BB" "$I/bin/busybox"
for a in $("$BB" --list); do
    [ "$a" = busybox ] || ln -s busybox "$I/bin/$a"
done
cp "$SCRIPT_DIR/initramfs-init.sh" "$I/init"
cp "$W/initrd-modules" "$I/etc/nubo-modules"
copy_modules "$W/initrd-modules" "$I/lib/modules"
# No device nodes (the build may run without root, and must give the same
# bytes either way): the kernel's built-in initramfs already has
# /dev/console, and /init mounts devtmpfs first.
find "$I" -type d -exec chmod 755 {} +
find "$I" -type f -exec chmod 644 {} +
chmod 755 "$I/init" "$I/bin/busybox"
normalise_times "$I"
(cd "$I" && find . -mindepth 1 | sort | cpio -o -H newc -R 0:0 --reproducible --quiet) |
    gzip -n -9 >"$W/$NAME.initrd"

# ------------------------------------------------------------ root filesystem
say "building root filesystem..."
R=$W/rootfs
for d in bin sbin usr/bin usr/sbin usr/share/udhcpc etc/acpi/PWRF etc/nubo dev proc sys run tmp \
    root mnt var/lib/nubo var/log var/tmp "lib/modules/$KREL"; do
    mkdir -p "$R/$d"
done
cp "$BB" "$R/bin/busybox"
for a in $("$BB" --list-full); do
    case "$a" in bin/busybox|sbin/init|linuxrc) continue ;; esac
    mkdir -p "$R/$(dirname "$a")"
    ln -s /bin/busybox "$R/$a"
done
cp "$SCRIPT_DIR/guest-init.sh" "$R/sbin/init"
cp "$SCRIPT_DIR/udhcpc.script" "$R/usr/share/udhcpc/default.script"
ln -s ../run "$R/var/run"
copy_modules "$W/rootfs-modules" "$R/lib/modules/$KREL"
cp "$W/rootfs-modules" "$R/lib/modules/$KREL/nubo-modules"
cp "$W/rootfs-modules.dep" "$R/lib/modules/$KREL/modules.dep"
cp "$MODDIR/modules.builtin" "$R/lib/modules/$KREL/modules.builtin"

printf 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$R/etc/passwd"
printf 'root:*:0:0:99999:7:::\ndaemon:*:0:0:99999:7:::\nnobody:*:0:0:99999:7:::\n' >"$R/etc/shadow"
printf 'root:x:0:\ndaemon:x:1:\ntty:x:5:\nnogroup:x:65534:\n' >"$R/etc/group"
echo nubo-guest >"$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n' >"$R/etc/hosts"
: >"$R/etc/resolv.conf"
printf '/dev/vda\t/\text4\trw\t0\t1\n' >"$R/etc/fstab"
printf 'export PATH=/sbin:/bin:/usr/sbin:/usr/bin\nexport PS1='"'"'\\h:\\w\\$ '"'"'\n' >"$R/etc/profile"
printf 'PRETTY_NAME="nubo-tiny guest"\nNAME=nubo-tiny\nID=nubo-tiny\n' >"$R/etc/os-release"
printf 'kernel=%s %s (%s)\nbusybox=%s\nsource_date_epoch=%s\n' "$KPKG" "$KVER" "$KREL" "$BBVER" "$SDE" \
    >"$R/etc/nubo/image-info"
# busybox acpid: event -> action (a path under /etc/acpi, run when the event arrives)
printf '# busybox acpid actions: EVENT ACTION\nPWRF PWRF/00000080\nPWRB PWRF/00000080\n' >"$R/etc/acpid.conf"
printf '#!/bin/sh\n# Power button (QEMU system_powerdown): clean poweroff.\nexec /sbin/init shutdown poweroff "power button"\n' \
    >"$R/etc/acpi/PWRF/00000080"

find "$R" -type d -exec chmod 755 {} +
find "$R" -type f -exec chmod 644 {} +
chmod 755 "$R/bin/busybox" "$R/sbin/init" "$R/usr/share/udhcpc/default.script" "$R/etc/acpi/PWRF/00000080"
chmod 700 "$R/root"
chmod 1777 "$R/tmp" "$R/var/tmp"
chmod 640 "$R/etc/shadow"
normalise_times "$R"

RAW=$W/rootfs.img
truncate -s "$DISK_SIZE" "$RAW"
E2FSPROGS_FAKE_TIME=$SDE mke2fs -q -F -t ext4 -b 4096 -I 256 -m 0 -L nubo-root -U "$FS_UUID" \
    -E "hash_seed=$HASH_SEED,root_owner=0:0" -d "$R" "$RAW"
# mke2fs -d copies owner, atime and ctime from the staging files: force
# root ownership and SOURCE_DATE_EPOCH on every inode so builds are identical.
(cd "$R" && find . -mindepth 1 | sort) | awk -v t="@$SDE" '{
    p = substr($0, 2)
    print "sif \"" p "\" uid 0"; print "sif \"" p "\" gid 0"
    print "sif \"" p "\" atime " t; print "sif \"" p "\" mtime " t
    print "sif \"" p "\" ctime " t; print "sif \"" p "\" crtime " t
}' >"$W/debugfs.cmds"
for p in / /lost+found; do
    for f in atime mtime ctime crtime; do echo "sif \"$p\" $f @$SDE"; done
done >>"$W/debugfs.cmds"
E2FSPROGS_FAKE_TIME=$SDE debugfs -w -f "$W/debugfs.cmds" "$RAW" >"$W/debugfs.log" 2>&1 ||
    { cat "$W/debugfs.log" >&2; die "debugfs failed"; }
if grep -qi -e 'error' -e 'not found' -e 'invalid' "$W/debugfs.log"; then
    grep -i -e 'error' -e 'not found' -e 'invalid' "$W/debugfs.log" | head >&2
    die "debugfs reported errors"
fi
e2fsck -fn "$RAW" >"$W/fsck.log" 2>&1 || { cat "$W/fsck.log" >&2; die "e2fsck found problems in the root filesystem"; }

say "converting root disk to qcow2..."
qemu-img convert -f raw -O qcow2 "$RAW" "$W/$NAME.qcow2"

for f in $OUTPUTS; do mv -f "$W/$f" "$OUTDIR/$f"; done
write_stamp "$STAMP.tmp.$$"
mv -f "$STAMP.tmp.$$" "$STAMP"

say "done in $(($(date +%s) - START))s: $OUTDIR"
(cd "$OUTDIR" && for f in $OUTPUTS; do
    printf '  %-18s %9s bytes  sha256 %s\n' "$f" "$(stat -c %s "$f")" "$(sha256sum <"$f" | cut -c 1-16)"
done)
