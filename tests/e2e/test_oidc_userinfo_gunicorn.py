"""Issue 23, second pass, through gunicorn on PostgreSQL + Redis, with Authlib's requests client as
the relying party: EdDSA id_tokens for a relying party registered for them, the UserInfo endpoint
(same claims and disclosure rules as the id_token), ``citizencard rp disable/enable``, and the
phone's link that opens the mini-program with the request id."""
from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from standins.wechat import WeChatStandIn

from .. import backends
from ..conftest import APP_SECRET, APPID
from ..helpers import PERSON
from .test_gunicorn import SAMPLE_ROSTER, Server
from .test_oidc_gunicorn import REDIRECT, Login, _auth, _bound, _token_post

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:EdDSA is deprecated")]
ALIPAY_APP_ID = "2021000000000001"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory, wechat: WeChatStandIn, worker_id: str) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("oidc-userinfo")
    env = {**os.environ, "CARD_WECHAT_APPID": APPID, "CARD_WECHAT_SECRET": APP_SECRET, "CARD_WECHAT_API_BASE": wechat.base_url,
           "CARD_INSTANCE_PATH": str(tmp), "DATABASE_URL": backends.migrated_postgres(worker_id, "oidc_userinfo"),
           "REDIS_URL": backends.redis_url(worker_id), "CARD_REAL_PERSON_PROVIDERS": "wechat",
           "CARD_ALIPAY_APP_ID": ALIPAY_APP_ID}
    server = Server(env, tmp / "gunicorn.log", workers=2)
    server.start()
    assert server.cli("roster", "import", str(SAMPLE_ROSTER)).returncode == 0
    yield server
    server.stop()


@pytest.fixture(scope="module")
def citizen(idp: Server, wechat: WeChatStandIn) -> dict[str, str]:
    return _bound(idp, wechat, "o-oidc-userinfo", PERSON)


@pytest.fixture(scope="module")
def meta(idp: Server) -> dict[str, Any]:
    return requests.get(idp.base + "/.well-known/openid-configuration", timeout=30).json()  # type: ignore[no-any-return]


def _rp(idp: Server, kind: str, scopes: str, name: str, *extra: str) -> dict[str, str]:
    made = idp.cli("rp", "create", "--name", name, "--kind", kind, "--scopes", scopes, "--redirect-uri", REDIRECT, "--json", *extra)
    assert made.returncode == 0, made.stderr
    return json.loads(made.stdout)  # type: ignore[no-any-return]


def _verified(meta: dict[str, Any], login: Login, token: dict[str, Any], alg: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=30).json())
    decoded = jwt.decode(token["id_token"], keys, algorithms=[alg])
    assert decoded.header["alg"] == alg
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": meta["issuer"]}, aud={"essential": True, "value": login.session.client_id},
                          nonce={"essential": True, "value": login.nonce}, exp={"essential": True}).validate(decoded.claims)
    return dict(decoded.claims)


def _userinfo(meta: dict[str, Any], access_token: str) -> requests.Response:
    return requests.get(meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {access_token}"}, timeout=30)


def test_discovery_offers_es256_and_eddsa_and_the_jwks_publishes_both(meta: dict[str, Any]) -> None:
    assert meta["id_token_signing_alg_values_supported"] == ["ES256", "EdDSA", "SM2-SM3"]  # SM2-SM3: the gm extra
    assert meta["userinfo_endpoint"] == meta["issuer"] + "/oidc/userinfo"
    keys = requests.get(meta["jwks_uri"], timeout=30).json()["keys"]
    assert sorted((key["kty"], key["alg"]) for key in keys) == [("EC", "ES256"), ("OKP", "EdDSA")]  # no SM2: its own set
    assert all("d" not in key for key in keys)


def test_an_eddsa_relying_party_gets_an_ed25519_id_token_with_a_sha512_at_hash(
        idp: Server, meta: dict[str, Any], citizen: dict[str, str]) -> None:
    rp = _rp(idp, "commercial", "openid,age_band", "东莞通EdDSA", "--id-token-alg", "EdDSA")
    login = Login(idp, meta, rp, "openid age_band")
    token = login.tokens(citizen)
    claims = _verified(meta, login, token, "EdDSA")
    digest = hashlib.sha512(token["access_token"].encode()).digest()[:32]
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert claims["age_band"] == "18-59"
    with pytest.raises(Exception, match="alg"):  # not an ES256 token: a client pinned to ES256 refuses it
        jwt.decode(token["id_token"], KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=30).json()), algorithms=["ES256"])
    listed = idp.cli("rp", "list").stdout
    assert f"{rp['client_id']}\tactive\tcommercial\tEdDSA" in listed
    assert _userinfo(meta, token["access_token"]).json() == {"sub": claims["sub"], "age_band": "18-59"}


def test_userinfo_returns_the_id_tokens_claims_to_the_rp_client(idp: Server, meta: dict[str, Any], citizen: dict[str, str]) -> None:
    rp = _rp(idp, "commercial", "openid,insured,concession", "东莞通商城UI")
    login = Login(idp, meta, rp, "openid insured concession")
    token = login.tokens(citizen)
    claims = _verified(meta, login, token, "ES256")
    answer = login.session.get(meta["userinfo_endpoint"])  # Authlib's client sends its bearer token
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
    assert answer.json() == {"sub": claims["sub"], "insured": True, "concession": "standard"}
    posted = requests.post(meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=30)
    assert posted.json() == answer.json()


def test_userinfo_gives_a_government_rp_name_and_id_number_and_a_narrower_scope_less(
        idp: Server, meta: dict[str, Any], citizen: dict[str, str], wechat: WeChatStandIn) -> None:
    rp = _rp(idp, "government", "openid,name,id_number,insured", "东莞市人社局UI")
    face = wechat.issue_face_result(citizen["X-Openid"], PERSON["name"], PERSON["id_number"])
    full = Login(idp, meta, rp, "openid name id_number").tokens(citizen, real_person_token=face)
    answer = _userinfo(meta, full["access_token"]).json()
    assert answer["name"] == PERSON["name"] and answer["id_number"] == PERSON["id_number"] and "insured" not in answer
    face = wechat.issue_face_result(citizen["X-Openid"], PERSON["name"], PERSON["id_number"])
    narrow = Login(idp, meta, rp, "openid insured").tokens(citizen, real_person_token=face)
    assert set(_userinfo(meta, narrow["access_token"]).json()) == {"sub", "insured"}


def test_userinfo_refuses_revoked_withdrawn_and_unknown_tokens(idp: Server, meta: dict[str, Any], citizen: dict[str, str]) -> None:
    rp = _rp(idp, "public_service", "openid,age_band", "东莞图书馆UI")
    first = Login(idp, meta, rp, "openid age_band").tokens(citizen)
    second = Login(idp, meta, rp, "openid age_band").tokens(citizen)
    assert _userinfo(meta, first["access_token"]).status_code == 200
    assert requests.post(meta["revocation_endpoint"], data={"token": first["access_token"]},
                         auth=(rp["client_id"], rp["client_secret"]), timeout=30).status_code == 200
    revoked = _userinfo(meta, first["access_token"])
    assert revoked.status_code == 401 and revoked.json()["error"] == "invalid_token"
    assert "Bearer" in revoked.headers.get("WWW-Authenticate", "")
    consents = requests.get(f"{idp.base}/api/mp/v1/consents", headers=_auth(citizen), timeout=30).json()["items"]
    latest = next(item for item in consents if item["relying_party"] == "东莞图书馆UI" and item["withdrawn_at"] is None)
    assert requests.delete(f"{idp.base}/api/mp/v1/consents/{latest['consent_id']}", headers=_auth(citizen), timeout=30).status_code == 200
    assert _userinfo(meta, second["access_token"]).status_code == 401
    assert _userinfo(meta, "not-a-token").status_code == 401
    assert requests.get(meta["userinfo_endpoint"], timeout=30).status_code == 401


def test_a_disabled_rp_is_refused_everywhere_until_enabled(idp: Server, meta: dict[str, Any], citizen: dict[str, str]) -> None:
    rp = _rp(idp, "commercial", "openid", "东莞停用测试")
    token = Login(idp, meta, rp, "openid").tokens(citizen)
    assert idp.cli("rp", "disable", rp["client_id"]).returncode == 0
    again = idp.cli("rp", "disable", rp["client_id"])
    assert again.returncode != 0 and "already disabled" in again.stderr
    assert _userinfo(meta, token["access_token"]).status_code == 401
    assert _token_post(meta, rp, grant_type="refresh_token", refresh_token=token["refresh_token"]).status_code in (400, 401)
    page = requests.get(Login(idp, meta, rp, "openid").url, timeout=30, allow_redirects=False)
    assert page.status_code == 400 and page.json()["error"]["code"] == "oidc_invalid_request"
    assert "\tdisabled\t" in next(line for line in idp.cli("rp", "list").stdout.splitlines() if rp["client_id"] in line)
    assert idp.cli("rp", "enable", rp["client_id"]).returncode == 0
    assert _userinfo(meta, Login(idp, meta, rp, "openid").tokens(citizen)["access_token"]).status_code == 200
    assert idp.cli("rp", "enable", "rp_unknown").returncode != 0


def test_on_a_phone_the_page_links_to_the_mini_program_with_the_request_id(
        idp: Server, meta: dict[str, Any], citizen: dict[str, str]) -> None:
    rp = _rp(idp, "commercial", "openid", "东莞手机登录")
    login = Login(idp, meta, rp, "openid")
    desktop_id, _desktop_poll = login.open()
    page = requests.get(login.url, headers={"User-Agent": IPHONE}, timeout=30).text
    phone_poll = page.split('data-poll="')[1].split('"')[0]
    wechat_link = page.split('id="open-wechat" href="')[1].split('"')[0].replace("&amp;", "&")
    alipay_link = page.split('id="open-alipay" href="')[1].split('"')[0].replace("&amp;", "&")
    phone_id = parse_qs(parse_qs(urlsplit(wechat_link).query)["query"][0])["request"][0]
    alipay_scheme = urlsplit(parse_qs(urlsplit(alipay_link).query)["scheme"][0])
    assert parse_qs(alipay_scheme.query)["appId"] == [ALIPAY_APP_ID]
    assert parse_qs(parse_qs(alipay_scheme.query)["query"][0])["request"] == [phone_id]
    assert phone_id in page.split('data-login-request="')[1].split('"')[0] and phone_id != desktop_id
    assert phone_poll not in wechat_link and phone_poll not in alipay_link  # only the page itself holds the poll secret
    shown = requests.get(f"{idp.base}/api/mp/v1/oidc/requests/{phone_id}", headers=_auth(citizen), timeout=30)
    assert shown.status_code == 200 and shown.json()["relying_party"] == "东莞手机登录"
    assert login.confirm(citizen, phone_id).status_code == 204
    done = login.poll(phone_id, phone_poll).json()
    assert done["status"] == "confirmed" and done["redirect_to"].startswith(REDIRECT + "?code=")
    assert login.confirm(citizen, phone_id).status_code in (404, 409)  # the link works once
