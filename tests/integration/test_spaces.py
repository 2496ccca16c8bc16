"""The S3 client (src/spaces.c) against a real MinIO, which checks SigV4
strictly.  The client is driven through tools/spaces-tool (built by
`make`); what it uploads is compared byte for byte with what it downloads,
and listings with what was put."""

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import stack_install as si
import stack_process as sp
import stack_services as sv
from conftest import need_minio, spaces_tool

SRCDIR = Path(os.environ.get("SILO_SRCDIR")
              or Path(__file__).resolve().parents[2])
BUCKET = "silo-test"


def minio_binary():
    return Path(os.environ.get("SILO_MINIO") or si.minio_bin())


class Probe:
    def __init__(self, root, url):
        self.root = root
        self.env = sp.clean_env(SPACES_ENDPOINT=url, SPACES_KEY=sv.MINIO_USER,
                                SPACES_SECRET=sv.MINIO_PASSWORD)

    def run(self, *args, check=True, timeout=120, **env):
        e = dict(self.env)
        e.update({k: str(v) for k, v in env.items()})
        r = subprocess.run([str(spaces_tool()), *map(str, args)], env=e,
                           capture_output=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"spaces-tool {' '.join(map(str, args))}: "
                                 f"{r.stderr.decode(errors='replace')}")
        return r

    def file(self, name, data):
        p = self.root / name
        p.write_bytes(data)
        return p

    def roundtrip(self, key, data, put="put", get="get"):
        src = self.file("src", data)
        self.run(put, BUCKET, key, src)
        out = self.root / "out"
        self.run(get, BUCKET, key, out)
        return out.read_bytes()

    def listing(self, prefix, *extra, **env):
        r = self.run("list", BUCKET, prefix, *extra, **env)
        rows = []
        for line in r.stdout.decode().splitlines():
            size, key = line.split("\t", 1)
            rows.append((size if size == "PRE" else int(size), key))
        return rows


@pytest.fixture(scope="module")
def minio():
    need_minio()
    root = Path(tempfile.mkdtemp(prefix="silo-s3-"))
    server = sv.minio(root / "minio", log_path=root / "minio.log",
                      binary=minio_binary())
    server.start()
    try:
        yield server, root
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def probe(minio):
    server, root = minio
    p = Probe(root, server.url)
    p.run("mb", BUCKET)
    return p


def test_put_get_head_delete(probe):
    data = os.urandom(300_001)
    assert probe.roundtrip("a/random.bin", data) == data
    r = probe.run("head", BUCKET, "a/random.bin")
    size, etag, ctype = r.stdout.decode().rstrip("\n").split("\t")
    assert int(size) == len(data)
    assert etag == hashlib.md5(data).hexdigest()
    assert ctype
    probe.run("delete", BUCKET, "a/random.bin")
    r = probe.run("head", BUCKET, "a/random.bin", check=False)
    assert r.returncode == 1
    assert r.stderr.decode().strip() == \
        "spaces-tool: HEAD silo-test/a/random.bin: 404 NotFound"
    r = probe.run("get", BUCKET, "a/random.bin", probe.root / "gone",
                  check=False)
    assert r.returncode == 1
    assert "GET silo-test/a/random.bin: 404 NoSuchKey: " in r.stderr.decode()


def test_buffers_and_content_type(probe):
    data = b"<svg/>" * 1000
    src = probe.file("svg", data)
    probe.run("putbuf", BUCKET, "t/x.svg", src,
              SPACES_CONTENT_TYPE="image/svg+xml")
    assert probe.run("getbuf", BUCKET, "t/x.svg").stdout == data
    head = probe.run("head", BUCKET, "t/x.svg").stdout.decode().split("\t")
    assert head[2].strip() == "image/svg+xml"


@pytest.mark.parametrize("key", [
    "unicode/müller-日本-🎨.png",
    "spaces/a key with spaces.txt",
    "plus/a+b+c.txt",
    "odd/~tilde=eq&amp;%25percent;semi,comma!bang'(x)*@$.txt",
    "trailing/slash/",
])
def test_awkward_keys(probe, key):
    data = key.encode() * 3
    assert probe.roundtrip(key, data) == data
    assert probe.listing(key) == [(len(data), key)]
    probe.run("delete", BUCKET, key)
    assert probe.listing(key) == []


def test_dot_segments_are_sent_as_they_are(probe):
    # curl would fold "a/../b" into "b" (and upload to another key); with
    # CURLOPT_PATH_AS_IS the key reaches MinIO, which refuses such names.
    r = probe.run("put", BUCKET, "dots/a/../b", probe.file("d", b"d"),
                  check=False)
    assert r.returncode == 1
    assert r.stderr.decode().strip() == (
        "spaces-tool: PUT silo-test/dots/a/../b: 400 "
        "XMinioInvalidResourceName: Resource name contains bad components "
        "such as \"..\" or \".\".")
    assert probe.listing("dots/") == [] and probe.listing("b") == []


def test_zero_byte_object(probe):
    assert probe.roundtrip("zero/empty", b"") == b""
    assert probe.roundtrip("zero/empty-buf", b"", put="putbuf") == b""
    assert probe.run("getbuf", BUCKET, "zero/empty").stdout == b""
    assert probe.run("head", BUCKET, "zero/empty").stdout.startswith(b"0\t")
    assert probe.listing("zero/") == [(0, "zero/empty"), (0, "zero/empty-buf")]


def test_list_across_pages(probe):
    n = 1_050
    probe.run("putmany", BUCKET, "many/", n)
    want = [(i % 7, f"many/{i:05d}") for i in range(n)]
    # The server's own page size (1,000): two pages.
    assert probe.listing("many/") == want
    # Small pages: many continuation tokens.
    assert probe.listing("many/", SPACES_MAX_KEYS=97) == want
    assert sum(s for s, _ in probe.listing("many/")) == \
        sum(i % 7 for i in range(n))
    # A delimiter gives the common prefix, not the objects.
    assert probe.listing("", "/", SPACES_MAX_KEYS=1) == \
        probe.listing("", "/")
    assert ("PRE", "many/") in probe.listing("", "/")
    assert probe.listing("no-such-prefix/") == []


def test_multipart_upload(probe):
    data = os.urandom(12 << 20)
    src = probe.file("big", data)
    r = probe.run("put", BUCKET, "mp/big.bin", src,
                  SPACES_PART_SIZE=5 << 20, SPACES_MULTIPART_THRESHOLD=6 << 20)
    assert "parts=3" in r.stderr.decode()
    out = probe.root / "big.out"
    probe.run("get", BUCKET, "mp/big.bin", out)
    assert out.read_bytes() == data
    head = probe.run("head", BUCKET, "mp/big.bin").stdout.decode().split("\t")
    assert int(head[0]) == len(data)
    assert head[1].endswith("-3")
    # Below the threshold: one PUT.
    r = probe.run("put", BUCKET, "mp/small.bin", src,
                  SPACES_MULTIPART_THRESHOLD=64 << 20)
    assert "parts=0" in r.stderr.decode()


def test_wrong_secret(probe):
    src = probe.file("w", b"x")
    for args in (("get", BUCKET, "zero/empty", probe.root / "w.out"),
                 ("put", BUCKET, "w/x", src),
                 ("list", BUCKET, "many/")):
        t0 = time.monotonic()
        r = probe.run(*args, check=False, SPACES_SECRET="not-the-secret")
        assert r.returncode == 1
        lines = r.stderr.decode().splitlines()
        assert len(lines) == 1, lines
        op = {"get": "GET", "put": "PUT", "list": "LIST"}[args[0]]
        assert lines[0].startswith(f"spaces-tool: {op} {BUCKET}/")
        assert ": 403 SignatureDoesNotMatch: The request signature we " \
            "calculated does not match" in lines[0]
        # A 4xx is not retried.
        assert time.monotonic() - t0 < 2
    r = probe.run("list", BUCKET, "", check=False, SPACES_KEY="nobody")
    assert r.returncode == 1
    assert "403 InvalidAccessKeyId" in r.stderr.decode()


def test_region(probe):
    # A loopback endpoint signs for us-east-1 unless told otherwise.  (A
    # MinIO with no region configured accepts any: nothing to refuse.)
    r = probe.run("list", BUCKET, "zero/")
    assert "region=us-east-1" in r.stderr.decode()
    r = probe.run("list", BUCKET, "zero/", SPACES_REGION="eu-west-2")
    assert "region=eu-west-2" in r.stderr.decode()


def test_minio_stopped(minio, tmp_path):
    """A store that went away fails in bounded time, naming curl's error."""
    _, root = minio
    server = sv.minio(tmp_path / "gone", log_path=tmp_path / "gone.log",
                      binary=minio_binary()).start()
    p = Probe(tmp_path, server.url)
    p.run("mb", BUCKET)
    server.stop()
    connect_ms, total_ms, attempts = 1000, 2000, 3
    t0 = time.monotonic()
    r = p.run("list", BUCKET, "", check=False,
              SPACES_CONNECT_TIMEOUT_MS=connect_ms,
              SPACES_TIMEOUT_MS=total_ms, SPACES_ATTEMPTS=attempts)
    elapsed = time.monotonic() - t0
    assert r.returncode == 1
    err = r.stderr.decode().strip()
    assert err.startswith(f"spaces-tool: LIST {BUCKET}: Couldn't connect "
                          f"to server ({server.url})"), err
    assert err.endswith(f"(after {attempts} attempts)"), err
    assert elapsed < (connect_ms + total_ms) / 1000 * attempts


class FakeS3:
    """A loopback HTTP server that answers with scripted (status, body)
    pairs, the last repeated, and counts requests."""

    def __init__(self, answers):
        import http.server
        import threading
        fake = self
        self.answers = list(answers)
        self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                fake.requests.append((self.path, dict(self.headers)))
                i = min(len(fake.requests), len(fake.answers)) - 1
                status, body = fake.answers[i]
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *a):
        self.server.shutdown()
        self.server.server_close()


EMPTY_LIST = (b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult>'
              b'<Name>b</Name><IsTruncated>false</IsTruncated>'
              b'</ListBucketResult>')
SLOWDOWN = (503, b"<Error><Code>SlowDown</Code><Message>Please reduce your "
            b"request rate.</Message></Error>")


def run_against(fake, tmp_path, *args, **env):
    return Probe(tmp_path, fake.url).run(*args, check=False, **env)


def test_slowdown_is_retried(probe, tmp_path):
    with FakeS3([SLOWDOWN, SLOWDOWN, (200, EMPTY_LIST)]) as fake:
        r = run_against(fake, tmp_path, "list", "b", "p/")
    assert r.returncode == 0, r.stderr
    assert "retries=2" in r.stderr.decode()
    assert len(fake.requests) == 3
    path, headers = fake.requests[0]
    # What MinIO insists on: a sorted, encoded query; the payload's hash.
    assert path == "/b?list-type=2&prefix=p%2F"
    assert headers["x-amz-content-sha256"] == hashlib.sha256(b"").hexdigest()
    assert headers["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=silo-dev/")
    assert "/us-east-1/s3/aws4_request" in headers["Authorization"]


def test_retries_are_bounded(probe, tmp_path):
    with FakeS3([SLOWDOWN]) as fake:
        r = run_against(fake, tmp_path, "list", "b", "", SPACES_ATTEMPTS=3)
    assert r.returncode == 1
    assert len(fake.requests) == 3
    assert r.stderr.decode().strip() == (
        "spaces-tool: LIST b: 503 SlowDown: Please reduce your request "
        "rate. (after 3 attempts)")


def test_4xx_is_not_retried(probe, tmp_path):
    with FakeS3([(404, b"<Error><Code>NoSuchBucket</Code><Message>The "
                       b"specified bucket does not exist</Message></Error>")
                 ]) as fake:
        r = run_against(fake, tmp_path, "list", "b", "")
    assert r.returncode == 1
    assert len(fake.requests) == 1
    assert "LIST b: 404 NoSuchBucket: The specified bucket does not exist" \
        in r.stderr.decode()


@pytest.mark.parametrize("body", [
    b"",
    b"<ListBucketResult><Contents><Key>a</Key>",
    b"<html>not s3</html>",
    b"<ListBucketResult><Contents><Key>a &nope;</Key></Contents>"
    b"</ListBucketResult>",
])
def test_malformed_listing_is_an_error(probe, tmp_path, body):
    with FakeS3([(200, body)]) as fake:
        r = run_against(fake, tmp_path, "list", "b", "p")
    assert r.returncode == 1
    err = r.stderr.decode().strip()
    assert err.startswith("spaces-tool: LIST b/p: malformed ListObjectsV2 "
                          "answer: "), err
    assert r.stdout == b""


def test_virtual_hosted_addressing(tmp_path, minio):
    """bucket.host addressing, as Spaces' own endpoints use, against a
    MinIO that serves it (MINIO_DOMAIN).  *.localhost resolves to the
    loopback address inside curl, so no resolver is touched."""
    server = sv.minio(tmp_path / "minio", log_path=tmp_path / "minio.log",
                      binary=minio_binary(), domain="localhost").start()
    key = "auth0|abc/painting/a b+c \u00e9\u00e8.png"
    data = os.urandom(70_001)
    try:
        p = Probe(tmp_path, f"http://localhost:{server.port}")
        vh = {"SPACES_VIRTUAL_HOST": "1"}
        p.run("mb", BUCKET)
        src = p.file("src", data)
        p.run("put", BUCKET, key, src, **vh)
        p.run("get", BUCKET, key, tmp_path / "out", **vh)
        assert (tmp_path / "out").read_bytes() == data
        assert p.listing("auth0|abc/", **vh) == [(len(data), key)]
    finally:
        server.stop()
    # The control: a MinIO without MINIO_DOMAIN reads the same requests
    # path-style, takes the key's first segment ("auth0|abc") for the
    # bucket and refuses it, so the requests above really named the
    # bucket in the host.
    plain, _ = minio
    p = Probe(tmp_path, f"http://localhost:{plain.port}")
    r = p.run("put", BUCKET, key, src, check=False, **vh)
    assert r.returncode == 1
    assert "400 InvalidBucketName" in r.stderr.decode(), r.stderr
