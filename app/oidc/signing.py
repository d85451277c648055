"""The id_token signing keys (ES256, RFC 7518 section 3.4; EdDSA with Ed25519, RFC 8037; and, with
the ``gm`` extra, the non-standard SM2-SM3 of app/oidc/sm2.py) and the key sets that publish them.

``CARD_OIDC_SIGNING_KEYS``: comma-separated entries, each ``kid:base64(PKCS#8 DER)`` of a P-256
(ES256) or an Ed25519 (EdDSA) key, or ``kid:sm2:base64(32-byte private scalar)`` of an SM2 key
(SM2-SM3; refused without the gm extra). For each algorithm the first key of its type signs; all
are published, so a new key can be listed after the current one for a day (relying parties cache
the JWKS) before it moves first. A P-256 key is required (ES256 is every relying party's
default); an Ed25519 key adds EdDSA, an SM2 key SM2-SM3, for relying parties registered with
``--id-token-alg``.

The standard JWKS (``/oidc/jwks.json``) holds the ES256 and EdDSA keys only: an EC key with the
unregistered curve ``SM2`` makes common RP libraries (joserfc and so Authlib, go-jose, jwcrypto)
refuse the whole set, so the SM2 keys have their own set (``/oidc/jwks-sm2.json``, :meth:`SigningKeys.sm2_jwks`).

Without the setting, development uses published keys derived from constants (an SM2 one too when
the gm extra is installed); production refuses to start without it or with a development key
(app/config.py), and refuses to sign (503 ``oidc_not_configured``) if it ever got here without one.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from joserfc.jwk import ECKey, KeySet, OKPKey

from app.oidc.sm2 import SM2_SM3, SM2Key, new_scalar, scalar_from
from app.oidc.sm2 import available as sm2_available
from app.platform.errors import AppError

ES256, EDDSA = "ES256", "EdDSA"
ALGORITHM = ES256  # the default of a relying party registered without --id-token-alg
ALGORITHMS = (ES256, EDDSA, SM2_SM3)
DEV_KID, DEV_EDDSA_KID, DEV_SM2_KID = "dev-es256", "dev-eddsa", "dev-sm2"
DEV_SCALAR = int.from_bytes(b"citizen-card-development-oidc-key", "big") % (2**255)  # published: development only
DEV_EDDSA_SEED = b"citizen-card-dev-oidc-eddsa-key!"  # 32 bytes, published: development only
DEV_SM2_SCALAR = scalar_from(b"citizen-card-dev-oidc-sm2-key")  # published: development only
SM2_ENTRY = "sm2:"  # kid:sm2:base64(scalar)

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
        """The standard public keys (ES256, EdDSA) as a JWK Set (RFC 7517 section 5), each with
        ``kid``, ``use`` and ``alg``: what ``/oidc/jwks.json`` publishes."""
        return KeySet([_public(key) for key in self.keys if key.alg != SM2_SM3]).as_dict(private=False)

    def sm2_jwks(self) -> dict[str, Any]:
        """The SM2-SM3 public keys (``kty`` EC, ``crv`` SM2, non-standard) as a JWK Set, ``{"keys": []}``
        when there is none: what ``/oidc/jwks-sm2.json`` publishes."""
        return {"keys": [_public(key).as_dict(private=False) for key in self.keys if key.alg == SM2_SM3]}

    def key_set(self) -> KeySet:
        """Every public key, SM2 ones too, for checking our own tokens (``id_token_hint`` at logout)."""
        return KeySet([_public(key) for key in self.keys])


def new_key_entry(kid: str, alg: str = ES256) -> str:
    """A fresh ``CARD_OIDC_SIGNING_KEYS`` entry: ``kid:base64(PKCS#8 DER)`` of a P-256 key for ES256
    or an Ed25519 key for EdDSA; ``kid:sm2:base64(scalar)`` of an SM2 key for SM2-SM3."""
    if alg == SM2_SM3:
        return f"{kid}:{SM2_ENTRY}{base64.b64encode(new_scalar()).decode()}"
    private = ed25519.Ed25519PrivateKey.generate() if alg == EDDSA else ec.generate_private_key(ec.SECP256R1())
    der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return f"{kid}:{base64.b64encode(der).decode()}"


def signing_keys(config: dict[str, Any]) -> SigningKeys:
    """The keys of ``config`` (see the module docstring); 503 ``oidc_not_configured`` in production without them."""
    return _parse(config.get("CARD_OIDC_SIGNING_KEYS") or "", config.get("CARD_ENV") == "production")


def development_keys() -> SigningKeys:
    """The published development keys: ES256 and EdDSA, and SM2-SM3 when the gm extra is installed."""
    keys = (_key(ec.derive_private_key(DEV_SCALAR, ec.SECP256R1()), DEV_KID),
            _key(ed25519.Ed25519PrivateKey.from_private_bytes(DEV_EDDSA_SEED), DEV_EDDSA_KID))
    return SigningKeys(keys + ((_development_sm2_key(),) if sm2_available() else ()))


def parse_setting(setting: str) -> SigningKeys:
    """``CARD_OIDC_SIGNING_KEYS`` read; ValueError names a bad entry or a missing P-256 key."""
    keys: list[SigningKey] = []
    for entry in setting.split(","):
        kid, _, encoded = entry.strip().partition(":")
        if encoded.startswith(SM2_ENTRY):
            keys.append(_sm2_entry(kid, encoded.removeprefix(SM2_ENTRY)))
            continue
        try:
            private = serialization.load_der_private_key(base64.b64decode(encoded, validate=True), password=None)
        except ValueError:
            raise ValueError(f"CARD_OIDC_SIGNING_KEYS: key {kid!r} is not base64 of a PKCS#8 DER private key") from None
        if not (isinstance(private, ed25519.Ed25519PrivateKey)
                or (isinstance(private, ec.EllipticCurvePrivateKey) and private.curve.name == "secp256r1")):
            raise ValueError(f"CARD_OIDC_SIGNING_KEYS: key {kid!r} is neither a P-256 nor an Ed25519 key (SM2: kid:sm2:...)")
        keys.append(_key(private, kid))
    parsed = SigningKeys(tuple(keys))
    if ES256 not in parsed.algorithms:
        raise ValueError("CARD_OIDC_SIGNING_KEYS: a P-256 (ES256) key is required")
    return parsed


def holds_development_key(keys: SigningKeys) -> bool:
    """True when ``keys`` holds a published development key, under any key id (by the key itself)."""
    published = {key.thumbprint() for key in (*development_keys().keys, _development_sm2_key())}
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


def _public(key: SigningKey) -> SigningKey:
    return type(key).import_key(key.as_dict(private=False))


@lru_cache(maxsize=1)
def _development_sm2_key() -> SM2Key:
    return SM2Key.from_scalar(DEV_SM2_SCALAR, {"kid": DEV_SM2_KID, "use": "sig", "alg": SM2_SM3})


def _sm2_entry(kid: str, encoded: str) -> SM2Key:
    if not sm2_available():
        raise ValueError(f"CARD_OIDC_SIGNING_KEYS: key {kid!r} is an SM2 key, and SM2-SM3 needs the gm extra "
                         "(gmssl-pyx: pip install 'citizencard[gm]')")
    try:
        return SM2Key.from_scalar(base64.b64decode(encoded, validate=True), {"kid": kid, "use": "sig", "alg": SM2_SM3})
    except ValueError:  # binascii.Error and a scalar of the wrong length or out of [1, n-2]
        raise ValueError(f"CARD_OIDC_SIGNING_KEYS: key {kid!r} is not base64 of a 32-byte SM2 private key") from None
