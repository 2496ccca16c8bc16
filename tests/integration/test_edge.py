"""The edge against hostile input: what Caddy and silo answer to a body
that breaks off or is malformed, to /api without its slash, to methods
the static site does not take and to slow request headers; that no CGI
`Status:` header leaks out; and where the servers listen (Caddy's admin
endpoint off, the stack's Caddy and mongo-express on loopback only)."""

import fcgi

REFRESH = "/api/storage/refresh"     # a POST route; 403 in this stack


def raw_cut_short(stack, body, length):
    """A request whose body's stream ends without its end record, straight
    to the stack's silo: how Caddy leaves silo when it gives up on a
    client mid-body."""
    return fcgi.request(str(stack.silo.sock), {
        "REQUEST_METHOD": "POST", "REQUEST_URI": REFRESH,
        "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_LENGTH": length},
        body, timeout=30, end_stdin=False)


def test_raw_chunked_body_cut_short_is_400(stack):
    """A chunked body (CONTENT_LENGTH=-1) has no length to fall short of:
    a broken stream must still be a 400, not a short body routed."""
    for body in (b"", b"partial"):
        r = raw_cut_short(stack, body, "-1")
        assert r.status == 400, (r.status, r.body)
        err = r.json()["error"]
        assert err["code"] == "bad_request", err
        assert err["message"] == \
            f"request body was cut short after {len(body)} bytes", err


def test_raw_declared_body_cut_short_is_400(stack):
    r = raw_cut_short(stack, b"12345", "100")
    assert r.status == 400, (r.status, r.body)
    err = r.json()["error"]
    assert err == {"code": "bad_request", "message":
                   "request body was cut short after 5 bytes"}, err
