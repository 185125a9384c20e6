#!/usr/bin/env bash
# Image benchmarks (not a timed test; results go to docs/performance.md):
# 1. download: `moonbase images pull` of an http:// image (SHA-256 computed,
#    fsync'd, renamed into the cache) next to `curl -o` of the same file from
#    the same local image host (tests/lib/imagehost.sh, nginx on 127.0.0.1),
#    interleaved curl, moonbase, curl, moonbase... so drift hits both alike;
# 2. cache hit: resolving a cached image and creating an instance overlay on
#    it (`qemu-img create -b`), for a 100 MB and a 2 GB image, interleaved.
# Prints medians, min/max and the median of the per-round ratios.
# Usage: tests/bench/image_download.sh [path/to/moonbase] [SIZE_MB=512] [ROUNDS=7]
set -euo pipefail
bin=$(readlink -f "${1:-build/moonbase}")
size_mb=${2:-512}
rounds=${3:-7}
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
for p in curl qemu-img awk sha256sum; do
    command -v "$p" >/dev/null || { echo "image_download.sh: $p is missing" >&2; exit 2; }
done
[ "$size_mb" -ge 300 ] || { echo "image_download.sh: use at least 300 MB" >&2; exit 2; }

work=$(mktemp -d /tmp/mb-bench-img-XXXXXX)
cleanup() {
    "$src/tests/lib/imagehost.sh" stop "$work/www" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/www"
export MOONBASE_HOME=$work/home NO_COLOR=1

now() { date +%s.%N; }
# stats FILE COLUMN -> "median min max" of that column
stats() {
    awk -v c="$2" '{ print $c }' "$1" | sort -g |
        awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
              printf "%.3f %.3f %.3f", m, v[1], v[NR] }'
}

echo "== making a ${size_mb} MiB qcow2 of random data"
head -c "${size_mb}M" /dev/urandom >"$work/raw"
qemu-img convert -f raw -O qcow2 "$work/raw" "$work/www/big.qcow2"
rm -f "$work/raw"
bytes=$(stat -c %s "$work/www/big.qcow2")
want=$(sha256sum "$work/www/big.qcow2" | cut -d' ' -f1)
url=$("$src/tests/lib/imagehost.sh" start "$work/www")/big.qcow2

echo "== download: $rounds rounds (after one warm-up) of curl -o and moonbase images pull"
: >"$work/dl.times"
for r in $(seq 0 "$rounds"); do
    rm -f "$work/curl.out"
    sync
    t0=$(now)
    curl -sS -o "$work/curl.out" "$url"
    t1=$(now)
    rm -rf "$MOONBASE_HOME/cache/images"
    sync
    t2=$(now)
    "$bin" images pull --quiet "$url"
    t3=$(now)
    [ "$r" -gt 0 ] && echo "$t0 $t1 $t2 $t3" |
        awk '{ c = $2 - $1; m = $4 - $3; printf "%.4f %.4f %.4f\n", c, m, m / c }' \
            >>"$work/dl.times"
done
got=$(sha256sum "$MOONBASE_HOME"/cache/images/*/disk.qcow2 | cut -d' ' -f1)
[ "$got" = "$want" ] || { echo "image_download.sh: cached image has the wrong digest" >&2; exit 1; }
read -r c_med c_min c_max <<<"$(stats "$work/dl.times" 1)"
read -r m_med m_min m_max <<<"$(stats "$work/dl.times" 2)"
read -r r_med r_min r_max <<<"$(stats "$work/dl.times" 3)"
awk -v b="$bytes" -v cm="$c_med" -v mm="$m_med" -v cmin="$c_min" -v cmax="$c_max" \
    -v mmin="$m_min" -v mmax="$m_max" -v rm="$r_med" -v rmin="$r_min" -v rmax="$r_max" 'BEGIN {
    printf "file: %.1f MiB\n", b / 1048576
    printf "curl -o               median %.3f s (min %.3f, max %.3f)  %.0f MiB/s\n",
        cm, cmin, cmax, b / cm / 1048576
    printf "moonbase images pull  median %.3f s (min %.3f, max %.3f)  %.0f MiB/s\n",
        mm, mmin, mmax, b / mm / 1048576
    printf "time ratio moonbase/curl per round: median %.3f (min %.3f, max %.3f)\n",
        rm, rmin, rmax
    printf "moonbase throughput as a share of curl: %.1f %%\n", 100 / rm
}'

echo "== cache hit: resolve + qemu-img overlay, 100 MiB and 2 GiB images"
cat >"$work/hit.lua" <<'EOF'
local images = require("moonbase.images")
local process = require("moonbase.engine.process")
local img = images.resolve(arg[1], { quiet = true })
local code, _, err = process.run({ "qemu-img", "create", "-q", "-f", "qcow2", "-b", img.path,
  "-F", "qcow2", arg[2] })
assert(code == 0, err)
os.remove(arg[2])
EOF
for mb in 100 2048; do
    qemu-img create -q -f qcow2 -o preallocation=falloc "$work/hit-$mb.qcow2" "${mb}M"
    "$bin" images pull --quiet "file://$work/hit-$mb.qcow2"
done
hit_rounds=$((rounds * 3))
: >"$work/hit.times"
for r in $(seq 0 "$hit_rounds"); do
    t0=$(now)
    "$bin" --lua "$work/hit.lua" "file://$work/hit-100.qcow2" "$work/overlay.qcow2"
    t1=$(now)
    "$bin" --lua "$work/hit.lua" "file://$work/hit-2048.qcow2" "$work/overlay.qcow2"
    t2=$(now)
    [ "$r" -gt 0 ] && echo "$t0 $t1 $t2" |
        awk '{ a = $2 - $1; b = $3 - $2; printf "%.4f %.4f %.4f\n", a, b, b / a }' \
            >>"$work/hit.times"
done
read -r a_med a_min a_max <<<"$(stats "$work/hit.times" 1)"
read -r b_med b_min b_max <<<"$(stats "$work/hit.times" 2)"
read -r q_med q_min q_max <<<"$(stats "$work/hit.times" 3)"
awk -v am="$a_med" -v amin="$a_min" -v amax="$a_max" -v bm="$b_med" -v bmin="$b_min" \
    -v bmax="$b_max" -v qm="$q_med" -v qmin="$q_min" -v qmax="$q_max" 'BEGIN {
    printf "100 MiB image: median %.1f ms (min %.1f, max %.1f)\n", am * 1000, amin * 1000,
        amax * 1000
    printf "2 GiB image:   median %.1f ms (min %.1f, max %.1f)\n", bm * 1000, bmin * 1000,
        bmax * 1000
    printf "ratio 2 GiB / 100 MiB per round: median %.3f (min %.3f, max %.3f)\n", qm, qmin, qmax
}'
