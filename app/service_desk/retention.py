"""The retention table of docs/operations.md ("What is kept, and for how long"; PIPL art. 19 and
47; issue 17 item 6), enforced by ``citizencard retention run`` (daily).

Each rule deletes, in one statement, the rows whose period is over; the ledger rows the table
says are kept (the audit trail, the benefits ledger, the card's history) have no rule here and
are never deleted by this job. Periods are in days from the row's own time.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, or_, select

from app.card.models import BankReport
from app.identity.models import AuthToken, MpAccount
from app.money.models import Notification, Subscription
from app.platform.db import db
from app.platform.store import SqlStore
from app.runtime import Runtime
from app.scanning.models import Verification

TOKEN_DAYS = 30            # a token after it expired or was revoked
TOMBSTONE_DAYS = 30        # a cancelled account's row (its openid already erased)
VERIFICATION_DAYS = 3 * 365  # a verification record (its sealed copy stays in the audit trail)
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
            delete(AuthToken).where(AuthToken.account_id.in_(gone)),
            delete(MpAccount).where(MpAccount.cancelled_at < cutoff)]


RULES = (
    Rule("auth_tokens", TOKEN_DAYS, _tokens),
    Rule("mp_accounts", TOMBSTONE_DAYS, _tombstones),
    Rule("verifications", VERIFICATION_DAYS, lambda cutoff: [delete(Verification).where(Verification.created_at < cutoff)]),
    Rule("bank_reports", BANK_REPORT_DAYS, lambda cutoff: [delete(BankReport).where(BankReport.created_at < cutoff)]),
)


def run(rt: Runtime) -> dict[str, int]:
    """Apply every rule, one transaction each; returns rows deleted per table (the last statement
    of a rule: the table itself), plus ``kv_entries`` (expired store rows, SQL store only)."""
    deleted: dict[str, int] = {}
    for rule in RULES:
        cutoff = rt.clock.now() - timedelta(days=rule.days)
        results = [db.session.execute(statement).rowcount for statement in rule.statements(cutoff)]
        db.session.commit()
        deleted[rule.table] = results[-1]
    if isinstance(rt.store, SqlStore):
        deleted["kv_entries"] = rt.store.purge()
    return deleted
