#!/usr/bin/env bash
# build-debian.sh — builds a real Debian 12 (bookworm) cloud image for the
# moonbase tests that must take the path a user takes with Ubuntu or Debian
# cloud images: systemd, cloud-init (NoCloud), openssh-server, sshfs,
# locales, qemu-guest-agent, linux-image-amd64 (with 9p), on a partitioned
# disk that SeaBIOS boots by itself (GRUB in the MBR gap).  No SSH host keys
# and an empty /etc/machine-id are baked in, as in Debian's cloud images.
#
# Flavours differ in the guest's network stack, the part of the guest that
# moonbase's network-config and DNS go through (cloud-init picks its
# renderer by what is installed: eni, netplan, network-manager):
#   ifupdown             ifupdown + isc-dhcp-client, no resolvconf (the
#                        default: what older Debian cloud images were)
#   ifupdown-resolvconf  ifupdown + isc-dhcp-client + resolvconf
#   networkd             netplan.io + systemd-networkd, no systemd-resolved
#   networkd-resolved    netplan.io + systemd-networkd + systemd-resolved
#                        (what Ubuntu's cloud images are)
#   networkmanager       NetworkManager (no ifupdown, no netplan)
# All flavours come from one base root filesystem (debian-base.sh: a single
# mmdebstrap run, which also downloads every flavour's extra packages); a
# flavour is that base unpacked, its packages installed from those files (no
# network), and its disk made. The base is cached too, so the flavours after
# the first cost a minute or so each, not a full mmdebstrap.
#
# Usage: tests/images/build-debian.sh [--flavour NAME] [--force]
#        tests/images/build-debian.sh --list        (the flavours)
#        tests/images/build-debian.sh --base        (only the base: its directory)
# Output (the directory is printed as the last line on stdout):
#   ${MOONBASE_TEST_IMAGES:-$HOME/.cache/moonbase-test-images}/debian-<flavour>-<hash>/
#     disk.qcow2     MBR disk, partition 1 = ext4 root (label cloudimg-rootfs),
#                    3 GiB virtual; cloud-init grows it (growpart + resize2fs)
#     metadata.json  {"os": "debian", "release": "bookworm", ...}; release
#                    bookworm-<flavour> for the flavours but the default
#     packages.txt   every package in the image with its version
#     lxd.tar.xz     the same system as an LXD container image, split: LXD's
#     root.squashfs  metadata (tests/images/lxd/) and the root filesystem
#                    (no kernel, modules, GRUB or fstab: a container has none)
#   .../debian-base-<hash>/rootfs.tar.zst   the shared base (debian-base.sh)
# <hash> covers the base's name (its own hash: debian-base.sh, the candidate
# versions of every package), this script and the flavour, so a second run
# with the same inputs only prints the path.
# No loop devices or mounts are needed for the disk: mkfs.ext4 -d turns the
# tree into a filesystem image, sfdisk partitions a plain file, and GRUB's
# boot.img + a core.img from grub-mkimage are written into the MBR and the
# gap after it by dd. Installing a flavour's packages mounts /proc, /sys and
# /dev in the unpacked root inside a mount namespace of its own. Needs root
# and Debian's archive (for the base).
# The initramfs holds only the modules a QEMU guest needs to find its root
# (MODULES=list: virtio, ahci/sd/sr, ext4; set up by debian-base.sh): small,
# so quick to build and to unpack under TCG; the rest load from the root
# filesystem.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${MOONBASE_TEST_IMAGES:-$HOME/.cache/moonbase-test-images}
DISK_SIZE=3G

# the network stack of each flavour: its extra packages (installed without
# their recommendations, as in a minimal cloud image)
declare -A FLAVOUR_PKGS=(
	[ifupdown]="ifupdown"
	[ifupdown-resolvconf]="ifupdown resolvconf"
	[networkd]="netplan.io"
	[networkd-resolved]="netplan.io systemd-resolved"
	[networkmanager]="network-manager"
)
FLAVOURS="ifupdown ifupdown-resolvconf networkd networkd-resolved networkmanager"
DEFAULT_FLAVOUR=ifupdown

log() { echo "build-debian: $*" >&2; }
die() { echo "build-debian: error: $*" >&2; exit 1; }

ARGS=("$@")
FORCE=0 ONLY_BASE=0
FLAVOUR=$DEFAULT_FLAVOUR
while [ $# -gt 0 ]; do
	case $1 in
	--force) FORCE=1 ;;
	--flavour) FLAVOUR=${2:-}; shift ;;
	--flavour=*) FLAVOUR=${1#*=} ;;
	--list) echo "$FLAVOURS" | tr ' ' '\n'; exit 0 ;;
	--base) ONLY_BASE=1 ;;
	*) die "unknown argument $1 (usage: build-debian.sh [--flavour NAME] [--force] | --list | --base)" ;;
	esac
	shift
done
[ -n "${FLAVOUR_PKGS[$FLAVOUR]:-}" ] ||
	die "unknown flavour \"$FLAVOUR\" (one of: $FLAVOURS)"
[ "$(id -u)" = 0 ] || die "must run as root"

. "$HERE/builder.sh"
need_host_pkgs grub-pc-bin grub-common fdisk e2fsprogs qemu-utils zstd

SETS=()
for f in $FLAVOURS; do SETS+=("$f=$(echo "${FLAVOUR_PKGS[$f]}" | tr ' ' ,)"); done
if [ $ONLY_BASE = 1 ]; then
	exec 9>"$CACHE/.debian.lock"
	flock -w 3600 9 || die "timed out waiting for $CACHE/.debian.lock"
	exec "$HERE/debian-base.sh" "${SETS[@]}"
fi
# the base this flavour is made from (debian-base.sh --path: its name only)
BASE=$("$HERE/debian-base.sh" --path "${SETS[@]}" | tail -n 1)
HASH=$( {
	echo "build-debian v2 $FLAVOUR"
	basename "$BASE"
	sha256sum "$HERE/build-debian.sh" | cut -d' ' -f1
	(cd "$HERE" && sha256sum lxd-metadata.sh lxd/metadata.yaml.in lxd/templates/*)
} | sha256sum | cut -c1-16)
OUT=$CACHE/debian-$FLAVOUR-$HASH
complete() {
	[ -s "$1/disk.qcow2" ] && [ -s "$1/lxd.tar.xz" ] && [ -s "$1/root.squashfs" ] &&
		[ -s "$1/metadata.json" ]
}
if [ $FORCE = 0 ] && complete "$OUT"; then echo "$OUT"; exit 0; fi

# the rest in a mount namespace of its own: the root tree on a tmpfs (whose
# removal is instant: deleting a tree of 40 000 files from a busy disk took
# 50 s), and the chroot's /proc, /sys and /dev, all gone when it ends
if [ -z "${MB_BUILD_DEBIAN_NS:-}" ]; then
	MB_BUILD_DEBIAN_NS=1 exec unshare -m --propagation private "$0" "${ARGS[@]}"
fi
exec 9>"$CACHE/.debian.lock"
flock -w 3600 9 || die "timed out waiting for $CACHE/.debian.lock"
if [ $FORCE = 0 ] && complete "$OUT"; then echo "$OUT"; exit 0; fi
# the base (cached; a few minutes of mmdebstrap when it is not)
[ "$("$HERE/debian-base.sh" "${SETS[@]}" | tail -n 1)" = "$BASE" ] ||
	die "debian-base.sh made another base than $BASE"

START=$(date +%s)
# the work directory, removed at exit (what a killed chroot step left mounted
# in it unmounted first)
work_dir build-debian
ROOT=$WORK/root
TAR=(tar --numeric-owner --xattrs --xattrs-include='*' --acls)

# ------------------------------------------------------------------ flavour
T_FLAVOUR=$(date +%s)
log "flavour $FLAVOUR: unpacking the base, installing ${FLAVOUR_PKGS[$FLAVOUR]}"
mkdir -p "$ROOT"
mount -t tmpfs -o mode=755,size=6g tmpfs "$ROOT"
zstd -q -dc "$BASE/rootfs.tar.zst" | "${TAR[@]}" -xpf - -C "$ROOT"
log "unpacked at +$(( $(date +%s) - T_FLAVOUR )) s"
# the flavour's packages, from the files the base fetched (no network); no
# service starts in the chroot
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
mount -t proc proc "$ROOT/proc"
mount -t sysfs sysfs "$ROOT/sys"
mount --rbind /dev "$ROOT/dev"
DEBIAN_FRONTEND=noninteractive chroot "$ROOT" sh -c \
	"apt-get install -y -qq --no-install-recommends /var/cache/moonbase-flavours/$FLAVOUR/*.deb" >&2
case $FLAVOUR in
networkd*) chroot "$ROOT" systemctl enable systemd-networkd.service >&2 ;;
esac
umount -R "$ROOT/dev" "$ROOT/sys" "$ROOT/proc"
rm -f "$ROOT/usr/sbin/policy-rc.d"
rm -rf "$ROOT/var/cache/moonbase-flavours" "$ROOT"/var/cache/apt/*.bin \
	"$ROOT"/var/lib/apt/lists/* "$ROOT"/var/log/apt/* "$ROOT"/var/log/dpkg.log
case $FLAVOUR in
ifupdown*)
	mkdir -p "$ROOT/etc/network/interfaces.d"
	printf '%s\n' "# cloud-init writes the interfaces to /etc/network/interfaces.d/50-cloud-init" \
		"source /etc/network/interfaces.d/*" "" "auto lo" "iface lo inet loopback" \
		>"$ROOT/etc/network/interfaces"
	;;
esac
dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f '${Package}=${Version}\n' >"$WORK/packages.txt"
for p in ${FLAVOUR_PKGS[$FLAVOUR]}; do
	grep -q "^$p=" "$WORK/packages.txt" || die "flavour $FLAVOUR: $p is not installed"
done

UUID=$(cat /proc/sys/kernel/random/uuid)
echo "UUID=$UUID / ext4 rw,discard,errors=remount-ro 0 1" >"$ROOT/etc/fstab"
KVER=$(ls "$ROOT"/boot/vmlinuz-* | sed 's|.*/vmlinuz-||' | sort -V | tail -n 1)
[ -n "$KVER" ] && [ -f "$ROOT/boot/initrd.img-$KVER" ] || die "no kernel/initrd in the image"
# /vmlinuz and /initrd.img follow kernel upgrades; fall back to the files
KPATH=/vmlinuz IPATH=/initrd.img
[ -e "$ROOT/vmlinuz" ] || KPATH=/boot/vmlinuz-$KVER
[ -e "$ROOT/initrd.img" ] || IPATH=/boot/initrd.img-$KVER
CMDLINE="root=UUID=$UUID ro console=tty0 console=ttyS0,115200n8"

# GRUB: its modules from the build host (the image has no GRUB package), a
# fixed grub.cfg
mkdir -p "$ROOT/boot/grub/i386-pc"
cp /usr/lib/grub/i386-pc/*.mod /usr/lib/grub/i386-pc/*.lst "$ROOT/boot/grub/i386-pc/"
{
	echo "# moonbase Debian test image (written by tests/images/build-debian.sh)"
	echo "set timeout=0"
	echo "serial --unit=0 --speed=115200"
	echo "terminal_input console serial"
	echo "terminal_output console serial"
	echo "menuentry 'Debian GNU/Linux 12' {"
	echo "	search --no-floppy --fs-uuid --set=root $UUID"
	echo "	linux $KPATH $CMDLINE"
	echo "	initrd $IPATH"
	echo "}"
} >"$ROOT/boot/grub/grub.cfg"
chown -R 0:0 "$ROOT/boot/grub"

# ------------------------------------------------------------------ LXD
# the same system as an LXD container image, split: LXD's metadata
# (tests/images/lxd/) and the root filesystem without kernel, modules, GRUB
# or fstab (a container has none)
log "making the LXD container image (lxd.tar.xz + root.squashfs)"
mkdir -p "$WORK/out"
"$HERE/lxd-metadata.sh" "$WORK/out/lxd.tar.xz" debian bookworm \
	"Debian 12 (bookworm, $FLAVOUR) moonbase test image"
cp -a "$ROOT/etc/fstab" "$WORK/fstab.disk"
echo "# an LXD container: its root filesystem is LXD's" >"$ROOT/etc/fstab"
mksquashfs "$ROOT" "$WORK/out/root.squashfs" -quiet -no-progress -comp zstd \
	-Xcompression-level 3 -wildcards -e 'boot/*' 'usr/lib/modules/*' 'vmlinuz*' \
	'initrd.img*' >&2
mv "$WORK/fstab.disk" "$ROOT/etc/fstab"

# ------------------------------------------------------------------ disk
log "making the disk (packages installed at +$(( $(date +%s) - T_FLAVOUR )) s)"
truncate -s "$DISK_SIZE" "$WORK/disk.raw"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$WORK/disk.raw" >&2
part_start=$((2048 * 512))
part_blocks=$(( ($(stat -c %s "$WORK/disk.raw") - part_start) / 4096 ))
# the filesystem straight into partition 1 (mke2fs's offset=): no copy
mkfs.ext4 -q -F -b 4096 -L cloudimg-rootfs -U "$UUID" -E "root_owner=0:0,offset=$part_start" \
	-d "$ROOT" "$WORK/disk.raw" "$part_blocks" >&2
log "mkfs.ext4 done at +$(( $(date +%s) - T_FLAVOUR )) s"
umount "$ROOT"

# boot.img in the MBR (its first 440 bytes: the partition table stays), then
# core.img from sector 1: boot.img's default is to load core.img from LBA 1,
# and core.img's first sector (diskboot) loads the rest from LBA 2 on.
printf '%s\n' "search.fs_uuid $UUID root" 'set prefix=($root)/boot/grub' >"$WORK/early.cfg"
grub-mkimage -O i386-pc -o "$WORK/core.img" -c "$WORK/early.cfg" -p /boot/grub \
	biosdisk part_msdos ext2 search_fs_uuid normal configfile linux echo test serial terminal gzio
core_size=$(stat -c %s "$WORK/core.img")
[ "$core_size" -lt $(( (2048 - 1) * 512 )) ] || die "core.img ($core_size bytes) does not fit before the partition"
dd if=/usr/lib/grub/i386-pc/boot.img of="$WORK/disk.raw" bs=440 count=1 conv=notrunc status=none
dd if="$WORK/core.img" of="$WORK/disk.raw" bs=512 seek=1 conv=notrunc status=none

mkdir -p "$WORK/out"
T_CONVERT=$(date +%s)
qemu-img convert -c -o compression_type=zstd -f raw -O qcow2 "$WORK/disk.raw" "$WORK/out/disk.qcow2"
log "qemu-img convert (compressed, zstd): $(( $(date +%s) - T_CONVERT )) s"
rm -f "$WORK/disk.raw"
mv "$WORK/packages.txt" "$WORK/out/packages.txt"
CI_VER=$(grep '^cloud-init=' "$WORK/out/packages.txt" | cut -d= -f2)
RELEASE=bookworm ALIASES="12,bookworm,debian,bookworm-$FLAVOUR"
if [ "$FLAVOUR" != "$DEFAULT_FLAVOUR" ]; then RELEASE=bookworm-$FLAVOUR ALIASES=$RELEASE; fi
{
	echo "{"
	echo "  \"os\": \"debian\","
	echo "  \"release\": \"$RELEASE\","
	echo "  \"release_title\": \"Debian 12 (bookworm, $FLAVOUR)\","
	echo "  \"release_codename\": \"Bookworm\","
	echo "  \"aliases\": \"$ALIASES\","
	echo "  \"os_version\": \"12\","
	echo "  \"version\": \"$HASH\","
	echo "  \"arch\": \"amd64\","
	echo "  \"build_date\": \"$(date -u +%Y%m%d)\","
	echo "  \"kernel_version\": \"$KVER\","
	echo "  \"kernel_cmdline\": \"\","
	echo "  \"boot\": \"bios (GRUB in the MBR, root partition 1)\","
	echo "  \"root_uuid\": \"$UUID\","
	echo "  \"default_user\": \"debian\","
	echo "  \"network_stack\": \"$FLAVOUR\","
	echo "  \"network_packages\": \"${FLAVOUR_PKGS[$FLAVOUR]}\","
	echo "  \"cloud_init_version\": \"$CI_VER\","
	echo "  \"disk\": \"disk.qcow2\","
	echo "  \"disk_format\": \"qcow2\","
	echo "  \"lxd_metadata\": \"lxd.tar.xz\","
	echo "  \"lxd_rootfs\": \"root.squashfs\""
	echo "}"
} >"$WORK/out/metadata.json"
rm -rf "$OUT"
mv "$WORK/out" "$OUT"
log "flavour $FLAVOUR built in $(( $(date +%s) - T_FLAVOUR )) s (this run: $(( $(date +%s) - START )) s): $(du -sh "$OUT" | cut -f1)"
echo "$OUT"
