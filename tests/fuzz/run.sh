#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, in build-fuzz/ next to build/) and runs
# each for SECONDS on a copy of its corpus (tests/fuzz/corpus/<target>/), so
# the repository's corpus only changes on purpose. Prints, per target, the
# executions and what was found; a crash fails the run and leaves the input
# that caused it in build-fuzz/fuzz-artifacts/.
#   tests/fuzz/run.sh [SECONDS] [TARGET...]   (default: 20 s each, every target)
# The suite runs it with 20 s per target; docs/reliability.md has a longer run.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-20}
[ $# -gt 0 ] && shift
all="parse qmp json sftp iso yaml_merge simplestreams recipe"
targets=${*:-$all}
if ! command -v clang >/dev/null; then
    echo "SKIP: clang is not installed (bash .ci/setup installs it)"
    exit 77
fi
build=$src/build-fuzz
CC=clang cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOONBASE_FUZZ=ON \
    >/dev/null
cmake --build "$build" --target fuzz_all -j"$(nproc)" >/dev/null
mkdir -p "$build/fuzz-artifacts"
work=$(mktemp -d /tmp/mb-fuzz-XXXXXX)
trap 'rm -rf "$work" /tmp/mb-fuzz-home-* /tmp/mb-fuzz-recipe-* /tmp/mb-fuzz-sftp-* \
    /tmp/mb-fuzz-iso-*' EXIT
failed=0
total=0
for t in $targets; do
    mkdir -p "$work/$t"
    cp -r "$src/tests/fuzz/corpus/$t/." "$work/$t/"
    log=$work/$t.log
    set +e
    ASAN_OPTIONS=detect_leaks=0 "$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" \
        -timeout=20 -rss_limit_mb=2560 -print_final_stats=1 \
        -artifact_prefix="$build/fuzz-artifacts/$t-" "$work/$t" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    total=$((total + ${execs:-0}))
    if [ $rc -ne 0 ]; then
        failed=1
        echo "fuzz $t: FAILED after ${execs:-?} executions:"
        grep -E "ERROR|SUMMARY|fuzz:|Test unit written" "$log" | head -20
    else
        echo "fuzz $t: ${execs:-?} executions in ${secs} s, no crash" \
            "(corpus $(ls "$work/$t" | wc -l) inputs)"
    fi
done
echo "fuzz: $total executions in all"
exit $failed
