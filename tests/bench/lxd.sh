#!/bin/bash
# Benchmark: the LXD driver next to LXD's own client (lxc) on the same
# image (the tiny one, as an LXD container image) and the same stock LXD
# (tests/lib/lxd.sh), in one run:
#   1. launch: `moonbase launch` (create, start, SSH, cloud-init done) against
#      `lxc launch` of the same image with the same cloud-init user-data and
#      network-config (moonbase's, read back from LXD) and the NIC on the same
#      bridge, then waiting for cloud-init's boot-finished as a user of lxc
#      would (`lxc exec NAME -- test -f ...`, every 0.2 s); N rounds,
#      alternating, each instance deleted before the next.
#   2. exec: `moonbase exec NAME -- true` against `lxc exec NAME -- true`, and
#      LXD's exec API itself (POST .../exec with record-output, no websocket,
#      then the operation's wait, with curl): what moonbase would pay at least
#      if it ran commands through LXD instead of its agent's SSH session.
#   3. clone of a stopped container: `moonbase clone` against `lxc copy
#      --instance-only` of the same container.
#   4. list with 10 running instances: `moonbase list` against `lxc list`.
# hyperfine runs each pair side by side, each command as it is (the script's
# environment carries MOONBASE_HOME and LXD_DIR, no env(1) in front of either),
# and the medians are printed under its table of means; everything runs inside a network
# namespace of its own (tests/lib/in-netns.sh); run under the VM lock.
# Run by hand as root: tests/bench/lxd.sh [N]   (default 5; MOONBASE_BIN,
# MOONBASE_TINY_IMAGE). Prints markdown on stdout, progress on stderr.
set -euo pipefail

N=${1:-5}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${MOONBASE_BIN:-$SRC/build/moonbase}
[ -x "$BIN" ] || { echo "no moonbase binary at $BIN (set MOONBASE_BIN)" >&2; exit 3; }
command -v hyperfine >/dev/null || { echo "hyperfine is not installed" >&2; exit 3; }
if ! why=$("$SRC/tests/lib/lxd.sh" check); then echo "$why" >&2; exit 3; fi
if [ -z "${MB_BENCH_IN_NETNS:-}" ]; then
    export MOONBASE_TINY_IMAGE=${MOONBASE_TINY_IMAGE:-$("$SRC/tests/images/build-tiny.sh" | tail -1)}
    MB_BENCH_IN_NETNS=1 exec "$SRC/tests/lib/in-netns.sh" "$0" "$@"
fi

DIR=$(mktemp -d /tmp/mb-bench-lxd-XXXXXX)
# the containers' root (a shifted uid) reaches their root file systems through
# DIR, as through /var/lib/lxd (0711): a mktemp -d is 0700
chmod 711 "$DIR"
export MOONBASE_HOME=$DIR/home NO_COLOR=1
export LXD_DIR=$DIR/lxd/lxd
cleanup() {
    "$SRC/tests/lib/lxd.sh" stop "$DIR/lxd" >/dev/null 2>&1 || true
    for a in $(pgrep -f "moonbase agent" || true); do
        grep -qs "MOONBASE_HOME=$MOONBASE_HOME" "/proc/$a/environ" && kill -9 "$a" || true
    done
    "$SRC/tests/lib/imagehost.sh" stop "$DIR/streams" >/dev/null 2>&1 || true
    rm -rf "$DIR"
}
trap cleanup EXIT

"$SRC/tests/images/make-streams.sh" "$DIR/streams" "$MOONBASE_TINY_IMAGE" >/dev/null
url=$("$SRC/tests/lib/imagehost.sh" start "$DIR/streams" | grep -o 'http://127\.0\.0\.1:[0-9]*')
sock=$("$SRC/tests/lib/lxd.sh" start "$DIR/lxd")
mb() { "$BIN" "$@"; }
mb remote add local "$url/" >/dev/null 2>&1
mb set local.driver=lxd "local.lxd.socket=$sock" local.image.default=local:tiny
now() { date +%s.%N; }
# hyperfine's table shows means, which a few slow answers of LXD's pull up:
# the medians too, and their ratio (lxc over moonbase)
medians() {
    python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))["results"]
m = [x["median"] * 1000 for x in r]
print("\nmedians: " + ", ".join("%s %.1f ms" % (x["command"], v) for x, v in zip(r, m)) +
      "; %s / %s: %.2f" % (r[1]["command"], r[0]["command"], m[1] / m[0]))' "$1"
}
median() {
    sort -n | awk '{a[NR]=$1} END {
        if (NR % 2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2 }'
}

# a first launch: the image into moonbase's cache and into LXD, moonbase0 up
mb launch --name warm -q --memory 256M
fp=$(lxc query /1.0/images | grep -o "[0-9a-f]\{64\}" | head -1)
bridge=$(lxc config device get warm eth0 parent)
# what `lxc launch` gets: moonbase's user-data for an instance of the same
# shape, and a profile with the NIC on the same bridge
lxc config get warm cloud-init.user-data >"$DIR/user-data"
mb delete --purge warm >/dev/null
lxc profile create bench >/dev/null
lxc profile device add bench eth0 nic nictype=bridged parent="$bridge" name=eth0 >/dev/null

declare -A times
for i in $(seq 1 "$N"); do
    order="moonbase lxc"
    [ $((i % 2)) = 0 ] && order="lxc moonbase"
    for who in $order; do
        if [ "$who" = moonbase ]; then
            t0=$(now)
            mb launch --name bm -q --memory 256M
            t1=$(now)
            lxc config get bm cloud-init.network-config >"$DIR/netcfg"
            mb delete --purge bm >/dev/null
        else
            # the same network-config, on an address moonbase is not using
            sed -e 's/^\( *\)macaddress: .*/\1name: "eth0"/' \
                -e 's/\(addresses: \["[0-9]*\.[0-9]*\.[0-9]*\.\)[0-9]*\//\1250\//' \
                "$DIR/netcfg" >"$DIR/netcfg-lxc"
            t0=$(now)
            lxc launch "$fp" bl -q -p default -p bench -c limits.memory=256MiB \
                -c limits.cpu=1 -c cloud-init.user-data="$(cat "$DIR/user-data")" \
                -c cloud-init.network-config="$(cat "$DIR/netcfg-lxc")"
            until lxc exec bl -- test -f /var/lib/cloud/instance/boot-finished 2>/dev/null; do
                sleep 0.2
            done
            t1=$(now)
            lxc delete -f bl
        fi
        t=$(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }")
        times[$who]+="$t "
        echo "launch #$i, $who: ${t}s (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    done
done
mm=$(echo ${times[moonbase]} | tr ' ' '\n' | median)
ml=$(echo ${times[lxc]} | tr ' ' '\n' | median)
echo "| launch to cloud-init done (tiny container), median of $N | time |"
echo "|---|---|"
echo "| \`moonbase launch\` | ${mm} s |"
echo "| \`lxc launch\` + waiting for boot-finished | ${ml} s |"
echo "| ratio moonbase / lxc | $(awk "BEGIN { printf \"%.2f\", $mm / $ml }") |"
echo

# exec
mb launch --name be -q --memory 256M
mb exec be -- true # the agent is up
cat >"$DIR/exec-api.sh" <<EOF
#!/bin/sh
op=\$(curl -s --unix-socket $sock -X POST lxd/1.0/instances/be/exec \\
  -d '{"command":["true"],"wait-for-websocket":false,"interactive":false,"record-output":true}' \\
  | sed 's/.*"operation":"\\([^"]*\\)".*/\\1/')
curl -s --unix-socket $sock "lxd\$op/wait?timeout=30" >/dev/null
EOF
chmod +x "$DIR/exec-api.sh"
hyperfine -N --warmup 3 --runs 30 --export-markdown "$DIR/exec.md" \
    --export-json "$DIR/exec.json" \
    -n "moonbase exec be -- true" "$BIN exec be -- true" \
    -n "lxc exec be -- true" "lxc exec be -- true" \
    -n "LXD exec API (curl, record-output)" "$DIR/exec-api.sh" >&2
cat "$DIR/exec.md"
medians "$DIR/exec.json"
echo

# clone of a stopped container: moonbase's (LXD's copy given the clone's own
# MAC and cloud-init, plus moonbase's record, address and host key) against
# lxc copy of the same container, each copy deleted before the next run
mb launch --name bc -q --memory 128M
mb stop bc
hyperfine -N --warmup 1 --runs 10 --export-markdown "$DIR/clone.md" \
    --prepare "sh -c 'MOONBASE_HOME=$MOONBASE_HOME $BIN delete --purge bcc >/dev/null 2>&1 || true'" \
    --prepare "sh -c 'LXD_DIR=$LXD_DIR lxc delete bcx >/dev/null 2>&1 || true'" \
    -n "moonbase clone bc --name bcc" "$BIN clone bc --name bcc" \
    -n "lxc copy --instance-only bc bcx" "lxc copy --instance-only bc bcx" >&2
cat "$DIR/clone.md"
echo
mb delete --purge bc bcc >/dev/null
lxc delete bcx >/dev/null 2>&1 || true

# list with 10 instances
for n in 1 2 3 4 5 6 7 8 9; do mb launch --name "bl$n" -q --memory 128M; done
echo "10 instances running" >&2
hyperfine -N --warmup 3 --runs 50 --export-markdown "$DIR/list.md" \
    --export-json "$DIR/list.json" \
    -n "moonbase list" "$BIN list" \
    -n "lxc list" "lxc list" >&2
cat "$DIR/list.md"
medians "$DIR/list.json"
echo
echo "(load average $(cut -d' ' -f1-3 /proc/loadavg) at the end)"
