#!/bin/bash
# Benchmark: snapshots and clones (issue 14), each side by side with its peer
# in the same run (results go to docs/performance.md, "Snapshots, clones"):
#   (a) stopped: `moonbase snapshot` / `moonbase restore --destructive` of a
#       stopped tiny instance vs `qemu-img snapshot -c` / `-a` on a copy of the
#       same disk (hyperfine, N runs each, default 10). Target: within 100 ms.
#   (b) running: `moonbase snapshot` of the running guest under the libvirt
#       driver vs `virsh snapshot-create-as` on the same domain (and the QEMU
#       driver's QMP snapshot-save on the same guest), R runs each (default
#       5), a private libvirtd (tests/lib/libvirtd.sh).
#   (c) clone: `moonbase clone` of an instance whose image is 100 MB and of
#       one whose image is 2 GB, after the same 64 MB written in each guest,
#       vs `cp` of the 2 GB image (hyperfine, C runs each, default 5).
#       Targets: the two clones within 10 % of each other; cp >= 10x slower.
# Usage: tests/bench/snapshots.sh [N] [R] [C]   (run it under the VM lock; R=0
# leaves (b) out)
# MOONBASE_BIN: the binary (default build/moonbase). QEMU user networking
# with restrict=on; as root moonbase runs without CAP_NET_ADMIN (setpriv), so
# it never makes networks on the host.
set -euo pipefail
if [ "$(id -u)" = 0 ] && [ -z "${MB_BENCH_NO_NET_ADMIN:-}" ]; then
    export MB_BENCH_NO_NET_ADMIN=1; exec setpriv --bounding-set=-net_admin "$0" "$@"
fi

N=${1:-10}
R=${2:-5}
C=${3:-5}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${MOONBASE_BIN:-$SRC/build/moonbase}
[ -x "$BIN" ] || { echo "no moonbase binary at $BIN (set MOONBASE_BIN)" >&2; exit 3; }
for p in qemu-system-x86_64 qemu-img qemu-io hyperfine jq virsh; do
    command -v "$p" >/dev/null || { echo "needs $p (apt-get install qemu-system-x86 qemu-utils hyperfine jq libvirt-clients)" >&2; exit 3; }
done

DIR=$(mktemp -d /tmp/mb-bench-snap-XXXXXX)
export MOONBASE_HOME=$DIR/home NO_COLOR=1
STREAMS=$DIR/streams
LVDIR=$DIR/libvirtd
cleanup() {
    "$BIN" delete --all --purge >/dev/null 2>&1 || true
    "$SRC/tests/lib/libvirtd.sh" stop "$LVDIR" >/dev/null 2>&1 || true
    # every QEMU and agent of this home, by pid
    for p in /proc/[0-9]*; do
        if { tr '\0' '\n' <"$p/environ" | grep -qx "MOONBASE_HOME=$MOONBASE_HOME" ||
            tr '\0' ' ' <"$p/cmdline" | grep -qF -- "$DIR/"; } 2>/dev/null; then
            [ "${p#/proc/}" != $$ ] && kill -9 "${p#/proc/}" 2>/dev/null || true
        fi
    done
    "$SRC/tests/lib/imagehost.sh" stop "$STREAMS" >/dev/null 2>&1 || true
    rm -rf "$DIR"
}
trap cleanup EXIT
log() { echo "[bench] $*" >&2; }
mb() { "$BIN" "$@"; }
median_of() { # FILE NAME -> median seconds of that command in a hyperfine export
    jq -r --arg n "$2" '.results[] | select(.command == $n) | .median' "$1"
}

# The tiny image, and two images made from it whose files are 100 MB and
# 2 GB: the same filesystem, then filler data up to that size (the guest's
# root filesystem keeps its size; the filler stands for an image's content).
TINY=$("$SRC/tests/images/build-tiny.sh" | tail -n 1)
make_image() { # NAME MB
    local d=$DIR/img-$1
    mkdir -p "$d"
    cp "$TINY"/{vmlinuz,initrd.img} "$d/"
    jq --arg r "$1" 'del(.lxd_metadata, .lxd_rootfs) | .release = $r | .aliases = $r | .release_title = $r | .release_codename = $r' \
        "$TINY/metadata.json" >"$d/metadata.json"
    qemu-img convert -q -O qcow2 "$TINY/disk.qcow2" "$d/disk.qcow2"
    local vs; vs=$(qemu-img info --output=json "$d/disk.qcow2" | jq '.["virtual-size"]')
    local want=$(($2 * 1024 * 1024))
    qemu-img resize -q "$d/disk.qcow2" $((vs + want))
    # (qemu-io writes at most 2 GiB - 512 bytes at once: in 256 MiB steps)
    local off=0 step
    while [ "$off" -lt "$want" ]; do
        step=$((want - off < 268435456 ? want - off : 268435456))
        qemu-io -c "write -q -P 0xa5 $((vs + off)) $step" "$d/disk.qcow2" >/dev/null
        off=$((off + step))
    done
    local have; have=$(stat -c %s "$d/disk.qcow2")
    [ "$have" -ge "$want" ] || { echo "make_image $1: the image has $have bytes, not $want" >&2; exit 3; }
    echo "$d"
}
I100=$(make_image img100 100)
I2G=$(make_image img2g 2048)
mkdir -p "$STREAMS"
"$SRC/tests/images/make-streams.sh" "$STREAMS" "$TINY" "$I100" "$I2G" >/dev/null
URL=$("$SRC/tests/lib/imagehost.sh" start "$STREAMS")
mb remote add local "$URL/" 2>/dev/null
mb set local.driver=qemu local.image.default=local:tiny local.qemu.restrict-user-network=true
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ (a) stopped
log "launching the guest"
mb launch -q --name b --memory 256M
mb exec b -- sh -c 'head -c 33554432 /dev/urandom > ~/w; sync'
mb stop b
DISK=$MOONBASE_HOME/data/instances/qemu/b/disk.qcow2
cp "$DISK" "$DIR/copy.qcow2"
hyperfine -N -w 2 -r "$N" --export-json "$DIR/stopped.json" \
    --prepare "sh -c '$BIN delete b.x >/dev/null 2>&1; qemu-img snapshot -d x $DIR/copy.qcow2 2>/dev/null; true'" \
    -n "moonbase snapshot" "$BIN snapshot b --name x" \
    -n "qemu-img snapshot -c" "qemu-img snapshot -c x $DIR/copy.qcow2" >/dev/null
mb snapshot b --name x >/dev/null
qemu-img snapshot -c x "$DIR/copy.qcow2"
hyperfine -N -w 2 -r "$N" --export-json "$DIR/restore.json" \
    -n "moonbase restore --destructive" "$BIN restore --destructive b.x" \
    -n "qemu-img snapshot -a" "qemu-img snapshot -a x $DIR/copy.qcow2" >/dev/null
# a restore that keeps the replaced state (a snapshot first), once per run
hyperfine -N -r "$N" --export-json "$DIR/restore-safe.json" \
    --prepare "sh -c 'for s in \$($BIN list --snapshots --format json | jq -r \".[] | select(.name != \\\"x\\\") | .name\"); do $BIN delete b.\$s; done'" \
    -n "moonbase restore" "$BIN restore b.x" >/dev/null
ST_SNAP=$(median_of "$DIR/stopped.json" "moonbase snapshot")
ST_QSNAP=$(median_of "$DIR/stopped.json" "qemu-img snapshot -c")
ST_REST=$(median_of "$DIR/restore.json" "moonbase restore --destructive")
ST_QREST=$(median_of "$DIR/restore.json" "qemu-img snapshot -a")
ST_REST_SAFE=$(median_of "$DIR/restore-safe.json" "moonbase restore")

# ------------------------------------------------------------------ (b) running
RUN_OK=0
if [ "$R" = 0 ]; then
    log "R=0: (b) skipped"
elif URI=$("$SRC/tests/lib/libvirtd.sh" start "$LVDIR" 2>/dev/null | grep -o 'qemu:///system?socket=[^ ]*'); then
    RUN_OK=1
    for s in $(mb list --snapshots --format json | jq -r '.[].name'); do mb delete "b.$s"; done
    mb start b
    # the QEMU driver's QMP snapshot-save, on this guest
    hyperfine -N -r "$R" --export-json "$DIR/run-qemu.json" \
        --prepare "sh -c '$BIN delete b.q >/dev/null 2>&1; true'" \
        -n "moonbase snapshot (qemu driver, running)" "$BIN snapshot b --name q" >/dev/null
    mb delete b.q
    mb stop b
    mb set local.driver=libvirt "local.libvirt.uri=$URI"
    mb start b
    DOM=$(sed -n 2p "$MOONBASE_HOME/data/instances/qemu/b/libvirt.domain")
    V="virsh -q -c $URI"
    hyperfine -N -r "$R" --export-json "$DIR/run-libvirt.json" \
        --prepare "sh -c '$BIN delete b.m >/dev/null 2>&1; $V snapshot-delete $DOM v >/dev/null 2>&1; true'" \
        -n "moonbase snapshot (libvirt driver, running)" "$BIN snapshot b --name m" \
        -n "virsh snapshot-create-as" "$V snapshot-create-as $DOM v" >/dev/null
    $V snapshot-delete "$DOM" v >/dev/null 2>&1 || true
    # restoring the running snapshot: the guest back and answering SSH
    mb snapshot b --name m >/dev/null 2>&1 || true
    hyperfine -N -r "$R" --export-json "$DIR/run-restore.json" \
        -n "moonbase restore --destructive (libvirt, running)" "$BIN restore --destructive b.m" \
        >/dev/null
    RUN_QEMU=$(median_of "$DIR/run-qemu.json" "moonbase snapshot (qemu driver, running)")
    RUN_MB=$(median_of "$DIR/run-libvirt.json" "moonbase snapshot (libvirt driver, running)")
    RUN_VIRSH=$(median_of "$DIR/run-libvirt.json" "virsh snapshot-create-as")
    RUN_REST=$(median_of "$DIR/run-restore.json" "moonbase restore --destructive (libvirt, running)")
    mb stop --force b
    mb set local.driver=qemu
else
    log "libvirtd cannot run here: (b) skipped"
fi

# ------------------------------------------------------------------ (c) clone
log "launching the 100 MB and 2 GB image guests"
mb launch -q --name c100 --memory 256M local:img100
mb launch -q --name c2g --memory 256M local:img2g
for n in c100 c2g; do
    mb exec "$n" -- sh -c 'head -c 67108864 /dev/urandom > ~/w; sync'
    mb stop "$n"
done
IMG2G=$(qemu-img info --output=json "$MOONBASE_HOME/data/instances/qemu/c2g/disk.qcow2" |
    jq -r '.["full-backing-filename"]')
hyperfine -N -w 1 -r "$C" --export-json "$DIR/clone.json" \
    --prepare "sh -c 'for k in k100 k2g; do $BIN delete --purge \$k >/dev/null 2>&1; done; rm -f $DIR/cp.img; sync; true'" \
    -n "moonbase clone (100 MB image)" "$BIN clone c100 --name k100" \
    -n "moonbase clone (2 GB image)" "$BIN clone c2g --name k2g" \
    -n "cp of the 2 GB image" "cp $IMG2G $DIR/cp.img" >/dev/null
CL100=$(median_of "$DIR/clone.json" "moonbase clone (100 MB image)")
CL2G=$(median_of "$DIR/clone.json" "moonbase clone (2 GB image)")
CP2G=$(median_of "$DIR/clone.json" "cp of the 2 GB image")
SZ100=$(stat -c %s "$(qemu-img info --output=json "$MOONBASE_HOME/data/instances/qemu/c100/disk.qcow2" | jq -r '.["full-backing-filename"]')")
SZ2G=$(stat -c %s "$IMG2G")
# (each run's --prepare deleted the clones: one more for its size on disk)
mb delete --purge k2g >/dev/null 2>&1 || true
mb clone c2g --name k2g >/dev/null 2>&1
K2G=$(du -k "$MOONBASE_HOME/data/instances/qemu/k2g/disk.qcow2" | cut -f1)

# ------------------------------------------------------------------ report
ms() { awk -v a="$1" 'BEGIN { printf "%.1f", a * 1000 }'; }
diffms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f", (a - b) * 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "Snapshots and clones, tiny image under TCG, $(nproc) CPUs, load $LOAD_START at start," \
     "$(cut -d' ' -f1-3 /proc/loadavg) at end"
printf '%-58s %10s\n' "measurement (medians)" "ms"
printf '%-58s %10s\n' "stopped: moonbase snapshot ($N runs)" "$(ms "$ST_SNAP")"
printf '%-58s %10s\n' "stopped: qemu-img snapshot -c, copy of the disk" "$(ms "$ST_QSNAP")"
printf '%-58s %10s\n' "stopped: snapshot, moonbase - qemu-img" "$(diffms "$ST_SNAP" "$ST_QSNAP")"
printf '%-58s %10s\n' "stopped: moonbase restore --destructive" "$(ms "$ST_REST")"
printf '%-58s %10s\n' "stopped: qemu-img snapshot -a, copy of the disk" "$(ms "$ST_QREST")"
printf '%-58s %10s\n' "stopped: restore, moonbase - qemu-img" "$(diffms "$ST_REST" "$ST_QREST")"
printf '%-58s %10s\n' "stopped: moonbase restore (safety snapshot first)" "$(ms "$ST_REST_SAFE")"
if [ "$RUN_OK" = 1 ]; then
    printf '%-58s %10s\n' "running: moonbase snapshot, qemu driver ($R runs)" "$(ms "$RUN_QEMU")"
    printf '%-58s %10s\n' "running: moonbase snapshot, libvirt driver" "$(ms "$RUN_MB")"
    printf '%-58s %10s\n' "running: virsh snapshot-create-as, same domain" "$(ms "$RUN_VIRSH")"
    printf '%-58s %10s\n' "running: libvirt moonbase / virsh" "$(ratio "$RUN_MB" "$RUN_VIRSH")x"
    printf '%-58s %10s\n' "running: moonbase restore --destructive (to SSH)" "$(ms "$RUN_REST")"
fi
printf '%-58s %10s\n' "clone: image of $((SZ100 >> 20)) MB ($C runs)" "$(ms "$CL100")"
printf '%-58s %10s\n' "clone: image of $((SZ2G >> 20)) MB" "$(ms "$CL2G")"
printf '%-58s %10s\n' "clone: 2 GB / 100 MB" "$(ratio "$CL2G" "$CL100")x"
printf '%-58s %10s\n' "cp of the $((SZ2G >> 20)) MB image" "$(ms "$CP2G")"
printf '%-58s %10s\n' "cp / clone (2 GB image)" "$(ratio "$CP2G" "$CL2G")x"
printf '%-58s %10s\n' "the 2 GB clone's disk (KiB on disk)" "$K2G"
