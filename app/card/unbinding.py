"""Ending a binding (issue 17 item 4): the citizen unbinds their own account after
re-authenticating (the e-card password or a real-person check), or a real-person check by the
holder evicts an account that bound the same identity with knowledge only (a squatter).

Either way, at once and in one transaction: the account loses the card (a conditional UPDATE,
so two endings cannot both apply), the card's e-card device is replaced by a fresh one that
never left the server (every seed copy and offline certificate of the old one ends), the event
is recorded in the card's history, and the account is marked (``binding_ended_at`` /
``binding_ended_reason``) so its next login says so. An evicted account's tokens are revoked.
"""
from __future__ import annotations

from sqlalchemy import select, update

from app.card.devices import active_device, bound_card, replace_device
from app.card.lifecycle import Transition, record_event
from app.card.models import Card
from app.card.passwords import require_password
from app.identity.models import AuthToken, Citizen, MpAccount
from app.identity.real_person import KNOWLEDGE, confirm_holder
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime

UNBOUND, EVICTED = "unbound", "evicted"


def unbind(rt: Runtime, account: MpAccount, password: str | None, real_person_token: str | None) -> None:
    """End ``account``'s binding (``DELETE /api/mp/v1/binding``), after re-authentication: a
    real-person check of the holder (``real_person_token``), else the e-card password. 403
    ``not_bound``; 403 ``reauthentication_required`` (no token and no password set); the errors
    of :func:`app.card.passwords.require_password` and :func:`app.identity.real_person.confirm`."""
    card = bound_card(account)
    reauthenticate(rt, account, card, password, real_person_token)
    end_binding(rt, account.id, card, UNBOUND, "unbound by the holder")
    db.session.commit()


def reauthenticate(rt: Runtime, account: MpAccount, card: Card, password: str | None, real_person_token: str | None) -> None:
    """Return when the holder proved it is them: a real-person check, else the e-card password;
    403 ``reauthentication_required`` when neither is possible."""
    if real_person_token is not None:
        confirm_holder(rt, account, db.session.get(Citizen, card.citizen_id), real_person_token)
    elif card.password_hash is not None:
        require_password(rt, card, password)
    else:
        raise AppError("reauthentication_required", 403,
                       "confirm it is you: pass a real-person check (or set an e-card password first)")


def evict(rt: Runtime, squatter_id: int, card: Card) -> None:
    """End the knowledge-only binding of account ``squatter_id`` to ``card`` and revoke its tokens
    (not committed: the caller binds the holder in the same transaction). 409 ``binding_changed``
    if that binding changed meanwhile."""
    end_binding(rt, squatter_id, card, EVICTED, "ended by the holder's real-person check", only_assurance=KNOWLEDGE)
    db.session.execute(update(AuthToken).where(AuthToken.account_id == squatter_id, AuthToken.revoked_at.is_(None))
                       .values(revoked_at=rt.clock.now()).execution_options(synchronize_session=False))


def end_binding(rt: Runtime, account_id: int, card: Card, reason: str, note: str, only_assurance: str | None = None,
                actor: str = "citizen") -> None:
    """Unbind ``account_id`` from ``card`` (conditional), replace that account's app's device (the
    other app's binding and device are untouched: issue 17 item 3), record the event by ``actor``
    (``staff:<username>`` when a supervisor approved it for a caller: app/service_desk/callers.py)."""
    condition = [MpAccount.id == account_id, MpAccount.citizen_id == card.citizen_id]
    if only_assurance is not None:
        condition.append(MpAccount.assurance == only_assurance)
    ended = db.session.execute(update(MpAccount).where(*condition).values(
        citizen_id=None, assurance=KNOWLEDGE, binding_ended_at=rt.clock.now(), binding_ended_reason=reason)
        .execution_options(synchronize_session="fetch"))
    if ended.rowcount != 1:
        db.session.rollback()
        raise AppError("binding_changed", 409, "the binding changed at the same moment; try again")
    if db.session.scalar(select(Card.status).where(Card.id == card.id)) != "cancelled":  # only this app's device
        replace_device(rt, active_device(card, db.session.scalar(select(MpAccount.platform).where(MpAccount.id == account_id))), None)
    record_event(rt, card.id, Transition("card", reason, card.status, card.status), actor, note)
