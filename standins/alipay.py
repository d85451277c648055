"""A stand-in for the Alipay OpenAPI gateway's ``alipay.system.oauth.token`` and real-person
certification (``alipay.user.certify.open.initialize`` / ``certify`` / ``query``), on the real wire format.

Certification: ``initialize`` (``biz_content`` with ``outer_order_no``, ``biz_code``,
``identity_param`` {``identity_type`` CERT_INFO, ``cert_type`` IDENTITY_CARD, ``cert_name``,
``cert_no``}, ``merchant_config`` {``return_url``}) answers ``{"code": "10000", "msg": "Success",
"certify_id"}``; the citizen opening the signed ``certify`` URL and passing the face check is
played by :meth:`AlipayStandIn.complete_certification`; ``query`` answers ``{"code": "10000",
"msg": "Success", "passed": "T" | "F"}`` (``F`` until completed), and 40004 for an unknown
certify_id.

Requests are form posts signed RSA2 with the app's private key; the stand-in checks that
signature with the app's public key. Answers are ``{"<method>_response" | "error_response":
{...}, "sign": "..."}`` where ``sign`` is RSA2, by the stand-in's own "Alipay" key, over the
exact inner JSON text sent. The signing code here is written independently of
``app.integrations.alipay`` so that the two check each other.
"""
from __future__ import annotations

import base64
import json
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from werkzeug.wrappers import Request, Response

from standins import StandInServer

METHOD = "alipay.system.oauth.token"
SUCCESS_KEY = "alipay_system_oauth_token_response"
ERROR_KEY = "error_response"
CERTIFY_METHODS = ("alipay.user.certify.open.initialize", "alipay.user.certify.open.query")
TEMPLATE_METHOD = "alipay.open.app.mini.templatemessage.send"  # a mini-program template message
CODE_TTL_SECONDS = 300.0
BEIJING = timezone(timedelta(hours=8))

MSG = {
    "20000": "Service Currently Unavailable",
    "20001": "Insufficient Token Permissions",
    "40001": "Missing Required Arguments",
    "40002": "Invalid Arguments",
    "40004": "Business Failed",
    "40006": "Insufficient Permissions",
}


@dataclass
class _Code:
    """One issued auth code: who it logs in, until when, and whether it was used."""

    user_id: str
    open_id: str
    expires_at: float
    used: bool = False


def _random_chars(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    """``n`` random characters from ``alphabet``."""
    return "".join(secrets.choice(alphabet) for _ in range(n))


def new_user_id() -> str:
    """A random Alipay user_id: "2088" and 12 digits."""
    return "2088" + _random_chars(12, string.digits)


def new_open_id() -> str:
    """A random Alipay open_id: "0" and 45 alphanumerics."""
    return "0" + _random_chars(45)


def _content_to_sign(params: dict[str, str]) -> bytes:
    """Sorted ``k=v&k=v`` of the non-empty parameters but ``sign``, UTF-8, raw values."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params)
                    if k != "sign" and params[k] != "").encode("utf-8")


def _rsa_public_key(pem: bytes) -> rsa.RSAPublicKey:
    """Load an RSA public key from PEM (RSA2 needs RSA)."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the app public key must be an RSA key")
    return key


def _valid_timestamp(value: str) -> bool:
    """Whether ``value`` is ``yyyy-MM-dd HH:mm:ss``."""
    try:
        datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return False
    return True


class AlipayStandIn(StandInServer):
    """Alipay's gateway for one app: ``app_id`` and the app's RSA public key (PEM).

    ``base_url`` is ``http://127.0.0.1:PORT/gateway.do``; :attr:`public_key_pem` is the
    "Alipay public key" the client verifies answers with. Tests script failures with
    :meth:`fail_next`, :meth:`tamper_next_signature`, :meth:`http_error_next` and
    :meth:`serve_html_next`.
    """

    path = "/gateway.do"

    def __init__(self, app_id: str, app_public_key_pem: bytes,
                 private_key: rsa.RSAPrivateKey | None = None,
                 code_ttl: float = CODE_TTL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``private_key`` is the stand-in's "Alipay" key (a fresh 2048-bit one by default)."""
        super().__init__()
        self.app_id = app_id
        self._app_key = _rsa_public_key(app_public_key_pem)
        self._key = private_key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._code_ttl = code_ttl
        self._clock = clock
        self._codes: dict[str, _Code] = {}
        self._codes_lock = threading.Lock()
        self._tamper = 0
        self.certifications: dict[str, dict[str, Any]] = {}  # certify_id -> {"identity", "passed", "outer_order_no"}
        self.template_messages: list[dict[str, Any]] = []  # every template message accepted, its biz_content

    def start(self) -> AlipayStandIn:
        """Start serving; returns ``self``."""
        super().start()
        return self

    def __enter__(self) -> AlipayStandIn:
        """Start on entering a ``with`` block."""
        return self.start()

    @property
    def public_key_pem(self) -> bytes:
        """The stand-in's "Alipay public key" (SubjectPublicKeyInfo PEM)."""
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def issue_code(self, user_id: str | None = None, open_id: str | None = None) -> str:
        """Mint an auth code (what ``my.getAuthCode()`` gives), valid once for 5 minutes.

        Missing ids are random; pass ``open_id=""`` to answer without an open_id (an app
        still on user_id mode) or ``user_id=""`` to answer without a user_id.
        """
        code = _random_chars(32, string.hexdigits[:16])
        entry = _Code(new_user_id() if user_id is None else user_id,
                      new_open_id() if open_id is None else open_id,
                      self._clock() + self._code_ttl)
        with self._codes_lock:
            self._codes[code] = entry
        return code

    def fail_next(self, code: str | int, sub_code: str, sub_msg: str | None = None) -> None:
        """Answer the next request with a signed ``error_response`` of ``code``/``sub_code``."""
        error = _error(str(code), sub_code, sub_msg or sub_code)
        self._script(lambda request: self._answer(ERROR_KEY, error))

    def complete_certification(self, certify_url: str, passed: bool = True) -> str:
        """The citizen opens ``certify_url`` (a signed ``alipay.user.certify.open.certify`` GET)
        and does the face check; returns its certify_id. Raises ``ValueError`` for a URL that is
        not signed by the app or names an unknown certification."""
        params = dict(parse_qsl(urlsplit(certify_url).query))
        if params.get("method") != "alipay.user.certify.open.certify" or not self._signed_by_app(params):
            raise ValueError("not a certify URL signed by the app")
        certify_id = json.loads(params.get("biz_content", "{}")).get("certify_id", "")
        with self._codes_lock:
            if certify_id not in self.certifications:
                raise ValueError("unknown certify_id")
            self.certifications[certify_id]["passed"] = passed
        return certify_id

    def tamper_next_signature(self) -> None:
        """Send a ``sign`` that does not verify on the next answer."""
        with self._codes_lock:
            self._tamper += 1

    def handle(self, request: Request) -> Response:
        """Serve the gateway: check the request, its signature, then the auth code."""
        if request.path != self.path:
            return Response("Not Found", status=404, mimetype="text/html")
        params = {**request.args.to_dict(), **request.form.to_dict()}
        if params.get("method") in CERTIFY_METHODS:
            return self._certify(params)
        if params.get("method") == TEMPLATE_METHOD:
            return self._template_message(params)
        error = self._check_request(params)
        if error:
            return self._answer(ERROR_KEY, error)
        return self._redeem(params.get("code", ""))

    def _certify(self, params: dict[str, str]) -> Response:
        """``initialize`` or ``query``, after the common checks."""
        error = self._check_common(params)
        if error:
            return self._answer(ERROR_KEY, error)
        try:
            biz = json.loads(params.get("biz_content", ""))
        except ValueError:
            biz = None
        if not isinstance(biz, dict):
            return self._answer(ERROR_KEY, _error("40002", "isv.invalid-parameter", "biz_content无效"))
        if params["method"].endswith("initialize"):
            return self._initialize(biz)
        return self._query(biz)

    def _template_message(self, params: dict[str, str]) -> Response:
        """``alipay.open.app.mini.templatemessage.send``: ``to_open_id``, ``user_template_id`` and
        ``data`` (a JSON text) required; the message is kept in :attr:`template_messages`."""
        error = self._check_common(params)
        if error:
            return self._answer(ERROR_KEY, error)
        try:
            biz = json.loads(params.get("biz_content", ""))
            json.loads(biz["data"])
        except (ValueError, KeyError, TypeError):
            return self._answer(ERROR_KEY, _error("40002", "isv.invalid-parameter", "biz_content无效"))
        if not biz.get("to_open_id") or not biz.get("user_template_id"):
            return self._answer(ERROR_KEY, _error("40001", "isv.missing-parameter", "缺少必选参数"))
        with self._codes_lock:
            self.template_messages.append(biz)
        return self._answer("alipay_open_app_mini_templatemessage_send_response", {"code": "10000", "msg": "Success"})

    def template_messages_to(self, open_id: str) -> list[dict[str, Any]]:
        """The template messages sent to ``open_id``."""
        with self._codes_lock:
            return [m for m in self.template_messages if m["to_open_id"] == open_id]

    def _initialize(self, biz: dict[str, Any]) -> Response:
        identity = biz.get("identity_param") or {}
        required = (biz.get("outer_order_no"), biz.get("biz_code"), identity.get("cert_name"), identity.get("cert_no"),
                    (biz.get("merchant_config") or {}).get("return_url"))
        if not all(required) or identity.get("identity_type") != "CERT_INFO":
            return self._answer(ERROR_KEY, _error("40001", "isv.missing-parameter", "缺少必选参数"))
        certify_id = secrets.token_hex(16)
        with self._codes_lock:
            self.certifications[certify_id] = {"identity": identity, "passed": None, "outer_order_no": biz["outer_order_no"]}
        key = "alipay_user_certify_open_initialize_response"
        return self._answer(key, {"code": "10000", "msg": "Success", "certify_id": certify_id})

    def _query(self, biz: dict[str, Any]) -> Response:
        with self._codes_lock:
            entry = self.certifications.get(str(biz.get("certify_id")))
        if entry is None:
            return self._answer(ERROR_KEY, _error("40004", "CERTIFY_ID_INVALID", "认证单据不存在"))
        key = "alipay_user_certify_open_query_response"
        return self._answer(key, {"code": "10000", "msg": "Success", "passed": "T" if entry["passed"] else "F"})

    def _check_request(self, params: dict[str, str]) -> dict[str, str] | None:
        """The ``error_response`` for a malformed or badly signed request, else ``None``."""
        if params.get("method") != METHOD:
            return _error("40002", "isv.invalid-method", "不存在的方法名")
        error = self._check_common(params)
        if error:
            return error
        if params.get("grant_type") != "authorization_code":
            return _error("40002", "isv.grant-type-invalid", "grant_type参数不正确")
        return None

    def _check_common(self, params: dict[str, str]) -> dict[str, str] | None:
        """App id, signature type, timestamp and signature of any request."""
        if params.get("app_id") != self.app_id:
            return _error("40002", "isv.invalid-app-id", "无效的AppID参数")
        if params.get("sign_type") != "RSA2":
            return _error("40002", "isv.invalid-signature-type", "无效的签名类型")
        if not _valid_timestamp(params.get("timestamp", "")):
            return _error("40002", "isv.invalid-timestamp", "非法的时间戳参数")
        if not self._signed_by_app(params):
            return _error("40002", "isv.invalid-signature", "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配")
        return None

    def _signed_by_app(self, params: dict[str, str]) -> bool:
        """Whether ``sign`` is the app's RSA2 signature over the other parameters."""
        try:
            signature = base64.b64decode(params.get("sign", ""), validate=True)
            self._app_key.verify(signature, _content_to_sign(params),
                                 padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            return False
        return True

    def _redeem(self, code: str) -> Response:
        """Use up ``code`` and answer the token, or ``isv.code-invalid``."""
        entry = self._use_code(code)
        if entry is None:
            return self._answer(ERROR_KEY, _error("40004", "isv.code-invalid", "授权码code无效"))
        return self._answer(SUCCESS_KEY, _token(entry))

    def _use_code(self, code: str) -> _Code | None:
        """Mark ``code`` used and return it; ``None`` if unknown, expired or already used."""
        with self._codes_lock:
            entry = self._codes.get(code)
            if entry is None or entry.used or self._clock() > entry.expires_at:
                return None
            entry.used = True
            return entry

    def _answer(self, key: str, inner: dict[str, Any]) -> Response:
        """``{key: inner, "sign": ...}`` with ``sign`` over the exact inner text sent."""
        text = json.dumps(inner, ensure_ascii=False, separators=(",", ":"))
        sign = self._sign((text + " tampered") if self._take_tamper() else text)
        body = f'{{"{key}":{text},"sign":"{sign}"}}'
        return Response(body.encode("utf-8"), status=200, content_type="text/html;charset=utf-8")

    def _take_tamper(self) -> bool:
        """Consume one pending :meth:`tamper_next_signature`, if any."""
        with self._codes_lock:
            if not self._tamper:
                return False
            self._tamper -= 1
            return True

    def _sign(self, text: str) -> str:
        """Base64 RSA2 signature of ``text`` by the stand-in's "Alipay" key."""
        raw = self._key.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(raw).decode()


def _error(code: str, sub_code: str, sub_msg: str) -> dict[str, str]:
    """An ``error_response`` object."""
    return {"code": code, "msg": MSG.get(code, "Business Failed"),
            "sub_code": sub_code, "sub_msg": sub_msg}


def _token(entry: _Code) -> dict[str, Any]:
    """The ``alipay_system_oauth_token_response`` object for a redeemed code."""
    inner: dict[str, Any] = {}
    if entry.user_id:
        inner["user_id"] = entry.user_id
    if entry.open_id:
        inner["open_id"] = entry.open_id
    inner.update({
        "access_token": "authusrB" + secrets.token_hex(16),
        "expires_in": 1296000,
        "refresh_token": "authusrB" + secrets.token_hex(16),
        "re_expires_in": 2592000,
        "auth_start": datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
    })
    return inner
