"""The physical card's PIN (M-14, M-26): six digits of the citizen's choice, stored only as a
scrypt hash (RFC 7914; hashlib), never logged. Weak PINs are refused."""
from __future__ import annotations

import base64
import hmac
import secrets

from app.platform.errors import AppError
from app.platform.offload import off_loop

# RFC 7914 / OWASP: N=2^15, r=8, p=1 (about 32 MiB and tens of milliseconds per hash).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1


def pin_weakness(pin: str) -> str | None:
    """``not_six_digits``, ``one_digit`` (e.g. 111111), ``run`` (e.g. 123456, 987654) or None."""
    if len(pin) != 6 or not pin.isascii() or not pin.isdigit():
        return "not_six_digits"
    if len(set(pin)) == 1:
        return "one_digit"
    steps = {int(b) - int(a) for a, b in zip(pin, pin[1:], strict=False)}
    return "run" if steps in ({1}, {-1}) else None


def checked_pin(pin: str) -> str:
    """``pin`` if acceptable; else 422 ``pin_weak`` with the weakness (never the PIN)."""
    return refuse_weak_digits(pin, "pin_weak")


def refuse_weak_digits(digits: str, code: str) -> str:
    """``digits`` if :func:`pin_weakness` finds nothing; else 422 ``code`` with the weakness (never
    the digits). The PIN's rules, shared by the e-card password (app/card/passwords.py)."""
    weakness = pin_weakness(digits)
    if weakness is not None:
        raise AppError(code, 422, "choose 6 digits that are neither all the same nor consecutive", {"weakness": weakness})
    return digits


def hash_pin(pin: str) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64 parts) for a fresh random salt."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)])


def pin_matches(pin: str, stored: str) -> bool:
    """Constant-time comparison of ``pin`` with a :func:`hash_pin` value."""
    _, n, r, p, salt, digest = stored.split("$")
    candidate = _scrypt(pin, base64.b64decode(salt), int(n), int(r), int(p))
    return hmac.compare_digest(candidate, base64.b64decode(digest))


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    """The hash (app.platform.hasher), run off the event loop (app.platform.offload): it takes tens
    of milliseconds; 503 ``busy`` if the server's hashing could not take it in time."""
    return bytes(off_loop("scrypt", pin.encode(), salt, n, r, p))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
