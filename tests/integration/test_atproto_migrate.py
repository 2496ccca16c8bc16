"""`silo atproto migrate` and `rollback` against FerretDB, on the whole
generated AC data set (tools/acgen.py, every collection) in a database of
its own.

What silo should do is computed here, independently of its C code: the
expected database after a migration is the original export with every
string equal to a migrated sub replaced by its DID (wherever it is, so
a reference the table forgot would show up as a difference), and the
@handles documents made as the ATProto document says.  Exports are every
document of every collection in canonical Extended JSON, sorted by _id,
compared as text.
"""

import json
import os
import re
import signal
import subprocess
import time

import pytest
from bson import json_util
from bson.json_util import CANONICAL_JSON_OPTIONS
from bson.raw_bson import RawBSONDocument

from conftest import SRCDIR

import acgen

DB = "atproto_it"
SCALE = 0.01           # the database the commands run on
SCAN_SCALE = 0.05      # the data set the table is checked against
JOURNAL = "atproto_journal"
STEPS = "atproto_journal_steps"
DOMAIN = ".at.aesthetic.computer"


def dns_handle(handle):
    """The atprotoHandle of an AC handle, as AC's PDS names accounts
    (ac-platform.md section 8): lowercased, '.' and '_' made '-', under
    .at.aesthetic.computer; None when that is no DNS label."""
    label = re.sub(r"[._]", "-", handle.lower())
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", label):
        return None
    return label + DOMAIN


# ------------------------------------------------------------ the table

def ac_tables():
    """{(collection, field)} of src/ac.c's ac_user_collections and
    ac_user_references: together every reference the migration moves."""
    text = (SRCDIR / "src" / "ac.c").read_text()
    rows = set()
    for table in ("ac_user_collections", "ac_user_references"):
        m = re.search(r"\b%s\[\] = \{(.*?)\n\};" % table, text, re.S)
        assert m, table
        rows |= set(re.findall(r'\{ "([^"]+)", "([^"]+)"', m.group(1)))
    return rows


def sub_values(c, d, subs, path=()):
    """(collection, dotted path, sub) for every value of document d equal
    to one of subs, arrays looked into."""
    if isinstance(d, dict):
        for k, x in d.items():
            yield from sub_values(c, x, subs, path + (k,))
    elif isinstance(d, list):
        for x in d:
            yield from sub_values(c, x, subs, path)
    elif isinstance(d, str) and d in subs:
        yield (c, ".".join(path), d)


def sub_paths(docs, subs):
    """{(collection, dotted path)} holding one of subs in docs
    {collection: [dict]}."""
    return {(c, p) for c, items in docs.items() for d in items
            for c, p, _ in sub_values(c, d, subs)}


# ------------------------------------------------------------ the data

@pytest.fixture(scope="module")
def world():
    return acgen.build_world(1, SCALE)


@pytest.fixture(scope="module")
def gen():
    """Every collection of the generated data set, as pymongo decodes it."""
    return {name: [json_util.loads(acgen.encode_document(d))
                   for d in acgen.iter_collection(name, SCALE)]
            for name in acgen.GENERATORS}


def load(stack, gen):
    """Make the test database the generated data set, with its indexes,
    and empty silo's journal."""
    with stack.mongo() as client:
        client.drop_database(DB)
        db = client[DB]
        for name, items in gen.items():
            db[name].insert_many([dict(d) for d in items])
            for ix in acgen.INDEXES[name]:
                opts = {"name": ix["name"]}
                if ix.get("unique"):
                    opts["unique"] = True
                db[name].create_index(list(ix["key"].items()), **opts)
        client["silo"][JOURNAL].drop()
        client["silo"][STEPS].drop()


def export(stack):
    """{collection: [canonical EJSON of each document, sorted by _id]}."""
    out = {}
    with stack.mongo() as client:
        db = client.get_database(DB)
        raw = db.codec_options.with_options(document_class=RawBSONDocument)
        for name in sorted(db.list_collection_names()):
            rows = []
            for doc in db.get_collection(name, codec_options=raw).find({}):
                rows.append((json_util.dumps(
                    doc["_id"], json_options=CANONICAL_JSON_OPTIONS),
                    json_util.dumps(doc,
                                    json_options=CANONICAL_JSON_OPTIONS)))
            out[name] = [t for _, t in sorted(rows)]
    return out


def journal(stack):
    with stack.mongo() as client:
        return {d["_id"]: d for d in client["silo"][JOURNAL].find()}


def did_for(u):
    """The user's DID: the one AC's users document has, else a made-up
    one derived from the sub."""
    if u.did:
        return u.did
    import hashlib
    h = hashlib.sha256(u.sub.encode()).digest()
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    return "did:plc:" + "".join(alphabet[b % 32] for b in h[:24])


@pytest.fixture(scope="module")
def sample(world, gen):
    """{sub: did} for a sample of users that between them hold a sub in
    every place the data set has one: AC's users with handles (with and
    without a DID in atproto{}), the most prolific one, and a sotce.net
    user whose @handles document is sotce-<sub>."""
    subs = {u.sub for u in world.users if not u.migrated}
    handles = {d["_id"] for d in gen["@handles"]}
    by_user = {}
    for c, items in gen.items():
        for d in items:
            for c, p, sub in sub_values(c, d, subs):
                by_user.setdefault(sub, set()).add((c, p))
    wanted = set().union(*by_user.values())
    pick = {world.creators[0].sub: did_for(world.creators[0])}
    covered = set(by_user.get(world.creators[0].sub, ()))
    # Greedily, users covering the places no pick covers yet.
    cands = [u for u in world.handle_users
             if not u.migrated and dns_handle(u.handle)]
    for u in sorted(cands, key=lambda u: -len(by_user.get(u.sub, ()))):
        new = by_user.get(u.sub, set()) - covered
        if new and u.sub in handles:
            pick[u.sub] = did_for(u)
            covered |= new
        if len(pick) >= 8 or covered >= wanted:
            break
    with_did = next(u for u in cands if u.did and u.sub not in pick)
    pick[with_did.sub] = with_did.did
    sotce_sub = world.sotce_handles[0][0]
    pick[sotce_sub] = "did:plc:" + "s" * 24
    return pick


def expected_after(before, gen, mapping):
    """The export a migration of mapping {sub: did} must give, from the
    export before it."""
    handles = {d["_id"]: d for d in gen["@handles"]}
    out = {}

    def swap(v):
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [swap(x) for x in v]
        if isinstance(v, str) and v in mapping:
            return mapping[v]
        return v
    for name, rows in before.items():
        docs = [json_util.loads(t, json_options=CANONICAL_JSON_OPTIONS)
                for t in rows]
        if name == "@handles":
            new = []
            for d in docs:
                sub = d["_id"][len("sotce-"):] \
                    if d["_id"].startswith("sotce-") else d["_id"]
                if sub not in mapping or d["_id"] not in handles:
                    new.append(d)
                    continue
                did = mapping[sub]
                twin = {"_id": did, "handle": d["handle"],
                        "atprotoHandle": dns_handle(d["handle"]),
                        "authProvider": "atproto", "legacyAuth0Sub": sub}
                twin.update({k: v for k, v in d.items()
                             if k not in ("_id", "handle")})
                # The old document's handle becomes its own _id, in place:
                # AC's unique index on handle is not sparse.
                old = dict(d, handle=d["_id"])
                # $set appends new fields in the order of their names,
                # on mongod (5.0 on) as on FerretDB.
                old["authProvider"] = "atproto"
                old["migratedDID"] = did
                new += [old, twin]
            docs = new
        else:
            docs = [swap(d) for d in docs]
        rows = [(json_util.dumps(d["_id"], json_options=CANONICAL_JSON_OPTIONS),
                 json_util.dumps(d, json_options=CANONICAL_JSON_OPTIONS))
                for d in docs]
        out[name] = [t for _, t in sorted(rows)]
    return out


def silo(stack, *args, step_delay=None, wait=True):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SILO_", "MONGODB_", "SPACES_"))}
    env.update(SILO_ENV_FILE="/dev/null",
               MONGODB_CONNECTION_STRING=stack.fdb.uri, MONGODB_NAME=DB,
               MONGOC_DISABLE_SHM="1")
    argv = [str(stack.silo_bin), "atproto", *args]
    if step_delay is not None:
        argv += ["--step-delay", str(step_delay)]
    if not wait:
        return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    r = subprocess.run(argv, env=env, capture_output=True, text=True,
                       timeout=300)
    stack.keep_stderr("atproto-" + args[0], r.stderr)
    return r.returncode, r.stdout, r.stderr


def write_map(tmp_path, mapping):
    """The mapping as a map file: CSV and JSON lines, a header and a
    comment."""
    lines = ["# sub -> did", "sub,did"]
    for i, (s, d) in enumerate(mapping.items()):
        lines.append(json.dumps({"sub": s, "did": d}) if i % 2
                     else "%s,%s" % (s, d))
    p = tmp_path / "map.txt"
    p.write_text("\n".join(lines) + "\n")
    return p


def diff(a, b):
    """The first difference of two exports, for an assertion message."""
    for name in sorted(set(a) | set(b)):
        x, y = a.get(name, []), b.get(name, [])
        if x != y:
            sx, sy = set(x), set(y)
            return (name, sorted(sx - sy)[:2], sorted(sy - sx)[:2])
    return None


# ------------------------------------------------------------ the tests

def test_the_table_names_every_field_that_holds_a_sub():
    w = acgen.build_world(1, SCAN_SCALE)
    subs = {u.sub for u in w.users} | set(w.sotce_subs)
    found = set()
    for name in acgen.GENERATORS:
        for d in acgen.iter_collection(name, SCAN_SCALE):
            found |= {(c, p) for c, p, _ in sub_values(name, d, subs)}
    # The data set must exercise the scan (a vacuous pass proves nothing).
    assert ("paintings", "user") in found and ("logs", "users") in found
    assert ("boots", "meta.user.sub") in found
    assert ("kidlisp", "pendingKeep.by") in found
    assert sorted(found - ac_tables()) == []


def test_dry_run_counts_and_changes_nothing(stack, gen, sample):
    load(stack, gen)
    before = export(stack)
    sub = next(iter(sample))
    rc, out, err = silo(stack, "migrate", "--sub", sub, "--did",
                        sample[sub], "--dry-run")
    assert rc == 0, err
    want = {}
    for (c, f) in ac_tables():
        key = sub
        n = 0
        for d in gen[c]:
            v = d
            for part in f.split("."):
                v = v.get(part) if isinstance(v, dict) else None
            if v == key or (isinstance(v, list) and key in v):
                n += 1
        if n:
            want[(c, f)] = n
    got = {}
    for line in out.splitlines()[1:]:
        parts = line.split()
        if parts[0] != "total":
            got[(parts[0], parts[1])] = int(parts[2])
    assert got == want
    assert out.splitlines()[-1].split() == ["total", str(sum(want.values()))]
    assert export(stack) == before
    assert journal(stack) == {}


def test_migrate_moves_every_reference_and_nothing_else(stack, gen, sample,
                                                         tmp_path):
    load(stack, gen)
    before = export(stack)
    rc, out, err = silo(stack, "migrate", "--map",
                        str(write_map(tmp_path, sample)))
    assert rc == 0, err
    assert out.splitlines()[-1] == "%d users: %d done, 0 not" % (
        len(sample), len(sample))
    after = export(stack)
    want = expected_after(before, gen, sample)
    d = diff(after, want)
    assert d is None, json.dumps(d, indent=1)
    assert after == want
    j = journal(stack)
    assert {s: (d["did"], d["state"]) for s, d in j.items()} == \
        {s: (d, "migrated") for s, d in sample.items()}
    # A second run changes nothing and says so.
    rc, out, err = silo(stack, "migrate", "--map",
                        str(write_map(tmp_path, sample)))
    assert rc == 0, err
    assert out.count("already migrated") == len(sample)
    assert export(stack) == after


def test_rollback_is_byte_equal_to_the_original(stack, gen, sample,
                                                tmp_path):
    load(stack, gen)
    before = export(stack)
    rc, out, err = silo(stack, "migrate", "--map",
                        str(write_map(tmp_path, sample)))
    assert rc == 0, err
    assert export(stack) != before
    for sub, did in sample.items():
        rc, out, err = silo(stack, "rollback", "--sub", sub)
        assert (rc, out) == (0, "%s: rolled back from %s\n" % (sub, did)), err
    assert diff(export(stack), before) is None
    assert export(stack) == before
    assert {d["state"] for d in journal(stack).values()} == {"rolled-back"}
    # Migrating again after a rollback works, and is a clean run's result.
    rc, out, err = silo(stack, "migrate", "--map",
                        str(write_map(tmp_path, sample)))
    assert rc == 0, err
    assert export(stack) == expected_after(before, gen, sample)


def run_until(stack, args, sub, state, extra_s, step_delay=300):
    """Start a migration with --step-delay, and kill -9 it extra_s after
    sub's journal reaches state; the journal then, for the record."""
    p = silo(stack, *args, step_delay=step_delay, wait=False)
    deadline = time.monotonic() + 120
    with stack.mongo() as client:
        coll = client["silo"][JOURNAL]
        while time.monotonic() < deadline:
            d = coll.find_one({"_id": sub})
            if d is not None and d["state"] == state:
                break
            assert p.poll() is None, p.communicate()
            time.sleep(0.01)
        time.sleep(extra_s)
        assert p.poll() is None, "finished before the kill"
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        p.stdout.close()
        p.stderr.close()
        return coll.find_one({"_id": sub})


def test_kill_at_several_points_then_rerun_equals_a_clean_run(
        stack, gen, sample, tmp_path):
    mp = str(write_map(tmp_path, sample))
    subs = list(sample)
    load(stack, gen)
    rc, out, err = silo(stack, "migrate", "--map", mp)
    assert rc == 0, err
    clean = export(stack)

    load(stack, gen)
    points = [
        # the plan half journaled: nothing applied yet
        (subs[0], "planning", 0.3),
        # the first user's plan partly applied (the plan is read again)
        (subs[0], "applying", 0.5),
        # still applying: a later step of the same user
        (subs[0], "applying", 1.1),
        # the next user's plan, after the first was finished
        (subs[1], "planning", 0.1),
        (subs[2], "applying", 0.3),
    ]
    for sub, state, extra in points:
        j = run_until(stack, ["migrate", "--map", mp], sub, state, extra)
        assert j["state"] == state, (sub, state, extra, j)
    rc, out, err = silo(stack, "migrate", "--map", mp)
    assert rc == 0, err
    assert diff(export(stack), clean) is None
    assert export(stack) == clean


def test_kill_during_rollback_then_rerun_is_byte_equal(stack, gen, sample):
    load(stack, gen)
    before = export(stack)
    sub = next(iter(sample))
    rc, out, err = silo(stack, "migrate", "--sub", sub, "--did", sample[sub])
    assert rc == 0, err
    # Killed twice while undoing the steps, then run to its end.
    for extra in (0.5, 1.1):
        j = run_until(stack, ["rollback", "--sub", sub], sub,
                      "rolling-back", extra)
        assert j["state"] == "rolling-back"
    assert export(stack) != before
    rc, out, err = silo(stack, "rollback", "--sub", sub)
    assert (rc, out) == (0, "%s: rolled back from %s\n" % (sub, sample[sub]))
    assert export(stack) == before


def refusal_cases(world, gen, sample):
    subs = list(sample)
    no_handle = next(u for u in world.users
                     if u.handle is None and not u.migrated)
    migrated = next(u for u in world.users if u.migrated)
    other_did = next(u for u in world.users
                     if u.did and not u.migrated and u.sub != subs[0])
    own_did = next(u for u in world.handle_users
                   if u.did and not u.migrated)
    h = next(d for d in gen["@handles"] if d["_id"] == subs[0])["handle"]
    return [
        ("malformed DID", [subs[0], "did:plc:short"], None,
         "not a well-formed DID"),
        ("malformed sub", ["auth0 123", "did:plc:" + "a" * 24], None,
         "not a well-formed auth0 sub"),
        ("sotce key as sub", ["sotce-" + subs[0], "did:plc:" + "a" * 24],
         None, "not a well-formed auth0 sub"),
        ("no @handles", [no_handle.sub, "did:plc:" + "b" * 24], None,
         "no @handles document"),
        ("DID is a migrated user's _id", [subs[0], migrated.did], None,
         "already has a document with _id " + migrated.did),
        ("DID is another user's atproto.did", [subs[0], other_did.did],
         None, "is another user's atproto.did"),
        ("user has another DID", [own_did.sub, "did:plc:" + "c" * 24],
         None, "its users document's atproto.did is " + own_did.did),
        ("handle clash", [subs[0], sample[subs[0]]],
         {"_id": "did:plc:" + "e" * 24, "handle": "someone-else",
          "atprotoHandle": dns_handle(h)}, "handle clash"),
    ]


def test_each_refusal_leaves_the_data_unchanged(stack, world, gen, sample):
    load(stack, gen)
    for name, (sub, did), plant, why in refusal_cases(world, gen, sample):
        if plant is not None:
            with stack.mongo() as client:
                client[DB]["@handles"].insert_one(dict(plant))
        before = export(stack)
        rc, out, err = silo(stack, "migrate", "--sub", sub, "--did", did)
        assert rc == 1, name
        assert "refused" in err and why in err, (name, err)
        assert out == "", name
        assert export(stack) == before, name
        assert journal(stack) == {}, name
        if plant is not None:
            with stack.mongo() as client:
                client[DB]["@handles"].delete_one({"_id": plant["_id"]})


def test_a_did_mapped_twice_is_refused(stack, gen, sample):
    load(stack, gen)
    a, b = list(sample)[:2]
    rc, out, err = silo(stack, "migrate", "--sub", a, "--did", sample[a])
    assert rc == 0, err
    before = export(stack)
    rc, out, err = silo(stack, "migrate", "--sub", b, "--did", sample[a])
    assert rc == 1
    assert "refused" in err and sample[a] in err
    assert export(stack) == before
    # And the migrated user to another DID.
    rc, out, err = silo(stack, "migrate", "--sub", a, "--did",
                        "did:plc:" + "f" * 24)
    assert rc == 1 and "already journaled to move to " + sample[a] in err
    assert export(stack) == before


def test_usage_errors(stack, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("auth0|x;did:plc:y\n")
    for args in (["migrate"], ["migrate", "--sub", "auth0|x"],
                 ["migrate", "--map", str(bad), "--sub", "auth0|x"],
                 ["rollback"], ["rollback", "--sub", "a|b", "--dry-run"],
                 ["frobnicate"], ["migrate", "--map", str(bad)]):
        rc, out, err = silo(stack, *args)
        assert rc == 2, (args, err)
        assert out == ""


def test_a_batch_with_refusals_in_the_middle_moves_the_others(
        stack, world, gen, sample, tmp_path):
    """Refused users in the middle of a batch are reported and skipped;
    the users around them are migrated as a clean run of them alone
    would, and the refused ones leave no journal.  A DID given twice ends
    the batch before the second, which is then refused as taken."""
    load(stack, gen)
    before = export(stack)
    subs = list(sample)
    good = {s: sample[s] for s in subs[:4]}
    no_handle = next(u for u in world.users
                     if u.handle is None and not u.migrated)
    other_did = next(u for u in world.users
                     if u.did and not u.migrated and u.sub not in sample)
    handles = {d["_id"] for d in gen["@handles"]}
    taker = next(u for u in world.handle_users
                 if not u.migrated and u.sub not in sample and
                 u.sub in handles and dns_handle(u.handle) and not u.did)
    lines = [
        "%s,%s" % (subs[0], good[subs[0]]),
        "%s,%s" % (subs[1], good[subs[1]]),
        "%s,%s" % (no_handle.sub, "did:plc:" + "b" * 24),
        "%s,%s" % (taker.sub, other_did.did),
        "%s,%s" % (subs[2], good[subs[2]]),
        "%s,%s" % (subs[4], good[subs[0]]),
        "%s,%s" % (subs[3], good[subs[3]]),
    ]
    mp = tmp_path / "batch.csv"
    mp.write_text("\n".join(lines) + "\n")
    rc, out, err = silo(stack, "migrate", "--map", str(mp))
    assert rc == 1
    assert out.splitlines()[-1] == "7 users: 4 done, 3 not"
    assert ["%s: migrated to %s" % (s, d) for s, d in good.items()] == \
        [l for l in out.splitlines() if "migrated to" in l]
    refusals = [l for l in err.splitlines() if "refused" in l]
    assert len(refusals) == 3, err
    assert no_handle.sub in refusals[0] and \
        "no @handles document" in refusals[0]
    assert taker.sub in refusals[1] and \
        "is another user's atproto.did" in refusals[1]
    assert subs[4] in refusals[2] and good[subs[0]] in refusals[2]
    after = export(stack)
    want = expected_after(before, gen, good)
    assert diff(after, want) is None
    assert after == want
    assert {s: (d["did"], d["state"]) for s, d in journal(stack).items()} \
        == {s: (d, "migrated") for s, d in good.items()}


def test_kill_during_batches_then_rerun_equals_a_clean_run(
        stack, gen, sample, tmp_path):
    """Batches of three: killed in the second and third batches, at a
    user's plan and its apply, then run to the end in other batches."""
    mp = str(write_map(tmp_path, sample))
    subs = list(sample)
    load(stack, gen)
    rc, out, err = silo(stack, "migrate", "--map", mp)
    assert rc == 0, err
    clean = export(stack)

    load(stack, gen)
    points = [
        (subs[3], "planning", 0.1),     # the second batch's first user
        (subs[4], "applying", 0.3),     # its second, part applied
        (subs[6], "applying", 0.1),     # the third batch's first
    ]
    for sub, state, extra in points:
        j = run_until(stack, ["migrate", "--map", mp, "--batch", "3"], sub,
                      state, extra)
        assert j["state"] == state, (sub, state, extra, j)
    rc, out, err = silo(stack, "migrate", "--map", mp, "--batch", "2")
    assert rc == 0, err
    assert diff(export(stack), clean) is None
    assert export(stack) == clean


def test_handles_stay_unique_for_a_non_sparse_index(stack, gen, sample,
                                                    tmp_path):
    """After a migration every @handles document holds a distinct string
    handle, which AC's unique index accepts on mongod too, where a missing
    handle is a null key and two would collide: the old document's handle
    is its own _id, the new one's the handle."""
    load(stack, gen)
    rc, out, err = silo(stack, "migrate", "--map",
                        str(write_map(tmp_path, sample)))
    assert rc == 0, err
    with stack.mongo() as client:
        coll = client[DB]["@handles"]
        ix = {i["name"]: i for i in coll.list_indexes()}
        assert any(i["key"] == {"handle": 1} and i.get("unique")
                   for i in ix.values())
        docs = list(coll.find({}, {"handle": 1, "migratedDID": 1}))
    handles = [d.get("handle") for d in docs]
    assert all(isinstance(h, str) for h in handles)
    assert len(set(handles)) == len(handles)
    old = {d["_id"]: d for d in docs if "migratedDID" in d}
    assert len(old) == len(sample) >= 2
    assert all(d["handle"] == k for k, d in old.items())


def test_atproto_handle_is_the_pds_name_or_refused(stack, world, gen,
                                                   tmp_path):
    """The atprotoHandle is the PDS's name for the handle (lowercased, .
    and _ made -, under .at.aesthetic.computer); two handles with one
    name clash, in one batch or across runs; a handle with no DNS form
    is refused; refused users change nothing."""
    load(stack, gen)
    free = [u for u in world.users if u.handle is None and not u.migrated]
    plants = [(free[0], "Ka_Ri.Mo"), (free[1], "ka-ri-mo"),
              (free[2], "ñu"), (free[3], "_kari")]
    with stack.mongo() as client:
        client[DB]["@handles"].insert_many(
            [{"_id": u.sub, "handle": h} for u, h in plants])
    before = export(stack)
    mp = tmp_path / "names.csv"
    mp.write_text("".join("%s,%s\n" % (u.sub, did_for(u))
                          for u, _ in plants))
    rc, out, err = silo(stack, "migrate", "--map", str(mp))
    assert rc == 1
    assert out.splitlines() == ["%s: migrated to %s" % (
        free[0].sub, did_for(free[0])), "4 users: 1 done, 3 not"]
    refusals = [l for l in err.splitlines() if "refused" in l]
    assert len(refusals) == 3, err
    assert "handle clash: %s, before it in the map, takes " \
        "ka-ri-mo.at.aesthetic.computer" % free[0].sub in refusals[0]
    assert "its handle 'ñu' has no DNS form" in refusals[1]
    assert "its handle '_kari' has no DNS form" in refusals[2]
    after = export(stack)
    with stack.mongo() as client:
        twin = client[DB]["@handles"].find_one({"_id": did_for(free[0])})
    assert twin["handle"] == "Ka_Ri.Mo"
    assert twin["atprotoHandle"] == "ka-ri-mo.at.aesthetic.computer"
    for u, _ in plants[1:]:
        for name in after:
            assert [r for r in after[name] if u.sub in r] == \
                [r for r in before[name] if u.sub in r], (u.sub, name)
    assert set(journal(stack)) == {free[0].sub}
    # The clash again, now against the database.
    rc, out, err = silo(stack, "migrate", "--sub", free[1].sub, "--did",
                        did_for(free[1]))
    assert rc == 1 and out == ""
    assert "handle clash: another @handles document holds ka-ri-mo or " \
        "ka-ri-mo.at.aesthetic.computer" in err
    assert export(stack) == after
