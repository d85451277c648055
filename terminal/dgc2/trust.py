"""The trust list: which issuing keys a gate accepts, and which key signs the deny list (issue 16).

The platform serves ``GET /api/partner/v1/offline/trust-list`` as::

    {"payload": b64url(JSON), "root_kid": int, "alg": "ed25519"|"sm2",
     "signature": b64url(root signature over b"DGC2/trust\\0" + payload bytes)}

and the payload is ``{"version", "issued_at", "next_update", "keys": [{"kid", "alg",
"public_key", "not_before", "not_after"}], "deny_list_key": {"alg", "public_key"}}`` (times Unix
seconds, keys base64url of the raw bytes). The root public key ships in gate firmware as
``{"root_kid", "alg", "public_key"}`` (what ``citizencard offline root-key`` prints).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from . import b64
from .format import trust_signing_input
from .keys import KeyFormatError, SigningKey, VerifyingKey


class TrustListError(ValueError):
    """A trust list or root key that is malformed, signed by another key, or has a bad signature."""


@dataclass(frozen=True)
class IssuingKey:
    """An issuing key: certificates with this ``kid`` are signed by ``key`` and must lie within
    [``not_before``, ``not_after``] (Unix seconds)."""

    kid: int
    key: VerifyingKey
    not_before: int
    not_after: int

    @property
    def alg(self) -> str:
        return self.key.alg

    def to_json(self) -> dict:
        return {"kid": self.kid, "alg": self.key.alg, "public_key": b64.encode(self.key.raw),
                "not_before": self.not_before, "not_after": self.not_after}


@dataclass(frozen=True)
class RootKey:
    """The root public key a gate trusts (from firmware): ``root_kid`` and the key."""

    root_kid: int
    key: VerifyingKey

    def to_json(self) -> dict:
        return {"root_kid": self.root_kid, "alg": self.key.alg, "public_key": b64.encode(self.key.raw)}

    def fingerprint(self) -> str:
        """SHA-256 of the raw public key, hex in groups of four (compare it with the published one)."""
        digest = hashlib.sha256(self.key.raw).hexdigest().upper()
        return " ".join(digest[i:i + 4] for i in range(0, 64, 4))


@dataclass(frozen=True)
class TrustList:
    """A verified trust list. ``keys`` maps kid -> :class:`IssuingKey`."""

    version: int
    issued_at: int
    next_update: int
    keys: dict[int, IssuingKey]
    deny_list_key: VerifyingKey


def _int(value, name: str, low: int = 0, high: int = 0xFFFFFFFF) -> int:
    if type(value) is not int or not low <= value <= high:
        raise TrustListError(f"{name} must be an integer in [{low}, {high}]")
    return value


def _key(alg, public_key) -> VerifyingKey:
    try:
        return VerifyingKey(alg, b64.decode(public_key))
    except (KeyFormatError, ValueError, TypeError) as exc:
        raise TrustListError(f"bad key: {exc}") from exc


def read_root_key(document: dict | str | bytes) -> RootKey:
    """A :class:`RootKey` from ``{"root_kid", "alg", "public_key"}`` (the object, or the text that
    ``citizencard offline root-key`` prints); other fields are ignored."""
    if isinstance(document, (str, bytes)):
        try:
            document = json.loads(document)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TrustListError("root key is not JSON") from exc
    if not isinstance(document, dict):
        raise TrustListError("root key must be a JSON object")
    return RootKey(_int(document.get("root_kid"), "root_kid", high=0xFFFF),
                   _key(document.get("alg"), document.get("public_key")))


def _issuing_key(entry) -> IssuingKey:
    if not isinstance(entry, dict):
        raise TrustListError("keys[] entries must be objects")
    key = IssuingKey(_int(entry.get("kid"), "kid", high=0xFFFF), _key(entry.get("alg"), entry.get("public_key")),
                     _int(entry.get("not_before"), "not_before"), _int(entry.get("not_after"), "not_after"))
    if key.not_before > key.not_after:
        raise TrustListError("key not_before after not_after")
    return key


def parse_payload(payload: bytes) -> TrustList:
    """The :class:`TrustList` in payload bytes (no signature check: use :func:`read_trust_list`)."""
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrustListError("payload is not JSON") from exc
    if not isinstance(body, dict) or not isinstance(body.get("keys"), list) or not isinstance(body.get("deny_list_key"), dict):
        raise TrustListError("payload lacks keys or deny_list_key")
    keys = [_issuing_key(entry) for entry in body["keys"]]
    by_kid = {key.kid: key for key in keys}
    if len(by_kid) != len(keys):
        raise TrustListError("duplicate kid")
    deny = body["deny_list_key"]
    return TrustList(_int(body.get("version"), "version"), _int(body.get("issued_at"), "issued_at"),
                     _int(body.get("next_update"), "next_update"), by_kid, _key(deny.get("alg"), deny.get("public_key")))


def read_trust_list(document: dict | str | bytes, root: RootKey) -> TrustList:
    """Verify and read a trust list (the endpoint's JSON object, or its text).

    Raises :class:`TrustListError` when it is malformed, names another root key or algorithm, or
    its signature over ``b"DGC2/trust\\0" + payload`` does not verify under ``root``.
    """
    if isinstance(document, (str, bytes)):
        try:
            document = json.loads(document)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TrustListError("trust list is not JSON") from exc
    if not isinstance(document, dict):
        raise TrustListError("trust list must be a JSON object")
    if document.get("root_kid") != root.root_kid or document.get("alg") != root.key.alg:
        raise TrustListError("trust list is signed by another root key")
    try:
        payload, signature = b64.decode(document.get("payload")), b64.decode(document.get("signature"))
    except ValueError as exc:
        raise TrustListError("payload or signature is not base64url") from exc
    if not root.key.verify(trust_signing_input(payload), signature):
        raise TrustListError("trust list signature does not verify")
    return parse_payload(payload)


def write_trust_list(root: SigningKey, root_kid: int, *, version: int, issued_at: int, next_update: int,
                     keys: Iterable[IssuingKey], deny_list_key: VerifyingKey) -> dict:
    """The signed trust list document the endpoint serves (compact JSON payload, keys by kid)."""
    payload = json.dumps({
        "version": version, "issued_at": issued_at, "next_update": next_update,
        "keys": [key.to_json() for key in sorted(keys, key=lambda key: key.kid)],
        "deny_list_key": {"alg": deny_list_key.alg, "public_key": b64.encode(deny_list_key.raw)},
    }, separators=(",", ":"), sort_keys=True).encode()
    parse_payload(payload)  # the writer emits only what the reader accepts
    return {"payload": b64.encode(payload), "root_kid": root_kid, "alg": root.alg,
            "signature": b64.encode(root.sign(trust_signing_input(payload)))}
