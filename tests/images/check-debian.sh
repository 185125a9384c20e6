#!/usr/bin/env bash
# check-debian.sh — proves the Debian 12 test image works the way a real cloud
# image does: SeaBIOS boots it from its own disk (no -kernel) under QEMU/TCG
# with a NoCloud seed ISO, user networking with restrict=on and SSH forwarded
# on 127.0.0.1 only; real cloud-init creates the user, installs the seed's
# SSH host key, runs runcmd and grows the root partition; sshfs and 9p are
# there; QMP system_powerdown shuts it down.  Prints boot-to-SSH time.
#
# Usage: tests/images/check-debian.sh [IMAGE_DIR]   (default: build-debian.sh's)
# Exit status 0 when every check passed; all waits are bounded and QEMU is
# always killed at the end.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IMG=${1:-}
[ -n "$IMG" ] || IMG=$("$HERE/build-debian.sh" | tail -n 1)
[ -s "$IMG/disk.qcow2" ] || { echo "check-debian: $IMG/disk.qcow2 missing" >&2; exit 2; }

need=()
for p in qemu-system-x86 qemu-utils genisoimage openssh-client socat; do
	dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
[ ${#need[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2

T=$(mktemp -d /tmp/check-debian.XXXXXX)
QPID=""
PASS=0 FAIL=0
cleanup() {
	if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
		kill "$QPID" 2>/dev/null || true
		for _ in $(seq 1 10); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.5; done
		kill -9 "$QPID" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT
ok() { echo "ok   - $*"; PASS=$((PASS + 1)); }
bad() { echo "FAIL - $*"; FAIL=$((FAIL + 1)); }
check() { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
elapsed() { echo "$(date +%s.%N) $1" | awk '{ printf "%.1f\n", $1 - $2 }'; }

free_port() {
	local p hex
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 30000))
		hex=$(printf ':%04X' "$p")
		grep -q "$hex 00000000:0000 0A" /proc/net/tcp /proc/net/tcp6 2>/dev/null || { echo "$p"; return; }
	done
	return 1
}

ssh-keygen -q -t ed25519 -N '' -C moonbase-check -f "$T/id_user"
ssh-keygen -q -t ed25519 -N '' -C root@debcheck -f "$T/hostkey"
MAC=52:54:00:12:34:57
IID="iid-debcheck-$RANDOM$RANDOM"
mkdir -p "$T/seed" "$T/share"
printf 'instance-id: %s\nlocal-hostname: debcheck\n' "$IID" >"$T/seed/meta-data"
cat >"$T/seed/network-config" <<EOF
version: 2
ethernets:
  nic0:
    match:
      macaddress: "$MAC"
    dhcp4: true
EOF
{
	echo "#cloud-config"
	echo "users:"
	echo "  - name: moonbase"
	echo "    sudo: ALL=(ALL) NOPASSWD:ALL"
	echo "    shell: /bin/bash"
	echo "    ssh_authorized_keys:"
	echo "      - $(cat "$T/id_user.pub")"
	echo "ssh_keys:"
	echo "  ed25519_private: |"
	sed 's/^/    /' "$T/hostkey"
	echo "  ed25519_public: $(cat "$T/hostkey.pub")"
	echo "ssh_genkeytypes: []"
	echo "runcmd:"
	echo "  - [sh, -c, 'echo runcmd-ran > /var/tmp/runcmd']"
} >"$T/seed/user-data"
genisoimage -quiet -V cidata -J -R -o "$T/seed.iso" "$T/seed" 2>/dev/null
qemu-img create -q -f qcow2 -b "$IMG/disk.qcow2" -F qcow2 "$T/overlay.qcow2" 4G
echo "shared file from the host" >"$T/share/hello.txt"
PORT=$(free_port)
printf '[127.0.0.1]:%s %s\n' "$PORT" "$(cut -d' ' -f1,2 "$T/hostkey.pub")" >"$T/known_hosts"
SSH=(ssh -p "$PORT" -i "$T/id_user" -o UserKnownHostsFile="$T/known_hosts"
	-o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5
	-o LogLevel=ERROR moonbase@127.0.0.1)

echo "check-debian: image $IMG, ssh on 127.0.0.1:$PORT"
qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m 1024 -smp 2 \
	-drive "file=$T/overlay.qcow2,if=virtio,format=qcow2" \
	-drive "file=$T/seed.iso,if=virtio,format=raw,readonly=on" \
	-netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$PORT-:22" \
	-device "virtio-net-pci,netdev=n0,mac=$MAC" \
	-fsdev "local,id=fs0,path=$T/share,security_model=none" \
	-device virtio-9p-pci,fsdev=fs0,mount_tag=hostshare \
	-device virtio-serial-pci \
	-chardev "socket,id=qga0,path=$T/qga.sock,server=on,wait=off" \
	-device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0 \
	-qmp "unix:$T/qmp.sock,server=on,wait=off" \
	-display none -serial "file:$T/serial.log" -monitor none &
QPID=$!
START=$(date +%s.%N)

deadline=$(( $(date +%s) + 240 ))
T_SSH=""
while [ "$(date +%s)" -lt "$deadline" ]; do
	kill -0 "$QPID" 2>/dev/null || break
	if timeout 15 "${SSH[@]}" true 2>/dev/null; then T_SSH=$(elapsed "$START"); break; fi
	sleep 2
done
if [ -z "$T_SSH" ]; then
	bad "no ssh within 240 s"
	echo "---- serial console (last 40 lines) ----"; tail -n 40 "$T/serial.log"; echo "----"
	echo "$PASS passed, $FAIL failed"
	exit 1
fi
ok "ssh with the seed's host key (StrictHostKeyChecking) after ${T_SSH}s"
out=$(timeout 180 "${SSH[@]}" 'cloud-init status --wait' 2>&1 || true)
T_DONE=$(elapsed "$START")
check "cloud-init status --wait: done (${T_DONE}s)" grep -q '^status: done' <<<"$out"
out=$(timeout 60 "${SSH[@]}" 'hostname; cat /var/tmp/runcmd; sudo -n id -u; command -v sshfs; ls /etc/ssh/ssh_host_*_key.pub; test -s /etc/machine-id && echo machine-id-ok; df -k / | tail -n 1; systemctl is-active qemu-guest-agent; sudo -n mkdir -p /mnt/share && sudo -n mount -t 9p -o trans=virtio,version=9p2000.L hostshare /mnt/share && cat /mnt/share/hello.txt' 2>&1 || true)
echo "$out" | sed 's/^/     | /'
check "hostname from meta-data" grep -qx debcheck <<<"$out"
check "runcmd ran" grep -qx runcmd-ran <<<"$out"
check "passwordless sudo" grep -qx 0 <<<"$out"
check "sshfs installed" grep -q '/sshfs$' <<<"$out"
check "machine-id generated at first boot" grep -qx machine-id-ok <<<"$out"
size_kb=$(awk '$NF == "/" { print $2 }' <<<"$out")
check "root partition grown to the 4 GiB overlay (${size_kb:-?} KiB)" test "${size_kb:-0}" -gt 3500000
check "qemu-guest-agent active" grep -qx active <<<"$out"
check "9p mount of the host folder" grep -qx 'shared file from the host' <<<"$out"
check "host key in the image is the seed's" grep -q ssh_host_ed25519_key.pub <<<"$out"

printf '{"execute":"qmp_capabilities"}\n{"execute":"system_powerdown"}\n' |
	timeout 5 socat - "UNIX-CONNECT:$T/qmp.sock" >/dev/null 2>&1 || true
OFF_START=$(date +%s.%N)
for _ in $(seq 1 300); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.2; done
if kill -0 "$QPID" 2>/dev/null; then
	bad "guest still running 60 s after system_powerdown"
else
	wait "$QPID" 2>/dev/null || true
	QPID=""
	ok "QMP system_powerdown powered the guest off in $(elapsed "$OFF_START")s"
fi
echo "check-debian: boot to ssh ${T_SSH}s, cloud-init done ${T_DONE}s"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
