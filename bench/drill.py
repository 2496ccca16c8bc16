#!/usr/bin/env python3
"""bench/drill.py: silo under a steady mix, then through outages and a burst.

Starts its own stack on loopback, as the other bench scripts do: FerretDB
(the generated AC dataset at scale 0.01, through `silo import`), MinIO with
AC's three buckets and one `silo storage refresh` snapshot of them, the
healthy stand-ins of AC's oven, session server and PDS, an optimized
unsanitized `silo serve` (4 workers) and Caddy.  Then, through Caddy:

1. Steady: a wrk mix over every read route (round robin), 64 connections
   for 60 s.  It counts wrk's socket errors and every status per route,
   prints p50/p99 per route (from Caddy's access log, so as clients saw
   them), and samples the workers' RSS and PSS (/proc/PID/smaps_rollup)
   every 5 s.
2. Drill: the same mix for 60 s, during which
     at 5 s   FerretDB is stopped, and started again at 15 s;
     at 25 s  MinIO is stopped (and stays stopped);
     at 30 s  a worker is SIGKILLed;
     at 38 s  a burst of 1,000 more connections runs the mix for 20 s.
   It prints, per phase, what clients saw on each route (statuses, p50,
   p99), and, while the database is down, the age of the cached answers.

A drill, not a test: it asserts nothing.  Bounded: every process it starts
is on loopback and stopped at the end.

Usage: bench/drill.py [--duration S] [--connections N] [--workers N]
"""

import argparse
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import ac_standins  # noqa: E402
import stack_install as si  # noqa: E402
import stack_process as sp  # noqa: E402
import stack_services as sv  # noqa: E402

BUCKETS = ["user-aesthetic-computer", "art-aesthetic-computer",
           "at-blobs-aesthetic-computer"]
BURST = 1000


def read_routes(handle):
    """Every read route of routes.c, with an id where one is needed."""
    return [
        "/api/health", "/api/auth/me", "/api/ping", "/api/db/health",
        "/api/db/collections", "/api/db/users/count", "/api/storage/usage",
        "/api/storage/buckets", f"/api/storage/user/{handle}",
        "/api/storage/top-users", "/api/storage/history",
        f"/api/users/{handle}", "/api/backups", "/api/services",
        "/api/services/oven", "/api/services/session",
        "/api/services/atproto", "/api/kidlisp/stats", "/api/overview",
    ]


def route_of(uri, handle):
    """The route pattern a logged URI belongs to."""
    return uri.split("?")[0].replace(handle, ":id")


def mix_script(path, routes, token):
    """A wrk Lua script asking for routes in turn, per thread."""
    items = ",".join(json.dumps(r) for r in routes)
    path.write_text(f"""
local paths = {{{items}}}
local i = 0
wrk.headers["Authorization"] = "Bearer {token}"
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
""")


def wrk(url, script, connections, seconds):
    """Run wrk; its socket errors and non-2xx count, and its text."""
    p = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout",
         "10s", "-s", str(script), url],
        capture_output=True, text=True)
    out = p.stdout
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), "
                     r"write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {"socket_errors": sum(map(int, errs.groups())) if errs else 0,
            "breakdown": errs.group(0) if errs else "Socket errors: none",
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "requests": int(total.group(1)) if total else 0, "text": out}


def workers(master):
    kids = Path(f"/proc/{master}/task/{master}/children")
    try:
        return [int(p) for p in kids.read_text().split()]
    except OSError:
        return []


def memory(master):
    """The workers' total RSS and PSS in kB."""
    rss = pss = 0
    pids = workers(master)
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        rss += int(re.search(r"^Rss:\s+(\d+)", text, re.M).group(1))
        pss += int(re.search(r"^Pss:\s+(\d+)", text, re.M).group(1))
    return len(pids), rss, pss


def sample_memory(master, stop, every, into):
    t0 = time.monotonic()
    while True:
        into.append((time.monotonic() - t0, *memory(master)))
        if stop.wait(every):
            return


def access_lines(log, since, until):
    """(ts, uri, status, duration s, stale) of Caddy's access lines."""
    out = []
    for line in log.read_text(errors="replace").splitlines():
        if '"http.log.access' not in line:
            continue
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if since <= e["ts"] < until:
            out.append((e["ts"], e["request"]["uri"], e["status"],
                        e["duration"], e.get("size", 0)))
    return out


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000


def per_route(lines, handle):
    routes = {}
    for _, uri, status, dur, _ in lines:
        r = routes.setdefault(route_of(uri, handle), {"st": {}, "d": []})
        r["st"][status] = r["st"].get(status, 0) + 1
        r["d"].append(dur)
    return routes


def statuses(st):
    return " ".join(f"{k}:{v}" for k, v in sorted(st.items()))


def print_routes(lines, handle, title):
    print(f"\n{title}\n")
    print(f"{'route':<28}{'answers':>9}{'p50 ms':>9}{'p99 ms':>9}  statuses")
    total = {}
    for name, r in sorted(per_route(lines, handle).items()):
        print(f"{name:<28}{len(r['d']):>9}{pct(r['d'], .5):>9.1f}"
              f"{pct(r['d'], .99):>9.1f}  {statuses(r['st'])}")
        for k, v in r["st"].items():
            total[k] = total.get(k, 0) + v
    print(f"{'all':<28}{sum(total.values()):>9}{'':>18}  "
          f"{statuses(total)}")


def get_json(url, path, token):
    """One request: its status and JSON body (None when not JSON)."""
    req = urllib.request.Request(url + path,
                                 headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, None
    except OSError:
        return None, None


def first_handle(backup):
    """A handle of the generated dataset (its @handles file)."""
    text = (backup / "@handles.json").read_text(errors="replace")
    return re.search(r'"handle"\s*:\s*"([a-z0-9._-]+)"', text).group(1)


def drill_events(st, t0, log):
    """The second run's faults, on schedule; each logged with its time."""
    def at(s):
        time.sleep(max(0.0, t0 + s - time.monotonic()))
        return time.time()
    log.append(("db stopped", at(5)))
    st["fdb"].stop()
    at(10)
    for path in ("/api/db/health", "/api/db/collections", "/api/overview",
                 "/api/kidlisp/stats"):
        status, body = get_json(st["url"], path, st["token"])
        age = body.get("age_s") if isinstance(body, dict) else None
        st.setdefault("db_down", []).append((path, status, age))
    log.append(("db starting", at(15)))
    st["fdb"].start()
    log.append(("db started again", time.time()))
    while get_json(st["url"], "/api/db/health", st["token"])[0] != 200 \
            and time.monotonic() < t0 + 25:
        time.sleep(0.2)
    log.append(("db answers again", time.time()))
    log.append(("minio stopped", at(25)))
    st["mio"].stop()
    victim = workers(st["silo"].pid)[0]
    log.append(("worker killed", at(30)))
    os.kill(victim, signal.SIGKILL)
    log.append(("burst", at(38)))
    st["burst"] = wrk(st["url"], st["script"], BURST, 20)
    log.append(("burst done", time.time()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=int, default=60,
                    help="seconds of each run (default 60)")
    ap.add_argument("--connections", type=int, default=64,
                    help="the mix's connections (default 64)")
    ap.add_argument("--workers", type=int, default=4,
                    help="silo workers (default 4)")
    args = ap.parse_args()

    sp.install_signal_handlers()
    si.install(mongo_express=False)
    build = si.build_bench()
    subprocess.run(["make", "-j2", "tools/spaces-tool"], cwd=build,
                   check=True, stdout=subprocess.DEVNULL)
    token = secrets.token_hex(32)
    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="silo-drill-") as tmp:
        root = Path(tmp)
        fakes = {}
        st = {}
        try:
            fdb = sv.ferretdb(root / "ferretdb").start()
            sv.load_ac_dataset(build / "silo", fdb.uri, root, scale=0.01)
            handle = first_handle(root / "backup")
            mio = sv.minio(root / "minio").start()
            s3 = dict(SPACES_ENDPOINT=mio.url, SPACES_KEY=sv.MINIO_USER,
                      SPACES_SECRET=sv.MINIO_PASSWORD,
                      SPACES_BUCKETS=",".join(BUCKETS))
            sv.upload_spaces(build / "tools" / "spaces-tool", mio.url, [],
                             root, BUCKETS)
            sp.run([build / "silo", "storage", "refresh"],
                   env=sp.clean_env(
                       MONGODB_CONNECTION_STRING=fdb.uri,
                       SILO_ENV_FILE="/dev/null",
                       SILO_STORAGE_LOCK=root / "refresh.lock", **s3),
                   stdout=subprocess.DEVNULL)
            fakes = ac_standins.start_all(lifetime=1800)
            silo = sv.bench_silo(build, fdb.uri, root, args.workers, fakes,
                                 SILO_STORAGE_LOCK=root / "refresh.lock",
                                 SILO_STORAGE_LOG=root / "refresh.log",
                                 SILO_READ_TOKEN=token, **s3)
            cad = sv.caddy(sp.free_port(), silo.sock, root,
                           root / "caddy.log").start()
            routes = read_routes(handle)
            script = root / "mix.lua"
            mix_script(script, routes, token)
            for r in routes:                    # warm the cache
                get_json(cad.url, r, token)
            st.update(fdb=fdb, mio=mio, silo=silo, url=cad.url,
                      script=script, token=token)

            # 1. steady
            mem, stop = [], threading.Event()
            sampler = threading.Thread(target=sample_memory,
                                       args=(silo.pid, stop, 5, mem))
            sampler.start()
            t_start = time.time()
            steady = wrk(cad.url, script, args.connections, args.duration)
            t_end = time.time()
            stop.set()
            sampler.join()
            steady_lines = access_lines(cad.log_path, t_start, t_end)

            # 2. drill
            # The faults run in this thread: a service started again from
            # another thread would die with it (PR_SET_PDEATHSIG).
            events, drill = [], {}
            t_start = time.time()
            mix = threading.Thread(target=lambda: drill.update(
                wrk(cad.url, script, args.connections, args.duration)))
            mix.start()
            drill_events(st, time.monotonic(), events)
            mix.join()
            t_end = time.time()
            time.sleep(1)
            drill_lines = access_lines(cad.log_path, t_start, t_end + 1)
            # The burst's requests wait in silo's queue after wrk has
            # gone: let it drain, then see that every route recovered.
            drained = time.monotonic()
            while get_json(cad.url, "/api/ping", token)[0] != 200 and \
                    time.monotonic() < drained + 120:
                time.sleep(0.5)
            drained = time.monotonic() - drained
            after = {}
            for r in routes:
                status, body = get_json(cad.url, r, token)
                err = body.get("error") if isinstance(body, dict) else None
                code = err.get("code") if isinstance(err, dict) else err
                after[route_of(r, handle)] = (
                    status, code or (body or {}).get("status"))
        finally:
            sp.stop_all()
            for f in fakes.values():
                f.stop()

    print(f"\nload average at the end: {os.getloadavg()}")
    print(f"\n1. steady: {args.connections} connections, {args.duration} s, "
          f"{len(routes)} read routes in turn, {args.workers} workers\n")
    print(f"requests {steady['requests']}, "
          f"{steady['requests'] / args.duration:.0f}/s; "
          f"non-2xx {steady['non2xx']}; {steady['breakdown']}")
    print("\nworkers' memory every 5 s (kB): t, workers, RSS, PSS")
    for t, n, rss, pss in mem:
        print(f"  {t:5.1f} s  {n}  {rss:7d}  {pss:7d}")
    print(f"  PSS at most {max(m[3] for m in mem) / 1024:.1f} MB "
          f"for {args.workers} workers")
    print_routes(steady_lines, handle, "per route, as clients saw it")

    print(f"\n2. drill: the same mix for {args.duration} s, and\n")
    base = t_start
    for what, when in events:
        print(f"  {when - base:5.1f} s  {what}")
    b = st.get("burst", {})
    print(f"\nburst of {BURST} connections for 20 s: requests "
          f"{b.get('requests')}, non-2xx {b.get('non2xx')}, "
          f"{b.get('breakdown')}")
    print(f"the mix meanwhile: requests {drill['requests']}, non-2xx "
          f"{drill['non2xx']}, {drill['breakdown']}")
    marks = [("before", base)] + [(w, t) for w, t in events
                                   if w in ("db stopped", "db started again",
                                            "db answers again",
                                            "minio stopped", "worker killed",
                                            "burst", "burst done")]
    marks.append(("end", t_end + 1))
    for (name, since), (_, until) in zip(marks, marks[1:]):
        lines = [x for x in drill_lines if since <= x[0] < until]
        print_routes(lines, handle,
                     f"phase '{name}' ({since - base:.0f} to "
                     f"{until - base:.0f} s)")
    print("\nwith the database down (10 s): route, status, age_s")
    for path, status, age in st.get("db_down", []):
        print(f"  {path:<24}{status}  {age}")
    print(f"\nafter the drill, the queue drained in {drained:.1f} s; "
          "then, MinIO still stopped:")
    for r, (status, code) in after.items():
        print(f"  {r:<28}{status}  {code or ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
