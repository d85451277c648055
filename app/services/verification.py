"""Partner verification of a scanned code (M-7, M-20; RFC 6238 §5.2; docs/partner-api.md).

The checks, in order; the first that fails gives the ``reason``:

1. ``scene_not_permitted``: the partner may not verify in this scene.
2. ``code_invalid``: not a DGC1 code, unknown or revoked pseudonym, wrong password, or a time
   step more than one step in the future.
3. ``code_expired``: a genuine code whose time step is more than one step old.
4. ``card_inactive``: the card is not active.
5. ``code_used``: this code, or a later one of the same device, was already accepted. The
   replay ledger (Redis, or the embedded store) decides this in one atomic step, so concurrent
   requests cannot both pass; the unique ``use_key`` of accepted records is a durable second
   ledger behind it.

Every verification is recorded (partner, terminal, scene, card, result, time; never the code).
An accepted answer is kept for 60 s per (partner, terminal, code): a scanner that reads the same
code twice gets the original answer with ``duplicate: true``.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any, Protocol

from sqlalchemy import bindparam, select

from qr import payload, replay, totp

from ..extensions import db
from ..models import Card, Citizen, Device, Verification
from ..runtime import Runtime
from ..sql import upsert_insert
from .partners import PartnerView
from .people import SEED

DUPLICATE_WINDOW_SECONDS = 60


@dataclass(frozen=True)
class CardFacts:
    """What a scene policy may draw on to build its disclosure."""

    card_id: int
    card_number: str
    card_status: str
    insured: bool


class ScenePolicy(Protocol):
    """A scene's rules (scenes/): who may use it and what it discloses."""

    name: str

    def permits(self, partner: PartnerView) -> bool: ...

    def disclose(self, facts: CardFacts) -> dict[str, Any]: ...


@dataclass(frozen=True)
class VerificationAnswer:
    """The API answer: ``{"verification_id", "accepted", "reason", "scene", "subject", "duplicate"}``."""

    verification_id: str
    accepted: bool
    reason: str | None
    scene: str
    subject: dict[str, Any] | None
    duplicate: bool = False


def verify(rt: Runtime, partner: PartnerView, policy: ScenePolicy, terminal_id: str, code: str) -> VerificationAnswer:
    """Verify ``code`` for ``partner`` at ``terminal_id`` in the scene ``policy``; always records.

    Store round trips: none for a forged code, one for any genuine code (the atomic use, or the
    look-up of an earlier answer when the code is refused for its age or the card's state).
    """
    answer_key = _answer_key(partner, terminal_id, code)
    decision = _decide(rt, partner, policy, code)
    if decision.reason is None:
        return _use(rt, partner, policy, terminal_id, decision, answer_key)
    if decision.reason in GENUINE_CODE_REFUSALS:
        earlier = _as_duplicate(rt, rt.store.get(answer_key))
        if earlier is not None:
            return earlier
    return _settle(rt, partner, policy, terminal_id, decision, answer_key)


GENUINE_CODE_REFUSALS = ("code_expired", "card_inactive")


@dataclass(frozen=True)
class Decision:
    """``facts`` when the code named a card; ``reason`` None when every check but the one-time
    rule passed; ``scanned`` is the parsed code when its password matched."""

    facts: CardFacts | None
    reason: str | None
    scanned: payload.CodePayload | None = None

    def refused(self, reason: str) -> Decision:
        return Decision(self.facts, reason, None)


def _use(rt: Runtime, partner: PartnerView, policy: ScenePolicy, terminal_id: str, decision: Decision,
         answer_key: str) -> VerificationAnswer:
    """The one-time rule: the first use is accepted, a re-read gets the earlier answer."""
    answer = _answer(policy, decision)
    kept = json.dumps({"answer": asdict(answer), "at": rt.clock.time()})
    scanned = decision.scanned
    assert scanned is not None
    outcome, earlier = replay.use_once(rt.store, scanned.pseudonym, scanned.step, scanned.sequence,
                                       answer_key, kept, DUPLICATE_WINDOW_SECONDS)
    if outcome == "earlier" and (duplicate := _as_duplicate(rt, earlier)) is not None:
        return duplicate
    if outcome != "first":
        return _settle(rt, partner, policy, terminal_id, decision.refused("code_used"), answer_key)
    return _settle(rt, partner, policy, terminal_id, decision, answer_key, answer)


def _settle(rt: Runtime, partner: PartnerView, policy: ScenePolicy, terminal_id: str, decision: Decision,
            answer_key: str, answer: VerificationAnswer | None = None) -> VerificationAnswer:
    """Record the answer; an acceptance the durable ledger already holds becomes ``code_used``."""
    answer = answer or _answer(policy, decision)
    if _record(rt, partner, terminal_id, decision, answer):
        return answer
    rt.store.put(answer_key, VOID, DUPLICATE_WINDOW_SECONDS)  # the kept "accepted" answer was wrong
    return _settle(rt, partner, policy, terminal_id, decision.refused("code_used"), answer_key)


VOID = "{}"


def _answer(policy: ScenePolicy, decision: Decision) -> VerificationAnswer:
    accepted = decision.reason is None
    return VerificationAnswer(
        verification_id="vf_" + secrets.token_hex(12), accepted=accepted, reason=decision.reason, scene=policy.name,
        subject=policy.disclose(decision.facts) if accepted and decision.facts else None,
    )


def _as_duplicate(rt: Runtime, kept_text: str | None) -> VerificationAnswer | None:
    """The accepted answer this terminal got for this code within the last 60 s, as a duplicate."""
    kept = json.loads(kept_text) if kept_text else {}
    if not kept or rt.clock.time() - kept["at"] > DUPLICATE_WINDOW_SECONDS:
        return None
    return VerificationAnswer(**{**kept["answer"], "duplicate": True})


def _answer_key(partner: PartnerView, terminal_id: str, code: str) -> str:
    digest = hashlib.sha256(f"{partner.id}\n{terminal_id}\n{code}".encode()).hexdigest()[:40]
    return f"answer:{digest}"


def _decide(rt: Runtime, partner: PartnerView, policy: ScenePolicy, code: str) -> Decision:
    """Every check but the one-time rule, with no store round trip."""
    if not policy.permits(partner):
        return Decision(None, "scene_not_permitted")
    try:
        scanned = payload.parse(code)
    except payload.CodeFormatError:
        return Decision(None, "code_invalid")
    found = _device_and_card(scanned.pseudonym)
    if found is None:
        return Decision(None, "code_invalid")
    seed_enc, facts = found
    if not totp.otp_matches(rt.keyring.decrypt(seed_enc, SEED), scanned.step, scanned.sequence, scanned.otp):
        return Decision(facts, "code_invalid")
    return Decision(facts, _time_or_card_failure(rt, scanned, facts), scanned)


def _time_or_card_failure(rt: Runtime, scanned: payload.CodePayload, facts: CardFacts) -> str | None:
    age = totp.step_age(scanned.step, rt.clock.time())
    if age < -totp.WINDOW_AHEAD:
        return "code_invalid"
    if age > totp.WINDOW_BACK:
        return "code_expired"
    return None if facts.card_status == "active" else "card_inactive"


# Built once: constructing a statement costs more than running it on this hot path.
_DEVICE_AND_CARD = (
    select(Device.seed_enc, Card.id, Card.card_number, Card.status, Citizen.insured)
    .join(Card, Card.id == Device.card_id).join(Citizen, Citizen.id == Card.citizen_id)
    .where(Device.pseudonym == bindparam("pseudonym"), Device.revoked_at.is_(None))
)


def _device_and_card(pseudonym: str) -> tuple[str, CardFacts] | None:
    row = db.session.connection().execute(_DEVICE_AND_CARD, {"pseudonym": pseudonym}).first()
    if row is None:
        return None
    return row.seed_enc, CardFacts(row.id, row.card_number, row.status, row.insured)


def _record(rt: Runtime, partner: PartnerView, terminal_id: str, decision: Decision, answer: VerificationAnswer) -> bool:
    """INSERT the record and commit; False when an accepted use was already recorded.

    The record of an accepted verification carries its ``use_key`` (pseudonym and moving factor)
    under a unique index: a second ledger, durable, behind the store's (a Redis that lost its data
    cannot make a code verify twice). Core, not the unit of work: this runs on every scan.
    """
    facts, scanned = decision.facts, decision.scanned
    use_key = f"{scanned.pseudonym}:{totp.moving_factor(scanned.step, scanned.sequence)}" if answer.accepted and scanned else None
    row = {
        "id": answer.verification_id, "partner_id": partner.id, "terminal_id": terminal_id, "scene": answer.scene,
        "card_id": facts.card_id if facts else None, "accepted": answer.accepted, "reason": answer.reason,
        "use_key": use_key, "created_at": rt.clock.now(),
    }
    inserted = db.session.connection().execute(_record_statement(db.engine.dialect.name), row).first()
    db.session.commit()
    return inserted is not None


@cache
def _record_statement(dialect: str) -> Any:
    stmt = upsert_insert(dialect, Verification)
    return stmt.on_conflict_do_nothing(index_elements=[Verification.use_key]).returning(Verification.id)
