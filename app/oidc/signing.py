"""The id_token signing keys (ES256, RFC 7518 section 3.4) and the JWKS that publishes them.

``CARD_OIDC_SIGNING_KEYS``: ``kid:base64(PKCS#8 DER)`` entries, comma-separated; the first signs,
all are published, so a new key can be listed second for a day (relying parties cache the JWKS)
before it moves first. Without the setting, development uses a published key derived from a
constant; production refuses to sign (503 ``oidc_not_configured``).
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey, KeySet

from app.platform.errors import AppError

ALGORITHM = "ES256"
DEV_KID = "dev-es256"
DEV_SCALAR = int.from_bytes(b"citizen-card-development-oidc-key", "big") % (2**255)  # published: development only


@dataclass(frozen=True)
class SigningKeys:
    """``keys``: the private keys, first signs; ``kids`` their key ids."""

    keys: tuple[ECKey, ...]

    @property
    def current(self) -> ECKey:
        return self.keys[0]

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JWK Set (RFC 7517 section 5), each with ``kid``, ``use`` and ``alg``."""
        return KeySet([ECKey.import_key(key.as_dict(private=False)) for key in self.keys]).as_dict(private=False)


def new_key_entry(kid: str) -> str:
    """A fresh ``kid:base64(PKCS#8 DER)`` entry for ``CARD_OIDC_SIGNING_KEYS``."""
    der = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return f"{kid}:{base64.b64encode(der).decode()}"


def signing_keys(config: dict[str, Any]) -> SigningKeys:
    """The keys of ``config`` (see the module docstring); 503 ``oidc_not_configured`` in production without them."""
    return _parse(config.get("CARD_OIDC_SIGNING_KEYS") or "", config.get("CARD_ENV") == "production")


@lru_cache(maxsize=4)
def _parse(setting: str, production: bool) -> SigningKeys:
    if not setting:
        if production:
            raise AppError("oidc_not_configured", 503, "the identity provider has no signing key (CARD_OIDC_SIGNING_KEYS)")
        return SigningKeys((_key(ec.derive_private_key(DEV_SCALAR, ec.SECP256R1()), DEV_KID),))
    keys = []
    for entry in setting.split(","):
        kid, _, encoded = entry.strip().partition(":")
        private = serialization.load_der_private_key(base64.b64decode(encoded), password=None)
        if not isinstance(private, ec.EllipticCurvePrivateKey) or private.curve.name != "secp256r1":
            raise ValueError(f"CARD_OIDC_SIGNING_KEYS: key {kid!r} is not a P-256 key")
        keys.append(_key(private, kid))
    return SigningKeys(tuple(keys))


def _key(private: ec.EllipticCurvePrivateKey, kid: str) -> ECKey:
    return ECKey.import_key(private, {"kid": kid, "use": "sig", "alg": ALGORITHM})
