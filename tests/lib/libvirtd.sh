#!/usr/bin/env bash
# A private libvirtd (with its virtlogd) for tests, started by hand (no
# systemd): its own config, state, run, log and cache dirs under DIR, its
# sockets in DIR/sock, QEMU run as root with no security driver. The daemons
# live in their own mount namespace where DIR/{etc,run,lib,log,cache} are
# bind-mounted over /etc/libvirt, /run/libvirt, /var/lib/libvirt,
# /var/log/libvirt and /var/cache/libvirt, so nothing of the host's libvirt is
# read or touched. Run it under `ip netns exec NS` to give libvirt (and its
# networks) a network namespace of the test's own.
#
#   tests/lib/libvirtd.sh start DIR   -> prints the URI: qemu:///system?socket=DIR/sock/libvirt-sock
#   tests/lib/libvirtd.sh stop DIR    -> kills the domains' QEMUs, libvirtd and virtlogd
#   tests/lib/libvirtd.sh check       -> exit 0 if libvirtd can run here, else prints why
#   tests/lib/libvirtd.sh in-netns CMD...  -> CMD in a network namespace of its own
set -euo pipefail

need() {
    for p in libvirtd virtlogd unshare; do
        if ! command -v "$p" >/dev/null 2>&1; then
            echo "$p is not installed (apt-get install libvirt-daemon libvirt-daemon-driver-qemu)"
            return 1
        fi
    done
    if [ ! -e /usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so ] &&
        ! ls /usr/lib/*/libvirt/connection-driver/libvirt_driver_qemu.so >/dev/null 2>&1; then
        echo "libvirt's QEMU driver is not installed (apt-get install libvirt-daemon-driver-qemu)"
        return 1
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "a system libvirtd needs root"
        return 1
    fi
}

start() {
    local dir=$1
    mkdir -p "$dir"/{etc,run,lib,log,cache,sock}
    dir=$(cd "$dir" && pwd)
    cat >"$dir/etc/libvirtd.conf" <<EOF
unix_sock_dir = "$dir/sock"
unix_sock_group = "root"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOF
    cat >"$dir/etc/qemu.conf" <<EOF
user = "root"
group = "root"
security_driver = "none"
dynamic_ownership = 0
remember_owner = 0
EOF
    cat >"$dir/etc/virtlogd.conf" <<EOF
log_outputs = "3:file:/var/log/libvirt/virtlogd.log"
EOF
    # libvirt's QEMU driver looks up its compiled-in user before reading
    # qemu.conf: Debian's libvirt-daemon-system creates it, libvirt-daemon not
    for g in libvirt-qemu kvm; do getent group "$g" >/dev/null || groupadd --system "$g"; done
    getent passwd libvirt-qemu >/dev/null ||
        useradd --system --no-create-home --home-dir /var/lib/libvirt --shell /usr/sbin/nologin \
            --gid kvm libvirt-qemu
    # the mount points must exist on the host (empty directories)
    mkdir -p /etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt
    unshare -m --propagation private sh -c '
        d=$1
        mount --bind "$d/etc" /etc/libvirt
        mount --bind "$d/run" /run/libvirt
        mount --bind "$d/lib" /var/lib/libvirt
        mount --bind "$d/log" /var/log/libvirt
        mount --bind "$d/cache" /var/cache/libvirt
        virtlogd -d -f /etc/libvirt/virtlogd.conf -p "$d/run/virtlogd.pid"
        libvirtd -d -f /etc/libvirt/libvirtd.conf -p "$d/run/libvirtd.pid"
    ' sh "$dir"
    local i
    for i in $(seq 1 100); do
        [ -S "$dir/sock/libvirt-sock" ] && break
        sleep 0.1
    done
    if [ ! -S "$dir/sock/libvirt-sock" ]; then
        echo "libvirtd did not create $dir/sock/libvirt-sock within 10 s:" >&2
        tail -20 "$dir/log/libvirtd.log" >&2 2>/dev/null || true
        stop "$dir"
        exit 1
    fi
    echo "qemu:///system?socket=$dir/sock/libvirt-sock"
}

stop() {
    local dir=$1 f pid
    [ -d "$dir" ] || return 0
    # libvirtd leaves its QEMUs running when it exits: end them first
    for f in "$dir"/run/qemu/*.pid "$dir"/run/libvirtd.pid "$dir"/run/virtlogd.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f" 2>/dev/null || true)
        [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    done
    # a libvirtd that never wrote its pid file: find it by its config path
    for pid in $(pgrep -f "libvirtd -d -f /etc/libvirt/libvirtd.conf" || true); do
        if grep -qs "$dir/run" "/proc/$pid/mountinfo"; then kill -9 "$pid" 2>/dev/null || true; fi
    done
    for pid in $(pgrep -f "virtlogd -d -f /etc/libvirt/virtlogd.conf" || true); do
        if grep -qs "$dir/run" "/proc/$pid/mountinfo"; then kill -9 "$pid" 2>/dev/null || true; fi
    done
}

# Runs a command in a fresh network namespace (loopback up, nothing else),
# deleted afterwards with whatever still runs in it: the e2e spec runs this
# way, so the networks moonbase makes as root and the libvirtd it talks to
# never touch the host's network. Without root, runs the command as is.
in_netns() {
    if [ "$(id -u)" != 0 ] || ! ip netns list >/dev/null 2>&1; then exec "$@"; fi
    ns="mblv-$$-$RANDOM"
    ip netns add "$ns"
    trap 'for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
          ip netns delete "$ns" 2>/dev/null || true' EXIT
    ip -n "$ns" link set lo up
    set +e
    ip netns exec "$ns" "$@"
    rc=$?
    set -e
    return $rc
}

case "${1:-}" in
start) need >&2 && start "${2:?usage: libvirtd.sh start DIR}" ;;
in-netns) shift; in_netns "$@" ;;
stop) stop "${2:?usage: libvirtd.sh stop DIR}" ;;
check) need ;;
*) echo "usage: $0 start DIR | stop DIR | check | in-netns CMD..." >&2; exit 1 ;;
esac
