#!/usr/bin/env bash
# debian-base.sh — the root filesystem every Debian 12 test image flavour is
# made from (build-debian.sh): one mmdebstrap run of bookworm with systemd,
# cloud-init (NoCloud), openssh-server, sshfs, locales, qemu-guest-agent,
# linux-image-amd64 (with 9p), sudo and the basic tools, but no network
# stack; plus, fetched in the same run, the packages of each set named on
# the command line (and what they need beyond the base), in
# /var/cache/moonbase-flavours/<NAME>/, so that a flavour installs them
# without the network. No SSH host keys, an empty /etc/machine-id and no
# /etc/resolv.conf are left in it, as in Debian's cloud images.
#
# Usage: tests/images/debian-base.sh [--path] NAME=PKG[,PKG...]...
#   --path: only print the directory it is (or would be) in
# Output (the directory is printed as the last line on stdout):
#   ${MOONBASE_TEST_IMAGES:-$HOME/.cache/moonbase-test-images}/debian-base-<hash>/
#     rootfs.tar.zst   the tree (numeric owners, xattrs, ACLs)
# <hash> covers this script, its arguments and the candidate versions of
# every package asked for, so a second run with the same inputs only prints
# the path. Needs root and Debian's archive. Called with the flavours' lock
# (build-debian.sh) held, or by itself.
set -euo pipefail

CACHE=${MOONBASE_TEST_IMAGES:-$HOME/.cache/moonbase-test-images}
SUITE=bookworm
MIRROR=${MOONBASE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${MOONBASE_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { echo "debian-base: $*" >&2; }
die() { echo "debian-base: error: $*" >&2; exit 1; }
SETS=()
ONLY_PATH=0
for a in "$@"; do
	case $a in
	--path) ONLY_PATH=1 ;;
	*=*) [[ ${a%%=*} =~ ^[a-z0-9-]+$ ]] || die "bad set name in $a"; SETS+=("$a") ;;
	*) die "usage: debian-base.sh NAME=PKG[,PKG...]..." ;;
	esac
done

[ "$(id -u)" = 0 ] || die "must run as root"
. "$HERE/builder.sh"
need_host_pkgs mmdebstrap zstd

# everything but the network stack (isc-dhcp-client comes with cloud-init)
INCLUDE=(systemd systemd-sysv udev dbus kmod cloud-init cloud-guest-utils
	openssh-server sshfs locales qemu-guest-agent linux-image-amd64 sudo
	isc-dhcp-client iproute2 iputils-ping netbase procps less
	e2fsprogs fdisk ca-certificates)
SET_PKGS=$(for s in "${SETS[@]}"; do echo "${s#*=}"; done | tr ', ' '\n\n' | sed '/^$/d' | sort -u)
# versions of what is asked for (kept per state of the apt lists, as
# apt-cache can take seconds per run)
mkdir -p "$CACHE"
LISTS_FP=$( {
	echo "${INCLUDE[*]} $SET_PKGS"
	find /var/lib/apt/lists -maxdepth 1 -type f -printf '%f %s %T@\n' 2>/dev/null | LC_ALL=C sort
} | sha256sum | cut -c1-16)
RESOLVED=$CACHE/.debian-packages-$LISTS_FP
if [ -s "$RESOLVED" ]; then
	VERSIONS=$(cat "$RESOLVED")
else
	KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	[ -n "$KPKG" ] || die "cannot resolve linux-image-amd64"
	# shellcheck disable=SC2086
	VERSIONS=$(apt-cache show --no-all-versions "${INCLUDE[@]}" $SET_PKGS "$KPKG" 2>/dev/null |
		awk '/^Package: / { p = $2 } /^Version: / { print p "=" $2 }' | sort -u)
	echo "$VERSIONS" >"$RESOLVED.tmp" && mv "$RESOLVED.tmp" "$RESOLVED"
fi

HASH=$( {
	echo "debian-base v1"
	sha256sum "$HERE/debian-base.sh" | cut -d' ' -f1
	printf '%s\n' "${SETS[@]}"
	echo "$VERSIONS"
} | sha256sum | cut -c1-16)
OUT=$CACHE/debian-base-$HASH
if [ $ONLY_PATH = 1 ] || [ -s "$OUT/rootfs.tar.zst" ]; then echo "$OUT"; exit 0; fi

# the rest in a mount namespace of its own, the tree on a tmpfs (its removal
# is instant; deleting it from a busy disk took a minute)
if [ -z "${MB_DEBIAN_BASE_NS:-}" ]; then
	MB_DEBIAN_BASE_NS=1 exec unshare -m --propagation private "$0" "$@"
fi
START=$(date +%s)
# the work directory, removed at exit (what a killed chroot step left mounted
# in it unmounted first)
work_dir debian-base
ROOT=$WORK/root
mkdir -p "$ROOT"
mount -t tmpfs -o mode=755,size=6g tmpfs "$ROOT"

log "mmdebstrap $SUITE (a few minutes)"
# each set's packages (and what they need beyond the base), fetched now
hook='set -e'
for s in "${SETS[@]}"; do
	name=${s%%=*} pkgs=${s#*=}
	dir=/var/cache/moonbase-flavours/$name
	hook="$hook; mkdir -p \"\$1$dir/partial\""
	hook="$hook; chroot \"\$1\" apt-get install -y -qq --download-only --no-install-recommends"
	hook="$hook -o Dir::Cache::archives=$dir/ ${pkgs//,/ }"
	hook="$hook; rm -rf \"\$1$dir/partial\" \"\$1$dir/lock\""
done
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
	--customize-hook="$hook" \
	"$SUITE" "$ROOT" \
	"deb $MIRROR $SUITE main" \
	"deb $MIRROR $SUITE-updates main" \
	"deb $SECURITY_MIRROR $SUITE-security main" >&2
T_DEBOOTSTRAP=$(( $(date +%s) - START ))

log "configuring it"
# no baked-in identity: cloud-init makes host keys, systemd the machine-id
rm -f "$ROOT"/etc/ssh/ssh_host_*
: >"$ROOT/etc/machine-id"
rm -f "$ROOT/var/lib/dbus/machine-id"
ln -s /etc/machine-id "$ROOT/var/lib/dbus/machine-id"
echo "debian" >"$ROOT/etc/hostname"
printf '%s\n' "127.0.0.1	localhost" "::1		localhost ip6-localhost ip6-loopback" \
	"ff02::1		ip6-allnodes" "ff02::2		ip6-allrouters" >"$ROOT/etc/hosts"
# no /etc/resolv.conf of the build host's: the guest's network stack makes
# one, or nothing does
rm -f "$ROOT/etc/resolv.conf"
# only the local datasources: nothing probes a metadata address on a network
printf '%s\n' "# moonbase test image: local seeds only (NoCloud label cidata, ConfigDrive)" \
	"datasource_list: [ NoCloud, ConfigDrive, None ]" \
	>"$ROOT/etc/cloud/cloud.cfg.d/90-moonbase-datasources.cfg"
echo "LANG=C.UTF-8" >"$ROOT/etc/default/locale"
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin \
	"$ROOT"/var/cache/apt/archives/*.deb
rm -f "$ROOT"/var/log/*.log "$ROOT"/var/log/apt/* 2>/dev/null || true

mkdir -p "$WORK/out"
tar --numeric-owner --xattrs --xattrs-include='*' --acls -C "$ROOT" -cf - . |
	zstd -q -T0 -3 -o "$WORK/out/rootfs.tar.zst"
umount "$ROOT"
mv "$WORK/out" "$OUT"
log "built in $(( $(date +%s) - START )) s (mmdebstrap $T_DEBOOTSTRAP s): $(du -sh "$OUT" | cut -f1)"
echo "$OUT"
