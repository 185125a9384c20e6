# write_files.sh — cloud-init's write_files module for the moonbase tiny
# image (sourced).  write_files DIR DEFERRED: writes the entries of the
# flattened user-data in DIR whose "defer" is DEFERRED (yes or no).
write_files() {
	local d="$1" want="$2" i n e path enc perms owner tmp def
	i=0; n=$(ylen "$d" write_files)
	while [ "$i" -lt "$n" ]; do
		e="write_files.$i"; i=$((i + 1))
		path=$(yget "$d" "$e.path" 2>/dev/null || true)
		[ -n "$path" ] || continue
		def=no; ytrue "$(yget "$d" "$e.defer" 2>/dev/null)" && def=yes
		[ "$def" = "$want" ] || continue
		enc=$(yget "$d" "$e.encoding" 2>/dev/null || true)
		perms=$(yget "$d" "$e.permissions" 2>/dev/null || echo 0644)
		owner=$(yget "$d" "$e.owner" 2>/dev/null || echo root:root)
		mkdir -p "$(dirname "$path")"
		tmp="$path.moonbase-tiny.$$"
		case "$enc" in
		b64|base64) yget "$d" "$e.content" | base64 -d >"$tmp" ;;
		gz|gzip) yget "$d" "$e.content" | gunzip -c >"$tmp" ;;
		gz+b64|gz+base64|gzip+b64|gzip+base64) yget "$d" "$e.content" | base64 -d | gunzip -c >"$tmp" ;;
		*) yget "$d" "$e.content" >"$tmp" 2>/dev/null || : >"$tmp" ;;
		esac
		if ytrue "$(yget "$d" "$e.append" 2>/dev/null)"; then
			cat "$tmp" >>"$path"; rm -f "$tmp"
		else
			mv "$tmp" "$path"
		fi
		chmod "$perms" "$path" || true
		chown "$owner" "$path" 2>/dev/null || say "WARNING: write_files: cannot chown $path to $owner"
		say "wrote $path"
	done
}
