"""The demo's paid ride (issue 22, docs/payments.md): the metro is also a merchant with a
distance fare table, the holder's bank holds the card's account; the holder enters at gate-A01,
leaves at gate-B07, the metro charges the exit (the fare computed from the entry), the bank
debits it, and the holder sees it in the mini-program."""
from __future__ import annotations

import json
import secrets
import time
from typing import Any

import requests

from app.platform.request_signing import authorization_header

GATES = {"gate-A01": (23.0205, 113.7518), "gate-B07": (23.0205, 113.8018)}  # about 5 km apart
FARES = {"mode": "distance", "bands": [{"up_to_km": 6, "fare_fen": 300}, {"up_to_km": 12, "fare_fen": 400}],
         "max_fare_fen": 900, "concessions": {"senior": 50, "elder": 0, "disabled": 0},
         "transfer_window_minutes": 90, "transfer_discount_fen": 100}


def prepare_payments(app: Any, metro_partner_id: str) -> dict[str, str]:
    """Make the metro a merchant with gate coordinates and a fare table, and register a bank."""
    from app.money.fares import rules_from, set_fare_table
    from app.partners.partners import change_roles, create_partner, partner_view
    from app.partners.terminals import register_terminals
    from app.runtime import runtime

    with app.app_context():
        change_roles(metro_partner_id, ["merchant"], [])
        register_terminals(runtime(), metro_partner_id, [(gate, gate, "Xiping station", *point) for gate, point in GATES.items()])
        set_fare_table(runtime(), partner_view(runtime(), metro_partner_id).id, rules_from(FARES))  # type: ignore[union-attr]
        bank = create_partner(runtime(), "Dongguan Rural Commercial Bank", [], [], roles=("bank",))
    return {"partner_id": bank.partner_id, "secret": bank.secret}


def open_demo_account(app: Any, bank: dict[str, str]) -> None:
    """The holder's consent (as the SMS-confirmed one in the mini-program records it) and the bank's registration."""
    from datetime import timedelta

    from sqlalchemy import select

    from app.card.models import Card
    from app.money.financial_accounts import register_financial_account
    from app.money.models import FinancialAccountConsent
    from app.partners.partners import partner_view
    from app.platform.db import db
    from app.runtime import runtime

    with app.app_context():
        rt = runtime()
        card = db.session.scalar(select(Card).order_by(Card.id.desc()).limit(1))
        bank_id = partner_view(rt, bank["partner_id"]).id  # type: ignore[union-attr]
        now = rt.clock.now()
        db.session.add(FinancialAccountConsent(card_id=card.id, bank_partner_id=bank_id, created_at=now,
                                               expires_at=now + timedelta(days=1)))
        db.session.commit()
        register_financial_account(rt, bank_id, card, "6228480402564890018")


def _signed(http: requests.Session, base_url: str, partner: dict[str, str], method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else b""
    header = authorization_header(partner["partner_id"], partner["secret"], method, path, data, int(time.time()),
                                  secrets.token_hex(16))
    return http.request(method, base_url + path, data=data, timeout=10,
                        headers={"Authorization": header, "Content-Type": "application/json"})


def ride_and_pay(story: Any, bank: dict[str, str], step: Any) -> bool:
    """Entry, exit, the charge with its computed fare, the bank's debit, the holder's view."""
    for gate, direction in (("gate-A01", "entry"), ("gate-B07", "exit")):
        code = story.citizen("GET", "/api/mp/v1/card/code").json()["code"]
        scanned = _signed(story.http, story.base_url, story.partner, "POST", "/api/partner/v1/verifications",
                          {"code": code, "scene": "transit", "terminal_id": gate, "direction": direction}).json()
        step(f"Ride now: the {direction} gate {gate} verifies the code", json.dumps(scanned, ensure_ascii=False))
    charged = _signed(story.http, story.base_url, story.partner, "POST", "/api/partner/v1/charges",
                      {"verification_id": scanned["verification_id"], "description": "地铁2号线 西平站",
                       "idempotency_key": f"demo-ride-{secrets.token_hex(4)}"}).json()
    step("Pay later: the metro charges the exit; the fare comes from the entry and the fare table", json.dumps(charged, ensure_ascii=False))
    pending = _signed(story.http, story.base_url, bank, "GET", "/api/partner/v1/bank/charges").json()["items"]
    confirmed = _signed(story.http, story.base_url, bank, "POST", "/api/partner/v1/bank/charge-confirmations",
                        {"confirmations": [{"charge_id": item["charge_id"], "outcome": "debited"} for item in pending]}).json()
    step("The holder's bank pulls the charge and debits the account", json.dumps(confirmed, ensure_ascii=False))
    mine = story.citizen("GET", "/api/mp/v1/payments").json()
    step("The holder sees the paid ride in the mini-program (GET /payments)",
         json.dumps({"debt_fen": mine["debt_fen"], "items": [{key: item[key] for key in ("merchant", "amount_fen", "status")}
                                                             for item in mine["items"]]}, ensure_ascii=False))
    return charged.get("status") == "pending" and confirmed["results"][0]["result"] == "applied" and mine["items"][0]["status"] == "debited"
