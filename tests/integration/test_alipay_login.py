"""POST /api/mp/v1/auth/alipay through the real client against the Alipay stand-in."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.platform.clock import FrozenClock
from standins.alipay import AlipayStandIn
from standins.wechat import WeChatStandIn

from ..conftest import make_app
from .test_login import error_code

LOGIN = "/api/mp/v1/auth/alipay"


@pytest.fixture(params=["embedded", "production"])
def client(request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock, wechat: WeChatStandIn,
           alipay_config: dict[str, str]) -> Any:
    return make_app(request.param, request, tmp_path, clock, wechat, **alipay_config).test_client()


def test_alipay_login_issues_our_token(client: Any, alipay: AlipayStandIn) -> None:
    response = client.post(LOGIN, json={"auth_code": alipay.issue_code()})
    assert response.status_code == 200
    assert set(response.json) == {"token", "expires_in", "bound", "binding_ended"} and response.json["bound"] is False
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
