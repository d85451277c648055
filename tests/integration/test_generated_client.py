"""Issue 20: generators accept docs/openapi.json. openapi-spec-validator validates it as OpenAPI
3.1; openapi-python-client generates a client from it (no warning but the two QR images' media
types, which it maps to bytes through ``content_type_overrides``), and that generated client,
signing like a partner, talks to the app through WSGI: an accepted and a refused verification
(typed subject, ``None`` subject), a benefit query and a complaint. (The Node/TypeScript side is
sdk/node, tests/e2e/test_sdk_node.py.)"""
from __future__ import annotations

import importlib
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from scenes.signing import authorization_header

from ..helpers import ApiClient

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
PACKAGE = "citizencard_client"
CONFIG = {"package_name_override": PACKAGE, "project_name_override": PACKAGE,
          "content_type_overrides": {"image/png": "application/octet-stream", "image/svg+xml": "application/octet-stream"}}


def test_the_document_is_valid_openapi_3_1() -> None:
    spec = json.loads(DOC.read_text())
    assert spec["openapi"].startswith("3.1.")
    validate(spec)  # raises OpenAPIValidationError


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The openapi-python-client package generated from docs/openapi.json, imported."""
    root = tmp_path_factory.mktemp("generated")
    config = root / "config.json"
    config.write_text(json.dumps(CONFIG))
    bin_dir = Path(sys.executable).parent
    result = subprocess.run(
        [str(bin_dir / "openapi-python-client"), "generate", "--path", str(DOC), "--meta", "none",
         "--output-path", str(root / PACKAGE), "--config", str(config)],
        capture_output=True, text=True, timeout=300, cwd=root,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"})  # its post-hooks run ruff from the venv
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout, result.stdout
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _client(generated: Any, api: ApiClient, token: str | None = None, partner: dict[str, str] | None = None) -> Any:
    """A generated client whose requests go to the app through WSGI; with ``partner``, each request is
    signed (over the exact body bytes httpx built) just before it is sent."""

    def sign(request: httpx.Request) -> None:
        assert partner is not None
        path = request.url.raw_path.decode()
        request.headers["Authorization"] = authorization_header(
            partner["partner_id"], partner["secret"], request.method, path, request.content,
            int(api.clock.time()), secrets.token_hex(12))

    hooks = {"request": [sign]} if partner else {}
    args = {"transport": httpx.WSGITransport(app=api.app), "event_hooks": hooks}
    if token:
        return generated.AuthenticatedClient(base_url="http://localhost", token=token, httpx_args=args,
                                             raise_on_unexpected_status=True)
    return generated.Client(base_url="http://localhost", httpx_args=args, raise_on_unexpected_status=True)


def test_the_generated_python_client_verifies_queries_benefits_and_files_a_complaint(generated: Any, api: ApiClient) -> None:
    from citizencard_client.api.mp_benefits import get_benefits
    from citizencard_client.api.mp_card import get_code
    from citizencard_client.api.mp_complaints import post_complaint
    from citizencard_client.api.partner import create_verification
    from citizencard_client.models import ComplaintRequest, TransitSubject, VerificationRequest, VerificationRequestScene

    token = api.bound_citizen()
    citizen = _client(generated, api, token=token)
    metro = _client(generated, api, partner=api.partner(("transit",)))

    code = get_code.sync(client=citizen).code
    request = VerificationRequest(code=code, scene=VerificationRequestScene.TRANSIT, terminal_id="gate-1")
    accepted = create_verification.sync(client=metro, body=request)
    assert accepted.accepted and accepted.reason is None and not accepted.duplicate
    assert isinstance(accepted.subject, TransitSubject) and accepted.subject.concession == "standard"

    again = VerificationRequest(code=code, scene=VerificationRequestScene.TRANSIT, terminal_id="gate-2")
    refused = create_verification.sync(client=metro, body=again)  # the commonest answer crashed the old client
    assert (refused.accepted, refused.reason, refused.subject) == (False, "code_used", None)

    page = get_benefits.sync(client=citizen)
    assert page.items == []

    complaint = post_complaint.sync(client=citizen, body=ComplaintRequest(category="code", description="闸机扫码失败"))
    assert complaint.ticket_number and complaint.status.value == "new"
