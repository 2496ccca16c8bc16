#!/usr/bin/env python3
"""bench/storage.py: `silo storage refresh` against `rclone size`, on one MinIO.

Builds an optimized, unsanitized silo (build/bench, -O2) and its
tools/spaces-tool, starts MinIO and FerretDB v1.24.2 (SQLite) on free
loopback ports, and fills MinIO with N small objects in AC's layout:

  user-aesthetic-computer      80%  <sub>/painting/<n>.png, N/100 users
  at-blobs-aesthetic-computer  10%  tapes/<code>.mp4 (codes in no tapes
                                    document: looked up, counted as orphans)
  art-aesthetic-computer       10%  <n>.png (guest uploads)

Objects are 0 to 915 bytes (16 distinct files, object i is file i % 16),
uploaded by P parallel `spaces-tool putlist` processes (silo's own S3
client).  The filled MinIO is kept in build/bench/storage/minio-<N>/ and
reused by the next run; how long filling it took is kept with it.

Then, in one run, alternating, --repeat times each:

  silo         `silo storage refresh` over the three buckets (the whole job:
               listing, counting, the tapes lookups, writing the snapshot)
  rclone       `rclone size :s3:<bucket> --fast-list`, one bucket after the
               other (one ListObjectsV2 walk per bucket, like silo's)
  rclone-dirs  `rclone size :s3:<bucket>` without --fast-list (rclone's
               default: a delimited listing per directory)

each under a small launcher that reaps it with wait4, so the peak RSS
(ru_maxrss, which covers the children it waited for) is measured the same
way for all.  It prints wall time, objects/s, peak RSS and CPU time and
the ratios, and checks that every tool counted exactly the objects and
bytes that were uploaded.  A benchmark, not a test: it asserts nothing,
and exits non-zero only if something failed to run or counted wrong.

Usage: bench/storage.py [--objects 100000] [--parallel 8] [--repeat 1]
"""

import argparse
import importlib.util
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import stack_install as si  # noqa: E402
import stack_process as sp  # noqa: E402
import stack_services as sv  # noqa: E402

USER, ART, AT = ("user-aesthetic-computer", "art-aesthetic-computer",
                 "at-blobs-aesthetic-computer")
BUCKETS = [USER, AT, ART]
SIZES = [k * 61 for k in range(16)]


def measure():
    """run_measured() and launcher_floor() from bench/import.py: one
    launcher for every benchmark's RSS figures."""
    spec = importlib.util.spec_from_file_location(
        "bench_import", Path(__file__).resolve().parent / "import.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.run_measured, mod.launcher_floor


def layout(n):
    """(bucket, key, size) of every object, in upload order."""
    users = max(100, n // 100)
    for i in range(n):
        r = i % 10
        size = SIZES[i % 16]
        if r < 8:
            u = (i * 7919) % users
            yield USER, f"auth0|{u:024x}/painting/{i:08d}.png", size
        elif r == 8:
            yield AT, f"tapes/t{i:07d}.mp4", size
        else:
            yield ART, f"{i:08d}.png", size


def fill(minio_dir, n, parallel, probe, files):
    """Start MinIO on minio_dir and fill it (unless a previous run did).
    Returns (service, seconds the filling took, whether it was now)."""
    stamp = minio_dir / ".silo-bench-filled"
    mio = sv.minio(minio_dir, log_path=minio_dir.parent /
                   f"minio-{n}.log").start()
    if stamp.exists():
        return mio, json.loads(stamp.read_text())["seconds"], False
    env = sp.clean_env(SPACES_ENDPOINT=mio.url, SPACES_KEY=sv.MINIO_USER,
                       SPACES_SECRET=sv.MINIO_PASSWORD)
    for b in BUCKETS:
        subprocess.run([probe, "mb", b], env=env, capture_output=True)
    sp.say(f"filling MinIO with {n} objects through {parallel} parallel "
           "uploaders")
    t0 = time.monotonic()
    # Each uploader reads its own list from a file: fed through pipes one
    # after the other, the first would hold the others back.
    lists = [open(minio_dir.parent / f"putlist-{j}.txt", "w+")
             for j in range(parallel)]
    for i, (b, k, size) in enumerate(layout(n)):
        lists[i % parallel].write(f"{b}\t{k}\t{files[SIZES.index(size)]}\n")
    procs = []
    for f in lists:
        f.seek(0)
        procs.append(subprocess.Popen([probe, "putlist"], env=env, stdin=f,
                                      stderr=subprocess.PIPE))
        f.close()
    for p in procs:
        if p.wait() != 0:
            sys.exit("bench/storage.py: upload failed: "
                     + p.stderr.read().decode(errors="replace"))
    secs = time.monotonic() - t0
    for j in range(parallel):
        (minio_dir.parent / f"putlist-{j}.txt").unlink()
    stamp.write_text(json.dumps({"objects": n, "seconds": secs}))
    sp.say(f"filled in {secs:.0f} s ({n / secs:.0f} PUT/s)")
    return mio, secs, True


def rclone_script(fast_list):
    """A shell loop running rclone size on each bucket, JSON lines out."""
    flag = " --fast-list" if fast_list else ""
    return ('for b in "$@"; do rclone size ":s3:$b" --json' + flag +
            ' || exit 1; echo; done')


def parse_rclone(text):
    objects = size = 0
    for line in text.splitlines():
        if line.strip():
            d = json.loads(line)
            objects += d["count"]
            size += d["bytes"]
    return objects, size


SUMMARY = re.compile(r"snapshot recorded: \d+ buckets, (\d+) objects, "
                     r"(\d+) bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--objects", type=int, default=100_000)
    ap.add_argument("--parallel", type=int, default=8,
                    help="uploaders filling MinIO (default 8)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=3600)
    a = ap.parse_args()
    if not shutil.which("rclone"):
        sys.exit("bench/storage.py: rclone is not installed "
                 "(apt-get install rclone)")
    run_measured, launcher_floor = measure()
    sp.install_signal_handlers()
    si.install(mongo_express=False)
    build = si.build_bench()
    subprocess.run(["make", "-j2", "tools/spaces-tool"], cwd=build,
                   check=True, stdout=subprocess.DEVNULL)
    silo_bin, probe = build / "silo", build / "tools" / "spaces-tool"
    base = si.REPO / "build" / "bench" / "storage"
    base.mkdir(parents=True, exist_ok=True)
    files = []
    for s in SIZES:
        p = base / f"object-{s}.bin"
        p.write_bytes(bytes((i * 31) & 255 for i in range(s)))
        files.append(str(p))
    want = (a.objects, sum(s for _, _, s in layout(a.objects)))

    root = Path(tempfile.mkdtemp(prefix="silo-bench-storage-"))
    mio, fill_s, fresh = fill(base / f"minio-{a.objects}", a.objects,
                              a.parallel, str(probe), files)
    fdb = sv.ferretdb(root / "ferretdb", log_path=root / "ferretdb.log").start()
    floor = launcher_floor()
    env = sp.clean_env(
        MONGODB_CONNECTION_STRING=fdb.uri, MONGODB_NAME="bench_ac",
        SILO_ENV_FILE="/dev/null", SPACES_ENDPOINT=mio.url,
        SPACES_KEY=sv.MINIO_USER, SPACES_SECRET=sv.MINIO_PASSWORD,
        SPACES_BUCKETS=",".join(BUCKETS),
        SILO_STORAGE_LOCK=root / "refresh.lock",
        RCLONE_CONFIG="/dev/null", RCLONE_S3_PROVIDER="Minio",
        RCLONE_S3_ENDPOINT=mio.url, RCLONE_S3_ACCESS_KEY_ID=sv.MINIO_USER,
        RCLONE_S3_SECRET_ACCESS_KEY=sv.MINIO_PASSWORD,
        RCLONE_S3_ENV_AUTH="false")
    # rclone refuses a plain-http endpoint when AWS_CA_BUNDLE is set
    # ("unable to load custom CA bundle, HTTPClient's transport
    # unsupported type"), and silo does not read it.
    env.pop("AWS_CA_BUNDLE", None)
    tools = {
        "silo": [silo_bin, "storage", "refresh"],
        "rclone": ["sh", "-c", rclone_script(True), "sh"] + BUCKETS,
        "rclone-dirs": ["sh", "-c", rclone_script(False), "sh"] + BUCKETS,
    }
    results = {t: [] for t in tools}
    bad = []
    try:
        for rep in range(a.repeat):
            for name, argv in tools.items():
                out = root / f"{name}.out"
                status, wall, rss, cpu, lines = run_measured(
                    argv, env, out, a.timeout)
                text = out.read_text(errors="replace")
                if name == "silo":
                    m = SUMMARY.search("\n".join(x for _, x in lines))
                    got = (int(m.group(1)), int(m.group(2))) if m else None
                else:
                    got = parse_rclone(text) if status == 0 else None
                if status != 0 or got != want:
                    bad.append(f"{name}: status {status}, counted {got}, "
                               f"uploaded {want}\n" +
                               "\n".join(x for _, x in lines[-5:]))
                results[name].append((wall, rss, cpu))
                sp.say(f"{name} run {rep + 1}: {wall:.2f} s, "
                       f"{rss / 1024:.1f} MiB, counted {got}")
    finally:
        fdb.stop()
        mio.stop()
        shutil.rmtree(root, ignore_errors=True)

    n = a.objects
    print(f"\n{n} objects, {want[1]} bytes in {len(BUCKETS)} buckets; "
          f"MinIO filled in {fill_s:.0f} s ({n / fill_s:.0f} PUT/s, "
          f"{a.parallel} uploaders{'' if fresh else ', in an earlier run'}); "
          f"launcher floor {floor / 1024:.1f} MiB; "
          f"median of {a.repeat}\n")
    print(f"{'tool':<12} {'wall s':>8} {'objects/s':>10} {'peak RSS MiB':>13} "
          f"{'CPU s':>7} {'wall / silo':>12} {'RSS / silo':>11}")
    med = {t: tuple(statistics.median(r[i] for r in rs) for i in range(3))
           for t, rs in results.items()}
    sw, srss, _ = med["silo"]
    for t, (wall, rss, cpu) in med.items():
        print(f"{t:<12} {wall:>8.2f} {n / wall:>10.0f} {rss / 1024:>13.1f} "
              f"{cpu:>7.2f} {wall / sw:>12.2f} {rss / srss:>11.2f}")
    for b in bad:
        print("WRONG: " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
