#!/bin/busybox sh
# nubo-tiny initramfs /init (PID 1 until switch_root; busybox sh).
#
# Loads the virtio modules listed (in dependency order) in /etc/nubo-modules,
# waits for the root disk, mounts it and switch_roots into it, running the
# nubo guest init (/sbin/init) from the disk.
#
# Kernel command line parameters understood here:
#   root=/dev/vdX     root block device (default /dev/vda)
#   rootfstype=TYPE   root filesystem type (default ext4)
#   rootflags=OPTS    extra mount options
#   ro | rw           mount the root read-only / read-write (default rw)
#   init=PATH         init on the root disk (default /sbin/init)
#   rootwait=SECONDS  how long to wait for the root device (default 15)
#   nubo.shell        on a fatal error, start a shell instead of powering off

PATH=/bin
export PATH

/bin/busybox mkdir -p /dev /proc /sys /newroot
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys

msg() { echo "nubo-initrd: $*"; }

root=/dev/vda
fstype=ext4
flags=
mode=rw
init=/sbin/init
wait_s=15
shell=no
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        root=*) root=${arg#root=} ;;
        rootfstype=*) fstype=${arg#rootfstype=} ;;
        rootflags=*) flags=${arg#rootflags=} ;;
        ro) mode=ro ;;
        rw) mode=rw ;;
        init=*) init=${arg#init=} ;;
        rootwait=*) wait_s=${arg#rootwait=} ;;
        nubo.shell) shell=yes ;;
    esac
done

fatal() {
    msg "FATAL: $*"
    if [ "$shell" = yes ]; then
        msg "starting a shell (nubo.shell)"
        setsid cttyhack sh
    fi
    msg "powering off"
    sync
    poweroff -f
    sleep 1000000
}

# Load the boot modules in dependency order (computed at build time).
while read -r m; do
    case "$m" in ''|'#'*) continue ;; esac
    name=${m##*/}
    name=${name%.ko}
    # Already loaded or built in: skip.
    [ -d "/sys/module/$(echo "$name" | tr - _)" ] && continue
    insmod "/lib/modules/$m" || msg "warning: could not load $m"
done </etc/nubo-modules

case "$root" in
    LABEL=*|UUID=*) dev= ;;
    *) dev=$root ;;
esac

# Wait for the root device (virtio-blk probes asynchronously on some kernels).
i=0
limit=$((wait_s * 20))
while :; do
    case "$root" in
        LABEL=*|UUID=*) dev=$(findfs "$root" 2>/dev/null) ;;
    esac
    [ -n "$dev" ] && [ -b "$dev" ] && break
    i=$((i + 1))
    [ "$i" -ge "$limit" ] && fatal "root device $root did not appear within ${wait_s}s"
    sleep 0.05
done

opts=$mode
[ -n "$flags" ] && opts="$opts,$flags"
mount -t "$fstype" -o "$opts" "$dev" /newroot || fatal "cannot mount $dev ($fstype, $opts)"
[ -x "/newroot$init" ] || [ -L "/newroot$init" ] || fatal "$init not found on $dev"

# Hand the already-mounted /dev over to the real root; proc and sys are
# mounted again by the guest init.
mkdir -p /newroot/dev 2>/dev/null
mount -o move /dev /newroot/dev 2>/dev/null || umount /dev 2>/dev/null
umount /sys
umount /proc

exec switch_root /newroot "$init"
fatal "switch_root failed"
