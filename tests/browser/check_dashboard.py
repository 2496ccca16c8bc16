#!/usr/bin/env python3
"""check_dashboard.py: render silo's dashboard in headless Chromium and check it.

It serves www/ and a fixture /api/ from Python's http.server on 127.0.0.1
(a port the OS picks), under the same Content-Security-Policy Caddy sets
(script-src 'self': no inline script, no on...= handler, no eval()).
Every Chromium run fails its checks on any CSP violation the browser
reports (console lines with --enable-logging, Log entries over
DevTools), and a canary page that breaks the policy on purpose proves
both detectors fire.  Then, per variant of the API:

  ok              every endpoint answers with realistic AC numbers
  collections503  /api/db/collections is down (503); the rest answers
                  (and the storage history has no points)
  degraded        health says "degraded" with a reason (and the storage
                  history one point)
  nosnapshot      no storage snapshot yet: /api/storage/* answer 503
                  no_snapshot, a calm state; no good backup yet either
                  (/api/backups says "none", a calm state too); the rest
                  answers
  down            the database is unreachable: every endpoint is 503

it runs Debian's Chromium headless with --dump-dom and checks the DOM the
page built (numbers, names, order, per-section errors), and with
--screenshot for 1280x900 and 400x900 in the dark and the light theme
(chosen through Blink's preferredColorScheme setting), checking each PNG's
size and background colour.  Chromium resolves no host but 127.0.0.1, so
the page's links to aesthetic.computer (font, favicon, cursor) never leave
the machine.

Python stdlib only.  Exit 0 when every check passes; otherwise it prints
what failed.  Screenshots stay in a fresh temporary folder (or --out DIR);
everything else it starts or creates is stopped and removed.

    python3 tests/browser/check_dashboard.py [--out DIR] [--chromium PATH] [--www DIR]
"""

import argparse
import select
import signal
import html.parser
import http.server
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WWW = os.path.join(ROOT, "www")
CHROMIUM_TIMEOUT_S = 120

# The policy Caddy puts on silo's pages.
CSP = ("default-src 'self'; "
       "script-src 'self'; "
       "style-src 'self' 'unsafe-inline'; "
       "img-src 'self' https://aesthetic.computer; "
       "font-src 'self' https://aesthetic.computer; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

# --------------------------------------------------------------------------
# Fixtures: AC's 38 collections with the counts from the migration report.
# --------------------------------------------------------------------------

# name, documents, average document bytes, number of indexes
COLLECTION_ROWS = [
    ("boots", 25513, 4522, 2),
    ("oven-grabs", 30560, 492, 4),
    ("oven-cache", 1362, 1180, 2),
    ("oven-frozen-pieces", 307, 2210, 2),
    ("oven-bakes", 30, 890, 2),
    ("bundle-telemetry", 440, 1630, 2),
    ("logs", 2320, 310, 2),
    ("chat-system", 17853, 236, 3),
    ("chat-clock", 13465, 228, 3),
    ("chat-sotce", 271, 241, 3),
    ("chat-system-mutes", 14, 96, 2),
    ("chat-clock-mutes", 6, 96, 2),
    ("chat-sotce-mutes", 3, 96, 2),
    ("kidlisp", 14189, 612, 6),
    ("paintings", 4358, 402, 5),
    ("moods", 2874, 318, 4),
    ("pieces", 331, 356, 3),
    ("tapes", 205, 421, 3),
    ("clocks", 126, 388, 4),
    ("users", 4217, 684, 5),
    ("@handles", 2773, 92, 2),
    ("verifications", 3876, 104, 1),
    ("secrets", 6, 512, 1),
    ("sotce-pages", 412, 1520, 3),
    ("sotce-touches", 1268, 148, 2),
    ("sotce-asks", 97, 702, 1),
    ("news-posts", 58, 820, 3),
    ("news-comments", 121, 540, 3),
    ("news-votes", 344, 118, 2),
    ("piece-hits", 611, 74, 2),
    ("piece-user-hits", 1290, 112, 2),
    ("tickets", 31, 980, 1),
    ("products", 12, 1430, 1),
    ("servers", 4, 260, 1),
    ("false.work-builds", 23, 2890, 1),
    ("false.work-reports", 2, 6120, 1),
    ("jas-tags", 10, 180, 1),
    ("jas-stretched-paintings", 1, 640, 1),
]

CATEGORIES = [  # id, label: as src/ac.c names them
    ("logs", "logs/telemetry"), ("chat", "chat"), ("content", "user content"),
    ("identity", "users/auth"), ("social", "social/misc"), ("other", "other"),
]


def category_of(name):
    """Mirror of src/ac.c for the fixture names."""
    logs = {"boots", "logs", "bundle-telemetry", "oven-grabs", "oven-bakes",
            "oven-cache", "oven-frozen-pieces", "kidlisp-logs", "_firehose"}
    content = {"kidlisp", "paintings", "pieces", "moods", "tapes", "clocks"}
    identity = {"users", "@handles", "verifications", "secrets"}
    if name in logs:
        return "logs"
    if name.startswith("chat-") or name == "hearts":
        return "chat"
    if name in content:
        return "content"
    if name in identity:
        return "identity"
    if name.startswith(("sotce-", "news-", "jas-", "false.work-")) or name in {
            "piece-hits", "piece-user-hits", "tickets", "products", "servers"}:
        return "social"
    return "other"


def build_collections():
    rows = []
    for name, docs, avg, nidx in COLLECTION_ROWS:
        size = docs * avg
        storage = max(4096, (int(size * 0.37) + 4095) // 4096 * 4096)
        index_bytes = nidx * max(4096, (docs * 38 + 4095) // 4096 * 4096)
        rows.append({"name": name, "category": category_of(name), "documents": docs,
                     "size_bytes": size, "storage_bytes": storage, "avg_obj_bytes": avg,
                     "indexes": nidx, "index_bytes": index_bytes})
    rows.sort(key=lambda r: (-r["size_bytes"], r["name"]))
    totals = {"collections": len(rows),
              "documents": sum(r["documents"] for r in rows),
              "size_bytes": sum(r["size_bytes"] for r in rows),
              "storage_bytes": sum(r["storage_bytes"] for r in rows),
              "index_bytes": sum(r["index_bytes"] for r in rows)}
    cats = []
    for cid, label in CATEGORIES:
        mine = [r for r in rows if r["category"] == cid]
        cats.append({"id": cid, "label": label, "collections": len(mine),
                     "documents": sum(r["documents"] for r in mine),
                     "size_bytes": sum(r["size_bytes"] for r in mine),
                     "storage_bytes": sum(r["storage_bytes"] for r in mine)})
    return {"database": "aesthetic", "collections": rows, "totals": totals, "categories": cats}


COLLECTIONS = build_collections()
HEALTH_OK = {"status": "ok", "database": "aesthetic", "version": "7.0.42",
             "engine": "mongod", "uptime_s": 1209612.4, "ping_ms": 0.8,
             "connections": {"current": 14, "available": 838}}
HEALTH_DEGRADED = dict(HEALTH_OK, status="degraded", ping_ms=612.4,
                       reason="ping slower than SILO_DB_SLOW_MS")
USERS = {"users": 4217, "handles": 2773, "verified": 3876, "with_did": 2946}

DOWN_MESSAGE = "No suitable servers found: serverSelectionTimeoutMS expired"


def down(doing):
    return {"status": "down", "database": "aesthetic",
            "error": {"code": "db_unavailable", "message": f"{doing}: {DOWN_MESSAGE}"}}


def service(status="ok", latency=41.3, reason=None, age=4.2):
    return {"status": status, "reason": reason, "latency_ms": latency,
            "cached_at": "2026-11-23T21:00:00Z", "age_s": age}


KIDLISP = {"status": "ok", "total": 14189,
           "keeps": {"kept": 284, "pending": 71, "tezos": 425,
                     "tezos_minted": 298, "minted": 582},
           "created_30d": 1207,
           "top": {"code": "bop", "hits": 4987, "when": "2025-03-01T10:00:00Z",
                   "handle": "@müller"},
           "cached_at": "2026-11-23T21:00:00Z", "age_s": 12.0}
PDS_DOWN = ("http://127.0.0.1:9/xrpc/_health: Failed to connect to "
            "127.0.0.1 port 9: Connection refused")

# /api/services/atproto's identity check (silo atproto check --json).
SUB_A, SUB_B, SUB_C = "auth0|5f0a", "auth0|5f0b", "auth0|5f0c"
IDENTITY = {
    "handles": 2790, "did_documents": 17, "migrated": 17, "legacy": 2756,
    "orphans": {"collections": [
        {"collection": "paintings", "field": "user", "references": 1204},
        {"collection": "logs", "field": "users", "references": 3}],
        "subs": [{"sub": SUB_A, "did": "did:plc:aaa", "references": 1207}],
        "count": 1207, "orphaned_subs": 1},
    "duplicate_dids": {"count": 1, "list": [{"did": "did:plc:dup", "subs": [SUB_B, SUB_C]}]},
    "duplicate_handles": {"count": 0, "list": []},
    "handles_without_user": {"count": 1, "list": ["auth0|ghost"]},
    "policy": {"rules": [
        {"collection": "chat-system", "kind": "private chat", "count": 0},
        {"collection": "moods", "kind": "mood", "count": 2874},
        {"collection": "paintings", "kind": "nuked", "count": 12}], "count": 2886},
    "findings": 4095,
}
IDENTITY_CLEAN = {
    "handles": 2773, "did_documents": 0, "migrated": 0, "legacy": 2773,
    "orphans": {"collections": [], "subs": [], "count": 0, "orphaned_subs": 0},
    "duplicate_dids": {"count": 0, "list": []},
    "duplicate_handles": {"count": 0, "list": []},
    "handles_without_user": {"count": 0, "list": []},
    "policy": {"rules": [{"collection": "moods", "kind": "mood", "count": 0}], "count": 0},
    "findings": 0,
}
# element id -> the text IDENTITY must render as
IDENTITY_TEXTS = {
    "v-id-migrated": "17", "s-id-migrated": "2,756 still on legacy ids",
    "v-id-orphans": "1,207", "s-id-orphans": "of 1 migrated sub",
    "v-id-dups": "1", "s-id-dups": "1 DID · 0 handles",
    "v-id-nouser": "1", "v-id-policy": "2,886", "s-id-policy": "reported, not fixed",
    "identity-meta": "4,095 findings · checked 7s ago",
}
IDENTITY_LINES = [
    "1,204 in paintings.user still name a migrated sub",
    "3 in logs.users still name a migrated sub",
    f"DID did:plc:dup is mapped from {SUB_B}, {SUB_C}",
    "@handles auth0|ghost has no user",
    "2,874 mood in moods carry an ATProto record",
    "12 nuked in paintings carry an ATProto record",
]


def atproto(identity, error=None):
    return dict(service("ok", 20.5, age=7.0), service="atproto", url="http://pds.test",
                version="0.4.0", sync=None, sync_error=None,
                identity=identity, identity_error=error)


# --------------------------------------------------------------------------
# Backups: silo.backups' runs in the shapes backup_list.c answers with.
# --------------------------------------------------------------------------

def backup_run(day, status="ok", stored=1843220117, error=None, verified=None):
    started = f"2026-11-{day:02d}T03:00:00Z"
    run = {"id": f"2026-11-{day:02d}T030000Z-1a2b3c{day:02d}", "status": status,
           "started_at": started, "finished_at": f"2026-11-{day:02d}T03:04:12Z",
           "duration_ms": 252000, "bytes": None, "sha256": None,
           "key_id": "3f9a0c1d2e4b5a69", "collections": 40, "documents": 0,
           "error": error, "verification": verified}
    if status == "ok":
        run.update(bytes={"plain": stored * 5, "compressed": stored - 53, "stored": stored},
                   sha256="9e" * 32, documents=1290331)
    return run


VERIFIED = {"at": "2026-11-22T04:10:00Z", "ok": True, "error": None, "duration_ms": 611000}
BACKUP_RUNS = [backup_run(23), backup_run(22, verified=VERIFIED),
               backup_run(21, "failed", error="spaces: PUT part 212: HTTP 503 SlowDown"),
               backup_run(20, stored=1840110442), backup_run(19, stored=1838004411),
               backup_run(18, stored=1835550017), backup_run(17, stored=1831020044)]


def backups(status, runs, good=None, age_s=None):
    success = dict(good, age_s=age_s) if good else None
    return {"status": status, "stale_after_h": 26, "last_success": success,
            "last_verification": dict(VERIFIED, id=BACKUP_RUNS[1]["id"]) if good else None,
            "backups": runs}


BACKUPS_OK = backups("ok", BACKUP_RUNS, BACKUP_RUNS[0], 18000)           # 5h 0m
BACKUPS_STALE = backups("stale", BACKUP_RUNS[1:], BACKUP_RUNS[1], 190800)  # 2d 5h
BACKUPS_FAILING = backups("failing", BACKUP_RUNS[2:], BACKUP_RUNS[3], 266400)
BACKUPS_NONE = backups("none", [backup_run(23, "failed", error="database: no suitable servers")])


def overview(services=None, kidlisp=None):
    svc = {"oven": service(), "session": service(latency=8.4),
           "atproto": service(latency=120.0)}
    svc.update(services or {})
    return {"services": svc, "kidlisp": kidlisp or KIDLISP,
            "backup": {"status": "ok", "stale_after_h": 26,
                       "last_success": {"id": BACKUP_RUNS[0]["id"],
                                        "finished_at": BACKUP_RUNS[0]["finished_at"],
                                        "bytes": BACKUP_RUNS[0]["bytes"]["stored"],
                                        "documents": BACKUP_RUNS[0]["documents"]},
                       "last_success_age_s": 18000, "last_verification": None,
                       "cached_at": "2026-11-23T21:00:00Z", "age_s": 3.0},
            "silo": {"status": "ok", "version": "0.1.0", "uptime_s": 3600,
                     "workers": 4},
            "status": "ok", "degraded": []}


OVERVIEW_OK = overview()
OVERVIEW_PDS_DOWN = overview({"atproto": service("unreachable", 0.6, PDS_DOWN)})
OVERVIEW_DB_DOWN = overview(kidlisp={"status": "error", "error": {
    "code": "db_unavailable", "message": f"kidlisp stats: {DOWN_MESSAGE}"}})


# --------------------------------------------------------------------------
# Spaces storage: one snapshot in the shapes api_storage.c answers with.
# --------------------------------------------------------------------------

SNAPSHOT_AT, SNAPSHOT_AGE_S = "2026-11-23T22:30:00.000Z", 252  # "4m 12s"

# bucket -> [(prefix, objects, bytes)]: AC's layout (ac-platform.md §7)
SPACES = [
    ("art-aesthetic-computer", [("root", 91233, 52118003331), ("oven", 30560, 4120556001),
                                ("og", 58, 6120332)]),
    ("user-aesthetic-computer", [("painting", 48210, 30912443120), ("root", 3120, 9871200441),
                                 ("piece", 1904, 41220118), ("kidlisp", 377, 1120340)]),
    ("at-blobs-aesthetic-computer", [("tapes", 410, 8804112554)]),
    ("releases-aesthetic-computer", [("desktop", 36, 4410220118)]),
    ("wand-aesthetic-computer", [("root", 1204, 310224101)]),
    ("assets-aesthetic-computer", [("type", 212, 88120455), ("sounds", 96, 41004112),
                                   ("root", 14, 1220771)]),
]


def tally(rows):
    return sum(r[1] for r in rows), sum(r[2] for r in rows)


def build_storage():
    buckets = []
    for name, prefixes in SPACES:
        objects, size = tally(prefixes)
        buckets.append({"name": name, "bytes": size, "objects": objects,
                        "prefixes": [{"prefix": p, "bytes": b, "objects": o} for p, o, b in prefixes]})
    objects = sum(b["objects"] for b in buckets)
    size = sum(b["bytes"] for b in buckets)
    stamp = {"snapshot_at": SNAPSHOT_AT, "age_s": SNAPSHOT_AGE_S}
    top = [("auth0|63effeeb2a7d55f8d1c5c1a1", "jeffrey", 4120334556, 2212),
           ("auth0|6402aa8b1e3c0f4d2b7a9e10", "fifi", 2210448120, 1460),
           ("google-oauth2|108234120449812330412", None, 1880224001, 88),
           ("auth0|64b1f0a2c9e8d7f6a5b4c3d2", "müller", 990120334, 731),
           ("auth0|650aa1b2c3d4e5f6a7b8c9d0", "prompt", 660224118, 402),
           ("sotce-auth0|6511c0ffee0ddba11cafe001", "amelia", 410008771, 377),
           ("auth0|652233445566778899aabbcc", None, 220114009, 45),
           ("auth0|6533aabbccddeeff00112233", "hell_-world", 120004577, 61),
           ("auth0|6544bbccddeeff0011223344", "bash", 98112330, 120),
           ("auth0|6555ccddeeff001122334455", "x", 40004112, 12)]
    users = [{"user": u, "handle": h, "bytes": b, "objects": o, "rank": i + 1}
             for i, (u, h, b, o) in enumerate(top)]
    user_bytes, user_objects = 41811111111, 53611
    usage = dict(stamp, bytes=size, gb=round(size / 1e9, 3), gib=round(size / 2 ** 30, 3),
                 objects=objects, buckets=len(buckets),
                 users={"count": 1843, "bytes": user_bytes, "objects": user_objects},
                 guest={"bytes": 52118003331, "objects": 91233},
                 unattributed={"bytes": size - user_bytes - 52118003331,
                               "objects": objects - user_objects - 91233},
                 duration_ms=184220)
    # Twelve good snapshots, a day apart, growing to today's total.
    points = [{"finished_at": f"2026-11-{12 + i:02d}T22:30:00.000Z",
               "bytes": size - (11 - i) * 310224101 - (i % 3) * 4004112,
               "objects": objects - (11 - i) * 120, "duration_ms": 180000 + i * 400}
              for i in range(12)]
    return {"usage": usage,
            "buckets": dict(stamp, totals={"bytes": size, "objects": objects}, buckets=buckets,
                            types=[{"ext": "png", "bytes": 60112334556, "objects": 160112}],
                            largest=[{"bucket": "releases-aesthetic-computer",
                                      "key": "desktop/aesthetic-computer-1.4.2.dmg", "bytes": 221004331}]),
            "top": dict(stamp, limit=10, users_with_objects=1843, users=users),
            "history": dict(stamp, points=points)}


STORAGE = build_storage()
LAST_ATTEMPT = {"status": "failed", "finished_at": "2026-11-23T22:10:04.120Z",
                "errors": ["list user-aesthetic-computer: HTTP 403 AccessDenied: Access Denied"]}
NO_SNAPSHOT = {"error": {"code": "no_snapshot",
                         "message": "no storage snapshot yet: run `silo storage refresh` "
                                    "(or POST /api/storage/refresh with the admin token)"},
               "last_attempt": LAST_ATTEMPT}
STORAGE_PATHS = {"usage": "/api/storage/usage", "buckets": "/api/storage/buckets",
                 "top": "/api/storage/top-users", "history": "/api/storage/history"}


def storage(points=None):
    """The four storage routes answering from STORAGE (history's points replaced if given)."""
    out = {path: (200, STORAGE[part]) for part, path in STORAGE_PATHS.items()}
    if points is not None:
        out[STORAGE_PATHS["history"]] = (200, dict(STORAGE["history"], points=points))
    return out


def storage_failing(status, body):
    return {path: (status, body) for path in STORAGE_PATHS.values()}


# --------------------------------------------------------------------------
# Who is signed in: GET /api/auth/me as api_auth.c answers it (AUTH.md).
# --------------------------------------------------------------------------

SESSION = {"created": "2026-11-23T20:00:00Z", "idle_expires": "2026-11-24T04:00:00Z",
           "expires": "2026-11-30T20:00:00Z"}
READ_SCOPES = ["read:db", "read:storage", "read:backups", "read:services", "read:users", "read:metrics"]
ME_ADMIN = {"kind": "session", "name": "ada", "role": "admin",
            "scopes": READ_SCOPES + ["run:storage", "run:backups", "admin:db"], "session": SESSION}
ME_VIEWER = {"kind": "session", "name": "grace", "role": "viewer", "scopes": READ_SCOPES,
             "session": SESSION}
UNAUTHORIZED = {"error": {"code": "unauthorized", "message": "sign in, or send a token"}}
# The admin-only controls: element id -> the scope it needs.
ADMIN_CONTROLS = {"storage-refresh": "run:storage", "backups-run": "run:backups", "db-link": "admin:db",
                  "clients": "admin:db"}

# GET /api/db/clients as api_clients.c answers it: on mongod, and on a
# server without $currentOp (FerretDB).
CLIENTS_MONGOD = {
    "connections": 5, "other": 0, "supported": True,
    "groups": [{"app": "aesthetic-web", "address": "10.0.0.5", "connections": 3, "service": "web"},
               {"app": None, "address": "157.245.134.225", "connections": 1, "service": "session"},
               {"app": "silo", "address": "127.0.0.1", "connections": 1, "service": None}],
    "services": [{"name": "web", "match": "aesthetic-web", "connected": 3,
                  "last_seen": "2026-11-24T09:00:00.000Z"},
                 {"name": "session", "match": "157.245.134.225", "connected": 1,
                  "last_seen": "2026-11-24T09:00:00.000Z"},
                 {"name": "oven", "match": "oven", "connected": 0, "last_seen": None}]}
CLIENTS_FERRETDB = {
    "connections": 0, "other": 0, "supported": False, "groups": [],
    "reason": "not reported by this server: $currentOp failed",
    "server_said": "Invalid command format: the 'aggregate' field must specify a collection name or 1",
    "services": [{"name": "oven", "match": "oven", "connected": 0,
                  "last_seen": "2026-11-20T03:00:00.000Z"}]}

# variant -> path -> (status, body); "POST /path" for the POST routes
VARIANTS = {
    "ok": {"/api/db/health": (200, HEALTH_OK),
           "/api/db/collections": (200, COLLECTIONS),
           "/api/db/users/count": (200, USERS),
           "/api/overview": (200, OVERVIEW_OK), **storage(),
           "/api/backups": (200, BACKUPS_OK),
           "/api/db/clients": (200, CLIENTS_MONGOD),
           "/api/services/atproto": (200, atproto(IDENTITY))},
    "collections503": {"/api/db/health": (200, HEALTH_OK),
                       "/api/db/collections": (503, down("listCollections")),
                       "/api/db/users/count": (200, USERS),
                       "/api/overview": (200, OVERVIEW_OK), **storage(points=[]),
                       "/api/backups": (200, BACKUPS_FAILING),
                       "/api/db/clients": (200, CLIENTS_MONGOD),
                       "/api/services/atproto": (200, atproto(IDENTITY))},
    "degraded": {"/api/db/health": (200, HEALTH_DEGRADED),
                 "/api/db/collections": (200, COLLECTIONS),
                 "/api/db/users/count": (200, USERS),
                 "/api/overview": (200, OVERVIEW_PDS_DOWN),
                 **storage(points=STORAGE["history"]["points"][-1:]),
                 "/api/backups": (200, BACKUPS_STALE),
                 "/api/db/clients": (200, CLIENTS_MONGOD),
                 "/api/services/atproto": (200, atproto(IDENTITY_CLEAN))},
    "nosnapshot": {"/api/db/health": (200, HEALTH_OK),
                   "/api/db/collections": (200, COLLECTIONS),
                   "/api/db/users/count": (200, USERS),
                   "/api/overview": (200, OVERVIEW_OK),
                   **storage_failing(503, NO_SNAPSHOT),
                   "/api/backups": (200, BACKUPS_NONE),
                   "/api/db/clients": (200, CLIENTS_FERRETDB),
                   "/api/services/atproto": (200, atproto(IDENTITY))},
    "down": {"/api/db/health": (503, down("ping")),
             "/api/db/collections": (503, down("listCollections")),
             "/api/db/users/count": (503, down("users")),
             "/api/overview": (200, OVERVIEW_DB_DOWN),
             **storage_failing(503, down("storage snapshots")),
             "/api/backups": (503, down("silo.backups")),
             # the PDS answered, the database did not
             "/api/services/atproto": (200, atproto(None, down("reading @handles")["error"]))},
}
for _name, _api in VARIANTS.items():
    # the sessions live in the database too: down, /me cannot answer
    _api["/api/auth/me"] = (503, down("sessions")) if _name == "down" else (200, ME_ADMIN)
    _api["POST /api/auth/logout"] = (204, None)
    _api["POST /api/storage/refresh"] = (202, {"status": "started"})
    _api["POST /api/backups/run"] = (409, {"error": {"code": "conflict", "message": "a backup is running"}})
# a viewer: the healthy answers, no admin controls
VARIANTS["viewer"] = dict(VARIANTS["ok"], **{"/api/auth/me": (200, ME_VIEWER)})
# no session: every route but the sign-in itself answers 401
VARIANTS["signedout"] = {path: (401, UNAUTHORIZED) for path in VARIANTS["ok"]}

# --------------------------------------------------------------------------
# The loopback server: www/ plus the variant's /api/.
# --------------------------------------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "silo-test"

    def log_message(self, fmt, *args):  # keep the output for failures only
        self.server.requests.append(self.path if self.command == "GET" else f"{self.command} {self.path}")

    def handle(self):
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page navigated on (to sign-in) while an answer was on its way

    def send(self, status, body, ctype, extra=None):
        self.send_response(status)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.posts.append((path, self.headers.get("Origin"), body))
        status, answer = self.server.api.get(
            f"POST {path}", (404, {"error": {"code": "not_found", "message": f"no route {path}"}}))
        if callable(answer):
            status, answer, extra = answer(json.loads(body or b"null"))
        else:
            extra = {}
        self.send(status, b"" if answer is None else json.dumps(answer).encode(),
                  "application/json", extra)

    def do_GET(self):
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if path.startswith("/api/"):
            status, body = self.server.api.get(
                path, (404, {"error": {"code": "not_found", "message": f"no route {path}"}}))
            self.send(status, json.dumps(body).encode(), "application/json")
            return
        if path in self.server.pages:
            self.send(200, self.server.pages[path].encode(), "text/html; charset=utf-8")
            return
        name = "index.html" if path == "/" else path.lstrip("/")
        full = os.path.realpath(os.path.join(WWW, name))
        if not full.startswith(os.path.realpath(WWW) + os.sep) or not os.path.isfile(full):
            self.send(404, b"not found\n", "text/plain")
            return
        # As Caddy's file_server types them; with nosniff a script served
        # as anything but JavaScript would not run.
        ctype = CONTENT_TYPES.get(os.path.splitext(full)[1], "application/octet-stream")
        with open(full, "rb") as f:
            self.send(200, f.read(), ctype)


CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


class Server:
    """http.server on 127.0.0.1, on a port the OS picks, in a thread;
    pages maps extra paths to HTML served as they are (the CSP canary)."""

    def __init__(self, api, pages=None):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.api = api
        self.httpd.pages = pages or {}
        self.httpd.requests = []
        self.httpd.posts = []      # (path, Origin header, body)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


# --------------------------------------------------------------------------
# Chromium
# --------------------------------------------------------------------------


def find_chromium(given):
    if given:
        return given
    for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.access(path, os.X_OK):
            return path
    print("chromium is missing: installing Debian's package", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env, timeout=1200)
    if not os.access("/usr/bin/chromium", os.X_OK):
        raise SystemExit("FAIL: /usr/bin/chromium still missing after apt-get install")
    return "/usr/bin/chromium"


def end_group(proc):
    """End what is left of the process group this script started for proc."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.3)


def remove_tree(path):
    """Remove a profile folder; bounded retries while helpers finish writing."""
    for _ in range(10):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path):
            return
        time.sleep(0.2)


# What Chromium's console says on a CSP violation, with --enable-logging.
CSP_LINE = re.compile(r"Content Security Policy")


def chromium(binary, url, extra, theme="dark"):
    """Run headless Chromium once on url with a fresh profile; return its
    stdout and the CSP violations its console reported (each a line)."""
    profile = tempfile.mkdtemp(prefix="silo-chromium-")
    args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--mute-audio",
            f"--user-data-dir={profile}",
            # Nothing but loopback resolves: no traffic leaves the machine.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            # 0 = dark, 1 = light: what prefers-color-scheme reports.
            f"--blink-settings=preferredColorScheme={0 if theme == 'dark' else 1}",
            "--hide-scrollbars", "--virtual-time-budget=5000",
            # the page's console on stderr: CSP violations are reported there
            "--enable-logging=stderr", "--v=0", *extra, url]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=profile, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=CHROMIUM_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise Failure(f"chromium did not finish within {CHROMIUM_TIMEOUT_S} s on {url}")
    finally:
        end_group(proc)
        remove_tree(profile)
    if proc.returncode != 0:
        raise Failure(f"chromium exited {proc.returncode}:\n{err.decode(errors='replace')[-2000:]}")
    violations = [line.strip()[:300] for line in err.decode("utf-8", errors="replace").splitlines()
                  if ":CONSOLE" in line and CSP_LINE.search(line)]
    return out.decode("utf-8", errors="replace"), violations


# --------------------------------------------------------------------------
# A small DOM from --dump-dom's HTML
# --------------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
        "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    def text(self):
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self):
        for c in self.children:
            if isinstance(c, Node):
                yield c
                yield from c.walk()

    def find(self, pred):
        return [n for n in self.walk() if pred(n)]

    def classes(self):
        return set(self.attrs.get("class", "").split())

    def visible(self):
        n = self
        while n is not None:
            if "hidden" in n.attrs:
                return False
            n = n.parent
        return True


class TreeBuilder(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, [(k, v if v is not None else "") for k, v in attrs], self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_startendtag(self, tag, attrs):
        self.cur.children.append(Node(tag, [(k, v or "") for k, v in attrs], self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not None and n.tag != tag:
            n = n.parent
        if n is not None and n.parent is not None:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


class Dom:
    def __init__(self, source):
        b = TreeBuilder()
        b.feed(source)
        b.close()
        self.root = b.root
        self.source = source

    def id(self, ident):
        found = self.root.find(lambda n: n.attrs.get("id") == ident)
        if not found:
            raise Failure(f"no element #{ident} in the rendered DOM")
        return found[0]

    def text(self, ident):
        return " ".join(self.id(ident).text().split())


# --------------------------------------------------------------------------
# PNG: size and pixels (8-bit RGB/RGBA, not interlaced: what Chromium writes)
# --------------------------------------------------------------------------


def png_pixels(path, rows):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise Failure(f"{path} is not a PNG")
    pos, idat, meta = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            meta = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        elif kind == b"IEND":
            break
        pos += 12 + length
    width, height, depth, color, _, _, interlace = meta
    if depth != 8 or color not in (2, 6) or interlace:
        raise Failure(f"{path}: unexpected PNG format depth={depth} color={color}")
    bpp = 3 if color == 2 else 4
    stride = width * bpp
    raw = zlib.decompressobj().decompress(idat, (stride + 1) * rows)
    out, prev = [], bytearray(stride)
    for y in range(min(rows, height)):
        ftype, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(width)])
        prev = line
    return width, height, out


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------


class Failure(Exception):
    pass


class Checks:
    def __init__(self):
        self.passed, self.failed = 0, []

    def check(self, name, cond, detail=""):
        if cond:
            self.passed += 1
        else:
            self.failed.append(f"{name}: {detail}" if detail else name)
            print(f"  FAIL {name}" + (f": {detail}" if detail else ""), flush=True)

    def eq(self, name, got, want):
        self.check(name, got == want, f"got {got!r}, want {want!r}")


def fmt_int(n):
    return f"{n:,}"


def fmt_bytes(n):
    """The page's bytes(): SI units, 1 decimal under 100."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    v, i = float(n), 0
    while abs(v) >= 999.5 and i < len(units) - 1:
        v /= 1000
        i += 1
    if i == 0:
        return f"{round(v)} B"
    return f"{v:.1f} {units[i]}" if abs(v) < 99.95 else f"{round(v)} {units[i]}"


def read_www(name):
    with open(os.path.join(WWW, name), encoding="utf-8") as f:
        return f.read()


# Each page and the one script it loads (a file beside it, same origin).
PAGES = {"index.html": "app.js", "signin.html": "signin.js"}


def check_static(c):
    """Rules the pages must follow whatever the data: CSP and house style."""
    for page, script in PAGES.items():
        html_src = read_www(page)
        c.check(f"static: {page}: no inline event-handler attributes",
                not re.search(r"<[^>]+\son[a-z]+\s*=", html_src, re.I), "found on...= in markup")
        tags = re.findall(r"<script\b[^>]*>(.*?)</script\s*>", html_src, re.I | re.S)
        c.check(f"static: {page}: no inline script", not any(t.strip() for t in tags), "a <script> with a body")
        c.eq(f"static: {page}: its one script, from this site",
             re.findall(r"<script\b([^>]*)>", html_src, re.I), [f' src="/{script}"'])
        c.check(f"static: {page}: no external stylesheets",
                not re.search(r"<link[^>]+rel=.?stylesheet", html_src, re.I))
        js = read_www(script)
        c.check(f"static: {script}: no inline handlers set from script",
                not re.search(r"setAttribute\(\s*['\"]on|\.on[a-z]+\s*=[^=]", js), "on... handler property")
        c.check(f"static: {script}: no innerHTML/outerHTML/insertAdjacentHTML/document.write",
                not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", js + html_src))
        c.check(f"static: {script}: no eval, new Function or string timers",
                not re.search(r"\beval\s*\(|new\s+Function\s*\(|set(Timeout|Interval)\(\s*['\"`]", js))
    src = read_www("index.html") + read_www("app.js")
    c.check("static: no bold weights",
            not re.search(r"font-weight\s*:\s*(bold|[5-9]00)|<(b|strong)>", src, re.I))
    c.check("static: house reset",
            "* { margin: 0; padding: 0; box-sizing: border-box; }" in src)
    c.check("static: favicon", 'href="https://aesthetic.computer/icon/128x128/prompt.png"' in src)
    c.check("static: font stack", "font-family: 'Berkeley Mono Variable', 'Menlo', monospace;" in src)
    c.check("static: follows prefers-color-scheme live",
            "matchMedia('(prefers-color-scheme: light)')" in src and "addEventListener('change'" in src)
    c.check("static: stat grid", "repeat(auto-fit, minmax(180px, 1fr))" in src)
    c.check("static: no email addresses",
            not re.search(r"[\w.+-]+@[\w-]+\.[a-z]{2,}", src, re.I))


def check_common(c, v, dom):
    c.eq(f"{v}: title", " ".join(dom.root.find(lambda n: n.tag == "title")[0].text().split()),
         "silo · Aesthetic Computer")
    c.eq(f"{v}: page polled once", dom.root.find(lambda n: n.tag == "body")[0].attrs.get("data-polled"), "1")
    c.check(f"{v}: body follows the theme",
            "light-mode" not in dom.root.find(lambda n: n.tag == "body")[0].classes(),
            "dark run has light-mode")
    c.check(f"{v}: updated time shown", re.fullmatch(r"\d\d:\d\d:\d\d", dom.text("updated")),
            dom.text("updated"))
    c.eq(f"{v}: h1", dom.text("home"), "silo")


def check_who(c, v, dom, me):
    """The header names who is signed in; admin controls only for admins."""
    if me is None:
        c.check(f"{v}: nobody named", not dom.id("who").visible(), dom.id("who").attrs)
    else:
        c.check(f"{v}: who is shown", dom.id("who").visible(), dom.id("who").attrs)
        c.eq(f"{v}: who name", dom.text("who-name"), me["name"])
        c.eq(f"{v}: who role", dom.text("who-role"), me["role"])
        c.check(f"{v}: sign-out button", dom.id("signout").visible(), dom.id("signout").attrs)
    admin = me is not None and me["role"] == "admin"
    for ident, scope in ADMIN_CONTROLS.items():
        c.eq(f"{v}: {ident} ({scope}) {'shown' if admin else 'hidden'}", dom.id(ident).visible(), admin)
    c.eq(f"{v}: body role", dom.root.find(lambda n: n.tag == "body")[0].attrs.get("data-role"),
         me["role"] if me else "unknown")


def check_signed_out(c, v, dom, requests):
    """No session: /api/auth/me's 401 sends the page to sign-in, with the
    way back, before any panel asks the API."""
    c.check(f"{v}: landed on the sign-in form", dom.root.find(lambda n: n.attrs.get("id") == "signin"),
            dom.source[:300])
    c.check(f"{v}: sign-in asked with next=/", "/signin.html?next=%2F" in requests, requests)
    c.eq(f"{v}: only /api/auth/me was asked", [r for r in requests if "/api/" in r], ["/api/auth/me"])


def check_health_ok(c, v, dom, status="ok"):
    c.eq(f"{v}: health state", dom.id("group-health").attrs.get("data-state"), "ok")
    want_dot = "ok" if status == "ok" else "warn"
    c.check(f"{v}: status dot {want_dot}", want_dot in dom.id("db-dot").classes(), dom.id("db-dot").attrs)
    c.eq(f"{v}: db status", dom.text("v-db-status"), status)
    c.eq(f"{v}: version", dom.text("v-db-version"), "7.0.42")
    c.eq(f"{v}: engine", dom.text("s-db-version"), "mongod")
    c.eq(f"{v}: uptime", dom.text("v-db-uptime"), "14d 0h")
    c.check(f"{v}: connections", "14 open · 838 free" == dom.text("s-db-ping"), dom.text("s-db-ping"))


def check_users_ok(c, v, dom):
    c.eq(f"{v}: users state", dom.id("group-users").attrs.get("data-state"), "ok")
    c.eq(f"{v}: users", dom.text("v-users"), "4,217")
    c.eq(f"{v}: handles", dom.text("v-handles"), "2,773")
    c.eq(f"{v}: verified", dom.text("v-verified"), "3,876")
    c.eq(f"{v}: with DID", dom.text("v-with-did"), "2,946")
    c.eq(f"{v}: handles share", dom.text("s-handles"), "66% of users")


def check_collections_ok(c, v, dom):
    t = COLLECTIONS["totals"]
    for ident in ("group-collections", "categories", "collections"):
        c.eq(f"{v}: {ident} state", dom.id(ident).attrs.get("data-state"), "ok")
    c.eq(f"{v}: total documents", dom.text("v-documents"), fmt_int(t["documents"]))
    c.eq(f"{v}: documents sub", dom.text("s-documents"), "in 38 collections")
    c.eq(f"{v}: data size", dom.text("v-size"), fmt_bytes(t["size_bytes"]))
    c.eq(f"{v}: data size exact", dom.id("v-size").attrs.get("title"), f"{t['size_bytes']:,} bytes")
    c.eq(f"{v}: storage size", dom.text("v-storage"), fmt_bytes(t["storage_bytes"]))
    c.eq(f"{v}: index size", dom.text("v-index"), fmt_bytes(t["index_bytes"]))
    c.eq(f"{v}: index count", dom.text("s-index"),
         f"{sum(r['indexes'] for r in COLLECTIONS['collections'])} indexes")

    rows = [n for n in dom.id("collections-body").children if isinstance(n, Node) and n.tag == "tr"]
    c.eq(f"{v}: collection rows", len(rows), 38)
    names = [r.attrs.get("data-collection") for r in rows]
    c.eq(f"{v}: largest first", names[:3], [r["name"] for r in COLLECTIONS["collections"][:3]])
    c.eq(f"{v}: size sort header", dom.root.find(
        lambda n: n.tag == "th" and n.attrs.get("data-key") == "size_bytes")[0].attrs.get("aria-sort"),
        "descending")
    want = {"boots": ("logs/telemetry", "25,513"), "chat-system": ("chat", "17,853"),
            "kidlisp": ("user content", "14,189"), "paintings": ("user content", "4,358"),
            "users": ("users/auth", "4,217"), "@handles": ("users/auth", "2,773"),
            "jas-stretched-paintings": ("social/misc", "1")}
    by_name = {r.attrs.get("data-collection"): r for r in rows}
    for name, (label, docs) in want.items():
        row = by_name.get(name)
        if row is None:
            c.check(f"{v}: row {name}", False, "missing")
            continue
        cells = [" ".join(td.text().split()) for td in row.children if isinstance(td, Node)]
        fixture = next(r for r in COLLECTIONS["collections"] if r["name"] == name)
        c.eq(f"{v}: row {name}", cells[:4], [name, label, docs, fmt_bytes(fixture["size_bytes"])])
        size_td = [td for td in row.children if isinstance(td, Node)][3]
        c.eq(f"{v}: row {name} exact bytes", size_td.attrs.get("title"), f"{fixture['size_bytes']:,} bytes")
    boots = next(r for r in COLLECTIONS["collections"] if r["name"] == "boots")
    c.check(f"{v}: boots is ~115 MB", fmt_bytes(boots["size_bytes"]) == "115 MB", fmt_bytes(boots["size_bytes"]))

    cat_rows = [n for n in dom.id("categories-body").children if isinstance(n, Node) and n.tag == "tr"]
    c.eq(f"{v}: category rows", [r.attrs.get("data-category") for r in cat_rows],
         [x["id"] for x in sorted(COLLECTIONS["categories"], key=lambda x: -x["size_bytes"])])
    segs = dom.id("category-bar").find(lambda n: "seg" in n.classes())
    c.eq(f"{v}: bar segments (non-empty categories)", len(segs),
         sum(1 for x in COLLECTIONS["categories"] if x["size_bytes"] > 0))
    c.check(f"{v}: bar segment has a size title",
            segs and segs[0].attrs.get("title", "").startswith("logs/telemetry:"),
            segs[0].attrs.get("title") if segs else "no segments")
    c.check(f"{v}: no visible error", not [n for n in dom.root.find(lambda n: "error-box" in n.classes())
                                           if n.visible()])


def service_boxes(dom):
    return {n.attrs.get("data-service"): n for n in dom.id("services-grid").walk()
            if n.attrs.get("data-service")}


def check_services(c, v, dom, statuses):
    c.eq(f"{v}: services state", dom.id("services").attrs.get("data-state"), "ok")
    boxes = service_boxes(dom)
    c.eq(f"{v}: service boxes", list(boxes), ["oven", "session", "atproto"])
    for name, want in statuses.items():
        box = boxes.get(name)
        if box is None:
            continue
        value = [n for n in box.walk() if "stat-value" in n.classes()]
        c.eq(f"{v}: {name} status", " ".join(value[0].text().split()) if value else None, want)
        cls = {"ok": "ok", "degraded": "warn", "unreachable": "down"}[want]
        c.check(f"{v}: {name} coloured {cls}", cls in box.classes(), box.attrs)
    ok = sum(1 for s in statuses.values() if s == "ok")
    c.eq(f"{v}: services meta", dom.text("services-meta"), f"{ok} of 3 ok")
    c.check(f"{v}: oven latency and age", "41 ms · checked 4s ago" in " ".join(boxes["oven"].text().split()),
            boxes["oven"].text())


def check_identity_ok(c, v, dom):
    c.eq(f"{v}: identity state", dom.id("identity").attrs.get("data-state"), "ok")
    for ident, want in IDENTITY_TEXTS.items():
        c.eq(f"{v}: {ident}", " ".join(dom.text(ident).split()), want)
    items = [n for n in dom.id("identity-findings").children if isinstance(n, Node) and n.tag == "li"]
    c.eq(f"{v}: identity findings", [" ".join(n.text().split()) for n in items], IDENTITY_LINES)
    for ident in ("v-id-orphans", "v-id-dups", "v-id-nouser", "v-id-policy"):
        c.check(f"{v}: {ident} coloured warn", "warn" in dom.id(ident).classes(), dom.id(ident).attrs)


def check_identity_clean(c, v, dom):
    c.eq(f"{v}: identity state", dom.id("identity").attrs.get("data-state"), "ok")
    c.eq(f"{v}: identity meta", dom.text("identity-meta"), "0 findings · checked 7s ago")
    c.eq(f"{v}: identity migrated", dom.text("v-id-migrated"), "0")
    c.eq(f"{v}: identity legacy", dom.text("s-id-migrated"), "2,773 still on legacy ids")
    c.eq(f"{v}: identity findings", [n for n in dom.id("identity-findings").children if isinstance(n, Node)], [])
    for ident in ("v-id-orphans", "v-id-dups", "v-id-nouser", "v-id-policy"):
        c.eq(f"{v}: {ident}", dom.text(ident), "0")
        c.check(f"{v}: {ident} coloured ok", "ok" in dom.id(ident).classes(), dom.id(ident).attrs)


def check_identity_error(c, v, dom):
    node = dom.id("identity")
    c.eq(f"{v}: identity state", node.attrs.get("data-state"), "error")
    boxes = [n for n in node.children if isinstance(n, Node) and "error-box" in n.classes()]
    text = " ".join(boxes[0].text().split()) if boxes else ""
    c.check(f"{v}: identity error visible", boxes and boxes[0].visible(), text)
    c.check(f"{v}: identity error", "db_unavailable" in text and f"reading @handles: {DOWN_MESSAGE}" in text, text)
    oks = [n for n in node.children if isinstance(n, Node) and n.attrs.get("data-part") == "ok"]
    c.check(f"{v}: identity data hidden", oks and all("hidden" in n.attrs for n in oks))
    c.eq(f"{v}: identity meta", dom.text("identity-meta"), "unavailable")


# element id -> the text KIDLISP must render as
KIDLISP_TEXTS = {
    "v-kl-total": "14,189", "v-kl-kept": "284", "s-kl-kept": "+ 298 legacy mints",
    "v-kl-pending": "71", "v-kl-new": "1,207",
    "kl-top": "most hit: $bop · 4,987 hits · @müller", "kidlisp-meta": "counted 12s ago",
}


def check_kidlisp_ok(c, v, dom):
    c.eq(f"{v}: kidlisp state", dom.id("kidlisp").attrs.get("data-state"), "ok")
    for ident, want in KIDLISP_TEXTS.items():
        c.eq(f"{v}: {ident}", dom.text(ident), want)


def check_collections_error(c, v, dom):
    msg = f"listCollections: {DOWN_MESSAGE}"
    for ident in ("group-collections", "categories", "collections"):
        node = dom.id(ident)
        c.eq(f"{v}: {ident} state", node.attrs.get("data-state"), "error")
        boxes = [n for n in node.children if isinstance(n, Node) and "error-box" in n.classes()]
        c.check(f"{v}: {ident} error visible", boxes and "hidden" not in boxes[0].attrs)
        text = " ".join(boxes[0].text().split()) if boxes else ""
        c.check(f"{v}: {ident} error code", "db_unavailable" in text, text)
        c.check(f"{v}: {ident} error message", msg in text, text)
        oks = [n for n in node.children if isinstance(n, Node) and n.attrs.get("data-part") == "ok"]
        c.check(f"{v}: {ident} data hidden", oks and all("hidden" in n.attrs for n in oks))


def rows_of(dom, ident, attr):
    """The rows of tbody #ident that carry attr, in page order."""
    return [n for n in dom.id(ident).children if isinstance(n, Node) and n.tag == "tr" and attr in n.attrs]


def cells(row):
    return [" ".join(td.text().split()) for td in row.children if isinstance(td, Node) and td.tag == "td"]


def check_storage_ok(c, v, dom, api):
    """The storage section against the variant's own API answers."""
    usage = api[STORAGE_PATHS["usage"]][1]
    buckets = api[STORAGE_PATHS["buckets"]][1]
    top = api[STORAGE_PATHS["top"]][1]
    points = api[STORAGE_PATHS["history"]][1]["points"]
    for ident in ("storage", "storage-history", "storage-buckets", "storage-users"):
        c.eq(f"{v}: {ident} state", dom.id(ident).attrs.get("data-state"), "ok")
    c.check(f"{v}: storage none note hidden", not dom.id("storage-none").visible())
    c.eq(f"{v}: storage total", dom.text("v-sp-bytes"), fmt_bytes(usage["bytes"]))
    c.eq(f"{v}: storage total exact", dom.id("v-sp-bytes").attrs.get("title"), f"{usage['bytes']:,} bytes")
    c.eq(f"{v}: storage buckets sub", dom.text("s-sp-bytes"), f"in {usage['buckets']} buckets")
    c.eq(f"{v}: storage objects", dom.text("v-sp-objects"), fmt_int(usage["objects"]))
    c.eq(f"{v}: storage users", dom.text("v-sp-users"), fmt_bytes(usage["users"]["bytes"]))
    c.eq(f"{v}: storage users sub", dom.text("s-sp-users"),
         f"{fmt_int(usage['users']['count'])} users · guest {fmt_bytes(usage['guest']['bytes'])}")
    c.eq(f"{v}: snapshot age", dom.text("v-sp-age"), "4m 12s")
    c.eq(f"{v}: storage meta", dom.text("storage-meta"), "snapshot 4m 12s ago")

    rows = rows_of(dom, "buckets-body", "data-bucket")
    c.eq(f"{v}: bucket rows", [r.attrs["data-bucket"] for r in rows], [b["name"] for b in buckets["buckets"]])
    total = buckets["totals"]["bytes"]
    for row, b in zip(rows, buckets["buckets"]):
        got = cells(row)
        share = f"{100 * b['bytes'] / total:.1f}%" if 100 * b["bytes"] / total < 9.95 else \
            f"{round(100 * b['bytes'] / total)}%"
        c.eq(f"{v}: bucket {b['name']}", got[1:], [fmt_int(b["objects"]), fmt_bytes(b["bytes"]), share])
        c.eq(f"{v}: bucket {b['name']} exact bytes",
             [td for td in row.children if isinstance(td, Node)][2].attrs.get("title"), f"{b['bytes']:,} bytes")
        toggle = row.find(lambda n: n.tag == "button")
        detail = dom.id(toggle[0].attrs.get("aria-controls")) if toggle else None
        c.check(f"{v}: bucket {b['name']} has a collapsed toggle",
                toggle and toggle[0].attrs.get("aria-expanded") == "false" and detail is not None
                and not detail.visible(), toggle[0].attrs if toggle else "no button")
        if detail is not None:
            prefixes = detail.find(lambda n: n.tag == "tr" and "data-prefix" in n.attrs)
            c.eq(f"{v}: bucket {b['name']} prefixes",
                 [(r.attrs["data-prefix"], cells(r)[1], cells(r)[2]) for r in prefixes],
                 [(p["prefix"], fmt_int(p["objects"]), fmt_bytes(p["bytes"])) for p in b["prefixes"]])

    rows = rows_of(dom, "top-users-body", "data-user")
    c.eq(f"{v}: top user rows", [r.attrs["data-user"] for r in rows], [u["user"] for u in top["users"]])
    for row, u in zip(rows, top["users"]):
        c.eq(f"{v}: top user {u['rank']}", cells(row),
             [str(u["rank"]), u["handle"] or u["user"], fmt_int(u["objects"]), fmt_bytes(u["bytes"])])
    c.eq(f"{v}: top users heading", dom.text("storage-users-head"),
         f"top users · {len(top['users'])} of {fmt_int(top['users_with_objects'])} with objects")

    chart = dom.id("storage-chart")
    marks = chart.find(lambda n: n.tag == "circle" and "mark" in n.classes())
    c.eq(f"{v}: history marks", [int(m.attrs.get("data-bytes", -1)) for m in marks], [p["bytes"] for p in points])
    c.eq(f"{v}: history line", len(chart.find(lambda n: n.tag == "polyline")), 1 if len(points) > 1 else 0)
    ys = [float(m.attrs["cy"]) for m in marks]
    c.check(f"{v}: history marks inside the chart", all(0 <= y <= 120 for y in ys), ys)
    if len(points) > 1:
        c.check(f"{v}: history grows upwards", ys[-1] < ys[0], ys)
        c.eq(f"{v}: history range", dom.text("storage-chart-range"),
             f"{fmt_bytes(min(p['bytes'] for p in points))} – {fmt_bytes(max(p['bytes'] for p in points))}")
    elif points:
        c.eq(f"{v}: one point sits mid-chart", ys, [60.0])
        c.eq(f"{v}: history one snapshot", dom.text("storage-chart-range"), f"1 snapshot · {fmt_bytes(points[0]['bytes'])}")
    else:
        c.eq(f"{v}: no history", dom.text("storage-chart-from"), "no history yet")
    c.check(f"{v}: storage no visible error",
            not [n for n in dom.id("storage").find(lambda n: "error-box" in n.classes()) if n.visible()])


def check_storage_none(c, v, dom):
    """No snapshot yet: a calm note in the storage section, no red box."""
    for ident in ("storage", "storage-history", "storage-buckets", "storage-users"):
        c.eq(f"{v}: {ident} state", dom.id(ident).attrs.get("data-state"), "none")
    note = dom.id("storage-none")
    c.check(f"{v}: no-snapshot note visible", note.visible(), note.attrs)
    c.check(f"{v}: no-snapshot note says what to run",
            dom.text("storage-none").startswith("no snapshot yet — run silo storage refresh"), dom.text("storage-none"))
    c.eq(f"{v}: last attempt named", dom.text("storage-last-attempt"),
         f"last attempt failed at {LAST_ATTEMPT['finished_at']}: {LAST_ATTEMPT['errors'][0]}")
    c.eq(f"{v}: storage meta", dom.text("storage-meta"), "no snapshot yet")
    oks = [n for n in dom.id("storage").children if isinstance(n, Node) and n.attrs.get("data-part") == "ok"]
    c.check(f"{v}: storage data hidden", oks and all(not n.visible() for n in oks))
    c.check(f"{v}: storage shows no error box",
            not [n for n in dom.id("storage").find(lambda n: "error-box" in n.classes()) if n.visible()])


def check_storage_error(c, v, dom):
    """The database is down: the storage section's own red box."""
    c.eq(f"{v}: storage state", dom.id("storage").attrs.get("data-state"), "error")
    boxes = [n for n in dom.id("storage").children if isinstance(n, Node) and "error-box" in n.classes()]
    text = " ".join(boxes[0].text().split()) if boxes else ""
    c.check(f"{v}: storage error", boxes and boxes[0].visible() and "db_unavailable" in text
            and f"storage snapshots: {DOWN_MESSAGE}" in text, text)
    c.check(f"{v}: storage none note hidden", not dom.id("storage-none").visible())
    c.eq(f"{v}: storage meta", dom.text("storage-meta"), "unavailable")


# status -> (box colour, its line, last backup's age as the page writes it)
BACKUP_EXPECT = {
    "ok": ("ok", "a good backup within the limit", "5h 0m"),
    "stale": ("warn", "the last good backup is older than 26 h", "2d 5h"),
    "failing": ("down", "the newest run failed", "3d 2h"),
}


def check_backups_ok(c, v, dom, api):
    """The backups panel against the variant's /api/backups."""
    b = api["/api/backups"][1]
    colour, line, age = BACKUP_EXPECT[b["status"]]
    good = b["last_success"]
    c.eq(f"{v}: backups state", dom.id("backups").attrs.get("data-state"), "ok")
    c.check(f"{v}: backups none note hidden", not dom.id("backups-none").visible())
    c.eq(f"{v}: backup status", dom.text("v-bk-status"), b["status"])
    c.check(f"{v}: backup status colour", colour in dom.id("backup-status-box").classes(),
            dom.id("backup-status-box").attrs)
    c.eq(f"{v}: backup status line", dom.text("s-bk-status"), line)
    c.eq(f"{v}: last backup age", dom.text("v-bk-age"), age)
    c.eq(f"{v}: backup size", dom.text("v-bk-size"), fmt_bytes(good["bytes"]["stored"]))
    c.eq(f"{v}: backup size exact", dom.id("v-bk-size").attrs.get("title"),
         f"{good['bytes']['stored']:,} bytes")
    c.eq(f"{v}: backup size sub", dom.text("s-bk-size"), f"{good['documents']:,} documents · encrypted")
    c.eq(f"{v}: last verify", dom.text("v-bk-verify"), "ok")
    c.eq(f"{v}: backups meta", dom.text("backups-meta"), f"last good {age} ago")
    rows = [n for n in dom.id("backups-body").children if isinstance(n, Node) and n.tag == "tr"]
    c.eq(f"{v}: backup history rows", len(rows), len(b["backups"]))
    statuses = [cells(r)[1] for r in rows]
    c.eq(f"{v}: backup history statuses", statuses, [r["status"] for r in b["backups"]])
    failed = [r for r in rows if cells(r)[1] == "failed"]
    c.check(f"{v}: failed run's error shown",
            failed and cells(failed[0])[5] == "spaces: PUT part 212: HTTP 503 SlowDown",
            [cells(r) for r in failed])
    c.check(f"{v}: backups shows no error box",
            not [n for n in dom.id("backups").find(lambda n: "error-box" in n.classes()) if n.visible()])


def check_clients(c, v, dom, requests):
    """The clients panel: asked and shown for an admin only."""
    fetched = "/api/db/clients" in requests
    if v in ("viewer", "down"):
        c.check(f"{v}: clients not asked", not fetched, requests)
        return
    c.check(f"{v}: page fetched /api/db/clients", fetched, requests)
    want = VARIANTS[v]["/api/db/clients"][1]
    c.eq(f"{v}: clients state", dom.id("clients").attrs.get("data-state"), "ok")
    rows = [cells(r) for r in dom.id("clients-services-body").children if isinstance(r, Node) and r.tag == "tr"]
    c.eq(f"{v}: clients services", [(r[0], r[1], r[2]) for r in rows],
         [(s["name"], s["match"], str(s["connected"])) for s in want["services"]])
    c.eq(f"{v}: clients never seen", [r[3] == "never" for r in rows],
         [s["last_seen"] is None for s in want["services"]])
    groups = [cells(r) for r in dom.id("clients-groups-body").children if isinstance(r, Node) and r.tag == "tr"]
    c.eq(f"{v}: clients groups", groups,
         [["(none sent)" if g["app"] is None else g["app"], g["address"], g["service"] or "",
           str(g["connections"])] for g in want["groups"]])
    if want["supported"]:
        c.check(f"{v}: clients note hidden", not dom.id("clients-note").visible())
        c.eq(f"{v}: clients meta", dom.text("clients-meta"), "5 connections · 2 of 3 services connected")
    else:
        c.eq(f"{v}: clients note", dom.text("clients-note"),
             f"{want['reason']} ({want['server_said']})")
        c.eq(f"{v}: clients meta", dom.text("clients-meta"), "not reported by this server")


def check_backups_none(c, v, dom):
    """No good backup yet: a calm note naming the last failure, no red box."""
    c.eq(f"{v}: backups state", dom.id("backups").attrs.get("data-state"), "none")
    note = dom.id("backups-none")
    c.check(f"{v}: no-backup note visible", note.visible(), note.attrs)
    c.check(f"{v}: no-backup note says what to run",
            dom.text("backups-none").startswith("no backup yet — run silo backup run"), dom.text("backups-none"))
    c.eq(f"{v}: backups last attempt", dom.text("backups-last-attempt"),
         "last attempt failed at 2026-11-23T03:04:12Z: database: no suitable servers")
    c.eq(f"{v}: backups meta", dom.text("backups-meta"), "no backup yet")
    oks = [n for n in dom.id("backups").children if isinstance(n, Node) and n.attrs.get("data-part") == "ok"]
    c.check(f"{v}: backups data hidden", oks and all(not n.visible() for n in oks))
    c.check(f"{v}: backups shows no error box",
            not [n for n in dom.id("backups").find(lambda n: "error-box" in n.classes()) if n.visible()])


def check_backups_error(c, v, dom):
    """The database is down: the backups panel's own red box."""
    c.eq(f"{v}: backups state", dom.id("backups").attrs.get("data-state"), "error")
    boxes = [n for n in dom.id("backups").children if isinstance(n, Node) and "error-box" in n.classes()]
    text = " ".join(boxes[0].text().split()) if boxes else ""
    c.check(f"{v}: backups error", boxes and boxes[0].visible() and "db_unavailable" in text
            and f"silo.backups: {DOWN_MESSAGE}" in text, text)
    c.check(f"{v}: backups none note hidden", not dom.id("backups-none").visible())
    c.eq(f"{v}: backups meta", dom.text("backups-meta"), "unavailable")


# --------------------------------------------------------------------------
# Interactive checks over the DevTools protocol (--remote-debugging-pipe:
# commands on fd 3, answers on fd 4, each message ends in a NUL byte)
# --------------------------------------------------------------------------

# Puts the two pipe ends on fds 3 and 4, then becomes Chromium.
TRAMPOLINE = """
import fcntl, os, sys
src = (int(sys.argv[1]), int(sys.argv[2]))
tmp = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in src]
os.dup2(tmp[0], 3)
os.dup2(tmp[1], 4)
for fd in tmp + [fd for fd in src if fd not in (3, 4)]:
    os.close(fd)
os.execv(sys.argv[3], sys.argv[3:])
"""


class Cdp:
    """One headless Chromium driven over the DevTools pipe."""

    def __init__(self, binary, theme="dark", size=(1280, 900)):
        self.profile = tempfile.mkdtemp(prefix="silo-chromium-")
        self.errlog = open(os.path.join(self.profile, "stderr.log"), "wb")
        cmd_r, self.cmd_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-default-apps",
                "--disable-extensions", "--mute-audio", f"--user-data-dir={self.profile}",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                f"--blink-settings=preferredColorScheme={0 if theme == 'dark' else 1}",
                f"--window-size={size[0]},{size[1]}", "--remote-debugging-pipe", "about:blank"]
        self.proc = subprocess.Popen([sys.executable, "-c", TRAMPOLINE, str(cmd_r), str(resp_w), *args],
                                     pass_fds=(cmd_r, resp_w), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.errlog, cwd=self.profile,
                                     start_new_session=True)
        os.close(cmd_r)
        os.close(resp_w)
        self.buf, self.next_id, self.events, self.session = b"", 0, [], None

    def close(self):
        for fd in (self.cmd_w, self.resp_r):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        end_group(self.proc)
        self.errlog.close()
        remove_tree(self.profile)

    def _read(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure("DevTools: no answer in time")
            ready, _, _ = select.select([self.resp_r], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(self.resp_r, 65536)
                if not chunk:
                    raise Failure("DevTools: Chromium closed the pipe")
                self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, timeout=20, browser=False):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session and not browser:
            msg["sessionId"] = self.session
        os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise Failure(f"DevTools {method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def pump(self, seconds):
        """Collect events for a while."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                reply = self._read(deadline)
                if "method" in reply:
                    self.events.append(reply)
        except Failure:
            pass

    def attach(self):
        targets = self.send("Target.getTargets", browser=True)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.send("Target.attachToTarget",
                                 {"targetId": page["targetId"], "flatten": True}, browser=True)["sessionId"]
        for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
            self.send(domain)

    def js(self, expression):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            raise Failure(f"page script failed: {expression}: {r['exceptionDetails'].get('text')}")
        return r["result"].get("value")

    def wait_for(self, expression, timeout=15):
        """Poll expression (errors count as false, e.g. mid-navigation)."""
        guarded = f"(() => {{ try {{ return !!({expression}); }} catch (e) {{ return false; }} }})()"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.js(guarded):
                return True
            self.pump(0.2)
        return False

    def navigate(self, url, timeout=20):
        """Go to url and wait until a new document has loaded there (or
        wherever it redirected to)."""
        self.js("window.siloOldPage = true")
        self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
        self.send("Page.navigate", {"url": url})
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            if time.monotonic() > deadline:
                raise Failure(f"{url} did not load within {timeout} s")
            self.pump(0.2)
        # The load event may have been an earlier page's (one a script
        # sent the tab to just before): wait for a document of our own.
        if not self.wait_for("!window.siloOldPage && document.readyState === 'complete'",
                             max(1, deadline - time.monotonic())):
            raise Failure(f"{url} did not load within {timeout} s (at {self.js('location.href')})")

    def click(self, selector):
        # Scrolled into view first: a click lands only inside the viewport.
        box = self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
                      "e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect(); "
                      "return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1],
                                                    "button": "left", "clickCount": 1})

    def fill(self, values):
        """Set input values by element id, as typing would leave them."""
        self.js(f"Object.entries({json.dumps(values)}).forEach(([k, v]) => "
                "{ document.getElementById(k).value = v; })")

    def key(self, selector, key="Enter"):
        self.js(f"document.querySelector({json.dumps(selector)}).focus()")
        # keyDown carries the text a real Enter types, which is what
        # activates a <button>; keydown listeners see the same event.
        for kind in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", {"type": kind, "key": key, "code": key,
                                                  "windowsVirtualKeyCode": 13,
                                                  **({"text": "\r"} if kind == "keyDown" else {})})

    def problems(self, allow_status=()):
        """Script exceptions, console errors and CSP violations so far;
        a failed response the test provoked is no problem: its HTTP status
        is in allow_status, alone or as (status, a part of its URL)."""
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append("exception: " + p["exceptionDetails"].get("text", "")
                           + " " + str(p["exceptionDetails"].get("exception", {}).get("description", "")))
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console.error: " + " ".join(str(a.get("value", a.get("description")))
                                                        for a in p.get("args", [])))
            elif m == "Log.entryAdded":
                entry = p["entry"]
                text = entry.get("text", "")
                # Fetching aesthetic.computer fails here by design (no network);
                # anything else logged as an error is a problem.
                if CSP_LINE.search(text):
                    out.append(f"CSP: {text}")
                elif entry.get("source") == "network" and any(
                        f"status of {a} " in text if isinstance(a, int)
                        else f"status of {a[0]} " in text and a[1] in entry.get("url", "")
                        for a in allow_status):
                    continue
                elif entry.get("level") == "error" and not (
                        entry.get("source") == "network" and "aesthetic.computer" in entry.get("url", "")):
                    out.append(f"log {entry.get('source')}: {text} {entry.get('url', '')}")
        return out


ROWS_JS = "[...document.querySelectorAll('#collections-body tr')].map(r => r.dataset.collection)"

# A page that breaks the policy two ways, an inline script and an inline
# handler; the browser must block and report both.
CSP_CANARY = """<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8"><title>canary</title></head>
<body><p id="canary">blocked</p>
<script>document.getElementById('canary').textContent = 'inline ran';</script>
<img src="/nothing.png" alt="" onerror="document.title = 'handler ran'">
</body></html>"""


def run_csp_canary(c, binary):
    """The CSP detectors catch a page that breaks the policy: without this,
    "no CSP violation" could pass because nothing was looked at."""
    print("CSP canary", flush=True)
    with Server({}, pages={"/csp-canary.html": CSP_CANARY}) as srv:
        url = srv.url + "csp-canary.html"
        source, violations = chromium(binary, url, ["--dump-dom"])
        c.check("canary: the inline script was blocked", 'id="canary">blocked<' in source, source[-300:])
        c.check("canary: console reports the inline script",
                any("inline script" in v for v in violations), violations)
        c.check("canary: console reports the inline handler",
                any("inline event handler" in v for v in violations), violations)
        cdp = Cdp(binary)
        try:
            cdp.attach()
            cdp.navigate(url)
            cdp.pump(0.5)
            found = [p for p in cdp.problems() if p.startswith("CSP")]
            c.check("canary: DevTools reports the violations", len(found) >= 2, cdp.problems())
        finally:
            cdp.close()


# The fixture's POST /api/auth/login: ada/right signs in; tess needs a
# TOTP code (123456); slow is throttled; anything else is wrong.
WRONG = {"error": {"code": "unauthorized", "message": "wrong user name, password or code"}}
COOKIE = {"Set-Cookie": "silo_session=fixture; Path=/; HttpOnly; SameSite=Strict"}


def fixture_login(body):
    if not isinstance(body, dict) or set(body) - {"user", "password", "totp"}:
        return 400, {"error": {"code": "bad_request", "message": "not a login object"}}, {}
    user, password, code = body.get("user"), body.get("password"), body.get("totp")
    if user == "slow":
        return 429, {"error": {"code": "too_many_attempts", "message": "too many attempts"}}, {"Retry-After": "3"}
    if user == "ada" and password == "right" and code is None:
        return 200, {"user": {"name": "ada", "role": "admin"}, "session": SESSION}, COOKIE
    if user == "tess" and password == "right" and code is None:
        return 401, {"error": {"code": "totp_required", "message": "enter the code from your app"}}, {}
    if user == "tess" and password == "right" and code == "123456":
        return 200, {"user": {"name": "tess", "role": "admin"}, "session": SESSION}, COOKIE
    return 401, WRONG, {}


# The dashboard polls every 10 s: a change on the server shows by then.
POLL_WAIT_S = 15
SHOWN_JS = "(() => {{ const e = document.getElementById('{0}'); return !!e && !e.hidden; }})()"
# ?next= values that lead off the site: each must land on / instead.
OFF_SITE = ["//evil.example/", "/\\evil.example/", "https://evil.example/", "/\t/evil.example/",
            "javascript:alert(1)", "evil"]


def sign_in(cdp, user, password):
    """Type a name and password into the sign-in page (once it is there,
    and its button enabled) and press the button."""
    cdp.wait_for("document.getElementById('submit') && !document.getElementById('submit').disabled", 5)
    cdp.fill({"user": user, "password": password})
    cdp.click("#submit")


def run_signin_fixture(c, binary):
    """The sign-in page and the dashboard's own auth controls against
    fixture answers: wrong password, TOTP, 429, ?next= (also hostile
    ones), the admin actions, sign-out."""
    print("sign-in (fixture, DevTools pipe)", flush=True)
    api = dict(VARIANTS["ok"], **{"POST /api/auth/login": (200, fixture_login)})
    with Server(api) as srv:
        origin = srv.url.rstrip("/")
        cdp = Cdp(binary)
        try:
            cdp.attach()
            cdp.navigate(srv.url + "signin.html?next=" + urllib.parse.quote("/?view=1#storage", safe=""))
            c.eq("signin: title", cdp.js("document.title"), "silo · Aesthetic Computer")
            c.eq("signin: user name field focused", cdp.js("document.activeElement.id"), "user")
            c.eq("signin: no TOTP field yet", cdp.js(SHOWN_JS.format("totp-field")), False)

            sign_in(cdp, "ada", "wrong")
            c.check("signin: wrong password says so", cdp.wait_for(
                "document.getElementById('message').textContent === 'wrong user name, password or code'", 5),
                cdp.js("document.getElementById('message').textContent"))
            c.eq("signin: wrong password clears the password", cdp.js("document.getElementById('password').value"), "")
            c.eq("signin: still on the sign-in page", cdp.js("location.pathname"), "/signin.html")
            path, sent_origin, body = srv.httpd.posts[-1]
            c.eq("signin: posts JSON to /api/auth/login", (path, json.loads(body)),
                 ("/api/auth/login", {"user": "ada", "password": "wrong"}))
            c.eq("signin: the POST carries the site's Origin", sent_origin, origin)

            sign_in(cdp, "ada", "right")
            c.check("signin: goes to ?next= after signing in", cdp.wait_for(
                "location.pathname + location.search + location.hash === '/?view=1#storage'", 5),
                cdp.js("location.href"))
            c.check("signin: the dashboard then renders", cdp.wait_for("document.body.dataset.polled === '1'"))

            for nxt in OFF_SITE:
                cdp.navigate(srv.url + "signin.html?next=" + urllib.parse.quote(nxt, safe=""))
                sign_in(cdp, "ada", "right")
                c.check(f"signin: next={nxt!r} lands on / instead", cdp.wait_for(
                    f"location.origin === {json.dumps(origin)} && location.pathname === '/'", 5),
                    cdp.js("location.href"))

            cdp.navigate(srv.url + "signin.html")
            sign_in(cdp, "tess", "right")
            c.check("signin: totp_required shows the code field",
                    cdp.wait_for(SHOWN_JS.format("totp-field"), 5))
            c.eq("signin: and says why", cdp.js("document.getElementById('message').textContent"),
                 "enter the code from your app")
            c.eq("signin: the code field has the focus", cdp.js("document.activeElement.id"), "totp")
            cdp.fill({"totp": "123456"})
            cdp.click("#submit")
            c.check("signin: with the code it signs in, to /", cdp.wait_for(
                "location.pathname === '/' && location.search === ''", 5), cdp.js("location.href"))
            c.eq("signin: the code went in the JSON", json.loads(srv.httpd.posts[-1][2]),
                 {"user": "tess", "password": "right", "totp": "123456"})

            cdp.navigate(srv.url + "signin.html")
            sign_in(cdp, "slow", "whatever")
            c.check("signin: 429 shows the wait", cdp.wait_for(
                "document.getElementById('message').textContent === 'too many attempts: try again in 3 s'", 5),
                cdp.js("document.getElementById('message').textContent"))
            c.eq("signin: and disables the button", cdp.js("document.getElementById('submit').disabled"), True)
            c.check("signin: counts down", cdp.wait_for(
                "document.getElementById('submit').textContent === 'wait 2 s'", 3))
            c.check("signin: the button comes back after Retry-After", cdp.wait_for(
                "!document.getElementById('submit').disabled", 5))

            # The dashboard's admin actions and sign-out.
            cdp.navigate(srv.url)
            c.check("actions: dashboard polled", cdp.wait_for("document.body.dataset.polled === '1'"))
            cdp.click("#storage-refresh")
            c.check("actions: refresh now says started", cdp.wait_for(
                "document.getElementById('storage-refresh-result').textContent === 'started'", 5))
            c.eq("actions: POSTed with the site's Origin", srv.httpd.posts[-1][:2], ("/api/storage/refresh", origin))
            cdp.click("#backups-run")
            c.check("actions: back up now says one runs", cdp.wait_for(
                "document.getElementById('backups-run-result').textContent === 'one is already running'", 5))
            cdp.click("#signout")
            c.check("signout: lands on the sign-in page",
                    cdp.wait_for("location.pathname === '/signin.html'", 5), cdp.js("location.href"))
            c.eq("signout: POSTed /api/auth/logout", srv.httpd.posts[-1][:2], ("/api/auth/logout", origin))
            cdp.pump(0.5)
            problems = cdp.problems(allow_status=(401, 409, 429))
            c.check("signin: no script errors or CSP violations", not problems, "; ".join(problems))
        finally:
            cdp.close()


# GET /api/users/:id as the users helper's contract answers it.
JEFFREY_SUB, JEFFREY_DID = "auth0|63effeeb2a7d55f8d1c5c1a1", "did:plc:k3a7pxqv2mdg5r4n6t8w0yzb"
USER_DOCS = [("paintings", 812), ("kidlisp", 301), ("moods", 97), ("pieces", 12), ("@handles", 1)]
USER_BUCKETS = [("user-aesthetic-computer", 2190, 4118224110,
                 [("painting", 2101, 3912443120), ("piece", 89, 205781000)]),
                ("at-blobs-aesthetic-computer", 22, 2110446, [("tapes", 22, 2110446)])]
USER_JEFFREY = {
    "query": "jeffrey",
    "user": {"sub": JEFFREY_SUB, "handle": "jeffrey", "did": JEFFREY_DID, "created": "2023-02-17T18:02:35.000Z"},
    "documents": {"total": sum(n for _, n in USER_DOCS),
                  "collections": [{"name": name, "count": n} for name, n in USER_DOCS]},
    "storage": {"snapshot_at": SNAPSHOT_AT, "age_s": SNAPSHOT_AGE_S, "user": JEFFREY_SUB, "handle": "jeffrey",
                "bytes": sum(b[2] for b in USER_BUCKETS), "objects": sum(b[1] for b in USER_BUCKETS),
                "buckets": [{"name": name, "objects": o, "bytes": b,
                             "kinds": [{"kind": k, "objects": ko, "bytes": kb} for k, ko, kb in kinds]}
                            for name, o, b, kinds in USER_BUCKETS]}}
# no handle, no DID, no documents, and no storage snapshot yet
USER_BARE = {"query": "google-oauth2|108234120449812330412",
             "user": {"sub": "google-oauth2|108234120449812330412", "handle": None, "did": None,
                      "created": "2024-06-01T09:00:00.000Z"},
             "documents": {"total": 0, "collections": []},
             "storage": NO_SNAPSHOT}
# the storage part failing on its own: the rest of the answer shows
USER_STORAGE_DOWN = dict(USER_JEFFREY, query="fifi", storage=down("storage snapshots"))
NOT_FOUND_USER = {"error": {"code": "not_found", "message": "no user with that handle, sub or DID"}}
BAD_ID = {"error": {"code": "bad_request", "message": "not a handle, auth0 sub or DID: did:nope"}}
USERS_API = {
    "/api/users/jeffrey": (200, USER_JEFFREY),
    "/api/users/" + urllib.parse.quote(JEFFREY_SUB, safe=""): (200, dict(USER_JEFFREY, query=JEFFREY_SUB)),
    "/api/users/" + urllib.parse.quote(JEFFREY_DID, safe=""): (200, dict(USER_JEFFREY, query=JEFFREY_DID)),
    "/api/users/" + urllib.parse.quote(USER_BARE["query"], safe=""): (200, USER_BARE),
    "/api/users/fifi": (200, USER_STORAGE_DOWN),
    "/api/users/nobody": (404, NOT_FOUND_USER),
    "/api/users/did%3Anope": (400, BAD_ID),
}

TEXT_JS = "(() => {{ const e = document.getElementById('{0}'); return e ? e.textContent.replace(/\\s+/g, ' ').trim() : null; }})()"


def search(cdp, query, enter=False):
    cdp.fill({"user-search-input": query})
    if enter:
        cdp.key("#user-search-input")
    else:
        cdp.click("#user-search-go")
    cdp.wait_for("document.getElementById('user-search').dataset.state !== 'loading'", 5)


def run_search_fixture(c, binary):
    """The user search panel: by handle (Enter), sub and DID (the button),
    its ids, documents and storage; a storage error, 404, 400, empty."""
    print("user search (fixture, DevTools pipe)", flush=True)
    with Server(dict(VARIANTS["ok"], **USERS_API)) as srv:
        cdp = Cdp(binary)
        try:
            cdp.attach()
            cdp.navigate(srv.url)
            c.check("search: dashboard polled", cdp.wait_for("document.body.dataset.polled === '1'"))
            c.eq("search: idle at first", cdp.js("document.getElementById('user-search').dataset.state"), "idle")
            c.eq("search: no result shown at first", cdp.js(SHOWN_JS.format("user-result")), False)
            t = lambda ident: cdp.js(TEXT_JS.format(ident))  # noqa: E731
            state = lambda: cdp.js("document.getElementById('user-search').dataset.state")  # noqa: E731

            search(cdp, "jeffrey", enter=True)
            c.eq("search: Enter looks up a handle", state(), "ok")
            c.check("search: asked /api/users/jeffrey", "/api/users/jeffrey" in srv.httpd.requests,
                    srv.httpd.requests[-3:])
            c.eq("search: handle", t("user-handle"), "jeffrey")
            c.eq("search: sub", t("user-sub"), JEFFREY_SUB)
            c.eq("search: DID", t("user-did"), JEFFREY_DID)
            c.eq("search: created", cdp.js("document.getElementById('user-created').title"),
                 "2023-02-17T18:02:35.000Z")
            c.eq("search: documents total", t("v-user-docs"), fmt_int(sum(n for _, n in USER_DOCS)))
            c.eq("search: documents sub", t("s-user-docs"), f"in {len(USER_DOCS)} collections")
            c.eq("search: documents per collection", cdp.js(
                "[...document.querySelectorAll('#user-docs-body tr[data-collection]')]"
                ".map(r => [...r.cells].slice(0, 2).map(td => td.textContent))"),
                [[name, fmt_int(n)] for name, n in USER_DOCS])
            c.eq("search: storage state", cdp.js("document.getElementById('user-storage').dataset.state"), "ok")
            c.eq("search: bytes in spaces", t("v-user-bytes"), fmt_bytes(sum(b[2] for b in USER_BUCKETS)))
            c.eq("search: objects and snapshot age", t("s-user-bytes"),
                 f"{fmt_int(sum(b[1] for b in USER_BUCKETS))} objects · snapshot 4m 12s ago")
            c.eq("search: buckets", cdp.js(
                "[...document.querySelectorAll('#user-buckets-body tr[data-bucket]')]"
                ".map(r => [...r.cells].map(td => td.textContent))"),
                [[name, fmt_int(o), fmt_bytes(b), " · ".join(f"{k} {fmt_bytes(kb)}" for k, _, kb in kinds)]
                 for name, o, b, kinds in USER_BUCKETS])
            c.eq("search: meta names the user", t("user-search-meta"), "jeffrey")

            for label, query in (("sub", JEFFREY_SUB), ("DID", JEFFREY_DID)):
                search(cdp, query)
                want = "/api/users/" + urllib.parse.quote(query, safe="")
                c.check(f"search: by {label}, encoded in the path", want in srv.httpd.requests,
                        srv.httpd.requests[-3:])
                c.eq(f"search: by {label} shows jeffrey", (state(), t("user-handle")), ("ok", "jeffrey"))

            search(cdp, USER_BARE["query"])
            c.eq("search: a bare user", state(), "ok")
            c.eq("search: missing ids say none", [t("user-handle"), t("user-did")], ["none", "none"])
            c.eq("search: no documents", t("user-docs-body"), "no documents")
            c.eq("search: no snapshot is a calm state of the storage part",
                 cdp.js("document.getElementById('user-storage').dataset.state"), "none")
            c.eq("search: its note, no red box", [cdp.js(SHOWN_JS.format("user-storage-none")), cdp.js(
                "document.querySelector('#user-storage > .error-box').hidden")], [True, True])
            c.eq("search: storage sub", t("s-user-bytes"), "no snapshot yet")
            c.eq("search: meta falls back to the sub", t("user-search-meta"), USER_BARE["query"])

            search(cdp, "fifi")
            c.eq("search: a storage error in its part only", [state(), cdp.js(
                "document.getElementById('user-storage').dataset.state"), t("user-handle")],
                ["ok", "error", "jeffrey"])
            box = "document.querySelector('#user-storage > .error-box')"
            c.eq("search: the storage error names its code and message", cdp.js(
                f"[{box}.hidden, {box}.querySelector('.error-code').textContent, "
                f"{box}.querySelector('.error-message').textContent]"),
                [False, "db_unavailable", f"storage snapshots: {DOWN_MESSAGE}"])
            c.eq("search: storage sub says unavailable", t("s-user-bytes"), "unavailable")

            for query, code, message in (("nobody", "not_found", NOT_FOUND_USER["error"]["message"]),
                                         ("did:nope", "bad_request", BAD_ID["error"]["message"])):
                search(cdp, query)
                c.eq(f"search: {code} state", state(), "error")
                c.eq(f"search: {code} hides the last result", cdp.js(SHOWN_JS.format("user-result")), False)
                box = "document.querySelector('#user-search > .error-box')"
                c.eq(f"search: {code} shown in the panel", cdp.js(
                    f"[{box}.hidden, {box}.querySelector('.error-code').textContent, "
                    f"{box}.querySelector('.error-message').textContent]"), [False, code, message])
            search(cdp, "   ")
            c.eq("search: empty asks for an id", cdp.js(
                "document.querySelector('#user-search > .error-box .error-message').textContent"),
                "enter a handle, auth0 sub or DID")
            search(cdp, "jeffrey")
            c.eq("search: a good answer clears the error", [state(), cdp.js(
                "document.querySelector('#user-search > .error-box').hidden")], ["ok", True])
            cdp.pump(0.3)
            problems = cdp.problems(allow_status=(400, 404))
            c.check("search: no script errors or CSP violations", not problems, "; ".join(problems))
        finally:
            cdp.close()


def run_interactive(c, binary):
    """Sorting by mouse and keyboard, live theme switching, polling, clean console."""
    print("interactive (DevTools pipe)", flush=True)
    by = {r["name"]: r for r in COLLECTIONS["collections"]}
    with Server(VARIANTS["ok"]) as srv:
        cdp = Cdp(binary)
        try:
            cdp.attach()
            cdp.navigate(srv.url)
            c.check("interactive: first poll rendered",
                    cdp.wait_for("document.body.dataset.polled === '1'"), "data-polled never became 1")

            cdp.click("th[data-key='documents']")
            rows = cdp.js(ROWS_JS)
            docs = [by[n]["documents"] for n in rows]
            c.check("interactive: click documents sorts descending", docs == sorted(docs, reverse=True),
                    rows[:5])
            c.eq("interactive: documents header aria-sort",
                 cdp.js("document.querySelector(\"th[data-key='documents']\").getAttribute('aria-sort')"),
                 "descending")
            c.eq("interactive: most documents first", rows[0], "oven-grabs")

            cdp.click("th[data-key='documents']")
            rows = cdp.js(ROWS_JS)
            docs = [by[n]["documents"] for n in rows]
            c.check("interactive: second click sorts ascending", docs == sorted(docs), rows[:5])
            c.eq("interactive: fewest documents first", rows[0], "jas-stretched-paintings")

            cdp.click("th[data-key='name']")
            c.check("interactive: click name sorts A to Z", cdp.js(
                f"(() => {{ const r = {ROWS_JS}; return r.length === 38 && "
                "r.every((n, i) => i === 0 || r[i - 1].localeCompare(n, 'en') <= 0); })()"))
            c.eq("interactive: meta names the sort", cdp.js("document.getElementById('collections-meta').textContent"),
                 "38 collections · sorted by name ↑")

            cdp.key("th[data-key='index_bytes']")
            rows = cdp.js(ROWS_JS)
            sizes = [by[n]["index_bytes"] for n in rows]
            c.check("interactive: Enter on index size sorts descending", sizes == sorted(sizes, reverse=True),
                    rows[:5])

            # Bucket prefixes: collapsed, opened by mouse and by keyboard.
            art = "tr[data-bucket='art-aesthetic-computer'] button"
            user = "tr[data-bucket='user-aesthetic-computer'] button"
            shown = ("(() => {{ const b = document.querySelector(\"{0}\"); "
                     "return [b.getAttribute('aria-expanded'), "
                     "!document.getElementById(b.getAttribute('aria-controls')).hidden]; }})()")
            c.eq("interactive: bucket prefixes start collapsed", cdp.js(shown.format(art)), ["false", False])
            cdp.click(art)
            c.eq("interactive: click opens a bucket's prefixes", cdp.js(shown.format(art)), ["true", True])
            c.eq("interactive: prefix rows shown", cdp.js(
                "document.querySelectorAll(\"tr[data-prefixes-of='art-aesthetic-computer'] tr[data-prefix]\").length"),
                len(SPACES[0][1]))
            cdp.key(user)
            c.eq("interactive: Enter opens a bucket's prefixes", cdp.js(shown.format(user)), ["true", True])
            cdp.key(user)
            c.eq("interactive: Enter closes it again", cdp.js(shown.format(user)), ["false", False])

            bg = "getComputedStyle(document.body).backgroundColor"
            c.eq("interactive: dark background", cdp.js(bg), "rgb(26, 26, 46)")
            cdp.send("Emulation.setEmulatedMedia",
                     {"features": [{"name": "prefers-color-scheme", "value": "light"}]})
            c.check("interactive: switches to light live",
                    cdp.wait_for("document.body.classList.contains('light-mode')", timeout=5))
            c.eq("interactive: light background", cdp.js(bg), "rgb(245, 245, 245)")
            c.eq("interactive: light category colour follows the theme",
                 cdp.js("getComputedStyle(document.querySelector('.swatch.cat-chat')).backgroundColor"),
                 "rgb(8, 145, 178)")
            cdp.send("Emulation.setEmulatedMedia",
                     {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
            c.check("interactive: switches back to dark live",
                    cdp.wait_for("!document.body.classList.contains('light-mode')", timeout=5))

            before = srv.httpd.requests.count("/api/db/health")
            c.check("interactive: polls again after 10 s",
                    cdp.wait_for("document.body.dataset.polled === '2'", timeout=16),
                    "no second poll within 16 s")
            # one poll is one request per route: exactly one more
            c.eq("interactive: second poll hit the API", srv.httpd.requests.count("/api/db/health"), before + 1)
            c.eq("interactive: sort survives a poll",
                 cdp.js("document.querySelector(\"th[data-key='index_bytes']\").getAttribute('aria-sort')"),
                 "descending")
            c.eq("interactive: open bucket survives a poll", cdp.js(shown.format(art)), ["true", True])

            # Hidden tab: no polling; visible again: poll at once.
            hide = ("Object.defineProperty(document, 'hidden', {configurable: true, get: () => %s}); "
                    "document.dispatchEvent(new Event('visibilitychange')); true")
            cdp.js(hide % "true")
            before = srv.httpd.requests.count("/api/db/health")
            cdp.pump(11.5)
            c.eq("interactive: no polling while hidden", cdp.js("document.body.dataset.polled"), "2")
            c.eq("interactive: no API calls while hidden", srv.httpd.requests.count("/api/db/health"), before)
            cdp.js(hide % "false")
            c.check("interactive: polls at once when visible again",
                    cdp.wait_for("document.body.dataset.polled === '3'", timeout=3))

            cdp.pump(0.5)
            problems = cdp.problems()
            c.check("interactive: no script errors or CSP violations", not problems, "; ".join(problems))
        finally:
            cdp.close()


def run_variant(c, binary, name, shots, out):
    print(f"variant {name}", flush=True)
    with Server(VARIANTS[name]) as srv:
        source, violations = chromium(binary, srv.url, ["--dump-dom"])
        c.check(f"{name}: no CSP violation", not violations, "; ".join(violations))
        dom = Dom(source)
        if name == "signedout":
            check_signed_out(c, name, dom, srv.httpd.requests)
        else:
            check_rendered(c, name, dom, srv.httpd.requests)
        c.check(f"{name}: no email in DOM", not re.search(r"[\w.+-]+@[\w-]+\.[a-z]{2,}", dom.source, re.I))
        take_screenshots(c, binary, name, srv.url, shots, out)


def check_rendered(c, name, dom, requests):
    """The dashboard as a variant's answers must render it."""
    check_who(c, name, dom, {"down": None, "viewer": ME_VIEWER}.get(name, ME_ADMIN))
    for path in ("/api/auth/me", "/api/db/health", "/api/db/collections", "/api/db/users/count", "/api/overview",
                 "/api/storage/usage", "/api/storage/buckets", "/api/storage/top-users?limit=10",
                 "/api/storage/history", "/api/backups?limit=7", "/api/services/atproto"):
        c.check(f"{name}: page fetched {path}", path in requests, requests)
    check_common(c, name, dom)
    check_clients(c, name, dom, requests)
    if name in ("ok", "nosnapshot", "viewer"):
        check_health_ok(c, name, dom)
        check_users_ok(c, name, dom)
        check_collections_ok(c, name, dom)
        check_services(c, name, dom, {"oven": "ok", "session": "ok", "atproto": "ok"})
        check_identity_ok(c, name, dom)
        check_kidlisp_ok(c, name, dom)
        if name in ("ok", "viewer"):
            check_storage_ok(c, name, dom, VARIANTS[name])
            check_backups_ok(c, name, dom, VARIANTS[name])
        else:
            check_storage_none(c, name, dom)
            check_backups_none(c, name, dom)
    elif name == "collections503":
        check_health_ok(c, name, dom)
        check_users_ok(c, name, dom)
        check_collections_error(c, name, dom)
        check_services(c, name, dom, {"oven": "ok", "session": "ok", "atproto": "ok"})
        check_identity_ok(c, name, dom)
        check_kidlisp_ok(c, name, dom)
        check_storage_ok(c, name, dom, VARIANTS[name])
        check_backups_ok(c, name, dom, VARIANTS[name])
    elif name == "degraded":
        check_health_ok(c, name, dom, status="degraded")
        c.check(f"{name}: reason in header", "ping slower than SILO_DB_SLOW_MS" in dom.text("db-status-text"),
                dom.text("db-status-text"))
        check_collections_ok(c, name, dom)
        check_services(c, name, dom, {"oven": "ok", "session": "ok", "atproto": "unreachable"})
        pds = " ".join(service_boxes(dom)["atproto"].text().split())
        c.check(f"{name}: PDS reason shown", PDS_DOWN in pds, pds)
        check_identity_clean(c, name, dom)
        check_storage_ok(c, name, dom, VARIANTS[name])
        check_backups_ok(c, name, dom, VARIANTS[name])
    elif name == "down":
        c.check(f"{name}: status dot red", "down" in dom.id("db-dot").classes(), dom.id("db-dot").attrs)
        c.eq(f"{name}: db status", dom.text("v-db-status"), "down")
        c.check(f"{name}: reason in header", f"ping: {DOWN_MESSAGE}" in dom.text("db-status-text"),
                dom.text("db-status-text"))
        c.eq(f"{name}: health state", dom.id("group-health").attrs.get("data-state"), "error")
        box = [n for n in dom.id("group-health").find(lambda n: "error-box" in n.classes()) if n.visible()]
        code = box[0].find(lambda n: "error-code" in n.classes()) if box else []
        msg = box[0].find(lambda n: "error-message" in n.classes()) if box else []
        c.check(f"{name}: health error box", len(box) == 1 and code and msg, box)
        if box and code and msg:
            c.eq(f"{name}: health error code", code[0].text(), "db_unavailable")
            c.eq(f"{name}: health error reason", msg[0].text(), f"ping: {DOWN_MESSAGE}")
        c.check(f"{name}: down since", re.fullmatch(r"since \d\d:\d\d:\d\d", dom.text("s-db-status")),
                dom.text("s-db-status"))
        check_collections_error(c, name, dom)
        users = " ".join(dom.id("group-users").text().split())
        c.check(f"{name}: users error", "db_unavailable" in users and "users: No suitable" in users, users)
        # the overview answered: its services panel is whole, only the
        # kidlisp section, which needs the database, shows its error
        check_services(c, name, dom, {"oven": "ok", "session": "ok", "atproto": "ok"})
        check_identity_error(c, name, dom)
        c.eq(f"{name}: kidlisp state", dom.id("kidlisp").attrs.get("data-state"), "error")
        kl = " ".join(dom.id("kidlisp").text().split())
        c.check(f"{name}: kidlisp error", "db_unavailable" in kl and "kidlisp stats: No suitable" in kl, kl)
        check_storage_error(c, name, dom)
        check_backups_error(c, name, dom)


def take_screenshots(c, binary, name, url, shots, out):
    """The page at url in each (theme, size): written, sized, its background."""
    for theme, (w, h) in shots:
        path = os.path.join(out, f"{name}-{theme}-{w}x{h}.png")
        _, violations = chromium(binary, url, [f"--screenshot={path}", f"--window-size={w},{h}"],
                                 theme=theme)
        c.check(f"{name}: {theme} {w}x{h}: no CSP violation", not violations, "; ".join(violations))
        c.check(f"{name}: screenshot {os.path.basename(path)} written", os.path.isfile(path))
        if not os.path.isfile(path):
            continue
        pw, ph, px = png_pixels(path, 3)
        c.eq(f"{name}: {os.path.basename(path)} size", (pw, ph), (w, h))
        want = (0x1a, 0x1a, 0x2e) if theme == "dark" else (0xf5, 0xf5, 0xf5)
        c.eq(f"{name}: {os.path.basename(path)} background", px[1][1], want)
        print(f"  screenshot {path}", flush=True)


# --------------------------------------------------------------------------
# Live: the pages against the real stack (FerretDB, `silo serve`, Caddy)
# --------------------------------------------------------------------------

LIVE_USERS = {"ada": "admin", "grace": "viewer"}   # name -> role; passwords are made per run
SANITIZER = re.compile(r"ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:|SUMMARY: \w+Sanitizer")
LIVE_SCALE = 0.01     # AC's dataset at 1%: its users are what the search finds
ME_PAGE = "<!DOCTYPE html><html lang=\"en\"><head><title>mongo-express stand-in</title></head><body></body></html>"


def totp_now(secret_b32, at=None):
    """RFC 6238 with SHA-1, 30 s steps, 6 digits: what an authenticator shows."""
    import base64
    import hashlib
    import hmac
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    step = int((time.time() if at is None else at) // 30)
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 15
    return f"{(struct.unpack('>I', mac[off:off + 4])[0] & 0x7fffffff) % 1000000:06d}"


class Live:
    """FerretDB with AC's dataset at LIVE_SCALE and silo's users, `silo
    serve` and Caddy serving www/ under the production Caddyfile, all on
    loopback in a temporary folder; pymongo for what a test changes
    behind silo's back (a session's times)."""

    def __init__(self, silo_bin):
        sys.path.insert(0, os.path.join(ROOT, "tools"))
        import stack_process
        import stack_services
        self.sp, self.sv = stack_process, stack_services
        self.silo_bin = silo_bin
        self.root = tempfile.mkdtemp(prefix="silo-browser-live-")
        self.logs = os.path.join(self.root, "logs")
        os.makedirs(self.logs)
        self.passwords = {}
        self.totp_secret = None

    def env(self):
        return self.sp.clean_env(MONGODB_CONNECTION_STRING=self.fdb.uri, SILO_ENV_FILE="/dev/null")

    def silo_cli(self, *argv, stdin=""):
        """One `silo ...` command; its stderr is kept with the logs the
        sanitizer check reads."""
        r = subprocess.run([self.silo_bin, *argv], input=stdin, env=self.env(), capture_output=True,
                           text=True, timeout=120)
        with open(os.path.join(self.logs, "silo-cli.log"), "a") as f:
            f.write(f"--- silo {' '.join(argv)}\n{r.stderr}")
        if r.returncode != 0:
            raise Failure(f"silo {' '.join(argv)} exited {r.returncode}: {r.stderr[-600:]}")
        return r.stdout

    def start(self):
        import pymongo
        sv = self.sv
        self.fdb = sv.ferretdb(os.path.join(self.root, "ferretdb"),
                               log_path=os.path.join(self.logs, "ferretdb.log")).start()
        sv.load_ac_dataset(self.silo_bin, self.fdb.uri, self.root, scale=LIVE_SCALE,
                           log_path=os.path.join(self.logs, "silo-import.log"))
        for name, role in LIVE_USERS.items():
            self.passwords[name] = "pw-" + os.urandom(9).hex()
            self.silo_cli("user", "add", name, "--role", role, stdin=self.passwords[name] + "\n")
        self.passwords["tess"] = "pw-" + os.urandom(9).hex()
        out = self.silo_cli("user", "add", "tess", "--role", "admin", "--totp",
                            stdin=self.passwords["tess"] + "\n")
        m = re.search(r"secret=([A-Z2-7]+)", out)
        self.totp_secret = m.group(1) if m else None
        sock = sv.socket_path(self.root)
        self.silo = sv.silo(self.silo_bin, self.fdb.uri, sock, os.path.join(self.logs, "silo.log"),
                            workers=2, rundir=self.root).start()
        # mongo-express's stand-in: a page that shows who got through the gate
        self.mongo_express = Server({}, pages={"/db/": ME_PAGE}).__enter__()
        self.caddy = sv.caddy(self.sp.free_port(), sock, self.root, os.path.join(self.logs, "caddy.log"),
                              www=WWW, mongo_express_addr=f"127.0.0.1:{self.mongo_express.httpd.server_address[1]}",
                              ).start()
        self.url = self.caddy.url + "/"
        self.mongo = pymongo.MongoClient(self.fdb.uri, serverSelectionTimeoutMS=5000)
        return self

    def a_user(self):
        """An AC user of the dataset with a handle and paintings, so that
        the search has documents to show: (sub, handle)."""
        db = self.mongo["aesthetic"]
        for doc in db["@handles"].find({"handle": {"$type": "string"}}, sort=[("_id", 1)]).limit(200):
            if db["paintings"].count_documents({"user": doc["_id"]}, limit=1):
                return doc["_id"], doc["handle"]
        raise Failure("no user of the dataset has a handle and a painting")

    def expire_sessions(self, user):
        """Make user's sessions idle for longer than SILO_SESSION_IDLE_S
        (8 h by default): silo must now treat them as over."""
        import datetime
        past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=9)
        r = self.mongo["silo"]["sessions"].update_many({"user": user}, {"$set": {"seen": past}})
        return r.matched_count

    def sanitizer_reports(self):
        """Stop silo (a leak report is written at exit) and read every log
        a silo process wrote its stderr to."""
        rc = self.silo.stop()
        found = [] if rc == 0 else [f"silo serve exited {rc}"]
        for name in ("silo.log", "silo-import.log", "silo-cli.log"):
            path = os.path.join(self.logs, name)
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    found += [f"{name}: {ln.strip()}" for ln in f if SANITIZER.search(ln)]
        return found

    def stop(self):
        if getattr(self, "mongo", None) is not None:
            self.mongo.close()
        if getattr(self, "mongo_express", None) is not None:
            self.mongo_express.__exit__(None, None, None)
        self.sp.stop_all()
        shutil.rmtree(self.root, ignore_errors=True)


def run_live(c, binary, silo_bin):
    """Sign-in, a wrong password, TOTP, sign-out, an expired session, a
    viewer and the user search, in Chromium against the real stack."""
    print(f"live: FerretDB, {silo_bin} serve, Caddy", flush=True)
    live = Live(silo_bin)
    cdp = None
    try:
        live.start()
        url, origin = live.url, live.url.rstrip("/")
        cdp = Cdp(binary)
        cdp.attach()
        on_signin = "location.pathname === '/signin.html'"
        polled = "document.body.dataset.polled === '1'"

        cdp.navigate(url)
        c.check("live: signed out, / goes to the sign-in page", cdp.wait_for(
            f"{on_signin} && location.search === '?next=%2F'", 10), cdp.js("location.href"))

        # /db: Caddy's forward_auth asks silo, which sends a browser
        # without a session to sign in, with the way back.
        cdp.send("Page.navigate", {"url": url + "db/"})
        c.check("live: signed out, /db/ goes to the sign-in page", cdp.wait_for(
            f"{on_signin} && new URLSearchParams(location.search).get('next') === '/db/'", 10),
            cdp.js("location.href"))

        sign_in(cdp, "ada", "not-the-password")
        c.check("live: a wrong password says so", cdp.wait_for(
            "document.getElementById('message').textContent === 'wrong user name, password or code'", 10),
            cdp.js("document.getElementById('message').textContent"))
        c.check("live: and stays on the sign-in page", cdp.js(on_signin))

        sign_in(cdp, "ada", live.passwords["ada"])
        c.check("live: ada signs in and goes back to /db/, through the gate", cdp.wait_for(
            "location.pathname === '/db/' && document.title === 'mongo-express stand-in'", 10),
            cdp.js("location.href"))
        cdp.navigate(url)
        c.check("live: the dashboard renders for ada", cdp.wait_for(polled, 20))
        c.eq("live: who", [cdp.js(TEXT_JS.format("who-name")), cdp.js(TEXT_JS.format("who-role"))],
             ["ada", "admin"])
        c.eq("live: an admin sees the admin controls",
             {i: cdp.js(SHOWN_JS.format(i)) for i in ADMIN_CONTROLS}, {i: True for i in ADMIN_CONTROLS})
        c.eq("live: the database panel answers", cdp.js("document.getElementById('group-health').dataset.state"),
             "ok")
        cookies = {k["name"]: k for k in cdp.send("Network.getCookies", {"urls": [url]})["cookies"]}
        jar = cookies.get("silo_session", {})
        c.eq("live: the session cookie is HttpOnly and SameSite=Strict",
             (jar.get("httpOnly"), jar.get("sameSite"), jar.get("path")), (True, "Strict", "/"))
        c.eq("live: no script can read it", cdp.js("document.cookie.includes('silo_session')"), False)

        # The search, against the real GET /api/users/:id.
        sub, handle = live.a_user()
        for query in (handle, sub):
            search(cdp, query)
            c.eq(f"live: search {query!r}", [cdp.js("document.getElementById('user-search').dataset.state"),
                                             cdp.js(TEXT_JS.format("user-handle")),
                                             cdp.js(TEXT_JS.format("user-sub"))], ["ok", handle, sub])
        answer = cdp.js(f"fetch('/api/users/' + encodeURIComponent({json.dumps(sub)})).then(r => r.json())")
        docs = answer.get("documents", {}) if isinstance(answer, dict) else {}
        c.check("live: the user has paintings in the answer",
                any(d.get("name") == "paintings" and d.get("count", 0) > 0 for d in docs.get("collections", [])),
                docs)
        c.eq("live: search shows the answer's documents per collection", cdp.js(
            "[...document.querySelectorAll('#user-docs-body tr[data-collection]')]"
            ".map(r => [r.dataset.collection, r.cells[1].textContent])"),
            [[d["name"], fmt_int(d["count"])] for d in docs.get("collections", [])])
        c.eq("live: and their total", cdp.js(TEXT_JS.format("v-user-docs")), fmt_int(docs.get("total", -1)))
        c.eq("live: no snapshot in this stack: the storage part's calm note",
             [cdp.js("document.getElementById('user-storage').dataset.state"),
              cdp.js(SHOWN_JS.format("user-storage-none"))], ["none", True])
        search(cdp, "nobody-" + os.urandom(4).hex())
        c.eq("live: an unknown handle is not_found, in the panel", cdp.js(
            "document.querySelector('#user-search > .error-box .error-code').textContent"), "not_found")

        # Sign-out ends the session on the server, not only in the page.
        cdp.click("#signout")
        c.check("live: sign-out lands on the sign-in page", cdp.wait_for(on_signin, 10), cdp.js("location.href"))
        c.eq("live: the session document is gone", live.mongo["silo"]["sessions"].count_documents({"user": "ada"}), 0)
        cdp.navigate(url)
        c.check("live: after sign-out / asks to sign in again", cdp.wait_for(on_signin, 10),
                cdp.js("location.href"))

        # A viewer: the panels, no admin controls.
        sign_in(cdp, "grace", live.passwords["grace"])
        c.check("live: grace (viewer) signs in", cdp.wait_for(polled, 20), cdp.js("location.href"))
        c.eq("live: viewer who", [cdp.js(TEXT_JS.format("who-name")), cdp.js(TEXT_JS.format("who-role"))],
             ["grace", "viewer"])
        c.eq("live: a viewer sees no admin control",
             {i: cdp.js(SHOWN_JS.format(i)) for i in ADMIN_CONTROLS}, {i: False for i in ADMIN_CONTROLS})
        c.eq("live: a viewer sees the collections", cdp.js(
            "document.getElementById('collections').dataset.state"), "ok")
        cdp.navigate(url + "db/")
        c.eq("live: and is turned away from /db/", [cdp.js("location.pathname"), cdp.js("document.title"),
                                                    cdp.js("document.body.innerText.includes('forbidden')")],
             ["/db/", "", True])
        cdp.navigate(url)
        c.check("live: back on the dashboard", cdp.wait_for(polled, 20))

        # The session expires while the dashboard is open: its next poll
        # gets a 401 and the page goes to sign in, with the way back.
        c.eq("live: one session of grace's to expire", live.expire_sessions("grace"), 1)
        c.check("live: an expired session lands on the sign-in page", cdp.wait_for(
            f"{on_signin} && location.search === '?next=%2F'", POLL_WAIT_S), cdp.js("location.href"))

        # TOTP: the code field appears only after the right password.
        c.check("live: silo user add --totp printed a secret", live.totp_secret, "no secret= in its output")
        if live.totp_secret:
            sign_in(cdp, "tess", live.passwords["tess"])
            c.check("live: totp_required shows the code field",
                    cdp.wait_for(SHOWN_JS.format("totp-field"), 10))
            cdp.fill({"totp": totp_now(live.totp_secret)})
            cdp.click("#submit")
            c.check("live: with the code tess signs in", cdp.wait_for(
                "location.pathname === '/' && document.body.dataset.polled === '1'", 20), cdp.js("location.href"))

        cdp.pump(0.3)
        # 503 no_snapshot: the live stack has no Spaces, a calm state;
        # 403 on /db/: the viewer turned away
        problems = cdp.problems(allow_status=(401, 404, (503, "/api/storage/"), (403, "/db/")))
        c.check("live: no script errors or CSP violations", not problems, "; ".join(problems))
        cdp.close()
        cdp = None
        reports = live.sanitizer_reports()
        c.check("live: no sanitizer reports from any silo", not reports, "; ".join(reports[:5]))
    finally:
        if cdp is not None:
            cdp.close()
        live.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="folder for the screenshots (default: a new temporary folder)")
    ap.add_argument("--chromium", help="Chromium binary (default /usr/bin/chromium, installed if missing)")
    ap.add_argument("--www", help="folder to serve instead of the repository's www/")
    ap.add_argument("--live", metavar="SILO",
                    help="instead of the fixtures: check sign-in against the real stack with this silo "
                         "(needs tools/stack install: FerretDB, Caddy, and pymongo in this Python)")
    opts = ap.parse_args()
    global WWW
    if opts.www:
        WWW = os.path.abspath(opts.www)

    if not os.path.isfile(os.path.join(WWW, "index.html")):
        print(f"FAIL: {WWW}/index.html is missing")
        return 1
    binary = find_chromium(opts.chromium)

    c = Checks()
    if opts.live:
        try:
            run_live(c, binary, os.path.abspath(opts.live))
        except Failure as e:
            c.failed.append(str(e))
            print(f"  FAIL {e}", flush=True)
        return summary(c, None)
    out = opts.out or tempfile.mkdtemp(prefix="silo-dashboard-shots-")
    os.makedirs(out, exist_ok=True)
    check_static(c)
    all_shots = [("dark", (1280, 900)), ("light", (1280, 900)),
                 ("dark", (400, 900)), ("light", (400, 900))]
    plan = {"ok": all_shots,
            "collections503": [("dark", (1280, 900)), ("light", (400, 900))],
            "degraded": [],
            "nosnapshot": [("dark", (1280, 900)), ("light", (400, 900))],
            "down": [("dark", (1280, 900))],
            "viewer": [("light", (1280, 900))],
            "signedout": [("dark", (1280, 900)), ("light", (400, 900))]}
    try:
        for name, shots in plan.items():
            run_variant(c, binary, name, shots, out)
        run_csp_canary(c, binary)
        run_interactive(c, binary)
        run_signin_fixture(c, binary)
        run_search_fixture(c, binary)
    except Failure as e:
        c.failed.append(str(e))
        print(f"  FAIL {e}", flush=True)

    return summary(c, out)


def summary(c, out):
    if out:
        print(f"screenshots in {out}")
    print(f"{c.passed} passed, {len(c.failed)} failed")
    if c.failed:
        print("FAILED:\n  " + "\n  ".join(c.failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
