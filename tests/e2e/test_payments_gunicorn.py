"""Paying with the card end to end through gunicorn on PostgreSQL and Redis (issue 22 "Done when"):
a canteen charge without and with the e-card password, a decline that becomes a debt and is paid
off, a void, a refund, a bus ride (entry, exit, fare with concession, transfer discount), an
offline ride uploaded later and charged, and a clearing run whose statement matches the ledger.
The partners are made with the real CLI; the holder consents in the mini-program (SMS code)."""
from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from qr import offline
from standins.wechat import WeChatStandIn

from .. import backends
from ..conftest import APP_SECRET, APPID
from ..helpers import PERSON
from .test_gunicorn import SAMPLE_ROSTER, Server
from .test_offline_gunicorn import Partner

pytestmark = pytest.mark.e2e
P, MP = "/api/partner/v1", "/api/mp/v1"
PASSWORD = "739146"
GATES = "terminal_id,name,location,latitude,longitude\ngate-1,G1,Line 2,23.02,113.70\ngate-2,G2,Line 2,23.02,113.75\n" \
        "gate-3,G3,Line 2,23.02,113.85\n"
FARES = {"mode": "distance", "bands": [{"up_to_km": 6, "fare_fen": 300}, {"up_to_km": 12, "fare_fen": 400}],
         "max_fare_fen": 900, "concessions": {"senior": 50}, "transfer_window_minutes": 90, "transfer_discount_fen": 100}


@pytest.fixture
def pay_server(tmp_path: Path, wechat: WeChatStandIn, worker_id: str, redis_url: str) -> Iterator[Server]:
    env = {**os.environ, "CARD_WECHAT_APPID": APPID, "CARD_WECHAT_SECRET": APP_SECRET,
           "CARD_WECHAT_API_BASE": wechat.base_url, "CARD_INSTANCE_PATH": str(tmp_path),
           "DATABASE_URL": backends.migrated_postgres(worker_id, "e2epay"), "REDIS_URL": redis_url,
           "CARD_CHARGE_PASSWORD_FREE_FEN": "5000", "CARD_CONCESSION_AGES": "senior:40",  # the sample person is 41
           "CARD_CHARGE_NOTICE_FEN": "8000"}
    srv = Server(env, tmp_path / "gunicorn.log")
    srv.start()
    yield srv
    srv.stop()


def _partner(server: Server, name: str, scenes: str, roles: str) -> Partner:
    made = server.cli("partner", "create", "--name", name, "--scenes", scenes, "--roles", roles, "--json")
    assert made.returncode == 0, made.stderr
    return Partner(server, json.loads(made.stdout))


def _json(partner: Partner, method: str, path: str, body: Any = None) -> requests.Response:
    return partner.request(method, path, json.dumps(body).encode() if body is not None else b"")


class Citizen:
    def __init__(self, server: Server, wechat: WeChatStandIn) -> None:
        self.server, self.http, self.openid = server, requests.Session(), f"o-e2e-pay-{secrets.token_hex(6)}"
        token = self.http.post(server.base + f"{MP}/auth/wechat", json={"code": wechat.issue_code(openid=self.openid)},
                               timeout=30).json()["token"]
        self.bearer = {"Authorization": f"Bearer {token}"}
        bound = self.call("POST", "/binding", PERSON)
        assert bound.status_code == 200, bound.text
        self.card_number = bound.json()["card_number"]

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.http.request(method, self.server.base + MP + path, json=body, headers=self.bearer, timeout=30)

    def code(self) -> str:
        return self.call("GET", "/card/code").json()["code"]

    def consent(self, bank: Partner) -> None:
        """The holder allows the bank to register the account: the SMS code is read from the server's log."""
        sent = self.call("POST", "/card/financial-account/consents/code", {"bank_partner_id": bank.credentials["partner_id"]})
        assert sent.status_code == 200, sent.text
        deadline = time.monotonic() + 10
        while not (codes := re.findall(r"Code (\d{6}): you allow", self.server.log_path.read_text(errors="replace"))):
            assert time.monotonic() < deadline, "no consent SMS in the log"
            time.sleep(0.2)
        answer = self.call("POST", "/card/financial-account/consents",
                           {"bank_partner_id": bank.credentials["partner_id"], "sms_code": codes[-1]})
        assert answer.status_code == 201, answer.text


def _verify(partner: Partner, citizen: Citizen, scene: str, terminal: str, **extra: str) -> str:
    answer = _json(partner, "POST", f"{P}/verifications", {"code": citizen.code(), "scene": scene, "terminal_id": terminal, **extra})
    assert answer.status_code == 200 and answer.json()["accepted"], answer.text
    return answer.json()["verification_id"]


def _charge(partner: Partner, amount: int | None = None, **target: str) -> requests.Response:
    body = {"description": "e2e", "idempotency_key": f"e2e-{secrets.token_hex(6)}", **target}
    if amount is not None:
        body["amount_fen"] = amount
    return _json(partner, "POST", f"{P}/charges", body)


def _confirm(bank: Partner, charge_id: int, outcome: str) -> dict[str, Any]:
    item = {"charge_id": charge_id, "outcome": outcome, **({"reason": "insufficient_funds"} if outcome == "declined" else {})}
    answer = _json(bank, "POST", f"{P}/bank/charge-confirmations", {"confirmations": [item]})
    assert answer.status_code == 200, answer.text
    return answer.json()["results"][0]


def test_paying_with_the_card_through_gunicorn(pay_server: Server, wechat: WeChatStandIn) -> None:
    server = pay_server
    assert server.cli("roster", "import", str(SAMPLE_ROSTER)).returncode == 0
    bank = _partner(server, "Dongguan Bank", "", "bank")
    canteen = _partner(server, "Canteen", "campus", "merchant")
    metro = _partner(server, "Metro", "transit", "merchant")
    gates = server.log_path.parent / "gates.csv"
    gates.write_text(GATES, encoding="utf-8")
    for partner in (canteen, metro):
        assert server.cli("partner", "terminal", "import", partner.credentials["partner_id"], str(gates)).returncode == 0
    citizen = Citizen(server, wechat)
    for _ in range(2):  # the holder accepts the payment-notice template twice (one message each)
        accepted = citizen.call("POST", "/subscriptions", {"template_id": "payment-notice-dev", "result": "accept"})
        assert accepted.status_code == 200, accepted.text
    assert _json(canteen, "PUT", f"{P}/members", {"members": [{"id_number": PERSON["id_number"], "member_id": "S001"}]}).status_code == 200
    citizen.consent(bank)
    registered = _json(bank, "PUT", f"{P}/financial-accounts", {"card_number": citizen.card_number, "account_number": "622202001234567890"})
    assert registered.status_code == 200, registered.text

    # The canteen: a small charge without the password, a larger one needs it.
    lunch = _charge(canteen, 1200, verification_id=_verify(canteen, citizen, "campus", "gate-1"))
    assert lunch.status_code == 200 and lunch.json()["status"] == "pending", lunch.text
    dinner_scan = _verify(canteen, citizen, "campus", "gate-1")
    assert _charge(canteen, 8000, verification_id=dinner_scan).json()["error"]["code"] == "password_not_set"
    assert citizen.call("PUT", "/card/password", {"password": PASSWORD}).status_code in (200, 204)
    assert _charge(canteen, 8000, verification_id=dinner_scan).json()["error"]["code"] == "password_required"
    dinner = _charge(canteen, 8000, verification_id=dinner_scan, password=PASSWORD)
    assert dinner.status_code == 200, dinner.text

    # The bank debits lunch and declines dinner: a debt that blocks charges until the holder pays it off.
    pending = _json(bank, "GET", f"{P}/bank/charges?after=0&limit=100").json()["items"]
    assert [item["amount_fen"] for item in pending] == [1200, 8000]
    assert _confirm(bank, lunch.json()["charge_id"], "debited")["result"] == "applied"
    assert _confirm(bank, lunch.json()["charge_id"], "debited")["result"] == "unchanged"  # a retry
    assert _confirm(bank, dinner.json()["charge_id"], "declined")["result"] == "applied"
    mine = citizen.call("GET", "/payments").json()
    assert mine["debt_fen"] == 8000 and "declined" in mine["items"][0]["notices"]
    # The notices reach WeChat: dinner was at the notice threshold, then declined; sent once.
    for _ in range(2):
        notified = server.cli("notify", "run")
        assert notified.returncode == 0, notified.stderr
    sent = [{name: field["value"] for name, field in message["data"].items()} for message in wechat.messages_to(citizen.openid)]
    assert [(m["phrase1"], m["amount2"], m["thing3"]) for m in sent] == [("大额消费提醒", "80.00元", "Canteen"),
                                                                       ("扣款失败", "80.00元", "Canteen")]
    assert PERSON["id_number"] not in json.dumps(sent) and citizen.card_number not in json.dumps(sent)
    at_gate = _json(canteen, "POST", f"{P}/verifications", {"code": citizen.code(), "scene": "campus", "terminal_id": "gate-1"})
    assert (at_gate.json()["accepted"], at_gate.json()["reason"]) == (False, "payment_debt")  # the payment deny list, at the gate
    assert citizen.call("POST", f"/payments/{dinner.json()['charge_id']}/pay-off").json()["status"] == "pending"
    [again] = _json(bank, "GET", f"{P}/bank/charges").json()["items"]
    assert again["debt_repayment"] is True
    assert _confirm(bank, again["charge_id"], "debited")["status"] == "debited"
    assert citizen.call("GET", "/payments").json()["debt_fen"] == 0

    # A void before clearing, and a partial refund.
    snack = _charge(canteen, 300, verification_id=_verify(canteen, citizen, "campus", "gate-1")).json()
    assert _json(canteen, "POST", f"{P}/charges/{snack['charge_id']}/void").json()["status"] == "voided"
    refund = _json(canteen, "POST", f"{P}/charges/{lunch.json()['charge_id']}/refunds",
                   {"amount_fen": 200, "idempotency_key": "refund-e2e-1"})
    assert refund.status_code == 200 and refund.json()["refunded_fen"] == 200
    # The bank pulls the refund to credit back (the void of a charge it never debited is not listed), once.
    [reversal] = _json(bank, "GET", f"{P}/bank/reversals").json()["items"]
    assert (reversal["charge_id"], reversal["kind"], reversal["amount_fen"]) == (lunch.json()["charge_id"], "refund", 200)
    for expected in ("applied", "unchanged"):
        confirmed = _json(bank, "POST", f"{P}/bank/reversal-confirmations", {"reversal_ids": [reversal["reversal_id"]]})
        assert confirmed.json()["results"] == [{"reversal_id": reversal["reversal_id"], "result": expected}], confirmed.text
    assert _json(bank, "GET", f"{P}/bank/reversals").json()["items"] == []

    # A bus ride: entry, exit, the fare from the table with the senior concession, then a transfer.
    assert _json(metro, "PUT", f"{P}/fare-table", FARES).status_code == 200
    _verify(metro, citizen, "transit", "gate-1", direction="entry")
    ride = _charge(metro, verification_id=_verify(metro, citizen, "transit", "gate-2", direction="exit"))
    assert ride.status_code == 200, ride.text
    assert ride.json()["amount_fen"] == 150 and ride.json()["fare"]["fare_class"] == "senior"
    _verify(metro, citizen, "transit", "gate-2", direction="entry")
    transfer = _charge(metro, verification_id=_verify(metro, citizen, "transit", "gate-3", direction="exit")).json()
    assert transfer["amount_fen"] == 400 * 50 // 100 - 100 and transfer["fare"]["transfer_discount_fen"] == 100

    # An offline ride (a gate without network) uploaded later and charged.
    offline_ride = _offline_ride(server, citizen, metro)
    assert offline_ride["amount_fen"] == 200 - 100  # 10 km, senior, a transfer within the window
    for charge_id in (ride.json()["charge_id"], transfer["charge_id"], offline_ride["charge_id"]):
        assert _confirm(bank, charge_id, "debited")["result"] == "applied"

    # Clearing: the statement equals the ledger, to the fen.
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    cleared = server.cli("payments", "clear", "--day", today)
    assert cleared.returncode == 0 and f"{today}: 3 statements" in cleared.stdout, cleared.stdout + cleared.stderr
    statement = _json(canteen, "GET", f"{P}/clearing-statements/{today}").json()
    assert statement["totals"] == {"entries": 3, "gross_fen": 1200 + 8000, "reversed_fen": 200, "fee_fen": 0, "net_fen": 9000}
    metro_statement = _json(metro, "GET", f"{P}/clearing-statements/{today}").json()
    assert metro_statement["totals"]["net_fen"] == 150 + 100 + 100
    banked = _json(bank, "GET", f"{P}/clearing-statements/{today}").json()
    assert banked["totals"]["net_fen"] == 9000 + 350
    assert {row["merchant"] for row in banked["entries"]} == {canteen.credentials["partner_id"], metro.credentials["partner_id"]}
    replay = server.cli("payments", "replay")
    assert replay.returncode == 0 and "agree" in replay.stdout, replay.stdout + replay.stderr
    csv = _json(canteen, "GET", f"{P}/clearing-statements/{today}.csv")
    assert csv.status_code == 200 and csv.text.splitlines()[-1] == f"#signature,HMAC-SHA256,{statement['signature']}"


def _offline_ride(server: Server, citizen: Citizen, metro: Partner) -> dict[str, Any]:
    """A certificate for a fresh device, an entry and an exit scanned offline, uploaded, charged by record_id."""
    installation = {"installation_id": "phone-e2e-pay-01"}
    assert citizen.call("POST", "/card/seed", installation).status_code == 200
    nonce = citizen.call("POST", "/card/offline/challenge", installation).json()["nonce"]
    device = offline.generate(offline.ED25519)
    proof = offline.proof_of_possession(device, offline.b64url_decode(nonce))
    issued = citizen.call("POST", "/card/offline/certificates", {"nonce": nonce, "alg": "ed25519", "proof": offline.b64url_encode(proof),
                                                                 "device_public_key": offline.b64url_encode(device.public_key)})
    assert issued.status_code == 200, issued.text
    certificate = offline.certificate_from_bytes(offline.b64url_decode(issued.json()["certificates"][0]["certificate"]))
    time.sleep(1.1)  # gates keep whole seconds: the offline entry must come after the last online exit, not in its second
    now = int(time.time())
    records = [{"record_id": "e2e-entry-1", "terminal_id": "gate-2", "scene": "transit", "direction": "entry", "scanned_at": now,
                "code": offline.make_code(certificate, device, t=now, ctr=0).text},
               {"record_id": "e2e-exit-1", "terminal_id": "gate-3", "scene": "transit", "direction": "exit", "scanned_at": now + 1,
                "code": offline.make_code(certificate, device, t=now + 1, ctr=1).text}]
    time.sleep(1.2)  # the exit's scan time must not be in the server's future
    uploaded = _json(metro, "POST", f"{P}/offline/records", {"records": records})
    assert [item["status"] for item in uploaded.json()["results"]] == ["settled", "settled"], uploaded.text
    charged = _charge(metro, record_id="e2e-exit-1")
    assert charged.status_code == 200, charged.text
    return charged.json()
