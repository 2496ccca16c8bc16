"""GET /api/metrics: silo for Prometheus, parsed by Prometheus's own
client library (prometheus_client's text parser, which refuses a
malformed line).

The counters are the pool's, shared by every worker, so requests made
here over FastCGI (two workers take them in turn) must add up exactly,
and a worker killed with SIGKILL must show as one restart.  With the
database stopped, the HTTP counters are still served and
silo_database_up says 0.
"""

import os
import signal
import time

import pytest

import fcgi
import stack_services as sv
from conftest import ADMIN_TOKEN, READ_TOKEN

DB = "metrics"


@pytest.fixture(scope="module")
def world(stack):
    parser = pytest.importorskip("prometheus_client.parser")
    root = stack.root / "metrics"
    root.mkdir()
    fdb = sv.ferretdb(root / "ferretdb", log_path=root / "ferretdb.log").start()
    from pymongo import MongoClient
    with MongoClient(fdb.uri) as c:
        c[DB].paintings.insert_many([{"code": f"p{i}"} for i in range(7)])
        c[DB]["@handles"].insert_many([{"_id": f"s{i}", "handle": f"h{i}"}
                                       for i in range(3)])
    sock = sv.socket_path(root, "silo.sock")
    s = sv.silo(stack.silo_bin, fdb.uri, sock, stack.silo_log(
        root / "silo.log"), workers=2, db_name=DB, rundir=root,
        SILO_ADMIN_TOKEN=ADMIN_TOKEN, SILO_READ_TOKEN=READ_TOKEN,
        SILO_DB_TIMEOUT_MS="500").start()
    try:
        yield {"sock": str(sock), "fdb": fdb, "silo": s, "parser": parser,
               "root": root}
    finally:
        s.stop()
        fdb.stop()


def call(w, uri, token=READ_TOKEN):
    return fcgi.request(w["sock"], {
        "REQUEST_METHOD": "GET", "REQUEST_URI": uri,
        "HTTP_AUTHORIZATION": f"Bearer {token}"})


def scrape(w):
    r = call(w, "/api/metrics")
    assert r.status == 200, r.body
    assert r.headers["content-type"] == \
        "text/plain; version=0.0.4; charset=utf-8"
    samples = {}
    for family in w["parser"].text_string_to_metric_families(
            r.body.decode()):
        for s in family.samples:
            key = (s.name,) + tuple(sorted(s.labels.items()))
            assert key not in samples, key
            samples[key] = s.value
    return samples


def sample(samples, name, **labels):
    return samples.get((name,) + tuple(sorted(labels.items())))


def worker_pids(w):
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if ppid == w["silo"].proc.pid:
                out.append(int(pid))
    return out


def test_counts_add_up_across_workers(world):
    for _ in range(5):
        assert call(world, "/api/ping").status == 200
    assert call(world, "/api/nothing-here").status == 404
    assert call(world, "/api/ping", token="not-a-token-" + "x" * 30
                ).status == 401
    s = scrape(world)
    route = "GET /api/ping"
    assert sample(s, "silo_http_requests_total", route=route,
                  code="200") == 5
    assert sample(s, "silo_http_requests_total", route=route,
                  code="401") == 1
    assert sample(s, "silo_http_requests_total", route="unmatched",
                  code="404") == 1
    assert sample(s, "silo_http_request_duration_seconds_count",
                  route=route) == 6
    bounds = sorted((float(k[1][1]), v) for k, v in s.items()
                    if k[0] == "silo_http_request_duration_seconds_bucket"
                    and dict(k[1:])["route"] == route)
    counts = [v for _, v in bounds]
    assert counts == sorted(counts) and counts[-1] == 6 and \
        bounds[-1][0] == float("inf")
    assert sample(s, "silo_database_up") == 1
    assert sample(s, "silo_collection_documents", collection="paintings") \
        == 7
    assert sample(s, "silo_collection_documents", collection="@handles") \
        == 3
    # no snapshot and no backup yet: absent, not zero
    assert sample(s, "silo_storage_snapshot_age_seconds") is None
    assert sample(s, "silo_backup_age_seconds") is None


def test_a_killed_worker_is_one_restart(world):
    before = sample(scrape(world), "silo_worker_restarts_total")
    pids = worker_pids(world)
    assert len(pids) == 2, pids
    os.kill(pids[0], signal.SIGKILL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if len(worker_pids(world)) == 2 and pids[0] not in \
                worker_pids(world):
            break
        time.sleep(0.1)
    assert sample(scrape(world), "silo_worker_restarts_total") == before + 1


def test_the_database_down_is_a_zero_not_an_error(world):
    world["fdb"].stop()
    # The health every worker shares may be up to 1 s old: forget it.
    for f in world["silo"].cache_dir.glob("*.json"):
        f.unlink(missing_ok=True)
    try:
        s = scrape(world)
        assert sample(s, "silo_database_up") == 0
        assert sample(s, "silo_collection_documents",
                      collection="paintings") is None
        assert sample(s, "silo_http_requests_total", route="GET /api/ping",
                      code="200") == 5
    finally:
        world["fdb"] = sv.ferretdb(world["root"] / "ferretdb",
                                   port=world["fdb"].port,
                                   log_path=world["root"] / "ferretdb.log"
                                   ).start()


def test_scope_is_needed(world):
    r = fcgi.request(world["sock"], {"REQUEST_METHOD": "GET",
                                     "REQUEST_URI": "/api/metrics"},
                     auth=False)
    assert r.status == 401
