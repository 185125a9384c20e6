#!/usr/bin/env bash
# libvirt hosts for tests, configured as Debian's libvirt-daemon-system ships
# them (QEMU run as libvirt-qemu, dynamic ownership on, security driver
# probed, the stock libvirtd.conf, qemu.conf and virtlogd.conf copied from
# /etc/libvirt), started by hand (no systemd). Nothing of the host's libvirt
# is read or touched but those config files: each libvirt lives in a mount
# namespace where copies of /etc/libvirt and the empty skeletons of
# /var/lib/libvirt, /var/log/libvirt and /var/cache/libvirt (owners and modes
# as the package made them), plus an empty /run/libvirt, are bind-mounted
# over the real ones.
#
#   tests/lib/libvirtd.sh host [--root-qemu] CMD...
#       CMD in a network and mount namespace of its own with virtlogd and
#       libvirtd running there: for CMD, qemu:///system is that libvirtd, and
#       /var/lib/libvirt is the one it sees (a storage pool's files are where
#       libvirt says they are, as on a real host). CMD gets
#       MOONBASE_TEST_LIBVIRT_URI=qemu:///system and MOONBASE_TEST_NETNS.
#       Everything is killed and removed when CMD exits.
#   tests/lib/libvirtd.sh start [--root-qemu] DIR
#       a libvirtd in a mount namespace of its own, its socket in DIR/sock:
#       prints qemu:///system?socket=DIR/sock/libvirt-sock
#   tests/lib/libvirtd.sh stop DIR    -> kills its domains' QEMUs, libvirtd and virtlogd
#   tests/lib/libvirtd.sh check       -> exit 0 if libvirtd can run here, else prints why
#   tests/lib/libvirtd.sh in-netns CMD...  -> CMD in a network namespace of its own
#
# --root-qemu: the configuration many guides (and this project's tests, once)
# use instead: QEMU as root, no dynamic ownership, no security driver.
# MB_LIBVIRT_GROUP_RW=1: members of group libvirt may use the read-write
# socket without polkit (what Debian's polkit rule grants them; polkitd does
# not run here).
set -euo pipefail

SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
DIRS="etc:/etc/libvirt run:/run/libvirt lib:/var/lib/libvirt log:/var/log/libvirt cache:/var/cache/libvirt"

need() {
    for p in libvirtd virtlogd unshare; do
        if ! command -v "$p" >/dev/null 2>&1; then
            echo "$p is not installed (apt-get install libvirt-daemon-system)"
            return 1
        fi
    done
    if ! ls /usr/lib/*/libvirt/connection-driver/libvirt_driver_qemu.so >/dev/null 2>&1; then
        echo "libvirt's QEMU driver is not installed (apt-get install libvirt-daemon-system)"
        return 1
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "a system libvirtd needs root"
        return 1
    fi
    if [ ! -f /etc/libvirt/qemu.conf ] || ! getent passwd libvirt-qemu >/dev/null; then
        echo "libvirt is not set up as Debian installs it: no /etc/libvirt/qemu.conf or no user" \
            "libvirt-qemu (apt-get install libvirt-daemon-system)"
        return 1
    fi
}

# DIR/{etc,run,lib,log,cache}: the stock configuration and skeletons.
prepare() {
    local dir=$1 root_qemu=$2 pair name real d
    for pair in $DIRS; do
        name=${pair%%:*} real=${pair#*:}
        mkdir -p "$dir/$name"
        [ -d "$real" ] || continue
        chown --reference="$real" "$dir/$name"
        chmod --reference="$real" "$dir/$name"
        if [ "$name" = etc ]; then
            cp -a "$real/." "$dir/etc/"
            # a host of this script's own (start inside host): its settings go
            sed -i '/^# tests\/lib\/libvirtd.sh/,$d' "$dir"/etc/libvirtd.conf \
                "$dir"/etc/virtlogd.conf "$dir"/etc/qemu.conf
            continue
        fi
        [ "$name" = run ] && continue
        # directories only (owners and modes as the package set them), no state
        (cd "$real" && find . -mindepth 1 -maxdepth 3 -type d) | while read -r d; do
            mkdir -p "$dir/$name/$d"
            chown --reference="$real/$d" "$dir/$name/$d"
            chmod --reference="$real/$d" "$dir/$name/$d"
        done
    done
    # the libvirt networks the packages define are not started here
    rm -f "$dir"/etc/qemu/networks/autostart/*
    # libvirtd and virtlogd log to files a test can show; the socket is the
    # daemon's own (its /run/libvirt)
    cat >>"$dir/etc/libvirtd.conf" <<EOF

# tests/lib/libvirtd.sh: logs to a file a test can show
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOF
    if [ "${MB_LIBVIRT_GROUP_RW:-}" = 1 ]; then
        cat >>"$dir/etc/libvirtd.conf" <<EOF
# tests/lib/libvirtd.sh: group libvirt may connect without polkit (what
# Debian's polkit rule grants it)
unix_sock_group = "libvirt"
unix_sock_rw_perms = "0770"
auth_unix_rw = "none"
EOF
    fi
    cat >>"$dir/etc/virtlogd.conf" <<EOF

# tests/lib/libvirtd.sh: logs to a file a test can show
log_outputs = "3:file:/var/log/libvirt/virtlogd.log"
EOF
    if [ "$root_qemu" = 1 ]; then
        cat >>"$dir/etc/qemu.conf" <<EOF

# tests/lib/libvirtd.sh --root-qemu
user = "root"
group = "root"
security_driver = "none"
dynamic_ownership = 0
remember_owner = 0
EOF
    fi
}

# Mounts DIR's directories over the real ones (in the current mount namespace).
bind_dirs() {
    local dir=$1 pair
    for pair in $DIRS; do
        mkdir -p "${pair#*:}"
        mount --bind "$dir/${pair%%:*}" "${pair#*:}"
    done
    kvm_as_udev_makes_it "$dir"
}

# /dev/kvm as Debian's udev rule makes it: 0660 root:kvm (libvirt-qemu is in
# kvm). A machine without udev (a container, a VM's own small init) has it
# root-only; libvirt then finds its cached QEMU capabilities (KVM) out of
# date at every call, because the QEMU user cannot open the device, and
# probes QEMU again: eight seconds a call. A node of the same device with
# udev's mode, bound over it in this mount namespace only.
kvm_as_udev_makes_it() {
    local dir=$1
    [ -c /dev/kvm ] && getent group kvm >/dev/null || return 0
    [ "$(stat -c %a:%G /dev/kvm)" = 660:kvm ] && return 0
    mknod -m 0660 "$dir/kvm" c "$((16#$(stat -c %t /dev/kvm)))" "$((16#$(stat -c %T /dev/kvm)))"
    chgrp kvm "$dir/kvm"
    mount --bind "$dir/kvm" /dev/kvm
}

# Starts virtlogd and libvirtd (in the current mount namespace) and waits for
# the socket in SOCKDIR.
daemons() {
    local dir=$1 sockdir=$2 i
    virtlogd -d -f /etc/libvirt/virtlogd.conf -p /run/libvirt/virtlogd.pid
    libvirtd -d -f /etc/libvirt/libvirtd.conf -p /run/libvirt/libvirtd.pid
    for i in $(seq 1 100); do
        [ -S "$sockdir/libvirt-sock" ] && return 0
        sleep 0.1
    done
    echo "libvirtd did not create $sockdir/libvirt-sock within 10 s:" >&2
    tail -20 "$dir/log/libvirtd.log" >&2 2>/dev/null || true
    return 1
}

# Kills the QEMUs of DIR's libvirtd, then libvirtd and virtlogd.
stop() {
    local dir=$1 f pid
    [ -d "$dir" ] || return 0
    # libvirtd leaves its QEMUs running when it exits: end them first
    for f in "$dir"/run/qemu/*.pid "$dir"/run/libvirtd.pid "$dir"/run/virtlogd.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f" 2>/dev/null || true)
        [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    done
    # a libvirtd that never wrote its pid file: found by the mounts it sees
    for pid in $(pgrep -x libvirtd || true) $(pgrep -x virtlogd || true); do
        if grep -qs " $dir/run " "/proc/$pid/mountinfo" ||
            grep -qs "$dir/run" "/proc/$pid/mountinfo"; then
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
}

start() {
    local root_qemu=0
    if [ "${1:-}" = --root-qemu ]; then root_qemu=1; shift; fi
    local dir=${1:?usage: libvirtd.sh start [--root-qemu] DIR}
    mkdir -p "$dir/sock"
    dir=$(cd "$dir" && pwd)
    prepare "$dir" "$root_qemu"
    cat >>"$dir/etc/libvirtd.conf" <<EOF
unix_sock_dir = "$dir/sock"
EOF
    if ! unshare -m --propagation private "$SELF" __daemons "$dir" "$dir/sock" >&2; then
        stop "$dir"
        exit 1
    fi
    echo "qemu:///system?socket=$dir/sock/libvirt-sock"
}

# Runs CMD in a fresh network namespace (loopback up, nothing else), deleted
# afterwards with whatever still runs in it. Without root, runs CMD as is.
in_netns() {
    if [ "$(id -u)" != 0 ] || ! ip netns list >/dev/null 2>&1; then exec "$@"; fi
    ns="mblv-$$-$RANDOM"
    ip netns add "$ns"
    trap 'for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
          ip netns delete "$ns" 2>/dev/null || true' EXIT
    ip -n "$ns" link set lo up
    set +e
    MOONBASE_TEST_NETNS=$ns ip netns exec "$ns" "$@"
    rc=$?
    set -e
    return $rc
}

host() {
    local root_qemu=0
    if [ "${1:-}" = --root-qemu ]; then root_qemu=1; shift; fi
    local why
    if ! why=$(need); then
        # the command still runs (its specs say why they are pending)
        echo "libvirtd.sh: no libvirt host: $why" >&2
        MB_LIBVIRT_HOST_UNAVAILABLE=$why in_netns "$@"
        return
    fi
    HOST_DIR=$(mktemp -d /tmp/mb-libvirt-host-XXXXXX)
    chmod 755 "$HOST_DIR"
    trap 'stop "$HOST_DIR"; rm -rf --one-file-system "$HOST_DIR"' EXIT
    prepare "$HOST_DIR" "$root_qemu"
    local rc=0
    (in_netns unshare -m --propagation private "$SELF" __inside "$HOST_DIR" "$@") || rc=$?
    return $rc
}

# (inside the namespaces) mounts, daemons, CMD, then the daemons' end
inside() {
    local dir=$1
    shift
    bind_dirs "$dir"
    daemons "$dir" /run/libvirt >&2 || exit 1
    set +e
    MOONBASE_TEST_LIBVIRT_URI=qemu:///system MOONBASE_TEST_LIBVIRT_DIR=$dir "$@"
    local rc=$?
    set -e
    stop "$dir"
    return $rc
}

case "${1:-}" in
host) shift; host "$@" ;;
__inside) shift; inside "$@" ;;
start) shift; need >&2 && start "$@" ;;
in-netns) shift; in_netns "$@" ;;
stop) stop "${2:?usage: libvirtd.sh stop DIR}" ;;
check) need ;;
__daemons) bind_dirs "$2" && daemons "$2" "$3" ;;
*) echo "usage: $0 host [--root-qemu] CMD... | start [--root-qemu] DIR | stop DIR | check |" \
       "in-netns CMD..." >&2; exit 1 ;;
esac
