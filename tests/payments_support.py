"""Helpers for the payment tests: holders with a bank account, a canteen (campus merchant), a
metro (transit merchant), verifications to charge, bank confirmations, voids and refunds."""
from __future__ import annotations

import json
import secrets
from typing import Any

from sqlalchemy import select

from app.partners.memberships import replace_members
from app.partners.models import Partner
from app.platform.db import db

from .benefits_support import Benefits, Holder
from .helpers import ApiClient

CHARGES = "/api/partner/v1/charges"
BANK_CHARGES = "/api/partner/v1/bank/charges"
CONFIRMATIONS = "/api/partner/v1/bank/charge-confirmations"
BANK_REVERSALS = "/api/partner/v1/bank/reversals"
REVERSAL_CONFIRMATIONS = "/api/partner/v1/bank/reversal-confirmations"


class Payments(Benefits):
    """Drives the payment endpoints through :class:`ApiClient`."""

    def __init__(self, api: ApiClient) -> None:
        super().__init__(api)

    def merchant(self, scenes: tuple[str, ...] = ("campus",), name: str = "Canteen") -> dict[str, str]:
        return self.api.partner(scenes, name=name, roles=("merchant",))

    def members(self, merchant: dict[str, str], *holders: Holder) -> None:
        """Put ``holders`` on the campus merchant's member roster."""
        with self.api.app.app_context():
            partner = db.session.scalar(select(Partner.id).where(Partner.partner_id == merchant["partner_id"]))
            replace_members(self.api.rt, partner, [(holder.id_number, f"M{n}") for n, holder in enumerate(holders)], replace=False)

    def verified(self, merchant: dict[str, str], holder: Holder, scene: str = "campus", terminal_id: str = "gate-1",
                 **extra: str) -> str:
        """A fresh accepted verification of ``holder`` at ``merchant``; returns its id."""
        answer = self.api.verify(merchant, self.api.code(holder.token), terminal_id=terminal_id, scene=scene, **extra)
        assert answer.status_code == 200 and answer.json["accepted"], answer.json
        return answer.json["verification_id"]

    def charge(self, merchant: dict[str, str], verification_id: str | None, amount: Any = 1200, key: str | None = None,
               **extra: Any) -> Any:
        body = {"verification_id": verification_id, "amount_fen": amount, "description": "午餐",
                "idempotency_key": key or f"k-{secrets.token_hex(6)}", **extra}
        return self.call(merchant, CHARGES, {name: value for name, value in body.items() if value is not None})

    def bank_charges(self, bank: dict[str, str]) -> list[dict[str, Any]]:
        answer = self.call(bank, BANK_CHARGES + "?after=0&limit=500", method="GET")
        assert answer.status_code == 200, answer.json
        return answer.json["items"]

    def confirm_charges(self, bank: dict[str, str], *items: tuple[int, str] | tuple[int, str, str]) -> Any:
        body = [{"charge_id": item[0], "outcome": item[1], **({"reason": item[2]} if len(item) > 2 else {})} for item in items]
        return self.call(bank, CONFIRMATIONS, {"confirmations": body})

    def bank_reversals(self, bank: dict[str, str], after: int = 0) -> list[dict[str, Any]]:
        answer = self.call(bank, f"{BANK_REVERSALS}?after={after}&limit=500", method="GET")
        assert answer.status_code == 200, answer.json
        return answer.json["items"]

    def confirm_reversals(self, bank: dict[str, str], *reversal_ids: int) -> Any:
        return self.call(bank, REVERSAL_CONFIRMATIONS, {"reversal_ids": list(reversal_ids)})

    def void(self, merchant: dict[str, str], charge_id: int) -> Any:
        return self.call(merchant, f"{CHARGES}/{charge_id}/void")

    def refund(self, merchant: dict[str, str], charge_id: int, amount: Any, key: str | None = None) -> Any:
        return self.call(merchant, f"{CHARGES}/{charge_id}/refunds",
                         {"amount_fen": amount, "idempotency_key": key or f"r-{secrets.token_hex(6)}"})

    def payments(self, holder: Holder, query: str = "") -> Any:
        return self.api.client.get(f"/api/mp/v1/payments{query}", headers=self.api.bearer(holder.token))

    def set_password(self, holder: Holder, password: str) -> None:
        answer = self.api.client.put("/api/mp/v1/card/password", json={"password": password}, headers=self.api.bearer(holder.token))
        assert answer.status_code in (200, 204), answer.get_data(as_text=True)


def dumps(body: Any) -> bytes:
    return json.dumps(body).encode()
