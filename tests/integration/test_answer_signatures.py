"""Every partner answer is signed by the platform (issue 20 item 3; scenes/answer_signing.py):
an accepted verification, a refusal, a 401 for a bad signature and a 404 each carry CC-Serial /
CC-Timestamp / CC-Nonce / CC-Signature; the signature verifies with the key published at
GET /platform-keys over the exact bytes received; the nonce is the request's own; a changed byte,
or the answer presented with another request's nonce, does not verify."""
from __future__ import annotations

import base64
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.config import DEV_ANSWER_KEY
from scenes.answer_signing import answer_message

from ..helpers import ApiClient


def published_keys(api: ApiClient) -> dict[str, Ed25519PublicKey]:
    answer = api.client.get("/api/partner/v1/platform-keys")
    assert answer.status_code == 200
    keys = answer.json["keys"]
    assert [key["signing"] for key in keys].count(True) == 1 and all(key["algorithm"] == "Ed25519" for key in keys)
    return {key["serial"]: Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"])) for key in keys}


def check(api: ApiClient, answer, keys: dict[str, Ed25519PublicKey], body: bytes | None = None) -> str:  # type: ignore[no-untyped-def]
    """Verify the answer's signature (raises InvalidSignature); returns its CC-Nonce."""
    headers = answer.headers
    assert abs(int(headers["CC-Timestamp"]) - api.clock.time()) < 2
    message = answer_message(headers["CC-Timestamp"], headers["CC-Nonce"], answer.get_data() if body is None else body)
    keys[headers["CC-Serial"]].verify(base64.b64decode(headers["CC-Signature"]), message)
    return headers["CC-Nonce"]  # type: ignore[no-any-return]


def test_every_kind_of_partner_answer_is_signed_and_bound_to_its_request(api: ApiClient) -> None:
    keys = published_keys(api)
    partner = api.partner(scenes=("transit",))
    code = api.code(api.bound_citizen())

    def verify(nonce: str, terminal_id: str) -> object:
        body = json.dumps({"code": code, "scene": "transit", "terminal_id": terminal_id}).encode()
        return api.signed_post(partner, body, nonce=nonce)

    accepted = verify("nonce-accepted-1", "gate-1")
    assert accepted.json["accepted"] is True and check(api, accepted, keys) == "nonce-accepted-1"  # type: ignore[attr-defined]
    used = verify("nonce-used-2", "gate-2")
    assert used.json["reason"] == "code_used" and check(api, used, keys) == "nonce-used-2"  # type: ignore[attr-defined]
    unsigned = api.client.post("/api/partner/v1/verifications", json={"code": code, "scene": "transit", "terminal_id": "g"})
    assert unsigned.status_code == 401 and len(check(api, unsigned, keys)) == 32  # no request nonce: a random one
    missing = api.signed_post(partner, b"", path="/api/partner/v1/verifications/vf_" + "0" * 24, nonce="nonce-404-3",
                              method="GET")
    assert missing.status_code == 404 and check(api, missing, keys) == "nonce-404-3"
    with pytest.raises(InvalidSignature):
        check(api, accepted, keys, body=accepted.get_data().replace(b"true", b"fals"))  # type: ignore[attr-defined]
    with pytest.raises(InvalidSignature):  # the answer to one request presented as the answer to another
        keys[accepted.headers["CC-Serial"]].verify(  # type: ignore[attr-defined]
            base64.b64decode(accepted.headers["CC-Signature"]),  # type: ignore[attr-defined]
            answer_message(accepted.headers["CC-Timestamp"], "nonce-used-2", accepted.get_data()))  # type: ignore[attr-defined]


def test_the_development_key_is_the_one_published_and_citizen_answers_are_not_signed(api: ApiClient) -> None:
    keys = published_keys(api)
    assert [key.public_bytes_raw() for key in keys.values()] == [
        Ed25519PrivateKey.from_private_bytes(DEV_ANSWER_KEY).public_key().public_bytes_raw()]
    assert "CC-Signature" not in api.client.get("/api/mp/v1/complaint-categories").headers
