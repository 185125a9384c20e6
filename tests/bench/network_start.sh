#!/usr/bin/env bash
# Start to ping: the time from `moonbase start` of a stopped tiny instance to
# its address on moonbase0 answering ping, next to the guest's boot alone (the
# very QEMU command line moonbase ran, by hand, on a copy of the instance's
# disk, with its tap put on moonbase0 by hand), alternating, REPEAT times
# each, in one run. Pings go out every 20 ms (busybox ping) from the host
# side of the bridge. Runs itself in a network namespace of its own.
# Usage: tests/bench/network_start.sh [REPEAT (default 5)]
# MOONBASE_BIN: the binary (default build/moonbase). BENCH_KEEP=DIR: keep
# the guests' console logs there.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${MOONBASE_TEST_NETNS:-}" ]; then
    img=$(tests/images/build-tiny.sh | tail -1)
    exec tests/lib/in-netns.sh env BENCH_IMG="$img" bash "$0" "$@"
fi
MB=$(readlink -f "${MOONBASE_BIN:-build/moonbase}")
REPEAT=${1:-5}
DIR=$(mktemp -d /tmp/mb-bench-start-XXXXXX)
export MOONBASE_HOME=$DIR/home NO_COLOR=1
BASE_PID=
cleanup() {
    [ -n "$BASE_PID" ] && kill -9 "$BASE_PID" 2>/dev/null || true
    "$MB" delete --all --purge >/dev/null 2>&1 || true
    "$MB" networks --prune --force >/dev/null 2>&1 || true
    MB_IMAGEHOST_STATE=$DIR/streams/state tests/lib/imagehost.sh stop "$DIR/streams" \
        >/dev/null 2>&1 || true
    rm -rf "$DIR"
}
trap cleanup EXIT
now() { date +%s.%N; }
median() { sort -n | awk '{ a[NR] = $1 } END {
    if (NR % 2) printf "%.2f\n", a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2 }'; }
log() { echo "[bench] $*" >&2; }

mkdir -p "$DIR/streams"
tests/images/make-streams.sh "$DIR/streams" "$BENCH_IMG" >/dev/null
url=$(MB_IMAGEHOST_STATE=$DIR/streams/state tests/lib/imagehost.sh start "$DIR/streams")
"$MB" remote add local "$url/" >/dev/null 2>&1
"$MB" set local.driver=qemu local.image.default=local:tiny
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# the instance, its address, tap and QEMU argv; then stopped (cleanly)
"$MB" launch --name sp --memory 256M --quiet
INST=$MOONBASE_HOME/data/instances/qemu/sp
IP=$("$MB" info sp --format json | jq -r '.sp.ipv4[0]')
TAP=$(jq -r '.nics[0].tap' "$INST/instance.json")
BRIDGE=moonbase0
tr '\0' '\n' <"/proc/$(cat "$INST/qemu.pid")/cmdline" >"$DIR/argv"
"$MB" stop sp >/dev/null

# seconds from T0 until IP answers a ping
until_ping() {
    busybox ping -i 0.02 -w 300 "$IP" | grep -m1 -q "bytes from"
    awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f\n", b - a }'
}

moonbase_start() {
    local t0 t pid
    t0=$(now)
    "$MB" start sp >/dev/null 2>&1 &
    pid=$!
    t=$(until_ping "$t0")
    wait "$pid"
    "$MB" stop sp >/dev/null
    [ -n "${BENCH_KEEP:-}" ] && cp "$INST/serial.log" "$BENCH_KEEP/moonbase-serial.$(now).log"
    echo "$t"
}

# by hand: the same argv on a copy of the (stopped) instance's files, the tap
# made by hand; killed once it answered
by_hand() {
    local b=$DIR/byhand t0 t
    rm -rf "$b"; mkdir -p "$b"
    cp "$INST/disk.qcow2" "$INST/cidata.iso" "$b/"
    local -a argv=()
    while IFS= read -r a; do argv+=("${a//$INST/$b}"); done <"$DIR/argv"
    ip tuntap add dev "$TAP" mode tap
    ip link set "$TAP" master "$BRIDGE" up
    t0=$(now)
    "${argv[@]}" >/dev/null 2>&1 &
    BASE_PID=$!
    t=$(until_ping "$t0")
    kill -9 "$BASE_PID"; wait "$BASE_PID" 2>/dev/null || true; BASE_PID=
    ip link delete "$TAP"
    [ -n "${BENCH_KEEP:-}" ] && cp "$b/serial.log" "$BENCH_KEEP/byhand-serial.$(now).log"
    echo "$t"
}

: >"$DIR/mb"; : >"$DIR/hand"
for i in $(seq 1 "$REPEAT"); do
    t=$(moonbase_start); echo "$t" >>"$DIR/mb"; log "moonbase start $i: $t s"
    t=$(by_hand); echo "$t" >>"$DIR/hand"; log "by hand $i: $t s"
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
echo "guest $IP on $BRIDGE (tap $TAP), tiny image, 256 MiB, $REPEAT rounds, medians"
printf '%-44s %s s  (runs: %s)\n' "moonbase start -> first ping answer" \
    "$(median <"$DIR/mb")" "$(paste -sd' ' "$DIR/mb")"
printf '%-44s %s s  (runs: %s)\n' "same QEMU argv by hand -> first ping answer" \
    "$(median <"$DIR/hand")" "$(paste -sd' ' "$DIR/hand")"
echo "load average: $LOAD_START at the start, $LOAD_END at the end"
