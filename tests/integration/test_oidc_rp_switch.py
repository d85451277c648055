"""Issue 23 on every backend: ``citizencard rp disable/enable`` is one conditional UPDATE (of 32
simultaneous disables exactly one changes the row), and a disabled relying party's access token
is refused by the UserInfo endpoint, its log-in page by the authorization endpoint."""
from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

import pytest

from app.oidc.parties import set_disabled
from app.platform.clock import FrozenClock
from standins.wechat import WeChatStandIn

from ..conftest import BACKENDS, make_app
from ..helpers import ApiClient, dispose
from .test_oidc_and_catalogue import REDIRECT, _rp

BURST = 32


@pytest.fixture(params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path: Any, clock: FrozenClock, wechat: WeChatStandIn) -> Iterator[ApiClient]:
    app = make_app(request.param, request, tmp_path, clock, wechat)
    yield ApiClient(app, wechat, clock)
    dispose(app)


def _switch(api: ApiClient, client_id: str, disabled: bool) -> list[bool]:
    def one(_n: int) -> bool:
        with api.app.app_context():
            return set_disabled(api.rt, client_id, disabled)

    with ThreadPoolExecutor(BURST) as pool:
        return list(pool.map(one, range(BURST)))


def test_32_disables_change_the_row_once_and_the_rp_is_refused_until_enabled(api: ApiClient) -> None:
    rp = _rp(api, "commercial", ["openid"])
    query = urlencode({"response_type": "code", "client_id": rp.client_id, "redirect_uri": REDIRECT, "scope": "openid",
                       "nonce": "n", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"})
    assert _switch(api, rp.client_id, True).count(True) == 1
    refused = api.client.get("/oidc/authorize?" + query)
    assert refused.status_code == 400 and refused.json["error"]["code"] == "oidc_invalid_request"
    assert _switch(api, rp.client_id, False).count(True) == 1
    assert api.client.get("/oidc/authorize?" + query).status_code == 200
    with api.app.app_context():
        assert set_disabled(api.rt, "rp_unknown", True) is False


def test_userinfo_without_a_valid_bearer_token_is_an_rfc6750_refusal(api: ApiClient) -> None:
    answer = api.client.get("/oidc/userinfo", headers={"Authorization": "Bearer " + "x" * 43})
    assert answer.status_code == 401 and answer.json["error"] == "invalid_token"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.client.get("/oidc/userinfo", headers={"Authorization": "Bearer " + "x" * 500}).status_code == 401
