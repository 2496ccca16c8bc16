"""/api/db/*: checked against what the test inserted and what FerretDB
itself reports through pymongo."""

from conftest import CATEGORIES, DB_NAME, health_state

CATEGORY_IDS = {"logs", "chat", "content", "identity", "social", "other"}


def get_json(stack, path, status=200):
    r = stack.get(path)
    assert r.status == status, r
    assert r.header("Content-Type").startswith("application/json"), r.headers
    return r.json()


def test_ping(stack):
    assert get_json(stack, "/api/ping") == {"ok": True}


def test_health_ok(stack):
    stack.clear_cache()     # a health made before `before` is 1 s fresh
    with stack.mongo() as client:
        before = client.admin.command("serverStatus")
        h = get_json(stack, "/api/db/health")
        after = client.admin.command("serverStatus")
        assert h["version"] == client.server_info()["version"]
    status, reason = health_state(h)
    assert h["status"] == status, h
    assert h.get("reason") == reason, h
    assert h["database"] == DB_NAME
    assert isinstance(h["version"], str) and h["version"], h
    # FerretDB's own uptime, read just before and just after
    assert before["uptime"] <= h["uptime_s"] <= after["uptime"], \
        (before["uptime"], h["uptime_s"], after["uptime"])
    assert isinstance(h["ping_ms"], (int, float))
    assert 0 <= h["ping_ms"] < 1000, h
    # FerretDB's serverStatus has no connections section: silo says null
    assert "connections" not in before, before.get("connections")
    assert h["connections"] is None, h


def test_collections_counts_and_sizes(stack, seeded):
    body = get_json(stack, "/api/db/collections")
    assert body["database"] == DB_NAME
    rows = {c["name"]: c for c in body["collections"]}
    assert set(rows) == set(seeded), sorted(rows)
    with stack.mongo() as client:
        db = client[DB_NAME]
        stats = {name: db.command("collStats", name) for name in seeded}
    for name, docs in seeded.items():
        row, cs = rows[name], stats[name]
        assert row["documents"] == len(docs), (name, row)
        assert row["size_bytes"] == cs["size"], (name, row, cs)
        assert row["storage_bytes"] == cs["storageSize"], (name, row, cs)
        assert row["indexes"] == cs["nindexes"], (name, row, cs)
        assert row["index_bytes"] == cs["totalIndexSize"], (name, row, cs)
        assert row["size_bytes"] > 0, row
        avg = row["size_bytes"] / row["documents"]
        assert abs(row["avg_obj_bytes"] - avg) <= max(2, 0.05 * avg), row
    # the indexes the test created are there
    assert rows["paintings"]["indexes"] == 3
    assert rows["@handles"]["indexes"] == 2
    assert rows["logs"]["indexes"] == 1


def test_collections_sorted_by_size(stack, seeded):
    cols = get_json(stack, "/api/db/collections")["collections"]
    keys = [(-c["size_bytes"], c["name"]) for c in cols]
    assert keys == sorted(keys), keys


def test_collections_totals(stack, seeded):
    body = get_json(stack, "/api/db/collections")
    cols, t = body["collections"], body["totals"]
    assert t["collections"] == len(cols) == len(seeded)
    assert t["documents"] == sum(len(d) for d in seeded.values())
    for k in ("documents", "size_bytes", "storage_bytes", "index_bytes"):
        assert t[k] == sum(c[k] for c in cols), k


def test_collections_categories(stack, seeded):
    body = get_json(stack, "/api/db/collections")
    cols = body["collections"]
    for c in cols:
        assert c["category"] == CATEGORIES[c["name"]], c
    cats = {c["id"]: c for c in body["categories"]}
    assert set(cats) <= CATEGORY_IDS, cats
    for cid in set(CATEGORIES.values()):
        mine = [c for c in cols if c["category"] == cid]
        cat = cats[cid]
        assert isinstance(cat["label"], str) and cat["label"]
        assert cat["collections"] == len(mine), cat
        for k in ("documents", "size_bytes", "storage_bytes"):
            assert cat[k] == sum(c[k] for c in mine), (cid, k)
    assert sum(c["collections"] for c in cats.values()) == len(cols)


def test_users_count(stack, seeded):
    users = seeded["users"]
    expect = {
        "users": sum(1 for u in users if u["_id"] != "art-guest"),
        "handles": len(seeded["@handles"]),
        "verified": sum(1 for v in seeded["verifications"] if v["count"] >= 1),
        "with_did": sum(1 for u in users if u["_id"] != "art-guest" and (
            isinstance(u.get("atproto", {}).get("did"), str)
            or u["_id"].startswith("did:"))),
    }
    assert expect == {"users": 7, "handles": 6, "verified": 4,
                      "with_did": 4}   # the data set is what we think
    got = get_json(stack, "/api/db/users/count")
    assert {k: got[k] for k in expect} == expect, got
    # and the same numbers straight from the database
    with stack.mongo() as client:
        db = client[DB_NAME]
        assert db.users.count_documents({"_id": {"$ne": "art-guest"}}) == \
            got["users"]
        assert db.verifications.count_documents({"count": {"$gte": 1}}) == \
            got["verified"]
