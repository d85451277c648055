"""The medical-insurance personal account (M-21), as reported by the medical-insurance bureau
(partner role ``medical_insurance``) through ``PUT /api/partner/v1/medical-insurance-accounts``.

We keep only the latest report: balance (fen), recent statement, and the time it is as of. An
older report than the one on record changes nothing (one conditional upsert: reports that
arrive out of order cannot roll the balance back). A report dated more than
:data:`MAX_CLOCK_AHEAD` after the server's clock is refused: it would hide every real report after it.

The bureau also reports (``PUT /api/partner/v1/medical-evouchers``) or withdraws a citizen's
medical-insurance e-voucher reference (医保电子凭证, issue 22 item 7): the medical scene's subject
then carries it (``medical_insurance_evoucher``), so the hospital settles insurance through the
national platform. The same ordering rule (``as_of``, one conditional upsert) makes reports and
withdrawals idempotent and race-free. The reference is personal data (it names one insured person
to the national platform and opens settlement against their insurance account), so it is
encrypted at rest (purpose :data:`EVOUCHER`, app/keys.py) and shown to medical partners only.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.card.models import Card
from app.money.models import MedicalEvoucher, MedicalInsuranceAccount
from app.platform.db import db
from app.platform.errors import AppError
from app.platform.sql import upsert_insert
from app.runtime import Runtime

MAX_STATEMENT_ENTRIES = 50
MAX_CLOCK_AHEAD = timedelta(minutes=5)  # the bureau's clock may run a little ahead of ours, no more
EVOUCHER = "medical_evoucher"  # the encryption purpose (AES-GCM associated data) of e-voucher references
EVOUCHER_FORMAT = re.compile(r"[0-9A-Za-z]{16,64}\Z")  # the bureau's reference: 16-64 letters and digits


def report_medical_account(rt: Runtime, bureau_id: int, citizen_id: int, balance_fen: int, as_of: datetime,
                           statement: list[dict[str, Any]]) -> bool:
    """Record the bureau's report for ``citizen_id``; True if it is now the one shown, False if a
    newer report was already on record. ``statement`` entries: {"date", "description", "amount_fen"}.
    422 ``as_of_in_future`` when ``as_of`` is more than :data:`MAX_CLOCK_AHEAD` after the server's clock."""
    now = _not_ahead(rt, as_of)
    table = MedicalInsuranceAccount.__table__
    statement_json = json.dumps(statement, ensure_ascii=False, default=str)
    insert = upsert_insert(db.engine.dialect.name, table).values(
        citizen_id=citizen_id, bureau_partner_id=bureau_id, balance_fen=balance_fen, statement=statement_json,
        as_of=as_of, reported_at=now)
    excluded = insert.excluded
    insert = insert.on_conflict_do_update(
        index_elements=[table.c.citizen_id],
        set_={"bureau_partner_id": excluded.bureau_partner_id, "balance_fen": excluded.balance_fen,
              "statement": excluded.statement, "as_of": excluded.as_of, "reported_at": excluded.reported_at},
        where=table.c.as_of < excluded.as_of,
    ).returning(table.c.id)
    applied = db.session.execute(insert).first() is not None
    db.session.commit()
    return applied


def _not_ahead(rt: Runtime, as_of: datetime) -> datetime:
    """The server's time now; 422 ``as_of_in_future`` when ``as_of`` is over :data:`MAX_CLOCK_AHEAD` after it."""
    now = rt.clock.now()
    if as_of > now + MAX_CLOCK_AHEAD:
        raise AppError("as_of_in_future", 422, "as_of is more than 5 minutes after the server's clock",
                       {"server_time": now.isoformat()})
    return now


def report_evoucher(rt: Runtime, bureau_id: int, citizen_id: int, reference: str | None, as_of: datetime) -> bool:
    """Record the bureau's e-voucher reference of ``citizen_id`` (``reference`` None: withdrawn) as
    of ``as_of``; True if it is now the one on record, False if a report at least as recent was
    (a retry, or a late report: nothing changes). One conditional upsert. Errors: 422
    ``evoucher_invalid`` (not 16-64 letters and digits), ``as_of_in_future``."""
    if reference is not None and not EVOUCHER_FORMAT.match(reference):
        raise AppError("evoucher_invalid", 422, "an e-voucher reference is 16 to 64 letters and digits")
    now = _not_ahead(rt, as_of)
    table = MedicalEvoucher.__table__
    insert = upsert_insert(db.engine.dialect.name, table).values(
        citizen_id=citizen_id, bureau_partner_id=bureau_id, as_of=as_of, reported_at=now,
        reference_enc=None if reference is None else rt.keyring.encrypt(reference, EVOUCHER))
    excluded = insert.excluded
    insert = insert.on_conflict_do_update(
        index_elements=[table.c.citizen_id],
        set_={"bureau_partner_id": excluded.bureau_partner_id, "reference_enc": excluded.reference_enc,
              "as_of": excluded.as_of, "reported_at": excluded.reported_at},
        where=table.c.as_of < excluded.as_of,
    ).returning(table.c.id)
    applied = db.session.execute(insert).first() is not None
    db.session.commit()
    return applied


def evoucher_reference(rt: Runtime, card_id: int) -> str | None:
    """The e-voucher reference on record for the holder of ``card_id`` (decrypted), None when the
    bureau reported none or withdrew it. For the medical scene's subject only."""
    encrypted = db.session.scalar(select(MedicalEvoucher.reference_enc).join(Card, Card.citizen_id == MedicalEvoucher.citizen_id)
                                  .where(Card.id == card_id))
    return None if encrypted is None else rt.keyring.decrypt(encrypted, EVOUCHER)
