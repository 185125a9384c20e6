# builder.sh — sourced by the Debian image builders (debian-base.sh,
# build-debian.sh); needs CACHE, log and die.

# need_host_pkgs PKG...: installs the host packages the builder runs that
# are missing (the package lists fetched first when there are none)
need_host_pkgs() {
	local p need=()
	for p in "$@"; do
		dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
	done
	if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
		apt-get update -qq >&2
	fi
	if [ ${#need[@]} -gt 0 ]; then
		log "installing ${need[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
	fi
}

# work_dir NAME: the builder's work directory in the image cache (sets WORK;
# NAME is the builder's, for messages), removed when the builder exits,
# after unmounting (deepest first) what an interrupted chroot step may have
# left mounted inside; kept, with a message, if something stays mounted.
work_dir() {
	WORK_OWNER=$1
	WORK=$(mktemp -d "$CACHE/.$1.XXXXXX")
	[ -n "$WORK" ] && [ -d "$WORK" ] || die "cannot make a work directory in $CACHE"
	trap work_cleanup EXIT
}

work_cleanup() {
	local m
	for m in $(awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	if awk -v w="$WORK/" 'index($2, w) == 1 { f = 1 } END { exit !f }' /proc/mounts; then
		echo "$WORK_OWNER: not removing $WORK: something is still mounted in it" >&2
		return
	fi
	rm -rf --one-file-system "$WORK"
}
