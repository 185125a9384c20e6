# yaml.awk — a small YAML-subset reader for the moonbase tiny test image.
#
# Reads one YAML document (cloud-config, NoCloud meta-data, netplan-style
# network-config v2) and flattens it into a directory given as -v out=DIR:
#   DIR/.index     one line per node, in document order: "M path" (mapping),
#                  "L path" (sequence), "S path" (scalar; null is an empty S)
#   DIR/<path>     the exact text of each scalar (no trailing newline added)
# Paths join map keys and list indices with dots: users.0.ssh_authorized_keys.1
# (map keys are sanitised to [A-Za-z0-9_-], anything else becomes "_").
#
# Supported: block maps and sequences (including "key:" followed by a
# sequence at the same indentation, and compact "- key: v" / "- - v" forms),
# plain, 'single' and "double" quoted scalars (also spanning lines), literal
# and folded block scalars (| |- |+ > >- >+ with an optional indentation
# digit), flow collections ([a, b], {k: v}, nested, JSON style), comments,
# "---" document markers, tags like !!str.  Not supported: anchors/aliases,
# multiple documents, complex keys.  Written for busybox awk (POSIX awk only).

function ltrim(s) { sub(/^[ \t]+/, "", s); return s }
function rtrim(s) { sub(/[ \t]+$/, "", s); return s }
function trim(s) { return rtrim(ltrim(s)) }
function indent_of(s,   m) { match(s, /^ */); return RLENGTH }
function spaces(n,   s) { s = ""; while (n-- > 0) s = s " "; return s }
function join(p, k) { return p == "" ? k : p "." k }
function sanitize(k) { gsub(/[^A-Za-z0-9_-]/, "_", k); return k }

function emit(kind, p, v,   f) {
	if (p == "") p = "_"
	print kind " " p >> idx
	close(idx)
	if (kind == "S") {
		f = out "/" p
		printf "%s", v > f
		close(f)
	}
}

# strip a trailing " # comment" from a plain (unquoted) fragment
function strip_comment(s,   i) {
	if (substr(s, 1, 1) == "#") return ""
	i = index(s, " #"); if (i == 0) i = index(s, "\t#")
	if (i > 0) s = substr(s, 1, i - 1)
	return rtrim(s)
}

# skip a leading tag (!!str, !foo) and anchor (&name)
function strip_props(s) {
	while (s ~ /^(!|&)[^ \t]*/) {
		sub(/^(!|&)[^ \t]*[ \t]*/, "", s)
	}
	return s
}

function is_blank_or_comment(s,   t) {
	t = ltrim(s)
	return t == "" || substr(t, 1, 1) == "#"
}

# advance ln to the next line with content; return its indent or -1 at EOF
function next_content() {
	while (ln <= n) {
		if (is_blank_or_comment(L[ln]) || L[ln] ~ /^(---|\.\.\.)([ \t]|$)/) {
			if (L[ln] ~ /^--- +[^ #]/) {   # "--- value" on the marker line
				L[ln] = substr(L[ln], 5)
				continue
			}
			ln++
			continue
		}
		return indent_of(L[ln])
	}
	return -1
}

# position (1-based) of the ":" ending a mapping key in t, or 0
function key_colon(t,   c, q, i, ch, t2, j) {
	c = substr(t, 1, 1)
	if (c == "\"" || c == "'") {
		q = c
		for (i = 2; i <= length(t); i++) {
			ch = substr(t, i, 1)
			if (q == "\"" && ch == "\\") { i++; continue }
			if (ch == q) {
				if (q == "'" && substr(t, i + 1, 1) == "'") { i++; continue }
				break
			}
		}
		t2 = substr(t, i + 1)
		if (!match(t2, /^[ \t]*:/)) return 0
		j = i + RLENGTH
		if (substr(t, j + 1, 1) ~ /^([ \t]|)$/) return j
		return 0
	}
	if (c == "-" && (length(t) == 1 || substr(t, 2, 1) == " ")) return 0
	if (index("[{#|>%@`", c) > 0) return 0
	if (match(t, /:([ \t]|$)/)) return RSTART
	return 0
}

function unquote_key(k,   c) {
	k = trim(k)
	c = substr(k, 1, 1)
	if (c == "\"") return dq_unescape(substr(k, 2, length(k) - 2))
	if (c == "'") { k = substr(k, 2, length(k) - 2); gsub(/''/, "'", k); return k }
	return k
}

function dq_unescape(s,   r, i, ch, nx) {
	r = ""
	for (i = 1; i <= length(s); i++) {
		ch = substr(s, i, 1)
		if (ch != "\\") { r = r ch; continue }
		i++; nx = substr(s, i, 1)
		if (nx == "n") r = r "\n"
		else if (nx == "t") r = r "\t"
		else if (nx == "r") r = r "\r"
		else if (nx == "0") r = r ""
		else if (nx == "e") r = r "\033"
		else if (nx == " ") r = r " "
		else if (nx == "/") r = r "/"
		else r = r nx
	}
	return r
}

# a mapping at indentation ind
function parse_map(p, ind,   c, t, kc, key, rest) {
	emit("M", p)
	while (1) {
		c = next_content()
		if (c != ind) break
		t = substr(L[ln], ind + 1)
		kc = key_colon(t)
		if (kc == 0) { if (substr(t, 1, 1) == "-") break; ln++; continue }
		key = sanitize(unquote_key(substr(t, 1, kc - 1)))
		rest = substr(t, kc + 1)
		parse_value(join(p, key), rest, ind)
	}
}

# a sequence whose dashes sit at indentation ind
function parse_seq(p, ind,   c, t, i, rest, col, ip) {
	emit("L", p)
	i = 0
	while (1) {
		c = next_content()
		if (c != ind) break
		t = substr(L[ln], ind + 1)
		if (!(t == "-" || substr(t, 1, 2) == "- ")) break
		ip = join(p, i)
		rest = substr(t, 2)
		col = ind + 1 + indent_of(rest)
		rest = ltrim(rest)
		rest = strip_props(rest)
		if (rest == "" || substr(rest, 1, 1) == "#") {
			parse_value(ip, "", ind)
		} else if (rest == "-" || substr(rest, 1, 2) == "- ") {
			L[ln] = spaces(col) rest
			parse_seq(ip, col)
		} else if (key_colon(rest) > 0) {
			L[ln] = spaces(col) rest
			parse_map(ip, col)
		} else {
			parse_value(ip, rest, ind)
		}
		i++
	}
}

# a node that starts on the current line (after "key:" or "-" with nothing
# else on the line); parent indentation pind
function parse_block(p, pind,   c, t) {
	c = next_content()
	t = substr(L[ln], c + 1)
	if (t == "-" || substr(t, 1, 2) == "- ") parse_seq(p, c)
	else if (key_colon(t) > 0) parse_map(p, c)
	else parse_value(p, t, pind, 1)
}

# the value part "rest" of a line whose key/dash sits at indentation ind.
# own_line=1 when rest is itself a whole line (a scalar on its own line).
function parse_value(p, rest, ind, own_line,   c, t, v) {
	rest = strip_props(ltrim(rest))
	if (rest == "" || substr(rest, 1, 1) == "#") {
		ln++
		c = next_content()
		if (c > ind) { parse_block(p, ind); return }
		if (c == ind) {
			t = substr(L[ln], c + 1)
			if (t == "-" || substr(t, 1, 2) == "- ") { parse_seq(p, c); return }
		}
		emit("S", p, "")
		return
	}
	c = substr(rest, 1, 1)
	if (c == "|" || c == ">") { parse_block_scalar(p, rest, ind); return }
	if (c == "[" || c == "{") { parse_flow_lines(p, rest, ind); return }
	if (c == "\"" || c == "'") { parse_quoted_lines(p, rest, ind); return }
	# plain scalar, possibly continued on more-indented lines
	v = strip_comment(rest)
	ln++
	while (ln <= n) {
		if (ltrim(L[ln]) == "") {
			# blank lines inside a multi-line plain scalar become newlines
			t = ln; while (t <= n && ltrim(L[t]) == "") t++
			if (t <= n && indent_of(L[t]) > ind && substr(ltrim(L[t]), 1, 1) != "#") {
				while (ln < t) { v = v "\n"; ln++ }
				continue
			}
			break
		}
		if (indent_of(L[ln]) <= ind) break
		t = trim(L[ln])
		if (substr(t, 1, 1) == "#") break
		t = strip_comment(t)
		v = (v ~ /\n$/) ? v t : v " " t
		ln++
	}
	emit("S", p, v)
}

function parse_block_scalar(p, head, ind,   style, chomp, explicit, i, ch, bi, v, line, lines, nl, k, prev_more, more) {
	style = substr(head, 1, 1)
	chomp = "clip"; explicit = 0
	head = strip_comment(head)
	for (i = 2; i <= length(head); i++) {
		ch = substr(head, i, 1)
		if (ch == "-") chomp = "strip"
		else if (ch == "+") chomp = "keep"
		else if (ch ~ /[1-9]/) explicit = ch + 0
	}
	ln++
	nl = 0; bi = explicit ? ind + explicit : -1
	while (ln <= n) {
		line = L[ln]
		if (ltrim(line) == "") { lines[++nl] = ""; ln++; continue }
		k = indent_of(line)
		if (bi < 0) { if (k <= ind) break; bi = k }
		if (k < bi) break
		lines[++nl] = substr(line, bi + 1)
		ln++
	}
	# trailing blank lines: kept only with "+"
	k = nl
	while (k > 0 && lines[k] == "") k--
	v = ""
	if (style == "|") {
		for (i = 1; i <= k; i++) v = v lines[i] (i < k ? "\n" : "")
	} else {
		for (i = 1; i <= k; i++) {
			more = (substr(lines[i], 1, 1) ~ /[ \t]/)
			if (i == 1) v = lines[i]
			else if (lines[i] == "") v = v "\n"
			else if (lines[i - 1] == "") v = v lines[i]
			else if (more || prev_more) v = v "\n" lines[i]
			else v = v " " lines[i]
			prev_more = more
		}
	}
	if (k > 0) {
		if (chomp == "clip") v = v "\n"
		else if (chomp == "keep") { v = v "\n"; for (i = k + 1; i <= nl; i++) v = v "\n" }
	}
	emit("S", p, v)
}

# a quoted scalar starting at rest, maybe continued on later lines
function parse_quoted_lines(p, rest, ind,   q, s, i, ch, done, v, more) {
	q = substr(rest, 1, 1)
	s = substr(rest, 2)
	v = ""
	while (1) {
		done = 0
		for (i = 1; i <= length(s); i++) {
			ch = substr(s, i, 1)
			if (q == "\"" && ch == "\\") {
				if (i == length(s)) { s = substr(s, 1, i - 1) "\001"; break }
				i++; continue
			}
			if (ch == q) {
				if (q == "'" && substr(s, i + 1, 1) == "'") { i++; continue }
				done = 1; break
			}
		}
		if (done) { v = v substr(s, 1, i - 1); break }
		v = v s
		ln++
		if (ln > n) break
		more = trim(L[ln])
		if (more == "") { v = v "\n"; s = ""; continue }   # blank line: newline
		if (v ~ /\001$/) { sub(/\001$/, "", v); s = more }  # escaped line break
		else { if (v !~ /\n$/) { sub(/[ \t]+$/, "", v); v = v " " }; s = more }
	}
	if (q == "'") gsub(/''/, "'", v)
	else v = dq_unescape(v)
	ln++
	emit("S", p, v)
}

# flow collection: gather lines until brackets balance, then parse
function parse_flow_lines(p, rest, ind,   s, depth, i, ch, q, done) {
	s = rest; depth = 0; q = ""; done = 0
	while (1) {
		for (i = 1; i <= length(s); i++) {
			ch = substr(s, i, 1)
			if (q != "") {
				if (q == "\"" && ch == "\\") { i++; continue }
				if (ch == q) q = ""
				continue
			}
			if (ch == "\"" || ch == "'") q = ch
			else if (ch == "[" || ch == "{") depth++
			else if (ch == "]" || ch == "}") { depth--; if (depth == 0) { done = 1; break } }
			else if (ch == "#" && (i == 1 || substr(s, i - 1, 1) ~ /[ \t]/)) { s = substr(s, 1, i - 1); break }
		}
		if (done || ln >= n) break
		ln++
		s = s " " trim(L[ln])
	}
	ln++
	FS_ = s; FP = 1
	flow_node(p)
}

function fskip() { while (FP <= length(FS_) && substr(FS_, FP, 1) ~ /[ \t]/) FP++ }
function fpeek() { fskip(); return substr(FS_, FP, 1) }

function flow_scalar(stop,   c, q, v, ch) {
	c = fpeek()
	if (c == "\"" || c == "'") {
		q = c; FP++; v = ""
		while (FP <= length(FS_)) {
			ch = substr(FS_, FP, 1)
			if (q == "\"" && ch == "\\") { v = v ch substr(FS_, FP + 1, 1); FP += 2; continue }
			if (ch == q) {
				if (q == "'" && substr(FS_, FP + 1, 1) == "'") { v = v "''"; FP += 2; continue }
				FP++; break
			}
			v = v ch; FP++
		}
		if (q == "'") gsub(/''/, "'", v); else v = dq_unescape(v)
		return v
	}
	v = ""
	while (FP <= length(FS_)) {
		ch = substr(FS_, FP, 1)
		if (index(stop, ch) > 0) break
		if (ch == ":" && index(stop, ":") > 0) break
		v = v ch; FP++
	}
	return trim(v)
}

function flow_node(p,   c, i, k) {
	c = fpeek()
	if (c == "[") {
		emit("L", p); FP++; i = 0
		while (1) {
			c = fpeek()
			if (c == "]") { FP++; break }
			if (c == "") break
			if (c == ",") { FP++; continue }
			flow_node(join(p, i)); i++
		}
		return
	}
	if (c == "{") {
		emit("M", p); FP++
		while (1) {
			c = fpeek()
			if (c == "}") { FP++; break }
			if (c == "") break
			if (c == ",") { FP++; continue }
			k = flow_key()
			c = fpeek()
			if (c == ":") { FP++; flow_node(join(p, sanitize(k))) }
			else emit("S", join(p, sanitize(k)), "")
		}
		return
	}
	emit("S", p, strip_props(flow_scalar(",]}")))
}

function flow_key(   c, v, ch) {
	c = fpeek()
	if (c == "\"" || c == "'") return flow_scalar(",]}:")
	v = ""
	while (FP <= length(FS_)) {
		ch = substr(FS_, FP, 1)
		if (ch == "," || ch == "}" || ch == "]") break
		if (ch == ":" && (FP == length(FS_) || index(" \t,]}", substr(FS_, FP + 1, 1)) > 0)) break
		v = v ch; FP++
	}
	return trim(v)
}

{ sub(/\r$/, ""); L[++n] = $0 }

END {
	idx = out "/.index"
	printf "" > idx; close(idx)
	ln = 1
	c = next_content()
	if (c < 0) exit 0
	t = substr(L[ln], c + 1)
	if (t == "-" || substr(t, 1, 2) == "- ") parse_seq("", c)
	else if (key_colon(t) > 0) parse_map("", c)
	else parse_value("", t, -1, 1)
}
