"""tools/acgen.py: the deterministic AC data set.

No servers: these tests only generate files and read them back with
pymongo's bson.json_util, the reference Extended JSON implementation.
"""

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

import bson
import pytest
from bson import json_util
from bson.int64 import Int64
from bson.json_util import CANONICAL_JSON_OPTIONS
from bson.objectid import ObjectId

SRCDIR = Path(os.environ.get("SILO_SRCDIR")
              or Path(__file__).resolve().parents[2])
sys.path.insert(0, str(SRCDIR / "tools"))
import acgen  # noqa: E402

SCALE = 0.01
VARIANTS = [(layout, ejson) for layout in ("array", "ndjson")
            for ejson in ("canonical", "relaxed")]

# The migration report's figures (mongodb-migration-report.md §1, §4, §6).
REPORT_COUNTS = {
    "boots": 25513, "logs": 2320, "bundle-telemetry": 440,
    "oven-grabs": 30560, "oven-bakes": 30, "oven-cache": 1362,
    "oven-frozen-pieces": 307, "chat-system": 17853, "chat-clock": 13465,
    "kidlisp": 14189, "moods": 2874, "paintings": 4358, "users": 4217,
    "@handles": 2773, "verifications": 3876, "false.work-builds": 23,
    "false.work-reports": 2, "jas-tags": 10, "jas-stretched-paintings": 1,
}
REPORT_CATEGORIES = {
    "logs/telemetry": 60225, "chat": 31612, "user content": 22083,
    "users/auth": 10872, "social/misc": 4284,
}


def tree_digest(root):
    """sha256 over every file's relative path and bytes."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fn in sorted(filenames):
            p = Path(dirpath) / fn
            h.update(str(p.relative_to(root)).encode() + b"\0")
            h.update(p.read_bytes())
            h.update(b"\0")
    return h.hexdigest()


def read_docs(path, layout):
    """[(text, document)], one document at a time, as the layout promises:
    NDJSON is one document per line; the array is "[", one document per
    line (each but the last followed by ","), "]"."""
    text = Path(path).read_text(encoding="utf-8")
    lines = text.split("\n")
    assert lines[-1] == "", f"{path}: no final newline"
    lines = lines[:-1]
    if layout == "array":
        assert lines[0] == "[" and lines[-1] == "]", path
        body = lines[1:-1]
        assert all(ln.endswith(",") for ln in body[:-1]), path
        body = [ln[:-1] if ln.endswith(",") else ln for ln in body]
    else:
        body = lines
    out = []
    for i, ln in enumerate(body):
        try:
            doc = json_util.loads(ln, json_options=CANONICAL_JSON_OPTIONS)
        except Exception as e:  # pragma: no cover - the failure message
            raise AssertionError(f"{path}: document {i}: {e}: {ln[:200]}")
        assert isinstance(doc, dict), (path, i)
        out.append((ln, doc))
    if layout == "array":
        whole = json_util.loads(text, json_options=CANONICAL_JSON_OPTIONS)
        assert [bson.encode(d) for d in whole] == \
            [bson.encode(d) for _, d in out]
    return out


def field(doc, dotted):
    """(present, value) of a dotted path."""
    cur = doc
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return False, None
        cur = cur[part]
    return True, cur


def check_unique(name, docs, indexes):
    """Every unique index of the manifest holds, as mongod would see it."""
    for ix in indexes:
        if not ix.get("unique") and ix["name"] != "_id_":
            continue
        seen = set()
        for doc in docs:
            vals = [field(doc, k) for k in ix["key"]]
            if ix.get("sparse") and not any(p for p, _ in vals):
                continue
            k = bson.encode({str(i): v for i, (_, v) in enumerate(vals)})
            assert k not in seen, (name, ix["name"],
                                   [v for _, v in vals])
            seen.add(k)


@pytest.fixture(scope="module")
def backups(tmp_path_factory):
    """The four variants at scale 0.01: {(layout, ejson): (dir, manifest,
    {collection: [(text, doc)]})}."""
    out = {}
    for layout, ejson in VARIANTS:
        d = tmp_path_factory.mktemp(f"acgen-{layout}-{ejson}")
        m = acgen.generate_backup(str(d), SCALE, 1, layout, ejson)
        docs = {c["name"]: read_docs(d / c["file"], layout)
                for c in m["collections"]}
        out[(layout, ejson)] = (d, m, docs)
    return out


# ------------------------------------------------------------------ counts

def test_scale1_counts_match_the_report():
    counts = acgen.collection_counts(1)
    assert len(counts) == 38
    for name, n in REPORT_COUNTS.items():
        assert counts[name] == n, name
    for cat, total in REPORT_CATEGORIES.items():
        assert sum(counts[c] for c in acgen.CATEGORIES[cat]) == total, cat
    # Each collection in exactly one category.
    members = sum(acgen.CATEGORIES.values(), [])
    assert sorted(members) == sorted(counts)
    # The report's "~128,000": the category totals add up to 129,076.
    total = sum(counts.values())
    assert total == sum(REPORT_CATEGORIES.values()) == 129076
    assert 127000 <= total <= 129500


def test_scale_rule():
    for scale in (0.01, 0.1, 10):
        counts = acgen.collection_counts(scale)
        for name, n in acgen.COUNTS.items():
            want = max(1, round(n * scale))
            if name == "secrets":
                want = min(6, max(3, want))
            assert counts[name] == want, (scale, name)


# ------------------------------------------------------------------ files

def test_manifest(backups):
    for (layout, ejson), (d, m, _) in backups.items():
        on_disk = json.loads((d / "_manifest.json").read_text("utf-8"))
        assert on_disk == m
        assert m["database"] == "aesthetic"
        assert m["generator"] == {"name": "acgen", "version": 1, "seed": 1,
                                  "scale": SCALE, "layout": layout,
                                  "ejson": ejson}
        names = [c["name"] for c in m["collections"]]
        assert names == list(acgen.COUNTS)
        files = sorted(p.name for p in d.iterdir())
        assert files == sorted(["_manifest.json"] +
                               [n + ".json" for n in names])
        for c in m["collections"]:
            assert set(c) == {"name", "file", "count", "bytes", "indexes"}
            assert c["file"] == c["name"] + ".json"
            assert c["bytes"] == (d / c["file"]).stat().st_size
            assert c["indexes"][0] == {"name": "_id_", "key": {"_id": 1}}
            for ix in c["indexes"]:
                assert set(ix) <= {"name", "key", "unique", "sparse",
                                   "expireAfterSeconds"}
                if ix["name"] != "_id_":
                    assert ix["name"] == "_".join(
                        f"{k}_{v}" for k, v in ix["key"].items())
                assert all(v in (1, -1) for v in ix["key"].values())
    idx = {c["name"]: {i["name"]: i for i in c["indexes"]}
           for c in m["collections"]}
    assert idx["@handles"]["handle_1"]["unique"] is True
    assert idx["paintings"]["code_1"] == {"name": "code_1",
                                          "key": {"code": 1},
                                          "unique": True, "sparse": True}
    assert list(idx["paintings"]["slug_1_user_1"]["key"]) == ["slug", "user"]
    assert idx["kidlisp"]["hash_1"]["unique"] is True
    assert idx["boots"]["bootId_1"]["unique"] is True
    assert idx["boots"]["createdAt_-1"]["key"] == {"createdAt": -1}
    assert idx["kidlisp-logs"]["createdAt_1"]["expireAfterSeconds"] == \
        30 * 86400
    assert idx["chat-system-mutes"]["user_1"]["unique"] is True


def test_every_variant_parses_and_holds(backups):
    want = acgen.collection_counts(SCALE)
    for (layout, ejson), (d, m, docs) in backups.items():
        for c in m["collections"]:
            items = docs[c["name"]]
            assert len(items) == c["count"] == want[c["name"]], \
                (layout, ejson, c["name"])
            check_unique(c["name"], [doc for _, doc in items], c["indexes"])


def test_variants_decode_to_identical_bson(backups):
    ref = {name: [bson.encode(doc) for _, doc in items]
           for name, items in backups[("ndjson", "canonical")][2].items()}
    for variant, (_, _, docs) in backups.items():
        for name, items in docs.items():
            assert [bson.encode(doc) for _, doc in items] == ref[name], \
                (variant, name)


def test_canonical_is_what_pymongo_writes(backups):
    """Each canonical document is, as JSON, exactly pymongo's canonical
    Extended JSON of its own decoding (same wrappers, same key order,
    same double strings)."""
    for name, items in backups[("ndjson", "canonical")][2].items():
        for text, doc in items:
            again = json_util.dumps(doc, json_options=CANONICAL_JSON_OPTIONS)
            assert list(json.loads(text).items()) == \
                list(json.loads(again).items()), name
            assert text == json.dumps(json.loads(again), ensure_ascii=False,
                                      separators=(",", ":")), name


def test_relaxed_text(backups):
    d = backups[("ndjson", "relaxed")][0]
    bakes = (d / "oven-bakes.json").read_text("utf-8")
    # ms numbers stored as doubles stay doubles: integral, with ".0".
    assert '"completedAt":17' in bakes and '.0,"duration":' in bakes
    grabs = (d / "oven-grabs.json").read_text("utf-8")
    assert '"size":{"$numberLong":"' in grabs          # Int64 kept
    assert '"duration":' in grabs and '"$numberInt"' not in grabs
    assert '"startTime":{"$date":"20' in grabs and 'Z"}' in grabs
    assert "$numberDouble" not in grabs


def walk(v):
    yield v
    if isinstance(v, dict):
        for x in v.values():
            yield from walk(x)
    elif isinstance(v, list):
        for x in v:
            yield from walk(x)


def test_bson_type_variety(backups):
    docs = backups[("ndjson", "canonical")][2]
    kinds = Counter()
    for items in docs.values():
        for _, doc in items:
            for v in walk(doc):
                kinds[type(v).__name__] += 1
    for k in ("ObjectId", "datetime", "int", "Int64", "float", "bool",
              "NoneType", "dict", "list", "str"):
        assert kinds[k] > 0, k
    one = docs["oven-grabs"][0][1]
    assert isinstance(one["_id"], ObjectId)
    assert isinstance(one["startTime"], datetime)
    grabs = [d for _, d in docs["oven-grabs"] if "size" in d]
    assert grabs and all(isinstance(d["size"], Int64) for d in grabs)
    assert all(type(d["duration"]) is int for _, d in docs["oven-grabs"])
    for _, d in docs["oven-bakes"]:
        assert type(d["completedAt"]) is float and type(d["startTime"]) \
            is float
    for _, d in docs["boots"]:
        for e in d["events"]:
            assert type(e["t"]) is float and isinstance(e["at"], Int64)
    for name in ("users", "@handles", "verifications", "secrets"):
        assert all(type(d["_id"]) is str for _, d in docs[name]), name
    assert all(isinstance(d["hits"], Int64) for _, d in docs["piece-hits"])


def test_cross_references_and_shapes(backups):
    docs = {n: [d for _, d in items]
            for n, items in backups[("ndjson", "canonical")][2].items()}
    users = {d["_id"]: d for d in docs["users"]}
    assert "art-guest" in users
    ids = [i for i in users if i != "art-guest"]
    did_ids = [i for i in ids if i.startswith("did:plc:")]
    assert 0.15 < len(did_ids) / len(ids) < 0.45
    for i in did_ids:
        assert len(i) == len("did:plc:") + 24
        assert users[i]["atproto"]["did"] == i
    kept = [i for i in ids if not i.startswith("did:") and
            "atproto" in users[i]]
    assert kept and all(users[i]["atproto"]["did"].startswith("did:plc:")
                        for i in kept)
    assert all(i.startswith(("auth0|", "google-oauth2|", "did:plc:"))
               for i in ids)
    for d in docs["users"]:
        if "email" in d:
            assert d["email"].endswith("@example.invalid")
    handles = docs["@handles"]
    for h in handles:
        assert h["_id"] in users or h["_id"].startswith("sotce-auth0|")
        assert not h["handle"].startswith("@")
    assert any(h["_id"].startswith("sotce-") for h in handles)
    assert any(not h["handle"].isascii() for h in handles)
    assert all(d["_id"] in users and d["count"] >= 0
               for d in docs["verifications"])
    for name in ("paintings", "pieces", "moods", "kidlisp", "tapes",
                 "chat-system", "chat-clock", "clocks", "logs"):
        for d in docs[name]:
            for u in ([d["user"]] if "user" in d else d.get("users", [])):
                assert u in users, (name, u)
    # Guest content exists and lives in the art bucket.
    guests = [d for d in docs["paintings"] if "user" not in d]
    assert guests and all(d["bucket"] == "art-aesthetic-computer"
                          for d in guests)
    assert any("rkey" in d.get("atproto", {}) for d in docs["paintings"])
    assert {s["_id"] for s in docs["secrets"]} >= {"instagram", "bluesky",
                                                   "pinata"}
    texts = "".join(d["text"] for d in docs["chat-system"])
    assert "\n" in texts and '"' in texts and "\\" in texts
    assert any(ord(ch) > 0xFFFF for ch in texts)          # emoji
    for d in docs["kidlisp"]:
        assert d["hash"] == hashlib.sha256(
            d["source"].strip().encode()).hexdigest()
    tape_codes = {d["code"] for d in docs["tapes"]}
    assert all(b["code"] in tape_codes for b in docs["oven-bakes"])
    # ObjectIds carry their document's time (to the second).
    for d in docs["paintings"]:
        assert int(str(d["_id"])[:8], 16) == int(d["when"].timestamp())


# ---------------------------------------------------------- determinism

def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    acgen.generate_backup(str(a), SCALE, 7, "array", "relaxed")
    # Another process, with a different hash seed: the same bytes.
    env = dict(os.environ, PYTHONHASHSEED="12345")
    subprocess.run([sys.executable, str(SRCDIR / "tools" / "acgen.py"),
                    "backup", str(b), "--scale", str(SCALE), "--seed", "7",
                    "--layout", "array", "--ejson", "relaxed", "-q"],
                   check=True, env=env)
    acgen.generate_backup(str(c), SCALE, 8, "array", "relaxed")
    assert tree_digest(a) == tree_digest(b)
    assert tree_digest(a) != tree_digest(c)
    for f in a.iterdir():
        if f.name not in ("_manifest.json", "secrets.json", "products.json",
                          "jas-stretched-paintings.json"):
            assert f.read_bytes() != (c / f.name).read_bytes(), f.name


def test_spaces_deterministic(tmp_path):
    acgen.generate_spaces(str(tmp_path / "a"), SCALE, 3)
    acgen.generate_spaces(str(tmp_path / "b"), SCALE, 3)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")


# ------------------------------------------------------------------ spaces

def test_spaces(tmp_path):
    rows = acgen.generate_spaces(str(tmp_path), SCALE, 1)
    lines = (tmp_path / "_objects.ndjson").read_text("utf-8").splitlines()
    listed = [json.loads(ln) for ln in lines]
    assert listed == rows
    keys = set()
    total = 0
    for r in listed:
        assert set(r) >= {"bucket", "key", "size", "sha256", "content_type"}
        p = tmp_path / r["bucket"] / r["key"]
        data = p.read_bytes()
        assert len(data) == r["size"] == p.stat().st_size, r["key"]
        assert hashlib.sha256(data).hexdigest() == r["sha256"], r["key"]
        assert (r["bucket"], r["key"]) not in keys
        keys.add((r["bucket"], r["key"]))
        total += r["size"]
    assert total < 50 * 2**20
    # Listed as ListObjectsV2 would: by bucket, then key bytes.
    assert listed == sorted(listed, key=lambda r: (r["bucket"],
                                                   r["key"].encode()))
    # Every file on disk is listed.
    on_disk = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
               if p.is_file() and p.name != "_objects.ndjson"}
    assert on_disk == {f"{b}/{k}" for b, k in keys}
    prefixes = Counter((r["bucket"], r["key"].split("/")[0] + "/")
                       for r in listed if "/" in r["key"])
    assert max(prefixes.values()) > 1000
    ks = [r["key"] for r in listed]
    assert any(not k.isascii() for k in ks)
    assert any(" " in k for k in ks)
    assert any("+" in k for k in ks)
    assert any(r["size"] == 0 for r in listed)
    assert any(r["key"].startswith("tapes/") and r["key"].endswith(".mp4")
               for r in listed)
    assert any(r["key"].startswith("og/news/") for r in listed)
    # Derived from the backup of the same seed and scale.
    users = [d["_id"] for d in acgen.iter_collection("users", SCALE, 1)]
    owners = {r["key"].split("/")[0] for r in listed
              if r["bucket"] == "user-aesthetic-computer"}
    assert owners <= set(users)
    assert len(set(users) - owners) > 0          # users with no objects
    assert any(o.startswith("did:plc:") for o in owners)
    pngs = {r["key"] for r in listed if r["bucket"] ==
            "user-aesthetic-computer" and "/painting/" in r["key"]}
    tracked = [f'{d["user"]}/painting/{d["slug"].split(":")[0]}.png'
               for d in acgen.iter_collection("paintings", SCALE, 1,
                                              "relaxed") if "user" in d]
    assert sum(k in pngs for k in tracked) >= 0.9 * len(tracked)
    for r in listed:
        if r["key"].endswith(".png") and r["size"] >= 16:
            data = (tmp_path / r["bucket"] / r["key"]).read_bytes()
            assert data.startswith(b"\x89PNG\r\n\x1a\n")
