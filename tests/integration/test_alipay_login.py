"""POST /api/mp/v1/auth/alipay through the real client against the Alipay stand-in."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.clock import FrozenClock
from standins.alipay import AlipayStandIn
from standins.wechat import WeChatStandIn

from ..conftest import make_app
from .test_login import error_code

APP_ID = "2021000000000001"
LOGIN = "/api/mp/v1/auth/alipay"


@pytest.fixture(scope="module")
def app_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def alipay(app_key: rsa.RSAPrivateKey) -> Iterator[AlipayStandIn]:
    public = app_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with AlipayStandIn(APP_ID, public) as server:
        yield server


@pytest.fixture(params=["embedded", "production"])
def client(request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock, wechat: WeChatStandIn,
           alipay: AlipayStandIn, app_key: rsa.RSAPrivateKey) -> Any:
    private = tmp_path / "app-private.pem"
    private.write_bytes(app_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    public = tmp_path / "alipay-public.pem"
    public.write_bytes(alipay.public_key_pem)
    app = make_app(request.param, request, tmp_path, clock, wechat, CARD_ALIPAY_APP_ID=APP_ID,
                   CARD_ALIPAY_PRIVATE_KEY_FILE=str(private), CARD_ALIPAY_PUBLIC_KEY_FILE=str(public),
                   CARD_ALIPAY_GATEWAY=alipay.base_url)
    return app.test_client()


def test_alipay_login_issues_our_token(client: Any, alipay: AlipayStandIn) -> None:
    response = client.post(LOGIN, json={"auth_code": alipay.issue_code()})
    assert response.status_code == 200
    assert set(response.json) == {"token", "expires_in", "bound"} and response.json["bound"] is False
    code = client.get("/api/mp/v1/card/code", headers={"Authorization": f"Bearer {response.json['token']}"})
    assert error_code(code) == "not_bound"  # the token works


def test_a_reused_auth_code_is_401(client: Any, alipay: AlipayStandIn) -> None:
    auth_code = alipay.issue_code()
    assert client.post(LOGIN, json={"auth_code": auth_code}).status_code == 200
    again = client.post(LOGIN, json={"auth_code": auth_code})
    assert (again.status_code, error_code(again)) == (401, "login_code_invalid")


def test_a_response_with_a_bad_signature_is_not_trusted(client: Any, alipay: AlipayStandIn) -> None:
    alipay.tamper_next_signature()
    response = client.post(LOGIN, json={"auth_code": alipay.issue_code()})
    assert (response.status_code, error_code(response)) == (503, "platform_unavailable")
