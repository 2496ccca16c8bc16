"""HTTP edges, through Caddy: errors keep the JSON shape, request ids,
the access log."""

import ast
import re
import time
import uuid

from conftest import SRCDIR

ERROR_CODES = {"not_found", "method_not_allowed", "bad_request",
               "payload_too_large", "uri_too_long", "db_unavailable",
               "internal"}


def assert_error(r, status=None, code=None):
    """r is a clean JSON error: 4xx, the error shape, a request id."""
    if status is not None:
        assert r.status == status, r
    assert 400 <= r.status < 500, r
    assert r.header("Content-Type").startswith("application/json"), r.headers
    err = r.json()["error"]
    assert isinstance(err["message"], str) and err["message"], err
    if code is not None:
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


def test_oversized_uri(stack):
    r = stack.get("/api/ping?" + "a=" + "x" * 10240)
    err = assert_error(r)
    assert err["code"] in ERROR_CODES | {"uri_too_long"}, err
    assert r.status in (414, 400, 431), r


def test_oversized_body(stack):
    r = stack.request("POST", "/api/db/health", body=b"x" * (2 << 20),
                      headers={"Content-Type": "application/octet-stream",
                               "X-Request-Id": "big-body-1"})
    err = assert_error(r)
    assert r.status in (413, 405), r
    assert err["code"] in ("payload_too_large", "method_not_allowed"), err
    assert r.header("X-Request-Id") == "big-body-1"
    assert r.header("X-Content-Type-Options") == "nosniff"


def test_oversized_body_to_unknown_route(stack):
    r = stack.request("PUT", "/api/nothing-here", body=b"y" * (2 << 20))
    assert_error(r)


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
    assert r.header("X-Request-Id") not in (None, "", "bad id!<>")


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
        lines = [ln for ln in text.splitlines() if f"rid={rid}" in ln]
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
    if not src.exists():
        import pytest
        pytest.skip("no tests/browser/check_dashboard.py")
    csp = None
    for node in ast.parse(src.read_text()).body:
        if isinstance(node, ast.Assign) and \
                any(getattr(t, "id", None) == "CSP" for t in node.targets):
            csp = ast.literal_eval(node.value)
    assert csp, "no CSP = ... in check_dashboard.py"
    assert stack.get("/").header("Content-Security-Policy") == csp
