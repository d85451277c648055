"""A stand-in for Tencent Cloud SMS on the real API 3.0 wire format: ``SendSms``, version 2021-01-11.

The request (Tencent Cloud API 3.0, "Signature v3", tencentcloud.com/document/api/1021/34193,
and the SDK's ``AbstractClient._build_req_with_tc3_signature``): ``POST /`` with a JSON body,
headers ``Content-Type: application/json``, ``Host``, ``X-TC-Action: SendSms``,
``X-TC-Version: 2021-01-11``, ``X-TC-Timestamp`` (Unix seconds), ``X-TC-Region`` and
``Authorization: TC3-HMAC-SHA256 Credential=<SecretId>/<UTC date>/sms/tc3_request,
SignedHeaders=content-type;host, Signature=<hex>``. The stand-in recomputes the signature:

1. CanonicalRequest = method \\n ``/`` \\n query (empty for POST) \\n
   ``content-type:<value>\\nhost:<value>\\n`` (keys and values lower case, trimmed) \\n
   ``content-type;host`` \\n hex(SHA256(body));
2. StringToSign = ``TC3-HMAC-SHA256`` \\n timestamp \\n ``<date>/sms/tc3_request`` \\n hex(SHA256(CanonicalRequest));
3. SecretDate = HMAC_SHA256("TC3" + SecretKey, date), SecretService = HMAC(SecretDate, "sms"),
   SecretSigning = HMAC(SecretService, "tc3_request"); Signature = hex(HMAC(SecretSigning, StringToSign)).

A wrong signature answers ``AuthFailure.SignatureFailure``, an unknown SecretId
``AuthFailure.SecretIdNotFound``, a timestamp more than 5 minutes off ``AuthFailure.SignatureExpire``,
a malformed Authorization ``AuthFailure.InvalidAuthorization``. Errors are HTTP 200
``{"Response": {"Error": {"Code", "Message"}, "RequestId"}}``. Success (SendSms, document/product/382/40536)::

    {"Response": {"SendStatusSet": [{"SerialNo", "PhoneNumber": "+86...", "Fee": 1,
     "SessionContext", "Code": "Ok", "Message": "send success", "IsoCode": "CN"}], "RequestId"}}

The SmsSdkAppId, sign name and template ids must be the configured ones
(``InvalidParameterValue.SdkAppIdNotExist``, ``FailedOperation.SignatureIncorrectOrUnapproved``,
``FailedOperation.TemplateIncorrectOrUnapproved``); a template's parameter count must match
(``FailedOperation.TemplateParamSetNotMatchApprovedTemplate``). Accepted messages are kept in
:attr:`TencentSmsStandIn.sent`. Tests script failures with :meth:`fail_next` (a request error)
and :meth:`refuse_next` (a per-number status such as ``LimitExceeded.PhoneNumberDailyLimit``).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from standins import StandInServer

VERSION, SERVICE, MAX_SKEW_SECONDS = "2021-01-11", "sms", 300
AUTHORIZATION = re.compile(r"TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/([a-z]+)/tc3_request, "
                           r"SignedHeaders=([a-z;-]+), Signature=([0-9a-f]{64})")
MESSAGES = {
    "AuthFailure.SignatureFailure": "The provided credentials could not be validated. Please check your signature is correct.",
    "AuthFailure.SecretIdNotFound": "The SecretId is not found, please ensure that your SecretId is correct.",
    "AuthFailure.SignatureExpire": "Signature expired. Timestamp and server time are more than 300 seconds apart.",
    "AuthFailure.InvalidAuthorization": "Authorization header is invalid.",
    "InvalidAction": "The requested action does not exist.",
    "NoSuchVersion": "The requested version does not exist.",
    "FailedOperation.JsonParseFail": "Failed to parse the request packet.",
    "InvalidParameterValue.SdkAppIdNotExist": "The SdkAppId does not exist.",
    "FailedOperation.SignatureIncorrectOrUnapproved": "The signature is incorrect or unapproved.",
    "FailedOperation.TemplateIncorrectOrUnapproved": "The template is incorrect or unapproved.",
    "FailedOperation.TemplateParamSetNotMatchApprovedTemplate": "The parameters do not match the approved template.",
    "MissingParameter.EmptyPhoneNumberSet": "The phone number set is empty.",
    "InvalidParameterValue.IncorrectPhoneNumber": "incorrect phone number",
    "LimitExceeded.PhoneNumberDailyLimit": "the number of SMS messages sent from a single mobile number every day exceeds the upper limit",
}
PHONE = re.compile(r"\+861\d{10}")


def tc3_signature(secret_key: str, date: str, service: str, string_to_sign: str) -> str:
    """The hex signature of ``string_to_sign`` under the key derived from ``"TC3" + secret_key``,
    ``date`` (UTC, ``YYYY-MM-DD``), ``service`` and ``tc3_request``."""
    key = ("TC3" + secret_key).encode()
    for part in (date, service, "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def string_to_sign(request: Request, timestamp: str, date: str, service: str) -> str:
    """Tencent's StringToSign of a POST ``request`` (canonical request hashed into it)."""
    canonical_headers = (f"content-type:{request.headers.get('Content-Type', '').strip().lower()}\n"
                         f"host:{request.headers.get('Host', '').strip().lower()}\n")
    canonical = "\n".join([request.method, request.path, request.query_string.decode(), canonical_headers,
                           "content-type;host", hashlib.sha256(request.get_data()).hexdigest()])
    return "\n".join(["TC3-HMAC-SHA256", timestamp, f"{date}/{service}/tc3_request",
                      hashlib.sha256(canonical.encode()).hexdigest()])


def _answer(body: dict[str, Any]) -> Response:
    body["RequestId"] = str(uuid.uuid4())
    return Response(json.dumps({"Response": body}, ensure_ascii=False), status=200, content_type="application/json")


def error(code: str) -> Response:
    """Tencent's error answer for ``code`` (HTTP 200)."""
    return _answer({"Error": {"Code": code, "Message": MESSAGES.get(code, "error")}})


class TencentSmsStandIn(StandInServer):
    """Tencent Cloud SMS for one key pair, one SMS application and sign name, and the approved
    ``templates`` (template id -> number of parameters). ``base_url`` is ``CARD_SMS_ENDPOINT``."""

    def __init__(self, secret_id: str, secret_key: str, sdk_app_id: str, sign_name: str, templates: dict[str, int]) -> None:
        super().__init__()
        self.secret_id, self._secret_key = secret_id, secret_key
        self.sdk_app_id, self.sign_name, self.templates = sdk_app_id, sign_name, templates
        self.sent: list[dict[str, Any]] = []  # every accepted SendSms body
        self.requests = 0
        self._refusals: list[str] = []

    def start(self) -> TencentSmsStandIn:
        """Start serving; returns ``self``."""
        super().start()
        return self

    def __enter__(self) -> TencentSmsStandIn:
        return self.start()

    def fail_next(self, code: str) -> None:
        """Answer the next request with the request error ``code`` (e.g. ``InternalError.Timeout``)."""
        self._script(lambda request: error(code))

    def refuse_next(self, code: str) -> None:
        """The next valid send answers a status with ``code`` for its number instead of ``Ok``."""
        with self._lock:
            self._refusals.append(code)

    def handle(self, request: Request) -> Response:
        """Check the signature and the call, then send."""
        with self._lock:
            self.requests += 1
        refused = self._authenticate(request) or self._action(request)
        if refused:
            return error(refused)
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            return error("FailedOperation.JsonParseFail")
        if not isinstance(body, dict):
            return error("FailedOperation.JsonParseFail")
        return self._send(body)

    def _authenticate(self, request: Request) -> str | None:
        match = AUTHORIZATION.fullmatch(request.headers.get("Authorization", ""))
        timestamp = request.headers.get("X-TC-Timestamp", "")
        if match is None or match.group(4) != "content-type;host" or not timestamp.isdigit():
            return "AuthFailure.InvalidAuthorization"
        secret_id, date, service, _, signature = match.groups()
        if secret_id != self.secret_id:
            return "AuthFailure.SecretIdNotFound"
        if abs(time.time() - int(timestamp)) > MAX_SKEW_SECONDS:
            return "AuthFailure.SignatureExpire"
        expected_date = datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d")
        expected = tc3_signature(self._secret_key, date, service, string_to_sign(request, timestamp, date, service))
        if service != SERVICE or date != expected_date or not hmac.compare_digest(expected, signature):
            return "AuthFailure.SignatureFailure"
        return None

    def _action(self, request: Request) -> str | None:
        if request.method != "POST" or request.path != "/" or request.headers.get("X-TC-Action") != "SendSms":
            return "InvalidAction"
        if request.headers.get("X-TC-Version") != VERSION:
            return "NoSuchVersion"
        return None

    def _send(self, body: dict[str, Any]) -> Response:
        refused = self._check(body)
        if refused:
            return error(refused)
        with self._lock:
            code = self._refusals.pop(0) if self._refusals else "Ok"
            if code == "Ok":
                self.sent.append(body)
        statuses = [{"SerialNo": f"{secrets.randbelow(10**4)}:{secrets.randbelow(10**18)}" if code == "Ok" else "",
                     "PhoneNumber": phone, "Fee": 1 if code == "Ok" else 0, "SessionContext": body.get("SessionContext", ""),
                     "Code": code, "Message": "send success" if code == "Ok" else MESSAGES.get(code, "error"), "IsoCode": "CN"}
                    for phone in body["PhoneNumberSet"]]
        return _answer({"SendStatusSet": statuses})

    def _check(self, body: dict[str, Any]) -> str | None:
        phones, params = body.get("PhoneNumberSet"), body.get("TemplateParamSet") or []
        if not phones or not isinstance(phones, list):
            return "MissingParameter.EmptyPhoneNumberSet"
        if not all(isinstance(phone, str) and PHONE.fullmatch(phone) for phone in phones):
            return "InvalidParameterValue.IncorrectPhoneNumber"
        if body.get("SmsSdkAppId") != self.sdk_app_id:
            return "InvalidParameterValue.SdkAppIdNotExist"
        if body.get("SignName") != self.sign_name:
            return "FailedOperation.SignatureIncorrectOrUnapproved"
        if body.get("TemplateId") not in self.templates:
            return "FailedOperation.TemplateIncorrectOrUnapproved"
        if not isinstance(params, list) or len(params) != self.templates[body["TemplateId"]]:
            return "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"
        return None
