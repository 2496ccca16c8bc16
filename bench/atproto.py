#!/usr/bin/env python3
"""bench/atproto.py: `silo atproto migrate` against a baseline, on one FerretDB.

Loads the generated AC backup (tools/acgen.py, cached in
build/bench/data/<scale>-ndjson-canonical/, shared with bench/import.py)
into its own FerretDB v1.24.2 (SQLite) with `silo import` (without the
report's drop list, as the migration's target holds it; --all keeps it:
boots is AC's largest collection and meta.user.sub has no index, so each
user then costs a scan of it on both sides), builds an
optimized, unsanitized silo (build/bench, -O2), and in one run migrates
two disjoint sets of N users (default 1,000) from their auth0 sub to a
DID:

  silo      `silo atproto migrate --map FILE --stats`: the journal, the
            refusals, every reference of ac.c's tables; the commands it
            sent come from libmongoc's APM (--stats).
  baseline  the ATProto document's migration script, written with pymongo
            and widened to the same references: one updateMany per field
            reference, the records re-keyed (find, delete, insert) and the
            @handles update and insert; no journal, no checks, so it can
            neither resume nor be undone.  Its commands are counted with a
            pymongo CommandListener.

The users are AC's handle holders not yet on a DID _id, in the generated
order, taken alternately (the even ones for silo, the odd ones for the
baseline, so that both sets hold alike amounts of data) as far as the
baseline's go, and silo's take the ones after.  It prints
users/s, commands (round trips) per user and the documents each moved,
and the ratios silo / baseline.  A benchmark, not a test: it asserts
nothing, and exits non-zero only if something failed to run.

Users whose handle has no DNS form (silo refuses them: atproto.c) are left
out of both sets.  The baseline's cost per user does not depend on how
many users it moves (it has no batches: every user costs its scans), so
--baseline-users N measures it on fewer users when the full count would
take hours; silo's count stays --users.  The load average is printed
before and after, since the machine may be shared.

Usage: bench/atproto.py [--scale 1] [--users 1000] [--baseline-users N]
                        [--batch N] [--all] [--timeout S]
"""

import argparse
import hashlib
import importlib.util
import os
import re
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
    from pymongo import monitoring
except ImportError:             # re-exec under the stack's venv below
    pymongo = None

DB = "bench_atproto"
B32 = "abcdefghijklmnopqrstuvwxyz234567"


def did_for(u):
    if u.did:
        return u.did
    h = hashlib.sha256(u.sub.encode()).digest()
    return "did:plc:" + "".join(B32[b % 32] for b in h[:24])


def dns_handle(handle):
    """atproto.c's atprotoHandle rule: None when the handle has none."""
    label = re.sub(r"[._]", "-", handle.lower())
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", label):
        return None
    return label + ".at.aesthetic.computer"


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def ac_refs():
    """[(collection, field, kind)] of src/ac.c's two tables, in order."""
    text = (si.REPO / "src" / "ac.c").read_text()
    refs = []
    for table in ("ac_user_collections", "ac_user_references"):
        body = re.search(r"\b%s\[\] = \{(.*?)\n\};" % table, text, re.S)
        for c, f, k in re.findall(
                r'\{ "([^"]+)", "([^"]+)"(?:, (AC_REF_\w+))?', body.group(1)):
            refs.append((c, f, k or "AC_REF_FIELD"))
    return refs


class Counter(monitoring.CommandListener if pymongo else object):
    """Commands sent, as round trips."""
    def __init__(self):
        self.n = 0

    def started(self, event):
        self.n += 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def baseline(uri, pairs, refs):
    """The document's script over the same references; (seconds,
    commands, documents changed)."""
    counter = Counter()
    client = pymongo.MongoClient(uri, event_listeners=[counter])
    db = client[DB]
    db.command("ping")
    counter.n = 0
    moved = 0
    t0 = time.monotonic()
    for sub, did in pairs:
        for c, f, kind in refs:
            if kind == "AC_REF_FIELD" and c == "logs":
                # logs.users is an array: each document set whole.
                for d in db[c].find({f: sub}, {f: 1}):
                    db[c].update_one({"_id": d["_id"]}, {"$set": {f: [
                        did if x == sub else x for x in d[f]]}})
                    moved += 1
            elif kind == "AC_REF_FIELD":
                r = db[c].update_many({f: sub}, {"$set": {f: did}})
                moved += r.modified_count
            elif kind == "AC_REF_ID":
                d = db[c].find_one({"_id": sub})
                if d is not None:
                    db[c].delete_one({"_id": sub})
                    d["_id"] = did
                    db[c].insert_one(d)
                    moved += 1
            else:
                d = db[c].find_one({"_id": sub})
                if d is None:
                    continue
                db[c].update_one({"_id": sub}, {
                    "$set": {"migratedDID": did, "authProvider": "atproto"},
                    "$unset": {"handle": ""}})
                twin = {"_id": did, "handle": d["handle"],
                        "atprotoHandle": d["handle"] + ".aesthetic.computer",
                        "authProvider": "atproto", "legacyAuth0Sub": sub}
                twin.update({k: v for k, v in d.items()
                             if k not in ("_id", "handle")})
                db[c].insert_one(twin)
                moved += 1
    s = time.monotonic() - t0
    client.close()
    return s, counter.n, moved


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--baseline-users", type=int, default=None,
                    help="users the baseline moves (default: --users)")
    ap.add_argument("--batch", type=int, default=None,
                    help="silo's --batch (default: silo's own)")
    ap.add_argument("--timeout", type=float, default=7200)
    ap.add_argument("--all", action="store_true",
                    help="import the report's drop list too (boots, logs, "
                    "oven-*), as `silo import --all`")
    a = ap.parse_args()
    if pymongo is None:
        if os.environ.get("SILO_BENCH_REEXEC"):
            sys.exit("bench/atproto.py: pymongo is missing even in "
                     f"{si.pyenv_python()}")
        si.install_pyenv()
        py = str(si.pyenv_python())
        os.environ["SILO_BENCH_REEXEC"] = "1"
        os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])

    sp.install_signal_handlers()
    si.install(minio=False, mongo_express=False)
    build = si.build_bench()
    silo_bin = build / "silo"
    spec = importlib.util.spec_from_file_location(
        "bench_import", Path(__file__).with_name("import.py"))
    bench_import = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_import)
    backup, manifest, _ = bench_import.dataset(a.scale, 1, "ndjson",
                                               "canonical")
    import acgen
    w = acgen.build_world(1, a.scale)
    nb = a.users if a.baseline_users is None else a.baseline_users
    # Two handles with one DNS form ("ka_ri", "ka.ri") clash: silo
    # refuses the second, so neither side gets either.
    names = {}
    for h in [u.handle for u in w.handle_users] + \
            [h for _, h in w.sotce_handles]:
        names[dns_handle(h)] = names.get(dns_handle(h), 0) + 1
    users = [u for u in w.handle_users
             if not u.migrated and dns_handle(u.handle) and
             names[dns_handle(u.handle)] == 1]
    if len(users) < a.users + nb or nb > a.users:
        sys.exit(f"only {len(users)} users to migrate at scale {a.scale:g}")
    # Alternate users as far as the baseline's go, so that both sets hold
    # alike amounts of data; silo's take the rest after them.
    silo_pairs = [(u.sub, did_for(u)) for u in
                  users[0:2 * nb:2] + users[2 * nb:a.users + nb]]
    base_pairs = [(u.sub, did_for(u)) for u in users[1:2 * nb:2]]
    refs = ac_refs()

    with tempfile.TemporaryDirectory(prefix="silo-bench-atproto-") as tmp:
        root = Path(tmp)
        fdb = sv.ferretdb(root / "ferretdb")
        fdb.start()
        try:
            env = sp.clean_env(MONGODB_CONNECTION_STRING=fdb.uri,
                               MONGODB_NAME=DB, SILO_ENV_FILE="/dev/null")
            sp.say(f"loading the scale-{a.scale:g} data set")
            t0 = time.monotonic()
            subprocess.run([str(silo_bin), "import", "--database", DB,
                            str(backup)] + (["--all"] if a.all else []),
                           env=env, check=True,
                           stdout=subprocess.DEVNULL, timeout=a.timeout)
            sp.say(f"loaded in {time.monotonic() - t0:.1f} s")
            mp = root / "map.csv"
            mp.write_text("".join(f"{s},{d}\n" for s, d in silo_pairs))

            sp.say(f"silo: migrating {a.users} users (load {loadavg()})")
            t0 = time.monotonic()
            batch = [] if a.batch is None else ["--batch", str(a.batch)]
            r = subprocess.run([str(silo_bin), "atproto", "migrate", "--map",
                                str(mp), "--stats"] + batch, env=env,
                               capture_output=True, text=True,
                               timeout=a.timeout)
            wall = time.monotonic() - t0
            if r.returncode != 0:
                sys.stderr.write(r.stderr[-4000:])
                sys.exit(f"silo atproto migrate exited {r.returncode}")
            m = re.search(r"stats: users (\d+) commands (\d+) seconds "
                          r"([\d.]+)", r.stderr)
            s_users, s_cmds, s_secs = int(m[1]), int(m[2]), float(m[3])
            client = pymongo.MongoClient(fdb.uri)
            s_moved = sum(d.get("docs", []).__len__() for d in
                          client["silo"]["atproto_journal_steps"].find(
                              {}, {"docs._id": 1}))
            s_steps = client["silo"]["atproto_journal_steps"].count_documents(
                {})
            # Where silo's time went, from the journal's timestamps: each
            # user's plan (planning -> applying) and apply (applying ->
            # migrated); the rest is the batches' reads.
            at = [d["at"] for d in client["silo"]["atproto_journal"].find(
                {}, {"at": 1})]
            s_plan = sum((a["applying"] - a["planning"]).total_seconds()
                         for a in at)
            s_apply = sum((a["migrated"] - a["applying"]).total_seconds()
                          for a in at)
            client.close()

            sp.say(f"baseline: migrating {nb} other users "
                   f"(load {loadavg()})")
            b_secs, b_cmds, b_moved = baseline(fdb.uri, base_pairs, refs)
            sp.say(f"done (load {loadavg()})")
        finally:
            sp.stop_all()

    print()
    print(f"atproto migrate, scale {a.scale:g}, {len(refs)} references "
          f"per user: silo {a.users} users, baseline {nb}")
    print(f"{'':10} {'seconds':>9} {'users/s':>9} {'commands':>9} "
          f"{'cmd/user':>9} {'docs':>7}")
    print(f"{'silo':10} {s_secs:9.2f} {s_users / s_secs:9.1f} {s_cmds:9d} "
          f"{s_cmds / s_users:9.1f} {s_moved:7d}   (process wall "
          f"{wall:.2f} s)")
    print(f"{'':10} silo's time: {s_secs - s_plan - s_apply:.1f} s "
          f"reading batches, {s_plan:.1f} s journaling plans, {s_apply:.1f} "
          f"s applying {s_steps} steps ({s_steps / s_users:.1f} a user)")
    print(f"{'baseline':10} {b_secs:9.2f} {nb / b_secs:9.1f} "
          f"{b_cmds:9d} {b_cmds / nb:9.1f} {b_moved:7d}")
    print(f"{'silo/base':10} {'':9} "
          f"{(s_users / s_secs) / (nb / b_secs):9.2f} "
          f"{'':9} {(s_cmds / s_users) / (b_cmds / nb):9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
