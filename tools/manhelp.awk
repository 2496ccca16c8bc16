# manhelp.awk: silo(1), as groff renders it in plain text, into the C
# header silo's help prints (silo-help.h, made by the build, never
# committed), so that the manual is the one source of `silo --help` and
# `silo help CMD`.
#
# It keeps three parts of the page: SYNOPSIS (silo --help), ENVIRONMENT
# (which silo help config adds) and each subsection of COMMANDS, named by
# its heading's first word (silo help CMD), with the subsection's indent
# taken off.  In the rendering a section heading is a line at column 0
# and a subsection heading a line indented by three spaces; groff is run
# without hyphenation, so an option is never split across lines.  A part
# that is missing stops the build: a page reshaped by mistake breaks the
# build, not the help.

# The text of one line as a C string literal, its newline included.
function cstr(s) {
	gsub(/\\/, "\\\\", s)
	gsub(/"/, "\\\"", s)
	return "\"" s "\\n\""
}

# The part that collects the lines that follow, and its heading.
function begin(name, heading) {
	part = name
	nlines[part] = 0
	add(heading)
}

function add(s) {
	lines[part, ++nlines[part]] = s
}

# A part as the body of a C initializer, trailing blank lines dropped.
function emit(name,	n, i, s) {
	n = nlines[name]
	while (n > 0 && lines[name, n] == "")
		n--
	s = ""
	for (i = 1; i <= n; i++)
		s = s (i > 1 ? "\n" : "") cstr(lines[name, i])
	return s
}

BEGIN {
	part = ""
	ncommands = 0
}

/^[^ ]/ {
	section = $0
	if (section == "SYNOPSIS")
		begin("synopsis", $0)
	else if (section == "ENVIRONMENT")
		begin("environment", $0)
	else
		part = ""
	next
}

section == "COMMANDS" && /^   [^ ]/ {
	name = $1
	sub(/:$/, "", name)
	commands[++ncommands] = name
	begin("command " name, substr($0, 4))
	next
}

part != "" {
	if (part ~ /^command / && substr($0, 1, 3) == "   ")
		add(substr($0, 4))
	else
		add($0)
}

END {
	if (nlines["synopsis"] == 0 || nlines["environment"] == 0 ||
	    ncommands == 0) {
		print "manhelp.awk: no SYNOPSIS, ENVIRONMENT or COMMANDS " \
		    "subsection in the rendered page" > "/dev/stderr"
		exit 1
	}
	print "/* Generated from docs/silo.1 by tools/manhelp.awk: " \
	    "do not edit. */"
	print ""
	print "static const char help_synopsis[] ="
	print emit("synopsis") ";"
	print ""
	print "static const char help_environment[] ="
	print emit("environment") ";"
	print ""
	print "static const struct help_page help_pages[] = {"
	for (i = 1; i <= ncommands; i++)
		print "\t{ \"" commands[i] "\",\n" \
		    emit("command " commands[i]) " },"
	print "};"
}
