#!/usr/bin/env bash
# Round trip for engine/iso/iso.c: writes a NoCloud seed with our writer (through
# `test_iso --write-seed`) and reads it back with independent readers:
# isoinfo/isovfy (genisoimage), bsdtar (libarchive), xorriso, blkid, and a
# real kernel mount when this machine allows one.
#
#   tests/unit/engine/iso/iso_roundtrip.sh [path/to/test_iso]
#
# Without an argument, test_iso is built from the source tree with cc.
# Exits 0 on success, 1 on failure, 77 (ctest's SKIP_RETURN_CODE) when the
# required readers are missing: apt-get install genisoimage libarchive-tools.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
work=$(mktemp -d /tmp/iso_roundtrip.XXXXXX)
mnt=""
cleanup() {
    if [ -n "$mnt" ] && mountpoint -q "$mnt" 2>/dev/null; then
        umount "$mnt" || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

failures=0
pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
note() { echo "skipped: $*"; }

for tool in isoinfo isovfy bsdtar; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIP: $tool not found (apt-get install genisoimage libarchive-tools)"
        exit 77
    fi
done

if [ $# -ge 1 ]; then
    test_iso=$1
else
    test_iso=$work/test_iso
    cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I "$root/engine" \
        "$root/engine/core/error.c" "$root/engine/iso/iso.c" \
        "$root/tests/unit/engine/iso/test_iso.c" \
        -lcmocka -o "$test_iso"
fi

# The seed, plus what a seed must also survive: an empty file, a file over
# several sectors, a 64-character name, and names that fold to one 8.3 name.
src=$work/src
mkdir "$src"
printf 'instance-id: iid-roundtrip\nlocal-hostname: roundtrip\n' >"$src/meta-data"
printf '#cloud-config\nusers:\n  - name: moon\n    lock_passwd: false\n' >"$src/user-data"
printf 'version: 2\nethernets:\n  id0:\n    match: {name: "e*"}\n    dhcp4: true\n' \
    >"$src/network-config"
: >"$src/vendor-data"
head -c 10007 /dev/urandom >"$src/big.bin"
long=vendor-data.with-a-rather-long-name-that-takes-64-characters.yml
printf 'long\n' >"$src/$long"
printf 'dash\n' >"$src/a-b"
printf 'underscore\n' >"$src/a_b"
names=(meta-data user-data network-config vendor-data big.bin "$long" a-b a_b)

args=()
for n in "${names[@]}"; do
    args+=("$n=$src/$n")
done
iso=$work/seed.iso
"$test_iso" --write-seed "$iso" cidata "${args[@]}"

size=$(stat -c %s "$iso")
if [ $((size % 2048)) -eq 0 ]; then pass "size $size is whole sectors"; else fail "size $size"; fi

expected=$(printf '/%s\n' "${names[@]}" | sort)

# genisoimage's isoinfo and isovfy
info=$(isoinfo -d -i "$iso")
for want in "Volume id: cidata" "Rock Ridge signatures version 1 found" \
    "Joliet with UCS level 3 found"; do
    if grep -qx "$want" <<<"$info"; then
        pass "isoinfo -d: $want"
    else
        fail "isoinfo -d: no '$want'"
    fi
done
if [ "$(isoinfo -R -f -i "$iso" | sort)" = "$expected" ]; then
    pass "isoinfo -R -f lists the Rock Ridge names"
else
    fail "isoinfo -R -f: $(isoinfo -R -f -i "$iso" | tr '\n' ' ')"
fi
if [ "$(isoinfo -J -f -i "$iso" | sort)" = "$expected" ]; then
    pass "isoinfo -J -f lists the Joliet names"
else
    fail "isoinfo -J -f: $(isoinfo -J -f -i "$iso" | tr '\n' ' ')"
fi
modes=$(isoinfo -R -l -i "$iso" | awk '/^-/ {print $1}' | sort -u)
if [ "$modes" = "-r--r--r--" ]; then
    pass "isoinfo -R -l: files are 0444"
else
    fail "isoinfo -R -l modes: $modes"
fi
before=$failures
for n in "${names[@]}"; do
    isoinfo -R -i "$iso" -x "/$n" | cmp -s - "$src/$n" || fail "isoinfo -R -x /$n differs"
done
[ "$failures" -ne "$before" ] || pass "isoinfo -R -x returned every file exactly"
if isovfy "$iso" | grep -q "No errors found"; then pass "isovfy: no errors"; else fail "isovfy"; fi

# libarchive
if [ "$(bsdtar -tf "$iso" | grep -v '^\.$' | sed 's|^|/|' | sort)" = "$expected" ]; then
    pass "bsdtar -t lists the names"
else
    fail "bsdtar -t: $(bsdtar -tf "$iso" | tr '\n' ' ')"
fi
before=$failures
for n in "${names[@]}"; do
    bsdtar -xOf "$iso" "$n" | cmp -s - "$src/$n" || fail "bsdtar -xO $n differs"
done
[ "$failures" -ne "$before" ] || pass "bsdtar -xO returned every file exactly"
before=$failures
for n in "${names[@]}"; do
    bsdtar --options '!rockridge' -xOf "$iso" "$n" | cmp -s - "$src/$n" \
        || fail "bsdtar without Rock Ridge (Joliet names): $n differs"
done
[ "$failures" -ne "$before" ] || pass "bsdtar without Rock Ridge read every file by Joliet name"

# libisofs
if command -v xorriso >/dev/null; then
    listing=$(xorriso -abort_on FAILURE -return_with WARNING 32 -indev "$iso" -find / -type f \
        2>/dev/null | tr -d "'" | sort)
    if [ "$listing" = "$expected" ]; then
        pass "xorriso -find lists the names"
    else
        fail "xorriso -find: $(tr '\n' ' ' <<<"$listing")"
    fi
    before=$failures
    mkdir "$work/x"
    xorriso -abort_on FAILURE -return_with WARNING 32 -indev "$iso" -osirrox on \
        -extract / "$work/x" >/dev/null 2>&1 || fail "xorriso -extract"
    for n in "${names[@]}"; do
        cmp -s "$work/x/$n" "$src/$n" || fail "xorriso -extract: $n differs"
    done
    [ "$failures" -ne "$before" ] || pass "xorriso -extract returned every file exactly"
else
    note "xorriso not found (apt-get install xorriso)"
fi

# libblkid: how cloud-init finds the seed
if command -v blkid >/dev/null; then
    label=$(blkid -p -o value -s LABEL "$iso" || true)
    type=$(blkid -p -o value -s TYPE "$iso" || true)
    if [ "$label" = cidata ] && [ "$type" = iso9660 ]; then
        pass "blkid: LABEL=cidata TYPE=iso9660"
    else
        fail "blkid: LABEL='$label' TYPE='$type'"
    fi
else
    note "blkid not found"
fi

# Reproducible: the same files and SOURCE_DATE_EPOCH give the same bytes.
SOURCE_DATE_EPOCH=1700000000 "$test_iso" --write-seed "$work/r1.iso" cidata "${args[@]}"
reversed=()
for ((i = ${#args[@]} - 1; i >= 0; i--)); do reversed+=("${args[i]}"); done
SOURCE_DATE_EPOCH=1700000000 "$test_iso" --write-seed "$work/r2.iso" cidata "${reversed[@]}"
if cmp -s "$work/r1.iso" "$work/r2.iso"; then pass "reproducible"; else fail "not reproducible"; fi

# The Linux kernel's isofs, when this machine can loop-mount.
mnt=$work/mnt
mkdir "$mnt"
if [ "$(id -u)" -ne 0 ]; then
    note "kernel mount: not root"
elif ! mount -o loop,ro -t iso9660 "$iso" "$mnt" 2>"$work/mount.err"; then
    note "kernel mount: $(tr '\n' ' ' <"$work/mount.err")"
else
    if [ "$(cd "$mnt" && printf '/%s\n' * | sort)" = "$expected" ]; then
        pass "kernel mount lists the Rock Ridge names"
    else
        fail "kernel mount: $(printf '%s ' "$mnt"/*)"
    fi
    before=$failures
    for n in "${names[@]}"; do
        cmp -s "$mnt/$n" "$src/$n" || fail "kernel mount: $n differs"
    done
    [ "$failures" -ne "$before" ] || pass "kernel mount: every file is exact"
    mode=$(stat -c %a "$mnt/user-data")
    if [ "$mode" = 444 ]; then pass "kernel mount: 0444"; else fail "kernel mount: mode $mode"; fi
    umount "$mnt"
fi

if [ "$failures" -ne 0 ]; then
    echo "iso_roundtrip: $failures failure(s)"
    exit 1
fi
echo "iso_roundtrip: all readers agree"
