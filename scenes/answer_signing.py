"""Every partner answer is signed by the platform (issue 20 item 3, M-11), in the manner of WeChat
Pay API v3's response signatures (``Wechatpay-Timestamp`` / ``-Nonce`` / ``-Signature`` /
``-Serial``), so a partner can prove what we answered and that it came from us:

    CC-Serial:    the platform key's id (``GET /api/partner/v1/platform-keys`` lists the public keys)
    CC-Timestamp: Unix seconds when the answer was signed
    CC-Nonce:     the request's own ``nonce`` when its Authorization header could be read (so the
                  answer is bound to that request and cannot be replayed for another), else random
    CC-Signature: base64( Ed25519( TIMESTAMP \\n NONCE \\n BODY \\n ) ), BODY the answer's exact bytes
                  (empty for an answer without a body, e.g. 304)

Every answer under ``/api/partner/`` carries them, errors included (a 401 for a bad signature
too). The keys are ``CARD_ANSWER_KEYS`` (Ed25519, ``id:base64(32-byte private key)`` listed like
``CARD_AUDIT_KEYS``: the first signs, every listed key is published so a partner can check answers
signed before a rotation). Ed25519 is RFC 8032; docs/partner-api.md "Verifying our answers".
"""
from __future__ import annotations

import base64
import secrets
from functools import lru_cache
from typing import Any

import marshmallow as ma
from flask import Flask, Response, request

from app.platform.crypto import SigningKeys
from app.platform.http_json import CardBlueprint
from app.runtime import runtime

from .signing import read_nonce

PREFIX = "/api/partner/"
HEADERS = ("CC-Serial", "CC-Timestamp", "CC-Nonce", "CC-Signature")

blp = CardBlueprint("partner_platform_keys", __name__, url_prefix="/api/partner/v1",
                    description="Partner API: the platform's public keys, which sign every answer (docs/partner-api.md)")


def answer_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    """``TIMESTAMP \\n NONCE \\n BODY \\n``: what CC-Signature signs."""
    return timestamp.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"


@lru_cache(maxsize=4)
def answer_keys(setting: str) -> SigningKeys:
    """The platform's answer keys from ``CARD_ANSWER_KEYS`` (checked at start-up by app.config)."""
    return SigningKeys.from_setting(setting, "CARD_ANSWER_KEYS")


def sign_answer(response: Response) -> Response:
    """after_request: add the four headers to an answer under /api/partner/ (others pass as they are)."""
    if not request.path.startswith(PREFIX) or response.direct_passthrough:
        return response
    timestamp = str(int(runtime().clock.time()))
    nonce = read_nonce(request.headers.get("Authorization")) or secrets.token_hex(16)
    key_id, signature = answer_keys(runtime().config["CARD_ANSWER_KEYS"]).sign(
        answer_message(timestamp, nonce, response.get_data()))
    response.headers.update({"CC-Serial": key_id, "CC-Timestamp": timestamp, "CC-Nonce": nonce, "CC-Signature": signature})
    return response


def register(app: Flask) -> None:
    """Sign every partner answer (call after the blueprints and error handlers are registered)."""
    app.after_request(sign_answer)


class PlatformKeySchema(ma.Schema):
    EXAMPLES = [{"serial": "a1", "algorithm": "Ed25519", "public_key": "IGQRqy9vUqbuBQ4JpPJxmRrqTQZo7rFG5l/zUX5bNSY=", "signing": True},
                {"serial": "a0", "algorithm": "Ed25519", "public_key": "6tV0mJ9sQk2XcL4pR7wZ1bN8yF3hD5gA0eU2iO6qT9s=", "signing": False}]

    serial = ma.fields.String(required=True, metadata={"description": "The key's id, as in CC-Serial", "examples": ["a1"]})
    algorithm = ma.fields.String(required=True, metadata={"enum": ["Ed25519"]})
    public_key = ma.fields.String(required=True, metadata={
        "description": "The raw 32-byte Ed25519 public key (RFC 8032), base64",
        "examples": ["IGQRqy9vUqbuBQ4JpPJxmRrqTQZo7rFG5l/zUX5bNSY="]})
    signing = ma.fields.Boolean(required=True, metadata={"description": "Whether new answers are signed with it (one key)"})


class PlatformKeysSchema(ma.Schema):
    EXAMPLES = [{"keys": PlatformKeySchema.EXAMPLES}]

    keys = ma.fields.List(ma.fields.Nested(PlatformKeySchema), required=True)


@blp.route("/platform-keys", methods=["GET"])
@blp.response(200, PlatformKeysSchema)
def platform_keys() -> Any:
    """The public keys that sign our answers (CC-Serial names one), newest first. Public (no
    signature needed); fetch it at start-up and again when an answer names an unknown CC-Serial,
    as WeChat Pay v3 clients fetch the platform certificates."""
    keys = answer_keys(runtime().config["CARD_ANSWER_KEYS"])
    return {"keys": [{"serial": key_id, "algorithm": "Ed25519", "public_key": base64.b64encode(public).decode(),
                      "signing": key_id == keys.current} for key_id, public in keys.public_keys().items()]}

