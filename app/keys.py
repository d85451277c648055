"""Data-encryption key rotation (M-19; docs/operations.md, Keys).

A new key (``citizencard keys rotate`` prints one) comes in over two rolling restarts: first listed
after the current key in ``CARD_DATA_KEYS`` on every server (all can read it, none writes it yet),
then moved first (new values are written with it; old rows stay readable with the old keys listed
after it). Putting it first in one step would let a restarted server write values that a server not
yet restarted cannot read. :func:`reencrypt` then moves old rows forward, so the old key can be removed.
"""
from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass, field

from sqlalchemy import select, update

from app.card.models import Card, Device, OfflineKey
from app.card.offline_keys import PRIVATE_PURPOSE as OFFLINE_KEY_PURPOSE
from app.hub.cases import STATEMENT as CASE_STATEMENT
from app.hub.life_events import CORRECTION
from app.hub.models import CitizenCorrection, MisuseCase
from app.identity import people
from app.identity.models import Citizen
from app.money.medical_insurance import EVOUCHER
from app.money.models import FinancialAccount, MedicalEvoucher
from app.partners.models import Partner
from app.platform.crypto import KeyringError
from app.platform.db import db
from app.runtime import Runtime
from app.scanning.models import OfflineRecord
from app.scanning.offline_records import SUBJECT as OFFLINE_RECORD_SUBJECT
from app.service_desk import applications
from app.service_desk.models import CardApplication, Staff
from app.service_desk.staff import TOTP_SEED

# Every encrypted column, with the purpose it was encrypted for (the AES-GCM associated data).
ENCRYPTED_COLUMNS = (
    (Citizen, "id_number_enc", people.ID_NUMBER),
    (Citizen, "name_enc", people.NAME),
    (Citizen, "phone_enc", people.PHONE),
    (Card, "contact_phone_enc", people.CONTACT_PHONE),
    (Device, "seed_enc", people.SEED),
    (Partner, "secret_enc", people.PARTNER_SECRET),
    (Partner, "previous_secret_enc", people.PARTNER_SECRET),
    (FinancialAccount, "account_number_enc", people.FINANCIAL_ACCOUNT_NUMBER),
    (MedicalEvoucher, "reference_enc", EVOUCHER),
    (Staff, "totp_seed_enc", TOTP_SEED),
    (CardApplication, "document_enc", people.ID_NUMBER),
    (CardApplication, "permit_enc", applications.PERMIT),
    (CardApplication, "name_enc", applications.NAME),
    (CardApplication, "phone_enc", applications.PHONE),
    (CardApplication, "address_enc", applications.ADDRESS),
    (CardApplication, "employer_enc", applications.EMPLOYER),
    (CardApplication, "answer_enc", applications.ANSWER),
    (OfflineKey, "private_enc", OFFLINE_KEY_PURPOSE),
    (OfflineRecord, "subject_enc", OFFLINE_RECORD_SUBJECT),
    (CitizenCorrection, "old_value_enc", CORRECTION),
    (MisuseCase, "statement_enc", CASE_STATEMENT),
    (MisuseCase, "appeal_enc", CASE_STATEMENT),
)
# Every blind index stored next to the encrypted value it was computed from: (model, index column,
# encrypted column, purpose of the encryption, the function the app writes the index with).
# (memberships.id_number_index has no encrypted value beside it, so a start-up check cannot recompute it.)
BLIND_INDEXED_COLUMNS = (
    (Citizen, "id_number_index", "id_number_enc", people.ID_NUMBER, people.id_index),
    (CardApplication, "document_index", "document_enc", people.ID_NUMBER, people.id_index),
    (CitizenCorrection, "old_index", "old_value_enc", CORRECTION, people.id_index),  # an ID number's old index (names: NULL)
)
BATCH = 1000


def new_key_entry() -> str:
    """A fresh ``id:base64(32 random bytes)`` entry for ``CARD_DATA_KEYS``."""
    return f"k{secrets.token_hex(3)}:{base64.b64encode(os.urandom(32)).decode()}"


@dataclass
class ReencryptReport:
    """Values moved to the current key, per ``table.column``."""

    moved: dict[str, int] = field(default_factory=dict)


def reencrypt(rt: Runtime) -> ReencryptReport:
    """Re-encrypt every value not under the current key; commits per batch of 1,000 rows. A value that does
    not open stops it with a :class:`KeyringError` naming the table, column and row id, never the value.
    (``citizencard keys reencrypt`` runs the start-up data-key check first.)"""
    report = ReencryptReport()
    for model, column, purpose in ENCRYPTED_COLUMNS:
        report.moved[f"{model.__tablename__}.{column}"] = _reencrypt_column(rt, model, column, purpose)
    return report


def _reencrypt_column(rt: Runtime, model: type, column: str, purpose: str) -> int:
    attribute = getattr(model, column)
    current = f"{rt.keyring.current}$"
    stale = select(model.id, attribute).where(attribute.is_not(None), ~attribute.startswith(current)).limit(BATCH)
    moved = 0
    while rows := db.session.execute(stale).all():
        for row_id, value in rows:
            fresh = rt.keyring.encrypt(_opened(rt, value, purpose, f"{model.__tablename__}.{column}, row id {row_id}"), purpose)
            db.session.execute(update(model).where(model.id == row_id).values({column: fresh}))
        db.session.commit()
        moved += len(rows)
    return moved


def _opened(rt: Runtime, value: str, purpose: str, where: str) -> str:
    """``value`` decrypted; else :class:`KeyringError` naming ``where`` (KeyringError's own message never shows the value)."""
    try:
        return rt.keyring.decrypt(value, purpose)
    except ValueError as exc:  # KeyringError, or text that is not base64
        raise KeyringError(f"{where} does not open: {exc}") from None
