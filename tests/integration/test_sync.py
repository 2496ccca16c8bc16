"""silo sync against two FerretDB servers, one playing Atlas: the first
sync equals the source document for document, catch-ups after inserts,
updates and deletes (with and without --delete), string, ObjectId and mixed
_ids, kill -9 and resume, a source that goes away, --verify-only and
--dry-run, and the source's password never printed.  Seeding and
read-backs go through pymongo, not through silo."""

import datetime as dt
import random
import re
from fractions import Fraction
import signal
import subprocess

import pytest
from bson import Int64, ObjectId, json_util
from bson.json_util import CANONICAL_JSON_OPTIONS
from pymongo import MongoClient

import stack_process as sp
import stack_services as sv

UTC = dt.timezone.utc


def canonical(doc):
    return json_util.dumps(doc, json_options=CANONICAL_JSON_OPTIONS)


@pytest.fixture(scope="module")
def atlas(stack):
    """A second FerretDB: the live database the sync catches up from."""
    root = stack.root / "atlas"
    s = sv.ferretdb(root / "ferretdb", log_path=root / "ferretdb.log").start()
    try:
        yield s
    finally:
        s.stop()


def client(server):
    return MongoClient(server.uri, serverSelectionTimeoutMS=5000)


def sync_argv(stack, source_uri, db, *args):
    return [str(stack.silo_bin), "sync", "--from", source_uri,
            "--database", db] + list(args)


def sync_env(stack):
    return sp.clean_env(MONGODB_CONNECTION_STRING=stack.fdb.uri,
                        SILO_ENV_FILE="/dev/null")


def silo_sync(stack, source_uri, db, *args, timeout=300):
    r = subprocess.run(sync_argv(stack, source_uri, db, *args),
                       env=sync_env(stack), capture_output=True, text=True,
                       timeout=timeout)
    stack.keep_stderr("sync", r.stderr)
    return r


def row(out, name):
    for line in out.splitlines():
        if line.split(" ", 1)[0] == name:
            return line.split()
    raise AssertionError(f"no row for {name} in:\n{out}")


def snapshot(db, name):
    """Every document of db.name in canonical Extended JSON, by _id."""
    return {canonical(d["_id"]): canonical(d) for d in db[name].find()}


def seed(db):
    """String, ObjectId and mixed _ids, every BSON type AC uses, an empty
    collection with a unique index, and one of each list."""
    handles = [{"_id": f"auth0|{i:06d}", "handle": f"h{i}",
                "when": dt.datetime(2025, 1, 1, tzinfo=UTC) +
                dt.timedelta(minutes=i), "n": Int64(i),
                "deep": {"a": [1, 2.5, None, {"b": "müller 🎨"}]}}
               for i in range(1500)]
    paintings = [{"_id": ObjectId(), "slug": f"s{i}", "user": f"auth0|{i}"}
                 for i in range(2300)]
    mixed = ([{"_id": f"k{i:04d}", "v": i} for i in range(700)] +
             [{"_id": ObjectId(), "v": i} for i in range(700)] +
             [{"_id": i, "v": i} for i in range(300)])
    db["@handles"].insert_many(handles)
    db.paintings.insert_many(paintings)
    db.paintings.create_index([("slug", 1), ("user", -1)], unique=True,
                              name="slug_1_user_-1")
    db.mixed.insert_many(mixed)
    db.create_collection("chat-mute")
    db["chat-mute"].create_index("user", unique=True, name="user_1")
    db.boots.insert_one({"_id": ObjectId(), "bootId": "b"})
    db["jas-tags"].insert_one({"_id": ObjectId(), "tag": "x"})


SYNCED = ["@handles", "paintings", "mixed", "chat-mute"]


def assert_equal(src, dst, names=SYNCED):
    for name in names:
        want, have = snapshot(src, name), snapshot(dst, name)
        assert len(have) == len(want), name
        assert have == want, name


def test_first_sync_then_catch_up(stack, atlas):
    with client(atlas) as a:
        seed(a["live1"])
    uri = atlas.uri + "live1"
    r = silo_sync(stack, uri, "sync1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert row(r.stdout, "paintings")[1:8] == [
        "sync", "2300", "0", "2300", "0", "0", "complete"]
    assert row(r.stdout, "mixed")[2:5] == ["1700", "0", "1700"]
    assert row(r.stdout, "boots")[1] == "skip"
    assert row(r.stdout, "jas-tags")[1] == "archive"
    with client(atlas) as a, stack.mongo() as t:
        assert_equal(a["live1"], t["sync1"])
        assert "boots" not in t["sync1"].list_collection_names()
        assert "jas-tags" not in t["sync1"].list_collection_names()
        # The empty collection exists, with its unique index.
        ix = {i["name"]: i for i in t["sync1"]["chat-mute"].list_indexes()}
        assert ix["user_1"]["unique"] is True
        ix = {i["name"]: i for i in t["sync1"].paintings.list_indexes()}
        assert list(ix["slug_1_user_-1"]["key"].items()) == [
            ("slug", 1), ("user", -1)]
        state = t["silo"].syncs.find_one({"_id": "sync1.mixed"})
        assert state["status"] == "complete" and state["new"] == 1700

        # Between runs, Atlas takes writes.
        live = a["live1"]
        live["@handles"].insert_one({"_id": "auth0|new", "handle": "nu"})
        live["@handles"].update_one({"_id": "auth0|000007"},
                                    {"$set": {"handle": "renamed"}})
        live["@handles"].delete_one({"_id": "auth0|000009"})
        oid = live.paintings.find_one({"slug": "s5"})["_id"]
        live.paintings.update_one({"_id": oid}, {"$set": {"slug": "s5b"}})
        live.mixed.delete_one({"_id": 17})
        live.mixed.insert_one({"_id": "k9999", "v": -1})

    r = silo_sync(stack, uri, "sync1")
    assert r.returncode == 0, r.stdout + r.stderr
    # source, same, new, changed, gone
    assert row(r.stdout, "@handles")[2:7] == ["1500", "1498", "1", "1", "1"]
    assert "target-only kept" in r.stdout
    assert row(r.stdout, "paintings")[2:7] == ["2300", "2299", "0", "1", "0"]
    assert row(r.stdout, "mixed")[2:7] == ["1700", "1699", "1", "0", "1"]
    with client(atlas) as a, stack.mongo() as t:
        # Without --delete the vanished documents stay.
        assert t["sync1"]["@handles"].find_one({"_id": "auth0|000009"})
        assert t["sync1"].mixed.find_one({"_id": 17})
        assert t["sync1"]["@handles"].find_one(
            {"_id": "auth0|000007"})["handle"] == "renamed"

    r = silo_sync(stack, uri, "sync1", "--delete")
    assert r.returncode == 0, r.stdout + r.stderr
    assert row(r.stdout, "@handles")[2:7] == ["1500", "1500", "0", "0", "1"]
    assert "(1 deleted)" in " ".join(row(r.stdout, "@handles"))
    with client(atlas) as a, stack.mongo() as t:
        assert_equal(a["live1"], t["sync1"])

    r = silo_sync(stack, uri, "sync1", "--verify-only")
    assert r.returncode == 0, r.stdout + r.stderr
    v = row(r.stdout, "paintings")
    assert v[1:3] == ["2300", "2300"] and v[3] == v[4] and v[5] == "equal"


def test_verify_only_names_a_planted_difference(stack, atlas):
    with client(atlas) as a:
        seed(a["live2"])
    uri = atlas.uri + "live2"
    assert silo_sync(stack, uri, "sync2").returncode == 0
    with stack.mongo() as t:
        victim = t["sync2"].paintings.find().sort("_id", 1).skip(1234)[0]
        t["sync2"].paintings.update_one({"_id": victim["_id"]},
                                        {"$set": {"slug": "planted"}})
    r = silo_sync(stack, uri, "sync2", "--verify-only")
    assert r.returncode == 1, r.stdout + r.stderr
    v = row(r.stdout, "paintings")
    assert v[1:3] == ["2300", "2300"] and v[3] != v[4], v
    assert v[5] == "DIFFERENT"
    assert f'{{ "_id" : {{ "$oid" : "{victim["_id"]}" }} }}' in r.stdout
    assert row(r.stdout, "mixed")[5] == "equal"
    with stack.mongo() as t:
        # It wrote nothing.
        assert t["sync2"].paintings.find_one(
            {"_id": victim["_id"]})["slug"] == "planted"


def test_dry_run_writes_nothing(stack, atlas):
    with client(atlas) as a:
        seed(a["live3"])
    r = silo_sync(stack, atlas.uri + "live3", "sync3", "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert row(r.stdout, "@handles")[2:8] == [
        "1500", "0", "1500", "0", "0", "would"]
    with stack.mongo() as t:
        assert "sync3" not in t.list_database_names()
        assert t["silo"].syncs.count_documents({"_id": {
            "$regex": "^sync3\\."}}) == 0


def big_source(db, n=12000):
    db.kidlisp.insert_many([{"_id": f"$code{i:07d}", "source": "x" * 300,
                             "i": Int64(i)} for i in range(n)])
    return n


def test_kill_9_then_resume(stack, atlas):
    with client(atlas) as a:
        n = big_source(a["live4"])
    uri = atlas.uri + "live4"
    log = stack.silo_log(stack.root / "sync-killed.log")
    with open(log, "wb") as f:
        proc = subprocess.Popen(sync_argv(stack, uri, "sync4"),
                                env=sync_env(stack),
                                stdout=subprocess.DEVNULL, stderr=f)
    with stack.mongo() as t:
        state = t["silo"].syncs
        sp.wait_until(lambda: (state.find_one({"_id": "sync4.kidlisp"}) or
                               {}).get("source_docs", 0) >= 3000, 180,
                      "the sync to checkpoint 3,000 documents")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        done = state.find_one({"_id": "sync4.kidlisp"})
        assert done["status"] == "running"
        checkpoint = done["source_docs"]
        assert 0 < checkpoint < n
    r = silo_sync(stack, uri, "sync4", timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"resuming from the checkpoint after {checkpoint} documents" \
        in r.stderr, r.stderr
    k = row(r.stdout, "kidlisp")
    # Counts carry over from the checkpoint: the whole source, once.
    assert k[2] == str(n) and k[-1] == "(resumed)", k
    with client(atlas) as a, stack.mongo() as t:
        ids = [d["_id"] for d in t["sync4"].kidlisp.find({}, {"_id": 1})]
        assert len(ids) == n and len(set(ids)) == n
        assert_equal(a["live4"], t["sync4"], ["kidlisp"])


def test_source_going_away_is_named_and_resumable(stack, tmp_path):
    root = tmp_path / "gone"
    src = sv.ferretdb(root / "ferretdb", log_path=root / "ferretdb.log")
    src.start()
    try:
        with client(src) as a:
            n = big_source(a["live5"])
        uri = src.uri + "live5"
        log = stack.silo_log(tmp_path / "sync-gone.log")
        with open(log, "wb") as f:
            proc = subprocess.Popen(sync_argv(stack, uri, "sync5"),
                                    env=sync_env(stack),
                                    stdout=subprocess.PIPE, stderr=f,
                                    text=True)
        with stack.mongo() as t:
            state = t["silo"].syncs
            sp.wait_until(lambda: (state.find_one({"_id": "sync5.kidlisp"})
                                   or {}).get("source_docs", 0) >= 3000,
                          180, "the sync to checkpoint 3,000 documents")
            src.proc.send_signal(signal.SIGKILL)
            src.proc.wait(10)
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 1, out
            assert "FAILED" in " ".join(row(out, "kidlisp"))
            assert "error: kidlisp: reading the source" in out, out
            failed = state.find_one({"_id": "sync5.kidlisp"})
            assert failed["status"] == "failed"
            assert "kidlisp: reading the source" in failed["error"]
        src = sv.ferretdb(root / "ferretdb", port=src.port,
                          log_path=root / "ferretdb.log").start()
        r = silo_sync(stack, uri, "sync5", timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "resuming from the checkpoint" in r.stderr, r.stderr
        with client(src) as a, stack.mongo() as t:
            assert t["sync5"].kidlisp.count_documents({}) == n
            assert_equal(a["live5"], t["sync5"], ["kidlisp"])
    finally:
        src.stop()


def test_the_password_is_never_printed(stack, atlas):
    with client(atlas) as a:
        a["live6"].boots.insert_one({"_id": "x"})
        a["live6"].notes.insert_one({"_id": "n1", "t": "hello"})
    secret = "Hunter2-" + "s3cr3t" * 3
    host = atlas.uri.split("//", 1)[1].rstrip("/")
    uri = (f"mongodb://atlasuser:{secret}@{host}/live6"
           "?authMechanism=PLAIN&authSource=%24external")
    for args in ([], ["--dry-run"], ["--verify-only"],
                 ["--include", "nosuch"]):
        r = silo_sync(stack, uri, "sync6", *args)
        assert secret not in r.stdout + r.stderr
        assert "atlasuser:****@" in r.stderr, r.stderr
    # From the env file's SILO_SYNC_FROM, off the command line.
    env = dict(sync_env(stack), SILO_SYNC_FROM=uri)
    r = subprocess.run([str(stack.silo_bin), "sync", "--database", "sync6",
                        "--dry-run"], env=env, capture_output=True,
                       text=True, timeout=120)
    stack.keep_stderr("sync", r.stderr)
    assert r.returncode == 0, r.stdout + r.stderr
    assert row(r.stdout, "notes")[2:5] == ["1", "1", "0"]
    assert secret not in r.stdout + r.stderr
    r = subprocess.run([str(stack.silo_bin), "config", "check"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert "SILO_SYNC_FROM=mongodb://atlasuser:****@" in r.stdout, r.stdout
    assert secret not in r.stdout + r.stderr
    # A server that cannot be reached: the error names it, masked.
    bad = f"mongodb://atlasuser:{secret}@127.0.0.1:1/live6" \
          "?serverSelectionTimeoutMS=300"
    r = silo_sync(stack, bad, "sync6")
    assert r.returncode == 1
    assert secret not in r.stdout + r.stderr
    assert "atlasuser:****@127.0.0.1:1" in r.stdout + r.stderr
    with stack.mongo() as t:
        for d in t["silo"].syncs.find({"_id": {"$regex": "^sync6\\."}}):
            assert secret not in canonical(d)


def every_order_case():
    """_ids whose order a comparator could get wrong, per bracket: ints,
    longs and doubles interleaved (negative, fractional, beyond 2**53
    where a double cannot hold the long, at the ends of int64), strings
    bytewise as UTF-8 (non-ASCII, a NUL inside, prefixes, case), 2,500
    ObjectIds of random bytes (high bytes included), dates before and
    after 1970, both booleans and null."""
    rnd = random.Random(12)
    numbers = ([i for i in range(-40, 40, 3)] +
               [Int64(i * 7) for i in range(-20, 20)] +
               [i / 4 for i in range(-50, 50, 3)] +
               [Int64(2**53 + 1), float(2**53), Int64(2**63 - 1),
                float(2**63), float(-2**63), Int64(-2**63 + 1),
                1e300, -1e300, 5e-324, -5e-324, Int64(2**40), 2.0**40 + 0.5])
    # One of each value (a unique index holds 4 and 4.0 the same), and 7
    # left to the test.
    seen = {Fraction(7)}
    numbers = [v for v in numbers
               if not (Fraction(v) in seen or seen.add(Fraction(v)))]
    strings = ["", " ", "A", "Z", "a", "a\x00", "a\x00b", "aB", "ab", "b",
               "e", "i", "ss", "z", "\x7f", "\x80", "ß", "é", "ü", "İ",
               "日本", "\uffff", "🎨", "müller 🎨", "Müller", "mueller"]
    oids = [ObjectId(bytes(rnd.getrandbits(8) for _ in range(12)))
            for _ in range(2500)]
    dates = [dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(days=d)
             for d in range(-4000, 4000, 37)]
    return numbers + strings + oids + dates + [True, False, None]


def test_merge_follows_the_servers_order(stack, atlas):
    """The source and a target holding an interleaved part of it: every
    fifth _id only in the target, every fifth only at the source, every
    fifth changed.  A comparator that disagrees with FerretDB's order
    anywhere either fails the run (each stream's order is checked) or
    miscounts; the counts are exact and the result equals the source."""
    ids = every_order_case()
    src = [{"_id": v, "i": i} for i, v in enumerate(ids)]
    with client(atlas) as a, stack.mongo() as t:
        a["live7"].ids.insert_many([d for d in src if d["i"] % 5 != 0])
        # 7 at the source is the double 7.0, in the target the int 7: one
        # _id to both servers (a unique index says duplicate), so one
        # document, changed.
        a["live7"].ids.insert_one({"_id": 7.0, "i": -1})
        t["sync7"].ids.insert_many(
            [dict(d, i=-d["i"] - 2) if d["i"] % 5 == 2 else d
             for d in src if d["i"] % 5 not in (1,)])
        t["sync7"].ids.insert_one({"_id": 7, "i": -1})
        n_src = a["live7"].ids.count_documents({})
    fifth = [sum(1 for d in src if d["i"] % 5 == k) for k in range(5)]
    uri = atlas.uri + "live7"
    r = silo_sync(stack, uri, "sync7", "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    # source, same, new, changed, gone
    assert row(r.stdout, "ids")[2:7] == [
        str(n_src), str(fifth[3] + fifth[4]), str(fifth[1]),
        str(fifth[2] + 1), str(fifth[0])]
    r = silo_sync(stack, uri, "sync7", "--delete")
    assert r.returncode == 0, r.stdout + r.stderr
    assert row(r.stdout, "ids")[2:7] == [
        str(n_src), str(fifth[3] + fifth[4]), str(fifth[1]),
        str(fifth[2] + 1), str(fifth[0])]
    with client(atlas) as a, stack.mongo() as t:
        assert_equal(a["live7"], t["sync7"], ["ids"])
        seven = t["sync7"].ids.find_one({"_id": 7})
        assert type(seven["_id"]) is float and seven["i"] == -1
    r = silo_sync(stack, uri, "sync7", "--verify-only")
    assert r.returncode == 0, r.stdout + r.stderr
    assert row(r.stdout, "ids")[1:3] == [str(n_src), str(n_src)]
    assert row(r.stdout, "ids")[5] == "equal"


def test_equal_numbers_kept_apart_are_refused(stack, atlas):
    """FerretDB keeps the long 2**62 and the double 2**62 apart (mongod
    calls them one _id); sync cannot order two equal _ids, so it refuses
    the collection, naming both, and writes nothing of it."""
    with client(atlas) as a:
        live = a["live8"]
        live.big.insert_one({"_id": Int64(2**62), "t": "long"})
        live.big.insert_one({"_id": float(2**62), "t": "double"})
        assert live.big.count_documents({}) == 2
        live.fine.insert_one({"_id": 1})
    r = silo_sync(stack, atlas.uri + "live8", "sync8")
    assert r.returncode == 1, r.stdout + r.stderr
    assert row(r.stdout, "big")[-1] == "FAILED"
    assert ("error: big: the source's _id order puts "
            '{ "_id" : 4611686018427387904 } before '
            '{ "_id" : 4611686018427387904.0 }') in r.stdout, r.stdout
    assert row(r.stdout, "fine")[-1] == "complete"
    with stack.mongo() as t:
        assert t["sync8"].big.count_documents({}) == 0


def test_progress_is_a_share_of_the_estimated_documents(stack, atlas):
    """Each collection's step is measured against the source's estimated
    count, so the job's share grows with the documents done: after 100
    of 1,000 it says 10%, not 100%."""
    sizes = {"p100": 100, "p300": 300, "p600": 600}
    with client(atlas) as a:
        for name, n in sizes.items():
            a["live9"][name].insert_many([{"_id": i} for i in range(n)])
    r = silo_sync(stack, atlas.uri + "live9", "sync9")
    assert r.returncode == 0, r.stdout + r.stderr
    done = [re.match(r"\[(\d)/3\] (\S+): 100%, (\d+) docs, .*; all +(\d+)%$",
                     line) for line in r.stderr.splitlines()]
    done = [(m[2], int(m[3]), int(m[4])) for m in done if m]
    assert [d[0] for d in done] == sorted(sizes), r.stderr
    cum = 0
    for name, ndocs, share in done:
        cum += sizes[name]
        assert ndocs == sizes[name] and share == round(cum / 10), r.stderr


def test_collections_only_in_the_target_are_reported(stack, atlas):
    """A collection the target has and the source does not is kept and
    named; --verify-only calls it a difference when the plan would sync
    it and it holds documents."""
    with client(atlas) as a, stack.mongo() as t:
        a["live10"].notes.insert_one({"_id": "n1", "t": "hello"})
        t["sync10"].notes.insert_one({"_id": "n1", "t": "hello"})
        t["sync10"].extra.insert_many([{"_id": 1}, {"_id": 2}])
        t["sync10"].create_collection("hollow")
        t["sync10"].boots.insert_one({"_id": "b"})
    uri = atlas.uri + "live10"
    r = silo_sync(stack, uri, "sync10", "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert row(r.stdout, "extra") == [
        "extra", "sync", "0", "-", "-", "-", "2", "only", "in", "the",
        "target,", "kept"]
    assert row(r.stdout, "boots")[1] == "skip"
    r = silo_sync(stack, uri, "sync10", "--verify-only")
    assert r.returncode == 1, r.stdout + r.stderr
    assert row(r.stdout, "notes")[5] == "equal"
    assert row(r.stdout, "extra")[1:] == [
        "0", "2", "-", "-", "DIFFERENT", "(only", "in", "the", "target)"]
    assert row(r.stdout, "hollow")[1:6] == ["0", "0", "-", "-", "equal"]
    assert row(r.stdout, "boots")[5] == "skipped"
    r = silo_sync(stack, uri, "sync10")
    assert r.returncode == 0, r.stdout + r.stderr
    with stack.mongo() as t:
        assert t["sync10"].extra.count_documents({}) == 2
        t["sync10"].extra.drop()
    r = silo_sync(stack, uri, "sync10", "--verify-only")
    assert r.returncode == 0, r.stdout + r.stderr


def test_create_options_are_copied(stack, atlas):
    """A capped collection is created capped, with its size and max."""
    with client(atlas) as a:
        a["live11"].create_collection("events", capped=True, size=65536,
                                      max=50)
        a["live11"].events.insert_many([{"_id": i} for i in range(5)])
    r = silo_sync(stack, atlas.uri + "live11", "sync11")
    assert r.returncode == 0, r.stdout + r.stderr
    with stack.mongo() as t:
        info = {c["name"]: c for c in t["sync11"].list_collections()}
        assert info["events"]["options"] == {
            "capped": True, "size": 65536, "max": 50}
        assert t["sync11"].events.count_documents({}) == 5
