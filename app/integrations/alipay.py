"""Alipay mini-program login: ``alipay.system.oauth.token``, on ``requests`` + ``cryptography``.

No Alipay SDK: the official one cannot reach a gateway URL with a port and rejects PKCS#8
keys. Request: a POSTed form of the common parameters plus ``grant_type`` and ``code``,
signed RSA2 (SHA256withRSA, PKCS#1 v1.5) over the sorted ``k=v&k=v`` of every parameter
but ``sign``, with raw (unescaped) values. Response: JSON with
``alipay_system_oauth_token_response`` or ``error_response`` and a top-level ``sign`` over
the exact text of that inner object, verified with Alipay's public key before a success
body is trusted.
"""
from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from app.integrations.identity import PlatformIdentity
from app.platform.errors import AppError

log = logging.getLogger(__name__)

METHOD = "alipay.system.oauth.token"
SUCCESS_KEY = "alipay_system_oauth_token_response"
ERROR_KEY = "error_response"
# Asia/Shanghai: UTC+8 all year (no DST since 1991), so no tz database is needed.
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"

_DECODER = json.JSONDecoder()
_WS = " \t\r\n"


def load_key_file(path: str | Path) -> bytes:
    """The bytes of a PEM key file (PKCS#8 or PKCS#1 private key, or a public key)."""
    return Path(path).read_bytes()


def sign_content(params: dict[str, str]) -> bytes:
    """Alipay's string to sign: sorted ``k=v`` pairs of non-empty params but ``sign``, UTF-8."""
    pairs = (f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v != "")
    return "&".join(pairs).encode("utf-8")


def rsa2_sign(private_key: rsa.RSAPrivateKey, data: bytes) -> str:
    """Base64 SHA256withRSA (PKCS#1 v1.5) signature of ``data``."""
    return base64.b64encode(private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa2_verify(public_key: rsa.RSAPublicKey, data: bytes, signature: str) -> bool:
    """Whether ``signature`` (base64 RSA2) is valid for ``data``; never raises."""
    try:
        public_key.verify(base64.b64decode(signature, validate=True), data,
                          padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def split_top_level(text: str) -> dict[str, tuple[Any, str]]:
    """Parse a JSON object's top level into ``{key: (value, exact value text)}``.

    Alipay signs the inner object's text exactly as sent, so it is cut out of the
    response with ``raw_decode`` rather than re-serialised. Raises ``ValueError``.
    """
    pos = _skip_ws(text, 0)
    if text[pos:pos + 1] != "{":
        raise ValueError("not a JSON object")
    members: dict[str, tuple[Any, str]] = {}
    pos = _skip_ws(text, pos + 1)
    while text[pos:pos + 1] != "}":
        key, start, end = _member(text, pos)
        members[key] = (_DECODER.raw_decode(text, start)[0], text[start:end])
        pos = _after_member(text, end)
    return members


def _skip_ws(text: str, pos: int) -> int:
    """The index of the first non-whitespace character at or after ``pos``."""
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _member(text: str, pos: int) -> tuple[str, int, int]:
    """Parse ``"key": value`` at ``pos``; return the key and the value's span."""
    key, pos = _DECODER.raw_decode(text, pos)
    pos = _skip_ws(text, pos)
    if not isinstance(key, str) or text[pos:pos + 1] != ":":
        raise ValueError("malformed JSON object member")
    start = _skip_ws(text, pos + 1)
    _, end = _DECODER.raw_decode(text, start)
    return key, start, end


def _after_member(text: str, pos: int) -> int:
    """Step over the ``,`` after a member (or stop at the closing ``}``)."""
    pos = _skip_ws(text, pos)
    if text[pos:pos + 1] == ",":
        return _skip_ws(text, pos + 1)
    if text[pos:pos + 1] == "}":
        return pos
    raise ValueError("malformed JSON object")


def _rsa_key(key: Any) -> Any:
    """``key`` itself if it is an RSA key (RSA2 needs one), else ``ValueError``."""
    if not isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        raise ValueError("Alipay RSA2 needs RSA keys")
    return key


def _unavailable(reason: str) -> AppError:
    """The 503 raised for every Alipay failure that is not the user's fault."""
    return AppError("platform_unavailable", 503, "Alipay login is unavailable; retry later.",
                    details={"platform": "alipay", "reason": reason})


def _error_for(sub_code: str) -> AppError:
    """Map an ``error_response`` sub_code onto an :class:`AppError`."""
    sc = sub_code.lower()
    details = {"platform": "alipay", "sub_code": sub_code}
    if sc == "isv.code-invalid":
        return AppError("login_code_invalid", 401,
                        "The Alipay auth code is invalid, expired or already used.", details)
    if "limit" in sc:
        return AppError("platform_rate_limited", 429, "Alipay is rate limiting logins; retry later.",
                        details, headers={"Retry-After": "60"})
    if "risk" in sc or ("forbidden" in sc and "user" in sc):
        return AppError("platform_user_blocked", 403, "Alipay has blocked this user.", details)
    log.warning("Alipay oauth.token failed with sub_code %r", sub_code)
    return _unavailable("platform_error")


class AlipayBusinessError(Exception):
    """Alipay answered a signed error: ``code`` (e.g. 40004) and ``sub_code``."""

    def __init__(self, code: str, sub_code: str) -> None:
        super().__init__(f"Alipay error {code} {sub_code}")
        self.code, self.sub_code = code, sub_code


class AlipayLogin:
    """Exchanges a mini-program ``my.getAuthCode()`` code for the user's Alipay id."""

    def __init__(self, app_id: str, private_key_pem: bytes, alipay_public_key_pem: bytes,
                 gateway: str, timeout: float = 5.0, session: requests.Session | None = None,
                 now: Callable[[], datetime] | None = None) -> None:
        """Keys are PEM bytes (app private key: PKCS#8 or PKCS#1); ``gateway`` is the full URL."""
        self._app_id = app_id
        self._private_key = _rsa_key(serialization.load_pem_private_key(private_key_pem, None))
        self._alipay_key = _rsa_key(serialization.load_pem_public_key(alipay_public_key_pem))
        self._gateway = gateway
        self._timeout = timeout
        self._session = session or requests.Session()
        self._now = now or (lambda: datetime.now(UTC))

    def oauth_token(self, auth_code: str) -> PlatformIdentity:
        """Alipay ``alipay.system.oauth.token``: turn ``auth_code`` into a :class:`PlatformIdentity`.

        Raises :class:`AppError`: 401 ``login_code_invalid`` (``isv.code-invalid``),
        429 ``platform_rate_limited`` with ``Retry-After: 60`` (sub_code with "limit"),
        403 ``platform_user_blocked`` (sub_code with "risk", or a forbidden user), and
        503 ``platform_unavailable`` for a bad response signature
        (details ``reason=response_signature_invalid``), 20000/``isp.*``/unknown errors,
        HTTP errors, non-JSON bodies and connection errors.
        """
        members = self._post(self.signed_params(auth_code))
        if SUCCESS_KEY in members:
            return self._success(members)
        if ERROR_KEY in members:
            raise _error_for(_sub_code(members[ERROR_KEY][0]))
        log.warning("Alipay oauth.token answered neither a success nor an error object")
        raise _unavailable("invalid_response")

    def signed_params(self, auth_code: str) -> dict[str, str]:
        """The complete, signed form of an ``alipay.system.oauth.token`` request."""
        return self.signed(METHOD, grant_type="authorization_code", code=auth_code)

    def signed(self, method: str, **business: str) -> dict[str, str]:
        """The complete, signed form of a request to ``method``: the common parameters, then
        ``business`` (e.g. ``biz_content``, a JSON text), signed RSA2."""
        params = {
            "app_id": self._app_id, "method": method, "format": "JSON", "charset": "utf-8",
            "sign_type": "RSA2", "timestamp": self._timestamp(), "version": "1.0", **business,
        }
        params["sign"] = rsa2_sign(self._private_key, sign_content(params))
        return params

    @property
    def gateway(self) -> str:
        """The gateway URL requests go to."""
        return self._gateway

    def call(self, method: str, biz_content: dict[str, Any]) -> dict[str, Any]:
        """POST ``method`` with ``biz_content`` and return the verified ``<method>_response``
        object (``code`` 10000). Raises :class:`AlipayBusinessError` for an ``error_response`` or a
        response ``code`` other than 10000 (after verifying its signature), and 503
        ``platform_unavailable`` as :meth:`oauth_token` for everything else."""
        params = self.signed(method, biz_content=json.dumps(biz_content, ensure_ascii=False, separators=(",", ":")))
        members = self._post(params)
        key = method.replace(".", "_") + "_response"
        if key not in members and ERROR_KEY not in members:
            log.warning("Alipay %s answered neither a success nor an error object", method)
            raise _unavailable("invalid_response")
        # an error need not be signed (gateway errors are not): it is only ever a refusal
        body = self._verified(members, key) if key in members else members[ERROR_KEY][0]
        if not isinstance(body, dict) or body.get("code") != "10000":
            error = body if isinstance(body, dict) else {}
            raise AlipayBusinessError(str(error.get("code", "")), str(error.get("sub_code", "")))
        return body

    def _timestamp(self) -> str:
        """Beijing time ``yyyy-MM-dd HH:mm:ss``; a naive ``now()`` is taken as UTC."""
        now = self._now()
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        return now.astimezone(BEIJING).strftime(TIMESTAMP_FORMAT)

    def _post(self, params: dict[str, str]) -> dict[str, tuple[Any, str]]:
        """POST the form to the gateway and split the JSON answer's top level."""
        try:
            resp = self._session.post(self._gateway, data=params, timeout=self._timeout)
        except requests.RequestException as exc:
            log.warning("Alipay gateway unreachable: %s", type(exc).__name__)
            raise _unavailable("connection_error") from None
        if not 200 <= resp.status_code < 300:
            log.warning("Alipay gateway answered HTTP %s", resp.status_code)
            raise _unavailable("http_error")
        return _split_body(resp.content)

    def _success(self, members: dict[str, tuple[Any, str]]) -> PlatformIdentity:
        """Verify the signature over the exact inner text, then build the identity."""
        return _identity(self._verified(members, SUCCESS_KEY))

    def _verified(self, members: dict[str, tuple[Any, str]], key: str) -> Any:
        """The object at ``key`` once ``sign`` is verified over its exact text; else a 503."""
        body, text = members[key]
        sign = members.get("sign", (None, ""))[0]
        if not isinstance(sign, str) or not rsa2_verify(self._alipay_key, text.encode(), sign):
            log.warning("Alipay response signature is missing or invalid")
            raise _unavailable("response_signature_invalid")
        return body


def _split_body(content: bytes) -> dict[str, tuple[Any, str]]:
    """Decode the UTF-8 JSON answer; anything else is a 503."""
    try:
        return split_top_level(content.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        log.warning("Alipay gateway answered a body that is not a JSON object")
        raise _unavailable("invalid_response") from None


def _sub_code(error: Any) -> str:
    """The ``sub_code`` of an ``error_response`` (its ``code`` when there is none)."""
    if not isinstance(error, dict):
        return ""
    return str(error.get("sub_code") or error.get("code") or "")


def _identity(body: Any) -> PlatformIdentity:
    """``open_id`` if present, else ``user_id``; a body with an error code or neither is a 503."""
    if isinstance(body, dict) and body.get("code") not in (None, "10000"):
        raise _error_for(_sub_code(body))
    ident = (body.get("open_id") or body.get("user_id")) if isinstance(body, dict) else None
    if not isinstance(ident, str) or not ident:
        log.warning("Alipay oauth.token success body carries neither open_id nor user_id")
        raise _unavailable("invalid_response")
    return PlatformIdentity("alipay", ident, None)
