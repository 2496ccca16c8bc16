"""A minimal FastCGI client (the responder role), for talking to silo
without Caddy: over TCP, over sockets silo inherited, and with raw
parameters that Caddy would never send (a malformed CONTENT_LENGTH, no
REQUEST_URI).  Only what the tests need: one request per connection."""

import socket
import struct

VERSION = 1
BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 3, 4, 5, 6, 7
RESPONDER = 1


def _record(rtype, content, request_id=1):
    return struct.pack(">BBHHBx", VERSION, rtype, request_id, len(content),
                       0) + content


def _length(n):
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def _params(params):
    body = b""
    for k, v in params.items():
        k, v = k.encode(), v.encode()
        body += _length(len(k)) + _length(len(v)) + k + v
    return body


def _recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed mid-record")
        data += chunk
    return data


class Response:
    def __init__(self, raw):
        head, _, self.body = raw.partition(b"\r\n\r\n")
        self.headers = {}
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.status = int(self.headers.get("status", "200").split()[0])

    def json(self):
        import json
        return json.loads(self.body)


def request(address, params, body=b"", timeout=10, end_stdin=True,
            auth=True):
    """Send one request to address (a unix path or a (host, port) pair)
    and return its Response.  It carries the suite's admin token unless
    auth is false or params has its own Authorization or Cookie.  With
    end_stdin=False the body's stream gets no end record: the write side
    is shut down after the body instead, as when Caddy gives up on a
    client mid-body."""
    if auth and not {"HTTP_AUTHORIZATION", "HTTP_COOKIE"} & set(params):
        from conftest import ADMIN_TOKEN
        params = dict(params, HTTP_AUTHORIZATION=f"Bearer {ADMIN_TOKEN}")
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(address)
        out = _record(BEGIN_REQUEST, struct.pack(">HB5x", RESPONDER, 0))
        p = _params(params)
        for i in range(0, len(p), 65535):
            out += _record(PARAMS, p[i:i + 65535])
        out += _record(PARAMS, b"")
        for i in range(0, len(body), 65535):
            out += _record(STDIN, body[i:i + 65535])
        if end_stdin:
            out += _record(STDIN, b"")
        s.sendall(out)
        if not end_stdin:
            s.shutdown(socket.SHUT_WR)
        stdout = b""
        while True:
            _, rtype, _, clen, plen = struct.unpack(">BBHHB",
                                                    _recv_exact(s, 8)[:7])
            content = _recv_exact(s, clen + plen)[:clen]
            if rtype == STDOUT:
                stdout += content
            elif rtype == END_REQUEST:
                return Response(stdout)


def get(address, path, auth=True, **extra):
    params = {"REQUEST_METHOD": "GET", "REQUEST_URI": path,
              "SERVER_PROTOCOL": "HTTP/1.1"}
    params.update(extra)
    return request(address, params, auth=auth)
