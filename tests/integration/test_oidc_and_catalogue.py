"""Issue 23 on every backend (SQLite embedded, PostgreSQL + Redis, Redis Cluster) in process: a
password log-in from the authorization request to a verified id_token, a consent withdrawn, and a
department's service item linked to its terminal, found by scene and Chinese words."""
from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from app.oidc.parties import create_rp
from app.platform.clock import FrozenClock
from standins.wechat import WeChatStandIn

from ..conftest import BACKENDS, make_app
from ..helpers import ApiClient, dispose

REDIRECT = "https://rp.example.cn/callback"
PASSWORD = "305172"


def _rp(api: ApiClient, kind: str, scopes: list[str]) -> Any:
    with api.app.app_context():
        return create_rp(api.rt, "东莞公共服务网", kind, scopes, [REDIRECT])


def _authorize(api: ApiClient, client_id: str, scope: str) -> tuple[str, str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": scope,
                       "state": "st-1", "nonce": "nonce-1", "code_challenge": challenge, "code_challenge_method": "S256"})
    page = api.client.get("/oidc/authorize?" + query)
    assert page.status_code == 200, page.data[:300]
    found = re.search(r'data-login-request="([^"]+)" data-poll="([^"]+)"', page.get_data(as_text=True))
    assert found is not None
    return found.group(1), found.group(2), verifier


def test_password_login_to_a_verified_id_token_then_withdrawal(api: ApiClient) -> None:
    token = api.bound_citizen()
    bearer = api.bearer(token)
    assert api.client.put("/api/mp/v1/card/password", json={"password": PASSWORD}, headers=bearer).status_code == 204
    rp = _rp(api, "public_service", ["openid", "insured", "concession"])
    request_id, poll, verifier = _authorize(api, rp.client_id, "openid insured concession")
    shown = api.client.get(f"/api/mp/v1/oidc/requests/{request_id}", headers=bearer).json
    assert shown["claims"] == ["insured", "concession"] and shown["redirect_domain"] == "rp.example.cn"
    wrong = api.client.post(f"/api/mp/v1/oidc/requests/{request_id}/confirmation", json={"password": "111111"}, headers=bearer)
    assert wrong.status_code == 422 and wrong.json["error"]["code"] == "password_wrong"
    assert api.client.get("/oidc/authorize/result", query_string={"request": request_id},
                          headers={"X-Poll-Secret": poll}).json == {"status": "pending"}
    done = api.client.post(f"/api/mp/v1/oidc/requests/{request_id}/confirmation", json={"password": PASSWORD}, headers=bearer)
    assert done.status_code == 204, done.json
    wrong_poll = api.client.get("/oidc/authorize/result", query_string={"request": request_id}, headers={"X-Poll-Secret": "guess"})
    assert wrong_poll.status_code == 404
    result = api.client.get("/oidc/authorize/result", query_string={"request": request_id}, headers={"X-Poll-Secret": poll}).json
    query = parse_qs(urlsplit(result["redirect_to"]).query)
    assert query["state"] == ["st-1"]
    basic = base64.b64encode(f"{rp.client_id}:{rp.client_secret}".encode()).decode()
    answer = api.client.post("/oidc/token", headers={"Authorization": f"Basic {basic}"}, data={
        "grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert answer.status_code == 200, answer.data
    keys = KeySet.import_key_set(api.client.get("/oidc/jwks.json").json)
    claims = jwt.decode(answer.json["id_token"], keys, algorithms=["ES256"]).claims
    assert claims["aud"] == rp.client_id and claims["nonce"] == "nonce-1" and claims["insured"] is True
    assert claims["acr"] == "urn:dg-citizencard:acr:knowledge" and claims["concession"] == "standard"
    consent = api.client.get("/api/mp/v1/consents", headers=bearer).json["items"][0]
    assert consent["relying_party"] == "东莞公共服务网" and consent["claims"] == ["sub", "acr", "insured", "concession"]
    assert api.client.delete(f"/api/mp/v1/consents/{consent['consent_id']}", headers=bearer).json == {"tokens_revoked": 1}
    refresh = api.client.post("/oidc/token", headers={"Authorization": f"Basic {basic}"},
                              data={"grant_type": "refresh_token", "refresh_token": answer.json["refresh_token"]})
    assert refresh.status_code == 400 and refresh.json["error"] == "invalid_grant"


def test_an_item_linked_to_a_terminal_is_found_by_scene_and_chinese_words(api: ApiClient) -> None:
    dept = api.partner(scenes=("transit",), name="东莞地铁", roles=("catalogue",))
    item = {"department": "东莞市交通运输局", "title": "地铁刷市民卡进站", "scenes": ["transit"], "channels": ["terminal"],
            "conditions": "持已激活的市民卡_或电子市民卡", "steps": ["刷卡进站"], "time_limit_days": None, "fee_fen": 0,
            "locations": [{"name": "东莞火车站站", "address": "石龙镇", "terminal_id": "gate-1"}], "status": "open",
            "last_reviewed": "2026-11-30"}
    path = "/api/partner/v1/service-items/GD-METRO-01"
    written = api.signed_post(dept, json.dumps(item).encode(), path=path, method="PUT")
    assert written.status_code == 200 and written.json["version"] == 1, written.json
    found = api.client.get("/api/mp/v1/services", query_string={"q": "市民卡 进站", "scene": "transit"}).json["items"]
    assert [entry["code"] for entry in found] == ["GD-METRO-01"]
    assert found[0]["locations"][0]["terminal_id"] == "gate-1"
    assert api.client.get("/api/mp/v1/services", query_string={"scene": "trans"}).json["items"] == []
    assert api.client.get("/api/mp/v1/services", query_string={"q": "_"}).json["items"][0]["code"] == "GD-METRO-01"  # a literal _


@pytest.fixture(params=BACKENDS)
def limited(request: pytest.FixtureRequest, tmp_path: Any, clock: FrozenClock, wechat: WeChatStandIn) -> Iterator[ApiClient]:
    app = make_app(request.param, request, tmp_path, clock, wechat, CARD_OIDC_LOGINS_PER_ADDRESS=5)
    yield ApiClient(app, wechat, clock)
    dispose(app)


def test_log_in_requests_per_address_are_counted_first_under_32_threads(limited: ApiClient) -> None:
    rp = _rp(limited, "commercial", ["openid"])
    query = urlencode({"response_type": "code", "client_id": rp.client_id, "redirect_uri": REDIRECT, "scope": "openid",
                       "nonce": "n", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"})

    def open_one(_n: int) -> int:
        return limited.app.test_client().get("/oidc/authorize?" + query).status_code

    with ThreadPoolExecutor(32) as pool:
        statuses = list(pool.map(open_one, range(32)))
    assert statuses.count(200) == 5 and statuses.count(429) == 27, statuses
    refused = limited.client.get("/oidc/authorize?" + query)
    assert refused.json["error"]["code"] == "too_many_login_requests" and refused.headers["Retry-After"] == "600"
