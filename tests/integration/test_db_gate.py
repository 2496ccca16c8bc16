"""mongo-express at /db opens only to who holds admin:db: Caddy's
forward_auth asks silo's /api/auth/db before every /db request, on every
form of the path a client can send.  Against the real mongo-express 1.0.0,
behind the shared stack's silo and a Caddy of its own."""

import base64
import http.client
import json
import subprocess

import pytest

import stack_process as sp
import stack_services as sv
from conftest import DB_NAME, READ_TOKEN
from test_auth import silo_cmd

ME_USER, ME_PASS = "me-admin", "me-basic-" + "9f" * 12
PASSWORDS = {"gatekeeper": "gatekeeper's password", "looker":
             "looker's long password"}

# Every way of writing a path under /db a client might try.
FORMS = ["/db", "/db/", "/db/aesthetic", "/db/aesthetic/paintings",
         "/db/?key=1", "/DB/", "/Db/aesthetic", "/db//aesthetic",
         "/db/./aesthetic", "/x/../db/", "/%64b/", "/db%2Faesthetic",
         "/db/%2e%2e/db/", "/dbx", "/db;/"]


@pytest.fixture(scope="module")
def gate(stack):
    rundir = stack.root / "db-gate"
    rundir.mkdir(parents=True, exist_ok=True)
    me = sv.mongo_express(stack.fdb.uri, rundir / "mongo-express.log",
                          ME_USER, ME_PASS, db_name=DB_NAME).start()
    caddy = sv.caddy(sp.free_port(), stack.silo.sock, rundir,
                     rundir / "caddy.log", www=stack.root / "www",
                     mongo_express_addr=f"127.0.0.1:{me.port}").start()
    for name, role in (("gatekeeper", "admin"), ("looker", "viewer")):
        rc, _, err = silo_cmd(stack, "user", "add", name, "--role", role,
                              stdin=PASSWORDS[name] + "\n")
        assert rc == 0, err
    try:
        yield caddy, me
    finally:
        caddy.stop()
        me.stop()
        for name in PASSWORDS:
            silo_cmd(stack, "user", "remove", name)


def request(caddy, method, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", caddy.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def session(caddy, user):
    body = json.dumps({"user": user, "password": PASSWORDS[user]})
    conn = http.client.HTTPConnection("127.0.0.1", caddy.port, timeout=30)
    conn.request("POST", "/api/auth/login", body=body,
                 headers={"Origin": f"http://127.0.0.1:{caddy.port}"})
    r = conn.getresponse()
    r.read()
    assert r.status == 200
    cookie = r.getheader("Set-Cookie").split(";")[0]
    conn.close()
    return cookie


BASIC = "Basic " + base64.b64encode(f"{ME_USER}:{ME_PASS}".encode()).decode()


def reached_mongo_express(status, headers, body):
    """mongo-express's own page, which only its basic auth opens."""
    return status == 200 and b"Mongo Express</title>" in body


def test_mongo_express_listens_on_loopback_only(gate):
    _, me = gate
    out = subprocess.run(["ss", "-Hltn", f"sport = :{me.port}"],
                         capture_output=True, text=True, check=True).stdout
    addrs = {line.split()[3] for line in out.splitlines()}
    assert addrs == {f"127.0.0.1:{me.port}"}, out


@pytest.mark.parametrize("path", FORMS)
def test_no_session_never_reaches_mongo_express(gate, path):
    """Caddy sends every form through the gate (it cleans and decodes the
    path before matching /db*), and the gate's own answer comes back."""
    caddy, _ = gate
    for headers, want in (({}, 401), ({"Accept": "text/html"}, 303),
                          ({"Authorization": BASIC}, 401),
                          ({"Authorization": f"Bearer {READ_TOKEN}"}, 403),
                          ({"Cookie": "silo_session=" + "A" * 43}, 401)):
        status, h, body = request(caddy, "GET", path, headers)
        assert not reached_mongo_express(status, h, body), \
            (path, headers, status, body[:200])
        assert status == want, (path, headers, status)
        assert "Status" not in h, h       # silo's CGI header stays inside
        if want != 303:
            assert json.loads(body)["error"]["code"] == \
                ("forbidden" if want == 403 else "unauthorized")


def test_a_browser_is_sent_to_sign_in_and_back(gate):
    caddy, _ = gate
    status, headers, _ = request(caddy, "GET", "/db/aesthetic",
                                 {"Accept": "text/html"})
    assert status == 303
    assert headers["Location"] == "/signin.html?next=/db/aesthetic"


def test_a_viewer_is_refused(gate):
    caddy, _ = gate
    cookie = session(caddy, "looker")
    status, headers, body = request(caddy, "GET", "/db/", {"Cookie": cookie})
    assert status == 403
    assert json.loads(body)["error"]["message"] == (
        "GET /api/auth/db needs the scope admin:db, which looker does not "
        "hold")


@pytest.mark.parametrize("path", ["/db", "/db/", "/db/db/aesthetic",
                                  "/DB/", "/db/?key=1"])
def test_an_admin_reaches_mongo_express(gate, path):
    caddy, _ = gate
    cookie = session(caddy, "gatekeeper")
    status, headers, body = request(caddy, "GET", path,
                                    {"Cookie": cookie, "Authorization": BASIC})
    assert reached_mongo_express(status, headers, body), (status, body[:200])
    # and mongo-express's own basic auth is still there behind the gate
    status, headers, body = request(caddy, "GET", path, {"Cookie": cookie})
    assert status == 401 and body == b"Unauthorized", (status, body[:200])


def test_a_cross_site_post_to_db_is_refused(gate):
    """mongo-express's forms change data: a POST through the gate from
    another site is refused before it reaches them."""
    caddy, _ = gate
    cookie = session(caddy, "gatekeeper")
    status, _, body = request(caddy, "POST", "/db/aesthetic/paintings",
                              {"Cookie": cookie,
                               "Origin": "https://evil.example",
                               "Content-Length": "0"})
    assert status == 403
    assert b"refuses a request from another site" in body
