"""WeChatLogin against the WeChat code2Session stand-in, over real HTTP."""
from __future__ import annotations

import logging
import socket

import pytest

from app.integrations.identity import PlatformIdentity
from app.integrations.wechat import WeChatLogin
from app.platform.errors import AppError
from standins.wechat import WeChatStandIn

APPID = "wx0123456789abcdef"
SECRET = "s3cr3t-0f-th3-m1n1-pr0gram-d0-n0t-l3ak"


@pytest.fixture(scope="module")
def wechat():
    """One stand-in for the module: codes are fresh per test, scripts are consumed."""
    with WeChatStandIn(APPID, SECRET) as server:
        yield server


@pytest.fixture
def login(wechat):
    """A client configured against the stand-in."""
    return WeChatLogin(APPID, SECRET, wechat.base_url, timeout=5.0)


def _error(call) -> AppError:
    """Run ``call``, expect an AppError, and check it never carries the secret."""
    with pytest.raises(AppError) as info:
        call()
    err = info.value
    for text in (str(err), err.message, repr(err.details), repr(err.headers), repr(err.envelope())):
        assert SECRET not in text
    return err


def test_success_with_unionid(wechat, login):
    code = wechat.issue_code(openid="oAbc123", unionid="uXyz789")
    assert login.code_to_session(code) == PlatformIdentity("wechat", "oAbc123", "uXyz789")


def test_success_without_unionid_and_session_key_dropped(wechat, login):
    identity = login.code_to_session(wechat.issue_code())
    assert identity.platform == "wechat"
    assert identity.openid.startswith("o") and len(identity.openid) == 28
    assert identity.unionid is None
    assert "session_key" not in repr(identity)


def test_unknown_code_is_40029(login):
    err = _error(lambda: login.code_to_session("never-issued"))
    assert (err.code, err.http_status) == ("login_code_invalid", 401)


def test_code_used_twice_is_40163(wechat, login):
    code = wechat.issue_code()
    login.code_to_session(code)
    err = _error(lambda: login.code_to_session(code))
    assert (err.code, err.http_status, err.details.get("errcode")) == ("login_code_invalid", 401, 40163)


def test_expired_code_is_invalid():
    clock = [1000.0]
    with WeChatStandIn(APPID, SECRET, clock=lambda: clock[0]) as server:
        code = server.issue_code()
        clock[0] += 301
        err = _error(lambda: WeChatLogin(APPID, SECRET, server.base_url).code_to_session(code))
    assert (err.code, err.http_status) == ("login_code_invalid", 401)


def test_rate_limited_45011(wechat, login):
    wechat.fail_next(45011)
    err = _error(lambda: login.code_to_session(wechat.issue_code()))
    assert (err.code, err.http_status) == ("platform_rate_limited", 429)
    assert err.headers == {"Retry-After": "60"}


def test_busy_minus_one_is_unavailable(wechat, login):
    wechat.fail_next(-1)
    err = _error(lambda: login.code_to_session(wechat.issue_code()))
    assert (err.code, err.http_status) == ("platform_unavailable", 503)


def test_risky_user_40226(wechat, login):
    wechat.fail_next(40226)
    err = _error(lambda: login.code_to_session(wechat.issue_code()))
    assert (err.code, err.http_status) == ("platform_user_blocked", 403)


def test_unknown_errcode_is_unavailable(wechat, login):
    wechat.fail_next(48001)
    err = _error(lambda: login.code_to_session(wechat.issue_code()))
    assert (err.code, err.http_status) == ("platform_unavailable", 503)


def test_html_body_is_unavailable(wechat, login):
    wechat.serve_html_next()
    err = _error(lambda: login.code_to_session(wechat.issue_code()))
    assert (err.code, err.http_status) == ("platform_unavailable", 503)


def test_http_502_is_unavailable(wechat, login):
    wechat.http_error_next(502)
    err = _error(lambda: login.code_to_session(wechat.issue_code()))
    assert (err.code, err.http_status) == ("platform_unavailable", 503)


def test_wrong_secret_is_unavailable_without_leaking_it(wechat):
    wrong = WeChatLogin(APPID, SECRET + "-wrong", wechat.base_url)
    err = _error(lambda: wrong.code_to_session(wechat.issue_code()))
    assert (err.code, err.http_status) == ("platform_unavailable", 503)
    assert SECRET + "-wrong" not in repr(err.details) + err.message


def test_wrong_appid_is_unavailable(wechat):
    err = _error(lambda: WeChatLogin("wx-other", SECRET, wechat.base_url)
                 .code_to_session(wechat.issue_code()))
    assert (err.code, err.http_status) == ("platform_unavailable", 503)


def test_connection_refused_is_unavailable_and_logs_no_secret(caplog):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = WeChatLogin(APPID, SECRET, f"http://127.0.0.1:{port}/", timeout=1.0)
    with caplog.at_level(logging.WARNING):
        err = _error(lambda: client.code_to_session("the-js-code"))
    assert (err.code, err.http_status) == ("platform_unavailable", 503)
    assert err.__cause__ is None and err.__suppress_context__
    assert SECRET not in caplog.text and "the-js-code" not in caplog.text


def test_errcode_logged_without_code_or_secret(wechat, login, caplog):
    wechat.fail_next(-1)
    code = wechat.issue_code()
    with caplog.at_level(logging.WARNING, logger="app.integrations.wechat"):
        _error(lambda: login.code_to_session(code))
    assert "-1" in caplog.text
    assert SECRET not in caplog.text and code not in caplog.text
