"""Issue 20 item 2: the sandbox (CARD_SANDBOX=1) gives a test partner, a login code and a valid
e-card code over plain HTTP, with no WeChat; production refuses to start with it; without it the
endpoints do not exist. (Through gunicorn with curl alone: tests/e2e/test_sandbox_clients.py.)"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from app import sandbox
from app.config import ConfigError, load_config
from app.platform.clock import FrozenClock
from app.runtime import EXTENSION_KEY
from standins.wechat import WeChatStandIn

from ..conftest import BACKENDS, make_app
from ..helpers import ApiClient, dispose


@pytest.fixture(params=BACKENDS)
def sandbox_api(request: pytest.FixtureRequest, tmp_path: Any, clock: FrozenClock, wechat: WeChatStandIn) -> Iterator[ApiClient]:
    app = make_app(request.param, request, tmp_path, clock, wechat, CARD_SANDBOX=True)
    with app.app_context():
        sandbox.seed(app.extensions[EXTENSION_KEY])
    yield ApiClient(app, wechat, clock)
    dispose(app)


@pytest.fixture(params=BACKENDS)
def unseeded_api(request: pytest.FixtureRequest, tmp_path: Any, clock: FrozenClock, wechat: WeChatStandIn) -> Iterator[ApiClient]:
    app = make_app(request.param, request, tmp_path, clock, wechat, CARD_SANDBOX=True)
    yield ApiClient(app, wechat, clock)
    dispose(app)


def test_without_seed_the_sandbox_says_so_and_counts_no_attempt(unseeded_api: ApiClient) -> None:
    """A server started without `citizencard sandbox seed`: a clear 409, not identity_mismatch and a lock."""
    client = unseeded_api.client
    for _ in range(6):  # more than the binding attempts before a lock
        for path in ("/api/sandbox/v1/e-card-codes", "/api/sandbox/v1/login-codes"):
            answer = client.post(path, json={"resident": 1})
            assert (answer.status_code, answer.json["error"]["code"]) == (409, "sandbox_not_seeded"), answer.json
            assert "citizencard sandbox seed" in answer.json["error"]["message"]
    with unseeded_api.app.app_context():
        sandbox.seed(unseeded_api.app.extensions[EXTENSION_KEY])
    assert client.post("/api/sandbox/v1/e-card-codes", json={"resident": 1}).status_code == 200  # no attempt was used up


def test_production_refuses_the_sandbox() -> None:
    with pytest.raises(ConfigError, match="CARD_SANDBOX=1 is refused with CARD_ENV=production"):
        load_config({"CARD_ENV": "production", "CARD_SANDBOX": "1"})
    assert load_config({"CARD_SANDBOX": "1"})["CARD_SANDBOX"] is True
    assert load_config({})["CARD_SANDBOX"] is False


def test_without_the_sandbox_there_are_no_sandbox_endpoints(api: ApiClient) -> None:
    assert api.client.post("/api/sandbox/v1/e-card-codes", json={"resident": 1}).status_code == 404


def test_a_partner_gets_from_zero_to_an_accepted_verification(sandbox_api: ApiClient) -> None:
    client = sandbox_api.client
    created = client.post("/api/sandbox/v1/partners", json={"scenes": ["transit"]})
    assert created.status_code == 201, created.json
    partner = created.json
    assert partner["terminals"][0] == "sandbox-gate-1"

    code = client.post("/api/sandbox/v1/e-card-codes", json={"resident": 1})
    assert code.status_code == 200, code.json
    answer = sandbox_api.verify(partner, code.json["code"], terminal_id="sandbox-gate-1").json
    assert answer["accepted"] and answer["subject"]["concession"] == "standard", answer

    again = client.post("/api/sandbox/v1/e-card-codes", json={"resident": 1}).json["code"]  # bound already: a new code
    assert again != code.json["code"]
    assert sandbox_api.verify(partner, again, terminal_id="sandbox-gate-2").json["accepted"]


def test_a_login_code_logs_a_test_resident_in_once(sandbox_api: ApiClient) -> None:
    client = sandbox_api.client
    residents = client.get("/api/sandbox/v1/residents").json
    assert residents[1]["resident"] == 2 and residents[1]["id_number"] == "441900195008281658"
    code = client.post("/api/sandbox/v1/login-codes", json={"resident": 2}).json["code"]
    login = client.post("/api/mp/v1/auth/wechat", json={"code": code})
    assert login.status_code == 200 and login.json["bound"] is False
    person = {key: residents[1][key] for key in ("name", "id_number", "phone")}
    assert sandbox_api.bind(login.json["token"], person).status_code == 200

    reused = client.post("/api/mp/v1/auth/wechat", json={"code": code})
    forged = client.post("/api/mp/v1/auth/wechat", json={"code": code[:-2] + ("AA" if code[-2:] != "AA" else "BB")})
    for refused in (reused, forged):
        assert (refused.status_code, refused.json["error"]["code"]) == (401, "login_code_invalid")
    unknown = client.post("/api/sandbox/v1/login-codes", data=json.dumps({"resident": 99}), content_type="application/json")
    assert (unknown.status_code, unknown.json["error"]["code"]) == (404, "resident_unknown")


def test_the_sandbox_face_check_binds_at_real_person_without_wechat(sandbox_api: ApiClient) -> None:
    """The sandbox's WeChat face check (not CARD_WECHAT_API_BASE): a test token binds resident 3 at
    real_person once; forged, failed, or another resident's tokens are refused as WeChat's would be."""
    client = sandbox_api.client
    person = {key: client.get("/api/sandbox/v1/residents").json[2][key] for key in ("name", "id_number", "phone")}
    token = client.post("/api/mp/v1/auth/wechat",
                        json={"code": client.post("/api/sandbox/v1/login-codes", json={"resident": 3}).json["code"]}).json["token"]

    def bind_with(verify_result: str) -> Any:
        return sandbox_api.bind(token, {**person, "real_person_token": verify_result})

    failed = client.post("/api/sandbox/v1/real-person-results", json={"resident": 3, "passed": False}).json["verify_result"]
    other = client.post("/api/sandbox/v1/real-person-results", json={"resident": 4}).json["verify_result"]
    good = client.post("/api/sandbox/v1/real-person-results", json={"resident": 3}).json["verify_result"]
    assert bind_with(failed).json["error"]["code"] == "real_person_failed"
    assert bind_with(other).json["error"]["code"] == "real_person_invalid"
    assert bind_with(good[:-2] + ("AA" if good[-2:] != "AA" else "BB")).json["error"]["code"] == "real_person_invalid"
    bound = bind_with(good)
    assert bound.status_code == 200 and bound.json["assurance"] == "real_person", bound.json
    sandbox_api.clock.advance(301)
    late = client.post("/api/sandbox/v1/real-person-results", json={"resident": 3}).json["verify_result"]
    sandbox_api.clock.advance(301)
    reset = client.post("/api/mp/v1/card/password/reset", headers=sandbox_api.bearer(token),
                        json={"password": "739146", "real_person_token": late})
    assert (reset.status_code, reset.json["error"]["code"]) == (422, "real_person_invalid")  # expired


def test_the_sms_a_test_resident_received_are_read_from_the_sandbox(sandbox_api: ApiClient) -> None:
    """The sandbox sends no SMS: a bank's consent code sent to resident 1's contact phone is read
    at GET /api/sandbox/v1/sms, newest first, and completes the consent; others' inboxes stay empty."""
    client = sandbox_api.client
    sandbox_api.partner((), name="Sandbox Bank", roles=("bank",))
    code = client.post("/api/sandbox/v1/login-codes", json={"resident": 1}).json["code"]
    token = client.post("/api/mp/v1/auth/wechat", json={"code": code}).json["token"]
    person = {key: client.get("/api/sandbox/v1/residents").json[0][key] for key in ("name", "id_number", "phone")}
    assert sandbox_api.bind(token, person).status_code == 200
    [bank] = client.get("/api/mp/v1/card/banks", headers=sandbox_api.bearer(token)).json["items"]
    bank_id = bank["bank_partner_id"]
    assert client.get("/api/sandbox/v1/sms?resident=1").json == {"messages": []}

    sent = client.post("/api/mp/v1/card/financial-account/consents/code", headers=sandbox_api.bearer(token),
                       json={"bank_partner_id": bank_id})
    assert sent.status_code == 200, sent.json
    [message] = client.get("/api/sandbox/v1/sms?resident=1").json["messages"]
    assert message["kind"] == "bank_consent_code" and message["sent_at"].endswith("+08:00")
    sms_code = message["text"].split("验证码 ")[1][:6]
    consent = client.post("/api/mp/v1/card/financial-account/consents", headers=sandbox_api.bearer(token),
                          json={"bank_partner_id": bank_id, "sms_code": sms_code})
    assert consent.status_code == 201, consent.json
    assert client.get("/api/sandbox/v1/sms?resident=2").json == {"messages": []}
    unknown = client.get("/api/sandbox/v1/sms?resident=99")
    assert (unknown.status_code, unknown.json["error"]["code"]) == (404, "resident_unknown")
