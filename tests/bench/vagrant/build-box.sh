#!/usr/bin/env bash
# build-box.sh — a vagrant-libvirt box made from moonbase's Debian 12 test
# image (tests/images/build-debian.sh), for tests/bench/vagrant.sh: the same
# disk moonbase launches, plus a NoCloud seed baked into the image so it
# boots straight to SSH without a seed ISO:
#   /var/lib/cloud/seed/nocloud/meta-data   instance-id, local-hostname
#   /var/lib/cloud/seed/nocloud/user-data   #cloud-config: a `vagrant` user
#       (sudo NOPASSWD, /bin/bash) with the public half of a key made here
# cloud-init (datasource_list [NoCloud, ConfigDrive, None] in the image) finds
# the seed directory at first boot, creates the user, makes host keys, and
# configures DHCP on the first NIC (its fallback network config) — the same
# work it does for moonbase from the seed ISO. Nothing else in the image
# changes. The files are written into the root partition with debugfs (no
# loop device, no mount).
#
# Output (the directory is printed as the last line on stdout), cached by the
# hash of this script and of the Debian image's directory name (its own
# input hash):
#   ${MOONBASE_TEST_IMAGES:-$HOME/.cache/moonbase-test-images}/vagrant-box-<hash>/
#     moonbase-debian12.box  tar of metadata.json ({"provider": "libvirt",
#                            "format": "qcow2", "virtual_size": GB}), box.img
#                            (qcow2), Vagrantfile (ssh user + key) and the key
#     vagrant_key[.pub]      the SSH key (RSA, PEM: Vagrant's net-ssh reads it)
# Needs root (build-debian.sh does), qemu-img, debugfs, ssh-keygen.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../../.." && pwd)
CACHE=${MOONBASE_TEST_IMAGES:-$HOME/.cache/moonbase-test-images}
log() { echo "build-box: $*" >&2; }
die() { echo "build-box: error: $*" >&2; exit 1; }
for p in qemu-img debugfs ssh-keygen tar; do
    command -v "$p" >/dev/null || die "$p is missing"
done

DEB=${MOONBASE_DEBIAN_IMAGE:-$("$SRC/tests/images/build-debian.sh" | tail -n 1)}
[ -s "$DEB/disk.qcow2" ] || die "no Debian image at $DEB"
HASH=$( {
    echo "build-box v1"
    sha256sum "$HERE/build-box.sh" | cut -d' ' -f1
    basename "$DEB"
} | sha256sum | cut -c1-16)
OUT=$CACHE/vagrant-box-$HASH
if [ -s "$OUT/moonbase-debian12.box" ]; then echo "$OUT"; exit 0; fi

exec 9>"$CACHE/.vagrant-box.lock"
flock -w 1800 9 || die "timed out waiting for $CACHE/.vagrant-box.lock"
if [ -s "$OUT/moonbase-debian12.box" ]; then echo "$OUT"; exit 0; fi
START=$(date +%s)
WORK=$(mktemp -d "$CACHE/.build-box.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

ssh-keygen -q -t rsa -b 3072 -m PEM -N '' -C moonbase-bench-vagrant -f "$WORK/vagrant_key"
cat >"$WORK/meta-data" <<'YAML'
instance-id: vagrant-box-1
local-hostname: vagrant
YAML
cat >"$WORK/user-data" <<YAML
#cloud-config
users:
  - name: vagrant
    gecos: Vagrant
    shell: /bin/bash
    sudo: "ALL=(ALL) NOPASSWD:ALL"
    lock_passwd: true
    ssh_authorized_keys:
      - $(cat "$WORK/vagrant_key.pub")
ssh_pwauth: false
YAML
chmod 0644 "$WORK/meta-data" "$WORK/user-data"

log "writing the NoCloud seed into a copy of $DEB/disk.qcow2"
qemu-img convert -f qcow2 -O raw "$DEB/disk.qcow2" "$WORK/disk.raw"
# partition 1 starts at sector 2048 (build-debian.sh's layout): check it
start=$(sfdisk -d "$WORK/disk.raw" | awk -F'[=,]' '/start=/ { gsub(/ /, "", $2); print $2; exit }')
[ "$start" = 2048 ] || die "unexpected partition start: $start"
dd if="$WORK/disk.raw" of="$WORK/part.raw" bs=1M skip=1 conv=sparse status=none
debugfs -w -f - "$WORK/part.raw" >"$WORK/debugfs.log" 2>&1 <<CMDS
mkdir /var/lib/cloud
mkdir /var/lib/cloud/seed
mkdir /var/lib/cloud/seed/nocloud
write $WORK/meta-data /var/lib/cloud/seed/nocloud/meta-data
write $WORK/user-data /var/lib/cloud/seed/nocloud/user-data
CMDS
debugfs -R 'cat /var/lib/cloud/seed/nocloud/user-data' "$WORK/part.raw" 2>/dev/null |
    grep -q '^  - name: vagrant' || { cat "$WORK/debugfs.log" >&2; die "the seed was not written"; }
e2fsck -fn "$WORK/part.raw" >/dev/null 2>&1 || die "e2fsck found errors after debugfs"
dd if="$WORK/part.raw" of="$WORK/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
rm -f "$WORK/part.raw"
mkdir -p "$WORK/box"
# compressed like the Debian image itself
qemu-img convert -c -f raw -O qcow2 "$WORK/disk.raw" "$WORK/box/box.img"
rm -f "$WORK/disk.raw"
vsize=$(qemu-img info --output=json "$WORK/box/box.img" |
    awk -F: '/"virtual-size"/ { gsub(/[ ,]/, "", $2); print $2; exit }')
echo "{\"provider\": \"libvirt\", \"format\": \"qcow2\", \"virtual_size\": $((vsize / 1073741824))}" \
    >"$WORK/box/metadata.json"
cp "$WORK/vagrant_key" "$WORK/box/vagrant_key"
cat >"$WORK/box/Vagrantfile" <<'RUBY'
# moonbase's Debian 12 test image as a vagrant-libvirt box
# (tests/bench/vagrant/build-box.sh): user `vagrant` with this box's own key
Vagrant.configure("2") do |config|
  config.ssh.username = "vagrant"
  config.ssh.private_key_path = File.join(File.dirname(__FILE__), "vagrant_key")
  config.ssh.insert_key = false
  config.vm.provider :libvirt do |lv|
    lv.driver = "qemu"
  end
end
RUBY
tar -C "$WORK/box" -cf "$WORK/moonbase-debian12.box" metadata.json Vagrantfile box.img vagrant_key
mkdir -p "$WORK/out"
mv "$WORK/moonbase-debian12.box" "$WORK/vagrant_key" "$WORK/vagrant_key.pub" "$WORK/out/"
rm -rf "$OUT"
mv "$WORK/out" "$OUT"
log "built in $(( $(date +%s) - START )) s: $(du -sh "$OUT" | cut -f1)"
echo "$OUT"
