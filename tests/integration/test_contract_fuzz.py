"""Hostile input against the committed contract: schemathesis runs every operation of
docs/openapi.json (the file partners get, not the live spec) against the real app through WSGI,
on the embedded backend, with a bounded, derandomized number of examples.

Checks: schemathesis' defaults (no 5xx, documented content type, body schema, invalid input
rejected, auth enforced) plus two of ours: every status is documented explicitly (the
``default`` response does not count), and every 4xx/5xx body is our envelope.

Credentials: a bearer token of a bound citizen for the mini-program; for the partner API a test
client that signs each request with ``scenes.signing`` right before it is sent, over the exact
body bytes. It signs only requests carrying the placeholder below, so schemathesis' own probes
without or with wrong credentials stay unsigned.
"""
from __future__ import annotations

import io
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from werkzeug.test import Client
from werkzeug.wrappers import Request

from app.partners.models import PARTNER_ROLES
from app.platform.clock import FrozenClock
from scenes.registry import SCENE_NAMES
from scenes.signing import authorization_header
from standins.wechat import WeChatStandIn

from ..conftest import make_app
from ..helpers import ApiClient, dispose

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
SIGN_ME = "CC-HMAC-SHA256 sign-this-request"  # placeholder Authorization: SigningClient replaces it with a signature
MAX_EXAMPLES = 25
# Schema-valid is not always acceptable: a resident ID number has a checksum and must be on the
# roster, and a cursor must be one the API returned. Both are documented 422 answers.
# A verification's `direction` is for the transit scene only (422 with another scene).
# A complaint's category is configuration (GET /complaint-categories), not an enum of the document.
# Benefits: a recipient must hold a card, a benefit type must be configured, from must not be after to.
SEMANTIC_422 = ["POST /api/mp/v1/binding", "GET /api/mp/v1/card/verifications", "POST /api/partner/v1/verifications",
                "POST /api/mp/v1/complaints",
                "GET /api/mp/v1/benefits", "PUT /api/partner/v1/financial-accounts", "PUT /api/partner/v1/medical-insurance-accounts",
                "POST /api/partner/v1/disbursement-confirmations",  # a returned line needs a reason
# The card's life (docs/card-lifecycle.md): a bank id must name a partner bank, a PIN must not be
# weak and the serial must be the card's, an SMS code must be the one sent (and one a minute).
                "POST /api/mp/v1/card/physical", "POST /api/mp/v1/card/physical/activation", "POST /api/mp/v1/card/phone/code",
                "PUT /api/mp/v1/card/phone", "POST /api/partner/v1/bank/card-reports",
# The holder's consent to a bank (issue 15 item 11): the bank must be a partner bank, the code the one sent.
                "POST /api/mp/v1/card/financial-account/consents/code", "POST /api/mp/v1/card/financial-account/consents"]
# Logout is idempotent: a token that is unknown, expired or already revoked is answered 204 too
# (only a missing one is 401), so schemathesis' "wrong credentials must be refused" does not apply.
IDEMPOTENT_LOGOUT = "DELETE /api/mp/v1/auth/token"

schema = schemathesis.openapi.from_path(DOC, config=schemathesis.Config.from_dict({
    "base-url": "http://localhost",  # requests go to the app through WSGI, never to the network
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "with-security-parameters": False},
    # A body over the size limit is refused as 413 before its items are counted (e.g. 1,001 members).
    "checks": {"negative_data_rejection": {"expected-statuses": ["400", "401", "403", "404", "405", "406", "409", "413",
                                                                 "415", "422", "428", "429"]}},
    "operations": [
        {"include-name": SEMANTIC_422,
         "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]}}},
        {"include-name": IDEMPOTENT_LOGOUT, "checks": {"ignored_auth": {"enabled": False}}},
    ],
}))


class SigningClient(Client):
    """A WSGI test client that signs a request carrying ``SIGN_ME`` as a partner would."""

    def __init__(self, app: Any, partner: dict[str, str], clock: FrozenClock) -> None:
        super().__init__(app)
        self.partner, self.clock = partner, clock

    def run_wsgi_app(self, environ: dict[str, Any], buffered: bool = False) -> Any:
        if environ.get("HTTP_AUTHORIZATION") == SIGN_ME:
            body = environ["wsgi.input"].read()
            environ["wsgi.input"] = io.BytesIO(body)
            request = Request(environ)
            query = request.query_string.decode("latin-1")
            path = request.path + ("?" + query if query else "")
            environ["HTTP_AUTHORIZATION"] = authorization_header(
                self.partner["partner_id"], self.partner["secret"], request.method, path, body,
                int(self.clock.time()), secrets.token_hex(12))
        return super().run_wsgi_app(environ, buffered)


def status_documented_explicitly(ctx: Any, response: Any, case: Any) -> None:
    """The status is listed for the operation; the catch-all ``default`` response does not count."""
    if response.request.method.upper() != case.operation.method.upper():
        return  # schemathesis' probe with an undeclared method: its 405 is checked by `unsupported_method`
    documented = set(case.operation.definition.raw["responses"]) - {"default"}
    status = str(response.status_code)
    if status not in documented and f"{status[0]}XX" not in documented:
        raise AssertionError(f"{response.status_code} is not documented for {case.operation.label}: {sorted(documented)}")


def errors_use_the_envelope(ctx: Any, response: Any, case: Any) -> None:
    """Every 4xx/5xx body is exactly ``{"error": {"code", "message", "details"}}``."""
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.split(";")[0].strip() == "application/json", f"error sent as {content_type!r}"
    body = json.loads(response.content)
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(body, dict) and set(body) == {"error"} and isinstance(error, dict), f"not the envelope: {body!r}"
    assert set(error) == {"code", "message", "details"}, f"not the envelope: {body!r}"
    assert isinstance(error["code"], str) and isinstance(error["message"], str) and isinstance(error["details"], dict), body


@pytest.fixture
def fuzz_app(request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock, wechat: WeChatStandIn,
             alipay_config: dict[str, str]) -> Iterator[Any]:
    """The embedded backend with both login platforms on their stand-ins."""
    application = make_app("embedded", request, tmp_path, clock, wechat, **alipay_config)
    yield application
    dispose(application)


@pytest.fixture
def credentials(fuzz_app: Any, wechat: WeChatStandIn, clock: FrozenClock) -> dict[str, Any]:
    api = ApiClient(fuzz_app, wechat, clock)
    partner = api.partner(SCENE_NAMES, roles=PARTNER_ROLES)  # every scene and every role: each operation gets past 403
    return {"bearer": api.bearer(api.bound_citizen()), "partner": SigningClient(fuzz_app, partner, clock)}


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_every_operation_honours_the_contract(case: Any, fuzz_app: Any, credentials: dict[str, Any]) -> None:
    case.operation.schema.app = fuzz_app  # schemathesis' own probes (e.g. without credentials) go to this app too
    schemes = {name for requirement in case.operation.definition.raw.get("security", []) for name in requirement}
    kwargs: dict[str, Any] = {}
    if "partnerSignature" in schemes:
        kwargs = {"headers": {"Authorization": SIGN_ME}, "session": credentials["partner"]}
    elif "bearerAuth" in schemes:
        kwargs = {"headers": credentials["bearer"]}
    case.call_and_validate(app=fuzz_app, additional_checks=[status_documented_explicitly, errors_use_the_envelope], **kwargs)
