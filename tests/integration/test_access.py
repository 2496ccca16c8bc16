"""The access column, enforced end to end: a silo with both tokens set,
behind its own Caddy, beside the shared stack.  The point is what only the
real path shows: that Caddy hands the Authorization header to silo over
FastCGI, that the answers carry the challenge, and that no log line of
either server holds a token."""

import pytest

import stack_process as sp
import stack_services as sv
from conftest import DB_NAME

ADMIN = "admin-" + "a1" * 20
READER = "reader-" + "b2" * 20


@pytest.fixture(scope="module")
def guarded(stack):
    rundir = stack.root / "access"
    rundir.mkdir(parents=True, exist_ok=True)
    sock = sv.socket_path(rundir, "silo.sock")
    silo = sv.silo(stack.silo_bin, stack.fdb.uri, sock,
                   stack.silo_log(rundir / "silo.log"),
                   workers=1, db_name=DB_NAME, rundir=rundir,
                   SILO_ADMIN_TOKEN=ADMIN, SILO_READ_TOKEN=READER).start()
    caddy = sv.caddy(sp.free_port(), sock, rundir, rundir / "caddy.log",
                     www=stack.root / "www").start()
    try:
        yield rundir, caddy
    finally:
        caddy.stop()
        silo.stop()


def get(caddy, path, authorization=None):
    import http.client
    import json
    conn = http.client.HTTPConnection("127.0.0.1", caddy.port, timeout=15)
    try:
        headers = {"Authorization": authorization} if authorization else {}
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        body = r.read()
        return r.status, r.headers, json.loads(body) if body else None
    finally:
        conn.close()


def test_public_route_needs_no_token(guarded):
    _, caddy = guarded
    status, _, body = get(caddy, "/api/health")
    assert status == 200 and body == {"status": "up"}


def test_read_route_without_token_is_challenged(guarded):
    _, caddy = guarded
    status, headers, body = get(caddy, "/api/db/collections")
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Bearer realm="silo"'
    assert body["error"]["code"] == "unauthorized"
    assert body["error"]["message"] == \
        "GET /api/db/collections needs a session or a token"


def counts(body):
    """A users/count answer without its freshness fields."""
    return {k: v for k, v in body.items() if k not in ("cached_at", "age_s")}


def test_read_route_takes_the_read_token_through_caddy(guarded, stack):
    _, caddy = guarded
    status, _, body = get(caddy, "/api/db/users/count", "Bearer " + READER)
    assert status == 200, body
    # the whole answer, as the open shared stack gives it on the same data
    assert counts(body) == counts(stack.get("/api/db/users/count").json())


def test_read_route_takes_the_admin_token(guarded, stack):
    _, caddy = guarded
    status, _, body = get(caddy, "/api/db/users/count", "Bearer " + ADMIN)
    assert status == 200, body
    assert counts(body) == counts(stack.get("/api/db/users/count").json())


def test_wrong_token_is_refused_and_not_echoed(guarded):
    _, caddy = guarded
    guess = "Bearer " + "c3" * 20
    status, headers, body = get(caddy, "/api/db/collections", guess)
    assert status == 401
    assert 'error="invalid_token"' in headers["WWW-Authenticate"]
    assert "c3c3" not in repr(body)


def test_basic_auth_is_an_invalid_request(guarded):
    _, caddy = guarded
    status, headers, _ = get(caddy, "/api/db/collections",
                             "Basic YWRtaW46cGFzcw==")
    assert status == 401
    assert 'error="invalid_request"' in headers["WWW-Authenticate"]


def test_no_log_line_holds_a_token(guarded):
    rundir, _ = guarded
    for log in ("silo.log", "caddy.log"):
        text = (rundir / log).read_text(errors="replace")
        assert ADMIN not in text and READER not in text, log
        assert "c3c3c3" not in text, log
