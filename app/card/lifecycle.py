"""The card's carriers and their life (M-3, M-5, M-14, M-24, M-26; docs/card-lifecycle.md).

One card, two carriers. The e-card's state is ``Card.status`` (``active`` <-> ``suspended``;
``cancelled``). The physical card (:class:`PhysicalCard`) goes ``applied -> produced -> issued
-> activated``; a loss report suspends it (``suspended``), from where cancelling the report
returns it to the state it had, or a replacement retires it (``replaced``; ``recovered`` once
the bank has the old card back); ``cancelled`` from any state but the two final ones.

Every transition is one conditional UPDATE (``... WHERE state = <a legal source>``), so two
concurrent requests cannot both apply it, and it is recorded (:class:`CarrierEvent`: event,
from, to, reason, actor, time) in the same transaction, committed before the call returns. An
illegal transition is 409 ``illegal_transition`` with the carrier's current state.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.card.devices import SeedGrant, active_device, bound_card, newest_wins, notify_holder, replace_device, seed_grant
from app.card.fees import FeeDecision, fee_for_next_card
from app.card.models import CARD_CANCELLED, LIVE_PHYSICAL_STATES, Card, CarrierEvent, Device, PhysicalCard
from app.card.offline_lists import revoke_card_certificates
from app.card.pins import checked_pin, hash_pin
from app.identity.models import Citizen, MpAccount
from app.integrations.sms import notice
from app.partners.models import Partner
from app.platform.crypto import token_digest
from app.platform.db import db
from app.platform.errors import AppError
from app.runtime import Runtime

REINSTATE = "(state before the loss report)"
# event: (legal source states, target state)
PHYSICAL_TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "produced": (("applied",), "produced"),
    "issued": (("produced",), "issued"),
    "activated": (("issued",), "activated"),
    "loss_reported": (("issued", "activated"), "suspended"),
    "loss_report_cancelled": (("suspended",), REINSTATE),
    "replaced": (("issued", "activated", "suspended"), "replaced"),
    "recovered": (("replaced",), "recovered"),
    "cancelled": (("applied", "produced", "issued", "activated", "suspended", "replaced"), "cancelled"),
}
ECARD_TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "suspended": (("active",), "suspended"),
    "resumed": (("suspended",), "active"),
    "cancelled": (("active", "suspended"), "cancelled"),
}
CITIZEN = "citizen"


@dataclass(frozen=True)
class Transition:
    """The outcome of one transition: the carrier, the event, and the states before and after."""

    carrier: str
    event: str
    from_state: str | None  # None: the carrier did not exist before (an application)
    to_state: str


def illegal(carrier: str, event: str, state: str | None) -> AppError:
    return AppError("illegal_transition", 409, f"{event} is not possible for the {carrier} card in its state {state}",
                    {"carrier": carrier, "event": event, "state": state})


def _conditional_update(model: Any, row_id: int, sources: Iterable[str], values_for: Callable[[str], dict[str, Any]]) -> str | None:
    """Move the row from the first of ``sources`` it is in, atomically; the source, or None."""
    column = model.state if model is PhysicalCard else model.status
    for source in sources:
        stmt = update(model).where(model.id == row_id, column == source).values(**values_for(source))
        if db.session.execute(stmt.execution_options(synchronize_session=False)).rowcount:
            return source
    return None


def record_event(rt: Runtime, card_id: int, transition: Transition, actor: str, reason: str, physical_id: int | None = None) -> None:
    db.session.add(CarrierEvent(card_id=card_id, carrier=transition.carrier, physical_card_id=physical_id, event=transition.event,
                                from_state=transition.from_state, to_state=transition.to_state, reason=reason[:200],
                                actor=actor, created_at=rt.clock.now()))


def transition_physical(rt: Runtime, physical: PhysicalCard, event: str, actor: str, reason: str,
                        values: dict[str, Any] | None = None) -> Transition:
    """Apply ``event`` to ``physical`` and record it (not committed: the caller commits).
    ``values`` are further columns set by the same UPDATE (e.g. the serial number)."""
    sources, target = PHYSICAL_TRANSITIONS[event]

    def values_for(source: str) -> dict[str, Any]:
        state = PhysicalCard.suspended_from if target == REINSTATE else target
        return {"state": state, "suspended_from": source if target == "suspended" else None,
                "updated_at": rt.clock.now(), **(values or {})}

    source = _conditional_update(PhysicalCard, physical.id, sources, values_for)
    if source is None:
        db.session.rollback()
        raise illegal("physical", event, db.session.scalar(select(PhysicalCard.state).where(PhysicalCard.id == physical.id)))
    to_state = db.session.scalar(select(PhysicalCard.state).where(PhysicalCard.id == physical.id))
    transition = Transition("physical", event, source, to_state)
    record_event(rt, physical.card_id, transition, actor, reason, physical.id)
    return transition


def transition_ecard(rt: Runtime, card: Card, event: str, actor: str, reason: str) -> Transition:
    """Apply ``event`` to the e-card (``Card.status``) and record it (not committed)."""
    sources, target = ECARD_TRANSITIONS[event]
    source = _conditional_update(Card, card.id, sources, lambda _source: {"status": target})
    if source is None:
        db.session.rollback()
        raise illegal("ecard", event, db.session.scalar(select(Card.status).where(Card.id == card.id)))
    transition = Transition("ecard", event, source, target)
    record_event(rt, card.id, transition, actor, reason)
    if event in ("suspended", "cancelled"):  # the offline certificates too (DGC2 deny list, issue 16)
        revoke_card_certificates(rt, card.id)
    return transition


def current_physical(card_id: int) -> PhysicalCard | None:
    """The card's live physical card (at most one: a partial unique index), else None."""
    return db.session.scalar(select(PhysicalCard).where(PhysicalCard.card_id == card_id,
                                                        PhysicalCard.state.in_(LIVE_PHYSICAL_STATES)))


def latest_physical(card_id: int) -> PhysicalCard | None:
    """The live physical card, else the most recent one (for the citizen's view)."""
    return current_physical(card_id) or db.session.scalar(
        select(PhysicalCard).where(PhysicalCard.card_id == card_id).order_by(PhysicalCard.id.desc()).limit(1))


def _require_physical(card: Card) -> PhysicalCard:
    physical = current_physical(card.id)
    if physical is None:
        raise AppError("no_physical_card", 404, "there is no physical card in use; apply for one first")
    return physical


def refuse_cancelled(card: Card) -> None:
    """409 ``card_cancelled`` once the card is cancelled (e.g. the holder died)."""
    if card.status == CARD_CANCELLED:
        raise AppError("card_cancelled", 409, "the card is cancelled", {"state": "cancelled"})


# --- the citizen (mini-program) --------------------------------------------------------------


def quote_fee(rt: Runtime, account: MpAccount) -> FeeDecision:
    """The fee decision for the citizen's next physical card (application or replacement)."""
    return fee_for_next_card(rt.config, bound_card(account).id)


def apply_physical(rt: Runtime, account: MpAccount, bank_partner_id: str, accepted_fee_fen: int) -> PhysicalCard:
    """Apply for a physical card issued by the partner bank ``bank_partner_id`` (M-5, M-14).

    403 ``not_insured``: only insured residents may (others use the e-card); 422 ``bank_unknown``;
    409 ``physical_card_exists`` (with its state), ``card_cancelled``, or ``fee_not_accepted``
    when ``accepted_fee_fen`` is not the quoted fee (details: the decision).
    """
    card = bound_card(account)
    refuse_first_physical(card)
    bank = _bank(bank_partner_id)
    physical = new_physical(rt, card, bank.id, accepted_fee_fen, None, CITIZEN)
    return _commit_new(physical)


def refuse_first_physical(card: Card) -> None:
    """Return when ``card`` may get a first physical card: 409 ``card_cancelled``, 403
    ``not_insured`` (M-5), 409 ``physical_card_exists`` (details: its state and application id)."""
    refuse_cancelled(card)
    if not card_holder_insured(card):
        raise AppError("not_insured", 403, "the physical card is for residents insured in the city's social security (M-5); "
                       "you can use the e-card for every scene")
    existing = current_physical(card.id)
    if existing is not None:
        raise AppError("physical_card_exists", 409, "you already have a physical card; report it lost or ask for a replacement",
                       {"state": existing.state, "application_id": existing.application_id})


def card_holder_insured(card: Card) -> bool:
    return bool(db.session.scalar(select(Citizen.insured).where(Citizen.id == card.citizen_id)))


def _bank(bank_partner_id: str) -> Partner:
    bank = db.session.scalar(select(Partner).where(Partner.partner_id == bank_partner_id, Partner.disabled_at.is_(None)))
    if bank is None or "bank" not in bank.role_set:
        raise AppError("bank_unknown", 422, "not a partner bank; see GET /api/mp/v1/card/banks",
                       {"fields": {"json": {"bank_partner_id": ["unknown bank"]}}})
    return bank


def new_physical(rt: Runtime, card: Card, bank_id: int, accepted_fee_fen: int, replaces: PhysicalCard | None,
                 actor: str) -> PhysicalCard:
    """A new application (state ``applied``) for ``card`` at the bank with primary key ``bank_id``,
    carrying the fee decision of :mod:`fees` (M-24), recorded as a card event by ``actor`` (not
    committed). 409 ``fee_not_accepted`` when ``accepted_fee_fen`` is not the decided fee
    (details: ``rule``, ``fee_fen``, ``payer``); 409 ``physical_card_exists`` (a concurrent one)."""
    fee = fee_for_next_card(rt.config, card.id)
    if accepted_fee_fen != fee.fee_fen:
        db.session.rollback()
        raise AppError("fee_not_accepted", 409, "confirm the fee shown by GET /api/mp/v1/card/physical/fee",
                       {"rule": fee.rule, "fee_fen": fee.fee_fen, "payer": fee.payer})
    now = rt.clock.now()
    physical = PhysicalCard(
        application_id="pc_" + secrets.token_hex(10), card_id=card.id, bank_partner_id=bank_id, state="applied",
        technology=fee.technology, replaces_id=replaces.id if replaces else None, fee_rule=fee.rule, fee_fen=fee.fee_fen,
        fee_payer=fee.payer, created_at=now, updated_at=now)
    db.session.add(physical)
    try:
        db.session.flush()  # the partial unique index: one live physical card per card
    except IntegrityError:
        db.session.rollback()
        raise AppError("physical_card_exists", 409, "another application was made at the same time") from None
    reason = f"fee {fee.fee_fen} fen by {fee.payer} (rule {fee.rule})"
    record_event(rt, card.id, Transition("physical", "applied", None, "applied"), actor, reason, physical.id)
    return physical


def _commit_new(physical: PhysicalCard) -> PhysicalCard:
    db.session.commit()
    return physical


def activate_physical(rt: Runtime, account: MpAccount, serial_number: str, pin: str) -> Transition:
    """Online activation (M-14): the serial number printed on the card, and a 6-digit PIN.

    422 ``pin_weak``; 422 ``serial_mismatch`` (5 a day, then 429 ``too_many_attempts``); 409
    ``illegal_transition`` unless the card is ``issued``. The PIN is kept only as a scrypt hash.
    """
    checked_pin(pin)
    card = bound_card(account)
    physical = _require_physical(card)
    if physical.state != "issued":
        raise illegal("physical", "activated", physical.state)
    _check_serial(rt, physical, serial_number)
    transition = transition_physical(rt, physical, "activated", CITIZEN, "online activation",
                                     {"pin_hash": hash_pin(pin)})
    db.session.commit()
    return transition


SERIAL_ATTEMPTS, SERIAL_WINDOW_SECONDS = 5, 86400


def _check_serial(rt: Runtime, physical: PhysicalCard, serial_number: str) -> None:
    key = f"serial-fail:{physical.id}"
    if int(rt.store.get(key) or 0) >= SERIAL_ATTEMPTS:
        raise AppError("too_many_attempts", 429, "too many wrong serial numbers; try again tomorrow or visit the bank",
                       headers={"Retry-After": str(SERIAL_WINDOW_SECONDS)})
    if physical.serial_number is None or not secrets.compare_digest(physical.serial_number.encode(), serial_number.encode()):
        rt.store.incr(key, SERIAL_WINDOW_SECONDS)
        raise AppError("serial_mismatch", 422, "the serial number does not match your card",
                       {"fields": {"json": {"serial_number": ["mismatch"]}}})


def report_loss(rt: Runtime, account: MpAccount) -> Transition:
    """Report the physical card lost: effective at once (committed before this returns), so a
    terminal reading it answers ``card_lost`` from now on; the e-card is unaffected."""
    return _citizen_physical_event(rt, account, "loss_reported", "reported lost by the citizen")


def cancel_loss_report(rt: Runtime, account: MpAccount) -> Transition:
    """Cancel the loss report: the card returns to the state it had before it."""
    return _citizen_physical_event(rt, account, "loss_report_cancelled", "loss report cancelled by the citizen")


def _citizen_physical_event(rt: Runtime, account: MpAccount, event: str, reason: str) -> Transition:
    card = bound_card(account)
    transition = transition_physical(rt, _require_physical(card), event, CITIZEN, reason)
    db.session.commit()
    return transition


def request_replacement(rt: Runtime, account: MpAccount, accepted_fee_fen: int) -> PhysicalCard:
    """Replace the physical card (lost, or damaged): the old one becomes ``replaced`` and a new
    application goes to the same bank, with the fee decision of :mod:`fees` (M-24)."""
    card = bound_card(account)
    refuse_cancelled(card)
    old = _require_physical(card)
    bank = db.session.get(Partner, old.bank_partner_id)
    assert bank is not None
    transition_physical(rt, old, "replaced", CITIZEN, "replacement requested by the citizen")
    return _commit_new(new_physical(rt, card, bank.id, accepted_fee_fen, old, CITIZEN))


def suspend_ecard(rt: Runtime, account: MpAccount) -> Transition:
    """Suspend the e-card (its codes stop verifying: ``card_inactive``); the physical card is unaffected."""
    return _citizen_ecard_event(rt, account, "suspended", "suspended by the citizen")


def resume_ecard(rt: Runtime, account: MpAccount) -> Transition:
    """Undo :func:`suspend_ecard`."""
    return _citizen_ecard_event(rt, account, "resumed", "resumed by the citizen")


def _citizen_ecard_event(rt: Runtime, account: MpAccount, event: str, reason: str) -> Transition:
    transition = transition_ecard(rt, bound_card(account), event, CITIZEN, reason)
    db.session.commit()
    return transition


MOVED_NOTICE = notice("device_moved_notice")


def move_ecard(rt: Runtime, account: MpAccount, installation_id: str, token: str | None = None) -> SeedGrant:
    """Move the e-card to the installation ``installation_id``: a new seed and pseudonym there,
    and the old device revoked in the same transaction (its codes stop verifying at once). The
    new copy is bound to the session of ``token`` (its logout ends it, app/card/seeds.py) and
    the holder gets an SMS notice. 409 ``same_device`` when it is already there;
    ``card_cancelled`` after cancellation. Moves at the same moment: the newest wins
    (:func:`newest_wins`)."""
    grant, card = newest_wins(lambda: _move_ecard(rt, account, installation_id, token))
    notify_holder(rt, card, MOVED_NOTICE)
    return grant


def _move_ecard(rt: Runtime, account: MpAccount, installation_id: str, token: str | None) -> tuple[SeedGrant, Card]:
    card = bound_card(account)
    refuse_cancelled(card)
    old = active_device(card, account.platform)
    if old.installation_id == installation_id:
        raise AppError("same_device", 409, "the e-card is already on this device")
    device = replace_device(rt, old, installation_id)
    device.token_digest = token_digest(token) if token else None
    record_event(rt, card.id, Transition("ecard", "moved", card.status, card.status), CITIZEN, "moved to a new device")
    db.session.commit()
    return seed_grant(rt, device), card


def cancel_card(rt: Runtime, card_number: str, actor: str, reason: str) -> list[Transition]:
    """Cancel the card and so every carrier: the e-card (its device revoked) and the live
    physical card. 404 ``card_not_found``; 409 when already cancelled."""
    card = db.session.scalar(select(Card).where(Card.card_number == card_number))
    if card is None:
        raise AppError("card_not_found", 404, "no card with this number")
    transitions = cancel_carriers(rt, card, actor, reason)
    db.session.commit()
    return transitions


def cancel_carriers(rt: Runtime, card: Card, actor: str, reason: str) -> list[Transition]:
    """:func:`cancel_card` in the caller's transaction (not committed): the e-card (its offline
    certificates revoked), the live physical card, every device. 409 when already cancelled."""
    transitions = [transition_ecard(rt, card, "cancelled", actor, reason)]
    physical = current_physical(card.id)
    if physical is not None:
        transitions.append(transition_physical(rt, physical, "cancelled", actor, reason))
    db.session.execute(update(Device).where(Device.card_id == card.id, Device.revoked_at.is_(None))
                       .values(revoked_at=rt.clock.now()))
    return transitions


# --- what the citizen sees -------------------------------------------------------------------


@dataclass(frozen=True)
class PhysicalView:
    application_id: str
    state: str
    serial_number: str | None  # masked: the full number is the proof of possession at activation
    bank_name: str
    technology: str
    issued_on: date | None
    fee_rule: str
    fee_fen: int
    fee_payer: str
    applied_at: datetime


@dataclass(frozen=True)
class CarriersView:
    card_number: str
    ecard_state: str
    physical: PhysicalView | None


def carriers(account: MpAccount) -> CarriersView:
    """The card number, the e-card's state and the latest physical card (or None)."""
    card = bound_card(account)
    physical = latest_physical(card.id)
    return CarriersView(card.card_number, card.status, physical_view(physical) if physical else None)


def physical_view(physical: PhysicalCard) -> PhysicalView:
    bank = db.session.get(Partner, physical.bank_partner_id)
    serial = physical.serial_number
    return PhysicalView(physical.application_id, physical.state, f"****{serial[-4:]}" if serial else None,
                        bank.name if bank else "", physical.technology, physical.issued_on, physical.fee_rule,
                        physical.fee_fen, physical.fee_payer, physical.created_at)


def card_events(account: MpAccount, limit: int) -> list[CarrierEvent]:
    """The card's transitions, newest first (at most ``limit``)."""
    return events_of_card(bound_card(account).id, limit)


def events_of_card(card_id: int, limit: int) -> list[CarrierEvent]:
    """A card's transitions, newest first (at most ``limit``)."""
    return list(db.session.scalars(select(CarrierEvent).where(CarrierEvent.card_id == card_id)
                                   .order_by(CarrierEvent.created_at.desc(), CarrierEvent.id.desc()).limit(limit)))


def loss_reported_at(physical: PhysicalCard) -> datetime | None:
    """When the physical card's current loss report was made, if it is ``suspended``, else None."""
    if physical.state != "suspended":
        return None
    return db.session.scalar(select(CarrierEvent.created_at).where(
        CarrierEvent.physical_card_id == physical.id, CarrierEvent.event == "loss_reported")
        .order_by(CarrierEvent.created_at.desc(), CarrierEvent.id.desc()).limit(1))


def list_banks() -> list[Partner]:
    """The enabled partners holding the ``bank`` role (where a physical card can be applied for)."""
    partners = db.session.scalars(select(Partner).where(Partner.disabled_at.is_(None)).order_by(Partner.name))
    return [partner for partner in partners if "bank" in partner.role_set]
