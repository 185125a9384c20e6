#!/usr/bin/env bash
# Drivers outside moonbase: `moonbase list` with 100 instances on the test
# driver built in, as an external driver (the binary linked as
# moonbase-driver-test: one process start per command, one state call per
# instance over the socket) and as a Lua driver (tests/drivers/parity/test.lua),
# in one hyperfine run, next to the floor (`lua5.4 -e ''`). Target (issue
# 15): each at most 2x the built-in. The three share one home: the same 100
# instances, only MOONBASE_DRIVERS_PATH/MOONBASE_DRIVERS_REPLACE differ.
# Usage: tests/bench/drivers.sh [path/to/moonbase]   (from the source tree)
set -euo pipefail
bin=$(readlink -f "${1:-build/moonbase}")
src=$(pwd)
for p in hyperfine lua5.4 qemu-img; do
    command -v "$p" >/dev/null || { echo "drivers.sh: $p is missing (apt-get install hyperfine lua5.4 qemu-utils)" >&2; exit 2; }
done
work=$(mktemp -d /tmp/mb-bench-drivers-XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
mkdir -m 755 "$work/ext"
ln -s "$bin" "$work/ext/moonbase-driver-test"
export NO_COLOR=1 MOONBASE_HOME=$work/home
qemu-img create -q -f qcow2 "$work/image.qcow2" 16M
"$bin" set local.driver=test "local.image.default=file://$work/image.qcow2"
"$bin" images pull -q "file://$work/image.qcow2" 2>/dev/null || true
for i in $(seq 1 100); do "$bin" launch --name "vm$i" >/dev/null 2>&1; done
test "$("$bin" list --format csv | wc -l)" = 101
ext="env MOONBASE_DRIVERS_PATH=$work/ext MOONBASE_DRIVERS_REPLACE=test"
lua="env MOONBASE_DRIVERS_PATH=$src/tests/drivers/parity MOONBASE_DRIVERS_REPLACE=test"
test "$($ext "$bin" list --format csv | wc -l)" = 101
test "$($lua "$bin" list --format csv | wc -l)" = 101
hyperfine -N --warmup 10 --runs 100 --export-json "$work/drivers.json" \
    -n "lua5.4 -e ''" "lua5.4 -e ''" \
    -n "list, built-in test driver" "env MOONBASE_DRIVERS_PATH= $bin list" \
    -n "list, external test driver" "$ext $bin list" \
    -n "list, Lua test driver" "$lua $bin list"
lua5.4 - "$work/drivers.json" <<'LUA'
local cjson = require("cjson")
local f = assert(io.open(arg[1])); local r = cjson.decode(f:read("a")); f:close()
local base
print(string.format("| %-30s | %12s | %14s | %12s |", "command", "median wall", "mean CPU (u+s)",
  "/ built-in"))
print("|" .. string.rep("-", 32) .. "|" .. string.rep("-", 14) .. "|" .. string.rep("-", 16) ..
  "|" .. string.rep("-", 14) .. "|")
for i, x in ipairs(r.results) do
  local cpu = (x.user + x.system) * 1000
  if i == 2 then base = x.median end
  print(string.format("| %-30s | %9.1f ms | %11.1f ms | %11s |", x.command, x.median * 1000,
    cpu, base and string.format("%.2fx", x.median / base) or ""))
end
LUA
