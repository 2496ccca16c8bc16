#!/usr/bin/env python3
"""bench/sync.py: `silo sync` on AC's generated database, two FerretDBs.

Starts two FerretDB v1.24.2 (SQLite) servers on free loopback ports, one
playing Atlas, loads AC's generated dataset (tools/acgen.py at --scale,
through `silo import --all`, as the tests' stack does) into the first,
builds an optimized, unsanitized silo (build/bench, -O2) and, in one run:

  baseline   a plain scan of the source: every document of every
             collection, in _id order, as raw BSON through pymongo (what
             any catch-up must read at least once)
  full       `silo sync --all` into an empty target database
  catch-up   the same after 1% of each collection's documents changed at
             the source (every 100th _id gets a new field)
  verify     `silo sync --all --verify-only`, which must say equal

Each is timed; it prints documents/s and the ratio to the same run's
baseline (1.0 would be as fast as a bare scan of the source alone).  A
benchmark, not a test: it asserts nothing, and exits non-zero only if
something failed to run.

Usage: bench/sync.py [--scale 1] [--seed 1] [--timeout S]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import stack_install as si  # noqa: E402
import stack_process as sp  # noqa: E402
import stack_services as sv  # noqa: E402

try:
    import pymongo
    from bson.raw_bson import RawBSONDocument
except ImportError:             # re-exec under the stack's venv below
    pymongo = None

SOURCE_DB = "aesthetic"
TARGET_DB = "bench_sync"


def scan(uri):
    """Read every document of SOURCE_DB in _id order; (docs, seconds)."""
    c = pymongo.MongoClient(uri, document_class=RawBSONDocument)
    t0 = time.monotonic()
    n = 0
    db = c[SOURCE_DB]
    for name in db.list_collection_names():
        for _ in db[name].find({}).sort("_id", 1).batch_size(1000):
            n += 1
    c.close()
    return n, time.monotonic() - t0


def change_one_percent(uri):
    """Give every 100th document of every collection a new field; the
    number changed."""
    c = pymongo.MongoClient(uri)
    db = c[SOURCE_DB]
    n = 0
    for name in db.list_collection_names():
        ids = [d["_id"] for d in db[name].find({}, {"_id": 1}).sort("_id", 1)]
        pick = ids[::100]
        for i in range(0, len(pick), 1000):
            n += db[name].update_many({"_id": {"$in": pick[i:i + 1000]}},
                                      {"$set": {"benchChanged": True}}
                                      ).modified_count
    c.close()
    return n


def silo_sync(silo_bin, src_uri, dst_uri, timeout, *args):
    env = sp.clean_env(MONGODB_CONNECTION_STRING=dst_uri,
                       SILO_ENV_FILE="/dev/null")
    argv = [str(silo_bin), "sync", "--all", "--from", src_uri + SOURCE_DB,
            "--database", TARGET_DB] + list(args)
    t0 = time.monotonic()
    r = subprocess.run(argv, env=env, capture_output=True, text=True,
                       timeout=timeout)
    return r, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=7200)
    a = ap.parse_args()
    if pymongo is None:
        py = si.found_paths().get("SILO_STACK_PYTHON")
        if not py:
            sys.exit("bench/sync.py: pymongo missing; run tools/stack install")
        os.execv(py, [py] + sys.argv)
    sp.install_signal_handlers()
    si.install(minio=False, mongo_express=False)
    build = si.build_bench()
    silo_bin = build / "silo"
    with tempfile.TemporaryDirectory(prefix="silo-bench-sync-") as d:
        root = Path(d)
        src = sv.ferretdb(root / "atlas").start()
        dst = sv.ferretdb(root / "target").start()
        try:
            t0 = time.monotonic()
            sv.load_ac_dataset(silo_bin, src.uri, root, db_name=SOURCE_DB,
                               scale=a.scale, seed=a.seed,
                               log_path=root / "import.log")
            print(f"dataset: scale {a.scale:g}, loaded in "
                  f"{time.monotonic() - t0:.1f} s")
            ndocs, base_s = scan(src.uri)
            base = ndocs / base_s
            print(f"{'run':<10} {'docs':>8} {'seconds':>9} {'docs/s':>9} "
                  f"{'x baseline':>10}")
            print(f"{'scan':<10} {ndocs:>8} {base_s:>9.1f} {base:>9.0f} "
                  f"{1.0:>10.2f}")
            r, full_s = silo_sync(silo_bin, src.uri, dst.uri, a.timeout)
            if r.returncode != 0:
                sys.exit(f"full sync failed:\n{r.stdout}{r.stderr}")
            print(f"{'full':<10} {ndocs:>8} {full_s:>9.1f} "
                  f"{ndocs / full_s:>9.0f} {ndocs / full_s / base:>10.2f}")
            changed = change_one_percent(src.uri)
            r, cu_s = silo_sync(silo_bin, src.uri, dst.uri, a.timeout)
            if r.returncode != 0:
                sys.exit(f"catch-up failed:\n{r.stdout}{r.stderr}")
            print(f"{'catch-up':<10} {ndocs:>8} {cu_s:>9.1f} "
                  f"{ndocs / cu_s:>9.0f} {ndocs / cu_s / base:>10.2f}"
                  f"   ({changed} changed)")
            r, v_s = silo_sync(silo_bin, src.uri, dst.uri, a.timeout,
                               "--verify-only")
            print(f"{'verify':<10} {ndocs:>8} {v_s:>9.1f} "
                  f"{ndocs / v_s:>9.0f} {ndocs / v_s / base:>10.2f}"
                  f"   ({'equal' if r.returncode == 0 else 'DIFFERENT'})")
            if r.returncode != 0:
                sys.exit(f"verify-only disagrees:\n{r.stdout}")
        finally:
            dst.stop()
            src.stop()


if __name__ == "__main__":
    main()
