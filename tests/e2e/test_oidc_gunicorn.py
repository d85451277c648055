"""Issue 23 part 1 through gunicorn on PostgreSQL + Redis: the OpenID Connect provider driven by an
independent client (Authlib's requests OAuth2Session as the relying party, joserfc validating the
id_token against the published JWKS): discovery, PKCE, id_token, nonce, refresh rotation,
revocation, logout, wrong redirect URI, replayed code, expired QR, a commercial relying party
asking for id_number, consents and their withdrawal, and one-time use under 32 threads."""
from __future__ import annotations

import base64
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet

from standins.wechat import WeChatStandIn

from .. import backends
from ..conftest import APP_SECRET, APPID
from ..helpers import PERSON
from ..unit.test_oidc_sm2 import gmssl_verify
from .test_gunicorn import SAMPLE_ROSTER, Server

pytestmark = pytest.mark.e2e
BURST = 32
PASSWORD = "305172"
REDIRECT = "http://127.0.0.1:9/callback"
QR_SECONDS = 15
SECOND_PERSON = {"name": "李建国", "id_number": "441900195008281658", "phone": "13800138488"}
REQUEST_ID = re.compile(r'data-login-request="([^"]+)" data-poll="([^"]+)"')


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory, wechat: WeChatStandIn, worker_id: str) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("oidc")
    env = {**os.environ, "CARD_WECHAT_APPID": APPID, "CARD_WECHAT_SECRET": APP_SECRET, "CARD_WECHAT_API_BASE": wechat.base_url,
           "CARD_INSTANCE_PATH": str(tmp), "DATABASE_URL": backends.migrated_postgres(worker_id, "oidc"),
           "REDIS_URL": backends.redis_url(worker_id), "CARD_OIDC_LOGIN_SECONDS": str(QR_SECONDS),
           "CARD_REAL_PERSON_PROVIDERS": "wechat"}
    server = Server(env, tmp / "gunicorn.log", workers=2)
    server.start()
    assert server.cli("roster", "import", str(SAMPLE_ROSTER)).returncode == 0
    yield server
    server.stop()


@pytest.fixture(scope="module")
def citizen(idp: Server, wechat: WeChatStandIn) -> dict[str, str]:
    """The sample person, bound with a real-person check, with an e-card password."""
    return _bound(idp, wechat, "o-oidc-citizen", PERSON)


def _bound(idp: Server, wechat: WeChatStandIn, openid: str, person: dict[str, str]) -> dict[str, str]:
    token = requests.post(idp.base + "/api/mp/v1/auth/wechat", json={"code": wechat.issue_code(openid=openid)}, timeout=30).json()["token"]
    bearer = {"Authorization": f"Bearer {token}", "X-Openid": openid}
    face = wechat.issue_face_result(openid, person["name"], person["id_number"])
    bound = requests.post(idp.base + "/api/mp/v1/binding", json={**person, "real_person_token": face},
                          headers=_auth(bearer), timeout=30)
    assert bound.status_code == 200, bound.text
    assert requests.put(idp.base + "/api/mp/v1/card/password", json={"password": PASSWORD}, headers=_auth(bearer),
                        timeout=60).status_code == 204
    return bearer


def _auth(bearer: dict[str, str]) -> dict[str, str]:
    return {"Authorization": bearer["Authorization"]}


def _rp(idp: Server, kind: str, scopes: str, name: str = "东莞社保网上服务") -> dict[str, str]:
    made = idp.cli("rp", "create", "--name", name, "--kind", kind, "--scopes", scopes, "--redirect-uri", REDIRECT, "--json")
    assert made.returncode == 0, made.stderr
    return json.loads(made.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def meta(idp: Server) -> dict[str, Any]:
    answer = requests.get(idp.base + "/.well-known/openid-configuration", timeout=30)
    assert answer.status_code == 200
    return answer.json()  # type: ignore[no-any-return]


class Login:
    """One relying party's log-in: its OAuth2Session, PKCE verifier, nonce and the QR page."""

    def __init__(self, idp: Server, meta: dict[str, Any], rp: dict[str, str], scope: str, **extra: str) -> None:
        self.idp, self.meta = idp, meta
        self.session = OAuth2Session(rp["client_id"], rp["client_secret"], scope=scope, redirect_uri=REDIRECT,
                                     code_challenge_method="S256")
        self.verifier, self.nonce = generate_token(48), secrets.token_urlsafe(16)
        self.url, self.state = self.session.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=self.verifier, nonce=self.nonce, **extra)

    def open(self) -> tuple[str, str]:
        page = requests.get(self.url, timeout=30, allow_redirects=False)
        assert page.status_code == 200, page.text[:300]
        found = REQUEST_ID.search(page.text)
        assert found is not None
        return found.group(1), found.group(2)

    def confirm(self, bearer: dict[str, str], request_id: str, **body: str) -> requests.Response:
        return requests.post(f"{self.idp.base}/api/mp/v1/oidc/requests/{request_id}/confirmation",
                             json=body or {"password": PASSWORD}, headers=_auth(bearer), timeout=60)

    def poll(self, request_id: str, poll: str) -> requests.Response:
        return requests.get(f"{self.idp.base}/oidc/authorize/result", params={"request": request_id},
                            headers={"X-Poll-Secret": poll}, timeout=30)

    def redirected(self, bearer: dict[str, str], **body: str) -> str:
        request_id, poll = self.open()
        assert self.poll(request_id, poll).json() == {"status": "pending"}
        assert self.confirm(bearer, request_id, **body).status_code == 204
        answer = self.poll(request_id, poll).json()
        assert answer["status"] == "confirmed"
        return answer["redirect_to"]  # type: ignore[no-any-return]

    def tokens(self, bearer: dict[str, str], **body: str) -> dict[str, Any]:
        redirected = self.redirected(bearer, **body)
        return dict(self.session.fetch_token(self.meta["token_endpoint"], authorization_response=redirected,
                                             code_verifier=self.verifier))

    def id_token(self, token: dict[str, Any]) -> dict[str, Any]:
        keys = KeySet.import_key_set(requests.get(self.meta["jwks_uri"], timeout=30).json())
        decoded = jwt.decode(token["id_token"], keys, algorithms=["ES256"])
        registry = jwt.JWTClaimsRegistry(iss={"essential": True, "value": self.meta["issuer"]},
                                         aud={"essential": True, "value": self.session.client_id},
                                         nonce={"essential": True, "value": self.nonce},
                                         exp={"essential": True}, sub={"essential": True})
        registry.validate(decoded.claims)
        assert decoded.header["alg"] == "ES256"
        return dict(decoded.claims)


def _token_post(meta: dict[str, Any], rp: dict[str, str], **form: str) -> requests.Response:
    return requests.post(meta["token_endpoint"], data=form, auth=(rp["client_id"], rp["client_secret"]), timeout=30)


def test_discovery_names_the_endpoints_pkce_s256_and_es256(idp: Server, meta: dict[str, Any]) -> None:
    assert meta["issuer"] == idp.base
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["id_token_signing_alg_values_supported"] == ["ES256", "EdDSA", "SM2-SM3"]  # development keys; SM2: the gm extra
    assert meta["subject_types_supported"] == ["pairwise"]
    keys = requests.get(meta["jwks_uri"], timeout=30).json()["keys"]
    assert [key["kty"] for key in keys] == ["EC", "OKP"] and all("d" not in key for key in keys)
    sm2_keys = requests.get(idp.base + "/oidc/jwks-sm2.json", timeout=30).json()["keys"]
    assert [(key["kty"], key["crv"], key["alg"]) for key in sm2_keys] == [("EC", "SM2", "SM2-SM3")] and "d" not in sm2_keys[0]


def test_password_login_id_token_refresh_rotation_and_revocation(idp: Server, meta: dict[str, Any], citizen: dict[str, str]) -> None:
    rp = _rp(idp, "commercial", "openid,insured,age_band,concession", "东莞通商城")
    login = Login(idp, meta, rp, "openid insured age_band concession")
    request_id, _poll = login.open()
    shown = requests.get(f"{idp.base}/api/mp/v1/oidc/requests/{request_id}", headers=_auth(citizen), timeout=30).json()
    assert shown == {"relying_party": "东莞通商城", "kind": "commercial", "redirect_domain": "127.0.0.1",
                     "claims": ["insured", "age_band", "concession"], "confirmation": "password"}
    token = login.tokens(citizen)
    claims = login.id_token(token)
    assert claims["acr"] == "urn:dg-citizencard:acr:real_person"
    assert claims["insured"] is True and claims["age_band"] == "18-59" and claims["concession"] == "standard"
    assert "name" not in claims and "id_number" not in claims and PERSON["id_number"] not in json.dumps(claims)
    assert len(claims["sub"]) == 48 and claims["at_hash"]

    rotated = _token_post(meta, rp, grant_type="refresh_token", refresh_token=token["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["refresh_token"] != token["refresh_token"]
    again = _token_post(meta, rp, grant_type="refresh_token", refresh_token=rotated.json()["refresh_token"])
    assert again.status_code == 200
    newest = again.json()["refresh_token"]
    revoked = requests.post(meta["revocation_endpoint"], data={"token": newest, "token_type_hint": "refresh_token"},
                            auth=(rp["client_id"], rp["client_secret"]), timeout=30)
    assert revoked.status_code == 200
    after = _token_post(meta, rp, grant_type="refresh_token", refresh_token=newest)
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant"


def test_a_replayed_refresh_token_ends_the_whole_family(idp: Server, meta: dict[str, Any], citizen: dict[str, str]) -> None:
    rp = _rp(idp, "public_service", "openid,insured")
    token = Login(idp, meta, rp, "openid insured").tokens(citizen)
    rotated = _token_post(meta, rp, grant_type="refresh_token", refresh_token=token["refresh_token"]).json()
    replay = _token_post(meta, rp, grant_type="refresh_token", refresh_token=token["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert _token_post(meta, rp, grant_type="refresh_token", refresh_token=rotated["refresh_token"]).status_code == 400


def test_pairwise_sub_differs_between_relying_parties_and_stays_for_one(idp: Server, meta: dict[str, Any], citizen: dict[str, str]) -> None:
    first, second = _rp(idp, "commercial", "openid"), _rp(idp, "commercial", "openid")
    login_a = Login(idp, meta, first, "openid")
    sub_a = login_a.id_token(login_a.tokens(citizen))["sub"]
    login_a2 = Login(idp, meta, first, "openid")
    login_b = Login(idp, meta, second, "openid")
    assert login_a2.id_token(login_a2.tokens(citizen))["sub"] == sub_a
    assert login_b.id_token(login_b.tokens(citizen))["sub"] != sub_a


def test_government_rp_gets_name_and_id_number_only_after_a_real_person_check(
        idp: Server, meta: dict[str, Any], citizen: dict[str, str], wechat: WeChatStandIn) -> None:
    rp = _rp(idp, "government", "openid,name,id_number,insured", "东莞市人力资源和社会保障局")
    login = Login(idp, meta, rp, "openid name id_number")
    request_id, _poll = login.open()
    refused = login.confirm(citizen, request_id, password=PASSWORD)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "real_person_required"
    face = wechat.issue_face_result(citizen["X-Openid"], PERSON["name"], PERSON["id_number"])
    token = login.tokens(citizen, real_person_token=face)
    claims = login.id_token(token)
    assert claims["name"] == PERSON["name"] and claims["id_number"] == PERSON["id_number"]
    assert "insured" not in claims  # not asked for


def test_commercial_rp_asking_for_id_number_is_refused(idp: Server, meta: dict[str, Any]) -> None:
    made = idp.cli("rp", "create", "--name", "某商城", "--kind", "commercial", "--scopes", "openid,id_number",
                   "--redirect-uri", REDIRECT)
    assert made.returncode != 0 and "government" in made.stderr
    rp = _rp(idp, "commercial", "openid,insured")
    login = Login(idp, meta, rp, "openid id_number")
    answer = requests.get(login.url, timeout=30, allow_redirects=False)
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["error"] == ["invalid_scope"] and query["state"] == [login.state]


def test_wrong_redirect_uri_is_refused_without_redirecting(idp: Server, meta: dict[str, Any]) -> None:
    rp = _rp(idp, "commercial", "openid")
    login = Login(idp, meta, rp, "openid")
    url = login.url.replace("callback", "callback-evil")
    answer = requests.get(url, timeout=30, allow_redirects=False)
    assert answer.status_code == 400 and "Location" not in answer.headers
    assert answer.json()["error"]["code"] == "oidc_invalid_request"


def test_pkce_s256_and_nonce_are_required(idp: Server, meta: dict[str, Any], citizen: dict[str, str]) -> None:
    rp = _rp(idp, "commercial", "openid")
    plain = OAuth2Session(rp["client_id"], rp["client_secret"], scope="openid", redirect_uri=REDIRECT)
    for extra in ({"nonce": "n-1"}, {"nonce": "n-2", "code_challenge": "x" * 43, "code_challenge_method": "plain"}):
        url, _state = plain.create_authorization_url(meta["authorization_endpoint"], **extra)
        answer = requests.get(url, timeout=30, allow_redirects=False)
        assert answer.status_code == 302 and "error=invalid_request" in answer.headers["Location"], extra
    verifier = generate_token(48)
    url, _state = plain.create_authorization_url(meta["authorization_endpoint"], code_challenge=create_s256_code_challenge(verifier),
                                                 code_challenge_method="S256")
    answer = requests.get(url, timeout=30, allow_redirects=False)  # no nonce
    assert answer.status_code == 302 and "error=invalid_request" in answer.headers["Location"]
    login = Login(idp, meta, rp, "openid")
    code = parse_qs(urlsplit(login.redirected(citizen)).query)["code"][0]
    wrong = _token_post(meta, rp, grant_type="authorization_code", code=code, redirect_uri=REDIRECT, code_verifier=generate_token(48))
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


def test_a_replayed_code_is_refused_and_revokes_what_it_gave(idp: Server, meta: dict[str, Any], citizen: dict[str, str]) -> None:
    rp = _rp(idp, "commercial", "openid")
    login = Login(idp, meta, rp, "openid")
    code = parse_qs(urlsplit(login.redirected(citizen)).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": login.verifier}
    first = _token_post(meta, rp, **form)
    assert first.status_code == 200
    replay = _token_post(meta, rp, **form)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    refresh = _token_post(meta, rp, grant_type="refresh_token", refresh_token=first.json()["refresh_token"])
    assert refresh.status_code == 400


def test_an_expired_qr_cannot_be_viewed_or_confirmed(idp: Server, meta: dict[str, Any], citizen: dict[str, str]) -> None:
    login = Login(idp, meta, _rp(idp, "commercial", "openid"), "openid")
    request_id, poll = login.open()
    time.sleep(QR_SECONDS + 1)
    viewed = requests.get(f"{idp.base}/api/mp/v1/oidc/requests/{request_id}", headers=_auth(citizen), timeout=30)
    assert viewed.status_code == 404 and viewed.json()["error"]["code"] == "login_request_expired"
    assert login.confirm(citizen, request_id).status_code == 404
    assert login.poll(request_id, poll).status_code == 404


def test_consents_list_withdrawal_revokes_tokens_and_releases_show_in_the_access_log(
        idp: Server, meta: dict[str, Any], citizen: dict[str, str]) -> None:
    rp = _rp(idp, "public_service", "openid,age_band", "东莞图书馆")
    token = Login(idp, meta, rp, "openid age_band").tokens(citizen)
    listed = requests.get(f"{idp.base}/api/mp/v1/consents", headers=_auth(citizen), timeout=30).json()["items"]
    mine = next(item for item in listed if item["relying_party"] == "东莞图书馆")
    assert mine["claims"] == ["sub", "acr", "age_band"] and mine["withdrawn_at"] is None
    log = requests.get(f"{idp.base}/api/mp/v1/me/access-log", headers=_auth(citizen), timeout=30).json()
    assert any(item["department"] == "东莞图书馆" and item["action"] == "release" for item in log["items"]), log
    withdrawn = requests.delete(f"{idp.base}/api/mp/v1/consents/{mine['consent_id']}", headers=_auth(citizen), timeout=30)
    assert withdrawn.status_code == 200 and withdrawn.json() == {"tokens_revoked": 1}
    assert _token_post(meta, rp, grant_type="refresh_token", refresh_token=token["refresh_token"]).status_code == 400
    again = requests.delete(f"{idp.base}/api/mp/v1/consents/{mine['consent_id']}", headers=_auth(citizen), timeout=30)
    assert again.status_code == 404


def test_logout_with_id_token_hint_revokes_the_tokens(idp: Server, meta: dict[str, Any], citizen: dict[str, str]) -> None:
    rp = _rp(idp, "commercial", "openid")
    login = Login(idp, meta, rp, "openid")
    token = login.tokens(citizen)
    out = requests.get(meta["end_session_endpoint"], params={"id_token_hint": token["id_token"],
                                                             "post_logout_redirect_uri": REDIRECT, "state": "s1"},
                       timeout=30, allow_redirects=False)
    assert out.status_code == 302 and out.headers["Location"] == REDIRECT + "?state=s1"
    assert _token_post(meta, rp, grant_type="refresh_token", refresh_token=token["refresh_token"]).status_code == 400


def test_a_login_request_is_confirmed_once_and_a_code_redeemed_once_under_32_threads(
        idp: Server, meta: dict[str, Any], wechat: WeChatStandIn) -> None:
    # A citizen of its own: 32 right passwords at once are all counted first (app/card/passwords.py);
    # right ones and those refused unchecked over the limit are given back, so the card is not locked.
    citizen = _bound(idp, wechat, "o-oidc-burst", SECOND_PERSON)
    rp = _rp(idp, "commercial", "openid")
    login = Login(idp, meta, rp, "openid")
    request_id, poll = login.open()
    with ThreadPoolExecutor(BURST) as pool:
        answers = list(pool.map(lambda _n: login.confirm(citizen, request_id), range(BURST)))
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(204) == 1, statuses
    assert set(statuses) <= {204, 409, 404, 429, 503}, statuses  # 503 busy: the password hashing queue under load (issue 15)
    with ThreadPoolExecutor(BURST) as pool:
        polls = list(pool.map(lambda _n: login.poll(request_id, poll), range(BURST)))
    redirects = [answer.json()["redirect_to"] for answer in polls if answer.status_code == 200]
    assert len(redirects) == 1 and [answer.status_code for answer in polls].count(404) == BURST - 1
    code = parse_qs(urlsplit(redirects[0]).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": login.verifier}
    with ThreadPoolExecutor(BURST) as pool:
        tokens = list(pool.map(lambda _n: _token_post(meta, rp, **form), range(BURST)))
    assert [answer.status_code for answer in tokens].count(200) == 1, [answer.text for answer in tokens[:3]]
    assert {answer.json()["error"] for answer in tokens if answer.status_code != 200} == {"invalid_grant"}


def test_the_page_shows_the_rp_and_no_personal_data_is_logged(idp: Server, meta: dict[str, Any]) -> None:
    login = Login(idp, meta, _rp(idp, "commercial", "openid", "东莞通商城二"), "openid")
    page = requests.get(login.url, timeout=30).text
    assert "东莞通商城二" in page and "127.0.0.1" in page and "<svg" in page
    log = Path(idp.log_path).read_text()
    assert PERSON["id_number"] not in log and PASSWORD not in log


class _LogoutReceiver(BaseHTTPRequestHandler):
    received: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.received.append(parse_qs(body)["logout_token"][0])
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_withdrawal_sends_a_signed_back_channel_logout_token(idp: Server, meta: dict[str, Any], citizen: dict[str, str]) -> None:
    receiver = HTTPServer(("127.0.0.1", 0), _LogoutReceiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        logout_uri = f"http://127.0.0.1:{receiver.server_port}/backchannel-logout"
        made = idp.cli("rp", "create", "--name", "东莞人才网", "--kind", "public_service", "--scopes", "openid",
                       "--redirect-uri", REDIRECT, "--logout-uri", logout_uri, "--json")
        rp = json.loads(made.stdout)
        login = Login(idp, meta, rp, "openid")
        sub = login.id_token(login.tokens(citizen))["sub"]
        consent = next(item for item in requests.get(f"{idp.base}/api/mp/v1/consents", headers=_auth(citizen), timeout=30).json()["items"]
                       if item["relying_party"] == "东莞人才网")
        assert requests.delete(f"{idp.base}/api/mp/v1/consents/{consent['consent_id']}", headers=_auth(citizen),
                               timeout=30).status_code == 200
    finally:
        receiver.shutdown()
    assert len(_LogoutReceiver.received) == 1
    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=30).json())
    decoded = jwt.decode(_LogoutReceiver.received[0], keys, algorithms=["ES256"])
    assert decoded.header["typ"] == "logout+jwt"
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": meta["issuer"]}, aud={"essential": True, "value": rp["client_id"]},
                          sub={"essential": True, "value": sub}, jti={"essential": True}).validate(decoded.claims)
    assert decoded.claims["events"] == {"http://schemas.openid.net/event/backchannel-logout": {}}
    assert "nonce" not in decoded.claims


def _claims(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _signature = token.split(".")
    return tuple(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))) for part in (header, payload))  # type: ignore[return-value]


def test_an_sm2_rp_gets_sm2_id_tokens_that_gmssl_verifies_and_others_never_do(
        idp: Server, meta: dict[str, Any], citizen: dict[str, str]) -> None:
    """Issue 23's SM2 option: the id_token of an RP registered with --id-token-alg SM2-SM3 checks out
    with GmSSL directly against /oidc/jwks-sm2.json; tampered, it does not; an ES256 RP logging in
    just before and after still gets ES256; logout accepts the SM2 token as id_token_hint."""
    made = idp.cli("rp", "create", "--name", "东莞国密服务", "--kind", "public_service", "--scopes", "openid,insured",
                   "--redirect-uri", REDIRECT, "--id-token-alg", "SM2-SM3", "--json")
    assert made.returncode == 0, made.stderr
    sm2_rp, es256_rp = json.loads(made.stdout), _rp(idp, "public_service", "openid,insured")
    before = Login(idp, meta, es256_rp, "openid insured")
    assert before.id_token(before.tokens(citizen))["insured"] is True  # ES256, checked against the standard JWKS
    login = Login(idp, meta, sm2_rp, "openid insured")
    token = login.tokens(citizen)
    header, claims = _claims(token["id_token"])
    assert header == {"alg": "SM2-SM3", "kid": "dev-sm2", "typ": "JWT"}
    assert claims["iss"] == meta["issuer"] and claims["aud"] == sm2_rp["client_id"] and claims["nonce"] == login.nonce
    assert claims["insured"] is True and len(claims["sub"]) == 48 and "at_hash" not in claims  # no SM3 at_hash (optional)
    jwk = next(key for key in requests.get(idp.base + "/oidc/jwks-sm2.json", timeout=30).json()["keys"] if key["kid"] == header["kid"])
    assert gmssl_verify(token["id_token"], jwk)
    head, payload, signature = token["id_token"].split(".")
    other = base64.urlsafe_b64encode(json.dumps({**claims, "aud": es256_rp["client_id"]}).encode()).decode().rstrip("=")
    assert not gmssl_verify(f"{head}.{other}.{signature}", jwk)
    after = Login(idp, meta, es256_rp, "openid")
    assert _claims(after.tokens(citizen)["id_token"])[0]["alg"] == "ES256"
    out = requests.get(meta["end_session_endpoint"], params={"id_token_hint": token["id_token"],
                                                             "post_logout_redirect_uri": REDIRECT, "state": "s2"},
                       timeout=30, allow_redirects=False)
    assert out.status_code == 302 and out.headers["Location"] == REDIRECT + "?state=s2"
    assert _token_post(meta, sm2_rp, grant_type="refresh_token", refresh_token=token["refresh_token"]).status_code == 400
