"""POST /verifications validated by hand (issue 25): through the app, a refused body gets the schema's
own answer in the one envelope, and the valid bodies of the hand path work as before."""
from __future__ import annotations

import json
from typing import Any

import pytest

from scenes.signing import authorization_header
from scenes.views import VERIFICATION_REQUEST

from ..helpers import ApiClient

REFUSED = [
    {"scene": "transit", "terminal_id": "gate-1"},
    {"code": "x", "card_number": "0123456789012345", "scene": "transit", "terminal_id": "gate-1"},
    {"code": "", "scene": "transit", "terminal_id": "gate-1"},
    {"code": "x\u0000", "scene": "transit", "terminal_id": "gate-1"},
    {"code": None, "scene": "transit", "terminal_id": "gate-1"},
    {"code": "x", "scene": "transit", "terminal_id": "gate 1"},
    {"code": "x", "scene": "transit", "terminal_id": "gate-1", "direction": "up"},
    {"code": "x", "scene": "t" * 33, "terminal_id": "gate-1"},
    {"code": "x", "scene": "transit", "terminal_id": "gate-1", "extra": 1},
    {"card_number": "012345678901234", "scene": "transit", "terminal_id": "gate-1"},
    {"code": 5, "scene": ["transit"], "terminal_id": {}},
    [], "text",
]


@pytest.mark.parametrize("body", REFUSED)
def test_a_refused_body_gets_the_schemas_answer_in_the_envelope(api: ApiClient, body: Any) -> None:
    partner = api.partner()
    answer = api.signed_post(partner, json.dumps(body).encode())
    assert answer.status_code == 422
    assert answer.json == {"error": {"code": "validation_error", "message": "request validation failed",
                                     "details": {"fields": {"json": VERIFICATION_REQUEST.validate(body)}}}}


def test_bodies_that_are_not_json_objects_are_refused_as_before(api: ApiClient) -> None:
    partner = api.partner()
    assert api.signed_post(partner, b'{"code": "x", "code": "y"}').json["error"]["details"]["reason"] == "a key is repeated in one object"
    assert api.signed_post(partner, b"").status_code == 422  # no body: the required fields are missing
    header = api.signed_post(partner, b"{}").request.headers["Authorization"]
    plain = api.client.post("/api/partner/v1/verifications", data=b"{}", headers={"Authorization": header, "Content-Type": "text/plain"})
    assert plain.status_code in (401, 415)  # the nonce was used above; a fresh one is 415 (tests/integration/test_bad_input.py)


def test_a_valid_body_on_the_hand_path_verifies(api: ApiClient) -> None:
    partner = api.partner()
    code = api.code(api.bound_citizen())
    body = {"code": code, "scene": "transit", "terminal_id": "gate-1", "direction": None}
    answer = api.signed_post(partner, json.dumps(body).encode())
    assert answer.status_code == 200 and answer.json["accepted"] is True
    assert set(answer.json) == {"verification_id", "accepted", "reason", "scene", "subject", "duplicate"}


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
def test_a_signed_body_declared_as_a_form_is_415_not_a_failed_signature(api: ApiClient, content_type: str) -> None:
    """A trial: curl -d (form encoding) on a correctly signed request answered 401 signature_invalid,
    because the form check of every request (app.platform.text) read the body before the signature
    check could; the signature holds, so the answer is the 415 the docs promise."""
    partner = api.partner()
    body = b'{"code": "x", "scene": "transit", "terminal_id": "gate-1"}'
    header = authorization_header(partner["partner_id"], partner["secret"], "POST", "/api/partner/v1/verifications",
                                  body, int(api.clock.time()), "form0000nonce")
    answer = api.client.post("/api/partner/v1/verifications", data=body,
                             headers={"Authorization": header, "Content-Type": content_type})
    assert (answer.status_code, answer.json["error"]["code"]) == (415, "unsupported_media_type")
