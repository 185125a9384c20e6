#!/usr/bin/env bash
# Recipes: `moonbase up` of a 3-instance recipe with no dependencies (the
# instances launch in parallel) next to 3 sequential `moonbase launch`es of
# the same instances, on real QEMU guests (the tiny test image under TCG).
# For each: wall time; the CPU time of moonbase itself (the command and its
# children, plus the instance agents that stay behind, QEMU excluded) and its
# share of the host's CPU time during the run; and the host's CPU idle share
# while it ran, from /proc/stat (on a 2-core TCG host the guests' boots
# compete for the CPUs: moonbase must not be what keeps them busy; anything
# else running on the host shows there too, so the load average is printed).
# One run each by default (RUNS=n for more), in alternation.
#
#   tests/bench/recipe_up.sh [path/to/moonbase]
#
# As root, everything runs in a network namespace made for the benchmark
# (moonbase0, the image host and the guests live and die there); otherwise
# with user networking. Needs qemu-system-x86 and the tiny image
# (tests/images/build-tiny.sh builds it on first use, cached).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(readlink -f "${1:-build/moonbase}")
runs=${RUNS:-1}
for p in qemu-system-x86_64 qemu-img awk; do
    command -v "$p" >/dev/null || { echo "recipe_up.sh: $p is missing" >&2; exit 2; }
done
img=$(tests/images/build-tiny.sh | tail -n 1)
work=$(mktemp -d /tmp/moonbase-bench-recipe-XXXXXX)
ns=
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
    ns=mbbench-recipe-$$
    ip netns add "$ns"
    ip -n "$ns" link set lo up
fi
inns() { if [ -n "$ns" ]; then ip netns exec "$ns" "$@"; else "$@"; fi; }
mb() { inns "$bin" "$@"; }
export MOONBASE_HOME=$work/home NO_COLOR=1
cleanup() {
    mb delete --all --purge >/dev/null 2>&1 || true
    inns tests/lib/imagehost.sh stop "$work/streams" >/dev/null 2>&1 || true
    if [ -n "$ns" ]; then
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
        ip netns delete "$ns" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

tests/images/make-streams.sh "$work/streams" "$img" >/dev/null
url=$(inns tests/lib/imagehost.sh start "$work/streams")
mb remote add local "$url/" >/dev/null 2>&1
mb set local.driver=qemu local.image.default=local:tiny local.qemu.restrict-user-network=true
mb images pull local:tiny --quiet # cached once: neither side downloads
cat >"$work/bench.lua" <<'EOF'
-- three independent instances: up launches them in parallel
for _, n in ipairs({ "a", "b", "c" }) do
  instance (n) { image = "local:tiny", memory = "256M", disk = "1G" }
end
EOF

# cumulative "total idle" jiffies of all CPUs (idle + iowait count as idle)
cpu() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $5 + $6 }' /proc/stat; }
# CPU seconds used so far by this home's instance agents
agents_cpu() {
    local tck sum=0 pid
    tck=$(getconf CLK_TCK)
    for pid in $(pgrep -f "moonbase agent bench-" || true); do
        tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "MOONBASE_HOME=$MOONBASE_HOME" || continue
        sum=$((sum + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
    done
    awk -v s="$sum" -v t="$tck" 'BEGIN { printf "%.2f", s / t }'
}

# measure NAME COMMAND...: one timed run; prints "name wall user+sys agents idle%"
measure() {
    local name=$1; shift
    local c0 c1 t0 t1 times agents
    c0=$(cpu)
    t0=$(date +%s.%N)
    times=$( { TIMEFORMAT='%U %S'; time "$@" >"$work/$name.out" 2>&1; } 2>&1 )
    t1=$(date +%s.%N)
    c1=$(cpu)
    agents=$(agents_cpu)
    awk -v n="$name" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v tm="$times" \
        -v ag="$agents" 'BEGIN {
        split(c0, a, " "); split(c1, b, " "); split(tm, u, " ")
        printf "%s %.1f %.2f %.2f %.0f\n", n, t1 - t0, u[1] + u[2], ag,
            100 * (b[2] - a[2]) / (b[1] - a[1])
    }'
}

sequential() {
    for n in a b c; do
        "$bin" launch local:tiny --name "bench-$n" --memory 256M --disk 1G --quiet
    done
}

results=$work/results
: >"$results"
echo "recipe_up.sh: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), ${runs} run(s)" >&2
for r in $(seq 1 "$runs"); do
    measure up inns "$bin" up "$work/bench.lua" --quiet >>"$results"
    test "$(mb list --format csv | grep -c ',running,')" = 3
    mb down "$work/bench.lua" --purge --quiet
    measure sequential inns bash -c "$(declare -f sequential); bin=$bin; sequential" >>"$results"
    test "$(mb list --format csv | grep -c ',running,')" = 3
    mb delete --all --purge
    echo "recipe_up.sh: run $r of $runs done" >&2
done
awk -v cpus="$(nproc)" '
    { n[$1]++; wall[$1] += $2; cpu[$1] += $3; ag[$1] += $4; idle[$1] += $5 }
    END {
        printf "| %-28s | %8s | %17s | %11s | %15s | %9s |\n", "3 tiny instances", "wall (s)",
            "moonbase CPU (s)", "agents (s)", "moonbase share", "host idle"
        print "|------------------------------|----------|-------------------|-------------|-----------------|-----------|"
        row("up (recipe, in parallel)", "up")
        row("3 sequential launches", "sequential")
        printf "\nratio up / sequential (wall): %.2f\n", (wall["up"] / n["up"]) / (wall["sequential"] / n["sequential"])
    }
    # moonbase share: moonbase CPU (the command, its children and the agents)
    # over the CPU time the host had during the run (wall x CPUs)
    function row(label, k) {
        printf "| %-28s | %8.1f | %17.2f | %11.2f | %14.1f%% | %8.0f%% |\n", label, wall[k] / n[k],
            cpu[k] / n[k], ag[k] / n[k], 100 * (cpu[k] + ag[k]) / (wall[k] * cpus), idle[k] / n[k]
    }' "$results"
