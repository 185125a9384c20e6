#!/bin/bash
# Benchmark: shared folders, side by side in one run, all measured inside one
# guest (the tiny image, tests/images/build-tiny.sh, QEMU under TCG):
#   disk     the guest's own disk (the floor)
#   native   moonbase's native mount (virtio-9p, msize 512 KiB)
#   classic  moonbase's classic mount (sshfs -o slave in the guest, the
#            agent's SFTP server over libssh2)
#   openssh  OpenSSH's stack, as Lima's reverse-sshfs: the host's ssh client
#            runs `sshfs -o slave` in the guest, its stdin/stdout wired to the
#            host's /usr/lib/openssh/sftp-server; twice: with OpenSSH's
#            default cipher, and with the one libssh2 1.10 negotiates
#            (aes128-ctr + hmac-sha2-256; it has no chacha20-poly1305), since
#            under TCG the guest's decryption is what bounds every SSH column
# IMAGE=debian runs the same in the Debian 12 image (tests/images/
# build-debian.sh): OpenSSH's sshd and Debian's own sshfs in the guest.
# Workloads: sequential write and read of a SIZE_MB file (default 500; dd with
# 1 MiB blocks, write ended by fsync, read after the guest dropped its page
# cache) and `find` + `stat` over a tree of FILES small files (default
# 10 000: 100 folders of 100 files of 1 KiB; guest caches dropped first).
# Each workload also shows the CPU time the QEMU process spent on it (the
# guest's work, its devices and user networking), steadier than wall time when
# other guests load the host.
# The guest's sshfs is Debian 12's (the host's, side-loaded: the tiny image
# has none). The host's page cache is left warm for every column alike.
# Run by hand: tests/bench/mounts.sh [SIZE_MB] [FILES]   (MOONBASE_BIN, and
# MOONBASE_TINY_IMAGE for an already built image). Prints a Markdown table.
# Network: a namespace of its own, QEMU user networking with restrict=on, SSH on
# 127.0.0.1 only.
set -euo pipefail

# as root: in a network namespace of its own, and moonbase without
# CAP_NET_ADMIN, so it takes QEMU user networking and never touches the host's
# network (see TESTING.md)
if [ "$(id -u)" = 0 ] && [ -z "${MOONBASE_TEST_NETNS:-}" ]; then
    exec "$(dirname "$0")/../lib/in-netns.sh" "$0" "$@"
fi
RUNNER=()
[ "$(id -u)" = 0 ] && RUNNER=(setpriv --bounding-set=-net_admin)

SIZE_MB=${1:-500}
FILES=${2:-10000}
IMAGE=${IMAGE:-tiny}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${MOONBASE_BIN:-$SRC/build/moonbase}
SFTP_SERVER=${SFTP_SERVER:-/usr/lib/openssh/sftp-server}
[ -x "$BIN" ] || { echo "no moonbase binary at $BIN (set MOONBASE_BIN)" >&2; exit 3; }
command -v sshfs >/dev/null || { echo "needs sshfs on the host (apt-get install sshfs)" >&2; exit 3; }
[ -x "$SFTP_SERVER" ] || { echo "needs $SFTP_SERVER (openssh-sftp-server)" >&2; exit 3; }
command -v qemu-system-x86_64 >/dev/null || { echo "needs qemu-system-x86_64" >&2; exit 3; }

DIR=$(mktemp -d /tmp/mb-bench-mounts-XXXXXX)
export MOONBASE_HOME=$DIR/home
NAME=bench
mb() { "${RUNNER[@]}" "$BIN" "$@"; }
OSSH_PIDS=()
cleanup() {
    for p in "${OSSH_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    mb delete --purge "$NAME" >/dev/null 2>&1 || true
    [ -n "${STREAMS:-}" ] && "$SRC/tests/lib/imagehost.sh" stop "$STREAMS" >/dev/null 2>&1 || true
    rm -rf "$DIR"
}
trap cleanup EXIT

log() { echo "mounts.sh: $*" >&2; }

case $IMAGE in
tiny)
    IMG=${MOONBASE_TINY_IMAGE:-$("$SRC/tests/images/build-tiny.sh" | tail -1)}
    ALIAS=tiny ;;
debian)
    IMG=${MOONBASE_DEBIAN_IMAGE:-$("$SRC/tests/images/build-debian.sh" | tail -1)}
    ALIAS=bookworm ;;
*) echo "IMAGE must be tiny or debian" >&2; exit 1 ;;
esac
STREAMS=$DIR/streams
mkdir -p "$STREAMS" "$MOONBASE_HOME"
"$SRC/tests/images/make-streams.sh" "$STREAMS" "$IMG" >/dev/null
URL=$("$SRC/tests/lib/imagehost.sh" start "$STREAMS")
mb remote add local "$URL/" >/dev/null 2>&1
mb set local.driver=qemu local.image.default=local:$ALIAS local.qemu.restrict-user-network=true

COLS=(disk native classic openssh opensshaes)
for d in native classic openssh opensshaes; do mkdir -p "$DIR/$d"; chmod 777 "$DIR/$d"; done
log "launching $NAME from $ALIAS (2 GiB of memory, 8 GiB disk)"
mb launch --name "$NAME" --memory 2G --disk 8G --quiet --timeout 600 \
    --mount "$DIR/native:/mnt/native"
g() { mb exec "$NAME" -- sh -c "$1"; }

# sshfs for the guest: the host's binary and the libraries the guest lacks
# (the Debian image has its own)
if ! g "command -v sshfs >/dev/null"; then
SSHFS=$(command -v sshfs)
files=("$SSHFS")
for lib in $(ldd "$SSHFS" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'); do
    g "test -e /lib/x86_64-linux-gnu/$(basename "$lib")" || files+=("$lib")
done
for f in "${files[@]}"; do mb transfer "$(readlink -f "$f")" "$NAME:/tmp/$(basename "$f")"; done
install_cmd="sudo mkdir -p /usr/local/bin && sudo cp /tmp/sshfs /usr/local/bin/sshfs && sudo chmod 755 /usr/local/bin/sshfs"
for f in "${files[@]:1}"; do
    install_cmd+=" && sudo cp /tmp/$(basename "$f") /lib/x86_64-linux-gnu/$(basename "$f")"
done
g "$install_cmd"
fi

log "classic mount"
mb mount --type classic "$DIR/classic" "$NAME:/mnt/classic"

mb ssh-config "$NAME" > "$DIR/ssh_config"
OSSH_PIDS=()
# OpenSSH's stack: ssh runs sshfs -o slave in the guest, its stdin/stdout wired
# to the host's sftp-server through two FIFOs (what Lima's reverse-sshfs does)
openssh_mount() { # column [ssh options...]
    local col=$1; shift
    mkfifo "$DIR/$col.to" "$DIR/$col.from"
    "$SFTP_SERVER" -d "$DIR/$col" < "$DIR/$col.from" > "$DIR/$col.to" &
    OSSH_PIDS+=($!)
    ssh -F "$DIR/ssh_config" -o BatchMode=yes "$@" "$NAME" \
        "sudo -n sh -c 'mkdir -p /mnt/$col; [ -e /dev/fuse ] || modprobe fuse; exec sshfs -o slave,allow_other,default_permissions : /mnt/$col'" \
        > "$DIR/$col.from" < "$DIR/$col.to" 2>"$DIR/$col.err" &
    OSSH_PIDS+=($!)
    for _ in $(seq 1 100); do
        g "grep -q ' /mnt/$col fuse.sshfs ' /proc/mounts" && return 0
        sleep 0.2
    done
    echo "the OpenSSH mount $col did not come up: $(cat "$DIR/$col.err")" >&2
    exit 2
}
log "OpenSSH mounts (default cipher, and libssh2's: aes128-ctr + hmac-sha2-256)"
openssh_mount openssh
openssh_mount opensshaes -c aes128-ctr -m hmac-sha2-256
g "sudo mkdir -p /var/tmp/disk && sudo chmod 777 /var/tmp/disk"

# The small-file trees: made on the host for the shares, in the guest for its disk.
make_tree() { # dir
    local d i
    for d in $(seq 1 $(( (FILES + 99) / 100 ))); do
        mkdir -p "$1/tree/d$d"
        for i in $(seq 1 100); do printf '%1024s' '' > "$1/tree/d$d/f$i"; done
    done
}
log "making the trees of $FILES files"
for d in native classic openssh opensshaes; do make_tree "$DIR/$d"; done
g "cd /var/tmp/disk && for d in \$(seq 1 $(( (FILES + 99) / 100 ))); do mkdir -p tree/d\$d; \
   for i in \$(seq 1 100); do printf '%1024s' '' > tree/d\$d/f\$i; done; done; sync"

# One measurement in the guest (its clock: /proc/uptime, 10 ms steps); prints
# seconds, then the CPU seconds QEMU spent meanwhile (the guest's work, its
# virtual devices and user networking: under a loaded host wall times swing,
# this much less).
QEMU_PID=$(cat "$MOONBASE_HOME"/data/instances/qemu/$NAME/qemu.pid)
qemu_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / hz }' \
    "/proc/$QEMU_PID/stat"; }
gtime() { # shell code
    local c0 c1 t
    c0=$(qemu_cpu)
    t=$(g "sync; echo 3 | sudo tee /proc/sys/vm/drop_caches >/dev/null; \
       t0=\$(cut -d' ' -f1 /proc/uptime); $1; t1=\$(cut -d' ' -f1 /proc/uptime); \
       echo \$t0 \$t1" | tail -1 | awk '{ printf "%.2f\n", $2 - $1 }')
    c1=$(qemu_cpu)
    echo "$t $(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')"
}

# REPEAT rounds (default 1), the columns interleaved in each; the median is shown
REPEAT=${REPEAT:-1}
declare -A W R F WC RC FC
for round in $(seq 1 "$REPEAT"); do
    for t in "${COLS[@]}"; do
        case $t in disk) p=/var/tmp/disk ;; *) p=/mnt/$t ;; esac
        log "round $round, $t: write ${SIZE_MB} MB"
        read -r s c < <(gtime "dd if=/dev/zero of=$p/big bs=1M count=$SIZE_MB conv=fsync 2>/dev/null")
        W[$t]+=" $s"; WC[$t]+=" $c"
        log "round $round, $t: read ${SIZE_MB} MB"
        read -r s c < <(gtime "dd if=$p/big of=/dev/null bs=1M 2>/dev/null")
        R[$t]+=" $s"; RC[$t]+=" $c"
        g "rm -f $p/big"
        log "round $round, $t: find + stat over $FILES files"
        read -r s c < <(gtime "find $p/tree -type f | xargs stat -c '%s %Y' | wc -l >/dev/null")
        F[$t]+=" $s"; FC[$t]+=" $c"
        log "round $round, $t: $(cut -d' ' -f1-3 /proc/loadavg) load"
    done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END {
    if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
rate() { awk -v mb="$SIZE_MB" -v s="$(median <<<"$1")" \
    'BEGIN { printf "%.1f MB/s (%.1f s)", mb / s, s }'; }
row() { # label array-name unit
    local -n a=$2
    local line="| $1 |" t
    for t in "${COLS[@]}"; do
        if [ "$3" = rate ]; then line+=" $(rate "${a[$t]}") |"; else line+=" $(median <<<"${a[$t]}") s |"; fi
    done
    echo "$line"
}
echo
echo "| workload (in the guest) | guest disk | native (9p) | classic (moonbase) | OpenSSH sshfs + sftp-server | OpenSSH, aes128-ctr + hmac-sha2-256 |"
echo "|---|---|---|---|---|---|"
row "write ${SIZE_MB} MB" W rate
row "read ${SIZE_MB} MB" R rate
row "find + stat, $FILES files" F time
row "QEMU CPU, write" WC time
row "QEMU CPU, read" RC time
row "QEMU CPU, find + stat" FC time
echo
echo "(image $ALIAS, median of $REPEAT; load average: $(cut -d' ' -f1-3 /proc/loadavg); guest kernel: $(g 'uname -r'); OpenSSH negotiated: $(ssh -v -F "$DIR/ssh_config" "$NAME" true 2>&1 | sed -n 's/.*kex: server->client cipher: \([^ ]*\).*/\1/p'))"
