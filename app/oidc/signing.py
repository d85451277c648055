"""The id_token signing keys (ES256, RFC 7518 section 3.4; EdDSA with Ed25519, RFC 8037) and the
JWKS that publishes them.

``CARD_OIDC_SIGNING_KEYS``: ``kid:base64(PKCS#8 DER)`` entries, comma-separated, each a P-256
(ES256) or an Ed25519 (EdDSA) key. For each algorithm the first key of its type signs; all are
published, so a new key can be listed after the current one for a day (relying parties cache the
JWKS) before it moves first. A P-256 key is required (ES256 is every relying party's default); an
Ed25519 key adds EdDSA for relying parties registered with ``--id-token-alg EdDSA``.

Without the setting, development uses published keys derived from constants; production refuses
to start without it or with a development key (app/config.py), and refuses to sign (503
``oidc_not_configured``) if it ever got here without one.

SM2 is not offered: JOSE has no registered SM2 signature algorithm (the IANA "JSON Web Signature
and Encryption Algorithms" registry has none), so joserfc and Authlib have none, and no relying
party's OpenID Connect library could verify such an id_token (docs/identity-provider.md).
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from joserfc.jwk import ECKey, KeySet, OKPKey

from app.platform.errors import AppError

ES256, EDDSA = "ES256", "EdDSA"
ALGORITHM = ES256  # the default of a relying party registered without --id-token-alg
ALGORITHMS = (ES256, EDDSA)
DEV_KID, DEV_EDDSA_KID = "dev-es256", "dev-eddsa"
DEV_SCALAR = int.from_bytes(b"citizen-card-development-oidc-key", "big") % (2**255)  # published: development only
DEV_EDDSA_SEED = b"citizen-card-dev-oidc-eddsa-key!"  # 32 bytes, published: development only

SigningKey = ECKey | OKPKey


@dataclass(frozen=True)
class SigningKeys:
    """``keys``: the private keys in setting order; the first of each algorithm signs."""

    keys: tuple[SigningKey, ...]

    @property
    def current(self) -> SigningKey:
        """The ES256 key that signs (the default algorithm)."""
        return self.for_alg(ES256)

    @property
    def algorithms(self) -> list[str]:
        """The algorithms some key can sign with, in :data:`ALGORITHMS` order."""
        held = {key.alg for key in self.keys}
        return [alg for alg in ALGORITHMS if alg in held]

    def for_alg(self, alg: str) -> SigningKey:
        """The key that signs with ``alg``; 503 ``oidc_not_configured`` when there is none."""
        for key in self.keys:
            if key.alg == alg:
                return key
        raise AppError("oidc_not_configured", 503, f"the identity provider has no {alg} signing key (CARD_OIDC_SIGNING_KEYS)")

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JWK Set (RFC 7517 section 5), each with ``kid``, ``use`` and ``alg``."""
        return KeySet([type(key).import_key(key.as_dict(private=False)) for key in self.keys]).as_dict(private=False)


def new_key_entry(kid: str, alg: str = ES256) -> str:
    """A fresh ``kid:base64(PKCS#8 DER)`` entry for ``CARD_OIDC_SIGNING_KEYS`` (a P-256 key for
    ES256, an Ed25519 key for EdDSA)."""
    private = ed25519.Ed25519PrivateKey.generate() if alg == EDDSA else ec.generate_private_key(ec.SECP256R1())
    der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return f"{kid}:{base64.b64encode(der).decode()}"


def signing_keys(config: dict[str, Any]) -> SigningKeys:
    """The keys of ``config`` (see the module docstring); 503 ``oidc_not_configured`` in production without them."""
    return _parse(config.get("CARD_OIDC_SIGNING_KEYS") or "", config.get("CARD_ENV") == "production")


def development_keys() -> SigningKeys:
    """The published development keys (an ES256 and an EdDSA key)."""
    return SigningKeys((_key(ec.derive_private_key(DEV_SCALAR, ec.SECP256R1()), DEV_KID),
                        _key(ed25519.Ed25519PrivateKey.from_private_bytes(DEV_EDDSA_SEED), DEV_EDDSA_KID)))


def parse_setting(setting: str) -> SigningKeys:
    """``CARD_OIDC_SIGNING_KEYS`` read; ValueError names a bad entry or a missing P-256 key."""
    keys = []
    for entry in setting.split(","):
        kid, _, encoded = entry.strip().partition(":")
        try:
            private = serialization.load_der_private_key(base64.b64decode(encoded, validate=True), password=None)
        except ValueError:
            raise ValueError(f"CARD_OIDC_SIGNING_KEYS: key {kid!r} is not base64 of a PKCS#8 DER private key") from None
        if not (isinstance(private, ed25519.Ed25519PrivateKey)
                or (isinstance(private, ec.EllipticCurvePrivateKey) and private.curve.name == "secp256r1")):
            raise ValueError(f"CARD_OIDC_SIGNING_KEYS: key {kid!r} is neither a P-256 nor an Ed25519 key")
        keys.append(_key(private, kid))
    parsed = SigningKeys(tuple(keys))
    if ES256 not in parsed.algorithms:
        raise ValueError("CARD_OIDC_SIGNING_KEYS: a P-256 (ES256) key is required")
    return parsed


def holds_development_key(keys: SigningKeys) -> bool:
    """True when ``keys`` holds a published development key, under any key id (by the key itself)."""
    published = {key.thumbprint() for key in development_keys().keys}
    return any(key.thumbprint() in published for key in keys.keys)


@lru_cache(maxsize=4)
def _parse(setting: str, production: bool) -> SigningKeys:
    if not setting:
        if production:
            raise AppError("oidc_not_configured", 503, "the identity provider has no signing key (CARD_OIDC_SIGNING_KEYS)")
        return development_keys()
    return parse_setting(setting)


def _key(private: Any, kid: str) -> SigningKey:
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return OKPKey.import_key(private, {"kid": kid, "use": "sig", "alg": EDDSA})
    return ECKey.import_key(private, {"kid": kid, "use": "sig", "alg": ES256})
