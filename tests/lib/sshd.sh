#!/bin/bash
# A private OpenSSH server for tests, on 127.0.0.1 only.
#   sshd.sh start DIR HOST_KEY AUTHORIZED_KEYS   -> prints the port it listens on
#   sshd.sh stop DIR
# DIR gets sshd_config, sshd.log, sshd.pid and home/: sessions get HOME=DIR/home,
# so they do not run the machine's own dotfiles (a root ~/.bashrc that takes a
# second would be in every test's time). The server runs as `sshd -D`
# under `timeout` (MB_SSHD_LIFETIME seconds, default 900), so a test that dies
# without calling stop does not leave it behind for long.
set -euo pipefail

SSHD=${SSHD:-/usr/sbin/sshd}

start() {
    local dir=$1 host_key=$2 auth_keys=$3
    if [ ! -x "$SSHD" ]; then
        echo "sshd.sh: $SSHD is missing (apt-get install openssh-server)" >&2
        exit 3
    fi
    [ "$(id -u)" = 0 ] && mkdir -p /run/sshd
    mkdir -p "$dir/home"
    local try port
    for try in $(seq 1 20); do
        port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        cat > "$dir/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $host_key
AuthorizedKeysFile $auth_keys
PidFile none
UsePAM no
StrictModes no
PermitRootLogin yes
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AcceptEnv LANG LC_* MB_ACCEPTED_*
SetEnv HOME=$dir/home
Subsystem sftp internal-sftp
MaxStartups 100:30:200
MaxSessions 100
PrintMotd no
LogLevel INFO
EOF
        "$SSHD" -t -f "$dir/sshd_config"
        : > "$dir/sshd.log"
        timeout "${MB_SSHD_LIFETIME:-900}" "$SSHD" -D -f "$dir/sshd_config" -E "$dir/sshd.log" \
            </dev/null >/dev/null 2>&1 &
        local pid=$!
        local i
        for i in $(seq 1 100); do
            if grep -q "Server listening on 127.0.0.1 port $port" "$dir/sshd.log"; then
                echo "$pid" > "$dir/sshd.pid"
                echo "$port"
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    echo "sshd.sh: could not start sshd (log: $(tail -3 "$dir/sshd.log"))" >&2
    exit 1
}

stop() {
    local dir=$1 pid i
    [ -f "$dir/sshd.pid" ] || return 0
    pid=$(cat "$dir/sshd.pid")
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 40); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/sshd.pid"
}

case "${1:-}" in
start) start "$2" "$3" "$4" ;;
stop) stop "$2" ;;
*) echo "usage: sshd.sh start DIR HOST_KEY AUTHORIZED_KEYS | stop DIR" >&2; exit 1 ;;
esac
