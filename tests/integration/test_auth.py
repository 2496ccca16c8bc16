"""Sign-in, sessions, the throttle, TOTP and service tokens, end to end:
`silo user` and `silo token` against FerretDB, and the API through the
shared stack's Caddy (a loopback dev site, so the cookie is
"silo_session" without Secure) and, for what only a production site
shows (HTTPS, another Host), straight over FastCGI."""

import base64
import hashlib
import hmac
import json
import os
import re
import struct
import subprocess
import time

import pytest

import fcgi
from conftest import ADMIN_TOKEN, DB_NAME, READ_TOKEN

PASSWORDS = {"alice": "correct horse battery", "victor": "viewer pass 123",
             "tina": "two factor tina!", "bob": "bob's long password",
             "paul": "paul's first password"}
WRONG = "wrong user name, password or code"


def silo_cmd(stack, *args, stdin=""):
    """Run a silo command against the stack's database: (rc, out, err)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SILO_", "MONGODB_", "SPACES_"))}
    env.update(SILO_ENV_FILE="/dev/null", MONGODB_CONNECTION_STRING=
               stack.fdb.uri, MONGODB_NAME=DB_NAME,
               MONGOC_DISABLE_SHM="1")
    r = subprocess.run([str(stack.silo_bin), *args], env=env, input=stdin,
                       capture_output=True, text=True, timeout=120)
    stack.keep_stderr("auth-" + args[0], r.stderr)
    return r.returncode, r.stdout, r.stderr


@pytest.fixture(scope="module")
def people(stack):
    """alice (admin), victor (viewer), tina (admin, TOTP), bob and paul
    (viewers); returns tina's TOTP secret."""
    with stack.mongo() as c:
        for coll in ("users", "sessions", "tokens", "login_throttle"):
            c.silo[coll].drop()
    secret = None
    for name, role in (("alice", "admin"), ("victor", "viewer"),
                       ("tina", "admin"), ("bob", "viewer"),
                       ("paul", "viewer")):
        extra = ["--totp"] if name == "tina" else []
        rc, out, err = silo_cmd(stack, "user", "add", name, "--role", role,
                                *extra, stdin=PASSWORDS[name] + "\n")
        assert rc == 0, err
        if name == "tina":
            m = re.fullmatch(r"otpauth://totp/silo:tina\?secret=([A-Z2-7]{32})"
                             r"&issuer=silo\n", out)
            assert m, out
            secret = m.group(1)
    yield secret
    with stack.mongo() as c:
        for coll in ("users", "sessions", "tokens", "login_throttle"):
            c.silo[coll].drop()


def totp(secret, at=None):
    """RFC 6238 (SHA-1, 6 digits, 30 s), written from the RFC."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    step = int((time.time() if at is None else at) // 30)
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 10**6
    return f"{code:06d}"


def origin(stack):
    return f"http://127.0.0.1:{stack.caddy.port}"


def login(stack, user, password, code=None, headers=None):
    body = {"user": user, "password": password}
    if code is not None:
        body["totp"] = code
    h = {"Content-Type": "application/json", "Origin": origin(stack)}
    h.update(headers or {})
    return stack.request("POST", "/api/auth/login", body=json.dumps(body),
                         headers=h, auth=None)


def cookie_of(r):
    """The session id a sign-in answer set."""
    m = re.match(r"silo_session=([A-Za-z0-9_-]+);", r.header("Set-Cookie"))
    assert m, r.header("Set-Cookie")
    return m.group(1)


def with_cookie(stack, method, path, sid, **kw):
    headers = {"Cookie": f"silo_session={sid}"}
    if method not in ("GET", "HEAD"):
        headers["Origin"] = origin(stack)
    headers.update(kw.pop("headers", {}))
    return stack.request(method, path, headers=headers, **kw)


def signed_in(stack, user):
    r = login(stack, user, PASSWORDS[user])
    assert r.status == 200, r
    return cookie_of(r)


# ---------------------------------------------------------------- silo user

def test_user_add_refuses_a_short_password_and_a_taken_name(stack, people):
    rc, _, err = silo_cmd(stack, "user", "add", "shorty", "--role", "viewer",
                          stdin="2short\n")
    assert rc == 1
    assert "the password has 6 characters; it needs at least 10" in err
    rc, _, err = silo_cmd(stack, "user", "add", "alice", "--role", "viewer",
                          stdin="another long password\n")
    assert rc == 1 and "a user of that name exists" in err
    rc, _, err = silo_cmd(stack, "user", "add", "Bad@Name", "--role",
                          "viewer", stdin="another long password\n")
    assert rc == 2 and "add needs a NAME" in err
    rc, _, err = silo_cmd(stack, "user", "add", "x1", "--role", "root",
                          stdin="another long password\n")
    assert rc == 2 and "add needs --role admin or --role viewer" in err


def test_admin_without_totp_is_advised_to_use_it(stack, people):
    rc, _, err = silo_cmd(stack, "user", "add", "ada", "--role", "admin",
                          stdin="ada's long password\n")
    assert rc == 0
    assert "ada is an admin without a second factor; consider adding " \
        "them with --totp" in err
    assert silo_cmd(stack, "user", "remove", "ada")[0] == 0


def test_passwords_are_stored_as_scrypt_hashes(stack, people):
    with stack.mongo() as c:
        doc = c.silo.users.find_one({"_id": "alice"})
    assert doc["role"] == "admin"
    assert re.fullmatch(r"\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$"
                        r"[A-Za-z0-9+/]{43}", doc["password"])
    # the hash is scrypt(password) with the stored salt and parameters
    _, _, params, salt, digest = doc["password"].split("$")
    salt = base64.b64decode(salt + "==")
    want = hashlib.scrypt(PASSWORDS["alice"].encode(), salt=salt, n=2**15,
                          r=8, p=1, maxmem=64 << 20, dklen=32)
    assert base64.b64encode(want).decode().rstrip("=") == digest


def test_user_list_shows_roles_and_second_factors(stack, people):
    rc, out, _ = silo_cmd(stack, "user", "list")
    assert rc == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert out.splitlines()[0].split()[:4] == ["NAME", "ROLE", "TOTP",
                                               "CREATED"]
    assert rows["alice"][1:3] == ["admin", "no"]
    assert rows["tina"][1:3] == ["admin", "yes"]
    assert rows["victor"][1:3] == ["viewer", "no"]
    assert "$scrypt$" not in out


# ---------------------------------------------------------------- sign-in

def test_sign_in_sets_a_strict_http_only_cookie(stack, people):
    r = login(stack, "alice", PASSWORDS["alice"])
    assert r.status == 200, r
    body = r.json()
    assert body["user"] == {"name": "alice", "role": "admin"}
    assert set(body["session"]) == {"created", "idle_expires", "expires"}
    cookie = r.header("Set-Cookie")
    sid = cookie_of(r)
    assert cookie == (f"silo_session={sid}; Path=/; Max-Age=604800; "
                      "HttpOnly; SameSite=Strict")
    assert len(sid) == 43
    # only the id's SHA-256 is stored
    with stack.mongo() as c:
        doc = c.silo.sessions.find_one(
            {"_id": hashlib.sha256(sid.encode()).hexdigest()})
        assert doc is not None and doc["user"] == "alice"
        assert sid not in json.dumps(list(c.silo.sessions.find()),
                                     default=str)


def test_the_cookie_opens_the_api_and_says_who(stack, people):
    sid = signed_in(stack, "alice")
    me = with_cookie(stack, "GET", "/api/auth/me", sid)
    assert me.status == 200, me
    body = me.json()
    assert (body["kind"], body["name"], body["role"]) == \
        ("session", "alice", "admin")
    assert body["scopes"] == ["read:db", "read:storage", "read:backups",
                              "read:services", "read:users", "read:metrics",
                              "run:storage", "run:backups", "admin:db"]
    assert with_cookie(stack, "GET", "/api/db/collections", sid).status == 200


def test_wrong_password_and_unknown_user_look_the_same(stack, people):
    a = login(stack, "victor", "not his password")
    b = login(stack, "nobody-here", "not his password")
    assert a.status == b.status == 401
    assert a.json() == b.json() == {"error": {"code": "unauthorized",
                                              "message": WRONG}}
    assert a.header("Set-Cookie") is None


def test_login_rejects_a_body_that_is_not_the_form(stack, people):
    for body, field in ((b"not json", None), (b"[]", None),
                        (b'{"user":"alice"}', "password"),
                        (b'{"user":7,"password":"x"}', "user"),
                        (b'{"user":"alice","password":"x","totp":1}',
                         "totp")):
        r = stack.request("POST", "/api/auth/login", body=body, auth=None,
                          headers={"Origin": origin(stack)})
        assert r.status == 400, (body, r)
        msg = r.json()["error"]["message"]
        if field:
            assert msg.startswith(f"field '{field}' must be a string"), msg
        else:
            assert msg.startswith("the body must be a JSON object"), msg


def test_viewer_reads_but_cannot_run_jobs_or_open_db(stack, people):
    sid = signed_in(stack, "victor")
    assert with_cookie(stack, "GET", "/api/db/users/count", sid).status == 200
    r = with_cookie(stack, "POST", "/api/storage/refresh", sid)
    assert r.status == 403
    assert r.json()["error"]["message"] == (
        "POST /api/storage/refresh needs the scope run:storage, which "
        "victor does not hold")
    assert with_cookie(stack, "GET", "/api/auth/db", sid).status == 403
    me = with_cookie(stack, "GET", "/api/auth/me", sid).json()
    assert me["role"] == "viewer"
    assert me["scopes"] == ["read:db", "read:storage", "read:backups",
                            "read:services", "read:users", "read:metrics"]


def test_sign_out_ends_the_session_and_clears_the_cookie(stack, people):
    sid = signed_in(stack, "victor")
    r = with_cookie(stack, "POST", "/api/auth/logout", sid)
    assert r.status == 204 and r.body == b""
    assert r.header("Set-Cookie") == ("silo_session=; Path=/; Max-Age=0; "
                                      "HttpOnly; SameSite=Strict")
    r = with_cookie(stack, "GET", "/api/auth/me", sid)
    assert r.status == 401
    assert r.json()["error"]["message"] == (
        "GET /api/auth/me was given a session that has ended or never was; "
        "sign in again")


def test_idle_and_absolute_expiry(stack, people):
    """The clock is moved by rewriting the session's times: "seen" more
    than SILO_SESSION_IDLE_S (8 h) ago, or "expires" past."""
    import datetime
    now = datetime.datetime.now(datetime.timezone.utc)
    for field, value in (("seen", now - datetime.timedelta(hours=8,
                                                           seconds=1)),
                         ("expires", now - datetime.timedelta(seconds=1))):
        sid = signed_in(stack, "victor")
        digest = hashlib.sha256(sid.encode()).hexdigest()
        assert with_cookie(stack, "GET", "/api/auth/me", sid).status == 200
        with stack.mongo() as c:
            c.silo.sessions.update_one({"_id": digest},
                                       {"$set": {field: value}})
        assert with_cookie(stack, "GET", "/api/auth/me", sid).status == 401
        with stack.mongo() as c:    # and the ended session is gone
            assert c.silo.sessions.find_one({"_id": digest}) is None


def test_use_extends_an_idle_session_by_the_idle_timeout(stack, people):
    sid = signed_in(stack, "victor")
    digest = hashlib.sha256(sid.encode()).hexdigest()
    import datetime
    past = datetime.datetime.now(datetime.timezone.utc) - \
        datetime.timedelta(hours=7)
    with stack.mongo() as c:
        c.silo.sessions.update_one({"_id": digest}, {"$set": {"seen": past}})
    me = with_cookie(stack, "GET", "/api/auth/me", sid).json()
    idle = datetime.datetime.fromisoformat(
        me["session"]["idle_expires"].replace("Z", "+00:00"))
    left = (idle - datetime.datetime.now(datetime.timezone.utc))
    assert 8 * 3600 - 60 < left.total_seconds() <= 8 * 3600


def test_logout_all_and_passwd_revoke_every_session(stack, people):
    a, b = signed_in(stack, "paul"), signed_in(stack, "paul")
    rc, _, err = silo_cmd(stack, "user", "logout-all", "paul")
    assert rc == 0 and "2 sessions ended" in err
    for sid in (a, b):
        assert with_cookie(stack, "GET", "/api/auth/me", sid).status == 401
    c = signed_in(stack, "paul")
    rc, _, err = silo_cmd(stack, "user", "passwd", "paul",
                          stdin="paul's second password\n")
    assert rc == 0 and "1 session ended" in err
    assert with_cookie(stack, "GET", "/api/auth/me", c).status == 401
    assert login(stack, "paul", PASSWORDS["paul"]).status == 401
    assert login(stack, "paul", "paul's second password").status == 200
    rc, _, err = silo_cmd(stack, "user", "remove", "paul")
    assert rc == 0
    assert login(stack, "paul", "paul's second password").status == 401
    rc, _, err = silo_cmd(stack, "user", "remove", "paul")
    assert rc == 1 and "no user named paul" in err


# ---------------------------------------------------------------- CSRF

def test_a_foreign_origin_cannot_change_state(stack, people):
    sid = signed_in(stack, "alice")
    r = with_cookie(stack, "POST", "/api/auth/logout", sid,
                    headers={"Origin": "https://evil.example"})
    assert r.status == 403
    assert r.json()["error"]["message"] == (
        "POST /api/auth/logout refuses a request from another site "
        "(Origin)")
    r = stack.request("POST", "/api/auth/logout",
                      headers={"Cookie": f"silo_session={sid}"})
    assert r.status == 403
    assert "needs an Origin header with a session" in \
        r.json()["error"]["message"]
    # the session survived both
    assert with_cookie(stack, "GET", "/api/auth/me", sid).status == 200
    r = login(stack, "alice", PASSWORDS["alice"],
              headers={"Origin": "http://127.0.0.1:1"})
    assert r.status == 403 and r.header("Set-Cookie") is None


# ---------------------------------------------------------------- TOTP

def test_totp_user_needs_a_fresh_code(stack, people):
    secret = people
    r = login(stack, "tina", PASSWORDS["tina"])
    assert r.status == 401
    assert r.json()["error"]["code"] == "totp_required"
    assert r.header("Set-Cookie") is None
    # a wrong password with no code says nothing about the code
    r = login(stack, "tina", "not tina's password")
    assert r.json()["error"] == {"code": "unauthorized", "message": WRONG}
    wrong = f"{(int(totp(secret)) + 1) % 10**6:06d}"
    r = login(stack, "tina", PASSWORDS["tina"], code=wrong)
    assert r.json()["error"] == {"code": "unauthorized", "message": WRONG}
    code = totp(secret)
    r = login(stack, "tina", PASSWORDS["tina"], code=code)
    assert r.status == 200, r
    assert r.json()["user"] == {"name": "tina", "role": "admin"}
    # the same code a second time opens nothing
    r = login(stack, "tina", PASSWORDS["tina"], code=code)
    assert r.status == 401 and r.json()["error"]["message"] == WRONG
    with stack.mongo() as c:
        c.silo.login_throttle.delete_many({})


# ---------------------------------------------------------------- throttle

def test_failed_sign_ins_are_throttled_across_workers(stack, people):
    """bob's name may fail 5 times; each failure after that locks it for
    1, 2, 4, 8 s.  Every attempt is its own connection, so the three
    workers share the count through silo.login_throttle."""
    with stack.mongo() as c:
        throttle = c.silo.login_throttle
        for i in range(1, 10):
            if i > 6:     # wait out the lock the last failure earned
                doc = throttle.find_one({"_id": "user:bob"})
                left = doc["until"].timestamp() - time.time()
                time.sleep(max(0.0, left) + 0.05)
            r = login(stack, "bob", "a wrong guess")
            assert r.status == 401, (i, r)
            doc = throttle.find_one({"_id": "user:bob"})
            assert doc["failures"] == i
            lock = (doc["until"] - doc["last"]).total_seconds() \
                if "until" in doc else 0
            assert lock == (2 ** (i - 6) if i > 5 else 0)
        # locked for 8 s: even the right password is not tried
        r = login(stack, "bob", PASSWORDS["bob"])
        assert r.status == 429
        assert r.json()["error"]["code"] == "too_many_attempts"
        assert 1 <= int(r.header("Retry-After")) <= 8
        # a name that does not exist is throttled the same way
        throttle.delete_many({})
        for i in range(6):
            assert login(stack, "ghost", "guess").status == 401
        assert login(stack, "ghost", "guess").status == 429
        throttle.delete_many({})
        # a good sign-in clears the name's count
        assert login(stack, "bob", "a wrong guess").status == 401
        assert login(stack, "bob", PASSWORDS["bob"]).status == 200
        assert throttle.find_one({"_id": "user:bob"}) is None
        # no address is stored in clear
        for doc in throttle.find():
            assert "127.0.0.1" not in json.dumps(doc, default=str)
        throttle.delete_many({})


def test_an_address_is_throttled_whatever_names_it_tries(stack, people):
    """20 failures from one address, each under a new name (so no name
    is locked), are free; the 21st locks the address for 1 s, and
    another address is not affected."""
    def attempt(name, addr):
        body = json.dumps({"user": name, "password": "guess"}).encode()
        return fcgi.request(str(stack.silo.sock), {
            "REQUEST_METHOD": "POST", "REQUEST_URI": "/api/auth/login",
            "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "127.0.0.1",
            "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": addr}, body)
    for i in range(21):
        r = attempt(f"spray{i}", "203.0.113.9")
        assert r.status == 401, (i, r.body)
    r = attempt("alice", "203.0.113.9")
    assert r.status == 429 and r.headers["retry-after"] == "1"
    assert attempt("spray0", "203.0.113.10").status == 401
    with stack.mongo() as c:
        c.silo.login_throttle.delete_many({})


# ---------------------------------------------------------------- tokens

def test_tokens_hold_their_scopes_only(stack, people):
    rc, out, err = silo_cmd(stack, "token", "create", "grafana", "--scope",
                            "read:storage,read:backups")
    assert rc == 0, err
    token = out.strip()
    assert re.fullmatch(r"silo_[A-Za-z0-9_-]{43}", token)
    auth = {"Authorization": f"Bearer {token}"}
    me = stack.get("/api/auth/me", headers=auth).json()
    assert me == {"kind": "token", "name": "grafana", "role": None,
                  "session": None, "scopes": ["read:storage",
                                              "read:backups"]}
    assert stack.get("/api/backups", headers=auth).status == 200
    r = stack.get("/api/db/collections", headers=auth)
    assert r.status == 403
    assert r.header("WWW-Authenticate") == \
        'Bearer realm="silo", error="insufficient_scope"'
    # list shows it without the token; the database holds only a hash
    rc, out, _ = silo_cmd(stack, "token", "list")
    row = [line for line in out.splitlines() if line.startswith("grafana")]
    assert len(row) == 1 and row[0].split()[-1] == "read:storage,read:backups"
    assert token not in out
    with stack.mongo() as c:
        doc = c.silo.tokens.find_one({"_id": "grafana"})
        assert doc["hash"] == hashlib.sha256(token.encode()).hexdigest()
        assert token not in json.dumps(doc, default=str)
        assert doc["last_used"] is not None
    rc, _, err = silo_cmd(stack, "token", "revoke", "grafana")
    assert rc == 0
    r = stack.get("/api/backups", headers=auth)
    assert r.status == 401
    assert 'error="invalid_token"' in r.header("WWW-Authenticate")


def test_token_create_refuses_unknown_scopes(stack, people):
    rc, _, err = silo_cmd(stack, "token", "create", "x", "--scope",
                          "read:db,write:everything")
    assert rc == 2
    assert "unknown scope 'write:everything'" in err
    rc, _, err = silo_cmd(stack, "token", "create", "x")
    assert rc == 2 and "create needs --scope: no scope given" in err


def test_read_star_gives_every_read_scope(stack, people):
    rc, out, _ = silo_cmd(stack, "token", "create", "reader", "--scope",
                          "read:*")
    assert rc == 0
    me = stack.get("/api/auth/me",
                   headers={"Authorization": f"Bearer {out.strip()}"}).json()
    assert me["scopes"] == ["read:db", "read:storage", "read:backups",
                            "read:services", "read:users", "read:metrics"]
    assert silo_cmd(stack, "token", "revoke", "reader")[0] == 0


# ---------------------------------------------------------------- defaults

def routes(stack):
    """(method, pattern, access) of every route, from `silo help serve`."""
    out = subprocess.run([str(stack.silo_bin), "help", "serve"],
                         capture_output=True, text=True, check=True).stdout
    return re.findall(r"^    (GET|POST) (/api/\S+)  \((\S+)\)$", out,
                      re.MULTILINE)


def test_only_health_and_login_are_public(stack, people):
    found = routes(stack)
    assert len(found) > 15
    public = [(m, p) for m, p, a in found if a == "public"]
    assert public == [("GET", "/api/health"), ("POST", "/api/auth/login")]
    for method, pattern, access in found:
        if access == "public":
            continue
        path = pattern.replace(":id", "someone")
        r = stack.request(method, path, auth=None,
                          headers={"Origin": origin(stack)})
        assert r.status == 401, (method, path, r)
        assert r.header("WWW-Authenticate") == 'Bearer realm="silo"'


def test_health_says_up_and_nothing_else(stack, people):
    r = stack.get("/api/health", auth=None)
    assert r.status == 200 and r.json() == {"status": "up"}


def test_bootstrap_read_token_reads_but_runs_nothing(stack, people):
    assert stack.get("/api/db/collections", auth="read").status == 200
    r = stack.request("POST", "/api/backups/run", auth="read")
    assert r.status == 403
    assert "needs the scope run:backups, which SILO_READ_TOKEN does not " \
        "hold" in r.json()["error"]["message"]


def test_a_browser_without_a_session_goes_to_the_sign_in_page(stack, people):
    r = stack.get("/api/db/health", auth=None,
                  headers={"Accept": "text/html,application/xhtml+xml"})
    assert r.status == 303
    assert r.header("Location") == "/signin.html?next=/api/db/health"


# ---------------------------------------------------------------- the site

def fcgi_login(stack, **params):
    body = json.dumps({"user": "alice",
                       "password": PASSWORDS["alice"]}).encode()
    p = {"REQUEST_METHOD": "POST", "REQUEST_URI": "/api/auth/login",
         "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_LENGTH": str(len(body)),
         "REMOTE_ADDR": "198.51.100.7"}
    p.update(params)
    return fcgi.request(str(stack.silo.sock), p, body)


def test_https_gets_the_host_prefixed_secure_cookie(stack, people):
    r = fcgi_login(stack, HTTPS="on", HTTP_HOST="silo.aesthetic.computer",
                   HTTP_ORIGIN="https://silo.aesthetic.computer")
    assert r.status == 200, r.body
    cookie = r.headers["set-cookie"]
    m = re.fullmatch(r"__Host-silo_session=([A-Za-z0-9_-]{43}); Path=/; "
                     r"Max-Age=604800; HttpOnly; Secure; SameSite=Strict",
                     cookie)
    assert m, cookie
    # and only that name opens a session over HTTPS
    me = fcgi.get(str(stack.silo.sock), "/api/auth/me", HTTPS="on",
                  HTTP_HOST="silo.aesthetic.computer",
                  HTTP_COOKIE=f"__Host-silo_session={m.group(1)}")
    assert me.status == 200 and me.json()["name"] == "alice"
    me = fcgi.get(str(stack.silo.sock), "/api/auth/me", HTTPS="on",
                  HTTP_HOST="silo.aesthetic.computer",
                  HTTP_COOKIE=f"silo_session={m.group(1)}")
    assert me.status == 401


def test_plain_http_to_a_public_host_cannot_sign_in(stack, people):
    r = fcgi_login(stack, HTTP_HOST="silo.aesthetic.computer")
    assert r.status == 403
    assert r.json()["error"]["message"] == "sign-in needs HTTPS"
    assert "set-cookie" not in r.headers


def test_access_decisions_are_logged_without_credentials(stack, people):
    sid = signed_in(stack, "victor")
    with_cookie(stack, "GET", "/api/db/collections", sid)
    with_cookie(stack, "POST", "/api/backups/run", sid)
    time.sleep(0.2)
    log = stack.silo_log(stack.root / "silo.log").read_text()
    assert re.search(r'access-decision route="GET /api/db/collections" '
                     r'principal=user:victor decision=allow reason=read:db '
                     r'rid=\S+', log)
    assert re.search(r'access-decision route="POST /api/backups/run" '
                     r'principal=user:victor decision=deny reason=scope', log)
    for secret in [sid, ADMIN_TOKEN, READ_TOKEN, *PASSWORDS.values(),
                   "198.51.100.7"]:
        assert secret not in log, secret
