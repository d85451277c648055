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
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from werkzeug.test import Client
from werkzeug.wrappers import Request

from app.partners.models import PARTNER_ROLES
from app.platform.clock import FrozenClock
from app.platform.cursor import encode_cursor
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
                "POST /api/mp/v1/complaints", "GET /api/mp/v1/me/access-log",
                "GET /api/mp/v1/benefits", "PUT /api/partner/v1/financial-accounts", "PUT /api/partner/v1/medical-insurance-accounts",
                "PUT /api/partner/v1/medical-evouchers",  # evoucher_invalid, as_of_in_future, recipient_unknown
                "POST /api/partner/v1/disbursement-confirmations",  # a returned line needs a reason
# The card's life (docs/card-lifecycle.md): a bank id must name a partner bank, a PIN must not be
# weak and the serial must be the card's, an SMS code must be the one sent (and one a minute).
                "POST /api/mp/v1/card/physical", "POST /api/mp/v1/card/physical/activation", "POST /api/mp/v1/card/phone/code",
                "PUT /api/mp/v1/card/phone", "POST /api/partner/v1/bank/card-reports",
# The holder's consent to a bank (issue 15 item 11): the bank must be a partner bank, the code the one sent.
                "POST /api/mp/v1/card/financial-account/consents/code", "POST /api/mp/v1/card/financial-account/consents",
# Offline certificates (docs/offline-codes.md §6): the nonce must be one a challenge gave, the proof a signature over it.
                "POST /api/mp/v1/card/offline/certificates",
# Issue 17: a real-person token must be one the platform gave for this person, a password must not be weak,
# and the ID number of a real-person check has a checksum.
                "DELETE /api/mp/v1/binding", "POST /api/mp/v1/real-person/checks", "POST /api/mp/v1/card/password/reset",
                "PUT /api/mp/v1/card/password", "DELETE /api/mp/v1/account", "POST /api/mp/v1/card/closure",
# Statements (issue 20): a well-formed date must also be a real day from 2020-01-01 to today (+08:00).
                "GET /api/partner/v1/statements/{day}", "GET /api/partner/v1/statements/{day}.csv",
# Issue 23: a log-in is confirmed with a password or a real-person token (one of them), a catalogue
# item's scenes must exist and its terminals be registered.
                "POST /api/mp/v1/oidc/requests/{request_id}/confirmation", "PUT /api/partner/v1/service-items/{code}",
# Payments (issue 22, docs/payments.md): one of verification_id and record_id, a declined charge needs a reason,
# fare bands must rise, a cursor must be one the API returned, a statement's day a real day up to today.
                "POST /api/partner/v1/charges", "POST /api/partner/v1/bank/charge-confirmations", "PUT /api/partner/v1/fare-table",
                "POST /api/partner/v1/bank/reversal-confirmations",  # a reversal_id named twice
                "GET /api/mp/v1/payments", "GET /api/partner/v1/clearing-statements/{day}",
                # issue 24: statistics need from <= to within 92 days; an ID-number correction needs the new number
                "GET /api/partner/v1/statistics", "POST /api/partner/v1/citizen-events",
                "GET /api/partner/v1/clearing-statements/{day}.csv",
# Family members (issue 18, docs/family.md): a member's ID number has a checksum and must be on the roster, a
# confirmation's real-person token must be one the platform gave for the member, a certificate's nonce one a
# challenge gave, a member's history cursor one the API returned.
                "POST /api/mp/v1/family-members", "POST /api/mp/v1/family-members/{entry_id}/confirmation",
                "POST /api/mp/v1/family-members/{entry_id}/offline/certificates",
                "GET /api/mp/v1/family-members/{entry_id}/verifications"]
# Logout is idempotent: a token that is unknown, expired or already revoked is answered 204 too
# (only a missing one is 401), so schemathesis' "wrong credentials must be refused" does not apply.
IDEMPOTENT_LOGOUT = "DELETE /api/mp/v1/auth/token"

# The sandbox-only operations (listed in the contract, marked so) exist only on a server started with
# CARD_SANDBOX=1, whose WeChat log-in takes sandbox codes only: tests/e2e/test_sandbox_clients.py drives them.
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
        # An offline record item is any JSON (an invalid one is settled as invalid, issue 16), so schemathesis
        # fills it with lone surrogates and 30-digit integers, which JSON Schema cannot exclude and the strict
        # JSON parser refuses for every endpoint with 400 bad_request (app/platform/http_json.py).
        {"include-name": "POST /api/partner/v1/offline/records",
         "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "403", "404", "409", "422", "429"]}}},
    ],
})).exclude(path_regex="^/api/sandbox/")


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
    if isinstance(case.body, dict | list):
        case.body = _integral_floats_as_integers(case.body)
    case.call_and_validate(app=fuzz_app, additional_checks=[status_documented_explicitly, errors_use_the_envelope], **kwargs)


def _integral_floats_as_integers(value: Any) -> Any:
    """``12.0`` as ``12``. In OpenAPI 3.1 (JSON Schema 2020-12) ``12.0`` is an ``integer``, so
    schemathesis sends it as valid data; the house rule refuses it (strict integers: money in fen,
    tests/unit/test_money_fields.py), which no JSON Schema can say. The two are the same JSON number
    to the schema, so the case stays valid or invalid as it was."""
    if isinstance(value, dict):
        return {key: _integral_floats_as_integers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral_floats_as_integers(item) for item in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


# Issue 15, item 15: shapes the hostile trial found answered 500 on PostgreSQL. Every string an
# operation of the committed document takes (body fields, nested ones included, query and path
# parameters) gets each text shape in turn, the others a plausible value; every date-time field and
# cursor gets each forged instant. Never a 500, always the envelope; a control character is refused.
_PLUS14, _MINUS14 = timezone(timedelta(hours=14)), timezone(timedelta(hours=-14))
TEXT_SHAPES = {"NUL": "a\x00b", "escape sequence": "\x1b[2J", "DEL and C1": "a\x7f\x85b", "line break": "a\nb"}
INSTANT_SHAPES = {  # name: (a date-time value, a cursor)
    "year 1 +14:00": ("0001-01-01T00:00:00+14:00", encode_cursor(datetime(1, 1, 1, tzinfo=_PLUS14), 1)),
    "year 9999 -14:00": ("9999-12-31T23:59:59-14:00", encode_cursor(datetime(9999, 12, 31, tzinfo=_MINUS14), 1)),
    "year 1": ("0001-01-01T00:00:00+00:00", encode_cursor(datetime(1, 1, 1, tzinfo=UTC), 1)),
    "40-digit cursor id": ("2026-01-01T08:00:00+08:00", encode_cursor(datetime(2026, 1, 1, tzinfo=UTC), "9" * 40)),
}
PLAUSIBLE = {  # a value each named string field would accept (the rest: an enum's first value, or "x")
    "name": "陈小明", "id_number": "441900198506151235", "phone": "13900139000", "contact_phone": "13900139000",
    "card_number": "1000000000000001", "scene": "transit", "terminal_id": "gate-1", "category": "card",
    "installation_id": "install-0001", "pin": "394817", "template_id": "benefit-credited-dev", "request_id": "report-0001",
    "serial_number": "ABC123456", "batch_reference": "b1", "account_number": "622202020011223344", "period": "2026-01",
    "benefit_type": "pension", "line_reference": "line-1", "sms_code": "123456", "direction": "entry",
}
DOCUMENT = json.loads(DOC.read_text())
OPERATIONS = [(method, path) for path, item in DOCUMENT["paths"].items() for method in item if method != "parameters"]


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    return _resolve(DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]) if "$ref" in schema else schema


def _value(schema: dict[str, Any], name: str, slot: tuple, here: tuple, hostile: Any) -> Any:
    """A value of ``schema`` (every optional property too) with ``hostile`` at ``slot``."""
    schema = _resolve(schema)
    kind = schema.get("type", "object")
    if here == slot:
        return hostile
    if kind == "string":
        plain = {"date-time": "2026-01-01T08:00:00+08:00", "date": "2026-01-01"}.get(schema.get("format", ""))
        return plain or PLAUSIBLE.get(name) or next((v for v in schema.get("enum", []) if v), "x")
    if kind in ("integer", "number"):
        return max(schema.get("minimum", 1), 1)
    if kind == "boolean":
        return True
    if kind == "array":
        return [_value(schema["items"], name, slot, (*here, 0), hostile)]
    return {key: _value(child, key, slot, (*here, key), hostile) for key, child in schema.get("properties", {}).items()}


def _slots(schema: dict[str, Any], here: tuple, name: str = "") -> Iterator[tuple[tuple, str, dict[str, Any]]]:
    """(where, field name, schema) of every string in ``schema``."""
    schema = _resolve(schema)
    kind = schema.get("type", "object")
    if kind == "string":
        yield here, name, schema
    elif kind == "array":
        yield from _slots(schema["items"], (*here, 0), name)
    elif kind == "object":
        for key, child in schema.get("properties", {}).items():
            yield from _slots(child, (*here, key), key)


def _requests(method: str, template: str) -> Iterator[tuple[str, str, dict[str, Any], Any, bool]]:
    """(shape, path, query, body, a control character) for each shape in each string of the operation."""
    operation = DOCUMENT["paths"][template][method]
    parameters = [*DOCUMENT["paths"][template].get("parameters", []), *operation.get("parameters", [])]
    body_schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    slots = [(("path" if p["in"] == "path" else "query", p["name"]), p["name"], p["schema"]) for p in parameters]
    slots += [(("body", *where), name, schema) for where, name, schema in (_slots(body_schema, ()) if body_schema else ())]
    for slot, name, schema in slots:
        shapes = [(shape, value, True) for shape, value in TEXT_SHAPES.items()]
        if name == "cursor" or schema.get("format") == "date-time":
            shapes += [(shape, pair[1] if name == "cursor" else pair[0], False) for shape, pair in INSTANT_SHAPES.items()]
        for shape, hostile, control in shapes:
            path, query = template, {}
            for parameter in parameters:
                where = ("path" if parameter["in"] == "path" else "query", parameter["name"])
                value = hostile if where == slot else _value(parameter["schema"], parameter["name"], (), (None,), hostile)
                if parameter["in"] == "path":
                    path = path.replace("{" + parameter["name"] + "}", quote(str(value), safe=""))
                else:
                    query[parameter["name"]] = value
            body = None if body_schema is None else _value(body_schema, "", slot[1:] if slot[0] == "body" else (None,), (), hostile)
            yield shape, path, query, body, control


@pytest.fixture
def hostile_app(request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock, wechat: WeChatStandIn,
                alipay_config: dict[str, str]) -> Iterator[Any]:
    """PostgreSQL + Redis: the backend on which a NUL in text was a 500."""
    application = make_app("production", request, tmp_path, clock, wechat, **alipay_config)
    yield application
    dispose(application)


@pytest.mark.parametrize(("method", "template"), OPERATIONS, ids=[f"{m.upper()} {p}" for m, p in OPERATIONS])
def test_hostile_shapes_are_refused_never_a_500(hostile_app: Any, wechat: WeChatStandIn, clock: FrozenClock,
                                                 method: str, template: str) -> None:
    api = ApiClient(hostile_app, wechat, clock)
    bearer = api.bearer(api.bound_citizen())
    signing = SigningClient(hostile_app, api.partner(SCENE_NAMES, roles=PARTNER_ROLES), clock)
    schemes = {name for requirement in DOCUMENT["paths"][template][method].get("security", []) for name in requirement}
    client, headers = (signing, {"Authorization": SIGN_ME}) if "partnerSignature" in schemes else (api.client, bearer)
    for shape, path, query, body, control in _requests(method, template):
        data = None if body is None else json.dumps(body).encode()
        response = client.open(path, method=method.upper(), query_string=query, data=data, headers={
            **headers, **({"Content-Type": "application/json"} if data is not None else {})})
        seen = (shape, method, path, query, body, response.status_code, response.get_data(as_text=True)[:300])
        assert response.status_code < 500, seen
        if response.status_code >= 400:
            assert set(json.loads(response.get_data())["error"]) == {"code", "message", "details"}, seen
        if control and shape != "line break":
            assert 400 <= response.status_code < 500, seen
