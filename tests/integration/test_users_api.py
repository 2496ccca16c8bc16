"""GET /api/users/:id, the dashboard's user search, against the shared
stack with the generated AC dataset (conftest's acdata) and a few
documents planted here.

Every expected figure is computed here from the documents as pymongo reads
them back, every document of each collection filtered in Python, never
from silo's code or a server-side filter.  The storage part is checked
against GET /api/storage/user/:id and against a snapshot row inserted
here.  Planted e-mail addresses, password hashes and ATProto passwords
must never appear in an answer or in silo's log.
"""

import json
import time
from datetime import datetime, timezone
from urllib.parse import quote

import pytest


from conftest import DB_NAME, health_state
from test_openapi import SPEC, response_schema, validate

# Where AC keeps a user's documents (docs: ac-platform.md section 6), as
# the answer must list them: collection -> the field holding the user's
# key.  logs' field is an array of keys.
USER_FIELDS = {
    "paintings": "user", "pieces": "user", "kidlisp": "user",
    "moods": "user", "tapes": "user", "clocks": "user",
    "chat-system": "user", "chat-clock": "user", "chat-sotce": "user",
    "chat-system-mutes": "user", "chat-clock-mutes": "user",
    "chat-sotce-mutes": "user",
    "news-posts": "user", "news-comments": "user", "news-votes": "user",
    "sotce-pages": "user", "sotce-touches": "user",
    "piece-user-hits": "user", "tickets": "user",
    "logs": "users",
}

# Planted in the searched user's documents; none may reach an answer.
CANARIES = {
    "email": "canary-person@example.invalid",
    "passwordHash": "$scrypt$ln=15,r=8,p=1$Y2FuYXJ5$Y2FuYXJ5LWhhc2g",
    "atproto_password": "canary-atproto-app-password",
    "token": "silo_CANARYtokenCANARYtokenCANARYtokenCANARYtok",
}


def path(uid):
    return "/api/users/" + quote(uid, safe="")


def iso(dt):
    """A stored date as silo writes it: UTC, to the second."""
    return dt.replace(tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def holds(doc, field, key):
    v = doc.get(field)
    return v == key or (isinstance(v, list) and key in v)


class Data:
    """The database as pymongo reads it back, and what silo must answer
    from it."""

    def __init__(self, db):
        self.docs = {name: list(db[name].find())
                     for name in list(USER_FIELDS) + ["users", "@handles"]}
        self.users = {u["_id"]: u for u in self.docs["users"]}
        self.handles = {h["_id"]: h for h in self.docs["@handles"]}

    def documents(self, key):
        counts = {name: sum(holds(d, field, key) for d in self.docs[name])
                  for name, field in USER_FIELDS.items()}
        rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return {"total": sum(counts.values()),
                "collections": [{"name": n, "count": c} for n, c in rows]}

    def user(self, key):
        u = self.users.get(key, {})
        h = self.handles.get(key, {})
        did = (u.get("atproto") or {}).get("did")
        if not isinstance(did, str):
            did = key if key.startswith("did:") else None
        dates = [d for d in ((u.get("atproto") or {}).get("created"),
                             h.get("createdAt")) if isinstance(d, datetime)]
        return {"sub": key, "handle": h.get("handle"), "did": did,
                "created": iso(min(dates)) if dates else None}


@pytest.fixture(scope="module")
def planted(stack, acdata):
    """The searched user: a sub-keyed user with a handle and a DID and the
    most content, with chat, mute, hit and log documents planted for it
    (collections the generated set leaves out) and the canaries in its
    users, @handles and paintings documents; and the data read back."""
    with stack.mongo() as client:
        db = client[DB_NAME]
        before = Data(db)

        def content(key):
            return before.documents(key)["total"]
        key = max((k for k, u in before.users.items()
                   if not k.startswith("did:") and k in before.handles
                   and before.handles[k]["handle"].isascii()
                   and isinstance((u.get("atproto") or {}).get("did"), str)
                   and (u.get("atproto") or {}).get("created")),
                  key=lambda k: (content(k), k))
        other = next(k for k in sorted(before.users)
                     if k not in (key, "art-guest"))
        db["chat-system"].insert_many(
            [{"user": key, "text": f"hi {i}", "font": "font_1"}
             for i in range(3)] + [{"user": other, "text": "not theirs"}])
        db["chat-clock-mutes"].insert_one({"user": key})
        db["piece-user-hits"].insert_one({"piece": "wand", "user": key,
                                          "hits": 4})
        db["logs"].insert_many([
            {"from": "log", "text": "handle:update", "users": [key]},
            {"from": "log", "text": "both", "users": [other, key]},
            {"from": "log", "text": "someone else", "users": [other]}])
        # A boot's meta.user is what a browser claimed: not counted.
        db["boots"].insert_one({"bootId": "canary-boot",
                                "meta": {"user": {"sub": key}}})
        db["users"].update_one({"_id": key}, {"$set": {
            "email": CANARIES["email"], "email_verified": True,
            "passwordHash": CANARIES["passwordHash"],
            "atproto.password": CANARIES["atproto_password"],
            "token": CANARIES["token"]}})
        db["@handles"].update_one({"_id": key}, {"$set": {
            "email": CANARIES["email"]}})
        db["paintings"].insert_one({"code": "canary", "slug": "canary",
                                    "user": key,
                                    "email": CANARIES["email"],
                                    "password": CANARIES["passwordHash"]})
        data = Data(db)
    stack.clear_cache()
    return key, data


def expected(data, key, query):
    return {"query": query, "user": data.user(key),
            "documents": data.documents(key)}


def test_handle_sub_and_did_find_the_same_user(stack, planted):
    key, data = planted
    want = data.user(key)
    assert want["handle"] and want["did"] and want["created"], want
    docs = data.documents(key)
    # The planted documents and some generated content are counted.
    by_name = {c["name"]: c["count"] for c in docs["collections"]}
    assert by_name["chat-system"] == 3 and by_name["logs"] == 2
    assert by_name["paintings"] >= 2, by_name
    for query in (want["handle"], "@" + want["handle"], key, want["did"]):
        r = stack.get(path(query))
        assert r.status == 200, (query, r)
        body = r.json()
        storage = body.pop("storage")
        assert body == expected(data, key, query), query
        # No storage snapshot on the shared stack: its no_snapshot error.
        assert storage["error"]["code"] == "no_snapshot", storage


def test_collections_listed_in_a_stable_order(stack, planted):
    key, data = planted
    got = stack.get(path(key)).json()["documents"]
    names = [c["name"] for c in got["collections"]]
    assert sorted(names) == sorted(USER_FIELDS)
    keyed = [(-c["count"], c["name"]) for c in got["collections"]]
    assert keyed == sorted(keyed)
    assert 0 in [c["count"] for c in got["collections"]]
    assert got["total"] == sum(c["count"] for c in got["collections"])


def test_migrated_user_is_keyed_by_its_did(stack, planted):
    _, data = planted
    key = min(k for k in data.users if k.startswith("did:")
              and k in data.handles)
    for query in (key, data.handles[key]["handle"]):
        r = stack.get(path(query))
        assert r.status == 200, (query, r)
        body = r.json()
        body.pop("storage")
        assert body == expected(data, key, query)
        assert body["user"]["sub"] == body["user"]["did"] == key


def test_handle_without_users_document(stack, planted):
    """sotce.net's handles are keyed "sotce-<sub>" and have no users
    document: the user is found, with no DID."""
    _, data = planted
    key = min(k for k in data.handles if k not in data.users)
    body = stack.get(path(data.handles[key]["handle"])).json()
    body.pop("storage")
    assert body == expected(data, key, data.handles[key]["handle"])
    assert body["user"]["did"] is None


def test_storage_is_the_storage_endpoints_answer(stack, planted):
    """With a snapshot, "storage" is what /api/storage/user/:id answers for
    the user (its row here), and zeros for a user without objects; and the
    answers validate against docs/openapi.yaml."""
    import yaml
    key, data = planted
    nobody = min(k for k in data.users if k not in ("art-guest", key)
                 and not k.startswith("did:"))
    finished = datetime(2026, 11, 30, 12, 0, 0, 250000, tzinfo=timezone.utc)
    row = {"user": key, "handle": data.user(key)["handle"],
           "bytes": 123456, "objects": 3,
           "buckets": [{"name": "user-aesthetic-computer", "bytes": 123456,
                        "objects": 3, "kinds": [
                            {"kind": "painting", "bytes": 100000,
                             "objects": 2},
                            {"kind": "piece", "bytes": 23456,
                             "objects": 1}]}]}
    spec = yaml.safe_load(SPEC.read_text())
    with stack.mongo() as client:
        silo = client["silo"]
        snap = silo.storage_snapshots.insert_one({
            "status": "ok", "finished_at": finished,
            "totals": {"bytes": 123456, "objects": 3},
            "users": {"count": 1, "bytes": 123456, "objects": 3}
        }).inserted_id
        rid = silo.storage_users.insert_one(
            dict(row, snapshot_id=snap)).inserted_id
        try:
            for who, want in ((key, row), (nobody, {
                    "user": nobody, "handle": data.user(nobody)["handle"],
                    "bytes": 0, "objects": 0, "buckets": []})):
                body = stack.get(path(who)).json()
                alone = stack.get("/api/storage/user/" +
                                  quote(who, safe="")).json()
                got = body["storage"]
                assert got.pop("age_s") >= 0 and alone.pop("age_s") >= 0
                assert got == alone
                assert got == dict(want,
                                   snapshot_at="2026-11-30T12:00:00.250Z")
                validate(spec, response_schema(spec, "/api/users/{id}", 200),
                         stack.get(path(who)).json())
        finally:
            silo.storage_users.delete_one({"_id": rid})
            silo.storage_snapshots.delete_one({"_id": snap})
    for status, query in ((404, "nobody-at-all"), (400, "a@b.example")):
        r = stack.get(path(query))
        assert r.status == status
        validate(spec, response_schema(spec, "/api/users/{id}", status),
                 r.json())


@pytest.mark.parametrize("uid,status,says", [
    ("nobody-at-all", 404, "no user with handle @nobody-at-all"),
    ("@nobody-at-all", 404, "no user with handle @nobody-at-all"),
    ("auth0|000000000000000000000000", 404, "no user auth0|0000"),
    ("did:plc:zzzzzzzzzzzzzzzzzzzzzzzz", 404, "no user did:plc:zzzz"),
    ("someone@example.com", 400, "looks like an e-mail address"),
    ("|abc", 400, "an auth0 sub is <provider>|<id>"),
    ("did:plc:", 400, "a DID is did:<method>:<id>"),
    ("a b", 400, "contains a space"),
    ("x" * 300, 400, "longer than 256 bytes"),
    ("@", 400, "the user id is empty"),
    ("h?x", 400, "a handle has no punctuation"),
])
def test_unknown_user_is_404_and_malformed_id_400(stack, planted, uid,
                                                  status, says):
    r = stack.get(path(uid))
    assert r.status == status, r
    body = r.json()
    assert body["error"]["code"] == \
        ("not_found" if status == 404 else "bad_request"), body
    assert says in body["error"]["message"], body
    assert "example.com" not in r.body.decode()


def test_planted_secrets_never_appear(stack, planted):
    key, data = planted
    handle = data.user(key)["handle"]
    log = stack.root / "silo.log"
    seen = log.stat().st_size
    for query in (handle, key, data.user(key)["did"]):
        r = stack.get(path(query))
        assert r.status == 200, r
        text = r.body.decode() + json.dumps(dict(r.headers))
        for name, canary in CANARIES.items():
            assert canary not in text, (name, query)
        assert "example.invalid" not in text and "@" not in \
            json.dumps(r.json()["user"]), query
    with open(log, "rb") as f:
        f.seek(seen)
        written = f.read().decode("utf-8", "replace")
    for name, canary in CANARIES.items():
        assert canary not in written, name


@pytest.mark.run_last(scope="module")
def test_database_down_is_503(stack, planted):
    key, data = planted
    handle = data.user(key)["handle"]
    assert stack.get(path(handle)).status == 200
    stack.fdb.stop()
    try:
        for query in (handle, key):
            r = stack.get(path(query))
            assert r.status == 503, r
            body = r.json()
            assert body["status"] == "down", body
            assert body["database"] == DB_NAME, body
            assert body["error"]["code"] == "db_unavailable", body
    finally:
        stack.restart_ferretdb()
    # Each worker's client waits out libmongoc's 5 s cooldown after its
    # own failure (docs/ferretdb.md): back when ten answers in a row are.
    deadline = time.monotonic() + 20
    good = 0
    while good < 10:
        r = stack.get(path(handle))
        good = good + 1 if r.status == 200 else 0
        assert time.monotonic() < deadline, f"still {r} 20 s after restart"
        if good == 0:
            time.sleep(0.25)
    h = stack.get("/api/db/health").json()
    assert (h["status"], h.get("reason")) == health_state(h), h
