#!/usr/bin/env python3
"""bench/import.py: `silo import` against a baseline importer, on one FerretDB.

Generates AC's backup with tools/acgen.py (cached in
build/bench/data/<scale>-<layout>-<ejson>/), starts its own FerretDB
v1.24.2 (SQLite) on a free loopback port, builds an optimized, unsanitized
silo (build/bench, -O2) and, in one run, imports the whole backup twice,
each into a fresh database:

  silo      `silo import --all DIR --database bench_silo`
  baseline  mongoimport (one process per collection, --numInsertionWorkers 1
            --batchSize 1000) plus the manifest's indexes, when mongoimport
            is on PATH; otherwise the same thing written with pymongo:
            stream each file, json_util.loads per NDJSON line (an array
            file is read whole with one json_util.loads, as a naive script
            does), insert_many(1,000 documents, ordered=False), then one
            createIndexes per manifest index.

Both importers run as children of a small launcher that reaps them with
wait4, so their peak RSS (ru_maxrss, which covers the children they waited
for too) is measured the same way.  It prints wall time, docs/s, MB/s of
input, peak RSS, the CPU time of the importer and of FerretDB, the ratios
silo / baseline and the baseline's load and index phases; then it checks
that both databases hold the manifest's counts (collStats count: FerretDB's
exact count is a scan) and the manifest's indexes, and that a sample of
documents is byte-identical between the two.  A benchmark, not a test: it
asserts nothing, and exits non-zero only if something failed to run.

Usage: bench/import.py [--scale 1] [--layout ndjson|array]
                       [--ejson canonical|relaxed] [--seed 1] [--repeat N]
                       [--timeout S]
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import stack_install as si  # noqa: E402
import stack_process as sp  # noqa: E402
import stack_services as sv  # noqa: E402

try:
    import bson
    import pymongo
    from bson import json_util
    from bson.codec_options import CodecOptions
    from bson.raw_bson import RawBSONDocument
except ImportError:             # re-exec under the stack's venv below
    pymongo = None

SILO_DB = "bench_silo"
BASE_DB = "bench_baseline"
BATCH = 1000
RSS_GOAL_MIB = 64
SAMPLE = 50                     # documents compared byte for byte per collection
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- helpers

def cpu_seconds(pid):
    """utime + stime of a live process, from /proc (None if gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# The importer is started by this small launcher, which reaps it with
# wait4 and writes its exit status, wall time, peak RSS and CPU time.  Not
# by this process: Linux carries the RSS of the process that calls exec
# into the new program's ru_maxrss, and this one holds pymongo (~30 MB).
# The launcher runs with -S -I (no site packages); its own RSS is the floor
# of the measurement, and is printed.
LAUNCHER = r"""
import json, os, sys, time
t0 = time.monotonic()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump({"status": os.waitstatus_to_exitcode(status),
               "wall": time.monotonic() - t0, "maxrss": ru.ru_maxrss,
               "cpu": ru.ru_utime + ru.ru_stime}, f)
"""


def run_measured(argv, env, stdout_path, timeout):
    """Run argv under the launcher (bounded).  Returns (status, wall s,
    peak RSS KiB, user+sys CPU s, stderr lines with their time since
    start)."""
    lines = []
    usage = Path(str(stdout_path) + ".rusage")
    usage.unlink(missing_ok=True)
    with open(stdout_path, "wb") as out:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-S", "-I", "-c", LAUNCHER, usage]
            + [str(a) for a in argv], env=env, stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.PIPE, start_new_session=True)

        def reader():
            for raw in proc.stderr:
                lines.append((time.monotonic() - t0,
                              raw.decode(errors="replace").rstrip("\n")))

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            sp.say(f"{argv[0]} still running after {timeout:.0f}s; "
                   "killing it")
            os.killpg(proc.pid, 9)
            proc.wait(10)
        th.join(10)
        proc.stderr.close()
    try:
        u = json.loads(usage.read_text())
    except (OSError, ValueError):
        return (f"killed ({proc.returncode})", time.monotonic() - t0, 0, 0,
                lines)
    return u["status"], u["wall"], u["maxrss"], u["cpu"], lines


def launcher_floor():
    """The launcher's own contribution to ru_maxrss: its measure of
    /bin/true, in KiB."""
    with tempfile.TemporaryDirectory() as d:
        return run_measured(["true"], None, Path(d) / "true.out", 30)[2]


def dataset(scale, seed, layout, ejson):
    """The generated backup, from the cache or made now; (dir, manifest,
    seconds spent generating or 0)."""
    import acgen
    key = f"{scale:g}-{layout}-{ejson}" + (f"-seed{seed}" if seed != 1 else "")
    d = si.REPO / "build" / "bench" / "data" / key
    # The cache is keyed by the generator's source too: a changed acgen.py
    # regenerates.
    src = hashlib.sha256(Path(acgen.__file__).read_bytes()).hexdigest()[:16]
    stamp = d / ".acgen"
    if stamp.exists() and stamp.read_text().strip() == src and \
            (d / "_manifest.json").exists():
        return d, json.loads((d / "_manifest.json").read_text()), 0.0
    tmp = d.with_name(d.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    sp.say(f"generating the AC backup at scale {scale:g} ({layout}, {ejson}) "
           f"into {d}")
    t0 = time.monotonic()
    manifest = acgen.generate_backup(str(tmp), scale=scale, seed=seed,
                                     layout=layout, ejson=ejson)
    (tmp / ".acgen").write_text(src + "\n")
    shutil.rmtree(d, ignore_errors=True)
    os.replace(tmp, d)
    return d, manifest, time.monotonic() - t0


def warm(backup, manifest):
    """Read every file once, so neither run pays for a cold page cache."""
    for c in manifest["collections"]:
        with open(backup / c["file"], "rb") as f:
            while f.read(1 << 20):
                pass


def go_proxy_check():
    """Why there is no mongoimport: ask the Go module proxy for mongo-tools."""
    if not shutil.which("go"):
        return "go is not installed, so mongo-tools could not be built either"
    try:
        r = subprocess.run(
            ["go", "list", "-m", "github.com/mongodb/mongo-tools@latest"],
            capture_output=True, text=True, timeout=60, cwd=tempfile.gettempdir(),
            env=dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-mod=mod"))
    except subprocess.TimeoutExpired:
        return "`go list -m github.com/mongodb/mongo-tools@latest` timed out"
    out = (r.stdout + r.stderr).strip()
    return (f"`go list -m github.com/mongodb/mongo-tools@latest` "
            f"(exit {r.returncode}): " + " ".join(out.split()))


# ---------------------------------------------------------------- baseline

def in_silo_order(manifest):
    """The manifest's collections in the order silo imports them (by name,
    strcmp)."""
    return sorted(manifest["collections"], key=lambda c: c["name"].encode())


def _index_model(spec, essentials_only=False):
    keys = list(spec["key"].items())
    opts = {k: v for k, v in spec.items() if k not in ("key", "v", "ns")}
    if essentials_only:
        opts = {k: v for k, v in opts.items()
                if k in ("name", "unique", "sparse")}
    return keys, opts


def _create_indexes(db, entry):
    """One createIndexes per manifest index, as silo does; an option the
    server does not implement (FerretDB: TTL) is left out, as silo does."""
    for spec in entry.get("indexes", []):
        if spec.get("name") == "_id_" or list(spec["key"]) == ["_id"]:
            continue
        keys, opts = _index_model(spec)
        try:
            db[entry["name"]].create_index(keys, **opts)
        except pymongo.errors.OperationFailure as e:
            if e.code != 238:
                raise
            keys, opts = _index_model(spec, essentials_only=True)
            db[entry["name"]].create_index(keys, **opts)


def _pymongo_load(coll, path):
    """The naive importer: NDJSON line by line, an array file whole."""
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    if head.startswith(b"["):
        with open(path, "rb") as f:
            docs = json_util.loads(f.read())
        for i in range(0, len(docs), BATCH):
            coll.insert_many(docs[i:i + BATCH], ordered=False)
        return len(docs)
    n = 0
    batch = []
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            batch.append(json_util.loads(line))
            if len(batch) == BATCH:
                coll.insert_many(batch, ordered=False)
                n += len(batch)
                batch = []
    if batch:
        coll.insert_many(batch, ordered=False)
        n += len(batch)
    return n


def _mongoimport_load(tool, uri, db, name, path):
    with open(path, "rb") as f:
        array = f.read(4096).lstrip().startswith(b"[")
    argv = [tool, "--uri", uri, "--db", db, "--collection", name,
            "--file", str(path), "--numInsertionWorkers", "1",
            "--batchSize", str(BATCH), "--quiet"]
    if array:
        argv.append("--jsonArray")
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, timeout=7200)


def baseline_child(a):
    """Runs in its own process (--baseline-child); writes phase times as
    JSON to a.result."""
    client = pymongo.MongoClient(a.uri, serverSelectionTimeoutMS=10000)
    db = client[a.database]
    manifest = json.loads((Path(a.dir) / "_manifest.json").read_text())
    per = []
    for entry in in_silo_order(manifest):
        path = Path(a.dir) / entry["file"]
        t0 = time.monotonic()
        if a.mongoimport:
            _mongoimport_load(a.mongoimport, a.uri, a.database,
                              entry["name"], path)
        else:
            _pymongo_load(db[entry["name"]], path)
        t1 = time.monotonic()
        _create_indexes(db, entry)
        t2 = time.monotonic()
        per.append({"name": entry["name"], "load": t1 - t0,
                    "index": t2 - t1})
        print(f"baseline: {entry['name']}: load {t1 - t0:.2f}s, "
              f"indexes {t2 - t1:.2f}s", file=sys.stderr, flush=True)
    client.close()
    Path(a.result).write_text(json.dumps(per))
    return 0


# ---------------------------------------------------------------- checks

def check_db(client, dbname, manifest):
    """(collections whose collStats count is the manifest's, collections
    with all the manifest's indexes, problems)"""
    db = client[dbname]
    counts_ok = indexes_ok = 0
    problems = []
    for entry in manifest["collections"]:
        name = entry["name"]
        try:
            n = db.command("collStats", name).get("count")
        except pymongo.errors.OperationFailure as e:
            n = f"error {e.code}"
        if n == entry["count"]:
            counts_ok += 1
        else:
            problems.append(f"{name}: {n} documents, manifest {entry['count']}")
        have = {ix["name"]: ix for ix in db[name].list_indexes()}
        missing = [s["name"] for s in entry.get("indexes", [])
                   if s["name"] not in have or
                   list(have[s["name"]]["key"].items()) !=
                   list(s["key"].items()) or
                   bool(have[s["name"]].get("unique")) != bool(s.get("unique"))]
        if missing:
            problems.append(f"{name}: indexes missing or different: "
                            + ", ".join(missing))
        else:
            indexes_ok += 1
    return counts_ok, indexes_ok, problems


def compare_sample(client, manifest):
    """The first SAMPLE documents of each collection in bench_silo, found by
    _id in bench_baseline: byte-identical?  (compared, differing)

    Both importers insert in file order, so the baseline's first SAMPLE
    documents are normally the same ones; only those that are not are
    looked up one by one.  ($in on _id is a scan of the whole collection on
    FerretDB's SQLite backend: minutes for boots at scale 10.)"""
    opts = CodecOptions(document_class=RawBSONDocument)
    a = client.get_database(SILO_DB, codec_options=opts)
    b = client.get_database(BASE_DB, codec_options=opts)
    compared = 0
    differ = []
    for entry in manifest["collections"]:
        name = entry["name"]
        docs = list(a[name].find({}, limit=SAMPLE))
        theirs = {bson.encode({"_id": d["_id"]}): d.raw
                  for d in b[name].find({}, limit=SAMPLE)}
        for d in docs:
            compared += 1
            key = bson.encode({"_id": d["_id"]})
            if key not in theirs:
                other = b[name].find_one({"_id": d["_id"]})
                theirs[key] = other.raw if other is not None else None
            if theirs[key] != d.raw:
                differ.append(name)
                break
    return compared, differ


# ---------------------------------------------------------------- main

def fmt_row(cells, widths):
    return "".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}"
                   for i, (c, w) in enumerate(zip(cells, widths)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0,
                    help="acgen scale (default 1: ~129k documents, ~149 MB)")
    ap.add_argument("--layout", choices=("ndjson", "array"), default="ndjson")
    ap.add_argument("--ejson", choices=("canonical", "relaxed"),
                    default="canonical")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1,
                    help="import N times each, alternating, and report the "
                    "median (default 1)")
    ap.add_argument("--timeout", type=float, default=3600,
                    help="seconds each import may take (default 3600)")
    ap.add_argument("--baseline-child", action="store_true",
                    help=argparse.SUPPRESS)
    ap.add_argument("--uri", help=argparse.SUPPRESS)
    ap.add_argument("--database", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    ap.add_argument("--mongoimport", help=argparse.SUPPRESS)
    ap.add_argument("dir", nargs="?", help=argparse.SUPPRESS)
    a = ap.parse_args()

    if pymongo is None:
        if os.environ.get("SILO_BENCH_REEXEC"):
            sys.exit("bench/import.py: pymongo is missing even in "
                     f"{si.pyenv_python()}")
        si.install_pyenv()
        py = str(si.pyenv_python())
        os.environ["SILO_BENCH_REEXEC"] = "1"
        os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])
    if a.baseline_child:
        return baseline_child(a)
    if a.scale <= 0:
        ap.error("--scale must be positive")

    sp.install_signal_handlers()
    si.install(minio=False, mongo_express=False)
    build = si.build_bench()
    silo_bin = build / "silo"
    backup, manifest, gen_s = dataset(a.scale, a.seed, a.layout, a.ejson)
    ndocs = sum(c["count"] for c in manifest["collections"])
    nbytes = sum(c["bytes"] for c in manifest["collections"])
    warm(backup, manifest)

    mongoimport = shutil.which("mongoimport")
    proxy = None if mongoimport else go_proxy_check()
    floor = launcher_floor()
    logs = si.REPO / "build" / "bench" / "import-logs"
    logs.mkdir(parents=True, exist_ok=True)

    def run_silo(client, fdb, root):
        # A fresh database, and silo's checkpoints for it (silo.imports)
        # go too, so nothing is resumed or skipped.
        client.drop_database(SILO_DB)
        client["silo"]["imports"].delete_many(
            {"_id": {"$regex": "^" + SILO_DB + r"\."}})
        f0 = cpu_seconds(fdb.pid)
        status, wall, rss, cpu, lines = run_measured(
            [silo_bin, "import", "--all", "--database", SILO_DB, backup],
            sp.clean_env(MONGODB_CONNECTION_STRING=fdb.uri,
                         SILO_ENV_FILE="/dev/null"),
            root / "silo-import.out", a.timeout)
        table = (root / "silo-import.out").read_text(errors="replace")
        (logs / "silo.stdout").write_text(table)
        (logs / "silo.stderr").write_text(
            "".join(f"{t:9.2f} {line}\n" for t, line in lines))
        return dict(status=status, wall=wall, rss=rss, cpu=cpu,
                    fdb_cpu=cpu_seconds(fdb.pid) - f0, lines=lines,
                    table=table)

    def run_baseline(client, fdb, root):
        client.drop_database(BASE_DB)
        result = root / "baseline.json"
        result.unlink(missing_ok=True)
        argv = [sys.executable, os.path.abspath(__file__),
                "--baseline-child", "--uri", fdb.uri,
                "--database", BASE_DB, "--result", result, backup]
        if mongoimport:
            argv += ["--mongoimport", mongoimport]
        f0 = cpu_seconds(fdb.pid)
        status, wall, rss, cpu, lines = run_measured(
            argv, sp.clean_env(), root / "baseline.out", a.timeout)
        (logs / "baseline.stderr").write_text(
            "".join(f"{t:9.2f} {line}\n" for t, line in lines))
        return dict(status=status, wall=wall, rss=rss, cpu=cpu,
                    fdb_cpu=cpu_seconds(fdb.pid) - f0, lines=lines,
                    per=json.loads(result.read_text())
                    if result.exists() else [])

    runs = {"silo": [], "baseline": []}
    with tempfile.TemporaryDirectory(prefix="silo-bench-import-") as tmp:
        root = Path(tmp)
        try:
            fdb = sv.ferretdb(root / "ferretdb")
            fdb.start()
            client = pymongo.MongoClient(fdb.uri,
                                         serverSelectionTimeoutMS=10000)
            client.admin.command("ping")
            # silo first, then the baseline; with --repeat the order
            # alternates, so a drift in the machine's load hits both.
            for i in range(a.repeat):
                order = ("silo", "baseline") if i % 2 == 0 else \
                    ("baseline", "silo")
                for who in order:
                    sp.say(f"run {i + 1}/{a.repeat}: {who}")
                    fn = run_silo if who == "silo" else run_baseline
                    runs[who].append(fn(client, fdb, root))

            # Checks, outside the timed runs, on the last run of each.
            t_checks = time.monotonic()
            checks = {db: check_db(client, db, manifest)
                      for db in (SILO_DB, BASE_DB)}
            sample = compare_sample(client, manifest)
            t_checks = time.monotonic() - t_checks
            client.close()
        finally:
            sp.stop_all()

    # ------------------------------------------------------------ report
    # The run with the median wall time of each (the lower median).
    s, b = (sorted(runs[k], key=lambda r: r["wall"])[(len(runs[k]) - 1) // 2]
            for k in ("silo", "baseline"))
    silo_table = s["table"]
    bname = "mongoimport" if mongoimport else "pymongo"
    print()
    print(f"dataset: acgen scale {a.scale:g}, seed {a.seed}, {a.layout}, "
          f"{a.ejson}: {len(manifest['collections'])} collections, "
          f"{ndocs} documents, {nbytes / 1e6:.1f} MB ({backup}"
          + (f", generated in {gen_s:.0f}s" if gen_s else ", cached") + ")")
    print(f"server:  FerretDB {si.FERRETDB_VERSION} (SQLite) on loopback, "
          f"{os.cpu_count()} cores shared by importer and server")
    if mongoimport:
        print(f"baseline: {mongoimport} --numInsertionWorkers 1 "
              f"--batchSize {BATCH} per collection, then createIndexes")
    else:
        print("baseline: mongoimport is not on PATH and cannot be built "
              "here: " + proxy)
        print(f"          substituted: pymongo {pymongo.version}, json_util."
              f"loads per line (an array file whole), insert_many({BATCH}, "
              "ordered=False), then createIndexes per index")
    print()
    widths = (14, 9, 10, 8, 10, 8, 10, 10)
    print(fmt_row(("importer", "exit", "wall s", "docs/s", "MB/s",
                   "RSS MiB", "CPU s", "FDB CPU s"), widths))
    for name, r in (("silo", s), (bname, b)):
        print(fmt_row((name, str(r["status"]), f"{r['wall']:.1f}",
                       f"{ndocs / r['wall']:.0f}",
                       f"{nbytes / 1e6 / r['wall']:.2f}",
                       f"{r['rss'] / 1024:.1f}", f"{r['cpu']:.1f}",
                       f"{r['fdb_cpu']:.1f}"), widths))
    if a.repeat > 1:
        for k, name in (("silo", "silo"), ("baseline", bname)):
            print(f"{name} runs: " + ", ".join(
                f"{r['wall']:.1f}s" for r in runs[k])
                + " (the median run is shown)")
    print()
    print(f"silo / {bname}: time {s['wall'] / b['wall']:.2f}, "
          f"docs/s {b['wall'] / s['wall']:.2f}, "
          f"peak RSS {s['rss'] / b['rss']:.2f}")
    peak = max(r["rss"] for r in runs["silo"])
    print(f"silo peak RSS {peak / 1024:.1f} MiB: "
          + ("under" if peak / 1024 < RSS_GOAL_MIB else "OVER")
          + f" the {RSS_GOAL_MIB} MiB goal (ru_maxrss; the launcher's own "
          f"{floor / 1024:.1f} MiB is its floor)")

    # Where the time goes.  silo prints one line per collection when it is
    # done with it (load, indexes and its verification); the
    # baseline times its load and index phases itself.
    ends = {}
    for t, line in s["lines"]:
        if line.startswith("[") and ": 100%," in line and "eta" not in line:
            ends[line.split("] ", 1)[1].split(":", 1)[0]] = t
    per = {p["name"]: p for p in b["per"]}
    load_s = sum(p["load"] for p in b["per"])
    index_s = sum(p["index"] for p in b["per"])
    print(f"{bname}: loading {load_s:.1f}s, index builds {index_s:.1f}s")
    print("\nlargest collections (s): silo includes its indexes and "
          "verification")
    widths2 = (22, 9, 10, 10, 10, 10)
    print(fmt_row(("collection", "docs", "silo", f"{bname}",
                   "b. load", "b. index"), widths2))
    prev = 0.0
    rows = []
    for entry in in_silo_order(manifest):
        t = ends.get(entry["name"])
        dt = None if t is None else t - prev
        prev = t if t is not None else prev
        p = per.get(entry["name"], {"load": 0, "index": 0})
        rows.append((entry, dt, p))
    for entry, dt, p in sorted(rows, key=lambda r: -r[0]["bytes"])[:8]:
        print(fmt_row((entry["name"], str(entry["count"]),
                       "-" if dt is None else f"{dt:.1f}",
                       f"{p['load'] + p['index']:.1f}", f"{p['load']:.1f}",
                       f"{p['index']:.1f}"), widths2))

    print(f"\nchecks (outside the timings, {t_checks:.1f}s):")
    ncoll = len(manifest["collections"])
    for db, (cok, iok, problems) in checks.items():
        print(f"  {db}: {cok}/{ncoll} collStats counts = manifest, "
              f"{iok}/{ncoll} with the manifest's indexes"
              + ("" if not problems else "; " + "; ".join(problems[:5])))
    compared, differ = sample
    print(f"  {compared} documents sampled from {SILO_DB}, looked up by _id "
          f"in {BASE_DB}: "
          + ("all byte-identical" if not differ else
             "different in " + ", ".join(differ)))
    # Anything silo said besides its opening line and progress lines.
    said = [line for _, line in s["lines"]
            if not line.startswith("[") and
            not line.startswith("silo import: " + str(backup) + " into")]
    gaps = [(s["lines"][i][0] - s["lines"][i - 1][0], s["lines"][i - 1][1])
            for i in range(1, len(s["lines"]))]
    tail = [x for x in silo_table.splitlines() if "complete," in x]
    print(f"  silo import exit {s['status']}: "
          + (tail[-1] if tail else "(no summary line)"))
    for line in said[:10]:
        print("  silo said: " + line)
    if gaps:
        gap, after = max(gaps)
        print(f"  silo's longest silence on stderr: {gap:.1f}s, after "
              f"\"{after.strip()}\"")
    if any(r["status"] != 0 for k in runs for r in runs[k]):
        print("\nan importer failed; silo's stderr tail:", file=sys.stderr)
        for _, line in s["lines"][-10:]:
            print("  " + line, file=sys.stderr)
        for _, line in b["lines"][-10:]:
            print("  " + line, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
