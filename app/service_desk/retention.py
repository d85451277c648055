"""The retention table of docs/operations.md ("What is kept, and for how long"; PIPL art. 19 and
47; issue 17 item 6), enforced by ``citizencard retention run`` (daily).

Each rule deletes, in one statement, the rows whose period is over; the ledger rows the table
says are kept (the audit trail, the benefits ledger, the card's history) have no rule here and
are never deleted by this job. Periods are in days from the row's own time, except the
verification records': whole UTC months of the code's time step, ``CARD_VERIFICATION_RETENTION_MONTHS``
(default 36) before the current month (:func:`expire_verifications`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, delete, or_, select, text

from app.card.models import BankReport
from app.identity.models import AuthToken, MpAccount
from app.money.models import Notification, PaymentNoticeMessage
from app.outbox.models import Subscription
from app.platform.db import db
from app.platform.store import SqlStore
from app.runtime import Runtime
from app.scanning.partitions import TABLE, Month, drop_expired, is_partitioned, refuse_unsealed, step_of
from app.service_desk.audit import sealed_through
from app.service_desk.models import CardApplication, DeskNotice

TOKEN_DAYS = 30            # a token after it expired or was revoked
TOMBSTONE_DAYS = 30        # a cancelled account's row (its openid already erased)
BANK_REPORT_DAYS = 365     # a bank report kept for idempotent replays


@dataclass(frozen=True)
class Rule:
    """``table``: what it deletes; ``days``: the period; ``statements(cutoff)``: the deletes."""

    table: str
    days: int
    statements: Callable[[Any], list[Any]]


def _tokens(cutoff: Any) -> list[Any]:
    return [delete(AuthToken).where(or_(AuthToken.expires_at < cutoff, AuthToken.revoked_at < cutoff))]


def _tombstones(cutoff: Any) -> list[Any]:
    gone = select(MpAccount.id).where(MpAccount.cancelled_at < cutoff).scalar_subquery()
    return [delete(Subscription).where(Subscription.account_id.in_(gone)),
            delete(Notification).where(Notification.account_id.in_(gone)),
            delete(PaymentNoticeMessage).where(PaymentNoticeMessage.account_id.in_(gone)),
            delete(DeskNotice).where(DeskNotice.account_id.in_(gone)),
            delete(AuthToken).where(AuthToken.account_id.in_(gone)),
            delete(CardApplication).where(CardApplication.account_id.in_(gone)),  # e-card applications (issue 17 item 1)
            delete(MpAccount).where(MpAccount.cancelled_at < cutoff)]


RULES = (
    Rule("auth_tokens", TOKEN_DAYS, _tokens),
    Rule("mp_accounts", TOMBSTONE_DAYS, _tombstones),
    Rule("bank_reports", BANK_REPORT_DAYS, lambda cutoff: [delete(BankReport).where(BankReport.created_at < cutoff)]),
)


class Refused(Exception):
    """The verification records were not expired (records not yet sealed into the audit chain);
    ``deleted``: what the other rules deleted."""

    def __init__(self, message: str, deleted: dict[str, int]) -> None:
        super().__init__(message)
        self.deleted = deleted


def run(rt: Runtime) -> dict[str, int]:
    """Apply every rule, one transaction each; returns rows deleted per table (the last statement
    of a rule: the table itself), plus ``kv_entries`` (expired store rows, SQL store only), then
    ``verification_partitions`` and ``verifications`` (:func:`expire_verifications`).

    Raises :class:`Refused` (after the other rules are committed, the verification records
    untouched) while an expired verification record is not yet sealed into the audit chain."""
    deleted: dict[str, int] = {}
    for rule in RULES:
        cutoff = rt.clock.now() - timedelta(days=rule.days)
        results = [db.session.execute(statement).rowcount for statement in rule.statements(cutoff)]
        db.session.commit()
        deleted[rule.table] = results[-1]
    if isinstance(rt.store, SqlStore):
        deleted["kv_entries"] = rt.store.purge()
    try:
        partitions, rows = expire_verifications(db.session.connection(), rt.clock.now(), rt.config["CARD_VERIFICATION_RETENTION_MONTHS"])
    except ValueError as exc:
        db.session.rollback()
        raise Refused(str(exc), deleted) from None
    db.session.commit()
    return {**deleted, "verification_partitions": partitions, "verifications": rows}


def expire_verifications(conn: Connection, now: Any, keep_months: int) -> tuple[int, int]:
    """The verification records' rule: every record whose code's time step lies before the
    ``keep_months`` whole UTC months preceding ``now``'s month goes. On a partitioned table
    (PostgreSQL) whole monthly partitions are dropped (app/scanning/partitions.drop_expired) and the
    default partition's rows of those months deleted; on a plain table (SQLite) the rows are deleted.

    Returns (partitions dropped, rows deleted). Raises ValueError, nothing deleted, when an
    expired record comes after the newest one sealed into the audit chain (``audit seal``; by
    ``(created_at, id)``, the seal's order): records leave the database only once the chain holds them."""
    if is_partitioned(conn):
        dropped = drop_expired(conn, now, keep_months, sealed_through())
        return len(dropped.partitions), dropped.default_rows
    floor = Month.of_step(step_of(now)).plus(-keep_months).first_step
    refuse_unsealed(conn, TABLE, floor, sealed_through())
    return 0, conn.execute(text(f"DELETE FROM {TABLE} WHERE code_step < :floor"), {"floor": floor}).rowcount
