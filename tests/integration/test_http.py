"""HTTP edges: errors keep the JSON shape, request ids, the access log;
silo's own body and URI limits (over raw FastCGI, around Caddy) and
Caddy's (through Caddy)."""

import ast
import re
import time
import uuid

import fcgi
from conftest import READ_TOKEN, SRCDIR


def assert_error(r, status, code):
    """r is a clean JSON error with this status and code, and a request
    id."""
    assert r.status == status, r
    assert r.header("Content-Type").startswith("application/json"), r.headers
    err = r.json()["error"]
    assert isinstance(err["message"], str) and err["message"], err
    assert err["code"] == code, err
    assert r.header("X-Request-Id"), r.headers
    return err


def test_unknown_path_404(stack):
    assert_error(stack.get("/api/no/such/thing"), 404, "not_found")


def test_post_to_get_route_405(stack):
    r = stack.request("POST", "/api/db/health", body=b"{}",
                      headers={"Content-Type": "application/json"})
    assert_error(r, 405, "method_not_allowed")
    assert "GET" in r.header("Allow"), r.headers


def test_malformed_query_400(stack):
    assert_error(stack.get("/api/db/health?%zz"), 400, "bad_request")


def test_unknown_parameter_400(stack):
    assert_error(stack.get("/api/db/health?bogus=1"), 400, "bad_request")


# silo's own limits, straight to its socket over FastCGI: nothing in
# front of it can answer in its place.  The stack's silo runs with the
# default SILO_MAX_BODY (1M); SILO_MAX_URI is 8192 bytes.
MAX_BODY = 1 << 20
MAX_URI = 8192
REFRESH = "/api/storage/refresh"     # a POST route


def raw(stack, method, uri, body=b"", length=None, rid=None, auth=None):
    """One request to the stack's silo, around Caddy; length is the
    CONTENT_LENGTH to declare (default: the body's size); auth an
    Authorization (default: the suite's admin token)."""
    params = {"REQUEST_METHOD": method, "REQUEST_URI": uri,
              "SERVER_PROTOCOL": "HTTP/1.1",
              "CONTENT_LENGTH": str(len(body) if length is None else length)}
    if auth is not None:
        params["HTTP_AUTHORIZATION"] = auth
    if rid is not None:
        params["HTTP_X_REQUEST_ID"] = rid
    return fcgi.request(str(stack.silo.sock), params, body, timeout=30)


def raw_error(r, status, code):
    assert r.status == status, (r.status, r.body[:300])
    assert r.headers["content-type"].startswith("application/json"), \
        r.headers
    assert r.headers["x-request-id"], r.headers
    err = r.json()["error"]
    assert err["code"] == code, err
    return err


def test_oversized_body(stack):
    r = raw(stack, "POST", REFRESH, b"x" * (MAX_BODY + 1), rid="big-body-1")
    err = raw_error(r, 413, "payload_too_large")
    assert err["message"] == \
        f"request body of {MAX_BODY + 1} bytes exceeds the limit of {MAX_BODY}"
    assert r.headers["x-request-id"] == "big-body-1"


def test_oversized_chunked_body(stack):
    # Caddy passes a chunked body as CONTENT_LENGTH=-1: read to the end,
    # bounded the same way.
    r = raw(stack, "POST", REFRESH, b"x" * (MAX_BODY + 1), length=-1)
    err = raw_error(r, 413, "payload_too_large")
    assert err["message"] == \
        f"request body exceeds the limit of {MAX_BODY} bytes"


def test_body_at_the_limit_reaches_the_route(stack):
    """A body of exactly SILO_MAX_BODY passes the limit, declared or
    chunked: the route's access check answers (the read token does not
    hold run:storage)."""
    for length in (None, -1):
        r = raw(stack, "POST", REFRESH, b"x" * MAX_BODY, length=length,
                auth=f"Bearer {READ_TOKEN}")
        err = raw_error(r, 403, "forbidden")
        assert "needs the scope run:storage" in err["message"], err


def test_oversized_body_to_unknown_route(stack):
    """The body is bounded before routing: a big body to no route is the
    same 413."""
    r = raw(stack, "PUT", "/api/nothing-here", b"y" * (MAX_BODY + 1))
    raw_error(r, 413, "payload_too_large")


def test_oversized_uri(stack):
    uri = "/api/ping?a="
    uri += "x" * (MAX_URI + 1 - len(uri))
    err = raw_error(raw(stack, "GET", uri), 414, "uri_too_long")
    assert err["message"] == \
        f"request URI of {MAX_URI + 1} bytes exceeds the limit of {MAX_URI}"


def test_uri_at_the_limit_reaches_the_route(stack):
    uri = "/api/ping?a="
    uri += "x" * (MAX_URI - len(uri))
    err = raw_error(raw(stack, "GET", uri), 400, "bad_request")
    assert err["message"] == \
        "unknown query parameter 'a': /api/ping takes no parameters"


# Caddy's own limits, through Caddy.

def test_caddy_caps_api_bodies_at_1mib(stack):
    """The Caddyfile's request_body max_size 1MiB: Caddy answers 413 in the
    API's error shape (handle_errors), before silo sees the body."""
    r = stack.request("POST", REFRESH, body=b"x" * ((1 << 20) + 1),
                      headers={"Content-Type": "application/octet-stream",
                               "X-Request-Id": "big-body-2"})
    err = assert_error(r, 413, "payload_too_large")
    assert err["message"] == "413 Request Entity Too Large", err
    assert r.header("X-Request-Id") == "big-body-2"
    assert r.header("X-Content-Type-Options") == "nosniff"


def test_caddy_passes_a_1mib_body(stack):
    r = stack.request("POST", REFRESH, body=b"x" * (1 << 20),
                      headers={"Content-Type": "application/octet-stream"},
                      auth="read")
    assert_error(r, 403, "forbidden")


def test_caddy_passes_a_long_uri_to_silo(stack):
    """Caddy has no URI limit of its own below its header limit: silo's
    414 is what comes back."""
    uri = "/api/ping?a=" + "x" * 10240
    err = assert_error(stack.get(uri), 414, "uri_too_long")
    assert err["message"] == \
        f"request URI of {len(uri)} bytes exceeds the limit of {MAX_URI}"


def test_caddy_refuses_a_request_head_over_1mib(stack):
    """Caddy's header limit (Go's default, 1 MiB + 4 KiB for the request
    line and headers): 431 from the HTTP server itself, before any
    handler, so in plain text."""
    r = stack.get("/api/ping?a=" + "x" * ((1 << 20) + 4096))
    assert r.status == 431, r
    assert r.body == b"431 Request Header Fields Too Large", r


def test_every_response_has_request_id(stack):
    for method, path in (("GET", "/api/ping"), ("GET", "/api/db/health"),
                         ("GET", "/api/nope"), ("DELETE", "/api/ping"),
                         ("GET", "/api/db/health?%zz")):
        r = stack.request(method, path)
        rid = r.header("X-Request-Id")
        assert rid and re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", rid), \
            (method, path, r.headers)
    a = stack.get("/api/ping").header("X-Request-Id")
    b = stack.get("/api/ping").header("X-Request-Id")
    assert a != b


def test_incoming_request_id_echoed(stack):
    rid = "it-" + uuid.uuid4().hex
    r = stack.get("/api/ping", headers={"X-Request-Id": rid})
    assert r.status == 200
    assert r.header("X-Request-Id") == rid
    r = stack.get("/api/nope", headers={"X-Request-Id": rid})
    assert r.status == 404 and r.header("X-Request-Id") == rid


def test_invalid_request_id_replaced(stack):
    r = stack.get("/api/ping", headers={"X-Request-Id": "bad id!<>"})
    assert r.status == 200
    # silo's own: 16 random bytes in hex
    assert re.fullmatch(r"[0-9a-f]{32}", r.header("X-Request-Id")), r.headers


def test_access_log_line_per_request(stack):
    sent = []
    for i, path in enumerate(["/api/ping", "/api/db/health", "/api/nope"]):
        rid = f"log-{uuid.uuid4().hex}"
        r = stack.get(path, headers={"X-Request-Id": rid})
        sent.append((rid, path, r.status))
    deadline = time.monotonic() + 5
    while True:
        text = stack.silo.log_path.read_text(errors="replace")
        if all(rid in text for rid, _, _ in sent) or \
                time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for rid, path, status in sent:
        lines = [ln for ln in text.splitlines()
                 if f"rid={rid}" in ln and " access " in ln]
        assert len(lines) == 1, (rid, lines)
        ln = lines[0]
        assert "access" in ln, ln
        assert "method=GET" in ln, ln
        assert f"path={path}" in ln, ln
        assert f"status={status}" in ln, ln
        assert re.search(r"\bms=\d+(\.\d+)?\b", ln), ln


def test_static_site_and_headers(stack):
    r = stack.get("/")
    assert r.status == 200, r
    assert b"<title>silo</title>" in r.body
    assert r.header("X-Content-Type-Options") == "nosniff"
    assert r.header("X-Frame-Options") == "DENY"
    assert "frame-ancestors 'none'" in r.header("Content-Security-Policy")
    assert "max-age=" in r.header("Strict-Transport-Security")


def test_csp_is_the_one_the_dashboard_is_checked_under(stack):
    """tests/browser/check_dashboard.py renders www/ under its own copy of
    the policy; Caddy must send that same one."""
    src = SRCDIR / "tests" / "browser" / "check_dashboard.py"
    csp = None
    for node in ast.parse(src.read_text()).body:
        if isinstance(node, ast.Assign) and \
                any(getattr(t, "id", None) == "CSP" for t in node.targets):
            csp = ast.literal_eval(node.value)
    assert csp, "no CSP = ... in check_dashboard.py"
    assert stack.get("/").header("Content-Security-Policy") == csp
