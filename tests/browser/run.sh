#!/bin/sh
# The dashboard browser check as one automake TAP test.  check_dashboard.py
# renders www/index.html in headless Chromium under the production CSP
# (any violation fails), against fixture API answers (healthy, one
# endpoint failing, degraded, all down), checks the DOM, the themes,
# sorting and polling, and takes screenshots.  Its many checks are one test case here: the page works or
# it does not.  Skips, saying why, when Chromium is not installed
# (tools/stack install puts it there); with CI=true that is a failure.
set -u
srcdir=${SILO_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
if [ ! -x /usr/bin/chromium ]; then
	why="chromium not installed: run tools/stack install"
	if [ "$(printf '%s' "${CI:-}" | tr '[:upper:]' '[:lower:]')" = true ]; then
		echo "Bail out! $why (CI=true: a skipped test is a failure)"
		exit 1
	fi
	echo "1..0 # SKIP $why"
	exit 0
fi
echo "1..1"
out=$(mktemp -d "${TMPDIR:-/tmp}/silo-dashboard-XXXXXX")
if python3 "$srcdir/tests/browser/check_dashboard.py" --out "$out" \
    --chromium /usr/bin/chromium > "$out/check.log" 2>&1; then
	echo "ok 1 - dashboard renders and behaves ($(sed -n 's/^\([0-9]*\) passed, 0 failed$/\1 checks/p' "$out/check.log"))"
	rm -rf "$out"
else
	sed 's/^/# /' "$out/check.log"
	echo "not ok 1 - dashboard: $(grep -c '^  FAIL' "$out/check.log") checks failed; screenshots in $out"
fi
exit 0
