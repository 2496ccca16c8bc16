"""/api/services/*: probes of the fake oven, session server and PDS
(tools/ac_standins.py) in every state, the shared cache, and the
ATProto sync figures computed here from the generated dataset."""

import concurrent.futures
import re
import subprocess
import time
from datetime import datetime, timezone

import pytest

from conftest import CACHE_TTL_S, PROBE_TIMEOUT_MS
from ac_standins import (OVEN_VERSION, PDS_VERSION, SESSION_CLIENTS,
                         SESSION_PRIVATE)

# How long a probe of a slow or dead service may make silo take, at most:
# the probe timeout plus generous slack (a behaviour bound, not a benchmark).
SLOW_BOUND_S = PROBE_TIMEOUT_MS / 1000 + 1.5

SERVICES = {"oven": "oven", "session": "session", "atproto": "pds"}
# The path each service's answer names when the service cannot be reached.
FIRST_PROBE = {"oven": "/health", "session": "/status",
               "atproto": "/xrpc/_health"}


def curl_says(url):
    """libcurl's own words for what goes wrong fetching url (the curl
    command runs on the same library), with its timing made a pattern."""
    r = subprocess.run(["curl", "-sS", "--max-time", "5", url],
                       capture_output=True, text=True)
    words = r.stderr.strip().split(": ", 1)[1]     # "curl: (7) ..."
    assert words.startswith(f"({r.returncode}) "), r.stderr
    timing = r"after \d+ ms"
    return timing.join(re.escape(part) for part in
                       re.split(timing, words.split(" ", 1)[1]))


@pytest.fixture
def fakes(stack, acdata):
    """Every fake healthy and the cache empty, before and after a test."""
    def reset():
        for f in stack.fakes.values():
            f.set_state("healthy")
            f.reset_hits()
        stack.clear_cache()
    reset()
    yield stack.fakes
    reset()


def get_json(stack, path):
    r = stack.get(path)
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("application/json")
    return r.json(), r


def test_oven_healthy(stack, fakes, acdata):
    # the fake's uptime just before and just after silo asked it
    before = fakes["oven"].routes["/status"]()["uptime"]
    body, _ = get_json(stack, "/api/services/oven")
    after = fakes["oven"].routes["/status"]()["uptime"]
    assert body["service"] == "oven"
    assert body["status"] == "ok", body
    assert body["reason"] is None
    assert body["url"] == fakes["oven"].url
    assert body["health"] == "ok"
    assert body["version"] == OVEN_VERSION
    assert body["bakes"] == {"incoming": 1, "active": 2, "recent": 5}
    assert body["grabs"] == {"active": 1, "recent": 3}
    assert 0 <= body["latency_ms"] < PROBE_TIMEOUT_MS
    assert before <= body["uptime"] <= after, (before, body, after)
    # recent bakes: the newest completedAt (a number of ms) first
    bakes = sorted(acdata["oven-bakes"], key=lambda d: -d["completedAt"])[:10]
    got = body["recent_bakes"]
    assert [b["code"] for b in got] == [b["code"] for b in bakes]
    for g, b in zip(got, bakes):
        when = datetime.fromtimestamp(b["completedAt"] / 1000, timezone.utc)
        assert g["completed_at"] == when.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert g["success"] == b["success"]
        assert g["duration_ms"] == b["duration"]
        assert g["status"] == b["status"]
        if "error" in b:
            assert g["error"] == b["error"].split("\n")[0]
    assert body["recent_bakes_error"] is None
    assert fakes["oven"].hits["/health"] == 1
    assert fakes["oven"].hits["/status"] == 1


@pytest.mark.parametrize("route,fake", sorted(SERVICES.items()))
def test_dead_is_unreachable_at_once(stack, fakes, route, fake):
    fakes[fake].set_state("dead")
    assert fakes[fake].refused()
    body, r = get_json(stack, f"/api/services/{route}")
    assert body["status"] == "unreachable", body
    url = fakes[fake].url + FIRST_PROBE[route]
    assert re.fullmatch(re.escape(url) + ": " + curl_says(url),
                        body["reason"]), body["reason"]
    assert r.elapsed < SLOW_BOUND_S, r.elapsed


@pytest.mark.parametrize("route,fake", sorted(SERVICES.items()))
def test_slow_is_unreachable_within_the_timeout(stack, fakes, route, fake):
    fakes[fake].set_state("slow")
    body, r = get_json(stack, f"/api/services/{route}")
    assert body["status"] == "unreachable", body
    assert "timed out" in body["reason"].lower(), body["reason"]
    assert r.elapsed < SLOW_BOUND_S, r.elapsed
    assert body["latency_ms"] >= PROBE_TIMEOUT_MS * 0.9, body


@pytest.mark.parametrize("route,fake", sorted(SERVICES.items()))
def test_http_error_is_degraded(stack, fakes, route, fake):
    fakes[fake].set_state("error")
    body, _ = get_json(stack, f"/api/services/{route}")
    assert body["status"] == "degraded", body
    assert "HTTP 500" in body["reason"], body["reason"]


def test_all_services_at_once_within_one_timeout(stack, fakes):
    for f in fakes.values():
        f.set_state("slow")
    body, r = get_json(stack, "/api/services")
    # three services, four probes, run together: one timeout, not four
    assert r.elapsed < SLOW_BOUND_S, r.elapsed
    assert body["status"] == "degraded"
    assert body["ok"] == 0 and body["total"] == 3
    assert {k: v["status"] for k, v in body["services"].items()} == \
        {"oven": "unreachable", "session": "unreachable",
         "atproto": "unreachable"}


def test_all_services_healthy_and_one_dead(stack, fakes):
    body, _ = get_json(stack, "/api/services")
    assert body["status"] == "ok" and body["ok"] == 3, body
    stack.clear_cache()
    fakes["session"].set_state("dead")
    body, _ = get_json(stack, "/api/services")
    assert body["status"] == "degraded" and body["ok"] == 2
    assert body["services"]["session"]["status"] == "unreachable"
    assert body["services"]["oven"]["status"] == "ok"


def test_session_totals_and_no_personal_data(stack, fakes):
    body, r = get_json(stack, "/api/services/session")
    assert body["status"] == "ok", body
    assert body["totals"] == {
        "websocket": sum(c["connectionCount"]["websocket"]
                         for c in SESSION_CLIENTS),
        "udp": sum(c["connectionCount"]["udp"] for c in SESSION_CLIENTS),
        "unique_clients": len(SESSION_CLIENTS)}
    assert body["connections"] == {
        "clients": len(SESSION_CLIENTS),
        "websocket": sum(c["connectionCount"]["websocket"]
                         for c in SESSION_CLIENTS),
        "udp": sum(c["connectionCount"]["udp"] for c in SESSION_CLIENTS),
        "total": sum(c["connectionCount"]["total"] for c in SESSION_CLIENTS),
        "multiple_tabs": sum(1 for c in SESSION_CLIENTS if c["multipleTabs"])}
    assert body["environment"] == "production"
    text = r.body.decode()
    for private in SESSION_PRIVATE:
        assert private not in text, private
    # nor in the combined answer or the overview
    for path in ("/api/services", "/api/overview"):
        text = stack.get(path).body.decode()
        for private in SESSION_PRIVATE:
            assert private not in text, (path, private)


def test_pds_health(stack, fakes):
    body, _ = get_json(stack, "/api/services/atproto")
    assert body["status"] == "ok", body
    assert body["version"] == PDS_VERSION


def test_cache_ttl(stack, fakes):
    oven = fakes["oven"]
    first, _ = get_json(stack, "/api/services/oven")
    assert oven.hits["/health"] == 1
    assert first["age_s"] < 1
    again, _ = get_json(stack, "/api/services/oven")
    assert oven.hits["/health"] == 1, "a second request within the TTL probed"
    assert again["cached_at"] == first["cached_at"]
    assert 0 <= again["age_s"] <= CACHE_TTL_S
    time.sleep(CACHE_TTL_S + 0.3)
    later, _ = get_json(stack, "/api/services/oven")
    assert oven.hits["/health"] == 2, "the TTL passed, yet nothing probed"
    assert later["age_s"] < 1


def test_burst_makes_one_probe(stack, fakes):
    session = fakes["session"]
    session.set_state("healthy", delay=0.4)   # a probe takes a while

    def ask(_):
        return stack.get("/api/services/session")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(8)))
    assert all(a.status == 200 for a in answers)
    assert all(a.json()["status"] == "ok" for a in answers), answers
    assert session.hits["/status"] == 1, session.hits


def test_stale_value_served_while_refreshing(stack, fakes):
    oven = fakes["oven"]
    get_json(stack, "/api/services/oven")
    time.sleep(CACHE_TTL_S + 0.3)
    oven.set_state("healthy", delay=0.8)

    def ask(_):
        return stack.get("/api/services/oven")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow_one = pool.submit(ask, 0)
        time.sleep(0.3)                 # the first holds the refresh lock
        quick = ask(1)
        slow = slow_one.result()
    assert quick.json()["age_s"] > CACHE_TTL_S, quick.json()
    assert quick.elapsed < 0.6, quick.elapsed
    assert slow.json()["age_s"] < 1
    assert oven.hits["/health"] == 2


# ------------------------------------------------------------- ATProto sync

def _synced(d):
    a = d.get("atproto")
    return isinstance(a, dict) and isinstance(a.get("rkey"), str)


def expected_sync(acdata):
    flags = {"paintings": "nuked", "moods": "deleted", "kidlisp": None,
             "pieces": "nuked", "tapes": "nuked", "news-posts": None}
    out = {}
    for name, flag in flags.items():
        docs = acdata[name]
        out_of = [d for d in docs if flag and d.get(flag) is True]
        eligible = [d for d in docs if not (flag and d.get(flag) is True)]
        user = [d for d in eligible if isinstance(d.get("user"), str)]
        guest = [d for d in eligible if not isinstance(d.get("user"), str)]
        out[name] = {
            "eligible": len(eligible),
            "synced": sum(map(_synced, eligible)),
            "unsynced": len(eligible) - sum(map(_synced, eligible)),
            "user": {"eligible": len(user), "synced": sum(map(_synced, user))},
            "guest": {"eligible": len(guest),
                      "synced": sum(map(_synced, guest))},
            "excluded": len(out_of),
            "leftover_records": sum(map(_synced, out_of)),
        }
    return out


def test_atproto_sync_counts(stack, fakes, acdata):
    body, _ = get_json(stack, "/api/services/atproto")
    assert body["sync_error"] is None, body
    want = expected_sync(acdata)
    got = {c["collection"]: c for c in body["sync"]["collections"]}
    assert list(got) == list(want)
    for name, w in want.items():
        g = dict(got[name])
        assert g.pop("collection") == name
        pct = g.pop("percent")
        assert g == w, name
        assert abs(pct - (100 * w["synced"] / w["eligible"]
                          if w["eligible"] else 0)) < 0.1
    # the dataset has some of everything this checks
    assert want["paintings"]["leftover_records"] > 0
    assert want["moods"]["excluded"] > 0
    assert want["news-posts"]["guest"]["eligible"] > 0


def test_atproto_sync_users(stack, fakes, acdata):
    body, _ = get_json(stack, "/api/services/atproto")
    users = [u for u in acdata["users"] if u["_id"] != "art-guest"]
    did = [u for u in users if isinstance(u.get("atproto", {}).get("did"), str)
           or u["_id"].startswith("did:")]
    synced = [u["atproto"]["syncedAt"] for u in users
              if "syncedAt" in u.get("atproto", {})]
    got = body["sync"]["users"]
    assert got["users"] == len(users)
    assert got["with_did"] == len(did)
    assert got["auth0_only"] == len(users) - len(did)
    assert got["synced"] == len(synced)
    every = synced

    def iso(d):
        return d.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert got["newest_synced_at"] == iso(max(every))
    assert got["oldest_synced_at"] == iso(min(every))
    age = time.time() - min(every).replace(tzinfo=timezone.utc).timestamp()
    assert abs(got["oldest_synced_age_s"] - age) < 60
