"""Alipay mini-program template messages (the counterpart of WeChat's subscribe messages).

Source: Alipay OpenAPI ``alipay.open.app.mini.templatemessage.send``, ``biz_content``
``{"to_open_id", "user_template_id", "page", "data"}`` where ``data`` is a JSON text of
``{"keyword": {"value": ...}}``; a signed form post to the gateway (RSA2) like every call of
app.integrations.alipay.AlipayLogin.call. A refusal is an ``error_response`` with ``code``
40004 and a ``sub_code``: the user's or the template's (:data:`FINAL_SUB_CODES`: never retried)
or a passing one.
"""
from __future__ import annotations

import json

from app.integrations.alipay import AlipayBusinessError, AlipayLogin
from app.platform.errors import AppError

METHOD = "alipay.open.app.mini.templatemessage.send"
# the user did not subscribe (or used it up), the template or the user is unknown: retrying cannot help
FINAL_SUB_CODES = frozenset({"USER_TEMPLATE_ILLEGAL", "USER_NOT_SUBSCRIBE", "TEMPLATE_NOT_EXIST", "isv.invalid-user-id",
                             "USER_NOT_EXIST"})
UNAVAILABLE = "unavailable"


class TemplateMessageFailed(Exception):
    """Alipay refused (``sub_code``) or did not answer (``unavailable``); ``final``: do not retry."""

    def __init__(self, code: str, final: bool) -> None:
        super().__init__(f"Alipay template message failed: {code}")
        self.code, self.final = code, final


class AlipayTemplateMessenger:
    """Sends one template message per call through the app's signed gateway client."""

    def __init__(self, client: AlipayLogin) -> None:
        self._client = client

    def send(self, open_id: str, template_id: str, data: dict[str, str], page: str | None = None) -> None:
        """Send ``data`` (keyword -> value) with ``template_id`` to ``open_id``; raises :class:`TemplateMessageFailed`."""
        biz = {"to_open_id": open_id, "user_template_id": template_id, "page": page or "",
               "data": json.dumps({name: {"value": value} for name, value in data.items()}, ensure_ascii=False)}
        try:
            self._client.call(METHOD, biz)
        except AlipayBusinessError as exc:
            code = exc.sub_code or exc.code
            raise TemplateMessageFailed(code, code in FINAL_SUB_CODES) from None
        except AppError:  # 503 platform_unavailable: network, HTTP, signature, body
            raise TemplateMessageFailed(UNAVAILABLE, False) from None
