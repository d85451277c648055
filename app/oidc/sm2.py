"""``SM2-SM3``: a NON-STANDARD JWS algorithm for id_tokens signed with SM2 (issue 23, M-20).

JOSE has no registered SM2 algorithm (the IANA "JSON Web Signature and Encryption Algorithms"
registry has none), so this is a private ``alg`` value, agreed with the relying parties that choose
it (``citizencard rp create --id-token-alg SM2-SM3``); no standard library verifies it. It is
registered in joserfc (Authlib's JOSE layer) only when the ``gm`` extra (gmssl-pyx, GmSSL 3) can be
imported; without it the algorithm does not exist here at all.

- Signature: SM2 with SM3, GB/T 32918.2-2016 (GM/T 0003.2), the signer ID GB/T 32918's default
  ``1234567812345678``: ``e = SM3(Z_A || M)`` where ``M`` is the JWS signing input
  ``BASE64URL(header) "." BASE64URL(payload)`` and ``Z_A = SM3(ENTL || ID || a || b || x_G || y_G
  || x_A || y_A)``. Random nonce (GmSSL).
- Encoding: the JWS signature is the 64 bytes ``r || s``, each a 32-byte big-endian integer, like
  ES256's (RFC 7518 section 3.4), not DER.
- Key: a JWK ``{"kty": "EC", "crv": "SM2", "x", "y"}`` (32-byte base64url coordinates of the
  uncompressed point on the GB/T 32918.5 curve; ``d`` the private scalar), ``alg`` ``SM2-SM3``.
  ``crv`` ``SM2`` is not registered either ("JSON Web Key Elliptic Curve" registry).

:class:`SM2Key` is a joserfc ``ECKey`` (joserfc accepts only its own key classes) whose curve
arithmetic is dgc2's (the DGC2 SM2 profile, through :mod:`qr.offline`) instead of ``cryptography``,
which has no SM2: ES256 refuses it (its curve is not P-256) and ``SM2-SM3`` refuses any other key.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from joserfc.errors import InvalidExchangeKeyError, InvalidKeyCurveError, InvalidKeyTypeError, KeyParameterError
from joserfc.jwk import ECKey
from joserfc.jws import JWSAlgModel, JWSRegistry
from joserfc.util import base64_to_int, int_to_base64

from qr.offline import sm2, sm2_available

SM2_SM3 = "SM2-SM3"
CURVE = "SM2"
SIZE = 32  # bytes of a coordinate, of the private scalar, and of r and of s


@dataclass(frozen=True)
class SM2Point:
    """An SM2 key's numbers: the public point (``x``, ``y``) and, for a private key, ``d``."""

    x: int
    y: int
    d: int | None = None


def _checked_point(x: int, y: int) -> None:
    try:
        on_curve = sm2.decompress(sm2.compress((x, y))) == (x, y)
    except ValueError:
        on_curve = False
    if not on_curve:
        raise KeyParameterError("x, y: not a point of the SM2 curve")


class SM2Binding:
    """joserfc's key binding (dict <-> raw numbers) for SM2 keys: only the JWK dict form."""

    @classmethod
    def convert_raw_key_to_dict(cls, raw_key: SM2Point, private: bool) -> dict[str, Any]:
        data = {"crv": CURVE, "x": int_to_base64(raw_key.x, SIZE), "y": int_to_base64(raw_key.y, SIZE)}
        if private and raw_key.d is not None:
            data["d"] = int_to_base64(raw_key.d, SIZE)
        return data

    @classmethod
    def import_from_dict(cls, value: dict[str, Any]) -> SM2Point:
        """The numbers of a JWK; KeyParameterError when the point is not on the curve or ``d`` is not its scalar."""
        if value.get("crv") != CURVE:
            raise InvalidKeyCurveError(f"an {SM2_SM3} key has crv {CURVE!r}")
        x, y = base64_to_int(value["x"]), base64_to_int(value["y"])
        _checked_point(x, y)
        if "d" not in value:
            return SM2Point(x, y)
        d = base64_to_int(value["d"])
        try:
            matches = sm2.decompress(sm2.public_key(d.to_bytes(SIZE, "big"))) == (x, y)
        except (ValueError, OverflowError):
            matches = False
        if not matches:
            raise KeyParameterError("d is not the private key of x, y")
        return SM2Point(x, y, d)

    @classmethod
    def import_from_bytes(cls, value: bytes, password: Any = None) -> SM2Point:
        raise KeyParameterError(f"import an {SM2_SM3} key from its JWK (SM2Key.import_key) or from_scalar")

    @classmethod
    def validate_dict_key_registry(cls, dict_key: dict[str, Any], registry: dict[str, Any]) -> None:
        ECKey.binding.validate_dict_key_registry(dict_key, registry)  # type: ignore[arg-type]

    @classmethod
    def validate_dict_key_use_operations(cls, dict_key: dict[str, Any]) -> None:
        ECKey.binding.validate_dict_key_use_operations(dict_key)  # type: ignore[arg-type]


class SM2Key(ECKey):
    """An SM2 key as a joserfc JWK (``kty`` EC, ``crv`` SM2). ``private_key``: the 32-byte scalar;
    ``public_key``: the 64-byte ``x || y`` GmSSL verifies with."""

    binding = SM2Binding  # type: ignore[assignment]

    @classmethod
    def from_scalar(cls, scalar: bytes, parameters: dict[str, Any] | None = None) -> SM2Key:
        """The private key of the 32-byte big-endian scalar ``scalar`` (in [1, n-2]); ValueError otherwise."""
        x, y = sm2.decompress(sm2.public_key(scalar))
        jwk = SM2Binding.convert_raw_key_to_dict(SM2Point(x, y, int.from_bytes(scalar, "big")), True)
        return cls.import_key({"kty": cls.key_type, **jwk}, parameters)

    @property
    def is_private(self) -> bool:
        return self.raw_value.d is not None  # type: ignore[union-attr]

    @property
    def public_key(self) -> bytes:  # type: ignore[override]
        point: SM2Point = self.raw_value  # type: ignore[assignment]
        return point.x.to_bytes(SIZE, "big") + point.y.to_bytes(SIZE, "big")

    @property
    def private_key(self) -> bytes | None:  # type: ignore[override]
        point: SM2Point = self.raw_value  # type: ignore[assignment]
        return None if point.d is None else point.d.to_bytes(SIZE, "big")

    @property
    def curve_name(self) -> str:
        return CURVE

    @property
    def curve_key_size(self) -> int:
        return 8 * SIZE

    def exchange_derive_key(self, key: Any) -> bytes:
        raise InvalidExchangeKeyError()  # a signing key only


class SM2WithSM3(JWSAlgModel):
    """The ``SM2-SM3`` JWS algorithm (module docstring): 64-byte ``r || s`` over the signing input."""

    name = SM2_SM3
    description = "SM2 with SM3, GB/T 32918.2, ID 1234567812345678, r || s (non-standard)"
    recommended = False  # never picked by a registry that was not told to allow it
    key_type = "EC"
    algorithm_security = 256

    def check_key(self, key: Any) -> None:
        if not isinstance(key, SM2Key):
            raise InvalidKeyTypeError(f"Algorithm '{self.name}' requires an SM2 key (kty EC, crv SM2)")
        super().check_key(key)

    def sign(self, msg: bytes, key: SM2Key) -> bytes:
        point: SM2Point = key.raw_value  # type: ignore[assignment]
        return sm2.sign(key.get_op_key("sign"), sm2.compress((point.x, point.y)), msg)

    def verify(self, msg: bytes, sig: bytes, key: SM2Key) -> bool:
        return sm2.verify(key.get_op_key("verify"), msg, sig)


def new_scalar() -> bytes:
    """A fresh private key: a uniform scalar in [1, n-2] (GB/T 32918.1 section 6.1), 32 bytes big-endian."""
    return (1 + secrets.randbelow(sm2.N - 2)).to_bytes(SIZE, "big")


def scalar_from(seed: bytes) -> bytes:
    """A private scalar derived from ``seed`` (published development keys only)."""
    return (1 + int.from_bytes(seed, "big") % (sm2.N - 2)).to_bytes(SIZE, "big")


def available() -> bool:
    """True when ``SM2-SM3`` can sign and verify here (the gm extra is importable)."""
    return sm2_available()


ALGORITHM = SM2WithSM3()
if available():
    JWSRegistry.register(ALGORITHM)
