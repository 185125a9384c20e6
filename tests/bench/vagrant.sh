#!/usr/bin/env bash
# Vagrant + vagrant-libvirt next to moonbase (issues 7 and 8), in one run, on
# the same image: moonbase's Debian 12 test image (tests/images/build-debian.sh)
# for moonbase, and a vagrant-libvirt box made from it
# (tests/bench/vagrant/build-box.sh: the same disk with a NoCloud seed baked
# in, so it boots straight to SSH without a seed ISO). Three machines, 1 CPU,
# 1 GiB, 3 GiB disk each, no dependencies (tests/bench/vagrant/Vagrantfile and
# tests/bench/vagrant/bench.lua). Per round, in alternating order:
#   - `vagrant up --parallel` (vagrant-libvirt, domain type qemu = TCG, on its
#     management network), then `vagrant status` with the three running
#     (hyperfine), then `vagrant destroy -f`
#   - `moonbase up bench.lua` with local.driver=libvirt, then `moonbase status
#     bench.lua` (hyperfine), then `moonbase down bench.lua --purge`
#   - the same with local.driver=qemu (DRIVERS="libvirt qemu" by default)
# Wall times; the load average is printed with every number.
# Everything runs inside a network namespace of its own (tests/lib/libvirtd.sh
# in-netns) with a private libvirtd (tests/lib/libvirtd.sh start) that holds
# both moonbase's domains and Vagrant's, its storage pool and the management
# network. Vagrant never reaches out: its home is private (the box is added
# from the local file), VAGRANT_CHECKPOINT_DISABLE=1, box_check_update=false,
# and the namespace has no route anywhere.
#
# Run as root: tests/bench/vagrant.sh   (RUNS=n rounds, default 2; DRIVERS;
# MOONBASE_BIN: the binary, default build/moonbase). Needs vagrant and
# vagrant-libvirt from Debian (apt-get install vagrant vagrant-libvirt),
# libvirt-daemon, iptables (libvirt's network rules), hyperfine. Prints
# markdown tables on stdout, progress on stderr.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$(readlink -f "${MOONBASE_BIN:-$SRC/build/moonbase}")
RUNS=${RUNS:-2}
DRIVERS=${DRIVERS:-libvirt qemu}
[ -x "$BIN" ] || { echo "vagrant.sh: no moonbase binary at $BIN (set MOONBASE_BIN)" >&2; exit 3; }
for p in vagrant hyperfine iptables; do
    command -v "$p" >/dev/null || { echo "vagrant.sh: $p is missing" >&2; exit 3; }
done
if ! why=$("$SRC/tests/lib/libvirtd.sh" check); then echo "vagrant.sh: $why" >&2; exit 3; fi
if [ -z "${MB_BENCH_IN_NETNS:-}" ]; then
    export MOONBASE_DEBIAN_IMAGE=${MOONBASE_DEBIAN_IMAGE:-$("$SRC/tests/images/build-debian.sh" | tail -n 1)}
    export MB_BENCH_BOX=${MB_BENCH_BOX:-$("$SRC/tests/bench/vagrant/build-box.sh" | tail -n 1)}
    MB_BENCH_IN_NETNS=1 exec "$SRC/tests/lib/libvirtd.sh" in-netns "$0" "$@"
fi

DIR=$(mktemp -d /tmp/mb-bench-vagrant-XXXXXX)
PROJ=$DIR/vagrant
export MOONBASE_HOME=$DIR/home NO_COLOR=1
export VAGRANT_HOME=$DIR/vagrant.d VAGRANT_CHECKPOINT_DISABLE=1 \
    VAGRANT_BOX_UPDATE_CHECK_DISABLE=1 VAGRANT_DEFAULT_PROVIDER=libvirt
log() { echo "vagrant.sh: $* (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2; }
mb() { "$BIN" "$@"; }
vg() { (cd "$PROJ" && timeout 1800 vagrant "$@"); }
cleanup() {
    set +e
    [ -d "$PROJ/.vagrant" ] && vg destroy -f >/dev/null 2>&1
    mb delete --all --purge >/dev/null 2>&1
    "$SRC/tests/lib/libvirtd.sh" stop "$DIR/libvirtd"
    "$SRC/tests/lib/imagehost.sh" stop "$DIR/streams" >/dev/null 2>&1
    rm -rf "$DIR"
}
trap cleanup EXIT

# moonbase: the Debian image served on 127.0.0.1 and pulled into the cache
"$SRC/tests/images/make-streams.sh" "$DIR/streams" "$MOONBASE_DEBIAN_IMAGE" >/dev/null
url=$("$SRC/tests/lib/imagehost.sh" start "$DIR/streams" | grep -o 'http://127\.0\.0\.1:[0-9]*')
uri=$("$SRC/tests/lib/libvirtd.sh" start "$DIR/libvirtd")
export MB_BENCH_LIBVIRT_URI=$uri
mb remote add local "$url/" >/dev/null 2>&1
mb set "local.libvirt.uri=$uri" local.image.default=local:bookworm
mb images pull local:bookworm --quiet >/dev/null # cached once: not part of any up
cp "$SRC/tests/bench/vagrant/bench.lua" "$DIR/bench.lua"
RECIPE=$DIR/bench.lua

# Vagrant: the box from its local file into the private VAGRANT_HOME
mkdir -p "$PROJ"
cp "$SRC/tests/bench/vagrant/Vagrantfile" "$PROJ/Vagrantfile"
vg box add --name moonbase-debian12 "$MB_BENCH_BOX/moonbase-debian12.box" >"$DIR/box-add.log" 2>&1 ||
    { cat "$DIR/box-add.log" >&2; exit 1; }
log "vagrant $(vagrant --version | awk '{ print $2 }'), vagrant-libvirt $(dpkg-query -W -f '${Version}' vagrant-libvirt 2>/dev/null), $(nproc) CPUs"

now() { date +%s.%N; }
results=$DIR/results # system round up|down seconds load1
: >"$results"
load1() { cut -d' ' -f1 /proc/loadavg; }

# timed SYSTEM ROUND WHAT CMD...: runs CMD, records its wall time
timed() {
    local sys=$1 r=$2 what=$3 t0 t1 l0 rc=0
    shift 3
    l0=$(load1)
    t0=$(now)
    "$@" >"$DIR/$sys-$r-$what.log" 2>&1 || rc=$?
    t1=$(now)
    if [ $rc != 0 ]; then
        echo "vagrant.sh: $sys $what failed ($rc):" >&2
        tail -n 30 "$DIR/$sys-$r-$what.log" >&2
        exit 1
    fi
    awk -v s="$sys" -v r="$r" -v w="$what" -v t="$(awk "BEGIN { print $t1 - $t0 }")" -v l="$l0" \
        'BEGIN { printf "%s %s %s %.1f %s\n", s, r, w, t, l }' >>"$results"
    log "round $r: $sys $what $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s (load at start $l0)"
}

# status SYSTEM ROUND RUNS CMD...: hyperfine, mean and stddev in ms
status_time() {
    local sys=$1 r=$2 n=$3 l0
    shift 3
    l0=$(load1)
    hyperfine -N --warmup 1 --runs "$n" --export-csv "$DIR/hf.csv" "$*" >"$DIR/$sys-$r-hf.log" 2>&1 ||
        { cat "$DIR/$sys-$r-hf.log" >&2; exit 1; }
    awk -F, -v s="$sys" -v r="$r" -v l="$l0" 'NR == 2 {
        printf "%s %s status %.1f %.1f %.1f %s\n", s, r, $2 * 1000, $3 * 1000, ($5 + $6) * 1000, l }' \
        "$DIR/hf.csv" >>"$DIR/status"
    log "round $r: $sys status $(awk -F, 'NR == 2 { printf "%.1f ms", $2 * 1000 }' "$DIR/hf.csv")"
}

running_mb() { mb list --format csv | grep -c ',running,' || true; }
running_vg() { vg status --machine-readable | grep -c ',state,running$' || true; }

round_vagrant() {
    local r=$1
    timed vagrant "$r" up vg up --parallel --provider=libvirt --no-color
    [ "$(running_vg)" = 3 ] || { log "vagrant: not 3 machines running"; vg status >&2; exit 1; }
    if [ "$r" = 1 ]; then
        # what `vagrant up` waited for: SSH and the hostname; cloud-init too?
        for m in a b c; do
            vg ssh "$m" -c 'echo "hostname $(hostname), cloud-init $(cloud-init status)"' -- -q \
                2>/dev/null | tr -d '\r' | sed "s/^/vagrant.sh: vagrant ssh $m after up: /" >&2 || true
        done
    fi
    (cd "$PROJ" && status_time vagrant "$r" 5 vagrant status)
    timed vagrant "$r" down vg destroy -f
}
round_moonbase() {
    local r=$1 drv=$2
    mb set "local.driver=$drv"
    timed "moonbase-$drv" "$r" up mb up "$RECIPE" --quiet
    [ "$(running_mb)" = 3 ] || { log "moonbase: not 3 instances running"; mb list >&2; exit 1; }
    status_time "moonbase-$drv" "$r" 20 "$BIN" status "$RECIPE"
    timed "moonbase-$drv" "$r" down mb down "$RECIPE" --purge --quiet
}

: >"$DIR/status"
log "starting $RUNS round(s): vagrant, moonbase ($DRIVERS), alternating"
for r in $(seq 1 "$RUNS"); do
    if [ $((r % 2)) = 1 ]; then
        round_vagrant "$r"
        for d in $DRIVERS; do round_moonbase "$r" "$d"; done
    else
        for d in $DRIVERS; do round_moonbase "$r" "$d"; done
        round_vagrant "$r"
    fi
done

echo "## 3 Debian 12 machines (1 CPU, 1 GiB, 3 GiB disk), TCG, $RUNS round(s)"
echo
echo "| | round | up (s) | status (ms, mean ± sd) | status CPU (ms, user + sys) | down (s) | load avg at up |"
echo "|---|---|---|---|---|---|---|"
for sys in vagrant $(for d in $DRIVERS; do echo "moonbase-$d"; done); do
    for r in $(seq 1 "$RUNS"); do
        up=$(awk -v s="$sys" -v r="$r" '$1 == s && $2 == r && $3 == "up" { print $4 }' "$results")
        lu=$(awk -v s="$sys" -v r="$r" '$1 == s && $2 == r && $3 == "up" { print $5 }' "$results")
        down=$(awk -v s="$sys" -v r="$r" '$1 == s && $2 == r && $3 == "down" { print $4 }' "$results")
        st=$(awk -v s="$sys" -v r="$r" '$1 == s && $2 == r { printf "%s ± %s | %s", $4, $5, $6 }' "$DIR/status")
        echo "| $sys | $r | $up | $st | $down | $lu |"
    done
done
echo
awk 'FNR == NR { if ($3 == "up") { up[$1] += $4; n[$1]++ } else if ($3 == "down") dn[$1] += $4; next }
     { st[$1] += $4; sn[$1]++ }
     END {
        for (s in up) if (s != "vagrant")
            printf "%s vs vagrant: up %.2fx the wall time, status %.0fx faster, down %.2fx the wall time\n",
                s, up[s] / up["vagrant"], (st["vagrant"] / sn["vagrant"]) / (st[s] / sn[s]),
                dn[s] / dn["vagrant"]
     }' "$results" "$DIR/status"
echo
echo "(load average $(cut -d' ' -f1-3 /proc/loadavg) at the end)"
