"""Bursts and isolation: many clients at once queue instead of failing,
and a slow route cannot hold every worker.

- A burst of 300 connections for 3 s through Caddy against 2 workers gets
  no 502: silo's accept queue (SILO_LISTEN_BACKLOG) holds them, and Caddy
  tries a refused connection again for lb_try_duration.
- A socket whose queue stays full is a 503 "busy" with Retry-After, in the
  API's JSON error shape; a missing one stays the 502 it always was.
- A backlog above the kernel's somaxconn is clamped, with a warning.
- With SILO_BUSY_MAX=1 and the database made slow (a proxy in front of
  FerretDB that holds its traffic), a second expensive request, a flagged
  route or a cache miss with no stale value, is a 503 "busy" at once while
  /api/ping still answers; a miss with a stale value serves it; a worker
  killed while it holds the cell does not keep it.
"""

import http.client
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import fcgi
import stack_process as sp
import stack_services as sv
from conftest import ADMIN_TOKEN, DB_NAME
from tcpproxy import Proxy

BURST_CONNECTIONS = 300
BURST_SECONDS = 3.0


def serve(stack, name, **env):
    """A `silo serve` of its own on a unix socket, started and answering."""
    rundir = stack.root / name
    rundir.mkdir(exist_ok=True)
    s = sv.silo(stack.silo_bin, env.pop("mongo_uri", stack.fdb.uri),
                sv.socket_path(rundir), stack.silo_log(rundir / "silo.log"),
                db_name=DB_NAME, rundir=rundir, SILO_LOG_LEVEL="info",
                SILO_ADMIN_TOKEN=ADMIN_TOKEN, **env)
    s.start()
    return s


def front(stack, name, sock, **env):
    """A Caddy of its own in front of sock."""
    rundir = stack.root / name
    c = sv.caddy(sp.free_port(), sock, rundir, rundir / "caddy.log",
                 www=stack.root / "www", **env)
    c.start()
    return c


def burst(port, path, connections, seconds):
    """connections clients, each asking for path again and again on its
    own keep-alive connection for seconds.  Returns every answer as
    (status, Retry-After, body) and the transport errors."""
    answers, errors = [], []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    start = threading.Barrier(connections)

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        try:
            start.wait()
            while time.monotonic() < deadline:
                conn.request("GET", path, headers={
                    "Authorization": f"Bearer {ADMIN_TOKEN}"})
                r = conn.getresponse()
                mine.append((r.status, r.getheader("Retry-After"), r.read()))
        except (OSError, http.client.HTTPException) as e:
            with lock:
                errors.append(repr(e))
        finally:
            conn.close()
            with lock:
                answers.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return answers, errors


def assert_busy_503(status, retry_after, body):
    assert status == 503
    assert retry_after == "1"
    err = json.loads(body)["error"]
    assert err["code"] == "busy", body
    assert isinstance(err["message"], str) and err["message"]


def test_burst_of_300_connections_gets_no_502(stack):
    s = serve(stack, "burst-silo", workers=2)
    c = front(stack, "burst-caddy", s.sock)
    try:
        answers, errors = burst(c.port, "/api/ping", BURST_CONNECTIONS,
                                BURST_SECONDS)
    finally:
        c.stop()
        s.stop()
    statuses = {}
    for status, _, _ in answers:
        statuses[status] = statuses.get(status, 0) + 1
    assert errors == []
    assert statuses.get(502, 0) == 0, statuses
    assert len(answers) >= BURST_CONNECTIONS, statuses
    for status, retry_after, body in answers:
        if status != 200:
            assert_busy_503(status, retry_after, body)


def test_saturated_socket_is_a_503_busy_with_retry_after(stack):
    # A listener that never accepts, its one-place queue filled by hand:
    # every connection Caddy tries is refused (EAGAIN) for all of
    # lb_try_duration.
    path = sv.socket_path(stack.root, "full.sock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(str(path))
    lsock.listen(0)
    fillers = []
    for _ in range(8):
        f = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        f.setblocking(False)
        try:
            f.connect(str(path))
        except BlockingIOError:
            f.close()
            break
        fillers.append(f)
    c = front(stack, "full-caddy", path, SILO_LB_TRY_DURATION="300ms")
    try:
        t0 = time.monotonic()
        r = stack_get(c.port, "/api/ping")
        waited = time.monotonic() - t0
    finally:
        c.stop()
        for f in fillers:
            f.close()
        lsock.close()
    assert_busy_503(*r)
    assert waited >= 0.3        # it waited for a free place first
    assert fillers, "the queue never filled"


def test_missing_socket_stays_a_502(stack):
    c = front(stack, "gone-caddy", stack.root / "no-such.sock",
              SILO_LB_TRY_DURATION="200ms")
    try:
        status, retry_after, body = stack_get(c.port, "/api/ping")
    finally:
        c.stop()
    assert status == 502
    assert retry_after is None
    assert json.loads(body)["error"]["code"] == "silo_unavailable"


def stack_get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path,
                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        r = conn.getresponse()
        return r.status, r.getheader("Retry-After"), r.read()
    finally:
        conn.close()


def test_backlog_above_somaxconn_is_clamped_with_a_warning(stack):
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    s = serve(stack, "backlog-silo", workers=1,
              SILO_LISTEN_BACKLOG=65535)
    try:
        r = fcgi.get(str(s.sock), "/api/ping")
        log = s.log_path.read_text()
    finally:
        s.stop()
    assert r.status == 200
    assert (f"SILO_LISTEN_BACKLOG=65535 is above the kernel's "
            f"somaxconn={somaxconn}") in log


def users_get(sock, who, out):
    out.append(fcgi.get(str(sock), f"/api/users/{who}"))


def workers_of(master_pid):
    kids = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    return [int(p) for p in kids.read_text().split()]


def test_slow_route_cannot_starve_the_others(stack):
    proxy = Proxy(stack.fdb.port)
    s = serve(stack, "busy-silo", workers=2, SILO_BUSY_MAX=1,
              SILO_DB_TIMEOUT_MS=20000, mongo_uri=proxy.uri)
    try:
        # Both workers have met the database before it turns slow.
        for _ in range(4):
            assert fcgi.get(str(s.sock), "/api/db/users/count").status \
                == 200
        assert "with 2 workers (at most 1 on expensive work)" in \
            s.log_path.read_text()
        proxy.open.clear()
        first = []
        t = threading.Thread(target=users_get,
                             args=(s.sock, "nobody-here", first))
        t.start()
        assert proxy.held.wait(20)  # the first worker is in the database
        t0 = time.monotonic()
        second = fcgi.get(str(s.sock), "/api/users/someone-else")
        miss = fcgi.get(str(s.sock), "/api/kidlisp/stats")  # cold cache
        ping = fcgi.get(str(s.sock), "/api/ping")
        quick = time.monotonic() - t0
        assert t.is_alive()     # still held by the slow database
        proxy.open.set()
        t.join(30)
    finally:
        proxy.open.set()
        s.stop()
        proxy.close()
    assert second.status == 503
    assert second.headers["retry-after"] == "1"
    assert second.json()["error"]["code"] == "busy"
    assert miss.status == 503
    assert miss.headers["retry-after"] == "1"
    assert miss.json()["error"]["code"] == "busy"
    assert ping.status == 200 and ping.json() == {"ok": True}
    assert quick < 1.0
    assert first[0].status == 404, first[0].body


def test_cold_misses_queue_behind_quick_work(stack):
    """A dashboard's first load: cache misses at once, past the cap.  The
    one holding the cell is quick (the database held for 0.2 s only), so
    the other waits its turn instead of being refused."""
    proxy = Proxy(stack.fdb.port)
    s = serve(stack, "queue-silo", workers=2, SILO_BUSY_MAX=1,
              SILO_DB_TIMEOUT_MS=20000, mongo_uri=proxy.uri)
    try:
        for _ in range(4):      # both workers have met the database
            assert fcgi.get(str(s.sock), "/api/ping").status == 200
            assert fcgi.get(str(s.sock), "/api/db/users/count").status \
                == 200
        for f in s.cache_dir.glob("*.json"):
            f.unlink()
        proxy.open.clear()
        first = []
        t = threading.Thread(target=lambda: first.append(
            fcgi.get(str(s.sock), "/api/db/users/count")))
        t.start()
        assert proxy.held.wait(20)  # the first miss holds the cell
        threading.Timer(0.2, proxy.open.set).start()
        second = fcgi.get(str(s.sock), "/api/db/collections")
        t.join(30)
    finally:
        proxy.open.set()
        s.stop()
        proxy.close()
    assert first[0].status == 200, first[0].body
    assert second.status == 200, second.body


def test_worker_killed_holding_the_cell_does_not_keep_it(stack):
    proxy = Proxy(stack.fdb.port)
    s = serve(stack, "reclaim-silo", workers=2, SILO_BUSY_MAX=1,
              SILO_DB_TIMEOUT_MS=20000, SILO_CACHE_TTL_S=1,
              mongo_uri=proxy.uri)
    try:
        assert fcgi.get(str(s.sock), "/api/kidlisp/stats").status == 200
        time.sleep(1.5)         # its cached value is stale now
        proxy.open.clear()
        first = []
        t = threading.Thread(target=lambda: _swallow(users_get, s.sock,
                                                      "nobody-here", first))
        t.start()
        assert proxy.held.wait(20)
        held = fcgi.get(str(s.sock), "/api/users/someone-else")
        # A miss past the cap with a stale value at hand serves it.
        stale = fcgi.get(str(s.sock), "/api/kidlisp/stats")
        old = workers_of(s.pid)
        for pid in old:
            os.kill(pid, signal.SIGKILL)
        proxy.open.set()
        t.join(30)
        sp.wait_until(lambda: len(set(workers_of(s.pid)) - set(old)) == 2,
                      20, "both workers to be re-forked")
        after = sp.wait_until(
            lambda: _answer(s.sock, "/api/users/nobody-here"), 20,
            "a re-forked worker to answer")
        log = s.log_path.read_text()
    finally:
        proxy.open.set()
        s.stop()
        proxy.close()
    assert held.status == 503 and held.json()["error"]["code"] == "busy"
    assert stale.status == 200
    assert stale.json()["age_s"] >= 1.5
    assert after.status == 404, after.body
    assert "which died holding it" in log


def _swallow(fn, *args):
    try:
        fn(*args)
    except OSError:
        pass                    # its worker was killed mid-request


def _answer(sock, path):
    try:
        return fcgi.get(str(sock), path)
    except OSError:
        return None
