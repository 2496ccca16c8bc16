#!/usr/bin/env python3
"""bench/wrk_routes.py: what each layer of silo's request path costs, with wrk.

Starts its own FerretDB (loaded with the generated AC dataset at scale 0.01, all 38
collections, through `silo import`), an optimized,
unsanitized `silo serve` and Caddy, all on loopback ports of its own, and
measures in one run, through Caddy:

  static        a static file (www/index.html): Caddy alone
  ping          /api/ping: Caddy + FastCGI + silo's edge, no backend (the ceiling)
  db/health     /api/db/health: plus ping + serverStatus against the database
  db/collections /api/db/collections: plus listCollections and per-collection stats
  kidlisp/stats /api/kidlisp/stats: served from the shared cache (SILO_CACHE_TTL_S)
  overview      /api/overview: eight sections, each from the shared cache, plus its ETag

AC's oven, session server and PDS are the stand-ins
(tools/ac_standins.py), healthy, on loopback: the bench never
probes the real services.  The cached routes are warmed by one request
before wrk starts, so they measure the cache, not the first fill.

It prints req/s, p50 and p99 for each, and each silo route's throughput as a
ratio of the ping ceiling, measured in the same run, so the figures compare
across machines.  A benchmark, not a test: it asserts nothing.

Usage: bench/wrk_routes.py [--duration S] [--connections N] [--workers N] [--ttl S]
"""

import argparse
import re
import secrets
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import ac_standins  # noqa: E402
import stack_install as si  # noqa: E402
import stack_process as sp  # noqa: E402
import stack_services as sv  # noqa: E402

TARGETS = [
    ("static", "/index.html"),
    ("ping", "/api/ping"),
    ("db/health", "/api/db/health"),
    ("db/collections", "/api/db/collections"),
    ("kidlisp/stats", "/api/kidlisp/stats"),
    ("overview", "/api/overview"),
]


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


def wrk(url, duration, connections, token):
    out = subprocess.run(
        ["wrk", "--latency", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}s",
         "-H", f"Authorization: Bearer {token}", url],
        check=True, capture_output=True, text=True).stdout
    return parse_wrk(out)


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

    si.install(minio=False, mongo_express=False)
    build = si.build_silo(si.REPO / "build" / "bench",
                          ["CFLAGS=-O2 -g"], target="")
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
            sock = sv.socket_path(root)
            silo = sv.silo(build / "silo", fdb.uri, sock, root / "silo.log",
                           workers=args.workers, rundir=root,
                           SILO_LOG_LEVEL="warning",
                           OVEN_URL=fakes["oven"].url,
                           SESSION_URL=fakes["session"].url,
                           PDS_URL=fakes["pds"].url,
                           SILO_CACHE_TTL_S=args.ttl,
                           SILO_READ_TOKEN=token)
            silo.start()
            cad = sv.caddy(sp.free_port(), sock, root, root / "caddy.log")
            cad.start()

            results = {}
            for name, path in TARGETS:
                warm = urllib.request.Request(  # warm the cache
                    cad.url + path,
                    headers={"Authorization": f"Bearer {token}"})
                urllib.request.urlopen(warm, timeout=30).read()
                results[name] = wrk(cad.url + path, args.duration,
                                    args.connections, token)
        finally:
            sp.stop_all()
            for f in fakes.values():
                f.stop()

    ceiling = results["ping"][0]
    print(f"\n{args.connections} connections, {args.duration} s each, "
          f"{args.workers} silo workers, through Caddy\n")
    print(f"{'target':<16}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}"
          f"{'non-2xx':>9}{'/ ping':>9}")
    for name, _ in TARGETS:
        rps, p50, p99, errors = results[name]
        print(f"{name:<16}{rps:>10.0f}{p50:>10.2f}{p99:>10.2f}{errors:>9}"
              f"{rps / ceiling:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
