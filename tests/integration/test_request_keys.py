"""Asymmetric request signing (issue 20 item 3): a partner that registered its Ed25519 or SM2
public key (`citizencard partner request-key`) signs with CC-ED25519 / CC-SM2-SM3 over the same
string as the HMAC; its HMAC-signed requests are then refused, another key's signature and a changed
body are refused, and removing the key brings HMAC back. Only the key's holder can have made such
a request (non-repudiation), which the HMAC, whose secret we share, cannot show."""
from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import pytest

from app.partners.partners import PARTNER_CACHE_SECONDS
from qr import offline
from scenes.signing import KEY_SCHEMES, string_to_sign

from ..helpers import VERIFY_PATH, ApiClient
from .test_partner_admin import cli


def key_signed(api: ApiClient, partner: dict[str, str], key: offline.SigningKey, body: bytes, scheme: str | None = None) -> Any:
    timestamp, nonce = str(int(api.clock.time())), secrets.token_hex(12)
    signature = base64.b64encode(key.sign(string_to_sign("POST", VERIFY_PATH, timestamp, nonce, body))).decode()
    header = (f'{scheme or KEY_SCHEMES[key.alg]} partner_id="{partner["partner_id"]}",timestamp="{timestamp}",'
              f'nonce="{nonce}",signature="{signature}"')
    return api.client.post(VERIFY_PATH, data=body, headers={"Authorization": header, "Content-Type": "application/json"})


def register(api: ApiClient, partner: dict[str, str], key: offline.SigningKey) -> None:
    done = cli(api, "partner", "request-key", partner["partner_id"], "--alg", key.alg,
               "--public-key", base64.b64encode(key.public_key).decode())
    assert done.exit_code == 0, done.output
    api.clock.advance(PARTNER_CACHE_SECONDS + 1)  # every server's partner cache has expired


@pytest.mark.parametrize("alg", ["ed25519", "sm2"])
def test_a_partner_with_a_registered_key_must_sign_with_it(api: ApiClient, alg: str) -> None:
    partner, key = api.partner(("transit",)), offline.generate(alg)
    token = api.bound_citizen()
    register(api, partner, key)
    body = json.dumps({"code": api.code(token), "scene": "transit", "terminal_id": "gate-1"}).encode()
    assert api.signed_post(partner, body).json["error"]["code"] == "signature_scheme_mismatch"  # HMAC no longer
    assert key_signed(api, partner, offline.generate(alg), body).json["error"]["code"] == "signature_invalid"  # another key
    accepted = key_signed(api, partner, key, body)
    assert accepted.status_code == 200 and accepted.json["accepted"] is True


def test_a_changed_body_and_a_foreign_scheme_are_refused_and_removal_brings_hmac_back(api: ApiClient) -> None:
    partner, key = api.partner(("transit",)), offline.generate("ed25519")
    token = api.bound_citizen()
    body = json.dumps({"code": api.code(token), "scene": "transit", "terminal_id": "gate-1"}).encode()
    assert key_signed(api, partner, key, body).json["error"]["code"] == "signature_scheme_mismatch"  # no key registered yet
    register(api, partner, key)
    timestamp, nonce = str(int(api.clock.time())), secrets.token_hex(12)
    signature = base64.b64encode(key.sign(string_to_sign("POST", VERIFY_PATH, timestamp, nonce, body))).decode()
    header = f'CC-ED25519 partner_id="{partner["partner_id"]}",timestamp="{timestamp}",nonce="{nonce}",signature="{signature}"'
    tampered = api.client.post(VERIFY_PATH, data=body.replace(b"gate-1", b"gate-2"),
                               headers={"Authorization": header, "Content-Type": "application/json"})
    assert tampered.status_code == 401 and tampered.json["error"]["code"] == "signature_invalid"
    assert key_signed(api, partner, key, body, scheme="CC-SM2-SM3").json["error"]["code"] == "signature_scheme_mismatch"
    removed = cli(api, "partner", "request-key", partner["partner_id"], "--remove")
    assert removed.exit_code == 0 and "HMAC" in removed.output
    api.clock.advance(PARTNER_CACHE_SECONDS + 1)
    assert api.signed_post(partner, body).json["accepted"] is True


@pytest.mark.parametrize("args", [["--alg", "ed25519", "--public-key", base64.b64encode(b"x" * 33).decode()],
                                  ["--alg", "ed25519", "--public-key", "not base64!"], ["--alg", "ed25519"], []])
def test_a_bad_key_is_refused_by_the_command(api: ApiClient, args: list[str]) -> None:
    partner = api.partner(("transit",))
    done = cli(api, "partner", "request-key", partner["partner_id"], *args)
    assert done.exit_code == 2 and "Traceback" not in done.output
