"""The verification a merchant charges (docs/payments.md): one of the partner's own verifications,
named by its ``verification_id`` or, for a settled offline record, by the gate's ``record_id``.
The money domain does not read scanning's tables; the HTTP layer hands it what this finds."""
from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select

from app.platform.db import db
from app.platform.raw_sql import Statement, first_row
from app.scanning.models import OfflineRecord, Verification


def partner_verification_row(partner_id: int, verification_id: str | None = None, record_id: str | None = None) -> Any:
    """The partner's verification ``verification_id``, or the one its offline record ``record_id``
    was settled as; None when there is none of the partner's (another partner's is None too). A
    row with the model's columns as attributes (times aware)."""
    if record_id is not None:
        verification_id = db.session.scalar(select(OfflineRecord.verification_id).where(
            OfflineRecord.partner_id == partner_id, OfflineRecord.record_id == record_id))
    if verification_id is None:
        return None
    return first_row(_PARTNER_VERIFICATION, {"verification_id": verification_id, "partner_id": partner_id})


# Every charge reads one: compiled once and, on PostgreSQL, prepared (app.platform.raw_sql). The
# row has every column of the verification, by name (as the model's attributes).
_PARTNER_VERIFICATION = Statement(select(*Verification.__table__.c).where(
    Verification.id == bindparam("verification_id"), Verification.partner_id == bindparam("partner_id")))
