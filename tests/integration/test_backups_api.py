"""GET /api/backups, POST /api/backups/run, the overview's backup section
and `silo backup list`, against a real FerretDB and a real MinIO.

The states (none, ok, stale, failing) are set up with records written
straight into silo.backups, with times in the past, so "stale" needs no
waiting; each answer is compared whole with what the records say.  Then a
real run, started through the API, is listed with the values its record
holds, and the overview says the same.  With SILO_READ_TOKEN and
SILO_ADMIN_TOKEN set, the routes answer 401/403 as access.c decides.
"""

import fcntl
import http.client
import json
import math
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import stack_process as sp
import stack_services as sv
from conftest import need_minio, spaces_tool

AC_DB = "backups_api_ac"
BUCKET = "silo-backups-api"
PREFIX = "api/"
READ = "backups-read-" + "a7" * 20
ADMIN = "backups-admin-" + "c3" * 20
SECRET_UPLOAD_ID = "upload-id-that-must-not-leak-" + "9f" * 8
STALE_H = 26


class World:
    def __init__(self, root, stack):
        self.root = root
        self.stack = stack
        self.fdb = self.mio = self.silo = self.caddy = None
        self.key = root / "backup.key"
        self.lock = root / "backup.lock"
        self.log = stack.silo_log(stack.root / "silo-backup-run.log")

    def env(self, **extra):
        e = sp.clean_env(
            MONGODB_CONNECTION_STRING=self.fdb.uri, MONGODB_NAME=AC_DB,
            SILO_ENV_FILE="/dev/null", SPACES_ENDPOINT=self.mio.url,
            SPACES_KEY=sv.MINIO_USER, SPACES_SECRET=sv.MINIO_PASSWORD,
            SILO_BACKUP_BUCKET=BUCKET, SILO_BACKUP_PREFIX=PREFIX,
            SILO_BACKUP_KEY=self.key, SILO_BACKUP_PART_SIZE="5M",
            SILO_BACKUP_LOCK=self.lock, SILO_BACKUP_LOG=self.log)
        e.update({k: str(v) for k, v in extra.items()})
        return e

    def cli(self, *args):
        r = subprocess.run([str(self.stack.silo_bin), *args],
                           env=self.env(), capture_output=True, text=True,
                           timeout=120)
        self.stack.keep_stderr("backup-cli", r.stderr)
        return r

    def request(self, method, path, token=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.caddy.port,
                                          timeout=15)
        try:
            headers = {"Authorization": "Bearer " + token} if token else {}
            conn.request(method, path, headers=headers)
            r = conn.getresponse()
            body = r.read()
            return r.status, body.decode()
        finally:
            conn.close()

    def get(self, path, token=READ):
        status, text = self.request("GET", path, token)
        return status, json.loads(text) if text else None

    def records(self):
        from pymongo import MongoClient
        return MongoClient(self.fdb.uri, serverSelectionTimeoutMS=5000,
                           tz_aware=True).silo.backups

    def clear_cache(self):
        for f in self.silo.cache_dir.glob("*.json"):
            f.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def world(stack):
    need_minio()
    root = stack.root / "backups-api"
    root.mkdir()
    w = World(root, stack)
    try:
        w.fdb = sv.ferretdb(root / "ferretdb",
                            log_path=root / "ferretdb.log").start()
        from pymongo import MongoClient
        with MongoClient(w.fdb.uri, serverSelectionTimeoutMS=5000) as c:
            c[AC_DB].users.insert_many(
                [{"_id": f"auth0|{i}", "n": i} for i in range(30)])
            c[AC_DB].paintings.insert_many(
                [{"_id": f"p{i}", "user": f"auth0|{i % 30}", "size": i}
                 for i in range(70)])
        w.mio = sv.minio(root / "minio", log_path=root / "minio.log").start()
        subprocess.run([str(spaces_tool()), "mb", BUCKET], check=True,
                       capture_output=True, env=sp.clean_env(
                           SPACES_ENDPOINT=w.mio.url,
                           SPACES_KEY=sv.MINIO_USER,
                           SPACES_SECRET=sv.MINIO_PASSWORD))
        r = w.cli("backup", "keygen", str(w.key))
        assert r.returncode == 0, r.stderr
        sock = sv.socket_path(root, "silo.sock")
        w.silo = sv.silo(stack.silo_bin, w.fdb.uri, sock,
                         stack.silo_log(stack.root / "silo-backups-api.log"),
                         workers=2, db_name=AC_DB, rundir=root,
                         SILO_READ_TOKEN=READ, SILO_ADMIN_TOKEN=ADMIN,
                         **{k: v for k, v in w.env().items()
                            if k.startswith(("SPACES_", "SILO_BACKUP_"))})
        w.silo.start()
        w.caddy = sv.caddy(sp.free_port(), sock, root, root / "caddy.log",
                           www=stack.root / "www").start()
        yield w
    finally:
        for s in (w.caddy, w.silo, w.mio, w.fdb):
            if s is not None:
                s.stop()


@pytest.fixture
def records(world):
    """silo.backups, emptied before and after the test."""
    coll = world.records()
    coll.delete_many({})
    world.clear_cache()
    yield coll
    coll.delete_many({})
    world.clear_cache()


NOW = datetime.now(timezone.utc).replace(microsecond=0)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def record(hours_ago, status="ok", minutes=3, error=None, verification=None,
           plain=True):
    """A run's record as backup.c writes it, started hours_ago."""
    started = NOW - timedelta(hours=hours_ago)
    ident = started.strftime("%Y-%m-%dT%H%M%SZ") + "-0badc0de"
    rec = {"_id": ident, "status": status, "started_at": started,
           "bucket": BUCKET, "key": PREFIX + ident + ".archive.gz.sealed",
           "host": "test-host", "pid": 4242,
           "upload_id": SECRET_UPLOAD_ID}
    if status != "running":
        rec["finished_at"] = started + timedelta(minutes=minutes)
    if status == "ok":
        rec.update({
            "encrypted": not plain, "key_id": None if plain else
            "0123456789abcdef",
            "bytes": {"plain": 1000 + int(hours_ago), "compressed": 400,
                      "stored": 452},
            "sha256": "ab" * 32,
            "collections": [
                {"db": AC_DB, "name": "users", "count": 30, "bytes": 900},
                {"db": "silo", "name": "imports", "count": 2, "bytes": 80}]})
    if error is not None:
        rec["error"] = error
    if verification is not None:
        rec["verification"] = verification
    return rec


def verified(hours_ago, error=None):
    """A verification as `silo backup verify` records it."""
    return {"at": NOW - timedelta(hours=hours_ago), "ok": error is None,
            "error": error, "duration_ms": 61234}


def entry(rec):
    """The list entry /api/backups answers for rec."""
    fin = rec.get("finished_at")
    colls = rec.get("collections", [])
    b = rec.get("bytes")
    v = rec.get("verification")
    if v is not None:
        v = {k: iso(x) if isinstance(x, datetime) else x
             for k, x in v.items()}
    return {
        "id": rec["_id"], "status": rec["status"],
        "started_at": iso(rec["started_at"]),
        "finished_at": iso(fin) if fin else None,
        "duration_ms": (fin - rec["started_at"]) //
        timedelta(milliseconds=1) if fin else None,
        "bytes": dict(b) if b else None, "sha256": rec.get("sha256"),
        "key_id": rec.get("key_id"), "collections": len(colls),
        "documents": sum(c["count"] for c in colls),
        "error": rec.get("error"), "verification": v}


def answer(world, query=""):
    asked = time.time()
    status, body = world.get("/api/backups" + query)
    assert status == 200, body
    return asked, body


def check_age(body, rec, asked):
    """last_success's age_s, in whole seconds since rec finished."""
    age = body["last_success"].pop("age_s")
    fin = rec["finished_at"].timestamp()
    assert math.floor(asked - fin) <= age <= time.time() - fin, age


def summary(status, good=None, verified=None):
    return {"status": status, "stale_after_h": STALE_H,
            "last_success": entry(good) if good else None,
            "last_verification": verified}


def test_none_before_any_backup(world, records):
    asked, body = answer(world)
    assert body == {**summary("none"), "backups": []}
    world.clear_cache()
    status, ov = world.get("/api/overview")
    assert status == 200, ov
    b = ov["backup"]
    assert {k: b[k] for k in b if k not in ("cached_at", "age_s")} == {
        "status": "none", "stale_after_h": STALE_H, "last_success": None,
        "last_success_age_s": None, "last_verification": None}


def test_only_failures_is_none(world, records):
    runs = [record(5, "failed", error="insert into silo.backups: boom"),
            record(2, "failed", error="stale: the run was killed")]
    records.insert_many(runs)
    asked, body = answer(world)
    assert body == {**summary("none"),
                    "backups": [entry(runs[1]), entry(runs[0])]}


def test_ok(world, records):
    good = record(3)
    records.insert_one(good)
    asked, body = answer(world)
    check_age(body, good, asked)
    assert body == {**summary("ok", good), "backups": [entry(good)]}


def test_stale_after_stale_h(world, records):
    old = record(STALE_H + 1)      # finished 26 h 57 min ago
    fresh_enough = record(STALE_H - 1, plain=False)
    records.insert_one(old)
    asked, body = answer(world)
    check_age(body, old, asked)
    assert body == {**summary("stale", old), "backups": [entry(old)]}
    records.insert_one(fresh_enough)
    asked, body = answer(world)
    check_age(body, fresh_enough, asked)
    assert body == {**summary("ok", fresh_enough),
                    "backups": [entry(fresh_enough), entry(old)]}


def test_failing_until_a_newer_success(world, records):
    good = record(6)
    bad = record(4, "failed", error="spaces: PUT part 3: connection reset")
    running = record(1, "running")
    records.insert_many([good, bad, running])
    asked, body = answer(world)
    check_age(body, good, asked)
    # the running one is neither: the newest finished run failed
    assert body == {**summary("failing", good),
                    "backups": [entry(running), entry(bad), entry(good)]}
    assert body["backups"][0]["finished_at"] is None
    assert body["backups"][0]["duration_ms"] is None
    newer = record(2)
    records.insert_one(newer)
    asked, body = answer(world)
    check_age(body, newer, asked)
    assert body["status"] == "ok"
    assert body["last_success"] == entry(newer)


def test_last_verification(world, records):
    v_old = verified(29)
    v_new = verified(1, error="sha256 differs from the record")
    a = record(40, verification=v_old)
    b = record(20, verification=v_new)
    c = record(10)
    records.insert_many([a, b, c])
    asked, body = answer(world)
    check_age(body, c, asked)
    last = {"id": b["_id"], **entry(b)["verification"]}
    assert body == {**summary("ok", c, last),
                    "backups": [entry(c), entry(b), entry(a)]}
    assert body["backups"][2]["verification"] == {
        "at": iso(v_old["at"]), "ok": True, "error": None,
        "duration_ms": 61234}
    world.clear_cache()
    ov = world.get("/api/overview")[1]["backup"]
    assert ov["last_verification"] == {
        "id": b["_id"], "ok": False, "at": iso(v_new["at"])}


def test_limit(world, records):
    runs = [record(h) for h in range(1, 26)]
    records.insert_many(runs)
    newest_first = [entry(r) for r in runs]
    asked, body = answer(world)
    assert body["backups"] == newest_first[:20]
    asked, body = answer(world, "?limit=3")
    assert body["backups"] == newest_first[:3]
    asked, body = answer(world, "?limit=100")
    assert body["backups"] == newest_first
    for bad in ("0", "101", "x", "-1"):
        status, err = world.get("/api/backups?limit=" + bad)
        assert status == 400, err
        assert err["error"]["message"] == \
            f"limit must be a whole number from 1 to 100, not '{bad}'"
    status, err = world.get("/api/backups?since=1")
    assert status == 400, err


def test_access(world, records):
    for token, want in ((None, 401), ("wrong-" + READ, 401), (READ, 200),
                        (ADMIN, 200)):
        status, _ = world.request("GET", "/api/backups", token)
        assert status == want, token
    for token, want in ((None, 401), ("wrong-" + ADMIN, 401), (READ, 403)):
        status, text = world.request("POST", "/api/backups/run", token)
        assert status == want, (token, text)
    status, _ = world.request("GET", "/api/backups/run", ADMIN)
    assert status == 405


def test_run_busy_is_409(world, records):
    with open(world.lock, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.truncate(0)
        f.write("pid 4242 since 2026-01-01T00:00:00Z\n")
        f.flush()
        status, text = world.request("POST", "/api/backups/run", ADMIN)
        assert status == 409, text
        assert json.loads(text) == {"error": {
            "code": "conflict", "message": "a backup is already running "
            "(pid 4242 since 2026-01-01T00:00:00Z)"}}
    assert records.count_documents({}) == 0


def test_run_from_the_api_then_listed(world, records):
    status, text = world.request("POST", "/api/backups/run", ADMIN)
    assert status == 202, text
    started = json.loads(text)
    import yaml
    from test_openapi import SPEC, response_schema, validate
    spec = yaml.safe_load(SPEC.read_text())
    validate(spec, response_schema(spec, "/api/backups/run", 202, "post"),
             started)
    assert started["status"] == "started" and started["pid"] > 0
    assert started["log"] == str(world.log)
    pid = started["pid"]
    # While it runs a second POST is a 409 naming it, unless it already
    # finished (a run of this data is short), which the record then says.
    sp.wait_until(lambda: not Path(f"/proc/{pid}").exists(), 120,
                  "the backup run to finish")
    rec = records.find_one({})
    assert rec is not None and rec["status"] == "ok", rec
    assert rec["pid"] == pid
    asked, body = answer(world)
    check_age(body, rec, asked)
    assert body == {**summary("ok", rec), "backups": [entry(rec)]}
    got = body["backups"][0]
    assert got["key_id"] and len(got["key_id"]) == 16
    assert got["collections"] == len(rec["collections"]) >= 2
    assert got["documents"] >= 100
    # no secret, key or UploadId anywhere in the answer
    text = world.request("GET", "/api/backups", READ)[1]
    key_hex = world.key.read_bytes().hex()
    for secret in (rec["upload_id"], sv.MINIO_PASSWORD, key_hex,
                   "upload_id", READ, ADMIN):
        assert secret not in text, secret
    # the overview says the same
    world.clear_cache()
    ov = world.get("/api/overview")[1]["backup"]
    age = ov.pop("last_success_age_s")
    fin = rec["finished_at"].timestamp()
    assert math.floor(asked - fin) <= age <= time.time() - fin + 1
    assert {k: ov[k] for k in ov if k not in ("cached_at", "age_s")} == {
        "status": "ok", "stale_after_h": STALE_H,
        "last_success": {"id": rec["_id"], "finished_at":
                         iso(rec["finished_at"]),
                         "bytes": rec["bytes"]["stored"],
                         "documents": got["documents"]},
        "last_verification": None}
    # and `silo backup list`
    r = world.cli("backup", "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "SIZE", "DURATION", "KEY",
                                "VERIFIED", "ERROR"]
    row = lines[1].split()
    assert row[0:2] == [rec["_id"], "ok"]
    assert row[-3:] == [rec["key_id"], "never", "-"]
    assert lines[2:] == ["status: ok"]
    r = world.cli("backup", "list", "--json")
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    listed["last_success"].pop("age_s")
    assert listed == {**summary("ok", rec), "backups": [entry(rec)]}
    # a real verification (restore.c) is what the list and the overview show
    r = world.cli("backup", "verify", rec["_id"])
    assert r.returncode == 0, r.stderr
    rec = records.find_one({"_id": rec["_id"]})
    assert rec["verification"]["ok"] is True, rec["verification"]
    asked, body = answer(world)
    check_age(body, rec, asked)
    assert body == {**summary("ok", rec, {"id": rec["_id"],
                                          **entry(rec)["verification"]}),
                    "backups": [entry(rec)]}
    world.clear_cache()
    ov = world.get("/api/overview")[1]["backup"]
    assert ov["last_verification"] == {
        "id": rec["_id"], "ok": True, "at": iso(rec["verification"]["at"])}
    r = world.cli("backup", "list")
    assert r.returncode == 0, r.stderr
    verified_day = rec["verification"]["at"].strftime("%Y-%m-%d")
    assert r.stdout.splitlines()[1].split()[-4:] == [
        rec["key_id"], "ok", verified_day, "-"], r.stdout


def test_cli_table_of_states(world, records):
    runs = [record(30, verification=verified(28)),
            record(4, "failed", minutes=75, error="x" * 80),
            record(1, "running")]
    records.insert_many(runs)
    r = world.cli("backup", "list")
    assert r.returncode == 0, r.stderr
    day = (NOW - timedelta(hours=28)).strftime("%Y-%m-%d")
    fmt = "{:<28} {:<8} {:>10} {:>9} {:<16} {:<16} {}"
    assert r.stdout.splitlines() == [
        fmt.format("ID", "STATUS", "SIZE", "DURATION", "KEY", "VERIFIED",
                   "ERROR"),
        fmt.format(runs[2]["_id"], "running", "-", "-", "plain", "never",
                   "-"),
        fmt.format(runs[1]["_id"], "failed", "-", "1h15m", "plain", "never",
                   "x" * 45 + "..."),
        fmt.format(runs[0]["_id"], "ok", "452 B", "3m00s", "plain",
                   "ok " + day, "-"),
        "status: failing"]


def test_answers_follow_the_openapi_document(world, records):
    import yaml
    from test_openapi import SPEC, response_schema, validate
    spec = yaml.safe_load(SPEC.read_text())
    records.insert_many([
        record(30, verification=verified(28)),
        record(20, plain=False),
        record(4, "failed", error="spaces: gone"),
        record(1, "running")])
    for query in ("", "?limit=2"):
        status, body = world.get("/api/backups" + query)
        assert status == 200, body
        validate(spec, response_schema(spec, "/api/backups", 200), body,
                 query)
    status, body = world.get("/api/backups?limit=0")
    validate(spec, response_schema(spec, "/api/backups", 400), body)
    world.clear_cache()
    status, body = world.get("/api/overview")
    assert status == 200 and body["backup"]["status"] == "failing", body
    validate(spec, response_schema(spec, "/api/overview", 200), body)
    with open(world.lock, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        status, text = world.request("POST", "/api/backups/run", ADMIN)
    assert status == 409, text
    validate(spec, response_schema(spec, "/api/backups/run", 409, "post"),
             json.loads(text))
