"""Signed partner requests (docs/partner-api.md §Signing).

``Authorization: CC-HMAC-SHA256 partner_id="…",timestamp="…",nonce="…",signature="…"`` where
``signature = base64(HMAC-SHA256(secret, METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY\\n))``; PATH
includes the query string as sent; TIMESTAMP is Unix seconds within ±300 s of our clock; the
nonce (8-64 characters of ``[A-Za-z0-9_-]``) is single-use for 10 minutes. Any failure is 401
with one of the reason codes below as the error ``code``.
"""
from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from flask import g, request

from app.partners.nonces import NonceClaim, unauthorized
from app.partners.partners import PartnerView, require_enabled, require_partner
from app.platform.city_time import city_isoformat
from app.platform.errors import AppError
from app.platform.request_signing import SCHEME, sign, string_to_sign
from app.platform.request_signing import authorization_header as authorization_header  # our clients' and tests' way in
from app.runtime import Runtime, runtime

TIMESTAMP_TOLERANCE_SECONDS = 300
_PARAM = re.compile(r'\s*([a-z_]+)="([^"]*)"\s*')
_NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
REQUIRED = ("partner_id", "timestamp", "nonce", "signature")
# Asymmetric request signing (issue 20), for a partner that registered a public key
# (app.partners.partners.set_request_key): the same four parameters and string to sign, the
# signature base64 of 64 bytes (Ed25519 per RFC 8032; SM2 r || s per GB/T 32918.2, SM3, ID "1234567812345678").
KEY_SCHEMES = {"ed25519": "CC-ED25519", "sm2": "CC-SM2-SM3"}
SCHEMES = (SCHEME, *KEY_SCHEMES.values())


def parse_authorization(header: str | None) -> dict[str, str]:
    """The four parameters of the header and its ``scheme`` (one of :data:`SCHEMES`); 401
    ``signature_missing`` / ``signature_malformed``."""
    scheme = (header or "").partition(" ")[0]
    if not header or scheme not in SCHEMES:
        raise unauthorized("signature_missing", f"send an Authorization header with the {SCHEME} scheme (case-sensitive)")
    params: dict[str, str] = {}
    for item in header[len(scheme) + 1:].split(","):
        match = _PARAM.fullmatch(item)
        if match is None or match.group(1) in params:
            raise unauthorized("signature_malformed", "the Authorization header cannot be parsed")
        params[match.group(1)] = match.group(2)
    if set(params) != set(REQUIRED):
        raise unauthorized("signature_malformed", "the parameters are partner_id, timestamp, nonce and signature, each once")
    if not _TIMESTAMP.fullmatch(params["timestamp"]):
        raise unauthorized("signature_malformed", "timestamp must be Unix seconds, 1-12 digits (not milliseconds)")
    if not _NONCE.fullmatch(params["nonce"]):
        raise unauthorized("signature_malformed", "nonce must be 8-64 characters of A-Za-z0-9_-")
    params["scheme"] = scheme
    return params


def read_nonce(header: str | None) -> str | None:
    """The request's nonce when its Authorization header parses, else None (the answer signature
    echoes it: scenes.answer_signing)."""
    try:
        return parse_authorization(header)["nonce"]
    except AppError:
        return None


def authenticate(rt: Runtime, method: str, path: str, body: bytes, header: str | None) -> tuple[PartnerView, NonceClaim]:
    """The partner that signed this request and its nonce, not yet claimed; or 401 with a reason code."""
    params = parse_authorization(header)
    partner = require_partner(rt, params["partner_id"])
    if abs(int(params["timestamp"]) - rt.clock.time()) > TIMESTAMP_TOLERANCE_SECONDS:
        raise unauthorized("timestamp_out_of_window", "the timestamp is more than 300 s from our clock",
                           clock_details(rt.clock.time()))
    expected_scheme = KEY_SCHEMES[partner.request_key.alg] if partner.request_key else SCHEME
    if params["scheme"] != expected_scheme:
        raise unauthorized("signature_scheme_mismatch", f"this partner signs its requests with {expected_scheme}")
    if not _signed_by(partner, method, path, params, body):
        raise unauthorized("signature_invalid", "the signature does not match the request")
    require_enabled(partner)
    return partner, NonceClaim(rt, partner.id, params["nonce"])


def _signed_by(partner: PartnerView, method: str, path: str, params: dict[str, str], body: bytes) -> bool:
    """HMAC with a live secret, or the partner's registered public key over the same string to sign."""
    if partner.request_key is None:
        return any(_signature_matches(secret, method, path, params, body) for secret in partner.secrets)
    try:
        signature = base64.b64decode(params["signature"], validate=True)
    except ValueError:
        return False
    message = string_to_sign(method, path, params["timestamp"], params["nonce"], body)
    return len(signature) == 64 and partner.request_key.verify(message, signature)


def _signature_matches(secret: str, method: str, path: str, params: dict[str, str], body: bytes) -> bool:
    expected = sign(secret, method, path, params["timestamp"], params["nonce"], body)
    return hmac.compare_digest(expected.encode(), params["signature"].encode())


def request_path() -> str:
    """The request path with its query string exactly as sent."""
    query = request.query_string.decode("latin-1")
    return request.path + ("?" + query if query else "")


def signed(view: Callable[..., Any] | None = None, *, defer_nonce: bool = False) -> Any:
    """Decorator: authenticate the partner and claim the nonce before the view runs; sets
    ``g.partner``. With ``defer_nonce=True`` the view gets the claim as ``g.nonce`` and must
    claim it (app.partners.nonces) before its request has any effect."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.partner, g.nonce = authenticate(runtime(), request.method, request_path(), request.get_data(cache=True),
                                              request.headers.get("Authorization"))
            if not defer_nonce:
                g.nonce.claim()
            return view(*args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def clock_details(now: float) -> dict[str, Any]:
    """The 401 ``timestamp_out_of_window`` details, to correct a client's clock with:
    ``{"server_timestamp": Unix seconds (int), "server_time": ISO 8601 at +08:00}`` (issue 20)."""
    return {"server_timestamp": int(now),
            "server_time": city_isoformat(datetime.fromtimestamp(int(now), UTC)),
            "tolerance_seconds": TIMESTAMP_TOLERANCE_SECONDS}
