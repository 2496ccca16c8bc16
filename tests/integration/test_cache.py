"""The shared cache (src/cache.c): /api/db/health makes one database round
trip a second for all workers, /api/db/collections one scan per TTL
(stale while it is made again), and the directory stays within
SILO_CACHE_MAX_ENTRIES, SILO_CACHE_MAX_BYTES and SILO_CACHE_MAX_VARIANTS
however many parameter combinations are asked, the oldest evicted first.

Each test has a silo of its own, logging at debug level: every value the
cache makes is one "cache: making <key>" line, so the lines count the
work done on misses, whichever worker did it."""

import calendar
import concurrent.futures
import time

import pytest

import fcgi
import stack_services as sv
from conftest import ADMIN_TOKEN, DB_NAME

TTL_S = 3
UNTIL = "2026-02-09"
UNTIL_S = calendar.timegm(time.strptime(UNTIL, "%Y-%m-%d"))


class Silo:
    def __init__(self, stack, name, **env):
        rundir = stack.root / name
        rundir.mkdir(parents=True, exist_ok=True)
        self.sock = sv.socket_path(rundir, "silo.sock")
        self.log = rundir / "silo.log"
        self.s = sv.silo(stack.silo_bin, stack.fdb.uri, self.sock,
                         stack.silo_log(self.log), workers=3,
                         db_name=DB_NAME, rundir=rundir,
                         SILO_ADMIN_TOKEN=ADMIN_TOKEN, SILO_LOG_LEVEL="debug",
                         SILO_CACHE_TTL_S=TTL_S, **env)
        self.cache_dir = self.s.cache_dir

    def get(self, path):
        r = fcgi.get(str(self.sock), path)
        assert r.status == 200, (path, r.status, r.body[:300])
        return r.json()

    def makes(self, key):
        """How many times a worker made key's value."""
        return self.log.read_text().count(f"cache: making {key}\n")

    def values(self):
        """{file name: size} of the cached values."""
        return {f.name: f.stat().st_size
                for f in self.cache_dir.glob("*.json")}


@pytest.fixture
def silo(stack, request):
    s = Silo(stack, "cache-" + request.node.name, **getattr(
        request, "param", {}))
    s.s.start()
    try:
        yield s
    finally:
        s.s.stop()


def test_health_one_round_trip_a_second(silo):
    """A burst of requests over three workers: each result was made by one
    round trip and shared, never older than a second, and there are no
    more of them than seconds the burst took (plus the first)."""
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: silo.get("/api/db/health"),
                                range(60)))
    elapsed = time.monotonic() - t0
    made = {(a["cached_at"], a["ping_ms"], a["uptime_s"]) for a in answers}
    assert all(0 <= a["age_s"] < 1 for a in answers), answers
    assert silo.makes("db-health") == len(made), (len(made), answers)
    assert 1 <= len(made) <= int(elapsed) + 1, (len(made), elapsed)
    # After the window, a new one.
    before = silo.makes("db-health")
    time.sleep(1.05)
    third = silo.get("/api/db/health")
    assert silo.makes("db-health") == before + 1
    assert third["age_s"] < 1


def test_collections_made_once_per_ttl_stale_while_made(silo, seeded):
    first = silo.get("/api/db/collections")
    for _ in range(10):
        again = silo.get("/api/db/collections")
        assert again["cached_at"] == first["cached_at"]
        assert again["collections"] == first["collections"]
    assert silo.makes("db-collections") == 1
    # Expired: a burst makes it once; the workers that find it being made
    # serve the old value meanwhile.
    time.sleep(TTL_S + 0.2)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: silo.get("/api/db/collections"),
                                range(12)))
    assert silo.makes("db-collections") == 2
    assert {a["totals"]["collections"] for a in answers} == \
        {first["totals"]["collections"]}


def variant(days):
    return f"q-kidlisp-{days}-day-{UNTIL_S}-10-10-0.json"


@pytest.mark.parametrize("silo", [{"SILO_CACHE_MAX_VARIANTS": "4"}],
                         indirect=True)
def test_variants_keep_a_small_set(silo, acdata):
    """Non-default parameters are variants: the newest four are kept, and
    they never evict the default answer."""
    silo.get("/api/kidlisp/stats")
    default = [n for n in silo.values() if n.startswith("kidlisp-")]
    assert len(default) == 1, silo.values()
    for days in range(1, 13):
        silo.get(f"/api/kidlisp/stats?days={days}&until={UNTIL}")
        names = set(silo.values())
        kept = {n for n in names if n.startswith("q-")}
        assert kept == {variant(d) for d in range(max(1, days - 3),
                                                  days + 1)}, sorted(names)
        assert default[0] in names
    # The evicted values' locks went with them.
    locks = {f.name for f in silo.cache_dir.glob("q-*.lock")}
    assert locks <= {n[:-5] + ".lock" for n in kept}, locks


@pytest.mark.parametrize("silo", [{"SILO_CACHE_MAX_VARIANTS": "100000",
                                   "SILO_CACHE_MAX_ENTRIES": "16"}],
                         indirect=True)
def test_entry_cap_evicts_the_oldest(silo, acdata):
    asked = []
    for days in range(1, 41):
        silo.get(f"/api/kidlisp/stats?days={days}&until={UNTIL}")
        asked.append(variant(days))
        names = set(silo.values())
        assert len(names) <= 16, sorted(names)
        assert names == set(asked[-len(names):]), sorted(names)
    assert len(names) == 16


@pytest.mark.parametrize("silo", [{"SILO_CACHE_MAX_VARIANTS": "100000",
                                   "SILO_CACHE_MAX_BYTES": "64k"}],
                         indirect=True)
def test_byte_cap_evicts_the_oldest(silo, acdata):
    asked, minted = [], 0
    for days in range(1, 41):
        body = silo.get(f"/api/kidlisp/stats?days={days}&until={UNTIL}"
                        f"&top=100&recent=100&source=400")
        asked.append(f"q-kidlisp-{days}-day-{UNTIL_S}-100-100-400.json")
        minted += len(str(body))
        values = silo.values()
        assert sum(values.values()) <= 64 << 10, values
        assert set(values) == set(asked[-len(values):]), sorted(values)
    # More than the cap was made, so the cap, not the asking, bounded it.
    assert minted > 2 * (64 << 10), minted
