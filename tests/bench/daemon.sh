#!/usr/bin/env bash
# The daemon on the test driver, 127.0.0.1 / unix sockets only:
#  1. `moonbase list` with 100 instances, locally and through the daemon, in one
#     hyperfine run (target: at most 2 ms added);
#  2. 200 concurrent clients (list and info in turn, a connection per request as
#     the CLI makes) plus 10 launches through the daemon, for 60 s: requests,
#     errors, p50/p99 latency, and the daemon's memory (RSS) from start to end.
# Usage: tests/bench/daemon.sh [path/to/moonbase] [SECONDS]
set -euo pipefail
bin=$(readlink -f "${1:-build/moonbase}")
secs=${2:-60}
src=$(cd "$(dirname "$0")/../.." && pwd)
for p in hyperfine cc; do
    command -v "$p" >/dev/null || { echo "daemon.sh: $p is missing" >&2; exit 2; }
done
home=$(mktemp -d /tmp/mb-bench-daemon-XXXXXX)
dpid=
cleanup() {
    [ -n "$dpid" ] && kill "$dpid" 2>/dev/null
    wait 2>/dev/null
    "$src/tests/lib/imagehost.sh" stop "$home/streams" >/dev/null 2>&1 || true
    rm -rf "$home"
}
trap cleanup EXIT
export MOONBASE_HOME=$home NO_COLOR=1
unset MOONBASE_SERVER
"$bin" set local.driver=test
# the test driver resolves images like every driver: a small one from an image
# host on 127.0.0.1 (nginx), cached once
mkdir -p "$home/img"
qemu-img create -q -f qcow2 "$home/img/disk.qcow2" 16M
printf '{\n  "os": "testos",\n  "release": "tiny",\n  "aliases": "tiny",\n  "arch": "amd64"\n}\n' \
    > "$home/img/metadata.json"
"$src/tests/images/make-streams.sh" "$home/streams" "$home/img" >/dev/null
url=$("$src/tests/lib/imagehost.sh" start "$home/streams")
mkdir -p "$home/config"
printf '{"local": {"url": "%s/"}}\n' "${url%/}" > "$home/config/remotes.json"
"$bin" set local.image.default=local:tiny
"$bin" images pull --quiet local:tiny
for i in $(seq 1 100); do "$bin" launch --name "vm$i" --quiet; done
sock=$home/daemon.sock
"$bin" daemon --quiet --listen "unix:$sock" & dpid=$!
for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
server="unix://$sock"
test "$(MOONBASE_SERVER=$server "$bin" list --format csv | wc -l)" = 101
cmp <("$bin" list) <(MOONBASE_SERVER=$server "$bin" list)

echo "## list, 100 instances: local vs through the daemon"
hyperfine -N --warmup 10 --runs 100 --export-json "$home/list.json" \
    -n "moonbase list (local)" "$bin list" \
    -n "moonbase list (through the daemon)" "env MOONBASE_SERVER=$server $bin list"
lua5.4 - "$home/list.json" <<'LUA'
local cjson = require("cjson")
local f = assert(io.open(arg[1])); local r = cjson.decode(f:read("a")); f:close()
local a, b = r.results[1], r.results[2]
print(string.format("median %.1f ms local, %.1f ms through the daemon: %+.1f ms; " ..
  "CPU (client, u+s) %.1f / %.1f ms", a.median * 1e3, b.median * 1e3,
  (b.median - a.median) * 1e3, (a.user + a.system) * 1e3, (b.user + b.system) * 1e3))
LUA

echo "## 200 clients + 10 launches for ${secs}s"
cc -O2 -o "$home/load" "$src/tests/bench/daemon_load.c"
rss() { awk '/^VmRSS/ {print $2}' "/proc/$dpid/status"; }
echo "daemon RSS at start: $(rss) kB"
( for i in $(seq 1 10); do
      sleep $(( secs / 12 ))
      MOONBASE_SERVER=$server "$bin" launch --name "new$i" --quiet || echo "launch new$i FAILED"
  done ) &
lpid=$!
( for i in $(seq 1 6); do sleep $(( secs / 6 )); echo "daemon RSS after $(( i * secs / 6 ))s: $(rss) kB"; done ) &
mpid=$!
"$home/load" "$sock" 200 "$secs" 100
wait "$lpid" "$mpid"
test "$(MOONBASE_SERVER=$server "$bin" list --format csv | wc -l)" = 111
echo "daemon RSS at the end: $(rss) kB; 110 instances listed"
