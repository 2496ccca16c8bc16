"""After every other test: the silo under test was built with ASan and
UBSan, and no silo process of the suite reported anything.

Sanitizer reports go to a process's stderr, so every silo the suite
starts -- the shared stack's, and each one a test starts for itself --
writes its stderr to a file it names with stack.silo_log(), and the
output a test captures from a silo command is kept with
stack.keep_stderr().  This check reads all of them.  It is ordered last
by the run_last marker (conftest.py), so every module fixture's silo has
stopped (a leak report is written at exit); it stops the shared stack's
silo itself for the same reason."""

import re
import subprocess

import pytest

pytestmark = pytest.mark.run_last

REPORT = re.compile(r"ERROR: (Address|Leak|Undefined)Sanitizer|"
                    r"runtime error:|SUMMARY: \w+Sanitizer")
# The first line stack_process's Service writes to a log it starts a process on.
SERVICE_HEADER = re.compile(r"--- \d\d:\d\d:\d\d starting: (\S+)")


def symbols(binary):
    """Every symbol name in binary's static and dynamic symbol tables."""
    names = set()
    for argv in (["nm", binary], ["nm", "-D", binary]):
        r = subprocess.run(argv, capture_output=True, text=True)
        names.update(ln.split()[-1] for ln in r.stdout.splitlines()
                     if ln.strip())
    return names


def test_binary_has_asan_and_ubsan(stack):
    names = symbols(str(stack.silo_bin))
    assert "__asan_init" in names, \
        f"{stack.silo_bin} is not built with AddressSanitizer"
    assert any(n.startswith("__ubsan_handle_") for n in names), \
        f"{stack.silo_bin} is not built with UndefinedBehaviorSanitizer"
    # The ASan runtime really starts in this binary and reports on stderr,
    # where the silo logs below are collected.
    r = subprocess.run([str(stack.silo_bin), "--version"],
                       env={"ASAN_OPTIONS": "help=1"},
                       capture_output=True, text=True)
    assert r.returncode == 0, r
    assert "Available flags for AddressSanitizer" in r.stderr, r.stderr


def unregistered_silo_logs(stack):
    """Logs under the stack's root that the stack started a silo on but no
    test named with stack.silo_log()."""
    found = []
    for log in stack.root.rglob("*.log"):
        with open(log, errors="replace") as f:
            m = SERVICE_HEADER.match(f.readline())
        if m and m.group(1) == str(stack.silo_bin) and \
                log not in stack.silo_logs:
            found.append(log)
    return found


def test_no_sanitizer_reports(stack):
    rc = stack.silo.stop()
    assert rc == 0, f"the shared silo exited with {rc}:\n{stack.silo.tail()}"
    assert not unregistered_silo_logs(stack), \
        "silo logs no test named with stack.silo_log()"
    read = 0
    for log in stack.silo_logs:
        if not log.exists():    # named, but its test failed before
            continue
        text = log.read_text(errors="replace")
        hits = [ln for ln in text.splitlines() if REPORT.search(ln)]
        assert not hits, f"{log}:\n" + "\n".join(hits[:20])
        read += 1
    assert read > 0, "no silo log to read"
