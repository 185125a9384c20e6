#!/usr/bin/env bash
# setup-blocks.sh — the set-up blocks of moonbase's documentation, and their
# proof on a fresh Debian 12. A set-up block is a fenced code block that
# prepares the host (installs packages, starts daemons, makes bridges...);
# each is marked in the Markdown by the line before its fence:
#     <!-- setup: ID -->
# and is proven one of three ways (the table below, one line per ID):
#   run      run here as written, as root (or as the user without root it
#            is for), in a fresh Debian 12 root file system (the test images'
#            base: systemd, OpenSSH, cloud-init; no libvirt, no moonbase) with
#            moonbase installed the way docs/getting-started.md says, made the
#            root of network, mount and PID namespaces of its own with the
#            machine's cgroups (the packages its apt-get lines install are
#            fetched from Debian's archive first; the block itself runs with no
#            network but its namespace's loopback), then checked
#   ci       what CI itself runs on a fresh machine (.ci/run)
#   not-here cannot run on these machines, with the reason
# tests/lua/docs_spec.lua checks that every block that looks like set-up is
# marked, and that every mark is in this table; e2e/docs-setup runs the
# `run` ones.
#
#   tests/docs/setup-blocks.sh list          ID, how, file:line of every marked block
#   tests/docs/setup-blocks.sh show ID       the block's text
#   tests/docs/setup-blocks.sh table         the table below
#   tests/docs/setup-blocks.sh run [ID...]   proves `run` blocks, all by default (root; builds
#                                            the base image and the tiny image
#                                            when they are not cached)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
DOCS=("$SRC/README.md" "$SRC"/docs/*.md)
BIN=${MOONBASE_BIN:-$SRC/build/moonbase}

# ID | how | what proves it / why not
TABLE='readme-demo|ci|.ci/run runs `bash .ci/setup`, then the suite, whose e2e/demo runs `bash .ci/demo`
readme-test|ci|.ci/run runs exactly this (tests/lua/docs_spec.lua compares them)
install|ci|its first line, `bash .ci/setup`, is what .ci/run runs first; the rest runs as written in every fresh root of the `run` blocks, after moonbase is installed there as .ci/setup installs it
libvirt-system|run|moonbase launches through the stock libvirtd the block installs and starts
libvirt-systemd|not-here|needs systemd as PID 1 to start libvirtd at install; its commands are libvirt-system'"'"'s without the daemons'"'"' start (tests/lua/docs_spec.lua checks that)
libvirt-session|run|a new user without root launches under qemu:///session and runs a command in the guest
lxd-manual|run|moonbase launches a container in the LXD the block installs, starts and initialises (the host given a route first, as every real machine has one)
lxd-systemd|not-here|needs systemd as PID 1 to start LXD; its commands are lxd-manual'"'"'s with systemctl in place of the start by hand (tests/lua/docs_spec.lua checks that)
lxd-idmap|not-here|needs systemd as PID 1 (systemctl restart lxd); e2e/lxd (tests/lib/lxd.sh --idmap) proves the same two /etc/subuid and /etc/subgid lines on an LXD it starts
drivers-examples|ci|.ci/setup installs the block'"'"'s packages (tests/lua/docs_spec.lua checks that); ctest lua/drivers (tests/drivers/examples_spec.lua) launches, execs in, stops and deletes an instance of each example from the driver path, and drivers_spec finds a Lua driver in the data directory
bridge-nmcli|not-here|needs NetworkManager running under systemd, on a machine whose eth0 may lose its address
bridge-iproute2|run|in a network namespace whose eth0 has a DHCP server at its other end: br0 gets eth0'"'"'s address from it
daemon-root|ci|.ci/setup makes the group moonbase as the block'"'"'s first line does; e2e/daemon adds its user to the group with usermod -aG, starts moonbase daemon --listen unix:SOCKET as root and drives a real guest as that user
daemon-systemd|not-here|needs systemd as PID 1 to start the socket unit'

die() { echo "setup-blocks: $*" >&2; exit 1; }
log() { echo "setup-blocks: $*" >&2; }

# FILE:LINE ID per marked block
marks() {
	awk '/^<!-- setup: [a-z0-9-]+ -->$/ { print FILENAME ":" FNR " " $3 }' "${DOCS[@]}"
}

how() { printf '%s\n' "$TABLE" | awk -F'|' -v id="$1" '$1 == id { print $2 }'; }

# the text of block ID: the fenced block after its mark
show() {
	local id=$1
	marks | awk -v id="$id" '$2 == id { n++ } END { exit n == 1 ? 0 : 1 }' ||
		die "block $id is marked $(marks | awk -v id="$id" '$2 == id' | wc -l) times (once, please)"
	awk -v id="$id" '
		$0 == "<!-- setup: " id " -->" { want = 1; next }
		want == 1 && /^```/ { want = 2; next }
		want == 2 && /^```/ { exit }
		want == 2 { print }
		want == 1 && !/^```/ { want = 0 }
	' "${DOCS[@]}"
}

list() {
	local file id
	marks | while read -r file id; do
		printf '%s %s %s\n' "$id" "$(how "$id")" "${file#"$SRC"/}"
	done
}

# ------------------------------------------------------------------ run

# the programs moonbase runs (what .ci/setup installs for it); the libraries
# its binary and plugin link are added by libraries()
RUNTIME="qemu-system-x86 qemu-utils dnsmasq-base nftables libvirt-daemon
	libvirt-daemon-driver-qemu man-db"

# the Debian packages of the shared libraries this build's binary and plugins
# link (as installed here)
libraries() {
	local dir f
	dir=$(dirname "$BIN")
	for f in "$BIN" "$dir"/moonbase-plugin.so "$dir"/moonbase-libvirt.so; do
		ldd "$f" | awk '$3 ~ /^\// { print $3 }'
	done | sort -u | while read -r f; do
		dpkg -S "$(readlink -f "$f")" 2>/dev/null | head -n 1 | cut -d: -f1
	done | sort -u
}
# every file of a run is under $TMPD, made (and removed) outside the run's
# mount namespace, whose mounts go with it
TMPD=${MB_DOCS_TMP:-}
LOG=$TMPD/log

# runs a set-up step, its output in $LOG (shown when it fails)
quiet() {
	if ! "$@" >>"$LOG" 2>&1; then
		tail -n 40 "$LOG" >&2
		die "failed: $*"
	fi
}

# The fresh machine once per run, as a tarball in $PREP (a tmpfs): the
# Debian base with its package lists, and what .ci/setup (the install
# block's first line) leaves: moonbase's runtime packages, moonbase
# installed in /usr/local (cmake --install of this build); then the rest of
# the install block, as written.
prepare() {
	local base r
	base=$("$SRC/tests/images/build-debian.sh" --base | tail -n 1)
	[ -s "$base/rootfs.tar.zst" ] || die "no Debian base"
	PREP=$TMPD/prep
	mkdir "$PREP"
	mount -t tmpfs -o mode=755,size=8g tmpfs "$PREP"
	r=$PREP/root
	mkdir "$r"
	log "a fresh Debian 12 root: package lists, moonbase's runtime, moonbase"
	zstd -q -dc "$base/rootfs.tar.zst" |
		tar --numeric-owner --xattrs --xattrs-include='*' --acls -xpf - -C "$r"
	rm -rf "$r/var/cache/moonbase-flavours"
	mount_root "$r"
	cp /etc/resolv.conf "$r/etc/resolv.conf" # Debian's archive, for the set-up only
	quiet chroot "$r" apt-get update
	# shellcheck disable=SC2086
	quiet env DEBIAN_FRONTEND=noninteractive chroot "$r" apt-get install -y \
		--no-install-recommends $RUNTIME $(libraries)
	quiet cmake --install "$(dirname "$BIN")" --prefix "$r/usr/local"
	mkdir -p "$r/src"
	show install | grep -v '^bash .ci/setup' >"$r/tmp/install.sh"
	quiet chroot "$r" sh -ec "cd /src && . /tmp/install.sh"
	chroot "$r" sh -c 'command -v moonbase' >/dev/null || die "no moonbase in the fresh root"
	rm -f "$r/tmp/install.sh"
	umount -R "$r/proc" "$r/sys" "$r/dev" "$r/run" "$r/tmp"
	tar --numeric-owner --xattrs --xattrs-include='*' --acls -C "$r" -cf "$PREP/root.tar" .
	rm -rf --one-file-system "$r"
}

mount_root() {
	local r=$1
	mount -t proc proc "$r/proc"
	mount --rbind /sys "$r/sys"
	mount --rbind /dev "$r/dev"
	mount -t tmpfs tmpfs "$r/run"
	mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
}

# A copy of the prepared machine at $R (a tmpfs of its own).
fresh_root() {
	R=$TMPD/root-$1
	mkdir "$R"
	mount -t tmpfs -o mode=755,size=6g tmpfs "$R"
	tar --numeric-owner --xattrs --xattrs-include='*' --acls -xpf "$PREP/root.tar" -C "$R"
	mount_root "$R"
	cp /etc/resolv.conf "$R/etc/resolv.conf" # Debian's archive, for the set-up only
}

# Fetches what the block's `apt-get install` lines install (with network),
# so that the block runs without one.
prefetch() {
	local block=$1 line
	while read -r line; do
		quiet env DEBIAN_FRONTEND=noninteractive chroot "$R" sh -c "$line -y --download-only"
	done < <(grep -E '^\s*(sudo )?apt-get install' "$block" | sed 's/#.*//; s/^\s*sudo //')
}

# The tiny image served on 127.0.0.1 of the namespace, as the remote "local"
# of the moonbase home at $1 (in the root), its default image: what a user
# has after `moonbase remote add` (the docs' launch blocks use the default).
image_remote() {
	local home=$1 user=${2:-root} tiny streams url
	tiny=$("$SRC/tests/images/build-tiny.sh" | tail -n 1)
	streams=$TMPD/streams
	mkdir "$streams"
	"$SRC/tests/images/make-streams.sh" "$streams" "$tiny" >/dev/null
	url=$("$SRC/tests/lib/imagehost.sh" start "$streams" | grep -o 'http://[0-9.:]*')
	local out
	out=$(chroot --userspec="$user" "$R" env HOME="$home" sh -c \
		"moonbase remote add local $url/ && moonbase set local.image.default=local:tiny" 2>&1) ||
		die "cannot add the image remote $url/: $out"
	STREAMS=$streams
}

# runs the block file $2 for ID $1 inside the root (as the namespaces' root,
# or as $3, logged in: XDG_RUNTIME_DIR is its ~/.run), stdin answering yes.
# The root is made the root of a mount namespace of the block's own
# (pivot_root), as on a machine booted from it: in a chroot, libvirt cannot
# give QEMU its private /dev (QEMU found no /dev/urandom) and the kernel
# refuses user namespaces.
in_root() {
	local id=$1 block=$2 user=${3:-root} home env
	home=$(chroot "$R" getent passwd "$user" | cut -d: -f6)
	env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME="$home"
		USER="$user" TERM=dumb)
	[ "$user" = root ] || env+=(XDG_RUNTIME_DIR="$home/.run")
	log "$id: running as written:"
	sed 's/^/    /' "$block" >&2
	# stdin answers yes (apt-get asks before installing)
	unshare -m --propagation private sh -ec '
		cd "$1"
		mkdir -p .oldroot
		pivot_root . .oldroot
		umount -l /.oldroot
		rmdir /.oldroot
		user=$2
		shift 2
		exec chroot --userspec="$user" / env -i "$@"
	' sh "$R" "$user" "${env[@]}" sh -ex -c "cd /src && $(cat "$block")" <"$YES" >&2
}

check_libvirt_system() {
	chroot "$R" sh -ec '
		test "$(id -u libvirt-qemu)" -gt 0
		test -d /var/log/libvirt
		moonbase list --format csv | grep -q "^a,running,"
		test "$(moonbase exec a -- uname -n)" = a
		ps -o user= -C qemu-system-x86_64 | grep -qx libvirt-qemu
		test "$(stat -c %a /root/.local/share/moonbase/instances/qemu/a)" = 700
	' >&2
}

check_libvirt_session() {
	chroot --userspec=mbuser "$R" env HOME=/home/mbuser XDG_RUNTIME_DIR=/home/mbuser/.run sh -ec '
		moonbase list --format csv | grep -q "^a,running,"
		test "$(moonbase exec a -- uname -n)" = a
		ps -o user= -C qemu-system-x86_64 | grep -qx mbuser
	' >&2
}

check_lxd_manual() {
	chroot "$R" sh -ec '
		moonbase list --format csv | grep -q "^c1,running,"
		test "$(moonbase exec c1 -- uname -n)" = c1
		test "$(lxc list --format csv --columns ns c1)" = c1,RUNNING
	' >&2
}

check_bridge_iproute2() {
	chroot "$R" sh -ec '
		ip -4 -o addr show dev br0 | grep -q "inet 192\.0\.2\.1[0-5][0-9]/" ||
			{ echo "br0 has no address from the DHCP server:"; ip -4 -o addr; exit 1; }
		ip -4 -o addr show dev eth0 | grep -q inet && { echo "eth0 kept an address"; exit 1; }
		ip -o link show eth0 | grep -q "master br0" || { echo "eth0 is not in br0"; exit 1; }
	' >&2
}

# one block, start to check, in namespaces of its own
run_one() {
	local id=$1 block
	[ "$(how "$id")" = run ] || die "$id is not a block to run here (see: setup-blocks.sh table)"
	block=$TMPD/block-$id
	show "$id" >"$block"
	fresh_root "$id"
	prefetch "$block"
	rm -f "$R/etc/resolv.conf"
	local ns="mbdocs-$$-$RANDOM" rc=0
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	# shellcheck disable=SC2064
	trap "for p in \$(ip netns pids $ns 2>/dev/null); do kill -9 \$p 2>/dev/null || true; done
	      ip netns delete $ns 2>/dev/null || true" EXIT
	# the machine's cgroups (ip netns exec mounts a /sys without them)
	mkdir "$TMPD/cgroup-$id"
	mount --rbind /sys/fs/cgroup "$TMPD/cgroup-$id"
	MB_DOCS_ID=$id MB_DOCS_BLOCK=$block MB_DOCS_ROOT=$R \
		MB_DOCS_TMP=$TMPD ip netns exec "$ns" unshare --pid --fork --kill-child "$0" __run_in_ns ||
		rc=$?
	return $rc
}

run_in_ns() {
	local id=$MB_DOCS_ID block=$MB_DOCS_BLOCK
	R=$MB_DOCS_ROOT
	YES=$TMPD/yes-$id
	yes | head -n 100 >"$YES" || true
	# this PID namespace's /proc, this network namespace's /sys
	mount -t proc proc "$R/proc"
	umount -R "$R/sys" 2>/dev/null || true
	mount --rbind /sys "$R/sys"
	mount --rbind "$TMPD/cgroup-$id" "$R/sys/fs/cgroup"
	case $id in
	libvirt-system)
		image_remote /root
		in_root "$id" "$block"
		check_libvirt_system
		;;
	libvirt-session)
		# a user without root (libvirt-daemon and its QEMU driver are installed,
		# as moonbase's set-up installs them)
		chroot "$R" useradd --create-home --shell /bin/sh mbuser
		chroot "$R" install -d -o mbuser -m 700 /home/mbuser/.run
		image_remote /home/mbuser mbuser
		in_root "$id" "$block" mbuser
		check_libvirt_session
		;;
	lxd-manual)
		# a real machine has a route (an empty network namespace has no main
		# table, whose absence fails LXD's bridge set-up); TEST-NET-2, unused
		ip route add blackhole 198.51.100.0/24
		image_remote /root
		in_root "$id" "$block"
		check_lxd_manual
		chroot "$R" moonbase delete --purge c1 >&2 || true
		chroot "$R" lxd shutdown --timeout 30 >&2 || true
		;;
	bridge-iproute2)
		# the host's eth0: a veth whose other end, in a namespace of its own,
		# has a DHCP server (TEST-NET-1, never routed)
		local peer="mbdocs-peer-$RANDOM$RANDOM" rc=0
		ip netns add "$peer"
		ip link add eth0 type veth peer name eth0p
		ip link set eth0p netns "$peer"
		ip link set eth0 up
		ip -n "$peer" addr add 192.0.2.1/24 dev eth0p
		ip -n "$peer" link set eth0p up
		ip -n "$peer" link set lo up
		ip addr add 192.0.2.50/24 dev eth0
		ip netns exec "$peer" dnsmasq --conf-file=/dev/null --port=0 --interface=eth0p \
			--bind-interfaces --dhcp-range=192.0.2.100,192.0.2.150,1h \
			--pid-file=/tmp/mbdocs-$peer.pid --dhcp-leasefile=/tmp/mbdocs-$peer.leases
		{ in_root "$id" "$block" && check_bridge_iproute2; } || rc=$?
		for p in $(ip netns pids "$peer"); do kill "$p" 2>/dev/null || true; done
		ip netns delete "$peer" || true
		rm -f "/tmp/mbdocs-$peer.pid" "/tmp/mbdocs-$peer.leases"
		[ $rc = 0 ] || return $rc
		;;
	*) die "no runner for $id" ;;
	esac
	if [ -n "${STREAMS:-}" ]; then
		"$SRC/tests/lib/imagehost.sh" stop "$STREAMS" >/dev/null 2>&1 || true
		rm -rf "$STREAMS"
	fi
	log "$id: proven"
}

case "${1:-}" in
list) list ;;
show) show "${2:?usage: setup-blocks.sh show ID}" ;;
table) printf '%s\n' "$TABLE" ;;
run)
	shift
	[ "$(id -u)" = 0 ] || die "must run as root"
	# no ID: every block the table says to run
	[ $# -gt 0 ] || set -- $(printf '%s\n' "$TABLE" | awk -F'|' '$2 == "run" { print $1 }')
	if [ -z "$TMPD" ]; then
		TMPD=$(mktemp -d /tmp/mb-docs-XXXXXX)
		rc=0
		MB_DOCS_TMP=$TMPD unshare -m --propagation private "$0" run "$@" || rc=$?
		rm -rf --one-file-system "$TMPD"
		exit $rc
	fi
	prepare
	failed=""
	for id in "$@"; do (run_one "$id") || failed="$failed $id"; done
	[ -z "$failed" ] || die "not proven:$failed"
	;;
__run_in_ns) run_in_ns ;;
*) die "usage: setup-blocks.sh list | show ID | table | run ID..." ;;
esac
