"""The integration stack: FerretDB + `silo serve` + Caddy, once per session.

The servers are started with tools/stack_services.py, the same code the
demo uses.  Tests talk HTTP to Caddy and seed/verify with pymongo directly
against FerretDB, a path independent of silo's C code.
"""

import http.client
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

SRCDIR = Path(os.environ.get("SILO_SRCDIR")
              or Path(__file__).resolve().parents[2])
sys.path.insert(0, str(SRCDIR / "tools"))
import ac_standins  # noqa: E402
import stack_process as sp  # noqa: E402
import stack_services as sv  # noqa: E402

# Every silo this suite runs goes without libmongoc's shm counters, as
# `make check` (Makefile.am) and deploy/ have it: see stack_process's
# clean_env for why.
os.environ.setdefault("MONGOC_DISABLE_SHM", "1")

DB_NAME = "aesthetic"

# The probe bounds and cache lifetime the stack's silo runs with: short, so
# that the slow and TTL tests are quick.
PROBE_TIMEOUT_MS = 1000
PROBE_CONNECT_MS = 500
CACHE_TTL_S = 2
# A database ping slower than this makes /api/db/health "degraded".
DB_SLOW_MS = 250

# The bootstrap tokens of every silo the suite runs.  Every route but
# /api/health and the sign-in needs a caller, so Stack.request() sends
# the admin token unless a test says otherwise (auth=None, auth="read").
ADMIN_TOKEN = "admin-" + "a1" * 20
READ_TOKEN = "reader-" + "b2" * 20
TOKENS = {"admin": ADMIN_TOKEN, "read": READ_TOKEN}


def bearer(auth="admin"):
    """The Authorization header for a bootstrap token: {} for None."""
    return {"Authorization": f"Bearer {TOKENS[auth]}"} if auth else {}


def health_state(h):
    """The one status and reason a health answer h must carry, from the
    ping time it reports itself."""
    if h["ping_ms"] > DB_SLOW_MS:
        return "degraded", "ping slower than SILO_DB_SLOW_MS"
    return "ok", None


def silo_binary():
    if os.environ.get("SILO_BIN"):
        return Path(os.environ["SILO_BIN"])
    for cand in ("build/check/silo", "build/silo", "build/demo/silo",
                 "silo"):
        if (SRCDIR / cand).exists():
            return SRCDIR / cand
    return SRCDIR / "build" / "check" / "silo"


def spaces_tool():
    """tools/spaces-tool, silo's S3 client as a command, beside silo."""
    if os.environ.get("SILO_SPACES_TOOL"):
        return Path(os.environ["SILO_SPACES_TOOL"])
    return silo_binary().parent / "tools" / "spaces-tool"


def need_minio():
    """Skip (or, with CI=true, fail: run.sh) without MinIO or spaces-tool."""
    import stack_install as si
    if not spaces_tool().exists():
        pytest.skip(f"tools/spaces-tool is not built ({spaces_tool()})")
    if not Path(os.environ.get("SILO_MINIO") or si.minio_bin()).exists():
        pytest.skip("MinIO is not installed: run tools/stack install")


class Response:
    def __init__(self, status, headers, body, elapsed):
        self.status = status
        self.headers = headers
        self.body = body
        self.elapsed = elapsed

    def header(self, name):
        return self.headers.get(name)

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Stack:
    def __init__(self, root):
        self.root = root
        self.fdb = None
        self.silo = None
        self.caddy = None
        self.fakes = {}
        self.silo_bin = silo_binary()
        self.silo_logs = []     # every file a silo process wrote stderr to
        self.silo_started = None  # time.time() just before silo started

    def silo_log(self, path):
        """Record path as a file a silo process of the suite writes its
        stderr to (where ASan/UBSan report), for the sanitizer check that
        runs after all tests; return it.  Every test that starts a silo
        of its own names its log through this."""
        path = Path(path)
        if path not in self.silo_logs:
            self.silo_logs.append(path)
        return path

    def keep_stderr(self, name, text):
        """Keep the stderr a test captured from a silo command (import,
        storage refresh, help) as one more silo log; return text."""
        path = self.root / "cli" / f"{name}-{len(self.silo_logs)}.log"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text if isinstance(text, str)
                        else text.decode("utf-8", "replace"))
        self.silo_log(path)
        return text

    def clear_cache(self):
        """Forget every cached answer (as if the TTL had passed)."""
        for f in self.silo.cache_dir.glob("*.json"):
            f.unlink(missing_ok=True)

    def request(self, method, path, headers=None, body=None, timeout=15,
                auth="admin"):
        """One request to Caddy; path is sent exactly as given.  It
        carries the bootstrap token auth names ("admin", "read"; None for
        none) unless headers has its own Authorization or Cookie."""
        headers = dict(headers or {})
        if not {"authorization", "cookie"} & {h.lower() for h in headers}:
            headers.update(bearer(auth))
        conn = http.client.HTTPConnection("127.0.0.1", self.caddy.port,
                                          timeout=timeout)
        t0 = time.monotonic()
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, r.headers, data, time.monotonic() - t0)
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def mongo(self):
        from pymongo import MongoClient
        return MongoClient(self.fdb.uri, serverSelectionTimeoutMS=5000)

    def restart_ferretdb(self):
        """Start FerretDB again on the same port and data."""
        self.fdb = sv.ferretdb(self.root / "ferretdb", port=self.fdb.port,
                               log_path=self.root / "ferretdb.log").start()
        return self.fdb

    def logs(self):
        return sorted(self.root.glob("*.log"))


_failed = []


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "run_last(scope): run after every other test of the "
        "session (scope='session', the default) or of its module "
        "(scope='module')")
    _quiet_assertion_writer(config)


def pytest_collection_modifyitems(session, config, items):
    """Order the run_last tests: a module-scoped one after the rest of its
    module (its module fixtures are still up), a session-scoped one after
    every other test (and after every module fixture's teardown)."""
    first_of_module = {}
    for i, item in enumerate(items):
        first_of_module.setdefault(getattr(item, "module", None), i)

    def key(pair):
        i, item = pair
        mark = item.get_closest_marker("run_last")
        scope = None
        if mark is not None:
            scope = mark.kwargs.get("scope", mark.args[0] if mark.args
                                    else "session")
            if scope not in ("session", "module"):
                raise pytest.UsageError(f"{item.nodeid}: run_last scope "
                                        f"{scope!r}")
        return (scope == "session",
                first_of_module[getattr(item, "module", None)],
                scope == "module", i)
    items[:] = [item for _, item in sorted(enumerate(items), key=key)]


def _quiet_assertion_writer(config):
    """pytest-tap's --tap-stream unregisters pytest's terminal reporter, and
    pytest's assertion introspection then fails on get_terminal_writer()
    (an AssertionError in place of the real diff).  Give it a writer that
    goes nowhere and does no highlighting."""
    import io
    from _pytest._io import TerminalWriter
    quiet = TerminalWriter(io.StringIO())
    original = config.get_terminal_writer

    def get_terminal_writer():
        if config.pluginmanager.get_plugin("terminalreporter") is None:
            return quiet
        return original()
    config.get_terminal_writer = get_terminal_writer


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        _failed.append(item.nodeid)


@pytest.fixture(scope="session")
def stack():
    if not silo_binary().exists():
        pytest.skip(f"silo is not built ({silo_binary()})")
    # A short path: the unix socket's name must fit in sun_path.
    root = Path(tempfile.mkdtemp(prefix="silo-it-"))
    st = Stack(root)
    try:
        st.fdb = sv.ferretdb(root / "ferretdb",
                             log_path=root / "ferretdb.log").start()
        st.fakes = ac_standins.start_all(lifetime=3600)
        sock = root / "silo.sock"
        st.silo = sv.silo(st.silo_bin, st.fdb.uri, sock,
                          st.silo_log(root / "silo.log"),
                          workers=3, db_name=DB_NAME, rundir=root,
                          SILO_LOG_LEVEL="info",
                          OVEN_URL=st.fakes["oven"].url,
                          SESSION_URL=st.fakes["session"].url,
                          PDS_URL=st.fakes["pds"].url,
                          SILO_PROBE_TIMEOUT_MS=PROBE_TIMEOUT_MS,
                          SILO_PROBE_CONNECT_MS=PROBE_CONNECT_MS,
                          SILO_CACHE_TTL_S=CACHE_TTL_S,
                          SILO_DB_SLOW_MS=DB_SLOW_MS,
                          SILO_ADMIN_TOKEN=ADMIN_TOKEN,
                          SILO_READ_TOKEN=READ_TOKEN)
        st.silo_started = time.time()     # before silo reads its clock
        st.silo.start()
        www = root / "www"
        www.mkdir()
        (www / "index.html").write_text("<!doctype html><title>silo</title>")
        st.caddy = sv.caddy(sp.free_port(), sock, root, root / "caddy.log",
                            www=www)
        st.caddy.start()
        yield st
    finally:
        sp.stop_all()
        for fake in st.fakes.values():
            fake.stop()
        if _failed:
            for log in st.logs():
                sys.stderr.write(f"\n---- last lines of {log} ----\n")
                lines = log.read_text(errors="replace").splitlines()
                sys.stderr.write("\n".join(lines[-40:]) + "\n")
            sys.stderr.write(f"(logs kept in {root})\n")
        else:
            shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------- seed data

# Collections the tests insert, with the category silo must give each.
CATEGORIES = {
    "boots": "logs", "logs": "logs",
    "chat-system": "chat",
    "paintings": "content", "kidlisp": "content",
    "users": "identity", "@handles": "identity", "verifications": "identity",
    "secrets": "identity",
    "news-posts": "social", "sotce-pages": "social", "piece-hits": "social",
    "zz-unknown-things": "other",
}


def _docs():
    """AC-shaped documents, made up, in the shapes of ac-platform.md §6."""
    subs = [f"auth0|{i:024x}" for i in range(9)]
    users = [
        # the shared guest account: not a user, though it has a DID
        {"_id": "art-guest", "code": "acguest",
         "atproto": {"did": "did:plc:artguest", "handle":
                     "art.at.aesthetic.computer"}},
        {"_id": subs[0], "code": "ac25a", "atproto": {"did": "did:plc:aaa"}},
        {"_id": subs[1], "code": "ac25b", "atproto": {"did": "did:plc:bbb",
                                                      "handle": "b.at.x"}},
        {"_id": subs[2], "code": "ac25c"},
        {"_id": subs[3], "code": "ac25d", "atproto": {"handle": "no-did"}},
        {"_id": subs[4], "code": "ac25e", "email": "e@example.com"},
        {"_id": "did:plc:imported", "code": "ac25f"},
        {"_id": subs[5], "code": "ac25g", "atproto": {"did": "did:plc:ggg"}},
    ]
    handles = [{"_id": s, "handle": f"h{i}", "createdAt": None}
               for i, s in enumerate(subs[:6])]
    verifications = [{"_id": s, "count": c}
                     for s, c in zip(subs, [0, 1, 0, 3, 1, 0, 7])]
    paintings = [{"code": f"p{i:03d}", "slug": f"2025.1.{i}",
                  "bucket": "user-aesthetic-computer", "user": subs[i % 5],
                  "atproto": {"rkey": f"3k{i}"}} for i in range(23)]
    kidlisp = [{"code": f"k{i}", "source": "(wipe blue)\n(ink red)\n" * (i + 1),
                "hash": f"{i:064x}", "hits": i} for i in range(11)]
    boots = [{"bootId": f"b{i}", "meta": {"host": "aesthetic.computer",
                                          "path": "/prompt" + "x" * 300},
              "status": "success", "events": [{"t": j} for j in range(10)]}
             for i in range(40)]
    logs = [{"from": "log", "text": f"event {i}", "users": [subs[i % 9]],
             "action": "handle:update"} for i in range(9)]
    chat = [{"user": subs[i % 9], "text": f"hi {i}", "font": "font_1"}
            for i in range(13)]
    secrets = [{"_id": "bluesky", "password": "x"}, {"_id": "pinata", "k": 1}]
    news = [{"code": f"n{i}", "title": f"t{i}", "status": "live"}
            for i in range(3)]
    sotce = [{"page": i, "text": "a page"} for i in range(2)]
    hits = [{"piece": p, "hits": n} for p, n in
            (("prompt", 10), ("wand", 3), ("line", 7), ("rect", 1))]
    unknown = [{"what": "no category"}]
    return {"users": users, "@handles": handles,
            "verifications": verifications, "paintings": paintings,
            "kidlisp": kidlisp, "boots": boots, "logs": logs,
            "chat-system": chat, "secrets": secrets, "news-posts": news,
            "sotce-pages": sotce, "piece-hits": hits,
            "zz-unknown-things": unknown}


def seed_database(stack):
    """Replace the database with the test data set; return it."""
    docs = _docs()
    with stack.mongo() as client:
        client.drop_database(DB_NAME)
        db = client[DB_NAME]
        for name, items in docs.items():
            db[name].insert_many([dict(d) for d in items])
        db.paintings.create_index("code", unique=True)
        db.paintings.create_index("user")
        db["@handles"].create_index("handle", unique=True)
    return docs


@pytest.fixture(scope="session")
def seeded(stack):
    """Insert the test data set; return {collection: [docs]}."""
    return seed_database(stack)


# Collections of the generated AC dataset the service, KidLisp and
# overview tests read, at a scale with a few keeps and bakes in it.
ACGEN_SCALE = 0.05
ACGEN_COLLECTIONS = ["kidlisp", "@handles", "users", "paintings", "moods",
                     "pieces", "tapes", "news-posts", "oven-bakes",
                     "verifications"]


@pytest.fixture(scope="module")
def acdata(stack):
    """The generated AC dataset (tools/acgen.py) in the database, as
    {collection: [documents]} decoded the way pymongo reads them; the
    tests compute what silo should say from these.  Afterwards the
    database holds the `seeded` data set again."""
    import acgen
    from bson import json_util
    docs = {}
    with stack.mongo() as client:
        client.drop_database(DB_NAME)
        db = client[DB_NAME]
        for name in ACGEN_COLLECTIONS:
            docs[name] = [json_util.loads(acgen.encode_document(d))
                          for d in acgen.iter_collection(name, ACGEN_SCALE)]
            db[name].insert_many([dict(d) for d in docs[name]])
    stack.clear_cache()
    yield docs
    seed_database(stack)
    stack.clear_cache()
