"""AlipayLogin against the Alipay gateway stand-in, over real HTTP."""
from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from app.integrations.alipay import AlipayLogin, sign_content, split_top_level
from app.integrations.identity import PlatformIdentity
from app.platform.errors import AppError
from standins.alipay import AlipayStandIn

APP_ID = "2021000123456789"


def _new_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit RSA key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _private_pem(key: rsa.RSAPrivateKey, fmt=serialization.PrivateFormat.PKCS8) -> bytes:
    """``key`` as unencrypted PEM in ``fmt`` (PKCS#8 or PKCS#1 "TraditionalOpenSSL")."""
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


@pytest.fixture(scope="module")
def app_key() -> rsa.RSAPrivateKey:
    """The app's RSA key pair (the private half signs requests)."""
    return _new_key()


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    """A key that is not the app's."""
    return _new_key()


@pytest.fixture(scope="module")
def alipay(app_key):
    """One gateway stand-in for the module: codes are fresh per test, scripts are consumed."""
    public_pem = app_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with AlipayStandIn(APP_ID, public_pem) as server:
        yield server


@pytest.fixture
def login(alipay, app_key):
    """A client with the app's PKCS#8 private key, configured against the stand-in."""
    return AlipayLogin(APP_ID, _private_pem(app_key), alipay.public_key_pem, alipay.base_url)


def _error(call, private_pem: bytes | None = None) -> AppError:
    """Run ``call``, expect an AppError, and check it never carries the private key."""
    with pytest.raises(AppError) as info:
        call()
    err = info.value
    if private_pem:
        body = b"".join(private_pem.splitlines()[1:-1]).decode()
        assert body[:40] not in str(err) + repr(err.details) + err.message
    return err


def test_base_url_has_a_port_and_the_gateway_path(alipay):
    assert alipay.base_url == f"http://127.0.0.1:{alipay.port}/gateway.do"


def test_success_uses_open_id(alipay, login):
    code = alipay.issue_code(user_id="2088000000000001", open_id="074aOpenIdOfTheUser")
    assert login.oauth_token(code) == PlatformIdentity("alipay", "074aOpenIdOfTheUser", None)


def test_success_falls_back_to_user_id(alipay, login):
    code = alipay.issue_code(user_id="2088000000000002", open_id="")
    assert login.oauth_token(code) == PlatformIdentity("alipay", "2088000000000002", None)


def test_pkcs1_private_key_is_accepted(alipay, app_key):
    pem = _private_pem(app_key, serialization.PrivateFormat.TraditionalOpenSSL)
    assert pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    client = AlipayLogin(APP_ID, pem, alipay.public_key_pem, alipay.base_url)
    assert client.oauth_token(alipay.issue_code(open_id="0pkcs1")).openid == "0pkcs1"


def test_reused_code_is_login_code_invalid(alipay, login):
    code = alipay.issue_code()
    login.oauth_token(code)
    err = _error(lambda: login.oauth_token(code))
    assert (err.code, err.http_status) == ("login_code_invalid", 401)


def test_unknown_code_is_login_code_invalid(login):
    err = _error(lambda: login.oauth_token("0123456789abcdef0123456789abcdef"))
    assert (err.code, err.http_status) == ("login_code_invalid", 401)


def test_tampered_response_signature_is_unavailable(alipay, login):
    alipay.tamper_next_signature()
    err = _error(lambda: login.oauth_token(alipay.issue_code()))
    assert (err.code, err.http_status) == ("platform_unavailable", 503)
    assert err.details["reason"] == "response_signature_invalid"


def test_answer_signed_by_another_key_is_rejected(alipay, app_key, other_key):
    wrong_alipay_pem = other_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    client = AlipayLogin(APP_ID, _private_pem(app_key), wrong_alipay_pem, alipay.base_url)
    err = _error(lambda: client.oauth_token(alipay.issue_code()))
    assert err.details["reason"] == "response_signature_invalid"


def test_request_signature_is_checked_by_the_gateway(alipay, other_key, caplog):
    pem = _private_pem(other_key)
    client = AlipayLogin(APP_ID, pem, alipay.public_key_pem, alipay.base_url)
    with caplog.at_level(logging.WARNING, logger="app.integrations.alipay"):
        err = _error(lambda: client.oauth_token(alipay.issue_code()), private_pem=pem)
    assert (err.code, err.http_status) == ("platform_unavailable", 503)
    assert "isv.invalid-signature" in caplog.text


def test_wrong_app_id_is_unavailable(alipay, app_key):
    client = AlipayLogin("2021000999999999", _private_pem(app_key), alipay.public_key_pem,
                         alipay.base_url)
    err = _error(lambda: client.oauth_token(alipay.issue_code()))
    assert (err.code, err.http_status) == ("platform_unavailable", 503)


@pytest.mark.parametrize(("code", "sub_code", "expected"), [
    ("40004", "isv.code-invalid", ("login_code_invalid", 401)),
    ("40004", "isv.app-call-limited", ("platform_rate_limited", 429)),
    ("40004", "isv.user-risk-forbidden", ("platform_user_blocked", 403)),
    ("20000", "isp.unknow-error", ("platform_unavailable", 503)),
    ("20000", "", ("platform_unavailable", 503)),
    ("40006", "isv.insufficient-isv-permissions", ("platform_unavailable", 503)),
])
def test_scripted_error_responses(alipay, login, code, sub_code, expected):
    alipay.fail_next(code, sub_code)
    err = _error(lambda: login.oauth_token(alipay.issue_code()))
    assert (err.code, err.http_status) == expected
    if expected[1] == 429:
        assert err.headers == {"Retry-After": "60"}


def test_html_body_is_unavailable(alipay, login):
    alipay.serve_html_next()
    err = _error(lambda: login.oauth_token(alipay.issue_code()))
    assert (err.code, err.http_status) == ("platform_unavailable", 503)


def test_http_502_is_unavailable(alipay, login):
    alipay.http_error_next(502)
    err = _error(lambda: login.oauth_token(alipay.issue_code()))
    assert (err.code, err.http_status) == ("platform_unavailable", 503)


def test_request_params_and_beijing_timestamp(app_key, alipay):
    now = datetime(2024, 1, 31, 16, 30, 5, tzinfo=UTC)
    client = AlipayLogin(APP_ID, _private_pem(app_key), alipay.public_key_pem,
                         alipay.base_url, now=lambda: now)
    params = client.signed_params("abc")
    assert params["timestamp"] == "2024-02-01 00:30:05"
    assert (params["method"], params["grant_type"], params["code"]) == (
        "alipay.system.oauth.token", "authorization_code", "abc")
    app_key.public_key().verify(base64.b64decode(params["sign"]), sign_content(params),
                                padding.PKCS1v15(), hashes.SHA256())


def test_split_top_level_keeps_the_exact_inner_text():
    inner = '{ "user_id" : "2088", "nick":"张三",\n "n": [1, {"a": "}"}] }'
    text = f'{{ "alipay_system_oauth_token_response" :{inner} , "sign": "c2ln" }}'
    members = split_top_level(text)
    assert members["alipay_system_oauth_token_response"][1] == inner
    assert members["alipay_system_oauth_token_response"][0] == json.loads(inner)
    assert members["sign"] == ("c2ln", '"c2ln"')


@pytest.mark.parametrize("text", ["", "[]", '{"a":1', '{"a" 1}', '{"a":1 "b":2}', "<html>"])
def test_split_top_level_rejects_malformed_json(text):
    with pytest.raises(ValueError):
        split_top_level(text)
