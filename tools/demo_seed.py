"""Seed a small, made-up data set in the shapes AC's code writes.

Usage: demo_seed.py MONGODB_URI DBNAME   (run with the stack's venv python)

Nothing here is real user data: subs, handles and texts are invented.
The shapes follow the platform reference (docs: ac-platform.md §6).
"""

import datetime as dt
import hashlib
import random
import sys

from pymongo import ASCENDING, MongoClient


def main(uri, dbname):
    rnd = random.Random(1)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)

    def ago(days):
        return now - dt.timedelta(days=days, minutes=rnd.randrange(1440))

    client = MongoClient(uri, serverSelectionTimeoutMS=5000)
    client.drop_database(dbname)
    db = client[dbname]

    handles = ["jeffrey", "amelia", "tofu", "prutti", "mira", "oskar",
               "wren", "kit", "noodle", "basil", "ivy", "rook"]
    subs = [f"auth0|{hashlib.sha1(h.encode()).hexdigest()[:24]}"
            for h in handles]
    subs[3] = "google-oauth2|104" + "7" * 18
    subs[7] = "sotce-auth0|" + "5" * 24

    users = [{"_id": "art-guest", "code": "acguest",
              "atproto": {"did": "did:plc:artguest000000000000000",
                          "handle": "art.at.aesthetic.computer",
                          "created": ago(400)}}]
    for i, (sub, h) in enumerate(zip(subs, handles)):
        u = {"_id": sub, "code": f"ac25{h[:4]}{i:02d}",
             "email": f"{h}@example.com", "name": h.title()}
        if i % 3 != 2:
            u["atproto"] = {"did": f"did:plc:{hashlib.sha1(sub.encode()).hexdigest()[:24]}",
                            "handle": f"{h}.at.aesthetic.computer",
                            "created": ago(300 - i), "syncedAt": ago(i)}
        users.append(u)
    users.append({"_id": "did:plc:importedxxxxxxxxxxxxxxxx", "code": "ac25imp"})
    db.users.insert_many(users)

    db["@handles"].insert_many(
        [{"_id": sub, "handle": h, "createdAt": ago(300), "updatedAt": ago(10)}
         for sub, h in zip(subs, handles)][:10])
    db["@handles"].create_index([("handle", ASCENDING)], unique=True)

    db.verifications.insert_many(
        [{"_id": sub, "count": (i % 4)} for i, sub in enumerate(subs)])

    paintings = []
    for i in range(40):
        who = rnd.choice(subs + [None])
        p = {"code": f"p{i:03x}", "slug": f"2025.{i:02d}.01.12.00.{i:03d}",
             "when": ago(rnd.randrange(365)),
             "bucket": "user-aesthetic-computer" if who else
             "art-aesthetic-computer"}
        if who:
            p["user"] = who
        if i % 3 == 0:
            p["atproto"] = {"rkey": f"3k{i:011d}",
                            "uri": f"at://did:plc:x/computer.aesthetic.painting/3k{i:011d}"}
        if i % 17 == 0:
            p["nuked"] = True
        paintings.append(p)
    db.paintings.insert_many(paintings)
    for k in ("code", "user", "when", "slug"):
        db.paintings.create_index(k)

    db.moods.insert_many(
        [{"user": rnd.choice(subs), "mood": rnd.choice(
            ["sleepy", "making a painting", "hungry\\nfor pixels", "calm"]),
          "when": ago(rnd.randrange(90)), "deleted": i % 11 == 0}
         for i in range(25)])

    kidlisp = []
    for i in range(30):
        src = f"(wipe {rnd.choice(['blue', 'navy', 'lime'])})\n(ink red)\n" \
              f"(box {i} {i} 32 32)"
        k = {"code": f"k{i:03d}", "source": src,
             "hash": hashlib.sha256(src.strip().encode()).hexdigest() + str(i),
             "when": ago(rnd.randrange(200)), "lastAccessed": ago(1),
             "hits": rnd.randrange(500)}
        if i % 2:
            k["user"] = rnd.choice(subs)
        kidlisp.append(k)
    db.kidlisp.insert_many(kidlisp)
    db.kidlisp.create_index("code", unique=True)

    db["chat-system"].insert_many(
        [{"user": rnd.choice(subs), "text": f"hello {i}",
          "when": ago(rnd.randrange(30)), "font": "font_1"} for i in range(60)])
    db["chat-clock"].insert_many(
        [{"user": rnd.choice(subs), "text": f"tick {i}", "when": ago(2),
          "font": "font_1"} for i in range(15)])

    db.boots.insert_many(
        [{"bootId": f"b{i:05d}", "createdAt": ago(rnd.randrange(14)),
          "updatedAt": ago(0),
          "meta": {"host": "aesthetic.computer", "path": "/prompt",
                   "browser": "Firefox", "mobile": i % 2 == 0},
          "server": {"ip": "203.0.113.%d" % (i % 250), "country": "US"},
          "status": rnd.choice(["started", "success", "success", "error"]),
          "events": [{"t": j, "e": "frame"} for j in range(rnd.randrange(8))]}
         for i in range(200)])

    db.logs.insert_many(
        [{"from": "log", "text": f"{rnd.choice(handles)} changed their handle",
          "when": ago(rnd.randrange(60)), "users": [rnd.choice(subs)],
          "action": "handle:update"} for i in range(35)])

    db.secrets.insert_many([
        {"_id": "bluesky", "identifier": "aesthetic.computer",
         "password": "not-a-real-secret", "mirrorHandles": ["jeffrey"]},
        {"_id": "instagram", "note": "demo placeholder"},
    ])
    db["news-posts"].insert_many(
        [{"code": f"n{i:03d}", "title": f"Demo post {i}",
          "url": "https://example.com/", "user": None, "when": ago(i),
          "score": rnd.randrange(20), "status": "live"} for i in range(8)])
    db["piece-hits"].insert_many(
        [{"piece": p, "hits": rnd.randrange(10000), "type": "piece",
          "lastHit": ago(0), "firstHit": ago(500)}
         for p in ("prompt", "notepat", "wand", "line", "rect", "chat")])
    db["demo-scratch"].insert_one({"note": "an unknown collection: 'other'"})

    print(f"seeded {dbname}: " + ", ".join(
        f"{n} {db[n].estimated_document_count()}"
        for n in sorted(db.list_collection_names())))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
