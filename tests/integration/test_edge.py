"""The edge against hostile input: what Caddy and silo answer to a body
that breaks off or is malformed, to /api without its slash, to methods
the static site does not take and to slow request headers; that no CGI
`Status:` header leaks out; and where the servers listen (Caddy's admin
endpoint off, the stack's Caddy and mongo-express on loopback only)."""

import http.client
import ipaddress
import json
import os
import re
import select
import socket
import struct
import time
import uuid
from pathlib import Path

import pytest

import fcgi
import stack_process as sp
import stack_services as sv
from conftest import SRCDIR
from stack_install import caddy_bin

# A POST route that starts a job: none of these tests' requests may
# reach it (each one's body is broken), so silo's answer is never its.
REFRESH = "/api/storage/refresh"


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


# ---------------------------------------------------------------- bodies
# Through Caddy, over a raw socket: http.client cannot send a malformed
# body or stop half-way.

BODY_ERROR = {"code": "bad_request", "message":
              "400 Bad Request: the request body is malformed or was cut "
              "short"}


def connect(stack, timeout=15):
    return socket.create_connection(("127.0.0.1", stack.caddy.port),
                                    timeout=timeout)


def head(stack, method, path, rid, framing):
    """A request head for the stack's site, with X-Request-Id rid and the
    body framing header given (Transfer-Encoding or Content-Length)."""
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{stack.caddy.port}"
            f"\r\nX-Request-Id: {rid}\r\nContent-Type: application/json\r\n"
            f"{framing}\r\nConnection: close\r\n\r\n").encode()


def read_response(sock):
    """Everything the server sends until it closes: (status, headers with
    lower-case names, body)."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    top, _, body = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return int(lines[0].split()[1]), headers, body


def log_lines(path, pred, count, what, timeout=10):
    """The lines of the log at path for which pred holds, once there are
    count of them (a bounded wait: each server writes its line when it is
    done with the request)."""
    def found():
        lines = [ln for ln in path.read_text(errors="replace").splitlines()
                 if pred(ln)]
        return lines if len(lines) >= count else None
    return sp.wait_until(found, timeout, what)


def caddy_statuses(stack, rid):
    """The statuses of Caddy's access lines for the request with X-Request-Id
    rid (Caddy logs the request's headers)."""
    def ours(line):
        if '"http.log.access"' not in line or rid not in line:
            return False
        entry = json.loads(line)
        return entry["request"]["headers"].get("X-Request-Id") == [rid]
    return [json.loads(ln)["status"] for ln in
            log_lines(stack.caddy.log_path, ours, 1,
                      f"Caddy's access line for {rid}")]


def silo_statuses(stack, rid):
    """The statuses of silo's access lines for the request id rid."""
    return [int(re.search(r"\bstatus=(\d+)", ln).group(1)) for ln in
            log_lines(stack.silo.log_path,
                      lambda ln: " access " in ln and f" rid={rid}" in ln,
                      1, f"silo's access line for {rid}")]


# Chunked framings Go's HTTP/1 server refuses: a size that is not hex, a
# chunk longer than its size, a size over 64 bits.
MALFORMED_CHUNKED = [b"zz\r\nabc\r\n0\r\n\r\n", b"3\r\nabcdef\r\n0\r\n\r\n",
                     b"1" * 17 + b"\r\nabc\r\n0\r\n\r\n"]


def test_malformed_chunked_body_is_400(stack):
    """A chunked body with broken framing is the client's error: 400 in
    the API's shape with the request id, in Caddy's access log too, and
    silo (whose body stream Caddy breaks off) routes nothing."""
    for i, body in enumerate(MALFORMED_CHUNKED):
        rid = f"chunk-{i}-{uuid.uuid4().hex}"
        with connect(stack) as s:
            s.sendall(head(stack, "POST", REFRESH, rid,
                           "Transfer-Encoding: chunked") + body)
            status, headers, data = read_response(s)
        assert status == 400, (body, status, data)
        assert headers["content-type"] == ["application/json"], headers
        assert headers["x-request-id"] == [rid], headers
        assert json.loads(data) == {"error": BODY_ERROR}, data
        assert caddy_statuses(stack, rid) == [400], body
        assert silo_statuses(stack, rid) == [400], body


def test_client_gone_mid_body_is_400_in_the_logs(stack):
    """A client that goes away mid-body (closing, or resetting its
    connection), with a declared length or chunked, reads no answer: both
    access logs say 400, not an outage's 502, and silo's workers live on."""
    workers = sp.children_of(stack.silo.pid)
    assert len(workers) == 3, workers
    log_start = stack.silo.log_path.stat().st_size
    cases = []
    for framing, part in (("Content-Length: 100", b"abc"),
                          ("Transfer-Encoding: chunked", b"a\r\nabc")):
        for reset in (False, True):
            rid = f"gone-{len(cases)}-{uuid.uuid4().hex}"
            s = connect(stack)
            s.sendall(head(stack, "POST", REFRESH, rid, framing) + part)
            if reset:
                # Give Caddy time to take the head in: a reset throws
                # away what the server has not read yet.
                time.sleep(1)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
            s.close()
            cases.append((framing, reset, rid))
    for framing, reset, rid in cases:
        assert caddy_statuses(stack, rid) == [400], (framing, reset)
        assert silo_statuses(stack, rid) == [400], (framing, reset)
    assert sp.children_of(stack.silo.pid) == workers
    for _ in range(2 * len(workers)):
        assert stack.get("/api/ping").status == 200
    with open(stack.silo.log_path, "rb") as f:
        f.seek(log_start)
        since = f.read().decode(errors="replace")
    assert "exited with status" not in since, since
    assert "killed by signal" not in since, since


# ---------------------------------------------------------------- /api

def test_api_without_slash_is_the_json_404(stack):
    """/api is silo's, not a static miss: the API's JSON 404, with or
    without a query."""
    for path in ("/api", "/api?x", "/api?x=1&y"):
        r = stack.get(path)
        assert r.status == 404, (path, r)
        assert r.header("Content-Type").startswith("application/json"), \
            (path, r.headers)
        assert r.json()["error"]["code"] == "not_found", (path, r)
        assert r.header("X-Request-Id"), (path, r.headers)


# ---------------------------------------------------------------- Status:

def test_no_response_carries_the_cgi_status_header(stack):
    """silo's CGI `Status:` header stops at Caddy: not on silo's answers
    (each status it makes here, HEAD too), Caddy's own errors or the
    static site."""
    seen = set()
    for method, path, body in (
            ("GET", "/api/ping", None), ("HEAD", "/api/ping", None),
            ("GET", "/api/db/health?%zz", None),
            ("POST", "/api/ping", b"{}"), ("GET", "/api/no/such", None),
            ("GET", "/api", None), ("GET", "/", None),
            ("GET", "/no-such-file", None),
            ("POST", "/api/storage/refresh", b"x" * ((1 << 20) + 1))):
        r = stack.request(method, path, body=body)
        seen.add(r.status)
        assert r.headers.get_all("Status") is None, (method, path, r.headers)
    assert seen == {200, 400, 404, 405, 413}, seen


# ---------------------------------------------------------------- timeouts

READ_HEADER_S = 1.0     # the bounds the test's own Caddy runs with
READ_BODY_S = 2.0


@pytest.fixture(scope="module")
def quick_caddy(stack):
    """A second Caddy in front of the stack's silo, with short
    SILO_READ_HEADER_TIMEOUT and SILO_READ_BODY_TIMEOUT, so that a test
    can outlast them."""
    rundir = stack.root / "caddy-quick"
    c = sv.caddy(sp.free_port(), stack.silo.sock, rundir,
                 rundir / "caddy.log", www=stack.root / "www",
                 SILO_READ_HEADER_TIMEOUT=f"{READ_HEADER_S:g}s",
                 SILO_READ_BODY_TIMEOUT=f"{READ_BODY_S:g}s")
    c.start()
    try:
        yield c
    finally:
        c.stop()


def drip_head(port, interval=0.25, limit=10.0):
    """Send a request head a byte at a time, one every interval s, never
    finishing it; return how long after the first byte the server closed
    the connection, and what it sent before.  Gives up after limit s."""
    head = b"GET /api/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + \
        b"a" * 1000
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        t0 = time.monotonic()
        got = b""
        for i in range(len(head)):
            if time.monotonic() - t0 > limit:
                break
            try:
                s.sendall(head[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - t0, got
            readable, _, _ = select.select([s], [], [], interval)
            if readable:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    return time.monotonic() - t0, got
                got += chunk
    raise AssertionError(f"the connection was still open after {limit} s "
                         f"of a slow request head; got {got!r}")


def test_slow_request_head_is_closed(quick_caddy):
    """A client that sends its head slower than read_header loses the
    connection at that bound (after Go's plain 400), though it never went
    idle; a head sent at once on the same server is served."""
    conn = http.client.HTTPConnection("127.0.0.1", quick_caddy.port,
                                      timeout=15)
    conn.request("GET", "/api/health")
    assert conn.getresponse().status == 200
    conn.close()
    elapsed, got = drip_head(quick_caddy.port)
    # Go's HTTP server's own answer, before any handler: plain text.
    assert got == (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; "
                   b"charset=utf-8\r\nConnection: close\r\n\r\n"
                   b"400 Bad Request"), got
    assert READ_HEADER_S - 0.05 <= elapsed <= READ_HEADER_S + 5, elapsed



def test_slow_request_body_is_408(stack, quick_caddy):
    """A body still coming when read_body runs out is the client's
    timeout: 408 in the API's shape, not silo_unavailable's 504; silo,
    whose body stream Caddy breaks off, routes nothing."""
    rid = f"slow-body-{uuid.uuid4().hex}"
    with socket.create_connection(("127.0.0.1", quick_caddy.port),
                                  timeout=15) as s:
        s.sendall(f"POST {REFRESH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  f"X-Request-Id: {rid}\r\nContent-Length: 100\r\n"
                  "Connection: close\r\n\r\nabc".encode())
        t0 = time.monotonic()
        status, headers, data = read_response(s)
        elapsed = time.monotonic() - t0
    assert status == 408, (status, data)
    assert headers["x-request-id"] == [rid], headers
    assert json.loads(data) == {"error": {
        "code": "request_timeout",
        "message": "408 Request Timeout: the request body came too slowly"}}
    assert READ_BODY_S - 0.1 <= elapsed <= READ_BODY_S + 5, elapsed
    assert silo_statuses(stack, rid) == [400]


# ---------------------------------------------------------------- static

def test_static_paths_take_only_get_and_head(stack):
    """Every path file_server serves (a file, the index, a miss) answers
    any method but GET and HEAD with 405 and `Allow: GET, HEAD`."""
    for path in ("/", "/index.html", "/no-such-file", "/a/b/"):
        for method in ("TRACE", "PUT", "DELETE", "POST", "PATCH",
                       "OPTIONS", "PROPFIND"):
            r = stack.request(method, path, body=b"x" if method in
                              ("PUT", "POST", "PATCH") else None)
            assert r.status == 405, (method, path, r)
            assert r.headers.get_all("Allow") == ["GET, HEAD"], \
                (method, path, r.headers)
            assert r.body == b"", (method, path, r)
            assert r.header("X-Content-Type-Options") == "nosniff"
    for method in ("GET", "HEAD"):
        r = stack.request(method, "/")
        assert r.status == 200, (method, r)
        assert r.header("Allow") is None, r.headers


# ---------------------------------------------------------------- listening

def _proc_net_addr(text):
    """An address of /proc/net/{tcp,udp}[6], "0100007F:1F90", as (ip,
    port): the ip is in the kernel's byte order, 32-bit words at a time."""
    hexip, hexport = text.split(":")
    raw = bytes.fromhex(hexip)
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(raw)), int(hexport, 16)


def listening(pid):
    """The sorted (protocol, ip, port) of every TCP socket process pid
    listens on and every UDP socket it has bound, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    found = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        path = Path("/proc/net") / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            f = line.split()
            if f[9] not in inodes:
                continue
            if table.startswith("tcp") and f[3] != "0A":     # LISTEN
                continue
            found.append((table.rstrip("6"), *_proc_net_addr(f[1])))
    return sorted(found)


def any_address():
    """Where a server that listens on "all interfaces" (Go's ":PORT")
    binds here: IPv6's wildcard, dual-stack, where IPv6 works."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::", 0))
        return "::"
    except OSError:
        return "0.0.0.0"


def test_stack_caddy_listens_on_loopback_only(stack):
    """The stack's Caddy (the demo's and the tests', both from
    stack_services.caddy) binds its site to 127.0.0.1 (SILO_BIND), and
    has no admin endpoint: that one socket is all it listens on."""
    assert listening(stack.caddy.pid) == \
        [("tcp", "127.0.0.1", stack.caddy.port)]


def test_production_defaults_listen_on_the_site_only(stack):
    """Caddy from the Caddyfile with only the variables the test must
    set (the site, silo's socket, the files): its admin endpoint is off,
    so nothing listens on 2019 or anywhere but the site's port, which is
    on all interfaces (SILO_BIND unset)."""
    rundir = stack.root / "caddy-prod"
    home = rundir / "home"
    home.mkdir(parents=True)
    port = sp.free_port()
    c = sp.Service(
        "caddy-prod", [os.environ.get("SILO_CADDY") or caddy_bin(), "run",
                       "--config", SRCDIR / "Caddyfile",
                       "--adapter", "caddyfile"],
        rundir / "caddy.log", cwd=rundir,
        env=sp.clean_env(HOME=home, XDG_DATA_HOME=home,
                         XDG_CONFIG_HOME=home,
                         SILO_SITE=f"http://127.0.0.1:{port}",
                         SILO_FASTCGI=f"unix/{stack.silo.sock}",
                         SILO_WWW=stack.root / "www"),
        ready=lambda: sp.tcp_open("127.0.0.1", port))
    c.start()
    try:
        assert listening(c.pid) == [("tcp", any_address(), port)]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        conn.request("GET", "/api/health")
        assert conn.getresponse().status == 200
        conn.close()
    finally:
        c.stop()
    assert "admin endpoint disabled" in \
        (rundir / "caddy.log").read_text(errors="replace")


def test_mongo_express_listens_on_loopback_only(stack):
    """mongo-express as the stack runs it (VCAP_APP_HOST=127.0.0.1): one
    socket, on loopback; only Caddy's /db reaches it from outside."""
    rundir = stack.root / "mongo-express"
    me = sv.mongo_express(stack.fdb.uri, rundir / "mongo-express.log",
                          "silo", "edge-test-password")
    me.start()
    try:
        assert listening(me.pid) == [("tcp", "127.0.0.1", me.port)]
    finally:
        me.stop()
