"""silo atproto check and export, and the same check in
/api/services/atproto, against the suite's seeded data set with every kind
of finding planted on purpose: each is counted exactly, the CLI's JSON and
the API's answer are the same document, and the export's lines are exact
and carry no planted e-mail or secret."""

import json
import subprocess

import pytest
import yaml

import stack_process as sp
from conftest import DB_NAME, seed_database
from test_openapi import SPEC, validate

SUBS = [f"auth0|{i:024x}" for i in range(16)]
SECRETS = ["zero@example.com", "e@example.com", "hunter2-pds-password",
           "tok-secret-value"]


def plant(db):
    """The findings, on top of the seeded data set (conftest._docs)."""
    h = db["@handles"]
    # sub0 migrated to did:plc:aaa, its references left behind: 5
    # paintings (i % 5 == 0 of 23), 1 log (i = 0 of 9), 2 chat messages
    # (i = 0, 9 of 13) are orphans.
    h.insert_one({"_id": "did:plc:aaa", "handle": "h0",
                  "atprotoHandle": "h0.at.aesthetic.computer",
                  "legacyAuth0Sub": SUBS[0], "email": "zero@example.com"})
    h.update_one({"_id": SUBS[0]}, {"$set": {"migratedDID": "did:plc:aaa",
                                             "authProvider": "atproto"}})
    # sub1 migrated cleanly: every reference moved.
    h.insert_one({"_id": "did:plc:bbb", "handle": "h1",
                  "atprotoHandle": "h1.at.aesthetic.computer",
                  "legacyAuth0Sub": SUBS[1]})
    h.update_one({"_id": SUBS[1]}, {"$set": {"migratedDID": "did:plc:bbb",
                                             "authProvider": "atproto"}})
    for coll in ("paintings", "chat-system"):
        db[coll].update_many({"user": SUBS[1]},
                             {"$set": {"user": "did:plc:bbb"}})
    db.logs.update_many({"users": SUBS[1]},
                        {"$set": {"users": ["did:plc:bbb"]}})
    # One DID that two subs map to.
    db.users.insert_many([{"_id": SUBS[10]}, {"_id": SUBS[11]},
                          {"_id": SUBS[12]}, {"_id": SUBS[13]}])
    h.insert_many([
        {"_id": SUBS[10], "handle": "dupa", "migratedDID": "did:plc:dup"},
        {"_id": SUBS[11], "handle": "dupb", "migratedDID": "did:plc:dup"},
        {"_id": "did:plc:dup", "handle": "dupa",
         "legacyAuth0Sub": SUBS[10]},
        # One handle on two live documents.
        {"_id": SUBS[12], "handle": "twin"},
        {"_id": SUBS[13], "handle": "twin"},
        # Two @handles documents with no user on either side.
        {"_id": SUBS[14], "handle": "ghost"},
        {"_id": "did:plc:ghost", "handle": "ghost2",
         "legacyAuth0Sub": SUBS[15]},
    ])
    # Secrets that must never reach the export.
    db.users.update_one({"_id": SUBS[5]}, {"$set": {
        "atproto.password": "hunter2-pds-password",
        "email": "five@example.com", "token": "tok-secret-value"}})
    # Publishing policy: marked items that are never published ...
    who = SUBS[3]
    db["chat-system"].insert_many([
        {"user": who, "text": "a", "atproto": {"rkey": "3kc1"}},
        {"user": who, "text": "b", "atprotoUri": "at://x/y/3kc2"},
        {"user": who, "text": "c"}])
    db.moods.insert_many([
        {"user": who, "mood": "calm", "atproto": {"rkey": "3km1"}},
        {"user": who, "mood": "gone", "deleted": True,
         "atproto": {"rkey": "3km2"}},
        {"user": who, "mood": "sky", "bluesky": {"rkey": "3km3",
                                                  "uri": "at://b/3km3"}},
        {"user": who, "mood": "plain"}])
    db["sotce-pages"].insert_many([
        {"state": "draft", "atproto": {"rkey": "3ks1"}},
        {"state": "published", "atproto": {"rkey": "3ks2"}}])
    db.paintings.insert_many([
        {"code": "pnuked", "user": SUBS[4], "nuked": True,
         "atproto": {"rkey": "3kp1", "uri": "at://x/p/3kp1"}},
        {"code": "pnuked2", "user": SUBS[4], "nuked": True}])
    db.tapes.insert_many([
        {"code": "t1", "nuked": True, "atprotoUri": "at://x/t/1"},
        {"code": "t2", "nuked": False, "atproto": {"rkey": "3kt2"}}])


@pytest.fixture(scope="module")
def planted(stack):
    seed_database(stack)
    with stack.mongo() as client:
        db = client[DB_NAME]
        db["@handles"].drop_indexes()   # a migrated pair shares a handle
        plant(db)
    stack.clear_cache()
    yield
    seed_database(stack)
    stack.clear_cache()


def silo(stack, *args, db=DB_NAME):
    env = sp.clean_env(MONGODB_CONNECTION_STRING=stack.fdb.uri,
                       MONGODB_NAME=db, SILO_ENV_FILE="/dev/null")
    r = subprocess.run([str(stack.silo_bin), "atproto"] + list(args),
                       env=env, capture_output=True, text=True, timeout=60)
    stack.keep_stderr("atproto", r.stderr)
    return r


EXPECTED = {
    "handles": 15, "did_documents": 4, "migrated": 4, "legacy": 7,
    "orphans": {
        "collections": [
            {"collection": "paintings", "field": "user", "references": 5},
            {"collection": "chat-system", "field": "user", "references": 2},
            {"collection": "logs", "field": "users", "references": 1}],
        "subs": [{"sub": SUBS[0], "did": "did:plc:aaa", "references": 8}],
        "count": 8, "orphaned_subs": 1},
    "duplicate_dids": {"count": 1, "list": [
        {"did": "did:plc:dup", "subs": [SUBS[10], SUBS[11]]}]},
    "duplicate_handles": {"count": 1, "list": [
        {"handle": "twin", "ids": [SUBS[12], SUBS[13]]}]},
    "handles_without_user": {"count": 2, "list": [SUBS[14],
                                                   "did:plc:ghost"]},
    "policy": {"rules": [
        {"collection": "chat-system", "kind": "private chat", "count": 2},
        {"collection": "chat-clock", "kind": "private chat", "count": 0},
        {"collection": "chat-sotce", "kind": "private chat", "count": 0},
        {"collection": "moods", "kind": "mood", "count": 3},
        {"collection": "sotce-pages", "kind": "draft", "count": 1},
        {"collection": "paintings", "kind": "nuked", "count": 1},
        {"collection": "pieces", "kind": "nuked", "count": 0},
        {"collection": "tapes", "kind": "nuked", "count": 1}],
        "count": 8},
    "findings": 20,
}


def test_check_json_counts_every_planted_finding(stack, planted):
    r = silo(stack, "check", "--json")
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout) == EXPECTED
    assert r.stdout.count("\n") == 1


def test_check_report_for_people(stack, planted):
    r = silo(stack, "check")
    assert r.returncode == 1, r.stderr
    assert r.stdout == (
        "@handles: 15 documents: 4 keyed by a DID, 4 migrated, 7 legacy "
        "(not migrated)\n"
        "references to migrated subs: 8\n"
        "  paintings.user: 5\n"
        "  chat-system.user: 2\n"
        "  logs.users: 1\n"
        f"  {SUBS[0]} (now did:plc:aaa): 8\n"
        "DIDs mapped more than once: 1\n"
        f"  did:plc:dup: {SUBS[10]}, {SUBS[11]}\n"
        "handles mapped more than once: 1\n"
        f"  twin: {SUBS[12]}, {SUBS[13]}\n"
        "@handles without a user: 2\n"
        f"  {SUBS[14]}\n"
        "  did:plc:ghost\n"
        "never to be published, yet with an ATProto record: 8\n"
        "  chat-system (private chat): 2\n"
        "  moods (mood): 3\n"
        "  sotce-pages (draft): 1\n"
        "  paintings (nuked): 1\n"
        "  tapes (nuked): 1\n"
        "20 findings\n")


def test_api_answers_the_same_check(stack, planted):
    stack.clear_cache()
    r = stack.get("/api/services/atproto")
    assert r.status == 200, r
    body = r.json()
    assert body["identity"] == EXPECTED
    assert body["identity_error"] is None
    validate(yaml.safe_load(SPEC.read_text()), "#/components/schemas/Atproto",
             body)
    for s in SECRETS + ["five@example.com"]:
        assert s not in r.body.decode(), s


def test_export_lines_are_exact_and_secret_free(stack, planted):
    r = silo(stack, "export")
    assert r.returncode == 0, r.stderr
    for s in SECRETS + ["five@example.com", "password", "email"]:
        assert s not in r.stdout, s

    def line(sub, did, handle, at):
        return json.dumps({"sub": sub, "did": did, "handle": handle,
                           "atproto_handle": at}, separators=(",", ":"))
    # In the byte order of the @handles _id each line comes from.
    assert r.stdout.splitlines() == [
        line(SUBS[2], None, "h2", None),
        line(SUBS[3], None, "h3", "no-did"),
        line(SUBS[4], None, "h4", None),
        line(SUBS[5], "did:plc:ggg", "h5", None),
        # sub10's mapping is did:plc:dup's own document's; sub11's is not
        line(SUBS[11], "did:plc:dup", "dupb", None),
        line(SUBS[12], None, "twin", None),
        line(SUBS[13], None, "twin", None),
        line(SUBS[14], None, "ghost", None),
        line(SUBS[0], "did:plc:aaa", "h0", "h0.at.aesthetic.computer"),
        line(SUBS[1], "did:plc:bbb", "h1", "h1.at.aesthetic.computer"),
        line(SUBS[10], "did:plc:dup", "dupa", None),
        line(SUBS[15], "did:plc:ghost", "ghost2", None),
    ]
    again = silo(stack, "export")
    assert again.stdout == r.stdout


def test_clean_data_has_no_findings(stack):
    db = "idcheck_clean"
    with stack.mongo() as client:
        client.drop_database(db)
        client[db].users.insert_many([{"_id": SUBS[0]}, {"_id": SUBS[1]}])
        client[db]["@handles"].insert_many([
            {"_id": SUBS[0], "handle": "a"},
            {"_id": SUBS[1], "handle": "b", "migratedDID": "did:plc:b"},
            {"_id": "did:plc:b", "handle": "b", "legacyAuth0Sub": SUBS[1]}])
        client[db].moods.insert_one({"user": "did:plc:b", "mood": "ok"})
    r = silo(stack, "check", db=db)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.endswith("\n0 findings\n"), r.stdout
    assert "@handles: 3 documents: 1 keyed by a DID, 1 migrated, 1 " \
        "legacy (not migrated)\n" in r.stdout
