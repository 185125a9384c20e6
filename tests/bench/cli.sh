#!/usr/bin/env bash
# CLI latency: `moonbase version` and `moonbase list` with 100 instances on the
# test driver, next to the floor (`lua5.4 -e ''`: a process plus a Lua state)
# and libvirt's in-process test driver (`virsh -c test:///default list --all`),
# all in one hyperfine run. With a second binary (for example one built from
# an earlier commit), its `version` and `list` run in the same hyperfine run,
# each on 100 instances it made itself: before and after side by side.
# Usage: tests/bench/cli.sh [path/to/moonbase [path/to/baseline/moonbase]]
set -euo pipefail
bin=$(readlink -f "${1:-build/moonbase}")
base=${2:+$(readlink -f "$2")}
for p in hyperfine lua5.4 virsh qemu-img; do
    command -v "$p" >/dev/null || { echo "cli.sh: $p is missing (apt-get install hyperfine lua5.4 libvirt-clients qemu-utils)" >&2; exit 2; }
done
work=$(mktemp -d /tmp/mb-bench-cli-XXXXXX)
trap 'rm -rf "$work"' EXIT
export NO_COLOR=1
# every driver resolves its image: a small one, offline
qemu-img create -q -f qcow2 "$work/image.qcow2" 16M
populate() { # BIN HOME
    MOONBASE_HOME=$2 "$1" set local.driver=test "local.image.default=file://$work/image.qcow2"
    MOONBASE_HOME=$2 "$1" images pull -q "file://$work/image.qcow2" 2>/dev/null || true
    for i in $(seq 1 100); do MOONBASE_HOME=$2 "$1" launch --name "vm$i" >/dev/null 2>&1; done
    test "$(MOONBASE_HOME=$2 "$1" list --format csv | wc -l)" = 101
}
populate "$bin" "$work/home"
cmds=(-n "lua5.4 -e ''" "lua5.4 -e ''"
      -n "moonbase version" "$bin version"
      -n "moonbase list (100 instances)" "env MOONBASE_HOME=$work/home $bin list")
if [ -n "$base" ]; then
    populate "$base" "$work/base"
    cmds+=(-n "baseline: moonbase version" "$base version"
           -n "baseline: moonbase list (100 instances)" "env MOONBASE_HOME=$work/base $base list")
fi
cmds+=(-n "virsh -c test:///default list --all" "virsh -c test:///default list --all")
hyperfine -N --warmup 20 --runs 200 --export-json "$work/cli.json" "${cmds[@]}"
# medians of wall time, and CPU time (user + system: steadier on a busy machine)
lua5.4 - "$work/cli.json" <<'LUA'
local cjson = require("cjson")
local f = assert(io.open(arg[1])); local r = cjson.decode(f:read("a")); f:close()
local floor, floor_wall
print(string.format("| %-42s | %12s | %14s | %10s |", "command", "median wall", "mean CPU (u+s)", "CPU / floor"))
print("|" .. string.rep("-", 44) .. "|" .. string.rep("-", 14) .. "|" .. string.rep("-", 16) .. "|" .. string.rep("-", 12) .. "|")
for _, x in ipairs(r.results) do
  local cpu = (x.user + x.system) * 1000
  floor = floor or cpu
  print(string.format("| %-42s | %9.1f ms | %11.1f ms | %9.2fx |", x.command, x.median * 1000, cpu, cpu / floor))
end
LUA
