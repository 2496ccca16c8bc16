#!/bin/sh
# The dashboard browser check as two automake TAP tests.
#
# 1. check_dashboard.py renders www/ (the dashboard and the sign-in page)
#    in headless Chromium under the production CSP (any violation fails),
#    against fixture API answers (healthy, one endpoint failing, degraded,
#    all down, a viewer, signed out), checks the DOM, the themes, sorting,
#    polling, sign-in, the admin actions and the user search, and takes
#    screenshots.
# 2. check_dashboard.py --live: sign-in, a wrong password, TOTP, sign-out,
#    an expired session, a viewer and the user search against the real
#    stack (FerretDB, silo, Caddy), with the stack's Python (pymongo).
#
# Each one's many checks are one test case here: it works or it does not.
# Skips, saying why, when Chromium (or, for 2, the stack or silo) is not
# installed (tools/stack install puts them there); with CI=true a skip
# is a failure.
set -u
srcdir=${SILO_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}

in_ci() {
	[ "$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]')" = true ]
}

if [ ! -x /usr/bin/chromium ]; then
	why="chromium not installed: run tools/stack install"
	if in_ci; then
		echo "Bail out! $why (CI=true: a skipped test is a failure)"
		exit 1
	fi
	echo "1..0 # SKIP $why"
	exit 0
fi
echo "1..2"

# run N NAME ARGS...: one check_dashboard.py run as TAP test N, with the
# Python in $python; its log (and any screenshots) kept only when it
# failed.
run() {
	n=$1 name=$2
	shift 2
	out=$(mktemp -d "${TMPDIR:-/tmp}/silo-dashboard-XXXXXX")
	if "$python" "$srcdir/tests/browser/check_dashboard.py" --out "$out" \
	    "$@" --chromium /usr/bin/chromium > "$out/check.log" 2>&1; then
		echo "ok $n - $name ($(sed -n 's/^\([0-9]*\) passed, 0 failed$/\1 checks/p' "$out/check.log"))"
		rm -rf "$out"
	else
		sed 's/^/# /' "$out/check.log"
		echo "not ok $n - $name: $(grep -c '^  FAIL' "$out/check.log") checks failed; log in $out"
	fi
}

python=python3
run 1 "dashboard renders and behaves"

# The live part needs the stack: tools/stack test exports these;
# otherwise ask the stack what is installed.
if [ -z "${SILO_STACK_PYTHON:-}" ] || [ -z "${SILO_FERRETDB:-}" ]; then
	paths=$(python3 "$srcdir/tools/stack_install.py" paths 2>/dev/null) ||
	    paths=
	eval "$(printf '%s\n' "$paths" | sed -n \
	    -e 's/^\(SILO_STACK_PYTHON\)=\(.*\)$/: "${\1:=\2}"/p' \
	    -e 's/^\(SILO_FERRETDB\)=\(.*\)$/: "${\1:=\2}"/p' \
	    -e 's/^\(SILO_CADDY\)=\(.*\)$/: "${\1:=\2}"/p')"
fi
why=
if [ -z "${SILO_STACK_PYTHON:-}" ] || [ ! -x "${SILO_STACK_PYTHON}" ] ||
   [ -z "${SILO_FERRETDB:-}" ] || [ ! -x "${SILO_FERRETDB}" ] ||
   ! command -v "${SILO_CADDY:-caddy}" >/dev/null 2>&1; then
	why="stack not installed: run tools/stack install"
elif [ -z "${SILO_BIN:-}" ] || [ ! -x "${SILO_BIN}" ]; then
	why="silo is not built (set SILO_BIN)"
fi
if [ -n "$why" ]; then
	if in_ci; then
		echo "not ok 2 - sign-in against the real stack: $why (CI=true: a skipped test is a failure)"
	else
		echo "ok 2 # SKIP $why"
	fi
	exit 0
fi
export SILO_FERRETDB
[ -n "${SILO_CADDY:-}" ] && export SILO_CADDY
python=$SILO_STACK_PYTHON
run 2 "sign-in against the real stack" --live "$SILO_BIN"
exit 0
