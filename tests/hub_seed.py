"""A seeded database for the figures (tests/integration/test_hub_figures.py, bench/figures.py):
citizens in towns, cards, carrier transitions, scans, disbursements and complaints on two days,
written straight as rows (no API) so that a test or a benchmark can make many quickly."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from app.card.models import Card, CarrierEvent, PhysicalCard
from app.identity.models import Citizen
from app.money.models import Disbursement, DisbursementBatch, FinancialAccount
from app.partners.models import Partner
from app.platform.db import db
from app.scanning.models import Verification
from app.service_desk.models import Complaint


def partner(name: str, roles: str = "", kind: str = "organisation") -> Partner:
    row = Partner(partner_id="p_" + secrets.token_hex(8), name=name, secret_enc="x", kind=kind, scenes="transit,library",
                  roles=roles, created_at=datetime.now().astimezone())
    db.session.add(row)
    db.session.flush()
    return row


def card_holder(town: str | None, at: datetime, status: str = "active") -> Card:
    citizen = Citizen(id_number_index=secrets.token_hex(32), id_number_enc="x", name_enc="x", phone_enc="x", insured=True,
                      town=town, created_at=at, updated_at=at)
    db.session.add(citizen)
    db.session.flush()
    card = Card(card_number="8" + secrets.token_hex(7), citizen_id=citizen.id, status=status, contact_phone_enc="x",
                created_at=at)
    db.session.add(card)
    db.session.flush()
    return card


def carrier_event(card: Card, carrier: str, event: str, from_state: str | None, to_state: str, at: datetime,
                  physical: PhysicalCard | None = None) -> None:
    db.session.add(CarrierEvent(card_id=card.id, carrier=carrier, physical_card_id=physical.id if physical else None,
                                event=event, from_state=from_state, to_state=to_state, reason="seed", actor="citizen",
                                created_at=at))


def physical(card: Card, bank: Partner, state: str, at: datetime) -> PhysicalCard:
    row = PhysicalCard(application_id="pc_" + secrets.token_hex(10), card_id=card.id, bank_partner_id=bank.id, state=state,
                       technology="gen3", fee_rule="first_card", fee_fen=0, fee_payer="bank", created_at=at, updated_at=at)
    db.session.add(row)
    db.session.flush()
    return row


def scan(card: Card | None, by: Partner, scene: str, at: datetime) -> None:
    db.session.add(Verification(id="vf_" + secrets.token_hex(12), code_step=int(at.timestamp()) // 30, partner_id=by.id,
                                terminal_id="gate-1", scene=scene, card_id=card.id if card else None,
                                accepted=card is not None, created_at=at))


def disbursement(card: Card, department: Partner, bank: Partner, status: str, at: datetime, reference: str) -> None:
    account = FinancialAccount(card_id=card.id, bank_partner_id=bank.id, account_number_enc="x", opened_at=at, updated_at=at)
    batch = DisbursementBatch(department_id=department.id, batch_reference="B-" + reference, created_at=at)
    db.session.add_all([account, batch])
    db.session.flush()
    db.session.add(Disbursement(batch_id=batch.id, department_id=department.id, line_reference=reference,
                                citizen_id=card.citizen_id, financial_account_id=account.id, bank_partner_id=bank.id,
                                benefit_type="pension", amount_fen=100, period="2026-11", status=status, posted_at=at,
                                settled_at=at, return_reason="closed" if status == "returned" else None))


def complaint(card: Card, department: str | None, at: datetime, closed_after: timedelta | None, due_after: timedelta) -> None:
    db.session.add(Complaint(ticket_number="T" + secrets.token_hex(8), citizen_id=card.citizen_id, category="other",
                             description="seed", status="closed" if closed_after is not None else "new",
                             department=department, created_at=at, first_response_due=at + due_after,
                             resolution_due=at + due_after, closed_at=at + closed_after if closed_after is not None else None))


def seed_two_days(day1: datetime, day2: datetime) -> dict[str, Any]:
    """Town 南城街道: 15 cards on day 1 (3 suspended, 11 physical applied on day 1 and produced on
    day 2, 12 transit and 5 library scans, 10 paid and 2 returned lines, 11 complaints of which 10
    closed, 8 in time); 莞城街道: 4 cards on day 2 (2 scans); 1 scan of an unknown card."""
    metro, library = partner("Metro"), partner("Library", kind="library")
    bank, hrss = partner("Bank", "bank"), partner("HRSS", "disburse", "government")
    town_a = [card_holder("南城街道", day1) for _ in range(15)]
    town_b = [card_holder("莞城街道", day2) for _ in range(4)]
    for card in town_a[:3]:
        card.status = "suspended"
        carrier_event(card, "ecard", "suspended", "active", "suspended", day2)
    for card in town_a[:11]:
        row = physical(card, bank, "produced", day1)
        carrier_event(card, "physical", "applied", None, "applied", day1, row)
        carrier_event(card, "physical", "produced", "applied", "produced", day2, row)
    for n in range(12):
        scan(town_a[n], metro, "transit", day2)
    for n in range(5):
        scan(town_a[n], library, "library", day2)
    for card in town_b[:2]:
        scan(card, metro, "transit", day2)
    scan(None, metro, "transit", day2)
    for n in range(12):
        disbursement(town_a[n], hrss, bank, "credited" if n < 10 else "returned", day2, f"L{n}")
    for n in range(11):
        closed = None if n == 10 else timedelta(hours=2)
        complaint(town_a[n], "hrss", day2, closed, timedelta(days=5) if n < 8 else timedelta(hours=1))
    db.session.commit()
    return {"metro": metro, "library": library, "hrss": hrss, "bank": bank}
