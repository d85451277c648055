"""docs/openapi.json is generated from the code; partners integrate against it."""
from __future__ import annotations

import json
from pathlib import Path

from app import create_app

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
REGENERATE = "citizencard openapi write --format=json docs/openapi.json"


def current_spec() -> dict:
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "REDIS_URL": None})
    api = app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    return json.loads(json.dumps(api.spec.to_dict()))


def test_committed_document_matches_the_code() -> None:
    assert json.loads(DOC.read_text()) == current_spec(), f"docs/openapi.json is stale: run `{REGENERATE}`"


def test_every_error_answer_documents_the_envelope() -> None:
    spec = current_spec()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":  # path-level parameters (e.g. {batch_reference}), not an operation
                continue
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) or status == "default":
                    if "$ref" in response:
                        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
    assert spec["components"]["schemas"]["Error"]["properties"]["error"]["$ref"] == "#/components/schemas/ErrorBody"
