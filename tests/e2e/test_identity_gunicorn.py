"""Issue 17 through gunicorn (several worker processes, PostgreSQL + Redis and the embedded
default): the e-card password and the bank's PIN check, each under 32 simultaneous attempts,
counting how many were evaluated."""
from __future__ import annotations

import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from scenes.signing import authorization_header
from standins.wechat import WeChatStandIn

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
