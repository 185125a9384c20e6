#!/bin/bash
# Benchmark: the libvirt driver next to the QEMU driver on the same tiny image
# (tests/images/build-tiny.sh), in one run, against a private libvirtd
# (tests/lib/libvirtd.sh):
#   1. `moonbase launch` wall time (create + boot + SSH + cloud-init), N times
#      per driver, alternating, each instance deleted before the next; the
#      difference is libvirt's overhead (define, libvirtd starting QEMU).
#   2. `moonbase list` and `moonbase info` with 3 running instances, as
#      local.driver=libvirt (asks libvirtd) and local.driver=qemu (the same
#      instances seen from the QEMU driver: it finds libvirt's trace and asks
#      libvirt too), then with the three running under the QEMU driver (the
#      baseline), with hyperfine when it is installed.
# The whole run is inside a network namespace of its own (libvirtd.sh in-netns).
# Run by hand as root: tests/bench/libvirt_launch.sh [N]   (default 3;
# MOONBASE_BIN: the binary; MOONBASE_TINY_IMAGE: a built tiny image dir).
# Prints a markdown table on stdout; progress on stderr.
set -euo pipefail

N=${1:-5}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${MOONBASE_BIN:-$SRC/build/moonbase}
[ -x "$BIN" ] || { echo "no moonbase binary at $BIN (set MOONBASE_BIN)" >&2; exit 3; }
if ! why=$("$SRC/tests/lib/libvirtd.sh" check); then echo "$why" >&2; exit 3; fi
# the image is built (or found) outside, then everything runs in a network
# namespace of its own (networks moonbase makes as root stay in there)
if [ -z "${MB_BENCH_IN_NETNS:-}" ]; then
    export MOONBASE_TINY_IMAGE=${MOONBASE_TINY_IMAGE:-$("$SRC/tests/images/build-tiny.sh" | tail -1)}
    MB_BENCH_IN_NETNS=1 exec "$SRC/tests/lib/libvirtd.sh" in-netns "$0" "$@"
fi

DIR=$(mktemp -d /tmp/mb-bench-libvirt-XXXXXX)
export MOONBASE_HOME=$DIR/home NO_COLOR=1
cleanup() {
    for d in "$MOONBASE_HOME"/data/instances/qemu/*/; do
        [ -f "$d/qemu.pid" ] && kill -9 "$(cat "$d/qemu.pid")" 2>/dev/null || true
        [ -f "$d/agent.json" ] && kill -9 "$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' \
            "$d/agent.json")" 2>/dev/null || true
    done
    "$SRC/tests/lib/libvirtd.sh" stop "$DIR/libvirtd" || true
    "$SRC/tests/lib/imagehost.sh" stop "$DIR/streams" >/dev/null 2>&1 || true
    rm -rf "$DIR"
}
trap cleanup EXIT

img=$MOONBASE_TINY_IMAGE
"$SRC/tests/images/make-streams.sh" "$DIR/streams" "$img" >/dev/null
url=$("$SRC/tests/lib/imagehost.sh" start "$DIR/streams" | grep -o 'http://127\.0\.0\.1:[0-9]*')
uri=$("$SRC/tests/lib/libvirtd.sh" start "$DIR/libvirtd")
mb() { "$BIN" "$@"; }
mb remote add local "$url/" >/dev/null 2>&1
mb set local.image.default=local:tiny local.qemu.restrict-user-network=true \
    "local.libvirt.uri=$uri"
mb images pull local:tiny >/dev/null 2>&1 || true # the cache is warm for both

median() {
    sort -n | awk '{a[NR]=$1} END {
        if (NR % 2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2 }'
}
now() { date +%s.%N; }

declare -A times
for i in $(seq 1 "$N"); do
    order="qemu libvirt"
    [ $((i % 2)) = 0 ] && order="libvirt qemu"
    for drv in $order; do
        mb set local.driver=$drv 2>/dev/null
        t0=$(now)
        mb launch --name "b-$drv" -q >/dev/null
        t1=$(now)
        t=$(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }")
        times[$drv]+="$t "
        echo "launch #$i with $drv: ${t}s (load $(cut -d' ' -f1 /proc/loadavg))" >&2
        mb delete --purge "b-$drv" >/dev/null
    done
done
mq=$(echo ${times[qemu]} | tr ' ' '\n' | median)
ml=$(echo ${times[libvirt]} | tr ' ' '\n' | median)

echo "| \`moonbase launch\` (tiny image, TCG) | median of $N |"
echo "|---|---|"
echo "| local.driver=qemu | ${mq} s |"
echo "| local.driver=libvirt | ${ml} s |"
echo "| libvirt's overhead | $(awk "BEGIN { printf \"%.1f\", $ml - $mq }") s |"
echo

# three running instances for list/info
mb set local.driver=libvirt 2>/dev/null
for n in l1 l2 l3; do mb launch --name $n -q >/dev/null; done
echo "3 instances running under libvirt" >&2
if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 3 --runs 30 --export-markdown "$DIR/hf.md" \
        -n "list (local.driver=libvirt)" "env MOONBASE_HOME=$MOONBASE_HOME $BIN list" \
        -n "info l1 (local.driver=libvirt)" "env MOONBASE_HOME=$MOONBASE_HOME $BIN info l1" \
        >&2
    cat "$DIR/hf.md"
    mb set local.driver=qemu 2>/dev/null
    hyperfine -N --warmup 3 --runs 30 --export-markdown "$DIR/hf2.md" \
        -n "list (local.driver=qemu, instances under libvirt)" \
        "env MOONBASE_HOME=$MOONBASE_HOME $BIN list" >&2
    tail -n +3 "$DIR/hf2.md"
    # the baseline: the same three instances running under the QEMU driver
    for n in l1 l2 l3; do
        mb set local.driver=libvirt 2>/dev/null; mb stop $n >/dev/null
        mb set local.driver=qemu 2>/dev/null; mb start $n >/dev/null 2>&1
    done
    echo "3 instances running under qemu" >&2
    hyperfine -N --warmup 3 --runs 30 --export-markdown "$DIR/hf3.md" \
        -n "list (local.driver=qemu, instances under qemu)" \
        "env MOONBASE_HOME=$MOONBASE_HOME $BIN list" \
        -n "info l1 (local.driver=qemu, under qemu)" \
        "env MOONBASE_HOME=$MOONBASE_HOME $BIN info l1" >&2
    tail -n +3 "$DIR/hf3.md"
else
    for what in list "info l1"; do
        t0=$(now)
        for i in $(seq 1 20); do mb $what >/dev/null; done
        echo "| $what (local.driver=libvirt) | $(awk "BEGIN { printf \"%.1f\", ($(now) - $t0) * 50 }") ms |"
    done
fi
echo
echo "(load average $(cut -d' ' -f1-3 /proc/loadavg) at the end)"
