"""WeChat face verification for mini-programs (微信人脸核身), checked server-side.

The mini-program calls ``wx.startFacialRecognitionVerify({name, idCardNumber})``; WeChat
compares the face with the photo of the public-security database and hands the mini-program a
``verifyResult``. That token proves nothing by itself: we ask WeChat what it means.

Source (the wire format; notes: docs/real-person-checks.md): ``POST
{api_base}cityservice/face/identify/getinfo?access_token=`` with JSON ``{"verify_result"}``.
Answer HTTP 200 JSON ``{"errcode": 0, "errmsg": "ok", "identify_ret", "identify_time",
"validate_data", "openid", "user_id_key", "finish_time", "id_card_number_md5",
"name_utf8_md5"}``: ``identify_ret`` 0 is a passed check (others: 10001 bad parameters, 10002
no face features, 10003 ID number mismatch, 10004 face mismatch, 10017 illegal identify id,
10020 timeout, 10022 repeated request, 10026 not in the comparison database, 90100 user
cancelled ...); ``id_card_number_md5`` is the hex MD5 of the ID number with an upper-case X,
``name_utf8_md5`` of the UTF-8 name; times are Unix seconds. Errors are ``{"errcode", "errmsg"}``
(40001 bad access token, refetched once by wechatpy; -1 busy). The access token comes from
``cgi-bin/token``, shared by every worker (app/integrations/wechat_tokens.py).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import requests
from wechatpy.exceptions import WeChatClientException

from app.integrations.wechat_messages import _Client
from app.integrations.wechat_tokens import SharedTokens
from app.platform.errors import AppError

log = logging.getLogger(__name__)
PATH = "cityservice/face/identify/getinfo"


@dataclass(frozen=True)
class FaceResult:
    """What WeChat says one ``verify_result`` stands for."""

    identify_ret: int
    openid: str
    id_card_number_md5: str
    name_utf8_md5: str
    identify_time: int


def unavailable(platform: str, reason: str) -> AppError:
    """The 503 for a real-person check the platform could not answer (not the citizen's fault)."""
    return AppError("platform_unavailable", 503, "the real-person check is unavailable; retry later",
                    {"platform": platform, "reason": reason})


class WeChatFaceVerifier:
    """Looks a ``verifyResult`` up with WeChat (``cityservice/face/identify/getinfo``)."""

    def __init__(self, appid: str, secret: str, api_base: str, timeout: float = 5.0, tokens: SharedTokens | None = None) -> None:
        self._client = _Client(appid, secret, api_base, timeout, tokens)
        self._url = api_base + PATH

    def result(self, verify_result: str) -> FaceResult:
        """WeChat's answer for ``verify_result``. 422 ``real_person_invalid`` when WeChat does not
        know the token (errcode other than 0, -1 or 40001-class); 503 ``platform_unavailable``
        for network errors, busy (-1) and malformed answers."""
        try:
            body = self._client.post(self._url, data={"verify_result": verify_result})
        except WeChatClientException as exc:
            if exc.errcode in (None, -1):
                raise unavailable("wechat", "platform_error") from None
            log.info("WeChat face getinfo refused the token with errcode %s", exc.errcode)
            raise AppError("real_person_invalid", 422, "the real-person check result is unknown or expired",
                           {"platform": "wechat", "errcode": exc.errcode}) from None
        except (requests.RequestException, ValueError) as exc:  # the text may quote the token URL
            log.warning("WeChat face getinfo unreachable: %s", type(exc).__name__)
            raise unavailable("wechat", "connection_error") from None
        return _face_result(body)


def _face_result(body: Any) -> FaceResult:
    """A failed check (``identify_ret`` not 0) may come without the other fields."""
    try:
        ret = int(body["identify_ret"])
        if ret != 0:
            return FaceResult(ret, "", "", "", 0)
        return FaceResult(ret, str(body["openid"]), str(body["id_card_number_md5"]).lower(),
                          str(body["name_utf8_md5"]).lower(), int(body["identify_time"]))
    except (KeyError, TypeError, ValueError):
        log.warning("WeChat face getinfo answered without the expected fields")
        raise unavailable("wechat", "invalid_response") from None
