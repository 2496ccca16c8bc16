"""silo backup keygen|run|fetch, against a real FerretDB and a real MinIO.

FerretDB holds AC's generated dataset (tools/acgen.py, loaded with silo
import); MinIO is the Spaces the backups go to.  What silo stored is read
back two ways that share nothing with silo's writer: the object itself
(spaces-tool get, hashed here) and `silo backup fetch`, whose output is
gunzipped and parsed by tests/integration/archive_reader.py, the
independent reader, and compared document by document, as raw BSON, with
what pymongo reads from the database.

Faults are real: SIGTERM and SIGKILL in the middle of an upload slowed
down by a throttling proxy in front of MinIO (the bucket is listed after:
no object may look complete), and a wrong key.
"""

import datetime
import fcntl
import gzip
import hashlib
import json
import os
import pty
import signal
import subprocess
import time
from pathlib import Path

import pytest

import stack_services as sv
from conftest import need_minio, spaces_tool
import stack_process as sp
from archive_reader import read_archive
from tcpproxy import Proxy

SCALE, SEED = 0.01, 1
AC_DB = "backup_ac"
BUCKET = "silo-backups-test"
PREFIX = "nightly/"
BULK = "zz_bulk"            # incompressible documents, for the slow runs
BULK_DOCS, BULK_DOC_BYTES = 30000, 1000


class World:
    def __init__(self, root, stack):
        self.root = root
        self.stack = stack
        self.fdb = self.mio = None
        self.key = root / "backup.key"

    def env(self, **extra):
        e = sp.clean_env(
            MONGODB_CONNECTION_STRING=self.fdb.uri, MONGODB_NAME=AC_DB,
            SILO_ENV_FILE="/dev/null", SPACES_ENDPOINT=self.mio.url,
            SPACES_KEY=sv.MINIO_USER, SPACES_SECRET=sv.MINIO_PASSWORD,
            SILO_BACKUP_BUCKET=BUCKET, SILO_BACKUP_PREFIX=PREFIX,
            SILO_BACKUP_KEY=self.key, SILO_BACKUP_PART_SIZE="5M",
            SILO_BACKUP_LOCK=self.root / "backup.lock")
        e.update({k: str(v) for k, v in extra.items()})
        return e

    def silo(self, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
             timeout=300, **extra):
        r = subprocess.run([str(self.stack.silo_bin), *args],
                           env=self.env(**extra), stdout=stdout,
                           stderr=stderr, timeout=timeout)
        if r.stderr is not None:
            r.stderr = r.stderr.decode(errors="replace")
            self.stack.keep_stderr("backup", r.stderr)
        return r

    def run(self, *args, **extra):
        return self.silo("backup", "run", *args, **extra)

    def fetch(self, ident, path, **extra):
        with open(path, "wb") as out:
            return self.silo("backup", "fetch", ident, stdout=out, **extra)

    def tool(self, *args, **kw):
        env = sp.clean_env(SPACES_ENDPOINT=self.mio.url,
                           SPACES_KEY=sv.MINIO_USER,
                           SPACES_SECRET=sv.MINIO_PASSWORD)
        return subprocess.run([str(spaces_tool()), *args], env=env,
                              capture_output=True, check=True, **kw)

    def objects(self):
        out = self.tool("list", BUCKET, "").stdout.decode()
        return {line.split("\t")[1]: int(line.split("\t")[0])
                for line in out.splitlines() if line}

    def uploads(self):
        """The multipart uploads in progress in the bucket: {key: id}."""
        out = self.tool("uploads", BUCKET, "").stdout.decode()
        return dict(line.split("\t") for line in out.splitlines() if line)

    def get(self, key, path):
        self.tool("get", BUCKET, key, str(path))
        return Path(path).read_bytes()

    def client(self):
        from pymongo import MongoClient
        return MongoClient(self.fdb.uri, serverSelectionTimeoutMS=5000)

    def records(self):
        with self.client() as c:
            return {d["_id"]: d for d in c.silo.backups.find()}

    def newest(self):
        with self.client() as c:
            return c.silo.backups.find_one(sort=[("started_at", -1)])


@pytest.fixture(scope="module")
def world(stack):
    need_minio()
    root = stack.root / "backup"
    root.mkdir()
    w = World(root, stack)
    try:
        w.fdb = sv.ferretdb(root / "ferretdb",
                            log_path=root / "ferretdb.log").start()
        sv.load_ac_dataset(stack.silo_bin, w.fdb.uri, root, db_name=AC_DB,
                           scale=SCALE, seed=SEED,
                           log_path=stack.silo_log(root / "import.log"))
        w.mio = sv.minio(root / "minio", log_path=root / "minio.log").start()
        w.tool("mb", BUCKET)
        r = w.silo("backup", "keygen", str(w.key))
        assert r.returncode == 0, r.stderr
        yield w
    finally:
        for s in (w.mio, w.fdb):
            if s is not None:
                s.stop()


def assert_clean(r):
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, \
        r.stderr


def raw_docs(client, db, name):
    """Every document of db.name as raw BSON bytes, keyed by its _id's
    BSON bytes (an _id may be of any type)."""
    from bson.raw_bson import RawBSONDocument
    import bson
    coll = client[db].get_collection(
        name, codec_options=bson.CodecOptions(
            document_class=RawBSONDocument))
    out = {}
    for d in coll.find():
        out[bson.encode({"_id": d["_id"]})] = d.raw
    return out


def id_key(raw):
    import bson
    from bson.raw_bson import RawBSONDocument
    return bson.encode({"_id": RawBSONDocument(raw)["_id"]})


def backups_of(world):
    """(object keys, manifest keys) in the bucket."""
    keys = world.objects()
    return ({k for k in keys if not k.endswith(".manifest.json")},
            {k for k in keys if k.endswith(".manifest.json")})


# ---------------------------------------------------------------- keygen

def test_keygen(world):
    key = world.root / "keygen-test.key"
    r = world.silo("backup", "keygen", str(key))
    assert r.returncode == 0, r.stderr
    assert_clean(r)
    st = key.stat()
    assert (st.st_size, st.st_mode & 0o777) == (32, 0o600)
    out = r.stdout.decode()
    assert out.startswith(f"{key}: a new backup key, key id "), out
    # Never over an existing key: that would orphan every backup.
    before = key.read_bytes()
    r = world.silo("backup", "keygen", str(key))
    assert r.returncode == 1
    assert key.read_bytes() == before
    # Without a path, SILO_BACKUP_KEY is the one written.
    other = world.root / "from-env.key"
    r = world.silo("backup", "keygen", SILO_BACKUP_KEY=other)
    assert r.returncode == 0, r.stderr
    assert other.stat().st_size == 32


# ---------------------------------------------------------------- run

def check_run(world, r, encrypted):
    """The run r succeeded: its record, its object and its manifest
    agree.  The record."""
    assert r.returncode == 0, r.stderr
    assert_clean(r)
    rec = world.newest()
    assert rec["status"] == "ok", rec
    assert "error" not in rec
    suffix = ".archive.gz.sealed" if encrypted else ".archive.gz"
    assert rec["key"] == PREFIX + rec["_id"] + suffix
    assert rec["manifest_key"] == rec["key"] + ".manifest.json"
    assert rec["encrypted"] is encrypted
    objects = world.objects()
    assert objects[rec["key"]] == rec["bytes"]["stored"]
    blob = world.get(rec["key"], world.root / "object")
    assert hashlib.sha256(blob).hexdigest() == rec["sha256"]
    assert rec["bytes"]["plain"] > rec["bytes"]["compressed"] > 0
    if encrypted:
        assert len(rec["key_id"]) == 16
        assert rec["bytes"]["stored"] > rec["bytes"]["compressed"]
        assert blob[:2] != b"\x1f\x8b"
    else:
        assert rec["key_id"] is None
        assert rec["bytes"]["stored"] == rec["bytes"]["compressed"]
        assert blob[:2] == b"\x1f\x8b"
    assert rec["finished_at"] >= rec["started_at"]
    assert rec["silo_version"] and rec["server_version"]
    manifest = json.loads(world.get(rec["manifest_key"],
                                    world.root / "manifest"))
    assert manifest["_id"] == rec["_id"]
    assert manifest["sha256"] == rec["sha256"]
    assert manifest["status"] == "ok"
    assert manifest["bytes"] == rec["bytes"]
    assert [(c["db"], c["name"], c["count"])
            for c in manifest["collections"]] == \
        [(c["db"], c["name"], c["count"]) for c in rec["collections"]]
    return rec


def check_contents(world, rec, archive_gz):
    """The fetched archive holds exactly the database, as raw BSON."""
    import bson
    import bson.json_util
    a = read_archive(gzip.open(archive_gz, "rb"), gzip=False)
    names = [(ns.db, ns.collection) for ns in a.namespaces]
    assert names == [(c["db"], c["name"]) for c in rec["collections"]]
    assert {db for db, _ in names} == {AC_DB, "silo"}
    with world.client() as client:
        want = sorted(n for n in client[AC_DB].list_collection_names()
                      if not n.startswith("system."))
        assert sorted(n for db, n in names if db == AC_DB) == want
        for c in rec["collections"]:
            db, name = c["db"], c["name"]
            docs = a.docs[(db, name)]
            assert len(docs) == c["count"], name
            have = {id_key(d): d for d in docs}
            assert len(have) == len(docs)
            live = raw_docs(client, db, name)
            if (db, name) == ("silo", "backups"):
                # This run's own record was "running" when dumped.
                mine = bson.encode({"_id": rec["_id"]})
                assert bson.decode(have.pop(mine))["status"] == "running"
                assert bson.decode(live.pop(mine))["status"] == "ok"
            assert have == live, name
            # The content hash: the sum of the documents' SHA-256, mod
            # 2^256, whatever their order.
            total = sum(int.from_bytes(hashlib.sha256(d).digest(), "big")
                        for d in docs) % (1 << 256)
            assert c["content_hash"] == f"{total:064x}", name
            # The index specs taken at dump time are the database's.
            # Less "ns", which FerretDB lists and createIndexes refuses.
            specs = {s["name"]: {k: v for k, v in s.to_dict().items()
                                 if k != "ns"}
                     for s in client[db][name].list_indexes()}
            assert {i["name"]: bson.json_util.loads(i["spec"])
                    for i in c["indexes"]} == specs, name


def test_run_encrypted_and_fetch(world):
    before = backups_of(world)
    r = world.run()
    rec = check_run(world, r, encrypted=True)
    objs, manifests = backups_of(world)
    assert objs - before[0] == {rec["key"]}
    assert manifests - before[1] == {rec["manifest_key"]}
    for c in rec["collections"]:
        assert f"backup: {c['db']}.{c['name']}: {c['count']} documents" \
            in r.stderr
    out = world.root / "fetched.archive.gz"
    f = world.fetch(rec["_id"], out)
    assert f.returncode == 0, f.stderr
    assert_clean(f)
    check_contents(world, rec, out)
    # latest is the newest good one.
    f = world.fetch("latest", world.root / "latest.archive.gz")
    assert f.returncode == 0, f.stderr
    assert (world.root / "latest.archive.gz").read_bytes() == \
        out.read_bytes()


def test_run_unencrypted_and_fetch(world):
    r = world.run("--no-encrypt")
    rec = check_run(world, r, encrypted=False)
    out = world.root / "plain.archive.gz"
    f = world.fetch(rec["_id"], out)
    assert f.returncode == 0, f.stderr
    assert out.read_bytes() == (world.root / "object").read_bytes()
    check_contents(world, rec, out)


def test_include_and_exclude(world):
    r = world.run("--include", "users", "--include", "moods",
                  "--exclude", "moods")
    rec = check_run(world, r, encrypted=True)
    assert [(c["db"], c["name"]) for c in rec["collections"]] == \
        [(AC_DB, "users")]
    r = world.run("--include", "no-such-collection")
    assert r.returncode == 1
    assert "--include no-such-collection: no such collection" in r.stderr


def test_progress_bar_on_a_terminal(world):
    master, slave = pty.openpty()
    try:
        r = world.silo("backup", "run", "--include", "users",
                       "--include", "moods", stdout=subprocess.DEVNULL,
                       stderr=slave)
    finally:
        os.close(slave)
    out = b""
    try:
        while True:
            chunk = os.read(master, 65536)
            if not chunk:
                break
            out += chunk
    except OSError:
        pass
    os.close(master)
    text = out.decode()
    world.stack.keep_stderr("backup-tty", text)
    assert r.returncode == 0, text
    assert world.newest()["status"] == "ok"
    with world.client() as c:
        users = c[AC_DB].users.count_documents({})
    assert f"\r\x1b[K[2/2] {AC_DB}.users " in text, text
    assert f"100% {users:9d} docs" in text, text
    assert "\u2588" in text
    # No plain per-collection lines on a terminal.
    assert f"backup: {AC_DB}.users: " not in text


def test_fetch_wrong_key(world, tmp_path):
    other = world.root / "other.key"
    assert world.silo("backup", "keygen", str(other)).returncode == 0
    out = world.root / "wrong.archive.gz"
    f = world.fetch("latest", out, SILO_BACKUP_KEY=other)
    assert f.returncode == 1
    assert "wrong key: the backup was sealed with key id" in f.stderr
    assert out.read_bytes() == b""


def test_fetch_refuses_a_terminal(world):
    master, slave = pty.openpty()
    try:
        r = world.silo("backup", "fetch", "latest", stdout=slave)
    finally:
        os.close(slave)
        os.close(master)
    assert r.returncode == 2
    assert "which is a terminal" in r.stderr


def test_fetch_unknown(world):
    f = world.fetch("1999-01-01T000000Z-00000000", world.root / "none")
    assert f.returncode == 1
    assert "no such backup" in f.stderr


def test_one_run_at_a_time(world):
    with open(world.root / "backup.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        r = world.run()
    assert r.returncode == 75
    assert "a backup is already running" in r.stderr


def test_no_key_no_encrypted_run(world):
    r = world.run(SILO_BACKUP_KEY=world.root / "missing.key")
    assert r.returncode == 2
    assert "silo backup keygen" in r.stderr and "--no-encrypt" in r.stderr


# ---------------------------------------------------------------- faults

def wait_for(cond, p, log, timeout=120):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        assert p.poll() is None, log.read_text()
        time.sleep(0.02)
    assert cond()


@pytest.fixture(scope="module")
def bulk(world):
    """BULK_DOCS incompressible documents: more than five parts of upload,
    and many cursor batches."""
    with world.client() as c:
        c[AC_DB][BULK].insert_many(
            [{"_id": i, "blob": os.urandom(BULK_DOC_BYTES)}
             for i in range(BULK_DOCS)])
    yield BULK
    with world.client() as c:
        c[AC_DB][BULK].drop()


def start_bulk_run(world, name, **env):
    """A run of the bulk collection, its stderr in a log of its own."""
    log = world.stack.silo_log(world.root / f"backup-{name}.log")
    with open(log, "ab") as err:
        p = subprocess.Popen(
            [str(world.stack.silo_bin), "backup", "run", "--include", BULK],
            env=world.env(**env), stderr=err, stdout=subprocess.DEVNULL)
    return p, log


def interrupted_run(world, sig):
    """Start a run of the bulk collection through a slow proxy, send sig
    once the first part went through; the process and its log."""
    proxy = Proxy(world.mio.port, rate=8 << 20)
    p, log = start_bulk_run(world, str(sig), SPACES_ENDPOINT=proxy.url)
    wait_for(lambda: proxy.up >= (6 << 20), p, log)
    p.send_signal(sig)
    p.wait(120)
    proxy.close()
    return p, log


def test_sigterm_mid_upload(world, bulk):
    before = backups_of(world)
    p, log = interrupted_run(world, signal.SIGTERM)
    text = log.read_text()
    assert p.returncode == 1, text
    assert "Sanitizer" not in text and "runtime error" not in text, text
    assert backups_of(world) == before
    assert world.uploads() == {}
    rec = world.newest()
    assert rec["status"] == "failed", rec
    assert rec["error"] == "stopped by SIGTERM"
    assert rec["bytes"]["stored"] >= 5 << 20
    assert f"backup: {rec['_id']}: FAILED: stopped by SIGTERM" in text


def test_kill9_mid_upload(world, bulk):
    before = backups_of(world)
    p, _ = interrupted_run(world, signal.SIGKILL)
    assert p.returncode == -signal.SIGKILL
    assert backups_of(world) == before
    killed = world.newest()
    assert killed["status"] == "running"
    assert world.uploads() == {killed["key"]: killed["upload_id"]}
    # The next run finds it, records it failed and aborts its upload.
    r = world.run("--include", "users")
    check_run(world, r, encrypted=True)
    rec = world.records()[killed["_id"]]
    assert rec["status"] == "failed"
    assert rec["error"] == "stale: the run was killed"
    assert f"backup: {killed['_id']} was left running: marked failed" \
        in r.stderr
    assert backups_of(world)[0] - before[0] == {world.newest()["key"]}
    assert world.uploads() == {}



def test_spaces_gone_mid_upload(world, bulk):
    """Spaces stops answering after the first part: the run fails, says
    why, and leaves no object; the incomplete upload it could not abort
    is aborted by the next run."""
    before = backups_of(world)
    proxy = Proxy(world.mio.port, rate=8 << 20)
    p, log = start_bulk_run(world, "spaces-gone", SPACES_ENDPOINT=proxy.url)
    wait_for(lambda: proxy.up >= (6 << 20), p, log)
    proxy.down()
    p.wait(120)
    text = log.read_text()
    assert p.returncode == 1, text
    assert "Sanitizer" not in text and "runtime error" not in text, text
    rec = world.newest()
    assert rec["status"] == "failed", rec
    assert rec["error"].endswith(
        f"UPLOAD-PART {BUCKET}/{rec['key']}: Couldn't connect to server "
        f"({proxy.url}) (after 4 attempts)"), rec["error"]
    assert backups_of(world) == before
    assert world.uploads() == {rec["key"]: rec["upload_id"]}
    r = world.run("--include", "users")
    check_run(world, r, encrypted=True)
    assert world.uploads() == {}
    assert f"backup: aborted an incomplete upload of {rec['key']}" \
        in r.stderr


def test_database_gone_mid_dump(world, bulk):
    """The database drops every connection in the middle of the bulk
    collection's cursor: the run fails naming the read, aborts its upload,
    and records the failure once the database answers again."""
    before = backups_of(world)
    proxy = Proxy(world.fdb.port, rate=8 << 20)
    uri = f"mongodb://127.0.0.1:{proxy.local}/"
    p, log = start_bulk_run(world, "db-gone", MONGODB_CONNECTION_STRING=uri)
    wait_for(lambda: proxy.down_bytes >= (4 << 20), p, log)
    proxy.cut()
    p.wait(120)
    proxy.close()
    text = log.read_text()
    assert p.returncode == 1, text
    assert "Sanitizer" not in text and "runtime error" not in text, text
    rec = world.newest()
    assert rec["status"] == "failed", rec
    assert rec["error"].startswith(f"reading {AC_DB}.{BULK}: "), rec
    assert 0 < rec["collections"][0]["count"] < BULK_DOCS
    assert backups_of(world) == before
    assert world.uploads() == {}


def test_options_and_uuid_travel(world):
    """A capped collection's options and its UUID, as listCollections
    gives them, are in the manifest and in the archive's prelude."""
    with world.client() as c:
        c[AC_DB].create_collection("zz_capped", capped=True, size=100000)
        c[AC_DB].zz_capped.insert_many([{"_id": i} for i in range(5)])
        info = next(c[AC_DB].list_collections(
            filter={"name": "zz_capped"}))
    try:
        r = world.run("--include", "zz_capped")
        rec = check_run(world, r, encrypted=True)
        (coll,) = rec["collections"]
        from bson import json_util
        assert json_util.loads(coll["options"]) == info["options"] == {
            "capped": True, "size": 100000}
        out = world.root / "capped.archive.gz"
        assert world.fetch(rec["_id"], out).returncode == 0
        a = read_archive(gzip.open(out, "rb"), gzip=False)
        ns = a.namespace(AC_DB, "zz_capped")
        assert ns.metadata["options"] == {"capped": True, "size": 100000}
        assert ns.metadata["uuid"] == info["info"]["uuid"].hex()
        assert a.counts[(AC_DB, "zz_capped")] == 5
    finally:
        with world.client() as c:
            c[AC_DB].zz_capped.drop()


def replace_object(world, key, data):
    path = world.root / "replacement"
    path.write_bytes(data)
    world.tool("put", BUCKET, key, str(path))


@pytest.mark.parametrize("damage", ["tamper", "truncate"])
def test_fetch_detects_a_damaged_object(world, damage):
    r = world.run("--include", "users")
    rec = check_run(world, r, encrypted=True)
    blob = bytearray((world.root / "object").read_bytes())
    if damage == "tamper":
        blob[len(blob) // 2] ^= 0x01
    else:
        blob = blob[:len(blob) - 100]
    replace_object(world, rec["key"], bytes(blob))
    out = world.root / f"{damage}.archive.gz"
    f = world.fetch(rec["_id"], out)
    assert f.returncode == 1
    assert_clean(f)
    if damage == "tamper":
        assert "chunk 0: authentication failed" in f.stderr, f.stderr
    else:
        assert "truncated: chunk 0 ends after" in f.stderr, f.stderr
    # Nothing unverified was written.
    assert out.read_bytes() == b""


def test_fetch_detects_a_damaged_plain_object(world):
    """Unsealed, the sha256 and size the record holds are the check."""
    r = world.run("--no-encrypt", "--include", "users")
    rec = check_run(world, r, encrypted=False)
    blob = (world.root / "object").read_bytes()
    replace_object(world, rec["key"], blob[:-1])
    f = world.fetch(rec["_id"], world.root / "plain-cut.archive.gz")
    assert f.returncode == 1
    assert f"s3://{BUCKET}/{rec['key']} is not what was stored: sha256 " \
        f"{hashlib.sha256(blob[:-1]).hexdigest()} of {len(blob) - 1} " \
        f"bytes, the record says {rec['sha256']} of {len(blob)}" \
        in f.stderr, f.stderr


def test_database_unreachable(world):
    port = sp.free_port()
    r = world.run(MONGODB_CONNECTION_STRING=f"mongodb://127.0.0.1:{port}/",
                  SILO_DB_TIMEOUT_MS=500)
    assert r.returncode == 1
    assert_clean(r)
    assert "backup: (not started): FAILED: buildInfo: " in r.stderr
    assert f"connection refused calling hello on '127.0.0.1:{port}'" \
        in r.stderr


def test_wrong_spaces_secret(world):
    before = backups_of(world)
    r = world.run(SPACES_SECRET="not-the-secret")
    assert r.returncode == 1
    assert_clean(r)
    assert f"FAILED: CREATE-MULTIPART {BUCKET}/{PREFIX}" in r.stderr
    assert "403 SignatureDoesNotMatch" in r.stderr
    assert "not-the-secret" not in r.stderr
    rec = world.newest()
    assert rec["status"] == "failed"
    assert rec["error"].startswith(f"CREATE-MULTIPART {BUCKET}/{rec['key']}"
                                   ": 403 SignatureDoesNotMatch"), rec
    assert "upload_id" not in rec
    assert backups_of(world) == before


# ---------------------------------------------------------------- verify

def scratch_dbs(world):
    with world.client() as c:
        return [d for d in c.list_database_names()
                if d.startswith("silo_verify_")]


def verify(world, *args, **extra):
    r = world.silo("backup", "verify", *args, **extra)
    r.stdout = r.stdout.decode(errors="replace")
    assert_clean(r)
    return r


def verification(world, ident):
    v = world.records()[ident]["verification"]
    assert set(v) == {"at", "ok", "error", "duration_ms"}, v
    assert isinstance(v["duration_ms"], int) and v["duration_ms"] >= 0
    return v


def test_verify_a_good_backup(world):
    r = world.run()
    rec = check_run(world, r, encrypted=True)
    v = verify(world, rec["_id"])
    assert v.returncode == 0, v.stderr
    docs = sum(c["count"] for c in rec["collections"])
    assert v.stdout.startswith(
        f"ok: {rec['_id']} verified: sha256, every GCM tag, "
        f"{len(rec['collections'])} collections and {docs} documents "
        "restored and compared in "), v.stdout
    got = verification(world, rec["_id"])
    assert got["ok"] is True and got["error"] is None, got
    assert got["at"] >= rec["finished_at"]
    assert scratch_dbs(world) == []
    # latest is the newest good one
    assert verify(world).returncode == 0
    assert verify(world, "latest").returncode == 0


def test_verify_a_good_plain_backup(world):
    rec = check_run(world, world.run("--no-encrypt", "--include", "users"),
                    encrypted=False)
    v = verify(world, rec["_id"])
    assert v.returncode == 0, v.stderr
    assert f"ok: {rec['_id']} verified: sha256, size, 1 collections" \
        in v.stdout
    assert verification(world, rec["_id"])["ok"] is True


@pytest.mark.parametrize("case", ["sealed-tamper", "sealed-truncate",
                                  "plain-tamper", "plain-truncate"])
def test_verify_detects_a_damaged_object(world, case):
    sealed = case.startswith("sealed")
    args = ["--include", "users"] + ([] if sealed else ["--no-encrypt"])
    rec = check_run(world, world.run(*args), encrypted=sealed)
    blob = bytearray((world.root / "object").read_bytes())
    if case.endswith("tamper"):
        blob[len(blob) // 2] ^= 0x01
    else:
        blob = blob[:len(blob) - 100]
    replace_object(world, rec["key"], bytes(blob))
    v = verify(world, rec["_id"])
    assert v.returncode == 1, v.stderr
    want = f"backup: verify {rec['_id']} failed: s3://{BUCKET}/" \
        f"{rec['key']} is not what was stored: sha256 " \
        f"{hashlib.sha256(blob).hexdigest()} of {len(blob)} bytes, the " \
        f"record says {rec['sha256']} of {rec['bytes']['stored']}; " \
        "reading it: "
    assert want in v.stderr, v.stderr
    if case == "sealed-tamper":
        assert "chunk 0: authentication failed (tampered)" in v.stderr
    elif case == "sealed-truncate":
        assert "truncated: chunk 0 ends after" in v.stderr
    got = verification(world, rec["_id"])
    assert got["ok"] is False
    assert got["error"].startswith(want[len(f"backup: verify {rec['_id']}"
                                            " failed: "):]), got
    assert scratch_dbs(world) == []


def test_verify_detects_a_changed_manifest(world):
    """The record's count and content hash are what the restored
    collection is compared with: a record that disagrees fails, naming
    the collection."""
    rec = check_run(world, world.run("--include", "users"), encrypted=True)
    with world.client() as c:
        c.silo.backups.update_one({"_id": rec["_id"]},
                                  {"$inc": {"collections.0.count": 1}})
    v = verify(world, rec["_id"])
    assert v.returncode == 1
    n = rec["collections"][0]["count"]
    assert f"collection {AC_DB}.users: count differs: the manifest says " \
        f"{n + 1}, the archive holds {n}, the scratch database {n}" \
        in v.stderr, v.stderr
    with world.client() as c:
        c.silo.backups.update_one(
            {"_id": rec["_id"]},
            {"$inc": {"collections.0.count": -1},
             "$set": {"collections.0.content_hash": "0" * 64}})
    v = verify(world, rec["_id"])
    assert v.returncode == 1
    assert f"collection {AC_DB}.users: content hash differs: the " \
        f"manifest says {'0' * 64}, the archive gives " \
        f"{rec['collections'][0]['content_hash']}" in v.stderr, v.stderr
    assert verification(world, rec["_id"])["ok"] is False
    assert scratch_dbs(world) == []


# ---------------------------------------------------------------- restore

def restore(world, *args, **extra):
    r = world.silo("backup", "restore", *args, **extra)
    r.stdout = r.stdout.decode(errors="replace")
    assert_clean(r)
    return r


def canonical(client, db, name):
    """db.name's documents in canonical Extended JSON, by _id."""
    from bson import json_util
    docs = [json_util.dumps(d, json_options=json_util.CANONICAL_JSON_OPTIONS)
            for d in client[db][name].find()]
    return sorted(docs)


def index_specs(client, db, name):
    return {s["name"]: {k: v for k, v in s.to_dict().items()
                        if k not in ("ns", "v")}
            for s in client[db][name].list_indexes()}


def test_restore_into_another_database(world):
    rec = check_run(world, world.run(), encrypted=True)
    mine = [c for c in rec["collections"] if c["db"] == AC_DB]
    r = restore(world, rec["_id"], "--to-db", "restored_all")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"restore backup {rec['_id']} (s3://{BUCKET}/" \
        f"{rec['key']}, of database {AC_DB}) into database restored_all:"
    assert lines[1:1 + len(mine)] == [
        f"  {c['name']}: {c['count']} documents (a new collection)"
        for c in mine]
    assert lines[-1].startswith(
        f"ok: {len(mine)} collections, {sum(c['count'] for c in mine)} "
        "documents restored into restored_all in "), lines
    with world.client() as c:
        assert sorted(c.restored_all.list_collection_names()) == \
            sorted(m["name"] for m in mine)
        for m in mine:
            assert canonical(c, "restored_all", m["name"]) == \
                canonical(c, AC_DB, m["name"]), m["name"]
            assert index_specs(c, "restored_all", m["name"]) == \
                index_specs(c, AC_DB, m["name"]), m["name"]
    # The target is not empty now: refused without --drop, nothing
    # touched; replaced with it.
    r = restore(world, rec["_id"], "--to-db", "restored_all")
    assert r.returncode == 1
    users = next(m for m in mine if m["name"] == "users")
    assert f"  users: {users['count']} documents: REFUSED, the existing " \
        f"collection holds {users['count']} documents (--drop replaces " \
        "it)" in r.stdout, r.stdout
    assert f"{len(mine)} target collections hold documents: nothing was " \
        "restored (--drop replaces them)" in r.stderr, r.stderr
    r = restore(world, rec["_id"], "--to-db", "restored_all", "--drop",
                "--collection", "users")
    assert r.returncode == 0, r.stderr
    assert f"  users: {users['count']} documents (drops and replaces the " \
        f"existing one of {users['count']} documents: --drop)" in r.stdout
    with world.client() as c:
        assert canonical(c, "restored_all", "users") == \
            canonical(c, AC_DB, "users")
        c.drop_database("restored_all")


def test_restore_only_some_collections(world):
    rec = check_run(world, world.run(), encrypted=True)
    r = restore(world, rec["_id"], "--to-db", "restored_some",
                "--collection", "users", "--collection", "paintings")
    assert r.returncode == 0, r.stderr
    with world.client() as c:
        assert sorted(c.restored_some.list_collection_names()) == \
            ["paintings", "users"]
        for name in ("paintings", "users"):
            assert canonical(c, "restored_some", name) == \
                canonical(c, AC_DB, name)
        c.drop_database("restored_some")
    r = restore(world, rec["_id"], "--to-db", "restored_some",
                "--collection", "nosuch")
    assert r.returncode == 1
    assert f"--collection nosuch: the backup has no collection " \
        f"{AC_DB}.nosuch" in r.stderr, r.stderr


def test_restore_keeps_capped_options(world):
    with world.client() as c:
        c[AC_DB].create_collection("zz_capped2", capped=True, size=100000)
        c[AC_DB].zz_capped2.insert_many([{"_id": i} for i in range(5)])
    try:
        rec = check_run(world, world.run("--include", "zz_capped2"),
                        encrypted=True)
        r = restore(world, rec["_id"], "--to-db", "restored_capped")
        assert r.returncode == 0, r.stderr
        with world.client() as c:
            assert c.restored_capped.zz_capped2.options() == {
                "capped": True, "size": 100000}
            assert canonical(c, "restored_capped", "zz_capped2") == \
                canonical(c, AC_DB, "zz_capped2")
            c.drop_database("restored_capped")
    finally:
        with world.client() as c:
            c[AC_DB].zz_capped2.drop()


def test_restore_refuses_production_without_the_flag(world):
    rec = check_run(world, world.run("--include", "users"), encrypted=True)
    r = restore(world, rec["_id"], "--to-db", AC_DB)
    assert r.returncode == 2
    assert f"backup: restore: {AC_DB} is AC's own database: restoring " \
        "into it needs --i-mean-production" in r.stderr, r.stderr
    # With the flag, the non-empty collection is still refused without
    # --drop, and nothing changes.
    with world.client() as c:
        before = canonical(c, AC_DB, "users")
    r = restore(world, rec["_id"], "--i-mean-production")
    assert r.returncode == 1
    assert "REFUSED" in r.stdout
    r = restore(world, rec["_id"], "--i-mean-production", "--drop")
    assert r.returncode == 0, r.stderr
    with world.client() as c:
        assert canonical(c, AC_DB, "users") == before


def test_restore_of_a_damaged_object_fails(world):
    rec = check_run(world, world.run("--include", "users"), encrypted=True)
    blob = bytearray((world.root / "object").read_bytes())
    blob[len(blob) // 2] ^= 0x01
    replace_object(world, rec["key"], bytes(blob))
    r = restore(world, rec["_id"], "--to-db", "restored_bad")
    assert r.returncode == 1
    assert f"backup: restore {rec['_id']}: s3://{BUCKET}/{rec['key']} is " \
        "not what was stored: sha256 " in r.stderr, r.stderr
    assert "chunk 0: authentication failed (tampered) (restored_bad may " \
        "hold part of the backup now: restore again with --drop)" \
        in r.stderr, r.stderr
    with world.client() as c:
        assert c.restored_bad.users.count_documents({}) == 0
        c.drop_database("restored_bad")


def test_verify_stopped_by_sigterm(world, bulk):
    """SIGTERM mid-verify: the scratch databases are dropped all the
    same, and the record says why it failed."""
    rec = check_run(world, world.run("--include", bulk), encrypted=True)
    log = world.stack.silo_log(world.root / "verify-sigterm.log")
    with open(log, "ab") as err:
        p = subprocess.Popen(
            [str(world.stack.silo_bin), "backup", "verify", rec["_id"]],
            env=world.env(), stderr=err, stdout=subprocess.DEVNULL)
    with world.client() as c:
        wait_for(lambda: c[f"silo_verify_{rec['_id'].rsplit('-', 1)[1]}_0"]
                 [bulk].estimated_document_count() > 0, p, log)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=120) == 1
    text = Path(log).read_text()
    assert f"backup: verify {rec['_id']} failed: " in text, text
    assert "stopped by SIGTERM" in text, text
    assert "Sanitizer" not in text and "runtime error" not in text, text
    got = verification(world, rec["_id"])
    assert got["ok"] is False and "stopped by SIGTERM" in got["error"]
    assert scratch_dbs(world) == []


# ---------------------------------------------------------------- prune

PRUNE_ROW = "%-28s %-8s %-20s %-6s %s"


def iso_s(d):
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def synthetic(world, ident, finished, status="ok", verified=None,
              bucket=BUCKET):
    """A record of a backup that finished at finished (a UTC datetime);
    an ok one gets a small object and manifest of its own."""
    key = PREFIX + ident + ".archive.gz.sealed"
    rec = {"_id": ident, "status": status, "bucket": bucket,
           "started_at": finished - datetime.timedelta(minutes=10),
           "finished_at": finished, "key": key,
           "manifest_key": key + ".manifest.json"}
    if status == "ok" and bucket == BUCKET:
        src = world.root / "prune-object"
        src.write_bytes(ident.encode())
        world.tool("put", BUCKET, rec["key"], str(src))
        world.tool("put", BUCKET, rec["manifest_key"], str(src))
    if status == "failed":
        rec["error"] = "database: gone"
    if verified is not None:
        rec["verification"] = {"at": finished, "ok": verified,
                               "error": None, "duration_ms": 1}
    with world.client() as c:
        c.silo.backups.insert_one(rec)
    return rec


@pytest.fixture
def prune_world(world):
    """silo.backups emptied for the test, the earlier tests' records put
    back after it."""
    with world.client() as c:
        saved = list(c.silo.backups.find())
        c.silo.backups.delete_many({})
    yield world
    with world.client() as c:
        c.silo.backups.delete_many({})
        if saved:
            c.silo.backups.insert_many(saved)


def test_prune(prune_world):
    """A real run, and synthetic good backups around it: --dry-run
    prints exactly what goes and deletes nothing; prune deletes exactly
    the pruned backups' objects, manifests and records, keeps the old
    newest verified one, and the old failed run's record goes."""
    world = prune_world
    real = check_run(world, world.run(), encrypted=True)
    fin = real["finished_at"].replace(tzinfo=datetime.timezone.utc)
    day0 = fin.replace(hour=0, minute=0, second=0, microsecond=0)
    yday = day0 - datetime.timedelta(days=1)

    def at(days, hour):
        return day0 - datetime.timedelta(days=days) + \
            datetime.timedelta(hours=hour)

    def ident(d, n):
        return d.strftime("%Y-%m-%dT%H%M%SZ") + f"-0000000{n}"

    recs = {}
    for name, when, kw in [
            ("yday_late", at(1, 2), {}),
            ("yday_early", at(1, 1), {}),
            ("fail_new", at(1, 3), {"status": "failed"}),
            ("verified", at(300, 5), {"verified": True}),
            ("verified_older", at(350, 5), {"verified": True}),
            ("unverified_newer", at(290, 5), {"verified": False}),
            ("old", at(400, 5), {}),
            ("fail_old", at(400, 6), {"status": "failed"})]:
        recs[name] = synthetic(world, ident(when, len(recs)), when, **kw)
    # yesterday's newest is also its ISO week's and its month's when
    # today starts a week or a month
    why = "daily"
    if yday.isocalendar()[:2] != day0.isocalendar()[:2]:
        why += ",weekly"
    if yday.month != day0.month:
        why += ",monthly"
    want = {
        "yday_late": ("keep", why),
        "yday_early": ("delete", "-"),
        "fail_new": ("keep", "failed, within the horizon"),
        "verified": ("keep", "newest verified"),
        "verified_older": ("delete", "-"),
        "unverified_newer": ("delete", "-"),
        "old": ("delete", "-"),
        "fail_old": ("delete", "failed, before the horizon"),
    }
    rows = [(real["started_at"], PRUNE_ROW % (
        real["_id"], "ok", iso_s(fin), "keep",
        "daily,weekly,monthly,newest good"))]
    for name, rec in recs.items():
        rows.append((rec["started_at"], PRUNE_ROW % (
            rec["_id"], rec["status"], iso_s(rec["finished_at"]),
            *want[name])))
    rows.sort(key=lambda r: r[0].replace(tzinfo=None), reverse=True)
    table = [PRUNE_ROW % ("ID", "STATUS", "FINISHED", "ACTION", "REASON")]
    table += [r[1] for r in rows]
    objects_before = world.objects()
    records_before = set(world.records())

    r = world.silo("backup", "prune", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert_clean(r)
    assert r.stdout.decode().splitlines() == table + [
        "prune: 4 kept, 5 to delete (dry run: nothing deleted)"]
    assert world.objects() == objects_before
    assert set(world.records()) == records_before

    r = world.silo("backup", "prune")
    assert r.returncode == 0, r.stderr
    assert_clean(r)
    gone = [n for n in want if want[n][0] == "delete"]
    assert r.stdout.decode().splitlines() == table + [
        "prune: 4 kept, 5 to delete"] + \
        [f"deleted {recs[n]['_id']}" for n in sorted(
            gone, key=lambda n: recs[n]["started_at"], reverse=True)]
    assert set(world.records()) == {real["_id"]} | {
        recs[n]["_id"] for n in want if want[n][0] == "keep"}
    gone_keys = set()
    for n in gone:
        if recs[n]["status"] == "ok":
            gone_keys |= {recs[n]["key"], recs[n]["manifest_key"]}
    assert set(world.objects()) == set(objects_before) - gone_keys
    assert gone_keys <= set(objects_before)
    assert len(gone_keys) == 8


def test_prune_failed_delete_keeps_the_record(prune_world):
    """An object that cannot be deleted (its record names a bucket that
    does not exist): the record stays, the reason is said, exit 1; the
    other pruned backups still go."""
    world = prune_world
    now = datetime.datetime.now(datetime.timezone.utc).replace(
        microsecond=0)
    keep = synthetic(world, "2000-01-01T000000Z-0000000a",
                     now - datetime.timedelta(hours=1))
    bad = synthetic(world, "2000-01-01T000000Z-0000000b",
                    now - datetime.timedelta(days=500),
                    bucket="no-such-bucket")
    old = synthetic(world, "2000-01-01T000000Z-0000000c",
                    now - datetime.timedelta(days=600))
    r = world.silo("backup", "prune")
    assert r.returncode == 1, r.stderr
    assert_clean(r)
    assert f"prune: {bad['_id']}: deleting {bad['key']}: " in r.stderr
    assert "; the record stays" in r.stderr, r.stderr
    assert set(world.records()) == {keep["_id"], bad["_id"]}
    objects = world.objects()
    assert keep["key"] in objects and old["key"] not in objects
    assert old["manifest_key"] not in objects
