#!/usr/bin/env bash
# CLI latency: `moonbase version` and `moonbase list` with 100 instances on the
# test driver, next to the floor (`lua5.4 -e ''`: a process plus a Lua state)
# and libvirt's in-process test driver (`virsh -c test:///default list --all`),
# all in one hyperfine run. Usage: tests/bench/cli.sh [path/to/moonbase]
set -euo pipefail
bin=$(readlink -f "${1:-build/moonbase}")
for p in hyperfine lua5.4 virsh; do
    command -v "$p" >/dev/null || { echo "cli.sh: $p is missing (apt-get install hyperfine lua5.4 libvirt-clients)" >&2; exit 2; }
done
home=$(mktemp -d /tmp/mb-bench-cli-XXXXXX)
trap 'rm -rf "$home"' EXIT
export MOONBASE_HOME=$home NO_COLOR=1
"$bin" set local.driver=test
for i in $(seq 1 100); do "$bin" launch --name "vm$i" --quiet; done
test "$("$bin" list --format csv | wc -l)" = 101
hyperfine -N --warmup 20 --runs 200 --export-markdown "$home/cli.md" \
    -n "lua5.4 -e ''" "lua5.4 -e ''" \
    -n "moonbase version" "$bin version" \
    -n "moonbase list (100 instances)" "$bin list" \
    -n "virsh -c test:///default list --all" "virsh -c test:///default list --all"
cat "$home/cli.md"
