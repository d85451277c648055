"""The medical-insurance personal account (M-21), as reported by the medical-insurance bureau
(partner role ``medical_insurance``) through ``PUT /api/partner/v1/medical-insurance-accounts``.

We keep only the latest report: balance (fen), recent statement, and the time it is as of. An
older report than the one on record changes nothing (one conditional upsert: reports that
arrive out of order cannot roll the balance back). A report dated more than
:data:`MAX_CLOCK_AHEAD` after the server's clock is refused: it would hide every real report after it.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from app.money.models import MedicalInsuranceAccount
from app.platform.db import db
from app.platform.errors import AppError
from app.platform.sql import upsert_insert
from app.runtime import Runtime

MAX_STATEMENT_ENTRIES = 50
MAX_CLOCK_AHEAD = timedelta(minutes=5)  # the bureau's clock may run a little ahead of ours, no more


def report_medical_account(rt: Runtime, bureau_id: int, citizen_id: int, balance_fen: int, as_of: datetime,
                           statement: list[dict[str, Any]]) -> bool:
    """Record the bureau's report for ``citizen_id``; True if it is now the one shown, False if a
    newer report was already on record. ``statement`` entries: {"date", "description", "amount_fen"}.
    422 ``as_of_in_future`` when ``as_of`` is more than :data:`MAX_CLOCK_AHEAD` after the server's clock."""
    now = rt.clock.now()
    if as_of > now + MAX_CLOCK_AHEAD:
        raise AppError("as_of_in_future", 422, "as_of is more than 5 minutes after the server's clock",
                       {"server_time": now.isoformat()})
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
