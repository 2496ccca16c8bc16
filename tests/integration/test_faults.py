"""Faults: the database going away and coming back, a worker killed, the
master stopped.  Each test leaves the stack as it found it."""

import os
import signal
import time

import stack_process as sp
import stack_services as sv
from conftest import DB_NAME, health_state


def health(stack):
    r = stack.get("/api/db/health")
    return r, r.json()


def test_db_down_503_then_recovers(stack):
    r, h = health(stack)
    assert r.status == 200, r
    stack.fdb.stop()
    # Answers made before the stop are served until they expire (health
    # within a second, collections within the TTL): forget them.
    stack.clear_cache()
    try:
        t0 = time.monotonic()
        r, h = health(stack)
        elapsed = time.monotonic() - t0
        assert r.status == 503, r
        assert h["status"] == "down", h
        assert h["database"] == DB_NAME
        assert h["error"]["code"] == "db_unavailable", h
        assert elapsed < 2.0, f"503 took {elapsed:.2f}s"
        # every worker answers quickly, not just the first
        for _ in range(6):
            r = stack.get("/api/db/health")
            assert r.status == 503 and r.elapsed < 2.0, (r, r.elapsed)
        r = stack.get("/api/db/collections")
        assert r.status == 503 and r.json()["error"]["code"] == \
            "db_unavailable", r
    finally:
        stack.restart_ferretdb()
    deadline = time.monotonic() + 20
    while True:
        r, h = health(stack)
        if r.status == 200:
            break
        assert time.monotonic() < deadline, f"still {r} 20 s after restart"
        time.sleep(0.25)
    assert (h["status"], h.get("reason")) == health_state(h), h
    # all workers are back, not only the one that answered
    for _ in range(10):
        assert stack.get("/api/db/health").status == 200


def test_killed_worker_is_replaced(stack):
    master = stack.silo.pid
    before = sp.wait_until(lambda: sp.children_of(master), 10,
                           "silo's workers")
    assert len(before) >= 2, before
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    after = sp.wait_until(
        lambda: [p for p in sp.children_of(master) if p not in before], 15,
        "a new worker")
    assert after
    assert victim not in sp.children_of(master)
    assert stack.silo.alive()
    for i in range(50):
        r = stack.get("/api/ping")
        assert r.status == 200, (i, r)


def test_sigterm_master_exits_cleanly(stack, tmp_path):
    sock = sv.socket_path(stack.root, "term.sock")
    s = sv.silo(stack.silo_bin, stack.fdb.uri, sock,
                stack.silo_log(stack.root / "silo-term.log"), workers=2,
                db_name=DB_NAME, rundir=stack.root)
    s.start()
    try:
        workers = sp.wait_until(lambda: len(sp.children_of(s.pid)) >= 2 and
                                sp.children_of(s.pid), 10, "2 workers")
        assert sock.exists()
        os.kill(s.pid, signal.SIGTERM)
        rc = s.proc.wait(40)
        assert rc == 0, f"exit status {rc}; log:\n{s.tail()}"
        assert not sock.exists(), "socket left behind"
        # The master reaps every worker before it exits: none is left,
        # not even as a zombie.
        for w in workers:
            assert not os.path.exists(f"/proc/{w}"), w
    finally:
        s.stop()


def test_silo_not_running_is_a_json_502(stack):
    """Caddy's own error for /api/ when silo is not there keeps the API's
    error shape and a request id (Caddyfile handle_errors)."""
    port = sp.free_port()
    c = sv.caddy(port, stack.root / "nobody-listens.sock", stack.root / "c2",
                 stack.root / "caddy-nosilo.log", www=stack.root / "www")
    c.start()
    try:
        import http.client
        import json
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/db/health",
                     headers={"X-Request-Id": "nosilo-1"})
        r = conn.getresponse()
        body = r.read()
        conn.close()
        assert r.status == 502, (r.status, body)
        assert r.getheader("Content-Type").startswith("application/json")
        assert json.loads(body)["error"]["code"] == "silo_unavailable"
        assert r.getheader("X-Request-Id") == "nosilo-1"
        assert r.getheader("X-Content-Type-Options") == "nosniff"
    finally:
        c.stop()
