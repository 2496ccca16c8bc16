#!/bin/sh
# The integration suite as one automake TAP test: every pytest case is one
# TAP line.  Run by `make check` (which exports SILO_BIN and SILO_SRCDIR) or
# by hand from the repository root.  Skips, saying why, when the stack
# (`tools/stack install`) is not there; with CI=true that is a failure.
set -u

# Skip the whole suite, saying why; in CI (CI=true) a missing piece is a
# failure instead, with the same reason.
skip() {
	if [ "$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]')" = true ]; then
		echo "Bail out! $1 (CI=true: a skipped suite is a failure)"
		exit 1
	fi
	echo "1..0 # SKIP $1"
	exit 0
}

here=$(cd "$(dirname "$0")" && pwd)
srcdir=${SILO_SRCDIR:-$(cd "$here/../.." && pwd)}
SILO_SRCDIR=$srcdir
export SILO_SRCDIR

# tools/stack test exports these; otherwise ask the stack what is installed.
if [ -z "${SILO_STACK_PYTHON:-}" ] || [ -z "${SILO_FERRETDB:-}" ]; then
	paths=$(python3 "$srcdir/tools/stack_install.py" paths 2>/dev/null) ||
	    paths=
	eval "$(printf '%s\n' "$paths" | sed -n \
	    -e 's/^\(SILO_STACK_PYTHON\)=\(.*\)$/: "${\1:=\2}"/p' \
	    -e 's/^\(SILO_FERRETDB\)=\(.*\)$/: "${\1:=\2}"/p' \
	    -e 's/^\(SILO_CADDY\)=\(.*\)$/: "${\1:=\2}"/p')"
fi
if [ -z "${SILO_STACK_PYTHON:-}" ] || [ ! -x "${SILO_STACK_PYTHON}" ] ||
   [ -z "${SILO_FERRETDB:-}" ] || [ ! -x "${SILO_FERRETDB}" ] ||
   ! command -v "${SILO_CADDY:-caddy}" >/dev/null 2>&1; then
	skip "stack not installed: run tools/stack install"
fi
export SILO_STACK_PYTHON SILO_FERRETDB
[ -n "${SILO_CADDY:-}" ] && export SILO_CADDY

if [ -z "${SILO_BIN:-}" ]; then
	for b in "$srcdir/build/check/silo" "$srcdir/build/silo" \
	    "$srcdir/build/demo/silo" "$srcdir/silo"; do
		if [ -x "$b" ]; then SILO_BIN=$b; break; fi
	done
fi
if [ -z "${SILO_BIN:-}" ] || [ ! -x "$SILO_BIN" ]; then
	skip "silo is not built (set SILO_BIN)"
fi
export SILO_BIN

cd "$srcdir" || exit 99
# --capture=no: the servers' log tails that conftest.py prints to stderr
# when something failed reach this test's log; stdout stays TAP.
"$SILO_STACK_PYTHON" -m pytest -p no:cacheprovider --capture=no \
    --tap-stream "$srcdir/tests/integration"
rc=$?
# 1: some tests failed, which the TAP lines already say; anything else
# (usage error, internal error, no tests) is an error of the run itself.
case $rc in
0|1) exit 0 ;;
*) echo "Bail out! pytest exited with status $rc"; exit "$rc" ;;
esac
