#!/usr/bin/env python3
"""bench/wrk_routes.py: what each layer of silo's request path costs, with wrk.

Starts its own FerretDB (loaded with the generated AC dataset at scale 0.01, all 38
collections, through `silo import`), MinIO with acgen's Spaces objects (scale
0.01) and one `silo storage refresh` of them, an optimized, unsanitized
`silo serve` and Caddy, all on loopback ports of its own, and measures in one
run, through Caddy:

  static          a static file (www/index.html): Caddy alone
  ping            /api/ping: Caddy + FastCGI + silo's edge, no backend (the ceiling)
  db/health       /api/db/health: one shared result a second (ping + serverStatus)
  db/collections  /api/db/collections: the shared cache (SILO_CACHE_TTL_S)
  db/users/count  /api/db/users/count: the shared cache
  kidlisp/stats   /api/kidlisp/stats: the shared cache
  overview        /api/overview: eight sections, each from the shared cache, plus its ETag
  storage/*       usage, buckets, top-users, history: rendered by the refresh,
                  served from the shared cache; user/:id: one indexed read

AC's oven, session server and PDS are the stand-ins
(tools/ac_standins.py), healthy, on loopback: the bench never
probes the real services.  The cached routes are warmed by one request
before wrk starts, so they measure the cache, not the first fill.

It prints req/s, p50 and p99 for each, and each silo route's throughput as a
ratio of the ping ceiling, measured in the same run, so the figures compare
across machines, against issue 13's goals: every route at least 0.5 of ping,
/api/db/health at least 0.7 (GOALS), each marked pass or FAIL.  It prints the
load average before and after, since the machine may be shared.  A benchmark,
not a test: it asserts nothing.

Usage: bench/wrk_routes.py [--duration S] [--connections N] [--workers N] [--ttl S]
"""

import argparse
import os
import re
import shutil
import secrets
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import ac_standins  # noqa: E402
import acgen  # noqa: E402
import stack_install as si  # noqa: E402
import stack_process as sp  # noqa: E402
import stack_services as sv  # noqa: E402

BUCKETS = ["user-aesthetic-computer", "art-aesthetic-computer",
           "at-blobs-aesthetic-computer"]
USER = "@user"         # replaced by the biggest user of the snapshot

TARGETS = [
    ("static", "/index.html"),
    ("ping", "/api/ping"),
    ("db/health", "/api/db/health"),
    ("db/collections", "/api/db/collections"),
    ("db/users/count", "/api/db/users/count"),
    ("kidlisp/stats", "/api/kidlisp/stats"),
    ("overview", "/api/overview"),
    ("storage/usage", "/api/storage/usage"),
    ("storage/buckets", "/api/storage/buckets"),
    ("storage/top-users", "/api/storage/top-users"),
    ("storage/history", "/api/storage/history"),
    ("storage/user/:id", "/api/storage/user/" + USER),
]

# Issue 13: each silo route's req/s as a share of /api/ping's, same run.
GOALS = {"db/health": 0.7}
GOAL_DEFAULT = 0.5


def parse_wrk(out):
    """req/s, p50 ms and p99 ms from `wrk --latency` output."""
    def ms(text):
        value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p50, p99, int(errors.group(1)) if errors else 0


def biggest_user(url, token):
    """The sub of the snapshot's biggest user, URL-quoted."""
    import json
    from urllib.parse import quote
    req = urllib.request.Request(url + "/api/storage/top-users?limit=1",
                                 headers={"Authorization": f"Bearer {token}"})
    top = json.loads(urllib.request.urlopen(req, timeout=30).read())
    return quote(top["users"][0]["user"], safe="")


def wrk(url, duration, connections, token):
    out = subprocess.run(
        ["wrk", "--latency", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}s",
         "-H", f"Authorization: Bearer {token}", url],
        check=True, capture_output=True, text=True).stdout
    return parse_wrk(out)


def spaces(build, root, fdb, cache_dir):
    """MinIO with acgen's Spaces objects, and one storage refresh into the
    bench's database, sharing silo's cache directory.  The environment the
    refresh and silo read Spaces with."""
    tool = build / "tools" / "spaces-tool"
    subprocess.run(["make", "-j2", "tools/spaces-tool"], cwd=build,
                   check=True, capture_output=True)
    mio = sv.minio(root / "minio", log_path=root / "minio.log").start()
    objdir = root / "objects"
    rows = acgen.generate_spaces(str(objdir), 0.01, 1)
    sv.upload_spaces(tool, mio.url, rows, objdir, BUCKETS)
    shutil.rmtree(objdir)
    env = {"SPACES_ENDPOINT": mio.url, "SPACES_KEY": sv.MINIO_USER,
           "SPACES_SECRET": sv.MINIO_PASSWORD,
           "SPACES_BUCKETS": ",".join(BUCKETS),
           "SILO_STORAGE_LOCK": str(root / "refresh.lock"),
           "SILO_STORAGE_LOG": str(root / "refresh.log")}
    subprocess.run([str(build / "silo"), "storage", "refresh"],
                   env=sp.clean_env(MONGODB_CONNECTION_STRING=fdb.uri,
                                    MONGODB_NAME="aesthetic",
                                    SILO_ENV_FILE="/dev/null",
                                    SILO_CACHE_DIR=cache_dir, **env),
                   check=True, capture_output=True)
    return env


def goal_of(name):
    return None if name in ("static", "ping") else \
        GOALS.get(name, GOAL_DEFAULT)


def loadavg():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=int, default=10,
                    help="seconds per target (default 10)")
    ap.add_argument("--connections", type=int, default=16,
                    help="concurrent connections (default 16)")
    ap.add_argument("--workers", type=int, default=4,
                    help="silo workers (default 4, 2 x cores here)")
    ap.add_argument("--ttl", type=int, default=30,
                    help="SILO_CACHE_TTL_S (default 30, silo's default)")
    args = ap.parse_args()

    si.install(minio=True, mongo_express=False)
    build = si.build_bench()
    # Every route but /api/health needs a caller: the bench is a service
    # with the bootstrap read token (checked without the database).
    token = secrets.token_hex(32)
    with tempfile.TemporaryDirectory(prefix="silo-bench-") as tmp:
        root = Path(tmp)
        fakes = {}
        try:
            fdb = sv.ferretdb(root / "ferretdb")
            fdb.start()
            sv.load_ac_dataset(build / "silo", fdb.uri, root, scale=0.01)
            fakes = ac_standins.start_all(lifetime=1800)
            store = spaces(build, root, fdb, root / "cache")
            silo = sv.bench_silo(build, fdb.uri, root, args.workers, fakes,
                                 SILO_CACHE_TTL_S=args.ttl,
                                 SILO_READ_TOKEN=token, **store)
            cad = sv.caddy(sp.free_port(), silo.sock, root,
                           root / "caddy.log")
            cad.start()

            results = {}
            load_before = loadavg()
            for name, path in TARGETS:
                if path.endswith(USER):
                    path = path.replace(USER, biggest_user(cad.url, token))
                warm = urllib.request.Request(  # warm the cache
                    cad.url + path,
                    headers={"Authorization": f"Bearer {token}"})
                urllib.request.urlopen(warm, timeout=30).read()
                results[name] = wrk(cad.url + path, args.duration,
                                    args.connections, token)
            load_after = loadavg()
        finally:
            sp.stop_all()
            for f in fakes.values():
                f.stop()

    ceiling = results["ping"][0]
    print(f"\n{args.connections} connections, {args.duration} s each, "
          f"{args.workers} silo workers, through Caddy; load average "
          f"{load_before} before, {load_after} after\n")
    print(f"{'target':<19}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'non-2xx':>9}{'/ ping':>8}{'goal':>7}  ")
    passed = failed = 0
    for name, _ in TARGETS:
        rps, p50, p99, errors = results[name]
        goal, ratio = goal_of(name), rps / ceiling
        verdict = ""
        if goal is not None:
            ok = ratio >= goal and errors == 0
            passed, failed = passed + ok, failed + (not ok)
            verdict = f"{goal:>7.2f}  {'pass' if ok else 'FAIL'}"
        print(f"{name:<19}{rps:>9.0f}{p50:>9.2f}{p99:>9.2f}{errors:>9}"
              f"{ratio:>8.2f}{verdict}")
    print(f"\ngoals: {passed} pass, {failed} fail (every route >= "
          f"{GOAL_DEFAULT} of ping, db/health >= {GOALS['db/health']}, "
          f"no non-2xx)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
