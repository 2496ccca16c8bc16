"""GET /api/db/clients, the cutover view, against FerretDB.

FerretDB v1.24.2 has no $currentOp stage, so it cannot say who is
connected: the route must still answer 200, say so (supported false, the
reason and the server's own words), and list the services of
SILO_DB_CLIENTS with their last sightings.  The grouping of mongod's
$currentOp documents is tested on mongod's shapes in
tests/unit/test_clients.c.
"""

import datetime
import subprocess

import pytest

import fcgi
import stack_services as sv
from conftest import ADMIN_TOKEN, DB_NAME, READ_TOKEN

SERVICES = "web:aesthetic-web,session:157.245.134.225,oven:oven-tc"


@pytest.fixture(scope="module")
def clients_silo(stack):
    rundir = stack.root / "db-clients"
    rundir.mkdir(parents=True, exist_ok=True)
    sock = sv.socket_path(rundir, "silo.sock")
    with stack.mongo() as c:
        c.silo.db_clients_seen.delete_many({})
        c.silo.db_clients_seen.insert_one({
            "_id": "oven",
            "last_seen": datetime.datetime(2026, 11, 30, 3, 4, 5, 678000)})
    s = sv.silo(stack.silo_bin, stack.fdb.uri, sock,
                stack.silo_log(rundir / "silo.log"), workers=1,
                db_name=DB_NAME, rundir=rundir,
                SILO_ADMIN_TOKEN=ADMIN_TOKEN,
                SILO_READ_TOKEN=READ_TOKEN,
                SILO_DB_CLIENTS=SERVICES).start()
    try:
        yield str(sock)
    finally:
        s.stop()
        with stack.mongo() as c:
            c.silo.db_clients_seen.delete_many({})


def get(sock, **params):
    return fcgi.request(sock, dict({"REQUEST_METHOD": "GET",
                                    "REQUEST_URI": "/api/db/clients"},
                                   **params))


def test_ferretdb_says_it_cannot_tell(clients_silo):
    r = get(clients_silo)
    assert r.status == 200, r.body
    assert r.json() == {
        "supported": False,
        "reason": "not reported by this server: $currentOp failed",
        "server_said": "Invalid command format: the 'aggregate' field "
                       "must specify a collection name or 1",
        "connections": 0, "groups": [], "other": 0,
        "services": [
            {"name": "web", "match": "aesthetic-web", "connected": 0,
             "last_seen": None},
            {"name": "session", "match": "157.245.134.225", "connected": 0,
             "last_seen": None},
            {"name": "oven", "match": "oven-tc", "connected": 0,
             "last_seen": "2026-11-30T03:04:05.678Z"}]}


def test_only_admins_see_connections(clients_silo):
    r = get(clients_silo, HTTP_AUTHORIZATION=f"Bearer {READ_TOKEN}")
    assert r.status == 403, r.body
    assert r.json()["error"]["code"] == "forbidden"


def test_a_bad_setting_is_named(stack):
    r = subprocess.run([str(stack.silo_bin), "--env-file", "/dev/null",
                        "config", "check"], capture_output=True, text=True,
                       env=sv.clean_env(
                           MONGODB_CONNECTION_STRING=stack.fdb.uri,
                           SILO_DB_CLIENTS="web:aesthetic-web,oven"))
    assert r.returncode == 2
    assert r.stderr.splitlines()[-1] == (
        "SILO_DB_CLIENTS='web:aesthetic-web,oven' (environment): service 2 "
        "('oven') is not name:match (a name of a-z, 0-9, '-', '_')")
