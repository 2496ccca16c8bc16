#!/usr/bin/env python3
"""bench/footprint.py: silo's memory as the droplet would run it.

The droplet has 1 vCPU and 1 GB.  `SILO_WORKERS=auto` is two workers per
core, so silo there is the master and two workers.  This starts, on
loopback, FerretDB with the generated AC dataset (scale 0.01, through
`silo import`), an optimized unsanitized `silo serve` with 2 workers,
Caddy and mongo-express 1.0.0, calls every read route of silo three
times and mongo-express's pages a few times, and then prints each
process's RSS and PSS (/proc/PID/smaps_rollup): silo's whole (master
plus workers) against the runbook's goal of 24 MB, and each against the
droplet's 1 GB.

A benchmark, not a test: it asserts nothing.  Every process it starts is
on loopback and stopped at the end.

Usage: bench/footprint.py [--workers N] [--rounds N]
"""

import argparse
import base64
import os
import re
import secrets
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import ac_standins  # noqa: E402
import stack_install as si  # noqa: E402
import stack_process as sp  # noqa: E402
import stack_services as sv  # noqa: E402

GOAL_KB = 24 * 1024          # the runbook's goal for silo, master + workers
DROPLET_KB = 1024 * 1024     # the droplet's memory

ROUTES = ["/api/health", "/api/auth/me", "/api/ping", "/api/db/health",
          "/api/db/collections", "/api/db/users/count", "/api/db/clients",
          "/api/backups", "/api/services",
          "/api/services/oven", "/api/services/session",
          "/api/services/atproto", "/api/kidlisp/stats", "/api/overview",
          "/api/metrics"]


def smaps(pid):
    """(rss kB, pss kB) of one process."""
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return (int(re.search(r"^Rss:\s+(\d+)", text, re.M).group(1)),
            int(re.search(r"^Pss:\s+(\d+)", text, re.M).group(1)))


def children(pid):
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children")
                .read_text().split()]
    except OSError:
        return []


def tree(pid):
    """pid and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children(p))
    return out


def get(url, headers):
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2,
                    help="silo workers (default 2: auto on 1 vCPU)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="calls of every route (default 3)")
    args = ap.parse_args()

    sp.install_signal_handlers()
    si.install(minio=False)
    build = si.build_bench()
    token = secrets.token_hex(32)
    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="silo-footprint-") as tmp:
        root = Path(tmp)
        fakes = {}
        try:
            fdb = sv.ferretdb(root / "ferretdb").start()
            sv.load_ac_dataset(build / "silo", fdb.uri, root, scale=0.01)
            fakes = ac_standins.start_all(lifetime=1800)
            silo = sv.bench_silo(build, fdb.uri, root, args.workers, fakes,
                                 SILO_ADMIN_TOKEN=token)
            me_password = secrets.token_hex(12)
            me = sv.mongo_express(fdb.uri, root / "mongo-express.log",
                                  "admin", me_password).start()
            cad = sv.caddy(sp.free_port(), silo.sock, root,
                           root / "caddy.log",
                           mongo_express_addr=f"127.0.0.1:{me.port}").start()
            auth = {"Authorization": f"Bearer {token}"}
            statuses = {}
            for _ in range(args.rounds):
                for r in ROUTES:
                    statuses[r] = get(cad.url + r, auth)
            basic = base64.b64encode(f"admin:{me_password}".encode())
            for page in ("/db/", "/db/db/aesthetic/",
                         "/db/db/aesthetic/paintings"):
                for _ in range(args.rounds):
                    get(f"http://127.0.0.1:{me.port}{page}",
                        {"Authorization": "Basic " + basic.decode()})
            bad = {r: s for r, s in statuses.items() if s != 200}
            if bad:
                print(f"routes that did not answer 200: {bad}")

            rows = []
            pids = tree(silo.pid)
            for pid in pids:
                rss, pss = smaps(pid)
                role = "master" if pid == silo.pid else "worker"
                rows.append((f"silo {role} {pid}", rss, pss))
            silo_rss = sum(r[1] for r in rows)
            silo_pss = sum(r[2] for r in rows)
            me_rss = me_pss = 0
            for pid in tree(me.pid):
                rss, pss = smaps(pid)
                me_rss += rss
                me_pss += pss
            print(f"\nsilo serve with {args.workers} workers after "
                  f"{args.rounds} calls of {len(ROUTES)} routes:")
            print(f"{'process':<24}{'RSS MB':>9}{'PSS MB':>9}")
            for name, rss, pss in rows:
                print(f"{name:<24}{rss / 1024:>9.1f}{pss / 1024:>9.1f}")
            print(f"{'silo, all':<24}{silo_rss / 1024:>9.1f}"
                  f"{silo_pss / 1024:>9.1f}")
            print(f"{'mongo-express (node)':<24}{me_rss / 1024:>9.1f}"
                  f"{me_pss / 1024:>9.1f}")
            print(f"\nsilo PSS / goal (24 MB): {silo_pss / GOAL_KB:.2f}")
            print(f"silo PSS / droplet (1 GB): {silo_pss / DROPLET_KB:.3f}")
            print(f"mongo-express PSS / droplet (1 GB): "
                  f"{me_pss / DROPLET_KB:.3f}")
            print(f"mongo-express PSS / silo PSS: {me_pss / silo_pss:.1f}")
        finally:
            sp.stop_all()
            for f in fakes.values():
                f.stop()


if __name__ == "__main__":
    main()
