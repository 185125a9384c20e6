#!/usr/bin/env bash
# check-tiny.sh — proves the tiny test image works: boots it under QEMU/TCG
# (user networking with restrict=on, SSH forwarded on 127.0.0.1 only) with a
# NoCloud seed ISO (label cidata) made here, then checks over SSH: the host
# key is exactly the one from the seed, hostname, users + authorized key,
# sudo, write_files, bootcmd, runcmd (once per instance), boot-finished and
# `cloud-init status`, DHCP from network-config v2, resize2fs growth of an
# enlarged overlay, SFTP, a 9p mount; then QMP system_powerdown, a second
# boot (runcmd must not run again) and shutdown.  Prints boot-to-SSH times.
#
# Usage: tests/images/check-tiny.sh [IMAGE_DIR]   (default: build-tiny.sh's)
# Exit status 0 when every check passed.  Every wait is bounded; QEMU is
# always killed at the end.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IMG=${1:-}
if [ -z "$IMG" ]; then
	IMG=$("$HERE/build-tiny.sh" | tail -n 1)
fi
for f in disk.qcow2 vmlinuz initrd.img metadata.json; do
	[ -s "$IMG/$f" ] || { echo "check-tiny: $IMG/$f missing" >&2; exit 2; }
done

need=()
for p in qemu-system-x86 qemu-utils genisoimage openssh-client socat; do
	dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi

T=$(mktemp -d /tmp/check-tiny.XXXXXX)
QPID=""
PASS=0 FAIL=0
cleanup() {
	if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
		kill "$QPID" 2>/dev/null || true
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$QPID" 2>/dev/null || break; sleep 0.5; done
		kill -9 "$QPID" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT

ok() { echo "ok   - $*"; PASS=$((PASS + 1)); }
bad() { echo "FAIL - $*"; FAIL=$((FAIL + 1)); }
check() {   # check DESCRIPTION COMMAND...
	local d=$1; shift
	if "$@"; then ok "$d"; else bad "$d"; fi
}

# a free TCP port on 127.0.0.1 (not in /proc/net/tcp as listening)
free_port() {
	local p hex
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 30000))
		hex=$(printf ':%04X' "$p")
		grep -q "$hex 00000000:0000 0A" /proc/net/tcp /proc/net/tcp6 2>/dev/null || { echo "$p"; return; }
	done
	echo "no free port" >&2; return 1
}

# ------------------------------------------------------------------ seed
ssh-keygen -q -t ed25519 -N '' -C moonbase-check -f "$T/id_user"
ssh-keygen -q -t ed25519 -N '' -C root@tinycheck -f "$T/hostkey"
MAC=52:54:00:12:34:56
IID="iid-check-$RANDOM$RANDOM"
mkdir -p "$T/seed" "$T/share"
cat >"$T/seed/meta-data" <<EOF
instance-id: $IID
local-hostname: tinycheck
EOF
cat >"$T/seed/network-config" <<EOF
version: 2
ethernets:
  default:
    match:
      macaddress: "$MAC"
    dhcp4: true
EOF
{
	echo "#cloud-config"
	echo "users:"
	echo "  - name: moonbase"
	echo "    gecos: moonbase user"
	echo "    sudo: ALL=(ALL) NOPASSWD:ALL"
	echo "    shell: /bin/bash"
	echo "    groups: [adm, users]"
	echo "    ssh_authorized_keys:"
	echo "      - $(cat "$T/id_user.pub")"
	echo "ssh_keys:"
	echo "  ed25519_private: |"
	sed 's/^/    /' "$T/hostkey"
	echo "  ed25519_public: $(cat "$T/hostkey.pub")"
	cat <<'EOF'
write_files:
  - path: /etc/moonbase-check.conf
    permissions: '0600'
    content: |
      line one
      "quoted" line: two
bootcmd:
  - echo bootcmd-ran >> /var/tmp/bootcmd.log
runcmd:
  - echo "runcmd $INSTANCE_ID" >> /var/tmp/runcmd.log
  - [sh, -c, "echo argv-form > /var/tmp/runcmd-argv"]
EOF
} >"$T/seed/user-data"
genisoimage -quiet -V cidata -J -R -o "$T/seed.iso" "$T/seed" 2>/dev/null

# the third boot: a new instance, static network-config, another host key,
# the seed on a SATA cdrom (/dev/sr0) instead of a virtio disk
ssh-keygen -q -t ed25519 -N '' -C root@tinycheck2 -f "$T/hostkey2"
IID2="iid-check2-$RANDOM$RANDOM"
mkdir -p "$T/seed2"
printf 'instance-id: %s\nlocal-hostname: tinycheck2\n' "$IID2" >"$T/seed2/meta-data"
cat >"$T/seed2/network-config" <<EOF
network:
  version: 2
  ethernets:
    nic0:
      match: {macaddress: "$MAC"}
      set-name: eth0
      addresses: [10.0.2.15/24]
      routes:
        - to: default
          via: 10.0.2.2
      nameservers:
        addresses: [10.0.2.3]
        search: [moonbase]
EOF
{
	echo "#cloud-config"
	echo "users:"
	echo "  - default"
	echo "  - name: moonbase"
	echo "    sudo: [\"ALL=(ALL) NOPASSWD:ALL\"]"
	echo "    ssh_authorized_keys: [\"$(cat "$T/id_user.pub")\"]"
	echo "ssh_keys:"
	echo "  ed25519_private: |"
	sed 's/^/    /' "$T/hostkey2"
	echo "  ed25519_public: $(cat "$T/hostkey2.pub")"
	echo "runcmd:"
	echo "  - echo \"runcmd \$INSTANCE_ID\" >> /var/tmp/runcmd.log"
} >"$T/seed2/user-data"
genisoimage -quiet -V cidata -J -R -o "$T/seed2.iso" "$T/seed2" 2>/dev/null

qemu-img create -q -f qcow2 -b "$IMG/disk.qcow2" -F qcow2 "$T/overlay.qcow2" 1G
CMDLINE=$(sed -n 's/.*"kernel_cmdline": *"\([^"]*\)".*/\1/p' "$IMG/metadata.json")
PORT=$(free_port)
echo "shared file from the host" >"$T/share/hello.txt"

boot() {   # boot LOGFILE KERNEL
	: >"$1"
	qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m 512 -smp 1 \
		-kernel "$IMG/$2" -initrd "$IMG/initrd.img" -append "$CMDLINE" \
		-drive "file=$T/overlay.qcow2,if=virtio,format=qcow2" \
		"${SEED_ARGS[@]}" \
		-netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$PORT-:22" \
		-device "virtio-net-pci,netdev=n0,mac=$MAC" \
		-fsdev "local,id=fs0,path=$T/share,security_model=none" \
		-device virtio-9p-pci,fsdev=fs0,mount_tag=hostshare \
		-qmp "unix:$T/qmp.sock,server=on,wait=off" \
		-display none -serial "file:$1" -monitor none &
	QPID=$!
	BOOT_START=$(date +%s.%N)
}

printf '[127.0.0.1]:%s %s\n' "$PORT" "$(cut -d' ' -f1,2 "$T/hostkey.pub")" >"$T/known_hosts"
SSH=(ssh -p "$PORT" -i "$T/id_user" -o UserKnownHostsFile="$T/known_hosts"
	-o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5
	-o LogLevel=ERROR moonbase@127.0.0.1)

wait_ssh() {   # wait_ssh LOG — prints the seconds from QEMU start to SSH
	local deadline=$(( $(date +%s) + 120 ))
	# the guest says "ssh ready" on the console once dropbear listens; poll
	# SSH itself only then (a connect before that hangs in QEMU's slirp)
	while [ "$(date +%s)" -lt "$deadline" ]; do
		kill -0 "$QPID" 2>/dev/null || { echo "QEMU exited" >&2; return 1; }
		grep -q 'moonbase-tiny: ssh ready' "$1" 2>/dev/null && break
		sleep 0.1
	done
	while [ "$(date +%s)" -lt "$deadline" ]; do
		kill -0 "$QPID" 2>/dev/null || { echo "QEMU exited" >&2; return 1; }
		if timeout 10 "${SSH[@]}" -o ConnectTimeout=3 true 2>/dev/null; then
			echo "$(date +%s.%N) $BOOT_START" | awk '{ printf "%.1f\n", $1 - $2 }'
			return 0
		fi
		sleep 0.2
	done
	return 1
}

qmp() {   # qmp COMMAND — one QMP command
	printf '{"execute":"qmp_capabilities"}\n{"execute":"%s"}\n' "$1" |
		timeout 5 socat - "UNIX-CONNECT:$T/qmp.sock" >/dev/null 2>&1 || true
}

wait_exit() {   # wait_exit SECONDS — prints seconds QEMU took to exit
	local start; start=$(date +%s.%N)
	local deadline=$(( $(date +%s) + $1 ))
	while kill -0 "$QPID" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
	if kill -0 "$QPID" 2>/dev/null; then return 1; fi
	wait "$QPID" 2>/dev/null || true
	QPID=""
	echo "$(date +%s.%N) $start" | awk '{ printf "%.1f\n", $1 - $2 }'
}

fail_log() {
	echo "---- serial console (last 60 lines) ----"
	tail -n 60 "$1" || true
	echo "----"
}

# ------------------------------------------------------------------ boot 1
SEED_ARGS=(-drive "file=$T/seed.iso,if=virtio,format=raw,readonly=on")
echo "check-tiny: image $IMG, ssh on 127.0.0.1:$PORT"
boot "$T/serial1.log" vmlinuz
if T_SSH=$(wait_ssh "$T/serial1.log"); then
	ok "ssh with the seed's host key (StrictHostKeyChecking) after ${T_SSH}s"
else
	bad "ssh did not come up within 120 s"
	fail_log "$T/serial1.log"
	echo "$PASS passed, $FAIL failed"
	exit 1
fi

out=$(timeout 60 "${SSH[@]}" 'cloud-init status --wait' 2>&1 || true)
check "cloud-init status --wait says done" grep -q '^status: done' <<<"$out"
T_DONE=$(echo "$(date +%s.%N) $BOOT_START" | awk '{ printf "%.1f\n", $1 - $2 }')
out=$(timeout 20 "${SSH[@]}" 'uname -a; cat /var/lib/cloud/instance/boot-finished; hostname' 2>&1 || true)
echo "$out" | sed 's/^/     | /'
check "uname shows Linux" grep -q '^Linux ' <<<"$out"
check "boot-finished exists" grep -q 'Ver:' <<<"$out"
check "hostname from meta-data" grep -qx 'tinycheck' <<<"$out"
out=$(timeout 20 "${SSH[@]}" 'id; echo "shell=$SHELL"; sudo -n id -u; sudo -n cat /etc/moonbase-check.conf; stat -c %a /etc/moonbase-check.conf; cat /var/tmp/runcmd.log /var/tmp/runcmd-argv /var/tmp/bootcmd.log' 2>&1 || true)
echo "$out" | sed 's/^/     | /'
check "user moonbase in groups adm, users" grep -q 'uid=1000(moonbase).*adm.*users' <<<"$out"
check "sudo -n works (uid 0)" grep -qx '0' <<<"$out"
check "write_files content" grep -qx '"quoted" line: two' <<<"$out"
check "write_files permissions 0600" grep -qx '600' <<<"$out"
check "runcmd ran with INSTANCE_ID" grep -qx "runcmd $IID" <<<"$out"
check "runcmd argv form ran" grep -qx 'argv-form' <<<"$out"
check "bootcmd ran" grep -qx 'bootcmd-ran' <<<"$out"
out=$(timeout 20 "${SSH[@]}" 'ip -4 addr show eth0; ip route; cat /etc/resolv.conf; df -k /' 2>&1 || true)
echo "$out" | sed 's/^/     | /'
check "DHCP address 10.0.2.15 on eth0" grep -q 'inet 10.0.2.15/24' <<<"$out"
# (restrict=on: QEMU's DHCP offers no router and no DNS server)
size_kb=$(awk '$NF == "/" { print $2 }' <<<"$out")
check "root filesystem grown to the 1 GiB overlay (${size_kb:-?} KiB)" test "${size_kb:-0}" -gt 900000

# sftp: put a file and get it back
head -c 300000 /dev/urandom >"$T/blob"
printf 'put %s /tmp/blob\nget /tmp/blob %s\n' "$T/blob" "$T/blob.back" >"$T/sftp.batch"
timeout 30 sftp -P "$PORT" -i "$T/id_user" -o UserKnownHostsFile="$T/known_hosts" \
	-o StrictHostKeyChecking=yes -o BatchMode=yes -o LogLevel=ERROR \
	-b "$T/sftp.batch" moonbase@127.0.0.1 >/dev/null 2>&1 || true
check "sftp put + get round trip" cmp -s "$T/blob" "$T/blob.back"

out=$(timeout 30 "${SSH[@]}" 'sudo -n mkdir -p /mnt/share && sudo -n mount -t 9p -o trans=virtio,version=9p2000.L hostshare /mnt/share && cat /mnt/share/hello.txt && echo guest-wrote | sudo -n tee /mnt/share/from-guest >/dev/null && sudo -n umount /mnt/share' 2>&1 || true)
check "9p mount of the host folder" grep -qx 'shared file from the host' <<<"$out"
check "9p write from the guest" grep -qx 'guest-wrote' "$T/share/from-guest"
# libssh2 (what moonbase links) against dropbear, with the host key pinned:
# curl's sftp:// is libssh2 on Debian
if curl -V 2>/dev/null | grep -q libssh2; then
	fp=$(ssh-keygen -lf "$T/hostkey.pub" | awk '{ print $2 }' | sed 's/^SHA256://')
	out=$(timeout 30 curl -s --hostpubsha256 "$fp" -u moonbase: --key "$T/id_user" \
		--pubkey "$T/id_user.pub" "sftp://127.0.0.1:$PORT/etc/hostname" 2>&1 || true)
	check "libssh2 client (curl sftp, host key sha256 pinned) reads a file" grep -qx tinycheck <<<"$out"
fi
out=$(timeout 15 "${SSH[@]}" -W 127.0.0.1:22 </dev/null 2>/dev/null | head -c 16 || true)
check "TCP forwarding through the SSH server (direct-tcpip)" grep -q '^SSH-2.0-' <<<"$out"
check "no errors or warnings from the image's scripts on the console" \
	bash -c "! grep -E '^/usr/|^/sbin/|^/init|moonbase-tiny.*(WARNING|FATAL)|not found|status error' '$T/serial1.log'"

qmp system_powerdown
if T_OFF=$(wait_exit 20); then
	ok "QMP system_powerdown powered the guest off in ${T_OFF}s"
else
	bad "guest still running 20 s after system_powerdown"
	fail_log "$T/serial1.log"
	kill -9 "$QPID" 2>/dev/null || true; wait "$QPID" 2>/dev/null || true; QPID=""
fi

# ------------------------------------------------------------------ boot 2
# (the second boot uses the uncompressed PVH kernel if the image has one)
K2=vmlinuz
[ -s "$IMG/vmlinux" ] && K2=vmlinux
boot "$T/serial2.log" "$K2"
if T_SSH2=$(wait_ssh "$T/serial2.log"); then
	ok "second boot ($K2): ssh after ${T_SSH2}s"
	out=$(timeout 60 "${SSH[@]}" 'cloud-init status --wait >/dev/null; cloud-init status; wc -l < /var/tmp/runcmd.log; wc -l < /var/tmp/bootcmd.log' 2>&1 || true)
	check "second boot: cloud-init done" grep -q '^status: done' <<<"$out"
	check "second boot: runcmd did not run again, bootcmd did" test "$(tail -n 2 <<<"$out" | tr '\n' ' ')" = "1 2 "
else
	bad "second boot: no ssh within 120 s"
	fail_log "$T/serial2.log"
fi
timeout 20 "${SSH[@]}" 'sudo -n poweroff' >/dev/null 2>&1 || true
if T_OFF2=$(wait_exit 20); then
	ok "sudo poweroff stopped the guest in ${T_OFF2}s"
else
	bad "guest still running 20 s after poweroff"
fi

# ------------------------------------------------------------------ boot 3
SEED_ARGS=(-drive "file=$T/seed2.iso,media=cdrom,readonly=on")
printf '[127.0.0.1]:%s %s\n' "$PORT" "$(cut -d' ' -f1,2 "$T/hostkey2.pub")" >"$T/known_hosts"
boot "$T/serial3.log" "$K2"
if T_SSH3=$(wait_ssh "$T/serial3.log"); then
	ok "new instance, seed on a cdrom: ssh with the new host key after ${T_SSH3}s"
	out=$(timeout 60 "${SSH[@]}" 'cloud-init status --wait >/dev/null; hostname; cat /var/tmp/runcmd.log; ip -4 addr show eth0; ip route; cat /etc/resolv.conf; grep -c "^debian:" /etc/passwd; sudo -n true && echo sudo-ok' 2>&1 || true)
	echo "$out" | sed 's/^/     | /'
	check "new instance: hostname tinycheck2" grep -qx tinycheck2 <<<"$out"
	check "new instance: runcmd ran again" grep -qx "runcmd $IID2" <<<"$out"
	check "static address from network-config" grep -q 'inet 10.0.2.15/24' <<<"$out"
	check "static default route" grep -q 'default via 10.0.2.2' <<<"$out"
	check "static nameserver" grep -qx 'nameserver 10.0.2.3' <<<"$out"
	check "static search domain" grep -qx 'search moonbase' <<<"$out"
	check "'- default' created the default user debian" grep -qx 1 <<<"$out"
	check "sudo rule from a list" grep -qx sudo-ok <<<"$out"
	check "seed found on /dev/sr0" grep -q 'seed found on /dev/sr0' "$T/serial3.log"
else
	bad "third boot: no ssh within 120 s"
	fail_log "$T/serial3.log"
fi
qmp system_powerdown
if T_OFF3=$(wait_exit 20); then
	ok "third boot: system_powerdown in ${T_OFF3}s"
else
	bad "third boot: guest still running 20 s after system_powerdown"
fi

G_SSH=$(sed -n 's/.*moonbase-tiny: ssh ready.*(uptime \([0-9.]*\)s).*/\1/p' "$T/serial1.log" | head -n 1)
echo "check-tiny: boot to ssh ${T_SSH}s wall clock from QEMU start (guest uptime at ssh ready ${G_SSH:-?}s), cloud-init done ${T_DONE}s; second boot (-kernel $K2) ${T_SSH2:-?}s; new instance with cdrom seed ${T_SSH3:-?}s"
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
