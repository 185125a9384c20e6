#!/usr/bin/env bash
# A stock LXD (Debian's lxd package) for tests, started by hand (no systemd):
# its whole state in DIR (LXD_DIR=DIR/lxd: database, images, containers,
# unix.socket), initialised with a preseed as `lxd init` would (a storage pool
# "default" of the dir driver in the default profile; no network: moonbase
# brings its own). It must run inside a network namespace the test made
# (tests/lib/in-netns.sh): LXD's bridges, the moonbase0 bridge its containers
# join, and LXD's own look-ups of the internet (instance types) then stay in
# there. Two of them can run side by side, each in its own namespace.
#
#   tests/lib/lxd.sh start DIR [--https ADDR:PORT] [--idmap UID]
#                                  -> prints the socket: DIR/lxd/unix.socket
#   tests/lib/lxd.sh stop DIR      -> stops the containers and the daemon, unmounts its tmpfs
#   tests/lib/lxd.sh check         -> exit 0 if LXD can run here, else prints why
set -euo pipefail

need() {
    for p in lxd lxc; do
        if ! command -v "$p" >/dev/null 2>&1; then
            echo "$p is not installed (apt-get install lxd)"
            return 1
        fi
    done
    if [ "$(id -u)" != 0 ]; then
        echo "a test LXD needs root"
        return 1
    fi
}

# The daemon reaches out (image servers, instance types) and makes bridges:
# never in the host's network namespace.
# (`ip netns identify` names the namespace we are in; nothing in the host's)
in_own_netns() {
    [ -n "$(ip netns identify 2>/dev/null)" ]
}

# `ip netns exec` gives the namespace a fresh /sys, without the host's cgroup
# hierarchies under /sys/fs/cgroup: LXC then runs containers with no cgroups
# at all (no limits, no freezer, no systemd). Mount them again in this mount
# namespace (ip netns exec's own) as the host has them: each v1 hierarchy of
# /proc/self/cgroup with its controllers, and cgroup2 (at unified/ when v1
# hierarchies exist, as systemd's hybrid layout does).
mount_cgroups() {
    grep -q ' /sys/fs/cgroup[/ ].* - cgroup2\? ' /proc/self/mountinfo && return 0
    local id ctrls path v1=0
    mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
    while IFS=: read -r id ctrls path; do
        [ -n "$ctrls" ] || continue
        v1=1
        mkdir -p "/sys/fs/cgroup/${ctrls#name=}"
        case "$ctrls" in
        name=*) mount -t cgroup -o "none,$ctrls" cgroup "/sys/fs/cgroup/${ctrls#name=}" ;;
        *) mount -t cgroup -o "$ctrls" cgroup "/sys/fs/cgroup/$ctrls" ;;
        esac
    done </proc/self/cgroup
    if grep -q '^0::' /proc/self/cgroup; then
        if [ $v1 = 1 ]; then
            mkdir -p /sys/fs/cgroup/unified
            mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
        else
            mount -t cgroup2 cgroup2 /sys/fs/cgroup
        fi
    fi
}

# LXD (Debian's, with /etc/subuid) maps into containers only the host ids
# root may delegate: --idmap UID lets it map UID and its group as well (a
# share's owner shown as the guest's user), through copies of /etc/subuid and
# /etc/subgid with root:UID:1 added, bind-mounted over them in this mount
# namespace only (ip netns exec's own), so the host's files never change.
allow_idmap() {
    local dir=$1 id=$2 f
    for f in subuid subgid; do
        # without the file LXD maps any id itself (no newuidmap): nothing to do
        [ -e "/etc/$f" ] || continue
        { cat "/etc/$f"; echo "root:$id:1"; } >"$dir/$f"
        mount --bind "$dir/$f" "/etc/$f"
    done
}

start() {
    local dir=$1 https=${2:-} idmap=${3:-}
    if ! in_own_netns; then
        echo "lxd.sh: refusing to start LXD in the host's network namespace" \
            "(run it under tests/lib/in-netns.sh)" >&2
        exit 1
    fi
    mkdir -p "$dir/lxd"
    dir=$(cd "$dir" && pwd)
    # the containers' root (a shifted uid) must get through DIR to their root
    # file systems, as through /var/lib/lxd (0711): a mktemp -d is 0700
    chmod 711 "$dir"
    mount_cgroups
    [ -n "$idmap" ] && allow_idmap "$dir" "$idmap"
    # LXD's network set-up needs a main routing table, which a fresh
    # namespace lacks until it has a route (TEST-NET-2, never used)
    [ -n "$(ip route show table main 2>/dev/null)" ] ||
        ip route add blackhole 198.51.100.0/24
    LXD_DIR=$dir/lxd setsid lxd --group root --logfile "$dir/lxd.log" \
        >>"$dir/lxd.out" 2>&1 </dev/null &
    echo $! >"$dir/lxd.pid"
    if ! LXD_DIR=$dir/lxd timeout 60 lxd waitready --timeout 50 2>>"$dir/lxd.out"; then
        echo "lxd did not become ready within 50 s:" >&2
        tail -20 "$dir/lxd.log" "$dir/lxd.out" >&2 2>/dev/null || true
        stop "$dir"
        exit 1
    fi
    # what `lxd init` asks for, without a network (a second run changes nothing)
    if ! LXD_DIR=$dir/lxd lxc storage show default >/dev/null 2>&1; then
        LXD_DIR=$dir/lxd lxd init --preseed >&2 <<EOF
config:
  images.auto_update_interval: "0"
storage_pools:
- name: default
  driver: dir
profiles:
- name: default
  devices:
    root:
      path: /
      pool: default
      type: disk
EOF
    fi
    if [ -n "$https" ]; then
        LXD_DIR=$dir/lxd lxc config set core.https_address "$https" >&2
    fi
    echo "$dir/lxd/unix.socket"
}

stop() {
    local dir=$1 pid
    [ -d "$dir/lxd" ] || return 0
    dir=$(cd "$dir" && pwd)
    if [ -S "$dir/lxd/unix.socket" ]; then
        # every container off, then the daemon (what `systemctl stop lxd` does)
        LXD_DIR=$dir/lxd timeout 60 lxc stop --all --force >/dev/null 2>&1 || true
        LXD_DIR=$dir/lxd timeout 30 lxd shutdown --timeout 20 >/dev/null 2>&1 || true
    fi
    pid=$(cat "$dir/lxd.pid" 2>/dev/null || true)
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    # containers' monitors ("[lxc monitor] DIR/lxd/containers NAME") and the
    # daemon's helpers ("lxd fork... DIR/lxd/...") left behind
    for pid in $(pgrep -f "^\[lxc monitor\] $dir/lxd/" || true) \
        $(pgrep -f "^lxd fork[a-z]* .*$dir/lxd/" || true); do
        kill -9 "$pid" 2>/dev/null || true
    done
    # LXD mounts tmpfs on shmounts and devlxd (and the storage volumes of
    # running containers) in whatever mount namespace it ran in
    local m
    for m in $(awk -v d="$dir/lxd/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    rm -f "$dir/lxd.pid"
}

case "${1:-}" in
start)
    need >&2
    d=${2:?usage: lxd.sh start DIR [--https ADDR:PORT] [--idmap UID]}
    shift 2
    https="" idmap=""
    while [ $# -gt 0 ]; do
        case "$1" in
        --https) https=${2:?--https needs ADDR:PORT}; shift 2 ;;
        --idmap) idmap=${2:?--idmap needs a uid}; shift 2 ;;
        *) echo "lxd.sh: unknown option $1" >&2; exit 1 ;;
        esac
    done
    start "$d" "$https" "$idmap"
    ;;
stop) stop "${2:?usage: lxd.sh stop DIR}" ;;
check) need ;;
*) echo "usage: $0 start DIR [--https ADDR:PORT] [--idmap UID] | stop DIR | check" >&2; exit 1 ;;
esac
