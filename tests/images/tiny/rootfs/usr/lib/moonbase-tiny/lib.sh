# lib.sh — shell helpers shared by the moonbase tiny image's boot scripts
# (sourced by busybox ash).  The YAML helpers read the flattened tree that
# yaml.awk writes: DIR/.index lists "KIND path" lines, DIR/<path> holds
# each scalar's text.

MB_LIB=/usr/lib/moonbase-tiny
MB_RUN=/run/moonbase-tiny

# in_container — true in a container (LXD/LXC set container= in init's
# environment, as systemd-detect-virt reads it): no block devices, no power
# button, NICs without a device
in_container() {
	tr '\0' '\n' </proc/1/environ 2>/dev/null | grep -q '^container='
}

# say MSG... — a clear progress line on the console and in the boot log
say() {
	echo "moonbase-tiny: $*" >/dev/console 2>/dev/null || echo "moonbase-tiny: $*"
	echo "$(cut -d' ' -f1 /proc/uptime) $*" >>/var/log/moonbase-tiny.log 2>/dev/null || true
}

# yparse FILE DIR — flatten a YAML file into DIR
yparse() {
	rm -rf "$2"
	mkdir -p "$2"
	: >"$2/.index"
	[ -f "$1" ] || return 0
	awk -v out="$2" -f "$MB_LIB/yaml.awk" "$1"
}

# yre PATH — PATH as a basic regular expression
yre() { printf '%s' "$1" | sed 's/\./\\./g'; }

# yhas DIR PATH — is there a node at PATH
yhas() { grep -q "^[MLS] $(yre "$2")\$" "$1/.index"; }

# ytype DIR PATH — prints M, L or S (nothing if absent)
ytype() { sed -n "s/^\([MLS]\) $(yre "$2")\$/\1/p" "$1/.index" | head -n 1; }

# yget DIR PATH — the scalar at PATH (fails if there is none)
yget() { [ -f "$1/$2" ] && cat "$1/$2"; }

# ylen DIR PATH — number of items of the list at PATH (0 if absent)
ylen() { grep -c "^[MLS] $(yre "$2")\.[0-9][0-9]*\$" "$1/.index" || true; }

# ykeys DIR PATH — the keys of the map at PATH, one a line ("" = top level)
ykeys() {
	if [ -z "$2" ]; then
		sed -n 's/^[MLS] \([^.]*\)$/\1/p' "$1/.index" | grep -v '^_$' || true
	else
		sed -n "s/^[MLS] $(yre "$2")\.\([^.]*\)\$/\1/p" "$1/.index"
	fi
}

# ywords DIR PATH — items of a list of scalars, or a comma separated scalar,
# one a line
ywords() {
	local i n
	case "$(ytype "$1" "$2")" in
	L)	i=0; n=$(ylen "$1" "$2")
		while [ "$i" -lt "$n" ]; do yget "$1" "$2.$i"; echo; i=$((i + 1)); done ;;
	S)	yget "$1" "$2" | tr ',' '\n' | sed 's/^[ \t]*//; s/[ \t]*$//' | grep -v '^$' || true ;;
	esac
}

# ytrue VALUE — YAML 1.1 truth as cloud-init reads it
ytrue() {
	case "$1" in
	true|True|TRUE|yes|Yes|YES|on|On|ON|y|Y|1) return 0 ;;
	*) return 1 ;;
	esac
}

# shquote STRING — single-quote a string for sh
shquote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# ycmd DIR PATH — a cloud-config command (string: a shell line; list: argv)
# as one sh command line
ycmd() {
	local _i _n _line
	case "$(ytype "$1" "$2")" in
	S) yget "$1" "$2" ;;
	L)	_i=0; _n=$(ylen "$1" "$2"); _line=""
		while [ "$_i" -lt "$_n" ]; do
			_line="$_line${_line:+ }$(shquote "$(yget "$1" "$2.$_i")")"
			_i=$((_i + 1))
		done
		printf '%s' "$_line" ;;
	esac
}
