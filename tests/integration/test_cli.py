"""The command line: silo(1) is the one source of `silo --help` and
`silo help CMD`, getopt_long reads every command's options, and every bad
usage is one line on stderr naming what was wrong, with exit status 2.

The expected help is rendered here from docs/silo.1 with groff and split
by this file, not by the build's tools/manhelp.awk, so a page the
extractor misreads fails.  Only the binary runs; no server is needed.
"""

import os
import re
import shutil
import subprocess

import pytest

from conftest import SRCDIR, silo_binary

MAN = SRCDIR / "docs" / "silo.1"

# Every command silo dispatches, in the manual's order.
COMMANDS = ["serve", "config", "import", "sync", "storage", "backup",
            "user", "token", "atproto", "version", "help"]

POINTER = "\nsilo help COMMAND prints a command's part of silo(1).\n"


def silo(*args, env=None, stdin=subprocess.DEVNULL):
    """Run silo with no configuration but env; (status, stdout, stderr)."""
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("SILO_", "MONGODB_", "SPACES_"))}
    e["SILO_ENV_FILE"] = "/dev/null"
    e.update(env or {})
    r = subprocess.run([str(silo_binary()), *args], env=e, stdin=stdin,
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def groff():
    path = shutil.which("groff")
    assert path, "groff is not installed: run tools/stack install"
    return path


@pytest.fixture(scope="module")
def page():
    """The manual as plain text: {section: text} for each section, and
    {command: text} for each subsection of COMMANDS, its indent taken
    off, as `silo help` is to print them."""
    r = subprocess.run(
        [groff(), "-mdoc", "-Tascii", "-P-cbou", "-rHY=0", "-rcR=1"],
        input=".nr doc-hyphen-flags 0\n" + MAN.read_text(),
        capture_output=True, text=True, check=True)
    parts, name, section = {}, None, None
    for line in r.stdout.splitlines():
        if re.match(r"\S", line):
            section = name = line
            parts[name] = [line]
        elif section == "COMMANDS" and re.match(r"   \S", line):
            name = line.split()[0].rstrip(":")
            parts[name] = [line[3:]]
        elif name in COMMANDS:
            parts[name].append(line[3:] if line.startswith("   ")
                               else line)
        elif name is not None:
            parts[name].append(line)
    return {k: "\n".join(v).rstrip("\n") + "\n" for k, v in parts.items()}


def mdoc_section(name):
    """The source lines of one .Sh section of docs/silo.1."""
    lines = MAN.read_text().splitlines()
    start = lines.index(f".Sh {name}")
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].startswith(".Sh ")), len(lines))
    return lines[start + 1:end]


def test_manual_has_a_section_for_every_command():
    names = [line.split()[1].rstrip(":")
             for line in mdoc_section("COMMANDS") if line.startswith(".Ss ")]
    assert names == COMMANDS


def test_manual_lints_clean():
    r = subprocess.run([groff(), "-mdoc", "-ww", "-z", str(MAN)],
                       capture_output=True, text=True)
    assert (r.returncode, r.stderr) == (0, "")


def test_manual_documents_every_variable():
    status, out, err = silo("config", "check",
                            env={"MONGODB_CONNECTION_STRING":
                                 "mongodb://127.0.0.1:1"})
    assert status == 0, err
    names = re.findall(r"^([A-Z][A-Z0-9_]+)=", out, re.M)
    assert len(names) >= 30, out
    documented = set()
    for line in mdoc_section("ENVIRONMENT"):
        if line.startswith(".It Ev "):
            documented |= set(re.findall(r"[A-Z][A-Z0-9_]+", line[7:]))
    assert sorted(set(names) - documented) == []


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"]])
def test_help_is_the_synopsis(page, args):
    status, out, err = silo(*args)
    assert (status, err) == (0, "")
    assert out == page["SYNOPSIS"] + POINTER
    assert out.startswith("SYNOPSIS\n     silo [--env-file file] serve ")
    assert len(out.splitlines()) < 2 * len(COMMANDS)   # a line or two each


def test_no_command_prints_the_synopsis_as_an_error(page):
    assert silo() == (2, "", page["SYNOPSIS"] + POINTER)


def expected_help(page, command):
    text = page[command]
    if command == "config":
        text += "\n" + page["ENVIRONMENT"]
    return text


@pytest.mark.parametrize("command", COMMANDS)
def test_help_command_prints_its_section(page, command):
    status, out, err = silo("help", command)
    assert (status, err) == (0, "")
    want = expected_help(page, command)
    if command == "serve":
        head, sep, endpoints = out.partition("\nENDPOINTS\n")
        assert (head, sep) == (want, "\nENDPOINTS\n")
        # One route per line with its access, then its summary.
        assert re.fullmatch(r"(    [A-Z]+ /\S+  \([a-z:-]+\)\n"
                            r"        \S[^\n]*\n)+", endpoints), endpoints
    else:
        assert out == want
    assert re.match(rf"{command}( [a-z]+)?: \S", out), out


@pytest.mark.parametrize("args", [
    ["serve", "--help"], ["serve", "-h"],
    ["config", "--help"], ["config", "check", "-h"],
    ["import", "--help"], ["import", "DIR", "-h"],
    ["storage", "-h"], ["storage", "refresh", "--help"],
    ["backup", "-h"], ["backup", "run", "--help"], ["backup", "fetch", "-h"],
    ["backup", "verify", "-h"], ["backup", "restore", "x", "--help"],
    ["backup", "list", "-h"],
    ["user", "-h"], ["user", "add", "x", "--help"], ["token", "--help"],
    ["token", "create", "-h"],
    ["atproto", "-h"], ["atproto", "check", "--help"],
    ["atproto", "export", "-h"], ["atproto", "migrate", "-h"],
    ["atproto", "rollback", "--help"],
    ["version", "--help"], ["help", "-h"],
])
def test_command_help_option_prints_its_section(args):
    assert silo(*args) == silo("help", args[0])


# Each bad usage and its one line.  None of them reads any configuration.
BAD = [
    (["bogus"], "unknown command 'bogus' (see 'silo --help')"),
    (["--bogus", "serve"], "unknown option '--bogus' (see 'silo --help')"),
    (["-x", "serve"], "unknown option '-x' (see 'silo --help')"),
    (["--env-file"], "--env-file needs a value (see 'silo --help')"),
    (["--version=1"], "--version takes no value (see 'silo --help')"),
    (["serve", "--bogus"],
     "serve: unknown option '--bogus' (see 'silo help serve')"),
    (["serve", "--workers"],
     "serve: --workers needs a value (see 'silo help serve')"),
    (["serve", "now"],
     "serve: unexpected argument 'now' (see 'silo help serve')"),
    (["config"],
     "config: needs the subcommand 'check' (see 'silo help config')"),
    (["user"], "user: needs a subcommand (see 'silo help user')"),
    (["user", "make", "x"],
     "user: unknown subcommand 'make' (see 'silo help user')"),
    (["user", "add", "x"], "user: add needs --role admin or --role viewer "
     "(see 'silo help user')"),
    (["user", "list", "x"], "user: list takes no name (see 'silo help user')"),
    (["user", "passwd", "--role", "admin", "x"],
     "user: only add takes --role and --totp (see 'silo help user')"),
    (["user", "remove"], "user: remove needs a NAME of 1 to 64 characters "
     "a-z, 0-9, '.', '_' and '-', starting with a letter or digit "
     "(see 'silo help user')"),
    (["token", "create", "svc", "--scope", "read:all"],
     "token: create needs --scope: unknown scope 'read:all' (scopes: "
     "read:db, read:storage, read:backups, read:services, read:users, "
     "read:metrics, read:*, run:storage, run:backups, admin:db) "
     "(see 'silo help token')"),
    (["token", "revoke", "a", "b"],
     "token: unexpected argument 'b' (see 'silo help token')"),
    (["config", "show"],
     "config: unknown subcommand 'show' (see 'silo help config')"),
    (["config", "check", "--drop"],
     "config: unknown option '--drop' (see 'silo help config')"),
    (["import"],
     "import: needs the backup directory (see 'silo help import')"),
    (["import", "a", "b"],
     "import: takes one directory, not 'b' (see 'silo help import')"),
    (["import", "--d", "a"],
     "import: ambiguous option '--d' (see 'silo help import')"),
    (["import", "a", "--drop=yes"],
     "import: --drop takes no value (see 'silo help import')"),
    (["import", "-q", "a"],
     "import: unknown option '-q' (see 'silo help import')"),
    (["import", "a", "--include"],
     "import: --include needs a value (see 'silo help import')"),
    (["storage"],
     "storage: needs the subcommand 'refresh' (see 'silo help storage')"),
    (["storage", "list"],
     "storage: unknown subcommand 'list' (see 'silo help storage')"),
    (["storage", "refresh", "--lock-fd", "x"],
     "storage: --lock-fd 'x' is not a descriptor "
     "(see 'silo help storage')"),
    (["storage", "refresh", "--lock-fd"],
     "storage: --lock-fd needs a value (see 'silo help storage')"),
    (["backup"],
     "backup: needs a subcommand: keygen, run, fetch, list, verify, "
     "restore or prune (see 'silo help backup')"),
    (["backup", "bogus"],
     "backup: unknown subcommand 'bogus' (see 'silo help backup')"),
    (["backup", "prune", "now"],
     "backup: unexpected argument 'now' (see 'silo help backup')"),
    (["backup", "prune", "--json"],
     "backup: prune takes no option '--json' (see 'silo help backup')"),
    (["backup", "prune", "--dry-run=1"],
     "backup: --dry-run takes no value (see 'silo help backup')"),
    (["backup", "list", "--dry-run"],
     "backup: list takes no option '--dry-run' (see 'silo help backup')"),
    (["backup", "list", "now"],
     "backup: unexpected argument 'now' (see 'silo help backup')"),
    (["backup", "list", "--no-encrypt"],
     "backup: list takes no option '--no-encrypt' "
     "(see 'silo help backup')"),
    (["backup", "list", "--json=1"],
     "backup: --json takes no value (see 'silo help backup')"),
    (["backup", "run", "--json"],
     "backup: run takes no option '--json' (see 'silo help backup')"),
    (["backup", "run", "--lock-fd", "x"],
     "backup: --lock-fd 'x' is not a descriptor (see 'silo help backup')"),
    (["backup", "run", "now"],
     "backup: unexpected argument 'now' (see 'silo help backup')"),
    (["backup", "run", "--encrypt"],
     "backup: unknown option '--encrypt' (see 'silo help backup')"),
    (["backup", "run", "--include"],
     "backup: --include needs a value (see 'silo help backup')"),
    (["backup", "fetch"],
     "backup: fetch needs a backup id or 'latest' "
     "(see 'silo help backup')"),
    (["backup", "fetch", "a", "b"],
     "backup: unexpected argument 'b' (see 'silo help backup')"),
    (["backup", "fetch", "latest", "--no-encrypt"],
     "backup: fetch takes no option '--no-encrypt' "
     "(see 'silo help backup')"),
    (["backup", "keygen", "a", "b"],
     "backup: unexpected argument 'b' (see 'silo help backup')"),
    (["backup", "verify", "--drop"],
     "backup: verify takes no option '--drop' (see 'silo help backup')"),
    (["backup", "verify", "a", "b"],
     "backup: unexpected argument 'b' (see 'silo help backup')"),
    (["backup", "restore", "--to-db", "x"],
     "backup: restore needs a backup id or 'latest' "
     "(see 'silo help backup')"),
    (["backup", "restore", "a"],
     "backup: restore needs --to-db NAME or --i-mean-production (not both) "
     "(see 'silo help backup')"),
    (["backup", "restore", "a", "--to-db", "x", "--i-mean-production"],
     "backup: restore needs --to-db NAME or --i-mean-production (not both) "
     "(see 'silo help backup')"),
    (["backup", "restore", "a", "--to-db", ""],
     "backup: --to-db needs a database name (see 'silo help backup')"),
    (["backup", "restore", "a", "--to-db"],
     "backup: --to-db needs a value (see 'silo help backup')"),
    (["backup", "restore", "a", "--no-encrypt"],
     "backup: unknown option '--no-encrypt' (see 'silo help backup')"),
    (["atproto"], "atproto: needs a subcommand: check, export, migrate "
     "or rollback (see 'silo help atproto')"),
    (["atproto", "migrate", "--sub", "auth0|1"],
     "atproto: migrate needs --sub and --did, or --map "
     "(see 'silo help atproto')"),
    (["atproto", "rollback"],
     "atproto: rollback needs --sub (see 'silo help atproto')"),
    (["atproto", "fix"],
     "atproto: unknown subcommand 'fix' (see 'silo help atproto')"),
    (["atproto", "check", "x"],
     "atproto: unexpected argument 'x' (see 'silo help atproto')"),
    (["atproto", "check", "--json=1"],
     "atproto: --json takes no value (see 'silo help atproto')"),
    (["atproto", "export", "--json"],
     "atproto: unknown option '--json' (see 'silo help atproto')"),
    (["atproto", "export", "now"],
     "atproto: unexpected argument 'now' (see 'silo help atproto')"),
    (["version", "x"],
     "version: unexpected argument 'x' (see 'silo help version')"),
    (["help", "bogus"],
     "help: unknown command 'bogus' (see 'silo help help')"),
    (["help", "serve", "import"],
     "help: takes one command, not 'import' (see 'silo help help')"),
]


@pytest.mark.parametrize("args,message", BAD,
                         ids=[" ".join(a) for a, _ in BAD])
def test_bad_usage_is_one_line_and_status_2(args, message):
    assert silo(*args) == (2, "", f"silo: {message}\n")


def test_more_than_64_includes_is_a_usage_error():
    args = ["import", "a"]
    for i in range(65):
        args += ["--include", f"c{i}"]
    assert silo(*args) == (2, "", "silo: import: more than 64 --include "
                           "options (see 'silo help import')\n")


def version():
    m = re.search(r"AC_INIT\(\[silo\], \[([^]]+)\]",
                  (SRCDIR / "configure.ac").read_text())
    return m.group(1)


@pytest.mark.parametrize("args", [["version"], ["--version"]])
def test_version(args):
    assert silo(*args) == (0, f"silo {version()}\n", "")


def source(out, name):
    m = re.search(rf"^{name}=(.*)\t# ([^;]*);", out, re.M)
    assert m, (name, out)
    return m.groups()


def test_overrides_and_env_file(tmp_path):
    env_file = tmp_path / "silo.env"
    env_file.write_text("SILO_WORKERS=5\nSILO_LOG_LEVEL=debug\n")
    status, out, err = silo(
        f"--env-file={env_file}", "config", "check",
        "--workers", "3", "--listen=tcp:127.0.0.1:9", "--workers", "4",
        env={"MONGODB_CONNECTION_STRING": "mongodb://127.0.0.1:1"})
    assert (status, err) == (0, "")
    assert source(out, "SILO_WORKERS") == ("4", "command line")
    assert source(out, "SILO_LISTEN") == ("tcp:127.0.0.1:9", "command line")
    assert source(out, "SILO_LOG_LEVEL") == ("debug", f"{env_file}:2")


def test_invalid_override_is_a_configuration_error():
    status, out, err = silo("config", "check", "--workers", "0", env={
        "MONGODB_CONNECTION_STRING": "mongodb://127.0.0.1:1"})
    assert status == 2
    assert source(out, "SILO_WORKERS") == ("0", "command line")
    assert err == "SILO_WORKERS='0' (command line): expected a whole " \
        "number from 1 to 256\n"
