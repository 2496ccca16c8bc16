"""Last: nothing silo printed during the session is a sanitizer report."""

import re

REPORT = re.compile(r"ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:")


def test_no_sanitizer_reports(stack):
    for log in stack.root.glob("silo*.log"):
        text = log.read_text(errors="replace")
        hits = [ln for ln in text.splitlines() if REPORT.search(ln)]
        assert not hits, f"{log}:\n" + "\n".join(hits[:20])
