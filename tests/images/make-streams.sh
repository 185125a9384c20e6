#!/usr/bin/env bash
# make-streams.sh — publishes test images (from build-tiny.sh / build-debian.sh)
# as a simplestreams tree laid out like Ubuntu's cloud-images server, for
# serving with tests/lib/imagehost.sh.
#
# Usage: tests/images/make-streams.sh OUTDIR IMAGE_DIR[=VERSION]...
#   IMAGE_DIR  a directory with metadata.json and disk.qcow2 (and, when the
#              image boots with an external kernel, vmlinuz + initrd.img; when
#              it is also an LXD container image, the files metadata.json
#              names as lxd_metadata and lxd_rootfs)
#   VERSION    the version (serial) to publish it as; default: the image's
#              build_date (YYYYMMDD), with ".1", ".2"... added when a product
#              already has that version
# Output:
#   OUTDIR/streams/v1/index.json                           format index:1.0
#   OUTDIR/streams/v1/com.moonbase.local:download.json     format products:1.0
#   OUTDIR/server/releases/<release>/release-<version>/
#       moonbase-<release>-<arch>.img        (qcow2, item "disk1.img")
#       moonbase-<release>-<arch>-vmlinuz    (item "vmlinuz", if any)
#       moonbase-<release>-<arch>-initrd     (item "initrd", if any)
#       moonbase-<release>-<arch>-lxd.tar.xz (item "lxd.tar.xz", LXD's metadata,
#                                             with combined_*_sha256, if any)
#       moonbase-<release>-<arch>-root.tar.xz or .squashfs (items "root.tar.xz"
#                                             or "squashfs": its root filesystem)
#       SHA256SUMS
# Files are hard-linked from IMAGE_DIR when possible, else copied. OUTDIR's
# previous streams/ and server/ are replaced.
#
# The format follows the real files (checked against published copies of
# cloud-images.ubuntu.com/releases/streams/v1/index.json and
# com.ubuntu.cloud:released:download.json, and Multipass's parser):
#   index.json: {"format": "index:1.0", "updated", "index": {CONTENT_ID:
#     {"datatype": "image-downloads", "path", "updated", "products": [...],
#      "format": "products:1.0"}}}
#   products:   "content_id", "creator", "datatype": "image-downloads",
#     "format": "products:1.0", "license", "updated", "products": {
#     "com.ubuntu.cloud:server:22.04:amd64": {"aliases": "22.04,j,jammy,lts",
#     "arch", "os", "release", "release_codename", "release_title",
#     "support_eol", "supported" (bool), "version", "versions": {"20240101":
#     {"items": {KEY: {"ftype", "md5", "path", "sha256", "size"}},
#      "label": "release", "pubname"}}}}
#   item keys/ftypes seen there: "disk1.img" (qcow2), "uefi1.img" (Multipass
#   prefers it when present), "disk-kvm.img", "lxd.tar.xz" (with
#   "combined_disk1-img_sha256"...), "root.tar.xz", "squashfs", "manifest",
#   "tar.gz".  Ubuntu's download streams list no kernel or initrd (Multipass
#   once derived ".../unpacked/<name>-vmlinuz-generic" from the disk path;
#   MAAS streams call them "boot-kernel" / "boot-initrd").  For the tiny
#   image, which boots with an external kernel, this tree adds the items
#   "vmlinuz" (ftype "vmlinuz") and "initrd" (ftype "initrd") beside
#   "disk1.img", and a product key "kernel_cmdline" from metadata.json.
set -euo pipefail

CONTENT_ID="com.moonbase.local:download"
PRODUCT_PREFIX="com.moonbase.local"

die() { echo "make-streams: error: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: make-streams.sh OUTDIR IMAGE_DIR[=VERSION]..."
OUT=$1; shift
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# jget FILE KEY — a top-level string value of a flat JSON object
jget() {
	sed -n 's/^[[:space:]]*"'"$2"'"[[:space:]]*:[[:space:]]*"\(\([^"\\]\|\\.\)*\)".*/\1/p' "$1" | head -n 1
}
# jstr STRING — a JSON string literal
jstr() {
	local s=$1
	s=${s//\\/\\\\}; s=${s//\"/\\\"}
	printf '"%s"' "$s"
}

rm -rf "$OUT/streams" "$OUT/server"
mkdir -p "$OUT/streams/v1"
NOW=$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S +0000')

declare -A P_FIELDS=() P_VERSIONS=() SEEN_VERSION=()
P_ORDER=()

for arg in "$@"; do
	dir=${arg%%=*}
	ver=""
	[ "$arg" != "$dir" ] && ver=${arg#*=}
	[ -f "$dir/metadata.json" ] || die "$dir/metadata.json missing"
	[ -f "$dir/disk.qcow2" ] || die "$dir/disk.qcow2 missing"
	md=$dir/metadata.json
	os=$(jget "$md" os); release=$(jget "$md" release); arch=$(jget "$md" arch)
	[ -n "$os" ] && [ -n "$release" ] && [ -n "$arch" ] || die "$md: os, release and arch are required"
	title=$(jget "$md" release_title); [ -n "$title" ] || title=$release
	codename=$(jget "$md" release_codename); [ -n "$codename" ] || codename=$title
	aliases=$(jget "$md" aliases)
	if [ -z "$aliases" ]; then
		aliases=$release
		[ "$release" = tiny ] && aliases="tiny,default"
	fi
	osver=$(jget "$md" os_version); [ -n "$osver" ] || osver=$release
	cmdline=$(jget "$md" kernel_cmdline)
	pid="$PRODUCT_PREFIX:$release:$arch"

	if [ -z "$ver" ]; then
		base=$(jget "$md" build_date)
		[ -n "$base" ] || base=$(date -u +%Y%m%d)
		ver=$base; n=0
		while [ -n "${SEEN_VERSION[$pid/$ver]:-}" ]; do n=$((n + 1)); ver="$base.$n"; done
	fi
	[ -z "${SEEN_VERSION[$pid/$ver]:-}" ] || die "$pid has version $ver twice"
	SEEN_VERSION[$pid/$ver]=1

	reldir="server/releases/$release/release-$ver"
	mkdir -p "$OUT/$reldir"
	name="moonbase-$release-$arch"
	items=""
	add_item() {   # add_item KEY FTYPE SRC DESTNAME [EXTRA_JSON_FIELDS]
		local dest="$reldir/$4" sha size
		ln -f "$3" "$OUT/$dest" 2>/dev/null || cp "$3" "$OUT/$dest"
		sha=$(sha256sum "$OUT/$dest" | cut -d' ' -f1)
		size=$(stat -c %s "$OUT/$dest")
		echo "$sha *$4" >>"$OUT/$reldir/SHA256SUMS"
		items+="${items:+,}
            $(jstr "$1"): {
              \"ftype\": $(jstr "$2"),
              \"path\": $(jstr "$dest"),
              \"sha256\": \"$sha\",
              \"size\": $size${5:+,
              $5}
            }"
	}
	: >"$OUT/$reldir/SHA256SUMS"
	add_item disk1.img disk1.img "$dir/disk.qcow2" "$name.img"
	[ -f "$dir/vmlinuz" ] && add_item vmlinuz vmlinuz "$dir/vmlinuz" "$name-vmlinuz"
	[ -f "$dir/initrd.img" ] && add_item initrd initrd "$dir/initrd.img" "$name-initrd"
	# an LXD image, split as Ubuntu's: the metadata tarball names the
	# fingerprint LXD gives the pair (SHA-256 of metadata + rootfs)
	lxdmeta=$(jget "$md" lxd_metadata) lxdroot=$(jget "$md" lxd_rootfs)
	if [ -n "$lxdmeta" ] && [ -n "$lxdroot" ]; then
		combined=$(cat "$dir/$lxdmeta" "$dir/$lxdroot" | sha256sum | cut -d' ' -f1)
		case "$lxdroot" in
		*.squashfs)
			add_item lxd.tar.xz lxd.tar.xz "$dir/$lxdmeta" "$name-lxd.tar.xz" \
				"\"combined_squashfs_sha256\": \"$combined\""
			add_item squashfs squashfs "$dir/$lxdroot" "$name.squashfs" ;;
		*)
			add_item lxd.tar.xz lxd.tar.xz "$dir/$lxdmeta" "$name-lxd.tar.xz" \
				"\"combined_rootxz_sha256\": \"$combined\", \"combined_sha256\": \"$combined\""
			add_item root.tar.xz root.tar.xz "$dir/$lxdroot" "$name-root.tar.xz" ;;
		esac
	fi

	vjson="        $(jstr "$ver"): {
          \"items\": {$items
          },
          \"label\": \"release\",
          \"pubname\": $(jstr "$name-$ver")
        }"
	if [ -z "${P_FIELDS[$pid]:-}" ]; then
		P_ORDER+=("$pid")
		f="      \"aliases\": $(jstr "$aliases"),
      \"arch\": $(jstr "$arch"),"
		[ -n "$cmdline" ] && f+="
      \"kernel_cmdline\": $(jstr "$cmdline"),"
		f+="
      \"os\": $(jstr "$os"),
      \"release\": $(jstr "$release"),
      \"release_codename\": $(jstr "$codename"),
      \"release_title\": $(jstr "$title"),
      \"supported\": true,
      \"version\": $(jstr "$osver"),"
		P_FIELDS[$pid]=$f
		P_VERSIONS[$pid]=$vjson
	else
		P_VERSIONS[$pid]+=",
$vjson"
	fi
done

PRODUCTS_FILE="streams/v1/$CONTENT_ID.json"
{
	echo "{"
	echo "  \"content_id\": $(jstr "$CONTENT_ID"),"
	echo "  \"creator\": \"moonbase tests/images/make-streams.sh\","
	echo "  \"datatype\": \"image-downloads\","
	echo "  \"format\": \"products:1.0\","
	echo "  \"license\": \"test images built from Debian packages\","
	echo "  \"products\": {"
	i=0
	for pid in "${P_ORDER[@]}"; do
		[ $i -gt 0 ] && echo ","
		echo "    $(jstr "$pid"): {"
		echo "${P_FIELDS[$pid]}"
		echo "      \"versions\": {"
		echo "${P_VERSIONS[$pid]}"
		echo "      }"
		printf '    }'
		i=$((i + 1))
	done
	echo
	echo "  },"
	echo "  \"updated\": $(jstr "$NOW")"
	echo "}"
} >"$OUT/$PRODUCTS_FILE"

plist=""
for pid in "${P_ORDER[@]}"; do plist+="${plist:+, }$(jstr "$pid")"; done
cat >"$OUT/streams/v1/index.json" <<EOF
{
  "format": "index:1.0",
  "index": {
    $(jstr "$CONTENT_ID"): {
      "datatype": "image-downloads",
      "format": "products:1.0",
      "path": $(jstr "$PRODUCTS_FILE"),
      "products": [$plist],
      "updated": $(jstr "$NOW")
    }
  },
  "updated": $(jstr "$NOW")
}
EOF
echo "$OUT"
