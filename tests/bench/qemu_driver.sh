#!/bin/bash
# Benchmark: the QEMU driver on the tiny image (tests/images/build-tiny.sh),
# each measurement side by side with its by-hand peer in the same run
# (results go to docs/performance.md, section "QEMU driver"):
#   (a) launch: `moonbase launch` (image cached) vs a baseline script doing
#       the same by hand: qemu-img create (overlay + size) and
#       qemu-system-x86_64 with the very argv moonbase used, then polling SSH
#       every 100 ms (OpenSSH, ConnectTimeout=1) until cloud-init's
#       boot-finished exists. Alternating, LAUNCHES times each (default 3).
#   (b) exec latency: `moonbase exec NAME -- true` vs OpenSSH `ssh NAME true`
#       (fresh connection) vs OpenSSH through a ControlMaster connection, all
#       against the same guest with `moonbase ssh-config`; hyperfine, N runs
#       each (default 50), medians.
#   (c) `moonbase list` (and --format json) with MANY (default 10) running
#       guests of 256 MiB each; hyperfine medians, and CPU time.
# Usage: tests/bench/qemu_driver.sh [N] [LAUNCHES] [MANY]
# MOONBASE_BIN: the binary (default build/moonbase). Networking: QEMU user
# networking with restrict=on, SSH forwarded on 127.0.0.1 only; as root,
# moonbase runs without CAP_NET_ADMIN (setpriv) so it takes that path rather
# than creating its private network on the host.
set -euo pipefail
if [ "$(id -u)" = 0 ] && [ -z "${MB_BENCH_NO_NET_ADMIN:-}" ]; then
    export MB_BENCH_NO_NET_ADMIN=1; exec setpriv --bounding-set=-net_admin "$0" "$@"
fi

N=${1:-50}
LAUNCHES=${2:-3}
MANY=${3:-10}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${MOONBASE_BIN:-$SRC/build/moonbase}
[ -x "$BIN" ] || { echo "no moonbase binary at $BIN (set MOONBASE_BIN)" >&2; exit 3; }
for p in qemu-system-x86_64 qemu-img ssh hyperfine; do
    command -v "$p" >/dev/null || { echo "needs $p (apt-get install qemu-system-x86 qemu-utils openssh-client hyperfine)" >&2; exit 3; }
done

DIR=$(mktemp -d /tmp/mb-bench-qemu-XXXXXX)
export MOONBASE_HOME=$DIR/home NO_COLOR=1
STREAMS=$DIR/streams
BASE_PID=
cleanup() {
    [ -n "$BASE_PID" ] && kill -9 "$BASE_PID" 2>/dev/null || true
    [ -S "$DIR/cm.sock" ] && ssh -o ControlPath="$DIR/cm.sock" -O exit x 2>/dev/null || true
    # every QEMU and agent of this home, by pid
    for p in /proc/[0-9]*; do
        if { tr '\0' '\n' <"$p/environ" | grep -qx "MOONBASE_HOME=$MOONBASE_HOME" ||
            tr '\0' ' ' <"$p/cmdline" | grep -qF -- "$DIR/"; } 2>/dev/null; then
            [ "${p#/proc/}" != $$ ] && kill -9 "${p#/proc/}" 2>/dev/null || true
        fi
    done
    "$SRC/tests/lib/imagehost.sh" stop "$STREAMS" >/dev/null 2>&1 || true
    rm -rf "$DIR"
}
trap cleanup EXIT

median() { sort -n | awk '{ a[NR] = $1 } END {
    if (NR % 2) printf "%.3f\n", a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f\n", b - a }'; }
log() { echo "[bench] $*" >&2; }

IMG=$("$SRC/tests/images/build-tiny.sh" | tail -n 1)
mkdir -p "$STREAMS"
"$SRC/tests/images/make-streams.sh" "$STREAMS" "$IMG" >/dev/null
URL=$("$SRC/tests/lib/imagehost.sh" start "$STREAMS")
MB=$BIN
mb() { "$BIN" "$@"; }
mb remote add local "$URL/" 2>/dev/null
mb set local.driver=qemu local.image.default=local:tiny local.qemu.restrict-user-network=true
mb images pull local:tiny >/dev/null 2>&1 || true

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ (a) launch
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 30000))
        ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
}

# The guest's boot time varies by seconds from run to run on a shared
# machine, so each launch is also cut in three by a watcher (polling every
# 20 ms): before QEMU runs (qemu.pid appears), the boot (until the tiny
# image's console says "ssh ready"), and after it (until the command ends).
# The first and the last are what a launcher adds.
watch_boot() { # DIR OUT
    local dir=$1 out=$2 tq='' i
    for i in $(seq 1 9000); do
        [ -z "$tq" ] && [ -e "$dir/qemu.pid" ] && tq=$(now)
        if [ -n "$tq" ] && grep -q "ssh ready" "$dir/serial.log" 2>/dev/null; then
            echo "$tq $(now)" >"$out"
            return
        fi
        sleep 0.02
    done
}
phases() { # T0 WATCH_OUT TOTAL -> "total pre boot post"
    local tq ts
    read -r tq ts <"$2"
    awk -v t0="$1" -v tq="$tq" -v ts="$ts" -v tot="$3" \
        'BEGIN { printf "%.3f %.3f %.3f %.3f\n", tot, tq - t0, ts - tq, t0 + tot - ts }'
}

# the baseline: what moonbase does, by hand, with moonbase's own QEMU argv
ARGV_FILE=$DIR/qemu.argv
baseline_launch() {
    local bdir=$DIR/baseline port t0
    rm -rf "$bdir"; mkdir -p "$bdir"
    cp "$DIR/ref/cidata.iso" "$bdir/cidata.iso" # a seed, made before timing
    port=$(free_port)
    local -a argv=()
    while IFS= read -r -d '' a; do
        a=${a//$REFDIR/$bdir}
        a=$(printf '%s' "$a" | sed -E "s/hostfwd=tcp:127\.0\.0\.1:[0-9]+-/hostfwd=tcp:127.0.0.1:$port-/")
        argv+=("$a")
    done <"$ARGV_FILE"
    watch_boot "$bdir" "$DIR/watch.out" &
    local wpid=$!
    t0=$(now)
    qemu-img create -q -f qcow2 -b "$BACKING" -F qcow2 "$bdir/disk.qcow2" 5G
    "${argv[@]}" >/dev/null 2>&1 &
    BASE_PID=$!
    echo "$BASE_PID" >"$bdir/qemu.pid"
    until ssh -q -p "$port" -i "$MOONBASE_HOME/data/keys/id_ed25519" -o BatchMode=yes \
        -o ConnectTimeout=1 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o LogLevel=ERROR moonbase@127.0.0.1 test -f /var/lib/cloud/instance/boot-finished \
        2>/dev/null; do
        sleep 0.1
    done
    local total
    total=$(since "$t0")
    wait "$wpid"
    phases "$t0" "$DIR/watch.out" "$total"
    kill -9 "$BASE_PID"; wait "$BASE_PID" 2>/dev/null || true; BASE_PID=
}

moonbase_launch() {
    local name=$1 t0 total
    watch_boot "$MOONBASE_HOME/data/instances/qemu/$name" "$DIR/watch.out" &
    local wpid=$!
    t0=$(now)
    mb launch -q --name "$name" --memory 256M
    total=$(since "$t0")
    wait "$wpid"
    phases "$t0" "$DIR/watch.out" "$total"
}

# a reference instance: its seed and QEMU argv feed the baseline
mb launch -q --name ref --memory 256M
REFDIR=$MOONBASE_HOME/data/instances/qemu/ref
cp "$REFDIR/qemu.pid" "$DIR/ref.pid"
cat "/proc/$(cat "$REFDIR/qemu.pid")/cmdline" >"$ARGV_FILE"
BACKING=$(qemu-img info -U --output=json "$REFDIR/disk.qcow2" | jq -r '.["full-backing-filename"]')
mkdir -p "$DIR/ref"
cp "$REFDIR/cidata.iso" "$DIR/ref/cidata.iso"
# a clean power-off: a forced one this soon after the first boot can leave the
# guest's new SSH host key unwritten (the tiny image's dropbear then fails)
mb stop ref >/dev/null

: >"$DIR/launch.mb"; : >"$DIR/launch.base"
for i in $(seq 1 "$LAUNCHES"); do
    t=$(moonbase_launch "l$i"); echo "$t" >>"$DIR/launch.mb"
    log "moonbase launch $i (total, before QEMU, boot, after SSH): $t s"
    mb delete --purge "l$i"
    t=$(baseline_launch); echo "$t" >>"$DIR/launch.base"
    log "baseline launch $i (total, before QEMU, boot, after SSH): $t s"
done
col() { awk -v c="$1" '{ print $c }' "$2" | median; }
MB_LAUNCH=$(col 1 "$DIR/launch.mb"); BASE_LAUNCH=$(col 1 "$DIR/launch.base")
MB_PRE=$(col 2 "$DIR/launch.mb"); BASE_PRE=$(col 2 "$DIR/launch.base")
MB_BOOT=$(col 3 "$DIR/launch.mb"); BASE_BOOT=$(col 3 "$DIR/launch.base")
MB_POST=$(col 4 "$DIR/launch.mb"); BASE_POST=$(col 4 "$DIR/launch.base")

# ------------------------------------------------------------------ (b) exec
mb start ref 2>/dev/null
mb ssh-config ref >"$DIR/ssh_config"
ssh -F "$DIR/ssh_config" -o BatchMode=yes ref true # warm up
ssh -F "$DIR/ssh_config" -o BatchMode=yes -o ControlMaster=yes -o ControlPath="$DIR/cm.sock" \
    -o ControlPersist=600 -fN ref
mb exec ref -- true
hyperfine -N -w 3 -r "$N" --export-json "$DIR/exec.json" \
    -n "moonbase exec" "$MB exec ref -- true" \
    -n "ssh (fresh)" "ssh -F $DIR/ssh_config -o BatchMode=yes ref true" \
    -n "ssh (ControlMaster)" "ssh -F $DIR/ssh_config -o BatchMode=yes -o ControlPath=$DIR/cm.sock ref true" \
    >/dev/null
exec_median() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median * 1000' "$DIR/exec.json"; }
EXEC_MB=$(exec_median "moonbase exec")
EXEC_SSH=$(exec_median "ssh (fresh)")
EXEC_CM=$(exec_median "ssh (ControlMaster)")

# ------------------------------------------------------------------ (c) list
log "launching $((MANY - 1)) more guests for list"
pids=()
for i in $(seq 2 "$MANY"); do
    mb launch -q --name "m$i" --memory 256M --timeout 1200 &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
RUNNING=$(mb list --format json | jq '[.[] | select(.state == "running")] | length')
hyperfine -N -w 3 -r 30 --export-json "$DIR/list.json" \
    -n "moonbase list" "$MB list" \
    -n "moonbase list --format json" "$MB list --format json" >/dev/null
list_stat() { jq -r --arg n "$1" ".results[] | select(.command == \$n) | $2" "$DIR/list.json"; }
LIST_MED=$(list_stat "moonbase list" ".median * 1000")
LIST_CPU=$(list_stat "moonbase list" "(.user + .system) * 1000")
LISTJ_MED=$(list_stat "moonbase list --format json" ".median * 1000")

# ------------------------------------------------------------------ report
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "QEMU driver, tiny image under TCG, $(nproc) CPUs, load $LOAD_START at start," \
     "$(cut -d' ' -f1-3 /proc/loadavg) at end"
printf '%-52s %12s\n' "measurement" "median"
printf '%-52s %10s s\n' "launch: moonbase launch ($LAUNCHES runs)" "$MB_LAUNCH"
printf '%-52s %10s s\n' "launch: baseline by hand ($LAUNCHES runs)" "$BASE_LAUNCH"
printf '%-52s %10s s\n' "launch: moonbase - baseline" \
    "$(awk -v a="$MB_LAUNCH" -v b="$BASE_LAUNCH" 'BEGIN { printf "%.3f", a - b }')"
printf '%-52s %10s s\n' "launch phases, moonbase: before QEMU" "$MB_PRE"
printf '%-52s %10s s\n' "launch phases, moonbase: boot to 'ssh ready'" "$MB_BOOT"
printf '%-52s %10s s\n' "launch phases, moonbase: after 'ssh ready'" "$MB_POST"
printf '%-52s %10s s\n' "launch phases, baseline: before QEMU" "$BASE_PRE"
printf '%-52s %10s s\n' "launch phases, baseline: boot to 'ssh ready'" "$BASE_BOOT"
printf '%-52s %10s s\n' "launch phases, baseline: after 'ssh ready'" "$BASE_POST"
printf '%-52s %10s s\n' "launch overhead (before + after), moonbase - baseline" \
    "$(awk -v a="$MB_PRE" -v b="$MB_POST" -v c="$BASE_PRE" -v d="$BASE_POST" \
        'BEGIN { printf "%.3f", a + b - c - d }')"
printf '%-52s %10.1f ms\n' "exec true: moonbase exec ($N runs)" "$EXEC_MB"
printf '%-52s %10.1f ms\n' "exec true: OpenSSH fresh ($N runs)" "$EXEC_SSH"
printf '%-52s %10.1f ms\n' "exec true: OpenSSH ControlMaster ($N runs)" "$EXEC_CM"
printf '%-52s %12s\n' "exec: fresh OpenSSH / moonbase" "$(ratio "$EXEC_SSH" "$EXEC_MB")x"
printf '%-52s %12s\n' "exec: moonbase / ControlMaster" "$(ratio "$EXEC_MB" "$EXEC_CM")x"
printf '%-52s %10.1f ms\n' "list: $RUNNING running guests, wall" "$LIST_MED"
printf '%-52s %10.1f ms\n' "list: $RUNNING running guests, CPU (user+sys)" "$LIST_CPU"
printf '%-52s %10.1f ms\n' "list --format json: $RUNNING running guests, wall" "$LISTJ_MED"
