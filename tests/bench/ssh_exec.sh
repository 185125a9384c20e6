#!/bin/bash
# Benchmark: what one `exec true` costs against a local sshd (tests/lib/sshd.sh
# on 127.0.0.1), median wall time of N runs (default 50) each way:
#   1. moonbase, one kept session (a channel per command; the agent's case)
#   2. moonbase, a fresh connection per command
#   3. OpenSSH `ssh ... true`, fresh each time
#   4. OpenSSH with a ControlMaster connection
# Run by hand: tests/bench/ssh_exec.sh [N]   (MOONBASE_BIN: the binary to use).
# Sessions get an empty HOME (tests/lib/sshd.sh), so the remote shell's own
# start is small and the same for all four ways.
set -euo pipefail

N=${1:-50}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${MOONBASE_BIN:-$SRC/build/moonbase}
[ -x /usr/sbin/sshd ] || { echo "needs /usr/sbin/sshd (openssh-server)" >&2; exit 3; }
[ -x "$BIN" ] || { echo "no moonbase binary at $BIN (set MOONBASE_BIN)" >&2; exit 3; }

DIR=$(mktemp -d /tmp/mb-bench-ssh-XXXXXX)
cleanup() {
    [ -S "$DIR/cm.sock" ] && ssh -o ControlPath="$DIR/cm.sock" -O exit x 2>/dev/null || true
    "$SRC/tests/lib/sshd.sh" stop "$DIR" || true
    rm -rf "$DIR"
}
trap cleanup EXIT
USER_NAME=$(id -un)

cat > "$DIR/keys.lua" <<'EOF'
local ssh = require("moonbase.engine.ssh")
assert(ssh.keygen(arg[1] .. "/host_key", "bench-host"))
assert(ssh.keygen(arg[1] .. "/client", "bench-client"))
EOF
"$BIN" --lua "$DIR/keys.lua" "$DIR"
cp "$DIR/client.pub" "$DIR/authorized_keys"
PORT=$("$SRC/tests/lib/sshd.sh" start "$DIR" "$DIR/host_key" "$DIR/authorized_keys")

# median of the numbers (ms) on stdin
median() {
    sort -n | awk '{a[NR]=$1} END {
        if (NR % 2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2 }'
}
now_ns() { date +%s%N; }

SSH=(ssh -q -o BatchMode=yes -o StrictHostKeyChecking=yes
     -o UserKnownHostsFile="$DIR/known_hosts" -i "$DIR/client" -p "$PORT")
echo "[127.0.0.1]:$PORT $(cat "$DIR/host_key.pub")" > "$DIR/known_hosts"

openssh_loop() {
    local i t0 t1
    for i in $(seq 1 "$N"); do
        t0=$(now_ns)
        "${SSH[@]}" "$@" "$USER_NAME@127.0.0.1" true
        t1=$(now_ns)
        echo $(( (t1 - t0) / 1000 )) | awk '{printf "%.2f\n", $1/1000}'
    done | median
}

mb() {
    "$BIN" --lua "$SRC/tests/lib/ssh_exec.lua" --user "$USER_NAME" --repeat "$N" "$@" \
        "$PORT" "$DIR/client" "$DIR/host_key.pub" true 2>&1 >/dev/null \
        | sed -n 's/^median_ms=\([0-9.]*\).*/\1/p'
}

"${SSH[@]}" "$USER_NAME@127.0.0.1" true # warm up (page cache, sshd)
KEPT=$(mb)
FRESH=$(mb --fresh)
OSSH=$(openssh_loop)
"${SSH[@]}" -o ControlMaster=yes -o ControlPath="$DIR/cm.sock" -o ControlPersist=120 -fN \
    "$USER_NAME@127.0.0.1"
OCM=$(openssh_loop -o ControlPath="$DIR/cm.sock")

echo "exec true, median of $N, $(nproc) CPUs," \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-44s %10s\n' "way" "median ms"
printf '%-44s %10s\n' "moonbase, one kept session (channel each)" "$KEPT"
printf '%-44s %10s\n' "moonbase, fresh connection each" "$FRESH"
printf '%-44s %10s\n' "OpenSSH ssh, fresh each" "$OSSH"
printf '%-44s %10s\n' "OpenSSH ssh, ControlMaster" "$OCM"
