"""Benefits paid to the card (M-21, M-22, M-23.7): the card's financial account, disbursement
batches and their lines, the medical-insurance personal account as last reported, and the
benefit notification outbox, charges and the payments' notice outbox. Money is integer fen."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.outbox.models import OutboxMessage
from app.platform.models import Base

DISBURSEMENT_PENDING = "pending"
DISBURSEMENT_CREDITED = "credited"
DISBURSEMENT_RETURNED = "returned"


class FinancialAccount(Base):
    """The card's designated debit account (M-21), registered by the holder's bank (partner role
    ``bank``: the bank of the card application, or one the holder consented to). The account
    number is encrypted at rest; only its masked form is shown. A replaced account is closed
    (``closed_at``, ``closed_reason``), never overwritten: at most one open account per card."""

    __tablename__ = "financial_accounts"
    __table_args__ = (
        Index("uq_financial_accounts_open_card", "card_id", unique=True,
              postgresql_where=text("closed_at IS NULL"), sqlite_where=text("closed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    bank_partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    account_number_enc: Mapped[str] = mapped_column(String(200))
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    closed_reason: Mapped[str | None] = mapped_column(String(200))


class FinancialAccountConsent(Base):
    """The holder's consent, confirmed by an SMS code in the mini-program, that the bank
    ``bank_partner_id`` may register (once, until ``expires_at``) the card's financial account."""

    __tablename__ = "financial_account_consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    bank_partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class MedicalInsuranceAccount(Base):
    """The medical-insurance personal account (M-21) as the bureau (role ``medical_insurance``)
    last reported it: balance in fen and the recent statement (JSON), both as of ``as_of``."""

    __tablename__ = "medical_insurance_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), unique=True)
    bureau_partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    balance_fen: Mapped[int] = mapped_column(BigInteger)
    statement: Mapped[str] = mapped_column(Text)
    as_of: Mapped[datetime]
    reported_at: Mapped[datetime]


class DisbursementBatch(Base):
    """A department's batch (partner role ``disburse``), unique by its own reference."""

    __tablename__ = "disbursement_batches"
    __table_args__ = (UniqueConstraint("department_id", "batch_reference"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    batch_reference: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class Disbursement(Base):
    """One benefit line, unique by the department's line reference, so it is paid at most once.
    ``status`` moves once: pending -> credited or returned, reported by ``bank_partner_id``.

    ``department_id`` and ``bank_partner_id`` are copies (of the batch's department and of the
    account's bank, both under foreign keys there) kept for the unique key and the bank's
    conditional update; they carry no foreign key of their own, which keeps two foreign-key
    checks per line out of a 100,000-line import (docs/benefits.md, Performance)."""

    __tablename__ = "disbursements"
    __table_args__ = (
        UniqueConstraint("department_id", "line_reference"),
        Index("ix_disbursements_citizen_posted", "citizen_id", "posted_at", "id"),
        Index("ix_disbursements_batch_status", "batch_id", "status"),
        Index("ix_disbursements_bank_status", "bank_partner_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("disbursement_batches.id"))
    department_id: Mapped[int]
    line_reference: Mapped[str] = mapped_column(String(64))
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"))
    financial_account_id: Mapped[int] = mapped_column(ForeignKey("financial_accounts.id"))
    bank_partner_id: Mapped[int]
    benefit_type: Mapped[str] = mapped_column(String(32))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM, the month the benefit covers
    status: Mapped[str] = mapped_column(String(8), default=DISBURSEMENT_PENDING)
    return_reason: Mapped[str | None] = mapped_column(String(200))
    posted_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]


class MedicalEvoucher(Base):
    """The medical-insurance e-voucher reference (医保电子凭证, M-23.3) the bureau (role
    ``medical_insurance``) reported for a citizen, as last reported: ``reference_enc`` encrypted at
    rest (purpose app.money.medical_insurance.EVOUCHER; null: withdrawn). ``as_of`` orders the
    reports: an older one changes nothing (app.money.medical_insurance.report_evoucher)."""

    __tablename__ = "medical_evouchers"

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"), unique=True)
    bureau_partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    reference_enc: Mapped[str | None] = mapped_column(Text)
    as_of: Mapped[datetime]
    reported_at: Mapped[datetime]


class Notification(OutboxMessage, Base):
    """The benefits' outbox (app.outbox.outbox drives it): one WeChat subscribe message telling a
    holder of a credited disbursement. ``status`` is pending, sent or failed (final: 43101 no
    quota, or too many attempts); pending ones are retried from ``next_attempt_at``."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_status_next", "status", "next_attempt_at"),)

    disbursement_id: Mapped[int] = mapped_column(ForeignKey("disbursements.id"), unique=True)


# Paying with the card (M-4, M-20, M-23.2, M-23.7; docs/payments.md): charges on a verification,
# routed to the bank of the card's financial account, an append-only ledger, daily clearing.
CHARGE_PENDING = "pending"  # sent to the bank, not yet debited
CHARGE_DEBITED = "debited"
CHARGE_DECLINED = "declined"  # the holder owes it: a debt, the card on the payment deny list
CHARGE_VOIDED = "voided"
CHARGE_STATUSES = (CHARGE_PENDING, CHARGE_DEBITED, CHARGE_DECLINED, CHARGE_VOIDED)


class Charge(Base):
    """One charge by a merchant (partner role ``merchant``) on one of its verifications: at most one
    per verification (``verification_id`` unique), one per (merchant, ``idempotency_key``).
    ``status`` moves by single conditional updates: pending -> debited | declined (the bank);
    declined -> pending (the holder pays the debt off: presented to the bank again); pending,
    debited or declined -> voided before clearing (app.money.clearing.cleared: its debit is in a
    merchant's statement). ``refunded_fen`` only grows, never past
    ``amount_fen``. ``declines`` counts the bank's declines (the first one makes the debt)."""

    __tablename__ = "charges"
    __table_args__ = (
        UniqueConstraint("merchant_partner_id", "idempotency_key"),
        Index("uq_charges_verification", "verification_id", unique=True),
        Index("uq_charges_ride_entry", "ride_entry_id", unique=True),
        Index("ix_charges_card_ride_exit", "card_id", "ride_exit_at"),
        Index("ix_charges_bank_status", "bank_partner_id", "status", "id"),
        Index("ix_charges_card_status", "card_id", "status"),
        Index("ix_charges_citizen_created", "citizen_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    merchant_partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    idempotency_key: Mapped[str] = mapped_column(String(64))
    verification_id: Mapped[str] = mapped_column(String(32))
    scene: Mapped[str] = mapped_column(String(32))
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"))
    financial_account_id: Mapped[int] = mapped_column(ForeignKey("financial_accounts.id"))
    bank_partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(String(100))
    fare: Mapped[str | None] = mapped_column(String(300))  # transit: how the fare was made (JSON)
    # Transit: the ride's entry (one charge per ride: unique) and when the ride ended (transfer discounts)
    ride_entry_id: Mapped[str | None] = mapped_column(String(32))
    ride_exit_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(8), default=CHARGE_PENDING)
    declines: Mapped[int] = mapped_column(default=0)
    decline_reason: Mapped[str | None] = mapped_column(String(200))
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]


class ChargeRefund(Base):
    """A refund (whole or partial) of a debited charge, once per (charge, ``idempotency_key``)."""

    __tablename__ = "charge_refunds"
    __table_args__ = (UniqueConstraint("charge_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    charge_id: Mapped[int] = mapped_column(ForeignKey("charges.id"))
    idempotency_key: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]


class LedgerEntry(Base):
    """The append-only money ledger: never updated, never deleted. ``kind`` is one of
    app.money.ledger.KINDS; ``merchant_fen`` changes what the bank owes the merchant,
    ``debt_fen`` what the holder owes (a declined charge). Replaying every entry recomputes
    each charge's status and refunds, each card's debt and each merchant's and bank's balance.
    ``event_key`` makes each event land once (e.g. ``debit:<charge>:<presentment>``)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("uq_ledger_entries_event", "event_key", unique=True),
        Index("ix_ledger_entries_merchant", "merchant_partner_id", "id"),
        Index("ix_ledger_entries_bank", "bank_partner_id", "id"),
        Index("ix_ledger_entries_charge", "charge_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    event_key: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(16))
    charge_id: Mapped[int] = mapped_column(ForeignKey("charges.id"))
    merchant_partner_id: Mapped[int]
    bank_partner_id: Mapped[int]
    card_id: Mapped[int]
    amount_fen: Mapped[int] = mapped_column(BigInteger)  # the event's own amount (always >= 0)
    merchant_fen: Mapped[int] = mapped_column(BigInteger)
    debt_fen: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class ReversalCredit(Base):
    """The bank's confirmation that it credited its customer back for a reversal (issue 22 item 3:
    a ``void`` of a charge it had debited, or a ``refund``): at most one per ledger entry (the
    primary key), app.money.charge_reversals."""

    __tablename__ = "reversal_credits"

    ledger_entry_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"),
                                                 ForeignKey("ledger_entries.id"), primary_key=True)
    bank_partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    credited_at: Mapped[datetime]


class ChargeDayTotal(Base):
    """What a card was charged on one city day (fen): the daily limit is counted here, in one
    conditional ``INSERT ... ON CONFLICT DO UPDATE ... WHERE total + amount <= limit``."""

    __tablename__ = "charge_day_totals"
    __table_args__ = (UniqueConstraint("card_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    day: Mapped[date]
    total_fen: Mapped[int] = mapped_column(BigInteger)


class Clearing(Base):
    """One clearing run's statement for a party (``merchant`` or ``bank``) and a city day: the
    ledger entries it claimed (clearing_items) and their sums. Unique per (party, partner, day)."""

    __tablename__ = "clearings"
    __table_args__ = (UniqueConstraint("party", "partner_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    party: Mapped[str] = mapped_column(String(8))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    day: Mapped[date]
    entries: Mapped[int] = mapped_column(default=0)
    gross_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # debits and debts paid
    reversed_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # voids after a debit, refunds
    fee_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    net_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # gross - reversed - fee
    created_at: Mapped[datetime]


class ClearingItem(Base):
    """A ledger entry claimed by a party's clearing: at most once per party (the unique key).
    Written only by the clearing run's ``INSERT ... SELECT`` from ``ledger_entries`` and a
    ``clearings`` row it just made, so the two ids carry no foreign key: their checks were half
    the run's time (bench/charges.py)."""

    __tablename__ = "clearing_items"
    __table_args__ = (UniqueConstraint("party", "ledger_entry_id"), Index("ix_clearing_items_clearing", "clearing_id"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    party: Mapped[str] = mapped_column(String(8))
    ledger_entry_id: Mapped[int] = mapped_column(BigInteger)
    clearing_id: Mapped[int]


class FareTable(Base):
    """A transit operator's fare table (JSON, app.money.fares.FareRules), set by the operator
    (``PUT /api/partner/v1/fare-table``); the exit's fare is computed from it."""

    __tablename__ = "fare_tables"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), unique=True)
    rules: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class PaymentNotice(Base):
    """A notice to the holder: a charge at or above ``CARD_CHARGE_NOTICE_FEN``, or a decline. Once
    per (charge, kind); shown in ``GET /api/mp/v1/payments``. ``queued_at``: when its messages
    were put in the outbox (:class:`PaymentNoticeMessage`; null until then, app.money.payment_notices)."""

    __tablename__ = "payment_notices"
    __table_args__ = (UniqueConstraint("charge_id", "kind"), Index("ix_payment_notices_citizen", "citizen_id", "id"),
                      Index("ix_payment_notices_queued", "queued_at", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    charge_id: Mapped[int] = mapped_column(ForeignKey("charges.id"))
    citizen_id: Mapped[int] = mapped_column(ForeignKey("citizens.id"))
    kind: Mapped[str] = mapped_column(String(16))  # large_charge, declined
    created_at: Mapped[datetime]
    queued_at: Mapped[datetime | None]


class PaymentNoticeMessage(OutboxMessage, Base):
    """The payments' outbox (issue 22 item 6; app.outbox.outbox): one WeChat subscribe message or
    Alipay template message of a :class:`PaymentNotice` to one mini-program account of the holder.
    One row per notice and account (the unique constraint: never twice); ``status`` pending ->
    sent, or failed (final)."""

    __tablename__ = "payment_notice_messages"
    __table_args__ = (UniqueConstraint("notice_id", "account_id"),
                      Index("ix_payment_notice_messages_status_next", "status", "next_attempt_at"))

    notice_id: Mapped[int] = mapped_column(ForeignKey("payment_notices.id"))
