"""docs/openapi.yaml is the API's contract: every route silo serves is
described there with its access and the query parameters it accepts, and
what the routes really answer validates against the schemas.

The routes, with their access, come from the binary: `silo help serve`
prints its ENDPOINTS from the route table.  The query parameters each
route takes come from silo too: asked with one it does not know, a route
answers 400 naming the ones it accepts.  Answers are validated with
openapi-schema-validator (OAS 3.0 dialect), and every schema in the
document may only use the keywords listed in KNOWN, so the document
cannot drift into keywords nobody meant to check.
"""

import re
import subprocess

import pytest
import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

import fcgi
import stack_services as sv
from conftest import DB_NAME, SRCDIR

SPEC = SRCDIR / "docs" / "openapi.yaml"
SPEC_URI = "urn:silo:openapi"

KNOWN = {"$ref", "type", "nullable", "enum", "properties", "required",
         "additionalProperties", "items", "oneOf", "allOf", "minimum",
         "maximum", "format", "description", "default"}

# One ENDPOINTS line of `silo help serve`: "    GET /api/x/:id  (read:db)".
ENDPOINT = re.compile(r"\s+([A-Z]+) (/\S*)  \((public|signed-in|[a-z]+:[a-z]+)\)")
SECTION = re.compile(r"[A-Z][A-Z ]*")       # a man-page section heading

# silo's answer to a query parameter a route does not declare.
TAKES_NONE = re.compile(r"unknown query parameter 'silo-probe': "
                        r"(\S+) takes no parameters")
ACCEPTS = re.compile(r"unknown query parameter 'silo-probe': "
                     r"(\S+) accepts (.+)")
ADMIN = "admin-" + "d4" * 20


def oa_path(path):
    """/api/storage/user/:id -> /api/storage/user/{id}"""
    return re.sub(r":(\w+)", r"{\1}", path)


@pytest.fixture(scope="module")
def endpoints(stack):
    """[(method, path as silo writes it, access)] from `silo help serve`."""
    r = subprocess.run([str(stack.silo_bin), "help", "serve"],
                       capture_output=True, text=True)
    stack.keep_stderr("help-serve", r.stderr)
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert "ENDPOINTS" in lines, r.stdout
    out = []
    for line in lines[lines.index("ENDPOINTS") + 1:]:
        if SECTION.fullmatch(line):
            break
        m = ENDPOINT.fullmatch(line)
        if m:
            out.append(m.groups())
        else:
            # Anything else in the section is prose (a summary line), never
            # a route line this parser fails to read.
            assert not re.match(r"\s+[A-Z]+ /", line), \
                f"unparsed ENDPOINTS line: {line!r}"
    assert out, "`silo help serve` lists no routes:\n" + r.stdout
    return out


@pytest.fixture(scope="module")
def admin_silo(stack):
    """A silo with the admin token set, so that every route, run:* ones
    included, gets as far as its query check.
    Spoken to over FastCGI; no Caddy needed."""
    rundir = stack.root / "openapi"
    rundir.mkdir(parents=True, exist_ok=True)
    sock = sv.socket_path(rundir, "silo.sock")
    s = sv.silo(stack.silo_bin, stack.fdb.uri, sock,
                stack.silo_log(rundir / "silo.log"), workers=1,
                db_name=DB_NAME, rundir=rundir,
                SILO_ADMIN_TOKEN=ADMIN).start()
    try:
        yield str(sock)
    finally:
        s.stop()


@pytest.fixture(scope="module")
def routes(endpoints, admin_silo):
    """[(method, openapi path, access, [query params])]: each route's
    parameters as silo itself enforces them."""
    out = []
    for method, path, access in endpoints:
        uri = re.sub(r":\w+", "x", path) + "?silo-probe=1"
        r = fcgi.request(admin_silo, {
            "REQUEST_METHOD": method, "REQUEST_URI": uri,
            "HTTP_AUTHORIZATION": "Bearer " + ADMIN, "CONTENT_LENGTH": "0"})
        assert r.status == 400, (method, uri, r.status, r.body)
        message = r.json()["error"]["message"]
        if m := TAKES_NONE.fullmatch(message):
            params = []
        else:
            m = ACCEPTS.fullmatch(message)
            assert m, (method, path, message)
            params = m.group(2).split(", ")
        assert m.group(1) == path, (method, path, message)
        out.append((method, oa_path(path), access, params))
    return out


@pytest.fixture(scope="module")
def spec():
    doc = yaml.safe_load(SPEC.read_text())
    assert str(doc["openapi"]).startswith("3.0"), doc["openapi"]
    return doc


def resolve(spec, ref):
    assert ref.startswith("#/"), ref
    node = spec
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def pointer(*parts):
    """A JSON pointer (RFC 6901) to parts."""
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1")
                           for p in parts)


# silo writes every time as UTC to the second ("2026-02-09T12:00:00Z"):
# stricter than RFC 3339, which the OAS 3.0 checker alone would take.
SILO_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
FORMATS = type(oas30_format_checker)()
FORMATS.checkers = dict(oas30_format_checker.checkers)
_rfc3339, _ = oas30_format_checker.checkers["date-time"]
FORMATS.checks("date-time")(
    lambda v: not isinstance(v, str) or (SILO_DATE_TIME.match(v) is not None
                                         and _rfc3339(v)))


def validate(spec, ref, value, where="$"):
    """Raise AssertionError naming where value breaks the schema at ref
    (a pointer into the document)."""
    registry = Registry().with_resource(
        SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT4))
    validator = OAS30Validator({"$ref": SPEC_URI + ref}, registry=registry,
                               format_checker=FORMATS)
    errors = sorted(validator.iter_errors(value), key=lambda e: e.path)
    assert not errors, f"{where}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path)) or '.'}: {e.message}"
        for e in errors[:5])


def schemas(spec):
    """Every schema object in the document, with where it is."""
    def walk(schema, where):
        yield schema, where
        for name, sub in schema.get("properties", {}).items():
            yield from walk(sub, f"{where}.{name}")
        if isinstance(schema.get("items"), dict):
            yield from walk(schema["items"], f"{where}[]")
        if isinstance(schema.get("additionalProperties"), dict):
            yield from walk(schema["additionalProperties"], f"{where}{{}}")
        for key in ("oneOf", "allOf"):
            for i, sub in enumerate(schema.get(key, [])):
                yield from walk(sub, f"{where}.{key}[{i}]")
    for name, schema in spec["components"]["schemas"].items():
        yield from walk(schema, name)
    responses = [(f"responses.{n}", r)
                 for n, r in spec["components"].get("responses", {}).items()]
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for p in op.get("parameters", []):
                if "schema" in p:
                    yield from walk(p["schema"],
                                    f"{method} {path} ?{p['name']}")
            responses += [(f"{method} {path} {status}", r)
                          for status, r in op["responses"].items()]
    for where, r in responses:
        for media, content in r.get("content", {}).items():
            yield from walk(content["schema"], f"{where} {media}")


def response_schema(spec, path, status, method="get"):
    """A pointer to the JSON schema of one answer."""
    resp = spec["paths"][path][method]["responses"][str(status)]
    if "$ref" in resp:
        return resp["$ref"] + pointer("content", "application/json",
                                      "schema")[1:]
    return pointer("paths", path, method, "responses", str(status),
                   "content", "application/json", "schema")


def test_help_serve_lists_routes(endpoints):
    """The parse found the table (it fails loudly on zero routes or on a
    route line it cannot read), and each route once."""
    keys = [(m, p) for m, p, _ in endpoints]
    assert len(keys) == len(set(keys)), keys
    assert ("GET", "/api/health", "public") in endpoints


def test_every_route_is_described_and_nothing_else(spec, endpoints):
    table = {(m.lower(), oa_path(p)) for m, p, _ in endpoints}
    described = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert table - described == set(), "routes without a description"
    assert described - table == set(), "described routes that do not exist"


def test_query_parameters_are_the_routes_own(spec, routes):
    for method, path, _, params in routes:
        op = spec["paths"][path][method.lower()]
        query = [p["name"] for p in op.get("parameters", [])
                 if p["in"] == "query"]
        assert sorted(query) == sorted(params), path


def test_access_is_the_route_tables(spec, endpoints):
    """x-silo-access and security say what the route table (and so
    src/access.c) enforces, and a guarded route documents the 401 and 403
    it can answer."""
    for method, path, want in endpoints:
        op = spec["paths"][oa_path(path)][method.lower()]
        assert op["x-silo-access"] == want, path
        if want == "public":
            assert op["security"] == [], path
        else:
            assert op["security"] == [{"bearer": []}, {"session": []}], path
            assert {"401", "403"} <= set(op["responses"]), path


def test_schemas_use_only_known_keywords(spec):
    found = 0
    for schema, where in schemas(spec):
        unknown = set(schema) - KNOWN
        assert not unknown, f"{where}: schema keywords not checked: {unknown}"
        found += 1
    assert found > 0


def test_the_validator_fails(spec):
    """The validation below can fail: a wrong type, a missing required
    member, an undescribed one and a time not in silo's shape are each
    caught."""
    ref = response_schema(spec, "/api/ping", 200)
    validate(spec, ref, {"ok": True})
    for bad in ({"ok": "yes"}, {}, {"ok": True, "extra": 1}):
        with pytest.raises(AssertionError):
            validate(spec, ref, bad)
    time_ref = pointer("components", "schemas", "Time")
    validate(spec, time_ref, "2026-02-09T12:00:00Z")
    with pytest.raises(AssertionError):
        validate(spec, time_ref, "2026-02-09T12:00:00.5+01:00")


def test_every_reference_resolves(spec):
    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref":
                    resolve(spec, v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(spec)


# Requests whose answers are checked, per route: the plain GET, and a few
# with parameters or states that take other branches of the schemas.
EXTRA = {
    "/api/kidlisp/stats": ["?source=8&top=3&recent=3&bucket=week&days=60"
                           "&until=2026-02-09"],
}


@pytest.fixture
def healthy(stack, acdata):
    for f in stack.fakes.values():
        f.set_state("healthy")
    stack.clear_cache()
    yield stack
    for f in stack.fakes.values():
        f.set_state("healthy")
    stack.clear_cache()


# The shared stack never takes a storage snapshot, so its /api/storage
# routes answer 503 no_snapshot; test_storage.py validates their 200s.
NO_SNAPSHOT = "/api/storage/"


def test_real_answers_validate(spec, routes, healthy, acdata):
    stack = healthy
    # The user search answers 200 for a user the data set has.
    ids = {"/api/users/{id}": min(h["handle"] for h in acdata["@handles"]
                                  if h["handle"].isascii())}
    for method, path, _, _ in routes:
        if method != "GET":
            continue
        status = 503 if path.startswith(NO_SNAPSHOT) else 200
        if path == "/api/auth/db":     # the forward-auth yes: no body
            assert stack.get(path).status == 204
            continue
        if path == "/api/metrics":     # Prometheus text, not JSON
            r = stack.get(path)
            assert r.status == 200, r
            assert r.header("Content-Type") == \
                "text/plain; version=0.0.4; charset=utf-8"
            assert "text/plain" in spec["paths"][path]["get"]["responses"][
                "200"]["content"]
            continue
        for query in [""] + EXTRA.get(path, []):
            r = stack.get(path.replace("{id}", ids.get(path, "jeffrey")) +
                          query)
            assert r.status == status, (path, r)
            validate(spec, response_schema(spec, path, status), r.json(),
                     path + query)


@pytest.mark.parametrize("state", ["dead", "slow", "error"])
def test_answers_about_broken_services_validate(spec, healthy, state):
    stack = healthy
    for f in stack.fakes.values():
        f.set_state(state)
    for path in ("/api/services", "/api/services/oven",
                 "/api/services/session", "/api/services/atproto",
                 "/api/overview"):
        stack.clear_cache()
        r = stack.get(path)
        assert r.status == 200, (path, r)
        validate(spec, response_schema(spec, path, 200), r.json(), path)


def test_errors_validate(spec, healthy):
    stack = healthy
    r = stack.get("/api/kidlisp/stats?days=0")
    assert r.status == 400
    validate(spec, response_schema(spec, "/api/kidlisp/stats", 400), r.json())


def test_overview_with_a_snapshot_validates(spec, healthy):
    from datetime import datetime, timezone
    stack = healthy
    with stack.mongo() as client:
        coll = client["silo"]["storage_snapshots"]
        coll.insert_one({"status": "ok", "finished_at": datetime.now(
            timezone.utc), "totals": {"bytes": 10, "objects": 2}})
        try:
            stack.clear_cache()
            body = stack.get("/api/overview").json()
        finally:
            coll.drop()
    assert body["storage"]["status"] == "ok"
    validate(spec, response_schema(spec, "/api/overview", 200), body)
