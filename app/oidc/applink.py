"""On a phone, the log-in page opens the mini-program by a link instead of showing a QR (M-20).

A QR cannot be scanned by the phone that shows it, so the page (scenes/identity_provider.py) also
offers links that open the mini-program at its confirmation page with the request id, the same
id the QR carries (never the page's poll secret):

- WeChat, the plain-text URL Scheme (明文 URL Scheme): ``weixin://dl/business/?appid=<AppID>
  &path=<page>&query=<url-encoded "request=<id>">&env_version=release``. It needs no server call
  to WeChat, but the page path must be listed in the mini-program's admin console (开发设置 >
  明文 scheme 拉起此小程序) and it opens only from a phone browser outside WeChat (inside WeChat's
  own browser the page would need the open tag ``wx-open-launch-weapp``, which needs a verified
  official account: not built).
- Alipay, the ``alipays://platformapi/startapp?appId=<app id>&page=<page>&query=<url-encoded
  "request=<id>">`` scheme, wrapped as ``https://ds.alipay.com/?scheme=<url-encoded scheme>`` so
  that a browser which refuses unknown schemes still reaches it; only when ``CARD_ALIPAY_APP_ID``
  is set.

The mini-program page reads ``request`` from its launch query and goes on exactly as after a scan
(``GET /api/mp/v1/oidc/requests/{id}``, then the confirmation). The browser tab the citizen
left keeps polling, so coming back to it after confirming finishes the log-in; the link works
once and expires with the QR (``CARD_OIDC_LOGIN_SECONDS``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

DEFAULT_PAGE = "pages/oidc/confirm"


@dataclass(frozen=True)
class AppLinks:
    """``wechat``: the WeChat URL Scheme; ``alipay``: the Alipay link, or None when not configured."""

    wechat: str
    alipay: str | None


def launch_query(request_id: str) -> str:
    """The mini-program page's launch query: ``request=<id>``."""
    return urlencode({"request": request_id})


def app_links(config: dict[str, Any], request_id: str) -> AppLinks:
    """The links opening the mini-program's confirmation page for ``request_id``
    (``CARD_OIDC_MP_PAGE``, default ``pages/oidc/confirm``; ``CARD_WECHAT_APPID``; ``CARD_ALIPAY_APP_ID``)."""
    page = config.get("CARD_OIDC_MP_PAGE") or DEFAULT_PAGE
    query = launch_query(request_id)
    wechat = "weixin://dl/business/?" + urlencode(
        {"appid": config["CARD_WECHAT_APPID"], "path": page, "query": query, "env_version": "release"}, quote_via=quote)
    alipay = None
    if config.get("CARD_ALIPAY_APP_ID"):
        scheme = "alipays://platformapi/startapp?" + urlencode(
            {"appId": config["CARD_ALIPAY_APP_ID"], "page": page, "query": query}, quote_via=quote)
        alipay = "https://ds.alipay.com/?" + urlencode({"scheme": scheme}, quote_via=quote)
    return AppLinks(wechat, alipay)
