"""Leaving (PIPL art. 47; issue 17 item 6): a citizen cancels their mini-program account, or
closes their card. Both need re-authentication (the e-card password or a real-person check) when
the account holds a card; what is deleted at once and what is kept, and for how long, is the
retention table of docs/operations.md, enforced by ``citizencard retention run`` (app/service_desk/retention.py).

- **Cancelling the account**: its binding ends (as ``DELETE /binding``), every token is deleted,
  and the platform identifiers are erased at once (``openid`` replaced by a random tombstone,
  ``unionid`` emptied): logging in again with the same WeChat/Alipay user makes a new account.
  The tombstone row goes 30 days later, with its subscriptions and notices.
- **Closing the card**: the card is cancelled with every carrier (app/card/lifecycle.py
  ``cancel_card``: the e-card's device and offline certificates, the live physical card), and
  the account's binding ends.
"""
from __future__ import annotations

import secrets

from sqlalchemy import delete, select, update

from app.card.devices import bound_card
from app.card.lifecycle import CITIZEN, Transition, cancel_card
from app.card.unbinding import end_binding, reauthenticate, unbind
from app.identity.models import AuthToken, MpAccount
from app.platform.db import db
from app.runtime import Runtime

TOMBSTONE = "cancelled:"


def cancel_account(rt: Runtime, account: MpAccount, password: str | None, real_person_token: str | None) -> None:
    """Cancel ``account`` (``DELETE /api/mp/v1/account``). Errors as :func:`app.card.unbinding.unbind`
    when it holds a card; an unbound account needs nothing more than its token."""
    if account.citizen_id is not None:
        unbind(rt, account, password, real_person_token)
    db.session.execute(delete(AuthToken).where(AuthToken.account_id == account.id))
    db.session.execute(update(MpAccount).where(MpAccount.id == account.id).values(
        openid=TOMBSTONE + secrets.token_hex(16), unionid=None, cancelled_at=rt.clock.now())
        .execution_options(synchronize_session=False))
    db.session.commit()


def close_card(rt: Runtime, account: MpAccount, password: str | None, real_person_token: str | None) -> list[Transition]:
    """Close the account's card for good (``POST /api/mp/v1/card/closure``): every carrier is
    cancelled and the binding ends. Errors as :func:`app.card.unbinding.unbind`; 409
    ``illegal_transition`` when already cancelled."""
    card = bound_card(account)
    reauthenticate(rt, account, card, password, real_person_token)
    transitions = cancel_card(rt, card.card_number, CITIZEN, "closed by the holder")
    for other in db.session.scalars(select(MpAccount.id).where(MpAccount.citizen_id == card.citizen_id)).all():
        end_binding(rt, other, card, "closed", "card closed by the holder")  # every app's account (item 8)
    db.session.commit()
    return transitions
