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
hyperfine -N --warmup 20 --runs 200 --export-json "$home/cli.json" \
    -n "lua5.4 -e ''" "lua5.4 -e ''" \
    -n "moonbase version" "$bin version" \
    -n "moonbase list (100 instances)" "$bin list" \
    -n "virsh -c test:///default list --all" "virsh -c test:///default list --all"
# medians of wall time, and CPU time (user + system: steadier on a busy machine)
lua5.4 - "$home/cli.json" <<'LUA'
local cjson = require("cjson")
local f = assert(io.open(arg[1])); local r = cjson.decode(f:read("a")); f:close()
local floor
print(string.format("| %-40s | %12s | %14s | %10s |", "command", "median wall", "mean CPU (u+s)", "CPU / floor"))
print("|" .. string.rep("-", 42) .. "|" .. string.rep("-", 14) .. "|" .. string.rep("-", 16) .. "|" .. string.rep("-", 12) .. "|")
for _, x in ipairs(r.results) do
  local cpu = (x.user + x.system) * 1000
  floor = floor or cpu
  print(string.format("| %-40s | %9.1f ms | %11.1f ms | %9.2fx |", x.command, x.median * 1000, cpu, cpu / floor))
end
LUA
