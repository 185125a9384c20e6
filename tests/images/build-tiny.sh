#!/usr/bin/env bash
# build-tiny.sh — builds the *tiny* moonbase test cloud image (CirrOS-like)
# from Debian packages: Debian's linux-image-amd64 kernel (with virtio and 9p
# modules) + a busybox initramfs, and an ext4 root filesystem with busybox,
# dropbear, OpenSSH's sftp-server, sudo, resize2fs and a small NoCloud
# "cloud-init" written in busybox sh/awk (tests/images/tiny/).
#
# Usage: tests/images/build-tiny.sh [--force]
# Output (the directory is printed as the last line on stdout):
#   ${MOONBASE_TEST_IMAGES:-$HOME/.cache/moonbase-test-images}/tiny-<hash>/
#     disk.qcow2     ext4 root filesystem, no partition table, 256 MiB virtual
#     vmlinuz        kernel for direct boot (-kernel), Debian's bzImage
#     vmlinux        the same kernel uncompressed (PVH ELF): -kernel vmlinux
#                    boots ~5 s faster under TCG (no xz decompression)
#     initrd.img     busybox initramfs (-initrd)
#     metadata.json  {"os","release","version","arch","kernel_cmdline",...}
#     packages.txt   the Debian package versions it was built from
#     lxd.tar.xz     the same system as an LXD container image, split: LXD's
#     root.tar.xz    metadata (tests/images/lxd/) and the root filesystem
#                    without kernel modules (the init knows containers)
# <hash> is a sha256 over this script, tests/images/tiny/ and the exact
# Debian package versions, so a second run with the same inputs only prints
# the path. Needs root (apt-get, file ownership in the image) and Debian's
# package archive; installs the host tools it needs itself.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TINY_SRC=$HERE/tiny
CACHE=${MOONBASE_TEST_IMAGES:-$HOME/.cache/moonbase-test-images}
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

log() { echo "build-tiny: $*" >&2; }
die() { echo "build-tiny: error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (apt-get, root-owned files in the image)"

# ------------------------------------------------------------------ host tools
need_pkgs=()
for p in qemu-utils e2fsprogs cpio kmod gzip xz-utils libc-bin util-linux; do
	dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
	log "apt-get update"
	apt-get update -qq >&2
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
	log "installing ${need_pkgs[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >&2
fi

# ------------------------------------------------------------------ packages
WANT=(busybox-static dropbear-bin openssh-sftp-server sudo e2fsprogs libpam-modules)
# Resolving versions takes several apt-cache runs (seconds each where apt
# keeps no binary cache), so the result is kept per state of the package
# lists: while the lists do not change, a cached image is found at once.
LISTS_FP=$( {
	echo "${WANT[*]}"
	sha256sum "$HERE/build-tiny.sh" | cut -d' ' -f1
	find /var/lib/apt/lists -maxdepth 1 -type f -printf '%f %s %T@\n' 2>/dev/null | LC_ALL=C sort
} | sha256sum | cut -c1-16)
RESOLVED=$CACHE/.tiny-packages-$LISTS_FP
mkdir -p "$CACHE"

# the kernel behind the linux-image-amd64 metapackage (not the cloud kernel:
# it has no 9p modules)
resolve_packages() {
	local kpkg
	kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	[ -n "$kpkg" ] || die "cannot resolve linux-image-amd64"
	local pkgs
	mapfile -t pkgs < <( { echo "$kpkg"; lib_closure "${WANT[@]}"; } | sort -u)
	local vers
	vers=$(apt-cache show --no-all-versions "${pkgs[@]}" 2>/dev/null |
		awk '/^Package: / { p = $2 } /^Version: / { print p "=" $2 }' | sort -u)
	for p in "${pkgs[@]}"; do
		grep -q "^$p=" <<<"$vers" || die "no version for package $p"
	done
	echo "$vers"
}
# their shared libraries: the Depends/Pre-Depends closure restricted to
# library packages (which binaries need which .so is resolved later by ld.so)
lib_closure() {
	local todo=("$@") seen=" $* " next d
	while [ ${#todo[@]} -gt 0 ]; do
		next=()
		for d in $(apt-cache depends --no-recommends --no-suggests --no-conflicts \
			--no-breaks --no-replaces --no-enhances "${todo[@]}" 2>/dev/null |
			awk '$1 ~ /^\|?(Pre)?Depends:$/ && $2 !~ /^</ { print $2 }' | sort -u); do
			case "$d" in
			lib*|zlib*) case "$seen" in *" $d "*) ;; *) seen="$seen$d "; next+=("$d") ;; esac ;;
			esac
		done
		todo=("${next[@]+"${next[@]}"}")
	done
	echo "$seen" | tr ' ' '\n' | grep -v '^$' | sort -u
}
if [ -s "$RESOLVED" ]; then
	PKGVERS=$(cat "$RESOLVED")
else
	PKGVERS=$(resolve_packages)
	rm -f "$CACHE"/.tiny-packages-*
	echo "$PKGVERS" >"$RESOLVED.tmp" && mv "$RESOLVED.tmp" "$RESOLVED"
fi
KPKG=$(sed -n 's/^\(linux-image-[0-9][^=]*\)=.*/\1/p' <<<"$PKGVERS" | head -n 1)
[ -n "$KPKG" ] || die "no kernel package in the resolved list"
KVER=${KPKG#linux-image-}

# ------------------------------------------------------------------ cache key
HASH=$( {
	echo "build-tiny v1"
	sha256sum "$HERE/build-tiny.sh" | cut -d' ' -f1
	(cd "$TINY_SRC" && find . -type f -o -type l | LC_ALL=C sort | while read -r f; do
		echo "$f $(stat -c %a "$f") $(sha256sum <"$f" | cut -d' ' -f1)"
	done)
	(cd "$HERE" && sha256sum lxd-metadata.sh lxd/metadata.yaml.in lxd/templates/*)
	echo "$PKGVERS"
} | sha256sum | cut -c1-16)
OUT=$CACHE/tiny-$HASH
mkdir -p "$CACHE"

complete() {
	[ -s "$1/disk.qcow2" ] && [ -s "$1/vmlinuz" ] && [ -s "$1/vmlinux" ] && [ -s "$1/initrd.img" ] &&
		[ -s "$1/lxd.tar.xz" ] && [ -s "$1/root.tar.xz" ] && [ -s "$1/metadata.json" ]
}
if [ $FORCE = 0 ] && complete "$OUT"; then
	echo "$OUT"
	exit 0
fi

# one build at a time per cache (parallel test runs wait for each other)
exec 9>"$CACHE/.tiny.lock"
flock -w 1800 9 || die "timed out waiting for $CACHE/.tiny.lock"
if [ $FORCE = 0 ] && complete "$OUT"; then
	echo "$OUT"
	exit 0
fi

START=$(date +%s)
WORK=$(mktemp -d "$CACHE/.build-tiny.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
STAGE=$WORK/stage ROOT=$WORK/root INITRD=$WORK/initrd
mkdir -p "$STAGE" "$ROOT" "$INITRD" "$WORK/out"

# ------------------------------------------------------------------ download
DEBS=$CACHE/debs
mkdir -p "$DEBS"
get=()
while IFS= read -r pv; do
	p=${pv%%=*} v=${pv#*=}
	ev=${v//:/%3a}
	compgen -G "$DEBS/${p}_${ev}_*.deb" >/dev/null || get+=("$pv")
done <<<"$PKGVERS"
if [ ${#get[@]} -gt 0 ]; then
	log "downloading ${#get[@]} packages"
	(cd "$DEBS" && apt-get download -q -o APT::Sandbox::User=root "${get[@]}" >&2)
fi
log "extracting"
while IFS= read -r pv; do
	p=${pv%%=*} v=${pv#*=}
	ev=${v//:/%3a}
	f=$(compgen -G "$DEBS/${p}_${ev}_*.deb" | head -n 1)
	[ -n "$f" ] || die "download of $pv failed"
	dpkg-deb -x "$f" "$STAGE"
done <<<"$PKGVERS"
# debs of other versions are of no further use
declare -A keep_deb=()
while IFS= read -r pv; do
	p=${pv%%=*} v=${pv#*=}
	keep_deb["${p}_${v//:/%3a}"]=1
done <<<"$PKGVERS"
for f in "$DEBS"/*.deb; do
	b=$(basename "$f"); b=${b%_*.deb}
	[ -n "${keep_deb[$b]:-}" ] || rm -f "$f"
done

# ------------------------------------------------------------------ modules
log "kernel $KVER: resolving modules"
[ -f "$STAGE/boot/vmlinuz-$KVER" ] || die "no vmlinuz-$KVER in $KPKG"
depmod -b "$STAGE" "$KVER"
MODDIR=$STAGE/lib/modules/$KVER

# mod_closure NAME... — module file paths (relative to MODDIR) with deps
mod_closure() {
	awk -v want="$*" '
		function norm(s) { gsub(/-/, "_", s); return s }
		BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) W[norm(w[i])] = 1 }
		{
			f = $1; sub(/:$/, "", f)
			b = f; sub(/.*\//, "", b); sub(/\.ko(\.[a-z]+)?$/, "", b)
			name = norm(b)
			deps[f] = ""
			for (i = 2; i <= NF; i++) deps[f] = deps[f] " " $i
			byname[name] = f
		}
		function add(f,   d, k, i) {
			if (f in got) return
			got[f] = 1; print f
			k = split(deps[f], d, " ")
			for (i = 1; i <= k; i++) add(d[i])
		}
		END {
			for (m in W) {
				if (m in byname) add(byname[m])
				else print "missing module " m > "/dev/stderr"
			}
		}' "$MODDIR/modules.dep"
}
INITRD_MODS="virtio_pci virtio_blk virtio_scsi sd_mod ext4 crc32c_intel crc32c_generic ahci ata_piix"
ROOT_MODS="$INITRD_MODS virtio_net virtio_console virtio_rng virtio_balloon virtio_input
	button evdev isofs 9p 9pnet_virtio fuse virtiofs overlay vfat nls_utf8 nls_cp437
	nls_ascii nls_iso8859_1 sr_mod cdrom loop tun veth bridge"
copy_mods() {   # copy_mods DESTROOT(usr/lib or lib) MODULES...
	local dest=$1; shift
	mkdir -p "$dest/modules/$KVER"
	cp "$MODDIR"/modules.builtin "$MODDIR"/modules.builtin.modinfo "$MODDIR"/modules.order \
		"$dest/modules/$KVER/"
	mod_closure "$@" | while read -r f; do
		mkdir -p "$dest/modules/$KVER/$(dirname "$f")"
		cp "$MODDIR/$f" "$dest/modules/$KVER/$f"
	done
}

# ------------------------------------------------------------------ rootfs
log "assembling the root filesystem"
# merged /usr, like Debian 12
mkdir -p "$ROOT"/usr/{bin,sbin,lib/x86_64-linux-gnu,lib64,libexec}
ln -s usr/bin "$ROOT/bin"; ln -s usr/sbin "$ROOT/sbin"
ln -s usr/lib "$ROOT/lib"; ln -s usr/lib64 "$ROOT/lib64"
mkdir -p "$ROOT"/{dev,proc,sys,run,tmp,root,home,mnt,media,srv,opt}
mkdir -p "$ROOT"/etc/{dropbear,ssh,sudoers.d,network} "$ROOT"/var/{log,tmp,lib/cloud,cache,spool}
ln -s /run "$ROOT/var/run"; ln -s /run/lock "$ROOT/var/lock"
chmod 1777 "$ROOT/tmp" "$ROOT/var/tmp"; chmod 700 "$ROOT/root"

# busybox and its applets (every applet also in /usr/bin, so that user
# sessions with a PATH without sbin find ip, ifconfig, ...)
install -m 755 "$STAGE/bin/busybox" "$ROOT/usr/bin/busybox"
"$STAGE/bin/busybox" --list-full | while read -r a; do
	name=${a##*/}
	case "$name" in busybox|su|login|passwd|sulogin|getty|telnetd|httpd|ftpd|dpkg|dpkg-deb|rpm|rpm2cpio|linuxrc) continue ;; esac
	case "$a" in
	sbin/*|usr/sbin/*) [ -e "$ROOT/usr/sbin/$name" ] || ln -s ../bin/busybox "$ROOT/usr/sbin/$name" ;;
	esac
	[ -e "$ROOT/usr/bin/$name" ] || ln -s busybox "$ROOT/usr/bin/$name"
done

# the dynamically linked programs, then their libraries via ld.so --list
install -m 755 "$STAGE/usr/sbin/dropbear" "$ROOT/usr/sbin/dropbear"
install -m 755 "$STAGE/usr/bin/dropbearkey" "$STAGE/usr/bin/dropbearconvert" \
	"$STAGE/usr/bin/dbclient" "$ROOT/usr/bin/"
mkdir -p "$ROOT/usr/lib/openssh"
install -m 755 "$STAGE/usr/lib/openssh/sftp-server" "$ROOT/usr/lib/openssh/sftp-server"
# dropbear runs the SFTP subsystem from a compiled-in path: put it there
SFTP_PATH=$(grep -ao '/usr/[a-z/]*sftp-server' "$STAGE/usr/sbin/dropbear" | head -n 1)
[ -n "$SFTP_PATH" ] || die "cannot find the sftp-server path in dropbear"
if [ "$SFTP_PATH" != /usr/lib/openssh/sftp-server ]; then
	mkdir -p "$ROOT$(dirname "$SFTP_PATH")"
	ln -sf /usr/lib/openssh/sftp-server "$ROOT$SFTP_PATH"
fi
install -m 755 "$STAGE/sbin/resize2fs" "$ROOT/usr/sbin/resize2fs"
install -m 4755 "$STAGE/usr/bin/sudo" "$ROOT/usr/bin/sudo"
mkdir -p "$ROOT/usr/libexec/sudo"
cp -a "$STAGE/usr/libexec/sudo/." "$ROOT/usr/libexec/sudo/"
rm -f "$ROOT/usr/libexec/sudo/sudo_intercept.so" "$ROOT/usr/libexec/sudo/sesh"
mkdir -p "$ROOT/usr/lib/x86_64-linux-gnu/security"
for m in pam_permit.so pam_deny.so; do
	f=$(find "$STAGE" -path '*/security/*' -name "$m" | head -n 1)
	[ -n "$f" ] || die "no $m"
	install -m 644 "$f" "$ROOT/usr/lib/x86_64-linux-gnu/security/$m"
done

LDSO=$(find "$STAGE" -name 'ld-linux-x86-64.so.2' -type f | head -n 1)
[ -n "$LDSO" ] || die "no ld-linux-x86-64.so.2 in libc6"
LIBPATH=$STAGE/lib/x86_64-linux-gnu:$STAGE/usr/lib/x86_64-linux-gnu:$STAGE/usr/libexec/sudo
install -m 755 "$LDSO" "$ROOT/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$ROOT/usr/lib64/ld-linux-x86-64.so.2"
declare -A have_lib=()
while IFS= read -r f; do
	# "libfoo.so.1 => /path (0x...)" lines
	while read -r so arrow path rest; do
		[ "$arrow" = "=>" ] || continue
		case "$so" in */*) continue ;; esac   # the dynamic loader itself
		[ "$path" = "not" ] && die "$f needs $so, which no downloaded package has"
		case "$path" in "$STAGE"/*) ;; *) die "$f: $so resolved outside the packages ($path)" ;; esac
		case "$path" in */usr/libexec/sudo/*) continue ;; esac
		[ -n "${have_lib[$so]:-}" ] && continue
		have_lib[$so]=1
		cp -L "$path" "$ROOT/usr/lib/x86_64-linux-gnu/$so"
	done < <("$LDSO" --inhibit-cache --library-path "$LIBPATH" --list "$f" 2>&1 || true)
done < <(find "$ROOT/usr/sbin" "$ROOT/usr/bin" "$ROOT/usr/lib/openssh" "$ROOT/usr/libexec/sudo" \
	"$ROOT/usr/lib/x86_64-linux-gnu/security" -type f ! -name busybox -perm /111 -o \
	-type f -name '*.so*' ! -name busybox)
printf '/usr/lib/x86_64-linux-gnu\n/usr/libexec/sudo\n' >"$ROOT/etc/ld.so.conf"
ldconfig -r "$ROOT"

# kernel modules
copy_mods "$ROOT/usr/lib" $ROOT_MODS
depmod -b "$ROOT/usr" "$KVER"

# the image's own files (init, cloud-init, config)
cp -a "$TINY_SRC/rootfs/." "$ROOT/"
chown -R 0:0 "$ROOT"
chmod 440 "$ROOT/etc/sudoers"
chmod 750 "$ROOT/etc/sudoers.d"
chmod 4755 "$ROOT/usr/bin/sudo"
[ -L "$ROOT/usr/sbin/init" ] || die "no /sbin/init (busybox) in the image"

cat >"$ROOT/etc/passwd" <<'EOF'
root:*:0:0:root:/root:/bin/sh
daemon:*:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:*:2:2:bin:/bin:/usr/sbin/nologin
sys:*:3:3:sys:/dev:/usr/sbin/nologin
nobody:*:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$ROOT/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
dialout:x:20:
cdrom:x:24:
floppy:x:25:
sudo:x:27:
audio:x:29:
dip:x:30:
video:x:44:
plugdev:x:46:
staff:x:50:
users:x:100:
netdev:x:105:
nogroup:x:65534:
EOF
echo "moonbase-tiny" >"$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOT/etc/hosts"
: >"$ROOT/etc/resolv.conf"
: >"$ROOT/etc/machine-id"
BUSYBOX_VER=$(grep '^busybox-static=' <<<"$PKGVERS" | cut -d= -f2)
cat >"$ROOT/etc/os-release" <<EOF
PRETTY_NAME="moonbase tiny test image (Debian 12 packages)"
NAME="moonbase-tiny"
ID=moonbase-tiny
ID_LIKE=debian
VERSION_ID="$HASH"
VERSION="tiny ($HASH)"
BUSYBOX_VERSION="$BUSYBOX_VER"
EOF
echo "$PKGVERS" >"$ROOT/usr/lib/moonbase-tiny/packages.txt"

# ------------------------------------------------------------------ disk
log "making disk.qcow2"
truncate -s 256M "$WORK/root.img"
mkfs.ext4 -q -F -b 4096 -L moonbase-root -J size=16 -E root_owner=0:0 \
	-d "$ROOT" "$WORK/root.img" >&2
qemu-img convert -c -f raw -O qcow2 "$WORK/root.img" "$WORK/out/disk.qcow2"
rm -f "$WORK/root.img"

# ------------------------------------------------------------------ LXD image
# the same root filesystem as a container image (no kernel modules: a
# container uses the host's kernel)
log "making the LXD container image (lxd.tar.xz + root.tar.xz)"
"$HERE/lxd-metadata.sh" "$WORK/out/lxd.tar.xz" debian-tiny tiny "moonbase tiny (Debian 12 packages)"
tar -C "$ROOT" --numeric-owner --exclude=./usr/lib/modules -cf - . | xz -T0 -6 \
	>"$WORK/out/root.tar.xz"

# ------------------------------------------------------------------ initramfs
log "making initrd.img"
mkdir -p "$INITRD"/{bin,sbin,dev,proc,sys,root,lib}
install -m 755 "$STAGE/bin/busybox" "$INITRD/bin/busybox"
for a in $("$STAGE/bin/busybox" --list); do
	[ "$a" = busybox ] || ln -s busybox "$INITRD/bin/$a"
done
install -m 755 "$TINY_SRC/initramfs-init" "$INITRD/init"
copy_mods "$INITRD/lib" $INITRD_MODS
depmod -b "$INITRD" "$KVER"
(cd "$INITRD" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -9) \
	>"$WORK/out/initrd.img"

cp "$STAGE/boot/vmlinuz-$KVER" "$WORK/out/vmlinuz"
# vmlinux: the same kernel uncompressed (an ELF with a PVH entry note), which
# QEMU -kernel boots directly: under TCG that skips ~5 s of xz decompression.
# The bzImage header says where the compressed payload is and how long.
hdr() { od -A n -t u4 -j "$1" -N 4 "$WORK/out/vmlinuz" | tr -d ' '; }
setup_sects=$(od -A n -t u1 -j 497 -N 1 "$WORK/out/vmlinuz" | tr -d ' ')
[ "$setup_sects" = 0 ] && setup_sects=4
pl_off=$(( (setup_sects + 1) * 512 + $(hdr 584) ))
pl_len=$(hdr 588)
# (the payload ends with the uncompressed size, le32, which xz reports as an
# unexpected end: the size check below is what counts)
dd if="$WORK/out/vmlinuz" iflag=skip_bytes,count_bytes skip="$pl_off" count="$pl_len" \
	bs=1M status=none | { xz -dc 2>/dev/null || true; } >"$WORK/out/vmlinux"
want_len=$(hdr $((pl_off + pl_len - 4)))
[ "$(stat -c %s "$WORK/out/vmlinux")" = "$want_len" ] ||
	die "cannot decompress the kernel payload (got $(stat -c %s "$WORK/out/vmlinux"), want $want_len bytes)"
[ "$(head -c 4 "$WORK/out/vmlinux" | od -A n -t x1 | tr -d ' ')" = 7f454c46 ] || die "vmlinux is not ELF"
echo "$PKGVERS" >"$WORK/out/packages.txt"
CMDLINE="root=/dev/vda rw console=ttyS0"
cat >"$WORK/out/metadata.json" <<EOF
{
  "os": "debian-tiny",
  "release": "tiny",
  "release_title": "moonbase tiny",
  "release_codename": "Tiny",
  "aliases": "tiny,default",
  "version": "$HASH",
  "arch": "amd64",
  "kernel_cmdline": "$CMDLINE",
  "kernel_version": "$KVER",
  "kernel": "vmlinuz",
  "kernel_uncompressed": "vmlinux",
  "initrd": "initrd.img",
  "disk": "disk.qcow2",
  "build_date": "$(date -u +%Y%m%d)",
  "default_user": "debian",
  "seed": "nocloud (filesystem label cidata)",
  "disk_format": "qcow2",
  "lxd_metadata": "lxd.tar.xz",
  "lxd_rootfs": "root.tar.xz"
}
EOF

rm -rf "$OUT"
mv "$WORK/out" "$OUT"
log "built in $(( $(date +%s) - START )) s: $(du -sh "$OUT" | cut -f1)"
echo "$OUT"
