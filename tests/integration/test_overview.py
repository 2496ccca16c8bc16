"""/api/overview: every section from the generated dataset, the latest
storage snapshot, freshness, ETag/304, and one failing part at a time."""

import math
import re
import time
from datetime import datetime, timedelta, timezone

import pytest

import fcgi
import stack_process as sp
import stack_services as sv
from conftest import ADMIN_TOKEN, CACHE_TTL_S, DB_NAME, health_state

SECTIONS = ["database", "collections", "users", "storage", "services",
            "kidlisp", "backup", "silo"]


def overview(stack, headers=None, status=200):
    r = stack.get("/api/overview", headers=headers)
    assert r.status == status, r
    return r


def serving_since(stack):
    """When the shared silo logged that it serves (epoch seconds): after
    it took its start time."""
    for line in stack.silo.log_path.read_text().splitlines():
        m = re.match(r"(\S+Z) silo\[\d+\] info: silo \S+ serving on ", line)
        if m:
            return datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ") \
                .replace(tzinfo=timezone.utc).timestamp()
    raise AssertionError("no 'serving on' line in " + str(stack.silo.log_path))


def test_every_section_from_the_data(stack, acdata):
    stack.clear_cache()
    t0 = time.time()
    r = overview(stack)
    t1 = time.time()
    body = r.json()
    assert set(SECTIONS) <= set(body), sorted(body)
    assert body["status"] == "ok" and body["degraded"] == [], body
    # collections: totals of what acdata put in, by category
    col = body["collections"]
    assert col["status"] == "ok"
    assert "collections" not in col        # the list stays in /api/db
    assert col["totals"]["collections"] == len(acdata)
    assert col["totals"]["documents"] == sum(len(d) for d in acdata.values())
    cats = {c["id"]: c["documents"] for c in col["categories"]}
    assert cats["content"] == sum(len(acdata[n]) for n in (
        "kidlisp", "paintings", "moods", "pieces", "tapes"))
    # users, as /api/db/users/count says
    users = [u for u in acdata["users"] if u["_id"] != "art-guest"]
    assert body["users"]["users"] == len(users)
    assert body["users"]["handles"] == len(acdata["@handles"])
    db = body["database"]
    assert (db["status"], db.get("reason")) == health_state(db), db
    assert body["database"]["database"] == DB_NAME
    # kidlisp headline, as /api/kidlisp/stats says
    kl = stack.get("/api/kidlisp/stats").json()
    assert body["kidlisp"]["total"] == len(acdata["kidlisp"]) == kl["total"]
    assert body["kidlisp"]["keeps"] == kl["keeps"]
    assert body["kidlisp"]["top"]["code"] == kl["top"][0]["code"]
    # services: the fakes are healthy
    assert {k: v["status"] for k, v in body["services"].items()} == \
        {"oven": "ok", "session": "ok", "atproto": "ok"}
    # backup: the shared stack never backs up (test_backups_api.py has
    # the overview after real runs)
    assert body["backup"] == {
        "status": "none", "stale_after_h": 26, "last_success": None,
        "last_success_age_s": None, "last_verification": None,
        "cached_at": body["backup"]["cached_at"],
        "age_s": body["backup"]["age_s"]}, body["backup"]
    assert body["silo"]["version"] and body["silo"]["workers"] == 3
    # whole seconds since silo took its start time, which lies between
    # the test starting it and its "serving on" log line
    assert math.floor(t0 - serving_since(stack)) <= \
        body["silo"]["uptime_s"] <= math.floor(t1 - stack.silo_started), \
        body["silo"]
    # freshness per cached section
    for name in ("database", "collections", "users", "storage", "kidlisp",
                 "backup"):
        assert body[name]["cached_at"].endswith("Z"), name
        assert 0 <= body[name]["age_s"] <= CACHE_TTL_S + 1, name
    for s in body["services"].values():
        assert "cached_at" in s and "age_s" in s


def test_storage_none_then_latest_good_snapshot(stack, acdata):
    stack.clear_cache()
    st = overview(stack).json()["storage"]
    assert st["status"] == "none" and st["reason"] == "no snapshot yet"
    now = datetime.now(timezone.utc).replace(microsecond=0)
    snaps = [
        {"status": "ok", "finished_at": now - timedelta(days=2),
         "totals": {"bytes": 111, "objects": 1}},
        {"status": "ok", "finished_at": now - timedelta(hours=3),
         "totals": {"bytes": 5 * 2**40 + 7, "objects": 123456}},
        {"status": "failed", "finished_at": now - timedelta(hours=1),
         "totals": {"bytes": 9, "objects": 9}},
    ]
    with stack.mongo() as client:
        coll = client["silo"]["storage_snapshots"]
        coll.insert_many(snaps)
        try:
            stack.clear_cache()
            st = overview(stack).json()["storage"]
        finally:
            coll.drop()
    assert st["status"] == "ok", st
    assert st["bytes"] == 5 * 2**40 + 7 and st["objects"] == 123456
    assert st["finished_at"] == (now - timedelta(hours=3)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    assert abs(st["snapshot_age_s"] - 3 * 3600) < 120


def test_etag_and_304(stack, acdata):
    stack.clear_cache()
    first = overview(stack)
    tag = first.header("ETag")
    assert tag and tag.startswith('W/"'), tag
    assert first.header("Cache-Control") == "no-cache"
    again = overview(stack, {"If-None-Match": tag}, status=304)
    assert again.body == b""
    assert again.header("ETag") == tag
    # Ages, uptimes and latencies move; once every section has been made
    # again the content is the same, and so is the tag.
    time.sleep(CACHE_TTL_S + 0.5)
    later = overview(stack)
    assert later.json()["database"]["cached_at"] != \
        first.json()["database"]["cached_at"]
    assert later.header("ETag") == tag
    overview(stack, {"If-None-Match": f'"x", {tag}'}, status=304)
    overview(stack, {"If-None-Match": "*"}, status=304)
    # a change in the data changes the tag
    with stack.mongo() as client:
        client[DB_NAME].kidlisp.insert_one({"code": "zzz-new", "hits": 0})
    try:
        stack.clear_cache()
        changed = overview(stack, {"If-None-Match": tag})
        assert changed.header("ETag") != tag
    finally:
        with stack.mongo() as client:
            client[DB_NAME].kidlisp.delete_one({"code": "zzz-new"})
        stack.clear_cache()


@pytest.fixture(scope="module")
def long_ttl(stack):
    """A second silo on the same database and stand-ins with a 60 s cache
    (the shared one has 2 s, for the TTL tests), so that a cold overview
    that takes seconds on a loaded machine is still cached when it is
    asked again; spoken to over FastCGI.  Its cache is its own."""
    rundir = stack.root / "long-ttl"
    rundir.mkdir(parents=True, exist_ok=True)
    sock = sv.socket_path(rundir, "silo.sock")
    s = sv.silo(stack.silo_bin, stack.fdb.uri, sock,
                stack.silo_log(rundir / "silo.log"), workers=1,
                db_name=DB_NAME, rundir=rundir, SILO_ADMIN_TOKEN=ADMIN_TOKEN,
                SILO_CACHE_TTL_S=60, OVEN_URL=stack.fakes["oven"].url,
                SESSION_URL=stack.fakes["session"].url,
                PDS_URL=stack.fakes["pds"].url,
                SILO_PROBE_TIMEOUT_MS=1000, SILO_PROBE_CONNECT_MS=500).start()
    try:
        yield str(sock)
    finally:
        s.stop()


def test_ages_grow_while_the_overview_is_cached(long_ttl, acdata):
    """A cached overview keeps each section's cached_at, and its age_s
    grows by the time that passed, to within the 0.1 s it is cut to."""
    def get():
        r = fcgi.get(long_ttl, "/api/overview")
        assert r.status == 200, r.body[:300]
        return r.json()
    t0 = time.monotonic()
    first = get()
    t1 = time.monotonic()
    time.sleep(0.5)
    t2 = time.monotonic()
    again = get()
    t3 = time.monotonic()
    aged = [again[n] for n in ("database", "collections", "users", "storage",
                               "kidlisp")] + list(again["services"].values())
    fresh = [first[n] for n in ("database", "collections", "users", "storage",
                                "kidlisp")] + list(first["services"].values())
    for was, now in zip(fresh, aged):
        assert now["cached_at"] == was["cached_at"], (was, now)
        grew = now["age_s"] - was["age_s"]
        assert t2 - t1 - 0.2 <= grew <= t3 - t0 + 0.2, (was, now, t3 - t0)


def test_dead_service_changes_its_section_only(stack, acdata):
    stack.clear_cache()
    tag = overview(stack).header("ETag")
    stack.fakes["pds"].set_state("dead")
    try:
        stack.clear_cache()
        r = overview(stack)
        body = r.json()
        assert r.status == 200
        assert body["services"]["atproto"]["status"] == "unreachable"
        assert body["services"]["oven"]["status"] == "ok"
        assert body["collections"]["status"] == "ok"
        assert r.header("ETag") != tag
    finally:
        stack.fakes["pds"].set_state("healthy")
        stack.clear_cache()


@pytest.mark.run_last(scope="module")
def test_database_down_degrades_its_sections_alone(stack, acdata):
    """Last in this module (run_last): it stops and restarts FerretDB."""
    stack.clear_cache()
    stack.fdb.stop()
    try:
        r = overview(stack)
        body = r.json()
        assert r.status == 200, r
        assert body["status"] == "degraded"
        failed = {"database", "collections", "users", "storage", "kidlisp",
                  "backup"}
        assert set(body["degraded"]) == failed, body["degraded"]
        for name in failed:
            assert body[name]["error"]["code"] == "db_unavailable", body[name]
        # the parts that need no database are whole
        assert body["services"]["oven"]["status"] == "ok"
        assert body["silo"]["status"] == "ok"
        assert r.elapsed < 10, r.elapsed
    finally:
        stack.restart_ferretdb()
        stack.clear_cache()
    # failures are not cached: the overview recovers as soon as the
    # workers reconnect (libmongoc waits up to 5 s before retrying)
    sp.wait_until(lambda: overview(stack).json()["status"] == "ok", 20,
                  "the overview to recover")
    # and every worker, not only the one that answered, before the next
    # module: each waits out its own client's cooldown
    time.sleep(5.5)
    sp.wait_until(lambda: all(stack.get("/api/db/health").status == 200
                              for _ in range(9)), 20, "every worker to reconnect")
