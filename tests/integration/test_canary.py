"""The canary: secrets planted in the data, in the services' answers and in
the requests themselves never come out.  Every GET route is asked by every
kind of caller (none, the bootstrap tokens, a scoped token, a viewer's and
an admin's session), and no planted e-mail, password, password hash,
token, secret or client address appears in any answer's body or headers,
or in any line silo or Caddy logged."""

import json
import re
import subprocess

import pytest

import ac_standins
import fcgi
from conftest import ADMIN_TOKEN, DB_NAME, READ_TOKEN
from test_auth import silo_cmd

CANARY_EMAIL = "canary.person@example.org"
CANARY_HASH = "$2b$10$canaryHASHcanaryHASHcanaryHASHcanaryHASHcanaryHA"
CANARY_SECRET = "sk_live_canarySECRETcanarySECRET0042"
CANARY_TOKEN = "eyJhbGciOiJIUzI1NiJ9.canaryTOKENpayload.sig"
CANARY_IP = "192.0.2.199"           # a client address a request carries
PASSWORDS = {"canary-admin": "canary admin password 7",
             "canary-viewer": "canary viewer password 8"}


@pytest.fixture(scope="module")
def planted(stack, seeded):
    """Plant the canaries in AC's collections and make the callers;
    {caller name: headers}."""
    with stack.mongo() as c:
        db = c[DB_NAME]
        db.users.insert_one({"_id": "auth0|canary000000000000000001",
                             "code": "accanary", "email": CANARY_EMAIL,
                             "password": CANARY_HASH,
                             "atproto": {"did": "did:plc:canary",
                                         "password": CANARY_SECRET}})
        db["@handles"].insert_one({"_id": "auth0|canary000000000000000001",
                                   "handle": "canary"})
        db.secrets.insert_one({"_id": "canary", "token": CANARY_TOKEN,
                               "secret": CANARY_SECRET})
        db.logs.insert_one({"from": "log", "text": f"login from {CANARY_IP}",
                            "email": CANARY_EMAIL, "ip": CANARY_IP})
        db.paintings.insert_one({"code": "pcanary", "user":
                                 "auth0|canary000000000000000001",
                                 "token": CANARY_TOKEN})
    callers = {"none": {}, "read": {"Authorization": f"Bearer {READ_TOKEN}"},
               "admin": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}
    rc, out, err = silo_cmd(stack, "token", "create", "canary-svc",
                            "--scope", "read:db,read:services")
    assert rc == 0, err
    scoped = out.strip()
    callers["scoped"] = {"Authorization": f"Bearer {scoped}"}
    sids = []
    for name, role in (("canary-admin", "admin"),
                       ("canary-viewer", "viewer")):
        rc, _, err = silo_cmd(stack, "user", "add", name, "--role", role,
                              stdin=PASSWORDS[name] + "\n")
        assert rc == 0, err
        r = stack.request("POST", "/api/auth/login", auth=None, body=json.dumps(
            {"user": name, "password": PASSWORDS[name]}),
            headers={"Origin": f"http://127.0.0.1:{stack.caddy.port}"})
        assert r.status == 200, r
        sid = re.match(r"silo_session=([^;]+)", r.header("Set-Cookie"))[1]
        sids.append(sid)
        callers[role + "-session"] = {"Cookie": f"silo_session={sid}"}
    stack.clear_cache()
    yield callers, [scoped, *sids]
    with stack.mongo() as c:
        db = c[DB_NAME]
        db.users.delete_one({"_id": "auth0|canary000000000000000001"})
        db["@handles"].delete_one({"_id": "auth0|canary000000000000000001"})
        db.secrets.delete_one({"_id": "canary"})
        db.logs.delete_many({"ip": CANARY_IP})
        db.paintings.delete_one({"code": "pcanary"})
    silo_cmd(stack, "token", "revoke", "canary-svc")
    for name in PASSWORDS:
        silo_cmd(stack, "user", "remove", name)
    stack.clear_cache()


def get_routes(stack):
    out = subprocess.run([str(stack.silo_bin), "help", "serve"],
                         capture_output=True, text=True, check=True).stdout
    return [p for m, p in re.findall(r"^    (GET|POST) (/api/\S+)  \(",
                                     out, re.MULTILINE) if m == "GET"]


def canaries(issued):
    found = [CANARY_EMAIL, CANARY_HASH, CANARY_SECRET, CANARY_TOKEN,
             CANARY_IP, ADMIN_TOKEN, READ_TOKEN, *PASSWORDS.values(),
             *issued]
    for client in ac_standins.SESSION_CLIENTS:
        found.append(client["ip"])
    return found


def test_nothing_planted_comes_out(stack, planted):
    callers, issued = planted
    secrets = canaries(issued)
    paths = [p.replace(":id", "canary") for p in get_routes(stack)]
    assert "/api/storage/user/canary" in paths and len(paths) > 15
    answered = 0
    for caller, headers in callers.items():
        for path in paths:
            r = stack.get(path, headers=headers, auth=None)
            text = r.body.decode("utf-8", "replace") + "\n" + \
                "\n".join(f"{k}: {v}" for k, v in r.headers.items())
            for s in secrets:
                # a caller's own credential comes back in no header either
                assert s not in text, (caller, path, s)
            answered += r.status == 200
    assert answered > 40        # most routes answered most callers


def test_a_client_address_never_reaches_an_answer_or_a_log(stack, planted):
    """The address a request comes from (REMOTE_ADDR, and the one a
    client claims in X-Forwarded-For) is used by the throttle only."""
    for path in ("/api/health", "/api/db/collections", "/api/nope"):
        r = fcgi.get(str(stack.silo.sock), path, REMOTE_ADDR=CANARY_IP,
                     HTTP_X_FORWARDED_FOR=CANARY_IP)
        assert CANARY_IP.encode() not in r.body
    body = json.dumps({"user": "canary-viewer", "password": "wrong!"})
    r = fcgi.request(str(stack.silo.sock), {
        "REQUEST_METHOD": "POST", "REQUEST_URI": "/api/auth/login",
        "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": CANARY_IP,
        "CONTENT_LENGTH": str(len(body))}, body.encode(), auth=False)
    assert r.status == 401
    with stack.mongo() as c:
        c.silo.login_throttle.delete_many({})


@pytest.mark.run_last(scope="module")
def test_no_log_line_holds_anything_planted(stack, planted):
    _, issued = planted
    secrets = canaries(issued)
    logs = [stack.root / "silo.log", stack.root / "caddy.log"]
    for log in logs:
        text = log.read_text(errors="replace")
        assert "access-decision" in text or log.name == "caddy.log"
        for s in secrets:
            assert s not in text, (log.name, s)
