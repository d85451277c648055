"""Issue 17 through gunicorn (several worker processes, PostgreSQL + Redis and the embedded
default): the e-card password and the bank's PIN check, each under 32 simultaneous attempts,
counting how many were evaluated."""
from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from scenes.signing import authorization_header
from standins.alipay import AlipayStandIn
from standins.wechat import WeChatStandIn

from .. import backends
from ..conftest import APP_SECRET, APPID
from ..helpers import PERSON
from .test_binding_and_sms_limits import _bind, _login
from .test_gunicorn import SAMPLE_ROSTER, Server, server  # noqa: F401 (the fixture)

pytestmark = pytest.mark.e2e
BURST = 32
PASSWORD, PIN = "305172", "480915"


def _signed_post(srv: Server, partner: dict[str, str], path: str, body: dict) -> requests.Response:
    raw = json.dumps(body).encode()
    header = authorization_header(partner["partner_id"], partner["secret"], "POST", path, raw, int(time.time()), secrets.token_hex(16))
    return requests.post(srv.base + path, data=raw, headers={"Authorization": header, "Content-Type": "application/json"}, timeout=60)


def _activated_card(srv: Server, bearer: dict[str, str], bank: dict[str, str], serial: str) -> None:
    fee = requests.get(srv.base + "/api/mp/v1/card/physical/fee", headers=bearer, timeout=30).json()["fee_fen"]
    applied = requests.post(srv.base + "/api/mp/v1/card/physical", json={"bank_partner_id": bank["partner_id"], "accepted_fee_fen": fee},
                            headers=bearer, timeout=30)
    assert applied.status_code == 201, applied.text
    application_id = applied.json()["application_id"]
    for event, extra in (("produced", {"serial_number": serial}), ("issued", {})):
        body = {"request_id": "rq-" + secrets.token_hex(6), "application_id": application_id, "event": event, **extra}
        assert _signed_post(srv, bank, "/api/partner/v1/bank/card-reports", body).status_code == 200
    activated = requests.post(srv.base + "/api/mp/v1/card/physical/activation", json={"serial_number": serial, "pin": PIN},
                              headers=bearer, timeout=60)
    assert activated.status_code == 200, activated.text


def test_password_and_pin_guesses_are_evaluated_only_within_the_limits(server: Server, wechat: WeChatStandIn) -> None:  # noqa: F811
    assert server.cli("roster", "import", str(SAMPLE_ROSTER)).returncode == 0
    bank = json.loads(server.cli("partner", "create", "--name", "Bank", "--roles", "bank", "--json").stdout)
    bearer = _login(server, wechat)
    assert _bind(server, bearer, PERSON).status_code == 200
    set_password = requests.put(server.base + "/api/mp/v1/card/password", json={"password": PASSWORD}, headers=bearer, timeout=60)
    assert set_password.status_code == 204

    def move(n: int) -> requests.Response:
        return requests.post(server.base + "/api/mp/v1/card/ecard/device", headers=bearer, timeout=120,
                             json={"installation_id": f"install-{n:04d}", "password": f"{n:06d}"})

    with ThreadPoolExecutor(BURST) as pool:
        answers = list(pool.map(move, range(BURST)))
    codes = [a.json()["error"]["code"] for a in answers]
    assert codes.count("password_wrong") == 5 and codes.count("password_locked") == BURST - 5, codes
    right = requests.post(server.base + "/api/mp/v1/card/ecard/device", headers=bearer, timeout=60,
                          json={"installation_id": "install-right", "password": PASSWORD})
    assert right.status_code == 429

    _activated_card(server, bearer, bank, "SN00000042")
    with ThreadPoolExecutor(BURST) as pool:
        checks = list(pool.map(lambda n: _signed_post(server, bank, "/api/partner/v1/bank/pin-checks",
                                                      {"serial_number": "SN00000042", "pin": f"{n:06d}"}), range(BURST)))
    assert sorted(c.status_code for c in checks) == [200] * 3 + [429] * (BURST - 3)
    assert {c.json()["match"] for c in checks if c.status_code == 200} == {False}

    server.stop()
    log = server.log_path.read_text()
    for private in (PASSWORD, PIN, '"pin"', '"password"'):
        assert private not in log


def _login_as(srv: Server, wechat: WeChatStandIn, openid: str) -> requests.Response:
    return requests.post(srv.base + "/api/mp/v1/auth/wechat", json={"code": wechat.issue_code(openid=openid)}, timeout=30)


def test_a_squatter_evicted_by_a_real_person_check_then_unbind_and_rebind(server: Server, wechat: WeChatStandIn) -> None:  # noqa: F811
    assert server.cli("roster", "import", str(SAMPLE_ROSTER)).returncode == 0
    squatter = {"Authorization": f"Bearer {_login_as(server, wechat, 'o-squatter-e2e').json()['token']}"}
    assert _bind(server, squatter, PERSON).status_code == 200
    holder = {"Authorization": f"Bearer {_login_as(server, wechat, 'o-holder-e2e').json()['token']}"}
    assert _bind(server, holder, PERSON).json()["error"]["code"] == "already_bound"
    verify_result = wechat.issue_face_result("o-holder-e2e", PERSON["name"], PERSON["id_number"])
    evicting = _bind(server, holder, {**PERSON, "real_person_token": verify_result})
    assert evicting.status_code == 200 and evicting.json()["assurance"] == "real_person", evicting.text
    ended = requests.get(server.base + "/api/mp/v1/card/code", headers=squatter, timeout=30)
    assert ended.status_code == 401
    assert _login_as(server, wechat, "o-squatter-e2e").json()["binding_ended"] == "evicted"
    card_number = requests.get(server.base + "/api/mp/v1/card/carriers", headers=holder, timeout=30).json()["card_number"]

    password = requests.put(server.base + "/api/mp/v1/card/password", json={"password": PASSWORD}, headers=holder, timeout=60)
    assert password.status_code == 204
    unbound = requests.delete(server.base + "/api/mp/v1/binding", json={"password": PASSWORD}, headers=holder, timeout=60)
    assert unbound.status_code == 204
    assert requests.get(server.base + "/api/mp/v1/card/code", headers=holder, timeout=30).json()["error"]["code"] == "not_bound"
    rebound = _bind(server, holder, PERSON)
    assert rebound.status_code == 200 and rebound.json()["card_number"] == card_number
    assert requests.get(server.base + "/api/mp/v1/card/code", headers=holder, timeout=30).status_code == 200
    cancelled = requests.delete(server.base + "/api/mp/v1/account", json={"password": PASSWORD}, headers=holder, timeout=60)
    assert cancelled.status_code == 204
    assert requests.get(server.base + "/api/mp/v1/card/code", headers=holder, timeout=30).status_code == 401
    assert _login_as(server, wechat, "o-holder-e2e").json() | {"token": None} == {
        "token": None, "expires_in": 86400, "bound": False, "binding_ended": None}  # a new account
    retention = server.cli("retention", "run")
    assert retention.returncode == 0 and "auth_tokens\t" in retention.stdout, retention.stderr
    audit = server.cli("audit", "verify")
    assert audit.returncode == 0, audit.stdout + audit.stderr


@pytest.fixture()
def two_app_server(tmp_path: Path, wechat: WeChatStandIn, alipay_config: dict[str, str], redis_url: str,
                   worker_id: str) -> Iterator[Server]:
    """PostgreSQL + Redis, with both WeChat and Alipay configured (their stand-ins)."""
    env = {**os.environ, "CARD_WECHAT_APPID": APPID, "CARD_WECHAT_SECRET": APP_SECRET, "CARD_WECHAT_API_BASE": wechat.base_url,
           "CARD_INSTANCE_PATH": str(tmp_path), "DATABASE_URL": backends.migrated_postgres(worker_id, "e2e"),
           "REDIS_URL": redis_url, **alipay_config}
    srv = Server(env, tmp_path / "gunicorn.log")
    srv.start()
    yield srv
    srv.stop()


def _verify(srv: Server, partner: dict[str, str], bearer: dict[str, str], terminal: str) -> dict:
    code = requests.get(srv.base + "/api/mp/v1/card/code", headers=bearer, timeout=30)
    assert code.status_code == 200, code.text
    answer = _signed_post(srv, partner, "/api/partner/v1/verifications",
                          {"code": code.json()["code"], "scene": "transit", "terminal_id": terminal})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_one_card_on_wechat_and_alipay_at_once(two_app_server: Server, wechat: WeChatStandIn, alipay: AlipayStandIn) -> None:
    """Issue 17 item 3: an Alipay account and a WeChat account hold the same card at once, each
    with its own device; 32 WeChat accounts binding the card at the same moment (each with a real-
    person check, so no SMS step-up) leave exactly one bound; codes from both apps are accepted and
    the history names the app; moving or unbinding on one app leaves the other working."""
    srv = two_app_server
    assert srv.cli("roster", "import", str(SAMPLE_ROSTER)).returncode == 0
    partner = json.loads(srv.cli("partner", "create", "--name", "Metro", "--scenes", "transit", "--json").stdout)
    gates = srv.log_path.parent / "gates.csv"
    gates.write_text("terminal_id,name,location\n" + "".join(f"gate-{n},Gate {n},Hall A\n" for n in range(6)), encoding="utf-8")
    assert srv.cli("partner", "terminal", "import", partner["partner_id"], str(gates)).returncode == 0
    login = requests.post(srv.base + "/api/mp/v1/auth/alipay", json={"auth_code": alipay.issue_code()}, timeout=30)
    on_alipay = {"Authorization": f"Bearer {login.json()['token']}"}
    assert _bind(srv, on_alipay, PERSON).status_code == 200

    def bind_on_wechat(n: int) -> tuple[dict[str, str], requests.Response]:
        openid = f"o-wechat-{n:02d}"
        bearer = {"Authorization": f"Bearer {_login_as(srv, wechat, openid).json()['token']}"}
        token = wechat.issue_face_result(openid, PERSON["name"], PERSON["id_number"])
        return bearer, _bind(srv, bearer, {**PERSON, "real_person_token": token})

    with ThreadPoolExecutor(BURST) as pool:
        binds = list(pool.map(bind_on_wechat, range(BURST)))
    winners = [bearer for bearer, answer in binds if answer.status_code == 200]
    codes = sorted(answer.json()["error"]["code"] for _bearer, answer in binds if answer.status_code != 200)
    assert len(winners) == 1 and codes == ["already_bound"] * (BURST - 1), codes
    on_wechat = winners[0]

    assert _verify(srv, partner, on_wechat, "gate-0")["accepted"] is True
    assert _verify(srv, partner, on_alipay, "gate-1")["accepted"] is True
    history = requests.get(srv.base + "/api/mp/v1/card/verifications", headers=on_alipay, timeout=30).json()["items"]
    assert [(item["terminal_id"], item["app"]) for item in history] == [("gate-1", "alipay"), ("gate-0", "wechat")]

    assert requests.put(srv.base + "/api/mp/v1/card/password", json={"password": PASSWORD}, headers=on_wechat,
                        timeout=60).status_code == 204
    moved = requests.post(srv.base + "/api/mp/v1/card/ecard/device", headers=on_alipay, timeout=60,
                          json={"installation_id": "alipay-new-phone", "password": PASSWORD})
    assert moved.status_code == 200, moved.text
    assert _verify(srv, partner, on_wechat, "gate-2")["accepted"] is True  # moving on Alipay did not end WeChat
    unbound = requests.delete(srv.base + "/api/mp/v1/binding", json={"password": PASSWORD}, headers=on_alipay, timeout=60)
    assert unbound.status_code == 204
    assert requests.get(srv.base + "/api/mp/v1/card/code", headers=on_alipay, timeout=30).json()["error"]["code"] == "not_bound"
    assert _verify(srv, partner, on_wechat, "gate-3")["accepted"] is True  # unbinding Alipay left WeChat
    latest = requests.get(srv.base + "/api/mp/v1/card/verifications", headers=on_wechat, timeout=30).json()["items"]
    assert [item["app"] for item in latest] == ["wechat", "wechat", "alipay", "wechat"]
