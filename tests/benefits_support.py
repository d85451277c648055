"""Helpers for the benefit tests: citizens with cards, departments, banks, batches, confirmations."""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from app.identity import idnumber

from .helpers import ApiClient, roster_text

BATCHES = "/api/partner/v1/disbursement-batches"
CONFIRMATIONS = "/api/partner/v1/disbursement-confirmations"
ACCOUNTS = "/api/partner/v1/financial-accounts"
MEDICAL = "/api/partner/v1/medical-insurance-accounts"


def id_number(n: int) -> str:
    """A valid resident ID number, different for each ``n`` (0-999)."""
    first17 = f"44190019900101{n:03d}"
    return first17 + idnumber.check_digit(first17)


@dataclass
class Holder:
    token: str
    openid: str
    id_number: str
    card_number: str


class Benefits:
    """Drives the benefit endpoints through :class:`ApiClient`."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api

    def holders(self, count: int, start: int = 0) -> list[Holder]:
        """``count`` citizens on the roster, each logged in and bound (so holding a card)."""
        people = [(f"居民{n}", id_number(n), f"1390000{n:04d}", "1") for n in range(start, start + count)]
        self.api.import_roster(roster_text(people))
        holders = []
        for name, number, phone, _ in people:
            openid = f"o-holder-{secrets.token_hex(8)}"  # the WeChat stand-in is shared by a worker's tests
            token = self.api.login(openid)
            answer = self.api.bind(token, {"name": name, "id_number": number, "phone": phone})
            assert answer.status_code == 200, answer.json
            holders.append(Holder(token, openid, number, answer.json["card_number"]))
        return holders

    def department(self, name: str = "HRSS") -> dict[str, str]:
        return self.api.partner((), name=name, roles=("disburse",))

    def bank(self, name: str = "Dongguan Bank") -> dict[str, str]:
        return self.api.partner((), name=name, roles=("bank",))

    def call(self, partner: dict[str, str], path: str, body: Any = None, method: str = "POST") -> Any:
        data = b"" if body is None else json.dumps(body).encode()
        return self.api.signed_post(partner, data, path=path, method=method)

    def consent(self, bank: dict[str, str], holder: Holder) -> None:
        """The holder allows ``bank`` to register the benefit account (as the SMS-confirmed consent in
        the mini-program would record it; tests/integration/test_financial_account_registration.py
        drives that flow itself)."""
        from datetime import timedelta

        from sqlalchemy import select

        from app.card.models import Card
        from app.money.models import FinancialAccountConsent
        from app.partners.models import Partner
        from app.platform.db import db

        with self.api.app.app_context():
            card_id = db.session.scalar(select(Card.id).where(Card.card_number == holder.card_number))
            bank_id = db.session.scalar(select(Partner.id).where(Partner.partner_id == bank["partner_id"]))
            now = self.api.rt.clock.now()
            db.session.add(FinancialAccountConsent(card_id=card_id, bank_partner_id=bank_id, created_at=now,
                                                   expires_at=now + timedelta(days=30)))
            db.session.commit()

    def open_account(self, bank: dict[str, str], holder: Holder, number: str | None = None, consent: bool = True) -> Any:
        """The bank registers the holder's account (after the holder's consent, unless ``consent=False``)."""
        if consent:
            self.consent(bank, holder)
        body = {"card_number": holder.card_number, "account_number": number or "62220200" + holder.card_number[-8:]}
        return self.call(bank, ACCOUNTS, body, method="PUT")

    def submit(self, department: dict[str, str], batch: str, lines: list[dict[str, Any]]) -> Any:
        return self.call(department, BATCHES, {"batch_reference": batch, "lines": lines})

    def confirm(self, bank: dict[str, str], *items: tuple[int, str] | tuple[int, str, str]) -> Any:
        body = [{"disbursement_id": item[0], "outcome": item[1], **({"reason": item[2]} if len(item) > 2 else {})} for item in items]
        return self.call(bank, CONFIRMATIONS, {"confirmations": body})

    def pending(self, bank: dict[str, str], after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        answer = self.call(bank, f"/api/partner/v1/disbursements?after={after}&limit={limit}", method="GET")
        assert answer.status_code == 200, answer.json
        return answer.json["items"]

    def reconciliation(self, department: dict[str, str], batch: str) -> Any:
        return self.call(department, f"{BATCHES}/{batch}", method="GET")

    def benefits(self, holder: Holder, query: str = "") -> Any:
        return self.api.client.get(f"/api/mp/v1/benefits{query}", headers=self.api.bearer(holder.token))


def line(reference: str, holder: Holder | None = None, amount: Any = 150000, benefit_type: str = "pension",
         period: str = "2026-10", by_card: bool = True, **overrides: Any) -> dict[str, Any]:
    """One batch line paying ``holder`` (by card number, or by ID number with ``by_card=False``)."""
    recipient: dict[str, Any] = {}
    if holder is not None:
        recipient = {"card_number": holder.card_number} if by_card else {"id_number": holder.id_number}
    return {"line_reference": reference, **recipient, "benefit_type": benefit_type, "amount_fen": amount, "period": period, **overrides}
