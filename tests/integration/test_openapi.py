"""docs/openapi.yaml is the API's contract: every route in src/routes.c is
described there with the query parameters it accepts, and what the routes
really answer validates against the schemas.

The validator is small and strict on purpose: it knows the parts of
OpenAPI 3.0's schema dialect the document uses ($ref, type, nullable,
enum, properties, required, additionalProperties, items, oneOf, allOf,
minimum, maximum, format date and date-time) and fails on any keyword it
does not know, so the document cannot drift into something unchecked.
"""

import re

import pytest
import yaml

from conftest import SRCDIR

ROUTES_C = SRCDIR / "src" / "routes.c"
SPEC = SRCDIR / "docs" / "openapi.yaml"

ROW = re.compile(r'\{\s*"([A-Z]+)",\s*"(/[^"]*)",\s*ACCESS_\w+,\s*'
                 r'(?:NULL|"[^"]*"),\s*(NULL|\w+),')
ACCESS = re.compile(r'\{\s*"([A-Z]+)",\s*"(/[^"]*)",\s*ACCESS_(\w+),\s*'
                    r'(NULL|"[^"]*"),')
PARAMS = re.compile(r'static const char \*const (\w+)\[\] = \{([^}]*)\}')

KNOWN = {"$ref", "type", "nullable", "enum", "properties", "required",
         "additionalProperties", "items", "oneOf", "allOf", "minimum",
         "maximum", "format", "description", "default"}
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool}
FORMATS = {"date-time": re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z"),
           "date": re.compile(r"\d{4}-\d\d-\d\d\Z")}


def routes():
    """[(method, openapi path, [query params])] from the route table."""
    text = ROUTES_C.read_text()
    arrays = {name: re.findall(r'"([^"]+)"', body)
              for name, body in PARAMS.findall(text)}
    out = []
    for method, path, params in ROW.findall(text):
        oa_path = re.sub(r":(\w+)", r"{\1}", path)
        out.append((method, oa_path, arrays.get(params, [])))
    assert out, "no routes parsed from src/routes.c"
    return out


def access_rows():
    """[(method, path as in routes.c, "public" | "read:<area>" | "admin")]"""
    return [(method, path, {"PUBLIC": "public", "ADMIN": "admin"}.get(
                access, scope.strip('"')))
            for method, path, access, scope
            in ACCESS.findall(ROUTES_C.read_text())]


@pytest.fixture(scope="module")
def spec():
    doc = yaml.safe_load(SPEC.read_text())
    assert str(doc["openapi"]).startswith("3.0"), doc["openapi"]
    return doc


def resolve(spec, ref):
    assert ref.startswith("#/"), ref
    node = spec
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def validate(spec, schema, value, where="$"):
    """Raise AssertionError naming the first place value breaks schema."""
    unknown = set(schema) - KNOWN
    assert not unknown, f"{where}: schema keywords not checked: {unknown}"
    if "$ref" in schema:
        return validate(spec, resolve(spec, schema["$ref"]), value, where)
    if value is None:
        assert schema.get("nullable"), f"{where}: null is not allowed"
        return
    for sub in schema.get("allOf", []):
        validate(spec, sub, value, where)
    if "oneOf" in schema:
        fits = 0
        errors = []
        for sub in schema["oneOf"]:
            try:
                validate(spec, sub, value, where)
                fits += 1
            except AssertionError as e:
                errors.append(str(e))
        assert fits == 1, f"{where}: fits {fits} of oneOf: {errors}"
    t = schema.get("type")
    if t == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), \
            f"{where}: {value!r} is not an integer"
    elif t == "number":
        assert isinstance(value, (int, float)) and \
            not isinstance(value, bool), f"{where}: {value!r} is not a number"
    elif t is not None:
        assert isinstance(value, TYPES[t]), f"{where}: {value!r} is not {t}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in enum"
    if "minimum" in schema:
        assert value >= schema["minimum"], f"{where}: {value} < minimum"
    if "maximum" in schema:
        assert value <= schema["maximum"], f"{where}: {value} > maximum"
    if schema.get("format") in FORMATS:
        assert FORMATS[schema["format"]].match(value), \
            f"{where}: {value!r} is not a {schema['format']}"
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            assert key in value, f"{where}: {key} is missing"
        for key, v in value.items():
            if key in props:
                validate(spec, props[key], v, f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                raise AssertionError(f"{where}: {key} is not described")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            validate(spec, schema["items"], v, f"{where}[{i}]")


def response_schema(spec, path, status, method="get"):
    resp = spec["paths"][path][method]["responses"][str(status)]
    if "$ref" in resp:
        resp = resolve(spec, resp["$ref"])
    return resp["content"]["application/json"]["schema"]


def test_every_route_is_described_and_nothing_else(spec):
    table = {(m.lower(), p) for m, p, _ in routes()}
    described = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert table - described == set(), "routes without a description"
    assert described - table == set(), "described routes that do not exist"


def test_query_parameters_are_the_routes_own(spec):
    for method, path, params in routes():
        op = spec["paths"][path][method.lower()]
        query = [p["name"] for p in op.get("parameters", [])
                 if p["in"] == "query"]
        assert sorted(query) == sorted(params), path


def test_access_is_the_route_tables(spec):
    """x-silo-access and security say what src/access.c enforces, and a
    guarded route documents the 401 and 403 it can answer."""
    for method, path, want in access_rows():
        op = spec["paths"][re.sub(r":(\w+)", r"{\1}", path)][method.lower()]
        assert op["x-silo-access"] == want, path
        if want == "public":
            assert op["security"] == [], path
        else:
            assert op["security"] == [{"bearer": []}], path
            assert {"401", "403"} <= set(op["responses"]), path


def test_help_serve_lists_every_route_with_its_access():
    """`silo help serve` prints its ENDPOINTS from the same table."""
    import subprocess
    from conftest import silo_binary
    out = subprocess.run([str(silo_binary()), "help", "serve"], check=True,
                         capture_output=True, text=True).stdout
    for method, path, want in access_rows():
        assert f"    {method} {path}  ({want})\n" in out, (method, path)


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


def test_real_answers_validate(spec, healthy):
    stack = healthy
    for method, path, _ in routes():
        if method != "GET":
            continue
        status = 503 if path.startswith(NO_SNAPSHOT) else 200
        for query in [""] + EXTRA.get(path, []):
            r = stack.get(path.replace("{id}", "jeffrey") + query)
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
