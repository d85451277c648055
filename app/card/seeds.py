"""Handing the e-card's TOTP seed to an installation, and ending that copy (issue 15 item 12).

A seed on a phone is a copy of the e-card: whoever holds it shows valid codes offline. So:

- each provisioning to a new installation makes a fresh seed and pseudonym (never the seed the
  server used for online codes, which stops verifying in the same transaction);
- it is a card event (``seed_provisioned``) in the holder's history, and an SMS notice goes to
  the card's contact phone;
- the copy is bound to the installation and to the session (bearer token) that asked; that
  session's logout ends it (``seed_ended``: the server takes a fresh seed back), as does a
  device move (``moved``) or a provisioning to another installation.

A leaked token can still make a copy, but not a silent or a permanent one.
"""
from __future__ import annotations

from sqlalchemy import select

from app.card.devices import SeedGrant, active_device, bound_card, newest_wins, notify_holder, replace_device, seed_grant
from app.card.lifecycle import CITIZEN, Transition, record_event
from app.card.models import Card, Device
from app.identity.models import MpAccount
from app.integrations.sms import notice
from app.platform.crypto import token_digest
from app.platform.db import db
from app.runtime import Runtime

PROVISIONED_NOTICE = notice("device_notice")


def provision_seed(rt: Runtime, account: MpAccount, installation_id: str, token: str) -> SeedGrant:
    """Give the seed to ``installation_id`` for the session of ``token``.

    The same installation gets the same seed again (and the copy is bound to this session now).
    Any other installation, including the first, gets a fresh seed and pseudonym; the previous
    device is revoked in the same transaction, the event is recorded and the holder is told.
    Installations provisioned at the same moment: the newest wins; 409 ``device_conflict`` only
    if that keeps colliding."""
    return newest_wins(lambda: _provision(rt, account, installation_id, token_digest(token)))


def _provision(rt: Runtime, account: MpAccount, installation_id: str, digest: str) -> SeedGrant:
    card = bound_card(account)
    device = active_device(card, account.platform)
    if device.installation_id == installation_id:
        device.token_digest = digest
        db.session.commit()
        return seed_grant(rt, device)
    device = replace_device(rt, device, installation_id)
    device.token_digest = digest
    record_event(rt, card.id, Transition("ecard", "seed_provisioned", card.status, card.status), CITIZEN,
                 "offline codes set up on a new installation of the mini-program")
    db.session.commit()
    notify_holder(rt, card, PROVISIONED_NOTICE)
    return seed_grant(rt, device)


def end_session_copies(rt: Runtime, token: str) -> int:
    """End the seed copies handed to the session of ``token`` (at logout): each such device is
    replaced by a fresh server-held one, so the copy's codes stop verifying at once and online
    codes keep working. Returns how many copies ended."""
    return newest_wins(lambda: _end(rt, token_digest(token)))


def _end(rt: Runtime, digest: str) -> int:
    devices = db.session.scalars(select(Device).where(Device.token_digest == digest, Device.revoked_at.is_(None))).all()
    for device in devices:
        card = db.session.get(Card, device.card_id)
        replace_device(rt, device, None)
        if card is not None:
            record_event(rt, card.id, Transition("ecard", "seed_ended", card.status, card.status), CITIZEN,
                         "the session that set up offline codes logged out: that copy ended")
    db.session.commit()
    return len(devices)
