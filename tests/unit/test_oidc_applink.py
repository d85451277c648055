"""The links that open the mini-program on a phone (issue 23, item 5): they carry the request id, nothing else."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from app.oidc.applink import app_links

CONFIG = {"CARD_WECHAT_APPID": "wx0123456789abcdef", "CARD_ALIPAY_APP_ID": "2021000000000001"}


def test_the_wechat_scheme_opens_the_confirmation_page_with_the_request_id() -> None:
    link = urlsplit(app_links(CONFIG, "AbC-123_x").wechat)
    assert (link.scheme, link.netloc, link.path) == ("weixin", "dl", "/business/")
    query = parse_qs(link.query)
    assert query == {"appid": ["wx0123456789abcdef"], "path": ["pages/oidc/confirm"], "query": ["request=AbC-123_x"],
                     "env_version": ["release"]}
    assert "request%3DAbC-123_x" in link.query  # the launch query is encoded inside the scheme's own


def test_the_alipay_link_wraps_the_startapp_scheme_and_is_absent_without_an_app_id() -> None:
    link = urlsplit(app_links({**CONFIG, "CARD_OIDC_MP_PAGE": "pages/login/index"}, "r1r1r1r1").alipay or "")
    assert link.scheme == "https" and link.netloc == "ds.alipay.com"
    scheme = urlsplit(parse_qs(link.query)["scheme"][0])
    assert (scheme.scheme, scheme.netloc, scheme.path) == ("alipays", "platformapi", "/startapp")
    assert parse_qs(scheme.query) == {"appId": ["2021000000000001"], "page": ["pages/login/index"], "query": ["request=r1r1r1r1"]}
    assert app_links({"CARD_WECHAT_APPID": "wx1"}, "r1r1r1r1").alipay is None
