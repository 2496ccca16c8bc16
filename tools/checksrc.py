#!/usr/bin/env python3
"""checksrc: the source tree's own rules, checked (`make lint`).

In the spirit of curl's scripts/checksrc.pl, and as small: it reads the C
files of one directory (src/) and prints one line per violation,

    src/serve.c:107: 87 columns, more than 80 (LONGLINE)

then a count on stderr, and exits 1 if there was any.  The rules (silo.h
says why):

  PREFIX    every function defined in X.c, static or not, and every
            non-static variable, is named X_something (or X itself);
            api_db.c's are api_db_*, response.c's resp_* (PREFIXES
            below).  The few names that cannot follow it are in
            EXCEPTIONS below, each with its reason.
  LONGLINE  no line is wider than 80 columns, tabs stopping every 8.
  PROTO     every non-static function and variable defined in a .c file is
            declared in one of the directory's headers (silo.h, extern.h),
            so that nothing is exported by accident.  With --cc, the
            compiler checks the same with -Wmissing-prototypes and
            -Wmissing-declarations, which catches what this parser misses.

The parser knows the tree's style (KNF: a definition's name starts its
line), but does not rely on it: it strips comments, literals and
preprocessor lines, and reads the top-level declarations token by token.

  tools/checksrc.py [--cc 'CC FLAGS'] DIR     check DIR/*.c and DIR/*.h
  tools/checksrc.py --expect DIR              self-test: the violations
      must be exactly the lines marked /* !expect RULE */ in DIR's files
"""

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

MAX_COLUMNS = 80
TAB_STOP = 8

# A file whose prefix is not its name: response.c's resp_ is what every
# handler writes, and silo.h's naming paragraph names it so.
PREFIXES = {
    "response.c": "resp",
}

# (file, name): why it is exempt from PREFIX and PROTO.
EXCEPTIONS = {
    ("main.c", "main"): "the C entry point, declared by the language",
}

TOKEN = re.compile(r"[A-Za-z_]\w*|\d\w*|\S")
KEYWORDS = {"sizeof", "__attribute__", "_Alignas", "alignof", "_Alignof",
            "return", "if", "while", "for", "switch"}


def strip(text):
    """Comments, string and character literals and preprocessor lines
    replaced by blanks, newlines kept, so that line numbers hold."""
    out = []
    i, n = 0, len(text)
    bol = True          # only blanks so far on this line
    while i < n:
        c = text[i]
        if c == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j == -1 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "/" and text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j == -1 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append("0" + re.sub(r"[^\n]", " ", text[i + 1:j]))
            i = j
        elif c == "#" and bol:
            j = i
            while True:
                k = text.find("\n", j)
                if k == -1:
                    k = n
                    break
                if text[k - 1] != "\\":
                    break
                j = k + 1
            out.append(re.sub(r"[^\n]", " ", text[i:k]))
            i = k
        else:
            out.append(c)
            i += 1
            if c == "\n":
                bol = True
                continue
        if c not in " \t":
            bol = False
    return "".join(out)


def tokens(text):
    """(token, line) pairs, without __attribute__((...))."""
    toks = []
    for lineno, line in enumerate(strip(text).split("\n"), 1):
        toks.extend((m.group(), lineno) for m in TOKEN.finditer(line))
    out, i = [], 0
    while i < len(toks):
        if toks[i][0] in ("__attribute__", "__attribute"):
            i += 1
            depth = 0
            while i < len(toks):
                depth += {"(": 1, ")": -1}.get(toks[i][0], 0)
                i += 1
                if depth == 0:
                    break
            continue
        out.append(toks[i])
        i += 1
    return out


def skip_braces(toks, i):
    """The index after the } matching the { at toks[i]."""
    depth = 0
    while i < len(toks):
        depth += {"{": 1, "}": -1}.get(toks[i][0], 0)
        i += 1
        if depth == 0:
            break
    return i


def declarator_name(stmt):
    """The name a declaration declares, and whether it is a function:
    the identifier before the first ( at depth 0, unless that ( opens a
    declarator like (*fp), or else the last identifier before = or [."""
    for k, (t, _) in enumerate(stmt):
        if t == "(" and k > 0 and re.match(r"[A-Za-z_]", stmt[k - 1][0]) \
                and stmt[k - 1][0] not in KEYWORDS:
            if k + 1 < len(stmt) and stmt[k + 1][0] == "*":
                inner = [x for x in stmt[k + 2:] if x[0] != ")"]
                ident = [x for x in inner[:3]
                         if re.match(r"[A-Za-z_]", x[0])
                         and x[0] not in ("const", "volatile")]
                return (ident[0] if ident else None), False
            return stmt[k - 1], True
        if t in ("=", "["):
            break
    name = None
    for t, ln in stmt:
        if t in ("=", "["):
            break
        if re.match(r"[A-Za-z_]", t):
            name = (t, ln)
    return name, False


def split_commas(stmt):
    """Declarators of one declaration: split at commas outside (), [], {}."""
    parts, cur, depth = [], [], 0
    for tok in stmt:
        if tok[0] in "([{":
            depth += 1
        elif tok[0] in ")]}":
            depth -= 1
        if tok[0] == "," and depth == 0:
            parts.append(cur)
            cur = []
        else:
            cur.append(tok)
    parts.append(cur)
    return parts


def declarations(text):
    """Every top-level definition or declaration of a function or variable:
    dicts with name, line, kind ("function" or "variable"), static,
    extern and definition (a function body or a variable's storage)."""
    toks = tokens(text)
    found = []
    i, stmt = 0, []
    while i < len(toks):
        t = toks[i][0]
        if t == "{":
            has_paren = any(x[0] == "(" for x in stmt)
            has_eq = any(x[0] == "=" for x in stmt)
            words = {x[0] for x in stmt}
            if has_paren and not has_eq and stmt and stmt[-1][0] == ")":
                name, _ = declarator_name(stmt)
                if name:
                    found.append(dict(name=name[0], line=name[1],
                                      kind="function",
                                      static="static" in words,
                                      extern=False, definition=True))
                i = skip_braces(toks, i)
                stmt = []
                continue
            # struct/enum/union body or an initializer: part of the
            # statement, which goes on to its ;
            j = skip_braces(toks, i)
            stmt.append(("{}", toks[i][1]))
            i = j
            continue
        if t == ";":
            words = {x[0] for x in stmt}
            if stmt and "typedef" not in words and \
                    stmt[0][0] not in ("_Static_assert", "static_assert"):
                head = stmt
                # "struct x {...} a, b": the declarators follow the body
                if "{}" in [x[0] for x in stmt] and "=" not in \
                        [x[0] for x in stmt[:[x[0] for x in stmt]
                                            .index("{}")]]:
                    head = stmt[[x[0] for x in stmt].index("{}") + 1:]
                parts = split_commas(head)
                for p in parts:
                    if not p:
                        continue
                    name, is_fn = declarator_name(p)
                    if name is None or name[0] in ("struct", "enum",
                                                   "union"):
                        continue
                    found.append(dict(name=name[0], line=name[1],
                                      kind="function" if is_fn
                                      else "variable",
                                      static="static" in words,
                                      extern="extern" in words,
                                      definition=not is_fn and
                                      "extern" not in words))
            stmt = []
            i += 1
            continue
        stmt.append(toks[i])
        i += 1
    return found


def columns(line):
    """The display width of a line, tabs stopping every TAB_STOP."""
    col = 0
    for c in line:
        col = (col // TAB_STOP + 1) * TAB_STOP if c == "\t" else col + 1
    return col


def check_dir(d):
    """Violations as (path, line, message, rule), sorted."""
    d = Path(d)
    headers = sorted(d.glob("*.h"))
    sources = sorted(d.glob("*.c"))
    declared = set()
    for h in headers:
        for x in declarations(h.read_text(encoding="utf-8")):
            if x["kind"] == "function" or x["extern"]:
                declared.add(x["name"])
    out = []
    for f in headers + sources:
        text = f.read_text(encoding="utf-8")
        for n, line in enumerate(text.split("\n"), 1):
            w = columns(line)
            if w > MAX_COLUMNS:
                out.append((str(f), n, f"{w} columns, more than "
                            f"{MAX_COLUMNS}", "LONGLINE"))
        if f.suffix != ".c":
            continue
        stem = PREFIXES.get(f.name, f.stem)
        for x in declarations(text):
            name = x["name"]
            if not x["definition"] or (f.name, name) in EXCEPTIONS:
                continue
            if x["kind"] == "variable" and x["static"]:
                continue
            if name != stem and not name.startswith(stem + "_"):
                what = "a function" if x["kind"] == "function" \
                    else "an exported variable"
                out.append((str(f), x["line"], f"{name}: {what} in "
                            f"{f.name} is named {stem}_*", "PREFIX"))
            if not x["static"] and name not in declared:
                out.append((str(f), x["line"], f"{name} is exported but "
                            f"declared in no header of {d}", "PROTO"))
    return sorted(set(out), key=lambda v: (v[0], v[1], v[3], v[2]))


def check_cc(d, cc, known):
    """The compiler's view of PROTO: -Wmissing-prototypes and
    -Wmissing-declarations on every .c file, with -fsyntax-only.  Other
    warnings are the build's business; what the parser already reported
    (known) is not repeated."""
    out = []
    flags = ["-fsyntax-only", "-Wmissing-prototypes",
             "-Wmissing-declarations"]
    warn = re.compile(r"^(.*?):(\d+):\d+: warning: (.*) "
                      r"\[-Wmissing-(?:prototypes|declarations)\]$")
    env = dict(os.environ, LC_ALL="C")
    for f in sorted(Path(d).glob("*.c")):
        r = subprocess.run(shlex.split(cc) + flags + [str(f)], env=env,
                           capture_output=True, text=True)
        for line in r.stderr.splitlines():
            m = warn.match(line)
            if not m:
                continue
            name = re.search(r"'(\w+)'", m.group(3))
            if name and (str(f), name.group(1)) in known:
                continue
            out.append((m.group(1), int(m.group(2)), m.group(3), "PROTO"))
        if r.returncode != 0:
            out.append((str(f), 1, "the compiler failed: " +
                        r.stderr.strip().replace("\n", " ")[:200], "CC"))
    return out


def report(violations):
    for path, line, msg, rule in violations:
        print(f"{path}:{line}: {msg} ({rule})")


def expected(d):
    """The self-test's markers: {(path, line, rule)}."""
    want = set()
    for f in sorted(Path(d).glob("*.[ch]")):
        for n, line in enumerate(f.read_text().split("\n"), 1):
            for rule in re.findall(r"!expect (\w+)", line):
                want.add((str(f), n, rule))
    return want


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--cc", help="compiler command with the build's flags")
    ap.add_argument("--expect", action="store_true",
                    help="self-test against /* !expect RULE */ markers")
    a = ap.parse_args()
    v = check_dir(a.dir)
    if a.expect:
        got = {(p, n, r) for p, n, _, r in v}
        want = expected(a.dir)
        for p, n, r in sorted(got - want):
            print(f"{p}:{n}: reported {r}, not expected")
        for p, n, r in sorted(want - got):
            print(f"{p}:{n}: expected {r}, not reported")
        return 0 if got == want else 1
    if a.cc:
        known = {(p, m.split(" ")[0]) for p, _, m, r in v if r == "PROTO"}
        v = sorted(set(v + check_cc(a.dir, a.cc, known)),
                   key=lambda x: (x[0], x[1], x[3], x[2]))
    report(v)
    if v:
        rules = {}
        for x in v:
            rules[x[3]] = rules.get(x[3], 0) + 1
        print(f"checksrc: {len(v)} violations (" + ", ".join(
            f"{k} {rules[k]}" for k in sorted(rules)) + ")", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
