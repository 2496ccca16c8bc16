#!/usr/bin/env python3
"""bench/backup.py: `silo backup run` against the physical limit, a scan.

For each scale (default 1 and 10, in the same run) it generates AC's
backup with tools/acgen.py (cached like bench/import.py's, in
build/bench/data/), loads it into its own FerretDB v1.24.2 (SQLite) with
`silo import --all` (not timed), starts MinIO, builds an optimized,
unsanitized silo (build/bench, -O2) unless --silo names one, and times:

  scan      the physical limit: a plain cursor scan of every collection of
            the dumped databases (AC's and silo's own), raw BSON batches
            (pymongo's find_raw_batches) thrown away, nothing else;
  silo      `silo backup run` (encrypted, the default): cursor -> archive
            -> gzip -> AES-256-GCM -> multipart upload to MinIO;
  mongodump `mongodump --db <AC's db> --archive --gzip > file`, only when
            mongodump is on PATH (it cannot be installed here; it dumps
            AC's database only, silo's own is small).

One scan runs first, untimed, to warm FerretDB's cache.  Each timed run
is a child of a small launcher that reaps it with wait4, so the
peak RSS (ru_maxrss) and CPU time are measured the same way for all.  It
prints wall time, MB/s of documents, peak RSS, CPU of the tool and of
FerretDB, and the ratios to the scan, against the goal: silo at most 15%
over the scan, peak RSS under 64 MiB at any scale.  A benchmark, not a
test: it asserts nothing, and exits non-zero only if something failed to
run.

Usage: bench/backup.py [--scales 1,10] [--repeat N] [--timeout S]
                       [--silo PATH]
"""

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tools"))
import stack_install as si  # noqa: E402
import stack_process as sp  # noqa: E402
import stack_services as sv  # noqa: E402

try:
    import pymongo
except ImportError:             # re-exec under the stack's venv below
    pymongo = None

AC_DB = "aesthetic"
BUCKET = "silo-bench-backups"
GOAL_RATIO = 1.15
RSS_GOAL_MIB = 64


def bench_import():
    """bench/import.py as a module (its name is a keyword): the dataset
    cache, the measuring launcher and the table printer are shared."""
    spec = importlib.util.spec_from_file_location("bench_import",
                                                  HERE / "import.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# The scan, in its own process under the launcher: every collection of
# the databases named, raw BSON batches read and dropped.  Prints
# "<documents bytes> <batches>" (bytes of the batches' documents).
SCAN = r"""
import sys, pymongo
client = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=10000)
nbytes = batches = 0
for name in sys.argv[2:]:
    db = client[name]
    for coll in sorted(db.list_collection_names()):
        for batch in db[coll].find_raw_batches({}):
            nbytes += len(batch)
            batches += 1
print(nbytes, batches)
"""


def db_docs(client, names):
    """Documents in the databases, from collStats (FerretDB's count there
    is exact, and cheap; its size is the storage's, not BSON's)."""
    docs = 0
    for name in names:
        db = client[name]
        for coll in db.list_collection_names():
            docs += db.command("collStats", coll).get("count", 0)
    return docs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", default="1,10",
                    help="acgen scales, comma-separated (default 1,10)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each N times, alternating the order, and "
                    "report the median (default 1)")
    ap.add_argument("--timeout", type=float, default=3600,
                    help="seconds each run may take (default 3600)")
    ap.add_argument("--silo", help="use this silo binary instead of "
                    "building build/bench")
    a = ap.parse_args()

    if pymongo is None:
        if os.environ.get("SILO_BENCH_REEXEC"):
            sys.exit("bench/backup.py: pymongo is missing even in "
                     f"{si.pyenv_python()}")
        si.install_pyenv()
        py = str(si.pyenv_python())
        os.environ["SILO_BENCH_REEXEC"] = "1"
        os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])
    try:
        scales = [float(s) for s in a.scales.split(",")]
    except ValueError:
        ap.error("--scales: numbers separated by commas")
    if not scales or min(scales) <= 0:
        ap.error("--scales must be positive")

    bi = bench_import()
    sp.install_signal_handlers()
    si.install(minio=True, mongo_express=False)
    if a.silo:
        silo_bin = Path(a.silo).resolve()
        tool = silo_bin.parent / "tools" / "spaces-tool"
    else:
        build = si.build_bench()
        silo_bin, tool = build / "silo", build / "tools" / "spaces-tool"
    mongodump = shutil.which("mongodump")
    floor = bi.launcher_floor()
    logs = si.REPO / "build" / "bench" / "backup-logs"
    logs.mkdir(parents=True, exist_ok=True)
    results = []
    failed = False

    with tempfile.TemporaryDirectory(prefix="silo-bench-backup-") as tmp:
        root = Path(tmp)
        try:
            fdb = sv.ferretdb(root / "ferretdb")
            fdb.start()
            s3 = sv.minio(root / "minio", log_path=root / "minio.log")
            s3.start()
            spaces = dict(SPACES_ENDPOINT=s3.url, SPACES_KEY=sv.MINIO_USER,
                          SPACES_SECRET=sv.MINIO_PASSWORD)
            subprocess.run([str(tool), "mb", BUCKET], check=True,
                           env=sp.clean_env(**spaces), capture_output=True,
                           timeout=60)
            key = root / "backup.key"
            subprocess.run([str(silo_bin), "backup", "keygen", str(key)],
                           check=True, capture_output=True, timeout=60,
                           env=sp.clean_env(SILO_ENV_FILE="/dev/null"))
            client = pymongo.MongoClient(fdb.uri,
                                         serverSelectionTimeoutMS=10000)
            for scale in scales:
                r = one_scale(a, bi, scale, silo_bin, mongodump, fdb, client,
                              spaces, key, root, logs)
                results.append(r)
                failed = failed or any(
                    run["status"] != 0 for runs in r["runs"].values()
                    for run in runs)
            client.close()
        finally:
            sp.stop_all()

    report(results, floor, mongodump)
    return 1 if failed else 0


def one_scale(a, bi, scale, silo_bin, mongodump, fdb, client, spaces, key,
              root, logs):
    backup, manifest, gen_s = bi.dataset(scale, a.seed, "ndjson",
                                         "canonical")
    # A fresh database per scale, loaded by silo (not timed).
    client.drop_database(AC_DB)
    client.drop_database("silo")
    sp.say(f"scale {scale:g}: loading {backup} into FerretDB")
    r = subprocess.run([str(silo_bin), "import", "--all", str(backup)],
                       env=sp.clean_env(MONGODB_CONNECTION_STRING=fdb.uri,
                                        SILO_ENV_FILE="/dev/null"),
                       stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=a.timeout)
    if r.returncode != 0:
        raise RuntimeError(f"silo import failed: {r.stderr[-2000:]!r}")
    # silo backs up silo's own database too; the import's checkpoints
    # are in it, so the scan reads it as well.
    dbs = [AC_DB, "silo"]
    docs = db_docs(client, dbs)
    env_silo = sp.clean_env(
        MONGODB_CONNECTION_STRING=fdb.uri, MONGODB_NAME=AC_DB,
        SILO_ENV_FILE="/dev/null", SILO_BACKUP_BUCKET=BUCKET,
        SILO_BACKUP_KEY=str(key), SILO_BACKUP_LOCK=str(root / "backup.lock"),
        **spaces)
    tag = f"s{scale:g}"

    def run(who, argv, env, out):
        f0 = bi.cpu_seconds(fdb.pid)
        status, wall, rss, cpu, lines = bi.run_measured(
            argv, env, out, a.timeout)
        (logs / f"{tag}-{who}.stderr").write_text(
            "".join(f"{t:9.2f} {line}\n" for t, line in lines))
        return dict(status=status, wall=wall, rss=rss, cpu=cpu,
                    fdb_cpu=bi.cpu_seconds(fdb.pid) - f0, lines=lines,
                    out=out)

    plans = {
        "scan": lambda: run("scan", [sys.executable, "-c", SCAN, fdb.uri]
                            + dbs, sp.clean_env(), root / "scan.out"),
        "silo": lambda: run("silo", [silo_bin, "backup", "run"], env_silo,
                            root / "silo.out"),
    }
    if mongodump:
        plans["mongodump"] = lambda: run(
            "mongodump", [mongodump, "--uri", fdb.uri, "--db", AC_DB,
                          "--archive", "--gzip", "--quiet"],
            sp.clean_env(), root / "mongodump.archive.gz")
    # One scan before the timed runs, so that none of them pays for
    # FerretDB's cold cache.
    sp.say(f"scale {scale:g}: warming FerretDB with one scan (not timed)")
    subprocess.run([sys.executable, "-c", SCAN, fdb.uri] + dbs,
                   env=sp.clean_env(), stdin=subprocess.DEVNULL,
                   capture_output=True, timeout=a.timeout, check=True)
    runs = {k: [] for k in plans}
    order = list(plans)
    for i in range(a.repeat):
        for who in (order if i % 2 == 0 else order[::-1]):
            sp.say(f"scale {scale:g}, run {i + 1}/{a.repeat}: {who}")
            runs[who].append(plans[who]())
    # The BSON bytes the scan read (the documents, as silo dumps them).
    try:
        nbytes = int((root / "scan.out").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        nbytes = 0
    sizes = {}
    if mongodump:
        sizes["mongodump"] = (root / "mongodump.archive.gz").stat().st_size
    return dict(scale=scale, docs=docs, nbytes=nbytes, runs=runs,
                gen_s=gen_s, sizes=sizes,
                ncoll=len(manifest["collections"]))


def median(runs):
    return sorted(runs, key=lambda r: r["wall"])[(len(runs) - 1) // 2]


def report(results, floor, mongodump):
    bi = bench_import()
    print()
    print(f"server: FerretDB {si.FERRETDB_VERSION} (SQLite) and MinIO on "
          f"loopback, {os.cpu_count()} cores shared by all")
    if not mongodump:
        print("mongodump: not on PATH (mongo-tools is in no registry this "
              "project installs from), so not compared")
    widths = (10, 8, 9, 10, 9, 9, 10, 9)
    for r in results:
        print()
        print(f"scale {r['scale']:g}: {r['ncoll']} collections, {r['docs']} "
              f"documents, {r['nbytes'] / 1e6:.1f} MB of BSON (AC's database "
              f"and silo's)")
        print(bi.fmt_row(("run", "exit", "wall s", "MB/s", "RSS MiB",
                          "CPU s", "FDB CPU s", "/ scan"), widths))
        scan = median(r["runs"]["scan"])
        for who, runs in r["runs"].items():
            m = median(runs)
            mbs = r["nbytes"] / 1e6 / max(m["wall"], 1e-9)
            print(bi.fmt_row((who, str(m["status"]), f"{m['wall']:.1f}",
                              f"{mbs:.2f}",
                              f"{m['rss'] / 1024:.1f}", f"{m['cpu']:.1f}",
                              f"{m['fdb_cpu']:.1f}",
                              f"{m['wall'] / scan['wall']:.2f}"), widths))
        s = median(r["runs"]["silo"])
        ratio = s["wall"] / scan["wall"]
        peak = max(x["rss"] for x in r["runs"]["silo"]) / 1024
        if any(x["status"] != 0 for x in r["runs"]["silo"]) or \
                scan["status"] != 0:
            print("silo / scan: no ratio, a run FAILED (see its last "
                  "lines below)")
        else:
            print(f"silo / scan: {ratio:.2f} ("
                  + ("within" if ratio <= GOAL_RATIO else "OVER")
                  + f" the {GOAL_RATIO:.2f} goal); silo peak RSS "
                  f"{peak:.1f} MiB ("
                  + ("under" if peak < RSS_GOAL_MIB else "OVER")
                  + f" {RSS_GOAL_MIB} MiB; the launcher's floor is "
                  f"{floor / 1024:.1f} MiB)")
        said = [line for _, line in s["lines"]][-3:]
        for line in said:
            print("  silo said: " + line)
        if r["sizes"]:
            print("  mongodump archive: "
                  f"{r['sizes']['mongodump'] / 1e6:.1f} MB")


if __name__ == "__main__":
    sys.exit(main())
