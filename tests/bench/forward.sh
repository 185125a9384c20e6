#!/usr/bin/env bash
# Port-forward throughput: a stream host -> guest through `moonbase forward`
# next to the same stream to the guest's address on moonbase0 directly, in one
# run, on the tiny image. Runs itself in a network namespace of its own.
# Usage: tests/bench/forward.sh [MEGABYTES (default 1024)]
# MOONBASE_BIN: the binary (default build/moonbase).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${MOONBASE_TEST_NETNS:-}" ]; then
    img=$(tests/images/build-tiny.sh | tail -1)
    exec tests/lib/in-netns.sh env BENCH_IMG="$img" bash ${BENCH_X:-} "$0" "$@"
fi
mb=$(readlink -f "${MOONBASE_BIN:-build/moonbase}")
mib=${1:-1024}
streams=$(mktemp -d /tmp/mb-bench-fwd-XXXXXX)
tests/images/make-streams.sh "$streams" "$BENCH_IMG" >/dev/null
url=$(MB_IMAGEHOST_STATE=$streams/state tests/lib/imagehost.sh start "$streams")
export MOONBASE_HOME=$streams/home
trap '"$mb" delete --all --purge >/dev/null 2>&1; MB_IMAGEHOST_STATE=$streams/state tests/lib/imagehost.sh stop "$streams" >/dev/null 2>&1; rm -rf "$streams"' EXIT
"$mb" remote add local "$url/" >/dev/null 2>&1
"$mb" set local.driver=qemu local.image.default=local:tiny local.qemu.restrict-user-network=true
"$mb" launch --name fwd --memory 512M --quiet
ip=$("$mb" info fwd --format csv | awk -F, 'NR==2 {print $8}')
"$mb" forward fwd 18080:9000
# a sink in the guest that counts bytes, restarted for each run
sink() {
    "$mb" exec fwd -- sh -c 'rm -f /tmp/got; setsid sh -c "busybox nc -l -p 9000 | wc -c > /tmp/got" >/dev/null 2>&1 &'
    for _ in $(seq 1 50); do
        "$mb" exec fwd -- sh -c 'netstat -ltn | grep -q ":9000 "' && return 0
        sleep 0.1
    done
    echo "forward.sh: the guest's sink did not start" >&2; exit 2
}
run() { # label host port
    sink
    local t0 t1
    t0=$(date +%s.%N)
    head -c "$((mib * 1048576))" /dev/zero > "/dev/tcp/$2/$3"
    t1=$(date +%s.%N)
    local got=""
    for _ in $(seq 1 100); do
        got=$("$mb" exec fwd -- cat /tmp/got 2>/dev/null || true)
        [ -n "$got" ] && break
        sleep 0.1
    done
    awk -v l="$1" -v a="$t0" -v b="$t1" -v n="$mib" -v g="$got" \
        'BEGIN { printf "%-28s %6d MiB in %6.2f s = %7.1f MiB/s (guest got %d bytes)\n", l, n, b - a, n / (b - a), g }'
}
echo "guest $ip, ${mib} MiB of zeros, host -> guest"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for i in 1 2; do
    run "direct to $ip:9000" "$ip" 9000
    run "forward 127.0.0.1:18080" 127.0.0.1 18080
done
echo "load average: $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
