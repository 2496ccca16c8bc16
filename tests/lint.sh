#!/bin/sh
# `make lint` as one automake TAP test: first the checker against its own
# samples (tests/checksrc/), then src/ against the tree's rules, with every
# violation as a diagnostic line.  make check exports SILO_SRCDIR, and
# SILO_LINT_CC, the build's compile command, so that the compiler's
# -Wmissing-prototypes view is part of it; by hand it runs without.
set -u

here=$(cd "$(dirname "$0")" && pwd)
srcdir=${SILO_SRCDIR:-$(cd "$here/.." && pwd)}
checksrc="$srcdir/tools/checksrc.py"

echo "1..2"
if out=$(python3 "$checksrc" --expect "$srcdir/tests/checksrc" 2>&1); then
	echo "ok 1 - checksrc reports exactly the marked lines of its samples"
else
	echo "not ok 1 - checksrc reports exactly the marked lines of its samples"
	printf '%s\n' "$out" | sed 's/^/# /'
fi
if [ -n "${SILO_LINT_CC:-}" ]; then
	out=$(python3 "$checksrc" --cc "$SILO_LINT_CC" "$srcdir/src" 2>&1)
	rc=$?
else
	out=$(python3 "$checksrc" "$srcdir/src" 2>&1)
	rc=$?
fi
if [ "$rc" -eq 0 ]; then
	echo "ok 2 - src/ keeps the tree's rules (make lint)"
else
	echo "not ok 2 - src/ keeps the tree's rules (make lint)"
	printf '%s\n' "$out" | sed 's/^/# /'
fi
exit 0
