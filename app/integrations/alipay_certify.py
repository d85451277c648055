"""Alipay real-person certification (支付宝身份验证, ``alipay.user.certify.open.*``), on the
signed gateway client of app/integrations/alipay.py.

Source (wire format; notes: docs/real-person-checks.md):
1. ``alipay.user.certify.open.initialize`` with ``biz_content`` ``{"outer_order_no" (ours, 32
   alphanumerics, unique), "biz_code": "FACE", "identity_param": {"identity_type": "CERT_INFO",
   "cert_type": "IDENTITY_CARD", "cert_name", "cert_no"}, "merchant_config": {"return_url"}}``
   → ``alipay_user_certify_open_initialize_response`` ``{"code": "10000", "msg": "Success",
   "certify_id"}``.
2. ``alipay.user.certify.open.certify`` ``{"certify_id"}`` is not called by the server: its signed
   GET URL is handed to the mini-program, which opens it (``my.startAPVerify({url, certifyId})``)
   and the citizen does the face check inside Alipay.
3. ``alipay.user.certify.open.query`` ``{"certify_id"}`` → ``{"code": "10000", "passed": "T" |
   "F", "identity_info"?, "material_info"?}``. Only ``passed == "T"`` counts.
Errors: ``error_response`` ``{"code": "40004", "msg": "Business Failed", "sub_code", "sub_msg"}``
(e.g. an unknown or expired certify_id), 20000 / ``isp.*`` for Alipay's own failures.
"""
from __future__ import annotations

import logging
from urllib.parse import urlencode

from app.integrations.alipay import AlipayBusinessError, AlipayLogin
from app.integrations.wechat_face import unavailable
from app.platform.errors import AppError

log = logging.getLogger(__name__)
INITIALIZE, CERTIFY, QUERY = "alipay.user.certify.open.initialize", "alipay.user.certify.open.certify", "alipay.user.certify.open.query"


class AlipayCertifier:
    """The three steps of Alipay's real-person certification for one app (its gateway client)."""

    def __init__(self, gateway: AlipayLogin, return_url: str) -> None:
        self._gateway = gateway
        self._return_url = return_url

    def initialize(self, outer_order_no: str, name: str, id_number: str) -> str:
        """Start a certification for this name and resident ID number; returns Alipay's ``certify_id``."""
        body = self._call(INITIALIZE, {
            "outer_order_no": outer_order_no, "biz_code": "FACE",
            "identity_param": {"identity_type": "CERT_INFO", "cert_type": "IDENTITY_CARD", "cert_name": name, "cert_no": id_number},
            "merchant_config": {"return_url": self._return_url}})
        certify_id = body.get("certify_id")
        if not isinstance(certify_id, str) or not certify_id:
            raise unavailable("alipay", "invalid_response")
        return certify_id

    def certify_url(self, certify_id: str) -> str:
        """The signed ``alipay.user.certify.open.certify`` URL the mini-program opens."""
        params = self._gateway.signed(CERTIFY, biz_content=f'{{"certify_id":"{certify_id}"}}')
        return self._gateway.gateway + "?" + urlencode(params)

    def passed(self, certify_id: str) -> bool:
        """Whether the citizen passed the certification ``certify_id`` (``passed == "T"``)."""
        return self._call(QUERY, {"certify_id": certify_id}).get("passed") == "T"

    def _call(self, method: str, biz_content: dict) -> dict:
        try:
            return self._gateway.call(method, biz_content)
        except AlipayBusinessError as exc:
            if exc.code == "40004":
                raise AppError("real_person_invalid", 422, "the real-person check is unknown, expired or refused",
                               {"platform": "alipay", "sub_code": exc.sub_code}) from None
            log.warning("Alipay %s failed with %s %s", method, exc.code, exc.sub_code)
            raise unavailable("alipay", "platform_error") from None
