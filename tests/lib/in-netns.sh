#!/usr/bin/env bash
# Runs a command inside a fresh network namespace (loopback up, nothing else)
# and deletes the namespace afterwards, killing whatever is left in it. The
# real-VM suites run this way, so bridges, taps, dnsmasq and NAT rules that
# moonbase creates as root never touch the host's network.
#   tests/lib/in-netns.sh COMMAND [ARGS...]
set -euo pipefail
if [ "$(id -u)" != 0 ] || ! ip netns list >/dev/null 2>&1; then
    # not root: moonbase cannot create networks anyway; run as is
    exec "$@"
fi
ns="mbtest-$$-$RANDOM"
ip netns add "$ns"
cleanup() {
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns delete "$ns" 2>/dev/null || true
}
trap cleanup EXIT
ip -n "$ns" link set lo up
set +e
MOONBASE_TEST_NETNS=$ns ip netns exec "$ns" "$@"
rc=$?
set -e
exit $rc
