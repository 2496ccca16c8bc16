"""silo storage refresh and /api/storage/*, against a real MinIO and a real
FerretDB.

MinIO holds acgen's Spaces objects (tools/acgen.py spaces, with the sparse
object over 2 GiB), uploaded for real through silo's own S3 client
(tools/spaces-tool putlist: multipart above 64 MiB); FerretDB holds the
matching AC dataset, loaded with silo import.  Every expected figure is
computed here from acgen's list of what it generated (_objects.ndjson,
which records each object's owner as the generator chose it), never from
silo's code.  Faults are real too: a wrong secret, a missing bucket, and
MinIO killed (SIGKILL) in the middle of listing the 1,030-object prefix.
"""

import collections
import fcntl
import http.client
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from datetime import timezone
from pathlib import Path

import pytest

import acgen
import stack_process as sp
import stack_services as sv
from conftest import need_minio, spaces_tool

SCALE, SEED = 0.01, 1
AC_DB = "storage_ac"
USER, ART, AT = ("user-aesthetic-computer", "art-aesthetic-computer",
                 "at-blobs-aesthetic-computer")
RELEASES = "releases-aesthetic-computer"
BUCKETS = [USER, ART, AT, RELEASES]
ADMIN = "storage-admin-" + "d4" * 20
READ = "storage-read-" + "e5" * 20
GONE = "auth0|" + "e5" * 12         # a deleted user whose files remain
SYSTEM_SOURCES = {"oven-cache", "oven-grabs", "oven-frozen-pieces",
                  "news-posts"}


# ---------------------------------------------------------------- expected

def ext_of(key):
    base = key.rsplit("/", 1)[-1]
    i = base.rfind(".")
    ext = base[i + 1:] if i > 0 else ""
    if 0 < len(ext) <= 16 and ext.isascii() and ext.isalnum():
        return ext.lower()
    return "(none)"


def prefix_of(bucket, key):
    """The documented layout: in the user bucket the kind is the second
    segment (<sub>/<kind>/...), elsewhere the first; no folder: root."""
    segs = key.split("/")
    if bucket == USER:
        return segs[1] if len(segs) > 2 else "root"
    return segs[0] if len(segs) > 1 else "root"


class Expected:
    """What silo must report, from acgen's rows alone."""

    def __init__(self, rows, handles):
        self.rows = rows
        self.total = (sum(r["size"] for r in rows), len(rows))
        self.buckets = {}
        self.prefixes = collections.defaultdict(lambda: [0, 0])
        self.types = collections.defaultdict(lambda: [0, 0])
        self.users = {}
        self.guest = [0, 0]
        for r in rows:
            b = self.buckets.setdefault(r["bucket"], [0, 0])
            b[0] += r["size"]
            b[1] += 1
            p = self.prefixes[(r["bucket"], prefix_of(r["bucket"], r["key"]))]
            p[0] += r["size"]
            p[1] += 1
            t = self.types[ext_of(r["key"])]
            t[0] += r["size"]
            t[1] += 1
            if r["user"]:
                u = self.users.setdefault(r["user"], {
                    "bytes": 0, "objects": 0,
                    "kinds": collections.defaultdict(lambda: [0, 0])})
                u["bytes"] += r["size"]
                u["objects"] += 1
                k = u["kinds"][(r["bucket"], prefix_of(r["bucket"], r["key"]))]
                k[0] += r["size"]
                k[1] += 1
            elif r["bucket"] in (ART, AT) and \
                    r["source"] not in SYSTEM_SOURCES:
                self.guest[0] += r["size"]
                self.guest[1] += 1
        self.handles = handles                  # sub -> handle

    def user_buckets(self, sub):
        """[{name, bytes, objects, kinds:[...]}] as sets, for comparing."""
        out = {}
        for (bucket, kind), (b, n) in self.users[sub]["kinds"].items():
            e = out.setdefault(bucket, [0, 0, set()])
            e[0] += b
            e[1] += n
            e[2].add((kind, b, n))
        return out


def as_sets(buckets):
    return {b["name"]: [b["bytes"], b["objects"],
                        {(k["kind"], k["bytes"], k["objects"])
                         for k in b["kinds"]}] for b in buckets}


# ---------------------------------------------------------------- the world

class World:
    def __init__(self, root, stack):
        self.root = root
        self.stack = stack
        self.fdb = self.mio = self.silo = self.caddy = None

    def env(self, **extra):
        e = sp.clean_env(
            MONGODB_CONNECTION_STRING=self.fdb.uri, MONGODB_NAME=AC_DB,
            SILO_ENV_FILE="/dev/null", SPACES_ENDPOINT=self.mio.url,
            SPACES_KEY=sv.MINIO_USER, SPACES_SECRET=sv.MINIO_PASSWORD,
            SPACES_BUCKETS=",".join(BUCKETS),
            SILO_STORAGE_LOCK=self.root / "refresh.lock",
            # the world's silo's cache, which a refresh brings up to date
            SILO_CACHE_DIR=self.root / "cache",
            SILO_STORAGE_LOG=self.stack.silo_log(
                self.stack.root / "silo-storage-refresh.log"))
        e.update({k: str(v) for k, v in extra.items()})
        return e

    def refresh(self, timeout=300, **extra):
        r = subprocess.run([str(self.stack.silo_bin), "storage",
                            "refresh"], env=self.env(**extra),
                           capture_output=True, text=True, timeout=timeout)
        self.stack.keep_stderr("storage-refresh", r.stderr)
        return r

    def request(self, method, path, token=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.caddy.port,
                                          timeout=15)
        try:
            headers = {"Authorization": "Bearer " + token} if token else {}
            conn.request(method, path, headers=headers)
            r = conn.getresponse()
            body = r.read()
            return r.status, json.loads(body) if body else None
        finally:
            conn.close()

    def get(self, path):
        return self.request("GET", path, READ)

    def snapshots(self):
        from pymongo import MongoClient
        with MongoClient(self.fdb.uri, serverSelectionTimeoutMS=5000) as c:
            return list(c.silo.storage_snapshots.find(
                {}, sort=[("finished_at", 1)]))

    def assert_from_latest_good(self, body, asked_at):
        """body, asked for at asked_at (time.time()), is of the newest good
        snapshot: snapshot_at is its finish, age_s its age in whole
        seconds when silo answered."""
        good = [s for s in self.snapshots() if s["status"] == "ok"][-1]
        finished = good["finished_at"].replace(tzinfo=timezone.utc)
        assert body["snapshot_at"] == finished.strftime(
            "%Y-%m-%dT%H:%M:%S.") + f"{finished.microsecond // 1000:03d}Z", \
            body
        assert math.floor(asked_at - finished.timestamp()) <= \
            body["age_s"] <= time.time() - finished.timestamp(), body


@pytest.fixture(scope="module")
def world(stack):
    need_minio()
    root = stack.root / "storage"
    root.mkdir()
    w = World(root, stack)
    try:
        w.fdb = sv.ferretdb(root / "ferretdb",
                            log_path=root / "ferretdb.log").start()
        sv.load_ac_dataset(stack.silo_bin, w.fdb.uri, root, db_name=AC_DB,
                           scale=SCALE, seed=SEED,
                           log_path=stack.silo_log(root / "import.log"))
        w.mio = sv.minio(root / "minio", log_path=root / "minio.log").start()
        objdir = root / "objects"
        rows = acgen.generate_spaces(str(objdir), SCALE, SEED, huge=True)
        # Files of a user AC no longer knows (no users or @handles entry).
        gone = objdir / USER / GONE / "painting"
        gone.mkdir(parents=True)
        (gone / "left-behind.png").write_bytes(b"\x89PNG" * 200)
        rows.append({"bucket": USER, "key": f"{GONE}/painting/left-behind.png",
                     "size": 800, "user": GONE, "source": "deleted user"})
        sv.upload_spaces(spaces_tool(), w.mio.url, rows, objdir, BUCKETS,
                         SPACES_PART_SIZE=128 << 20)
        shutil.rmtree(objdir)
        handles = {d["_id"]: d["handle"] for d in acgen.iter_collection(
            "@handles", SCALE, SEED, "relaxed")}
        w.expected = Expected(rows, handles)
        sock = sv.socket_path(root, "silo.sock")
        w.silo = sv.silo(stack.silo_bin, w.fdb.uri, sock,
                         stack.silo_log(stack.root / "silo-storage.log"),
                         workers=2,
                         db_name=AC_DB, rundir=root, SILO_ADMIN_TOKEN=ADMIN,
                         SILO_READ_TOKEN=READ,
                         **{k: v for k, v in w.env().items()
                            if k.startswith(("SPACES_", "SILO_STORAGE_"))})
        w.silo.start()
        w.caddy = sv.caddy(sp.free_port(), sock, root, root / "caddy.log",
                           www=stack.root / "www").start()
        yield w
    finally:
        for s in (w.caddy, w.silo, w.mio, w.fdb):
            if s is not None:
                s.stop()
        shutil.rmtree(root / "minio", ignore_errors=True)


def assert_clean(r):
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, \
        r.stderr


# ---------------------------------------------------------------- tests

def test_no_snapshot_yet(world):
    for path in ("/api/storage/usage", "/api/storage/buckets",
                 "/api/storage/top-users", "/api/storage/history",
                 "/api/storage/user/auth0%7Cabc"):
        status, body = world.get(path)
        assert status == 503, (path, body)
        assert body["error"]["code"] == "no_snapshot"
        assert "silo storage refresh" in body["error"]["message"]


def test_refresh_counts_exactly_what_was_uploaded(world):
    t0 = time.time()
    r = world.refresh()
    assert r.returncode == 0, r.stderr
    assert_clean(r)
    assert "objects/s" in r.stderr and "snapshot recorded" in r.stderr
    ex = world.expected
    status, u = world.get("/api/storage/usage")
    assert status == 200, u
    assert (u["bytes"], u["objects"]) == ex.total
    assert u["bytes"] > 2 * 2**30           # the sparse multipart object
    assert u["gb"] == round(ex.total[0] / 1e9, 3)
    assert u["buckets"] == len(BUCKETS)
    assert 0 <= u["age_s"] <= time.time() - t0 + 1
    assert u["guest"] == {"bytes": ex.guest[0], "objects": ex.guest[1]}
    assert u["users"]["count"] == len(ex.users)
    assert u["users"]["bytes"] == sum(x["bytes"] for x in ex.users.values())


def test_buckets_and_prefixes(world):
    asked_at = time.time()
    status, body = world.get("/api/storage/buckets")
    assert status == 200, body
    ex = world.expected
    assert [b["name"] for b in body["buckets"]] == BUCKETS
    for b in body["buckets"]:
        assert [b["bytes"], b["objects"]] == ex.buckets[b["name"]]
        want = {p: v for (bk, p), v in ex.prefixes.items() if bk == b["name"]}
        assert {p["prefix"]: [p["bytes"], p["objects"]]
                for p in b["prefixes"]} == want
        sizes = [p["bytes"] for p in b["prefixes"]]
        assert sizes == sorted(sizes, reverse=True)
    # > 1,000 objects under one prefix of one user: pagination was crossed.
    assert max(n for (bk, p), (_, n) in ex.prefixes.items()
               if bk == USER) > 1000
    assert {t["ext"]: [t["bytes"], t["objects"]] for t in body["types"]} == \
        {k: v for k, v in ex.types.items()}
    largest = sorted(ex.rows, key=lambda r: (-r["size"],
                                             r["key"].encode()))[:100]
    assert [(x["bucket"], x["key"], x["bytes"]) for x in body["largest"]] == \
        [(r["bucket"], r["key"], r["size"]) for r in largest]
    assert body["totals"] == {"bytes": ex.total[0], "objects": ex.total[1]}
    world.assert_from_latest_good(body, asked_at)


def test_awkward_keys_are_counted(world):
    ex = world.expected
    awkward = [r for r in ex.rows if r["key"].startswith("legacy/")]
    assert any(" " in r["key"] for r in awkward)
    assert any("+" in r["key"] for r in awkward)
    assert any(not r["key"].isascii() for r in awkward)
    assert any(r["size"] == 0 for r in awkward)
    _, body = world.get("/api/storage/buckets")
    art = next(b for b in body["buckets"] if b["name"] == ART)
    legacy = next(p for p in art["prefixes"] if p["prefix"] == "legacy")
    assert [legacy["bytes"], legacy["objects"]] == \
        [sum(r["size"] for r in awkward), len(awkward)]


def test_user_by_sub_handle_and_did(world):
    ex = world.expected
    # The heaviest user (the 1,030-object prefix) and one with tapes.
    subs = sorted(ex.users, key=lambda s: -ex.users[s]["bytes"])
    tape_user = next(s for s in subs
                     if any(bk == AT for bk, _ in ex.users[s]["kinds"]))
    for sub in {subs[0], tape_user}:
        status, body = world.get("/api/storage/user/" + sub.replace("|",
                                                                    "%7C"))
        assert status == 200, body
        assert body["user"] == sub
        assert body["handle"] == ex.handles.get(sub)
        assert (body["bytes"], body["objects"]) == \
            (ex.users[sub]["bytes"], ex.users[sub]["objects"])
        assert as_sets(body["buckets"]) == \
            {k: list(v) for k, v in ex.user_buckets(sub).items()}
        assert isinstance(body["age_s"], (int, float))
        if sub in ex.handles:
            h = ex.handles[sub]
            for form in (h, "@" + h):
                status, by_handle = world.get(
                    "/api/storage/user/" + urlquote(form))
                assert status == 200, by_handle
                assert by_handle["user"] == sub
                assert by_handle["bytes"] == body["bytes"]
    # A DID: a migrated user's _id, or atproto.did of a sub-keyed user.
    users = list(acgen.iter_collection("users", SCALE, SEED, "relaxed"))
    migrated = next(u for u in users if u["_id"].startswith("did:")
                    and u["_id"] in ex.users)
    status, body = world.get("/api/storage/user/" + migrated["_id"])
    assert status == 200 and body["bytes"] == \
        ex.users[migrated["_id"]]["bytes"], body
    keyed = next(u for u in users if "atproto" in u
                 and not u["_id"].startswith("did:") and u["_id"] in ex.users)
    status, body = world.get("/api/storage/user/" + keyed["atproto"]["did"])
    assert status == 200 and body["user"] == keyed["_id"], body
    assert body["bytes"] == ex.users[keyed["_id"]]["bytes"]
    assert "email" not in json.dumps(body)


def urlquote(s):
    from urllib.parse import quote
    return quote(s, safe="")


def test_user_ac_no_longer_knows_still_has_files(world):
    status, body = world.get("/api/storage/user/" + urlquote(GONE))
    assert status == 200, body
    assert (body["user"], body["handle"], body["bytes"], body["objects"]) == \
        (GONE, None, 800, 1)


def test_user_without_objects_is_zero_not_404(world):
    ex = world.expected
    sub, handle = next((s, h) for s, h in sorted(ex.handles.items())
                       if s not in ex.users)
    for form in (handle, sub):
        status, body = world.get("/api/storage/user/" + urlquote(form))
        assert status == 200, body
        assert (body["bytes"], body["objects"], body["buckets"]) == (0, 0, [])
        assert body["user"] == sub and body["handle"] == handle


@pytest.mark.parametrize("uid,status,says", [
    ("nobody-at-all", 404, "no user with handle @nobody-at-all"),
    ("auth0%7C000000000000000000000000", 404, "no user auth0|0000"),
    ("did:plc:zzzzzzzzzzzzzzzzzzzzzzzz", 404, "no user did:plc:zzzz"),
    ("someone%40example.com", 400, "looks like an e-mail address"),
    ("%7Cabc", 400, "an auth0 sub is <provider>|<id>"),
    ("did:plc:", 400, "a DID is did:<method>:<id>"),
    ("a%20b", 400, "contains a space"),
    ("x" * 300, 400, "longer than 256 bytes"),
    ("%40", 400, "the user id is empty"),
    ("h%3Fx", 400, "a handle has no punctuation"),
])
def test_user_errors(world, uid, status, says):
    got, body = world.get("/api/storage/user/" + uid)
    assert got == status, body
    assert says in body["error"]["message"], body
    assert "example.com" not in json.dumps(body)


def test_top_users(world):
    ex = world.expected
    asked_at = time.time()
    status, body = world.get("/api/storage/top-users?limit=5")
    assert status == 200, body
    want = sorted(ex.users.items(), key=lambda kv: (-kv[1]["bytes"], kv[0]))
    assert [(u["rank"], u["user"], u["handle"], u["bytes"], u["objects"])
            for u in body["users"]] == \
        [(i + 1, s, ex.handles.get(s), v["bytes"], v["objects"])
         for i, (s, v) in enumerate(want[:5])]
    assert body["limit"] == 5 and body["users_with_objects"] == len(ex.users)
    world.assert_from_latest_good(body, asked_at)
    status, body = world.get("/api/storage/top-users")
    assert status == 200 and len(body["users"]) == min(10, len(ex.users))
    for bad in ("0", "101", "abc", "-1", "5x"):
        status, body = world.get("/api/storage/top-users?limit=" + bad)
        assert status == 400, body
        assert "limit must be a whole number from 1 to 100" in \
            body["error"]["message"]
    status, body = world.get("/api/storage/top-users?top=3")
    assert status == 400 and "accepts limit" in body["error"]["message"]


STORED = (("usage", "/api/storage/usage"),
          ("buckets", "/api/storage/buckets"),
          ("top_users", "/api/storage/top-users"),
          ("history", "/api/storage/history"))


def timeless(body):
    """An answer without the fields that only say how old it is."""
    return {k: v for k, v in body.items() if k not in ("snapshot_at",
                                                        "age_s")}


def test_answers_rendered_once_by_the_refresh(world):
    """The refresh renders the default answers into silo.storage_answers
    under the snapshot's _id; silo serves them from its cache, which the
    refresh empties, without asking the database; and they are what silo
    computes itself when they are not there."""
    from pymongo import MongoClient
    r = world.refresh()
    assert r.returncode == 0, r.stderr
    good = [s for s in world.snapshots() if s["status"] == "ok"][-1]
    assert f"answers rendered for snapshot {good['_id']}" in r.stderr
    with MongoClient(world.fdb.uri) as c:
        answers = c.silo.storage_answers
        doc = answers.find_one({"_id": good["_id"]})
        assert doc is not None and doc["finished_at"] == \
            good["finished_at"], doc
        served = {}
        for part, path in STORED:
            status, body = world.get(path)
            assert status == 200, (path, body)
            assert timeless(body) == doc[part], path
            served[part] = body
        # Served from the cache: a good snapshot recorded behind silo's
        # back is not seen until a refresh drops the cached answers.
        fake = c.silo.storage_snapshots.insert_one(
            {"status": "ok", "finished_at": good["finished_at"].replace(
                year=good["finished_at"].year + 1),
             "totals": {"bytes": 1, "objects": 1}}).inserted_id
        try:
            for part, path in STORED:
                assert world.get(path)[1]["snapshot_at"] == \
                    served[part]["snapshot_at"], path
        finally:
            c.silo.storage_snapshots.delete_one({"_id": fake})
        # Without the rendered answers (as for a snapshot an older silo
        # recorded) silo computes them on a miss: the same answers.
        answers.delete_one({"_id": good["_id"]})
        try:
            for f in (world.root / "cache").glob("storage-*.json"):
                f.unlink()
            for part, path in STORED:
                assert timeless(world.get(path)[1]) == \
                    timeless(served[part]), path
        finally:
            answers.insert_one(doc)
    # Other limits are asked live, and agree.
    top = world.get("/api/storage/top-users?limit=11")[1]
    assert top["users"][:10] == served["top_users"]["users"]
    hist = world.get("/api/storage/history?limit=99")[1]
    assert timeless(hist) == timeless(served["history"])


def test_answers_follow_the_openapi_document(world):
    import yaml
    from test_openapi import SPEC, response_schema, validate
    spec = yaml.safe_load(SPEC.read_text())
    sub = sorted(world.expected.users)[0]
    for path, url in (
            ("/api/storage/usage", "/api/storage/usage"),
            ("/api/storage/buckets", "/api/storage/buckets"),
            ("/api/storage/user/{id}", "/api/storage/user/" + urlquote(sub)),
            ("/api/storage/top-users", "/api/storage/top-users?limit=100"),
            ("/api/storage/history", "/api/storage/history")):
        status, body = world.get(url)
        assert status == 200, (url, body)
        validate(spec, response_schema(spec, path, 200), body, url)


def test_wrong_credentials_keep_the_old_snapshot(world):
    _, before = world.get("/api/storage/usage")
    r = world.refresh(SPACES_SECRET="not-the-secret")
    assert r.returncode == 1
    assert_clean(r)
    assert "LIST user-aesthetic-computer: 403 SignatureDoesNotMatch" in \
        r.stderr
    assert "the last good snapshot is kept" in r.stderr
    last = world.snapshots()[-1]
    assert last["status"] == "failed"
    # the first listing fails and ends the walk: one error, MinIO's words
    assert last["errors"] == [
        "LIST user-aesthetic-computer: 403 SignatureDoesNotMatch: The "
        "request signature we calculated does not match the signature you "
        "provided. Check your key and signing method."], last["errors"]
    _, after = world.get("/api/storage/usage")
    assert after["snapshot_at"] == before["snapshot_at"]
    assert after["bytes"] == before["bytes"]
    status, hist = world.get("/api/storage/history")
    assert hist["last_attempt"]["status"] == "failed"
    assert "SignatureDoesNotMatch" in hist["last_attempt"]["errors"][0]


def test_missing_bucket_is_named(world):
    r = world.refresh(SPACES_BUCKETS=f"{USER},no-such-bucket,{AT}")
    assert r.returncode == 1
    assert "LIST no-such-bucket: 404 NoSuchBucket" in r.stderr
    last = world.snapshots()[-1]
    assert last["status"] == "failed"
    # The other buckets were still listed; the error names the missing one.
    assert last["buckets_listed"] == [USER, AT]
    assert len(last["errors"]) == 1


def test_database_unreachable(world):
    t0 = time.monotonic()
    r = world.refresh(MONGODB_CONNECTION_STRING="mongodb://127.0.0.1:"
                      f"{sp.free_port()}/", timeout=120)
    assert r.returncode == 1, r.stderr
    assert_clean(r)
    assert "createIndexes status_finished on silo.storage_snapshots: " \
        "No suitable servers found" in r.stderr
    assert "insert into silo.storage_snapshots: " in r.stderr
    assert "refresh FAILED" in r.stderr
    assert time.monotonic() - t0 < 30


def test_bad_configuration(world):
    r = world.refresh(SPACES_BUCKETS="Not_A_Bucket")
    assert r.returncode == 2
    assert "SPACES_BUCKETS='Not_A_Bucket'" in r.stderr
    assert "is not a bucket name" in r.stderr
    r = world.refresh(SPACES_BUCKETS="", SPACES_SECRET="")
    assert r.returncode == 2
    assert "not set: SPACES_BUCKETS SPACES_SECRET (see silo help storage)" \
        in r.stderr


def test_one_refresh_at_a_time(world):
    with open(world.root / "refresh.lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.truncate(0)
        f.write("pid 4242 since 2026-01-01T00:00:00Z\n")
        f.flush()
        r = world.refresh()
        assert r.returncode == 75, r.stderr
        assert "already running (pid 4242 since 2026-01-01T00:00:00Z" in \
            r.stderr
        status, body = world.request("POST", "/api/storage/refresh", ADMIN)
        assert status == 409, body
        assert "already running (pid 4242" in body["error"]["message"]


def test_history(world):
    r = world.refresh()
    assert r.returncode == 0, r.stderr
    status, body = world.get("/api/storage/history")
    assert status == 200, body
    good = [s for s in world.snapshots() if s["status"] == "ok"]
    assert len(body["points"]) == len(good) >= 2
    assert [p["bytes"] for p in body["points"]] == \
        [s["totals"]["bytes"] for s in good]
    stamps = [p["finished_at"] for p in body["points"]]
    assert stamps == sorted(stamps)
    assert body["snapshot_at"] == stamps[-1]
    assert body["last_attempt"]["status"] == "ok"
    status, body = world.get("/api/storage/history?limit=1")
    assert len(body["points"]) == 1 and body["points"][0]["finished_at"] == \
        stamps[-1]
    for bad in ("0", "1001", ""):
        status, body = world.get("/api/storage/history?limit=" + bad)
        assert status == 400, body


def test_retention_keeps_the_newest(world):
    r = world.refresh(SILO_STORAGE_HISTORY=3)
    assert r.returncode == 0, r.stderr
    snaps = world.snapshots()
    assert len(snaps) == 3
    assert snaps[-1]["status"] == "ok"
    from pymongo import MongoClient
    with MongoClient(world.fdb.uri) as c:
        ids = set(c.silo.storage_users.distinct("snapshot_id"))
        rendered = set(c.silo.storage_answers.distinct("_id"))
    assert ids <= {s["_id"] for s in snaps}
    assert rendered <= {s["_id"] for s in snaps} and snaps[-1]["_id"] in \
        rendered, rendered
    status, body = world.get("/api/storage/history")
    assert body["snapshot_at"] == body["points"][-1]["finished_at"]
    # A run of failures longer than the history keeps the last good one.
    good = snaps[-1]["_id"]
    for _ in range(3):
        r = world.refresh(SILO_STORAGE_HISTORY=2,
                          SPACES_SECRET="not-the-secret")
        assert r.returncode == 1
    snaps = world.snapshots()
    assert [s["status"] for s in snaps] == ["ok", "failed", "failed"]
    assert snaps[0]["_id"] == good
    status, usage = world.get("/api/storage/usage")
    assert status == 200 and usage["snapshot_at"] == body["snapshot_at"]


def test_admin_refresh(world, stack):
    # The read token does not hold run:storage.
    r = stack.request("POST", "/api/storage/refresh", auth="read")
    assert r.status == 403, r
    assert "needs the scope run:storage, which SILO_READ_TOKEN does not " \
        "hold" in r.json()["error"]["message"]
    status, body = world.request("POST", "/api/storage/refresh")
    assert status == 401, body
    status, body = world.request("POST", "/api/storage/refresh",
                                 "not-" + ADMIN)
    assert status == 401, body
    before = world.get("/api/storage/history")[1]["last_attempt"]
    lock = world.root / "refresh.lock"

    def stopped(pid):
        try:
            if f"pid {pid} since" not in lock.read_text():
                return None
            os.kill(pid, signal.SIGSTOP)
            return "T (stopped)" in Path(f"/proc/{pid}/status").read_text()
        except (ProcessLookupError, FileNotFoundError):
            return "gone"
    # The lock is the refresh's from before the 202 until it exits.  A walk
    # of this data takes a fraction of a second, so a refresh is caught
    # (SIGSTOP) while it holds the lock, trying again if one got away.
    caught = None
    for _ in range(20):
        status, body = world.request("POST", "/api/storage/refresh", ADMIN)
        assert status == 202, body
        assert body["status"] == "started" and body["pid"] > 0
        assert body["log"].endswith("silo-storage-refresh.log")
        pid = body["pid"]
        if sp.wait_until(lambda: stopped(pid), 30, "the refresh") is True:
            caught = pid
            break
    assert caught, "every refresh finished before it could be stopped"
    status, busy = world.request("POST", "/api/storage/refresh", ADMIN)
    os.kill(caught, signal.SIGCONT)
    assert status == 409, busy
    assert busy["error"]["code"] == "conflict"
    assert f"already running (pid {caught} since " in busy["error"]["message"]
    sp.wait_until(lambda: not Path(f"/proc/{caught}").exists(), 300,
                  "the refresh to finish")
    after = world.get("/api/storage/history")[1]["last_attempt"]
    assert after["status"] == "ok" and after["finished_at"] > \
        before["finished_at"]
    log = Path(body["log"]).read_text()
    assert "snapshot recorded" in log


class KillingProxy:
    """A loopback TCP proxy to MinIO that SIGKILLs MinIO when a request
    for a second page of the user bucket passes, then stops listening: the
    store dies in the middle of the large prefix."""

    def __init__(self, minio):
        self.minio = minio
        self.killed = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.killed.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(client,),
                             daemon=True).start()

    def serve(self, client):
        try:
            upstream = socket.create_connection(("127.0.0.1",
                                                 self.minio.port))
        except OSError:
            client.close()
            return
        threading.Thread(target=self.pipe, args=(upstream, client),
                         daemon=True).start()
        while True:
            data = client.recv(65536)
            if not data:
                break
            if b"/" + USER.encode() in data and \
                    b"continuation-token=" in data:
                os.killpg(self.minio.proc.pid, signal.SIGKILL)
                self.killed.set()
                self.sock.close()
                break
            upstream.sendall(data)
        client.close()
        upstream.close()

    @staticmethod
    def pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            dst.close()


@pytest.mark.run_last(scope="module")
def test_minio_killed_mid_listing(world):
    """Last of this module (run_last): it kills the module's MinIO."""
    _, before = world.get("/api/storage/usage")
    proxy = KillingProxy(world.mio)
    t0 = time.monotonic()
    r = world.refresh(SPACES_ENDPOINT=proxy.url, timeout=120)
    elapsed = time.monotonic() - t0
    assert proxy.killed.is_set()
    assert world.mio.proc.wait(10) is not None
    assert r.returncode == 1, r.stderr
    assert_clean(r)
    assert f"LIST {USER}: " in r.stderr
    assert "(after 4 attempts)" in r.stderr
    assert elapsed < 60
    last = world.snapshots()[-1]
    assert last["status"] == "failed"
    assert last["walked"]["objects"] >= 1000      # it was mid-prefix
    _, after = world.get("/api/storage/usage")
    assert after["snapshot_at"] == before["snapshot_at"]
    assert (after["bytes"], after["objects"]) == world.expected.total
