"""docs/openapi.json is generated from the code; partners integrate against it."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from app import create_app

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
REGENERATE = "make openapi"


def current_spec() -> dict:
    """The document as `make openapi` writes it: with the sandbox's endpoints (CARD_SANDBOX=1), each
    marked as sandbox-only, so integrators find them in the contract (a trial of the kit missed them)."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "REDIS_URL": None, "CARD_SANDBOX": True})
    api = app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    return json.loads(json.dumps(api.spec.to_dict()))


def test_committed_document_matches_the_code() -> None:
    assert json.loads(DOC.read_text()) == current_spec(), f"docs/openapi.json is stale: run `{REGENERATE}`"


def test_every_error_answer_documents_the_envelope() -> None:
    spec = current_spec()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":  # path-level parameters (e.g. {ticket_number}), not an operation
                continue
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) or status == "default":
                    if "$ref" in response:
                        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
    assert spec["components"]["schemas"]["Error"]["properties"]["error"]["$ref"] == "#/components/schemas/ErrorBody"


def _request_strings(spec: dict) -> list[tuple[str, dict]]:
    """Every string a client sends, with where: parameters and request-body properties (nested too)."""
    schemas = spec["components"]["schemas"]
    found: list[tuple[str, dict]] = []

    def walk(where: str, schema: dict, seen: frozenset[str]) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            if name not in seen:
                walk(where, schemas[name], seen | {name})
        elif schema.get("type") == "string":
            found.append((where, schema))
        for key, child in schema.get("properties", {}).items():
            walk(f"{where}.{key}", child, seen)
        if isinstance(schema.get("items"), dict):
            walk(f"{where}[]", schema["items"], seen)

    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            parameters = operation if method == "parameters" else operation.get("parameters", [])
            for parameter in parameters:
                walk(f"{method} {path} {parameter['in']}:{parameter['name']}", parameter["schema"], frozenset())
            if method != "parameters" and "requestBody" in operation:
                for content in operation["requestBody"]["content"].values():
                    walk(f"{method} {path} body", content["schema"], frozenset())
    return found


def test_every_string_a_client_sends_states_its_characters() -> None:
    """Issue 15: a NUL in any text field was a 500. Every string parameter or body field is an
    enum, a date/time format, or has a pattern (app.platform.text.Text: no control characters)."""
    unchecked = [where for where, schema in _request_strings(current_spec())
                 if not ({"pattern", "enum", "format"} & set(schema))]
    assert not unchecked, f"declare these as app.platform.text.Text (or give a pattern/enum): {unchecked}"


def test_every_instant_a_client_sends_states_its_range() -> None:
    """Issue 15: an ``as_of`` of year 1 with a +14:00 offset was a 500. Every date-time a client
    sends is an app.platform.text.Instant (1970-9000 UTC, offsets up to +-14:00)."""
    unbounded = [where for where, schema in _request_strings(current_spec())
                 if schema.get("format") == "date-time" and not {"x-minimum", "x-maximum"} <= set(schema)]
    assert not unbounded, f"declare these as app.platform.text.Instant: {unbounded}"


def _operations(spec: dict) -> list[tuple[str, str, dict]]:
    return [(method, path, operation) for path, item in spec["paths"].items()
            for method, operation in item.items() if method != "parameters"]


def test_generators_get_ids_servers_and_explicit_security() -> None:
    """Issue 20: every operation has an operationId (its view's name, so it is stable) and states its
    security, ``[]`` on the public ones; the document names its server."""
    spec = current_spec()
    assert spec["openapi"] == "3.1.0" and spec["servers"][0]["url"] == "/"
    ids = [operation.get("operationId") for _, _, operation in _operations(spec)]
    assert None not in ids and len(set(ids)) == len(ids)
    assert next(op for m, p, op in _operations(spec) if p == "/api/partner/v1/verifications")["operationId"] == "createVerification"
    public = sorted(p for m, p, operation in _operations(spec) if operation["security"] == [])
    sandbox = sorted(p for m, p, operation in _operations(spec) if p.startswith("/api/sandbox/"))
    assert len(sandbox) == 6 and set(sandbox) <= set(public)  # the sandbox's endpoints are unsigned
    assert [p for p in public if p not in sandbox] == ["/api/mp/v1/auth/alipay", "/api/mp/v1/auth/wechat",
                                                       "/api/mp/v1/complaint-categories", "/api/mp/v1/help/articles",
                                                       "/api/mp/v1/services",
                                                       "/api/mp/v1/services/export", "/api/mp/v1/services/export.csv",
                                                       "/api/partner/v1/platform-keys"]


def test_nullable_is_written_for_3_1_and_each_answer_has_one_media_type() -> None:
    """Issue 20: ``nullable`` beside an ``anyOf`` crashed openapi-python-client, a top-level ``oneOf``
    left it without a request model, and three media types on one operation left it without a type."""
    spec = current_spec()
    text = json.dumps(spec)
    assert '"nullable"' not in text
    subject = spec["components"]["schemas"]["Verification"]["properties"]["subject"]
    assert set(subject) == {"anyOf", "description"} and subject["anyOf"][-1] == {"type": "null"}
    assert "oneOf" not in spec["components"]["schemas"]["VerificationRequest"]
    for method, path, operation in _operations(spec):
        for status, answer in operation["responses"].items():
            assert len(answer.get("content", {})) <= 1, (method, path, status)


def test_every_published_example_is_valid_for_its_schema() -> None:
    """Issue 20: examples (schema classes' EXAMPLES) are checked, OpenAPI 3.1 (JSON Schema 2020-12)."""
    from openapi_schema_validator import OAS31Validator
    from referencing import Registry, Resource

    spec = current_spec()
    schemas = spec["components"]["schemas"]
    registry = Registry().with_resource("urn:doc", Resource.opaque(spec))  # "#/components/..." resolves in the document
    with_examples = {name: schema for name, schema in schemas.items() if "examples" in schema}
    assert {"VerificationRequest", "Verification", "Error", "VerificationRecord", "Statement"} <= set(with_examples)
    for name, schema in with_examples.items():
        validator = OAS31Validator({"$ref": f"urn:doc#/components/schemas/{name}"}, registry=registry)
        for example in schema["examples"]:
            errors = [error.message for error in validator.iter_errors(example)]
            assert not errors, (name, example, errors)


def _answers_and_bodies(spec: dict) -> list[tuple[str, str, str, dict]]:
    """(method, path, media type, media object) of every request body and every 2xx answer."""
    found = []
    for method, path, operation in _operations(spec):
        for media, content in operation.get("requestBody", {}).get("content", {}).items():
            found.append((method, path, media, content))
        for status, answer in operation["responses"].items():
            if status.startswith("2"):
                if "$ref" in answer:
                    answer = spec["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
                found.extend((method, path, media, content) for media, content in answer.get("content", {}).items())
    return found


def _components_used(spec: dict, node: object, found: set[str]) -> set[str]:
    """The component schemas ``node`` refers to, and theirs in turn (the scenes' subjects through ``anyOf`` too)."""
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] not in found:
            found.add(ref.rsplit("/", 1)[1])
            _components_used(spec, spec["components"]["schemas"][ref.rsplit("/", 1)[1]], found)
        for child in node.values():
            _components_used(spec, child, found)
    elif isinstance(node, list):
        for child in node:
            _components_used(spec, child, found)
    return found


def test_every_request_and_answer_schema_carries_examples() -> None:
    """Issue 20, "examples for every request and answer": every component schema a request body or a 2xx
    answer uses, nested ones included, publishes its class's EXAMPLES (validated by the test above)."""
    spec = current_spec()
    used = _components_used(spec, [content for *_, content in _answers_and_bodies(spec)], set())
    assert len(used) > 150 and {"Verification", "TransitSubject", "HistoryItem", "ClearingRow"} <= used
    missing = sorted(name for name in used if not spec["components"]["schemas"][name].get("examples"))
    assert not missing, f"give these schema classes an EXAMPLES list: {missing}"


def _nested_disagreements(spec: dict, where: str, schema: dict, value: object) -> list[str]:
    """Where ``value`` (part of an example of ``schema``) holds a nested component's value that is
    not one of that component's own examples (null allowed where the schema allows it)."""
    schemas = spec["components"]["schemas"]
    refs = [schema] if "$ref" in schema else [branch for branch in schema.get("anyOf", []) if "$ref" in branch]
    if refs:
        own = [example for ref in refs for example in schemas[ref["$ref"].rsplit("/", 1)[1]].get("examples", [])]
        return [] if value is None or value in own else [f"{where}: {value!r}"]
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return [found for key, child in value.items() if key in properties
                for found in _nested_disagreements(spec, f"{where}.{key}", properties[key], child)]
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [found for index, item in enumerate(value)
                for found in _nested_disagreements(spec, f"{where}[{index}]", schema["items"], item)]
    return []


def test_nested_examples_agree_with_their_parents() -> None:
    """A parent's example nests one of its nested schema's own examples (the classes refer to them,
    e.g. ``HistoryItemSchema.EXAMPLES``), so the document tells one story at every level."""
    spec = current_spec()
    disagreements = [found for name, schema in spec["components"]["schemas"].items()
                     for index, example in enumerate(schema.get("examples", []))
                     for found in _nested_disagreements(spec, f"{name}[{index}]", schema, example)]
    assert not disagreements, disagreements


# PNG, PDF and the binary deny list cannot be written in a JSON document (OpenAPI's example is a JSON
# value; an Example Object's externalValue would need a URL we do not host): their media types
# say format binary instead; tests/integration/test_card_code.py, test_printed_codes.py and
# test_offline_lists.py check their bytes.
BINARY_MEDIA = {"image/png", "application/pdf", "application/octet-stream"}


def test_every_text_answer_has_an_example() -> None:
    """Issue 20: non-JSON answers carry an ``example`` in their media type (the SVG image, the CSV files);
    binary ones cannot (BINARY_MEDIA) and say ``format: binary``."""
    spec = current_spec()
    others = [(method, path, media, content) for method, path, media, content in _answers_and_bodies(spec)
              if media != "application/json"]
    assert {media for *_, media, _ in others} >= {"image/svg+xml", "text/csv", "image/png"}
    for method, path, media, content in others:
        if media in BINARY_MEDIA:
            assert content["schema"].get("format") == "binary" and "example" not in content, (method, path, media)
        else:
            assert isinstance(content.get("example"), str) and content["example"], (method, path, media)


def test_the_document_is_written_at_its_first_read_once_for_32_concurrent_readers() -> None:
    """Making an app documents nothing (app.platform.openapi.CardApi: ~0.3 s of CPU per app saved);
    the first read completes the document, and 32 threads reading it at once through the served
    route all get the same whole document, the committed one."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "REDIS_URL": None, "CARD_SANDBOX": True})
    api = app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    assert api._spec._paths == {} and api._to_document  # nothing documented yet
    with ThreadPoolExecutor(32) as pool:
        bodies = list(pool.map(lambda _: app.test_client().get("/api/openapi.json").get_json(), range(32)))
    assert all(body == bodies[0] for body in bodies)
    assert bodies[0] == json.loads(DOC.read_text())
    assert api._to_document == []
