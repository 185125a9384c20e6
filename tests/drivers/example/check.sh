#!/usr/bin/env bash
# Proves that adding a driver is a folder under drivers/ and one line in
# drivers/drivers.def: copies the source tree as it is, adds
# tests/drivers/example/ as drivers/example/ and `BUILTIN(example)` to
# drivers/drivers.def, checks that git sees nothing else, builds moonbase,
# and drives an instance of the new driver through the CLI (launch, list,
# info, stop, start, a refused exec, refused snapshot/clone/rename, its
# setting, delete). Nothing is
# installed; the copy is removed at the end.
set -euo pipefail

src=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d /tmp/mb-example-driver-XXXXXX)
trap 'rm -rf "$work"' EXIT
die() { echo "check.sh: $*" >&2; exit 1; }

mkdir -p "$work/src"
(cd "$src" && git ls-files -z --cached --others --exclude-standard \
	| grep -zv '^build' | cpio -0 -pdm --quiet "$work/src")
cd "$work/src"
git init -q && git add -A && git -c user.name=check -c user.email=check@invalid commit -qm base

mkdir drivers/example
cp "$src/tests/drivers/example/example_driver.c" drivers/example/
echo 'BUILTIN(example)' >> drivers/drivers.def
git add -A
git diff --cached --numstat | while IFS=$'\t' read -r added removed path; do
	case "$path" in
	drivers/drivers.def) [ "$added/$removed" = 1/0 ] || die "drivers.def: +$added -$removed" ;;
	drivers/example/*) ;;
	*) die "adding the driver changed $path" ;;
	esac
done
echo "the change: $(git diff --cached --shortstat)"

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target moonbase >/dev/null

export MOONBASE_HOME=$work/home
m=$work/src/build/moonbase
qemu-img create -q -f qcow2 "$work/image.qcow2" 16M
$m set local.driver=example local.example.greeting=hi "local.image.default=file://$work/image.qcow2"
$m launch --name one >/dev/null 2>&1
$m list | grep -q '^one  *running ' || die "list: $($m list)"
$m info one | grep -q '^Driver: *example$' || die "info: $($m info one)"
$m stop one && $m start one
grep -qx 'one: hi' "$MOONBASE_HOME/data/instances/example/one/console.log" || die "no greeting"
if $m exec one -- true 2>"$work/err"; then die "exec ran"; fi
grep -q 'unsupported: exec is not supported by the example driver' "$work/err" \
	|| die "exec: $(cat "$work/err")"
# no snapshot, clone or rename slots: one line naming the feature, nothing made
$m stop one
for c in "snapshot one:snapshots" "clone one:clones" "rename one two:renames"; do
	if $m ${c%%:*} 2>"$work/err"; then die "${c%%:*} ran"; fi
	[ "$(cat "$work/err")" = "${c%% *}: ${c##*:} are not supported by the example driver" ] \
		|| die "${c%%:*}: $(cat "$work/err")"
done
[ "$($m list --snapshots)" = "No snapshots found." ] || die "snapshots: $($m list --snapshots)"
made=$(ls "$MOONBASE_HOME/data/instances/example")
[ "$made" = one ] || die "made: $made"
# (read whole first: grep -q would stop reading, and pipefail see the SIGPIPE)
keys=$($m get --keys)
grep -q '^local.example.greeting$' <<<"$keys" || die "get --keys lacks the setting"
$m delete --purge one
[ "$($m list)" = "No instances found." ] || die "left: $($m list)"
echo "ok: drivers/example/ and one line in drivers/drivers.def make a working driver"
