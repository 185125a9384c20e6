#!/usr/bin/env bash
# The whole test suite (the README's test command runs this after .ci/setup):
# every tier in one ctest pass, then the slowest suites, so a suite that grows
# slow is seen in every run. Arguments go to ctest (e.g. -LE e2e: the fast tier).
#
# Two at a time by default (MOONBASE_TEST_JOBS): the busted tiers, the image
# builds and the fuzzing run next to the real-guest suites, which take turns
# (RESOURCE_LOCK qemu-guests). The run as a whole is bounded too
# (MOONBASE_TEST_BUDGET minutes, default 70): past it, ctest stops every test
# still running and reports it, so a hang costs a failure, not the whole run.
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=${MOONBASE_TEST_JOBS:-2}
budget=${MOONBASE_TEST_BUDGET:-70}
log=$(mktemp /tmp/moonbase-ctest.XXXXXX)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
ctest --test-dir build --output-on-failure -j "$jobs" \
    --stop-time "$(date -d "+$budget minutes" +%H:%M:%S)" "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
echo
echo "slowest suites (whole run: $(( $(date +%s) - start )) s, $jobs at a time):"
grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+: ' "$log" |
    sed -E 's/^.*Test +#[0-9]+: ([^ ]+) .*[^0-9]([0-9]+\.[0-9]+) sec.*$/\2 \1/' |
    sort -rn | head -12 | awk '{ printf "  %8.1f s  %s\n", $1, $2 }'
exit "$rc"
