#!/usr/bin/env bash
# lxd-metadata.sh — LXD's metadata tarball for a test image (the first half
# of a split LXD image: metadata.yaml + templates/, from tests/images/lxd/).
# Usage: tests/images/lxd-metadata.sh OUT.tar.xz OS RELEASE DESCRIPTION
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# = 4 ] || { echo "usage: lxd-metadata.sh OUT.tar.xz OS RELEASE DESCRIPTION" >&2; exit 1; }
out=$1 os=$2 release=$3 description=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/templates"
# the creation date of the image is its build's
sed -e "s|@CREATION_DATE@|$(date -u +%s)|" -e "s|@OS@|$os|" -e "s|@RELEASE@|$release|" \
	-e "s|@DESCRIPTION@|$description|" "$HERE/lxd/metadata.yaml.in" >"$work/metadata.yaml"
cp "$HERE"/lxd/templates/*.tpl "$work/templates/"
tar -C "$work" --owner=0 --group=0 --numeric-owner -cJf "$out" metadata.yaml templates
