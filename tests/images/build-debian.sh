#!/usr/bin/env bash
# build-debian.sh — builds a real Debian 12 (bookworm) cloud image for the
# moonbase tests that must take the path a user takes with Ubuntu or Debian
# cloud images: systemd, cloud-init (NoCloud), openssh-server, sshfs,
# locales, qemu-guest-agent, linux-image-amd64 (with 9p), on a partitioned
# disk that SeaBIOS boots by itself (GRUB in the MBR gap).  No SSH host keys
# and an empty /etc/machine-id are baked in, as in Debian's cloud images.
#
# Usage: tests/images/build-debian.sh [--force]
# Output (the directory is printed as the last line on stdout):
#   ${MOONBASE_TEST_IMAGES:-$HOME/.cache/moonbase-test-images}/debian-<hash>/
#     disk.qcow2     MBR disk, partition 1 = ext4 root (label cloudimg-rootfs),
#                    3 GiB virtual; cloud-init grows it (growpart + resize2fs)
#     metadata.json  {"os": "debian", "release": "bookworm", ...}
#     packages.txt   every package in the image with its version
# <hash> covers this script and the candidate versions of the packages asked
# for, so a second run with the same inputs only prints the path.
# No loop devices or mounts are needed: mmdebstrap builds a directory,
# mkfs.ext4 -d turns it into a filesystem image, sfdisk partitions a plain
# file, and GRUB's boot.img + a core.img from grub-mkimage are written into
# the MBR and the gap after it by dd.  Needs root and Debian's archive.
# The initramfs holds only the modules a QEMU guest needs to find its root
# (MODULES=list: virtio, ahci/sd/sr, ext4): small, so quick to build and to
# unpack under TCG; the rest load from the root filesystem.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${MOONBASE_TEST_IMAGES:-$HOME/.cache/moonbase-test-images}
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1
SUITE=bookworm
DISK_SIZE=3G
MIRROR=${MOONBASE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${MOONBASE_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

log() { echo "build-debian: $*" >&2; }
die() { echo "build-debian: error: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"

need_pkgs=()
for p in mmdebstrap grub-pc-bin grub-common fdisk e2fsprogs qemu-utils; do
	dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
	apt-get update -qq >&2
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
	log "installing ${need_pkgs[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >&2
fi

INCLUDE=(systemd systemd-sysv udev dbus kmod cloud-init cloud-guest-utils
	openssh-server sshfs locales qemu-guest-agent linux-image-amd64 sudo
	ifupdown isc-dhcp-client iproute2 iputils-ping netbase procps less
	e2fsprogs fdisk ca-certificates)
# versions of what is asked for (kept per state of the apt lists, as
# apt-cache can take seconds per run)
mkdir -p "$CACHE"
LISTS_FP=$( {
	echo "${INCLUDE[*]}"
	find /var/lib/apt/lists -maxdepth 1 -type f -printf '%f %s %T@\n' 2>/dev/null | LC_ALL=C sort
} | sha256sum | cut -c1-16)
RESOLVED=$CACHE/.debian-packages-$LISTS_FP
if [ -s "$RESOLVED" ]; then
	VERSIONS=$(cat "$RESOLVED")
else
	KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	[ -n "$KPKG" ] || die "cannot resolve linux-image-amd64"
	VERSIONS=$(apt-cache show --no-all-versions "${INCLUDE[@]}" "$KPKG" 2>/dev/null |
		awk '/^Package: / { p = $2 } /^Version: / { print p "=" $2 }' | sort -u)
	rm -f "$CACHE"/.debian-packages-*
	echo "$VERSIONS" >"$RESOLVED.tmp" && mv "$RESOLVED.tmp" "$RESOLVED"
fi

HASH=$( {
	echo "build-debian v1"
	sha256sum "$HERE/build-debian.sh" | cut -d' ' -f1
	echo "$VERSIONS"
} | sha256sum | cut -c1-16)
OUT=$CACHE/debian-$HASH
mkdir -p "$CACHE"
complete() { [ -s "$1/disk.qcow2" ] && [ -s "$1/metadata.json" ]; }
if [ $FORCE = 0 ] && complete "$OUT"; then echo "$OUT"; exit 0; fi

exec 9>"$CACHE/.debian.lock"
flock -w 3600 9 || die "timed out waiting for $CACHE/.debian.lock"
if [ $FORCE = 0 ] && complete "$OUT"; then echo "$OUT"; exit 0; fi

START=$(date +%s)
WORK=$(mktemp -d "$CACHE/.build-debian.XXXXXX")
# cleanup: if mmdebstrap was interrupted, its mounts (proc, sys, dev/pts...)
# may still be inside $WORK: unmount them before deleting anything
cleanup() {
	local m
	for m in $(awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	if awk -v w="$WORK/" 'index($2, w) == 1 { f = 1 } END { exit !f }' /proc/mounts; then
		echo "build-debian: not removing $WORK: something is still mounted in it" >&2
		return
	fi
	rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
ROOT=$WORK/root
UUID=$(cat /proc/sys/kernel/random/uuid)

# ------------------------------------------------------------------ rootfs
log "mmdebstrap $SUITE (a few minutes)"
inc=$(IFS=,; echo "${INCLUDE[*]}")
mmdebstrap --variant=apt --format=directory --include="$inc" \
	--aptopt='Acquire::Check-Valid-Until "false"' \
	--aptopt='Acquire::Check-Date "false"' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-include=/usr/share/locale/locale.alias' \
	--essential-hook='mkdir -p "$1/etc/default" && echo "LANG=C.UTF-8" > "$1/etc/default/locale"' \
	--essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/usr/share/initramfs-tools/modules.d" && printf "MODULES=list\n" > "$1/etc/initramfs-tools/conf.d/moonbase.conf" && printf "%s\n" virtio_pci virtio_blk virtio_scsi virtio_net sd_mod sr_mod ahci ext4 crc32c_generic > "$1/usr/share/initramfs-tools/modules.d/moonbase"' \
	--customize-hook='echo "en_US.UTF-8 UTF-8" > "$1/etc/locale.gen" && chroot "$1" locale-gen >/dev/null' \
	"$SUITE" "$ROOT" \
	"deb $MIRROR $SUITE main" \
	"deb $MIRROR $SUITE-updates main" \
	"deb $SECURITY_MIRROR $SUITE-security main" >&2

log "configuring the image"
dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f '${Package}=${Version}\n' >"$WORK/packages.txt"
# no baked-in identity: cloud-init makes host keys, systemd the machine-id
rm -f "$ROOT"/etc/ssh/ssh_host_*
: >"$ROOT/etc/machine-id"
rm -f "$ROOT/var/lib/dbus/machine-id"
ln -s /etc/machine-id "$ROOT/var/lib/dbus/machine-id"
echo "debian" >"$ROOT/etc/hostname"
cat >"$ROOT/etc/hosts" <<'EOF'
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOF
echo "UUID=$UUID / ext4 rw,discard,errors=remount-ro 0 1" >"$ROOT/etc/fstab"
mkdir -p "$ROOT/etc/network/interfaces.d"
cat >"$ROOT/etc/network/interfaces" <<'EOF'
# cloud-init writes the interfaces to /etc/network/interfaces.d/50-cloud-init
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback
EOF
# only the local datasources: nothing probes a metadata address on a network
cat >"$ROOT/etc/cloud/cloud.cfg.d/90-moonbase-datasources.cfg" <<'EOF'
# moonbase test image: local seeds only (NoCloud label cidata, ConfigDrive)
datasource_list: [ NoCloud, ConfigDrive, None ]
EOF
echo "LANG=C.UTF-8" >"$ROOT/etc/default/locale"
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/cache/apt/archives/*.deb
rm -f "$ROOT"/var/log/*.log "$ROOT"/var/log/apt/* 2>/dev/null || true

KVER=$(ls "$ROOT"/boot/vmlinuz-* | sed 's|.*/vmlinuz-||' | sort -V | tail -n 1)
[ -n "$KVER" ] && [ -f "$ROOT/boot/initrd.img-$KVER" ] || die "no kernel/initrd in the image"
# /vmlinuz and /initrd.img follow kernel upgrades; fall back to the files
KPATH=/vmlinuz IPATH=/initrd.img
[ -e "$ROOT/vmlinuz" ] || KPATH=/boot/vmlinuz-$KVER
[ -e "$ROOT/initrd.img" ] || IPATH=/boot/initrd.img-$KVER
CMDLINE="root=UUID=$UUID ro console=tty0 console=ttyS0,115200n8"

# GRUB: modules on the root filesystem, a fixed grub.cfg
mkdir -p "$ROOT/boot/grub/i386-pc"
cp /usr/lib/grub/i386-pc/*.mod /usr/lib/grub/i386-pc/*.lst "$ROOT/boot/grub/i386-pc/"
cat >"$ROOT/boot/grub/grub.cfg" <<EOF
# moonbase Debian test image (written by tests/images/build-debian.sh)
set timeout=0
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
menuentry 'Debian GNU/Linux 12' {
	search --no-floppy --fs-uuid --set=root $UUID
	linux $KPATH $CMDLINE
	initrd $IPATH
}
EOF
chown -R 0:0 "$ROOT/boot/grub"

# ------------------------------------------------------------------ disk
log "making the disk"
truncate -s "$DISK_SIZE" "$WORK/disk.raw"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$WORK/disk.raw" >&2
part_start=$((2048 * 512))
part_size=$(( $(stat -c %s "$WORK/disk.raw") - part_start ))
truncate -s "$part_size" "$WORK/root.img"
mkfs.ext4 -q -F -b 4096 -L cloudimg-rootfs -U "$UUID" -E root_owner=0:0 -d "$ROOT" "$WORK/root.img" >&2
dd if="$WORK/root.img" of="$WORK/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
rm -f "$WORK/root.img"

# boot.img in the MBR (its first 440 bytes: the partition table stays), then
# core.img from sector 1: boot.img's default is to load core.img from LBA 1,
# and core.img's first sector (diskboot) loads the rest from LBA 2 on.
cat >"$WORK/early.cfg" <<EOF
search.fs_uuid $UUID root
set prefix=(\$root)/boot/grub
EOF
grub-mkimage -O i386-pc -o "$WORK/core.img" -c "$WORK/early.cfg" -p /boot/grub \
	biosdisk part_msdos ext2 search_fs_uuid normal configfile linux echo test serial terminal gzio
core_size=$(stat -c %s "$WORK/core.img")
[ "$core_size" -lt $(( (2048 - 1) * 512 )) ] || die "core.img ($core_size bytes) does not fit before the partition"
dd if=/usr/lib/grub/i386-pc/boot.img of="$WORK/disk.raw" bs=440 count=1 conv=notrunc status=none
dd if="$WORK/core.img" of="$WORK/disk.raw" bs=512 seek=1 conv=notrunc status=none

mkdir -p "$WORK/out"
qemu-img convert -c -f raw -O qcow2 "$WORK/disk.raw" "$WORK/out/disk.qcow2"
rm -f "$WORK/disk.raw"
mv "$WORK/packages.txt" "$WORK/out/packages.txt"
CI_VER=$(grep '^cloud-init=' "$WORK/out/packages.txt" | cut -d= -f2)
cat >"$WORK/out/metadata.json" <<EOF
{
  "os": "debian",
  "release": "bookworm",
  "release_title": "Debian 12 (bookworm)",
  "release_codename": "Bookworm",
  "aliases": "12,bookworm,debian",
  "os_version": "12",
  "version": "$HASH",
  "arch": "amd64",
  "build_date": "$(date -u +%Y%m%d)",
  "kernel_version": "$KVER",
  "kernel_cmdline": "",
  "boot": "bios (GRUB in the MBR, root partition 1)",
  "root_uuid": "$UUID",
  "default_user": "debian",
  "cloud_init_version": "$CI_VER",
  "disk": "disk.qcow2",
  "disk_format": "qcow2"
}
EOF
rm -rf "$OUT"
mv "$WORK/out" "$OUT"
log "built in $(( $(date +%s) - START )) s: $(du -sh "$OUT" | cut -f1)"
echo "$OUT"
