"""silo import against FerretDB: exact round trips, the default plan (drop
list skipped, archive list copied aside), re-runs and resumption without
duplicates, and every kind of bad input with the message it must give and
proof that nothing else changed.  Backups are written here with pymongo's
json_util, an implementation independent of silo's parser; read-backs go
through pymongo, not through silo."""

import datetime as dt
import json
import os
import re
import signal
import subprocess
import time

import pytest
from bson import Decimal128, Int64, ObjectId, json_util
from bson.json_util import CANONICAL_JSON_OPTIONS, RELAXED_JSON_OPTIONS
from pymongo.errors import DuplicateKeyError

import stack_process as sp

UTC = dt.timezone.utc


def canonical(doc):
    return json_util.dumps(doc, json_options=CANONICAL_JSON_OPTIONS)


def sample_docs():
    """Every BSON type AC's documents use, string and ObjectId _ids,
    unicode, escapes and nesting."""
    users = [{"_id": f"auth0|{i:024x}", "code": f"ac25{i:04d}",
              "hits": Int64(2 ** 40 + i), "score": i + 0.25, "n": i,
              "when": dt.datetime(2025, 3, 1, 12, 0, 0, i * 1000, tzinfo=UTC),
              "atproto": {"did": f"did:plc:{i:024d}", "syncedAt": None},
              "nuked": i % 7 == 0, "tags": ["a", i, {"deep": [1.5, None]}],
              "text": "müller 日本 🎨 \"quoted\" back\\slash\nnew line"}
             for i in range(300)]
    # No Decimal128: AC never writes it, and FerretDB v1 drops the
    # connection on it (docs/ferretdb.md).
    users.append({"_id": "art-guest", "code": "acguest", "oid": ObjectId(),
                  "big": 2 ** 53 + 1, "neg": -0.5})
    paintings = [{"_id": ObjectId(), "code": f"p{i}", "slug": f"s{i}",
                  "user": users[i % 50]["_id"]} for i in range(120)]
    return {"users": users, "paintings": paintings,
            "boots": [{"_id": ObjectId(), "bootId": f"b{i}"} for i in range(5)],
            "jas-tags": [{"_id": ObjectId(), "tag": "x"}]}


INDEXES = {
    "users": [{"v": 2, "name": "_id_", "key": {"_id": 1}},
              {"v": 2, "name": "code_1", "key": {"code": 1}, "unique": True}],
    "paintings": [{"name": "slug_1_user_-1", "key": {"slug": 1, "user": -1},
                   "unique": True},
                  {"name": "when_1", "key": {"when": 1},
                   "expireAfterSeconds": 2592000}],
}


def write_backup(root, docs, layout="ndjson", options=CANONICAL_JSON_OPTIONS,
                 manifest_shape="array"):
    root.mkdir(parents=True, exist_ok=True)
    for name, items in docs.items():
        lines = [json_util.dumps(d, json_options=options) for d in items]
        text = ("[\n" + ",\n".join(lines) + "\n]\n" if layout == "array"
                else "\n".join(lines) + "\n")
        (root / f"{name}.json").write_text(text, encoding="utf-8")
    entries = {name: {"count": len(items), "indexes": INDEXES.get(name, [])}
               for name, items in docs.items()}
    cols = ([dict(name=k, **v) for k, v in entries.items()]
            if manifest_shape == "array" else entries)
    (root / "_manifest.json").write_text(json.dumps(
        {"database": "aesthetic", "collections": cols}))
    return root


def silo_import(stack, *args, db=None, timeout=300):
    env = sp.clean_env(MONGODB_CONNECTION_STRING=stack.fdb.uri,
                       SILO_ENV_FILE="/dev/null")
    argv = [str(stack.silo_bin), "import"] + list(args)
    if db is not None:
        argv += ["--database", db]
    r = subprocess.run(argv, env=env, capture_output=True, text=True,
                       timeout=timeout)
    stack.keep_stderr("import", r.stderr)
    return r


def table_row(out, name):
    for line in out.splitlines():
        if line.split(" ", 1)[0] == name:
            return line.split()
    raise AssertionError(f"no row for {name} in:\n{out}")


def assert_same_documents(db, docs):
    for name, items in docs.items():
        held = {canonical(d["_id"]): canonical(d) for d in db[name].find()}
        assert len(held) == len(items), name
        for d in items:
            assert held.get(canonical(d["_id"])) == canonical(d), (name, d)


@pytest.mark.parametrize("layout", ["array", "ndjson"])
@pytest.mark.parametrize("ejson", ["canonical", "relaxed"])
def test_round_trip_is_exact(stack, tmp_path, layout, ejson):
    docs = sample_docs()
    opts = CANONICAL_JSON_OPTIONS if ejson == "canonical" else RELAXED_JSON_OPTIONS
    backup = write_backup(tmp_path / "b", docs, layout, opts,
                          manifest_shape="array" if layout == "array" else "map")
    db = f"rt_{layout}_{ejson}"
    r = silo_import(stack, "--all", str(backup), db=db)
    assert r.returncode == 0, r.stdout + r.stderr
    with stack.mongo() as client:
        assert_same_documents(client[db], docs)
        ix = {i["name"]: i for i in client[db].users.list_indexes()}
        assert ix["code_1"]["unique"] is True and ix["code_1"]["key"] == {"code": 1}
        keys = {i["name"]: dict(i["key"]) for i in client[db].paintings.list_indexes()}
        assert list(keys["slug_1_user_-1"].items()) == [("slug", 1), ("user", -1)]
    row = table_row(r.stdout, "users")
    assert row[2:6] == ["301", "301", "301", "1/1"], row
    assert "when_1 built without expireAfterSeconds" in r.stdout


def test_default_plan_skips_drop_list_and_archives(stack, tmp_path):
    docs = sample_docs()
    backup = write_backup(tmp_path / "b", docs)
    archive = tmp_path / "archive"
    r = silo_import(stack, "--archive-dir", str(archive), str(backup), db="plan")
    assert r.returncode == 0, r.stdout + r.stderr
    with stack.mongo() as client:
        names = set(client["plan"].list_collection_names())
    assert {"users", "paintings"} <= names
    assert "boots" not in names and "jas-tags" not in names
    assert "skipped (drop list)" in " ".join(table_row(r.stdout, "boots"))
    assert (archive / "jas-tags.json").read_bytes() == \
        (backup / "jas-tags.json").read_bytes()


def test_rerun_adds_nothing(stack, tmp_path):
    docs = sample_docs()
    backup = write_backup(tmp_path / "b", docs)
    assert silo_import(stack, str(backup), db="rerun").returncode == 0
    r = silo_import(stack, str(backup), db="rerun")
    assert r.returncode == 0, r.stdout
    assert "already imported by an earlier run" in r.stdout
    with stack.mongo() as client:
        assert client["rerun"].users.count_documents({}) == 301
        # Some documents lost: a re-run puts back exactly those.
        client["rerun"].users.delete_many({"n": {"$lt": 10}})
    r = silo_import(stack, str(backup), db="rerun")
    assert r.returncode == 0, r.stdout
    assert "(291 already present)" in r.stdout
    with stack.mongo() as client:
        assert_same_documents(client["rerun"], {"users": docs["users"]})


def test_drop_starts_over(stack, tmp_path):
    docs = sample_docs()
    backup = write_backup(tmp_path / "b", docs)
    assert silo_import(stack, str(backup), db="dropit").returncode == 0
    with stack.mongo() as client:
        client["dropit"].users.update_one({"_id": "art-guest"},
                                          {"$set": {"code": "changed"}})
    # Changed content is a conflict for a plain re-run...
    with stack.mongo() as client:
        client["dropit"].users.delete_one({"n": 3})
    r = silo_import(stack, str(backup), db="dropit")
    assert r.returncode == 1
    assert '"art-guest" } is already in the collection with different content' in r.stdout
    # ...and --drop starts the collection over from the file.
    r = silo_import(stack, "--drop", str(backup), db="dropit")
    assert r.returncode == 0, r.stdout
    with stack.mongo() as client:
        assert_same_documents(client["dropit"], {"users": docs["users"]})


def test_dry_run_writes_nothing(stack, tmp_path):
    backup = write_backup(tmp_path / "b", sample_docs())
    r = silo_import(stack, "--dry-run", str(backup), db="dry")
    assert r.returncode == 0, r.stdout + r.stderr
    assert table_row(r.stdout, "users")[-1] == "valid"
    with stack.mongo() as client:
        assert "dry" not in client.list_database_names()
        assert client["silo"].imports.count_documents(
            {"_id": {"$regex": "^dry\\."}}) == 0
    assert not (backup / "_archive").exists()


def test_progress_lines_without_a_tty(stack, tmp_path):
    backup = write_backup(tmp_path / "b", sample_docs())
    r = silo_import(stack, str(backup), db="progress")
    assert "[1/3] jas-tags: 100%, 1 docs" in r.stderr, r.stderr
    assert "[3/3] users: 100%, 301 docs" in r.stderr, r.stderr
    # An index build reads no input; it gets a line of its own, so the
    # display never sits silent while the server works.
    assert "[3/3] users: building index code_1 (1 of 1)" in r.stderr, r.stderr
    assert "\r" not in r.stderr


def test_resume_after_kill_9(stack, tmp_path):
    many = [{"_id": i, "payload": "x" * 200, "i": Int64(i)}
            for i in range(60000)]
    backup = write_backup(tmp_path / "b", {"kidlisp": many})
    env = sp.clean_env(MONGODB_CONNECTION_STRING=stack.fdb.uri,
                       SILO_ENV_FILE="/dev/null")
    log = stack.silo_log(tmp_path / "import-killed.log")
    with open(log, "wb") as f:
        proc = subprocess.Popen([str(stack.silo_bin), "import", "--database",
                                 "resume", str(backup)], env=env,
                                stdout=subprocess.DEVNULL, stderr=f)
    with stack.mongo() as client:
        state = client["silo"].imports
        sp.wait_until(lambda: (state.find_one({"_id": "resume.kidlisp"}) or
                               {}).get("docs_done", 0) >= 20000, 120,
                      "the import to checkpoint 20,000 documents")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        partial = client["resume"].kidlisp.count_documents({})
        done = state.find_one({"_id": "resume.kidlisp"})
        assert done["status"] == "running"
        assert 0 < partial < len(many)
        # The crash window: a batch the server took but the checkpoint
        # never recorded.  Make it certain by moving the checkpoint back
        # one batch, as if the kill had landed just before it.
        state.update_one({"_id": "resume.kidlisp"},
                         {"$inc": {"docs_done": -1000}})
    r = silo_import(stack, str(backup), db="resume", timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    row = table_row(r.stdout, "kidlisp")
    assert row[2:5] == ["60000"] * 3, row
    # At least the forced batch; the kill may have left one more of its own.
    present = re.search(r"\((\d+) already present\)", r.stdout)
    assert present and int(present.group(1)) >= 1000, r.stdout
    with stack.mongo() as client:
        # (Not distinct(): FerretDB's is quadratic.)
        ids = sorted(d["_id"] for d in
                     client["resume"].kidlisp.find({}, {"_id": 1}))
        assert ids == list(range(60000))


# ------------------------------------------------------------ bad input

def untouched(stack, db):
    with stack.mongo() as client:
        return db not in client.list_database_names()


def test_malformed_document_names_file_line_and_offset(stack, tmp_path):
    docs = sample_docs()
    backup = write_backup(tmp_path / "b", docs)
    p = backup / "paintings.json"
    lines = p.read_text().splitlines()
    lines[6] = lines[6].replace('"code": "p6"', '"code": {"$oid": "zz"}')
    p.write_text("\n".join(lines) + "\n")
    offset = len("\n".join(lines[:6])) + 1
    r = silo_import(stack, str(backup), db="malformed")
    assert r.returncode == 1
    assert (f"paintings.json: document 7 (line 7, byte {offset}): not valid "
            "Extended JSON") in r.stdout, r.stdout
    assert "looking for OID" in r.stdout
    assert table_row(r.stdout, "paintings")[-1] == "FAILED"
    assert table_row(r.stdout, "users")[-1] == "complete"  # others go on


def test_array_syntax_errors(stack, tmp_path):
    docs = {"users": sample_docs()["users"][:3]}
    backup = write_backup(tmp_path / "b", docs, layout="array")
    p = backup / "users.json"
    p.write_text(p.read_text().replace("},\n{", "}\n{", 1))
    r = silo_import(stack, "--dry-run", str(backup))
    assert r.returncode == 1
    assert "users.json: document 2 (line 3, byte" in r.stdout
    assert "expected ',' or ']' after a document, found '{'" in r.stdout


def test_missing_manifest(stack, tmp_path):
    (tmp_path / "b").mkdir()
    r = silo_import(stack, str(tmp_path / "b"), db="nomanifest")
    assert r.returncode == 1
    assert "_manifest.json: No such file or directory" in r.stderr
    assert untouched(stack, "nomanifest")


def test_invalid_manifest(stack, tmp_path):
    backup = write_backup(tmp_path / "b", sample_docs())
    (backup / "_manifest.json").write_text('{"collections": [\n{"name": }]}')
    r = silo_import(stack, str(backup), db="badmanifest")
    assert r.returncode == 1
    assert "_manifest.json:2: not valid JSON" in r.stderr
    assert untouched(stack, "badmanifest")


def test_manifest_and_files_disagree(stack, tmp_path):
    backup = write_backup(tmp_path / "b", sample_docs())
    (backup / "paintings.json").unlink()
    (backup / "stray.json").write_text("[]")
    r = silo_import(stack, str(backup), db="disagree")
    assert r.returncode == 1
    assert "lists collection 'paintings' but" in r.stderr
    assert "stray.json is not listed in the manifest" in r.stderr
    assert untouched(stack, "disagree")


def test_count_disagreement_is_a_mismatch(stack, tmp_path):
    backup = write_backup(tmp_path / "b", sample_docs())
    m = json.loads((backup / "_manifest.json").read_text())
    m["collections"][0]["count"] += 1           # users
    (backup / "_manifest.json").write_text(json.dumps(m))
    r = silo_import(stack, str(backup), db="countoff")
    assert r.returncode == 1
    assert table_row(r.stdout, "users")[2:4] == ["302", "301"]
    assert table_row(r.stdout, "users")[-1] == "MISMATCH"


def test_duplicate_id_in_the_backup(stack, tmp_path):
    docs = sample_docs()
    docs["users"].append(dict(docs["users"][5]))
    backup = write_backup(tmp_path / "b", docs)
    r = silo_import(stack, str(backup), db="dupid")
    assert r.returncode == 1
    assert ('users.json: document 302 (line 302): { "_id" : '
            f'"{docs["users"][5]["_id"]}" }} repeats the _id of an earlier '
            "document in the file") in r.stdout, r.stdout


def test_unique_index_violation(stack, tmp_path):
    docs = sample_docs()
    docs["users"][9]["code"] = docs["users"][8]["code"]
    backup = write_backup(tmp_path / "b", docs)
    r = silo_import(stack, str(backup), db="uniq")
    assert r.returncode == 1
    assert ("users: unique index code_1 cannot be built: the data has "
            'duplicate keys; for example { "_id" : { "code" : "ac250008" }, '
            '"n" : 2 }') in r.stdout, r.stdout


def test_document_without_id(stack, tmp_path):
    backup = write_backup(tmp_path / "b", {"moods": [{"mood": "happy"}]})
    r = silo_import(stack, str(backup), db="noid")
    assert r.returncode == 1
    assert "moods.json: document 1 (line 1, byte 0): has no _id" in r.stdout


def test_lost_connection_fails_the_collection(stack, tmp_path):
    """FerretDB closes the connection on a Decimal128; whatever the cause,
    a batch the server did not take is an error, never 'complete'."""
    backup = write_backup(tmp_path / "b", {
        "tickets": [{"_id": 1}, {"_id": 2, "d": Decimal128("1.10")}]})
    r = silo_import(stack, str(backup), db="lost")
    assert r.returncode == 1
    assert table_row(r.stdout, "tickets")[-1] == "FAILED"
    assert "tickets: inserting documents 1 to 2:" in r.stdout


def test_unknown_include(stack, tmp_path):
    backup = write_backup(tmp_path / "b", sample_docs())
    r = silo_import(stack, "--include", "nope", str(backup), db="inc")
    assert r.returncode == 2
    assert "--include: no collection 'nope'" in r.stderr
    assert untouched(stack, "inc")


# ------------------------------------------------------------ AC dataset

@pytest.mark.parametrize("layout,ejson", [("array", "canonical"),
                                          ("ndjson", "relaxed"),
                                          ("array", "relaxed"),
                                          ("ndjson", "canonical")])
def test_generated_ac_backup_round_trip(stack, tmp_path, layout, ejson):
    """The generated AC dataset (all 38 collections), every document
    compared in canonical Extended JSON with the file it came from."""
    import acgen
    backup = tmp_path / "ac"
    manifest = acgen.generate_backup(backup, scale=0.01, seed=3,
                                     layout=layout, ejson=ejson)
    db = f"ac_{layout}_{ejson}"
    r = silo_import(stack, "--all", str(backup), db=db)
    assert r.returncode == 0, r.stdout + r.stderr
    with stack.mongo() as client:
        for entry in manifest["collections"]:
            text = (backup / entry["file"]).read_text(encoding="utf-8")
            # split("\n"), not splitlines(): U+2028 inside strings is data.
            docs = (json_util.loads(text) if layout == "array" else
                    [json_util.loads(line) for line in text.split("\n")
                     if line])
            assert len(docs) == entry["count"]
            assert_same_documents(client[db], {entry["name"]: docs})
            row = table_row(r.stdout, entry["name"])
            assert row[2] == row[3] == row[4] == str(entry["count"]), row


def test_progress_bar_on_a_terminal(stack, tmp_path):
    """On a TTY the progress line is redrawn in place, with a bar, the
    rate and ETA for the collection and the share of the whole run."""
    import pty
    backup = write_backup(tmp_path / "b", sample_docs())
    env = sp.clean_env(MONGODB_CONNECTION_STRING=stack.fdb.uri,
                       SILO_ENV_FILE="/dev/null")
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(str(stack.silo_bin), [str(stack.silo_bin), "import",
                  "--database", "tty", str(backup)], env)
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 65536)
        except OSError:         # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = stack.keep_stderr("import-tty", out.decode("utf-8", "replace"))
    assert os.WEXITSTATUS(status) == 0, text
    assert "\r\x1b[K[3/3] users" in text, text
    assert "\u2588" in text and " docs " in text and "/s eta " in text, text
    assert "| all 100% eta 0:00" in text, text


def test_empty_collections_exist_with_their_indexes(stack, seeded, tmp_path):
    """A collection the manifest lists with 0 documents is created with its
    indexes, unique ones included, on the first run and on a re-run after
    it went missing; the table's "complete" is then true."""
    from conftest import DB_NAME
    docs = {"chat-sotce-mutes": [], "sotce-touches": []}
    backup = write_backup(tmp_path / "b", docs)
    m = json.loads((backup / "_manifest.json").read_text())
    for c in m["collections"]:
        c["indexes"] = ([{"v": 2, "name": "_id_", "key": {"_id": 1}},
                         {"v": 2, "name": "user_1", "key": {"user": 1},
                          "unique": True}]
                        if c["name"] == "chat-sotce-mutes" else
                        [{"v": 2, "name": "_id_", "key": {"_id": 1}}])
    (backup / "_manifest.json").write_text(json.dumps(m))
    try:
        for run in ("first", "after a drop"):
            r = silo_import(stack, str(backup), db=DB_NAME)
            assert r.returncode == 0, (run, r.stdout + r.stderr)
            assert table_row(r.stdout, "chat-sotce-mutes")[1:7] == \
                ["import", "0", "0", "0", "1/1", "complete"], (run, r.stdout)
            assert table_row(r.stdout, "sotce-touches")[1:7] == \
                ["import", "0", "0", "0", "0/0", "complete"], (run, r.stdout)
            stack.clear_cache()
            listed = {c["name"]: c for c in
                      stack.get("/api/db/collections").json()["collections"]}
            assert listed["chat-sotce-mutes"]["documents"] == 0, run
            assert listed["sotce-touches"]["documents"] == 0, run
            with stack.mongo() as client:
                ix = {i["name"]: i for i in
                      client[DB_NAME]["chat-sotce-mutes"].list_indexes()}
                assert set(ix) == {"_id_", "user_1"}, (run, ix)
                assert ix["user_1"]["unique"] is True, run
                assert dict(ix["user_1"]["key"]) == {"user": 1}, run
                # The app's next insert meets the unique constraint.
                client[DB_NAME]["chat-sotce-mutes"].insert_one({"user": "u"})
                with pytest.raises(DuplicateKeyError):
                    client[DB_NAME]["chat-sotce-mutes"].insert_one(
                        {"user": "u"})
                # Someone empties the database: a re-run puts both back.
                client[DB_NAME].drop_collection("chat-sotce-mutes")
                client[DB_NAME].drop_collection("sotce-touches")
    finally:
        with stack.mongo() as client:
            client[DB_NAME].drop_collection("chat-sotce-mutes")
            client[DB_NAME].drop_collection("sotce-touches")
        stack.clear_cache()
